/*
 * test_opencl_backend.c - drives libxhal-opencl.so through the backend ABI alone: a
 * minimal host_services, op descriptors filled by hand, results compared with naive
 * double-precision loops. Every output view sits inside a larger buffer filled with a
 * sentinel, and the bytes outside the view are checked to be untouched.
 *
 * Usage: test_opencl_backend            run everything
 *        test_opencl_backend --cache-child   (internal) build the op program once, print
 *                                            how many programs were compiled / loaded
 */
#include <dlfcn.h>
#include <pthread.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "xhal/xhal_backend.h"
#include "xhal/plugin/xhal_half.h"
#include "xhal/plugin/xhal_names.h"

/* ------------------------------------------------------------------ checks */
static int g_checks, g_failures;
#define CHECK(c)                                                                  \
    do {                                                                          \
        g_checks++;                                                               \
        if (!(c)) {                                                               \
            g_failures++;                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); \
        }                                                                         \
    } while (0)
#define CHECK_ST(expr, want)                                                                                        \
    do {                                                                                                            \
        g_checks++;                                                                                                 \
        xhal_status s_ = (expr);                                                                                    \
        if (s_ != (want)) {                                                                                         \
            g_failures++;                                                                                           \
            fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d\n", __FILE__, __LINE__, #expr, (int)s_, g_err, \
                    (int)(want));                                                                                   \
        }                                                                                                           \
    } while (0)
#define CHECK_OK(expr) CHECK_ST(expr, XHAL_OK)

/* ------------------------------------------------------------------ host services */
static _Thread_local char g_err[8192];
static int g_log_level;
static int g_compiled, g_loaded, g_ignored;
static const char *g_fault_site;

static void h_log(int level, const char *backend, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (strstr(msg, "compiled from source")) g_compiled++;
    if (strstr(msg, "loaded from cache")) g_loaded++;
    if (strstr(msg, "ignored, rebuilding") || strstr(msg, "not used (anyone could plant")) g_ignored++;
    if (level <= g_log_level) fprintf(stderr, "[%s] %s\n", backend, msg);
}

static xhal_status h_set_error(xhal_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_err, sizeof g_err, fmt, ap);
    va_end(ap);
    return st;
}

static int h_fault(const char *site) { return g_fault_site && strcmp(site, g_fault_site) == 0; }

static const xhal_host_services g_host = {
    .abi_version = XHAL_BACKEND_ABI_VERSION,
    .struct_size = sizeof(xhal_host_services),
    .log = h_log,
    .set_error = h_set_error,
    .host_alloc = malloc,
    .host_calloc = calloc,
    .host_free = free,
    .inject_fault = h_fault,
};

static const xhal_backend_table *B;
static void *S; /* plugin state */
static void *Q; /* stream on device 0 */
static int g_fp64;

/* ------------------------------------------------------------------ dtypes */
static size_t dsize(int dt)
{
    static const size_t s[] = {0, 4, 2, 2, 8, 1, 1, 4, 8};
    return s[dt];
}
static const char *dname(int dt)
{
    static const char *n[] = {"?", "f32", "f16", "bf16", "f64", "i8", "u8", "i32", "i64"};
    return n[dt];
}
static int is_int(int dt) { return dt >= XHAL_DTYPE_I8; }

/* The value v stored as dtype dt (cast rules of xhal_copy). */
static int64_t to_int(double v, int dt)
{
    double lo, hi;
    if (isnan(v)) return 0;
    switch (dt) {
        case XHAL_DTYPE_I8:
            lo = -128;
            hi = 127;
            break;
        case XHAL_DTYPE_U8:
            lo = 0;
            hi = 255;
            break;
        case XHAL_DTYPE_I32:
            lo = -2147483648.0;
            hi = 2147483647.0;
            break;
        default:
            if (v <= -9223372036854775808.0) return INT64_MIN;
            if (v >= 9223372036854775808.0) return INT64_MAX;
            return (int64_t)v;
    }
    if (v <= lo) return (int64_t)lo;
    if (v >= hi) return (int64_t)hi;
    return (int64_t)v;
}

static float f32_odd(double d) /* d rounded to f32 to odd: one correct rounding to f16 after */
{
    float f = (float)d;
    if (isnan(d) || (double)f == d || isinf(f)) return f;
    uint32_t u;
    memcpy(&u, &f, 4);
    if (fabs((double)f) > fabs(d)) u -= 1u;
    u |= 1u;
    memcpy(&f, &u, 4);
    return f;
}

static void put(void *p, int dt, double v)
{
    switch (dt) {
        case XHAL_DTYPE_F32: {
            float f = (float)v;
            memcpy(p, &f, 4);
            break;
        }
        case XHAL_DTYPE_F16: {
            uint16_t h = xhal_f32_to_f16(f32_odd(v));
            memcpy(p, &h, 2);
            break;
        }
        case XHAL_DTYPE_BF16: {
            uint16_t h = xhal_f32_to_bf16(f32_odd(v));
            memcpy(p, &h, 2);
            break;
        }
        case XHAL_DTYPE_F64: memcpy(p, &v, 8); break;
        case XHAL_DTYPE_I8: {
            int8_t x = (int8_t)to_int(v, dt);
            memcpy(p, &x, 1);
            break;
        }
        case XHAL_DTYPE_U8: {
            uint8_t x = (uint8_t)to_int(v, dt);
            memcpy(p, &x, 1);
            break;
        }
        case XHAL_DTYPE_I32: {
            int32_t x = (int32_t)to_int(v, dt);
            memcpy(p, &x, 4);
            break;
        }
        default: {
            int64_t x = to_int(v, dt);
            memcpy(p, &x, 8);
            break;
        }
    }
}

static double get(const void *p, int dt)
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
            int8_t x;
            memcpy(&x, p, 1);
            return x;
        }
        case XHAL_DTYPE_U8: {
            uint8_t x;
            memcpy(&x, p, 1);
            return x;
        }
        case XHAL_DTYPE_I32: {
            int32_t x;
            memcpy(&x, p, 4);
            return x;
        }
        default: {
            int64_t x;
            memcpy(&x, p, 8);
            return (double)x;
        }
    }
}
/* Relative tolerance of a dtype for values computed in f32. */
static double tol_of(int dt)
{
    switch (dt) {
        case XHAL_DTYPE_F16: return 4e-3;
        case XHAL_DTYPE_BF16: return 3e-2;
        case XHAL_DTYPE_F64: return 1e-9;
        default: return 2e-5;
    }
}

/* ------------------------------------------------------------------ tensors */
#define SENTINEL 0xA5

typedef struct T {
    int dt, ndim;
    int64_t shape[8], strides[8];
    int64_t off;        /* elements */
    size_t bytes;       /* buffer size */
    void *buf;          /* plugin buffer */
    unsigned char *img; /* host image of the whole buffer */
    double *val;        /* logical values, row-major */
    int64_t n;
} T;

static int64_t numel_of(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int k = 0; k < ndim; k++) n *= shape[k];
    return n;
}

/* element offset (in elements, from the view's start) of logical index i */
static int64_t elem_off(const T *t, int64_t i)
{
    int64_t o = 0;
    for (int k = t->ndim - 1; k >= 0; k--) {
        o += (i % t->shape[k]) * t->strides[k];
        i /= t->shape[k];
    }
    return o;
}

/* A view over a fresh buffer: strides NULL = row-major; perm (may be NULL) lays the
 * memory out in the order of perm (a transposed view); pad elements in front. */
static T mk(int dt, int ndim, const int64_t *shape, const int *perm, int64_t pad)
{
    T t;
    memset(&t, 0, sizeof t);
    t.dt = dt;
    t.ndim = ndim;
    for (int k = 0; k < 8; k++) t.shape[k] = k < ndim ? shape[k] : 1;
    /* memory order: dims perm[0] (outer) .. perm[ndim-1] (inner) */
    int64_t st = 1;
    for (int j = ndim - 1; j >= 0; j--) {
        int k = perm ? perm[j] : j;
        t.strides[k] = st;
        st *= shape[k];
    }
    t.off = pad;
    t.n = numel_of(ndim, shape);
    t.bytes = (size_t)(pad + st + 3) * dsize(dt);
    t.img = malloc(t.bytes);
    memset(t.img, SENTINEL, t.bytes);
    t.val = calloc((size_t)(t.n ? t.n : 1), sizeof(double));
    CHECK_OK(B->buffer_alloc(S, 0, t.bytes, &t.buf));
    return t;
}

/* broadcast view: dims in bdims get stride 0 (shape stays) */
static void set_bcast(T *t, int dim) { t->strides[dim] = 0; }

static void upload(T *t)
{
    memset(t->img, SENTINEL, t->bytes);
    for (int64_t i = 0; i < t->n; i++) {
        unsigned char *p = t->img + (size_t)(t->off + elem_off(t, i)) * dsize(t->dt);
        put(p, t->dt, t->val[i]);
        t->val[i] = get(p, t->dt); /* the value as stored */
    }
    CHECK_OK(B->write(S, Q, t->buf, 0, t->img, t->bytes));
}

