/*
 * cpu_test_util.h - harness for testing the CPU backend plugin directly: it dlopens
 * libxhal-cpu.so, hands it a minimal host_services, and builds op descriptors by hand.
 * Tensors keep a host mirror of their whole buffer; bytes of the buffer outside the
 * view are filled with a guard pattern and checked after every op.
 */
#ifndef XHAL_CPU_TEST_UTIL_H
#define XHAL_CPU_TEST_UTIL_H

#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xhal/xhal_backend.h"
#include "xhal/plugin/xhal_half.h"
#include "xhal/plugin/xhal_names.h"
#include "xtest.h"

/* ---- host services ---- */
static char g_err[2048];
static xhal_status g_err_status;
static const char *g_fail_site; /* inject_fault answers yes for this site */
static int g_fault_hits;

static inline void h_log(int level, const char *backend, const char *fmt, ...)
{
    if (!getenv("XHAL_TEST_VERBOSE")) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[%d %s] ", level, backend);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
static inline xhal_status h_set_error(xhal_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_err, sizeof(g_err), fmt, ap);
    va_end(ap);
    g_err_status = st;
    return st;
}
/* when > 0, counts host allocations down and fails the one that reaches 0 */
static int g_alloc_countdown;
static inline int alloc_fails(void) { return g_alloc_countdown > 0 && --g_alloc_countdown == 0; }
static inline void *h_alloc(size_t n) { return alloc_fails() ? NULL : malloc(n); }
static inline void *h_calloc(size_t c, size_t n) { return alloc_fails() ? NULL : calloc(c, n); }
static inline void h_free(void *p) { free(p); }
static inline int h_fault(const char *site)
{
    if (g_fail_site && strcmp(site, g_fail_site) == 0) {
        g_fault_hits++;
        return 1;
    }
    return 0;
}

static xhal_host_services g_host = {XHAL_BACKEND_ABI_VERSION,
                                    sizeof(xhal_host_services),
                                    h_log,
                                    h_set_error,
                                    h_alloc,
                                    h_calloc,
                                    h_free,
                                    h_fault,
                                    NULL,
                                    NULL,
                                    NULL,
                                    NULL,
                                    NULL};

static const xhal_backend_table *T_;
static void *S_;      /* plugin state */
static void *STREAM_; /* one stream */

static inline const char *str_or_empty(const char *s) { return s ? s : ""; }
static inline int msg_has(const char *sub) { return sub == NULL || strstr(g_err, sub) != NULL; }

