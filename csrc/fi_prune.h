/* Magnitude pruning in place: zero exactly k entries of smallest |w| over
 * one or several buffers (ties broken toward the lower index in their
 * concatenation).  The threshold is the exact k-th smallest |w|: for 2^20 or
 * more 32-bit keys, bracketed by a window from a strided sample and selected
 * among the few keys inside it (one read pass); otherwise, or when the
 * window misses, by a radix histogram over the bits of |w| (two read passes,
 * per-thread histograms of 65,536 counters).  Then one write pass.  Scratch:
 * the sample (1/256 of the keys, at least 65,536, and as much again to sort
 * it), at most 8 MiB of window keys, or the histograms; the data itself is
 * never copied or sorted.  Also N:M pruning and mask kernels. */
#ifndef FASTINIT_FI_PRUNE_H
#define FASTINIT_FI_PRUNE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    void *ptr;        /* C-contiguous data */
    uint64_t n;       /* elements */
    int dtype;        /* FI_OUT_F32, FI_OUT_F64, FI_OUT_F16, FI_OUT_BF16 */
    uint8_t *mask;    /* keep-mask to write (1 kept, 0 pruned), or NULL */
} fi_prune_buf;

/* Return codes */
#define FI_PRUNE_OK 0
#define FI_PRUNE_NAN (-1)     /* a NaN was found: nothing was written */
#define FI_PRUNE_NOMEM (-2)   /* scratch could not be allocated: nothing written */

/* Zero the k smallest-magnitude entries of the concatenation of bufs.
 * Keys are |w| as float32 bits when every buffer is 32-bit or narrower, as
 * float64 bits otherwise (exact conversions, so mixed dtypes compare by
 * value).  k <= total elements. */
int fi_prune_magnitude(fi_prune_buf *bufs, int nbufs, uint64_t k);

/* N:M: in every group of m consecutive entries along the middle axis of an
 * (outer, len, inner) C-contiguous array (len a multiple of m), keep the n
 * largest |w| (ties toward the lower index), zero the rest. */
int fi_prune_n_m(void *ptr, int dtype, uint64_t outer, uint64_t len, uint64_t inner,
                 unsigned n, unsigned m, uint8_t *mask);

/* out[i] = 0 where mask[i] == 0 (n elements of itemsize bytes). */
void fi_apply_mask(void *out, uint64_t n, size_t itemsize, const uint8_t *mask);

/* Any NaN among n elements? (1 yes, 0 no) */
int fi_has_nan(const void *ptr, uint64_t n, int dtype);

#endif
