/* test_bad_inputs.c - a catalogue of invalid calls across the public API (xhal.h,
 * xhal_safetensors.h, xhal_topology.h). Each entry is one call, the status xhal.h documents
 * for it and a substring its message must contain. Where the call has an output tensor, the
 * whole buffer behind it is snapshotted before the call and must be byte-identical after it
 * ("no output argument, tensor or buffer has been modified"). Output pointer arguments are
 * preset to a sentinel and must keep it. The test counts the distinct calls and fails if
 * there are fewer than 150. */
#include "xtest.h"

#include "xhal/xhal_safetensors.h"
#include "xhal/xhal_topology.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static xhal_context *ctx, *ctx2;
static xhal_device *cpu, *dev2, *cpu_b; /* cpu:0, testdev:0, cpu:0 of ctx2 */
static xhal_stream *s, *s2;             /* on cpu, on testdev */

/* ---- the catalogue runner ---------------------------------------------------------- */
#define MAX_CASES 512
static const char *g_seen[MAX_CASES];
static int g_ncases, g_dups;

/* Snapshot of the buffer under an output tensor. */
typedef struct snap {
    xhal_tensor *t;
    xhal_stream *st;
    unsigned char *bytes;
    uint64_t size;
} snap;

static void snap_take(snap *sn, xhal_tensor *t)
{
    memset(sn, 0, sizeof *sn);
    if (!t) return;
    xhal_device *d = NULL;
    xhal_dtype dt = XHAL_DTYPE_INVALID;
    int64_t n = 0;
    if (xhal_tensor_device(t, &d) != XHAL_OK || xhal_tensor_dtype(t, &dt) != XHAL_OK ||
        xhal_tensor_numel(t, &n) != XHAL_OK) {
        fprintf(stderr, "snapshot of a dead output tensor: %s\n", xhal_last_error());
        exit(2);
    }
    sn->st = d == dev2 ? s2 : s;
    sn->t = t;
    sn->size = (uint64_t)n * xhal_dtype_size(dt);
    sn->bytes = malloc((size_t)sn->size + 1);
    if (!sn->bytes || xhal_tensor_read(sn->st, t, sn->bytes, sn->size) != XHAL_OK) {
        fprintf(stderr, "snapshot failed: %s\n", xhal_last_error());
        exit(2);
    }
}

/* The output's elements are byte-identical to the snapshot. */
static int snap_same(snap *sn)
{
    if (!sn->t) return 1;
    unsigned char *now = malloc((size_t)sn->size + 1);
    int same = now && xhal_tensor_read(sn->st, sn->t, now, sn->size) == XHAL_OK &&
               memcmp(now, sn->bytes, (size_t)sn->size) == 0;
    free(now);
    free(sn->bytes);
    sn->bytes = NULL;
    return same;
}

static void case_begin(const char *expr, int line, xhal_tensor *out, snap *sn)
{
    for (int i = 0; i < g_ncases; i++)
        if (!strcmp(g_seen[i], expr)) {
            g_dups++;
            fprintf(stderr, "line %d: duplicate case %s\n", line, expr);
        }
    if (g_ncases < MAX_CASES) g_seen[g_ncases++] = expr;
    snap_take(sn, out);
}

static void case_end(const char *expr, int line, snap *sn, xhal_status got, xhal_status want, const char *sub)
{
    xtest_check_status_(__FILE__, line, expr, got, want, sub);
    xtest_checks_++;
    if (!snap_same(sn)) {
        xtest_failures_++;
        fprintf(stderr, "%s:%d: %s modified its output buffer\n", __FILE__, line, expr);
    }
}

/* BAD(out, call, status, substring): out is the output tensor (or NULL). */
#define BAD(out, call, want, sub)                             \
    do {                                                      \
        snap sn_;                                             \
        case_begin(#call, __LINE__, (out), &sn_);             \
        xhal_status got_ = (call);                            \
        case_end(#call, __LINE__, &sn_, got_, (want), (sub)); \
    } while (0)
/* A pointer output must keep its sentinel. */
#define SENT ((void *)(uintptr_t)0x5e17e1)
#define PTR_KEPT(p)                 \
    do {                            \
        CHECK((void *)(p) == SENT); \
        (p) = SENT;                 \
    } while (0)

/* ---- helpers ----------------------------------------------------------------------- */
static xhal_tensor *mk(xhal_device *d, xhal_dtype dt, int nd, const int64_t *shape)
{
    xhal_tensor *t = NULL;
    if (xhal_tensor_create(d, dt, nd, shape, &t) != XHAL_OK) {
        fprintf(stderr, "setup: %s\n", xhal_last_error());
        exit(2);
    }
    return t;
}
#define DIMS(...) \
    (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]) { __VA_ARGS__ }
#define F32(...) mk(cpu, XHAL_DTYPE_F32, DIMS(__VA_ARGS__))

static void fill(xhal_tensor *t, double v)
{
    xhal_device *d = NULL;
    xhal_tensor_device(t, &d);
    xhal_status st;
    if (d == dev2) { /* the test backend runs no ops: write f32 elements from the host */
        float buf[64];
        int64_t n = 0;
        xhal_tensor_numel(t, &n);
        for (int i = 0; i < 64; i++) buf[i] = (float)v;
        st = n <= 64 ? xhal_tensor_write(s2, t, buf, (uint64_t)n * 4) : XHAL_ERROR_INTERNAL;
    } else {
        st = xhal_fill(s, t, v);
    }
    if (st != XHAL_OK) {
        fprintf(stderr, "setup fill: %s\n", xhal_last_error());
        exit(2);
    }
}

static char g_tmpdir[256];

static char *write_tmp(const char *name, const void *data, size_t n)
{
    static char path[8][512];
    static int k;
    char *p = path[k++ % 8];
    snprintf(p, 512, "%s/%s", g_tmpdir, name);
    FILE *f = fopen(p, "wb");
    if (!f) exit(2);
    if (n) fwrite(data, 1, n, f);
    fclose(f);
    return p;
}

static char *write_txt(const char *name, const char *text) { return write_tmp(name, text, strlen(text)); }

/* A safetensors file: 8-byte little-endian header length, the header, then data bytes. */
static char *write_st(const char *name, const char *header, size_t data_bytes)
{
    size_t hn = strlen(header);
    size_t total = 8 + hn + data_bytes;
    unsigned char *b = calloc(1, total);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hn >> (8 * i));
    memcpy(b + 8, header, hn);
    char *p = write_tmp(name, b, total);
    free(b);
    return p;
}

/* Destroyed handles of every kind, made right where a case uses them. The core finds
 * handles by address, so a stale handle whose memory has been reused for a new object of
 * the same kind is no longer detectable (see RELIABILITY.md); making the stale handle just
 * before the call keeps the allocator from handing its address out again in between. */
static xhal_tensor *dead_tensor(void)
{
    xhal_tensor *t = mk(cpu, XHAL_DTYPE_F32, DIMS(2, 3));
    if (xhal_tensor_destroy(t) != XHAL_OK) exit(2);
    return t;
}
static xhal_buffer *dead_buffer(void)
{
    xhal_buffer *b = NULL;
    if (xhal_buffer_create(cpu, 64, &b) != XHAL_OK || xhal_buffer_destroy(b) != XHAL_OK) exit(2);
    return b;
}
static xhal_stream *dead_stream(void)
{
    xhal_stream *x = NULL;
    if (xhal_stream_create(cpu, &x) != XHAL_OK || xhal_stream_destroy(x) != XHAL_OK) exit(2);
    return x;
}
static xhal_event *dead_event(void)
{
    xhal_event *e = NULL;
    if (xhal_event_create(cpu, &e) != XHAL_OK || xhal_event_destroy(e) != XHAL_OK) exit(2);
    return e;
}
static xhal_context *dead_context(void)
{
    xhal_context *c = NULL;
    xhal_context_options o;
    xhal_context_options_init(&o);
    o.flags = XHAL_CONTEXT_NO_DEFAULT_PLUGINS | XHAL_CONTEXT_IGNORE_ENV_PATH;
    if (xhal_context_create(&o, &c) != XHAL_OK || xhal_context_destroy(c) != XHAL_OK) exit(2);
    return c;
}

