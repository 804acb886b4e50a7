/*
 * xcu_ops.c - the op catalogue on the device: every op runs a kernel of the portable
 * source backends/kernels/xk_ops.cl, compiled at build time into an image embedded in
 * the plugin (xcu_image.c) and loaded once per device. MATMUL goes to the vendor BLAS
 * first (xcu_blas.c) and falls back to the portable kernel.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "xcu_internal.h"
#include "xhal/plugin/xhal_half.h"
#include "xhal/plugin/xhal_names.h"

/* The embedded images (xcu_image.c); sizes are 0 when the plugin was built without them. */
extern const unsigned char xcu_ops_image_f32[];
extern const unsigned char xcu_ops_image_f64[];
extern const unsigned long long xcu_ops_image_f32_size;
extern const unsigned long long xcu_ops_image_f64_size;
extern const char xcu_ops_image_note[];

/* Launch shapes the kernels were written for (xk_ops.cl). */
#define XCU_EW_BLOCK 256u /* elementwise kernels: any block size */
#define XCU_WG 64u        /* XK_WG: row kernels, exactly this block size */
#define XCU_MM_TS 16u     /* XK_MM_TS */
#define XCU_ATT_MAXD 512  /* XK_ATT_MAXD */
#define XCU_MAX_GRID_X 2147483647LL
#define XCU_MAX_GRID_YZ 65535LL

/* Host mirror of xk_nd: shape[8], st[5][8], ndim, all 64-bit. */
typedef struct xcu_nd {
    int64_t shape[8];
    int64_t st[5][8];
    int64_t ndim;
} xcu_nd;

/* ------------------------------------------------------------------------- */
/* module and kernel lookup                                                   */
/* ------------------------------------------------------------------------- */
static const char *const xcu_variant_name[2] = {"f32", "f64"};

/* Caller holds d->lock. */
static xhal_status xcu_module_ready_locked(xcu_state *st, xcu_dev *d, int variant)
{
    if (d->module_state[variant] == 1) return XHAL_OK;
    if (d->module_state[variant] == 0) {
        const unsigned char *img = variant ? xcu_ops_image_f64 : xcu_ops_image_f32;
        unsigned long long size = variant ? xcu_ops_image_f64_size : xcu_ops_image_f32_size;
        char arch[64];
        xcu_vendor_arch(arch, sizeof arch, d->cc_major, d->cc_minor, d->arch_attr);
        if (size == 0) {
            snprintf(d->module_error[variant], sizeof d->module_error[variant],
                     "this plugin was built without device kernels (%s)", xcu_ops_image_note);
            d->module_state[variant] = -1;
        } else if (st->drv.cuCtxSetCurrent(d->ctx) != XCU_SUCCESS) {
            snprintf(d->module_error[variant], sizeof d->module_error[variant],
                     "the device context could not be made current");
            d->module_state[variant] = -1;
        } else {
            xcu_result r = st->drv.cuModuleLoadData(&d->module[variant], img);
            if (r != XCU_SUCCESS) {
                snprintf(d->module_error[variant], sizeof d->module_error[variant],
                         "loading the %s op kernels (built for %s) on %s failed: " XCU_SYM_cuModuleLoadData
                         " returned %s (%d)",
                         xcu_variant_name[variant], xcu_ops_image_note, arch, xcu_error_name(&st->drv, r), r);
                d->module_state[variant] = -1;
            } else
                d->module_state[variant] = 1;
        }
    }
    return d->module_state[variant] == 1 ? XHAL_OK : XHAL_ERROR_UNSUPPORTED;
}

static xhal_status xcu_module_ready(xcu_state *st, xcu_dev *d, int variant)
{
    pthread_mutex_lock(&d->lock);
    xhal_status s = xcu_module_ready_locked(st, d, variant);
    pthread_mutex_unlock(&d->lock);
    if (s != XHAL_OK) return xcu_host->set_error(s, "%s:%d: %s", XCU_BACKEND_NAME, d->index, d->module_error[variant]);
    return XHAL_OK;
}

