/* transfer.c - host<->device transfers, copy and cast, fill, contiguous, concat. */
#include "dispatch.h"
#include "fault.h"
#include "xhal/plugin/xhal_names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const xhal_backend_table *T(xhal_device *d) { return d->backend->table; }
static void *S(xhal_device *d) { return d->backend->state; }

static xhal_status check_range(const char *fn, xhal_buffer *b, uint64_t off, uint64_t size)
{
    uint64_t end;
    if (__builtin_add_overflow(off, size, &end))
        return hal_set_error(XHAL_ERROR_OVERFLOW, "%s: offset %llu + size %llu overflows 64 bits", fn,
                             (unsigned long long)off, (unsigned long long)size);
    if (end > b->size)
        return hal_set_error(XHAL_ERROR_OUT_OF_RANGE, "%s: bytes [%llu, %llu) lie outside the buffer of %llu bytes", fn,
                             (unsigned long long)off, (unsigned long long)end, (unsigned long long)b->size);
    return XHAL_OK;
}

static xhal_status buffer_io(const char *fn, xhal_stream *s, xhal_buffer *b, uint64_t off, const void *src, void *dst,
                             uint64_t size)
{
    xhal_status st = hal_check_stream(s, fn);
    if (st == XHAL_OK) st = hal_check_not_capturing(s, fn);
    if (st == XHAL_OK) st = hal_check_buffer(b, fn);
    if (st != XHAL_OK) return st;
    if (b->dev != s->dev)
        return hal_set_error(XHAL_ERROR_WRONG_DEVICE, "%s: buffer is on %s but the stream is on %s", fn, b->dev->spec,
                             s->dev->spec);
    if (size > 0 && !src && !dst) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: host pointer is NULL", fn);
    st = check_range(fn, b, off, size);
    if (st != XHAL_OK || size == 0) return st;
    st = src ? T(b->dev)->write(S(b->dev), s->handle, b->handle, off, src, size)
             : T(b->dev)->read(S(b->dev), s->handle, b->handle, off, dst, size);
    if (st != XHAL_OK) return hal_error_prefix(st, "%s on %s", fn, b->dev->spec);
    return src ? XHAL_OK : hal_op_status_check(s, fn); /* a read waited for the queue: report what it ran */
}

XHAL_API xhal_status xhal_buffer_write(xhal_stream *s, xhal_buffer *b, uint64_t off, const void *src, uint64_t size)
{
    if (size > 0 && !src) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_buffer_write: src is NULL");
    return buffer_io("xhal_buffer_write", s, b, off, src, NULL, size);
}

XHAL_API xhal_status xhal_buffer_read(xhal_stream *s, xhal_buffer *b, uint64_t off, void *dst, uint64_t size)
{
    if (size > 0 && !dst) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_buffer_read: dst is NULL");
    return buffer_io("xhal_buffer_read", s, b, off, NULL, dst, size);
}

/* COPY desc src -> dst on stream s (both on s's device). */
static xhal_status run_copy(xhal_stream *s, const xhal_tensor *src, const xhal_tensor *dst)
{
    xhal_status st = hal_check_device_stores("xhal_copy", s->dev, src->dtype);
    if (st == XHAL_OK) st = hal_check_device_stores("xhal_copy", s->dev, dst->dtype);
    if (st != XHAL_OK) return st;
    xhal_op_desc d;
    memset(&d, 0, sizeof d);
    d.op = XHAL_OP_COPY;
    d.n_inputs = 1;
    d.n_outputs = 1;
    hal_tensor_desc(src, &d.inputs[0]);
    hal_tensor_desc(dst, &d.outputs[0]);
    return hal_dispatch(s, &d);
}

/* A temporary contiguous tensor like t (shape) in dtype on dev. */
static xhal_status temp_like(xhal_device *dev, const xhal_tensor *t, xhal_dtype dt, xhal_tensor **out)
{
    return xhal_tensor_create(dev, dt, t->ndim, t->shape, out);
}

