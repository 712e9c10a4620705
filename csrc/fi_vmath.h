/* Vector twins of the scalar rules in fi_dist.h, written once with GCC/Clang
 * vector extensions and instantiated per SIMD width by the ISA files
 * (fi_avx512.c, fi_avx2.c, fi_neon.c).  Every lane performs the same IEEE operations
 * in the same order as the scalar code; branches become "compute both,
 * select", so the selected lane is bit-identical to the scalar result, and
 * every fused multiply-add of the scalar rule (fi_fmaf) is one FI_VFMAF.
 *
 * The includer defines, before including this file:
 *   FI_VL        number of 32-bit lanes of a math vector (a few registers)
 *   FI_V(name)   function-name decoration (e.g. name##_avx512)
 *   FI_VSQRTF(x), FI_VSQRTD(x)   vector square roots (one IEEE op per lane)
 *   FI_VFMAF(a, b, c)            a * b + c rounded once per lane (a vf32 of each)
 *   FI_VANY(m)                   nonzero when some lane of the vs32 mask m is set
 *   FI_VCVT_U64_F64(x)           exact conversion of u64 lanes < 2^53 to double
 * This header may be included once per translation unit. */

#include <stdint.h>
#include "fi_consts.h"
#include "fi_dist.h"

typedef uint32_t vu32 __attribute__((vector_size(FI_VL * 4)));
typedef int32_t vs32 __attribute__((vector_size(FI_VL * 4)));
typedef float vf32 __attribute__((vector_size(FI_VL * 4)));
typedef uint64_t vu64 __attribute__((vector_size(FI_VL * 4)));
typedef int64_t vs64 __attribute__((vector_size(FI_VL * 4)));
typedef double vf64 __attribute__((vector_size(FI_VL * 4)));

/* lane-wise select: m is all-ones where a is wanted */
static inline vf32 FI_V(sel_f32)(vs32 m, vf32 a, vf32 b)
{
    return (vf32)(((vs32)a & m) | ((vs32)b & ~m));
}

static inline vf64 FI_V(sel_f64)(vs64 m, vf64 a, vf64 b)
{
    return (vf64)(((vs64)a & m) | ((vs64)b & ~m));
}

/* broadcasts (x * 1 is x exactly, -0 included, where 0 + x would lose the sign) */
static inline vf32 FI_V(bcast_f32)(float x) { return ((vf32){0} + 1.0f) * x; }
static inline vf64 FI_V(bcast_f64)(double x) { return ((vf64){0} + 1.0) * x; }

/* (a > b ? a : b) and (a < b ? a : b) lane by lane, exactly (signed zeros
 * included); an ISA file may define them as one instruction with these
 * semantics (x86 maxps/minps) */
#ifndef FI_VMAXF
#define FI_VMAXF(a, b) FI_V(sel_f32)((vs32)((a) > (b)), a, b)
#define FI_VMINF(a, b) FI_V(sel_f32)((vs32)((a) < (b)), a, b)
#endif

/* a * b + c with one rounding; constants broadcast with FI_V(bcast_f32) */
static inline vf32 FI_V(fma)(vf32 a, vf32 b, vf32 c) { return FI_VFMAF(a, b, c); }
#define FI_K(x) FI_V(bcast_f32)(x)

static inline vf32 FI_V(s32_to_f32)(vs32 x) { return __builtin_convertvector(x, vf32); }

/* signed 64-bit lanes with |x| < 2^52 to double, exactly */
static inline vf64 FI_V(s64_to_f64)(vs64 x)
{
    vu64 v = (vu64)(x + ((int64_t)1 << 52));
    return FI_VCVT_U64_F64(v) - 0x1p52;
}

/* ---- uniform ------------------------------------------------------------ */

static inline vf32 FI_V(uniform_f32)(vu32 x, float lo, float width)
{
    vf32 u = FI_V(s32_to_f32)((vs32)(x >> 8)) * 0x1p-24f;
    return lo + width * u;
}

static inline vf64 FI_V(uniform_f64)(vu64 X, double lo, double width)
{
    vf64 u = FI_VCVT_U64_F64(X >> 11) * 0x1p-53;
    return lo + width * u;
}

/* ---- logarithm pieces ---------------------------------------------------- */

static inline vf32 FI_V(frexp_sqrt2_f32)(vf32 x, vs32 *E)
{
    vu32 b = (vu32)x;
    vs32 e = (vs32)(b >> 23) - 127;
    vu32 mb = (b & 0x7FFFFFu) | 0x3F800000u;
    vs32 big = (vs32)(mb >= 0x3FB504F3u);   /* -1 where m is halved */
    mb = mb - ((vu32)big & 0x00800000u);
    *E = e - big;
    return (vf32)mb;
}

