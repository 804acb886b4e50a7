/* xc_validate.c - the shape and attribute rules every case must meet before the f64
 * reference or a device sees it (the reference indexes its inputs by the output's shape, so
 * a case that breaks these rules would read or write out of bounds), the attribute table
 * the vectors reader parses with, and a one-line description of a case (shapes, strides,
 * offsets, attributes) for failing rows and --list. */
#include "xc_conform.h"
#include "xhal/xhal_op_table.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
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

/* Families, arity, attribute members and dtypes come from the op table
 * (include/xhal/xhal_op_table.h): an op added there in an existing family is validated,
 * described and run by the suite without an edit here. */
static int fam(xhal_op op) { return xhal_op_family_of((int)op); }
static int is_unary(xhal_op op) { return fam(op) == XHAL_OPF_UNARY; }
static int is_binary(xhal_op op) { return fam(op) == XHAL_OPF_BINARY; }
static int is_reduce(xhal_op op) { return fam(op) == XHAL_OPF_REDUCE; }
static int is_norm(xhal_op op) { return fam(op) == XHAL_OPF_NORM; }

/* ---------------------------------------------------------------------------------- */
/* Attributes                                                                         */
/* ---------------------------------------------------------------------------------- */
#define AT(field) offsetof(xc_attrs, field)
/* members: the xhal_op_attrs members (the op table's ATTR column) an attribute belongs to */
static const xc_attr_info ATTRS[] = {
    {"axis", XC_AK_INT, AT(axis), 'i', "reduce topk"}, /* and concat, composed by the core */
    {"keepdims", XC_AK_BOOL, AT(keepdims), 'i', "reduce"},
    {"alpha", XC_AK_NUM, AT(alpha), 'd', "scale matmul"},
    {"beta", XC_AK_NUM, AT(beta), 'd', "scale matmul"},
    {"value", XC_AK_VALUE, AT(value), 'd', "fill"},
    {"scale", XC_AK_NUM, AT(scale), 'd', "softmax attention"},
    {"causal", XC_AK_BOOL, AT(causal), 'i', "softmax attention"},
    {"eps", XC_AK_NUM, AT(eps), 'd', "norm"},
    {"has_weight", XC_AK_BOOL, AT(has_weight), 'i', "norm"},
    {"has_bias", XC_AK_BOOL, AT(has_bias), 'i', "norm"}, /* layer_norm only: its 2 optional inputs */
    {"trans_a", XC_AK_BOOL, AT(trans_a), 'i', "matmul"},
    {"trans_b", XC_AK_BOOL, AT(trans_b), 'i', "matmul"},
    {"seq_axis", XC_AK_INT, AT(seq_axis), 'i', "rope"},
    {"theta", XC_AK_NUM, AT(theta), 'd', "rope"},
    {"pos_offset", XC_AK_INT, AT(pos_offset), 'l', "rope"},
    {"rotary_dims", XC_AK_INT, AT(rotary_dims), 'i', "rope"},
    {"layout", XC_AK_ROPE_LAYOUT, AT(rope_layout), 'i', "rope"},
    {"has_positions", XC_AK_BOOL, AT(has_positions), 'i', "rope"},
    {"has_inv_freq", XC_AK_BOOL, AT(has_inv_freq), 'i', "rope"},
    {"attention_factor", XC_AK_NUM, AT(attention_factor), 'd', "rope"},
    {"window", XC_AK_INT, AT(window), 'l', "attention"},
    {"softcap", XC_AK_NUM, AT(softcap), 'd', "attention"},
    {"q_pos0", XC_AK_INT, AT(q_pos0), 'l', "attention"},
    {"k", XC_AK_INT, AT(k), 'l', "topk"},
    {"largest", XC_AK_BOOL, AT(largest), 'i', "topk"},
};
#undef AT

const xc_attr_info *xc_attr_table(int *n)
{
    *n = (int)(sizeof(ATTRS) / sizeof(ATTRS[0]));
    return ATTRS;
}

int xc_attr_applies(const char *name, xhal_op op)
{
    xhal_op_row row = xhal_op_table_row((int)op);
    if (!strcmp(name, "axis") && row.family == XHAL_OPF_COMPOSED) return 1; /* concat */
    if (!strcmp(name, "has_bias")) return row.family == XHAL_OPF_NORM && row.n_optional >= 2;
    for (size_t i = 0; i < sizeof(ATTRS) / sizeof(ATTRS[0]); i++) {
        if (strcmp(ATTRS[i].name, name)) continue;
        /* whole words of the members list */
        size_t l = strlen(row.attrs);
        for (const char *p = strstr(ATTRS[i].members, row.attrs); p; p = strstr(p + 1, row.attrs))
            if ((p == ATTRS[i].members || p[-1] == ' ') && (p[l] == ' ' || p[l] == 0)) return 1;
        return 0;
    }
    return 0;
}

