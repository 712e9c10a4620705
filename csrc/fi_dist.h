/* Philox words -> floats: uniform, Box-Muller normal, the inverse normal CDF
 * of the truncated normal, and rounding to float16/bfloat16.  Every function
 * here is the exact rule of docs/STREAM.md (stream version 2, sections 3-7);
 * each IEEE operation is written out in the documented order, fused
 * multiply-adds only where the rule has them (fi_fmaf: one rounding), and the
 * build pins -ffp-contract=off so that the compiler adds no others.  The
 * result is the same bits on every compiler and SIMD path.  No libm beyond
 * the correctly rounded sqrt and fma. */
#ifndef FASTINIT_FI_DIST_H
#define FASTINIT_FI_DIST_H

#include <stdint.h>
#include <string.h>
#include "fi_consts.h"

#define FI_LN2F_HI 0x1.62e4p-1f
#define FI_LN2F_LO 0x1.7f7d1cp-20f
#define FI_LN2_HI 0x1.62e42feep-1
#define FI_LN2_LO 0x1.a39ef35793c76p-33

static inline uint32_t fi_f32_bits(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }
static inline float fi_bits_f32(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }
static inline uint64_t fi_f64_bits(double x) { uint64_t u; memcpy(&u, &x, 8); return u; }
static inline double fi_bits_f64(uint64_t u) { double x; memcpy(&x, &u, 8); return x; }

/* sqrt and fma are single correctly rounded IEEE operations (sqrtss/sqrtsd,
 * vfmadd / fmadd where the target has them, glibc's exact fmaf elsewhere). */
static inline float fi_sqrtf(float x) { return __builtin_sqrtf(x); }
static inline double fi_sqrt(double x) { return __builtin_sqrt(x); }
static inline float fi_fmaf(float a, float b, float c) { return __builtin_fmaf(a, b, c); }

/* ---- uniform (section 3) ---------------------------------------------- */

static inline float fi_u01_f32(uint32_t x) { return (float)(x >> 8) * 0x1p-24f; }
static inline double fi_u01_f64(uint64_t x) { return (double)(x >> 11) * 0x1p-53; }

/* ---- logarithm core (sections 4.1, 4.3, 6) ---------------------------- */

/* ln(1 + f) = f + f^2 Q(f) for f = m - 1, m in [1/sqrt2, sqrt2) (f32, v2).
 * Q by Estrin's scheme (short dependency chains; the order is the rule). */
static inline float fi_log1p_core_f32(float f)
{
    float f2 = f * f, f4 = f2 * f2, f8 = f4 * f4;
    float a0 = fi_fmaf(FI_LOG1PF_Q1, f, FI_LOG1PF_Q0), a1 = fi_fmaf(FI_LOG1PF_Q3, f, FI_LOG1PF_Q2);
    float a2 = fi_fmaf(FI_LOG1PF_Q5, f, FI_LOG1PF_Q4), a3 = fi_fmaf(FI_LOG1PF_Q7, f, FI_LOG1PF_Q6);
    float q = fi_fmaf(fi_fmaf(a3, f2, a2), f4, fi_fmaf(a1, f2, a0));
    q = fi_fmaf(FI_LOG1PF_Q8, f8, q);
    return fi_fmaf(f2, q, f);
}

/* e ln 2 + lm, with ln 2 split so that e * FI_LN2F_HI is exact */
static inline float fi_add_eln2_f32(float e, float lm)
{
    return fi_fmaf(e, FI_LN2F_HI, fi_fmaf(e, FI_LN2F_LO, lm));
}

/* ln(2^e * m) given s = (m-1)/(m+1) as num/den: 2 atanh(s) + e ln 2 (f64, v1). */
static inline double fi_log_core_f64(double num, double den, double e)
{
    double s = num / den;
    double s2 = s * s;
    double t = s2 * (FI_LOG_C1 + s2 * (FI_LOG_C2 + s2 * (FI_LOG_C3 + s2 * (FI_LOG_C4
             + s2 * (FI_LOG_C5 + s2 * (FI_LOG_C6 + s2 * (FI_LOG_C7 + s2 * (FI_LOG_C8
             + s2 * (FI_LOG_C9 + s2 * FI_LOG_C10)))))))));
    double h = s + s;
    double lm = h + h * t;
    return e * FI_LN2_HI + (lm + e * FI_LN2_LO);
}

