/*
 * test_xk_launch.c - the one description of each kernel's launch (backends/kernels/xk_launch.c)
 * against the kernels themselves: for a descriptor of every op family (and every kernel
 * variant a family picks), the planned arguments have exactly the kinds of the kernel's
 * parameter list in xk_ops.cl, in order; every kernel of XK_KERNEL_LIST is planned at least
 * once and exists in xk_ops.cl; grids cover the work. A kernel whose parameters and plan
 * disagree fails here, on any machine, before a device reads garbage.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xhal/plugin/xhal_plugin.h"
#include "xk_launch.h"
#include "xtest.h"

static char *g_src;
static int g_planned[XK_K_COUNT_];
static int g_cpu_like = 1; /* the device type check_plan plans for */
static xk_launch g_last;   /* check_plan's last plan */

/* The parameter kinds of kernel `name` in xk_ops.cl; count, or -1 when it is not there. */
static int kernel_params(const char *name, int *kinds, int max)
{
    char pat[96];
    snprintf(pat, sizeof pat, "XK_KERNEL void %s(", name);
    const char *p = strstr(g_src, pat);
    if (!p) return -1;
    p += strlen(pat);
    int n = 0;
    while (*p && *p != ')' && n < max) {
        const char *e = p;
        while (*e && *e != ',' && *e != ')') e++;
        char par[160];
        size_t len = (size_t)(e - p) < sizeof par - 1 ? (size_t)(e - p) : sizeof par - 1;
        memcpy(par, p, len);
        par[len] = 0;
        const char *t = par;
        while (isspace((unsigned char)*t)) t++;
        int k = 0;
        if (strchr(t, '*'))
            k = XK_ARG_BUF;
        else if (!strncmp(t, "int ", 4))
            k = XK_ARG_I32;
        else if (!strncmp(t, "xk_i64 ", 7))
            k = XK_ARG_I64;
        else if (!strncmp(t, "xk_u64 ", 7))
            k = XK_ARG_U64;
        else if (!strncmp(t, "float ", 6))
            k = XK_ARG_F32;
        else if (!strncmp(t, "xk_real ", 8))
            k = XK_ARG_REAL;
        else if (!strncmp(t, "xk_nd ", 6))
            k = XK_ARG_ND;
        if (k == 0) fprintf(stderr, "%s: parameter '%s' has a type xk_launch.h does not know\n", name, t);
        CHECK(k != 0);
        kinds[n++] = k;
        p = *e == ',' ? e + 1 : e;
    }
    return n;
}

static int g_buf; /* any address: plans never dereference buffers */

static xhal_tensor_desc tens(int dt, int ndim, const int64_t *shape)
{
    xhal_tensor_desc t;
    memset(&t, 0, sizeof t);
    t.dtype = dt;
    t.ndim = ndim;
    t.buffer = &g_buf;
    int64_t s = 1;
    for (int k = XHAL_MAX_DIMS - 1; k >= 0; k--) {
        t.shape[k] = k < ndim ? shape[k] : 1;
        t.strides[k] = k < ndim ? s : 0;
        if (k < ndim) s *= shape[k];
    }
    t.offset = 0;
    return t;
}

static xhal_op_desc op_desc(int op, int nin, const xhal_tensor_desc *in, xhal_tensor_desc out)
{
    xhal_op_desc d;
    memset(&d, 0, sizeof d);
    d.struct_size = sizeof d;
    d.op = op;
    d.n_inputs = nin;
    d.n_outputs = 1;
    for (int i = 0; i < nin; i++) d.inputs[i] = in[i];
    d.outputs[0] = out;
    return d;
}

