/*
 * ocl_ops.c - op descriptors to kernel launches of the portable op program.
 *
 * Descriptors arrive validated by the core (xhal_backend.h); this file only picks a
 * kernel, folds dimensions that can be merged, and sets arguments.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ocl_internal.h"
#include "xhal/plugin/xhal_half.h"
#include "xhal/plugin/xhal_names.h"

typedef struct karg {
    size_t size;
    const void *ptr;
} karg;

#define KA(x) ((karg){sizeof(x), &(x)})

/* A compute-type scalar: float in the f32 program, double in the f64 one. */
typedef struct real_arg {
    float f;
    double d;
} real_arg;

static karg ka_real(int variant, real_arg *r, double v)
{
    r->f = (float)v;
    r->d = v;
    return variant == OCL_VARIANT_F64 ? (karg){sizeof r->d, &r->d} : (karg){sizeof r->f, &r->f};
}

static const char *op_name(int op) { return xhal_names_op(op); }
static const char *dt_name(int dt) { return xhal_names_dtype(dt); }
static size_t dt_size(int dt) { return xhal_names_dtype_size(dt); }

static int64_t numel(const xhal_tensor_desc *t)
{
    int64_t n = 1;
    for (int k = 0; k < t->ndim; k++) n *= t->shape[k];
    return n;
}

static int64_t eoff(const xhal_tensor_desc *t) { return (int64_t)(t->offset / dt_size(t->dtype)); }

static cl_mem mem_of(const xhal_tensor_desc *t) { return ((ocl_buffer *)t->buffer)->mem; }

/* nd over shape[0..ndim) for nt tensors with strides st[t]; size-1 dims are dropped and
 * neighbours that are contiguous in every tensor merge. Linear order is kept. */
static void nd_fold(ocl_nd *nd, int ndim, const int64_t *shape, int nt, const int64_t *const *st)
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
    for (int k = n; k < 8; k++) nd->shape[k] = 1;
    nd->ndim = n;
}

/* nd with no folding (dims keep their meaning). */
static void nd_plain(ocl_nd *nd, int ndim, const int64_t *shape, int nt, const int64_t *const *st)
{
    memset(nd, 0, sizeof *nd);
    for (int k = 0; k < 8; k++) nd->shape[k] = k < ndim ? shape[k] : 1;
    for (int t = 0; t < nt; t++)
        for (int k = 0; k < ndim; k++) nd->st[t][k] = st[t][k];
    nd->ndim = ndim > 0 ? ndim : 1;
}

static xhal_status launch(ocl_device *d, ocl_stream *s, int variant, int kid, int dims, const size_t *gs,
                          const size_t *ls, int nargs, const karg *args)
{
    xhal_status st;
    cl_int err = CL_SUCCESS;
    pthread_mutex_lock(&d->lock);
    st = ocl_ops_program(d, variant);
    if (st != XHAL_OK) goto out;
    if (ls) {
        size_t need = 1;
        for (int i = 0; i < dims; i++) need *= ls[i];
        if (need > d->kernel_wg[variant][kid]) {
            st = ocl_host->set_error(XHAL_ERROR_UNSUPPORTED,
                                     "opencl: %s needs work groups of %zu items but %s allows %zu",
                                     ocl_kernel_names[kid], need, d->info.name, d->kernel_wg[variant][kid]);
            goto out;
        }
    }
    cl_kernel k = d->kernels[variant][kid];
    for (int i = 0; i < nargs && err == CL_SUCCESS; i++) err = clSetKernelArg(k, (cl_uint)i, args[i].size, args[i].ptr);
    if (err != CL_SUCCESS) {
        st = ocl_fail(err, "clSetKernelArg(%s)", ocl_kernel_names[kid]);
        goto out;
    }
    err = clEnqueueNDRangeKernel(s->q, k, (cl_uint)dims, NULL, gs, ls, 0, NULL, NULL);
    if (err != CL_SUCCESS) st = ocl_fail(err, "clEnqueueNDRangeKernel(%s)", ocl_kernel_names[kid]);
out:
    pthread_mutex_unlock(&d->lock);
    return st;
}

