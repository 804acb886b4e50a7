/* ocl_util.c - CL error names, logging and allocation through the host services. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "ocl_internal.h"

const char *ocl_err_name(cl_int err)
{
    switch (err) {
#define E(x) \
    case x: return #x;
        E(CL_SUCCESS)
        E(CL_DEVICE_NOT_FOUND)
        E(CL_DEVICE_NOT_AVAILABLE) E(CL_COMPILER_NOT_AVAILABLE) E(CL_MEM_OBJECT_ALLOCATION_FAILURE)
            E(CL_OUT_OF_RESOURCES) E(CL_OUT_OF_HOST_MEMORY) E(CL_PROFILING_INFO_NOT_AVAILABLE) E(CL_MEM_COPY_OVERLAP) E(
                CL_IMAGE_FORMAT_MISMATCH) E(CL_IMAGE_FORMAT_NOT_SUPPORTED) E(CL_BUILD_PROGRAM_FAILURE) E(CL_MAP_FAILURE)
                E(CL_MISALIGNED_SUB_BUFFER_OFFSET) E(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
                    E(CL_COMPILE_PROGRAM_FAILURE) E(CL_LINKER_NOT_AVAILABLE) E(CL_LINK_PROGRAM_FAILURE)
                        E(CL_DEVICE_PARTITION_FAILED) E(CL_KERNEL_ARG_INFO_NOT_AVAILABLE) E(CL_INVALID_VALUE) E(
                            CL_INVALID_DEVICE_TYPE) E(CL_INVALID_PLATFORM) E(CL_INVALID_DEVICE) E(CL_INVALID_CONTEXT)
                            E(CL_INVALID_QUEUE_PROPERTIES) E(CL_INVALID_COMMAND_QUEUE) E(CL_INVALID_HOST_PTR)
                                E(CL_INVALID_MEM_OBJECT) E(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR) E(CL_INVALID_IMAGE_SIZE)
                                    E(CL_INVALID_SAMPLER) E(CL_INVALID_BINARY) E(CL_INVALID_BUILD_OPTIONS)
                                        E(CL_INVALID_PROGRAM) E(CL_INVALID_PROGRAM_EXECUTABLE) E(CL_INVALID_KERNEL_NAME)
                                            E(CL_INVALID_KERNEL_DEFINITION) E(CL_INVALID_KERNEL) E(CL_INVALID_ARG_INDEX)
                                                E(CL_INVALID_ARG_VALUE) E(CL_INVALID_ARG_SIZE) E(CL_INVALID_KERNEL_ARGS)
                                                    E(CL_INVALID_WORK_DIMENSION) E(CL_INVALID_WORK_GROUP_SIZE)
                                                        E(CL_INVALID_WORK_ITEM_SIZE) E(CL_INVALID_GLOBAL_OFFSET)
                                                            E(CL_INVALID_EVENT_WAIT_LIST) E(CL_INVALID_EVENT) E(
                                                                CL_INVALID_OPERATION) E(CL_INVALID_GL_OBJECT)
                                                                E(CL_INVALID_BUFFER_SIZE) E(CL_INVALID_MIP_LEVEL) E(
                                                                    CL_INVALID_GLOBAL_WORK_SIZE) E(CL_INVALID_PROPERTY)
                                                                    E(CL_INVALID_IMAGE_DESCRIPTOR)
                                                                        E(CL_INVALID_COMPILER_OPTIONS)
                                                                            E(CL_INVALID_LINKER_OPTIONS)
                                                                                E(CL_INVALID_DEVICE_PARTITION_COUNT)
#undef E
                                                                                    case -1001
            : return "CL_PLATFORM_NOT_FOUND_KHR";
        default: return "CL_UNKNOWN_ERROR";
    }
}

static _Thread_local char ocl_msg[16384];

xhal_status ocl_set_error(xhal_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ocl_msg, sizeof ocl_msg, fmt, ap);
    va_end(ap);
    return ocl_host->set_error(st, "%s", ocl_msg);
}

const char *ocl_last_message(void) { return ocl_msg; }

xhal_status ocl_fail(cl_int err, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    xhal_status st = (err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_OUT_OF_HOST_MEMORY)
                         ? XHAL_ERROR_OUT_OF_MEMORY
                         : XHAL_ERROR_BACKEND;
    return ocl_set_error(st, "opencl: %s: %s (%d)", msg, ocl_err_name(err), (int)err);
}

void ocl_log(int level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    if (!ocl_host || !ocl_host->log) return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ocl_host->log(level, OCL_NAME, "%s", msg);
}

double ocl_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

void *ocl_alloc(size_t n) { return ocl_host->host_alloc(n); }
void *ocl_calloc(size_t n, size_t size) { return ocl_host->host_calloc(n, size); }
void ocl_free(void *p) { ocl_host->host_free(p); }
