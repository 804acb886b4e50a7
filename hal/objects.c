/* objects.c - buffers, tensors and views: creation, lifetime, geometry queries. */
#include "fault.h"
#include "internal.h"
#include "shape.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

xhal_status hal_check_buffer(xhal_buffer *b, const char *what)
{
    if (!b) return hal_set_error(XHAL_ERROR_INVALID_HANDLE, "%s: buffer is NULL", what);
    if (!hal_handle_live(b, HAL_KIND_BUFFER) || !b->user_ref)
        return hal_set_error(XHAL_ERROR_INVALID_HANDLE, "%s: %p is not a live buffer (destroyed?)", what, (void *)b);
    return XHAL_OK;
}

xhal_status hal_check_tensor(xhal_tensor *t, const char *what)
{
    if (!t) return hal_set_error(XHAL_ERROR_INVALID_HANDLE, "%s is NULL", what);
    if (!hal_handle_live(t, HAL_KIND_TENSOR)) {
        hal_kind k = hal_handle_kind(t);
        if (k)
            return hal_set_error(XHAL_ERROR_INVALID_HANDLE, "%s: %p is a %s, not a tensor", what, (void *)t,
                                 hal_kind_name(k));
        return hal_set_error(XHAL_ERROR_INVALID_HANDLE, "%s: %p is not a live tensor (destroyed?)", what, (void *)t);
    }
    return XHAL_OK;
}

/* ---- buffers ---- */
/* Context teardown: the buffers left are user buffers (an owned buffer goes with its last
 * tensor, and tensors are destroyed first); drop the user's reference. */
static void buffer_teardown(hal_handle_hdr *h)
{
    xhal_buffer *b = (xhal_buffer *)h;
    b->user_ref = 1;
    xhal_buffer_destroy(b);
}

static void tensor_teardown(hal_handle_hdr *h) { xhal_tensor_destroy((xhal_tensor *)h); }

static xhal_status buffer_register(xhal_device *dev, xhal_buffer *b, uint64_t size, int user_ref, xhal_buffer **out);

static xhal_status buffer_new(xhal_device *dev, uint64_t size, int user_ref, xhal_buffer **out)
{
    if (hal_fault_hit("host_alloc"))
        return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "out of host memory for a buffer handle");
    xhal_buffer *b = calloc(1, sizeof *b);
    if (!b) return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "out of host memory for a buffer handle");
    xhal_status st;
    if (hal_fault_hit("device_alloc"))
        st = hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "injected fault: device allocation of %llu bytes",
                           (unsigned long long)size);
    else
        st = dev->backend->table->buffer_alloc(dev->backend->state, dev->index, size, &b->handle);
    if (st != XHAL_OK) {
        free(b);
        return hal_error_prefix(st, "allocating %llu bytes on %s", (unsigned long long)size, dev->spec);
    }
    return buffer_register(dev, b, size, user_ref, out);
}

/* Register b (its backend handle set) as a live buffer of dev's context; frees it on failure. */
static xhal_status buffer_register(xhal_device *dev, xhal_buffer *b, uint64_t size, int user_ref, xhal_buffer **out)
{
    if (hal_handle_register(&b->hdr, HAL_KIND_BUFFER, dev->ctx) != 0) {
        dev->backend->table->buffer_free(dev->backend->state, b->handle);
        free(b);
        return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "out of host memory registering a buffer");
    }
    b->dev = dev;
    b->size = size;
    b->refs = 1;
    b->user_ref = user_ref;
    hal_ctx_attach(dev->ctx, &b->hdr, buffer_teardown);
    *out = b;
    return XHAL_OK;
}

XHAL_API xhal_status xhal_buffer_create(xhal_device *dev, uint64_t size, xhal_buffer **out)
{
    xhal_status st = hal_check_device(dev, "xhal_buffer_create");
    if (st != XHAL_OK) return st;
    if (!out) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_buffer_create: out is NULL");
    if (size == 0) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_buffer_create: size is 0");
    if (size > (UINT64_MAX >> 2))
        return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "xhal_buffer_create: %llu bytes on %s is beyond any device",
                             (unsigned long long)size, dev->spec);
    return buffer_new(dev, size, 1, out);
}

