/* ocl_internal.h - shared state of the OpenCL backend plugin (not installed). */
#ifndef XHAL_OCL_INTERNAL_H
#define XHAL_OCL_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <CL/cl.h>

#include "xhal/plugin/xhal_plugin.h"
#include "xk_launch.h"

#define OCL_NAME "opencl"

/* The op program's kernels, variants (XK_VARIANT_F32/F64) and launch shapes: xk_launch.h. */
typedef struct ocl_device {
    cl_platform_id platform;
    cl_device_id id;
    cl_context ctx; /* shared by the devices of one platform; one reference per device */
    xhal_device_info info;
    char platform_version[128];
    int has_fp64, has_fp16;
    int amd_attrs; /* cl_amd_device_attribute_query: free memory can be asked */
    size_t max_wg;
    int is_cpu;             /* CL_DEVICE_TYPE_CPU (PoCL's pthread device): kernels without barriers suit it;
                             * XHAL_OPENCL_KERNELS=gpu|cpu overrides it */
    uint64_t local_mem;     /* CL_DEVICE_LOCAL_MEM_SIZE */
    uint64_t compute_units; /* CL_DEVICE_MAX_COMPUTE_UNITS */
    uint64_t base_align;    /* CL_DEVICE_MEM_BASE_ADDR_ALIGN in bytes */
    pthread_mutex_t lock;   /* program builds, kernel argument setting + enqueue */
    cl_program ops[2];
    cl_kernel kernels[2][XK_K_COUNT_];
    size_t kernel_wg[2][XK_K_COUNT_]; /* CL_KERNEL_WORK_GROUP_SIZE */
    char *ops_error[2];               /* why the op program failed to build (not retried), or NULL */
    uint64_t allocated;
} ocl_device;

typedef struct ocl_state {
    int ndev;
    ocl_device *devs;
} ocl_state;

typedef struct ocl_buffer {
    cl_mem mem;
    int device;
    uint64_t size;
} ocl_buffer;

typedef struct ocl_stream {
    cl_command_queue q;
    int device;
} ocl_stream;

typedef struct ocl_event {
    cl_event ev;
    int device;
} ocl_event;

typedef struct ocl_program {
    cl_program prog;
    int device;
} ocl_program;

#define ocl_host xhal_plugin_host() /* kept by XHAL_PLUGIN_ENTRY */
extern const char xk_src_prelude_opencl_h[];
extern const char xk_src_xk_common_h[];
extern const char xk_src_xhal_op_table_h[];
extern const char xk_src_xk_ops_cl[];

/* ocl_util.c */
const char *ocl_err_name(cl_int err);
/* set_error for a failed CL call: OUT_OF_MEMORY for allocation failures, else BACKEND */
xhal_status ocl_fail(cl_int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* set_error that also keeps the text for ocl_last_message (this thread) */
xhal_status ocl_set_error(xhal_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *ocl_last_message(void);
void ocl_remember_error(char **slot);
void ocl_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
double ocl_now_ms(void);
void *ocl_alloc(size_t n);
void *ocl_calloc(size_t n, size_t size);
void ocl_free(void *p);

/* ocl_program.c */
/* Build (or load from the disk cache) source for dev with options; label names it in logs. */
xhal_status ocl_build_program(ocl_device *dev, const char *source, const char *options, const char *label,
                              cl_program *out);
/* The op program of a variant, built on first use; caller holds dev->lock. */
xhal_status ocl_ops_program(ocl_device *dev, int variant);
/* "-cl-std=CL1.2 [-DXK_HAS_FP64]" for dev into buf */
void ocl_base_options(const ocl_device *dev, char *buf, size_t size);

/* ocl_ops.c */
xhal_status ocl_op_supported(void *state, int device, const xhal_op_desc *desc);
xhal_status ocl_op_run(void *state, void *stream, const xhal_op_desc *desc);

#endif
