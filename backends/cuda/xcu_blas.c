/*
 * xcu_blas.c - MATMUL through the vendor BLAS (cuBLAS), loaded with dlopen on the first
 * matmul. f32 / f16 / bf16 run cublasGemmStridedBatchedEx with f32 compute (TF32 only
 * with XHAL_CUDA_ALLOW_TF32=1), f64 with f64 compute. A descriptor whose strides BLAS
 * cannot express (no unit stride in a matrix, batch dims that do not fold into one
 * stride, a column-major output), or a machine without the library, gets
 * XHAL_ERROR_UNSUPPORTED and the portable kernel runs instead.
 */
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "xcu_internal.h"

#ifndef XCU_BLAS_LIBRARIES

xhal_status xcu_blas_matmul(xcu_state *st, xcu_stream_obj *s, const xhal_op_desc *desc)
{
    (void)st;
    (void)s;
    (void)desc;
    return XHAL_ERROR_UNSUPPORTED; /* this vendor mapping names no BLAS: portable kernel */
}
void xcu_blas_release_device(xcu_state *st, xcu_dev *d)
{
    (void)st;
    (void)d;
}
void xcu_blas_unload(xcu_state *st) { (void)st; }

#else

/* cuBLAS values (cublas_api.h, library_types.h). */
enum { XCU_BLAS_OP_N = 0, XCU_BLAS_OP_T = 1 };
enum { XCU_R_32F = 0, XCU_R_64F = 1, XCU_R_16F = 2, XCU_R_16BF = 14 };
enum { XCU_COMPUTE_32F = 68, XCU_COMPUTE_32F_FAST_TF32 = 77, XCU_COMPUTE_64F = 70 };
enum { XCU_GEMM_DEFAULT = -1 };
enum { XCU_BLAS_STATUS_ALLOC_FAILED = 3 };

typedef struct xcu_blas {
    void *library;
    int (*create)(void **handle);
    int (*destroy)(void *handle);
    int (*set_stream)(void *handle, xcu_stream stream);
    const char *(*status_name)(int status);
    int (*gemm)(void *handle, int transa, int transb, int m, int n, int k, const void *alpha, const void *A, int atype,
                int lda, long long stride_a, const void *B, int btype, int ldb, long long stride_b, const void *beta,
                void *C, int ctype, int ldc, long long stride_c, int batch, int compute, int algo);
    int allow_tf32;
} xcu_blas;

static void *xcu_blas_sym(void *lib, const char *name) { return dlsym(lib, name); }

/* Loads the library once; NULL when none is usable (logged at info level). */
static xcu_blas *xcu_blas_get(xcu_state *st)
{
    pthread_mutex_lock(&st->lock);
    if (!st->blas_tried) {
        st->blas_tried = 1;
        const char *env = secure_getenv(XCU_BLAS_LIBRARY_ENV); /* not in setuid processes */
        const char *const defaults[] = XCU_BLAS_LIBRARIES;
        void *lib = NULL;
        const char *used = NULL;
        if (env != NULL && env[0] != '\0') {
            if (strcmp(env, "none") != 0) lib = dlopen(env, RTLD_NOW | RTLD_LOCAL);
            used = env;
        } else {
            for (size_t i = 0; lib == NULL && i < sizeof defaults / sizeof defaults[0]; i++) {
                lib = dlopen(defaults[i], RTLD_NOW | RTLD_LOCAL);
                used = defaults[i];
            }
        }
        xcu_blas *b = lib != NULL ? xcu_host->host_calloc(1, sizeof *b) : NULL;
        if (b != NULL) {
            void *p[5] = {xcu_blas_sym(lib, "cublasCreate_v2"), xcu_blas_sym(lib, "cublasDestroy_v2"),
                          xcu_blas_sym(lib, "cublasSetStream_v2"), xcu_blas_sym(lib, "cublasGetStatusName"),
                          xcu_blas_sym(lib, "cublasGemmStridedBatchedEx")};
            if (p[0] && p[1] && p[2] && p[4]) {
                b->library = lib;
                memcpy(&b->create, &p[0], sizeof p[0]);
                memcpy(&b->destroy, &p[1], sizeof p[1]);
                memcpy(&b->set_stream, &p[2], sizeof p[2]);
                memcpy(&b->status_name, &p[3], sizeof p[3]);
                memcpy(&b->gemm, &p[4], sizeof p[4]);
                const char *tf = getenv("XHAL_CUDA_ALLOW_TF32");
                b->allow_tf32 = tf != NULL && strcmp(tf, "1") == 0;
                st->blas = b;
            } else {
                xcu_host->host_free(b);
            }
        }
        if (st->blas == NULL) {
            if (lib != NULL) dlclose(lib);
            if (xcu_host->log != NULL)
                xcu_host->log(XHAL_LOG_INFO, XCU_BACKEND_NAME, "no usable BLAS (%s): matmul uses the portable kernel",
                              used != NULL ? used : "none");
        }
    }
    xcu_blas *b = st->blas;
    pthread_mutex_unlock(&st->lock);
    return b;
}

