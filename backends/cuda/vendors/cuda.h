/*
 * vendors/cuda.h - mapping of the CUDA-dialect backend onto NVIDIA's CUDA driver API.
 *
 * A mapping header defines, for one CUDA-dialect stack:
 *  - the plugin's name, vendor and driver library (overridable by an environment variable);
 *  - XCU_SYM_<name>: the exported symbol behind every entry of XCU_DRIVER_SYMBOLS;
 *  - XCU_VENDOR_SYMBOLS(X): the calls whose signatures differ between stacks, with the
 *    XCU_GET_ERROR_NAME / XCU_COPY_PEER adapters that call them;
 *  - device attribute numbers, the minimum driver version, how an arch is named;
 *  - the optional libraries (BLAS, runtime compiler) and their symbol names.
 * A new stack (e.g. Moore Threads MUSA) is one more header like this one plus a CMake option.
 */
#ifndef XCU_VENDOR_CUDA_H
#define XCU_VENDOR_CUDA_H

#include <stdio.h>

#define XCU_BACKEND_NAME "cuda"
#define XCU_VENDOR_NAME "NVIDIA"
#define XCU_DRIVER_LIBRARY "libcuda.so.1"
#define XCU_DRIVER_LIBRARIES \
    {                        \
        XCU_DRIVER_LIBRARY   \
    }
#define XCU_DRIVER_LIBRARY_ENV "XHAL_CUDA_LIBRARY"
#define XCU_DRIVER_LABEL "CUDA driver"

/* The embedded fatbin is built by the toolkit CMake found (XCU_TOOLKIT_VERSION, e.g.
 * 13000); the driver must be at least that major version to load its code (CUDA minor
 * version compatibility). */
#ifndef XCU_TOOLKIT_VERSION
#define XCU_TOOLKIT_VERSION 13000
#endif
#define XCU_MIN_DRIVER_VERSION ((XCU_TOOLKIT_VERSION / 1000) * 1000)

#define XCU_SYM_cuInit "cuInit"
#define XCU_SYM_cuDriverGetVersion "cuDriverGetVersion"
#define XCU_SYM_cuDeviceGetCount "cuDeviceGetCount"
#define XCU_SYM_cuDeviceGet "cuDeviceGet"
#define XCU_SYM_cuDeviceGetName "cuDeviceGetName"
#define XCU_SYM_cuDeviceGetAttribute "cuDeviceGetAttribute"
#define XCU_SYM_cuDeviceTotalMem "cuDeviceTotalMem_v2"
#define XCU_SYM_cuDeviceGetPCIBusId "cuDeviceGetPCIBusId"
#define XCU_SYM_cuDeviceCanAccessPeer "cuDeviceCanAccessPeer"
#define XCU_SYM_cuDevicePrimaryCtxRetain "cuDevicePrimaryCtxRetain"
#define XCU_SYM_cuDevicePrimaryCtxRelease "cuDevicePrimaryCtxRelease_v2"
#define XCU_SYM_cuCtxSetCurrent "cuCtxSetCurrent"
#define XCU_SYM_cuCtxEnablePeerAccess "cuCtxEnablePeerAccess"
#define XCU_SYM_cuMemGetInfo "cuMemGetInfo_v2"
#define XCU_SYM_cuMemAlloc "cuMemAlloc_v2"
#define XCU_SYM_cuMemFree "cuMemFree_v2"
#define XCU_SYM_cuMemHostAlloc "cuMemHostAlloc"
#define XCU_SYM_cuMemFreeHost "cuMemFreeHost"
#define XCU_SYM_cuMemcpyHtoDAsync "cuMemcpyHtoDAsync_v2"
#define XCU_SYM_cuMemcpyDtoHAsync "cuMemcpyDtoHAsync_v2"
#define XCU_SYM_cuMemcpyDtoDAsync "cuMemcpyDtoDAsync_v2"
#define XCU_SYM_cuStreamCreate "cuStreamCreate"
#define XCU_SYM_cuStreamDestroy "cuStreamDestroy_v2"
#define XCU_SYM_cuStreamSynchronize "cuStreamSynchronize"
#define XCU_SYM_cuStreamWaitEvent "cuStreamWaitEvent"
#define XCU_SYM_cuEventCreate "cuEventCreate"
#define XCU_SYM_cuEventDestroy "cuEventDestroy_v2"
#define XCU_SYM_cuEventRecord "cuEventRecord"
#define XCU_SYM_cuEventSynchronize "cuEventSynchronize"
#define XCU_SYM_cuEventElapsedTime "cuEventElapsedTime"
#define XCU_SYM_cuModuleLoadData "cuModuleLoadData"
#define XCU_SYM_cuModuleUnload "cuModuleUnload"
#define XCU_SYM_cuModuleGetFunction "cuModuleGetFunction"
#define XCU_SYM_cuLaunchKernel "cuLaunchKernel"

