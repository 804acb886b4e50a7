/* ops.c - the op catalogue (include/xhal/xhal.h) as module functions of xhal._xhal.
 * Each one calls the C function of the same name with the arguments in the same order; the
 * output tensor is given by the caller (xhal.ops allocates it when it is not). The stream
 * is a keyword argument: None means the default stream of out's device. Validation is the
 * core's: a bad argument raises the xhal exception with the core's message. */
#include "xpy.h"

/* The device whose default stream an op uses: that of out (or of the first tensor). */
static XpyDevice *op_device(PyObject *t) { return XpyTensor_Check(t) ? ((XpyTensor *)t)->dev : NULL; }

static int op_stream(PyObject *stream, PyObject *t, xhal_stream **out)
{
    if (stream != Py_None && stream) return xpy_resolve_stream(stream, NULL, out);
    XpyDevice *d = op_device(t);
    if (!d) {
        PyErr_SetString(PyExc_TypeError, "an xhal.Tensor is needed to pick the default stream");
        return -1;
    }
    return xpy_resolve_stream(Py_None, d, out);
}

#define RUN(call)                                                       \
    do {                                                                \
        xhal_status st_;                                                \
        Py_BEGIN_ALLOW_THREADS st_ = (call);                            \
        Py_END_ALLOW_THREADS if (st_ != XHAL_OK) return xpy_raise(st_); \
        Py_RETURN_NONE;                                                 \
    } while (0)

static PyObject *op_unary(PyObject *m, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"op", "x", "out", "stream", NULL};
    PyObject *opo, *xo, *outo, *stream = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOO|$O:unary", kw, &opo, &xo, &outo, &stream)) return NULL;
    xhal_op op;
    xhal_tensor *x, *out;
    xhal_stream *s;
    if (xpy_parse_op(opo, &op) < 0 || xpy_tensor_arg(xo, "x", 0, &x) < 0 || xpy_tensor_arg(outo, "out", 0, &out) < 0 ||
        op_stream(stream, outo, &s) < 0)
        return NULL;
    RUN(xhal_unary(s, op, x, out));
}

static PyObject *op_binary(PyObject *m, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"op", "a", "b", "out", "stream", NULL};
    PyObject *opo, *ao, *bo, *outo, *stream = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOO|$O:binary", kw, &opo, &ao, &bo, &outo, &stream)) return NULL;
    xhal_op op;
    xhal_tensor *a, *b, *out;
    xhal_stream *s;
    if (xpy_parse_op(opo, &op) < 0 || xpy_tensor_arg(ao, "a", 0, &a) < 0 || xpy_tensor_arg(bo, "b", 0, &b) < 0 ||
        xpy_tensor_arg(outo, "out", 0, &out) < 0 || op_stream(stream, outo, &s) < 0)
        return NULL;
    RUN(xhal_binary(s, op, a, b, out));
}

static PyObject *op_add_mul(PyObject *args, PyObject *kwargs, int mul)
{
    static char *kw[] = {"a", "b", "out", "stream", NULL};
    PyObject *ao, *bo, *outo, *stream = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, mul ? "OOO|$O:mul" : "OOO|$O:add", kw, &ao, &bo, &outo, &stream))
        return NULL;
    xhal_tensor *a, *b, *out;
    xhal_stream *s;
    if (xpy_tensor_arg(ao, "a", 0, &a) < 0 || xpy_tensor_arg(bo, "b", 0, &b) < 0 ||
        xpy_tensor_arg(outo, "out", 0, &out) < 0 || op_stream(stream, outo, &s) < 0)
        return NULL;
    if (mul) RUN(xhal_mul(s, a, b, out));
    RUN(xhal_add(s, a, b, out));
}

static PyObject *op_add(PyObject *m, PyObject *args, PyObject *kwargs) { return op_add_mul(args, kwargs, 0); }

static PyObject *op_mul(PyObject *m, PyObject *args, PyObject *kwargs) { return op_add_mul(args, kwargs, 1); }

