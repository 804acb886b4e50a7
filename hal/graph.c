/* graph.c - ops captured from a stream once and replayed (xhal_graph, xhal.h).
 *
 * At capture, hal_dispatch hands every op that passed validation and op_supported to
 * hal_graph_record instead of op_run: the graph stores its descriptor (backend handles
 * resolved) and takes a reference on each buffer it names. A launch copies nothing and checks
 * nothing per op except the ops whose parameters moved since the last launch (the "dirty"
 * ones): those are rebuilt from the recorded descriptor plus their bindings and checked for
 * what a parameter can break (a view out of its buffer, an output onto an input, a negative
 * position, too few keys). Then either the backend's graph_launch takes the whole list, or the
 * core calls op_run per op with the stored descriptors. */
#include "dispatch.h"
#include "fault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS (XHAL_MAX_OP_INPUTS + XHAL_MAX_OP_OUTPUTS) /* tensor slots of a descriptor */

typedef struct graph_bind {
    int32_t param, field, arg, axis; /* arg: descriptor slot (inputs, then out at n_inputs) */
    int64_t scale;
} graph_bind;

typedef struct graph_node {
    int32_t first_bind, n_binds; /* binds[first_bind ..] (a node's binds are contiguous) */
    uint32_t same_view;          /* bit (o * XHAL_MAX_OP_INPUTS + i): output o was the very same view as
                         * input i at capture */
    int32_t status_slot;         /* slot of the op's status output (op_status.c, gather), -1: none */
} graph_node;

struct xhal_graph {
    hal_handle_hdr hdr;
    xhal_device *dev;
    int n, cap;
    xhal_op_desc *base;    /* as captured */
    xhal_op_desc *cur;     /* with the parameters applied: what the backend gets */
    xhal_op_desc *scratch; /* n: ops being rebuilt at a launch */
    xhal_buffer **bufs;    /* n * SLOTS: the buffer of each tensor slot (one reference each) */
    graph_node *nodes;     /* n */
    graph_bind *binds;     /* n_binds, in node order */
    int32_t *bind_node;    /* n_binds: the node of each bind */
    int n_binds, cap_binds;
    int n_params;
    int64_t at_capture[XHAL_GRAPH_MAX_PARAMS];
    int64_t value[XHAL_GRAPH_MAX_PARAMS];   /* set by xhal_graph_set_param */
    int64_t applied[XHAL_GRAPH_MAX_PARAMS]; /* the values cur reflects */
    int32_t *changed;                       /* n: scratch list of dirty ops */
    unsigned char *dirty;                   /* n */
    void *native;                           /* the backend's graph_create result, or NULL */
    xhal_buffer *status;                    /* the stream status output the ops' status slots name (NULL: no such op):
                          * the capture stream's, then the last launch stream's */
};

static const xhal_backend_table *T(xhal_device *d) { return d->backend->table; }
static void *S(xhal_device *d) { return d->backend->state; }

static int backend_takes_graphs(const xhal_backend_table *t)
{
    return XHAL_BACKEND_TABLE_HAS(t, graph_create) && XHAL_BACKEND_TABLE_HAS(t, graph_launch) &&
           XHAL_BACKEND_TABLE_HAS(t, graph_destroy);
}

static xhal_status check_graph(xhal_graph *g, const char *what)
{
    if (!g) return hal_set_error(XHAL_ERROR_INVALID_HANDLE, "%s: graph is NULL", what);
    if (!hal_handle_live(g, HAL_KIND_GRAPH))
        return hal_set_error(XHAL_ERROR_INVALID_HANDLE, "%s: %p is not a live graph (destroyed?)", what, (void *)g);
    return XHAL_OK;
}

/* Tensor slot k of d: the inputs, then the outputs (xhal_op_desc_output). */
static xhal_tensor_desc *slot_desc(xhal_op_desc *d, int slot)
{
    return slot < d->n_inputs ? &d->inputs[slot] : (xhal_tensor_desc *)xhal_op_desc_output(d, slot - d->n_inputs);
}

