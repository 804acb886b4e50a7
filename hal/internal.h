/* internal.h - the core's objects (internal). One definition of each handle kind. */
#ifndef HAL_INTERNAL_H
#define HAL_INTERNAL_H

#include "error.h"
#include "handles.h"
#include "topology.h"
#include "xhal/xhal.h"
#include "xhal/xhal_backend.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

typedef struct hal_backend {
    xhal_backend_info info;          /* name, path, state, reason... */
    void *dl;                        /* dlopen handle (NULL when unavailable before load) */
    const xhal_backend_table *table; /* NULL when unavailable */
    void *state;                     /* from table->init */
} hal_backend;

/* 1 if op is in the catalogue the backend was built for (the table's catalogue_version). */
static inline int hal_backend_knows_op(const hal_backend *b, int op)
{
    return op >= 0 && (uint32_t)op < b->table->catalogue_version;
}

struct xhal_device {
    hal_handle_hdr hdr;
    xhal_context *ctx;
    hal_backend *backend;
    int index; /* within the backend */
    char spec[48];
    /* what the validation of every op asks (stored dtypes, XHAL_CAP_*), read from the backend
     * once when the context is built: device_info may read /proc and /sys on each call */
    int info_cached;
    uint32_t dtypes, caps;
};

struct xhal_context {
    hal_handle_hdr hdr;
    pthread_mutex_t lock; /* guards the object lists below */
    hal_backend *backends;
    int n_backends;
    xhal_device **devices;
    int n_devices;
    hal_topology *topology;
    char topology_reason[512];
    int counted; /* counted among the live contexts */
    /* every live object of this context, destroyed with it */
    hal_handle_hdr *objects; /* doubly linked through hdr.next/prev */
};

struct xhal_buffer {
    hal_handle_hdr hdr;
    xhal_device *dev;
    void *handle; /* backend buffer */
    uint64_t size;
    int refs;                    /* 1 for the creator (until xhal_buffer_destroy) + 1 per tensor */
    int user_ref;                /* creator's reference still held */
    void (*release)(void *user); /* xhal_buffer_wrap_host: called once the buffer is freed */
    void *release_user;
};

struct xhal_tensor {
    hal_handle_hdr hdr;
    xhal_buffer *buf;
    xhal_dtype dtype;
    int ndim;
    int64_t shape[XHAL_MAX_DIMS];
    int64_t strides[XHAL_MAX_DIMS];
    uint64_t offset; /* bytes */
};

struct xhal_stream {
    hal_handle_hdr hdr;
    xhal_device *dev;
    void *handle;
    struct xhal_graph *capture; /* the graph being captured (xhal_stream_begin_capture), or NULL */
    /* The status output of the ops that check their data on the device (op_status.c): made at
     * the first such op, not on the context's object list (the stream frees it). armed: such
     * an op was queued since the status was last read. */
    xhal_buffer *status;
    int status_armed;
};

struct xhal_event {
    hal_handle_hdr hdr;
    xhal_device *dev;
    void *handle; /* backend event, NULL when emulated */
    int recorded;
    double host_time_ms; /* emulated events: host time at record */
};

struct xhal_program {
    hal_handle_hdr hdr;
    xhal_device *dev;
    void *handle;
};

/* Context object list (under ctx->lock). attach records how the object destroys itself at
 * context teardown (destroy: the kind's own function, e.g. a stream's). */
void hal_ctx_attach(xhal_context *ctx, hal_handle_hdr *h, void (*destroy)(hal_handle_hdr *h));
void hal_ctx_detach(xhal_context *ctx, hal_handle_hdr *h);

/* Handle checks: return OK or INVALID_HANDLE naming `what` (e.g. "a", "stream"). */
xhal_status hal_check_device(xhal_device *d, const char *what);
xhal_status hal_check_tensor(xhal_tensor *t, const char *what);
xhal_status hal_check_stream(xhal_stream *s, const char *what);
xhal_status hal_check_buffer(xhal_buffer *b, const char *what);

