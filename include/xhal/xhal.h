/*
 * xhal.h - the xhal public API: one tensor and kernel API over many accelerators.
 *
 * Conventions (hold for every function below unless its comment says otherwise):
 *  - Every function returns an xhal_status. On failure a thread-local message
 *    (xhal_last_error()) names what was wrong with the values involved, and no
 *    output argument, tensor or buffer has been modified.
 *  - Handles are opaque pointers. Passing NULL, a destroyed handle or a handle of
 *    the wrong kind gives XHAL_ERROR_INVALID_HANDLE (destroyed handles are
 *    detected through a registry of live handles and never dereferenced).
 *    Destroying NULL is a no-op; destroying twice is detected and harmless. Detection is
 *    best effort: once the memory of a destroyed handle is reused for a new object of the
 *    same kind, the stale pointer names that new object. Do not use a handle after destroy.
 *  - Ownership: *_create / *_destroy pairs. Devices belong to their context.
 *    A tensor keeps its buffer alive; a view keeps its base's buffer alive; a
 *    buffer is freed when its creator destroyed it and no tensor refers to it.
 *  - Sizes are in elements (shape, strides) or in bytes (offsets, sizes) as named.
 *  - Thread safety: a context and its devices may be used from any number of
 *    threads at once. Buffers and tensors may be shared between threads as long
 *    as no two threads write the same memory without ordering it themselves. A
 *    stream is an in-order queue: submit to one stream from one thread at a time
 *    (different threads with different streams is the intended pattern). Destroying an
 *    object (or its context) must not race with another thread's use of it.
 *  - Operations are enqueued on a stream and may complete asynchronously;
 *    xhal_stream_synchronize() waits for them. Host<->device transfers
 *    (xhal_tensor_write / xhal_tensor_read / xhal_buffer_write / xhal_buffer_read)
 *    are blocking: when they return the host memory may be reused or read.
 *
 * This header is C11 and usable from C++.
 */
#ifndef XHAL_XHAL_H
#define XHAL_XHAL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define XHAL_API __declspec(dllexport)
#else
#define XHAL_API __attribute__((visibility("default")))
#endif

/* ------------------------------------------------------------------------- */
/* Version                                                                    */
/* ------------------------------------------------------------------------- */
#define XHAL_VERSION_MAJOR 0
#define XHAL_VERSION_MINOR 1
#define XHAL_VERSION_PATCH 0

/* Library version as "MAJOR.MINOR.PATCH"; static string, never fails. */
XHAL_API const char *xhal_version(void);

/* ------------------------------------------------------------------------- */
/* Status and errors                                                          */
/* ------------------------------------------------------------------------- */
typedef enum xhal_status {
    XHAL_OK = 0,
    XHAL_ERROR_INVALID_ARGUMENT = 1, /* a value is out of its documented domain */
    XHAL_ERROR_INVALID_HANDLE = 2,   /* NULL, destroyed, wrong kind or wrong context */
    XHAL_ERROR_DTYPE_MISMATCH = 3,   /* dtypes disagree or are not accepted */
    XHAL_ERROR_SHAPE_MISMATCH = 4,   /* shapes do not agree / do not broadcast */
    XHAL_ERROR_OUT_OF_RANGE = 5,     /* a view, offset or index lies outside its buffer */
    XHAL_ERROR_OVERFLOW = 6,         /* an element count or byte size overflows */
    XHAL_ERROR_OUT_OF_MEMORY = 7,    /* host or device allocation failed */
    XHAL_ERROR_UNSUPPORTED = 8,      /* this device/backend cannot do this (message says why) */
    XHAL_ERROR_UNAVAILABLE = 9,      /* a backend, library or driver is not usable */
    XHAL_ERROR_NOT_FOUND = 10,       /* a named device, file or tensor does not exist */
    XHAL_ERROR_WRONG_DEVICE = 11,    /* a tensor lives on another device than the stream */
    XHAL_ERROR_IO = 12,              /* reading or writing a file failed */
    XHAL_ERROR_CORRUPT_DATA = 13,    /* a file or header is malformed */
    XHAL_ERROR_ABI_MISMATCH = 14,    /* a plugin was built for another ABI version */
    XHAL_ERROR_BACKEND = 15,         /* the backend or driver reported a failure */
    XHAL_ERROR_INTERNAL = 16         /* a bug in xhal: please report it */
} xhal_status;

/* Stable upper-case name of a status, e.g. "XHAL_ERROR_OUT_OF_RANGE". */
XHAL_API const char *xhal_status_name(xhal_status status);

/* The calling thread's message for the most recent failing call ("" if none).
 * Valid until the next xhal call on this thread. */
XHAL_API const char *xhal_last_error(void);

/* Set the calling thread's message (printf format, truncated at 4095 bytes) and return
 * status unchanged. For libraries built on libxhal (libxhal-formats, a model port) that
 * report their own failures through xhal_last_error like the core does. fmt NULL sets "". */