xhal_status hal_buffer_new_internal(xhal_device *dev, uint64_t size, xhal_buffer **out)
{
    xhal_status st = buffer_new(dev, size, 0, out);
    if (st == XHAL_OK) hal_ctx_detach(dev->ctx, &(*out)->hdr); /* its owner frees it, not the context */
    return st;
}

void hal_buffer_release(xhal_buffer *b)
{
    xhal_context *ctx = b->dev->ctx;
    pthread_mutex_lock(&ctx->lock);
    int left = --b->refs;
    pthread_mutex_unlock(&ctx->lock);
    if (left > 0) return;
    hal_ctx_detach(ctx, &b->hdr);
    hal_handle_unregister(b);
    b->dev->backend->table->buffer_free(b->dev->backend->state, b->handle);
    if (b->release) b->release(b->release_user);
    free(b);
}

XHAL_API xhal_status xhal_tensor_host_pointer(xhal_tensor *t, void **out)
{
    xhal_status st = hal_check_tensor(t, "xhal_tensor_host_pointer: t");
    if (st != XHAL_OK) return st;
    if (!out) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_tensor_host_pointer: out is NULL");
    xhal_buffer *b = t->buf;
    const xhal_backend_table *tab = b->dev->backend->table;
    if (!XHAL_BACKEND_TABLE_HAS(tab, buffer_host_ptr))
        return hal_set_error(XHAL_ERROR_UNSUPPORTED,
                             "xhal_tensor_host_pointer: %s does not lend its memory to the host (backend %s "
                             "has no buffer_host_ptr)",
                             b->dev->spec, b->dev->backend->info.name);
    void *p = NULL;
    st = tab->buffer_host_ptr(b->dev->backend->state, b->handle, &p);
    if (st != XHAL_OK) return hal_error_prefix(st, "xhal_tensor_host_pointer on %s", b->dev->spec);
    *out = (unsigned char *)p + t->offset;
    return XHAL_OK;
}

XHAL_API xhal_status xhal_buffer_wrap_host(xhal_device *dev, void *ptr, uint64_t size, void (*release)(void *user),
                                           void *user, xhal_buffer **out)
{
    xhal_status st = hal_check_device(dev, "xhal_buffer_wrap_host");
    if (st != XHAL_OK) return st;
    if (!ptr || !out) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_buffer_wrap_host: ptr or out is NULL");
    if (size == 0) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_buffer_wrap_host: size is 0");
    if (size > (UINT64_MAX >> 2) || (uintptr_t)ptr > UINTPTR_MAX - size)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_buffer_wrap_host: %llu bytes at %p wrap around memory",
                             (unsigned long long)size, ptr);
    const xhal_backend_table *t = dev->backend->table;
    if (!XHAL_BACKEND_TABLE_HAS(t, buffer_wrap_host))
        return hal_set_error(XHAL_ERROR_UNSUPPORTED,
                             "xhal_buffer_wrap_host: %s cannot use host memory in place (backend %s has no "
                             "buffer_wrap_host)",
                             dev->spec, dev->backend->info.name);
    if (hal_fault_hit("host_alloc"))
        return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "out of host memory for a buffer handle");
    xhal_buffer *b = calloc(1, sizeof *b);
    if (!b) return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "out of host memory for a buffer handle");
    st = t->buffer_wrap_host(dev->backend->state, dev->index, ptr, size, &b->handle);
    if (st != XHAL_OK) {
        free(b);
        return hal_error_prefix(st, "xhal_buffer_wrap_host: %llu bytes on %s", (unsigned long long)size, dev->spec);
    }
    b->release = release; /* not called if registering fails: that frees b alone */
    b->release_user = user;
    return buffer_register(dev, b, size, 1, out);
}

