/* The f64 reference and the dtype helpers against values worked out by hand. */
#include <math.h>
#include <stdlib.h>
#include "xtest.h"
#include "xc_conform.h"

static xc_tensor T(int ndim, const int64_t *shape, const double *v)
{
    xc_tensor t;
    memset(&t, 0, sizeof(t));
    t.dtype = XHAL_DTYPE_F64;
    t.ndim = ndim;
    for (int i = 0; i < ndim; i++) t.shape[i] = shape[i];
    t.n = xc_numel(ndim, shape);
    t.v = malloc(sizeof(double) * (size_t)(t.n ? t.n : 1));
    for (int64_t i = 0; i < t.n; i++) t.v[i] = v[i];
    return t;
}

static xc_case C(xhal_op op, int ndim_out, const int64_t *oshape)
{
    xc_case c;
    memset(&c, 0, sizeof(c));
    c.op = op;
    c.dtype = XHAL_DTYPE_F64;
    c.out.dtype = XHAL_DTYPE_F64;
    c.out.ndim = ndim_out;
    for (int i = 0; i < ndim_out; i++) c.out.shape[i] = oshape[i];
    c.at.alpha = 1;
    return c;
}

static double ref[64], mag[64];

/* The case's input specs are those of the given tensors (the reference checks both). */
static int run(const xc_case *c0, xc_tensor *in, int n_in, const xc_tensor *init)
{
    char msg[256];
    int64_t R;
    xc_case cc = *c0, *c = &cc;
    cc.n_in = n_in;
    for (int i = 0; i < n_in; i++) {
        cc.in[i].dtype = in[i].dtype;
        cc.in[i].ndim = in[i].ndim;
        memcpy(cc.in[i].shape, in[i].shape, sizeof(cc.in[i].shape));
    }
    if (c->op == XHAL_OP_ATTENTION) cc.at.has_mask = n_in == 4;
    int rc = xc_ref_compute(c, in, init, ref, mag, &R, msg, sizeof(msg));
    if (rc) fprintf(stderr, "reference: %s\n", msg);
    for (int i = 0; i < n_in; i++) xc_tensor_free(&in[i]);
    return rc;
}

static int near(const double *got, const double *want, int n, double tol)
{
    for (int i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= tol)) {
            fprintf(stderr, "  element %d: %.12g vs %.12g\n", i, got[i], want[i]);
            return 0;
        }
    return 1;
}

