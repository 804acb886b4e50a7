/*
 * skeleton.c - a complete xhal backend plugin to copy: one device, "skeleton:0", whose
 * memory is host memory, running a few ops on f32 tensors:
 *
 *   fill                  out = value
 *   add, sub, mul         out = a (op) b, with broadcasting (stride-0 inputs)
 *   scale                 out = alpha * x + beta
 *   copy                  out = x, any strides, same dtype (xhal_copy, xhal_contiguous)
 *
 * Every other op and dtype is answered XHAL_ERROR_UNSUPPORTED with a reason, which users see as
 * "op exp (f32) is not supported on skeleton:0: ...". xhal-conform checks the ops it claims
 * against the CPU reference and lists the others as unsupported.
 *
 * To make it yours: rename "skeleton", replace the host-memory buffers by your device's memory
 * (buffer_alloc/free, write/read/copy), turn op_run into kernel launches queued on your stream,
 * and claim more ops in op_supported as you implement them. Read include/xhal/xhal_backend.h
 * for the contract of each entry; backends/README.md walks through it.
 *
 * What the core guarantees (so this file checks none of it): handles are this plugin's own and
 * alive, device indices are in range, byte ranges lie inside buffers, descriptors follow the
 * per-op rules in xhal_backend.h (binary inputs already broadcast to the output's shape, equal
 * dtypes, no empty tensors). Entries may be called from several threads, never concurrently
 * for one stream.
 *
 * The plugin does not link libxhal: all it needs from the host comes through the host
 * services, read anywhere with xhal_plugin_host().
 */
#include <stdlib.h>
#include <string.h>

#include <xhal/plugin/xhal_plugin.h>

#define SK_NAME "skeleton"

/* ---- state, buffers, streams --------------------------------------------------------- */

/* The plugin instance (one per context that loads the plugin). A real backend keeps its
 * driver handles here. */
typedef struct sk_state {
    int unused;
} sk_state;

/* A buffer is host memory. Its handle is what the core hands back in descriptors. */
typedef struct sk_buffer {
    uint64_t size;
    unsigned char *data;
} sk_buffer;

#define HOST (xhal_plugin_host())

static xhal_status sk_init(const xhal_host_services *host, void **state)
{
    /* A real backend opens its driver here; if that fails, return XHAL_ERROR_UNAVAILABLE with
     * the driver's own words: the backend is listed as unavailable with that reason. */
    sk_state *st = host->host_calloc(1, sizeof *st);
    if (!st) return host->set_error(XHAL_ERROR_OUT_OF_MEMORY, SK_NAME ": out of memory for the state");
    *state = st;
    return XHAL_OK;
}

static void sk_shutdown(void *state) { HOST->host_free(state); }

static int sk_device_count(void *state)
{
    (void)state;
    return 1;
}

static xhal_status sk_device_info(void *state, int device, xhal_device_info *info)
{
    (void)state;
    (void)device;
    /* The core zeroed *info and set struct_size; write only what fits (every field of this
     * header does: XHAL_PLUGIN_INFO_HAS matters for fields added after the host was built). */
    if (!XHAL_PLUGIN_INFO_HAS(info, caps)) return HOST->set_error(XHAL_ERROR_ABI_MISMATCH, SK_NAME ": info too small");
    strncpy(info->name, "xhal backend skeleton (host memory)", sizeof info->name - 1);
    strncpy(info->vendor, "example", sizeof info->vendor - 1);
    strncpy(info->family, "skeleton", sizeof info->family - 1); /* expected-failure files match on it */
    strncpy(info->arch, "host", sizeof info->arch - 1);
    strncpy(info->driver_version, "1.0", sizeof info->driver_version - 1);
    info->total_memory = (uint64_t)1 << 30;
    info->free_memory = (uint64_t)1 << 30;
    info->compute_units = 1;
    info->dtypes = XHAL_DTYPE_BIT(XHAL_DTYPE_F32); /* what it stores; other dtypes are refused */
    info->caps = XHAL_CAP_HOST_MEMORY;
    return XHAL_OK;
}

