/*
 * bench_ops.c - op figures: matmul GFLOP/s against OpenBLAS / CLBlast, bytes moved per
 * second of add, softmax, rms_norm and copy, dispatch overhead of a tiny op against the raw
 * call, host<->device transfers.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_internal.h"

#define XB_MAXREPS 64

static xhal_tensor *mk(xb_dev *d, xhal_dtype dt, int ndim, const int64_t *shape, double fill, char *err, size_t errsize)
{
    xhal_tensor *t = NULL;
    if (xhal_tensor_create(d->dev, dt, ndim, shape, &t) != XHAL_OK) {
        snprintf(err, errsize, "tensor_create: %s", xhal_last_error());
        return NULL;
    }
    if (xhal_fill(d->stream, t, fill) != XHAL_OK) {
        snprintf(err, errsize, "fill: %s", xhal_last_error());
        xhal_tensor_destroy(t);
        return NULL;
    }
    return t;
}

static int sync_or(xb_dev *d, xhal_status st, const char *what, char *err, size_t errsize)
{
    if (st == XHAL_OK) st = xhal_stream_synchronize(d->stream);
    if (st != XHAL_OK) {
        snprintf(err, errsize, "%s: %s", what, xhal_last_error());
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------- */
/* matmul                                                                     */
/* ------------------------------------------------------------------------- */
typedef struct mm_ctx {
    xb_dev *d;
    xhal_tensor *a, *b, *c;
    int tb; /* b stored as [N, K] and used transposed (the model's weights) */
} mm_ctx;

static int mm_body(void *vc, char *err, size_t errsize)
{
    mm_ctx *c = vc;
    return sync_or(c->d, xhal_matmul(c->d->stream, c->a, c->b, 0, c->tb, 1.0, 0.0, c->c), "matmul", err, errsize);
}

typedef struct mm_il {
    xb_dev *d;
    mm_ctx *c;
    double *smp, *ev;
    char *err;
    size_t errsize;
} mm_il;

/* one xhal sample between two peer runs (rep < 0: warm-up, not kept) */
static int mm_interleave(void *vctx, int rep)
{
    mm_il *il = vctx;
    double s, ev = -1.0;
    if (xb_time(il->d, mm_body, il->c, 0, 1, &s, &ev, il->err, il->errsize) != 0) return -1;
    if (rep >= 0) {
        il->smp[rep] = s;
        il->ev[rep] = ev;
    }
    return 0;
}

typedef struct mm_shape {
    int64_t m, n, k;
    const char *label;
    int tb; /* b as [N, K], used transposed */
} mm_shape;

