/* kernel.c - xhal.Program: custom kernels in the portable dialect (backends/kernels/README.md)
 * on devices with the custom_kernels capability. */
#include <string.h>

#include "xpy.h"

static PyObject *prog_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"device", "source", "options", NULL};
    PyObject *devo;
    const char *source, *options = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "Os|z:Program", kw, &devo, &source, &options)) return NULL;
    if (!XpyDevice_Check(devo)) {
        PyErr_Format(PyExc_TypeError, "Program: device must be an xhal.Device, got %R", devo);
        return NULL;
    }
    XpyDevice *dev = (XpyDevice *)devo;
    xhal_program *p = NULL;
    xhal_status st;
    Py_BEGIN_ALLOW_THREADS st = xhal_program_create(dev->dev, source, options, &p);
    Py_END_ALLOW_THREADS if (st != XHAL_OK) return xpy_raise(st);
    XpyProgram *self = (XpyProgram *)type->tp_alloc(type, 0);
    if (!self) {
        xhal_program_destroy(p);
        return NULL;
    }
    Py_INCREF(dev);
    self->dev = dev;
    self->p = p;
    return (PyObject *)self;
}

static void prog_dealloc(XpyProgram *self)
{
    if (self->p) xhal_program_destroy(self->p);
    Py_XDECREF(self->dev);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int parse_sizes(PyObject *o, const char *what, int *dims, uint64_t *out)
{
    int64_t v[XHAL_MAX_DIMS];
    int n;
    if (xpy_parse_dims(o, what, &n, v) < 0) return -1;
    if (n < 1 || n > 3) {
        xpy_raise_fmt(XHAL_ERROR_INVALID_ARGUMENT, "launch: %s has %d entries (1 to 3)", what, n);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        if (v[i] < 0) {
            xpy_raise_fmt(XHAL_ERROR_INVALID_ARGUMENT, "launch: %s[%d] = %lld is negative", what, i, (long long)v[i]);
            return -1;
        }
        out[i] = (uint64_t)v[i];
    }
    *dims = n;
    return 0;
}

static int parse_arg(PyObject *o, int i, xhal_kernel_arg *a)
{
    memset(a, 0, sizeof *a);
    if (XpyTensor_Check(o)) {
        a->kind = XHAL_ARG_TENSOR;
        a->value.tensor = ((XpyTensor *)o)->t;
        return 0;
    }
    if (PyTuple_Check(o) && PyTuple_GET_SIZE(o) == 2 && PyUnicode_Check(PyTuple_GET_ITEM(o, 0))) {
        const char *k = PyUnicode_AsUTF8(PyTuple_GET_ITEM(o, 0));
        PyObject *v = PyTuple_GET_ITEM(o, 1);
        if (!k) return -1;
        if (strcmp(k, "i32") == 0) {
            long x = PyLong_AsLong(v);
            if (x == -1 && PyErr_Occurred()) return -1;
            if (x < INT32_MIN || x > INT32_MAX) {
                xpy_raise_fmt(XHAL_ERROR_INVALID_ARGUMENT, "launch: args[%d] = %ld does not fit i32", i, x);
                return -1;
            }
            a->kind = XHAL_ARG_I32;
            a->value.i32 = (int32_t)x;
            return 0;
        }
        if (strcmp(k, "i64") == 0) {
            long long x = PyLong_AsLongLong(v);
            if (x == -1 && PyErr_Occurred()) return -1;
            a->kind = XHAL_ARG_I64;
            a->value.i64 = (int64_t)x;
            return 0;
        }
        if (strcmp(k, "f32") == 0) {
            double x = PyFloat_AsDouble(v);
            if (x == -1.0 && PyErr_Occurred()) return -1;
            a->kind = XHAL_ARG_F32;
            a->value.f32 = (float)x;
            return 0;
        }
        xpy_raise_fmt(XHAL_ERROR_INVALID_ARGUMENT, "launch: args[%d] kind '%s' is not i32, i64 or f32", i, k);
        return -1;
    }
    if (PyLong_Check(o) && !PyBool_Check(o)) {
        long long x = PyLong_AsLongLong(o);
        if (x == -1 && PyErr_Occurred()) return -1;
        a->kind = XHAL_ARG_I64;
        a->value.i64 = (int64_t)x;
        return 0;
    }
    if (PyFloat_Check(o)) {
        a->kind = XHAL_ARG_F32;
        a->value.f32 = (float)PyFloat_AS_DOUBLE(o);
        return 0;
    }
    PyErr_Format(PyExc_TypeError,
                 "launch: args[%d] must be a Tensor, an int (i64), a float (f32) or ('i32'|'i64'|'f32', value), got %R",
                 i, o);
    return -1;
}

static PyObject *prog_launch(XpyProgram *self, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"name", "global_size", "args", "local_size", "stream", NULL};
    const char *name;
    PyObject *gso, *argso, *lso = Py_None, *stream = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "sOO|OO:launch", kw, &name, &gso, &argso, &lso, &stream))
        return NULL;
    uint64_t gs[3], ls[3];
    int gd, ld = 0;
    if (parse_sizes(gso, "global_size", &gd, gs) < 0) return NULL;
    if (lso != Py_None) {
        if (parse_sizes(lso, "local_size", &ld, ls) < 0) return NULL;
        if (ld != gd)
            return xpy_raise_fmt(XHAL_ERROR_INVALID_ARGUMENT, "launch: local_size has %d dims, global_size %d", ld, gd);
    }
    xhal_stream *s;
    if (xpy_resolve_stream(stream, self->dev, &s) < 0) return NULL;
    PyObject *seq = PySequence_Fast(argso, "launch: args must be a sequence");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n > 256) {
        Py_DECREF(seq);
        return xpy_raise_fmt(XHAL_ERROR_INVALID_ARGUMENT, "launch: %zd arguments (at most 256)", n);
    }
    xhal_kernel_arg ka[256];
    for (Py_ssize_t i = 0; i < n; i++)
        if (parse_arg(PySequence_Fast_GET_ITEM(seq, i), (int)i, &ka[i]) < 0) {
            Py_DECREF(seq);
            return NULL;
        }
    xhal_status st;
    Py_BEGIN_ALLOW_THREADS st = xhal_kernel_launch(s, self->p, name, gd, gs, lso == Py_None ? NULL : ls, (int)n, ka);
    Py_END_ALLOW_THREADS Py_DECREF(seq); /* the tensors stay alive while seq is held */
    if (st != XHAL_OK) return xpy_raise(st);
    Py_RETURN_NONE;
}

static PyMethodDef prog_methods[] = {
    {"launch", (PyCFunction)(void (*)(void))prog_launch, METH_VARARGS | METH_KEYWORDS,
     "launch(name, global_size, args, local_size=None, stream=None) -> None\n\n"
     "Queue kernel `name` over global_size (1 to 3 dims) work items. args: Tensor (a pointer to its\n"
     "element 0), int (i64), float (f32), or a tuple ('i32'|'i64'|'f32', value)."},
    {NULL, NULL, 0, NULL},
};

PyTypeObject XpyProgram_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "xhal.Program",
    .tp_basicsize = sizeof(XpyProgram),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Program(device, source, options=None)\n\nCompile source in the portable kernel dialect for device\n"
              "(devices with the custom_kernels capability; others raise UnsupportedError). A compile\n"
              "error raises BackendError with the compiler log.",
    .tp_new = prog_new,
    .tp_dealloc = (destructor)prog_dealloc,
    .tp_methods = prog_methods,
};
