/* A fill restricted to a keep-mask, in one pass over the output: the values
 * of any kernel where mask[i] is set, zero elsewhere (rewind_). */
#ifndef FASTINIT_FI_MASKED_H
#define FASTINIT_FI_MASKED_H

#include <stddef.h>
#include <stdint.h>
#include "fi_kernels.h"

typedef struct {
    fi_kernel inner;            /* the initializer's kernel */
    const void *inner_params;
    size_t itemsize;
    const unsigned char *mask;  /* mask[i] for stream element first0 + i */
    uint64_t first0;
} fi_masked_params;

/* A kernel like the others (params: fi_masked_params). */
void fi_masked_fill(void *out, uint64_t n, const fi_stream *s, uint64_t first, const void *params);

#endif