static void matmul_one(xb_env *e, xb_dev *d, xhal_dtype dt, const mm_shape *s)
{
    xb_result r;
    xb_result_init(&r, d->info.spec, "matmul", "GFLOP/s");
    snprintf(r.dtype, sizeof r.dtype, "%s", xhal_dtype_name(dt));
    snprintf(r.name, sizeof r.name, "matmul %s %s", r.dtype, s->label);
    snprintf(r.shape, sizeof r.shape, "M=%lld N=%lld K=%lld%s", (long long)s->m, (long long)s->n, (long long)s->k,
             s->tb ? ", trans_b" : "");
    if (!xb_want(e, r.name)) return;
    r.x = cbrt((double)s->m * (double)s->n * (double)s->k);
    double flop = 2.0 * (double)s->m * (double)s->n * (double)s->k;
    /* fewer repetitions where one product takes long, so that a full run stays in minutes */
    int reps = e->reps, warm = e->warmup;
    if (!e->opts->quick && flop > 4e9) reps = d->is_cpu ? 5 : 3;
    if (!e->opts->quick && flop > 4e9 && !d->is_cpu) warm = 1;
    r.reps = reps;
    char err[512] = "";
    int64_t sa[2] = {s->m, s->k}, sb[2] = {s->tb ? s->n : s->k, s->tb ? s->k : s->n}, sc[2] = {s->m, s->n};
    mm_ctx c = {d, NULL, NULL, NULL, s->tb};
    double smp[XB_MAXREPS], ev[XB_MAXREPS], pg[XB_MAXREPS];
    char perr[256] = "";
    for (int i = 0; i < reps; i++) ev[i] = -1.0;
    c.a = mk(d, dt, 2, sa, 0.25, err, sizeof err);
    if (c.a) c.b = mk(d, dt, 2, sb, 0.5, err, sizeof err);
    if (c.b) c.c = mk(d, dt, 2, sc, 0.0, err, sizeof err);
    int xhal_ok = c.c != NULL, timed = 0;
    /* on the CPU the peer shares the cores: xhal and OpenBLAS runs alternate, so that both see
     * the same load */
    if (xhal_ok && d->is_cpu && dt != XHAL_DTYPE_F16) {
        mm_il il = {d, &c, smp, ev, err, sizeof err};
        int prc = xb_blas_gemm(dt == XHAL_DTYPE_BF16, s->tb, s->m, s->n, s->k, warm, reps, pg, mm_interleave, &il, perr,
                               sizeof perr);
        if (prc == 0) {
            double m, lo, hi;
            xb_stats(pg, reps, &m, &lo, &hi);
            char nm[48];
            snprintf(nm, sizeof nm, "OpenBLAS %s (%d thr)", dt == XHAL_DTYPE_BF16 ? "sbgemm" : "sgemm",
                     d->info.compute_units);
            xb_set_peer(&r, nm, m, lo, hi);
            timed = 1;
            snprintf(r.note, sizeof r.note, "xhal and peer runs alternate");
        } else if (prc == -2) {
            xhal_ok = 0;
        } else {
            xb_peer_absent(&r, "OpenBLAS", perr);
        }
    } else if (d->is_cpu) {
        xb_peer_absent(&r, "OpenBLAS", "OpenBLAS has no f16 GEMM");
    }
    /* on OpenCL the peer (its own context on the same device) alternates with xhal the same way */
    if (xhal_ok && d->is_opencl && dt == XHAL_DTYPE_BF16) {
        xb_peer_absent(&r, "CLBlast", "CLBlast has no bf16 GEMM");
    } else if (xhal_ok && d->is_opencl) {
        mm_il il = {d, &c, smp, ev, err, sizeof err};
        int prc = xb_clblast_gemm(d, dt == XHAL_DTYPE_F16, s->tb, s->m, s->n, s->k, warm, reps, pg, mm_interleave, &il,
                                  perr, sizeof perr);
        if (prc == 0) {
            double m, lo, hi;
            xb_stats(pg, reps, &m, &lo, &hi);
            xb_set_peer(&r, dt == XHAL_DTYPE_F16 ? "CLBlast HGEMM" : "CLBlast SGEMM", m, lo, hi);
            timed = 1;
            snprintf(r.note, sizeof r.note, "xhal and peer runs alternate");
        } else if (prc == -2) {
            xhal_ok = 0;
        } else {
            xb_peer_absent(&r, "CLBlast", perr);
        }
    }
    if (xhal_ok && !timed && xb_time(d, mm_body, &c, warm, reps, smp, ev, err, sizeof err) != 0) xhal_ok = 0;
    if (!xhal_ok) {
        r.failed = 1;
        snprintf(r.note, sizeof r.note, "%s", err);
    } else {
        xb_rate(smp, reps, flop, 1e-9, &r.median, &r.min, &r.max);
        double evs[XB_MAXREPS];
        int ne = 0;
        for (int i = 0; i < reps; i++)
            if (ev[i] > 0) evs[ne++] = ev[i];
        if (ne == reps) {
            double a, b;
            xb_rate(evs, ne, flop, 1e-9, &r.event_median, &a, &b);
        }
    }
    xhal_tensor_destroy(c.a);
    xhal_tensor_destroy(c.b);
    xhal_tensor_destroy(c.c);

    xb_add(e, &r);
}

void xb_suite_matmul(xb_env *e, xb_dev *d)
{
    static const mm_shape full[] = {
        {1, 4096, 4096, "1x4096x4096 (decode)", 0},
        {1, 4096, 4096, "1x4096x4096 (decode, b as [N, K])", 1},
        {128, 4096, 4096, "128x4096x4096 (prefill)", 0},
        {1024, 1024, 1024, "1024^3", 0},
        {2048, 2048, 2048, "2048^3", 0},
    };
    static const mm_shape quick[] = {
        {1, 256, 256, "1x256x256 (decode)", 0},
        {1, 256, 256, "1x256x256 (decode, b as [N, K])", 1},
        {64, 64, 64, "64^3", 0},
        {256, 256, 256, "256^3", 0},
    };
    const mm_shape *sh = e->opts->quick ? quick : full;
    int n = e->opts->quick ? (int)(sizeof quick / sizeof quick[0]) : (int)(sizeof full / sizeof full[0]);
    const xhal_dtype dts[3] = {XHAL_DTYPE_F32, XHAL_DTYPE_F16, XHAL_DTYPE_BF16};
    for (int t = 0; t < 3; t++) {
        if (!(d->info.dtypes & XHAL_DTYPE_BIT(dts[t]))) continue;
        for (int i = 0; i < n; i++) matmul_one(e, d, dts[t], &sh[i]);
    }
}

