/* test_model.c - the Llama port on the CPU device: the model suite passes on the committed
 * references; a weight changed by a small amount makes it fail and say by how much; chunked
 * prefill equals one-shot prefill; config, folder and weight errors name what is wrong; the
 * .npy writer round-trips. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llama.h"
#include "model_suite.h"
#include "npy.h"
#include "xhal/xhal_safetensors.h"
#include "xtest.h"

#ifndef XLLAMA_TEST_REF_DIR
#error "XLLAMA_TEST_REF_DIR must name conformance/models/llama/reference"
#endif

static char tmpdir[256];

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        if (len) *len = (size_t)n;
    }
    return buf;
}

static void write_all(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n) {
        perror(path);
        exit(2);
    }
    fclose(f);
}

/* Copy reference model `name` into tmpdir/<dst>; returns the new folder in out. */
static void copy_model(const char *name, const char *dst, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", tmpdir, dst);
    mkdir(out, 0700);
    const char *files[] = {"config.json", "model.safetensors", "reference.json", "logits_prompt.npy",
                           "logits_generated.npy"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char src[700], to[700];
        size_t n = 0;
        snprintf(src, sizeof src, "%s/%s/%s", XLLAMA_TEST_REF_DIR, name, files[i]);
        snprintf(to, sizeof to, "%s/%s", out, files[i]);
        char *b = read_all(src, &n);
        if (!b) {
            fprintf(stderr, "cannot read %s\n", src);
            exit(2);
        }
        write_all(to, b, n);
        free(b);
    }
}

/* Replace the first occurrence of `from` in dir/config.json with `to`. */
static void edit_config(const char *dir, const char *from, const char *to)
{
    char p[700];
    snprintf(p, sizeof p, "%s/config.json", dir);
    char *t = read_all(p, NULL);
    char *at = t ? strstr(t, from) : NULL;
    if (!at) {
        fprintf(stderr, "config edit: '%s' not found in %s\n", from, p);
        exit(2);
    }
    size_t a = (size_t)(at - t), fl = strlen(from), tl = strlen(to), n = strlen(t);
    char *o = malloc(n - fl + tl + 1);
    memcpy(o, t, a);
    memcpy(o + a, to, tl);
    memcpy(o + a + tl, at + fl, n - a - fl + 1);
    write_all(p, o, strlen(o));
    free(o);
    free(t);
}

/* The committed references: the three Llama ones run in their weights' dtype, each family of
 * issue 12 in f32 and in its half dtype (reference.json's compute_dtypes). */
static const char *const family_refs[] = {"tiny-glm-bf16",
                                          "tiny-glm4-f16",
                                          "tiny-llama-linear-f16",
                                          "tiny-llama3-bf16",
                                          "tiny-mistral-bf16",
                                          "tiny-mixtral-bf16",
                                          "tiny-qwen2-bf16",
                                          "tiny-qwen2moe-bf16",
                                          "tiny-qwen3-bf16",
                                          "tiny-qwen3moe-bf16",
                                          NULL};

