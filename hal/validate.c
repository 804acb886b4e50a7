/* validate.c - every rule of the op layer, checked once, before a descriptor is built.
 * What holds after a hal_validate_* function returned XHAL_OK is what xhal_backend.h promises
 * a backend (see validate.h). */
#include "validate.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------- */
/* building blocks                                                            */
/* ------------------------------------------------------------------------- */
int64_t hal_tensor_numel(const xhal_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i]; /* checked at creation */
    return n;
}

xhal_status hal_op_prelude(const char *fn, xhal_stream *s, int n, xhal_tensor *const *ts, const char *const *names,
                           const int *optional)
{
    xhal_status st = hal_check_stream(s, fn);
    if (st != XHAL_OK) return st;
    for (int i = 0; i < n; i++) {
        if (!ts[i] && optional && optional[i]) continue;
        if (!hal_handle_live(ts[i], HAL_KIND_TENSOR)) { /* format the name only on failure */
            char what[96];
            snprintf(what, sizeof what, "%s: %s", fn, names[i]);
            return hal_check_tensor(ts[i], what);
        }
        if (ts[i]->buf->dev->ctx != s->dev->ctx)
            return hal_set_error(XHAL_ERROR_INVALID_HANDLE, "%s: %s belongs to another context than the stream", fn,
                                 names[i]);
        if (ts[i]->buf->dev != s->dev)
            return hal_set_error(XHAL_ERROR_WRONG_DEVICE, "%s: %s is on %s but the stream is on %s", fn, names[i],
                                 ts[i]->buf->dev->spec, s->dev->spec);
    }
    return XHAL_OK;
}

/* 1 if two elements of the view share an address (strides are >= 0, no axis of stride 0 and
 * size > 1). Sufficient test first: with the axes sorted by stride, each stride must step over
 * everything the smaller axes span (plain, transposed, sliced and padded views pass it). A view
 * that fails it (e.g. shape [3,2] strides [2,3], which happens to be one-to-one) is checked
 * exactly, element by element, if it is small enough; a larger one is taken as overlapping. */
static int view_self_overlaps(const xhal_tensor *t)
{
    /* An empty view addresses nothing; its other dims were never bounded by a buffer, so the
     * offset sums below could wrap. */
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] == 0) return 0;
    int ax[XHAL_MAX_DIMS], n = 0;
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] > 1) {
            int k = n++;
            while (k > 0 && t->strides[ax[k - 1]] > t->strides[i]) {
                ax[k] = ax[k - 1];
                k--;
            }
            ax[k] = i;
        }
    uint64_t span = 0; /* highest element offset reachable through the axes so far */
    int ok = 1;
    for (int k = 0; k < n && ok; k++) {
        uint64_t st = (uint64_t)t->strides[ax[k]];
        if (st <= span)
            ok = 0;
        else
            span += st * (uint64_t)(t->shape[ax[k]] - 1); /* no overflow: checked at creation */
    }
    if (ok) return 0;
    /* exact: mark every element's offset in a bitmap */
    const uint64_t max_bits = (uint64_t)1 << 24;
    uint64_t hi = 0;
    for (int k = 0; k < n; k++) hi += (uint64_t)t->strides[ax[k]] * (uint64_t)(t->shape[ax[k]] - 1);
    if (hi >= max_bits) return 1;
    unsigned char *seen = calloc((size_t)(hi / 8 + 1), 1);
    if (!seen) return 1;
    int64_t idx[XHAL_MAX_DIMS] = {0};
    int dup = 0;
    for (;;) {
        uint64_t off = 0;
        for (int k = 0; k < n; k++) off += (uint64_t)idx[k] * (uint64_t)t->strides[ax[k]];
        if (seen[off / 8] & (1u << (off % 8))) {
            dup = 1;
            break;
        }
        seen[off / 8] |= (unsigned char)(1u << (off % 8));
        int k = 0;
        while (k < n && ++idx[k] == t->shape[ax[k]]) idx[k++] = 0;
        if (k == n) break;
    }
    free(seen);
    return dup;
}

xhal_status hal_check_writable(const char *fn, const char *name, const xhal_tensor *t)
{
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] > 1 && t->strides[i] == 0)
            return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                                 "%s: %s has stride 0 on axis %d (size %lld): a broadcast view cannot be written", fn,
                                 name, i, (long long)t->shape[i]);
    if (view_self_overlaps(t)) {
        char sh[160], st[160];
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                             "%s: %s (shape %s, strides %s) addresses some elements more than once: an output "
                             "view must not alias itself",
                             fn, name, hal_shape_str(t->ndim, t->shape, sh, sizeof sh),
                             hal_shape_str(t->ndim, t->strides, st, sizeof st));
    }
    return XHAL_OK;
}

xhal_status hal_check_device_stores(const char *fn, xhal_device *dev, xhal_dtype dt)
{
    if (!hal_dtype_block(dt, NULL, NULL)) return XHAL_OK;
    uint32_t dtypes = dev->dtypes;
    if (!dev->info_cached) {
        xhal_device_info info;
        xhal_status st = xhal_device_get_info(dev, &info);
        if (st != XHAL_OK) return st;
        dtypes = info.dtypes;
    }
    if (dtypes & XHAL_DTYPE_BIT(dt)) return XHAL_OK;
    return hal_set_error(XHAL_ERROR_UNSUPPORTED,
                         "%s: block-quantized %s tensors are not supported on %s (its backend does not list %s in "
                         "xhal_device_info.dtypes)",
                         fn, xhal_dtype_name(dt), dev->spec, xhal_dtype_name(dt));
}

