/*
 * cpu_ops.c - op dispatch, op_supported, and the elementwise family of the CPU
 * backend: COPY, FILL, unary, binary, SCALE and the reductions.
 *
 * Float ops load tiles of up to CPU_TILE elements into doubles, compute in double and
 * store with one correct rounding (cpu_convert.h). Integer ops use int64_t tiles and
 * wrap like two's complement hardware.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cpu_convert.h"
#include "cpu_internal.h"
#include "cpu_iter.h"
#include "cpu_simd.h"

/* Elementwise ops go parallel from this many elements, in chunks of at least half. */
#define CPU_PAR_ELEMS ((int64_t)1 << 16)

/* ------------------------------------------------------------------------- */
/* op_supported                                                               */
/* ------------------------------------------------------------------------- */
static xhal_status unsupported(const xhal_op_desc *d, int dt, const char *why)
{
    return CPU_ERR(XHAL_ERROR_UNSUPPORTED, "cpu: %s on dtype %s is not supported by cpu:0 (%s)", cpu_op_name(d->op),
                   cpu_dtype_name(dt), why);
}

static int valid_dtype(int dt) { return dt > XHAL_DTYPE_INVALID && dt < XHAL_DTYPE_COUNT_; }

/* Every input and output a float dtype? Returns the first offending dtype or 0. */
static int first_non_float(const xhal_op_desc *d)
{
    for (int i = 0; i < d->n_inputs; i++)
        if (!cpu_is_float(d->inputs[i].dtype)) return d->inputs[i].dtype ? d->inputs[i].dtype : -1;
    for (int i = 0; i < d->n_outputs; i++)
        if (!cpu_is_float(d->outputs[i].dtype)) return d->outputs[i].dtype ? d->outputs[i].dtype : -1;
    return 0;
}

static int is_i32_i64(int dt) { return dt == XHAL_DTYPE_I32 || dt == XHAL_DTYPE_I64; }

/* Support follows the op table: an op runs when its family has a runner here and its data
 * operand's dtype (xhal_op_data_dtype) is in both the op's DTYPES column and what that
 * runner computes in; the family's own rules (operand dtypes that must agree, block dtypes)
 * come first. No op is listed by id: a new op of a family needs no edit here. */