/* 1-D launch of n items */
static xhal_status launch_1d(ocl_device *d, ocl_stream *s, int variant, int kid, int64_t n, int nargs, const karg *args)
{
    size_t l = d->max_wg >= 256 ? 256 : (d->max_wg >= 64 ? 64 : 1);
    size_t g = ((size_t)n + l - 1) / l * l;
    return launch(d, s, variant, kid, 1, &g, &l, nargs, args);
}

/* one work group of OCL_WG items per row */
static xhal_status launch_rows(ocl_device *d, ocl_stream *s, int variant, int kid, int64_t rows, int nargs,
                               const karg *args)
{
    size_t l = OCL_WG, g = (size_t)rows * OCL_WG;
    return launch(d, s, variant, kid, 1, &g, &l, nargs, args);
}

/* ------------------------------------------------------------------ support */

static int is_float(const ocl_device *d, int dt)
{
    return dt == XHAL_DTYPE_F32 || dt == XHAL_DTYPE_F16 || dt == XHAL_DTYPE_BF16 ||
           (dt == XHAL_DTYPE_F64 && d->has_fp64);
}

static int variant_of(int dt) { return dt == XHAL_DTYPE_F64 ? OCL_VARIANT_F64 : OCL_VARIANT_F32; }

static xhal_status unsupported(const ocl_device *d, const xhal_op_desc *desc, int dt, const char *why)
{
    return ocl_host->set_error(XHAL_ERROR_UNSUPPORTED, "opencl: %s (%s) is not supported on %s: %s", op_name(desc->op),
                               dt_name(dt), d->info.name, why);
}

static xhal_status float_only(const ocl_device *d, const xhal_op_desc *desc, int dt)
{
    if (is_float(d, dt)) return XHAL_OK;
    if (dt == XHAL_DTYPE_F64) return unsupported(d, desc, dt, "the device lacks cl_khr_fp64");
    return unsupported(d, desc, dt, "float dtypes only (f32, f16, bf16, f64 with cl_khr_fp64)");
}

xhal_status ocl_op_supported(void *state, int device, const xhal_op_desc *desc)
{
    const ocl_device *d = &((ocl_state *)state)->devs[device];
    int op = desc->op;
    int dt = desc->n_outputs > 0 ? desc->outputs[0].dtype : 0;
    int idt = desc->n_inputs > 0 ? desc->inputs[0].dtype : dt;
    /* launch shapes the kernels need (xk_ops.cl) */
    size_t need = op == XHAL_OP_MATMUL ? (size_t)OCL_MM_TS * OCL_MM_TS
                  : (op >= XHAL_OP_SUM && op <= XHAL_OP_LAYER_NORM) || op == XHAL_OP_ATTENTION ? (size_t)OCL_WG
                                                                                               : 1;
    if (need > d->max_wg && op < XHAL_OP_MAX_ID_) {
        char why[96];
        snprintf(why, sizeof why, "needs work groups of %zu items, the device allows %zu", need, d->max_wg);
        return unsupported(d, desc, dt, why);
    }
    /* unary ops and scale: float dtypes (xhal_op_table.h's families) */
    int fam = xhal_op_family_of(op);
    if (fam == XHAL_OPF_UNARY || fam == XHAL_OPF_SCALE) return float_only(d, desc, dt);
    switch (op) {
        case XHAL_OP_COPY:
            if (idt != dt && (idt == XHAL_DTYPE_F64 || dt == XHAL_DTYPE_F64) && !d->has_fp64)
                return unsupported(d, desc, XHAL_DTYPE_F64,
                                   "converting f64 needs cl_khr_fp64 (same-dtype f64 copies work)");
            return XHAL_OK;
        case XHAL_OP_FILL: return XHAL_OK;
        case XHAL_OP_DIV:
        case XHAL_OP_SOFTMAX:
        case XHAL_OP_RMS_NORM:
        case XHAL_OP_LAYER_NORM:
        case XHAL_OP_MATMUL:
        case XHAL_OP_ROPE: return float_only(d, desc, dt);
        case XHAL_OP_ADD:
        case XHAL_OP_SUB:
        case XHAL_OP_MUL:
        case XHAL_OP_MAXIMUM:
        case XHAL_OP_MINIMUM:
            if (dt == XHAL_DTYPE_I32 || dt == XHAL_DTYPE_I64) return XHAL_OK;
            return float_only(d, desc, dt);
        case XHAL_OP_SUM:
        case XHAL_OP_MEAN:
        case XHAL_OP_MAX:
        case XHAL_OP_ARGMAX:
            if (op == XHAL_OP_ARGMAX && dt != XHAL_DTYPE_I32 && dt != XHAL_DTYPE_I64)
                return unsupported(d, desc, dt, "argmax writes i32 or i64");
            return float_only(d, desc, idt);
        case XHAL_OP_GATHER:
            if (desc->inputs[1].dtype != XHAL_DTYPE_I32 && desc->inputs[1].dtype != XHAL_DTYPE_I64)
                return unsupported(d, desc, desc->inputs[1].dtype, "indices must be i32 or i64");
            return XHAL_OK;
        case XHAL_OP_ATTENTION: {
            xhal_status st = float_only(d, desc, dt);
            if (st != XHAL_OK) return st;
            if (desc->inputs[0].shape[3] > OCL_ATT_MAXD || desc->inputs[2].shape[3] > OCL_ATT_MAXD) {
                char why[96];
                snprintf(why, sizeof why, "head dims above %d (got D=%lld, Dv=%lld)", OCL_ATT_MAXD,
                         (long long)desc->inputs[0].shape[3], (long long)desc->inputs[2].shape[3]);
                return unsupported(d, desc, dt, why);
            }
            if (desc->attrs.attention.has_mask && desc->inputs[3].dtype != dt)
                return unsupported(d, desc, desc->inputs[3].dtype, "mask dtype must equal q's");
            return XHAL_OK;
        }
        default:
            return ocl_host->set_error(XHAL_ERROR_UNSUPPORTED,
                                       "opencl: op %s (id %d) is not implemented by this backend", op_name(op), op);
    }
}

