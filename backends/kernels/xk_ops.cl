/*
 * xk_ops.cl - the op catalogue of xhal_backend.h as portable-dialect kernels.
 *
 * Written once for every target: compile after prelude_opencl.h or prelude_cuda.h and
 * xk_common.h (the OpenCL backend concatenates the three). Conventions:
 *  - tensors arrive as untyped byte buffers plus an offset in elements and an xhal
 *    dtype code; strides are in elements (xk_nd, slot 0 = output);
 *  - float math runs in xk_real (f32; f64 in the XK_REAL_F64 variant), f16/bf16 are
 *    storage-only and rounded to nearest even on store;
 *  - row kernels (reductions, softmax, norms, attention) run one work group of XK_WG
 *    items per row; the host launches exactly that shape.
 */

#define XK_WG 64        /* work-group size of the row kernels (a power of two) */
#define XK_MM_TS 16     /* matmul tile edge; work group XK_MM_TS x XK_MM_TS */
#define XK_ATT_MAXD 512 /* largest head dim (D and Dv) of xk_attention */

/* Op ids: XK_OP_<NAME> is the xhal_op value of the op table's row NAME. The OpenCL backend
 * puts the table's rows (XHAL_OP_TABLE_ROWS_ONLY) before this file; the CUDA/HIP builds and
 * the host stand-in include it from include/. */
#ifndef XHAL_OP_TABLE
#define XHAL_OP_TABLE_ROWS_ONLY 1
#include "xhal/xhal_op_table.h"
#endif
#define XK_OP_ID_(NAME, ID, STR, FAM, NIN, NOPT, ATTR, DT, TOL, KERNEL) XK_OP_##NAME = ID,
enum xk_op_id { XHAL_OP_TABLE(XK_OP_ID_) XK_OP_END_ };
#undef XK_OP_ID_

/* ------------------------------------------------------------------ copy, fill */

/* dst = src elementwise (a cast when the dtypes differ). */
XK_KERNEL void xk_copy(XK_GLOBAL xk_u8 *dst, xk_i64 doff, int ddt, XK_GLOBAL const xk_u8 *src, xk_i64 soff, int sdt,
                       xk_i64 n, xk_nd nd)
{
    xk_i64 i = XK_GLOBAL_ID(0);
    xk_i64 o[2];
    if (i >= n) return;
    xk_nd_offsets(&nd, i, 2, o);
    o[0] += doff;
    o[1] += soff;
    if (ddt == sdt) {
        switch (ddt) {
            case XK_DT_I8:
            case XK_DT_U8: ((XK_GLOBAL xk_u8 *)dst)[o[0]] = ((XK_GLOBAL const xk_u8 *)src)[o[1]]; break;
            case XK_DT_F16:
            case XK_DT_BF16: ((XK_GLOBAL xk_u16 *)dst)[o[0]] = ((XK_GLOBAL const xk_u16 *)src)[o[1]]; break;
            case XK_DT_F32:
            case XK_DT_I32: ((XK_GLOBAL xk_u32 *)dst)[o[0]] = ((XK_GLOBAL const xk_u32 *)src)[o[1]]; break;
            default: ((XK_GLOBAL xk_u64 *)dst)[o[0]] = ((XK_GLOBAL const xk_u64 *)src)[o[1]]; break;
        }
    } else if (xk_dt_is_int(sdt) && xk_dt_is_int(ddt)) {
        xk_st_int(dst, o[0], ddt, xk_sat_int(xk_ld_int(src, o[1], sdt), ddt));
    } else if (xk_dt_is_int(sdt)) {
        /* one correct rounding: f16/bf16 through f32 rounded to odd */
        xk_i64 v = xk_ld_int(src, o[1], sdt);
        if (ddt == XK_DT_F16)
            ((XK_GLOBAL xk_u16 *)dst)[o[0]] = xk_f32_to_f16(xk_i64_to_f32_odd(v));
        else if (ddt == XK_DT_BF16)
            ((XK_GLOBAL xk_u16 *)dst)[o[0]] = xk_f32_to_bf16(xk_i64_to_f32_odd(v));
        else
            xk_st(dst, o[0], ddt, (xk_real)v);
    } else {
        xk_st(dst, o[0], ddt, xk_ld(src, o[1], sdt));
    }
}

/* Every element = pattern (the value already converted to the dtype by the host). */
XK_KERNEL void xk_fill(XK_GLOBAL xk_u8 *dst, xk_i64 doff, int esize, xk_u64 pattern, xk_i64 n, xk_nd nd)
{
    xk_i64 i = XK_GLOBAL_ID(0);
    xk_i64 o[1];
    if (i >= n) return;
    xk_nd_offsets(&nd, i, 1, o);
    o[0] += doff;
    switch (esize) {
        case 1: ((XK_GLOBAL xk_u8 *)dst)[o[0]] = (xk_u8)pattern; break;
        case 2: ((XK_GLOBAL xk_u16 *)dst)[o[0]] = (xk_u16)pattern; break;
        case 4: ((XK_GLOBAL xk_u32 *)dst)[o[0]] = (xk_u32)pattern; break;
        default: ((XK_GLOBAL xk_u64 *)dst)[o[0]] = pattern; break;
    }
}

/* ------------------------------------------------------------------ elementwise */

XK_INLINE xk_real xk_sigmoid(xk_real x) { return (xk_real)1 / ((xk_real)1 + XK_R_EXP(-x)); }

XK_INLINE xk_real xk_unary_op(int op, xk_real x)
{
    switch (op) {
        case XK_OP_NEG: return -x;
        case XK_OP_ABS: return XK_R_FABS(x);
        case XK_OP_EXP: return XK_R_EXP(x);
        case XK_OP_LOG: return XK_R_LOG(x);
        case XK_OP_SQRT: return XK_R_SQRT(x);
        case XK_OP_RSQRT: return (xk_real)1 / XK_R_SQRT(x);
        case XK_OP_TANH: return XK_R_TANH(x);
        case XK_OP_SIGMOID: return xk_sigmoid(x);
        case XK_OP_RELU: return x > (xk_real)0 ? x : (x != x ? x : (xk_real)0);
        case XK_OP_SILU: return x * xk_sigmoid(x);
        case XK_OP_GELU: return XK_RC(0.5) * x * ((xk_real)1 + XK_R_ERF(x * XK_RC(0.70710678118654752)));
        case XK_OP_GELU_TANH: {
            xk_real c = XK_RC(0.79788456080286536); /* sqrt(2/pi) */
            return XK_RC(0.5) * x * ((xk_real)1 + XK_R_TANH(c * (x + XK_RC(0.044715) * x * x * x)));
        }
        case XK_OP_SQUARE: return x * x;
        case XK_OP_SOFTPLUS: {
            /* max(x, 0) + log1p(e^-|x|), log1p(e) as log(u) * e / (u - 1), u = 1 + e (exact
             * to a few ulp without a log1p builtin; u == 1 when e is below half an ulp) */
            xk_real e = XK_R_EXP(-XK_R_FABS(x)), u = (xk_real)1 + e;
            return (x > (xk_real)0 ? x : (xk_real)0) + (u == (xk_real)1 ? e : XK_R_LOG(u) * (e / (u - (xk_real)1)));
        }
        default: return x;
    }
}

XK_KERNEL void xk_unary(int op, int dt, XK_GLOBAL xk_u8 *out, xk_i64 ooff, XK_GLOBAL const xk_u8 *x, xk_i64 xoff,
                        xk_i64 n, xk_nd nd)
{
    xk_i64 i = XK_GLOBAL_ID(0);
    xk_i64 o[2];
    if (i >= n) return;
    xk_nd_offsets(&nd, i, 2, o);
    xk_st(out, ooff + o[0], dt, xk_unary_op(op, xk_ld(x, xoff + o[1], dt)));
}

XK_KERNEL void xk_scale(int dt, XK_GLOBAL xk_u8 *out, xk_i64 ooff, XK_GLOBAL const xk_u8 *x, xk_i64 xoff, xk_real alpha,
                        xk_real beta, xk_i64 n, xk_nd nd)
{
    xk_i64 i = XK_GLOBAL_ID(0);
    xk_i64 o[2];
    if (i >= n) return;
    xk_nd_offsets(&nd, i, 2, o);
    xk_st(out, ooff + o[0], dt, alpha * xk_ld(x, xoff + o[1], dt) + beta);
}

XK_INLINE xk_real xk_min_nan(xk_real a, xk_real b)
{
    if (a != a) return a;
    if (b != b) return b;
    return a < b ? a : b;
}

XK_KERNEL void xk_binary(int op, int dt, XK_GLOBAL xk_u8 *out, xk_i64 ooff, XK_GLOBAL const xk_u8 *a, xk_i64 aoff,
                         XK_GLOBAL const xk_u8 *b, xk_i64 boff, xk_i64 n, xk_nd nd)
{
    xk_i64 i = XK_GLOBAL_ID(0);
    xk_i64 o[3];
    xk_real x, y, r;
    if (i >= n) return;
    xk_nd_offsets(&nd, i, 3, o);
    x = xk_ld(a, aoff + o[1], dt);
    y = xk_ld(b, boff + o[2], dt);
    switch (op) {
        case XK_OP_ADD: r = x + y; break;
        case XK_OP_SUB: r = x - y; break;
        case XK_OP_MUL: r = x * y; break;
        case XK_OP_DIV: r = x / y; break;
        case XK_OP_MAXIMUM: r = xk_max_nan(x, y); break;
        default: r = xk_min_nan(x, y); break;
    }
    xk_st(out, ooff + o[0], dt, r);
}

/* i32 / i64 ADD, SUB, MUL, MAXIMUM, MINIMUM; results wrap around. */
XK_KERNEL void xk_binary_int(int op, int dt, XK_GLOBAL xk_u8 *out, xk_i64 ooff, XK_GLOBAL const xk_u8 *a, xk_i64 aoff,
                             XK_GLOBAL const xk_u8 *b, xk_i64 boff, xk_i64 n, xk_nd nd)
{
    xk_i64 i = XK_GLOBAL_ID(0);
    xk_i64 o[3];
    xk_u64 x, y, r;
    xk_i64 sx, sy;
    if (i >= n) return;
    xk_nd_offsets(&nd, i, 3, o);
    sx = xk_ld_int(a, aoff + o[1], dt);
    sy = xk_ld_int(b, boff + o[2], dt);
    x = (xk_u64)sx;
    y = (xk_u64)sy;
    switch (op) {
        case XK_OP_ADD: r = x + y; break;
        case XK_OP_SUB: r = x - y; break;
        case XK_OP_MUL: r = x * y; break;
        case XK_OP_MAXIMUM: r = sx > sy ? x : y; break;
        default: r = sx < sy ? x : y; break;
    }
    xk_st_int(out, ooff + o[0], dt, (xk_i64)r);
}

