/*
 * cpu_quant.c - COPY with block-quantized dtypes on the CPU: the same dtype (blocks copied),
 * dequantization to f32/f16/bf16 and quantization of f32/f16/bf16 to q8_0/q4_0, with the
 * codecs of backends/common/xhal_quant.h (bit-exact with llama.cpp; dequantization through
 * cpu_qdot.h's table, whose vector code gives the same bits); and MATMUL with a
 * block-quantized b (below).
 *
 * Layout (xhal_backend.h): the innermost dimension of a block-quantized descriptor has
 * stride 1 and a size that is a multiple of the block size, every other stride is a
 * multiple of the block size, and the block holding element (i..) starts at byte
 * offset + (sum(ik * strides[k]) / block_size) * block_bytes. So every row (all indices
 * but the innermost fixed) is a run of whole contiguous blocks. The copy walks the rows;
 * rows go to the thread pool when there are many of them.
 */
#include <string.h>

#include "cpu_convert.h"
#include "cpu_internal.h"
#include "cpu_qdot.h"
#include "cpu_simd.h"
#include "xhal/plugin/xhal_half.h"
#include "xhal/plugin/xhal_names.h"
#include "xhal_quant.h"

/* Elements converted per step (a multiple of every block size). */
#define QROW_CHUNK 4096

typedef void (*deq_fn)(const void *, float *, int64_t);
typedef void (*qnt_fn)(const float *, void *, int64_t);

static deq_fn dequant_of(int dt)
{
    switch (dt) {
        case XHAL_DTYPE_Q8_0: return xhal_dequant_q8_0;
        case XHAL_DTYPE_Q4_0: return xhal_dequant_q4_0;
        case XHAL_DTYPE_Q4_K: return xhal_dequant_q4_k;
        case XHAL_DTYPE_Q6_K: return xhal_dequant_q6_k;
        default: return NULL;
    }
}

static qnt_fn quant_of(int dt)
{
    switch (dt) {
        case XHAL_DTYPE_Q8_0: return xhal_quant_q8_0;
        case XHAL_DTYPE_Q4_0: return xhal_quant_q4_0;
        default: return NULL;
    }
}

static int is_half_or_f32(int dt) { return dt == XHAL_DTYPE_F32 || dt == XHAL_DTYPE_F16 || dt == XHAL_DTYPE_BF16; }

int cpu_is_block_dtype(int dt) { return xhal_names_dtype_block(dt) != NULL; }

xhal_status cpu_block_copy_supported(int sdt, int ddt)
{
    int sq = cpu_is_block_dtype(sdt), dq = cpu_is_block_dtype(ddt);
    if (sq && sdt == ddt) return XHAL_OK;
    if (sq && is_half_or_f32(ddt) && dequant_of(sdt)) return XHAL_OK;
    if (dq && is_half_or_f32(sdt) && quant_of(ddt)) return XHAL_OK;
    return CPU_ERR(XHAL_ERROR_UNSUPPORTED,
                   "cpu: copy %s -> %s is not supported by cpu:0 (block-quantized copies: "
                   "the same dtype, to f32/f16/bf16, or from f32/f16/bf16 to q8_0/q4_0)",
                   cpu_dtype_name(sdt), cpu_dtype_name(ddt));
}

static void store_f(int dt, unsigned char *p, float v)
{
    if (dt == XHAL_DTYPE_F32)
        memcpy(p, &v, 4);
    else {
        uint16_t h = dt == XHAL_DTYPE_F16 ? xhal_f32_to_f16(v) : xhal_f32_to_bf16(v);
        memcpy(p, &h, 2);
    }
}

static float load_f(int dt, const unsigned char *p)
{
    if (dt == XHAL_DTYPE_F32) {
        float v;
        memcpy(&v, p, 4);
        return v;
    }
    uint16_t h;
    memcpy(&h, p, 2);
    return dt == XHAL_DTYPE_F16 ? xhal_f16_to_f32(h) : xhal_bf16_to_f32(h);
}

