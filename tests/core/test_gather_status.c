/* test_gather_status.c - gather's indices are checked on the device as the op runs, never read
 * back by xhal_gather (issue 16): an index outside [0, V) (negative, equal to V, a huge i64)
 * gives zeros in its rows of out and OUT_OF_RANGE at the next wait on the stream
 * (synchronize, tensor/buffer read, stream destroy) naming the op, the position and the value;
 * the earliest bad op since the last report is named, once; work queued before and after it
 * ran; other streams are not affected; the stream stays usable. A decode step that starts with
 * gather (the embedding lookup) is captured in a graph and replayed with good and bad tokens,
 * on its own stream and on another. Runs on cpu:0 and, when present, opencl:0. */
#include "xtest.h"

#include <stdio.h>
#include <string.h>

enum { V = 16, DM = 4 };

static xhal_tensor *mk(xhal_device *dev, xhal_dtype dt, int nd, const int64_t *shape)
{
    xhal_tensor *t = NULL;
    CHECK_OK(xhal_tensor_create(dev, dt, nd, shape, &t));
    return t;
}

static float table_at(int64_t r, int c) { return (float)(r * 10 + c) + 0.5f; }

/* out [n, DM] holds table rows idx[i], zeros where idx[i] is outside [0, V). */
static int rows_ok(const float *out, const int64_t *idx, int n)
{
    for (int i = 0; i < n; i++)
        for (int c = 0; c < DM; c++) {
            float want = idx[i] >= 0 && idx[i] < V ? table_at(idx[i], c) : 0.0f;
            if (out[i * DM + c] != want) {
                fprintf(stderr, "  row %d col %d: got %g, want %g\n", i, c, out[i * DM + c], want);
                return 0;
            }
        }
    return 1;
}

static void want_msg(char *buf, size_t n, const char *spec, const char *where, const char *pos, long long v)
{
    snprintf(buf, n,
             "xhal_gather (queued earlier on this stream of %s, reported at %s): indices%s = %lld is outside [0, 16)",
             spec, where, pos, v);
}