xhal_status cpu_op_supported(void *state, int device, const xhal_op_desc *d)
{
    (void)state;
    (void)device;
    int op = d->op;
    int bad;
    if (d->n_outputs < 1 && op != XHAL_OP_INVALID)
        return CPU_ERR(XHAL_ERROR_UNSUPPORTED, "cpu: %s without an output", cpu_op_name(op));
    int odt = d->n_outputs >= 1 ? d->outputs[0].dtype : 0;
    int idt = xhal_op_data_dtype(d);
    const unsigned ints = XHAL_DTYPE_BIT(XHAL_DTYPE_I32) | XHAL_DTYPE_BIT(XHAL_DTYPE_I64);
    unsigned kinds;                  /* dtypes the family's runner computes in */
    switch (xhal_op_family_of(op)) { /* xhal_op_table.h */
        case XHAL_OPF_COPY:
            if (cpu_is_block_dtype(idt) || cpu_is_block_dtype(odt)) return cpu_block_copy_supported(idt, odt);
            if (!valid_dtype(idt)) return unsupported(d, idt, "unknown dtype");
            if (!valid_dtype(odt)) return unsupported(d, odt, "unknown dtype");
            return XHAL_OK;
        case XHAL_OPF_FILL: return valid_dtype(odt) ? XHAL_OK : unsupported(d, odt, "unknown dtype");
        case XHAL_OPF_GATHER:
            if (d->n_inputs < 2) return unsupported(d, idt, "needs a table and indices");
            if (!is_i32_i64(d->inputs[1].dtype))
                return unsupported(d, d->inputs[1].dtype, "indices must be i32 or i64");
            if (!valid_dtype(idt) || odt != idt) return unsupported(d, odt, "out must have the table's dtype");
            return XHAL_OK;
        case XHAL_OPF_UNARY:
        case XHAL_OPF_SCALE:
            if (idt != odt) return unsupported(d, odt, "input and output dtypes differ");
            kinds = XHAL_OP_DTYPES_FLOAT | XHAL_DTYPE_BIT(XHAL_DTYPE_I8) | ints;
            break;
        case XHAL_OPF_BINARY:
            if (d->n_inputs < 2) return unsupported(d, idt, "needs two inputs");
            if (d->inputs[1].dtype != idt || odt != idt)
                return unsupported(d, d->inputs[1].dtype != idt ? d->inputs[1].dtype : odt, "mixed dtypes");
            kinds = XHAL_OP_DTYPES_FLOAT | ints;
            break;
        case XHAL_OPF_REDUCE: /* out has x's dtype, or is i32/i64 for index results (argmax) */
            if (odt != idt && !is_i32_i64(odt)) return unsupported(d, odt, "input and output dtypes differ");
            kinds = XHAL_OP_DTYPES_FLOAT | ints;
            break;
        case XHAL_OPF_MATMUL: /* block-quantized or per-channel int8 weights (with scales) */
            if (d->n_inputs >= 2 &&
                (cpu_is_block_dtype(d->inputs[1].dtype) || d->inputs[1].dtype == XHAL_DTYPE_I8 || d->n_inputs > 2))
                return cpu_qmatmul_supported(d);
            /* every operand a float, like the families below */
            bad = first_non_float(d);
            if (bad) return unsupported(d, bad, "float dtypes only");
            kinds = XHAL_OP_DTYPES_FLOAT;
            break;
        case XHAL_OPF_ROPE: {
            /* x and out float; positions i32/i64 and inv_freq f32 after them (xhal_backend.h) */
            int k = 1;
            if (d->attrs.rope.has_positions && !is_i32_i64(d->inputs[k++].dtype))
                return unsupported(d, d->inputs[k - 1].dtype, "positions must be i32 or i64");
            if (d->attrs.rope.has_inv_freq && d->inputs[k++].dtype != XHAL_DTYPE_F32)
                return unsupported(d, d->inputs[k - 1].dtype, "inv_freq must be f32");
            if (!cpu_is_float(odt)) return unsupported(d, odt, "float dtypes only");
            kinds = XHAL_OP_DTYPES_FLOAT;
            break;
        }
        case XHAL_OPF_TOPK:
            if (d->n_outputs != 2) return unsupported(d, idt, "needs two outputs (values, indices)");
            if (odt != idt) return unsupported(d, odt, "values must have x's dtype");
            if (!is_i32_i64(d->more_outputs[0].dtype))
                return unsupported(d, d->more_outputs[0].dtype, "indices must be i32 or i64");
            kinds = XHAL_OP_DTYPES_FLOAT;
            break;
        case XHAL_OPF_SOFTMAX:
        case XHAL_OPF_NORM:
        case XHAL_OPF_ATTENTION:
            bad = first_non_float(d);
            if (bad) return unsupported(d, bad, "float dtypes only");
            kinds = XHAL_OP_DTYPES_FLOAT;
            break;
        case XHAL_OPF_COMPOSED:
            return CPU_ERR(XHAL_ERROR_UNSUPPORTED, "cpu: %s is composed by the core from other ops, not run by cpu:0",
                           cpu_op_name(op));
        default:
            return CPU_ERR(XHAL_ERROR_UNSUPPORTED, "cpu: op id %d is unknown to cpu:0 (catalogue %u)", op,
                           (unsigned)XHAL_BACKEND_CATALOGUE_VERSION);
    }
    char why[192];
    return xhal_op_dtype_ok(d, kinds, why, sizeof why) ? XHAL_OK : unsupported(d, idt, why);
}