/* ------------------------------------------------------------------ reductions */

/* One work group per output element. nd: out's shape (size 1 at the axis), slot 0 out,
 * slot 1 x; the reduced axis has length R and stride rstride in x. */
XK_KERNEL void xk_reduce(int op, int dt, XK_GLOBAL xk_u8 *out, xk_i64 ooff, int odt, XK_GLOBAL const xk_u8 *x,
                         xk_i64 xoff, xk_i64 R, xk_i64 rstride, xk_nd nd)
{
    XK_LOCAL xk_real red[XK_WG];
    XK_LOCAL xk_i64 redi[XK_WG];
    xk_i64 row = XK_GROUP_ID(0);
    xk_i64 lid = XK_LOCAL_ID(0);
    xk_i64 o[2];
    xk_i64 j, s;
    xk_nd_offsets(&nd, row, 2, o);
    o[0] += ooff;
    o[1] += xoff;
    if (op == XK_OP_SUM || op == XK_OP_MEAN) {
        xk_real acc = (xk_real)0;
        for (j = lid; j < R; j += XK_WG) acc += xk_ld(x, o[1] + j * rstride, dt);
        acc = xk_wg_sum(red, lid, XK_WG, acc);
        if (op == XK_OP_MEAN) acc = acc / (xk_real)R;
        if (lid == 0) xk_st(out, o[0], dt, acc);
    } else {
        /* MAX and ARGMAX: first index of the maximum; NaN counts as the maximum */
        xk_real best = -XK_R_INF;
        xk_i64 bi = -1;
        for (j = lid; j < R; j += XK_WG) {
            xk_real v = xk_ld(x, o[1] + j * rstride, dt);
            if (bi < 0 || (best == best && (v != v || v > best))) {
                best = v;
                bi = j;
            }
        }
        red[lid] = best;
        redi[lid] = bi;
        XK_BARRIER();
        for (s = XK_WG / 2; s > 0; s /= 2) {
            if (lid < s) {
                xk_real v1 = red[lid], v2 = red[lid + s];
                xk_i64 i1 = redi[lid], i2 = redi[lid + s];
                int take2;
                if (i2 < 0)
                    take2 = 0;
                else if (i1 < 0)
                    take2 = 1;
                else if (v1 != v1)
                    take2 = (v2 != v2) && i2 < i1;
                else if (v2 != v2)
                    take2 = 1;
                else
                    take2 = v2 > v1 || (v2 == v1 && i2 < i1);
                if (take2) {
                    red[lid] = v2;
                    redi[lid] = i2;
                }
            }
            XK_BARRIER();
        }
        if (lid == 0) {
            if (op == XK_OP_MAX)
                xk_st(out, o[0], dt, red[0]);
            else
                xk_st_int(out, o[0], odt, redi[0]);
        }
    }
}

/* ------------------------------------------------------------------ row ops */

/* Softmax over the last axis of scale*x. nd: the row dims (all but the last), slot 0
 * out, slot 1 x; D columns with strides os / xs. Causal: the row's index within the
 * second-to-last axis (Sq) sees columns j <= i + (D - Sq). */
XK_KERNEL void xk_softmax(int dt, XK_GLOBAL xk_u8 *out, xk_i64 ooff, XK_GLOBAL const xk_u8 *x, xk_i64 xoff, xk_i64 D,
                          xk_i64 os, xk_i64 xs, xk_i64 Sq, int causal, xk_real scale, xk_nd nd)
{
    XK_LOCAL xk_real red[XK_WG];
    xk_i64 row = XK_GROUP_ID(0);
    xk_i64 lid = XK_LOCAL_ID(0);
    xk_i64 o[2];
    xk_i64 j, lim = D - 1;
    xk_real m = -XK_R_INF, sum = (xk_real)0;
    xk_nd_offsets(&nd, row, 2, o);
    o[0] += ooff;
    o[1] += xoff;
    if (causal) lim = row % Sq + (D - Sq);
    for (j = lid; j < D && j <= lim; j += XK_WG) m = xk_max_nan(m, scale * xk_ld(x, o[1] + j * xs, dt));
    m = xk_wg_max(red, lid, XK_WG, m);
    for (j = lid; j < D && j <= lim; j += XK_WG) sum += XK_R_EXP(scale * xk_ld(x, o[1] + j * xs, dt) - m);
    sum = xk_wg_sum(red, lid, XK_WG, sum);
    for (j = lid; j < D; j += XK_WG) {
        xk_real r = (xk_real)0;
        if (j <= lim) r = XK_R_EXP(scale * xk_ld(x, o[1] + j * xs, dt) - m) / sum;
        xk_st(out, o[0] + j * os, dt, r);
    }
}

/* out = x / sqrt(mean(x^2) + eps) * w over the last axis (w optional, stride ws). */
XK_KERNEL void xk_rms_norm(int dt, XK_GLOBAL xk_u8 *out, xk_i64 ooff, XK_GLOBAL const xk_u8 *x, xk_i64 xoff,
                           XK_GLOBAL const xk_u8 *w, xk_i64 woff, xk_i64 ws, int has_w, xk_i64 D, xk_i64 os, xk_i64 xs,
                           xk_real eps, xk_nd nd)
{
    XK_LOCAL xk_real red[XK_WG];
    xk_i64 row = XK_GROUP_ID(0);
    xk_i64 lid = XK_LOCAL_ID(0);
    xk_i64 o[2];
    xk_i64 j;
    xk_real ss = (xk_real)0, r;
    xk_nd_offsets(&nd, row, 2, o);
    o[0] += ooff;
    o[1] += xoff;
    for (j = lid; j < D; j += XK_WG) {
        xk_real v = xk_ld(x, o[1] + j * xs, dt);
        ss += v * v;
    }
    ss = xk_wg_sum(red, lid, XK_WG, ss);
    r = (xk_real)1 / XK_R_SQRT(ss / (xk_real)D + eps);
    for (j = lid; j < D; j += XK_WG) {
        xk_real v = xk_ld(x, o[1] + j * xs, dt) * r;
        if (has_w) v *= xk_ld(w, woff + j * ws, dt);
        xk_st(out, o[0] + j * os, dt, v);
    }
}

/* out = (x - mean) / sqrt(var + eps) * w + b over the last axis (population variance). */
XK_KERNEL void xk_layer_norm(int dt, XK_GLOBAL xk_u8 *out, xk_i64 ooff, XK_GLOBAL const xk_u8 *x, xk_i64 xoff,
                             XK_GLOBAL const xk_u8 *w, xk_i64 woff, xk_i64 ws, int has_w, XK_GLOBAL const xk_u8 *b,
                             xk_i64 boff, xk_i64 bs, int has_b, xk_i64 D, xk_i64 os, xk_i64 xs, xk_real eps, xk_nd nd)
{
    XK_LOCAL xk_real red[XK_WG];
    xk_i64 row = XK_GROUP_ID(0);
    xk_i64 lid = XK_LOCAL_ID(0);
    xk_i64 o[2];
    xk_i64 j;
    xk_real mean = (xk_real)0, var = (xk_real)0, r;
    xk_nd_offsets(&nd, row, 2, o);
    o[0] += ooff;
    o[1] += xoff;
    for (j = lid; j < D; j += XK_WG) mean += xk_ld(x, o[1] + j * xs, dt);
    mean = xk_wg_sum(red, lid, XK_WG, mean) / (xk_real)D;
    for (j = lid; j < D; j += XK_WG) {
        xk_real d = xk_ld(x, o[1] + j * xs, dt) - mean;
        var += d * d;
    }
    var = xk_wg_sum(red, lid, XK_WG, var) / (xk_real)D;
    r = (xk_real)1 / XK_R_SQRT(var + eps);
    for (j = lid; j < D; j += XK_WG) {
        xk_real v = (xk_ld(x, o[1] + j * xs, dt) - mean) * r;
        if (has_w) v *= xk_ld(w, woff + j * ws, dt);
        if (has_b) v += xk_ld(b, boff + j * bs, dt);
        xk_st(out, o[0] + j * os, dt, v);
    }
}

/* ------------------------------------------------------------------ matmul */

/* out[M,N] = alpha * a[M,K] @ b[K,N] + beta * out, per batch; any strides. Work group
 * XK_MM_TS x XK_MM_TS (dim 0 = column, dim 1 = row), dim 2 = batch. nd: batch dims,
 * slot 0 out, 1 a, 2 b. With beta == 0 out is not read. */
XK_KERNEL void xk_matmul(int dt, XK_GLOBAL xk_u8 *out, xk_i64 ooff, XK_GLOBAL const xk_u8 *a, xk_i64 aoff,
                         XK_GLOBAL const xk_u8 *b, xk_i64 boff, xk_i64 M, xk_i64 N, xk_i64 K, xk_i64 a_m, xk_i64 a_k,
                         xk_i64 b_k, xk_i64 b_n, xk_i64 o_m, xk_i64 o_n, xk_real alpha, xk_real beta, xk_nd nd)
{
    XK_LOCAL xk_real ta[XK_MM_TS][XK_MM_TS + 1];
    XK_LOCAL xk_real tb[XK_MM_TS][XK_MM_TS + 1];
    xk_i64 tx = XK_LOCAL_ID(0), ty = XK_LOCAL_ID(1);
    xk_i64 col = XK_GROUP_ID(0) * XK_MM_TS + tx;
    xk_i64 rw = XK_GROUP_ID(1) * XK_MM_TS + ty;
    xk_i64 o[3];
    xk_i64 k0, kk;
    xk_real acc = (xk_real)0;
    xk_nd_offsets(&nd, XK_GROUP_ID(2), 3, o);
    o[0] += ooff;
    o[1] += aoff;
    o[2] += boff;
    for (k0 = 0; k0 < K; k0 += XK_MM_TS) {
        /* item (tx, ty) loads a[rw, k0+tx] and b[k0+ty, col] */
        xk_i64 ka = k0 + tx, kb = k0 + ty;
        ta[ty][tx] = (rw < M && ka < K) ? xk_ld(a, o[1] + rw * a_m + ka * a_k, dt) : (xk_real)0;
        tb[ty][tx] = (kb < K && col < N) ? xk_ld(b, o[2] + kb * b_k + col * b_n, dt) : (xk_real)0;
        XK_BARRIER();
        for (kk = 0; kk < XK_MM_TS; kk++) acc += ta[ty][kk] * tb[kk][tx];
        XK_BARRIER();
    }
    if (rw < M && col < N) {
        xk_i64 oi = o[0] + rw * o_m + col * o_n;
        xk_real r = alpha * acc;
        if (beta != (xk_real)0) r += beta * xk_ld(out, oi, dt);
        xk_st(out, oi, dt, r);
    }
}

