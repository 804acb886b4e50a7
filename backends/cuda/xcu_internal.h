/*
 * xcu_internal.h - state shared by the files of the CUDA-dialect backend (CUDA and HIP
 * plugins are built from the same sources with a different vendors/<x>.h).
 */
#ifndef XCU_INTERNAL_H
#define XCU_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "xhal/plugin/xhal_plugin.h"
#include "xcu_driver.h"

#define XCU_MAX_DEVICES 64
/* Pinned staging per stream: two halves, so copying one chunk on the host overlaps the
 * DMA of the other. */
#define XCU_STAGING_CHUNK ((size_t)4 << 20)

#define xcu_host xhal_plugin_host() /* kept by XHAL_PLUGIN_ENTRY */

/* Kernels of the embedded op module, looked up by name once per device. */
#define XCU_MAX_KERNELS 96

typedef struct xcu_dev {
    xcu_device dev;
    xcu_context ctx;
    int index;
    int cc_major, cc_minor, arch_attr;
    int sm_count, max_threads, warp_size, max_shared;
    char name[128];
    char pci_bus_id[32];
    uint64_t total_memory;
    int peer_enabled[XCU_MAX_DEVICES]; /* 0 unknown, 1 enabled, -1 impossible */

    pthread_mutex_t lock; /* guards the lazily made module, kernel cache and BLAS handle */
    /* The op module in two variants: [0] computes in f32 (f32/f16/bf16 and integer
     * ops), [1] in f64 (XK_REAL_F64). */
    int module_state[2]; /* 0 not tried, 1 loaded, -1 failed (module_error says why) */
    xcu_module module[2];
    char module_error[2][256];
    const char *kernel_names[2][XCU_MAX_KERNELS];
    xcu_function kernels[2][XCU_MAX_KERNELS];
    int n_kernels[2];
    void *blas_handle; /* cublasHandle_t, created on first matmul */
    int blas_state;    /* 0 not tried, 1 ready, -1 unusable */
} xcu_dev;

struct xcu_blas;
struct xcu_rtc;

typedef struct xcu_state {
    xcu_driver drv;
    int n_devices;
    xcu_dev *devs;
    pthread_mutex_t lock;  /* guards lazy library loading below */
    struct xcu_blas *blas; /* NULL until first matmul; see xcu_blas.c */
    int blas_tried;
    struct xcu_rtc *rtc;   /* NULL until first program_create; see xcu_rtc.c */
    struct xcu_coll *coll; /* NULL until the first communicator; see xcu_coll.c */
    int coll_tried;
    char coll_error[320];
    int rtc_tried;
    char rtc_error[256];
} xcu_state;

typedef struct xcu_buffer {
    xcu_deviceptr ptr;
    uint64_t size;
    int device;
} xcu_buffer;

typedef struct xcu_stream_obj {
    xcu_stream s;
    int device;
    void *staging[2]; /* pinned, XCU_STAGING_CHUNK each; NULL until first transfer */
    xcu_event staged[2];
    int staging_failed; /* pinned memory refused: transfers go straight from pageable memory */
} xcu_stream_obj;

typedef struct xcu_event_obj {
    xcu_event e;
    int device;
} xcu_event_obj;

/* Make dev's context current on the calling thread. */
xhal_status xcu_use_device(xcu_state *st, int device);
/* Turn a failed driver call into a status + message: "<what>: <call> failed with
 * CUDA_ERROR_X (n)"; XCU_ERROR_OUT_OF_MEMORY becomes XHAL_ERROR_OUT_OF_MEMORY. */
xhal_status xcu_fail(xcu_state *st, xcu_result r, const char *call, const char *what);

#define XCU_TRY(st, what, name, args)                                             \
    do {                                                                          \
        xcu_result r_ = (st)->drv.name args;                                      \
        if (r_ != XCU_SUCCESS) return xcu_fail((st), r_, XCU_SYM_##name, (what)); \
    } while (0)

/* ---- ops (xcu_ops.c) ---- */
xhal_status xcu_op_supported(void *state, int device, const xhal_op_desc *desc);
xhal_status xcu_op_run(void *state, void *stream, const xhal_op_desc *desc);
/* Look up (once) kernel `name` (a static string) of the embedded op module `variant`
 * (0 f32, 1 f64) on device d. */
xhal_status xcu_get_kernel(xcu_state *st, xcu_dev *d, int variant, const char *name, xcu_function *fn);
/* Launch with an error naming the kernel. */
xhal_status xcu_launch(xcu_state *st, xcu_stream_obj *s, xcu_function fn, const char *name, const unsigned grid[3],
                       const unsigned block[3], unsigned shared, void **params);
void xcu_ops_release_device(xcu_state *st, xcu_dev *d);

/* ---- BLAS (xcu_blas.c) ---- */
/* OK and a GEMM queued; UNSUPPORTED when no BLAS library is usable for desc (the caller
 * then uses the portable kernel); any other status is an error. */
xhal_status xcu_blas_matmul(xcu_state *st, xcu_stream_obj *s, const xhal_op_desc *desc);
void xcu_blas_release_device(xcu_state *st, xcu_dev *d);
void xcu_blas_unload(xcu_state *st);

/* ---- runtime compilation (xcu_rtc.c) ---- */
int xcu_rtc_available(xcu_state *st);
xhal_status xcu_program_create(void *state, int device, const char *source, const char *options, void **program);
void xcu_program_destroy(void *state, void *program);
xhal_status xcu_kernel_launch(void *state, void *stream, void *program, const char *name, int dims,
                              const uint64_t *global_size, const uint64_t *local_size, int nargs,
                              const xhal_backend_kernel_arg *args);
void xcu_rtc_unload(xcu_state *st);

/* ---- collectives through NCCL / RCCL (xcu_coll.c): the backend ABI's coll_* entries ---- */
xhal_status xcu_coll_comm_create(void *state, int n, const int *devices, char *name, size_t name_len, void **comm);
void xcu_coll_comm_destroy(void *state, void *comm);
xhal_status xcu_coll_run(void *state, void *comm, const xhal_coll_desc *desc);
void xcu_coll_unload(xcu_state *st);

#endif