XHAL_API xhal_status xhal_buffer_destroy(xhal_buffer *b)
{
    if (!b) return XHAL_OK;
    xhal_status st = hal_check_buffer(b, "xhal_buffer_destroy");
    if (st != XHAL_OK) return st;
    b->user_ref = 0;
    hal_buffer_release(b);
    return XHAL_OK;
}

XHAL_API xhal_status xhal_buffer_size(xhal_buffer *b, uint64_t *size)
{
    xhal_status st = hal_check_buffer(b, "xhal_buffer_size");
    if (st != XHAL_OK) return st;
    if (!size) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_buffer_size: size is NULL");
    *size = b->size;
    return XHAL_OK;
}

/* ---- tensors ---- */
xhal_status hal_tensor_new(xhal_buffer *buf, xhal_dtype dtype, int ndim, const int64_t *shape, const int64_t *strides,
                           uint64_t offset, xhal_tensor **out)
{
    if (hal_fault_hit("host_alloc"))
        return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "out of host memory for a tensor handle");
    xhal_tensor *t = calloc(1, sizeof *t);
    if (!t) return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "out of host memory for a tensor handle");
    if (hal_handle_register(&t->hdr, HAL_KIND_TENSOR, buf->dev->ctx) != 0) {
        free(t);
        return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "out of host memory registering a tensor");
    }
    t->buf = buf;
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < XHAL_MAX_DIMS; i++) {
        t->shape[i] = i < ndim ? shape[i] : 1;
        t->strides[i] = i < ndim ? strides[i] : 0;
    }
    t->offset = offset;
    pthread_mutex_lock(&buf->dev->ctx->lock);
    buf->refs++;
    pthread_mutex_unlock(&buf->dev->ctx->lock);
    hal_ctx_attach(buf->dev->ctx, &t->hdr, tensor_teardown);
    *out = t;
    return XHAL_OK;
}

XHAL_API xhal_status xhal_tensor_create(xhal_device *dev, xhal_dtype dtype, int ndim, const int64_t *shape,
                                        xhal_tensor **out)
{
    xhal_status st = hal_check_device(dev, "xhal_tensor_create");
    if (st != XHAL_OK) return st;
    if (!out) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_tensor_create: out is NULL");
    if (!hal_dtype_valid(dtype))
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_tensor_create: dtype %d is not a valid xhal_dtype",
                             (int)dtype);
    int64_t numel, bs = 1, bb = 0;
    st = hal_shape_check("xhal_tensor_create", ndim, shape, &numel);
    if (st != XHAL_OK) return st;
    int64_t strides[XHAL_MAX_DIMS];
    hal_contiguous_strides(ndim, shape, strides);
    st = hal_block_layout_check("xhal_tensor_create", dtype, ndim, shape, strides);
    if (st != XHAL_OK) return st;
    hal_dtype_block(dtype, &bs, &bb);
    uint64_t bytes;
    if (__builtin_mul_overflow((uint64_t)(numel / bs), (uint64_t)bb, &bytes) || bytes > (UINT64_MAX >> 2)) {
        char b[160];
        return hal_set_error(XHAL_ERROR_OVERFLOW,
                             "xhal_tensor_create: %s tensor of shape %s needs more than 2^62 bytes",
                             xhal_dtype_name(dtype), hal_shape_str(ndim, shape, b, sizeof b));
    }
    xhal_buffer *buf;
    /* an empty tensor still gets a (tiny) buffer so that every tensor has one */
    st = buffer_new(dev, bytes ? bytes : (uint64_t)bb, 0, &buf);
    if (st != XHAL_OK) return st;
    st = hal_tensor_new(buf, dtype, ndim, shape, strides, 0, out);
    hal_buffer_release(buf); /* the tensor holds the only reference now */
    return st;
}