xhal_status xcu_get_kernel(xcu_state *st, xcu_dev *d, int variant, const char *name, xcu_function *fn)
{
    xhal_status s = xcu_module_ready(st, d, variant);
    if (s != XHAL_OK) return s;
    pthread_mutex_lock(&d->lock);
    for (int i = 0; i < d->n_kernels[variant]; i++) {
        if (d->kernel_names[variant][i] == name || strcmp(d->kernel_names[variant][i], name) == 0) {
            *fn = d->kernels[variant][i];
            pthread_mutex_unlock(&d->lock);
            return XHAL_OK;
        }
    }
    xcu_function f = NULL;
    xcu_result r = st->drv.cuModuleGetFunction(&f, d->module[variant], name);
    if (r == XCU_SUCCESS && d->n_kernels[variant] < XCU_MAX_KERNELS) {
        d->kernel_names[variant][d->n_kernels[variant]] = name;
        d->kernels[variant][d->n_kernels[variant]++] = f;
    }
    pthread_mutex_unlock(&d->lock);
    if (r != XCU_SUCCESS)
        return xcu_host->set_error(XHAL_ERROR_BACKEND, "%s:%d: kernel %s (%s variant) not found: %s returned %s",
                                   XCU_BACKEND_NAME, d->index, name, xcu_variant_name[variant],
                                   XCU_SYM_cuModuleGetFunction, xcu_error_name(&st->drv, r));
    *fn = f;
    return XHAL_OK;
}

void xcu_ops_release_device(xcu_state *st, xcu_dev *d)
{
    for (int v = 0; v < 2; v++) {
        if (d->module_state[v] == 1) st->drv.cuModuleUnload(d->module[v]);
        d->module_state[v] = 0;
        d->n_kernels[v] = 0;
    }
}

xhal_status xcu_launch(xcu_state *st, xcu_stream_obj *s, xcu_function fn, const char *name, const unsigned grid[3],
                       const unsigned block[3], unsigned shared, void **params)
{
    xcu_result r =
        st->drv.cuLaunchKernel(fn, grid[0], grid[1], grid[2], block[0], block[1], block[2], shared, s->s, params, NULL);
    if (r != XCU_SUCCESS)
        return xcu_host->set_error(r == XCU_ERROR_OUT_OF_MEMORY ? XHAL_ERROR_OUT_OF_MEMORY : XHAL_ERROR_BACKEND,
                                   "%s:%d: launching kernel %s (grid %u,%u,%u block %u,%u,%u) failed: %s "
                                   "returned %s (%d)",
                                   XCU_BACKEND_NAME, s->device, name, grid[0], grid[1], grid[2], block[0], block[1],
                                   block[2], XCU_SYM_cuLaunchKernel, xcu_error_name(&st->drv, r), r);
    return XHAL_OK;
}

/* ------------------------------------------------------------------------- */
/* descriptor helpers                                                         */
/* ------------------------------------------------------------------------- */
/* names and sizes from the one table shared with the core (the plugin does not link it) */
static size_t xcu_dtype_size(int dt) { return xhal_names_dtype_size(dt); }
static const char *xcu_dtype_name(int dt) { return xhal_names_dtype(dt); }
static const char *xcu_op_name(int op) { return xhal_names_op(op); }

static int xcu_is_float(int dt)
{
    return dt == XHAL_DTYPE_F32 || dt == XHAL_DTYPE_F16 || dt == XHAL_DTYPE_BF16 || dt == XHAL_DTYPE_F64;
}

static xcu_deviceptr xcu_base(const xhal_tensor_desc *t) { return ((const xcu_buffer *)t->buffer)->ptr; }
static int64_t xcu_eoff(const xhal_tensor_desc *t) { return (int64_t)(t->offset / xcu_dtype_size(t->dtype)); }

/* nd over the first `ndim` dims of shape; slots filled with nd_slot. */
static void nd_init(xcu_nd *nd, int ndim, const int64_t *shape)
{
    memset(nd, 0, sizeof *nd);
    nd->ndim = ndim;
    for (int i = 0; i < 8; i++) nd->shape[i] = i < ndim ? shape[i] : 1;
}

