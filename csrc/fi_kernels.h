/* The kernel table: one function per (distribution, output type), all with
 * the same shape, so that the dispatcher and the thread pool can treat them
 * alike.  Every kernel writes n elements, out[k] being stream element
 * first + k, and gives the same bits at every SIMD level. */
#ifndef FASTINIT_FI_KERNELS_H
#define FASTINIT_FI_KERNELS_H

#include <stdint.h>
#include "fi_philox.h"

typedef void (*fi_kernel)(void *out, uint64_t n, const fi_stream *s, uint64_t first, const void *params);

enum { FI_OUT_F32 = 0, FI_OUT_F64 = 1, FI_OUT_F16 = 2, FI_OUT_BF16 = 3, FI_OUT_COUNT = 4 };
enum { FI_LEVEL_SCALAR = 0, FI_LEVEL_AVX2 = 1, FI_LEVEL_AVX512 = 2, FI_LEVEL_COUNT = 3 };

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

#endif
