/* dlpack.c - DLPack exchange both ways (the Python array API protocol):
 *   Tensor.__dlpack__ / __dlpack_device__   export (numpy.from_dlpack, torch.from_dlpack...)
 *   xhal._xhal.from_dlpack(obj, device)     import of any object with __dlpack__
 *
 * The structs below are the DLPack ABI (dlpack.h, v1.x), written from the specification.
 * Exports are always host memory (kDLCPU). A tensor whose backend lends its memory to the host
 * (xhal_tensor_host_pointer: the cpu backend) is exported without a copy, the capsule keeping
 * the Tensor alive; any other tensor is copied to host memory first and the versioned capsule
 * carries DLPACK_FLAG_BITMASK_IS_COPIED. Imports take host memory (kDLCPU, kDLCUDAHost; other
 * device types are refused with BufferError): wrapped in place (xhal_buffer_wrap_host, the
 * capsule kept until xhal frees the buffer) when the device's backend can and the memory is
 * writable with non-negative aligned strides, else copied onto the device. */
#include <stdlib.h>
#include <string.h>

#include "xpy.h"

/* ---------------------------------------------------------------- DLPack ABI */
typedef enum { kDLCPU = 1, kDLCUDA = 2, kDLCUDAHost = 3, kDLOpenCL = 4 } DLDeviceType;
typedef struct {
    int32_t device_type;
    int32_t device_id;
} DLDevice;
typedef enum {
    kDLInt = 0,
    kDLUInt = 1,
    kDLFloat = 2,
    kDLOpaqueHandle = 3,
    kDLBfloat = 4,
    kDLComplex = 5,
    kDLBool = 6
} DLDataTypeCode;
typedef struct {
    uint8_t code;
    uint8_t bits;
    uint16_t lanes;
} DLDataType;
typedef struct {
    void *data;
    DLDevice device;
    int32_t ndim;
    DLDataType dtype;
    int64_t *shape;
    int64_t *strides;
    uint64_t byte_offset;
} DLTensor;
typedef struct DLManagedTensor {
    DLTensor dl_tensor;
    void *manager_ctx;
    void (*deleter)(struct DLManagedTensor *self);
} DLManagedTensor;
typedef struct {
    uint32_t major;
    uint32_t minor;
} DLPackVersion;
typedef struct DLManagedTensorVersioned {
    DLPackVersion version;
    void *manager_ctx;
    void (*deleter)(struct DLManagedTensorVersioned *self);
    uint64_t flags;
    DLTensor dl_tensor;
} DLManagedTensorVersioned;
#define DLPACK_MAJOR_VERSION 1u
#define DLPACK_MINOR_VERSION 0u
#define DLPACK_FLAG_BITMASK_READ_ONLY (1ull << 0)
#define DLPACK_FLAG_BITMASK_IS_COPIED (1ull << 1)

/* ---------------------------------------------------------------- dtypes */
static int to_dl_dtype(xhal_dtype dt, DLDataType *out)
{
    out->lanes = 1;
    switch (dt) {
        case XHAL_DTYPE_F32:
            out->code = kDLFloat;
            out->bits = 32;
            return 0;
        case XHAL_DTYPE_F16:
            out->code = kDLFloat;
            out->bits = 16;
            return 0;
        case XHAL_DTYPE_F64:
            out->code = kDLFloat;
            out->bits = 64;
            return 0;
        case XHAL_DTYPE_BF16:
            out->code = kDLBfloat;
            out->bits = 16;
            return 0;
        case XHAL_DTYPE_I8:
            out->code = kDLInt;
            out->bits = 8;
            return 0;
        case XHAL_DTYPE_I32:
            out->code = kDLInt;
            out->bits = 32;
            return 0;
        case XHAL_DTYPE_I64:
            out->code = kDLInt;
            out->bits = 64;
            return 0;
        case XHAL_DTYPE_U8:
            out->code = kDLUInt;
            out->bits = 8;
            return 0;
        default: return -1;
    }
}

