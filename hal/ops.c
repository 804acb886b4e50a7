/* ops.c - the op catalogue's entry points: each checks its arguments through one
 * hal_validate_* function (validate.c), then normalises them into the backend descriptor
 * xhal_backend.h describes (broadcast folded into strides, transposes into views, reductions
 * in keepdims form, defaults resolved, FILL's value converted) and dispatches it. */
#include "dispatch.h"

#include <math.h>
#include <string.h>

/* Rows of XHAL_OP_TABLE come in ascending id order, so every id lies below XHAL_OP_MAX_ID_ (a
 * duplicate id would already fail to compile: xhal_op_table_row's switch has a case per row). */
#define ID_BELOW_MAX_(NAME, ID, ...) \
    _Static_assert((ID) > 0 && (ID) < XHAL_OP_MAX_ID_, "xhal_op_table.h: XHAL_OP_" #NAME " is out of order");
XHAL_OP_TABLE(ID_BELOW_MAX_)
#undef ID_BELOW_MAX_

static void init_desc(xhal_op_desc *d, xhal_op op)
{
    memset(d, 0, sizeof *d);
    d->op = op;
}

static void add_in(xhal_op_desc *d, const xhal_tensor *t) { hal_tensor_desc(t, &d->inputs[d->n_inputs++]); }
static void add_out(xhal_op_desc *d, const xhal_tensor *t) { hal_tensor_desc(t, &d->outputs[d->n_outputs++]); }

/* Broadcast descriptor: t's dims aligned right into ndim/shape with stride 0 where t is 1. */
static void bcast_desc(const xhal_tensor *t, int ndim, const int64_t *shape, xhal_tensor_desc *d)
{
    hal_tensor_desc(t, d);
    xhal_tensor_desc r = *d;
    r.ndim = ndim;
    for (int i = 0; i < XHAL_MAX_DIMS; i++) {
        r.shape[i] = i < ndim ? shape[i] : 1;
        r.strides[i] = 0;
    }
    for (int i = 0; i < ndim; i++) {
        int src = t->ndim - ndim + i;
        if (src >= 0 && t->shape[src] == shape[i] && shape[i] != 1) r.strides[i] = t->strides[src];
    }
    *d = r;
}

static xhal_status fill_out(xhal_stream *s, xhal_tensor *out, double v)
{
    return hal_tensor_numel(out) ? xhal_fill(s, out, v) : XHAL_OK;
}

/* ---- unary ---- */
XHAL_API xhal_status xhal_unary(xhal_stream *s, xhal_op op, xhal_tensor *x, xhal_tensor *out)
{
    xhal_status st = hal_validate_unary(s, op, x, out);
    if (st != XHAL_OK || hal_tensor_numel(out) == 0) return st;
    xhal_op_desc d;
    init_desc(&d, op);
    add_in(&d, x);
    add_out(&d, out);
    return hal_dispatch(s, &d);
}

/* ---- binary ---- */
XHAL_API xhal_status xhal_binary(xhal_stream *s, xhal_op op, xhal_tensor *a, xhal_tensor *b, xhal_tensor *out)
{
    xhal_status st = hal_validate_binary(s, op, a, b, out);
    if (st != XHAL_OK || hal_tensor_numel(out) == 0) return st;
    xhal_op_desc d;
    init_desc(&d, op);
    d.n_inputs = 2;
    bcast_desc(a, out->ndim, out->shape, &d.inputs[0]);
    bcast_desc(b, out->ndim, out->shape, &d.inputs[1]);
    add_out(&d, out);
    return hal_dispatch(s, &d);
}

XHAL_API xhal_status xhal_add(xhal_stream *s, xhal_tensor *a, xhal_tensor *b, xhal_tensor *out)
{
    return xhal_binary(s, XHAL_OP_ADD, a, b, out);
}

XHAL_API xhal_status xhal_mul(xhal_stream *s, xhal_tensor *a, xhal_tensor *b, xhal_tensor *out)
{
    return xhal_binary(s, XHAL_OP_MUL, a, b, out);
}

XHAL_API xhal_status xhal_scale(xhal_stream *s, xhal_tensor *x, double alpha, double beta, xhal_tensor *out)
{
    xhal_status st = hal_validate_scale(s, x, alpha, beta, out);
    if (st != XHAL_OK || hal_tensor_numel(out) == 0) return st;
    xhal_op_desc d;
    init_desc(&d, XHAL_OP_SCALE);
    add_in(&d, x);
    add_out(&d, out);
    d.attrs.scale.alpha = alpha;
    d.attrs.scale.beta = beta;
    return hal_dispatch(s, &d);
}

/* ---- reductions ---- */
XHAL_API xhal_status xhal_reduce(xhal_stream *s, xhal_op op, xhal_tensor *x, int axis, int keepdims, xhal_tensor *out)
{
    int a;
    xhal_status st = hal_validate_reduce(s, op, x, axis, keepdims, out, &a);
    if (st != XHAL_OK || hal_tensor_numel(out) == 0) return st;
    if (x->shape[a] == 0) {
        if ((st = hal_validate_reduce_empty(op, a))) return st;
        return fill_out(s, out, op == XHAL_OP_SUM ? 0.0 : NAN);
    }
    xhal_op_desc d;
    init_desc(&d, op);
    add_in(&d, x);
    add_out(&d, out);
    /* out in keepdims form: same ndim as x, size 1 at the axis, stride 0 there */
    xhal_tensor_desc *o = &d.outputs[0];
    xhal_tensor_desc k = *o;
    k.ndim = x->ndim;
    for (int i = 0, j = 0; i < XHAL_MAX_DIMS; i++) {
        if (i >= x->ndim) {
            k.shape[i] = 1;
            k.strides[i] = 0;
            continue;
        }
        if (i == a) {
            k.shape[i] = 1;
            k.strides[i] = 0;
            if (keepdims) j++;
        } else {
            k.shape[i] = out->shape[j];
            k.strides[i] = out->strides[j];
            j++;
        }
    }
    *o = k;
    d.attrs.reduce.axis = a;
    return hal_dispatch(s, &d);
}

/* ---- normalisation ---- */
XHAL_API xhal_status xhal_softmax(xhal_stream *s, xhal_tensor *x, double scale, int causal, xhal_tensor *out)
{
    xhal_status st = hal_validate_softmax(s, x, scale, causal, out);
    if (st != XHAL_OK || hal_tensor_numel(out) == 0) return st;
    xhal_op_desc d;
    init_desc(&d, XHAL_OP_SOFTMAX);
    add_in(&d, x);
    add_out(&d, out);
    d.attrs.softmax.scale = scale == 0.0 ? 1.0 : scale;
    d.attrs.softmax.causal = causal ? 1 : 0;
    return hal_dispatch(s, &d);
}

static xhal_status norm_common(xhal_stream *s, xhal_op op, xhal_tensor *x, xhal_tensor *w, xhal_tensor *b, double eps,
                               xhal_tensor *out)
{
    xhal_status st = hal_validate_norm(s, op, x, w, b, eps, out);
    if (st != XHAL_OK || hal_tensor_numel(out) == 0) return st;
    xhal_op_desc d;
    init_desc(&d, op);
    add_in(&d, x);
    if (w) add_in(&d, w);
    if (b) add_in(&d, b);
    add_out(&d, out);
    d.attrs.norm.eps = eps;
    d.attrs.norm.has_weight = w != NULL;
    d.attrs.norm.has_bias = b != NULL;
    return hal_dispatch(s, &d);
}

XHAL_API xhal_status xhal_rms_norm(xhal_stream *s, xhal_tensor *x, xhal_tensor *weight, double eps, xhal_tensor *out)
{
    return norm_common(s, XHAL_OP_RMS_NORM, x, weight, NULL, eps, out);
}

XHAL_API xhal_status xhal_layer_norm(xhal_stream *s, xhal_tensor *x, xhal_tensor *weight, xhal_tensor *bias, double eps,
                                     xhal_tensor *out)
{
    return norm_common(s, XHAL_OP_LAYER_NORM, x, weight, bias, eps, out);
}

/* ---- matmul ---- */
/* The MATMUL descriptor of a validated product: a and b as [batch.., M, K] and [batch.., K, N]
 * with broadcast batch dims (stride 0), out as given; scales (xhal_matmul_i8) as in[2]. */
static xhal_status matmul_dispatch(xhal_stream *s, const hal_matmul_geom *g, xhal_tensor *scales, double alpha,
                                   double beta, xhal_tensor *out)
{
    int bd = g->batch_ndim;
    xhal_op_desc d;
    init_desc(&d, XHAL_OP_MATMUL);
    d.n_inputs = 2;
    int64_t ash[XHAL_MAX_DIMS], bsh[XHAL_MAX_DIMS];
    memcpy(ash, out->shape, sizeof(int64_t) * (size_t)bd);
    memcpy(bsh, out->shape, sizeof(int64_t) * (size_t)bd);
    ash[bd] = g->M;
    ash[bd + 1] = g->K;
    bsh[bd] = g->K;
    bsh[bd + 1] = g->N;
    bcast_desc(&g->av, bd + 2, ash, &d.inputs[0]);
    bcast_desc(&g->bv, bd + 2, bsh, &d.inputs[1]);
    /* bcast_desc zeroes strides of size-1 dims; the matrix dims keep theirs */
    for (int k = 0; k < 2; k++) {
        d.inputs[0].strides[bd + k] = g->av.strides[g->av.ndim - 2 + k];
        d.inputs[1].strides[bd + k] = g->bv.strides[g->bv.ndim - 2 + k];
    }
    if (scales) add_in(&d, scales);
    add_out(&d, out);
    d.attrs.matmul.alpha = alpha;
    d.attrs.matmul.beta = beta;
    return hal_dispatch(s, &d);
}

XHAL_API xhal_status xhal_matmul(xhal_stream *s, xhal_tensor *a, xhal_tensor *b, int trans_a, int trans_b, double alpha,
                                 double beta, xhal_tensor *out)
{
    hal_matmul_geom g;
    xhal_status st = hal_validate_matmul(s, a, b, trans_a, trans_b, alpha, beta, out, &g);
    if (st != XHAL_OK || hal_tensor_numel(out) == 0) return st;
    if (g.K == 0) { /* alpha * (empty sum) + beta * out */
        if (beta == 0.0) return fill_out(s, out, 0.0);
        return xhal_scale(s, out, beta, 0.0, out);
    }
    return matmul_dispatch(s, &g, NULL, alpha, beta, out);
}

XHAL_API xhal_status xhal_matmul_i8(xhal_stream *s, xhal_tensor *a, xhal_tensor *w, xhal_tensor *scales, double alpha,
                                    double beta, xhal_tensor *out)
{
    hal_matmul_geom g;
    xhal_status st = hal_validate_matmul_i8(s, a, w, scales, alpha, beta, out, &g);
    if (st != XHAL_OK || hal_tensor_numel(out) == 0) return st;
    if (g.K == 0) {
        if (beta == 0.0) return fill_out(s, out, 0.0);
        return xhal_scale(s, out, beta, 0.0, out);
    }
    return matmul_dispatch(s, &g, scales, alpha, beta, out);
}

/* ---- gather ---- */
XHAL_API xhal_status xhal_gather(xhal_stream *s, xhal_tensor *table, xhal_tensor *idx, xhal_tensor *out)
{
    xhal_status st = hal_validate_gather(s, table, idx, out);
    if (st != XHAL_OK || hal_tensor_numel(out) == 0) return st;
    /* the indices' values are the device's to check, as the op runs (op_status.c) */
    const hal_backend *b = s->dev->backend;
    if (b->table->catalogue_version < XHAL_CATALOGUE_GATHER_STATUS)
        return hal_set_error(XHAL_ERROR_UNSUPPORTED,
                             "op gather (%s) is not supported on %s: gather checks its indices on the device and "
                             "needs op catalogue version %u or later, backend '%s' was built for version %u",
                             xhal_dtype_name(table->dtype), s->dev->spec, (unsigned)XHAL_CATALOGUE_GATHER_STATUS,
                             b->info.name, b->table->catalogue_version);
    xhal_op_desc d;
    init_desc(&d, XHAL_OP_GATHER);
    add_in(&d, table);
    add_in(&d, idx);
    add_out(&d, out);
    if ((st = hal_op_status_output(s, &d.more_outputs[0]))) return st;
    d.n_outputs = 2;
    if ((st = hal_dispatch(s, &d)) == XHAL_OK && !s->capture) s->status_armed = 1;
    return st;
}

/* ---- rope ---- */
XHAL_API void xhal_rope_params_init(xhal_rope_params *p)
{
    if (!p) return;
    memset(p, 0, sizeof *p);
    p->struct_size = sizeof *p;
    p->seq_axis = -3;
    p->theta = 10000.0;
    p->layout = XHAL_ROPE_HALF;
    p->attention_factor = 1.0;
}

/* A caller's parameter struct of struct_size bytes, checked: every field of this version
 * must be there (a caller built against a later header passes a larger struct whose extra
 * fields this library does not know: refused rather than ignored). */
static xhal_status params_size(const char *fn, const char *what, uint32_t got, size_t want)
{
    if (got == want) return XHAL_OK;
    return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                         "%s: %s struct_size is %u, this library's is %zu (fill it with %s_init; a larger one "
                         "comes from a newer xhal.h)",
                         fn, what, got, want, what);
}

