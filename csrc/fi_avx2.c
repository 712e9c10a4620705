/* AVX2 (+F16C) kernels.  Compiled for that target only through the pragma
 * below; the dispatcher calls them only on CPUs that have it. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

#pragma GCC target("avx2,f16c")
#include <immintrin.h>
#include <stdint.h>
#include "fi_philox.h"

typedef uint64_t fi_vu64_avx2 __attribute__((vector_size(32)));
typedef double fi_vf64_avx2 __attribute__((vector_size(32)));

/* u64 lanes below 2^53 to double, exactly: (2^84 + hi 2^32) - 2^84 + lo,
 * each part exact and the sum representable. */
static inline fi_vf64_avx2 fi_cvt_u64_f64_avx2(fi_vu64_avx2 x)
{
    fi_vu64_avx2 hi = (x >> 32) | UINT64_C(0x4530000000000000);
    fi_vu64_avx2 lo = (x & UINT64_C(0xFFFFFFFF)) | UINT64_C(0x4330000000000000);
    return ((fi_vf64_avx2)hi - 0x1p84) + ((fi_vf64_avx2)lo - 0x1p52);
}

#define FI_VL 8
#define FI_V(name) name##_avx2
#define FI_VSQRTF(x) ((vf32)_mm256_sqrt_ps((__m256)(x)))
#define FI_VSQRTD(x) ((vf64)_mm256_sqrt_pd((__m256d)(x)))
#define FI_VCVT_U64_F64(x) ((vf64)fi_cvt_u64_f64_avx2((fi_vu64_avx2)(x)))
#include "fi_vmath.h"

#define FI_VI __m256i
#define FI_NREG 4

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
static inline void split32_avx2(__m256i a, __m256i b, vu32 *even, vu32 *odd)
{
    *even = (vu32)_mm256_shuffle_ps((__m256)a, (__m256)b, _MM_SHUFFLE(2, 0, 2, 0));
    *odd = (vu32)_mm256_shuffle_ps((__m256)a, (__m256)b, _MM_SHUFFLE(3, 1, 3, 1));
}

static inline void join32_avx2(vf32 e, vf32 o, vf32 *a, vf32 *b)
{
    *a = (vf32)_mm256_unpacklo_ps((__m256)e, (__m256)o);
    *b = (vf32)_mm256_unpackhi_ps((__m256)e, (__m256)o);
}

static inline void split64_avx2(__m256i a, __m256i b, vu64 *even, vu64 *odd)
{
    *even = (vu64)_mm256_unpacklo_epi64(a, b);
    *odd = (vu64)_mm256_unpackhi_epi64(a, b);
}

static inline void join64_avx2(vf64 e, vf64 o, vf64 *a, vf64 *b)
{
    *a = (vf64)_mm256_unpacklo_pd((__m256d)e, (__m256d)o);
    *b = (vf64)_mm256_unpackhi_pd((__m256d)e, (__m256d)o);
}

static inline void store_u32_avx2(uint32_t *o, __m256i v) { _mm256_storeu_si256((__m256i *)o, v); }
static inline void store_f32_avx2(float *o, vf32 v) { _mm256_storeu_ps(o, (__m256)v); }
static inline void store_f64_avx2(double *o, vf64 v) { _mm256_storeu_pd(o, (__m256d)v); }

static inline void store_f16_avx2(uint16_t *o, vf32 v)
{
    _mm_storeu_si128((__m128i *)o, _mm256_cvtps_ph((__m256)v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

static inline void store_bf16_avx2(uint16_t *o, vf32 v)
{
    __m256i w = (__m256i)bf16_bits_avx2(v);
    __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(w, w), _MM_SHUFFLE(3, 1, 2, 0));
    _mm_storeu_si128((__m128i *)o, _mm256_castsi256_si128(packed));
}

#include "fi_vdrive.h"

#endif
