/* test_model_tp.c - tensor parallelism of the Llama port (xllama_load_tp) in one process, over
 * the host engine: TP=2 over cpu:0 + cpu:0 and over cpu:0 + opencl:0 (when present: the
 * collective path must not care which backends hold the ranks) on the committed tiny models of
 * every family (dense, q/k/v bias, q_norm/k_norm, sliding window, GLM's partial rotary and fused
 * gate_up, Glm4's sandwich norms, the three mixtures of experts, GGUF f32 and q8_0), compared
 * with the one-device run on cpu:0: the same greedy ids, and logits within the documented bound
 * (conformance/MODELS.md, "Tensor parallelism": the split changes only the summation order, and
 * with two backends the arithmetic of the second one). TP over one rank is bit-identical to
 * xllama_load. Shapes that do not divide, a quantized block split by the columns, decode_graph,
 * and bad slices of the format readers are refused with the key / tensor named. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "llama.h"
#include "xhal/xhal_gguf.h"
#include "xhal/xhal_safetensors.h"
#include "xtest.h"

#ifndef XLLAMA_TEST_REF_DIR
#error "XLLAMA_TEST_REF_DIR must name conformance/models/llama/reference"
#endif

enum { NP = 10, NG = 8 };
static const int32_t prompt[NP] = {1, 17, 42, 99, 123, 7, 250, 33, 5, 181};

/* The documented bound: max |logit_tp - logit_1| <= tol x max(1, max |logit_1|), tol by compute
 * dtype (f32: 1e-4; f16 / bf16: the summands are rounded to the compute dtype before the sum, as
 * on one device the matmul's partial sums are not: 4e-2 and 8e-2). */
static double bound(xhal_dtype c) { return c == XHAL_DTYPE_F32 ? 1e-4 : c == XHAL_DTYPE_F16 ? 4e-2 : 8e-2; }

typedef struct run_out {
    int32_t ids[NG];
    float *pl, *gl; /* [NP, V], [NG, V] */
    int64_t V;
    xhal_dtype cdt;
} run_out;

static int generate(xllama_model *m, run_out *r)
{
    r->V = xllama_get_config(m)->vocab_size;
    r->cdt = xllama_compute_dtype(m);
    r->pl = calloc((size_t)(NP * r->V), sizeof(float));
    r->gl = calloc((size_t)(NG * r->V), sizeof(float));
    if (!r->pl || !r->gl) return -1;
    xhal_status s = xllama_generate(m, prompt, NP, NG, r->ids, r->pl, r->gl, NULL);
    if (s != XHAL_OK) fprintf(stderr, "generate: %s\n", xllama_last_error());
    return s == XHAL_OK ? 0 : -1;
}

static void run_free(run_out *r)
{
    free(r->pl);
    free(r->gl);
}

static xllama_options opts(void)
{
    xllama_options o;
    xllama_options_init(&o);
    o.max_seq = NP + NG;
    o.max_batch = 4; /* the prompt in chunks of 4, 4, 2 */
    return o;
}

/* max |a - b| over n, and max |b| */
static void diff(const float *a, const float *b, size_t n, double *err, double *mag)
{
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > *err || d != d) *err = d;
        if (fabs((double)b[i]) > *mag) *mag = fabs((double)b[i]);
    }
}

static double worst_rel[3]; /* measured error / scale, per compute dtype class: f32, f16, bf16 */

