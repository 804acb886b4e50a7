/* fuzz_views.c - view and stride arithmetic on the cpu device: a tensor over a 4 KiB buffer
 * with fuzzed dtype, shape, strides and offset (xhal_tensor_from_buffer), then a fuzzed chain
 * of slice / permute / transpose / reshape / expand. Every view the core accepts is read,
 * filled and copied, so a view that reaches outside its buffer is caught by ASan (cpu
 * buffers are host allocations). Every status must be one that xhal.h documents. */
#include "fuzz_common.h"
#include "xhal/xhal.h"

#define BUF_BYTES 4096
#define MAX_READ (1 << 16)

static xhal_context *ctx;
static xhal_device *cpu;
static xhal_stream *stream;
static xhal_buffer *buf;

typedef struct reader {
    const uint8_t *p;
    size_t n;
} reader;

static uint64_t take(reader *r, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) {
        v |= (uint64_t)(r->n ? *r->p : 0) << (8 * i);
        if (r->n) {
            r->p++;
            r->n--;
        }
    }
    return v;
}

/* A dimension or stride: mostly small, sometimes any 64-bit value. */
static int64_t take_i64(reader *r)
{
    uint8_t sel = (uint8_t)take(r, 1);
    if (sel < 200) return (int64_t)(sel % 9);
    if (sel < 240) return (int64_t)(int8_t)take(r, 1);
    return (int64_t)take(r, 8);
}

static void check_status(xhal_status st)
{
    if (st == XHAL_ERROR_INTERNAL || st > XHAL_ERROR_INTERNAL) {
        fprintf(stderr, "unexpected status %s: %s\n", xhal_status_name(st), xhal_last_error());
        abort();
    }
    if (st != XHAL_OK && !xhal_last_error()[0]) {
        fprintf(stderr, "status %s without a message\n", xhal_status_name(st));
        abort();
    }
}

/* Touch every element of an accepted view. */
static void exercise(xhal_tensor *t)
{
    int64_t n = 0;
    xhal_dtype dt = XHAL_DTYPE_INVALID;
    if (xhal_tensor_numel(t, &n) != XHAL_OK || xhal_tensor_dtype(t, &dt) != XHAL_OK) abort();
    if (n < 0) abort();
    uint64_t bytes = (uint64_t)n * xhal_dtype_size(dt);
    if (n > MAX_READ) return; /* a broadcast view may be huge; its extent was checked */
    unsigned char *host = malloc((size_t)bytes + 1);
    if (!host) return;
    check_status(xhal_tensor_read(stream, t, host, bytes));
    check_status(xhal_fill(stream, t, 1.5));
    xhal_tensor *c = NULL;
    xhal_status st = xhal_contiguous(stream, t, XHAL_DTYPE_F32, &c);
    check_status(st);
    if (st == XHAL_OK) {
        check_status(xhal_copy(stream, c, t));
        xhal_tensor_destroy(c);
    }
    check_status(xhal_tensor_write(stream, t, host, bytes));
    free(host);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ctx) {
        xhal_context_options o;
        xhal_context_options_init(&o);
        o.flags = XHAL_CONTEXT_IGNORE_ENV_PATH;
        if (xhal_context_create(&o, &ctx) != XHAL_OK || xhal_device_find(ctx, "cpu:0", &cpu) != XHAL_OK ||
            xhal_stream_create(cpu, &stream) != XHAL_OK || xhal_buffer_create(cpu, BUF_BYTES, &buf) != XHAL_OK) {
            fprintf(stderr, "setup: %s\n", xhal_last_error());
            abort();
        }
    }
    reader r = {data, size};
    xhal_dtype dt = (xhal_dtype)(take(&r, 1) % (XHAL_DTYPE_COUNT_ + 1));
    int ndim = (int)(take(&r, 1) % 10); /* 9 is invalid on purpose */
    int64_t shape[XHAL_MAX_DIMS + 1], strides[XHAL_MAX_DIMS + 1];
    for (int i = 0; i < ndim; i++) shape[i] = take_i64(&r);
    int with_strides = (int)(take(&r, 1) & 1);
    for (int i = 0; i < ndim; i++) strides[i] = take_i64(&r);
    uint64_t off = take(&r, 1) & 1 ? take(&r, 8) : take(&r, 2) % (BUF_BYTES + 64);

    xhal_tensor *chain[16] = {0};
    int nc = 0;
    xhal_status st = xhal_tensor_from_buffer(buf, dt, ndim, shape, with_strides ? strides : NULL, off, &chain[0]);
    check_status(st);
    if (st != XHAL_OK) return 0;
    nc = 1;
    exercise(chain[0]);
    while (r.n && nc < 16) {
        xhal_tensor *t = chain[nc - 1], *v = NULL;
        int nd = 0;
        if (xhal_tensor_shape(t, &nd, NULL, NULL) != XHAL_OK) abort();
        switch (take(&r, 1) % 5) {
            case 0: {
                int axis = (int)(int8_t)take(&r, 1);
                int64_t a = take_i64(&r), b = take_i64(&r), step = take_i64(&r);
                st = xhal_tensor_slice(t, axis, a, b, step, &v);
                break;
            }
            case 1: {
                int perm[XHAL_MAX_DIMS];
                for (int i = 0; i < nd; i++) perm[i] = (int)(take(&r, 1) % (unsigned)(nd + 1)) - (take(&r, 1) & 1);
                st = xhal_tensor_permute(t, perm, &v);
                break;
            }
            case 2: st = xhal_tensor_transpose(t, (int)(int8_t)take(&r, 1), (int)(int8_t)take(&r, 1), &v); break;
            case 3: {
                int k = (int)(take(&r, 1) % 10);
                int64_t s2[XHAL_MAX_DIMS + 1];
                for (int i = 0; i < k; i++) s2[i] = take(&r, 1) == 0xff ? -1 : take_i64(&r);
                st = xhal_tensor_reshape(t, k, s2, &v);
                break;
            }
            default: {
                int k = (int)(take(&r, 1) % 10);
                int64_t s2[XHAL_MAX_DIMS + 1];
                for (int i = 0; i < k; i++) s2[i] = take_i64(&r);
                st = xhal_tensor_expand(t, k, s2, &v);
                break;
            }
        }
        check_status(st);
        if (st != XHAL_OK) continue;
        chain[nc++] = v;
        exercise(v);
    }
    /* destroying the base first: views keep the buffer alive */
    for (int i = 0; i < nc; i++) xhal_tensor_destroy(chain[i]);
    return 0;
}
