/* dispatch.c - the one path from a validated op descriptor to a backend. */
#include "dispatch.h"
#include "fault.h"

#include <stdio.h>
#include <stdlib.h>
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

/* 1 if two elements of the view share an address (strides are >= 0, no axis of stride 0 and
 * size > 1). Sufficient test first: with the axes sorted by stride, each stride must step over
 * everything the smaller axes span (plain, transposed, sliced and padded views pass it). A view
 * that fails it (e.g. shape [3,2] strides [2,3], which happens to be one-to-one) is checked
 * exactly, element by element, if it is small enough; a larger one is taken as overlapping. */
static int view_self_overlaps(const xhal_tensor *t)
{
    /* An empty view addresses nothing; its other dims were never bounded by a buffer, so the
     * offset sums below could wrap. */
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] == 0) return 0;
    int ax[XHAL_MAX_DIMS], n = 0;
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] > 1) {
            int k = n++;
            while (k > 0 && t->strides[ax[k - 1]] > t->strides[i]) {
                ax[k] = ax[k - 1];
                k--;
            }
            ax[k] = i;
        }
    uint64_t span = 0; /* highest element offset reachable through the axes so far */
    int ok = 1;
    for (int k = 0; k < n && ok; k++) {
        uint64_t st = (uint64_t)t->strides[ax[k]];
        if (st <= span) ok = 0;
        else span += st * (uint64_t)(t->shape[ax[k]] - 1); /* no overflow: checked at creation */
    }
    if (ok) return 0;
    /* exact: mark every element's offset in a bitmap */
    const uint64_t max_bits = (uint64_t)1 << 24;
    uint64_t hi = 0;
    for (int k = 0; k < n; k++) hi += (uint64_t)t->strides[ax[k]] * (uint64_t)(t->shape[ax[k]] - 1);
    if (hi >= max_bits) return 1;
    unsigned char *seen = calloc((size_t)(hi / 8 + 1), 1);
    if (!seen) return 1;
    int64_t idx[XHAL_MAX_DIMS] = {0};
    int dup = 0;
    for (;;) {
        uint64_t off = 0;
        for (int k = 0; k < n; k++) off += (uint64_t)idx[k] * (uint64_t)t->strides[ax[k]];
        if (seen[off / 8] & (1u << (off % 8))) {
            dup = 1;
            break;
        }
        seen[off / 8] |= (unsigned char)(1u << (off % 8));
        int k = 0;
        while (k < n && ++idx[k] == t->shape[ax[k]]) idx[k++] = 0;
        if (k == n) break;
    }
    free(seen);
    return dup;
}

xhal_status hal_check_writable(const char *fn, const char *name, const xhal_tensor *t)
{
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] > 1 && t->strides[i] == 0)
            return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                                 "%s: %s has stride 0 on axis %d (size %lld): a broadcast view cannot be written", fn,
                                 name, i, (long long)t->shape[i]);
    if (view_self_overlaps(t)) {
        char sh[160], st[160];
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                             "%s: %s (shape %s, strides %s) addresses some elements more than once: an output "
                             "view must not alias itself", fn, name, hal_shape_str(t->ndim, t->shape, sh, sizeof sh),
                             hal_shape_str(t->ndim, t->strides, st, sizeof st));
    }
    return XHAL_OK;
}

xhal_status hal_check_device_stores(const char *fn, xhal_device *dev, xhal_dtype dt)
{
    if (!hal_dtype_block(dt, NULL, NULL)) return XHAL_OK;
    xhal_device_info info;
    xhal_status st = xhal_device_get_info(dev, &info);
    if (st != XHAL_OK) return st;
    if (info.dtypes & XHAL_DTYPE_BIT(dt)) return XHAL_OK;
    return hal_set_error(XHAL_ERROR_UNSUPPORTED,
                         "%s: block-quantized %s tensors are not supported on %s (its backend does not list %s in "
                         "xhal_device_info.dtypes)", fn, xhal_dtype_name(dt), dev->spec, xhal_dtype_name(dt));
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
    if (!hal_backend_knows_op(b, desc->op)) /* the plugin was built before this op existed */
        return hal_set_error(XHAL_ERROR_UNSUPPORTED,
                             "op %s (%s) is not supported on %s: backend '%s' was built for op catalogue version "
                             "%u, the op needs version %d or later", xhal_op_name((xhal_op)desc->op), dt,
                             s->dev->spec, b->info.name, b->table->catalogue_version, desc->op + 1);
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
