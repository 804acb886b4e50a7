/*
 * bench.h - xhal_bench: measured speed of xhal devices, side by side with what a user would
 * pick instead (OpenBLAS called directly on the CPU, CLBlast and bare OpenCL calls on an
 * OpenCL device, a STREAM-like loop for memory bandwidth). Library behind tools/xhal-bench.
 *
 * Every figure is a set of repeated runs after a warm-up: median, min and max, timed with the
 * host clock around xhal_stream_synchronize (and, where the device reports
 * XHAL_CAP_EVENT_TIMING, with events too: the event median is kept beside the host one).
 *
 * Not thread-safe: one xb_run at a time per process (it sets OpenBLAS's thread count).
 */
#ifndef XHAL_BENCH_H
#define XHAL_BENCH_H

#include <stdio.h>

#include "xhal/xhal.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XB_SUITE_OPS 0x1
#define XB_SUITE_MODEL 0x2
#define XB_SUITE_ALL (XB_SUITE_OPS | XB_SUITE_MODEL)
#define XB_MAX_DEVICES 16

typedef struct xb_options {
    const char *devices[XB_MAX_DEVICES]; /* specs; none: every device of every loaded backend */
    int ndevices;
    int suites;           /* XB_SUITE_* */
    int quick;            /* small sizes, few repetitions (tests, CI) */
    const char *self_exe; /* this program, re-run as a child for the cached-build figure; may be NULL */
    const char *filter;   /* POSIX extended regex: only figures whose name matches run; NULL: all */
    FILE *out;            /* progress and the table (NULL: quiet) */
} xb_options;

/* One measured figure. Rates are "higher is better" (GFLOP/s, GB/s, tokens/s) except
 * dispatch latencies (us per op, lower is better) and build times (ms). */
typedef struct xb_result {
    char device[48]; /* "cpu:0", "opencl:0", "host" for machine-wide figures */
    char group[24];  /* matmul, elementwise, softmax, rms_norm, copy, dispatch, transfer, model,
                          * memory, build */
    char name[64];   /* e.g. "matmul f32 1024x1024x1024" */
    char dtype[8];
    char shape[64]; /* human-readable shape, e.g. "M=1 N=4096 K=4096" */
    char unit[16];  /* GFLOP/s, GB/s, us, ms, tokens/s */
    double x;       /* size for charts: e.g. cube root of M*N*K; 0 if none */
    int reps;
    double median, min, max;
    double event_median; /* same unit, from device events; < 0 if not measured */
    int higher_is_better;
    /* the peer: what a user would call instead */
    char peer[48]; /* "OpenBLAS cblas_sgemm", "CLBlast", "C loop", ... ; "" if none applies */
    int peer_ok;   /* 1: measured; 0: unavailable (peer_note says why) */
    double peer_median, peer_min, peer_max;
    char peer_note[160];
    double ratio;   /* xhal / peer, medians (for latencies: peer / xhal, so > 1 is xhal faster); 0 if none */
    char note[256]; /* how it was measured, or why it failed */
    int failed;     /* the xhal side could not run (note says why) */
} xb_result;

typedef struct xb_machine {
    char cpu_model[128];
    int cores; /* online CPUs */
    char kernel[128];
    double load1, load5, load15;
    char date_utc[32];
    char openblas[128];
    char clblast[64]; /* library found, or "absent" */
    char xhal_version[16];
    int ndev;
    xhal_device_info dev[XB_MAX_DEVICES];
    char command[512];
} xb_machine;

typedef struct xb_report {
    xb_machine machine;
    xb_result *results;
    int n, cap;
    int quick;
    double wall_s;
} xb_report;

/* Run the suites on the chosen devices into *rep (which the caller frees with
 * xb_report_free). Devices that cannot be found are reported and skipped; a figure that fails
 * is kept with failed=1 and its reason. Returns XHAL_OK unless nothing could run at all. */
xhal_status xb_run(const xb_options *opts, xb_report *rep);
void xb_report_free(xb_report *rep);

/* xhal-bench --suite collectives (bench_coll.c): all_reduce, all_gather, reduce_scatter and
 * broadcast of f32, algorithm and bus bandwidth as nccl-tests defines them (algbw = S / t with S
 * the bytes of the full tensor: all_reduce's and broadcast's count, all_gather's recv,
 * reduce_scatter's send; busbw = algbw x 2(n-1)/n for all_reduce, (n-1)/n for all_gather and
 * reduce_scatter, 1 for broadcast). In one process: one communicator of opts->devices (default
 * cpu:0 twice). With mpi (under mpirun): one rank per process on cpu:0 or opts->devices[rank %
 * n], all_reduce side by side with MPI_Allreduce called directly on the same host buffers
 * (through libxhal_mpi.so's xhal_mpi_peer_allreduce, no xhal layer); times are the slowest
 * rank's. Only rank 0 prints and reports (opts->out is ignored elsewhere). */
xhal_status xb_coll_run(const xb_options *opts, int mpi, xb_report *rep, int *is_rank0);

/* Writers: 0 on success, -1 with errno-style failure printed to stderr. */
int xb_write_json(const xb_report *rep, const char *path);
int xb_write_html(const xb_report *rep, const char *path);
/* The human table (already printed as results arrive when opts->out is set). */
void xb_print_result(FILE *f, const xb_result *r);

/* Child mode of the cached-build figure: build the OpenCL op program on spec in two contexts
 * one after the other and print "XB_BUILD <ms ctx1> <ms ctx2>" to stdout. Returns an exit code. */
int xb_child_ocl_build(const char *spec);

#ifdef __cplusplus
}
#endif
#endif