xhal_status hal_check_block_pair(xhal_dtype sdt, xhal_dtype ddt)
{
    int sq = hal_dtype_block(sdt, NULL, NULL), dq = hal_dtype_block(ddt, NULL, NULL);
    if (!sq && !dq) return XHAL_OK;
    if (sdt == ddt) return XHAL_OK;
    int s_half = sdt == XHAL_DTYPE_F32 || sdt == XHAL_DTYPE_F16 || sdt == XHAL_DTYPE_BF16;
    int d_half = ddt == XHAL_DTYPE_F32 || ddt == XHAL_DTYPE_F16 || ddt == XHAL_DTYPE_BF16;
    if (sq && d_half) return XHAL_OK;                                                 /* dequantize */
    if (s_half && (ddt == XHAL_DTYPE_Q8_0 || ddt == XHAL_DTYPE_Q4_0)) return XHAL_OK; /* quantize */
    return hal_set_error(
        XHAL_ERROR_UNSUPPORTED,
        "xhal_copy: %s -> %s is not supported (block-quantized copies: the same dtype, to f32/f16/bf16, "
        "or from f32/f16/bf16 to q8_0/q4_0)",
        xhal_dtype_name(sdt), xhal_dtype_name(ddt));
}

static void extent(const xhal_tensor *t, uint64_t *lo, uint64_t *hi)
{
    hal_view_extent("", t->dtype, t->ndim, t->shape, t->strides, t->offset, lo, hi); /* checked at creation */
}

int hal_tensors_overlap(const xhal_tensor *a, const xhal_tensor *b)
{
    if (a->buf != b->buf) return 0;
    if (hal_tensor_numel(a) == 0 || hal_tensor_numel(b) == 0) return 0;
    uint64_t alo, ahi, blo, bhi;
    extent(a, &alo, &ahi);
    extent(b, &blo, &bhi);
    return alo < bhi && blo < ahi;
}

int hal_tensors_same_view(const xhal_tensor *a, const xhal_tensor *b)
{
    if (a->buf != b->buf || a->offset != b->offset || a->dtype != b->dtype || a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i] || (a->shape[i] > 1 && a->strides[i] != b->strides[i])) return 0;
    return 1;
}

xhal_status hal_check_no_overlap(const char *fn, const char *oname, const xhal_tensor *out, const char *iname,
                                 const xhal_tensor *in, int allow_same)
{
    if (!in || !hal_tensors_overlap(out, in)) return XHAL_OK;
    if (allow_same && hal_tensors_same_view(out, in)) return XHAL_OK;
    return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: %s overlaps %s in memory%s", fn, oname, iname,
                         allow_same ? " (only the very same view is allowed)" : "");
}

xhal_status hal_check_same_shape(const char *fn, const char *an, const xhal_tensor *a, const char *bn,
                                 const xhal_tensor *b)
{
    int same = a->ndim == b->ndim;
    for (int i = 0; same && i < a->ndim; i++) same = a->shape[i] == b->shape[i];
    if (same) return XHAL_OK;
    char b1[160], b2[160];
    return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH, "%s: %s is %s but %s is %s", fn, an,
                         hal_shape_str(a->ndim, a->shape, b1, sizeof b1), bn,
                         hal_shape_str(b->ndim, b->shape, b2, sizeof b2));
}

static xhal_status same_dtype(const char *fn, const char *an, const xhal_tensor *a, const char *bn,
                              const xhal_tensor *b)
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

/* t's dtype is in op's DTYPES column (xhal_op_table.h): float, or float/i32/i64. */
static xhal_status want_op_dtype(const char *fn, xhal_op op, const char *name, const xhal_tensor *t)
{
    if (xhal_op_dtypes_of(op) & XHAL_DTYPE_BIT(t->dtype)) return XHAL_OK;
    return want_float(fn, name, t);
}

/* out must have the computed shape; the message reads "<fn>: <what> <shape> but out is <shape>". */
static xhal_status want_out_shape(const char *fn, const char *what, int nd, const int64_t *shape,
                                  const xhal_tensor *out)
{
    int ok = nd == out->ndim;
    for (int i = 0; ok && i < nd; i++) ok = shape[i] == out->shape[i];
    if (ok) return XHAL_OK;
    char b1[160], b2[160];
    return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH, "%s: %s %s but out is %s", fn, what,
                         hal_shape_str(nd, shape, b1, sizeof b1), hal_shape_str(out->ndim, out->shape, b2, sizeof b2));
}

/* "xhal_binary(add)" and the like, built once: formatting them on every call was most of
 * the dispatch cost of a tiny op. */
enum { FN_UNARY, FN_BINARY, FN_REDUCE, FN_COUNT_ };
static char g_fn_names[FN_COUNT_][XHAL_OP_MAX_ID_][40];
static pthread_once_t g_fn_once = PTHREAD_ONCE_INIT;

static void build_fn_names(void)
{
    static const char *const fam[FN_COUNT_] = {"xhal_unary", "xhal_binary", "xhal_reduce"};
    for (int f = 0; f < FN_COUNT_; f++)
        for (int op = 0; op < XHAL_OP_MAX_ID_; op++)
            snprintf(g_fn_names[f][op], sizeof g_fn_names[f][op], "%s(%s)", fam[f], xhal_op_name((xhal_op)op));
}