/* ------------------------------------------------------------------ ops */

static xhal_status run_copy(ocl_device *d, ocl_stream *s, const xhal_op_desc *desc)
{
    const xhal_tensor_desc *in = &desc->inputs[0], *out = &desc->outputs[0];
    const int64_t *sts[2] = {out->strides, in->strides};
    ocl_nd nd;
    int64_t n = numel(out);
    nd_fold(&nd, out->ndim, out->shape, 2, sts);
    if (in->dtype == out->dtype && nd.ndim == 1 && (nd.st[0][0] == 1 || n == 1) && (nd.st[1][0] == 1 || n == 1)) {
        size_t es = dt_size(out->dtype);
        cl_int err = clEnqueueCopyBuffer(s->q, mem_of(in), mem_of(out), (size_t)in->offset, (size_t)out->offset,
                                         (size_t)n * es, 0, NULL, NULL);
        if (err != CL_SUCCESS) return ocl_fail(err, "clEnqueueCopyBuffer (copy op)");
        return XHAL_OK;
    }
    int variant = (in->dtype != out->dtype && (in->dtype == XHAL_DTYPE_F64 || out->dtype == XHAL_DTYPE_F64))
                      ? OCL_VARIANT_F64
                      : OCL_VARIANT_F32;
    cl_mem dm = mem_of(out), sm = mem_of(in);
    int64_t doff = eoff(out), soff = eoff(in);
    cl_int ddt = out->dtype, sdt = in->dtype;
    karg a[] = {KA(dm), KA(doff), KA(ddt), KA(sm), KA(soff), KA(sdt), KA(n), KA(nd)};
    return launch_1d(d, s, variant, OK_COPY, n, 8, a);
}

static xhal_status run_fill(ocl_device *d, ocl_stream *s, const xhal_op_desc *desc)
{
    const xhal_tensor_desc *out = &desc->outputs[0];
    const int64_t *sts[1] = {out->strides};
    ocl_nd nd;
    int64_t n = numel(out);
    nd_fold(&nd, out->ndim, out->shape, 1, sts);
    cl_mem dm = mem_of(out);
    int64_t doff = eoff(out);
    cl_int es = (cl_int)dt_size(out->dtype);
    cl_ulong pat = desc->attrs.fill.bits; /* converted by the core */
    karg a[] = {KA(dm), KA(doff), KA(es), KA(pat), KA(n), KA(nd)};
    return launch_1d(d, s, OCL_VARIANT_F32, OK_FILL, n, 6, a);
}

