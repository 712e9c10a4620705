/* Memory for the allocating constructors: 64-byte aligned, and for large
 * buffers 2 MiB aligned, mapped lazily and marked for transparent huge
 * pages, so that the filling threads take the page faults (first touch)
 * instead of the caller paying them one by one. */
#ifndef FASTINIT_FI_ALLOC_H
#define FASTINIT_FI_ALLOC_H

#include <stddef.h>

typedef struct {
    void *ptr;        /* aligned start handed out */
    void *base;       /* what to release */
    size_t length;    /* bytes mapped (0: from the heap) */
} fi_allocation;

/* Returns 0 on success, -1 when no memory could be had. */
int fi_alloc(size_t nbytes, fi_allocation *a);
void fi_free(fi_allocation *a);

/* Sizes from which memory is mapped (not taken from the heap). */
#define FI_MAP_MIN ((size_t)1 << 20)
#define FI_HUGE_PAGE ((size_t)1 << 21)

#endif