/* fill with pseudo-random values in [lo, hi) and upload */
static uint64_t g_rng = 12345;
static double rnd(double lo, double hi)
{
    g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (double)(g_rng >> 11) / 9007199254740992.0;
}
static void fill_rand(T *t, double lo, double hi)
{
    for (int64_t i = 0; i < t->n; i++) t->val[i] = rnd(lo, hi);
    upload(t);
}

/* Download; returns 1 if every byte outside the view is still the sentinel (or its
 * original image when keep is set). */
static int download(T *t, double *vals)
{
    unsigned char *img = malloc(t->bytes);
    unsigned char *mask = calloc(t->bytes, 1);
    int guard_ok = 1;
    CHECK_OK(B->stream_sync(S, Q));
    CHECK_OK(B->read(S, Q, t->buf, 0, img, t->bytes));
    size_t es = dsize(t->dt);
    for (int64_t i = 0; i < t->n; i++) {
        size_t o = (size_t)(t->off + elem_off(t, i)) * es;
        vals[i] = get(img + o, t->dt);
        memset(mask + o, 1, es);
    }
    for (size_t b = 0; b < t->bytes; b++)
        if (!mask[b] && img[b] != t->img[b]) guard_ok = 0;
    free(img);
    free(mask);
    return guard_ok;
}

static void drop(T *t)
{
    B->buffer_free(S, t->buf);
    free(t->img);
    free(t->val);
}

static xhal_tensor_desc td(const T *t)
{
    xhal_tensor_desc d;
    memset(&d, 0, sizeof d);
    d.dtype = t->dt;
    d.ndim = t->ndim;
    for (int k = 0; k < 8; k++) {
        d.shape[k] = k < t->ndim ? t->shape[k] : 1;
        d.strides[k] = k < t->ndim ? t->strides[k] : 0;
    }
    d.buffer = t->buf;
    d.offset = (uint64_t)t->off * dsize(t->dt);
    return d;
}

static xhal_op_desc desc_of(int op, int nin, const T *const *in, const T *out)
{
    xhal_op_desc d;
    memset(&d, 0, sizeof d);
    d.struct_size = sizeof d;
    d.op = op;
    d.n_inputs = nin;
    d.n_outputs = out ? 1 : 0;
    for (int i = 0; i < nin; i++) d.inputs[i] = td(in[i]);
    if (out) d.outputs[0] = td(out);
    return d;
}

static xhal_status run(const xhal_op_desc *d)
{
    xhal_status st = B->op_supported(S, 0, d);
    if (st != XHAL_OK) return st;
    st = B->op_run(S, Q, d);
    if (st != XHAL_OK) return st;
    return B->stream_sync(S, Q);
}

/* Compare out (downloaded) with want; tolerance rel*(|want|+scale) */
static int g_verbose_fail = 0;
static void compare(const char *what, T *out, const double *want, double rel, double absmag)
{
    double *got = malloc(sizeof(double) * (size_t)(out->n ? out->n : 1));
    int guard = download(out, got);
    int bad = 0;
    for (int64_t i = 0; i < out->n; i++) {
        double w = want[i], g = got[i];
        int ok;
        if (isnan(w))
            ok = isnan(g);
        else if (isinf(w))
            ok = g == w;
        else
            ok = fabs(g - w) <= rel * (fabs(w) + absmag);
        if (!ok) {
            if (bad < 5 || g_verbose_fail)
                fprintf(stderr, "  %s [%s]: element %lld: got %.9g want %.9g\n", what, dname(out->dt), (long long)i, g,
                        w);
            bad++;
        }
    }
    g_checks++;
    if (bad || !guard) {
        g_failures++;
        fprintf(stderr, "FAIL %s [%s]: %d wrong elements%s\n", what, dname(out->dt), bad,
                guard ? "" : ", bytes outside the output view were modified");
    }
    free(got);
}

static double rstore(int dt, double v) /* v rounded to dtype */
{
    unsigned char b[8];
    put(b, dt, v);
    return get(b, dt);
}

/* float dtypes this device computes in */
static int float_dts[4], n_float_dts;

/* ------------------------------------------------------------------ tests */

static void test_info(void)
{
    int n = B->device_count(S);
    for (int i = 0; i < n; i++) {
        xhal_device_info info;
        memset(&info, 0, sizeof info);
        CHECK_OK(B->device_info(S, i, &info));
        printf("device %d: %s | vendor %s | family %s | arch %s | driver %s | pci '%s' | "
               "%llu MiB | %d CUs | caps 0x%x\n",
               i, info.name, info.vendor, info.family, info.arch, info.driver_version, info.pci_bus_id,
               (unsigned long long)(info.total_memory >> 20), info.compute_units, info.caps);
        CHECK(info.name[0] && info.family[0] && info.driver_version[0]);
        CHECK(strcmp(info.backend, "opencl") == 0);
        CHECK(info.total_memory > 0 && info.compute_units > 0);
        CHECK(info.caps & XHAL_CAP_CUSTOM_KERNELS);
        CHECK(info.caps & XHAL_CAP_EVENT_TIMING);
        CHECK(info.dtypes & XHAL_DTYPE_BIT(XHAL_DTYPE_BF16));
        if (i == 0) g_fp64 = (info.caps & XHAL_CAP_F64) != 0;
    }
}

static void test_copy(void)
{
    static const int64_t sizes[] = {1, 3, 17, 127, 1000};
    /* contiguous same-dtype copies (buffer copy path) and strided ones */
    for (int si = 0; si < 5; si++) {
        int64_t n = sizes[si];
        T a = mk(XHAL_DTYPE_F32, 1, &n, NULL, 3), o = mk(XHAL_DTYPE_F32, 1, &n, NULL, 1);
        fill_rand(&a, -5, 5);
        upload(&o);
        const T *in[1] = {&a};
        xhal_op_desc d = desc_of(XHAL_OP_COPY, 1, in, &o);
        CHECK_OK(run(&d));
        compare("copy contiguous", &o, a.val, 0, 0);
        drop(&a);
        drop(&o);
    }
    /* every dtype pair over a transposed [3,17] source into a padded destination */
    static const double special[] = {-300.7,  1e10,    -1e10,  2.5,   -0.5,      0.49999,
                                     65519.0, 70000.0, -129.0, 255.9, 1.0 / 3.0, 3e-6};
    for (int sdt = 1; sdt <= 8; sdt++) {
        for (int ddt = 1; ddt <= 8; ddt++) {
            if (!g_fp64 && sdt != ddt && (sdt == XHAL_DTYPE_F64 || ddt == XHAL_DTYPE_F64)) continue;
            int64_t shape[2] = {3, 17};
            int perm[2] = {1, 0};
            T a = mk(sdt, 2, shape, perm, 5), o = mk(ddt, 2, shape, NULL, 2);
            for (int64_t i = 0; i < a.n; i++)
                a.val[i] = i < 12 ? special[i] : (is_int(sdt) ? rnd(-100, 100) : rnd(-1000, 1000));
            if (!is_int(sdt)) a.val[12] = NAN;
            if (sdt == XHAL_DTYPE_I64) a.val[13] = 9.0e15;
            /* 2^24 + 2^16 + 1: f32 rounding then bf16 rounding would give a different bf16
             * than one correct rounding */
            if (sdt == XHAL_DTYPE_I32 || sdt == XHAL_DTYPE_I64) a.val[14] = 16777216.0 + 65536.0 + 1.0;
            if (sdt == XHAL_DTYPE_F64) a.val[14] = 1.0 + 1.0 / 1024 / 2 + 1e-12; /* f16 tie + tiny */
            upload(&a);
            upload(&o);
            double want[51];
            for (int64_t i = 0; i < a.n; i++) {
                double v = a.val[i];
                want[i] = rstore(ddt, v); /* integers saturate, floats round once */
            }
            const T *in[1] = {&a};
            xhal_op_desc d = desc_of(XHAL_OP_COPY, 1, in, &o);
            char what[64];
            snprintf(what, sizeof what, "copy %s->%s", dname(sdt), dname(ddt));
            CHECK_OK(run(&d));
            compare(what, &o, want, 0, 0);
            drop(&a);
            drop(&o);
        }
    }
}

static void test_fill(void)
{
    for (int dt = 1; dt <= 8; dt++) {
        int64_t shape[3] = {4, 3, 5};
        int perm[3] = {2, 0, 1};
        T o = mk(dt, 3, shape, perm, 7);
        upload(&o);
        xhal_op_desc d = desc_of(XHAL_OP_FILL, 0, NULL, &o);
        d.attrs.fill.value = -3.7;
        d.attrs.fill.bits = xhal_value_bits(dt, -3.7);
        CHECK_OK(run(&d));
        double want[60];
        for (int i = 0; i < 60; i++) want[i] = rstore(dt, -3.7);
        compare("fill", &o, want, 0, 0);
        drop(&o);
    }
}