static void compare_tp(xhal_context *ctx, xhal_device *const *devs, const char *set, const char *name, const char *dir,
                       const run_out *one)
{
    xhal_comm *comm = NULL;
    CHECK_OK(xhal_comm_create(ctx, devs, 2, NULL, &comm));
    if (!comm) return;
    xllama_options o = opts();
    xllama_model *m = NULL;
    CHECK_OK(xllama_load_tp(comm, dir, &o, &m));
    if (!m) {
        fprintf(stderr, "%s: %s\n", name, xllama_last_error());
        xhal_comm_destroy(comm);
        return;
    }
    CHECK(xllama_tp_size(m) == 2);
    CHECK(xllama_get_config(m)->num_heads == 4); /* the whole model's config */
    run_out tp;
    memset(&tp, 0, sizeof tp);
    if (generate(m, &tp) == 0) {
        CHECK(memcmp(tp.ids, one->ids, sizeof tp.ids) == 0);
        double err = 0, mag = 0;
        diff(tp.pl, one->pl, (size_t)(NP * one->V), &err, &mag);
        diff(tp.gl, one->gl, (size_t)(NG * one->V), &err, &mag);
        const double scale = mag > 1 ? mag : 1, tol = bound(one->cdt);
        CHECK(err <= tol * scale);
        const int k = one->cdt == XHAL_DTYPE_F32 ? 0 : one->cdt == XHAL_DTYPE_F16 ? 1 : 2;
        if (err / scale > worst_rel[k]) worst_rel[k] = err / scale;
        printf("%-24s TP=2 %-18s %s: ids %s, max |dlogit| %.3g (%.3g of max |logit| %.3g; bound %.0e)\n", name, set,
               xhal_dtype_name(one->cdt), memcmp(tp.ids, one->ids, sizeof tp.ids) ? "DIFFER" : "equal", err,
               err / scale, mag, tol);
        /* a second generation after reset: the caches of both ranks start again */
        run_out again;
        memset(&again, 0, sizeof again);
        if (generate(m, &again) == 0) {
            CHECK(memcmp(again.ids, tp.ids, sizeof tp.ids) == 0);
            CHECK(memcmp(again.pl, tp.pl, (size_t)(NP * tp.V) * sizeof(float)) == 0);
        } else {
            CHECK(0);
        }
        run_free(&again);
    } else {
        CHECK(0);
    }
    run_free(&tp);
    xllama_destroy(m);
    CHECK_OK(xhal_comm_destroy(comm));
}

/* tiny-llama-f32 with attention_bias and mlp_bias (none of the committed references has the
 * row-parallel biases o_proj.bias and down_proj.bias, which TP adds once after the all_reduce):
 * its config with both set, its tensors plus q/k/v/o and gate/up/down biases of a size that
 * moves the logits (a bias added on every rank would be far outside the bound), written as a
 * safetensors file into a fresh folder under /tmp. 0 on success. */
