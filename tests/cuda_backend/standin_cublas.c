/*
 * standin_cublas.c - a stand-in for libcublas, built only for the tests: the four entry
 * points the CUDA backend resolves, with cublasGemmStridedBatchedEx computed on the host
 * (the stand-in driver's "device" memory is host memory) by a plain column-major
 * reference. It checks the backend's mapping of row-major/transposed/batched xhal
 * matmuls onto cuBLAS's column-major call without a GPU. f32, f64, f16 and bf16 (the
 * halves rounded to nearest even on store, like cuBLAS with f32 compute).
 * XHAL_CUBLAS_STANDIN=createfail makes cublasCreate_v2 fail.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xhal/plugin/xhal_half.h"

#define EXPORT __attribute__((visibility("default")))

static int handles, gemms, last_compute;
EXPORT int standin_cublas_handles(void) { return handles; }
EXPORT int standin_cublas_gemms(void) { return gemms; }
EXPORT int standin_cublas_last_compute(void) { return last_compute; }

EXPORT int cublasCreate_v2(void **h)
{
    const char *m = getenv("XHAL_CUBLAS_STANDIN");
    if (m != NULL && strcmp(m, "createfail") == 0) return 1; /* CUBLAS_STATUS_NOT_INITIALIZED */
    *h = malloc(16);
    handles++;
    return 0;
}

EXPORT int cublasDestroy_v2(void *h)
{
    free(h);
    handles--;
    return 0;
}

EXPORT int cublasSetStream_v2(void *h, void *stream)
{
    (void)h;
    (void)stream;
    return 0;
}

EXPORT const char *cublasGetStatusName(int s)
{
    return s == 0 ? "CUBLAS_STATUS_SUCCESS" : "CUBLAS_STATUS_INVALID_VALUE";
}

enum { R_32F = 0, R_64F = 1, R_16F = 2, R_16BF = 14 };

static double ld_el(const void *x, int type, int64_t idx)
{
    switch (type) {
        case R_64F: return ((const double *)x)[idx];
        case R_16F: return (double)xhal_f16_to_f32(((const uint16_t *)x)[idx]);
        case R_16BF: return (double)xhal_bf16_to_f32(((const uint16_t *)x)[idx]);
        default: return (double)((const float *)x)[idx];
    }
}

static void st_el(void *x, int type, int64_t idx, double v)
{
    switch (type) {
        case R_64F: ((double *)x)[idx] = v; break;
        case R_16F: ((uint16_t *)x)[idx] = xhal_f32_to_f16((float)v); break;
        case R_16BF: ((uint16_t *)x)[idx] = xhal_f32_to_bf16((float)v); break;
        default: ((float *)x)[idx] = (float)v; break;
    }
}

/* op(X)[i, l] of a column-major X with leading dimension ld. */
static double at(const void *x, int type, int op, int64_t ld, int64_t i, int64_t l)
{
    return ld_el(x, type, op == 0 ? i + l * ld : l + i * ld);
}

EXPORT int cublasGemmStridedBatchedEx(void *h, int ta, int tb, int m, int n, int k, const void *alpha, const void *A,
                                      int atype, int lda, long long sa, const void *B, int btype, int ldb, long long sb,
                                      const void *beta, void *C, int ctype, int ldc, long long sc, int batch,
                                      int compute, int algo)
{
    (void)h;
    (void)algo;
    if (atype != btype || atype != ctype || m < 0 || n < 0 || k < 0 || batch < 0 ||
        (atype != R_32F && atype != R_64F && atype != R_16F && atype != R_16BF))
        return 7; /* CUBLAS_STATUS_INVALID_VALUE */
    /* compute types cuBLAS accepts for these data types */
    if ((atype == R_64F) != (compute == 70) || (atype != R_32F && compute == 77)) return 7;
    /* leading dimensions as cuBLAS checks them */
    if (lda < (ta == 0 ? (m > 1 ? m : 1) : (k > 1 ? k : 1)) || ldb < (tb == 0 ? (k > 1 ? k : 1) : (n > 1 ? n : 1)) ||
        ldc < (m > 1 ? m : 1))
        return 7;
    size_t es = atype == R_64F ? 8 : atype == R_32F ? 4 : 2;
    /* alpha and beta have the compute type: double for f64, float otherwise */
    double al = atype == R_64F ? *(const double *)alpha : (double)*(const float *)alpha;
    double be = atype == R_64F ? *(const double *)beta : (double)*(const float *)beta;
    gemms++;
    last_compute = compute;
    for (int p = 0; p < batch; p++) {
        const char *a = (const char *)A + (size_t)(sa * p) * es;
        const char *b = (const char *)B + (size_t)(sb * p) * es;
        char *c = (char *)C + (size_t)(sc * p) * es;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double acc = 0;
                for (int64_t l = 0; l < k; l++) acc += at(a, atype, ta, lda, i, l) * at(b, btype, tb, ldb, l, j);
                int64_t ci = i + j * ldc;
                double r = al * acc;
                if (be != 0) /* with beta == 0, C is not read (NaN does not propagate) */
                    r += be * ld_el(c, ctype, ci);
                st_el(c, ctype, ci, r);
            }
    }
    return 0;
}