static double ref_unary(int op, double x)
{
    switch (op) {
        case XHAL_OP_NEG: return -x;
        case XHAL_OP_ABS: return fabs(x);
        case XHAL_OP_EXP: return exp(x);
        case XHAL_OP_LOG: return log(x);
        case XHAL_OP_SQRT: return sqrt(x);
        case XHAL_OP_RSQRT: return 1 / sqrt(x);
        case XHAL_OP_TANH: return tanh(x);
        case XHAL_OP_SIGMOID: return 1 / (1 + exp(-x));
        case XHAL_OP_RELU: return x > 0 ? x : 0;
        case XHAL_OP_SILU: return x / (1 + exp(-x));
        case XHAL_OP_GELU: return 0.5 * x * (1 + erf(x / sqrt(2.0)));
        default: return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    }
}

static void test_unary(void)
{
    for (int fi = 0; fi < n_float_dts; fi++) {
        int dt = float_dts[fi];
        for (int op = XHAL_OP_NEG; op <= XHAL_OP_GELU_TANH; op++) {
            int64_t shape[2] = {17, 3};
            int perm[2] = {1, 0};
            T a = mk(dt, 2, shape, perm, 1), o = mk(dt, 2, shape, NULL, 0);
            int pos = op == XHAL_OP_LOG || op == XHAL_OP_SQRT || op == XHAL_OP_RSQRT;
            fill_rand(&a, pos ? 0.1 : -4, 4);
            upload(&o);
            double want[51];
            for (int i = 0; i < 51; i++) want[i] = ref_unary(op, a.val[i]);
            const T *in[1] = {&a};
            xhal_op_desc d = desc_of(op, 1, in, &o);
            char what[32];
            snprintf(what, sizeof what, "unary op %d", op);
            CHECK_OK(run(&d));
            compare(what, &o, want, tol_of(dt) * (dt == XHAL_DTYPE_F32 ? 5 : 1), 1e-3);
            drop(&a);
            drop(&o);
        }
        /* SCALE, in place */
        int64_t n = 1000;
        T a = mk(dt, 1, &n, NULL, 0);
        fill_rand(&a, -2, 2);
        double want[1000];
        for (int i = 0; i < 1000; i++) want[i] = 1.5 * a.val[i] - 0.25;
        const T *in[1] = {&a};
        xhal_op_desc d = desc_of(XHAL_OP_SCALE, 1, in, &a);
        d.attrs.scale.alpha = 1.5;
        d.attrs.scale.beta = -0.25;
        CHECK_OK(run(&d));
        compare("scale in place", &a, want, tol_of(dt), 1);
        drop(&a);
    }
}

static void test_binary(void)
{
    int dts[6], nd = 0;
    for (int i = 0; i < n_float_dts; i++) dts[nd++] = float_dts[i];
    dts[nd++] = XHAL_DTYPE_I32;
    dts[nd++] = XHAL_DTYPE_I64;
    for (int di = 0; di < nd; di++) {
        int dt = dts[di];
        for (int op = XHAL_OP_ADD; op <= XHAL_OP_MINIMUM; op++) {
            if (is_int(dt) && op == XHAL_OP_DIV) continue;
            /* out [5, 7, 3]; a transposed, b broadcast along dims 0 and 2 */
            int64_t shape[3] = {5, 7, 3};
            int perm[3] = {2, 1, 0};
            T a = mk(dt, 3, shape, perm, 0), b = mk(dt, 3, shape, NULL, 2), o = mk(dt, 3, shape, NULL, 1);
            fill_rand(&a, -50, 50);
            /* b: only [0, :, 0] is stored; the rest of the view aliases it */
            fill_rand(&b, 1, 9);
            double bv[7];
            for (int j = 0; j < 7; j++) bv[j] = b.val[j * 3];
            set_bcast(&b, 0);
            set_bcast(&b, 2);
            for (int64_t i = 0; i < b.n; i++) b.val[i] = bv[(i / 3) % 7] * ((i % 2) ? -1 : 1);
            /* rewrite b as a broadcast: values must be consistent, so use bv only */
            for (int64_t i = 0; i < b.n; i++) b.val[i] = bv[(i / 3) % 7];
            upload(&b);
            upload(&o);
            double want[105];
            for (int i = 0; i < 105; i++) {
                double x = a.val[i], y = b.val[i];
                if (is_int(dt)) {
                    x = (double)(int64_t)x;
                    y = (double)(int64_t)y;
                }
                switch (op) {
                    case XHAL_OP_ADD: want[i] = x + y; break;
                    case XHAL_OP_SUB: want[i] = x - y; break;
                    case XHAL_OP_MUL: want[i] = x * y; break;
                    case XHAL_OP_DIV: want[i] = x / y; break;
                    case XHAL_OP_MAXIMUM: want[i] = x > y ? x : y; break;
                    default: want[i] = x < y ? x : y; break;
                }
            }
            const T *in[2] = {&a, &b};
            xhal_op_desc d = desc_of(op, 2, in, &o);
            char what[32];
            snprintf(what, sizeof what, "binary op %d", op);
            CHECK_OK(run(&d));
            compare(what, &o, want, is_int(dt) ? 0 : tol_of(dt), 1e-2);
            drop(&a);
            drop(&b);
            drop(&o);
        }
    }
    /* i32 wrap-around */
    int64_t n = 3;
    T a = mk(XHAL_DTYPE_I32, 1, &n, NULL, 0), o = mk(XHAL_DTYPE_I32, 1, &n, NULL, 0);
    a.val[0] = 2147483647;
    a.val[1] = -5;
    a.val[2] = 7;
    upload(&a);
    upload(&o);
    const T *in[2] = {&a, &a};
    xhal_op_desc d = desc_of(XHAL_OP_ADD, 2, in, &o);
    CHECK_OK(run(&d));
    double want[3] = {-2, -10, 14};
    compare("i32 add wraps", &o, want, 0, 0);
    drop(&a);
    drop(&o);
}

static void test_reduce(void)
{
    for (int fi = 0; fi < n_float_dts; fi++) {
        int dt = float_dts[fi];
        int64_t shape[3] = {5, 127, 3};
        for (int axis = 0; axis < 3; axis++) {
            for (int op = XHAL_OP_SUM; op <= XHAL_OP_ARGMAX; op++) {
                int perm[3] = {1, 2, 0};
                T x = mk(dt, 3, shape, perm, 2);
                fill_rand(&x, -3, 3);
                if (op == XHAL_OP_ARGMAX || op == XHAL_OP_MAX) {
                    /* ties: repeat the max; a NaN in one row */
                    for (int64_t i = 0; i < x.n; i += 7) x.val[i] = 3.5;
                    x.val[x.n - 4] = NAN;
                    upload(&x);
                }
                int64_t oshape[3] = {5, 127, 3};
                oshape[axis] = 1;
                int odt = op == XHAL_OP_ARGMAX ? (axis == 1 ? XHAL_DTYPE_I64 : XHAL_DTYPE_I32) : dt;
                T o = mk(odt, 3, oshape, NULL, 1);
                upload(&o);
                int64_t R = shape[axis];
                double *want = calloc((size_t)o.n, sizeof(double));
                for (int64_t oi = 0; oi < o.n; oi++) {
                    int64_t c[3] = {oi / (oshape[1] * oshape[2]), (oi / oshape[2]) % oshape[1], oi % oshape[2]};
                    double acc = 0, best = 0;
                    int64_t bi = -1;
                    for (int64_t r = 0; r < R; r++) {
                        c[axis] = r;
                        double v = x.val[(c[0] * shape[1] + c[1]) * shape[2] + c[2]];
                        acc += v;
                        if (bi < 0 || (!isnan(best) && (isnan(v) || v > best))) {
                            best = v;
                            bi = r;
                        }
                    }
                    want[oi] = op == XHAL_OP_SUM    ? acc
                               : op == XHAL_OP_MEAN ? acc / (double)R
                               : op == XHAL_OP_MAX  ? best
                                                    : (double)bi;
                }
                const T *in[1] = {&x};
                xhal_op_desc d = desc_of(op, 1, in, &o);
                d.attrs.reduce.axis = axis;
                char what[48];
                snprintf(what, sizeof what, "reduce op %d axis %d", op, axis);
                CHECK_OK(run(&d));
                double t = op == XHAL_OP_ARGMAX ? 0 : tol_of(dt) * (op == XHAL_OP_SUM ? 4 : 1);
                compare(what, &o, want, t, 1);
                free(want);
                drop(&x);
                drop(&o);
            }
        }
    }
}

