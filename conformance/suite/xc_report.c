/* xc_report.c - report.json (schema: conformance/REPORT.md), report.md, a self-contained
 * report.html and junit.xml, with devices grouped by chip family. */
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

/* ---------------------------------------------------------------------------------- */
/* Grouping and the support matrix                                                    */
/* ---------------------------------------------------------------------------------- */
static int same_family(const xhal_device_info *a, const xhal_device_info *b)
{
    return !strcmp(a->vendor, b->vendor) && !strcmp(a->family, b->family) && !strcmp(a->arch, b->arch) &&
           !strcmp(a->driver_version, b->driver_version);
}

/* family index of each device: the index of the first device of its family */
static void families(const xc_run *run, int *fam)
{
    for (int i = 0; i < run->n_devs; i++) {
        fam[i] = i;
        for (int j = 0; j < i; j++)
            if (same_family(&run->devs[i].info, &run->devs[j].info)) {
                fam[i] = fam[j];
                break;
            }
    }
}

#define N_MDT 14
static const char *MDT[N_MDT] = {"f32", "f16",  "bf16", "f64",  "i8",   "u8", "i32",
                                 "i64", "q8_0", "q4_0", "q4_k", "q6_k", "-",  NULL};

typedef struct cell {
    int c[XC_OUTCOME_COUNT];
} cell;

/* A cell passes only when real cases ran and passed: trivial ones (no device work) never
 * colour it. */
static int cell_state(const cell *c)
{
    if (c->c[XC_FAIL]) return XC_FAIL;
    if (c->c[XC_XPASS]) return XC_XPASS;
    if (c->c[XC_XFAIL]) return XC_XFAIL;
    if (c->c[XC_PASS]) return XC_PASS;
    if (c->c[XC_UNSUPPORTED]) return XC_UNSUPPORTED;
    if (c->c[XC_TRIVIAL]) return XC_TRIVIAL;
    return -1;
}

static void cell_text(const cell *c, char *out, size_t sz)
{
    int total = 0;
    for (int k = 0; k < XC_OUTCOME_COUNT; k++) total += c->c[k];
    int st = cell_state(c);
    if (st < 0)
        snprintf(out, sz, " ");
    else if (st == XC_PASS && c->c[XC_UNSUPPORTED] == 0)
        snprintf(out, sz, "pass %d", c->c[XC_PASS]);
    else if (st == XC_PASS)
        snprintf(out, sz, "pass %d, unsup %d", c->c[XC_PASS], c->c[XC_UNSUPPORTED]);
    else if (st == XC_UNSUPPORTED && c->c[XC_TRIVIAL])
        snprintf(out, sz, "unsupported (trivial %d)", c->c[XC_TRIVIAL]);
    else if (st == XC_UNSUPPORTED)
        snprintf(out, sz, "unsupported");
    else if (st == XC_TRIVIAL)
        snprintf(out, sz, "trivial only (%d)", c->c[XC_TRIVIAL]);
    else if (st == XC_XFAIL)
        snprintf(out, sz, "xfail %d/%d", c->c[XC_XFAIL], total);
    else if (st == XC_XPASS)
        snprintf(out, sz, "XPASS %d/%d", c->c[XC_XPASS], total);
    else
        snprintf(out, sz, "FAIL %d/%d", c->c[XC_FAIL], total);
}

/* Ops present in the results, in catalogue order, then "model". */
static int ops_present(const xc_run *run, const char **ops, int max)
{
    int n = 0;
    for (int id = 1; id <= XHAL_OP_MAX_ID_ && n < max; id++) {
        const char *name = id == XHAL_OP_MAX_ID_ ? "model" : xhal_op_name((xhal_op)id);
        if (!strcmp(name, "invalid")) continue;
        int found = 0;
        for (int d = 0; d < run->n_devs && !found; d++)
            for (int i = 0; i < run->devs[d].n && !found; i++) found = !strcmp(run->devs[d].results[i].op, name);
        if (found) ops[n++] = name;
    }
    return n;
}

static int dtype_col(const char *dt)
{
    for (int k = 0; k < N_MDT - 1; k++)
        if (!strcmp(MDT[k], dt)) return k;
    return N_MDT - 2; /* "-" and anything else */
}

static cell get_cell(const xc_device_report *d, const char *op, int col)
{
    cell c;
    memset(&c, 0, sizeof(c));
    for (int i = 0; i < d->n; i++)
        if (!strcmp(d->results[i].op, op) && dtype_col(d->results[i].dtype) == col) c.c[d->results[i].outcome]++;
    return c;
}

static int col_used(const xc_run *run, int col)
{
    for (int d = 0; d < run->n_devs; d++)
        for (int i = 0; i < run->devs[d].n; i++)
            if (dtype_col(run->devs[d].results[i].dtype) == col) return 1;
    return 0;
}

static const char *verdict_name(int v)
{
    return v == XC_PASS          ? "pass"
           : v == XC_FAIL        ? "fail"
           : v == XC_UNSUPPORTED ? "unsupported (nothing ran)"
                                 : "not selected";
}

static const char *run_verdict(const xc_run *run)
{
    int e = xc_run_exit_status(run, run->explicit_devices);
    return e == XC_EXIT_PASS ? "PASS" : e == XC_EXIT_FAIL ? "FAIL" : "UNSUPPORTED";
}

static const char *SUITES[3] = {"ops", "vectors", "model"};