XHAL_API xhal_status xhal_set_error(xhal_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ------------------------------------------------------------------------- */
/* Data types                                                                 */
/* ------------------------------------------------------------------------- */
typedef enum xhal_dtype {
    XHAL_DTYPE_INVALID = 0,
    XHAL_DTYPE_F32 = 1,
    XHAL_DTYPE_F16 = 2,  /* IEEE binary16 */
    XHAL_DTYPE_BF16 = 3, /* bfloat16 */
    XHAL_DTYPE_F64 = 4,
    XHAL_DTYPE_I8 = 5,
    XHAL_DTYPE_U8 = 6,
    XHAL_DTYPE_I32 = 7,
    XHAL_DTYPE_I64 = 8,
    XHAL_DTYPE_COUNT_ = 9, /* plain dtypes are 1 .. XHAL_DTYPE_COUNT_ - 1 */
    /* Block-quantized dtypes: llama.cpp's layouts, bit-exact (the block tables are in
     * backends/common/xhal_quant.h). A block of block_size consecutive elements of the
     * innermost dimension is stored in block_bytes bytes (xhal_dtype_get_info). */
    XHAL_DTYPE_Q8_0 = 16, /* 32 elements in 34 bytes: f16 scale, 32 x int8 */
    XHAL_DTYPE_Q4_0 = 17, /* 32 elements in 18 bytes: f16 scale, 32 x 4 bits (offset 8) */
    XHAL_DTYPE_Q4_K = 18, /* 256 elements in 144 bytes: super-block of 8 x 32, 6-bit scales/mins */
    XHAL_DTYPE_Q6_K = 19, /* 256 elements in 210 bytes: 16 x 16 with int8 scales, 6-bit codes */
    XHAL_DTYPE_END_ = 20  /* every dtype value is below this */
} xhal_dtype;

#define XHAL_DTYPE_BIT(dt) (1u << (unsigned)(dt))

/* What a dtype is. Plain dtypes have block_size 1 and block_bytes = the element size.
 * Block-quantized tensors follow these rules (each refusal names the rule):
 *  - at least one dimension; the innermost dimension has stride 1 and a size that is a
 *    multiple of block_size (tensor_create, from_buffer, views);
 *  - every other stride (of a dimension of size > 1) is a multiple of block_size;
 *  - byte address of the block holding element (i0..in-1) is
 *        byte_offset + (sum(ik * strides[k]) / block_size) * block_bytes
 *    (strides in elements, as for every dtype);
 *  - views go along whole blocks only: a slice of the innermost dimension must start
 *    and stop on block boundaries with step 1, a permute must keep the innermost
 *    dimension innermost, a reshape must keep the innermost size a multiple of
 *    block_size; anything else is XHAL_ERROR_INVALID_ARGUMENT ("splits a block");
 *  - xhal_copy: same dtype (blocks copied), block -> f32/f16/bf16 (dequantize),
 *    f32/f16/bf16 -> q8_0/q4_0 (quantize, llama.cpp's reference rounding); other pairs
 *    are UNSUPPORTED. Other ops refuse block dtypes (DTYPE_MISMATCH) unless OPS.md says
 *    otherwise. A device whose xhal_device_info.dtypes lacks the dtype answers
 *    UNSUPPORTED for copies involving it. */
typedef struct xhal_dtype_info {
    const char *name;     /* xhal_dtype_name */
    int64_t block_size;   /* elements per block (1 for plain dtypes) */
    int64_t block_bytes;  /* bytes per block (the element size for plain dtypes) */
    int32_t is_float;     /* f32 f16 bf16 f64 */
    int32_t is_integer;   /* i8 u8 i32 i64 */
    int32_t is_quantized; /* block-quantized */
} xhal_dtype_info;

/* Describe dtype. XHAL_ERROR_INVALID_ARGUMENT for a value that is not a dtype. */
XHAL_API xhal_status xhal_dtype_get_info(xhal_dtype dtype, xhal_dtype_info *info);

/* Size of one element in bytes; 0 for an invalid dtype and for block-quantized dtypes
 * (whose elements have no whole byte size: see xhal_dtype_get_info). */
XHAL_API size_t xhal_dtype_size(xhal_dtype dtype);
/* Lower-case name ("f32", "bf16", ...); "invalid" for an unknown value. */
XHAL_API const char *xhal_dtype_name(xhal_dtype dtype);
/* Parse a name as returned by xhal_dtype_name. XHAL_ERROR_INVALID_ARGUMENT if unknown. */
XHAL_API xhal_status xhal_dtype_from_name(const char *name, xhal_dtype *out);

/* ------------------------------------------------------------------------- */
/* Logging                                                                    */
/* ------------------------------------------------------------------------- */
typedef enum xhal_log_level {
    XHAL_LOG_OFF = 0,
    XHAL_LOG_ERROR = 1,
    XHAL_LOG_WARN = 2,
    XHAL_LOG_INFO = 3,
    XHAL_LOG_DEBUG = 4
} xhal_log_level;

/* ------------------------------------------------------------------------- */
/* Context, backends, devices                                                 */
/* ------------------------------------------------------------------------- */
typedef struct xhal_context xhal_context;
typedef struct xhal_device xhal_device;
typedef struct xhal_buffer xhal_buffer;
typedef struct xhal_tensor xhal_tensor;
typedef struct xhal_stream xhal_stream;
typedef struct xhal_event xhal_event;

/* Do not search the install's plugin folder (next to libxhal); only the folders in
 * plugin_path and XHAL_PLUGIN_PATH. Useful for tests and for embedding. */
#define XHAL_CONTEXT_NO_DEFAULT_PLUGINS 0x1u
/* Ignore the XHAL_PLUGIN_PATH environment variable. */
#define XHAL_CONTEXT_IGNORE_ENV_PATH 0x2u

typedef struct xhal_context_options {
    uint32_t struct_size;    /* sizeof(xhal_context_options): lets the struct grow */
    uint32_t flags;          /* XHAL_CONTEXT_* */
    const char *plugin_path; /* extra plugin folders, colon-separated, searched first; may be NULL */
    int log_level;           /* xhal_log_level; -1 means: from XHAL_LOG (default: off) */
} xhal_context_options;

/* Fill *opts with defaults (struct_size set, no flags, no path, log level -1). */
XHAL_API void xhal_context_options_init(xhal_context_options *opts);

/* Create a context: load every backend plugin found in (1) opts->plugin_path,
 * (2) XHAL_PLUGIN_PATH, (3) the plugin folder of the installation (the folder
 * "xhal" beside libxhal), in that order. Only absolute folders are searched;
 * the current directory never is. A plugin that fails to load is listed by
 * xhal_backend_get_info as unavailable with its reason; it never makes
 * context creation fail. opts may be NULL (defaults).
 * Errors: INVALID_ARGUMENT (bad opts), OUT_OF_MEMORY. */
XHAL_API xhal_status xhal_context_create(const xhal_context_options *opts, xhal_context **out);

/* Destroy a context with every buffer, tensor, stream and event still alive in it,
 * then unload its plugins. Waits for outstanding work. NULL is a no-op. */
XHAL_API xhal_status xhal_context_destroy(xhal_context *ctx);

typedef enum xhal_backend_state {
    XHAL_BACKEND_LOADED = 0,     /* usable; may still have zero devices */
    XHAL_BACKEND_UNAVAILABLE = 1 /* reason says why: library not found, ABI mismatch, init failed... */
} xhal_backend_state;

typedef struct xhal_backend_info {
    char name[32];        /* backend name from its table ("cpu", "opencl", "cuda"), or the file name */
    char version[32];     /* plugin's own version string */
    char path[512];       /* file the plugin was loaded from */
    char reason[512];     /* why it is unavailable; "" when loaded */
    uint32_t abi_version; /* ABI version the plugin declared (0 if unknown) */
    int32_t state;        /* xhal_backend_state */
    int32_t device_count; /* devices it provides (0 when unavailable) */
} xhal_backend_info;

/* Number of backends found (loaded or not). */
XHAL_API xhal_status xhal_backend_count(xhal_context *ctx, int *count);
/* Info of backend i in [0, count). */
XHAL_API xhal_status xhal_backend_get_info(xhal_context *ctx, int index, xhal_backend_info *info);

/* Capability flags of a device. */
#define XHAL_CAP_F16_COMPUTE 0x1u     /* native half arithmetic (else: f16 storage, f32 math) */
#define XHAL_CAP_F64 0x2u             /* f64 arithmetic */
#define XHAL_CAP_HOST_MEMORY 0x4u     /* device memory is host memory */
#define XHAL_CAP_EVENT_TIMING 0x8u    /* events carry device timestamps */
#define XHAL_CAP_PEER_COPY 0x10u      /* direct copies to some other devices of its backend */
#define XHAL_CAP_CUSTOM_KERNELS 0x20u /* xhal_program_create / xhal_kernel_launch work */
#define XHAL_CAP_PINNED_HOST 0x40u    /* pinned host staging memory */
#define XHAL_CAP_MATMUL_I8 0x80u      /* xhal_matmul_i8 (per-channel int8 weights) runs */

typedef struct xhal_device_info {
    uint32_t struct_size;    /* sizeof(xhal_device_info) of whoever filled it (set by the core;
                              * fields are only ever appended, so the struct can grow) */
    char spec[48];           /* "backend:index", e.g. "opencl:1" (filled by the core) */
    char backend[32];        /* backend name */
    char name[128];          /* marketing / driver device name */
    char vendor[64];         /* e.g. "NVIDIA", "Huawei", "PoCL" */
    char family[64];         /* chip family, e.g. "Hopper", "cpu-x86_64", "pocl-cpu" */
    char arch[64];           /* e.g. "sm_90", "haswell", "gfx906" */
    char driver_version[64]; /* driver / runtime version string */
    char pci_bus_id[32];     /* "0000:3b:00.0" (domain:bus:device.function, lower-case hex) or "" */
    uint64_t total_memory;   /* bytes */
    uint64_t free_memory;    /* bytes, at the time of the call (best effort) */
    int32_t compute_units;   /* SMs, CUs, cores... */
    int32_t index;           /* index of the device within its backend */
    uint32_t dtypes;         /* XHAL_DTYPE_BIT(dt) for every dtype the device stores */
    uint32_t caps;           /* XHAL_CAP_* */
} xhal_device_info;

/* Number of devices across every loaded backend. */
XHAL_API xhal_status xhal_device_count(xhal_context *ctx, int *count);
/* Device i in [0, count), in backend load order then device order. */
XHAL_API xhal_status xhal_device_get(xhal_context *ctx, int index, xhal_device **out);
/* Device by spec: "cpu", "cpu:0", "opencl:1", "cuda:0". "name" alone means "name:0".
 * Errors: INVALID_ARGUMENT (malformed spec), NOT_FOUND (no such backend or index;
 * the message lists the devices present), UNAVAILABLE (backend present but unavailable,
 * with its reason). */
XHAL_API xhal_status xhal_device_find(xhal_context *ctx, const char *spec, xhal_device **out);
/* Fill *info (queries free memory now). */
XHAL_API xhal_status xhal_device_get_info(xhal_device *dev, xhal_device_info *info);

/* ------------------------------------------------------------------------- */
/* Buffers: untyped device memory                                             */
/* ------------------------------------------------------------------------- */

/* Allocate size bytes (size > 0) on dev. Contents are undefined.
 * Errors: INVALID_ARGUMENT (size 0), OUT_OF_MEMORY (message gives size and device). */
XHAL_API xhal_status xhal_buffer_create(xhal_device *dev, uint64_t size, xhal_buffer **out);
/* Drop the caller's reference; memory is freed once no tensor uses it. */
XHAL_API xhal_status xhal_buffer_destroy(xhal_buffer *buf);
XHAL_API xhal_status xhal_buffer_size(xhal_buffer *buf, uint64_t *size);
/* Blocking byte copies between host memory and [offset, offset+size) of buf.
 * The stream orders them after work already queued on it. */
XHAL_API xhal_status xhal_buffer_write(xhal_stream *stream, xhal_buffer *buf, uint64_t offset, const void *src,
                                       uint64_t size);
XHAL_API xhal_status xhal_buffer_read(xhal_stream *stream, xhal_buffer *buf, uint64_t offset, void *dst, uint64_t size);

/* Zero-copy host memory, on devices whose memory is host memory and whose backend lends it
 * (the cpu backend does; others answer UNSUPPORTED and callers copy instead). */

/* *out = the host address of t's element 0 (its buffer's memory plus its byte offset; the
 * other elements follow its strides). Work queued on a stream may still read or write that
 * memory: synchronize first. Valid while t lives.
 * Errors: INVALID_HANDLE, INVALID_ARGUMENT (out NULL), UNSUPPORTED (the device's memory is not
 * host memory or its backend does not lend it; the message names the device). */
XHAL_API xhal_status xhal_tensor_host_pointer(xhal_tensor *t, void **out);
/* A buffer over size bytes (> 0) of host memory owned by the caller, without a copy: tensors
 * over it are read and written in place. release (may be NULL) is called once with user when
 * the buffer is freed (after xhal_buffer_destroy once no tensor uses it, or when the context is
 * destroyed), on the thread that drops the last reference; until then ptr must stay valid.
 * Unlike xhal_buffer_create's memory there is no padding: backends touch only the elements of
 * tensors over it. On failure release is not called.
 * Errors: INVALID_HANDLE, INVALID_ARGUMENT (ptr or out NULL, size 0), UNSUPPORTED (the device
 * cannot wrap host memory; the message names it), OUT_OF_MEMORY. */
XHAL_API xhal_status xhal_buffer_wrap_host(xhal_device *dev, void *ptr, uint64_t size, void (*release)(void *user),
                                           void *user, xhal_buffer **out);

/* ------------------------------------------------------------------------- */
/* Tensors and views                                                          */
/* ------------------------------------------------------------------------- */
#define XHAL_MAX_DIMS 8

/* A new contiguous (row-major) tensor with its own buffer on dev. ndim in [0, 8];
 * ndim 0 is a scalar. A dimension may be 0 (empty tensor, no memory is touched).
 * Errors: INVALID_ARGUMENT (ndim, negative dim, dtype), OVERFLOW, OUT_OF_MEMORY. */
XHAL_API xhal_status xhal_tensor_create(xhal_device *dev, xhal_dtype dtype, int ndim, const int64_t *shape,
                                        xhal_tensor **out);
/* A tensor over an existing buffer. strides may be NULL (row-major). Strides are in
 * elements and may be 0 (broadcast) but not negative. Every element addressed must
 * lie inside the buffer: OUT_OF_RANGE otherwise; OVERFLOW if the arithmetic does.
 * byte_offset must be a multiple of the dtype size. */
XHAL_API xhal_status xhal_tensor_from_buffer(xhal_buffer *buf, xhal_dtype dtype, int ndim, const int64_t *shape,
                                             const int64_t *strides, uint64_t byte_offset, xhal_tensor **out);
XHAL_API xhal_status xhal_tensor_destroy(xhal_tensor *t);

XHAL_API xhal_status xhal_tensor_dtype(xhal_tensor *t, xhal_dtype *dtype);
/* ndim, and up to XHAL_MAX_DIMS entries of shape/strides (each pointer may be NULL). */
XHAL_API xhal_status xhal_tensor_shape(xhal_tensor *t, int *ndim, int64_t *shape, int64_t *strides);
XHAL_API xhal_status xhal_tensor_numel(xhal_tensor *t, int64_t *numel);
XHAL_API xhal_status xhal_tensor_byte_offset(xhal_tensor *t, uint64_t *offset);
XHAL_API xhal_status xhal_tensor_device(xhal_tensor *t, xhal_device **dev);
XHAL_API xhal_status xhal_tensor_buffer(xhal_tensor *t, xhal_buffer **buf);
/* 1 if the tensor is row-major contiguous (size-1 dimensions ignore their stride). */
XHAL_API xhal_status xhal_tensor_is_contiguous(xhal_tensor *t, int *contiguous);

/* Views share memory with t and keep its buffer alive. Negative axes count from the end.
 * slice: elements start, start+step, ... < stop along axis; step >= 1; start/stop are
 * clamped like Python's (negative means from the end). */
XHAL_API xhal_status xhal_tensor_slice(xhal_tensor *t, int axis, int64_t start, int64_t stop, int64_t step,
                                       xhal_tensor **out);
/* perm is a permutation of [0, ndim). */
XHAL_API xhal_status xhal_tensor_permute(xhal_tensor *t, const int *perm, xhal_tensor **out);
XHAL_API xhal_status xhal_tensor_transpose(xhal_tensor *t, int axis0, int axis1, xhal_tensor **out);
/* Reshape a contiguous tensor; one entry may be -1 (inferred). A non-contiguous t gives
 * INVALID_ARGUMENT (copy it with xhal_contiguous first). */
XHAL_API xhal_status xhal_tensor_reshape(xhal_tensor *t, int ndim, const int64_t *shape, xhal_tensor **out);
/* Broadcast to shape (numpy rules; new leading dims; size-1 dims get stride 0). */
XHAL_API xhal_status xhal_tensor_expand(xhal_tensor *t, int ndim, const int64_t *shape, xhal_tensor **out);

/* Blocking transfers of a whole tensor's elements, in row-major logical order, between
 * host memory and the tensor (which may be a strided view: only its elements are
 * written). size must equal numel * dtype size. */
XHAL_API xhal_status xhal_tensor_write(xhal_stream *stream, xhal_tensor *t, const void *src, uint64_t size);
XHAL_API xhal_status xhal_tensor_read(xhal_stream *stream, xhal_tensor *t, void *dst, uint64_t size);

/* ------------------------------------------------------------------------- */
/* Streams and events                                                         */
/* ------------------------------------------------------------------------- */
XHAL_API xhal_status xhal_stream_create(xhal_device *dev, xhal_stream **out);
/* Waits for the stream's work, then destroys it. */
XHAL_API xhal_status xhal_stream_destroy(xhal_stream *stream);
/* Wait until everything queued on the stream has finished. An asynchronous failure of
 * queued work is reported here. */
XHAL_API xhal_status xhal_stream_synchronize(xhal_stream *stream);
XHAL_API xhal_status xhal_stream_device(xhal_stream *stream, xhal_device **dev);

XHAL_API xhal_status xhal_event_create(xhal_device *dev, xhal_event **out);
XHAL_API xhal_status xhal_event_destroy(xhal_event *ev);
/* Mark the point after all work queued so far on stream (same device as the event). */
XHAL_API xhal_status xhal_event_record(xhal_event *ev, xhal_stream *stream);
/* Make later work on stream wait for ev (which may be on another device). INVALID_ARGUMENT
 * if ev was never recorded. */
XHAL_API xhal_status xhal_stream_wait_event(xhal_stream *stream, xhal_event *ev);
/* Block the host until ev has completed. */
XHAL_API xhal_status xhal_event_synchronize(xhal_event *ev);
/* Milliseconds between two recorded, completed events of one device. */
XHAL_API xhal_status xhal_event_elapsed_ms(xhal_event *start, xhal_event *end, double *ms);

/* ------------------------------------------------------------------------- */
/* Data movement                                                              */
/* ------------------------------------------------------------------------- */

/* dst = src, elementwise over equal shapes. Any strides; dtypes may differ (a cast:
 * floats to f16/bf16 round to nearest even; floats to integers truncate toward zero
 * and saturate; NaN to integer gives 0). src and dst may be on different devices, even of
 * different backends: the stream must then belong to one of the two, and the copy is
 * complete when the call returns. Overlapping src and dst memory is INVALID_ARGUMENT, except
 * that copying a view onto the very same view (same memory, dtype, shape and strides) does nothing. */
XHAL_API xhal_status xhal_copy(xhal_stream *stream, xhal_tensor *src, xhal_tensor *dst);
/* Every element of t = value (converted as by xhal_copy). */
XHAL_API xhal_status xhal_fill(xhal_stream *stream, xhal_tensor *t, double value);
/* A new contiguous tensor on the same device holding a copy of t (in t's dtype, or in
 * dtype when it is not XHAL_DTYPE_INVALID). */
XHAL_API xhal_status xhal_contiguous(xhal_stream *stream, xhal_tensor *t, xhal_dtype dtype, xhal_tensor **out);

/* ------------------------------------------------------------------------- */
/* The op catalogue (semantics, dtypes and tolerances: conformance/OPS.md)    */
/* ------------------------------------------------------------------------- */
/* Op identifiers are part of the ABI: values never change, new ops get new values.
 * The enumerators are XHAL_OP_<NAME> of the rows of XHAL_OP_TABLE (xhal_op_table.h), which
 * also gives each op's name, family (the entry point below that runs it), dtypes and
 * tolerance class; conformance/OPS.md gives each op's formula. By family: COPY 1 (strided
 * copy with cast), FILL 2; unary ops (ids 10..29 and later rows of family UNARY, e.g.
 * SQUARE 84); binary with numpy broadcasting ADD 30 .. MINIMUM 35; SCALE 40
 * (alpha * x + beta); reductions over one axis SUM 50 .. ARGMAX 53; normalization SOFTMAX
 * 60, RMS_NORM 61, LAYER_NORM 62; MATMUL 70; GATHER 80, ROPE 81, ATTENTION 82, CONCAT 83
 * (composed in the core from XHAL_OP_COPY into slices of out), TOPK 85 (values and indices:
 * the one op with two outputs). */
#include "xhal_op_table.h"

typedef enum xhal_op {
    XHAL_OP_INVALID = 0,
#define XHAL_OP_ENUM_ROW_(NAME, ID, ...) XHAL_OP_##NAME = ID,
    XHAL_OP_TABLE(XHAL_OP_ENUM_ROW_)
#undef XHAL_OP_ENUM_ROW_
        XHAL_OP_MAX_ID_ /* the last row's id + 1 (rows are in ascending id order) */
} xhal_op;

/* Lower-case name ("add", "rms_norm"...); "invalid" for unknown values. */
XHAL_API const char *xhal_op_name(xhal_op op);
XHAL_API xhal_status xhal_op_from_name(const char *name, xhal_op *out);

/* Every op below: inputs and out on the stream's device (WRONG_DEVICE otherwise); out is
 * written, inputs are not; out must not overlap an input unless noted (elementwise ops
 * allow out to be exactly an input). Float ops take f32, f16 and bf16 (computed in f32),
 * and f64 where the device reports XHAL_CAP_F64. The device may answer UNSUPPORTED
 * (message names op, dtype and device). */

/* Unary elementwise: op is a row of family UNARY in xhal_op_table.h (NEG..GELU_TANH, SQUARE,
 * ...); x and out of one dtype and one shape. */
XHAL_API xhal_status xhal_unary(xhal_stream *stream, xhal_op op, xhal_tensor *x, xhal_tensor *out);
/* Binary elementwise: op in ADD..MINIMUM; a and b broadcast (numpy) to out's shape;
 * all three of one dtype (f32/f16/bf16/f64, and i32/i64 for ADD/SUB/MUL/MAXIMUM/MINIMUM). */
XHAL_API xhal_status xhal_binary(xhal_stream *stream, xhal_op op, xhal_tensor *a, xhal_tensor *b, xhal_tensor *out);
XHAL_API xhal_status xhal_add(xhal_stream *stream, xhal_tensor *a, xhal_tensor *b, xhal_tensor *out);
XHAL_API xhal_status xhal_mul(xhal_stream *stream, xhal_tensor *a, xhal_tensor *b, xhal_tensor *out);
/* out = alpha * x + beta. */
XHAL_API xhal_status xhal_scale(xhal_stream *stream, xhal_tensor *x, double alpha, double beta, xhal_tensor *out);
/* Reduce over axis: op in SUM, MEAN, MAX (out has x's dtype) or ARGMAX (out is i32 or
 * i64; first index of the maximum; NaN counts as the maximum). With keepdims the axis
 * stays with size 1, otherwise it is removed. The axis must not be empty for MAX/ARGMAX. */
XHAL_API xhal_status xhal_reduce(xhal_stream *stream, xhal_op op, xhal_tensor *x, int axis, int keepdims,
                                 xhal_tensor *out);
/* Softmax over the last axis of scale*x (scale 0 means 1). With causal, x is read as
 * [..., Sq, Sk] and row i sees columns j <= i + (Sk - Sq) (bottom-right aligned, as with
 * a KV cache); masked entries become 0. Needs ndim >= 2 when causal and Sk >= Sq. */
XHAL_API xhal_status xhal_softmax(xhal_stream *stream, xhal_tensor *x, double scale, int causal, xhal_tensor *out);
/* out = x / sqrt(mean(x^2 over last axis) + eps) * weight; weight [D] or NULL. */
XHAL_API xhal_status xhal_rms_norm(xhal_stream *stream, xhal_tensor *x, xhal_tensor *weight, double eps,
                                   xhal_tensor *out);
/* out = (x - mean) / sqrt(var + eps) * weight + bias over the last axis; weight and bias
 * [D] or NULL. Variance is the biased (population) variance. */
XHAL_API xhal_status xhal_layer_norm(xhal_stream *stream, xhal_tensor *x, xhal_tensor *weight, xhal_tensor *bias,
                                     double eps, xhal_tensor *out);
/* out = alpha * op(a) @ op(b) + beta * out, op(t) = t or t transposed over its last two
 * axes. a [..., M, K], b [..., K, N] after the transposes; batch dims broadcast (numpy);
 * ndim >= 2 for a and b. f16/bf16 accumulate in f32. With beta == 0 out is not read
 * (NaN in out does not propagate). */
XHAL_API xhal_status xhal_matmul(xhal_stream *stream, xhal_tensor *a, xhal_tensor *b, int trans_a, int trans_b,
                                 double alpha, double beta, xhal_tensor *out);
/* Matmul with per-channel int8 weights (a linear layer quantized per output channel):
 *   out[.., m, n] = alpha * sum_k a[.., m, k] * (scales[n] * w[.., n, k]) + beta * out[.., m, n]
 * w is i8 [..., N, K] (one row per output channel, as linear layers store weights) whose
 * last axis has stride 1; scales is f32 [N]; a [..., M, K] and out [..., M, N] are one dtype
 * among f32, f16, bf16; batch dims of a and w broadcast (numpy). The result is the product
 * with the dequantized weights scales[n] * w[n, k] (conformance/OPS.md, matmul); weights stay
 * int8 in memory (a quarter of f32's bytes). With beta == 0 out is not read.
 * Errors: as xhal_matmul; DTYPE_MISMATCH (a not f32/f16/bf16, out not a's dtype, w not i8,
 * scales not f32), INVALID_ARGUMENT (w's last axis not contiguous), SHAPE_MISMATCH (K of a
 * and w differ, scales not [N], out not [.., M, N]), UNSUPPORTED (the device does not report
 * XHAL_CAP_MATMUL_I8: cpu:0 does; opencl and cuda/hip do not yet). */
XHAL_API xhal_status xhal_matmul_i8(xhal_stream *stream, xhal_tensor *a, xhal_tensor *w, xhal_tensor *scales,
                                    double alpha, double beta, xhal_tensor *out);
/* out[i..., :] = table[indices[i...], :]: table [V, D...], indices i32/i64 of any shape,
 * out [indices.shape..., D...] in table's dtype.
 * Bad indices: the indices are data on the device (often the result of earlier ops), so this
 * call neither reads nor waits for them; it only queues the op (and may be captured in a
 * graph). The device checks every index as the op runs: an index outside [0, V) reads
 * nothing and its rows of out are zeros (the other rows are gathered as usual), and the
 * first such index in row-major order is recorded on the stream. The error surfaces, once,
 * at the next call that waits for the stream: xhal_stream_synchronize, xhal_tensor_read or
 * xhal_buffer_read on it (the read's data is delivered), or xhal_stream_destroy. It returns
 * XHAL_ERROR_OUT_OF_RANGE with a message naming the op, the position and the value, e.g.
 * "xhal_gather (queued earlier on this stream of cpu:0, reported at xhal_stream_synchronize):
 * indices[0,3] = 99 is outside [0, 16) ...". When several ops failed, the earliest is named.
 * Work queued before and after the bad op ran; the stream stays usable and the next wait
 * reports OK. Event waits (xhal_event_synchronize, xhal_stream_wait_event) and writes do not
 * report it: they may not cover the whole stream.
 * Errors at the call: those of every op, OUT_OF_RANGE when the table has no rows (and out is
 * not empty), UNSUPPORTED on a backend built before op catalogue XHAL_CATALOGUE_GATHER_STATUS
 * (87, xhal_backend.h). */
XHAL_API xhal_status xhal_gather(xhal_stream *stream, xhal_tensor *table, xhal_tensor *indices, xhal_tensor *out);

typedef enum xhal_rope_layout {
    XHAL_ROPE_HALF = 0,       /* rotate-half (Hugging Face Llama): pairs (i, i + rot/2) */
    XHAL_ROPE_INTERLEAVED = 1 /* pairs (2i, 2i+1) (GPT-J, llama.c, GLM-4) */
} xhal_rope_layout;

/* Rotary position embedding of x [..., S, H, D] (seq_axis names the S axis; the last
 * axis is the head dim D). Token s has position pos_offset + s; pair k of the first
 * rotary_dims entries (even, <= D; 0 means D) rotates by angle pos * theta^(-2k/rotary_dims).
 * The remaining D - rotary_dims entries are copied. out may be x. The same as xhal_rope_ex
 * without positions, inv_freq and attention factor. */
XHAL_API xhal_status xhal_rope(xhal_stream *stream, xhal_tensor *x, int seq_axis, double theta, int64_t pos_offset,
                               int rotary_dims, xhal_rope_layout layout, xhal_tensor *out);

/* Parameters of xhal_rope_ex; fill with xhal_rope_params_init, then change what differs. */
typedef struct xhal_rope_params {
    uint32_t struct_size;    /* sizeof(xhal_rope_params): lets the struct grow */
    int32_t seq_axis;        /* the S axis of x; negative counts from the end (default -3: x [..., S, H, D]) */
    double theta;            /* base of the default frequencies (default 10000) */
    int64_t pos_offset;      /* without positions, token s has position pos_offset + s (default 0, >= 0) */
    int32_t rotary_dims;     /* leading entries of D that rotate: even, <= D; 0 means D (default 0) */
    int32_t layout;          /* xhal_rope_layout (default XHAL_ROPE_HALF) */
    double attention_factor; /* cos and sin are multiplied by it: YaRN's / longrope's
                              * attention scaling (finite, > 0; default 1) */
} xhal_rope_params;

/* Defaults: struct_size set, seq_axis -3, theta 10000, pos_offset 0, rotary_dims 0 (= D),
 * layout XHAL_ROPE_HALF, attention_factor 1. */
XHAL_API void xhal_rope_params_init(xhal_rope_params *p);

/* Rotary position embedding with explicit positions and frequencies (ONNX RotaryEmbedding,
 * Hugging Face's rotary embeddings with rope_scaling applied to inv_freq).
 *   x         [..., S, ..., D], float; S is axis p->seq_axis (before the last axis).
 *   positions NULL: token s has position pos_offset + s. Else i32 or i64, the position of
 *             every token: its shape broadcasts (numpy, right-aligned) to x's dims up to and
 *             including the S axis, x.shape[0 .. seq_axis]; e.g. [S] or [B, S] for x
 *             [B, S, H, D] (seq_axis 1), [S] or [B, 1, S] for x [B, H, S, D] (seq_axis 2).
 *             Values are used as they are (any integer, also non-monotonic; pos_offset is
 *             not added).
 *   inv_freq  NULL: inv_freq[k] = theta^(-2k / rotary_dims). Else f32 [rotary_dims / 2]: the
 *             inverse frequency of each pair (Llama 3 / linear / YaRN scaling done by the
 *             caller; theta is then unused).
 * For each token with position pos and pair k in [0, rotary_dims / 2):
 *   angle = pos * inv_freq[k], c = attention_factor * cos(angle), s = attention_factor * sin(angle)
 *   HALF:        (x[k], x[k + r/2])  ->  (x[k] c - x[k + r/2] s, x[k + r/2] c + x[k] s)
 *   INTERLEAVED: (x[2k], x[2k + 1])  ->  (x[2k] c - x[2k + 1] s, x[2k + 1] c + x[2k] s)
 * with r = rotary_dims; entries r .. D-1 are copied unchanged (partial rotary, e.g. GLM-4:
 * INTERLEAVED over the first half of the head). Computed in f32 at least (angles in f64 on
 * the cpu backend). out has x's dtype and shape and may be x itself. p NULL: the defaults.
 * Errors: INVALID_ARGUMENT (p->struct_size, seq_axis, rotary_dims odd / < 2 / > D, theta
 * <= 0 or not finite, pos_offset < 0, layout, attention_factor not finite or <= 0),
 * DTYPE_MISMATCH (x not float, out's dtype, positions not i32/i64, inv_freq not f32),
 * SHAPE_MISMATCH (x under 2 dims, out's shape, positions not broadcasting to
 * x.shape[0..seq_axis], inv_freq not [rotary_dims / 2]), UNSUPPORTED (a backend built for an
 * op catalogue before XHAL_CATALOGUE_ROPE_ATTENTION_EX (86, xhal_backend.h) gets positions, inv_freq or an
 * attention factor other than 1: the message names the feature). */
XHAL_API xhal_status xhal_rope_ex(xhal_stream *stream, xhal_tensor *x, xhal_tensor *positions, xhal_tensor *inv_freq,
                                  const xhal_rope_params *p, xhal_tensor *out);

/* Scaled dot-product attention with grouped-query heads:
 * q [B, Hq, Sq, D], k [B, Hkv, Sk, D], v [B, Hkv, Sk, Dv], out [B, Hq, Sq, Dv];
 * Hq a multiple of Hkv (query head h uses kv head h / (Hq/Hkv)); Sk >= Sq when causal.
 * mask, if not NULL, is additive and broadcasts to [B, Hq, Sq, Sk]. scale 0 means
 * 1/sqrt(D). causal: query i sees keys j <= i + (Sk - Sq). A row with no visible key gives 0.
 * The same as xhal_attention_ex without window, softcap and q_pos0. */
XHAL_API xhal_status xhal_attention(xhal_stream *stream, xhal_tensor *q, xhal_tensor *k, xhal_tensor *v,
                                    xhal_tensor *mask, double scale, int causal, xhal_tensor *out);

/* Parameters of xhal_attention_ex; fill with xhal_attention_params_init. */
typedef struct xhal_attention_params {
    uint32_t struct_size; /* sizeof(xhal_attention_params): lets the struct grow */
    int32_t causal;       /* 1: query i sees keys j <= P_i (below); 0: every key (default 0) */
    double scale;         /* scores are scale * q.k; 0 means 1/sqrt(D) (default 0) */
    int64_t window;       /* sliding window, needs causal: query i sees keys j with
                           * P_i - window < j <= P_i (Hugging Face sliding_window of Mistral,
                           * Qwen2, Gemma 2); 0: no window (default 0) */
    double softcap;       /* logit soft-capping: s = softcap * tanh(s / softcap) on the scaled
                           * scores, before the mask is added (Gemma 2); 0: none (default 0) */
    int64_t q_pos0;       /* P_i = q_pos0 + i: the position of query i among the keys (its own
                           * key); -1: Sk - Sq, the queries are the last Sq keys (default -1).
                           * A chunk of queries in the middle of a cache of Sk keys: q_pos0 =
                           * the chunk's start, keys past P_i are masked by causal. */
} xhal_attention_params;

/* Defaults: struct_size set, causal 0, scale 0, window 0, softcap 0, q_pos0 -1. */
XHAL_API void xhal_attention_params_init(xhal_attention_params *p);

/* Attention with a sliding window, logit soft-capping and explicit causal alignment.
 * Shapes as xhal_attention. For query i (position P_i = q_pos0 + i) and key j:
 *   s_ij = scale * sum_d q[i,d] k[j,d];  with softcap: s_ij = softcap * tanh(s_ij / softcap);
 *   with a mask: s_ij += mask[i,j];  key j is visible iff (!causal or j <= P_i) and
 *   (window == 0 or j > P_i - window);  out[i] = sum over visible j of softmax_j(s_ij) v[j].
 * A row with no visible key (or only -inf scores) gives 0. Kernels stop the key loop at the
 * last visible key. ONNX Attention (opset 23) adds the mask before soft-capping; xhal caps
 * first, as Gemma 2 does (the two differ only with a mask).
 * Errors: as xhal_attention, plus INVALID_ARGUMENT (p->struct_size, window < 0, window > 0
 * without causal, softcap < 0 or not finite, q_pos0 < -1 or > Sk - Sq), SHAPE_MISMATCH
 * (causal or window with Sk < Sq), UNSUPPORTED (a backend built for an op catalogue before
 * XHAL_CATALOGUE_ROPE_ATTENTION_EX (86) gets a window, a softcap or a q_pos0 other than Sk - Sq:
 * the message names the feature). p NULL: the defaults. */
XHAL_API xhal_status xhal_attention_ex(xhal_stream *stream, xhal_tensor *q, xhal_tensor *k, xhal_tensor *v,
                                       xhal_tensor *mask, const xhal_attention_params *p, xhal_tensor *out);

/* The k largest (largest = 1) or smallest (largest = 0) elements of x along axis (ONNX
 * TopK with sorted = 1): values [..., k, ...] (x's dtype; x's shape with k at axis) and
 * indices of the same shape (i32 or i64), each the position along axis of the value
 * beside it. Sorted: largest first (largest = 1) or smallest first (largest = 0); equal
 * values keep ascending index order (the lower index first, as ONNX requires). NaN ranks
 * above every number (+Inf included): with largest = 1 NaNs come first, with largest = 0
 * they come last; -0 and +0 are equal. x is float (f32, f16, bf16, f64); values are copies
 * of x's elements. Negative axis counts from the end.
 * Errors: INVALID_ARGUMENT (axis, k < 1 or k > the axis size, largest not 0/1, values and
 * indices overlapping each other or x), DTYPE_MISMATCH (x not float, values' dtype,
 * indices not i32/i64), SHAPE_MISMATCH (x a scalar, values' or indices' shape),
 * UNSUPPORTED (the backend's catalogue has no TOPK). */
XHAL_API xhal_status xhal_topk(xhal_stream *stream, xhal_tensor *x, int64_t k, int axis, int largest,
                               xhal_tensor *values, xhal_tensor *indices);
/* Concatenate n tensors (n >= 1) along axis into out; all of out's dtype, equal shapes
 * except along axis, whose sizes sum to out's. */
XHAL_API xhal_status xhal_concat(xhal_stream *stream, xhal_tensor *const *inputs, int n, int axis, xhal_tensor *out);

/* ------------------------------------------------------------------------- */
/* Graphs: a sequence of ops recorded once, replayed many times              */
/* ------------------------------------------------------------------------- */
/* A graph holds ops captured from a stream, each validated and normalised into its backend
 * descriptor once, at capture; xhal_graph_launch queues them again without validating,
 * normalising or asking the backend about them per op (what a decode step pays 100+ times per
 * token). A backend may take the whole list at once (xhal_backend.h: graph_create, e.g. to
 * build a CUDA graph or to fuse); otherwise the core replays it op by op through the backend.
 *
 * What may vary between launches: up to XHAL_GRAPH_MAX_PARAMS int64 parameters, each set
 * with xhal_graph_set_param and bound at capture (xhal_stream_capture_bind) to fields of the
 * ops: a RoPE position, where a view starts along an axis (e.g. the KV-cache row a step
 * writes), the key length of an attention. A bound field is an affine function of its
 * parameter: recorded value + scale * (parameter - parameter's value at capture). Launch
 * checks again only what the parameters change: every view still inside its buffer, an
 * output still clear of its inputs, positions >= 0, key lengths >= 1 (>= Sq when causal
 * without q_pos0), q_pos0 in [0, Sk - Sq].
 *
 * Lifetime: the graph keeps every buffer its ops touch alive (like a view does): tensors and
 * buffers may be destroyed after capture, and the memory stays until the graph is destroyed.
 * The data is read when the graph runs, not at capture.
 *
 * Thread safety: one thread at a time per graph (launch, set_param, destroy); a graph may be
 * launched on any stream of its device, one launch after another in that stream's order. */
typedef struct xhal_graph xhal_graph;

#define XHAL_GRAPH_MAX_PARAMS 8

/* Start capturing on stream: from now on the op calls on it (xhal_copy, xhal_fill, the op
 * catalogue, xhal_concat, xhal_contiguous) are validated as usual and recorded instead of
 * run. param_values[0..n_params) are the values of the graph's parameters that the recorded
 * ops correspond to (n_params in [0, XHAL_GRAPH_MAX_PARAMS]; param_values may be NULL when
 * n_params is 0). Calls that need the device or the host at once fail on a capturing stream
 * with INVALID_ARGUMENT naming the capture: host transfers (xhal_tensor_write/read,
 * xhal_buffer_write/read), xhal_stream_synchronize, copies between devices, events, collectives and xhal_kernel_launch. A call that
 * fails on a capturing stream returns its status as usual and is not recorded; the capture goes
 * on. The caller must check every status during a capture: a graph ended after a failed call
 * lacks that op (xhal_graph_op_count tells how many were recorded).
 * Errors: INVALID_HANDLE, INVALID_ARGUMENT (already capturing, n_params out of range, values
 * NULL), OUT_OF_MEMORY. */
XHAL_API xhal_status xhal_stream_begin_capture(xhal_stream *stream, int n_params, const int64_t *param_values);

/* Fields of a captured op that a parameter may drive (xhal_stream_capture_bind). */
typedef enum xhal_graph_field {
    /* ROPE without a positions tensor: pos_offset. arg and axis unused (0). (A rope reading
     * xhal_rope_ex's positions tensor needs no binding: write the tensor before the launch.) */
    XHAL_GRAPH_ROPE_POSITION = 1,
    /* Where tensor argument arg's view starts along axis: it moves by scale * delta elements
     * of that axis (delta = parameter - its value at capture), shape and strides unchanged.
     * arg numbers the op's tensor arguments as passed, NULL ones skipped, out last
     * (XHAL_GRAPH_ARG_OUT); axis counts the tensor's own dims. Only for ops that take their
     * tensors as they are (COPY, FILL, unary, SCALE, SOFTMAX, RMS_NORM, LAYER_NORM, ROPE,
     * ATTENTION's q, k, v and out), and not for block-quantized tensors. */
    XHAL_GRAPH_VIEW_START = 2,
    /* ATTENTION: the key length Sk of k and v (and of the mask, when it has a key axis). */
    XHAL_GRAPH_ATTENTION_KEYS = 3,
    /* ATTENTION captured with an explicit q_pos0 (xhal_attention_ex): q_pos0. With it, a step
     * may attend over a fixed key length (the whole cache) and move only where its queries sit. */
    XHAL_GRAPH_ATTENTION_Q_POS0 = 4
} xhal_graph_field;

#define XHAL_GRAPH_ARG_OUT (-1)

/* Bind field of the op captured last on stream to parameter param: field = recorded value +
 * scale * (param's value - param's value at capture). Call right after the op.
 * Errors: INVALID_HANDLE, INVALID_ARGUMENT (the stream is not capturing, no op captured yet,
 * param out of range, scale 0, a field the op does not have, arg or axis out of range, a
 * block-quantized view); the capture fails with it. */
XHAL_API xhal_status xhal_stream_capture_bind(xhal_stream *stream, int param, xhal_graph_field field, int arg, int axis,
                                              int64_t scale);

/* Stop capturing and return the graph (*out), which then belongs to the caller. The stream
 * leaves capture mode whatever happens (on an error *out is NULL and the capture is dropped).
 * A graph may hold no op.
 * Errors: INVALID_HANDLE, INVALID_ARGUMENT (stream not capturing, out NULL), OUT_OF_MEMORY,
 * the backend's graph_create failure (other than UNSUPPORTED, which means: replay op by op). */
XHAL_API xhal_status xhal_stream_end_capture(xhal_stream *stream, xhal_graph **out);

/* Set parameter param (in [0, n_params) of the capture) for the next launches. Checked at
 * launch, not here. Errors: INVALID_HANDLE, INVALID_ARGUMENT (param out of range). */
XHAL_API xhal_status xhal_graph_set_param(xhal_graph *graph, int param, int64_t value);

/* Queue the graph's ops on stream (of the graph's device; it must not be capturing), with the
 * current parameter values. Nothing is queued when a check fails. A captured xhal_gather
 * checks its indices as it runs and reports a bad one at the next wait on this stream, as it
 * does outside a graph.
 * Errors: INVALID_HANDLE, WRONG_DEVICE (stream of another device), INVALID_ARGUMENT (stream
 * capturing), OUT_OF_RANGE (a parameter value moves a view out of its buffer, makes a position
 * negative or a key length too small, or makes an output overlap an input: the message names
 * the op by index and name, the parameter and its value), OVERFLOW, or what the backend
 * reports while queueing (naming the op). */
XHAL_API xhal_status xhal_graph_launch(xhal_graph *graph, xhal_stream *stream);

/* Number of ops in the graph. */
XHAL_API xhal_status xhal_graph_op_count(xhal_graph *graph, int *count);

/* 1 if the backend took the whole list (its graph_create), 0 if the core replays op by op. */
XHAL_API xhal_status xhal_graph_is_native(xhal_graph *graph, int *native);

/* Free the graph and drop its buffer references; work already queued from it completes.
 * NULL is a no-op. Destroyed with its context otherwise. */
XHAL_API xhal_status xhal_graph_destroy(xhal_graph *graph);

/* ------------------------------------------------------------------------- */
/* Custom kernels (devices with XHAL_CAP_CUSTOM_KERNELS)                      */
/* ------------------------------------------------------------------------- */
typedef struct xhal_program xhal_program;

/* Compile source written in the portable kernel dialect (backends/kernels/README.md).
 * options are passed to the device compiler (may be NULL). A compile error gives
 * XHAL_ERROR_BACKEND with the compiler log in the message. */
XHAL_API xhal_status xhal_program_create(xhal_device *dev, const char *source, const char *options, xhal_program **out);
XHAL_API xhal_status xhal_program_destroy(xhal_program *prog);

typedef enum xhal_kernel_arg_kind {
    XHAL_ARG_TENSOR = 0, /* passes a pointer to the tensor's first element */
    XHAL_ARG_I32 = 1,
    XHAL_ARG_I64 = 2,
    XHAL_ARG_F32 = 3
} xhal_kernel_arg_kind;

typedef struct xhal_kernel_arg {
    int32_t kind; /* xhal_kernel_arg_kind */
    union {
        xhal_tensor *tensor;
        int32_t i32;
        int64_t i64;
        float f32;
    } value;
} xhal_kernel_arg;

/* Launch kernel `name` over global_size[0..dims) work items in groups of local_size
 * (NULL: the backend picks). dims in [1, 3]. Each size is at most XHAL_KERNEL_MAX_GLOBAL_DIM
 * and the launch at most XHAL_KERNEL_MAX_ITEMS work items (INVALID_ARGUMENT otherwise); a
 * backend refuses sizes above its device's own limits the same way. */
#define XHAL_KERNEL_MAX_GLOBAL_DIM 0xffffffffull
#define XHAL_KERNEL_MAX_ITEMS (1ull << 41)
XHAL_API xhal_status xhal_kernel_launch(xhal_stream *stream, xhal_program *prog, const char *name, int dims,
                                        const uint64_t *global_size, const uint64_t *local_size, int nargs,
                                        const xhal_kernel_arg *args);

#ifdef __cplusplus
}
#endif

/* Communicators and collectives (all_reduce, all_gather, reduce_scatter, broadcast, send/recv). */
#include "xhal_comm.h"

#endif /* XHAL_XHAL_H */
