/*
 * cpu_nn.c - the row-wise ops of the CPU backend: SOFTMAX, RMS_NORM, LAYER_NORM, ROPE,
 * ATTENTION, and GATHER.
 *
 * Each works on rows of the last axis: a row's position comes from its flat index
 * (cpu_row_offset), so any strides work. Rows are computed in per-worker scratch that is
 * allocated before anything is written, so a failed allocation leaves the output
 * untouched: in f32 with the vector kernels of cpu_simd.h when the tensors are f32, f16
 * or bf16 (sums of the norms and softmax's denominator in double), in double for f64.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_convert.h"
#include "cpu_internal.h"
#include "cpu_iter.h"
#include "cpu_simd.h"

/* Rows go parallel when the op touches at least this many elements. */
#define CPU_PAR_WORK ((int64_t)1 << 15)

static int64_t row_grain(int64_t row_len)
{
    int64_t g = CPU_PAR_WORK / (row_len > 0 ? row_len : 1);
    return g > 0 ? g : 1;
}

/* Per-worker scratch of `per` doubles. */
typedef struct scratch {
    double *mem;
    int64_t per;
} scratch;

static xhal_status scratch_alloc(cpu_state *st, scratch *s, int64_t per, const char *op)
{
    s->per = per > 0 ? per : 1;
    size_t n = cpu_mul_size((size_t)cpu_pool_workers(st->pool), (size_t)s->per);
    s->mem = cpu_alloc(cpu_mul_size(n, sizeof(double)));
    if (!s->mem)
        return CPU_ERR(XHAL_ERROR_OUT_OF_MEMORY, "cpu: %s: cannot allocate %llu bytes of scratch", op,
                       (unsigned long long)cpu_mul_size(n, sizeof(double)));
    return XHAL_OK;
}

static double *scratch_for(const scratch *s, int worker) { return s->mem + (int64_t)worker * s->per; }

static int64_t bstride(const xhal_tensor_desc *t, int axis)
{
    return t->strides[axis] * (int64_t)cpu_dtype_size(t->dtype);
}

/* f32 compute for f32, f16 and bf16 tensors; f64 stays in double */
static int f32_path(int dt) { return dt == XHAL_DTYPE_F32 || dt == XHAL_DTYPE_F16 || dt == XHAL_DTYPE_BF16; }

/* n elements of a float dtype at byte stride bs into f32 */
static void load_f32(const cpu_simd_ops *k, int dt, const unsigned char *p, int64_t bs, int64_t n, float *out)
{
    if (bs == (int64_t)cpu_dtype_size(dt)) {
        k->load(dt, p, out, n);
        return;
    }
    for (int64_t i = 0; i < n; i++) out[i] = (float)cpu_load_f64(dt, p + i * bs);
}

/* n f32 values rounded once to dt (f32, f16, bf16) at byte stride bs */
static void store_f32(const cpu_simd_ops *k, int dt, unsigned char *p, int64_t bs, int64_t n, const float *in)
{
    if (bs == (int64_t)cpu_dtype_size(dt)) {
        k->store(dt, p, in, n);
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        if (dt == XHAL_DTYPE_F32) {
            memcpy(p + i * bs, &in[i], 4);
        } else {
            uint16_t h = dt == XHAL_DTYPE_F16 ? xhal_f32_to_f16(in[i]) : xhal_f32_to_bf16(in[i]);
            memcpy(p + i * bs, &h, 2);
        }
    }
}

/* ------------------------------------------------------------------------- */
/* SOFTMAX                                                                    */
/* ------------------------------------------------------------------------- */
typedef struct softmax_ctx {
    const xhal_tensor_desc *x, *o;
    double scale;
    int causal;
    scratch s;
} softmax_ctx;

static void softmax_rows(void *vctx, int64_t begin, int64_t end, int worker)
{
    const softmax_ctx *c = vctx;
    const xhal_tensor_desc *x = c->x, *o = c->o;
    int nd = x->ndim;
    int64_t sk = x->shape[nd - 1];
    int64_t sq = nd >= 2 ? x->shape[nd - 2] : 1;
    int64_t xs = bstride(x, nd - 1), os = bstride(o, nd - 1);
    double *v = scratch_for(&c->s, worker);
    int64_t idx[XHAL_MAX_DIMS];
    const cpu_simd_ops *k = cpu_simd();
    int f32 = f32_path(x->dtype) && f32_path(o->dtype);
    for (int64_t r = begin; r < end; r++) {
        const unsigned char *xr = cpu_tensor_base(x) + cpu_row_offset(x, nd - 1, r, idx);
        unsigned char *orow = cpu_tensor_base(o) + cpu_row_offset(o, nd - 1, r, NULL);
        int64_t vis = sk; /* columns [0, vis) are visible */
        if (c->causal) {
            int64_t i = nd >= 2 ? idx[nd - 2] : sq - 1;
            vis = i + (sk - sq) + 1;
            if (vis > sk) vis = sk;
            if (vis < 0) vis = 0;
        }
        if (f32) {
            /* the max skips NaN, but a NaN still poisons the sum and with it the whole row */
            float *f = (float *)v;
            load_f32(k, x->dtype, xr, xs, vis, f);
            if (c->scale != 1.0) k->scale(f, vis, (float)c->scale);
            float mx = k->max(f, vis);
            double sum = k->exp_sum(f, vis, mx);
            k->scale(f, vis, (float)(1.0 / sum));
            for (int64_t j = vis; j < sk; j++) f[j] = 0.0f;
            store_f32(k, o->dtype, orow, os, sk, f);
            continue;
        }
        cpu_load_vec(x->dtype, xr, xs, vis, v);
        double mx = -INFINITY;
        for (int64_t j = 0; j < vis; j++) {
            v[j] *= c->scale;
            if (v[j] > mx || isnan(v[j])) mx = v[j];
        }
        double sum = 0.0;
        for (int64_t j = 0; j < vis; j++) {
            v[j] = exp(v[j] - mx);
            sum += v[j];
        }
        for (int64_t j = 0; j < vis; j++) v[j] /= sum;
        for (int64_t j = vis; j < sk; j++) v[j] = 0.0;
        cpu_store_vec(o->dtype, orow, os, sk, v);
    }
}

