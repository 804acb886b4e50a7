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
#include "xk_launch.h"
#include "xhal/plugin/xhal_half.h"
#include "xhal/plugin/xhal_names.h"

/* The embedded images (xcu_image.c); sizes are 0 when the plugin was built without them. */
extern const unsigned char xcu_ops_image_f32[];
extern const unsigned char xcu_ops_image_f64[];
extern const unsigned long long xcu_ops_image_f32_size;
extern const unsigned long long xcu_ops_image_f64_size;
extern const char xcu_ops_image_note[];

/* Launch limits of the driver API. */
#define XCU_EW_BLOCK 256u /* block of the kernels that take any group size */
#define XCU_MAX_GRID_X 2147483647LL
#define XCU_MAX_GRID_YZ 65535LL

/* ------------------------------------------------------------------------- */
/* module and kernel lookup                                                   */
/* ------------------------------------------------------------------------- */
static const char *const xcu_variant_name[2] = {"f32", "f64"}; /* XK_VARIANT_F32, XK_VARIANT_F64 */

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
/* op_supported                                                               */
/* ------------------------------------------------------------------------- */
static const char *xcu_dtype_name(int dt) { return xhal_names_dtype(dt); }
static const char *xcu_op_name(int op) { return xhal_names_op(op); }

static xhal_status xcu_unsupported(int device, const xhal_op_desc *desc, int dt, const char *why)
{
    return xcu_host->set_error(XHAL_ERROR_UNSUPPORTED, "%s:%d: %s (dtype %s) is not supported: %s", XCU_BACKEND_NAME,
                               device, xcu_op_name(desc->op), xcu_dtype_name(dt), why);
}

/* Support follows the op table: an op runs when its family has a kernel here and its data
 * operand's dtype is in both the op's DTYPES column and what that kernel computes in; the
 * remaining checks are limits of the kernels and of the grid. */
xhal_status xcu_op_supported(void *state, int device, const xhal_op_desc *desc)
{
    xcu_state *st = state;
    xcu_dev *d = &st->devs[device];
    int op = desc->op, fam = xhal_op_family_of(op); /* xhal_op_table.h */
    int dt = xhal_op_data_dtype(desc);
    unsigned kinds; /* dtypes the family's kernels compute in */
    switch (fam) {
        case XHAL_OPF_COPY:
        case XHAL_OPF_FILL:
        case XHAL_OPF_GATHER: kinds = XHAL_OP_DTYPES_ANY; break; /* bits, or casts in xk_copy */
        case XHAL_OPF_BINARY:                                    /* xk_binary, xk_binary_int */
            kinds = XHAL_OP_DTYPES_FLOAT | XHAL_DTYPE_BIT(XHAL_DTYPE_I32) | XHAL_DTYPE_BIT(XHAL_DTYPE_I64);
            break;
        case XHAL_OPF_COMPOSED:
            return xcu_unsupported(device, desc, dt, "composed by the core from other ops (concat: copies)");
        case XHAL_OPF_NONE:
            return xcu_host->set_error(XHAL_ERROR_UNSUPPORTED, "%s:%d: op %d is unknown to this plugin (catalogue %u)",
                                       XCU_BACKEND_NAME, device, op, (unsigned)XHAL_BACKEND_CATALOGUE_VERSION);
        default: kinds = XHAL_OP_DTYPES_FLOAT; break;
    }
    const char *missing;
    if (!xk_supports(desc, &missing)) return xcu_unsupported(device, desc, dt, missing);
    char why[192];
    int qdt = xk_block_side(desc); /* block-quantized copy or matmul weights (xk_qdequant ... xk_qmm) */
    if (qdt) {
        if (!xk_block_ok(desc, why, sizeof why)) return xcu_unsupported(device, desc, qdt, why);
        if (fam == XHAL_OPF_MATMUL) {
            /* xk_qgemv puts rows x batch on grid y, xk_qmm the batch on grid z */
            int nb = desc->outputs[0].ndim - 2;
            int64_t batch = 1, M = desc->outputs[0].shape[nb];
            for (int i = 0; i < nb; i++) batch *= desc->outputs[0].shape[i];
            if ((M <= 4 && M * batch > XCU_MAX_GRID_YZ) || batch > XCU_MAX_GRID_YZ ||
                (M + XK_HOST_MM_TS - 1) / XK_HOST_MM_TS > XCU_MAX_GRID_YZ)
                return xcu_unsupported(device, desc, dt,
                                       "more than 65535 rows x batches of decode, or batch above 65535");
        }
        return xcu_module_ready(st, d, xk_variant_of(desc));
    }
    if (!xhal_op_dtype_ok(desc, kinds, why, sizeof why)) return xcu_unsupported(device, desc, dt, why);
    if (fam == XHAL_OPF_MATMUL) {
        if (desc->inputs[1].dtype != dt)
            return xcu_unsupported(device, desc, desc->inputs[1].dtype, "b must have a's dtype or be block-quantized");
        int nb = desc->outputs[0].ndim - 2;
        int64_t batch = 1;
        for (int i = 0; i < nb; i++) batch *= desc->outputs[0].shape[i];
        /* the portable kernel puts the batch on grid z and rows on grid y */
        if (batch > XCU_MAX_GRID_YZ ||
            (desc->outputs[0].shape[nb] + XK_HOST_MM_TS - 1) / XK_HOST_MM_TS > XCU_MAX_GRID_YZ)
            return xcu_unsupported(device, desc, dt, "batch above 65535 or more than 1048560 rows");
    }
    if (fam == XHAL_OPF_ATTENTION &&
        (desc->inputs[0].shape[3] > XK_HOST_ATT_MAXD || desc->outputs[0].shape[3] > XK_HOST_ATT_MAXD))
        return xcu_unsupported(device, desc, dt, "head dims above 512 (the kernel keeps a row in shared memory)");
    return xcu_module_ready(st, d, xk_variant_of(desc));
}

