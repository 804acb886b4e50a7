/* test_gguf_llama.c - the Llama port on GGUF files (conformance/models/llama/reference/gguf,
 * made by conformance/models/llama/make_gguf.py with gguf-py from the committed tiny model):
 * f32, q8_0 and q4_0 weights, and a synthetic model in llama.cpp's Q4_K_M mix (q4_K and q6_K
 * blocks), on cpu:0 (and the quantized ones on opencl:0 when present): teacher-forced logits against a NumPy float64 forward
 * over the file's dequantized weights, and the greedy continuation; plus files the port must
 * refuse (another architecture, a missing tensor). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "llama.h"
#include "xtest.h"

static void *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    if (!p || fread(p, 1, (size_t)n, f) != (size_t)n) exit(2);
    p[n] = 0;
    fclose(f);
    *size = (size_t)n;
    return p;
}

/* The integers of the JSON array after "key": in a small reference file. */
static int read_ints(const char *json, const char *key, int32_t *out, int max)
{
    const char *p = strstr(json, key);
    if (!p || !(p = strchr(p, '['))) return 0;
    int n = 0;
    p++;
    while (n < max) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) break;
        out[n++] = (int32_t)v;
        p = end;
        while (*p == ',' || *p == ' ' || *p == '\n') p++;
    }
    return n;
}

static void run_type(xhal_device *cpu, const char *stem, const char *type, const char *spec)
{
    char path[1024], ref[1024], lpath[1024];
    const int tiny = strcmp(stem, "tiny-llama") == 0;
    const int64_t vocab = tiny ? 300 : 256;
    snprintf(path, sizeof path, "%s/%s-%s.gguf", XL_GGUF_DIR, stem, type);
    snprintf(ref, sizeof ref, "%s/ref-%s.json", XL_GGUF_DIR, type);
    snprintf(lpath, sizeof lpath, "%s/logits-%s.f32", XL_GGUF_DIR, type);
    size_t n;
    char *json = read_all(ref, &n);
    int32_t prompt[16], gen[32], all[64];
    int np = read_ints(json, "\"prompt\"", prompt, 16), ng = read_ints(json, "\"generated\"", gen, 32);
    CHECK(np == 10 && ng == 16);
    size_t nl;
    float *want = read_all(lpath, &nl);
    xllama_model *m = NULL;
    xhal_status st = xllama_load(cpu, path, NULL, &m);
    if (st != XHAL_OK) fprintf(stderr, "%s: %s\n", path, xllama_last_error());
    CHECK(st == XHAL_OK);
    if (st != XHAL_OK) return;
    const xllama_config *c = xllama_get_config(m);
    if (tiny)
        CHECK(c->hidden_size == 64 && c->num_layers == 2 && c->num_heads == 4 && c->num_kv_heads == 2 &&
              c->head_dim == 16 && c->vocab_size == 300 && !c->tie_word_embeddings);
    else /* the synthetic Q4_K_M mix: q4_K and q6_K projections, q4_K embedding */
        CHECK(c->hidden_size == 256 && c->num_layers == 1 && c->head_dim == 64 && c->vocab_size == 256 &&
              xllama_weight_dtype(m) == XHAL_DTYPE_Q4_K);
    CHECK(xllama_compute_dtype(m) == XHAL_DTYPE_F32);
    /* teacher forcing: prompt + generated[:-1], logits at every position */
    int nt = np + ng - 1;
    memcpy(all, prompt, sizeof(int32_t) * (size_t)np);
    memcpy(all + np, gen, sizeof(int32_t) * (size_t)(ng - 1));
    CHECK(nl == (size_t)nt * (size_t)vocab * 4);
    float *got = malloc((size_t)nt * (size_t)vocab * 4);
    xllama_reset(m);
    CHECK_STATUS(xllama_forward(m, all, nt, 1, got), XHAL_OK, NULL);
    double maxd = 0, maxv = 0;
    for (int64_t i = 0; i < nt * vocab; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        if (d > maxd) maxd = d;
        if (fabs((double)want[i]) > maxv) maxv = fabs((double)want[i]);
    }
    /* f32 arithmetic against the f64 reference: a few ulps of the logits' scale times depth */
    CHECK(maxd <= 1e-4 * maxv);
    int32_t out[32];
    CHECK_STATUS(xllama_generate(m, prompt, np, ng, out, NULL, NULL, NULL), XHAL_OK, NULL);
    CHECK(memcmp(out, gen, sizeof(int32_t) * (size_t)ng) == 0);
    printf("%s %s: logits within %.2g of the f64 reference (max |logit| %.3g), %d greedy tokens equal\n", spec, type,
           maxd, maxv, ng);
    xllama_destroy(m);
    free(got);
    free(want);
    free(json);
}