/* Kernels specialised per dtype. Each role below (matrix-vector and matrix-matrix, for a
 * CPU-type and for a GPU-type device) is one inline body taking the storage dtype as its
 * first argument, instantiated once per dtype by a kernel that passes a literal
 * (xk_gemv_cpu_f32 ...): the compiler folds every dtype test when it builds the program, so
 * no dtype switch is left in the loops. They compute in f32 in both programs (the f64
 * program's matmul is xk_matmul). Arguments as xk_matmul without dt, alpha and beta f32.
 * The plan (xk_launch.c, plan_matmul) picks the role from M and the device type, and the
 * CPU roles' `path` from the strides:
 *   XK_MMP_ANY  any strides: scalar loops;
 *   XK_MMP_NT   a_k == 1 and b_k == 1 (b given as [N, K], the model's weights): each item
 *               forms dot products over K in XK_LN independent lanes (vector registers,
 *               no reassociation needed), then a tail;
 *   XK_MMP_NN   b_n == 1 (b given as [K, N]): each item keeps a row block of XK_NN_COLS
 *               columns in registers and streams b's rows. */
#define XK_MMP_ANY 0
#define XK_MMP_NT 1
#define XK_MMP_NN 2
#define XK_LN 16             /* lanes of the XK_MMP_NT dot products */
#define XK_GV_MAXM 4         /* rows of the matrix-vector kernels (the plan sends M <= 4 there) */
#define XK_MR XK_GV_MAXM     /* rows per item of xk_gemm_cpu_* */
#define XK_NT_COLS 4         /* columns per item on XK_MMP_NT and XK_MMP_ANY */
#define XK_NN_COLS 64        /* columns per item on XK_MMP_NN */
#define XK_MB (4 * XK_MM_TS) /* xk_gemm_gpu_*: block edge of one group */

XK_INLINE float xk_mm_ld(XK_GLOBAL const xk_u8 *p, xk_i64 i, const int dt)
{
#ifdef XK_TARGET_OPENCL
    /* the built-in conversion (exact; F16C/AVX-512 instructions on PoCL, vectorizable) */
    if (dt == XK_DT_F16) return vload_half((size_t)i, (XK_GLOBAL const half *)p);
#endif
    if (dt == XK_DT_F16) return xk_f16_to_f32(((XK_GLOBAL const xk_u16 *)p)[i]);
    if (dt == XK_DT_BF16) return xk_bf16_to_f32(((XK_GLOBAL const xk_u16 *)p)[i]);
    return ((XK_GLOBAL const float *)p)[i];
}

/* out[oi] = alpha * acc (+ beta * out[oi] when beta != 0: out is not read otherwise) */
XK_INLINE void xk_mm_out(XK_GLOBAL xk_u8 *out, xk_i64 oi, const int dt, float acc, float alpha, float beta)
{
    float r = alpha * acc;
    if (beta != 0.0f) r += beta * xk_mm_ld(out, oi, dt);
    if (dt == XK_DT_F16)
        ((XK_GLOBAL xk_u16 *)out)[oi] = xk_f32_to_f16(r);
    else if (dt == XK_DT_BF16)
        ((XK_GLOBAL xk_u16 *)out)[oi] = xk_f32_to_bf16(r);
    else
        ((XK_GLOBAL float *)out)[oi] = r;
}

/* Rows r0 .. r0+MR-1 (clamped to M-1: a clamped row is computed again, never stored) times
 * columns c0 .. c0+XK_NT_COLS-1 (all < N), a_k == b_k == 1. o: element offsets of out, a, b. */
XK_INLINE void xk_mm_nt_(const int dt, const int MR, XK_GLOBAL xk_u8 *out, XK_GLOBAL const xk_u8 *a,
                         XK_GLOBAL const xk_u8 *b, const xk_i64 *o, xk_i64 r0, xk_i64 c0, xk_i64 M, xk_i64 K,
                         xk_i64 a_m, xk_i64 b_n, xk_i64 o_m, xk_i64 o_n, float alpha, float beta)
{
    float acc[XK_GV_MAXM][XK_NT_COLS][XK_LN];
    xk_i64 ar[XK_GV_MAXM], k;
    int m, c, l;
    for (m = 0; m < MR; m++) {
        ar[m] = o[1] + (r0 + m < M ? r0 + m : M - 1) * a_m;
        for (c = 0; c < XK_NT_COLS; c++)
            for (l = 0; l < XK_LN; l++) acc[m][c][l] = 0.0f;
    }
    for (k = 0; k + XK_LN <= K; k += XK_LN) /* lanes innermost: the loop the compiler vectorizes */
        for (c = 0; c < XK_NT_COLS; c++) {
            xk_i64 bc = o[2] + (c0 + c) * b_n + k;
            for (m = 0; m < MR; m++)
                for (l = 0; l < XK_LN; l++) acc[m][c][l] += xk_mm_ld(a, ar[m] + k + l, dt) * xk_mm_ld(b, bc + l, dt);
        }
    for (m = 0; m < MR && r0 + m < M; m++)
        for (c = 0; c < XK_NT_COLS; c++) {
            float s = 0.0f;
            xk_i64 kk;
            for (l = 0; l < XK_LN; l++) s += acc[m][c][l];
            for (kk = k; kk < K; kk++) s += xk_mm_ld(a, ar[m] + kk, dt) * xk_mm_ld(b, o[2] + (c0 + c) * b_n + kk, dt);
            xk_mm_out(out, o[0] + (r0 + m) * o_m + (c0 + c) * o_n, dt, s, alpha, beta);
        }
}

/* Rows as xk_mm_nt_ times columns c0 .. c0+XK_NN_COLS-1 (all < N), b_n == 1. */
XK_INLINE void xk_mm_nn_(const int dt, const int MR, XK_GLOBAL xk_u8 *out, XK_GLOBAL const xk_u8 *a,
                         XK_GLOBAL const xk_u8 *b, const xk_i64 *o, xk_i64 r0, xk_i64 c0, xk_i64 M, xk_i64 K,
                         xk_i64 a_m, xk_i64 a_k, xk_i64 b_k, xk_i64 o_m, xk_i64 o_n, float alpha, float beta)
{
    float acc[XK_GV_MAXM][XK_NN_COLS];
    xk_i64 ar[XK_GV_MAXM], k;
    int m, c;
    for (m = 0; m < MR; m++) {
        ar[m] = o[1] + (r0 + m < M ? r0 + m : M - 1) * a_m;
        for (c = 0; c < XK_NN_COLS; c++) acc[m][c] = 0.0f;
    }
    for (k = 0; k < K; k++) {
        float bv[XK_NN_COLS];
        xk_i64 br = o[2] + k * b_k + c0;
        for (c = 0; c < XK_NN_COLS; c++) bv[c] = xk_mm_ld(b, br + c, dt);
        for (m = 0; m < MR; m++) {
            float av = xk_mm_ld(a, ar[m] + k * a_k, dt);
            for (c = 0; c < XK_NN_COLS; c++) acc[m][c] += av * bv[c];
        }
    }
    for (m = 0; m < MR && r0 + m < M; m++)
        for (c = 0; c < XK_NN_COLS; c++)
            xk_mm_out(out, o[0] + (r0 + m) * o_m + (c0 + c) * o_n, dt, acc[m][c], alpha, beta);
}

/* Any strides: rows r0 .. min(r0+nr, M)-1, columns c0 .. min(c0+nc, N)-1, one at a time. */
XK_INLINE void xk_mm_any_(const int dt, XK_GLOBAL xk_u8 *out, XK_GLOBAL const xk_u8 *a, XK_GLOBAL const xk_u8 *b,
                          const xk_i64 *o, xk_i64 r0, xk_i64 nr, xk_i64 c0, xk_i64 nc, xk_i64 M, xk_i64 N, xk_i64 K,
                          xk_i64 a_m, xk_i64 a_k, xk_i64 b_k, xk_i64 b_n, xk_i64 o_m, xk_i64 o_n, float alpha,
                          float beta)
{
    xk_i64 r, c, k;
    for (r = r0; r < r0 + nr && r < M; r++)
        for (c = c0; c < c0 + nc && c < N; c++) {
            float s = 0.0f;
            for (k = 0; k < K; k++)
                s += xk_mm_ld(a, o[1] + r * a_m + k * a_k, dt) * xk_mm_ld(b, o[2] + k * b_k + c * b_n, dt);
            xk_mm_out(out, o[0] + r * o_m + c * o_n, dt, s, alpha, beta);
        }
}

/* The block of rows r0 .. r0+MR-1 and the columns of item column-block `cb` on `path`;
 * blocks that reach past N take the scalar loops. */
XK_INLINE void xk_mm_cpu_block_(const int dt, const int MR, int path, XK_GLOBAL xk_u8 *out, XK_GLOBAL const xk_u8 *a,
                                XK_GLOBAL const xk_u8 *b, const xk_i64 *o, xk_i64 r0, xk_i64 cb, xk_i64 M, xk_i64 N,
                                xk_i64 K, xk_i64 a_m, xk_i64 a_k, xk_i64 b_k, xk_i64 b_n, xk_i64 o_m, xk_i64 o_n,
                                float alpha, float beta)
{
    xk_i64 nc = path == XK_MMP_NN ? XK_NN_COLS : XK_NT_COLS, c0 = cb * nc;
    if (path == XK_MMP_NT && c0 + nc <= N)
        xk_mm_nt_(dt, MR, out, a, b, o, r0, c0, M, K, a_m, b_n, o_m, o_n, alpha, beta);
    else if (path == XK_MMP_NN && c0 + nc <= N)
        xk_mm_nn_(dt, MR, out, a, b, o, r0, c0, M, K, a_m, a_k, b_k, o_m, o_n, alpha, beta);
    else
        xk_mm_any_(dt, out, a, b, o, r0, MR, c0, nc, M, N, K, a_m, a_k, b_k, b_n, o_m, o_n, alpha, beta);
}

/* Matrix-vector product on a CPU-type device (M <= XK_GV_MAXM rows, one row for the decode
 * step): no barrier; item (cb, bi) computes every row of its block of columns of batch bi
 * (grid dim 0 = column blocks of XK_NN_COLS on XK_MMP_NN, else XK_NT_COLS; dim 1 = batch;
 * any group). One row is a specialised body of its own. */