/* ------------------------------------------------------------------------- */
/* op_run                                                                     */
/* ------------------------------------------------------------------------- */
/* The generic launch: the plan's arguments as the kernel parameter array cuLaunchKernel
 * reads (params[i] points at the i-th argument), on the plan's grid (xk_launch.h). */
static xhal_status xcu_launch_plan(xcu_state *st, xcu_stream_obj *s, xcu_dev *d, const xk_launch *L)
{
    const char *name = xk_kernel_name(L->kernel);
    unsigned grid[3], block[3];
    if (L->items) {
        int64_t blocks = (L->count[0] + XCU_EW_BLOCK - 1) / XCU_EW_BLOCK;
        if (blocks > XCU_MAX_GRID_X)
            return xcu_host->set_error(XHAL_ERROR_UNSUPPORTED, "%s: %lld elements exceed one launch of %s",
                                       XCU_BACKEND_NAME, (long long)L->count[0], name);
        grid[0] = (unsigned)blocks;
        grid[1] = grid[2] = 1;
        block[0] = XCU_EW_BLOCK;
        block[1] = block[2] = 1;
    } else {
        if (L->count[0] > XCU_MAX_GRID_X || L->count[1] > XCU_MAX_GRID_YZ || L->count[2] > XCU_MAX_GRID_YZ)
            return xcu_host->set_error(XHAL_ERROR_UNSUPPORTED, "%s: grid %lld x %lld x %lld exceeds one launch of %s",
                                       XCU_BACKEND_NAME, (long long)L->count[0], (long long)L->count[1],
                                       (long long)L->count[2], name);
        for (int i = 0; i < 3; i++) {
            grid[i] = (unsigned)L->count[i];
            block[i] = L->group[i];
        }
    }
    union {
        xcu_deviceptr p;
        float f;
        double d;
    } tmp[XK_MAX_ARGS];
    void *params[XK_MAX_ARGS];
    memset(tmp, 0, sizeof tmp);
    for (int i = 0; i < L->nargs; i++) {
        const xk_arg *a = &L->args[i];
        switch (a->kind) {
            case XK_ARG_BUF:
                tmp[i].p = ((const xcu_buffer *)a->v.buf)->ptr;
                params[i] = &tmp[i].p;
                break;
            case XK_ARG_REAL: /* the compute type of the variant's module */
                if (L->variant == XK_VARIANT_F64)
                    tmp[i].d = a->v.real, params[i] = &tmp[i].d;
                else
                    tmp[i].f = (float)a->v.real, params[i] = &tmp[i].f;
                break;
            case XK_ARG_ND: params[i] = (void *)&L->nd; break;
            default: params[i] = (void *)&a->v; break; /* i32, i64, u64, f32 at the union's start */
        }
    }
    xcu_function fn;
    xhal_status rs = xcu_get_kernel(st, d, L->variant, name, &fn);
    if (rs != XHAL_OK) return rs;
    return xcu_launch(st, s, fn, name, grid, block, 0, params);
}

static xk_device_caps xcu_caps(const xcu_dev *d)
{
    xk_device_caps c = {0, (uint64_t)d->max_threads, (uint64_t)d->max_shared, (uint64_t)d->sm_count};
    return c;
}

xhal_status xcu_op_run(void *state, void *stream, const xhal_op_desc *desc)
{
    xcu_state *st = state;
    xcu_stream_obj *so = stream;
    xcu_dev *d = &st->devs[so->device];
    xhal_status s = xcu_use_device(st, so->device);
    if (s != XHAL_OK) return s;
    /* the vendor BLAS first (not for block-quantized weights: xk_qgemv / xk_qmm) */
    if (xhal_op_family_of(desc->op) == XHAL_OPF_MATMUL && !xk_block_side(desc)) {
        s = xcu_blas_matmul(st, so, desc);
        if (s != XHAL_ERROR_UNSUPPORTED) return s;
    }
    xk_device_caps caps = xcu_caps(d);
    xk_launch L;
    if (xk_plan(desc, &caps, &L) != 0)
        return xcu_host->set_error(XHAL_ERROR_UNSUPPORTED, "%s: op %d (%s) is not supported", XCU_BACKEND_NAME,
                                   desc->op, xcu_op_name(desc->op));
    return xcu_launch_plan(st, so, d, &L);
}
