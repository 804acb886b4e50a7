/* test_matmul_i8.c - xhal_matmul_i8 (per-channel int8 weights with f32 scales) on cpu:0 against
 * the float64 product with the dequantized weights scales[n] * w[n, k], within OPS.md's
 * accumulate tolerance: one row (decode) and several (prefill), K that is not a multiple of the
 * vector width, column counts around the panel width, batches with broadcast weights, strided
 * scales, f32/f16/bf16 activations, alpha/beta and beta == 0 over a NaN-filled out. Then every
 * validation rule with its status and message, and a device without XHAL_CAP_MATMUL_I8
 * (opencl:0 where present) refusing with UNSUPPORTED. ctest runs it with the vector kernels
 * and with XHAL_CPU_ISA=portable. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xhal/xhal.h"
#include "xhal/plugin/xhal_half.h"
#include "xtest.h"

static xhal_stream *S;
static xhal_device *CPU;
static uint64_t rng = 0x243f6a8885a308d3ull;

static uint32_t next_u32(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}

static float uni(void) { return (float)(next_u32() >> 8) / 8388608.0f - 1.0f; }

static xhal_tensor *make(xhal_dtype dt, int nd, const int64_t *shape)
{
    xhal_tensor *t = NULL;
    CHECK_OK(xhal_tensor_create(CPU, dt, nd, shape, &t));
    return t;
}

static double rnd(xhal_dtype dt, float v)
{
    if (dt == XHAL_DTYPE_F16) return xhal_f16_to_f32(xhal_f32_to_f16(v));
    if (dt == XHAL_DTYPE_BF16) return xhal_bf16_to_f32(xhal_f32_to_bf16(v));
    return v;
}

static void put(xhal_dtype dt, void *p, int64_t i, float v)
{
    if (dt == XHAL_DTYPE_F32)
        ((float *)p)[i] = v;
    else
        ((uint16_t *)p)[i] = dt == XHAL_DTYPE_F16 ? xhal_f32_to_f16(v) : xhal_f32_to_bf16(v);
}

static double get(xhal_dtype dt, const void *p, int64_t i)
{
    if (dt == XHAL_DTYPE_F32) return ((const float *)p)[i];
    uint16_t h = ((const uint16_t *)p)[i];
    return dt == XHAL_DTYPE_F16 ? xhal_f16_to_f32(h) : xhal_bf16_to_f32(h);
}

/* a [B, M, K] (dtype dt), w i8 [N, K] shared by the batches, scales every other element of a
 * [2N] tensor when strided_scales */
