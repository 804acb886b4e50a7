/* npy.c - write and read f32 .npy files (see npy.h). */
#define _POSIX_C_SOURCE 200809L /* xhal_file.h: open flags, fdopen */
#include "npy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "xhal/plugin/xhal_file.h"

static xhal_status npy_err(char *err, size_t len, xhal_status st, const char *fmt, ...)
{
    if (err && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, len, fmt, ap);
        va_end(ap);
    }
    return st;
}

xhal_status xc_npy_write_f32(const char *path, const float *data, int ndim, const int64_t *shape, char *err,
                             size_t err_len)
{
    if (!path || ndim < 0 || ndim > XC_NPY_MAX_DIMS || (ndim > 0 && !shape))
        return npy_err(err, err_len, XHAL_ERROR_INVALID_ARGUMENT, "npy: bad arguments for '%s'",
                       path ? path : "(null)");
    char dict[512];
    int k = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    uint64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return npy_err(err, err_len, XHAL_ERROR_INVALID_ARGUMENT, "npy: negative dim for '%s'", path);
        numel *= (uint64_t)shape[i];
        k += snprintf(dict + k, sizeof dict - (size_t)k, "%lld%s", (long long)shape[i],
                      (ndim == 1 || i + 1 < ndim) ? ", " : "");
    }
    if (ndim == 1) k -= 1; /* "(n,)" rather than "(n, )" */
    k += snprintf(dict + k, sizeof dict - (size_t)k, "), }");
    if (numel > 0 && !data) return npy_err(err, err_len, XHAL_ERROR_INVALID_ARGUMENT, "npy: no data for '%s'", path);
    /* v1.0: magic(6) + version(2) + u16 header length; header padded with spaces and ended by
     * '\n' so that the data starts at a multiple of 64 bytes. */
    size_t total = 10 + (size_t)k + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hlen = (size_t)k + pad + 1;
    unsigned char pre[10] = {
        0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff), (unsigned char)(hlen >> 8)};
    FILE *fp = fopen(path, "wb");
    if (!fp) return npy_err(err, err_len, XHAL_ERROR_IO, "npy: cannot create '%s': %s", path, strerror(errno));
    int ok = fwrite(pre, 1, 10, fp) == 10 && fwrite(dict, 1, (size_t)k, fp) == (size_t)k;
    for (size_t i = 0; ok && i < pad; i++) ok = fputc(' ', fp) != EOF;
    if (ok) ok = fputc('\n', fp) != EOF;
    /* The host is little-endian (as safetensors requires): floats go out as they are. */
    if (ok && numel > 0) ok = fwrite(data, sizeof(float), (size_t)numel, fp) == (size_t)numel;
    if (fclose(fp) != 0) ok = 0;
    if (!ok) return npy_err(err, err_len, XHAL_ERROR_IO, "npy: writing '%s' failed: %s", path, strerror(errno));
    return XHAL_OK;
}

/* Find 'key': in the header dict and return a pointer just after the colon. */
static const char *npy_field(const char *h, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "'%s'", key);
    const char *p = strstr(h, pat);
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ') p++;
    if (*p != ':') return NULL;
    p++;
    while (*p == ' ') p++;
    return p;
}

