/*
 * xk_launch.h - the host side of the portable op kernels (xk_ops.cl), shared by every
 * backend that runs them (OpenCL, CUDA, HIP): which kernels exist, and for a validated op
 * descriptor, which kernel to launch with which arguments on which grid.
 *
 * Each kernel's launch arguments are written twice in the tree and nowhere else: its
 * parameter list in xk_ops.cl, and the xk_plan_* function of xk_launch.c that pushes the
 * arguments in that order. A backend turns an xk_launch into its API's calls with one small
 * generic function (ocl_ops.c's ocl_launch_plan, xcu_ops.c's xcu_launch_plan): a new kernel
 * needs no edit in any backend.
 *
 * Adding a kernel:
 *   1. write it in xk_ops.cl (XK_KERNEL, parameters of the kinds below);
 *   2. add a row to XK_KERNEL_LIST (its id, its name, whether it uses XK_BARRIER);
 *   3. push its arguments in xk_launch.c, in the order of its parameter list, from the
 *      runner of its op family (xk_plan), with its grid.
 * The CUDA stand-in (tests/cuda_backend) reads the parameter types from the kernel's C++
 * signature, and test_xk_launch checks that every planned launch matches the parameter list
 * of xk_ops.cl, so a mismatch fails the tests on a machine without a GPU.
 *
 * Parameter kinds and their kernel types (xk_ops.cl) / host types:
 *   XK_ARG_BUF   XK_GLOBAL [const] xk_u8 *      the xhal_tensor_desc's buffer handle
 *   XK_ARG_I32   int                            int32_t
 *   XK_ARG_I64   xk_i64                         int64_t
 *   XK_ARG_U64   xk_u64                         uint64_t
 *   XK_ARG_F32   float                          float
 *   XK_ARG_REAL  xk_real (float, or double in the XK_REAL_F64 program)   double, narrowed by the backend
 *   XK_ARG_ND    xk_nd (by value)               xk_nd_host, the launch's nd
 * This header is plain C11 without any backend API; the plugins include it from
 * backends/kernels.
 */
#ifndef XK_LAUNCH_H
#define XK_LAUNCH_H

#include <stddef.h>
#include <stdint.h>

#include "xhal/xhal_backend.h"

#include "xk_kernels.h" /* XK_KERNEL_LIST */

typedef enum xk_kernel_id {
#define XK_KERNEL_ENUM_(ID, NAME, BARRIERS) XK_K_##ID,
    XK_KERNEL_LIST(XK_KERNEL_ENUM_)
#undef XK_KERNEL_ENUM_
        XK_K_COUNT_
} xk_kernel_id;

/* The kernel's name in xk_ops.cl ("xk_copy"); "?" for an id out of range. */
const char *xk_kernel_name(int kernel);

/* Launch shapes the kernels are written for (xk_ops.cl's XK_WG, XK_MM_TS, XK_ATT_MAXD, XK_QWG). */
#define XK_HOST_WG 64
#define XK_HOST_MM_TS 16
#define XK_HOST_ATT_MAXD 512
#define XK_HOST_QWG 64 /* XK_QWG: xk_qgemv's group */

/* Program variants: [0] computes in f32 (f32/f16/bf16, integer ops, bit copies), [1] in
 * f64 (xk_ops.cl built with -DXK_REAL_F64). */
#define XK_VARIANT_F32 0
#define XK_VARIANT_F64 1

#define XK_HOST_MAX_DIMS 8
#define XK_HOST_MAX_TENSORS 5
#define XK_MAX_ARGS 24

/* Host mirror of xk_common.h's xk_nd (only 64-bit members: no padding on any target). */
typedef struct xk_nd_host {
    int64_t shape[XK_HOST_MAX_DIMS];
    int64_t st[XK_HOST_MAX_TENSORS][XK_HOST_MAX_DIMS];
    int64_t ndim;
} xk_nd_host;

typedef enum xk_arg_kind {
    XK_ARG_BUF = 1,
    XK_ARG_I32,
    XK_ARG_I64,
    XK_ARG_U64,
    XK_ARG_F32,
    XK_ARG_REAL,
    XK_ARG_ND
} xk_arg_kind;

typedef struct xk_arg {
    int kind; /* xk_arg_kind */
    union {
        void *buf; /* the plugin's buffer handle (xhal_tensor_desc.buffer) */
        int32_t i32;
        int64_t i64;
        uint64_t u64;
        float f32;
        double real;
    } v;
} xk_arg;

/* One kernel launch. Grid: with items != 0, a 1-D launch over count[0] work items in groups
 * of any size the backend picks (the kernel ignores items past the end); else count[d]
 * groups of group[d] items in each of 3 dims (the kernel needs exactly that group). */
typedef struct xk_launch {
    int kernel;  /* xk_kernel_id */
    int variant; /* XK_VARIANT_F32 / XK_VARIANT_F64 */
    int items;
    int64_t count[3];
    unsigned group[3];
    int nargs;
    xk_arg args[XK_MAX_ARGS];
    xk_nd_host nd; /* the value of the XK_ARG_ND argument */
} xk_launch;

/* What the plan may depend on in the device (filled by the backend from its device info). */
typedef struct xk_device_caps {
    int cpu_like;           /* a CPU-type device (CL_DEVICE_TYPE_CPU: PoCL's pthread device) */
    uint64_t max_group;     /* largest work group / block */
    uint64_t local_mem;     /* bytes of local / shared memory per group */
    uint64_t compute_units; /* cores or SMs */
} xk_device_caps;

/* The program variant desc runs in (also what op_supported must have loaded). */
int xk_variant_of(const xhal_op_desc *desc);

/* The work-group size the kernels of desc's op family need (1 when any size works), so
 * op_supported can refuse a device whose groups are smaller. */
uint64_t xk_group_needed(const xhal_op_desc *desc);

/* 1 when desc's op family (xhal_op_family) has portable kernels here (xk_plan plans it), and
 * desc's attributes ask for nothing those kernels lack (today they run every attribute,
 * catalogue 86's included: rope positions / inv_freq / attention factor, attention window /
 * softcap / q_pos0, topk); else 0 and *why says what is missing. A new family or attribute
 * gets its case here with its kernel. */
int xk_supports(const xhal_op_desc *desc, const char **why);

/* The block-quantized dtype (XHAL_DTYPE_Q8_0 ...) of a COPY's input or output or of a
 * MATMUL's b, else 0: those run on xk_qdequant / xk_qcopy / xk_qquant / xk_qgemv / xk_qmm. */
int xk_block_side(const xhal_op_desc *desc);

/* For such an op, 1 when those kernels run it: copies of the same block dtype, block to
 * f32/f16/bf16, f32/f16/bf16 to q8_0/q4_0; matmul with a and out f32/f16/bf16 (the pairs
 * the core allows). Else 0 and why says what is refused. */
int xk_block_ok(const xhal_op_desc *desc, char *why, size_t size);

/* The launch for a validated descriptor (xhal_backend.h): 0, or -1 when the op's family has
 * no portable kernel (COMPOSED, unknown ids). Scalars (ndim 0) are run as [1]. */
int xk_plan(const xhal_op_desc *desc, const xk_device_caps *caps, xk_launch *out);

#endif /* XK_LAUNCH_H */
