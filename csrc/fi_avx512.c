/* AVX-512 (F, DQ, BW, VL) kernels.  Compiled for that target only through
 * the pragma below; the dispatcher calls them only on CPUs that have it. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#pragma GCC target("avx512f,avx512dq,avx512bw,avx512vl,f16c")
#include <immintrin.h>
#include <stdint.h>
#include "fi_philox.h"

#define FI_RL 16                   /* 32-bit lanes per register */
#define FI_R 1                     /* registers per math vector */
#define FI_VL (FI_RL * FI_R)
#define FI_V(name) name##_avx512
#define FI_VSQRTF(x) fi_vsqrtf_avx512(x)
#define FI_VSQRTD(x) fi_vsqrtd_avx512(x)
#define FI_VFMAF(a, b, c) fi_vfmaf_avx512(a, b, c)
#define FI_VANY(m) fi_vany_avx512(m)
#define FI_STORE_FENCE() _mm_sfence()
/* maxps(a, b) is a > b ? a : b and minps(a, b) a < b ? a : b, exactly as
 * fi_vmath.h needs them (FI_R is 1 here) */
#define FI_VMAXF(a, b) ((vf32)_mm512_max_ps((__m512)(a), (__m512)(b)))
#define FI_VMINF(a, b) ((vf32)_mm512_min_ps((__m512)(a), (__m512)(b)))
#define FI_VCVT_U64_F64(x) __builtin_convertvector((x), vf64)

typedef uint32_t rvu32 __attribute__((vector_size(FI_RL * 4)));
typedef float rvf32 __attribute__((vector_size(FI_RL * 4)));
typedef uint64_t rvu64 __attribute__((vector_size(FI_RL * 4)));
typedef double rvf64 __attribute__((vector_size(FI_RL * 4)));
typedef float fi_wvf32_avx512 __attribute__((vector_size(FI_VL * 4)));
typedef double fi_wvf64_avx512 __attribute__((vector_size(FI_VL * 4)));

/* square roots of a math vector, one IEEE vsqrt per register */
static inline fi_wvf32_avx512 fi_vsqrtf_avx512(fi_wvf32_avx512 x)
{
    union { fi_wvf32_avx512 w; __m512 r[FI_R]; } u = {x};
    for (int j = 0; j < FI_R; j++)
        u.r[j] = _mm512_sqrt_ps(u.r[j]);
    return u.w;
}

static inline fi_wvf64_avx512 fi_vsqrtd_avx512(fi_wvf64_avx512 x)
{
    union { fi_wvf64_avx512 w; __m512d r[FI_R]; } u = {x};
    for (int j = 0; j < FI_R; j++)
        u.r[j] = _mm512_sqrt_pd(u.r[j]);
    return u.w;
}

/* a * b + c rounded once, one vfmadd per register */
static inline fi_wvf32_avx512 fi_vfmaf_avx512(fi_wvf32_avx512 a, fi_wvf32_avx512 b, fi_wvf32_avx512 c)
{
    union { fi_wvf32_avx512 w; __m512 r[FI_R]; } ua = {a}, ub = {b}, uc = {c};
    for (int j = 0; j < FI_R; j++)
        ua.r[j] = _mm512_fmadd_ps(ua.r[j], ub.r[j], uc.r[j]);
    return ua.w;
}

typedef int32_t fi_wvs32_avx512 __attribute__((vector_size(FI_VL * 4)));

/* some lane of the mask set (masks are all-ones or zero per lane) */
static inline int fi_vany_avx512(fi_wvs32_avx512 m)
{
    union { fi_wvs32_avx512 w; __m512i r[FI_R]; } u = {m};
    int any = 0;
    for (int j = 0; j < FI_R; j++)
        any |= _mm512_movepi32_mask((__m512i)u.r[j]) != 0;
    return any;
}

#include "fi_vmath.h"

static inline rvu32 fi_bf16_bits_reg_avx512(rvf32 x)
{
    rvu32 b = (rvu32)x;
    return (b + 0x7FFFu + ((b >> 16) & 1u)) >> 16;
}

#define FI_VI __m512i
#define FI_NREG 16

/* Philox on four blocks per register, words in stream order (block-major):
 * 64-bit lane 2j holds (c0, c1) and lane 2j+1 (c2, c3) of block j, so one
 * vpmuludq forms both products of a round for four blocks. */
typedef struct {
    __m512i ctr;      /* counters of blocks 0..3 relative to the group's first */
    __m512i key[10];  /* (k0, 0, k1, 0) per block, one per round */
    __m512i mul;      /* (M0, M1) per block */
} philox_ctx_avx512;

