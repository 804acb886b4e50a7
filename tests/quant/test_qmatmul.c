/* test_qmatmul.c - cpu:0's matmul with block-quantized weights (q8_0, q4_0, q4_k, q6_k) over the
 * shapes its kernels split on: one row (decode: dotted from the codes) and several rows (the
 * dequantized panel path), column counts that are and are not multiples of the panel width,
 * odd block counts (the unrolled loops' tails), batches with broadcast weights, strided and
 * offset weight views, f32/f16/bf16 and strided (transposed) activations, alpha/beta and
 * beta == 0 over a NaN-filled out. Each result is checked against the float64 product with the
 * dequantized weights (xhal_quant.h, bit-exact with gguf-py) within OPS.md's accumulate
 * tolerance for the dtype. ctest runs it twice: with the CPU's vector kernels and with
 * XHAL_CPU_ISA=portable. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xhal/xhal.h"
#include "xhal/plugin/xhal_half.h"
#include "xhal_quant.h"
#include "xtest.h"

static xhal_stream *S;
static xhal_device *CPU;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t next_u32(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}

/* uniform in [-1, 1) */
static float uni(void) { return (float)(next_u32() >> 8) / 8388608.0f - 1.0f; }

static int64_t block_size(xhal_dtype dt) { return dt == XHAL_DTYPE_Q8_0 || dt == XHAL_DTYPE_Q4_0 ? 32 : 256; }
static int64_t block_bytes(xhal_dtype dt)
{
    switch (dt) {
        case XHAL_DTYPE_Q8_0: return XHAL_Q8_0_BYTES;
        case XHAL_DTYPE_Q4_0: return XHAL_Q4_0_BYTES;
        case XHAL_DTYPE_Q4_K: return XHAL_Q4_K_BYTES;
        default: return XHAL_Q6_K_BYTES;
    }
}

/* rows x K weights of dt: q8_0/q4_0 quantized from random floats with the reference codec,
 * K-quants as random codes and scales under random f16 super-block scales; w gets the
 * dequantized values */
static unsigned char *make_weights(xhal_dtype dt, int64_t rows, int64_t K, float *w)
{
    const int64_t nb = K / block_size(dt), bb = block_bytes(dt);
    unsigned char *q = malloc((size_t)(rows * nb * bb));
    float *tmp = malloc((size_t)K * sizeof(float));
    for (int64_t r = 0; r < rows; r++) {
        unsigned char *qr = q + r * nb * bb;
        if (dt == XHAL_DTYPE_Q8_0 || dt == XHAL_DTYPE_Q4_0) {
            for (int64_t k = 0; k < K; k++) tmp[k] = uni() * (1.0f + (float)(k % 7));
            if (dt == XHAL_DTYPE_Q8_0)
                xhal_quant_q8_0(tmp, qr, nb);
            else
                xhal_quant_q4_0(tmp, qr, nb);
        } else {
            for (int64_t i = 0; i < nb * bb; i++) qr[i] = (unsigned char)next_u32();
            for (int64_t i = 0; i < nb; i++) {
                unsigned char *b = qr + i * bb;
                /* scales of either sign for q6_k's d, small positive d/dmin for q4_k */
                if (dt == XHAL_DTYPE_Q4_K) {
                    xhal_quant_wr_f16_(b, 0.001f + 0.01f * (uni() + 1.0f));
                    xhal_quant_wr_f16_(b + 2, 0.001f + 0.01f * (uni() + 1.0f));
                } else {
                    xhal_quant_wr_f16_(b + 208, 0.002f * uni());
                }
            }
        }
        switch (dt) {
            case XHAL_DTYPE_Q8_0: xhal_dequant_q8_0(qr, w + r * K, nb); break;
            case XHAL_DTYPE_Q4_0: xhal_dequant_q4_0(qr, w + r * K, nb); break;
            case XHAL_DTYPE_Q4_K: xhal_dequant_q4_k(qr, w + r * K, nb); break;
            default: xhal_dequant_q6_k(qr, w + r * K, nb); break;
        }
    }
    free(tmp);
    return q;
}

static double round_to(xhal_dtype dt, double v)
{
    if (dt == XHAL_DTYPE_F16) return xhal_f16_to_f32(xhal_f32_to_f16((float)v));
    if (dt == XHAL_DTYPE_BF16) return xhal_bf16_to_f32(xhal_f32_to_bf16((float)v));
    return (float)v;
}