/* Plan d; its kernel must be `want`, its arguments the kernel's parameters. */
static void check_plan(const char *what, const xhal_op_desc *d, int want)
{
    xk_device_caps caps = {g_cpu_like, 4096, 65536, 2};
    xk_launch L;
    memset(&L, 0x5a, sizeof L);
    int rc = xk_plan(d, &caps, &L);
    CHECK(rc == 0);
    if (rc != 0) return;
    if (L.kernel != want)
        fprintf(stderr, "%s: planned %s, expected %s\n", what, xk_kernel_name(L.kernel), xk_kernel_name(want));
    CHECK(L.kernel == want);
    if (L.kernel < 0 || L.kernel >= XK_K_COUNT_) return;
    g_planned[L.kernel] = 1;
    int kinds[XK_MAX_ARGS + 1];
    int n = kernel_params(xk_kernel_name(L.kernel), kinds, XK_MAX_ARGS + 1);
    CHECK(n == L.nargs);
    if (n != L.nargs)
        fprintf(stderr, "%s: %s has %d parameters, the plan %d arguments\n", what, xk_kernel_name(L.kernel), n,
                L.nargs);
    for (int i = 0; i < n && i < L.nargs; i++) {
        if (kinds[i] != L.args[i].kind)
            fprintf(stderr, "%s: %s argument %d is kind %d, the parameter kind %d\n", what, xk_kernel_name(L.kernel), i,
                    L.args[i].kind, kinds[i]);
        CHECK(kinds[i] == L.args[i].kind);
    }
    CHECK(L.variant == XK_VARIANT_F32 || L.variant == XK_VARIANT_F64);
    for (int i = 0; i < 3; i++) CHECK(L.count[i] >= 1);
    if (!L.items)
        for (int i = 0; i < 3; i++) CHECK(L.group[i] >= 1);
    g_last = L;
}

/* Matmul [M, K] x [K, N] (b given as [N, K] when tb) in dt: the kernel of each role and
 * device type, the CPU kernels' path argument, and grids that cover out. */
static void check_matmul(int dt, int64_t M, int64_t K, int64_t N, int tb, int a_step)
{
    static const int gemv_cpu[3] = {XK_K_GEMV_CPU_F32, XK_K_GEMV_CPU_F16, XK_K_GEMV_CPU_BF16};
    static const int gemm_cpu[3] = {XK_K_GEMM_CPU_F32, XK_K_GEMM_CPU_F16, XK_K_GEMM_CPU_BF16};
    static const int gemv_gpu[3] = {XK_K_GEMV_GPU_F32, XK_K_GEMV_GPU_F16, XK_K_GEMV_GPU_BF16};
    static const int gemm_gpu[3] = {XK_K_GEMM_GPU_F32, XK_K_GEMM_GPU_F16, XK_K_GEMM_GPU_BF16};
    int di = dt == XHAL_DTYPE_F16 ? 1 : dt == XHAL_DTYPE_BF16 ? 2 : 0;
    const int64_t sa[2] = {M, K}, sb[2] = {tb ? N : K, tb ? K : N}, so[2] = {M, N};
    xhal_tensor_desc ab[2] = {tens(dt, 2, sa), tens(dt, 2, sb)};
    if (tb) { /* [N, K] used transposed: the core passes [K, N] with K stride 1 */
        ab[1].shape[0] = K;
        ab[1].shape[1] = N;
        ab[1].strides[0] = 1;
        ab[1].strides[1] = K;
    }
    if (a_step) ab[0].strides[1] = 2, ab[0].strides[0] = 2 * K; /* every other element */
    xhal_op_desc d = op_desc(XHAL_OP_MATMUL, 2, ab, tens(dt, 2, so));
    d.attrs.matmul.alpha = 1;
    char what[96];
    for (int cpu = 1; cpu >= 0; cpu--) {
        g_cpu_like = cpu;
        snprintf(what, sizeof what, "matmul %s %lldx%lldx%lld tb=%d step=%d on a %s", xhal_names_dtype(dt),
                 (long long)M, (long long)K, (long long)N, tb, a_step, cpu ? "CPU" : "GPU");
        int want = dt == XHAL_DTYPE_F64 ? XK_K_MATMUL
                   : M <= 4             ? (cpu ? gemv_cpu : gemv_gpu)[di]
                                        : (cpu ? gemm_cpu : gemm_gpu)[di];
        check_plan(what, &d, want);
        const xk_launch *L = &g_last;
        if (want == XK_K_MATMUL) {
            CHECK(L->count[0] * L->group[0] >= N && L->count[1] * L->group[1] >= M);
            continue;
        }
        int path = -1;
        if (cpu) {
            path = L->args[0].v.i32; /* XK_MMP_ANY 0, NT 1, NN 2 */
            CHECK(path == (!tb && a_step ? 2 : tb && !a_step ? 1 : !tb ? 2 : 0));
        }
        int64_t cols = path == 2 ? 64 : 4, items0 = L->count[0] * L->group[0], items1 = L->count[1] * L->group[1];
        if (cpu && M <= 4)
            CHECK(items0 * cols >= N && L->count[1] == 1);
        else if (cpu)
            CHECK(items0 * 4 >= M && items1 * cols >= N);
        else if (M <= 4)
            CHECK(L->group[0] == 64 && (tb ? L->count[0] == N : L->count[0] * 64 >= N));
        else
            CHECK(L->count[0] * 64 >= N && L->count[1] * 64 >= M && L->group[0] == 16 && L->group[1] == 16);
        if (L->args[L->nargs - 3].kind == XK_ARG_F32) CHECK(L->args[L->nargs - 3].v.f32 == 1.0f);
    }
    g_cpu_like = 1;
}