double xc_attr_get(const xc_attrs *a, const xc_attr_info *ai)
{
    const char *p = (const char *)a + ai->offset;
    switch (ai->ctype) {
        case 'd': {
            double v;
            memcpy(&v, p, sizeof v);
            return v;
        }
        case 'l': {
            int64_t v;
            memcpy(&v, p, sizeof v);
            return (double)v;
        }
        default: {
            int v;
            memcpy(&v, p, sizeof v);
            return (double)v;
        }
    }
}

void xc_attr_set(xc_attrs *a, const xc_attr_info *ai, double v)
{
    char *p = (char *)a + ai->offset;
    if (ai->offset == offsetof(xc_attrs, q_pos0)) a->has_q_pos0 = v >= 0; /* -1: Sk - Sq */
    switch (ai->ctype) {
        case 'd': memcpy(p, &v, sizeof v); break;
        case 'l': {
            int64_t x = (int64_t)v;
            memcpy(p, &x, sizeof x);
            break;
        }
        default: {
            int x = (int)v;
            memcpy(p, &x, sizeof x);
            break;
        }
    }
}

/* ---------------------------------------------------------------------------------- */
/* Shapes                                                                             */
/* ---------------------------------------------------------------------------------- */
static void shape_str(const xc_tspec *t, char *b, size_t sz)
{
    size_t o = (size_t)snprintf(b, sz, "[");
    for (int d = 0; d < t->ndim && o < sz; d++)
        o += (size_t)snprintf(b + o, sz - o, "%s%lld", d ? "," : "", (long long)t->shape[d]);
    if (o < sz) snprintf(b + o, sz - o, "]");
}

static int same_shape(const xc_tspec *a, const xc_tspec *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return 0;
    return 1;
}

/* t broadcasts to out's shape (numpy rules, right-aligned). */
static int bcasts_to(const xc_tspec *t, int ndim, const int64_t *shape)
{
    if (t->ndim > ndim) return 0;
    int lead = ndim - t->ndim;
    for (int d = 0; d < t->ndim; d++)
        if (t->shape[d] != 1 && t->shape[d] != shape[lead + d]) return 0;
    return 1;
}

/* Largest tensor the host reference takes (elements). */
#define XC_MAX_CASE_ELEMS ((int64_t)1 << 26)

static int check_tensor(const xc_case *c, const xc_tspec *t, const char *what, char *msg, size_t sz)
{
    if (t->ndim < 0 || t->ndim > XHAL_MAX_DIMS)
        return fail(msg, sz, "%s: %s has %d dims (0..%d)", c->name, what, t->ndim, XHAL_MAX_DIMS);
    int bs = 0;
    int blk = xc_dtype_block(t->dtype, &bs, NULL);
    if (!blk && (t->dtype <= XHAL_DTYPE_INVALID || t->dtype >= XHAL_DTYPE_COUNT_ || xc_dtype_size(t->dtype) == 0))
        return fail(msg, sz, "%s: %s has no valid dtype", c->name, what);
    if (blk) {
        /* whole blocks along the innermost axis, and a layout that keeps them whole unless the
         * case is about refusing that view */
        if (t->ndim < 1 || t->shape[t->ndim - 1] % bs != 0)
            return fail(msg, sz, "%s: %s is %s: its innermost dim must be a multiple of %d", c->name, what,
                        xhal_dtype_name(t->dtype), bs);
        int keeps = t->layout == XC_LAYOUT_CONTIG || t->layout == XC_LAYOUT_EXPAND ||
                    (t->layout == XC_LAYOUT_PERMUTE && t->perm[t->ndim - 1] == t->ndim - 1);
        if (t->layout == XC_LAYOUT_EXPAND && t->eshape[t->ndim - 1] != t->shape[t->ndim - 1]) keeps = 0;
        if (!keeps && !(c->view_refused && t == &c->in[0]))
            return fail(msg, sz, "%s: %s is %s with a layout that splits its blocks", c->name, what,
                        xhal_dtype_name(t->dtype));
    }
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) {
        if (t->shape[d] < 0) return fail(msg, sz, "%s: %s dim %d is negative", c->name, what, d);
        if (t->shape[d] > XC_MAX_CASE_ELEMS || (n && t->shape[d] > XC_MAX_CASE_ELEMS / (n ? n : 1)))
            return fail(msg, sz, "%s: %s has more than %lld elements", c->name, what, (long long)XC_MAX_CASE_ELEMS);
        n *= t->shape[d];
    }
    return 0;
}