static void test_suite_passes(xhal_context *ctx, xhal_device *dev)
{
    xc_model_result r[40];
    int n = xc_model_suite_run(ctx, dev, NULL, r, 40);
    int want = 3;
    for (const char *const *f = family_refs; *f; f++) want += 2;
    CHECK(n == want);
    if (n < 0) fprintf(stderr, "suite: %s\n", xllama_last_error());
    int f32_seen = 0;
    for (int i = 0; i < n; i++) {
        printf("%-22s %-4s %-4s status %d  max_abs_err %.3g (tol %.3g)  min_cos %.9f (tol %.6f)  top1 %.3f  "
               "greedy %d/%d  prefill %.0f tok/s  decode %.0f tok/s\n  %s\n",
               r[i].model, r[i].weight_dtype, r[i].compute_dtype, r[i].status, r[i].max_abs_err, r[i].tol_max_abs,
               r[i].min_cosine, r[i].tol_cosine, r[i].top1_agreement, r[i].greedy_match ? r[i].n_generated : 0,
               r[i].n_generated, r[i].prefill_tok_s, r[i].decode_tok_s, r[i].message);
        CHECK(r[i].status == 1);
        CHECK(r[i].greedy_match == 1 && r[i].n_generated == 16);
        CHECK(r[i].top1_agreement == 1.0);
        CHECK(r[i].n_positions == 10);
        CHECK(r[i].max_abs_err <= r[i].tol_max_abs);
        CHECK(r[i].min_cosine >= r[i].tol_cosine);
        CHECK(r[i].prefill_tok_s > 0 && r[i].decode_tok_s > 0);
        if (strcmp(r[i].compute_dtype, "f32") == 0) {
            f32_seen = 1;
            CHECK(r[i].tol_max_abs <= 1e-4);
            CHECK(r[i].max_abs_err < 1e-4);
        }
    }
    /* every family ran in f32 and in its weights' dtype */
    for (const char *const *f = family_refs; *f; f++) {
        int seen_f32 = 0, seen_half = 0;
        for (int i = 0; i < n; i++)
            if (strcmp(r[i].model, *f) == 0) {
                seen_f32 |= strcmp(r[i].compute_dtype, "f32") == 0;
                seen_half |= strcmp(r[i].compute_dtype, r[i].weight_dtype) == 0 && strcmp(r[i].weight_dtype, "f32");
            }
        if (!(seen_f32 && seen_half))
            fprintf(stderr, "family reference %s: f32 %d, half %d\n", *f, seen_f32, seen_half);
        CHECK(seen_f32 && seen_half);
    }
    CHECK(f32_seen);
    /* max smaller than the number of references: only max results. */
    CHECK(xc_model_suite_run(ctx, dev, NULL, r, 1) == 1);
    /* A folder with no references. */
    CHECK(xc_model_suite_run(ctx, dev, tmpdir, r, 8) == -1);
    CHECK(strstr(xllama_last_error(), "no reference model") != NULL);
    CHECK(xc_model_suite_run(ctx, dev, "/nonexistent/xhal/refs", r, 8) == -1);
    CHECK(strstr(xllama_last_error(), "/nonexistent/xhal/refs") != NULL);
}

/* Change one weight of a copy by `delta` and run the suite on that copy alone. */
static void test_perturbed_weight_fails(xhal_context *ctx, xhal_device *dev)
{
    char root[512], dir[700];
    snprintf(root, sizeof root, "%s/perturbed", tmpdir);
    mkdir(root, 0700);
    char sub[600];
    snprintf(sub, sizeof sub, "perturbed/tiny-llama-f32");
    copy_model("tiny-llama-f32", sub, dir, sizeof dir);

    /* Locate the tensor's bytes in the file through the reader, then edit the file. */
    char file[800];
    snprintf(file, sizeof file, "%s/model.safetensors", dir);
    size_t n = 0;
    char *bytes = read_all(file, &n);
    xhal_safetensors *st = NULL;
    CHECK_OK(xhal_safetensors_open(file, &st));
    if (!st || !bytes) return;
    xhal_safetensors_tensor t;
    CHECK_OK(xhal_safetensors_get(st, "model.layers.0.self_attn.q_proj.weight", &t));
    char *at = memmem(bytes, n, t.data, 64); /* 16 random floats: unique in the file */
    xhal_safetensors_close(st);
    CHECK(at != NULL);
    if (!at) return;
    float w;
    memcpy(&w, at + 4 * 37, 4);
    w += 1e-3f; /* a small change: 1e-3 on one of 4096 weights of one projection */
    memcpy(at + 4 * 37, &w, 4);
    write_all(file, bytes, n);
    free(bytes);

    xc_model_result r[2];
    int k = xc_model_suite_run(ctx, dev, root, r, 2);
    CHECK(k == 1);
    if (k != 1) return;
    printf("perturbed: status %d, max_abs_err %.3g, min_cos %.9f: %s\n", r[0].status, r[0].max_abs_err, r[0].min_cosine,
           r[0].message);
    CHECK(r[0].status == 0);
    CHECK(r[0].max_abs_err > r[0].tol_max_abs);
    CHECK(strstr(r[0].message, "max_abs_err") != NULL);
    CHECK(strstr(r[0].message, "over by") != NULL);
    /* The message states the figure: parse "max_abs_err X > tol Y (over by Z" and check. */
    const char *p = strstr(r[0].message, "max_abs_err ");
    double got = -1, tol = -1, by = -1;
    if (p && sscanf(p, "max_abs_err %lf > tol %lf (over by %lf", &got, &tol, &by) == 3) {
        CHECK(fabs(got - r[0].max_abs_err) <= 1e-3 * got);
        CHECK(fabs(by - (got - tol)) <= 1e-2 * by + 1e-12);
    } else {
        CHECK(0);
    }
}