static void eager(xhal_device *dev, const char *spec)
{
    xhal_stream *s = NULL, *s2 = NULL, *s3 = NULL;
    CHECK_OK(xhal_stream_create(dev, &s));
    CHECK_OK(xhal_stream_create(dev, &s2));
    int64_t tshape[2] = {V, DM}, ishape[2] = {2, 4}, oshape[3] = {2, 4, DM}, n8 = 8, n3 = 3, o3[2] = {3, DM};
    xhal_tensor *table = mk(dev, XHAL_DTYPE_F32, 2, tshape);
    float tv[V * DM];
    for (int r = 0; r < V; r++)
        for (int c = 0; c < DM; c++) tv[r * DM + c] = table_at(r, c);
    CHECK_OK(xhal_tensor_write(s, table, tv, sizeof tv));

    /* i32 [2, 4]: 99 at [1,1] is the first bad index in row-major order, -1 at [1,3] the second */
    xhal_tensor *idx = mk(dev, XHAL_DTYPE_I32, 2, ishape), *out = mk(dev, XHAL_DTYPE_F32, 3, oshape);
    xhal_tensor *pre = mk(dev, XHAL_DTYPE_F32, 1, &n8), *post = mk(dev, XHAL_DTYPE_F32, 1, &n8);
    const int32_t iv[8] = {0, 1, 2, 3, 4, 99, 6, -1};
    const int64_t iv64[8] = {0, 1, 2, 3, 4, 99, 6, -1};
    CHECK_OK(xhal_tensor_write(s, idx, iv, sizeof iv));
    CHECK_OK(xhal_fill(s, out, 777.0));
    CHECK_OK(xhal_fill(s, pre, 1.0));
    CHECK_OK(xhal_gather(s, table, idx, out)); /* queued, not checked here */
    CHECK_OK(xhal_fill(s, post, 2.0));
    char want[256];
    want_msg(want, sizeof want, spec, "xhal_stream_synchronize", "[1,1]", 99);
    CHECK_STATUS(xhal_stream_synchronize(s), XHAL_ERROR_OUT_OF_RANGE, want);
    CHECK_OK(xhal_stream_synchronize(s)); /* reported once; the stream goes on */
    float ov[8 * DM], pv[8];
    CHECK_OK(xhal_tensor_read(s, out, ov, sizeof ov));
    CHECK(rows_ok(ov, iv64, 8)); /* good rows gathered, bad rows zeros */
    CHECK_OK(xhal_tensor_read(s, pre, pv, sizeof pv));
    CHECK(pv[0] == 1.0f && pv[7] == 1.0f); /* work before the bad op ran */
    CHECK_OK(xhal_tensor_read(s, post, pv, sizeof pv));
    CHECK(pv[0] == 2.0f && pv[7] == 2.0f); /* and work after it */

    /* i64 indices, reported at a read (whose data is delivered): negative first, then huge */
    xhal_tensor *i3 = mk(dev, XHAL_DTYPE_I64, 1, &n3), *out3 = mk(dev, XHAL_DTYPE_F32, 2, o3);
    int64_t v3[3] = {5, -3, (int64_t)1 << 40};
    CHECK_OK(xhal_tensor_write(s, i3, v3, sizeof v3));
    CHECK_OK(xhal_gather(s, table, i3, out3));
    float o3v[3 * DM];
    memset(o3v, 0x7f, sizeof o3v);
    want_msg(want, sizeof want, spec, "xhal_tensor_read", "[1]", -3);
    CHECK_STATUS(xhal_tensor_read(s, out3, o3v, sizeof o3v), XHAL_ERROR_OUT_OF_RANGE, want);
    CHECK(rows_ok(o3v, v3, 3));
    /* a huge i64 alone, and V itself */
    v3[0] = (int64_t)1 << 40;
    v3[1] = 0;
    v3[2] = V;
    CHECK_OK(xhal_tensor_write(s, i3, v3, sizeof v3));
    CHECK_OK(xhal_gather(s, table, i3, out3));
    want_msg(want, sizeof want, spec, "xhal_stream_synchronize", "[0]", (long long)1 << 40);
    CHECK_STATUS(xhal_stream_synchronize(s), XHAL_ERROR_OUT_OF_RANGE, want);
    v3[0] = 1;
    CHECK_OK(xhal_tensor_write(s, i3, v3, sizeof v3));
    uint8_t raw[3 * DM * sizeof(float)];
    xhal_buffer *ob = NULL;
    xhal_tensor *outb = NULL;
    CHECK_OK(xhal_buffer_create(dev, sizeof raw, &ob));
    CHECK_OK(xhal_tensor_from_buffer(ob, XHAL_DTYPE_F32, 2, o3, NULL, 0, &outb));
    CHECK_OK(xhal_gather(s, table, i3, outb));
    want_msg(want, sizeof want, spec, "xhal_buffer_read", "[2]", 16);
    CHECK_STATUS(xhal_buffer_read(s, ob, 0, raw, sizeof raw), XHAL_ERROR_OUT_OF_RANGE, want);
    memcpy(o3v, raw, sizeof o3v);
    CHECK(rows_ok(o3v, v3, 3));
    xhal_tensor_destroy(outb);
    CHECK_OK(xhal_buffer_destroy(ob));

    /* two bad ops before a wait: the earlier one is named; other streams are not affected */
    CHECK_OK(xhal_gather(s, table, idx, out));
    CHECK_OK(xhal_gather(s, table, i3, out3));
    CHECK_OK(xhal_stream_synchronize(s2));
    want_msg(want, sizeof want, spec, "xhal_stream_synchronize", "[1,1]", 99);
    CHECK_STATUS(xhal_stream_synchronize(s), XHAL_ERROR_OUT_OF_RANGE, want);
    CHECK_OK(xhal_stream_synchronize(s));

    /* a strided view of the indices: positions are the view's */
    xhal_tensor *idxt = NULL, *outt = NULL;
    int64_t otshape[3] = {4, 2, DM};
    CHECK_OK(xhal_tensor_transpose(idx, 0, 1, &idxt)); /* [[0, 4], [1, 99], [2, 6], [3, -1]] */
    outt = mk(dev, XHAL_DTYPE_F32, 3, otshape);
    CHECK_OK(xhal_gather(s, table, idxt, outt));
    want_msg(want, sizeof want, spec, "xhal_stream_synchronize", "[1,1]", 99);
    CHECK_STATUS(xhal_stream_synchronize(s), XHAL_ERROR_OUT_OF_RANGE, want);

    /* a stream destroyed with a bad op on it says so */
    CHECK_OK(xhal_stream_create(dev, &s3));
    CHECK_OK(xhal_gather(s3, table, idx, out));
    want_msg(want, sizeof want, spec, "xhal_stream_destroy", "[1,1]", 99);
    CHECK_STATUS(xhal_stream_destroy(s3), XHAL_ERROR_OUT_OF_RANGE, want);

    /* all good: exact, and OK at the wait */
    const int32_t good[8] = {15, 0, 7, 7, 3, 2, 1, 14};
    const int64_t good64[8] = {15, 0, 7, 7, 3, 2, 1, 14};
    CHECK_OK(xhal_tensor_write(s, idx, good, sizeof good));
    CHECK_OK(xhal_gather(s, table, idx, out));
    CHECK_OK(xhal_stream_synchronize(s));
    CHECK_OK(xhal_tensor_read(s, out, ov, sizeof ov));
    CHECK(rows_ok(ov, good64, 8));

    /* known without reading an index: a table without rows */
    int64_t t0[2] = {0, DM};
    xhal_tensor *table0 = mk(dev, XHAL_DTYPE_F32, 2, t0);
    CHECK_STATUS(xhal_gather(s, table0, idx, out), XHAL_ERROR_OUT_OF_RANGE, "xhal_gather: the table has no rows");
    CHECK_OK(xhal_stream_synchronize(s));

    xhal_tensor *ts[] = {table, idx, out, pre, post, i3, out3, idxt, outt, table0};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) xhal_tensor_destroy(ts[i]);
    CHECK_OK(xhal_stream_destroy(s));
    CHECK_OK(xhal_stream_destroy(s2));
}

