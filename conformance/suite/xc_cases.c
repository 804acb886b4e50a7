/* xc_cases.c - the built-in case catalogue (every op x dtype, with edge cases) and the
 * seeded generation of each case's input values. */
#include "xc_conform.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------ */
/* Case list                                                                            */
/* ------------------------------------------------------------------------------------ */
int xc_case_list_push(xc_case_list *l, const xc_case *c)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 256;
        xc_case *p = realloc(l->cases, sizeof(*p) * (size_t)cap);
        if (!p) return -1;
        l->cases = p;
        l->cap = cap;
    }
    l->cases[l->n++] = *c;
    return 0;
}

void xc_case_list_free(xc_case_list *l)
{
    for (int i = 0; i < l->n; i++) {
        xc_case *c = &l->cases[i];
        if (c->given_in) {
            for (int k = 0; k < c->n_alloc_in; k++) xc_tensor_free(&c->given_in[k]);
            free(c->given_in);
        }
        if (c->given_init) {
            xc_tensor_free(c->given_init);
            free(c->given_init);
        }
        if (c->given_expect) {
            xc_tensor_free(c->given_expect);
            free(c->given_expect);
        }
    }
    free(l->cases);
    memset(l, 0, sizeof(*l));
}

/* ------------------------------------------------------------------------------------ */
/* Builders                                                                             */
/* ------------------------------------------------------------------------------------ */
static xc_tspec ts(xhal_dtype dt, int ndim, ...)
{
    xc_tspec t;
    memset(&t, 0, sizeof(t));
    t.dtype = dt;
    t.ndim = ndim;
    va_list ap;
    va_start(ap, ndim);
    for (int i = 0; i < ndim; i++) t.shape[i] = va_arg(ap, int);
    va_end(ap);
    for (int i = 0; i < XHAL_MAX_DIMS; i++) t.perm[i] = i;
    t.gen = xc_dtype_is_float(dt) ? XC_GEN_UNIFORM : XC_GEN_INT;
    t.lo = xc_dtype_is_float(dt) ? -1.0 : -100.0;
    t.hi = xc_dtype_is_float(dt) ? 1.0 : 100.0;
    return t;
}

static xc_tspec range(xc_tspec t, double lo, double hi)
{
    t.lo = lo;
    t.hi = hi;
    return t;
}
static xc_tspec gen(xc_tspec t, int g)
{
    t.gen = g;
    return t;
}
static xc_tspec step(xc_tspec t)
{
    t.layout = XC_LAYOUT_STEP;
    return t;
}
/* Reverse the axes: stored transposed, seen through a permute view. */
static xc_tspec perm_rev(xc_tspec t)
{
    if (t.ndim < 2) return t;
    t.layout = XC_LAYOUT_PERMUTE;
    for (int i = 0; i < t.ndim; i++) t.perm[i] = t.ndim - 1 - i;
    return t;
}
static xc_tspec expand_from(xc_tspec t, const int64_t *eshape)
{
    t.layout = XC_LAYOUT_EXPAND;
    memcpy(t.eshape, eshape, sizeof(int64_t) * (size_t)t.ndim);
    return t;
}
static xc_tspec with_dtype(xc_tspec t, xhal_dtype dt)
{
    t.dtype = dt;
    return t;
}

typedef struct builder {
    xc_case_list *l;
    int err;
} builder;