/* Split a positive normal float into m in [1/sqrt2, sqrt2) and its exponent. */
static inline float fi_frexp_sqrt2_f32(float x, int32_t *E)
{
    uint32_t b = fi_f32_bits(x);
    int32_t e = (int32_t)(b >> 23) - 127;
    uint32_t mb = (b & UINT32_C(0x7FFFFF)) | UINT32_C(0x3F800000);
    if (mb >= UINT32_C(0x3FB504F3)) {
        mb -= UINT32_C(0x00800000);
        e += 1;
    }
    *E = e;
    return fi_bits_f32(mb);
}

static inline double fi_frexp_sqrt2_f64(double x, int64_t *E)
{
    uint64_t b = fi_f64_bits(x);
    int64_t e = (int64_t)(b >> 52) - 1023;
    uint64_t mb = (b & UINT64_C(0xFFFFFFFFFFFFF)) | UINT64_C(0x3FF0000000000000);
    if (mb >= UINT64_C(0x3FF6A09E667F3BCD)) {
        mb -= UINT64_C(0x0010000000000000);
        e += 1;
    }
    *E = e;
    return fi_bits_f64(mb);
}

/* Natural log of a positive normal float (no libm). */
static inline float fi_logf(float p)
{
    int32_t E;
    float m = fi_frexp_sqrt2_f32(p, &E);
    return fi_add_eln2_f32((float)E, fi_log1p_core_f32(m - 1.0f));
}

static inline double fi_log(double p)
{
    int64_t E;
    double m = fi_frexp_sqrt2_f64(p, &E);
    return fi_log_core_f64(m - 1.0, m + 1.0, (double)E);
}

/* ---- Box-Muller (section 4) ------------------------------------------- */

/* r = sqrt(-2 ln u1), u1 = (x1 + 1) 2^-32 = 2^(E-32) (1 + f) with 1 + f in
 * about [1/sqrt2, sqrt2) and f formed from the exact integer x1 + 1 - 2^E
 * (one rounding), so neither the input nor e ln 2 + ln(1 + f) loses bits. */
static inline int32_t fi_bm_exponent_f32(uint32_t x1)
{
    if (x1 < UINT32_C(0x7FFFFFFF)) {
        uint32_t b = fi_f32_bits((float)(int32_t)(x1 + 1u));   /* x1 + 1 < 2^31, rounded once */
        int32_t E = (int32_t)(b >> 23) - 127;
        if (((b & UINT32_C(0x7FFFFF)) | UINT32_C(0x3F800000)) >= UINT32_C(0x3FB504F3))
            E += 1;
        return E;
    }
    return x1 < UINT32_C(0xB504F333) ? 31 : 32;
}

static inline float fi_bm_radius_f32(uint32_t x1)
{
    int32_t E = fi_bm_exponent_f32(x1);
    int32_t M = (int32_t)(x1 + 1u - (uint32_t)(UINT64_C(1) << E));     /* exact, |M| < 2^31 */
    float f = (float)M * fi_bits_f32((uint32_t)(127 - E) << 23);       /* times 2^-E, exact */
    float L = -fi_add_eln2_f32((float)(E - 32), fi_log1p_core_f32(f));
    return fi_sqrtf(L + L);
}

static inline double fi_bm_radius_f64(uint64_t X1)
{
    uint64_t x = X1 >> 11;
    double num, den, e;
    if (x < UINT64_C(0x16A09E667F3BCC)) {
        double f = (double)(int64_t)x + 1.0;
        int64_t E;
        double m = fi_frexp_sqrt2_f64(f, &E);
        e = (double)(E - 53);
        num = m - 1.0;
        den = m + 1.0;
    } else {
        double d = (double)(int64_t)(UINT64_C(0x1FFFFFFFFFFFFF) - x) * 0x1p-53;
        e = 0.0;
        num = -d;
        den = 2.0 - d;
    }
    double L = -fi_log_core_f64(num, den, e);
    return fi_sqrt(L + L);
}

