/* tensor.c - xhal.Buffer, xhal.Tensor (views, host transfers), xhal.Stream, xhal.Event. */
#include <string.h>

#include "xpy.h"

static int parse_device(PyObject *o, XpyDevice **out)
{
    if (!XpyDevice_Check(o)) {
        PyErr_Format(PyExc_TypeError, "expected an xhal.Device, got %R", o);
        return -1;
    }
    *out = (XpyDevice *)o;
    return 0;
}

/* ================================================================ Buffer */

static PyObject *buf_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"device", "size", NULL};
    PyObject *devo;
    unsigned long long size;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OK:Buffer", kw, &devo, &size)) return NULL;
    XpyDevice *dev;
    if (parse_device(devo, &dev) < 0) return NULL;
    xhal_buffer *b = NULL;
    xhal_status st;
    Py_BEGIN_ALLOW_THREADS st = xhal_buffer_create(dev->dev, (uint64_t)size, &b);
    Py_END_ALLOW_THREADS if (st != XHAL_OK) return xpy_raise(st);
    XpyBuffer *self = (XpyBuffer *)type->tp_alloc(type, 0);
    if (!self) {
        xhal_buffer_destroy(b);
        return NULL;
    }
    Py_INCREF(dev);
    self->dev = dev;
    self->buf = b;
    return (PyObject *)self;
}

static void buf_dealloc(XpyBuffer *self)
{
    if (self->buf && !self->owner) xhal_buffer_destroy(self->buf);
    Py_XDECREF(self->owner);
    Py_XDECREF(self->dev);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *buf_get_size(XpyBuffer *self, void *closure)
{
    uint64_t size = 0;
    xhal_status st = xhal_buffer_size(self->buf, &size);
    if (st != XHAL_OK) return xpy_raise(st);
    return PyLong_FromUnsignedLongLong((unsigned long long)size);
}

static PyObject *buf_get_device(XpyBuffer *self, void *closure)
{
    Py_INCREF(self->dev);
    return (PyObject *)self->dev;
}

static PyObject *buf_write(XpyBuffer *self, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"data", "offset", "stream", NULL};
    Py_buffer view;
    unsigned long long offset = 0;
    PyObject *stream = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*|KO:write", kw, &view, &offset, &stream)) return NULL;
    xhal_stream *s;
    if (xpy_resolve_stream(stream, self->dev, &s) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    xhal_status st;
    Py_BEGIN_ALLOW_THREADS st = xhal_buffer_write(s, self->buf, (uint64_t)offset, view.buf, (uint64_t)view.len);
    Py_END_ALLOW_THREADS PyBuffer_Release(&view);
    if (st != XHAL_OK) return xpy_raise(st);
    Py_RETURN_NONE;
}

static PyObject *buf_read(XpyBuffer *self, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"size", "offset", "stream", NULL};
    PyObject *sizeo = Py_None, *stream = Py_None;
    unsigned long long offset = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|OKO:read", kw, &sizeo, &offset, &stream)) return NULL;
    uint64_t size = 0;
    if (sizeo == Py_None) {
        xhal_status st = xhal_buffer_size(self->buf, &size);
        if (st != XHAL_OK) return xpy_raise(st);
        size = size > offset ? size - offset : 0;
    } else {
        long long v = PyLong_AsLongLong(sizeo);
        if (v == -1 && PyErr_Occurred()) return NULL;
        if (v < 0) return xpy_raise_fmt(XHAL_ERROR_INVALID_ARGUMENT, "Buffer.read: size %lld is negative", v);
        size = (uint64_t)v;
    }
    xhal_stream *s;
    if (xpy_resolve_stream(stream, self->dev, &s) < 0) return NULL;
    if (size > (uint64_t)PY_SSIZE_T_MAX) return PyErr_NoMemory();
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)size);
    if (!out) return NULL;
    xhal_status st = XHAL_OK;
    char *dst = PyBytes_AS_STRING(out);
    Py_BEGIN_ALLOW_THREADS if (size > 0) st = xhal_buffer_read(s, self->buf, (uint64_t)offset, dst, size);
    Py_END_ALLOW_THREADS if (st != XHAL_OK)
    {
        Py_DECREF(out);
        return xpy_raise(st);
    }
    return out;
}