static void test_dtypes(void)
{
    CHECK(xc_f64_to_f16(1.0) == 0x3c00);
    CHECK(xc_f64_to_f16(65504.0) == 0x7bff);
    CHECK(xc_f64_to_f16(65519.0) == 0x7bff);
    CHECK(xc_f64_to_f16(65520.0) == 0x7c00);
    CHECK(xc_f64_to_f16(ldexp(1, -24)) == 0x0001);
    CHECK(xc_f64_to_f16(ldexp(1, -25)) == 0x0000);     /* tie to even */
    CHECK(xc_f64_to_f16(3 * ldexp(1, -25)) == 0x0002); /* 1.5 ulp -> 2 */
    CHECK(xc_f64_to_f16(-0.0) == 0x8000);
    CHECK(xc_f64_to_f16(1.0 + ldexp(1, -11)) == 0x3c00); /* tie to even */
    CHECK(xc_f64_to_f16(1.0 + 3 * ldexp(1, -11)) == 0x3c02);
    CHECK((xc_f64_to_f16(NAN) & 0x7c00) == 0x7c00 && (xc_f64_to_f16(NAN) & 0x3ff) && !(xc_f64_to_f16(NAN) & 0x8000));
    CHECK(xc_f64_to_f16(-NAN) & 0x8000);
    CHECK(xc_f64_to_bf16(1.0) == 0x3f80);
    CHECK(xc_f64_to_bf16(1.0 + ldexp(1, -8)) == 0x3f80);
    CHECK(xc_f64_to_bf16(1.0 + 3 * ldexp(1, -8)) == 0x3f82);
    CHECK(xc_f64_to_bf16(-INFINITY) == 0xff80);
    /* every f16 / bf16 bit pattern survives decode + encode (NaNs stay NaN with their sign) */
    int bad16 = 0, badbf = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        double a = xc_f16_to_f64((uint16_t)h), b = xc_bf16_to_f64((uint16_t)h);
        uint16_t a2 = xc_f64_to_f16(a), b2 = xc_f64_to_bf16(b);
        if (isnan(a) ? !(isnan(xc_f16_to_f64(a2)) && (a2 & 0x8000) == (h & 0x8000)) : a2 != h) bad16++;
        if (isnan(b) ? !(isnan(xc_bf16_to_f64(b2)) && (b2 & 0x8000) == (h & 0x8000)) : b2 != h) badbf++;
    }
    CHECK(bad16 == 0);
    CHECK(badbf == 0);
    CHECK(xc_round_to(XHAL_DTYPE_I8, 300) == 127 && xc_round_to(XHAL_DTYPE_I8, -300) == -128);
    CHECK(xc_round_to(XHAL_DTYPE_U8, -5) == 0 && xc_round_to(XHAL_DTYPE_U8, 255.9) == 255);
    CHECK(xc_round_to(XHAL_DTYPE_I32, NAN) == 0 && xc_round_to(XHAL_DTYPE_I32, -2.7) == -2);
    CHECK(xc_round_to(XHAL_DTYPE_I32, INFINITY) == 2147483647.0);
    CHECK(xc_round_to(XHAL_DTYPE_F32, 0.1) == (double)0.1f);
    CHECK(isinf(xc_round_to(XHAL_DTYPE_F32, 1e39)));
    /* encode/decode round trip for every dtype */
    const xhal_dtype all[] = {XHAL_DTYPE_F32, XHAL_DTYPE_F16, XHAL_DTYPE_BF16, XHAL_DTYPE_F64,
                              XHAL_DTYPE_I8,  XHAL_DTYPE_U8,  XHAL_DTYPE_I32,  XHAL_DTYPE_I64};
    for (int d = 0; d < 8; d++) {
        double v[4] = {1, 2, 100, 7}, w[4];
        unsigned char buf[64];
        xc_encode(all[d], v, 4, buf);
        xc_decode(all[d], buf, 4, w);
        CHECK(near(w, v, 4, 0));
    }
    /* the PRNG is deterministic and roughly uniform */
    xc_rng r1, r2;
    xc_rng_seed(&r1, 42);
    xc_rng_seed(&r2, 42);
    double s = 0;
    int same = 1;
    for (int i = 0; i < 10000; i++) {
        double a = xc_rng_uniform(&r1, -1, 1);
        same &= a == xc_rng_uniform(&r2, -1, 1);
        s += a;
        if (a < -1 || a >= 1) same = 0;
    }
    CHECK(same);
    CHECK(fabs(s / 10000) < 0.05);
}