xhal_status cpu_op_run(void *state, void *stream, const xhal_op_desc *d)
{
    (void)stream;
    cpu_state *st = state;
    /* one runner per family of xhal_op_table.h: a new op of a family needs no case here */
    switch (xhal_op_family_of(d->op)) {
        case XHAL_OPF_COPY: return cpu_run_copy(st, d);
        case XHAL_OPF_FILL: return cpu_run_fill(st, d);
        case XHAL_OPF_UNARY: return cpu_run_unary(st, d);
        case XHAL_OPF_BINARY: return cpu_run_binary(st, d);
        case XHAL_OPF_SCALE: return cpu_run_scale(st, d);
        case XHAL_OPF_REDUCE: return cpu_run_reduce(st, d);
        case XHAL_OPF_SOFTMAX: return cpu_run_softmax(st, d);
        case XHAL_OPF_NORM: return cpu_run_norm(st, d);
        case XHAL_OPF_MATMUL:
            return cpu_is_block_dtype(d->inputs[1].dtype) || d->n_inputs > 2 ? cpu_run_matmul_q(st, d)
                                                                             : cpu_run_matmul(st, d);
        case XHAL_OPF_GATHER: return cpu_run_gather(st, d);
        case XHAL_OPF_ROPE: return cpu_run_rope(st, d);
        case XHAL_OPF_ATTENTION: return cpu_run_attention(st, d);
        case XHAL_OPF_TOPK: return cpu_run_topk(st, d);
        default:
            return cpu_op_supported(state, 0, d) == XHAL_OK
                       ? CPU_ERR(XHAL_ERROR_INTERNAL, "cpu: op %s has no runner", cpu_op_name(d->op))
                       : XHAL_ERROR_UNSUPPORTED;
    }
}

/* ------------------------------------------------------------------------- */
/* COPY                                                                       */
/* ------------------------------------------------------------------------- */
typedef struct copy_ctx {
    int sdt, ddt;
    size_t es;
} copy_ctx;

/* same dtype: bytes */
static void copy_same(void *vctx, int64_t n, unsigned char *const *p, const int64_t *bs)
{
    const copy_ctx *c = vctx;
    const unsigned char *s = p[0];
    unsigned char *d = p[1];
    int64_t es = (int64_t)c->es;
    if (bs[0] == es && bs[1] == es) {
        memcpy(d, s, (size_t)(n * es));
        return;
    }
    switch (es) {
        case 1:
            for (int64_t i = 0; i < n; i++) d[i * bs[1]] = s[i * bs[0]];
            break;
        case 2:
            for (int64_t i = 0; i < n; i++) memcpy(d + i * bs[1], s + i * bs[0], 2);
            break;
        case 4:
            for (int64_t i = 0; i < n; i++) memcpy(d + i * bs[1], s + i * bs[0], 4);
            break;
        default:
            for (int64_t i = 0; i < n; i++) memcpy(d + i * bs[1], s + i * bs[0], 8);
            break;
    }
}

/* float to float: through double tiles */
static void copy_float(void *vctx, int64_t n, unsigned char *const *p, const int64_t *bs)
{
    const copy_ctx *c = vctx;
    double t[CPU_TILE];
    for (int64_t i = 0; i < n; i += CPU_TILE) {
        int64_t m = n - i < CPU_TILE ? n - i : CPU_TILE;
        cpu_load_tile(c->sdt, p[0] + i * bs[0], bs[0], m, t);
        cpu_store_tile(c->ddt, p[1] + i * bs[1], bs[1], m, t);
    }
}

/* anything else: element by element with the cast rules */
static void copy_cast(void *vctx, int64_t n, unsigned char *const *p, const int64_t *bs)
{
    const copy_ctx *c = vctx;
    for (int64_t i = 0; i < n; i++) cpu_convert_elem(c->ddt, p[1] + i * bs[1], c->sdt, p[0] + i * bs[0]);
}

xhal_status cpu_run_copy(cpu_state *st, const xhal_op_desc *d)
{
    const xhal_tensor_desc *t[2] = {&d->inputs[0], &d->outputs[0]};
    if (cpu_is_block_dtype(t[0]->dtype) || cpu_is_block_dtype(t[1]->dtype)) return cpu_run_copy_block(st, d);
    cpu_iter it;
    cpu_iter_init_desc(&it, 2, t);
    copy_ctx c = {t[0]->dtype, t[1]->dtype, cpu_dtype_size(t[0]->dtype)};
    cpu_run_fn fn = c.sdt == c.ddt ? copy_same : (cpu_is_float(c.sdt) && cpu_is_float(c.ddt)) ? copy_float : copy_cast;
    cpu_iter_run(st, &it, fn, &c, CPU_PAR_ELEMS * 4, CPU_PAR_ELEMS);
    return XHAL_OK;
}

