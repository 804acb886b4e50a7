/*
 * bench_core.c - timing, statistics, the result list and the run over devices and suites.
 */
#define _GNU_SOURCE
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench_internal.h"

double xb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y ? 1 : 0;
}

void xb_stats(const double *v, int n, double *median, double *min, double *max)
{
    if (n <= 0) {
        *median = *min = *max = 0.0;
        return;
    }
    double *s = malloc((size_t)n * sizeof *s);
    if (!s) {
        *median = *min = *max = v[0];
        return;
    }
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    *min = s[0];
    *max = s[n - 1];
    *median = (n % 2) ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    free(s);
}

void xb_rate(const double *s, int n, double work, double scale, double *median, double *min, double *max)
{
    double tm, tmin, tmax;
    xb_stats(s, n, &tm, &tmin, &tmax);
    *median = tm > 0 ? work * scale / tm : 0.0;
    *min = tmax > 0 ? work * scale / tmax : 0.0;
    *max = tmin > 0 ? work * scale / tmin : 0.0;
}

int xb_time(xb_dev *d, xb_body body, void *ctx, int warmup, int reps, double *samples_s, double *ev_s, char *err,
            size_t errsize)
{
    for (int i = 0; i < warmup; i++)
        if (body(ctx, err, errsize) != 0) return -1;
    xhal_event *e0 = NULL, *e1 = NULL;
    int use_ev = d && d->events && ev_s;
    if (use_ev && (xhal_event_create(d->dev, &e0) != XHAL_OK || xhal_event_create(d->dev, &e1) != XHAL_OK)) use_ev = 0;
    int rc = 0;
    for (int i = 0; i < reps && rc == 0; i++) {
        if (use_ev) xhal_event_record(e0, d->stream);
        double t0 = xb_now();
        rc = body(ctx, err, errsize);
        samples_s[i] = xb_now() - t0;
        if (ev_s) ev_s[i] = -1.0;
        if (rc == 0 && use_ev && xhal_event_record(e1, d->stream) == XHAL_OK && xhal_event_synchronize(e1) == XHAL_OK) {
            double ms = -1.0;
            if (xhal_event_elapsed_ms(e0, e1, &ms) == XHAL_OK && ms > 0) ev_s[i] = ms * 1e-3;
        }
    }
    xhal_event_destroy(e0);
    xhal_event_destroy(e1);
    return rc;
}

int xb_want(const xb_env *e, const char *name)
{
    return !e->filter || regexec((const regex_t *)e->filter, name, 0, NULL, 0) == 0;
}

void xb_result_init(xb_result *r, const char *device, const char *group, const char *unit)
{
    memset(r, 0, sizeof *r);
    snprintf(r->device, sizeof r->device, "%s", device);
    snprintf(r->group, sizeof r->group, "%s", group);
    snprintf(r->unit, sizeof r->unit, "%s", unit);
    r->event_median = -1.0;
    r->higher_is_better = 1;
}

void xb_set_peer(xb_result *r, const char *peer, double med, double min, double max)
{
    snprintf(r->peer, sizeof r->peer, "%s", peer);
    r->peer_ok = 1;
    r->peer_median = med;
    r->peer_min = min;
    r->peer_max = max;
}

void xb_peer_absent(xb_result *r, const char *peer, const char *why)
{
    snprintf(r->peer, sizeof r->peer, "%s", peer);
    r->peer_ok = 0;
    snprintf(r->peer_note, sizeof r->peer_note, "%s", why);
}

void xb_print_result(FILE *f, const xb_result *r)
{
    if (!f) return;
    if (r->failed) {
        fprintf(f, "  %-9s %-36s FAILED: %s\n", r->device, r->name, r->note);
        return;
    }
    fprintf(f, "  %-9s %-36s %10.3f %-9s [%.3f .. %.3f] n=%d", r->device, r->name, r->median, r->unit, r->min, r->max,
            r->reps);
    if (r->event_median >= 0) fprintf(f, " (events %.3f)", r->event_median);
    if (r->peer[0]) {
        if (r->peer_ok)
            fprintf(f, " | %s %.3f [%.3f .. %.3f] ratio %.2f", r->peer, r->peer_median, r->peer_min, r->peer_max,
                    r->ratio);
        else
            fprintf(f, " | %s: %s", r->peer, r->peer_note);
    }
    fputc('\n', f);
    if (r->note[0]) fprintf(f, "      %s\n", r->note);
    fflush(f);
}

