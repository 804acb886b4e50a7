/* module.c - the xhal._xhal extension module: names of dtypes, ops and statuses, argument
 * parsing shared by the other files, and module initialisation. */
#include <string.h>

#include "xpy.h"

/* ---------------------------------------------------------------- argument parsing */

static const struct {
    const char *alias;
    xhal_dtype dt;
} DTYPE_ALIASES[] = {
    {"float32", XHAL_DTYPE_F32}, {"float16", XHAL_DTYPE_F16}, {"half", XHAL_DTYPE_F16},  {"bfloat16", XHAL_DTYPE_BF16},
    {"float64", XHAL_DTYPE_F64}, {"double", XHAL_DTYPE_F64},  {"int8", XHAL_DTYPE_I8},   {"uint8", XHAL_DTYPE_U8},
    {"int32", XHAL_DTYPE_I32},   {"int64", XHAL_DTYPE_I64},   {"float", XHAL_DTYPE_F32},
};

int xpy_parse_dtype(PyObject *o, xhal_dtype dflt, xhal_dtype *out)
{
    if (!o || o == Py_None) {
        *out = dflt;
        return 0;
    }
    if (PyUnicode_Check(o)) {
        const char *s = PyUnicode_AsUTF8(o);
        if (!s) return -1;
        /* "torch.float32" and the like */
        const char *dot = strrchr(s, '.');
        if (dot) s = dot + 1;
        xhal_dtype dt;
        if (xhal_dtype_from_name(s, &dt) == XHAL_OK && dt != XHAL_DTYPE_INVALID) {
            *out = dt;
            return 0;
        }
        for (size_t i = 0; i < sizeof DTYPE_ALIASES / sizeof DTYPE_ALIASES[0]; i++)
            if (strcmp(s, DTYPE_ALIASES[i].alias) == 0) {
                *out = DTYPE_ALIASES[i].dt;
                return 0;
            }
        xpy_raise_fmt(XHAL_ERROR_INVALID_ARGUMENT,
                      "unknown dtype '%s' (f32, f16, bf16, f64, i8, u8, i32, i64, q8_0, q4_0, q4_k, q6_k)", s);
        return -1;
    }
    if (PyLong_Check(o)) {
        long v = PyLong_AsLong(o);
        if (v == -1 && PyErr_Occurred()) return -1;
        xhal_dtype_info di;
        if (v <= (long)XHAL_DTYPE_INVALID || v >= (long)XHAL_DTYPE_END_ ||
            xhal_dtype_get_info((xhal_dtype)v, &di) != XHAL_OK) {
            xpy_raise_fmt(XHAL_ERROR_INVALID_ARGUMENT, "unknown dtype value %ld", v);
            return -1;
        }
        *out = (xhal_dtype)v;
        return 0;
    }
    /* numpy dtypes and the like: use their str() ("float32") */
    PyObject *s = PyObject_Str(o);
    if (!s) return -1;
    int r = -1;
    if (PyUnicode_Check(s) && !PyLong_Check(o)) {
        const char *c = PyUnicode_AsUTF8(s);
        if (c && strchr(c, '<') == NULL) /* not "<class ...>" */
            r = xpy_parse_dtype(s, dflt, out);
        else
            PyErr_Format(PyExc_TypeError, "dtype must be a name such as 'f32', got %R", o);
    }
    Py_DECREF(s);
    return r;
}

int xpy_parse_dims(PyObject *o, const char *what, int *ndim, int64_t *dims)
{
    if (PyLong_Check(o)) { /* a single int: a 1-d shape */
        long long v = PyLong_AsLongLong(o);
        if (v == -1 && PyErr_Occurred()) return -1;
        *ndim = 1;
        dims[0] = (int64_t)v;
        return 0;
    }
    PyObject *seq = PySequence_Fast(o, "");
    if (!seq) {
        PyErr_Clear();
        PyErr_Format(PyExc_TypeError, "%s must be a sequence of ints, got %R", what, o);
        return -1;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n > XHAL_MAX_DIMS) {
        Py_DECREF(seq);
        xpy_raise_fmt(XHAL_ERROR_INVALID_ARGUMENT, "%s has %zd entries; xhal tensors have at most %d dims", what, n,
                      XHAL_MAX_DIMS);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *it = PySequence_Fast_GET_ITEM(seq, i);
        PyObject *idx = PyNumber_Index(it);
        if (!idx) {
            Py_DECREF(seq);
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "%s[%zd] must be an int, got %R", what, i, it);
            return -1;
        }
        long long v = PyLong_AsLongLong(idx);
        Py_DECREF(idx);
        if (v == -1 && PyErr_Occurred()) {
            Py_DECREF(seq);
            return -1;
        }
        dims[i] = (int64_t)v;
    }
    Py_DECREF(seq);
    *ndim = (int)n;
    return 0;
}

