/* Philox words -> floats: uniform, Box-Muller normal, AS 241 inverse normal
 * CDF, and rounding to float16/bfloat16.  Every function here is the exact
 * rule of docs/STREAM.md (sections 3-7); each IEEE operation is written out
 * in the documented order and the build pins -ffp-contract=off, so the
 * result is the same bits on every compiler and SIMD path.  No libm. */
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

/* sqrt is one correctly rounded IEEE operation (sqrtss/sqrtsd), not libm. */
static inline float fi_sqrtf(float x) { return __builtin_sqrtf(x); }
static inline double fi_sqrt(double x) { return __builtin_sqrt(x); }

/* ---- uniform (section 3) ---------------------------------------------- */

static inline float fi_u01_f32(uint32_t x) { return (float)(x >> 8) * 0x1p-24f; }
static inline double fi_u01_f64(uint64_t x) { return (double)(x >> 11) * 0x1p-53; }

/* ---- logarithm core (sections 4.1, 4.3, 6) ---------------------------- */

/* ln(2^e * m) given s = (m-1)/(m+1) as num/den: 2 atanh(s) + e ln 2. */
static inline float fi_log_core_f32(float num, float den, float e)
{
    float s = num / den;
    float s2 = s * s;
    float t = s2 * (FI_LOGF_C1 + s2 * (FI_LOGF_C2 + s2 * (FI_LOGF_C3 + s2 * FI_LOGF_C4)));
    float h = s + s;
    float lm = h + h * t;
    return e * FI_LN2F_HI + (lm + e * FI_LN2F_LO);
}

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
    return fi_log_core_f32(m - 1.0f, m + 1.0f, (float)E);
}

static inline double fi_log(double p)
{
    int64_t E;
    double m = fi_frexp_sqrt2_f64(p, &E);
    return fi_log_core_f64(m - 1.0, m + 1.0, (double)E);
}

/* ---- Box-Muller (section 4) ------------------------------------------- */

/* r = sqrt(-2 ln u1), u1 = (x1 + 1) 2^-32, without cancellation anywhere:
 * u1 <= 1/2 goes through the exponent (no sign clash between e ln2 and
 * ln m), u1 > 1/2 through log1p(-d) with d = 1 - u1 exact. */
static inline float fi_bm_radius_f32(uint32_t x1)
{
    float num, den, e;
    if (x1 < UINT32_C(0x80000000)) {
        float f = (float)(x1 + 1u);             /* one rounding of x1 + 1 <= 2^31 */
        int32_t E;
        float m = fi_frexp_sqrt2_f32(f, &E);
        e = (float)(E - 32);
        num = m - 1.0f;
        den = m + 1.0f;
    } else {
        float d = (float)(int32_t)(UINT32_C(0xFFFFFFFF) - x1) * 0x1p-32f;
        e = 0.0f;
        num = -d;
        den = 2.0f - d;
    }
    float s = num / den;                        /* |s| <= 1/3 */
    float s2 = s * s;
    float t = s2 * (FI_LOGF_C1 + s2 * (FI_LOGF_C2 + s2 * (FI_LOGF_C3 + s2 * (FI_LOGF_C4
            + s2 * (FI_LOGF_C5 + s2 * (FI_LOGF_C6 + s2 * (FI_LOGF_C7 + s2 * FI_LOGF_C8)))))));
    float h = s + s;
    float lm = h + h * t;
    float L = -(e * FI_LN2F_HI + (lm + e * FI_LN2F_LO));
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
    float sp = t * (FI_SINF_S1 + t2 * (FI_SINF_S3 + t2 * (FI_SINF_S5 + t2 * (FI_SINF_S7 + t2 * FI_SINF_S9))));
    float cp = 1.0f + t2 * (FI_COSF_C2 + t2 * (FI_COSF_C4 + t2 * (FI_COSF_C6 + t2 * (FI_COSF_C8 + t2 * FI_COSF_C10))));
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
    float pc;                     /* p >= pc: AS 241 central region       */
    float lnS;                    /* log of the tail rescaling factor     */
} fi_trunc_f32_params;

typedef struct {
    double mean, std, lo, hi;
    double cA, cB, W;
    double thr, pc, lnS;
} fi_trunc_f64_params;