static void test_softmax(void)
{
    { /* a scalar (ndim 0): softmax is 1, exp is e^x */
        T x = mk(XHAL_DTYPE_F32, 0, NULL, NULL, 1), o = mk(XHAL_DTYPE_F32, 0, NULL, NULL, 2);
        x.val[0] = 3;
        upload(&x);
        upload(&o);
        const T *in[1] = {&x};
        xhal_op_desc d = desc_of(XHAL_OP_SOFTMAX, 1, in, &o);
        d.attrs.softmax.scale = 1;
        CHECK_OK(run(&d));
        double one = 1;
        compare("softmax scalar", &o, &one, 0, 0);
        d = desc_of(XHAL_OP_EXP, 1, in, &o);
        CHECK_OK(run(&d));
        double e3 = exp(3.0);
        compare("exp scalar", &o, &e3, 1e-6, 0);
        drop(&x);
        drop(&o);
    }
    for (int fi = 0; fi < n_float_dts; fi++) {
        int dt = float_dts[fi];
        for (int causal = 0; causal <= 1; causal++) {
            int64_t shape[3] = {2, 3, 130};
            int perm[3] = {0, 2, 1};
            T x = mk(dt, 3, shape, perm, 3), o = mk(dt, 3, shape, NULL, 0);
            fill_rand(&x, -6, 6);
            upload(&o);
            double *want = calloc((size_t)x.n, sizeof(double));
            for (int r = 0; r < 6; r++) {
                int i = r % 3;
                int lim = causal ? i + (130 - 3) : 129;
                double m = -INFINITY, s = 0;
                for (int j = 0; j <= lim; j++) m = fmax(m, 0.5 * x.val[r * 130 + j]);
                for (int j = 0; j <= lim; j++) s += exp(0.5 * x.val[r * 130 + j] - m);
                for (int j = 0; j < 130; j++) want[r * 130 + j] = j <= lim ? exp(0.5 * x.val[r * 130 + j] - m) / s : 0;
            }
            const T *in[1] = {&x};
            xhal_op_desc d = desc_of(XHAL_OP_SOFTMAX, 1, in, &o);
            d.attrs.softmax.scale = 0.5;
            d.attrs.softmax.causal = causal;
            CHECK_OK(run(&d));
            compare(causal ? "softmax causal" : "softmax", &o, want, tol_of(dt) * 4, 1e-3);
            free(want);
            drop(&x);
            drop(&o);
        }
    }
}

static void test_norms(void)
{
    for (int fi = 0; fi < n_float_dts; fi++) {
        int dt = float_dts[fi];
        static const int64_t Ds[] = {3, 1000};
        for (int di = 0; di < 2; di++) {
            int64_t D = Ds[di];
            int64_t shape[2] = {3, D};
            for (int variant = 0; variant < 4; variant++) {
                int rms = variant == 0 || variant == 1;
                int hw = variant != 2, hb = variant == 3;
                if (rms) hw = variant == 1;
                int perm[2] = {1, 0};
                T x = mk(dt, 2, shape, perm, 0), o = mk(dt, 2, shape, NULL, 2);
                int64_t wd = D;
                T w = mk(dt, 1, &wd, NULL, 1), b = mk(dt, 1, &wd, NULL, 0);
                fill_rand(&x, -2, 3);
                fill_rand(&w, 0.5, 1.5);
                fill_rand(&b, -1, 1);
                upload(&o);
                double *want = calloc((size_t)x.n, sizeof(double));
                for (int r = 0; r < 3; r++) {
                    const double *xr = x.val + r * D;
                    double mean = 0, var = 0, ss = 0;
                    for (int j = 0; j < D; j++) {
                        mean += xr[j];
                        ss += xr[j] * xr[j];
                    }
                    mean /= (double)D;
                    for (int j = 0; j < D; j++) var += (xr[j] - mean) * (xr[j] - mean);
                    var /= (double)D;
                    for (int j = 0; j < D; j++) {
                        double v = rms ? xr[j] / sqrt(ss / (double)D + 1e-5) : (xr[j] - mean) / sqrt(var + 1e-5);
                        if (hw) v *= w.val[j];
                        if (hb) v += b.val[j];
                        want[r * D + j] = v;
                    }
                }
                const T *in[3];
                int nin = 0;
                in[nin++] = &x;
                if (hw) in[nin++] = &w;
                if (hb) in[nin++] = &b;
                xhal_op_desc d = desc_of(rms ? XHAL_OP_RMS_NORM : XHAL_OP_LAYER_NORM, nin, in, &o);
                d.attrs.norm.eps = 1e-5;
                d.attrs.norm.has_weight = hw;
                d.attrs.norm.has_bias = hb;
                CHECK_OK(run(&d));
                compare(rms ? "rms_norm" : "layer_norm", &o, want, tol_of(dt) * 4, 1);
                free(want);
                drop(&x);
                drop(&w);
                drop(&b);
                drop(&o);
            }
        }
    }
}

/* matmul: out[b, M, N] = alpha * A @ B + beta * out; ta/tb: stored transposed;
 * bb: b's batch broadcast (stride 0) */
static void one_matmul(int dt, int64_t batch, int64_t M, int64_t N, int64_t K, int ta, int tb, int bb, double alpha,
                       double beta)
{
    int64_t as[3] = {batch, M, K}, bs[3] = {batch, K, N}, os[3] = {batch, M, N};
    int pa[3] = {0, 2, 1}, id[3] = {0, 1, 2};
    T a = mk(dt, 3, as, ta ? pa : id, 1), b = mk(dt, 3, bs, tb ? pa : id, 0), o = mk(dt, 3, os, NULL, 3);
    fill_rand(&a, -1, 1);
    if (bb) {
        /* batch 0's values repeated: store batch 0 only, stride 0 */
        fill_rand(&b, -1, 1);
        for (int64_t i = K * N; i < b.n; i++) b.val[i] = b.val[i % (K * N)];
        set_bcast(&b, 0);
        upload(&b);
    } else {
        fill_rand(&b, -1, 1);
    }
    fill_rand(&o, -1, 1);
    if (beta == 0) {
        for (int64_t i = 0; i < o.n; i++) o.val[i] = NAN;
        upload(&o);
    }
    double *want = calloc((size_t)o.n, sizeof(double));
    for (int64_t p = 0; p < batch; p++)
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double acc = 0;
                for (int64_t k = 0; k < K; k++) acc += a.val[(p * M + i) * K + k] * b.val[(p * K + k) * N + j];
                double r = alpha * acc;
                if (beta != 0) r += beta * o.val[(p * M + i) * N + j];
                want[(p * M + i) * N + j] = r;
            }
    const T *in[2] = {&a, &b};
    xhal_op_desc d = desc_of(XHAL_OP_MATMUL, 2, in, &o);
    d.attrs.matmul.alpha = alpha;
    d.attrs.matmul.beta = beta;
    char what[96];
    snprintf(what, sizeof what, "matmul b%lld %lldx%lldx%lld ta%d tb%d bb%d", (long long)batch, (long long)M,
             (long long)N, (long long)K, ta, tb, bb);
    CHECK_OK(run(&d));
    compare(what, &o, want, tol_of(dt) * 2, sqrt((double)K));
    free(want);
    drop(&a);
    drop(&b);
    drop(&o);
}

static void test_matmul(void)
{
    for (int fi = 0; fi < n_float_dts; fi++) {
        int dt = float_dts[fi];
        one_matmul(dt, 1, 1, 1, 1, 0, 0, 0, 1, 0);
        one_matmul(dt, 2, 3, 17, 5, 0, 0, 0, 1, 0);
        one_matmul(dt, 3, 17, 33, 40, 1, 0, 1, 0.5, 0);
        one_matmul(dt, 2, 33, 17, 19, 0, 1, 0, 1, 0.75);
        one_matmul(dt, 1, 127, 65, 100, 1, 1, 0, -2, 1);
        /* register-blocked path (M, N >= 64) with partial blocks, transposes, broadcast */
        one_matmul(dt, 2, 70, 130, 33, 1, 0, 1, 1, 0.5);
        one_matmul(dt, 1, 64, 64, 17, 0, 1, 0, 1, 0);
    }
}

static void test_gather(void)
{
    int dts[2] = {XHAL_DTYPE_F32, XHAL_DTYPE_BF16};
    for (int di = 0; di < 2; di++) {
        for (int idt = XHAL_DTYPE_I32; idt <= XHAL_DTYPE_I64; idt++) {
            int64_t tshape[3] = {10, 3, 2}, ishape[2] = {2, 3}, oshape[4] = {2, 3, 3, 2};
            int tperm[3] = {0, 2, 1}, iperm[2] = {1, 0};
            T t = mk(dts[di], 3, tshape, tperm, 1), ix = mk(idt, 2, ishape, iperm, 1),
              o = mk(dts[di], 4, oshape, NULL, 2);
            fill_rand(&t, -5, 5);
            double idx[6] = {0, 9, 3, 3, 7, 1};
            memcpy(ix.val, idx, sizeof idx);
            upload(&ix);
            upload(&o);
            double want[36];
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 6; j++) want[i * 6 + j] = t.val[(int)idx[i] * 6 + j];
            const T *in[2] = {&t, &ix};
            xhal_op_desc d = desc_of(XHAL_OP_GATHER, 2, in, &o);
            CHECK_OK(run(&d));
            compare("gather", &o, want, 0, 0);
            /* bad indices never reach a backend: the core checks them (test_validation) */
            /* a scalar index (ndim 0): out is one row [3, 2] */
            T sx = mk(idt, 0, NULL, NULL, 1), so = mk(dts[di], 2, tshape + 1, NULL, 0);
            sx.val[0] = 8;
            upload(&sx);
            upload(&so);
            const T *sin_[2] = {&t, &sx};
            d = desc_of(XHAL_OP_GATHER, 2, sin_, &so);
            CHECK_OK(run(&d));
            compare("gather scalar index", &so, t.val + 8 * 6, 0, 0);
            drop(&sx);
            drop(&so);
            drop(&t);
            drop(&ix);
            drop(&o);
        }
    }
}