static xhal_status rope_run(const char *fn, xhal_stream *s, xhal_tensor *x, xhal_tensor *pos, xhal_tensor *invf,
                            const xhal_rope_params *p, xhal_tensor *out)
{
    int sa, rd;
    xhal_status st = hal_validate_rope(fn, s, x, pos, invf, p, out, &sa, &rd);
    if (st != XHAL_OK || hal_tensor_numel(out) == 0) return st;
    xhal_op_desc d;
    init_desc(&d, XHAL_OP_ROPE);
    add_in(&d, x);
    if (pos) bcast_desc(pos, sa + 1, x->shape, &d.inputs[d.n_inputs++]);
    if (invf) add_in(&d, invf);
    add_out(&d, out);
    d.attrs.rope.theta = p->theta;
    d.attrs.rope.pos_offset = p->pos_offset;
    d.attrs.rope.seq_axis = sa;
    d.attrs.rope.rotary_dims = rd;
    d.attrs.rope.layout = p->layout;
    d.attrs.rope.has_positions = pos != NULL;
    d.attrs.rope.has_inv_freq = invf != NULL;
    d.attrs.rope.attention_factor = p->attention_factor;
    return hal_dispatch(s, &d);
}

XHAL_API xhal_status xhal_rope(xhal_stream *s, xhal_tensor *x, int seq_axis, double theta, int64_t pos_offset,
                               int rotary_dims, xhal_rope_layout layout, xhal_tensor *out)
{
    xhal_rope_params p;
    xhal_rope_params_init(&p);
    p.seq_axis = seq_axis;
    p.theta = theta;
    p.pos_offset = pos_offset;
    p.rotary_dims = rotary_dims;
    p.layout = (int32_t)layout;
    return rope_run("xhal_rope", s, x, NULL, NULL, &p, out);
}