/* ---------------------------------------------------------------------------------- */
/* JSON                                                                               */
/* ---------------------------------------------------------------------------------- */
static void jnum(cJSON *o, const char *k, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

static cJSON *counts_json(const int *c)
{
    cJSON *o = cJSON_CreateObject();
    int total = 0;
    for (int k = 0; k < XC_OUTCOME_COUNT; k++) total += c[k];
    cJSON_AddNumberToObject(o, "cases", total);
    cJSON_AddNumberToObject(o, "passed", c[XC_PASS]);
    cJSON_AddNumberToObject(o, "failed", c[XC_FAIL]);
    cJSON_AddNumberToObject(o, "unsupported", c[XC_UNSUPPORTED]);
    cJSON_AddNumberToObject(o, "xfail", c[XC_XFAIL]);
    cJSON_AddNumberToObject(o, "xpass", c[XC_XPASS]);
    cJSON_AddNumberToObject(o, "trivial", c[XC_TRIVIAL]);
    cJSON_AddBoolToObject(o, "ok", c[XC_FAIL] == 0 && c[XC_XPASS] == 0);
    return o;
}

static cJSON *caps_json(uint32_t caps)
{
    static const struct {
        uint32_t bit;
        const char *name;
    } C[] = {{XHAL_CAP_F16_COMPUTE, "f16_compute"}, {XHAL_CAP_F64, "f64"},
             {XHAL_CAP_HOST_MEMORY, "host_memory"}, {XHAL_CAP_EVENT_TIMING, "event_timing"},
             {XHAL_CAP_PEER_COPY, "peer_copy"},     {XHAL_CAP_CUSTOM_KERNELS, "custom_kernels"},
             {XHAL_CAP_PINNED_HOST, "pinned_host"}, {XHAL_CAP_MATMUL_I8, "matmul_i8"}};
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < sizeof(C) / sizeof(C[0]); i++)
        if (caps & C[i].bit) cJSON_AddItemToArray(a, cJSON_CreateString(C[i].name));
    return a;
}

static cJSON *result_json(const xc_result *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "suite", r->suite);
    cJSON_AddStringToObject(o, "case", r->name);
    cJSON_AddStringToObject(o, "op", r->op);
    cJSON_AddStringToObject(o, "dtype", r->dtype);
    cJSON_AddStringToObject(o, "outcome", xc_outcome_name(r->outcome));
    cJSON_AddNumberToObject(o, "numel", (double)r->numel);
    if (r->has_figures) {
        jnum(o, "max_abs_err", r->max_abs);
        jnum(o, "max_rel_err", r->max_rel);
        jnum(o, "nmse", r->nmse);
        jnum(o, "worst_err_over_bound", r->worst);
        cJSON *t = cJSON_AddObjectToObject(o, "tolerance");
        jnum(t, "atol", r->tol.atol);
        jnum(t, "rtol", r->tol.rtol);
        jnum(t, "mtol", r->tol.mtol);
        jnum(t, "nmse", r->tol.nmse);
    }
    jnum(o, "time_ms", r->ms);
    if (r->message[0]) cJSON_AddStringToObject(o, "message", r->message);
    if (r->xfail_reason[0]) cJSON_AddStringToObject(o, "expected_failure", r->xfail_reason);
    if (r->detail[0] && r->outcome != XC_PASS && r->outcome != XC_TRIVIAL)
        cJSON_AddStringToObject(o, "detail", r->detail);
    return o;
}

static cJSON *model_json(const xc_model_result *m)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", m->model);
    cJSON_AddStringToObject(o, "weight_dtype", m->weight_dtype);
    cJSON_AddStringToObject(o, "compute_dtype", m->compute_dtype);
    cJSON_AddStringToObject(o, "status", m->status == 1 ? "pass" : m->status == 0 ? "fail" : "unsupported");
    cJSON_AddStringToObject(o, "message", m->message);
    cJSON_AddNumberToObject(o, "n_positions", m->n_positions);
    jnum(o, "max_abs_err", m->max_abs_err);
    jnum(o, "min_cosine", m->min_cosine);
    jnum(o, "top1_agreement", m->top1_agreement);
    cJSON_AddBoolToObject(o, "greedy_match", m->greedy_match != 0);
    cJSON_AddNumberToObject(o, "n_generated", m->n_generated);
    jnum(o, "tol_max_abs", m->tol_max_abs);
    jnum(o, "tol_cosine", m->tol_cosine);
    jnum(o, "prefill_tok_s", m->prefill_tok_s);
    jnum(o, "decode_tok_s", m->decode_tok_s);
    return o;
}

