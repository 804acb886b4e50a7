/* test_real_configs.c - the port's config loader (xllama_config_load) on the config.json files of
 * real checkpoints, committed verbatim under tests/model/real_configs/ (SOURCES.md says where each
 * copy was found): every one loads as it is, and the settings the loader derives from it (family,
 * head_dim, RoPE type and factors, windows per layer, experts, top-k, routing normalisation, shared
 * expert, biases, q/k norms, tied embeddings) are the ones transformers derives. Then variants of
 * those files with one key changed as newer transformers or other checkpoints of the family write
 * it (dtype, head_dim null, use_sliding_window, layer_types, mlp_only_layers, decoder_sparse_step)
 * and keys that must be refused by name. Needs no device. */
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
#include "xtest.h"

#ifndef XLLAMA_TEST_REAL_CONFIGS
#error "XLLAMA_TEST_REAL_CONFIGS must name tests/model/real_configs"
#endif

static char tmpdir[256];

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) buf[n] = '\0';
    return buf;
}

/* The text of real_configs/<file> with the first `from` replaced by `to` (from NULL: as is).
 * NULL (and a failed check) when the file or `from` is missing. */
static char *real_text(const char *file, const char *from, const char *to)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", XLLAMA_TEST_REAL_CONFIGS, file);
    char *t = read_text(path);
    if (!t) {
        fprintf(stderr, "cannot read %s\n", path);
        CHECK(0);
        return NULL;
    }
    if (!from) return t;
    char *at = strstr(t, from);
    if (!at) {
        fprintf(stderr, "%s: '%s' not found\n", file, from);
        CHECK(0);
        free(t);
        return NULL;
    }
    size_t head = (size_t)(at - t), fl = strlen(from), tl = strlen(to), rest = strlen(at + fl);
    char *out = malloc(head + tl + rest + 1);
    if (!out) {
        free(t);
        return NULL;
    }
    memcpy(out, t, head);
    memcpy(out + head, to, tl);
    memcpy(out + head + tl, at + fl, rest + 1);
    free(t);
    return out;
}

/* Write text as tmpdir/<n>/config.json and load it. */
static xhal_status load_text(const char *text, xllama_config *c)
{
    static int k = 0;
    char dir[400], path[450];
    snprintf(dir, sizeof dir, "%s/cfg%d", tmpdir, k++);
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "wb");
    if (!f || fputs(text, f) < 0) {
        perror(path);
        exit(2);
    }
    fclose(f);
    memset(c, 0x5a, sizeof *c); /* the loader must fill every field it reports */
    return xllama_config_load(dir, c);
}

/* What transformers derives from a file (the values its config class and modeling code use). */
typedef struct expect {
    const char *file;
    xllama_family family;
    int64_t layers, hidden, heads, kv_heads, head_dim, rotary_dims, intermediate, vocab;
    double eps, theta;
    xllama_rope_type rope;
    double factor, low, high; /* llama3 */
    int64_t orig_max;         /* llama3 original_max_position_embeddings */
    int64_t window;           /* tokens, on every layer that slides; 0: none */
    int64_t experts, top_k, moe_inter, shared_inter;
    int norm_topk, qkv_bias, o_bias, qk_norm, interleaved, fused, sandwich, tie;
} expect;

