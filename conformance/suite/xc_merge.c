/* xc_merge.c - join report.json files from many machines into one matrix by chip family
 * (op x dtype x family, with the worst case's error relative to its bound), written as
 * report.json (schema xhal-conform-merged), report.md, report.html (with an inline SVG
 * chart of error / bound per op and family) and junit.xml. Format: conformance/REPORT.md. */
#define _POSIX_C_SOURCE 200809L
#include "xc_conform.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int err(char *msg, size_t sz, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sz, fmt, ap);
    va_end(ap);
    return -1;
}

typedef struct mcell {
    char op[24], dtype[8];
    int c[XC_OUTCOME_COUNT];
    double worst; /* largest error / bound over the cell's compared cases; INFINITY: a value of the wrong kind */
    int has_worst;
    char worst_case[128], worst_dev[160];
} mcell;

typedef struct mfail {
    int fam;
    char dev[160], name[128], outcome[12], message[512];
} mfail;

typedef struct mfam {
    char vendor[64], family[64], arch[64];
    char drivers[256];
    char devices[1024];
    int ndev;
    mcell *cells;
    int n, cap;
    int counts[XC_OUTCOME_COUNT];
} mfam;

typedef struct msrc {
    char file[256], host[128], generated[32], command[256], verdict[16];
} msrc;

typedef struct merged {
    msrc *src;
    int nsrc;
    mfam *fam;
    int nfam;
    mfail *fails;
    int nfails, capfails, fails_dropped;
} merged;

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static int outcome_of(const char *s)
{
    for (int k = 0; k < XC_OUTCOME_COUNT; k++)
        if (!strcmp(s, xc_outcome_name(k))) return k;
    return -1;
}

static void add_word(char *list, size_t sz, const char *w)
{
    char tok[300];
    snprintf(tok, sizeof(tok), "%s", w);
    /* lists are "a, b, c": look for the whole item */
    const char *p = list;
    size_t wl = strlen(tok);
    while ((p = strstr(p, tok)) != NULL) {
        if ((p == list || p[-1] == ' ') && (p[wl] == ',' || p[wl] == 0)) return;
        p += wl;
    }
    size_t l = strlen(list);
    if (l + wl + 3 < sz) snprintf(list + l, sz - l, "%s%s", l ? ", " : "", tok);
}

static mfam *family_of(merged *m, const cJSON *f)
{
    for (int i = 0; i < m->nfam; i++)
        if (!strcmp(m->fam[i].vendor, str(f, "vendor")) && !strcmp(m->fam[i].family, str(f, "family")) &&
            !strcmp(m->fam[i].arch, str(f, "arch")))
            return &m->fam[i];
    mfam *p = realloc(m->fam, sizeof(*p) * (size_t)(m->nfam + 1));
    if (!p) return NULL;
    m->fam = p;
    mfam *n = &m->fam[m->nfam++];
    memset(n, 0, sizeof(*n));
    snprintf(n->vendor, sizeof(n->vendor), "%s", str(f, "vendor"));
    snprintf(n->family, sizeof(n->family), "%s", str(f, "family"));
    snprintf(n->arch, sizeof(n->arch), "%s", str(f, "arch"));
    return n;
}

static mcell *cell_of(mfam *f, const char *op, const char *dt)
{
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->cells[i].op, op) && !strcmp(f->cells[i].dtype, dt)) return &f->cells[i];
    if (f->n == f->cap) {
        int cap = f->cap ? 2 * f->cap : 64;
        mcell *p = realloc(f->cells, sizeof(*p) * (size_t)cap);
        if (!p) return NULL;
        f->cells = p;
        f->cap = cap;
    }
    mcell *c = &f->cells[f->n++];
    memset(c, 0, sizeof(*c));
    snprintf(c->op, sizeof(c->op), "%s", op);
    snprintf(c->dtype, sizeof(c->dtype), "%s", dt);
    return c;
}

static int add_fail(merged *m, int fam, const char *dev, const cJSON *r)
{
    if (m->nfails >= 2000) {
        m->fails_dropped++;
        return 0;
    }
    if (m->nfails == m->capfails) {
        int cap = m->capfails ? 2 * m->capfails : 64;
        mfail *p = realloc(m->fails, sizeof(*p) * (size_t)cap);
        if (!p) return -1;
        m->fails = p;
        m->capfails = cap;
    }
    mfail *x = &m->fails[m->nfails++];
    x->fam = fam;
    snprintf(x->dev, sizeof(x->dev), "%s", dev);
    snprintf(x->name, sizeof(x->name), "%s", str(r, "case"));
    snprintf(x->outcome, sizeof(x->outcome), "%s", str(r, "outcome"));
    const char *msg = str(r, "message"), *det = str(r, "detail");
    snprintf(x->message, sizeof(x->message), "%s%s%s", msg, det[0] ? " | case: " : "", det);
    return 0;
}

