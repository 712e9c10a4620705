/* Wrappers around the kernels, each itself a kernel of the same shape
 * (fi_kernel), so that fi_run's thread pool shares them out like any fill:
 *
 *  - fi_runs_fill: a tile of a bigger tensor.  The tile's elements fall into
 *    runs that are consecutive in the whole tensor's C order (one run per row
 *    of a column block, say); the runs are laid end to end as one "virtual"
 *    range of elements, and each run is written with the whole tensor's
 *    stream indices.
 *  - fi_masked_fill: a fill restricted to a keep-mask, in one pass over the
 *    output: the values of any kernel where mask[i] is set, zero elsewhere
 *    (rewind_).
 *
 * and fi_kernel_for, the one place that maps (kind, output code) to a kernel. */
#ifndef FASTINIT_FI_WRAP_H
#define FASTINIT_FI_WRAP_H

#include <stddef.h>
#include <stdint.h>
#include "fi_kernels.h"

/* The kernel writing `kind` (FI_KIND_*) as output code `code` (FI_OUT_*;
 * ignored for FI_KIND_BITS) from table t, and its element size in *itemsize
 * (4 for the uint32 words of FI_KIND_BITS).  NULL for an unknown kind or code. */
fi_kernel fi_kernel_for(const fi_kernel_table *t, int kind, int code, size_t *itemsize);

typedef struct {
    fi_kernel inner;             /* the initializer's kernel */
    const void *inner_params;
    size_t itemsize;
    unsigned char *base;         /* the tile's first element */
    const uint64_t *local;       /* run r starts at element local[r] of the tile */
    const uint64_t *first;       /* ... and at stream index first[r] */
    uint64_t run_len;            /* elements per run (all runs are equally long) */
} fi_runs_params;

/* Virtual elements [v, v + n) of the runs laid end to end (params:
 * fi_runs_params; out is ignored, first is v). */
void fi_runs_fill(void *out, uint64_t n, const fi_stream *s, uint64_t v, const void *params);

typedef struct {
    fi_kernel inner;            /* the initializer's kernel */
    const void *inner_params;
    size_t itemsize;            /* at most FI_MAX_ITEMSIZE */
    const unsigned char *mask;  /* mask[i] for stream element first0 + i */
    uint64_t first0;
} fi_masked_params;

/* params: fi_masked_params. */
void fi_masked_fill(void *out, uint64_t n, const fi_stream *s, uint64_t first, const void *params);

#endif