static void check_config(const expect *e, const xllama_config *c)
{
    int before = xtest_failures_;
    CHECK(c->family == e->family);
    CHECK(c->num_layers == e->layers && c->hidden_size == e->hidden);
    CHECK(c->num_heads == e->heads && c->num_kv_heads == e->kv_heads);
    CHECK(c->head_dim == e->head_dim && c->rotary_dims == e->rotary_dims);
    CHECK(c->intermediate_size == e->intermediate && c->vocab_size == e->vocab);
    CHECK(c->rms_norm_eps == e->eps && c->rope_theta == e->theta);
    CHECK(c->rope_type == e->rope);
    if (e->rope == XLLAMA_ROPE_LLAMA3) {
        CHECK(c->rope_factor == e->factor && c->rope_low_freq_factor == e->low && c->rope_high_freq_factor == e->high &&
              c->rope_original_max_position == e->orig_max);
    } else {
        CHECK(c->rope_factor == 1.0);
    }
    CHECK(c->sliding_window == e->window);
    for (int64_t l = 0; l < c->num_layers; l++) CHECK(c->layer_sliding[l] == (e->window > 0));
    CHECK(c->num_experts == e->experts && c->experts_per_tok == e->top_k);
    CHECK(c->moe == (e->experts ? XLLAMA_MOE_SOFTMAX_TOPK : XLLAMA_MOE_NONE));
    if (e->experts) {
        CHECK(c->moe_intermediate_size == e->moe_inter && c->shared_expert_intermediate_size == e->shared_inter);
        CHECK(c->norm_topk_prob == e->norm_topk);
    }
    for (int64_t l = 0; l < c->num_layers; l++) CHECK(c->layer_moe[l] == (e->experts > 0));
    CHECK(c->qkv_bias == e->qkv_bias && c->o_bias == e->o_bias && c->mlp_bias == 0);
    CHECK(c->qk_norm == e->qk_norm && c->rope_interleaved == e->interleaved);
    CHECK(c->fused_gate_up == e->fused && c->sandwich_norms == e->sandwich);
    CHECK(c->tie_word_embeddings == e->tie);
    if (xtest_failures_ != before) fprintf(stderr, "  (in %s)\n", e->file);
}

/* clang-format off */
static const expect real[] = {
    /* file                                family            L   hidden heads kv  hd   rot  inter  vocab   eps    theta  rope                 fac  lo   hi  orig  win   E    k  moe   shared ntk qb ob qn il fu sw tie */
    {"meta-llama--Llama-3.1-8B.json",     XLLAMA_LLAMA,     32, 4096,  32,   8,  128, 128, 14336, 128256, 1e-5,  5e5,   XLLAMA_ROPE_LLAMA3,  8,   1,   4,  8192, 0,    0,   0, 0,    0,     0,  0, 0, 0, 0, 0, 0, 0},
    {"meta-llama--Llama-3.2-3B.json",     XLLAMA_LLAMA,     28, 3072,  24,   8,  128, 128, 8192,  128256, 1e-5,  5e5,   XLLAMA_ROPE_LLAMA3,  32,  1,   4,  8192, 0,    0,   0, 0,    0,     0,  0, 0, 0, 0, 0, 0, 1},
    {"Qwen--Qwen2.5-3B.json",             XLLAMA_QWEN2,     36, 2048,  16,   2,  128, 128, 11008, 151936, 1e-6,  1e6,   XLLAMA_ROPE_DEFAULT, 0,   0,   0,  0,    0,    0,   0, 0,    0,     0,  1, 0, 0, 0, 0, 0, 1},
    {"Qwen--Qwen2.5-7B.json",             XLLAMA_QWEN2,     28, 3584,  28,   4,  128, 128, 18944, 152064, 1e-6,  1e6,   XLLAMA_ROPE_DEFAULT, 0,   0,   0,  0,    0,    0,   0, 0,    0,     0,  1, 0, 0, 0, 0, 0, 0},
    {"Qwen--Qwen2.5-14B.json",            XLLAMA_QWEN2,     48, 5120,  40,   8,  128, 128, 13824, 152064, 1e-5,  1e6,   XLLAMA_ROPE_DEFAULT, 0,   0,   0,  0,    0,    0,   0, 0,    0,     0,  1, 0, 0, 0, 0, 0, 0},
    /* Qwen3-4B: head_dim 128 is not hidden / heads (80) */
    {"Qwen--Qwen3-4B.json",               XLLAMA_QWEN3,     36, 2560,  32,   8,  128, 128, 9728,  151936, 1e-6,  1e6,   XLLAMA_ROPE_DEFAULT, 0,   0,   0,  0,    0,    0,   0, 0,    0,     0,  0, 0, 1, 0, 0, 0, 1},
    {"Qwen--Qwen3-8B.json",               XLLAMA_QWEN3,     36, 4096,  32,   8,  128, 128, 12288, 151936, 1e-6,  1e6,   XLLAMA_ROPE_DEFAULT, 0,   0,   0,  0,    0,    0,   0, 0,    0,     0,  0, 0, 1, 0, 0, 0, 0},
    {"mistralai--Mistral-7B-v0.1.json",   XLLAMA_MISTRAL,   32, 4096,  32,   8,  128, 128, 14336, 32000,  1e-5,  1e4,   XLLAMA_ROPE_DEFAULT, 0,   0,   0,  0,    4096, 0,   0, 0,    0,     0,  0, 0, 0, 0, 0, 0, 0},
    /* Mixtral: each expert is intermediate_size wide, top-2 always renormalised */
    {"mistralai--Mixtral-8x7B-v0.1.json", XLLAMA_MIXTRAL,   32, 4096,  32,   8,  128, 128, 14336, 32000,  1e-5,  1e6,   XLLAMA_ROPE_DEFAULT, 0,   0,   0,  0,    0,    8,   2, 14336, 0,    1,  0, 0, 0, 0, 0, 0, 0},
    {"Qwen--Qwen2-57B-A14B.json",         XLLAMA_QWEN2_MOE, 28, 3584,  28,   4,  128, 128, 18944, 151936, 1e-6,  1e6,   XLLAMA_ROPE_DEFAULT, 0,   0,   0,  0,    0,    64,  8, 2560, 20480, 0,  1, 0, 0, 0, 0, 0, 0},
    /* Qwen3-30B-A3B: head_dim 128 != hidden / heads (64) */
    {"Qwen--Qwen3-30B-A3B.json",          XLLAMA_QWEN3_MOE, 48, 2048,  32,   4,  128, 128, 6144,  151936, 1e-6,  1e6,   XLLAMA_ROPE_DEFAULT, 0,   0,   0,  0,    0,    128, 8, 768,  0,     1,  0, 0, 1, 0, 0, 0, 0},
};
/* clang-format on */

