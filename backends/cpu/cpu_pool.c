/*
 * cpu_pool.c - a small persistent pthread pool for the CPU backend.
 *
 * One job at a time: the submitting thread takes `submit` with trylock; a second
 * submitter (another stream, or a task that itself asks for parallelism) runs its job
 * inline instead of waiting, so the pool can never deadlock. Workers pull chunk
 * numbers from an atomic counter. When the host knows the machine's NUMA layout,
 * workers are spread over the nodes in proportion to their cores and bound to them.
 *
 * Latency (a decode step is a hundred small parallel ops in a row): the submitter waits
 * only for workers that joined the job, never for one that has not woken up yet (a late
 * worker finds the job closed and skips it), and a worker polls for the next job for a
 * few microseconds before it sleeps on the condition variable.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

#include "cpu_internal.h"

struct cpu_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv_work;
    pthread_cond_t cv_done;
    pthread_mutex_t submit;
    int nthreads; /* including the caller */
    int nstarted; /* worker threads actually running */
    pthread_t *threads;
    int stop;
    uint64_t gen;          /* bumped for every job */
    int closed;            /* the current job takes no more workers */
    int joined;            /* workers inside the current job */
    atomic_ullong gen_pub; /* gen, for workers that poll without the lock */
    atomic_int stop_pub;
    /* the current job */
    cpu_range_fn fn;
    void *ctx;
    int64_t n, chunk, nchunks;
    atomic_llong next;
};

typedef struct worker_arg {
    cpu_pool *pool;
    int index; /* 1..nthreads-1 */
    int node;  /* NUMA node to bind to, or -1 */
} worker_arg;

static void run_chunks(cpu_pool *p, int worker)
{
    for (;;) {
        long long c = atomic_fetch_add(&p->next, 1);
        if (c >= p->nchunks) break;
        int64_t b = (int64_t)c * p->chunk;
        int64_t e = b + p->chunk < p->n ? b + p->chunk : p->n;
        p->fn(p->ctx, b, e, worker);
    }
}

/* NUMA node for worker `index` of `total`, spreading workers over nodes by core count. */
static int numa_node_for(int index, int total)
{
    if (!cpu_host.topo_numa_count || !cpu_host.topo_numa_cpus || !cpu_host.topo_bind_thread_numa) return -1;
    int nodes = cpu_host.topo_numa_count();
    if (nodes <= 1) return -1;
    int counts[64];
    int all = 0;
    if (nodes > 64) nodes = 64;
    for (int i = 0; i < nodes; i++) {
        int cpus[1024];
        counts[i] = cpu_host.topo_numa_cpus(i, cpus, 1024);
        if (counts[i] < 0) counts[i] = 0;
        all += counts[i];
    }
    if (all == 0) return -1;
    /* position of this worker on the machine's cores, scaled to the core count */
    int pos = (int)(((int64_t)index * all) / (total > 0 ? total : 1));
    for (int i = 0; i < nodes; i++) {
        if (pos < counts[i]) return i;
        pos -= counts[i];
    }
    return nodes - 1;
}

/* How long an idle worker polls for the next job before it sleeps. */
#define CPU_POOL_SPIN_NS 30000

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *worker_main(void *arg)
{
    worker_arg wa = *(worker_arg *)arg;
    cpu_host.host_free(arg);
    cpu_pool *p = wa.pool;
    if (wa.node >= 0) cpu_host.topo_bind_thread_numa(wa.node);

    uint64_t seen = 0;
    for (;;) {
        /* poll a little: the next op of a decode step usually follows within microseconds */
        int64_t until = now_ns() + CPU_POOL_SPIN_NS;
        for (int i = 0; atomic_load_explicit(&p->gen_pub, memory_order_acquire) == seen &&
                        !atomic_load_explicit(&p->stop_pub, memory_order_relaxed);
             i++) {
            CPU_RELAX();
            if ((i & 63) == 63 && now_ns() > until) break;
        }
        pthread_mutex_lock(&p->mu);
        while (!p->stop && p->gen == seen) pthread_cond_wait(&p->cv_work, &p->mu);
        if (p->stop) {
            pthread_mutex_unlock(&p->mu);
            break;
        }
        seen = p->gen;
        if (p->closed) { /* woke after the submitter finished: not ours to touch */
            pthread_mutex_unlock(&p->mu);
            continue;
        }
        p->joined++;
        pthread_mutex_unlock(&p->mu);
        run_chunks(p, wa.index);
        pthread_mutex_lock(&p->mu);
        if (--p->joined == 0 && p->closed) pthread_cond_signal(&p->cv_done);
        pthread_mutex_unlock(&p->mu);
    }
    return NULL;
}

