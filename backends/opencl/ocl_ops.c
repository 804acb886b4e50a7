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
#include "xk_launch.h"
#include "xhal/plugin/xhal_half.h"
#include "xhal/plugin/xhal_names.h"

static const char *op_name(int op) { return xhal_names_op(op); }
static const char *dt_name(int dt) { return xhal_names_dtype(dt); }
static size_t dt_size(int dt) { return xhal_names_dtype_size(dt); }

static cl_mem mem_of(const xhal_tensor_desc *t) { return ((ocl_buffer *)t->buffer)->mem; }

static xk_device_caps caps_of(const ocl_device *d)
{
    xk_device_caps c = {d->is_cpu, d->max_wg, d->local_mem, d->compute_units};
    return c;
}

/* The generic launch: sets the plan's arguments in order and enqueues its grid (xk_launch.h). */
static xhal_status ocl_launch_plan(ocl_device *d, ocl_stream *s, const xk_launch *L)
{
    xhal_status st;
    cl_int err = CL_SUCCESS;
    int kid = L->kernel, variant = L->variant;
    size_t gs[3], ls[3];
    cl_uint dims = L->items ? 1 : 3;
    if (L->items) {
        ls[0] = d->max_wg >= 256 ? 256 : (d->max_wg >= 64 ? 64 : 1);
        gs[0] = ((size_t)L->count[0] + ls[0] - 1) / ls[0] * ls[0];
    } else {
        for (int i = 0; i < 3; i++) {
            ls[i] = L->group[i];
            gs[i] = (size_t)L->count[i] * L->group[i];
        }
    }
    pthread_mutex_lock(&d->lock);
    st = ocl_ops_program(d, variant);
    if (st != XHAL_OK) goto out;
    if (!L->items) {
        size_t need = ls[0] * ls[1] * ls[2];
        if (need > d->kernel_wg[variant][kid]) {
            st = ocl_host->set_error(XHAL_ERROR_UNSUPPORTED,
                                     "opencl: %s needs work groups of %zu items but %s allows %zu", xk_kernel_name(kid),
                                     need, d->info.name, d->kernel_wg[variant][kid]);
            goto out;
        }
    }
    cl_kernel k = d->kernels[variant][kid];
    for (int i = 0; i < L->nargs && err == CL_SUCCESS; i++) {
        const xk_arg *a = &L->args[i];
        union {
            cl_mem m;
            cl_float f;
            cl_double d;
        } tmp;
        switch (a->kind) {
            case XK_ARG_BUF:
                tmp.m = ((ocl_buffer *)a->v.buf)->mem;
                err = clSetKernelArg(k, (cl_uint)i, sizeof tmp.m, &tmp.m);
                break;
            case XK_ARG_I32: err = clSetKernelArg(k, (cl_uint)i, sizeof(cl_int), &a->v.i32); break;
            case XK_ARG_I64: err = clSetKernelArg(k, (cl_uint)i, sizeof(cl_long), &a->v.i64); break;
            case XK_ARG_U64: err = clSetKernelArg(k, (cl_uint)i, sizeof(cl_ulong), &a->v.u64); break;
            case XK_ARG_F32: err = clSetKernelArg(k, (cl_uint)i, sizeof(cl_float), &a->v.f32); break;
            case XK_ARG_REAL: /* the compute type of the variant's program */
                if (variant == XK_VARIANT_F64) {
                    tmp.d = a->v.real;
                    err = clSetKernelArg(k, (cl_uint)i, sizeof tmp.d, &tmp.d);
                } else {
                    tmp.f = (cl_float)a->v.real;
                    err = clSetKernelArg(k, (cl_uint)i, sizeof tmp.f, &tmp.f);
                }
                break;
            default: err = clSetKernelArg(k, (cl_uint)i, sizeof L->nd, &L->nd); break;
        }
    }
    if (err != CL_SUCCESS) {
        st = ocl_fail(err, "clSetKernelArg(%s)", xk_kernel_name(kid));
        goto out;
    }
    err = clEnqueueNDRangeKernel(s->q, k, dims, NULL, gs, ls, 0, NULL, NULL);
    if (err != CL_SUCCESS) st = ocl_fail(err, "clEnqueueNDRangeKernel(%s)", xk_kernel_name(kid));
out:
    pthread_mutex_unlock(&d->lock);
    return st;
}

/* ------------------------------------------------------------------ support */

static xhal_status unsupported(const ocl_device *d, const xhal_op_desc *desc, int dt, const char *why)
{
    return ocl_host->set_error(XHAL_ERROR_UNSUPPORTED, "opencl: %s (%s) is not supported on %s: %s", op_name(desc->op),
                               dt_name(dt), d->info.name, why);
}

/* Support follows the op table: an op runs when its family has a kernel here and its data
 * operand's dtype is in both the op's DTYPES column and what that kernel computes in; the
 * remaining checks are limits of the kernels (work-group size, f64, head dims). */
