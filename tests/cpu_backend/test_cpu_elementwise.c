/*
 * test_cpu_elementwise.c - the CPU plugin's entry, device, buffers, and the elementwise
 * family (COPY with casts, FILL, unary, binary, SCALE, reductions), checked against
 * naive double-precision loops over contiguous, strided, permuted and broadcast views.
 */
#include "cpu_test_util.h"

static const int FLOATS[] = {XHAL_DTYPE_F32, XHAL_DTYPE_F16, XHAL_DTYPE_BF16, XHAL_DTYPE_F64};

static void unflat(int nd, const int64_t *shape, int64_t i, int64_t *idx)
{
    for (int k = nd - 1; k >= 0; k--) {
        idx[k] = i % shape[k];
        i /= shape[k];
    }
}

/* ---------------------------------------------------------------------------------- */
static void test_entry_and_device(void)
{
    CHECK(T_->abi_version == XHAL_BACKEND_ABI_VERSION);
    CHECK(T_->struct_size == sizeof(xhal_backend_table));
    CHECK(strcmp(T_->name, "cpu") == 0);
    CHECK(T_->catalogue_version == XHAL_BACKEND_CATALOGUE_VERSION);
    CHECK(T_->device_count(S_) == 1);

    xhal_device_info info;
    memset(&info, 0, sizeof(info));
    CHECK_ST(T_->device_info(S_, 0, &info), XHAL_OK, NULL);
    CHECK(strcmp(info.backend, "cpu") == 0);
    CHECK(info.name[0] != '\0');
    CHECK(strncmp(info.family, "cpu-", 4) == 0);
    CHECK(info.arch[0] != '\0');
    CHECK(strstr(info.driver_version, "0.1.0") != NULL);
    CHECK(info.total_memory > 0 && info.free_memory > 0 && info.free_memory <= info.total_memory);
    CHECK(info.compute_units >= 1);
    for (int dt = 1; dt < XHAL_DTYPE_COUNT_; dt++) CHECK(info.dtypes & XHAL_DTYPE_BIT(dt));
    CHECK((info.caps & (XHAL_CAP_F64 | XHAL_CAP_HOST_MEMORY)) == (XHAL_CAP_F64 | XHAL_CAP_HOST_MEMORY));
    printf("device: %s | %s | %s | %s | %s | %d cores\n", info.name, info.vendor, info.family, info.arch,
           info.driver_version, info.compute_units);
}

static void test_entry_abi_mismatch(void *entry_sym)
{
    xhal_backend_entry_fn entry;
    memcpy(&entry, &entry_sym, sizeof(entry));
    g_err[0] = '\0';
    CHECK(entry(XHAL_BACKEND_ABI_VERSION + 1, &g_host) == NULL);
    CHECK(strstr(g_err, "ABI") != NULL);
    /* the real host again, so later calls see the right services */
    CHECK(entry(XHAL_BACKEND_ABI_VERSION, &g_host) == T_);
}