static const char *fn_name(int entry, xhal_op op)
{
    pthread_once(&g_fn_once, build_fn_names);
    return g_fn_names[entry][(op > 0 && op < XHAL_OP_MAX_ID_) ? op : 0];
}

/* The checks every "x -> out of the same shape" op shares: live handles on the stream's device,
 * one dtype, one shape, a dtype of op's DTYPES column, a writable out that is x itself or does
 * not overlap it. */
static xhal_status same_shape_op(const char *fn, xhal_op op, xhal_stream *s, xhal_tensor *x, xhal_tensor *out)
{
    xhal_tensor *ts[2] = {x, out};
    const char *nm[2] = {"x", "out"};
    xhal_status st = hal_op_prelude(fn, s, 2, ts, nm, NULL);
    if (st != XHAL_OK) return st;
    if ((st = same_dtype(fn, "x", x, "out", out)) || (st = hal_check_same_shape(fn, "x", x, "out", out)) ||
        (st = want_op_dtype(fn, op, "x", x)))
        return st;
    if ((st = hal_check_writable(fn, "out", out)) || (st = hal_check_no_overlap(fn, "out", out, "x", x, 1))) return st;
    return XHAL_OK;
}

/* ------------------------------------------------------------------------- */
/* data movement                                                              */
/* ------------------------------------------------------------------------- */
xhal_status hal_validate_copy(xhal_stream *s, xhal_tensor *src, xhal_tensor *dst)
{
    const char *fn = "xhal_copy";
    xhal_status st = hal_check_stream(s, fn);
    if (st == XHAL_OK) st = hal_check_tensor(src, "xhal_copy: src");
    if (st == XHAL_OK) st = hal_check_tensor(dst, "xhal_copy: dst");
    if (st != XHAL_OK) return st;
    if (src->buf->dev->ctx != dst->buf->dev->ctx)
        return hal_set_error(XHAL_ERROR_INVALID_HANDLE, "%s: src and dst belong to different contexts", fn);
    if (s->dev->ctx != src->buf->dev->ctx)
        return hal_set_error(XHAL_ERROR_INVALID_HANDLE, "%s: src and dst belong to another context than the stream",
                             fn);
    if (src->buf->dev != s->dev && dst->buf->dev != s->dev)
        return hal_set_error(XHAL_ERROR_WRONG_DEVICE, "%s: src is on %s and dst on %s, but the stream is on %s", fn,
                             src->buf->dev->spec, dst->buf->dev->spec, s->dev->spec);
    st = hal_check_same_shape(fn, "src", src, "dst", dst);
    if (st == XHAL_OK) st = hal_check_writable(fn, "dst", dst);
    if (st == XHAL_OK) st = hal_check_block_pair(src->dtype, dst->dtype);
    if (st != XHAL_OK) return st;
    if (hal_tensor_numel(dst) == 0 || hal_tensors_same_view(src, dst)) return XHAL_OK; /* nothing to do */
    return hal_check_no_overlap(fn, "dst", dst, "src", src, 0);
}

xhal_status hal_validate_fill(xhal_stream *s, xhal_tensor *t)
{
    xhal_tensor *ts[1] = {t};
    const char *names[1] = {"t"};
    xhal_status st = hal_op_prelude("xhal_fill", s, 1, ts, names, NULL);
    if (st == XHAL_OK && hal_dtype_block(t->dtype, NULL, NULL))
        return hal_set_error(XHAL_ERROR_UNSUPPORTED,
                             "xhal_fill: t is block-quantized (%s); fill an f32 tensor and "
                             "quantize it with xhal_copy",
                             xhal_dtype_name(t->dtype));
    if (st == XHAL_OK) st = hal_check_writable("xhal_fill", "t", t);
    return st;
}

xhal_status hal_validate_concat(xhal_stream *s, xhal_tensor *const *inputs, int n, int axis, xhal_tensor *out,
                                int *axis_out)
{
    const char *fn = "xhal_concat";
    xhal_tensor *ts[1] = {out};
    const char *names[1] = {"out"};
    xhal_status st = hal_op_prelude(fn, s, 1, ts, names, NULL);
    if (st != XHAL_OK) return st;
    if (!inputs) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: inputs is NULL", fn);
    if (n < 1) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: needs at least one input (n is %d)", fn, n);
    if (out->ndim == 0) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: out is a scalar", fn);
    int a = axis < 0 ? axis + out->ndim : axis;
    if (a < 0 || a >= out->ndim)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: axis %d is out of range for %d dims", fn, axis,
                             out->ndim);
    st = hal_check_writable(fn, "out", out);
    if (st != XHAL_OK) return st;
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        char nm[32];
        snprintf(nm, sizeof nm, "inputs[%d]", i);
        xhal_tensor *in = inputs[i];
        const char *nn = nm;
        st = hal_op_prelude(fn, s, 1, &in, &nn, NULL);
        if (st != XHAL_OK) return st;
        if (in->dtype != out->dtype)
            return hal_set_error(XHAL_ERROR_DTYPE_MISMATCH, "%s: %s is %s but out is %s", fn, nm,
                                 xhal_dtype_name(in->dtype), xhal_dtype_name(out->dtype));
        if (in->ndim != out->ndim)
            return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH, "%s: %s has %d dims but out has %d", fn, nm, in->ndim,
                                 out->ndim);
        for (int k = 0; k < out->ndim; k++)
            if (k != a && in->shape[k] != out->shape[k]) {
                char b1[160], b2[160];
                return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH, "%s: %s is %s but out is %s (axis %d differs)", fn, nm,
                                     hal_shape_str(in->ndim, in->shape, b1, sizeof b1),
                                     hal_shape_str(out->ndim, out->shape, b2, sizeof b2), k);
            }
        st = hal_check_no_overlap(fn, "out", out, nm, in, 0);
        if (st != XHAL_OK) return st;
        total += in->shape[a];
    }
    if (total != out->shape[a])
        return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH, "%s: inputs add up to %lld along axis %d but out has %lld", fn,
                             (long long)total, a, (long long)out->shape[a]);
    *axis_out = a;
    return XHAL_OK;
}

