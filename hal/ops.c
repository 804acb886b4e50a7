/* ops.c - validation of the op catalogue and normalisation into backend descriptors.
 * Every rule a backend may rely on (see xhal_backend.h) is established here, once. */
#include "dispatch.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* Rows of XHAL_OP_TABLE come in ascending id order, so every id lies below XHAL_OP_MAX_ID_ (a
 * duplicate id would already fail to compile: xhal_op_table_row's switch has a case per row). */
#define ID_BELOW_MAX_(NAME, ID, ...)                                                               \
    _Static_assert((ID) > 0 && (ID) < XHAL_OP_MAX_ID_, "xhal_op_table.h: XHAL_OP_" #NAME " is out of order");
XHAL_OP_TABLE(ID_BELOW_MAX_)
#undef ID_BELOW_MAX_

/* "xhal_binary(add)" and the like, built once: formatting them on every call was most of
 * the dispatch cost of a tiny op. */
static char g_fn_names[3][XHAL_OP_MAX_ID_][40];
static pthread_once_t g_fn_once = PTHREAD_ONCE_INIT;

static void build_fn_names(void)
{
    static const char *const fam[3] = {"xhal_unary", "xhal_binary", "xhal_reduce"};
    for (int f = 0; f < 3; f++)
        for (int op = 0; op < XHAL_OP_MAX_ID_; op++)
            snprintf(g_fn_names[f][op], sizeof g_fn_names[f][op], "%s(%s)", fam[f], xhal_op_name((xhal_op)op));
}

static const char *fn_name(int family, xhal_op op)
{
    pthread_once(&g_fn_once, build_fn_names);
    return g_fn_names[family][(op > 0 && op < XHAL_OP_MAX_ID_) ? op : 0];
}

static xhal_status same_dtype(const char *fn, const char *an, const xhal_tensor *a, const char *bn, const xhal_tensor *b)
{
    if (!b || a->dtype == b->dtype) return XHAL_OK;
    return hal_set_error(XHAL_ERROR_DTYPE_MISMATCH, "%s: %s is %s but %s is %s", fn, an, xhal_dtype_name(a->dtype), bn,
                         xhal_dtype_name(b->dtype));
}

static xhal_status want_float(const char *fn, const char *name, const xhal_tensor *t)
{
    if (hal_dtype_is_float(t->dtype)) return XHAL_OK;
    return hal_set_error(XHAL_ERROR_DTYPE_MISMATCH, "%s: %s is %s; this op takes f32, f16, bf16 or f64", fn, name,
                         xhal_dtype_name(t->dtype));
}

static xhal_status same_shape(const char *fn, const char *an, const xhal_tensor *a, const char *bn, const xhal_tensor *b)
{
    int same = a->ndim == b->ndim;
    for (int i = 0; same && i < a->ndim; i++) same = a->shape[i] == b->shape[i];
    if (same) return XHAL_OK;
    char b1[160], b2[160];
    return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH, "%s: %s is %s but %s is %s", fn, an,
                         hal_shape_str(a->ndim, a->shape, b1, sizeof b1), bn, hal_shape_str(b->ndim, b->shape, b2, sizeof b2));
}

/* out must have the computed shape; the message reads "<fn>: <what> <shape> but out is <shape>". */
static xhal_status want_out_shape(const char *fn, const char *what, int nd, const int64_t *shape,
                                  const xhal_tensor *out)
{
    int ok = nd == out->ndim;
    for (int i = 0; ok && i < nd; i++) ok = shape[i] == out->shape[i];
    if (ok) return XHAL_OK;
    char b1[160], b2[160];
    return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH, "%s: %s %s but out is %s", fn, what, hal_shape_str(nd, shape, b1, sizeof b1),
                         hal_shape_str(out->ndim, out->shape, b2, sizeof b2));
}

static void init_desc(xhal_op_desc *d, xhal_op op)
{
    memset(d, 0, sizeof *d);
    d->op = op;
}

static void add_in(xhal_op_desc *d, const xhal_tensor *t) { hal_tensor_desc(t, &d->inputs[d->n_inputs++]); }
static void add_out(xhal_op_desc *d, const xhal_tensor *t) { hal_tensor_desc(t, &d->outputs[d->n_outputs++]); }