/* ------------------------------------------------------------------------- */
/* FILL                                                                       */
/* ------------------------------------------------------------------------- */
typedef struct fill_ctx {
    unsigned char pattern[8];
    size_t es;
} fill_ctx;

static void fill_run(void *vctx, int64_t n, unsigned char *const *p, const int64_t *bs)
{
    const fill_ctx *c = vctx;
    unsigned char *d = p[0];
    int64_t es = (int64_t)c->es;
    int zero = 1;
    for (size_t k = 0; k < c->es; k++) zero &= c->pattern[k] == 0;
    if (bs[0] == es && zero) {
        memset(d, 0, (size_t)(n * es));
        return;
    }
    for (int64_t i = 0; i < n; i++) memcpy(d + i * bs[0], c->pattern, c->es);
}

xhal_status cpu_run_fill(cpu_state *st, const xhal_op_desc *d)
{
    const xhal_tensor_desc *t[1] = {&d->outputs[0]};
    fill_ctx c;
    memset(&c, 0, sizeof(c));
    c.es = cpu_dtype_size(t[0]->dtype);
    /* the core converted the value once (xhal_backend.h): store its bits as they are */
    uint64_t b = d->attrs.fill.bits;
    uint8_t u8 = (uint8_t)b;
    uint16_t u16 = (uint16_t)b;
    uint32_t u32 = (uint32_t)b;
    memcpy(c.pattern,
           c.es == 1   ? (const void *)&u8
           : c.es == 2 ? (const void *)&u16
           : c.es == 4 ? (const void *)&u32
                       : (const void *)&b,
           c.es);
    cpu_iter it;
    cpu_iter_init_desc(&it, 1, t);
    cpu_iter_run(st, &it, fill_run, &c, CPU_PAR_ELEMS * 4, CPU_PAR_ELEMS);
    return XHAL_OK;
}

/* ------------------------------------------------------------------------- */
/* unary and SCALE                                                            */
/* ------------------------------------------------------------------------- */
typedef struct ew_ctx {
    int op;
    int dt;             /* dtype of every operand */
    double alpha, beta; /* SCALE */
} ew_ctx;