xhal_status cpu_run_softmax(cpu_state *st, const xhal_op_desc *d)
{
    softmax_ctx c;
    c.x = &d->inputs[0];
    c.o = &d->outputs[0];
    c.scale = d->attrs.softmax.scale;
    c.causal = d->attrs.softmax.causal;
    int nd = c.x->ndim;
    if (nd == 0) {
        /* a scalar: softmax of one element */
        double one = 1.0;
        if (isnan(cpu_load_f64(c.x->dtype, cpu_tensor_base(c.x)))) one = NAN;
        cpu_store_f64(c.o->dtype, cpu_tensor_base(c.o), one);
        return XHAL_OK;
    }
    int64_t sk = c.x->shape[nd - 1];
    xhal_status s = scratch_alloc(st, &c.s, sk, "softmax");
    if (s != XHAL_OK) return s;
    int64_t rows = cpu_numel(c.x) / sk;
    cpu_parallel_for(st->pool, rows, row_grain(sk), softmax_rows, &c);
    cpu_free(c.s.mem);
    return XHAL_OK;
}

/* ------------------------------------------------------------------------- */
/* RMS_NORM, LAYER_NORM                                                       */
/* ------------------------------------------------------------------------- */
typedef struct norm_ctx {
    const xhal_tensor_desc *x, *o;
    const double *w, *b;  /* [D] in double, or NULL */
    const float *wf, *bf; /* the same in f32 (f32 path) */
    int f32;
    double eps;
    int layer;
    scratch s;
} norm_ctx;

static void norm_rows(void *vctx, int64_t begin, int64_t end, int worker)
{
    const norm_ctx *c = vctx;
    const xhal_tensor_desc *x = c->x, *o = c->o;
    int nd = x->ndim;
    int64_t dim = nd > 0 ? x->shape[nd - 1] : 1;
    int64_t xs = nd > 0 ? bstride(x, nd - 1) : 0, os = nd > 0 ? bstride(o, nd - 1) : 0;
    double *v = scratch_for(&c->s, worker);
    const cpu_simd_ops *k = cpu_simd();
    for (int64_t r = begin; r < end; r++) {
        const unsigned char *xr = cpu_tensor_base(x) + cpu_row_offset(x, nd - 1, r, NULL);
        unsigned char *orow = cpu_tensor_base(o) + cpu_row_offset(o, nd - 1, r, NULL);
        if (c->f32) {
            float *f = (float *)v;
            load_f32(k, x->dtype, xr, xs, dim, f);
            double mean = c->layer ? k->sum(f, dim) / (double)dim : 0.0;
            double ss = k->sumsq(f, dim, (float)mean);
            double inv = 1.0 / sqrt(ss / (double)dim + c->eps);
            k->norm(f, dim, (float)mean, (float)inv, c->wf, c->bf);
            store_f32(k, o->dtype, orow, os, dim, f);
            continue;
        }
        cpu_load_vec(x->dtype, xr, xs, dim, v);
        double mean = 0.0;
        if (c->layer) {
            for (int64_t j = 0; j < dim; j++) mean += v[j];
            mean /= (double)dim;
        }
        double ss = 0.0;
        for (int64_t j = 0; j < dim; j++) {
            double t = v[j] - mean;
            ss += t * t;
        }
        double inv = 1.0 / sqrt(ss / (double)dim + c->eps);
        for (int64_t j = 0; j < dim; j++) {
            double y = (v[j] - mean) * inv;
            if (c->w) y *= c->w[j];
            if (c->b) y += c->b[j];
            v[j] = y;
        }
        cpu_store_vec(o->dtype, orow, os, dim, v);
    }
}

xhal_status cpu_run_norm(cpu_state *st, const xhal_op_desc *d)
{
    norm_ctx c;
    memset(&c, 0, sizeof(c));
    c.x = &d->inputs[0];
    c.o = &d->outputs[0];
    c.eps = d->attrs.norm.eps;
    c.layer = d->op == XHAL_OP_LAYER_NORM;
    int nd = c.x->ndim;
    int64_t dim = nd > 0 ? c.x->shape[nd - 1] : 1;
    int has_w = d->attrs.norm.has_weight != 0;
    int has_b = c.layer && d->attrs.norm.has_bias != 0;
    const char *name = cpu_op_name(d->op);
    /* weight and bias in double (and room for them in f32), then per-worker row scratch */
    double *wb = cpu_alloc(cpu_mul_size((size_t)dim * 3u, sizeof(double)));
    if (!wb)
        return CPU_ERR(XHAL_ERROR_OUT_OF_MEMORY, "cpu: %s: cannot allocate %llu bytes of scratch", name,
                       (unsigned long long)cpu_mul_size((size_t)dim * 3u, sizeof(double)));
    if (has_w) {
        const xhal_tensor_desc *w = &d->inputs[1];
        cpu_load_vec(w->dtype, cpu_tensor_base(w), w->ndim > 0 ? bstride(w, w->ndim - 1) : 0, dim, wb);
        c.w = wb;
    }
    if (has_b) {
        const xhal_tensor_desc *b = &d->inputs[has_w ? 2 : 1];
        cpu_load_vec(b->dtype, cpu_tensor_base(b), b->ndim > 0 ? bstride(b, b->ndim - 1) : 0, dim, wb + dim);
        c.b = wb + dim;
    }
    xhal_status s = scratch_alloc(st, &c.s, dim, name);
    if (s != XHAL_OK) {
        cpu_free(wb);
        return s;
    }
    c.f32 = f32_path(c.x->dtype) && f32_path(c.o->dtype);
    if (c.f32) {
        /* the weights in f32, after the doubles */
        float *wf = (float *)(wb + 2 * dim);
        for (int64_t j = 0; j < dim; j++) {
            wf[j] = c.w ? (float)c.w[j] : 1.0f;
            wf[dim + j] = c.b ? (float)c.b[j] : 0.0f;
        }
        c.wf = c.w ? wf : NULL;
        c.bf = c.b ? wf + dim : NULL;
    }
    cpu_parallel_for(st->pool, cpu_numel(c.x) / dim, row_grain(dim), norm_rows, &c);
    cpu_free(c.s.mem);
    cpu_free(wb);
    return XHAL_OK;
}