static void test_buffers(void)
{
    void *b = NULL, *c = NULL;
    g_fail_site = "buffer_alloc";
    CHECK_ST(T_->buffer_alloc(S_, 0, 12345, &b), XHAL_ERROR_OUT_OF_MEMORY, "12345");
    CHECK(g_fault_hits == 1);
    g_fail_site = NULL;
    /* absurd size: must fail cleanly, naming the size */
    CHECK_ST(T_->buffer_alloc(S_, 0, (uint64_t)1 << 62, &b), XHAL_ERROR_OUT_OF_MEMORY, "4611686018427387904");

    CHECK_ST(T_->buffer_alloc(S_, 0, 1000, &b), XHAL_OK, NULL);
    CHECK_ST(T_->buffer_alloc(S_, 0, 1000, &c), XHAL_OK, NULL);
    unsigned char src[1000], dst[1000];
    for (int i = 0; i < 1000; i++) src[i] = (unsigned char)(i * 7);
    CHECK_ST(T_->write(S_, STREAM_, b, 0, src, 1000), XHAL_OK, NULL);
    CHECK_ST(T_->copy(S_, STREAM_, b, 10, c, 20, 500), XHAL_OK, NULL);
    memset(dst, 0, sizeof(dst));
    CHECK_ST(T_->read(S_, STREAM_, c, 20, dst, 500), XHAL_OK, NULL);
    CHECK(memcmp(dst, src + 10, 500) == 0);
    /* overlapping copy inside one buffer */
    CHECK_ST(T_->copy(S_, STREAM_, b, 0, b, 1, 999), XHAL_OK, NULL);
    CHECK_ST(T_->read(S_, STREAM_, b, 0, dst, 1000), XHAL_OK, NULL);
    CHECK(memcmp(dst + 1, src, 999) == 0);
    CHECK_ST(T_->stream_sync(S_, STREAM_), XHAL_OK, NULL);
    T_->buffer_free(S_, b);
    T_->buffer_free(S_, c);

    /* events carry host timestamps */
    void *e0, *e1;
    double ms = -1;
    CHECK_ST(T_->event_create(S_, 0, &e0), XHAL_OK, NULL);
    CHECK_ST(T_->event_create(S_, 0, &e1), XHAL_OK, NULL);
    CHECK_ST(T_->event_elapsed_ms(S_, e0, e1, &ms), XHAL_ERROR_INVALID_ARGUMENT, "never recorded");
    CHECK_ST(T_->event_record(S_, e0, STREAM_), XHAL_OK, NULL);
    CHECK_ST(T_->event_record(S_, e1, STREAM_), XHAL_OK, NULL);
    CHECK_ST(T_->event_sync(S_, e1), XHAL_OK, NULL);
    CHECK_ST(T_->event_elapsed_ms(S_, e0, e1, &ms), XHAL_OK, NULL);
    CHECK(ms >= 0.0 && ms < 1000.0);
    T_->event_destroy(S_, e0);
    T_->event_destroy(S_, e1);
}

/* ---------------------------------------------------------------------------------- */
/* COPY                                                                                */
/* ---------------------------------------------------------------------------------- */
/* The cast rules of xhal_copy, written out independently for the test. */
static double expect_cast(int sdt, double v, int ddt)
{
    if (dt_float(ddt)) return rnd(ddt, v); /* sources here are exact in f32 */
    double lo, hi;
    switch (ddt) {
        case XHAL_DTYPE_I8:
            lo = -128;
            hi = 127;
            break;
        case XHAL_DTYPE_U8:
            lo = 0;
            hi = 255;
            break;
        case XHAL_DTYPE_I32:
            lo = -2147483648.0;
            hi = 2147483647.0;
            break;
        default:
            lo = -9223372036854775808.0;
            hi = 9223372036854775807.0;
            break;
    }
    (void)sdt;
    if (isnan(v)) return 0;
    if (v >= hi) return hi;
    if (v <= lo) return lo;
    return trunc(v);
}

static void test_copy_casts(void)
{
    /* values exact in f32; each source keeps what its dtype can hold */
    const double vals[] = {0.0,      -0.0,      1.5,     -2.75, 100.9, -100.9,  127.5, 300.25,
                           -300.25,  65504.0,   70000.0, -1e6,  3e9,   -3e9,    1e20,  -1e20,
                           INFINITY, -INFINITY, NAN,     0.1,   1e-6,  5.96e-8, 255.0, -129.0};
    const int n = (int)(sizeof(vals) / sizeof(vals[0]));
    int64_t shape[1] = {n};
    for (int sdt = 1; sdt < XHAL_DTYPE_COUNT_; sdt++) {
        T src = tcontig(sdt, 1, shape);
        double sv[64];
        for (int i = 0; i < n; i++) {
            double v = vals[i];
            if (!dt_float(sdt)) v = expect_cast(XHAL_DTYPE_F64, v, sdt); /* saturated source */
            tset(&src, i, v);
            sv[i] = tget(&src, i);
        }
        tpush(&src);
        for (int ddt = 1; ddt < XHAL_DTYPE_COUNT_; ddt++) {
            T dst = tcontig(ddt, 1, shape);
            xhal_op_desc d = desc_new(XHAL_OP_COPY);
            desc_in(&d, &src);
            desc_out(&d, &dst);
            CHECK_ST(run_op(&d), XHAL_OK, NULL);
            tpull(&dst);
            double ref[64];
            for (int i = 0; i < n; i++) ref[i] = expect_cast(sdt, sv[i], ddt);
            char what[64];
            snprintf(what, sizeof(what), "copy %s->%s", dt_name(sdt), dt_name(ddt));
            compare(what, &dst, ref, 0, 0);
            tfree(&dst);
        }
        tfree(&src);
    }
}

