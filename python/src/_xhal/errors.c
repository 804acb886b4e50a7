/* errors.c - Python exceptions for xhal statuses: xhal.Error and one subclass per status.
 * Every exception carries .status (the int), .status_name ("XHAL_ERROR_SHAPE_MISMATCH") and
 * .message (xhal's message, also str(exc)). Statuses about bad values also derive from
 * ValueError (IndexError for OUT_OF_RANGE) so that generic Python code can catch them. */
#include <stdarg.h>
#include <stdio.h>

#include "xpy.h"

static PyObject *xpy_base_error;
static PyObject *xpy_status_errors[XHAL_ERROR_INTERNAL + 1];

static const struct {
    xhal_status st;
    const char *name; /* class name in the module */
    int py_kind;      /* 0: Error only; 1: also ValueError; 2: also IndexError */
} ERRS[] = {
    {XHAL_ERROR_INVALID_ARGUMENT, "InvalidArgumentError", 1},
    {XHAL_ERROR_INVALID_HANDLE, "InvalidHandleError", 0},
    {XHAL_ERROR_DTYPE_MISMATCH, "DtypeMismatchError", 1},
    {XHAL_ERROR_SHAPE_MISMATCH, "ShapeMismatchError", 1},
    {XHAL_ERROR_OUT_OF_RANGE, "OutOfRangeError", 2},
    {XHAL_ERROR_OVERFLOW, "SizeOverflowError", 1},
    {XHAL_ERROR_OUT_OF_MEMORY, "OutOfMemoryError", 0},
    {XHAL_ERROR_UNSUPPORTED, "UnsupportedError", 0},
    {XHAL_ERROR_UNAVAILABLE, "UnavailableError", 0},
    {XHAL_ERROR_NOT_FOUND, "NotFoundError", 0},
    {XHAL_ERROR_WRONG_DEVICE, "WrongDeviceError", 1},
    {XHAL_ERROR_IO, "FileIOError", 0},
    {XHAL_ERROR_CORRUPT_DATA, "CorruptDataError", 0},
    {XHAL_ERROR_ABI_MISMATCH, "AbiMismatchError", 0},
    {XHAL_ERROR_BACKEND, "BackendError", 0},
    {XHAL_ERROR_INTERNAL, "InternalError", 0},
};

int xpy_errors_init(PyObject *module)
{
    xpy_base_error =
        PyErr_NewExceptionWithDoc("xhal.Error",
                                  "An xhal call failed. .status is the xhal_status value, .status_name its name, "
                                  ".message (also str(exc)) xhal's message naming what was wrong.",
                                  PyExc_Exception, NULL);
    if (!xpy_base_error) return -1;
    Py_INCREF(xpy_base_error);
    if (PyModule_AddObject(module, "Error", xpy_base_error) < 0) return -1;
    for (size_t i = 0; i < sizeof ERRS / sizeof ERRS[0]; i++) {
        char qual[96];
        snprintf(qual, sizeof qual, "xhal.%s", ERRS[i].name);
        PyObject *bases;
        if (ERRS[i].py_kind == 1)
            bases = PyTuple_Pack(2, xpy_base_error, PyExc_ValueError);
        else if (ERRS[i].py_kind == 2)
            bases = PyTuple_Pack(2, xpy_base_error, PyExc_IndexError);
        else
            bases = PyTuple_Pack(1, xpy_base_error);
        if (!bases) return -1;
        char doc[128];
        snprintf(doc, sizeof doc, "xhal status %s.", xhal_status_name(ERRS[i].st));
        PyObject *cls = PyErr_NewExceptionWithDoc(qual, doc, bases, NULL);
        Py_DECREF(bases);
        if (!cls) return -1;
        xpy_status_errors[ERRS[i].st] = cls;
        Py_INCREF(cls);
        if (PyModule_AddObject(module, ERRS[i].name, cls) < 0) return -1;
    }
    return 0;
}

PyObject *xpy_raise_msg(xhal_status st, const char *msg)
{
    PyObject *cls = xpy_base_error;
    if ((int)st > 0 && (int)st <= (int)XHAL_ERROR_INTERNAL && xpy_status_errors[st]) cls = xpy_status_errors[st];
    PyObject *exc = PyObject_CallFunction(cls, "s", msg ? msg : "");
    if (!exc) return NULL;
    PyObject *v;
    if ((v = PyLong_FromLong((long)st))) {
        PyObject_SetAttrString(exc, "status", v);
        Py_DECREF(v);
    }
    if ((v = PyUnicode_FromString(xhal_status_name(st)))) {
        PyObject_SetAttrString(exc, "status_name", v);
        Py_DECREF(v);
    }
    if ((v = PyUnicode_FromString(msg ? msg : ""))) {
        PyObject_SetAttrString(exc, "message", v);
        Py_DECREF(v);
    }
    PyErr_SetObject(cls, exc);
    Py_DECREF(exc);
    return NULL;
}

PyObject *xpy_raise(xhal_status st)
{
    const char *m = xhal_last_error();
    return xpy_raise_msg(st, m && *m ? m : xhal_status_name(st));
}

PyObject *xpy_raise_fmt(xhal_status st, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return xpy_raise_msg(st, buf);
}