static PyMethodDef buf_methods[] = {
    {"write", (PyCFunction)(void (*)(void))buf_write, METH_VARARGS | METH_KEYWORDS,
     "write(data, offset=0, stream=None) -> None: copy the bytes of data (any buffer) to [offset, offset+len)."},
    {"read", (PyCFunction)(void (*)(void))buf_read, METH_VARARGS | METH_KEYWORDS,
     "read(size=None, offset=0, stream=None) -> bytes: size bytes from offset (default: to the end)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef buf_getset[] = {
    {"size", (getter)buf_get_size, NULL, "Size in bytes.", NULL},
    {"device", (getter)buf_get_device, NULL, "The Device the memory is on.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject XpyBuffer_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "xhal.Buffer",
    .tp_basicsize = sizeof(XpyBuffer),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Buffer(device, size)\n\nUntyped device memory of size bytes (> 0); contents undefined. Tensors made\n"
              "over it (Tensor.from_buffer) keep the memory alive.",
    .tp_new = buf_new,
    .tp_dealloc = (destructor)buf_dealloc,
    .tp_methods = buf_methods,
    .tp_getset = buf_getset,
};

/* ================================================================ Tensor */

PyObject *xpy_tensor_wrap(XpyDevice *dev, xhal_tensor *t, PyObject *base)
{
    XpyTensor *self = PyObject_New(XpyTensor, &XpyTensor_Type);
    if (!self) {
        xhal_tensor_destroy(t);
        return NULL;
    }
    Py_INCREF(dev);
    self->dev = dev;
    self->t = t;
    Py_XINCREF(base);
    self->base = base;
    self->foreign = 0;
    return (PyObject *)self;
}

int xpy_tensor_arg(PyObject *o, const char *what, int allow_none, xhal_tensor **out)
{
    if (o == Py_None && allow_none) {
        *out = NULL;
        return 0;
    }
    if (!XpyTensor_Check(o)) {
        PyErr_Format(PyExc_TypeError, "%s must be an xhal.Tensor%s, got %.100s", what, allow_none ? " or None" : "",
                     Py_TYPE(o)->tp_name);
        return -1;
    }
    *out = ((XpyTensor *)o)->t;
    return 0;
}

static PyObject *tensor_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"device", "shape", "dtype", NULL};
    PyObject *devo, *shapeo, *dto = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|O:Tensor", kw, &devo, &shapeo, &dto)) return NULL;
    XpyDevice *dev;
    xhal_dtype dt;
    int ndim;
    int64_t shape[XHAL_MAX_DIMS];
    if (parse_device(devo, &dev) < 0 || xpy_parse_dtype(dto, XHAL_DTYPE_F32, &dt) < 0 ||
        xpy_parse_dims(shapeo, "shape", &ndim, shape) < 0)
        return NULL;
    xhal_tensor *t = NULL;
    xhal_status st;
    Py_BEGIN_ALLOW_THREADS st = xhal_tensor_create(dev->dev, dt, ndim, shape, &t);
    Py_END_ALLOW_THREADS if (st != XHAL_OK) return xpy_raise(st);
    return xpy_tensor_wrap(dev, t, NULL);
}

static PyObject *tensor_from_buffer(PyObject *cls, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"buffer", "dtype", "shape", "strides", "byte_offset", NULL};
    PyObject *bufo, *dto, *shapeo, *strideso = Py_None;
    unsigned long long offset = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOO|OK:from_buffer", kw, &bufo, &dto, &shapeo, &strideso, &offset))
        return NULL;
    if (!PyObject_TypeCheck(bufo, &XpyBuffer_Type)) {
        PyErr_Format(PyExc_TypeError, "buffer must be an xhal.Buffer, got %R", bufo);
        return NULL;
    }
    XpyBuffer *b = (XpyBuffer *)bufo;
    xhal_dtype dt;
    int ndim, nstr = 0;
    int64_t shape[XHAL_MAX_DIMS], strides[XHAL_MAX_DIMS];
    if (xpy_parse_dtype(dto, XHAL_DTYPE_INVALID, &dt) < 0 || xpy_parse_dims(shapeo, "shape", &ndim, shape) < 0)
        return NULL;
    if (strideso != Py_None) {
        if (xpy_parse_dims(strideso, "strides", &nstr, strides) < 0) return NULL;
        if (nstr != ndim)
            return xpy_raise_fmt(XHAL_ERROR_INVALID_ARGUMENT, "from_buffer: %d strides for %d dims", nstr, ndim);
    }
    xhal_tensor *t = NULL;
    xhal_status st =
        xhal_tensor_from_buffer(b->buf, dt, ndim, shape, strideso == Py_None ? NULL : strides, (uint64_t)offset, &t);
    if (st != XHAL_OK) return xpy_raise(st);
    return xpy_tensor_wrap(b->dev, t, bufo);
}