static xc_case mk(xhal_op op, xhal_dtype dt, const char *fmt, ...)
{
    xc_case c;
    memset(&c, 0, sizeof(c));
    c.op = op;
    c.dtype = dt;
    snprintf(c.suite, sizeof(c.suite), "ops");
    char var[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(var, sizeof(var), fmt, ap);
    va_end(ap);
    snprintf(c.name, sizeof(c.name), "%s/%s/%s", xhal_op_name(op), xhal_dtype_name(dt), var);
    c.out_init = XC_INIT_NAN;
    c.at.alpha = 1.0;
    return c;
}

static void add(builder *b, const xc_case *c)
{
    if (xc_case_list_push(b->l, c) != 0) b->err = 1;
}

static const xhal_dtype FD[] = {XHAL_DTYPE_F32, XHAL_DTYPE_F16, XHAL_DTYPE_BF16, XHAL_DTYPE_F64};
#define NFD 4

static int nan_sign_op(xhal_op op)
{
    return op == XHAL_OP_NEG || op == XHAL_OP_ABS || op == XHAL_OP_COPY || op == XHAL_OP_FILL || op == XHAL_OP_GATHER ||
           op == XHAL_OP_CONCAT;
}

/* One-input, same-shape ops: a set of shapes and layouts. */
static void shapes_1in(builder *b, xhal_op op, xhal_dtype dt, xc_tspec proto, const xc_attrs *at)
{
    struct {
        const char *name;
        xc_tspec in, out;
    } v[12];
    int n = 0;
#define V1(nm, IN, OUT) \
    do {                \
        v[n].name = nm; \
        v[n].in = IN;   \
        v[n].out = OUT; \
        n++;            \
    } while (0)
    xc_tspec t;
    t = ts(dt, 1, 1);
    V1("n1", t, t);
    t = ts(dt, 1, 3);
    V1("n3", t, t);
    t = ts(dt, 1, 17);
    V1("n17", t, t);
    t = ts(dt, 1, 1000);
    V1("n1000", t, t);
    t = ts(dt, 2, 3, 127);
    V1("3x127", t, t);
    t = ts(dt, 2, 17, 33);
    V1("perm_in_17x33", perm_rev(t), t);
    t = ts(dt, 2, 3, 127);
    V1("step_in_3x127", step(t), t);
    t = ts(dt, 3, 5, 3, 17);
    V1("step_out_perm_in_5x3x17", perm_rev(t), step(t));
    t = ts(dt, 2, 0, 5);
    V1("empty_0x5", t, t);
    t = ts(dt, 0);
    V1("scalar", t, t);
    t = ts(dt, 1, 127);
    V1("special_n127", gen(t, XC_GEN_SPECIAL), t);
#undef V1
    for (int i = 0; i < n; i++) {
        xc_case c = mk(op, dt, "%s", v[i].name);
        c.n_in = 1;
        c.in[0] = v[i].in;
        c.in[0].gen = v[i].in.gen == XC_GEN_SPECIAL ? XC_GEN_SPECIAL : proto.gen;
        c.in[0].lo = proto.lo;
        c.in[0].hi = proto.hi;
        c.out = v[i].out;
        if (at) c.at = *at;
        c.nan_sign = nan_sign_op(op);
        add(b, &c);
    }
}

static void cat_copy_fill(builder *b)
{
    const xhal_dtype all[] = {XHAL_DTYPE_F32, XHAL_DTYPE_F16, XHAL_DTYPE_BF16, XHAL_DTYPE_F64,
                              XHAL_DTYPE_I8,  XHAL_DTYPE_U8,  XHAL_DTYPE_I32,  XHAL_DTYPE_I64};
    for (int s = 0; s < 8; s++)
        for (int d = 0; d < 8; d++) {
            xhal_dtype sd = all[s], dd = all[d];
            xc_case c = mk(XHAL_OP_COPY, dd, "from_%s_n17", xhal_dtype_name(sd));
            c.n_in = 1;
            c.in[0] = ts(sd, 1, 17);
            if (xc_dtype_is_float(sd))
                c.in[0] = range(c.in[0], -300, 300);
            else if (sd == XHAL_DTYPE_U8)
                c.in[0] = range(c.in[0], 0, 255);
            else if (sd == XHAL_DTYPE_I8)
                c.in[0] = range(c.in[0], -128, 127);
            else
                c.in[0] = range(c.in[0], -100000, 100000);
            c.out = ts(dd, 1, 17);
            c.nan_sign = xc_dtype_is_float(sd) && xc_dtype_is_float(dd);
            add(b, &c);
        }
    for (int d = 0; d < NFD; d++) {
        xhal_dtype dt = FD[d];
        /* float -> float with NaN (both signs), Inf, overflow, subnormals */
        xc_case c = mk(XHAL_OP_COPY, dt, "from_f32_special_n33");
        c.n_in = 1;
        c.in[0] = gen(ts(XHAL_DTYPE_F32, 1, 33), XC_GEN_SPECIAL);
        c.out = ts(dt, 1, 33);
        c.nan_sign = 1;
        add(b, &c);
        xc_tspec t = ts(dt, 2, 17, 33);
        c = mk(XHAL_OP_COPY, dt, "perm_in_17x33");
        c.n_in = 1;
        c.in[0] = perm_rev(t);
        c.out = t;
        c.nan_sign = 1;
        add(b, &c);
        t = ts(dt, 3, 3, 5, 127);
        c = mk(XHAL_OP_COPY, dt, "step_in_perm_out_3x5x127");
        c.n_in = 1;
        c.in[0] = step(t);
        c.out = perm_rev(t);
        c.nan_sign = 1;
        add(b, &c);
        t = ts(dt, 2, 1000, 3);
        c = mk(XHAL_OP_COPY, dt, "f32_to_%s_step_out_1000x3", xhal_dtype_name(dt));
        c.n_in = 1;
        c.in[0] = with_dtype(t, XHAL_DTYPE_F32);
        c.out = step(t);
        c.nan_sign = 1;
        add(b, &c);
        t = ts(dt, 2, 0, 7);
        c = mk(XHAL_OP_COPY, dt, "empty_0x7");
        c.n_in = 1;
        c.in[0] = t;
        c.out = t;
        add(b, &c);
        int64_t es[2] = {1, 17};
        t = ts(dt, 2, 5, 17);
        c = mk(XHAL_OP_COPY, dt, "expand_in_5x17");
        c.n_in = 1;
        c.in[0] = expand_from(t, es);
        c.out = t;
        add(b, &c);
    }
    /* casts at rounding ties (round to nearest even) and overflow from a wider source */
    {
        const struct {
            xhal_dtype from, to;
        } T[] = {{XHAL_DTYPE_F32, XHAL_DTYPE_F16},
                 {XHAL_DTYPE_F32, XHAL_DTYPE_BF16},
                 {XHAL_DTYPE_F64, XHAL_DTYPE_F32},
                 {XHAL_DTYPE_F64, XHAL_DTYPE_F16},
                 {XHAL_DTYPE_F64, XHAL_DTYPE_BF16}};
        for (int i = 0; i < 5; i++) {
            xc_case c = mk(XHAL_OP_COPY, T[i].to, "from_%s_ties_n257", xhal_dtype_name(T[i].from));
            c.n_in = 1;
            c.in[0] = gen(ts(T[i].from, 1, 257), XC_GEN_TIES);
            c.out = ts(T[i].to, 1, 257);
            c.nan_sign = 1;
            add(b, &c);
            if (T[i].from != XHAL_DTYPE_F64) continue;
            c = mk(XHAL_OP_COPY, T[i].to, "from_f64_special_overflow_n33");
            c.n_in = 1;
            c.in[0] = gen(ts(XHAL_DTYPE_F64, 1, 33), XC_GEN_SPECIAL);
            c.out = ts(T[i].to, 1, 33);
            c.nan_sign = 1;
            add(b, &c);
        }
    }
    for (int i = 0; i < 2; i++) {
        xhal_dtype it = i ? XHAL_DTYPE_I64 : XHAL_DTYPE_I32;
        xc_case c = mk(XHAL_OP_COPY, it, "from_f32_special_saturate_n33");
        c.n_in = 1;
        c.in[0] = gen(range(ts(XHAL_DTYPE_F32, 1, 33), -3e9, 3e9), XC_GEN_SPECIAL);
        c.out = ts(it, 1, 33);
        add(b, &c);
    }
    /* fill */
    /* value is a double: the store rounds it once, to nearest even. tie_f16 / tie_bf16 lie
     * halfway (even: down); dround_* lie just above halfway by less than an f32 ulp, so a
     * kernel that takes the value as a float first rounds twice and gets them wrong */
    const double vals[] = {0.0,
                           -3.25,
                           1e10,
                           NAN,
                           7.9,
                           -7.9,
                           1.0 + 0x1p-11,
                           1.0 + 0x1p-8,
                           1.0 + 0x1p-11 + 0x1p-40,
                           -(1.0 + 0x1p-8 + 0x1p-40),
                           65519.99,
                           1e39};
    const char *vn[] = {"zero",    "m3_25",    "1e10",       "nan",           "7_9",           "m7_9",
                        "tie_f16", "tie_bf16", "dround_f16", "m_dround_bf16", "f16_max_round", "1e39"};
    for (int d = 0; d < 8; d++)
        for (int k = 0; k < 12; k++) {
            xhal_dtype dt = all[d];
            xc_case c = mk(XHAL_OP_FILL, dt, "%s_n1000", vn[k]);
            c.out = ts(dt, 1, 1000);
            c.at.value = vals[k];
            c.nan_sign = 1;
            add(b, &c);
        }
    for (int d = 0; d < 8; d++) {
        xc_case c = mk(XHAL_OP_FILL, all[d], "step_out_17x3x5");
        c.out = step(ts(all[d], 3, 17, 3, 5));
        c.at.value = 2.5;
        add(b, &c);
        c = mk(XHAL_OP_FILL, all[d], "perm_out_17x33");
        c.out = perm_rev(ts(all[d], 2, 17, 33));
        c.at.value = -1.5;
        add(b, &c);
        c = mk(XHAL_OP_FILL, all[d], "empty_3x0");
        c.out = ts(all[d], 2, 3, 0);
        c.at.value = 1.0;
        add(b, &c);
    }
}

static void cat_unary(builder *b)
{
    static const struct {
        xhal_op op;
        double lo, hi;
    } U[] = {
        {XHAL_OP_NEG, -10, 10},      {XHAL_OP_ABS, -10, 10},        {XHAL_OP_EXP, -8, 8},  {XHAL_OP_LOG, 0.01, 100},
        {XHAL_OP_SQRT, 0, 100},      {XHAL_OP_RSQRT, 0.01, 100},    {XHAL_OP_TANH, -6, 6}, {XHAL_OP_SIGMOID, -8, 8},
        {XHAL_OP_RELU, -10, 10},     {XHAL_OP_SILU, -8, 8},         {XHAL_OP_GELU, -6, 6}, {XHAL_OP_GELU_TANH, -6, 6},
        {XHAL_OP_SQUARE, -100, 100}, {XHAL_OP_SOFTPLUS, -100, 100},
    };
    for (size_t u = 0; u < sizeof(U) / sizeof(U[0]); u++)
        for (int d = 0; d < NFD; d++) {
            xc_tspec proto = range(ts(FD[d], 0), U[u].lo, U[u].hi);
            shapes_1in(b, U[u].op, FD[d], proto, NULL);
        }
    for (int d = 0; d < NFD; d++) {
        xc_tspec proto = range(ts(FD[d], 0), -4, 4);
        xc_attrs at;
        memset(&at, 0, sizeof(at));
        at.alpha = 1.5;
        at.beta = -0.25;
        shapes_1in(b, XHAL_OP_SCALE, FD[d], proto, &at);
        xc_case c = mk(XHAL_OP_SCALE, FD[d], "alpha0_beta2_n17");
        c.n_in = 1;
        c.in[0] = ts(FD[d], 1, 17);
        c.out = c.in[0];
        c.at.alpha = 0;
        c.at.beta = 2;
        add(b, &c);
    }
}

static void cat_binary(builder *b)
{
    const xhal_op ops[] = {XHAL_OP_ADD, XHAL_OP_SUB, XHAL_OP_MUL, XHAL_OP_DIV, XHAL_OP_MAXIMUM, XHAL_OP_MINIMUM};
    const xhal_dtype dts[] = {XHAL_DTYPE_F32, XHAL_DTYPE_F16, XHAL_DTYPE_BF16,
                              XHAL_DTYPE_F64, XHAL_DTYPE_I32, XHAL_DTYPE_I64};
    for (int o = 0; o < 6; o++)
        for (int d = 0; d < 6; d++) {
            xhal_op op = ops[o];
            xhal_dtype dt = dts[d];
            int isf = xc_dtype_is_float(dt);
            if (!isf && op == XHAL_OP_DIV) continue;
            struct {
                const char *name;
                xc_tspec a, bb, out;
            } v[16];
            int n = 0;
#define V3(nm, A, B, O) \
    do {                \
        v[n].name = nm; \
        v[n].a = A;     \
        v[n].bb = B;    \
        v[n].out = O;   \
        n++;            \
    } while (0)
            xc_tspec t = ts(dt, 1, 1);
            V3("n1", t, t, t);
            t = ts(dt, 1, 3);
            V3("n3", t, t, t);
            t = ts(dt, 1, 17);
            V3("n17", t, t, t);
            t = ts(dt, 1, 1000);
            V3("n1000", t, t, t);
            t = ts(dt, 2, 3, 127);
            V3("3x127", t, t, t);
            V3("bcast_row_17x33", ts(dt, 2, 17, 33), ts(dt, 1, 33), ts(dt, 2, 17, 33));
            V3("bcast_col_17x33", ts(dt, 2, 17, 1), ts(dt, 2, 17, 33), ts(dt, 2, 17, 33));
            V3("bcast_both_5x3x7", ts(dt, 3, 5, 1, 7), ts(dt, 3, 1, 3, 1), ts(dt, 3, 5, 3, 7));
            V3("scalar_b_3x17", ts(dt, 2, 3, 17), ts(dt, 0), ts(dt, 2, 3, 17));
            t = ts(dt, 2, 17, 33);
            V3("perm_a_step_b_17x33", perm_rev(t), step(t), t);
            t = ts(dt, 3, 3, 5, 17);
            V3("step_out_3x5x17", t, perm_rev(t), step(t));
            {
                int64_t es[2] = {1, 33};
                t = ts(dt, 2, 9, 33);
                V3("expand_b_9x33", t, expand_from(t, es), t);
            }
            t = ts(dt, 2, 0, 3);
            V3("empty_0x3", t, ts(dt, 1, 3), t);
            if (isf) {
                t = ts(dt, 1, 49);
                V3("special_pairs_n49", gen(t, XC_GEN_PAIRS_A), gen(t, XC_GEN_PAIRS_B), t);
            }
#undef V3
            for (int i = 0; i < n; i++) {
                xc_case c = mk(op, dt, "%s", v[i].name);
                c.n_in = 2;
                c.in[0] = v[i].a;
                c.in[1] = v[i].bb;
                if (isf && v[i].a.gen == XC_GEN_UNIFORM) {
                    c.in[0] = range(c.in[0], -10, 10);
                    c.in[1] = range(c.in[1], -10, 10);
                }
                if (!isf) {
                    c.in[0] = range(c.in[0], -1000, 1000);
                    c.in[1] = range(c.in[1], -1000, 1000);
                }
                if (op == XHAL_OP_DIV && v[i].bb.gen == XC_GEN_UNIFORM) {
                    c.in[1].gen = XC_GEN_SIGNMAG;
                    c.in[1].lo = 0.5;
                    c.in[1].hi = 2.0;
                }
                c.out = v[i].out;
                add(b, &c);
            }
        }
    /* over 2^24 elements: index arithmetic that must not wrap or lose precision */
    xc_case c = mk(XHAL_OP_ADD, XHAL_DTYPE_F32, "large_4097x4099_bcast_row");
    c.n_in = 2;
    c.in[0] = ts(XHAL_DTYPE_F32, 2, 4097, 4099);
    c.in[1] = ts(XHAL_DTYPE_F32, 1, 4099);
    c.out = ts(XHAL_DTYPE_F32, 2, 4097, 4099);
    add(b, &c);
}

static void cat_reduce(builder *b)
{
    const xhal_op ops[] = {XHAL_OP_SUM, XHAL_OP_MEAN, XHAL_OP_MAX, XHAL_OP_ARGMAX, XHAL_OP_ARGMAX};
    for (int o = 0; o < 5; o++)
        for (int d = 0; d < NFD; d++) {
            xhal_op op = ops[o];
            xhal_dtype dt = FD[d];
            xhal_dtype odt = op == XHAL_OP_ARGMAX ? (o == 3 ? XHAL_DTYPE_I32 : XHAL_DTYPE_I64) : dt;
            struct {
                const char *name;
                xc_tspec x;
                int axis, keep;
                int64_t oshape[4];
                int ond;
            } v[16];
            int n = 0;
#define VR(nm, X, AX, KP, OND, O0, O1, O2) \
    do {                                   \
        v[n].name = nm;                    \
        v[n].x = X;                        \
        v[n].axis = AX;                    \
        v[n].keep = KP;                    \
        v[n].ond = OND;                    \
        v[n].oshape[0] = O0;               \
        v[n].oshape[1] = O1;               \
        v[n].oshape[2] = O2;               \
        n++;                               \
    } while (0)
            VR("n1000_axis0", ts(dt, 1, 1000), 0, 0, 0, 0, 0, 0);
            VR("17x127_axis1", ts(dt, 2, 17, 127), 1, 0, 1, 17, 0, 0);
            VR("17x127_axis0_keep", ts(dt, 2, 17, 127), 0, 1, 2, 1, 127, 0);
            VR("3x17x5_axis1", ts(dt, 3, 3, 17, 5), 1, 0, 2, 3, 5, 0);
            VR("127x3_axism1_keep", ts(dt, 2, 127, 3), -1, 1, 2, 127, 1, 0);
            VR("perm_33x17_axis0", perm_rev(ts(dt, 2, 33, 17)), 0, 0, 1, 17, 0, 0);
            VR("step_5x17_axis1", step(ts(dt, 2, 5, 17)), 1, 0, 1, 5, 0, 0);
            VR("5x1_axis1", ts(dt, 2, 5, 1), 1, 0, 1, 5, 0, 0);
            VR("2x4096_axis1", ts(dt, 2, 2, 4096), 1, 0, 1, 2, 0, 0);
            VR("1000x33_axis0", ts(dt, 2, 1000, 33), 0, 0, 1, 33, 0, 0);
            VR("special_4x17_axis1", gen(ts(dt, 2, 4, 17), XC_GEN_SPECIAL), 1, 0, 1, 4, 0, 0);
            /* small integers: many ties for the maximum (argmax: the first index wins) */
            VR("ties_17x33_axis1", gen(ts(dt, 2, 17, 33), XC_GEN_INT), 1, 0, 1, 17, 0, 0);
            VR("ties_33x17_axis0", gen(ts(dt, 2, 33, 17), XC_GEN_INT), 0, 0, 1, 17, 0, 0);
            if (op == XHAL_OP_SUM || op == XHAL_OP_MEAN) VR("4x0_axis1", ts(dt, 2, 4, 0), 1, 0, 1, 4, 0, 0);
            VR("empty_0x5_axis1", ts(dt, 2, 0, 5), 1, 1, 2, 0, 1, 0);
#undef VR
            for (int i = 0; i < n; i++) {
                xc_case c = mk(op, dt, "%s%s", op == XHAL_OP_ARGMAX ? (odt == XHAL_DTYPE_I32 ? "i32_" : "i64_") : "",
                               v[i].name);
                c.n_in = 1;
                c.in[0] = v[i].x;
                c.in[0].lo = v[i].x.gen == XC_GEN_INT ? -3 : -10;
                c.in[0].hi = v[i].x.gen == XC_GEN_INT ? 3 : 10;
                c.at.axis = v[i].axis;
                c.at.keepdims = v[i].keep;
                c.out = ts(odt, 0);
                c.out.ndim = v[i].ond;
                for (int k = 0; k < v[i].ond; k++) c.out.shape[k] = v[i].oshape[k];
                if (i == 1) c.out = step(c.out); /* strided output too */
                add(b, &c);
            }
        }
}

static void cat_norm(builder *b)
{
    for (int d = 0; d < NFD; d++) {
        xhal_dtype dt = FD[d];
        /* softmax */
        struct {
            const char *name;
            xc_tspec x;
            double scale;
            int causal;
        } s[16];
        int n = 0;
        s[n].name = "1x1";
        s[n].x = ts(dt, 2, 1, 1);
        s[n].scale = 0;
        s[n].causal = 0;
        n++;
        s[n].name = "3x17";
        s[n].x = ts(dt, 2, 3, 17);
        s[n].scale = 0;
        s[n].causal = 0;
        n++;
        s[n].name = "17x127_scale0_125";
        s[n].x = ts(dt, 2, 17, 127);
        s[n].scale = 0.125;
        s[n].causal = 0;
        n++;
        s[n].name = "4x1000";
        s[n].x = ts(dt, 2, 4, 1000);
        s[n].scale = 0;
        s[n].causal = 0;
        n++;
        s[n].name = "2x4096";
        s[n].x = ts(dt, 2, 2, 4096);
        s[n].scale = 0;
        s[n].causal = 0;
        n++;
        s[n].name = "large_values_3x33";
        s[n].x = range(ts(dt, 2, 3, 33), -1000, 1000);
        s[n].scale = 0;
        s[n].causal = 0;
        n++;
        s[n].name = "causal_2x3x17x17";
        s[n].x = ts(dt, 4, 2, 3, 17, 17);
        s[n].scale = 0;
        s[n].causal = 1;
        n++;
        s[n].name = "causal_kv_3x5x9";
        s[n].x = ts(dt, 3, 3, 5, 9);
        s[n].scale = 0.5;
        s[n].causal = 1;
        n++;
        s[n].name = "perm_in_33x17";
        s[n].x = perm_rev(ts(dt, 2, 33, 17));
        s[n].scale = 0;
        s[n].causal = 0;
        n++;
        s[n].name = "special_4x17";
        s[n].x = gen(ts(dt, 2, 4, 17), XC_GEN_SPECIAL);
        s[n].scale = 0;
        s[n].causal = 0;
        n++;
        s[n].name = "empty_0x17";
        s[n].x = ts(dt, 2, 0, 17);
        s[n].scale = 0;
        s[n].causal = 0;
        n++;
        /* large common offsets: exp without max-subtraction overflows (or underflows to 0/0) */
        s[n].name = "offset_1000_3x33";
        s[n].x = range(ts(dt, 2, 3, 33), 1000, 1010);
        s[n].scale = 0;
        s[n].causal = 0;
        n++;
        s[n].name = "offset_m1000_3x33";
        s[n].x = range(ts(dt, 2, 3, 33), -1010, -1000);
        s[n].scale = 0;
        s[n].causal = 0;
        n++;
        s[n].name = "offset_200_scale4_causal_2x5x9";
        s[n].x = range(ts(dt, 3, 2, 5, 9), 200, 204);
        s[n].scale = 4;
        s[n].causal = 1;
        n++;
        for (int i = 0; i < n; i++) {
            xc_case c = mk(XHAL_OP_SOFTMAX, dt, "%s", s[i].name);
            c.n_in = 1;
            c.in[0] = s[i].x.lo == -1.0 ? range(s[i].x, -8, 8) : s[i].x;
            c.out = s[i].x;
            c.out.layout = XC_LAYOUT_CONTIG;
            c.out.gen = XC_GEN_UNIFORM;
            if (i == 2) c.out = step(c.out);
            c.at.scale = s[i].scale;
            c.at.causal = s[i].causal;
            add(b, &c);
        }
        /* rms_norm / layer_norm */
        for (int which = 0; which < 2; which++) {
            xhal_op op = which ? XHAL_OP_LAYER_NORM : XHAL_OP_RMS_NORM;
            struct {
                const char *name;
                xc_tspec x;
                int w, bb;
                double eps;
            } v[20];
            n = 0;
#define VN(nm, X, W, B, E) \
    do {                   \
        v[n].name = nm;    \
        v[n].x = X;        \
        v[n].w = W;        \
        v[n].bb = B;       \
        v[n].eps = E;      \
        n++;               \
    } while (0)
            VN("1x1_w", ts(dt, 2, 1, 1), 1, 1, 1e-5);
            VN("1x17", ts(dt, 2, 1, 17), 0, 0, 1e-5);
            VN("3x127_w", ts(dt, 2, 3, 127), 1, 0, 1e-6);
            VN("5x1000_w_b", ts(dt, 2, 5, 1000), 1, 1, 1e-5);
            VN("2x3x17_b", ts(dt, 3, 2, 3, 17), 0, 1, 1e-5);
            VN("perm_in_33x17_w_b", perm_rev(ts(dt, 2, 33, 17)), 1, 1, 1e-5);
            VN("step_in_3x127_w", step(ts(dt, 2, 3, 127)), 1, 0, 1e-5);
            VN("offset_mean_4x64_w_b", range(ts(dt, 2, 4, 64), 90, 110), 1, 1, 1e-5);
            VN("empty_0x17_w", ts(dt, 2, 0, 17), 1, 0, 1e-5);
            VN("special_nan_4x17_w", gen(ts(dt, 2, 4, 17), XC_GEN_SPECIAL), 1, 1, 1e-5);
            /* eps where it changes the result: large eps on inputs of magnitude ~1, inputs
             * far below sqrt(eps), rows that are all zero (constant for layer_norm: x - mean
             * is 0, and 0 / sqrt(0 + 0) is NaN when eps is dropped), eps exactly 0 */
            VN("eps_1_4x64_w_b", ts(dt, 2, 4, 64), 1, 1, 1.0);
            VN("eps_0_25_3x17", ts(dt, 2, 3, 17), 0, 0, 0.25);
            VN("eps_1e3_2x32_w", ts(dt, 2, 2, 32), 1, 0, 1000.0);
            VN("tiny_inputs_eps1e-5_4x64_w", range(ts(dt, 2, 4, 64), -3e-3, 3e-3), 1, 0, 1e-5);
            VN("tiny_inputs_eps1e-2_3x33", range(ts(dt, 2, 3, 33), -0.05, 0.05), 0, 0, 1e-2);
            VN("zero_rows_eps1e-5_3x17_w", range(ts(dt, 2, 3, 17), 0, 0), 1, 0, 1e-5);
            VN("const_rows_eps1e-3_3x17_w_b", range(ts(dt, 2, 3, 17), 2.5, 2.5), 1, 1, 1e-3);
            VN("eps0_3x64_w", ts(dt, 2, 3, 64), 1, 0, 0.0);
#undef VN
            for (int i = 0; i < n; i++) {
                if (op == XHAL_OP_RMS_NORM && v[i].bb && !v[i].w) continue;
                xc_case c = mk(op, dt, "%s", v[i].name);
                c.in[0] = v[i].x;
                if (v[i].x.lo == -1.0 && v[i].eps < 0.1) c.in[0] = range(c.in[0], -3, 3);
                c.out.gen = XC_GEN_UNIFORM;
                int k = 1;
                int64_t D = v[i].x.shape[v[i].x.ndim - 1];
                c.at.has_weight = v[i].w;
                c.at.has_bias = op == XHAL_OP_LAYER_NORM ? v[i].bb : 0;
                if (c.at.has_weight) c.in[k++] = range(ts(dt, 1, (int)D), 0.5, 1.5);
                if (c.at.has_bias) c.in[k++] = ts(dt, 1, (int)D);
                c.n_in = k;
                c.at.eps = v[i].eps;
                c.out = v[i].x;
                c.out.layout = XC_LAYOUT_CONTIG;
                add(b, &c);
            }
        }
    }
}

static void cat_matmul(builder *b)
{
    for (int d = 0; d < NFD; d++) {
        xhal_dtype dt = FD[d];
        struct {
            const char *name;
            int M, K, N, ta, tb;
            double alpha, beta;
            int batch;
        } v[] = {
            {"1x1x1", 1, 1, 1, 0, 0, 1, 0, 0},
            {"3x17x5", 3, 17, 5, 0, 0, 1, 0, 0},
            {"17x127x33_ta", 17, 127, 33, 1, 0, 1, 0, 0},
            {"17x127x33_tb", 17, 127, 33, 0, 1, 1, 0, 0},
            {"33x1000x17_ta_tb", 33, 1000, 17, 1, 1, 1, 0, 0},
            {"127x3x127_alpha_beta", 127, 3, 127, 0, 0, 0.5, 0.75, 0},
            {"1x127x1000_gemv", 1, 127, 1000, 0, 1, 1, 0, 0},
            {"batch_2x3_5x17x7_bcast_b", 5, 17, 7, 0, 0, 1, 0, 1},
            {"batch_4_9x33x3_beta", 9, 33, 3, 0, 1, 2, -1, 2},
            {"k0_3x0x5_beta", 3, 0, 5, 0, 0, 1, 0.5, 0},
            {"200x300x150_blas_size", 200, 300, 150, 0, 0, 1, 0, 0},
            {"special_nan_inf_9x17x5", 9, 17, 5, 0, 0, 1, 0, 0},
            {"150x256x200_ta_perm_out", 150, 256, 200, 1, 0, 1, 0, 0},
            {"m0_0x17x5", 0, 17, 5, 0, 0, 1, 0, 0},
            {"alpha0_beta1_5x7x3", 5, 7, 3, 0, 0, 0, 1, 0},
            {"alpha_m2_beta_m0_5_tb_9x17x11", 9, 17, 11, 0, 1, -2, -0.5, 0},
            {"alpha0_25_ta_33x5x17", 33, 5, 17, 1, 0, 0.25, 0, 0},
            /* shapes that select each path of the OpenCL/CUDA matmul kernels (xk_launch.c):
             * one and few rows (matrix-vector kernels), b as [N, K] (dot products in lanes,
             * K not a multiple of 16) or [K, N] (64-column blocks and their edges), strided
             * operands (scalar loops), row blocks cut by M, alpha/beta, batches */
            {"2x37x70_tb_few_rows", 2, 37, 70, 0, 1, 1, 0, 0},
            {"4x300x130_few_rows", 4, 300, 130, 0, 0, 1, 0, 0},
            {"1x1000x67_gemv_alpha_beta", 1, 1000, 67, 0, 0, 0.5, -1.5, 0},
            {"1x64x67_tb_gemv_alpha_beta", 1, 64, 67, 0, 1, -0.75, 0.25, 0},
            {"3x50x20_ta_tb_few_rows", 3, 50, 20, 1, 1, 1, 0, 0},
            {"2x45x36_tb_step_a_few_rows", 2, 45, 36, 0, 1, 1, 0, 0},
            {"5x33x9_tb_row_block_cut", 5, 33, 9, 0, 1, 1, 0, 0},
            {"66x129x131_blocks_and_edges", 66, 129, 131, 0, 0, 1, 0, 0},
            {"67x130x70_tb_blocks_and_edges_beta", 67, 130, 70, 0, 1, 1, 0.5, 0},
            {"70x40x68_step_a", 70, 40, 68, 0, 0, 1, 0, 0},
            {"batch_2x3_1x40x70_tb_gemv_bcast_b", 1, 40, 70, 0, 1, 1, 0, 1},
            {"batch_4_3x65x66_gemv_beta", 3, 65, 66, 0, 0, 1, 1, 2},
            {"batch_2x3_9x70x66_bcast_b", 9, 70, 66, 0, 0, 1, 0, 1},
        };
        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
            xc_case c = mk(XHAL_OP_MATMUL, dt, "%s", v[i].name);
            c.n_in = 2;
            int M = v[i].M, K = v[i].K, N = v[i].N;
            int ar = v[i].ta ? K : M, ac = v[i].ta ? M : K, br = v[i].tb ? N : K, bc = v[i].tb ? K : N;
            if (v[i].batch == 1) {
                c.in[0] = ts(dt, 4, 2, 3, ar, ac);
                c.in[1] = ts(dt, 3, 1, br, bc);
                c.out = ts(dt, 4, 2, 3, M, N);
            } else if (v[i].batch == 2) {
                c.in[0] = ts(dt, 3, 4, ar, ac);
                c.in[1] = perm_rev(ts(dt, 3, 4, br, bc)); /* batch-strided b */
                c.out = ts(dt, 3, 4, M, N);
            } else {
                c.in[0] = ts(dt, 2, ar, ac);
                c.in[1] = ts(dt, 2, br, bc);
                c.out = ts(dt, 2, M, N);
            }
            if (i == 1 || strstr(v[i].name, "step_a")) c.in[0] = step(c.in[0]);
            if (i == 3) c.out = step(c.out);
            if (i == 12) c.out = perm_rev(c.out);
            if (i == 11) {
                c.in[0].gen = XC_GEN_SPECIAL;
                c.in[1].gen = XC_GEN_SPECIAL;
            }
            c.at.trans_a = v[i].ta;
            c.at.trans_b = v[i].tb;
            c.at.alpha = v[i].alpha;
            c.at.beta = v[i].beta;
            c.out_init = v[i].beta != 0 ? XC_INIT_RANDOM : XC_INIT_NAN;
            add(b, &c);
        }
        /* per-channel int8 weights (xhal_matmul_i8): in[1] i8 [N, K] used transposed, in[2]
         * f32 scales [N]; a and out f32/f16/bf16 */
        if (dt == XHAL_DTYPE_F64) continue;
        struct {
            const char *name;
            int B, M, K, N;
            double alpha, beta;
            int step_scales;
        } q[] = {
            {"i8w_1x300x7_decode", 0, 1, 300, 7, 1, 0, 0},
            {"i8w_5x64x13_alpha_beta", 0, 5, 64, 13, 0.5, -2, 0},
            {"i8w_batch_3x4x129x9_bcast_w_step_scales", 3, 4, 129, 9, 1, 0, 1},
        };
        for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
            xc_case c = mk(XHAL_OP_MATMUL, dt, "%s", q[i].name);
            c.n_in = 3;
            if (q[i].B) {
                c.in[0] = ts(dt, 3, q[i].B, q[i].M, q[i].K);
                c.out = ts(dt, 3, q[i].B, q[i].M, q[i].N);
            } else {
                c.in[0] = ts(dt, 2, q[i].M, q[i].K);
                c.out = ts(dt, 2, q[i].M, q[i].N);
            }
            c.in[1] = range(ts(XHAL_DTYPE_I8, 2, q[i].N, q[i].K), -127, 127);
            c.in[2] = range(ts(XHAL_DTYPE_F32, 1, q[i].N), 0.001, 0.05);
            if (q[i].step_scales) c.in[2] = step(c.in[2]);
            c.at.trans_b = 1;
            c.at.alpha = q[i].alpha;
            c.at.beta = q[i].beta;
            c.out_init = q[i].beta != 0 ? XC_INIT_RANDOM : XC_INIT_NAN;
            add(b, &c);
        }
    }
}