static inline vf64 FI_V(frexp_sqrt2_f64)(vf64 x, vs64 *E)
{
    vu64 b = (vu64)x;
    vs64 e = (vs64)(b >> 52) - 1023;
    vu64 mb = (b & UINT64_C(0xFFFFFFFFFFFFF)) | UINT64_C(0x3FF0000000000000);
    vs64 big = (vs64)(mb >= UINT64_C(0x3FF6A09E667F3BCD));
    mb = mb - ((vu64)big & UINT64_C(0x0010000000000000));
    *E = e - big;
    return (vf64)mb;
}

/* ln(1 + f) = f + f^2 Q(f) (fi_log1p_core_f32) */
static inline vf32 FI_V(log1p_core_f32)(vf32 f)
{
    vf32 f2 = f * f, f4 = f2 * f2, f8 = f4 * f4;
    vf32 a0 = FI_V(fma)(FI_K(FI_LOG1PF_Q1), f, FI_K(FI_LOG1PF_Q0));
    vf32 a1 = FI_V(fma)(FI_K(FI_LOG1PF_Q3), f, FI_K(FI_LOG1PF_Q2));
    vf32 a2 = FI_V(fma)(FI_K(FI_LOG1PF_Q5), f, FI_K(FI_LOG1PF_Q4));
    vf32 a3 = FI_V(fma)(FI_K(FI_LOG1PF_Q7), f, FI_K(FI_LOG1PF_Q6));
    vf32 q = FI_V(fma)(FI_V(fma)(a3, f2, a2), f4, FI_V(fma)(a1, f2, a0));
    q = FI_V(fma)(FI_K(FI_LOG1PF_Q8), f8, q);
    return FI_V(fma)(f2, q, f);
}

static inline vf32 FI_V(add_eln2_f32)(vf32 e, vf32 lm)
{
    return FI_V(fma)(e, FI_K(FI_LN2F_HI), FI_V(fma)(e, FI_K(FI_LN2F_LO), lm));
}

static inline vf64 FI_V(log_core_f64)(vf64 num, vf64 den, vf64 e)
{
    vf64 s = num / den;
    vf64 s2 = s * s;
    vf64 t = s2 * (FI_LOG_C1 + s2 * (FI_LOG_C2 + s2 * (FI_LOG_C3 + s2 * (FI_LOG_C4
           + s2 * (FI_LOG_C5 + s2 * (FI_LOG_C6 + s2 * (FI_LOG_C7 + s2 * (FI_LOG_C8
           + s2 * (FI_LOG_C9 + s2 * FI_LOG_C10)))))))));
    vf64 h = s + s;
    vf64 lm = h + h * t;
    return e * FI_LN2_HI + (lm + e * FI_LN2_LO);
}

static inline vf32 FI_V(logf)(vf32 p)
{
    vs32 E;
    vf32 m = FI_V(frexp_sqrt2_f32)(p, &E);
    return FI_V(add_eln2_f32)(FI_V(s32_to_f32)(E), FI_V(log1p_core_f32)(m - 1.0f));
}

static inline vf64 FI_V(log)(vf64 p)
{
    vs64 E;
    vf64 m = FI_V(frexp_sqrt2_f64)(p, &E);
    return FI_V(log_core_f64)(m - 1.0, m + 1.0, FI_V(s64_to_f64)(E));
}

/* ---- Box-Muller ----------------------------------------------------------- */

static inline vf32 FI_V(bm_radius_f32)(vu32 x1)
{
    vu32 n1 = x1 + 1u;
    /* E as fi_bm_exponent_f32: from x1 + 1 rounded to float below 0x7FFFFFFF */
    vu32 b = (vu32)FI_V(s32_to_f32)((vs32)n1);
    vs32 E = (vs32)(b >> 23) - 127;
    E = E - (vs32)(((b & 0x7FFFFFu) | 0x3F800000u) >= 0x3FB504F3u);
    vs32 Ehigh = 31 - (vs32)(x1 >= 0xB504F333u);
    vs32 low = (vs32)(x1 < 0x7FFFFFFFu);
    E = (E & low) | (Ehigh & ~low);
    vu32 P = (1u << ((vu32)E & 31u)) & (vu32)(E < 32);          /* 2^E mod 2^32 */
    vf32 scale = (vf32)((vu32)(127 - E) << 23);                 /* 2^-E */
    vf32 f = FI_V(s32_to_f32)((vs32)(n1 - P)) * scale;
    vf32 L = -FI_V(add_eln2_f32)(FI_V(s32_to_f32)(E - 32), FI_V(log1p_core_f32)(f));
    return FI_VSQRTF(L + L);
}