static PyObject *op_scale(PyObject *m, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"x", "alpha", "beta", "out", "stream", NULL};
    PyObject *xo, *outo, *stream = Py_None;
    double alpha, beta;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OddO|$O:scale", kw, &xo, &alpha, &beta, &outo, &stream))
        return NULL;
    xhal_tensor *x, *out;
    xhal_stream *s;
    if (xpy_tensor_arg(xo, "x", 0, &x) < 0 || xpy_tensor_arg(outo, "out", 0, &out) < 0 ||
        op_stream(stream, outo, &s) < 0)
        return NULL;
    RUN(xhal_scale(s, x, alpha, beta, out));
}

static PyObject *op_reduce(PyObject *m, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"op", "x", "axis", "keepdims", "out", "stream", NULL};
    PyObject *opo, *xo, *outo, *stream = Py_None;
    int axis, keepdims;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOipO|$O:reduce", kw, &opo, &xo, &axis, &keepdims, &outo, &stream))
        return NULL;
    xhal_op op;
    xhal_tensor *x, *out;
    xhal_stream *s;
    if (xpy_parse_op(opo, &op) < 0 || xpy_tensor_arg(xo, "x", 0, &x) < 0 || xpy_tensor_arg(outo, "out", 0, &out) < 0 ||
        op_stream(stream, outo, &s) < 0)
        return NULL;
    RUN(xhal_reduce(s, op, x, axis, keepdims, out));
}

static PyObject *op_softmax(PyObject *m, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"x", "scale", "causal", "out", "stream", NULL};
    PyObject *xo, *outo, *stream = Py_None;
    double scale;
    int causal;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OdpO|$O:softmax", kw, &xo, &scale, &causal, &outo, &stream))
        return NULL;
    xhal_tensor *x, *out;
    xhal_stream *s;
    if (xpy_tensor_arg(xo, "x", 0, &x) < 0 || xpy_tensor_arg(outo, "out", 0, &out) < 0 ||
        op_stream(stream, outo, &s) < 0)
        return NULL;
    RUN(xhal_softmax(s, x, scale, causal, out));
}

static PyObject *op_rms_norm(PyObject *m, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"x", "weight", "eps", "out", "stream", NULL};
    PyObject *xo, *wo, *outo, *stream = Py_None;
    double eps;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOdO|$O:rms_norm", kw, &xo, &wo, &eps, &outo, &stream)) return NULL;
    xhal_tensor *x, *w, *out;
    xhal_stream *s;
    if (xpy_tensor_arg(xo, "x", 0, &x) < 0 || xpy_tensor_arg(wo, "weight", 1, &w) < 0 ||
        xpy_tensor_arg(outo, "out", 0, &out) < 0 || op_stream(stream, outo, &s) < 0)
        return NULL;
    RUN(xhal_rms_norm(s, x, w, eps, out));
}

static PyObject *op_layer_norm(PyObject *m, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"x", "weight", "bias", "eps", "out", "stream", NULL};
    PyObject *xo, *wo, *bo, *outo, *stream = Py_None;
    double eps;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOdO|$O:layer_norm", kw, &xo, &wo, &bo, &eps, &outo, &stream))
        return NULL;
    xhal_tensor *x, *w, *b, *out;
    xhal_stream *s;
    if (xpy_tensor_arg(xo, "x", 0, &x) < 0 || xpy_tensor_arg(wo, "weight", 1, &w) < 0 ||
        xpy_tensor_arg(bo, "bias", 1, &b) < 0 || xpy_tensor_arg(outo, "out", 0, &out) < 0 ||
        op_stream(stream, outo, &s) < 0)
        return NULL;
    RUN(xhal_layer_norm(s, x, w, b, eps, out));
}

static PyObject *op_matmul(PyObject *m, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"a", "b", "trans_a", "trans_b", "alpha", "beta", "out", "stream", NULL};
    PyObject *ao, *bo, *outo, *stream = Py_None;
    int ta, tb;
    double alpha, beta;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOppddO|$O:matmul", kw, &ao, &bo, &ta, &tb, &alpha, &beta, &outo,
                                     &stream))
        return NULL;
    xhal_tensor *a, *b, *out;
    xhal_stream *s;
    if (xpy_tensor_arg(ao, "a", 0, &a) < 0 || xpy_tensor_arg(bo, "b", 0, &b) < 0 ||
        xpy_tensor_arg(outo, "out", 0, &out) < 0 || op_stream(stream, outo, &s) < 0)
        return NULL;
    RUN(xhal_matmul(s, a, b, ta, tb, alpha, beta, out));
}