static int from_dl_dtype(DLDataType d, xhal_dtype *out)
{
    *out = XHAL_DTYPE_INVALID;
    if (d.lanes == 1) {
        if (d.code == kDLFloat)
            *out = d.bits == 32   ? XHAL_DTYPE_F32
                   : d.bits == 16 ? XHAL_DTYPE_F16
                   : d.bits == 64 ? XHAL_DTYPE_F64
                                  : XHAL_DTYPE_INVALID;
        else if (d.code == kDLBfloat && d.bits == 16)
            *out = XHAL_DTYPE_BF16;
        else if (d.code == kDLInt)
            *out = d.bits == 8    ? XHAL_DTYPE_I8
                   : d.bits == 32 ? XHAL_DTYPE_I32
                   : d.bits == 64 ? XHAL_DTYPE_I64
                                  : XHAL_DTYPE_INVALID;
        else if (d.code == kDLUInt && d.bits == 8)
            *out = XHAL_DTYPE_U8;
    }
    if (*out != XHAL_DTYPE_INVALID) return 0;
    static const char *codes[] = {"int", "uint", "float", "opaque", "bfloat", "complex", "bool"};
    xpy_raise_fmt(XHAL_ERROR_DTYPE_MISMATCH,
                  "from_dlpack: xhal has no dtype for DLPack %s%u (lanes %u); it takes float16/32/64, bfloat16, "
                  "int8/32/64 and uint8",
                  d.code < 7 ? codes[d.code] : "code?", (unsigned)d.bits, (unsigned)d.lanes);
    return -1;
}

/* Python objects are released from callbacks that may run without the GIL (xhal frees a
 * wrapped buffer on the thread that drops its last reference). Not once the interpreter is
 * finalizing: then the reference is left (the process is ending). */
static void decref_with_gil(PyObject *o)
{
#if PY_VERSION_HEX >= 0x030D0000
    if (Py_IsFinalizing()) return;
#else
    if (_Py_IsFinalizing()) return;
#endif
    PyGILState_STATE g = PyGILState_Ensure();
    Py_DECREF(o);
    PyGILState_Release(g);
}

static void release_capsule(void *user) { decref_with_gil((PyObject *)user); }

/* ---------------------------------------------------------------- export */

/* What an exported capsule owns: the managed tensor, shape and strides, and either a host
 * copy of the elements (copy != NULL) or a reference to the exported Tensor. */
typedef struct export_ctx {
    union {
        DLManagedTensor legacy;
        DLManagedTensorVersioned versioned;
    } mt;
    int versioned;
    int64_t shape[XHAL_MAX_DIMS];
    int64_t strides[XHAL_MAX_DIMS];
    void *copy;    /* the host copy, or NULL */
    PyObject *ref; /* the Tensor kept alive while the memory is lent, or NULL */
} export_ctx;

static void export_free(export_ctx *e)
{
    if (!e) return;
    free(e->copy);
    if (e->ref) decref_with_gil(e->ref);
    free(e);
}

static void deleter_legacy(DLManagedTensor *m) { export_free(m ? (export_ctx *)m->manager_ctx : NULL); }

static void deleter_versioned(DLManagedTensorVersioned *m) { export_free(m ? (export_ctx *)m->manager_ctx : NULL); }

/* Called when the capsule dies: deletes the tensor unless a consumer took it (renamed it). */
static void capsule_destructor(PyObject *cap)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (PyCapsule_IsValid(cap, "dltensor")) {
        DLManagedTensor *m = PyCapsule_GetPointer(cap, "dltensor");
        if (m && m->deleter) m->deleter(m);
    } else if (PyCapsule_IsValid(cap, "dltensor_versioned")) {
        DLManagedTensorVersioned *m = PyCapsule_GetPointer(cap, "dltensor_versioned");
        if (m && m->deleter) m->deleter(m);
    }
    PyErr_Restore(type, value, tb);
}

/* Host pointer of the tensor's element 0 when its memory can be lent without a copy;
 * NULL (no exception) when it cannot. */
static void *lendable_pointer(XpyTensor *t);

