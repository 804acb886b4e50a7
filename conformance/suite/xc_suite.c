/* xc_suite.c - selecting cases, running them on a device, the model-suite and topology
 * hooks, and describing the machine for the report. */
#define _GNU_SOURCE
#include "xc_conform.h"

#include <regex.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#ifdef XC_HAVE_TOPOLOGY
#include "xhal/xhal_topology.h"
#endif

#ifndef XC_DEFAULT_VECTORS_DIR
#define XC_DEFAULT_VECTORS_DIR ""
#endif
#ifndef XC_DEFAULT_MODELS_DIR
#define XC_DEFAULT_MODELS_DIR ""
#endif
#ifndef XC_BIN_TO_DATA
#define XC_BIN_TO_DATA "../share"
#endif

static int err(char *msg, size_t sz, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sz, fmt, ap);
    va_end(ap);
    return -1;
}

/* dir if it holds probe, else NULL. */
static const char *dir_with(const char *dir, const char *probe)
{
    struct stat st;
    char p[4096];
    if (!dir || !dir[0]) return NULL;
    if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, probe) >= sizeof(p)) return NULL;
    return stat(p, &st) == 0 ? dir : NULL;
}

/* <folder of the running executable>/XC_BIN_TO_DATA/xhal/conformance/<rel> into buf: an
 * installed tool finds the data installed with it, wherever the prefix was moved. */
static const char *installed_data(const char *rel, const char *probe, char *buf, size_t len)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) return NULL;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) return NULL;
    *slash = '\0';
    if ((size_t)snprintf(buf, len, "%s/%s/xhal/conformance/%s", exe, XC_BIN_TO_DATA, rel) >= len) return NULL;
    return dir_with(buf, probe);
}

const char *xc_default_vectors_dir(void)
{
    static char buf[4096];
    const char *d = installed_data("vectors/default", "cases.json", buf, sizeof(buf));
    return d ? d : dir_with(XC_DEFAULT_VECTORS_DIR, "cases.json");
}

const char *xc_default_models_dir(void)
{
    static char buf[4096];
    const char *d = installed_data("models/llama/reference", ".", buf, sizeof(buf));
    return d ? d : dir_with(XC_DEFAULT_MODELS_DIR, ".");
}

/* 1 if name is in the comma-separated list */
static int in_list(const char *list, const char *name)
{
    size_t l = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == l && !strncmp(p, name, l)) return 1;
        p = e ? e + 1 : NULL;
    }
    return 0;
}

int xc_select_cases(const xc_options *opt, xc_case_list *out, char *msg, size_t msgsz)
{
    memset(out, 0, sizeof(*out));
    if (opt->ops) {
        char buf[512];
        snprintf(buf, sizeof(buf), "%s", opt->ops);
        char *save = NULL;
        for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            xhal_op id;
            if (strcmp(t, "model") != 0 && xhal_op_from_name(t, &id) != XHAL_OK)
                return err(msg, msgsz, "--op: no op named '%s' (see conformance/OPS.md)", t);
        }
    }
    regex_t re;
    int has_re = opt->filter && opt->filter[0];
    if (has_re) {
        int rc = regcomp(&re, opt->filter, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char eb[128];
            regerror(rc, &re, eb, sizeof(eb));
            return err(msg, msgsz, "--filter '%s': %s", opt->filter, eb);
        }
    }
    xc_case_list all = {0};
    int rc = 0;
    if ((opt->suites & XC_SUITE_OPS) && xc_catalogue_build(&all) != 0) rc = err(msg, msgsz, "out of memory");
    if (rc == 0 && (opt->suites & XC_SUITE_VECTORS)) {
        const char *dir = opt->vectors_dir ? opt->vectors_dir : xc_default_vectors_dir();
        if (!dir)
            rc = err(msg, msgsz, "no vectors folder: pass --vectors DIR");
        else if (xc_vectors_load(dir, &all, msg, msgsz) != 0)
            rc = -1;
    }
    /* every case meets its op's rules before anything computes with it (vectors were
     * checked as they were read; the catalogue is checked here so that a bad edit of it is
     * an error naming the case, not an overflow in the reference) */
    for (int i = 0; rc == 0 && i < all.n; i++)
        if (xc_case_validate(&all.cases[i], msg, msgsz) != 0) rc = -1;
    if (rc == 0) {
        for (int i = 0; i < all.n; i++) {
            xc_case *c = &all.cases[i];
            if (opt->ops && !in_list(opt->ops, xhal_op_name(c->op))) continue;
            if (!has_re || regexec(&re, c->name, 0, NULL, 0) == 0) {
                if (xc_case_list_push(out, c) != 0) {
                    rc = err(msg, msgsz, "out of memory");
                    break;
                }
                c->given_in = NULL; /* ownership moved */
                c->given_init = NULL;
                c->given_expect = NULL;
            }
        }
    }
    xc_case_list_free(&all);
    if (rc != 0) xc_case_list_free(out);
    if (has_re) regfree(&re);
    return rc;
}