static double sigmoid(double x)
{
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

static void unary_tile(int op, int64_t n, double *v, double alpha, double beta)
{
    const double k_inv_sqrt2 = 0.70710678118654752440;
    const double k_sqrt_2_over_pi = 0.79788456080286535588;
    switch (op) {
        case XHAL_OP_NEG:
            for (int64_t i = 0; i < n; i++) v[i] = -v[i];
            break;
        case XHAL_OP_ABS:
            for (int64_t i = 0; i < n; i++) v[i] = fabs(v[i]);
            break;
        case XHAL_OP_EXP:
            for (int64_t i = 0; i < n; i++) v[i] = exp(v[i]);
            break;
        case XHAL_OP_LOG:
            for (int64_t i = 0; i < n; i++) v[i] = log(v[i]);
            break;
        case XHAL_OP_SQRT:
            for (int64_t i = 0; i < n; i++) v[i] = sqrt(v[i]);
            break;
        case XHAL_OP_RSQRT:
            for (int64_t i = 0; i < n; i++) v[i] = 1.0 / sqrt(v[i]);
            break;
        case XHAL_OP_TANH:
            for (int64_t i = 0; i < n; i++) v[i] = tanh(v[i]);
            break;
        case XHAL_OP_SIGMOID:
            for (int64_t i = 0; i < n; i++) v[i] = sigmoid(v[i]);
            break;
        case XHAL_OP_RELU:
            /* NaN stays NaN */
            for (int64_t i = 0; i < n; i++) v[i] = v[i] < 0 ? 0.0 : v[i];
            break;
        case XHAL_OP_SILU:
            for (int64_t i = 0; i < n; i++) v[i] = v[i] * sigmoid(v[i]);
            break;
        case XHAL_OP_GELU:
            for (int64_t i = 0; i < n; i++) v[i] = 0.5 * v[i] * (1.0 + erf(v[i] * k_inv_sqrt2));
            break;
        case XHAL_OP_GELU_TANH:
            for (int64_t i = 0; i < n; i++) {
                double x = v[i];
                v[i] = 0.5 * x * (1.0 + tanh(k_sqrt_2_over_pi * (x + 0.044715 * x * x * x)));
            }
            break;
        case XHAL_OP_SCALE:
            for (int64_t i = 0; i < n; i++) v[i] = alpha * v[i] + beta;
            break;
        case XHAL_OP_SQUARE:
            for (int64_t i = 0; i < n; i++) v[i] = v[i] * v[i];
            break;
        case XHAL_OP_SOFTPLUS: /* ln(1 + e^x) without overflow: max(x, 0) + ln(1 + e^-|x|) */
            for (int64_t i = 0; i < n; i++) v[i] = (v[i] > 0 ? v[i] : 0.0) + log1p(exp(-fabs(v[i])));
            break;
        default: break;
    }
}

static void unary_float(void *vctx, int64_t n, unsigned char *const *p, const int64_t *bs)
{
    const ew_ctx *c = vctx;
    double t[CPU_TILE];
    for (int64_t i = 0; i < n; i += CPU_TILE) {
        int64_t m = n - i < CPU_TILE ? n - i : CPU_TILE;
        cpu_load_tile(c->dt, p[0] + i * bs[0], bs[0], m, t);
        unary_tile(c->op, m, t, c->alpha, c->beta);
        cpu_store_tile(c->dt, p[1] + i * bs[1], bs[1], m, t);
    }
}

/* f32 contiguous: no tile round trip for the cheap ops */
static void unary_f32_contig(void *vctx, int64_t n, unsigned char *const *p, const int64_t *bs)
{
    const ew_ctx *c = vctx;
    if (bs[0] != 4 || bs[1] != 4 ||
        (c->op != XHAL_OP_NEG && c->op != XHAL_OP_ABS && c->op != XHAL_OP_RELU && c->op != XHAL_OP_SCALE)) {
        unary_float(vctx, n, p, bs);
        return;
    }
    const float *x = (const float *)(const void *)p[0];
    float *y = (float *)(void *)p[1];
    switch (c->op) {
        case XHAL_OP_NEG:
            for (int64_t i = 0; i < n; i++) y[i] = -x[i];
            break;
        case XHAL_OP_ABS:
            for (int64_t i = 0; i < n; i++) y[i] = fabsf(x[i]);
            break;
        case XHAL_OP_RELU:
            for (int64_t i = 0; i < n; i++) y[i] = x[i] < 0 ? 0.0f : x[i];
            break;
        default:
            /* alpha*x+beta in double, one rounding: the same result as the tile path */
            for (int64_t i = 0; i < n; i++) y[i] = (float)(c->alpha * (double)x[i] + c->beta);
            break;
    }
}

/* silu of contiguous f32/f16/bf16 in f32 with the vector exp (decode and prefill run it on
 * every MLP activation); strided views take the double tiles */
static void unary_silu_f32(void *vctx, int64_t n, unsigned char *const *p, const int64_t *bs)
{
    const ew_ctx *c = vctx;
    int64_t es = (int64_t)cpu_dtype_size(c->dt);
    if (bs[0] != es || bs[1] != es) {
        unary_float(vctx, n, p, bs);
        return;
    }
    const cpu_simd_ops *k = cpu_simd();
    float t[CPU_TILE];
    for (int64_t i = 0; i < n; i += CPU_TILE) {
        int64_t m = n - i < CPU_TILE ? n - i : CPU_TILE;
        k->load(c->dt, p[0] + i * es, t, m);
        k->silu(t, m);
        k->store(c->dt, p[1] + i * es, t, m);
    }
}

static void unary_int(void *vctx, int64_t n, unsigned char *const *p, const int64_t *bs)
{
    const ew_ctx *c = vctx;
    int64_t t[CPU_TILE];
    for (int64_t i = 0; i < n; i += CPU_TILE) {
        int64_t m = n - i < CPU_TILE ? n - i : CPU_TILE;
        cpu_load_tile_i64(c->dt, p[0] + i * bs[0], bs[0], m, t);
        for (int64_t k = 0; k < m; k++) {
            uint64_t u = (uint64_t)t[k];
            switch (c->op) {
                case XHAL_OP_NEG: t[k] = (int64_t)(0u - u); break; /* wraps for the minimum */
                case XHAL_OP_ABS: t[k] = t[k] < 0 ? (int64_t)(0u - u) : t[k]; break;
                default: t[k] = t[k] < 0 ? 0 : t[k]; break; /* RELU */
            }
        }
        cpu_store_tile_i64(c->dt, p[1] + i * bs[1], bs[1], m, t);
    }
}

static xhal_status run_unary_like(cpu_state *st, const xhal_op_desc *d, double alpha, double beta)
{
    const xhal_tensor_desc *t[2] = {&d->inputs[0], &d->outputs[0]};
    ew_ctx c = {d->op, t[0]->dtype, alpha, beta};
    cpu_iter it;
    cpu_iter_init_desc(&it, 2, t);
    cpu_run_fn fn = cpu_is_int(c.dt) ? unary_int : c.dt == XHAL_DTYPE_F32 ? unary_f32_contig : unary_float;
    if (d->op == XHAL_OP_SILU && c.dt != XHAL_DTYPE_F64 && cpu_is_float(c.dt)) fn = unary_silu_f32;
    /* transcendental ops are costly per element: split earlier */
    int cheap = d->op == XHAL_OP_NEG || d->op == XHAL_OP_ABS || d->op == XHAL_OP_RELU || d->op == XHAL_OP_SCALE;
    int64_t par = cheap ? CPU_PAR_ELEMS * 4 : CPU_PAR_ELEMS / 4;
    cpu_iter_run(st, &it, fn, &c, par, par / 2);
    return XHAL_OK;
}

xhal_status cpu_run_unary(cpu_state *st, const xhal_op_desc *d) { return run_unary_like(st, d, 0, 0); }
xhal_status cpu_run_scale(cpu_state *st, const xhal_op_desc *d)
{
    return run_unary_like(st, d, d->attrs.scale.alpha, d->attrs.scale.beta);
}

/* ------------------------------------------------------------------------- */
/* binary                                                                     */
/* ------------------------------------------------------------------------- */
static void binary_float(void *vctx, int64_t n, unsigned char *const *p, const int64_t *bs)
{
    const ew_ctx *c = vctx;
    double a[CPU_TILE], b[CPU_TILE];
    for (int64_t i = 0; i < n; i += CPU_TILE) {
        int64_t m = n - i < CPU_TILE ? n - i : CPU_TILE;
        cpu_load_tile(c->dt, p[0] + i * bs[0], bs[0], m, a);
        cpu_load_tile(c->dt, p[1] + i * bs[1], bs[1], m, b);
        switch (c->op) {
            case XHAL_OP_ADD:
                for (int64_t k = 0; k < m; k++) a[k] += b[k];
                break;
            case XHAL_OP_SUB:
                for (int64_t k = 0; k < m; k++) a[k] -= b[k];
                break;
            case XHAL_OP_MUL:
                for (int64_t k = 0; k < m; k++) a[k] *= b[k];
                break;
            case XHAL_OP_DIV:
                for (int64_t k = 0; k < m; k++) a[k] /= b[k];
                break;
            case XHAL_OP_MAXIMUM: /* NaN propagates from either side */
                for (int64_t k = 0; k < m; k++)
                    a[k] = (isnan(a[k]) || isnan(b[k])) ? a[k] + b[k] : (a[k] >= b[k] ? a[k] : b[k]);
                break;
            default: /* MINIMUM */
                for (int64_t k = 0; k < m; k++)
                    a[k] = (isnan(a[k]) || isnan(b[k])) ? a[k] + b[k] : (a[k] <= b[k] ? a[k] : b[k]);
                break;
        }
        cpu_store_tile(c->dt, p[2] + i * bs[2], bs[2], m, a);
    }
}

/* f32, all three contiguous: straight float arithmetic (correctly rounded, like the
 * double path: one IEEE operation on two floats rounds once). */
static void binary_f32(void *vctx, int64_t n, unsigned char *const *p, const int64_t *bs)
{
    const ew_ctx *c = vctx;
    if (bs[0] != 4 || bs[1] != 4 || bs[2] != 4 || c->op == XHAL_OP_MAXIMUM || c->op == XHAL_OP_MINIMUM) {
        binary_float(vctx, n, p, bs);
        return;
    }
    const float *a = (const float *)(const void *)p[0];
    const float *b = (const float *)(const void *)p[1];
    float *y = (float *)(void *)p[2];
    switch (c->op) {
        case XHAL_OP_ADD:
            for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i];
            break;
        case XHAL_OP_SUB:
            for (int64_t i = 0; i < n; i++) y[i] = a[i] - b[i];
            break;
        case XHAL_OP_MUL:
            for (int64_t i = 0; i < n; i++) y[i] = a[i] * b[i];
            break;
        default:
            for (int64_t i = 0; i < n; i++) y[i] = a[i] / b[i];
            break;
    }
}

