/* test_quant_tensor.c - block-quantized dtypes in the tensor model: the dtype description,
 * creation, views along whole blocks (and the refusals of views that split one), transfers,
 * xhal_copy dequantizing to f32/f16/bf16 and quantizing f32/f16/bf16 to q8_0/q4_0 on cpu:0
 * against gguf-py's data (tests/formats/data, made by tests/formats/make_gguf.py), and the
 * UNSUPPORTED answers elsewhere (other pairs, other ops, devices that do not list the dtype). */
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

static xhal_tensor *make(xhal_device *dev, xhal_dtype dt, int64_t r, int64_t c)
{
    int64_t shape[2] = {r, c};
    xhal_tensor *t = NULL;
    CHECK_OK(xhal_tensor_create(dev, dt, 2, shape, &t));
    return t;
}

static void test_info(void)
{
    static const struct {
        xhal_dtype dt;
        const char *name;
        int64_t bs, bb;
    } q[] = {{XHAL_DTYPE_Q8_0, "q8_0", 32, 34},
             {XHAL_DTYPE_Q4_0, "q4_0", 32, 18},
             {XHAL_DTYPE_Q4_K, "q4_k", 256, 144},
             {XHAL_DTYPE_Q6_K, "q6_k", 256, 210}};
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
        xhal_dtype_info info;
        CHECK_OK(xhal_dtype_get_info(q[i].dt, &info));
        CHECK(strcmp(info.name, q[i].name) == 0 && info.block_size == q[i].bs && info.block_bytes == q[i].bb);
        CHECK(info.is_quantized && !info.is_float && !info.is_integer);
        CHECK(xhal_dtype_size(q[i].dt) == 0);
        CHECK(strcmp(xhal_dtype_name(q[i].dt), q[i].name) == 0);
        xhal_dtype back = XHAL_DTYPE_INVALID;
        CHECK_OK(xhal_dtype_from_name(q[i].name, &back));
        CHECK(back == q[i].dt);
    }
    xhal_dtype_info info;
    CHECK_OK(xhal_dtype_get_info(XHAL_DTYPE_BF16, &info));
    CHECK(info.block_size == 1 && info.block_bytes == 2 && info.is_float && !info.is_quantized);
    CHECK_OK(xhal_dtype_get_info(XHAL_DTYPE_I32, &info));
    CHECK(info.is_integer && info.block_bytes == 4);
    CHECK_STATUS(xhal_dtype_get_info((xhal_dtype)12, &info), XHAL_ERROR_INVALID_ARGUMENT, "12 is not a valid");
    CHECK_STATUS(xhal_dtype_get_info(XHAL_DTYPE_END_, &info), XHAL_ERROR_INVALID_ARGUMENT, "not a valid");
    xhal_dtype d;
    CHECK_STATUS(xhal_dtype_from_name("q5_k", &d), XHAL_ERROR_INVALID_ARGUMENT, "q8_0 q4_0 q4_k q6_k");
}

static void test_create(void)
{
    int64_t s1[2] = {4, 33}, s0[1] = {0};
    xhal_tensor *t = NULL;
    CHECK_STATUS(xhal_tensor_create(CPU, XHAL_DTYPE_Q8_0, 2, s1, &t), XHAL_ERROR_INVALID_ARGUMENT,
                 "innermost dimension 33 splits a q8_0 block (32 elements)");
    CHECK_STATUS(xhal_tensor_create(CPU, XHAL_DTYPE_Q4_K, 0, NULL, &t), XHAL_ERROR_INVALID_ARGUMENT,
                 "needs at least one dimension");
    int64_t s2[2] = {3, 128};
    CHECK_STATUS(xhal_tensor_create(CPU, XHAL_DTYPE_Q6_K, 2, s2, &t), XHAL_ERROR_INVALID_ARGUMENT,
                 "splits a q6_k block (256 elements)");
    CHECK_OK(xhal_tensor_create(CPU, XHAL_DTYPE_Q4_0, 1, s0, &t)); /* empty */
    xhal_tensor_destroy(t);
    t = make(CPU, XHAL_DTYPE_Q8_0, 4, 256);
    int64_t numel = 0;
    CHECK_OK(xhal_tensor_numel(t, &numel));
    CHECK(numel == 1024);
    unsigned char buf[4 * 8 * 34];
    CHECK_STATUS(xhal_tensor_read(S, t, buf, 4096), XHAL_ERROR_INVALID_ARGUMENT, "holds 1088");
    CHECK_OK(xhal_tensor_read(S, t, buf, sizeof buf));
    xhal_tensor_destroy(t);
}