static void nd_slot(xcu_nd *nd, int slot, const int64_t *strides)
{
    for (int i = 0; i < nd->ndim; i++) nd->st[slot][i] = strides[i];
}

static int64_t nd_count(const xcu_nd *nd)
{
    int64_t n = 1;
    for (int i = 0; i < nd->ndim; i++) n *= nd->shape[i];
    return n;
}

/* ------------------------------------------------------------------------- */
/* op_supported                                                               */
/* ------------------------------------------------------------------------- */
static xhal_status xcu_unsupported(int device, const xhal_op_desc *desc, int dt, const char *why)
{
    return xcu_host->set_error(XHAL_ERROR_UNSUPPORTED, "%s:%d: %s (dtype %s) is not supported: %s", XCU_BACKEND_NAME,
                               device, xcu_op_name(desc->op), xcu_dtype_name(dt), why);
}

static int xcu_variant_of(int dt) { return dt == XHAL_DTYPE_F64 ? 1 : 0; }

xhal_status xcu_op_supported(void *state, int device, const xhal_op_desc *desc)
{
    xcu_state *st = state;
    xcu_dev *d = &st->devs[device];
    int op = desc->op;
    int dt = desc->n_outputs > 0 ? desc->outputs[0].dtype : XHAL_DTYPE_INVALID;
    int in_dt = desc->n_inputs > 0 ? desc->inputs[0].dtype : dt;
    int float_dt = xcu_is_float(dt);
    int fam = xhal_op_family_of(op); /* xhal_op_table.h */
    if ((fam == XHAL_OPF_UNARY || fam == XHAL_OPF_SCALE) && !float_dt)
        return xcu_unsupported(device, desc, dt, "floating-point dtypes only (f32, f16, bf16, f64)");
    switch (op) {
        case XHAL_OP_COPY:
        case XHAL_OP_FILL: break;
        case XHAL_OP_SOFTMAX:
        case XHAL_OP_RMS_NORM:
        case XHAL_OP_LAYER_NORM:
        case XHAL_OP_ROPE:
            if (!float_dt) return xcu_unsupported(device, desc, dt, "floating-point dtypes only (f32, f16, bf16, f64)");
            break;
        case XHAL_OP_ADD:
        case XHAL_OP_SUB:
        case XHAL_OP_MUL:
        case XHAL_OP_MAXIMUM:
        case XHAL_OP_MINIMUM:
            if (!float_dt && dt != XHAL_DTYPE_I32 && dt != XHAL_DTYPE_I64)
                return xcu_unsupported(device, desc, dt, "f32, f16, bf16, f64, i32 and i64 only");
            break;
        case XHAL_OP_DIV:
            if (!float_dt) return xcu_unsupported(device, desc, dt, "floating-point dtypes only");
            break;
        case XHAL_OP_SUM:
        case XHAL_OP_MEAN:
        case XHAL_OP_MAX:
        case XHAL_OP_ARGMAX:
            if (!xcu_is_float(in_dt))
                return xcu_unsupported(device, desc, in_dt, "reductions take floating-point input");
            dt = in_dt;
            break;
        case XHAL_OP_MATMUL: {
            if (!float_dt) return xcu_unsupported(device, desc, dt, "floating-point dtypes only");
            int nb = desc->outputs[0].ndim - 2;
            int64_t batch = 1;
            for (int i = 0; i < nb; i++) batch *= desc->outputs[0].shape[i];
            /* the portable kernel puts the batch on grid z and rows on grid y */
            if (batch > XCU_MAX_GRID_YZ || (desc->outputs[0].shape[nb] + XCU_MM_TS - 1) / XCU_MM_TS > XCU_MAX_GRID_YZ)
                return xcu_unsupported(device, desc, dt, "batch above 65535 or more than 1048560 rows");
            break;
        }
        case XHAL_OP_GATHER:
            if (xcu_dtype_size(dt) == 0) return xcu_unsupported(device, desc, dt, "unknown dtype");
            break;
        case XHAL_OP_ATTENTION: {
            if (!float_dt) return xcu_unsupported(device, desc, dt, "floating-point dtypes only");
            if (desc->inputs[0].shape[3] > XCU_ATT_MAXD || desc->outputs[0].shape[3] > XCU_ATT_MAXD)
                return xcu_unsupported(device, desc, dt,
                                       "head dims above 512 (the kernel keeps a row in shared memory)");
            break;
        }
        case XHAL_OP_CONCAT: return xcu_unsupported(device, desc, dt, "concat is composed by the core from copies");
        default:
            if (fam == XHAL_OPF_UNARY || fam == XHAL_OPF_SCALE) break; /* dtype checked above */
            return xcu_host->set_error(XHAL_ERROR_UNSUPPORTED, "%s:%d: op %d is unknown to this plugin (catalogue %u)",
                                       XCU_BACKEND_NAME, device, op, (unsigned)XHAL_BACKEND_CATALOGUE_VERSION);
    }
    int variant = xcu_variant_of(dt);
    if (op == XHAL_OP_COPY && (in_dt == XHAL_DTYPE_F64 || dt == XHAL_DTYPE_F64))
        variant = 1; /* casts through f64 keep the full value */
    return xcu_module_ready(st, d, variant);
}