static int load_one(merged *m, const char *path, char *msg, size_t sz)
{
    FILE *f = fopen(path, "rb");
    if (!f) return err(msg, sz, "%s: cannot read: %s", path, strerror(errno));
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 65536 + 1 > cap) {
            if (cap > ((size_t)1 << 30)) {
                fclose(f);
                free(text);
                return err(msg, sz, "%s: larger than 1 GiB", path);
            }
            cap = cap ? 2 * cap : 1 << 20;
            char *p = realloc(text, cap);
            if (!p) {
                fclose(f);
                free(text);
                return err(msg, sz, "out of memory");
            }
            text = p;
        }
        size_t n = fread(text + len, 1, 65536, f);
        len += n;
        if (n < 65536) break;
    }
    fclose(f);
    text[len] = 0;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!root) return err(msg, sz, "%s: not valid JSON", path);
    int rc = -1;
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "schema_version");
    const cJSON *fams = cJSON_GetObjectItemCaseSensitive(root, "families");
    if (strcmp(str(root, "schema"), "xhal-conform-report") != 0) {
        err(msg, sz, "%s: not an xhal-conform report (schema \"%s\")", path, str(root, "schema"));
        goto out;
    }
    if (!cJSON_IsNumber(ver) || ver->valuedouble != XC_REPORT_SCHEMA_VERSION) {
        err(msg, sz, "%s: report schema version is not %d", path, XC_REPORT_SCHEMA_VERSION);
        goto out;
    }
    if (!cJSON_IsArray(fams)) {
        err(msg, sz, "%s: \"families\" is not a list", path);
        goto out;
    }
    msrc *sp = realloc(m->src, sizeof(*sp) * (size_t)(m->nsrc + 1));
    if (!sp) {
        err(msg, sz, "out of memory");
        goto out;
    }
    m->src = sp;
    msrc *s = &m->src[m->nsrc++];
    memset(s, 0, sizeof(*s));
    snprintf(s->file, sizeof(s->file), "%s", path);
    snprintf(s->host, sizeof(s->host), "%s", str(cJSON_GetObjectItemCaseSensitive(root, "machine"), "hostname"));
    snprintf(s->generated, sizeof(s->generated), "%s", str(root, "generated"));
    snprintf(s->command, sizeof(s->command), "%s", str(root, "command"));
    snprintf(s->verdict, sizeof(s->verdict), "%s", str(root, "verdict"));
    const cJSON *fj;
    cJSON_ArrayForEach(fj, fams)
    {
        mfam *fam = family_of(m, fj);
        if (!fam) {
            err(msg, sz, "out of memory");
            goto out;
        }
        int fi = (int)(fam - m->fam);
        add_word(fam->drivers, sizeof(fam->drivers), str(fj, "driver_version"));
        const cJSON *devs = cJSON_GetObjectItemCaseSensitive(fj, "devices"), *dj;
        if (!cJSON_IsArray(devs)) {
            err(msg, sz, "%s: a family without a \"devices\" list", path);
            goto out;
        }
        cJSON_ArrayForEach(dj, devs)
        {
            char dev[160];
            snprintf(dev, sizeof(dev), "%s/%s", s->host[0] ? s->host : "?", str(dj, "spec"));
            add_word(fam->devices, sizeof(fam->devices), dev);
            fam->ndev++;
            const cJSON *res = cJSON_GetObjectItemCaseSensitive(dj, "results"), *rj;
            if (!cJSON_IsArray(res)) {
                err(msg, sz, "%s: device %s without a \"results\" list", path, dev);
                goto out;
            }
            cJSON_ArrayForEach(rj, res)
            {
                int o = outcome_of(str(rj, "outcome"));
                if (o < 0) {
                    err(msg, sz, "%s: %s: unknown outcome \"%s\"", path, str(rj, "case"), str(rj, "outcome"));
                    goto out;
                }
                mcell *c = cell_of(fam, str(rj, "op"), str(rj, "dtype"));
                if (!c) {
                    err(msg, sz, "out of memory");
                    goto out;
                }
                c->c[o]++;
                fam->counts[o]++;
                const cJSON *w = cJSON_GetObjectItemCaseSensitive(rj, "worst_err_over_bound");
                double wv = cJSON_IsNumber(w) ? w->valuedouble
                                              : (cJSON_IsNull(w) && (o == XC_FAIL || o == XC_XFAIL) ? INFINITY : -1);
                if (wv >= 0 && (!c->has_worst || wv > c->worst)) {
                    c->worst = wv;
                    c->has_worst = 1;
                    snprintf(c->worst_case, sizeof(c->worst_case), "%s", str(rj, "case"));
                    snprintf(c->worst_dev, sizeof(c->worst_dev), "%s", dev);
                }
                if ((o == XC_FAIL || o == XC_XPASS) && add_fail(m, fi, dev, rj) != 0) {
                    err(msg, sz, "out of memory");
                    goto out;
                }
            }
        }
    }
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