/* Re-save reference `name` as a sharded checkpoint (two shards + model.safetensors.index.json,
 * layer 1 in the second shard) under tmpdir/<root>/<name>; the suite must pass on it. */
static void test_sharded_checkpoint(xhal_context *ctx, xhal_device *dev)
{
    char root[512], dir[700], sub[600], p[800];
    snprintf(root, sizeof root, "%s/sharded", tmpdir);
    mkdir(root, 0700);
    snprintf(sub, sizeof sub, "sharded/tiny-llama-f32");
    copy_model("tiny-llama-f32", sub, dir, sizeof dir);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    xhal_safetensors *st = NULL;
    CHECK_OK(xhal_safetensors_open(p, &st));
    if (!st) return;
    int64_t n = 0;
    xhal_safetensors_count(st, &n);
    size_t cap = 1 << 16;
    char *index = malloc(cap);
    size_t il = (size_t)snprintf(index, cap, "{\"metadata\": {}, \"weight_map\": {");
    int entries = 0;
    for (int shard = 0; shard < 2; shard++) {
        char *hdr = malloc(cap);
        size_t hl = (size_t)snprintf(hdr, cap, "{");
        uint64_t off = 0;
        for (int pass = 0; pass < 2; pass++) { /* pass 0: header, pass 1: data */
            char fname[64];
            snprintf(fname, sizeof fname, "model-%05d-of-00002.safetensors", shard + 1);
            FILE *f = NULL;
            if (pass == 1) {
                while (hl % 8) hdr[hl++] = ' ';
                hdr[hl] = '\0';
                snprintf(p, sizeof p, "%s/%s", dir, fname);
                f = fopen(p, "wb");
                uint64_t h = hl;
                unsigned char len8[8];
                for (int i = 0; i < 8; i++) len8[i] = (unsigned char)(h >> (8 * i));
                CHECK(f && fwrite(len8, 1, 8, f) == 8 && fwrite(hdr, 1, hl, f) == hl);
            }
            int first = 1;
            for (int64_t i = 0; i < n; i++) {
                xhal_safetensors_tensor t;
                xhal_safetensors_at(st, i, &t);
                if ((strstr(t.name, "layers.1.") != NULL) != (shard == 1)) continue;
                if (pass == 0) {
                    CHECK(t.dtype == XHAL_DTYPE_F32);
                    hl += (size_t)snprintf(hdr + hl, cap - hl, "%s\"%s\": {\"dtype\": \"F32\", \"shape\": [",
                                           first ? "" : ", ", t.name);
                    for (int d = 0; d < t.ndim; d++)
                        hl += (size_t)snprintf(hdr + hl, cap - hl, "%s%lld", d ? ", " : "", (long long)t.shape[d]);
                    hl += (size_t)snprintf(hdr + hl, cap - hl, "], \"data_offsets\": [%llu, %llu]}",
                                           (unsigned long long)off, (unsigned long long)(off + t.size));
                    off += t.size;
                    il += (size_t)snprintf(index + il, cap - il, "%s\"%s\": \"%s\"", entries++ ? ", " : "", t.name,
                                           fname);
                } else {
                    CHECK(fwrite(t.data, 1, t.size, f) == t.size);
                }
                first = 0;
            }
            if (pass == 0) hl += (size_t)snprintf(hdr + hl, cap - hl, "}");
            if (f) fclose(f);
        }
        free(hdr);
    }
    il += (size_t)snprintf(index + il, cap - il, "}}");
    xhal_safetensors_close(st);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    write_all(p, index, il);
    free(index);

    xc_model_result r[2];
    int k = xc_model_suite_run(ctx, dev, root, r, 2);
    CHECK(k == 1);
    if (k == 1) {
        printf("sharded: status %d, max_abs_err %.3g: %s\n", r[0].status, r[0].max_abs_err, r[0].message);
        CHECK(r[0].status == 1 && r[0].greedy_match == 1);
    } else {
        fprintf(stderr, "sharded: %s\n", xllama_last_error());
    }
}