static xhal_status tensor_io(const char *fn, xhal_stream *s, xhal_tensor *t, const void *src, void *dst, uint64_t size)
{
    xhal_tensor *ts[1] = {t};
    const char *names[1] = {"tensor"};
    xhal_status st = hal_op_prelude(fn, s, 1, ts, names, NULL);
    if (st == XHAL_OK) st = hal_check_not_capturing(s, fn);
    if (st != XHAL_OK) return st;
    int64_t n = hal_tensor_numel(t);
    uint64_t bytes = hal_dtype_bytes(t->dtype, (uint64_t)n); /* block dtypes: the blocks' bytes */
    if (size != bytes) {
        char b[160];
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: size is %llu bytes but the %s tensor %s holds %llu", fn,
                             (unsigned long long)size, xhal_dtype_name(t->dtype),
                             hal_shape_str(t->ndim, t->shape, b, sizeof b), (unsigned long long)bytes);
    }
    if (bytes == 0) return XHAL_OK;
    if (!src && !dst) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: host pointer is NULL", fn);
    if (src) {
        st = hal_check_writable(fn, "tensor", t);
        if (st != XHAL_OK) return st;
    }
    if (hal_is_contiguous(t->ndim, t->shape, t->strides)) {
        st = src ? T(s->dev)->write(S(s->dev), s->handle, t->buf->handle, t->offset, src, bytes)
                 : T(s->dev)->read(S(s->dev), s->handle, t->buf->handle, t->offset, dst, bytes);
        if (st != XHAL_OK) return hal_error_prefix(st, "%s on %s", fn, s->dev->spec);
        return src ? XHAL_OK : hal_op_status_check(s, fn); /* a read waited for the queue: report what it ran */
    }
    /* strided view: stage through a contiguous tensor on the device */
    xhal_tensor *tmp = NULL;
    st = temp_like(s->dev, t, t->dtype, &tmp);
    if (st != XHAL_OK) return hal_error_prefix(st, "%s: staging a strided view", fn);
    if (src) {
        st = T(s->dev)->write(S(s->dev), s->handle, tmp->buf->handle, 0, src, bytes);
        if (st == XHAL_OK) st = run_copy(s, tmp, t);
        if (st == XHAL_OK) st = T(s->dev)->stream_sync(S(s->dev), s->handle);
    } else {
        st = run_copy(s, t, tmp);
        if (st == XHAL_OK) st = T(s->dev)->read(S(s->dev), s->handle, tmp->buf->handle, 0, dst, bytes);
    }
    char msg[1024] = "";
    if (st != XHAL_OK) hal_error_copy(msg, sizeof msg);
    xhal_tensor_destroy(tmp);
    if (st != XHAL_OK) return hal_set_error(st, "%s on %s: %s", fn, s->dev->spec, msg);
    return src ? XHAL_OK : hal_op_status_check(s, fn);
}

XHAL_API xhal_status xhal_tensor_write(xhal_stream *s, xhal_tensor *t, const void *src, uint64_t size)
{
    if (size > 0 && !src) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_tensor_write: src is NULL");
    return tensor_io("xhal_tensor_write", s, t, src, NULL, size);
}

XHAL_API xhal_status xhal_tensor_read(xhal_stream *s, xhal_tensor *t, void *dst, uint64_t size)
{
    if (size > 0 && !dst) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_tensor_read: dst is NULL");
    return tensor_io("xhal_tensor_read", s, t, NULL, dst, size);
}

/* src and dst on different devices: cast on src's device into a contiguous temp in dst's
 * dtype, read to host, write to dst's device, scatter into dst. Synchronous. */
static xhal_status copy_across(xhal_stream *s, xhal_tensor *src, xhal_tensor *dst)
{
    xhal_device *sd = src->buf->dev, *dd = dst->buf->dev;
    xhal_stream *ss = s->dev == sd ? s : NULL, *ds = s->dev == dd ? s : NULL;
    xhal_stream *own = NULL;
    xhal_tensor *tsrc = NULL, *tdst = NULL;
    void *host = NULL;
    uint64_t bytes = hal_dtype_bytes(dst->dtype, (uint64_t)hal_tensor_numel(dst));
    xhal_status st = xhal_stream_create(ss ? dd : sd, &own);
    if (st != XHAL_OK) return st;
    if (!ss)
        ss = own;
    else
        ds = own;
    /* peer path: same backend, same dtype, both contiguous */
    if (sd->backend == dd->backend && T(sd)->copy_peer && src->dtype == dst->dtype &&
        hal_is_contiguous(src->ndim, src->shape, src->strides) &&
        hal_is_contiguous(dst->ndim, dst->shape, dst->strides)) {
        st = T(sd)->copy_peer(S(sd), ss->handle, src->buf->handle, src->offset, ds->handle, dst->buf->handle,
                              dst->offset, bytes);
        if (st == XHAL_OK) st = T(dd)->stream_sync(S(dd), ds->handle);
        if (st != XHAL_ERROR_UNSUPPORTED) goto done;
    }
    /* source side: read src as it is when it is already dense in dst's dtype, else
     * gather/cast it on its own device first */
    int direct = src->dtype == dst->dtype && hal_is_contiguous(src->ndim, src->shape, src->strides);
    st = XHAL_OK;
    if (!direct) {
        st = temp_like(sd, dst, dst->dtype, &tsrc);
        if (st == XHAL_OK) st = run_copy(ss, src, tsrc);
    }
    if (st == XHAL_OK) {
        host = malloc(bytes ? bytes : 1);
        if (!host)
            st = hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "out of host memory staging %llu bytes",
                               (unsigned long long)bytes);
    }
    if (st == XHAL_OK)
        st = direct ? T(sd)->read(S(sd), ss->handle, src->buf->handle, src->offset, host, bytes)
                    : T(sd)->read(S(sd), ss->handle, tsrc->buf->handle, 0, host, bytes);
    if (st == XHAL_OK) {
        if (hal_is_contiguous(dst->ndim, dst->shape, dst->strides)) {
            st = T(dd)->write(S(dd), ds->handle, dst->buf->handle, dst->offset, host, bytes);
        } else {
            st = temp_like(dd, dst, dst->dtype, &tdst);
            if (st == XHAL_OK) st = T(dd)->write(S(dd), ds->handle, tdst->buf->handle, 0, host, bytes);
            if (st == XHAL_OK) st = run_copy(ds, tdst, dst);
        }
    }
    if (st == XHAL_OK) st = T(dd)->stream_sync(S(dd), ds->handle);