static void merged_free(merged *m)
{
    for (int i = 0; i < m->nfam; i++) free(m->fam[i].cells);
    free(m->fam);
    free(m->src);
    free(m->fails);
    memset(m, 0, sizeof(*m));
}

/* ---------------------------------------------------------------------------------- */
/* Rows of the matrix: (op, dtype) pairs present anywhere, in catalogue order          */
/* ---------------------------------------------------------------------------------- */
typedef struct mrow {
    char op[24], dtype[8];
    int key;
} mrow;

static int op_rank(const char *op)
{
    xhal_op id;
    if (!strcmp(op, "model")) return 100000;
    return xhal_op_from_name(op, &id) == XHAL_OK ? (int)id : 99999;
}

static int dt_rank(const char *dt)
{
    static const char *order[] = {"f32", "f16", "bf16", "f64",  "i8",   "u8",
                                  "i32", "i64", "q8_0", "q4_0", "q4_k", "q6_k"};
    for (int i = 0; i < 12; i++)
        if (!strcmp(order[i], dt)) return i;
    return 50;
}

static int row_cmp(const void *a, const void *b)
{
    const mrow *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    int c = strcmp(x->op, y->op);
    return c ? c : strcmp(x->dtype, y->dtype);
}

static int rows_of(const merged *m, mrow **out)
{
    int n = 0, cap = 0;
    mrow *r = NULL;
    for (int f = 0; f < m->nfam; f++)
        for (int i = 0; i < m->fam[f].n; i++) {
            const mcell *c = &m->fam[f].cells[i];
            int found = 0;
            for (int k = 0; k < n && !found; k++) found = !strcmp(r[k].op, c->op) && !strcmp(r[k].dtype, c->dtype);
            if (found) continue;
            if (n == cap) {
                cap = cap ? 2 * cap : 64;
                mrow *p = realloc(r, sizeof(*p) * (size_t)cap);
                if (!p) {
                    free(r);
                    return -1;
                }
                r = p;
            }
            snprintf(r[n].op, sizeof(r[n].op), "%s", c->op);
            snprintf(r[n].dtype, sizeof(r[n].dtype), "%s", c->dtype);
            r[n].key = op_rank(c->op) * 64 + dt_rank(c->dtype);
            n++;
        }
    if (n) qsort(r, (size_t)n, sizeof(*r), row_cmp);
    *out = r;
    return n;
}

static const mcell *find_cell(const mfam *f, const char *op, const char *dt)
{
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->cells[i].op, op) && !strcmp(f->cells[i].dtype, dt)) return &f->cells[i];
    return NULL;
}

/* The state of a cell, as in a single report: pass only with real passes. */
static int state(const mcell *c)
{
    if (!c) return -1;
    if (c->c[XC_FAIL]) return XC_FAIL;
    if (c->c[XC_XPASS]) return XC_XPASS;
    if (c->c[XC_XFAIL]) return XC_XFAIL;
    if (c->c[XC_PASS]) return XC_PASS;
    if (c->c[XC_UNSUPPORTED]) return XC_UNSUPPORTED;
    if (c->c[XC_TRIVIAL]) return XC_TRIVIAL;
    return -1;
}