static int arity(xhal_op op, int *lo, int *hi)
{
    xhal_op_row row = xhal_op_table_row((int)op);
    if (row.family == XHAL_OPF_NONE) return -1;
    *lo = row.n_inputs;
    *hi = row.n_inputs + row.n_optional;
    if (row.family == XHAL_OPF_COMPOSED) *hi = XC_MAX_IN; /* concat: any number of parts */
    return 0;
}

int xc_case_validate(const xc_case *c, char *msg, size_t sz)
{
    const char *on = xhal_op_name(c->op);
    int lo, hi;
    if (arity(c->op, &lo, &hi) != 0) return fail(msg, sz, "%s: op %d is not in the catalogue", c->name, (int)c->op);
    if (c->n_in < lo || c->n_in > hi)
        return fail(msg, sz, "%s: op %s takes %d to %d inputs, the case gives %d", c->name, on, lo, hi, c->n_in);
    char what[16], s1[96], s2[96];
    for (int i = 0; i < c->n_in; i++) {
        snprintf(what, sizeof what, "input %d", i);
        if (check_tensor(c, &c->in[i], what, msg, sz)) return -1;
    }
    if (check_tensor(c, &c->out, "out", msg, sz)) return -1;
    if (c->has_out2 && check_tensor(c, &c->out2, "out2", msg, sz)) return -1;
    if (c->has_out2 && c->op != XHAL_OP_TOPK) return fail(msg, sz, "%s: op %s has one output", c->name, on);
    if (c->given_in) {
        for (int i = 0; i < c->n_in; i++)
            if (c->given_in[i].n != xc_numel(c->in[i].ndim, c->in[i].shape))
                return fail(msg, sz, "%s: input %d holds %lld values for its shape", c->name, i,
                            (long long)c->given_in[i].n);
    }
    int64_t on_n = xc_numel(c->out.ndim, c->out.shape);
    if (c->given_expect && c->given_expect->n != on_n)
        return fail(msg, sz, "%s: expected holds a bad number of values", c->name);
    if (c->given_init && c->given_init->n != on_n) {
        shape_str(&c->out, s1, sizeof s1);
        return fail(msg, sz, "%s: init must have the output's shape %s", c->name, s1);
    }
    const xc_attrs *a = &c->at;
    const xc_tspec *x = c->n_in ? &c->in[0] : NULL, *o = &c->out;
    shape_str(o, s2, sizeof s2);
    if (x) shape_str(x, s1, sizeof s1);
#define NEED(cond, ...)                                 \
    do {                                                \
        if (!(cond)) return fail(msg, sz, __VA_ARGS__); \
    } while (0)
    if (c->view_refused) {
        NEED(c->n_in >= 1 && xc_dtype_block(c->in[0].dtype, NULL, NULL) && c->expect_status != XHAL_OK,
             "%s: view_refused needs a block-quantized input 0 and an expected error status", c->name);
    }
    int qx = x ? xc_dtype_block(x->dtype, NULL, NULL) : 0, qo = xc_dtype_block(o->dtype, NULL, NULL);
    int fx = x && (x->dtype == XHAL_DTYPE_F32 || x->dtype == XHAL_DTYPE_F16 || x->dtype == XHAL_DTYPE_BF16);
    int fo = o->dtype == XHAL_DTYPE_F32 || o->dtype == XHAL_DTYPE_F16 || o->dtype == XHAL_DTYPE_BF16;
    if (c->op != XHAL_OP_COPY && c->op != XHAL_OP_MATMUL)
        NEED(!qx && !qo, "%s: %s does not take block-quantized tensors", c->name, on);
    if (c->op == XHAL_OP_COPY) {
        NEED(same_shape(x, o), "%s: copy: x %s and out %s differ in shape", c->name, s1, s2);
        NEED(!(qx || qo) || (qx && x->dtype == o->dtype) || (qx && fo) ||
                 (fx && (o->dtype == XHAL_DTYPE_Q8_0 || o->dtype == XHAL_DTYPE_Q4_0)),
             "%s: copy %s -> %s: block-quantized copies are the same dtype, to f32/f16/bf16, or from those to "
             "q8_0/q4_0",
             c->name, xhal_dtype_name(x->dtype), xhal_dtype_name(o->dtype));
    } else if (is_unary(c->op) || c->op == XHAL_OP_SCALE || c->op == XHAL_OP_SOFTMAX || c->op == XHAL_OP_ROPE) {
        NEED(same_shape(x, o), "%s: %s: x %s and out %s differ in shape", c->name, on, s1, s2);
        NEED(x->dtype == o->dtype, "%s: %s: x is %s but out is %s", c->name, on, xhal_dtype_name(x->dtype),
             xhal_dtype_name(o->dtype));
        if (c->op == XHAL_OP_SOFTMAX) {
            NEED(x->ndim >= 1, "%s: softmax needs at least one axis", c->name);
            NEED(isfinite(a->scale), "%s: softmax: scale must be finite", c->name);
        }
        if (c->op == XHAL_OP_SCALE)
            NEED(isfinite(a->alpha) && isfinite(a->beta), "%s: scale: alpha and beta must be finite", c->name);
        if (c->op == XHAL_OP_ROPE) {
            NEED(x->ndim >= 2, "%s: rope: x %s needs a sequence axis and a head dim", c->name, s1);
            int sa = a->seq_axis < 0 ? a->seq_axis + x->ndim : a->seq_axis;
            NEED(sa >= 0 && sa < x->ndim - 1, "%s: rope: seq_axis %d must name an axis before the last of %d", c->name,
                 a->seq_axis, x->ndim);
            int64_t D = x->shape[x->ndim - 1], rd = a->rotary_dims ? a->rotary_dims : D;
            NEED(rd >= 2 && rd <= D && rd % 2 == 0, "%s: rope: rotary_dims %d must be even and in [2, %lld]", c->name,
                 a->rotary_dims, (long long)D);
            NEED(a->theta > 0 && isfinite(a->theta), "%s: rope: theta %g must be finite and > 0", c->name, a->theta);
            NEED(a->pos_offset >= 0, "%s: rope: pos_offset is negative", c->name);
            NEED(a->rope_layout == XHAL_ROPE_HALF || a->rope_layout == XHAL_ROPE_INTERLEAVED,
                 "%s: rope: layout %d unknown", c->name, a->rope_layout);
            NEED((a->has_positions == 0 || a->has_positions == 1) && (a->has_inv_freq == 0 || a->has_inv_freq == 1) &&
                     1 + a->has_positions + a->has_inv_freq == c->n_in,
                 "%s: rope: has_positions/has_inv_freq disagree with %d inputs", c->name, c->n_in);
            NEED(a->attention_factor == 0 || (a->attention_factor > 0 && isfinite(a->attention_factor)),
                 "%s: rope: attention_factor %g must be finite and > 0", c->name, a->attention_factor);
            int k = 1;
            if (a->has_positions) {
                const xc_tspec *pp = &c->in[k++];
                shape_str(pp, s2, sizeof s2);
                NEED(pp->dtype == XHAL_DTYPE_I32 || pp->dtype == XHAL_DTYPE_I64, "%s: rope: positions must be i32/i64",
                     c->name);
                NEED(bcasts_to(pp, sa + 1, x->shape), "%s: rope: positions %s do not broadcast to x's dims up to %d",
                     c->name, s2, sa);
            }
            if (a->has_inv_freq) {
                const xc_tspec *f = &c->in[k++];
                NEED(f->dtype == XHAL_DTYPE_F32 && f->ndim == 1 && f->shape[0] == rd / 2,
                     "%s: rope: inv_freq must be f32 [%lld]", c->name, (long long)(rd / 2));
            }
        }
    } else if (is_binary(c->op)) {
        NEED(c->in[0].dtype == o->dtype && c->in[1].dtype == o->dtype, "%s: %s: a, b and out must share one dtype",
             c->name, on);
        for (int i = 0; i < 2; i++) {
            shape_str(&c->in[i], s1, sizeof s1);
            NEED(bcasts_to(&c->in[i], o->ndim, o->shape), "%s: %s: %s %s does not broadcast to out %s", c->name, on,
                 i ? "b" : "a", s1, s2);
        }
        for (int d = 0; d < o->ndim; d++) {
            int64_t m = 1;
            for (int i = 0; i < 2; i++) {
                int lead = o->ndim - c->in[i].ndim;
                if (d >= lead && c->in[i].shape[d - lead] != 1) m = c->in[i].shape[d - lead];
            }
            NEED(m == o->shape[d] || (m == 1 && o->shape[d] == 1),
                 "%s: %s: out %s is not the broadcast shape of a and b (dim %d)", c->name, on, s2, d);
        }
    } else if (is_reduce(c->op)) {
        NEED(x->ndim >= 1, "%s: %s: x must have at least one axis", c->name, on);
        int ax = a->axis < 0 ? a->axis + x->ndim : a->axis;
        NEED(ax >= 0 && ax < x->ndim, "%s: %s: axis %d out of range for %d dims", c->name, on, a->axis, x->ndim);
        NEED(a->keepdims == 0 || a->keepdims == 1, "%s: %s: keepdims must be 0 or 1", c->name, on);
        xc_tspec want = *x;
        if (a->keepdims)
            want.shape[ax] = 1;
        else {
            for (int d = ax; d + 1 < x->ndim; d++) want.shape[d] = x->shape[d + 1];
            want.ndim = x->ndim - 1;
        }
        shape_str(&want, s1, sizeof s1);
        NEED(same_shape(&want, o), "%s: %s: out is %s, the reduction gives %s", c->name, on, s2, s1);
        if (c->op == XHAL_OP_MAX || c->op == XHAL_OP_ARGMAX)
            NEED(x->shape[ax] > 0 || on_n == 0, "%s: %s over an empty axis is undefined", c->name, on);
        if (c->op == XHAL_OP_ARGMAX)
            NEED(o->dtype == XHAL_DTYPE_I32 || o->dtype == XHAL_DTYPE_I64, "%s: argmax: out must be i32 or i64",
                 c->name);
        else
            NEED(x->dtype == o->dtype, "%s: %s: x and out must share one dtype", c->name, on);
    } else if (is_norm(c->op)) {
        NEED(x->ndim >= 1 && same_shape(x, o), "%s: %s: x %s and out %s must have one shape of >= 1 dims", c->name, on,
             s1, s2);
        NEED(a->has_weight == 0 || a->has_weight == 1, "%s: has_weight must be 0 or 1", c->name);
        NEED(a->has_bias == 0 || a->has_bias == 1, "%s: has_bias must be 0 or 1", c->name);
        int hb = c->op == XHAL_OP_LAYER_NORM ? a->has_bias : 0;
        NEED(1 + a->has_weight + hb == c->n_in, "%s: %s: has_weight/has_bias disagree with %d inputs", c->name, on,
             c->n_in);
        NEED(a->eps >= 0 && isfinite(a->eps), "%s: %s: eps %g must be finite and >= 0", c->name, on, a->eps);
        int64_t D = x->shape[x->ndim - 1];
        for (int i = 1; i < c->n_in; i++)
            NEED(c->in[i].ndim == 1 && c->in[i].shape[0] == D, "%s: %s: %s must be [%lld]", c->name, on,
                 i == 1 && a->has_weight ? "weight" : "bias", (long long)D);
    } else if (c->op == XHAL_OP_MATMUL) {
        const xc_tspec *A = &c->in[0], *B = &c->in[1];
        NEED(A->ndim >= 2 && B->ndim >= 2 && o->ndim >= 2, "%s: matmul: a, b and out need >= 2 dims", c->name);
        NEED(a->trans_a == 0 || a->trans_a == 1, "%s: matmul: trans_a must be 0 or 1", c->name);
        NEED(a->trans_b == 0 || a->trans_b == 1, "%s: matmul: trans_b must be 0 or 1", c->name);
        NEED(isfinite(a->alpha) && isfinite(a->beta), "%s: matmul: alpha and beta must be finite", c->name);
        int64_t ar = A->shape[A->ndim - 2], ac = A->shape[A->ndim - 1], br = B->shape[B->ndim - 2],
                bc = B->shape[B->ndim - 1];
        int64_t M = a->trans_a ? ac : ar, K = a->trans_a ? ar : ac, K2 = a->trans_b ? bc : br, N = a->trans_b ? br : bc;
        NEED(K == K2, "%s: matmul: K of a is %lld but of b %lld", c->name, (long long)K, (long long)K2);
        NEED(o->shape[o->ndim - 2] == M && o->shape[o->ndim - 1] == N, "%s: matmul: out %s, want [..,%lld,%lld]",
             c->name, s2, (long long)M, (long long)N);
        xc_tspec ab = *A, bb = *B;
        ab.ndim -= 2;
        bb.ndim -= 2;
        NEED(bcasts_to(&ab, o->ndim - 2, o->shape) && bcasts_to(&bb, o->ndim - 2, o->shape),
             "%s: matmul: batch dims of a and b do not broadcast to out %s", c->name, s2);
        for (int d = 0; d < o->ndim - 2; d++) {
            int64_t m = 1;
            int la = o->ndim - 2 - ab.ndim, lb = o->ndim - 2 - bb.ndim;
            if (d >= la && ab.shape[d - la] != 1) m = ab.shape[d - la];
            if (d >= lb && bb.shape[d - lb] != 1) m = bb.shape[d - lb];
            NEED(m == o->shape[d] || o->shape[d] == 1, "%s: matmul: out batch dim %d is not the broadcast of a and b",
                 c->name, d);
        }
        if (c->n_in > 2) { /* xhal_matmul_i8: i8 weights [N, K] used transposed, f32 scales [N] */
            NEED(A->dtype == o->dtype && A->dtype != XHAL_DTYPE_F64 && B->dtype == XHAL_DTYPE_I8 &&
                     c->in[2].dtype == XHAL_DTYPE_F32,
                 "%s: matmul with int8 weights: a and out f32/f16/bf16, b i8, scales f32", c->name);
            NEED(a->trans_a == 0 && a->trans_b == 1 && B->layout == XC_LAYOUT_CONTIG && B->ndim == 2,
                 "%s: matmul with int8 weights: b is a contiguous [N, K] used transposed, a is not transposed",
                 c->name);
            NEED(c->in[2].ndim == 1 && c->in[2].shape[0] == N, "%s: matmul with int8 weights: scales must be [%lld]",
                 c->name, (long long)N);
        } else if (xc_dtype_block(B->dtype, NULL, NULL)) {
            NEED(A->dtype == o->dtype && fo,
                 "%s: matmul: with a block-quantized b, a and out share one of f32/f16/bf16", c->name);
            NEED(a->trans_b == 1, "%s: matmul: a block-quantized b is [.., N, K] used with trans_b = 1", c->name);
        } else {
            NEED(A->dtype == o->dtype && B->dtype == o->dtype, "%s: matmul: a, b and out must share one dtype",
                 c->name);
        }
    } else if (c->op == XHAL_OP_GATHER) {
        const xc_tspec *T = &c->in[0], *I = &c->in[1];
        NEED(I->dtype == XHAL_DTYPE_I32 || I->dtype == XHAL_DTYPE_I64, "%s: gather: indices must be i32 or i64",
             c->name);
        NEED(T->ndim >= 1, "%s: gather: table needs >= 1 dims", c->name);
        NEED(I->ndim + T->ndim - 1 <= XHAL_MAX_DIMS, "%s: gather: result has too many dims", c->name);
        xc_tspec want = *I;
        want.ndim = I->ndim + T->ndim - 1;
        for (int d = 1; d < T->ndim; d++) want.shape[I->ndim + d - 1] = T->shape[d];
        shape_str(&want, s1, sizeof s1);
        NEED(same_shape(&want, o), "%s: gather: out is %s, indices x table rows give %s", c->name, s2, s1);
        NEED(T->dtype == o->dtype, "%s: gather: table and out must share one dtype", c->name);
        if (c->given_in && c->expect_status == XHAL_OK)
            for (int64_t i = 0; i < c->given_in[1].n; i++) {
                double k = c->given_in[1].v[i];
                NEED(k >= 0 && k < (double)T->shape[0], "%s: gather: index %g at %lld is outside [0, %lld)", c->name, k,
                     (long long)i, (long long)T->shape[0]);
            }
    } else if (c->op == XHAL_OP_ATTENTION) {
        const xc_tspec *q = &c->in[0], *k = &c->in[1], *v = &c->in[2];
        NEED(q->ndim == 4 && k->ndim == 4 && v->ndim == 4 && o->ndim == 4, "%s: attention: q, k, v and out must be 4-D",
             c->name);
        int64_t B = q->shape[0], Hq = q->shape[1], Sq = q->shape[2], D = q->shape[3], Hkv = k->shape[1],
                Sk = k->shape[2];
        NEED(k->shape[0] == B && v->shape[0] == B, "%s: attention: batch sizes differ", c->name);
        NEED(Hkv > 0 && Hq % Hkv == 0, "%s: attention: Hq %lld is not a multiple of Hkv %lld", c->name, (long long)Hq,
             (long long)Hkv);
        NEED(v->shape[1] == Hkv && v->shape[2] == Sk, "%s: attention: v's heads/length differ from k's", c->name);
        NEED(k->shape[3] == D, "%s: attention: q and k head dims differ", c->name);
        NEED(o->shape[0] == B && o->shape[1] == Hq && o->shape[2] == Sq && o->shape[3] == v->shape[3],
             "%s: attention: out %s must be [B, Hq, Sq, Dv]", c->name, s2);
        NEED(a->causal == 0 || a->causal == 1, "%s: attention: causal must be 0 or 1", c->name);
        NEED(isfinite(a->scale), "%s: attention: scale must be finite", c->name);
        NEED(a->has_mask == (c->n_in == 4), "%s: attention: has_mask disagrees with the inputs", c->name);
        if (c->n_in == 4) {
            int64_t full[4] = {B, Hq, Sq, Sk};
            shape_str(&c->in[3], s1, sizeof s1);
            NEED(bcasts_to(&c->in[3], 4, full), "%s: attention: mask %s does not broadcast to [B, Hq, Sq, Sk]", c->name,
                 s1);
        }
        for (int i = 1; i < c->n_in; i++)
            NEED(c->in[i].dtype == q->dtype, "%s: attention: inputs must share one dtype", c->name);
        NEED(o->dtype == q->dtype, "%s: attention: out must have q's dtype", c->name);
        NEED(a->window >= 0 && (a->window == 0 || a->causal),
             "%s: attention: window %lld must be >= 0 (> 0 with causal)", c->name, (long long)a->window);
        NEED(a->softcap >= 0 && isfinite(a->softcap), "%s: attention: softcap %g must be finite and >= 0", c->name,
             a->softcap);
        NEED(!a->has_q_pos0 || (a->q_pos0 >= 0 && a->q_pos0 <= Sk - Sq), "%s: attention: q_pos0 %lld not in [0, %lld]",
             c->name, (long long)a->q_pos0, (long long)(Sk - Sq));
    } else if (c->op == XHAL_OP_TOPK) {
        NEED(x->ndim >= 1, "%s: topk: x needs an axis", c->name);
        int ax = a->axis < 0 ? a->axis + x->ndim : a->axis;
        NEED(ax >= 0 && ax < x->ndim, "%s: topk: axis %d out of range for %d dims", c->name, a->axis, x->ndim);
        NEED(a->k >= 1 && a->k <= x->shape[ax], "%s: topk: k %lld not in [1, %lld]", c->name, (long long)a->k,
             (long long)x->shape[ax]);
        NEED(a->largest == 0 || a->largest == 1, "%s: topk: largest must be 0 or 1", c->name);
        NEED(c->has_out2, "%s: topk: needs the indices output (out2)", c->name);
        xc_tspec want = *x;
        want.shape[ax] = a->k;
        shape_str(&want, s1, sizeof s1);
        NEED(same_shape(&want, o) && same_shape(&want, &c->out2), "%s: topk: values and indices must be %s", c->name,
             s1);
        NEED(o->dtype == x->dtype, "%s: topk: values must have x's dtype", c->name);
        NEED(c->out2.dtype == XHAL_DTYPE_I32 || c->out2.dtype == XHAL_DTYPE_I64, "%s: topk: indices must be i32/i64",
             c->name);
    } else if (c->op == XHAL_OP_CONCAT) {
        NEED(o->ndim >= 1, "%s: concat: out needs >= 1 dims", c->name);
        int ax = a->axis < 0 ? a->axis + o->ndim : a->axis;
        NEED(ax >= 0 && ax < o->ndim, "%s: concat: axis %d out of range for %d dims", c->name, a->axis, o->ndim);
        int64_t sum = 0;
        for (int i = 0; i < c->n_in; i++) {
            const xc_tspec *p = &c->in[i];
            NEED(p->ndim == o->ndim && p->dtype == o->dtype, "%s: concat: part %d must have out's ndim and dtype",
                 c->name, i);
            for (int d = 0; d < o->ndim; d++)
                NEED(d == ax || p->shape[d] == o->shape[d], "%s: concat: part %d differs from out in dim %d", c->name,
                     i, d);
            sum += p->shape[ax];
        }
        NEED(sum == o->shape[ax], "%s: concat: parts sum to %lld along axis %d, out has %lld", c->name, (long long)sum,
             ax, (long long)o->shape[ax]);
    }
    {
        /* the op table's DTYPES column: the dtypes of the data operand (in[0]; out for fill) */
        xhal_dtype data = c->n_in ? c->in[0].dtype : o->dtype;
        NEED((c->op == XHAL_OP_COPY && qx) || (xhal_op_dtypes_of((int)c->op) & XHAL_DTYPE_BIT(data)),
             "%s: %s does not take %s (op table)", c->name, on, xhal_dtype_name(data));
    }
    NEED(c->inplace == 0 || (c->n_in > 0 && same_shape(&c->in[0], o) && c->in[0].dtype == o->dtype),
         "%s: in-place case with differing tensors", c->name);
#undef NEED
    return 0;
}

