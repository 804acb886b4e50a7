/* xhal-conform - run the op conformance suite (and vectors, and the model suite) on
 * devices and write a report. A thin main over the xhal_conform library. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "xc_coll.h"
#include "xc_conform.h"
#include "xhal_isolate.h"

static void usage(FILE *f)
{
    fprintf(
        f, "usage: xhal-conform [--device SPEC]... [--suite ops|vectors|model|all[,...]] [--filter REGEX] [--op LIST]\n"
           "                    [--report DIR] [--format json,md,html,junit] [--expected-failures FILE]\n"
           "                    [--vectors DIR] [--models DIR] [--seed N] [--list] [--quiet]\n"
           "       xhal-conform --merge A/report.json --merge B/report.json ... [--report DIR] [--format ...]\n"
           "\n"
           "Runs the op catalogue (conformance/OPS.md) on every device (or the ones named with\n"
           "--device, e.g. cpu:0, opencl:1) and writes report.json, report.md, report.html and\n"
           "junit.xml into DIR (default ./xhal-conform-report). Exit status: 0 if every selected\n"
           "suite ran and passed (unsupported cases are shown, not failures), 1 if a case failed\n"
           "or an expected failure passed (XPASS), 2 on a usage or setup error, 3 if nothing\n"
           "failed but a selected suite ran nothing (every case unsupported or trivial) on a\n"
           "device named with --device, or nothing ran on any device.\n"
           "  --suite      ops (built-in cases), vectors (--vectors DIR, default: the shipped\n"
           "               vectors), model (the Llama model suite), all (default)\n"
           "  --filter     POSIX extended regex on case names (e.g. '^matmul/f16/')\n"
           "  --op LIST    only these ops (comma-separated names, 'model' for the model suite)\n"
           "  --expected-failures FILE  lines 'FAMILY-GLOB OP-GLOB DTYPE-GLOB [CASE-REGEX] # reason'\n"
           "  --merge FILE join reports (from many machines) into one matrix by chip family;\n"
           "               exit 0, 1 if an input has a failure, 2 if one cannot be read\n"
           "  --list       print the selected cases (name, op, dtype, shapes/strides/attributes)\n"
           "               and exit\n"
           "  --isolate / --no-isolate  run each device in its own child process (default) or in\n"
           "               this one; a child that crashes or hangs is reported as CRASHED/TIMEOUT\n"
           "  --timeout S  seconds a device's child may run (default 1800)\n"
           "       xhal-conform --suite collectives [--device SPEC]... [--mpi] [--report DIR] [--quiet]\n"
           "  every collective x dtype x count against a host reference (conformance/COLLECTIVES.md):\n"
           "  the --device list as one communicator (cpu:0 twice is 2 ranks), else cpu:0 x2, cpu:0 x3,\n"
           "  cpu:0 + opencl:0 and every backend's devices; with --mpi, under mpirun, one rank per\n"
           "  process on --device number (rank mod count). Writes DIR/collectives.json and .md.\n");
}

static int parse_suites(const char *s, unsigned *out)
{
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", s);
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (!strcmp(t, "ops"))
            *out |= XC_SUITE_OPS;
        else if (!strcmp(t, "vectors"))
            *out |= XC_SUITE_VECTORS;
        else if (!strcmp(t, "model"))
            *out |= XC_SUITE_MODEL;
        else if (!strcmp(t, "all"))
            *out |= XC_SUITE_OPS | XC_SUITE_VECTORS | XC_SUITE_MODEL;
        else
            return -1;
    }
    return 0;
}

static int parse_formats(const char *s, unsigned *out)
{
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", s);
    char *save = NULL;
    *out = 0;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (!strcmp(t, "json"))
            *out |= XC_FORMAT_JSON;
        else if (!strcmp(t, "md"))
            *out |= XC_FORMAT_MD;
        else if (!strcmp(t, "html"))
            *out |= XC_FORMAT_HTML;
        else if (!strcmp(t, "junit"))
            *out |= XC_FORMAT_JUNIT;
        else
            return -1;
    }
    return *out ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *devices[64], *merge[64];
    int n_dev_args = 0, n_merge = 0;
    unsigned suites = 0, formats = XC_FORMAT_JSON | XC_FORMAT_MD | XC_FORMAT_HTML | XC_FORMAT_JUNIT;
    const char *filter = NULL, *ops = NULL, *report = "xhal-conform-report", *xfail_path = NULL, *vectors = NULL,
               *models = NULL;
    int list = 0, quiet = 0, coll = 0, mpi = 0, report_set = 0;
    uint64_t seed = 20240607;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED()                                                      \
    do {                                                            \
        if (!v) {                                                   \
            fprintf(stderr, "xhal-conform: %s needs a value\n", a); \
            return 2;                                               \
        }                                                           \
        i++;                                                        \
    } while (0)
        if (!strcmp(a, "--suite") && v && !strcmp(v, "collectives")) {
            coll = 1;
            i++;
        } else if (!strcmp(a, "--mpi")) {
            mpi = 1;
        } else if (!strcmp(a, "--device")) {
            NEED();
            if (n_dev_args == 64) {
                fprintf(stderr, "xhal-conform: too many --device\n");
                return 2;
            }
            devices[n_dev_args++] = v;
        } else if (!strcmp(a, "--suite")) {
            NEED();
            if (parse_suites(v, &suites) != 0) {
                fprintf(stderr, "xhal-conform: unknown suite in '%s' (ops, vectors, model, all)\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--filter")) {
            NEED();
            filter = v;
        } else if (!strcmp(a, "--op")) {
            NEED();
            ops = v;
        } else if (!strcmp(a, "--merge")) {
            NEED();
            if (n_merge == 64) {
                fprintf(stderr, "xhal-conform: too many --merge\n");
                return 2;
            }
            merge[n_merge++] = v;
        } else if (!strcmp(a, "--report")) {
            NEED();
            report = v;
            report_set = 1;
        } else if (!strcmp(a, "--format")) {
            NEED();
            if (parse_formats(v, &formats) != 0) {
                fprintf(stderr, "xhal-conform: bad --format '%s' (json,md,html,junit)\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--expected-failures")) {
            NEED();
            xfail_path = v;
        } else if (!strcmp(a, "--vectors")) {
            NEED();
            vectors = v;
        } else if (!strcmp(a, "--models")) {
            NEED();
            models = v;
        } else if (!strcmp(a, "--seed")) {
            NEED();
            seed = strtoull(v, NULL, 0);
        } else if (!strcmp(a, "--list"))
            list = 1;
        else if (!strcmp(a, "--quiet"))
            quiet = 1;
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else {
            int xr = xi_parse_arg(argc, argv, &i); /* isolation options (xhal_isolate.h) */
            if (xr < 0) return 2;
            if (xr == 0) {
                fprintf(stderr, "xhal-conform: unknown argument '%s'\n", a);
                usage(stderr);
                return 2;
            }
        }
