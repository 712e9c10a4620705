/* The kernel table: one function per (distribution, output type), all with
 * the same shape, so that the dispatcher and the thread pool can treat them
 * alike.  Every kernel writes n elements, out[k] being stream element
 * first + k, and gives the same bits at every SIMD level. */
#ifndef FASTINIT_FI_KERNELS_H
#define FASTINIT_FI_KERNELS_H

#include <stdint.h>
#include "fi_philox.h"

typedef void (*fi_kernel)(void *out, uint64_t n, const fi_stream *s, uint64_t first, const void *params);

/* Output codes: the index into a table row (and the bridge's F32, F64, ...). */
enum { FI_OUT_F32 = 0, FI_OUT_F64 = 1, FI_OUT_F16 = 2, FI_OUT_BF16 = 3, FI_OUT_COUNT = 4 };
/* Bytes per element of each output code (the one such table; fi_runtime.c),
 * and the most any output has. */
extern const unsigned char fi_out_itemsize[FI_OUT_COUNT];
#define FI_MAX_ITEMSIZE 8

/* SIMD levels of this architecture, and their names as fastinit shows them
 * (fi_runtime.c): x86-64 scalar, avx2, avx512; AArch64 scalar, neon. */
#if defined(FI_HAVE_NEON)
enum { FI_LEVEL_SCALAR = 0, FI_LEVEL_NEON = 1, FI_LEVEL_COUNT = 2 };
#else
enum { FI_LEVEL_SCALAR = 0, FI_LEVEL_AVX2 = 1, FI_LEVEL_AVX512 = 2, FI_LEVEL_COUNT = 3 };
#endif
extern const char *const fi_level_names[FI_LEVEL_COUNT];

/* What a fill writes (the bridge's BITS, UNIFORM, ...; fi_wrap.h picks the
 * kernel): raw uint32 Philox words, the three distributions (TRUNC_WIDE: a
 * narrow interval, computed with fi_trunc_f64_params for every output), or
 * one repeated value (fi_pattern_params, level independent). */
enum {
    FI_KIND_BITS = 0, FI_KIND_UNIFORM = 1, FI_KIND_NORMAL = 2, FI_KIND_TRUNC = 3,
    FI_KIND_TRUNC_WIDE = 4, FI_KIND_PATTERN = 5, FI_KIND_COUNT = 6
};

typedef struct {
    fi_kernel bits;                    /* uint32 words; params unused */
    fi_kernel uniform[FI_OUT_COUNT];   /* fi_uniform_f32_params / _f64_params */
    fi_kernel normal[FI_OUT_COUNT];    /* fi_normal_f32_params / _f64_params */
    fi_kernel trunc[FI_OUT_COUNT];     /* fi_trunc_f32_params / _f64_params */
    fi_kernel trunc_wide[FI_OUT_COUNT];/* narrow intervals: fi_trunc_f64_params for every output */
} fi_kernel_table;

extern const fi_kernel_table fi_kernels_scalar;
#if defined(FI_HAVE_X86_SIMD)
extern const fi_kernel_table fi_kernels_avx2;
extern const fi_kernel_table fi_kernels_avx512;
#endif
#if defined(FI_HAVE_NEON)
extern const fi_kernel_table fi_kernels_neon;
#endif

#endif