static void cell_text(const mcell *c, char *b, size_t sz)
{
    int st = state(c);
    int tot = 0;
    if (c)
        for (int k = 0; k < XC_OUTCOME_COUNT; k++) tot += c->c[k];
    char w[48] = "";
    if (c && c->has_worst) {
        if (isinf(c->worst))
            snprintf(w, sizeof(w), ", worst inf");
        else
            snprintf(w, sizeof(w), ", worst %.2g", c->worst);
    }
    switch (st) {
        case XC_FAIL: snprintf(b, sz, "FAIL %d/%d%s", c->c[XC_FAIL], tot, w); break;
        case XC_XPASS: snprintf(b, sz, "XPASS %d/%d%s", c->c[XC_XPASS], tot, w); break;
        case XC_XFAIL: snprintf(b, sz, "xfail %d/%d%s", c->c[XC_XFAIL], tot, w); break;
        case XC_PASS:
            snprintf(b, sz, "pass %d%s%s", c->c[XC_PASS], c->c[XC_UNSUPPORTED] ? " (some unsup)" : "", w);
            break;
        case XC_UNSUPPORTED: snprintf(b, sz, "unsupported"); break;
        case XC_TRIVIAL: snprintf(b, sz, "trivial only"); break;
        default: snprintf(b, sz, "-"); break;
    }
}

static void jnum(cJSON *o, const char *k, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

static char *merged_json(const merged *m, const mrow *rows, int nrows)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "schema", "xhal-conform-merged");
    cJSON_AddNumberToObject(root, "schema_version", 1);
    cJSON_AddStringToObject(root, "xhal_version", xhal_version());
    cJSON *src = cJSON_AddArrayToObject(root, "sources");
    for (int i = 0; i < m->nsrc; i++) {
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "file", m->src[i].file);
        cJSON_AddStringToObject(s, "hostname", m->src[i].host);
        cJSON_AddStringToObject(s, "generated", m->src[i].generated);
        cJSON_AddStringToObject(s, "command", m->src[i].command);
        cJSON_AddStringToObject(s, "verdict", m->src[i].verdict);
        cJSON_AddItemToArray(src, s);
    }
    cJSON *fams = cJSON_AddArrayToObject(root, "families");
    for (int f = 0; f < m->nfam; f++) {
        const mfam *fa = &m->fam[f];
        cJSON *fo = cJSON_CreateObject();
        cJSON_AddStringToObject(fo, "vendor", fa->vendor);
        cJSON_AddStringToObject(fo, "family", fa->family);
        cJSON_AddStringToObject(fo, "arch", fa->arch);
        cJSON_AddStringToObject(fo, "driver_versions", fa->drivers);
        cJSON_AddStringToObject(fo, "devices", fa->devices);
        cJSON *t = cJSON_AddObjectToObject(fo, "totals");
        for (int k = 0; k < XC_OUTCOME_COUNT; k++) cJSON_AddNumberToObject(t, xc_outcome_name(k), fa->counts[k]);
        cJSON *cells = cJSON_AddArrayToObject(fo, "cells");
        for (int r = 0; r < nrows; r++) {
            const mcell *c = find_cell(fa, rows[r].op, rows[r].dtype);
            if (!c) continue;
            cJSON *co = cJSON_CreateObject();
            cJSON_AddStringToObject(co, "op", c->op);
            cJSON_AddStringToObject(co, "dtype", c->dtype);
            int st = state(c);
            cJSON_AddStringToObject(co, "state",
                                    st == XC_TRIVIAL ? "trivial only"
                                    : st < 0         ? "none"
                                                     : xc_outcome_name(st));
            for (int k = 0; k < XC_OUTCOME_COUNT; k++) cJSON_AddNumberToObject(co, xc_outcome_name(k), c->c[k]);
            if (c->has_worst) {
                jnum(co, "worst_err_over_bound", c->worst);
                cJSON_AddStringToObject(co, "worst_case", c->worst_case);
                cJSON_AddStringToObject(co, "worst_device", c->worst_dev);
            }
            cJSON_AddItemToArray(cells, co);
        }
        cJSON_AddItemToArray(fams, fo);
    }
    cJSON *fl = cJSON_AddArrayToObject(root, "failures");
    for (int i = 0; i < m->nfails; i++) {
        cJSON *x = cJSON_CreateObject();
        cJSON_AddStringToObject(x, "family", m->fam[m->fails[i].fam].family);
        cJSON_AddStringToObject(x, "device", m->fails[i].dev);
        cJSON_AddStringToObject(x, "case", m->fails[i].name);
        cJSON_AddStringToObject(x, "outcome", m->fails[i].outcome);
        cJSON_AddStringToObject(x, "message", m->fails[i].message);
        cJSON_AddItemToArray(fl, x);
    }
    if (m->fails_dropped) cJSON_AddNumberToObject(root, "failures_not_listed", m->fails_dropped);
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    return s;
}