/* A copy of the f32 file with one byte string replaced. */
static void patched(const char *from, size_t flen, const char *to, char *out, size_t len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tiny-llama-f32.gguf", XL_GGUF_DIR);
    size_t n;
    char *b = read_all(path, &n);
    char *p = memmem(b, n, from, flen);
    if (!p) exit(2);
    memcpy(p + flen - strlen(to), to, strlen(to));
    const char *t = getenv("TMPDIR");
    snprintf(out, len, "%s/xhal-gguf-llama-%d-%s.gguf", t && *t ? t : "/tmp", (int)getpid(), to);
    FILE *f = fopen(out, "wb");
    if (!f || fwrite(b, 1, n, f) != n) exit(2);
    fclose(f);
    free(b);
}

static void refusals(xhal_device *cpu)
{
    char path[1100];
    xllama_model *m = NULL;
    patched("\x05\0\0\0\0\0\0\0llama", 13, "llamb", path, sizeof path);
    CHECK(xllama_load(cpu, path, NULL, &m) == XHAL_ERROR_UNSUPPORTED && strstr(xllama_last_error(), "'llamb'"));
    remove(path);
    patched("blk.1.ffn_up.weight", 19, "blk.1.ffn_uq.weight", path, sizeof path);
    CHECK(xllama_load(cpu, path, NULL, &m) == XHAL_ERROR_NOT_FOUND &&
          strstr(xllama_last_error(), "'blk.1.ffn_up.weight' (model.layers.1.mlp.up_proj.weight) is missing"));
    remove(path);
    CHECK(xllama_load(cpu, "/nonexistent/model.gguf", NULL, &m) == XHAL_ERROR_NOT_FOUND &&
          strstr(xllama_last_error(), "/nonexistent/model.gguf"));
}

int main(void)
{
    xhal_context *ctx = NULL;
    xhal_device *cpu = NULL;
    if (xhal_context_create(NULL, &ctx) != XHAL_OK || xhal_device_find(ctx, "cpu", &cpu) != XHAL_OK) {
        fprintf(stderr, "no cpu: %s\n", xhal_last_error());
        return 1;
    }
    run_type(cpu, "tiny-llama", "f32", "cpu:0");
    run_type(cpu, "tiny-llama", "q8_0", "cpu:0");
    run_type(cpu, "tiny-llama", "q4_0", "cpu:0");
    run_type(cpu, "synthetic", "q4_k_m", "cpu:0");
    /* the same files on opencl:0 when it is there (PoCL in CI): its quantized kernels */
    xhal_device *ocl = NULL;
    if (xhal_device_find(ctx, "opencl:0", &ocl) == XHAL_OK && ocl) {
        run_type(ocl, "tiny-llama", "q8_0", "opencl:0");
        run_type(ocl, "tiny-llama", "q4_0", "opencl:0");
        run_type(ocl, "synthetic", "q4_k_m", "opencl:0");
    }
    refusals(cpu);
    xhal_context_destroy(ctx);
    return xtest_finish("test_gguf_llama");
}