PyObject *xpy_tensor_dlpack(PyObject *selfo, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"stream", "max_version", "dl_device", "copy", NULL};
    XpyTensor *self = (XpyTensor *)selfo;
    PyObject *stream = Py_None, *max_version = Py_None, *dl_device = Py_None, *copyo = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|$OOOO:__dlpack__", kw, &stream, &max_version, &dl_device, &copyo))
        return NULL;
    if (stream != Py_None && !PyLong_Check(stream)) {
        PyErr_Format(PyExc_TypeError, "__dlpack__: stream must be None or an int, got %R", stream);
        return NULL;
    }
    if (stream != Py_None) {
        long v = PyLong_AsLong(stream);
        if (v == -1 && PyErr_Occurred()) return NULL;
        if (v != -1) {
            PyErr_Format(PyExc_BufferError,
                         "__dlpack__: the export is host memory (kDLCPU); stream must be None or -1, got %ld", v);
            return NULL;
        }
    }
    if (dl_device != Py_None) {
        int dt = 0, di = 0;
        if (!PyArg_ParseTuple(dl_device, "ii", &dt, &di)) return NULL;
        if (dt != kDLCPU || di != 0) {
            PyErr_Format(PyExc_BufferError, "__dlpack__: xhal exports to host memory (kDLCPU, 0) only, not (%d, %d)",
                         dt, di);
            return NULL;
        }
    }
    int versioned = 0;
    if (max_version != Py_None) {
        unsigned major = 0, minor = 0;
        if (!PyArg_ParseTuple(max_version, "II", &major, &minor)) return NULL;
        versioned = major >= 1;
    }
    int want_copy = -1; /* -1: as needed */
    if (copyo != Py_None) want_copy = PyObject_IsTrue(copyo);
    if (want_copy == -1 && PyErr_Occurred()) return NULL;

    xhal_dtype dt;
    int nd;
    int64_t shape[XHAL_MAX_DIMS], strides[XHAL_MAX_DIMS], numel;
    xhal_status st = xhal_tensor_dtype(self->t, &dt);
    if (st == XHAL_OK) st = xhal_tensor_shape(self->t, &nd, shape, strides);
    if (st == XHAL_OK) st = xhal_tensor_numel(self->t, &numel);
    if (st != XHAL_OK) return xpy_raise(st);
    DLDataType dld;
    if (to_dl_dtype(dt, &dld) < 0)
        return xpy_raise_fmt(XHAL_ERROR_DTYPE_MISMATCH, "__dlpack__: dtype %s has no DLPack type", xhal_dtype_name(dt));
    size_t isz = xhal_dtype_size(dt);

    /* wait for the device's queued work on the default stream before lending or copying */
    xhal_stream *s = xpy_default_stream(self->dev);
    if (!s) return NULL;
    Py_BEGIN_ALLOW_THREADS st = xhal_stream_synchronize(s);
    Py_END_ALLOW_THREADS if (st != XHAL_OK) return xpy_raise(st);

    void *lent = want_copy == 1 ? NULL : lendable_pointer(self);
    if (!lent && PyErr_Occurred()) return NULL;
    if (!lent && want_copy == 0) {
        PyErr_SetString(PyExc_BufferError,
                        "__dlpack__(copy=False): this tensor's memory cannot be lent to the host without a copy "
                        "(only host-memory devices whose backend exposes their buffers can)");
        return NULL;
    }
    export_ctx *e = calloc(1, sizeof *e);
    if (!e) return PyErr_NoMemory();
    e->versioned = versioned;
    DLTensor *dl = versioned ? &e->mt.versioned.dl_tensor : &e->mt.legacy.dl_tensor;
    if (lent) {
        memcpy(e->shape, shape, sizeof(int64_t) * (size_t)nd);
        memcpy(e->strides, strides, sizeof(int64_t) * (size_t)nd);
        Py_INCREF(selfo);
        e->ref = selfo;
        dl->data = lent;
    } else {
        /* a row-major host copy */
        size_t bytes = (size_t)numel * isz;
        e->copy = malloc(bytes ? bytes : 1);
        if (!e->copy) {
            free(e);
            return PyErr_NoMemory();
        }
        if (bytes) {
            Py_BEGIN_ALLOW_THREADS st = xhal_tensor_read(s, self->t, e->copy, (uint64_t)bytes);
            Py_END_ALLOW_THREADS if (st != XHAL_OK)
            {
                export_free(e);
                return xpy_raise(st);
            }
        }
        memcpy(e->shape, shape, sizeof(int64_t) * (size_t)nd);
        int64_t acc = 1;
        for (int i = nd - 1; i >= 0; i--) {
            e->strides[i] = acc;
            acc *= shape[i] > 0 ? shape[i] : 1;
        }
        dl->data = e->copy;
    }
    dl->device.device_type = kDLCPU;
    dl->device.device_id = 0;
    dl->ndim = nd;
    dl->dtype = dld;
    dl->shape = e->shape;
    dl->strides = e->strides;
    dl->byte_offset = 0;
    PyObject *cap;
    if (versioned) {
        e->mt.versioned.version.major = DLPACK_MAJOR_VERSION;
        e->mt.versioned.version.minor = DLPACK_MINOR_VERSION;
        e->mt.versioned.manager_ctx = e;
        e->mt.versioned.deleter = deleter_versioned;
        e->mt.versioned.flags = lent ? 0 : DLPACK_FLAG_BITMASK_IS_COPIED;
        cap = PyCapsule_New(&e->mt.versioned, "dltensor_versioned", capsule_destructor);
    } else {
        e->mt.legacy.manager_ctx = e;
        e->mt.legacy.deleter = deleter_legacy;
        cap = PyCapsule_New(&e->mt.legacy, "dltensor", capsule_destructor);
    }
    if (!cap) export_free(e);
    return cap;
}