static char *build_json(const xc_run *run)
{
    int fam[256];
    if (run->n_devs > 256) return NULL;
    families(run, fam);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "schema", "xhal-conform-report");
    cJSON_AddNumberToObject(root, "schema_version", XC_REPORT_SCHEMA_VERSION);
    cJSON_AddStringToObject(root, "generated", run->started);
    cJSON_AddStringToObject(root, "xhal_version", xhal_version());
    cJSON_AddStringToObject(root, "command", run->command);
    jnum(root, "seconds", run->seconds);
    cJSON *opt = cJSON_AddObjectToObject(root, "options");
    cJSON_AddStringToObject(opt, "suites", run->suites);
    cJSON_AddStringToObject(opt, "filter", run->filter);
    cJSON_AddStringToObject(opt, "expected_failures", run->xfail_file);
    cJSON_AddStringToObject(opt, "vectors", run->vectors_dir);
    cJSON_AddNumberToObject(opt, "seed", (double)run->seed);
    cJSON *mach = cJSON_AddObjectToObject(root, "machine");
    cJSON_AddStringToObject(mach, "hostname", run->machine.hostname);
    cJSON_AddStringToObject(mach, "os", run->machine.os);
    cJSON_AddStringToObject(mach, "kernel", run->machine.kernel);
    cJSON_AddStringToObject(mach, "arch", run->machine.arch);
    cJSON_AddStringToObject(mach, "cpu", run->machine.cpu);
    cJSON_AddNumberToObject(mach, "cpus", run->machine.cpus);
    cJSON_AddNumberToObject(mach, "memory_bytes", (double)run->machine.memory);
    int tot[XC_OUTCOME_COUNT];
    xc_run_totals(run, tot);
    cJSON_AddItemToObject(root, "totals", counts_json(tot));
    cJSON_AddStringToObject(root, "verdict", run_verdict(run));
    cJSON_AddNumberToObject(root, "exit_status", xc_run_exit_status(run, run->explicit_devices));
    cJSON *fams = cJSON_AddArrayToObject(root, "families");
    for (int f = 0; f < run->n_devs; f++) {
        if (fam[f] != f) continue;
        const xhal_device_info *fi = &run->devs[f].info;
        cJSON *fo = cJSON_CreateObject();
        cJSON_AddStringToObject(fo, "vendor", fi->vendor);
        cJSON_AddStringToObject(fo, "family", fi->family);
        cJSON_AddStringToObject(fo, "arch", fi->arch);
        cJSON_AddStringToObject(fo, "driver_version", fi->driver_version);
        cJSON *devs = cJSON_AddArrayToObject(fo, "devices");
        for (int i = 0; i < run->n_devs; i++) {
            if (fam[i] != f) continue;
            const xc_device_report *d = &run->devs[i];
            cJSON *dj = cJSON_CreateObject();
            cJSON_AddStringToObject(dj, "spec", d->info.spec);
            cJSON_AddStringToObject(dj, "backend", d->info.backend);
            cJSON_AddStringToObject(dj, "name", d->info.name);
            cJSON_AddStringToObject(dj, "pci_bus_id", d->info.pci_bus_id);
            cJSON_AddNumberToObject(dj, "total_memory", (double)d->info.total_memory);
            cJSON_AddNumberToObject(dj, "compute_units", d->info.compute_units);
            cJSON_AddItemToObject(dj, "caps", caps_json(d->info.caps));
            cJSON *dts = cJSON_AddArrayToObject(dj, "dtypes");
            for (int k = 1; k < XHAL_DTYPE_END_; k++)
                if ((d->info.dtypes & XHAL_DTYPE_BIT(k)) && strcmp(xhal_dtype_name((xhal_dtype)k), "invalid") != 0)
                    cJSON_AddItemToArray(dts, cJSON_CreateString(xhal_dtype_name((xhal_dtype)k)));
            jnum(dj, "seconds", d->seconds);
            cJSON_AddItemToObject(dj, "totals", counts_json(d->counts));
            cJSON *sv = cJSON_AddObjectToObject(dj, "suites");
            for (int k = 0; k < 3; k++)
                cJSON_AddStringToObject(sv, SUITES[k], verdict_name(xc_suite_verdict(d, SUITES[k])));
            cJSON *res = cJSON_AddArrayToObject(dj, "results");
            for (int k = 0; k < d->n; k++) cJSON_AddItemToArray(res, result_json(&d->results[k]));
            cJSON *ms = cJSON_AddObjectToObject(dj, "model_suite");
            cJSON_AddStringToObject(ms, "state",
                                    d->model_state == 1    ? "ran"
                                    : d->model_state == -1 ? "unavailable"
                                                           : "not selected");
            if (d->model_message[0]) cJSON_AddStringToObject(ms, "message", d->model_message);
            cJSON *mr = cJSON_AddArrayToObject(ms, "results");
            for (int k = 0; k < d->n_models; k++) cJSON_AddItemToArray(mr, model_json(&d->models[k]));
            cJSON_AddItemToArray(devs, dj);
        }
        cJSON_AddItemToArray(fams, fo);
    }
    cJSON *topo = cJSON_AddObjectToObject(root, "topology");
    cJSON_AddBoolToObject(topo, "available", run->topology_available != 0);
    if (run->topology_available && run->topology) {
        cJSON *parsed = cJSON_Parse(run->topology);
        if (parsed)
            cJSON_AddItemToObject(topo, "data", parsed);
        else
            cJSON_AddStringToObject(topo, "text", run->topology);
    } else {
        cJSON_AddStringToObject(topo, "reason", run->topology_reason);
    }
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    return s;
}

/* ---------------------------------------------------------------------------------- */
/* Text writers                                                                       */
/* ---------------------------------------------------------------------------------- */
static void put_esc(FILE *f, const char *s, int xml)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '&')
            fputs("&amp;", f);
        else if (ch == '<')
            fputs("&lt;", f);
        else if (ch == '>')
            fputs("&gt;", f);
        else if (ch == '"')
            fputs("&quot;", f);
        else if (ch < 0x20 && ch != '\n' && ch != '\t')
            fputc(xml ? '?' : ' ', f);
        else
            fputc(ch, f);
    }
}

static void put_md(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputs("\\|", f);
        else if (*s == '\n')
            fputc(' ', f);
        else
            fputc(*s, f);
    }
}

static const char *fmt_g(double v, char *buf, size_t sz)
{
    snprintf(buf, sz, "%.3g", v);
    return buf;
}

/* Per-op summary of one device: counts, the dtypes that were unsupported and the first
 * reason given, so a report lists 20 lines, not 500. */
typedef struct op_summary {
    char op[24];
    int pass, fail, unsup, trivial;
    char dtypes[64];
    char reason[200];
} op_summary;