/* f64 -> f16/bf16 and i64 -> bf16 must round once (no double rounding through f32). */
static void test_copy_single_rounding(void)
{
    int64_t one[1] = {1};
    /* 1 + 2^-11 + 2^-40: just above the f16 midpoint between 1 and 1 + 2^-10 */
    T s = tcontig(XHAL_DTYPE_F64, 1, one), h = tcontig(XHAL_DTYPE_F16, 1, one);
    tset(&s, 0, 1.0 + ldexp(1.0, -11) + ldexp(1.0, -40));
    tpush(&s);
    xhal_op_desc d = desc_new(XHAL_OP_COPY);
    desc_in(&d, &s);
    desc_out(&d, &h);
    CHECK_ST(run_op(&d), XHAL_OK, NULL);
    tpull(&h);
    CHECK(tget(&h, 0) == 1.0 + ldexp(1.0, -10));
    tfree(&h);

    /* bf16: 1 + 2^-8 + 2^-30 rounds up to 1 + 2^-7 */
    T bh = tcontig(XHAL_DTYPE_BF16, 1, one);
    tset(&s, 0, 1.0 + ldexp(1.0, -8) + ldexp(1.0, -30));
    tpush(&s);
    d = desc_new(XHAL_OP_COPY);
    desc_in(&d, &s);
    desc_out(&d, &bh);
    CHECK_ST(run_op(&d), XHAL_OK, NULL);
    tpull(&bh);
    CHECK(tget(&bh, 0) == 1.0 + ldexp(1.0, -7));

    /* i64 2^62 + 2^54 + 1: above the bf16 midpoint, though the nearest double is on it */
    T i = tcontig(XHAL_DTYPE_I64, 1, one);
    int64_t v = ((int64_t)1 << 62) + ((int64_t)1 << 54) + 1;
    memcpy(i.host + taddr(&i, 0), &v, 8);
    tpush(&i);
    d = desc_new(XHAL_OP_COPY);
    desc_in(&d, &i);
    desc_out(&d, &bh);
    CHECK_ST(run_op(&d), XHAL_OK, NULL);
    tpull(&bh);
    CHECK(tget(&bh, 0) == ldexp(1.0, 62) * (1.0 + ldexp(1.0, -7)));

    /* i64 -> i32 saturates, i64 -> f64 exact where possible */
    T i32 = tcontig(XHAL_DTYPE_I32, 1, one);
    v = -((int64_t)1 << 40);
    memcpy(i.host + taddr(&i, 0), &v, 8);
    tpush(&i);
    d = desc_new(XHAL_OP_COPY);
    desc_in(&d, &i);
    desc_out(&d, &i32);
    CHECK_ST(run_op(&d), XHAL_OK, NULL);
    tpull(&i32);
    CHECK(tget(&i32, 0) == -2147483648.0);
    tfree(&i32);
    tfree(&i);
    tfree(&bh);
    tfree(&s);
}