/* ------------------------------------------------------------------------- */
/* ROPE                                                                       */
/* ------------------------------------------------------------------------- */
typedef struct rope_ctx {
    const xhal_tensor_desc *x, *o;
    int seq_axis;
    int64_t half; /* rotary_dims / 2 */
    int interleaved;
    /* Table of cos, sin ([entries][half][2]): without positions one entry per index s of the
     * seq axis (position pos_offset + s); with positions one per index of x's dims up to the
     * seq axis (its flat index is a row's flat index / inner, inner = the rows per entry). */
    int per_token;
    int64_t inner;
    const double *cs;
    const float *csf; /* the same in f32 (f32 path), or NULL */
    scratch s;
} rope_ctx;

static void rope_rows(void *vctx, int64_t begin, int64_t end, int worker)
{
    const rope_ctx *c = vctx;
    const xhal_tensor_desc *x = c->x, *o = c->o;
    int nd = x->ndim;
    int64_t dim = x->shape[nd - 1];
    int64_t xs = bstride(x, nd - 1), os = bstride(o, nd - 1);
    double *v = scratch_for(&c->s, worker);
    int64_t idx[XHAL_MAX_DIMS];
    const cpu_simd_ops *ops = cpu_simd();
    for (int64_t r = begin; r < end; r++) {
        const unsigned char *xr = cpu_tensor_base(x) + cpu_row_offset(x, nd - 1, r, idx);
        unsigned char *orow = cpu_tensor_base(o) + cpu_row_offset(o, nd - 1, r, NULL);
        /* the whole row is read before any of it is written: out may be x */
        if (c->csf) {
            float *f = (float *)v;
            const float *cf = c->csf + (c->per_token ? r / c->inner : idx[c->seq_axis]) * c->half * 2;
            load_f32(ops, x->dtype, xr, xs, dim, f);
            int64_t h = c->half, step = c->interleaved ? 2 : 1, second = c->interleaved ? 1 : h;
            for (int64_t k = 0; k < h; k++) {
                float *p0 = f + k * step, *p1 = p0 + second;
                float a = *p0, b = *p1, co = cf[2 * k], si = cf[2 * k + 1];
                *p0 = a * co - b * si;
                *p1 = b * co + a * si;
            }
            store_f32(ops, o->dtype, orow, os, dim, f);
            continue;
        }
        const double *cs = c->cs + (c->per_token ? r / c->inner : idx[c->seq_axis]) * c->half * 2;
        cpu_load_vec(x->dtype, xr, xs, dim, v);
        for (int64_t k = 0; k < c->half; k++) {
            int64_t i0 = c->interleaved ? 2 * k : k;
            int64_t i1 = c->interleaved ? 2 * k + 1 : k + c->half;
            double a = v[i0], b = v[i1], co = cs[2 * k], si = cs[2 * k + 1];
            v[i0] = a * co - b * si;
            v[i1] = b * co + a * si;
        }
        cpu_store_vec(o->dtype, orow, os, dim, v);
    }
}

xhal_status cpu_run_rope(cpu_state *st, const xhal_op_desc *d)
{
    rope_ctx c;
    memset(&c, 0, sizeof(c));
    c.x = &d->inputs[0];
    c.o = &d->outputs[0];
    c.seq_axis = d->attrs.rope.seq_axis;
    int nd = c.x->ndim;
    int64_t dim = c.x->shape[nd - 1];
    int64_t rot = d->attrs.rope.rotary_dims > 0 ? d->attrs.rope.rotary_dims : dim;
    c.half = rot / 2;
    c.interleaved = d->attrs.rope.layout == XHAL_ROPE_INTERLEAVED;
    const xhal_tensor_desc *pos = NULL, *invf = NULL;
    int k_in = 1;
    if (d->attrs.rope.has_positions) pos = &d->inputs[k_in++];
    if (d->attrs.rope.has_inv_freq) invf = &d->inputs[k_in++];
    double af = d->attrs.rope.attention_factor != 0.0 ? d->attrs.rope.attention_factor : 1.0;
    /* table entries: the seq axis, or every index of x's dims up to it (positions) */
    int64_t seq = c.x->shape[c.seq_axis];
    c.per_token = pos != NULL;
    if (pos) {
        c.inner = 1;
        for (int i = c.seq_axis + 1; i < nd - 1; i++) c.inner *= c.x->shape[i];
        seq = cpu_numel(c.x) / dim / (c.inner > 0 ? c.inner : 1);
    }
    /* the table in double, then (f32 path) in f32 */
    size_t cs_bytes = cpu_mul_size(cpu_mul_size((size_t)seq, (size_t)c.half * 2u), sizeof(double) + sizeof(float));
    double *cs = cpu_alloc(cs_bytes);
    if (!cs)
        return CPU_ERR(XHAL_ERROR_OUT_OF_MEMORY, "cpu: rope: cannot allocate %llu bytes of scratch",
                       (unsigned long long)cs_bytes);
    double theta = d->attrs.rope.theta;
    for (int64_t s = 0; s < seq; s++) {
        double p = (double)(d->attrs.rope.pos_offset + s);
        if (pos) /* entry s: x's indices up to the seq axis, row-major, read through pos's strides */
            p = (double)cpu_load_i64(pos->dtype, cpu_tensor_base(pos) + cpu_row_offset(pos, pos->ndim, s, NULL));
        for (int64_t k = 0; k < c.half; k++) {
            double inv_freq;
            if (invf) {
                float f;
                memcpy(&f, cpu_tensor_base(invf) + k * bstride(invf, 0), sizeof f);
                inv_freq = (double)f;
            } else {
                inv_freq = pow(theta, -2.0 * (double)k / (double)rot);
            }
            double ang = p * inv_freq;
            cs[(s * c.half + k) * 2] = af * cos(ang);
            cs[(s * c.half + k) * 2 + 1] = af * sin(ang);
        }
    }
    c.cs = cs;
    if (f32_path(c.x->dtype) && f32_path(c.o->dtype)) {
        int64_t nt = seq * c.half * 2;
        float *csf = (float *)(cs + nt);
        for (int64_t i = 0; i < nt; i++) csf[i] = (float)cs[i];
        c.csf = csf;
    }
    xhal_status s = scratch_alloc(st, &c.s, dim, "rope");
    if (s != XHAL_OK) {
        cpu_free(cs);
        return s;
    }
    cpu_parallel_for(st->pool, cpu_numel(c.x) / dim, row_grain(dim * 4), rope_rows, &c);
    cpu_free(c.s.mem);
    cpu_free(cs);
    return XHAL_OK;
}