static void graph_free(xhal_graph *g)
{
    if (g->native) T(g->dev)->graph_destroy(S(g->dev), g->native);
    for (int i = 0; i < g->n * SLOTS; i++)
        if (g->bufs[i]) hal_buffer_release(g->bufs[i]);
    free(g->base);
    free(g->cur);
    free(g->scratch);
    free(g->bufs);
    free(g->nodes);
    free(g->binds);
    free(g->bind_node);
    free(g->changed);
    free(g->dirty);
    free(g);
}

static void graph_teardown(hal_handle_hdr *h) { xhal_graph_destroy((xhal_graph *)h); }

/* ------------------------------------------------------------------------- */
/* capture                                                                    */
/* ------------------------------------------------------------------------- */
XHAL_API xhal_status xhal_stream_begin_capture(xhal_stream *s, int n_params, const int64_t *values)
{
    const char *fn = "xhal_stream_begin_capture";
    xhal_status st = hal_check_stream(s, fn);
    if (st != XHAL_OK) return st;
    if (s->capture)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: the stream on %s is already capturing a graph", fn,
                             s->dev->spec);
    if (n_params < 0 || n_params > XHAL_GRAPH_MAX_PARAMS)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: n_params %d is not in [0, %d]", fn, n_params,
                             XHAL_GRAPH_MAX_PARAMS);
    if (n_params > 0 && !values)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: param_values is NULL for %d parameters", fn, n_params);
    if (hal_fault_hit("host_alloc")) return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "out of host memory for a graph");
    xhal_graph *g = calloc(1, sizeof *g);
    if (!g) return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "out of host memory for a graph");
    g->dev = s->dev;
    g->n_params = n_params;
    for (int i = 0; i < n_params; i++) g->at_capture[i] = g->value[i] = g->applied[i] = values[i];
    s->capture = g; /* registered as a handle at end_capture */
    return XHAL_OK;
}

static int grow(void **p, int *cap, int need, size_t elem)
{
    if (need <= *cap) return 0;
    int nc = *cap ? *cap * 2 : 64;
    while (nc < need) nc *= 2;
    void *q = realloc(*p, (size_t)nc * elem);
    if (!q) return -1;
    *p = q;
    *cap = nc;
    return 0;
}

xhal_status hal_graph_record(xhal_stream *s, const xhal_op_desc *desc, xhal_buffer *const *bufs)
{
    xhal_graph *g = s->capture;
    if (hal_fault_hit("host_alloc"))
        return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "capturing op %s on %s: out of host memory",
                             xhal_op_name((xhal_op)desc->op), s->dev->spec);
    if (g->n == g->cap) {
        /* each array grows to the new capacity; one that fails leaves the others larger, which
         * is harmless, and cap unchanged */
        int nc = g->cap ? g->cap * 2 : 64;
        void *p;
        if (!(p = realloc(g->base, (size_t)nc * sizeof *g->base)) || !((g->base = p)) ||
            !(p = realloc(g->cur, (size_t)nc * sizeof *g->cur)) || !((g->cur = p)) ||
            !(p = realloc(g->bufs, (size_t)nc * SLOTS * sizeof *g->bufs)) || !((g->bufs = p)) ||
            !(p = realloc(g->nodes, (size_t)nc * sizeof *g->nodes)) || !((g->nodes = p)))
            return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "capturing op %s on %s: out of host memory",
                                 xhal_op_name((xhal_op)desc->op), s->dev->spec);
        g->cap = nc;
    }
    int i = g->n;
    g->base[i] = *desc;
    g->cur[i] = *desc;
    graph_node *nd = &g->nodes[i];
    memset(nd, 0, sizeof *nd);
    nd->first_bind = g->n_binds;
    nd->status_slot = -1;
    /* an output exactly an input (elementwise in place): stays allowed only while it stays so */
    for (int o = 0; o < desc->n_outputs; o++)
        for (int k = 0; k < desc->n_inputs; k++)
            if (!memcmp(&desc->inputs[k], xhal_op_desc_output(desc, o), sizeof(xhal_tensor_desc)))
                nd->same_view |= 1u << (o * XHAL_MAX_OP_INPUTS + k);
    xhal_context *ctx = s->dev->ctx;
    pthread_mutex_lock(&ctx->lock);
    for (int k = 0; k < SLOTS; k++) {
        xhal_buffer *b = k < desc->n_inputs + desc->n_outputs ? bufs[k] : NULL;
        g->bufs[i * SLOTS + k] = b;
        if (b) b->refs++;
        if (b && b == s->status) {
            nd->status_slot = k;
            g->status = b;
        }
    }
    pthread_mutex_unlock(&ctx->lock);
    g->n++;
    return XHAL_OK;
}