done:;
    char msg[1024] = "";
    if (st != XHAL_OK) hal_error_copy(msg, sizeof msg);
    free(host);
    xhal_tensor_destroy(tsrc);
    xhal_tensor_destroy(tdst);
    xhal_stream_destroy(own);
    if (st != XHAL_OK) return hal_set_error(st, "xhal_copy from %s to %s: %s", sd->spec, dd->spec, msg);
    return XHAL_OK;
}

XHAL_API xhal_status xhal_copy(xhal_stream *s, xhal_tensor *src, xhal_tensor *dst)
{
    xhal_status st = hal_validate_copy(s, src, dst);
    if (st != XHAL_OK || hal_tensor_numel(dst) == 0 || hal_tensors_same_view(src, dst)) return st;
    if (src->buf->dev != dst->buf->dev) {
        if ((st = hal_check_not_capturing(s, "xhal_copy (between devices)"))) return st;
        return copy_across(s, src, dst);
    }
    return run_copy(s, src, dst);
}

XHAL_API xhal_status xhal_fill(xhal_stream *s, xhal_tensor *t, double value)
{
    xhal_status st = hal_validate_fill(s, t);
    if (st != XHAL_OK || hal_tensor_numel(t) == 0) return st;
    xhal_op_desc d;
    memset(&d, 0, sizeof d);
    d.op = XHAL_OP_FILL;
    d.n_outputs = 1;
    hal_tensor_desc(t, &d.outputs[0]);
    d.attrs.fill.value = value;
    d.attrs.fill.bits = xhal_value_bits(t->dtype, value); /* converted once, here */
    return hal_dispatch(s, &d);
}

XHAL_API xhal_status xhal_contiguous(xhal_stream *s, xhal_tensor *t, xhal_dtype dtype, xhal_tensor **out)
{
    xhal_tensor *ts[1] = {t};
    const char *names[1] = {"t"};
    xhal_status st = hal_op_prelude("xhal_contiguous", s, 1, ts, names, NULL);
    if (st != XHAL_OK) return st;
    if (!out) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_contiguous: out is NULL");
    if (dtype == XHAL_DTYPE_INVALID) dtype = t->dtype;
    if (!hal_dtype_valid(dtype))
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_contiguous: dtype %d is not a valid xhal_dtype",
                             (int)dtype);
    if ((st = hal_check_block_pair(t->dtype, dtype)) != XHAL_OK) return st;
    xhal_tensor *r;
    st = temp_like(s->dev, t, dtype, &r);
    if (st != XHAL_OK) return st;
    if (hal_tensor_numel(t) > 0) {
        st = run_copy(s, t, r);
        if (st != XHAL_OK) {
            char msg[1024];
            hal_error_copy(msg, sizeof msg);
            xhal_tensor_destroy(r);
            return hal_set_error(st, "%s", msg);
        }
    }
    *out = r;
    return XHAL_OK;
}

XHAL_API xhal_status xhal_concat(xhal_stream *s, xhal_tensor *const *inputs, int n, int axis, xhal_tensor *out)
{
    int a;
    xhal_status st = hal_validate_concat(s, inputs, n, axis, out, &a);
    if (st != XHAL_OK) return st;
    int64_t pos = 0;
    for (int i = 0; i < n && st == XHAL_OK; i++) {
        int64_t len = inputs[i]->shape[a];
        if (len == 0 || hal_tensor_numel(inputs[i]) == 0) {
            pos += len;
            continue;
        }
        /* out's slice as a stack view (no handle needed) */
        xhal_tensor view;
        hal_tensor_geometry(&view, out);
        view.shape[a] = len;
        view.offset = out->offset + hal_dtype_bytes(out->dtype, (uint64_t)pos * (uint64_t)out->strides[a]);
        st = run_copy(s, inputs[i], &view);
        pos += len;
    }
    return st;
}
