/* A tile of a bigger tensor: the tile's elements fall into runs that are
 * consecutive in the whole tensor's C order (one run per row of a column
 * block, say).  fi_runs_fill lays the runs end to end as one "virtual" range
 * of elements, so the thread pool can share a tile's runs out in chunks like
 * any contiguous fill, and each run is written with the whole tensor's
 * stream indices. */
#ifndef FASTINIT_FI_RUNS_H
#define FASTINIT_FI_RUNS_H

#include <stddef.h>
#include <stdint.h>
#include "fi_kernels.h"

typedef struct {
    fi_kernel inner;             /* the initializer's kernel */
    const void *inner_params;
    size_t itemsize;
    unsigned char *base;         /* the tile's first element */
    const uint64_t *local;       /* run r starts at element local[r] of the tile */
    const uint64_t *first;       /* ... and at stream index first[r] */
    uint64_t run_len;            /* elements per run (all runs are equally long) */
} fi_runs_params;

/* A kernel like the others over virtual elements [v, v + n) of the runs laid end
 * to end (params: fi_runs_params; out is ignored, first is v). */
void fi_runs_fill(void *out, uint64_t n, const fi_stream *s, uint64_t v, const void *params);

#endif