/* ------------------------------------------------------------------------- */
/* elementwise                                                                */
/* ------------------------------------------------------------------------- */
xhal_status hal_validate_unary(xhal_stream *s, xhal_op op, xhal_tensor *x, xhal_tensor *out)
{
    const char *fn = fn_name(FN_UNARY, op);
    xhal_status st = hal_check_stream(s, fn);
    if (st != XHAL_OK) return st;
    if (xhal_op_family_of(op) != XHAL_OPF_UNARY)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_unary: op %d is not a unary op", (int)op);
    return same_shape_op(fn, op, s, x, out);
}

xhal_status hal_validate_binary(xhal_stream *s, xhal_op op, xhal_tensor *a, xhal_tensor *b, xhal_tensor *out)
{
    const char *fn = fn_name(FN_BINARY, op);
    xhal_tensor *ts[3] = {a, b, out};
    const char *nm[3] = {"a", "b", "out"};
    xhal_status st = hal_op_prelude(fn, s, 3, ts, nm, NULL);
    if (st != XHAL_OK) return st;
    if (xhal_op_family_of(op) != XHAL_OPF_BINARY)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_binary: op %d is not a binary op", (int)op);
    if ((st = same_dtype(fn, "a", a, "b", b)) || (st = same_dtype(fn, "a", a, "out", out)) ||
        (st = want_op_dtype(fn, op, "a", a)))
        return st;
    int nd;
    int64_t shape[XHAL_MAX_DIMS];
    if ((st = hal_broadcast_shapes(fn, a->ndim, a->shape, "b", b->ndim, b->shape, &nd, shape))) return st;
    if ((st = want_out_shape(fn, "a and b broadcast to", nd, shape, out))) return st;
    if ((st = hal_check_writable(fn, "out", out)) || (st = hal_check_no_overlap(fn, "out", out, "a", a, 1)) ||
        (st = hal_check_no_overlap(fn, "out", out, "b", b, 1)))
        return st;
    return XHAL_OK;
}

xhal_status hal_validate_scale(xhal_stream *s, xhal_tensor *x, double alpha, double beta, xhal_tensor *out)
{
    const char *fn = "xhal_scale";
    xhal_status st = same_shape_op(fn, XHAL_OP_SCALE, s, x, out);
    if (st != XHAL_OK) return st;
    if (!isfinite(alpha) || !isfinite(beta))
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: alpha %g and beta %g must be finite", fn, alpha, beta);
    return XHAL_OK;
}

/* ------------------------------------------------------------------------- */
/* reductions and normalisation                                               */
/* ------------------------------------------------------------------------- */
xhal_status hal_validate_reduce(xhal_stream *s, xhal_op op, xhal_tensor *x, int axis, int keepdims, xhal_tensor *out,
                                int *axis_out)
{
    const char *fn = fn_name(FN_REDUCE, op);
    xhal_tensor *ts[2] = {x, out};
    const char *nm[2] = {"x", "out"};
    xhal_status st = hal_op_prelude(fn, s, 2, ts, nm, NULL);
    if (st != XHAL_OK) return st;
    if (xhal_op_family_of(op) != XHAL_OPF_REDUCE)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_reduce: op %d is not a reduction", (int)op);
    if ((st = want_op_dtype(fn, op, "x", x))) return st;
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
        return hal_set_error(
            XHAL_ERROR_SHAPE_MISMATCH, "%s: reducing %s over axis %d (keepdims=%d) gives %s but out is %s", fn,
            hal_shape_str(x->ndim, x->shape, b1, sizeof b1), a, keepdims ? 1 : 0,
            hal_shape_str(wn, want, b2, sizeof b2), hal_shape_str(out->ndim, out->shape, b3, sizeof b3));
    }
    if ((st = hal_check_writable(fn, "out", out)) || (st = hal_check_no_overlap(fn, "out", out, "x", x, 0))) return st;
    *axis_out = a;
    return XHAL_OK;
}

xhal_status hal_validate_reduce_empty(xhal_op op, int axis)
{
    if (op == XHAL_OP_SUM || op == XHAL_OP_MEAN) return XHAL_OK; /* 0 and NaN */
    return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: axis %d is empty; %s of nothing is undefined",
                         fn_name(FN_REDUCE, op), axis, xhal_op_name(op));
}

xhal_status hal_validate_softmax(xhal_stream *s, xhal_tensor *x, double scale, int causal, xhal_tensor *out)
{
    const char *fn = "xhal_softmax";
    xhal_status st = same_shape_op(fn, XHAL_OP_SOFTMAX, s, x, out);
    if (st != XHAL_OK) return st;
    if (x->ndim < 1) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: x is a scalar; softmax needs an axis", fn);
    if (!isfinite(scale)) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: scale %g is not finite", fn, scale);
    if (causal) {
        if (x->ndim < 2)
            return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                                 "%s: causal softmax needs x as [..., Sq, Sk]; x has 1 dim", fn);
        if (x->shape[x->ndim - 1] < x->shape[x->ndim - 2])
            return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH, "%s: causal softmax needs Sk >= Sq, got Sq=%lld Sk=%lld",
                                 fn, (long long)x->shape[x->ndim - 2], (long long)x->shape[x->ndim - 1]);
    }
    return XHAL_OK;
}

