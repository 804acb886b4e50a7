/* mutant: the CPU reference backend with one injected defect (tests/conformance/mutants.h),
 * chosen by XHAL_MUTANT=<number> when the plugin is entered (0 or unset: no defect). It
 * dlopens the built CPU plugin (XC_CPU_PLUGIN), takes its table and forwards everything,
 * except op_run of the mutant's op. The CPU backend runs ops synchronously on host memory
 * (backends/cpu/cpu_internal.h), so a mutant can compute on its buffers directly. Device
 * spec prefix "mutant". Test-only: never installed, never on a default plugin path. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xhal/plugin/xhal_plugin.h"
#include "cpu_internal.h" /* cpu_buffer: what a CPU buffer handle points to */
#include "mutants.h"
#include "xhal/plugin/xhal_names.h" /* xhal_value_bits */

static xhal_backend_table table;
static const xhal_backend_table *cpu;
static int mutant;

/* ---------------------------------------------------------------------------------- */
/* Host-memory helpers                                                                */
/* ---------------------------------------------------------------------------------- */
static unsigned char *base(const xhal_tensor_desc *t) { return ((cpu_buffer *)t->buffer)->data + t->offset; }
static int64_t numel(const xhal_tensor_desc *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
    return n;
}
/* element offset (in elements) of logical index idx */
static int64_t eoff(const xhal_tensor_desc *t, const int64_t *idx)
{
    int64_t o = 0;
    for (int d = 0; d < t->ndim; d++) o += idx[d] * t->strides[d];
    return o;
}
static void unravel(int64_t i, int ndim, const int64_t *shape, int64_t *idx)
{
    for (int d = ndim - 1; d >= 0; d--) {
        idx[d] = shape[d] ? i % shape[d] : 0;
        i = shape[d] ? i / shape[d] : 0;
    }
}
static float *F(const xhal_tensor_desc *t, const int64_t *idx) { return (float *)base(t) + eoff(t, idx); }
static size_t dsize(int dt)
{
    switch (dt) {
        case XHAL_DTYPE_F64:
        case XHAL_DTYPE_I64: return 8;
        case XHAL_DTYPE_F32:
        case XHAL_DTYPE_I32: return 4;
        case XHAL_DTYPE_F16:
        case XHAL_DTYPE_BF16: return 2;
        default: return 1;
    }
}
/* 1 if every element of t lies inside its buffer (a perturbed descriptor must not read or
 * write outside memory it was given: the point is a wrong answer, not a crash) */
static int fits(const xhal_tensor_desc *t)
{
    uint64_t hi = t->offset;
    for (int d = 0; d < t->ndim; d++) {
        if (t->shape[d] == 0) return 1;
        hi += (uint64_t)(t->shape[d] - 1) * (uint64_t)t->strides[d] * dsize(t->dtype);
    }
    return hi + dsize(t->dtype) <= ((cpu_buffer *)t->buffer)->size;
}
static void dense_strides(xhal_tensor_desc *t, int from_dim)
{
    int64_t s = 1;
    for (int d = t->ndim - 1; d >= from_dim; d--) {
        t->strides[d] = s;
        s *= t->shape[d];
    }
}

/* ---------------------------------------------------------------------------------- */
/* Ops computed with a defect (f32)                                                    */
/* ---------------------------------------------------------------------------------- */
static xhal_status softmax_f32(const xhal_op_desc *d, int nomax, int extra_visible)
{
    const xhal_tensor_desc *x = &d->inputs[0], *y = &d->outputs[0];
    int nd = x->ndim;
    int64_t D = x->shape[nd - 1], Sq = nd >= 2 ? x->shape[nd - 2] : 1, rows = numel(x) / D;
    float s = (float)d->attrs.softmax.scale;
    int64_t idx[XHAL_MAX_DIMS];
    for (int64_t r = 0; r < rows; r++) {
        unravel(r * D, nd, x->shape, idx);
        int64_t vis = D;
        if (d->attrs.softmax.causal) {
            vis = (r % Sq) + (D - Sq) + 1 + extra_visible;
            if (vis > D) vis = D;
            if (vis < 0) vis = 0;
        }
        float m = -INFINITY;
        for (int64_t j = 0; j < vis && !nomax; j++) {
            idx[nd - 1] = j;
            float v = s * *F(x, idx);
            if (v > m || isnan(v)) m = v;
        }
        if (nomax) m = 0;
        double sum = 0;
        for (int64_t j = 0; j < vis; j++) {
            idx[nd - 1] = j;
            sum += expf(s * *F(x, idx) - m);
        }
        for (int64_t j = 0; j < D; j++) {
            idx[nd - 1] = j;
            float v = j < vis ? (float)(expf(s * *F(x, idx) - m) / sum) : 0.0f;
            *F(y, idx) = v;
        }
    }
    return XHAL_OK;
}