/* Ops whose descriptor keeps its tensors as the caller passed them (no broadcast, transpose or
 * keepdims folding), so an axis of the caller's tensor is an axis of the descriptor's. */
static int keeps_geometry(const xhal_op_desc *d, int slot)
{
    if (xhal_op_family_of(d->op) == XHAL_OPF_UNARY) return 1;
    switch (d->op) {
        case XHAL_OP_COPY:
        case XHAL_OP_FILL:
        case XHAL_OP_SCALE:
        case XHAL_OP_SOFTMAX:
        case XHAL_OP_RMS_NORM:
        case XHAL_OP_LAYER_NORM:
        case XHAL_OP_ROPE: return 1;
        case XHAL_OP_ATTENTION: return slot != 3; /* the mask is broadcast */
        default: return 0;
    }
}

XHAL_API xhal_status xhal_stream_capture_bind(xhal_stream *s, int param, xhal_graph_field field, int arg, int axis,
                                              int64_t scale)
{
    const char *fn = "xhal_stream_capture_bind";
    xhal_status st = hal_check_stream(s, fn);
    if (st != XHAL_OK) return st;
    xhal_graph *g = s->capture;
    if (!g)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: the stream on %s is not capturing a graph", fn,
                             s->dev->spec);
    if (g->n == 0) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: no op has been captured yet", fn);
    if (param < 0 || param >= g->n_params)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: param %d is not in [0, %d) (the capture's n_params)", fn,
                             param, g->n_params);
    if (scale == 0) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: scale is 0 (the field would not move)", fn);
    int node = g->n - 1;
    xhal_op_desc *d = &g->base[node];
    const char *opn = xhal_op_name((xhal_op)d->op);
    graph_bind b = {param, (int32_t)field, 0, 0, scale};
    switch (field) {
        case XHAL_GRAPH_ROPE_POSITION:
            if (d->op != XHAL_OP_ROPE)
                return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                                     "%s: XHAL_GRAPH_ROPE_POSITION needs a rope op, but the op captured last is %s", fn,
                                     opn);
            if (d->attrs.rope.has_positions)
                return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                                     "%s: the rope captured last reads its positions from a tensor (xhal_rope_ex); "
                                     "write that tensor instead of binding pos_offset",
                                     fn);
            break;
        case XHAL_GRAPH_ATTENTION_Q_POS0:
            if (d->op != XHAL_OP_ATTENTION || !d->attrs.attention.has_q_pos0)
                return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                                     "%s: XHAL_GRAPH_ATTENTION_Q_POS0 needs an attention op with an explicit q_pos0 "
                                     "(xhal_attention_ex), but the op captured last is %s%s",
                                     fn, opn, d->op == XHAL_OP_ATTENTION ? " without one" : "");
            break;
        case XHAL_GRAPH_ATTENTION_KEYS:
            if (d->op != XHAL_OP_ATTENTION)
                return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                                     "%s: XHAL_GRAPH_ATTENTION_KEYS needs an attention op, but the op captured last "
                                     "is %s",
                                     fn, opn);
            break;
        case XHAL_GRAPH_VIEW_START: {
            int slot = arg == XHAL_GRAPH_ARG_OUT       ? (d->n_outputs ? d->n_inputs : -1)
                       : arg >= 0 && arg < d->n_inputs ? arg
                                                       : -1;
            if (slot < 0)
                return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                                     "%s: arg %d is not a tensor argument of %s (it has %d inputs and %d output; "
                                     "XHAL_GRAPH_ARG_OUT is the output)",
                                     fn, arg, opn, d->n_inputs, d->n_outputs);
            if (!keeps_geometry(d, slot))
                return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                                     "%s: XHAL_GRAPH_VIEW_START is not available for argument %d of %s (its "
                                     "descriptor broadcasts or transposes the caller's view)",
                                     fn, arg, opn);
            const xhal_tensor_desc *t = slot_desc(d, slot);
            if (axis < 0 || axis >= t->ndim)
                return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: axis %d is not in [0, %d) for argument %d of %s",
                                     fn, axis, t->ndim, arg, opn);
            if (hal_dtype_block((xhal_dtype)t->dtype, NULL, NULL))
                return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                                     "%s: argument %d of %s is block-quantized (%s); its views move by whole blocks "
                                     "only, which a binding does not guarantee",
                                     fn, arg, opn, xhal_dtype_name((xhal_dtype)t->dtype));
            b.arg = slot;
            b.axis = axis;
            break;
        }
        default:
            return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: field %d is not an xhal_graph_field", fn, field);
    }
    if (grow((void **)&g->binds, &g->cap_binds, g->n_binds + 1, sizeof(graph_bind)))
        return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "%s: out of host memory", fn);
    int cb = g->n_binds; /* bind_node grows alongside binds, to cap_binds */
    int32_t *bn = realloc(g->bind_node, (size_t)g->cap_binds * sizeof *bn);
    if (!bn) return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "%s: out of host memory", fn);
    g->bind_node = bn;
    g->binds[cb] = b;
    g->bind_node[cb] = node;
    g->n_binds++;
    g->nodes[node].n_binds++;
    return XHAL_OK;
}

