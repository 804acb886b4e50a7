/*
 * bench_peer.c - what a user would call instead of xhal: OpenBLAS directly on the CPU; on an
 * OpenCL device a bare clEnqueueNDRangeKernel and CLBlast (dlopen'd, optional at run time).
 * OpenCL itself is optional at build time (XB_HAVE_OPENCL).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef XB_HAVE_OPENBLAS
#include <cblas.h>
#endif

#include "bench_internal.h"

#ifdef XB_HAVE_OPENCL
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#endif

/* ------------------------------------------------------------------------- */
/* OpenBLAS                                                                   */
/* ------------------------------------------------------------------------- */
#ifndef XB_HAVE_OPENBLAS
int xb_blas_threads(int n)
{
    (void)n;
    return 0;
}
const char *xb_blas_config(void) { return "absent (built without OpenBLAS)"; }
int xb_blas_gemm(int bf16, int tb, int64_t M, int64_t N, int64_t K, int warmup, int reps, double *gflops,
                 xb_interleave cb, void *cbctx, char *err, size_t errsize)
{
    (void)cb, (void)cbctx, (void)bf16, (void)tb, (void)M, (void)N, (void)K, (void)warmup, (void)reps, (void)gflops;
    snprintf(err, errsize, "peer unavailable: xhal_bench was built without OpenBLAS");
    return -1;
}
#else
int xb_blas_threads(int n)
{
    if (n < 1) n = 1;
    openblas_set_num_threads(n);
    return openblas_get_num_threads();
}

const char *xb_blas_config(void)
{
    static char buf[128];
    snprintf(buf, sizeof buf, "%s, %d threads", openblas_get_config(), openblas_get_num_threads());
    return buf;
}

/* cblas_sbgemm exists only in OpenBLAS builds with BUILD_BFLOAT16 (Debian's has none): looked up at
 * run time */
typedef void (*sbgemm_fn)(enum CBLAS_ORDER, enum CBLAS_TRANSPOSE, enum CBLAS_TRANSPOSE, blasint, blasint, blasint,
                          float, const uint16_t *, blasint, const uint16_t *, blasint, float, float *, blasint);

int xb_blas_gemm(int bf16, int tb, int64_t M, int64_t N, int64_t K, int warmup, int reps, double *gflops,
                 xb_interleave cb, void *cbctx, char *err, size_t errsize)
{
    sbgemm_fn sb = NULL;
    if (bf16) {
        sb = (sbgemm_fn)(uintptr_t)dlsym(RTLD_DEFAULT, "cblas_sbgemm");
        if (!sb) {
            snprintf(err, errsize,
                     "peer unavailable: this OpenBLAS has no cblas_sbgemm (built without "
                     "BUILD_BFLOAT16)");
            return -1;
        }
    }
    size_t es = bf16 ? 2 : 4;
    void *a = malloc((size_t)(M * K) * es);
    void *b = malloc((size_t)(K * N) * es);
    float *c = malloc((size_t)(M * N) * sizeof(float));
    if (!a || !b || !c) {
        free(a);
        free(b);
        free(c);
        snprintf(err, errsize, "out of host memory");
        return -1;
    }
    for (int64_t i = 0; i < M * K; i++) {
        if (bf16)
            ((uint16_t *)a)[i] = 0x3e80; /* 0.25 */
        else
            ((float *)a)[i] = 0.25f;
    }
    for (int64_t i = 0; i < K * N; i++) {
        if (bf16)
            ((uint16_t *)b)[i] = 0x3f00; /* 0.5 */
        else
            ((float *)b)[i] = 0.5f;
    }
    for (int64_t i = 0; i < M * N; i++) c[i] = 0.0f;
    double flop = 2.0 * (double)M * (double)N * (double)K;
    for (int i = 0; i < warmup + reps; i++) {
        double t0 = xb_now();
        if (bf16)
            sb(CblasRowMajor, CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (blasint)M, (blasint)N, (blasint)K, 1.0f,
               (const uint16_t *)a, (blasint)K, (const uint16_t *)b, (blasint)(tb ? K : N), 0.0f, c, (blasint)N);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (blasint)M, (blasint)N, (blasint)K,
                        1.0f, (const float *)a, (blasint)K, (const float *)b, (blasint)(tb ? K : N), 0.0f, c,
                        (blasint)N);
        double t = xb_now() - t0;
        if (i >= warmup) gflops[i - warmup] = flop * 1e-9 / t;
        if (cb && cb(cbctx, i - warmup) != 0) {
            free(a);
            free(b);
            free(c);
            return -2;
        }
    }
    free(a);
    free(b);
    free(c);
    return 0;
}
#endif