XK_INLINE void xk_gemv_cpu_(const int dt, int path, XK_GLOBAL xk_u8 *out, xk_i64 ooff, XK_GLOBAL const xk_u8 *a,
                            xk_i64 aoff, XK_GLOBAL const xk_u8 *b, xk_i64 boff, xk_i64 M, xk_i64 N, xk_i64 K,
                            xk_i64 a_m, xk_i64 a_k, xk_i64 b_k, xk_i64 b_n, xk_i64 o_m, xk_i64 o_n, float alpha,
                            float beta, const xk_nd *nd)
{
    xk_i64 cb = XK_GLOBAL_ID(0), o[3];
    if (cb * (path == XK_MMP_NN ? XK_NN_COLS : XK_NT_COLS) >= N) return;
    xk_nd_offsets(nd, XK_GLOBAL_ID(1), 3, o);
    o[0] += ooff;
    o[1] += aoff;
    o[2] += boff;
    if (M == 1)
        xk_mm_cpu_block_(dt, 1, path, out, a, b, o, 0, cb, M, N, K, a_m, a_k, b_k, b_n, o_m, o_n, alpha, beta);
    else
        xk_mm_cpu_block_(dt, XK_GV_MAXM, path, out, a, b, o, 0, cb, M, N, K, a_m, a_k, b_k, b_n, o_m, o_n, alpha, beta);
}

/* Matrix product on a CPU-type device: no barrier (PoCL runs a group's items as a loop, so
 * local memory and barriers only cost); item (rb, cb, bi) computes rows rb*XK_MR .. +3 of
 * column block cb (as xk_gemv_cpu_) of batch bi. Grid dim 0 = row blocks (a group's items
 * share one column block, which stays in cache), dim 1 = column blocks, dim 2 = batch. */
XK_INLINE void xk_gemm_cpu_(const int dt, int path, XK_GLOBAL xk_u8 *out, xk_i64 ooff, XK_GLOBAL const xk_u8 *a,
                            xk_i64 aoff, XK_GLOBAL const xk_u8 *b, xk_i64 boff, xk_i64 M, xk_i64 N, xk_i64 K,
                            xk_i64 a_m, xk_i64 a_k, xk_i64 b_k, xk_i64 b_n, xk_i64 o_m, xk_i64 o_n, float alpha,
                            float beta, const xk_nd *nd)
{
    xk_i64 r0 = XK_GLOBAL_ID(0) * XK_MR, cb = XK_GLOBAL_ID(1), o[3];
    if (r0 >= M || cb * (path == XK_MMP_NN ? XK_NN_COLS : XK_NT_COLS) >= N) return;
    xk_nd_offsets(nd, XK_GROUP_ID(2), 3, o);
    o[0] += ooff;
    o[1] += aoff;
    o[2] += boff;
    xk_mm_cpu_block_(dt, XK_MR, path, out, a, b, o, r0, cb, M, N, K, a_m, a_k, b_k, b_n, o_m, o_n, alpha, beta);
}

/* Matrix-vector product on a GPU-type device (M <= XK_GV_MAXM): groups of XK_WG items.
 * b_k == 1: one group per output column (grid dim 0 = N, dim 1 = batch), its items read
 * the column's K values side by side (coalesced), each keeping a partial sum per row, then
 * a tree in local memory. Otherwise one item per column (grid dim 0 = ceil(N / XK_WG)),
 * neighbours reading neighbouring columns when b_n == 1. */
XK_INLINE void xk_gemv_gpu_(const int dt, XK_LOCAL_PTR xk_real *red, XK_GLOBAL xk_u8 *out, xk_i64 ooff,
                            XK_GLOBAL const xk_u8 *a, xk_i64 aoff, XK_GLOBAL const xk_u8 *b, xk_i64 boff, xk_i64 M,
                            xk_i64 N, xk_i64 K, xk_i64 a_m, xk_i64 a_k, xk_i64 b_k, xk_i64 b_n, xk_i64 o_m, xk_i64 o_n,
                            float alpha, float beta, const xk_nd *nd)
{
    xk_i64 lid = XK_LOCAL_ID(0), o[3], k, m;
    xk_nd_offsets(nd, XK_GROUP_ID(1), 3, o);
    o[0] += ooff;
    o[1] += aoff;
    o[2] += boff;
    if (b_k == 1) {
        xk_i64 n = XK_GROUP_ID(0);
        for (m = 0; m < M; m++) { /* M is uniform: every item reaches each barrier */
            float s = 0.0f, r;
            for (k = lid; k < K; k += XK_WG)
                s += xk_mm_ld(a, o[1] + m * a_m + k * a_k, dt) * xk_mm_ld(b, o[2] + k + n * b_n, dt);
            r = (float)xk_wg_sum(red, lid, XK_WG, (xk_real)s);
            if (lid == 0) xk_mm_out(out, o[0] + m * o_m + n * o_n, dt, r, alpha, beta);
        }
    } else {
        xk_i64 n = XK_GROUP_ID(0) * XK_WG + lid;
        float s[XK_GV_MAXM];
        if (n >= N) return; /* no barrier on this path */
        for (m = 0; m < XK_GV_MAXM; m++) s[m] = 0.0f;
        for (k = 0; k < K; k++) {
            float bv = xk_mm_ld(b, o[2] + k * b_k + n * b_n, dt);
            for (m = 0; m < XK_GV_MAXM && m < M; m++) s[m] += xk_mm_ld(a, o[1] + m * a_m + k * a_k, dt) * bv;
        }
        for (m = 0; m < XK_GV_MAXM && m < M; m++) xk_mm_out(out, o[0] + m * o_m + n * o_n, dt, s[m], alpha, beta);
    }
}

/* Matrix product on a GPU-type device, tiled in local memory and register-blocked: a group
 * of XK_MM_TS x XK_MM_TS items computes an XK_MB x XK_MB block of out, each item 4 x 4
 * outputs (rows ty + 16i, columns tx + 16j), over K in steps of XK_MM_TS. Grid
 * (ceil(N/64), ceil(M/64), batch) groups of 16 x 16. */
XK_INLINE void xk_gemm_gpu_(const int dt, XK_LOCAL_PTR float *ta, XK_LOCAL_PTR float *tb, XK_GLOBAL xk_u8 *out,
                            xk_i64 ooff, XK_GLOBAL const xk_u8 *a, xk_i64 aoff, XK_GLOBAL const xk_u8 *b, xk_i64 boff,
                            xk_i64 M, xk_i64 N, xk_i64 K, xk_i64 a_m, xk_i64 a_k, xk_i64 b_k, xk_i64 b_n, xk_i64 o_m,
                            xk_i64 o_n, float alpha, float beta, const xk_nd *nd)
{
    xk_i64 tx = XK_LOCAL_ID(0), ty = XK_LOCAL_ID(1);
    xk_i64 lid = ty * XK_MM_TS + tx;
    xk_i64 row0 = XK_GROUP_ID(1) * XK_MB, col0 = XK_GROUP_ID(0) * XK_MB;
    xk_i64 o[3], k0, kk, e;
    float acc[4][4];
    int i, j;
    for (i = 0; i < 4; i++)
        for (j = 0; j < 4; j++) acc[i][j] = 0.0f;
    xk_nd_offsets(nd, XK_GROUP_ID(2), 3, o);
    o[0] += ooff;
    o[1] += aoff;
    o[2] += boff;
    for (k0 = 0; k0 < K; k0 += XK_MM_TS) {
        for (e = 0; e < 4; e++) { /* ta[k][r] (XK_MB + 1 per k), tb[k][c] */
            xk_i64 idx = lid + e * XK_MM_TS * XK_MM_TS;
            xk_i64 r = idx / XK_MM_TS, k = idx % XK_MM_TS; /* a: 64 rows x 16 k */
            xk_i64 kb = idx / XK_MB, c = idx % XK_MB;      /* b: 16 k x 64 columns */
            ta[k * (XK_MB + 1) + r] =
                (row0 + r < M && k0 + k < K) ? xk_mm_ld(a, o[1] + (row0 + r) * a_m + (k0 + k) * a_k, dt) : 0.0f;
            tb[kb * (XK_MB + 1) + c] =
                (k0 + kb < K && col0 + c < N) ? xk_mm_ld(b, o[2] + (k0 + kb) * b_k + (col0 + c) * b_n, dt) : 0.0f;
        }
        XK_BARRIER();
        for (kk = 0; kk < XK_MM_TS; kk++) {
            float av[4], bv[4];
            for (i = 0; i < 4; i++) av[i] = ta[kk * (XK_MB + 1) + ty + XK_MM_TS * i];
            for (j = 0; j < 4; j++) bv[j] = tb[kk * (XK_MB + 1) + tx + XK_MM_TS * j];
            for (i = 0; i < 4; i++)
                for (j = 0; j < 4; j++) acc[i][j] += av[i] * bv[j];
        }
        XK_BARRIER();
    }
    for (i = 0; i < 4; i++) {
        xk_i64 rw = row0 + ty + XK_MM_TS * i;
        if (rw >= M) continue;
        for (j = 0; j < 4; j++) {
            xk_i64 col = col0 + tx + XK_MM_TS * j;
            if (col < N) xk_mm_out(out, o[0] + rw * o_m + col * o_n, dt, acc[i][j], alpha, beta);
        }
    }
}