XHAL_API xhal_status xhal_rope_ex(xhal_stream *s, xhal_tensor *x, xhal_tensor *positions, xhal_tensor *inv_freq,
                                  const xhal_rope_params *p, xhal_tensor *out)
{
    xhal_rope_params def;
    if (!p) {
        xhal_rope_params_init(&def);
        p = &def;
    }
    xhal_status st = params_size("xhal_rope_ex", "xhal_rope_params", p->struct_size, sizeof *p);
    if (st != XHAL_OK) return st;
    return rope_run("xhal_rope_ex", s, x, positions, inv_freq, p, out);
}

/* ---- attention ---- */
XHAL_API void xhal_attention_params_init(xhal_attention_params *p)
{
    if (!p) return;
    memset(p, 0, sizeof *p);
    p->struct_size = sizeof *p;
    p->q_pos0 = -1;
}

static xhal_status attention_run(const char *fn, xhal_stream *s, xhal_tensor *q, xhal_tensor *k, xhal_tensor *v,
                                 xhal_tensor *mask, const xhal_attention_params *p, xhal_tensor *out)
{
    int64_t mshape[4];
    xhal_status st = hal_validate_attention(fn, s, q, k, v, mask, p, out, mshape);
    if (st != XHAL_OK || hal_tensor_numel(out) == 0) return st;
    if (k->shape[2] == 0) return fill_out(s, out, 0.0); /* no keys: every row gives 0 */
    xhal_op_desc d;
    init_desc(&d, XHAL_OP_ATTENTION);
    add_in(&d, q);
    add_in(&d, k);
    add_in(&d, v);
    if (mask) {
        bcast_desc(mask, 4, mshape, &d.inputs[3]);
        d.n_inputs = 4;
    }
    add_out(&d, out);
    int64_t D = q->shape[3];
    d.attrs.attention.scale = p->scale == 0.0 ? 1.0 / sqrt((double)(D > 0 ? D : 1)) : p->scale;
    d.attrs.attention.causal = p->causal ? 1 : 0;
    d.attrs.attention.has_mask = mask != NULL;
    d.attrs.attention.window = p->window;
    d.attrs.attention.softcap = p->softcap;
    d.attrs.attention.has_q_pos0 = p->q_pos0 >= 0;
    d.attrs.attention.q_pos0 = p->q_pos0 >= 0 ? p->q_pos0 : k->shape[2] - q->shape[2];
    return hal_dispatch(s, &d);
}