/* Broadcast descriptor: t's dims aligned right into ndim/shape with stride 0 where t is 1. */
static void bcast_desc(const xhal_tensor *t, int ndim, const int64_t *shape, xhal_tensor_desc *d)
{
    hal_tensor_desc(t, d);
    xhal_tensor_desc r = *d;
    r.ndim = ndim;
    for (int i = 0; i < XHAL_MAX_DIMS; i++) {
        r.shape[i] = i < ndim ? shape[i] : 1;
        r.strides[i] = 0;
    }
    for (int i = 0; i < ndim; i++) {
        int src = t->ndim - ndim + i;
        if (src >= 0 && t->shape[src] == shape[i] && shape[i] != 1) r.strides[i] = t->strides[src];
    }
    *d = r;
}

static xhal_status fill_out(xhal_stream *s, xhal_tensor *out, double v)
{
    return hal_tensor_numel(out) ? xhal_fill(s, out, v) : XHAL_OK;
}

/* The checks every "x -> out of the same shape" op shares: live handles on the stream's device,
 * one dtype, one shape, a float dtype (or i32/i64 when ints_ok), a writable out that is x
 * itself or does not overlap it. */
static xhal_status same_shape_op(const char *fn, xhal_stream *s, xhal_tensor *x, xhal_tensor *out, int ints_ok)
{
    xhal_tensor *ts[2] = {x, out};
    const char *nm[2] = {"x", "out"};
    xhal_status st = hal_op_prelude(fn, s, 2, ts, nm, NULL);
    if (st != XHAL_OK) return st;
    if ((st = same_dtype(fn, "x", x, "out", out)) || (st = same_shape(fn, "x", x, "out", out))) return st;
    if (!(ints_ok && (x->dtype == XHAL_DTYPE_I32 || x->dtype == XHAL_DTYPE_I64)) && (st = want_float(fn, "x", x)))
        return st;
    if ((st = hal_check_writable(fn, "out", out)) || (st = hal_check_no_overlap(fn, "out", out, "x", x, 1))) return st;
    return XHAL_OK;
}

/* ---- unary ---- */
XHAL_API xhal_status xhal_unary(xhal_stream *s, xhal_op op, xhal_tensor *x, xhal_tensor *out)
{
    const char *fn = fn_name(0, op);
    xhal_status st = hal_check_stream(s, fn);
    if (st != XHAL_OK) return st;
    if (xhal_op_family_of(op) != XHAL_OPF_UNARY)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_unary: op %d is not a unary op", (int)op);
    int int_ok = (xhal_op_dtypes_of(op) & XHAL_DTYPE_BIT(XHAL_DTYPE_I32)) != 0;
    if ((st = same_shape_op(fn, s, x, out, int_ok))) return st;
    if (hal_tensor_numel(out) == 0) return XHAL_OK;
    xhal_op_desc d;
    init_desc(&d, op);
    add_in(&d, x);
    add_out(&d, out);
    return hal_dispatch(s, &d);
}

/* ---- binary ---- */
XHAL_API xhal_status xhal_binary(xhal_stream *s, xhal_op op, xhal_tensor *a, xhal_tensor *b, xhal_tensor *out)
{
    const char *fn = fn_name(1, op);
    xhal_tensor *ts[3] = {a, b, out};
    const char *nm[3] = {"a", "b", "out"};
    xhal_status st = hal_op_prelude(fn, s, 3, ts, nm, NULL);
    if (st != XHAL_OK) return st;
    if (xhal_op_family_of(op) != XHAL_OPF_BINARY)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_binary: op %d is not a binary op", (int)op);
    if ((st = same_dtype(fn, "a", a, "b", b)) || (st = same_dtype(fn, "a", a, "out", out))) return st;
    int int_ok = (xhal_op_dtypes_of(op) & XHAL_DTYPE_BIT(XHAL_DTYPE_I32)) != 0;
    if (!(int_ok && (a->dtype == XHAL_DTYPE_I32 || a->dtype == XHAL_DTYPE_I64)) && (st = want_float(fn, "a", a)))
        return st;
    int nd;
    int64_t shape[XHAL_MAX_DIMS];
    if ((st = hal_broadcast_shapes(fn, a->ndim, a->shape, "b", b->ndim, b->shape, &nd, shape))) return st;
    if ((st = want_out_shape(fn, "a and b broadcast to", nd, shape, out))) return st;
    if ((st = hal_check_writable(fn, "out", out)) || (st = hal_check_no_overlap(fn, "out", out, "a", a, 1)) ||
        (st = hal_check_no_overlap(fn, "out", out, "b", b, 1)))
        return st;
    if (hal_tensor_numel(out) == 0) return XHAL_OK;
    xhal_op_desc d;
    init_desc(&d, op);
    d.n_inputs = 2;
    bcast_desc(a, out->ndim, out->shape, &d.inputs[0]);
    bcast_desc(b, out->ndim, out->shape, &d.inputs[1]);
    add_out(&d, out);
    return hal_dispatch(s, &d);
}