typedef struct qcase {
    xhal_dtype dt;
    const char *file;
    int64_t rows, cols;
} qcase;

static const qcase CASES[] = {{XHAL_DTYPE_Q8_0, "q8_0", 4, 256},
                              {XHAL_DTYPE_Q4_0, "q4_0", 4, 256},
                              {XHAL_DTYPE_Q4_K, "q4_k", 2, 512},
                              {XHAL_DTYPE_Q6_K, "q6_k", 4, 256}};

/* Dequantize through xhal_copy into f32, f16, bf16: bit-exact with gguf-py (f16/bf16: the
 * reference rounded once). */
static void test_dequantize(const qcase *c)
{
    char name[64];
    size_t nb, nd;
    snprintf(name, sizeof name, "%s.bin", c->file);
    unsigned char *bin = xtest_read_file(XHAL_FORMATS_DATA, name, &nb);
    snprintf(name, sizeof name, "%s.deq.f32", c->file);
    float *ref = xtest_read_file(XHAL_FORMATS_DATA, name, &nd);
    int64_t n = c->rows * c->cols;
    xhal_tensor *q = make(CPU, c->dt, c->rows, c->cols);
    CHECK_OK(xhal_tensor_write(S, q, bin, nb));
    unsigned char *back = malloc(nb);
    CHECK_OK(xhal_tensor_read(S, q, back, nb));
    CHECK(memcmp(back, bin, nb) == 0);
    xhal_tensor *f = make(CPU, XHAL_DTYPE_F32, c->rows, c->cols);
    CHECK_OK(xhal_copy(S, q, f));
    float *y = malloc(nd);
    CHECK_OK(xhal_tensor_read(S, f, y, nd));
    CHECK(nd == (size_t)n * 4 && memcmp(y, ref, nd) == 0);
    xhal_tensor *h = make(CPU, XHAL_DTYPE_F16, c->rows, c->cols), *b = make(CPU, XHAL_DTYPE_BF16, c->rows, c->cols);
    CHECK_OK(xhal_copy(S, q, h));
    CHECK_OK(xhal_copy(S, q, b));
    uint16_t *hv = malloc((size_t)n * 2), *bv = malloc((size_t)n * 2);
    CHECK_OK(xhal_tensor_read(S, h, hv, (uint64_t)n * 2));
    CHECK_OK(xhal_tensor_read(S, b, bv, (uint64_t)n * 2));
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) bad += hv[i] != xhal_f32_to_f16(ref[i]) || bv[i] != xhal_f32_to_bf16(ref[i]);
    CHECK(bad == 0);

    /* views along whole blocks: rows 1.. with step 2 (strided), and an inner block range */
    xhal_tensor *rows = NULL, *inner = NULL, *fr = NULL, *fi = NULL;
    CHECK_OK(xhal_tensor_slice(q, 0, 1, c->rows, 2, &rows));
    int64_t bs = c->dt == XHAL_DTYPE_Q8_0 || c->dt == XHAL_DTYPE_Q4_0 ? 32 : 256;
    const int64_t i0 = c->cols - bs; /* the last block of every row */
    CHECK_OK(xhal_tensor_slice(q, 1, i0, c->cols, 1, &inner));
    int64_t nr = (c->rows - 1 + 1) / 2;
    CHECK_OK(xhal_contiguous(S, rows, XHAL_DTYPE_F32, &fr));
    CHECK_OK(xhal_contiguous(S, inner, XHAL_DTYPE_F32, &fi));
    float *yr = malloc((size_t)(nr * c->cols) * 4), *yi = malloc((size_t)(c->rows * bs) * 4);
    CHECK_OK(xhal_tensor_read(S, fr, yr, (uint64_t)(nr * c->cols) * 4));
    CHECK_OK(xhal_tensor_read(S, fi, yi, (uint64_t)(c->rows * bs) * 4));
    for (int64_t r = 0; r < nr; r++)
        CHECK(memcmp(yr + r * c->cols, ref + (1 + 2 * r) * c->cols, (size_t)c->cols * 4) == 0);
    for (int64_t r = 0; r < c->rows; r++) CHECK(memcmp(yi + r * bs, ref + r * c->cols + i0, (size_t)bs * 4) == 0);
    /* a strided quantized view read as bytes: its rows' blocks */
    int64_t rb = c->cols / bs * (int64_t)(nb / (size_t)(c->rows * c->cols / bs));
    unsigned char *rv = malloc((size_t)(nr * rb));
    CHECK_OK(xhal_tensor_read(S, rows, rv, (uint64_t)(nr * rb)));
    for (int64_t r = 0; r < nr; r++) CHECK(memcmp(rv + r * rb, bin + (1 + 2 * r) * rb, (size_t)rb) == 0);
    /* block copy between views: inner blocks into a fresh tensor, bytes equal */
    xhal_tensor *qi = make(CPU, c->dt, c->rows, bs);
    CHECK_OK(xhal_copy(S, inner, qi));
    xhal_tensor *fq = NULL;
    CHECK_OK(xhal_contiguous(S, qi, XHAL_DTYPE_F32, &fq));
    CHECK_OK(xhal_tensor_read(S, fq, yi, (uint64_t)(c->rows * bs) * 4));
    for (int64_t r = 0; r < c->rows; r++) CHECK(memcmp(yi + r * bs, ref + r * c->cols + i0, (size_t)bs * 4) == 0);
    printf("%s: cpu dequantization (f32, f16, bf16, row and block views) bit-exact with gguf-py\n", c->file);

    /* views that split a block */
    xhal_tensor *v = NULL;
    char msg[64];
    snprintf(msg, sizeof msg, "splits a %s block", xhal_dtype_name(c->dt));
    CHECK_STATUS(xhal_tensor_slice(q, 1, bs / 2, bs + bs / 2, 1, &v), XHAL_ERROR_INVALID_ARGUMENT, msg);
    CHECK_STATUS(xhal_tensor_slice(q, 1, 0, bs / 2, 1, &v), XHAL_ERROR_INVALID_ARGUMENT, msg);
    CHECK_STATUS(xhal_tensor_slice(q, -1, 0, c->cols, 2, &v), XHAL_ERROR_INVALID_ARGUMENT, "with step 1");
    CHECK_STATUS(xhal_tensor_transpose(q, 0, 1, &v), XHAL_ERROR_INVALID_ARGUMENT, "splits its blocks");
    int64_t bad_shape[2] = {c->rows * c->cols / (bs / 2), bs / 2};
    CHECK_STATUS(xhal_tensor_reshape(q, 2, bad_shape, &v), XHAL_ERROR_INVALID_ARGUMENT, msg);
    int64_t ok_shape[3] = {c->rows, c->cols / bs, bs};
    CHECK_OK(xhal_tensor_reshape(q, 3, ok_shape, &v));
    xhal_tensor_destroy(v);
    int64_t one[2] = {1, c->cols}, three[3] = {2, 3, c->cols};
    xhal_tensor *row0 = NULL, *r0 = NULL;
    CHECK_OK(xhal_tensor_slice(q, 0, 0, 1, 1, &row0));
    CHECK_OK(xhal_tensor_reshape(row0, 2, one, &r0));
    CHECK_OK(xhal_tensor_expand(r0, 3, three, &v));
    xhal_tensor *fe = NULL;
    CHECK_OK(xhal_contiguous(S, v, XHAL_DTYPE_F32, &fe));
    float *ye = malloc((size_t)(6 * c->cols) * 4);
    CHECK_OK(xhal_tensor_read(S, fe, ye, (uint64_t)(6 * c->cols) * 4));
    for (int k = 0; k < 6; k++) CHECK(memcmp(ye + k * c->cols, ref, (size_t)c->cols * 4) == 0);
    free(ye);
    xhal_tensor *objs[] = {q, f, h, b, rows, inner, fr, fi, qi, fq, row0, r0, v, fe};
    for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) xhal_tensor_destroy(objs[i]);
    free(rv);
    free(yr);
    free(yi);
    free(hv);
    free(bv);
    free(y);
    free(back);
    free(ref);
    free(bin);
}