/* Strided, permuted and broadcast copies of every size, same dtype and with a cast. */
static void test_copy_strided(void)
{
    const int64_t sizes[] = {1, 3, 17, 127, 1000};
    for (int si = 0; si < 5; si++) {
        int64_t n = sizes[si];
        /* src: [n, 3] read as a transposed view of a [3, n] buffer; dst: every other element */
        int64_t shp[2] = {n, 3};
        int64_t sst[2] = {1, n};
        int64_t dst_st[2] = {6, 2};
        for (int pair = 0; pair < 3; pair++) {
            int sdt = pair == 0 ? XHAL_DTYPE_F32 : pair == 1 ? XHAL_DTYPE_BF16 : XHAL_DTYPE_I32;
            int ddt = pair == 0 ? XHAL_DTYPE_F32 : pair == 1 ? XHAL_DTYPE_F32 : XHAL_DTYPE_F16;
            T src = tnew(sdt, 2, shp, sst, 3);
            T dst = tnew(ddt, 2, shp, dst_st, 5);
            tfill_rand(&src, -100, 100);
            xhal_op_desc d = desc_new(XHAL_OP_COPY);
            desc_in(&d, &src);
            desc_out(&d, &dst);
            CHECK_ST(run_op(&d), XHAL_OK, NULL);
            tpull(&dst);
            double *ref = malloc(sizeof(double) * (size_t)(n * 3));
            for (int64_t i = 0; i < n * 3; i++) ref[i] = rnd(ddt, tget(&src, i));
            compare("copy strided", &dst, ref, 0, 0);
            free(ref);
            tfree(&src);
            tfree(&dst);
        }
        /* broadcast: src [1] expanded over [n, 2] with stride 0 */
        T b = tnew(XHAL_DTYPE_F64, 2, shp, (const int64_t[]){0, 0}, 0);
        int64_t shp2[2] = {n, 2};
        b.d.shape[1] = 2;
        T out = tcontig(XHAL_DTYPE_F64, 2, shp2);
        tset(&b, 0, 2.5);
        tpush(&b);
        xhal_op_desc d = desc_new(XHAL_OP_COPY);
        desc_in(&d, &b);
        desc_out(&d, &out);
        CHECK_ST(run_op(&d), XHAL_OK, NULL);
        tpull(&out);
        double *ref = malloc(sizeof(double) * (size_t)(n * 2));
        for (int64_t i = 0; i < n * 2; i++) ref[i] = 2.5;
        compare("copy broadcast", &out, ref, 0, 0);
        free(ref);
        tfree(&b);
        tfree(&out);
    }
    /* 0-d and 8-d */
    T s0 = tcontig(XHAL_DTYPE_F32, 0, NULL), d0 = tcontig(XHAL_DTYPE_F16, 0, NULL);
    tset(&s0, 0, 3.25);
    tpush(&s0);
    xhal_op_desc d = desc_new(XHAL_OP_COPY);
    desc_in(&d, &s0);
    desc_out(&d, &d0);
    CHECK_ST(run_op(&d), XHAL_OK, NULL);
    tpull(&d0);
    CHECK(tget(&d0, 0) == 3.25);
    tfree(&s0);
    tfree(&d0);

    int64_t sh8[8] = {2, 1, 3, 2, 1, 2, 3, 2};
    int64_t st8[8] = {1, 7, 2, 6, 5, 12, 24, 72}; /* permuted layout of a 144-element buffer */
    T s8 = tnew(XHAL_DTYPE_F32, 8, sh8, st8, 0), d8 = tcontig(XHAL_DTYPE_F32, 8, sh8);
    tfill_rand(&s8, -1, 1);
    d = desc_new(XHAL_OP_COPY);
    desc_in(&d, &s8);
    desc_out(&d, &d8);
    CHECK_ST(run_op(&d), XHAL_OK, NULL);
    tpull(&d8);
    double ref8[144];
    for (int64_t i = 0; i < tnumel(&s8); i++) ref8[i] = tget(&s8, i);
    compare("copy 8-d", &d8, ref8, 0, 0);
    tfree(&s8);
    tfree(&d8);
}

static void test_fill(void)
{
    int64_t shp[2] = {17, 3}, st[2] = {5, 1};
    const double vals[] = {3.7, -1e10, NAN, 1e-3};
    for (int dt = 1; dt < XHAL_DTYPE_COUNT_; dt++) {
        for (int vi = 0; vi < 4; vi++) {
            T t = tnew(dt, 2, shp, st, 2);
            xhal_op_desc d = desc_new(XHAL_OP_FILL);
            d.attrs.fill.value = vals[vi];
            d.attrs.fill.bits = xhal_value_bits(dt, vals[vi]); /* as the core converts it */
            desc_out(&d, &t);
            CHECK_ST(run_op(&d), XHAL_OK, NULL);
            tpull(&t);
            double ref[51];
            for (int i = 0; i < 51; i++) {
                if (dt_float(dt)) {
                    ref[i] = dt == XHAL_DTYPE_F64 ? vals[vi] : rnd(dt, vals[vi]);
                } else {
                    ref[i] = expect_cast(XHAL_DTYPE_F64, vals[vi], dt);
                }
            }
            char what[64];
            snprintf(what, sizeof(what), "fill %g", vals[vi]);
            compare(what, &t, ref, 0, 0);
            tfree(&t);
        }
    }
}

/* ---------------------------------------------------------------------------------- */
/* unary, SCALE, binary                                                                */
/* ---------------------------------------------------------------------------------- */
static double ref_unary(int op, double x)
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
        case XHAL_OP_RELU: return x > 0 ? x : 0;
        case XHAL_OP_SILU: return x / (1.0 + exp(-x));
        case XHAL_OP_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
        case XHAL_OP_GELU_TANH: return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
        default: return NAN;
    }
}