static int summarize_ops(const xc_device_report *d, op_summary *s, int max)
{
    int n = 0;
    for (int i = 0; i < d->n; i++) {
        const xc_result *r = &d->results[i];
        int k = 0;
        while (k < n && strcmp(s[k].op, r->op)) k++;
        if (k == n) {
            if (n == max) continue;
            memset(&s[n], 0, sizeof(s[n]));
            snprintf(s[n].op, sizeof(s[n].op), "%s", r->op);
            n++;
        }
        if (r->outcome == XC_PASS)
            s[k].pass++;
        else if (r->outcome == XC_FAIL || r->outcome == XC_XPASS)
            s[k].fail++;
        else if (r->outcome == XC_TRIVIAL)
            s[k].trivial++;
        else if (r->outcome == XC_UNSUPPORTED) {
            s[k].unsup++;
            if (!s[k].reason[0]) snprintf(s[k].reason, sizeof(s[k].reason), "%s", r->message);
            char tok[16];
            if (!s[k].dtypes[0]) s[k].dtypes[0] = ' ';
            snprintf(tok, sizeof(tok), " %s ", r->dtype);
            if (!strstr(s[k].dtypes, tok) && strlen(s[k].dtypes) + strlen(tok) < sizeof(s[k].dtypes))
                strcat(s[k].dtypes, tok + 1);
        }
    }
    for (int k = 0; k < n; k++)
        if (s[k].dtypes[0] == ' ') memmove(s[k].dtypes, s[k].dtypes + 1, strlen(s[k].dtypes));
    return n;
}