static void binary_int(void *vctx, int64_t n, unsigned char *const *p, const int64_t *bs)
{
    const ew_ctx *c = vctx;
    int64_t a[CPU_TILE], b[CPU_TILE];
    for (int64_t i = 0; i < n; i += CPU_TILE) {
        int64_t m = n - i < CPU_TILE ? n - i : CPU_TILE;
        cpu_load_tile_i64(c->dt, p[0] + i * bs[0], bs[0], m, a);
        cpu_load_tile_i64(c->dt, p[1] + i * bs[1], bs[1], m, b);
        for (int64_t k = 0; k < m; k++) {
            uint64_t ua = (uint64_t)a[k], ub = (uint64_t)b[k];
            switch (c->op) {
                case XHAL_OP_ADD: a[k] = (int64_t)(ua + ub); break;
                case XHAL_OP_SUB: a[k] = (int64_t)(ua - ub); break;
                case XHAL_OP_MUL: a[k] = (int64_t)(ua * ub); break;
                case XHAL_OP_MAXIMUM: a[k] = a[k] >= b[k] ? a[k] : b[k]; break;
                default: a[k] = a[k] <= b[k] ? a[k] : b[k]; break;
            }
        }
        cpu_store_tile_i64(c->dt, p[2] + i * bs[2], bs[2], m, a);
    }
}