/* Dynamic NTK RoPE (transformers 4 and 5) changes the frequencies only past
 * max_position_embeddings, which the cache never reaches: the reference logits still hold. */
static void test_dynamic_rope(xhal_context *ctx, xhal_device *dev)
{
    char root[512], dir[700];
    snprintf(root, sizeof root, "%s/dynamic", tmpdir);
    mkdir(root, 0700);
    copy_model("tiny-llama-f32", "dynamic/tiny-llama-f32", dir, sizeof dir);
    edit_config(dir, "\"rope_type\": \"default\"", "\"rope_type\": \"dynamic\", \"factor\": 4.0");
    xc_model_result r[2];
    int k = xc_model_suite_run(ctx, dev, root, r, 2);
    CHECK(k == 1);
    if (k == 1) {
        printf("dynamic rope: status %d, max_abs_err %.3g: %s\n", r[0].status, r[0].max_abs_err, r[0].message);
        CHECK(r[0].status == 1 && r[0].max_abs_err < 1e-4);
    }
}

static void expect_load(xhal_device *dev, const char *dir, xhal_status want, const char *substr)
{
    xllama_model *m = NULL;
    xhal_status s = xllama_load(dev, dir, NULL, &m);
    xtest_checks_++;
    if (s != want || (substr && !strstr(xllama_last_error(), substr))) {
        xtest_failures_++;
        fprintf(stderr, "load %s: got %s '%s', expected %s with '%s'\n", dir, xhal_status_name(s), xllama_last_error(),
                xhal_status_name(want), substr ? substr : "");
    }
    CHECK((s == XHAL_OK) == (m != NULL));
    xllama_destroy(m);
}