static void write_md(FILE *f, const xc_run *run)
{
    int fam[256];
    families(run, fam);
    int tot[XC_OUTCOME_COUNT];
    int ok = xc_run_totals(run, tot);
    fprintf(f, "# xhal conformance report\n\n");
    (void)ok;
    fprintf(f, "Result: **%s** - %d passed, %d failed, %d unsupported, %d xfail, %d xpass, %d trivial (%.1f s).\n\n",
            run_verdict(run), tot[XC_PASS], tot[XC_FAIL], tot[XC_UNSUPPORTED], tot[XC_XFAIL], tot[XC_XPASS],
            tot[XC_TRIVIAL], run->seconds);
    fprintf(f, "Trivial cases (empty tensors: no work reaches the device) are counted apart and never make a support "
               "cell pass.\n\n");
    fprintf(f, "Generated %s by xhal %s: `", run->started, xhal_version());
    put_md(f, run->command);
    fprintf(f, "` (report schema %d).\n\n", XC_REPORT_SCHEMA_VERSION);
    fprintf(f, "## Devices by chip family\n\n");
    for (int fi = 0; fi < run->n_devs; fi++) {
        if (fam[fi] != fi) continue;
        const xhal_device_info *in = &run->devs[fi].info;
        fprintf(f, "### %s %s (arch %s, driver %s)\n\n", in->vendor, in->family, in->arch, in->driver_version);
        fprintf(f, "| device | name | ops | vectors | model | passed | failed | unsupported | xfail | xpass | trivial "
                   "| time (s) |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        for (int i = 0; i < run->n_devs; i++) {
            if (fam[i] != fi) continue;
            const xc_device_report *d = &run->devs[i];
            fprintf(f, "| %s | ", d->info.spec);
            put_md(f, d->info.name);
            fprintf(f, " |");
            for (int k = 0; k < 3; k++) fprintf(f, " %s |", verdict_name(xc_suite_verdict(d, SUITES[k])));
            fprintf(f, " %d | %d | %d | %d | %d | %d | %.2f |\n", d->counts[XC_PASS], d->counts[XC_FAIL],
                    d->counts[XC_UNSUPPORTED], d->counts[XC_XFAIL], d->counts[XC_XPASS], d->counts[XC_TRIVIAL],
                    d->seconds);
        }
        fprintf(f, "\n");
    }
    const char *ops[128];
    int nops = ops_present(run, ops, 128);
    fprintf(f, "## Support matrix\n\n");
    for (int i = 0; i < run->n_devs; i++) {
        const xc_device_report *d = &run->devs[i];
        fprintf(f, "### %s\n\n| op |", d->info.spec);
        for (int k = 0; k < N_MDT - 1; k++)
            if (col_used(run, k)) fprintf(f, " %s |", MDT[k]);
        fprintf(f, "\n|---|");
        for (int k = 0; k < N_MDT - 1; k++)
            if (col_used(run, k)) fprintf(f, "---|");
        fprintf(f, "\n");
        for (int o = 0; o < nops; o++) {
            fprintf(f, "| %s |", ops[o]);
            for (int k = 0; k < N_MDT - 1; k++) {
                if (!col_used(run, k)) continue;
                cell c = get_cell(d, ops[o], k);
                char t[64];
                cell_text(&c, t, sizeof(t));
                fprintf(f, " %s |", t);
            }
            fprintf(f, "\n");
        }
        fprintf(f, "\n");
    }
    fprintf(f, "## Failures (fail and xpass)\n\n");
    int any = 0;
    char b1[32], b2[32], b3[32];
    for (int i = 0; i < run->n_devs; i++) {
        const xc_device_report *d = &run->devs[i];
        for (int k = 0; k < d->n; k++) {
            const xc_result *r = &d->results[k];
            if (r->outcome != XC_FAIL && r->outcome != XC_XPASS) continue;
            if (!any)
                fprintf(f, "| device | case | outcome | max abs | max rel | NMSE | bounds (atol/rtol/mtol/nmse) | "
                           "message |\n|---|---|---|---|---|---|---|---|\n");
            any = 1;
            fprintf(f, "| %s | `%s` | %s | ", d->info.spec, r->name, xc_outcome_name(r->outcome));
            if (r->has_figures) {
                fprintf(f, "%s | %s | %s | %g/%g/%g/%g | ", fmt_g(r->max_abs, b1, 32), fmt_g(r->max_rel, b2, 32),
                        fmt_g(r->nmse, b3, 32), r->tol.atol, r->tol.rtol, r->tol.mtol, r->tol.nmse);
            } else {
                fprintf(f, "- | - | - | - | ");
            }
            put_md(f, r->message[0] ? r->message : r->xfail_reason);
            if (r->outcome == XC_XPASS) {
                fprintf(f, " (expected failure ");
                put_md(f, r->xfail_reason);
                fprintf(f, ")");
            }
            if (r->detail[0]) {
                fprintf(f, "<br>case: ");
                put_md(f, r->detail);
            }
            fprintf(f, " |\n");
        }
    }
    if (!any) fprintf(f, "None.\n");
    /* margins: the passing cases nearest their bounds, per device */
    fprintf(f, "\n## Closest to the bounds (passing cases, error / bound)\n\n");
    for (int i = 0; i < run->n_devs; i++) {
        const xc_device_report *d = &run->devs[i];
        int top[5] = {-1, -1, -1, -1, -1};
        for (int k = 0; k < d->n; k++) {
            const xc_result *r = &d->results[k];
            if (r->outcome != XC_PASS || !r->has_figures || !(r->worst > 0)) continue;
            for (int t = 0; t < 5; t++)
                if (top[t] < 0 || r->worst > d->results[top[t]].worst) {
                    for (int u = 4; u > t; u--) top[u] = top[u - 1];
                    top[t] = k;
                    break;
                }
        }
        fprintf(f, "- %s:", d->info.spec);
        if (top[0] < 0) fprintf(f, " every compared value exact");
        for (int t = 0; t < 5 && top[t] >= 0; t++)
            fprintf(f, "%s `%s` %.2f", t ? "," : "", d->results[top[t]].name, d->results[top[t]].worst);
        fprintf(f, "\n");
    }
    fprintf(f, "\n## Expected failures\n\n");
    any = 0;
    for (int i = 0; i < run->n_devs; i++) {
        const xc_device_report *d = &run->devs[i];
        for (int k = 0; k < d->n; k++) {
            const xc_result *r = &d->results[k];
            if (r->outcome != XC_XFAIL) continue;
            any = 1;
            fprintf(f, "- %s `%s`: ", d->info.spec, r->name);
            put_md(f, r->xfail_reason);
            fprintf(f, "\n");
        }
    }
    if (!any) fprintf(f, "None.\n");
    fprintf(f, "\n## Unsupported and trivial cases, per op\n\n");
    any = 0;
    for (int i = 0; i < run->n_devs; i++) {
        const xc_device_report *d = &run->devs[i];
        op_summary s[128];
        int ns = summarize_ops(d, s, 128);
        for (int k = 0; k < ns; k++) {
            if (!s[k].unsup && !s[k].trivial) continue;
            if (!any)
                fprintf(f, "| device | op | unsupported | dtypes | trivial | passed | reason (first unsupported case) "
                           "|\n|---|---|---|---|---|---|---|\n");
            any = 1;
            fprintf(f, "| %s | %s | %d | %s | %d | %d | ", d->info.spec, s[k].op, s[k].unsup, s[k].dtypes, s[k].trivial,
                    s[k].pass);
            put_md(f, s[k].reason);
            fprintf(f, " |\n");
        }
    }
    if (!any) fprintf(f, "None.\n");
    fprintf(f, "\n## Model suite\n\n");
    for (int i = 0; i < run->n_devs; i++) {
        const xc_device_report *d = &run->devs[i];
        if (d->model_state == 0) {
            fprintf(f, "- %s: not selected\n", d->info.spec);
            continue;
        }
        if (d->model_state < 0) {
            fprintf(f, "- %s: unavailable: ", d->info.spec);
            put_md(f, d->model_message);
            fprintf(f, "\n");
            continue;
        }
        for (int k = 0; k < d->n_models; k++) {
            const xc_model_result *m = &d->models[k];
            fprintf(f, "- %s %s (%s compute): %s", d->info.spec, m->model, m->compute_dtype,
                    m->status == 1   ? "pass"
                    : m->status == 0 ? "FAIL"
                                     : "unsupported");
            if (m->message[0]) {
                fprintf(f, " - ");
                put_md(f, m->message);
            }
            if (m->status >= 0)
                fprintf(f,
                        "; max abs err %.3g (bound %.3g), min cosine %.6f (bound %.6f), top-1 %.3f, greedy %s, prefill "
                        "%.1f tok/s, decode %.1f tok/s",
                        m->max_abs_err, m->tol_max_abs, m->min_cosine, m->tol_cosine, m->top1_agreement,
                        m->greedy_match ? "matches" : "differs", m->prefill_tok_s, m->decode_tok_s);
            fprintf(f, "\n");
        }
    }
    const xc_machine *m = &run->machine;
    fprintf(
        f,
        "\n## Machine\n\n- host: %s\n- OS: %s\n- kernel: %s\n- arch: %s\n- CPU: %s (%d logical)\n- memory: %.1f GiB\n",
        m->hostname, m->os, m->kernel, m->arch, m->cpu, m->cpus, (double)m->memory / 1073741824.0);
    fprintf(f, "\n## Topology\n\n");
    if (run->topology_available && run->topology_text)
        fprintf(f, "```\n%s\n```\n", run->topology_text);
    else
        fprintf(f, "Topology unavailable: %s\n", run->topology_reason);
}

static const char *state_class(int st)
{
    switch (st) {
        case XC_PASS: return "p";
        case XC_FAIL: return "f";
        case XC_UNSUPPORTED: return "u";
        case XC_XFAIL: return "x";
        case XC_XPASS: return "f";
        case XC_TRIVIAL: return "u";
        default: return "n";
    }
}