static void cat_index(builder *b)
{
    const xhal_dtype tdt[] = {XHAL_DTYPE_F32, XHAL_DTYPE_F16, XHAL_DTYPE_BF16,
                              XHAL_DTYPE_F64, XHAL_DTYPE_I32, XHAL_DTYPE_I64};
    for (int d = 0; d < 6; d++)
        for (int ii = 0; ii < 2; ii++) {
            xhal_dtype dt = tdt[d], it = ii ? XHAL_DTYPE_I64 : XHAL_DTYPE_I32;
            const char *in = xhal_dtype_name(it);
            xc_case c = mk(XHAL_OP_GATHER, dt, "idx_%s_table50x17_idx3x5", in);
            c.n_in = 2;
            c.in[0] = ts(dt, 2, 50, 17);
            if (xc_dtype_is_float(dt)) c.in[0] = gen(c.in[0], XC_GEN_SPECIAL);
            c.in[1] = range(ts(it, 2, 3, 5), 0, 49);
            c.out = ts(dt, 3, 3, 5, 17);
            c.nan_sign = 1;
            add(b, &c);
            c = mk(XHAL_OP_GATHER, dt, "idx_%s_table7x3x4_idx11_step_out", in);
            c.n_in = 2;
            c.in[0] = perm_rev(ts(dt, 3, 7, 3, 4));
            c.in[1] = step(range(ts(it, 1, 11), 0, 6));
            c.out = step(ts(dt, 3, 11, 3, 4));
            add(b, &c);
            c = mk(XHAL_OP_GATHER, dt, "idx_%s_scalar_idx", in);
            c.n_in = 2;
            c.in[0] = ts(dt, 2, 1000, 3);
            c.in[1] = range(ts(it, 0), 0, 999);
            c.out = ts(dt, 1, 3);
            add(b, &c);
            c = mk(XHAL_OP_GATHER, dt, "idx_%s_empty_idx", in);
            c.n_in = 2;
            c.in[0] = ts(dt, 2, 5, 3);
            c.in[1] = ts(it, 1, 0);
            c.out = ts(dt, 2, 0, 3);
            add(b, &c);
            c = mk(XHAL_OP_GATHER, dt, "idx_%s_out_of_range_high", in);
            c.n_in = 2;
            c.in[0] = ts(dt, 2, 10, 4);
            c.in[1] = gen(range(ts(it, 1, 6), 0, 9), XC_GEN_SPECIAL); /* last index = 10 */
            c.out = ts(dt, 2, 6, 4);
            c.expect_status = XHAL_ERROR_OUT_OF_RANGE;
            c.out_defined = 1; /* zeros in the bad index's row */
            add(b, &c);
            c = mk(XHAL_OP_GATHER, dt, "idx_%s_out_of_range_negative", in);
            c.n_in = 2;
            c.in[0] = ts(dt, 2, 10, 4);
            c.in[1] = range(ts(it, 1, 6), -1, -1);
            c.out = ts(dt, 2, 6, 4);
            c.expect_status = XHAL_ERROR_OUT_OF_RANGE;
            c.out_defined = 1; /* every row zeros */
            add(b, &c);
        }
    /* concat */
    const xhal_dtype cdt[] = {XHAL_DTYPE_F32, XHAL_DTYPE_F16, XHAL_DTYPE_BF16,
                              XHAL_DTYPE_F64, XHAL_DTYPE_I32, XHAL_DTYPE_I64};
    for (int d = 0; d < 6; d++) {
        xhal_dtype dt = cdt[d];
        xc_case c = mk(XHAL_OP_CONCAT, dt, "axis0_2parts");
        c.n_in = 2;
        c.in[0] = ts(dt, 2, 3, 17);
        if (xc_dtype_is_float(dt)) c.in[0] = gen(c.in[0], XC_GEN_SPECIAL);
        c.in[1] = ts(dt, 2, 5, 17);
        c.out = ts(dt, 2, 8, 17);
        c.at.axis = 0;
        c.nan_sign = 1;
        add(b, &c);
        c = mk(XHAL_OP_CONCAT, dt, "axis1_3parts_views");
        c.n_in = 3;
        c.in[0] = perm_rev(ts(dt, 3, 4, 3, 5));
        c.in[1] = step(ts(dt, 3, 4, 1, 5));
        c.in[2] = ts(dt, 3, 4, 7, 5);
        c.out = step(ts(dt, 3, 4, 11, 5));
        c.at.axis = 1;
        add(b, &c);
        c = mk(XHAL_OP_CONCAT, dt, "axism1_with_empty_part");
        c.n_in = 3;
        c.in[0] = ts(dt, 2, 17, 127);
        c.in[1] = ts(dt, 2, 17, 0);
        c.in[2] = ts(dt, 2, 17, 1);
        c.out = ts(dt, 2, 17, 128);
        c.at.axis = -1;
        add(b, &c);
        {
            int64_t es[2] = {1, 9};
            c = mk(XHAL_OP_CONCAT, dt, "axis0_expand_part");
            c.n_in = 2;
            c.in[0] = expand_from(ts(dt, 2, 4, 9), es);
            c.in[1] = ts(dt, 2, 2, 9);
            c.out = ts(dt, 2, 6, 9);
            c.at.axis = 0;
            add(b, &c);
        }
        c = mk(XHAL_OP_CONCAT, dt, "single_input");
        c.n_in = 1;
        c.in[0] = ts(dt, 1, 1000);
        c.out = ts(dt, 1, 1000);
        c.at.axis = 0;
        add(b, &c);
    }
}

