/*
 * standin_cuda.c - a stand-in for NVIDIA's libcuda.so.1, built only for the tests of the
 * CUDA backend. It exports the driver symbols the backend resolves, keeps "device"
 * memory in host memory, and emulates two kernels (xk_fill, xk_copy of equal dtypes) so
 * that the backend's argument packing is checked without a GPU.
 *
 * Kernels of the plugin's op module really run: standin_exec.cpp executes the host build
 * of backends/kernels/xk_ops.cl with the parameter array the plugin passed. The module
 * whose image equals the file named by XHAL_STANDIN_F64_IMAGE is the f64 variant.
 *
 * XHAL_CUDA_STANDIN selects behaviour (comma-separated):
 *   nodevice    cuInit fails with CUDA_ERROR_NO_DEVICE
 *   oldversion  cuDriverGetVersion reports 12040 (CUDA 12.4)
 *   oom         cuMemAlloc of more than 1 MiB fails with CUDA_ERROR_OUT_OF_MEMORY
 *   launchfail  cuLaunchKernel fails with CUDA_ERROR_LAUNCH_FAILED
 *   nopinned    cuMemHostAlloc fails (the backend must fall back to pageable copies)
 *   nopeer      cuDeviceCanAccessPeer says no
 * Built with -DSTANDIN_OLD_DRIVER it lacks cuDevicePrimaryCtxRelease_v2, like a driver
 * from before CUDA 11.
 *
 * Built with -DSTANDIN_HIP it is a stand-in for the HIP runtime instead (libamdhip64.so):
 * the same functions under their HIP names, HIP's attribute numbers and version format,
 * and the calls whose HIP signatures differ (error names, peer copies by ordinal).
 * XHAL_HIP_STANDIN selects the behaviour then.
 */
#define _GNU_SOURCE /* memmem */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "standin_exec.h"

#define EXPORT __attribute__((visibility("default")))

#ifdef STANDIN_HIP
#define STANDIN_ENV "XHAL_HIP_STANDIN"
#define cuInit hipInit
#define cuDriverGetVersion hipDriverGetVersion
#define cuDeviceGetCount hipGetDeviceCount
#define cuDeviceGet hipDeviceGet
#define cuDeviceGetName hipDeviceGetName
#define cuDeviceGetAttribute hipDeviceGetAttribute
#define cuDeviceTotalMem_v2 hipDeviceTotalMem
#define cuDeviceGetPCIBusId hipDeviceGetPCIBusId
#define cuDeviceCanAccessPeer hipDeviceCanAccessPeer
#define cuDevicePrimaryCtxRetain hipDevicePrimaryCtxRetain
#define cuDevicePrimaryCtxRelease_v2 hipDevicePrimaryCtxRelease
#define cuDevicePrimaryCtxRelease standin_unused_release
#define cuCtxSetCurrent hipCtxSetCurrent
#define cuCtxEnablePeerAccess hipCtxEnablePeerAccess
#define cuMemGetInfo_v2 hipMemGetInfo
#define cuMemAlloc_v2 hipMalloc
#define cuMemFree_v2 hipFree
#define cuMemHostAlloc hipHostMalloc
#define cuMemFreeHost hipHostFree
#define cuMemcpyHtoDAsync_v2 hipMemcpyHtoDAsync
#define cuMemcpyDtoHAsync_v2 hipMemcpyDtoHAsync
#define cuMemcpyDtoDAsync_v2 hipMemcpyDtoDAsync
#define cuMemsetD8Async hipMemsetD8Async
#define cuStreamCreate hipStreamCreateWithFlags
#define cuStreamDestroy_v2 hipStreamDestroy
#define cuStreamSynchronize hipStreamSynchronize
#define cuStreamWaitEvent hipStreamWaitEvent
#define cuEventCreate hipEventCreateWithFlags
#define cuEventDestroy_v2 hipEventDestroy
#define cuEventRecord hipEventRecord
#define cuEventSynchronize hipEventSynchronize
#define cuEventElapsedTime hipEventElapsedTime
#define cuModuleLoadData hipModuleLoadData
#define cuModuleUnload hipModuleUnload
#define cuModuleGetFunction hipModuleGetFunction
#define cuLaunchKernel hipModuleLaunchKernel
#else
#define STANDIN_ENV "XHAL_CUDA_STANDIN"
#endif

