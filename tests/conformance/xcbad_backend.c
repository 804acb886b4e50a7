/* xcbad: a deliberately broken test backend (host memory, f32 only, 1-D ops) that the
 * conformance tests point a context at. It answers UNSUPPORTED for exp, writes one
 * element past the output for neg, scribbles on its first input for add, and gets mul
 * right: the suite must report exactly that. Never installed, never loaded by default. */
#include <stdlib.h>
#include <string.h>
#include "xhal/plugin/xhal_plugin.h"

typedef struct buf {
    uint64_t size;
    unsigned char *p;
} buf;

static xhal_status b_init(const xhal_host_services *h, void **state)
{
    (void)h;
    *state = (void *)1;
    return XHAL_OK;
}
static void b_shutdown(void *state) { (void)state; }
static int b_count(void *state)
{
    (void)state;
    return 1;
}
static xhal_status b_info(void *state, int device, xhal_device_info *info)
{
    (void)state;
    (void)device;
    memset(info, 0, sizeof(*info));
    strcpy(info->backend, "xcbad");
    strcpy(info->name, "broken on purpose");
    strcpy(info->vendor, "Test");
    strcpy(info->family, "xcbad-family");
    strcpy(info->arch, "none");
    strcpy(info->driver_version, "0");
    info->total_memory = 1u << 30;
    info->free_memory = 1u << 30;
    info->compute_units = 1;
    info->dtypes = XHAL_DTYPE_BIT(XHAL_DTYPE_F32);
    info->caps = XHAL_CAP_HOST_MEMORY;
    return XHAL_OK;
}
static xhal_status b_alloc(void *state, int device, uint64_t size, void **out)
{
    (void)state;
    (void)device;
    buf *b = calloc(1, sizeof(*b));
    if (b) b->p = calloc(1, (size_t)size);
    if (!b || !b->p) {
        free(b);
        return xhal_plugin_host()->set_error(XHAL_ERROR_OUT_OF_MEMORY, "xcbad: out of memory");
    }
    b->size = size;
    *out = b;
    return XHAL_OK;
}
static void b_free(void *state, void *p)
{
    (void)state;
    buf *b = p;
    if (b) free(b->p);
    free(b);
}
static xhal_status b_stream_create(void *state, int device, void **s)
{
    (void)state;
    (void)device;
    *s = (void *)2;
    return XHAL_OK;
}
static void b_stream_destroy(void *state, void *s)
{
    (void)state;
    (void)s;
}
static xhal_status b_sync(void *state, void *s)
{
    (void)state;
    (void)s;
    return XHAL_OK;
}
static xhal_status b_write(void *state, void *s, void *dst, uint64_t off, const void *src, uint64_t size)
{
    (void)state;
    (void)s;
    memcpy(((buf *)dst)->p + off, src, (size_t)size);
    return XHAL_OK;
}
static xhal_status b_read(void *state, void *s, void *src, uint64_t off, void *dst, uint64_t size)
{
    (void)state;
    (void)s;
    memcpy(dst, ((buf *)src)->p + off, (size_t)size);
    return XHAL_OK;
}
static xhal_status b_copy(void *state, void *s, void *src, uint64_t so, void *dst, uint64_t dof, uint64_t size)
{
    (void)state;
    (void)s;
    memmove(((buf *)dst)->p + dof, ((buf *)src)->p + so, (size_t)size);
    return XHAL_OK;
}
static xhal_status b_supported(void *state, int device, const xhal_op_desc *d)
{
    (void)state;
    (void)device;
    if ((d->op == XHAL_OP_ADD || d->op == XHAL_OP_MUL || d->op == XHAL_OP_NEG) && d->outputs[0].ndim == 1 &&
        d->outputs[0].dtype == XHAL_DTYPE_F32)
        return XHAL_OK;
    return xhal_plugin_host()->set_error(XHAL_ERROR_UNSUPPORTED, "xcbad: %d not supported", d->op);
}
static float *at(const xhal_tensor_desc *t, int64_t i)
{
    return (float *)(((buf *)t->buffer)->p + t->offset + 4 * (uint64_t)(i * t->strides[0]));
}
static xhal_status b_run(void *state, void *s, const xhal_op_desc *d)
{
    (void)state;
    (void)s;
    const xhal_tensor_desc *o = &d->outputs[0];
    int64_t n = o->shape[0];
    for (int64_t i = 0; i < n; i++) {
        float a = *at(&d->inputs[0], i);
        float r = d->op == XHAL_OP_NEG   ? -a
                  : d->op == XHAL_OP_ADD ? a + *at(&d->inputs[1], i)
                                         : a * *at(&d->inputs[1], i);
        *at(o, i) = r;
    }
    if (d->op == XHAL_OP_NEG) *at(o, n) = 0.0f;           /* one past the end */
    if (d->op == XHAL_OP_ADD) *at(&d->inputs[0], 0) += 1; /* scribble on an input */
    return XHAL_OK;
}

static const xhal_backend_table table = {
    .abi_version = XHAL_BACKEND_ABI_VERSION,
    .struct_size = sizeof(xhal_backend_table),
    .name = "xcbad",
    .version = "0",
    .catalogue_version = XHAL_BACKEND_CATALOGUE_VERSION,
    .init = b_init,
    .shutdown = b_shutdown,
    .device_count = b_count,
    .device_info = b_info,
    .buffer_alloc = b_alloc,
    .buffer_free = b_free,
    .stream_create = b_stream_create,
    .stream_destroy = b_stream_destroy,
    .stream_sync = b_sync,
    .write = b_write,
    .read = b_read,
    .copy = b_copy,
    .op_supported = b_supported,
    .op_run = b_run,
};

/* the exported entry: ABI checks and the host services, in the plugin helper */
XHAL_PLUGIN_ENTRY(table)
