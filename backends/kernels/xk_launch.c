/*
 * xk_launch.c - the one description of each portable kernel's launch (see xk_launch.h):
 * for a validated descriptor, the kernel, its program variant, its grid and its arguments
 * in the order of the kernel's parameter list in xk_ops.cl. Shared by the OpenCL and the
 * CUDA/HIP plugins; no backend API here.
 */
#include "xk_launch.h"

#include <stdio.h>
#include <string.h>

#include "xhal/plugin/xhal_names.h"

static const char *const k_names[XK_K_COUNT_] = {
#define XK_KERNEL_NAME_(ID, NAME, BARRIERS) #NAME,
    XK_KERNEL_LIST(XK_KERNEL_NAME_)
#undef XK_KERNEL_NAME_
};

const char *xk_kernel_name(int kernel) { return kernel >= 0 && kernel < XK_K_COUNT_ ? k_names[kernel] : "?"; }

/* ------------------------------------------------------------------ arguments */

static xk_arg *push(xk_launch *L, int kind)
{
    xk_arg *a = &L->args[L->nargs++];
    a->kind = kind;
    return a;
}

/* A tensor: its buffer, then its offset in elements (the kernels' (ptr, off) pairs). */
static void a_tensor(xk_launch *L, const xhal_tensor_desc *t)
{
    push(L, XK_ARG_BUF)->v.buf = t->buffer;
    push(L, XK_ARG_I64)->v.i64 = (int64_t)(t->offset / xhal_names_dtype_size(t->dtype));
}

/* An absent optional tensor: a valid buffer (`stand_in`'s) at offset 0, never read. */
static void a_absent(xk_launch *L, const xhal_tensor_desc *stand_in)
{
    push(L, XK_ARG_BUF)->v.buf = stand_in->buffer;
    push(L, XK_ARG_I64)->v.i64 = 0;
}

static void a_i32(xk_launch *L, int32_t v) { push(L, XK_ARG_I32)->v.i32 = v; }
static void a_i64(xk_launch *L, int64_t v) { push(L, XK_ARG_I64)->v.i64 = v; }
static void a_u64(xk_launch *L, uint64_t v) { push(L, XK_ARG_U64)->v.u64 = v; }
static void a_f32(xk_launch *L, float v) { push(L, XK_ARG_F32)->v.f32 = v; }
static void a_real(xk_launch *L, double v) { push(L, XK_ARG_REAL)->v.real = v; }
static void a_nd(xk_launch *L) { push(L, XK_ARG_ND); }

/* ------------------------------------------------------------------ grids */

/* 1-D over n items, any group size. */
static void g_items(xk_launch *L, int64_t n)
{
    L->items = 1;
    L->count[0] = n;
    L->count[1] = L->count[2] = 1;
    L->group[0] = L->group[1] = L->group[2] = 1;
}

/* `groups` groups of exactly x * y items (3-D: dim 2 counts groups of one item). */
static void g_groups(xk_launch *L, int64_t gx, int64_t gy, int64_t gz, unsigned x, unsigned y)
{
    L->items = 0;
    L->count[0] = gx;
    L->count[1] = gy;
    L->count[2] = gz;
    L->group[0] = x;
    L->group[1] = y;
    L->group[2] = 1;
}

/* One group of XK_HOST_WG items per row. */
static void g_rows(xk_launch *L, int64_t rows) { g_groups(L, rows, 1, 1, XK_HOST_WG, 1); }

/* ------------------------------------------------------------------ nd */

static int64_t numel(const xhal_tensor_desc *t)
{
    int64_t n = 1;
    for (int k = 0; k < t->ndim; k++) n *= t->shape[k];
    return n;
}

/* nd over shape[0..ndim) for nt tensors with strides st[t]; size-1 dims are dropped and
 * neighbours that are contiguous in every tensor merge. Linear order is kept. */
static void nd_fold(xk_nd_host *nd, int ndim, const int64_t *shape, int nt, const int64_t *const *st)
{
    int n = 0;
    memset(nd, 0, sizeof *nd);
    for (int k = 0; k < ndim; k++) {
        if (shape[k] == 1) continue;
        int merge = n > 0;
        for (int t = 0; t < nt && merge; t++)
            if (nd->st[t][n - 1] != st[t][k] * shape[k]) merge = 0;
        if (merge) {
            nd->shape[n - 1] *= shape[k];
            for (int t = 0; t < nt; t++) nd->st[t][n - 1] = st[t][k];
        } else {
            nd->shape[n] = shape[k];
            for (int t = 0; t < nt; t++) nd->st[t][n] = st[t][k];
            n++;
        }
    }
    if (n == 0) {
        nd->shape[0] = 1;
        n = 1;
    }
    for (int k = n; k < XK_HOST_MAX_DIMS; k++) nd->shape[k] = 1;
    nd->ndim = n;
}

