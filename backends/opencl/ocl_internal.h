/* ocl_internal.h - shared state of the OpenCL backend plugin (not installed). */
#ifndef XHAL_OCL_INTERNAL_H
#define XHAL_OCL_INTERNAL_H

#include <pthread.h>
#include <stdint.h>
#include <CL/cl.h>

#include "xhal/plugin/xhal_plugin.h"

#define OCL_NAME "opencl"

/* Kernels of the op program (xk_ops.cl); order matches ocl_kernel_names. */
enum {
    OK_COPY,
    OK_FILL,
    OK_UNARY,
    OK_SCALE,
    OK_BINARY,
    OK_BINARY_INT,
    OK_REDUCE,
    OK_SOFTMAX,
    OK_RMS_NORM,
    OK_LAYER_NORM,
    OK_MATMUL,
    OK_MATMUL_RB,
    OK_GATHER,
    OK_ROPE,
    OK_ATTENTION,
    OK_COUNT_
};
extern const char *const ocl_kernel_names[OK_COUNT_];

/* Must match backends/kernels/xk_ops.cl */
#define OCL_WG 64
#define OCL_MM_TS 16
#define OCL_ATT_MAXD 512

/* Program variants: f32 compute, and f64 compute (devices with cl_khr_fp64). */
#define OCL_VARIANT_F32 0
#define OCL_VARIANT_F64 1

typedef struct ocl_device {
    cl_platform_id platform;
    cl_device_id id;
    cl_context ctx; /* shared by the devices of one platform; one reference per device */
    xhal_device_info info;
    char platform_version[128];
    int has_fp64, has_fp16;
    int amd_attrs; /* cl_amd_device_attribute_query: free memory can be asked */
    size_t max_wg;
    uint64_t base_align;  /* CL_DEVICE_MEM_BASE_ADDR_ALIGN in bytes */
    pthread_mutex_t lock; /* program builds, kernel argument setting + enqueue */
    cl_program ops[2];
    cl_kernel kernels[2][OK_COUNT_];
    size_t kernel_wg[2][OK_COUNT_]; /* CL_KERNEL_WORK_GROUP_SIZE */
    char *ops_error[2];             /* why the op program failed to build (not retried), or NULL */
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

/* mirror of xk_nd */
typedef struct ocl_nd {
    int64_t shape[8];
    int64_t st[5][8];
    int64_t ndim;
} ocl_nd;

#define ocl_host xhal_plugin_host() /* kept by XHAL_PLUGIN_ENTRY */
extern const char xk_src_prelude_opencl_h[];
extern const char xk_src_xk_common_h[];
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