typedef int CUresult;
typedef int CUdevice;
typedef uint64_t CUdeviceptr;
typedef void *CUcontext;
typedef void *CUstream;
typedef void *CUevent;
typedef void *CUmodule;
typedef void *CUfunction;

#define SUCCESS 0
#define E_INVALID_VALUE 1
#define E_OOM 2
#define E_NO_DEVICE 100
#define E_INVALID_IMAGE 200
#define E_NOT_FOUND 500
#define E_LAUNCH_FAILED 719

#define N_DEVICES 2

static int mode(const char *flag)
{
    const char *m = getenv(STANDIN_ENV);
    if (m == NULL) return 0;
    size_t n = strlen(flag);
    for (const char *p = m; (p = strstr(p, flag)) != NULL; p += n)
        if ((p == m || p[-1] == ',') && (p[n] == '\0' || p[n] == ',')) return 1;
    return 0;
}

/* ---- bookkeeping the tests read back ---- */
static int live_device_allocs, live_host_allocs, live_modules, live_streams, live_events, launches;
static int ctx_retained[N_DEVICES];
static char last_kernel[128];
static int contexts[N_DEVICES];
static int current_device = -1;

EXPORT int standin_live_device_allocs(void) { return live_device_allocs; }
EXPORT int standin_live_host_allocs(void) { return live_host_allocs; }
EXPORT int standin_live_modules(void) { return live_modules; }
EXPORT int standin_live_streams(void) { return live_streams + live_events; }
EXPORT int standin_retained_contexts(void) { return ctx_retained[0] + ctx_retained[1]; }
EXPORT int standin_launches(void) { return launches; }
EXPORT const char *standin_last_kernel(void) { return last_kernel; }

static const char *error_name(CUresult e)
{
#ifdef STANDIN_HIP
    switch (e) {
        case SUCCESS: return "hipSuccess";
        case E_INVALID_VALUE: return "hipErrorInvalidValue";
        case E_OOM: return "hipErrorOutOfMemory";
        case E_NO_DEVICE: return "hipErrorNoDevice";
        case E_INVALID_IMAGE: return "hipErrorInvalidImage";
        case E_NOT_FOUND: return "hipErrorNotFound";
        case E_LAUNCH_FAILED: return "hipErrorLaunchFailure";
        default: return "hipErrorUnknown";
    }
#else
    switch (e) {
        case SUCCESS: return "CUDA_SUCCESS";
        case E_INVALID_VALUE: return "CUDA_ERROR_INVALID_VALUE";
        case E_OOM: return "CUDA_ERROR_OUT_OF_MEMORY";
        case E_NO_DEVICE: return "CUDA_ERROR_NO_DEVICE";
        case E_INVALID_IMAGE: return "CUDA_ERROR_INVALID_IMAGE";
        case E_NOT_FOUND: return "CUDA_ERROR_NOT_FOUND";
        case E_LAUNCH_FAILED: return "CUDA_ERROR_LAUNCH_FAILED";
        default: return NULL;
    }
#endif
}

#ifdef STANDIN_HIP
/* HIP returns the strings themselves. */
EXPORT const char *hipGetErrorName(CUresult e) { return error_name(e); }
EXPORT const char *hipGetErrorString(CUresult e)
{
    return e == E_NO_DEVICE ? "no ROCm-capable device is detected" : "stand-in error";
}
#else
EXPORT CUresult cuGetErrorName(CUresult e, const char **s)
{
    *s = error_name(e);
    return *s != NULL ? SUCCESS : E_INVALID_VALUE;
}