/* ------------------------------------------------------------------------- */
/* op_run                                                                     */
/* ------------------------------------------------------------------------- */
/* One scalar of the compute type xk_real of a variant. */
typedef union xcu_real {
    float f;
    double d;
} xcu_real;

static xcu_real xcu_mk_real(int variant, double v)
{
    xcu_real r;
    memset(&r, 0, sizeof r);
    if (variant)
        r.d = v;
    else
        r.f = (float)v;
    return r;
}

typedef struct xcu_run {
    xcu_state *st;
    xcu_stream_obj *s;
    xcu_dev *d;
    int variant;
} xcu_run;

static xhal_status xcu_go(xcu_run *run, const char *name, const unsigned grid[3], const unsigned block[3],
                          void **params)
{
    xcu_function fn;
    xhal_status s = xcu_get_kernel(run->st, run->d, run->variant, name, &fn);
    if (s != XHAL_OK) return s;
    return xcu_launch(run->st, run->s, fn, name, grid, block, 0, params);
}

/* Elementwise launch over n items, XCU_EW_BLOCK per block. */
static xhal_status xcu_go_n(xcu_run *run, const char *name, int64_t n, void **params)
{
    int64_t blocks = (n + XCU_EW_BLOCK - 1) / XCU_EW_BLOCK;
    if (blocks > XCU_MAX_GRID_X)
        return xcu_host->set_error(XHAL_ERROR_UNSUPPORTED, "%s: %lld elements exceed one launch of %s",
                                   XCU_BACKEND_NAME, (long long)n, name);
    const unsigned grid[3] = {(unsigned)blocks, 1, 1}, block[3] = {XCU_EW_BLOCK, 1, 1};
    return xcu_go(run, name, grid, block, params);
}

/* One block of XCU_WG per row. */
static xhal_status xcu_go_rows(xcu_run *run, const char *name, int64_t rows, void **params)
{
    if (rows > XCU_MAX_GRID_X)
        return xcu_host->set_error(XHAL_ERROR_UNSUPPORTED, "%s: %lld rows exceed one launch of %s", XCU_BACKEND_NAME,
                                   (long long)rows, name);
    const unsigned grid[3] = {(unsigned)rows, 1, 1}, block[3] = {XCU_WG, 1, 1};
    return xcu_go(run, name, grid, block, params);
}

