/*
 * prelude_opencl.h - the portable kernel dialect on OpenCL C 1.2.
 *
 * Prepended (with xk_common.h) to every program the OpenCL backend builds, including
 * custom kernels given to xhal_program_create. See README.md for the dialect.
 * Build-time macros the backend may define:
 *   XK_REAL_F64   compute type xk_real is double (the f64 variant of the op program)
 *   XK_HAS_FP64   the device has cl_khr_fp64 (double may be used for side computations)
 *   XK_HAS_FP16   the device has cl_khr_fp16 (not needed: f16 is storage-only here)
 */
#ifndef XK_PRELUDE_OPENCL_H
#define XK_PRELUDE_OPENCL_H

#define XK_TARGET_OPENCL 1

#if defined(XK_REAL_F64) && !defined(XK_HAS_FP64)
#define XK_HAS_FP64 1
#endif
#ifdef XK_HAS_FP64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
#endif

/* Qualifiers */
#define XK_KERNEL __kernel
#define XK_GLOBAL __global
#define XK_LOCAL __local     /* declares a work-group array (kernel scope only) */
#define XK_LOCAL_PTR __local /* qualifies a pointer parameter into local memory */
#define XK_INLINE inline
#define XK_BARRIER() barrier(CLK_LOCAL_MEM_FENCE | CLK_GLOBAL_MEM_FENCE)

/* Work-item geometry (d in 0..2) */
#define XK_GLOBAL_ID(d) ((xk_i64)get_global_id(d))
#define XK_LOCAL_ID(d) ((xk_i64)get_local_id(d))
#define XK_GROUP_ID(d) ((xk_i64)get_group_id(d))
#define XK_LOCAL_SIZE(d) ((xk_i64)get_local_size(d))
#define XK_NUM_GROUPS(d) ((xk_i64)get_num_groups(d))

/* Fixed-width scalar types */
typedef char xk_i8;
typedef uchar xk_u8;
typedef short xk_i16;
typedef ushort xk_u16;
typedef int xk_i32;
typedef uint xk_u32;
typedef long xk_i64;
typedef ulong xk_u64;

/* Bit casts */
#define XK_FLOAT_AS_U32(f) as_uint(f)
#define XK_U32_AS_FLOAT(u) as_float(u)

/* f32 math */
#define XK_EXPF(x) exp(x)
#define XK_LOGF(x) log(x)
#define XK_SQRTF(x) sqrt(x)
#define XK_RSQRTF(x) (1.0f / sqrt(x))
#define XK_TANHF(x) tanh(x)
#define XK_ERFF(x) erf(x)
#define XK_FABSF(x) fabs(x)
#define XK_POWF(x, y) pow(x, y)
#define XK_SINF(x) sin(x)
#define XK_COSF(x) cos(x)
#define XK_FMAXF(x, y) fmax(x, y)
#define XK_FMINF(x, y) fmin(x, y)
#define XK_ISNANF(x) isnan(x)
#define XK_INFINITY_F INFINITY

#ifdef XK_HAS_FP64
/* f64 math (only with XK_HAS_FP64) */
#define XK_EXP(x) exp(x)
#define XK_LOG(x) log(x)
#define XK_SQRT(x) sqrt(x)
#define XK_TANH(x) tanh(x)
#define XK_ERF(x) erf(x)
#define XK_FABS(x) fabs(x)
#define XK_POW(x, y) pow(x, y)
#define XK_SIN(x) sin(x)
#define XK_COS(x) cos(x)
#define XK_ISNAN(x) isnan(x)
#endif

#endif /* XK_PRELUDE_OPENCL_H */
