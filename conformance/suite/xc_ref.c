/* xc_ref.c - the f64 host reference of every catalogue op: straightforward loops over
 * logical row-major doubles, written from the formulas of OPS.md. It never calls a
 * backend; speed is not a goal (sizes in the suite are kept small enough). */
#include "xc_conform.h"
#include "xhal/xhal_op_table.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *msg, size_t sz, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sz, fmt, ap);
    va_end(ap);
    return -1;
}

static void unravel(int64_t i, int ndim, const int64_t *shape, int64_t *idx)
{
    for (int d = ndim - 1; d >= 0; d--) {
        int64_t s = shape[d] > 0 ? shape[d] : 1;
        idx[d] = i % s;
        i /= s;
    }
}

/* Offset in t (row-major, t aligned at the right of an ndim-index idx, size-1 dims
 * broadcast) of the element idx. */
static int64_t bcast_off(const int64_t *idx, int ndim, const xc_tensor *t)
{
    int64_t off = 0;
    int lead = ndim - t->ndim;
    for (int d = 0; d < t->ndim; d++) {
        int64_t i = t->shape[d] == 1 ? 0 : idx[lead + d];
        off = off * t->shape[d] + i;
    }
    return off;
}

static double unary(xhal_op op, double x)
{
    switch (op) {
        case XHAL_OP_NEG: return -x;
        case XHAL_OP_ABS: return fabs(x);
        case XHAL_OP_EXP: return exp(x);
        case XHAL_OP_LOG: return log(x);
        case XHAL_OP_SQRT: return sqrt(x);
        case XHAL_OP_RSQRT: return 1.0 / sqrt(x);
        case XHAL_OP_TANH: return tanh(x);
        case XHAL_OP_SIGMOID: return 1.0 / (1.0 + exp(-x));
        case XHAL_OP_RELU: return isnan(x) ? x : (x > 0 ? x : 0.0);
        case XHAL_OP_SILU: return x / (1.0 + exp(-x));
        case XHAL_OP_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
        case XHAL_OP_SQUARE: return x * x;
        case XHAL_OP_SOFTPLUS: return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
        case XHAL_OP_GELU_TANH: {
            const double k = sqrt(2.0 / 3.14159265358979323846);
            return 0.5 * x * (1.0 + tanh(k * (x + 0.044715 * x * x * x)));
        }
        default: return NAN;
    }
}

static double binary(xhal_op op, double a, double b)
{
    switch (op) {
        case XHAL_OP_ADD: return a + b;
        case XHAL_OP_SUB: return a - b;
        case XHAL_OP_MUL: return a * b;
        case XHAL_OP_DIV: return a / b;
        case XHAL_OP_MAXIMUM: return (isnan(a) || isnan(b)) ? NAN : (a > b ? a : b);
        case XHAL_OP_MINIMUM: return (isnan(a) || isnan(b)) ? NAN : (a < b ? a : b);
        default: return NAN;
    }
}

static int norm_axis(int axis, int ndim) { return axis < 0 ? axis + ndim : axis; }

static int ref_reduce(const xc_case *c, const xc_tensor *x, double *ref, double *mag, int64_t *R, char *msg, size_t sz)
{
    int ax = norm_axis(c->at.axis, x->ndim);
    if (ax < 0 || ax >= x->ndim) return fail(msg, sz, "reduce: axis %d out of range", c->at.axis);
    int64_t outer = 1, inner = 1, r = x->shape[ax];
    for (int d = 0; d < ax; d++) outer *= x->shape[d];
    for (int d = ax + 1; d < x->ndim; d++) inner *= x->shape[d];
    *R = r;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
            double s = 0, sa = 0, mx = -INFINITY;
            int64_t arg = 0;
            int seen_nan = 0;
            for (int64_t k = 0; k < r; k++) {
                double v = x->v[(o * r + k) * inner + in];
                s += v;
                sa += fabs(v);
                if (isnan(v)) {
                    if (!seen_nan) arg = k;
                    seen_nan = 1;
                } else if (!seen_nan && (k == 0 || v > mx)) {
                    mx = v;
                    arg = k;
                }
            }
            int64_t oi = o * inner + in;
            switch (c->op) {
                case XHAL_OP_SUM:
                    ref[oi] = s;
                    mag[oi] = sa;
                    break;
                case XHAL_OP_MEAN:
                    ref[oi] = r ? s / (double)r : NAN;
                    mag[oi] = r ? sa / (double)r : 0;
                    break;
                case XHAL_OP_MAX:
                    ref[oi] = seen_nan ? NAN : mx;
                    mag[oi] = 0;
                    break;
                default:
                    ref[oi] = (double)arg;
                    mag[oi] = 0;
                    break;
            }
        }
    return 0;
}

