/* CPU dispatch and the thread pool.  Work is cut into chunks of FI_CHUNK
 * elements that idle threads take in any order: since every element is a
 * function of its index alone, the split never changes a bit. */
#define _GNU_SOURCE
#include "fi_runtime.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#if defined(FI_HAVE_X86_SIMD) && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#define FI_X86 1    /* the AVX2 and AVX-512 kernels were built */
#endif

/* ---- SIMD level ---------------------------------------------------------- */

#ifdef FI_X86
static uint64_t fi_xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#endif

int fi_detect_level(void)
{
#ifdef FI_X86
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return FI_LEVEL_SCALAR;
    int osxsave = (c >> 27) & 1, f16c = (c >> 29) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    if (!(osxsave && avx && f16c && fma))     /* both SIMD levels use FMA3 */
        return FI_LEVEL_SCALAR;
    uint64_t xcr0 = fi_xgetbv0();
    if ((xcr0 & 0x6) != 0x6)                 /* XMM and YMM state */
        return FI_LEVEL_SCALAR;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return FI_LEVEL_SCALAR;
    int avx2 = (b >> 5) & 1;
    int avx512 = ((b >> 16) & 1) && ((b >> 17) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1); /* F DQ BW VL */
    if (avx512 && (xcr0 & 0xE6) == 0xE6)     /* opmask, ZMM state */
        return FI_LEVEL_AVX512;
    if (avx2)
        return FI_LEVEL_AVX2;
#endif
#if defined(FI_HAVE_NEON)
    return FI_LEVEL_NEON;          /* Advanced SIMD is part of every AArch64 CPU */
#endif
    return FI_LEVEL_SCALAR;
}

const unsigned char fi_out_itemsize[FI_OUT_COUNT] = {
    [FI_OUT_F32] = 4, [FI_OUT_F64] = 8, [FI_OUT_F16] = 2, [FI_OUT_BF16] = 2,
};

const char *const fi_level_names[FI_LEVEL_COUNT] = {
#if defined(FI_HAVE_NEON)
    [FI_LEVEL_SCALAR] = "scalar", [FI_LEVEL_NEON] = "neon",
#else
    [FI_LEVEL_SCALAR] = "scalar", [FI_LEVEL_AVX2] = "avx2", [FI_LEVEL_AVX512] = "avx512",
#endif
};

/* The level in use, -1 until first asked for.  Any thread may read it while
 * another sets it (set_simd_level from Python, a fill running without the
 * GIL), so it is atomic; relaxed order is enough, the value being the whole
 * message (the kernel tables it selects are constant). */
static atomic_int fi_level = -1;

const fi_kernel_table *fi_table_for(int level)
{
#ifdef FI_X86
    if (level >= FI_LEVEL_AVX512)
        return &fi_kernels_avx512;
    if (level == FI_LEVEL_AVX2)
        return &fi_kernels_avx2;
#endif
#if defined(FI_HAVE_NEON)
    if (level >= FI_LEVEL_NEON)
        return &fi_kernels_neon;
#endif
    (void)level;
    return &fi_kernels_scalar;
}

int fi_set_level(int level)
{
    int detected = fi_detect_level();
    if (level < FI_LEVEL_SCALAR)
        level = FI_LEVEL_SCALAR;
    int use = level < detected ? level : detected;
    atomic_store_explicit(&fi_level, use, memory_order_relaxed);
    return use;
}

int fi_get_level(void)
{
    int level = atomic_load_explicit(&fi_level, memory_order_relaxed);
    if (level >= 0)
        return level;
    /* first use: install the detected level unless another thread has set
     * one meanwhile (fi_set_level, or a racing first use), whose value wins */
    int unset = -1, detected = fi_detect_level();
    if (atomic_compare_exchange_strong_explicit(&fi_level, &unset, detected, memory_order_relaxed,
                                                memory_order_relaxed))
        return detected;
    return unset;
}

const fi_kernel_table *fi_table(void) { return fi_table_for(fi_get_level()); }

/* ---- thread pool ----------------------------------------------------------- */

#define FI_MAX_THREADS 256

_Thread_local int fi_stream_stores;
_Thread_local int fi_thread_index;

typedef struct {
    fi_kernel fn;
    char *out;
    size_t elemsize;
    uint64_t n, first;
    fi_stream s;
    const void *params;
    uint64_t nchunks;
    int stream_stores;
} fi_job;

static pthread_mutex_t pool_use = PTHREAD_MUTEX_INITIALIZER;   /* one fill at a time */
static pthread_mutex_t pool_mx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_work = PTHREAD_COND_INITIALIZER;
static pthread_cond_t pool_done = PTHREAD_COND_INITIALIZER;
static pthread_t pool_tid[FI_MAX_THREADS];
static int pool_workers;          /* threads started, the caller not included */
static int pool_active;           /* workers still busy with the current job */
static int pool_stop;
static atomic_ulong pool_gen;
static fi_job pool_job;
static atomic_uint_fast64_t pool_next;
/* Threads per fill, the caller included.  Written under pool_use; read
 * without it by fi_get_num_threads and by fi_run's first test (a relaxed
 * atomic: a fill racing a change may use either value), and read again under
 * pool_use before the pool is sized. */