static xhal_status run_copy(xcu_run *run, const xhal_op_desc *desc)
{
    const xhal_tensor_desc *x = &desc->inputs[0], *o = &desc->outputs[0];
    xcu_nd nd;
    nd_init(&nd, o->ndim, o->shape);
    nd_slot(&nd, 0, o->strides);
    nd_slot(&nd, 1, x->strides);
    xcu_deviceptr dst = xcu_base(o), src = xcu_base(x);
    int64_t doff = xcu_eoff(o), soff = xcu_eoff(x), n = nd_count(&nd);
    int ddt = o->dtype, sdt = x->dtype;
    void *p[] = {&dst, &doff, &ddt, &src, &soff, &sdt, &n, &nd};
    return xcu_go_n(run, "xk_copy", n, p);
}

static xhal_status run_fill(xcu_run *run, const xhal_op_desc *desc)
{
    const xhal_tensor_desc *o = &desc->outputs[0];
    xcu_nd nd;
    nd_init(&nd, o->ndim, o->shape);
    nd_slot(&nd, 0, o->strides);
    xcu_deviceptr dst = xcu_base(o);
    int64_t doff = xcu_eoff(o), n = nd_count(&nd);
    int esize = (int)xcu_dtype_size(o->dtype);
    uint64_t pattern = desc->attrs.fill.bits; /* converted by the core */
    void *p[] = {&dst, &doff, &esize, &pattern, &n, &nd};
    return xcu_go_n(run, "xk_fill", n, p);
}

static xhal_status run_unary(xcu_run *run, const xhal_op_desc *desc)
{
    const xhal_tensor_desc *x = &desc->inputs[0], *o = &desc->outputs[0];
    xcu_nd nd;
    nd_init(&nd, o->ndim, o->shape);
    nd_slot(&nd, 0, o->strides);
    nd_slot(&nd, 1, x->strides);
    xcu_deviceptr out = xcu_base(o), in = xcu_base(x);
    int64_t ooff = xcu_eoff(o), xoff = xcu_eoff(x), n = nd_count(&nd);
    int op = desc->op, dt = o->dtype;
    if (op == XHAL_OP_SCALE) {
        xcu_real alpha = xcu_mk_real(run->variant, desc->attrs.scale.alpha);
        xcu_real beta = xcu_mk_real(run->variant, desc->attrs.scale.beta);
        void *p[] = {&dt, &out, &ooff, &in, &xoff, &alpha, &beta, &n, &nd};
        return xcu_go_n(run, "xk_scale", n, p);
    }
    void *p[] = {&op, &dt, &out, &ooff, &in, &xoff, &n, &nd};
    return xcu_go_n(run, "xk_unary", n, p);
}

static xhal_status run_binary(xcu_run *run, const xhal_op_desc *desc)
{
    const xhal_tensor_desc *a = &desc->inputs[0], *b = &desc->inputs[1], *o = &desc->outputs[0];
    xcu_nd nd;
    nd_init(&nd, o->ndim, o->shape);
    nd_slot(&nd, 0, o->strides);
    nd_slot(&nd, 1, a->strides);
    nd_slot(&nd, 2, b->strides);
    xcu_deviceptr out = xcu_base(o), pa = xcu_base(a), pb = xcu_base(b);
    int64_t ooff = xcu_eoff(o), aoff = xcu_eoff(a), boff = xcu_eoff(b), n = nd_count(&nd);
    int op = desc->op, dt = o->dtype;
    void *p[] = {&op, &dt, &out, &ooff, &pa, &aoff, &pb, &boff, &n, &nd};
    return xcu_go_n(run, xcu_is_float(dt) ? "xk_binary" : "xk_binary_int", n, p);
}

static xhal_status run_reduce(xcu_run *run, const xhal_op_desc *desc)
{
    const xhal_tensor_desc *x = &desc->inputs[0], *o = &desc->outputs[0];
    int axis = desc->attrs.reduce.axis;
    xcu_nd nd;
    nd_init(&nd, o->ndim, o->shape);
    nd_slot(&nd, 0, o->strides);
    nd_slot(&nd, 1, x->strides);
    nd.st[1][axis] = 0;
    xcu_deviceptr out = xcu_base(o), in = xcu_base(x);
    int64_t ooff = xcu_eoff(o), xoff = xcu_eoff(x), R = x->shape[axis], rstride = x->strides[axis];
    int op = desc->op, dt = x->dtype, odt = o->dtype;
    void *p[] = {&op, &dt, &out, &ooff, &odt, &in, &xoff, &R, &rstride, &nd};
    return xcu_go_rows(run, "xk_reduce", nd_count(&nd), p);
}

