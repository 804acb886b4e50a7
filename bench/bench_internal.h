/* bench_internal.h - shared pieces of xhal_bench (not installed). */
#ifndef XHAL_BENCH_INTERNAL_H
#define XHAL_BENCH_INTERNAL_H

#include <stdint.h>

#include "bench.h"

/* One device under test. */
typedef struct xb_dev {
    xhal_context *ctx;
    xhal_device *dev;
    xhal_stream *stream;
    xhal_device_info info;
    int is_cpu, is_opencl;
    int events; /* XHAL_CAP_EVENT_TIMING */
} xb_dev;

typedef struct xb_env {
    const xb_options *opts;
    xb_report *rep;
    int warmup, reps; /* default repetitions for op figures */
    void *filter;     /* compiled opts->filter (regex_t), or NULL */
} xb_env;

/* 1 if the figure called name is to run (no filter, or the filter matches it) */
int xb_want(const xb_env *e, const char *name);

/* The machine section of a report (CPU, load, libraries, date). */
void xb_machine_info(xb_machine *m);

/* seconds, monotonic */
double xb_now(void);
/* A timed body: returns 0 on success, -1 on failure (message in buf). */
typedef int (*xb_body)(void *ctx, char *err, size_t errsize);
/* Run body warmup times, then reps times with the host clock (and events on d when d->events
 * and d != NULL): samples_s[reps] host seconds, ev_s[reps] event seconds (or -1). */
int xb_time(xb_dev *d, xb_body body, void *ctx, int warmup, int reps, double *samples_s, double *ev_s, char *err,
            size_t errsize);
/* median/min/max of n values (sorted copy). */
void xb_stats(const double *v, int n, double *median, double *min, double *max);
/* Convert a set of second-samples to a rate work/second scaled by `scale` (e.g. 1e-9):
 * median/min/max of the rate (min rate comes from the max time). */
void xb_rate(const double *s, int n, double work, double scale, double *median, double *min, double *max);

/* Append a result (copied) and print it. */
xb_result *xb_add(xb_env *e, const xb_result *r);
void xb_result_init(xb_result *r, const char *device, const char *group, const char *unit);
/* Set the peer from samples already converted to the result's unit. */
void xb_set_peer(xb_result *r, const char *peer, double med, double min, double max);
void xb_peer_absent(xb_result *r, const char *peer, const char *why);

/* the suites */
void xb_suite_matmul(xb_env *e, xb_dev *d);
void xb_suite_memops(xb_env *e, xb_dev *d);
void xb_suite_dispatch(xb_env *e, xb_dev *d);
void xb_suite_transfer(xb_env *e, xb_dev *d);
/* The host's measured memory bandwidth (GB/s, medians; 0 when not measured): STREAM-like
 * triad and read with all threads, read with one thread. */
typedef struct xb_bandwidth {
    double triad, read, read1;
} xb_bandwidth;
/* The model port's figures; decode weight bytes/s against bw's read bandwidth on the CPU, its triad on other
 * devices (bw may be NULL). */
void xb_suite_model(xb_env *e, xb_dev *d, const xb_bandwidth *bw);
/* 1 if the filter lets a model figure run */
int xb_model_wanted(const xb_env *e);
void xb_suite_ocl_build(xb_env *e, xb_dev *d);
/* STREAM-like bandwidth of the host (copy, triad, read with all threads; read with one thread
 * too when there are more): adds the results and fills bw. */
void xb_suite_stream(xb_env *e, xb_bandwidth *bw);

/* peers */
/* OpenBLAS: sets the thread count (returns 0 if unavailable). */
int xb_blas_threads(int n);
const char *xb_blas_config(void);
/* Called after each peer run (rep -1 for the warm-up ones) to run one xhal sample, so that the
 * two sides alternate and share whatever load the machine has; non-zero stops the run. */
typedef int (*xb_interleave)(void *ctx, int rep);
/* Time cblas_sgemm (bf16: cblas_sbgemm, bf16 inputs, f32 out) M,N,K row-major on host memory (tb:
 * b stored as [N, K] and used transposed):
 * rate samples in GFLOP/s. cb may be NULL. Returns 0, -1 (peer unavailable, cb never called,
 * err says why) or -2 (cb failed). */
int xb_blas_gemm(int bf16, int tb, int64_t M, int64_t N, int64_t K, int warmup, int reps, double *gflops,
                 xb_interleave cb, void *cbctx, char *err, size_t errsize);

/* OpenCL peers on the OpenCL device named like d (returns -1 with a reason if the OpenCL API,
 * the device or CLBlast is not available). */
int xb_ocl_raw_dispatch(const xb_dev *d, int n_elems, int iters, int reps, double *us, char *err, size_t errsize);
/* CLBlast S/HGEMM (half != 0: HGEMM) row-major on the same device: GFLOP/s samples. */
/* CLBlast[SH]gemm M,N,K row-major (tb as for xb_blas_gemm) in its own context on d's device: rate samples in GFLOP/s,
 * cb (may be NULL) called after each run as for xb_blas_gemm; returns 0, -1 (peer unavailable
 * or failed, err says why) or -2 (cb failed). */
int xb_clblast_gemm(const xb_dev *d, int half, int tb, int64_t M, int64_t N, int64_t K, int warmup, int reps,
                    double *gflops, xb_interleave cb, void *cbctx, char *err, size_t errsize);
const char *xb_clblast_status(void);

/* random-weight Llama checkpoint: config.json + model.safetensors in dir */
int xb_write_llama(const char *dir, int hidden, int inter, int layers, int heads, int kv_heads, int vocab, char *err,
                   size_t errsize);
/* random-weight Mixtral checkpoint (the same attention as xb_write_llama, then `experts` SwiGLU
 * experts of expert_inter each and a router per layer; top_k experts per token) */
int xb_write_mixtral(const char *dir, int hidden, int expert_inter, int layers, int heads, int kv_heads, int vocab,
                     int experts, int top_k, char *err, size_t errsize);
/* the same weights as a llama.cpp GGUF file at path: matrices in wdt (f32, f16, q8_0 or q4_0,
 * quantized with llama.cpp's reference rounding), norms f32, a placeholder vocabulary */
int xb_write_llama_gguf(const char *path, int hidden, int inter, int layers, int heads, int kv_heads, int vocab,
                        xhal_dtype wdt, char *err, size_t errsize);

#endif
