/* Run-time choices: which SIMD level runs the kernels, and how many threads
 * share a fill.  Neither changes a single output bit. */
#ifndef FASTINIT_FI_RUNTIME_H
#define FASTINIT_FI_RUNTIME_H

#include <stddef.h>
#include <stdint.h>
#include "fi_kernels.h"

/* Highest level this CPU (and OS) supports: FI_LEVEL_*. */
int fi_detect_level(void);
/* Use min(level, detected); returns the level now in use. */
int fi_set_level(int level);
int fi_get_level(void);
const fi_kernel_table *fi_table(void);
const fi_kernel_table *fi_table_for(int level);

/* Threads, the caller included; n >= 1.  Takes effect for the next fill. */
void fi_set_num_threads(int n);
int fi_get_num_threads(void);

/* Fill n elements of elemsize bytes at out (stream elements first, ...)
 * with kernel fn, cut into fixed chunks shared by the pool.  Small fills,
 * and fills started while another thread is using the pool, run on the
 * calling thread alone.  total_bytes is the size of the whole fill this call
 * is a slice of (it decides streaming stores).  Safe without the GIL. */
void fi_run(fi_kernel fn, void *out, size_t elemsize, uint64_t n, const fi_stream *s,
            uint64_t first, const void *params, uint64_t total_bytes);

/* Nonzero while the calling thread runs a fill large enough that its stores
 * should bypass the caches (set by fi_run; read by the SIMD kernels, which
 * stream only to 64-byte aligned groups).  Changes speed, never values. */
extern _Thread_local int fi_stream_stores;

/* Index of the thread running a chunk: 0 for the caller, 1 .. n-1 for the
 * pool's workers (per-thread scratch such as pruning histograms). */
extern _Thread_local int fi_thread_index;
#define FI_STREAM_MIN_BYTES ((uint64_t)32 << 20)

/* Elements per chunk, and the smallest fill that is shared between threads. */
#define FI_CHUNK ((uint64_t)1 << 16)
#define FI_PARALLEL_MIN ((uint64_t)1 << 18)

#endif