xb_result *xb_add(xb_env *e, const xb_result *r)
{
    xb_report *rep = e->rep;
    if (rep->n == rep->cap) {
        int cap = rep->cap ? rep->cap * 2 : 64;
        xb_result *nr = realloc(rep->results, (size_t)cap * sizeof *nr);
        if (!nr) return NULL;
        rep->results = nr;
        rep->cap = cap;
    }
    xb_result *dst = &rep->results[rep->n++];
    *dst = *r;
    if (dst->peer_ok && dst->peer_median > 0 && dst->median > 0)
        dst->ratio = dst->higher_is_better ? dst->median / dst->peer_median : dst->peer_median / dst->median;
    xb_print_result(e->opts->out, dst);
    return dst;
}

void xb_report_free(xb_report *rep)
{
    if (!rep) return;
    free(rep->results);
    memset(rep, 0, sizeof *rep);
}

void xb_machine_info(xb_machine *m)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    snprintf(m->cpu_model, sizeof m->cpu_model, "unknown");
    if (f) {
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "model name", 10) == 0) {
                char *p = strchr(line, ':');
                if (p) {
                    p++;
                    while (*p == ' ') p++;
                    p[strcspn(p, "\n")] = 0;
                    snprintf(m->cpu_model, sizeof m->cpu_model, "%s", p);
                }
                break;
            }
        }
        fclose(f);
    }
    m->cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
    struct utsname u;
    if (uname(&u) == 0) snprintf(m->kernel, sizeof m->kernel, "%s %s %s", u.sysname, u.release, u.machine);
    double la[3] = {0, 0, 0};
    if (getloadavg(la, 3) == 3) {
        m->load1 = la[0];
        m->load5 = la[1];
        m->load15 = la[2];
    }
    time_t t = time(NULL);
    struct tm tmv;
    gmtime_r(&t, &tmv);
    strftime(m->date_utc, sizeof m->date_utc, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    snprintf(m->openblas, sizeof m->openblas, "%s", xb_blas_config());
    snprintf(m->clblast, sizeof m->clblast, "%s", xb_clblast_status());
    snprintf(m->xhal_version, sizeof m->xhal_version, "%s", xhal_version());
}

static int open_dev(xhal_context *ctx, xhal_device *dev, xb_dev *d)
{
    memset(d, 0, sizeof *d);
    d->ctx = ctx;
    d->dev = dev;
    if (xhal_device_get_info(dev, &d->info) != XHAL_OK) return -1;
    if (xhal_stream_create(dev, &d->stream) != XHAL_OK) return -1;
    d->is_cpu = strcmp(d->info.backend, "cpu") == 0;
    d->is_opencl = strcmp(d->info.backend, "opencl") == 0;
    d->events = (d->info.caps & XHAL_CAP_EVENT_TIMING) != 0;
    return 0;
}

