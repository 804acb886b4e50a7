/*
 * vendors/hip.h - mapping of the CUDA-dialect backend onto HIP (AMD ROCm; Hygon DTK,
 * whose runtime is libgalaxyhip.so). See vendors/cuda.h for what a mapping defines.
 *
 * Every call below has the CUDA driver signature except the three in XCU_VENDOR_SYMBOLS:
 * hipGetErrorName/hipGetErrorString return the string, and hipMemcpyPeerAsync takes
 * device ordinals instead of contexts. hipDeviceptr_t is void*, passed like CUdeviceptr
 * on LP64 targets. Attribute numbers are those of hipDeviceAttribute_t in ROCm 5.x
 * headers (hip_runtime_api.h), which ROCm 6 keeps for the CUDA-compatible range.
 */
#ifndef XCU_VENDOR_HIP_H
#define XCU_VENDOR_HIP_H

#include <stdio.h>
#include <string.h>

#define XCU_BACKEND_NAME "hip"
#define XCU_VENDOR_NAME "AMD"
/* ROCm installs libamdhip64.so; Debian/Ubuntu ship only the versioned names at run time;
 * Hygon's DTK ships libgalaxyhip.so. XHAL_HIP_LIBRARY names one explicitly. */
#define XCU_DRIVER_LIBRARY "libamdhip64.so"
#define XCU_DRIVER_LIBRARIES                                                                                         \
    {                                                                                                                \
        "libamdhip64.so", "libamdhip64.so.6", "libamdhip64.so.5", "libgalaxyhip.so", "/opt/rocm/lib/libamdhip64.so", \
            "/opt/dtk/lib/libgalaxyhip.so"                                                                           \
    }
#define XCU_DRIVER_LIBRARY_ENV "XHAL_HIP_LIBRARY"
#define XCU_DRIVER_LABEL "HIP runtime"

/* hipDriverGetVersion: major * 10^7 + minor * 10^5 + patch. ROCm 5.0 or newer. */
#define XCU_MIN_DRIVER_VERSION 50000000

#define XCU_SYM_cuInit "hipInit"
#define XCU_SYM_cuDriverGetVersion "hipDriverGetVersion"
#define XCU_SYM_cuDeviceGetCount "hipGetDeviceCount"
#define XCU_SYM_cuDeviceGet "hipDeviceGet"
#define XCU_SYM_cuDeviceGetName "hipDeviceGetName"
#define XCU_SYM_cuDeviceGetAttribute "hipDeviceGetAttribute"
#define XCU_SYM_cuDeviceTotalMem "hipDeviceTotalMem"
#define XCU_SYM_cuDeviceGetPCIBusId "hipDeviceGetPCIBusId"
#define XCU_SYM_cuDeviceCanAccessPeer "hipDeviceCanAccessPeer"
#define XCU_SYM_cuDevicePrimaryCtxRetain "hipDevicePrimaryCtxRetain"
#define XCU_SYM_cuDevicePrimaryCtxRelease "hipDevicePrimaryCtxRelease"
#define XCU_SYM_cuCtxSetCurrent "hipCtxSetCurrent"
#define XCU_SYM_cuCtxEnablePeerAccess "hipCtxEnablePeerAccess"
#define XCU_SYM_cuMemGetInfo "hipMemGetInfo"
#define XCU_SYM_cuMemAlloc "hipMalloc"
#define XCU_SYM_cuMemFree "hipFree"
#define XCU_SYM_cuMemHostAlloc "hipHostMalloc"
#define XCU_SYM_cuMemFreeHost "hipHostFree"
#define XCU_SYM_cuMemcpyHtoDAsync "hipMemcpyHtoDAsync"
#define XCU_SYM_cuMemcpyDtoHAsync "hipMemcpyDtoHAsync"
#define XCU_SYM_cuMemcpyDtoDAsync "hipMemcpyDtoDAsync"
#define XCU_SYM_cuStreamCreate "hipStreamCreateWithFlags"
#define XCU_SYM_cuStreamDestroy "hipStreamDestroy"
#define XCU_SYM_cuStreamSynchronize "hipStreamSynchronize"
#define XCU_SYM_cuStreamWaitEvent "hipStreamWaitEvent"
#define XCU_SYM_cuEventCreate "hipEventCreateWithFlags"
#define XCU_SYM_cuEventDestroy "hipEventDestroy"
#define XCU_SYM_cuEventRecord "hipEventRecord"
#define XCU_SYM_cuEventSynchronize "hipEventSynchronize"
#define XCU_SYM_cuEventElapsedTime "hipEventElapsedTime"
#define XCU_SYM_cuModuleLoadData "hipModuleLoadData"
#define XCU_SYM_cuModuleUnload "hipModuleUnload"
#define XCU_SYM_cuModuleGetFunction "hipModuleGetFunction"
#define XCU_SYM_cuLaunchKernel "hipModuleLaunchKernel"

#define XCU_VENDOR_SYMBOLS(X)                             \
    X(const char *, cuGetErrorName, (xcu_result error))   \
    X(const char *, cuGetErrorString, (xcu_result error)) \
    X(xcu_result, cuMemcpyPeerAsync,                      \
      (xcu_deviceptr dst, int dst_device, xcu_deviceptr src, int src_device, size_t bytes, xcu_stream stream))