XHAL_API xhal_status xhal_stream_end_capture(xhal_stream *s, xhal_graph **out)
{
    const char *fn = "xhal_stream_end_capture";
    xhal_status st = hal_check_stream(s, fn);
    if (st != XHAL_OK) return st;
    if (!s->capture)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: the stream on %s is not capturing a graph", fn,
                             s->dev->spec);
    xhal_graph *g = s->capture;
    s->capture = NULL; /* the stream leaves capture mode whatever happens next */
    if (!out) {
        graph_free(g);
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: out is NULL (the capture is dropped)", fn);
    }
    *out = NULL;
    int n = g->n > 0 ? g->n : 1;
    g->changed = malloc((size_t)n * sizeof *g->changed);
    g->dirty = calloc((size_t)n, 1);
    g->scratch = malloc((size_t)n * sizeof *g->scratch);
    if (!g->changed || !g->dirty || !g->scratch) {
        graph_free(g);
        return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "%s: out of host memory", fn);
    }
    const xhal_backend_table *t = T(g->dev);
    if (g->n > 0 && backend_takes_graphs(t)) {
        st = t->graph_create(S(g->dev), g->dev->index, g->n, g->cur, &g->native);
        if (st == XHAL_ERROR_UNSUPPORTED) {
            g->native = NULL;
            hal_clear_error();
        } else if (st != XHAL_OK) {
            g->native = NULL;
            char msg[1024];
            hal_error_copy(msg, sizeof msg);
            graph_free(g);
            return hal_set_error(st, "%s: building the graph on %s: %s", fn, s->dev->spec, msg);
        }
    }
    if (hal_handle_register(&g->hdr, HAL_KIND_GRAPH, g->dev->ctx) != 0) {
        graph_free(g);
        return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "%s: out of host memory registering a graph", fn);
    }
    hal_ctx_attach(g->dev->ctx, &g->hdr, graph_teardown);
    *out = g;
    return XHAL_OK;
}