static void cat_transformer(builder *b)
{
    for (int d = 0; d < NFD; d++) {
        xhal_dtype dt = FD[d];
        struct {
            const char *name;
            xc_tspec x;
            int seq_axis, rot, layout;
            double theta;
            int64_t pos;
            int perm;
        } r[] = {
            {"half_1x7x3x16", ts(dt, 4, 1, 7, 3, 16), 1, 0, XHAL_ROPE_HALF, 10000, 0, 0},
            {"interleaved_1x7x3x16", ts(dt, 4, 1, 7, 3, 16), 1, 0, XHAL_ROPE_INTERLEAVED, 10000, 0, 0},
            {"half_partial_rot4_2x5x4x8_pos1000", ts(dt, 4, 2, 5, 4, 8), 1, 4, XHAL_ROPE_HALF, 10000, 1000, 0},
            {"interleaved_partial_rot6_2x5x4x8_pos37", ts(dt, 4, 2, 5, 4, 8), 1, 6, XHAL_ROPE_INTERLEAVED, 500000, 37,
             0},
            {"half_seq0_17x2x64", ts(dt, 3, 17, 2, 64), 0, 0, XHAL_ROPE_HALF, 10000, 3, 0},
            {"interleaved_seq_axis2_2x3x9x4x32", ts(dt, 5, 2, 3, 9, 4, 32), 2, 0, XHAL_ROPE_INTERLEAVED, 10000, 100, 0},
            {"half_step_in_1x3x2x128", ts(dt, 4, 1, 3, 2, 128), 1, 0, XHAL_ROPE_HALF, 1e6, 4000, 1},
            {"half_empty_1x0x2x8", ts(dt, 4, 1, 0, 2, 8), 1, 0, XHAL_ROPE_HALF, 10000, 0, 0},
            {"interleaved_special_nan_1x7x3x16", gen(ts(dt, 4, 1, 7, 3, 16), XC_GEN_SPECIAL), 1, 0,
             XHAL_ROPE_INTERLEAVED, 10000, 5, 0},
            /* theta, pos_offset and rotary_dims swept where they change the angles */
            {"half_theta100_pos123_1x4x2x32", ts(dt, 4, 1, 4, 2, 32), 1, 0, XHAL_ROPE_HALF, 100, 123, 0},
            {"half_theta1e6_rot8_pos0_2x3x2x16", ts(dt, 4, 2, 3, 2, 16), 1, 8, XHAL_ROPE_HALF, 1e6, 0, 0},
            {"interleaved_rot2_pos9_seqm3_1x5x3x12", ts(dt, 4, 1, 5, 3, 12), -3, 2, XHAL_ROPE_INTERLEAVED, 10000, 9, 0},
            {"half_2d_seq0_pos50_9x16", ts(dt, 2, 9, 16), 0, 0, XHAL_ROPE_HALF, 10000, 50, 0},
        };
        for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
            xc_case c = mk(XHAL_OP_ROPE, dt, "%s", r[i].name);
            c.n_in = 1;
            c.in[0] = r[i].perm ? step(r[i].x) : r[i].x;
            c.out = r[i].x;
            c.out.gen = XC_GEN_UNIFORM;
            c.at.seq_axis = r[i].seq_axis;
            c.at.rotary_dims = r[i].rot;
            c.at.rope_layout = r[i].layout;
            c.at.theta = r[i].theta;
            c.at.pos_offset = r[i].pos;
            add(b, &c);
        }
        struct {
            const char *name;
            int B, Hq, Hkv, Sq, Sk, D, Dv, causal, mask;
            double scale;
        } a[] = {
            {"1x2x2_sq5_sk5_d16", 1, 2, 2, 5, 5, 16, 16, 0, 0, 0},
            {"gqa_2x4x2_sq7_sk7_d32_causal", 2, 4, 2, 7, 7, 32, 32, 1, 0, 0},
            {"kvcache_1x2x1_sq3_sk17_d16_causal", 1, 2, 1, 3, 17, 16, 16, 1, 0, 0},
            {"decode_1x8x2_sq1_sk127_d64", 1, 8, 2, 1, 127, 64, 64, 1, 0, 0},
            {"mask2d_1x2x2_sq9_sk9_d8_dv24_scale0_3", 1, 2, 2, 9, 9, 8, 24, 0, 1, 0.3},
            {"mask4d_causal_2x2x1_sq4_sk6_d16", 2, 2, 1, 4, 6, 16, 16, 1, 2, 0},
            {"long_1x1x1_sq3_sk1000_d16", 1, 1, 1, 3, 1000, 16, 16, 0, 0, 0},
            {"empty_sq0", 1, 2, 2, 0, 5, 16, 16, 0, 0, 0},
            {"special_nan_q_1x2x2_sq5_sk5_d16", 1, 2, 2, 5, 5, 16, 16, 0, 0, 0},
            {"special_nan_v_causal_1x2x1_sq4_sk7_d8", 1, 2, 1, 4, 7, 8, 8, 1, 0, 0},
            {"large_scores_1x2x2_sq5_sk9_d64", 1, 2, 2, 5, 9, 64, 64, 0, 0, 0},
            /* scale and the causal offset (Sk > Sq) swept without a mask */
            {"scale2_causal_kv_1x4x2_sq4_sk9_d16", 1, 4, 2, 4, 9, 16, 16, 1, 0, 2.0},
            {"scale0_05_gqa_1x6x3_sq6_sk6_d8", 1, 6, 3, 6, 6, 8, 8, 0, 0, 0.05},
            {"causal_square_1x1x1_sq9_sk9_d4", 1, 1, 1, 9, 9, 4, 4, 1, 0, 0},
        };
        for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++) {
            xc_case c = mk(XHAL_OP_ATTENTION, dt, "%s", a[i].name);
            c.in[0] = range(ts(dt, 4, a[i].B, a[i].Hq, a[i].Sq, a[i].D), -2, 2);
            c.in[1] = range(ts(dt, 4, a[i].B, a[i].Hkv, a[i].Sk, a[i].D), -2, 2);
            c.in[2] = ts(dt, 4, a[i].B, a[i].Hkv, a[i].Sk, a[i].Dv);
            if (i == 1) c.in[1] = step(c.in[1]);
            if (i == 2) c.in[2] = perm_rev(c.in[2]);
            if (i == 8) c.in[0].gen = XC_GEN_SPECIAL;
            if (i == 9) c.in[2].gen = XC_GEN_SPECIAL;
            if (i == 10) {
                c.in[0] = range(c.in[0], -30, 30);
                c.in[1] = range(c.in[1], -30, 30);
            }
            c.n_in = 3;
            if (a[i].mask == 1) c.in[c.n_in++] = range(ts(dt, 2, a[i].Sq, a[i].Sk), -3, 0);
            if (a[i].mask == 2) c.in[c.n_in++] = range(ts(dt, 4, a[i].B, 1, a[i].Sq, a[i].Sk), -3, 0);
            c.at.has_mask = a[i].mask != 0;
            c.at.causal = a[i].causal;
            c.at.scale = a[i].scale;
            c.out = ts(dt, 4, a[i].B, a[i].Hq, a[i].Sq, a[i].Dv);
            add(b, &c);
        }
    }
}