static xhal_status run_unary(ocl_device *d, ocl_stream *s, const xhal_op_desc *desc)
{
    const xhal_tensor_desc *x = &desc->inputs[0], *out = &desc->outputs[0];
    const int64_t *sts[2] = {out->strides, x->strides};
    ocl_nd nd;
    int64_t n = numel(out);
    int variant = variant_of(out->dtype);
    nd_fold(&nd, out->ndim, out->shape, 2, sts);
    cl_mem om = mem_of(out), xm = mem_of(x);
    int64_t ooff = eoff(out), xoff = eoff(x);
    cl_int op = desc->op, dt = out->dtype;
    if (desc->op == XHAL_OP_SCALE) {
        real_arg ra, rb;
        karg a[] = {KA(dt),
                    KA(om),
                    KA(ooff),
                    KA(xm),
                    KA(xoff),
                    ka_real(variant, &ra, desc->attrs.scale.alpha),
                    ka_real(variant, &rb, desc->attrs.scale.beta),
                    KA(n),
                    KA(nd)};
        return launch_1d(d, s, variant, OK_SCALE, n, 9, a);
    }
    karg a[] = {KA(op), KA(dt), KA(om), KA(ooff), KA(xm), KA(xoff), KA(n), KA(nd)};
    return launch_1d(d, s, variant, OK_UNARY, n, 8, a);
}

static xhal_status run_binary(ocl_device *d, ocl_stream *s, const xhal_op_desc *desc)
{
    const xhal_tensor_desc *x = &desc->inputs[0], *y = &desc->inputs[1], *out = &desc->outputs[0];
    const int64_t *sts[3] = {out->strides, x->strides, y->strides};
    ocl_nd nd;
    int64_t n = numel(out);
    nd_fold(&nd, out->ndim, out->shape, 3, sts);
    cl_mem om = mem_of(out), xm = mem_of(x), ym = mem_of(y);
    int64_t ooff = eoff(out), xoff = eoff(x), yoff = eoff(y);
    cl_int op = desc->op, dt = out->dtype;
    int isint = dt == XHAL_DTYPE_I32 || dt == XHAL_DTYPE_I64;
    karg a[] = {KA(op), KA(dt), KA(om), KA(ooff), KA(xm), KA(xoff), KA(ym), KA(yoff), KA(n), KA(nd)};
    return launch_1d(d, s, isint ? OCL_VARIANT_F32 : variant_of(dt), isint ? OK_BINARY_INT : OK_BINARY, n, 10, a);
}

static xhal_status run_reduce(ocl_device *d, ocl_stream *s, const xhal_op_desc *desc)
{
    const xhal_tensor_desc *x = &desc->inputs[0], *out = &desc->outputs[0];
    int axis = desc->attrs.reduce.axis;
    int64_t xst[8];
    const int64_t *sts[2] = {out->strides, xst};
    ocl_nd nd;
    memcpy(xst, x->strides, sizeof xst);
    xst[axis] = 0;
    nd_fold(&nd, out->ndim, out->shape, 2, sts);
    int64_t rows = numel(out), R = x->shape[axis], rstride = x->strides[axis];
    cl_mem om = mem_of(out), xm = mem_of(x);
    int64_t ooff = eoff(out), xoff = eoff(x);
    cl_int op = desc->op, dt = x->dtype, odt = out->dtype;
    karg a[] = {KA(op), KA(dt), KA(om), KA(ooff), KA(odt), KA(xm), KA(xoff), KA(R), KA(rstride), KA(nd)};
    return launch_rows(d, s, variant_of(dt), OK_REDUCE, rows, 10, a);
}

/* rows of the last axis: nd over the leading dims of x and out */
static int64_t row_nd(ocl_nd *nd, const xhal_tensor_desc *out, const xhal_tensor_desc *x)
{
    const int64_t *sts[2] = {out->strides, x->strides};
    int64_t rows = 1;
    for (int k = 0; k + 1 < out->ndim; k++) rows *= out->shape[k];
    nd_fold(nd, out->ndim - 1, out->shape, 2, sts);
    return rows;
}