static void test_unary(void)
{
    const int ops[] = {XHAL_OP_NEG,   XHAL_OP_ABS,       XHAL_OP_EXP,     XHAL_OP_LOG,  XHAL_OP_SQRT,
                       XHAL_OP_RSQRT, XHAL_OP_TANH,      XHAL_OP_SIGMOID, XHAL_OP_RELU, XHAL_OP_SILU,
                       XHAL_OP_GELU,  XHAL_OP_GELU_TANH, XHAL_OP_SCALE};
    const int64_t sizes[] = {1, 3, 17, 127, 1000};
    for (int oi = 0; oi < 13; oi++) {
        int op = ops[oi];
        int positive = op == XHAL_OP_LOG || op == XHAL_OP_SQRT || op == XHAL_OP_RSQRT;
        for (int di = 0; di < 4; di++) {
            int dt = FLOATS[di];
            for (int si = 0; si < 5; si++) {
                int64_t n = sizes[si];
                for (int layout = 0; layout < 2; layout++) {
                    /* layout 0: contiguous [n]; 1: x every 3rd element, out [n] at stride 2 */
                    int64_t sx[1] = {layout ? 3 : 1}, so[1] = {layout ? 2 : 1};
                    T x = tnew(dt, 1, &n, sx, layout), o = tnew(dt, 1, &n, so, 0);
                    tfill_rand(&x, positive ? 0.01 : -4, 4);
                    xhal_op_desc d = desc_new(op);
                    d.attrs.scale.alpha = -1.5;
                    d.attrs.scale.beta = 0.25;
                    desc_in(&d, &x);
                    desc_out(&d, &o);
                    CHECK_ST(run_op(&d), XHAL_OK, NULL);
                    tpull(&o);
                    double *ref = malloc(sizeof(double) * (size_t)n);
                    for (int64_t i = 0; i < n; i++) {
                        double v = tget(&x, i);
                        ref[i] = op == XHAL_OP_SCALE ? -1.5 * v + 0.25 : ref_unary(op, v);
                    }
                    char what[64];
                    snprintf(what, sizeof(what), "unary op %d n %lld layout %d", op, (long long)n, layout);
                    compare(what, &o, ref, 1e-300, rtol_of(dt) * 1.01);
                    free(ref);
                    tfree(&x);
                    tfree(&o);
                }
            }
        }
    }
    /* integers: NEG/ABS/RELU on i32, wrapping at the minimum; EXP is refused */
    int64_t n = 5;
    T x = tcontig(XHAL_DTYPE_I32, 1, &n), o = tcontig(XHAL_DTYPE_I32, 1, &n);
    const double iv[5] = {-3, 0, 7, -2147483648.0, 2147483647.0};
    for (int i = 0; i < 5; i++) tset(&x, i, iv[i]);
    tpush(&x);
    const int iops[3] = {XHAL_OP_NEG, XHAL_OP_ABS, XHAL_OP_RELU};
    const double iref[3][5] = {
        {3, 0, -7, -2147483648.0, -2147483647.0}, {3, 0, 7, -2147483648.0, 2147483647.0}, {0, 0, 7, 0, 2147483647.0}};
    for (int k = 0; k < 3; k++) {
        xhal_op_desc d = desc_new(iops[k]);
        desc_in(&d, &x);
        desc_out(&d, &o);
        CHECK_ST(run_op(&d), XHAL_OK, NULL);
        tpull(&o);
        compare("unary i32", &o, iref[k], 0, 0);
    }
    xhal_op_desc d = desc_new(XHAL_OP_EXP);
    desc_in(&d, &x);
    desc_out(&d, &o);
    CHECK_ST(T_->op_supported(S_, 0, &d), XHAL_ERROR_UNSUPPORTED, "exp");
    CHECK(strstr(g_err, "i32") != NULL);
    tfree(&x);
    tfree(&o);
}

static double ref_binary(int op, double a, double b)
{
    switch (op) {
        case XHAL_OP_ADD: return a + b;
        case XHAL_OP_SUB: return a - b;
        case XHAL_OP_MUL: return a * b;
        case XHAL_OP_DIV: return a / b;
        case XHAL_OP_MAXIMUM: return a > b ? a : b;
        default: return a < b ? a : b;
    }
}