EXPORT CUresult cuGetErrorString(CUresult e, const char **s)
{
    *s = e == E_NO_DEVICE ? "no CUDA-capable device is detected" : "stand-in error";
    return SUCCESS;
}
#endif

/* NVRTC looks for an already-loaded libcuda.so.1 and asks it for its private export
 * tables; the stand-in has none, which NVRTC handles as "no driver". */
#ifndef STANDIN_HIP
EXPORT CUresult cuGetExportTable(const void **table, const void *id)
{
    (void)id;
    *table = NULL;
    return 801; /* CUDA_ERROR_NOT_SUPPORTED */
}
#endif

EXPORT CUresult cuInit(unsigned flags)
{
    (void)flags;
    return mode("nodevice") ? E_NO_DEVICE : SUCCESS;
}

EXPORT CUresult cuDriverGetVersion(int *v)
{
#ifdef STANDIN_HIP
    *v = mode("oldversion") ? 40200000 : 50221153; /* HIP 4.2 / HIP 5.2.21153 */
#else
    *v = mode("oldversion") ? 12040 : 13000;
#endif
    return SUCCESS;
}

EXPORT CUresult cuDeviceGetCount(int *n)
{
    *n = N_DEVICES;
    return SUCCESS;
}

EXPORT CUresult cuDeviceGet(CUdevice *d, int i)
{
    if (i < 0 || i >= N_DEVICES) return E_INVALID_VALUE;
    *d = i;
    return SUCCESS;
}

EXPORT CUresult cuDeviceGetName(char *name, int len, CUdevice d)
{
    snprintf(name, (size_t)len, "xhal stand-in GPU %d", d);
    return SUCCESS;
}

#ifdef STANDIN_HIP
enum { A_THREADS = 56, A_SHARED = 74, A_WARP = 87, A_SMS = 63, A_MAJOR = 23, A_MINOR = 61, A_GCN = 10003 };
#else
enum { A_THREADS = 1, A_SHARED = 8, A_WARP = 10, A_SMS = 16, A_MAJOR = 75, A_MINOR = 76, A_GCN = -1 };
#endif

EXPORT CUresult cuDeviceGetAttribute(int *v, int attr, CUdevice d)
{
    (void)d;
    switch (attr) {
        case A_THREADS: *v = 1024; return SUCCESS;
        case A_SHARED: *v = 49152; return SUCCESS;
        case A_WARP: *v = 32; return SUCCESS;
        case A_SMS: *v = 132; return SUCCESS;
        case A_MAJOR: *v = 9; return SUCCESS;
        case A_MINOR: *v = 0; return SUCCESS;
        case A_GCN: *v = 906; return SUCCESS;
        default: return E_INVALID_VALUE;
    }
}

EXPORT CUresult cuDeviceTotalMem_v2(size_t *b, CUdevice d)
{
    (void)d;
    *b = (size_t)80 << 30;
    return SUCCESS;
}

EXPORT CUresult cuDeviceGetPCIBusId(char *id, int len, CUdevice d)
{
    snprintf(id, (size_t)len, "0000:%02X:00.0", 0x3B + d * 0x80); /* upper case, as NVIDIA does */
    return SUCCESS;
}

EXPORT CUresult cuDeviceCanAccessPeer(int *can, CUdevice a, CUdevice b)
{
    *can = !mode("nopeer") && a != b;
    return SUCCESS;
}

EXPORT CUresult cuDevicePrimaryCtxRetain(CUcontext *c, CUdevice d)
{
    ctx_retained[d]++;
    *c = &contexts[d];
    return SUCCESS;
}

static CUresult release(CUdevice d)
{
    if (ctx_retained[d] <= 0) return E_INVALID_VALUE;
    ctx_retained[d]--;
    return SUCCESS;
}