static void tensor_dealloc(XpyTensor *self)
{
    if (self->t) xhal_tensor_destroy(self->t);
    Py_XDECREF(self->base);
    Py_XDECREF(self->dev);
    PyObject_Free(self);
}

static PyObject *t_get_dtype(XpyTensor *self, void *c)
{
    xhal_dtype dt;
    xhal_status st = xhal_tensor_dtype(self->t, &dt);
    if (st != XHAL_OK) return xpy_raise(st);
    return PyUnicode_FromString(xhal_dtype_name(dt));
}

static PyObject *t_get_shape(XpyTensor *self, void *c)
{
    int nd;
    int64_t sh[XHAL_MAX_DIMS];
    xhal_status st = xhal_tensor_shape(self->t, &nd, sh, NULL);
    if (st != XHAL_OK) return xpy_raise(st);
    return xpy_dims_tuple(nd, sh);
}

static PyObject *t_get_strides(XpyTensor *self, void *c)
{
    int nd;
    int64_t str[XHAL_MAX_DIMS];
    xhal_status st = xhal_tensor_shape(self->t, &nd, NULL, str);
    if (st != XHAL_OK) return xpy_raise(st);
    return xpy_dims_tuple(nd, str);
}

static PyObject *t_get_ndim(XpyTensor *self, void *c)
{
    int nd;
    xhal_status st = xhal_tensor_shape(self->t, &nd, NULL, NULL);
    if (st != XHAL_OK) return xpy_raise(st);
    return PyLong_FromLong(nd);
}

/* numel, bytes per element (0 for block-quantized dtypes) and the bytes of all elements. */
static int t_numel_bytes3(XpyTensor *self, int64_t *numel, size_t *itemsize, int64_t *nbytes)
{
    xhal_dtype dt;
    xhal_dtype_info di;
    xhal_status st = xhal_tensor_dtype(self->t, &dt);
    if (st == XHAL_OK) st = xhal_tensor_numel(self->t, numel);
    if (st == XHAL_OK) st = xhal_dtype_get_info(dt, &di);
    if (st != XHAL_OK) {
        xpy_raise(st);
        return -1;
    }
    *itemsize = xhal_dtype_size(dt);
    *nbytes = di.block_size > 0 ? *numel / di.block_size * di.block_bytes : 0;
    return 0;
}

static int t_numel_bytes(XpyTensor *self, int64_t *numel, size_t *itemsize)
{
    int64_t nb;
    return t_numel_bytes3(self, numel, itemsize, &nb);
}

static PyObject *t_get_numel(XpyTensor *self, void *c)
{
    int64_t n;
    size_t is;
    if (t_numel_bytes(self, &n, &is) < 0) return NULL;
    return PyLong_FromLongLong((long long)n);
}

static PyObject *t_get_itemsize(XpyTensor *self, void *c)
{
    int64_t n;
    size_t is;
    if (t_numel_bytes(self, &n, &is) < 0) return NULL;
    return PyLong_FromSize_t(is);
}

static PyObject *t_get_nbytes(XpyTensor *self, void *c)
{
    int64_t n, nb;
    size_t is;
    if (t_numel_bytes3(self, &n, &is, &nb) < 0) return NULL;
    return PyLong_FromLongLong((long long)nb);
}

static PyObject *t_get_byte_offset(XpyTensor *self, void *c)
{
    uint64_t off;
    xhal_status st = xhal_tensor_byte_offset(self->t, &off);
    if (st != XHAL_OK) return xpy_raise(st);
    return PyLong_FromUnsignedLongLong((unsigned long long)off);
}