static void test_elementwise(void)
{
    int64_t s21[2] = {2, 1}, s3[1] = {3}, s23[2] = {2, 3}, s4[1] = {4};
    xc_case c = C(XHAL_OP_ADD, 2, s23);
    xc_tensor in[4];
    in[0] = T(2, s21, (double[]){1, 2});
    in[1] = T(1, s3, (double[]){10, 20, 30});
    CHECK(run(&c, in, 2, NULL) == 0);
    CHECK(near(ref, (double[]){11, 21, 31, 12, 22, 32}, 6, 0));
    c = C(XHAL_OP_MAXIMUM, 1, s4);
    in[0] = T(1, s4, (double[]){1, NAN, 3, -1});
    in[1] = T(1, s4, (double[]){2, 0, NAN, -2});
    CHECK(run(&c, in, 2, NULL) == 0);
    CHECK(ref[0] == 2 && isnan(ref[1]) && isnan(ref[2]) && ref[3] == -1);
    c = C(XHAL_OP_RELU, 1, s4);
    in[0] = T(1, s4, (double[]){-1, NAN, 3, -INFINITY});
    CHECK(run(&c, in, 1, NULL) == 0);
    CHECK(ref[0] == 0 && isnan(ref[1]) && ref[2] == 3 && ref[3] == 0);
    c = C(XHAL_OP_GELU, 1, s4);
    in[0] = T(1, s4, (double[]){0, 1, -1, 3});
    CHECK(run(&c, in, 1, NULL) == 0);
    CHECK(near(ref, (double[]){0, 0.8413447460685429, -0.15865525393145707, 2.99595030590511}, 4, 1e-12));
    c = C(XHAL_OP_GELU_TANH, 1, s4);
    in[0] = T(1, s4, (double[]){0, 1, -1, 3});
    CHECK(run(&c, in, 1, NULL) == 0);
    CHECK(near(ref, (double[]){0, 0.8411919906082768, -0.15880800939172324, 2.996362607918227}, 4, 1e-12));
    c = C(XHAL_OP_SCALE, 1, s4);
    c.at.alpha = 2;
    c.at.beta = -1;
    in[0] = T(1, s4, (double[]){0, 1, -3, 0.5});
    CHECK(run(&c, in, 1, NULL) == 0);
    CHECK(near(ref, (double[]){-1, 1, -7, 0}, 4, 0) && near(mag, (double[]){1, 3, 7, 2}, 4, 0));
}

static void test_reduce_norm(void)
{
    int64_t s23[2] = {2, 3}, s2[1] = {2}, s14[2] = {1, 4}, s1[1] = {1}, s13[2] = {1, 3}, s22[2] = {2, 2},
            s12[2] = {1, 2};
    xc_tensor in[4];
    xc_case c = C(XHAL_OP_SUM, 1, s2);
    c.at.axis = 1;
    in[0] = T(2, s23, (double[]){1, -2, 3, 4, 5, 6});
    CHECK(run(&c, in, 1, NULL) == 0);
    CHECK(near(ref, (double[]){2, 15}, 2, 0) && near(mag, (double[]){6, 15}, 2, 0));
    c = C(XHAL_OP_MEAN, 1, s2);
    c.at.axis = -1;
    in[0] = T(2, s23, (double[]){1, -2, 3, 4, 5, 6});
    CHECK(run(&c, in, 1, NULL) == 0);
    CHECK(near(ref, (double[]){2.0 / 3, 5}, 2, 1e-15));
    int64_t s3[1] = {3};
    c = C(XHAL_OP_MAX, 1, s3);
    c.at.axis = 0;
    in[0] = T(2, s23, (double[]){1, NAN, 3, 4, 5, -INFINITY});
    CHECK(run(&c, in, 1, NULL) == 0);
    CHECK(ref[0] == 4 && isnan(ref[1]) && ref[2] == 3);
    c = C(XHAL_OP_ARGMAX, 1, s1);
    c.out.dtype = XHAL_DTYPE_I64;
    c.at.axis = 1;
    in[0] = T(2, s14, (double[]){1, NAN, 3, NAN});
    CHECK(run(&c, in, 1, NULL) == 0);
    CHECK(ref[0] == 1);
    c = C(XHAL_OP_ARGMAX, 1, s1);
    c.out.dtype = XHAL_DTYPE_I64;
    c.at.axis = 1;
    in[0] = T(2, s14, (double[]){-INFINITY, 7, 2, 7});
    CHECK(run(&c, in, 1, NULL) == 0);
    CHECK(ref[0] == 1);
    /* softmax: exp(0), exp(ln 2), exp(ln 3) -> 1/6, 1/3, 1/2; scale folds in */
    c = C(XHAL_OP_SOFTMAX, 2, s13);
    c.at.scale = 0.5;
    in[0] = T(2, s13, (double[]){0, 2 * log(2.0), 2 * log(3.0)});
    CHECK(run(&c, in, 1, NULL) == 0);
    CHECK(near(ref, (double[]){1.0 / 6, 1.0 / 3, 0.5}, 3, 1e-15));
    c = C(XHAL_OP_SOFTMAX, 2, s22);
    c.at.causal = 1;
    in[0] = T(2, s22, (double[]){5, 100, 0, 0});
    CHECK(run(&c, in, 1, NULL) == 0);
    CHECK(near(ref, (double[]){1, 0, 0.5, 0.5}, 4, 1e-15));
    /* causal with a KV cache: Sq 1, Sk 3 sees everything */
    c = C(XHAL_OP_SOFTMAX, 2, s13);
    c.at.causal = 1;
    in[0] = T(2, s13, (double[]){0, 0, 0});
    CHECK(run(&c, in, 1, NULL) == 0);
    CHECK(near(ref, (double[]){1.0 / 3, 1.0 / 3, 1.0 / 3}, 3, 1e-15));
    c = C(XHAL_OP_SOFTMAX, 2, s13);
    in[0] = T(2, s13, (double[]){1, NAN, 0});
    CHECK(run(&c, in, 1, NULL) == 0);
    CHECK(isnan(ref[0]) && isnan(ref[1]) && isnan(ref[2]));
    c = C(XHAL_OP_RMS_NORM, 2, s12);
    c.at.has_weight = 1;
    in[0] = T(2, s12, (double[]){3, 4});
    in[1] = T(1, s2, (double[]){1, 2});
    CHECK(run(&c, in, 2, NULL) == 0);
    CHECK(near(ref, (double[]){3 / sqrt(12.5), 8 / sqrt(12.5)}, 2, 1e-15));
    c = C(XHAL_OP_LAYER_NORM, 2, s12);
    c.at.has_bias = 1;
    c.at.eps = 0;
    in[0] = T(2, s12, (double[]){1, 3});
    in[1] = T(1, s2, (double[]){10, 20});
    CHECK(run(&c, in, 2, NULL) == 0);
    CHECK(near(ref, (double[]){9, 21}, 2, 1e-15));
}