xhal_status ocl_op_supported(void *state, int device, const xhal_op_desc *desc)
{
    const ocl_device *d = &((ocl_state *)state)->devs[device];
    int op = desc->op, fam = xhal_op_family_of(op);
    int dt = xhal_op_data_dtype(desc);
    const unsigned ints = XHAL_DTYPE_BIT(XHAL_DTYPE_I32) | XHAL_DTYPE_BIT(XHAL_DTYPE_I64);
    unsigned kinds; /* dtypes the family's kernels compute in (f64 only with cl_khr_fp64) */
    switch (fam) {
        case XHAL_OPF_COPY:
        case XHAL_OPF_FILL:
        case XHAL_OPF_GATHER: kinds = XHAL_OP_DTYPES_ANY; break;          /* bits, or casts in xk_copy */
        case XHAL_OPF_BINARY: kinds = XHAL_OP_DTYPES_FLOAT | ints; break; /* xk_binary, xk_binary_int */
        case XHAL_OPF_NONE:
        case XHAL_OPF_COMPOSED:
            return ocl_host->set_error(XHAL_ERROR_UNSUPPORTED,
                                       "opencl: op %s (id %d) is not implemented by this backend", op_name(op), op);
        default: kinds = XHAL_OP_DTYPES_FLOAT; break;
    }
    const char *missing;
    if (!xk_supports(desc, &missing)) return unsupported(d, desc, dt, missing);
    char why[192];
    uint64_t need = xk_group_needed(desc); /* launch shapes the kernels need (xk_ops.cl) */
    if (need > d->max_wg) {
        snprintf(why, sizeof why, "needs work groups of %zu items, the device allows %zu", (size_t)need, d->max_wg);
        return unsupported(d, desc, dt, why);
    }
    int qdt = xk_block_side(desc); /* block-quantized copy or matmul weights (xk_qdequant ... xk_qmm) */
    if (qdt) {
        if (!xk_block_ok(desc, why, sizeof why)) return unsupported(d, desc, qdt, why);
        return XHAL_OK;
    }
    if (!xhal_op_dtype_ok(desc, kinds, why, sizeof why)) return unsupported(d, desc, dt, why);
    if (fam == XHAL_OPF_COPY) {
        int odt = desc->outputs[0].dtype;
        if (dt != odt && (dt == XHAL_DTYPE_F64 || odt == XHAL_DTYPE_F64) && !d->has_fp64)
            return unsupported(d, desc, XHAL_DTYPE_F64,
                               "converting f64 needs cl_khr_fp64 (same-dtype f64 copies work)");
    } else if (dt == XHAL_DTYPE_F64 && !d->has_fp64 && fam != XHAL_OPF_FILL && fam != XHAL_OPF_GATHER)
        return unsupported(d, desc, dt, "the device lacks cl_khr_fp64");
    if (fam == XHAL_OPF_MATMUL && desc->inputs[1].dtype != dt)
        return unsupported(d, desc, desc->inputs[1].dtype, "b must have a's dtype or be block-quantized");
    if (fam == XHAL_OPF_ATTENTION) {
        if (desc->inputs[0].shape[3] > XK_HOST_ATT_MAXD || desc->inputs[2].shape[3] > XK_HOST_ATT_MAXD) {
            snprintf(why, sizeof why, "head dims above %d (got D=%lld, Dv=%lld)", XK_HOST_ATT_MAXD,
                     (long long)desc->inputs[0].shape[3], (long long)desc->inputs[2].shape[3]);
            return unsupported(d, desc, dt, why);
        }
        if (desc->attrs.attention.has_mask && desc->inputs[3].dtype != dt)
            return unsupported(d, desc, desc->inputs[3].dtype, "mask dtype must equal q's");
    }
    return XHAL_OK;
}

/* ------------------------------------------------------------------ ops */

/* A same-dtype copy between contiguous ranges is one clEnqueueCopyBuffer (1 if taken). */
static int try_copy_buffer(ocl_stream *s, const xhal_op_desc *desc, xhal_status *st)
{
    const xhal_tensor_desc *in = &desc->inputs[0], *out = &desc->outputs[0];
    if (in->dtype != out->dtype || xhal_names_dtype_size(in->dtype) == 0) return 0; /* block dtypes: xk_qcopy */
    int64_t n = 1, ein = 1, eout = 1;
    for (int k = out->ndim - 1; k >= 0; k--) { /* row-major contiguous in both, size-1 dims aside */
        if (out->shape[k] == 1) continue;
        if (in->strides[k] != ein || out->strides[k] != eout) return 0;
        ein *= out->shape[k];
        eout *= out->shape[k];
        n *= out->shape[k];
    }
    size_t es = dt_size(out->dtype);
    cl_int err = clEnqueueCopyBuffer(s->q, mem_of(in), mem_of(out), (size_t)in->offset, (size_t)out->offset,
                                     (size_t)n * es, 0, NULL, NULL);
    *st = err == CL_SUCCESS ? XHAL_OK : ocl_fail(err, "clEnqueueCopyBuffer (copy op)");
    return 1;
}

xhal_status ocl_op_run(void *state, void *stream, const xhal_op_desc *desc)
{
    ocl_state *st = state;
    ocl_stream *s = stream;
    ocl_device *d = &st->devs[s->device];
    xhal_status rs;
    if (desc->op == XHAL_OP_COPY && try_copy_buffer(s, desc, &rs)) return rs;
    xk_device_caps caps = caps_of(d);
    xk_launch L;
    if (xk_plan(desc, &caps, &L) != 0)
        return ocl_host->set_error(XHAL_ERROR_UNSUPPORTED, "opencl: op %s (id %d) is not implemented",
                                   op_name(desc->op), desc->op);
    return ocl_launch_plan(d, s, &L);
}