/* f32 (and f16/bf16) -> q8_0 / q4_0 through xhal_copy: byte-exact with gguf-py's quantizer. */
static void test_quantize(xhal_dtype dt, const char *file, void (*qfn)(const float *, void *, int64_t))
{
    char name[64];
    size_t ns, nb;
    float *src = xtest_read_file(XHAL_FORMATS_DATA, "quant_src.f32", &ns);
    snprintf(name, sizeof name, "%s.bin", file);
    unsigned char *bin = xtest_read_file(XHAL_FORMATS_DATA, name, &nb);
    xhal_tensor *f = make(CPU, XHAL_DTYPE_F32, 4, 256), *q = make(CPU, dt, 4, 256);
    CHECK_OK(xhal_tensor_write(S, f, src, ns));
    CHECK_OK(xhal_copy(S, f, q));
    unsigned char *got = malloc(nb);
    CHECK_OK(xhal_tensor_read(S, q, got, nb));
    CHECK(memcmp(got, bin, nb) == 0);
    /* from f16: the f16 values quantized (converted to f32 exactly first) */
    xhal_tensor *h = make(CPU, XHAL_DTYPE_F16, 4, 256);
    CHECK_OK(xhal_copy(S, f, h));
    CHECK_OK(xhal_copy(S, h, q));
    CHECK_OK(xhal_tensor_read(S, q, got, nb));
    float *hf = malloc(ns);
    for (size_t i = 0; i < ns / 4; i++) hf[i] = xhal_f16_to_f32(xhal_f32_to_f16(src[i]));
    unsigned char *want = malloc(nb);
    qfn(hf, want, (int64_t)(ns / 4 / 32));
    CHECK(memcmp(got, want, nb) == 0);
    /* from a strided f32 view (a transposed copy's transpose) into a row slice of q */
    xhal_tensor *ft = make(CPU, XHAL_DTYPE_F32, 256, 4), *fv = NULL, *qrows = NULL, *fsub = NULL;
    xhal_tensor *tv = NULL;
    CHECK_OK(xhal_tensor_transpose(f, 0, 1, &tv));
    CHECK_OK(xhal_copy(S, tv, ft));
    CHECK_OK(xhal_tensor_transpose(ft, 0, 1, &fv)); /* [4,256], inner stride 4 */
    CHECK_OK(xhal_tensor_slice(fv, 0, 2, 4, 1, &fsub));
    CHECK_OK(xhal_tensor_slice(q, 0, 0, 2, 1, &qrows));
    CHECK_OK(xhal_copy(S, fsub, qrows));
    CHECK_OK(xhal_tensor_read(S, q, got, nb));
    CHECK(memcmp(got, bin + nb / 2, nb / 2) == 0); /* rows 0,1 now hold rows 2,3 */
    printf("%s: cpu quantization from f32 (dense and strided) byte-exact with gguf-py, from f16 as the codec\n", file);
    xhal_tensor *objs[] = {f, q, h, ft, fv, qrows, fsub, tv};
    for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) xhal_tensor_destroy(objs[i]);
    free(want);
    free(hf);
    free(got);
    free(bin);
    free(src);
}