#define XCU_VENDOR_SYMBOLS(X)                                                                        \
    X(xcu_result, cuGetErrorName, (xcu_result error, const char **name))                             \
    X(xcu_result, cuGetErrorString, (xcu_result error, const char **text))                           \
    X(xcu_result, cuMemcpyPeerAsync,                                                                 \
      (xcu_deviceptr dst, xcu_context dst_ctx, xcu_deviceptr src, xcu_context src_ctx, size_t bytes, \
       xcu_stream stream))
#define XCU_SYM_cuGetErrorName "cuGetErrorName"
#define XCU_SYM_cuGetErrorString "cuGetErrorString"
#define XCU_SYM_cuMemcpyPeerAsync "cuMemcpyPeerAsync"

/* xcu_result XCU_GET_ERROR_NAME(fns, xcu_result r, const char **out) */
#define XCU_GET_ERROR_NAME(fns, r, out) ((fns)->cuGetErrorName((r), (out)))
#define XCU_GET_ERROR_STRING(fns, r, out) ((fns)->cuGetErrorString((r), (out)))
#define XCU_COPY_PEER(fns, dst, dst_dev, dst_ctx, src, src_dev, src_ctx, bytes, stream) \
    ((fns)->cuMemcpyPeerAsync((dst), (dst_ctx), (src), (src_ctx), (bytes), (stream)))

#define XCU_ATTR_MAX_THREADS_PER_BLOCK 1
#define XCU_ATTR_MAX_SHARED_PER_BLOCK 8
#define XCU_ATTR_WARP_SIZE 10
#define XCU_ATTR_SM_COUNT 16
#define XCU_ATTR_CC_MAJOR 75
#define XCU_ATTR_CC_MINOR 76
#define XCU_ATTR_ARCH 0 /* no separate arch attribute: named from the compute capability */

#define XCU_HOSTALLOC_PORTABLE 0x1u
#define XCU_STREAM_NON_BLOCKING 0x1u
#define XCU_EVENT_DEFAULT 0x0u

/* "sm_90" from compute capability 9.0. */
static inline void xcu_vendor_arch(char *out, size_t n, int major, int minor, int arch_attr)
{
    (void)arch_attr;
    snprintf(out, n, "sm_%d%d", major, minor);
}

static inline const char *xcu_vendor_family(int major, int minor, int arch_attr)
{
    (void)arch_attr;
    switch (major) {
        case 5: return "Maxwell";
        case 6: return "Pascal";
        case 7: return minor >= 5 ? "Turing" : "Volta";
        case 8: return minor >= 9 ? "Ada" : "Ampere";
        case 9: return "Hopper";
        case 10:
        case 11:
        case 12: return "Blackwell";
        default: return major > 12 ? "NVIDIA (newer than Blackwell)" : "NVIDIA (pre-Maxwell)";
    }
}

/* Vendor shown in device info. */
static inline const char *xcu_vendor_vendor(const char *library, const char *device_name)
{
    (void)library;
    (void)device_name;
    return XCU_VENDOR_NAME;
}

/* Driver version 12040 -> "12.4". */
static inline void xcu_vendor_driver_version(char *out, size_t n, int v)
{
    snprintf(out, n, "CUDA %d.%d", v / 1000, (v % 1000) / 10);
}

/* ---- optional libraries ---- */
#define XCU_BLAS_LIBRARY_ENV "XHAL_CUDA_CUBLAS_LIBRARY"
#define XCU_BLAS_LIBRARIES                                                      \
    {                                                                           \
        "libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so" \
    }
#define XCU_RTC_LIBRARY_ENV "XHAL_CUDA_NVRTC_LIBRARY"
#define XCU_RTC_LIBRARIES                                                     \
    {                                                                         \
        "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so" \
    }
#define XCU_RTC_NAME "NVRTC"
#define XCU_RTC_SYM_CreateProgram "nvrtcCreateProgram"
#define XCU_RTC_SYM_DestroyProgram "nvrtcDestroyProgram"
#define XCU_RTC_SYM_CompileProgram "nvrtcCompileProgram"
#define XCU_RTC_SYM_GetProgramLogSize "nvrtcGetProgramLogSize"
#define XCU_RTC_SYM_GetProgramLog "nvrtcGetProgramLog"
#define XCU_RTC_SYM_GetCodeSize "nvrtcGetCUBINSize"
#define XCU_RTC_SYM_GetCode "nvrtcGetCUBIN"
#define XCU_RTC_SYM_GetErrorString "nvrtcGetErrorString"
/* Option that selects the device's architecture (followed by its arch, e.g. sm_90):
 * real machine code for it. */
#define XCU_RTC_ARCH_OPTION "--gpu-architecture="

/* Collective library (xcu_coll.c): the same symbols and values in NCCL and RCCL. */
#define XCU_COLL_NAME "nccl"
#define XCU_COLL_LIBRARY_ENV "XHAL_NCCL_LIBRARY"
#define XCU_COLL_LIBRARIES           \
    {                                \
        "libnccl.so.2", "libnccl.so" \
    }
/* 2.10: the first version with bfloat16 */
#define XCU_COLL_MIN_VERSION 21000

#endif