#undef NEED
    }
    char msg[512];
    if (coll || mpi) {
        if (!coll || suites || n_merge || list) {
            fprintf(stderr, "xhal-conform: --suite collectives runs alone (--mpi needs it)\n");
            return 2;
        }
        xc_coll_options co = {devices, n_dev_args, mpi, report_set ? report : NULL, quiet};
        return xc_coll_conform(&co);
    }
    if (xi_list_fd >= 0) xi_list_child(); /* does not return */
    if (n_merge) {
        int failing = 0;
        if (xc_merge_reports(merge, n_merge, report, formats, &failing, msg, sizeof(msg)) != 0) {
            fprintf(stderr, "xhal-conform: %s\n", msg);
            return 2;
        }
        printf("merged %d report%s into %s/%s\n", n_merge, n_merge == 1 ? "" : "s", report,
               failing ? " (with failures)" : "");
        return failing ? 1 : 0;
    }
    if (!suites) suites = XC_SUITE_OPS | XC_SUITE_VECTORS | XC_SUITE_MODEL;
    if (vectors) suites |= XC_SUITE_VECTORS;

    xc_xfail_list xfail = {0};
    if (xfail_path && xc_xfail_load(xfail_path, &xfail, msg, sizeof(msg)) != 0) {
        fprintf(stderr, "xhal-conform: %s\n", msg);
        return 2;
    }
    xc_options opt = {suites, filter, vectors, models, &xfail, seed, NULL, ops};
    xc_case_list cases;
    if (xc_select_cases(&opt, &cases, msg, sizeof(msg)) != 0) {
        fprintf(stderr, "xhal-conform: %s\n", msg);
        xc_xfail_free(&xfail);
        return 2;
    }
    if (list) {
        char detail[512];
        for (int i = 0; i < cases.n; i++) {
            xc_case_describe(&cases.cases[i], detail, sizeof(detail));
            printf("%s\t%s\t%s\t%s\n", cases.cases[i].name, xhal_op_name(cases.cases[i].op),
                   xhal_dtype_name(cases.cases[i].dtype), detail);
        }
        if (suites & XC_SUITE_MODEL) printf("model/*\tmodel\t-\n");
        xc_case_list_free(&cases);
        xc_xfail_free(&xfail);
        return 0;
    }

    /* isolation: plugins are loaded in a child first; folders that fail are left out */
    xi_load_failure *lfails = NULL;
    int n_lfails = 0;
    if (xi_isolate && xi_child_fd < 0 && xi_isolated_loading(argv, &lfails, &n_lfails, msg, sizeof msg) != 0) {
        fprintf(stderr, "xhal-conform: %s\n", msg);
        xc_case_list_free(&cases);
        xc_xfail_free(&xfail);
        return 2;
    }
    xhal_context *ctx = NULL;
    if (xhal_context_create(NULL, &ctx) != XHAL_OK) {
        fprintf(stderr, "xhal-conform: cannot create a context: %s\n", xhal_last_error());
        free(lfails);
        return 2;
    }
    xhal_device *devs[64];
    int n_devs = 0, rc = 2;
    if (n_dev_args) {
        for (int i = 0; i < n_dev_args; i++)
            if (xi_spec_failed(devices[i], lfails, n_lfails))
                continue; /* reported as CRASHED below */
            else if (xhal_device_find(ctx, devices[i], &devs[n_devs]) != XHAL_OK) {
                fprintf(stderr, "xhal-conform: --device %s: %s\n", devices[i], xhal_last_error());
                goto out;
            } else
                n_devs++;
    } else {
        int count = 0;
        xhal_device_count(ctx, &count);
        for (int i = 0; i < count && n_devs < 64; i++)
            if (xhal_device_get(ctx, i, &devs[n_devs]) == XHAL_OK) n_devs++;
        if (!n_devs && !n_lfails) {
            fprintf(stderr, "xhal-conform: no devices found (see xhal-info)\n");
            goto out;
        }
    }

    xc_run run;
    xc_run_init(&run);
    {
        size_t o = 0;
        for (int i = 0; i < argc && o + 2 < sizeof(run.command); i++)
            o += (size_t)snprintf(run.command + o, sizeof(run.command) - o, "%s%s", i ? " " : "", argv[i]);
    }
    snprintf(run.suites, sizeof(run.suites), "%s%s%s", (suites & XC_SUITE_OPS) ? "ops " : "",
             (suites & XC_SUITE_VECTORS) ? "vectors " : "", (suites & XC_SUITE_MODEL) ? "model" : "");
    snprintf(run.filter, sizeof(run.filter), "%s%s%s", filter ? filter : "", ops ? (filter ? " --op " : "--op ") : "",
             ops ? ops : "");
    snprintf(run.xfail_file, sizeof(run.xfail_file), "%s", xfail_path ? xfail_path : "");
    {
        const char *vd = vectors ? vectors : (suites & XC_SUITE_VECTORS) ? xc_default_vectors_dir() : "";
        snprintf(run.vectors_dir, sizeof(run.vectors_dir), "%s", vd ? vd : "");
    }
    run.seed = seed;
    run.explicit_devices = n_dev_args > 0;
    xc_run_describe_machine(&run, ctx);
    opt.progress = (!quiet && isatty(2)) ? stderr : NULL;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < n_lfails; i++)
        if (xi_append_failure(&run, NULL, lfails[i].spec, lfails[i].what, lfails[i].why) == 0)
            printf("%-10s plugin load: FAIL isolation/%s: %s\n", lfails[i].spec, lfails[i].what, lfails[i].why);
    for (int i = 0; i < n_devs; i++) {
        if (xi_run_device(&run, ctx, devs[i], &cases, &opt, msg, sizeof(msg), argc, argv) != 0) {
            fprintf(stderr, "xhal-conform: %s\n", msg);
            xc_run_free(&run);
            goto out;
        }
        const xc_device_report *d = &run.devs[run.n_devs - 1];
        printf("%-10s %s [%s %s]: %d passed, %d failed, %d unsupported, %d xfail, %d xpass, %d trivial in %.1f s\n",
               d->info.spec, d->info.name, d->info.vendor, d->info.family, d->counts[XC_PASS], d->counts[XC_FAIL],
               d->counts[XC_UNSUPPORTED], d->counts[XC_XFAIL], d->counts[XC_XPASS], d->counts[XC_TRIVIAL], d->seconds);
        static const char *sn[3] = {"ops", "vectors", "model"};
        for (int k = 0; k < 3; k++)
            if (xc_suite_verdict(d, sn[k]) == XC_UNSUPPORTED)
                printf("    suite %s: UNSUPPORTED, nothing ran (every case unsupported or trivial)\n", sn[k]);
        int shown = 0;
        for (int k = 0; k < d->n; k++) {
            const xc_result *r = &d->results[k];
            if (r->outcome != XC_FAIL && r->outcome != XC_XPASS) continue;
            if (shown++ == 20) {
                printf("    ... (see the report)\n");
                break;
            }
            printf("    %s %s: %s\n        case: %s\n", r->outcome == XC_XPASS ? "XPASS" : "FAIL ", r->name,
                   r->outcome == XC_XPASS ? r->xfail_reason : r->message, r->detail);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    run.seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    for (int i = 0; i < xfail.n; i++)
        if (!xfail.e[i].used)
            printf("note: expected-failure line %d (%s %s %s%s%s) matched no case\n", xfail.e[i].line,
                   xfail.e[i].family, xfail.e[i].op, xfail.e[i].dtype, xfail.e[i].has_regex ? " " : "",
                   xfail.e[i].regex_src);
    int counts[XC_OUTCOME_COUNT];
    xc_run_totals(&run, counts);
    int status = xc_run_exit_status(&run, run.explicit_devices);
    printf("total: %d passed, %d failed, %d unsupported, %d xfail, %d xpass, %d trivial on %d device%s in %.1f s: %s\n",
           counts[XC_PASS], counts[XC_FAIL], counts[XC_UNSUPPORTED], counts[XC_XFAIL], counts[XC_XPASS],
           counts[XC_TRIVIAL], run.n_devs, run.n_devs == 1 ? "" : "s", run.seconds,
           status == XC_EXIT_PASS   ? "PASS"
           : status == XC_EXIT_FAIL ? "FAIL"
                                    : "UNSUPPORTED (nothing ran; exit status 3)");
    if (xc_report_write(&run, report, formats, msg, sizeof(msg)) != 0) {
        fprintf(stderr, "xhal-conform: %s\n", msg);
        rc = 2;
    } else {
        printf("report: %s/ (%s%s%s%s)\n", report, (formats & XC_FORMAT_JSON) ? "report.json " : "",
               (formats & XC_FORMAT_MD) ? "report.md " : "", (formats & XC_FORMAT_HTML) ? "report.html " : "",
               (formats & XC_FORMAT_JUNIT) ? "junit.xml" : "");
        rc = status;
    }
    xc_run_free(&run);
out:
    free(lfails);
    xc_case_list_free(&cases);
    xc_xfail_free(&xfail);
    xhal_context_destroy(ctx);
    return rc;
}