static xhal_status norm_f32(const xhal_op_desc *d)
{
    const xhal_tensor_desc *x = &d->inputs[0], *y = &d->outputs[0];
    const xhal_tensor_desc *w = d->attrs.norm.has_weight ? &d->inputs[1] : NULL;
    const xhal_tensor_desc *b = d->attrs.norm.has_bias ? &d->inputs[w ? 2 : 1] : NULL;
    int nd = x->ndim, ln = d->op == XHAL_OP_LAYER_NORM;
    int64_t D = x->shape[nd - 1], rows = numel(x) / D;
    double eps = d->attrs.norm.eps;
    int64_t idx[XHAL_MAX_DIMS];
    for (int64_t r = 0; r < rows; r++) {
        unravel(r * D, nd, x->shape, idx);
        double mu = 0, ss = 0;
        for (int64_t j = 0; j < D; j++) {
            idx[nd - 1] = j;
            mu += *F(x, idx);
        }
        mu = ln ? mu / (double)D : 0;
        for (int64_t j = 0; j < D; j++) {
            idx[nd - 1] = j;
            double v = *F(x, idx) - mu;
            ss += v * v;
        }
        double inv;
        if (ln)
            inv = 1.0 / sqrt(ss / (double)(D > 1 ? D - 1 : 1) + eps); /* LN_VAR_UNBIASED */
        else
            inv = 1.0 / (sqrt(ss / (double)D) + eps); /* RMS_EPS_OUTSIDE */
        for (int64_t j = 0; j < D; j++) {
            idx[nd - 1] = j;
            double v = (*F(x, idx) - mu) * inv;
            if (w) v *= ((float *)base(w))[j * w->strides[0]];
            if (b) v += ((float *)base(b))[j * b->strides[0]];
            *F(y, idx) = (float)v;
        }
    }
    return XHAL_OK;
}

/* extra_visible: causal lets that many more keys through; gqa_mod: head h uses kv head h % Hkv;
 * cap_after_mask: the softcap is applied after the mask is added. Window, softcap and q_pos0
 * as xhal_backend.h says otherwise. */
static xhal_status attention_f32(const xhal_op_desc *d, int extra_visible, int gqa_mod, int cap_after_mask)
{
    const xhal_tensor_desc *q = &d->inputs[0], *k = &d->inputs[1], *v = &d->inputs[2], *o = &d->outputs[0];
    const xhal_tensor_desc *mask = d->attrs.attention.has_mask ? &d->inputs[3] : NULL;
    int64_t B = q->shape[0], Hq = q->shape[1], Sq = q->shape[2], D = q->shape[3];
    int64_t Hkv = k->shape[1], Sk = k->shape[2], Dv = v->shape[3];
    double scale = d->attrs.attention.scale, cap = d->attrs.attention.softcap;
    int64_t p0 = d->attrs.attention.has_q_pos0 ? d->attrs.attention.q_pos0 : Sk - Sq, win = d->attrs.attention.window;
    double *p = malloc(sizeof(double) * (size_t)(Sk ? Sk : 1));
    if (!p) return XHAL_ERROR_OUT_OF_MEMORY;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < Hq; h++) {
            int64_t hk = gqa_mod ? h % Hkv : h / (Hq / Hkv);
            for (int64_t i = 0; i < Sq; i++) {
                int64_t vis = d->attrs.attention.causal ? p0 + i + 1 + extra_visible : Sk;
                if (vis > Sk) vis = Sk;
                if (vis < 0) vis = 0;
                int64_t lo = win > 0 ? p0 + i - win + 1 : 0;
                if (lo < 0) lo = 0;
                if (lo > vis) lo = vis;
                double mx = -INFINITY;
                for (int64_t j = lo; j < vis; j++) {
                    double s = 0;
                    for (int64_t e = 0; e < D; e++) {
                        int64_t qi[4] = {b, h, i, e}, ki[4] = {b, hk, j, e};
                        s += (double)*F(q, qi) * (double)*F(k, ki);
                    }
                    s *= scale;
                    if (cap > 0 && !cap_after_mask) s = cap * tanh(s / cap);
                    if (mask) {
                        int64_t mi[4] = {b, h, i, j};
                        s += *F(mask, mi);
                    }
                    if (cap > 0 && cap_after_mask) s = cap * tanh(s / cap);
                    p[j] = s;
                    if (s > mx || isnan(s)) mx = s;
                }
                double sum = 0;
                for (int64_t j = lo; j < vis; j++) {
                    p[j] = exp(p[j] - mx);
                    sum += p[j];
                }
                for (int64_t e = 0; e < Dv; e++) {
                    double acc = 0;
                    for (int64_t j = lo; j < vis; j++) {
                        int64_t vi[4] = {b, hk, j, e};
                        acc += p[j] / sum * *F(v, vi);
                    }
                    int64_t oi[4] = {b, h, i, e};
                    *F(o, oi) = vis > lo ? (float)acc : 0.0f;
                }
            }
        }
    free(p);
    return XHAL_OK;
}