static void ref_rope(const T *x, double *want, int seq_axis, double theta, int64_t pos0, int rot, int layout)
{
    int nd = x->ndim;
    int64_t D = x->shape[nd - 1], rows = x->n / D;
    if (rot == 0) rot = (int)D;
    for (int64_t r = 0; r < rows; r++) {
        int64_t rr = r, s = 0;
        for (int k = nd - 2; k >= 0; k--) {
            if (k == seq_axis) s = rr % x->shape[k];
            rr /= x->shape[k];
        }
        const double *xr = x->val + r * D;
        double *wr = want + r * D;
        for (int64_t j = 0; j < D; j++) wr[j] = xr[j];
        for (int k = 0; k < rot / 2; k++) {
            int e0 = layout ? 2 * k : k, e1 = layout ? 2 * k + 1 : k + rot / 2;
            double ang = (double)(pos0 + s) * pow(theta, -2.0 * k / rot);
            wr[e0] = xr[e0] * cos(ang) - xr[e1] * sin(ang);
            wr[e1] = xr[e0] * sin(ang) + xr[e1] * cos(ang);
        }
    }
}

static void test_rope(void)
{
    for (int fi = 0; fi < n_float_dts; fi++) {
        int dt = float_dts[fi];
        for (int layout = 0; layout <= 1; layout++) {
            for (int cfg = 0; cfg < 3; cfg++) {
                /* cfg 0: [2,5,3,8] seq 1 full rotary; 1: rot 4, pos 7, in place;
                 * 2: [2,3,5,8] seq 2 ([B,H,S,D]), rot 6, strided input */
                int64_t s0[4] = {2, 5, 3, 8}, s2[4] = {2, 3, 5, 8};
                int seq = cfg == 2 ? 2 : 1, rot = cfg == 0 ? 0 : (cfg == 1 ? 4 : 6);
                int64_t pos0 = cfg == 1 ? 7 : (cfg == 2 ? 1000 : 0);
                int perm[4] = {1, 0, 2, 3};
                T x = mk(dt, 4, cfg == 2 ? s2 : s0, cfg == 2 ? perm : NULL, 1);
                T o = cfg == 1 ? x : mk(dt, 4, cfg == 2 ? s2 : s0, NULL, 0);
                fill_rand(&x, -2, 2);
                if (cfg != 1) upload(&o);
                double *want = calloc((size_t)x.n, sizeof(double));
                ref_rope(&x, want, seq, 10000.0, pos0, rot, layout);
                const T *in[1] = {&x};
                xhal_op_desc d = desc_of(XHAL_OP_ROPE, 1, in, &o);
                d.attrs.rope.theta = 10000.0;
                d.attrs.rope.pos_offset = pos0;
                d.attrs.rope.seq_axis = seq;
                d.attrs.rope.rotary_dims = rot ? rot : 8;
                d.attrs.rope.layout = layout;
                CHECK_OK(run(&d));
                char what[48];
                snprintf(what, sizeof what, "rope layout %d cfg %d", layout, cfg);
                compare(what, &o, want, tol_of(dt) * 4, 1);
                free(want);
                drop(&x);
                if (cfg != 1) drop(&o);
            }
        }
    }
}

static void test_attention(void)
{
    for (int fi = 0; fi < n_float_dts; fi++) {
        int dt = float_dts[fi];
        for (int cfg = 0; cfg < 4; cfg++) {
            /* 0: plain; 1: causal; 2: causal + mask with a fully masked row; 3: Sq=Sk=1 */
            int64_t Bn = 2, Hq = 4, Hkv = 2, Sq = cfg == 3 ? 1 : 3, Sk = cfg == 3 ? 1 : 130, D = 8, Dv = 5;
            int causal = cfg == 1 || cfg == 2, has_mask = cfg == 2;
            int64_t qs[4] = {Bn, Hq, Sq, D}, ks[4] = {Bn, Hkv, Sk, D}, vs[4] = {Bn, Hkv, Sk, Dv},
                    ms[4] = {Bn, Hq, Sq, Sk}, os[4] = {Bn, Hq, Sq, Dv};
            int kperm[4] = {0, 2, 1, 3};
            T q = mk(dt, 4, qs, NULL, 1), k = mk(dt, 4, ks, kperm, 0), v = mk(dt, 4, vs, NULL, 2),
              m = mk(dt, 4, ms, NULL, 0), o = mk(dt, 4, os, NULL, 1);
            fill_rand(&q, -1, 1);
            fill_rand(&k, -1, 1);
            fill_rand(&v, -1, 1);
            /* mask broadcast over heads (stride 0 on dim 1); row (b=1, i=1) fully masked */
            for (int64_t i = 0; i < m.n; i++) {
                int64_t b = i / (Hq * Sq * Sk), r = (i / Sk) % Sq, j = i % Sk;
                m.val[i] = (b == 1 && r == 1) ? -INFINITY : ((j % 5 == 0) ? -INFINITY : 0.25 * (double)(j % 3));
            }
            for (int64_t i = 0; i < m.n; i++) {
                int64_t b = i / (Hq * Sq * Sk), rest = i % (Sq * Sk);
                m.val[i] = m.val[b * Hq * Sq * Sk + rest];
            }
            set_bcast(&m, 1);
            upload(&m);
            upload(&o);
            double scale = 1.0 / sqrt((double)D);
            double *want = calloc((size_t)o.n, sizeof(double));
            double *sc = calloc((size_t)Sk, sizeof(double));
            for (int64_t b = 0; b < Bn; b++)
                for (int64_t h = 0; h < Hq; h++)
                    for (int64_t i = 0; i < Sq; i++) {
                        int64_t hk = h / (Hq / Hkv);
                        double mx = -INFINITY;
                        for (int64_t j = 0; j < Sk; j++) {
                            double s = -INFINITY;
                            if (!causal || j <= i + (Sk - Sq)) {
                                s = 0;
                                for (int64_t dd = 0; dd < D; dd++)
                                    s += q.val[((b * Hq + h) * Sq + i) * D + dd] *
                                         k.val[((b * Hkv + hk) * Sk + j) * D + dd];
                                s *= scale;
                                if (has_mask) s += m.val[((b * Hq + h) * Sq + i) * Sk + j];
                            }
                            sc[j] = s;
                            mx = fmax(mx, s);
                        }
                        double l = 0;
                        for (int64_t j = 0; j < Sk; j++) {
                            sc[j] = mx == -INFINITY ? 0 : exp(sc[j] - mx);
                            l += sc[j];
                        }
                        for (int64_t e = 0; e < Dv; e++) {
                            double acc = 0;
                            for (int64_t j = 0; j < Sk; j++) acc += sc[j] * v.val[((b * Hkv + hk) * Sk + j) * Dv + e];
                            want[((b * Hq + h) * Sq + i) * Dv + e] = l > 0 ? acc / l : 0;
                        }
                    }
            const T *in[4] = {&q, &k, &v, &m};
            xhal_op_desc d = desc_of(XHAL_OP_ATTENTION, has_mask ? 4 : 3, in, &o);
            d.attrs.attention.scale = scale;
            d.attrs.attention.causal = causal;
            d.attrs.attention.has_mask = has_mask;
            CHECK_OK(run(&d));
            char what[32];
            snprintf(what, sizeof what, "attention cfg %d", cfg);
            compare(what, &o, want, tol_of(dt) * 4, 1);
            free(want);
            free(sc);
            drop(&q);
            drop(&k);
            drop(&v);
            drop(&m);
            drop(&o);
        }
    }
}