typedef struct qcopy {
    const xhal_tensor_desc *src, *dst;
    int nd;        /* dims (>= 1) */
    int64_t rows;  /* product of the outer dims */
    int64_t inner; /* innermost size (a multiple of the block size) */
} qcopy;

/* Byte address of row r's first element in t (row-major order of the outer dims). */
static unsigned char *row_addr(const xhal_tensor_desc *t, int nd, int64_t r)
{
    int64_t lin = 0;
    for (int k = nd - 2; k >= 0; k--) {
        int64_t n = t->shape[k];
        lin += (r % n) * t->strides[k];
        r /= n;
    }
    unsigned char *base = ((cpu_buffer *)t->buffer)->data + t->offset;
    const xhal_names_block_entry_ *b = xhal_names_dtype_block(t->dtype);
    if (b) return base + (lin / b->block_size) * b->block_bytes;
    return base + lin * (int64_t)xhal_names_dtype_size(t->dtype);
}

static void qcopy_rows(void *vctx, int64_t begin, int64_t end, int worker)
{
    (void)worker;
    const qcopy *c = vctx;
    const xhal_tensor_desc *s = c->src, *d = c->dst;
    const xhal_names_block_entry_ *sb = xhal_names_dtype_block(s->dtype), *db = xhal_names_dtype_block(d->dtype);
    float tmp[QROW_CHUNK];
    for (int64_t r = begin; r < end; r++) {
        const unsigned char *sp = row_addr(s, c->nd, r);
        unsigned char *dp = row_addr(d, c->nd, r);
        if (sb && db) { /* same dtype: the row's blocks */
            memcpy(dp, sp, (size_t)(c->inner / sb->block_size * sb->block_bytes));
            continue;
        }
        for (int64_t j = 0; j < c->inner; j += QROW_CHUNK) {
            int64_t m = c->inner - j < QROW_CHUNK ? c->inner - j : QROW_CHUNK;
            if (sb) { /* dequantize m elements, store with dst's stride */
                cpu_qdot()->dequant(s->dtype, sp + j / sb->block_size * sb->block_bytes, tmp, m / sb->block_size);
                int64_t es = (int64_t)xhal_names_dtype_size(d->dtype), bs = d->strides[c->nd - 1] * es;
                for (int64_t k = 0; k < m; k++) store_f(d->dtype, dp + (j + k) * bs, tmp[k]);
            } else { /* load m elements with src's stride, quantize */
                int64_t es = (int64_t)xhal_names_dtype_size(s->dtype), bs = s->strides[c->nd - 1] * es;
                for (int64_t k = 0; k < m; k++) tmp[k] = load_f(s->dtype, sp + (j + k) * bs);
                quant_of(d->dtype)(tmp, dp + j / db->block_size * db->block_bytes, m / db->block_size);
            }
        }
    }
}

xhal_status cpu_run_copy_block(cpu_state *st, const xhal_op_desc *d)
{
    qcopy c;
    c.src = &d->inputs[0];
    c.dst = &d->outputs[0];
    c.nd = c.dst->ndim;
    if (c.nd < 1) return CPU_ERR(XHAL_ERROR_INTERNAL, "cpu: a block-quantized copy of a scalar");
    c.inner = c.dst->shape[c.nd - 1];
    c.rows = 1;
    for (int k = 0; k < c.nd - 1; k++) c.rows *= c.dst->shape[k];
    if (c.rows == 0 || c.inner == 0) return XHAL_OK;
    int64_t grain = (1 << 16) / c.inner + 1;
    cpu_parallel_for(st->pool, c.rows, grain, qcopy_rows, &c);
    return XHAL_OK;
}