static xhal_status run_softmax(ocl_device *d, ocl_stream *s, const xhal_op_desc *desc)
{
    const xhal_tensor_desc *x = &desc->inputs[0], *out = &desc->outputs[0];
    ocl_nd nd;
    int64_t rows = row_nd(&nd, out, x);
    int last = out->ndim - 1;
    int variant = variant_of(out->dtype);
    int64_t D = out->shape[last], os = out->strides[last], xs = x->strides[last];
    int64_t Sq = out->ndim >= 2 ? out->shape[last - 1] : 1;
    cl_mem om = mem_of(out), xm = mem_of(x);
    int64_t ooff = eoff(out), xoff = eoff(x);
    cl_int dt = out->dtype, causal = desc->attrs.softmax.causal != 0;
    real_arg rs;
    karg a[] = {KA(dt),
                KA(om),
                KA(ooff),
                KA(xm),
                KA(xoff),
                KA(D),
                KA(os),
                KA(xs),
                KA(Sq),
                KA(causal),
                ka_real(variant, &rs, desc->attrs.softmax.scale),
                KA(nd)};
    return launch_rows(d, s, variant, OK_SOFTMAX, rows, 12, a);
}

static xhal_status run_norm(ocl_device *d, ocl_stream *s, const xhal_op_desc *desc)
{
    const xhal_tensor_desc *x = &desc->inputs[0], *out = &desc->outputs[0];
    const xhal_tensor_desc *w = NULL, *b = NULL;
    int next = 1;
    if (desc->attrs.norm.has_weight) w = &desc->inputs[next++];
    if (desc->op == XHAL_OP_LAYER_NORM && desc->attrs.norm.has_bias) b = &desc->inputs[next++];
    ocl_nd nd;
    int64_t rows = row_nd(&nd, out, x);
    int last = out->ndim - 1;
    int variant = variant_of(out->dtype);
    int64_t D = out->shape[last], os = out->strides[last], xs = x->strides[last];
    cl_mem om = mem_of(out), xm = mem_of(x);
    cl_mem wm = w ? mem_of(w) : xm, bm = b ? mem_of(b) : xm;
    int64_t ooff = eoff(out), xoff = eoff(x), woff = w ? eoff(w) : 0, boff = b ? eoff(b) : 0;
    int64_t ws = w ? w->strides[0] : 0, bs = b ? b->strides[0] : 0;
    cl_int dt = out->dtype, hw = w != NULL, hb = b != NULL;
    real_arg re;
    karg eps = ka_real(variant, &re, desc->attrs.norm.eps);
    if (desc->op == XHAL_OP_RMS_NORM) {
        karg a[] = {KA(dt), KA(om), KA(ooff), KA(xm), KA(xoff), KA(wm), KA(woff),
                    KA(ws), KA(hw), KA(D),    KA(os), KA(xs),   eps,    KA(nd)};
        return launch_rows(d, s, variant, OK_RMS_NORM, rows, 14, a);
    }
    karg a[] = {KA(dt), KA(om),   KA(ooff), KA(xm), KA(xoff), KA(wm), KA(woff), KA(ws), KA(hw),
                KA(bm), KA(boff), KA(bs),   KA(hb), KA(D),    KA(os), KA(xs),   eps,    KA(nd)};
    return launch_rows(d, s, variant, OK_LAYER_NORM, rows, 18, a);
}