/* The instances: one kernel per role and storage dtype (xk_kernels.h). */
XK_KERNEL void xk_gemv_cpu_f32(int path, XK_GLOBAL xk_u8 *out, xk_i64 ooff, XK_GLOBAL const xk_u8 *a, xk_i64 aoff,
                               XK_GLOBAL const xk_u8 *b, xk_i64 boff, xk_i64 M, xk_i64 N, xk_i64 K, xk_i64 a_m,
                               xk_i64 a_k, xk_i64 b_k, xk_i64 b_n, xk_i64 o_m, xk_i64 o_n, float alpha, float beta,
                               xk_nd nd)
{
    xk_gemv_cpu_(XK_DT_F32, path, out, ooff, a, aoff, b, boff, M, N, K, a_m, a_k, b_k, b_n, o_m, o_n, alpha, beta, &nd);
}
XK_KERNEL void xk_gemv_cpu_f16(int path, XK_GLOBAL xk_u8 *out, xk_i64 ooff, XK_GLOBAL const xk_u8 *a, xk_i64 aoff,
                               XK_GLOBAL const xk_u8 *b, xk_i64 boff, xk_i64 M, xk_i64 N, xk_i64 K, xk_i64 a_m,
                               xk_i64 a_k, xk_i64 b_k, xk_i64 b_n, xk_i64 o_m, xk_i64 o_n, float alpha, float beta,
                               xk_nd nd)
{
    xk_gemv_cpu_(XK_DT_F16, path, out, ooff, a, aoff, b, boff, M, N, K, a_m, a_k, b_k, b_n, o_m, o_n, alpha, beta, &nd);
}
XK_KERNEL void xk_gemv_cpu_bf16(int path, XK_GLOBAL xk_u8 *out, xk_i64 ooff, XK_GLOBAL const xk_u8 *a, xk_i64 aoff,
                                XK_GLOBAL const xk_u8 *b, xk_i64 boff, xk_i64 M, xk_i64 N, xk_i64 K, xk_i64 a_m,
                                xk_i64 a_k, xk_i64 b_k, xk_i64 b_n, xk_i64 o_m, xk_i64 o_n, float alpha, float beta,
                                xk_nd nd)
{
    xk_gemv_cpu_(XK_DT_BF16, path, out, ooff, a, aoff, b, boff, M, N, K, a_m, a_k, b_k, b_n, o_m, o_n, alpha, beta,
                 &nd);
}
XK_KERNEL void xk_gemm_cpu_f32(int path, XK_GLOBAL xk_u8 *out, xk_i64 ooff, XK_GLOBAL const xk_u8 *a, xk_i64 aoff,
                               XK_GLOBAL const xk_u8 *b, xk_i64 boff, xk_i64 M, xk_i64 N, xk_i64 K, xk_i64 a_m,
                               xk_i64 a_k, xk_i64 b_k, xk_i64 b_n, xk_i64 o_m, xk_i64 o_n, float alpha, float beta,
                               xk_nd nd)
{
    xk_gemm_cpu_(XK_DT_F32, path, out, ooff, a, aoff, b, boff, M, N, K, a_m, a_k, b_k, b_n, o_m, o_n, alpha, beta, &nd);
}
XK_KERNEL void xk_gemm_cpu_f16(int path, XK_GLOBAL xk_u8 *out, xk_i64 ooff, XK_GLOBAL const xk_u8 *a, xk_i64 aoff,
                               XK_GLOBAL const xk_u8 *b, xk_i64 boff, xk_i64 M, xk_i64 N, xk_i64 K, xk_i64 a_m,
                               xk_i64 a_k, xk_i64 b_k, xk_i64 b_n, xk_i64 o_m, xk_i64 o_n, float alpha, float beta,
                               xk_nd nd)
{
    xk_gemm_cpu_(XK_DT_F16, path, out, ooff, a, aoff, b, boff, M, N, K, a_m, a_k, b_k, b_n, o_m, o_n, alpha, beta, &nd);
}
XK_KERNEL void xk_gemm_cpu_bf16(int path, XK_GLOBAL xk_u8 *out, xk_i64 ooff, XK_GLOBAL const xk_u8 *a, xk_i64 aoff,
                                XK_GLOBAL const xk_u8 *b, xk_i64 boff, xk_i64 M, xk_i64 N, xk_i64 K, xk_i64 a_m,
                                xk_i64 a_k, xk_i64 b_k, xk_i64 b_n, xk_i64 o_m, xk_i64 o_n, float alpha, float beta,
                                xk_nd nd)
{
    xk_gemm_cpu_(XK_DT_BF16, path, out, ooff, a, aoff, b, boff, M, N, K, a_m, a_k, b_k, b_n, o_m, o_n, alpha, beta,
                 &nd);
}
XK_KERNEL void xk_gemv_gpu_f32(XK_GLOBAL xk_u8 *out, xk_i64 ooff, XK_GLOBAL const xk_u8 *a, xk_i64 aoff,
                               XK_GLOBAL const xk_u8 *b, xk_i64 boff, xk_i64 M, xk_i64 N, xk_i64 K, xk_i64 a_m,
                               xk_i64 a_k, xk_i64 b_k, xk_i64 b_n, xk_i64 o_m, xk_i64 o_n, float alpha, float beta,
                               xk_nd nd)
{
    XK_LOCAL xk_real red[XK_WG];
    xk_gemv_gpu_(XK_DT_F32, red, out, ooff, a, aoff, b, boff, M, N, K, a_m, a_k, b_k, b_n, o_m, o_n, alpha, beta, &nd);
}
XK_KERNEL void xk_gemv_gpu_f16(XK_GLOBAL xk_u8 *out, xk_i64 ooff, XK_GLOBAL const xk_u8 *a, xk_i64 aoff,
                               XK_GLOBAL const xk_u8 *b, xk_i64 boff, xk_i64 M, xk_i64 N, xk_i64 K, xk_i64 a_m,
                               xk_i64 a_k, xk_i64 b_k, xk_i64 b_n, xk_i64 o_m, xk_i64 o_n, float alpha, float beta,
                               xk_nd nd)
{
    XK_LOCAL xk_real red[XK_WG];
    xk_gemv_gpu_(XK_DT_F16, red, out, ooff, a, aoff, b, boff, M, N, K, a_m, a_k, b_k, b_n, o_m, o_n, alpha, beta, &nd);
}
XK_KERNEL void xk_gemv_gpu_bf16(XK_GLOBAL xk_u8 *out, xk_i64 ooff, XK_GLOBAL const xk_u8 *a, xk_i64 aoff,
                                XK_GLOBAL const xk_u8 *b, xk_i64 boff, xk_i64 M, xk_i64 N, xk_i64 K, xk_i64 a_m,
                                xk_i64 a_k, xk_i64 b_k, xk_i64 b_n, xk_i64 o_m, xk_i64 o_n, float alpha, float beta,
                                xk_nd nd)
{
    XK_LOCAL xk_real red[XK_WG];
    xk_gemv_gpu_(XK_DT_BF16, red, out, ooff, a, aoff, b, boff, M, N, K, a_m, a_k, b_k, b_n, o_m, o_n, alpha, beta, &nd);
}
XK_KERNEL void xk_gemm_gpu_f32(XK_GLOBAL xk_u8 *out, xk_i64 ooff, XK_GLOBAL const xk_u8 *a, xk_i64 aoff,
                               XK_GLOBAL const xk_u8 *b, xk_i64 boff, xk_i64 M, xk_i64 N, xk_i64 K, xk_i64 a_m,
                               xk_i64 a_k, xk_i64 b_k, xk_i64 b_n, xk_i64 o_m, xk_i64 o_n, float alpha, float beta,
                               xk_nd nd)
{
    XK_LOCAL float ta[XK_MM_TS * (XK_MB + 1)];
    XK_LOCAL float tb[XK_MM_TS * (XK_MB + 1)];
    xk_gemm_gpu_(XK_DT_F32, ta, tb, out, ooff, a, aoff, b, boff, M, N, K, a_m, a_k, b_k, b_n, o_m, o_n, alpha, beta,
                 &nd);
}
XK_KERNEL void xk_gemm_gpu_f16(XK_GLOBAL xk_u8 *out, xk_i64 ooff, XK_GLOBAL const xk_u8 *a, xk_i64 aoff,
                               XK_GLOBAL const xk_u8 *b, xk_i64 boff, xk_i64 M, xk_i64 N, xk_i64 K, xk_i64 a_m,
                               xk_i64 a_k, xk_i64 b_k, xk_i64 b_n, xk_i64 o_m, xk_i64 o_n, float alpha, float beta,
                               xk_nd nd)
{
    XK_LOCAL float ta[XK_MM_TS * (XK_MB + 1)];
    XK_LOCAL float tb[XK_MM_TS * (XK_MB + 1)];
    xk_gemm_gpu_(XK_DT_F16, ta, tb, out, ooff, a, aoff, b, boff, M, N, K, a_m, a_k, b_k, b_n, o_m, o_n, alpha, beta,
                 &nd);
}
XK_KERNEL void xk_gemm_gpu_bf16(XK_GLOBAL xk_u8 *out, xk_i64 ooff, XK_GLOBAL const xk_u8 *a, xk_i64 aoff,
                                XK_GLOBAL const xk_u8 *b, xk_i64 boff, xk_i64 M, xk_i64 N, xk_i64 K, xk_i64 a_m,
                                xk_i64 a_k, xk_i64 b_k, xk_i64 b_n, xk_i64 o_m, xk_i64 o_n, float alpha, float beta,
                                xk_nd nd)
{
    XK_LOCAL float ta[XK_MM_TS * (XK_MB + 1)];
    XK_LOCAL float tb[XK_MM_TS * (XK_MB + 1)];
    xk_gemm_gpu_(XK_DT_BF16, ta, tb, out, ooff, a, aoff, b, boff, M, N, K, a_m, a_k, b_k, b_n, o_m, o_n, alpha, beta,
                 &nd);
}

/* ------------------------------------------------------------------ gather */

/* Status words of xhal_backend.h (XHAL_OP_STATUS_*): op id (written last), value, limit,
 * ndim, position. */
#define XK_STATUS_OP 0
#define XK_STATUS_VALUE 1
#define XK_STATUS_LIMIT 2
#define XK_STATUS_NDIM 3
#define XK_STATUS_POS 4

/* Index k of item i (index position p = i / row) is outside [0, V): record it in the status
 * if it is the op's first bad index in row-major order and no earlier op left a record. Only
 * the item of a bad index's first element gets here, and only one of them (the first) writes:
 * it looks back to the previous bad index, so all of them together read each index at most
 * once. No atomics: ops on a stream run one after another. */
XK_INLINE void xk_gather_report(const xk_nd *nd, XK_GLOBAL const xk_u8 *idx, xk_i64 ioff, int idt, int ni, xk_i64 V,
                                xk_i64 row, xk_i64 p, xk_i64 k, XK_GLOBAL xk_u8 *status, xk_i64 soff)
{
    XK_GLOBAL xk_i64 *s = (XK_GLOBAL xk_i64 *)status + soff;
    xk_i64 q, c[3], kq, rem;
    int d;
    if (soff < 0 || s[XK_STATUS_OP] != 0) return;
    for (q = p - 1; q >= 0; q--) {
        xk_nd_offsets(nd, q * row, 3, c);
        kq = xk_ld_int(idx, ioff + c[1], idt);
        if (kq < 0 || kq >= V) return;
    }
    s[XK_STATUS_VALUE] = k;
    s[XK_STATUS_LIMIT] = V;
    s[XK_STATUS_NDIM] = ni;
    rem = p;
    for (d = ni - 1; d >= 0; d--) {
        s[XK_STATUS_POS + d] = rem % nd->shape[d];
        rem /= nd->shape[d];
    }
    s[XK_STATUS_OP] = XK_OP_GATHER;
}

/* out[i.., d..] = table[idx[i..], d..]. nd: out's shape, unfolded (its first ni dims are the
 * indices'); slot 0 out, 1 idx (0 over the d dims), 2 table (0 over the index dims); trow is
 * the table's row stride, V its rows, row the elements per index. Bit copy of esize-byte
 * elements. The bounds guard: an index outside [0, V) reads nothing and writes zeros, and the
 * first one is recorded in status (i64 words at soff; soff < 0: none). */