/* reductions in keepdims form: out has size 1 at the axis */
static xhal_status reduce_f32(const xhal_op_desc *d)
{
    const xhal_tensor_desc *x = &d->inputs[0], *y = &d->outputs[0];
    int ax = d->attrs.reduce.axis, nd = x->ndim;
    int64_t R = x->shape[ax], n = numel(y), idx[XHAL_MAX_DIMS];
    for (int64_t i = 0; i < n; i++) {
        unravel(i, nd, y->shape, idx);
        float m = 0;
        int64_t arg = 0;
        int first = 1, nan = 0;
        for (int64_t r = 0; r < R; r++) {
            idx[ax] = r;
            float v = *F(x, idx);
            if (d->op == XHAL_OP_ARGMAX) {
                if (nan) continue;
                if (isnan(v)) {
                    nan = 1;
                    arg = r;
                    continue;
                }
                if (first || v >= m) {
                    m = v;
                    arg = r;
                } /* ARGMAX_LAST: >= keeps the last tie */
            } else {
                if (isnan(v)) continue; /* MAX_NAN_IGNORED */
                if (first || v > m) m = v;
            }
            first = 0;
        }
        idx[ax] = 0;
        if (d->op == XHAL_OP_ARGMAX) {
            int64_t o = eoff(y, idx);
            if (y->dtype == XHAL_DTYPE_I32)
                ((int32_t *)base(y))[o] = (int32_t)arg;
            else
                ((int64_t *)base(y))[o] = arg;
        } else {
            *F(y, idx) = first ? NAN : m;
        }
    }
    return XHAL_OK;
}

static xhal_status binary_f32(const xhal_op_desc *d)
{
    const xhal_tensor_desc *a = &d->inputs[0], *b = &d->inputs[1], *y = &d->outputs[0];
    int nd = y->ndim;
    int64_t n = numel(y), idx[XHAL_MAX_DIMS], j[XHAL_MAX_DIMS];
    for (int64_t i = 0; i < n; i++) {
        unravel(i, nd, y->shape, idx);
        float va = *F(a, idx), vb;
        if (d->op == XHAL_OP_ADD) {
            /* ADD_BCAST_MOD: b read as if materialized: out's linear index modulo the number
             * of elements b really holds, spread over b's non-broadcast dims */
            int64_t sh[XHAL_MAX_DIMS], st[XHAL_MAX_DIMS], nb = 1;
            int k = 0;
            for (int dd = 0; dd < nd; dd++)
                if (b->strides[dd] != 0 || b->shape[dd] == 1) {
                    sh[k] = b->shape[dd];
                    st[k] = b->strides[dd];
                    nb *= sh[k];
                    k++;
                }
            unravel(i % nb, k, sh, j);
            int64_t o = 0;
            for (int dd = 0; dd < k; dd++) o += j[dd] * st[dd];
            vb = ((float *)base(b))[o];
            *F(y, idx) = va + vb;
        } else {
            vb = *F(b, idx);
            /* MAXIMUM_NAN_IGNORED, MINIMUM_NAN_IGNORED */
            *F(y, idx) = d->op == XHAL_OP_MAXIMUM ? fmaxf(va, vb) : fminf(va, vb);
        }
    }
    return XHAL_OK;
}