/* Row kernels: nd over all dims but the last. */
static void rows_nd(xcu_nd *nd, const xhal_tensor_desc *o, const xhal_tensor_desc *x)
{
    nd_init(nd, o->ndim - 1, o->shape);
    nd_slot(nd, 0, o->strides);
    nd_slot(nd, 1, x->strides);
}

static xhal_status run_softmax(xcu_run *run, const xhal_op_desc *desc)
{
    const xhal_tensor_desc *x = &desc->inputs[0], *o = &desc->outputs[0];
    xcu_nd nd;
    rows_nd(&nd, o, x);
    int last = o->ndim - 1;
    xcu_deviceptr out = xcu_base(o), in = xcu_base(x);
    int64_t ooff = xcu_eoff(o), xoff = xcu_eoff(x), D = o->shape[last], os = o->strides[last], xs = x->strides[last],
            Sq = o->ndim >= 2 ? o->shape[last - 1] : 1;
    int dt = o->dtype, causal = desc->attrs.softmax.causal;
    xcu_real scale = xcu_mk_real(run->variant, desc->attrs.softmax.scale);
    void *p[] = {&dt, &out, &ooff, &in, &xoff, &D, &os, &xs, &Sq, &causal, &scale, &nd};
    return xcu_go_rows(run, "xk_softmax", nd_count(&nd), p);
}

static xhal_status run_norm(xcu_run *run, const xhal_op_desc *desc)
{
    const xhal_tensor_desc *x = &desc->inputs[0], *o = &desc->outputs[0];
    int has_w = desc->attrs.norm.has_weight ? 1 : 0, has_b = desc->attrs.norm.has_bias ? 1 : 0;
    const xhal_tensor_desc *w = has_w ? &desc->inputs[1] : NULL;
    const xhal_tensor_desc *bt = has_b ? &desc->inputs[has_w ? 2 : 1] : NULL;
    xcu_nd nd;
    rows_nd(&nd, o, x);
    int last = o->ndim - 1;
    xcu_deviceptr out = xcu_base(o), in = xcu_base(x), pw = w ? xcu_base(w) : 0, pb = bt ? xcu_base(bt) : 0;
    int64_t ooff = xcu_eoff(o), xoff = xcu_eoff(x), D = o->shape[last], os = o->strides[last], xs = x->strides[last];
    int64_t woff = w ? xcu_eoff(w) : 0, ws = w ? w->strides[w->ndim - 1] : 0;
    int64_t boff = bt ? xcu_eoff(bt) : 0, bs = bt ? bt->strides[bt->ndim - 1] : 0;
    int dt = o->dtype;
    xcu_real eps = xcu_mk_real(run->variant, desc->attrs.norm.eps);
    if (desc->op == XHAL_OP_RMS_NORM) {
        void *p[] = {&dt, &out, &ooff, &in, &xoff, &pw, &woff, &ws, &has_w, &D, &os, &xs, &eps, &nd};
        return xcu_go_rows(run, "xk_rms_norm", nd_count(&nd), p);
    }
    void *p[] = {&dt, &out,  &ooff, &in,    &xoff, &pw, &woff, &ws,  &has_w,
                 &pb, &boff, &bs,   &has_b, &D,    &os, &xs,   &eps, &nd};
    return xcu_go_rows(run, "xk_layer_norm", nd_count(&nd), p);
}