static xhal_status run_matmul(ocl_device *d, ocl_stream *s, const xhal_op_desc *desc)
{
    const xhal_tensor_desc *A = &desc->inputs[0], *B = &desc->inputs[1], *O = &desc->outputs[0];
    int nd_ = O->ndim;
    const int64_t *sts[3] = {O->strides, A->strides, B->strides};
    ocl_nd nd;
    int64_t batch = 1;
    for (int k = 0; k + 2 < nd_; k++) batch *= O->shape[k];
    nd_fold(&nd, nd_ - 2, O->shape, 3, sts);
    int64_t M = O->shape[nd_ - 2], N = O->shape[nd_ - 1], K = A->shape[nd_ - 1];
    int64_t a_m = A->strides[nd_ - 2], a_k = A->strides[nd_ - 1];
    int64_t b_k = B->strides[nd_ - 2], b_n = B->strides[nd_ - 1];
    int64_t o_m = O->strides[nd_ - 2], o_n = O->strides[nd_ - 1];
    int variant = variant_of(O->dtype);
    cl_mem om = mem_of(O), am = mem_of(A), bm = mem_of(B);
    int64_t ooff = eoff(O), aoff = eoff(A), boff = eoff(B);
    cl_int dt = O->dtype;
    real_arg ra, rb;
    karg a[] = {KA(dt),
                KA(om),
                KA(ooff),
                KA(am),
                KA(aoff),
                KA(bm),
                KA(boff),
                KA(M),
                KA(N),
                KA(K),
                KA(a_m),
                KA(a_k),
                KA(b_k),
                KA(b_n),
                KA(o_m),
                KA(o_n),
                ka_real(variant, &ra, desc->attrs.matmul.alpha),
                ka_real(variant, &rb, desc->attrs.matmul.beta),
                KA(nd)};
    size_t ls[3] = {OCL_MM_TS, OCL_MM_TS, 1};
    if (M >= 4 * OCL_MM_TS && N >= 4 * OCL_MM_TS) {
        /* register-blocked: each group covers a 64 x 64 block of out */
        size_t blk = 4 * OCL_MM_TS;
        size_t gs[3] = {((size_t)N + blk - 1) / blk * OCL_MM_TS, ((size_t)M + blk - 1) / blk * OCL_MM_TS,
                        (size_t)batch};
        return launch(d, s, variant, OK_MATMUL_RB, 3, gs, ls, 19, a);
    }
    size_t gs[3] = {((size_t)N + OCL_MM_TS - 1) / OCL_MM_TS * OCL_MM_TS,
                    ((size_t)M + OCL_MM_TS - 1) / OCL_MM_TS * OCL_MM_TS, (size_t)batch};
    return launch(d, s, variant, OK_MATMUL, 3, gs, ls, 19, a);
}

static xhal_status run_gather(ocl_device *d, ocl_stream *s, const xhal_op_desc *desc)
{
    const xhal_tensor_desc *T = &desc->inputs[0], *I = &desc->inputs[1], *O = &desc->outputs[0];
    int ni = I->ndim, no = O->ndim;
    /* the core checked every index against the table's rows (xhal_backend.h) */
    int64_t so[8] = {0}, si[8] = {0}, stt[8] = {0};
    for (int k = 0; k < no; k++) {
        so[k] = O->strides[k];
        if (k < ni)
            si[k] = I->strides[k];
        else
            stt[k] = T->strides[k - ni + 1];
    }
    const int64_t *sts[3] = {so, si, stt};
    ocl_nd nd;
    nd_fold(&nd, no, O->shape, 3, sts);
    int64_t n = numel(O), trow = T->strides[0];
    cl_mem om = mem_of(O), tm = mem_of(T), im = mem_of(I);
    int64_t ooff = eoff(O), toff = eoff(T), ioff = eoff(I);
    cl_int es = (cl_int)dt_size(T->dtype), idt = I->dtype;
    karg a[] = {KA(es), KA(om), KA(ooff), KA(tm), KA(toff), KA(trow), KA(im), KA(ioff), KA(idt), KA(n), KA(nd)};
    return launch_1d(d, s, OCL_VARIANT_F32, OK_GATHER, n, 11, a);
}

static xhal_status run_rope(ocl_device *d, ocl_stream *s, const xhal_op_desc *desc)
{
    const xhal_tensor_desc *x = &desc->inputs[0], *out = &desc->outputs[0];
    const int64_t *sts[2] = {out->strides, x->strides};
    ocl_nd nd;
    int last = out->ndim - 1;
    int64_t rows = 1;
    for (int k = 0; k < last; k++) rows *= out->shape[k];
    nd_plain(&nd, last, out->shape, 2, sts);
    int variant = variant_of(out->dtype);
    int64_t D = out->shape[last], rot = desc->attrs.rope.rotary_dims;
    if (rot <= 0) rot = D;
    int64_t n = rows * (rot / 2 + (D - rot));
    int64_t os = out->strides[last], xs = x->strides[last], pos0 = desc->attrs.rope.pos_offset;
    cl_mem om = mem_of(out), xm = mem_of(x);
    int64_t ooff = eoff(out), xoff = eoff(x);
    cl_int dt = out->dtype, layout = desc->attrs.rope.layout, seq = desc->attrs.rope.seq_axis;
    cl_float theta = (cl_float)desc->attrs.rope.theta;
    karg a[] = {KA(dt),  KA(om),   KA(ooff),  KA(xm), KA(xoff), KA(D), KA(rot), KA(layout),
                KA(seq), KA(pos0), KA(theta), KA(os), KA(xs),   KA(n), KA(nd)};
    return launch_1d(d, s, variant, OK_ROPE, n, 15, a);
}

