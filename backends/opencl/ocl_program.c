/*
 * ocl_program.c - program builds with an on-disk binary cache.
 *
 * A program binary is stored under XHAL_CACHE_DIR (default $XDG_CACHE_HOME/xhal, else
 * ~/.cache/xhal) as opencl-<hash>.bin, hash = 128 bits of the key; the key is the full text of
 * (source, options, platform version, device name, vendor and arch, driver version).
 * File layout (v2): "XHALCLB2", u64 key size, u64 binary size, u64 checksum (FNV-1a 64 over
 * the 24 bytes before it, the key and the binary), the key, the binary. An entry is used only
 * if its size is exactly what its header says (a truncated binary never reaches the driver),
 * its key equals this build's key byte for byte (an entry copied over another's name, or a hash
 * collision, is not taken: the checksum alone never tied an entry to its key), and the checksum
 * holds. The folder must belong to this user (or root) and not be writable by others, entries
 * must belong to this user and are opened without following links; new entries are written to
 * an mkstemp() file and renamed, so a reader never sees half a file and no planted link is
 * followed. A file that fails any check is ignored (with a warning) and rebuilt.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ocl_internal.h"
#include "xhal/plugin/xhal_file.h"

static const char cache_magic[8] = {'X', 'H', 'A', 'L', 'C', 'L', 'B', '2'};
#define CACHE_HDR 32
#define CACHE_MAX_KEY ((uint64_t)64 << 20)
#define CACHE_MAX_BIN ((uint64_t)1 << 31)

static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static uint64_t entry_sum(const unsigned char *hdr24, const void *key, size_t key_len, const void *bin, size_t bin_len)
{
    uint64_t h = fnv1a(0xcbf29ce484222325ull, hdr24, 24);
    h = fnv1a(h, key, key_len);
    return fnv1a(h, bin, bin_len);
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
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST) return -1;
    return 0;
}

/* The cache folder into buf; 0 on success, -1 when there is none (or it is unsafe: others could
 * plant entries in it). */
static int cache_dir(char *buf, size_t size)
{
    const char *d = secure_getenv("XHAL_CACHE_DIR"); /* setuid: no cache from the caller */
    int n;
    if (d && d[0])
        n = snprintf(buf, size, "%s", d);
    else if ((d = secure_getenv("XDG_CACHE_HOME")) && d[0])
        n = snprintf(buf, size, "%s/xhal", d);
    else if ((d = secure_getenv("HOME")) && d[0])
        n = snprintf(buf, size, "%s/.cache/xhal", d);
    else
        return -1;
    if (n < 0 || (size_t)n >= size) return -1;
    if (mkdir_p(buf) != 0) return -1;
    struct stat st;
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) return -1;
    if (st.st_mode & S_IWOTH) {
        ocl_log(XHAL_LOG_WARN,
                "program cache folder %s is writable by other users (mode %03o): not "
                "used (anyone could plant binaries in it); fix with chmod o-w",
                buf, (unsigned)(st.st_mode & 0777));
        return -1;
    }
    if (st.st_uid != 0 && st.st_uid != geteuid()) {
        ocl_log(XHAL_LOG_WARN,
                "program cache folder %s belongs to uid %u, neither root nor this user "
                "(uid %u): not used",
                buf, (unsigned)st.st_uid, (unsigned)geteuid());
        return -1;
    }
    return 0;
}

static int read_all(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return 0;
}

static int write_all(int fd, const void *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = write(fd, (const char *)buf + done, n - done);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        done += (size_t)r;
    }
    return 0;
}

/* The binary of the entry at path if it is this key's and intact; NULL (with a warning when a
 * file was there) otherwise. */