static PyObject *t_get_device(XpyTensor *self, void *c)
{
    Py_INCREF(self->dev);
    return (PyObject *)self->dev;
}

static PyObject *t_get_is_contiguous(XpyTensor *self, void *c)
{
    int cont = 0;
    xhal_status st = xhal_tensor_is_contiguous(self->t, &cont);
    if (st != XHAL_OK) return xpy_raise(st);
    return PyBool_FromLong(cont);
}

static PyObject *t_get_is_foreign(XpyTensor *self, void *c) { return PyBool_FromLong(self->foreign); }

static PyObject *t_get_buffer(XpyTensor *self, void *c)
{
    xhal_buffer *b = NULL;
    xhal_status st = xhal_tensor_buffer(self->t, &b);
    if (st != XHAL_OK) return xpy_raise(st);
    XpyBuffer *o = PyObject_New(XpyBuffer, &XpyBuffer_Type);
    if (!o) return NULL;
    Py_INCREF(self->dev);
    o->dev = self->dev;
    o->buf = b;
    Py_INCREF(self);
    o->owner = (PyObject *)self; /* the tensor keeps the buffer alive; the wrapper keeps the tensor */
    return (PyObject *)o;
}

static PyObject *t_view_result(XpyTensor *self, xhal_status st, xhal_tensor *out)
{
    if (st != XHAL_OK) return xpy_raise(st);
    PyObject *r = xpy_tensor_wrap(self->dev, out, (PyObject *)self);
    if (r) ((XpyTensor *)r)->foreign = self->foreign;
    return r;
}

static PyObject *t_slice(XpyTensor *self, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"axis", "start", "stop", "step", NULL};
    int axis;
    long long start, stop, step = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "iLL|L:slice", kw, &axis, &start, &stop, &step)) return NULL;
    xhal_tensor *out = NULL;
    xhal_status st = xhal_tensor_slice(self->t, axis, (int64_t)start, (int64_t)stop, (int64_t)step, &out);
    return t_view_result(self, st, out);
}

static PyObject *t_permute(XpyTensor *self, PyObject *arg)
{
    int n;
    int64_t p64[XHAL_MAX_DIMS];
    if (xpy_parse_dims(arg, "perm", &n, p64) < 0) return NULL;
    int nd;
    xhal_status st = xhal_tensor_shape(self->t, &nd, NULL, NULL);
    if (st != XHAL_OK) return xpy_raise(st);
    if (n != nd) return xpy_raise_fmt(XHAL_ERROR_INVALID_ARGUMENT, "permute: perm has %d entries for %d dims", n, nd);
    int perm[XHAL_MAX_DIMS];
    for (int i = 0; i < n; i++) perm[i] = (int)p64[i];
    xhal_tensor *out = NULL;
    st = xhal_tensor_permute(self->t, perm, &out);
    return t_view_result(self, st, out);
}

static PyObject *t_transpose(XpyTensor *self, PyObject *args)
{
    int a0 = -2, a1 = -1;
    if (!PyArg_ParseTuple(args, "|ii:transpose", &a0, &a1)) return NULL;
    xhal_tensor *out = NULL;
    xhal_status st = xhal_tensor_transpose(self->t, a0, a1, &out);
    return t_view_result(self, st, out);
}

static PyObject *t_reshape(XpyTensor *self, PyObject *arg)
{
    int n;
    int64_t shape[XHAL_MAX_DIMS];
    if (xpy_parse_dims(arg, "shape", &n, shape) < 0) return NULL;
    xhal_tensor *out = NULL;
    xhal_status st = xhal_tensor_reshape(self->t, n, shape, &out);
    return t_view_result(self, st, out);
}

static PyObject *t_expand(XpyTensor *self, PyObject *arg)
{
    int n;
    int64_t shape[XHAL_MAX_DIMS];
    if (xpy_parse_dims(arg, "shape", &n, shape) < 0) return NULL;
    xhal_tensor *out = NULL;
    xhal_status st = xhal_tensor_expand(self->t, n, shape, &out);
    return t_view_result(self, st, out);
}