static void ref_softmax(const xc_case *c, const xc_tensor *x, double *ref, double *mag, int64_t *R)
{
    int64_t D = x->ndim ? x->shape[x->ndim - 1] : 1;
    int64_t Sq = x->ndim >= 2 ? x->shape[x->ndim - 2] : 1;
    int64_t rows = D ? x->n / D : 0;
    double s = c->at.scale == 0 ? 1.0 : c->at.scale;
    *R = D;
    for (int64_t row = 0; row < rows; row++) {
        const double *xr = x->v + row * D;
        double *y = ref + row * D;
        int64_t vis = D;
        if (c->at.causal) {
            int64_t i = row % Sq;
            vis = i + (D - Sq) + 1;
            if (vis > D) vis = D;
            if (vis < 0) vis = 0;
        }
        double m = -INFINITY;
        int nan = 0;
        for (int64_t j = 0; j < vis; j++) {
            double t = s * xr[j];
            if (isnan(t)) nan = 1;
            if (t > m) m = t;
        }
        double sum = 0;
        for (int64_t j = 0; j < vis; j++) {
            y[j] = exp(s * xr[j] - m);
            sum += y[j];
        }
        for (int64_t j = 0; j < D; j++) {
            y[j] = j < vis ? (nan ? NAN : y[j] / sum) : 0.0;
            mag[row * D + j] = fabs(y[j]);
        }
    }
}

static int ref_norm(const xc_case *c, const xc_tensor *in, double *ref, double *mag, int64_t *R, char *msg, size_t sz)
{
    const xc_tensor *x = &in[0];
    int64_t D = x->ndim ? x->shape[x->ndim - 1] : 1;
    const xc_tensor *w = NULL, *b = NULL;
    int k = 1;
    if (c->at.has_weight) w = &in[k++];
    if (c->op == XHAL_OP_LAYER_NORM && c->at.has_bias) b = &in[k++];
    if ((w && w->n != D) || (b && b->n != D)) return fail(msg, sz, "norm: weight/bias is not [%lld]", (long long)D);
    int64_t rows = D ? x->n / D : 0;
    *R = D;
    for (int64_t row = 0; row < rows; row++) {
        const double *xr = x->v + row * D;
        double *y = ref + row * D, *m = mag + row * D;
        if (c->op == XHAL_OP_RMS_NORM) {
            double ss = 0;
            for (int64_t j = 0; j < D; j++) ss += xr[j] * xr[j];
            double inv = 1.0 / sqrt(ss / (double)D + c->at.eps);
            for (int64_t j = 0; j < D; j++) {
                y[j] = xr[j] * inv * (w ? w->v[j] : 1.0);
                m[j] = fabs(y[j]);
            }
        } else {
            double mu = 0, var = 0;
            for (int64_t j = 0; j < D; j++) mu += xr[j];
            mu /= (double)D;
            for (int64_t j = 0; j < D; j++) var += (xr[j] - mu) * (xr[j] - mu);
            var /= (double)D;
            double inv = 1.0 / sqrt(var + c->at.eps);
            for (int64_t j = 0; j < D; j++) {
                double wj = w ? w->v[j] : 1.0, bj = b ? b->v[j] : 0.0;
                y[j] = (xr[j] - mu) * inv * wj + bj;
                m[j] = (fabs(xr[j]) + fabs(mu)) * inv * fabs(wj) + fabs(bj);
            }
        }
    }
    return 0;
}

