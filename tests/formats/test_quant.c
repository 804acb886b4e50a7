/* test_quant.c - the block codecs of backends/common/xhal_quant.h against llama.cpp's own
 * Python package: tests/formats/data/<type>.deq.f32 is gguf-py's dequantization of
 * <type>.bin, and q8_0.bin / q4_0.bin are gguf-py's quantization of quant_src.f32
 * (tests/formats/make_gguf.py made them). Every value must match bit for bit. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xhal_quant.h"
#include "xtest.h"

typedef void (*dequant_fn)(const void *, float *, int64_t);

/* Count values whose bits differ; print the first few. */
static int64_t compare_bits(const char *what, const float *got, const float *want, int64_t n)
{
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        if (memcmp(&got[i], &want[i], sizeof(float)) != 0) {
            if (bad < 5)
                fprintf(stderr, "%s[%lld]: got %.9g, gguf-py %.9g\n", what, (long long)i, (double)got[i],
                        (double)want[i]);
            bad++;
        }
    }
    return bad;
}

static void test_dequant(const char *type, dequant_fn fn, int block, int bytes)
{
    char bin[64], deq[64];
    snprintf(bin, sizeof bin, "%s.bin", type);
    snprintf(deq, sizeof deq, "%s.deq.f32", type);
    size_t nb = 0, nd = 0;
    unsigned char *q = xtest_read_file(XHAL_FORMATS_DATA, bin, &nb);
    float *ref = xtest_read_file(XHAL_FORMATS_DATA, deq, &nd);
    CHECK(nb % (size_t)bytes == 0);
    int64_t blocks = (int64_t)(nb / (size_t)bytes), n = blocks * block;
    CHECK(nd == (size_t)n * sizeof(float));
    CHECK(blocks >= 4);
    float *y = malloc((size_t)n * sizeof(float));
    fn(q, y, blocks);
    int64_t bad = compare_bits(type, y, ref, n);
    if (bad) fprintf(stderr, "%s: %lld of %lld values differ from gguf-py\n", type, (long long)bad, (long long)n);
    CHECK(bad == 0);
    /* a block decodes the same on its own (no state carried between blocks) and from an
     * unaligned address */
    unsigned char *odd = malloc((size_t)bytes + 1);
    memcpy(odd + 1, q + (size_t)(blocks - 1) * (size_t)bytes, (size_t)bytes);
    fn(odd + 1, y, 1);
    CHECK(compare_bits(type, y, ref + (blocks - 1) * block, block) == 0);
    printf("%s: %lld blocks, %lld values bit-exact with gguf-py\n", type, (long long)blocks, (long long)n);
    free(odd);
    free(y);
    free(ref);
    free(q);
}

typedef void (*quant_fn)(const float *, void *, int64_t);

static void test_quant(const char *type, quant_fn fn, dequant_fn dfn, int block, int bytes)
{
    char bin[64];
    snprintf(bin, sizeof bin, "%s.bin", type);
    size_t ns = 0, nb = 0;
    float *src = xtest_read_file(XHAL_FORMATS_DATA, "quant_src.f32", &ns);
    unsigned char *ref = xtest_read_file(XHAL_FORMATS_DATA, bin, &nb);
    int64_t blocks = (int64_t)(ns / sizeof(float)) / block;
    CHECK(nb == (size_t)blocks * (size_t)bytes);
    unsigned char *q = malloc(nb);
    fn(src, q, blocks);
    int64_t bad = 0;
    for (int64_t b = 0; b < blocks; b++) {
        if (memcmp(q + b * bytes, ref + b * bytes, (size_t)bytes) != 0) {
            if (bad < 3) fprintf(stderr, "%s: block %lld differs from gguf-py's quantization\n", type, (long long)b);
            bad++;
        }
    }
    CHECK(bad == 0);
    /* the zero block (row 0, block 0) has d = 0 and decodes to zeros */
    float y[32];
    dfn(q, y, 1);
    for (int j = 0; j < 32; j++) CHECK(y[j] == 0.0f);
    /* round trip: q8_0 within half a step (d = max|x|/127) plus the f16 rounding of d
     * (|q| <= 127 times 2^-11 relative, or 2^-25 absolute for a subnormal d); q4_0 within one step (d = |max|/8: codes -8..7 do
     * not reach -max) plus the same f16 term */
    float *back = malloc(ns);
    dfn(q, back, blocks);
    int64_t far = 0;
    for (int64_t b = 0; b < blocks; b++) {
        float amax = 0;
        for (int j = 0; j < block; j++) amax = fmaxf(amax, fabsf(src[b * block + j]));
        const int is8 = bytes == XHAL_Q8_0_BYTES;
        const float step = amax / (is8 ? 127.0f : 8.0f);
        /* an f16 subnormal d is off by up to 2^-25 absolute: times |q| <= 128 */
        const float tol = step * (is8 ? 0.5f : 1.0f) + amax * (1.0f / 2048.0f) * 1.01f + 128.0f * 2.98023224e-8f;
        for (int j = 0; j < block; j++)
            if (!(fabsf(back[b * block + j] - src[b * block + j]) <= tol)) {
                if (far < 3)
                    fprintf(stderr, "%s: block %lld [%d]: %g -> %g (tol %g)\n", type, (long long)b, j,
                            (double)src[b * block + j], (double)back[b * block + j], (double)tol);
                far++;
            }
    }
    CHECK(far == 0);
    printf("%s: quantization of %lld blocks byte-exact with gguf-py\n", type, (long long)blocks);
    free(back);
    free(q);
    free(ref);
    free(src);
}

/* Non-finite input stays defined (no UB under UBSan); codes are clamped into range. */
static void test_nonfinite(void)
{
    float x[32];
    for (int j = 0; j < 32; j++) x[j] = (float)j;
    x[3] = NAN;
    x[7] = INFINITY;
    unsigned char q8[XHAL_Q8_0_BYTES], q4[XHAL_Q4_0_BYTES];
    xhal_quant_q8_0(x, q8, 1);
    xhal_quant_q4_0(x, q4, 1);
    CHECK(1);
}

int main(void)
{
    test_dequant("q8_0", xhal_dequant_q8_0, XHAL_QK8_0, XHAL_Q8_0_BYTES);
    test_dequant("q4_0", xhal_dequant_q4_0, XHAL_QK4_0, XHAL_Q4_0_BYTES);
    test_dequant("q4_k", xhal_dequant_q4_k, XHAL_QK_K, XHAL_Q4_K_BYTES);
    test_dequant("q6_k", xhal_dequant_q6_k, XHAL_QK_K, XHAL_Q6_K_BYTES);
    test_quant("q8_0", xhal_quant_q8_0, xhal_dequant_q8_0, XHAL_QK8_0, XHAL_Q8_0_BYTES);
    test_quant("q4_0", xhal_quant_q4_0, xhal_dequant_q4_0, XHAL_QK4_0, XHAL_Q4_0_BYTES);
    test_nonfinite();
    return xtest_finish("test_quant");
}