static void esc(FILE *f, const char *s, int md)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (md) {
            if (ch == '|')
                fputs("\\|", f);
            else if (ch == '\n')
                fputc(' ', f);
            else
                fputc(ch, f);
        } else if (ch == '&')
            fputs("&amp;", f);
        else if (ch == '<')
            fputs("&lt;", f);
        else if (ch == '>')
            fputs("&gt;", f);
        else if (ch == '"')
            fputs("&quot;", f);
        else if (ch < 0x20 && ch != '\n' && ch != '\t')
            fputc('?', f);
        else
            fputc(ch, f);
    }
}

static void write_md(FILE *f, const merged *m, const mrow *rows, int nrows)
{
    fprintf(f, "# xhal conformance: merged report\n\n%d report%s, %d chip famil%s, %d failing case%s.\n\n", m->nsrc,
            m->nsrc == 1 ? "" : "s", m->nfam, m->nfam == 1 ? "y" : "ies", m->nfails + m->fails_dropped,
            m->nfails + m->fails_dropped == 1 ? "" : "s");
    fprintf(f, "## Sources\n\n| file | host | generated | verdict | command |\n|---|---|---|---|---|\n");
    for (int i = 0; i < m->nsrc; i++) {
        fprintf(f, "| ");
        esc(f, m->src[i].file, 1);
        fprintf(f, " | ");
        esc(f, m->src[i].host, 1);
        fprintf(f, " | %s | %s | `", m->src[i].generated, m->src[i].verdict);
        esc(f, m->src[i].command, 1);
        fprintf(f, "` |\n");
    }
    fprintf(f, "\n## Chip families\n\n| # | vendor | family | arch | driver versions | devices (host/spec) "
               "|\n|---|---|---|---|---|---|\n");
    for (int i = 0; i < m->nfam; i++) {
        fprintf(f, "| F%d | ", i + 1);
        esc(f, m->fam[i].vendor, 1);
        fprintf(f, " | ");
        esc(f, m->fam[i].family, 1);
        fprintf(f, " | ");
        esc(f, m->fam[i].arch, 1);
        fprintf(f, " | ");
        esc(f, m->fam[i].drivers, 1);
        fprintf(f, " | ");
        esc(f, m->fam[i].devices, 1);
        fprintf(f, " |\n");
    }
    fprintf(f,
            "\n## Matrix (op x dtype x family; worst = largest error / bound of the compared cases)\n\n| op | dtype |");
    for (int i = 0; i < m->nfam; i++) {
        fprintf(f, " F%d ", i + 1);
        esc(f, m->fam[i].family, 1);
        fprintf(f, " |");
    }
    fprintf(f, "\n|---|---|");
    for (int i = 0; i < m->nfam; i++) fprintf(f, "---|");
    fprintf(f, "\n");
    for (int r = 0; r < nrows; r++) {
        fprintf(f, "| %s | %s |", rows[r].op, rows[r].dtype);
        for (int i = 0; i < m->nfam; i++) {
            char t[96];
            cell_text(find_cell(&m->fam[i], rows[r].op, rows[r].dtype), t, sizeof(t));
            fprintf(f, " %s |", t);
        }
        fprintf(f, "\n");
    }
    fprintf(f, "\n## Failures (fail and xpass)\n\n");
    if (!m->nfails)
        fprintf(f, "None.\n");
    else
        fprintf(f, "| family | device | case | outcome | message |\n|---|---|---|---|---|\n");
    for (int i = 0; i < m->nfails; i++) {
        fprintf(f, "| ");
        esc(f, m->fam[m->fails[i].fam].family, 1);
        fprintf(f, " | ");
        esc(f, m->fails[i].dev, 1);
        fprintf(f, " | `%s` | %s | ", m->fails[i].name, m->fails[i].outcome);
        esc(f, m->fails[i].message, 1);
        fprintf(f, " |\n");
    }
    if (m->fails_dropped) fprintf(f, "\n(%d more not listed)\n", m->fails_dropped);
}

static const char *css_class(int st)
{
    switch (st) {
        case XC_PASS: return "p";
        case XC_FAIL:
        case XC_XPASS: return "f";
        case XC_UNSUPPORTED:
        case XC_TRIVIAL: return "u";
        case XC_XFAIL: return "x";
        default: return "n";
    }
}

/* Inline SVG: for each op, one bar per family, the op's worst error / bound over all its
 * dtypes, on a log scale from 1e-4 to 10 with the bound (1) marked. No script, no fonts
 * fetched. */