static void test_binary(void)
{
    const int ops[] = {XHAL_OP_ADD, XHAL_OP_SUB, XHAL_OP_MUL, XHAL_OP_DIV, XHAL_OP_MAXIMUM, XHAL_OP_MINIMUM};
    const int64_t sizes[] = {1, 3, 17, 127};
    for (int oi = 0; oi < 6; oi++) {
        for (int di = 0; di < 6; di++) {
            int dt = di < 4 ? FLOATS[di] : di == 4 ? XHAL_DTYPE_I32 : XHAL_DTYPE_I64;
            if (!dt_float(dt) && ops[oi] == XHAL_OP_DIV) continue;
            for (int si = 0; si < 4; si++) {
                int64_t n = sizes[si];
                /* out [n, 5, 3]; a: [n, 5, 3] permuted storage; b: [1, 5, 1] broadcast */
                int64_t shp[3] = {n, 5, 3};
                int64_t sa[3] = {1, 3 * n, n}; /* storage [5, 3, n] */
                int64_t sb[3] = {0, 1, 0};
                T a = tnew(dt, 3, shp, sa, 0), b = tnew(dt, 3, shp, sb, 1), o = tcontig(dt, 3, shp);
                tfill_rand(&a, -50, 50);
                tfill_rand(&b, 1, 9); /* positive: DIV stays away from 0 */
                xhal_op_desc d = desc_new(ops[oi]);
                desc_in(&d, &a);
                desc_in(&d, &b);
                desc_out(&d, &o);
                CHECK_ST(run_op(&d), XHAL_OK, NULL);
                tpull(&o);
                int64_t cnt = n * 15;
                double *ref = malloc(sizeof(double) * (size_t)cnt);
                for (int64_t i = 0; i < cnt; i++) ref[i] = ref_binary(ops[oi], tget(&a, i), tget(&b, i));
                char what[64];
                snprintf(what, sizeof(what), "binary op %d n %lld", ops[oi], (long long)n);
                compare(what, &o, ref, 0, rtol_of(dt) * 1.01);
                free(ref);
                tfree(&a);
                tfree(&b);
                tfree(&o);
            }
        }
    }
    /* integer wrap-around and NaN propagation through MAXIMUM */
    int64_t n = 2;
    T a = tcontig(XHAL_DTYPE_I32, 1, &n), b = tcontig(XHAL_DTYPE_I32, 1, &n), o = tcontig(XHAL_DTYPE_I32, 1, &n);
    tset(&a, 0, 2147483647.0);
    tset(&a, 1, 65536);
    tset(&b, 0, 1);
    tset(&b, 1, 65536);
    tpush(&a);
    tpush(&b);
    xhal_op_desc d = desc_new(XHAL_OP_ADD);
    desc_in(&d, &a);
    desc_in(&d, &b);
    desc_out(&d, &o);
    CHECK_ST(run_op(&d), XHAL_OK, NULL);
    tpull(&o);
    CHECK(tget(&o, 0) == -2147483648.0);
    d.op = XHAL_OP_MUL;
    CHECK_ST(run_op(&d), XHAL_OK, NULL);
    tpull(&o);
    CHECK(tget(&o, 1) == 0.0); /* 2^32 wraps to 0 */
    d.op = XHAL_OP_DIV;
    CHECK_ST(T_->op_supported(S_, 0, &d), XHAL_ERROR_UNSUPPORTED, "div");
    tfree(&a);
    tfree(&b);
    tfree(&o);

    T fa = tcontig(XHAL_DTYPE_F32, 1, &n), fb = tcontig(XHAL_DTYPE_F32, 1, &n), fo = tcontig(XHAL_DTYPE_F32, 1, &n);
    tset(&fa, 0, NAN);
    tset(&fa, 1, 1);
    tset(&fb, 0, 1);
    tset(&fb, 1, NAN);
    tpush(&fa);
    tpush(&fb);
    d = desc_new(XHAL_OP_MAXIMUM);
    desc_in(&d, &fa);
    desc_in(&d, &fb);
    desc_out(&d, &fo);
    CHECK_ST(run_op(&d), XHAL_OK, NULL);
    tpull(&fo);
    CHECK(isnan(tget(&fo, 0)) && isnan(tget(&fo, 1)));
    tfree(&fa);
    tfree(&fb);
    tfree(&fo);
}