/* ------------------------------------------------------------------------- */
/* MATMUL with a block-quantized b, or per-channel int8 b with scales         */
/* ------------------------------------------------------------------------- */
/* The descriptor (xhal_backend.h): a [B.., M, K], b [B.., K, N] whose K axis has stride 1
 * (blocks run along K, K a multiple of the block size) and whose N stride is a multiple of
 * the block size, out [B.., M, N]; a and out f32/f16/bf16. Each column n of b is a run of
 * K / block_size blocks, read once per call: the columns are split over the pool in panels of
 * QPANEL. a is used as dense f32 rows (f16/bf16 or strided a is converted once, up front).
 * One row (decode): each column is dotted straight from its codes (cpu_qdot.h: AVX2 or
 * portable). More rows (prefill): the panel's columns are dequantized once into the worker's
 * f32 scratch (bit-exact with copy) and every row is dotted with them by cpu_simd()'s dot4.
 * Per-channel int8 (xhal_matmul_i8): b is i8 with K stride 1 and in[2] holds scales [N]; the
 * same paths with int8 codes (one "block" per element) and the column's scale applied to its
 * dot product. out = alpha * dot + beta * out in double, rounded once (beta == 0: out is not
 * read). The product is the one with the dequantized weights, within OPS.md's accumulate
 * tolerance. */
xhal_status cpu_qmatmul_supported(const xhal_op_desc *d)
{
    int adt = d->inputs[0].dtype, bdt = d->inputs[1].dtype, odt = d->outputs[0].dtype;
    if (bdt == XHAL_DTYPE_I8 || d->n_inputs > 2) {
        if (bdt != XHAL_DTYPE_I8 || d->n_inputs != 3 || d->inputs[2].dtype != XHAL_DTYPE_F32 ||
            d->inputs[2].ndim != 1 ||
            (d->inputs[1].shape[d->inputs[1].ndim - 2] > 1 && d->inputs[1].strides[d->inputs[1].ndim - 2] != 1))
            return CPU_ERR(XHAL_ERROR_UNSUPPORTED,
                           "cpu: matmul with b of dtype %s and %d inputs: cpu:0 takes i8 b with contiguous K only "
                           "with f32 scales [N] as a third input (xhal_matmul_i8)",
                           cpu_dtype_name(bdt), d->n_inputs);
    } else if (!dequant_of(bdt))
        return CPU_ERR(XHAL_ERROR_UNSUPPORTED, "cpu: matmul with b of dtype %s is not supported by cpu:0",
                       cpu_dtype_name(bdt));
    if (!is_half_or_f32(adt) || odt != adt)
        return CPU_ERR(XHAL_ERROR_UNSUPPORTED,
                       "cpu: matmul with quantized (block or int8) b needs a and out of one dtype "
                       "among f32, f16, bf16 (a is %s, out %s)",
                       cpu_dtype_name(adt), cpu_dtype_name(odt));
    return XHAL_OK;
}

/* columns per work item: dot4 takes four at a time */
#define QPANEL 4

typedef struct qmm {
    const xhal_tensor_desc *a, *b, *o;
    int bd; /* batch dims */
    int64_t M, N, K, batches, npanel, nblk;
    double alpha, beta;
    const xhal_names_block_entry_ *blk; /* NULL: per-channel int8 */
    const xhal_tensor_desc *sc;         /* int8: scales [N] */
    const cpu_qdot_ops *q;
    const cpu_simd_ops *v;
    const float *xs; /* a as dense f32 [batches, M, K]; NULL when a is dense f32 itself */
    float *wbuf;     /* QPANEL * K floats per worker (M > 1) */
} qmm;

/* Element offset (in elements) of batch index `bi` (row-major over out's batch dims) in t. */
static int64_t batch_lin(const xhal_tensor_desc *t, const xhal_tensor_desc *o, int bd, int64_t bi)
{
    int64_t lin = 0;
    for (int k = bd - 1; k >= 0; k--) {
        int64_t n = o->shape[k];
        lin += (bi % n) * t->strides[k];
        bi /= n;
    }
    return lin;
}

/* Row m of batch bi of a, as K dense floats. */
static const float *qmm_row(const qmm *c, int64_t bi, int64_t m)
{
    if (c->xs) return c->xs + (bi * c->M + m) * c->K;
    const unsigned char *abuf = ((cpu_buffer *)c->a->buffer)->data + c->a->offset;
    return (const float *)(const void *)(abuf + (batch_lin(c->a, c->o, c->bd, bi) + m * c->a->strides[c->bd]) * 4);
}