static void test_linalg(void)
{
    int64_t s22[2] = {2, 2};
    xc_tensor in[4];
    xc_case c = C(XHAL_OP_MATMUL, 2, s22);
    in[0] = T(2, s22, (double[]){1, 2, 3, 4});
    in[1] = T(2, s22, (double[]){5, 6, 7, 8});
    CHECK(run(&c, in, 2, NULL) == 0);
    CHECK(near(ref, (double[]){19, 22, 43, 50}, 4, 0));
    c.at.trans_a = 1;
    in[0] = T(2, s22, (double[]){1, 2, 3, 4});
    in[1] = T(2, s22, (double[]){5, 6, 7, 8});
    CHECK(run(&c, in, 2, NULL) == 0);
    CHECK(near(ref, (double[]){26, 30, 38, 44}, 4, 0));
    c.at.trans_a = 0;
    c.at.trans_b = 1;
    in[0] = T(2, s22, (double[]){1, 2, 3, 4});
    in[1] = T(2, s22, (double[]){5, 6, 7, 8});
    CHECK(run(&c, in, 2, NULL) == 0);
    CHECK(near(ref, (double[]){17, 23, 39, 53}, 4, 0));
    /* alpha, beta with out's old contents; beta 0 ignores a NaN there */
    c.at.trans_b = 0;
    c.at.alpha = 2;
    c.at.beta = 1;
    xc_tensor init = T(2, s22, (double[]){1, 1, 1, -1});
    in[0] = T(2, s22, (double[]){1, 2, 3, 4});
    in[1] = T(2, s22, (double[]){5, 6, 7, 8});
    CHECK(run(&c, in, 2, &init) == 0);
    CHECK(near(ref, (double[]){39, 45, 87, 99}, 4, 0));
    xc_tensor_free(&init);
    c.at.beta = 0;
    init = T(2, s22, (double[]){NAN, NAN, NAN, NAN});
    in[0] = T(2, s22, (double[]){1, 2, 3, 4});
    in[1] = T(2, s22, (double[]){5, 6, 7, 8});
    CHECK(run(&c, in, 2, &init) == 0);
    CHECK(near(ref, (double[]){38, 44, 86, 100}, 4, 0));
    xc_tensor_free(&init);
    /* batch broadcast: a [2,1,2], b [1,2,1] -> out [2,1,1] */
    int64_t sa[3] = {2, 1, 2}, sb[3] = {1, 2, 1}, so[3] = {2, 1, 1};
    c = C(XHAL_OP_MATMUL, 3, so);
    in[0] = T(3, sa, (double[]){1, 2, 3, 4});
    in[1] = T(3, sb, (double[]){10, 100});
    CHECK(run(&c, in, 2, NULL) == 0);
    CHECK(near(ref, (double[]){210, 430}, 2, 0));
}