/* matmul(a, W, trans_b = 1) with W block-quantized [N, K]: the product with the dequantized
 * weights (gguf-py's reference) within OPS.md's accumulate tolerance; M = 3 rows take the
 * direct q8_0/q4_0 kernels, the K-quants the dequantize-once path. */
static void test_matmul(const qcase *c)
{
    char name[64];
    size_t nb, nd;
    snprintf(name, sizeof name, "%s.bin", c->file);
    unsigned char *bin = xtest_read_file(XHAL_FORMATS_DATA, name, &nb);
    snprintf(name, sizeof name, "%s.deq.f32", c->file);
    float *w = xtest_read_file(XHAL_FORMATS_DATA, name, &nd);
    const int64_t N = c->rows, K = c->cols, M = 3, B = 2;
    xhal_tensor *q = make(CPU, c->dt, N, K);
    CHECK_OK(xhal_tensor_write(S, q, bin, nb));
    int64_t ash[3] = {B, M, K}, osh[3] = {B, M, N};
    xhal_tensor *a = NULL, *o = NULL, *ab = NULL, *ob = NULL;
    CHECK_OK(xhal_tensor_create(CPU, XHAL_DTYPE_F32, 3, ash, &a));
    CHECK_OK(xhal_tensor_create(CPU, XHAL_DTYPE_F32, 3, osh, &o));
    float *av = malloc((size_t)(B * M * K) * 4), ov[2 * 3 * 4], init[2 * 3 * 4];
    uint32_t r = 12345;
    for (int64_t i = 0; i < B * M * K; i++) {
        r = r * 1664525u + 1013904223u;
        av[i] = (float)((int32_t)(r >> 8) % 2000) / 1000.0f;
    }
    for (int i = 0; i < B * M * N; i++) init[i] = (float)i - 3.0f;
    CHECK_OK(xhal_tensor_write(S, a, av, (uint64_t)(B * M * K) * 4));
    CHECK_OK(xhal_tensor_write(S, o, init, (uint64_t)(B * M * N) * 4));
    CHECK_OK(xhal_matmul(S, a, q, 0, 1, 0.5, 2.0, o));
    CHECK_OK(xhal_tensor_read(S, o, ov, (uint64_t)(B * M * N) * 4));
    int64_t far = 0;
    for (int64_t bi = 0; bi < B; bi++)
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                double acc = 0, mag = 0;
                for (int64_t k = 0; k < K; k++) {
                    acc += (double)av[(bi * M + m) * K + k] * (double)w[n * K + k];
                    mag += fabs((double)av[(bi * M + m) * K + k] * (double)w[n * K + k]);
                }
                int64_t oi = (bi * M + m) * N + n;
                double want = 0.5 * acc + 2.0 * init[oi];
                /* OPS.md accumulate, f32: atol 1e-6, rtol 1e-5, mtol 16 u32 sqrt(K) + 1e-6 */
                double m_ = 0.5 * mag + 2.0 * fabs(init[oi]);
                double tol = 1e-6 + 1e-5 * fabs(want) + (16.0 * 5.96e-8 * sqrt((double)K) + 1e-6) * m_;
                if (!(fabs((double)ov[oi] - want) <= tol)) {
                    if (far < 3)
                        fprintf(stderr, "%s matmul [%lld,%lld,%lld]: %.9g vs %.9g\n", c->file, (long long)bi,
                                (long long)m, (long long)n, (double)ov[oi], want);
                    far++;
                }
            }
    CHECK(far == 0);
    /* bf16 activations and output: the same product rounded to bf16 */
    CHECK_OK(xhal_tensor_create(CPU, XHAL_DTYPE_BF16, 3, ash, &ab));
    CHECK_OK(xhal_tensor_create(CPU, XHAL_DTYPE_BF16, 3, osh, &ob));
    CHECK_OK(xhal_copy(S, a, ab));
    CHECK_OK(xhal_matmul(S, ab, q, 0, 1, 1.0, 0.0, ob));
    uint16_t obv[2 * 3 * 4];
    CHECK_OK(xhal_tensor_read(S, ob, obv, (uint64_t)(B * M * N) * 2));
    far = 0;
    for (int64_t bi = 0; bi < B; bi++)
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                double acc = 0, mag = 0;
                for (int64_t k = 0; k < K; k++) {
                    double x = xhal_bf16_to_f32(xhal_f32_to_bf16(av[(bi * M + m) * K + k]));
                    acc += x * (double)w[n * K + k];
                    mag += fabs(x * (double)w[n * K + k]);
                }
                float got = xhal_bf16_to_f32(obv[(bi * M + m) * N + n]);
                if (!(fabs((double)got - acc) <= fabs(acc) / 256.0 + 1e-6 * mag)) far++;
            }
    CHECK(far == 0);
    CHECK_STATUS(xhal_matmul(S, a, q, 0, 0, 1.0, 0.0, o), XHAL_ERROR_UNSUPPORTED, "must be used transposed");
    printf("%s: cpu matmul with quantized weights (batched, alpha/beta, bf16) matches the dequantized product\n",
           c->file);
    xhal_tensor *objs[] = {q, a, o, ab, ob};
    for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) xhal_tensor_destroy(objs[i]);
    free(av);
    free(w);
    free(bin);
}