static void test_custom_kernel(void)
{
    const char *src = "XK_KERNEL void axpy(XK_GLOBAL float *y, XK_GLOBAL const float *x, float a, long n)\n"
                      "{\n"
                      "    xk_i64 i = XK_GLOBAL_ID(0);\n"
                      "    if (i < n) y[i] = a * x[i] + y[i];\n"
                      "}\n"
                      "XK_KERNEL void to_f16(XK_GLOBAL xk_u16 *o, XK_GLOBAL const float *x, int n)\n"
                      "{\n"
                      "    XK_LOCAL float tile[64];\n"
                      "    xk_i64 i = XK_GLOBAL_ID(0), l = XK_LOCAL_ID(0);\n"
                      "    tile[l] = i < n ? x[i] : 0.0f;\n"
                      "    XK_BARRIER();\n"
                      "    if (i < n) XK_STORE_F16(o, i, tile[l]);\n"
                      "}\n";
    void *prog = NULL;
    CHECK_OK(B->program_create(S, 0, src, NULL, &prog));
    if (!prog) return;
    int64_t n = 100;
    T x = mk(XHAL_DTYPE_F32, 1, &n, NULL, 0), y = mk(XHAL_DTYPE_F32, 1, &n, NULL, 0);
    fill_rand(&x, -1, 1);
    fill_rand(&y, -1, 1);
    double want[100];
    for (int i = 0; i < 100; i++) want[i] = 2.0f * (float)x.val[i] + y.val[i];
    xhal_backend_kernel_arg args[4];
    memset(args, 0, sizeof args);
    args[0].kind = XHAL_ARG_TENSOR;
    args[0].buffer = y.buf;
    args[1].kind = XHAL_ARG_TENSOR;
    args[1].buffer = x.buf;
    args[2].kind = XHAL_ARG_F32;
    args[2].value.f32 = 2.0f;
    args[3].kind = XHAL_ARG_I64;
    args[3].value.i64 = n;
    uint64_t gs = 128, ls = 64;
    CHECK_OK(B->kernel_launch(S, Q, prog, "axpy", 1, &gs, NULL, 4, args));
    compare("custom axpy", &y, want, 1e-6, 1);
    T h = mk(XHAL_DTYPE_F16, 1, &n, NULL, 0);
    upload(&h);
    args[0].buffer = h.buf;
    args[2].kind = XHAL_ARG_I32;
    args[2].value.i32 = (int32_t)n;
    CHECK_OK(B->kernel_launch(S, Q, prog, "to_f16", 1, &gs, &ls, 3, args));
    for (int i = 0; i < 100; i++) want[i] = rstore(XHAL_DTYPE_F16, x.val[i]);
    compare("custom to_f16", &h, want, 0, 0);
    CHECK_ST(B->kernel_launch(S, Q, prog, "nope", 1, &gs, NULL, 0, args), XHAL_ERROR_NOT_FOUND);
    /* a tensor starting 1024 bytes into its buffer (a multiple of every device's base
     * alignment): passed as a sub-buffer; 4 bytes in: refused with a reason */
    {
        int64_t big = 300;
        T yb = mk(XHAL_DTYPE_F32, 1, &big, NULL, 0);
        fill_rand(&yb, -1, 1);
        double wantb[300];
        for (int i = 0; i < 300; i++)
            wantb[i] = i >= 256 && i < 256 + 40 ? 2.0f * (float)x.val[i - 256] + yb.val[i] : yb.val[i];
        args[0].kind = XHAL_ARG_TENSOR;
        args[0].buffer = yb.buf;
        args[0].offset = 1024;
        args[2].kind = XHAL_ARG_F32;
        args[2].value.f32 = 2.0f;
        args[3].value.i64 = 40;
        CHECK_OK(B->kernel_launch(S, Q, prog, "axpy", 1, &gs, NULL, 4, args));
        compare("custom axpy at a byte offset", &yb, wantb, 1e-6, 1);
        args[0].offset = 4;
        CHECK_ST(B->kernel_launch(S, Q, prog, "axpy", 1, &gs, NULL, 4, args), XHAL_ERROR_UNSUPPORTED);
        CHECK(strstr(g_err, "offset") != NULL);
        args[0].offset = 0;
        drop(&yb);
    }
    args[2].kind = XHAL_ARG_F32;
    B->program_destroy(S, prog);
    drop(&x);
    drop(&y);
    drop(&h);

    /* a compile error gives BACKEND with the compiler log */
    prog = NULL;
    CHECK_ST(B->program_create(S, 0, "XK_KERNEL void bad(XK_GLOBAL float *y) { y[0] = undefined_thing; }", NULL, &prog),
             XHAL_ERROR_BACKEND);
    CHECK(strstr(g_err, "undefined_thing") != NULL);
    CHECK(prog == NULL);
}

static void test_events_and_errors(void)
{
    void *e0 = NULL, *e1 = NULL;
    CHECK_OK(B->event_create(S, 0, &e0));
    CHECK_OK(B->event_create(S, 0, &e1));
    CHECK_OK(B->event_record(S, e0, Q));
    one_matmul(XHAL_DTYPE_F32, 1, 64, 64, 64, 0, 0, 0, 1, 0);
    CHECK_OK(B->event_record(S, e1, Q));
    CHECK_OK(B->event_sync(S, e1));
    double ms = -1;
    CHECK_OK(B->event_elapsed_ms(S, e0, e1, &ms));
    CHECK(ms >= 0);
    void *q2 = NULL;
    CHECK_OK(B->stream_create(S, 0, &q2));
    CHECK_OK(B->stream_wait_event(S, q2, e1));
    CHECK_OK(B->stream_sync(S, q2));
    B->stream_destroy(S, q2);
    B->event_destroy(S, e0);
    B->event_destroy(S, e1);

    /* fault injection reaches device allocations */
    void *buf = NULL;
    g_fault_site = "buffer_alloc";
    CHECK_ST(B->buffer_alloc(S, 0, 64, &buf), XHAL_ERROR_OUT_OF_MEMORY);
    g_fault_site = NULL;
    /* an op this backend does not implement */
    xhal_op_desc d;
    memset(&d, 0, sizeof d);
    d.struct_size = sizeof d;
    d.op = XHAL_OP_CONCAT;
    CHECK_ST(B->op_supported(S, 0, &d), XHAL_ERROR_UNSUPPORTED);
    d.op = 999;
    CHECK_ST(B->op_supported(S, 0, &d), XHAL_ERROR_UNSUPPORTED);
    /* integers are refused where xhal.h allows only floats */
    int64_t n = 4;
    T a = mk(XHAL_DTYPE_I32, 1, &n, NULL, 0);
    const T *in[1] = {&a};
    d = desc_of(XHAL_OP_EXP, 1, in, &a);
    CHECK_ST(B->op_supported(S, 0, &d), XHAL_ERROR_UNSUPPORTED);
    CHECK(strstr(g_err, "exp") && strstr(g_err, "i32"));
    drop(&a);
    /* plain byte copies and device-to-device copy */
    unsigned char src[100], dst[100];
    for (int i = 0; i < 100; i++) src[i] = (unsigned char)i;
    void *b1 = NULL, *b2 = NULL;
    CHECK_OK(B->buffer_alloc(S, 0, 100, &b1));
    CHECK_OK(B->buffer_alloc(S, 0, 100, &b2));
    CHECK_OK(B->write(S, Q, b1, 0, src, 100));
    CHECK_OK(B->copy(S, Q, b1, 10, b2, 0, 90));
    CHECK_OK(B->read(S, Q, b2, 0, dst, 90));
    CHECK(memcmp(dst, src + 10, 90) == 0);
    B->buffer_free(S, b1);
    B->buffer_free(S, b2);
}

/* Two threads, each with its own stream, run ops on one device at once. */
typedef struct thr_arg {
    void *stream;
    void *a, *o; /* buffers of 4096 floats */
    int bad;
} thr_arg;

static void *thr_main(void *p)
{
    thr_arg *t = p;
    float host[4096];
    for (int rep = 0; rep < 20; rep++) {
        xhal_op_desc d;
        memset(&d, 0, sizeof d);
        d.struct_size = sizeof d;
        d.op = XHAL_OP_SCALE;
        d.n_inputs = d.n_outputs = 1;
        xhal_tensor_desc td_ = {XHAL_DTYPE_F32, 1, {4096, 1, 1, 1, 1, 1, 1, 1}, {1}, t->a, 0};
        d.inputs[0] = td_;
        td_.buffer = t->o;
        d.outputs[0] = td_;
        d.attrs.scale.alpha = rep;
        d.attrs.scale.beta = 1;
        if (B->op_run(S, t->stream, &d) != XHAL_OK || B->stream_sync(S, t->stream) != XHAL_OK ||
            B->read(S, t->stream, t->o, 0, host, sizeof host) != XHAL_OK) {
            t->bad++;
            continue;
        }
        for (int i = 0; i < 4096; i++)
            if (host[i] != (float)rep * (float)i + 1.0f) {
                t->bad++;
                break;
            }
    }
    return NULL;
}

static void test_threads(void)
{
    thr_arg ta[2];
    pthread_t th[2];
    float host[4096];
    for (int i = 0; i < 4096; i++) host[i] = (float)i;
    for (int k = 0; k < 2; k++) {
        memset(&ta[k], 0, sizeof ta[k]);
        CHECK_OK(B->stream_create(S, 0, &ta[k].stream));
        CHECK_OK(B->buffer_alloc(S, 0, sizeof host, &ta[k].a));
        CHECK_OK(B->buffer_alloc(S, 0, sizeof host, &ta[k].o));
        CHECK_OK(B->write(S, ta[k].stream, ta[k].a, 0, host, sizeof host));
    }
    for (int k = 0; k < 2; k++) pthread_create(&th[k], NULL, thr_main, &ta[k]);
    for (int k = 0; k < 2; k++) {
        pthread_join(th[k], NULL);
        CHECK(ta[k].bad == 0);
        B->stream_destroy(S, ta[k].stream);
        B->buffer_free(S, ta[k].a);
        B->buffer_free(S, ta[k].o);
    }
}