/* ------------------------------------------------------------------------- */
/* OpenCL                                                                     */
/* ------------------------------------------------------------------------- */
#ifndef XB_HAVE_OPENCL
int xb_ocl_raw_dispatch(const xb_dev *d, int n_elems, int iters, int reps, double *us, char *err, size_t errsize)
{
    (void)d, (void)n_elems, (void)iters, (void)reps, (void)us;
    snprintf(err, errsize, "peer unavailable: xhal_bench was built without OpenCL headers/library");
    return -1;
}
int xb_clblast_gemm(const xb_dev *d, int half, int tb, int64_t M, int64_t N, int64_t K, int warmup, int reps,
                    double *gflops, xb_interleave cb, void *cbctx, char *err, size_t errsize)
{
    (void)d, (void)half, (void)tb, (void)M, (void)N, (void)K, (void)warmup, (void)reps, (void)gflops, (void)cb,
        (void)cbctx;
    snprintf(err, errsize, "peer unavailable: xhal_bench was built without OpenCL headers/library");
    return -1;
}
const char *xb_clblast_status(void) { return "absent (built without OpenCL)"; }
#else

/* The OpenCL device whose name equals the xhal device's (first match over platforms). */
static int find_cl_device(const xb_dev *d, cl_device_id *out, char *err, size_t errsize)
{
    cl_platform_id plats[16];
    cl_uint np = 0;
    if (clGetPlatformIDs(16, plats, &np) != CL_SUCCESS || np == 0) {
        snprintf(err, errsize, "peer unavailable: no OpenCL platform");
        return -1;
    }
    for (cl_uint p = 0; p < np && p < 16; p++) {
        cl_device_id ids[32];
        cl_uint nd = 0;
        if (clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 32, ids, &nd) != CL_SUCCESS) continue;
        for (cl_uint i = 0; i < nd && i < 32; i++) {
            char name[256] = "";
            clGetDeviceInfo(ids[i], CL_DEVICE_NAME, sizeof name, name, NULL);
            if (strcmp(name, d->info.name) == 0) {
                *out = ids[i];
                return 0;
            }
        }
    }
    snprintf(err, errsize, "peer unavailable: no OpenCL device named '%s'", d->info.name);
    return -1;
}

typedef struct cl_env {
    cl_context ctx;
    cl_command_queue q;
    cl_device_id dev;
} cl_env;

static int cl_env_open(const xb_dev *d, cl_env *e, char *err, size_t errsize)
{
    memset(e, 0, sizeof *e);
    if (find_cl_device(d, &e->dev, err, errsize) != 0) return -1;
    cl_int rc;
    e->ctx = clCreateContext(NULL, 1, &e->dev, NULL, NULL, &rc);
    if (rc != CL_SUCCESS) {
        snprintf(err, errsize, "clCreateContext failed (%d)", (int)rc);
        return -1;
    }
    e->q = clCreateCommandQueue(e->ctx, e->dev, 0, &rc);
    if (rc != CL_SUCCESS) {
        clReleaseContext(e->ctx);
        snprintf(err, errsize, "clCreateCommandQueue failed (%d)", (int)rc);
        return -1;
    }
    return 0;
}

static void cl_env_close(cl_env *e)
{
    if (e->q) clReleaseCommandQueue(e->q);
    if (e->ctx) clReleaseContext(e->ctx);
}

static const char *raw_src =
    "__kernel void add(__global const float *a, __global const float *b, __global float *o, int n)\n"
    "{ int i = get_global_id(0); if (i < n) o[i] = a[i] + b[i]; }\n";