/* scales (xhal_matmul_i8's per-channel scales [N]) multiply column j of op(b); NULL: none */
static int ref_matmul(const xc_case *c, const xc_tensor *a, const xc_tensor *b, const xc_tensor *scales,
                      const xc_tensor *init, double *ref, double *mag, int64_t *R, char *msg, size_t sz)
{
    if (a->ndim < 2 || b->ndim < 2) return fail(msg, sz, "matmul: ndim < 2");
    int64_t ar = a->shape[a->ndim - 2], ac = a->shape[a->ndim - 1];
    int64_t br = b->shape[b->ndim - 2], bc = b->shape[b->ndim - 1];
    int64_t M = c->at.trans_a ? ac : ar, K = c->at.trans_a ? ar : ac;
    int64_t K2 = c->at.trans_b ? bc : br, N = c->at.trans_b ? br : bc;
    if (K != K2) return fail(msg, sz, "matmul: K %lld vs %lld", (long long)K, (long long)K2);
    const xc_tspec *o = &c->out;
    int on = o->ndim;
    if (o->shape[on - 2] != M || o->shape[on - 1] != N) return fail(msg, sz, "matmul: out shape");
    *R = K;
    int64_t batch = xc_numel(on - 2, o->shape);
    /* batch index -> offsets in a and b (broadcast over their own batch dims) */
    int64_t idx[XHAL_MAX_DIMS];
    for (int64_t bi = 0; bi < batch; bi++) {
        unravel(bi, on - 2, o->shape, idx);
        int64_t aoff = 0, boff = 0;
        int la = (on - 2) - (a->ndim - 2), lb = (on - 2) - (b->ndim - 2);
        for (int d = 0; d < a->ndim - 2; d++) aoff = aoff * a->shape[d] + (a->shape[d] == 1 ? 0 : idx[la + d]);
        for (int d = 0; d < b->ndim - 2; d++) boff = boff * b->shape[d] + (b->shape[d] == 1 ? 0 : idx[lb + d]);
        /* an empty operand (K == 0) has no values at all: no pointer arithmetic on NULL */
        const double *A = a->v ? a->v + aoff * ar * ac : NULL, *B = b->v ? b->v + boff * br * bc : NULL;
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double s = 0, sa = 0;
                for (int64_t k = 0; k < K; k++) {
                    double x = c->at.trans_a ? A[k * ac + i] : A[i * ac + k];
                    double y = c->at.trans_b ? B[j * bc + k] : B[k * bc + j];
                    if (scales) y *= scales->v[j]; /* the dequantized weight */
                    s += x * y;
                    sa += fabs(x * y);
                }
                int64_t oi = (bi * M + i) * N + j;
                double r = c->at.alpha * s, m = fabs(c->at.alpha) * sa;
                if (c->at.beta != 0) {
                    double cv = init ? init->v[oi] : 0;
                    r += c->at.beta * cv;
                    m += fabs(c->at.beta * cv);
                }
                ref[oi] = r;
                mag[oi] = m;
            }
    }
    return 0;
}

static int ref_gather(const xc_tensor *table, const xc_tensor *idx, double *ref)
{
    int64_t V = table->shape[0];
    int64_t row = V ? table->n / V : xc_numel(table->ndim - 1, table->shape + 1);
    for (int64_t i = 0; i < idx->n; i++) {
        double k = idx->v[i];
        for (int64_t j = 0; j < row; j++)
            ref[i * row + j] = (k >= 0 && k < (double)V) ? table->v[(int64_t)k * row + j] : 0.0; /* OPS.md */
    }
    return 0;
}