/* ------------------------------------------------------------------------- */
/* bandwidth-bound ops                                                        */
/* ------------------------------------------------------------------------- */
typedef struct mem_ctx {
    xb_dev *d;
    int op; /* 0 add, 1 softmax, 2 rms_norm, 3 copy, 4 layer_norm, 5 rope, 6 attention (one query) */
    xhal_tensor *a, *b, *w, *bias, *o;
} mem_ctx;

static int mem_body(void *vc, char *err, size_t errsize)
{
    mem_ctx *c = vc;
    xhal_stream *s = c->d->stream;
    switch (c->op) {
        case 0: return sync_or(c->d, xhal_add(s, c->a, c->b, c->o), "add", err, errsize);
        case 1: return sync_or(c->d, xhal_softmax(s, c->a, 0.0, 0, c->o), "softmax", err, errsize);
        case 2: return sync_or(c->d, xhal_rms_norm(s, c->a, c->w, 1e-6, c->o), "rms_norm", err, errsize);
        case 4: return sync_or(c->d, xhal_layer_norm(s, c->a, c->w, c->bias, 1e-6, c->o), "layer_norm", err, errsize);
        case 5: return sync_or(c->d, xhal_rope(s, c->a, 0, 10000.0, 0, 0, XHAL_ROPE_HALF, c->o), "rope", err, errsize);
        case 6:
            return sync_or(c->d, xhal_attention(s, c->a, c->b, c->w, NULL, 0.0, 0, c->o), "attention", err, errsize);
        default: return sync_or(c->d, xhal_copy(s, c->a, c->o), "copy", err, errsize);
    }
}