static xhal_status unary_f32(const xhal_op_desc *d)
{
    const xhal_tensor_desc *x = &d->inputs[0], *y = &d->outputs[0];
    int64_t n = numel(y), idx[XHAL_MAX_DIMS];
    for (int64_t i = 0; i < n; i++) {
        unravel(i, y->ndim, y->shape, idx);
        float v = *F(x, idx), r;
        switch (d->op) {
            case XHAL_OP_GELU: r = 0.5f * v * (1.0f + tanhf(0.7978845608f * (v + 0.044715f * v * v * v))); break;
            case XHAL_OP_RELU: r = v > 0 ? v : 0.0f; break;                            /* RELU_NAN_ZERO */
            case XHAL_OP_TANH: r = (expf(2 * v) - 1.0f) / (expf(2 * v) + 1.0f); break; /* TANH_OVERFLOW */
            case XHAL_OP_RSQRT: {                                                      /* RSQRT_FAST */
                uint32_t u;
                memcpy(&u, &v, 4);
                u = 0x5f3759dfu - (u >> 1);
                memcpy(&r, &u, 4);
                r = r * (1.5f - 0.5f * v * r * r);
                if (!(v > 0) || isinf(v)) r = 1.0f / sqrtf(v); /* keep the special values right */
                break;
            }
            default: r = v * expf(v) / (1.0f + expf(v)); break; /* SILU_OVERFLOW */
        }
        *F(y, idx) = r;
    }
    return XHAL_OK;
}

/* ROPE_SIN_SIGN: the rotation by -angle */
static xhal_status rope_f32(const xhal_op_desc *d)
{
    const xhal_tensor_desc *x = &d->inputs[0], *y = &d->outputs[0];
    int nd = x->ndim, sa = d->attrs.rope.seq_axis;
    int64_t D = x->shape[nd - 1], rot = d->attrs.rope.rotary_dims, rows = numel(x) / D;
    int64_t idx[XHAL_MAX_DIMS];
    float tmp[1024];
    if (D > 1024) return XHAL_ERROR_UNSUPPORTED;
    for (int64_t r = 0; r < rows; r++) {
        unravel(r * D, nd, x->shape, idx);
        double p = (double)(d->attrs.rope.pos_offset + idx[sa]);
        for (int64_t j = 0; j < D; j++) {
            idx[nd - 1] = j;
            tmp[j] = *F(x, idx);
        }
        for (int64_t j = 0; j < D; j++) {
            float out = tmp[j];
            if (j < rot) {
                int64_t k, iu, iv;
                if (d->attrs.rope.layout == XHAL_ROPE_INTERLEAVED) {
                    k = j / 2;
                    iu = 2 * k;
                    iv = 2 * k + 1;
                } else {
                    k = j % (rot / 2);
                    iu = k;
                    iv = k + rot / 2;
                }
                double ang = -p * pow(d->attrs.rope.theta, -2.0 * (double)k / (double)rot);
                double u = tmp[iu], v = tmp[iv];
                out = (float)(j == iu ? u * cos(ang) - v * sin(ang) : u * sin(ang) + v * cos(ang));
            }
            idx[nd - 1] = j;
            *F(y, idx) = out;
        }
    }
    return XHAL_OK;
}

static xhal_status copy_bf16_trunc(const xhal_op_desc *d)
{
    const xhal_tensor_desc *x = &d->inputs[0], *y = &d->outputs[0];
    int64_t n = numel(y), idx[XHAL_MAX_DIMS];
    for (int64_t i = 0; i < n; i++) {
        unravel(i, y->ndim, y->shape, idx);
        float v = *F(x, idx);
        uint32_t u;
        memcpy(&u, &v, 4);
        uint16_t h = (uint16_t)(u >> 16);
        if (isnan(v)) h |= 0x40; /* keep NaN a NaN */
        ((uint16_t *)base(y))[eoff(y, idx)] = h;
    }
    return XHAL_OK;
}

/* TOPK_TIES_LAST: within each run of equal values (f32) the indices in reverse order */
static void topk_ties_last(const xhal_op_desc *d)
{
    const xhal_tensor_desc *v = &d->outputs[0], *ix = &d->more_outputs[0];
    int nd = v->ndim;
    int64_t k = v->shape[nd - 1], rows = numel(v) / (k ? k : 1), idx[XHAL_MAX_DIMS];
    for (int64_t r = 0; r < rows; r++) {
        unravel(r * k, nd, v->shape, idx);
        for (int64_t j = 0; j < k;) {
            idx[nd - 1] = j;
            float x = *F(v, idx);
            int64_t e = j + 1;
            for (; e < k; e++) {
                idx[nd - 1] = e;
                if (!(*F(v, idx) == x)) break;
            }
            for (int64_t a = j, b = e - 1; a < b; a++, b--) { /* swap indices a and b */
                int64_t ia[XHAL_MAX_DIMS], ib[XHAL_MAX_DIMS];
                memcpy(ia, idx, sizeof ia);
                memcpy(ib, idx, sizeof ib);
                ia[nd - 1] = a;
                ib[nd - 1] = b;
                size_t es = dsize(ix->dtype);
                unsigned char t[8], *pa = base(ix) + eoff(ix, ia) * (int64_t)es,
                                    *pb = base(ix) + eoff(ix, ib) * (int64_t)es;
                memcpy(t, pa, es);
                memcpy(pa, pb, es);
                memcpy(pb, t, es);
            }
            j = e;
        }
    }
}