static inline vf64 FI_V(bm_radius_f64)(vu64 X1)
{
    vu64 x = X1 >> 11;
    vs64 caseA = (vs64)(x < UINT64_C(0x16A09E667F3BCC));
    vf64 f = FI_VCVT_U64_F64(x) + 1.0;
    vs64 E;
    vf64 m = FI_V(frexp_sqrt2_f64)(f, &E);
    vf64 eA = FI_V(s64_to_f64)(E - 53);
    vf64 d = FI_VCVT_U64_F64(UINT64_C(0x1FFFFFFFFFFFFF) - x) * 0x1p-53;
    vf64 num = FI_V(sel_f64)(caseA, m - 1.0, -d);
    vf64 den = FI_V(sel_f64)(caseA, m + 1.0, 2.0 - d);
    vf64 e = FI_V(sel_f64)(caseA, eA, FI_V(bcast_f64)(0.0));
    vf64 L = -FI_V(log_core_f64)(num, den, e);
    return FI_VSQRTD(L + L);
}

/* rotate (cp, sp) = (cos, sin)(pi t / 2) by q quarter turns */
static inline void FI_V(rotate_f32)(vu32 q, vf32 cp, vf32 sp, vf32 *c, vf32 *s)
{
    vs32 swap = (vs32)((q & 1u) != 0u);
    vf32 c0 = FI_V(sel_f32)(swap, sp, cp);
    vf32 s0 = FI_V(sel_f32)(swap, cp, sp);
    vu32 cneg = ((q + 1u) & 2u) << 30;   /* q = 1, 2 */
    vu32 sneg = (q & 2u) << 30;          /* q = 2, 3 */
    *c = (vf32)((vu32)c0 ^ cneg);
    *s = (vf32)((vu32)s0 ^ sneg);
}

static inline void FI_V(bm_angle_f32)(vu32 x2, vf32 *c, vf32 *s)
{
    vu32 n = x2 >> 8;
    vu32 kk = (n + 0x200000u) >> 22;
    vs32 j = (vs32)n - (vs32)(kk << 22);
    vf32 t = FI_V(s32_to_f32)(j) * 0x1p-22f;
    vf32 t2 = t * t;
    vf32 rest = FI_V(fma)(t2, FI_V(fma)(FI_V(fma)(FI_K(FI_SINF_S7), t2, FI_K(FI_SINF_S5)), t2, FI_K(FI_SINF_S3)),
                          FI_K(FI_SINF_S1LO));
    vf32 sp = FI_V(fma)(t, FI_K(FI_SINF_S1), t * rest);
    vf32 cp = FI_V(fma)(t2, FI_V(fma)(FI_V(fma)(FI_V(fma)(FI_K(FI_COSF_C8), t2, FI_K(FI_COSF_C6)), t2,
                                                FI_K(FI_COSF_C4)), t2, FI_K(FI_COSF_C2)), FI_K(1.0f));
    FI_V(rotate_f32)(kk & 3u, cp, sp, c, s);
}

static inline void FI_V(bm_angle_f64)(vu64 X2, vf64 *c, vf64 *s)
{
    vu64 n = X2 >> 11;
    vu64 kk = (n + (UINT64_C(1) << 50)) >> 51;
    vs64 j = (vs64)n - (vs64)(kk << 51);
    vf64 t = FI_V(s64_to_f64)(j) * 0x1p-51;
    vf64 t2 = t * t;
    vf64 sp = t * (FI_SIN_S1 + t2 * (FI_SIN_S3 + t2 * (FI_SIN_S5 + t2 * (FI_SIN_S7
            + t2 * (FI_SIN_S9 + t2 * (FI_SIN_S11 + t2 * (FI_SIN_S13 + t2 * (FI_SIN_S15
            + t2 * FI_SIN_S17))))))));
    vf64 cp = 1.0 + t2 * (FI_COS_C2 + t2 * (FI_COS_C4 + t2 * (FI_COS_C6 + t2 * (FI_COS_C8
            + t2 * (FI_COS_C10 + t2 * (FI_COS_C12 + t2 * (FI_COS_C14 + t2 * (FI_COS_C16
            + t2 * FI_COS_C18))))))));
    vu64 q = kk & 3u;
    vs64 swap = (vs64)((q & 1u) != 0u);
    vf64 c0 = FI_V(sel_f64)(swap, sp, cp);
    vf64 s0 = FI_V(sel_f64)(swap, cp, sp);
    *c = (vf64)((vu64)c0 ^ (((q + 1u) & 2u) << 62));
    *s = (vf64)((vu64)s0 ^ ((q & 2u) << 62));
}