static PyObject *t_write(XpyTensor *self, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"data", "stream", NULL};
    PyObject *data, *stream = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|O:write", kw, &data, &stream)) return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_C_CONTIGUOUS) < 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError,
                     "write: data must be a C-contiguous buffer (bytes, bytearray, numpy array...), got %.100s",
                     Py_TYPE(data)->tp_name);
        return NULL;
    }
    xhal_stream *s;
    if (xpy_resolve_stream(stream, self->dev, &s) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    xhal_status st;
    Py_BEGIN_ALLOW_THREADS st = xhal_tensor_write(s, self->t, view.buf, (uint64_t)view.len);
    Py_END_ALLOW_THREADS PyBuffer_Release(&view);
    if (st != XHAL_OK) return xpy_raise(st);
    Py_RETURN_NONE;
}

static PyObject *t_read_into(XpyTensor *self, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"out", "stream", NULL};
    PyObject *outo, *stream = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|O:read_into", kw, &outo, &stream)) return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(outo, &view, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) < 0) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "read_into: out must be a writable C-contiguous buffer, got %.100s",
                     Py_TYPE(outo)->tp_name);
        return NULL;
    }
    xhal_stream *s;
    if (xpy_resolve_stream(stream, self->dev, &s) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    xhal_status st;
    Py_BEGIN_ALLOW_THREADS st = xhal_tensor_read(s, self->t, view.buf, (uint64_t)view.len);
    Py_END_ALLOW_THREADS PyBuffer_Release(&view);
    if (st != XHAL_OK) return xpy_raise(st);
    Py_RETURN_NONE;
}

static PyObject *t_read(XpyTensor *self, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"stream", NULL};
    PyObject *stream = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:read", kw, &stream)) return NULL;
    int64_t n, nb;
    size_t is;
    if (t_numel_bytes3(self, &n, &is, &nb) < 0) return NULL;
    if ((uint64_t)nb > (uint64_t)PY_SSIZE_T_MAX) return PyErr_NoMemory();
    xhal_stream *s;
    if (xpy_resolve_stream(stream, self->dev, &s) < 0) return NULL;
    Py_ssize_t size = (Py_ssize_t)nb;
    PyObject *out = PyBytes_FromStringAndSize(NULL, size);
    if (!out) return NULL;
    char *dst = PyBytes_AS_STRING(out);
    xhal_status st;
    Py_BEGIN_ALLOW_THREADS st = xhal_tensor_read(s, self->t, dst, (uint64_t)size);
    Py_END_ALLOW_THREADS if (st != XHAL_OK)
    {
        Py_DECREF(out);
        return xpy_raise(st);
    }
    return out;
}

static PyObject *t_numpy(XpyTensor *self, PyObject *unused)
{
    PyObject *np = PyImport_ImportModule("numpy");
    if (!np) return NULL;
    PyObject *src = (PyObject *)self, *tmp = NULL;
    xhal_dtype dt;
    xhal_status st = xhal_tensor_dtype(self->t, &dt);
    if (st != XHAL_OK) {
        Py_DECREF(np);
        return xpy_raise(st);
    }
    xhal_dtype_info di;
    if (xhal_dtype_get_info(dt, &di) != XHAL_OK) di.is_quantized = 0;
    /* numpy has no bfloat16 and no block types: widen bf16 exactly (dequantize blocks) to f32 */
    if (dt == XHAL_DTYPE_BF16 || di.is_quantized) {
        xhal_stream *s = xpy_default_stream(self->dev);
        xhal_tensor *t32 = NULL;
        if (!s) {
            Py_DECREF(np);
            return NULL;
        }
        Py_BEGIN_ALLOW_THREADS st = xhal_contiguous(s, self->t, XHAL_DTYPE_F32, &t32);
        Py_END_ALLOW_THREADS if (st != XHAL_OK)
        {
            Py_DECREF(np);
            return xpy_raise(st);
        }
        tmp = xpy_tensor_wrap(self->dev, t32, NULL);
        if (!tmp) {
            Py_DECREF(np);
            return NULL;
        }
        src = tmp;
    }
    PyObject *r = PyObject_CallMethod(np, "from_dlpack", "O", src);
    Py_XDECREF(tmp);
    Py_DECREF(np);
    return r;
}