static void f16_flush_subnormals(const xhal_op_desc *d)
{
    const xhal_tensor_desc *y = &d->outputs[0];
    int64_t n = numel(y), idx[XHAL_MAX_DIMS];
    for (int64_t i = 0; i < n; i++) {
        unravel(i, y->ndim, y->shape, idx);
        uint16_t *h = (uint16_t *)base(y) + eoff(y, idx);
        if ((*h & 0x7c00) == 0 && (*h & 0x3ff)) *h &= 0x8000;
    }
}

/* ---------------------------------------------------------------------------------- */
/* Block-quantized defects (layouts of backends/common/xhal_quant.h, decoded here by hand) */
/* ---------------------------------------------------------------------------------- */
static float f16_at(const unsigned char *p)
{
    uint16_t h = (uint16_t)(p[0] | (p[1] << 8));
    uint32_t s = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    float v = e == 0 ? ldexpf((float)m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexpf((float)(m | 0x400), (int)e - 25);
    return s ? -v : v;
}

/* Q4_0_NIBBLES_SWAPPED: out = a @ deq(b)^T with element j of a block in the high nibble of
 * qs[j] and j + 16 in the low one (the wrong order). f32 a and out, b q4_0 (xhal_backend.h:
 * b is [.., K, N] with K stride 1, blocks along K). */
static xhal_status qmatmul_q4_0_swapped(const xhal_op_desc *d)
{
    const xhal_tensor_desc *a = &d->inputs[0], *b = &d->inputs[1], *o = &d->outputs[0];
    int nd = o->ndim, bd = nd - 2;
    int64_t M = o->shape[bd], N = o->shape[bd + 1], K = a->shape[bd + 1], batch = 1, idx[XHAL_MAX_DIMS];
    for (int k = 0; k < bd; k++) batch *= o->shape[k];
    for (int64_t bi = 0; bi < batch; bi++) {
        unravel(bi, bd, o->shape, idx);
        int64_t ab = 0, bb = 0, ob = 0;
        for (int k = 0; k < bd; k++) {
            ab += idx[k] * a->strides[k];
            bb += idx[k] * b->strides[k];
            ob += idx[k] * o->strides[k];
        }
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                int64_t col = bb + n * b->strides[bd + 1];
                const unsigned char *blk = base(b) + col / 32 * 18;
                double acc = 0;
                for (int64_t k = 0; k < K; k += 32, blk += 18) {
                    float dd = f16_at(blk);
                    for (int j = 0; j < 16; j++) {
                        float w0 = (float)((blk[2 + j] >> 4) - 8) * dd, w1 = (float)((blk[2 + j] & 15) - 8) * dd;
                        acc += (double)((float *)base(a))[ab + m * a->strides[bd] + (k + j) * a->strides[bd + 1]] * w0;
                        acc += (double)((float *)base(a))[ab + m * a->strides[bd] + (k + j + 16) * a->strides[bd + 1]] *
                               w1;
                    }
                }
                float *op = (float *)base(o) + ob + m * o->strides[bd] + n * o->strides[bd + 1];
                double r = d->attrs.matmul.alpha * acc;
                if (d->attrs.matmul.beta != 0) r += d->attrs.matmul.beta * *op;
                *op = (float)r;
            }
    }
    return XHAL_OK;
}

/* Q8_0_SCALE_DROPPED: q8_0 -> f32 gives the codes themselves */
static xhal_status copy_q8_0_noscale(const xhal_op_desc *d)
{
    const xhal_tensor_desc *x = &d->inputs[0], *y = &d->outputs[0];
    int nd = y->ndim;
    int64_t n = numel(y), idx[XHAL_MAX_DIMS];
    for (int64_t i = 0; i < n; i++) {
        unravel(i, nd, y->shape, idx);
        int64_t lin = eoff(x, idx);
        const unsigned char *blk = base(x) + lin / 32 * 34;
        *F(y, idx) = (float)(signed char)blk[2 + lin % 32];
    }
    return XHAL_OK;
}