XHAL_API xhal_status xhal_add(xhal_stream *s, xhal_tensor *a, xhal_tensor *b, xhal_tensor *out)
{
    return xhal_binary(s, XHAL_OP_ADD, a, b, out);
}

XHAL_API xhal_status xhal_mul(xhal_stream *s, xhal_tensor *a, xhal_tensor *b, xhal_tensor *out)
{
    return xhal_binary(s, XHAL_OP_MUL, a, b, out);
}

XHAL_API xhal_status xhal_scale(xhal_stream *s, xhal_tensor *x, double alpha, double beta, xhal_tensor *out)
{
    const char *fn = "xhal_scale";
    xhal_status st = same_shape_op(fn, s, x, out, 0);
    if (st != XHAL_OK) return st;
    if (!isfinite(alpha) || !isfinite(beta))
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: alpha %g and beta %g must be finite", fn, alpha, beta);
    if (hal_tensor_numel(out) == 0) return XHAL_OK;
    xhal_op_desc d;
    init_desc(&d, XHAL_OP_SCALE);
    add_in(&d, x);
    add_out(&d, out);
    d.attrs.scale.alpha = alpha;
    d.attrs.scale.beta = beta;
    return hal_dispatch(s, &d);
}

/* ---- reductions ---- */
XHAL_API xhal_status xhal_reduce(xhal_stream *s, xhal_op op, xhal_tensor *x, int axis, int keepdims, xhal_tensor *out)
{
    const char *fn = fn_name(2, op);
    xhal_tensor *ts[2] = {x, out};
    const char *nm[2] = {"x", "out"};
    xhal_status st = hal_op_prelude(fn, s, 2, ts, nm, NULL);
    if (st != XHAL_OK) return st;
    if (xhal_op_family_of(op) != XHAL_OPF_REDUCE)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_reduce: op %d is not a reduction", (int)op);
    if ((st = want_float(fn, "x", x))) return st;
    if (op == XHAL_OP_ARGMAX) {
        if (out->dtype != XHAL_DTYPE_I32 && out->dtype != XHAL_DTYPE_I64)
            return hal_set_error(XHAL_ERROR_DTYPE_MISMATCH, "%s: out is %s; argmax writes i32 or i64", fn,
                                 xhal_dtype_name(out->dtype));
    } else if ((st = same_dtype(fn, "x", x, "out", out))) {
        return st;
    }
    if (x->ndim == 0) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: x is a scalar; there is no axis", fn);
    int a = axis < 0 ? axis + x->ndim : axis;
    if (a < 0 || a >= x->ndim)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: axis %d is out of range for %d dims", fn, axis, x->ndim);
    int64_t want[XHAL_MAX_DIMS];
    int wn = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (i == a) {
            if (keepdims) want[wn++] = 1;
        } else {
            want[wn++] = x->shape[i];
        }
    }
    int ok = wn == out->ndim;
    for (int i = 0; ok && i < wn; i++) ok = want[i] == out->shape[i];
    if (!ok) {
        char b1[160], b2[160], b3[160];
        return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH, "%s: reducing %s over axis %d (keepdims=%d) gives %s but out is %s",
                             fn, hal_shape_str(x->ndim, x->shape, b1, sizeof b1), a, keepdims ? 1 : 0,
                             hal_shape_str(wn, want, b2, sizeof b2), hal_shape_str(out->ndim, out->shape, b3, sizeof b3));
    }
    if ((st = hal_check_writable(fn, "out", out)) || (st = hal_check_no_overlap(fn, "out", out, "x", x, 0))) return st;
    if (hal_tensor_numel(out) == 0) return XHAL_OK;
    if (x->shape[a] == 0) {
        if (op == XHAL_OP_SUM) return fill_out(s, out, 0.0);
        if (op == XHAL_OP_MEAN) return fill_out(s, out, NAN);
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: axis %d is empty; %s of nothing is undefined", fn, a,
                             xhal_op_name(op));
    }
    xhal_op_desc d;
    init_desc(&d, op);
    add_in(&d, x);
    add_out(&d, out);
    /* out in keepdims form: same ndim as x, size 1 at the axis, stride 0 there */
    xhal_tensor_desc *o = &d.outputs[0];
    xhal_tensor_desc k = *o;
    k.ndim = x->ndim;
    for (int i = 0, j = 0; i < XHAL_MAX_DIMS; i++) {
        if (i >= x->ndim) { k.shape[i] = 1; k.strides[i] = 0; continue; }
        if (i == a) {
            k.shape[i] = 1;
            k.strides[i] = 0;
            if (keepdims) j++;
        } else {
            k.shape[i] = out->shape[j];
            k.strides[i] = out->strides[j];
            j++;
        }
    }
    *o = k;
    d.attrs.reduce.axis = a;
    return hal_dispatch(s, &d);
}