static void test_config_errors(xhal_device *dev)
{
    static int k = 0;
    char dir[700], name[64];
#define FRESH(model)                               \
    do {                                           \
        snprintf(name, sizeof name, "cfg%d", k++); \
        copy_model(model, name, dir, sizeof dir);  \
    } while (0)
    const char *T = "tiny-llama-tied-f16", *F = "tiny-llama-f32";

    FRESH(T);
    expect_load(dev, dir, XHAL_OK, NULL);
    FRESH(T);
    edit_config(dir, "{", "{\"rope_scaling\": {\"type\": \"yarn\", \"factor\": 2.0},");
    expect_load(dev, dir, XHAL_ERROR_UNSUPPORTED, "rope_scaling.rope_type 'yarn' is not supported");
    FRESH(T);
    edit_config(dir, "{", "{\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, \"mrope_section\": [1]},");
    expect_load(dev, dir, XHAL_ERROR_UNSUPPORTED, "rope_scaling.mrope_section is not supported");
    FRESH(T);
    edit_config(dir, "{", "{\"rope_scaling\": {\"rope_type\": \"linear\"},");
    expect_load(dev, dir, XHAL_ERROR_CORRUPT_DATA, "rope_scaling.factor");
    FRESH(T);
    edit_config(dir, "{", "{\"quantization_config\": {\"quant_method\": \"gptq\"},");
    expect_load(dev, dir, XHAL_ERROR_UNSUPPORTED, "key 'quantization_config' is not known");
    FRESH(T);
    edit_config(dir, "\"rope_type\": \"default\"", "\"rope_type\": \"default\", \"partial_rotary_factor\": 0.5");
    expect_load(dev, dir, XHAL_ERROR_UNSUPPORTED, "partial_rotary_factor 0.5 is not supported for LlamaForCausalLM");
    FRESH(T);
    edit_config(dir, "{", "{\"rope_scaling\": null,");
    expect_load(dev, dir, XHAL_OK, NULL);
    FRESH(T);
    edit_config(dir, "\"attention_bias\": false", "\"attention_bias\": true"); /* honoured: the biases are read */
    expect_load(dev, dir, XHAL_ERROR_NOT_FOUND, "tensor 'model.layers.0.self_attn.q_proj.bias' is missing");
    FRESH(T);
    edit_config(dir, "\"mlp_bias\": false", "\"mlp_bias\": true");
    expect_load(dev, dir, XHAL_ERROR_NOT_FOUND, "tensor 'model.layers.0.mlp.gate_proj.bias' is missing");
    FRESH(T);
    edit_config(dir, "\"hidden_act\": \"silu\"", "\"hidden_act\": \"gelu\"");
    expect_load(dev, dir, XHAL_ERROR_UNSUPPORTED, "hidden_act 'gelu'");
    FRESH(T);
    edit_config(dir, "\"rope_type\": \"default\"", "\"rope_type\": \"yarn\"");
    expect_load(dev, dir, XHAL_ERROR_UNSUPPORTED, "rope_type 'yarn'");
    FRESH(T);
    edit_config(dir, "\"model_type\": \"llama\"", "\"model_type\": \"mistral\"");
    expect_load(dev, dir, XHAL_ERROR_UNSUPPORTED,
                "architectures does not list MistralForCausalLM (model_type 'mistral')");
    FRESH(T);
    edit_config(dir, "\"model_type\": \"llama\"", "\"model_type\": \"gemma2\"");
    expect_load(dev, dir, XHAL_ERROR_UNSUPPORTED, "model_type 'gemma2' is not supported (the port runs llama, mistral");
    FRESH(T);
    edit_config(dir, "\"LlamaForCausalLM\"", "\"DeepseekV3ForCausalLM\"");
    edit_config(dir, "\"model_type\": \"llama\",", "");
    expect_load(dev, dir, XHAL_ERROR_UNSUPPORTED, "architectures 'DeepseekV3ForCausalLM' is not supported");
    FRESH(T);
    edit_config(dir, "\"hidden_size\": 64,", "");
    expect_load(dev, dir, XHAL_ERROR_CORRUPT_DATA, "'hidden_size' is missing");
    FRESH(T);
    edit_config(dir, "\"num_hidden_layers\": 2", "\"num_hidden_layers\": \"2\"");
    expect_load(dev, dir, XHAL_ERROR_CORRUPT_DATA, "'num_hidden_layers' must be an integer");
    FRESH(T);
    edit_config(dir, "\"vocab_size\": 300", "\"vocab_size\": 0");
    expect_load(dev, dir, XHAL_ERROR_CORRUPT_DATA, "'vocab_size'");
    FRESH(T);
    edit_config(dir, "\"num_attention_heads\": 4", "\"num_attention_heads\": 3");
    expect_load(dev, dir, XHAL_ERROR_CORRUPT_DATA, "num_key_value_heads");
    FRESH(T);
    edit_config(dir, "\"head_dim\": 16", "\"head_dim\": 15");
    expect_load(dev, dir, XHAL_ERROR_CORRUPT_DATA, "head_dim 15 is odd");
    FRESH(T);
    edit_config(dir, "\"rms_norm_eps\": 1e-05", "\"rms_norm_eps\": -1");
    expect_load(dev, dir, XHAL_ERROR_CORRUPT_DATA, "rms_norm_eps");
    FRESH(T);
    edit_config(dir, "{", "{ not json");
    expect_load(dev, dir, XHAL_ERROR_CORRUPT_DATA, "not valid JSON");

    /* The families' own keys: bad values are named. */
    const char *QM = "tiny-qwen2moe-bf16", *Q3M = "tiny-qwen3moe-bf16", *MX = "tiny-mixtral-bf16";
    FRESH(QM);
    edit_config(dir, "\"num_experts_per_tok\": 2", "\"num_experts_per_tok\": 5");
    expect_load(dev, dir, XHAL_ERROR_CORRUPT_DATA, "'num_experts_per_tok' = 5 is outside [1, 4]");
    FRESH(QM);
    edit_config(dir, "\"mlp_only_layers\": [\n    1", "\"mlp_only_layers\": [\n    7");
    expect_load(dev, dir, XHAL_ERROR_CORRUPT_DATA, "'mlp_only_layers' holds a number, not a layer index in [0, 3)");
    FRESH(QM);
    edit_config(dir, "\"full_attention\"", "\"chunked_attention\"");
    expect_load(dev, dir, XHAL_ERROR_UNSUPPORTED, "layer_types[0] 'chunked_attention' is not supported");
    FRESH(QM);
    edit_config(dir, "\"full_attention\"", "\"sliding_attention\"");
    expect_load(dev, dir, XHAL_ERROR_CORRUPT_DATA, "use_sliding_window is false");
    FRESH(QM); /* mlp_only_layers emptied: layer 1 becomes an expert layer, whose router is absent */
    edit_config(dir, "\"mlp_only_layers\": [\n    1\n  ]", "\"mlp_only_layers\": []");
    expect_load(dev, dir, XHAL_ERROR_NOT_FOUND, "'model.layers.1.mlp.gate.weight' is missing");
    FRESH("tiny-qwen2-bf16");
    edit_config(dir, "\"use_sliding_window\": false", "\"use_sliding_window\": false, \"use_mrope\": true");
    expect_load(dev, dir, XHAL_ERROR_UNSUPPORTED, "use_mrope true is not supported");
    FRESH(Q3M);
    edit_config(dir, "\"num_local_experts\": 6", "\"num_local_experts\": 6, \"num_experts\": 6");
    expect_load(dev, dir, XHAL_ERROR_CORRUPT_DATA, "both num_experts and num_local_experts are set");
    FRESH(MX);
    edit_config(dir, "\"num_local_experts\": 4", "\"num_local_experts\": 5");
    expect_load(
        dev, dir, XHAL_ERROR_SHAPE_MISMATCH,
        "tensor 'model.layers.0.block_sparse_moe.gate.weight' has shape [4, 64] but config.json implies [5, 64]");
    {
        /* use_sliding_window without layer_types: each family's rule (transformers 5's config classes) */
        static xllama_config c;
        FRESH(Q3M); /* Qwen3-MoE: every layer */
        edit_config(dir, "\"use_sliding_window\": false", "\"use_sliding_window\": true");
        edit_config(dir, "\"sliding_window\": null", "\"sliding_window\": 4");
        CHECK_OK(xllama_config_load(dir, &c));
        CHECK(c.sliding_window == 4 && c.layer_sliding[0] == 1 && c.layer_sliding[1] == 1);
        FRESH("tiny-qwen3-bf16"); /* Qwen3: layers from max_window_layers on (layer_types removed) */
        edit_config(dir, "\"use_sliding_window\": false", "\"use_sliding_window\": true");
        edit_config(dir, "\"sliding_window\": null", "\"sliding_window\": 4");
        edit_config(dir, "\"max_window_layers\": 28", "\"max_window_layers\": 1");
        edit_config(dir, "\"layer_types\": [\n    \"full_attention\",\n    \"full_attention\"\n  ],", "");
        CHECK_OK(xllama_config_load(dir, &c));
        CHECK(c.sliding_window == 4 && c.layer_sliding[0] == 0 && c.layer_sliding[1] == 1);
    }
    FRESH("tiny-glm-bf16");
    edit_config(dir, "\"partial_rotary_factor\": 0.5", "\"partial_rotary_factor\": 0.1");
    expect_load(dev, dir, XHAL_ERROR_CORRUPT_DATA, "= 1 rotary entries, not an even number >= 2");
    FRESH("tiny-glm4-f16"); /* Glm4's extra norms are required */
    edit_config(dir, "\"Glm4ForCausalLM\"", "\"GlmForCausalLM\"");
    expect_load(dev, dir, XHAL_ERROR_UNSUPPORTED, "architectures does not list Glm4ForCausalLM (model_type 'glm4')");

    /* Shapes that disagree with the config name the tensor and both shapes. */
    FRESH(T);
    edit_config(dir, "\"intermediate_size\": 128", "\"intermediate_size\": 100");
    expect_load(dev, dir, XHAL_ERROR_SHAPE_MISMATCH,
                "tensor 'model.layers.0.mlp.gate_proj.weight' has shape [128, 64] but config.json "
                "implies [100, 64]");
    FRESH(T);
    edit_config(dir, "\"num_key_value_heads\": 2", "\"num_key_value_heads\": 4");
    expect_load(dev, dir, XHAL_ERROR_SHAPE_MISMATCH, "k_proj.weight' has shape [32, 64]");
    FRESH(F);
    edit_config(dir, "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3");
    expect_load(dev, dir, XHAL_ERROR_NOT_FOUND, "'model.layers.2.input_layernorm.weight' is missing");
    /* Untied config on a checkpoint without lm_head. */
    FRESH(T);
    edit_config(dir, "\"tie_word_embeddings\": true", "\"tie_word_embeddings\": false");
    expect_load(dev, dir, XHAL_ERROR_NOT_FOUND, "'lm_head.weight' is missing");
    /* head_dim absent: hidden_size / heads (= 16 here) is used. */
    FRESH(T);
    edit_config(dir, "\"head_dim\": 16,", "");
    expect_load(dev, dir, XHAL_OK, NULL);

    /* Bad folders. */
    expect_load(dev, "/nonexistent/xhal/model", XHAL_ERROR_NOT_FOUND, "config.json");
    FRESH(T);
    char p[800];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    unlink(p);
    expect_load(dev, dir, XHAL_ERROR_NOT_FOUND, "model.safetensors");
    FRESH(T);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    write_all(p, "\x10\0\0\0\0\0\0\0{\"a\":1}", 15); /* a corrupt checkpoint */
    expect_load(dev, dir, XHAL_ERROR_CORRUPT_DATA, "reading the weights");
#undef FRESH
}