static void qmm_store(const qmm *c, unsigned char *op, double acc)
{
    double r = c->alpha * acc;
    if (c->beta != 0.0) r += c->beta * (double)load_f(c->o->dtype, op);
    if (c->o->dtype == XHAL_DTYPE_F32) {
        float f = (float)r;
        memcpy(op, &f, 4);
    } else {
        /* one rounding from double: through f32 would round twice */
        uint16_t h = c->o->dtype == XHAL_DTYPE_F16 ? cpu_f64_to_f16(r) : cpu_f64_to_bf16(r);
        memcpy(op, &h, 2);
    }
}

/* work items are (batch, panel of QPANEL columns) pairs */
static void qmm_panels(void *vctx, int64_t begin, int64_t end, int worker)
{
    const qmm *c = vctx;
    const int bd = c->bd, dt = c->b->dtype;
    const int64_t os = (int64_t)xhal_names_dtype_size(c->o->dtype), K = c->K;
    const unsigned char *bbuf = ((cpu_buffer *)c->b->buffer)->data + c->b->offset;
    unsigned char *obuf = ((cpu_buffer *)c->o->buffer)->data + c->o->offset;
    float *w = c->wbuf ? c->wbuf + (size_t)worker * QPANEL * (size_t)K : NULL;
    for (int64_t item = begin; item < end; item++) {
        const int64_t bi = item / c->npanel, n0 = item % c->npanel * QPANEL;
        const int nc = (int)(c->N - n0 < QPANEL ? c->N - n0 : QPANEL);
        const int64_t blin = batch_lin(c->b, c->o, bd, bi), olin = batch_lin(c->o, c->o, bd, bi);
        const unsigned char *col[QPANEL];
        double scale[QPANEL] = {1.0, 1.0, 1.0, 1.0};
        for (int j = 0; j < nc; j++) { /* b[.., 0, n0 + j]: element offset / block size blocks in */
            const int64_t e = blin + (n0 + j) * c->b->strides[bd + 1];
            if (c->blk) {
                col[j] = bbuf + e / c->blk->block_size * c->blk->block_bytes;
            } else {
                col[j] = bbuf + e;
                float f;
                memcpy(&f, ((cpu_buffer *)c->sc->buffer)->data + c->sc->offset + (n0 + j) * c->sc->strides[0] * 4, 4);
                scale[j] = (double)f;
            }
        }
        unsigned char *orow = obuf + (olin + n0 * c->o->strides[bd + 1]) * os;
        const int64_t ocol = c->o->strides[bd + 1] * os, omrow = c->o->strides[bd] * os;
        if (c->M == 1) {
            const float *x = qmm_row(c, bi, 0);
            for (int j = 0; j < nc; j++) {
                double dot = c->blk ? c->q->dot(dt, col[j], x, c->nblk)
                                    : c->q->dot_i8((const int8_t *)(const void *)col[j], x, K) * scale[j];
                qmm_store(c, orow + j * ocol, dot);
            }
            continue;
        }
        for (int j = 0; j < nc; j++) {
            if (c->blk)
                c->q->dequant(dt, col[j], w + j * K, c->nblk);
            else
                c->q->i8_to_f32((const int8_t *)(const void *)col[j], w + j * K, K);
        }
        for (int64_t m = 0; m < c->M; m++) {
            const float *x = qmm_row(c, bi, m);
            float r[QPANEL];
            if (nc == QPANEL)
                c->v->dot4(XHAL_DTYPE_F32, x, w, K * (int64_t)sizeof(float), K, r);
            else
                for (int j = 0; j < nc; j++) r[j] = c->v->dot(XHAL_DTYPE_F32, x, w + j * K, K);
            for (int j = 0; j < nc; j++) qmm_store(c, orow + m * omrow + j * ocol, (double)r[j] * scale[j]);
        }
    }
}

