/*
 * cpu_matmul.c - MATMUL for the CPU backend: out = alpha * a @ b + beta * out over
 * broadcast batch dims.
 *
 * Small products (and anything BLAS cannot address) take a strided loop that
 * accumulates in double. Larger ones go to OpenBLAS: f32/f64 matrices whose last two
 * dims are row- or column-major are passed as they are (the transpose flags and
 * leading dimensions come from the strides); other layouts and f16/bf16 are packed
 * into contiguous f32 (f64 for f64) first, and the result is combined with out in
 * double. With beta == 0 out is never read.
 */
#include <cblas.h>
#include <limits.h>
#include <string.h>

#include "cpu_convert.h"
#include "cpu_internal.h"
#include "cpu_simd.h"

/* Products with at most this many multiply-adds per matrix use the double loop. */
#define CPU_MATMUL_SMALL ((int64_t)1 << 15)

typedef struct mm_dims {
    const xhal_tensor_desc *a, *b, *o;
    int nd;
    int64_t m, n, k, nbatch;
    double alpha, beta;
} mm_dims;

/* Byte offsets of batch `bi` in a, b and out (batch dims of a and b broadcast by stride). */
static void batch_offsets(const mm_dims *d, int64_t bi, int64_t off[3])
{
    const xhal_tensor_desc *t[3] = {d->a, d->b, d->o};
    off[0] = off[1] = off[2] = 0;
    for (int k = d->nd - 3; k >= 0; k--) {
        int64_t s = d->o->shape[k];
        int64_t i = bi % s;
        bi /= s;
        for (int j = 0; j < 3; j++) off[j] += i * t[j]->strides[k] * (int64_t)cpu_dtype_size(t[j]->dtype);
    }
}

/* ------------------------------------------------------------------------- */
/* strided loop in double                                                     */
/* ------------------------------------------------------------------------- */
typedef struct naive_ctx {
    const mm_dims *d;
    double *scratch; /* per worker: K + N + N doubles */
} naive_ctx;

static void naive_rows(void *vctx, int64_t begin, int64_t end, int worker)
{
    const naive_ctx *c = vctx;
    const mm_dims *d = c->d;
    const xhal_tensor_desc *a = d->a, *b = d->b, *o = d->o;
    int nd = d->nd;
    int64_t M = d->m, N = d->n, K = d->k;
    int64_t aes = (int64_t)cpu_dtype_size(a->dtype), bes = (int64_t)cpu_dtype_size(b->dtype);
    int64_t oes = (int64_t)cpu_dtype_size(o->dtype);
    double *arow = c->scratch + (int64_t)worker * (K + 2 * N);
    double *brow = arow + K;
    double *acc = brow + N;
    for (int64_t r = begin; r < end; r++) {
        int64_t bi = r / M, mi = r % M;
        int64_t off[3];
        batch_offsets(d, bi, off);
        const unsigned char *ap = cpu_tensor_base(a) + off[0] + mi * a->strides[nd - 2] * aes;
        const unsigned char *bp = cpu_tensor_base(b) + off[1];
        unsigned char *op = cpu_tensor_base(o) + off[2] + mi * o->strides[nd - 2] * oes;
        cpu_load_vec(a->dtype, ap, a->strides[nd - 1] * aes, K, arow);
        for (int64_t j = 0; j < N; j++) acc[j] = 0.0;
        for (int64_t kk = 0; kk < K; kk++) {
            cpu_load_vec(b->dtype, bp + kk * b->strides[nd - 2] * bes, b->strides[nd - 1] * bes, N, brow);
            double av = arow[kk];
            for (int64_t j = 0; j < N; j++) acc[j] += av * brow[j];
        }
        int64_t os = o->strides[nd - 1] * oes;
        if (d->beta != 0.0) {
            cpu_load_vec(o->dtype, op, os, N, brow);
            for (int64_t j = 0; j < N; j++) acc[j] = d->alpha * acc[j] + d->beta * brow[j];
        } else {
            for (int64_t j = 0; j < N; j++) acc[j] *= d->alpha;
        }
        cpu_store_vec(o->dtype, op, os, N, acc);
    }
}

