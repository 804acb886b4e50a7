/* bench_coll.c - xhal-bench --suite collectives: algorithm and bus bandwidth of the collectives
 * (nccl-tests' definitions, bench.h), in one process or one rank per process under MPI with
 * MPI_Allreduce called directly as the peer. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_internal.h"

typedef int (*peer_fn)(const float *send, float *recv, int count, int iters, double *seconds);

/* libxhal_mpi.so as the core finds it (conformance/COLLECTIVES.md): already loaded by the
 * core once an MPI communicator exists, so RTLD_NOLOAD finds that very copy. */
static peer_fn find_peer(char *why, size_t len)
{
    char path[PATH_MAX] = "";
    const char *e = getenv("XHAL_MPI_ENGINE");
    if (e && *e) {
        snprintf(path, sizeof path, "%s", e);
    } else {
        const char *pp = getenv("XHAL_PLUGIN_PATH");
        char *copy = pp ? strdup(pp) : NULL, *save = NULL;
        for (char *t = copy ? strtok_r(copy, ":", &save) : NULL; t; t = strtok_r(NULL, ":", &save)) {
            snprintf(path, sizeof path, "%s/libxhal_mpi.so", t);
            if (access(path, R_OK) == 0) break;
            path[0] = '\0';
        }
        free(copy);
        Dl_info info;
        if (!path[0] && dladdr((void *)(uintptr_t)&xhal_version, &info) && info.dli_fname) {
            char real[PATH_MAX];
            if (realpath(info.dli_fname, real)) {
                char *slash = strrchr(real, '/');
                if (slash) *slash = '\0';
                snprintf(path, sizeof path, "%s/xhal/libxhal_mpi.so", real);
            }
        }
    }
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    if (!h) h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(why, len, "%s: %s", path, dlerror());
        return NULL;
    }
    peer_fn f = (peer_fn)(uintptr_t)dlsym(h, "xhal_mpi_peer_allreduce");
    if (!f) snprintf(why, len, "%s exports no xhal_mpi_peer_allreduce", path);
    return f;
}

enum { C_ALL_REDUCE, C_ALL_GATHER, C_REDUCE_SCATTER, C_BROADCAST, C_N };
static const char *const C_NAMES[C_N] = {"all_reduce", "all_gather", "reduce_scatter", "broadcast"};

static double bus_factor(int c, int n)
{
    switch (c) {
        case C_ALL_REDUCE: return 2.0 * (n - 1) / n;
        case C_ALL_GATHER:
        case C_REDUCE_SCATTER: return (double)(n - 1) / n;
        default: return 1.0;
    }
}

typedef struct setup {
    xhal_comm *comm;
    int n_local, size, first;
    xhal_stream *ss[XHAL_COMM_MAX_LOCAL];
    xhal_tensor *in[XHAL_COMM_MAX_LOCAL], *out[XHAL_COMM_MAX_LOCAL];
} setup;

static xhal_status run_once(setup *s, int c)
{
    switch (c) {
        case C_ALL_REDUCE: return xhal_all_reduce(s->comm, s->ss, s->in, s->out, XHAL_REDUCE_SUM);
        case C_ALL_GATHER: return xhal_all_gather(s->comm, s->ss, s->in, s->out);
        case C_REDUCE_SCATTER: return xhal_reduce_scatter(s->comm, s->ss, s->in, s->out, XHAL_REDUCE_SUM);
        default: return xhal_broadcast(s->comm, s->ss, s->in, 0);
    }
}

/* slowest rank's seconds (MPI), through the communicator itself */
static double slowest(setup *s, xhal_device *dev, double t)
{
    if (s->size == s->n_local) return t;
    xhal_tensor *v = NULL;
    int64_t one = 1;
    double r = t;
    if (xhal_tensor_create(dev, XHAL_DTYPE_F64, 1, &one, &v) == XHAL_OK &&
        xhal_tensor_write(s->ss[0], v, &t, sizeof t) == XHAL_OK &&
        xhal_all_reduce(s->comm, s->ss, &v, &v, XHAL_REDUCE_MAX) == XHAL_OK)
        xhal_tensor_read(s->ss[0], v, &r, sizeof r);
    xhal_tensor_destroy(v);
    return r;
}