xhal_status hal_validate_norm(xhal_stream *s, xhal_op op, xhal_tensor *x, xhal_tensor *w, xhal_tensor *b, double eps,
                              xhal_tensor *out)
{
    const char *fn = op == XHAL_OP_RMS_NORM ? "xhal_rms_norm" : "xhal_layer_norm";
    xhal_tensor *ts[4] = {x, w, b, out};
    const char *nm[4] = {"x", "weight", "bias", "out"};
    const int opt[4] = {0, 1, 1, 0};
    xhal_status st = hal_op_prelude(fn, s, 4, ts, nm, opt);
    if (st != XHAL_OK) return st;
    if ((st = want_op_dtype(fn, op, "x", x)) || (st = same_dtype(fn, "x", x, "out", out)) ||
        (st = same_dtype(fn, "x", x, "weight", w)) || (st = same_dtype(fn, "x", x, "bias", b)) ||
        (st = hal_check_same_shape(fn, "x", x, "out", out)))
        return st;
    if (x->ndim < 1)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: x is a scalar; the op needs a last axis", fn);
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
        (st = hal_check_no_overlap(fn, "out", out, "weight", w, 0)) ||
        (st = hal_check_no_overlap(fn, "out", out, "bias", b, 0)))
        return st;
    return XHAL_OK;
}

/* ------------------------------------------------------------------------- */
/* matmul                                                                     */
/* ------------------------------------------------------------------------- */
/* t with its last two axes swapped (a view without a handle). */
static void transposed(xhal_tensor *v, const xhal_tensor *t)
{
    hal_tensor_geometry(v, t);
    int n = t->ndim;
    v->shape[n - 1] = t->shape[n - 2];
    v->shape[n - 2] = t->shape[n - 1];
    v->strides[n - 1] = t->strides[n - 2];
    v->strides[n - 2] = t->strides[n - 1];
}

static xhal_status matmul_geometry(const char *fn, xhal_tensor *a, xhal_tensor *b, int trans_a, int trans_b,
                                   double alpha, double beta, xhal_tensor *out, hal_matmul_geom *g);

xhal_status hal_validate_matmul(xhal_stream *s, xhal_tensor *a, xhal_tensor *b, int trans_a, int trans_b, double alpha,
                                double beta, xhal_tensor *out, hal_matmul_geom *g)
{
    const char *fn = "xhal_matmul";
    xhal_tensor *ts[3] = {a, b, out};
    const char *nm[3] = {"a", "b", "out"};
    xhal_status st = hal_op_prelude(fn, s, 3, ts, nm, NULL);
    if (st != XHAL_OK) return st;
    int qb = hal_dtype_block(b->dtype, NULL, NULL);
    if ((st = want_op_dtype(fn, XHAL_OP_MATMUL, "a", a)) || (!qb && (st = same_dtype(fn, "a", a, "b", b))) ||
        (st = same_dtype(fn, "a", a, "out", out)))
        return st;
    if (qb) { /* quantized weights: b is [.., N, K] with blocks along K, used transposed */
        if (a->dtype == XHAL_DTYPE_F64)
            return hal_set_error(XHAL_ERROR_DTYPE_MISMATCH,
                                 "%s: a is f64; with a block-quantized b (%s) a and out "
                                 "must be f32, f16 or bf16",
                                 fn, xhal_dtype_name(b->dtype));
        if (!trans_b)
            return hal_set_error(XHAL_ERROR_UNSUPPORTED,
                                 "%s: a block-quantized b (%s) must be used transposed "
                                 "(trans_b = 1: weights [N, K] with blocks along K, the contraction axis)",
                                 fn, xhal_dtype_name(b->dtype));
        if ((st = hal_check_device_stores(fn, s->dev, b->dtype))) return st;
    }
    return matmul_geometry(fn, a, b, trans_a, trans_b, alpha, beta, out, g);
}

/* The shapes of a matmul whose dtypes were checked: a, b, out at least 2-D, finite alpha and
 * beta, K agreeing after the transposes, broadcast batch dims, out of the result's shape,
 * writable and apart from a and b. */