int xb_ocl_raw_dispatch(const xb_dev *d, int n_elems, int iters, int reps, double *us, char *err, size_t errsize)
{
    cl_env e;
    if (cl_env_open(d, &e, err, errsize) != 0) return -1;
    int sync_each = iters > 0;
    if (iters < 0) iters = -iters;
    cl_int rc;
    cl_program prog = clCreateProgramWithSource(e.ctx, 1, &raw_src, NULL, &rc);
    cl_kernel k = NULL;
    cl_mem m[3] = {NULL, NULL, NULL};
    int ret = -1;
    if (rc != CL_SUCCESS || clBuildProgram(prog, 1, &e.dev, "", NULL, NULL) != CL_SUCCESS) {
        snprintf(err, errsize, "building the raw add kernel failed");
        goto done;
    }
    k = clCreateKernel(prog, "add", &rc);
    for (int i = 0; i < 3 && rc == CL_SUCCESS; i++)
        m[i] = clCreateBuffer(e.ctx, CL_MEM_READ_WRITE, (size_t)n_elems * sizeof(float), NULL, &rc);
    if (rc != CL_SUCCESS) {
        snprintf(err, errsize, "OpenCL setup failed (%d)", (int)rc);
        goto done;
    }
    for (int i = 0; i < 3; i++) clSetKernelArg(k, (cl_uint)i, sizeof(cl_mem), &m[i]);
    clSetKernelArg(k, 3, sizeof(int), &n_elems);
    size_t g = (size_t)n_elems;
    for (int r = -1; r < reps; r++) { /* r = -1: warm-up */
        double t0 = xb_now();
        for (int i = 0; i < iters; i++) {
            rc = clEnqueueNDRangeKernel(e.q, k, 1, NULL, &g, NULL, 0, NULL, NULL);
            if (rc == CL_SUCCESS && sync_each) rc = clFinish(e.q);
            if (rc != CL_SUCCESS) break;
        }
        if (rc == CL_SUCCESS) rc = clFinish(e.q);
        if (rc != CL_SUCCESS) {
            snprintf(err, errsize, "clEnqueueNDRangeKernel failed (%d)", (int)rc);
            goto done;
        }
        if (r >= 0) us[r] = (xb_now() - t0) * 1e6 / iters;
    }
    ret = 0;
done:
    for (int i = 0; i < 3; i++)
        if (m[i]) clReleaseMemObject(m[i]);
    if (k) clReleaseKernel(k);
    if (prog) clReleaseProgram(prog);
    cl_env_close(&e);
    return ret;
}

/* CLBlast through dlopen: the C API, row-major, no transposes. */
typedef int (*sgemm_fn)(int, int, int, size_t, size_t, size_t, float, cl_mem, size_t, size_t, cl_mem, size_t, size_t,
                        float, cl_mem, size_t, size_t, cl_command_queue *, cl_event *);
typedef int (*hgemm_fn)(int, int, int, size_t, size_t, size_t, cl_half, cl_mem, size_t, size_t, cl_mem, size_t, size_t,
                        cl_half, cl_mem, size_t, size_t, cl_command_queue *, cl_event *);
static void *clblast_lib;
static int clblast_tried;
static char clblast_why[128];

static void *clblast_open(void)
{
    if (clblast_tried) return clblast_lib;
    clblast_tried = 1;
    const char *names[2] = {"libclblast.so.1", "libclblast.so"};
    for (int i = 0; i < 2 && !clblast_lib; i++) clblast_lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!clblast_lib) snprintf(clblast_why, sizeof clblast_why, "peer unavailable: %s", dlerror());
    return clblast_lib;
}

const char *xb_clblast_status(void)
{
    static char buf[64];
    if (clblast_open()) {
        Dl_info info;
        void *sym = dlsym(clblast_lib, "CLBlastSgemm");
        if (sym && dladdr(sym, &info) && info.dli_fname)
            snprintf(buf, sizeof buf, "%s", info.dli_fname);
        else
            snprintf(buf, sizeof buf, "libclblast.so.1");
        return buf;
    }
    return "absent";
}