static xhal_status matmul_naive(cpu_state *st, const mm_dims *d)
{
    naive_ctx c;
    c.d = d;
    size_t per = (size_t)(d->k + 2 * d->n);
    size_t bytes = cpu_mul_size(cpu_mul_size((size_t)cpu_pool_workers(st->pool), per), sizeof(double));
    c.scratch = cpu_alloc(bytes);
    if (!c.scratch)
        return CPU_ERR(XHAL_ERROR_OUT_OF_MEMORY, "cpu: matmul: cannot allocate %llu bytes of scratch",
                       (unsigned long long)bytes);
    int64_t work = d->n * d->k;
    int64_t grain = work > 0 ? ((int64_t)1 << 16) / work : 1;
    cpu_parallel_for(st->pool, d->nbatch * d->m, grain > 0 ? grain : 1, naive_rows, &c);
    cpu_free(c.scratch);
    return XHAL_OK;
}

/* ------------------------------------------------------------------------- */
/* BLAS                                                                       */
/* ------------------------------------------------------------------------- */
/* How BLAS can address a [R, C] matrix with element strides (sr, sc): as row-major with
 * leading dimension ld (trans 0) or as the transpose of a row-major [C, R] (trans 1). */
static int blas_layout(int64_t R, int64_t C, int64_t sr, int64_t sc, int *trans, int64_t *ld)
{
    int64_t lo;
    if (sc == 1 || C == 1) {
        lo = C > 1 ? C : 1;
        int64_t l = R == 1 ? lo : sr;
        if (l >= lo && l <= INT_MAX) {
            *trans = 0;
            *ld = l;
            return 1;
        }
    }
    if (sr == 1 || R == 1) {
        lo = R > 1 ? R : 1;
        int64_t l = C == 1 ? lo : sc;
        if (l >= lo && l <= INT_MAX) {
            *trans = 1;
            *ld = l;
            return 1;
        }
    }
    return 0;
}

typedef struct operand {
    int direct; /* BLAS reads the tensor in place */
    int trans;
    int64_t ld;
} operand;

static void gemm(int dbl, int ta, int tb, int64_t M, int64_t N, int64_t K, double alpha, const void *A, int64_t lda,
                 const void *B, int64_t ldb, double beta, void *C, int64_t ldc)
{
    enum CBLAS_TRANSPOSE fa = ta ? CblasTrans : CblasNoTrans, fb = tb ? CblasTrans : CblasNoTrans;
    /* One row or one column (decode): gemv streams the matrix once, where gemm would pack all
     * of it on every call. Row-major C[1,N] = x[1,K] op(B) is y = op(B)^T x; C[M,1] = op(A) x. */
    if (M == 1 || N == 1) {
        const void *mat, *x;
        int64_t ldm, rows, cols, incx, incy;
        enum CBLAS_TRANSPOSE tm;
        if (M == 1) {
            mat = B;
            ldm = ldb;
            x = A;
            incx = ta ? lda : 1;
            incy = 1;
            tm = tb ? CblasNoTrans : CblasTrans;
            rows = tb ? N : K;
            cols = tb ? K : N;
        } else {
            mat = A;
            ldm = lda;
            x = B;
            incx = tb ? 1 : ldb;
            incy = ldc;
            tm = ta ? CblasTrans : CblasNoTrans;
            rows = ta ? K : M;
            cols = ta ? M : K;
        }
        if (dbl)
            cblas_dgemv(CblasRowMajor, tm, (blasint)rows, (blasint)cols, alpha, mat, (blasint)ldm, x, (blasint)incx,
                        beta, C, (blasint)incy);
        else
            cblas_sgemv(CblasRowMajor, tm, (blasint)rows, (blasint)cols, (float)alpha, mat, (blasint)ldm, x,
                        (blasint)incx, (float)beta, C, (blasint)incy);
        return;
    }
    if (dbl)
        cblas_dgemm(CblasRowMajor, fa, fb, (blasint)M, (blasint)N, (blasint)K, alpha, A, (blasint)lda, B, (blasint)ldb,
                    beta, C, (blasint)ldc);
    else
        cblas_sgemm(CblasRowMajor, fa, fb, (blasint)M, (blasint)N, (blasint)K, (float)alpha, A, (blasint)lda, B,
                    (blasint)ldb, (float)beta, C, (blasint)ldc);
}

/* Copy a strided [R, C] matrix into row-major f32 or f64. */
static void pack(int dbl, int dt, const unsigned char *p, int64_t sr, int64_t sc, int64_t R, int64_t C, void *dst)
{
    double t[CPU_TILE];
    for (int64_t r = 0; r < R; r++) {
        for (int64_t c = 0; c < C; c += CPU_TILE) {
            int64_t n = C - c < CPU_TILE ? C - c : CPU_TILE;
            cpu_load_tile(dt, p + r * sr + c * sc, sc, n, t);
            if (dbl) {
                memcpy((double *)dst + r * C + c, t, (size_t)n * sizeof(double));
            } else {
                float *f = (float *)dst + r * C + c;
                for (int64_t i = 0; i < n; i++) f[i] = (float)t[i];
            }
        }
    }
}