/* xhal_rope_ex and xhal_attention_ex (issue 12): explicit positions (non-monotonic, per batch,
 * broadcast, negative), inv_freq tensors (Llama 3 scaling, GLM-4 partial interleaved),
 * attention factor; sliding windows smaller and larger than Sk, softcap (with a mask: capped
 * before it is added), q_pos0 in the middle of the cache, GQA. */
static void cat_transformer_ex(builder *b)
{
    for (int d = 0; d < NFD; d++) {
        xhal_dtype dt = FD[d];
        xhal_dtype pdt = d % 2 ? XHAL_DTYPE_I32 : XHAL_DTYPE_I64;
        struct {
            const char *name;
            xc_tspec x, pos, invf;
            int seq_axis, rot, layout, has_pos, has_invf;
            double theta, af;
            int64_t pos_offset;
        } r[] = {
            {"pos_nonmono_half_1x6x2x16",
             ts(dt, 4, 1, 6, 2, 16),
             range(ts(pdt, 1, 6), 0, 5000),
             {0},
             1,
             0,
             XHAL_ROPE_HALF,
             1,
             0,
             10000,
             0,
             0},
            {"pos_bs_interleaved_2x5x3x8",
             ts(dt, 4, 2, 5, 3, 8),
             range(ts(pdt, 2, 2, 5), 0, 100),
             {0},
             1,
             0,
             XHAL_ROPE_INTERLEAVED,
             1,
             0,
             10000,
             0,
             0},
            {"pos_b1s_bhsd_seq2_half_2x3x4x16",
             ts(dt, 4, 2, 3, 4, 16),
             range(ts(pdt, 3, 2, 1, 4), 0, 300),
             {0},
             2,
             0,
             XHAL_ROPE_HALF,
             1,
             0,
             10000,
             0,
             0},
            {"pos_negative_half_1x4x1x8",
             ts(dt, 4, 1, 4, 1, 8),
             range(ts(pdt, 1, 4), -50, 50),
             {0},
             1,
             0,
             XHAL_ROPE_HALF,
             1,
             0,
             10000,
             0,
             0},
            {"llama3_invfreq_pos_half_1x4x2x32", ts(dt, 4, 1, 4, 2, 32), range(ts(pdt, 1, 4), 0, 9000),
             gen(range(ts(XHAL_DTYPE_F32, 1, 16), 500000, 500000), XC_GEN_LLAMA3), 1, 0, XHAL_ROPE_HALF, 1, 1, 10000, 0,
             0},
            {"llama3_invfreq_offset_half_2x3x2x16",
             ts(dt, 4, 2, 3, 2, 16),
             {0},
             gen(range(ts(XHAL_DTYPE_F32, 1, 8), 500000, 500000), XC_GEN_LLAMA3),
             1,
             0,
             XHAL_ROPE_HALF,
             0,
             1,
             10000,
             0,
             8190},
            {"glm4_partial_interleaved_rot8_invfreq_1x5x2x16", ts(dt, 4, 1, 5, 2, 16), range(ts(pdt, 1, 5), 0, 40),
             range(ts(XHAL_DTYPE_F32, 1, 4), 0.001, 1), 1, 8, XHAL_ROPE_INTERLEAVED, 1, 1, 10000, 0, 0},
            {"yarn_af1_25_half_rot12_1x3x2x16",
             ts(dt, 4, 1, 3, 2, 16),
             {0},
             {0},
             1,
             12,
             XHAL_ROPE_HALF,
             0,
             0,
             10000,
             1.25,
             11},
            {"yarn_af0_8_pos_invfreq_interleaved_2x2x2x8", ts(dt, 4, 2, 2, 2, 8), range(ts(pdt, 2, 2, 2), 0, 2000),
             range(ts(XHAL_DTYPE_F32, 1, 4), 0.0001, 1), 1, 0, XHAL_ROPE_INTERLEAVED, 1, 1, 10000, 0.8, 0},
        };
        for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
            xc_case c = mk(XHAL_OP_ROPE, dt, "%s", r[i].name);
            c.n_in = 1;
            c.in[0] = r[i].x;
            if (r[i].has_pos) c.in[c.n_in++] = gen(r[i].pos, XC_GEN_INT);
            if (r[i].has_invf) c.in[c.n_in++] = r[i].invf;
            c.out = r[i].x;
            c.at.seq_axis = r[i].seq_axis;
            c.at.rotary_dims = r[i].rot;
            c.at.rope_layout = r[i].layout;
            c.at.theta = r[i].theta;
            c.at.pos_offset = r[i].pos_offset;
            c.at.has_positions = r[i].has_pos;
            c.at.has_inv_freq = r[i].has_invf;
            c.at.attention_factor = r[i].af;
            add(b, &c);
        }
        {
            /* positions [1, S] seen as [B, S] through a stride-0 view, x a strided view */
            int64_t es[2] = {1, 5};
            xc_case c = mk(XHAL_OP_ROPE, dt, "pos_expanded_view_step_x_3x5x2x8");
            c.n_in = 2;
            c.in[0] = step(ts(dt, 4, 3, 5, 2, 8));
            c.in[1] = expand_from(gen(range(ts(pdt, 2, 3, 5), 0, 700), XC_GEN_INT), es);
            c.out = ts(dt, 4, 3, 5, 2, 8);
            c.at.seq_axis = 1;
            c.at.theta = 10000;
            c.at.has_positions = 1;
            add(b, &c);
            c = mk(XHAL_OP_ROPE, dt, "inplace_pos_half_2x3x2x16");
            c.n_in = 2;
            c.in[0] = ts(dt, 4, 2, 3, 2, 16);
            c.in[1] = gen(range(ts(pdt, 2, 2, 3), 0, 64), XC_GEN_INT);
            c.out = c.in[0];
            c.at.seq_axis = 1;
            c.at.theta = 10000;
            c.at.has_positions = 1;
            c.inplace = 1;
            add(b, &c);
        }
        struct {
            const char *name;
            int B, Hq, Hkv, Sq, Sk, D, causal, mask;
            int64_t window, q_pos0; /* q_pos0 -1: Sk - Sq */
            double softcap, range;
        } a[] = {
            {"window3_causal_1x2x2_sq8_sk8_d16", 1, 2, 2, 8, 8, 16, 1, 0, 3, -1, 0, 2},
            {"window1_causal_gqa_1x4x2_sq6_sk6_d8", 1, 4, 2, 6, 6, 8, 1, 0, 1, -1, 0, 2},
            {"window100_gt_sk_1x2x1_sq4_sk6_d8", 1, 2, 1, 4, 6, 8, 1, 0, 100, -1, 0, 2},
            {"window5_decode_1x4x2_sq1_sk20_d16", 1, 4, 2, 1, 20, 16, 1, 0, 5, -1, 0, 2},
            {"window4_kvcache_2x2x1_sq3_sk11_d16", 2, 2, 1, 3, 11, 16, 1, 0, 4, -1, 0, 2},
            {"softcap2_1x2x2_sq5_sk7_d16", 1, 2, 2, 5, 7, 16, 0, 0, 0, -1, 2.0, 4},
            {"softcap3_mask_causal_1x2x1_sq4_sk6_d16", 1, 2, 1, 4, 6, 16, 1, 1, 0, -1, 3.0, 4},
            {"softcap50_large_1x2x2_sq3_sk9_d32", 1, 2, 2, 3, 9, 32, 0, 0, 0, -1, 50.0, 30},
            {"qpos0_4_mid_causal_1x2x1_sq3_sk12_d16", 1, 2, 1, 3, 12, 16, 1, 0, 0, 4, 0, 2},
            {"qpos0_0_causal_1x2x2_sq4_sk9_d8", 1, 2, 2, 4, 9, 8, 1, 0, 0, 0, 0, 2},
            {"qpos0_6_window4_gqa_2x4x2_sq5_sk16_d8", 2, 4, 2, 5, 16, 8, 1, 0, 4, 6, 0, 2},
            {"qpos0_2_noncausal_1x2x2_sq3_sk7_d8", 1, 2, 2, 3, 7, 8, 0, 0, 0, 2, 0, 2},
            {"all_window3_softcap4_mask_qpos0_5_1x4x2_sq4_sk13_d16", 1, 4, 2, 4, 13, 16, 1, 1, 3, 5, 4.0, 3},
        };
        for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++) {
            xc_case c = mk(XHAL_OP_ATTENTION, dt, "%s", a[i].name);
            c.in[0] = range(ts(dt, 4, a[i].B, a[i].Hq, a[i].Sq, a[i].D), -a[i].range, a[i].range);
            c.in[1] = range(ts(dt, 4, a[i].B, a[i].Hkv, a[i].Sk, a[i].D), -a[i].range, a[i].range);
            c.in[2] = ts(dt, 4, a[i].B, a[i].Hkv, a[i].Sk, a[i].D);
            if (i == 4) c.in[1] = step(c.in[1]);
            c.n_in = 3;
            if (a[i].mask) c.in[c.n_in++] = range(ts(dt, 2, a[i].Sq, a[i].Sk), -3, 0);
            c.at.has_mask = a[i].mask != 0;
            c.at.causal = a[i].causal;
            c.at.window = a[i].window;
            c.at.softcap = a[i].softcap;
            c.at.has_q_pos0 = a[i].q_pos0 >= 0;
            c.at.q_pos0 = a[i].q_pos0 >= 0 ? a[i].q_pos0 : 0;
            c.out = ts(dt, 4, a[i].B, a[i].Hq, a[i].Sq, a[i].D);
            add(b, &c);
        }
    }
}