static xhal_status sk_buffer_alloc(void *state, int device, uint64_t size, void **buffer)
{
    (void)state;
    (void)device;
    /* inject_fault lets the host's fault-injection tests reach this allocator */
    sk_buffer *b = HOST->inject_fault("buffer_alloc") ? NULL : HOST->host_calloc(1, sizeof *b);
    if (b) b->data = size <= SIZE_MAX ? HOST->host_alloc((size_t)size) : NULL;
    if (!b || !b->data) {
        if (b) HOST->host_free(b);
        return HOST->set_error(XHAL_ERROR_OUT_OF_MEMORY, SK_NAME ": cannot allocate %llu bytes",
                               (unsigned long long)size);
    }
    b->size = size;
    *buffer = b;
    return XHAL_OK;
}

static void sk_buffer_free(void *state, void *buffer)
{
    (void)state;
    sk_buffer *b = buffer;
    HOST->host_free(b->data);
    HOST->host_free(b);
}

/* Ops run synchronously in op_run, so a stream is only a token and sync has nothing to wait
 * for. A device with queues keeps its queue here and waits in stream_sync. */
static xhal_status sk_stream_create(void *state, int device, void **stream)
{
    (void)state;
    (void)device;
    *stream = HOST->host_alloc(1);
    return *stream ? XHAL_OK : HOST->set_error(XHAL_ERROR_OUT_OF_MEMORY, SK_NAME ": out of memory for a stream");
}

static void sk_stream_destroy(void *state, void *stream)
{
    (void)state;
    HOST->host_free(stream);
}

static xhal_status sk_stream_sync(void *state, void *stream)
{
    (void)state;
    (void)stream;
    return XHAL_OK;
}

static xhal_status sk_write(void *state, void *stream, void *buffer, uint64_t offset, const void *src, uint64_t size)
{
    (void)state;
    (void)stream;
    memcpy(((sk_buffer *)buffer)->data + offset, src, (size_t)size);
    return XHAL_OK;
}

static xhal_status sk_read(void *state, void *stream, void *buffer, uint64_t offset, void *dst, uint64_t size)
{
    (void)state;
    (void)stream;
    memcpy(dst, ((sk_buffer *)buffer)->data + offset, (size_t)size);
    return XHAL_OK;
}

static xhal_status sk_copy(void *state, void *stream, void *src, uint64_t src_offset, void *dst, uint64_t dst_offset,
                           uint64_t size)
{
    (void)state;
    (void)stream;
    /* memmove: the core allows a copy within one buffer */
    memmove(((sk_buffer *)dst)->data + dst_offset, ((sk_buffer *)src)->data + src_offset, (size_t)size);
    return XHAL_OK;
}

/* ---- ops ----------------------------------------------------------------------------- */

/* First element of a tensor: its buffer's memory plus the byte offset. */
static unsigned char *sk_base(const xhal_tensor_desc *t) { return ((sk_buffer *)t->buffer)->data + t->offset; }

/* op_supported must not touch memory: it only looks at the descriptor. */
static xhal_status sk_op_supported(void *state, int device, const xhal_op_desc *d)
{
    (void)state;
    (void)device;
    int dt = d->outputs[0].dtype;
    switch (d->op) {
        case XHAL_OP_COPY:
            if (d->inputs[0].dtype == dt) return XHAL_OK; /* casts are not implemented */
            return HOST->set_error(XHAL_ERROR_UNSUPPORTED, SK_NAME " copies without casting (%s to %s asked)",
                                   xhal_names_dtype(d->inputs[0].dtype), xhal_names_dtype(dt));
        case XHAL_OP_FILL:
        case XHAL_OP_ADD:
        case XHAL_OP_SUB:
        case XHAL_OP_MUL:
        case XHAL_OP_SCALE:
            if (dt == XHAL_DTYPE_F32) return XHAL_OK;
            return HOST->set_error(XHAL_ERROR_UNSUPPORTED, SK_NAME " runs %s on f32 only", xhal_names_op(d->op));
        default: return HOST->set_error(XHAL_ERROR_UNSUPPORTED, SK_NAME " does not implement %s", xhal_names_op(d->op));
    }
}