/* Packing f32/f16/bf16 into f32 with the vector conversions, split over the pool: row by
 * row when rows are contiguous, else column by column when columns are (then dst holds the
 * transpose, [C, R] row-major). */
typedef struct pack_ctx {
    const cpu_simd_ops *k;
    int dt;
    const unsigned char *p;
    int64_t stride, len; /* bytes between the contiguous lines, elements per line */
    float *dst;
} pack_ctx;

static void pack_lines(void *vctx, int64_t begin, int64_t end, int worker)
{
    (void)worker;
    const pack_ctx *c = vctx;
    for (int64_t i = begin; i < end; i++) c->k->load(c->dt, c->p + i * c->stride, c->dst + i * c->len, c->len);
}

/* Returns 1 if packed (*transposed says how), 0 if the layout needs the generic pack. */
static int pack_fast(cpu_state *st, int dt, const unsigned char *p, int64_t sr, int64_t sc, int64_t R, int64_t C,
                     float *dst, int *transposed)
{
    int64_t es = (int64_t)cpu_dtype_size(dt);
    if (dt != XHAL_DTYPE_F32 && dt != XHAL_DTYPE_F16 && dt != XHAL_DTYPE_BF16) return 0;
    pack_ctx c = {cpu_simd(), dt, p, 0, 0, dst};
    int64_t lines;
    if (sc == es || C == 1) {
        c.stride = sr;
        c.len = C;
        lines = R;
        *transposed = 0;
    } else if (sr == es || R == 1) {
        c.stride = sc;
        c.len = R;
        lines = C;
        *transposed = 1;
    } else {
        return 0;
    }
    int64_t grain = ((int64_t)1 << 14) / (c.len > 0 ? c.len : 1);
    cpu_parallel_for(st->pool, lines, grain > 0 ? grain : 1, pack_lines, &c);
    return 1;
}