XK_KERNEL void xk_gather(int esize, XK_GLOBAL xk_u8 *out, xk_i64 ooff, XK_GLOBAL const xk_u8 *table, xk_i64 toff,
                         xk_i64 trow, xk_i64 V, XK_GLOBAL const xk_u8 *idx, xk_i64 ioff, int idt, int ni, xk_i64 row,
                         XK_GLOBAL xk_u8 *status, xk_i64 soff, xk_i64 n, xk_nd nd)
{
    xk_i64 i = XK_GLOBAL_ID(0);
    xk_i64 o[3];
    xk_i64 t, k;
    int bad;
    if (i >= n) return;
    xk_nd_offsets(&nd, i, 3, o);
    k = xk_ld_int(idx, ioff + o[1], idt);
    bad = k < 0 || k >= V;
    if (bad && i % row == 0) xk_gather_report(&nd, idx, ioff, idt, ni, V, row, i / row, k, status, soff);
    t = toff + o[2] + (bad ? 0 : k) * trow;
    o[0] += ooff;
    switch (esize) {
        case 1: ((XK_GLOBAL xk_u8 *)out)[o[0]] = bad ? (xk_u8)0 : ((XK_GLOBAL const xk_u8 *)table)[t]; break;
        case 2: ((XK_GLOBAL xk_u16 *)out)[o[0]] = bad ? (xk_u16)0 : ((XK_GLOBAL const xk_u16 *)table)[t]; break;
        case 4: ((XK_GLOBAL xk_u32 *)out)[o[0]] = bad ? (xk_u32)0 : ((XK_GLOBAL const xk_u32 *)table)[t]; break;
        default: ((XK_GLOBAL xk_u64 *)out)[o[0]] = bad ? (xk_u64)0 : ((XK_GLOBAL const xk_u64 *)table)[t]; break;
    }
}

/* ------------------------------------------------------------------ rope */

/* One work item per rotated pair or copied entry of each row. nd: the row dims (all but
 * the last), slot 0 out, slot 1 x, slot 2 positions (0 past the seq axis); seq_dim is the S
 * axis among them. Items per row: rot/2 pairs then D-rot copies. Reads both entries of a
 * pair before writing, so out may be x. pdt 0: no positions (pos_offset + s); has_invf 0:
 * inv_freq[k] = theta^(-2k/rot), else f32 invf[foff + k fs]; af multiplies cos and sin. */
XK_KERNEL void xk_rope(int dt, XK_GLOBAL xk_u8 *out, xk_i64 ooff, XK_GLOBAL const xk_u8 *x, xk_i64 xoff, xk_i64 D,
                       xk_i64 rot, int layout, int seq_dim, xk_i64 pos_offset, float theta, xk_i64 os, xk_i64 xs,
                       xk_i64 n, XK_GLOBAL const xk_u8 *pos_t, xk_i64 poff, int pdt, XK_GLOBAL const xk_u8 *invf,
                       xk_i64 foff, xk_i64 fs, int has_invf, xk_real af, xk_nd nd)
{
    xk_i64 i = XK_GLOBAL_ID(0);
    xk_i64 per_row = rot / 2 + (D - rot);
    xk_i64 row, p, o[3], rr, k, pos = 0;
    if (i >= n) return;
    row = i / per_row;
    p = i % per_row;
    xk_nd_offsets(&nd, row, 3, o);
    o[0] += ooff;
    o[1] += xoff;
    if (p < rot / 2) {
        xk_i64 e0, e1;
        xk_real v0, v1, c, s;
        if (pdt) { /* the token's entry of the positions tensor */
            pos = xk_ld_int(pos_t, poff + o[2], pdt);
        } else { /* the row's coordinate along seq_dim */
            rr = row;
            for (k = nd.ndim - 1; k >= 0; k--) {
                if (k == seq_dim) pos = rr % nd.shape[k];
                rr /= nd.shape[k];
            }
            pos += pos_offset;
        }
        if (layout == 0) {
            e0 = p;
            e1 = p + rot / 2;
        } else {
            e0 = 2 * p;
            e1 = 2 * p + 1;
        }
#ifdef XK_HAS_FP64
        {
            double f = has_invf ? (double)xk_ld(invf, foff + p * fs, XK_DT_F32)
                                : pow((double)theta, -2.0 * (double)p / (double)rot);
            double ang = (double)pos * f;
            c = (xk_real)((double)af * cos(ang));
            s = (xk_real)((double)af * sin(ang));
        }
#else
        {
            float f =
                has_invf ? (float)xk_ld(invf, foff + p * fs, XK_DT_F32) : XK_POWF(theta, -2.0f * (float)p / (float)rot);
            float ang = (float)pos * f;
            c = af * (xk_real)XK_COSF(ang);
            s = af * (xk_real)XK_SINF(ang);
        }
#endif
        v0 = xk_ld(x, o[1] + e0 * xs, dt);
        v1 = xk_ld(x, o[1] + e1 * xs, dt);
        xk_st(out, o[0] + e0 * os, dt, v0 * c - v1 * s);
        xk_st(out, o[0] + e1 * os, dt, v0 * s + v1 * c);
    } else {
        xk_i64 e = rot + (p - rot / 2);
        xk_st(out, o[0] + e * os, dt, xk_ld(x, o[1] + e * xs, dt));
    }
}

/* ------------------------------------------------------------------ attention */

/* One work group per query row (b, h, i); online softmax over keys in chunks of XK_WG.
 * nd.shape = [B, Hq, Sq, Dv]; slots (4 strides each): 0 out, 1 q, 2 k, 3 v, 4 mask. Query i
 * sits at key position p0 + i: causal stops the keys there, a window (> 0) starts them at
 * p0 + i - window + 1; softcap (> 0) caps the scaled scores before the mask is added. */
XK_KERNEL void xk_attention(int dt, XK_GLOBAL xk_u8 *out, xk_i64 ooff, XK_GLOBAL const xk_u8 *q, xk_i64 qoff,
                            XK_GLOBAL const xk_u8 *k, xk_i64 koff, XK_GLOBAL const xk_u8 *v, xk_i64 voff,
                            XK_GLOBAL const xk_u8 *mask, xk_i64 moff, int has_mask, xk_i64 Hkv, xk_i64 Sk, xk_i64 D,
                            int causal, xk_real scale, xk_i64 window, xk_real softcap, xk_i64 p0, xk_nd nd)
{
    XK_LOCAL xk_real qs[XK_ATT_MAXD];
    XK_LOCAL xk_real acc[XK_ATT_MAXD];
    XK_LOCAL xk_real pr[XK_WG];
    XK_LOCAL xk_real red[XK_WG];
    xk_i64 lid = XK_LOCAL_ID(0);
    xk_i64 row = XK_GROUP_ID(0);
    xk_i64 Hq = nd.shape[1], Sq = nd.shape[2], Dv = nd.shape[3];
    xk_i64 i = row % Sq;
    xk_i64 h = (row / Sq) % Hq;
    xk_i64 bb = row / (Sq * Hq);
    xk_i64 hk = h / (Hq / Hkv);
    xk_i64 nkeys = Sk;
    xk_i64 qb = qoff + bb * nd.st[1][0] + h * nd.st[1][1] + i * nd.st[1][2];
    xk_i64 kb = koff + bb * nd.st[2][0] + hk * nd.st[2][1];
    xk_i64 vb = voff + bb * nd.st[3][0] + hk * nd.st[3][1];
    xk_i64 mb = moff + bb * nd.st[4][0] + h * nd.st[4][1] + i * nd.st[4][2];
    xk_i64 ob = ooff + bb * nd.st[0][0] + h * nd.st[0][1] + i * nd.st[0][2];
    xk_i64 d, j0, jj, first = 0;
    xk_real m = -XK_R_INF, l = (xk_real)0;
    if (causal) {
        nkeys = p0 + i + 1;
        if (nkeys > Sk) nkeys = Sk;
        if (nkeys < 0) nkeys = 0;
    }
    if (window > 0) {
        first = p0 + i - window + 1;
        if (first < 0) first = 0;
        if (first > nkeys) first = nkeys;
    }
    for (d = lid; d < D; d += XK_WG) qs[d] = xk_ld(q, qb + d * nd.st[1][3], dt);
    for (d = lid; d < Dv; d += XK_WG) acc[d] = (xk_real)0;
    XK_BARRIER();
    for (j0 = first; j0 < nkeys; j0 += XK_WG) {
        xk_i64 j = j0 + lid;
        xk_i64 cnt = nkeys - j0 < XK_WG ? nkeys - j0 : XK_WG;
        xk_real s = -XK_R_INF, cm, nm, corr, p, cs;
        if (j < nkeys) {
            xk_real dot = (xk_real)0;
            for (d = 0; d < D; d++) dot += qs[d] * xk_ld(k, kb + j * nd.st[2][2] + d * nd.st[2][3], dt);
            s = dot * scale;
            if (softcap > (xk_real)0) s = softcap * XK_R_TANH(s / softcap);
            if (has_mask) s += xk_ld(mask, mb + j * nd.st[4][3], dt);
        }
        cm = xk_wg_max(red, lid, XK_WG, s);
        nm = xk_max_nan(m, cm);
        if (nm == -XK_R_INF) continue; /* nothing visible yet: uniform over the group */
        corr = (m == -XK_R_INF) ? (xk_real)0 : XK_R_EXP(m - nm);
        p = (j < nkeys && s != -XK_R_INF) ? XK_R_EXP(s - nm) : (xk_real)0;
        pr[lid] = p;
        cs = xk_wg_sum(red, lid, XK_WG, p);
        l = l * corr + cs;
        for (d = lid; d < Dv; d += XK_WG) {
            xk_real a = acc[d] * corr;
            for (jj = 0; jj < cnt; jj++) a += pr[jj] * xk_ld(v, vb + (j0 + jj) * nd.st[3][2] + d * nd.st[3][3], dt);
            acc[d] = a;
        }
        m = nm;
        XK_BARRIER();
    }
    for (d = lid; d < Dv; d += XK_WG) /* l is NaN when a visible score was NaN: the row is NaN, as in the reference */
        xk_st(out, ob + d * nd.st[0][3], dt, (l > (xk_real)0 || l != l) ? acc[d] / l : (xk_real)0);
}

/* ------------------------------------------------------------------ topk */

/* 1 if (a, ia) ranks before (b, ib): NaN above every number, equal values by index. */
XK_INLINE int xk_topk_before(xk_real a, xk_i64 ia, xk_real b, xk_i64 ib, int largest)
{
    int an = a != a, bn = b != b;
    if (an || bn) {
        if (an && bn) return ia < ib;
        return largest ? an : bn;
    }
    if (a != b) return largest ? a > b : a < b;
    return ia < ib;
}