/* XHAL_TEST_ONLY=bench: matmul throughput, timed with the backend's events */
static void test_bench(void)
{
    static const int64_t sizes[] = {256, 512, 1024};
    for (int si = 0; si < 3; si++) {
        int64_t n = sizes[si], sh[2] = {n, n};
        T a = mk(XHAL_DTYPE_F32, 2, sh, NULL, 0), b = mk(XHAL_DTYPE_F32, 2, sh, NULL, 0),
          o = mk(XHAL_DTYPE_F32, 2, sh, NULL, 0);
        fill_rand(&a, -1, 1);
        fill_rand(&b, -1, 1);
        const T *in[2] = {&a, &b};
        xhal_op_desc d = desc_of(XHAL_OP_MATMUL, 2, in, &o);
        d.attrs.matmul.alpha = 1;
        CHECK_OK(run(&d)); /* warm-up */
        void *e0, *e1;
        B->event_create(S, 0, &e0);
        B->event_create(S, 0, &e1);
        B->event_record(S, e0, Q);
        int reps = n <= 256 ? 10 : 3;
        for (int r = 0; r < reps; r++) CHECK_OK(B->op_run(S, Q, &d));
        B->event_record(S, e1, Q);
        B->event_sync(S, e1);
        double ms = 0;
        CHECK_OK(B->event_elapsed_ms(S, e0, e1, &ms));
        printf("bench matmul f32 %lldx%lldx%lld: %.2f ms, %.2f GFLOP/s\n", (long long)n, (long long)n, (long long)n,
               ms / reps, 2.0 * n * n * n * reps / (ms * 1e6));
        B->event_destroy(S, e0);
        B->event_destroy(S, e1);
        drop(&a);
        drop(&b);
        drop(&o);
    }
}

/* ------------------------------------------------------------------ cache */

static int load_plugin(void)
{
    void *h = dlopen(XHAL_OCL_PLUGIN, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "dlopen %s: %s\n", XHAL_OCL_PLUGIN, dlerror());
        return -1;
    }
    xhal_backend_entry_fn entry = (xhal_backend_entry_fn)dlsym(h, XHAL_BACKEND_ENTRY_SYMBOL);
    if (!entry) return -1;
    /* a host with another ABI version is refused */
    CHECK(entry(XHAL_BACKEND_ABI_VERSION + 1, &g_host) == NULL);
    CHECK(strstr(g_err, "ABI") != NULL);
    B = entry(XHAL_BACKEND_ABI_VERSION, &g_host);
    if (!B) return -1;
    CHECK(B->abi_version == XHAL_BACKEND_ABI_VERSION);
    CHECK(B->struct_size >= XHAL_BACKEND_TABLE_MIN_SIZE);
    xhal_status st = B->init(&g_host, &S);
    if (st == XHAL_ERROR_UNAVAILABLE) {
        printf("opencl unavailable: %s\n", g_err);
        return 77;
    }
    if (st != XHAL_OK) {
        fprintf(stderr, "init: %s\n", g_err);
        return -1;
    }
    if (B->device_count(S) == 0) {
        printf("no OpenCL device\n");
        return 77;
    }
    return 0;
}

/* Child: only init, print the status and the reason. */
static int init_child(void)
{
    void *h = dlopen(XHAL_OCL_PLUGIN, RTLD_NOW | RTLD_LOCAL);
    if (!h) return 1;
    xhal_backend_entry_fn entry = (xhal_backend_entry_fn)dlsym(h, XHAL_BACKEND_ENTRY_SYMBOL);
    B = entry(XHAL_BACKEND_ABI_VERSION, &g_host);
    g_err[0] = 0;
    xhal_status st = B->init(&g_host, &S);
    printf("init=%d devices=%d reason=%s\n", (int)st, st == XHAL_OK ? B->device_count(S) : -1, g_err);
    if (st == XHAL_OK) B->shutdown(S);
    return 0;
}

/* No ICD driver at all: init says UNAVAILABLE with a reason (ocl-icd reads
 * OCL_ICD_VENDORS; an empty folder means no platform). */
static void test_no_platform(const char *self)
{
    char dir[] = "/tmp/xhal-ocl-noicd-XXXXXX", cmd[1024], line[1024] = "";
    if (!mkdtemp(dir)) {
        CHECK(0);
        return;
    }
    snprintf(cmd, sizeof cmd, "OCL_ICD_VENDORS='%s' '%s' --init-child", dir, self);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    if (!p) return;
    if (!fgets(line, sizeof line, p)) line[0] = 0;
    pclose(p);
    rmdir(dir);
    printf("no ICD driver: %s", line);
    int st = -1;
    CHECK(sscanf(line, "init=%d", &st) == 1);
    CHECK(st == XHAL_ERROR_UNAVAILABLE || (st == XHAL_OK && strstr(line, "devices=0")));
    CHECK(st != XHAL_ERROR_UNAVAILABLE || strstr(line, "no OpenCL platform") != NULL);
}

/* Child: build the f32 op program (the f64 one with "f64") by running one op, report counts
 * on stdout. */
static int cache_child(int f64)
{
    int r = load_plugin();
    if (r != 0) return r == 77 ? 77 : 1;
    CHECK_OK(B->stream_create(S, 0, &Q));
    int64_t n = 5;
    T o = mk(f64 ? XHAL_DTYPE_F64 : XHAL_DTYPE_F32, 1, &n, NULL, 1);
    for (int i = 0; i < 5; i++) o.val[i] = i - 1.5;
    upload(&o);
    /* scale runs the program of its dtype's variant (fill would be a byte pattern for f64 too) */
    const T *in[1] = {&o};
    xhal_op_desc d = desc_of(XHAL_OP_SCALE, 1, in, &o);
    d.attrs.scale.alpha = 2.0;
    d.attrs.scale.beta = 0.5;
    CHECK_OK(run(&d));
    double want[5] = {-2.5, -0.5, 1.5, 3.5, 5.5};
    compare("cache child scale", &o, want, 0, 0);
    drop(&o);
    B->stream_destroy(S, Q);
    B->shutdown(S);
    printf("compiled=%d loaded=%d failures=%d ignored=%d\n", g_compiled, g_loaded, g_failures, g_ignored);
    return g_failures ? 1 : 0;
}

static int spawn_child(const char *self, const char *dir, int *compiled, int *loaded, double *ms)
{
    char cmd[2048];
    /* PoCL keeps its own compiler cache: point it into the fresh folder too, so the first
     * child is a truly cold start */
    snprintf(cmd, sizeof cmd, "XHAL_CACHE_DIR='%s' POCL_CACHE_DIR='%s/pocl' '%s' --cache-child", dir, dir, self);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char line[256];
    int f = -1;
    *compiled = *loaded = -1;
    while (fgets(line, sizeof line, p))
        if (sscanf(line, "compiled=%d loaded=%d failures=%d", compiled, loaded, &f) == 3) break;
    int rc = pclose(p);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-6;
    return (rc == 0 && f == 0) ? 0 : -1;
}

static void test_cache(const char *self)
{
    char dir[] = "/tmp/xhal-ocl-cache-XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0);
        return;
    }
    int c = 0, l = 0;
    double ms1 = 0, ms2 = 0, ms3 = 0;
    CHECK(spawn_child(self, dir, &c, &l, &ms1) == 0);
    CHECK(c == 1 && l == 0);
    printf("cache: cold process compiled %d program(s) in %.0f ms total\n", c, ms1);
    CHECK(spawn_child(self, dir, &c, &l, &ms2) == 0);
    CHECK(c == 0 && l == 1); /* the second process compiles nothing */
    printf("cache: warm process compiled %d, loaded %d program(s), %.0f ms total\n", c, l, ms2);
    /* corrupt every cache file: ignored and rebuilt */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "for f in '%s'/*.bin; do printf 'XHALCLB1garbage' > \"$f\"; done", dir);
    CHECK(system(cmd) == 0);
    CHECK(spawn_child(self, dir, &c, &l, &ms3) == 0);
    CHECK(c == 1 && l == 0);
    printf("cache: corrupt file ignored, recompiled %d program(s) in %.0f ms\n", c, ms3);
    CHECK(spawn_child(self, dir, &c, &l, &ms3) == 0);
    CHECK(c == 0 && l == 1);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

/* Runs "self --cache-child [f64]" with XHAL_CACHE_DIR=dir (and POCL's cache beside it), under
 * a 300 s timeout (a FIFO entry used to hang it). Before exec, plant(pid) may place files whose
 * names depend on the child's pid. Returns 0 when the child passed; counts in *c, *l, *ign. */