/* ------------------------------------------------------------------------- */
/* ATTENTION                                                                  */
/* ------------------------------------------------------------------------- */
typedef struct attn_ctx {
    const xhal_tensor_desc *q, *k, *v, *mask, *o;
    double scale;
    int causal;
    int64_t window; /* 0: none */
    double softcap; /* 0: none */
    int64_t p0;     /* position of query 0 among the keys */
    int64_t group;  /* Hq / Hkv */
    scratch s;
} attn_ctx;

/* The keys [*lo, *hi) query i sees: causal stops at its own position P = p0 + i, the window
 * starts at P - window + 1 (xhal_attention_ex). */
static void attn_range(const attn_ctx *c, int64_t i, int64_t *lo, int64_t *hi)
{
    int64_t sk = c->k->shape[2], P = c->p0 + i, l = 0, h = sk;
    if (c->causal && P + 1 < h) h = P + 1;
    if (h < 0) h = 0;
    if (c->window > 0 && P - c->window + 1 > l) l = P - c->window + 1;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/* scale * q.k, soft-capped */
static double attn_score(const attn_ctx *c, double dot)
{
    double s = dot * c->scale;
    return c->softcap > 0.0 ? c->softcap * tanh(s / c->softcap) : s;
}

static void attn_rows(void *vctx, int64_t begin, int64_t end, int worker)
{
    const attn_ctx *c = vctx;
    const xhal_tensor_desc *q = c->q, *k = c->k, *v = c->v, *m = c->mask, *o = c->o;
    int64_t hq = q->shape[1], sq = q->shape[2], dh = q->shape[3];
    int64_t sk = k->shape[2], dv = v->shape[3];
    int64_t qes = (int64_t)cpu_dtype_size(q->dtype), kes = (int64_t)cpu_dtype_size(k->dtype);
    int64_t ves = (int64_t)cpu_dtype_size(v->dtype), oes = (int64_t)cpu_dtype_size(o->dtype);
    int64_t mes = m ? (int64_t)cpu_dtype_size(m->dtype) : 0;
    double *qv = scratch_for(&c->s, worker);
    double *kv = qv + dh; /* one key row, then one value row */
    double *sc = kv + (dh > dv ? dh : dv);
    double *acc = sc + sk;
    for (int64_t r = begin; r < end; r++) {
        int64_t i = r % sq, h = (r / sq) % hq, b = r / (sq * hq);
        int64_t hk = h / c->group;
        unsigned char *orow = cpu_tensor_base(o) + (b * o->strides[0] + h * o->strides[1] + i * o->strides[2]) * oes;
        int64_t lo, vis;
        attn_range(c, i, &lo, &vis);
        const unsigned char *qrow =
            cpu_tensor_base(q) + (b * q->strides[0] + h * q->strides[1] + i * q->strides[2]) * qes;
        cpu_load_vec(q->dtype, qrow, q->strides[3] * qes, dh, qv);
        double mx = -INFINITY;
        for (int64_t j = lo; j < vis; j++) {
            const unsigned char *krow =
                cpu_tensor_base(k) + (b * k->strides[0] + hk * k->strides[1] + j * k->strides[2]) * kes;
            cpu_load_vec(k->dtype, krow, k->strides[3] * kes, dh, kv);
            double dot = 0.0;
            for (int64_t t = 0; t < dh; t++) dot += qv[t] * kv[t];
            double s = attn_score(c, dot);
            if (m) {
                const unsigned char *mp =
                    cpu_tensor_base(m) +
                    (b * m->strides[0] + h * m->strides[1] + i * m->strides[2] + j * m->strides[3]) * mes;
                s += cpu_load_f64(m->dtype, mp);
            }
            sc[j] = s;
            if (s > mx || isnan(s)) mx = s;
        }
        for (int64_t t = 0; t < dv; t++) acc[t] = 0.0;
        if (vis > lo && mx != -INFINITY) {
            double sum = 0.0;
            for (int64_t j = lo; j < vis; j++) {
                sc[j] = exp(sc[j] - mx);
                sum += sc[j];
            }
            for (int64_t j = lo; j < vis; j++) {
                double p = sc[j] / sum;
                if (p == 0.0) continue;
                const unsigned char *vrow =
                    cpu_tensor_base(v) + (b * v->strides[0] + hk * v->strides[1] + j * v->strides[2]) * ves;
                cpu_load_vec(v->dtype, vrow, v->strides[3] * ves, dv, kv);
                for (int64_t t = 0; t < dv; t++) acc[t] += p * kv[t];
            }
        }
        /* else: no visible key (causal or a fully -inf mask): the row is 0 */
        cpu_store_vec(o->dtype, orow, o->strides[3] * oes, dv, acc);
    }
}

/* Blocked form: a task is one (batch, kv head) and a block of query positions; it
 * converts that kv head's K and V rows to double once and serves every query head of
 * the group from them, with 4-way unrolled dot products. */
typedef struct attn_blk_ctx {
    const attn_ctx *c;
    int64_t tq;   /* query positions per block */
    int64_t nblk; /* blocks per (b, kv head) */
    scratch s;    /* per worker: Sk*D + Sk*Dv + D + Sk + Dv */
} attn_blk_ctx;

static double dot4(const double *a, const double *b, int64_t n)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t t = 0;
    for (; t + 4 <= n; t += 4) {
        s0 += a[t] * b[t];
        s1 += a[t + 1] * b[t + 1];
        s2 += a[t + 2] * b[t + 2];
        s3 += a[t + 3] * b[t + 3];
    }
    for (; t < n; t++) s0 += a[t] * b[t];
    return (s0 + s1) + (s2 + s3);
}