/* nd with no folding (dims keep their meaning). */
static void nd_plain(xk_nd_host *nd, int ndim, const int64_t *shape, int nt, const int64_t *const *st)
{
    memset(nd, 0, sizeof *nd);
    for (int k = 0; k < XK_HOST_MAX_DIMS; k++) nd->shape[k] = k < ndim ? shape[k] : 1;
    for (int t = 0; t < nt; t++)
        for (int k = 0; k < ndim; k++) nd->st[t][k] = st[t][k];
    nd->ndim = ndim > 0 ? ndim : 1;
}

/* Rows of the last axis: nd over the leading dims of out and x; returns the row count. */
static int64_t nd_rows(xk_nd_host *nd, const xhal_tensor_desc *out, const xhal_tensor_desc *x)
{
    const int64_t *sts[2] = {out->strides, x->strides};
    int64_t rows = 1;
    for (int k = 0; k + 1 < out->ndim; k++) rows *= out->shape[k];
    nd_fold(nd, out->ndim - 1, out->shape, 2, sts);
    return rows;
}

/* ------------------------------------------------------------------ variants */

static int is_int(int dt) { return dt == XHAL_DTYPE_I32 || dt == XHAL_DTYPE_I64; }
static int is_block(int dt) { return xhal_names_dtype_block(dt) != NULL; }

int xk_variant_of(const xhal_op_desc *desc)
{
    int odt = desc->n_outputs > 0 ? desc->outputs[0].dtype : XHAL_DTYPE_INVALID;
    int idt = desc->n_inputs > 0 ? desc->inputs[0].dtype : odt;
    switch (xhal_op_family_of(desc->op)) {
        case XHAL_OPF_COPY: /* bit copies need no f64 arithmetic; conversions through f64 do */
            return idt != odt && (idt == XHAL_DTYPE_F64 || odt == XHAL_DTYPE_F64) ? XK_VARIANT_F64 : XK_VARIANT_F32;
        case XHAL_OPF_FILL:
        case XHAL_OPF_GATHER: return XK_VARIANT_F32; /* bit patterns */
        case XHAL_OPF_REDUCE: return idt == XHAL_DTYPE_F64 ? XK_VARIANT_F64 : XK_VARIANT_F32;
        default: return odt == XHAL_DTYPE_F64 ? XK_VARIANT_F64 : XK_VARIANT_F32;
    }
}

uint64_t xk_group_needed(const xhal_op_desc *desc)
{
    switch (xhal_op_family_of(desc->op)) {
        case XHAL_OPF_MATMUL: return (uint64_t)XK_HOST_MM_TS * XK_HOST_MM_TS;
        case XHAL_OPF_REDUCE:
        case XHAL_OPF_SOFTMAX:
        case XHAL_OPF_NORM:
        case XHAL_OPF_ATTENTION: return XK_HOST_WG;
        default: return 1;
    }
}

int xk_supports(const xhal_op_desc *desc, const char **why)
{
    switch (xhal_op_family_of(desc->op)) {
        case XHAL_OPF_ROPE:      /* positions, inv_freq, attention factor: xk_rope */
        case XHAL_OPF_ATTENTION: /* window, softcap, q_pos0: xk_attention */
        case XHAL_OPF_TOPK:
        case XHAL_OPF_COPY:
        case XHAL_OPF_FILL:
        case XHAL_OPF_UNARY:
        case XHAL_OPF_SCALE:
        case XHAL_OPF_BINARY:
        case XHAL_OPF_REDUCE:
        case XHAL_OPF_SOFTMAX:
        case XHAL_OPF_NORM:
        case XHAL_OPF_MATMUL:
        case XHAL_OPF_GATHER: return 1;
        default: *why = "the op's family has no portable kernel"; return 0;
    }
}

static int is_f32_half(int dt) { return dt == XHAL_DTYPE_F32 || dt == XHAL_DTYPE_F16 || dt == XHAL_DTYPE_BF16; }

int xk_block_side(const xhal_op_desc *desc)
{
    switch (xhal_op_family_of(desc->op)) {
        case XHAL_OPF_COPY:
            if (is_block(desc->inputs[0].dtype)) return desc->inputs[0].dtype;
            return is_block(desc->outputs[0].dtype) ? desc->outputs[0].dtype : 0;
        case XHAL_OPF_MATMUL: return desc->n_inputs >= 2 && is_block(desc->inputs[1].dtype) ? desc->inputs[1].dtype : 0;
        default: return 0;
    }
}

int xk_block_ok(const xhal_op_desc *desc, char *why, size_t size)
{
    int idt = desc->inputs[0].dtype, odt = desc->outputs[0].dtype;
    if (xhal_op_family_of(desc->op) == XHAL_OPF_MATMUL) {
        if (desc->n_inputs == 2 && is_f32_half(idt) && odt == idt) return 1;
        snprintf(why, size, "with block-quantized weights a and out are f32, f16 or bf16 (one dtype), no scales");
        return 0;
    }
    if (is_block(idt) && (idt == odt || is_f32_half(odt))) return 1;
    if (is_f32_half(idt) && (odt == XHAL_DTYPE_Q8_0 || odt == XHAL_DTYPE_Q4_0)) return 1;
    snprintf(why, size, "block-quantized copies are the same dtype, to f32/f16/bf16, or from those to q8_0/q4_0");
    return 0;
}

