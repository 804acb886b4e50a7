/*
 * xcu_symbols.h - every driver call the CUDA-dialect backend makes, listed once.
 *
 * XCU_DRIVER_SYMBOLS(X) expands X(ret, name, params) for each call whose signature is
 * the same in every CUDA-dialect driver (CUDA, HIP, ...). The vendor mapping header
 * (vendors/<vendor>.h) adds XCU_VENDOR_SYMBOLS(X) for calls whose signature differs
 * between stacks, and XCU_SYM_<name>, the exported symbol to look up for each entry
 * (e.g. "cuMemAlloc_v2" for CUDA, "hipMalloc" for HIP). The list is expanded twice in
 * xcu_driver.c: into the function-pointer struct and into its resolver, so a call
 * cannot be used without being resolved, and a missing symbol is named in the reason.
 *
 * Types are the backend's own (xcu_api.h): no vendor header is needed to build.
 */
#ifndef XCU_SYMBOLS_H
#define XCU_SYMBOLS_H

#define XCU_DRIVER_SYMBOLS(X)                                                                                 \
    X(xcu_result, cuInit, (unsigned int flags))                                                               \
    X(xcu_result, cuDriverGetVersion, (int *version))                                                         \
    X(xcu_result, cuDeviceGetCount, (int *count))                                                             \
    X(xcu_result, cuDeviceGet, (xcu_device * dev, int ordinal))                                               \
    X(xcu_result, cuDeviceGetName, (char *name, int len, xcu_device dev))                                     \
    X(xcu_result, cuDeviceGetAttribute, (int *value, int attribute, xcu_device dev))                          \
    X(xcu_result, cuDeviceTotalMem, (size_t * bytes, xcu_device dev))                                         \
    X(xcu_result, cuDeviceGetPCIBusId, (char *bus_id, int len, xcu_device dev))                               \
    X(xcu_result, cuDeviceCanAccessPeer, (int *can, xcu_device dev, xcu_device peer))                         \
    X(xcu_result, cuDevicePrimaryCtxRetain, (xcu_context * ctx, xcu_device dev))                              \
    X(xcu_result, cuDevicePrimaryCtxRelease, (xcu_device dev))                                                \
    X(xcu_result, cuCtxSetCurrent, (xcu_context ctx))                                                         \
    X(xcu_result, cuCtxEnablePeerAccess, (xcu_context peer, unsigned int flags))                              \
    X(xcu_result, cuMemGetInfo, (size_t * free_bytes, size_t * total_bytes))                                  \
    X(xcu_result, cuMemAlloc, (xcu_deviceptr * ptr, size_t bytes))                                            \
    X(xcu_result, cuMemFree, (xcu_deviceptr ptr))                                                             \
    X(xcu_result, cuMemHostAlloc, (void **ptr, size_t bytes, unsigned int flags))                             \
    X(xcu_result, cuMemFreeHost, (void *ptr))                                                                 \
    X(xcu_result, cuMemcpyHtoDAsync, (xcu_deviceptr dst, const void *src, size_t bytes, xcu_stream stream))   \
    X(xcu_result, cuMemcpyDtoHAsync, (void *dst, xcu_deviceptr src, size_t bytes, xcu_stream stream))         \
    X(xcu_result, cuMemcpyDtoDAsync, (xcu_deviceptr dst, xcu_deviceptr src, size_t bytes, xcu_stream stream)) \
    X(xcu_result, cuStreamCreate, (xcu_stream * stream, unsigned int flags))                                  \
    X(xcu_result, cuStreamDestroy, (xcu_stream stream))                                                       \
    X(xcu_result, cuStreamSynchronize, (xcu_stream stream))                                                   \
    X(xcu_result, cuStreamWaitEvent, (xcu_stream stream, xcu_event event, unsigned int f))                    \
    X(xcu_result, cuEventCreate, (xcu_event * event, unsigned int flags))                                     \
    X(xcu_result, cuEventDestroy, (xcu_event event))                                                          \
    X(xcu_result, cuEventRecord, (xcu_event event, xcu_stream stream))                                        \
    X(xcu_result, cuEventSynchronize, (xcu_event event))                                                      \
    X(xcu_result, cuEventElapsedTime, (float *ms, xcu_event start, xcu_event end))                            \
    X(xcu_result, cuModuleLoadData, (xcu_module * module, const void *image))                                 \
    X(xcu_result, cuModuleUnload, (xcu_module module))                                                        \
    X(xcu_result, cuModuleGetFunction, (xcu_function * fn, xcu_module module, const char *name))              \
    X(xcu_result, cuLaunchKernel,                                                                             \
      (xcu_function fn, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, unsigned int by,  \
       unsigned int bz, unsigned int shared_bytes, xcu_stream stream, void **params, void **extra))

#endif
