/*
 * bench_build.c - OpenCL program build: cold (empty xhal and driver caches) against cached
 * (a new context in the same process, then a new process). The builds run in child processes
 * (this program re-run with --child-ocl-build) with XHAL_LOG=info, so that what each one
 * compiled is read from the backend's own log lines rather than guessed from times.
 */
#define _GNU_SOURCE
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_internal.h"

/* time of the first op (which builds the op program) in a fresh context, in ms */
static int first_op_ms(const char *spec, double *ms)
{
    xhal_context *ctx = NULL;
    xhal_device *dev = NULL;
    xhal_stream *s = NULL;
    xhal_tensor *a = NULL, *o = NULL;
    int64_t n = 16;
    int rc = -1;
    if (xhal_context_create(NULL, &ctx) != XHAL_OK || xhal_device_find(ctx, spec, &dev) != XHAL_OK ||
        xhal_stream_create(dev, &s) != XHAL_OK || xhal_tensor_create(dev, XHAL_DTYPE_F32, 1, &n, &a) != XHAL_OK ||
        xhal_tensor_create(dev, XHAL_DTYPE_F32, 1, &n, &o) != XHAL_OK) {
        fprintf(stderr, "xhal-bench child: %s\n", xhal_last_error());
        goto done;
    }
    double t0 = xb_now();
    if (xhal_fill(s, a, 1.0) != XHAL_OK || xhal_add(s, a, a, o) != XHAL_OK || xhal_stream_synchronize(s) != XHAL_OK) {
        fprintf(stderr, "xhal-bench child: %s\n", xhal_last_error());
        goto done;
    }
    *ms = (xb_now() - t0) * 1e3;
    rc = 0;
done:
    xhal_context_destroy(ctx);
    return rc;
}

int xb_child_ocl_build(const char *spec)
{
    double a = 0, b = 0;
    if (first_op_ms(spec, &a) != 0 || first_op_ms(spec, &b) != 0) return 1;
    printf("XB_BUILD %.3f %.3f\n", a, b);
    fflush(stdout);
    return 0;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

typedef struct child_out {
    double ms[2];
    int compiled, loaded;
    int ok;
    char tail[160];
} child_out;

static void run_child(const char *exe, const char *spec, const char *xdir, const char *pdir, child_out *c)
{
    char cmd[4096];
    memset(c, 0, sizeof *c);
    snprintf(cmd, sizeof cmd, "XHAL_CACHE_DIR='%s' POCL_CACHE_DIR='%s' XHAL_LOG=info '%s' --child-ocl-build '%s' 2>&1",
             xdir, pdir, exe, spec);
    FILE *p = popen(cmd, "r");
    if (!p) {
        snprintf(c->tail, sizeof c->tail, "popen failed");
        return;
    }
    char line[2048];
    while (fgets(line, sizeof line, p)) {
        if (strstr(line, "compiled from source")) c->compiled++;
        if (strstr(line, "loaded from cache")) c->loaded++;
        if (sscanf(line, "XB_BUILD %lf %lf", &c->ms[0], &c->ms[1]) == 2)
            c->ok = 1;
        else {
            line[strcspn(line, "\n")] = 0;
            snprintf(c->tail, sizeof c->tail, "%s", line);
        }
    }
    int st = pclose(p);
    if (st != 0) c->ok = 0;
}

void xb_suite_ocl_build(xb_env *e, xb_dev *d)
{
    const char *exe = e->opts->self_exe;
    if (!xb_want(e, "op program")) return;
    xb_result r[3];
    const char *names[3] = {"op program, cold caches", "op program, new context, same process",
                            "op program, new process, cached"};
    for (int i = 0; i < 3; i++) {
        xb_result_init(&r[i], d->info.spec, "build", "ms");
        r[i].higher_is_better = 0;
        snprintf(r[i].name, sizeof r[i].name, "%s", names[i]);
        snprintf(r[i].shape, sizeof r[i].shape, "first add of 16 f32");
        r[i].reps = 1;
    }
    char xdir[] = "/tmp/xhal-bench-cache-XXXXXX", pdir[] = "/tmp/xhal-bench-pocl-XXXXXX";
    int have_x = mkdtemp(xdir) != NULL, have_p = have_x && mkdtemp(pdir) != NULL;
    child_out cold, warm;
    if (!exe || !have_p) {
        for (int i = 0; i < 3; i++) {
            r[i].failed = 1;
            snprintf(r[i].note, sizeof r[i].note, "%s",
                     !exe ? "no path to this program to re-run as a child" : "cannot create temp folders");
            xb_add(e, &r[i]);
        }
        goto cleanup;
    }
    run_child(exe, d->info.spec, xdir, pdir, &cold);
    run_child(exe, d->info.spec, xdir, pdir, &warm);
    const child_out *src[3] = {&cold, &cold, &warm};
    for (int i = 0; i < 3; i++) {
        const child_out *c = src[i];
        if (!c->ok) {
            r[i].failed = 1;
            snprintf(r[i].note, sizeof r[i].note, "child failed: %s", c->tail);
        } else {
            double v = c->ms[i == 1 ? 1 : 0];
            r[i].median = r[i].min = r[i].max = v;
            snprintf(r[i].note, sizeof r[i].note,
                     "time of the first op (builds the op program); that child process (two contexts) compiled %d and "
                     "loaded %d "
                     "program(s) from the xhal cache (XHAL_CACHE_DIR and POCL_CACHE_DIR: fresh temp folders)",
                     c->compiled, c->loaded);
        }
        xb_add(e, &r[i]);
    }
cleanup:
    if (have_x) nftw(xdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    if (have_p) nftw(pdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}
