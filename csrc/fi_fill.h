/* Portable scalar fill kernels: each writes n consecutive elements of one stream, element k
 * of `out` taking stream element `first + k` (docs/STREAM.md).  Because the
 * value of an element depends only on (seed, stream, element index), any
 * range can be filled on its own: threads and shards split work freely. */
#ifndef FASTINIT_FI_FILL_H
#define FASTINIT_FI_FILL_H

#include <stddef.h>
#include <stdint.h>
#include "fi_philox.h"
#include "fi_dist.h"
#include "fi_kernels.h"

typedef struct { float lo, width; } fi_uniform_f32_params;
typedef struct { double lo, width; } fi_uniform_f64_params;
typedef struct { float mean, std; } fi_normal_f32_params;
typedef struct { double mean, std; } fi_normal_f64_params;

/* Raw Philox words: out[k] = word (first+k) % 4 of block (first+k) / 4. */
void fi_bits_u32(void *out, uint64_t n, const fi_stream *s, uint64_t first, const void *unused);

void fi_uniform_f32(void *out, uint64_t n, const fi_stream *s, uint64_t first, const void *params);
void fi_uniform_f64(void *out, uint64_t n, const fi_stream *s, uint64_t first, const void *params);
void fi_uniform_f16(void *out, uint64_t n, const fi_stream *s, uint64_t first, const void *params);
void fi_uniform_bf16(void *out, uint64_t n, const fi_stream *s, uint64_t first, const void *params);

void fi_normal_f32(void *out, uint64_t n, const fi_stream *s, uint64_t first, const void *params);
void fi_normal_f64(void *out, uint64_t n, const fi_stream *s, uint64_t first, const void *params);
void fi_normal_f16(void *out, uint64_t n, const fi_stream *s, uint64_t first, const void *params);
void fi_normal_bf16(void *out, uint64_t n, const fi_stream *s, uint64_t first, const void *params);

void fi_trunc_f32(void *out, uint64_t n, const fi_stream *s, uint64_t first, const void *params);
void fi_trunc_f64(void *out, uint64_t n, const fi_stream *s, uint64_t first, const void *params);
void fi_trunc_f16(void *out, uint64_t n, const fi_stream *s, uint64_t first, const void *params);
void fi_trunc_bf16(void *out, uint64_t n, const fi_stream *s, uint64_t first, const void *params);
/* 32-bit outputs of narrow truncation intervals, computed in f64 (fi_trunc_f64_params) */
void fi_trunc_wide_f32(void *out, uint64_t n, const fi_stream *s, uint64_t first, const void *params);
void fi_trunc_wide_f16(void *out, uint64_t n, const fi_stream *s, uint64_t first, const void *params);
void fi_trunc_wide_bf16(void *out, uint64_t n, const fi_stream *s, uint64_t first, const void *params);

/* Repeat one value n times (constant_, zeros_, ones_); a kernel like the
 * others so that the pool shares it (the stream arguments are unused). */
typedef struct { size_t itemsize; unsigned char value[FI_MAX_ITEMSIZE]; } fi_pattern_params;
void fi_fill_pattern(void *out, uint64_t n, const fi_stream *s, uint64_t first, const void *params);

#endif
