/* NEON (AArch64 Advanced SIMD) kernels.  NEON and its fused multiply-add are
 * part of every AArch64 CPU, so the dispatcher always has this level there;
 * the math and the drivers are the shared vector source (fi_vmath.h,
 * fi_vdrive.h), instantiated here for 128-bit registers. */
#if defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))

#include <arm_neon.h>
#include <stdint.h>
#include "fi_philox.h"

#define FI_RL 4                    /* 32-bit lanes per register */
#define FI_R 1                     /* registers per math vector */
#define FI_VL (FI_RL * FI_R)
#define FI_V(name) name##_neon
#define FI_VSQRTF(x) ((vf32)vsqrtq_f32((float32x4_t)(x)))
#define FI_VSQRTD(x) ((vf64)vsqrtq_f64((float64x2_t)(x)))
/* a * b + c rounded once: vfmaq_f32(c, a, b) is c + a * b, one fmla */
#define FI_VFMAF(a, b, c) ((vf32)vfmaq_f32((float32x4_t)(c), (float32x4_t)(a), (float32x4_t)(b)))
#define FI_VANY(m) (vmaxvq_u32((uint32x4_t)(m)) != 0)
#define FI_VCVT_U64_F64(x) ((vf64)vcvtq_f64_u64((uint64x2_t)(x)))
/* NEON has no streaming stores here: the drivers' nt flag is ignored */
#define FI_STORE_FENCE() ((void)0)

typedef uint32_t rvu32 __attribute__((vector_size(FI_RL * 4)));
typedef float rvf32 __attribute__((vector_size(FI_RL * 4)));
typedef uint64_t rvu64 __attribute__((vector_size(FI_RL * 4)));
typedef double rvf64 __attribute__((vector_size(FI_RL * 4)));

#include "fi_vmath.h"

#define FI_VI uint32x4_t
#define FI_NREG 8

/* Philox on four blocks at a time in structure-of-arrays form (register j
 * holds word j of four blocks), then transposed so that register k holds
 * block b + k, its words in stream order. */
typedef struct {
    uint32x4_t k0[10], k1[10];
    uint32x4_t c2, c3;             /* the stream id, the counter's high half */
} philox_ctx_neon;

static inline void philox_setup_neon(const fi_stream *s, philox_ctx_neon *ctx)
{
    uint32_t k0 = (uint32_t)s->seed, k1 = (uint32_t)(s->seed >> 32);
    for (int r = 0; r < 10; r++) {
        ctx->k0[r] = vdupq_n_u32(k0);
        ctx->k1[r] = vdupq_n_u32(k1);
        k0 += FI_PHILOX_W0;
        k1 += FI_PHILOX_W1;
    }
    ctx->c2 = vdupq_n_u32((uint32_t)s->stream);
    ctx->c3 = vdupq_n_u32((uint32_t)(s->stream >> 32));
}

/* hi and lo 32-bit halves of the four products m * c */
static inline void mulhilo_neon(uint32x4_t c, uint32_t m, uint32x4_t *hi, uint32x4_t *lo)
{
    uint32x2_t mm = vdup_n_u32(m);
    uint32x4_t p01 = vreinterpretq_u32_u64(vmull_u32(vget_low_u32(c), mm));
    uint32x4_t p23 = vreinterpretq_u32_u64(vmull_high_u32(c, vcombine_u32(mm, mm)));
    *lo = vuzp1q_u32(p01, p23);
    *hi = vuzp2q_u32(p01, p23);
}