static void test_real_files(void)
{
    for (size_t i = 0; i < sizeof real / sizeof real[0]; i++) {
        char *t = real_text(real[i].file, NULL, NULL);
        if (!t) continue;
        static xllama_config c;
        xhal_status st = load_text(t, &c);
        free(t);
        if (st != XHAL_OK) fprintf(stderr, "%s: %s\n", real[i].file, xllama_last_error());
        CHECK(st == XHAL_OK);
        if (st == XHAL_OK) check_config(&real[i], &c);
    }
}

/* Load real file `file` with one edit; returns the status, c filled on success. */
static xhal_status load_edited(const char *file, const char *from, const char *to, xllama_config *c)
{
    char *t = real_text(file, from, to);
    if (!t) return XHAL_ERROR_INTERNAL;
    xhal_status st = load_text(t, c);
    free(t);
    return st;
}

static void expect_refused(const char *file, const char *from, const char *to, xhal_status want, const char *substr)
{
    static xllama_config c;
    xhal_status st = load_edited(file, from, to, &c);
    xtest_checks_++;
    if (st != want || !strstr(xllama_last_error(), substr)) {
        xtest_failures_++;
        fprintf(stderr, "%s with '%s' -> '%s': got %s '%s', expected %s with '%s'\n", file, from, to,
                xhal_status_name(st), xllama_last_error(), xhal_status_name(want), substr);
    }
}