/* One work item per element of each row of N (the last axis): its rank is the number of
 * the row's elements that rank before it (a total order: ties go by index), and an element
 * of rank < k writes its bits to values[rank] and its index to indices[rank]. O(N) per item.
 * nd: the row dims, slot 0 values, 1 indices, 2 x; xs, vs, is: the last-axis strides. */
XK_KERNEL void xk_topk(int dt, int esize, XK_GLOBAL xk_u8 *vals, xk_i64 voff, XK_GLOBAL xk_u8 *idx, xk_i64 ioff,
                       int idt, XK_GLOBAL const xk_u8 *x, xk_i64 xoff, xk_i64 N, xk_i64 k, int largest, xk_i64 xs,
                       xk_i64 vs, xk_i64 is, xk_i64 n, xk_nd nd)
{
    xk_i64 i = XK_GLOBAL_ID(0);
    xk_i64 o[3], row, j, t, rank = 0, xb, src, dst;
    xk_real v;
    if (i >= n) return;
    row = i / N;
    j = i % N;
    xk_nd_offsets(&nd, row, 3, o);
    xb = xoff + o[2];
    v = xk_ld(x, xb + j * xs, dt);
    for (t = 0; t < N && rank < k; t++)
        if (t != j && xk_topk_before(xk_ld(x, xb + t * xs, dt), t, v, j, largest)) rank++;
    if (rank >= k) return;
    src = xb + j * xs;
    dst = voff + o[0] + rank * vs;
    switch (esize) { /* the element itself, NaN payload and sign included */
        case 2: ((XK_GLOBAL xk_u16 *)vals)[dst] = ((XK_GLOBAL const xk_u16 *)x)[src]; break;
        case 4: ((XK_GLOBAL xk_u32 *)vals)[dst] = ((XK_GLOBAL const xk_u32 *)x)[src]; break;
        default: ((XK_GLOBAL xk_u64 *)vals)[dst] = ((XK_GLOBAL const xk_u64 *)x)[src]; break;
    }
    dst = ioff + o[1] + rank * is;
    if (idt == XK_DT_I32)
        ((XK_GLOBAL int *)idx)[dst] = (int)j;
    else
        ((XK_GLOBAL xk_i64 *)idx)[dst] = j;
}

/* ------------------------------------------------------------------ block-quantized weights */

/* Block-quantized dtypes (llama.cpp's layouts, backends/common/xhal_quant.h): q8_0, q4_0
 * (32 elements in 34 / 18 bytes), q4_k, q6_k (256 elements in 144 / 210 bytes). A tensor
 * arrives as a byte buffer plus a byte offset (any byte: blocks are read byte-wise) and
 * strides in elements; every row (innermost axis) is a run of whole contiguous blocks
 * (xhal_backend.h). Values are decoded exactly as the reference does, in f32 with every
 * product and difference rounded once (never fused: XK_QMUL), so dequantization is
 * bit-exact with xhal_quant.h; matmul accumulates in f32. */
#define XK_DT_Q8_0 16
#define XK_DT_Q4_0 17
#define XK_DT_Q4_K 18
#define XK_DT_Q6_K 19
#define XK_QWG 64 /* work group of xk_qgemv (one reduction) and xk_qmm's tile edge is XK_MM_TS */

#ifdef XK_TARGET_OPENCL
#pragma OPENCL FP_CONTRACT OFF
#define XK_QROUNDF(x) round(x)
#define XK_QMUL(a, b) ((a) * (b))
#elif defined(XK_TARGET_CUDA)
#define XK_QROUNDF(x) roundf(x)
#define XK_QMUL(a, b) __fmul_rn((a), (b)) /* never contracted into an FMA */
#else
#define XK_QROUNDF(x) roundf(x)
#define XK_QMUL(a, b) ((a) * (b))
#endif

XK_INLINE int xk_q_block_size(int qdt) { return qdt >= XK_DT_Q4_K ? 256 : 32; }
XK_INLINE int xk_q_block_bytes(int qdt)
{
    return qdt == XK_DT_Q8_0 ? 34 : (qdt == XK_DT_Q4_0 ? 18 : (qdt == XK_DT_Q4_K ? 144 : 210));
}

XK_INLINE float xk_q_f16(XK_GLOBAL const xk_u8 *p) { return xk_f16_to_f32((xk_u16)(p[0] | (p[1] << 8))); }