static void to_dtype(xhal_dtype dt, const float *src, void *dst, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        if (dt == XHAL_DTYPE_F32)
            ((float *)dst)[i] = src[i];
        else if (dt == XHAL_DTYPE_F16)
            ((uint16_t *)dst)[i] = xhal_f32_to_f16(src[i]);
        else
            ((uint16_t *)dst)[i] = xhal_f32_to_bf16(src[i]);
    }
}

static double from_dtype(xhal_dtype dt, const void *src, int64_t i)
{
    if (dt == XHAL_DTYPE_F32) return ((const float *)src)[i];
    if (dt == XHAL_DTYPE_F16) return xhal_f16_to_f32(((const uint16_t *)src)[i]);
    return xhal_bf16_to_f32(((const uint16_t *)src)[i]);
}

typedef struct qcase {
    xhal_dtype wdt, adt;
    int64_t B, M, N, K;
    int trans_a; /* a stored [B, K, M] and used transposed (strided rows) */
    int wview;   /* 1: weights are rows 1, 3, 5, .. of a [2N + 1, K] tensor (offset, N stride 2K) */
    double alpha, beta;
} qcase;

static void run_case(const qcase *c)
{
    const int64_t B = c->B, M = c->M, N = c->N, K = c->K;
    const int64_t wrows = c->wview ? 2 * N + 1 : N;
    const size_t es = c->adt == XHAL_DTYPE_F32 ? 4 : 2;
    float *wf = malloc((size_t)(wrows * K) * sizeof(float));
    unsigned char *wq = make_weights(c->wdt, wrows, K, wf);
    float *af = malloc((size_t)(B * M * K) * sizeof(float)); /* logical [B, M, K] */
    for (int64_t i = 0; i < B * M * K; i++) af[i] = uni();
    float *of = malloc((size_t)(B * M * N) * sizeof(float));
    for (int64_t i = 0; i < B * M * N; i++) of[i] = c->beta != 0.0 ? uni() : NAN;
    /* tensors */
    int64_t wsh[2] = {wrows, K};
    xhal_tensor *wt = NULL, *w = NULL, *a = NULL, *at = NULL, *o = NULL;
    CHECK_OK(xhal_tensor_create(CPU, c->wdt, 2, wsh, &wt));
    CHECK_OK(xhal_tensor_write(S, wt, wq, (uint64_t)(wrows * (K / block_size(c->wdt)) * block_bytes(c->wdt))));
    if (c->wview)
        CHECK_OK(xhal_tensor_slice(wt, 0, 1, 2 * N + 1, 2, &w));
    else
        w = wt, wt = NULL;
    void *abuf = malloc((size_t)(B * M * K) * es), *obuf = malloc((size_t)(B * M * N) * es);
    if (c->trans_a) { /* store a^T: [B, K, M] */
        float *tr = malloc((size_t)(B * M * K) * sizeof(float));
        for (int64_t b = 0; b < B; b++)
            for (int64_t m = 0; m < M; m++)
                for (int64_t k = 0; k < K; k++) tr[(b * K + k) * M + m] = af[(b * M + m) * K + k];
        to_dtype(c->adt, tr, abuf, B * M * K);
        free(tr);
        int64_t ash[3] = {B, K, M};
        CHECK_OK(xhal_tensor_create(CPU, c->adt, 3, ash, &a));
    } else {
        to_dtype(c->adt, af, abuf, B * M * K);
        int64_t ash[3] = {B, M, K};
        CHECK_OK(xhal_tensor_create(CPU, c->adt, 3, ash, &a));
    }
    CHECK_OK(xhal_tensor_write(S, a, abuf, (uint64_t)(B * M * K) * es));
    int64_t osh[3] = {B, M, N};
    CHECK_OK(xhal_tensor_create(CPU, c->adt, 3, osh, &o));
    to_dtype(c->adt, of, obuf, B * M * N);
    CHECK_OK(xhal_tensor_write(S, o, obuf, (uint64_t)(B * M * N) * es));
    CHECK_OK(xhal_matmul(S, a, w, c->trans_a, 1, c->alpha, c->beta, o));
    CHECK_OK(xhal_tensor_read(S, o, obuf, (uint64_t)(B * M * N) * es));
    /* OPS.md accumulate class: atol, rtol, mtol = 16 u32 sqrt(K) + 1e-6 */
    double atol = c->adt == XHAL_DTYPE_F32 ? 1e-6 : 1e-5;
    double rtol = c->adt == XHAL_DTYPE_F32 ? 1e-5 : c->adt == XHAL_DTYPE_F16 ? 2e-3 : 1.6e-2;
    double mtol = 16.0 * 5.9604644775390625e-8 * sqrt((double)K) + 1e-6;
    int64_t bad = 0;
    double worst = 0.0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                const float *wr = wf + (c->wview ? 2 * n + 1 : n) * K;
                double acc = 0.0, mag = 0.0;
                for (int64_t k = 0; k < K; k++) {
                    double x = round_to(c->adt, af[(b * M + m) * K + k]);
                    acc += x * (double)wr[k];
                    mag += fabs(x * (double)wr[k]);
                }
                int64_t oi = (b * M + m) * N + n;
                double old = round_to(c->adt, of[oi]);
                double want = c->alpha * acc + (c->beta != 0.0 ? c->beta * old : 0.0);
                double mm = fabs(c->alpha) * mag + (c->beta != 0.0 ? fabs(c->beta * old) : 0.0);
                double got = from_dtype(c->adt, obuf, oi);
                double bound = atol + rtol * fabs(want) + mtol * mm;
                double err = fabs(got - want);
                if (!(err <= bound)) {
                    if (bad < 3)
                        fprintf(stderr, "%s x %s [B%lld M%lld N%lld K%lld ta%d wv%d] (%lld,%lld,%lld): %.9g vs %.9g\n",
                                xhal_dtype_name(c->adt), xhal_dtype_name(c->wdt), (long long)B, (long long)M,
                                (long long)N, (long long)K, c->trans_a, c->wview, (long long)b, (long long)m,
                                (long long)n, got, want);
                    bad++;
                } else if (bound > 0 && err / bound > worst) {
                    worst = err / bound;
                }
            }
    CHECK(bad == 0);
    xhal_tensor *objs[] = {wt, w, a, at, o};
    for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) xhal_tensor_destroy(objs[i]);
    free(wf);
    free(wq);
    free(af);
    free(of);
    free(abuf);
    free(obuf);
}

