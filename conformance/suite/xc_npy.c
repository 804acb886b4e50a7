/* xc_npy.c - a small .npy reader/writer (NEP 1: format 1.0, 2.0 and 3.0 headers;
 * little-endian, C order). bf16 has no numpy dtype: it travels as '<u2' bit patterns. */
#define _POSIX_C_SOURCE 200809L /* xhal_file.h: open flags, fdopen */
#include "xc_conform.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "xhal/plugin/xhal_file.h"

static int err(char *msg, size_t sz, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sz, fmt, ap);
    va_end(ap);
    return -1;
}

/* Value text after 'key': in a header dict, or NULL. */
static const char *dict_value(const char *h, const char *key)
{
    char pat[32];
    snprintf(pat, sizeof(pat), "'%s'", key);
    const char *p = strstr(h, pat);
    if (!p) {
        snprintf(pat, sizeof(pat), "\"%s\"", key);
        p = strstr(h, pat);
    }
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ') p++;
    if (*p != ':') return NULL;
    p++;
    while (*p == ' ') p++;
    return p;
}

static xhal_dtype descr_dtype(const char *d, int as_bf16)
{
    if (d[0] == '>') return XHAL_DTYPE_INVALID;
    const char *t = (d[0] == '<' || d[0] == '|' || d[0] == '=') ? d + 1 : d;
    if (!strcmp(t, "f4")) return XHAL_DTYPE_F32;
    if (!strcmp(t, "f2")) return XHAL_DTYPE_F16;
    if (!strcmp(t, "f8")) return XHAL_DTYPE_F64;
    if (!strcmp(t, "i4")) return XHAL_DTYPE_I32;
    if (!strcmp(t, "i8")) return XHAL_DTYPE_I64;
    if (!strcmp(t, "i1")) return XHAL_DTYPE_I8;
    if (!strcmp(t, "u1")) return XHAL_DTYPE_U8;
    if (!strcmp(t, "u2") && as_bf16) return XHAL_DTYPE_BF16;
    return XHAL_DTYPE_INVALID;
}

int xc_npy_read(const char *path, int as_bf16, xc_tensor *t, char *msg, size_t msgsz)
{
    memset(t, 0, sizeof(*t));
    char why[128];
    FILE *f = xhal_fopen_regular(path, why, sizeof why); /* a FIFO would block fopen() */
    if (!f) return err(msg, msgsz, "%s: cannot open: %s", path, why);
    unsigned char pre[12];
    char *h = NULL;
    int rc = -1;
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        err(msg, msgsz, "%s: not a .npy file (bad magic)", path);
        goto out;
    }
    uint32_t hlen;
    if (pre[6] == 1) {
        hlen = (uint32_t)pre[8] | ((uint32_t)pre[9] << 8);
    } else if (pre[6] == 2 || pre[6] == 3) {
        if (fread(pre + 10, 1, 2, f) != 2) {
            err(msg, msgsz, "%s: truncated header", path);
            goto out;
        }
        hlen = (uint32_t)pre[8] | ((uint32_t)pre[9] << 8) | ((uint32_t)pre[10] << 16) | ((uint32_t)pre[11] << 24);
    } else {
        err(msg, msgsz, "%s: unsupported .npy version %d.%d", path, pre[6], pre[7]);
        goto out;
    }
    if (hlen > (1u << 20)) {
        err(msg, msgsz, "%s: header of %u bytes is implausible", path, hlen);
        goto out;
    }
    h = malloc(hlen + 1);
    if (!h) {
        err(msg, msgsz, "out of memory");
        goto out;
    }
    if (fread(h, 1, hlen, f) != hlen) {
        err(msg, msgsz, "%s: truncated header", path);
        goto out;
    }
    h[hlen] = 0;
    const char *d = dict_value(h, "descr");
    if (!d || (*d != '\'' && *d != '"')) {
        err(msg, msgsz, "%s: header lacks 'descr'", path);
        goto out;
    }
    char descr[16];
    size_t k = 0;
    char q = *d++;
    while (*d && *d != q && k + 1 < sizeof(descr)) descr[k++] = *d++;
    descr[k] = 0;
    t->dtype = descr_dtype(descr, as_bf16);
    if (t->dtype == XHAL_DTYPE_INVALID) {
        err(msg, msgsz, "%s: unsupported dtype '%s' (little-endian f2 f4 f8 i1 u1 i4 i8, u2 for bf16)", path, descr);
        goto out;
    }
    const char *fo = dict_value(h, "fortran_order");
    if (!fo) {
        err(msg, msgsz, "%s: header lacks 'fortran_order'", path);
        goto out;
    }
    /* only a literal False is C order; True (or anything numpy would not write, such as 1)
     * is refused rather than read as C order */
    if (!strncmp(fo, "True", 4)) {
        err(msg, msgsz, "%s: fortran_order arrays are not supported (write C order)", path);
        goto out;
    }
    if (strncmp(fo, "False", 5) != 0) {
        err(msg, msgsz, "%s: fortran_order must be True or False", path);
        goto out;
    }
    const char *s = dict_value(h, "shape");
    if (!s || *s != '(') {
        err(msg, msgsz, "%s: header lacks 'shape'", path);
        goto out;
    }
    s++;
    t->ndim = 0;
    for (;;) {
        while (*s == ' ' || *s == ',') s++;
        if (*s == ')') break;
        if (*s < '0' || *s > '9') {
            err(msg, msgsz, "%s: malformed shape", path);
            goto out;
        }
        if (t->ndim == XHAL_MAX_DIMS) {
            err(msg, msgsz, "%s: more than %d dimensions", path, XHAL_MAX_DIMS);
            goto out;
        }
        char *end;
        long long v = strtoll(s, &end, 10);
        if (v < 0 || v > (1ll << 40)) {
            err(msg, msgsz, "%s: dimension out of range", path);
            goto out;
        }
        t->shape[t->ndim++] = v;
        s = end;
    }
    t->n = xc_numel(t->ndim, t->shape);
    if (t->n > (1ll << 31)) {
        err(msg, msgsz, "%s: too many elements", path);
        goto out;
    }
    size_t es = xc_dtype_size(t->dtype), nb = (size_t)t->n * es;
    if (t->n > 0) {
        unsigned char *raw = malloc(nb);
        t->v = malloc(sizeof(double) * (size_t)t->n);
        if (!raw || !t->v) {
            free(raw);
            err(msg, msgsz, "out of memory");
            goto out;
        }
        if (fread(raw, 1, nb, f) != nb) {
            free(raw);
            err(msg, msgsz, "%s: data truncated (%lld elements of %s expected)", path, (long long)t->n, descr);
            goto out;
        }
        xc_decode(t->dtype, raw, t->n, t->v);
        free(raw);
    }
    rc = 0;