static PyObject *op_gather(PyObject *m, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"table", "indices", "out", "stream", NULL};
    PyObject *to, *io, *outo, *stream = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOO|$O:gather", kw, &to, &io, &outo, &stream)) return NULL;
    xhal_tensor *t, *i, *out;
    xhal_stream *s;
    if (xpy_tensor_arg(to, "table", 0, &t) < 0 || xpy_tensor_arg(io, "indices", 0, &i) < 0 ||
        xpy_tensor_arg(outo, "out", 0, &out) < 0 || op_stream(stream, outo, &s) < 0)
        return NULL;
    RUN(xhal_gather(s, t, i, out));
}

static PyObject *op_topk(PyObject *m, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"x", "k", "axis", "largest", "values", "indices", "stream", NULL};
    PyObject *xo, *vo, *io, *stream = Py_None;
    long long k;
    int axis, largest;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OLipOO|$O:topk", kw, &xo, &k, &axis, &largest, &vo, &io, &stream))
        return NULL;
    xhal_tensor *x, *v, *i;
    xhal_stream *s;
    if (xpy_tensor_arg(xo, "x", 0, &x) < 0 || xpy_tensor_arg(vo, "values", 0, &v) < 0 ||
        xpy_tensor_arg(io, "indices", 0, &i) < 0 || op_stream(stream, vo, &s) < 0)
        return NULL;
    RUN(xhal_topk(s, x, (int64_t)k, axis, largest, v, i));
}

static PyObject *op_rope(PyObject *m, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"x", "seq_axis", "theta", "pos_offset", "rotary_dims", "layout", "out", "stream", NULL};
    PyObject *xo, *outo, *stream = Py_None;
    int seq_axis, rotary_dims, layout;
    double theta;
    long long pos;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OidLiiO|$O:rope", kw, &xo, &seq_axis, &theta, &pos, &rotary_dims,
                                     &layout, &outo, &stream))
        return NULL;
    xhal_tensor *x, *out;
    xhal_stream *s;
    if (xpy_tensor_arg(xo, "x", 0, &x) < 0 || xpy_tensor_arg(outo, "out", 0, &out) < 0 ||
        op_stream(stream, outo, &s) < 0)
        return NULL;
    RUN(xhal_rope(s, x, seq_axis, theta, (int64_t)pos, rotary_dims, (xhal_rope_layout)layout, out));
}

static PyObject *op_attention(PyObject *m, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"q", "k", "v", "mask", "scale", "causal", "out", "stream", NULL};
    PyObject *qo, *ko, *vo, *mo, *outo, *stream = Py_None;
    double scale;
    int causal;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOOdpO|$O:attention", kw, &qo, &ko, &vo, &mo, &scale, &causal,
                                     &outo, &stream))
        return NULL;
    xhal_tensor *q, *k, *v, *mask, *out;
    xhal_stream *s;
    if (xpy_tensor_arg(qo, "q", 0, &q) < 0 || xpy_tensor_arg(ko, "k", 0, &k) < 0 ||
        xpy_tensor_arg(vo, "v", 0, &v) < 0 || xpy_tensor_arg(mo, "mask", 1, &mask) < 0 ||
        xpy_tensor_arg(outo, "out", 0, &out) < 0 || op_stream(stream, outo, &s) < 0)
        return NULL;
    RUN(xhal_attention(s, q, k, v, mask, scale, causal, out));
}

