/*
 * ocl_program.c - program builds with an on-disk binary cache.
 *
 * A program binary is stored under XHAL_CACHE_DIR (default $XDG_CACHE_HOME/xhal, else
 * ~/.cache/xhal) as opencl-<key>.bin, key = 128-bit hash of (source, options, platform
 * version, device name, driver version). File layout: "XHALCLB1", u64 payload size,
 * u64 payload hash, payload. Files are written to a temporary name and renamed, so a
 * reader never sees half a file; a file that fails any check is ignored and rebuilt.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ocl_internal.h"
#include "xhal_file.h"

const char *const ocl_kernel_names[OK_COUNT_] = {
    "xk_copy", "xk_fill", "xk_unary", "xk_scale", "xk_binary", "xk_binary_int",
    "xk_reduce", "xk_softmax", "xk_rms_norm", "xk_layer_norm", "xk_matmul", "xk_matmul_rb", "xk_gather",
    "xk_rope", "xk_attention",
};

static const char cache_magic[8] = {'X', 'H', 'A', 'L', 'C', 'L', 'B', '1'};

static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t hash_str(uint64_t h, const char *s)
{
    h = fnv1a(h, s, strlen(s));
    return fnv1a(h, "\0", 1); /* separator: ("ab","c") != ("a","bc") */
}

static int mkdir_p(const char *path)
{
    char tmp[1024];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof tmp) return -1;
    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i < n; i++) {
        if (tmp[i] == '/') {
            tmp[i] = 0;
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
            tmp[i] = '/';
        }
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
    return 0;
}

/* The cache folder into buf; 0 on success, -1 when there is none. */
static int cache_dir(char *buf, size_t size)
{
    const char *d = secure_getenv("XHAL_CACHE_DIR"); /* setuid: no cache from the caller */
    int n;
    if (d && d[0]) n = snprintf(buf, size, "%s", d);
    else if ((d = secure_getenv("XDG_CACHE_HOME")) && d[0]) n = snprintf(buf, size, "%s/xhal", d);
    else if ((d = secure_getenv("HOME")) && d[0]) n = snprintf(buf, size, "%s/.cache/xhal", d);
    else return -1;
    if (n < 0 || (size_t)n >= size) return -1;
    return mkdir_p(buf);
}

static unsigned char *read_cache(const char *path, size_t *len)
{
    FILE *f = xhal_fopen_regular(path, NULL, 0); /* a FIFO would block fopen() */
    unsigned char hdr[24];
    uint64_t size, sum;
    unsigned char *data = NULL;
    if (!f) return NULL;
    if (fread(hdr, 1, sizeof hdr, f) != sizeof hdr || memcmp(hdr, cache_magic, 8) != 0) goto bad;
    memcpy(&size, hdr + 8, 8);
    memcpy(&sum, hdr + 16, 8);
    if (size == 0 || size > ((uint64_t)1 << 31)) goto bad;
    data = ocl_alloc((size_t)size);
    if (!data) goto bad;
    if (fread(data, 1, (size_t)size, f) != size || fgetc(f) != EOF) goto bad;
    if (fnv1a(0xcbf29ce484222325ull, data, (size_t)size) != sum) goto bad;
    fclose(f);
    *len = (size_t)size;
    return data;
bad:
    ocl_log(XHAL_LOG_WARN, "program cache file %s is corrupt or unreadable: ignored, rebuilding",
            path);
    ocl_free(data);
    fclose(f);
    return NULL;
}

static void write_cache(const char *path, const unsigned char *data, size_t len)
{
    char tmp[1200];
    unsigned char hdr[24];
    uint64_t size = len, sum = fnv1a(0xcbf29ce484222325ull, data, len);
    FILE *f;
    /* unique per process and call: two devices of one model may write one key at once */
    static atomic_uint seq;
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%u", path, (long)getpid(),
             atomic_fetch_add(&seq, 1u));
    f = fopen(tmp, "wb");
    if (!f) {
        ocl_log(XHAL_LOG_WARN, "cannot write program cache %s: %s", tmp, strerror(errno));
        return;
    }
    memcpy(hdr, cache_magic, 8);
    memcpy(hdr + 8, &size, 8);
    memcpy(hdr + 16, &sum, 8);
    int ok = fwrite(hdr, 1, sizeof hdr, f) == sizeof hdr && fwrite(data, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        ocl_log(XHAL_LOG_WARN, "cannot write program cache %s: %s", path, strerror(errno));
        unlink(tmp);
    }
}

