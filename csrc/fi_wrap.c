/* Kernel choice, tiles as runs, and masked fills (fi_wrap.h). */
#include "fi_wrap.h"

#include <string.h>

#include "fi_fill.h"
#include "fi_runtime.h"

fi_kernel fi_kernel_for(const fi_kernel_table *t, int kind, int code, size_t *itemsize)
{
    if (kind == FI_KIND_BITS) {
        *itemsize = sizeof(uint32_t);
        return t->bits;
    }
    if (code < 0 || code >= FI_OUT_COUNT)
        return NULL;
    *itemsize = fi_out_itemsize[code];
    switch (kind) {
    case FI_KIND_UNIFORM: return t->uniform[code];
    case FI_KIND_NORMAL: return t->normal[code];
    case FI_KIND_TRUNC: return t->trunc[code];
    case FI_KIND_TRUNC_WIDE: return t->trunc_wide[code];
    case FI_KIND_PATTERN: return fi_fill_pattern;
    default: return NULL;
    }
}

void fi_runs_fill(void *out, uint64_t n, const fi_stream *s, uint64_t v, const void *params)
{
    const fi_runs_params *p = (const fi_runs_params *)params;
    (void)out;
    while (n > 0) {
        uint64_t r = v / p->run_len;
        uint64_t at = v % p->run_len;
        uint64_t take = p->run_len - at < n ? p->run_len - at : n;
        p->inner(p->base + (size_t)(p->local[r] + at) * p->itemsize, take, s, p->first[r] + at,
                 p->inner_params);
        v += take;
        n -= take;
    }
}

void fi_masked_fill(void *out, uint64_t n, const fi_stream *s, uint64_t first, const void *params)
{
    const fi_masked_params *p = (const fi_masked_params *)params;
    enum { BLOCK = 1024 };
    _Alignas(64) unsigned char scratch[BLOCK * FI_MAX_ITEMSIZE];
    char *o = (char *)out;
    const unsigned char *m = p->mask + (first - p->first0);
    int streaming = fi_stream_stores;
    fi_stream_stores = 0;                  /* the scratch must stay in cache */
    for (uint64_t i = 0; i < n; i += BLOCK) {
        uint64_t len = n - i < BLOCK ? n - i : BLOCK;
        p->inner(scratch, len, s, first + i, p->inner_params);   /* in cache */
        for (uint64_t j = 0; j < len; j++) {
            if (m[i + j])
                memcpy(o + (i + j) * p->itemsize, scratch + j * p->itemsize, p->itemsize);
            else
                memset(o + (i + j) * p->itemsize, 0, p->itemsize);
        }
    }
    fi_stream_stores = streaming;
}