/* cos and sin of 2 pi (x2 >> 8) 2^-24, by exact quarter-turn reduction. */
static inline void fi_bm_angle_f32(uint32_t x2, float *c, float *s)
{
    uint32_t n = x2 >> 8;
    uint32_t kk = (n + UINT32_C(0x200000)) >> 22;
    int32_t j = (int32_t)n - (int32_t)(kk << 22);
    float t = (float)j * 0x1p-22f;
    float t2 = t * t;
    /* sin(pi t / 2) = t (pi/2 + t^2 R(t^2)), pi/2 = S1 + S1LO */
    float rest = fi_fmaf(t2, fi_fmaf(fi_fmaf(FI_SINF_S7, t2, FI_SINF_S5), t2, FI_SINF_S3), FI_SINF_S1LO);
    float sp = fi_fmaf(t, FI_SINF_S1, t * rest);
    float cp = fi_fmaf(t2, fi_fmaf(fi_fmaf(fi_fmaf(FI_COSF_C8, t2, FI_COSF_C6), t2, FI_COSF_C4), t2, FI_COSF_C2),
                       1.0f);
    switch (kk & 3u) {
    case 0: *c = cp; *s = sp; break;
    case 1: *c = -sp; *s = cp; break;
    case 2: *c = -cp; *s = -sp; break;
    default: *c = sp; *s = -cp; break;
    }
}

static inline void fi_bm_angle_f64(uint64_t X2, double *c, double *s)
{
    uint64_t n = X2 >> 11;
    uint64_t kk = (n + (UINT64_C(1) << 50)) >> 51;
    int64_t j = (int64_t)n - (int64_t)(kk << 51);
    double t = (double)j * 0x1p-51;
    double t2 = t * t;
    double sp = t * (FI_SIN_S1 + t2 * (FI_SIN_S3 + t2 * (FI_SIN_S5 + t2 * (FI_SIN_S7
              + t2 * (FI_SIN_S9 + t2 * (FI_SIN_S11 + t2 * (FI_SIN_S13 + t2 * (FI_SIN_S15
              + t2 * FI_SIN_S17))))))));
    double cp = 1.0 + t2 * (FI_COS_C2 + t2 * (FI_COS_C4 + t2 * (FI_COS_C6 + t2 * (FI_COS_C8
              + t2 * (FI_COS_C10 + t2 * (FI_COS_C12 + t2 * (FI_COS_C14 + t2 * (FI_COS_C16
              + t2 * FI_COS_C18))))))));
    switch (kk & 3u) {
    case 0: *c = cp; *s = sp; break;
    case 1: *c = -sp; *s = cp; break;
    case 2: *c = -cp; *s = -sp; break;
    default: *c = sp; *s = -cp; break;
    }
}

/* ---- truncated normal (section 6) ------------------------------------- */

/* Per-call constants of the inverse-CDF truncated normal, in one precision. */
typedef struct {
    float mean, std, lo, hi;      /* output = clamp(mean + std z, lo, hi) */
    float cA, cB, W;              /* plo = cA + u W, phi = cB + (1-u) W   */
    float thr;                    /* plo <= thr: lower tail, else upper   */
    float pc;                     /* p >= pc: central region (2^-8, inf)  */
    float lnS;                    /* log of the tail rescaling factor     */
} fi_trunc_f32_params;

typedef struct {
    double mean, std, lo, hi;
    double cA, cB, W;
    double thr, pc, lnS;
} fi_trunc_f64_params;

/* The inverse normal CDF at a lower-tail probability p (scaled by e^lnS in
 * the far tails), f32, stream version 2.  Central region (p >= pc = 2^-8 when
 * unscaled): z = (2p - 1) P(w) with w = -ln(4p(1 - p)), one minimax
 * polynomial (FI_NDTRIF_P*, no division).  Tail: AS 241 PPND7's two tail
 * rationals (FI_PPND7_*) in r = sqrt(lnS - ln p), with fused multiply-adds. */