static void attn_blocks(void *vctx, int64_t begin, int64_t end, int worker)
{
    const attn_blk_ctx *bc = vctx;
    const attn_ctx *c = bc->c;
    const xhal_tensor_desc *q = c->q, *k = c->k, *v = c->v, *m = c->mask, *o = c->o;
    int64_t hkv = k->shape[1], sq = q->shape[2], dh = q->shape[3];
    int64_t sk = k->shape[2], dv = v->shape[3];
    int64_t qes = (int64_t)cpu_dtype_size(q->dtype), kes = (int64_t)cpu_dtype_size(k->dtype);
    int64_t ves = (int64_t)cpu_dtype_size(v->dtype), oes = (int64_t)cpu_dtype_size(o->dtype);
    int64_t mes = m ? (int64_t)cpu_dtype_size(m->dtype) : 0;
    double *kc = scratch_for(&bc->s, worker);
    double *vc = kc + sk * dh;
    double *qv = vc + sk * dv;
    double *sc = qv + dh;
    double *acc = sc + sk;
    for (int64_t task = begin; task < end; task++) {
        int64_t blk = task % bc->nblk, hk = (task / bc->nblk) % hkv, b = task / (bc->nblk * hkv);
        int64_t i0 = blk * bc->tq, i1 = i0 + bc->tq < sq ? i0 + bc->tq : sq;
        /* keys any row of the block can see */
        int64_t kmin, kmax, unused;
        attn_range(c, i0, &kmin, &unused);
        attn_range(c, i1 - 1, &unused, &kmax);
        for (int64_t j = kmin; j < kmax; j++) {
            cpu_load_vec(k->dtype,
                         cpu_tensor_base(k) + (b * k->strides[0] + hk * k->strides[1] + j * k->strides[2]) * kes,
                         k->strides[3] * kes, dh, kc + j * dh);
            cpu_load_vec(v->dtype,
                         cpu_tensor_base(v) + (b * v->strides[0] + hk * v->strides[1] + j * v->strides[2]) * ves,
                         v->strides[3] * ves, dv, vc + j * dv);
        }
        for (int64_t g = 0; g < c->group; g++) {
            int64_t h = hk * c->group + g;
            for (int64_t i = i0; i < i1; i++) {
                int64_t lo, vis;
                attn_range(c, i, &lo, &vis);
                const unsigned char *qrow =
                    cpu_tensor_base(q) + (b * q->strides[0] + h * q->strides[1] + i * q->strides[2]) * qes;
                cpu_load_vec(q->dtype, qrow, q->strides[3] * qes, dh, qv);
                double mx = -INFINITY;
                for (int64_t j = lo; j < vis; j++) {
                    double s = attn_score(c, dot4(qv, kc + j * dh, dh));
                    if (m)
                        s += cpu_load_f64(m->dtype, cpu_tensor_base(m) + (b * m->strides[0] + h * m->strides[1] +
                                                                          i * m->strides[2] + j * m->strides[3]) *
                                                                             mes);
                    sc[j] = s;
                    if (s > mx || isnan(s)) mx = s;
                }
                for (int64_t t = 0; t < dv; t++) acc[t] = 0.0;
                if (vis > lo && mx != -INFINITY) {
                    double sum = 0.0;
                    for (int64_t j = lo; j < vis; j++) {
                        sc[j] = exp(sc[j] - mx);
                        sum += sc[j];
                    }
                    for (int64_t j = lo; j < vis; j++) {
                        double p = sc[j] / sum;
                        const double *vr = vc + j * dv;
                        for (int64_t t = 0; t < dv; t++) acc[t] += p * vr[t];
                    }
                }
                /* else: no visible key (a fully -inf mask): the row is 0 */
                unsigned char *orow =
                    cpu_tensor_base(o) + (b * o->strides[0] + h * o->strides[1] + i * o->strides[2]) * oes;
                cpu_store_vec(o->dtype, orow, o->strides[3] * oes, dv, acc);
            }
        }
    }
}

/* One output row of attention in f32 (f32, f16, bf16 tensors): query i of head h in batch b
 * over its first vis keys. K and V rows come from kc/vc (converted once per block by
 * attn_blocks_f32) or, when those are NULL, are converted here into buf (max(D, 4 Dv)
 * floats) as they are needed; the arithmetic is the same either way, so the streaming
 * fallback gives the blocked path's result bit for bit. Vector dots, exp and P v as 4-row
 * axpy; the row is divided by the sum of the exponentials at the end. */