PyObject *xpy_tensor_dlpack_device(PyObject *self, PyObject *unused) { return Py_BuildValue("(ii)", (int)kDLCPU, 0); }

static void *lendable_pointer(XpyTensor *t)
{
    void *p = NULL;
    /* UNSUPPORTED (not host memory, or the backend does not lend it) means: copy */
    if (xhal_tensor_host_pointer(t->t, &p) != XHAL_OK) return NULL;
    return p;
}

/* ---------------------------------------------------------------- import */

/* Copy a strided host array (byte strides) into dst, row-major. */
static void pack_rows(char *dst, const char *src, int nd, const int64_t *shape, const int64_t *bstrides, size_t isz)
{
    if (nd == 0) {
        memcpy(dst, src, isz);
        return;
    }
    int64_t idx[XHAL_MAX_DIMS] = {0};
    const int64_t inner = shape[nd - 1];
    const int64_t is = bstrides[nd - 1];
    for (;;) {
        const char *p = src;
        for (int d = 0; d < nd - 1; d++) p += idx[d] * bstrides[d];
        if (is == (int64_t)isz) {
            memcpy(dst, p, (size_t)inner * isz);
            dst += (size_t)inner * isz;
        } else {
            for (int64_t i = 0; i < inner; i++, dst += isz) memcpy(dst, p + i * is, isz);
        }
        int d = nd - 2;
        while (d >= 0 && ++idx[d] == shape[d]) idx[d--] = 0;
        if (d < 0) break;
    }
}

