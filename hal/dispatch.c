/* dispatch.c - the one path from a validated op descriptor to a backend. */
#include "dispatch.h"
#include "fault.h"

#include <stdio.h>
#include <string.h>

int64_t hal_tensor_numel(const xhal_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i]; /* checked at creation */
    return n;
}

xhal_status hal_op_prelude(const char *fn, xhal_stream *s, int n, xhal_tensor *const *ts,
                           const char *const *names, const int *optional)
{
    xhal_status st = hal_check_stream(s, fn);
    if (st != XHAL_OK) return st;
    for (int i = 0; i < n; i++) {
        if (!ts[i] && optional && optional[i]) continue;
        if (!hal_handle_live(ts[i], HAL_KIND_TENSOR)) { /* format the name only on failure */
            char what[96];
            snprintf(what, sizeof what, "%s: %s", fn, names[i]);
            return hal_check_tensor(ts[i], what);
        }
        if (ts[i]->buf->dev->ctx != s->dev->ctx)
            return hal_set_error(XHAL_ERROR_INVALID_HANDLE, "%s: %s belongs to another context than the stream", fn,
                                 names[i]);
        if (ts[i]->buf->dev != s->dev)
            return hal_set_error(XHAL_ERROR_WRONG_DEVICE, "%s: %s is on %s but the stream is on %s", fn, names[i],
                                 ts[i]->buf->dev->spec, s->dev->spec);
    }
    return XHAL_OK;
}

xhal_status hal_check_writable(const char *fn, const char *name, const xhal_tensor *t)
{
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] > 1 && t->strides[i] == 0)
            return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                                 "%s: %s has stride 0 on axis %d (size %lld): a broadcast view cannot be written", fn,
                                 name, i, (long long)t->shape[i]);
    return XHAL_OK;
}

static void extent(const xhal_tensor *t, uint64_t *lo, uint64_t *hi)
{
    hal_view_extent("", t->dtype, t->ndim, t->shape, t->strides, t->offset, lo, hi); /* checked at creation */
}

int hal_tensors_overlap(const xhal_tensor *a, const xhal_tensor *b)
{
    if (a->buf != b->buf) return 0;
    if (hal_tensor_numel(a) == 0 || hal_tensor_numel(b) == 0) return 0;
    uint64_t alo, ahi, blo, bhi;
    extent(a, &alo, &ahi);
    extent(b, &blo, &bhi);
    return alo < bhi && blo < ahi;
}

int hal_tensors_same_view(const xhal_tensor *a, const xhal_tensor *b)
{
    if (a->buf != b->buf || a->offset != b->offset || a->dtype != b->dtype || a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i] || (a->shape[i] > 1 && a->strides[i] != b->strides[i])) return 0;
    return 1;
}

xhal_status hal_check_no_overlap(const char *fn, const char *oname, const xhal_tensor *out, const char *iname,
                                 const xhal_tensor *in, int allow_same)
{
    if (!in || !hal_tensors_overlap(out, in)) return XHAL_OK;
    if (allow_same && hal_tensors_same_view(out, in)) return XHAL_OK;
    return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: %s overlaps %s in memory%s", fn, oname, iname,
                         allow_same ? " (only the very same view is allowed)" : "");
}

xhal_status hal_dispatch(xhal_stream *s, xhal_op_desc *desc)
{
    hal_backend *b = s->dev->backend;
    desc->struct_size = sizeof *desc;
    const char *dt = xhal_dtype_name((xhal_dtype)(desc->n_inputs ? desc->inputs[0].dtype : desc->outputs[0].dtype));
    xhal_status st = b->table->op_supported(b->state, s->dev->index, desc);
    if (st != XHAL_OK) {
        if (st == XHAL_ERROR_UNSUPPORTED)
            return hal_error_prefix(st, "op %s (%s) is not supported on %s", xhal_op_name((xhal_op)desc->op), dt,
                                    s->dev->spec);
        return hal_error_prefix(st, "op %s (%s) on %s", xhal_op_name((xhal_op)desc->op), dt, s->dev->spec);
    }
    if (hal_fault_hit("backend_call"))
        return hal_set_error(XHAL_ERROR_BACKEND, "injected fault: op %s (%s) on %s", xhal_op_name((xhal_op)desc->op), dt,
                             s->dev->spec);
    st = b->table->op_run(b->state, s->handle, desc);
    if (st != XHAL_OK)
        return hal_error_prefix(st, "op %s (%s) on %s", xhal_op_name((xhal_op)desc->op), dt, s->dev->spec);
    return XHAL_OK;
}