/* AS 241 PPND7 for a lower-tail probability p (scaled by e^lnS in the tails). */
static inline float fi_ndtri_low_f32(float p, float pc, float lnS)
{
    if (p >= pc) {
        float q = p - 0.5f;
        float r = 0.180625f - q * q;
        float a = ((5.9109374720e+01f * r + 1.5929113202e+02f) * r + 5.0434271938e+01f) * r + 3.3871327179e+00f;
        float b = ((6.7187563600e+01f * r + 7.8757757664e+01f) * r + 1.7895169469e+01f) * r + 1.0f;
        return (q * a) / b;
    }
    float r = fi_sqrtf(lnS - fi_logf(p));
    if (r <= 5.0f) {
        r = r - 1.6f;
        float c = ((1.7023821103e-01f * r + 1.3067284816e+00f) * r + 2.7568153900e+00f) * r + 1.4234372777e+00f;
        float d = (1.2021132975e-01f * r + 7.3700164250e-01f) * r + 1.0f;
        return -(c / d);
    }
    r = r - 5.0f;
    float e = ((1.7337203997e-02f * r + 4.2868294337e-01f) * r + 3.0812263860e+00f) * r + 6.6579051150e+00f;
    float f = (1.2258202635e-02f * r + 2.4197894225e-01f) * r + 1.0f;
    return -(e / f);
}

/* AS 241 PPND16, the double-precision twin. */
static inline double fi_ndtri_low_f64(double p, double pc, double lnS)
{
    if (p >= pc) {
        double q = p - 0.5;
        double r = 0.180625 - q * q;
        double a = (((((((2.5090809287301226727e+03 * r + 3.3430575583588128105e+04) * r
                   + 6.7265770927008700853e+04) * r + 4.5921953931549871457e+04) * r
                   + 1.3731693765509461125e+04) * r + 1.9715909503065514427e+03) * r
                   + 1.3314166789178437745e+02) * r + 3.3871328727963666080e+00);
        double b = (((((((5.2264952788528545610e+03 * r + 2.8729085735721942674e+04) * r
                   + 3.9307895800092710610e+04) * r + 2.1213794301586595867e+04) * r
                   + 5.3941960214247511077e+03) * r + 6.8718700749205790830e+02) * r
                   + 4.2313330701600911252e+01) * r + 1.0);
        return (q * a) / b;
    }
    double r = fi_sqrt(lnS - fi_log(p));
    if (r <= 5.0) {
        r = r - 1.6;
        double c = (((((((7.74545014278341407640e-04 * r + 2.27238449892691845833e-02) * r
                   + 2.41780725177450611770e-01) * r + 1.27045825245236838258e+00) * r
                   + 3.64784832476320460504e+00) * r + 5.76949722146069140550e+00) * r
                   + 4.63033784615654529590e+00) * r + 1.42343711074968357734e+00);
        double d = (((((((1.05075007164441684324e-09 * r + 5.47593808499534494600e-04) * r
                   + 1.51986665636164571966e-02) * r + 1.48103976427480074590e-01) * r
                   + 6.89767334985100004550e-01) * r + 1.67638483018380384940e+00) * r
                   + 2.05319162663775882187e+00) * r + 1.0);
        return -(c / d);
    }
    r = r - 5.0;
    double e = (((((((2.01033439929228813265e-07 * r + 2.71155556874348757815e-05) * r
               + 1.24266094738807843860e-03) * r + 2.65321895265761230930e-02) * r
               + 2.96560571828504891230e-01) * r + 1.78482653991729133580e+00) * r
               + 5.46378491116411436990e+00) * r + 6.65790464350110377720e+00);
    double f = (((((((2.04426310338993978564e-15 * r + 1.42151175831644588870e-07) * r
               + 1.84631831751005468180e-05) * r + 7.86869131145613259100e-04) * r
               + 1.48753612908506148525e-02) * r + 1.36929880922735805310e-01) * r
               + 5.99832206555887937690e-01) * r + 1.0);
    return -(e / f);
}

static inline float fi_trunc_value_f32(uint32_t x, const fi_trunc_f32_params *P)
{
    float u = (float)(int32_t)(2u * (x >> 9) + 1u) * 0x1p-24f;
    float v = 1.0f - u;
    float plo = P->cA + u * P->W;
    float z;
    if (plo <= P->thr) {
        z = fi_ndtri_low_f32(plo, P->pc, P->lnS);
    } else {
        float phi = P->cB + v * P->W;
        z = -fi_ndtri_low_f32(phi, P->pc, P->lnS);
    }
    float y = P->mean + P->std * z;
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