static void attn_row_f32(const attn_ctx *c, const cpu_simd_ops *ops, int64_t b, int64_t h, int64_t i, int64_t lo,
                         int64_t vis, const float *kc, const float *vc, float *buf, float *qv, float *sc, float *acc)
{
    const xhal_tensor_desc *q = c->q, *k = c->k, *v = c->v, *m = c->mask, *o = c->o;
    int64_t dh = q->shape[3], dv = v->shape[3];
    int64_t hk = h / c->group;
    int64_t qes = (int64_t)cpu_dtype_size(q->dtype), kes = (int64_t)cpu_dtype_size(k->dtype);
    int64_t ves = (int64_t)cpu_dtype_size(v->dtype), oes = (int64_t)cpu_dtype_size(o->dtype);
    int64_t mes = m ? (int64_t)cpu_dtype_size(m->dtype) : 0;
    const unsigned char *kb = cpu_tensor_base(k) + (b * k->strides[0] + hk * k->strides[1]) * kes;
    const unsigned char *vb = cpu_tensor_base(v) + (b * v->strides[0] + hk * v->strides[1]) * ves;
    float scale = (float)c->scale;
    const unsigned char *qrow = cpu_tensor_base(q) + (b * q->strides[0] + h * q->strides[1] + i * q->strides[2]) * qes;
    load_f32(ops, q->dtype, qrow, q->strides[3] * qes, dh, qv);
    float mx = -INFINITY;
    float cap = (float)c->softcap;
    for (int64_t j = lo; j < vis; j++) {
        const float *kr = kc ? kc + j * dh : buf;
        if (!kc) load_f32(ops, k->dtype, kb + j * k->strides[2] * kes, k->strides[3] * kes, dh, buf);
        float s = ops->dot(XHAL_DTYPE_F32, qv, kr, dh) * scale;
        if (cap > 0.0f) s = cap * tanhf(s / cap);
        if (m)
            s += (float)cpu_load_f64(
                m->dtype, cpu_tensor_base(m) +
                              (b * m->strides[0] + h * m->strides[1] + i * m->strides[2] + j * m->strides[3]) * mes);
        sc[j] = s;
        if (s > mx || isnan(s)) mx = s;
    }
    memset(acc, 0, (size_t)dv * sizeof(float));
    if (vis > lo && mx != -INFINITY) {
        /* a NaN score makes mx NaN and so every weight NaN */
        double sum = ops->exp_sum(sc + lo, vis - lo, mx);
        int64_t ldv = dv * (int64_t)sizeof(float);
        for (int64_t j = lo; j < vis; j += 4) {
            int nr = vis - j < 4 ? (int)(vis - j) : 4;
            const float *vr = vc ? vc + j * dv : buf;
            if (!vc)
                for (int r = 0; r < nr; r++)
                    load_f32(ops, v->dtype, vb + (j + r) * v->strides[2] * ves, v->strides[3] * ves, dv, buf + r * dv);
            ops->axpy(XHAL_DTYPE_F32, nr, sc + j, vr, ldv, acc, dv);
        }
        ops->scale(acc, dv, (float)(1.0 / sum));
    }
    /* else: no visible key (causal or a fully -inf mask): the row is 0 */
    unsigned char *orow = cpu_tensor_base(o) + (b * o->strides[0] + h * o->strides[1] + i * o->strides[2]) * oes;
    store_f32(ops, o->dtype, orow, o->strides[3] * oes, dv, acc);
}

/* The blocked form in f32: K and V rows of a (batch, kv head) converted once per block of
 * queries and shared by the group's query heads. */
static void attn_blocks_f32(void *vctx, int64_t begin, int64_t end, int worker)
{
    const attn_blk_ctx *bc = vctx;
    const attn_ctx *c = bc->c;
    const xhal_tensor_desc *q = c->q, *k = c->k, *v = c->v;
    const cpu_simd_ops *ops = cpu_simd();
    int64_t hkv = k->shape[1], sq = q->shape[2], dh = q->shape[3];
    int64_t sk = k->shape[2], dv = v->shape[3];
    int64_t kes = (int64_t)cpu_dtype_size(k->dtype), ves = (int64_t)cpu_dtype_size(v->dtype);
    float *kc = (float *)scratch_for(&bc->s, worker);
    float *vc = kc + sk * dh;
    float *qv = vc + sk * dv;
    float *sc = qv + dh;
    float *acc = sc + sk;
    for (int64_t task = begin; task < end; task++) {
        int64_t blk = task % bc->nblk, hk = (task / bc->nblk) % hkv, b = task / (bc->nblk * hkv);
        int64_t i0 = blk * bc->tq, i1 = i0 + bc->tq < sq ? i0 + bc->tq : sq;
        int64_t kmin, kmax, unused;
        attn_range(c, i0, &kmin, &unused);
        attn_range(c, i1 - 1, &unused, &kmax);
        for (int64_t j = kmin; j < kmax; j++) {
            load_f32(ops, k->dtype,
                     cpu_tensor_base(k) + (b * k->strides[0] + hk * k->strides[1] + j * k->strides[2]) * kes,
                     k->strides[3] * kes, dh, kc + j * dh);
            load_f32(ops, v->dtype,
                     cpu_tensor_base(v) + (b * v->strides[0] + hk * v->strides[1] + j * v->strides[2]) * ves,
                     v->strides[3] * ves, dv, vc + j * dv);
        }
        for (int64_t g = 0; g < c->group; g++) {
            int64_t h = hk * c->group + g;
            for (int64_t i = i0; i < i1; i++) {
                int64_t lo, vis;
                attn_range(c, i, &lo, &vis);
                attn_row_f32(c, ops, b, h, i, lo, vis, kc, vc, NULL, qv, sc, acc);
            }
        }
    }
}

/* The streaming form in f32 (no room for the K/V caches): one output row per item. */
static void attn_rows_f32(void *vctx, int64_t begin, int64_t end, int worker)
{
    const attn_ctx *c = vctx;
    const cpu_simd_ops *ops = cpu_simd();
    int64_t hq = c->q->shape[1], sq = c->q->shape[2], dh = c->q->shape[3];
    int64_t sk = c->k->shape[2], dv = c->v->shape[3];
    float *qv = (float *)scratch_for(&c->s, worker);
    float *buf = qv + dh;
    float *sc = buf + (dh > 4 * dv ? dh : 4 * dv);
    float *acc = sc + sk;
    for (int64_t r = begin; r < end; r++) {
        int64_t i = r % sq, h = (r / sq) % hq, b = r / (sq * hq);
        int64_t lo, vis;
        attn_range(c, i, &lo, &vis);
        attn_row_f32(c, ops, b, h, i, lo, vis, NULL, NULL, buf, qv, sc, acc);
    }
}