static void write_html(FILE *f, const xc_run *run)
{
    int fam[256];
    families(run, fam);
    int tot[XC_OUTCOME_COUNT];
    int ok = xc_run_totals(run, tot);
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>xhal conformance "
               "report</title>\n<style>\n"
               "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;margin:0."
               "5em 0 1.5em}"
               "th,td{border:1px solid #bbb;padding:3px 7px;font-size:13px;text-align:left}th{background:#eee}"
               "td.p{background:#d8f5d0}td.f{background:#f8c8c8;font-weight:bold}td.u{background:#e8e8e8;color:#666}"
               "td.x{background:#fbeec0}td.n{background:#fff}.ok{color:#1a7f1a}.bad{color:#b00}code{font-size:12px}"
               "pre{background:#f6f6f6;padding:8px;overflow:auto;max-height:30em}\n</style></head><body>\n");
    const char *verdict = run_verdict(run);
    (void)ok;
    fprintf(f,
            "<h1>xhal conformance report</h1>\n<p>Result: <b class=\"%s\">%s</b> &mdash; %d passed, %d failed, %d "
            "unsupported, %d xfail, %d xpass, %d trivial in %.1f s.</p>\n",
            !strcmp(verdict, "PASS") ? "ok" : "bad", verdict, tot[XC_PASS], tot[XC_FAIL], tot[XC_UNSUPPORTED],
            tot[XC_XFAIL], tot[XC_XPASS], tot[XC_TRIVIAL], run->seconds);
    fprintf(f, "<p>Trivial cases (empty tensors: no work reaches the device) are counted apart and never make a "
               "support cell pass.</p>\n");
    fprintf(f, "<p>Generated %s by xhal %s (report schema %d): <code>", run->started, xhal_version(),
            XC_REPORT_SCHEMA_VERSION);
    put_esc(f, run->command, 0);
    fprintf(f, "</code></p>\n<h2>Devices by chip family</h2>\n");
    for (int fi = 0; fi < run->n_devs; fi++) {
        if (fam[fi] != fi) continue;
        const xhal_device_info *in = &run->devs[fi].info;
        fprintf(f, "<h3>");
        put_esc(f, in->vendor, 0);
        fprintf(f, " ");
        put_esc(f, in->family, 0);
        fprintf(f, " &mdash; arch ");
        put_esc(f, in->arch, 0);
        fprintf(f, ", driver ");
        put_esc(f, in->driver_version, 0);
        fprintf(f, "</h3>\n<table><tr><th>device</th><th>name</th><th>memory</th><th>units</th><th>ops</"
                   "th><th>vectors</th><th>model</th><th>passed</th><th>failed</th><th>unsupported</th><th>xfail</"
                   "th><th>xpass</th><th>trivial</th><th>time (s)</th></tr>\n");
        for (int i = 0; i < run->n_devs; i++) {
            if (fam[i] != fi) continue;
            const xc_device_report *d = &run->devs[i];
            fprintf(f, "<tr><td>%s</td><td>", d->info.spec);
            put_esc(f, d->info.name, 0);
            fprintf(f, "</td><td>%.1f GiB</td><td>%d</td>", (double)d->info.total_memory / 1073741824.0,
                    d->info.compute_units);
            for (int k = 0; k < 3; k++) {
                int v = xc_suite_verdict(d, SUITES[k]);
                fprintf(f, "<td class=\"%s\">%s</td>", v < 0 ? "n" : state_class(v), verdict_name(v));
            }
            fprintf(f,
                    "<td class=\"p\">%d</td><td class=\"%s\">%d</td><td class=\"u\">%d</td><td class=\"x\">%d</td><td "
                    "class=\"%s\">%d</td><td class=\"u\">%d</td><td>%.2f</td></tr>\n",
                    d->counts[XC_PASS], d->counts[XC_FAIL] ? "f" : "n", d->counts[XC_FAIL], d->counts[XC_UNSUPPORTED],
                    d->counts[XC_XFAIL], d->counts[XC_XPASS] ? "f" : "n", d->counts[XC_XPASS], d->counts[XC_TRIVIAL],
                    d->seconds);
        }
        fprintf(f, "</table>\n");
    }
    const char *ops[128];
    int nops = ops_present(run, ops, 128);
    fprintf(f, "<h2>Support matrix (op &times; dtype &times; device)</h2>\n<table><tr><th rowspan=\"2\">op</th>");
    int ncols = 0;
    for (int k = 0; k < N_MDT - 1; k++) ncols += col_used(run, k);
    for (int i = 0; i < run->n_devs; i++) fprintf(f, "<th colspan=\"%d\">%s</th>", ncols, run->devs[i].info.spec);
    fprintf(f, "</tr>\n<tr>");
    for (int i = 0; i < run->n_devs; i++)
        for (int k = 0; k < N_MDT - 1; k++)
            if (col_used(run, k)) fprintf(f, "<th>%s</th>", MDT[k]);
    fprintf(f, "</tr>\n");
    for (int o = 0; o < nops; o++) {
        fprintf(f, "<tr><th>%s</th>", ops[o]);
        for (int i = 0; i < run->n_devs; i++)
            for (int k = 0; k < N_MDT - 1; k++) {
                if (!col_used(run, k)) continue;
                cell c = get_cell(&run->devs[i], ops[o], k);
                char t[64];
                cell_text(&c, t, sizeof(t));
                fprintf(f, "<td class=\"%s\">%s</td>", state_class(cell_state(&c)), t);
            }
        fprintf(f, "</tr>\n");
    }
    fprintf(f, "</table>\n<h2>Failing cases</h2>\n");
    int any = 0;
    for (int i = 0; i < run->n_devs; i++) {
        const xc_device_report *d = &run->devs[i];
        for (int k = 0; k < d->n; k++) {
            const xc_result *r = &d->results[k];
            if (r->outcome != XC_FAIL && r->outcome != XC_XPASS) continue;
            if (!any)
                fprintf(f, "<table><tr><th>device</th><th>case</th><th>outcome</th><th>max abs err</th><th>max rel "
                           "err</th><th>NMSE</th><th>atol / rtol / mtol / nmse</th><th>message</th></tr>\n");
            any = 1;
            fprintf(f, "<tr><td>%s</td><td><code>", d->info.spec);
            put_esc(f, r->name, 0);
            fprintf(f, "</code></td><td class=\"f\">%s</td>", xc_outcome_name(r->outcome));
            if (r->has_figures)
                fprintf(f, "<td>%.3g</td><td>%.3g</td><td>%.3g</td><td>%g / %g / %g / %g</td>", r->max_abs, r->max_rel,
                        r->nmse, r->tol.atol, r->tol.rtol, r->tol.mtol, r->tol.nmse);
            else
                fprintf(f, "<td>-</td><td>-</td><td>-</td><td>-</td>");
            fprintf(f, "<td>");
            put_esc(f, r->message, 0);
            if (r->outcome == XC_XPASS) {
                fprintf(f, " (listed as expected failure: ");
                put_esc(f, r->xfail_reason, 0);
                fprintf(f, ")");
            }
            if (r->detail[0]) {
                fprintf(f, "<br><small>case: ");
                put_esc(f, r->detail, 0);
                fprintf(f, "</small>");
            }
            fprintf(f, "</td></tr>\n");
        }
    }
    fprintf(f, any ? "</table>\n" : "<p>None.</p>\n");
    fprintf(f, "<h2>Expected failures</h2>\n");
    any = 0;
    for (int i = 0; i < run->n_devs; i++) {
        const xc_device_report *d = &run->devs[i];
        for (int k = 0; k < d->n; k++) {
            const xc_result *r = &d->results[k];
            if (r->outcome != XC_XFAIL) continue;
            if (!any) fprintf(f, "<table><tr><th>device</th><th>case</th><th>why</th></tr>\n");
            any = 1;
            fprintf(f, "<tr><td>%s</td><td><code>", d->info.spec);
            put_esc(f, r->name, 0);
            fprintf(f, "</code></td><td class=\"x\">");
            put_esc(f, r->xfail_reason, 0);
            fprintf(f, "</td></tr>\n");
        }
    }
    fprintf(f, any ? "</table>\n" : "<p>None.</p>\n");
    fprintf(f, "<h2>Unsupported and trivial cases, per op</h2>\n");
    any = 0;
    for (int i = 0; i < run->n_devs; i++) {
        const xc_device_report *d = &run->devs[i];
        op_summary s[128];
        int ns = summarize_ops(d, s, 128);
        for (int k = 0; k < ns; k++) {
            if (!s[k].unsup && !s[k].trivial) continue;
            if (!any)
                fprintf(f, "<table><tr><th>device</th><th>op</th><th>unsupported</th><th>dtypes</th><th>trivial</"
                           "th><th>passed</th><th>reason (first unsupported case)</th></tr>\n");
            any = 1;
            fprintf(f, "<tr><td>%s</td><td>%s</td><td class=\"u\">%d</td><td>%s</td><td>%d</td><td>%d</td><td>",
                    d->info.spec, s[k].op, s[k].unsup, s[k].dtypes, s[k].trivial, s[k].pass);
            put_esc(f, s[k].reason, 0);
            fprintf(f, "</td></tr>\n");
        }
    }
    fprintf(f, any ? "</table>\n" : "<p>None.</p>\n");
    fprintf(f, "<h2>Model suite</h2>\n<ul>\n");
    for (int i = 0; i < run->n_devs; i++) {
        const xc_device_report *d = &run->devs[i];
        if (d->model_state == 0) {
            fprintf(f, "<li>%s: not selected</li>\n", d->info.spec);
            continue;
        }
        if (d->model_state < 0) {
            fprintf(f, "<li>%s: unavailable: ", d->info.spec);
            put_esc(f, d->model_message, 0);
            fprintf(f, "</li>\n");
            continue;
        }
        for (int k = 0; k < d->n_models; k++) {
            const xc_model_result *m = &d->models[k];
            fprintf(f, "<li>%s ", d->info.spec);
            put_esc(f, m->model, 0);
            fprintf(f,
                    " (%s compute): <b>%s</b>, max abs err %.3g (bound %.3g), min cosine %.6f (bound %.6f), top-1 "
                    "%.3f, greedy "
                    "%s, prefill %.1f tok/s, decode %.1f tok/s. ",
                    m->compute_dtype,
                    m->status == 1   ? "pass"
                    : m->status == 0 ? "FAIL"
                                     : "unsupported",
                    m->max_abs_err, m->tol_max_abs, m->min_cosine, m->tol_cosine, m->top1_agreement,
                    m->greedy_match ? "matches" : "differs", m->prefill_tok_s, m->decode_tok_s);
            put_esc(f, m->message, 0);
            fprintf(f, "</li>\n");
        }
    }
    fprintf(f, "</ul>\n");
    const xc_machine *m = &run->machine;
    fprintf(f, "<h2>Machine</h2>\n<table>");
    fprintf(f, "<tr><th>host</th><td>");
    put_esc(f, m->hostname, 0);
    fprintf(f, "</td></tr><tr><th>OS</th><td>");
    put_esc(f, m->os, 0);
    fprintf(f, "</td></tr><tr><th>kernel</th><td>");
    put_esc(f, m->kernel, 0);
    fprintf(f, "</td></tr><tr><th>arch</th><td>");
    put_esc(f, m->arch, 0);
    fprintf(f, "</td></tr><tr><th>CPU</th><td>");
    put_esc(f, m->cpu, 0);
    fprintf(f, " (%d logical)</td></tr><tr><th>memory</th><td>%.1f GiB</td></tr></table>\n", m->cpus,
            (double)m->memory / 1073741824.0);
    fprintf(f, "<h2>Topology</h2>\n");
    if (run->topology_available && run->topology_text) {
        fprintf(f, "<pre>");
        put_esc(f, run->topology_text, 0);
        fprintf(f, "</pre>\n");
    } else {
        fprintf(f, "<p>Topology unavailable: ");
        put_esc(f, run->topology_reason, 0);
        fprintf(f, "</p>\n");
    }
    fprintf(f, "</body></html>\n");
}