static void run(xhal_dtype dt, int64_t B, int64_t M, int64_t N, int64_t K, double alpha, double beta,
                int strided_scales)
{
    const size_t es = dt == XHAL_DTYPE_F32 ? 4 : 2;
    int8_t *w = malloc((size_t)(N * K));
    float *sc = malloc((size_t)(2 * N) * sizeof(float)), *af = malloc((size_t)(B * M * K) * sizeof(float));
    float *of = malloc((size_t)(B * M * N) * sizeof(float));
    void *ab = malloc((size_t)(B * M * K) * es), *ob = malloc((size_t)(B * M * N) * es);
    for (int64_t i = 0; i < N * K; i++) w[i] = (int8_t)(next_u32() % 255u) - 127 + (i % 97 == 0 ? -1 : 0);
    for (int64_t i = 0; i < 2 * N; i++) sc[i] = 0.001f + 0.01f * (uni() + 1.0f);
    for (int64_t i = 0; i < B * M * K; i++) put(dt, ab, i, af[i] = uni());
    for (int64_t i = 0; i < B * M * N; i++) put(dt, ob, i, of[i] = beta != 0.0 ? uni() : NAN);
    int64_t ash[3] = {B, M, K}, wsh[2] = {N, K}, osh[3] = {B, M, N}, ssh[1] = {strided_scales ? 2 * N : N};
    xhal_tensor *a = make(dt, 3, ash), *wt = make(XHAL_DTYPE_I8, 2, wsh), *o = make(dt, 3, osh);
    xhal_tensor *s = make(XHAL_DTYPE_F32, 1, ssh), *sv = NULL;
    CHECK_OK(xhal_tensor_write(S, a, ab, (uint64_t)(B * M * K) * es));
    CHECK_OK(xhal_tensor_write(S, wt, w, (uint64_t)(N * K)));
    CHECK_OK(xhal_tensor_write(S, s, sc, (uint64_t)ssh[0] * 4));
    CHECK_OK(xhal_tensor_write(S, o, ob, (uint64_t)(B * M * N) * es));
    if (strided_scales)
        CHECK_OK(xhal_tensor_slice(s, 0, 1, 2 * N, 2, &sv));
    else
        sv = s, s = NULL;
    CHECK_OK(xhal_matmul_i8(S, a, wt, sv, alpha, beta, o));
    CHECK_OK(xhal_tensor_read(S, o, ob, (uint64_t)(B * M * N) * es));
    double atol = dt == XHAL_DTYPE_F32 ? 1e-6 : 1e-5;
    double rtol = dt == XHAL_DTYPE_F32 ? 1e-5 : dt == XHAL_DTYPE_F16 ? 2e-3 : 1.6e-2;
    double mtol = 16.0 * 5.9604644775390625e-8 * sqrt((double)K) + 1e-6;
    int64_t bad = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                double scale = sc[strided_scales ? 2 * n + 1 : n], acc = 0, mag = 0;
                for (int64_t k = 0; k < K; k++) {
                    double p = rnd(dt, af[(b * M + m) * K + k]) * (scale * (double)w[n * K + k]);
                    acc += p;
                    mag += fabs(p);
                }
                int64_t oi = (b * M + m) * N + n;
                double old = beta != 0.0 ? rnd(dt, of[oi]) : 0.0;
                double want = alpha * acc + beta * old, mm = fabs(alpha) * mag + fabs(beta * old);
                double got = get(dt, ob, oi);
                if (!(fabs(got - want) <= atol + rtol * fabs(want) + mtol * mm)) {
                    if (bad++ < 3)
                        fprintf(stderr, "%s B%lld M%lld N%lld K%lld (%lld,%lld,%lld): %.9g vs %.9g\n",
                                xhal_dtype_name(dt), (long long)B, (long long)M, (long long)N, (long long)K,
                                (long long)b, (long long)m, (long long)n, got, want);
                }
            }
    CHECK(bad == 0);
    xhal_tensor *objs[] = {a, wt, o, s, sv};
    for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) xhal_tensor_destroy(objs[i]);
    free(w);
    free(sc);
    free(af);
    free(of);
    free(ab);
    free(ob);
}