/* ---- normalisation ---- */
XHAL_API xhal_status xhal_softmax(xhal_stream *s, xhal_tensor *x, double scale, int causal, xhal_tensor *out)
{
    const char *fn = "xhal_softmax";
    xhal_status st = same_shape_op(fn, s, x, out, 0);
    if (st != XHAL_OK) return st;
    if (x->ndim < 1) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: x is a scalar; softmax needs an axis", fn);
    if (!isfinite(scale)) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: scale %g is not finite", fn, scale);
    if (causal) {
        if (x->ndim < 2)
            return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: causal softmax needs x as [..., Sq, Sk]; x has 1 dim", fn);
        if (x->shape[x->ndim - 1] < x->shape[x->ndim - 2])
            return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH, "%s: causal softmax needs Sk >= Sq, got Sq=%lld Sk=%lld", fn,
                                 (long long)x->shape[x->ndim - 2], (long long)x->shape[x->ndim - 1]);
    }
    if (hal_tensor_numel(out) == 0) return XHAL_OK;
    xhal_op_desc d;
    init_desc(&d, XHAL_OP_SOFTMAX);
    add_in(&d, x);
    add_out(&d, out);
    d.attrs.softmax.scale = scale == 0.0 ? 1.0 : scale;
    d.attrs.softmax.causal = causal ? 1 : 0;
    return hal_dispatch(s, &d);
}

static xhal_status norm_common(const char *fn, xhal_stream *s, xhal_op op, xhal_tensor *x, xhal_tensor *w,
                               xhal_tensor *b, double eps, xhal_tensor *out)
{
    xhal_tensor *ts[4] = {x, w, b, out};
    const char *nm[4] = {"x", "weight", "bias", "out"};
    const int opt[4] = {0, 1, 1, 0};
    xhal_status st = hal_op_prelude(fn, s, 4, ts, nm, opt);
    if (st != XHAL_OK) return st;
    if ((st = want_float(fn, "x", x)) || (st = same_dtype(fn, "x", x, "out", out)) ||
        (st = same_dtype(fn, "x", x, "weight", w)) || (st = same_dtype(fn, "x", x, "bias", b)) ||
        (st = same_shape(fn, "x", x, "out", out)))
        return st;
    if (x->ndim < 1) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: x is a scalar; the op needs a last axis", fn);
    if (!(eps >= 0.0) || !isfinite(eps))
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: eps %g must be finite and >= 0", fn, eps);
    int64_t D = x->shape[x->ndim - 1];
    const xhal_tensor *vec[2] = {w, b};
    for (int i = 0; i < 2; i++) {
        if (!vec[i]) continue;
        if (vec[i]->ndim != 1 || vec[i]->shape[0] != D) {
            char b1[160];
            return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH, "%s: %s is %s but must be [%lld] (x's last dim)", fn,
                                 nm[1 + i], hal_shape_str(vec[i]->ndim, vec[i]->shape, b1, sizeof b1), (long long)D);
        }
    }
    if ((st = hal_check_writable(fn, "out", out)) || (st = hal_check_no_overlap(fn, "out", out, "x", x, 1)) ||
        (st = hal_check_no_overlap(fn, "out", out, "weight", w, 0)) || (st = hal_check_no_overlap(fn, "out", out, "bias", b, 0)))
        return st;
    if (hal_tensor_numel(out) == 0) return XHAL_OK;
    xhal_op_desc d;
    init_desc(&d, op);
    add_in(&d, x);
    if (w) add_in(&d, w);
    if (b) add_in(&d, b);
    add_out(&d, out);
    d.attrs.norm.eps = eps;
    d.attrs.norm.has_weight = w != NULL;
    d.attrs.norm.has_bias = b != NULL;
    return hal_dispatch(s, &d);
}