XHAL_API xhal_status xhal_attention(xhal_stream *s, xhal_tensor *q, xhal_tensor *k, xhal_tensor *v, xhal_tensor *mask,
                                    double scale, int causal, xhal_tensor *out)
{
    xhal_attention_params p;
    xhal_attention_params_init(&p);
    p.scale = scale;
    p.causal = causal;
    return attention_run("xhal_attention", s, q, k, v, mask, &p, out);
}

XHAL_API xhal_status xhal_attention_ex(xhal_stream *s, xhal_tensor *q, xhal_tensor *k, xhal_tensor *v,
                                       xhal_tensor *mask, const xhal_attention_params *p, xhal_tensor *out)
{
    xhal_attention_params def;
    if (!p) {
        xhal_attention_params_init(&def);
        p = &def;
    }
    xhal_status st = params_size("xhal_attention_ex", "xhal_attention_params", p->struct_size, sizeof *p);
    if (st != XHAL_OK) return st;
    return attention_run("xhal_attention_ex", s, q, k, v, mask, p, out);
}

/* ---- topk ---- */
/* t's descriptor with axis moved last (a permuted view). */
static void axis_last_desc(const xhal_tensor *t, int axis, xhal_tensor_desc *d)
{
    hal_tensor_desc(t, d);
    int64_t sh = d->shape[axis], st = d->strides[axis];
    for (int i = axis; i < t->ndim - 1; i++) {
        d->shape[i] = d->shape[i + 1];
        d->strides[i] = d->strides[i + 1];
    }
    d->shape[t->ndim - 1] = sh;
    d->strides[t->ndim - 1] = st;
}

XHAL_API xhal_status xhal_topk(xhal_stream *s, xhal_tensor *x, int64_t k, int axis, int largest, xhal_tensor *values,
                               xhal_tensor *indices)
{
    int a;
    xhal_status st = hal_validate_topk(s, x, k, axis, largest, values, indices, &a);
    if (st != XHAL_OK || hal_tensor_numel(values) == 0) return st;
    xhal_op_desc d;
    init_desc(&d, XHAL_OP_TOPK);
    d.n_inputs = 1;
    axis_last_desc(x, a, &d.inputs[0]);
    d.n_outputs = 2;
    axis_last_desc(values, a, &d.outputs[0]);
    axis_last_desc(indices, a, &d.more_outputs[0]);
    d.attrs.topk.k = k;
    d.attrs.topk.largest = largest;
    return hal_dispatch(s, &d);
}
