/* The first-touch floor of building a big model: the time to write 5 GiB of
 * fresh anonymous memory on 2 threads, in 2 MiB blocks, with memset (so the
 * kernel's page faults and zeroing, and nothing else).  docs/performance.md
 * compares fastinit's model builds with it.
 *
 *   gcc -O2 -pthread tools/touch_floor.c && ./a.out 0     (1: MADV_POPULATE_WRITE each block first)
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static char *base;
static size_t total = (size_t)5 << 30;
static const size_t block = (size_t)2 << 20;
static int populate_first;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void *touch(void *arg)
{
    size_t id = (size_t)(uintptr_t)arg;
    for (size_t off = id * block; off < total; off += 2 * block) {
        if (populate_first)
            madvise(base + off, block, MADV_POPULATE_WRITE);
        memset(base + off, 1, block);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    populate_first = argc > 1 ? atoi(argv[1]) : 0;
    base = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    double t = now();
    pthread_t a, b;
    pthread_create(&a, NULL, touch, (void *)(uintptr_t)0);
    pthread_create(&b, NULL, touch, (void *)(uintptr_t)1);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    printf("%s: %.3f s to touch 5 GiB of fresh memory on 2 threads\n",
           populate_first ? "populate + memset" : "memset", now() - t);
    return 0;
}