/* topk (issue 12): largest and smallest, k = 1 .. n, ties (integer values), NaN/Inf/signed
 * zeros, other axes and strided views, i32 and i64 indices, MoE routing sizes. */
static void cat_topk(builder *b)
{
    for (int d = 0; d < NFD; d++) {
        xhal_dtype dt = FD[d];
        struct {
            const char *name;
            xc_tspec x;
            int axis, largest, gen, idx64;
            int64_t k;
            double lo, hi;
        } t[] = {
            {"k3_largest_4x37", ts(dt, 2, 4, 37), -1, 1, XC_GEN_UNIFORM, 1, 3, -1, 1},
            {"k1_smallest_5x16", ts(dt, 2, 5, 16), -1, 0, XC_GEN_UNIFORM, 0, 1, -1, 1},
            {"kn_largest_ties_3x20", ts(dt, 2, 3, 20), 1, 1, XC_GEN_INT, 1, 20, -3, 3},
            {"k5_smallest_ties_2x3x33", ts(dt, 3, 2, 3, 33), 2, 0, XC_GEN_INT, 0, 5, 0, 4},
            {"k7_largest_special_2x40", ts(dt, 2, 2, 40), -1, 1, XC_GEN_SPECIAL, 1, 7, -1, 1},
            {"kn_smallest_special_2x40", ts(dt, 2, 2, 40), -1, 0, XC_GEN_SPECIAL, 0, 40, -1, 1},
            {"k2_largest_axis0_9x5", ts(dt, 2, 9, 5), 0, 1, XC_GEN_INT, 1, 2, -2, 2},
            {"k4_smallest_axis1_perm_3x10x6", perm_rev(ts(dt, 3, 3, 10, 6)), 1, 0, XC_GEN_UNIFORM, 0, 4, -1, 1},
            {"moe_router_k2_7x8", ts(dt, 2, 7, 8), -1, 1, XC_GEN_UNIFORM, 0, 2, -4, 4},
            {"moe_router_k8_3x64", ts(dt, 2, 3, 64), -1, 1, XC_GEN_UNIFORM, 1, 8, -4, 4},
            {"k64_largest_ties_2x300", ts(dt, 2, 2, 300), -1, 1, XC_GEN_INT, 0, 64, -10, 10},
            {"k300_smallest_1x300", ts(dt, 2, 1, 300), -1, 0, XC_GEN_UNIFORM, 1, 300, -1, 1},
            {"k1_largest_1d_n1", ts(dt, 1, 1), 0, 1, XC_GEN_UNIFORM, 1, 1, -1, 1},
            {"k2_empty_rows_0x5", ts(dt, 2, 0, 5), -1, 1, XC_GEN_UNIFORM, 1, 2, -1, 1},
        };
        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
            xhal_dtype it = t[i].idx64 ? XHAL_DTYPE_I64 : XHAL_DTYPE_I32;
            xc_case c = mk(XHAL_OP_TOPK, dt, "%s_%s", t[i].name, xhal_dtype_name(it));
            c.n_in = 1;
            c.in[0] = gen(range(t[i].x, t[i].lo, t[i].hi), t[i].gen);
            int ax = t[i].axis < 0 ? t[i].axis + t[i].x.ndim : t[i].axis;
            xc_tspec o = ts(dt, 0);
            o.ndim = t[i].x.ndim;
            for (int k = 0; k < o.ndim; k++) o.shape[k] = k == ax ? t[i].k : t[i].x.shape[k];
            c.out = i == 3 ? step(o) : o;
            c.has_out2 = 1;
            c.out2 = with_dtype(o, it);
            if (i == 6) c.out2 = perm_rev(c.out2);
            c.at.axis = t[i].axis;
            c.at.k = t[i].k;
            c.at.largest = t[i].largest;
            c.nan_sign = 1;
            add(b, &c);
        }
    }
}

/* out is input 0 itself: what xhal.h allows for elementwise ops and rope */
static void cat_inplace(builder *b)
{
    const xhal_op un[] = {XHAL_OP_NEG, XHAL_OP_EXP, XHAL_OP_RELU, XHAL_OP_GELU, XHAL_OP_SCALE};
    for (int d = 0; d < 3; d++) {
        xhal_dtype dt = FD[d];
        for (size_t u = 0; u < sizeof(un) / sizeof(un[0]); u++) {
            xc_case c = mk(un[u], dt, "inplace_step_3x127");
            c.n_in = 1;
            c.in[0] = step(range(ts(dt, 2, 3, 127), -4, 4));
            c.out = c.in[0];
            c.at.alpha = 1.5;
            c.at.beta = 0.5;
            c.inplace = 1;
            add(b, &c);
        }
        xc_case c = mk(XHAL_OP_ADD, dt, "inplace_a_bcast_row_17x33");
        c.n_in = 2;
        c.in[0] = ts(dt, 2, 17, 33);
        c.in[1] = ts(dt, 1, 33);
        c.out = c.in[0];
        c.inplace = 1;
        add(b, &c);
        c = mk(XHAL_OP_MUL, dt, "inplace_a_perm_17x33");
        c.n_in = 2;
        c.in[0] = perm_rev(ts(dt, 2, 17, 33));
        c.in[1] = ts(dt, 2, 17, 33);
        c.out = c.in[0];
        c.inplace = 1;
        add(b, &c);
        c = mk(XHAL_OP_ROPE, dt, "inplace_half_2x5x4x16_pos7");
        c.n_in = 1;
        c.in[0] = ts(dt, 4, 2, 5, 4, 16);
        c.out = c.in[0];
        c.at.seq_axis = 1;
        c.at.theta = 10000;
        c.at.pos_offset = 7;
        c.inplace = 1;
        add(b, &c);
    }
    /* integer narrowing saturates */
    const xhal_dtype nar[] = {XHAL_DTYPE_I32, XHAL_DTYPE_I8, XHAL_DTYPE_U8};
    for (int i = 0; i < 3; i++) {
        xc_case c = mk(XHAL_OP_COPY, nar[i], "from_i64_saturate_n33");
        c.n_in = 1;
        c.in[0] = range(ts(XHAL_DTYPE_I64, 1, 33), -1e10, 1e10);
        c.out = ts(nar[i], 1, 33);
        add(b, &c);
    }
}

/* Block-quantized dtypes (OPS.md, copy and matmul): matmul with quantized weights against
 * the f64 product with the dequantized weights, dequantization bit-exact, quantization
 * byte-exact with the codec, views that split a block refused. Filed under the quantized
 * dtype. */