static xhal_status matmul_blas(cpu_state *st, const mm_dims *d)
{
    const xhal_tensor_desc *a = d->a, *b = d->b, *o = d->o;
    int nd = d->nd;
    int64_t M = d->m, N = d->n, K = d->k;
    int dbl = o->dtype == XHAL_DTYPE_F64;
    int ct = dbl ? XHAL_DTYPE_F64 : XHAL_DTYPE_F32; /* compute dtype */
    size_t cs = dbl ? sizeof(double) : sizeof(float);
    operand oa = {0, 0, K}, ob = {0, 0, N}, oo = {0, 0, N};
    if (a->dtype == ct) oa.direct = blas_layout(M, K, a->strides[nd - 2], a->strides[nd - 1], &oa.trans, &oa.ld);
    if (b->dtype == ct) ob.direct = blas_layout(K, N, b->strides[nd - 2], b->strides[nd - 1], &ob.trans, &ob.ld);
    if (o->dtype == ct) oo.direct = blas_layout(M, N, o->strides[nd - 2], o->strides[nd - 1], &oo.trans, &oo.ld);
    if (!oa.direct) {
        oa.trans = 0;
        oa.ld = K > 0 ? K : 1;
    }
    if (!ob.direct) {
        ob.trans = 0;
        ob.ld = N > 0 ? N : 1;
    }
    if (!oo.direct) {
        oo.trans = 0;
        oo.ld = N > 0 ? N : 1;
    }

    /* every scratch buffer is allocated before out is touched */
    /* b and out are handled in column blocks of nt when b must be packed or out needs a
     * staging copy, so scratch stays near st->matmul_block elements for wide matrices
     * (an f16 vocabulary projection would otherwise pack K x N floats at once) */
    int64_t nt = N;
    if (!ob.direct || !oo.direct) {
        int64_t per_col = (ob.direct ? 0 : K) + (oo.direct ? 0 : M);
        int64_t lim = per_col > 0 ? st->matmul_block / per_col : N;
        if (lim < 64) lim = 64;
        if (lim < nt) nt = lim;
    }
    size_t na = oa.direct ? 0 : cpu_mul_size((size_t)M, (size_t)K);
    size_t nb = ob.direct ? 0 : cpu_mul_size((size_t)K, (size_t)nt);
    size_t nc = oo.direct ? 0 : cpu_mul_size((size_t)M, (size_t)nt);
    size_t total = cpu_mul_size(na, cs);
    size_t bytes_b = cpu_mul_size(nb, cs), bytes_c = cpu_mul_size(nc, cs);
    total = (total > SIZE_MAX - bytes_b) ? SIZE_MAX : total + bytes_b;
    total = (total > SIZE_MAX - bytes_c) ? SIZE_MAX : total + bytes_c;
    unsigned char *mem = NULL;
    if (total > 0) {
        mem = cpu_alloc(total);
        if (!mem)
            return CPU_ERR(XHAL_ERROR_OUT_OF_MEMORY, "cpu: matmul: cannot allocate %llu bytes of scratch",
                           (unsigned long long)total);
    }
    unsigned char *pa = mem, *pb = mem ? mem + na * cs : NULL, *pc = mem ? mem + (na + nb) * cs : NULL;
    int64_t aes = (int64_t)cpu_dtype_size(a->dtype), bes = (int64_t)cpu_dtype_size(b->dtype);
    int64_t oes = (int64_t)cpu_dtype_size(o->dtype);
    int64_t osr = o->strides[nd - 2] * oes, osc = o->strides[nd - 1] * oes;
    int64_t bsr = b->strides[nd - 2] * bes, bsc = b->strides[nd - 1] * bes;

    for (int64_t bi = 0; bi < d->nbatch; bi++) {
        int64_t off[3];
        batch_offsets(d, bi, off);
        const unsigned char *ap = cpu_tensor_base(a) + off[0];
        const unsigned char *bp = cpu_tensor_base(b) + off[1];
        unsigned char *op = cpu_tensor_base(o) + off[2];
        const void *A = ap;
        int64_t lda = oa.ld, ta = oa.trans;
        if (!oa.direct) {
            int tr = 0;
            if (dbl || !pack_fast(st, a->dtype, ap, a->strides[nd - 2] * aes, a->strides[nd - 1] * aes, M, K,
                                  (float *)(void *)pa, &tr))
                pack(dbl, a->dtype, ap, a->strides[nd - 2] * aes, a->strides[nd - 1] * aes, M, K, pa);
            A = pa;
            ta = tr;
            lda = tr ? (M > 0 ? M : 1) : (K > 0 ? K : 1);
        }
        for (int64_t n0 = 0; n0 < N; n0 += nt) {
            int64_t nn = N - n0 < nt ? N - n0 : nt;
            /* column n0 of b and out: the same offset whether row- or column-major */
            const void *B = bp + n0 * bsc;
            int64_t ldb = ob.ld, tb = ob.trans;
            if (!ob.direct) {
                int tr = 0;
                if (dbl || !pack_fast(st, b->dtype, bp + n0 * bsc, bsr, bsc, K, nn, (float *)(void *)pb, &tr))
                    pack(dbl, b->dtype, bp + n0 * bsc, bsr, bsc, K, nn, pb);
                B = pb;
                tb = tr;
                ldb = tr ? (K > 0 ? K : 1) : nn;
            }
            unsigned char *oc = op + n0 * osc;
            if (oo.direct) {
                if (d->beta == 0.0) { /* out is not read: clear it so NaN or garbage never flows in */
                    if (osc == oes)   /* rows of this column block are contiguous: one memset each */
                        for (int64_t i = 0; i < M; i++) memset(oc + i * osr, 0, (size_t)(nn * oes));
                    else
                        for (int64_t i = 0; i < M; i++)
                            for (int64_t j = 0; j < nn; j++) memset(oc + i * osr + j * osc, 0, (size_t)oes);
                }
                if (!oo.trans)
                    gemm(dbl, (int)ta, (int)tb, M, nn, K, d->alpha, A, lda, B, ldb, d->beta, oc, oo.ld);
                else /* out column-major: out^T = b^T a^T in row-major */
                    gemm(dbl, !tb, !ta, nn, M, K, d->alpha, B, ldb, A, lda, d->beta, oc, oo.ld);
                continue;
            }
            gemm(dbl, (int)ta, (int)tb, M, nn, K, 1.0, A, lda, B, ldb, 0.0, pc, nn);
            double t[CPU_TILE], old[CPU_TILE];
            for (int64_t i = 0; i < M; i++) {
                for (int64_t j = 0; j < nn; j += CPU_TILE) {
                    int64_t n = nn - j < CPU_TILE ? nn - j : CPU_TILE;
                    cpu_load_tile(ct, pc + (size_t)(i * nn + j) * cs, (int64_t)cs, n, t);
                    unsigned char *dst = oc + i * osr + j * osc;
                    if (d->beta != 0.0) {
                        cpu_load_tile(o->dtype, dst, osc, n, old);
                        for (int64_t q = 0; q < n; q++) t[q] = d->alpha * t[q] + d->beta * old[q];
                    } else {
                        for (int64_t q = 0; q < n; q++) t[q] *= d->alpha;
                    }
                    cpu_store_tile(o->dtype, dst, osc, n, t);
                }
            }
        }
    }
    cpu_free(mem);
    return XHAL_OK;
}

