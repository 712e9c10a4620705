/* The AArch64 check (tools/check_aarch64.sh): replay the kernel calls of the
 * golden table with the NEON kernels and print each output's SHA-256, and
 * compare the NEON and scalar kernels bit for bit over every fill and output
 * at odd lengths and offsets.  Reads tools/aarch64/cases.py's output on stdin.
 * Prints "golden <case id> <sha256>" per case and one "sweep ..." summary;
 * exits 1 on any NEON/scalar difference or overrun. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fi_fill.h"
#include "fi_kernels.h"
#include "fi_runtime.h"
#include "fi_wrap.h"

/* ---- SHA-256 (FIPS 180-4) ------------------------------------------------ */

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t ror(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void sha256_block(uint32_t h[8], const unsigned char *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = k + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
        uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
}

static void sha256_hex(const unsigned char *data, size_t n, char out[65])
{
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    size_t i = 0;
    for (; i + 64 <= n; i += 64)
        sha256_block(h, data + i);
    unsigned char tail[128] = {0};
    size_t r = n - i;
    memcpy(tail, data + i, r);
    tail[r] = 0x80;
    size_t len = r + 9 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)n * 8;
    for (int j = 0; j < 8; j++)
        tail[len - 1 - j] = (unsigned char)(bits >> (8 * j));
    for (size_t j = 0; j < len; j += 64)
        sha256_block(h, tail + j);
    for (int j = 0; j < 8; j++)
        sprintf(out + 8 * j, "%08x", h[j]);
}

/* ---- kernel parameters, as the Cython bridge builds them ------------------ */

typedef union {
    fi_uniform_f32_params u32;
    fi_uniform_f64_params u64;
    fi_normal_f32_params n32;
    fi_normal_f64_params n64;
    fi_trunc_f32_params t32;
    fi_trunc_f64_params t64;
    fi_pattern_params pat;
} params_t;

static int make_params(int kind, int code, int np, const double *v, const char *hex, params_t *P)
{
    int f64 = code == FI_OUT_F64;
    memset(P, 0, sizeof *P);
    switch (kind) {
    case FI_KIND_BITS:
        return np == 0;
    case FI_KIND_UNIFORM:
        if (np != 2) return 0;
        if (f64) { P->u64.lo = v[0]; P->u64.width = v[1]; }
        else { P->u32.lo = (float)v[0]; P->u32.width = (float)v[1]; }
        return 1;
    case FI_KIND_NORMAL:
        if (np != 2) return 0;
        if (f64) { P->n64.mean = v[0]; P->n64.std = v[1]; }
        else { P->n32.mean = (float)v[0]; P->n32.std = (float)v[1]; }
        return 1;
    case FI_KIND_TRUNC:
    case FI_KIND_TRUNC_WIDE:
        if (np != 10) return 0;
        if (f64 || kind == FI_KIND_TRUNC_WIDE) {
            fi_trunc_f64_params t = {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9]};
            P->t64 = t;
        } else {
            fi_trunc_f32_params t = {(float)v[0], (float)v[1], (float)v[2], (float)v[3], (float)v[4],
                                     (float)v[5], (float)v[6], (float)v[7], (float)v[8], (float)v[9]};
            P->t32 = t;
        }
        return 1;
    case FI_KIND_PATTERN: {
        size_t n = strlen(hex) / 2;
        if (n == 0 || n > FI_MAX_ITEMSIZE) return 0;
        P->pat.itemsize = n;
        for (size_t i = 0; i < n; i++) {
            unsigned x;
            sscanf(hex + 2 * i, "%2x", &x);
            P->pat.value[i] = (unsigned char)x;
        }
        return 1;
    }
    default:
        return 0;
    }
}

/* ---- the sweep: NEON against scalar --------------------------------------- */

#define GUARD 64