XHAL_API xhal_status xhal_rms_norm(xhal_stream *s, xhal_tensor *x, xhal_tensor *weight, double eps, xhal_tensor *out)
{
    return norm_common("xhal_rms_norm", s, XHAL_OP_RMS_NORM, x, weight, NULL, eps, out);
}

XHAL_API xhal_status xhal_layer_norm(xhal_stream *s, xhal_tensor *x, xhal_tensor *weight, xhal_tensor *bias, double eps,
                                     xhal_tensor *out)
{
    return norm_common("xhal_layer_norm", s, XHAL_OP_LAYER_NORM, x, weight, bias, eps, out);
}

/* ---- matmul ---- */
XHAL_API xhal_status xhal_matmul(xhal_stream *s, xhal_tensor *a, xhal_tensor *b, int trans_a, int trans_b, double alpha,
                                 double beta, xhal_tensor *out)
{
    const char *fn = "xhal_matmul";
    xhal_tensor *ts[3] = {a, b, out};
    const char *nm[3] = {"a", "b", "out"};
    xhal_status st = hal_op_prelude(fn, s, 3, ts, nm, NULL);
    if (st != XHAL_OK) return st;
    int qb = hal_dtype_block(b->dtype, NULL, NULL);
    if ((st = want_float(fn, "a", a)) || (!qb && (st = same_dtype(fn, "a", a, "b", b))) ||
        (st = same_dtype(fn, "a", a, "out", out)))
        return st;
    if (qb) { /* quantized weights: b is [.., N, K] with blocks along K, used transposed */
        if (a->dtype == XHAL_DTYPE_F64)
            return hal_set_error(XHAL_ERROR_DTYPE_MISMATCH, "%s: a is f64; with a block-quantized b (%s) a and out "
                                 "must be f32, f16 or bf16", fn, xhal_dtype_name(b->dtype));
        if (!trans_b)
            return hal_set_error(XHAL_ERROR_UNSUPPORTED, "%s: a block-quantized b (%s) must be used transposed "
                                 "(trans_b = 1: weights [N, K] with blocks along K, the contraction axis)", fn,
                                 xhal_dtype_name(b->dtype));
        if ((st = hal_check_device_stores(fn, s->dev, b->dtype))) return st;
    }
    if (a->ndim < 2 || b->ndim < 2 || out->ndim < 2)
        return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH, "%s: a, b and out need at least 2 dims (have %d, %d, %d)", fn,
                             a->ndim, b->ndim, out->ndim);
    if (!isfinite(alpha) || !isfinite(beta))
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: alpha %g and beta %g must be finite", fn, alpha, beta);
    /* fold the transposes into views */
    xhal_tensor av, bv;
    hal_tensor_geometry(&av, a);
    hal_tensor_geometry(&bv, b);
    if (trans_a) {
        av.shape[a->ndim - 1] = a->shape[a->ndim - 2]; av.shape[a->ndim - 2] = a->shape[a->ndim - 1];
        av.strides[a->ndim - 1] = a->strides[a->ndim - 2]; av.strides[a->ndim - 2] = a->strides[a->ndim - 1];
    }
    if (trans_b) {
        bv.shape[b->ndim - 1] = b->shape[b->ndim - 2]; bv.shape[b->ndim - 2] = b->shape[b->ndim - 1];
        bv.strides[b->ndim - 1] = b->strides[b->ndim - 2]; bv.strides[b->ndim - 2] = b->strides[b->ndim - 1];
    }
    int64_t M = av.shape[av.ndim - 2], K = av.shape[av.ndim - 1], K2 = bv.shape[bv.ndim - 2], N = bv.shape[bv.ndim - 1];
    if (K != K2) {
        char b1[160], b2[160];
        return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH, "%s: a is %s%s but b is %s%s: inner dims %lld and %lld differ", fn,
                             hal_shape_str(a->ndim, a->shape, b1, sizeof b1), trans_a ? " (transposed)" : "",
                             hal_shape_str(b->ndim, b->shape, b2, sizeof b2), trans_b ? " (transposed)" : "",
                             (long long)K, (long long)K2);
    }
    int bd;
    int64_t batch[XHAL_MAX_DIMS];
    if ((st = hal_broadcast_shapes("xhal_matmul: batch dims of a", av.ndim - 2, av.shape, "b", bv.ndim - 2, bv.shape,
                                   &bd, batch)))
        return st;
    int64_t want[XHAL_MAX_DIMS];
    memcpy(want, batch, sizeof(int64_t) * (size_t)bd);
    want[bd] = M;
    want[bd + 1] = N;
    if ((st = want_out_shape(fn, "result is", bd + 2, want, out))) return st;
    if ((st = hal_check_writable(fn, "out", out)) || (st = hal_check_no_overlap(fn, "out", out, "a", a, 0)) ||
        (st = hal_check_no_overlap(fn, "out", out, "b", b, 0)))
        return st;
    if (hal_tensor_numel(out) == 0) return XHAL_OK;
    if (K == 0) { /* alpha * (empty sum) + beta * out */
        if (beta == 0.0) return fill_out(s, out, 0.0);
        return xhal_scale(s, out, beta, 0.0, out);
    }
    xhal_op_desc d;
    init_desc(&d, XHAL_OP_MATMUL);
    d.n_inputs = 2;
    int64_t ash[XHAL_MAX_DIMS], bsh[XHAL_MAX_DIMS];
    memcpy(ash, out->shape, sizeof(int64_t) * (size_t)bd);
    memcpy(bsh, out->shape, sizeof(int64_t) * (size_t)bd);
    ash[bd] = M; ash[bd + 1] = K;
    bsh[bd] = K; bsh[bd + 1] = N;
    bcast_desc(&av, bd + 2, ash, &d.inputs[0]);
    bcast_desc(&bv, bd + 2, bsh, &d.inputs[1]);
    /* bcast_desc zeroes strides of size-1 dims; the matrix dims keep theirs */
    for (int k = 0; k < 2; k++) {
        d.inputs[0].strides[bd + k] = av.strides[av.ndim - 2 + k];
        d.inputs[1].strides[bd + k] = bv.strides[bv.ndim - 2 + k];
    }
    add_out(&d, out);
    d.attrs.matmul.alpha = alpha;
    d.attrs.matmul.beta = beta;
    return hal_dispatch(s, &d);
}

