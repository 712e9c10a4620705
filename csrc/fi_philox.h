/* Philox4x32-10 (Salmon et al., SC11), the counter-based generator behind
 * every fastinit stream.  docs/STREAM.md sections 1-2 define the counter and
 * key layout; tests/data/philox4x32_10_kat.txt holds Random123's known-answer
 * vectors. */
#ifndef FASTINIT_FI_PHILOX_H
#define FASTINIT_FI_PHILOX_H

#include <stdint.h>

#define FI_PHILOX_M0 UINT32_C(0xD2511F53)
#define FI_PHILOX_M1 UINT32_C(0xCD9E8D57)
#define FI_PHILOX_W0 UINT32_C(0x9E3779B9) /* golden ratio */
#define FI_PHILOX_W1 UINT32_C(0xBB67AE85) /* sqrt(3) - 1 */

typedef struct { uint32_t v[4]; } fi_block;

/* One Philox round: two 32x32->64 products mixed with the other words. */
static inline fi_block fi_philox_round(fi_block c, uint32_t k0, uint32_t k1)
{
    uint64_t p0 = (uint64_t)FI_PHILOX_M0 * c.v[0];
    uint64_t p1 = (uint64_t)FI_PHILOX_M1 * c.v[2];
    fi_block r;
    r.v[0] = (uint32_t)(p1 >> 32) ^ c.v[1] ^ k0;
    r.v[1] = (uint32_t)p1;
    r.v[2] = (uint32_t)(p0 >> 32) ^ c.v[3] ^ k1;
    r.v[3] = (uint32_t)p0;
    return r;
}

/* Philox4x32-10 of counter c under key (k0, k1). */
static inline fi_block fi_philox4x32_10(fi_block c, uint32_t k0, uint32_t k1)
{
    for (int i = 0; i < 10; i++) {
        if (i > 0) {
            k0 += FI_PHILOX_W0;
            k1 += FI_PHILOX_W1;
        }
        c = fi_philox_round(c, k0, k1);
    }
    return c;
}

/* A stream: the key (seed) and the stream id that fill the counter's high half. */
typedef struct {
    uint64_t seed;
    uint64_t stream;
} fi_stream;

/* Block `b` of the stream: Philox of (b lo, b hi, stream lo, stream hi). */
static inline fi_block fi_stream_block(const fi_stream *s, uint64_t b)
{
    fi_block c = {{(uint32_t)b, (uint32_t)(b >> 32),
                   (uint32_t)s->stream, (uint32_t)(s->stream >> 32)}};
    return fi_philox4x32_10(c, (uint32_t)s->seed, (uint32_t)(s->seed >> 32));
}

#endif