static long sweep_one(int kind, int code, const params_t *P, long *runs)
{
    static const uint64_t lengths[] = {1, 2, 3, 5, 7, 8, 13, 31, 32, 33, 63, 64, 65, 127, 129, 255, 257,
                                       511, 1000, 1021, 4099};
    static const uint64_t firsts[] = {0, 1, 2, 3, 5, 6, 7, 9, 15, 255, 12345, (1ull << 33) + 1,
                                      0xFFFFFFFFFFFFFF00ull};
    static const uint64_t seeds[][2] = {{0, 0}, {0x0123456789ABCDEFull, 7}, {0xFFFFFFFFFFFFFFFFull, 0xFFFFFFFFull}};
    size_t item;
    fi_kernel fs = fi_kernel_for(fi_table_for(FI_LEVEL_SCALAR), kind, code, &item);
    fi_kernel fv = fi_kernel_for(fi_table_for(FI_LEVEL_NEON), kind, code, &item);
    long bad = 0;
    unsigned char *a = malloc(4099 * 8 + 2 * GUARD + 64), *b = malloc(4099 * 8 + 2 * GUARD + 64);
    for (size_t si = 0; si < sizeof seeds / sizeof seeds[0]; si++)
        for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++)
            for (size_t fi = 0; fi < sizeof firsts / sizeof firsts[0]; fi++)
                for (int shift = 0; shift < 2; shift++) {   /* aligned and misaligned outputs */
                    uint64_t n = lengths[li];
                    size_t bytes = n * item;
                    unsigned char *oa = a + GUARD + shift * item, *ob = b + GUARD + shift * item;
                    memset(a, 0xA5, bytes + 2 * GUARD + 64);
                    memset(b, 0xA5, bytes + 2 * GUARD + 64);
                    fi_stream s = {seeds[si][0], seeds[si][1]};
                    fs(oa, n, &s, firsts[fi], P);
                    fv(ob, n, &s, firsts[fi], P);
                    (*runs)++;
                    if (memcmp(a, b, bytes + 2 * GUARD + 64) != 0) {
                        if (bad < 5)
                            printf("DIFFERENT kind %d code %d n %llu first %llu shift %d\n", kind, code,
                                   (unsigned long long)n, (unsigned long long)firsts[fi], shift);
                        bad++;
                    }
                    for (size_t g = 0; g < GUARD + shift * item; g++)
                        if (a[g] != 0xA5 || b[g] != 0xA5) { printf("UNDERRUN kind %d code %d\n", kind, code); bad++; break; }
                    for (size_t g = GUARD + shift * item + bytes; g < bytes + 2 * GUARD + 64; g++)
                        if (a[g] != 0xA5 || b[g] != 0xA5) { printf("OVERRUN kind %d code %d\n", kind, code); bad++; break; }
                }
    free(a);
    free(b);
    return bad;
}

int main(void)
{
    if (fi_detect_level() != FI_LEVEL_NEON) {
        printf("this build has no NEON level\n");
        return 1;
    }
    char line[4096], id[512];
    long bad = 0, runs = 0, sweeps = 0;
    unsigned char *buf = NULL;
    size_t total = 0;
    while (fgets(line, sizeof line, stdin)) {
        if (sscanf(line, "case %511s %zu", id, &total) == 2) {
            free(buf);
            buf = calloc(total ? total : 1, 1);
            continue;
        }
        if (strncmp(line, "end", 3) == 0) {
            char hex[65];
            sha256_hex(buf, total, hex);
            printf("golden %s %s\n", id, hex);
            continue;
        }
        int kind, code, np, used;
        unsigned long long seed, stream, first, at, nbytes;
        double v[16];
        char pat[64] = "";
        if (sscanf(line, "call %d %d %llu %llu %llu %llu %llu %d%n", &kind, &code, &seed, &stream, &first, &at,
                   &nbytes, &np, &used) == 8 || sscanf(line, "sweep %d %d %d%n", &kind, &code, &np, &used) == 3) {
            int is_call = line[0] == 'c';
            const char *p = line + used;
            for (int k = 0; k < np && k < 16; k++) {
                int m;
                if (kind == FI_KIND_PATTERN) { sscanf(p, "%63s%n", pat, &m); }
                else { char tok[64]; sscanf(p, "%63s%n", tok, &m); v[k] = strtod(tok, NULL); }
                p += m;
            }
            params_t P;
            if (!make_params(kind, code, np, v, pat, &P)) {
                printf("bad parameters: %s", line);
                return 1;
            }
            if (is_call) {
                size_t item;
                fi_kernel fv = fi_kernel_for(fi_table_for(FI_LEVEL_NEON), kind, code, &item);
                fi_kernel fs = fi_kernel_for(fi_table_for(FI_LEVEL_SCALAR), kind, code, &item);
                fi_stream s = {seed, stream};
                if (at + nbytes > total || nbytes % item) { printf("bad call: %s", line); return 1; }
                unsigned char *ref = malloc(nbytes ? nbytes : 1);
                fs(ref, nbytes / item, &s, first, &P);
                fv(buf + at, nbytes / item, &s, first, &P);
                if (memcmp(ref, buf + at, nbytes) != 0) {
                    printf("DIFFERENT golden call of %s\n", id);
                    bad++;
                }
                free(ref);
            } else {
                bad += sweep_one(kind, code, &P, &runs);
                sweeps++;
            }
        }
    }
    free(buf);
    printf("sweep: %ld parameter sets, %ld fills compared, %ld different\n", sweeps, runs, bad);
    return bad ? 1 : 0;
}