static xhal_status matmul_geometry(const char *fn, xhal_tensor *a, xhal_tensor *b, int trans_a, int trans_b,
                                   double alpha, double beta, xhal_tensor *out, hal_matmul_geom *g)
{
    xhal_status st;
    if (a->ndim < 2 || b->ndim < 2 || out->ndim < 2)
        return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH, "%s: a, b and out need at least 2 dims (have %d, %d, %d)", fn,
                             a->ndim, b->ndim, out->ndim);
    if (!isfinite(alpha) || !isfinite(beta))
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: alpha %g and beta %g must be finite", fn, alpha, beta);
    /* fold the transposes into views */
    xhal_tensor *av = &g->av, *bv = &g->bv;
    if (trans_a)
        transposed(av, a);
    else
        hal_tensor_geometry(av, a);
    if (trans_b)
        transposed(bv, b);
    else
        hal_tensor_geometry(bv, b);
    int64_t M = av->shape[av->ndim - 2], K = av->shape[av->ndim - 1], K2 = bv->shape[bv->ndim - 2],
            N = bv->shape[bv->ndim - 1];
    if (K != K2) {
        char b1[160], b2[160];
        return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH, "%s: a is %s%s but b is %s%s: inner dims %lld and %lld differ",
                             fn, hal_shape_str(a->ndim, a->shape, b1, sizeof b1), trans_a ? " (transposed)" : "",
                             hal_shape_str(b->ndim, b->shape, b2, sizeof b2), trans_b ? " (transposed)" : "",
                             (long long)K, (long long)K2);
    }
    int bd;
    int64_t want[XHAL_MAX_DIMS];
    char bdw[64];
    snprintf(bdw, sizeof bdw, "%s: batch dims of a", fn);
    if ((st = hal_broadcast_shapes(bdw, av->ndim - 2, av->shape, "b", bv->ndim - 2, bv->shape, &bd, want))) return st;
    want[bd] = M;
    want[bd + 1] = N;
    if ((st = want_out_shape(fn, "result is", bd + 2, want, out))) return st;
    if ((st = hal_check_writable(fn, "out", out)) || (st = hal_check_no_overlap(fn, "out", out, "a", a, 0)) ||
        (st = hal_check_no_overlap(fn, "out", out, "b", b, 0)))
        return st;
    g->M = M;
    g->N = N;
    g->K = K;
    g->batch_ndim = bd;
    return XHAL_OK;
}

xhal_status hal_validate_matmul_i8(xhal_stream *s, xhal_tensor *a, xhal_tensor *w, xhal_tensor *scales, double alpha,
                                   double beta, xhal_tensor *out, hal_matmul_geom *g)
{
    const char *fn = "xhal_matmul_i8";
    xhal_tensor *ts[4] = {a, w, scales, out};
    const char *nm[4] = {"a", "w", "scales", "out"};
    xhal_status st = hal_op_prelude(fn, s, 4, ts, nm, NULL);
    if (st != XHAL_OK) return st;
    if (a->dtype != XHAL_DTYPE_F32 && a->dtype != XHAL_DTYPE_F16 && a->dtype != XHAL_DTYPE_BF16)
        return hal_set_error(XHAL_ERROR_DTYPE_MISMATCH, "%s: a is %s; it must be f32, f16 or bf16", fn,
                             xhal_dtype_name(a->dtype));
    if ((st = same_dtype(fn, "a", a, "out", out))) return st;
    if (w->dtype != XHAL_DTYPE_I8)
        return hal_set_error(XHAL_ERROR_DTYPE_MISMATCH, "%s: w is %s; it must be i8 (int8 weights [.., N, K])", fn,
                             xhal_dtype_name(w->dtype));
    if (scales->dtype != XHAL_DTYPE_F32)
        return hal_set_error(XHAL_ERROR_DTYPE_MISMATCH, "%s: scales is %s; it must be f32 (one scale per row of w)", fn,
                             xhal_dtype_name(scales->dtype));
    if (w->ndim >= 2 && w->shape[w->ndim - 1] > 1 && w->strides[w->ndim - 1] != 1)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                             "%s: w's last axis (K) has stride %lld; it must be 1 (rows of K contiguous int8 weights)",
                             fn, (long long)w->strides[w->ndim - 1]);
    if ((st = matmul_geometry(fn, a, w, 0, 1, alpha, beta, out, g))) return st;
    if (scales->ndim != 1 || scales->shape[0] != g->N) {
        char b1[160];
        return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH, "%s: scales is %s; it must be [%lld] (one per row of w)", fn,
                             hal_shape_str(scales->ndim, scales->shape, b1, sizeof b1), (long long)g->N);
    }
    if ((st = hal_check_no_overlap(fn, "out", out, "scales", scales, 0))) return st;
    uint32_t caps = s->dev->caps;
    if (!s->dev->info_cached) {
        xhal_device_info info;
        if ((st = xhal_device_get_info(s->dev, &info))) return st;
        caps = info.caps;
    }
    if (!(caps & XHAL_CAP_MATMUL_I8))
        return hal_set_error(XHAL_ERROR_UNSUPPORTED,
                             "%s: %s does not run matmul with per-channel int8 weights (its backend does not "
                             "report XHAL_CAP_MATMUL_I8)",
                             fn, s->dev->spec);
    return XHAL_OK;
}

/* ------------------------------------------------------------------------- */
/* gather                                                                     */
/* ------------------------------------------------------------------------- */
xhal_status hal_validate_gather(xhal_stream *s, xhal_tensor *table, xhal_tensor *idx, xhal_tensor *out)
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
        return hal_set_error(XHAL_ERROR_DTYPE_MISMATCH,
                             "%s: table is block-quantized (%s); gather from a "
                             "dequantized copy (xhal_copy to f32)",
                             fn, xhal_dtype_name(table->dtype));
    if (table->ndim < 1)
        return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH, "%s: table is a scalar; it needs [V, ...]", fn);
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
    if (table->shape[0] == 0 && hal_tensor_numel(out) > 0) /* known without reading an index */
        return hal_set_error(XHAL_ERROR_OUT_OF_RANGE, "%s: the table has no rows, so every index is out of range", fn);
    return XHAL_OK;
}