static int make_bias_model(char *out, size_t len)
{
    char src[700], path[800];
    snprintf(src, sizeof src, "%s/tiny-llama-f32", XLLAMA_TEST_REF_DIR);
    snprintf(out, len, "/tmp/xhal-tp-bias-XXXXXX");
    if (!mkdtemp(out)) return -1;
    size_t n = 0;
    char *cfg = xtest_read_file(src, "config.json", &n);
    char *a = strstr(cfg, "\"attention_bias\": false"), *b = strstr(cfg, "\"mlp_bias\": false");
    snprintf(path, sizeof path, "%s/config.json", out);
    FILE *f = a && b ? fopen(path, "wb") : NULL;
    if (!f) {
        free(cfg);
        return -1;
    }
    /* "false" -> "true " keeps the length (JSON ignores the space) */
    memcpy(a + strlen("\"attention_bias\": "), "true ", 5);
    memcpy(b + strlen("\"mlp_bias\": "), "true ", 5);
    fwrite(cfg, 1, n, f);
    fclose(f);
    free(cfg);
    xhal_safetensors *st = NULL;
    if (xhal_safetensors_open(src, &st) != XHAL_OK) return -1;
    int64_t count = 0;
    xhal_safetensors_count(st, &count);
    static const struct {
        const char *name;
        int64_t len;
    } bias[] = {{"self_attn.q_proj.bias", 64}, {"self_attn.k_proj.bias", 32}, {"self_attn.v_proj.bias", 32},
                {"self_attn.o_proj.bias", 64}, {"mlp.gate_proj.bias", 128},   {"mlp.up_proj.bias", 128},
                {"mlp.down_proj.bias", 64}};
    const int nb = (int)(sizeof bias / sizeof bias[0]);
    const size_t hcap = 65536;
    size_t hlen = 0;
    char *hdr = malloc(hcap);
    uint64_t off = 0;
    if (!hdr) {
        xhal_safetensors_close(st);
        return -1;
    }
    hlen += (size_t)snprintf(hdr + hlen, hcap - hlen, "{");
    for (int64_t i = 0; i < count; i++) {
        xhal_safetensors_tensor t;
        xhal_safetensors_at(st, i, &t);
        hlen +=
            (size_t)snprintf(hdr + hlen, hcap - hlen, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[", i ? "," : "", t.name);
        for (int d = 0; d < t.ndim; d++)
            hlen += (size_t)snprintf(hdr + hlen, hcap - hlen, "%s%lld", d ? "," : "", (long long)t.shape[d]);
        hlen += (size_t)snprintf(hdr + hlen, hcap - hlen, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                                 (unsigned long long)(off + t.size));
        off += t.size;
    }
    for (int l = 0; l < 2; l++)
        for (int k = 0; k < nb; k++) {
            hlen += (size_t)snprintf(hdr + hlen, hcap - hlen,
                                     ",\"model.layers.%d.%s\":{\"dtype\":\"F32\",\"shape\":[%lld],\"data_offsets\":["
                                     "%llu,%llu]}",
                                     l, bias[k].name, (long long)bias[k].len, (unsigned long long)off,
                                     (unsigned long long)(off + 4 * (uint64_t)bias[k].len));
            off += 4 * (uint64_t)bias[k].len;
        }
    hlen += (size_t)snprintf(hdr + hlen, hcap - hlen, "}");
    while (hlen % 8) hdr[hlen++] = ' ';
    snprintf(path, sizeof path, "%s/model.safetensors", out);
    f = fopen(path, "wb");
    const int ok = f != NULL;
    if (ok) {
        uint64_t h64 = hlen;
        fwrite(&h64, 8, 1, f);
        fwrite(hdr, 1, hlen, f);
        for (int64_t i = 0; i < count; i++) {
            xhal_safetensors_tensor t;
            xhal_safetensors_at(st, i, &t);
            fwrite(t.data, 1, (size_t)t.size, f);
        }
        uint32_t x = 12345;
        for (int l = 0; l < 2; l++)
            for (int k = 0; k < nb; k++)
                for (int64_t i = 0; i < bias[k].len; i++) {
                    x = x * 1664525u + 1013904223u;
                    float v = ((float)(x >> 8) / 16777216.0f - 0.5f) * 0.6f;
                    fwrite(&v, 4, 1, f);
                }
        fclose(f);
    }
    free(hdr);
    xhal_safetensors_close(st);
    return ok ? 0 : -1;
}

static void remove_dir(const char *dir)
{
    char path[800];
    snprintf(path, sizeof path, "%s/config.json", dir);
    remove(path);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    remove(path);
    rmdir(dir);
}

static void refusals(xhal_context *ctx, xhal_device *cpu)
{
    char dir[700], gguf[700];
    snprintf(dir, sizeof dir, "%s/tiny-llama-f32", XLLAMA_TEST_REF_DIR);
    xhal_device *d4[4] = {cpu, cpu, cpu, cpu};
    xllama_options o = opts();
    xllama_model *m = NULL;
    xhal_comm *comm = NULL;
    /* 4 ranks: the 4 query heads divide, the 2 kv heads do not */
    CHECK_OK(xhal_comm_create(ctx, d4, 4, NULL, &comm));
    CHECK_STATUS(xllama_load_tp(comm, dir, &o, &m), XHAL_ERROR_INVALID_ARGUMENT, NULL);
    CHECK(strstr(xllama_last_error(), "num_key_value_heads (2) divisible by 4") != NULL);
    CHECK(m == NULL);
    xhal_comm_destroy(comm);
    comm = NULL;
    /* 3 ranks: 4 query heads */
    CHECK_OK(xhal_comm_create(ctx, d4, 3, NULL, &comm));
    CHECK_STATUS(xllama_load_tp(comm, dir, &o, &m), XHAL_ERROR_INVALID_ARGUMENT, NULL);
    CHECK(strstr(xllama_last_error(), "num_attention_heads (4) divisible by 3") != NULL);
    /* the GGUF key is named for a GGUF file */
    snprintf(gguf, sizeof gguf, "%s/gguf/tiny-llama-f32.gguf", XLLAMA_TEST_REF_DIR);
    CHECK_STATUS(xllama_load_tp(comm, gguf, &o, &m), XHAL_ERROR_INVALID_ARGUMENT, NULL);
    CHECK(strstr(xllama_last_error(), "llama.attention.head_count (4) divisible by 3") != NULL);
    xhal_comm_destroy(comm);
    comm = NULL;
    CHECK_OK(xhal_comm_create(ctx, d4, 2, NULL, &comm));
    /* Q4_K_M over 2 ranks: o_proj's 256 columns give each rank 128, half a q4_K block */
    snprintf(gguf, sizeof gguf, "%s/gguf/synthetic-q4_k_m.gguf", XLLAMA_TEST_REF_DIR);
    CHECK_STATUS(xllama_load_tp(comm, gguf, &o, &m), XHAL_ERROR_UNSUPPORTED, NULL);
    CHECK(strstr(xllama_last_error(), "gives each rank 128 columns of 'blk.0.attn_output.weight', which "
                                      "splits its q4_k blocks of 256 elements") != NULL);
    /* decode_graph: the all_reduce is not captured */
    o.decode_graph = 1;
    CHECK_STATUS(xllama_load_tp(comm, dir, &o, &m), XHAL_ERROR_UNSUPPORTED, NULL);
    CHECK(strstr(xllama_last_error(), "decode_graph") != NULL);
    o.decode_graph = 0;
    CHECK_STATUS(xllama_load_tp(NULL, dir, &o, &m), XHAL_ERROR_INVALID_ARGUMENT, NULL);
    CHECK_STATUS(xllama_load_tp(comm, dir, &o, NULL), XHAL_ERROR_INVALID_ARGUMENT, NULL);
    /* a missing model names the rank */
    CHECK(xllama_load_tp(comm, "/nonexistent-model", &o, &m) != XHAL_OK);
    CHECK(strstr(xllama_last_error(), "tensor parallel rank 0 of 2") != NULL);
    xhal_comm_destroy(comm);

    /* the sliced readers refuse slices outside the tensor */
    xhal_safetensors *st = NULL;
    xhal_stream *s = NULL;
    xhal_tensor *t = NULL;
    CHECK_OK(xhal_stream_create(cpu, &s));
    CHECK_OK(xhal_safetensors_open(dir, &st));
    if (st && s) {
        CHECK_STATUS(xhal_safetensors_upload_slice(st, "model.norm.weight", 1, 0, 1, s, XHAL_DTYPE_INVALID, &t),
                     XHAL_ERROR_INVALID_ARGUMENT, "axis 1");
        CHECK_STATUS(xhal_safetensors_upload_slice(st, "model.norm.weight", 0, 10, 65, s, XHAL_DTYPE_INVALID, &t),
                     XHAL_ERROR_INVALID_ARGUMENT, "[10, 65)");
        CHECK_STATUS(xhal_safetensors_upload_slice(st, "no.such.tensor", 0, 0, 1, s, XHAL_DTYPE_INVALID, &t),
                     XHAL_ERROR_NOT_FOUND, NULL);
        /* a column slice reads exactly those columns */
        xhal_safetensors_tensor info;
        CHECK_OK(xhal_safetensors_get(st, "model.layers.0.self_attn.o_proj.weight", &info));
        CHECK_OK(xhal_safetensors_upload_slice(st, "model.layers.0.self_attn.o_proj.weight", 1, 32, 48, s,
                                               XHAL_DTYPE_INVALID, &t));
        if (t && info.dtype == XHAL_DTYPE_F32) {
            float got[64 * 16];
            CHECK_OK(xhal_tensor_read(s, t, got, sizeof got));
            int same = 1;
            for (int r = 0; r < 64; r++)
                for (int c = 0; c < 16; c++) {
                    float want;
                    memcpy(&want, (const char *)info.data + ((size_t)r * 64 + 32 + (size_t)c) * 4, 4);
                    same &= memcmp(&want, &got[r * 16 + c], 4) == 0;
                }
            CHECK(same);
        }
        xhal_tensor_destroy(t);
    }
    xhal_safetensors_close(st);
    xhal_gguf *g = NULL;
    snprintf(gguf, sizeof gguf, "%s/gguf/tiny-llama-q8_0.gguf", XLLAMA_TEST_REF_DIR);
    CHECK_OK(xhal_gguf_open(gguf, &g));
    if (g) {
        xhal_gguf_tensor gt;
        char buf[64];
        CHECK_OK(xhal_gguf_tensor_get(g, "blk.0.attn_output.weight", &gt));
        CHECK_STATUS(xhal_gguf_tensor_read_slice(g, &gt, 1, 16, 48, buf, sizeof buf), XHAL_ERROR_INVALID_ARGUMENT,
                     "splits its");
        CHECK_STATUS(xhal_gguf_tensor_read_slice(g, &gt, 0, 0, 65, buf, sizeof buf), XHAL_ERROR_INVALID_ARGUMENT,
                     "[0, 65)");
        CHECK_STATUS(xhal_gguf_tensor_read_slice(g, &gt, 1, 0, 32, buf, sizeof buf), XHAL_ERROR_INVALID_ARGUMENT,
                     "size");
    }
    xhal_gguf_close(g);
    xhal_stream_destroy(s);
}

int main(void)
{
    xhal_context *ctx = NULL;
    CHECK_OK(xhal_context_create(NULL, &ctx));
    xhal_device *cpu = NULL, *ocl = NULL;
    CHECK_OK(xhal_device_find(ctx, "cpu:0", &cpu));
    if (!cpu) return xtest_finish("test_model_tp");
    if (xhal_device_find(ctx, "opencl:0", &ocl) != XHAL_OK) {
        printf("test_model_tp: opencl:0 not present, the heterogeneous set is skipped\n");
        ocl = NULL;
    }
    char bias_dir[64] = "";
    if (make_bias_model(bias_dir, sizeof bias_dir) != 0) {
        fprintf(stderr, "test_model_tp: cannot write the biased model under /tmp\n");
        CHECK(0);
        bias_dir[0] = '\0';
    }
    static const char *const models[] = {"tiny-llama-f32",
                                         "tiny-llama-tied-f16",
                                         "tiny-llama3-bf16",
                                         "tiny-qwen2-bf16",
                                         "tiny-qwen3-bf16",
                                         "tiny-mistral-bf16",
                                         "tiny-glm-bf16",
                                         "tiny-glm4-f16",
                                         "tiny-mixtral-bf16",
                                         "tiny-qwen2moe-bf16",
                                         "tiny-qwen3moe-bf16",
                                         "gguf/tiny-llama-f32.gguf",
                                         "gguf/tiny-llama-q8_0.gguf",
                                         "llama-f32+biases"};
    const size_t n_models = sizeof models / sizeof models[0];
    for (size_t k = 0; k < n_models; k++) {
        char dir[700];
        if (k == n_models - 1 && !bias_dir[0]) break;
        if (k == n_models - 1)
            snprintf(dir, sizeof dir, "%s", bias_dir);
        else
            snprintf(dir, sizeof dir, "%s/%s", XLLAMA_TEST_REF_DIR, models[k]);
        xllama_options o = opts();
        xllama_model *m = NULL;
        CHECK_OK(xllama_load(cpu, dir, &o, &m));
        if (!m) continue;
        run_out one;
        memset(&one, 0, sizeof one);
        if (generate(m, &one) != 0) {
            CHECK(0);
            run_free(&one);
            xllama_destroy(m);
            continue;
        }
        xllama_destroy(m);
        if (k == 0) { /* TP over one rank is the one-device model, bit for bit */
            xhal_comm *c1 = NULL;
            CHECK_OK(xhal_comm_create(ctx, &cpu, 1, NULL, &c1));
            CHECK_OK(xllama_load_tp(c1, dir, &o, &m));
            run_out r1;
            memset(&r1, 0, sizeof r1);
            if (m && generate(m, &r1) == 0) {
                CHECK(xllama_tp_size(m) == 1);
                CHECK(memcmp(r1.ids, one.ids, sizeof r1.ids) == 0);
                CHECK(memcmp(r1.pl, one.pl, (size_t)(NP * one.V) * sizeof(float)) == 0);
                CHECK(memcmp(r1.gl, one.gl, (size_t)(NG * one.V) * sizeof(float)) == 0);
            } else {
                CHECK(0);
            }
            run_free(&r1);
            xllama_destroy(m);
            xhal_comm_destroy(c1);
        }
        xhal_device *same[2] = {cpu, cpu}, *mixed[2] = {cpu, ocl};
        compare_tp(ctx, same, "cpu:0 + cpu:0", models[k], dir, &one);
        if (ocl) compare_tp(ctx, mixed, "cpu:0 + opencl:0", models[k], dir, &one);
        run_free(&one);
    }
    if (bias_dir[0]) remove_dir(bias_dir);
    refusals(ctx, cpu);
    printf("worst measured error / max(1, max |logit|): f32 %.3g, f16 %.3g, bf16 %.3g\n", worst_rel[0], worst_rel[1],
           worst_rel[2]);
    CHECK_OK(xhal_context_destroy(ctx));
    return xtest_finish("test_model_tp");
}
