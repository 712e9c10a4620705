/* AVX2 (+FMA, F16C) kernels.  Compiled for that target only through the pragma
 * below; the dispatcher calls them only on CPUs that have it. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#pragma GCC target("avx2,fma,f16c")
#include <immintrin.h>
#include <stdint.h>
#include "fi_philox.h"

#define FI_RL 8                   /* 32-bit lanes per register */
#define FI_R 1                     /* registers per math vector */
#define FI_VL (FI_RL * FI_R)
#define FI_V(name) name##_avx2
#define FI_VSQRTF(x) fi_vsqrtf_avx2(x)
#define FI_VSQRTD(x) fi_vsqrtd_avx2(x)
#define FI_VFMAF(a, b, c) fi_vfmaf_avx2(a, b, c)
#define FI_VANY(m) fi_vany_avx2(m)
#define FI_STORE_FENCE() _mm_sfence()
/* maxps(a, b) is a > b ? a : b and minps(a, b) a < b ? a : b, exactly as
 * fi_vmath.h needs them (FI_R is 1 here) */
#define FI_VMAXF(a, b) ((vf32)_mm256_max_ps((__m256)(a), (__m256)(b)))
#define FI_VMINF(a, b) ((vf32)_mm256_min_ps((__m256)(a), (__m256)(b)))
#define FI_VCVT_U64_F64(x) ((vf64)fi_cvt_u64_f64_avx2((fi_vu64_avx2)(x)))

/* u64 lanes below 2^53 to double, exactly: (2^84 + hi 2^32) - 2^84 + lo,
 * each part exact and the sum representable. */
typedef uint64_t fi_vu64_avx2 __attribute__((vector_size(FI_VL * 4)));
typedef double fi_vf64_avx2 __attribute__((vector_size(FI_VL * 4)));
static inline fi_vf64_avx2 fi_cvt_u64_f64_avx2(fi_vu64_avx2 x)
{
    fi_vu64_avx2 hi = (x >> 32) | UINT64_C(0x4530000000000000);
    fi_vu64_avx2 lo = (x & UINT64_C(0xFFFFFFFF)) | UINT64_C(0x4330000000000000);
    return ((fi_vf64_avx2)hi - 0x1p84) + ((fi_vf64_avx2)lo - 0x1p52);
}

typedef uint32_t rvu32 __attribute__((vector_size(FI_RL * 4)));
typedef float rvf32 __attribute__((vector_size(FI_RL * 4)));
typedef uint64_t rvu64 __attribute__((vector_size(FI_RL * 4)));
typedef double rvf64 __attribute__((vector_size(FI_RL * 4)));
typedef float fi_wvf32_avx2 __attribute__((vector_size(FI_VL * 4)));
typedef double fi_wvf64_avx2 __attribute__((vector_size(FI_VL * 4)));

/* square roots of a math vector, one IEEE vsqrt per register */
static inline fi_wvf32_avx2 fi_vsqrtf_avx2(fi_wvf32_avx2 x)
{
    union { fi_wvf32_avx2 w; __m256 r[FI_R]; } u = {x};
    for (int j = 0; j < FI_R; j++)
        u.r[j] = _mm256_sqrt_ps(u.r[j]);
    return u.w;
}

static inline fi_wvf64_avx2 fi_vsqrtd_avx2(fi_wvf64_avx2 x)
{
    union { fi_wvf64_avx2 w; __m256d r[FI_R]; } u = {x};
    for (int j = 0; j < FI_R; j++)
        u.r[j] = _mm256_sqrt_pd(u.r[j]);
    return u.w;
}

/* a * b + c rounded once, one vfmadd per register */
static inline fi_wvf32_avx2 fi_vfmaf_avx2(fi_wvf32_avx2 a, fi_wvf32_avx2 b, fi_wvf32_avx2 c)
{
    union { fi_wvf32_avx2 w; __m256 r[FI_R]; } ua = {a}, ub = {b}, uc = {c};
    for (int j = 0; j < FI_R; j++)
        ua.r[j] = _mm256_fmadd_ps(ua.r[j], ub.r[j], uc.r[j]);
    return ua.w;
}

typedef int32_t fi_wvs32_avx2 __attribute__((vector_size(FI_VL * 4)));

/* some lane of the mask set (masks are all-ones or zero per lane) */
static inline int fi_vany_avx2(fi_wvs32_avx2 m)
{
    union { fi_wvs32_avx2 w; __m256 r[FI_R]; } u = {m};
    int any = 0;
    for (int j = 0; j < FI_R; j++)
        any |= _mm256_movemask_ps((__m256)u.r[j]) != 0;
    return any;
}

#include "fi_vmath.h"

static inline rvu32 fi_bf16_bits_reg_avx2(rvf32 x)
{
    rvu32 b = (rvu32)x;
    return (b + 0x7FFFu + ((b >> 16) & 1u)) >> 16;
}

#define FI_VI __m256i
#define FI_NREG 16