int main(void)
{
    size_t size;
    g_src = xtest_read_file(XK_TEST_DIR, "xk_ops.cl", &size);
    g_src = realloc(g_src, size + 1);
    g_src[size] = 0;

    /* every listed kernel exists in the source */
    for (int k = 0; k < XK_K_COUNT_; k++) {
        int kinds[XK_MAX_ARGS + 1];
        int n = kernel_params(xk_kernel_name(k), kinds, XK_MAX_ARGS + 1);
        if (n < 0) fprintf(stderr, "%s is listed in xk_kernels.h but not defined in xk_ops.cl\n", xk_kernel_name(k));
        CHECK(n > 0 && n <= XK_MAX_ARGS);
    }
    CHECK(strcmp(xk_kernel_name(-1), "?") == 0 && strcmp(xk_kernel_name(XK_K_COUNT_), "?") == 0);

    const int64_t s2[2] = {3, 5}, s1[1] = {5};
    xhal_tensor_desc f = tens(XHAL_DTYPE_F32, 2, s2), i32 = tens(XHAL_DTYPE_I32, 2, s2);
    xhal_tensor_desc in2[4] = {f, f};
    xhal_op_desc d;

    d = op_desc(XHAL_OP_COPY, 1, &i32, f);
    check_plan("copy", &d, XK_K_COPY);
    d = op_desc(XHAL_OP_FILL, 0, NULL, f);
    check_plan("fill", &d, XK_K_FILL);
    d = op_desc(XHAL_OP_EXP, 1, &f, f);
    check_plan("exp", &d, XK_K_UNARY);
    d = op_desc(XHAL_OP_SCALE, 1, &f, f);
    check_plan("scale", &d, XK_K_SCALE);
    d = op_desc(XHAL_OP_ADD, 2, in2, f);
    check_plan("add f32", &d, XK_K_BINARY);
    xhal_tensor_desc ii[2] = {i32, i32};
    d = op_desc(XHAL_OP_MUL, 2, ii, i32);
    check_plan("mul i32", &d, XK_K_BINARY_INT);

    const int64_t r1[2] = {3, 1};
    d = op_desc(XHAL_OP_SUM, 1, &f, tens(XHAL_DTYPE_F32, 2, r1));
    d.attrs.reduce.axis = 1;
    check_plan("sum", &d, XK_K_REDUCE);
    d = op_desc(XHAL_OP_SOFTMAX, 1, &f, f);
    check_plan("softmax", &d, XK_K_SOFTMAX);
    xhal_tensor_desc w = tens(XHAL_DTYPE_F32, 1, s1);
    xhal_tensor_desc xw[3] = {f, w, w};
    d = op_desc(XHAL_OP_RMS_NORM, 2, xw, f);
    d.attrs.norm.has_weight = 1;
    check_plan("rms_norm", &d, XK_K_RMS_NORM);
    d = op_desc(XHAL_OP_LAYER_NORM, 3, xw, f);
    d.attrs.norm.has_weight = d.attrs.norm.has_bias = 1;
    check_plan("layer_norm", &d, XK_K_LAYER_NORM);
    d = op_desc(XHAL_OP_LAYER_NORM, 1, xw, f);
    check_plan("layer_norm without weight and bias", &d, XK_K_LAYER_NORM);

    /* matmul: every dtype, role (one row, few rows, more) and layout (b [K, N], b [N, K], a strided) */
    const int mm_dts[4] = {XHAL_DTYPE_F32, XHAL_DTYPE_F16, XHAL_DTYPE_BF16, XHAL_DTYPE_F64};
    for (int t = 0; t < 4; t++)
        for (int tb = 0; tb < 2; tb++)
            for (int st = 0; st < 2; st++) {
                check_matmul(mm_dts[t], 1, 4096, 4096, tb, st);
                check_matmul(mm_dts[t], 3, 17, 1000, tb, st);
                check_matmul(mm_dts[t], 70, 80, 90, tb, st);
                check_matmul(mm_dts[t], 1024, 1024, 1024, tb, st);
            }

    /* block-quantized copies and matmul weights (q8_0 / q4_0 / q4_k: rows of whole blocks) */
    const int64_t q2[2] = {2, 256};
    xhal_tensor_desc q8 = tens(XHAL_DTYPE_Q8_0, 2, q2), qf = tens(XHAL_DTYPE_F32, 2, q2);
    d = op_desc(XHAL_OP_COPY, 1, &q8, q8);
    check_plan("copy q8_0 -> q8_0", &d, XK_K_QCOPY);
    d = op_desc(XHAL_OP_COPY, 1, &q8, qf);
    check_plan("copy q8_0 -> f32", &d, XK_K_QDEQUANT);
    d = op_desc(XHAL_OP_COPY, 1, &qf, tens(XHAL_DTYPE_Q4_0, 2, q2));
    check_plan("copy f32 -> q4_0", &d, XK_K_QQUANT);
    const int64_t qa1[2] = {1, 256}, qa9[2] = {9, 256}, qk[2] = {256, 6}, qo1[2] = {1, 6}, qo9[2] = {9, 6};
    xhal_tensor_desc qb = tens(XHAL_DTYPE_Q4_K, 2, qk); /* [K, N] with K stride 1, as the core passes it */
    qb.strides[0] = 1;
    qb.strides[1] = 256;
    xhal_tensor_desc qab1[2] = {tens(XHAL_DTYPE_F32, 2, qa1), qb}, qab9[2] = {tens(XHAL_DTYPE_F16, 2, qa9), qb};
    d = op_desc(XHAL_OP_MATMUL, 2, qab1, tens(XHAL_DTYPE_F32, 2, qo1));
    d.attrs.matmul.alpha = 1;
    check_plan("matmul f32 x q4_k, one row, CPU-type device", &d, XK_K_QGEMV_CPU);
    CHECK(g_last.count[0] * g_last.group[0] >= 6 && g_last.count[1] == 1); /* an item per column */
    g_cpu_like = 0;
    check_plan("matmul f32 x q4_k, one row, GPU-type device", &d, XK_K_QGEMV);
    CHECK(g_last.count[0] == 6 && g_last.group[0] == 64); /* a group per column */
    g_cpu_like = 1;
    CHECK(xk_block_side(&d) == XHAL_DTYPE_Q4_K);
    d = op_desc(XHAL_OP_MATMUL, 2, qab9, tens(XHAL_DTYPE_F16, 2, qo9));
    d.attrs.matmul.alpha = 1;
    check_plan("matmul f16 x q4_k, nine rows", &d, XK_K_QMM);
    {
        char qwhy[192] = "";
        CHECK(xk_block_ok(&d, qwhy, sizeof qwhy) == 1);
        d = op_desc(XHAL_OP_COPY, 1, &q8, tens(XHAL_DTYPE_Q4_K, 2, q2)); /* no q4_k quantizer */
        CHECK(xk_block_side(&d) == XHAL_DTYPE_Q8_0);
        CHECK(xk_block_ok(&d, qwhy, sizeof qwhy) == 0 && strstr(qwhy, "q8_0/q4_0"));
        d = op_desc(XHAL_OP_COPY, 1, &qf, qf);
        CHECK(xk_block_side(&d) == 0);
    }

    const int64_t tab[2] = {10, 5}, idx[1] = {3};
    xhal_tensor_desc ti[2] = {tens(XHAL_DTYPE_F32, 2, tab), tens(XHAL_DTYPE_I32, 1, idx)};
    d = op_desc(XHAL_OP_GATHER, 2, ti, f);
    check_plan("gather", &d, XK_K_GATHER);

    const int64_t x4[4] = {1, 2, 3, 8};
    xhal_tensor_desc r = tens(XHAL_DTYPE_F32, 4, x4);
    d = op_desc(XHAL_OP_ROPE, 1, &r, r);
    d.attrs.rope.rotary_dims = 8;
    d.attrs.rope.theta = 10000;
    check_plan("rope", &d, XK_K_ROPE);
    /* rope_ex: positions [1, 2] over x's dims up to seq axis 1, inv_freq [4], attention factor */
    const int64_t p2[2] = {1, 2}, f4[1] = {4};
    xhal_tensor_desc rpf[3] = {r, tens(XHAL_DTYPE_I64, 2, p2), tens(XHAL_DTYPE_F32, 1, f4)};
    d = op_desc(XHAL_OP_ROPE, 3, rpf, r);
    d.attrs.rope.rotary_dims = 8;
    d.attrs.rope.seq_axis = 1;
    d.attrs.rope.has_positions = d.attrs.rope.has_inv_freq = 1;
    d.attrs.rope.attention_factor = 1.5;
    check_plan("rope with positions and inv_freq", &d, XK_K_ROPE);
    d = op_desc(XHAL_OP_ROPE, 2, rpf + 1, r);
    d.inputs[0] = r;
    d.inputs[1] = rpf[2];
    d.attrs.rope.rotary_dims = 8;
    d.attrs.rope.has_inv_freq = 1;
    check_plan("rope with inv_freq", &d, XK_K_ROPE);

    const int64_t m4[4] = {1, 2, 3, 3};
    xhal_tensor_desc qkvm[4] = {r, r, r, tens(XHAL_DTYPE_F32, 4, m4)};
    d = op_desc(XHAL_OP_ATTENTION, 4, qkvm, r);
    d.attrs.attention.scale = 0.5;
    d.attrs.attention.has_mask = 1;
    check_plan("attention", &d, XK_K_ATTENTION);
    d = op_desc(XHAL_OP_ATTENTION, 3, qkvm, r);
    d.attrs.attention.scale = 0.5;
    check_plan("attention without mask", &d, XK_K_ATTENTION);
    d.attrs.attention.causal = 1;
    d.attrs.attention.window = 2;
    d.attrs.attention.softcap = 30;
    d.attrs.attention.has_q_pos0 = 1;
    check_plan("attention with window, softcap, q_pos0", &d, XK_K_ATTENTION);
    const int64_t tx2[2] = {3, 7}, tk2[2] = {3, 2};
    d = op_desc(XHAL_OP_TOPK, 1, (xhal_tensor_desc[]){tens(XHAL_DTYPE_F32, 2, tx2)}, tens(XHAL_DTYPE_F32, 2, tk2));
    d.n_outputs = 2;
    d.more_outputs[0] = tens(XHAL_DTYPE_I64, 2, tk2);
    d.attrs.topk.k = 2;
    d.attrs.topk.largest = 1;
    check_plan("topk", &d, XK_K_TOPK);

    for (int k = 0; k < XK_K_COUNT_; k++) {
        if (!g_planned[k]) fprintf(stderr, "no case here plans %s: add one\n", xk_kernel_name(k));
        CHECK(g_planned[k]);
    }

    /* families without a kernel are refused, f64 ops run in the f64 variant */
    d = op_desc(XHAL_OP_CONCAT, 1, &f, f);
    xk_launch L;
    xk_device_caps caps = {0, 256, 32768, 1};
    CHECK(xk_plan(&d, &caps, &L) == -1);
    d = op_desc(999, 1, &f, f);
    CHECK(xk_plan(&d, &caps, &L) == -1);
    xhal_tensor_desc f64 = tens(XHAL_DTYPE_F64, 2, s2);
    d = op_desc(XHAL_OP_EXP, 1, &f64, f64);
    CHECK(xk_variant_of(&d) == XK_VARIANT_F64);
    d = op_desc(XHAL_OP_COPY, 1, &f64, f64);
    CHECK(xk_variant_of(&d) == XK_VARIANT_F32); /* a bit copy */
    d = op_desc(XHAL_OP_COPY, 1, &f64, f);
    CHECK(xk_variant_of(&d) == XK_VARIANT_F64); /* a conversion */
    /* what has no portable kernel is said, not launched */
    const char *why = NULL;
    d = op_desc(XHAL_OP_ADD, 2, in2, f);
    CHECK(xk_supports(&d, &why) == 1);
    d = op_desc(XHAL_OP_CONCAT, 1, &f, f);
    CHECK(xk_supports(&d, &why) == 0 && why && strstr(why, "no portable kernel"));
    d = op_desc(XHAL_OP_TOPK, 1, &f, f);
    CHECK(xk_supports(&d, &why) == 1);
    free(g_src);
    return xtest_finish("test_xk_launch");
}