/* ---- truncated normal ----------------------------------------------------- */

/* fi_ndtri_low_f32, lane by lane, in pieces that the kernels run over a whole
 * group of registers one piece at a time (short dependency chains side by
 * side keep the core busy); each region is computed only when some lane is in
 * it (the tail is rare in the common intervals). */
static inline vf32 FI_V(ndtri_central_f32)(vf32 p)
{
    vf32 p4 = 4.0f * p;
    vf32 w = -FI_V(logf)(FI_V(fma)(-p4, p, p4));
    vf32 w2 = w * w, w4 = w2 * w2, w8 = w4 * w4;
    vf32 a0 = FI_V(fma)(FI_K(FI_NDTRIF_P1), w, FI_K(FI_NDTRIF_P0));
    vf32 a1 = FI_V(fma)(FI_K(FI_NDTRIF_P3), w, FI_K(FI_NDTRIF_P2));
    vf32 a2 = FI_V(fma)(FI_K(FI_NDTRIF_P5), w, FI_K(FI_NDTRIF_P4));
    vf32 a3 = FI_V(fma)(FI_K(FI_NDTRIF_P7), w, FI_K(FI_NDTRIF_P6));
    vf32 a4 = FI_V(fma)(FI_K(FI_NDTRIF_P9), w, FI_K(FI_NDTRIF_P8));
    vf32 P = FI_V(fma)(FI_V(fma)(a3, w2, a2), w4, FI_V(fma)(a1, w2, a0));
    P = FI_V(fma)(a4, w8, P);
    return FI_V(fma)(FI_K(2.0f), p, FI_K(-1.0f)) * P;
}

/* the tail (PPND7's tail rationals) for the lanes outside `central`; those
 * lanes take a p that keeps the log finite, and their result is unused */
static inline vf32 FI_V(ndtri_tail_f32)(vf32 p, vs32 central, float lnS)
{
#define FI_H3(c3, c2, c1, c0, r) FI_V(fma)(FI_V(fma)(FI_V(fma)(c3, r, c2), r, c1), r, c0)
    vf32 pt = FI_V(sel_f32)(central, FI_K(0.25f), p);
    vf32 rt = FI_VSQRTF(lnS - FI_V(logf)(pt));
    vs32 near = (vs32)(rt <= FI_PPND7_SPLIT2);
#define FI_SELC(x, y) FI_V(sel_f32)(near, FI_V(bcast_f32)(x), FI_V(bcast_f32)(y))
    vf32 rr = FI_V(sel_f32)(near, rt - FI_PPND7_CONST2, rt - FI_PPND7_SPLIT2);
    vf32 c = FI_H3(FI_SELC(FI_PPND7_C3, FI_PPND7_E3), FI_SELC(FI_PPND7_C2, FI_PPND7_E2),
                   FI_SELC(FI_PPND7_C1, FI_PPND7_E1), FI_SELC(FI_PPND7_C0, FI_PPND7_E0), rr);
    vf32 d = FI_V(fma)(FI_V(fma)(FI_SELC(FI_PPND7_D2, FI_PPND7_F2), rr, FI_SELC(FI_PPND7_D1, FI_PPND7_F1)), rr,
                       FI_K(1.0f));
#undef FI_SELC
#undef FI_H3
    return -(c / d);
}

/* the probability of section 6 for each lane: plo where `low`, else phi */
static inline vf32 FI_V(trunc_p_f32)(vu32 x, const fi_trunc_f32_params *P, vs32 *low)
{
    vf32 u = FI_V(s32_to_f32)((vs32)(2u * (x >> 9) + 1u)) * 0x1p-24f;
    vf32 v = 1.0f - u;
    vf32 plo = FI_V(fma)(u, FI_K(P->W), FI_K(P->cA));
    vf32 phi = FI_V(fma)(v, FI_K(P->W), FI_K(P->cB));
    *low = (vs32)(plo <= P->thr);
    return FI_V(sel_f32)(*low, plo, phi);
}