void hal_graph_abort(xhal_stream *s)
{
    if (!s->capture) return;
    graph_free(s->capture);
    s->capture = NULL;
}

xhal_status hal_check_not_capturing(xhal_stream *s, const char *fn)
{
    if (!s->capture) return XHAL_OK;
    return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                         "%s: the stream on %s is capturing a graph (xhal_stream_begin_capture); this call cannot be "
                         "recorded: make it before the capture or after xhal_stream_end_capture",
                         fn, s->dev->spec);
}

/* ------------------------------------------------------------------------- */
/* parameters and launch                                                      */
/* ------------------------------------------------------------------------- */
XHAL_API xhal_status xhal_graph_set_param(xhal_graph *g, int param, int64_t value)
{
    xhal_status st = check_graph(g, "xhal_graph_set_param");
    if (st != XHAL_OK) return st;
    if (param < 0 || param >= g->n_params)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_graph_set_param: param %d is not in [0, %d)", param,
                             g->n_params);
    g->value[param] = value;
    return XHAL_OK;
}

XHAL_API xhal_status xhal_graph_op_count(xhal_graph *g, int *count)
{
    xhal_status st = check_graph(g, "xhal_graph_op_count");
    if (st != XHAL_OK) return st;
    if (!count) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_graph_op_count: count is NULL");
    *count = g->n;
    return XHAL_OK;
}

XHAL_API xhal_status xhal_graph_is_native(xhal_graph *g, int *native)
{
    xhal_status st = check_graph(g, "xhal_graph_is_native");
    if (st != XHAL_OK) return st;
    if (!native) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_graph_is_native: native is NULL");
    *native = g->native != NULL;
    return XHAL_OK;
}

/* Byte range [lo, hi) of a descriptor's tensor (its shape already checked at capture; a moved
 * one may overflow). */
static xhal_status desc_extent(const xhal_tensor_desc *t, uint64_t *lo, uint64_t *hi)
{
    return hal_view_extent("xhal_graph_launch", (xhal_dtype)t->dtype, t->ndim, t->shape, t->strides, t->offset, lo, hi);
}