#ifndef STANDIN_OLD_DRIVER
EXPORT CUresult cuDevicePrimaryCtxRelease_v2(CUdevice d) { return release(d); }
#endif
EXPORT CUresult cuDevicePrimaryCtxRelease(CUdevice d) { return release(d); }

EXPORT CUresult cuCtxSetCurrent(CUcontext c)
{
    current_device = c == NULL ? -1 : (int)((int *)c - contexts);
    return SUCCESS;
}

EXPORT CUresult cuCtxEnablePeerAccess(CUcontext peer, unsigned flags)
{
    (void)peer;
    (void)flags;
    return current_device < 0 ? E_INVALID_VALUE : SUCCESS;
}

EXPORT CUresult cuMemGetInfo_v2(size_t *free_b, size_t *total)
{
    *total = (size_t)80 << 30;
    *free_b = *total - (size_t)live_device_allocs * 4096;
    return current_device < 0 ? E_INVALID_VALUE : SUCCESS;
}

EXPORT CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t n)
{
    if (current_device < 0) return E_INVALID_VALUE;
    if (mode("oom") && n > ((size_t)1 << 20)) return E_OOM;
    void *m = malloc(n);
    if (m == NULL) return E_OOM;
    live_device_allocs++;
    *p = (CUdeviceptr)(uintptr_t)m;
    return SUCCESS;
}

EXPORT CUresult cuMemFree_v2(CUdeviceptr p)
{
    if (p == 0) return E_INVALID_VALUE;
    free((void *)(uintptr_t)p);
    live_device_allocs--;
    return SUCCESS;
}

EXPORT CUresult cuMemHostAlloc(void **p, size_t n, unsigned flags)
{
    (void)flags;
    if (mode("nopinned")) return E_OOM;
    *p = malloc(n);
    if (*p == NULL) return E_OOM;
    live_host_allocs++;
    return SUCCESS;
}

EXPORT CUresult cuMemFreeHost(void *p)
{
    free(p);
    live_host_allocs--;
    return SUCCESS;
}

EXPORT CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr d, const void *s, size_t n, CUstream st)
{
    (void)st;
    memcpy((void *)(uintptr_t)d, s, n);
    return SUCCESS;
}

EXPORT CUresult cuMemcpyDtoHAsync_v2(void *d, CUdeviceptr s, size_t n, CUstream st)
{
    (void)st;
    memcpy(d, (const void *)(uintptr_t)s, n);
    return SUCCESS;
}

EXPORT CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr d, CUdeviceptr s, size_t n, CUstream st)
{
    (void)st;
    memmove((void *)(uintptr_t)d, (const void *)(uintptr_t)s, n);
    return SUCCESS;
}

#ifdef STANDIN_HIP
/* HIP names the devices, not their contexts. */
EXPORT CUresult hipMemcpyPeerAsync(void *d, int dd, const void *s, int sd, size_t n, CUstream st)
{
    (void)st;
    if (dd < 0 || dd >= N_DEVICES || sd < 0 || sd >= N_DEVICES || dd == sd) return E_INVALID_VALUE;
    memmove(d, s, n);
    return SUCCESS;
}
#else
EXPORT CUresult cuMemcpyPeerAsync(CUdeviceptr d, CUcontext dc, CUdeviceptr s, CUcontext sc, size_t n, CUstream st)
{
    (void)st;
    if (dc == NULL || sc == NULL || dc == sc) return E_INVALID_VALUE;
    memmove((void *)(uintptr_t)d, (const void *)(uintptr_t)s, n);
    return SUCCESS;
}
#endif

EXPORT CUresult cuMemsetD8Async(CUdeviceptr d, unsigned char v, size_t n, CUstream st)
{
    (void)st;
    memset((void *)(uintptr_t)d, v, n);
    return SUCCESS;
}

/* Streams and events are small heap objects, so leaks show in the counters and ASan. */
EXPORT CUresult cuStreamCreate(CUstream *s, unsigned flags)
{
    (void)flags;
    *s = malloc(16);
    live_streams++;
    return SUCCESS;
}

