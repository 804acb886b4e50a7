/*
 * standin_cublas.c - a stand-in for libcublas, built only for the tests: the four entry
 * points the CUDA backend resolves, with cublasGemmStridedBatchedEx computed on the host
 * (the stand-in driver's "device" memory is host memory) by a plain column-major
 * reference. It checks the backend's mapping of row-major/transposed/batched xhal
 * matmuls onto cuBLAS's column-major call without a GPU. f32 and f64 only.
 * XHAL_CUBLAS_STANDIN=createfail makes cublasCreate_v2 fail.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

static int handles, gemms, last_compute;
EXPORT int standin_cublas_handles(void) { return handles; }
EXPORT int standin_cublas_gemms(void) { return gemms; }
EXPORT int standin_cublas_last_compute(void) { return last_compute; }

EXPORT int cublasCreate_v2(void **h)
{
    const char *m = getenv("XHAL_CUBLAS_STANDIN");
    if (m != NULL && strcmp(m, "createfail") == 0)
        return 1; /* CUBLAS_STATUS_NOT_INITIALIZED */
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

EXPORT const char *cublasGetStatusName(int s) { return s == 0 ? "CUBLAS_STATUS_SUCCESS" : "CUBLAS_STATUS_INVALID_VALUE"; }

/* op(X)[i, l] of a column-major X with leading dimension ld. */
static double at(const void *x, int type, int op, int64_t ld, int64_t i, int64_t l)
{
    int64_t idx = op == 0 ? i + l * ld : l + i * ld;
    return type == 1 ? ((const double *)x)[idx] : (double)((const float *)x)[idx];
}

EXPORT int cublasGemmStridedBatchedEx(void *h, int ta, int tb, int m, int n, int k, const void *alpha,
                                      const void *A, int atype, int lda, long long sa, const void *B, int btype,
                                      int ldb, long long sb, const void *beta, void *C, int ctype, int ldc,
                                      long long sc, int batch, int compute, int algo)
{
    (void)h;
    (void)algo;
    if (atype != btype || atype != ctype || (atype != 0 && atype != 1) || m < 0 || n < 0 || k < 0 || batch < 0)
        return 7; /* CUBLAS_STATUS_INVALID_VALUE */
    /* leading dimensions as cuBLAS checks them */
    if (lda < (ta == 0 ? (m > 1 ? m : 1) : (k > 1 ? k : 1)) || ldb < (tb == 0 ? (k > 1 ? k : 1) : (n > 1 ? n : 1)) ||
        ldc < (m > 1 ? m : 1))
        return 7;
    size_t es = atype == 1 ? 8 : 4;
    double al = atype == 1 ? *(const double *)alpha : (double)*(const float *)alpha;
    double be = atype == 1 ? *(const double *)beta : (double)*(const float *)beta;
    gemms++;
    last_compute = compute;
    for (int p = 0; p < batch; p++) {
        const char *a = (const char *)A + (size_t)(sa * p) * es;
        const char *b = (const char *)B + (size_t)(sb * p) * es;
        char *c = (char *)C + (size_t)(sc * p) * es;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double acc = 0;
                for (int64_t l = 0; l < k; l++)
                    acc += at(a, atype, ta, lda, i, l) * at(b, btype, tb, ldb, l, j);
                int64_t ci = i + j * ldc;
                double r = al * acc;
                if (be != 0) /* with beta == 0, C is not read (NaN does not propagate) */
                    r += be * (ctype == 1 ? ((double *)c)[ci] : (double)((float *)c)[ci]);
                if (ctype == 1)
                    ((double *)c)[ci] = r;
                else
                    ((float *)c)[ci] = (float)r;
            }
    }
    return 0;
}