static PyObject *tensor_repr(XpyTensor *self)
{
    xhal_dtype dt;
    int nd;
    int64_t sh[XHAL_MAX_DIMS];
    xhal_device_info info;
    if (xhal_tensor_dtype(self->t, &dt) != XHAL_OK || xhal_tensor_shape(self->t, &nd, sh, NULL) != XHAL_OK ||
        xhal_device_get_info(self->dev->dev, &info) != XHAL_OK)
        return PyUnicode_FromString("<xhal.Tensor (invalid)>");
    char buf[256];
    size_t o = 0;
    o += (size_t)snprintf(buf + o, sizeof buf - o, "%s[", xhal_dtype_name(dt));
    for (int i = 0; i < nd && o < sizeof buf; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%lld", i ? "," : "", (long long)sh[i]);
    if (o < sizeof buf) snprintf(buf + o, sizeof buf - o, "]");
    return PyUnicode_FromFormat("<xhal.Tensor %s on %s>", buf, info.spec);
}

static PyMethodDef tensor_methods[] = {
    {"from_buffer", (PyCFunction)(void (*)(void))tensor_from_buffer, METH_VARARGS | METH_KEYWORDS | METH_CLASS,
     "from_buffer(buffer, dtype, shape, strides=None, byte_offset=0) -> Tensor\n\n"
     "A tensor over an existing Buffer; strides in elements (None: row-major), >= 0."},
    {"slice", (PyCFunction)(void (*)(void))t_slice, METH_VARARGS | METH_KEYWORDS,
     "slice(axis, start, stop, step=1) -> Tensor: a view (Python-style clamping)."},
    {"permute", (PyCFunction)t_permute, METH_O, "permute(perm) -> Tensor: a view with the axes reordered."},
    {"transpose", (PyCFunction)t_transpose, METH_VARARGS,
     "transpose(axis0=-2, axis1=-1) -> Tensor: a view with two axes swapped."},
    {"reshape", (PyCFunction)t_reshape, METH_O,
     "reshape(shape) -> Tensor: a view of a contiguous tensor; one -1 allowed."},
    {"expand", (PyCFunction)t_expand, METH_O, "expand(shape) -> Tensor: a broadcast view (numpy rules)."},
    {"write", (PyCFunction)(void (*)(void))t_write, METH_VARARGS | METH_KEYWORDS,
     "write(data, stream=None) -> None: blocking copy of host data (C-contiguous buffer of exactly\n"
     "numel * itemsize bytes, row-major logical order) into the tensor (which may be a view)."},
    {"read", (PyCFunction)(void (*)(void))t_read, METH_VARARGS | METH_KEYWORDS,
     "read(stream=None) -> bytes: blocking copy of the elements in row-major logical order."},
    {"read_into", (PyCFunction)(void (*)(void))t_read_into, METH_VARARGS | METH_KEYWORDS,
     "read_into(out, stream=None) -> None: like read() into a writable buffer of exactly nbytes."},
    {"numpy", (PyCFunction)t_numpy, METH_NOARGS,
     "numpy() -> numpy.ndarray: through DLPack. Shares memory when the export is zero-copy (see\n"
     "__dlpack__), else a copy; bf16 tensors come back as float32 (exact), block-quantized ones\n"
     "dequantized to float32."},
    {"__dlpack__", (PyCFunction)(void (*)(void))xpy_tensor_dlpack, METH_VARARGS | METH_KEYWORDS,
     "__dlpack__(*, stream=None, max_version=None, dl_device=None, copy=None) -> PyCapsule\n\n"
     "DLPack export. A tensor on a device whose memory is host memory and whose backend exposes it\n"
     "(the cpu backend) is exported without a copy; any other tensor is copied to host memory and\n"
     "the capsule says so (DLPack 1.x flag IS_COPIED). copy=False raises BufferError when a copy\n"
     "would be needed; copy=True always copies. The queued work of the device's default stream is\n"
     "waited for before the export (stream other than None/-1 is refused)."},
    {"__dlpack_device__", (PyCFunction)xpy_tensor_dlpack_device, METH_NOARGS,
     "__dlpack_device__() -> (int, int): (kDLCPU=1, 0): exports are always host memory."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef tensor_getset[] = {
    {"dtype", (getter)t_get_dtype, NULL, "Element type name: 'f32', 'f16', 'bf16', 'f64', 'i8', 'u8', 'i32', 'i64'.",
     NULL},
    {"shape", (getter)t_get_shape, NULL, "Shape as a tuple of ints.", NULL},
    {"strides", (getter)t_get_strides, NULL, "Strides in elements (not bytes), as a tuple.", NULL},
    {"ndim", (getter)t_get_ndim, NULL, "Number of dimensions (0: scalar).", NULL},
    {"numel", (getter)t_get_numel, NULL, "Number of elements.", NULL},
    {"size", (getter)t_get_numel, NULL, "Number of elements (numpy's name).", NULL},
    {"itemsize", (getter)t_get_itemsize, NULL, "Bytes per element (0 for block-quantized dtypes).", NULL},
    {"nbytes", (getter)t_get_nbytes, NULL,
     "Bytes of the elements: numel * itemsize, or whole blocks for block-quantized dtypes.", NULL},
    {"byte_offset", (getter)t_get_byte_offset, NULL, "Offset of element 0 in its buffer, in bytes.", NULL},
    {"device", (getter)t_get_device, NULL, "The Device the tensor lives on.", NULL},
    {"buffer", (getter)t_get_buffer, NULL,
     "The Buffer the tensor was made over (Tensor.from_buffer and its views; kept alive by the tensor).\n"
     "A tensor that owns its memory (Tensor(...), op outputs) has none: InvalidArgumentError.",
     NULL},
    {"is_contiguous", (getter)t_get_is_contiguous, NULL, "Row-major contiguous.", NULL},
    {"is_foreign", (getter)t_get_is_foreign, NULL,
     "True when the memory belongs to an imported object (from_dlpack without a copy).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject XpyTensor_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "xhal.Tensor",
    .tp_basicsize = sizeof(XpyTensor),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Tensor(device, shape, dtype='f32')\n\nA new row-major tensor with its own memory on device\n"
              "(contents undefined), or a view (slice, permute, transpose, reshape, expand) or a tensor\n"
              "over a Buffer (Tensor.from_buffer). Up to 8 dims; strides in elements.",
    .tp_new = tensor_new,
    .tp_dealloc = (destructor)tensor_dealloc,
    .tp_methods = tensor_methods,
    .tp_getset = tensor_getset,
    .tp_repr = (reprfunc)tensor_repr,
};

/* ================================================================ Stream */

static PyObject *stream_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"device", NULL};
    PyObject *devo;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O:Stream", kw, &devo)) return NULL;
    XpyDevice *dev;
    if (parse_device(devo, &dev) < 0) return NULL;
    xhal_stream *s = NULL;
    xhal_status st;
    Py_BEGIN_ALLOW_THREADS st = xhal_stream_create(dev->dev, &s);
    Py_END_ALLOW_THREADS if (st != XHAL_OK) return xpy_raise(st);
    XpyStream *self = (XpyStream *)type->tp_alloc(type, 0);
    if (!self) {
        xhal_stream_destroy(s);
        return NULL;
    }
    Py_INCREF(dev);
    self->dev = dev;
    self->s = s;
    self->borrowed = 0;
    return (PyObject *)self;
}

static void stream_dealloc(XpyStream *self)
{
    if (self->s && !self->borrowed) {
        Py_BEGIN_ALLOW_THREADS xhal_stream_destroy(self->s);
        Py_END_ALLOW_THREADS
    }
    Py_XDECREF(self->dev);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *stream_sync(XpyStream *self, PyObject *unused)
{
    xhal_status st;
    Py_BEGIN_ALLOW_THREADS st = xhal_stream_synchronize(self->s);
    Py_END_ALLOW_THREADS if (st != XHAL_OK) return xpy_raise(st);
    Py_RETURN_NONE;
}

static PyObject *stream_wait_event(XpyStream *self, PyObject *ev)
{
    if (!PyObject_TypeCheck(ev, &XpyEvent_Type)) {
        PyErr_Format(PyExc_TypeError, "wait_event() takes an xhal.Event, got %R", ev);
        return NULL;
    }
    xhal_status st = xhal_stream_wait_event(self->s, ((XpyEvent *)ev)->ev);
    if (st != XHAL_OK) return xpy_raise(st);
    Py_RETURN_NONE;
}

static PyObject *stream_get_device(XpyStream *self, void *c)
{
    Py_INCREF(self->dev);
    return (PyObject *)self->dev;
}

static PyMethodDef stream_methods[] = {
    {"synchronize", (PyCFunction)stream_sync, METH_NOARGS,
     "synchronize() -> None: wait for everything queued; reports an asynchronous failure."},
    {"wait_event", (PyCFunction)stream_wait_event, METH_O,
     "wait_event(event) -> None: later work on this stream waits for event (which may be on another device)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef stream_getset[] = {
    {"device", (getter)stream_get_device, NULL, "The Device of the stream.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyTypeObject XpyStream_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "xhal.Stream",
    .tp_basicsize = sizeof(XpyStream),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Stream(device)\n\nAn in-order queue of work on device. Submit from one thread at a time.",
    .tp_new = stream_new,
    .tp_dealloc = (destructor)stream_dealloc,
    .tp_methods = stream_methods,
    .tp_getset = stream_getset,
};

/* ================================================================ Event */

static PyObject *event_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"device", NULL};
    PyObject *devo;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O:Event", kw, &devo)) return NULL;
    XpyDevice *dev;
    if (parse_device(devo, &dev) < 0) return NULL;
    xhal_event *e = NULL;
    xhal_status st = xhal_event_create(dev->dev, &e);
    if (st != XHAL_OK) return xpy_raise(st);
    XpyEvent *self = (XpyEvent *)type->tp_alloc(type, 0);
    if (!self) {
        xhal_event_destroy(e);
        return NULL;
    }
    Py_INCREF(dev);
    self->dev = dev;
    self->ev = e;
    return (PyObject *)self;
}

static void event_dealloc(XpyEvent *self)
{
    if (self->ev) xhal_event_destroy(self->ev);
    Py_XDECREF(self->dev);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *event_record(XpyEvent *self, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"stream", NULL};
    PyObject *stream = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:record", kw, &stream)) return NULL;
    xhal_stream *s;
    if (xpy_resolve_stream(stream, self->dev, &s) < 0) return NULL;
    xhal_status st;
    Py_BEGIN_ALLOW_THREADS st = xhal_event_record(self->ev, s);
    Py_END_ALLOW_THREADS if (st != XHAL_OK) return xpy_raise(st);
    Py_RETURN_NONE;
}

static PyObject *event_sync(XpyEvent *self, PyObject *unused)
{
    xhal_status st;
    Py_BEGIN_ALLOW_THREADS st = xhal_event_synchronize(self->ev);
    Py_END_ALLOW_THREADS if (st != XHAL_OK) return xpy_raise(st);
    Py_RETURN_NONE;
}

static PyObject *event_elapsed(XpyEvent *self, PyObject *end)
{
    if (!PyObject_TypeCheck(end, &XpyEvent_Type)) {
        PyErr_Format(PyExc_TypeError, "elapsed_ms() takes an xhal.Event, got %R", end);
        return NULL;
    }
    double ms = 0;
    xhal_status st = xhal_event_elapsed_ms(self->ev, ((XpyEvent *)end)->ev, &ms);
    if (st != XHAL_OK) return xpy_raise(st);
    return PyFloat_FromDouble(ms);
}

static PyMethodDef event_methods[] = {
    {"record", (PyCFunction)(void (*)(void))event_record, METH_VARARGS | METH_KEYWORDS,
     "record(stream=None) -> None: mark the point after all work queued so far on stream."},
    {"synchronize", (PyCFunction)event_sync, METH_NOARGS, "synchronize() -> None: block until the event completed."},
    {"elapsed_ms", (PyCFunction)event_elapsed, METH_O,
     "elapsed_ms(end: Event) -> float: milliseconds from this event to end (both recorded and completed)."},
    {NULL, NULL, 0, NULL},
};

PyTypeObject XpyEvent_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "xhal.Event",
    .tp_basicsize = sizeof(XpyEvent),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Event(device)\n\nA point in a stream's work, for ordering between streams and for timing.",
    .tp_new = event_new,
    .tp_dealloc = (destructor)event_dealloc,
    .tp_methods = event_methods,
};