static xhal_status run_matmul(xcu_run *run, const xhal_op_desc *desc)
{
    xhal_status s = xcu_blas_matmul(run->st, run->s, desc);
    if (s != XHAL_ERROR_UNSUPPORTED) return s;
    const xhal_tensor_desc *a = &desc->inputs[0], *b = &desc->inputs[1], *o = &desc->outputs[0];
    int nb = o->ndim - 2;
    xcu_nd nd;
    nd_init(&nd, nb, o->shape);
    nd_slot(&nd, 0, o->strides);
    nd_slot(&nd, 1, a->strides);
    nd_slot(&nd, 2, b->strides);
    xcu_deviceptr out = xcu_base(o), pa = xcu_base(a), pb = xcu_base(b);
    int64_t ooff = xcu_eoff(o), aoff = xcu_eoff(a), boff = xcu_eoff(b);
    int64_t M = o->shape[nb], N = o->shape[nb + 1], K = a->shape[nb + 1];
    int64_t a_m = a->strides[nb], a_k = a->strides[nb + 1], b_k = b->strides[nb], b_n = b->strides[nb + 1];
    int64_t o_m = o->strides[nb], o_n = o->strides[nb + 1];
    int dt = o->dtype;
    xcu_real alpha = xcu_mk_real(run->variant, desc->attrs.matmul.alpha);
    xcu_real beta = xcu_mk_real(run->variant, desc->attrs.matmul.beta);
    void *p[] = {&dt,  &out, &ooff, &pa,  &aoff, &pb,  &boff,  &M,    &N, &K,
                 &a_m, &a_k, &b_k,  &b_n, &o_m,  &o_n, &alpha, &beta, &nd};
    /* Register-blocked kernel (a 64x64 block of out per group) once both sides fill it. */
    int rb = M >= 4 * XCU_MM_TS && N >= 4 * XCU_MM_TS;
    int64_t edge = rb ? 4 * XCU_MM_TS : XCU_MM_TS;
    int64_t gx = (N + edge - 1) / edge, gy = (M + edge - 1) / edge;
    const unsigned grid[3] = {(unsigned)gx, (unsigned)gy, (unsigned)nd_count(&nd)};
    const unsigned block[3] = {XCU_MM_TS, XCU_MM_TS, 1};
    return xcu_go(run, rb ? "xk_matmul_rb" : "xk_matmul", grid, block, p);
}

/* The core checked every index against the table's rows before this call (xhal_backend.h). */
static xhal_status run_gather(xcu_run *run, const xhal_op_desc *desc)
{
    const xhal_tensor_desc *t = &desc->inputs[0], *ix = &desc->inputs[1], *o = &desc->outputs[0];
    xcu_nd nd;
    nd_init(&nd, o->ndim, o->shape);
    nd_slot(&nd, 0, o->strides);
    for (int k = 0; k < ix->ndim; k++) nd.st[1][k] = ix->strides[k];
    for (int k = 1; k < t->ndim; k++) nd.st[2][ix->ndim + k - 1] = t->strides[k];
    xcu_deviceptr out = xcu_base(o), pt = xcu_base(t), pi = xcu_base(ix);
    int64_t ooff = xcu_eoff(o), toff = xcu_eoff(t), trow = t->strides[0], ioff = xcu_eoff(ix), n = nd_count(&nd);
    int esize = (int)xcu_dtype_size(o->dtype), idt = ix->dtype;
    void *p[] = {&esize, &out, &ooff, &pt, &toff, &trow, &pi, &ioff, &idt, &n, &nd};
    return xcu_go_n(run, "xk_gather", n, p);
}

static xhal_status run_rope(xcu_run *run, const xhal_op_desc *desc)
{
    const xhal_tensor_desc *x = &desc->inputs[0], *o = &desc->outputs[0];
    xcu_nd nd;
    rows_nd(&nd, o, x);
    int last = o->ndim - 1;
    xcu_deviceptr out = xcu_base(o), in = xcu_base(x);
    int64_t ooff = xcu_eoff(o), xoff = xcu_eoff(x), D = o->shape[last], rot = desc->attrs.rope.rotary_dims;
    int64_t os = o->strides[last], xs = x->strides[last], pos_offset = desc->attrs.rope.pos_offset;
    int64_t n = nd_count(&nd) * (rot / 2 + (D - rot));
    int dt = o->dtype, layout = desc->attrs.rope.layout, seq_dim = desc->attrs.rope.seq_axis;
    float theta = (float)desc->attrs.rope.theta;
    void *p[] = {&dt, &out, &ooff, &in, &xoff, &D, &rot, &layout, &seq_dim, &pos_offset, &theta, &os, &xs, &n, &nd};
    return xcu_go_n(run, "xk_rope", n, p);
}