/* Expect status st and, when substr is not NULL, a message containing it. */
#define CHECK_ST(expr, st, substr)                                                                                  \
    do {                                                                                                            \
        xtest_checks_++;                                                                                            \
        g_err[0] = '\0';                                                                                            \
        xhal_status s_ = (expr);                                                                                    \
        if (s_ != (st)) {                                                                                           \
            xtest_failures_++;                                                                                      \
            fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d\n", __FILE__, __LINE__, #expr, (int)s_, g_err, \
                    (int)(st));                                                                                     \
        } else if (!msg_has(substr)) {                                                                              \
            xtest_failures_++;                                                                                      \
            fprintf(stderr, "%s:%d: %s: message '%s' lacks '%s'\n", __FILE__, __LINE__, #expr, g_err,               \
                    str_or_empty(substr));                                                                          \
        }                                                                                                           \
    } while (0)

/* ---- dtypes ---- */
static inline size_t dt_size(int dt)
{
    static const size_t s[] = {0, 4, 2, 2, 8, 1, 1, 4, 8};
    return s[dt];
}
static inline const char *dt_name(int dt)
{
    static const char *n[] = {"invalid", "f32", "f16", "bf16", "f64", "i8", "u8", "i32", "i64"};
    return n[dt];
}
static inline int dt_float(int dt) { return dt >= XHAL_DTYPE_F32 && dt <= XHAL_DTYPE_F64; }

/* The test's own, deliberately naive, encoders: v must be representable (floats: any
 * f32 value, rounded by the f32->half helpers; ints: in range). */
static inline double clampd(double v, double lo, double hi) { return v != v ? 0 : v < lo ? lo : v > hi ? hi : v; }
static inline void enc(int dt, void *p, double v)
{
    switch (dt) {
        case XHAL_DTYPE_F32: {
            float f = (float)v;
            memcpy(p, &f, 4);
            break;
        }
        case XHAL_DTYPE_F16: {
            uint16_t h = xhal_f32_to_f16((float)v);
            memcpy(p, &h, 2);
            break;
        }
        case XHAL_DTYPE_BF16: {
            uint16_t h = xhal_f32_to_bf16((float)v);
            memcpy(p, &h, 2);
            break;
        }
        case XHAL_DTYPE_F64: memcpy(p, &v, 8); break;
        /* integers saturate (a u8 table filled from [-100, 100) holds [0, 100)) */
        case XHAL_DTYPE_I8: {
            int8_t i = (int8_t)clampd(v, -128, 127);
            memcpy(p, &i, 1);
            break;
        }
        case XHAL_DTYPE_U8: {
            uint8_t i = (uint8_t)clampd(v, 0, 255);
            memcpy(p, &i, 1);
            break;
        }
        case XHAL_DTYPE_I32: {
            int32_t i = (int32_t)clampd(v, -2147483648.0, 2147483647.0);
            memcpy(p, &i, 4);
            break;
        }
        default: {
            int64_t i = v >= 9223372036854775807.0 ? INT64_MAX : v <= -9223372036854775808.0 ? INT64_MIN : (int64_t)v;
            memcpy(p, &i, 8);
            break;
        }
    }
}
static inline double dec(int dt, const void *p)
{
    switch (dt) {
        case XHAL_DTYPE_F32: {
            float f;
            memcpy(&f, p, 4);
            return f;
        }
        case XHAL_DTYPE_F16: {
            uint16_t h;
            memcpy(&h, p, 2);
            return xhal_f16_to_f32(h);
        }
        case XHAL_DTYPE_BF16: {
            uint16_t h;
            memcpy(&h, p, 2);
            return xhal_bf16_to_f32(h);
        }
        case XHAL_DTYPE_F64: {
            double d;
            memcpy(&d, p, 8);
            return d;
        }
        case XHAL_DTYPE_I8: {
            int8_t i;
            memcpy(&i, p, 1);
            return i;
        }
        case XHAL_DTYPE_U8: {
            uint8_t i;
            memcpy(&i, p, 1);
            return i;
        }
        case XHAL_DTYPE_I32: {
            int32_t i;
            memcpy(&i, p, 4);
            return i;
        }
        default: {
            int64_t i;
            memcpy(&i, p, 8);
            return (double)i;
        }
    }
}
/* v as stored in dt (what enc+dec gives) */
static inline double rnd(int dt, double v)
{
    unsigned char b[8];
    enc(dt, b, v);
    return dec(dt, b);
}

/* ---- tensors ---- */
typedef struct T {
    xhal_tensor_desc d;
    unsigned char *host; /* mirror of the whole buffer */
    unsigned char *mask; /* 1 where a byte belongs to an element of the view */
    size_t bytes;
} T;

#define GUARD 0xA5

static inline int64_t tnumel(const T *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->d.ndim; i++) n *= t->d.shape[i];
    return n;
}

/* byte offset in the buffer of row-major flat index i */
static inline size_t taddr(const T *t, int64_t i)
{
    int64_t off = 0;
    for (int k = t->d.ndim - 1; k >= 0; k--) {
        off += (i % t->d.shape[k]) * t->d.strides[k];
        i /= t->d.shape[k];
    }
    return (size_t)t->d.offset + (size_t)off * dt_size(t->d.dtype);
}

/* A view of dtype dt: strides NULL is row-major; off is in elements. */
static inline T tnew(int dt, int nd, const int64_t *shape, const int64_t *strides, int64_t off)
{
    T t;
    memset(&t, 0, sizeof(t));
    t.d.dtype = dt;
    t.d.ndim = nd;
    for (int k = 0; k < XHAL_MAX_DIMS; k++) {
        t.d.shape[k] = 1;
        t.d.strides[k] = 0;
    }
    int64_t s = 1, maxoff = 0;
    for (int k = nd - 1; k >= 0; k--) {
        t.d.shape[k] = shape[k];
        t.d.strides[k] = strides ? strides[k] : s;
        s *= shape[k];
        maxoff += (shape[k] - 1) * t.d.strides[k];
    }
    t.d.offset = (uint64_t)off * dt_size(dt);
    t.bytes = (size_t)(off + maxoff + 1) * dt_size(dt) + 16; /* a guard tail too */
    t.host = malloc(t.bytes);
    t.mask = calloc(t.bytes, 1);
    memset(t.host, GUARD, t.bytes);
    int64_t n = tnumel(&t);
    for (int64_t i = 0; i < n; i++) memset(t.mask + taddr(&t, i), 1, dt_size(dt));
    if (T_->buffer_alloc(S_, 0, t.bytes, &t.d.buffer) != XHAL_OK) {
        fprintf(stderr, "buffer_alloc(%zu) failed: %s\n", t.bytes, g_err);
        exit(2);
    }
    T_->write(S_, STREAM_, t.d.buffer, 0, t.host, t.bytes);
    return t;
}
static inline T tcontig(int dt, int nd, const int64_t *shape) { return tnew(dt, nd, shape, NULL, 0); }

static inline void tfree(T *t)
{
    T_->buffer_free(S_, t->d.buffer);
    free(t->host);
    free(t->mask);
}

static inline double tget(const T *t, int64_t i) { return dec(t->d.dtype, t->host + taddr(t, i)); }
static inline void tset(T *t, int64_t i, double v) { enc(t->d.dtype, t->host + taddr(t, i), v); }
static inline void tpush(T *t) { T_->write(S_, STREAM_, t->d.buffer, 0, t->host, t->bytes); }

/* Read the buffer back; every byte outside the view must still be the guard. */
static inline void tpull(T *t)
{
    unsigned char *now = malloc(t->bytes);
    T_->read(S_, STREAM_, t->d.buffer, 0, now, t->bytes);
    size_t bad = 0;
    for (size_t i = 0; i < t->bytes; i++)
        if (!t->mask[i] && now[i] != t->host[i]) bad++;
    xtest_checks_++;
    if (bad) {
        xtest_failures_++;
        fprintf(stderr, "  %zu guard bytes outside the view were overwritten\n", bad);
    }
    memcpy(t->host, now, t->bytes);
    free(now);
}

/* ---- random values ---- */
static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static inline double urand(void) /* [0, 1) */
{
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(g_rng >> 11) * (1.0 / 9007199254740992.0);
}
/* fill the view with values in [lo, hi), rounded to the dtype */
static inline void tfill_rand(T *t, double lo, double hi)
{
    int64_t n = tnumel(t);
    for (int64_t i = 0; i < n; i++) {
        double v = lo + (hi - lo) * urand();
        if (!dt_float(t->d.dtype)) v = floor(v);
        tset(t, i, v);
    }
    tpush(t);
}

/* ---- ops ---- */
static inline xhal_op_desc desc_new(int op)
{
    xhal_op_desc d;
    memset(&d, 0, sizeof(d));
    d.struct_size = sizeof(d);
    d.op = op;
    return d;
}
static inline void desc_in(xhal_op_desc *d, const T *t) { d->inputs[d->n_inputs++] = t->d; }
static inline void desc_out(xhal_op_desc *d, const T *t) { d->outputs[d->n_outputs++] = t->d; }

/* op_supported then op_run */
static inline xhal_status run_op(const xhal_op_desc *d)
{
    xhal_status s = T_->op_supported(S_, 0, d);
    if (s != XHAL_OK) return s;
    return T_->op_run(S_, STREAM_, d);
}

/* Compare out (pulled) with ref[] (row-major); |got-ref| <= atol + rtol*|ref|; NaN must
 * match NaN and infinities must match. One CHECK per tensor; prints the first misses. */
static int g_cmp_ctx_printed;
static inline void compare(const char *what, const T *out, const double *ref, double atol, double rtol)
{
    int64_t n = tnumel(out), bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double g = tget(out, i), r = ref[i];
        int ok;
        if (isnan(r))
            ok = isnan(g);
        else if (isinf(r))
            ok = g == r;
        else
            ok = fabs(g - r) <= atol + rtol * fabs(r);
        if (!ok) {
            if (bad < 4)
                fprintf(stderr, "  %s [%s]: element %lld = %.9g, expected %.9g\n", what, dt_name(out->d.dtype),
                        (long long)i, g, r);
            bad++;
        }
    }
    xtest_checks_++;
    if (bad) {
        xtest_failures_++;
        fprintf(stderr, "%s [%s]: %lld of %lld elements wrong\n", what, dt_name(out->d.dtype), (long long)bad,
                (long long)n);
    }
    g_cmp_ctx_printed = 0;
}

/* default tolerances for a result rounded once into dt */
static inline double rtol_of(int dt)
{
    switch (dt) {
        case XHAL_DTYPE_F32: return 2e-6;
        case XHAL_DTYPE_F16: return 1.5e-3;
        case XHAL_DTYPE_BF16: return 1e-2;
        case XHAL_DTYPE_F64: return 1e-12;
        default: return 0;
    }
}

static inline int open_plugin(const char *path)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
        return 0;
    }
    xhal_backend_entry_fn entry;
    void *sym = dlsym(h, XHAL_BACKEND_ENTRY_SYMBOL);
    memcpy(&entry, &sym, sizeof(entry));
    if (!entry) return 0;
    T_ = entry(XHAL_BACKEND_ABI_VERSION, &g_host);
    if (!T_) return 0;
    if (T_->init(&g_host, &S_) != XHAL_OK) return 0;
    if (T_->stream_create(S_, 0, &STREAM_) != XHAL_OK) return 0;
    return 1;
}

#endif