/* out = clamp(mean + std z), z = +-ndtri_low(p) by side */
static inline vf32 FI_V(trunc_out_f32)(vf32 zl, vs32 low, const fi_trunc_f32_params *P)
{
    vf32 z = FI_V(sel_f32)(low, zl, -zl);
    vf32 y = FI_V(fma)(FI_K(P->std), z, FI_K(P->mean));
    y = FI_VMAXF(y, FI_K(P->lo));
    return FI_VMINF(y, FI_K(P->hi));
}

/* AS 241 PPND16 (the f64 rule) with every branch evaluated and one division:
 * the tail's two rationals share a Horner chain over blended coefficients,
 * and the central and tail quotients share the divide.  Each lane still
 * performs exactly the scalar sequence of its own branch. */
static inline vf64 FI_V(ndtri_low_f64)(vf64 p, double pc, double lnS)
{
    vs64 central = (vs64)(p >= pc);
    vf64 q = p - 0.5;
    vf64 r = FI_PPND16_CONST1 - q * q;
    vf64 a = (((((((FI_PPND16_A7 * r + FI_PPND16_A6) * r
             + FI_PPND16_A5) * r + FI_PPND16_A4) * r
             + FI_PPND16_A3) * r + FI_PPND16_A2) * r
             + FI_PPND16_A1) * r + FI_PPND16_A0);
    vf64 b = (((((((FI_PPND16_B7 * r + FI_PPND16_B6) * r
             + FI_PPND16_B5) * r + FI_PPND16_B4) * r
             + FI_PPND16_B3) * r + FI_PPND16_B2) * r
             + FI_PPND16_B1) * r + 1.0);
    vf64 rt = FI_VSQRTD(lnS - FI_V(log)(p));
    vs64 near = (vs64)(rt <= FI_PPND16_SPLIT2);
#define FI_SELD(x, y) FI_V(sel_f64)(near, FI_V(bcast_f64)(x), FI_V(bcast_f64)(y))
    vf64 rr = FI_V(sel_f64)(near, rt - FI_PPND16_CONST2, rt - FI_PPND16_SPLIT2);
    vf64 c = (((((((FI_SELD(FI_PPND16_C7, FI_PPND16_E7) * rr
             + FI_SELD(FI_PPND16_C6, FI_PPND16_E6)) * rr
             + FI_SELD(FI_PPND16_C5, FI_PPND16_E5)) * rr
             + FI_SELD(FI_PPND16_C4, FI_PPND16_E4)) * rr
             + FI_SELD(FI_PPND16_C3, FI_PPND16_E3)) * rr
             + FI_SELD(FI_PPND16_C2, FI_PPND16_E2)) * rr
             + FI_SELD(FI_PPND16_C1, FI_PPND16_E1)) * rr
             + FI_SELD(FI_PPND16_C0, FI_PPND16_E0));
    vf64 d = (((((((FI_SELD(FI_PPND16_D7, FI_PPND16_F7) * rr
             + FI_SELD(FI_PPND16_D6, FI_PPND16_F6)) * rr
             + FI_SELD(FI_PPND16_D5, FI_PPND16_F5)) * rr
             + FI_SELD(FI_PPND16_D4, FI_PPND16_F4)) * rr
             + FI_SELD(FI_PPND16_D3, FI_PPND16_F3)) * rr
             + FI_SELD(FI_PPND16_D2, FI_PPND16_F2)) * rr
             + FI_SELD(FI_PPND16_D1, FI_PPND16_F1)) * rr + 1.0);
#undef FI_SELD
    vf64 z = FI_V(sel_f64)(central, q * a, c) / FI_V(sel_f64)(central, b, d);
    return FI_V(sel_f64)(central, z, -z);
}

static inline vf64 FI_V(trunc_f64)(vu64 X, const fi_trunc_f64_params *P)
{
    vf64 u = FI_VCVT_U64_F64(2u * (X >> 12) + 1u) * 0x1p-53;
    vf64 v = 1.0 - u;
    vf64 plo = P->cA + u * P->W;
    vf64 phi = P->cB + v * P->W;
    vs64 low = (vs64)(plo <= P->thr);
    vf64 z = FI_V(ndtri_low_f64)(FI_V(sel_f64)(low, plo, phi), P->pc, P->lnS);
    z = FI_V(sel_f64)(low, z, -z);
    vf64 y = P->mean + P->std * z;
    y = FI_V(sel_f64)((vs64)(y > P->lo), y, FI_V(bcast_f64)(P->lo));
    return FI_V(sel_f64)((vs64)(y < P->hi), y, FI_V(bcast_f64)(P->hi));
}