static void cat_quant(builder *b)
{
    const xhal_dtype Q[] = {XHAL_DTYPE_Q8_0, XHAL_DTYPE_Q4_0, XHAL_DTYPE_Q4_K, XHAL_DTYPE_Q6_K};
    for (int qi = 0; qi < 4; qi++) {
        xhal_dtype q = Q[qi];
        int bs = 0;
        xc_dtype_block(q, &bs, NULL);
        const int small = bs == 32; /* q8_0/q4_0 blocks of 32; k-quants super-blocks of 256 */
        /* matmul: a [.., M, K] x b [.., N, K]^T, blocks along K */
        struct {
            const char *name;
            xhal_dtype adt;
            int M, K, N, batch; /* batch: 0 none, 1 [2,M,K] x [2,N,K], 2 b 2-D broadcast, 3 b expanded
                                 * from [1,N,K] (stride 0), 4 b permuted [N,2,K] -> [2,N,K] */
            double alpha, beta;
            int a_step; /* a is a step-2 slice along K (strided activations) */
        } mm[] = {
            {"decode_m1_1block_n17", XHAL_DTYPE_F32, 1, bs, 17, 0, 1, 0, 0},
            {"decode_m1_blocks_n67", XHAL_DTYPE_F32, 1, small ? 8 * bs : 3 * bs, 67, 0, 1, 0, 0},
            {"decode_m1_n300", XHAL_DTYPE_F32, 1, 2 * bs, 300, 0, 1, 0, 0},
            {"m5_blocks_n33", XHAL_DTYPE_F32, 5, 2 * bs, 33, 0, 1, 0, 0},
            {"m40_blocks_n70", XHAL_DTYPE_F32, 40, small ? 4 * bs : 2 * bs, 70, 0, 1, 0, 0},
            {"f16_m1_blocks_n19", XHAL_DTYPE_F16, 1, 2 * bs, 19, 0, 1, 0, 0},
            {"f16_m3_blocks_n9", XHAL_DTYPE_F16, 3, 2 * bs, 9, 0, 1, 0, 0},
            {"bf16_m1_blocks_n19", XHAL_DTYPE_BF16, 1, 2 * bs, 19, 0, 1, 0, 0},
            {"bf16_m3_blocks_n9", XHAL_DTYPE_BF16, 3, 2 * bs, 9, 0, 1, 0, 0},
            {"batch2_m3_n7", XHAL_DTYPE_F32, 3, bs, 7, 1, 1, 0, 0},
            {"batch2_bcast_b_m1_n7", XHAL_DTYPE_F32, 1, 2 * bs, 7, 2, 1, 0, 0},
            {"batch2_expand_b_m2_n5", XHAL_DTYPE_F32, 2, bs, 5, 3, 1, 0, 0},
            {"batch2_perm_b_m1_n6", XHAL_DTYPE_F32, 1, 2 * bs, 6, 4, 1, 0, 0},
            {"alpha_beta_m4_n11", XHAL_DTYPE_F32, 4, bs, 11, 0, 0.5, -1.25, 0},
            {"step_a_m1_n13", XHAL_DTYPE_F32, 1, 2 * bs, 13, 0, 1, 0, 1},
            {"step_a_m3_n13", XHAL_DTYPE_F32, 3, bs, 13, 0, 1, 0, 1},
        };
        for (size_t i = 0; i < sizeof(mm) / sizeof(mm[0]); i++) {
            xc_case c = mk(XHAL_OP_MATMUL, q, "%s_k%d_%s", mm[i].name, mm[i].K, xhal_dtype_name(mm[i].adt));
            int M = mm[i].M, K = mm[i].K, N = mm[i].N;
            xhal_dtype adt = mm[i].adt;
            c.n_in = 2;
            switch (mm[i].batch) {
                case 1:
                    c.in[0] = ts(adt, 3, 2, M, K);
                    c.in[1] = ts(q, 3, 2, N, K);
                    c.out = ts(adt, 3, 2, M, N);
                    break;
                case 2:
                    c.in[0] = ts(adt, 3, 2, M, K);
                    c.in[1] = ts(q, 2, N, K);
                    c.out = ts(adt, 3, 2, M, N);
                    break;
                case 3: {
                    int64_t es[3] = {1, N, K};
                    c.in[0] = ts(adt, 3, 2, M, K);
                    c.in[1] = expand_from(ts(q, 3, 2, N, K), es);
                    c.out = ts(adt, 3, 2, M, N);
                    break;
                }
                case 4:
                    c.in[0] = ts(adt, 3, 2, M, K);
                    c.in[1] = ts(q, 3, 2, N, K);
                    c.in[1].layout = XC_LAYOUT_PERMUTE; /* stored [N, 2, K] */
                    c.in[1].perm[0] = 1;
                    c.in[1].perm[1] = 0;
                    c.in[1].perm[2] = 2;
                    c.out = ts(adt, 3, 2, M, N);
                    break;
                default:
                    c.in[0] = ts(adt, 2, M, K);
                    c.in[1] = ts(q, 2, N, K);
                    c.out = ts(adt, 2, M, N);
                    break;
            }
            if (mm[i].a_step) c.in[0] = step(c.in[0]);
            c.at.trans_b = 1;
            c.at.alpha = mm[i].alpha;
            c.at.beta = mm[i].beta;
            c.out_init = mm[i].beta != 0 ? XC_INIT_RANDOM : XC_INIT_NAN;
            add(b, &c);
        }
        /* dequantize: copy to f32/f16/bf16, bit-exact (exact class) */
        const xhal_dtype F3[] = {XHAL_DTYPE_F32, XHAL_DTYPE_F16, XHAL_DTYPE_BF16};
        for (int f = 0; f < 3; f++) {
            xc_case c = mk(XHAL_OP_COPY, q, "to_%s_3x%d", xhal_dtype_name(F3[f]), 4 * bs);
            c.n_in = 1;
            c.in[0] = ts(q, 2, 3, 4 * bs);
            c.out = ts(F3[f], 2, 3, 4 * bs);
            add(b, &c);
        }
        {
            xc_case c = mk(XHAL_OP_COPY, q, "to_f32_perm_in_2x3x%d", 2 * bs);
            c.n_in = 1;
            c.in[0] = ts(q, 3, 2, 3, 2 * bs);
            c.in[0].layout = XC_LAYOUT_PERMUTE; /* stored [3, 2, K] */
            c.in[0].perm[0] = 1;
            c.in[0].perm[1] = 0;
            c.out = ts(XHAL_DTYPE_F32, 3, 2, 3, 2 * bs);
            add(b, &c);
            int64_t es[2] = {1, bs};
            c = mk(XHAL_OP_COPY, q, "to_f32_expand_in_5x%d", bs);
            c.n_in = 1;
            c.in[0] = expand_from(ts(q, 2, 5, bs), es);
            c.out = ts(XHAL_DTYPE_F32, 2, 5, bs);
            add(b, &c);
            c = mk(XHAL_OP_COPY, q, "to_f32_step_out_4x%d", bs);
            c.n_in = 1;
            c.in[0] = ts(q, 2, 4, bs);
            c.out = step(ts(XHAL_DTYPE_F32, 2, 4, bs));
            add(b, &c);
            c = mk(XHAL_OP_COPY, q, "to_f32_perm_out_%dx3", 2 * bs);
            c.n_in = 1;
            c.in[0] = ts(q, 2, 3, 2 * bs);
            c.out = ts(XHAL_DTYPE_F32, 2, 3, 2 * bs);
            c.out.layout = XC_LAYOUT_PERMUTE; /* stored [K, 3] */
            c.out.perm[0] = 1;
            c.out.perm[1] = 0;
            add(b, &c);
            /* blocks copied as they are (byte-exact), into a permuted block view */
            c = mk(XHAL_OP_COPY, q, "same_dtype_perm_out_2x3x%d", bs);
            c.n_in = 1;
            c.in[0] = ts(q, 3, 2, 3, bs);
            c.out = ts(q, 3, 2, 3, bs);
            c.out.layout = XC_LAYOUT_PERMUTE;
            c.out.perm[0] = 1;
            c.out.perm[1] = 0;
            add(b, &c);
            c = mk(XHAL_OP_COPY, q, "empty_0x%d", bs);
            c.n_in = 1;
            c.in[0] = ts(q, 2, 0, bs);
            c.out = ts(XHAL_DTYPE_F32, 2, 0, bs);
            add(b, &c);
        }
        /* views that split a block: refused when the view is made */
        {
            xc_case c = mk(XHAL_OP_COPY, q, "view_step_inner_splits_blocks_refused");
            c.n_in = 1;
            c.in[0] = step(ts(q, 2, 3, bs));
            c.out = ts(XHAL_DTYPE_F32, 2, 3, bs);
            c.view_refused = 1;
            c.expect_status = XHAL_ERROR_INVALID_ARGUMENT;
            add(b, &c);
            c = mk(XHAL_OP_COPY, q, "view_permute_inner_axis_refused");
            c.n_in = 1;
            c.in[0] = perm_rev(ts(q, 2, bs, bs));
            c.out = ts(XHAL_DTYPE_F32, 2, bs, bs);
            c.view_refused = 1;
            c.expect_status = XHAL_ERROR_INVALID_ARGUMENT;
            add(b, &c);
        }
        if (!small) continue;
        /* quantize: f32/f16/bf16 -> q8_0/q4_0, byte-exact with the codec */
        for (int f = 0; f < 3; f++) {
            xc_case c = mk(XHAL_OP_COPY, q, "from_%s_4x%d", xhal_dtype_name(F3[f]), 4 * bs);
            c.n_in = 1;
            c.in[0] = range(ts(F3[f], 2, 4, 4 * bs), -3, 3);
            c.out = ts(q, 2, 4, 4 * bs);
            add(b, &c);
        }
        {
            xc_case c = mk(XHAL_OP_COPY, q, "from_f32_special_blocks_2x%d", 8 * bs);
            c.n_in = 1;
            c.in[0] = gen(ts(XHAL_DTYPE_F32, 2, 2, 8 * bs), XC_GEN_QBLOCKS);
            c.out = ts(q, 2, 2, 8 * bs);
            add(b, &c);
            c = mk(XHAL_OP_COPY, q, "from_f32_step_in_3x%d", 2 * bs);
            c.n_in = 1;
            c.in[0] = step(ts(XHAL_DTYPE_F32, 2, 3, 2 * bs));
            c.out = ts(q, 2, 3, 2 * bs);
            add(b, &c);
            c = mk(XHAL_OP_COPY, q, "from_f32_perm_in_perm_out_2x3x%d", bs);
            c.n_in = 1;
            c.in[0] = perm_rev(ts(XHAL_DTYPE_F32, 3, 2, 3, bs));
            c.out = ts(q, 3, 2, 3, bs);
            c.out.layout = XC_LAYOUT_PERMUTE;
            c.out.perm[0] = 1;
            c.out.perm[1] = 0;
            add(b, &c);
        }
    }
}

int xc_catalogue_build(xc_case_list *list)
{
    builder b = {list, 0};
    cat_inplace(&b);
    cat_copy_fill(&b);
    cat_unary(&b);
    cat_binary(&b);
    cat_reduce(&b);
    cat_norm(&b);
    cat_matmul(&b);
    cat_index(&b);
    cat_transformer(&b);
    cat_transformer_ex(&b);
    cat_topk(&b);
    cat_quant(&b);
    return b.err ? -1 : 0;
}

/* ------------------------------------------------------------------------------------ */
/* Input values                                                                         */
/* ------------------------------------------------------------------------------------ */
static int special_list(const xc_case *c, xhal_dtype dt, double *s)
{
    int n = 0;
    if (!xc_dtype_is_float(dt)) return 0;
    switch (c->op) {
        case XHAL_OP_SILU:
        case XHAL_OP_GELU:
        case XHAL_OP_GELU_TANH:
            s[n++] = NAN;
            s[n++] = -NAN;
            s[n++] = 0.0;
            s[n++] = -0.0;
            s[n++] = 0.5;
            s[n++] = -3;
            s[n++] = 20;
            s[n++] = -20;
            s[n++] = 100;
            s[n++] = -100; /* exp(-x) overflows: x / (1 + inf), not inf / inf */
            break;
        case XHAL_OP_SUM:
        case XHAL_OP_MEAN:
        case XHAL_OP_MAX:
        case XHAL_OP_ARGMAX:
            s[n++] = NAN;
            s[n++] = INFINITY;
            s[n++] = -INFINITY;
            s[n++] = NAN;
            break;
        case XHAL_OP_SOFTMAX:
            s[n++] = NAN;
            s[n++] = -INFINITY;
            s[n++] = -INFINITY;
            s[n++] = 0.0;
            break;
        case XHAL_OP_MATMUL: /* kinds do not depend on the summation order */
            s[n++] = NAN;
            s[n++] = INFINITY;
            s[n++] = -INFINITY;
            s[n++] = INFINITY;
            break;
        case XHAL_OP_RMS_NORM:
        case XHAL_OP_LAYER_NORM:
        case XHAL_OP_ROPE:
        case XHAL_OP_ATTENTION:
            /* NaN only: what Inf gives depends on the algorithm (two-pass vs online) */
            s[n++] = NAN;
            s[n++] = -NAN;
            s[n++] = NAN;
            break;
        case XHAL_OP_TOPK: /* NaN of both signs, infinities, signed zeros, equal values */
            s[n++] = NAN;
            s[n++] = -NAN;
            s[n++] = INFINITY;
            s[n++] = -INFINITY;
            s[n++] = 0.0;
            s[n++] = -0.0;
            s[n++] = 0.5;
            s[n++] = 0.5;
            s[n++] = -INFINITY;
            s[n++] = NAN;
            break;
        case XHAL_OP_COPY:
            s[n++] = NAN;
            s[n++] = -NAN;
            s[n++] = INFINITY;
            s[n++] = -INFINITY;
            s[n++] = 0.0;
            s[n++] = -0.0;
            s[n++] = 1e-6;
            s[n++] = -3e-7;
            s[n++] = 7e4;
            s[n++] = 65519.0;
            s[n++] = 65520.0;
            s[n++] = -1e38;
            s[n++] = 2.5;
            s[n++] = -2.5;
            s[n++] = 3.5;
            s[n++] = 1e39;
            s[n++] = -3.4e38;
            s[n++] = 3.3895314e38;
            break;
        default:
            s[n++] = NAN;
            s[n++] = -NAN;
            s[n++] = INFINITY;
            s[n++] = -INFINITY;
            s[n++] = 0.0;
            if (c->op != XHAL_OP_RSQRT) s[n++] = -0.0;
            s[n++] = 1e-3;
            s[n++] = 5.0;
            s[n++] = 100.0;
            s[n++] = -100.0;
            break;
    }
    return n;
}