static void write_svg(FILE *f, const merged *m, const mrow *rows, int nrows)
{
    static const char *colors[] = {"#3366cc", "#dc3912", "#ff9900", "#109618",
                                   "#990099", "#0099c6", "#dd4477", "#66aa00"};
    char ops[128][24];
    int nops = 0;
    for (int r = 0; r < nrows && nops < 128; r++)
        if (nops == 0 || strcmp(ops[nops - 1], rows[r].op)) snprintf(ops[nops++], sizeof(ops[0]), "%s", rows[r].op);
    const int left = 110, width = 420, bar = 9, gap = 6;
    int fams = m->nfam ? m->nfam : 1, group = fams * bar + gap;
    int height = 40 + nops * group + 30;
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"worst "
            "error over bound per op and family\" style=\"font:11px sans-serif\">\n",
            left + width + 170, height);
    /* axis: log10 from -4 to 1 */
    for (int e = -4; e <= 1; e++) {
        double x = left + (double)(e + 4) / 5.0 * width;
        fprintf(f, "<line x1=\"%.1f\" y1=\"25\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\"/>\n", x, x, height - 25,
                e == 0 ? "#b00" : "#ddd");
        fprintf(f, "<text x=\"%.1f\" y=\"18\" text-anchor=\"middle\">%s</text>\n", x,
                e == 0    ? "1 (bound)"
                : e == 1  ? "10"
                : e == -1 ? "0.1"
                : e == -2 ? "0.01"
                : e == -3 ? "1e-3"
                          : "&lt;=1e-4");
    }
    for (int o = 0; o < nops; o++) {
        int y0 = 30 + o * group;
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>\n", left - 6, y0 + fams * bar / 2 + 4,
                ops[o]);
        for (int fi = 0; fi < m->nfam; fi++) {
            double w = -1;
            int inf = 0;
            for (int i = 0; i < m->fam[fi].n; i++) {
                const mcell *c = &m->fam[fi].cells[i];
                if (strcmp(c->op, ops[o]) || !c->has_worst) continue;
                if (isinf(c->worst))
                    inf = 1;
                else if (c->worst > w)
                    w = c->worst;
            }
            if (inf) w = 10;
            if (w < 0) continue;
            double lg = w > 0 ? log10(w) : -4;
            if (lg < -4) lg = -4;
            if (lg > 1) lg = 1;
            double len = (lg + 4) / 5.0 * width;
            if (len < 1) len = 1;
            fprintf(f,
                    "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"><title>%s on F%d: "
                    "%s%.3g</title></rect>\n",
                    left, y0 + fi * bar, len, bar - 1, colors[fi % 8], ops[o], fi + 1,
                    inf ? "a wrong-kind value (inf); finite part " : "", w);
        }
    }
    for (int fi = 0; fi < m->nfam; fi++) {
        fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/><text x=\"%d\" y=\"%d\">F%d ",
                left + width + 12, 30 + fi * 16, colors[fi % 8], left + width + 26, 39 + fi * 16, fi + 1);
        esc(f, m->fam[fi].family, 0);
        fprintf(f, "</text>\n");
    }
    fprintf(f, "</svg>\n");
}