/* Called only after op_supported said OK for this descriptor. Inputs and output may be the
 * same memory (in-place ops): each element is read before it is written. */
static xhal_status sk_op_run(void *state, void *stream, const xhal_op_desc *d)
{
    (void)state;
    (void)stream;
    const xhal_tensor_desc *t[3] = {&d->outputs[0], &d->inputs[0], &d->inputs[1]};
    xhal_iter it;
    if (d->op == XHAL_OP_COPY) { /* any dtype: move element-sized bytes */
        size_t es = xhal_names_dtype_size(t[0]->dtype);
        unsigned char *out = sk_base(t[0]), *in = sk_base(t[1]);
        for (xhal_iter_init(&it, 2, t); !it.done; xhal_iter_next(&it))
            memmove(out + (size_t)it.off[0] * es, in + (size_t)it.off[1] * es, es);
        return XHAL_OK;
    }
    float *out = (float *)sk_base(t[0]);
    if (d->op == XHAL_OP_FILL) {
        float v = (float)d->attrs.fill.value;
        for (xhal_iter_init(&it, 1, t); !it.done; xhal_iter_next(&it)) out[it.off[0]] = v;
        return XHAL_OK;
    }
    const float *a = (const float *)sk_base(t[1]);
    if (d->op == XHAL_OP_SCALE) { /* computed in double, rounded once */
        double alpha = d->attrs.scale.alpha, beta = d->attrs.scale.beta;
        for (xhal_iter_init(&it, 2, t); !it.done; xhal_iter_next(&it))
            out[it.off[0]] = (float)(alpha * a[it.off[1]] + beta);
        return XHAL_OK;
    }
    const float *b = (const float *)sk_base(t[2]);
    for (xhal_iter_init(&it, 3, t); !it.done; xhal_iter_next(&it)) {
        float x = a[it.off[1]], y = b[it.off[2]];
        out[it.off[0]] = d->op == XHAL_OP_ADD ? x + y : d->op == XHAL_OP_SUB ? x - y : x * y;
    }
    return XHAL_OK;
}

/* ---- the table and the entry point ----------------------------------------------------- */

static const xhal_backend_table sk_table = {
    .abi_version = XHAL_BACKEND_ABI_VERSION,
    .struct_size = sizeof(xhal_backend_table),
    .name = SK_NAME, /* devices are "skeleton:0"...; the file must be libxhal-skeleton.so */
    .version = "1.0",
    .catalogue_version = XHAL_BACKEND_CATALOGUE_VERSION, /* newer ops are refused by the core */
    .init = sk_init,
    .shutdown = sk_shutdown,
    .device_count = sk_device_count,
    .device_info = sk_device_info,
    .buffer_alloc = sk_buffer_alloc,
    .buffer_free = sk_buffer_free,
    .stream_create = sk_stream_create,
    .stream_destroy = sk_stream_destroy,
    .stream_sync = sk_stream_sync,
    .write = sk_write,
    .read = sk_read,
    .copy = sk_copy,
    .op_supported = sk_op_supported,
    .op_run = sk_op_run,
    /* Optional entries left NULL get the core's defaults: events are emulated (synchronise
     * at record), copies between two devices of this backend go through host memory, and
     * custom kernels are UNSUPPORTED. */
};

/* Defines xhal_backend_entry: checks the host's ABI version and services, keeps the
 * services for xhal_plugin_host(), returns sk_table. */
XHAL_PLUGIN_ENTRY(sk_table)