void xc_run_init(xc_run *run)
{
    memset(run, 0, sizeof(*run));
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(run->started, sizeof(run->started), "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void xc_run_free(xc_run *run)
{
    for (int i = 0; i < run->n_devs; i++) free(run->devs[i].results);
    free(run->devs);
    free(run->topology);
    free(run->topology_text);
    memset(run, 0, sizeof(*run));
}

static int push_result(xc_device_report *d, const xc_result *r)
{
    if (d->n == d->cap) {
        int cap = d->cap ? 2 * d->cap : 256;
        xc_result *p = realloc(d->results, sizeof(*p) * (size_t)cap);
        if (!p) return -1;
        d->results = p;
        d->cap = cap;
    }
    d->results[d->n++] = *r;
    if (r->outcome >= 0 && r->outcome < XC_OUTCOME_COUNT) d->counts[r->outcome]++;
    return 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void run_models(xc_device_report *d, xhal_context *ctx, xhal_device *dev, const xc_options *opt)
{
    xc_result r;
    memset(&r, 0, sizeof(r));
    snprintf(r.suite, sizeof(r.suite), "model");
    snprintf(r.op, sizeof(r.op), "model");
#ifdef XHAL_HAVE_MODEL_SUITE
    int n = xc_model_suite_run(ctx, dev, opt->model_dir ? opt->model_dir : xc_default_models_dir(), d->models,
                               (int)(sizeof(d->models) / sizeof(d->models[0])));
    if (n < 0) {
        d->model_state = -1;
        snprintf(d->model_message, sizeof(d->model_message), "%s", xhal_last_error());
        snprintf(r.name, sizeof(r.name), "model/suite");
        snprintf(r.dtype, sizeof(r.dtype), "-");
        r.outcome = XC_UNSUPPORTED;
        snprintf(r.message, sizeof(r.message), "model suite could not run: %s", d->model_message);
        push_result(d, &r);
        return;
    }
    d->model_state = 1;
    d->n_models = n;
    for (int i = 0; i < n; i++) {
        const xc_model_result *m = &d->models[i];
        memset(&r, 0, sizeof(r));
        snprintf(r.suite, sizeof(r.suite), "model");
        snprintf(r.op, sizeof(r.op), "model");
        snprintf(r.name, sizeof(r.name), "model/%s/%s", m->model, m->compute_dtype);
        snprintf(r.dtype, sizeof(r.dtype), "%s", m->compute_dtype);
        r.outcome = m->status == 1 ? XC_PASS : m->status == 0 ? XC_FAIL : XC_UNSUPPORTED;
        r.has_figures = 1;
        r.max_abs = m->max_abs_err;
        r.tol.atol = m->tol_max_abs;
        r.numel = m->n_positions;
        snprintf(r.message, sizeof(r.message),
                 "%s%smin cosine %.6f (bound %.6f), top-1 agreement %.3f, greedy %s (%d tokens), prefill %.1f tok/s, "
                 "decode %.1f tok/s",
                 m->message, m->message[0] ? "; " : "", m->min_cosine, m->tol_cosine, m->top1_agreement,
                 m->greedy_match ? "matches" : "differs", m->n_generated, m->prefill_tok_s, m->decode_tok_s);
        xc_apply_xfail(opt->xfail, &d->info, &r);
        push_result(d, &r);
    }
#else
    (void)ctx;
    (void)dev;
    (void)opt;
    d->model_state = -1;
    snprintf(d->model_message, sizeof(d->model_message), "the model suite was not built (target xhal_llama absent)");
    snprintf(r.name, sizeof(r.name), "model/suite");
    snprintf(r.dtype, sizeof(r.dtype), "-");
    r.outcome = XC_UNSUPPORTED;
    snprintf(r.message, sizeof(r.message), "%s", d->model_message);
    push_result(d, &r);
#endif
}

int xc_run_device(xc_run *run, xhal_context *ctx, xhal_device *dev, const xc_case_list *cases, const xc_options *opt,
                  char *msg, size_t msgsz)
{
    xc_device_report *nd = realloc(run->devs, sizeof(*nd) * (size_t)(run->n_devs + 1));
    if (!nd) return err(msg, msgsz, "out of memory");
    run->devs = nd;
    xc_device_report *d = &run->devs[run->n_devs];
    memset(d, 0, sizeof(*d));
    xhal_status st = xhal_device_get_info(dev, &d->info);
    if (st != XHAL_OK) return err(msg, msgsz, "device_get_info: %s", xhal_last_error());
    run->n_devs++;
    double t0 = now_s();
    xhal_stream *stream = NULL;
    st = xhal_stream_create(dev, &stream);
    if (st != XHAL_OK) {
        snprintf(msg, msgsz, "%s: stream_create: %s", d->info.spec, xhal_last_error());
        xc_result r;
        memset(&r, 0, sizeof(r));
        snprintf(r.suite, sizeof(r.suite), "ops");
        snprintf(r.name, sizeof(r.name), "setup/stream_create");
        snprintf(r.op, sizeof(r.op), "-");
        snprintf(r.dtype, sizeof(r.dtype), "-");
        r.outcome = XC_FAIL;
        snprintf(r.message, sizeof(r.message), "%s", msg);
        push_result(d, &r);
        d->seconds = now_s() - t0;
        return 0;
    }
    int total = cases->n;
    for (int i = 0; i < cases->n; i++) {
        const xc_case *c = &cases->cases[i];
        if (opt->progress) {
            fprintf(opt->progress, "\r\033[K[%s] %d/%d %s", d->info.spec, i + 1, total, c->name);
            fflush(opt->progress);
        }
        xc_result r;
        xc_run_case(stream, dev, c, opt->seed, &r);
        xc_apply_xfail(opt->xfail, &d->info, &r);
        if (push_result(d, &r) != 0) {
            xhal_stream_destroy(stream);
            return err(msg, msgsz, "out of memory");
        }
    }
    xhal_stream_destroy(stream);
    int models = (opt->suites & XC_SUITE_MODEL) != 0;
    if (models && opt->filter && opt->filter[0]) {
        /* a --filter selects the model suite when it matches "model/" */
        regex_t re;
        if (regcomp(&re, opt->filter, REG_EXTENDED | REG_NOSUB) == 0) {
            models = regexec(&re, "model/", 0, NULL, 0) == 0;
            regfree(&re);
        }
    }
    if (models && opt->ops) models = in_list(opt->ops, "model");
    if (models) {
        if (opt->progress) {
            fprintf(opt->progress, "\r\033[K[%s] model suite", d->info.spec);
            fflush(opt->progress);
        }
        run_models(d, ctx, dev, opt);
    }
    if (opt->progress) {
        fprintf(opt->progress, "\r\033[K");
        fflush(opt->progress);
    }
    d->seconds = now_s() - t0;
    return 0;
}

int xc_run_totals(const xc_run *run, int counts[XC_OUTCOME_COUNT])
{
    memset(counts, 0, sizeof(int) * XC_OUTCOME_COUNT);
    for (int i = 0; i < run->n_devs; i++)
        for (int k = 0; k < XC_OUTCOME_COUNT; k++) counts[k] += run->devs[i].counts[k];
    return counts[XC_FAIL] == 0 && counts[XC_XPASS] == 0;
}

int xc_suite_verdict(const xc_device_report *d, const char *suite)
{
    int any = 0, ran = 0;
    for (int i = 0; i < d->n; i++) {
        const xc_result *r = &d->results[i];
        if (strcmp(r->suite, suite) != 0) continue;
        any = 1;
        if (r->outcome == XC_FAIL || r->outcome == XC_XPASS) return XC_FAIL;
        if (r->outcome == XC_PASS || r->outcome == XC_XFAIL) ran = 1;
    }
    return !any ? -1 : ran ? XC_PASS : XC_UNSUPPORTED;
}

int xc_run_exit_status(const xc_run *run, int explicit_devices)
{
    static const char *suites[] = {"ops", "vectors", "model"};
    int any_ran = 0, explicit_idle = 0;
    for (int i = 0; i < run->n_devs; i++)
        for (int s = 0; s < 3; s++) {
            int v = xc_suite_verdict(&run->devs[i], suites[s]);
            if (v == XC_FAIL) return XC_EXIT_FAIL;
            if (v == XC_PASS) any_ran = 1;
            if (v == XC_UNSUPPORTED && explicit_devices) explicit_idle = 1;
        }
    return (explicit_idle || !any_ran) ? XC_EXIT_NOTHING_RAN : XC_EXIT_PASS;
}

static void read_line_field(const char *path, const char *key, char *out, size_t sz)
{
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[512];
    size_t kl = strlen(key);
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, key, kl) != 0) continue;
        char *p = line + kl;
        while (*p == ' ' || *p == '\t' || *p == ':' || *p == '=' || *p == '"') p++;
        size_t n = strlen(p);
        while (n && (p[n - 1] == '\n' || p[n - 1] == '"' || p[n - 1] == ' ')) p[--n] = 0;
        snprintf(out, sz, "%s", p);
        break;
    }
    fclose(f);
}