/* ---- gather ---- */
XHAL_API xhal_status xhal_gather(xhal_stream *s, xhal_tensor *table, xhal_tensor *idx, xhal_tensor *out)
{
    const char *fn = "xhal_gather";
    xhal_tensor *ts[3] = {table, idx, out};
    const char *nm[3] = {"table", "indices", "out"};
    xhal_status st = hal_op_prelude(fn, s, 3, ts, nm, NULL);
    if (st != XHAL_OK) return st;
    if (idx->dtype != XHAL_DTYPE_I32 && idx->dtype != XHAL_DTYPE_I64)
        return hal_set_error(XHAL_ERROR_DTYPE_MISMATCH, "%s: indices are %s; they must be i32 or i64", fn,
                             xhal_dtype_name(idx->dtype));
    if ((st = same_dtype(fn, "table", table, "out", out))) return st;
    if (hal_dtype_block(table->dtype, NULL, NULL))
        return hal_set_error(XHAL_ERROR_DTYPE_MISMATCH, "%s: table is block-quantized (%s); gather from a "
                             "dequantized copy (xhal_copy to f32)", fn, xhal_dtype_name(table->dtype));
    if (table->ndim < 1) return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH, "%s: table is a scalar; it needs [V, ...]", fn);
    if (idx->ndim + table->ndim - 1 > XHAL_MAX_DIMS)
        return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH, "%s: result would have %d dims (max %d)", fn,
                             idx->ndim + table->ndim - 1, XHAL_MAX_DIMS);
    int64_t want[XHAL_MAX_DIMS];
    int wn = 0;
    for (int i = 0; i < idx->ndim; i++) want[wn++] = idx->shape[i];
    for (int i = 1; i < table->ndim; i++) want[wn++] = table->shape[i];
    if ((st = want_out_shape(fn, "result is", wn, want, out))) return st;
    if ((st = hal_check_writable(fn, "out", out)) || (st = hal_check_no_overlap(fn, "out", out, "table", table, 0)) ||
        (st = hal_check_no_overlap(fn, "out", out, "indices", idx, 0)))
        return st;
    if (hal_tensor_numel(out) == 0) return XHAL_OK;
    if (table->shape[0] == 0)
        return hal_set_error(XHAL_ERROR_OUT_OF_RANGE, "%s: the table has no rows, so every index is out of range", fn);
    xhal_op_desc d;
    init_desc(&d, XHAL_OP_GATHER);
    add_in(&d, table);
    add_in(&d, idx);
    add_out(&d, out);
    return hal_dispatch(s, &d);
}