/* ------------------------------------------------------------------------- */
/* one-row products over f32/f16/bf16 (decode)                                */
/* ------------------------------------------------------------------------- */
/* out[1, N] = alpha * x[1, K] @ b[K, N] + beta * out. The weights are read once, converted to
 * f32 in registers (f16/bf16 weights move half the bytes of f32 ones, which is what decode is
 * bound by) and multiplied in f32 with several partial sums; the columns are split over the
 * pool, so decode uses every thread without OpenBLAS's own threads competing with the pool's.
 * Two weight layouts: "dot" when b's K axis is contiguous (b is a transposed [N, K] matrix,
 * as linear layers store it): each output is a dot product of x with a weight row; "axpy"
 * when b's N axis is contiguous: rows of b are added into a block of outputs. */
#define GEMV_BLK 256
/* axpy form: outputs per block; wide, so that each weight row is read in long runs */
#define GEMV_AXPY_BLK 2048

typedef struct gemv_ctx {
    const mm_dims *d;
    const cpu_simd_ops *k;
    const float *x;         /* a's row in f32 */
    const unsigned char *w; /* b of this batch */
    int wdt, dot;
    int64_t ldw;      /* bytes from column j to j+1 (dot) or from row k to k+1 (axpy) */
    int64_t wes;      /* bytes per element of b */
    unsigned char *o; /* out of this batch */
    int64_t osc;      /* bytes from output j to j+1 */
} gemv_ctx;

static void gemv_cols(void *vctx, int64_t begin, int64_t end, int worker)
{
    (void)worker;
    const gemv_ctx *c = vctx;
    const cpu_simd_ops *k = c->k;
    const mm_dims *d = c->d;
    int64_t K = d->k;
    float acc[GEMV_AXPY_BLK];
    double t[CPU_TILE], old[CPU_TILE];
    int64_t blk = c->dot ? GEMV_BLK : GEMV_AXPY_BLK;
    for (int64_t j0 = begin; j0 < end; j0 += blk) {
        int64_t nb = end - j0 < blk ? end - j0 : blk;
        if (c->dot) {
            int64_t j = 0;
            for (; j + 4 <= nb; j += 4) k->dot4(c->wdt, c->x, c->w + (j0 + j) * c->ldw, c->ldw, K, acc + j);
            for (; j < nb; j++) acc[j] = k->dot(c->wdt, c->x, c->w + (j0 + j) * c->ldw, K);
        } else {
            memset(acc, 0, (size_t)nb * sizeof(float));
            const unsigned char *wb = c->w + j0 * c->wes;
            int64_t kk = 0;
            for (; kk + 4 <= K; kk += 4) k->axpy(c->wdt, 4, c->x + kk, wb + kk * c->ldw, c->ldw, acc, nb);
            if (kk < K) k->axpy(c->wdt, (int)(K - kk), c->x + kk, wb + kk * c->ldw, c->ldw, acc, nb);
        }
        unsigned char *op = c->o + j0 * c->osc;
        int odt = d->o->dtype;
        if (d->alpha == 1.0 && d->beta == 0.0 && odt != XHAL_DTYPE_F64 && c->osc == (int64_t)cpu_dtype_size(odt)) {
            k->store(odt, op, acc, nb);
            continue;
        }
        for (int64_t j1 = 0; j1 < nb; j1 += CPU_TILE) {
            int64_t nt = nb - j1 < CPU_TILE ? nb - j1 : CPU_TILE;
            unsigned char *opj = op + j1 * c->osc;
            for (int64_t j = 0; j < nt; j++) t[j] = d->alpha * (double)acc[j1 + j];
            if (d->beta != 0.0) {
                cpu_load_tile(odt, opj, c->osc, nt, old);
                for (int64_t j = 0; j < nt; j++) t[j] += d->beta * old[j];
            }
            cpu_store_tile(odt, opj, c->osc, nt, t);
        }
    }
}

