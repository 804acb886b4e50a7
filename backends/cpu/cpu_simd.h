/*
 * cpu_simd.h - vector kernels of the CPU backend over contiguous rows (not installed).
 *
 * One table of kernels is chosen once, at the first call of cpu_simd(), from what the
 * running CPU offers: "avx2" (AVX2 + FMA + F16C, compiled through target attributes, so
 * the build itself needs no -m flag and runs on any x86-64) or "portable" (plain C, any
 * CPU and any compiler). XHAL_CPU_ISA=portable forces the portable table (to compare
 * or to rule the vector code out).
 *
 * Element types: `dt` is XHAL_DTYPE_F32, F16 or BF16 (f64 never comes here). Halves
 * convert to f32 exactly; f32 to f16/bf16 rounds to nearest even as xhal_half.h does.
 * Products and sums are f32 with several partial sums (the accumulate tolerance class
 * of conformance/OPS.md); row sums of the norms and the softmax denominator accumulate
 * in double. exp is a polynomial with range reduction, within 2 ulp of f32 exp; inputs
 * below -87.3 give 0, NaN stays NaN.
 */
#ifndef XHAL_CPU_SIMD_H
#define XHAL_CPU_SIMD_H

#include <stdint.h>

typedef struct cpu_simd_ops {
    const char *isa; /* "avx2" or "portable" */
    /* dst[i] = src[i] as f32, n contiguous elements of dt */
    void (*load)(int dt, const void *src, float *dst, int64_t n);
    /* dst[i] = src[i] rounded to dt, n contiguous elements */
    void (*store)(int dt, void *dst, const float *src, int64_t n);
    /* sum_i x[i] * w[i], w of dt */
    float (*dot)(int wdt, const float *x, const void *w, int64_t n);
    /* out[r] = sum_i x[i] * w_r[i] for the 4 rows w_r = w + r * ldw bytes */
    void (*dot4)(int wdt, const float *x, const void *w, int64_t ldw, int64_t n, float out[4]);
    /* y[i] += sum_r a[r] * w_r[i] for the nr (1..4) rows w_r = w + r * ldw bytes */
    void (*axpy)(int wdt, int nr, const float *a, const void *w, int64_t ldw, float *y, int64_t n);
    /* largest element ignoring NaN; -inf when n == 0 or all are NaN */
    float (*max)(const float *v, int64_t n);
    /* v[i] = exp(v[i] - sub); returns the sum of the new v (a NaN makes it NaN) */
    double (*exp_sum)(float *v, int64_t n, float sub);
    /* v[i] *= s */
    void (*scale)(float *v, int64_t n, float s);
    /* sum_i v[i] */
    double (*sum)(const float *v, int64_t n);
    /* sum_i (v[i] - c)^2 */
    double (*sumsq)(const float *v, int64_t n, float c);
    /* v[i] = (v[i] - c) * inv * w[i] + b[i]; w, b may be NULL (1 and 0) */
    void (*norm)(float *v, int64_t n, float c, float inv, const float *w, const float *b);
    /* v[i] = v[i] * sigmoid(v[i]), the sigmoid as 1/(1+e) or e/(1+e) with e = exp(-|v|), as
     * the double path computes it (so silu(-inf) is NaN there and here) */
    void (*silu)(float *v, int64_t n);
} cpu_simd_ops;

/* The table for this CPU; never NULL, thread-safe. */
const cpu_simd_ops *cpu_simd(void);

#endif /* XHAL_CPU_SIMD_H */
