/* op_status.c - errors found on the device, reported where the caller waits.
 *
 * An op whose inputs can only be judged by their values on the device (gather's indices) does
 * not read them back before it is queued: that would wait for every op before it, and a
 * captured graph could never hold it. Instead the core gives the op the stream's status output
 * (xhal_backend.h, XHAL_OP_STATUS_WORDS), the backend's kernel guards its own reads and records
 * the first bad value there, and the core reads the status back where the caller waits anyway
 * (xhal_stream_synchronize, xhal_tensor_read, xhal_buffer_read, xhal_stream_destroy). The
 * record is sticky until then: the first failing op since the last report wins. The message is
 * made here, once, for every backend. */
#include "dispatch.h"
#include "shape.h"

#include <stdio.h>
#include <string.h>

static const xhal_backend_table *T(xhal_device *d) { return d->backend->table; }
static void *S(xhal_device *d) { return d->backend->state; }

static void status_desc(xhal_buffer *b, xhal_tensor_desc *d)
{
    memset(d, 0, sizeof *d);
    d->dtype = XHAL_DTYPE_I64;
    d->ndim = 1;
    d->shape[0] = XHAL_OP_STATUS_WORDS;
    d->strides[0] = 1;
    d->buffer = b; /* an xhal_buffer until hal_dispatch resolves it */
    d->offset = 0;
}

/* Clear the status words, queued on s (a FILL of zeros: no wait). A backend without FILL of
 * i64 gets a blocking write. */
static xhal_status status_clear(xhal_stream *s)
{
    xhal_op_desc d;
    memset(&d, 0, sizeof d);
    d.struct_size = sizeof d;
    d.op = XHAL_OP_FILL;
    d.n_outputs = 1;
    status_desc(s->status, &d.outputs[0]);
    d.outputs[0].buffer = s->status->handle;
    d.attrs.fill.bits = 0;
    if (T(s->dev)->op_supported(S(s->dev), s->dev->index, &d) == XHAL_OK)
        return T(s->dev)->op_run(S(s->dev), s->handle, &d);
    static const int64_t zeros[XHAL_OP_STATUS_WORDS];
    return T(s->dev)->write(S(s->dev), s->handle, s->status->handle, 0, zeros, sizeof zeros);
}

xhal_status hal_op_status_output(xhal_stream *s, xhal_tensor_desc *out)
{
    if (!s->status) {
        xhal_buffer *b;
        xhal_status st = hal_buffer_new_internal(s->dev, XHAL_OP_STATUS_WORDS * sizeof(int64_t), &b);
        if (st != XHAL_OK) return hal_error_prefix(st, "the stream's status output on %s", s->dev->spec);
        s->status = b;
        if ((st = status_clear(s)) != XHAL_OK) {
            s->status = NULL;
            hal_buffer_release(b);
            return hal_error_prefix(st, "clearing the stream's status output on %s", s->dev->spec);
        }
    }
    status_desc(s->status, out);
    return XHAL_OK;
}

xhal_status hal_op_status_check(xhal_stream *s, const char *where)
{
    if (!s->status || !s->status_armed) return XHAL_OK;
    int64_t w[XHAL_OP_STATUS_WORDS];
    xhal_status st = T(s->dev)->read(S(s->dev), s->handle, s->status->handle, 0, w, sizeof w);
    if (st != XHAL_OK) return hal_error_prefix(st, "%s: reading the stream's status output on %s", where, s->dev->spec);
    s->status_armed = 0;
    if (w[XHAL_OP_STATUS_OP] == 0) return XHAL_OK;
    /* the stream is drained here: clearing it now costs nothing and keeps the stream usable */
    st = status_clear(s);
    if (st != XHAL_OK)
        return hal_error_prefix(st, "%s: clearing the stream's status output on %s", where, s->dev->spec);
    int ndim = (int)w[XHAL_OP_STATUS_NDIM];
    if (ndim < 0 || ndim > XHAL_MAX_DIMS) ndim = 0; /* a broken record still reports the value */
    char pos[160];
    hal_shape_str(ndim, w + XHAL_OP_STATUS_POS, pos, sizeof pos);
    const int op = (int)w[XHAL_OP_STATUS_OP];
    if (op == XHAL_OP_GATHER)
        return hal_set_error(XHAL_ERROR_OUT_OF_RANGE,
                             "xhal_gather (queued earlier on this stream of %s, reported at %s): indices%s = %lld is "
                             "outside [0, %lld) (the table has %lld rows); its rows of out are zeros",
                             s->dev->spec, where, pos, (long long)w[XHAL_OP_STATUS_VALUE],
                             (long long)w[XHAL_OP_STATUS_LIMIT], (long long)w[XHAL_OP_STATUS_LIMIT]);
    return hal_set_error(XHAL_ERROR_OUT_OF_RANGE,
                         "op %s (queued earlier on this stream of %s, reported at %s): the value %lld at %s is "
                         "outside [0, %lld)",
                         xhal_op_name((xhal_op)op), s->dev->spec, where, (long long)w[XHAL_OP_STATUS_VALUE], pos,
                         (long long)w[XHAL_OP_STATUS_LIMIT]);
}

void hal_op_status_free(xhal_stream *s)
{
    if (s->status) hal_buffer_release(s->status);
    s->status = NULL;
    s->status_armed = 0;
}