static void write_html(FILE *f, const merged *m, const mrow *rows, int nrows)
{
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>xhal conformance: merged "
               "report</title>\n<style>\n"
               "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;margin:0."
               "5em 0 1.5em}"
               "th,td{border:1px solid #bbb;padding:3px 7px;font-size:13px;text-align:left}th{background:#eee}"
               "td.p{background:#d8f5d0}td.f{background:#f8c8c8;font-weight:bold}td.u{background:#e8e8e8;color:#666}"
               "td.x{background:#fbeec0}td.n{background:#fff}code{font-size:12px}\n</style></head><body>\n");
    fprintf(f, "<h1>xhal conformance: merged report</h1>\n<p>%d report%s, %d chip famil%s, %d failing case%s.</p>\n",
            m->nsrc, m->nsrc == 1 ? "" : "s", m->nfam, m->nfam == 1 ? "y" : "ies", m->nfails + m->fails_dropped,
            m->nfails + m->fails_dropped == 1 ? "" : "s");
    fprintf(f, "<h2>Sources</h2>\n<table><tr><th>file</th><th>host</th><th>generated</th><th>verdict</th><th>command</"
               "th></tr>\n");
    for (int i = 0; i < m->nsrc; i++) {
        fprintf(f, "<tr><td>");
        esc(f, m->src[i].file, 0);
        fprintf(f, "</td><td>");
        esc(f, m->src[i].host, 0);
        fprintf(f, "</td><td>");
        esc(f, m->src[i].generated, 0);
        fprintf(f, "</td><td>");
        esc(f, m->src[i].verdict, 0);
        fprintf(f, "</td><td><code>");
        esc(f, m->src[i].command, 0);
        fprintf(f, "</code></td></tr>\n");
    }
    fprintf(
        f,
        "</table>\n<h2>Chip families</h2>\n<table><tr><th>#</th><th>vendor</th><th>family</th><th>arch</th><th>driver "
        "versions</th><th>devices (host/spec)</th></tr>\n");
    for (int i = 0; i < m->nfam; i++) {
        fprintf(f, "<tr><td>F%d</td><td>", i + 1);
        esc(f, m->fam[i].vendor, 0);
        fprintf(f, "</td><td>");
        esc(f, m->fam[i].family, 0);
        fprintf(f, "</td><td>");
        esc(f, m->fam[i].arch, 0);
        fprintf(f, "</td><td>");
        esc(f, m->fam[i].drivers, 0);
        fprintf(f, "</td><td>");
        esc(f, m->fam[i].devices, 0);
        fprintf(f, "</td></tr>\n");
    }
    fprintf(f, "</table>\n<h2>Worst error / bound per op and family</h2>\n");
    write_svg(f, m, rows, nrows);
    fprintf(f, "<h2>Matrix (op &times; dtype &times; family)</h2>\n<table><tr><th>op</th><th>dtype</th>");
    for (int i = 0; i < m->nfam; i++) {
        fprintf(f, "<th>F%d ", i + 1);
        esc(f, m->fam[i].family, 0);
        fprintf(f, "</th>");
    }
    fprintf(f, "</tr>\n");
    for (int r = 0; r < nrows; r++) {
        fprintf(f, "<tr><th>%s</th><th>%s</th>", rows[r].op, rows[r].dtype);
        for (int i = 0; i < m->nfam; i++) {
            const mcell *c = find_cell(&m->fam[i], rows[r].op, rows[r].dtype);
            char t[96];
            cell_text(c, t, sizeof(t));
            fprintf(f, "<td class=\"%s\"", css_class(state(c)));
            if (c && c->has_worst) {
                fprintf(f, " title=\"worst: ");
                esc(f, c->worst_case, 0);
                fprintf(f, " on ");
                esc(f, c->worst_dev, 0);
                fprintf(f, "\"");
            }
            fprintf(f, ">%s</td>", t);
        }
        fprintf(f, "</tr>\n");
    }
    fprintf(f, "</table>\n<h2>Failures (fail and xpass)</h2>\n");
    if (!m->nfails)
        fprintf(f, "<p>None.</p>\n");
    else
        fprintf(f, "<table><tr><th>family</th><th>device</th><th>case</th><th>outcome</th><th>message</th></tr>\n");
    for (int i = 0; i < m->nfails; i++) {
        fprintf(f, "<tr><td>");
        esc(f, m->fam[m->fails[i].fam].family, 0);
        fprintf(f, "</td><td>");
        esc(f, m->fails[i].dev, 0);
        fprintf(f, "</td><td><code>");
        esc(f, m->fails[i].name, 0);
        fprintf(f, "</code></td><td class=\"f\">%s</td><td>", m->fails[i].outcome);
        esc(f, m->fails[i].message, 0);
        fprintf(f, "</td></tr>\n");
    }
    if (m->nfails) fprintf(f, "</table>\n");
    if (m->fails_dropped) fprintf(f, "<p>(%d more not listed)</p>\n", m->fails_dropped);
    fprintf(f, "</body></html>\n");
}