static void refusals(xhal_context *ctx)
{
    int64_t a2[2] = {3, 64}, w2[2] = {5, 64}, o2[2] = {3, 5}, s1[1] = {5}, s6[1] = {6}, s2[2] = {1, 5}, wk[2] = {5, 32};
    int64_t wtsh[2] = {64, 5};
    xhal_tensor *a = make(XHAL_DTYPE_F32, 2, a2), *w = make(XHAL_DTYPE_I8, 2, w2), *o = make(XHAL_DTYPE_F32, 2, o2);
    xhal_tensor *s = make(XHAL_DTYPE_F32, 1, s1), *wf = make(XHAL_DTYPE_F32, 2, w2), *a64 = make(XHAL_DTYPE_F64, 2, a2);
    xhal_tensor *o16 = make(XHAL_DTYPE_F16, 2, o2), *sh = make(XHAL_DTYPE_F16, 1, s1),
                *s_6 = make(XHAL_DTYPE_F32, 1, s6);
    xhal_tensor *s_2 = make(XHAL_DTYPE_F32, 2, s2), *wshort = make(XHAL_DTYPE_I8, 2, wk);
    xhal_tensor *wkn = make(XHAL_DTYPE_I8, 2, wtsh), *wtr = NULL, *ai = make(XHAL_DTYPE_I32, 2, a2);
    CHECK_OK(xhal_tensor_transpose(wkn, 0, 1, &wtr)); /* [5, 64] with K stride 5 */
    CHECK_OK(xhal_matmul_i8(S, a, w, s, 1.0, 0.0, o));
    CHECK_STATUS(xhal_matmul_i8(S, a, wf, s, 1.0, 0.0, o), XHAL_ERROR_DTYPE_MISMATCH, "w is f32; it must be i8");
    CHECK_STATUS(xhal_matmul_i8(S, a64, w, s, 1.0, 0.0, o), XHAL_ERROR_DTYPE_MISMATCH, "a is f64");
    CHECK_STATUS(xhal_matmul_i8(S, ai, w, s, 1.0, 0.0, o), XHAL_ERROR_DTYPE_MISMATCH, "a is i32");
    CHECK_STATUS(xhal_matmul_i8(S, a, w, s, 1.0, 0.0, o16), XHAL_ERROR_DTYPE_MISMATCH, "a is f32 but out is f16");
    CHECK_STATUS(xhal_matmul_i8(S, a, w, sh, 1.0, 0.0, o), XHAL_ERROR_DTYPE_MISMATCH, "scales is f16");
    CHECK_STATUS(xhal_matmul_i8(S, a, w, s_6, 1.0, 0.0, o), XHAL_ERROR_SHAPE_MISMATCH, "scales is [6]; it must be [5]");
    CHECK_STATUS(xhal_matmul_i8(S, a, w, s_2, 1.0, 0.0, o), XHAL_ERROR_SHAPE_MISMATCH, "scales is [1,5]");
    CHECK_STATUS(xhal_matmul_i8(S, a, wshort, s, 1.0, 0.0, o), XHAL_ERROR_SHAPE_MISMATCH, "inner dims 64 and 32");
    CHECK_STATUS(xhal_matmul_i8(S, a, wtr, s, 1.0, 0.0, o), XHAL_ERROR_INVALID_ARGUMENT, "stride 5; it must be 1");
    CHECK_STATUS(xhal_matmul_i8(S, a, w, NULL, 1.0, 0.0, o), XHAL_ERROR_INVALID_HANDLE, "scales");
    CHECK_STATUS(xhal_matmul_i8(S, a, w, s, NAN, 0.0, o), XHAL_ERROR_INVALID_ARGUMENT, "must be finite");
    xhal_device_info info;
    CHECK_OK(xhal_device_get_info(CPU, &info));
    CHECK(info.caps & XHAL_CAP_MATMUL_I8);
    xhal_device *ocl = NULL;
    if (xhal_device_find(ctx, "opencl:0", &ocl) == XHAL_OK) {
        xhal_stream *os = NULL;
        xhal_tensor *oa = NULL, *ow = NULL, *osc = NULL, *oo = NULL;
        CHECK_OK(xhal_stream_create(ocl, &os));
        CHECK_OK(xhal_tensor_create(ocl, XHAL_DTYPE_F32, 2, a2, &oa));
        CHECK_OK(xhal_tensor_create(ocl, XHAL_DTYPE_I8, 2, w2, &ow));
        CHECK_OK(xhal_tensor_create(ocl, XHAL_DTYPE_F32, 1, s1, &osc));
        CHECK_OK(xhal_tensor_create(ocl, XHAL_DTYPE_F32, 2, o2, &oo));
        CHECK_STATUS(xhal_matmul_i8(os, oa, ow, osc, 1.0, 0.0, oo), XHAL_ERROR_UNSUPPORTED, "XHAL_CAP_MATMUL_I8");
        xhal_tensor *objs[] = {oa, ow, osc, oo};
        for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) xhal_tensor_destroy(objs[i]);
        xhal_stream_destroy(os);
        printf("opencl:0: xhal_matmul_i8 refused (UNSUPPORTED, no XHAL_CAP_MATMUL_I8)\n");
    }
    xhal_tensor *objs[] = {a, w, o, s, wf, a64, o16, sh, s_6, s_2, wshort, wkn, wtr, ai};
    for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) xhal_tensor_destroy(objs[i]);
}

int main(void)
{
    xhal_context *ctx = NULL;
    if (xhal_context_create(NULL, &ctx) != XHAL_OK || xhal_device_find(ctx, "cpu", &CPU) != XHAL_OK ||
        xhal_stream_create(CPU, &S) != XHAL_OK) {
        fprintf(stderr, "no cpu device: %s\n", xhal_last_error());
        return 1;
    }
    static const int64_t Ms[3] = {1, 3, 9}, Ns[3] = {1, 5, 13}, Ks[3] = {7, 64, 1000};
    int n = 0;
    for (int mi = 0; mi < 3; mi++)
        for (int ni = 0; ni < 3; ni++)
            for (int ki = 0; ki < 3; ki++, n++) run(XHAL_DTYPE_F32, 1, Ms[mi], Ns[ni], Ks[ki], 1.0, 0.0, 0);
    static const xhal_dtype dts[3] = {XHAL_DTYPE_F32, XHAL_DTYPE_F16, XHAL_DTYPE_BF16};
    for (int d = 0; d < 3; d++)
        for (int mi = 0; mi < 2; mi++, n += 2) {
            run(dts[d], 2, mi ? 5 : 1, 7, 300, 0.5, 2.0, 1);
            run(dts[d], 3, mi ? 4 : 1, 9, 129, -1.5, 0.0, 0);
        }
    printf("cpu xhal_matmul_i8: %d cases within the accumulate tolerance\n", n);
    refusals(ctx);
    xhal_stream_destroy(S);
    xhal_context_destroy(ctx);
    return xtest_finish("test_matmul_i8");
}