static unsigned char *read_cache(const char *path, const char *key, size_t key_len, size_t *len)
{
    char why[160];
    struct stat st;
    unsigned char hdr[CACHE_HDR];
    unsigned char *data = NULL, *fkey = NULL;
    const char *bad = NULL;
    /* not a link, a regular file (a FIFO would block), this user's */
    int fd = xhal_open_regular(path, O_NOFOLLOW, &st, why, sizeof why);
    if (fd < 0) {
        if (errno == ENOENT) return NULL;
        ocl_log(XHAL_LOG_WARN, "program cache entry %s: %s: ignored, rebuilding", path,
                errno == ELOOP ? "is a symbolic link" : why);
        return NULL;
    }
    uint64_t klen, blen, sum;
    if (st.st_uid != geteuid() || (st.st_mode & (S_IWOTH | S_IWGRP))) {
        bad = "belongs to another user or is writable by others";
        goto out;
    }
    if ((uint64_t)st.st_size < CACHE_HDR || read_all(fd, hdr, CACHE_HDR) != 0 || memcmp(hdr, cache_magic, 8) != 0) {
        bad = "not a version-2 entry";
        goto out;
    }
    memcpy(&klen, hdr + 8, 8);
    memcpy(&blen, hdr + 16, 8);
    memcpy(&sum, hdr + 24, 8);
    if (klen > CACHE_MAX_KEY || blen == 0 || blen > CACHE_MAX_BIN) {
        bad = "has absurd sizes in its header";
        goto out;
    }
    if ((uint64_t)st.st_size != CACHE_HDR + klen + blen) {
        bad = (uint64_t)st.st_size < CACHE_HDR + klen + blen ? "is truncated" : "has trailing bytes";
        goto out;
    }
    if (klen != key_len) {
        bad = "was built for another key (source, options, platform, device or driver)";
        goto out;
    }
    fkey = ocl_alloc((size_t)klen + 1);
    data = ocl_alloc((size_t)blen);
    if (!fkey || !data || read_all(fd, fkey, (size_t)klen) != 0 || read_all(fd, data, (size_t)blen) != 0) {
        bad = "cannot be read";
        goto out;
    }
    if (memcmp(fkey, key, key_len) != 0) {
        bad = "was built for another key (source, options, platform, device or driver)";
        goto out;
    }
    if (entry_sum(hdr, fkey, (size_t)klen, data, (size_t)blen) != sum) {
        bad = "fails its checksum";
        goto out;
    }
out:
    close(fd);
    ocl_free(fkey);
    if (bad) {
        ocl_log(XHAL_LOG_WARN, "program cache entry %s %s: ignored, rebuilding", path, bad);
        ocl_free(data);
        return NULL;
    }
    *len = (size_t)blen;
    return data;
}

static void write_cache(const char *path, const char *key, size_t key_len, const unsigned char *data, size_t len)
{
    char tmp[1200];
    unsigned char hdr[CACHE_HDR];
    uint64_t klen = key_len, blen = len, sum;
    /* mkstemp: a fresh name created with O_EXCL (0600), so a link planted at a guessable name is
     * never followed; two writers of one key each rename their own file */
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= sizeof tmp) return;
    int fd = mkstemp(tmp);
    if (fd < 0) {
        ocl_log(XHAL_LOG_WARN, "cannot write program cache %s: %s", tmp, strerror(errno));
        return;
    }
    memcpy(hdr, cache_magic, 8);
    memcpy(hdr + 8, &klen, 8);
    memcpy(hdr + 16, &blen, 8);
    sum = entry_sum(hdr, key, key_len, data, len);
    memcpy(hdr + 24, &sum, 8);
    int ok = write_all(fd, hdr, sizeof hdr) == 0 && write_all(fd, key, key_len) == 0 && write_all(fd, data, len) == 0;
    ok = (close(fd) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        ocl_log(XHAL_LOG_WARN, "cannot write program cache %s: %s", path, strerror(errno));
        unlink(tmp);
    }
}

/* The key: every part with its terminating NUL, after a version tag. */
static char *cache_key(const char *const *parts, int n, size_t *len)
{
    static const char tag[] = "xhal opencl program cache key v2";
    size_t total = sizeof tag;
    for (int i = 0; i < n; i++) total += strlen(parts[i]) + 1;
    char *k = ocl_alloc(total);
    if (!k) return NULL;
    memcpy(k, tag, sizeof tag);
    size_t at = sizeof tag;
    for (int i = 0; i < n; i++) {
        size_t m = strlen(parts[i]) + 1;
        memcpy(k + at, parts[i], m);
        at += m;
    }
    *len = total;
    return k;
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
        if (clGetProgramBuildInfo(prog, dev->id, CL_PROGRAM_BUILD_LOG, n, log, NULL) != CL_SUCCESS) log[0] = 0;
        log[n] = 0;
    }
    xhal_status st = ocl_set_error(XHAL_ERROR_BACKEND, "opencl: building %s for %s failed: %s (%d)\n%s", label,
                                   dev->info.name, ocl_err_name(err), (int)err, log ? log : "(no build log)");
    ocl_free(log);
    return st;
}