#define XCU_SYM_cuGetErrorName "hipGetErrorName"
#define XCU_SYM_cuGetErrorString "hipGetErrorString"
#define XCU_SYM_cuMemcpyPeerAsync "hipMemcpyPeerAsync"

#define XCU_GET_ERROR_NAME(fns, r, out) (*(out) = (fns)->cuGetErrorName(r), XCU_SUCCESS)
#define XCU_GET_ERROR_STRING(fns, r, out) (*(out) = (fns)->cuGetErrorString(r), XCU_SUCCESS)
#define XCU_COPY_PEER(fns, dst, dst_dev, dst_ctx, src, src_dev, src_ctx, bytes, stream) \
    ((fns)->cuMemcpyPeerAsync((dst), (dst_dev), (src), (src_dev), (bytes), (stream)))

/* hipDeviceAttribute_t values (ROCm 5.2 hip_runtime_api.h). */
#define XCU_ATTR_MAX_THREADS_PER_BLOCK 56
#define XCU_ATTR_MAX_SHARED_PER_BLOCK 74
#define XCU_ATTR_WARP_SIZE 87
#define XCU_ATTR_SM_COUNT 63
#define XCU_ATTR_CC_MAJOR 23
#define XCU_ATTR_CC_MINOR 61
#define XCU_ATTR_ARCH 10003 /* hipDeviceAttributeGcnArch, e.g. 906 */

#define XCU_HOSTALLOC_PORTABLE 0x1u /* hipHostMallocPortable */
#define XCU_STREAM_NON_BLOCKING 0x1u
#define XCU_EVENT_DEFAULT 0x0u

/* gfx name from the GCN arch number (906 -> gfx906; 910 is gfx90a). */
static inline void xcu_vendor_arch(char *out, size_t n, int major, int minor, int arch_attr)
{
    if (arch_attr == 910)
        snprintf(out, n, "gfx90a");
    else if (arch_attr > 0)
        snprintf(out, n, "gfx%d", arch_attr);
    else
        snprintf(out, n, "gfx-unknown (cc %d.%d)", major, minor);
}

static inline const char *xcu_vendor_family(int major, int minor, int arch_attr)
{
    (void)major;
    (void)minor;
    if (arch_attr == 906) return "GCN5 Vega20 (AMD MI50/60, Hygon DCU Z100)";
    if (arch_attr == 908) return "CDNA1";
    if (arch_attr == 910) return "CDNA2";
    if (arch_attr >= 940 && arch_attr < 1000) return "CDNA3";
    if (arch_attr >= 1000 && arch_attr < 1100) return "RDNA1/2";
    if (arch_attr >= 1100 && arch_attr < 1200) return "RDNA3";
    return "AMD GPU";
}

static inline const char *xcu_vendor_vendor(const char *library, const char *device_name)
{
    if (strstr(library, "galaxy") != NULL || strstr(device_name, "DCU") != NULL || strstr(device_name, "Hygon") != NULL)
        return "Hygon";
    return XCU_VENDOR_NAME;
}

/* 50221153 -> "HIP 5.2.21153". */
static inline void xcu_vendor_driver_version(char *out, size_t n, int v)
{
    snprintf(out, n, "HIP %d.%d.%d", v / 10000000, (v / 100000) % 100, v % 100000);
}

/* ---- optional libraries ---- */
/* No BLAS mapping yet (hipBLAS has other enums): MATMUL uses the portable kernel. */
#define XCU_RTC_LIBRARY_ENV "XHAL_HIP_HIPRTC_LIBRARY"
#define XCU_RTC_LIBRARIES                                                                                           \
    {                                                                                                               \
        "libhiprtc.so", "libhiprtc.so.6", "libhiprtc.so.5", "libamdhip64.so", "libamdhip64.so.5", "libgalaxyhip.so" \
    }
#define XCU_RTC_NAME "hiprtc"
#define XCU_RTC_SYM_CreateProgram "hiprtcCreateProgram"
#define XCU_RTC_SYM_DestroyProgram "hiprtcDestroyProgram"
#define XCU_RTC_SYM_CompileProgram "hiprtcCompileProgram"
#define XCU_RTC_SYM_GetProgramLogSize "hiprtcGetProgramLogSize"
#define XCU_RTC_SYM_GetProgramLog "hiprtcGetProgramLog"
#define XCU_RTC_SYM_GetCodeSize "hiprtcGetCodeSize"
#define XCU_RTC_SYM_GetCode "hiprtcGetCode"
#define XCU_RTC_SYM_GetErrorString "hiprtcGetErrorString"
#define XCU_RTC_ARCH_OPTION "--gpu-architecture="

/* Collective library (xcu_coll.c): the same symbols and values in NCCL and RCCL. */
#define XCU_COLL_NAME "rccl"
#define XCU_COLL_LIBRARY_ENV "XHAL_RCCL_LIBRARY"
#define XCU_COLL_LIBRARIES           \
    {                                \
        "librccl.so.1", "librccl.so" \
    }
/* 2.10: the first version with bfloat16 */
#define XCU_COLL_MIN_VERSION 21000

#endif