static void test_index_transformer(void)
{
    xc_tensor in[4];
    int64_t st[2] = {3, 2}, si[1] = {2}, so[2] = {2, 2};
    xc_case c = C(XHAL_OP_GATHER, 2, so);
    in[0] = T(2, st, (double[]){0, 1, 10, 11, 20, 21});
    in[1] = T(1, si, (double[]){2, 0});
    in[1].dtype = XHAL_DTYPE_I64;
    CHECK(run(&c, in, 2, NULL) == 0);
    CHECK(near(ref, (double[]){20, 21, 0, 1}, 4, 0));
    int64_t a[2] = {2, 1}, b[2] = {2, 2}, o[2] = {2, 3};
    c = C(XHAL_OP_CONCAT, 2, o);
    c.n_in = 2;
    c.at.axis = 1;
    in[0] = T(2, a, (double[]){1, 2});
    in[1] = T(2, b, (double[]){3, 4, 5, 6});
    CHECK(run(&c, in, 2, NULL) == 0);
    CHECK(near(ref, (double[]){1, 3, 4, 2, 5, 6}, 6, 0));
    /* rope: D = 4, pos 1 (offset 1, s = 0); half pairs (0,2),(1,3), interleaved (0,1),(2,3);
     * pair k rotates by pos * theta^(-2k/4): k=0 -> 1 rad, k=1 -> 1/100 rad (theta 1e4) */
    int64_t sx[3] = {1, 1, 4};
    const double x[4] = {1, 2, 3, 4};
    double c0 = cos(1), s0 = sin(1), c1 = cos(0.01), s1 = sin(0.01);
    c = C(XHAL_OP_ROPE, 3, sx);
    c.at.theta = 10000;
    c.at.pos_offset = 1;
    c.at.seq_axis = 0;
    c.at.rope_layout = XHAL_ROPE_HALF;
    in[0] = T(3, sx, x);
    CHECK(run(&c, in, 1, NULL) == 0);
    CHECK(near(ref, (double[]){1 * c0 - 3 * s0, 2 * c1 - 4 * s1, 1 * s0 + 3 * c0, 2 * s1 + 4 * c1}, 4, 1e-14));
    c.at.rope_layout = XHAL_ROPE_INTERLEAVED;
    in[0] = T(3, sx, x);
    CHECK(run(&c, in, 1, NULL) == 0);
    CHECK(near(ref, (double[]){1 * c0 - 2 * s0, 1 * s0 + 2 * c0, 3 * c1 - 4 * s1, 3 * s1 + 4 * c1}, 4, 1e-14));
    /* rotary_dims 2 of 4: last two copied; position 0 is the identity */
    c.at.rotary_dims = 2;
    c.at.pos_offset = 0;
    in[0] = T(3, sx, x);
    CHECK(run(&c, in, 1, NULL) == 0);
    CHECK(near(ref, x, 4, 1e-15));
    /* attention: q.k equal for both keys -> mean of v; causal row 0 sees key 0 only */
    int64_t sq[4] = {1, 1, 2, 2}, sk[4] = {1, 1, 2, 2}, sv[4] = {1, 1, 2, 3}, sout[4] = {1, 1, 2, 3};
    c = C(XHAL_OP_ATTENTION, 4, sout);
    c.n_in = 3;
    in[0] = T(4, sq, (double[]){1, 0, 1, 0});
    in[1] = T(4, sk, (double[]){0, 1, 0, 1});
    in[2] = T(4, sv, (double[]){1, 2, 3, 5, 6, 7});
    CHECK(run(&c, in, 3, NULL) == 0);
    CHECK(near(ref, (double[]){3, 4, 5, 3, 4, 5}, 6, 1e-15));
    c.at.causal = 1;
    in[0] = T(4, sq, (double[]){1, 0, 1, 0});
    in[1] = T(4, sk, (double[]){0, 1, 0, 1});
    in[2] = T(4, sv, (double[]){1, 2, 3, 5, 6, 7});
    CHECK(run(&c, in, 3, NULL) == 0);
    CHECK(near(ref, (double[]){1, 2, 3, 3, 4, 5}, 6, 1e-15));
    /* scores q.k = 2 vs 0 with scale 0.5 -> weights e/(e+1), 1/(e+1); additive mask */
    c.at.causal = 0;
    c.at.scale = 0.5;
    c.at.has_mask = 1;
    c.n_in = 4;
    int64_t sm[2] = {1, 2};
    in[0] = T(4, sq, (double[]){2, 0, 2, 0});
    in[1] = T(4, sk, (double[]){1, 0, 0, 1});
    in[2] = T(4, sv, (double[]){1, 0, 0, 0, 1, 0});
    in[3] = T(2, sm, (double[]){0, 1}); /* key 1 gets +1: weights equal */
    CHECK(run(&c, in, 4, NULL) == 0);
    CHECK(near(ref, (double[]){0.5, 0.5, 0, 0.5, 0.5, 0}, 6, 1e-15));
}