/* ------------------------------------------------------------------ one plan per family */

/* A block-quantized tensor: its buffer, then its offset in bytes. */
static void a_qtensor(xk_launch *L, const xhal_tensor_desc *t)
{
    push(L, XK_ARG_BUF)->v.buf = t->buffer;
    push(L, XK_ARG_I64)->v.i64 = (int64_t)t->offset;
}

/* Copies with a block-quantized side (xhal_backend.h: rows of whole blocks along the
 * innermost axis, byte offsets, strides in elements); nd covers the row dims. Same block
 * dtype: xk_qcopy moves bytes; block to f32/f16/bf16: xk_qdequant (bit-exact); f32/f16/bf16
 * to q8_0/q4_0: xk_qquant, one item per 32-element block. */
static void plan_qcopy(const xhal_op_desc *desc, xk_launch *L)
{
    const xhal_tensor_desc *in = &desc->inputs[0], *out = &desc->outputs[0];
    const int64_t *sts[2] = {out->strides, in->strides};
    int last = out->ndim - 1;
    int64_t inner = out->shape[last], rows = numel(out) / inner;
    nd_fold(&L->nd, last, out->shape, 2, sts);
    if (is_block(in->dtype) && in->dtype == out->dtype) {
        const xhal_names_block_entry_ *b = xhal_names_dtype_block(in->dtype);
        int64_t row_bytes = inner / b->block_size * b->block_bytes, n = rows * row_bytes;
        L->kernel = XK_K_QCOPY; /* (out, obyte, src, sbyte, qdt, row_bytes, n, nd) */
        a_qtensor(L, out);
        a_qtensor(L, in);
        a_i32(L, in->dtype);
        a_i64(L, row_bytes);
        a_i64(L, n);
        a_nd(L);
        g_items(L, n);
    } else if (is_block(in->dtype)) {
        int64_t n = rows * inner;
        L->kernel = XK_K_QDEQUANT; /* (qdt, out, ooff, odt, src, sbyte, inner, os, n, nd) */
        a_i32(L, in->dtype);
        a_tensor(L, out);
        a_i32(L, out->dtype);
        a_qtensor(L, in);
        a_i64(L, inner);
        a_i64(L, out->strides[last]);
        a_i64(L, n);
        a_nd(L);
        g_items(L, n);
    } else {
        int64_t nblocks = rows * inner / 32;
        L->kernel = XK_K_QQUANT; /* (qdt, out, obyte, src, soff, sdt, inner, ss, nblocks, nd) */
        a_i32(L, out->dtype);
        a_qtensor(L, out);
        a_tensor(L, in);
        a_i32(L, in->dtype);
        a_i64(L, inner);
        a_i64(L, in->strides[last]);
        a_i64(L, nblocks);
        a_nd(L);
        g_items(L, nblocks);
    }
}

static void plan_copy(const xhal_op_desc *desc, xk_launch *L)
{
    const xhal_tensor_desc *in = &desc->inputs[0], *out = &desc->outputs[0];
    if (is_block(in->dtype) || is_block(out->dtype)) {
        plan_qcopy(desc, L);
        return;
    }
    const int64_t *sts[2] = {out->strides, in->strides};
    int64_t n = numel(out);
    nd_fold(&L->nd, out->ndim, out->shape, 2, sts);
    L->kernel = XK_K_COPY; /* (dst, doff, ddt, src, soff, sdt, n, nd) */
    a_tensor(L, out);
    a_i32(L, out->dtype);
    a_tensor(L, in);
    a_i32(L, in->dtype);
    a_i64(L, n);
    a_nd(L);
    g_items(L, n);
}

static void plan_fill(const xhal_op_desc *desc, xk_launch *L)
{
    const xhal_tensor_desc *out = &desc->outputs[0];
    const int64_t *sts[1] = {out->strides};
    int64_t n = numel(out);
    nd_fold(&L->nd, out->ndim, out->shape, 1, sts);
    L->kernel = XK_K_FILL; /* (dst, doff, esize, pattern, n, nd) */
    a_tensor(L, out);
    a_i32(L, (int32_t)xhal_names_dtype_size(out->dtype));
    a_u64(L, desc->attrs.fill.bits); /* converted by the core */
    a_i64(L, n);
    a_nd(L);
    g_items(L, n);
}