xhal_status xb_coll_run(const xb_options *o, int mpi, xb_report *rep, int *is_rank0)
{
    memset(rep, 0, sizeof *rep);
    rep->quick = o->quick;
    *is_rank0 = 1;
    double t_start = xb_now();
    xhal_context *ctx = NULL;
    xhal_status st = xhal_context_create(NULL, &ctx);
    if (st != XHAL_OK) {
        fprintf(stderr, "xhal-bench: cannot create a context: %s\n", xhal_last_error());
        return st;
    }
    setup s;
    memset(&s, 0, sizeof s);
    xhal_device *devs[XHAL_COMM_MAX_LOCAL];
    char set[160] = "";
    if (mpi) {
        const char *er = getenv("OMPI_COMM_WORLD_RANK");
        if (!er) er = getenv("PMIX_RANK");
        int r = er ? atoi(er) : 0;
        const char *spec = o->ndevices ? o->devices[r % o->ndevices] : "cpu:0";
        if ((st = xhal_device_find(ctx, spec, &devs[0])) == XHAL_OK) st = xhal_comm_create_mpi(ctx, devs[0], &s.comm);
        snprintf(set, sizeof set, "mpi:%s", spec);
    } else {
        int n = o->ndevices ? o->ndevices : 2;
        for (int i = 0; i < n && st == XHAL_OK; i++)
            st = xhal_device_find(ctx, o->ndevices ? o->devices[i] : "cpu:0", &devs[i]);
        if (st == XHAL_OK) st = xhal_comm_create(ctx, devs, n, NULL, &s.comm);
        for (int i = 0; i < n; i++) {
            size_t u = strlen(set);
            snprintf(set + u, sizeof set - u, "%s%s", i ? "+" : "", o->ndevices ? o->devices[i] : "cpu:0");
        }
    }
    if (st != XHAL_OK) {
        fprintf(stderr, "xhal-bench: collectives: %s\n", xhal_last_error());
        xhal_context_destroy(ctx);
        return st;
    }
    xhal_comm_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    xhal_comm_get_info(s.comm, &info);
    s.n_local = info.n_local;
    s.size = info.size;
    s.first = info.first_rank;
    *is_rank0 = s.first == 0;
    FILE *out = *is_rank0 ? o->out : NULL;
    xb_machine_info(&rep->machine);
    for (int i = 0; i < s.n_local && i < XB_MAX_DEVICES; i++) {
        rep->machine.dev[i].struct_size = sizeof rep->machine.dev[i];
        xhal_device_get_info(devs[i], &rep->machine.dev[i]);
        rep->machine.ndev = i + 1;
    }
    if (out)
        fprintf(out, "xhal-bench collectives on %s (%d cores), load %.2f %.2f %.2f: %d rank(s), engine %s (%s)\n",
                rep->machine.cpu_model, rep->machine.cores, rep->machine.load1, rep->machine.load5, rep->machine.load15,
                s.size, info.engine, info.reason);
    xb_options eo = *o;
    eo.out = out;
    xb_env env = {&eo, rep, 1, 1, NULL};
    char peer_why[512] = "";
    peer_fn peer = mpi ? find_peer(peer_why, sizeof peer_why) : NULL;
    for (int i = 0; i < s.n_local && st == XHAL_OK; i++) st = xhal_stream_create(devs[i], &s.ss[i]);
    static const int64_t full[] = {1024, 16384, 262144, 4194304}; /* f32 elements: 4 KiB .. 16 MiB */
    static const int64_t quick[] = {1024, 262144};
    const int64_t *counts = o->quick ? quick : full;
    int n_counts = o->quick ? 2 : 4;
    int reps = o->quick ? 3 : 7;
    for (int c = 0; c < C_N && st == XHAL_OK; c++)
        for (int k = 0; k < n_counts; k++) {
            int64_t N = counts[k];
            xb_result r;
            xb_result_init(&r, set, "collectives", "GB/s");
            double bytes = (double)N * 4.0;
            snprintf(r.name, sizeof r.name, "%s f32 %.0f KiB busbw", C_NAMES[c], bytes / 1024);
            if (!xb_want(&env, r.name)) continue;
            snprintf(r.dtype, sizeof r.dtype, "f32");
            snprintf(r.shape, sizeof r.shape, "N=%lld ranks=%d", (long long)N, s.size);
            r.x = bytes;
            /* tensors */
            xhal_status ts = XHAL_OK;
            for (int i = 0; i < s.n_local && ts == XHAL_OK; i++) {
                int64_t off, len;
                xhal_comm_partition(N, s.size, s.first + i, &off, &len);
                int64_t ni = c == C_ALL_GATHER ? len : N, no = c == C_REDUCE_SCATTER ? len : N;
                ts = xhal_tensor_create(devs[i], XHAL_DTYPE_F32, 1, &ni, &s.in[i]);
                if (ts == XHAL_OK) ts = xhal_fill(s.ss[i], s.in[i], 1.0);
                if (ts == XHAL_OK && c != C_BROADCAST)
                    ts = xhal_tensor_create(devs[i], XHAL_DTYPE_F32, 1, &no, &s.out[i]);
            }
            int iters = N >= 1000000 ? 2 : N >= 100000 ? 5 : 50;
            if (o->quick) iters = iters > 5 ? 5 : iters;
            double samples[16];
            int got = 0;
            if (ts == XHAL_OK) ts = run_once(&s, c); /* warm-up */
            for (int rep_i = 0; rep_i < reps && ts == XHAL_OK; rep_i++) {
                double t0 = xb_now();
                for (int it = 0; it < iters && ts == XHAL_OK; it++) ts = run_once(&s, c);
                for (int i = 0; i < s.n_local && ts == XHAL_OK; i++) ts = xhal_stream_synchronize(s.ss[i]);
                double t = slowest(&s, devs[0], (xb_now() - t0) / iters);
                samples[got++] = t > 0 ? bytes / t * bus_factor(c, s.size) / 1e9 : 0;
            }
            if (ts != XHAL_OK) {
                r.failed = 1;
                snprintf(r.note, sizeof r.note, "%s", xhal_last_error());
            } else {
                r.reps = got;
                xb_stats(samples, got, &r.median, &r.min, &r.max);
                double algbw = r.median / bus_factor(c, s.size);
                snprintf(r.note, sizeof r.note,
                         "busbw = algbw x %.3f (nccl-tests); algbw median %.3f GB/s; engine %s; %d calls per "
                         "sample, slowest rank",
                         bus_factor(c, s.size), algbw, info.engine, iters);
                if (c == C_ALL_REDUCE && mpi && peer) {
                    float *a = malloc((size_t)N * 4), *b = malloc((size_t)N * 4);
                    double ps[16];
                    int pn = 0;
                    if (a && b) {
                        for (int64_t i = 0; i < N; i++) a[i] = 1.0f;
                        double t;
                        peer(a, b, (int)N, 1, &t); /* warm-up */
                        for (int rep_i = 0; rep_i < reps; rep_i++)
                            if (peer(a, b, (int)N, iters, &t) == 0 && t > 0)
                                ps[pn++] = bytes / t * bus_factor(c, s.size) / 1e9;
                    }
                    free(a);
                    free(b);
                    if (pn) {
                        double med, mn, mx;
                        xb_stats(ps, pn, &med, &mn, &mx);
                        xb_set_peer(&r, "MPI_Allreduce (direct)", med, mn, mx);
                    } else {
                        xb_peer_absent(&r, "MPI_Allreduce (direct)", "the direct call failed");
                    }
                } else if (c == C_ALL_REDUCE && mpi) {
                    xb_peer_absent(&r, "MPI_Allreduce (direct)", peer_why);
                } else if (!mpi) {
                    xb_peer_absent(&r, "-",
                                   "in one process there is no library a user would call instead on "
                                   "these devices (NCCL measures itself on GPUs)");
                }
            }
            for (int i = 0; i < s.n_local; i++) {
                xhal_tensor_destroy(s.in[i]);
                xhal_tensor_destroy(s.out[i]);
                s.in[i] = s.out[i] = NULL;
            }
            xb_add(&env, &r);
        }
    for (int i = 0; i < s.n_local; i++) xhal_stream_destroy(s.ss[i]);
    xhal_comm_destroy(s.comm);
    xhal_context_destroy(ctx);
    rep->wall_s = xb_now() - t_start;
    return XHAL_OK;
}