PyObject *xpy_dims_tuple(int ndim, const int64_t *dims)
{
    PyObject *t = PyTuple_New(ndim);
    if (!t) return NULL;
    for (int i = 0; i < ndim; i++) {
        PyObject *v = PyLong_FromLongLong((long long)dims[i]);
        if (!v) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, v);
    }
    return t;
}

int xpy_parse_op(PyObject *o, xhal_op *out)
{
    if (PyUnicode_Check(o)) {
        const char *s = PyUnicode_AsUTF8(o);
        if (!s) return -1;
        if (xhal_op_from_name(s, out) != XHAL_OK) {
            xpy_raise(XHAL_ERROR_INVALID_ARGUMENT);
            return -1;
        }
        return 0;
    }
    if (PyLong_Check(o)) {
        long v = PyLong_AsLong(o);
        if (v == -1 && PyErr_Occurred()) return -1;
        *out = (xhal_op)v; /* the core validates the value */
        return 0;
    }
    PyErr_Format(PyExc_TypeError, "op must be a name such as 'add' or an int, got %R", o);
    return -1;
}

/* ---------------------------------------------------------------- module functions */

static PyObject *m_version(PyObject *m, PyObject *unused) { return PyUnicode_FromString(xhal_version()); }

static PyObject *m_status_name(PyObject *m, PyObject *arg)
{
    long v = PyLong_AsLong(arg);
    if (v == -1 && PyErr_Occurred()) return NULL;
    return PyUnicode_FromString(xhal_status_name((xhal_status)v));
}

static PyObject *m_dtype_name(PyObject *m, PyObject *arg)
{
    xhal_dtype dt;
    if (xpy_parse_dtype(arg, XHAL_DTYPE_INVALID, &dt) < 0) return NULL;
    return PyUnicode_FromString(xhal_dtype_name(dt));
}

static PyObject *m_dtype_size(PyObject *m, PyObject *arg)
{
    xhal_dtype dt;
    if (xpy_parse_dtype(arg, XHAL_DTYPE_INVALID, &dt) < 0) return NULL;
    return PyLong_FromSize_t(xhal_dtype_size(dt));
}

static PyObject *m_dtype_info(PyObject *m, PyObject *arg)
{
    xhal_dtype dt;
    if (xpy_parse_dtype(arg, XHAL_DTYPE_INVALID, &dt) < 0) return NULL;
    xhal_dtype_info i;
    xhal_status st = xhal_dtype_get_info(dt, &i);
    if (st != XHAL_OK) return xpy_raise(st);
    return Py_BuildValue("{s:s,s:L,s:L,s:O,s:O,s:O}", "name", i.name, "block_size", (long long)i.block_size,
                         "block_bytes", (long long)i.block_bytes, "is_float", i.is_float ? Py_True : Py_False,
                         "is_integer", i.is_integer ? Py_True : Py_False, "is_quantized",
                         i.is_quantized ? Py_True : Py_False);
}

static PyObject *m_op_name(PyObject *m, PyObject *arg)
{
    long v = PyLong_AsLong(arg);
    if (v == -1 && PyErr_Occurred()) return NULL;
    return PyUnicode_FromString(xhal_op_name((xhal_op)v));
}

static PyObject *m_op_from_name(PyObject *m, PyObject *arg)
{
    xhal_op op;
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "op_from_name takes a str");
        return NULL;
    }
    if (xpy_parse_op(arg, &op) < 0) return NULL;
    return PyLong_FromLong((long)op);
}