/* Pairs and ops that do not take block dtypes, buffers, other devices. */
static void test_refusals(xhal_context *ctx)
{
    xhal_tensor *q8 = make(CPU, XHAL_DTYPE_Q8_0, 2, 64), *q4 = make(CPU, XHAL_DTYPE_Q4_0, 2, 64);
    xhal_tensor *qk = make(CPU, XHAL_DTYPE_Q4_K, 2, 256), *fk = make(CPU, XHAL_DTYPE_F32, 2, 256);
    xhal_tensor *f = make(CPU, XHAL_DTYPE_F32, 2, 64), *i32 = make(CPU, XHAL_DTYPE_I32, 2, 64);
    xhal_tensor *f64 = make(CPU, XHAL_DTYPE_F64, 2, 64);
    CHECK_STATUS(xhal_copy(S, q8, q4), XHAL_ERROR_UNSUPPORTED, "q8_0 -> q4_0 is not supported");
    CHECK_STATUS(xhal_copy(S, fk, qk), XHAL_ERROR_UNSUPPORTED, "f32 -> q4_k is not supported");
    CHECK_STATUS(xhal_copy(S, q8, i32), XHAL_ERROR_UNSUPPORTED, "q8_0 -> i32");
    CHECK_STATUS(xhal_copy(S, f64, q8), XHAL_ERROR_UNSUPPORTED, "f64 -> q8_0");
    CHECK_OK(xhal_copy(S, qk, fk));
    xhal_tensor *out = NULL;
    CHECK_STATUS(xhal_contiguous(S, q8, XHAL_DTYPE_I8, &out), XHAL_ERROR_UNSUPPORTED, "q8_0 -> i8");
    CHECK_STATUS(xhal_fill(S, q8, 1.0), XHAL_ERROR_UNSUPPORTED, "block-quantized (q8_0)");
    CHECK_STATUS(xhal_add(S, q8, q8, q8), XHAL_ERROR_DTYPE_MISMATCH, "q8_0");
    CHECK_STATUS(xhal_unary(S, XHAL_OP_EXP, q8, q8), XHAL_ERROR_DTYPE_MISMATCH, "q8_0");
    {
        int64_t s2[2] = {2, 64}, so[2] = {2, 2};
        xhal_tensor *a64 = NULL, *o64 = NULL;
        CHECK_OK(xhal_tensor_create(CPU, XHAL_DTYPE_F64, 2, s2, &a64));
        CHECK_OK(xhal_tensor_create(CPU, XHAL_DTYPE_F64, 2, so, &o64));
        CHECK_STATUS(xhal_matmul(S, a64, q8, 0, 1, 1.0, 0.0, o64), XHAL_ERROR_DTYPE_MISMATCH, "a is f64");
        CHECK_STATUS(xhal_matmul(S, q8, q8, 0, 1, 1.0, 0.0, o64), XHAL_ERROR_DTYPE_MISMATCH, "q8_0");
        xhal_tensor_destroy(a64);
        xhal_tensor_destroy(o64);
    }
    int64_t is[1] = {1};
    xhal_tensor *idx = NULL, *g = make(CPU, XHAL_DTYPE_Q8_0, 1, 64);
    CHECK_OK(xhal_tensor_create(CPU, XHAL_DTYPE_I32, 1, is, &idx));
    CHECK_STATUS(xhal_gather(S, q8, idx, g), XHAL_ERROR_DTYPE_MISMATCH, "table is block-quantized (q8_0)");

    /* tensors over a buffer: strides must keep whole blocks; any byte offset */
    xhal_buffer *buf = NULL;
    CHECK_OK(xhal_buffer_create(CPU, 4096, &buf));
    xhal_tensor *v = NULL;
    int64_t shape[2] = {2, 64}, st_bad[2] = {48, 1}, st_ok[2] = {96, 1}, st_inner[2] = {64, 2};
    CHECK_STATUS(xhal_tensor_from_buffer(buf, XHAL_DTYPE_Q8_0, 2, shape, st_bad, 0, &v), XHAL_ERROR_INVALID_ARGUMENT,
                 "stride 48 of axis 0 splits a q8_0 block");
    CHECK_STATUS(xhal_tensor_from_buffer(buf, XHAL_DTYPE_Q8_0, 2, shape, st_inner, 0, &v), XHAL_ERROR_INVALID_ARGUMENT,
                 "innermost stride 2 splits q8_0 blocks");
    CHECK_OK(xhal_tensor_from_buffer(buf, XHAL_DTYPE_Q8_0, 2, shape, st_ok, 3, &v));
    /* bytes: rows 3 blocks apart, 2 blocks each: 3 + (3 + 2) * 34 = 173 */
    xhal_tensor *big = NULL;
    int64_t bshape[1] = {32 * 121};
    CHECK_STATUS(xhal_tensor_from_buffer(buf, XHAL_DTYPE_Q8_0, 1, bshape, NULL, 0, &big), XHAL_ERROR_OUT_OF_RANGE,
                 "reaches byte 4114");
    CHECK_OK(xhal_copy(S, v, f));
    xhal_tensor_destroy(v);
    xhal_buffer_destroy(buf);

    /* another device (opencl on PoCL in CI, when present): it lists the block dtypes and runs
     * them with its own kernels (xk_ops.cl); a cross-device copy dequantizes on cpu:0 */
    xhal_device *ocl = NULL;
    if (xhal_device_find(ctx, "opencl", &ocl) == XHAL_OK) {
        xhal_device_info info;
        CHECK_OK(xhal_device_get_info(ocl, &info));
        CHECK((info.dtypes & XHAL_DTYPE_BIT(XHAL_DTYPE_Q8_0)) != 0);
        xhal_stream *os = NULL;
        CHECK_OK(xhal_stream_create(ocl, &os));
        xhal_tensor *oq = make(ocl, XHAL_DTYPE_Q8_0, 2, 64), *of = make(ocl, XHAL_DTYPE_F32, 2, 64);
        size_t nb;
        unsigned char *bin = xtest_read_file(XHAL_FORMATS_DATA, "q8_0.bin", &nb);
        float a[128], b[128];
        xhal_dequant_q8_0(bin, b, 4);
        /* on opencl:0: dequantized bit-exact */
        CHECK_OK(xhal_tensor_write(os, oq, bin, 4 * 34));
        CHECK_OK(xhal_copy(os, oq, of));
        CHECK_OK(xhal_tensor_read(os, of, a, sizeof a));
        CHECK(memcmp(a, b, sizeof a) == 0);
        /* matmul on opencl:0: ones [1, 64] times the two dequantized rows */
        int64_t as2[2] = {1, 64}, os2[2] = {1, 2};
        xhal_tensor *oa = NULL, *oo = NULL;
        CHECK_OK(xhal_tensor_create(ocl, XHAL_DTYPE_F32, 2, as2, &oa));
        CHECK_OK(xhal_tensor_create(ocl, XHAL_DTYPE_F32, 2, os2, &oo));
        CHECK_OK(xhal_fill(os, oa, 1.0));
        CHECK_OK(xhal_matmul(os, oa, oq, 0, 1, 1.0, 0.0, oo));
        float r[2];
        CHECK_OK(xhal_tensor_read(os, oo, r, sizeof r));
        for (int n = 0; n < 2; n++) {
            double want = 0, mag = 0;
            for (int k = 0; k < 64; k++) {
                want += b[n * 64 + k];
                mag += fabs(b[n * 64 + k]);
            }
            CHECK(fabs(r[n] - want) <= 1e-6 * mag + 1e-6);
        }
        xhal_tensor_destroy(oa);
        xhal_tensor_destroy(oo);
        /* cpu q8_0 -> opencl f32: dequantized on cpu:0, then moved */
        CHECK_OK(xhal_tensor_write(S, q8, bin, 4 * 34));
        CHECK_OK(xhal_copy(os, q8, of));
        CHECK_OK(xhal_tensor_read(os, of, a, sizeof a));
        CHECK(memcmp(a, b, sizeof a) == 0);
        printf("opencl:0: q8_0 dequantized bit-exact, q8_0 matmul within 1e-6; cpu:0 q8_0 -> opencl:0 f32 bit-exact\n");
        free(bin);
        xhal_tensor_destroy(oq);
        xhal_tensor_destroy(of);
        xhal_stream_destroy(os);
    }
    xhal_tensor *objs[] = {q8, q4, qk, fk, f, i32, f64, idx, g};
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
    test_info();
    test_create();
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) test_dequantize(&CASES[i]);
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) test_matmul(&CASES[i]);
    test_quantize(XHAL_DTYPE_Q8_0, "q8_0", xhal_quant_q8_0);
    test_quantize(XHAL_DTYPE_Q4_0, "q4_0", xhal_quant_q4_0);
    test_refusals(ctx);
    xhal_context_destroy(ctx);
    return xtest_finish("test_quant_tensor");
}