static PyObject *op_concat(PyObject *m, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"inputs", "axis", "out", "stream", NULL};
    PyObject *ino, *outo, *stream = Py_None;
    int axis;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OiO|$O:concat", kw, &ino, &axis, &outo, &stream)) return NULL;
    xhal_tensor *out;
    xhal_stream *s;
    if (xpy_tensor_arg(outo, "out", 0, &out) < 0 || op_stream(stream, outo, &s) < 0) return NULL;
    PyObject *seq = PySequence_Fast(ino, "concat: inputs must be a sequence of tensors");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n > 1 << 20) {
        Py_DECREF(seq);
        return xpy_raise_fmt(XHAL_ERROR_INVALID_ARGUMENT, "concat: %zd inputs", n);
    }
    xhal_tensor **ts = PyMem_Malloc((size_t)(n > 0 ? n : 1) * sizeof *ts);
    if (!ts) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < n; i++)
        if (xpy_tensor_arg(PySequence_Fast_GET_ITEM(seq, i), "concat input", 0, &ts[i]) < 0) {
            PyMem_Free(ts);
            Py_DECREF(seq);
            return NULL;
        }
    xhal_status st;
    Py_BEGIN_ALLOW_THREADS st = xhal_concat(s, ts, (int)n, axis, out);
    Py_END_ALLOW_THREADS PyMem_Free(ts);
    Py_DECREF(seq);
    if (st != XHAL_OK) return xpy_raise(st);
    Py_RETURN_NONE;
}

static PyObject *op_copy(PyObject *m, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"src", "dst", "stream", NULL};
    PyObject *so, *dso, *stream = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|$O:copy", kw, &so, &dso, &stream)) return NULL;
    xhal_tensor *src, *dst;
    xhal_stream *s;
    if (xpy_tensor_arg(so, "src", 0, &src) < 0 || xpy_tensor_arg(dso, "dst", 0, &dst) < 0 ||
        op_stream(stream, dso, &s) < 0)
        return NULL;
    RUN(xhal_copy(s, src, dst));
}

static PyObject *op_fill(PyObject *m, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"t", "value", "stream", NULL};
    PyObject *to, *stream = Py_None;
    double value;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "Od|$O:fill", kw, &to, &value, &stream)) return NULL;
    xhal_tensor *t;
    xhal_stream *s;
    if (xpy_tensor_arg(to, "t", 0, &t) < 0 || op_stream(stream, to, &s) < 0) return NULL;
    RUN(xhal_fill(s, t, value));
}

static PyObject *op_contiguous(PyObject *m, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"t", "dtype", "stream", NULL};
    PyObject *to, *dto = Py_None, *stream = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|O$O:contiguous", kw, &to, &dto, &stream)) return NULL;
    xhal_tensor *t, *out = NULL;
    xhal_stream *s;
    xhal_dtype dt;
    if (xpy_tensor_arg(to, "t", 0, &t) < 0 || xpy_parse_dtype(dto, XHAL_DTYPE_INVALID, &dt) < 0 ||
        op_stream(stream, to, &s) < 0)
        return NULL;
    xhal_status st;
    Py_BEGIN_ALLOW_THREADS st = xhal_contiguous(s, t, dt, &out);
    Py_END_ALLOW_THREADS if (st != XHAL_OK) return xpy_raise(st);
    return xpy_tensor_wrap(((XpyTensor *)to)->dev, out, NULL);
}