EXPORT CUresult cuStreamDestroy_v2(CUstream s)
{
    free(s);
    live_streams--;
    return SUCCESS;
}

EXPORT CUresult cuStreamSynchronize(CUstream s)
{
    (void)s;
    return SUCCESS;
}
EXPORT CUresult cuStreamWaitEvent(CUstream s, CUevent e, unsigned f)
{
    (void)s;
    (void)e;
    (void)f;
    return SUCCESS;
}

EXPORT CUresult cuEventCreate(CUevent *e, unsigned flags)
{
    (void)flags;
    *e = calloc(1, sizeof(double));
    live_events++;
    return SUCCESS;
}

EXPORT CUresult cuEventDestroy_v2(CUevent e)
{
    free(e);
    live_events--;
    return SUCCESS;
}

static double clock_ms;
EXPORT CUresult cuEventRecord(CUevent e, CUstream s)
{
    (void)s;
    clock_ms += 1.5; /* each record is 1.5 ms after the previous one */
    *(double *)e = clock_ms;
    return SUCCESS;
}

EXPORT CUresult cuEventSynchronize(CUevent e)
{
    (void)e;
    return SUCCESS;
}

EXPORT CUresult cuEventElapsedTime(float *ms, CUevent a, CUevent b)
{
    *ms = (float)(*(double *)b - *(double *)a);
    return SUCCESS;
}

/* -1: custom code (not executed), 0: the f32 op module, 1: the f64 op module */
static int image_variant(const unsigned char *image)
{
    if (memcmp(image, "\177ELF", 4) == 0) return -1;
    const char *path = getenv("XHAL_STANDIN_F64_IMAGE");
    FILE *f = path != NULL ? fopen(path, "rb") : NULL;
    if (f == NULL) return 0;
    int variant = 1;
    unsigned char buf[4096];
    size_t n, off = 0;
    while (variant && (n = fread(buf, 1, sizeof buf, f)) > 0) {
        if (memcmp(image + off, buf, n) != 0) variant = 0;
        off += n;
    }
    fclose(f);
    return variant;
}

/* A loaded module: which op variant it is (-1: custom code, not executed) and, for the op
 * modules, the image's bytes, so that a kernel asked for must be a symbol of what nvcc /
 * hipcc built, not only a kernel of the host build. */
typedef struct mod_t {
    int variant; /* first: cuModuleGetFunction reads it as an int */
    const unsigned char *image;
    size_t size;
} mod_t;

static uint64_t rd_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* Bytes of a fatbin (header: u32 magic, u16 version, u16 header size, u64 payload size) or of
 * a clang offload bundle (magic, u64 entries, then per entry u64 offset, u64 size, u64 id
 * length and the id); 0 for anything else. */
static size_t image_size(const unsigned char *p)
{
#ifdef STANDIN_HIP
    if (memcmp(p, "__CLANG_OFFLOAD_BUNDLE__", 24) != 0) return 0;
    uint64_t n = rd_u64(p + 24), end = 0, at = 32;
    for (uint64_t i = 0; i < n && i < 64; i++) {
        uint64_t off = rd_u64(p + at), size = rd_u64(p + at + 8), idlen = rd_u64(p + at + 16);
        if (off + size > end) end = off + size;
        at += 24 + idlen;
    }
    return (size_t)end;
#else
    static const unsigned char fatbin[4] = {0x50, 0xed, 0x55, 0xba};
    if (memcmp(p, fatbin, 4) != 0) return 0;
    return (size_t)(p[6] | p[7] << 8) + (size_t)rd_u64(p + 8);
#endif
}

/* 1 if name is a NUL-terminated string of the image (an ELF symbol name of some code object
 * in it: nvcc and hipcc keep the kernels' names in each object's string table). */