/* ---------------------------------------------------------------------------------- */
/* reductions                                                                          */
/* ---------------------------------------------------------------------------------- */
static void test_reduce(void)
{
    const int ops[] = {XHAL_OP_SUM, XHAL_OP_MEAN, XHAL_OP_MAX, XHAL_OP_ARGMAX};
    int64_t shp[3] = {3, 17, 5};
    int64_t st[3] = {1, 15, 3}; /* storage [17, 5, 3] */
    for (int oi = 0; oi < 4; oi++) {
        int op = ops[oi];
        for (int di = 0; di < 5; di++) {
            int dt = di < 4 ? FLOATS[di] : XHAL_DTYPE_I32;
            if (dt == XHAL_DTYPE_I32) {
                /* the op table's DTYPES column of every reduction is FLOAT: integers are refused
                 * (op_supported follows the table; the core refuses them first) */
                int64_t oshp[3] = {3, 17, 1};
                T x = tnew(dt, 3, shp, st, 0), o = tcontig(op == XHAL_OP_ARGMAX ? XHAL_DTYPE_I64 : dt, 3, oshp);
                xhal_op_desc d = desc_new(op);
                d.attrs.reduce.axis = 2;
                desc_in(&d, &x);
                desc_out(&d, &o);
                CHECK_ST(T_->op_supported(S_, 0, &d), XHAL_ERROR_UNSUPPORTED, "f32, f16, bf16, f64 only");
                tfree(&x);
                tfree(&o);
                continue;
            }
            int odt = op == XHAL_OP_ARGMAX ? (di % 2 ? XHAL_DTYPE_I32 : XHAL_DTYPE_I64) : dt;
            for (int axis = 0; axis < 3; axis++) {
                T x = tnew(dt, 3, shp, st, 0);
                /* few distinct values so MAX ties happen and ARGMAX must pick the first */
                int64_t nx = tnumel(&x);
                for (int64_t i = 0; i < nx; i++) tset(&x, i, floor(urand() * 7) - 3);
                tpush(&x);
                int64_t oshp[3] = {3, 17, 5};
                oshp[axis] = 1;
                T o = tcontig(odt, 3, oshp);
                xhal_op_desc d = desc_new(op);
                d.attrs.reduce.axis = axis;
                desc_in(&d, &x);
                desc_out(&d, &o);
                CHECK_ST(run_op(&d), XHAL_OK, NULL);
                tpull(&o);
                int64_t no = tnumel(&o);
                double ref[255];
                for (int64_t i = 0; i < no; i++) {
                    int64_t idx[3];
                    unflat(3, oshp, i, idx);
                    double s = 0, best = -INFINITY;
                    int64_t arg = -1;
                    for (int64_t r = 0; r < shp[axis]; r++) {
                        idx[axis] = r;
                        double v = tget(&x, (idx[0] * 17 + idx[1]) * 5 + idx[2]);
                        s += v;
                        if (v > best) {
                            best = v;
                            arg = r;
                        }
                    }
                    ref[i] = op == XHAL_OP_SUM    ? rnd(odt, s)
                             : op == XHAL_OP_MEAN ? rnd(odt, s / (double)shp[axis])
                             : op == XHAL_OP_MAX  ? best
                                                  : (double)arg;
                }
                char what[64];
                snprintf(what, sizeof(what), "reduce op %d axis %d", op, axis);
                compare(what, &o, ref, 0, rtol_of(odt));
                tfree(&x);
                tfree(&o);
            }
        }
    }
    /* NaN counts as the maximum: first NaN wins */
    int64_t n = 6, one = 1;
    T x = tcontig(XHAL_DTYPE_F32, 1, &n), am = tcontig(XHAL_DTYPE_I64, 1, &one), mx = tcontig(XHAL_DTYPE_F32, 1, &one);
    const double v[6] = {1, 5, NAN, 9, NAN, 2};
    for (int i = 0; i < 6; i++) tset(&x, i, v[i]);
    tpush(&x);
    xhal_op_desc d = desc_new(XHAL_OP_ARGMAX);
    desc_in(&d, &x);
    desc_out(&d, &am);
    CHECK_ST(run_op(&d), XHAL_OK, NULL);
    tpull(&am);
    CHECK(tget(&am, 0) == 2);
    d = desc_new(XHAL_OP_MAX);
    desc_in(&d, &x);
    desc_out(&d, &mx);
    CHECK_ST(run_op(&d), XHAL_OK, NULL);
    tpull(&mx);
    CHECK(isnan(tget(&mx, 0)));
    d = desc_new(XHAL_OP_MEAN);
    T xi = tcontig(XHAL_DTYPE_I32, 1, &n), oi32 = tcontig(XHAL_DTYPE_I32, 1, &one);
    desc_in(&d, &xi);
    desc_out(&d, &oi32);
    CHECK_ST(T_->op_supported(S_, 0, &d), XHAL_ERROR_UNSUPPORTED, "mean");
    tfree(&x);
    tfree(&am);
    tfree(&mx);
    tfree(&xi);
    tfree(&oi32);
}