void xb_suite_memops(xb_env *e, xb_dev *d)
{
    static const char *names[7] = {"add", "softmax", "rms_norm", "copy", "layer_norm", "rope", "attention"};
    static const int order[7] = {0, 1, 2, 4, 5, 6, 3};
    int64_t rows = e->opts->quick ? 64 : 4096, cols = 4096;
    int64_t shape[2] = {rows, cols}, wsh[1] = {cols};
    /* rope: [S, 32 heads, 128]; attention: one query of 32 heads over `rows` keys of 8 kv heads */
    int64_t rsh[3] = {rows, 32, 128};
    int64_t qsh[4] = {1, 32, 1, 128}, ksh[4] = {1, 8, rows, 128};
    double n = (double)rows * (double)cols;
    for (int oi = 0; oi < 7; oi++) {
        int op = order[oi];
        xb_result r;
        xb_result_init(&r, d->info.spec, op == 0 ? "elementwise" : names[op], "GB/s");
        snprintf(r.dtype, sizeof r.dtype, "f32");
        if (op == 5) {
            snprintf(r.name, sizeof r.name, "rope f32 %lldx32x128", (long long)rows);
            snprintf(r.shape, sizeof r.shape, "[%lld, 32, 128], half layout", (long long)rows);
        } else if (op == 6) {
            snprintf(r.name, sizeof r.name, "attention f32 1 query, %lld keys", (long long)rows);
            snprintf(r.shape, sizeof r.shape, "q [1,32,1,128], k/v [1,8,%lld,128]", (long long)rows);
        } else {
            snprintf(r.name, sizeof r.name, "%s f32 %lldx%lld", names[op], (long long)rows, (long long)cols);
            snprintf(r.shape, sizeof r.shape, "[%lld, %lld]", (long long)rows, (long long)cols);
        }
        if (!xb_want(e, r.name)) continue;
        r.x = n;
        r.reps = e->reps;
        /* bytes that must move: inputs read once, output written once (attention: K and V) */
        double bytes = (op == 0 ? 3.0 : 2.0) * n * 4.0 + (op == 2 ? (double)cols * 4.0 : 0.0) +
                       (op == 4 ? 2.0 * (double)cols * 4.0 : 0.0);
        if (op == 6) bytes = 2.0 * 8.0 * (double)rows * 128.0 * 4.0 + 2.0 * 32.0 * 128.0 * 4.0;
        char err[512] = "";
        mem_ctx c = {d, op, NULL, NULL, NULL, NULL, NULL};
        if (op == 5) {
            c.a = mk(d, XHAL_DTYPE_F32, 3, rsh, 0.5, err, sizeof err);
            if (c.a) c.o = mk(d, XHAL_DTYPE_F32, 3, rsh, 0.0, err, sizeof err);
        } else if (op == 6) {
            c.a = mk(d, XHAL_DTYPE_F32, 4, qsh, 0.5, err, sizeof err);
            if (c.a) c.b = mk(d, XHAL_DTYPE_F32, 4, ksh, 0.25, err, sizeof err);
            if (c.b) c.w = mk(d, XHAL_DTYPE_F32, 4, ksh, 0.125, err, sizeof err);
            if (c.w) c.o = mk(d, XHAL_DTYPE_F32, 4, qsh, 0.0, err, sizeof err);
        } else {
            c.a = mk(d, XHAL_DTYPE_F32, 2, shape, 0.5, err, sizeof err);
            if (c.a && op == 0) c.b = mk(d, XHAL_DTYPE_F32, 2, shape, 0.25, err, sizeof err);
            if (c.a && (op == 2 || op == 4)) c.w = mk(d, XHAL_DTYPE_F32, 1, wsh, 1.0, err, sizeof err);
            if (c.a && op == 4) c.bias = mk(d, XHAL_DTYPE_F32, 1, wsh, 0.0, err, sizeof err);
            if (c.a && (op != 0 || c.b) && (op != 2 || c.w) && (op != 4 || c.bias))
                c.o = mk(d, XHAL_DTYPE_F32, 2, shape, 0.0, err, sizeof err);
        }
        double smp[XB_MAXREPS], ev[XB_MAXREPS];
        if (!c.o || xb_time(d, mem_body, &c, e->warmup, r.reps, smp, ev, err, sizeof err) != 0) {
            r.failed = 1;
            snprintf(r.note, sizeof r.note, "%s", err);
        } else {
            xb_rate(smp, r.reps, bytes, 1e-9, &r.median, &r.min, &r.max);
            snprintf(r.note, sizeof r.note, "bytes moved per run: %.0f (%s)", bytes,
                     op == 6 ? "K and V read once: the decode step's attention over a long context"
                             : "inputs read once, output written once");
        }
        xhal_tensor_destroy(c.a);
        xhal_tensor_destroy(c.b);
        xhal_tensor_destroy(c.w);
        xhal_tensor_destroy(c.bias);
        xhal_tensor_destroy(c.o);
        xb_add(e, &r);
    }
}

/* ------------------------------------------------------------------------- */
/* dispatch overhead                                                          */
/* ------------------------------------------------------------------------- */
#define XB_TINY 16

typedef struct disp_ctx {
    xb_dev *d;
    xhal_tensor *a, *b, *o;
    int iters;
    int sync_each;
} disp_ctx;

static int disp_body(void *vc, char *err, size_t errsize)
{
    disp_ctx *c = vc;
    for (int i = 0; i < c->iters; i++) {
        xhal_status st = xhal_add(c->d->stream, c->a, c->b, c->o);
        if (st == XHAL_OK && c->sync_each) st = xhal_stream_synchronize(c->d->stream);
        if (st != XHAL_OK) {
            snprintf(err, errsize, "add: %s", xhal_last_error());
            return -1;
        }
    }
    return c->sync_each ? 0 : sync_or(c->d, XHAL_OK, "synchronize", err, errsize);
}

/* the raw call on the CPU: a C loop the compiler cannot drop (called through a volatile pointer) */
static void raw_add(const float *a, const float *b, float *o, int n)
{
    for (int i = 0; i < n; i++) o[i] = a[i] + b[i];
}
static void (*volatile raw_add_ptr)(const float *, const float *, float *, int) = raw_add;

typedef struct raw_ctx {
    float a[XB_TINY], b[XB_TINY], o[XB_TINY];
    int iters;
} raw_ctx;