XHAL_API xhal_status xhal_tensor_from_buffer(xhal_buffer *buf, xhal_dtype dtype, int ndim, const int64_t *shape,
                                             const int64_t *strides, uint64_t byte_offset, xhal_tensor **out)
{
    xhal_status st = hal_check_buffer(buf, "xhal_tensor_from_buffer");
    if (st != XHAL_OK) return st;
    if (!out) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_tensor_from_buffer: out is NULL");
    if (!hal_dtype_valid(dtype))
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_tensor_from_buffer: dtype %d is not a valid xhal_dtype",
                             (int)dtype);
    st = hal_shape_check("xhal_tensor_from_buffer", ndim, shape, NULL);
    if (st != XHAL_OK) return st;
    int64_t cs[XHAL_MAX_DIMS];
    if (!strides) {
        hal_contiguous_strides(ndim, shape, cs);
        strides = cs;
    }
    st = hal_block_layout_check("xhal_tensor_from_buffer", dtype, ndim, shape, strides);
    if (st != XHAL_OK) return st;
    /* plain dtypes: offsets on element boundaries; block dtypes: any byte (blocks are read
     * byte-wise) */
    size_t es = hal_dtype_block(dtype, NULL, NULL) ? 1 : xhal_dtype_size(dtype);
    if (byte_offset % es)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                             "xhal_tensor_from_buffer: byte offset %llu is not a multiple of the %s size %zu",
                             (unsigned long long)byte_offset, xhal_dtype_name(dtype), es);
    uint64_t lo, hi;
    st = hal_view_extent("xhal_tensor_from_buffer", dtype, ndim, shape, strides, byte_offset, &lo, &hi);
    if (st != XHAL_OK) return st;
    if (hi > buf->size || lo > buf->size) {
        char b[160];
        return hal_set_error(XHAL_ERROR_OUT_OF_RANGE,
                             "xhal_tensor_from_buffer: %s view of shape %s at offset %llu reaches byte %llu, but the "
                             "buffer holds %llu bytes",
                             xhal_dtype_name(dtype), hal_shape_str(ndim, shape, b, sizeof b),
                             (unsigned long long)byte_offset, (unsigned long long)hi, (unsigned long long)buf->size);
    }
    return hal_tensor_new(buf, dtype, ndim, shape, strides, byte_offset, out);
}

XHAL_API xhal_status xhal_tensor_destroy(xhal_tensor *t)
{
    if (!t) return XHAL_OK;
    xhal_status st = hal_check_tensor(t, "xhal_tensor_destroy");
    if (st != XHAL_OK) return st;
    xhal_buffer *b = t->buf;
    hal_ctx_detach(b->dev->ctx, &t->hdr);
    hal_handle_unregister(t);
    free(t);
    hal_buffer_release(b);
    return XHAL_OK;
}

#define TENSOR_QUERY(fn, t)                    \
    xhal_status st_ = hal_check_tensor(t, fn); \
    if (st_ != XHAL_OK) return st_;

XHAL_API xhal_status xhal_tensor_dtype(xhal_tensor *t, xhal_dtype *dtype)
{
    TENSOR_QUERY("xhal_tensor_dtype", t)
    if (!dtype) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_tensor_dtype: dtype is NULL");
    *dtype = t->dtype;
    return XHAL_OK;
}

XHAL_API xhal_status xhal_tensor_shape(xhal_tensor *t, int *ndim, int64_t *shape, int64_t *strides)
{
    TENSOR_QUERY("xhal_tensor_shape", t)
    if (ndim) *ndim = t->ndim;
    for (int i = 0; i < t->ndim; i++) {
        if (shape) shape[i] = t->shape[i];
        if (strides) strides[i] = t->strides[i];
    }
    return XHAL_OK;
}

XHAL_API xhal_status xhal_tensor_numel(xhal_tensor *t, int64_t *numel)
{
    TENSOR_QUERY("xhal_tensor_numel", t)
    if (!numel) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_tensor_numel: numel is NULL");
    return hal_shape_check("xhal_tensor_numel", t->ndim, t->shape, numel);
}

