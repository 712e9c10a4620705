/* Aligned, lazily mapped buffers for the allocating constructors. */
#define _GNU_SOURCE
#include "fi_alloc.h"

#include <stdint.h>
#include <stdlib.h>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#define FI_HAVE_MMAP 1
#endif

int fi_alloc(size_t nbytes, fi_allocation *a)
{
    if (nbytes == 0)
        nbytes = 1;
#ifdef FI_HAVE_MMAP
    if (nbytes >= FI_MAP_MIN && nbytes <= SIZE_MAX - 2 * FI_HUGE_PAGE) {
        /* over-map by one huge page, then trim to a 2 MiB aligned start */
        size_t len = (nbytes + FI_HUGE_PAGE - 1) / FI_HUGE_PAGE * FI_HUGE_PAGE;
        size_t maplen = len + FI_HUGE_PAGE;
        char *m = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            return -1;
        char *start = (char *)(((uintptr_t)m + FI_HUGE_PAGE - 1) & ~(uintptr_t)(FI_HUGE_PAGE - 1));
        size_t before = (size_t)(start - m);
        if (before)
            munmap(m, before);
        size_t after = maplen - before - len;
        if (after)
            munmap(start + len, after);
#ifdef MADV_HUGEPAGE
        madvise(start, len, MADV_HUGEPAGE);   /* a hint: ignored where THP is off */
#endif
        a->ptr = a->base = start;
        a->length = len;
        return 0;
    }
#endif
    void *p = NULL;
    if (posix_memalign(&p, 64, (nbytes + 63) / 64 * 64) != 0)
        return -1;
    a->ptr = a->base = p;
    a->length = 0;
    return 0;
}

void fi_free(fi_allocation *a)
{
    if (a->base == NULL)
        return;
#ifdef FI_HAVE_MMAP
    if (a->length) {
        munmap(a->base, a->length);
        a->base = a->ptr = NULL;
        return;
    }
#endif
    free(a->base);
    a->base = a->ptr = NULL;
}