static void write_junit(FILE *f, const xc_run *run)
{
    int tot[XC_OUTCOME_COUNT];
    xc_run_totals(run, tot);
    int all = 0;
    for (int k = 0; k < XC_OUTCOME_COUNT; k++) all += tot[k];
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"xhal-conform\" tests=\"%d\" "
            "failures=\"%d\" skipped=\"%d\" time=\"%.3f\">\n",
            all, tot[XC_FAIL] + tot[XC_XPASS], tot[XC_UNSUPPORTED] + tot[XC_XFAIL] + tot[XC_TRIVIAL], run->seconds);
    for (int i = 0; i < run->n_devs; i++) {
        const xc_device_report *d = &run->devs[i];
        fprintf(f,
                "  <testsuite name=\"xhal-conform.%s\" tests=\"%d\" failures=\"%d\" skipped=\"%d\" time=\"%.3f\" "
                "timestamp=\"%s\">\n",
                d->info.spec, d->n, d->counts[XC_FAIL] + d->counts[XC_XPASS],
                d->counts[XC_UNSUPPORTED] + d->counts[XC_XFAIL] + d->counts[XC_TRIVIAL], d->seconds, run->started);
        fprintf(f, "    <properties><property name=\"device\" value=\"");
        put_esc(f, d->info.name, 1);
        fprintf(f, "\"/><property name=\"family\" value=\"");
        put_esc(f, d->info.family, 1);
        fprintf(f, "\"/><property name=\"driver_version\" value=\"");
        put_esc(f, d->info.driver_version, 1);
        fprintf(f, "\"/><property name=\"trivial\" value=\"%d\"/></properties>\n", d->counts[XC_TRIVIAL]);
        for (int k = 0; k < d->n; k++) {
            const xc_result *r = &d->results[k];
            fprintf(f, "    <testcase classname=\"%s.%s.%s\" name=\"", d->info.spec, r->suite, r->op);
            put_esc(f, r->name, 1);
            fprintf(f, "\" time=\"%.6f\"", r->ms / 1000.0);
            switch (r->outcome) {
                case XC_PASS: fprintf(f, "/>\n"); break;
                case XC_FAIL:
                case XC_XPASS:
                    fprintf(f, "><failure type=\"%s\" message=\"", xc_outcome_name(r->outcome));
                    if (r->outcome == XC_XPASS) {
                        fprintf(f, "passed but listed as an expected failure: ");
                        put_esc(f, r->xfail_reason, 1);
                    } else
                        put_esc(f, r->message, 1);
                    fprintf(f, "\"/></testcase>\n");
                    break;
                default:
                    fprintf(f, "><skipped message=\"%s: ",
                            r->outcome == XC_TRIVIAL ? "trivial" : xc_outcome_name(r->outcome));
                    put_esc(f, r->outcome == XC_XFAIL ? r->xfail_reason : r->message, 1);
                    fprintf(f, "\"/></testcase>\n");
                    break;
            }
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

int xc_report_write(const xc_run *run, const char *dir, unsigned formats, char *msg, size_t msgsz)
{
    if (run->n_devs > 256) return err(msg, msgsz, "report: more than 256 devices");
    if (mkdirs(dir) != 0) return err(msg, msgsz, "%s: cannot create folder: %s", dir, strerror(errno));
    char path[1200];
    if (formats & XC_FORMAT_JSON) {
        char *s = build_json(run);
        if (!s) return err(msg, msgsz, "report.json: out of memory");
        snprintf(path, sizeof(path), "%s/report.json", dir);
        FILE *f = fopen(path, "w");
        int ok = f && fputs(s, f) >= 0 && fputc('\n', f) != EOF;
        if (f && fclose(f) != 0) ok = 0;
        free(s);
        if (!ok) return err(msg, msgsz, "%s: write failed", path);
    }
    struct {
        unsigned bit;
        const char *name;
        void (*fn)(FILE *, const xc_run *);
    } W[] = {{XC_FORMAT_MD, "report.md", write_md},
             {XC_FORMAT_HTML, "report.html", write_html},
             {XC_FORMAT_JUNIT, "junit.xml", write_junit}};
    for (size_t i = 0; i < sizeof(W) / sizeof(W[0]); i++) {
        if (!(formats & W[i].bit)) continue;
        snprintf(path, sizeof(path), "%s/%s", dir, W[i].name);
        FILE *f = fopen(path, "w");
        if (!f) return err(msg, msgsz, "%s: cannot create: %s", path, strerror(errno));
        W[i].fn(f, run);
        if (ferror(f) | (fclose(f) != 0)) return err(msg, msgsz, "%s: write failed", path);
    }
    return 0;
}