xhal_status cpu_run_binary(cpu_state *st, const xhal_op_desc *d)
{
    const xhal_tensor_desc *t[3] = {&d->outputs[0], &d->inputs[0], &d->inputs[1]};
    /* iterate over out's shape (inputs are already broadcast to it) */
    unsigned char *base[3] = {cpu_tensor_base(&d->inputs[0]), cpu_tensor_base(&d->inputs[1]),
                              cpu_tensor_base(&d->outputs[0])};
    const int64_t *strides[3] = {d->inputs[0].strides, d->inputs[1].strides, d->outputs[0].strides};
    size_t es = cpu_dtype_size(t[0]->dtype);
    size_t ess[3] = {es, es, es};
    cpu_iter it;
    cpu_iter_init(&it, t[0]->ndim, t[0]->shape, 3, base, strides, ess);
    ew_ctx c = {d->op, t[0]->dtype, 0, 0};
    cpu_run_fn fn = cpu_is_int(c.dt) ? binary_int : c.dt == XHAL_DTYPE_F32 ? binary_f32 : binary_float;
    cpu_iter_run(st, &it, fn, &c, CPU_PAR_ELEMS * 4, CPU_PAR_ELEMS);
    return XHAL_OK;
}

/* ------------------------------------------------------------------------- */
/* reductions over one axis                                                   */
/* ------------------------------------------------------------------------- */
typedef struct red_ctx {
    int op;
    int xdt, odt;
    int64_t r;       /* length of the reduced axis */
    int64_t rstride; /* its byte stride in x */
} red_ctx;