static int raw_body(void *vc, char *err, size_t errsize)
{
    (void)err;
    (void)errsize;
    raw_ctx *c = vc;
    for (int i = 0; i < c->iters; i++) raw_add_ptr(c->a, c->b, c->o, XB_TINY);
    return 0;
}

void xb_suite_dispatch(xb_env *e, xb_dev *d)
{
    int iters = e->opts->quick ? 200 : (d->is_cpu ? 20000 : 2000);
    int reps = e->opts->quick ? 5 : 21;
    int64_t shape[1] = {XB_TINY};
    char err[512] = "";
    if (!xb_want(e, "add of 16 floats, sync each") && !xb_want(e, "add of 16 floats, queued, one sync")) return;
    disp_ctx c = {d, NULL, NULL, NULL, iters, 1};
    c.a = mk(d, XHAL_DTYPE_F32, 1, shape, 1.0, err, sizeof err);
    if (c.a) c.b = mk(d, XHAL_DTYPE_F32, 1, shape, 2.0, err, sizeof err);
    if (c.b) c.o = mk(d, XHAL_DTYPE_F32, 1, shape, 0.0, err, sizeof err);
    double smp[XB_MAXREPS];
    for (int mode = 0; mode < 2; mode++) {
        xb_result r;
        xb_result_init(&r, d->info.spec, "dispatch", "us");
        r.higher_is_better = 0;
        r.reps = reps;
        snprintf(r.dtype, sizeof r.dtype, "f32");
        snprintf(r.shape, sizeof r.shape, "[%d]", XB_TINY);
        snprintf(r.name, sizeof r.name, "add of %d floats, %s", XB_TINY, mode == 0 ? "sync each" : "queued, one sync");
        c.sync_each = mode == 0;
        if (!c.o || xb_time(NULL, disp_body, &c, 1, reps, smp, NULL, err, sizeof err) != 0) {
            r.failed = 1;
            snprintf(r.note, sizeof r.note, "%s", err);
            xb_add(e, &r);
            continue;
        }
        for (int i = 0; i < reps; i++) smp[i] = smp[i] * 1e6 / iters;
        xb_stats(smp, reps, &r.median, &r.min, &r.max);
        snprintf(r.note, sizeof r.note, "%d calls per sample%s", iters,
                 mode == 0 ? ", xhal_add then xhal_stream_synchronize each" : ", then one synchronize");
        if (d->is_cpu) {
            raw_ctx rc;
            for (int i = 0; i < XB_TINY; i++) rc.a[i] = 1.0f, rc.b[i] = 2.0f;
            rc.iters = iters * 10;
            double ps[XB_MAXREPS];
            xb_time(NULL, raw_body, &rc, 1, reps, ps, NULL, err, sizeof err);
            for (int i = 0; i < reps; i++) ps[i] = ps[i] * 1e6 / rc.iters;
            double m, lo, hi;
            xb_stats(ps, reps, &m, &lo, &hi);
            xb_set_peer(&r, "C loop", m, lo, hi);
            char extra[96];
            snprintf(extra, sizeof extra, "; overhead above the raw call %.3f us", r.median - m);
            strncat(r.note, extra, sizeof r.note - strlen(r.note) - 1);
        } else if (d->is_opencl) {
            double ps[XB_MAXREPS];
            char perr[256] = "";
            if (xb_ocl_raw_dispatch(d, XB_TINY, mode == 0 ? iters : -iters, reps, ps, perr, sizeof perr) == 0) {
                double m, lo, hi;
                xb_stats(ps, reps, &m, &lo, &hi);
                xb_set_peer(&r, mode == 0 ? "clEnqueueNDRange+clFinish" : "clEnqueueNDRange", m, lo, hi);
                char extra[96];
                snprintf(extra, sizeof extra, "; overhead above the raw call %.3f us", r.median - m);
                strncat(r.note, extra, sizeof r.note - strlen(r.note) - 1);
            } else {
                xb_peer_absent(&r, "OpenCL", perr);
            }
        }
        xb_add(e, &r);
        if (r.peer_ok) {
            /* the figure the target is about, machine-readable on its own */
            xb_result ov = r;
            ov.peer[0] = 0;
            ov.peer_ok = 0;
            ov.ratio = 0;
            ov.event_median = -1.0;
            snprintf(ov.name, sizeof ov.name, "add of %d floats, %s, above raw", XB_TINY,
                     mode == 0 ? "sync each" : "queued");
            ov.median = ov.min = ov.max = r.median - r.peer_median;
            snprintf(ov.note, sizeof ov.note, "median of xhal minus median of the raw call (%s)", r.peer);
            xb_add(e, &ov);
        }
    }
    xhal_tensor_destroy(c.a);
    xhal_tensor_destroy(c.b);
    xhal_tensor_destroy(c.o);
}