/* Release one reference of a buffer (frees it at zero). */
void hal_buffer_release(xhal_buffer *b);
/* Create a tensor handle (internal: no validation of the geometry). */
xhal_status hal_tensor_new(xhal_buffer *buf, xhal_dtype dtype, int ndim, const int64_t *shape, const int64_t *strides,
                           uint64_t offset, xhal_tensor **out);

/* A handle-less copy of t's geometry (buffer, dtype, shape, strides, offset) for local views:
 * the header is not copied, since other threads relink it under the context lock. */
static inline void hal_tensor_geometry(xhal_tensor *dst, const xhal_tensor *t)
{
    memset(&dst->hdr, 0, sizeof dst->hdr);
    dst->buf = t->buf;
    dst->dtype = t->dtype;
    dst->ndim = t->ndim;
    memcpy(dst->shape, t->shape, sizeof dst->shape);
    memcpy(dst->strides, t->strides, sizeof dst->strides);
    dst->offset = t->offset;
}

/* Fill a backend tensor descriptor from a tensor. Until hal_dispatch, the descriptors the core
 * builds carry the xhal_buffer (not the backend's handle) in their buffer field: hal_dispatch
 * swaps in the backend handle, and a capture keeps the buffer. */
void hal_tensor_desc(const xhal_tensor *t, xhal_tensor_desc *d);

/* Run one op: ask op_supported, then op_run (or record it when s is capturing a graph), naming
 * op/dtype/device on failure. desc's buffers are xhal_buffer pointers (hal_tensor_desc). */
xhal_status hal_dispatch(xhal_stream *s, xhal_op_desc *desc);

/* The first feature of desc that catalogue XHAL_CATALOGUE_ROPE_ATTENTION_EX added (a plugin
 * built before would misread it), or NULL (dispatch.c). */
const char *hal_needs_rope_attention_ex(const xhal_op_desc *d);

/* Graphs (graph.c). Record an op desc (backend handles resolved) whose tensors live in bufs
 * (inputs, then the output) into the graph s is capturing. */
xhal_status hal_graph_record(xhal_stream *s, const xhal_op_desc *desc, xhal_buffer *const *bufs);
/* INVALID_ARGUMENT naming fn when s is capturing (for calls that cannot be recorded). */
xhal_status hal_check_not_capturing(xhal_stream *s, const char *fn);
/* Drop the capture in progress on s, if any (stream destroy). */
void hal_graph_abort(xhal_stream *s);

/* op_status.c: the per-stream status output of ops that check their data on the device
 * (xhal_backend.h, XHAL_OP_STATUS_WORDS). hal_op_status_output makes s's status (at the first
 * call: allocated and cleared, queued on s without waiting) and describes it in *out (its
 * buffer an xhal_buffer, as hal_dispatch expects). The caller sets s->status_armed once the op
 * is queued. hal_op_status_check, where the stream has just been drained (where names the
 * call): OK when nothing was recorded; else OUT_OF_RANGE naming the op, the position and the
 * value, and the status is cleared (the stream stays usable). hal_op_status_free: at stream
 * destroy. */
xhal_status hal_op_status_output(xhal_stream *s, xhal_tensor_desc *out);
xhal_status hal_op_status_check(xhal_stream *s, const char *where);
void hal_op_status_free(xhal_stream *s);
/* A buffer of the core's own (no user reference, not on the context's object list): freed
 * by hal_buffer_release of its last reference. */
xhal_status hal_buffer_new_internal(xhal_device *dev, uint64_t size, xhal_buffer **out);

/* Host services given to every plugin (host_services.c). */
const xhal_host_services *hal_host_services(void);

/* Loader (loader.c). */
xhal_status hal_load_plugins(xhal_context *ctx, const xhal_context_options *opts);
void hal_unload_plugins(xhal_context *ctx);
/* The installation's plugin folder (the folder "xhal" beside libxhal): 0, or -1 if unknown. */
int hal_default_plugin_dir(char *out, size_t len);

#endif