XHAL_API xhal_status xhal_tensor_byte_offset(xhal_tensor *t, uint64_t *offset)
{
    TENSOR_QUERY("xhal_tensor_byte_offset", t)
    if (!offset) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_tensor_byte_offset: offset is NULL");
    *offset = t->offset;
    return XHAL_OK;
}

XHAL_API xhal_status xhal_tensor_device(xhal_tensor *t, xhal_device **dev)
{
    TENSOR_QUERY("xhal_tensor_device", t)
    if (!dev) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_tensor_device: dev is NULL");
    *dev = t->buf->dev;
    return XHAL_OK;
}

XHAL_API xhal_status xhal_tensor_buffer(xhal_tensor *t, xhal_buffer **buf)
{
    TENSOR_QUERY("xhal_tensor_buffer", t)
    if (!buf) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_tensor_buffer: buf is NULL");
    if (!t->buf->user_ref)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                             "xhal_tensor_buffer: the tensor owns its buffer (made by xhal_tensor_create); it has no "
                             "buffer handle of its own");
    *buf = t->buf;
    return XHAL_OK;
}

XHAL_API xhal_status xhal_tensor_is_contiguous(xhal_tensor *t, int *contiguous)
{
    TENSOR_QUERY("xhal_tensor_is_contiguous", t)
    if (!contiguous) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_tensor_is_contiguous: contiguous is NULL");
    *contiguous = hal_is_contiguous(t->ndim, t->shape, t->strides);
    return XHAL_OK;
}

void hal_tensor_desc(const xhal_tensor *t, xhal_tensor_desc *d)
{
    memset(d, 0, sizeof *d);
    d->dtype = t->dtype;
    d->ndim = t->ndim;
    for (int i = 0; i < XHAL_MAX_DIMS; i++) {
        d->shape[i] = i < t->ndim ? t->shape[i] : 1;
        d->strides[i] = i < t->ndim ? t->strides[i] : 0;
    }
    d->buffer = t->buf; /* the backend's handle replaces it in hal_dispatch */
    d->offset = t->offset;
}

/* ---- views ---- */
static xhal_status norm_axis(const char *fn, int axis, int ndim, int *out)
{
    int a = axis < 0 ? axis + ndim : axis;
    if (a < 0 || a >= ndim)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: axis %d is out of range for a tensor with %d dims", fn,
                             axis, ndim);
    *out = a;
    return XHAL_OK;
}