/* The same files as newer transformers (or another checkpoint of the family) writes them. */
static void test_variants(void)
{
    static xllama_config c;
    const char *q3 = "Qwen--Qwen3-8B.json", *q25 = "Qwen--Qwen2.5-7B.json", *moe = "Qwen--Qwen3-30B-A3B.json";

    /* transformers 4.56+ writes dtype instead of torch_dtype */
    CHECK_OK(load_edited(q3, "\"torch_dtype\"", "\"dtype\"", &c));
    /* head_dim null means hidden / heads */
    CHECK_OK(load_edited(q3, "\"head_dim\": 128", "\"head_dim\": null", &c));
    CHECK(c.head_dim == 4096 / 32 && c.rotary_dims == c.head_dim);
    /* rope_scaling null and absent are the same; rope_parameters (transformers 5) carries theta */
    CHECK_OK(load_edited(q3, "\"rope_scaling\": null,\n  \"rope_theta\": 1000000,",
                         "\"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 5000000.0},", &c));
    CHECK(c.rope_theta == 5e6 && c.rope_type == XLLAMA_ROPE_DEFAULT);

    /* Qwen2 sliding windows: with use_sliding_window, layers >= max_window_layers slide */
    CHECK_OK(load_edited(q25, "\"use_sliding_window\": false", "\"use_sliding_window\": true", &c));
    for (int64_t l = 0; l < 28; l++) CHECK(c.layer_sliding[l] == 0); /* max_window_layers 28 = every layer full */
    CHECK(c.sliding_window == 0);
    static const char *slide20 =
        "\"max_window_layers\": 20,\n  \"use_sliding_window\": true, \"sliding_window\": 4096,";
    char *t = real_text(q25, "\"max_window_layers\": 28,", slide20);
    if (t) {
        /* the file's own sliding_window follows later; a repeated key is refused (cJSON and Python
         * would read different values), so drop the file's one first */
        char *dup = strstr(t, "\"sliding_window\": 131072,");
        char *use = strstr(t, "\"use_sliding_window\": false,");
        CHECK(dup != NULL && use != NULL);
        if (dup && use) {
            memset(dup, ' ', strlen("\"sliding_window\": 131072,"));
            memset(use, ' ', strlen("\"use_sliding_window\": false,"));
            CHECK_OK(load_text(t, &c));
            CHECK(c.sliding_window == 4096);
            for (int64_t l = 0; l < 28; l++) CHECK(c.layer_sliding[l] == (l >= 20));
        }
        free(t);
    }
    /* transformers 5 writes layer_types; sliding layers without use_sliding_window are refused */
    t = real_text(q3, "\"vocab_size\"",
                  "\"layer_types\": [\"full_attention\", \"full_attention\", \"full_attention\", \"full_attention\", "
                  "\"full_attention\", \"full_attention\", \"full_attention\", \"full_attention\", \"full_attention\", "
                  "\"full_attention\", \"full_attention\", \"full_attention\", \"full_attention\", \"full_attention\", "
                  "\"full_attention\", \"full_attention\", \"full_attention\", \"full_attention\", \"full_attention\", "
                  "\"full_attention\", \"full_attention\", \"full_attention\", \"full_attention\", \"full_attention\", "
                  "\"full_attention\", \"full_attention\", \"full_attention\", \"full_attention\", \"full_attention\", "
                  "\"full_attention\", \"full_attention\", \"full_attention\", \"full_attention\", \"full_attention\", "
                  "\"full_attention\", \"full_attention\"],\n  \"vocab_size\"");
    if (t) {
        CHECK_OK(load_text(t, &c));
        CHECK(c.sliding_window == 0);
        char *last = strstr(t, "\"full_attention\"],");
        CHECK(last != NULL);
        if (last) {
            memcpy(last, "\"sliding_window\"", 16); /* same length: an unknown layer type */
            CHECK_STATUS(load_text(t, &c), XHAL_ERROR_UNSUPPORTED, NULL);
            CHECK(strstr(xllama_last_error(), "layer_types[35] 'sliding_window' is not supported") != NULL);
        }
        free(t);
    }

    /* Qwen-MoE layer placement: mlp_only_layers and decoder_sparse_step */
    CHECK_OK(load_edited(moe, "\"mlp_only_layers\": []", "\"mlp_only_layers\": [0, 47]", &c));
    for (int64_t l = 0; l < 48; l++) CHECK(c.layer_moe[l] == (l != 0 && l != 47));
    CHECK_OK(load_edited(moe, "\"decoder_sparse_step\": 1", "\"decoder_sparse_step\": 2", &c));
    for (int64_t l = 0; l < 48; l++) CHECK(c.layer_moe[l] == ((l + 1) % 2 == 0));
    /* transformers 5's Qwen3-MoE writes num_local_experts */
    CHECK_OK(load_edited(moe, "\"num_experts\"", "\"num_local_experts\"", &c));
    CHECK(c.num_experts == 128);

    /* Refused, by name: settings that change the math and are not implemented. */
    expect_refused(q3, "\"rope_scaling\": null",
                   "\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0, "
                   "\"original_max_position_embeddings\": 32768}",
                   XHAL_ERROR_UNSUPPORTED, "rope_scaling.rope_type 'yarn' is not supported");
    expect_refused(q25, "\"use_mrope\": false", "\"use_mrope\": true", XHAL_ERROR_UNSUPPORTED,
                   "use_mrope true is not supported");
    expect_refused(q25, "\"vocab_size\"", "\"quantization_config\": {\"quant_method\": \"awq\"},\n  \"vocab_size\"",
                   XHAL_ERROR_UNSUPPORTED, "key 'quantization_config' is not known");
    expect_refused("mistralai--Mistral-7B-v0.1.json", "\"hidden_act\": \"silu\"", "\"hidden_act\": \"gelu\"",
                   XHAL_ERROR_UNSUPPORTED, "hidden_act 'gelu'");
    expect_refused(moe, "\"num_experts_per_tok\": 8", "\"num_experts_per_tok\": 129", XHAL_ERROR_CORRUPT_DATA,
                   "'num_experts_per_tok' = 129 is outside [1, 128]");
    expect_refused(moe, "\"mlp_only_layers\": []", "\"mlp_only_layers\": [48]", XHAL_ERROR_CORRUPT_DATA,
                   "'mlp_only_layers' holds a number, not a layer index in [0, 48)");
    expect_refused(moe, "\"num_experts\": 128,", "\"num_experts\": 128, \"num_local_experts\": 128,",
                   XHAL_ERROR_CORRUPT_DATA, "both num_experts and num_local_experts are set");
    expect_refused("meta-llama--Llama-3.1-8B.json", "\"low_freq_factor\": 1.0", "\"low_freq_factor\": 5.0",
                   XHAL_ERROR_CORRUPT_DATA, "needs 0 < low_freq_factor (5) < high_freq_factor (4)");
}