xhal_status cpu_run_matmul_q(cpu_state *st, const xhal_op_desc *d)
{
    qmm c;
    memset(&c, 0, sizeof c);
    c.a = &d->inputs[0];
    c.b = &d->inputs[1];
    c.o = &d->outputs[0];
    c.bd = c.o->ndim - 2;
    c.M = c.o->shape[c.bd];
    c.N = c.o->shape[c.bd + 1];
    c.K = c.a->shape[c.bd + 1];
    c.batches = 1;
    for (int k = 0; k < c.bd; k++) c.batches *= c.o->shape[k];
    c.alpha = d->attrs.matmul.alpha;
    c.beta = d->attrs.matmul.beta;
    c.blk = xhal_names_dtype_block(c.b->dtype);
    c.q = cpu_qdot();
    c.v = cpu_simd();
    if (c.b->dtype == XHAL_DTYPE_I8 && d->n_inputs == 3) {
        c.sc = &d->inputs[2];
        if (c.K > 1 && c.b->strides[c.bd] != 1)
            return CPU_ERR(XHAL_ERROR_INTERNAL, "cpu: int8 matmul descriptor with a strided K axis");
    } else if (!c.blk || c.K % c.blk->block_size != 0 || (c.K > 1 && c.b->strides[c.bd] != 1)) {
        return CPU_ERR(XHAL_ERROR_INTERNAL, "cpu: quantized matmul descriptor breaks the block layout");
    }
    c.nblk = c.blk ? c.K / c.blk->block_size : c.K;
    c.npanel = (c.N + QPANEL - 1) / QPANEL;
    if (c.M == 0 || c.N == 0 || c.batches == 0) return XHAL_OK;
    float *xs = NULL;
    const int a_dense = c.a->dtype == XHAL_DTYPE_F32 && (c.a->strides[c.bd + 1] == 1 || c.K <= 1);
    if (!a_dense) {
        size_t n = cpu_mul_size(cpu_mul_size((size_t)c.batches, (size_t)c.M), (size_t)c.K);
        xs = cpu_alloc(cpu_mul_size(n, sizeof(float)));
        if (!xs)
            return CPU_ERR(XHAL_ERROR_OUT_OF_MEMORY, "cpu: matmul: no memory for %lld x %lld x %lld f32 activations",
                           (long long)c.batches, (long long)c.M, (long long)c.K);
        const unsigned char *abuf = ((cpu_buffer *)c.a->buffer)->data + c.a->offset;
        const int64_t as = (int64_t)xhal_names_dtype_size(c.a->dtype), ak = c.a->strides[c.bd + 1];
        for (int64_t bi = 0; bi < c.batches; bi++)
            for (int64_t m = 0; m < c.M; m++) {
                const unsigned char *ar = abuf + (batch_lin(c.a, c.o, c.bd, bi) + m * c.a->strides[c.bd]) * as;
                float *dst = xs + (bi * c.M + m) * c.K;
                if (ak == 1)
                    c.v->load(c.a->dtype, ar, dst, c.K);
                else
                    for (int64_t k = 0; k < c.K; k++) dst[k] = load_f(c.a->dtype, ar + k * ak * as);
            }
        c.xs = xs;
    }
    if (c.M > 1) {
        size_t n = cpu_mul_size(cpu_mul_size((size_t)cpu_pool_workers(st->pool), QPANEL), (size_t)c.K);
        c.wbuf = cpu_alloc(cpu_mul_size(n, sizeof(float)));
        if (!c.wbuf) {
            cpu_free(xs);
            return CPU_ERR(XHAL_ERROR_OUT_OF_MEMORY, "cpu: matmul: no memory for %d x %d x %lld dequantized weights",
                           cpu_pool_workers(st->pool), QPANEL, (long long)c.K);
        }
    }
    /* at least ~32k multiply-adds per task */
    int64_t grain = ((int64_t)1 << 15) / (QPANEL * c.K * c.M + 1) + 1;
    cpu_parallel_for(st->pool, c.batches * c.npanel, grain, qmm_panels, &c);
    cpu_free(c.wbuf);
    cpu_free(xs);
    return XHAL_OK;
}