static inline void philox_group_neon(const philox_ctx_neon *ctx, uint64_t b, uint32x4_t r[FI_NREG])
{
    for (int s = 0; s < FI_NREG; s += 4) {
        uint64_t b0 = b + (uint64_t)s;
        uint64_t lo_[4], hi_[4];
        for (int j = 0; j < 4; j++) {
            lo_[j] = (uint32_t)(b0 + (uint64_t)j);
            hi_[j] = (uint32_t)((b0 + (uint64_t)j) >> 32);
        }
        uint32_t l32[4] = {(uint32_t)lo_[0], (uint32_t)lo_[1], (uint32_t)lo_[2], (uint32_t)lo_[3]};
        uint32_t h32[4] = {(uint32_t)hi_[0], (uint32_t)hi_[1], (uint32_t)hi_[2], (uint32_t)hi_[3]};
        uint32x4_t c0 = vld1q_u32(l32), c1 = vld1q_u32(h32), c2 = ctx->c2, c3 = ctx->c3;
        for (int round = 0; round < 10; round++) {
            uint32x4_t hi0, lo0, hi1, lo1;
            mulhilo_neon(c0, FI_PHILOX_M0, &hi0, &lo0);
            mulhilo_neon(c2, FI_PHILOX_M1, &hi1, &lo1);
            c0 = veorq_u32(veorq_u32(hi1, c1), ctx->k0[round]);
            c1 = lo1;
            c2 = veorq_u32(veorq_u32(hi0, c3), ctx->k1[round]);
            c3 = lo0;
        }
        /* 4 x 4 transpose: register s + j = (c0[j], c1[j], c2[j], c3[j]) */
        uint32x4_t t0 = vtrn1q_u32(c0, c1), t1 = vtrn2q_u32(c0, c1);
        uint32x4_t t2 = vtrn1q_u32(c2, c3), t3 = vtrn2q_u32(c2, c3);
        r[s + 0] = vreinterpretq_u32_u64(vtrn1q_u64(vreinterpretq_u64_u32(t0), vreinterpretq_u64_u32(t2)));
        r[s + 1] = vreinterpretq_u32_u64(vtrn1q_u64(vreinterpretq_u64_u32(t1), vreinterpretq_u64_u32(t3)));
        r[s + 2] = vreinterpretq_u32_u64(vtrn2q_u64(vreinterpretq_u64_u32(t0), vreinterpretq_u64_u32(t2)));
        r[s + 3] = vreinterpretq_u32_u64(vtrn2q_u64(vreinterpretq_u64_u32(t1), vreinterpretq_u64_u32(t3)));
    }
}

/* even/odd words of two registers; lane k of `even` pairs with lane k of `odd` */
static inline void split32_neon(uint32x4_t a, uint32x4_t b, rvu32 *even, rvu32 *odd)
{
    *even = (rvu32)vuzp1q_u32(a, b);
    *odd = (rvu32)vuzp2q_u32(a, b);
}

static inline void join32_neon(rvf32 e, rvf32 o, rvf32 *a, rvf32 *b)
{
    *a = (rvf32)vzip1q_f32((float32x4_t)e, (float32x4_t)o);
    *b = (rvf32)vzip2q_f32((float32x4_t)e, (float32x4_t)o);
}

static inline void split64_neon(uint32x4_t a, uint32x4_t b, rvu64 *even, rvu64 *odd)
{
    *even = (rvu64)vzip1q_u64(vreinterpretq_u64_u32(a), vreinterpretq_u64_u32(b));
    *odd = (rvu64)vzip2q_u64(vreinterpretq_u64_u32(a), vreinterpretq_u64_u32(b));
}

static inline void join64_neon(rvf64 e, rvf64 o, rvf64 *a, rvf64 *b)
{
    *a = (rvf64)vzip1q_f64((float64x2_t)e, (float64x2_t)o);
    *b = (rvf64)vzip2q_f64((float64x2_t)e, (float64x2_t)o);
}

static inline void store_u32_neon(uint32_t *o, uint32x4_t v, int nt)
{
    (void)nt;
    vst1q_u32(o, v);
}

static inline void store_f32_neon(float *o, rvf32 v, int nt)
{
    (void)nt;
    vst1q_f32(o, (float32x4_t)v);
}

static inline void store_f64_neon(double *o, rvf64 v, int nt)
{
    (void)nt;
    vst1q_f64(o, (float64x2_t)v);
}

/* float32 -> IEEE binary16 by fcvtn: round to nearest even (the default FPCR
 * mode), subnormals kept, overflow to infinity, as fi_f32_to_f16 */
static inline void store_f16_neon(uint16_t *o, rvf32 v, int nt)
{
    (void)nt;
    vst1_u16(o, vreinterpret_u16_f16(vcvt_f16_f32((float32x4_t)v)));
}

static inline void store_bf16_neon(uint16_t *o, rvf32 v, int nt)
{
    (void)nt;
    rvu32 b = (rvu32)v;
    b = (b + 0x7FFFu + ((b >> 16) & 1u)) >> 16;
    vst1_u16(o, vmovn_u32((uint32x4_t)b));
}

#include "fi_vdrive.h"

#else
typedef int fi_neon_not_built;   /* ISO C wants a non-empty translation unit */
#endif