void xc_run_describe_machine(xc_run *run, xhal_context *ctx)
{
    xc_machine *m = &run->machine;
    if (gethostname(m->hostname, sizeof(m->hostname) - 1) != 0) snprintf(m->hostname, sizeof(m->hostname), "unknown");
    struct utsname u;
    if (uname(&u) == 0) {
        snprintf(m->kernel, sizeof(m->kernel), "%s %s", u.sysname, u.release);
        snprintf(m->arch, sizeof(m->arch), "%s", u.machine);
    }
    read_line_field("/etc/os-release", "PRETTY_NAME", m->os, sizeof(m->os));
    read_line_field("/proc/cpuinfo", "model name", m->cpu, sizeof(m->cpu));
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    m->cpus = nc > 0 ? (int)nc : 0;
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    m->memory = (pages > 0 && psz > 0) ? (uint64_t)pages * (uint64_t)psz : 0;
#ifdef XC_HAVE_TOPOLOGY
    int avail = 0;
    if (xhal_topology_available(ctx, &avail, run->topology_reason, sizeof(run->topology_reason)) != XHAL_OK)
        snprintf(run->topology_reason, sizeof(run->topology_reason), "%s", xhal_last_error());
    char *json = NULL, *text = NULL;
    if (xhal_topology_render(ctx, XHAL_TOPOLOGY_RENDER_JSON, &json) == XHAL_OK && json) {
        run->topology = strdup(json);
        xhal_topology_render_free(json);
    }
    if (xhal_topology_render(ctx, 0, &text) == XHAL_OK && text) {
        run->topology_text = strdup(text);
        xhal_topology_render_free(text);
    }
    run->topology_available = avail && run->topology && run->topology_text;
    if (avail && !run->topology_available)
        snprintf(run->topology_reason, sizeof(run->topology_reason), "xhal_topology_render failed: %s",
                 xhal_last_error());
#else
    (void)ctx;
    snprintf(run->topology_reason, sizeof(run->topology_reason),
             "topology unavailable: this build has no xhal_topology_render (include/xhal/xhal_topology.h)");
#endif
}