static void plan_unary(const xhal_op_desc *desc, xk_launch *L)
{
    const xhal_tensor_desc *x = &desc->inputs[0], *out = &desc->outputs[0];
    const int64_t *sts[2] = {out->strides, x->strides};
    int64_t n = numel(out);
    nd_fold(&L->nd, out->ndim, out->shape, 2, sts);
    if (xhal_op_family_of(desc->op) == XHAL_OPF_SCALE) {
        L->kernel = XK_K_SCALE; /* (dt, out, ooff, x, xoff, alpha, beta, n, nd) */
        a_i32(L, out->dtype);
        a_tensor(L, out);
        a_tensor(L, x);
        a_real(L, desc->attrs.scale.alpha);
        a_real(L, desc->attrs.scale.beta);
    } else {
        L->kernel = XK_K_UNARY; /* (op, dt, out, ooff, x, xoff, n, nd) */
        a_i32(L, desc->op);
        a_i32(L, out->dtype);
        a_tensor(L, out);
        a_tensor(L, x);
    }
    a_i64(L, n);
    a_nd(L);
    g_items(L, n);
}

static void plan_binary(const xhal_op_desc *desc, xk_launch *L)
{
    const xhal_tensor_desc *x = &desc->inputs[0], *y = &desc->inputs[1], *out = &desc->outputs[0];
    const int64_t *sts[3] = {out->strides, x->strides, y->strides};
    int64_t n = numel(out);
    nd_fold(&L->nd, out->ndim, out->shape, 3, sts);
    /* (op, dt, out, ooff, a, aoff, b, boff, n, nd), both kernels */
    L->kernel = is_int(out->dtype) ? XK_K_BINARY_INT : XK_K_BINARY;
    a_i32(L, desc->op);
    a_i32(L, out->dtype);
    a_tensor(L, out);
    a_tensor(L, x);
    a_tensor(L, y);
    a_i64(L, n);
    a_nd(L);
    g_items(L, n);
}

static void plan_reduce(const xhal_op_desc *desc, xk_launch *L)
{
    const xhal_tensor_desc *x = &desc->inputs[0], *out = &desc->outputs[0];
    int axis = desc->attrs.reduce.axis;
    int64_t xst[XK_HOST_MAX_DIMS];
    const int64_t *sts[2] = {out->strides, xst};
    memcpy(xst, x->strides, sizeof xst);
    xst[axis] = 0;
    nd_fold(&L->nd, out->ndim, out->shape, 2, sts);
    L->kernel = XK_K_REDUCE; /* (op, dt, out, ooff, odt, x, xoff, R, rstride, nd) */
    a_i32(L, desc->op);
    a_i32(L, x->dtype);
    a_tensor(L, out);
    a_i32(L, out->dtype);
    a_tensor(L, x);
    a_i64(L, x->shape[axis]);
    a_i64(L, x->strides[axis]);
    a_nd(L);
    g_rows(L, numel(out));
}

static void plan_softmax(const xhal_op_desc *desc, xk_launch *L)
{
    const xhal_tensor_desc *x = &desc->inputs[0], *out = &desc->outputs[0];
    int64_t rows = nd_rows(&L->nd, out, x);
    int last = out->ndim - 1;
    L->kernel = XK_K_SOFTMAX; /* (dt, out, ooff, x, xoff, D, os, xs, Sq, causal, scale, nd) */
    a_i32(L, out->dtype);
    a_tensor(L, out);
    a_tensor(L, x);
    a_i64(L, out->shape[last]);
    a_i64(L, out->strides[last]);
    a_i64(L, x->strides[last]);
    a_i64(L, out->ndim >= 2 ? out->shape[last - 1] : 1);
    a_i32(L, desc->attrs.softmax.causal != 0);
    a_real(L, desc->attrs.softmax.scale);
    a_nd(L);
    g_rows(L, rows);
}

static void plan_norm(const xhal_op_desc *desc, xk_launch *L)
{
    const xhal_tensor_desc *x = &desc->inputs[0], *out = &desc->outputs[0];
    const xhal_tensor_desc *w = NULL, *b = NULL;
    int next = 1, layer = desc->op == XHAL_OP_LAYER_NORM;
    if (desc->attrs.norm.has_weight) w = &desc->inputs[next++];
    if (layer && desc->attrs.norm.has_bias) b = &desc->inputs[next++];
    int64_t rows = nd_rows(&L->nd, out, x);
    int last = out->ndim - 1;
    /* rms:   (dt, out, ooff, x, xoff, w, woff, ws, has_w, D, os, xs, eps, nd)
     * layer: (dt, out, ooff, x, xoff, w, woff, ws, has_w, b, boff, bs, has_b, D, os, xs, eps, nd) */
    L->kernel = layer ? XK_K_LAYER_NORM : XK_K_RMS_NORM;
    a_i32(L, out->dtype);
    a_tensor(L, out);
    a_tensor(L, x);
    if (w)
        a_tensor(L, w);
    else
        a_absent(L, x);
    a_i64(L, w ? w->strides[w->ndim - 1] : 0);
    a_i32(L, w != NULL);
    if (layer) {
        if (b)
            a_tensor(L, b);
        else
            a_absent(L, x);
        a_i64(L, b ? b->strides[b->ndim - 1] : 0);
        a_i32(L, b != NULL);
    }
    a_i64(L, out->shape[last]);
    a_i64(L, out->strides[last]);
    a_i64(L, x->strides[last]);
    a_real(L, desc->attrs.norm.eps);
    a_nd(L);
    g_rows(L, rows);
}