static int ref_rope(const xc_case *c, const xc_tensor *in, double *ref, double *mag, int64_t *R, char *msg, size_t sz)
{
    const xc_tensor *x = &in[0];
    int k_in = 1;
    const xc_tensor *pos = c->at.has_positions ? &in[k_in++] : NULL;
    const xc_tensor *invf = c->at.has_inv_freq ? &in[k_in++] : NULL;
    double af = c->at.attention_factor != 0 ? c->at.attention_factor : 1.0;
    int nd = x->ndim;
    if (nd < 2) return fail(msg, sz, "rope: x needs [..., S, D]");
    int sa = c->at.seq_axis < 0 ? c->at.seq_axis + nd : c->at.seq_axis;
    int64_t D = x->shape[nd - 1];
    int64_t rot = c->at.rotary_dims ? c->at.rotary_dims : D;
    if (rot % 2 || rot > D || sa < 0 || sa >= nd - 1) return fail(msg, sz, "rope: bad attributes");
    *R = 2;
    int64_t idx[XHAL_MAX_DIMS];
    int64_t rows = D ? x->n / D : 0;
    for (int64_t row = 0; row < rows; row++) {
        unravel(row * D, nd, x->shape, idx);
        /* positions broadcast (right-aligned) to x's dims 0 .. sa */
        double p = pos ? pos->v[bcast_off(idx, sa + 1, pos)] : (double)(c->at.pos_offset + idx[sa]);
        const double *xr = x->v + row * D;
        double *y = ref + row * D, *m = mag + row * D;
        for (int64_t d = 0; d < D; d++) {
            if (d >= rot) {
                y[d] = xr[d];
                m[d] = 0;
                continue;
            }
            int64_t k, iu, iv;
            if (c->at.rope_layout == XHAL_ROPE_INTERLEAVED) {
                k = d / 2;
                iu = 2 * k;
                iv = 2 * k + 1;
            } else {
                k = d % (rot / 2);
                iu = k;
                iv = k + rot / 2;
            }
            double f = invf ? invf->v[k] : pow(c->at.theta, -2.0 * (double)k / (double)rot);
            double ang = p * f;
            double u = xr[iu], v = xr[iv], cs = af * cos(ang), sn = af * sin(ang);
            y[d] = d == iu ? u * cs - v * sn : u * sn + v * cs;
            /* an f32 angle is off by |p f| 2^-24 (f <= 1 by default) */
            double pf = fabs(p) * (fabs(f) > 1 ? fabs(f) : 1.0);
            m[d] = af * (fabs(u) + fabs(v)) * (pf > 1 ? pf : 1.0);
        }
    }
    return 0;
}

static int ref_attention(const xc_case *c, const xc_tensor *in, double *ref, double *mag, int64_t *R, char *msg,
                         size_t sz)
{
    const xc_tensor *q = &in[0], *k = &in[1], *v = &in[2];
    const xc_tensor *mask = c->at.has_mask ? &in[3] : NULL;
    if (q->ndim != 4 || k->ndim != 4 || v->ndim != 4) return fail(msg, sz, "attention: 4-D tensors");
    int64_t B = q->shape[0], Hq = q->shape[1], Sq = q->shape[2], D = q->shape[3];
    int64_t Hkv = k->shape[1], Sk = k->shape[2], Dv = v->shape[3];
    if (Hkv == 0 || Hq % Hkv) return fail(msg, sz, "attention: Hq %% Hkv");
    double scale = c->at.scale == 0 ? 1.0 / sqrt((double)D) : c->at.scale;
    double cap = c->at.softcap;
    int64_t p0 = c->at.has_q_pos0 ? c->at.q_pos0 : Sk - Sq;
    *R = Sk;
    double *p = malloc(sizeof(double) * (size_t)(Sk > 0 ? Sk : 1));
    if (!p) return fail(msg, sz, "out of memory");
    int64_t idx[4];
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < Hq; h++) {
            int64_t hk = h / (Hq / Hkv);
            for (int64_t i = 0; i < Sq; i++) {
                /* visible keys [lo, vis): j <= P (causal), j > P - window */
                int64_t P = p0 + i;
                int64_t vis = c->at.causal ? P + 1 : Sk;
                if (vis > Sk) vis = Sk;
                if (vis < 0) vis = 0;
                int64_t lo = c->at.window > 0 ? P - c->at.window + 1 : 0;
                if (lo < 0) lo = 0;
                if (lo > vis) lo = vis;
                double mx = -INFINITY;
                for (int64_t j = lo; j < vis; j++) {
                    const double *qr = q->v + ((b * Hq + h) * Sq + i) * D;
                    const double *kr = k->v + ((b * Hkv + hk) * Sk + j) * D;
                    double s = 0;
                    for (int64_t d = 0; d < D; d++) s += qr[d] * kr[d];
                    s *= scale;
                    if (cap > 0) s = cap * tanh(s / cap); /* before the mask (Gemma 2) */
                    if (mask) {
                        idx[0] = b;
                        idx[1] = h;
                        idx[2] = i;
                        idx[3] = j;
                        s += mask->v[bcast_off(idx, 4, mask)];
                    }
                    p[j] = s;
                    if (s > mx) mx = s;
                }
                double sum = 0;
                for (int64_t j = lo; j < vis; j++) {
                    p[j] = exp(p[j] - mx);
                    sum += p[j];
                }
                for (int64_t e = 0; e < Dv; e++) {
                    double o = 0, m = 0;
                    for (int64_t j = lo; j < vis; j++) {
                        double vv = v->v[((b * Hkv + hk) * Sk + j) * Dv + e];
                        o += p[j] / sum * vv;
                        m += p[j] / sum * fabs(vv);
                    }
                    int64_t oi = ((b * Hq + h) * Sq + i) * Dv + e;
                    ref[oi] = vis > lo ? o : 0.0;
                    mag[oi] = m;
                }
            }
        }
    free(p);
    return 0;
}