/* ---------------------------------------------------------------------------------- */
/* The mutated op_run                                                                 */
/* ---------------------------------------------------------------------------------- */
static int target_op(void)
{
    switch (mutant) {
#define XC_MUTANT_OP(name, op, how, what) \
    case XC_MUTANT_##name: return XHAL_OP_##op;
        XC_MUTANTS(XC_MUTANT_OP)
#undef XC_MUTANT_OP
        default: return -1;
    }
}

static xhal_status m_op_run(void *state, void *stream, const xhal_op_desc *desc)
{
    if (mutant == XC_MUTANT_NONE || desc->op != target_op()) return cpu->op_run(state, stream, desc);
    xhal_op_desc d = *desc;
    int f32 = d.outputs[0].dtype == XHAL_DTYPE_F32 && (d.n_inputs == 0 || d.inputs[0].dtype == XHAL_DTYPE_F32);
    switch (mutant) {
        case XC_MUTANT_RMS_EPS_ZERO:
        case XC_MUTANT_LN_EPS_ZERO: d.attrs.norm.eps = 0; break;
        case XC_MUTANT_RMS_EPS_FIXED:
        case XC_MUTANT_LN_EPS_FIXED: d.attrs.norm.eps = 1e-5; break;
        case XC_MUTANT_RMS_WEIGHT_IGNORED:
            d.attrs.norm.has_weight = 0;
            d.n_inputs = 1;
            break;
        case XC_MUTANT_LN_BIAS_IGNORED:
            if (d.attrs.norm.has_bias) d.n_inputs--;
            d.attrs.norm.has_bias = 0;
            break;
        case XC_MUTANT_LN_NO_MEAN:
            if (!d.attrs.norm.has_weight) break; /* rms_norm's inputs are x and weight only */
            d.op = XHAL_OP_RMS_NORM;
            if (d.attrs.norm.has_bias) d.n_inputs--;
            d.attrs.norm.has_bias = 0;
            break;
        case XC_MUTANT_SOFTMAX_SCALE_IGNORED: d.attrs.softmax.scale = 1.0; break;
        case XC_MUTANT_SOFTMAX_CAUSAL_IGNORED: d.attrs.softmax.causal = 0; break;
        case XC_MUTANT_ATTN_SCALE_DEFAULT: d.attrs.attention.scale = 1.0 / sqrt((double)d.inputs[0].shape[3]); break;
        case XC_MUTANT_ATTN_CAUSAL_IGNORED: d.attrs.attention.causal = 0; break;
        case XC_MUTANT_ATTN_MASK_IGNORED:
            if (d.attrs.attention.has_mask) d.n_inputs = 3;
            d.attrs.attention.has_mask = 0;
            break;
        case XC_MUTANT_ROPE_LAYOUT_SWAPPED:
            d.attrs.rope.layout = d.attrs.rope.layout == XHAL_ROPE_HALF ? XHAL_ROPE_INTERLEAVED : XHAL_ROPE_HALF;
            break;
        case XC_MUTANT_ROPE_POS_IGNORED: d.attrs.rope.pos_offset = 0; break;
        case XC_MUTANT_ROPE_THETA_FIXED: d.attrs.rope.theta = 10000.0; break;
        case XC_MUTANT_ROPE_ROTARY_FULL:
            d.attrs.rope.rotary_dims = (int32_t)d.inputs[0].shape[d.inputs[0].ndim - 1];
            break;
        case XC_MUTANT_MATMUL_BETA_IGNORED: d.attrs.matmul.beta = 0; break;
        case XC_MUTANT_MATMUL_ALPHA_IGNORED: d.attrs.matmul.alpha = 1; break;
        case XC_MUTANT_MATMUL_B_ROW_MAJOR:
            dense_strides(&d.inputs[1], d.inputs[1].ndim - 2);
            if (!fits(&d.inputs[1])) d = *desc;
            break;
        case XC_MUTANT_SCALE_BETA_IGNORED: d.attrs.scale.beta = 0; break;
        case XC_MUTANT_EXP_CONTIG_IN:
            dense_strides(&d.inputs[0], 0);
            if (!fits(&d.inputs[0])) d = *desc;
            break;
        case XC_MUTANT_ADD_CONTIG_OUT:
            dense_strides(&d.outputs[0], 0);
            if (!fits(&d.outputs[0])) d = *desc;
            break;
        case XC_MUTANT_SUB_SWAPPED: {
            xhal_tensor_desc t = d.inputs[0];
            d.inputs[0] = d.inputs[1];
            d.inputs[1] = t;
            break;
        }
        case XC_MUTANT_MEAN_IS_SUM: d.op = XHAL_OP_SUM; break;
        case XC_MUTANT_ROPE_POSITIONS_IGNORED:
            if (!d.attrs.rope.has_positions) break;
            for (int i = 1; i + 1 < d.n_inputs; i++) d.inputs[i] = d.inputs[i + 1];
            d.n_inputs--;
            d.attrs.rope.has_positions = 0;
            break;
        case XC_MUTANT_ROPE_POSITIONS_BATCH0:
            if (d.attrs.rope.has_positions)
                for (int i = 0; i < d.attrs.rope.seq_axis; i++) d.inputs[1].strides[i] = 0;
            break;
        case XC_MUTANT_ROPE_INV_FREQ_IGNORED:
            if (d.attrs.rope.has_inv_freq) d.n_inputs--;
            d.attrs.rope.has_inv_freq = 0;
            break;
        case XC_MUTANT_ROPE_FACTOR_IGNORED: d.attrs.rope.attention_factor = 1.0; break;
        case XC_MUTANT_ATTN_WINDOW_IGNORED: d.attrs.attention.window = 0; break;
        case XC_MUTANT_ATTN_WINDOW_OFF_BY_ONE:
            if (d.attrs.attention.window) d.attrs.attention.window++;
            break;
        case XC_MUTANT_ATTN_SOFTCAP_IGNORED: d.attrs.attention.softcap = 0; break;
        case XC_MUTANT_ATTN_QPOS0_IGNORED: d.attrs.attention.has_q_pos0 = 0; break;
        case XC_MUTANT_TOPK_LARGEST_IGNORED: d.attrs.topk.largest = 1; break;
        case XC_MUTANT_TOPK_CONTIG_IN:
            dense_strides(&d.inputs[0], 0);
            if (!fits(&d.inputs[0])) d = *desc;
            break;
        case XC_MUTANT_TOPK_TIES_LAST:
            if (d.outputs[0].dtype == XHAL_DTYPE_F32) {
                xhal_status st = cpu->op_run(state, stream, &d);
                if (st == XHAL_OK) topk_ties_last(&d);
                return st;
            }
            break;
        case XC_MUTANT_FILL_VIA_F32: /* the core converts the value once: redo it from the f32 */
            d.attrs.fill.bits = xhal_value_bits(d.outputs[0].dtype, (double)(float)d.attrs.fill.value);
            break;
        case XC_MUTANT_RMS_EPS_OUTSIDE:
        case XC_MUTANT_LN_VAR_UNBIASED:
            if (f32) return norm_f32(&d);
            break;
        case XC_MUTANT_SOFTMAX_NO_MAX:
            if (f32) return softmax_f32(&d, 1, 0);
            break;
        case XC_MUTANT_SOFTMAX_CAUSAL_OFF_BY_ONE:
            if (f32) return softmax_f32(&d, 0, 1);
            break;
        case XC_MUTANT_ATTN_CAUSAL_OFF_BY_ONE:
            if (f32) return attention_f32(&d, 1, 0, 0);
            break;
        case XC_MUTANT_ATTN_GQA_MOD:
            if (f32) return attention_f32(&d, 0, 1, 0);
            break;
        case XC_MUTANT_ATTN_SOFTCAP_AFTER_MASK:
            if (f32) return attention_f32(&d, 0, 0, 1);
            break;
        case XC_MUTANT_ARGMAX_LAST:
            if (d.inputs[0].dtype == XHAL_DTYPE_F32) return reduce_f32(&d);
            break;
        case XC_MUTANT_MAX_NAN_IGNORED:
            if (f32) return reduce_f32(&d);
            break;
        case XC_MUTANT_MAXIMUM_NAN_IGNORED:
        case XC_MUTANT_MINIMUM_NAN_IGNORED:
            if (f32) return binary_f32(&d);
            break;
        case XC_MUTANT_RELU_NAN_ZERO:
        case XC_MUTANT_TANH_OVERFLOW:
        case XC_MUTANT_RSQRT_FAST:
            if (f32) return unary_f32(&d);
            break;
        case XC_MUTANT_ROPE_SIN_SIGN:
            if (f32) return rope_f32(&d);
            break;
        case XC_MUTANT_ADD_BCAST_MOD:
            if (f32) return binary_f32(&d);
            break;
        case XC_MUTANT_GELU_TANH_FOR_ERF:
        case XC_MUTANT_SILU_OVERFLOW:
            if (f32) return unary_f32(&d);
            break;
        case XC_MUTANT_Q4_0_NIBBLES_SWAPPED:
            if (d.inputs[1].dtype == XHAL_DTYPE_Q4_0 && d.inputs[0].dtype == XHAL_DTYPE_F32)
                return qmatmul_q4_0_swapped(&d);
            break;
        case XC_MUTANT_Q8_0_SCALE_DROPPED:
            if (d.inputs[0].dtype == XHAL_DTYPE_Q8_0 && d.outputs[0].dtype == XHAL_DTYPE_F32)
                return copy_q8_0_noscale(&d);
            break;
        case XC_MUTANT_QMATMUL_B_DENSE:
            if (xhal_names_dtype_block(d.inputs[1].dtype)) {
                /* b [.., K, N] with K stride 1: N stride K, batch strides dense; kept only if
                 * the blocks it then reads lie inside b's buffer */
                xhal_tensor_desc *t = &d.inputs[1];
                int bd = t->ndim - 2;
                const xhal_names_block_entry_ *be = xhal_names_dtype_block(t->dtype);
                int64_t s = t->shape[bd] * t->shape[bd + 1], hi = t->shape[bd] * t->shape[bd + 1];
                t->strides[bd + 1] = t->shape[bd];
                for (int k = bd - 1; k >= 0; k--) {
                    if (t->strides[k] != 0) t->strides[k] = s;
                    hi += (t->shape[k] - 1) * t->strides[k];
                    s *= t->shape[k];
                }
                if (t->offset + (uint64_t)(hi / be->block_size * be->block_bytes) > ((cpu_buffer *)t->buffer)->size)
                    d = *desc;
            }
            break;
        case XC_MUTANT_COPY_BF16_TRUNC:
            if (d.inputs[0].dtype == XHAL_DTYPE_F32 && d.outputs[0].dtype == XHAL_DTYPE_BF16)
                return copy_bf16_trunc(&d);
            break;
        case XC_MUTANT_COPY_F16_FTZ:
            if (d.inputs[0].dtype == XHAL_DTYPE_F32 && d.outputs[0].dtype == XHAL_DTYPE_F16) {
                xhal_status st = cpu->op_run(state, stream, &d);
                if (st == XHAL_OK) f16_flush_subnormals(&d);
                return st;
            }
            break;
        default: break;
    }
    return cpu->op_run(state, stream, &d);
}