/* Build a created program; on failure set the error with the build log. */
static xhal_status build(ocl_device *dev, cl_program prog, const char *options, const char *label)
{
    cl_int err = clBuildProgram(prog, 1, &dev->id, options, NULL, NULL);
    if (err == CL_SUCCESS) return XHAL_OK;
    size_t n = 0;
    char *log = NULL;
    clGetProgramBuildInfo(prog, dev->id, CL_PROGRAM_BUILD_LOG, 0, NULL, &n);
    if (n > 0 && (log = ocl_alloc(n + 1)) != NULL) {
        if (clGetProgramBuildInfo(prog, dev->id, CL_PROGRAM_BUILD_LOG, n, log, NULL) != CL_SUCCESS)
            log[0] = 0;
        log[n] = 0;
    }
    xhal_status st = ocl_set_error(XHAL_ERROR_BACKEND, "opencl: building %s for %s failed: %s (%d)\n%s",
                                   label, dev->info.name, ocl_err_name(err), (int)err,
                                   log ? log : "(no build log)");
    ocl_free(log);
    return st;
}

xhal_status ocl_build_program(ocl_device *dev, const char *source, const char *options,
                              const char *label, cl_program *out)
{
    char dir[1024] = "", path[1200];
    int have_dir = cache_dir(dir, sizeof dir) == 0;
    uint64_t h1 = 0xcbf29ce484222325ull, h2 = 0x84222325cbf29ce4ull;
    const char *parts[5] = {source, options, dev->platform_version, dev->info.name,
                            dev->info.driver_version};
    cl_int err;
    cl_program prog;
    double t0 = ocl_now_ms();

    for (int i = 0; i < 5; i++) {
        h1 = hash_str(h1, parts[i]);
        h2 = hash_str(h2 ^ (uint64_t)(i + 1) * 0x9e3779b97f4a7c15ull, parts[i]);
    }
    snprintf(path, sizeof path, "%s/opencl-%016llx%016llx.bin", dir, (unsigned long long)h1,
             (unsigned long long)h2);

    if (have_dir) {
        size_t len = 0;
        unsigned char *bin = read_cache(path, &len);
        if (bin) {
            const unsigned char *bins[1] = {bin};
            cl_int bst = CL_SUCCESS;
            prog = clCreateProgramWithBinary(dev->ctx, 1, &dev->id, &len, bins, &bst, &err);
            ocl_free(bin);
            if (err == CL_SUCCESS && bst == CL_SUCCESS &&
                clBuildProgram(prog, 1, &dev->id, options, NULL, NULL) == CL_SUCCESS) {
                ocl_log(XHAL_LOG_INFO, "%s on %s: loaded from cache %s in %.1f ms (not compiled)",
                        label, dev->info.name, path, ocl_now_ms() - t0);
                *out = prog;
                return XHAL_OK;
            }
            if (err == CL_SUCCESS) clReleaseProgram(prog);
            ocl_log(XHAL_LOG_WARN, "%s on %s: cached binary %s rejected by the driver; rebuilding",
                    label, dev->info.name, path);
        }
    } else {
        ocl_log(XHAL_LOG_WARN, "no usable program cache folder (XHAL_CACHE_DIR, XDG_CACHE_HOME, "
                               "HOME): compiling without a cache");
    }

    prog = clCreateProgramWithSource(dev->ctx, 1, &source, NULL, &err);
    if (err != CL_SUCCESS) return ocl_fail(err, "clCreateProgramWithSource(%s)", label);
    xhal_status st = build(dev, prog, options, label);
    if (st != XHAL_OK) {
        clReleaseProgram(prog);
        return st;
    }
    double t1 = ocl_now_ms();
    ocl_log(XHAL_LOG_INFO, "%s on %s: compiled from source in %.1f ms", label, dev->info.name,
            t1 - t0);
    if (have_dir) {
        size_t len = 0;
        if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof len, &len, NULL) == CL_SUCCESS &&
            len > 0) {
            unsigned char *bin = ocl_alloc(len);
            unsigned char *bins[1] = {bin};
            if (bin && clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) ==
                           CL_SUCCESS) {
                write_cache(path, bin, len);
                /* some drivers (PoCL) compile every kernel here, which can take long */
                ocl_log(XHAL_LOG_INFO, "%s: %zu-byte binary produced in %.1f ms, cached as %s",
                        label, len, ocl_now_ms() - t1, path);
            }
            ocl_free(bin);
        }
    }
    *out = prog;
    return XHAL_OK;
}

