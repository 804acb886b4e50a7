/* test_validation.c - every validation rule of the op layer: each bad call gets its status and
 * a message naming the problem, and leaves the output untouched. */
#include "xtest.h"

#include <math.h>
#include <stdlib.h>

static xhal_context *ctx;
static xhal_device *cpu, *other;
static xhal_stream *s, *so;

static xhal_tensor *T(xhal_dtype dt, int nd, const int64_t *shape)
{
    xhal_tensor *t = NULL;
    CHECK_OK(xhal_tensor_create(cpu, dt, nd, shape, &t));
    return t;
}
#define TF(...) T(XHAL_DTYPE_F32, (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__})

/* Fill an f32 tensor with a sentinel and check it is still there. */
static void sentinel(xhal_tensor *t) { CHECK_OK(xhal_fill(s, t, 777.0)); }
static int untouched(xhal_tensor *t)
{
    int64_t n = 0;
    xhal_tensor_numel(t, &n);
    float *buf = malloc((size_t)n * sizeof(float) + 1);
    int ok = xhal_tensor_read(s, t, buf, (uint64_t)n * sizeof(float)) == XHAL_OK;
    for (int64_t i = 0; ok && i < n; i++) ok = buf[i] == 777.0f;
    free(buf);
    return ok;
}

int main(void)
{
    xhal_context_options o;
    xhal_context_options_init(&o);
    o.plugin_path = XHAL_TEST_PLUGIN_DIR "/good";
    CHECK_OK(xhal_context_create(&o, &ctx));
    CHECK_OK(xhal_device_find(ctx, "cpu", &cpu));
    CHECK_OK(xhal_device_find(ctx, "testdev", &other));
    CHECK_OK(xhal_stream_create(cpu, &s));
    CHECK_OK(xhal_stream_create(other, &so));

    xhal_tensor *a = TF(2, 3), *b = TF(2, 3), *out = TF(2, 3), *o4 = TF(4);
    xhal_tensor *h = T(XHAL_DTYPE_F16, 2, (int64_t[]){2, 3});
    xhal_tensor *i32 = T(XHAL_DTYPE_I32, 2, (int64_t[]){2, 3});
    xhal_tensor *u8 = T(XHAL_DTYPE_U8, 2, (int64_t[]){2, 3});
    xhal_tensor *far = NULL;
    CHECK_OK(xhal_tensor_create(other, XHAL_DTYPE_F32, 2, (int64_t[]){2, 3}, &far));
    CHECK_OK(xhal_fill(s, a, 1.0));
    CHECK_OK(xhal_fill(s, b, 2.0));
    sentinel(out);

    /* ---- handles and devices ---- */
    CHECK_STATUS(xhal_unary(NULL, XHAL_OP_EXP, a, out), XHAL_ERROR_INVALID_HANDLE, "stream is NULL");
    CHECK_STATUS(xhal_unary(s, XHAL_OP_EXP, NULL, out), XHAL_ERROR_INVALID_HANDLE, "x is NULL");
    CHECK_STATUS(xhal_unary(s, XHAL_OP_EXP, a, NULL), XHAL_ERROR_INVALID_HANDLE, "out is NULL");
    CHECK_STATUS(xhal_unary(s, XHAL_OP_EXP, (xhal_tensor *)s, out), XHAL_ERROR_INVALID_HANDLE,
                 "is a stream, not a tensor");
    CHECK_STATUS(xhal_unary((xhal_stream *)a, XHAL_OP_EXP, a, out), XHAL_ERROR_INVALID_HANDLE, "not a live stream");
    CHECK_STATUS(xhal_unary(s, XHAL_OP_EXP, far, out), XHAL_ERROR_WRONG_DEVICE,
                 "x is on testdev:0 but the stream is on cpu:0");
    CHECK_STATUS(xhal_binary(so, XHAL_OP_ADD, a, b, out), XHAL_ERROR_WRONG_DEVICE,
                 "a is on cpu:0 but the stream is on testdev:0");
    xhal_tensor *dead = TF(2, 3);
    xhal_tensor_destroy(dead);
    CHECK_STATUS(xhal_binary(s, XHAL_OP_ADD, a, dead, out), XHAL_ERROR_INVALID_HANDLE, "b: ");
    /* a tensor of another context */
    xhal_context *ctx2 = NULL;
    xhal_device *cpu2 = NULL;
    xhal_tensor *alien = NULL;
    CHECK_OK(xhal_context_create(NULL, &ctx2));
    CHECK_OK(xhal_device_find(ctx2, "cpu", &cpu2));
    CHECK_OK(xhal_tensor_create(cpu2, XHAL_DTYPE_F32, 2, (int64_t[]){2, 3}, &alien));
    CHECK_STATUS(xhal_binary(s, XHAL_OP_ADD, a, alien, out), XHAL_ERROR_INVALID_HANDLE, "b belongs to another context");
    CHECK_STATUS(xhal_copy(s, alien, out), XHAL_ERROR_INVALID_HANDLE, "different contexts");
    xhal_context_destroy(ctx2);
    CHECK_STATUS(xhal_tensor_numel(alien, &(int64_t){0}), XHAL_ERROR_INVALID_HANDLE, "not a live tensor");
    CHECK(untouched(out));

    /* ---- unary ---- */
    CHECK_STATUS(xhal_unary(s, XHAL_OP_ADD, a, out), XHAL_ERROR_INVALID_ARGUMENT, "not a unary op");
    CHECK_STATUS(xhal_unary(s, (xhal_op)1234, a, out), XHAL_ERROR_INVALID_ARGUMENT, "not a unary op");
    CHECK_STATUS(xhal_unary(s, XHAL_OP_EXP, h, out), XHAL_ERROR_DTYPE_MISMATCH, "x is f16 but out is f32");
    CHECK_STATUS(xhal_unary(s, XHAL_OP_EXP, a, o4), XHAL_ERROR_SHAPE_MISMATCH, "x is [2,3] but out is [4]");
    CHECK_STATUS(xhal_unary(s, XHAL_OP_EXP, i32, i32), XHAL_ERROR_DTYPE_MISMATCH, "x is i32; this op takes f32");
    CHECK_STATUS(xhal_unary(s, XHAL_OP_RELU, u8, u8), XHAL_ERROR_DTYPE_MISMATCH, "x is u8");
    xhal_tensor *bc = NULL, *row = TF(1, 3);
    CHECK_OK(xhal_tensor_expand(row, 2, (int64_t[]){2, 3}, &bc));
    CHECK_STATUS(xhal_unary(s, XHAL_OP_EXP, a, bc), XHAL_ERROR_INVALID_ARGUMENT, "out has stride 0 on axis 0");
    xhal_tensor *big = TF(4, 3), *top = NULL, *mid = NULL;
    CHECK_OK(xhal_tensor_slice(big, 0, 0, 2, 1, &top));
    CHECK_OK(xhal_tensor_slice(big, 0, 1, 3, 1, &mid));
    CHECK_STATUS(xhal_unary(s, XHAL_OP_EXP, top, mid), XHAL_ERROR_INVALID_ARGUMENT, "out overlaps x in memory");
    CHECK_OK(xhal_unary(s, XHAL_OP_EXP, top, top)); /* in place: the very same view is allowed */
    CHECK(untouched(out));

    /* ---- binary ---- */
    CHECK_STATUS(xhal_binary(s, XHAL_OP_EXP, a, b, out), XHAL_ERROR_INVALID_ARGUMENT, "not a binary op");
    CHECK_STATUS(xhal_binary(s, XHAL_OP_ADD, a, h, out), XHAL_ERROR_DTYPE_MISMATCH, "a is f32 but b is f16");
    CHECK_STATUS(xhal_binary(s, XHAL_OP_ADD, a, b, h), XHAL_ERROR_DTYPE_MISMATCH, "a is f32 but out is f16");
    CHECK_STATUS(xhal_binary(s, XHAL_OP_DIV, i32, i32, i32), XHAL_ERROR_DTYPE_MISMATCH, "a is i32");
    CHECK_STATUS(xhal_binary(s, XHAL_OP_ADD, u8, u8, u8), XHAL_ERROR_DTYPE_MISMATCH, "a is u8");
    xhal_tensor *c4 = TF(2, 4);
    CHECK_STATUS(xhal_binary(s, XHAL_OP_ADD, a, c4, out), XHAL_ERROR_SHAPE_MISMATCH,
                 "[2,3] and b [2,4] do not broadcast");
    CHECK_STATUS(xhal_binary(s, XHAL_OP_ADD, a, row, o4), XHAL_ERROR_SHAPE_MISMATCH,
                 "broadcast to [2,3] but out is [4]");
    CHECK_STATUS(xhal_binary(s, XHAL_OP_ADD, top, b, mid), XHAL_ERROR_INVALID_ARGUMENT, "out overlaps a");
    CHECK(untouched(out));
    CHECK_OK(xhal_binary(s, XHAL_OP_ADD, a, row, out)); /* broadcasting is fine */
    sentinel(out);

    /* ---- scale ---- */
    CHECK_STATUS(xhal_scale(s, a, NAN, 0, out), XHAL_ERROR_INVALID_ARGUMENT, "must be finite");
    CHECK_STATUS(xhal_scale(s, a, 1, INFINITY, out), XHAL_ERROR_INVALID_ARGUMENT, "must be finite");
    CHECK_STATUS(xhal_scale(s, i32, 1, 0, i32), XHAL_ERROR_DTYPE_MISMATCH, "x is i32");

    /* ---- reductions ---- */
    xhal_tensor *r2 = TF(2), *r21 = TF(2, 1), *ri = T(XHAL_DTYPE_I64, 1, (int64_t[]){2});
    CHECK_STATUS(xhal_reduce(s, XHAL_OP_ADD, a, 1, 0, r2), XHAL_ERROR_INVALID_ARGUMENT, "not a reduction");
    CHECK_STATUS(xhal_reduce(s, XHAL_OP_SUM, a, 2, 0, r2), XHAL_ERROR_INVALID_ARGUMENT,
                 "axis 2 is out of range for 2 dims");
    CHECK_STATUS(xhal_reduce(s, XHAL_OP_SUM, a, -3, 0, r2), XHAL_ERROR_INVALID_ARGUMENT, "axis -3");
    CHECK_STATUS(xhal_reduce(s, XHAL_OP_SUM, a, 1, 1, r2), XHAL_ERROR_SHAPE_MISMATCH, "gives [2,1] but out is [2]");
    CHECK_STATUS(xhal_reduce(s, XHAL_OP_SUM, a, 1, 0, r21), XHAL_ERROR_SHAPE_MISMATCH, "gives [2] but out is [2,1]");
    CHECK_STATUS(xhal_reduce(s, XHAL_OP_SUM, a, 1, 0, ri), XHAL_ERROR_DTYPE_MISMATCH, "x is f32 but out is i64");
    CHECK_STATUS(xhal_reduce(s, XHAL_OP_ARGMAX, a, 1, 0, r2), XHAL_ERROR_DTYPE_MISMATCH, "argmax writes i32 or i64");
    CHECK_STATUS(xhal_reduce(s, XHAL_OP_SUM, i32, 1, 0, ri), XHAL_ERROR_DTYPE_MISMATCH, "x is i32");
    xhal_tensor *sc = T(XHAL_DTYPE_F32, 0, NULL);
    CHECK_STATUS(xhal_reduce(s, XHAL_OP_SUM, sc, 0, 0, sc), XHAL_ERROR_INVALID_ARGUMENT, "x is a scalar");
    xhal_tensor *e20 = TF(2, 0), *ei = T(XHAL_DTYPE_I32, 1, (int64_t[]){2});
    CHECK_STATUS(xhal_reduce(s, XHAL_OP_MAX, e20, 1, 0, r2), XHAL_ERROR_INVALID_ARGUMENT, "axis 1 is empty");
    CHECK_STATUS(xhal_reduce(s, XHAL_OP_ARGMAX, e20, 1, 0, ei), XHAL_ERROR_INVALID_ARGUMENT, "axis 1 is empty");
    CHECK_OK(xhal_reduce(s, XHAL_OP_SUM, e20, 1, 0, r2)); /* the sum of nothing is 0 */
    float r2v[2] = {9, 9};
    CHECK_OK(xhal_tensor_read(s, r2, r2v, sizeof r2v));
    CHECK(r2v[0] == 0 && r2v[1] == 0);
    CHECK_OK(xhal_reduce(s, XHAL_OP_MEAN, e20, 1, 0, r2)); /* the mean of nothing is NaN */
    CHECK_OK(xhal_tensor_read(s, r2, r2v, sizeof r2v));
    CHECK(isnan(r2v[0]) && isnan(r2v[1]));

    /* ---- softmax and norms ---- */
    CHECK_STATUS(xhal_softmax(s, sc, 1, 0, sc), XHAL_ERROR_INVALID_ARGUMENT, "softmax needs an axis");
    CHECK_STATUS(xhal_softmax(s, o4, 1, 1, o4), XHAL_ERROR_INVALID_ARGUMENT, "causal softmax needs x as [..., Sq, Sk]");
    xhal_tensor *wide = TF(3, 2), *wout = TF(3, 2);
    CHECK_STATUS(xhal_softmax(s, wide, 1, 1, wout), XHAL_ERROR_SHAPE_MISMATCH, "needs Sk >= Sq, got Sq=3 Sk=2");
    CHECK_STATUS(xhal_softmax(s, a, NAN, 0, out), XHAL_ERROR_INVALID_ARGUMENT, "scale nan is not finite");
    CHECK_STATUS(xhal_softmax(s, a, 1, 0, h), XHAL_ERROR_DTYPE_MISMATCH, "x is f32 but out is f16");
    xhal_tensor *w3 = TF(3), *w4 = TF(4), *w3h = T(XHAL_DTYPE_F16, 1, (int64_t[]){3});
    CHECK_STATUS(xhal_rms_norm(s, a, w4, 1e-5, out), XHAL_ERROR_SHAPE_MISMATCH, "weight is [4] but must be [3]");
    CHECK_STATUS(xhal_rms_norm(s, a, w3h, 1e-5, out), XHAL_ERROR_DTYPE_MISMATCH, "x is f32 but weight is f16");
    CHECK_STATUS(xhal_rms_norm(s, a, w3, -1, out), XHAL_ERROR_INVALID_ARGUMENT, "eps -1 must be finite and >= 0");
    CHECK_STATUS(xhal_rms_norm(s, a, w3, NAN, out), XHAL_ERROR_INVALID_ARGUMENT, "eps nan");
    CHECK_STATUS(xhal_rms_norm(s, sc, NULL, 1e-5, sc), XHAL_ERROR_INVALID_ARGUMENT, "needs a last axis");
    CHECK_STATUS(xhal_layer_norm(s, a, w3, w4, 1e-5, out), XHAL_ERROR_SHAPE_MISMATCH, "bias is [4] but must be [3]");
    CHECK_STATUS(xhal_layer_norm(s, a, w3, (xhal_tensor *)s, 1e-5, out), XHAL_ERROR_INVALID_HANDLE, "bias");
    CHECK_STATUS(xhal_rms_norm(s, a, out, 1e-5, out), XHAL_ERROR_SHAPE_MISMATCH, "weight is [2,3]");
    CHECK(untouched(out));

    /* ---- matmul ---- */
    xhal_tensor *m23 = TF(2, 3), *m34 = TF(3, 4), *m24 = TF(2, 4), *m44 = TF(4, 4), *v3 = TF(3);
    CHECK_STATUS(xhal_matmul(s, m23, m23, 0, 0, 1, 0, m24), XHAL_ERROR_SHAPE_MISMATCH, "inner dims 3 and 2 differ");
    CHECK_STATUS(xhal_matmul(s, m23, m34, 1, 0, 1, 0, m24), XHAL_ERROR_SHAPE_MISMATCH, "(transposed)");
    CHECK_STATUS(xhal_matmul(s, m23, m34, 0, 0, 1, 0, m44), XHAL_ERROR_SHAPE_MISMATCH,
                 "result is [2,4] but out is [4,4]");
    CHECK_STATUS(xhal_matmul(s, v3, m34, 0, 0, 1, 0, m24), XHAL_ERROR_SHAPE_MISMATCH, "need at least 2 dims");
    CHECK_STATUS(xhal_matmul(s, m23, m34, 0, 0, NAN, 0, m24), XHAL_ERROR_INVALID_ARGUMENT, "must be finite");
    xhal_tensor *i23 = T(XHAL_DTYPE_I32, 2, (int64_t[]){2, 3}), *i34 = T(XHAL_DTYPE_I32, 2, (int64_t[]){3, 4}),
                *i24 = T(XHAL_DTYPE_I32, 2, (int64_t[]){2, 4});
    CHECK_STATUS(xhal_matmul(s, i23, i34, 0, 0, 1, 0, i24), XHAL_ERROR_DTYPE_MISMATCH, "a is i32");
    xhal_tensor *b2 = TF(2, 2, 3), *b3 = TF(3, 3, 4), *bo = TF(3, 2, 4);
    CHECK_STATUS(xhal_matmul(s, b2, b3, 0, 0, 1, 0, bo), XHAL_ERROR_SHAPE_MISMATCH, "do not broadcast");
    CHECK_STATUS(xhal_matmul(s, m23, m34, 0, 0, 1, 0, m23), XHAL_ERROR_SHAPE_MISMATCH, "result is [2,4]");
    xhal_tensor *sq = TF(3, 3);
    CHECK_STATUS(xhal_matmul(s, sq, sq, 0, 0, 1, 0, sq), XHAL_ERROR_INVALID_ARGUMENT, "out overlaps a");
    /* K == 0: out = beta * out */
    xhal_tensor *k0a = TF(2, 0), *k0b = TF(0, 4);
    CHECK_OK(xhal_fill(s, m24, 3.0));
    CHECK_OK(xhal_matmul(s, k0a, k0b, 0, 0, 1, 0.5, m24));
    float m24v[8];
    CHECK_OK(xhal_tensor_read(s, m24, m24v, sizeof m24v));
    CHECK(m24v[0] == 1.5f && m24v[7] == 1.5f);

    /* ---- gather ---- */
    xhal_tensor *table = TF(5, 3), *idx = T(XHAL_DTYPE_I32, 1, (int64_t[]){2}), *g23 = TF(2, 3);
    xhal_tensor *fidx = TF(2), *g24 = TF(2, 4);
    int32_t iv[2] = {1, 7};
    CHECK_OK(xhal_tensor_write(s, idx, iv, sizeof iv));
    sentinel(g23);
    CHECK_STATUS(xhal_gather(s, table, fidx, g23), XHAL_ERROR_DTYPE_MISMATCH, "indices are f32");
    CHECK_STATUS(xhal_gather(s, table, idx, g24), XHAL_ERROR_SHAPE_MISMATCH, "result is [2,3] but out is [2,4]");
    /* an index's value is data on the device: the op is queued, the device checks it and the
     * next wait names the first bad one by its position (test_gather_status has the rest) */
    CHECK_OK(xhal_gather(s, table, idx, g23));
    CHECK_STATUS(xhal_stream_synchronize(s), XHAL_ERROR_OUT_OF_RANGE, "indices[1] = 7 is outside [0, 5)");
    {
        xhal_tensor *i6 = T(XHAL_DTYPE_I64, 2, (int64_t[]){3, 2}), *i6t = NULL, *g6 = TF(2, 3, 3);
        int64_t v6[6] = {0, 4, 1, 9, 2, 8}; /* transposed: [[0, 1, 2], [4, 9, 8]] */
        CHECK_OK(xhal_tensor_write(s, i6, v6, sizeof v6));
        CHECK_OK(xhal_tensor_transpose(i6, 0, 1, &i6t));
        CHECK_OK(xhal_gather(s, table, i6t, g6));
        CHECK_STATUS(xhal_stream_synchronize(s), XHAL_ERROR_OUT_OF_RANGE, "indices[1,1] = 9 is outside [0, 5)");
        v6[3] = 3;
        v6[5] = 4;
        CHECK_OK(xhal_tensor_write(s, i6, v6, sizeof v6));
        CHECK_OK(xhal_gather(s, table, i6t, g6));
        CHECK_OK(xhal_stream_synchronize(s));
        xhal_tensor_destroy(i6t);
    }
    iv[1] = -1;
    CHECK_OK(xhal_tensor_write(s, idx, iv, sizeof iv));
    CHECK_OK(xhal_gather(s, table, idx, g23));
    CHECK_STATUS(xhal_stream_synchronize(s), XHAL_ERROR_OUT_OF_RANGE, "indices[1] = -1");
    CHECK_STATUS(xhal_gather(s, sc, idx, g23), XHAL_ERROR_SHAPE_MISMATCH, "table is a scalar");
    xhal_tensor *table0 = TF(0, 3);
    CHECK_STATUS(xhal_gather(s, table0, idx, g23), XHAL_ERROR_OUT_OF_RANGE, "no rows");

    /* ---- rope ---- */
    xhal_tensor *x = TF(1, 4, 2, 8), *xo = TF(1, 4, 2, 8);
    CHECK_STATUS(xhal_rope(s, x, 3, 10000, 0, 0, XHAL_ROPE_HALF, xo), XHAL_ERROR_INVALID_ARGUMENT, "seq_axis 3");
    CHECK_STATUS(xhal_rope(s, x, 1, 10000, 0, 3, XHAL_ROPE_HALF, xo), XHAL_ERROR_INVALID_ARGUMENT,
                 "rotary_dims 3 must be even");
    CHECK_STATUS(xhal_rope(s, x, 1, 10000, 0, 10, XHAL_ROPE_HALF, xo), XHAL_ERROR_INVALID_ARGUMENT, "in [2, 8]");
    CHECK_STATUS(xhal_rope(s, x, 1, 0, 0, 0, XHAL_ROPE_HALF, xo), XHAL_ERROR_INVALID_ARGUMENT, "theta 0 must be");
    CHECK_STATUS(xhal_rope(s, x, 1, 10000, -1, 0, XHAL_ROPE_HALF, xo), XHAL_ERROR_INVALID_ARGUMENT, "pos_offset -1");
    CHECK_STATUS(xhal_rope(s, x, 1, 10000, 0, 0, (xhal_rope_layout)7, xo), XHAL_ERROR_INVALID_ARGUMENT, "layout 7");
    CHECK_STATUS(xhal_rope(s, o4, 0, 10000, 0, 0, XHAL_ROPE_HALF, o4), XHAL_ERROR_SHAPE_MISMATCH, "has 1 dims");

    /* ---- attention ---- */
    xhal_tensor *q = TF(1, 6, 3, 8), *k = TF(1, 4, 5, 8), *v = TF(1, 4, 5, 8), *ao = TF(1, 6, 3, 8);
    CHECK_STATUS(xhal_attention(s, q, k, v, NULL, 0, 1, ao), XHAL_ERROR_SHAPE_MISMATCH,
                 "6 query heads are not a multiple of 4 key/value heads");
    xhal_tensor *k2 = TF(1, 2, 5, 8), *v2 = TF(1, 2, 5, 8), *v2b = TF(1, 2, 4, 8);
    CHECK_STATUS(xhal_attention(s, q, k2, v2b, NULL, 0, 1, ao), XHAL_ERROR_SHAPE_MISMATCH, "do not agree");
    xhal_tensor *kshort = TF(1, 2, 2, 8), *vshort = TF(1, 2, 2, 8);
    CHECK_STATUS(xhal_attention(s, q, kshort, vshort, NULL, 0, 1, ao), XHAL_ERROR_SHAPE_MISMATCH,
                 "Sk >= Sq, got Sq=3 Sk=2");
    xhal_tensor *ao_bad = TF(1, 6, 3, 4);
    CHECK_STATUS(xhal_attention(s, q, k2, v2, NULL, 0, 1, ao_bad), XHAL_ERROR_SHAPE_MISMATCH,
                 "out is [1,6,3,4] but must be [1,6,3,8]");
    xhal_tensor *q3 = TF(6, 3, 8);
    CHECK_STATUS(xhal_attention(s, q3, k2, v2, NULL, 0, 1, ao), XHAL_ERROR_SHAPE_MISMATCH, "q has 3 dims");
    xhal_tensor *mask_bad = TF(3, 4);
    CHECK_STATUS(xhal_attention(s, q, k2, v2, mask_bad, 0, 1, ao), XHAL_ERROR_SHAPE_MISMATCH, "do not broadcast");
    xhal_tensor *kh = T(XHAL_DTYPE_F16, 4, (int64_t[]){1, 2, 5, 8});
    CHECK_STATUS(xhal_attention(s, q, kh, v2, NULL, 0, 1, ao), XHAL_ERROR_DTYPE_MISMATCH, "q is f32 but k is f16");
    CHECK_STATUS(xhal_attention(s, q, k2, v2, NULL, INFINITY, 1, ao), XHAL_ERROR_INVALID_ARGUMENT, "scale inf");

    /* ---- rope_ex: positions, inv_freq, attention factor, the params struct ---- */
    {
        xhal_rope_params rp;
        xhal_rope_params_init(&rp);
        rp.seq_axis = 1;
        xhal_tensor *pos = T(XHAL_DTYPE_I64, 1, (int64_t[]){4}), *posb = T(XHAL_DTYPE_I32, 2, (int64_t[]){1, 4});
        xhal_tensor *posf = TF(4), *pos5 = T(XHAL_DTYPE_I64, 1, (int64_t[]){5});
        xhal_tensor *pos3d = T(XHAL_DTYPE_I64, 3, (int64_t[]){1, 4, 2});
        xhal_tensor *invf = TF(4), *invf3 = TF(3), *invfh = T(XHAL_DTYPE_F16, 1, (int64_t[]){4});
        CHECK_OK(xhal_fill(s, pos, 3));
        CHECK_OK(xhal_fill(s, posb, 3));
        CHECK_OK(xhal_fill(s, invf, 0.5));
        sentinel(xo);
        CHECK_STATUS(xhal_rope_ex(s, x, posf, NULL, &rp, xo), XHAL_ERROR_DTYPE_MISMATCH,
                     "positions are f32; they must be i32 or i64");
        CHECK_STATUS(xhal_rope_ex(s, x, pos5, NULL, &rp, xo), XHAL_ERROR_SHAPE_MISMATCH,
                     "positions [5] do not broadcast to [1,4], x's dims up to the seq axis 1");
        CHECK_STATUS(xhal_rope_ex(s, x, pos3d, NULL, &rp, xo), XHAL_ERROR_SHAPE_MISMATCH, "positions [1,4,2]");
        CHECK_STATUS(xhal_rope_ex(s, x, NULL, invf3, &rp, xo), XHAL_ERROR_SHAPE_MISMATCH,
                     "inv_freq is [3] but must be [4] (rotary_dims 8 / 2)");
        CHECK_STATUS(xhal_rope_ex(s, x, NULL, invfh, &rp, xo), XHAL_ERROR_DTYPE_MISMATCH,
                     "inv_freq is f16; it must be f32");
        rp.rotary_dims = 4; /* inv_freq must follow rotary_dims */
        CHECK_STATUS(xhal_rope_ex(s, x, NULL, invf, &rp, xo), XHAL_ERROR_SHAPE_MISMATCH, "must be [2] (rotary_dims 4");
        rp.rotary_dims = 5;
        CHECK_STATUS(xhal_rope_ex(s, x, pos, NULL, &rp, xo), XHAL_ERROR_INVALID_ARGUMENT, "rotary_dims 5 must be even");
        rp.rotary_dims = 0;
        rp.attention_factor = 0;
        CHECK_STATUS(xhal_rope_ex(s, x, pos, NULL, &rp, xo), XHAL_ERROR_INVALID_ARGUMENT,
                     "attention_factor 0 must be finite and > 0");
        rp.attention_factor = NAN;
        CHECK_STATUS(xhal_rope_ex(s, x, pos, NULL, &rp, xo), XHAL_ERROR_INVALID_ARGUMENT, "attention_factor nan");
        rp.attention_factor = 1;
        rp.struct_size = 8;
        CHECK_STATUS(xhal_rope_ex(s, x, pos, NULL, &rp, xo), XHAL_ERROR_INVALID_ARGUMENT,
                     "xhal_rope_params struct_size is 8");
        rp.struct_size = sizeof rp;
        CHECK_STATUS(xhal_rope_ex(s, x, pos, NULL, &rp, pos), XHAL_ERROR_DTYPE_MISMATCH, "x is f32 but out is i64");
        CHECK(untouched(xo));
        CHECK_OK(xhal_rope_ex(s, x, pos, invf, &rp, xo));
        CHECK_OK(xhal_rope_ex(s, x, posb, NULL, &rp, xo));
        CHECK_OK(xhal_rope_ex(s, x, NULL, NULL, NULL, xo)); /* defaults: seq_axis -3 */
    }

    /* ---- attention_ex: window, softcap, q_pos0 ---- */
    {
        xhal_attention_params ap;
        xhal_attention_params_init(&ap);
        CHECK(ap.q_pos0 == -1 && ap.window == 0 && ap.softcap == 0 && ap.struct_size == sizeof ap);
        xhal_tensor *aq = TF(1, 2, 3, 8), *ak = TF(1, 2, 7, 8), *av = TF(1, 2, 7, 8), *aout = TF(1, 2, 3, 8);
        CHECK_OK(xhal_fill(s, aq, 0.25));
        CHECK_OK(xhal_fill(s, ak, 0.5));
        CHECK_OK(xhal_fill(s, av, 1));
        sentinel(aout);
        ap.causal = 1;
        ap.window = -1;
        CHECK_STATUS(xhal_attention_ex(s, aq, ak, av, NULL, &ap, aout), XHAL_ERROR_INVALID_ARGUMENT,
                     "window -1 is negative");
        ap.window = 2;
        ap.causal = 0;
        CHECK_STATUS(xhal_attention_ex(s, aq, ak, av, NULL, &ap, aout), XHAL_ERROR_INVALID_ARGUMENT,
                     "window 2 needs causal = 1");
        ap.causal = 1;
        ap.softcap = -1;
        CHECK_STATUS(xhal_attention_ex(s, aq, ak, av, NULL, &ap, aout), XHAL_ERROR_INVALID_ARGUMENT,
                     "softcap -1 must be finite and >= 0");
        ap.softcap = NAN;
        CHECK_STATUS(xhal_attention_ex(s, aq, ak, av, NULL, &ap, aout), XHAL_ERROR_INVALID_ARGUMENT, "softcap nan");
        ap.softcap = INFINITY;
        CHECK_STATUS(xhal_attention_ex(s, aq, ak, av, NULL, &ap, aout), XHAL_ERROR_INVALID_ARGUMENT, "softcap inf");
        ap.softcap = 30;
        ap.q_pos0 = 5; /* Sk - Sq = 4 */
        CHECK_STATUS(xhal_attention_ex(s, aq, ak, av, NULL, &ap, aout), XHAL_ERROR_INVALID_ARGUMENT,
                     "q_pos0 5 is out of range: -1 (Sk - Sq) or in [0, 4]");
        ap.q_pos0 = -2;
        CHECK_STATUS(xhal_attention_ex(s, aq, ak, av, NULL, &ap, aout), XHAL_ERROR_INVALID_ARGUMENT, "q_pos0 -2");
        ap.q_pos0 = 2;
        ap.struct_size = 0;
        CHECK_STATUS(xhal_attention_ex(s, aq, ak, av, NULL, &ap, aout), XHAL_ERROR_INVALID_ARGUMENT,
                     "xhal_attention_params struct_size is 0");
        ap.struct_size = sizeof ap;
        xhal_tensor *kshort2 = TF(1, 2, 2, 8), *vshort2 = TF(1, 2, 2, 8);
        ap.q_pos0 = -1;
        CHECK_STATUS(xhal_attention_ex(s, aq, kshort2, vshort2, NULL, &ap, aout), XHAL_ERROR_SHAPE_MISMATCH,
                     "Sk >= Sq");
        CHECK(untouched(aout));
        ap.q_pos0 = 2;
        CHECK_OK(xhal_attention_ex(s, aq, ak, av, NULL, &ap, aout));
        CHECK_OK(xhal_attention_ex(s, aq, ak, av, NULL, NULL, aout));
        /* all keys equal and v = 1: every visible row gives exactly 1 */
        float got[48];
        CHECK_OK(xhal_tensor_read(s, aout, got, sizeof got));
        for (int i = 0; i < 48; i++) CHECK(got[i] == 1.0f);
    }

    /* ---- topk ---- */
    {
        xhal_tensor *tx = TF(3, 5), *tv = TF(3, 2), *ti = T(XHAL_DTYPE_I64, 2, (int64_t[]){3, 2});
        xhal_tensor *tif = TF(3, 2), *tv3 = TF(3, 3), *tvh = T(XHAL_DTYPE_F16, 2, (int64_t[]){3, 2});
        xhal_tensor *txi = T(XHAL_DTYPE_I32, 2, (int64_t[]){3, 5}), *tsc = TF(1);
        CHECK_OK(xhal_fill(s, tx, 1));
        sentinel(tv);
        CHECK_STATUS(xhal_topk(s, tx, 0, -1, 1, tv, ti), XHAL_ERROR_INVALID_ARGUMENT, "k 0 must be in [1, 5]");
        CHECK_STATUS(xhal_topk(s, tx, -3, -1, 1, tv, ti), XHAL_ERROR_INVALID_ARGUMENT, "k -3 must be in [1, 5]");
        CHECK_STATUS(xhal_topk(s, tx, 6, -1, 1, tv, ti), XHAL_ERROR_INVALID_ARGUMENT, "k 6 must be in [1, 5]");
        CHECK_STATUS(xhal_topk(s, tx, 2, 2, 1, tv, ti), XHAL_ERROR_INVALID_ARGUMENT, "axis 2 is out of range");
        CHECK_STATUS(xhal_topk(s, tx, 2, -1, 2, tv, ti), XHAL_ERROR_INVALID_ARGUMENT, "largest is 2");
        CHECK_STATUS(xhal_topk(s, tx, 2, -1, 1, tv, tif), XHAL_ERROR_DTYPE_MISMATCH,
                     "indices are f32; they must be i32 or i64");
        CHECK_STATUS(xhal_topk(s, tx, 2, -1, 1, tvh, ti), XHAL_ERROR_DTYPE_MISMATCH, "x is f32 but values is f16");
        CHECK_STATUS(xhal_topk(s, txi, 2, -1, 1, tv, ti), XHAL_ERROR_DTYPE_MISMATCH, "x is i32");
        CHECK_STATUS(xhal_topk(s, tx, 2, -1, 1, tv3, ti), XHAL_ERROR_SHAPE_MISMATCH,
                     "values is [3,3] but must be [3,2]");
        CHECK_STATUS(xhal_topk(s, tx, 3, -1, 1, tv3, ti), XHAL_ERROR_SHAPE_MISMATCH,
                     "indices is [3,2] but must be [3,3]");
        CHECK_STATUS(xhal_topk(s, tx, 2, -1, 1, NULL, ti), XHAL_ERROR_INVALID_HANDLE, "values");
        CHECK_STATUS(xhal_topk(s, tx, 2, -1, 1, tv, NULL), XHAL_ERROR_INVALID_HANDLE, "indices");
        CHECK_STATUS(xhal_topk(s, tsc, 1, 0, 1, tsc, ti), XHAL_ERROR_SHAPE_MISMATCH,
                     "indices is [3,2] but must be [1]");
        xhal_tensor *sc0 = T(XHAL_DTYPE_F32, 0, (int64_t[]){1});
        CHECK_STATUS(xhal_topk(s, sc0, 1, 0, 1, tv, ti), XHAL_ERROR_SHAPE_MISMATCH, "x is a scalar");
        CHECK_STATUS(xhal_topk(s, tx, 2, -1, 1, tv, tv), XHAL_ERROR_DTYPE_MISMATCH, "indices are f32");
        CHECK_STATUS(xhal_topk(s, tx, 5, -1, 1, tx, T(XHAL_DTYPE_I64, 2, (int64_t[]){3, 5})),
                     XHAL_ERROR_INVALID_ARGUMENT, "values overlaps x");
        CHECK(untouched(tv));
        /* equal values: indices ascending */
        CHECK_OK(xhal_topk(s, tx, 2, -1, 1, tv, ti));
        int64_t gi[6];
        CHECK_OK(xhal_tensor_read(s, ti, gi, sizeof gi));
        CHECK(gi[0] == 0 && gi[1] == 1 && gi[4] == 0 && gi[5] == 1);
    }

    /* ---- concat and copy ---- */
    xhal_tensor *c1 = TF(2, 1), *cat = TF(2, 4);
    xhal_tensor *ins[2] = {a, c1};
    CHECK_OK(xhal_concat(s, ins, 2, 1, cat));
    CHECK_STATUS(xhal_concat(s, ins, 2, 0, cat), XHAL_ERROR_SHAPE_MISMATCH, "axis 1 differs");
    CHECK_STATUS(xhal_concat(s, ins, 1, 1, cat), XHAL_ERROR_SHAPE_MISMATCH, "add up to 3 along axis 1 but out has 4");
    CHECK_STATUS(xhal_concat(s, ins, 0, 1, cat), XHAL_ERROR_INVALID_ARGUMENT, "at least one input");
    CHECK_STATUS(xhal_concat(s, ins, 2, 2, cat), XHAL_ERROR_INVALID_ARGUMENT, "axis 2 is out of range");
    xhal_tensor *insh[2] = {h, c1};
    CHECK_STATUS(xhal_concat(s, insh, 2, 1, cat), XHAL_ERROR_DTYPE_MISMATCH, "inputs[0] is f16 but out is f32");
    xhal_tensor *insn[2] = {a, NULL};
    CHECK_STATUS(xhal_concat(s, insn, 2, 1, cat), XHAL_ERROR_INVALID_HANDLE, "inputs[1]");
    CHECK_STATUS(xhal_copy(s, a, o4), XHAL_ERROR_SHAPE_MISMATCH, "src is [2,3] but dst is [4]");
    CHECK_STATUS(xhal_copy(s, top, mid), XHAL_ERROR_INVALID_ARGUMENT, "dst overlaps src");
    CHECK_STATUS(xhal_copy(s, a, bc), XHAL_ERROR_INVALID_ARGUMENT, "dst has stride 0");
    CHECK_STATUS(xhal_fill(s, bc, 1), XHAL_ERROR_INVALID_ARGUMENT, "stride 0");
    CHECK_STATUS(xhal_contiguous(s, a, (xhal_dtype)50, &top), XHAL_ERROR_INVALID_ARGUMENT, "dtype 50");

    CHECK(untouched(out));
    CHECK_OK(xhal_context_destroy(ctx));
    return xtest_finish("test_validation");
}
