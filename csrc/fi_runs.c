/* Tiles of a tensor as runs of consecutive stream elements (fi_runs.h). */
#include "fi_runs.h"

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