int xb_clblast_gemm(const xb_dev *d, int half, int tb, int64_t M, int64_t N, int64_t K, int warmup, int reps,
                    double *gflops, xb_interleave cb, void *cbctx, char *err, size_t errsize)
{
    if (!clblast_open()) {
        snprintf(err, errsize, "%s", clblast_why);
        return -1;
    }
    sgemm_fn sg = (sgemm_fn)(uintptr_t)dlsym(clblast_lib, "CLBlastSgemm");
    hgemm_fn hg = (hgemm_fn)(uintptr_t)dlsym(clblast_lib, "CLBlastHgemm");
    if ((!half && !sg) || (half && !hg)) {
        snprintf(err, errsize, "peer unavailable: CLBlast%cgemm not found", half ? 'H' : 'S');
        return -1;
    }
    cl_env e;
    if (cl_env_open(d, &e, err, errsize) != 0) return -1;
    size_t es = half ? 2 : 4;
    size_t sz[3] = {(size_t)(M * K) * es, (size_t)(K * N) * es, (size_t)(M * N) * es};
    cl_mem m[3] = {NULL, NULL, NULL};
    cl_int rc = CL_SUCCESS;
    int ret = -1;
    for (int i = 0; i < 3 && rc == CL_SUCCESS; i++) {
        m[i] = clCreateBuffer(e.ctx, CL_MEM_READ_WRITE, sz[i], NULL, &rc);
        if (rc == CL_SUCCESS) {
            unsigned char *h = calloc(1, sz[i]);
            if (h) {
                /* 0.25 / 0.5 like the xhal side (f16 0.25 = 0x3400, 0.5 = 0x3800) */
                for (size_t j = 0; j < sz[i] / es; j++) {
                    if (half)
                        ((uint16_t *)h)[j] = i == 0 ? 0x3400 : i == 1 ? 0x3800 : 0;
                    else
                        ((float *)h)[j] = i == 0 ? 0.25f : i == 1 ? 0.5f : 0.0f;
                }
                clEnqueueWriteBuffer(e.q, m[i], CL_TRUE, 0, sz[i], h, 0, NULL, NULL);
                free(h);
            }
        }
    }
    if (rc != CL_SUCCESS) {
        snprintf(err, errsize, "clCreateBuffer failed (%d)", (int)rc);
        goto done;
    }
    double flop = 2.0 * (double)M * (double)N * (double)K;
    for (int i = 0; i < warmup + reps; i++) {
        double t0 = xb_now();
        /* row-major 101, no transpose 111, transpose 112 */
        int tr = tb ? 112 : 111;
        size_t ldb = (size_t)(tb ? K : N);
        int st = half ? hg(101, 111, tr, (size_t)M, (size_t)N, (size_t)K, (cl_half)0x3c00, m[0], 0, (size_t)K, m[1], 0,
                           ldb, (cl_half)0, m[2], 0, (size_t)N, &e.q, NULL)
                      : sg(101, 111, tr, (size_t)M, (size_t)N, (size_t)K, 1.0f, m[0], 0, (size_t)K, m[1], 0, ldb, 0.0f,
                           m[2], 0, (size_t)N, &e.q, NULL);
        if (st == 0) st = clFinish(e.q);
        if (st != 0) {
            snprintf(err, errsize, "CLBlast%cgemm failed with status %d%s", half ? 'H' : 'S', st,
                     st == -2045 ? " (CLBlastNoHalfPrecision: the device lacks cl_khr_fp16)" : "");
            goto done;
        }
        double t = xb_now() - t0;
        if (i >= warmup) gflops[i - warmup] = flop * 1e-9 / t;
        if (cb && cb(cbctx, i - warmup) != 0) {
            ret = -2;
            goto done;
        }
    }
    ret = 0;
done:
    for (int i = 0; i < 3; i++)
        if (m[i]) clReleaseMemObject(m[i]);
    cl_env_close(&e);
    return ret;
}
#endif