static void test_forward_paths(xhal_device *dev)
{
    char dir[700];
    snprintf(dir, sizeof dir, "%s/tiny-llama-f32", XLLAMA_TEST_REF_DIR);
    float *ref = NULL;
    int nd = 0;
    int64_t shape[8];
    char err[256], p[800];
    snprintf(p, sizeof p, "%s/logits_prompt.npy", dir);
    CHECK_OK(xc_npy_read_f32(p, &ref, &nd, shape, err, sizeof err));
    if (!ref) return;
    const int32_t prompt[10] = {1, 17, 42, 99, 123, 7, 250, 33, 5, 181};
    const int64_t V = shape[1];
    CHECK(nd == 2 && shape[0] == 10);

    /* Prefill in chunks of 3 tokens (the KV cache carries between chunks) = the reference. */
    xllama_options o;
    xllama_options_init(&o);
    o.max_batch = 3;
    o.max_seq = 12;
    xllama_model *m = NULL;
    CHECK_OK(xllama_load(dev, dir, &o, &m));
    if (!m) {
        fprintf(stderr, "%s\n", xllama_last_error());
        free(ref);
        return;
    }
    float *lg = calloc((size_t)(10 * V), sizeof(float));
    CHECK(xllama_forward(m, prompt, 10, 1, lg) == XHAL_OK);
    double worst = 0;
    for (int64_t i = 0; i < 10 * V; i++) worst = fmax(worst, fabs((double)lg[i] - ref[i]));
    CHECK(worst < 1e-4);
    printf("chunked prefill (3 tokens a chunk): max abs err %.3g\n", worst);
    CHECK(xllama_position(m) == 10);
    /* Token by token from position 0, last-row logits only, equals row i of the reference. */
    xllama_reset(m);
    worst = 0;
    for (int i = 0; i < 10; i++) {
        CHECK(xllama_forward(m, &prompt[i], 1, 0, lg) == XHAL_OK);
        for (int64_t j = 0; j < V; j++) worst = fmax(worst, fabs((double)lg[j] - ref[i * V + j]));
    }
    CHECK(worst < 1e-4);
    printf("token-by-token decode: max abs err %.3g\n", worst);
    /* The cache holds 12: two more fit, a third does not, and the cache is unchanged. */
    CHECK(xllama_forward(m, prompt, 2, 0, NULL) == XHAL_OK);
    CHECK(xllama_forward(m, prompt, 1, 0, lg) == XHAL_ERROR_OUT_OF_RANGE);
    CHECK(strstr(xllama_last_error(), "do not fit") != NULL);
    CHECK(xllama_position(m) == 12);
    /* Tokens outside the vocabulary. */
    xllama_reset(m);
    const int32_t bad[2] = {5, 300};
    CHECK(xllama_forward(m, bad, 2, 0, lg) == XHAL_ERROR_OUT_OF_RANGE);
    CHECK(strstr(xllama_last_error(), "token 300") != NULL);
    CHECK(xllama_position(m) == 0);
    xllama_destroy(m);

    /* f32 compute on bf16 weights matches the (f32-computed) bf16 reference tightly. */
    snprintf(dir, sizeof dir, "%s/tiny-llama-bf16", XLLAMA_TEST_REF_DIR);
    snprintf(p, sizeof p, "%s/logits_prompt.npy", dir);
    free(ref);
    ref = NULL;
    CHECK_OK(xc_npy_read_f32(p, &ref, &nd, shape, err, sizeof err));
    xllama_options_init(&o);
    o.compute_dtype = XHAL_DTYPE_F32;
    CHECK_OK(xllama_load(dev, dir, &o, &m));
    if (m && ref) {
        CHECK(xllama_weight_dtype(m) == XHAL_DTYPE_BF16 && xllama_compute_dtype(m) == XHAL_DTYPE_F32);
        CHECK(xllama_forward(m, prompt, 10, 1, lg) == XHAL_OK);
        worst = 0;
        for (int64_t i = 0; i < 10 * V; i++) worst = fmax(worst, fabs((double)lg[i] - ref[i]));
        printf("bf16 weights, f32 compute: max abs err %.3g\n", worst);
        CHECK(worst < 1e-4);
    }
    xllama_destroy(m);
    free(lg);
    free(ref);
}