/* One testsuite per family, one testcase per op x dtype cell. */
static void write_junit(FILE *f, const merged *m, const mrow *rows, int nrows)
{
    int tests = 0, fails = 0, skipped = 0;
    for (int i = 0; i < m->nfam; i++)
        for (int r = 0; r < nrows; r++) {
            const mcell *c = find_cell(&m->fam[i], rows[r].op, rows[r].dtype);
            if (!c) continue;
            int st = state(c);
            tests++;
            fails += st == XC_FAIL || st == XC_XPASS;
            skipped += st != XC_FAIL && st != XC_XPASS && st != XC_PASS;
        }
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"xhal-conform-merged\" tests=\"%d\" "
            "failures=\"%d\" skipped=\"%d\">\n",
            tests, fails, skipped);
    for (int i = 0; i < m->nfam; i++) {
        fprintf(f, "  <testsuite name=\"xhal-conform.");
        esc(f, m->fam[i].family, 0);
        fprintf(f, "\">\n    <properties><property name=\"vendor\" value=\"");
        esc(f, m->fam[i].vendor, 0);
        fprintf(f, "\"/><property name=\"devices\" value=\"");
        esc(f, m->fam[i].devices, 0);
        fprintf(f, "\"/></properties>\n");
        for (int r = 0; r < nrows; r++) {
            const mcell *c = find_cell(&m->fam[i], rows[r].op, rows[r].dtype);
            if (!c) continue;
            int st = state(c);
            char t[96];
            cell_text(c, t, sizeof(t));
            fprintf(f, "    <testcase classname=\"");
            esc(f, m->fam[i].family, 0);
            fprintf(f, ".%s\" name=\"%s/%s\"", c->op, c->op, c->dtype);
            if (st == XC_PASS)
                fprintf(f, "/>\n");
            else if (st == XC_FAIL || st == XC_XPASS) {
                fprintf(f, "><failure message=\"%s; worst case ", t);
                esc(f, c->worst_case, 0);
                fprintf(f, " on ");
                esc(f, c->worst_dev, 0);
                fprintf(f, "\"/></testcase>\n");
            } else
                fprintf(f, "><skipped message=\"%s\"/></testcase>\n", t);
        }
        fprintf(f, "  </testsuite>\n");
    }
    fprintf(f, "</testsuites>\n");
}

static int mkdirs(const char *dir)
{
    char p[1024];
    snprintf(p, sizeof(p), "%s", dir);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            if (mkdir(p, 0777) != 0 && errno != EEXIST) return -1;
            *s = '/';
        }
    if (mkdir(p, 0777) != 0 && errno != EEXIST) return -1;
    return 0;
}

int xc_merge_reports(const char *const *paths, int n, const char *dir, unsigned formats, int *any_failure, char *msg,
                     size_t msgsz)
{
    merged m;
    memset(&m, 0, sizeof(m));
    if (any_failure) *any_failure = 0;
    if (n < 1) return err(msg, msgsz, "--merge: no reports given");
    for (int i = 0; i < n; i++)
        if (load_one(&m, paths[i], msg, msgsz) != 0) {
            merged_free(&m);
            return -1;
        }
    mrow *rows = NULL;
    int nrows = rows_of(&m, &rows);
    if (nrows < 0) {
        merged_free(&m);
        return err(msg, msgsz, "out of memory");
    }
    int rc = 0;
    char path[1200];
    if (mkdirs(dir) != 0) {
        rc = err(msg, msgsz, "%s: cannot create folder: %s", dir, strerror(errno));
        goto out;
    }
    if (formats & XC_FORMAT_JSON) {
        char *s = merged_json(&m, rows, nrows);
        snprintf(path, sizeof(path), "%s/report.json", dir);
        FILE *f = s ? fopen(path, "w") : NULL;
        int ok = f && fputs(s, f) >= 0 && fputc('\n', f) != EOF;
        if (f && fclose(f) != 0) ok = 0;
        free(s);
        if (!ok) {
            rc = err(msg, msgsz, "%s: write failed", path);
            goto out;
        }
    }
    struct {
        unsigned bit;
        const char *name;
        void (*fn)(FILE *, const merged *, const mrow *, int);
    } W[] = {{XC_FORMAT_MD, "report.md", write_md},
             {XC_FORMAT_HTML, "report.html", write_html},
             {XC_FORMAT_JUNIT, "junit.xml", write_junit}};
    for (size_t i = 0; i < sizeof(W) / sizeof(W[0]); i++) {
        if (!(formats & W[i].bit)) continue;
        snprintf(path, sizeof(path), "%s/%s", dir, W[i].name);
        FILE *f = fopen(path, "w");
        if (!f) {
            rc = err(msg, msgsz, "%s: cannot create: %s", path, strerror(errno));
            goto out;
        }
        W[i].fn(f, &m, rows, nrows);
        if (ferror(f) | (fclose(f) != 0)) {
            rc = err(msg, msgsz, "%s: write failed", path);
            goto out;
        }
    }
    if (any_failure) *any_failure = m.nfails + m.fails_dropped > 0;
out:
    free(rows);
    merged_free(&m);
    return rc;
}