static xhal_status m_device_info(void *state, int device, xhal_device_info *info)
{
    xhal_status st = cpu->device_info(state, device, info);
    if (st == XHAL_OK) snprintf(info->name, sizeof(info->name), "CPU with mutant %d", mutant);
    return st;
}

/* The entry of include/xhal/plugin/xhal_plugin.h, spelled out because the table is the CPU
 * plugin's, known only once that plugin is loaded: the same host checks run on it. */
XHAL_PLUGIN_HIDDEN xhal_host_services xhal_plugin_host_services_;

XHAL_BACKEND_EXPORT const xhal_backend_table *xhal_backend_entry(uint32_t host_abi_version,
                                                                 const xhal_host_services *host);

XHAL_BACKEND_EXPORT const xhal_backend_table *xhal_backend_entry(uint32_t host_abi_version,
                                                                 const xhal_host_services *host)
{
    static void *h; /* kept open for the life of the process, like any loaded plugin */
    if (!h) h = dlopen(XC_CPU_PLUGIN, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        if (host && host->set_error)
            host->set_error(XHAL_ERROR_UNAVAILABLE, "mutant: cannot load %s: %s", XC_CPU_PLUGIN, dlerror());
        return NULL;
    }
    xhal_backend_entry_fn entry = (xhal_backend_entry_fn)(uintptr_t)dlsym(h, XHAL_BACKEND_ENTRY_SYMBOL);
    cpu = entry ? entry(host_abi_version, host) : NULL;
    if (!cpu) return NULL; /* the CPU plugin said why */
    const char *m = getenv("XHAL_MUTANT");
    mutant = m ? atoi(m) : 0;
    if (mutant < 0 || mutant >= XC_MUTANT_COUNT) mutant = 0;
    memcpy(&table, cpu, sizeof(table) < cpu->struct_size ? sizeof(table) : cpu->struct_size);
    table.name = "mutant";
    table.op_run = m_op_run;
    table.device_info = m_device_info;
    return xhal_plugin_entry_(&table, host_abi_version, host);
}