xhal_status xc_npy_read_f32(const char *path, float **data, int *ndim, int64_t *shape, char *err, size_t err_len)
{
    if (!path || !data || !ndim || !shape)
        return npy_err(err, err_len, XHAL_ERROR_INVALID_ARGUMENT, "npy: bad arguments");
    char why[128];
    FILE *fp = xhal_fopen_regular(path, why, sizeof why); /* a FIFO would block fopen() */
    if (!fp)
        return npy_err(err, err_len, errno == ENOENT ? XHAL_ERROR_NOT_FOUND : XHAL_ERROR_IO,
                       "npy: cannot open '%s': %s", path, why);
    xhal_status st = XHAL_OK;
    char *h = NULL;
    float *buf = NULL;
    unsigned char pre[12];
    if (fread(pre, 1, 10, fp) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        st = npy_err(err, err_len, XHAL_ERROR_CORRUPT_DATA, "npy: '%s' is not a .npy file", path);
        goto out;
    }
    uint32_t hlen;
    if (pre[6] == 1) {
        hlen = (uint32_t)pre[8] | ((uint32_t)pre[9] << 8);
    } else if (pre[6] == 2 || pre[6] == 3) {
        if (fread(pre + 10, 1, 2, fp) != 2) {
            st = npy_err(err, err_len, XHAL_ERROR_CORRUPT_DATA, "npy: '%s' truncated", path);
            goto out;
        }
        hlen = (uint32_t)pre[8] | ((uint32_t)pre[9] << 8) | ((uint32_t)pre[10] << 16) | ((uint32_t)pre[11] << 24);
    } else {
        st = npy_err(err, err_len, XHAL_ERROR_UNSUPPORTED, "npy: '%s' has format version %d.%d", path, pre[6], pre[7]);
        goto out;
    }
    if (hlen > 65536) {
        st = npy_err(err, err_len, XHAL_ERROR_CORRUPT_DATA, "npy: '%s' header of %u bytes", path, (unsigned)hlen);
        goto out;
    }
    h = malloc((size_t)hlen + 1);
    if (!h) {
        st = npy_err(err, err_len, XHAL_ERROR_OUT_OF_MEMORY, "npy: out of memory");
        goto out;
    }
    if (fread(h, 1, hlen, fp) != hlen) {
        st = npy_err(err, err_len, XHAL_ERROR_CORRUPT_DATA, "npy: '%s' header truncated", path);
        goto out;
    }
    h[hlen] = '\0';
    const char *d = npy_field(h, "descr");
    const char *f = npy_field(h, "fortran_order");
    const char *s = npy_field(h, "shape");
    if (!d || !f || !s || *s != '(') {
        st = npy_err(err, err_len, XHAL_ERROR_CORRUPT_DATA,
                     "npy: '%s' header lacks descr, "
                     "fortran_order or shape",
                     path);
        goto out;
    }
    if (strncmp(d, "'<f4'", 5) != 0) {
        st = npy_err(err, err_len, XHAL_ERROR_UNSUPPORTED,
                     "npy: '%s' is not little-endian f32 "
                     "('<f4')",
                     path);
        goto out;
    }
    if (strncmp(f, "False", 5) != 0) {
        st = npy_err(err, err_len, XHAL_ERROR_UNSUPPORTED, "npy: '%s' is in Fortran order", path);
        goto out;
    }
    int nd = 0;
    uint64_t numel = 1;
    s++;
    for (;;) {
        while (*s == ' ' || *s == ',') s++;
        if (*s == ')') break;
        char *e;
        long long v = strtoll(s, &e, 10);
        if (e == s || v < 0 || v > ((long long)1 << 40) || nd == XC_NPY_MAX_DIMS) {
            st = npy_err(err, err_len, XHAL_ERROR_CORRUPT_DATA, "npy: '%s' has a malformed shape", path);
            goto out;
        }
        shape[nd++] = v;
        numel *= (uint64_t)v;
        if (numel > ((uint64_t)1 << 40)) {
            st = npy_err(err, err_len, XHAL_ERROR_CORRUPT_DATA, "npy: '%s' shape too large", path);
            goto out;
        }
        s = e;
    }
    /* The data must be exactly what the shape says: compare with the file size first. */
    long here = ftell(fp);
    if (here < 0 || fseek(fp, 0, SEEK_END) != 0) {
        st = npy_err(err, err_len, XHAL_ERROR_IO, "npy: cannot seek '%s'", path);
        goto out;
    }
    long end = ftell(fp);
    if (end < here || (uint64_t)(end - here) != numel * sizeof(float)) {
        st = npy_err(err, err_len, XHAL_ERROR_CORRUPT_DATA,
                     "npy: '%s' holds %ld data bytes, its "
                     "shape needs %llu",
                     path, end - here, (unsigned long long)(numel * sizeof(float)));
        goto out;
    }
    fseek(fp, here, SEEK_SET);
    buf = malloc(numel ? (size_t)numel * sizeof(float) : 1);
    if (!buf) {
        st = npy_err(err, err_len, XHAL_ERROR_OUT_OF_MEMORY, "npy: out of memory");
        goto out;
    }
    if (numel && fread(buf, sizeof(float), (size_t)numel, fp) != (size_t)numel) {
        st = npy_err(err, err_len, XHAL_ERROR_IO, "npy: short read of '%s'", path);
        goto out;
    }
    *data = buf;
    buf = NULL;
    *ndim = nd;
out:
    free(buf);
    free(h);
    fclose(fp);
    return st;
}