/* Caller's thread has d's context current. Returns the handle or NULL. */
static void *xcu_blas_handle(xcu_state *st, xcu_blas *b, xcu_dev *d)
{
    pthread_mutex_lock(&d->lock);
    if (d->blas_state == 0) {
        void *h = NULL;
        int rs = b->create(&h);
        if (rs == 0 && h != NULL) {
            d->blas_handle = h;
            d->blas_state = 1;
        } else {
            d->blas_state = -1;
            if (xcu_host->log != NULL)
                xcu_host->log(XHAL_LOG_WARN, XCU_BACKEND_NAME,
                              "device %d: cublasCreate failed with %s; "
                              "matmul uses the portable kernel",
                              d->index, b->status_name ? b->status_name(rs) : "an error");
        }
    }
    void *h = d->blas_state == 1 ? d->blas_handle : NULL;
    pthread_mutex_unlock(&d->lock);
    (void)st;
    return h;
}

/* A matrix of R rows and C columns with strides (sr, sc), as BLAS sees it. */
typedef struct xcu_mat {
    int row_major; /* 1: unit column stride (ld = row stride); 0: unit row stride */
    int64_t ld;
} xcu_mat;

static int xcu_mat_of(int64_t R, int64_t C, int64_t sr, int64_t sc, xcu_mat *m)
{
    if ((sc == 1 || C == 1) && (R == 1 || sr >= C)) {
        m->row_major = 1;
        m->ld = R == 1 ? (C > 1 ? C : 1) : sr;
        return m->ld <= INT_MAX;
    }
    if ((sr == 1 || R == 1) && (C == 1 || sc >= R)) {
        m->row_major = 0;
        m->ld = C == 1 ? (R > 1 ? R : 1) : sc;
        return m->ld <= INT_MAX;
    }
    return 0;
}

/* Fold the batch dims [0, nb) of the three tensors into one count and one stride each;
 * 0 when they do not fold. */
static int xcu_fold_batch(const xhal_op_desc *desc, int nb, int64_t *count, int64_t stride[3])
{
    const xhal_tensor_desc *t[3] = {&desc->inputs[0], &desc->inputs[1], &desc->outputs[0]};
    int64_t n = 1;
    int inner = -1; /* innermost batch dim of size > 1 seen so far (walking outward) */
    for (int k = 0; k < 3; k++) stride[k] = 0;
    for (int i = nb - 1; i >= 0; i--) {
        int64_t e = desc->outputs[0].shape[i];
        if (e == 1) continue;
        for (int k = 0; k < 3; k++) {
            if (inner < 0)
                stride[k] = t[k]->strides[i];
            else if (t[k]->strides[i] != t[k]->strides[inner] * t[k]->shape[inner])
                return 0;
        }
        inner = i;
        n *= e;
    }
    *count = n;
    return n <= INT_MAX;
}