static void test_catalogue(void)
{
    xc_case_list l = {0};
    CHECK(xc_catalogue_build(&l) == 0);
    /* every op of the catalogue has cases, in f32, f16 and bf16 where it takes floats */
    int ops_seen[XHAL_OP_MAX_ID_] = {0};
    int has[XHAL_OP_MAX_ID_][XHAL_DTYPE_END_];
    memset(has, 0, sizeof(has));
    int big = 0, names_unique = 1;
    for (int i = 0; i < l.n; i++) {
        ops_seen[l.cases[i].op] = 1;
        has[l.cases[i].op][l.cases[i].dtype] = 1;
        if (xc_numel(l.cases[i].out.ndim, l.cases[i].out.shape) > (1 << 24)) big = 1;
    }
    for (int i = 1; i < l.n && names_unique; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(l.cases[i].name, l.cases[j].name)) {
                fprintf(stderr, "duplicate case %s\n", l.cases[i].name);
                names_unique = 0;
                break;
            }
    CHECK(names_unique);
    for (int op = 1; op < XHAL_OP_MAX_ID_; op++) {
        if (!strcmp(xhal_op_name((xhal_op)op), "invalid")) continue;
        if (!ops_seen[op]) fprintf(stderr, "op %s has no case\n", xhal_op_name((xhal_op)op));
        CHECK(ops_seen[op]);
        if (op != XHAL_OP_ARGMAX) CHECK(has[op][XHAL_DTYPE_F32] && has[op][XHAL_DTYPE_F16] && has[op][XHAL_DTYPE_BF16]);
    }
    CHECK(has[XHAL_OP_ADD][XHAL_DTYPE_I32] && has[XHAL_OP_MINIMUM][XHAL_DTYPE_I64]);
    CHECK(big);
    xc_case_list_free(&l);
}

int main(void)
{
    test_dtypes();
    test_elementwise();
    test_reduce_norm();
    test_linalg();
    test_index_transformer();
    test_catalogue();
    return xtest_finish("test_conf_reference");
}