int xc_case_trivial(const xc_case *c)
{
    if (c->expect_status != XHAL_OK) return 0;
    if (xc_numel(c->out.ndim, c->out.shape) == 0) return 1;
    if (c->op == XHAL_OP_CONCAT) return 0;
    for (int i = 0; i < c->n_in; i++)
        if (xc_numel(c->in[i].ndim, c->in[i].shape) == 0) return 1;
    return 0;
}

/* ---------------------------------------------------------------------------------- */
/* Description                                                                        */
/* ---------------------------------------------------------------------------------- */
void xc_tspec_view(const xc_tspec *sp, int64_t *strides, int64_t *offset)
{
    int64_t S[XHAL_MAX_DIMS], st[XHAL_MAX_DIMS];
    int layout = sp->layout;
    if (sp->ndim == 0 && layout != XC_LAYOUT_EXPAND) layout = XC_LAYOUT_CONTIG;
    for (int d = 0; d < sp->ndim; d++) S[d] = sp->shape[d];
    if (layout == XC_LAYOUT_PERMUTE)
        for (int d = 0; d < sp->ndim; d++) S[sp->perm[d]] = sp->shape[d];
    else if (layout == XC_LAYOUT_STEP)
        S[sp->ndim - 1] = 2 * sp->shape[sp->ndim - 1] + 1;
    else if (layout == XC_LAYOUT_EXPAND)
        for (int d = 0; d < sp->ndim; d++) S[d] = sp->eshape[d];
    int64_t ns = 1;
    for (int d = sp->ndim - 1; d >= 0; d--) {
        st[d] = ns;
        ns *= S[d];
    }
    *offset = 0;
    for (int d = 0; d < sp->ndim; d++) {
        switch (layout) {
            case XC_LAYOUT_PERMUTE: strides[d] = st[sp->perm[d]]; break;
            case XC_LAYOUT_EXPAND: strides[d] = (S[d] == 1 && sp->shape[d] != 1) ? 0 : st[d]; break;
            default: strides[d] = st[d]; break;
        }
    }
    if (layout == XC_LAYOUT_STEP) {
        strides[sp->ndim - 1] *= 2;
        *offset = 1;
    }
}