/* ---- rope ---- */
XHAL_API xhal_status xhal_rope(xhal_stream *s, xhal_tensor *x, int seq_axis, double theta, int64_t pos_offset,
                               int rotary_dims, xhal_rope_layout layout, xhal_tensor *out)
{
    const char *fn = "xhal_rope";
    xhal_status st = same_shape_op(fn, s, x, out, 0);
    if (st != XHAL_OK) return st;
    if (x->ndim < 2)
        return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH, "%s: x needs a sequence axis and a head dim (has %d dims)", fn, x->ndim);
    int sa = seq_axis < 0 ? seq_axis + x->ndim : seq_axis;
    if (sa < 0 || sa >= x->ndim - 1)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: seq_axis %d must name an axis before the last of %d", fn,
                             seq_axis, x->ndim);
    int64_t D = x->shape[x->ndim - 1];
    int64_t rd = rotary_dims == 0 ? D : rotary_dims;
    if (rd < 2 || rd > D || rd % 2)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: rotary_dims %d must be even and in [2, %lld] (head dim)", fn,
                             rotary_dims, (long long)D);
    if (!(theta > 0.0) || !isfinite(theta))
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: theta %g must be finite and > 0", fn, theta);
    if (pos_offset < 0)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: pos_offset %lld is negative", fn, (long long)pos_offset);
    if (layout != XHAL_ROPE_HALF && layout != XHAL_ROPE_INTERLEAVED)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: layout %d is not an xhal_rope_layout", fn, (int)layout);
    if (hal_tensor_numel(out) == 0) return XHAL_OK;
    xhal_op_desc d;
    init_desc(&d, XHAL_OP_ROPE);
    add_in(&d, x);
    add_out(&d, out);
    d.attrs.rope.theta = theta;
    d.attrs.rope.pos_offset = pos_offset;
    d.attrs.rope.seq_axis = sa;
    d.attrs.rope.rotary_dims = (int32_t)rd;
    d.attrs.rope.layout = layout;
    return hal_dispatch(s, &d);
}