/* One decode step: x = table[token], y = 2 x + 1. */
static xhal_status step(xhal_stream *s, xhal_tensor *table, xhal_tensor *tok, xhal_tensor *x, xhal_tensor *y)
{
    xhal_status st = xhal_gather(s, table, tok, x);
    return st != XHAL_OK ? st : xhal_scale(s, x, 2.0, 1.0, y);
}

static int step_ok(xhal_stream *s, xhal_tensor *y, int64_t t, xhal_status want_st, const char *want)
{
    float yv[DM];
    xhal_status st = xhal_tensor_read(s, y, yv, sizeof yv);
    int ok = st == want_st && (!want || strstr(xhal_last_error(), want));
    if (!ok) fprintf(stderr, "  token %lld: %s (%s)\n", (long long)t, xhal_status_name(st), xhal_last_error());
    for (int c = 0; c < DM; c++) {
        float w = t >= 0 && t < V ? 2.0f * table_at(t, c) + 1.0f : 1.0f; /* a bad token's row is zeros */
        if (yv[c] != w) {
            fprintf(stderr, "  token %lld col %d: got %g, want %g\n", (long long)t, c, yv[c], w);
            ok = 0;
        }
    }
    return ok;
}

static void captured(xhal_device *dev, const char *spec)
{
    xhal_stream *s = NULL, *s2 = NULL;
    CHECK_OK(xhal_stream_create(dev, &s));
    CHECK_OK(xhal_stream_create(dev, &s2));
    int64_t tshape[2] = {V, DM}, one = 1, xs[2] = {1, DM};
    xhal_tensor *table = mk(dev, XHAL_DTYPE_F32, 2, tshape), *tok = mk(dev, XHAL_DTYPE_I32, 1, &one);
    xhal_tensor *x = mk(dev, XHAL_DTYPE_F32, 2, xs), *y = mk(dev, XHAL_DTYPE_F32, 2, xs);
    float tv[V * DM];
    for (int r = 0; r < V; r++)
        for (int c = 0; c < DM; c++) tv[r * DM + c] = table_at(r, c);
    CHECK_OK(xhal_tensor_write(s, table, tv, sizeof tv));

    xhal_graph *g = NULL;
    CHECK_OK(xhal_stream_begin_capture(s, 0, NULL));
    CHECK_OK(step(s, table, tok, x, y)); /* gather is recorded like any op */
    CHECK_OK(xhal_stream_end_capture(s, &g));
    int n = 0;
    CHECK_OK(xhal_graph_op_count(g, &n));
    CHECK(n == 2);

    char want[256];
    const int32_t toks[] = {3, 7, V + 5, 2};
    for (size_t i = 0; i < sizeof toks / sizeof toks[0]; i++) {
        CHECK_OK(xhal_tensor_write(s, tok, &toks[i], sizeof toks[i]));
        CHECK_OK(xhal_graph_launch(g, s));
        int bad = toks[i] >= V;
        want_msg(want, sizeof want, spec, "xhal_tensor_read", "[0]", toks[i]);
        CHECK(step_ok(s, y, toks[i], bad ? XHAL_ERROR_OUT_OF_RANGE : XHAL_OK, bad ? want : NULL));
    }
    /* launched on another stream: the error is that stream's */
    const int32_t neg = -7, good = 9;
    CHECK_OK(xhal_tensor_write(s2, tok, &neg, sizeof neg));
    CHECK_OK(xhal_graph_launch(g, s2));
    CHECK_OK(xhal_stream_synchronize(s));
    want_msg(want, sizeof want, spec, "xhal_stream_synchronize", "[0]", -7);
    CHECK_STATUS(xhal_stream_synchronize(s2), XHAL_ERROR_OUT_OF_RANGE, want);
    CHECK(step_ok(s2, y, -7, XHAL_OK, NULL));
    /* and back */
    CHECK_OK(xhal_tensor_write(s, tok, &good, sizeof good));
    CHECK_OK(xhal_graph_launch(g, s));
    CHECK(step_ok(s, y, 9, XHAL_OK, NULL));
    CHECK_OK(xhal_stream_synchronize(s2));

    /* eager gather on s after the graph: the same status, still one report per bad op */
    CHECK_OK(xhal_tensor_write(s, tok, &neg, sizeof neg));
    CHECK_OK(xhal_gather(s, table, tok, x));
    want_msg(want, sizeof want, spec, "xhal_stream_synchronize", "[0]", -7);
    CHECK_STATUS(xhal_stream_synchronize(s), XHAL_ERROR_OUT_OF_RANGE, want);

    CHECK_OK(xhal_graph_destroy(g));
    xhal_tensor *ts[] = {table, tok, x, y};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) xhal_tensor_destroy(ts[i]);
    CHECK_OK(xhal_stream_destroy(s));
    CHECK_OK(xhal_stream_destroy(s2));
}

int main(void)
{
    xhal_context *ctx = NULL;
    CHECK_OK(xhal_context_create(NULL, &ctx));
    const char *specs[] = {"cpu:0", "opencl:0"};
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        xhal_device *dev = NULL;
        if (xhal_device_find(ctx, specs[i], &dev) != XHAL_OK) {
            CHECK(i > 0); /* cpu:0 is always there */
            printf("test_gather_status: %s not present, skipped\n", specs[i]);
            continue;
        }
        eager(dev, specs[i]);
        captured(dev, specs[i]);
    }
    CHECK_OK(xhal_context_destroy(ctx));
    return xtest_finish("test_gather_status");
}