#define FI_H3F(c3, c2, c1, c0, r) fi_fmaf(fi_fmaf(fi_fmaf(c3, r, c2), r, c1), r, c0)
#define FI_H2F(c2, c1, c0, r) fi_fmaf(fi_fmaf(c2, r, c1), r, c0)
static inline float fi_ndtri_central_f32(float p)
{
    float p4 = 4.0f * p;
    float w = -fi_logf(fi_fmaf(-p4, p, p4));
    float w2 = w * w, w4 = w2 * w2, w8 = w4 * w4;
    float a0 = fi_fmaf(FI_NDTRIF_P1, w, FI_NDTRIF_P0), a1 = fi_fmaf(FI_NDTRIF_P3, w, FI_NDTRIF_P2);
    float a2 = fi_fmaf(FI_NDTRIF_P5, w, FI_NDTRIF_P4), a3 = fi_fmaf(FI_NDTRIF_P7, w, FI_NDTRIF_P6);
    float a4 = fi_fmaf(FI_NDTRIF_P9, w, FI_NDTRIF_P8);
    float P = fi_fmaf(fi_fmaf(a3, w2, a2), w4, fi_fmaf(a1, w2, a0));
    P = fi_fmaf(a4, w8, P);
    return fi_fmaf(2.0f, p, -1.0f) * P;
}

static inline float fi_ndtri_low_f32(float p, float pc, float lnS)
{
    if (p >= pc)
        return fi_ndtri_central_f32(p);
    float r = fi_sqrtf(lnS - fi_logf(p));
    if (r <= FI_PPND7_SPLIT2) {
        r = r - FI_PPND7_CONST2;
        float c = FI_H3F(FI_PPND7_C3, FI_PPND7_C2, FI_PPND7_C1, FI_PPND7_C0, r);
        float d = FI_H2F(FI_PPND7_D2, FI_PPND7_D1, 1.0f, r);
        return -(c / d);
    }
    r = r - FI_PPND7_SPLIT2;
    float e = FI_H3F(FI_PPND7_E3, FI_PPND7_E2, FI_PPND7_E1, FI_PPND7_E0, r);
    float f = FI_H2F(FI_PPND7_F2, FI_PPND7_F1, 1.0f, r);
    return -(e / f);
}
#undef FI_H3F
#undef FI_H2F

/* AS 241 PPND16, the double-precision twin (FI_PPND16_*). */
static inline double fi_ndtri_low_f64(double p, double pc, double lnS)
{
    if (p >= pc) {
        double q = p - 0.5;
        double r = FI_PPND16_CONST1 - q * q;
        double a = (((((((FI_PPND16_A7 * r + FI_PPND16_A6) * r
                   + FI_PPND16_A5) * r + FI_PPND16_A4) * r
                   + FI_PPND16_A3) * r + FI_PPND16_A2) * r
                   + FI_PPND16_A1) * r + FI_PPND16_A0);
        double b = (((((((FI_PPND16_B7 * r + FI_PPND16_B6) * r
                   + FI_PPND16_B5) * r + FI_PPND16_B4) * r
                   + FI_PPND16_B3) * r + FI_PPND16_B2) * r
                   + FI_PPND16_B1) * r + 1.0);
        return (q * a) / b;
    }
    double r = fi_sqrt(lnS - fi_log(p));
    if (r <= FI_PPND16_SPLIT2) {
        r = r - FI_PPND16_CONST2;
        double c = (((((((FI_PPND16_C7 * r + FI_PPND16_C6) * r
                   + FI_PPND16_C5) * r + FI_PPND16_C4) * r
                   + FI_PPND16_C3) * r + FI_PPND16_C2) * r
                   + FI_PPND16_C1) * r + FI_PPND16_C0);
        double d = (((((((FI_PPND16_D7 * r + FI_PPND16_D6) * r
                   + FI_PPND16_D5) * r + FI_PPND16_D4) * r
                   + FI_PPND16_D3) * r + FI_PPND16_D2) * r
                   + FI_PPND16_D1) * r + 1.0);
        return -(c / d);
    }
    r = r - FI_PPND16_SPLIT2;
    double e = (((((((FI_PPND16_E7 * r + FI_PPND16_E6) * r
               + FI_PPND16_E5) * r + FI_PPND16_E4) * r
               + FI_PPND16_E3) * r + FI_PPND16_E2) * r
               + FI_PPND16_E1) * r + FI_PPND16_E0);
    double f = (((((((FI_PPND16_F7 * r + FI_PPND16_F6) * r
               + FI_PPND16_F5) * r + FI_PPND16_F4) * r
               + FI_PPND16_F3) * r + FI_PPND16_F2) * r
               + FI_PPND16_F1) * r + 1.0);
    return -(e / f);
}