PyObject *xpy_from_dlpack(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kw[] = {"obj", "device", "stream", "copy", NULL};
    PyObject *obj, *devo, *stream = Py_None, *copyo = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|OO:from_dlpack", kw, &obj, &devo, &stream, &copyo)) return NULL;
    if (!XpyDevice_Check(devo)) {
        PyErr_Format(PyExc_TypeError, "from_dlpack: device must be an xhal.Device, got %R", devo);
        return NULL;
    }
    XpyDevice *dev = (XpyDevice *)devo;
    int want_copy = -1;
    if (copyo != Py_None && (want_copy = PyObject_IsTrue(copyo)) < 0) return NULL;

    /* where the producer's memory is */
    PyObject *devt = PyObject_CallMethod(obj, "__dlpack_device__", NULL);
    if (!devt) {
        if (PyErr_ExceptionMatches(PyExc_AttributeError)) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError,
                         "from_dlpack: %.100s has no __dlpack_device__/__dlpack__ (not a DLPack producer)",
                         Py_TYPE(obj)->tp_name);
        }
        return NULL;
    }
    int src_type = 0, src_id = 0;
    int ok = PyArg_ParseTuple(devt, "ii", &src_type, &src_id);
    Py_DECREF(devt);
    if (!ok) return NULL;
    if (src_type != kDLCPU && src_type != kDLCUDAHost) {
        PyErr_Format(PyExc_BufferError,
                     "from_dlpack: the object lives on DLPack device type %d (id %d); xhal imports host memory "
                     "(kDLCPU) only: move it to the CPU first (e.g. torch: t.cpu())",
                     src_type, src_id);
        return NULL;
    }

    /* ask for a versioned capsule; older producers do not take max_version */
    PyObject *kwa = Py_BuildValue("{s:(ii)}", "max_version", 1, 0);
    if (!kwa) return NULL;
    PyObject *meth = PyObject_GetAttrString(obj, "__dlpack__");
    if (!meth) {
        Py_DECREF(kwa);
        return NULL;
    }
    PyObject *empty = PyTuple_New(0);
    PyObject *cap = empty ? PyObject_Call(meth, empty, kwa) : NULL;
    if (!cap && PyErr_ExceptionMatches(PyExc_TypeError)) {
        PyErr_Clear();
        cap = PyObject_Call(meth, empty, NULL);
    }
    Py_XDECREF(empty);
    Py_DECREF(meth);
    Py_DECREF(kwa);
    if (!cap) return NULL;

    DLTensor *dl = NULL;
    uint64_t flags = 0;
    if (PyCapsule_IsValid(cap, "dltensor_versioned")) {
        DLManagedTensorVersioned *m = PyCapsule_GetPointer(cap, "dltensor_versioned");
        if (m->version.major > DLPACK_MAJOR_VERSION) {
            Py_DECREF(cap);
            PyErr_Format(PyExc_BufferError, "from_dlpack: DLPack version %u.%u is newer than the %u.x xhal reads",
                         m->version.major, m->version.minor, DLPACK_MAJOR_VERSION);
            return NULL;
        }
        dl = &m->dl_tensor;
        flags = m->flags;
    } else if (PyCapsule_IsValid(cap, "dltensor")) {
        DLManagedTensor *m = PyCapsule_GetPointer(cap, "dltensor");
        dl = &m->dl_tensor;
    } else {
        Py_DECREF(cap);
        PyErr_SetString(PyExc_BufferError, "from_dlpack: __dlpack__ did not return an unconsumed DLPack capsule");
        return NULL;
    }

    xhal_dtype dt;
    if (dl->ndim < 0 || dl->ndim > XHAL_MAX_DIMS) {
        Py_DECREF(cap);
        return xpy_raise_fmt(XHAL_ERROR_INVALID_ARGUMENT, "from_dlpack: %d dims; xhal tensors have at most %d",
                             (int)dl->ndim, XHAL_MAX_DIMS);
    }
    if (from_dl_dtype(dl->dtype, &dt) < 0) {
        Py_DECREF(cap);
        return NULL;
    }
    const int nd = dl->ndim;
    const size_t isz = xhal_dtype_size(dt);
    int64_t shape[XHAL_MAX_DIMS], bstrides[XHAL_MAX_DIMS], numel = 1;
    for (int i = 0; i < nd; i++) {
        shape[i] = dl->shape[i];
        numel *= shape[i];
    }
    if (dl->strides) {
        for (int i = 0; i < nd; i++) bstrides[i] = dl->strides[i] * (int64_t)isz;
    } else {
        int64_t acc = (int64_t)isz;
        for (int i = nd - 1; i >= 0; i--) {
            bstrides[i] = acc;
            acc *= shape[i] > 0 ? shape[i] : 1;
        }
    }
    /* without a copy: the producer's memory wrapped as a buffer of dev, kept alive by the capsule
     * until xhal frees the buffer */
    if (want_copy != 1) {
        const char *why = NULL;
        int64_t estrides[XHAL_MAX_DIMS];
        uint64_t extent = (uint64_t)isz;
        const char *base = (const char *)dl->data + dl->byte_offset;
        if (flags & DLPACK_FLAG_BITMASK_READ_ONLY)
            why = "the producer exports read-only memory";
        else if (numel == 0)
            why = "the array is empty";
        else if ((uintptr_t)base % isz != 0)
            why = "the data is not aligned to its element size";
        for (int i = 0; !why && i < nd; i++) {
            if (bstrides[i] < 0 || bstrides[i] % (int64_t)isz != 0)
                why = "it has negative or unaligned strides";
            else {
                estrides[i] = bstrides[i] / (int64_t)isz;
                extent += (uint64_t)(shape[i] - 1) * (uint64_t)bstrides[i];
            }
        }
        if (!why) {
            xhal_buffer *buf = NULL;
            Py_INCREF(cap); /* the release callback's reference */
            xhal_status st = xhal_buffer_wrap_host(dev->dev, (void *)base, extent, release_capsule, cap, &buf);
            if (st == XHAL_OK) {
                xhal_tensor *t = NULL;
                st = xhal_tensor_from_buffer(buf, dt, nd, shape, estrides, 0, &t);
                xhal_buffer_destroy(buf); /* the tensor keeps it (or, on failure, it goes now) */
                Py_DECREF(cap);
                if (st != XHAL_OK) return xpy_raise(st);
                PyObject *r = xpy_tensor_wrap(dev, t, NULL);
                if (r) ((XpyTensor *)r)->foreign = 1;
                return r;
            }
            Py_DECREF(cap); /* not wrapped: release was not called */
            if (st != XHAL_ERROR_UNSUPPORTED) {
                Py_DECREF(cap);
                return xpy_raise(st);
            }
            if (want_copy == 0) {
                PyErr_Format(PyExc_BufferError, "from_dlpack(copy=False): %s", xhal_last_error());
                Py_DECREF(cap);
                return NULL;
            }
        } else if (want_copy == 0) {
            PyErr_Format(PyExc_BufferError, "from_dlpack(copy=False): cannot use the memory in place: %s", why);
            Py_DECREF(cap);
            return NULL;
        }
    }

    /* copy: a new tensor on dev, written from a row-major packing of the source */
    xhal_stream *s;
    if (xpy_resolve_stream(stream, dev, &s) < 0) {
        Py_DECREF(cap);
        return NULL;
    }
    xhal_tensor *t = NULL;
    xhal_status st = xhal_tensor_create(dev->dev, dt, nd, shape, &t);
    if (st != XHAL_OK) {
        Py_DECREF(cap);
        return xpy_raise(st);
    }
    if (numel > 0) {
        const char *src = (const char *)dl->data + dl->byte_offset;
        int contiguous = 1;
        int64_t acc = (int64_t)isz;
        for (int i = nd - 1; i >= 0; i--) {
            if (shape[i] != 1 && bstrides[i] != acc) contiguous = 0;
            acc *= shape[i];
        }
        char *tmp = NULL;
        if (!contiguous) {
            tmp = malloc((size_t)numel * isz);
            if (!tmp) {
                xhal_tensor_destroy(t);
                Py_DECREF(cap);
                return PyErr_NoMemory();
            }
        }
        Py_BEGIN_ALLOW_THREADS if (tmp) pack_rows(tmp, src, nd, shape, bstrides, isz);
        st = xhal_tensor_write(s, t, tmp ? tmp : src, (uint64_t)numel * isz);
        Py_END_ALLOW_THREADS free(tmp);
        if (st != XHAL_OK) {
            xhal_tensor_destroy(t);
            Py_DECREF(cap);
            return xpy_raise(st);
        }
    }
    Py_DECREF(cap); /* not consumed by name: its destructor calls the producer's deleter */
    return xpy_tensor_wrap(dev, t, NULL);
}