static int run_cache_child(const char *self, const char *dir, int f64, void (*plant)(const char *, pid_t), int *c,
                           int *l, int *ign)
{
    int out[2], go[2];
    if (pipe(out) != 0 || pipe(go) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        char pocl[1100], b;
        snprintf(pocl, sizeof pocl, "%s/pocl", dir);
        setenv("XHAL_CACHE_DIR", dir, 1);
        setenv("POCL_CACHE_DIR", pocl, 1);
        dup2(out[1], 1);
        close(out[0]);
        close(go[1]);
        if (read(go[0], &b, 1) != 1) _exit(120); /* wait until the parent planted its files */
        alarm(300);
        execl(self, self, "--cache-child", f64 ? "f64" : "f32", (char *)NULL);
        _exit(121);
    }
    close(out[1]);
    close(go[0]);
    if (plant) plant(dir, pid);
    if (write(go[1], "g", 1) != 1) return -1;
    close(go[1]);
    FILE *p = fdopen(out[0], "r");
    char line[256];
    int f = -1;
    *c = *l = *ign = -1;
    while (p && fgets(line, sizeof line, p))
        if (sscanf(line, "compiled=%d loaded=%d failures=%d ignored=%d", c, l, &f, ign) == 4) break;
    if (p) fclose(p);
    int ws = 0;
    waitpid(pid, &ws, 0);
    return (WIFEXITED(ws) && WEXITSTATUS(ws) == 0 && f == 0) ? 0 : -1;
}

static char g_entry[256];  /* the f32 entry's file name (found in a first run) */
static char g_victim[300]; /* a file the symlink attack aims at */

static void find_entry(const char *dir, char *name, size_t len)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cd '%s' && ls opencl-*.bin", dir);
    FILE *p = popen(cmd, "r");
    name[0] = 0;
    if (p && fgets(name, (int)len, p)) name[strcspn(name, "\n")] = 0;
    if (p) pclose(p);
}

/* The old temporary names were <entry>.tmp.<pid>.<seq>: plant links there to the victim. */
static void plant_tmp_links(const char *dir, pid_t pid)
{
    for (int seq = 0; seq < 4; seq++) {
        char link[1200];
        snprintf(link, sizeof link, "%s/%s.tmp.%ld.%d", dir, g_entry, (long)pid, seq);
        if (symlink(g_victim, link) != 0) perror("symlink");
    }
}

static int file_is(const char *path, const char *text)
{
    char buf[256] = "";
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return !strcmp(buf, text);
}

/* Issue 17: an entry copied over another key's name was loaded (wrong results, exit 0); a
 * truncated binary reached the driver; the temporary file followed a planted link; a cache
 * folder anyone can write into was used; a FIFO entry hung the process. */
static void test_cache_attacks(const char *self)
{
    char a[] = "/tmp/xhal-ocl-poison-a-XXXXXX", b[] = "/tmp/xhal-ocl-poison-b-XXXXXX", cmd[2048];
    if (!mkdtemp(a) || !mkdtemp(b)) {
        CHECK(0);
        return;
    }
    int c, l, ign;
    /* a holds the f32 entry, b the f64 one */
    CHECK(run_cache_child(self, a, 0, NULL, &c, &l, &ign) == 0 && c == 1);
    find_entry(a, g_entry, sizeof g_entry);
    CHECK(g_entry[0] != 0);
    if (g_fp64) {
        char fb[256];
        CHECK(run_cache_child(self, b, 1, NULL, &c, &l, &ign) == 0 && c == 1);
        find_entry(b, fb, sizeof fb);
        CHECK(fb[0] != 0 && strcmp(fb, g_entry) != 0);
        /* poisoning: the f32 entry copied over the f64 entry's name is refused (key mismatch),
         * the f64 program is rebuilt and the fill is right */
        snprintf(cmd, sizeof cmd, "cp '%s/%s' '%s/%s'", a, g_entry, b, fb);
        CHECK(system(cmd) == 0);
        CHECK(run_cache_child(self, b, 1, NULL, &c, &l, &ign) == 0);
        CHECK(c == 1 && l == 0 && ign == 1);
        printf("cache: an entry copied over another key's name: ignored, recompiled\n");
    }
    /* truncated: refused before the driver sees it */
    snprintf(cmd, sizeof cmd, "f='%s/%s'; truncate -s $(( $(stat -c %%s \"$f\") / 2 )) \"$f\"", a, g_entry);
    CHECK(system(cmd) == 0);
    CHECK(run_cache_child(self, a, 0, NULL, &c, &l, &ign) == 0);
    CHECK(c == 1 && l == 0 && ign == 1);
    /* a link as the entry: not followed */
    snprintf(g_victim, sizeof g_victim, "%s/victim.txt", b);
    FILE *v = fopen(g_victim, "wb");
    if (v) {
        fputs("precious", v);
        fclose(v);
    }
    snprintf(cmd, sizeof cmd, "rm -f '%s/%s' && ln -s '%s' '%s/%s'", a, g_entry, g_victim, a, g_entry);
    CHECK(system(cmd) == 0);
    CHECK(run_cache_child(self, a, 0, NULL, &c, &l, &ign) == 0);
    CHECK(c == 1 && l == 0 && ign == 1);
    CHECK(file_is(g_victim, "precious"));
    /* links planted at the temporary names of the old scheme: the victim stays as it was */
    snprintf(cmd, sizeof cmd, "rm -f '%s'/opencl-*", a);
    CHECK(system(cmd) == 0);
    CHECK(run_cache_child(self, a, 0, plant_tmp_links, &c, &l, &ign) == 0);
    CHECK(c == 1);
    CHECK(file_is(g_victim, "precious"));
    CHECK(run_cache_child(self, a, 0, NULL, &c, &l, &ign) == 0 && c == 0 && l == 1);
    /* a FIFO as the entry: ignored at once */
    snprintf(cmd, sizeof cmd, "rm -f '%s/%s' && mkfifo '%s/%s'", a, g_entry, a, g_entry);
    CHECK(system(cmd) == 0);
    CHECK(run_cache_child(self, a, 0, NULL, &c, &l, &ign) == 0);
    CHECK(c == 1 && l == 0 && ign == 1);
    /* a folder others can write into is not used (compiled every time, nothing read) */
    snprintf(cmd, sizeof cmd, "rm -f '%s'/opencl-* && chmod 0777 '%s'", a, a);
    CHECK(system(cmd) == 0);
    CHECK(run_cache_child(self, a, 0, NULL, &c, &l, &ign) == 0 && c == 1 && ign == 1);
    CHECK(run_cache_child(self, a, 0, NULL, &c, &l, &ign) == 0 && c == 1 && l == 0);
    printf("cache: truncated entry, linked entry, planted temporary links, FIFO entry and an open "
           "folder: all refused\n");
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", a, b);
    CHECK(system(cmd) == 0);
}

int main(int argc, char **argv)
{
    const char *lv = getenv("XHAL_LOG");
    if (lv) g_log_level = !strcmp(lv, "debug") ? 4 : !strcmp(lv, "info") ? 3 : !strcmp(lv, "warn") ? 2 : 1;
    if (argc > 1 && strcmp(argv[1], "--cache-child") == 0) return cache_child(argc > 2 && !strcmp(argv[2], "f64"));
    if (argc > 1 && strcmp(argv[1], "--init-child") == 0) return init_child();
    int r = load_plugin();
    if (r == 77) return 77;
    if (r != 0) return 1;
    CHECK_OK(B->stream_create(S, 0, &Q));
    test_info();
    float_dts[n_float_dts++] = XHAL_DTYPE_F32;
    float_dts[n_float_dts++] = XHAL_DTYPE_F16;
    float_dts[n_float_dts++] = XHAL_DTYPE_BF16;
    if (g_fp64) float_dts[n_float_dts++] = XHAL_DTYPE_F64;
    const char *only = getenv("XHAL_TEST_ONLY");
#define T_(name)                        \
    if (!only || strstr(only, #name)) { \
        printf("-- %s\n", #name);       \
        fflush(stdout);                 \
        test_##name();                  \
    }
    T_(copy);
    T_(fill);
    T_(unary);
    T_(binary);
    T_(reduce);
    T_(softmax);
    T_(norms);
    T_(matmul);
    T_(gather);
    T_(rope);
    T_(attention);
    T_(custom_kernel);
    T_(events_and_errors);
    T_(threads);
    if (only && strstr(only, "bench")) test_bench();
    B->stream_destroy(S, Q);
    B->shutdown(S);
    if (!only || strstr(only, "no_platform")) test_no_platform(argv[0]);
    if (!only || strstr(only, "cache")) test_cache(argv[0]);
    if (!only || strstr(only, "cache")) test_cache_attacks(argv[0]);
    printf("test_opencl_backend: %d checks, %d failed\n", g_checks, g_failures);
    return g_failures ? 1 : 0;
}