xhal_status cpu_run_attention(cpu_state *st, const xhal_op_desc *d)
{
    attn_ctx c;
    memset(&c, 0, sizeof(c));
    c.q = &d->inputs[0];
    c.k = &d->inputs[1];
    c.v = &d->inputs[2];
    c.mask = d->attrs.attention.has_mask ? &d->inputs[3] : NULL;
    c.o = &d->outputs[0];
    c.scale = d->attrs.attention.scale;
    c.causal = d->attrs.attention.causal;
    c.window = d->attrs.attention.window;
    c.softcap = d->attrs.attention.softcap;
    c.p0 = d->attrs.attention.has_q_pos0 ? d->attrs.attention.q_pos0 : c.k->shape[2] - c.q->shape[2];
    int64_t bsz = c.q->shape[0], hkv = c.k->shape[1], sq = c.q->shape[2];
    c.group = hkv > 0 ? c.q->shape[1] / hkv : 1;
    if (c.group < 1) c.group = 1;
    int64_t dh = c.q->shape[3], dv = c.v->shape[3], sk = c.k->shape[2];
    int64_t cache = sk * (dh + dv);
    int f32 = f32_path(c.q->dtype) && f32_path(c.k->dtype) && f32_path(c.v->dtype) && f32_path(c.o->dtype);
    if (cache <= st->attn_cache_max) {
        attn_blk_ctx bc;
        bc.c = &c;
        /* enough blocks for every worker, at most 64 positions each */
        int64_t workers = cpu_pool_workers(st->pool);
        int64_t groups = bsz * hkv > 0 ? bsz * hkv : 1;
        int64_t want = (4 * workers + groups - 1) / groups;
        bc.tq = (sq + want - 1) / want;
        if (bc.tq > 64) bc.tq = 64;
        if (bc.tq < 1) bc.tq = 1;
        bc.nblk = (sq + bc.tq - 1) / bc.tq;
        xhal_status s = scratch_alloc(st, &bc.s, cache + dh + sk + dv, "attention");
        if (s == XHAL_OK) {
            cpu_parallel_for(st->pool, bsz * hkv * bc.nblk, 1, f32 ? attn_blocks_f32 : attn_blocks, &bc);
            cpu_free(bc.s.mem);
            return XHAL_OK;
        }
        /* no room for the caches: stream rows below with less scratch */
    }
    /* per worker in doubles: q, one K or V row, scores, out row (f32 needs less: q, a K row
     * or 4 V rows, scores, out row) */
    int64_t per = f32 ? (dh + (dh > 4 * dv ? dh : 4 * dv) + sk + dv + 1) / 2 + 1 : dh + (dh > dv ? dh : dv) + sk + dv;
    xhal_status s = scratch_alloc(st, &c.s, per, "attention");
    if (s != XHAL_OK) return s;
    int64_t rows = c.q->shape[0] * c.q->shape[1] * c.q->shape[2];
    cpu_parallel_for(st->pool, rows, row_grain(sk * (dh + dv)), f32 ? attn_rows_f32 : attn_rows, &c);
    cpu_free(c.s.mem);
    return XHAL_OK;
}

/* ------------------------------------------------------------------------- */
/* GATHER                                                                     */
/* ------------------------------------------------------------------------- */
typedef struct gather_ctx {
    const xhal_tensor_desc *table, *idx, *o;
    int idx_nd;
} gather_ctx;

static int64_t load_index(const xhal_tensor_desc *idx, int64_t p, int64_t *pos)
{
    const unsigned char *ip = cpu_tensor_base(idx) + cpu_row_offset(idx, idx->ndim, p, pos);
    return cpu_load_i64(idx->dtype, ip);
}

static void gather_copy_run(void *vctx, int64_t n, unsigned char *const *p, const int64_t *bs)
{
    size_t es = *(const size_t *)vctx;
    if (bs[0] == (int64_t)es && bs[1] == (int64_t)es) {
        memcpy(p[1], p[0], (size_t)n * es);
        return;
    }
    for (int64_t i = 0; i < n; i++) memcpy(p[1] + i * bs[1], p[0] + i * bs[0], es);
}

static void gather_rows(void *vctx, int64_t begin, int64_t end, int worker)
{
    (void)worker;
    const gather_ctx *c = vctx;
    const xhal_tensor_desc *t = c->table, *o = c->o;
    size_t es = cpu_dtype_size(t->dtype);
    int sub_nd = t->ndim - 1;
    static const unsigned char zero[8];
    static const int64_t zero_strides[XHAL_MAX_DIMS];
    for (int64_t p = begin; p < end; p++) {
        int64_t row = load_index(c->idx, p, NULL);
        int bad = row < 0 || row >= t->shape[0]; /* its rows of out are zeros (xhal_backend.h) */
        unsigned char *base[2] = {bad ? (unsigned char *)zero : cpu_tensor_base(t) + row * t->strides[0] * (int64_t)es,
                                  cpu_tensor_base(o) + cpu_row_offset(o, c->idx_nd, p, NULL)};
        const int64_t *strides[2] = {bad ? zero_strides : t->strides + 1, o->strides + c->idx_nd};
        size_t ess[2] = {es, es};
        cpu_iter it;
        cpu_iter_init(&it, sub_nd, t->shape + 1, 2, base, strides, ess);
        cpu_iter_run(NULL, &it, gather_copy_run, &es, 0, 0);
    }
}