/* Keep a copy of the calling thread's last error message (best effort). */
void ocl_remember_error(char **slot)
{
    const char *msg = ocl_last_message();
    size_t n = strlen(msg);
    char *c = ocl_alloc(n + 1);
    if (!c) return;
    memcpy(c, msg, n + 1);
    *slot = c;
}

void ocl_base_options(const ocl_device *dev, char *buf, size_t size)
{
    snprintf(buf, size, "-cl-std=CL1.2%s", dev->has_fp64 ? " -DXK_HAS_FP64" : "");
}

xhal_status ocl_ops_program(ocl_device *dev, int variant)
{
    char opts[256], label[64];
    if (dev->ops[variant]) return XHAL_OK;
    if (dev->ops_error[variant]) /* a failed build is not retried on every op */
        return ocl_host->set_error(XHAL_ERROR_BACKEND, "%s", dev->ops_error[variant]);
    size_t n1 = strlen(xk_src_prelude_opencl_h), n2 = strlen(xk_src_xk_common_h),
           n3 = strlen(xk_src_xk_ops_cl);
    char *src = ocl_alloc(n1 + n2 + n3 + 1);
    if (!src) return ocl_host->set_error(XHAL_ERROR_OUT_OF_MEMORY, "opencl: out of host memory");
    memcpy(src, xk_src_prelude_opencl_h, n1);
    memcpy(src + n1, xk_src_xk_common_h, n2);
    memcpy(src + n1 + n2, xk_src_xk_ops_cl, n3 + 1);
    ocl_base_options(dev, opts, sizeof opts);
    if (variant == OCL_VARIANT_F64) strncat(opts, " -DXK_REAL_F64", sizeof opts - strlen(opts) - 1);
    snprintf(label, sizeof label, "op program (%s)", variant == OCL_VARIANT_F64 ? "f64" : "f32");
    cl_program prog;
    xhal_status st = ocl_build_program(dev, src, opts, label, &prog);
    ocl_free(src);
    if (st != XHAL_OK) {
        if (st == XHAL_ERROR_BACKEND) ocl_remember_error(&dev->ops_error[variant]);
        return st;
    }
    for (int k = 0; k < OK_COUNT_; k++) {
        cl_int err;
        dev->kernels[variant][k] = clCreateKernel(prog, ocl_kernel_names[k], &err);
        if (err != CL_SUCCESS) {
            for (int j = 0; j < k; j++) clReleaseKernel(dev->kernels[variant][j]);
            clReleaseProgram(prog);
            return ocl_fail(err, "clCreateKernel(%s)", ocl_kernel_names[k]);
        }
        size_t wg = 0;
        if (clGetKernelWorkGroupInfo(dev->kernels[variant][k], dev->id, CL_KERNEL_WORK_GROUP_SIZE,
                                     sizeof wg, &wg, NULL) != CL_SUCCESS)
            wg = dev->max_wg;
        dev->kernel_wg[variant][k] = wg;
    }
    dev->ops[variant] = prog;
    return XHAL_OK;
}