/* Launch shapes of the dtype-specialised matmul kernels (xk_ops.cl). */
#define XK_HOST_MMP_ANY 0 /* xk_ops.cl XK_MMP_*: the CPU kernels' path */
#define XK_HOST_MMP_NT 1
#define XK_HOST_MMP_NN 2
#define XK_HOST_GV_MAXM 4   /* XK_GV_MAXM: rows of the matrix-vector kernels, XK_MR of xk_gemm_cpu */
#define XK_HOST_NT_COLS 4   /* XK_NT_COLS */
#define XK_HOST_NN_COLS 64  /* XK_NN_COLS */
#define XK_HOST_CPU_GROUP 8 /* items per group of the barrier-free CPU kernels (any size works) */

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* MATMUL with block-quantized b [.., K, N] (K stride 1, blocks along K), f32 accumulation:
 * up to 4 rows of a (decode) go to xk_qgemv_cpu on a CPU-type device (one item per output
 * element, no barrier), else to xk_qgemv (one group of XK_QWG (64) items per output element
 * reading the weight row's blocks contiguously, reduced in local memory); rows x batch on grid
 * dim 1. More rows go to xk_qmm, tiled with b dequantized into local memory. */
static void plan_qmatmul(const xhal_op_desc *desc, const xk_device_caps *caps, xk_launch *L)
{
    const xhal_tensor_desc *A = &desc->inputs[0], *B = &desc->inputs[1], *O = &desc->outputs[0];
    int nb = O->ndim - 2;
    const int64_t *sts[3] = {O->strides, A->strides, B->strides};
    int64_t batch = 1;
    for (int k = 0; k < nb; k++) batch *= O->shape[k];
    nd_fold(&L->nd, nb, O->shape, 3, sts);
    int64_t M = O->shape[nb], N = O->shape[nb + 1], K = A->shape[nb + 1];
    int gemv = M <= 4, cpu_gemv = gemv && caps && caps->cpu_like;
    /* qgemv: (qdt, dt, out, ooff, a, aoff, b, bbyte, M, K, a_m, a_k, b_n, o_m, o_n, alpha, beta, nd)
     * qmm and qgemv_cpu: (qdt, dt, out, ooff, a, aoff, b, bbyte, M, N, K, a_m, a_k, b_n, o_m, o_n, alpha, beta, nd) */
    L->kernel = cpu_gemv ? XK_K_QGEMV_CPU : (gemv ? XK_K_QGEMV : XK_K_QMM);
    a_i32(L, B->dtype);
    a_i32(L, O->dtype);
    a_tensor(L, O);
    a_tensor(L, A);
    a_qtensor(L, B);
    a_i64(L, M);
    if (!gemv || cpu_gemv) a_i64(L, N);
    a_i64(L, K);
    a_i64(L, A->strides[nb]);
    a_i64(L, A->strides[nb + 1]);
    a_i64(L, B->strides[nb + 1]);
    a_i64(L, O->strides[nb]);
    a_i64(L, O->strides[nb + 1]);
    a_f32(L, (float)desc->attrs.matmul.alpha);
    a_f32(L, (float)desc->attrs.matmul.beta);
    a_nd(L);
    if (cpu_gemv) {
        unsigned g = N < XK_HOST_CPU_GROUP ? (unsigned)(N > 0 ? N : 1) : XK_HOST_CPU_GROUP;
        g_groups(L, N > 0 ? ceil_div(N, g) : 1, M * batch, 1, g, 1);
    } else if (gemv)
        g_groups(L, N, M * batch, 1, XK_HOST_QWG, 1);
    else
        g_groups(L, (N + XK_HOST_MM_TS - 1) / XK_HOST_MM_TS, (M + XK_HOST_MM_TS - 1) / XK_HOST_MM_TS, batch,
                 XK_HOST_MM_TS, XK_HOST_MM_TS);
}

/* MATMUL: f64 runs xk_matmul (the f64 program, any strides). f32/f16/bf16 run the kernel of
 * their dtype for the role the shape and the device call for:
 *  - M <= 4 (the decode step's one-row products): a matrix-vector kernel, xk_gemv_cpu_* on a
 *    CPU-type device (no barrier; dot products in vector lanes when a and b are contiguous
 *    along K, rows of 64 columns in registers when b is contiguous along N), else
 *    xk_gemv_gpu_* (a group of 64 items per column reducing over K in local memory when b
 *    is contiguous along K, one item per column otherwise);
 *  - more rows: xk_gemm_cpu_* on a CPU-type device (barrier-free register blocks of 4 rows x
 *    4 or 64 columns), else xk_gemm_gpu_* (64 x 64 blocks tiled in local memory). */
static void plan_matmul(const xhal_op_desc *desc, const xk_device_caps *caps, xk_launch *L)
{
    const xhal_tensor_desc *A = &desc->inputs[0], *B = &desc->inputs[1], *O = &desc->outputs[0];
    if (is_block(B->dtype)) {
        plan_qmatmul(desc, caps, L);
        return;
    }
    int nb = O->ndim - 2;
    const int64_t *sts[3] = {O->strides, A->strides, B->strides};
    int64_t batch = 1;
    for (int k = 0; k < nb; k++) batch *= O->shape[k];
    nd_fold(&L->nd, nb, O->shape, 3, sts);
    int64_t M = O->shape[nb], N = O->shape[nb + 1], K = A->shape[nb + 1];
    int64_t a_m = A->strides[nb], a_k = A->strides[nb + 1], b_k = B->strides[nb], b_n = B->strides[nb + 1];
    int dt = O->dtype;
    int di = dt == XHAL_DTYPE_F16 ? 1 : (dt == XHAL_DTYPE_BF16 ? 2 : 0); /* row offset in XK_KERNEL_LIST */
    int gemv = M <= XK_HOST_GV_MAXM, cpu = caps && caps->cpu_like;
    int path = a_k == 1 && b_k == 1 ? XK_HOST_MMP_NT : (b_n == 1 ? XK_HOST_MMP_NN : XK_HOST_MMP_ANY);
    int64_t cols = path == XK_HOST_MMP_NN ? XK_HOST_NN_COLS : XK_HOST_NT_COLS;
    if (dt == XHAL_DTYPE_F64) {
        L->kernel =
            XK_K_MATMUL; /* (dt, out, ooff, a, aoff, b, boff, M, N, K, a_m, a_k, b_k, b_n, o_m, o_n, alpha, beta, nd) */
        a_i32(L, dt);
    } else if (cpu) {
        L->kernel = (gemv ? XK_K_GEMV_CPU_F32 : XK_K_GEMM_CPU_F32) + di; /* (path, out, ooff, ... as xk_matmul) */
        a_i32(L, path);
    } else {
        L->kernel = (gemv ? XK_K_GEMV_GPU_F32 : XK_K_GEMM_GPU_F32) + di; /* (out, ooff, ... as xk_matmul) */
    }
    a_tensor(L, O);
    a_tensor(L, A);
    a_tensor(L, B);
    a_i64(L, M);
    a_i64(L, N);
    a_i64(L, K);
    a_i64(L, a_m);
    a_i64(L, a_k);
    a_i64(L, b_k);
    a_i64(L, b_n);
    a_i64(L, O->strides[nb]);
    a_i64(L, O->strides[nb + 1]);
    if (L->kernel == XK_K_MATMUL) {
        a_real(L, desc->attrs.matmul.alpha);
        a_real(L, desc->attrs.matmul.beta);
    } else {
        a_f32(L, (float)desc->attrs.matmul.alpha);
        a_f32(L, (float)desc->attrs.matmul.beta);
    }
    a_nd(L);
    if (L->kernel == XK_K_MATMUL) {
        g_groups(L, ceil_div(N, XK_HOST_MM_TS), ceil_div(M, XK_HOST_MM_TS), batch, XK_HOST_MM_TS, XK_HOST_MM_TS);
    } else if (cpu && gemv) { /* items: column blocks x batch */
        int64_t nblk = N > 0 ? ceil_div(N, cols) : 1;
        unsigned g = nblk < XK_HOST_CPU_GROUP ? (unsigned)nblk : XK_HOST_CPU_GROUP;
        g_groups(L, ceil_div(nblk, g), batch, 1, g, 1);
    } else if (cpu) { /* items: row blocks x column blocks x batch; a group shares a column block */
        int64_t rblk = M > 0 ? ceil_div(M, XK_HOST_GV_MAXM) : 1;
        unsigned g = rblk < XK_HOST_CPU_GROUP ? (unsigned)rblk : XK_HOST_CPU_GROUP;
        g_groups(L, ceil_div(rblk, g), N > 0 ? ceil_div(N, cols) : 1, batch, g, 1);
    } else if (gemv) {
        int64_t n = b_k == 1 ? N : ceil_div(N, XK_HOST_WG);
        g_groups(L, n > 0 ? n : 1, batch, 1, XK_HOST_WG, 1);
    } else {
        g_groups(L, ceil_div(N, 4 * XK_HOST_MM_TS), ceil_div(M, 4 * XK_HOST_MM_TS), batch, XK_HOST_MM_TS,
                 XK_HOST_MM_TS);
    }
}

/* The kernel checks every index against the table's rows and records the first bad one in
 * the status output (xhal_backend.h, GATHER); nd stays unfolded so that its first ni dims
 * name the bad index's position. */
static void plan_gather(const xhal_op_desc *desc, xk_launch *L)
{
    const xhal_tensor_desc *T = &desc->inputs[0], *I = &desc->inputs[1], *O = &desc->outputs[0];
    const xhal_tensor_desc *S = desc->n_outputs > 1 ? xhal_op_desc_output(desc, 1) : NULL;
    int ni = I->ndim, no = O->ndim;
    int64_t so[XK_HOST_MAX_DIMS] = {0}, si[XK_HOST_MAX_DIMS] = {0}, stt[XK_HOST_MAX_DIMS] = {0};
    for (int k = 0; k < no; k++) {
        so[k] = O->strides[k];
        if (k < ni)
            si[k] = I->strides[k];
        else
            stt[k] = T->strides[k - ni + 1];
    }
    const int64_t *sts[3] = {so, si, stt};
    int64_t n = numel(O), row = 1;
    for (int k = ni; k < no; k++) row *= O->shape[k];
    nd_plain(&L->nd, no, O->shape, 3, sts);
    /* (esize, out, ooff, table, toff, trow, V, idx, ioff, idt, ni, row, status, soff, n, nd) */
    L->kernel = XK_K_GATHER;
    a_i32(L, (int32_t)xhal_names_dtype_size(T->dtype));
    a_tensor(L, O);
    a_tensor(L, T);
    a_i64(L, T->strides[0]);
    a_i64(L, T->shape[0]);
    a_tensor(L, I);
    a_i32(L, I->dtype);
    a_i32(L, ni);
    a_i64(L, row);
    if (S) {
        a_tensor(L, S);
    } else { /* no status output: the guard still writes zeros */
        push(L, XK_ARG_BUF)->v.buf = O->buffer;
        a_i64(L, -1);
    }
    a_i64(L, n);
    a_nd(L);
    g_items(L, n);
}

static void plan_rope(const xhal_op_desc *desc, xk_launch *L)
{
    const xhal_tensor_desc *x = &desc->inputs[0], *out = &desc->outputs[0];
    int k_in = 1;
    const xhal_tensor_desc *pos = desc->attrs.rope.has_positions ? &desc->inputs[k_in++] : NULL;
    const xhal_tensor_desc *invf = desc->attrs.rope.has_inv_freq ? &desc->inputs[k_in++] : NULL;
    int last = out->ndim - 1;
    /* positions: x's dims up to the seq axis, 0 past it (xhal_backend.h) */
    int64_t pst[XK_HOST_MAX_DIMS] = {0};
    for (int k = 0; pos && k < pos->ndim && k < last; k++) pst[k] = pos->strides[k];
    const int64_t *sts[3] = {out->strides, x->strides, pst};
    int64_t rows = 1;
    for (int k = 0; k < last; k++) rows *= out->shape[k];
    nd_plain(&L->nd, last, out->shape, 3, sts); /* seq_dim indexes these dims */
    int64_t D = out->shape[last], rot = desc->attrs.rope.rotary_dims;
    if (rot <= 0) rot = D;
    int64_t n = rows * (rot / 2 + (D - rot));
    /* (dt, out, ooff, x, xoff, D, rot, layout, seq_dim, pos_offset, theta, os, xs, n,
     *  pos, poff, pdt, invf, foff, fs, has_invf, af, nd) */
    L->kernel = XK_K_ROPE;
    a_i32(L, out->dtype);
    a_tensor(L, out);
    a_tensor(L, x);
    a_i64(L, D);
    a_i64(L, rot);
    a_i32(L, desc->attrs.rope.layout);
    a_i32(L, desc->attrs.rope.seq_axis);
    a_i64(L, desc->attrs.rope.pos_offset);
    a_f32(L, (float)desc->attrs.rope.theta);
    a_i64(L, out->strides[last]);
    a_i64(L, x->strides[last]);
    a_i64(L, n);
    if (pos)
        a_tensor(L, pos);
    else
        a_absent(L, x);
    a_i32(L, pos ? pos->dtype : 0);
    if (invf)
        a_tensor(L, invf);
    else
        a_absent(L, x);
    a_i64(L, invf ? invf->strides[0] : 0);
    a_i32(L, invf != NULL);
    a_real(L, desc->attrs.rope.attention_factor != 0.0 ? desc->attrs.rope.attention_factor : 1.0);
    a_nd(L);
    g_items(L, n);
}

static void plan_attention(const xhal_op_desc *desc, xk_launch *L)
{
    const xhal_tensor_desc *q = &desc->inputs[0], *k = &desc->inputs[1], *v = &desc->inputs[2], *O = &desc->outputs[0];
    const xhal_tensor_desc *m = desc->attrs.attention.has_mask ? &desc->inputs[3] : NULL;
    int64_t zero[XK_HOST_MAX_DIMS] = {0};
    const int64_t *sts[5] = {O->strides, q->strides, k->strides, v->strides, m ? m->strides : zero};
    nd_plain(&L->nd, 4, O->shape, 5, sts); /* [B, Hq, Sq, Dv] */
    /* (dt, out, ooff, q, qoff, k, koff, v, voff, mask, moff, has_mask, Hkv, Sk, D, causal, scale,
     *  window, softcap, p0, nd) */
    L->kernel = XK_K_ATTENTION;
    a_i32(L, O->dtype);
    a_tensor(L, O);
    a_tensor(L, q);
    a_tensor(L, k);
    a_tensor(L, v);
    if (m)
        a_tensor(L, m);
    else
        a_absent(L, q);
    a_i32(L, m != NULL);
    a_i64(L, k->shape[1]);
    a_i64(L, k->shape[2]);
    a_i64(L, q->shape[3]);
    a_i32(L, desc->attrs.attention.causal != 0);
    a_real(L, desc->attrs.attention.scale);
    a_i64(L, desc->attrs.attention.window);
    a_real(L, desc->attrs.attention.softcap);
    a_i64(L, desc->attrs.attention.has_q_pos0 ? desc->attrs.attention.q_pos0 : k->shape[2] - q->shape[2]);
    a_nd(L);
    g_rows(L, O->shape[0] * O->shape[1] * O->shape[2]);
}

/* One item per element of x; the axis is last (the core moved it there). */
static void plan_topk(const xhal_op_desc *desc, xk_launch *L)
{
    const xhal_tensor_desc *x = &desc->inputs[0], *V = &desc->outputs[0], *I = &desc->more_outputs[0];
    const int64_t *sts[3] = {V->strides, I->strides, x->strides};
    int last = x->ndim - 1;
    int64_t N = x->shape[last], n = numel(x);
    nd_fold(&L->nd, last, x->shape, 3, sts);
    /* (dt, esize, vals, voff, idx, ioff, idt, x, xoff, N, k, largest, xs, vs, is, n, nd) */
    L->kernel = XK_K_TOPK;
    a_i32(L, x->dtype);
    a_i32(L, (int32_t)xhal_names_dtype_size(x->dtype));
    a_tensor(L, V);
    a_tensor(L, I);
    a_i32(L, I->dtype);
    a_tensor(L, x);
    a_i64(L, N);
    a_i64(L, desc->attrs.topk.k);
    a_i32(L, desc->attrs.topk.largest);
    a_i64(L, x->strides[last]);
    a_i64(L, V->strides[last]);
    a_i64(L, I->strides[last]);
    a_i64(L, n);
    a_nd(L);
    g_items(L, n);
}

/* Scalars (ndim 0) become [1] with stride 0, so every kernel sees at least one dim. */
static const xhal_op_desc *promote_scalars(const xhal_op_desc *desc, xhal_op_desc *tmp)
{
    int any = 0;
    for (int i = 0; i < desc->n_inputs; i++) any |= desc->inputs[i].ndim == 0;
    for (int i = 0; i < desc->n_outputs; i++) any |= xhal_op_desc_output(desc, i)->ndim == 0;
    if (!any) return desc;
    *tmp = *desc;
    for (int i = 0; i < XHAL_MAX_OP_INPUTS + XHAL_MAX_OP_OUTPUTS; i++) {
        xhal_tensor_desc *t = i < XHAL_MAX_OP_INPUTS    ? &tmp->inputs[i]
                              : i == XHAL_MAX_OP_INPUTS ? &tmp->outputs[0]
                                                        : &tmp->more_outputs[i - XHAL_MAX_OP_INPUTS - 1];
        if (t->ndim == 0) {
            t->ndim = 1;
            t->shape[0] = 1;
            t->strides[0] = 0;
        }
    }
    return tmp;
}

int xk_plan(const xhal_op_desc *desc_in, const xk_device_caps *caps, xk_launch *L)
{
    xhal_op_desc tmp;
    /* gather reads its index dims from the indices' ndim, which may be 0 */
    const xhal_op_desc *desc =
        xhal_op_family_of(desc_in->op) == XHAL_OPF_GATHER ? desc_in : promote_scalars(desc_in, &tmp);
    L->nargs = 0;
    L->variant = xk_variant_of(desc);
    /* one plan per family of xhal_op_table.h: a new op of a family needs no case here */
    switch (xhal_op_family_of(desc->op)) {
        case XHAL_OPF_COPY: plan_copy(desc, L); break;
        case XHAL_OPF_FILL: plan_fill(desc, L); break;
        case XHAL_OPF_UNARY:
        case XHAL_OPF_SCALE: plan_unary(desc, L); break;
        case XHAL_OPF_BINARY: plan_binary(desc, L); break;
        case XHAL_OPF_REDUCE: plan_reduce(desc, L); break;
        case XHAL_OPF_SOFTMAX: plan_softmax(desc, L); break;
        case XHAL_OPF_NORM: plan_norm(desc, L); break;
        case XHAL_OPF_MATMUL: plan_matmul(desc, caps, L); break;
        case XHAL_OPF_GATHER: plan_gather(desc, L); break;
        case XHAL_OPF_ROPE: plan_rope(desc, L); break;
        case XHAL_OPF_ATTENTION: plan_attention(desc, L); break;
        case XHAL_OPF_TOPK: plan_topk(desc, L); break;
        default: return -1;
    }
    return 0;
}
