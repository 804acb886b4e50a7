/*
 * bench_model.c - the model port's speed (prefill and decode tokens/s, weight bytes per second
 * in decode against the machine's measured memory bandwidth), the mixture-of-experts figure
 * (a Mixtral against the dense model with the same active parameters), the STREAM-like
 * bandwidth loop, and the random-weight Llama / Mixtral checkpoint writers that make the model
 * figures download-free.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_internal.h"
#include "xhal/plugin/xhal_half.h"
#include "xhal_quant.h"

#ifdef XB_HAVE_LLAMA
#include <cjson/cJSON.h>
#endif

#ifdef XB_HAVE_LLAMA
#include "llama.h"
#endif

/* ------------------------------------------------------------------------- */
/* STREAM-like bandwidth: copy, triad and read over arrays far larger than caches */
/* ------------------------------------------------------------------------- */
typedef struct stream_job {
    double *a, *b, *c;
    size_t begin, end;
    int kernel; /* 0 copy c=a, 1 triad a=b+s*c, 2 read sum(a) */
    double sum;
} stream_job;

static void *stream_worker(void *vj)
{
    stream_job *j = vj;
    double *a = j->a, *b = j->b, *c = j->c;
    const double s = 3.0;
    double acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0;
    switch (j->kernel) {
        case 0:
            for (size_t i = j->begin; i < j->end; i++) c[i] = a[i];
            break;
        case 1:
            for (size_t i = j->begin; i < j->end; i++) a[i] = b[i] + s * c[i];
            break;
        default:
            for (size_t i = j->begin; i + 4 <= j->end; i += 4) {
                acc0 += a[i];
                acc1 += a[i + 1];
                acc2 += a[i + 2];
                acc3 += a[i + 3];
            }
            j->sum = acc0 + acc1 + acc2 + acc3;
            break;
    }
    return NULL;
}

/* One pass of kernel over n doubles with nthreads threads (each thread a contiguous part). */
static void stream_pass(double *a, double *b, double *c, size_t n, int kernel, int nthreads)
{
    pthread_t th[64];
    stream_job jobs[64];
    if (nthreads > 64) nthreads = 64;
    for (int t = 0; t < nthreads; t++) {
        jobs[t] = (stream_job){a,      b,  c, n * (size_t)t / (size_t)nthreads, n * (size_t)(t + 1) / (size_t)nthreads,
                               kernel, 0.0};
        if (t > 0 && pthread_create(&th[t], NULL, stream_worker, &jobs[t]) != 0) {
            stream_worker(&jobs[t]); /* no thread: do it here */
            th[t] = 0;
        }
    }
    stream_worker(&jobs[0]);
    for (int t = 1; t < nthreads; t++)
        if (th[t]) pthread_join(th[t], NULL);
}

void xb_suite_stream(xb_env *e, xb_bandwidth *bw)
{
    size_t n = e->opts->quick ? ((size_t)1 << 21) : ((size_t)1 << 23); /* 16 / 64 MiB per array */
    int nthreads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (nthreads < 1) nthreads = 1;
    double *a = malloc(n * sizeof(double)), *b = malloc(n * sizeof(double)), *c = malloc(n * sizeof(double));
    static const char *names[3] = {"copy", "triad", "read"};
    static const double words[3] = {2.0, 3.0, 1.0};
    memset(bw, 0, sizeof *bw);
    if (!a || !b || !c) {
        free(a);
        free(b);
        free(c);
        return;
    }
    /* touch with the same partitioning as the passes, so pages sit where they are used */
    for (size_t i = 0; i < n; i++) a[i] = 1.0, b[i] = 2.0, c[i] = 0.5;
    int reps = e->opts->quick ? 3 : 10;
    /* copy, triad, read with every thread, then read with one (the bound of one-thread decode) */
    for (int k = 0; k < 4; k++) {
        int kern = k < 3 ? k : 2, th = k < 3 ? nthreads : 1;
        if (k == 3 && nthreads == 1) break;
        double smp[64];
        stream_pass(a, b, c, n, kern, th);
        for (int r = 0; r < reps; r++) {
            double t0 = xb_now();
            stream_pass(a, b, c, n, kern, th);
            smp[r] = xb_now() - t0;
        }
        xb_result r;
        xb_result_init(&r, "host", "memory", "GB/s");
        snprintf(r.name, sizeof r.name, "STREAM-like %s, %d thread%s", names[kern], th, th == 1 ? "" : "s");
        snprintf(r.dtype, sizeof r.dtype, "f64");
        snprintf(r.shape, sizeof r.shape, "%zu doubles x %s", n,
                 kern == 2   ? "1 array"
                 : kern == 0 ? "2 arrays"
                             : "3 arrays");
        r.reps = reps;
        double bytes = words[kern] * 8.0 * (double)n;
        xb_rate(smp, reps, bytes, 1e-9, &r.median, &r.min, &r.max);
        snprintf(r.note, sizeof r.note, "bytes counted as STREAM does (%g words per element, no write-allocate)",
                 words[kern]);
        xb_add(e, &r);
        if (k == 1) bw->triad = r.median;
        if (k == 2) bw->read = r.median;
        if (k == 3) bw->read1 = r.median;
    }
    free(a);
    free(b);
    free(c);
}

/* ------------------------------------------------------------------------- */
/* random-weight Llama checkpoint                                            */
/* ------------------------------------------------------------------------- */
typedef struct wt {
    char name[96];
    int64_t d0, d1; /* d1 == 0: 1-D */
    int ones;       /* norm weights: 1.0 */
} wt;

/* The tensors of a Llama (experts == 0) or of a Mixtral with `experts` experts of intermediate
 * size `inter` each (router block_sparse_moe.gate, experts' w1 / w3 / w2), in file order. */
static int model_tensors(int hidden, int inter, int layers, int heads, int kv_heads, int vocab, int experts, wt **out)
{
    int per = experts > 0 ? 7 + 3 * experts : 9;
    int n = 3 + per * layers, k = 0;
    int64_t hd = hidden / heads;
    wt *w = calloc((size_t)n, sizeof *w);
    if (!w) return -1;
#define XB_W(nm, a, b, o)                                \
    do {                                                 \
        snprintf(w[k].name, sizeof w[k].name, "%s", nm); \
        w[k].d0 = a;                                     \
        w[k].d1 = b;                                     \
        w[k].ones = o;                                   \
        k++;                                             \
    } while (0)
    XB_W("model.embed_tokens.weight", vocab, hidden, 0);
    for (int l = 0; l < layers; l++) {
        char nm[96];
#define XB_L(suffix, a, b, o)                                     \
    do {                                                          \
        snprintf(nm, sizeof nm, "model.layers.%d.%s", l, suffix); \
        XB_W(nm, a, b, o);                                        \
    } while (0)
        XB_L("input_layernorm.weight", hidden, 0, 1);
        XB_L("self_attn.q_proj.weight", heads * hd, hidden, 0);
        XB_L("self_attn.k_proj.weight", kv_heads * hd, hidden, 0);
        XB_L("self_attn.v_proj.weight", kv_heads * hd, hidden, 0);
        XB_L("self_attn.o_proj.weight", hidden, heads * hd, 0);
        XB_L("post_attention_layernorm.weight", hidden, 0, 1);
        if (experts > 0) {
            XB_L("block_sparse_moe.gate.weight", experts, hidden, 0);
            for (int x = 0; x < experts; x++) {
                char sfx[80];
                snprintf(sfx, sizeof sfx, "block_sparse_moe.experts.%d.w1.weight", x);
                XB_L(sfx, inter, hidden, 0);
                snprintf(sfx, sizeof sfx, "block_sparse_moe.experts.%d.w3.weight", x);
                XB_L(sfx, inter, hidden, 0);
                snprintf(sfx, sizeof sfx, "block_sparse_moe.experts.%d.w2.weight", x);
                XB_L(sfx, hidden, inter, 0);
            }
        } else {
            XB_L("mlp.gate_proj.weight", inter, hidden, 0);
            XB_L("mlp.up_proj.weight", inter, hidden, 0);
            XB_L("mlp.down_proj.weight", hidden, inter, 0);
        }
#undef XB_L
    }
    XB_W("model.norm.weight", hidden, 0, 1);
    XB_W("lm_head.weight", vocab, hidden, 0);
#undef XB_W
    *out = w;
    return k;
}