static size_t put_tensor(char *b, size_t sz, size_t o, const char *what, const xc_tspec *t)
{
    if (o >= sz) return o;
    int64_t st[XHAL_MAX_DIMS], off;
    xc_tspec_view(t, st, &off);
    o += (size_t)snprintf(b + o, sz - o, "%s%s %s[", o ? "; " : "", what, xhal_dtype_name(t->dtype));
    for (int d = 0; d < t->ndim && o < sz; d++)
        o += (size_t)snprintf(b + o, sz - o, "%s%lld", d ? "," : "", (long long)t->shape[d]);
    if (o < sz) o += (size_t)snprintf(b + o, sz - o, "] strides [");
    for (int d = 0; d < t->ndim && o < sz; d++)
        o += (size_t)snprintf(b + o, sz - o, "%s%lld", d ? "," : "", (long long)st[d]);
    if (o < sz) o += (size_t)snprintf(b + o, sz - o, "] offset %lld", (long long)off);
    return o;
}

void xc_case_describe(const xc_case *c, char *b, size_t sz)
{
    if (!sz) return;
    b[0] = 0;
    size_t o = 0;
    for (int i = 0; i < c->n_in; i++) {
        char what[16];
        snprintf(what, sizeof what, "in%d", i);
        o = put_tensor(b, sz, o, what, &c->in[i]);
    }
    o = put_tensor(b, sz, o, c->inplace ? "out(=in0)" : "out", &c->out);
    if (c->has_out2) o = put_tensor(b, sz, o, "out2", &c->out2);
    int n;
    const xc_attr_info *t = xc_attr_table(&n);
    int first = 1;
    for (int i = 0; i < n && o < sz; i++) {
        if (!xc_attr_applies(t[i].name, c->op)) continue;
        double v = xc_attr_get(&c->at, &t[i]);
        if (!strcmp(t[i].name, "q_pos0") && !c->at.has_q_pos0) v = -1; /* Sk - Sq */
        o += (size_t)snprintf(b + o, sz - o, "%s%s=%.9g", first ? "; attrs " : " ", t[i].name, v);
        first = 0;
    }
    if (o < sz && c->op == XHAL_OP_ATTENTION) o += (size_t)snprintf(b + o, sz - o, " has_mask=%d", c->at.has_mask);
    if (o < sz && c->op == XHAL_OP_MATMUL)
        o += (size_t)snprintf(b + o, sz - o, " out_init=%s",
                              c->given_init || c->out_init == XC_INIT_RANDOM ? "values" : "NaN");
    if (o < sz && c->expect_status != XHAL_OK)
        snprintf(b + o, sz - o, "; must return %s", xhal_status_name((xhal_status)c->expect_status));
}