xhal_status xcu_blas_matmul(xcu_state *st, xcu_stream_obj *s, const xhal_op_desc *desc)
{
    const xhal_tensor_desc *a = &desc->inputs[0], *bt = &desc->inputs[1], *o = &desc->outputs[0];
    int nb = o->ndim - 2;
    int64_t M = o->shape[nb], N = o->shape[nb + 1], K = a->shape[nb + 1];
    if (M > INT_MAX || N > INT_MAX || K > INT_MAX) return XHAL_ERROR_UNSUPPORTED;
    xcu_mat ma, mb, mo;
    if (!xcu_mat_of(M, K, a->strides[nb], a->strides[nb + 1], &ma) ||
        !xcu_mat_of(K, N, bt->strides[nb], bt->strides[nb + 1], &mb) ||
        !xcu_mat_of(M, N, o->strides[nb], o->strides[nb + 1], &mo) || !mo.row_major)
        return XHAL_ERROR_UNSUPPORTED;
    int64_t batch, bstride[3];
    if (!xcu_fold_batch(desc, nb, &batch, bstride) || bstride[2] < 0) return XHAL_ERROR_UNSUPPORTED;
    int type, compute;
    switch (o->dtype) {
        case XHAL_DTYPE_F32:
            type = XCU_R_32F;
            compute = XCU_COMPUTE_32F;
            break;
        case XHAL_DTYPE_F16:
            type = XCU_R_16F;
            compute = XCU_COMPUTE_32F;
            break;
        case XHAL_DTYPE_BF16:
            type = XCU_R_16BF;
            compute = XCU_COMPUTE_32F;
            break;
        case XHAL_DTYPE_F64:
            type = XCU_R_64F;
            compute = XCU_COMPUTE_64F;
            break;
        default: return XHAL_ERROR_UNSUPPORTED;
    }
    xcu_blas *b = xcu_blas_get(st);
    if (b == NULL) return XHAL_ERROR_UNSUPPORTED;
    if (compute == XCU_COMPUTE_32F && o->dtype == XHAL_DTYPE_F32 && b->allow_tf32) compute = XCU_COMPUTE_32F_FAST_TF32;
    xcu_dev *d = &st->devs[s->device];
    void *h = xcu_blas_handle(st, b, d);
    if (h == NULL) return XHAL_ERROR_UNSUPPORTED;
    /* One handle per device serves every stream of it: binding the stream and queueing
     * the GEMM happen under the device lock, so two threads with two streams cannot
     * interleave them (both calls only enqueue). */
    pthread_mutex_lock(&d->lock);
    int rs = b->set_stream(h, s->s);
    if (rs != 0) {
        pthread_mutex_unlock(&d->lock);
        return xcu_host->set_error(XHAL_ERROR_BACKEND, "%s: cublasSetStream failed with %s", XCU_BACKEND_NAME,
                                   b->status_name ? b->status_name(rs) : "an error");
    }
    /* Row-major out C[M,N] is column-major C^T[N,M] (ldc = row stride): C^T = B^T A^T.
     * A row-major operand is its own transpose seen column-major (op N); a column-major
     * one needs op T. */
    const void *pa = (const void *)(uintptr_t)(((xcu_buffer *)a->buffer)->ptr + a->offset);
    const void *pb = (const void *)(uintptr_t)(((xcu_buffer *)bt->buffer)->ptr + bt->offset);
    void *pc = (void *)(uintptr_t)(((xcu_buffer *)o->buffer)->ptr + o->offset);
    double alpha_d = desc->attrs.matmul.alpha, beta_d = desc->attrs.matmul.beta;
    float alpha_f = (float)alpha_d, beta_f = (float)beta_d;
    const void *alpha = type == XCU_R_64F ? (const void *)&alpha_d : (const void *)&alpha_f;
    const void *beta = type == XCU_R_64F ? (const void *)&beta_d : (const void *)&beta_f;
    rs = b->gemm(h, mb.row_major ? XCU_BLAS_OP_N : XCU_BLAS_OP_T, ma.row_major ? XCU_BLAS_OP_N : XCU_BLAS_OP_T, (int)N,
                 (int)M, (int)K, alpha, pb, type, (int)mb.ld, (long long)bstride[1], pa, type, (int)ma.ld,
                 (long long)bstride[0], beta, pc, type, (int)mo.ld, (long long)bstride[2], (int)batch, compute,
                 XCU_GEMM_DEFAULT);
    pthread_mutex_unlock(&d->lock);
    if (rs != 0)
        return xcu_host->set_error(rs == XCU_BLAS_STATUS_ALLOC_FAILED ? XHAL_ERROR_OUT_OF_MEMORY : XHAL_ERROR_BACKEND,
                                   "%s:%d: matmul [%lld,%lld]x[%lld,%lld] batch %lld: cublasGemmStridedBatchedEx "
                                   "failed with %s",
                                   XCU_BACKEND_NAME, s->device, (long long)M, (long long)K, (long long)K, (long long)N,
                                   (long long)batch, b->status_name ? b->status_name(rs) : "an error");
    return XHAL_OK;
}

void xcu_blas_release_device(xcu_state *st, xcu_dev *d)
{
    if (d->blas_state == 1 && st->blas != NULL) st->blas->destroy(d->blas_handle);
    d->blas_handle = NULL;
    d->blas_state = 0;
}

void xcu_blas_unload(xcu_state *st)
{
    if (st->blas != NULL) {
        /* cuBLAS registers exit-time handlers; unloading it while the process lives on is
         * unsafe with some versions, so the library stays mapped (RTLD_NODELETE-like). */
        xcu_host->host_free(st->blas);
        st->blas = NULL;
    }
    st->blas_tried = 0;
}

#endif