/* TOPK: rank before (NaN above every number, equal values by ascending index). */
static int topk_before(double a, int64_t ia, double b, int64_t ib, int largest)
{
    if (isnan(a) || isnan(b)) {
        if (isnan(a) && isnan(b)) return ia < ib;
        return largest ? isnan(a) : isnan(b);
    }
    if (a != b) return largest ? a > b : a < b;
    return ia < ib;
}

/* values (out2 NULL) or indices (out2) of topk, by selection: for rank r the best element
 * not taken yet. O(n^2) per row; the suite's rows are short. */
static int ref_topk(const xc_case *c, const xc_tensor *x, double *ref, double *ref2, char *msg, size_t sz)
{
    int nd = x->ndim;
    int ax = c->at.axis < 0 ? c->at.axis + nd : c->at.axis;
    int64_t n = x->shape[ax], k = c->at.k;
    int64_t inner = xc_numel(nd - ax - 1, x->shape + ax + 1), outer = xc_numel(ax, x->shape);
    unsigned char *taken = malloc((size_t)(n > 0 ? n : 1));
    if (!taken) return fail(msg, sz, "out of memory");
    for (int64_t o = 0; o < outer; o++)
        for (int64_t e = 0; e < inner; e++) {
            memset(taken, 0, (size_t)(n > 0 ? n : 1));
            for (int64_t r = 0; r < k; r++) {
                int64_t best = -1;
                for (int64_t j = 0; j < n; j++) {
                    if (taken[j]) continue;
                    double v = x->v[(o * n + j) * inner + e];
                    if (best < 0 || topk_before(v, j, x->v[(o * n + best) * inner + e], best, c->at.largest)) best = j;
                }
                taken[best] = 1;
                int64_t oi = (o * k + r) * inner + e;
                if (ref) ref[oi] = x->v[(o * n + best) * inner + e];
                if (ref2) ref2[oi] = (double)best;
            }
        }
    free(taken);
    return 0;
}

int xc_ref_compute_out2(const xc_case *c, const xc_tensor *in, double *ref2, char *msg, size_t msgsz)
{
    if (xc_case_validate(c, msg, msgsz) != 0) return -1;
    if (c->op != XHAL_OP_TOPK || !c->has_out2)
        return fail(msg, msgsz, "%s: op %s has one output", c->name, xhal_op_name(c->op));
    return ref_topk(c, &in[0], NULL, ref2, msg, msgsz);
}

static int ref_concat(const xc_case *c, const xc_tensor *in, double *ref)
{
    const xc_tspec *o = &c->out;
    int ax = norm_axis(c->at.axis, o->ndim);
    int64_t outer = xc_numel(ax, o->shape), inner = xc_numel(o->ndim - ax - 1, o->shape + ax + 1);
    int64_t pos = 0;
    for (int t = 0; t < c->n_in; t++) {
        int64_t len = in[t].shape[ax];
        for (int64_t a = 0; a < outer; a++)
            for (int64_t l = 0; l < len; l++)
                for (int64_t e = 0; e < inner; e++)
                    ref[(a * o->shape[ax] + pos + l) * inner + e] = in[t].v[(a * len + l) * inner + e];
        pos += len;
    }
    return 0;
}