xhal_status xb_run(const xb_options *opts, xb_report *rep)
{
    memset(rep, 0, sizeof *rep);
    rep->quick = opts->quick;
    double t_start = xb_now();
    xb_env env = {opts, rep, opts->quick ? 1 : 2, opts->quick ? 3 : 7, NULL};
    regex_t re;
    if (opts->filter) {
        int rc = regcomp(&re, opts->filter, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char msg[256];
            regerror(rc, &re, msg, sizeof msg);
            fprintf(stderr, "xhal-bench: --filter '%s': %s\n", opts->filter, msg);
            return XHAL_ERROR_INVALID_ARGUMENT;
        }
        env.filter = &re;
    }
    xhal_context *ctx = NULL;
    xhal_status st = xhal_context_create(NULL, &ctx);
    if (st != XHAL_OK) {
        fprintf(stderr, "xhal-bench: cannot create a context: %s\n", xhal_last_error());
        if (env.filter) regfree(&re);
        return st;
    }
    xhal_device *devs[XB_MAX_DEVICES];
    int nd = 0;
    if (opts->ndevices > 0) {
        for (int i = 0; i < opts->ndevices && nd < XB_MAX_DEVICES; i++) {
            if (xhal_device_find(ctx, opts->devices[i], &devs[nd]) == XHAL_OK)
                nd++;
            else
                fprintf(stderr, "xhal-bench: device %s skipped: %s\n", opts->devices[i], xhal_last_error());
        }
    } else {
        int count = 0;
        xhal_device_count(ctx, &count);
        for (int i = 0; i < count && nd < XB_MAX_DEVICES; i++)
            if (xhal_device_get(ctx, i, &devs[nd]) == XHAL_OK) nd++;
    }
    xb_machine_info(&rep->machine);
    xb_dev d[XB_MAX_DEVICES];
    int ok = 0;
    for (int i = 0; i < nd; i++) {
        if (open_dev(ctx, devs[i], &d[ok]) != 0) {
            fprintf(stderr, "xhal-bench: device %d skipped: %s\n", i, xhal_last_error());
            continue;
        }
        rep->machine.dev[ok] = d[ok].info;
        ok++;
    }
    rep->machine.ndev = ok;
    if (ok == 0) {
        fprintf(stderr, "xhal-bench: no device to measure\n");
        xhal_context_destroy(ctx);
        if (env.filter) regfree(&re);
        return XHAL_ERROR_NOT_FOUND;
    }
    FILE *out = opts->out;
    if (out) {
        fprintf(out, "xhal-bench %s on %s (%d cores), load %.2f %.2f %.2f, %s\n", xhal_version(),
                rep->machine.cpu_model, rep->machine.cores, rep->machine.load1, rep->machine.load5, rep->machine.load15,
                opts->quick ? "quick" : "full");
        for (int i = 0; i < ok; i++)
            fprintf(out, "  device %s: %s (%s), driver %s, %d compute units\n", d[i].info.spec, d[i].info.name,
                    d[i].info.vendor, d[i].info.driver_version, d[i].info.compute_units);
        fprintf(out, "  peers: OpenBLAS %s; CLBlast %s\n", rep->machine.openblas, rep->machine.clblast);
        fflush(out);
    }
    /* the peer BLAS gets the CPU device's thread count, as the backend's own BLAS does */
    for (int i = 0; i < ok; i++)
        if (d[i].is_cpu) xb_blas_threads(d[i].info.compute_units);

    xb_bandwidth bw = {0.0, 0.0, 0.0};
    /* the memory figures are the model's peer: they run whenever a model figure does */
    if ((opts->suites & XB_SUITE_MODEL) && (xb_want(&env, "STREAM-like") || xb_model_wanted(&env)))
        xb_suite_stream(&env, &bw);
    for (int i = 0; i < ok; i++) {
        if (out) fprintf(out, "\n[%s] %s\n", d[i].info.spec, d[i].info.name);
        if (opts->suites & XB_SUITE_OPS) {
            xb_suite_matmul(&env, &d[i]);
            xb_suite_memops(&env, &d[i]);
            xb_suite_dispatch(&env, &d[i]);
            xb_suite_transfer(&env, &d[i]);
            if (d[i].is_opencl) xb_suite_ocl_build(&env, &d[i]);
        }
        if (opts->suites & XB_SUITE_MODEL) xb_suite_model(&env, &d[i], &bw);
    }
    for (int i = 0; i < ok; i++) xhal_stream_destroy(d[i].stream);
    xhal_context_destroy(ctx);
    if (env.filter) regfree(&re);
    rep->wall_s = xb_now() - t_start;
    return XHAL_OK;
}