static int image_has_symbol(const mod_t *md, const char *name)
{
    char pat[80];
    size_t n = strlen(name);
    if (n + 2 > sizeof pat) return 0;
    pat[0] = 0;
    memcpy(pat + 1, name, n);
    pat[n + 1] = 0;
    return memmem(md->image, md->size, pat, n + 2) != NULL;
}

/* A module accepts a fatbin (magic 0xBA55ED50; HIP: a clang offload bundle) or an ELF
 * image, as the driver would. */
EXPORT CUresult cuModuleLoadData(CUmodule *m, const void *image)
{
    const unsigned char *p = image;
#ifdef STANDIN_HIP
    if (p == NULL || (memcmp(p, "__CLANG_OFFLOAD_BUNDLE__", 24) != 0 && memcmp(p, "\177ELF", 4) != 0))
        return E_INVALID_IMAGE;
#else
    static const unsigned char fatbin[4] = {0x50, 0xed, 0x55, 0xba};
    if (p == NULL || (memcmp(p, fatbin, 4) != 0 && memcmp(p, "\177ELF", 4) != 0)) return E_INVALID_IMAGE;
#endif
    mod_t *mod = malloc(sizeof *mod);
    if (mod == NULL) return E_INVALID_VALUE;
    mod->variant = image_variant(p);
    mod->image = p;
    mod->size = mod->variant >= 0 ? image_size(p) : 0;
    if (mod->variant >= 0 && mod->size == 0) {
        free(mod);
        return E_INVALID_IMAGE;
    }
    *m = mod;
    live_modules++;
    return SUCCESS;
}

EXPORT CUresult cuModuleUnload(CUmodule m)
{
    free(m);
    live_modules--;
    return SUCCESS;
}

typedef struct fn_t {
    char name[64];
    int variant;
} fn_t;

static int has_kernel(int variant, const char *name)
{
    for (const xs_kernel *k = variant ? standin_kernels_f64 : standin_kernels_f32; k->name != NULL; k++)
        if (strcmp(k->name, name) == 0) return 1;
    return 0;
}

/* Names starting "missing" are not found; in the op modules, neither is a name that is
 * not a kernel of xk_ops.cl, nor one that the module's image (the nvcc / hipcc output the
 * plugin embeds) lacks. */
EXPORT CUresult cuModuleGetFunction(CUfunction *f, CUmodule m, const char *name)
{
    const mod_t *md = m;
    int variant = md->variant;
    if (strncmp(name, "missing", 7) == 0 ||
        (variant >= 0 && (!has_kernel(variant, name) || !image_has_symbol(md, name))))
        return E_NOT_FOUND;
    static fn_t fns[256];
    static int n;
    for (int i = 0; i < n; i++)
        if (strcmp(fns[i].name, name) == 0 && fns[i].variant == variant) {
            *f = &fns[i];
            return SUCCESS;
        }
    if (n == 256) return E_INVALID_VALUE;
    snprintf(fns[n].name, sizeof fns[n].name, "%s", name);
    fns[n].variant = variant;
    *f = &fns[n++];
    return SUCCESS;
}

EXPORT CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                               unsigned bz, unsigned shared, CUstream s, void **params, void **extra)
{
    (void)shared;
    (void)s;
    (void)extra;
    const fn_t *fn = f;
    snprintf(last_kernel, sizeof last_kernel, "%s", fn->name);
    if (mode("launchfail")) return E_LAUNCH_FAILED;
    /* the driver's launch limits */
    if (gx == 0 || gy == 0 || gz == 0 || gy > 65535 || gz > 65535 || bx == 0 || by == 0 || bz == 0 ||
        (unsigned long long)bx * by * bz > 1024 || bz > 64)
        return E_INVALID_VALUE;
    launches++;
    if (fn->variant >= 0) {
        const unsigned grid[3] = {gx, gy, gz}, block[3] = {bx, by, bz};
        if (standin_exec(fn->variant, fn->name, grid, block, params) != 0) return E_INVALID_VALUE;
    }
    return SUCCESS;
}