static void test_npy(void)
{
    char p[512], err[256];
    snprintf(p, sizeof p, "%s/x.npy", tmpdir);
    float v[6] = {1.5f, -2, 3, 4, 5, 6.25f};
    int64_t shape[2] = {2, 3};
    CHECK_OK(xc_npy_write_f32(p, v, 2, shape, err, sizeof err));
    size_t n = 0;
    char *b = read_all(p, &n);
    CHECK(b && n == 128 + 24 && memcmp(b, "\x93NUMPY\x01\x00", 8) == 0);
    CHECK(b && (unsigned char)b[8] + 256 * (unsigned char)b[9] == 118 && b[127] == '\n');
    CHECK(b && strstr(b + 10, "'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }") != NULL);
    free(b);
    float *back = NULL;
    int nd = 0;
    int64_t sh[8];
    CHECK_OK(xc_npy_read_f32(p, &back, &nd, sh, err, sizeof err));
    CHECK(back && nd == 2 && sh[0] == 2 && sh[1] == 3 && memcmp(back, v, sizeof v) == 0);
    free(back);
    int64_t one[1] = {6};
    CHECK_OK(xc_npy_write_f32(p, v, 1, one, err, sizeof err));
    b = read_all(p, NULL);
    CHECK(b && strstr(b + 10, "'shape': (6,), }") != NULL);
    free(b);
    /* A truncated file is refused. */
    b = read_all(p, &n);
    write_all(p, b, n - 4);
    free(b);
    back = NULL;
    CHECK(xc_npy_read_f32(p, &back, &nd, sh, err, sizeof err) == XHAL_ERROR_CORRUPT_DATA);
    CHECK(back == NULL && strstr(err, "data bytes") != NULL);
}

int main(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/xhal-model-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    xhal_context *ctx = NULL;
    xhal_device *dev = NULL;
    if (xhal_context_create(NULL, &ctx) != XHAL_OK || xhal_device_find(ctx, "cpu", &dev) != XHAL_OK) {
        fprintf(stderr, "no cpu device: %s\n", xhal_last_error());
        return 1;
    }
    test_npy();
    test_suite_passes(ctx, dev);
    test_perturbed_weight_fails(ctx, dev);
    test_sharded_checkpoint(ctx, dev);
    test_config_errors(dev);
    test_dynamic_rope(ctx, dev);
    test_forward_paths(dev);
    xhal_context_destroy(ctx);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return xtest_finish("test_model");
}