static void test_unknown_ops(void)
{
    int64_t n = 4;
    T x = tcontig(XHAL_DTYPE_F32, 1, &n);
    xhal_op_desc d = desc_new(99);
    desc_in(&d, &x);
    desc_out(&d, &x);
    CHECK_ST(T_->op_supported(S_, 0, &d), XHAL_ERROR_UNSUPPORTED, "99");
    d.op = XHAL_OP_CONCAT;
    CHECK_ST(T_->op_supported(S_, 0, &d), XHAL_ERROR_UNSUPPORTED, "concat");
    tfree(&x);
}

/* Large enough to go through the thread pool; compared element by element. */
static void test_large(void)
{
    int64_t shp[2] = {1000, 1003};
    int64_t sb[2] = {0, 1};
    T a = tcontig(XHAL_DTYPE_F32, 2, shp), b = tnew(XHAL_DTYPE_F32, 2, shp, sb, 0), o = tcontig(XHAL_DTYPE_F32, 2, shp);
    tfill_rand(&a, -1, 1);
    tfill_rand(&b, -1, 1);
    xhal_op_desc d = desc_new(XHAL_OP_MUL);
    desc_in(&d, &a);
    desc_in(&d, &b);
    desc_out(&d, &o);
    CHECK_ST(run_op(&d), XHAL_OK, NULL);
    tpull(&o);
    int64_t n = tnumel(&o);
    double *ref = malloc(sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++) ref[i] = (double)(float)(tget(&a, i) * tget(&b, i));
    compare("large mul", &o, ref, 0, 0);

    d = desc_new(XHAL_OP_TANH);
    desc_in(&d, &a);
    desc_out(&d, &o);
    CHECK_ST(run_op(&d), XHAL_OK, NULL);
    tpull(&o);
    for (int64_t i = 0; i < n; i++) ref[i] = tanh(tget(&a, i));
    compare("large tanh", &o, ref, 0, 1e-7);

    int64_t oshp[2] = {1, 1003};
    T s = tcontig(XHAL_DTYPE_F32, 2, oshp);
    d = desc_new(XHAL_OP_SUM);
    d.attrs.reduce.axis = 0;
    desc_in(&d, &a);
    desc_out(&d, &s);
    CHECK_ST(run_op(&d), XHAL_OK, NULL);
    tpull(&s);
    for (int64_t j = 0; j < 1003; j++) {
        double acc = 0;
        for (int64_t i = 0; i < 1000; i++) acc += tget(&a, i * 1003 + j);
        ref[j] = acc;
    }
    compare("large sum axis 0", &s, ref, 0, 1e-6);
    free(ref);
    tfree(&a);
    tfree(&b);
    tfree(&o);
    tfree(&s);
}

int main(void)
{
    if (!open_plugin(XHAL_CPU_PLUGIN)) {
        fprintf(stderr, "cannot load the plugin %s: %s\n", XHAL_CPU_PLUGIN, g_err);
        return 1;
    }
    void *h = dlopen(XHAL_CPU_PLUGIN, RTLD_NOW | RTLD_NOLOAD);
    test_entry_and_device();
    test_entry_abi_mismatch(dlsym(h, XHAL_BACKEND_ENTRY_SYMBOL));
    test_buffers();
    test_copy_casts();
    test_copy_single_rounding();
    test_copy_strided();
    test_fill();
    test_unary();
    test_binary();
    test_reduce();
    test_unknown_ops();
    test_large();
    T_->stream_destroy(S_, STREAM_);
    T_->shutdown(S_);
    dlclose(h);
    return xtest_finish("test_cpu_elementwise");
}