/* ------------------------------------------------------------------------- */
/* transformer blocks                                                         */
/* ------------------------------------------------------------------------- */
xhal_status hal_validate_rope(const char *fn, xhal_stream *s, xhal_tensor *x, xhal_tensor *pos, xhal_tensor *invf,
                              const xhal_rope_params *p, xhal_tensor *out, int *seq_axis_out, int *rotary_out)
{
    xhal_tensor *ts[4] = {x, pos, invf, out};
    const char *nm[4] = {"x", "positions", "inv_freq", "out"};
    const int opt[4] = {0, 1, 1, 0};
    xhal_status st = hal_op_prelude(fn, s, 4, ts, nm, opt);
    if (st != XHAL_OK) return st;
    if ((st = same_shape_op(fn, XHAL_OP_ROPE, s, x, out))) return st;
    if (x->ndim < 2)
        return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH, "%s: x needs a sequence axis and a head dim (has %d dims)", fn,
                             x->ndim);
    int sa = p->seq_axis < 0 ? p->seq_axis + x->ndim : p->seq_axis;
    if (sa < 0 || sa >= x->ndim - 1)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: seq_axis %d must name an axis before the last of %d", fn,
                             p->seq_axis, x->ndim);
    int64_t D = x->shape[x->ndim - 1];
    int64_t rd = p->rotary_dims == 0 ? D : p->rotary_dims;
    if (rd < 2 || rd > D || rd % 2)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: rotary_dims %d must be even and in [2, %lld] (head dim)",
                             fn, p->rotary_dims, (long long)D);
    if (!(p->theta > 0.0) || !isfinite(p->theta))
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: theta %g must be finite and > 0", fn, p->theta);
    if (p->pos_offset < 0)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: pos_offset %lld is negative", fn,
                             (long long)p->pos_offset);
    if (p->layout != XHAL_ROPE_HALF && p->layout != XHAL_ROPE_INTERLEAVED)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: layout %d is not an xhal_rope_layout", fn,
                             (int)p->layout);
    if (!(p->attention_factor > 0.0) || !isfinite(p->attention_factor))
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: attention_factor %g must be finite and > 0", fn,
                             p->attention_factor);
    char b1[160], b2[160], b3[160];
    if (pos) {
        if (pos->dtype != XHAL_DTYPE_I32 && pos->dtype != XHAL_DTYPE_I64)
            return hal_set_error(XHAL_ERROR_DTYPE_MISMATCH, "%s: positions are %s; they must be i32 or i64", fn,
                                 xhal_dtype_name(pos->dtype));
        int nd;
        int64_t bs[XHAL_MAX_DIMS];
        /* positions broadcast to x's dims up to and including the seq axis, never beyond */
        st = hal_broadcast_shapes(fn, pos->ndim, pos->shape, "x", sa + 1, x->shape, &nd, bs);
        int ok = st == XHAL_OK && nd == sa + 1;
        for (int i = 0; ok && i < nd; i++) ok = bs[i] == x->shape[i];
        if (!ok)
            return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH,
                                 "%s: positions %s do not broadcast to %s, x's dims up to the seq axis %d (x is %s)",
                                 fn, hal_shape_str(pos->ndim, pos->shape, b1, sizeof b1),
                                 hal_shape_str(sa + 1, x->shape, b2, sizeof b2), sa,
                                 hal_shape_str(x->ndim, x->shape, b3, sizeof b3));
    }
    if (invf) {
        if (invf->dtype != XHAL_DTYPE_F32)
            return hal_set_error(XHAL_ERROR_DTYPE_MISMATCH, "%s: inv_freq is %s; it must be f32", fn,
                                 xhal_dtype_name(invf->dtype));
        if (invf->ndim != 1 || invf->shape[0] != rd / 2)
            return hal_set_error(
                XHAL_ERROR_SHAPE_MISMATCH, "%s: inv_freq is %s but must be [%lld] (rotary_dims %lld / 2)", fn,
                hal_shape_str(invf->ndim, invf->shape, b1, sizeof b1), (long long)(rd / 2), (long long)rd);
    }
    if ((st = hal_check_no_overlap(fn, "out", out, "positions", pos, 0)) ||
        (st = hal_check_no_overlap(fn, "out", out, "inv_freq", invf, 0)))
        return st;
    *seq_axis_out = sa;
    *rotary_out = (int)rd;
    return XHAL_OK;
}