static int is_half_or_f32(int dt) { return dt == XHAL_DTYPE_F32 || dt == XHAL_DTYPE_F16 || dt == XHAL_DTYPE_BF16; }

/* 1 if matmul_gemv takes this product */
static int gemv_fits(const mm_dims *d)
{
    int nd = d->nd;
    if (d->m != 1 || !is_half_or_f32(d->a->dtype) || !is_half_or_f32(d->b->dtype) || !is_half_or_f32(d->o->dtype))
        return 0;
    return d->b->strides[nd - 2] == 1 || d->b->strides[nd - 1] == 1;
}

static xhal_status matmul_gemv(cpu_state *st, const mm_dims *d)
{
    const xhal_tensor_desc *a = d->a, *b = d->b, *o = d->o;
    int nd = d->nd;
    int64_t K = d->k, N = d->n;
    int64_t aes = (int64_t)cpu_dtype_size(a->dtype), bes = (int64_t)cpu_dtype_size(b->dtype);
    int64_t oes = (int64_t)cpu_dtype_size(o->dtype);
    int direct_x = a->dtype == XHAL_DTYPE_F32 && (a->strides[nd - 1] == 1 || K == 1);
    float *xs = NULL;
    if (!direct_x) {
        size_t bytes = cpu_mul_size((size_t)K, sizeof(float));
        xs = cpu_alloc(bytes);
        if (!xs)
            return CPU_ERR(XHAL_ERROR_OUT_OF_MEMORY, "cpu: matmul: cannot allocate %llu bytes of scratch",
                           (unsigned long long)bytes);
    }
    gemv_ctx c;
    c.d = d;
    c.k = cpu_simd();
    c.wdt = b->dtype;
    c.wes = bes;
    /* K contiguous (and not a [K, 1] column that is contiguous both ways: then axpy reads it too) */
    c.dot = b->strides[nd - 2] == 1 && (b->strides[nd - 1] != 1 || N == 1);
    c.ldw = (c.dot ? b->strides[nd - 1] : b->strides[nd - 2]) * bes;
    c.osc = o->strides[nd - 1] * oes;
    /* at least ~32k multiply-adds per task; axpy tasks at least a block wide */
    int64_t grain = ((int64_t)1 << 15) / (K > 0 ? K : 1);
    if (grain < 4) grain = 4;
    if (!c.dot && grain < GEMV_AXPY_BLK / 2) grain = GEMV_AXPY_BLK / 2;
    for (int64_t bi = 0; bi < d->nbatch; bi++) {
        int64_t off[3];
        batch_offsets(d, bi, off);
        const unsigned char *ap = cpu_tensor_base(a) + off[0];
        if (direct_x) {
            c.x = (const float *)(const void *)ap;
        } else if (a->strides[nd - 1] == 1) {
            c.k->load(a->dtype, ap, xs, K);
            c.x = xs;
        } else {
            for (int64_t i = 0; i < K; i++) xs[i] = (float)cpu_load_f64(a->dtype, ap + i * a->strides[nd - 1] * aes);
            c.x = xs;
        }
        c.w = cpu_tensor_base(b) + off[1];
        c.o = cpu_tensor_base(o) + off[2];
        cpu_parallel_for(st->pool, N, grain, gemv_cols, &c);
    }
    cpu_free(xs);
    return XHAL_OK;
}

xhal_status cpu_run_matmul(cpu_state *st, const xhal_op_desc *desc)
{
    mm_dims d;
    d.a = &desc->inputs[0];
    d.b = &desc->inputs[1];
    d.o = &desc->outputs[0];
    d.nd = d.o->ndim;
    d.m = d.o->shape[d.nd - 2];
    d.n = d.o->shape[d.nd - 1];
    d.k = d.a->shape[d.nd - 1];
    d.alpha = desc->attrs.matmul.alpha;
    d.beta = desc->attrs.matmul.beta;
    d.nbatch = 1;
    for (int i = 0; i < d.nd - 2; i++) d.nbatch *= d.o->shape[i];
    int fits = d.m <= INT_MAX && d.n <= INT_MAX && d.k <= INT_MAX;
    if (!fits || d.k == 0 || (double)d.m * (double)d.n * (double)d.k <= (double)CPU_MATMUL_SMALL)
        return matmul_naive(st, &d);
    if (gemv_fits(&d)) return matmul_gemv(st, &d);
    return matmul_blas(st, &d);
}
