/*
 * prelude_cuda.h - the portable kernel dialect on CUDA C++ (nvcc, NVRTC) and HIP
 * (hipcc, hiprtc). Compile a dialect file as:
 *     nvcc -x cu -include prelude_cuda.h -include xk_common.h xk_ops.cl
 * (or prepend both headers to the source for NVRTC). Kernels get C linkage, so their
 * names are the same as in OpenCL. Define XK_REAL_F64 for the f64 variant.
 */
#ifndef XK_PRELUDE_CUDA_H
#define XK_PRELUDE_CUDA_H

#define XK_TARGET_CUDA 1
#define XK_HAS_FP64 1 /* every CUDA/HIP device has double arithmetic */

#if defined(__HIPCC__) || defined(__HIP__)
#include <hip/hip_runtime.h>
#endif

#define XK_KERNEL extern "C" __global__
#define XK_GLOBAL
#define XK_LOCAL __shared__
#define XK_LOCAL_PTR
#define XK_INLINE __device__ __forceinline__
#define XK_BARRIER() __syncthreads()

__device__ __forceinline__ long long xk_cuda_dim_(unsigned x, unsigned y, unsigned z, int d)
{
    return d == 0 ? (long long)x : (d == 1 ? (long long)y : (long long)z);
}
#define XK_LOCAL_ID(d) xk_cuda_dim_(threadIdx.x, threadIdx.y, threadIdx.z, (d))
#define XK_GROUP_ID(d) xk_cuda_dim_(blockIdx.x, blockIdx.y, blockIdx.z, (d))
#define XK_LOCAL_SIZE(d) xk_cuda_dim_(blockDim.x, blockDim.y, blockDim.z, (d))
#define XK_NUM_GROUPS(d) xk_cuda_dim_(gridDim.x, gridDim.y, gridDim.z, (d))
#define XK_GLOBAL_ID(d) (XK_GROUP_ID(d) * XK_LOCAL_SIZE(d) + XK_LOCAL_ID(d))

typedef signed char xk_i8;
typedef unsigned char xk_u8;
typedef short xk_i16;
typedef unsigned short xk_u16;
typedef int xk_i32;
typedef unsigned int xk_u32;
typedef long long xk_i64;
typedef unsigned long long xk_u64;

#define XK_FLOAT_AS_U32(f) __float_as_uint(f)
#define XK_U32_AS_FLOAT(u) __uint_as_float(u)

#define XK_EXPF(x) expf(x)
#define XK_LOGF(x) logf(x)
#define XK_SQRTF(x) sqrtf(x)
#define XK_RSQRTF(x) (1.0f / sqrtf(x))
#define XK_TANHF(x) tanhf(x)
#define XK_ERFF(x) erff(x)
#define XK_FABSF(x) fabsf(x)
#define XK_POWF(x, y) powf(x, y)
#define XK_SINF(x) sinf(x)
#define XK_COSF(x) cosf(x)
#define XK_FMAXF(x, y) fmaxf(x, y)
#define XK_FMINF(x, y) fminf(x, y)
#define XK_ISNANF(x) isnan(x)
#define XK_INFINITY_F __int_as_float(0x7f800000)

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

#endif /* XK_PRELUDE_CUDA_H */