static PyObject *m_op_catalogue(PyObject *m, PyObject *unused)
{
    PyObject *d = PyDict_New();
    if (!d) return NULL;
    for (int i = 1; i < (int)XHAL_OP_MAX_ID_; i++) {
        const char *n = xhal_op_name((xhal_op)i);
        if (!n || strcmp(n, "invalid") == 0) continue;
        PyObject *v = PyLong_FromLong(i);
        if (!v || PyDict_SetItemString(d, n, v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(v);
    }
    return d;
}

static PyObject *m_link_name(PyObject *m, PyObject *arg)
{
    long v = PyLong_AsLong(arg);
    if (v == -1 && PyErr_Occurred()) return NULL;
    return PyUnicode_FromString(xhal_link_name((xhal_link)v));
}

static PyMethodDef module_methods[] = {
    {"version", m_version, METH_NOARGS, "version() -> str: libxhal's version, 'MAJOR.MINOR.PATCH'."},
    {"status_name", m_status_name, METH_O, "status_name(status: int) -> str: e.g. 'XHAL_ERROR_OUT_OF_RANGE'."},
    {"dtype_name", m_dtype_name, METH_O, "dtype_name(dtype) -> str: the canonical name ('f32', 'bf16'...)."},
    {"dtype_size", m_dtype_size, METH_O, "dtype_size(dtype) -> int: bytes per element (0 for block-quantized dtypes)."},
    {"dtype_info", m_dtype_info, METH_O,
     "dtype_info(dtype) -> dict: name, block_size, block_bytes, is_float, is_integer, is_quantized."},
    {"op_name", m_op_name, METH_O, "op_name(op: int) -> str: 'add', 'rms_norm'...; 'invalid' if unknown."},
    {"op_from_name", m_op_from_name, METH_O, "op_from_name(name: str) -> int: the xhal_op value."},
    {"op_catalogue", m_op_catalogue, METH_NOARGS,
     "op_catalogue() -> dict[str, int]: every op of the catalogue by name."},
    {"link_name", m_link_name, METH_O, "link_name(link: int) -> str: 'SELF', 'PIX', ... 'SYS', 'UNKNOWN'."},
    {"from_dlpack", (PyCFunction)(void (*)(void))xpy_from_dlpack, METH_VARARGS | METH_KEYWORDS,
     "from_dlpack(obj, device, stream=None, copy=None) -> Tensor\n\n"
     "Import an object that implements __dlpack__ (numpy, torch, xhal) onto device. Host (kDLCPU)\n"
     "memory is wrapped without a copy when the device's memory is host memory and the backend can\n"
     "wrap it (copy=None or False); otherwise the elements are copied into a new tensor (copy=False\n"
     "then raises BufferError). Tensor.is_foreign says which happened."},
    {NULL, NULL, 0, NULL},
};

static int add_method_table(PyObject *module, PyMethodDef *defs)
{
    PyObject *name = PyModule_GetNameObject(module);
    if (!name) return -1;
    for (PyMethodDef *d = defs; d->ml_name; d++) {
        PyObject *f = PyCFunction_NewEx(d, module, name);
        if (!f || PyModule_AddObject(module, d->ml_name, f) < 0) {
            Py_XDECREF(f);
            Py_DECREF(name);
            return -1;
        }
    }
    Py_DECREF(name);
    return 0;
}

static struct PyModuleDef xhal_module = {
    PyModuleDef_HEAD_INIT,
    "xhal._xhal",
    "The native part of the xhal package: a CPython extension over libxhal's public C API\n"
    "(include/xhal/xhal.h, xhal_topology.h) and the Llama-family port (xhal_llama).\n"
    "Use it through the xhal package.",
    -1,
    module_methods,
    NULL,
    NULL,
    NULL,
    NULL};

static int add_type(PyObject *m, PyTypeObject *t, const char *name)
{
    if (PyType_Ready(t) < 0) return -1;
    Py_INCREF(t);
    if (PyModule_AddObject(m, name, (PyObject *)t) < 0) {
        Py_DECREF(t);
        return -1;
    }
    return 0;
}

PyMODINIT_FUNC PyInit__xhal(void)
{
    PyObject *m = PyModule_Create(&xhal_module);
    if (!m) return NULL;
    if (xpy_errors_init(m) < 0 || add_type(m, &XpyContext_Type, "Context") < 0 ||
        add_type(m, &XpyDevice_Type, "Device") < 0 || add_type(m, &XpyBuffer_Type, "Buffer") < 0 ||
        add_type(m, &XpyTensor_Type, "Tensor") < 0 || add_type(m, &XpyStream_Type, "Stream") < 0 ||
        add_type(m, &XpyEvent_Type, "Event") < 0 || add_type(m, &XpyProgram_Type, "Program") < 0 ||
        xpy_ops_init() < 0 || add_method_table(m, xpy_op_methods) < 0 || xpy_llama_init(m) < 0)
        goto fail;
#define ADD_INT(name, v) \
    if (PyModule_AddIntConstant(m, name, (long)(v)) < 0) goto fail
    ADD_INT("MAX_DIMS", XHAL_MAX_DIMS);
    ADD_INT("CAP_F16_COMPUTE", XHAL_CAP_F16_COMPUTE);
    ADD_INT("CAP_F64", XHAL_CAP_F64);
    ADD_INT("CAP_HOST_MEMORY", XHAL_CAP_HOST_MEMORY);
    ADD_INT("CAP_EVENT_TIMING", XHAL_CAP_EVENT_TIMING);
    ADD_INT("CAP_PEER_COPY", XHAL_CAP_PEER_COPY);
    ADD_INT("CAP_CUSTOM_KERNELS", XHAL_CAP_CUSTOM_KERNELS);
    ADD_INT("CAP_PINNED_HOST", XHAL_CAP_PINNED_HOST);
    ADD_INT("CAP_MATMUL_I8", XHAL_CAP_MATMUL_I8);
    ADD_INT("ROPE_HALF", XHAL_ROPE_HALF);
    ADD_INT("ROPE_INTERLEAVED", XHAL_ROPE_INTERLEAVED);
    ADD_INT("LOG_OFF", XHAL_LOG_OFF);
    ADD_INT("LOG_ERROR", XHAL_LOG_ERROR);
    ADD_INT("LOG_WARN", XHAL_LOG_WARN);
    ADD_INT("LOG_INFO", XHAL_LOG_INFO);
    ADD_INT("LOG_DEBUG", XHAL_LOG_DEBUG);
#undef ADD_INT
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