static inline float fi_trunc_value_f32(uint32_t x, const fi_trunc_f32_params *P)
{
    float u = (float)(int32_t)(2u * (x >> 9) + 1u) * 0x1p-24f;
    float v = 1.0f - u;
    float plo = fi_fmaf(u, P->W, P->cA);
    float z;
    if (plo <= P->thr) {
        z = fi_ndtri_low_f32(plo, P->pc, P->lnS);
    } else {
        float phi = fi_fmaf(v, P->W, P->cB);
        z = -fi_ndtri_low_f32(phi, P->pc, P->lnS);
    }
    float y = fi_fmaf(P->std, z, P->mean);
    y = y > P->lo ? y : P->lo;
    return y < P->hi ? y : P->hi;
}

/* The f64 rule of section 6 for a given u in (0, 1). */
static inline double fi_trunc_core_f64(double u, const fi_trunc_f64_params *P)
{
    double v = 1.0 - u;
    double plo = P->cA + u * P->W;
    double z;
    if (plo <= P->thr) {
        z = fi_ndtri_low_f64(plo, P->pc, P->lnS);
    } else {
        double phi = P->cB + v * P->W;
        z = -fi_ndtri_low_f64(phi, P->pc, P->lnS);
    }
    double y = P->mean + P->std * z;
    y = y > P->lo ? y : P->lo;
    return y < P->hi ? y : P->hi;
}

static inline double fi_trunc_value_f64(uint64_t X, const fi_trunc_f64_params *P)
{
    return fi_trunc_core_f64((double)(int64_t)(2u * (X >> 12) + 1u) * 0x1p-53, P);
}

/* Narrow intervals in 32-bit outputs: the f32 word's u, the f64 rule,
 * rounded once to float32 (section 6, "narrow intervals"). */
static inline float fi_trunc_value_f32_wide(uint32_t x, const fi_trunc_f64_params *P)
{
    return (float)fi_trunc_core_f64((double)(int32_t)(2u * (x >> 9) + 1u) * 0x1p-24, P);
}

/* ---- half precision (section 7) --------------------------------------- */

/* float32 -> bfloat16, round to nearest even (inputs are never NaN). */
static inline uint16_t fi_f32_to_bf16(float x)
{
    uint32_t b = fi_f32_bits(x);
    return (uint16_t)((b + UINT32_C(0x7FFF) + ((b >> 16) & 1u)) >> 16);
}

/* float32 -> IEEE binary16, round to nearest even, subnormals kept,
 * overflow to infinity (inputs are never NaN). */
static inline uint16_t fi_f32_to_f16(float x)
{
    uint32_t b = fi_f32_bits(x);
    uint16_t sign = (uint16_t)((b >> 16) & 0x8000u);
    uint32_t a = b & UINT32_C(0x7FFFFFFF);
    if (a >= UINT32_C(0x47800000))            /* >= 65536: inf (and inf) */
        return (uint16_t)(sign | 0x7C00u);
    if (a < UINT32_C(0x38800000)) {           /* below 2^-14: subnormal or 0 */
        if (a < UINT32_C(0x33000000))         /* below 2^-25: rounds to 0 */
            return sign;
        uint32_t e = a >> 23;                 /* 102 .. 112 */
        uint32_t m = (a & UINT32_C(0x7FFFFF)) | UINT32_C(0x800000);
        uint32_t shift = 126u - e;            /* 14 .. 24 */
        uint32_t h = m >> shift;
        uint32_t rem = m & ((UINT32_C(1) << shift) - 1u);
        uint32_t halfway = UINT32_C(1) << (shift - 1u);
        if (rem > halfway || (rem == halfway && (h & 1u)))
            h += 1u;
        return (uint16_t)(sign | h);
    }
    /* normal: rebias exponent, round 13 dropped bits (carry may reach inf) */
    uint32_t h = (a - UINT32_C(0x38000000)) >> 13;
    uint32_t rem = a & UINT32_C(0x1FFF);
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
        h += 1u;
    return (uint16_t)(sign | h);
}

#endif