/* GLM: no copy of a GlmForCausalLM / Glm4ForCausalLM config.json was found to commit (see
 * real_configs/SOURCES.md). glm-4-9b-chat-hf's sizes as public code quotes them, without
 * partial_rotary_factor (mlx-lm PR 1698 reports the hub file lacks it; GlmConfig then uses 0.5):
 * half of each head rotates, as interleaved pairs. Written here, not presented as the file. */
static void test_glm_sizes(void)
{
    static const char *glm =
        "{\"architectures\": [\"GlmForCausalLM\"], \"model_type\": \"glm\", \"attention_bias\": true, "
        "\"head_dim\": 128, \"hidden_act\": \"silu\", \"hidden_size\": 4096, \"intermediate_size\": 13696, "
        "\"max_position_embeddings\": 131072, \"num_attention_heads\": 32, \"num_hidden_layers\": 40, "
        "\"num_key_value_heads\": 2, \"rms_norm_eps\": 1.5625e-07, \"rope_theta\": 10000.0, "
        "\"tie_word_embeddings\": false, \"vocab_size\": 151552}";
    static xllama_config c;
    CHECK_OK(load_text(glm, &c));
    /* clang-format off */
    static const expect e = {"glm-4-9b-chat-hf sizes", XLLAMA_GLM, 40, 4096, 32, 2, 128, 64, 13696, 151552, 1.5625e-07,
                             1e4, XLLAMA_ROPE_DEFAULT, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                             /* q/k/v biases, no o_proj bias (GlmAttention), interleaved, fused gate_up */
                             1, 0, 0, 1, 1, 0, 0};
    /* clang-format on */
    check_config(&e, &c);
}

int main(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/xhal-realcfg-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    test_real_files();
    test_variants();
    test_glm_sizes();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return xtest_finish("test_real_configs");
}