out:
    if (rc != 0) xc_tensor_free(t);
    free(h);
    fclose(f);
    return rc;
}

static const char *dtype_descr(xhal_dtype dt)
{
    switch (dt) {
        case XHAL_DTYPE_F32: return "<f4";
        case XHAL_DTYPE_F16: return "<f2";
        case XHAL_DTYPE_BF16: return "<u2";
        case XHAL_DTYPE_F64: return "<f8";
        case XHAL_DTYPE_I8: return "|i1";
        case XHAL_DTYPE_U8: return "|u1";
        case XHAL_DTYPE_I32: return "<i4";
        case XHAL_DTYPE_I64: return "<i8";
        default: return NULL;
    }
}

int xc_npy_write(const char *path, const xc_tensor *t, char *msg, size_t msgsz)
{
    const char *descr = dtype_descr(t->dtype);
    if (!descr) return err(msg, msgsz, "npy: no descr for dtype %d", (int)t->dtype);
    char dict[256], shape[200] = "";
    size_t o = 0;
    for (int i = 0; i < t->ndim; i++)
        o += (size_t)snprintf(shape + o, sizeof(shape) - o, "%lld,%s", (long long)t->shape[i],
                              (t->ndim > 1 && i + 1 < t->ndim) ? " " : "");
    if (t->ndim > 1 && o > 0 && shape[o - 1] == ',') shape[--o] = 0;
    int dl = snprintf(dict, sizeof(dict), "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, shape);
    /* magic(6) + version(2) + len(2) + dict + padding + '\n', total a multiple of 64 */
    size_t total = 10 + (size_t)dl + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hl = (size_t)dl + pad + 1;
    FILE *f = fopen(path, "wb");
    if (!f) return err(msg, msgsz, "%s: cannot create", path);
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hl & 0xff), (unsigned char)(hl >> 8)};
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(dict, 1, (size_t)dl, f) == (size_t)dl;
    for (size_t i = 0; ok && i < pad; i++) ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    size_t es = xc_dtype_size(t->dtype);
    if (ok && t->n > 0) {
        unsigned char *raw = malloc((size_t)t->n * es);
        if (!raw) {
            fclose(f);
            return err(msg, msgsz, "out of memory");
        }
        xc_encode(t->dtype, t->v, t->n, raw);
        ok = fwrite(raw, es, (size_t)t->n, f) == (size_t)t->n;
        free(raw);
    }
    if (fclose(f) != 0) ok = 0;
    return ok ? 0 : err(msg, msgsz, "%s: write failed", path);
}