static atomic_int fi_threads = 1;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void run_chunks(const fi_job *j)
{
    fi_stream_stores = j->stream_stores;
    for (;;) {
        uint64_t k = atomic_fetch_add(&pool_next, 1);
        if (k >= j->nchunks)
            return;
        uint64_t start = k * FI_CHUNK;
        uint64_t len = j->n - start < FI_CHUNK ? j->n - start : FI_CHUNK;
        j->fn(j->out + start * j->elemsize, len, &j->s, j->first + start, j->params);
    }
}

/* How long an idle worker polls for the next job before it sleeps: long
 * fills arrive as back-to-back slices (signal checks in between), and a
 * futex wake-up per slice would cost several percent. */
#define FI_SPIN_POLLS 20000

static inline void fi_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

typedef struct { int index; unsigned long gen; } fi_worker_arg;
static fi_worker_arg pool_arg[FI_MAX_THREADS];

static void *worker_main(void *arg)
{
    const fi_worker_arg *a = (const fi_worker_arg *)arg;
    unsigned long seen = a->gen;
    fi_thread_index = a->index;
    pthread_mutex_lock(&pool_mx);
    for (;;) {
        if (atomic_load(&pool_gen) == seen && !pool_stop) {
            pthread_mutex_unlock(&pool_mx);
            for (int i = 0; i < FI_SPIN_POLLS && atomic_load(&pool_gen) == seen; i++)
                fi_cpu_relax();
            pthread_mutex_lock(&pool_mx);
        }
        while (atomic_load(&pool_gen) == seen && !pool_stop)
            pthread_cond_wait(&pool_work, &pool_mx);
        if (pool_stop)
            break;
        seen = atomic_load(&pool_gen);
        fi_job job = pool_job;
        pthread_mutex_unlock(&pool_mx);
        run_chunks(&job);
        pthread_mutex_lock(&pool_mx);
        if (--pool_active == 0)
            pthread_cond_signal(&pool_done);
    }
    pthread_mutex_unlock(&pool_mx);
    return NULL;
}

/* Join every worker; the caller holds pool_use. */
static void stop_workers(void)
{
    pthread_mutex_lock(&pool_mx);
    pool_stop = 1;
    pthread_cond_broadcast(&pool_work);
    pthread_mutex_unlock(&pool_mx);
    for (int i = 0; i < pool_workers; i++)
        pthread_join(pool_tid[i], NULL);
    pool_workers = 0;
    pool_stop = 0;
}

/* In a forked child the workers do not exist: forget them and start anew. */
static void after_fork_child(void)
{
    pthread_mutex_init(&pool_use, NULL);
    pthread_mutex_init(&pool_mx, NULL);
    pthread_cond_init(&pool_work, NULL);
    pthread_cond_init(&pool_done, NULL);
    pool_workers = 0;
    pool_active = 0;
    pool_stop = 0;
}

static void register_fork_handler(void) { pthread_atfork(NULL, NULL, after_fork_child); }

void fi_set_num_threads(int n)
{
    pthread_once(&fork_once, register_fork_handler);
    if (n < 1)
        n = 1;
    if (n > FI_MAX_THREADS + 1)
        n = FI_MAX_THREADS + 1;
    pthread_mutex_lock(&pool_use);
    if (pool_workers > n - 1)
        stop_workers();
    atomic_store_explicit(&fi_threads, n, memory_order_relaxed);
    pthread_mutex_unlock(&pool_use);
}

int fi_get_num_threads(void) { return atomic_load_explicit(&fi_threads, memory_order_relaxed); }

void fi_run(fi_kernel fn, void *out, size_t elemsize, uint64_t n, const fi_stream *s,
            uint64_t first, const void *params, uint64_t total_bytes)
{
    pthread_once(&fork_once, register_fork_handler);
    if (n == 0)
        return;
    int stream_stores = total_bytes >= FI_STREAM_MIN_BYTES;
    int alone = atomic_load_explicit(&fi_threads, memory_order_relaxed) <= 1 || n < FI_PARALLEL_MIN
                || pthread_mutex_trylock(&pool_use) != 0;
    /* under pool_use the count cannot change: read it again (it may have
     * dropped to 1 since the test above) */
    int want = alone ? 0 : atomic_load_explicit(&fi_threads, memory_order_relaxed) - 1;
    if (alone || want < 1) {
        fi_stream_stores = stream_stores;
        fn(out, n, s, first, params);
        fi_stream_stores = 0;
        if (!alone)
            pthread_mutex_unlock(&pool_use);
        return;
    }
    while (pool_workers < want) {
        pool_arg[pool_workers].index = pool_workers + 1;
        pool_arg[pool_workers].gen = atomic_load(&pool_gen);
        if (pthread_create(&pool_tid[pool_workers], NULL, worker_main, &pool_arg[pool_workers]) != 0)
            break;                          /* run with the threads we have */
        pool_workers++;
    }
    fi_job job = {fn, (char *)out, elemsize, n, first, *s, params, (n + FI_CHUNK - 1) / FI_CHUNK,
                  stream_stores};
    pthread_mutex_lock(&pool_mx);
    pool_job = job;
    atomic_store(&pool_next, 0);
    pool_active = pool_workers;
    atomic_fetch_add(&pool_gen, 1);
    pthread_cond_broadcast(&pool_work);
    pthread_mutex_unlock(&pool_mx);

    run_chunks(&job);
    fi_stream_stores = 0;

    pthread_mutex_lock(&pool_mx);
    while (pool_active > 0)
        pthread_cond_wait(&pool_done, &pool_mx);
    pthread_mutex_unlock(&pool_mx);
    pthread_mutex_unlock(&pool_use);
}