xhal_status ocl_build_program(ocl_device *dev, const char *source, const char *options, const char *label,
                              cl_program *out)
{
    char dir[1024] = "", path[1200];
    int have_dir = cache_dir(dir, sizeof dir) == 0;
    const char *parts[7] = {source,           options,        dev->platform_version,   dev->info.name,
                            dev->info.vendor, dev->info.arch, dev->info.driver_version};
    cl_int err;
    cl_program prog;
    double t0 = ocl_now_ms();
    size_t key_len = 0;
    char *key = have_dir ? cache_key(parts, 7, &key_len) : NULL;
    if (have_dir && !key) have_dir = 0;

    if (have_dir) {
        uint64_t h1 = fnv1a(0xcbf29ce484222325ull, key, key_len);
        uint64_t h2 = fnv1a(0x84222325cbf29ce4ull ^ 0x9e3779b97f4a7c15ull, key, key_len);
        snprintf(path, sizeof path, "%s/opencl-%016llx%016llx.bin", dir, (unsigned long long)h1,
                 (unsigned long long)h2);
        size_t len = 0;
        unsigned char *bin = read_cache(path, key, key_len, &len);
        if (bin) {
            const unsigned char *bins[1] = {bin};
            cl_int bst = CL_SUCCESS;
            prog = clCreateProgramWithBinary(dev->ctx, 1, &dev->id, &len, bins, &bst, &err);
            ocl_free(bin);
            if (err == CL_SUCCESS && bst == CL_SUCCESS &&
                clBuildProgram(prog, 1, &dev->id, options, NULL, NULL) == CL_SUCCESS) {
                ocl_log(XHAL_LOG_INFO, "%s on %s: loaded from cache %s in %.1f ms (not compiled)", label,
                        dev->info.name, path, ocl_now_ms() - t0);
                ocl_free(key);
                *out = prog;
                return XHAL_OK;
            }
            if (err == CL_SUCCESS) clReleaseProgram(prog);
            ocl_log(XHAL_LOG_WARN, "%s on %s: cached binary %s rejected by the driver; rebuilding", label,
                    dev->info.name, path);
        }
    } else {
        ocl_log(XHAL_LOG_WARN, "no usable program cache folder (XHAL_CACHE_DIR, XDG_CACHE_HOME, "
                               "HOME): compiling without a cache");
    }

    prog = clCreateProgramWithSource(dev->ctx, 1, &source, NULL, &err);
    if (err != CL_SUCCESS) {
        ocl_free(key);
        return ocl_fail(err, "clCreateProgramWithSource(%s)", label);
    }
    xhal_status st = build(dev, prog, options, label);
    if (st != XHAL_OK) {
        ocl_free(key);
        clReleaseProgram(prog);
        return st;
    }
    double t1 = ocl_now_ms();
    ocl_log(XHAL_LOG_INFO, "%s on %s: compiled from source in %.1f ms", label, dev->info.name, t1 - t0);
    if (have_dir) {
        size_t len = 0;
        if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof len, &len, NULL) == CL_SUCCESS && len > 0) {
            unsigned char *bin = ocl_alloc(len);
            unsigned char *bins[1] = {bin};
            if (bin && clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) == CL_SUCCESS) {
                write_cache(path, key, key_len, bin, len);
                /* some drivers (PoCL) compile every kernel here, which can take long */
                ocl_log(XHAL_LOG_INFO, "%s: %zu-byte binary produced in %.1f ms, cached as %s", label, len,
                        ocl_now_ms() - t1, path);
            }
            ocl_free(bin);
        }
    }
    ocl_free(key);
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
    /* the prelude, the op table's rows (the kernels' op ids), the helpers, the kernels */
    const char *const parts[] = {xk_src_prelude_opencl_h, "#define XHAL_OP_TABLE_ROWS_ONLY 1\n", xk_src_xhal_op_table_h,
                                 xk_src_xk_common_h, xk_src_xk_ops_cl};
    size_t total = 1;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) total += strlen(parts[i]);
    char *src = ocl_alloc(total);
    if (!src) return ocl_host->set_error(XHAL_ERROR_OUT_OF_MEMORY, "opencl: out of host memory");
    src[0] = 0;
    for (size_t i = 0, at = 0; i < sizeof parts / sizeof parts[0]; i++) {
        size_t n = strlen(parts[i]);
        memcpy(src + at, parts[i], n + 1);
        at += n;
    }
    ocl_base_options(dev, opts, sizeof opts);
    if (variant == XK_VARIANT_F64) strncat(opts, " -DXK_REAL_F64", sizeof opts - strlen(opts) - 1);
    snprintf(label, sizeof label, "op program (%s)", variant == XK_VARIANT_F64 ? "f64" : "f32");
    cl_program prog;
    xhal_status st = ocl_build_program(dev, src, opts, label, &prog);
    ocl_free(src);
    if (st != XHAL_OK) {
        if (st == XHAL_ERROR_BACKEND) ocl_remember_error(&dev->ops_error[variant]);
        return st;
    }
    for (int k = 0; k < XK_K_COUNT_; k++) {
        cl_int err;
        dev->kernels[variant][k] = clCreateKernel(prog, xk_kernel_name(k), &err);
        if (err != CL_SUCCESS) {
            for (int j = 0; j < k; j++) clReleaseKernel(dev->kernels[variant][j]);
            clReleaseProgram(prog);
            return ocl_fail(err, "clCreateKernel(%s)", xk_kernel_name(k));
        }
        size_t wg = 0;
        if (clGetKernelWorkGroupInfo(dev->kernels[variant][k], dev->id, CL_KERNEL_WORK_GROUP_SIZE, sizeof wg, &wg,
                                     NULL) != CL_SUCCESS)
            wg = dev->max_wg;
        dev->kernel_wg[variant][k] = wg;
    }
    dev->ops[variant] = prog;
    return XHAL_OK;
}