static xhal_status run_attention(ocl_device *d, ocl_stream *s, const xhal_op_desc *desc)
{
    const xhal_tensor_desc *q = &desc->inputs[0], *k = &desc->inputs[1], *v = &desc->inputs[2], *O = &desc->outputs[0];
    const xhal_tensor_desc *m = desc->attrs.attention.has_mask ? &desc->inputs[3] : NULL;
    int64_t zero[8] = {0};
    const int64_t *sts[5] = {O->strides, q->strides, k->strides, v->strides, m ? m->strides : zero};
    ocl_nd nd;
    nd_plain(&nd, 4, O->shape, 5, sts);
    int variant = variant_of(O->dtype);
    int64_t rows = O->shape[0] * O->shape[1] * O->shape[2];
    int64_t Hkv = k->shape[1], Sk = k->shape[2], D = q->shape[3];
    cl_mem om = mem_of(O), qm = mem_of(q), km = mem_of(k), vm = mem_of(v);
    cl_mem mm = m ? mem_of(m) : qm;
    int64_t ooff = eoff(O), qoff = eoff(q), koff = eoff(k), voff = eoff(v), moff = m ? eoff(m) : 0;
    cl_int dt = O->dtype, hm = m != NULL, causal = desc->attrs.attention.causal != 0;
    real_arg rs;
    karg a[] = {KA(dt),
                KA(om),
                KA(ooff),
                KA(qm),
                KA(qoff),
                KA(km),
                KA(koff),
                KA(vm),
                KA(voff),
                KA(mm),
                KA(moff),
                KA(hm),
                KA(Hkv),
                KA(Sk),
                KA(D),
                KA(causal),
                ka_real(variant, &rs, desc->attrs.attention.scale),
                KA(nd)};
    return launch_rows(d, s, variant, OK_ATTENTION, rows, 18, a);
}

/* Scalars (ndim 0) become [1] with stride 0, so every kernel sees at least one dim. */
static const xhal_op_desc *promote_scalars(const xhal_op_desc *desc, xhal_op_desc *tmp)
{
    int any = 0;
    for (int i = 0; i < desc->n_inputs; i++) any |= desc->inputs[i].ndim == 0;
    for (int i = 0; i < desc->n_outputs; i++) any |= desc->outputs[i].ndim == 0;
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

xhal_status ocl_op_run(void *state, void *stream, const xhal_op_desc *desc_in)
{
    ocl_state *st = state;
    ocl_stream *s = stream;
    ocl_device *d = &st->devs[s->device];
    xhal_op_desc tmp;
    /* gather reads its index dims from indices' ndim, which may be 0 */
    const xhal_op_desc *desc = desc_in->op == XHAL_OP_GATHER ? desc_in : promote_scalars(desc_in, &tmp);
    /* one runner per family of xhal_op_table.h: a new op of a family needs no case here */
    switch (xhal_op_family_of(desc->op)) {
        case XHAL_OPF_COPY: return run_copy(d, s, desc);
        case XHAL_OPF_FILL: return run_fill(d, s, desc);
        case XHAL_OPF_UNARY:
        case XHAL_OPF_SCALE: return run_unary(d, s, desc);
        case XHAL_OPF_BINARY: return run_binary(d, s, desc);
        case XHAL_OPF_REDUCE: return run_reduce(d, s, desc);
        case XHAL_OPF_SOFTMAX: return run_softmax(d, s, desc);
        case XHAL_OPF_NORM: return run_norm(d, s, desc);
        case XHAL_OPF_MATMUL: return run_matmul(d, s, desc);
        case XHAL_OPF_GATHER: return run_gather(d, s, desc);
        case XHAL_OPF_ROPE: return run_rope(d, s, desc);
        case XHAL_OPF_ATTENTION: return run_attention(d, s, desc);
        default:
            return ocl_host->set_error(XHAL_ERROR_UNSUPPORTED, "opencl: op %s (id %d) is not implemented",
                                       op_name(desc->op), desc->op);
    }
}