/* A block-quantized tensor: random blocks for its dense storage (the stored shape of its
 * layout), decoded, then read through the view's strides into logical order. */
static int gen_block_tensor(const xc_tspec *sp, xc_rng *rng, xc_tensor *t)
{
    int bs, bb;
    xc_dtype_block(sp->dtype, &bs, &bb);
    int64_t st[XHAL_MAX_DIMS], off, stored = 1;
    xc_tspec_view(sp, st, &off);
    /* the stored tensor is dense: its element count is the largest offset + 1 */
    for (int d = 0; d < sp->ndim; d++)
        if (sp->shape[d] > 0) stored += (sp->shape[d] - 1) * st[d];
    if (sp->layout == XC_LAYOUT_EXPAND || sp->layout == XC_LAYOUT_PERMUTE) {
        int64_t S[XHAL_MAX_DIMS];
        for (int d = 0; d < sp->ndim; d++) S[d] = sp->layout == XC_LAYOUT_EXPAND ? sp->eshape[d] : 0;
        if (sp->layout == XC_LAYOUT_PERMUTE)
            for (int d = 0; d < sp->ndim; d++) S[sp->perm[d]] = sp->shape[d];
        stored = xc_numel(sp->ndim, S);
    }
    int64_t nblk = stored / bs;
    t->raw_bytes = nblk * bb;
    t->raw = malloc((size_t)(t->raw_bytes > 0 ? t->raw_bytes : 1));
    double *sv = malloc(sizeof(double) * (size_t)(stored > 0 ? stored : 1));
    t->v = malloc(sizeof(double) * (size_t)t->n);
    if (!t->raw || !sv || !t->v) {
        free(sv);
        return -1;
    }
    xc_block_random(sp->dtype, rng, nblk, t->raw);
    xc_block_decode(sp->dtype, t->raw, nblk, sv);
    int64_t idx[XHAL_MAX_DIMS];
    for (int64_t i = 0; i < t->n; i++) {
        int64_t r = i, o = 0;
        for (int d = sp->ndim - 1; d >= 0; d--) {
            idx[d] = r % sp->shape[d];
            r /= sp->shape[d];
        }
        for (int d = 0; d < sp->ndim; d++) o += idx[d] * st[d];
        t->v[i] = sv[o];
    }
    free(sv);
    return 0;
}

static int gen_tensor(const xc_case *c, const xc_tspec *sp, xc_rng *rng, xc_tensor *t)
{
    memset(t, 0, sizeof(*t));
    t->dtype = sp->dtype;
    t->ndim = sp->ndim;
    memcpy(t->shape, sp->shape, sizeof(t->shape));
    t->n = xc_numel(sp->ndim, sp->shape);
    if (t->n == 0) return 0;
    if (xc_dtype_block(sp->dtype, NULL, NULL)) {
        if (c->view_refused) { /* the view is refused before any data matters */
            t->n = 0;
            return 0;
        }
        return gen_block_tensor(sp, rng, t);
    }
    t->v = malloc(sizeof(double) * (size_t)t->n);
    if (!t->v) return -1;
    int isf = xc_dtype_is_float(sp->dtype);
    /* EXPAND: values of the stored shape, broadcast */
    int64_t sn = t->n;
    int64_t es[XHAL_MAX_DIMS];
    for (int d = 0; d < sp->ndim; d++) es[d] = sp->layout == XC_LAYOUT_EXPAND ? sp->eshape[d] : sp->shape[d];
    if (sp->layout == XC_LAYOUT_EXPAND) sn = xc_numel(sp->ndim, es);
    double *sv = sp->layout == XC_LAYOUT_EXPAND ? malloc(sizeof(double) * (size_t)sn) : t->v;
    if (!sv) return -1;
    for (int64_t i = 0; i < sn; i++) {
        double x;
        if (sp->gen == XC_GEN_INT || !isf) {
            int64_t span = (int64_t)(sp->hi - sp->lo) + 1;
            x = sp->lo + (double)(span > 0 ? (int64_t)(xc_rng_next(rng) % (uint64_t)span) : 0);
        } else if (sp->gen == XC_GEN_TIES) {
            int mant = c->out.dtype == XHAL_DTYPE_F16 ? 10 : c->out.dtype == XHAL_DTYPE_BF16 ? 7 : 23;
            double m = (double)(xc_rng_next(rng) % (1u << mant));
            int e = (int)(xc_rng_next(rng) % 21) - 10;
            x = ldexp(ldexp(1.0, mant) + m + ((i & 1) ? 0.0 : 0.5), e - mant);
            if (xc_rng_next(rng) & 1) x = -x;
        } else if (sp->gen == XC_GEN_LLAMA3) {
            /* transformers' _compute_llama3_parameters with theta = lo over 2 sn rotary dims */
            const double pi = 3.14159265358979323846, factor = 8, lo_f = 1, hi_f = 4, orig = 8192;
            double f = pow(sp->lo, -2.0 * (double)i / (double)(2 * sn)), wl = 2 * pi / f;
            if (wl > orig / lo_f) {
                f /= factor;
            } else if (wl >= orig / hi_f) {
                double sm = (orig / wl - lo_f) / (hi_f - lo_f);
                f = (1 - sm) * f / factor + sm * f;
            }
            x = f;
        } else if (sp->gen == XC_GEN_SIGNMAG) {
            x = xc_rng_uniform(rng, sp->lo, sp->hi);
            if (xc_rng_next(rng) & 1) x = -x;
        } else {
            x = xc_rng_uniform(rng, sp->lo, sp->hi);
        }
        sv[i] = xc_round_to(sp->dtype, x);
    }
    double s[24];
    if (sp->gen == XC_GEN_SPECIAL && !isf) {
        sv[sn - 1] = sp->hi + 1; /* indices: one past the end */
    } else if (sp->gen == XC_GEN_SPECIAL) {
        int m = special_list(c, sp->dtype, s);
        for (int k = 0; k < m && m > 0; k++) {
            int64_t pos = (int64_t)k * (sn / m) + k;
            if (pos < sn) sv[pos] = xc_round_to(sp->dtype, s[k]);
        }
    } else if (sp->gen == XC_GEN_PAIRS_A || sp->gen == XC_GEN_PAIRS_B) {
        const double p[7] = {NAN, INFINITY, -INFINITY, 0.0, -0.0, 1.0, -2.5};
        for (int64_t i = 0; i < sn; i++) {
            int64_t k = sp->gen == XC_GEN_PAIRS_A ? (i / 7) % 7 : i % 7;
            sv[i] = xc_round_to(sp->dtype, p[k]);
        }
    }
    if (sp->gen == XC_GEN_QBLOCKS) {
        for (int64_t i = 0; i + 32 <= sn; i += 32) {
            double *x = sv + i;
            int64_t k = (i / 32) % 8;
            double scale = ldexp(1.0, (int)((i / 32) % 21) - 10); /* 2^-10 .. 2^10 */
            for (int j = 0; j < 32; j++) {
                switch (k) {
                    case 0: x[j] = 0.0; break;
                    case 1: /* amax 127 (q8_0: d = 1) and halves: roundf rounds them away from 0 */
                        x[j] = j == 0 ? 127.0 : (double)(j % 9) - 4.5 + (j & 1 ? 0.0 : 1.0);
                        break;
                    case 2: /* max -8 (q4_0: d = 1): x + 8.5 is truncated, not rounded */
                        x[j] = j == 0 ? -8.0 : (double)((j * 7) % 31) / 2.0 - 7.75;
                        break;
                    case 3: x[j] = j == 3 ? -2.0 : (j == 20 ? 2.0 : 0.25 * (j % 5)); break;
                    case 4: x[j] = j == 3 ? 2.0 : (j == 20 ? -2.0 : -0.25 * (j % 5)); break;
                    case 5: x[j] = j == 7 ? 1e-30 : 0.0; break; /* d underflows f16: stored 0 */
                    default: x[j] = scale * xc_rng_uniform(rng, -1, 1); break;
                }
                x[j] = xc_round_to(sp->dtype, x[j]);
            }
        }
    }
    if (sp->layout == XC_LAYOUT_EXPAND) {
        int64_t idx[XHAL_MAX_DIMS];
        for (int64_t i = 0; i < t->n; i++) {
            int64_t r = i, off = 0;
            for (int d = sp->ndim - 1; d >= 0; d--) {
                idx[d] = r % sp->shape[d];
                r /= sp->shape[d];
            }
            for (int d = 0; d < sp->ndim; d++) off = off * es[d] + (es[d] == 1 ? 0 : idx[d]);
            t->v[i] = sv[off];
        }
        free(sv);
    }
    return 0;
}

static int copy_tensor(const xc_tensor *src, xc_tensor *dst)
{
    *dst = *src;
    dst->v = NULL;
    dst->raw = NULL;
    if (src->raw) {
        dst->raw = malloc((size_t)(src->raw_bytes > 0 ? src->raw_bytes : 1));
        if (!dst->raw) return -1;
        memcpy(dst->raw, src->raw, (size_t)src->raw_bytes);
    }
    if (src->n == 0) return 0;
    dst->v = malloc(sizeof(double) * (size_t)src->n);
    if (!dst->v) return -1;
    memcpy(dst->v, src->v, sizeof(double) * (size_t)src->n);
    return 0;
}

int xc_case_inputs(const xc_case *c, uint64_t seed, xc_tensor *in, xc_tensor *init)
{
    xc_rng rng;
    xc_rng_seed(&rng, seed ^ xc_hash_str(c->name));
    memset(init, 0, sizeof(*init));
    for (int i = 0; i < c->n_in; i++) {
        int rc = c->given_in ? copy_tensor(&c->given_in[i], &in[i]) : gen_tensor(c, &c->in[i], &rng, &in[i]);
        if (rc != 0) return -1;
    }
    if (c->given_init) return copy_tensor(c->given_init, init);
    if (xc_dtype_block(c->out.dtype, NULL, NULL)) return 0; /* out keeps the guard pattern */
    xc_tspec o = c->out;
    o.layout = XC_LAYOUT_CONTIG;
    o.gen = XC_GEN_UNIFORM;
    o.lo = -1;
    o.hi = 1;
    if (gen_tensor(c, &o, &rng, init) != 0) return -1;
    if (c->out_init == XC_INIT_NAN)
        for (int64_t i = 0; i < init->n; i++) init->v[i] = xc_dtype_is_float(o.dtype) ? NAN : -77.0;
    return 0;
}