XHAL_API xhal_status xhal_tensor_slice(xhal_tensor *t, int axis, int64_t start, int64_t stop, int64_t step,
                                       xhal_tensor **out)
{
    TENSOR_QUERY("xhal_tensor_slice", t)
    if (!out) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_tensor_slice: out is NULL");
    int a = 0;
    xhal_status st = norm_axis("xhal_tensor_slice", axis, t->ndim, &a);
    if (st != XHAL_OK) return st;
    if (step < 1)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_tensor_slice: step %lld must be >= 1", (long long)step);
    int64_t n = t->shape[a];
    if (start < 0) start = start + n < 0 ? 0 : start + n;
    if (stop < 0) stop = stop + n < 0 ? 0 : stop + n;
    if (start > n) start = n;
    if (stop > n) stop = n;
    /* 0 <= start, stop <= n here: no intermediate overflows, whatever step is */
    int64_t len = stop > start ? 1 + (stop - start - 1) / step : 0;
    int64_t shape[XHAL_MAX_DIMS], strides[XHAL_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    memcpy(strides, t->strides, sizeof strides);
    int64_t bs = 1;
    if (hal_dtype_block(t->dtype, &bs, NULL) && a == t->ndim - 1 && len > 0 &&
        (start % bs != 0 || (len > 1 && step != 1) || len % bs != 0))
        return hal_set_error(
            XHAL_ERROR_INVALID_ARGUMENT,
            "xhal_tensor_slice: [%lld:%lld:%lld] of the innermost axis splits a %s block (%lld elements): "
            "start and length must be multiples of %lld with step 1",
            (long long)start, (long long)stop, (long long)step, xhal_dtype_name(t->dtype), (long long)bs,
            (long long)bs);
    uint64_t off = t->offset;
    /* start * stride is a multiple of the block size here (block dtypes) */
    if (len > 0) off += hal_dtype_bytes(t->dtype, (uint64_t)start * (uint64_t)t->strides[a]);
    shape[a] = len;
    if (len > 1 && __builtin_mul_overflow(t->strides[a], step, &strides[a]))
        return hal_set_error(XHAL_ERROR_OVERFLOW, "xhal_tensor_slice: stride %lld times step %lld overflows 64 bits",
                             (long long)t->strides[a], (long long)step);
    xhal_status lst = hal_block_layout_check("xhal_tensor_slice", t->dtype, t->ndim, shape, strides);
    if (lst != XHAL_OK) return lst;
    return hal_tensor_new(t->buf, t->dtype, t->ndim, shape, strides, off, out);
}

XHAL_API xhal_status xhal_tensor_permute(xhal_tensor *t, const int *perm, xhal_tensor **out)
{
    TENSOR_QUERY("xhal_tensor_permute", t)
    if (!out || (!perm && t->ndim > 0))
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_tensor_permute: perm or out is NULL");
    int seen[XHAL_MAX_DIMS] = {0};
    int64_t shape[XHAL_MAX_DIMS], strides[XHAL_MAX_DIMS];
    for (int i = 0; i < t->ndim; i++) {
        int p = perm[i];
        if (p < 0 || p >= t->ndim || seen[p])
            return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                                 "xhal_tensor_permute: perm is not a permutation of [0, %d) (entry %d is %d)", t->ndim,
                                 i, p);
        seen[p] = 1;
        shape[i] = t->shape[p];
        strides[i] = t->strides[p];
    }
    if (hal_dtype_block(t->dtype, NULL, NULL) && t->ndim > 0 && perm[t->ndim - 1] != t->ndim - 1 &&
        t->shape[t->ndim - 1] > 1)
        return hal_set_error(
            XHAL_ERROR_INVALID_ARGUMENT,
            "xhal_tensor_permute: moving the innermost axis of a %s tensor splits its blocks (blocks run "
            "along the innermost axis; dequantize with xhal_copy first)",
            xhal_dtype_name(t->dtype));
    xhal_status lst = hal_block_layout_check("xhal_tensor_permute", t->dtype, t->ndim, shape, strides);
    if (lst != XHAL_OK) return lst;
    return hal_tensor_new(t->buf, t->dtype, t->ndim, shape, strides, t->offset, out);
}

XHAL_API xhal_status xhal_tensor_transpose(xhal_tensor *t, int axis0, int axis1, xhal_tensor **out)
{
    TENSOR_QUERY("xhal_tensor_transpose", t)
    int a = 0, b = 0, perm[XHAL_MAX_DIMS];
    xhal_status st = norm_axis("xhal_tensor_transpose", axis0, t->ndim, &a);
    if (st == XHAL_OK) st = norm_axis("xhal_tensor_transpose", axis1, t->ndim, &b);
    if (st != XHAL_OK) return st;
    for (int i = 0; i < t->ndim; i++) perm[i] = i;
    perm[a] = b;
    perm[b] = a;
    return xhal_tensor_permute(t, perm, out);
}