/* q4_k: 6-bit scale and min of sub-block j (0..7) from the 12 scale bytes q */
XK_INLINE void xk_q4k_scale_min(int j, XK_GLOBAL const xk_u8 *q, int *sc, int *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* Element e of the block at blk, exactly as the reference dequantizes it. */
XK_INLINE float xk_q_elem(int qdt, XK_GLOBAL const xk_u8 *blk, int e)
{
    if (qdt == XK_DT_Q8_0) return XK_QMUL((float)(xk_i8)blk[2 + e], xk_q_f16(blk));
    if (qdt == XK_DT_Q4_0) {
        int c = e < 16 ? (blk[2 + e] & 0xF) : (blk[2 + e - 16] >> 4);
        return XK_QMUL((float)(c - 8), xk_q_f16(blk));
    }
    if (qdt == XK_DT_Q4_K) {
        int g = e / 64, l = e % 64, sc, m, c;
        float d1, m1, p;
        xk_q4k_scale_min(2 * g + (l >= 32 ? 1 : 0), blk + 4, &sc, &m);
        c = blk[16 + 32 * g + (l % 32)];
        c = l < 32 ? (c & 0xF) : (c >> 4);
        d1 = XK_QMUL(xk_q_f16(blk), (float)sc);
        m1 = XK_QMUL(xk_q_f16(blk + 2), (float)m);
        p = XK_QMUL(d1, (float)c);
        return p - m1;
    }
    {
        /* q6_k: halves of 128; in each, four quarters of 32 (ql low, ql+32 low, ql high,
         * ql+32 high nibbles; two bits each from qh), a scale per 16 elements */
        int n = e / 128, r = e % 128, qu = r / 32, l = r % 32;
        XK_GLOBAL const xk_u8 *ql = blk + 64 * n, *qh = blk + 128 + 32 * n;
        int lo = (qu & 1) ? ql[l + 32] : ql[l];
        int c = ((qu & 2) ? (lo >> 4) : (lo & 0xF)) | (((qh[l] >> (2 * qu)) & 3) << 4);
        float s = XK_QMUL(xk_q_f16(blk + 208), (float)(xk_i8)blk[192 + 8 * n + l / 16 + 2 * qu]);
        return XK_QMUL(s, (float)(c - 32));
    }
}

/* out = dequantized src, elementwise. nd: the row dims (all but the innermost), slot 0 out,
 * slot 1 src (strides in elements); inner: innermost size (whole blocks), os: out's
 * innermost stride. One work item per element. */
XK_KERNEL void xk_qdequant(int qdt, XK_GLOBAL xk_u8 *out, xk_i64 ooff, int odt, XK_GLOBAL const xk_u8 *src,
                           xk_i64 sbyte, xk_i64 inner, xk_i64 os, xk_i64 n, xk_nd nd)
{
    xk_i64 i = XK_GLOBAL_ID(0);
    xk_i64 o[2], lin;
    int bs = xk_q_block_size(qdt);
    if (i >= n) return;
    xk_nd_offsets(&nd, i / inner, 2, o);
    lin = o[1] + i % inner; /* src row starts on a block: o[1] is a multiple of bs */
    xk_st(out, ooff + o[0] + (i % inner) * os, odt,
          (xk_real)xk_q_elem(qdt, src + sbyte + (lin / bs) * xk_q_block_bytes(qdt), (int)(lin % bs)));
}

/* Blocks copied as they are (same block dtype): one work item per byte of a row's blocks. */
XK_KERNEL void xk_qcopy(XK_GLOBAL xk_u8 *out, xk_i64 obyte, XK_GLOBAL const xk_u8 *src, xk_i64 sbyte, int qdt,
                        xk_i64 row_bytes, xk_i64 n, xk_nd nd)
{
    xk_i64 i = XK_GLOBAL_ID(0);
    xk_i64 o[2];
    xk_i64 bs = xk_q_block_size(qdt), bb = xk_q_block_bytes(qdt);
    if (i >= n) return;
    xk_nd_offsets(&nd, i / row_bytes, 2, o);
    out[obyte + o[0] / bs * bb + i % row_bytes] = src[sbyte + o[1] / bs * bb + i % row_bytes];
}

/* a / b correctly rounded: through double where the device has it (double rounding is
 * innocuous for a quotient of floats), as the reference's C division. */
XK_INLINE float xk_q_div(float a, float b)
{
#ifdef XK_HAS_FP64
    return (float)((double)a / (double)b);
#else
    return a / b;
#endif
}

/* f32/f16/bf16 -> q8_0 or q4_0 (llama.cpp's quantize_row_*_ref, byte for byte). One work item
 * per block of 32. nd: row dims, slot 0 out (elements), slot 1 src; inner: innermost size;
 * ss: src's innermost stride. */
XK_KERNEL void xk_qquant(int qdt, XK_GLOBAL xk_u8 *out, xk_i64 obyte, XK_GLOBAL const xk_u8 *src, xk_i64 soff, int sdt,
                         xk_i64 inner, xk_i64 ss, xk_i64 nblocks, xk_nd nd)
{
    xk_i64 i = XK_GLOBAL_ID(0);
    xk_i64 o[2], j0, sb;
    XK_GLOBAL xk_u8 *b;
    float x[32], amax = 0.0f, mx = 0.0f, d, id;
    int j;
    xk_u16 h;
    if (i >= nblocks) return;
    xk_nd_offsets(&nd, (i * 32) / inner, 2, o);
    j0 = (i * 32) % inner;
    sb = soff + o[1] + j0 * ss;
    b = out + obyte + (o[0] + j0) / 32 * (qdt == XK_DT_Q8_0 ? 34 : 18);
    for (j = 0; j < 32; j++) {
        float a;
        x[j] = (float)xk_ld(src, sb + j * ss, sdt);
        a = XK_FABSF(x[j]);
        if (amax < a) {
            amax = a;
            mx = x[j];
        }
    }
    if (qdt == XK_DT_Q8_0) {
        d = xk_q_div(amax, 127.0f);
        id = d != 0.0f ? xk_q_div(1.0f, d) : 0.0f;
        h = xk_f32_to_f16(d);
        b[0] = (xk_u8)(h & 0xffu);
        b[1] = (xk_u8)(h >> 8);
        for (j = 0; j < 32; j++) {
            float r = XK_QROUNDF(XK_QMUL(x[j], id));
            int q = r >= 127.0f ? 127 : (r >= -128.0f ? (int)r : (r < 0.0f ? -128 : 0));
            b[2 + j] = (xk_u8)(q & 0xff);
        }
    } else {
        d = xk_q_div(mx, -8.0f);
        id = d != 0.0f ? xk_q_div(1.0f, d) : 0.0f;
        h = xk_f32_to_f16(d);
        b[0] = (xk_u8)(h & 0xffu);
        b[1] = (xk_u8)(h >> 8);
        for (j = 0; j < 16; j++) {
            float s0 = XK_QMUL(x[j], id) + 8.5f, s1 = XK_QMUL(x[j + 16], id) + 8.5f;
            int q0 = s0 >= 15.0f ? 15 : (s0 >= 0.0f ? (int)s0 : 0);
            int q1 = s1 >= 15.0f ? 15 : (s1 >= 0.0f ? (int)s1 : 0);
            b[2 + j] = (xk_u8)(q0 | (q1 << 4));
        }
    }
}

/* Dot product of 32 consecutive weights starting at element e0 (a multiple of 32) of the
 * block at blk with a[k0 + j * ak], j < 32: f32 products summed in f32, the block's scales
 * applied once per group of 32 (q8_0, q4_0: d * sum(q x); k-quants: per sub-block). */
XK_INLINE float xk_q_dot32(int qdt, XK_GLOBAL const xk_u8 *blk, int e0, XK_GLOBAL const xk_u8 *a, xk_i64 k0, xk_i64 ak,
                           int adt)
{
    float s = 0.0f, t = 0.0f;
    int j;
    if (qdt == XK_DT_Q8_0) {
        for (j = 0; j < 32; j++) s += (float)(xk_i8)blk[2 + j] * (float)xk_ld(a, k0 + j * ak, adt);
        return xk_q_f16(blk) * s;
    }
    if (qdt == XK_DT_Q4_0) {
        for (j = 0; j < 16; j++) {
            int c = blk[2 + j];
            s += (float)((c & 0xF) - 8) * (float)xk_ld(a, k0 + j * ak, adt);
            s += (float)((c >> 4) - 8) * (float)xk_ld(a, k0 + (j + 16) * ak, adt);
        }
        return xk_q_f16(blk) * s;
    }
    if (qdt == XK_DT_Q4_K) {
        /* sub-block e0/32: 32 codes in the low (even sub-block) or high nibbles of 32 bytes */
        int sb = e0 / 32, sc, m, hi = sb & 1;
        XK_GLOBAL const xk_u8 *q = blk + 16 + 32 * (sb / 2);
        xk_q4k_scale_min(sb, blk + 4, &sc, &m);
        for (j = 0; j < 32; j++) {
            float x = (float)xk_ld(a, k0 + j * ak, adt);
            s += (float)(hi ? (q[j] >> 4) : (q[j] & 0xF)) * x;
            t += x;
        }
        return xk_q_f16(blk) * (float)sc * s - xk_q_f16(blk + 2) * (float)m * t;
    }
    {
        int n = e0 / 128, qu = (e0 % 128) / 32;
        XK_GLOBAL const xk_u8 *ql = blk + 64 * n + ((qu & 1) ? 32 : 0), *qh = blk + 128 + 32 * n;
        XK_GLOBAL const xk_u8 *sc = blk + 192 + 8 * n + 2 * qu;
        for (j = 0; j < 32; j++) {
            int c = ((qu & 2) ? (ql[j] >> 4) : (ql[j] & 0xF)) | (((qh[j] >> (2 * qu)) & 3) << 4);
            float p = (float)(c - 32) * (float)xk_ld(a, k0 + j * ak, adt);
            if (j < 16)
                s += p;
            else
                t += p;
        }
        return xk_q_f16(blk + 208) * ((float)(xk_i8)sc[0] * s + (float)(xk_i8)sc[1] * t);
    }
}

/* Decode-friendly product (few rows of a): one work group of XK_QWG items per output element
 * (column n of row m of batch bi); the items walk the column's blocks in groups of 32
 * weights, neighbours reading neighbouring bytes, and sum in f32 (then a tree). Grid:
 * dim 0 = N columns (one group each), dim 1 = M * batches. b: K stride 1, N stride b_n,
 * byte offset bbyte; nd: batch dims, slot 0 out, 1 a, 2 b (elements). */
XK_KERNEL void xk_qgemv(int qdt, int dt, XK_GLOBAL xk_u8 *out, xk_i64 ooff, XK_GLOBAL const xk_u8 *a, xk_i64 aoff,
                        XK_GLOBAL const xk_u8 *b, xk_i64 bbyte, xk_i64 M, xk_i64 K, xk_i64 a_m, xk_i64 a_k, xk_i64 b_n,
                        xk_i64 o_m, xk_i64 o_n, float alpha, float beta, xk_nd nd)
{
    XK_LOCAL xk_real red[XK_QWG];
    xk_i64 lid = XK_LOCAL_ID(0);
    xk_i64 n = XK_GROUP_ID(0), mb = XK_GROUP_ID(1);
    xk_i64 m = mb % M, bi = mb / M;
    xk_i64 o[3], col, u, units = K / 32, bs = xk_q_block_size(qdt), bb = xk_q_block_bytes(qdt);
    float acc = 0.0f, r;
    xk_nd_offsets(&nd, bi, 3, o);
    col = o[2] + n * b_n; /* element offset of b[.., 0, n]: a multiple of the block size */
    for (u = lid; u < units; u += XK_QWG) {
        xk_i64 e = col + u * 32;
        acc +=
            xk_q_dot32(qdt, b + bbyte + (e / bs) * bb, (int)(e % bs), a, aoff + o[1] + m * a_m + u * 32 * a_k, a_k, dt);
    }
    r = (float)xk_wg_sum(red, lid, XK_QWG, (xk_real)acc);
    if (lid == 0) {
        xk_i64 oi = ooff + o[0] + m * o_m + n * o_n;
        float v = alpha * r;
        if (beta != 0.0f) v += beta * (float)xk_ld(out, oi, dt);
        xk_st(out, oi, dt, (xk_real)v);
    }
}

/* Decode product for CPU-type devices (few rows of a), without barriers: one item per output
 * element, walking the whole column's blocks itself (xk_qgemv's group reduction costs a
 * barrier per output on devices whose items run as loops). Grid: dim 0 = N columns (any group
 * size; items past N return), dim 1 = M * batches. Arguments as xk_qmm. */
XK_KERNEL void xk_qgemv_cpu(int qdt, int dt, XK_GLOBAL xk_u8 *out, xk_i64 ooff, XK_GLOBAL const xk_u8 *a, xk_i64 aoff,
                            XK_GLOBAL const xk_u8 *b, xk_i64 bbyte, xk_i64 M, xk_i64 N, xk_i64 K, xk_i64 a_m,
                            xk_i64 a_k, xk_i64 b_n, xk_i64 o_m, xk_i64 o_n, float alpha, float beta, xk_nd nd)
{
    xk_i64 n = XK_GLOBAL_ID(0), mb = XK_GROUP_ID(1);
    xk_i64 m = mb % M, bi = mb / M;
    xk_i64 o[3], col, u, units = K / 32, bs = xk_q_block_size(qdt), bb = xk_q_block_bytes(qdt), arow;
    float acc = 0.0f, v;
    if (n >= N) return;
    xk_nd_offsets(&nd, bi, 3, o);
    col = o[2] + n * b_n; /* element offset of b[.., 0, n]: a multiple of the block size */
    arow = aoff + o[1] + m * a_m;
    for (u = 0; u < units; u++) {
        xk_i64 e = col + u * 32;
        acc += xk_q_dot32(qdt, b + bbyte + (e / bs) * bb, (int)(e % bs), a, arow + u * 32 * a_k, a_k, dt);
    }
    {
        xk_i64 oi = ooff + o[0] + m * o_m + n * o_n;
        v = alpha * acc;
        if (beta != 0.0f) v += beta * (float)xk_ld(out, oi, dt);
        xk_st(out, oi, dt, (xk_real)v);
    }
}

/* Tiled product for more rows: groups of XK_MM_TS x XK_MM_TS items (dim 0 columns, dim 1
 * rows, dim 2 batch), over K in steps of 32; each step dequantizes a 32 x XK_MM_TS tile of
 * b into local memory (bit-exact values) and multiplies it with a 16 x 32 tile of a, in f32.
 * Arguments as xk_qgemv. */
XK_KERNEL void xk_qmm(int qdt, int dt, XK_GLOBAL xk_u8 *out, xk_i64 ooff, XK_GLOBAL const xk_u8 *a, xk_i64 aoff,
                      XK_GLOBAL const xk_u8 *b, xk_i64 bbyte, xk_i64 M, xk_i64 N, xk_i64 K, xk_i64 a_m, xk_i64 a_k,
                      xk_i64 b_n, xk_i64 o_m, xk_i64 o_n, float alpha, float beta, xk_nd nd)
{
    XK_LOCAL float ta[XK_MM_TS][33];
    XK_LOCAL float tb[XK_MM_TS][33]; /* tb[column][k] */
    xk_i64 tx = XK_LOCAL_ID(0), ty = XK_LOCAL_ID(1), lid = ty * XK_MM_TS + tx;
    xk_i64 col = XK_GROUP_ID(0) * XK_MM_TS + tx, rw = XK_GROUP_ID(1) * XK_MM_TS + ty;
    xk_i64 o[3], k0, bs = xk_q_block_size(qdt), bb = xk_q_block_bytes(qdt);
    float acc = 0.0f;
    int e, kk;
    xk_nd_offsets(&nd, XK_GROUP_ID(2), 3, o);
    for (k0 = 0; k0 < K; k0 += 32) {
        for (e = 0; e < 2; e++) { /* 256 items fill 16 x 32 of a and of b */
            xk_i64 idx = lid + e * XK_MM_TS * XK_MM_TS, r = idx / 32, k = idx % 32;
            xk_i64 ar = XK_GROUP_ID(1) * XK_MM_TS + r, bc = XK_GROUP_ID(0) * XK_MM_TS + r;
            ta[r][k] = ar < M ? (float)xk_ld(a, aoff + o[1] + ar * a_m + (k0 + k) * a_k, dt) : 0.0f;
            if (bc < N) {
                xk_i64 el = o[2] + bc * b_n + k0 + k;
                tb[r][k] = xk_q_elem(qdt, b + bbyte + (el / bs) * bb, (int)(el % bs));
            } else
                tb[r][k] = 0.0f;
        }
        XK_BARRIER();
        for (kk = 0; kk < 32; kk++) acc += ta[ty][kk] * tb[tx][kk];
        XK_BARRIER();
    }
    if (rw < M && col < N) {
        xk_i64 oi = ooff + o[0] + rw * o_m + col * o_n;
        float v = alpha * acc;
        if (beta != 0.0f) v += beta * (float)xk_ld(out, oi, dt);
        xk_st(out, oi, dt, (xk_real)v);
    }
}
