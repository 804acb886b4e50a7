/*
 * xcu_api.h - the driver types the CUDA-dialect backend uses, declared here so that no
 * vendor SDK header is needed to build the host code and no vendor library becomes a
 * link-time dependency: every call goes through the dlopen'd table of xcu_driver.h.
 *
 * The types are ABI-compatible with both CUDA's driver API and HIP: results and
 * device ordinals are ints, handles are opaque pointers, device pointers are 64-bit
 * integers (CUdeviceptr; HIP's void* is passed the same way on LP64 targets).
 *
 * XCU_VENDOR_HEADER names the vendor mapping header (vendors/cuda.h, vendors/hip.h),
 * set by CMake per plugin.
 */
#ifndef XCU_API_H
#define XCU_API_H

#include <stddef.h>
#include <stdint.h>

typedef int xcu_result;
typedef int xcu_device;
typedef struct xcu_context_st *xcu_context;
typedef struct xcu_stream_st *xcu_stream;
typedef struct xcu_event_st *xcu_event;
typedef struct xcu_module_st *xcu_module;
typedef struct xcu_function_st *xcu_function;
typedef uint64_t xcu_deviceptr;

/* Result codes whose values CUDA and HIP share. */
#define XCU_SUCCESS 0
#define XCU_ERROR_OUT_OF_MEMORY 2
#define XCU_ERROR_NO_DEVICE 100
#define XCU_ERROR_NOT_READY 600
#define XCU_ERROR_PEER_ACCESS_ALREADY_ENABLED 704

#ifndef XCU_VENDOR_HEADER
#define XCU_VENDOR_HEADER "vendors/cuda.h"
#endif
#include XCU_VENDOR_HEADER

#endif