static int llama_tensors(int hidden, int inter, int layers, int heads, int kv_heads, int vocab, wt **out)
{
    return model_tensors(hidden, inter, layers, heads, kv_heads, vocab, 0, out);
}

/* The weights' values: one xorshift stream over the tensors in llama_tensors' order, so that
 * the safetensors and the GGUF files hold the same weights (GGUF's quantized where asked). */
#define XB_RNG_SEED 0x9e3779b97f4a7c15ull
static void gen_fill(uint64_t *rng, const wt *w, float *buf, size_t m)
{
    /* small weights (std ~ 1/sqrt(fan-in)) keep activations finite through the layers */
    float scale = w->d1 ? 1.0f / (float)w->d1 : 0.0f;
    uint64_t r = *rng;
    for (size_t j = 0; j < m; j++) {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        float u = (float)((r >> 40) & 0xffffff) / 16777216.0f * 2.0f - 1.0f;
        buf[j] = w->ones ? 1.0f : u * 1.7f * scale * 16.0f;
    }
    *rng = r;
}

/* config.json (text) and model.safetensors of the tensors w[0..n) with gen_fill's weights, in dir */
static int write_checkpoint(const char *dir, const char *config, const wt *w, int n, char *err, size_t errsize)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f || fputs(config, f) < 0) {
        snprintf(err, errsize, "cannot write %s: %s", path, strerror(errno));
        if (f) fclose(f);
        return -1;
    }
    if (fclose(f) != 0) {
        snprintf(err, errsize, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    /* header: JSON object of name -> dtype, shape, data_offsets; padded with spaces to 8 bytes */
    size_t cap = (size_t)n * 192 + 64, len = 0;
    char *hdr = malloc(cap);
    if (!hdr) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    uint64_t off = 0;
    len += (size_t)snprintf(hdr + len, cap - len, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = 0; i < n; i++) {
        uint64_t bytes = (uint64_t)w[i].d0 * (uint64_t)(w[i].d1 ? w[i].d1 : 1) * 4u;
        if (w[i].d1)
            len += (size_t)snprintf(hdr + len, cap - len,
                                    ",\"%s\":{\"dtype\":\"F32\",\"shape\":[%lld,%lld],\"data_offsets\":[%llu,%llu]}",
                                    w[i].name, (long long)w[i].d0, (long long)w[i].d1, (unsigned long long)off,
                                    (unsigned long long)(off + bytes));
        else
            len += (size_t)snprintf(
                hdr + len, cap - len, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[%lld],\"data_offsets\":[%llu,%llu]}",
                w[i].name, (long long)w[i].d0, (unsigned long long)off, (unsigned long long)(off + bytes));
        off += bytes;
    }
    len += (size_t)snprintf(hdr + len, cap - len, "}");
    while (len % 8) hdr[len++] = ' ';
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    f = fopen(path, "wb");
    int rc = -1;
    float *buf = malloc((size_t)1 << 22);
    if (!f || !buf) {
        snprintf(err, errsize, "cannot write %s: %s", path, f ? "out of memory" : strerror(errno));
        goto done;
    }
    uint64_t hl = len;
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(hl >> (8 * i));
    if (fwrite(le, 1, 8, f) != 8 || fwrite(hdr, 1, len, f) != len) goto io;
    uint64_t rng = XB_RNG_SEED;
    for (int i = 0; i < n; i++) {
        uint64_t cnt = (uint64_t)w[i].d0 * (uint64_t)(w[i].d1 ? w[i].d1 : 1);
        while (cnt > 0) {
            size_t m = cnt < ((size_t)1 << 20) ? (size_t)cnt : ((size_t)1 << 20);
            gen_fill(&rng, &w[i], buf, m);
            if (fwrite(buf, sizeof(float), m, f) != m) goto io;
            cnt -= m;
        }
    }
    if (fclose(f) != 0) {
        f = NULL;
        goto io;
    }
    f = NULL;
    rc = 0;
    goto done;
io:
    snprintf(err, errsize, "cannot write %s: %s", path, strerror(errno));
done:
    if (f) fclose(f);
    free(buf);
    free(hdr);
    return rc;
}

int xb_write_llama(const char *dir, int hidden, int inter, int layers, int heads, int kv_heads, int vocab, char *err,
                   size_t errsize)
{
    char config[1024];
    snprintf(config, sizeof config,
             "{\n  \"architectures\": [\"LlamaForCausalLM\"],\n  \"model_type\": \"llama\",\n"
             "  \"hidden_size\": %d,\n  \"intermediate_size\": %d,\n  \"num_hidden_layers\": %d,\n"
             "  \"num_attention_heads\": %d,\n  \"num_key_value_heads\": %d,\n  \"vocab_size\": %d,\n"
             "  \"max_position_embeddings\": 2048,\n  \"rms_norm_eps\": 1e-05,\n  \"rope_theta\": 10000.0,\n"
             "  \"hidden_act\": \"silu\",\n  \"tie_word_embeddings\": false,\n  \"torch_dtype\": \"float32\"\n}\n",
             hidden, inter, layers, heads, kv_heads, vocab);
    wt *w = NULL;
    int n = llama_tensors(hidden, inter, layers, heads, kv_heads, vocab, &w);
    if (n < 0) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    int rc = write_checkpoint(dir, config, w, n, err, errsize);
    free(w);
    return rc;
}

int xb_write_mixtral(const char *dir, int hidden, int expert_inter, int layers, int heads, int kv_heads, int vocab,
                     int experts, int top_k, char *err, size_t errsize)
{
    char config[1024];
    snprintf(config, sizeof config,
             "{\n  \"architectures\": [\"MixtralForCausalLM\"],\n  \"model_type\": \"mixtral\",\n"
             "  \"hidden_size\": %d,\n  \"intermediate_size\": %d,\n  \"num_hidden_layers\": %d,\n"
             "  \"num_attention_heads\": %d,\n  \"num_key_value_heads\": %d,\n  \"vocab_size\": %d,\n"
             "  \"num_local_experts\": %d,\n  \"num_experts_per_tok\": %d,\n  \"sliding_window\": null,\n"
             "  \"max_position_embeddings\": 2048,\n  \"rms_norm_eps\": 1e-05,\n  \"rope_theta\": 10000.0,\n"
             "  \"hidden_act\": \"silu\",\n  \"tie_word_embeddings\": false,\n  \"torch_dtype\": \"float32\"\n}\n",
             hidden, expert_inter, layers, heads, kv_heads, vocab, experts, top_k);
    wt *w = NULL;
    int n = model_tensors(hidden, expert_inter, layers, heads, kv_heads, vocab, experts, &w);
    if (n < 0) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    int rc = write_checkpoint(dir, config, w, n, err, errsize);
    free(w);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* the same checkpoint as a llama.cpp GGUF file (f32, f16, q8_0 or q4_0 matrices)             */
/* ------------------------------------------------------------------------- */
/* GGUF v3, little-endian: header, key/values, tensor infos, data aligned to 32 bytes. The 2-D
 * weights take wdt (quantized with xhal_quant.h's reference codecs, as llama.cpp's quantizer
 * writes them), the norms stay f32 (as llama-quantize leaves them). The tokenizer is a
 * placeholder SentencePiece vocabulary (<unk>, <s>, </s>, the 256 byte tokens, then t<i>) so
 * that llama.cpp loads the file too; the benchmarks feed token ids, never text. */
enum { GG_U32 = 4, GG_I32 = 5, GG_F32 = 6, GG_STR = 8, GG_ARR = 9 };

static void gg_u32(FILE *f, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    fwrite(b, 1, 4, f);
}

static void gg_u64(FILE *f, uint64_t v)
{
    gg_u32(f, (uint32_t)v);
    gg_u32(f, (uint32_t)(v >> 32));
}

static void gg_f32(FILE *f, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    gg_u32(f, u);
}

static void gg_str(FILE *f, const char *s)
{
    gg_u64(f, strlen(s));
    fwrite(s, 1, strlen(s), f);
}

static void gg_kv_u32(FILE *f, const char *k, uint32_t v)
{
    gg_str(f, k);
    gg_u32(f, GG_U32);
    gg_u32(f, v);
}

static void gg_kv_f32(FILE *f, const char *k, float v)
{
    gg_str(f, k);
    gg_u32(f, GG_F32);
    gg_f32(f, v);
}

static void gg_kv_str(FILE *f, const char *k, const char *v)
{
    gg_str(f, k);
    gg_u32(f, GG_STR);
    gg_str(f, v);
}

/* ggml's type number and the bytes of a row of n elements of dt */
static uint32_t gg_type(xhal_dtype dt)
{
    switch (dt) {
        case XHAL_DTYPE_F16: return 1;
        case XHAL_DTYPE_Q4_0: return 2;
        case XHAL_DTYPE_Q8_0: return 8;
        default: return 0;
    }
}

static uint64_t gg_bytes(xhal_dtype dt, uint64_t n)
{
    switch (dt) {
        case XHAL_DTYPE_F16: return 2 * n;
        case XHAL_DTYPE_Q4_0: return n / XHAL_QK4_0 * XHAL_Q4_0_BYTES;
        case XHAL_DTYPE_Q8_0: return n / XHAL_QK8_0 * XHAL_Q8_0_BYTES;
        default: return 4 * n;
    }
}

/* llama.cpp's name of tensor i of llama_tensors */
static void gg_name(const char *hf, char *out, size_t len)
{
    static const char *const layer[][2] = {
        {"input_layernorm.weight", "attn_norm.weight"},    {"self_attn.q_proj.weight", "attn_q.weight"},
        {"self_attn.k_proj.weight", "attn_k.weight"},      {"self_attn.v_proj.weight", "attn_v.weight"},
        {"self_attn.o_proj.weight", "attn_output.weight"}, {"post_attention_layernorm.weight", "ffn_norm.weight"},
        {"mlp.gate_proj.weight", "ffn_gate.weight"},       {"mlp.up_proj.weight", "ffn_up.weight"},
        {"mlp.down_proj.weight", "ffn_down.weight"}};
    int l = -1, used = 0;
    if (!strcmp(hf, "model.embed_tokens.weight"))
        snprintf(out, len, "token_embd.weight");
    else if (!strcmp(hf, "model.norm.weight"))
        snprintf(out, len, "output_norm.weight");
    else if (!strcmp(hf, "lm_head.weight"))
        snprintf(out, len, "output.weight");
    else if (sscanf(hf, "model.layers.%d.%n", &l, &used) == 1 && used > 0) {
        snprintf(out, len, "%s", hf);
        for (size_t i = 0; i < sizeof layer / sizeof layer[0]; i++)
            if (!strcmp(hf + used, layer[i][0])) snprintf(out, len, "blk.%d.%s", l, layer[i][1]);
    } else
        snprintf(out, len, "%s", hf);
}

int xb_write_llama_gguf(const char *path, int hidden, int inter, int layers, int heads, int kv_heads, int vocab,
                        xhal_dtype wdt, char *err, size_t errsize)
{
    wt *w = NULL;
    int n = llama_tensors(hidden, inter, layers, heads, kv_heads, vocab, &w);
    if (n < 0) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    if ((wdt == XHAL_DTYPE_Q8_0 || wdt == XHAL_DTYPE_Q4_0) && (hidden % 32 || inter % 32)) {
        snprintf(err, errsize, "%s weights need hidden and intermediate sizes that are multiples of 32 (%d, %d)",
                 xhal_dtype_name(wdt), hidden, inter);
        free(w);
        return -1;
    }
    FILE *f = fopen(path, "wb");
    float *buf = malloc(((size_t)1 << 20) * sizeof(float));
    unsigned char *qb = malloc(((size_t)1 << 20) * sizeof(float));
    int rc = -1;
    if (!f || !buf || !qb) {
        snprintf(err, errsize, "cannot write %s: %s", path, f ? "out of memory" : strerror(errno));
        goto done;
    }
    fwrite("GGUF", 1, 4, f);
    gg_u32(f, 3);
    gg_u64(f, (uint64_t)n);
    gg_u64(f, 17);
    gg_kv_str(f, "general.architecture", "llama");
    gg_kv_str(f, "general.name", "xhal-bench random weights");
    gg_kv_u32(f, "general.file_type",
              wdt == XHAL_DTYPE_F32    ? 0u
              : wdt == XHAL_DTYPE_F16  ? 1u
              : wdt == XHAL_DTYPE_Q4_0 ? 2u
                                       : 7u);
    gg_kv_u32(f, "llama.context_length", 2048);
    gg_kv_u32(f, "llama.embedding_length", (uint32_t)hidden);
    gg_kv_u32(f, "llama.feed_forward_length", (uint32_t)inter);
    gg_kv_u32(f, "llama.block_count", (uint32_t)layers);
    gg_kv_u32(f, "llama.attention.head_count", (uint32_t)heads);
    gg_kv_u32(f, "llama.attention.head_count_kv", (uint32_t)kv_heads);
    gg_kv_u32(f, "llama.rope.dimension_count", (uint32_t)(hidden / heads));
    gg_kv_f32(f, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    gg_kv_f32(f, "llama.rope.freq_base", 10000.0f);
    gg_kv_u32(f, "llama.vocab_size", (uint32_t)vocab);
    gg_kv_str(f, "tokenizer.ggml.model", "llama");
    char tok[32];
    gg_str(f, "tokenizer.ggml.tokens");
    gg_u32(f, GG_ARR);
    gg_u32(f, GG_STR);
    gg_u64(f, (uint64_t)vocab);
    for (int i = 0; i < vocab; i++) {
        if (i < 3)
            snprintf(tok, sizeof tok, "%s", i == 0 ? "<unk>" : i == 1 ? "<s>" : "</s>");
        else if (i < 3 + 256)
            snprintf(tok, sizeof tok, "<0x%02X>", i - 3);
        else
            snprintf(tok, sizeof tok, "t%d", i);
        gg_str(f, tok);
    }
    gg_str(f, "tokenizer.ggml.scores");
    gg_u32(f, GG_ARR);
    gg_u32(f, GG_F32);
    gg_u64(f, (uint64_t)vocab);
    for (int i = 0; i < vocab; i++) gg_f32(f, i < 3 + 256 ? 0.0f : -(float)i);
    gg_str(f, "tokenizer.ggml.token_type");
    gg_u32(f, GG_ARR);
    gg_u32(f, GG_I32);
    gg_u64(f, (uint64_t)vocab);
    for (int i = 0; i < vocab; i++) gg_u32(f, i == 0 ? 2u : i < 3 ? 3u : i < 3 + 256 ? 6u : 1u);
    /* tensor infos: dims innermost first */
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        char nm[96];
        gg_name(w[i].name, nm, sizeof nm);
        xhal_dtype dt = w[i].d1 ? wdt : XHAL_DTYPE_F32;
        gg_str(f, nm);
        gg_u32(f, w[i].d1 ? 2u : 1u);
        if (w[i].d1) {
            gg_u64(f, (uint64_t)w[i].d1);
            gg_u64(f, (uint64_t)w[i].d0);
        } else {
            gg_u64(f, (uint64_t)w[i].d0);
        }
        gg_u32(f, gg_type(dt));
        gg_u64(f, off);
        off += gg_bytes(dt, (uint64_t)w[i].d0 * (uint64_t)(w[i].d1 ? w[i].d1 : 1));
        off = (off + 31) / 32 * 32;
    }
    static const unsigned char zeros[32] = {0};
    long pos = ftell(f);
    if (pos < 0) goto io;
    fwrite(zeros, 1, (size_t)((32 - pos % 32) % 32), f);
    uint64_t rng = XB_RNG_SEED, written = 0;
    for (int i = 0; i < n; i++) {
        xhal_dtype dt = w[i].d1 ? wdt : XHAL_DTYPE_F32;
        uint64_t row = (uint64_t)(w[i].d1 ? w[i].d1 : w[i].d0), rows = w[i].d1 ? (uint64_t)w[i].d0 : 1;
        uint64_t per = ((uint64_t)1 << 20) / row; /* whole rows per chunk */
        for (uint64_t r = 0; r < rows; r += per) {
            size_t m = (size_t)((rows - r < per ? rows - r : per) * row);
            gen_fill(&rng, &w[i], buf, m);
            size_t nb = (size_t)gg_bytes(dt, m);
            if (dt == XHAL_DTYPE_F32) {
                for (size_t j = 0; j < m; j++) {
                    uint32_t u;
                    memcpy(&u, &buf[j], 4);
                    for (int k = 0; k < 4; k++) qb[4 * j + (size_t)k] = (unsigned char)(u >> (8 * k));
                }
            } else if (dt == XHAL_DTYPE_F16) {
                for (size_t j = 0; j < m; j++) {
                    uint16_t h = xhal_f32_to_f16(buf[j]);
                    qb[2 * j] = (unsigned char)h;
                    qb[2 * j + 1] = (unsigned char)(h >> 8);
                }
            } else if (dt == XHAL_DTYPE_Q8_0) {
                xhal_quant_q8_0(buf, qb, (int64_t)(m / XHAL_QK8_0));
            } else {
                xhal_quant_q4_0(buf, qb, (int64_t)(m / XHAL_QK4_0));
            }
            if (fwrite(qb, 1, nb, f) != nb) goto io;
            written += nb;
        }
        uint64_t pad = (32 - written % 32) % 32;
        if (pad && fwrite(zeros, 1, (size_t)pad, f) != pad) goto io;
        written += pad;
    }
    if (written != off) {
        snprintf(err, errsize, "%s: wrote %llu data bytes, expected %llu", path, (unsigned long long)written,
                 (unsigned long long)off);
        goto done;
    }
    if (fclose(f) != 0) {
        f = NULL;
        goto io;
    }
    f = NULL;
    rc = 0;
    goto done;
io:
    snprintf(err, errsize, "cannot write %s: %s", path, strerror(errno));
done:
    if (f) fclose(f);
    free(buf);
    free(qb);
    free(w);
    return rc;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

/* ------------------------------------------------------------------------- */
/* the model port                                                             */
/* ------------------------------------------------------------------------- */
#ifndef XB_HAVE_LLAMA
int xb_model_wanted(const xb_env *e) { return xb_want(e, "llama decode"); }

void xb_suite_model(xb_env *e, xb_dev *d, const xb_bandwidth *bw)
{
    (void)bw;
    xb_result r;
    xb_result_init(&r, d->info.spec, "model", "tokens/s");
    snprintf(r.name, sizeof r.name, "llama decode");
    r.failed = 1;
    snprintf(r.note, sizeof r.note, "xhal_bench was built without the model port (xhal_llama)");
    xb_add(e, &r);
}
#else
/* the weights' dtypes (f32 and f16 from safetensors, q8_0 and q4_0 from GGUF), each at the
 * device's threads and (CPU) at one thread: label = dtype part + thread part */
#define XB_NDT 4
static const xhal_dtype xb_variant_dts[XB_NDT] = {XHAL_DTYPE_F32, XHAL_DTYPE_F16, XHAL_DTYPE_Q8_0, XHAL_DTYPE_Q4_0};
static const char *const xb_variant_dtl[XB_NDT] = {"", ", f16", ", q8_0", ", q4_0"};

static void variant_label(char *buf, size_t len, int dti, int one_thread)
{
    snprintf(buf, len, "%s%s", xb_variant_dtl[dti], one_thread ? ", 1 thread" : "");
}
/* f32 weights at the device's threads with the decode step replayed from an xhal_graph */
#define XB_GRAPH_LABEL ", graph"
#define XB_OVERHEAD_NAME "llama decode step host overhead"

/* 1 if the filter lets one of the model figures of variant `label` run */
static int variant_wanted(const xb_env *e, const char *label, int n_prompt, int n_gen)
{
    char nm[96];
    snprintf(nm, sizeof nm, "llama prefill %d-token prompt%s", n_prompt, label);
    if (xb_want(e, nm)) return 1;
    snprintf(nm, sizeof nm, "llama decode (%d steps)%s", n_gen - 1, label);
    if (xb_want(e, nm)) return 1;
    snprintf(nm, sizeof nm, "llama decode weight bytes/s%s", label);
    return xb_want(e, nm);
}

#define XB_MOE_PREFILL "moe prefill %d-token prompt"
#define XB_MOE_DECODE "moe decode (%d steps)"
#define XB_MOE_BYTES "moe decode weight bytes/s"
#define XB_MOE_TOUCHED "moe weight bytes per decode token"
#define XB_MOE_PEER "dense, same active parameters"

static int moe_wanted(const xb_env *e, int n_prompt, int n_gen)
{
    char nm[96];
    snprintf(nm, sizeof nm, XB_MOE_PREFILL, n_prompt);
    if (xb_want(e, nm)) return 1;
    snprintf(nm, sizeof nm, XB_MOE_DECODE, n_gen - 1);
    if (xb_want(e, nm)) return 1;
    return xb_want(e, XB_MOE_BYTES) || xb_want(e, XB_MOE_TOUCHED);
}

int xb_model_wanted(const xb_env *e)
{
    for (int i = 0; i < 2 * XB_NDT; i++) {
        char label[48];
        variant_label(label, sizeof label, i % XB_NDT, i / XB_NDT);
        if (variant_wanted(e, label, e->opts->quick ? 16 : 128, e->opts->quick ? 5 : 33)) return 1;
    }
    return variant_wanted(e, XB_GRAPH_LABEL, e->opts->quick ? 16 : 128, e->opts->quick ? 5 : 33) ||
           xb_want(e, XB_OVERHEAD_NAME) || xb_want(e, XB_OVERHEAD_NAME ", graph") ||
           moe_wanted(e, e->opts->quick ? 16 : 128, e->opts->quick ? 5 : 33);
}

/* llama.cpp's llama-bench (XHAL_BENCH_LLAMA_BENCH) on the same GGUF file: tokens/s of n_gen
 * generated tokens after a context of `depth` tokens, at `threads` threads, one repetition
 * (after llama-bench's own warm-up run). Returns -1 with err set when it cannot run. */
static double llama_bench_tg(const char *exe, const char *gguf, const char *dir, int threads, int n_gen, int depth,
                             char *err, size_t errsize)
{
    if (strchr(exe, '\'') || strchr(gguf, '\'')) {
        snprintf(err, errsize, "XHAL_BENCH_LLAMA_BENCH or the model path contains a single quote");
        return -1;
    }
    char cmd[3072], errpath[1100];
    snprintf(errpath, sizeof errpath, "%s/llama-bench.err", dir);
    snprintf(cmd, sizeof cmd, "'%s' -m '%s' -p 0 -n %d -d %d -t %d -r 1 -o json 2>'%s'", exe, gguf, n_gen, depth,
             threads, errpath);
    FILE *p = popen(cmd, "r");
    if (!p) {
        snprintf(err, errsize, "cannot run %s: %s", exe, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    while (out) {
        if (len + 4096 > cap) {
            char *t = realloc(out, cap * 2);
            if (!t) break;
            out = t;
            cap *= 2;
        }
        size_t r = fread(out + len, 1, cap - len - 1, p);
        if (r == 0) break;
        len += r;
    }
    int st = pclose(p);
    double ts = -1;
    if (out) {
        out[len] = 0;
        cJSON *root = cJSON_Parse(out);
        const cJSON *it;
        cJSON_ArrayForEach(it, root)
        {
            const cJSON *ng = cJSON_GetObjectItemCaseSensitive(it, "n_gen");
            const cJSON *avg = cJSON_GetObjectItemCaseSensitive(it, "avg_ts");
            if (cJSON_IsNumber(ng) && ng->valuedouble > 0 && cJSON_IsNumber(avg)) ts = avg->valuedouble;
        }
        cJSON_Delete(root);
    }
    free(out);
    if (ts <= 0) {
        char line[256] = "";
        FILE *ef = fopen(errpath, "r");
        if (ef) { /* the last line llama-bench printed says why */
            char l[256];
            while (fgets(l, sizeof l, ef))
                if (l[0] != '\n') snprintf(line, sizeof line, "%s", l);
            fclose(ef);
        }
        line[strcspn(line, "\n")] = 0;
        snprintf(err, errsize, "llama-bench exited with status %d and no decode figure: %s", st, line);
        return -1;
    }
    return ts;
}

/* One way of running the model: weights in wdt (f32/f16 from safetensors, computed in that
 * dtype; q8_0/q4_0 from GGUF, computed in f32), the CPU pool at `threads` threads (0: the
 * device as the bench opened it). */
typedef struct xb_variant {
    xhal_dtype wdt, cdt;
    int threads;
    int graph;         /* xllama_options.decode_graph */
    xhal_context *ctx; /* own context for a thread count other than the device's, else NULL */
    xllama_model *m;
    double ps[16], ds[16], peer[16]; /* peer: llama-bench tokens/s, < 0 when it failed */
    int ok, npeer;
    char err[512], peer_err[320];
    char label[48]; /* "", ", f16", ", q8_0", ", q4_0", each also with ", 1 thread"; ", graph" */
} xb_variant;

/* A second context whose CPU backend runs `threads` pool threads (XHAL_CPU_THREADS is read
 * when the backend starts), with the device named like d. */
static int variant_device(xb_variant *v, const xb_dev *d, xhal_device **dev)
{
    char *old = getenv("XHAL_CPU_THREADS");
    char saved[32] = "";
    int had = old != NULL;
    if (had) snprintf(saved, sizeof saved, "%s", old);
    char num[16];
    snprintf(num, sizeof num, "%d", v->threads);
    setenv("XHAL_CPU_THREADS", num, 1);
    xhal_status st = xhal_context_create(NULL, &v->ctx);
    if (had)
        setenv("XHAL_CPU_THREADS", saved, 1);
    else
        unsetenv("XHAL_CPU_THREADS");
    if (st == XHAL_OK) st = xhal_device_find(v->ctx, d->info.spec, dev);
    if (st != XHAL_OK) {
        snprintf(v->err, sizeof v->err, "context with XHAL_CPU_THREADS=%d: %s", v->threads, xhal_last_error());
        return -1;
    }
    return 0;
}

/* Bytes of weights one decode step reads with weights in wdt, computed in cdt: every layer
 * matrix and lm_head in wdt, the norms as loaded (f32 from GGUF, cdt from safetensors), one
 * embedding row in cdt (a quantized embedding is dequantized at load). */
static double step_bytes(const wt *w, int n, xhal_dtype wdt, xhal_dtype cdt)
{
    double b = 0;
    int quant = wdt == XHAL_DTYPE_Q8_0 || wdt == XHAL_DTYPE_Q4_0;
    for (int i = 0; i < n; i++) {
        if (!strcmp(w[i].name, "model.embed_tokens.weight"))
            b += (double)w[i].d1 * (double)xhal_dtype_size(cdt);
        else if (!w[i].d1)
            b += (double)w[i].d0 * (double)xhal_dtype_size(quant ? XHAL_DTYPE_F32 : cdt);
        else
            b += (double)gg_bytes(wdt, (uint64_t)w[i].d0 * (uint64_t)w[i].d1);
    }
    return b;
}

/* Per-token host overhead of the decode step: a Llama so small (hidden 64, 4 layers, vocabulary
 * 256) that the device's arithmetic is a few microseconds, decoded one token at a time op by op
 * and replayed from a graph, in interleaved rounds (both see the same load). The step time is
 * then mostly what the host pays: the port's views, the core's validation and descriptors,
 * the backend's enqueue, the embedding's index check and the logits' read. */
static void suite_overhead(xb_env *e, xb_dev *d)
{
    if (!xb_want(e, XB_OVERHEAD_NAME) && !xb_want(e, XB_OVERHEAD_NAME ", graph")) return;
    const int hidden = 64, inter = 128, layers = 4, heads = 4, kv = 2, vocab = 256;
    const int n_prompt = 4, n_gen = e->opts->quick ? 17 : 129, reps = e->opts->quick ? 3 : 7;
    char dir[] = "/tmp/xhal-bench-tiny-XXXXXX", err[512] = "";
    xllama_model *m[2] = {NULL, NULL};
    double smp[2][16];
    int32_t prompt[4] = {1, 2, 3, 4}, *out = malloc((size_t)n_gen * sizeof *out);
    if (!out) snprintf(err, sizeof err, "out of memory");
    if (!err[0] && !mkdtemp(dir)) {
        snprintf(err, sizeof err, "mkdtemp: %s", strerror(errno));
        dir[0] = 0;
    }
    if (!err[0]) xb_write_llama(dir, hidden, inter, layers, heads, kv, vocab, err, sizeof err);
    for (int g = 0; g < 2 && !err[0]; g++) {
        xllama_options o;
        xllama_options_init(&o);
        o.compute_dtype = XHAL_DTYPE_F32;
        o.decode_graph = g;
        o.max_seq = n_prompt + n_gen + 8;
        if (xllama_load(d->dev, dir, &o, &m[g]) != XHAL_OK)
            snprintf(err, sizeof err, "xllama_load: %s", xllama_last_error());
        else if (xllama_generate(m[g], prompt, n_prompt, 3, out, NULL, NULL, NULL) != XHAL_OK) /* warm-up */
            snprintf(err, sizeof err, "xllama_generate: %s", xllama_last_error());
    }
    for (int r = 0; r < reps && !err[0]; r++)
        for (int g = 0; g < 2 && !err[0]; g++) {
            xllama_timing t;
            if (xllama_generate(m[g], prompt, n_prompt, n_gen, out, NULL, NULL, &t) != XHAL_OK)
                snprintf(err, sizeof err, "xllama_generate: %s", xllama_last_error());
            else
                smp[g][r] = t.decode_s / (double)(t.n_decode > 0 ? t.n_decode : 1) * 1e6;
        }
    xb_result res[2];
    for (int g = 0; g < 2; g++) {
        xb_result *r = &res[g];
        xb_result_init(r, d->info.spec, "model", "us");
        r->higher_is_better = 0;
        snprintf(r->name, sizeof r->name, "%s%s", XB_OVERHEAD_NAME, g ? ", graph" : "");
        snprintf(r->dtype, sizeof r->dtype, "f32");
        snprintf(r->shape, sizeof r->shape, "h%d i%d L%d H%d/%d V%d", hidden, inter, layers, heads, kv, vocab);
        if (err[0]) {
            r->failed = 1;
            snprintf(r->note, sizeof r->note, "%s", err);
            continue;
        }
        r->reps = reps;
        xb_stats(smp[g], reps, &r->median, &r->min, &r->max);
        snprintf(r->note, sizeof r->note,
                 "us per decode step (%d steps, one token each) of a model whose arithmetic is negligible: "
                 "%d ops per step %s",
                 n_gen - 1, 18 * layers + 2,
                 g ? "replayed from one xhal_graph (xllama_options.decode_graph)"
                   : "validated and dispatched one by one");
    }
    if (!err[0]) xb_set_peer(&res[1], "the same step op by op", res[0].median, res[0].min, res[0].max);
    xb_add(e, &res[0]);
    xb_add(e, &res[1]);
    for (int g = 0; g < 2; g++) xllama_destroy(m[g]);
    free(out);
    if (dir[0] && strstr(dir, "XXXXXX") == NULL) nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* Mixture of experts: a random-weight Mixtral (8 experts, top 2, each expert half the dense bench
 * model's intermediate size) and, as its peer, the dense Llama with the same active parameters
 * (intermediate = top-k x the expert size; the same attention, embedding and head), both written
 * by the bench to a temp folder, loaded with f32 compute and run in interleaved rounds so that
 * both see the same load. */
/* f32 weight bytes of the tensors (all: every expert; else one token's step: the top_k of
 * `experts` experts of each layer and one embedding row) */
static double moe_bytes(const wt *w, int n, int experts, int top_k, int all)
{
    double b = 0;
    for (int i = 0; i < n; i++) {
        double t = (double)w[i].d0 * (double)(w[i].d1 ? w[i].d1 : 1) * 4.0;
        if (!all && !strcmp(w[i].name, "model.embed_tokens.weight")) t = (double)w[i].d1 * 4.0;
        if (!all && experts > 0 && strstr(w[i].name, ".experts.")) t *= (double)top_k / (double)experts;
        b += t;
    }
    return b;
}

static void suite_moe(xb_env *e, xb_dev *d, const xb_bandwidth *bw)
{
    const int quick = e->opts->quick;
    const int n_prompt = quick ? 16 : 128;
    int n_gen = quick ? 5 : 33, reps = quick ? 2 : 3;
    if (!moe_wanted(e, n_prompt, n_gen)) return;
    const int hidden = quick ? 256 : 1024, layers = quick ? 2 : 8, heads = quick ? 4 : 16, kv = quick ? 2 : 4;
    const int vocab = quick ? 1024 : 8192, E = 8, K = 2, im = quick ? 352 : 1408, dense_inter = K * im;
    const int threads = d->info.compute_units > 0 ? d->info.compute_units : 1;
    char dir[] = "/tmp/xhal-bench-moe-XXXXXX", sub[2][64], err[512] = "", shape[64];
    static const char *const what[2] = {"moe", "dense"};
    xllama_model *m[2] = {NULL, NULL};
    double ps[2][16], ds[2][16];
    wt *tw[2] = {NULL, NULL};
    int nt[2] = {-1, -1};
    int32_t *prompt = malloc((size_t)n_prompt * sizeof *prompt), *out = malloc((size_t)n_gen * sizeof *out);
    nt[0] = model_tensors(hidden, im, layers, heads, kv, vocab, E, &tw[0]);
    nt[1] = model_tensors(hidden, dense_inter, layers, heads, kv, vocab, 0, &tw[1]);
    snprintf(shape, sizeof shape, "h%d E%d x i%d top%d L%d H%d/%d V%d", hidden, E, im, K, layers, heads, kv, vocab);
    if (!prompt || !out || nt[0] < 0 || nt[1] < 0) snprintf(err, sizeof err, "out of memory");
    if (!err[0] && !mkdtemp(dir)) {
        snprintf(err, sizeof err, "mkdtemp: %s", strerror(errno));
        dir[0] = 0;
    }
    for (int g = 0; g < 2 && !err[0]; g++) {
        snprintf(sub[g], sizeof sub[g], "%s/%s", dir, what[g]);
        if (mkdir(sub[g], 0700) != 0) snprintf(err, sizeof err, "mkdir %s: %s", sub[g], strerror(errno));
    }
    if (!err[0]) xb_write_mixtral(sub[0], hidden, im, layers, heads, kv, vocab, E, K, err, sizeof err);
    if (!err[0]) xb_write_llama(sub[1], hidden, dense_inter, layers, heads, kv, vocab, err, sizeof err);
    for (int i = 0; prompt && i < n_prompt; i++) prompt[i] = (int32_t)((i * 7919 + 13) % vocab);
    xb_blas_threads(threads);
    for (int g = 0; g < 2 && !err[0]; g++) {
        xllama_options o;
        xllama_options_init(&o);
        o.compute_dtype = XHAL_DTYPE_F32;
        o.max_seq = n_prompt + n_gen + 8;
        o.max_batch = n_prompt;
        xllama_timing t;
        const int64_t nw = n_prompt < 8 ? n_prompt : 8;
        if (xllama_load(d->dev, sub[g], &o, &m[g]) != XHAL_OK)
            snprintf(err, sizeof err, "xllama_load (%s): %s", what[g], xllama_last_error());
        else if (xllama_generate(m[g], prompt, nw, 3, out, NULL, NULL, &t) != XHAL_OK) /* warm-up */
            snprintf(err, sizeof err, "xllama_generate (%s): %s", what[g], xllama_last_error());
        else if (g == 0) { /* a device where the rounds would take minutes runs fewer steps, once */
            double step = t.decode_s / (double)(t.n_decode > 0 ? t.n_decode : 1);
            double prefill_est = t.prefill_s * (double)n_prompt / (double)nw;
            if (!quick && (step * (n_gen - 1) + prefill_est) * 2 * reps > 120.0) {
                reps = 1;
                int gn = (int)(30.0 / (step > 0 ? step : 1)) + 1;
                if (gn < n_gen) n_gen = gn < 3 ? 3 : gn;
            }
        }
    }
    for (int r = 0; r < reps && !err[0]; r++)
        for (int g = 0; g < 2 && !err[0]; g++) {
            xllama_timing t;
            if (xllama_generate(m[g], prompt, n_prompt, n_gen, out, NULL, NULL, &t) != XHAL_OK) {
                snprintf(err, sizeof err, "xllama_generate (%s): %s", what[g], xllama_last_error());
                break;
            }
            ps[g][r] = t.prefill_s;
            ds[g][r] = t.decode_s / (double)(t.n_decode > 0 ? t.n_decode : 1);
        }

    xb_result rp, rd, rb, rt;
    xb_result *all[4] = {&rp, &rd, &rb, &rt};
    for (int i = 0; i < 4; i++) {
        xb_result_init(all[i], d->info.spec, "model", i == 2 ? "GB/s" : i == 3 ? "MB" : "tokens/s");
        snprintf(all[i]->dtype, sizeof all[i]->dtype, "f32");
        snprintf(all[i]->shape, sizeof all[i]->shape, "%s", shape);
    }
    snprintf(rp.name, sizeof rp.name, XB_MOE_PREFILL, n_prompt);
    snprintf(rd.name, sizeof rd.name, XB_MOE_DECODE, n_gen - 1);
    snprintf(rb.name, sizeof rb.name, XB_MOE_BYTES);
    snprintf(rt.name, sizeof rt.name, XB_MOE_TOUCHED);
    rt.higher_is_better = 0;
    if (err[0]) {
        for (int i = 0; i < 4; i++) {
            all[i]->failed = 1;
            snprintf(all[i]->note, sizeof all[i]->note, "%s", err);
        }
    } else {
        const double moe_total = moe_bytes(tw[0], nt[0], E, K, 1), moe_step = moe_bytes(tw[0], nt[0], E, K, 0);
        const double dense_step = moe_bytes(tw[1], nt[1], 0, 0, 0), dense_total = moe_bytes(tw[1], nt[1], 0, 0, 1);
        double md, mn, mx;
        rp.reps = rd.reps = rb.reps = reps;
        xb_rate(ps[0], reps, (double)n_prompt, 1.0, &rp.median, &rp.min, &rp.max);
        xb_rate(ps[1], reps, (double)n_prompt, 1.0, &md, &mn, &mx);
        xb_set_peer(&rp, XB_MOE_PEER, md, mn, mx);
        snprintf(rp.note, sizeof rp.note,
                 "random-weight Mixtral, %d experts of %d, top %d (%.0f MB of f32 weights; the %d tokens' "
                 "choices run every expert); peer: a Llama with intermediate %d (%.0f MB); %d threads",
                 E, im, K, moe_total / 1e6, n_prompt, dense_inter, dense_total / 1e6, threads);
        xb_rate(ds[0], reps, 1.0, 1.0, &rd.median, &rd.min, &rd.max);
        xb_rate(ds[1], reps, 1.0, 1.0, &md, &mn, &mx);
        xb_set_peer(&rd, XB_MOE_PEER, md, mn, mx);
        snprintf(rd.note, sizeof rd.note,
                 "greedy decode after a %d-token prompt; %.0f MB of weights per token (%d of %d experts per layer) "
                 "against the peer's %.0f MB; the router is read back each layer; %d threads%s",
                 n_prompt, moe_step / 1e6, K, E, dense_step / 1e6, threads,
                 reps == 1 && !quick ? "; slow device: fewer steps, one repetition" : "");
        xb_rate(ds[0], reps, moe_step, 1e-9, &rb.median, &rb.min, &rb.max);
        if (bw && bw->read > 0) {
            xb_set_peer(&rb, "STREAM-like read", bw->read, bw->read, bw->read);
            snprintf(rb.note, sizeof rb.note,
                     "%.0f weight bytes touched per decode token; %.0f%% of the measured read bandwidth "
                     "(all threads, %.1f GB/s)",
                     moe_step, 100.0 * rb.median / bw->read, bw->read);
        } else {
            xb_peer_absent(&rb, "STREAM-like read", "memory suite not run");
            snprintf(rb.note, sizeof rb.note, "%.0f weight bytes touched per decode token", moe_step);
        }
        rt.reps = 1;
        rt.median = rt.min = rt.max = moe_step / 1e6;
        xb_set_peer(&rt, XB_MOE_PEER, dense_step / 1e6, dense_step / 1e6, dense_step / 1e6);
        snprintf(rt.note, sizeof rt.note,
                 "counted from the shapes, not timed: per token the attention, norms and router of each layer, "
                 "%d of its %d experts, one embedding row and lm_head (%.1f%% of the %.0f MB model)",
                 K, E, 100.0 * moe_step / moe_total, moe_total / 1e6);
    }
    for (int i = 0; i < 4; i++) xb_add(e, all[i]);
    for (int g = 0; g < 2; g++) {
        xllama_destroy(m[g]);
        free(tw[g]);
    }
    free(prompt);
    free(out);
    if (dir[0] && strstr(dir, "XXXXXX") == NULL) nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

void xb_suite_model(xb_env *e, xb_dev *d, const xb_bandwidth *bw)
{
    int quick = e->opts->quick;
    if (!xb_model_wanted(e)) return;
    suite_overhead(e, d);
    suite_moe(e, d, bw);
    /* full: f32 weights of ~390 MB, far beyond the caches, so decode streams them from memory;
     * quick: sizes that are multiples of 32 (q8_0/q4_0 blocks) */
    int hidden = quick ? 256 : 1024, inter = quick ? 704 : 2816, layers = quick ? 2 : 8;
    int heads = quick ? 4 : 16, kv = quick ? 2 : 4, vocab = quick ? 1024 : 8192;
    int n_prompt = quick ? 16 : 128, n_gen = quick ? 5 : 33;
    int reps = quick ? 2 : 3;
    char dir[] = "/tmp/xhal-bench-llama-XXXXXX";
    char err[512] = "";
    char shape[64];
    snprintf(shape, sizeof shape, "h%d i%d L%d H%d/%d V%d", hidden, inter, layers, heads, kv, vocab);
    wt *tensors = NULL;
    int ntensors = llama_tensors(hidden, inter, layers, heads, kv, vocab, &tensors);
    /* llama.cpp as the decode peer when XHAL_BENCH_LLAMA_BENCH names its llama-bench */
    const char *lb = getenv("XHAL_BENCH_LLAMA_BENCH");
    if (lb && !lb[0]) lb = NULL;
    /* the variants: each weight dtype the device lists at the device's threads; on a CPU with
     * more than one thread, each again on one thread (its own context). */
    xb_variant var[2 * XB_NDT + 1];
    int nv = 0;
    int threads_all = d->info.compute_units > 0 ? d->info.compute_units : 1;
    int need_gguf[XB_NDT] = {0};
    for (int t = 0; t < 2; t++) {
        if (t == 1 && (!d->is_cpu || threads_all <= 1)) break;
        for (int f = 0; f < XB_NDT; f++) {
            xhal_dtype dt = xb_variant_dts[f];
            if (!(d->info.dtypes & XHAL_DTYPE_BIT(dt))) continue;
            xb_variant *v = &var[nv++];
            memset(v, 0, sizeof *v);
            v->wdt = dt;
            v->cdt = f < 2 ? dt : XHAL_DTYPE_F32;
            v->threads = t ? 1 : 0;
            variant_label(v->label, sizeof v->label, f, t);
            if (!variant_wanted(e, v->label, n_prompt, n_gen))
                nv--;
            else if (f >= 2 || lb)
                need_gguf[f] = 1;
        }
        if (t == 0 && (d->info.dtypes & XHAL_DTYPE_BIT(XHAL_DTYPE_F32))) { /* f32, the step replayed */
            xb_variant *v = &var[nv++];
            memset(v, 0, sizeof *v);
            v->wdt = v->cdt = XHAL_DTYPE_F32;
            v->graph = 1;
            snprintf(v->label, sizeof v->label, "%s", XB_GRAPH_LABEL);
            snprintf(v->peer_err, sizeof v->peer_err, "llama-bench runs once per weight dtype (see the f32 figure)");
            if (!variant_wanted(e, v->label, n_prompt, n_gen)) nv--;
        }
    }
    int32_t *prompt = NULL, *out = NULL;
    if (nv == 0) goto cleanup; /* the filter wants none of them: write nothing */
    if (ntensors < 0) {
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    if (!mkdtemp(dir)) {
        snprintf(err, sizeof err, "mkdtemp: %s", strerror(errno));
        dir[0] = 0;
        goto fail;
    }
    if (xb_write_llama(dir, hidden, inter, layers, heads, kv, vocab, err, sizeof err) != 0) goto fail;
    char gguf[XB_NDT][1100];
    for (int f = 0; f < XB_NDT; f++) {
        snprintf(gguf[f], sizeof gguf[f], "%s/model-%s.gguf", dir, xhal_dtype_name(xb_variant_dts[f]));
        if (need_gguf[f] && xb_write_llama_gguf(gguf[f], hidden, inter, layers, heads, kv, vocab, xb_variant_dts[f],
                                                err, sizeof err) != 0)
            goto fail;
    }
    prompt = malloc((size_t)n_prompt * sizeof *prompt);
    out = malloc((size_t)n_gen * sizeof *out);
    if (!prompt || !out) {
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    for (int i = 0; i < n_prompt; i++) prompt[i] = (int32_t)((i * 7919 + 13) % vocab);
    for (int i = 0; i < nv; i++) {
        xb_variant *v = &var[i];
        xhal_device *dev = d->dev;
        if (v->threads > 0 && variant_device(v, d, &dev) != 0) continue;
        xllama_options o;
        xllama_options_init(&o);
        o.compute_dtype = v->cdt;
        o.decode_graph = v->graph;
        o.max_seq = n_prompt + n_gen + 8;
        o.max_batch = n_prompt;
        int fi = 0;
        while (fi < XB_NDT - 1 && xb_variant_dts[fi] != v->wdt) fi++;
        const char *src = fi >= 2 ? gguf[fi] : dir;
        if (xllama_load(dev, src, &o, &v->m) != XHAL_OK) {
            snprintf(v->err, sizeof v->err, "xllama_load: %s", xllama_last_error());
            continue;
        }
        /* warm-up: a short prompt and two steps (builds kernels, touches every weight); the
         * first variant's step time bounds the run: a device where 32 steps would take minutes
         * gets fewer steps and one repetition (the note says so) */
        xllama_timing t;
        int64_t nw = n_prompt < 8 ? n_prompt : 8;
        xb_blas_threads(v->threads > 0 ? v->threads : threads_all);
        if (xllama_generate(v->m, prompt, nw, 3, out, NULL, NULL, &t) != XHAL_OK) {
            snprintf(v->err, sizeof v->err, "xllama_generate: %s", xllama_last_error());
            continue;
        }
        v->ok = 1;
        double step = t.decode_s / (double)(t.n_decode > 0 ? t.n_decode : 1);
        double prefill_est = t.prefill_s * (double)n_prompt / (double)nw;
        if (i == 0 && (step * (n_gen - 1) + prefill_est) * reps > 90.0) {
            reps = 1;
            int g = (int)(30.0 / (step > 0 ? step : 1)) + 1;
            if (g < n_gen) n_gen = g < 3 ? 3 : g;
        }
    }
    /* rounds: each variant once per round, followed by llama-bench on the same weights and
     * threads when it is given, so that all of them see the same load */
    for (int r = 0; r < reps; r++) {
        for (int i = 0; i < nv; i++) {
            xb_variant *v = &var[i];
            if (!v->ok) continue;
            xllama_timing t;
            xb_blas_threads(v->threads > 0 ? v->threads : threads_all);
            if (xllama_generate(v->m, prompt, n_prompt, n_gen, out, NULL, NULL, &t) != XHAL_OK) {
                snprintf(v->err, sizeof v->err, "xllama_generate: %s", xllama_last_error());
                v->ok = 0;
                continue;
            }
            v->ps[r] = t.prefill_s;
            v->ds[r] = t.decode_s / (double)(t.n_decode > 0 ? t.n_decode : 1);
            if (lb && d->is_cpu && !v->peer_err[0]) {
                int fi = 0;
                while (fi < XB_NDT - 1 && xb_variant_dts[fi] != v->wdt) fi++;
                double ts = llama_bench_tg(lb, gguf[fi], dir, v->threads > 0 ? v->threads : threads_all, n_gen - 1,
                                           n_prompt, v->peer_err, sizeof v->peer_err);
                if (ts > 0) v->peer[v->npeer++] = ts;
            }
        }
    }
    xb_blas_threads(threads_all);
    for (int i = 0; i < nv; i++) {
        xb_variant *v = &var[i];
        xb_result rp, rd, rb;
        const char *dtn = xhal_dtype_name(v->wdt);
        xb_result_init(&rp, d->info.spec, "model", "tokens/s");
        xb_result_init(&rd, d->info.spec, "model", "tokens/s");
        xb_result_init(&rb, d->info.spec, "model", "GB/s");
        snprintf(rp.dtype, sizeof rp.dtype, "%s", dtn);
        snprintf(rd.dtype, sizeof rd.dtype, "%s", dtn);
        snprintf(rb.dtype, sizeof rb.dtype, "%s", dtn);
        snprintf(rp.shape, sizeof rp.shape, "%s", shape);
        snprintf(rd.shape, sizeof rd.shape, "%s", shape);
        snprintf(rb.shape, sizeof rb.shape, "%s", shape);
        snprintf(rp.name, sizeof rp.name, "llama prefill %d-token prompt%s", n_prompt, v->label);
        snprintf(rd.name, sizeof rd.name, "llama decode (%d steps)%s", n_gen - 1, v->label);
        snprintf(rb.name, sizeof rb.name, "llama decode weight bytes/s%s", v->label);
        if (!v->ok) {
            rp.failed = 1;
            snprintf(rp.note, sizeof rp.note, "%s", v->err);
            xb_add(e, &rp);
            continue;
        }
        double wbytes = step_bytes(tensors, ntensors, v->wdt, v->cdt);
        char thr[48], from[64];
        if (v->threads > 0)
            snprintf(thr, sizeof thr, "%d thread (XHAL_CPU_THREADS, OpenBLAS)", v->threads);
        else
            snprintf(thr, sizeof thr, "%d threads", threads_all);
        if (v->wdt == XHAL_DTYPE_Q8_0 || v->wdt == XHAL_DTYPE_Q4_0)
            snprintf(from, sizeof from, "GGUF, computed in f32");
        else
            snprintf(from, sizeof from, "safetensors");
        rp.reps = rd.reps = rb.reps = reps;
        xb_rate(v->ps, reps, (double)n_prompt, 1.0, &rp.median, &rp.min, &rp.max);
        xb_rate(v->ds, reps, 1.0, 1.0, &rd.median, &rd.min, &rd.max);
        xb_rate(v->ds, reps, wbytes, 1e-9, &rb.median, &rb.min, &rb.max);
        snprintf(rp.note, sizeof rp.note,
                 "random weights (%.0f MB read per step as %s, %s), generated in a temp folder; %s; wall "
                 "time of the prompt's forward",
                 wbytes / 1e6, dtn, from, thr);
        snprintf(rd.note, sizeof rd.note,
                 "greedy decode, one token per step, KV cache after a %d-token prompt; "
                 "%s%s%s",
                 n_prompt, thr, v->graph ? "; the step replayed from an xhal_graph (decode_graph)" : "",
                 reps == 1 && !quick ? "; slow device: fewer steps, one repetition after the warm-up" : "");
        if (lb && d->is_cpu && v->npeer > 0) {
            double md, mn, mx;
            xb_stats(v->peer, v->npeer, &md, &mn, &mx);
            xb_set_peer(&rd, "llama.cpp llama-bench", md, mn, mx);
            snprintf(rd.peer_note, sizeof rd.peer_note,
                     "llama-bench -p 0 -n %d -d %d -t %d -r 1 on the same weights as GGUF %s, one run after "
                     "each xhal round",
                     n_gen - 1, n_prompt, v->threads > 0 ? v->threads : threads_all, dtn);
        } else if (d->is_cpu) {
            xb_peer_absent(&rd, "llama.cpp llama-bench",
                           !lb              ? "XHAL_BENCH_LLAMA_BENCH is not set"
                           : v->peer_err[0] ? v->peer_err
                                            : "llama-bench gave no figure");
        }
        /* the machine's read bandwidth at the variant's thread count when measured; devices other
         * than the CPU against the STREAM-like triad (issue 18's bound for OpenCL decode) */
        double rdbw = bw ? (v->threads == 1 && bw->read1 > 0 ? bw->read1 : bw->read) : 0.0;
        if (!d->is_cpu && bw && bw->triad > 0) {
            xb_set_peer(&rb, "STREAM-like triad", bw->triad, bw->triad, bw->triad);
            snprintf(rb.note, sizeof rb.note,
                     "%.0f weight bytes per decode step; %.0f%% of the host's STREAM-like triad (%.1f GB/s), %.0f%% "
                     "of its read bandwidth (%.1f GB/s); %s",
                     wbytes, 100.0 * rb.median / bw->triad, bw->triad, rdbw > 0 ? 100.0 * rb.median / rdbw : 0.0, rdbw,
                     thr);
        } else if (rdbw > 0) {
            const char *which = v->threads == 1 && bw->read1 > 0 ? "1 thread" : "all threads";
            xb_set_peer(&rb, v->threads == 1 && bw->read1 > 0 ? "STREAM-like read, 1 thread" : "STREAM-like read", rdbw,
                        rdbw, rdbw);
            snprintf(rb.note, sizeof rb.note,
                     "%.0f weight bytes per decode step; %.0f%% of the measured read bandwidth (%s, %.1f GB/s); "
                     "%.0f%% of the all-thread read bandwidth; %s",
                     wbytes, 100.0 * rb.median / rdbw, which, rdbw, bw->read > 0 ? 100.0 * rb.median / bw->read : 0.0,
                     thr);
        } else {
            xb_peer_absent(&rb, "STREAM-like read", "memory suite not run");
            snprintf(rb.note, sizeof rb.note, "%.0f weight bytes per decode step; %s", wbytes, thr);
        }
        xb_add(e, &rp);
        xb_add(e, &rd);
        xb_add(e, &rb);
    }
    goto cleanup;
fail : {
    xb_result rp;
    xb_result_init(&rp, d->info.spec, "model", "tokens/s");
    snprintf(rp.name, sizeof rp.name, "llama prefill %d-token prompt", n_prompt);
    rp.failed = 1;
    snprintf(rp.note, sizeof rp.note, "%s", err);
    xb_add(e, &rp);
}
cleanup:
    for (int i = 0; i < nv; i++) {
        xllama_destroy(var[i].m);
        if (var[i].ctx) xhal_context_destroy(var[i].ctx);
    }
    free(prompt);
    free(out);
    free(tensors);
    if (dir[0] && strstr(dir, "XXXXXX") == NULL) nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}
#endif