static xhal_status run_attention(xcu_run *run, const xhal_op_desc *desc)
{
    const xhal_tensor_desc *q = &desc->inputs[0], *k = &desc->inputs[1], *v = &desc->inputs[2], *o = &desc->outputs[0];
    int has_mask = desc->attrs.attention.has_mask ? 1 : 0;
    const xhal_tensor_desc *m = has_mask ? &desc->inputs[3] : NULL;
    xcu_nd nd;
    nd_init(&nd, 4, o->shape);
    nd_slot(&nd, 0, o->strides);
    nd_slot(&nd, 1, q->strides);
    nd_slot(&nd, 2, k->strides);
    nd_slot(&nd, 3, v->strides);
    if (m != NULL) nd_slot(&nd, 4, m->strides);
    xcu_deviceptr out = xcu_base(o), pq = xcu_base(q), pk = xcu_base(k), pv = xcu_base(v), pm = m ? xcu_base(m) : 0;
    int64_t ooff = xcu_eoff(o), qoff = xcu_eoff(q), koff = xcu_eoff(k), voff = xcu_eoff(v), moff = m ? xcu_eoff(m) : 0;
    int64_t Hkv = k->shape[1], Sk = k->shape[2], D = q->shape[3];
    int dt = o->dtype, causal = desc->attrs.attention.causal;
    xcu_real scale = xcu_mk_real(run->variant, desc->attrs.attention.scale);
    void *p[] = {&dt, &out,  &ooff,     &pq,  &qoff, &pk, &koff,   &pv,    &voff,
                 &pm, &moff, &has_mask, &Hkv, &Sk,   &D,  &causal, &scale, &nd};
    return xcu_go_rows(run, "xk_attention", o->shape[0] * o->shape[1] * o->shape[2], p);
}

xhal_status xcu_op_run(void *state, void *stream, const xhal_op_desc *desc)
{
    xcu_state *st = state;
    xcu_stream_obj *so = stream;
    xcu_run run = {st, so, &st->devs[so->device], 0};
    int dt = desc->outputs[0].dtype;
    run.variant = xcu_variant_of(dt);
    if (desc->op == XHAL_OP_COPY && desc->inputs[0].dtype == XHAL_DTYPE_F64) run.variant = 1;
    if (xhal_op_family_of(desc->op) == XHAL_OPF_REDUCE) run.variant = xcu_variant_of(desc->inputs[0].dtype);
    xhal_status s = xcu_use_device(st, so->device);
    if (s != XHAL_OK) return s;
    /* one runner per family of xhal_op_table.h: a new op of a family needs no case here */
    switch (xhal_op_family_of(desc->op)) {
        case XHAL_OPF_COPY: return run_copy(&run, desc);
        case XHAL_OPF_FILL: return run_fill(&run, desc);
        case XHAL_OPF_UNARY:
        case XHAL_OPF_SCALE: return run_unary(&run, desc);
        case XHAL_OPF_BINARY: return run_binary(&run, desc);
        case XHAL_OPF_REDUCE: return run_reduce(&run, desc);
        case XHAL_OPF_SOFTMAX: return run_softmax(&run, desc);
        case XHAL_OPF_NORM: return run_norm(&run, desc);
        case XHAL_OPF_MATMUL: return run_matmul(&run, desc);
        case XHAL_OPF_GATHER: return run_gather(&run, desc);
        case XHAL_OPF_ROPE: return run_rope(&run, desc);
        case XHAL_OPF_ATTENTION: return run_attention(&run, desc);
        default:
            return xcu_host->set_error(XHAL_ERROR_UNSUPPORTED, "%s: op %d (%s) is not supported", XCU_BACKEND_NAME,
                                       desc->op, xcu_op_name(desc->op));
    }
}