/* Philox on two blocks per register, words in stream order. */
typedef struct {
    __m256i ctr;
    __m256i key[10];
    __m256i mul;
    __m256i even;     /* all-ones in words 0 and 2 of each block */
} philox_ctx_avx2;

static inline void philox_setup_avx2(const fi_stream *s, philox_ctx_avx2 *ctx)
{
    uint32_t k0 = (uint32_t)s->seed, k1 = (uint32_t)(s->seed >> 32);
    long long st = (long long)s->stream;
    ctx->ctr = _mm256_set_epi64x(st, 1, st, 0);
    for (int r = 0; r < 10; r++) {
        ctx->key[r] = _mm256_set_epi64x(k1, k0, k1, k0);
        k0 += FI_PHILOX_W0;
        k1 += FI_PHILOX_W1;
    }
    ctx->mul = _mm256_set_epi64x(FI_PHILOX_M1, FI_PHILOX_M0, FI_PHILOX_M1, FI_PHILOX_M0);
    ctx->even = _mm256_set_epi64x(0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF);
}

static inline void philox_group_avx2(const philox_ctx_avx2 *ctx, uint64_t b, __m256i r[FI_NREG])
{
    const __m256i blocks = _mm256_set_epi64x(0, (long long)b, 0, (long long)b);
    for (int k = 0; k < FI_NREG; k++)
        r[k] = _mm256_add_epi64(_mm256_add_epi64(ctx->ctr, blocks), _mm256_set_epi64x(0, 2 * k, 0, 2 * k));
    for (int round = 0; round < 10; round++) {
        for (int k = 0; k < FI_NREG; k++) {
            __m256i p = _mm256_mul_epu32(r[k], ctx->mul);
            __m256i ps = _mm256_shuffle_epi32(p, _MM_SHUFFLE(0, 1, 2, 3));
            __m256i cz = _mm256_and_si256(_mm256_shuffle_epi32(r[k], _MM_SHUFFLE(3, 3, 1, 1)), ctx->even);
            r[k] = _mm256_xor_si256(_mm256_xor_si256(ps, cz), ctx->key[round]);
        }
    }
}

/* even/odd words of two registers; lane k of `even` pairs with lane k of `odd` */
static inline void split32_avx2(__m256i a, __m256i b, rvu32 *even, rvu32 *odd)
{
    *even = (rvu32)_mm256_shuffle_ps((__m256)a, (__m256)b, _MM_SHUFFLE(2, 0, 2, 0));
    *odd = (rvu32)_mm256_shuffle_ps((__m256)a, (__m256)b, _MM_SHUFFLE(3, 1, 3, 1));
}

static inline void join32_avx2(rvf32 e, rvf32 o, rvf32 *a, rvf32 *b)
{
    *a = (rvf32)_mm256_unpacklo_ps((__m256)e, (__m256)o);
    *b = (rvf32)_mm256_unpackhi_ps((__m256)e, (__m256)o);
}

static inline void split64_avx2(__m256i a, __m256i b, rvu64 *even, rvu64 *odd)
{
    *even = (rvu64)_mm256_unpacklo_epi64(a, b);
    *odd = (rvu64)_mm256_unpackhi_epi64(a, b);
}

static inline void join64_avx2(rvf64 e, rvf64 o, rvf64 *a, rvf64 *b)
{
    *a = (rvf64)_mm256_unpacklo_pd((__m256d)e, (__m256d)o);
    *b = (rvf64)_mm256_unpackhi_pd((__m256d)e, (__m256d)o);
}

static inline void store_u32_avx2(uint32_t *o, __m256i v, int nt)
{
    if (nt) _mm256_stream_si256((__m256i *)o, v); else _mm256_storeu_si256((__m256i *)o, v);
}

static inline void store_f32_avx2(float *o, rvf32 v, int nt)
{
    if (nt) _mm256_stream_ps(o, (__m256)v); else _mm256_storeu_ps(o, (__m256)v);
}

static inline void store_f64_avx2(double *o, rvf64 v, int nt)
{
    if (nt) _mm256_stream_pd(o, (__m256d)v); else _mm256_storeu_pd(o, (__m256d)v);
}

/* 16-bit outputs never stream (fi_vdrive.h: measured slower) */
static inline void store_half_avx2(uint16_t *o, __m128i h, int nt)
{
    (void)nt;
    _mm_storeu_si128((__m128i *)o, h);
}

static inline void store_f16_avx2(uint16_t *o, rvf32 v, int nt)
{
    store_half_avx2(o, _mm256_cvtps_ph((__m256)v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), nt);
}

static inline void store_bf16_avx2(uint16_t *o, rvf32 v, int nt)
{
    __m256i w = (__m256i)fi_bf16_bits_reg_avx2(v);
    __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(w, w), _MM_SHUFFLE(3, 1, 2, 0));
    store_half_avx2(o, _mm256_castsi256_si128(packed), nt);
}

#include "fi_vdrive.h"

#else
typedef int fi_avx2_not_built;   /* ISO C wants a non-empty translation unit */
#endif