int main(void)
{
    snprintf(g_tmpdir, sizeof g_tmpdir, "/tmp/xhal-bad-inputs-%ld", (long)getpid());
    if (mkdir(g_tmpdir, 0700) != 0) {
        perror("mkdir");
        return 2;
    }

    xhal_context_options o;
    xhal_context_options_init(&o);
    o.plugin_path = XHAL_TEST_PLUGIN_DIR "/good";
    CHECK_OK(xhal_context_create(&o, &ctx));
    CHECK_OK(xhal_device_find(ctx, "cpu:0", &cpu));
    CHECK_OK(xhal_device_find(ctx, "testdev:0", &dev2));
    CHECK_OK(xhal_stream_create(cpu, &s));
    CHECK_OK(xhal_stream_create(dev2, &s2));
    CHECK_OK(xhal_context_create(NULL, &ctx2));
    CHECK_OK(xhal_device_find(ctx2, "cpu", &cpu_b));
    if (!cpu || !dev2 || !cpu_b) return xtest_finish("test_bad_inputs (setup failed)");

    /* Operands. */
    xhal_tensor *a = F32(2, 3), *b = F32(2, 3), *out = F32(2, 3), *o4 = F32(4), *o32 = F32(3, 2);
    xhal_tensor *h = mk(cpu, XHAL_DTYPE_F16, DIMS(2, 3)), *i32 = mk(cpu, XHAL_DTYPE_I32, DIMS(2, 3));
    xhal_tensor *u8 = mk(cpu, XHAL_DTYPE_U8, DIMS(2, 3)), *i64o = mk(cpu, XHAL_DTYPE_I64, DIMS(2));
    xhal_tensor *f2 = F32(2), *scal = mk(cpu, XHAL_DTYPE_F32, 0, NULL), *b2x4 = F32(2, 4);
    xhal_tensor *far = mk(dev2, XHAL_DTYPE_F32, DIMS(2, 3));
    xhal_tensor *alien = mk(cpu_b, XHAL_DTYPE_F32, DIMS(2, 3));
    xhal_buffer *buf = NULL, *farbuf = NULL;
    CHECK_OK(xhal_buffer_create(cpu, 64, &buf));
    CHECK_OK(xhal_buffer_create(dev2, 64, &farbuf));
    xhal_event *ev = NULL, *ev_never = NULL, *ev2 = NULL;
    CHECK_OK(xhal_event_create(cpu, &ev));
    CHECK_OK(xhal_event_create(cpu, &ev_never));
    CHECK_OK(xhal_event_create(dev2, &ev2));
    CHECK_OK(xhal_event_record(ev, s));
    CHECK_OK(xhal_event_record(ev2, s2));
    fill(a, 1.0);
    fill(b, 2.0);
    fill(out, 777.0);
    fill(o4, 777.0);
    fill(far, 3.0);
    fill(h, 1.0);
    fill(i32, 4.0);
    fill(u8, 5.0);
    fill(i64o, 6.0);
    /* Attention operands: q [1,4,2,8] k/v [1,2,2,8]. */
    xhal_tensor *q = F32(1, 4, 2, 8), *k = F32(1, 2, 2, 8), *v = F32(1, 2, 2, 8), *ao = F32(1, 4, 2, 8);
    xhal_tensor *k3 = F32(1, 3, 2, 8), *v3 = F32(1, 3, 2, 8), *kshort = F32(1, 2, 1, 8);
    xhal_tensor *vshort = F32(1, 2, 1, 8), *kD4 = F32(1, 2, 2, 4), *q3d = F32(4, 2, 8);
    xhal_tensor *qh = mk(cpu, XHAL_DTYPE_F16, DIMS(1, 4, 2, 8)), *badmask = F32(3, 2);
    fill(q, 0.5);
    fill(k, 0.25);
    fill(v, 1.0);
    fill(ao, 777.0);
    fill(k3, 0.1);
    fill(v3, 0.1);
    fill(kshort, 0.1);
    fill(vshort, 0.1);
    fill(kD4, 0.1);
    fill(q3d, 0.1);
    fill(qh, 0.1);
    fill(badmask, 0.0);
    int64_t n64 = 0;
    int ival = 0;
    double dv = 0;
    xhal_dtype dt = XHAL_DTYPE_INVALID;
    xhal_op op = XHAL_OP_INVALID;
    xhal_tensor *tout = SENT;
    xhal_buffer *bout = SENT;
    xhal_stream *sout = SENT;
    xhal_event *eout = SENT;
    xhal_device *dout = SENT;
    xhal_context *cout = SENT;
    xhal_program *pout = SENT;
    float host[64] = {0};

    /* ==== status / names ==== */
    BAD(NULL, xhal_dtype_from_name(NULL, &dt), XHAL_ERROR_INVALID_ARGUMENT, "NULL argument");
    BAD(NULL, xhal_dtype_from_name("f32", NULL), XHAL_ERROR_INVALID_ARGUMENT, "NULL argument");
    BAD(NULL, xhal_dtype_from_name("float128", &dt), XHAL_ERROR_INVALID_ARGUMENT, "unknown dtype 'float128'");
    BAD(NULL, xhal_dtype_from_name("", &dt), XHAL_ERROR_INVALID_ARGUMENT, "unknown dtype");
    BAD(NULL, xhal_dtype_from_name("invalid", &dt), XHAL_ERROR_INVALID_ARGUMENT, "unknown dtype 'invalid'");
    CHECK(dt == XHAL_DTYPE_INVALID);
    BAD(NULL, xhal_op_from_name("fma", &op), XHAL_ERROR_INVALID_ARGUMENT, "unknown op 'fma'");
    BAD(NULL, xhal_op_from_name(NULL, &op), XHAL_ERROR_INVALID_ARGUMENT, "NULL argument");
    BAD(NULL, xhal_op_from_name("add", NULL), XHAL_ERROR_INVALID_ARGUMENT, "NULL argument");
    BAD(NULL, xhal_op_from_name("invalid", &op), XHAL_ERROR_INVALID_ARGUMENT, "unknown op");
    CHECK(op == XHAL_OP_INVALID);

    /* ==== context ==== */
    xhal_context_options bad_flags, bad_size, bad_level;
    xhal_context_options_init(&bad_flags);
    bad_flags.flags = 0x80u;
    BAD(NULL, xhal_context_create(&bad_flags, &cout), XHAL_ERROR_INVALID_ARGUMENT, "unknown flags 0x80");
    PTR_KEPT(cout);
    xhal_context_options_init(&bad_size);
    bad_size.struct_size = 3;
    BAD(NULL, xhal_context_create(&bad_size, &cout), XHAL_ERROR_INVALID_ARGUMENT, "struct_size");
    PTR_KEPT(cout);
    xhal_context_options_init(&bad_level);
    bad_level.log_level = 99;
    BAD(NULL, xhal_context_create(&bad_level, &cout), XHAL_ERROR_INVALID_ARGUMENT, "log_level");
    PTR_KEPT(cout);
    BAD(NULL, xhal_context_create(NULL, NULL), XHAL_ERROR_INVALID_ARGUMENT, "out is NULL");
    BAD(NULL, xhal_backend_count(NULL, &ival), XHAL_ERROR_INVALID_HANDLE, "context is NULL");
    BAD(NULL, xhal_backend_count(dead_context(), &ival), XHAL_ERROR_INVALID_HANDLE, "not a live context");
    BAD(NULL, xhal_backend_count((xhal_context *)a, &ival), XHAL_ERROR_INVALID_HANDLE, "not a live context");
    BAD(NULL, xhal_backend_count(ctx, NULL), XHAL_ERROR_INVALID_ARGUMENT, "count is NULL");
    xhal_backend_info bi;
    BAD(NULL, xhal_backend_get_info(ctx, -1, &bi), XHAL_ERROR_OUT_OF_RANGE, "index -1");
    BAD(NULL, xhal_backend_get_info(ctx, 1000, &bi), XHAL_ERROR_OUT_OF_RANGE, "index 1000");
    BAD(NULL, xhal_backend_get_info(ctx, 0, NULL), XHAL_ERROR_INVALID_ARGUMENT, "info is NULL");
    BAD(NULL, xhal_backend_get_info(NULL, 0, &bi), XHAL_ERROR_INVALID_HANDLE, "context is NULL");
    BAD(NULL, xhal_device_count(NULL, &ival), XHAL_ERROR_INVALID_HANDLE, "context is NULL");
    BAD(NULL, xhal_device_count(dead_context(), &ival), XHAL_ERROR_INVALID_HANDLE, "not a live context");
    BAD(NULL, xhal_device_count(ctx, NULL), XHAL_ERROR_INVALID_ARGUMENT, "count is NULL");
    BAD(NULL, xhal_device_get(ctx, -1, &dout), XHAL_ERROR_OUT_OF_RANGE, "index -1");
    BAD(NULL, xhal_device_get(ctx, 1 << 30, &dout), XHAL_ERROR_OUT_OF_RANGE, "is not in [0,");
    BAD(NULL, xhal_device_get(ctx, 0, NULL), XHAL_ERROR_INVALID_ARGUMENT, "out is NULL");
    BAD(NULL, xhal_device_get((xhal_context *)s, 0, &dout), XHAL_ERROR_INVALID_HANDLE, "not a live context");
    /* device specs */
    BAD(NULL, xhal_device_find(ctx, "nosuch", &dout), XHAL_ERROR_NOT_FOUND, "no backend named 'nosuch'");
    BAD(NULL, xhal_device_find(ctx, "nosuch:3", &dout), XHAL_ERROR_NOT_FOUND, "devices present");
    BAD(NULL, xhal_device_find(ctx, "cpu:7", &dout), XHAL_ERROR_NOT_FOUND, "device(s)");
    BAD(NULL, xhal_device_find(ctx, "cpu:-1", &dout), XHAL_ERROR_INVALID_ARGUMENT, "cpu:-1");
    BAD(NULL, xhal_device_find(ctx, "cpu:", &dout), XHAL_ERROR_INVALID_ARGUMENT, "cpu:");
    BAD(NULL, xhal_device_find(ctx, ":0", &dout), XHAL_ERROR_INVALID_ARGUMENT, ":0");
    BAD(NULL, xhal_device_find(ctx, "", &dout), XHAL_ERROR_INVALID_ARGUMENT, "");
    BAD(NULL, xhal_device_find(ctx, "cpu:0x", &dout), XHAL_ERROR_INVALID_ARGUMENT, "cpu:0x");
    BAD(NULL, xhal_device_find(ctx, "cpu:99999999999999999999", &dout), XHAL_ERROR_INVALID_ARGUMENT, "cpu:9999");
    BAD(NULL, xhal_device_find(ctx, "cpu:0:1", &dout), XHAL_ERROR_INVALID_ARGUMENT, "cpu:0:1");
    BAD(NULL, xhal_device_find(ctx, NULL, &dout), XHAL_ERROR_INVALID_ARGUMENT, "spec is NULL");
    BAD(NULL, xhal_device_find(ctx, "cpu", NULL), XHAL_ERROR_INVALID_ARGUMENT, "out is NULL");
    BAD(NULL, xhal_device_find(NULL, "cpu", &dout), XHAL_ERROR_INVALID_HANDLE, "context is NULL");
    BAD(NULL, xhal_device_find(dead_context(), "cpu", &dout), XHAL_ERROR_INVALID_HANDLE, "not a live context");
    PTR_KEPT(dout);
    xhal_device_info di;
    BAD(NULL, xhal_device_get_info(NULL, &di), XHAL_ERROR_INVALID_HANDLE, "device is NULL");
    BAD(NULL, xhal_device_get_info((xhal_device *)a, &di), XHAL_ERROR_INVALID_HANDLE, "not a live device");
    BAD(NULL, xhal_device_get_info(cpu, NULL), XHAL_ERROR_INVALID_ARGUMENT, "info is NULL");

    /* ==== buffers ==== */
    BAD(NULL, xhal_buffer_create(cpu, 0, &bout), XHAL_ERROR_INVALID_ARGUMENT, "size is 0");
    BAD(NULL, xhal_buffer_create(cpu, UINT64_MAX, &bout), XHAL_ERROR_OUT_OF_MEMORY, "beyond any device");
    BAD(NULL, xhal_buffer_create(cpu, 16, NULL), XHAL_ERROR_INVALID_ARGUMENT, "out is NULL");
    BAD(NULL, xhal_buffer_create(NULL, 16, &bout), XHAL_ERROR_INVALID_HANDLE, "device is NULL");
    BAD(NULL, xhal_buffer_create((xhal_device *)s, 16, &bout), XHAL_ERROR_INVALID_HANDLE, "not a live device");
    PTR_KEPT(bout);
    uint64_t u64 = 0;
    BAD(NULL, xhal_buffer_size(dead_buffer(), &u64), XHAL_ERROR_INVALID_HANDLE, "not a live buffer");
    BAD(NULL, xhal_buffer_size(NULL, &u64), XHAL_ERROR_INVALID_HANDLE, "buffer is NULL");
    BAD(NULL, xhal_buffer_size((xhal_buffer *)a, &u64), XHAL_ERROR_INVALID_HANDLE, "not a live buffer");
    BAD(NULL, xhal_buffer_size(buf, NULL), XHAL_ERROR_INVALID_ARGUMENT, "size is NULL");
    BAD(NULL, xhal_buffer_write(s, buf, 60, host, 8), XHAL_ERROR_OUT_OF_RANGE, "[60, 68)");
    BAD(NULL, xhal_buffer_write(s, buf, UINT64_MAX - 2, host, 8), XHAL_ERROR_OVERFLOW, "overflows 64 bits");
    BAD(NULL, xhal_buffer_write(s, buf, 0, NULL, 8), XHAL_ERROR_INVALID_ARGUMENT, "src is NULL");
    BAD(NULL, xhal_buffer_write(s, dead_buffer(), 0, host, 8), XHAL_ERROR_INVALID_HANDLE, "not a live buffer");
    BAD(NULL, xhal_buffer_write(s2, buf, 0, host, 8), XHAL_ERROR_WRONG_DEVICE,
        "buffer is on cpu:0 but the stream is on testdev:0");
    BAD(NULL, xhal_buffer_write(dead_stream(), buf, 0, host, 8), XHAL_ERROR_INVALID_HANDLE, "not a live stream");
    BAD(NULL, xhal_buffer_write(NULL, buf, 0, host, 8), XHAL_ERROR_INVALID_HANDLE, "stream is NULL");
    BAD(NULL, xhal_buffer_read(s, buf, 0, host, 65), XHAL_ERROR_OUT_OF_RANGE, "outside the buffer of 64 bytes");
    BAD(NULL, xhal_buffer_read(s, buf, 65, host, 0), XHAL_ERROR_OUT_OF_RANGE, "outside the buffer");
    BAD(NULL, xhal_buffer_read(s, buf, 8, host, UINT64_MAX), XHAL_ERROR_OVERFLOW, "overflows 64 bits");
    BAD(NULL, xhal_buffer_read(s, buf, 0, NULL, 8), XHAL_ERROR_INVALID_ARGUMENT, "dst is NULL");
    BAD(NULL, xhal_buffer_read(s, farbuf, 0, host, 8), XHAL_ERROR_WRONG_DEVICE, "buffer is on testdev:0");
    BAD(NULL, xhal_buffer_read(s, (xhal_buffer *)ev, 0, host, 8), XHAL_ERROR_INVALID_HANDLE, "not a live buffer");
    BAD(NULL, xhal_buffer_destroy((xhal_buffer *)s), XHAL_ERROR_INVALID_HANDLE, "not a live buffer");

    /* ==== tensor creation ==== */
    BAD(NULL, xhal_tensor_create(cpu, XHAL_DTYPE_F32, -1, (int64_t[]){1}, &tout), XHAL_ERROR_INVALID_ARGUMENT,
        "ndim -1");
    BAD(NULL, xhal_tensor_create(cpu, XHAL_DTYPE_F32, 9, (int64_t[9]){1}, &tout), XHAL_ERROR_INVALID_ARGUMENT,
        "ndim 9");
    BAD(NULL, xhal_tensor_create(cpu, XHAL_DTYPE_F32, DIMS(2, -3), &tout), XHAL_ERROR_INVALID_ARGUMENT,
        "-3 (negative)");
    BAD(NULL, xhal_tensor_create(cpu, XHAL_DTYPE_F32, DIMS(INT64_MIN), &tout), XHAL_ERROR_INVALID_ARGUMENT, "negative");
    BAD(NULL, xhal_tensor_create(cpu, XHAL_DTYPE_INVALID, DIMS(2), &tout), XHAL_ERROR_INVALID_ARGUMENT, "dtype 0");
    BAD(NULL, xhal_tensor_create(cpu, (xhal_dtype)99, DIMS(2), &tout), XHAL_ERROR_INVALID_ARGUMENT, "dtype 99");
    BAD(NULL, xhal_tensor_create(cpu, (xhal_dtype)-5, DIMS(2), &tout), XHAL_ERROR_INVALID_ARGUMENT, "dtype -5");
    BAD(NULL, xhal_tensor_create(cpu, XHAL_DTYPE_F32, DIMS(INT64_MAX, 2), &tout), XHAL_ERROR_OVERFLOW,
        "overflows 64 bits");
    BAD(NULL, xhal_tensor_create(cpu, XHAL_DTYPE_F32, DIMS(1LL << 32, 1LL << 32), &tout), XHAL_ERROR_OVERFLOW,
        "overflows");
    BAD(NULL, xhal_tensor_create(cpu, XHAL_DTYPE_F64, DIMS(1LL << 60), &tout), XHAL_ERROR_OVERFLOW, "2^62 bytes");
    BAD(NULL, xhal_tensor_create(cpu, XHAL_DTYPE_I8, DIMS(1LL << 62, 4), &tout), XHAL_ERROR_OVERFLOW, "overflow");
    /* an empty tensor whose other dimensions overflow: its strides would too */
    BAD(NULL, xhal_tensor_create(cpu, XHAL_DTYPE_F32, DIMS(0, INT64_MAX, 4), &tout), XHAL_ERROR_OVERFLOW,
        "overflows 64 bits");
    BAD(NULL, xhal_tensor_create(cpu, XHAL_DTYPE_F32, 2, NULL, &tout), XHAL_ERROR_INVALID_ARGUMENT, "shape is NULL");
    BAD(NULL, xhal_tensor_create(cpu, XHAL_DTYPE_F32, DIMS(2), NULL), XHAL_ERROR_INVALID_ARGUMENT, "out is NULL");
    BAD(NULL, xhal_tensor_create(NULL, XHAL_DTYPE_F32, DIMS(2), &tout), XHAL_ERROR_INVALID_HANDLE, "device is NULL");
    BAD(NULL, xhal_tensor_create((xhal_device *)buf, XHAL_DTYPE_F32, DIMS(2), &tout), XHAL_ERROR_INVALID_HANDLE,
        "not a live device");
    /* views over a buffer of 64 bytes */
    BAD(NULL, xhal_tensor_from_buffer(buf, XHAL_DTYPE_F32, DIMS(17), NULL, 0, &tout), XHAL_ERROR_OUT_OF_RANGE,
        "reaches byte 68, but the buffer holds 64 bytes");
    BAD(NULL, xhal_tensor_from_buffer(buf, XHAL_DTYPE_F32, DIMS(16), NULL, 4, &tout), XHAL_ERROR_OUT_OF_RANGE,
        "at offset 4 reaches byte 68");
    BAD(NULL, xhal_tensor_from_buffer(buf, XHAL_DTYPE_F32, DIMS(1), NULL, 64, &tout), XHAL_ERROR_OUT_OF_RANGE,
        "the buffer holds 64 bytes");
    BAD(NULL, xhal_tensor_from_buffer(buf, XHAL_DTYPE_F32, DIMS(4, 4), (int64_t[]){5, 1}, 0, &tout),
        XHAL_ERROR_OUT_OF_RANGE, "reaches byte 76");
    BAD(NULL, xhal_tensor_from_buffer(buf, XHAL_DTYPE_F32, DIMS(2, 2), (int64_t[]){-1, 1}, 32, &tout),
        XHAL_ERROR_INVALID_ARGUMENT, "negative strides");
    BAD(NULL, xhal_tensor_from_buffer(buf, XHAL_DTYPE_F32, DIMS(2), NULL, 2, &tout), XHAL_ERROR_INVALID_ARGUMENT,
        "multiple");
    BAD(NULL, xhal_tensor_from_buffer(buf, XHAL_DTYPE_F32, DIMS(2), NULL, UINT64_MAX - 3, &tout), XHAL_ERROR_OVERFLOW,
        "overflows 64 bits");
    BAD(NULL, xhal_tensor_from_buffer(buf, XHAL_DTYPE_F32, DIMS(2, 2), (int64_t[]){INT64_MAX, 1}, 0, &tout),
        XHAL_ERROR_OVERFLOW, "overflows 64 bits");
    BAD(NULL, xhal_tensor_from_buffer(buf, XHAL_DTYPE_F32, DIMS(3), (int64_t[]){INT64_MAX / 2}, 0, &tout),
        XHAL_ERROR_OVERFLOW, "overflows 64 bits");
    BAD(NULL, xhal_tensor_from_buffer(buf, XHAL_DTYPE_F32, DIMS(2, 1LL << 62), (int64_t[]){0, 0}, 0, &tout),
        XHAL_ERROR_OVERFLOW, "overflows 64 bits");
    BAD(NULL, xhal_tensor_from_buffer(buf, XHAL_DTYPE_F32, DIMS(-2), NULL, 0, &tout), XHAL_ERROR_INVALID_ARGUMENT,
        "-2 (negative)");
    BAD(NULL, xhal_tensor_from_buffer(buf, XHAL_DTYPE_F32, 9, (int64_t[9]){1}, NULL, 0, &tout),
        XHAL_ERROR_INVALID_ARGUMENT, "ndim 9");
    BAD(NULL, xhal_tensor_from_buffer(buf, XHAL_DTYPE_INVALID, DIMS(2), NULL, 0, &tout), XHAL_ERROR_INVALID_ARGUMENT,
        "not a valid xhal_dtype");
    BAD(NULL, xhal_tensor_from_buffer(buf, XHAL_DTYPE_F32, DIMS(2), NULL, 0, NULL), XHAL_ERROR_INVALID_ARGUMENT,
        "out is NULL");
    BAD(NULL, xhal_tensor_from_buffer(dead_buffer(), XHAL_DTYPE_F32, DIMS(2), NULL, 0, &tout),
        XHAL_ERROR_INVALID_HANDLE, "not a live buffer");
    BAD(NULL, xhal_tensor_from_buffer(NULL, XHAL_DTYPE_F32, DIMS(2), NULL, 0, &tout), XHAL_ERROR_INVALID_HANDLE,
        "buffer is NULL");
    BAD(NULL, xhal_tensor_from_buffer((xhal_buffer *)a, XHAL_DTYPE_F32, DIMS(2), NULL, 0, &tout),
        XHAL_ERROR_INVALID_HANDLE, "not a live buffer");
    PTR_KEPT(tout);

    /* ==== tensor queries ==== */
    BAD(NULL, xhal_tensor_dtype(dead_tensor(), &dt), XHAL_ERROR_INVALID_HANDLE, "not a live tensor");
    BAD(NULL, xhal_tensor_dtype(a, NULL), XHAL_ERROR_INVALID_ARGUMENT, "dtype is NULL");
    BAD(NULL, xhal_tensor_dtype((xhal_tensor *)buf, &dt), XHAL_ERROR_INVALID_HANDLE, "is a buffer, not a tensor");
    BAD(NULL, xhal_tensor_shape(NULL, &ival, NULL, NULL), XHAL_ERROR_INVALID_HANDLE, "is NULL");
    BAD(NULL, xhal_tensor_shape(dead_tensor(), &ival, NULL, NULL), XHAL_ERROR_INVALID_HANDLE, "not a live tensor");
    BAD(NULL, xhal_tensor_numel(NULL, &n64), XHAL_ERROR_INVALID_HANDLE, "is NULL");
    BAD(NULL, xhal_tensor_numel(a, NULL), XHAL_ERROR_INVALID_ARGUMENT, "numel is NULL");
    BAD(NULL, xhal_tensor_numel((xhal_tensor *)ev, &n64), XHAL_ERROR_INVALID_HANDLE, "not a tensor");
    BAD(NULL, xhal_tensor_byte_offset(a, NULL), XHAL_ERROR_INVALID_ARGUMENT, "offset is NULL");
    BAD(NULL, xhal_tensor_byte_offset(dead_tensor(), &u64), XHAL_ERROR_INVALID_HANDLE, "not a live tensor");
    BAD(NULL, xhal_tensor_device(a, NULL), XHAL_ERROR_INVALID_ARGUMENT, "dev is NULL");
    BAD(NULL, xhal_tensor_device(dead_tensor(), &dout), XHAL_ERROR_INVALID_HANDLE, "not a live tensor");
    BAD(NULL, xhal_tensor_buffer(a, NULL), XHAL_ERROR_INVALID_ARGUMENT, "buf is NULL");
    BAD(NULL, xhal_tensor_buffer((xhal_tensor *)s, &bout), XHAL_ERROR_INVALID_HANDLE, "is a stream, not a tensor");
    BAD(NULL, xhal_tensor_is_contiguous(a, NULL), XHAL_ERROR_INVALID_ARGUMENT, "contiguous is NULL");
    BAD(NULL, xhal_tensor_is_contiguous(dead_tensor(), &ival), XHAL_ERROR_INVALID_HANDLE, "not a live tensor");
    BAD(NULL, xhal_tensor_destroy((xhal_tensor *)buf), XHAL_ERROR_INVALID_HANDLE, "not a tensor");

    /* ==== views ==== */
    BAD(NULL, xhal_tensor_slice(a, 2, 0, 1, 1, &tout), XHAL_ERROR_INVALID_ARGUMENT, "axis 2 is out of range");
    BAD(NULL, xhal_tensor_slice(a, -3, 0, 1, 1, &tout), XHAL_ERROR_INVALID_ARGUMENT, "axis -3 is out of range");
    BAD(NULL, xhal_tensor_slice(a, 0, 0, 1, 0, &tout), XHAL_ERROR_INVALID_ARGUMENT, "step 0 must be >= 1");
    BAD(NULL, xhal_tensor_slice(a, 0, 0, 1, -1, &tout), XHAL_ERROR_INVALID_ARGUMENT, "step -1 must be >= 1");
    BAD(NULL, xhal_tensor_slice(scal, 0, 0, 1, 1, &tout), XHAL_ERROR_INVALID_ARGUMENT,
        "out of range for a tensor with 0 dims");
    BAD(NULL, xhal_tensor_slice(a, 0, 0, 1, 1, NULL), XHAL_ERROR_INVALID_ARGUMENT, "out is NULL");
    BAD(NULL, xhal_tensor_slice(dead_tensor(), 0, 0, 1, 1, &tout), XHAL_ERROR_INVALID_HANDLE, "not a live tensor");
    BAD(NULL, xhal_tensor_permute(a, (int[]){0, 0}, &tout), XHAL_ERROR_INVALID_ARGUMENT, "permutation");
    BAD(NULL, xhal_tensor_permute(a, (int[]){0, 2}, &tout), XHAL_ERROR_INVALID_ARGUMENT, "permutation");
    BAD(NULL, xhal_tensor_permute(a, (int[]){-1, 0}, &tout), XHAL_ERROR_INVALID_ARGUMENT, "permutation");
    BAD(NULL, xhal_tensor_permute(a, NULL, &tout), XHAL_ERROR_INVALID_ARGUMENT, "perm or out is NULL");
    BAD(NULL, xhal_tensor_permute(NULL, (int[]){1, 0}, &tout), XHAL_ERROR_INVALID_HANDLE, "is NULL");
    BAD(NULL, xhal_tensor_transpose(a, 0, 2, &tout), XHAL_ERROR_INVALID_ARGUMENT, "axis 2");
    BAD(NULL, xhal_tensor_transpose(a, -3, 0, &tout), XHAL_ERROR_INVALID_ARGUMENT, "axis -3");
    BAD(NULL, xhal_tensor_transpose(dead_tensor(), 0, 1, &tout), XHAL_ERROR_INVALID_HANDLE, "not a live tensor");
    BAD(NULL, xhal_tensor_reshape(a, DIMS(4), &tout), XHAL_ERROR_SHAPE_MISMATCH, "6 elements");
    BAD(NULL, xhal_tensor_reshape(a, DIMS(-1, -1), &tout), XHAL_ERROR_INVALID_ARGUMENT, "more than one -1");
    BAD(NULL, xhal_tensor_reshape(a, DIMS(-1, 4), &tout), XHAL_ERROR_SHAPE_MISMATCH, "6 elements");
    BAD(NULL, xhal_tensor_reshape(a, DIMS(2, -2), &tout), XHAL_ERROR_INVALID_ARGUMENT, "dimension 1 is -2");
    BAD(NULL, xhal_tensor_reshape(a, DIMS(INT64_MAX, 4), &tout), XHAL_ERROR_OVERFLOW, "overflows 64 bits");
    {
        xhal_tensor *empty = mk(cpu, XHAL_DTYPE_F32, DIMS(0, 4));
        BAD(NULL, xhal_tensor_reshape(empty, DIMS(0, 3, 1LL << 62), &tout), XHAL_ERROR_OVERFLOW, "overflow");
        xhal_tensor_destroy(empty);
    }
    BAD(NULL, xhal_tensor_reshape(a, 9, (int64_t[9]){1}, &tout), XHAL_ERROR_INVALID_ARGUMENT, "ndim 9");
    BAD(NULL, xhal_tensor_reshape(a, 2, NULL, &tout), XHAL_ERROR_INVALID_ARGUMENT, "shape is NULL");
    BAD(NULL, xhal_tensor_reshape(a, DIMS(6), NULL), XHAL_ERROR_INVALID_ARGUMENT, "out is NULL");
    xhal_tensor *at = NULL;
    CHECK_OK(xhal_tensor_transpose(a, 0, 1, &at));
    BAD(NULL, xhal_tensor_reshape(at, DIMS(6), &tout), XHAL_ERROR_INVALID_ARGUMENT, "contiguous");
    BAD(NULL, xhal_tensor_expand(a, DIMS(2, 4), &tout), XHAL_ERROR_SHAPE_MISMATCH, "does not broadcast");
    BAD(NULL, xhal_tensor_expand(a, DIMS(3), &tout), XHAL_ERROR_SHAPE_MISMATCH, "cannot expand 2 dims to 1");
    BAD(NULL, xhal_tensor_expand(a, DIMS(2, -1), &tout), XHAL_ERROR_INVALID_ARGUMENT, "dimension 1 is -1 (negative)");
    BAD(NULL, xhal_tensor_expand(a, 9, (int64_t[9]){1, 1, 1, 1, 1, 1, 1, 2, 3}, &tout), XHAL_ERROR_INVALID_ARGUMENT,
        "ndim 9");
    BAD(NULL, xhal_tensor_expand(a, DIMS(2, 3), NULL), XHAL_ERROR_INVALID_ARGUMENT, "out is NULL");
    BAD(NULL, xhal_tensor_expand(dead_tensor(), DIMS(2, 3), &tout), XHAL_ERROR_INVALID_HANDLE, "not a live tensor");
    PTR_KEPT(tout);

    /* ==== transfers ==== */
    BAD(out, xhal_tensor_write(s, out, host, 23), XHAL_ERROR_INVALID_ARGUMENT, "size is 23 bytes");
    BAD(out, xhal_tensor_write(s, out, host, 25), XHAL_ERROR_INVALID_ARGUMENT, "holds 24");
    BAD(out, xhal_tensor_write(s, out, NULL, 24), XHAL_ERROR_INVALID_ARGUMENT, "src is NULL");
    BAD(far, xhal_tensor_write(s, far, host, 24), XHAL_ERROR_WRONG_DEVICE, "on testdev:0 but the stream is on cpu:0");
    BAD(NULL, xhal_tensor_write(s, alien, host, 24), XHAL_ERROR_INVALID_HANDLE, "another context");
    BAD(out, xhal_tensor_write(NULL, out, host, 24), XHAL_ERROR_INVALID_HANDLE, "stream is NULL");
    BAD(out, xhal_tensor_write(dead_stream(), out, host, 24), XHAL_ERROR_INVALID_HANDLE, "not a live stream");
    BAD(out, xhal_tensor_write((xhal_stream *)out, out, host, 24), XHAL_ERROR_INVALID_HANDLE, "not a live stream");
    BAD(NULL, xhal_tensor_write(s, dead_tensor(), host, 24), XHAL_ERROR_INVALID_HANDLE, "not a live tensor");
    BAD(NULL, xhal_tensor_read(s, a, host, 20), XHAL_ERROR_INVALID_ARGUMENT, "size is 20 bytes");
    BAD(NULL, xhal_tensor_read(s, a, NULL, 24), XHAL_ERROR_INVALID_ARGUMENT, "dst is NULL");
    BAD(NULL, xhal_tensor_read(s2, a, host, 24), XHAL_ERROR_WRONG_DEVICE, "on cpu:0 but the stream is on testdev:0");
    BAD(NULL, xhal_tensor_read(s, (xhal_tensor *)buf, host, 24), XHAL_ERROR_INVALID_HANDLE, "not a tensor");

    /* ==== streams and events ==== */
    BAD(NULL, xhal_stream_create(NULL, &sout), XHAL_ERROR_INVALID_HANDLE, "device is NULL");
    BAD(NULL, xhal_stream_create(cpu, NULL), XHAL_ERROR_INVALID_ARGUMENT, "out is NULL");
    BAD(NULL, xhal_stream_create((xhal_device *)ctx, &sout), XHAL_ERROR_INVALID_HANDLE, "not a live device");
    PTR_KEPT(sout);
    BAD(NULL, xhal_stream_synchronize(dead_stream()), XHAL_ERROR_INVALID_HANDLE, "not a live stream");
    BAD(NULL, xhal_stream_synchronize(NULL), XHAL_ERROR_INVALID_HANDLE, "stream is NULL");
    BAD(NULL, xhal_stream_synchronize((xhal_stream *)ev), XHAL_ERROR_INVALID_HANDLE, "not a live stream");
    BAD(NULL, xhal_stream_device(s, NULL), XHAL_ERROR_INVALID_ARGUMENT, "dev is NULL");
    BAD(NULL, xhal_stream_device(dead_stream(), &dout), XHAL_ERROR_INVALID_HANDLE, "not a live stream");
    BAD(NULL, xhal_stream_destroy((xhal_stream *)a), XHAL_ERROR_INVALID_HANDLE, "not a live stream");
    BAD(NULL, xhal_event_create(NULL, &eout), XHAL_ERROR_INVALID_HANDLE, "device is NULL");
    BAD(NULL, xhal_event_create(cpu, NULL), XHAL_ERROR_INVALID_ARGUMENT, "out is NULL");
    PTR_KEPT(eout);
    BAD(NULL, xhal_event_record(ev, s2), XHAL_ERROR_WRONG_DEVICE, "event is on cpu:0 but the stream is on testdev:0");
    BAD(NULL, xhal_event_record(dead_event(), s), XHAL_ERROR_INVALID_HANDLE, "not a live event");
    BAD(NULL, xhal_event_record(NULL, s), XHAL_ERROR_INVALID_HANDLE, "event is NULL");
    BAD(NULL, xhal_event_record(ev, dead_stream()), XHAL_ERROR_INVALID_HANDLE, "not a live stream");
    BAD(NULL, xhal_event_record((xhal_event *)s, s), XHAL_ERROR_INVALID_HANDLE, "not a live event");
    BAD(NULL, xhal_stream_wait_event(s, ev_never), XHAL_ERROR_INVALID_ARGUMENT, "never recorded");
    BAD(NULL, xhal_stream_wait_event(s, dead_event()), XHAL_ERROR_INVALID_HANDLE, "not a live event");
    BAD(NULL, xhal_stream_wait_event(NULL, ev), XHAL_ERROR_INVALID_HANDLE, "stream is NULL");
    BAD(NULL, xhal_event_synchronize(ev_never), XHAL_ERROR_INVALID_ARGUMENT, "never recorded");
    BAD(NULL, xhal_event_synchronize(dead_event()), XHAL_ERROR_INVALID_HANDLE, "not a live event");
    BAD(NULL, xhal_event_elapsed_ms(ev, ev_never, &dv), XHAL_ERROR_INVALID_ARGUMENT, "never recorded");
    BAD(NULL, xhal_event_elapsed_ms(ev, ev2, &dv), XHAL_ERROR_WRONG_DEVICE, "events are on cpu:0 and testdev:0");
    BAD(NULL, xhal_event_elapsed_ms(ev, ev, NULL), XHAL_ERROR_INVALID_ARGUMENT, "ms is NULL");
    BAD(NULL, xhal_event_elapsed_ms(dead_event(), ev, &dv), XHAL_ERROR_INVALID_HANDLE, "not a live event");
    BAD(NULL, xhal_event_destroy((xhal_event *)buf), XHAL_ERROR_INVALID_HANDLE, "not a live event");

    /* ==== copy / fill / contiguous ==== */
    BAD(out, xhal_copy(s, a, o4), XHAL_ERROR_SHAPE_MISMATCH, "[2,3]");
    BAD(out, xhal_copy(s, a, o32), XHAL_ERROR_SHAPE_MISMATCH, "[3,2]");
    /* a view copied onto the very same view is a documented no-op (not a bad input) */
    {
        snap sn;
        snap_take(&sn, out);
        CHECK_OK(xhal_copy(s, out, out));
        CHECK(snap_same(&sn));
    }
    BAD(out, xhal_copy(s, alien, out), XHAL_ERROR_INVALID_HANDLE, "different contexts");
    BAD(out, xhal_copy(s, dead_tensor(), out), XHAL_ERROR_INVALID_HANDLE, "not a live tensor");
    BAD(out, xhal_copy(s, a, NULL), XHAL_ERROR_INVALID_HANDLE, "is NULL");
    BAD(NULL, xhal_copy(dead_stream(), a, out), XHAL_ERROR_INVALID_HANDLE, "not a live stream");
    {
        xhal_stream *s_b = NULL;
        xhal_tensor *alien_o = mk(cpu_b, XHAL_DTYPE_F32, DIMS(2, 3));
        CHECK_OK(xhal_stream_create(cpu_b, &s_b));
        /* src and dst on cpu:0 of ctx, the stream of ctx2 */
        BAD(out, xhal_copy(s_b, a, out), XHAL_ERROR_INVALID_HANDLE, "another context");
        BAD(NULL, xhal_fill(s_b, a, 1.0), XHAL_ERROR_INVALID_HANDLE, "another context");
        xhal_tensor_destroy(alien_o);
        xhal_stream_destroy(s_b);
    }
    xhal_tensor *view_overlap = NULL;
    CHECK_OK(xhal_tensor_slice(out, 1, 0, 2, 1, &view_overlap));
    xhal_tensor *view_overlap2 = NULL;
    CHECK_OK(xhal_tensor_slice(out, 1, 1, 3, 1, &view_overlap2));
    BAD(out, xhal_copy(s, view_overlap, view_overlap2), XHAL_ERROR_INVALID_ARGUMENT, "overlaps");
    BAD(NULL, xhal_fill(s, dead_tensor(), 1.0), XHAL_ERROR_INVALID_HANDLE, "not a live tensor");
    BAD(far, xhal_fill(s, far, 1.0), XHAL_ERROR_WRONG_DEVICE, "on testdev:0 but the stream is on cpu:0");
    BAD(NULL, xhal_fill(NULL, a, 1.0), XHAL_ERROR_INVALID_HANDLE, "stream is NULL");
    BAD(NULL, xhal_contiguous(s, a, (xhal_dtype)42, &tout), XHAL_ERROR_INVALID_ARGUMENT, "dtype 42");
    BAD(NULL, xhal_contiguous(s, a, XHAL_DTYPE_F32, NULL), XHAL_ERROR_INVALID_ARGUMENT, "out is NULL");
    BAD(NULL, xhal_contiguous(s, far, XHAL_DTYPE_F32, &tout), XHAL_ERROR_WRONG_DEVICE, "testdev:0");
    BAD(NULL, xhal_contiguous(s, dead_tensor(), XHAL_DTYPE_F32, &tout), XHAL_ERROR_INVALID_HANDLE, "not a live tensor");
    PTR_KEPT(tout);

    /* ==== unary ==== */
    BAD(out, xhal_unary(s, XHAL_OP_ADD, a, out), XHAL_ERROR_INVALID_ARGUMENT, "op 30 is not a unary op");
    BAD(out, xhal_unary(s, (xhal_op)999, a, out), XHAL_ERROR_INVALID_ARGUMENT, "op 999");
    BAD(out, xhal_unary(s, XHAL_OP_INVALID, a, out), XHAL_ERROR_INVALID_ARGUMENT, "op 0");
    BAD(out, xhal_unary(s, XHAL_OP_EXP, h, out), XHAL_ERROR_DTYPE_MISMATCH, "f16");
    BAD(NULL, xhal_unary(s, XHAL_OP_EXP, i32, i32), XHAL_ERROR_DTYPE_MISMATCH, "i32");
    BAD(NULL, xhal_unary(s, XHAL_OP_SQRT, u8, u8), XHAL_ERROR_DTYPE_MISMATCH, "u8");
    BAD(o4, xhal_unary(s, XHAL_OP_EXP, a, o4), XHAL_ERROR_SHAPE_MISMATCH, "[4]");
    BAD(o32, xhal_unary(s, XHAL_OP_RELU, a, o32), XHAL_ERROR_SHAPE_MISMATCH, "[3,2]");
    BAD(out, xhal_unary(s, XHAL_OP_EXP, far, out), XHAL_ERROR_WRONG_DEVICE,
        "x is on testdev:0 but the stream is on cpu:0");
    BAD(far, xhal_unary(s, XHAL_OP_EXP, a, far), XHAL_ERROR_WRONG_DEVICE, "out is on testdev:0");
    BAD(out, xhal_unary(s, XHAL_OP_EXP, alien, out), XHAL_ERROR_INVALID_HANDLE, "x belongs to another context");
    BAD(out, xhal_unary(s, XHAL_OP_EXP, dead_tensor(), out), XHAL_ERROR_INVALID_HANDLE, "not a live tensor");
    BAD(out, xhal_unary(s, XHAL_OP_EXP, (xhal_tensor *)buf, out), XHAL_ERROR_INVALID_HANDLE,
        "is a buffer, not a tensor");
    BAD(out, xhal_unary(s, XHAL_OP_EXP, NULL, out), XHAL_ERROR_INVALID_HANDLE, "x is NULL");
    BAD(NULL, xhal_unary(s, XHAL_OP_EXP, a, NULL), XHAL_ERROR_INVALID_HANDLE, "out is NULL");
    BAD(out, xhal_unary(dead_stream(), XHAL_OP_EXP, a, out), XHAL_ERROR_INVALID_HANDLE, "not a live stream");
    BAD(out, xhal_unary((xhal_stream *)cpu, XHAL_OP_EXP, a, out), XHAL_ERROR_INVALID_HANDLE, "not a live stream");
    BAD(out, xhal_unary(s2, XHAL_OP_EXP, a, out), XHAL_ERROR_WRONG_DEVICE, "the stream is on testdev:0");
    BAD(out, xhal_unary(s, XHAL_OP_EXP, view_overlap, view_overlap2), XHAL_ERROR_INVALID_ARGUMENT, "overlaps");

    /* ==== binary ==== */
    BAD(out, xhal_binary(s, XHAL_OP_EXP, a, b, out), XHAL_ERROR_INVALID_ARGUMENT, "op 12 is not a binary op");
    BAD(out, xhal_binary(s, XHAL_OP_SCALE, a, b, out), XHAL_ERROR_INVALID_ARGUMENT, "not a binary op");
    BAD(out, xhal_binary(s, XHAL_OP_ADD, a, h, out), XHAL_ERROR_DTYPE_MISMATCH, "f16");
    BAD(out, xhal_binary(s, XHAL_OP_ADD, a, i32, out), XHAL_ERROR_DTYPE_MISMATCH, "i32");
    BAD(NULL, xhal_binary(s, XHAL_OP_DIV, i32, i32, i32), XHAL_ERROR_DTYPE_MISMATCH, "i32");
    BAD(NULL, xhal_binary(s, XHAL_OP_ADD, u8, u8, u8), XHAL_ERROR_DTYPE_MISMATCH, "u8");
    BAD(out, xhal_binary(s, XHAL_OP_ADD, a, b2x4, out), XHAL_ERROR_SHAPE_MISMATCH, "do not broadcast");
    BAD(out, xhal_binary(s, XHAL_OP_MUL, a, o4, out), XHAL_ERROR_SHAPE_MISMATCH, "do not broadcast");
    BAD(o4, xhal_binary(s, XHAL_OP_ADD, a, b, o4), XHAL_ERROR_SHAPE_MISMATCH, "broadcast to [2,3] but out is [4]");
    BAD(NULL, xhal_binary(s, XHAL_OP_ADD, a, f2, out), XHAL_ERROR_SHAPE_MISMATCH, "do not broadcast");
    BAD(out, xhal_binary(s2, XHAL_OP_ADD, a, b, out), XHAL_ERROR_WRONG_DEVICE,
        "a is on cpu:0 but the stream is on testdev:0");
    BAD(out, xhal_binary(s, XHAL_OP_ADD, a, far, out), XHAL_ERROR_WRONG_DEVICE, "b is on testdev:0");
    BAD(out, xhal_binary(s, XHAL_OP_ADD, a, alien, out), XHAL_ERROR_INVALID_HANDLE, "b belongs to another context");
    BAD(out, xhal_binary(s, XHAL_OP_ADD, dead_tensor(), b, out), XHAL_ERROR_INVALID_HANDLE, "a: ");
    BAD(out, xhal_binary(s, XHAL_OP_ADD, a, NULL, out), XHAL_ERROR_INVALID_HANDLE, "b is NULL");
    BAD(out, xhal_add(s, a, b2x4, out), XHAL_ERROR_SHAPE_MISMATCH, "do not broadcast");
    BAD(out, xhal_add(s, a, h, out), XHAL_ERROR_DTYPE_MISMATCH, "f16");
    BAD(out, xhal_mul(s, a, (xhal_tensor *)ev, out), XHAL_ERROR_INVALID_HANDLE, "not a tensor");
    BAD(out, xhal_mul(s, far, b, out), XHAL_ERROR_WRONG_DEVICE, "testdev:0");
    BAD(out, xhal_add(s, view_overlap, view_overlap, view_overlap2), XHAL_ERROR_INVALID_ARGUMENT, "overlaps");
    /* scale */
    BAD(out, xhal_scale(s, a, 1.0 / 0.0, 0.0, out), XHAL_ERROR_INVALID_ARGUMENT, "must be finite");
    BAD(out, xhal_scale(s, a, 1.0, 0.0 / 0.0, out), XHAL_ERROR_INVALID_ARGUMENT, "must be finite");
    BAD(o4, xhal_scale(s, a, 1.0, 0.0, o4), XHAL_ERROR_SHAPE_MISMATCH, "[4]");
    BAD(out, xhal_scale(s, h, 1.0, 0.0, out), XHAL_ERROR_DTYPE_MISMATCH, "f16");
    BAD(out, xhal_scale(s, far, 1.0, 0.0, out), XHAL_ERROR_WRONG_DEVICE, "testdev:0");

    /* ==== reductions ==== */
    xhal_tensor *r2 = F32(2), *r3 = F32(3), *r21 = F32(2, 1), *ri32 = mk(cpu, XHAL_DTYPE_I32, DIMS(2));
    xhal_tensor *empty_ax = F32(2, 0), *r2b = F32(2);
    fill(r2, 777.0);
    fill(r3, 777.0);
    fill(r21, 777.0);
    fill(ri32, 7.0);
    fill(r2b, 777.0);
    BAD(r2, xhal_reduce(s, XHAL_OP_ADD, a, 1, 0, r2), XHAL_ERROR_INVALID_ARGUMENT, "op 30 is not a reduction");
    BAD(r2, xhal_reduce(s, XHAL_OP_SUM, a, 2, 0, r2), XHAL_ERROR_INVALID_ARGUMENT, "axis 2 is out of range");
    BAD(r2, xhal_reduce(s, XHAL_OP_SUM, a, -3, 0, r2), XHAL_ERROR_INVALID_ARGUMENT, "axis -3 is out of range");
    BAD(r2, xhal_reduce(s, XHAL_OP_SUM, a, 0, 0, r2), XHAL_ERROR_SHAPE_MISMATCH, "gives [3] but out is [2]");
    BAD(r2, xhal_reduce(s, XHAL_OP_SUM, a, 1, 1, r2), XHAL_ERROR_SHAPE_MISMATCH, "keepdims=1");
    BAD(r21, xhal_reduce(s, XHAL_OP_MEAN, a, 1, 0, r21), XHAL_ERROR_SHAPE_MISMATCH, "keepdims=0");
    BAD(r2, xhal_reduce(s, XHAL_OP_MAX, empty_ax, 1, 0, r2), XHAL_ERROR_INVALID_ARGUMENT, "is empty");
    BAD(ri32, xhal_reduce(s, XHAL_OP_ARGMAX, empty_ax, 1, 0, ri32), XHAL_ERROR_INVALID_ARGUMENT, "is empty");
    BAD(r2, xhal_reduce(s, XHAL_OP_ARGMAX, a, 1, 0, r2), XHAL_ERROR_DTYPE_MISMATCH, "argmax writes i32 or i64");
    BAD(ri32, xhal_reduce(s, XHAL_OP_SUM, a, 1, 0, ri32), XHAL_ERROR_DTYPE_MISMATCH, "i32");
    BAD(r2, xhal_reduce(s, XHAL_OP_SUM, scal, 0, 0, r2), XHAL_ERROR_INVALID_ARGUMENT, "scalar");
    BAD(r2, xhal_reduce(s, XHAL_OP_SUM, far, 1, 0, r2), XHAL_ERROR_WRONG_DEVICE, "testdev:0");

    /* ==== softmax / norms ==== */
    BAD(out, xhal_softmax(s, a, 1.0 / 0.0, 0, out), XHAL_ERROR_INVALID_ARGUMENT, "scale inf is not finite");
    BAD(out, xhal_softmax(s, a, 0.0 / 0.0, 0, out), XHAL_ERROR_INVALID_ARGUMENT, "is not finite");
    BAD(o32, xhal_softmax(s, a, 1.0, 0, o32), XHAL_ERROR_SHAPE_MISMATCH, "[3,2]");
    BAD(out, xhal_softmax(s, i32, 1.0, 0, out), XHAL_ERROR_DTYPE_MISMATCH, "i32");
    BAD(scal, xhal_softmax(s, scal, 1.0, 0, scal), XHAL_ERROR_INVALID_ARGUMENT, "scalar");
    BAD(o4, xhal_softmax(s, o4, 1.0, 1, o4), XHAL_ERROR_INVALID_ARGUMENT, "causal softmax needs x as [..., Sq, Sk]");
    BAD(o32, xhal_softmax(s, o32, 1.0, 1, o32), XHAL_ERROR_SHAPE_MISMATCH, "Sk >= Sq, got Sq=3 Sk=2");
    BAD(out, xhal_softmax(s, far, 1.0, 0, out), XHAL_ERROR_WRONG_DEVICE, "testdev:0");
    xhal_tensor *w3 = F32(3), *w4 = F32(4), *wh = mk(cpu, XHAL_DTYPE_F16, DIMS(3)), *w23 = F32(2, 3);
    fill(w3, 1.0);
    fill(w4, 1.0);
    fill(wh, 1.0);
    fill(w23, 1.0);
    BAD(out, xhal_rms_norm(s, a, w4, 1e-6, out), XHAL_ERROR_SHAPE_MISMATCH, "must be [3] (x's last dim)");
    BAD(out, xhal_rms_norm(s, a, w23, 1e-6, out), XHAL_ERROR_SHAPE_MISMATCH, "must be [3]");
    BAD(out, xhal_rms_norm(s, a, wh, 1e-6, out), XHAL_ERROR_DTYPE_MISMATCH, "f16");
    BAD(out, xhal_rms_norm(s, a, w3, -1.0, out), XHAL_ERROR_INVALID_ARGUMENT, "eps -1 must be finite and >= 0");
    BAD(out, xhal_rms_norm(s, a, w3, 0.0 / 0.0, out), XHAL_ERROR_INVALID_ARGUMENT, "must be finite");
    BAD(o32, xhal_rms_norm(s, a, w3, 1e-6, o32), XHAL_ERROR_SHAPE_MISMATCH, "[3,2]");
    BAD(out, xhal_rms_norm(s, a, dead_tensor(), 1e-6, out), XHAL_ERROR_INVALID_HANDLE, "not a live tensor");
    BAD(scal, xhal_rms_norm(s, scal, NULL, 1e-6, scal), XHAL_ERROR_INVALID_ARGUMENT, "scalar");
    BAD(out, xhal_rms_norm(s, i32, NULL, 1e-6, out), XHAL_ERROR_DTYPE_MISMATCH, "i32");
    BAD(out, xhal_layer_norm(s, a, w3, w4, 1e-5, out), XHAL_ERROR_SHAPE_MISMATCH, "must be [3]");
    BAD(out, xhal_layer_norm(s, a, w4, NULL, 1e-5, out), XHAL_ERROR_SHAPE_MISMATCH, "must be [3]");
    BAD(out, xhal_layer_norm(s, a, NULL, wh, 1e-5, out), XHAL_ERROR_DTYPE_MISMATCH, "f16");
    BAD(out, xhal_layer_norm(s, a, NULL, NULL, 1.0 / 0.0, out), XHAL_ERROR_INVALID_ARGUMENT, "must be finite");
    BAD(out, xhal_layer_norm(s, a, far, NULL, 1e-5, out), XHAL_ERROR_WRONG_DEVICE, "testdev:0");

    /* ==== matmul ==== */
    xhal_tensor *m23 = F32(2, 3), *m34 = F32(3, 4), *m24 = F32(2, 4), *m44 = F32(4, 4), *m42 = F32(4, 2);
    xhal_tensor *bm = F32(2, 2, 3), *bm3 = F32(3, 3, 4), *bmo = F32(2, 2, 4),
                *m24h = mk(cpu, XHAL_DTYPE_F16, DIMS(2, 4));
    xhal_tensor *m23i = mk(cpu, XHAL_DTYPE_I32, DIMS(2, 3)), *m34i = mk(cpu, XHAL_DTYPE_I32, DIMS(3, 4));
    xhal_tensor *m24i = mk(cpu, XHAL_DTYPE_I32, DIMS(2, 4));
    fill(m23, 1.0);
    fill(m34, 1.0);
    fill(m24, 777.0);
    fill(m44, 1.0);
    fill(bm, 1.0);
    fill(bm3, 1.0);
    fill(bmo, 777.0);
    fill(m23i, 1.0);
    fill(m34i, 1.0);
    fill(m24i, 7.0);
    fill(m42, 777.0);
    BAD(m24, xhal_matmul(s, m23, m44, 0, 0, 1.0, 0.0, m24), XHAL_ERROR_SHAPE_MISMATCH, "inner dims 3 and 4 differ");
    BAD(m24, xhal_matmul(s, m23, m34, 1, 0, 1.0, 0.0, m24), XHAL_ERROR_SHAPE_MISMATCH, "inner dims 2 and 3 differ");
    BAD(m24, xhal_matmul(s, m23, m34, 0, 1, 1.0, 0.0, m24), XHAL_ERROR_SHAPE_MISMATCH, "inner dims");
    BAD(m42, xhal_matmul(s, m23, m34, 0, 0, 1.0, 0.0, m42), XHAL_ERROR_SHAPE_MISMATCH,
        "result is [2,4] but out is [4,2]");
    BAD(m24, xhal_matmul(s, f2, m34, 0, 0, 1.0, 0.0, m24), XHAL_ERROR_SHAPE_MISMATCH, "at least 2 dims");
    BAD(m24, xhal_matmul(s, m23, m34, 0, 0, 1.0 / 0.0, 0.0, m24), XHAL_ERROR_INVALID_ARGUMENT, "must be finite");
    BAD(m24, xhal_matmul(s, m23, m34, 0, 0, 1.0, 0.0 / 0.0, m24), XHAL_ERROR_INVALID_ARGUMENT, "must be finite");
    BAD(m24h, xhal_matmul(s, m23, m34, 0, 0, 1.0, 0.0, m24h), XHAL_ERROR_DTYPE_MISMATCH, "f16");
    BAD(m24i, xhal_matmul(s, m23i, m34i, 0, 0, 1.0, 0.0, m24i), XHAL_ERROR_DTYPE_MISMATCH, "i32");
    BAD(bmo, xhal_matmul(s, bm, bm3, 0, 0, 1.0, 0.0, bmo), XHAL_ERROR_SHAPE_MISMATCH, "do not broadcast");
    BAD(m24, xhal_matmul(s, far, m34, 0, 0, 1.0, 0.0, m24), XHAL_ERROR_WRONG_DEVICE, "a is on testdev:0");
    BAD(m24, xhal_matmul(s, m23, alien, 0, 0, 1.0, 0.0, m24), XHAL_ERROR_INVALID_HANDLE, "another context");
    {
        xhal_tensor *ov = NULL;
        CHECK_OK(xhal_tensor_slice(m44, 0, 0, 2, 1, &ov)); /* [2,4] over m44 rows 0..1 */
        xhal_tensor *a_ov = NULL;
        CHECK_OK(xhal_tensor_slice(m44, 1, 0, 2, 1, &a_ov)); /* [4,2] over m44 */
        xhal_tensor *a22 = NULL;
        CHECK_OK(xhal_tensor_slice(a_ov, 0, 0, 2, 1, &a22));
        xhal_tensor *b24 = F32(2, 4);
        fill(b24, 1.0);
        BAD(m44, xhal_matmul(s, a22, b24, 0, 0, 1.0, 0.0, ov), XHAL_ERROR_INVALID_ARGUMENT, "overlaps");
        xhal_tensor_destroy(b24);
        xhal_tensor_destroy(a22);
        xhal_tensor_destroy(a_ov);
        xhal_tensor_destroy(ov);
    }

    /* ==== gather ==== */
    xhal_tensor *table = F32(5, 3), *idx = mk(cpu, XHAL_DTYPE_I32, DIMS(2)), *idxf = F32(2), *g_out = F32(2, 3);
    xhal_tensor *empty_table = F32(0, 3), *g_out4 = F32(2, 4);
    fill(table, 1.0);
    fill(g_out, 777.0);
    fill(idxf, 0.0);
    fill(g_out4, 777.0);
    xhal_tensor *idx_hi = mk(cpu, XHAL_DTYPE_I32, DIMS(2)), *idx_neg = mk(cpu, XHAL_DTYPE_I64, DIMS(2));
    int32_t hi[2] = {1, 5}, ok_idx[2] = {1, 0};
    int64_t neg[2] = {0, -1};
    CHECK_OK(xhal_tensor_write(s, idx_hi, hi, sizeof hi));
    CHECK_OK(xhal_tensor_write(s, idx_neg, neg, sizeof neg));
    CHECK_OK(xhal_tensor_write(s, idx, ok_idx, sizeof ok_idx));
    /* bad index values are the device's to find: reported at the next wait (test_gather_status) */
    CHECK_OK(xhal_gather(s, table, idx_hi, g_out));
    CHECK_STATUS(xhal_stream_synchronize(s), XHAL_ERROR_OUT_OF_RANGE, "indices[1] = 5 is outside [0, 5)");
    CHECK_OK(xhal_gather(s, table, idx_neg, g_out));
    CHECK_STATUS(xhal_stream_synchronize(s), XHAL_ERROR_OUT_OF_RANGE, "indices[1] = -1 is outside [0, 5)");
    fill(g_out, 777.0);
    BAD(g_out, xhal_gather(s, table, idxf, g_out), XHAL_ERROR_DTYPE_MISMATCH, "must be i32 or i64");
    BAD(g_out4, xhal_gather(s, table, idx, g_out4), XHAL_ERROR_SHAPE_MISMATCH, "[2,4]");
    BAD(g_out, xhal_gather(s, empty_table, idx, g_out), XHAL_ERROR_OUT_OF_RANGE, "no rows");
    BAD(g_out, xhal_gather(s, scal, idx, g_out), XHAL_ERROR_SHAPE_MISMATCH, "table is a scalar");
    BAD(NULL, xhal_gather(s, table, idx, i32), XHAL_ERROR_DTYPE_MISMATCH, "i32");
    BAD(g_out, xhal_gather(s, far, idx, g_out), XHAL_ERROR_WRONG_DEVICE, "testdev:0");

    /* ==== rope: x [S=2, H=2, D=4] ==== */
    xhal_tensor *rx = F32(2, 2, 4), *ro = F32(2, 2, 4), *ro2 = F32(2, 2, 2),
                *rxi = mk(cpu, XHAL_DTYPE_I32, DIMS(2, 2, 4));
    fill(rx, 0.5);
    fill(ro, 777.0);
    fill(ro2, 777.0);
    BAD(ro, xhal_rope(s, rx, 0, 10000.0, 0, 3, XHAL_ROPE_HALF, ro), XHAL_ERROR_INVALID_ARGUMENT,
        "rotary_dims 3 must be even");
    BAD(ro, xhal_rope(s, rx, 0, 10000.0, 0, 6, XHAL_ROPE_HALF, ro), XHAL_ERROR_INVALID_ARGUMENT, "rotary_dims 6");
    BAD(ro, xhal_rope(s, rx, 0, 10000.0, 0, -2, XHAL_ROPE_HALF, ro), XHAL_ERROR_INVALID_ARGUMENT, "rotary_dims -2");
    BAD(ro, xhal_rope(s, rx, 0, 0.0, 0, 0, XHAL_ROPE_HALF, ro), XHAL_ERROR_INVALID_ARGUMENT,
        "theta 0 must be finite and > 0");
    BAD(ro, xhal_rope(s, rx, 0, -1.0, 0, 0, XHAL_ROPE_HALF, ro), XHAL_ERROR_INVALID_ARGUMENT, "theta -1");
    BAD(ro, xhal_rope(s, rx, 0, 10000.0, -1, 0, XHAL_ROPE_HALF, ro), XHAL_ERROR_INVALID_ARGUMENT,
        "pos_offset -1 is negative");
    BAD(ro, xhal_rope(s, rx, 0, 10000.0, 0, 0, (xhal_rope_layout)7, ro), XHAL_ERROR_INVALID_ARGUMENT, "layout 7");
    BAD(ro, xhal_rope(s, rx, 2, 10000.0, 0, 0, XHAL_ROPE_HALF, ro), XHAL_ERROR_INVALID_ARGUMENT, "seq_axis 2");
    BAD(ro, xhal_rope(s, rx, 5, 10000.0, 0, 0, XHAL_ROPE_HALF, ro), XHAL_ERROR_INVALID_ARGUMENT, "seq_axis 5");
    BAD(ro2, xhal_rope(s, rx, 0, 10000.0, 0, 0, XHAL_ROPE_HALF, ro2), XHAL_ERROR_SHAPE_MISMATCH, "[2,2,2]");
    BAD(o4, xhal_rope(s, o4, 0, 10000.0, 0, 0, XHAL_ROPE_HALF, o4), XHAL_ERROR_SHAPE_MISMATCH,
        "sequence axis and a head dim");
    BAD(NULL, xhal_rope(s, rxi, 0, 10000.0, 0, 0, XHAL_ROPE_HALF, rxi), XHAL_ERROR_DTYPE_MISMATCH, "i32");
    BAD(ro, xhal_rope(s, far, 0, 10000.0, 0, 0, XHAL_ROPE_HALF, ro), XHAL_ERROR_WRONG_DEVICE, "testdev:0");

    /* ==== attention ==== */
    BAD(ao, xhal_attention(s, q, k3, v3, NULL, 0.0, 0, ao), XHAL_ERROR_SHAPE_MISMATCH,
        "4 query heads are not a multiple of 3 key/value heads");
    BAD(ao, xhal_attention(s, q, k, vshort, NULL, 0.0, 0, ao), XHAL_ERROR_SHAPE_MISMATCH, "do not agree");
    BAD(ao, xhal_attention(s, q, kD4, v, NULL, 0.0, 0, ao), XHAL_ERROR_SHAPE_MISMATCH, "do not agree");
    BAD(ao, xhal_attention(s, q, kshort, vshort, NULL, 0.0, 1, ao), XHAL_ERROR_SHAPE_MISMATCH,
        "Sk >= Sq, got Sq=2 Sk=1");
    BAD(ao, xhal_attention(s, q3d, k, v, NULL, 0.0, 0, ao), XHAL_ERROR_SHAPE_MISMATCH,
        "has 3 dims; it must be [B, H, S, D]");
    BAD(ao, xhal_attention(s, q, k, v, badmask, 0.0, 0, ao), XHAL_ERROR_SHAPE_MISMATCH,
        "mask [3,2] and [B,Hq,Sq,Sk] [1,4,2,2] do not broadcast");
    BAD(ao, xhal_attention(s, qh, k, v, NULL, 0.0, 0, ao), XHAL_ERROR_DTYPE_MISMATCH, "f16");
    BAD(ao, xhal_attention(s, q, k, v, NULL, 1.0 / 0.0, 0, ao), XHAL_ERROR_INVALID_ARGUMENT, "not finite");
    BAD(o4, xhal_attention(s, q, k, v, NULL, 0.0, 0, o4), XHAL_ERROR_SHAPE_MISMATCH, "out has 1 dims");
    BAD(ao, xhal_attention(s, q, far, v, NULL, 0.0, 0, ao), XHAL_ERROR_WRONG_DEVICE, "k is on testdev:0");
    BAD(ao, xhal_attention(s, q, k, v, dead_tensor(), 0.0, 0, ao), XHAL_ERROR_INVALID_HANDLE, "not a live tensor");
    BAD(ao, xhal_attention(s, q, k, alien, NULL, 0.0, 0, ao), XHAL_ERROR_INVALID_HANDLE, "another context");
    BAD(ao, xhal_attention(s, q, k, v, NULL, 0.0, 0, q), XHAL_ERROR_INVALID_ARGUMENT, "overlaps");

    /* ==== concat ==== */
    xhal_tensor *c_in[3] = {a, b, o32};
    xhal_tensor *c_out = F32(4, 3), *c_out5 = F32(5, 3);
    fill(c_out, 777.0);
    fill(c_out5, 777.0);
    BAD(c_out, xhal_concat(s, c_in, 0, 0, c_out), XHAL_ERROR_INVALID_ARGUMENT, "n is 0");
    BAD(c_out, xhal_concat(s, c_in, -1, 0, c_out), XHAL_ERROR_INVALID_ARGUMENT, "n is -1");
    BAD(c_out5, xhal_concat(s, c_in, 2, 0, c_out5), XHAL_ERROR_SHAPE_MISMATCH,
        "add up to 4 along axis 0 but out has 5");
    BAD(c_out, xhal_concat(s, c_in, 2, 2, c_out), XHAL_ERROR_INVALID_ARGUMENT, "axis 2");
    BAD(c_out, xhal_concat(s, c_in + 1, 2, 0, c_out), XHAL_ERROR_SHAPE_MISMATCH, "axis");
    BAD(c_out, xhal_concat(s, NULL, 2, 0, c_out), XHAL_ERROR_INVALID_ARGUMENT, "inputs is NULL");
    xhal_tensor *c_bad[2] = {a, h};
    BAD(c_out, xhal_concat(s, c_bad, 2, 0, c_out), XHAL_ERROR_DTYPE_MISMATCH, "f16");
    xhal_tensor *c_dead[2] = {a, dead_tensor()};
    BAD(c_out, xhal_concat(s, c_dead, 2, 0, c_out), XHAL_ERROR_INVALID_HANDLE, "not a live tensor");
    xhal_tensor *c_far[2] = {a, far};
    BAD(c_out, xhal_concat(s, c_far, 2, 0, c_out), XHAL_ERROR_WRONG_DEVICE, "testdev:0");

    /* ==== custom kernels (cpu and testdev have none) ==== */
    BAD(NULL, xhal_program_create(cpu, "XK_KERNEL void k(void) {}", NULL, &pout), XHAL_ERROR_UNSUPPORTED,
        "has no custom kernels");
    BAD(NULL, xhal_program_create(cpu, NULL, NULL, &pout), XHAL_ERROR_INVALID_ARGUMENT, "source or out is NULL");
    BAD(NULL, xhal_program_create(NULL, "x", NULL, &pout), XHAL_ERROR_INVALID_HANDLE, "device is NULL");
    PTR_KEPT(pout);
    xhal_kernel_arg ka[1] = {{XHAL_ARG_TENSOR, {.tensor = out}}};
    uint64_t gs[3] = {4, 1, 1};
    BAD(out, xhal_kernel_launch(s, NULL, "k", 1, gs, NULL, 1, ka), XHAL_ERROR_INVALID_HANDLE, "program is NULL");
    BAD(out, xhal_kernel_launch(s, (xhal_program *)a, "k", 1, gs, NULL, 1, ka), XHAL_ERROR_INVALID_HANDLE,
        "not a live program");
    BAD(out, xhal_kernel_launch(NULL, (xhal_program *)a, "k", 1, gs, NULL, 1, ka), XHAL_ERROR_INVALID_HANDLE,
        "stream is NULL");
    BAD(NULL, xhal_program_destroy((xhal_program *)a), XHAL_ERROR_INVALID_HANDLE, "not a live program");

    /* ==== safetensors ==== */
    xhal_safetensors *st = SENT;
    BAD(NULL, xhal_safetensors_open(NULL, &st), XHAL_ERROR_INVALID_ARGUMENT, "NULL");
    BAD(NULL, xhal_safetensors_open("/nonexistent/x.safetensors", &st), XHAL_ERROR_NOT_FOUND,
        "/nonexistent/x.safetensors");
    BAD(NULL, xhal_safetensors_open(write_tmp("empty.safetensors", "", 0), &st), XHAL_ERROR_CORRUPT_DATA,
        "empty.safetensors");
    BAD(NULL, xhal_safetensors_open(write_tmp("short.safetensors", "\x05\0\0", 3), &st), XHAL_ERROR_CORRUPT_DATA,
        "short.safetensors");
    BAD(NULL, xhal_safetensors_open(write_tmp("hugelen.safetensors", "\xff\xff\xff\xff\xff\xff\xff\x7f{}", 10), &st),
        XHAL_ERROR_CORRUPT_DATA, "hugelen");
    BAD(NULL, xhal_safetensors_open(write_st("notjson.safetensors", "{\"a\": ", 0), &st), XHAL_ERROR_CORRUPT_DATA,
        "notjson");
    BAD(NULL, xhal_safetensors_open(write_st("array.safetensors", "[1,2]", 0), &st), XHAL_ERROR_CORRUPT_DATA,
        "header does not start with '{'");
    BAD(NULL, xhal_safetensors_open(write_st("trail.safetensors", "{} {}", 0), &st), XHAL_ERROR_CORRUPT_DATA, "trail");
    BAD(NULL,
        xhal_safetensors_open(
            write_st("dtype.safetensors", "{\"w\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1), &st),
        XHAL_ERROR_UNSUPPORTED, "Q4");
    BAD(NULL,
        xhal_safetensors_open(
            write_st("size.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4), &st),
        XHAL_ERROR_CORRUPT_DATA, "'w'");
    BAD(NULL,
        xhal_safetensors_open(
            write_st("past.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4), &st),
        XHAL_ERROR_CORRUPT_DATA, "'w'");
    BAD(NULL,
        xhal_safetensors_open(
            write_st("ovf.safetensors",
                     "{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,0]}}", 0),
            &st),
        XHAL_ERROR_CORRUPT_DATA, "'w'");
    BAD(NULL,
        xhal_safetensors_open(
            write_st("neg.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 0), &st),
        XHAL_ERROR_CORRUPT_DATA, "'w'");
    BAD(NULL,
        xhal_safetensors_open(
            write_st("dims.safetensors",
                     "{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1),
            &st),
        XHAL_ERROR_UNSUPPORTED, "'w'");
    BAD(NULL,
        xhal_safetensors_open(write_st("dup.safetensors",
                                       "{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},\"w\":{"
                                       "\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
                                       2),
                              &st),
        XHAL_ERROR_CORRUPT_DATA, "'w'");
    BAD(NULL,
        xhal_safetensors_open(write_st("share.safetensors",
                                       "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},\"b\":{"
                                       "\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[1,3]}}",
                                       3),
                              &st),
        XHAL_ERROR_CORRUPT_DATA, "share.safetensors");
    BAD(NULL,
        xhal_safetensors_open(
            write_st("rev.safetensors", "{\"w\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[2,1]}}", 2), &st),
        XHAL_ERROR_CORRUPT_DATA, "'w'");
    BAD(NULL,
        xhal_safetensors_open(
            write_st("frac.safetensors", "{\"w\":{\"dtype\":\"U8\",\"shape\":[1.5],\"data_offsets\":[0,1]}}", 2), &st),
        XHAL_ERROR_CORRUPT_DATA, "'w'");
    BAD(NULL, xhal_safetensors_open(write_txt("idx.safetensors.index.json", "{\"weight_map\":{}}"), &st),
        XHAL_ERROR_CORRUPT_DATA, "weight_map is empty");
    BAD(NULL,
        xhal_safetensors_open(write_txt("idx2.safetensors.index.json", "{\"weight_map\":{\"w\":\"../../etc/passwd\"}}"),
                              &st),
        XHAL_ERROR_CORRUPT_DATA, "etc/passwd");
    BAD(NULL, xhal_safetensors_open(g_tmpdir, &st), XHAL_ERROR_NOT_FOUND, "model.safetensors");
    BAD(NULL,
        xhal_safetensors_open(
            write_st("ok.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8), NULL),
        XHAL_ERROR_INVALID_ARGUMENT, "NULL");
    PTR_KEPT(st);
    CHECK_OK(xhal_safetensors_open(
        write_st("ok.safetensors",
                 "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"__metadata__\":{\"k\":\"v\"}}", 8),
        &st));
    if (st != SENT && st) {
        xhal_safetensors_tensor stt;
        const char *key = NULL, *val = NULL;
        BAD(NULL, xhal_safetensors_get(st, "nope", &stt), XHAL_ERROR_NOT_FOUND, "no tensor 'nope'");
        BAD(NULL, xhal_safetensors_get(st, NULL, &stt), XHAL_ERROR_INVALID_ARGUMENT, "NULL");
        BAD(NULL, xhal_safetensors_get(NULL, "w", &stt), XHAL_ERROR_INVALID_ARGUMENT, "NULL");
        BAD(NULL, xhal_safetensors_at(st, 1, &stt), XHAL_ERROR_INVALID_ARGUMENT, "1");
        BAD(NULL, xhal_safetensors_at(st, -1, &stt), XHAL_ERROR_INVALID_ARGUMENT, "-1");
        BAD(NULL, xhal_safetensors_count(st, NULL), XHAL_ERROR_INVALID_ARGUMENT, "NULL");
        BAD(NULL, xhal_safetensors_has(st, "w", NULL), XHAL_ERROR_INVALID_ARGUMENT, "NULL");
        BAD(NULL, xhal_safetensors_metadata_get(st, "zz", &val), XHAL_ERROR_NOT_FOUND, "no metadata key 'zz'");
        BAD(NULL, xhal_safetensors_metadata_at(st, 5, &key, &val), XHAL_ERROR_INVALID_ARGUMENT, "5");
        BAD(NULL, xhal_safetensors_metadata_count(NULL, &n64), XHAL_ERROR_INVALID_ARGUMENT, "NULL");
        BAD(NULL, xhal_safetensors_upload(st, "nope", s, XHAL_DTYPE_INVALID, &tout), XHAL_ERROR_NOT_FOUND, "nope");
        BAD(NULL, xhal_safetensors_upload(st, "w", dead_stream(), XHAL_DTYPE_INVALID, &tout), XHAL_ERROR_INVALID_HANDLE,
            "not a live stream");
        BAD(NULL, xhal_safetensors_upload(st, "w", s, (xhal_dtype)77, &tout), XHAL_ERROR_INVALID_ARGUMENT, "77");
        PTR_KEPT(tout);
        xhal_safetensors_close(st);
    }

    /* ==== topology ==== */
    xhal_locality loc;
    xhal_link link = XHAL_LINK_UNKNOWN;
    char *rendered = SENT;
    void *hp = SENT;
    BAD(NULL, xhal_topology_available(NULL, &ival, NULL, 0), XHAL_ERROR_INVALID_HANDLE, "context");
    BAD(NULL, xhal_topology_available(ctx, NULL, NULL, 0), XHAL_ERROR_INVALID_ARGUMENT, "available is NULL");
    BAD(NULL, xhal_device_locality(NULL, &loc), XHAL_ERROR_INVALID_HANDLE, "device");
    BAD(NULL, xhal_device_locality(cpu, NULL), XHAL_ERROR_INVALID_ARGUMENT, "out is NULL");
    BAD(NULL, xhal_device_relation(cpu, cpu_b, &link), XHAL_ERROR_INVALID_ARGUMENT, "context");
    BAD(NULL, xhal_device_relation(cpu, dev2, NULL), XHAL_ERROR_INVALID_ARGUMENT, "out is NULL");
    BAD(NULL, xhal_device_relation(cpu, (xhal_device *)a, &link), XHAL_ERROR_INVALID_HANDLE, "not a live device");
    xhal_direct_link dlink = {.kind = 7};
    BAD(NULL, xhal_device_direct_link(cpu, cpu_b, &dlink), XHAL_ERROR_INVALID_ARGUMENT, "different contexts");
    BAD(NULL, xhal_device_direct_link(cpu, dev2, NULL), XHAL_ERROR_INVALID_ARGUMENT, "out is NULL");
    BAD(NULL, xhal_device_direct_link(NULL, cpu, &dlink), XHAL_ERROR_INVALID_HANDLE, "device");
    CHECK(dlink.kind == 7); /* outputs untouched on failure */
    BAD(NULL, xhal_bind_thread_to_device(NULL), XHAL_ERROR_INVALID_HANDLE, "device");
    BAD(NULL, xhal_host_alloc_near(cpu, 0, &hp), XHAL_ERROR_INVALID_ARGUMENT, "size is 0");
    BAD(NULL, xhal_host_alloc_near(cpu, 64, NULL), XHAL_ERROR_INVALID_ARGUMENT, "out is NULL");
    BAD(NULL, xhal_host_alloc_near((xhal_device *)s, 64, &hp), XHAL_ERROR_INVALID_HANDLE, "not a live device");
    BAD(NULL, xhal_host_alloc_near(cpu, SIZE_MAX, &hp), XHAL_ERROR_OUT_OF_MEMORY, "out of host memory");
    BAD(NULL, xhal_host_free_near(host, 0), XHAL_ERROR_INVALID_ARGUMENT, "size is 0");
    BAD(NULL, xhal_host_free_near((char *)host + 1, 64), XHAL_ERROR_INVALID_ARGUMENT, "page-aligned");
    BAD(NULL, xhal_topology_pci_accelerators(ctx, NULL, -1, &ival), XHAL_ERROR_INVALID_ARGUMENT, "max is -1");
    BAD(NULL, xhal_topology_pci_accelerators(ctx, NULL, 0, NULL), XHAL_ERROR_INVALID_ARGUMENT, "count is NULL");
    BAD(NULL, xhal_topology_pci_accelerators(ctx, NULL, 2, &ival), XHAL_ERROR_INVALID_ARGUMENT, "NULL");
    BAD(NULL, xhal_topology_pci_accelerators(dead_context(), NULL, 0, &ival), XHAL_ERROR_INVALID_HANDLE, "context");
    BAD(NULL, xhal_topology_render(ctx, 0x10u, &rendered), XHAL_ERROR_INVALID_ARGUMENT, "unknown flags 0x10");
    BAD(NULL, xhal_topology_render(ctx, 0, NULL), XHAL_ERROR_INVALID_ARGUMENT, "out is NULL");
    BAD(NULL, xhal_topology_render(NULL, 0, &rendered), XHAL_ERROR_INVALID_HANDLE, "context is NULL");
    BAD(NULL, xhal_topology_render(dead_context(), 0, &rendered), XHAL_ERROR_INVALID_HANDLE, "not a live context");
    PTR_KEPT(rendered);
    PTR_KEPT(hp);

    /* ==== self-aliasing outputs (issue 17): shape [8,8] strides [1,1] puts 64 elements on 15
     * addresses; every op, copy, fill and tensor_write took it (in-place exp ran exp several
     * times per element). ==== */
    {
        xhal_buffer *abuf = NULL;
        xhal_tensor *al = NULL, *al2 = NULL, *odd = NULL, *x88 = F32(8, 8), *r8 = F32(8);
        CHECK_OK(xhal_buffer_create(cpu, 256, &abuf));
        CHECK_OK(xhal_tensor_from_buffer(abuf, XHAL_DTYPE_F32, DIMS(8, 8), (int64_t[]){1, 1}, 0, &al));
        CHECK_OK(xhal_tensor_from_buffer(abuf, XHAL_DTYPE_F32, DIMS(2, 4, 3), (int64_t[]){16, 2, 1}, 64, &al2));
        /* [3,2] strides [2,3]: fails the quick test, but is one-to-one (exact check) */
        CHECK_OK(xhal_tensor_from_buffer(abuf, XHAL_DTYPE_F32, DIMS(3, 2), (int64_t[]){2, 3}, 128, &odd));
        fill(x88, 0.5);
        fill(r8, 0.25);
        float h64[64] = {0};
        const char *m = "addresses some elements more than once";
        BAD(al, xhal_unary(s, XHAL_OP_EXP, al, al), XHAL_ERROR_INVALID_ARGUMENT, m);
        BAD(al, xhal_unary(s, XHAL_OP_EXP, x88, al), XHAL_ERROR_INVALID_ARGUMENT, "shape [8,8], strides [1,1]");
        BAD(al, xhal_add(s, x88, x88, al), XHAL_ERROR_INVALID_ARGUMENT, m);
        BAD(al, xhal_binary(s, XHAL_OP_MUL, x88, r8, al), XHAL_ERROR_INVALID_ARGUMENT, m);
        BAD(al, xhal_matmul(s, x88, x88, 0, 0, 1.0, 0.0, al), XHAL_ERROR_INVALID_ARGUMENT, m);
        BAD(al, xhal_copy(s, x88, al), XHAL_ERROR_INVALID_ARGUMENT, m);
        BAD(al, xhal_fill(s, al, 1.0), XHAL_ERROR_INVALID_ARGUMENT, m);
        BAD(al, xhal_tensor_write(s, al, h64, sizeof h64), XHAL_ERROR_INVALID_ARGUMENT, m);
        BAD(al, xhal_softmax(s, x88, 0.0, 0, al), XHAL_ERROR_INVALID_ARGUMENT, m);
        BAD(al2, xhal_fill(s, al2, 1.0), XHAL_ERROR_INVALID_ARGUMENT, m);
        xhal_tensor *x2 = F32(8, 8, 2), *rout = NULL;
        fill(x2, 1.0);
        CHECK_OK(xhal_tensor_from_buffer(abuf, XHAL_DTYPE_F32, DIMS(8, 8), (int64_t[]){1, 1}, 0, &rout));
        BAD(rout, xhal_reduce(s, XHAL_OP_SUM, x2, 2, 0, rout), XHAL_ERROR_INVALID_ARGUMENT, m);
        /* views that address each element once are fine, however they are laid out */
        CHECK_OK(xhal_fill(s, odd, 3.0));
        CHECK_OK(xhal_unary(s, XHAL_OP_EXP, odd, odd));
        float got[6] = {0};
        CHECK_OK(xhal_tensor_read(s, odd, got, sizeof got));
        CHECK(fabsf(got[0] - expf(3.0f)) < 1e-3f && fabsf(got[5] - expf(3.0f)) < 1e-3f);
        xhal_tensor_destroy(rout);
        xhal_tensor_destroy(x2);
        xhal_tensor_destroy(al);
        xhal_tensor_destroy(al2);
        xhal_tensor_destroy(odd);
        xhal_tensor_destroy(x88);
        xhal_tensor_destroy(r8);
        xhal_buffer_destroy(abuf);
    }

    /* ==== destroyed handles, double destroy: harmless (documented as detected) ==== */
    CHECK(xhal_tensor_destroy(NULL) == XHAL_OK);
    CHECK(xhal_buffer_destroy(NULL) == XHAL_OK);
    CHECK(xhal_stream_destroy(NULL) == XHAL_OK);
    CHECK(xhal_event_destroy(NULL) == XHAL_OK);
    CHECK(xhal_context_destroy(NULL) == XHAL_OK);
    BAD(NULL, xhal_tensor_destroy(dead_tensor()), XHAL_ERROR_INVALID_HANDLE, "not a live tensor");
    BAD(NULL, xhal_buffer_destroy(dead_buffer()), XHAL_ERROR_INVALID_HANDLE, "not a live buffer");
    BAD(NULL, xhal_stream_destroy(dead_stream()), XHAL_ERROR_INVALID_HANDLE, "not a live stream");
    BAD(NULL, xhal_event_destroy(dead_event()), XHAL_ERROR_INVALID_HANDLE, "not a live event");
    BAD(NULL, xhal_context_destroy(dead_context()), XHAL_ERROR_INVALID_HANDLE, "not a live context");

    /* The context still works after all of that. */
    float ones[6] = {1, 1, 1, 1, 1, 1}, got[6] = {0};
    CHECK_OK(xhal_tensor_write(s, a, ones, sizeof ones));
    CHECK_OK(xhal_add(s, a, a, out));
    CHECK_OK(xhal_tensor_read(s, out, got, sizeof got));
    CHECK(got[0] == 2.0f && got[5] == 2.0f);

    printf("test_bad_inputs: %d distinct invalid calls (%d duplicates)\n", g_ncases - g_dups, g_dups);
    CHECK(g_dups == 0);
    CHECK(g_ncases - g_dups >= 150);

    xhal_context_destroy(ctx2);
    xhal_context_destroy(ctx);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmpdir);
    return xtest_finish("test_bad_inputs");
}