XHAL_API xhal_status xhal_tensor_reshape(xhal_tensor *t, int ndim, const int64_t *shape, xhal_tensor **out)
{
    TENSOR_QUERY("xhal_tensor_reshape", t)
    if (!out) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_tensor_reshape: out is NULL");
    if (ndim < 0 || ndim > XHAL_MAX_DIMS)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_tensor_reshape: ndim %d is not in [0, %d]", ndim,
                             XHAL_MAX_DIMS);
    if (ndim > 0 && !shape) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_tensor_reshape: shape is NULL");
    if (!hal_is_contiguous(t->ndim, t->shape, t->strides))
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                             "xhal_tensor_reshape: the tensor is not contiguous; copy it with xhal_contiguous first");
    int64_t numel, ns[XHAL_MAX_DIMS];
    xhal_status st = hal_shape_check("xhal_tensor_reshape", t->ndim, t->shape, &numel);
    if (st != XHAL_OK) return st;
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < ndim; i++) {
        ns[i] = shape[i];
        if (shape[i] == -1) {
            if (infer >= 0)
                return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_tensor_reshape: more than one -1 in the shape");
            infer = i;
        } else if (shape[i] < 0) {
            return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_tensor_reshape: dimension %d is %lld", i,
                                 (long long)shape[i]);
        } else if (__builtin_mul_overflow(known, shape[i], &known)) {
            return hal_set_error(XHAL_ERROR_OVERFLOW, "xhal_tensor_reshape: element count overflows 64 bits");
        }
    }
    if (infer >= 0) {
        if (known == 0 || numel % known)
            return hal_set_error(
                XHAL_ERROR_SHAPE_MISMATCH,
                "xhal_tensor_reshape: cannot infer the -1 dimension: %lld elements into groups of %lld",
                (long long)numel, (long long)known);
        ns[infer] = numel / known;
        known = numel;
    }
    if (known != numel) {
        char b1[160], b2[160];
        return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH, "xhal_tensor_reshape: %s has %lld elements but %s has %lld",
                             hal_shape_str(t->ndim, t->shape, b1, sizeof b1), (long long)numel,
                             hal_shape_str(ndim, ns, b2, sizeof b2), (long long)known);
    }
    /* an empty tensor reshaped to dims whose product overflows would overflow its strides */
    st = hal_shape_check("xhal_tensor_reshape", ndim, ns, NULL);
    if (st != XHAL_OK) return st;
    int64_t strides[XHAL_MAX_DIMS];
    hal_contiguous_strides(ndim, ns, strides);
    st = hal_block_layout_check("xhal_tensor_reshape", t->dtype, ndim, ns, strides);
    if (st != XHAL_OK) return st;
    return hal_tensor_new(t->buf, t->dtype, ndim, ns, strides, t->offset, out);
}

XHAL_API xhal_status xhal_tensor_expand(xhal_tensor *t, int ndim, const int64_t *shape, xhal_tensor **out)
{
    TENSOR_QUERY("xhal_tensor_expand", t)
    if (!out) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_tensor_expand: out is NULL");
    xhal_status st = hal_shape_check("xhal_tensor_expand", ndim, shape, NULL);
    if (st != XHAL_OK) return st;
    if (ndim < t->ndim)
        return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH, "xhal_tensor_expand: cannot expand %d dims to %d", t->ndim,
                             ndim);
    int64_t strides[XHAL_MAX_DIMS];
    for (int i = 0; i < ndim; i++) {
        int src = t->ndim - ndim + i;
        if (src < 0) {
            strides[i] = 0;
            continue;
        }
        if (t->shape[src] == shape[i])
            strides[i] = t->strides[src];
        else if (t->shape[src] == 1)
            strides[i] = 0;
        else {
            char b1[160], b2[160];
            return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH, "xhal_tensor_expand: %s does not broadcast to %s (axis %d)",
                                 hal_shape_str(t->ndim, t->shape, b1, sizeof b1),
                                 hal_shape_str(ndim, shape, b2, sizeof b2), i);
        }
    }
    st = hal_block_layout_check("xhal_tensor_expand", t->dtype, ndim, shape, strides);
    if (st != XHAL_OK) return st;
    return hal_tensor_new(t->buf, t->dtype, ndim, shape, strides, t->offset, out);
}