cpu_pool *cpu_pool_create(int nthreads)
{
    if (nthreads < 1) nthreads = 1;
    cpu_pool *p = cpu_host.host_calloc(1, sizeof(*p));
    if (!p) return NULL;
    p->nthreads = nthreads;
    p->closed = 1;
    atomic_init(&p->next, 0);
    atomic_init(&p->gen_pub, 0);
    atomic_init(&p->stop_pub, 0);
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->submit, NULL);
    pthread_cond_init(&p->cv_work, NULL);
    pthread_cond_init(&p->cv_done, NULL);
    if (nthreads > 1) {
        p->threads = cpu_host.host_calloc((size_t)nthreads, sizeof(pthread_t));
        if (!p->threads) {
            p->nthreads = 1;
            return p;
        }
        for (int i = 1; i < nthreads; i++) {
            worker_arg *wa = cpu_host.host_alloc(sizeof(*wa));
            if (!wa) break;
            wa->pool = p;
            wa->index = i;
            /* topology is queried here, in the creating thread; workers only bind */
            wa->node = numa_node_for(i, nthreads);
            if (pthread_create(&p->threads[p->nstarted], NULL, worker_main, wa) != 0) {
                cpu_host.host_free(wa);
                break;
            }
            p->nstarted++;
        }
        /* workers read neither count; the lock just publishes the final one */
        pthread_mutex_lock(&p->mu);
        p->nthreads = p->nstarted + 1;
        pthread_mutex_unlock(&p->mu);
    }
    return p;
}

void cpu_pool_destroy(cpu_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    atomic_store(&p->stop_pub, 1);
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nstarted; i++) pthread_join(p->threads[i], NULL);
    cpu_host.host_free(p->threads);
    pthread_cond_destroy(&p->cv_work);
    pthread_cond_destroy(&p->cv_done);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->submit);
    cpu_host.host_free(p);
}

int cpu_pool_workers(const cpu_pool *p) { return p ? p->nthreads : 1; }

void cpu_parallel_for(cpu_pool *p, int64_t n, int64_t grain, cpu_range_fn fn, void *ctx)
{
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    if (!p || p->nthreads <= 1 || n <= grain || pthread_mutex_trylock(&p->submit) != 0) {
        fn(ctx, 0, n, 0);
        return;
    }
    /* about 4 chunks per thread for balance, none smaller than grain */
    int64_t want = (int64_t)p->nthreads * 4;
    int64_t chunk = (n + want - 1) / want;
    if (chunk < grain) chunk = grain;
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    p->chunk = chunk;
    p->nchunks = (n + chunk - 1) / chunk;
    atomic_store(&p->next, 0);
    p->closed = 0;
    p->joined = 0;
    p->gen++;
    atomic_store_explicit(&p->gen_pub, p->gen, memory_order_release);
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);

    run_chunks(p, 0);

    /* every chunk is taken; wait for the workers still running theirs, not for late ones */
    pthread_mutex_lock(&p->mu);
    p->closed = 1;
    while (p->joined > 0) pthread_cond_wait(&p->cv_done, &p->mu);
    pthread_mutex_unlock(&p->mu);
    pthread_mutex_unlock(&p->submit);
}