static int64_t numel_of(const xhal_tensor_desc *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

/* Rebuild cur[i] from base[i] and its bindings at the graph's current values, and check it.
 * On failure the message names the op, the parameter and its value. */
static xhal_status rebuild(xhal_graph *g, int i, xhal_op_desc *out)
{
    const char *fn = "xhal_graph_launch";
    xhal_op_desc d = g->base[i];
    const graph_node *nd = &g->nodes[i];
    const char *opn = xhal_op_name((xhal_op)d.op);
    for (int k = 0; k < nd->n_binds; k++) {
        const graph_bind *b = &g->binds[nd->first_bind + k];
        int64_t delta, mv;
        if (__builtin_sub_overflow(g->value[b->param], g->at_capture[b->param], &delta) ||
            __builtin_mul_overflow(delta, b->scale, &mv))
            return hal_set_error(XHAL_ERROR_OVERFLOW, "%s: op %d (%s): parameter %d = %lld overflows its binding", fn,
                                 i, opn, b->param, (long long)g->value[b->param]);
        switch (b->field) {
            case XHAL_GRAPH_ROPE_POSITION: {
                int64_t p;
                if (__builtin_add_overflow(d.attrs.rope.pos_offset, mv, &p) || p < 0)
                    return hal_set_error(XHAL_ERROR_OUT_OF_RANGE,
                                         "%s: op %d (rope): parameter %d = %lld makes the position %lld negative", fn,
                                         i, b->param, (long long)g->value[b->param],
                                         (long long)(d.attrs.rope.pos_offset + mv));
                d.attrs.rope.pos_offset = p;
                break;
            }
            case XHAL_GRAPH_ATTENTION_KEYS: {
                int64_t sk;
                int64_t sq = d.inputs[0].shape[2];
                if (__builtin_add_overflow(d.inputs[1].shape[2], mv, &sk) || sk < 1 ||
                    (d.attrs.attention.causal && !d.attrs.attention.has_q_pos0 && sk < sq))
                    return hal_set_error(XHAL_ERROR_OUT_OF_RANGE,
                                         "%s: op %d (attention): parameter %d = %lld gives %lld keys; it needs at "
                                         "least %lld",
                                         fn, i, b->param, (long long)g->value[b->param],
                                         (long long)(d.inputs[1].shape[2] + mv),
                                         (long long)(d.attrs.attention.causal ? (sq > 1 ? sq : 1) : 1));
                d.inputs[1].shape[2] = sk;
                d.inputs[2].shape[2] = sk;
                if (d.attrs.attention.has_mask) d.inputs[3].shape[3] = sk;
                break;
            }
            case XHAL_GRAPH_ATTENTION_Q_POS0: {
                int64_t q0;
                if (__builtin_add_overflow(d.attrs.attention.q_pos0, mv, &q0) || q0 < 0)
                    return hal_set_error(XHAL_ERROR_OUT_OF_RANGE,
                                         "%s: op %d (attention): parameter %d = %lld makes q_pos0 negative", fn, i,
                                         b->param, (long long)g->value[b->param]);
                d.attrs.attention.q_pos0 = q0;
                break;
            }
            case XHAL_GRAPH_VIEW_START: {
                xhal_tensor_desc *t = slot_desc(&d, b->arg);
                int64_t el, by, off;
                if (__builtin_mul_overflow(mv, t->strides[b->axis], &el) ||
                    __builtin_mul_overflow(el, (int64_t)xhal_dtype_size((xhal_dtype)t->dtype), &by) ||
                    __builtin_add_overflow((int64_t)t->offset, by, &off) || off < 0)
                    return hal_set_error(XHAL_ERROR_OUT_OF_RANGE,
                                         "%s: op %d (%s): parameter %d = %lld moves %s %d before the start of its "
                                         "buffer",
                                         fn, i, opn, b->param, (long long)g->value[b->param],
                                         b->arg < d.n_inputs ? "input" : "the output",
                                         b->arg < d.n_inputs ? b->arg : 0);
                t->offset = (uint64_t)off;
                break;
            }
        }
    }
    if (d.op == XHAL_OP_ATTENTION && d.attrs.attention.has_q_pos0 &&
        d.attrs.attention.q_pos0 > d.inputs[1].shape[2] - d.inputs[0].shape[2])
        return hal_set_error(XHAL_ERROR_OUT_OF_RANGE,
                             "%s: op %d (attention): with the parameters at %lld%s, q_pos0 %lld is above Sk - Sq = "
                             "%lld",
                             fn, i, (long long)(g->n_params ? g->value[0] : 0), g->n_params > 1 ? ", ..." : "",
                             (long long)d.attrs.attention.q_pos0,
                             (long long)(d.inputs[1].shape[2] - d.inputs[0].shape[2]));
    /* every tensor inside its buffer */
    uint64_t lo[SLOTS], hi[SLOTS];
    int ns = d.n_inputs + d.n_outputs;
    for (int k = 0; k < ns; k++) {
        const xhal_tensor_desc *t = slot_desc(&d, k);
        xhal_buffer *buf = g->bufs[i * SLOTS + k];
        xhal_status st = desc_extent(t, &lo[k], &hi[k]);
        if (st != XHAL_OK) return hal_error_prefix(st, "op %d (%s)", i, opn);
        if (numel_of(t) > 0 && hi[k] > buf->size)
            return hal_set_error(XHAL_ERROR_OUT_OF_RANGE,
                                 "%s: op %d (%s): with the parameters at %lld%s, %s %d reaches byte %llu of its "
                                 "buffer of %llu bytes",
                                 fn, i, opn, (long long)(g->n_params ? g->value[0] : 0), g->n_params > 1 ? ", ..." : "",
                                 k < d.n_inputs ? "input" : "the output", k < d.n_inputs ? k : 0,
                                 (unsigned long long)hi[k], (unsigned long long)buf->size);
    }
    /* each output clear of the inputs (or still exactly the input it was at capture) and of the
     * other outputs */
    for (int oi = 0; oi < d.n_outputs; oi++) {
        int o = d.n_inputs + oi;
        for (int k = 0; k < o; k++) {
            if (g->bufs[i * SLOTS + k] != g->bufs[i * SLOTS + o]) continue;
            if (k < d.n_inputs && (nd->same_view & (1u << (oi * XHAL_MAX_OP_INPUTS + k)))) {
                if (!memcmp(&d.inputs[k], xhal_op_desc_output(&d, oi), sizeof(xhal_tensor_desc))) continue;
            } else if (!(lo[k] < hi[o] && lo[o] < hi[k])) {
                continue;
            }
            return hal_set_error(XHAL_ERROR_OUT_OF_RANGE,
                                 "%s: op %d (%s): with the parameters at %lld%s, output %d overlaps %s %d", fn, i, opn,
                                 (long long)(g->n_params ? g->value[0] : 0), g->n_params > 1 ? ", ..." : "", oi,
                                 k < d.n_inputs ? "input" : "output", k < d.n_inputs ? k : k - d.n_inputs);
        }
    }
    /* a plugin built before catalogue XHAL_CATALOGUE_ROPE_ATTENTION_EX reads q_pos0 as Sk - Sq */
    const char *feature;
    if (T(g->dev)->catalogue_version < XHAL_CATALOGUE_ROPE_ATTENTION_EX && (feature = hal_needs_rope_attention_ex(&d)))
        return hal_set_error(XHAL_ERROR_UNSUPPORTED,
                             "%s: op %d (%s): with the parameters at %lld, %s needs op catalogue version %u or later "
                             "on %s",
                             fn, i, opn, (long long)(g->n_params ? g->value[0] : 0), feature,
                             (unsigned)XHAL_CATALOGUE_ROPE_ATTENTION_EX, g->dev->spec);
    *out = d;
    return XHAL_OK;
}

/* Launched on a stream other than the last one: the ops' status outputs move to s's status
 * (op_status.c), so that their errors surface on the stream that ran them. The moved ops join
 * the changed list (ascending, for the backend's graph_launch). */
static xhal_status retarget_status(xhal_graph *g, xhal_stream *s, int *n_changed)
{
    xhal_tensor_desc sd;
    xhal_status st = hal_op_status_output(s, &sd);
    if (st != XHAL_OK) return hal_error_prefix(st, "xhal_graph_launch");
    xhal_buffer *nb = s->status;
    for (int c = 0; c < *n_changed; c++) g->dirty[g->changed[c]] = 1;
    for (int i = 0; i < g->n; i++) {
        int k = g->nodes[i].status_slot;
        if (k < 0) continue;
        slot_desc(&g->base[i], k)->buffer = nb->handle;
        slot_desc(&g->cur[i], k)->buffer = nb->handle;
        xhal_buffer *old = g->bufs[i * SLOTS + k];
        pthread_mutex_lock(&g->dev->ctx->lock);
        nb->refs++;
        pthread_mutex_unlock(&g->dev->ctx->lock);
        g->bufs[i * SLOTS + k] = nb;
        hal_buffer_release(old);
        g->dirty[i] = 1;
    }
    int n = 0;
    for (int i = 0; i < g->n; i++)
        if (g->dirty[i]) {
            g->dirty[i] = 0;
            g->changed[n++] = i;
        }
    *n_changed = n;
    g->status = nb;
    return XHAL_OK;
}

XHAL_API xhal_status xhal_graph_launch(xhal_graph *g, xhal_stream *s)
{
    const char *fn = "xhal_graph_launch";
    xhal_status st = check_graph(g, fn);
    if (st == XHAL_OK) st = hal_check_stream(s, fn);
    if (st != XHAL_OK) return st;
    if (s->dev != g->dev)
        return hal_set_error(XHAL_ERROR_WRONG_DEVICE, "%s: the graph was captured on %s but the stream is on %s", fn,
                             g->dev->spec, s->dev->spec);
    if (s->capture)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                             "%s: the stream on %s is capturing a graph; graphs are not nested", fn, s->dev->spec);
    /* the ops whose parameters moved since the last launch */
    int moved = 0;
    for (int p = 0; p < g->n_params; p++) moved |= (g->value[p] != g->applied[p]) << p;
    int n_changed = 0;
    if (moved) {
        for (int k = 0; k < g->n_binds; k++) {
            int i = g->bind_node[k];
            if ((moved >> g->binds[k].param) & 1 && !g->dirty[i]) {
                g->dirty[i] = 1;
                g->changed[n_changed++] = i;
            }
        }
        /* ascending order for the backend (binds are in node order, so they already are); the
         * rebuilt ops are committed only when all of them pass, so a failure changes nothing */
        for (int c = 0; c < n_changed && st == XHAL_OK; c++) st = rebuild(g, g->changed[c], &g->scratch[c]);
        for (int k = 0; k < n_changed; k++) g->dirty[g->changed[k]] = 0;
        if (st != XHAL_OK) return st;
        for (int c = 0; c < n_changed; c++) g->cur[g->changed[c]] = g->scratch[c];
        memcpy(g->applied, g->value, sizeof g->applied);
    }
    if (g->n == 0) return XHAL_OK;
    if (g->status && g->status != s->status && (st = retarget_status(g, s, &n_changed)) != XHAL_OK) return st;
    if (g->status) s->status_armed = 1; /* its gathers report at s's next synchronize or read */
    const xhal_backend_table *t = T(g->dev);
    if (g->native) {
        if (hal_fault_hit("backend_call"))
            return hal_set_error(XHAL_ERROR_BACKEND, "injected fault: graph launch on %s", s->dev->spec);
        st = t->graph_launch(S(g->dev), s->handle, g->native, g->n, g->cur, n_changed, g->changed);
        return st == XHAL_OK ? st : hal_error_prefix(st, "%s: graph of %d ops on %s", fn, g->n, s->dev->spec);
    }
    for (int i = 0; i < g->n; i++) {
        const xhal_op_desc *d = &g->cur[i];
        if (hal_fault_hit("backend_call"))
            return hal_set_error(XHAL_ERROR_BACKEND, "injected fault: %s: op %d (%s) on %s", fn, i,
                                 xhal_op_name((xhal_op)d->op), s->dev->spec);
        st = t->op_run(S(g->dev), s->handle, d);
        if (st != XHAL_OK)
            return hal_error_prefix(st, "%s: op %d (%s) on %s (ops before it are queued)", fn, i,
                                    xhal_op_name((xhal_op)d->op), s->dev->spec);
    }
    return XHAL_OK;
}

XHAL_API xhal_status xhal_graph_destroy(xhal_graph *g)
{
    if (!g) return XHAL_OK;
    xhal_status st = check_graph(g, "xhal_graph_destroy");
    if (st != XHAL_OK) return st;
    hal_ctx_detach(g->dev->ctx, &g->hdr);
    hal_handle_unregister(g);
    graph_free(g);
    return XHAL_OK;
}