/* One output element from the R elements at x, stride rs. */
static void reduce_one(const red_ctx *c, const unsigned char *x, unsigned char *out)
{
    int64_t r = c->r, rs = c->rstride;
    if (cpu_is_int(c->xdt)) {
        if (c->op == XHAL_OP_SUM) {
            uint64_t s = 0;
            for (int64_t i = 0; i < r; i++) s += (uint64_t)cpu_load_i64(c->xdt, x + i * rs);
            cpu_store_i64_wrap(c->odt, out, (int64_t)s);
            return;
        }
        int64_t best = cpu_load_i64(c->xdt, x);
        int64_t arg = 0;
        for (int64_t i = 1; i < r; i++) {
            int64_t v = cpu_load_i64(c->xdt, x + i * rs);
            if (v > best) {
                best = v;
                arg = i;
            }
        }
        cpu_store_i64_wrap(c->odt, out, c->op == XHAL_OP_ARGMAX ? arg : best);
        return;
    }
    double t[CPU_TILE];
    if (c->op == XHAL_OP_SUM || c->op == XHAL_OP_MEAN) {
        double s = 0.0;
        for (int64_t i = 0; i < r; i += CPU_TILE) {
            int64_t m = r - i < CPU_TILE ? r - i : CPU_TILE;
            cpu_load_tile(c->xdt, x + i * rs, rs, m, t);
            for (int64_t k = 0; k < m; k++) s += t[k];
        }
        cpu_store_f64(c->odt, out, c->op == XHAL_OP_MEAN ? s / (double)r : s);
        return;
    }
    /* MAX / ARGMAX: the first NaN wins, else the first maximum */
    double best = 0.0;
    int64_t arg = -1;
    for (int64_t i = 0; i < r && !(arg >= 0 && isnan(best)); i += CPU_TILE) {
        int64_t m = r - i < CPU_TILE ? r - i : CPU_TILE;
        cpu_load_tile(c->xdt, x + i * rs, rs, m, t);
        for (int64_t k = 0; k < m; k++) {
            if (arg < 0 || isnan(t[k]) || t[k] > best) {
                best = t[k];
                arg = i + k;
                if (isnan(best)) break;
            }
        }
    }
    if (c->op == XHAL_OP_ARGMAX)
        cpu_store_i64_wrap(c->odt, out, arg);
    else
        cpu_store_f64(c->odt, out, best);
}

static void reduce_run(void *vctx, int64_t n, unsigned char *const *p, const int64_t *bs)
{
    const red_ctx *c = vctx;
    for (int64_t i = 0; i < n; i++) reduce_one(c, p[0] + i * bs[0], p[1] + i * bs[1]);
}

xhal_status cpu_run_reduce(cpu_state *st, const xhal_op_desc *d)
{
    const xhal_tensor_desc *x = &d->inputs[0], *o = &d->outputs[0];
    int axis = d->attrs.reduce.axis;
    red_ctx c;
    c.op = d->op;
    c.xdt = x->dtype;
    c.odt = o->dtype;
    c.r = x->ndim > 0 ? x->shape[axis] : 1;
    c.rstride = x->ndim > 0 ? x->strides[axis] * (int64_t)cpu_dtype_size(x->dtype) : 0;
    /* iterate over out's shape (size 1 at axis) with x's strides */
    unsigned char *base[2] = {cpu_tensor_base(x), cpu_tensor_base(o)};
    const int64_t *strides[2] = {x->strides, o->strides};
    size_t es[2] = {cpu_dtype_size(x->dtype), cpu_dtype_size(o->dtype)};
    cpu_iter it;
    cpu_iter_init(&it, o->ndim, o->shape, 2, base, strides, es);
    int64_t per = c.r > 0 ? c.r : 1;
    int64_t par = CPU_PAR_ELEMS / per > 0 ? CPU_PAR_ELEMS / per : 1;
    cpu_iter_run(st, &it, reduce_run, &c, par * 2, par);
    return XHAL_OK;
}
