/*
 * xpy.h - shared declarations of the xhal Python extension module (xhal._xhal).
 *
 * Object graph: every wrapper holds a strong reference to the object it depends on, never
 * the other way round, so there are no reference cycles and a context is destroyed last:
 *   Tensor, Buffer, Stream, Event, Program, Model -> Device -> Context.
 * A tensor also keeps `base` alive: the Buffer it was made from, the tensor it is a view
 * of, or the foreign memory it wraps (DLPack import without a copy).
 *
 * The GIL is released around every xhal call that may take time (ops, transfers,
 * synchronization, context creation, model load and generation). xhal's error message is
 * thread-local and is read on the same thread right after the call.
 */
#ifndef XPY_H
#define XPY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "xhal/xhal.h"
#include "xhal/xhal_topology.h"

typedef struct XpyContext {
    PyObject_HEAD xhal_context *ctx;
    int n_devices;
    xhal_stream **default_streams; /* one per device index, created on first use */
} XpyContext;

typedef struct XpyDevice {
    PyObject_HEAD XpyContext *ctx; /* strong */
    xhal_device *dev;
    int index; /* index in the context (xhal_device_get) */
} XpyDevice;

typedef struct XpyBuffer {
    PyObject_HEAD XpyDevice *dev; /* strong */
    xhal_buffer *buf;
    PyObject *owner; /* non-NULL: the tensor whose buffer this is (not destroyed by us) */
} XpyBuffer;

typedef struct XpyTensor {
    PyObject_HEAD XpyDevice *dev; /* strong */
    xhal_tensor *t;
    PyObject *base; /* may be NULL */
    int foreign;    /* 1: the memory belongs to an imported (DLPack) object, not copied */
} XpyTensor;

typedef struct XpyStream {
    PyObject_HEAD XpyDevice *dev; /* strong */
    xhal_stream *s;
    int borrowed; /* the device's default stream: the context destroys it */
} XpyStream;

typedef struct XpyEvent {
    PyObject_HEAD XpyDevice *dev;
    xhal_event *ev;
} XpyEvent;

typedef struct XpyProgram {
    PyObject_HEAD XpyDevice *dev;
    xhal_program *p;
} XpyProgram;

extern PyTypeObject XpyContext_Type;
extern PyTypeObject XpyDevice_Type;
extern PyTypeObject XpyBuffer_Type;
extern PyTypeObject XpyTensor_Type;
extern PyTypeObject XpyStream_Type;
extern PyTypeObject XpyEvent_Type;
extern PyTypeObject XpyProgram_Type;
extern PyTypeObject XpyModel_Type;

#define XpyTensor_Check(o) PyObject_TypeCheck((o), &XpyTensor_Type)
#define XpyDevice_Check(o) PyObject_TypeCheck((o), &XpyDevice_Type)
#define XpyStream_Check(o) PyObject_TypeCheck((o), &XpyStream_Type)

/* ---- errors.c ---- */
int xpy_errors_init(PyObject *module);
/* Raise the exception class of st with xhal_last_error() as its message; returns NULL. */
PyObject *xpy_raise(xhal_status st);
/* Raise the exception class of st with msg. */
PyObject *xpy_raise_msg(xhal_status st, const char *msg);
/* printf-style variant. */
PyObject *xpy_raise_fmt(xhal_status st, const char *fmt, ...);

/* ---- module.c helpers ---- */
/* dtype from a name ("f32", "float32", "bfloat16"...), an int, or None (-> dflt). Returns
 * 0 on success; raises and returns -1 otherwise. */
int xpy_parse_dtype(PyObject *o, xhal_dtype dflt, xhal_dtype *out);
/* A sequence of at most XHAL_MAX_DIMS ints. what names the argument in the message. */
int xpy_parse_dims(PyObject *o, const char *what, int *ndim, int64_t *dims);
PyObject *xpy_dims_tuple(int ndim, const int64_t *dims);
/* op from a name ("add") or an int. */
int xpy_parse_op(PyObject *o, xhal_op *out);

/* ---- context.c ---- */
/* A new Device wrapper for dev of ctx (index found by search when -1). */
PyObject *xpy_device_new(XpyContext *ctx, xhal_device *dev, int index);
/* The device's default stream (created on first use); NULL with an exception set. */
xhal_stream *xpy_default_stream(XpyDevice *dev);
/* Resolve a `stream=` argument: None -> dev's default stream; a Stream -> its handle. */
int xpy_resolve_stream(PyObject *stream, XpyDevice *dev, xhal_stream **out);

/* ---- tensor.c ---- */
/* Wrap a new tensor handle (takes ownership; destroys it on failure). */
PyObject *xpy_tensor_wrap(XpyDevice *dev, xhal_tensor *t, PyObject *base);
/* A tensor argument (or None when allow_none): its handle or NULL. what names it. */
int xpy_tensor_arg(PyObject *o, const char *what, int allow_none, xhal_tensor **out);

/* ---- dlpack.c ---- */
PyObject *xpy_tensor_dlpack(PyObject *self, PyObject *args, PyObject *kwargs);
PyObject *xpy_tensor_dlpack_device(PyObject *self, PyObject *unused);
PyObject *xpy_from_dlpack(PyObject *module, PyObject *args, PyObject *kwargs);

/* ---- ops.c ---- */
extern PyMethodDef xpy_op_methods[];
/* Fills what xpy_op_methods takes from the op table (unary's docstring); before adding them. */
int xpy_ops_init(void);

/* ---- llama.c ---- */
int xpy_llama_init(PyObject *module);

#endif