#define KW (PyCFunction)(void (*)(void))
PyMethodDef xpy_op_methods[] = {
    {"unary", KW op_unary, METH_VARARGS | METH_KEYWORDS, NULL}, /* doc: xpy_ops_init, from the op table */
    {"binary", KW op_binary, METH_VARARGS | METH_KEYWORDS,
     "binary(op, a, b, out, *, stream=None): op in add, sub, mul, div, maximum, minimum; numpy broadcasting to out."},
    {"add", KW op_add, METH_VARARGS | METH_KEYWORDS, "add(a, b, out, *, stream=None): out = a + b (xhal_add)."},
    {"mul", KW op_mul, METH_VARARGS | METH_KEYWORDS, "mul(a, b, out, *, stream=None): out = a * b (xhal_mul)."},
    {"scale", KW op_scale, METH_VARARGS | METH_KEYWORDS,
     "scale(x, alpha, beta, out, *, stream=None): out = alpha*x + beta."},
    {"reduce", KW op_reduce, METH_VARARGS | METH_KEYWORDS,
     "reduce(op, x, axis, keepdims, out, *, stream=None): op in sum, mean, max, argmax (out i32/i64)."},
    {"softmax", KW op_softmax, METH_VARARGS | METH_KEYWORDS,
     "softmax(x, scale, causal, out, *, stream=None): over the last axis of scale*x (0 means 1)."},
    {"rms_norm", KW op_rms_norm, METH_VARARGS | METH_KEYWORDS,
     "rms_norm(x, weight, eps, out, *, stream=None): weight [D] or None."},
    {"layer_norm", KW op_layer_norm, METH_VARARGS | METH_KEYWORDS,
     "layer_norm(x, weight, bias, eps, out, *, stream=None): weight, bias [D] or None."},
    {"matmul", KW op_matmul, METH_VARARGS | METH_KEYWORDS,
     "matmul(a, b, trans_a, trans_b, alpha, beta, out, *, stream=None): out = alpha*op(a)@op(b) + beta*out."},
    {"gather", KW op_gather, METH_VARARGS | METH_KEYWORDS,
     "gather(table, indices, out, *, stream=None): out[i..., :] = table[indices[i...], :]."},
    {"topk", KW op_topk, METH_VARARGS | METH_KEYWORDS,
     "topk(x, k, axis, largest, values, indices, *, stream=None): the k largest (largest True) or smallest\n"
     "elements of x along axis, sorted, into values (x's dtype) and indices (i32/i64), as xhal_topk."},
    {"rope", KW op_rope, METH_VARARGS | METH_KEYWORDS,
     "rope(x, seq_axis, theta, pos_offset, rotary_dims, layout, out, *, stream=None): layout 0 half, 1 interleaved."},
    {"attention", KW op_attention, METH_VARARGS | METH_KEYWORDS,
     "attention(q, k, v, mask, scale, causal, out, *, stream=None): grouped-query SDPA; mask None or additive."},
    {"concat", KW op_concat, METH_VARARGS | METH_KEYWORDS,
     "concat(inputs, axis, out, *, stream=None): concatenate a sequence of tensors along axis."},
    {"copy", KW op_copy, METH_VARARGS | METH_KEYWORDS,
     "copy(src, dst, *, stream=None): dst = src with a cast; any strides; across devices too\n"
     "(stream None: dst's device's default stream)."},
    {"fill", KW op_fill, METH_VARARGS | METH_KEYWORDS, "fill(t, value, *, stream=None): every element of t = value."},
    {"contiguous", KW op_contiguous, METH_VARARGS | METH_KEYWORDS,
     "contiguous(t, dtype=None, *, stream=None) -> Tensor: a new row-major copy (cast to dtype if given)."},
    {NULL, NULL, 0, NULL},
};

/* unary's docstring names every row of family UNARY in the op table (xhal_op_table.h), so it
 * lists what xhal_unary takes as rows are added. */
static char unary_doc[640];

int xpy_ops_init(void)
{
    size_t n =
        (size_t)snprintf(unary_doc, sizeof unary_doc, "unary(op, x, out, *, stream=None): op (name or id) one of ");
    const char *sep = "";
    for (int i = 1; i < (int)XHAL_OP_MAX_ID_ && n < sizeof unary_doc; i++) {
        if (xhal_op_family_of(i) != XHAL_OPF_UNARY) continue;
        n += (size_t)snprintf(unary_doc + n, sizeof unary_doc - n, "%s%s", sep, xhal_op_name((xhal_op)i));
        sep = ", ";
    }
    if (n < sizeof unary_doc)
        n += (size_t)snprintf(unary_doc + n, sizeof unary_doc - n, "; x and out of one dtype and shape.");
    if (n >= sizeof unary_doc) {
        PyErr_SetString(PyExc_SystemError, "_xhal: the unary op names do not fit unary's docstring buffer");
        return -1;
    }
    xpy_op_methods[0].ml_doc = unary_doc;
    return 0;
}