xhal_status hal_validate_attention(const char *fn, xhal_stream *s, xhal_tensor *q, xhal_tensor *k, xhal_tensor *v,
                                   xhal_tensor *mask, const xhal_attention_params *p, xhal_tensor *out,
                                   int64_t mask_shape[4])
{
    double scale = p->scale;
    int causal = p->causal;
    xhal_tensor *ts[5] = {q, k, v, mask, out};
    const char *nm[5] = {"q", "k", "v", "mask", "out"};
    const int opt[5] = {0, 0, 0, 1, 0};
    xhal_status st = hal_op_prelude(fn, s, 5, ts, nm, opt);
    if (st != XHAL_OK) return st;
    if ((st = want_op_dtype(fn, XHAL_OP_ATTENTION, "q", q)) || (st = same_dtype(fn, "q", q, "k", k)) ||
        (st = same_dtype(fn, "q", q, "v", v)) || (st = same_dtype(fn, "q", q, "mask", mask)) ||
        (st = same_dtype(fn, "q", q, "out", out)))
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
        return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH,
                             "%s: q %s, k %s and v %s do not agree (need k [B,Hkv,Sk,D], v [B,Hkv,Sk,Dv])", fn,
                             hal_shape_str(4, q->shape, b1, sizeof b1), hal_shape_str(4, k->shape, b2, sizeof b2),
                             hal_shape_str(4, v->shape, b3, sizeof b3));
    if (Hkv == 0 || Hq % Hkv)
        return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH,
                             "%s: %lld query heads are not a multiple of %lld key/value heads", fn, (long long)Hq,
                             (long long)Hkv);
    if (out->shape[0] != B || out->shape[1] != Hq || out->shape[2] != Sq || out->shape[3] != Dv) {
        int64_t want[4] = {B, Hq, Sq, Dv};
        return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH, "%s: out is %s but must be %s", fn,
                             hal_shape_str(4, out->shape, b1, sizeof b1), hal_shape_str(4, want, b2, sizeof b2));
    }
    if (causal && Sk < Sq)
        return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH, "%s: causal attention needs Sk >= Sq, got Sq=%lld Sk=%lld", fn,
                             (long long)Sq, (long long)Sk);
    if (!isfinite(scale)) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: scale %g is not finite", fn, scale);
    if (p->window < 0)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: window %lld is negative (0 means no window)", fn,
                             (long long)p->window);
    if (p->window > 0 && !causal)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                             "%s: window %lld needs causal = 1 (a sliding window bounds the keys a causal query "
                             "sees)",
                             fn, (long long)p->window);
    if (!(p->softcap >= 0.0) || !isfinite(p->softcap))
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: softcap %g must be finite and >= 0 (0 means none)", fn,
                             p->softcap);
    if (p->q_pos0 < -1 || (p->q_pos0 >= 0 && p->q_pos0 > Sk - Sq))
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                             "%s: q_pos0 %lld is out of range: -1 (Sk - Sq) or in [0, %lld] (Sk - Sq, with Sq=%lld "
                             "Sk=%lld)",
                             fn, (long long)p->q_pos0, (long long)(Sk - Sq), (long long)Sq, (long long)Sk);
    mask_shape[0] = B;
    mask_shape[1] = Hq;
    mask_shape[2] = Sq;
    mask_shape[3] = Sk;
    if (mask) {
        int nd;
        int64_t bs[XHAL_MAX_DIMS];
        if ((st = hal_broadcast_shapes("xhal_attention: mask", mask->ndim, mask->shape, "[B,Hq,Sq,Sk]", 4, mask_shape,
                                       &nd, bs)))
            return st;
        if (nd != 4 || bs[0] != B || bs[1] != Hq || bs[2] != Sq || bs[3] != Sk)
            return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH, "%s: mask %s does not broadcast to %s", fn,
                                 hal_shape_str(mask->ndim, mask->shape, b1, sizeof b1),
                                 hal_shape_str(4, mask_shape, b2, sizeof b2));
    }
    if ((st = hal_check_writable(fn, "out", out))) return st;
    for (int i = 0; i < 4; i++)
        if ((st = hal_check_no_overlap(fn, "out", out, nm[i], ts[i], 0))) return st;
    return XHAL_OK;
}

/* ------------------------------------------------------------------------- */
/* topk                                                                       */
/* ------------------------------------------------------------------------- */
xhal_status hal_validate_topk(xhal_stream *s, xhal_tensor *x, int64_t k, int axis, int largest, xhal_tensor *values,
                              xhal_tensor *indices, int *axis_out)
{
    const char *fn = "xhal_topk";
    xhal_tensor *ts[3] = {x, values, indices};
    const char *nm[3] = {"x", "values", "indices"};
    xhal_status st = hal_op_prelude(fn, s, 3, ts, nm, NULL);
    if (st != XHAL_OK) return st;
    if ((st = want_op_dtype(fn, XHAL_OP_TOPK, "x", x)) || (st = same_dtype(fn, "x", x, "values", values))) return st;
    if (indices->dtype != XHAL_DTYPE_I32 && indices->dtype != XHAL_DTYPE_I64)
        return hal_set_error(XHAL_ERROR_DTYPE_MISMATCH, "%s: indices are %s; they must be i32 or i64", fn,
                             xhal_dtype_name(indices->dtype));
    if (x->ndim < 1) return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH, "%s: x is a scalar; it needs an axis", fn);
    int a = axis < 0 ? axis + x->ndim : axis;
    if (a < 0 || a >= x->ndim)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: axis %d is out of range for %d dims", fn, axis, x->ndim);
    int64_t N = x->shape[a];
    if (k < 1 || k > N)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: k %lld must be in [1, %lld] (the size of axis %d)", fn,
                             (long long)k, (long long)N, a);
    if (largest != 0 && largest != 1)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: largest is %d; it must be 0 or 1", fn, largest);
    int64_t want[XHAL_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) want[i] = i == a ? k : x->shape[i];
    const xhal_tensor *outs[2] = {values, indices};
    for (int o = 0; o < 2; o++) {
        int ok = outs[o]->ndim == x->ndim;
        for (int i = 0; ok && i < x->ndim; i++) ok = outs[o]->shape[i] == want[i];
        if (!ok) {
            char b1[160], b2[160];
            return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH,
                                 "%s: %s is %s but must be %s (x's shape with k = %lld at axis %d)", fn, nm[1 + o],
                                 hal_shape_str(outs[o]->ndim, outs[o]->shape, b1, sizeof b1),
                                 hal_shape_str(x->ndim, want, b2, sizeof b2), (long long)k, a);
        }
    }
    if ((st = hal_check_writable(fn, "values", values)) || (st = hal_check_writable(fn, "indices", indices)) ||
        (st = hal_check_no_overlap(fn, "values", values, "x", x, 0)) ||
        (st = hal_check_no_overlap(fn, "indices", indices, "x", x, 0)) ||
        (st = hal_check_no_overlap(fn, "indices", indices, "values", values, 0)))
        return st;
    *axis_out = a;
    return XHAL_OK;
}