xhal_status cpu_run_gather(cpu_state *st, const xhal_op_desc *d)
{
    gather_ctx c;
    c.table = &d->inputs[0];
    c.idx = &d->inputs[1];
    c.o = &d->outputs[0];
    c.idx_nd = c.idx->ndim;
    int64_t v = c.table->shape[0];
    int64_t n = cpu_numel(c.idx);
    /* the bounds guard: the first index outside [0, v) in row-major order goes to the status
     * output, where the core finds it (gather_rows writes zeros for every bad one) */
    if (d->n_outputs > 1) {
        int64_t *status = (int64_t *)cpu_tensor_base(xhal_op_desc_output(d, 1));
        for (int64_t p = 0; p < n && status[XHAL_OP_STATUS_OP] == 0; p++) {
            int64_t k = load_index(c.idx, p, NULL);
            if (k < 0 || k >= v) xhal_op_status_record(status, XHAL_OP_GATHER, k, v, c.idx_nd, c.idx->shape, p);
        }
    }
    int64_t row_len = cpu_numel(c.table) / (v > 0 ? v : 1);
    cpu_parallel_for(st->pool, n, row_grain(row_len), gather_rows, &c);
    return XHAL_OK;
}

/* ------------------------------------------------------------------------- */
/* TOPK                                                                       */
/* ------------------------------------------------------------------------- */
typedef struct topk_item {
    double v;
    int64_t i;
} topk_item;

/* 1 if a ranks before b: NaN above every number, equal values by ascending index. */
static int topk_before(const topk_item *a, const topk_item *b, int largest)
{
    int an = isnan(a->v), bn = isnan(b->v);
    if (an || bn) {
        if (an && bn) return a->i < b->i;
        return largest ? an : bn; /* largest: NaN first; smallest: NaN last */
    }
    if (a->v != b->v) return largest ? a->v > b->v : a->v < b->v;
    return a->i < b->i;
}

static int topk_cmp_largest(const void *a, const void *b)
{
    return topk_before(a, b, 1) ? -1 : topk_before(b, a, 1) ? 1 : 0;
}

static int topk_cmp_smallest(const void *a, const void *b)
{
    return topk_before(a, b, 0) ? -1 : topk_before(b, a, 0) ? 1 : 0;
}

/* k up to this keeps a sorted prefix (O(n k)); above it the row is sorted (O(n log n)) */
#define TOPK_INSERT_MAX 32

typedef struct topk_ctx {
    const xhal_tensor_desc *x, *vals, *idx;
    int64_t k;
    int largest;
    scratch s; /* per worker: N items (two doubles each) */
} topk_ctx;

static void topk_rows(void *vctx, int64_t begin, int64_t end, int worker)
{
    const topk_ctx *c = vctx;
    const xhal_tensor_desc *x = c->x, *vo = c->vals, *io = c->idx;
    int nd = x->ndim;
    int64_t n = x->shape[nd - 1], k = c->k;
    int64_t xs = bstride(x, nd - 1), vs = bstride(vo, nd - 1), is = bstride(io, nd - 1);
    size_t ves = cpu_dtype_size(vo->dtype);
    topk_item *it = (topk_item *)scratch_for(&c->s, worker);
    for (int64_t r = begin; r < end; r++) {
        const unsigned char *xr = cpu_tensor_base(x) + cpu_row_offset(x, nd - 1, r, NULL);
        unsigned char *vr = cpu_tensor_base(vo) + cpu_row_offset(vo, nd - 1, r, NULL);
        unsigned char *ir = cpu_tensor_base(io) + cpu_row_offset(io, nd - 1, r, NULL);
        if (k > TOPK_INSERT_MAX) {
            for (int64_t j = 0; j < n; j++) it[j] = (topk_item){cpu_load_f64(x->dtype, xr + j * xs), j};
            qsort(it, (size_t)n, sizeof *it, c->largest ? topk_cmp_largest : topk_cmp_smallest);
        }
        /* insertion into a sorted prefix of k: O(n k), and k is small where it matters (routing) */
        int64_t m = 0;
        for (int64_t j = 0; j < n && k <= TOPK_INSERT_MAX; j++) {
            topk_item e = {cpu_load_f64(x->dtype, xr + j * xs), j};
            if (m == k && !topk_before(&e, &it[k - 1], c->largest)) continue;
            int64_t p = m < k ? m++ : k - 1;
            while (p > 0 && topk_before(&e, &it[p - 1], c->largest)) {
                it[p] = it[p - 1];
                p--;
            }
            it[p] = e;
        }
        for (int64_t j = 0; j < k; j++) {
            /* the value is x's element itself: copy its bytes, no conversion */
            memcpy(vr + j * vs, xr + it[j].i * xs, ves);
            if (io->dtype == XHAL_DTYPE_I32) {
                int32_t v = (int32_t)it[j].i;
                memcpy(ir + j * is, &v, 4);
            } else {
                int64_t v = it[j].i;
                memcpy(ir + j * is, &v, 8);
            }
        }
    }
}

xhal_status cpu_run_topk(cpu_state *st, const xhal_op_desc *d)
{
    topk_ctx c;
    memset(&c, 0, sizeof c);
    c.x = &d->inputs[0];
    c.vals = &d->outputs[0];
    c.idx = &d->more_outputs[0];
    c.k = d->attrs.topk.k;
    c.largest = d->attrs.topk.largest;
    int64_t n = c.x->shape[c.x->ndim - 1];
    /* items are two doubles wide; scratch counts doubles */
    xhal_status s = scratch_alloc(st, &c.s, 2 * ((c.k > TOPK_INSERT_MAX ? n : c.k) + 1), "topk");
    if (s != XHAL_OK) return s;
    cpu_parallel_for(st->pool, cpu_numel(c.x) / (n > 0 ? n : 1), row_grain(n * (c.k < 8 ? c.k : 8)), topk_rows, &c);
    cpu_free(c.s.mem);
    return XHAL_OK;
}