/* ------------------------------------------------------------------------- */
/* transfers                                                                  */
/* ------------------------------------------------------------------------- */
typedef struct xfer_ctx {
    xb_dev *d;
    xhal_tensor *t;
    void *host;
    void *host2;
    uint64_t bytes;
    int dir; /* 0 write (host->device), 1 read, 2 memcpy peer */
} xfer_ctx;

static int xfer_body(void *vc, char *err, size_t errsize)
{
    xfer_ctx *c = vc;
    xhal_status st;
    if (c->dir == 2) {
        memcpy(c->host2, c->host, c->bytes);
        return 0;
    }
    st = c->dir == 0 ? xhal_tensor_write(c->d->stream, c->t, c->host, c->bytes)
                     : xhal_tensor_read(c->d->stream, c->t, c->host, c->bytes);
    if (st != XHAL_OK) {
        snprintf(err, errsize, "%s: %s", c->dir == 0 ? "tensor_write" : "tensor_read", xhal_last_error());
        return -1;
    }
    return 0;
}

void xb_suite_transfer(xb_env *e, xb_dev *d)
{
    int64_t n = e->opts->quick ? ((int64_t)1 << 18) : ((int64_t)1 << 24); /* floats */
    uint64_t bytes = (uint64_t)n * 4;
    char err[512] = "";
    if (!xb_want(e, "host->device") && !xb_want(e, "device->host")) return;
    xfer_ctx c = {d, NULL, NULL, NULL, bytes, 0};
    c.t = mk(d, XHAL_DTYPE_F32, 1, &n, 0.0, err, sizeof err);
    c.host = malloc(bytes);
    c.host2 = malloc(bytes);
    if (c.host) memset(c.host, 1, bytes);
    if (c.host2) memset(c.host2, 2, bytes);
    for (int dir = 0; dir < 2; dir++) {
        xb_result r;
        xb_result_init(&r, d->info.spec, "transfer", "GB/s");
        r.reps = e->reps;
        snprintf(r.dtype, sizeof r.dtype, "f32");
        snprintf(r.shape, sizeof r.shape, "%llu bytes", (unsigned long long)bytes);
        snprintf(r.name, sizeof r.name, "%s %.0f MiB, pageable", dir == 0 ? "host->device" : "device->host",
                 (double)bytes / 1048576.0);
        c.dir = dir;
        double smp[XB_MAXREPS];
        if (!c.t || !c.host || !c.host2) {
            r.failed = 1;
            snprintf(r.note, sizeof r.note, "%s", c.t ? "out of host memory" : err);
        } else if (xb_time(NULL, xfer_body, &c, e->warmup, r.reps, smp, NULL, err, sizeof err) != 0) {
            r.failed = 1;
            snprintf(r.note, sizeof r.note, "%s", err);
        } else {
            xb_rate(smp, r.reps, (double)bytes, 1e-9, &r.median, &r.min, &r.max);
            snprintf(r.note, sizeof r.note,
                     "xhal_tensor_%s from malloc'd (pageable) host memory; the public API has no pinned "
                     "host allocation, so pinned is not measured%s",
                     dir == 0 ? "write" : "read",
                     (d->info.caps & XHAL_CAP_HOST_MEMORY) ? "; device memory is host memory here, "
                                                             "so this is a host memcpy through xhal"
                                                           : "");
            if (d->info.caps & XHAL_CAP_HOST_MEMORY) {
                c.dir = 2;
                double ps[XB_MAXREPS];
                xb_time(NULL, xfer_body, &c, e->warmup, r.reps, ps, NULL, err, sizeof err);
                double m, lo, hi;
                xb_rate(ps, r.reps, (double)bytes, 1e-9, &m, &lo, &hi);
                xb_set_peer(&r, "memcpy", m, lo, hi);
            }
        }
        xb_add(e, &r);
    }
    xhal_tensor_destroy(c.t);
    free(c.host);
    free(c.host2);
}