int main(void)
{
    xhal_context *ctx = NULL;
    if (xhal_context_create(NULL, &ctx) != XHAL_OK || xhal_device_find(ctx, "cpu", &CPU) != XHAL_OK ||
        xhal_stream_create(CPU, &S) != XHAL_OK) {
        fprintf(stderr, "no cpu device: %s\n", xhal_last_error());
        return 1;
    }
    const char *isa = getenv("XHAL_CPU_ISA");
    static const xhal_dtype wdts[4] = {XHAL_DTYPE_Q8_0, XHAL_DTYPE_Q4_0, XHAL_DTYPE_Q4_K, XHAL_DTYPE_Q6_K};
    static const xhal_dtype adts[3] = {XHAL_DTYPE_F32, XHAL_DTYPE_F16, XHAL_DTYPE_BF16};
    int ncase = 0;
    for (int wi = 0; wi < 4; wi++) {
        const xhal_dtype wdt = wdts[wi];
        const int64_t bs = block_size(wdt);
        /* block counts: 1, 3 (odd: the unrolled loop's tail), and a long row */
        const int64_t Ks[3] = {bs, 3 * bs, bs == 32 ? 2048 + 32 : 2048 + 256};
        const int64_t Ms[3] = {1, 3, 9};
        const int64_t Ns[3] = {1, 4, 13};
        for (int ki = 0; ki < 3; ki++)
            for (int mi = 0; mi < 3; mi++)
                for (int ni = 0; ni < 3; ni++) {
                    qcase c = {wdt, XHAL_DTYPE_F32, 1, Ms[mi], Ns[ni], Ks[ki], 0, 0, 1.0, 0.0};
                    run_case(&c);
                    ncase++;
                }
        /* batches (weights broadcast), alpha/beta, other activation dtypes, strided a, views */
        for (int ai = 0; ai < 3; ai++)
            for (int mi = 0; mi < 2; mi++) {
                qcase c = {wdt, adts[ai], 2, mi ? 5 : 1, 7, 3 * bs, 0, 0, 0.5, 2.0};
                run_case(&c);
                c.trans_a = 1;
                c.beta = 0.0;
                run_case(&c);
                c.trans_a = 0;
                c.wview = 1;
                c.alpha = -1.5;
                run_case(&c);
                ncase += 3;
            }
    }
    printf("cpu matmul with q8_0/q4_0/q4_k/q6_k weights (%s kernels): %d cases within the accumulate tolerance\n",
           isa && strcmp(isa, "portable") == 0 ? "portable" : "default", ncase);
    xhal_stream_destroy(S);
    xhal_context_destroy(ctx);
    return xtest_finish("test_qmatmul");
}