static inline void philox_setup_avx512(const fi_stream *s, philox_ctx_avx512 *ctx)
{
    uint32_t k0 = (uint32_t)s->seed, k1 = (uint32_t)(s->seed >> 32);
    long long st = (long long)s->stream;
    ctx->ctr = _mm512_set_epi64(st, 3, st, 2, st, 1, st, 0);
    for (int r = 0; r < 10; r++) {
        ctx->key[r] = _mm512_set_epi64(k1, k0, k1, k0, k1, k0, k1, k0);
        k0 += FI_PHILOX_W0;
        k1 += FI_PHILOX_W1;
    }
    ctx->mul = _mm512_set_epi64(FI_PHILOX_M1, FI_PHILOX_M0, FI_PHILOX_M1, FI_PHILOX_M0,
                                FI_PHILOX_M1, FI_PHILOX_M0, FI_PHILOX_M1, FI_PHILOX_M0);
}

static inline void philox_group_avx512(const philox_ctx_avx512 *ctx, uint64_t b, __m512i r[FI_NREG])
{
    const __m512i blocks = _mm512_set_epi64(0, (long long)b, 0, (long long)b, 0, (long long)b, 0, (long long)b);
    for (int k = 0; k < FI_NREG; k++)
        r[k] = _mm512_add_epi64(_mm512_add_epi64(ctx->ctr, blocks), _mm512_set_epi64(0, 4 * k, 0, 4 * k, 0, 4 * k, 0, 4 * k));
    for (int round = 0; round < 10; round++) {
        for (int k = 0; k < FI_NREG; k++) {
            __m512i p = _mm512_mul_epu32(r[k], ctx->mul);                    /* lo0 hi0 lo1 hi1 */
            __m512i ps = _mm512_shuffle_epi32(p, (_MM_PERM_ENUM)_MM_SHUFFLE(0, 1, 2, 3));   /* hi1 lo1 hi0 lo0 */
            __m512i cz = _mm512_maskz_shuffle_epi32(0x5555, r[k], (_MM_PERM_ENUM)_MM_SHUFFLE(3, 3, 1, 1)); /* c1 0 c3 0 */
            r[k] = _mm512_ternarylogic_epi32(ps, cz, ctx->key[round], 0x96);
        }
    }
}

static inline void split32_avx512(__m512i a, __m512i b, rvu32 *even, rvu32 *odd)
{
    const __m512i ie = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i io = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    *even = (rvu32)_mm512_permutex2var_epi32(a, ie, b);
    *odd = (rvu32)_mm512_permutex2var_epi32(a, io, b);
}

static inline void join32_avx512(rvf32 e, rvf32 o, rvf32 *a, rvf32 *b)
{
    const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    *a = (rvf32)_mm512_permutex2var_ps((__m512)e, lo, (__m512)o);
    *b = (rvf32)_mm512_permutex2var_ps((__m512)e, hi, (__m512)o);
}

static inline void split64_avx512(__m512i a, __m512i b, rvu64 *even, rvu64 *odd)
{
    const __m512i ie = _mm512_set_epi64(14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i io = _mm512_set_epi64(15, 13, 11, 9, 7, 5, 3, 1);
    *even = (rvu64)_mm512_permutex2var_epi64(a, ie, b);
    *odd = (rvu64)_mm512_permutex2var_epi64(a, io, b);
}

static inline void join64_avx512(rvf64 e, rvf64 o, rvf64 *a, rvf64 *b)
{
    const __m512i lo = _mm512_set_epi64(11, 3, 10, 2, 9, 1, 8, 0);
    const __m512i hi = _mm512_set_epi64(15, 7, 14, 6, 13, 5, 12, 4);
    *a = (rvf64)_mm512_permutex2var_pd((__m512d)e, lo, (__m512d)o);
    *b = (rvf64)_mm512_permutex2var_pd((__m512d)e, hi, (__m512d)o);
}

static inline void store_u32_avx512(uint32_t *o, __m512i v, int nt)
{
    if (nt) _mm512_stream_si512((void *)o, v); else _mm512_storeu_si512((void *)o, v);
}

static inline void store_f32_avx512(float *o, rvf32 v, int nt)
{
    if (nt) _mm512_stream_ps(o, (__m512)v); else _mm512_storeu_ps(o, (__m512)v);
}

static inline void store_f64_avx512(double *o, rvf64 v, int nt)
{
    if (nt) _mm512_stream_pd(o, (__m512d)v); else _mm512_storeu_pd(o, (__m512d)v);
}

/* 16-bit outputs never stream (fi_vdrive.h: measured slower) */
static inline void store_half_avx512(uint16_t *o, __m256i h, int nt)
{
    (void)nt;
    _mm256_storeu_si256((__m256i *)o, h);
}

/* vcvtps2ph rounds to nearest even and keeps binary16 subnormals */
static inline void store_f16_avx512(uint16_t *o, rvf32 v, int nt)
{
    store_half_avx512(o, _mm512_cvtps_ph((__m512)v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), nt);
}

/* integer rounding, not vcvtneps2bf16 (which flushes subnormals) */
static inline void store_bf16_avx512(uint16_t *o, rvf32 v, int nt)
{
    store_half_avx512(o, _mm512_cvtepi32_epi16((__m512i)fi_bf16_bits_reg_avx512(v)), nt);
}

#include "fi_vdrive.h"

#else
typedef int fi_avx512_not_built;   /* ISO C wants a non-empty translation unit */
#endif