int xc_ref_compute(const xc_case *c, const xc_tensor *in, const xc_tensor *init, double *ref, double *mag, int64_t *R,
                   char *msg, size_t msgsz)
{
    *R = 1;
    /* the loops below index inputs by the output's shape: never run on a case that breaks
     * its op's rules */
    if (xc_case_validate(c, msg, msgsz) != 0) return -1;
    for (int i = 0; i < c->n_in; i++) {
        int same = in[i].ndim == c->in[i].ndim && in[i].n == xc_numel(c->in[i].ndim, c->in[i].shape);
        for (int d = 0; same && d < in[i].ndim; d++) same = in[i].shape[d] == c->in[i].shape[d];
        if (!same) return fail(msg, msgsz, "%s: input %d's values do not have the case's shape", c->name, i);
    }
    if (c->op == XHAL_OP_MATMUL && c->at.beta != 0 && init && init->n != xc_numel(c->out.ndim, c->out.shape))
        return fail(msg, msgsz, "%s: init does not have the output's shape", c->name);
    int64_t n = xc_numel(c->out.ndim, c->out.shape);
    int64_t idx[XHAL_MAX_DIMS];
    for (int64_t i = 0; i < n; i++) mag[i] = 0;
    switch (xhal_op_family_of((int)c->op)) { /* the op table's families */
        case XHAL_OPF_COPY: {
            int bs = 0, bb = 0;
            if (n > 0 && xc_dtype_block(c->out.dtype, &bs, &bb) && !xc_dtype_block(c->in[0].dtype, NULL, NULL)) {
                /* quantization: the values of the codec's blocks (OPS.md: byte for byte) */
                uint8_t *q = malloc((size_t)(n / bs * bb));
                if (!q) return fail(msg, msgsz, "out of memory");
                if (xc_block_quantize(c->out.dtype, in[0].v, n / bs, q) != 0) {
                    free(q);
                    return fail(msg, msgsz, "%s: no quantizer for %s", c->name, xhal_dtype_name(c->out.dtype));
                }
                xc_block_decode(c->out.dtype, q, n / bs, ref);
                free(q);
                return 0;
            }
            for (int64_t i = 0; i < n; i++) ref[i] = in[0].v[i];
            return 0;
        }
        case XHAL_OPF_FILL:
            for (int64_t i = 0; i < n; i++) ref[i] = c->at.value;
            return 0;
        case XHAL_OPF_UNARY:
            for (int64_t i = 0; i < n; i++) {
                ref[i] = unary(c->op, in[0].v[i]);
                /* gelu: x/2 (1 + f(x)) with f -> -1 cancels for x << 0; an error of f near -1
             * reaches the result times |x|/2 */
                if (c->op == XHAL_OP_GELU || c->op == XHAL_OP_GELU_TANH) mag[i] = fabs(in[0].v[i]) / 2;
            }
            return 0;
        case XHAL_OPF_SCALE:
            for (int64_t i = 0; i < n; i++) {
                ref[i] = c->at.alpha * in[0].v[i] + c->at.beta;
                mag[i] = fabs(c->at.alpha * in[0].v[i]) + fabs(c->at.beta);
            }
            return 0;
        case XHAL_OPF_BINARY:
            for (int64_t i = 0; i < n; i++) {
                unravel(i, c->out.ndim, c->out.shape, idx);
                double a = in[0].v[bcast_off(idx, c->out.ndim, &in[0])];
                double b = in[1].v[bcast_off(idx, c->out.ndim, &in[1])];
                ref[i] = binary(c->op, a, b);
            }
            return 0;
        case XHAL_OPF_REDUCE: return ref_reduce(c, &in[0], ref, mag, R, msg, msgsz);
        case XHAL_OPF_SOFTMAX: ref_softmax(c, &in[0], ref, mag, R); return 0;
        case XHAL_OPF_NORM: return ref_norm(c, in, ref, mag, R, msg, msgsz);
        case XHAL_OPF_MATMUL:
            return ref_matmul(c, &in[0], &in[1], c->n_in > 2 ? &in[2] : NULL, init, ref, mag, R, msg, msgsz);
        case XHAL_OPF_GATHER: return ref_gather(&in[0], &in[1], ref);
        case XHAL_OPF_ROPE: return ref_rope(c, in, ref, mag, R, msg, msgsz);
        case XHAL_OPF_TOPK: return ref_topk(c, &in[0], ref, NULL, msg, msgsz);
        case XHAL_OPF_ATTENTION: return ref_attention(c, in, ref, mag, R, msg, msgsz);
        case XHAL_OPF_COMPOSED:
            if (c->op == XHAL_OP_CONCAT) return ref_concat(c, in, ref);
            return fail(msg, msgsz, "no reference for op %d", (int)c->op);
        default: return fail(msg, msgsz, "no reference for op %d", (int)c->op);
    }
}
