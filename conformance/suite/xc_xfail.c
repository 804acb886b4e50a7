/* xc_xfail.c - expected-failure lists (format in conformance/REPORT.md). */
#define _POSIX_C_SOURCE 200809L
#include "xc_conform.h"

#include <ctype.h>
#include <fnmatch.h>
#include <regex.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "xhal/plugin/xhal_file.h"

static int perr(char *msg, size_t sz, const char *fname, int line, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    snprintf(msg, sz, "%s:%d: %s", fname ? fname : "<expected-failures>", line, tmp);
    return -1;
}

void xc_xfail_free(xc_xfail_list *l)
{
    if (!l) return;
    for (int i = 0; i < l->n; i++)
        if (l->e[i].regex) {
            regfree(l->e[i].regex);
            free(l->e[i].regex);
        }
    free(l->e);
    l->e = NULL;
    l->n = 0;
}

static char *trim(char *s)
{
    while (*s && isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = 0;
    return s;
}

int xc_xfail_parse(const char *text, const char *fname, xc_xfail_list *out, char *msg, size_t msgsz)
{
    out->e = NULL;
    out->n = 0;
    int cap = 0, lineno = 0;
    const char *p = text;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        lineno++;
        char line[1024];
        if (len >= sizeof(line)) {
            xc_xfail_free(out);
            return perr(msg, msgsz, fname, lineno, "line too long");
        }
        memcpy(line, p, len);
        line[len] = 0;
        p += len + (eol ? 1 : 0);
        char *reason = "";
        char *hash = strchr(line, '#');
        if (hash) {
            *hash = 0;
            reason = trim(hash + 1);
        }
        char *body = trim(line);
        if (!*body) continue;
        char *fields[5];
        int nf = 0;
        char *save = NULL;
        for (char *tok = strtok_r(body, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
            if (nf == 4) {
                xc_xfail_free(out);
                return perr(
                    msg, msgsz, fname, lineno,
                    "too many fields (expected FAMILY OP DTYPE [CASE-REGEX]; quote nothing, a regex has no spaces)");
            }
            fields[nf++] = tok;
        }
        if (nf < 3) {
            xc_xfail_free(out);
            return perr(msg, msgsz, fname, lineno,
                        "expected FAMILY-GLOB OP-GLOB DTYPE-GLOB [CASE-REGEX], got %d field%s", nf, nf == 1 ? "" : "s");
        }
        if (out->n == cap) {
            int nc = cap ? cap * 2 : 16;
            xc_xfail_entry *e = realloc(out->e, sizeof(*e) * (size_t)nc);
            if (!e) {
                xc_xfail_free(out);
                return perr(msg, msgsz, fname, lineno, "out of memory");
            }
            out->e = e;
            cap = nc;
        }
        xc_xfail_entry *e = &out->e[out->n];
        memset(e, 0, sizeof(*e));
        e->line = lineno;
        if (strlen(fields[0]) >= sizeof(e->family) || strlen(fields[1]) >= sizeof(e->op) ||
            strlen(fields[2]) >= sizeof(e->dtype) || (nf == 4 && strlen(fields[3]) >= sizeof(e->regex_src))) {
            xc_xfail_free(out);
            return perr(msg, msgsz, fname, lineno, "a field is too long");
        }
        strcpy(e->family, fields[0]);
        strcpy(e->op, fields[1]);
        strcpy(e->dtype, fields[2]);
        snprintf(e->reason, sizeof(e->reason), "%s", reason);
        if (nf == 4) {
            strcpy(e->regex_src, fields[3]);
            e->has_regex = 1;
            regex_t *re = malloc(sizeof(*re));
            if (!re) {
                xc_xfail_free(out);
                return perr(msg, msgsz, fname, lineno, "out of memory");
            }
            int rc = regcomp(re, fields[3], REG_EXTENDED | REG_NOSUB);
            if (rc != 0) {
                char eb[128];
                regerror(rc, re, eb, sizeof(eb));
                free(re);
                xc_xfail_free(out);
                return perr(msg, msgsz, fname, lineno, "bad case regex '%s': %s", fields[3], eb);
            }
            e->regex = re;
        }
        out->n++;
    }
    return 0;
}

int xc_xfail_load(const char *path, xc_xfail_list *out, char *msg, size_t msgsz)
{
    char why[128];
    FILE *f = xhal_fopen_regular(path, why, sizeof why); /* a FIFO would block fopen() */
    if (!f) {
        snprintf(msg, msgsz, "%s: cannot open: %s", path, why);
        return -1;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        snprintf(msg, msgsz, "out of memory");
        return -1;
    }
    size_t k;
    while ((k = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += k;
        if (n + 1 == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                fclose(f);
                snprintf(msg, msgsz, "out of memory");
                return -1;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    buf[n] = 0;
    int rc = xc_xfail_parse(buf, path, out, msg, msgsz);
    free(buf);
    return rc;
}

const xc_xfail_entry *xc_xfail_match(const xc_xfail_list *l, const xhal_device_info *dev, const char *op,
                                     const char *dtype, const char *name)
{
    if (!l) return NULL;
    for (int i = 0; i < l->n; i++) {
        xc_xfail_entry *e = &l->e[i];
        if (fnmatch(e->family, dev->family, 0) != 0 && fnmatch(e->family, dev->spec, 0) != 0) continue;
        if (fnmatch(e->op, op, 0) != 0) continue;
        if (fnmatch(e->dtype, dtype, 0) != 0) continue;
        if (e->has_regex && regexec(e->regex, name, 0, NULL, 0) != 0) continue;
        e->used = 1;
        return e;
    }
    return NULL;
}

void xc_apply_xfail(const xc_xfail_list *l, const xhal_device_info *dev, xc_result *r)
{
    if (r->outcome != XC_PASS && r->outcome != XC_FAIL) return;
    const xc_xfail_entry *e = xc_xfail_match(l, dev, r->op, r->dtype, r->name);
    if (!e) return;
    snprintf(r->xfail_reason, sizeof(r->xfail_reason), "line %d: %s", e->line,
             e->reason[0] ? e->reason : "(no reason given)");
    r->outcome = r->outcome == XC_PASS ? XC_XPASS : XC_XFAIL;
}
