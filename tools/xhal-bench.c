/*
 * xhal-bench - measured speed of xhal devices, side by side with what a user would call
 * instead. The logic lives in bench/ (library xhal_bench); this is the command line.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

static void usage(FILE *f)
{
    fprintf(
        f, "usage: xhal-bench [--device SPEC]... [--suite ops|model|all] [--filter REGEX] [--json FILE] [--html FILE]\n"
           "                  [--quick]\n"
           "  --device SPEC   a device to measure (cpu:0, opencl:0...); repeatable; default: every device\n"
           "  --suite S       ops (matmul, add, softmax, rms_norm, copy, dispatch, transfer, OpenCL builds),\n"
           "                  model (Llama port prefill/decode and STREAM-like memory bandwidth), all (default)\n"
           "  --filter REGEX  only figures whose name matches (POSIX extended, e.g. 'f16 1x4096|llama')\n"
           "  --json FILE     every figure with unit, device, shape and the machine\n"
           "  --html FILE     a self-contained page with charts\n"
           "  --quick         small sizes, few repetitions (tests, CI); figures are not representative\n"
           "       xhal-bench --suite collectives [--device SPEC]... [--mpi] [--json FILE] [--quick]\n"
           "  algbw and busbw (nccl-tests' definitions) of all_reduce, all_gather, reduce_scatter and\n"
           "  broadcast (f32): one communicator of the --device list (default cpu:0 twice), or with --mpi\n"
           "  (under mpirun) one rank per process, all_reduce beside MPI_Allreduce called directly\n"
           "Peers: OpenBLAS cblas_sgemm (same thread count) on the CPU; CLBlast (dlopen) and bare OpenCL calls\n"
           "on OpenCL devices. Ratios are xhal/peer for rates, peer/xhal for latencies.\n");
}

int main(int argc, char **argv)
{
    xb_options o;
    memset(&o, 0, sizeof o);
    o.suites = XB_SUITE_ALL;
    o.out = stdout;
    const char *json = NULL, *html = NULL;
    int coll = 0, mpi = 0, rank0 = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--child-ocl-build") == 0 && i + 1 < argc) return xb_child_ocl_build(argv[i + 1]);
        if (strcmp(a, "--device") == 0 && i + 1 < argc) {
            if (o.ndevices == XB_MAX_DEVICES) {
                fprintf(stderr, "xhal-bench: at most %d devices\n", XB_MAX_DEVICES);
                return 2;
            }
            o.devices[o.ndevices++] = argv[++i];
        } else if (strcmp(a, "--suite") == 0 && i + 1 < argc) {
            const char *s = argv[++i];
            if (strcmp(s, "ops") == 0)
                o.suites = XB_SUITE_OPS;
            else if (strcmp(s, "model") == 0)
                o.suites = XB_SUITE_MODEL;
            else if (strcmp(s, "collectives") == 0)
                coll = 1;
            else if (strcmp(s, "all") == 0)
                o.suites = XB_SUITE_ALL;
            else {
                fprintf(stderr, "xhal-bench: unknown suite '%s' (ops, model, collectives, all)\n", s);
                return 2;
            }
        } else if (strcmp(a, "--filter") == 0 && i + 1 < argc) {
            o.filter = argv[++i];
        } else if (strcmp(a, "--json") == 0 && i + 1 < argc) {
            json = argv[++i];
        } else if (strcmp(a, "--html") == 0 && i + 1 < argc) {
            html = argv[++i];
        } else if (strcmp(a, "--mpi") == 0) {
            mpi = 1;
        } else if (strcmp(a, "--quick") == 0) {
            o.quick = 1;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "xhal-bench: unknown or incomplete argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    static char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = 0;
        o.self_exe = self;
    }
    xb_report rep;
    if (mpi && !coll) {
        fprintf(stderr, "xhal-bench: --mpi goes with --suite collectives\n");
        return 2;
    }
    if (coll ? xb_coll_run(&o, mpi, &rep, &rank0) != XHAL_OK : xb_run(&o, &rep) != XHAL_OK) return 1;
    if (!rank0) { /* under MPI only rank 0 reports */
        xb_report_free(&rep);
        return 0;
    }
    size_t k = 0;
    for (int i = 0; i < argc && k < sizeof rep.machine.command - 1; i++)
        k += (size_t)snprintf(rep.machine.command + k, sizeof rep.machine.command - k, "%s%s", i ? " " : "",
                              i == 0 ? "xhal-bench" : argv[i]);
    int rc = 0;
    int failed = 0;
    for (int i = 0; i < rep.n; i++) failed += rep.results[i].failed;
    printf("\n%d figures, %d failed, %.1f s\n", rep.n, failed, rep.wall_s);
    if (json && xb_write_json(&rep, json) != 0) rc = 1;
    if (html && xb_write_html(&rep, html) != 0) rc = 1;
    if (json && rc == 0) printf("JSON: %s\n", json);
    if (html && rc == 0) printf("HTML: %s\n", html);
    xb_report_free(&rep);
    return rc;
}