/* ---- attention ---- */
XHAL_API xhal_status xhal_attention(xhal_stream *s, xhal_tensor *q, xhal_tensor *k, xhal_tensor *v, xhal_tensor *mask,
                                    double scale, int causal, xhal_tensor *out)
{
    const char *fn = "xhal_attention";
    xhal_tensor *ts[5] = {q, k, v, mask, out};
    const char *nm[5] = {"q", "k", "v", "mask", "out"};
    const int opt[5] = {0, 0, 0, 1, 0};
    xhal_status st = hal_op_prelude(fn, s, 5, ts, nm, opt);
    if (st != XHAL_OK) return st;
    if ((st = want_float(fn, "q", q)) || (st = same_dtype(fn, "q", q, "k", k)) || (st = same_dtype(fn, "q", q, "v", v)) ||
        (st = same_dtype(fn, "q", q, "mask", mask)) || (st = same_dtype(fn, "q", q, "out", out)))
        return st;
    const xhal_tensor *four[4] = {q, k, v, out};
    const char *fnm[4] = {"q", "k", "v", "out"};
    for (int i = 0; i < 4; i++)
        if (four[i]->ndim != 4)
            return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH, "%s: %s has %d dims; it must be [B, H, S, D]", fn, fnm[i],
                                 four[i]->ndim);
    int64_t B = q->shape[0], Hq = q->shape[1], Sq = q->shape[2], D = q->shape[3];
    int64_t Hkv = k->shape[1], Sk = k->shape[2], Dv = v->shape[3];
    char b1[160], b2[160], b3[160];
    if (k->shape[0] != B || v->shape[0] != B || k->shape[3] != D || v->shape[1] != Hkv || v->shape[2] != Sk)
        return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH, "%s: q %s, k %s and v %s do not agree (need k [B,Hkv,Sk,D], v [B,Hkv,Sk,Dv])",
                             fn, hal_shape_str(4, q->shape, b1, sizeof b1), hal_shape_str(4, k->shape, b2, sizeof b2),
                             hal_shape_str(4, v->shape, b3, sizeof b3));
    if (Hkv == 0 || Hq % Hkv)
        return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH, "%s: %lld query heads are not a multiple of %lld key/value heads", fn,
                             (long long)Hq, (long long)Hkv);
    if (out->shape[0] != B || out->shape[1] != Hq || out->shape[2] != Sq || out->shape[3] != Dv) {
        int64_t want[4] = {B, Hq, Sq, Dv};
        return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH, "%s: out is %s but must be %s", fn,
                             hal_shape_str(4, out->shape, b1, sizeof b1), hal_shape_str(4, want, b2, sizeof b2));
    }
    if (causal && Sk < Sq)
        return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH, "%s: causal attention needs Sk >= Sq, got Sq=%lld Sk=%lld", fn,
                             (long long)Sq, (long long)Sk);
    if (!isfinite(scale)) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: scale %g is not finite", fn, scale);
    int64_t mshape[4] = {B, Hq, Sq, Sk};
    if (mask) {
        int nd;
        int64_t bs[XHAL_MAX_DIMS];
        if ((st = hal_broadcast_shapes("xhal_attention: mask", mask->ndim, mask->shape, "[B,Hq,Sq,Sk]", 4, mshape, &nd, bs)))
            return st;
        if (nd != 4 || bs[0] != B || bs[1] != Hq || bs[2] != Sq || bs[3] != Sk)
            return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH, "%s: mask %s does not broadcast to %s", fn,
                                 hal_shape_str(mask->ndim, mask->shape, b1, sizeof b1), hal_shape_str(4, mshape, b2, sizeof b2));
    }
    if ((st = hal_check_writable(fn, "out", out)))
        return st;
    for (int i = 0; i < 4; i++)
        if ((st = hal_check_no_overlap(fn, "out", out, nm[i], ts[i], 0))) return st;
    if (hal_tensor_numel(out) == 0) return XHAL_OK;
    if (Sk == 0) return fill_out(s, out, 0.0);
    xhal_op_desc d;
    init_desc(&d, XHAL_OP_ATTENTION);
    add_in(&d, q);
    add_in(&d, k);
    add_in(&d, v);
    if (mask) {
        bcast_desc(mask, 4, mshape, &d.inputs[3]);
        d.n_inputs = 4;
    }
    add_out(&d, out);
    d.attrs.attention.scale = scale == 0.0 ? 1.0 / sqrt((double)(D > 0 ? D : 1)) : scale;
    d.attrs.attention.causal = causal ? 1 : 0;
    d.attrs.attention.has_mask = mask != NULL;
    return hal_dispatch(s, &d);
}
