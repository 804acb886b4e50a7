/* gguf_config.c - the Llama settings of a GGUF file (llama.cpp's keys "llama.*"), with the
 * same bounds as config.json (xl_config_check in config.c): refused with the key named. */
#include "llama_internal.h"
#include "xhal/xhal_gguf.h"

#include <stdio.h>
#include <string.h>

/* An integer key: required (dflt < 0) or defaulted. Its range is xl_config_check's (config.c),
 * the same as config.json's. */
static xhal_status get_int(const xhal_gguf *g, const char *path, const char *key, int64_t dflt, int64_t *out)
{
    xhal_gguf_kv kv;
    if (xhal_gguf_kv_get(g, key, &kv) != XHAL_OK) {
        if (dflt < 0) return xl_fail(XHAL_ERROR_CORRUPT_DATA, "llama: %s: key '%s' is missing", path, key);
        *out = dflt;
        return XHAL_OK;
    }
    int64_t v = 0;
    if (xhal_gguf_get_i64(g, key, &v) != XHAL_OK)
        return xl_wrap(XHAL_ERROR_CORRUPT_DATA, "llama: %s: key '%s'", path, key);
    *out = v;
    return XHAL_OK;
}

/* A number key, defaulted when missing; its range is xl_config_check's. */
static xhal_status get_num(const xhal_gguf *g, const char *path, const char *key, double dflt, double *out)
{
    xhal_gguf_kv kv;
    if (xhal_gguf_kv_get(g, key, &kv) != XHAL_OK) {
        *out = dflt;
        return XHAL_OK;
    }
    double v = 0;
    if (xhal_gguf_get_f64(g, key, &v) != XHAL_OK)
        return xl_wrap(XHAL_ERROR_CORRUPT_DATA, "llama: %s: key '%s'", path, key);
    *out = v;
    return XHAL_OK;
}

xhal_status xl_config_from_gguf(const xhal_gguf *g, const char *path, xllama_config *cfg)
{
    xllama_config c;
    memset(&c, 0, sizeof c);
    const char *arch = NULL;
    if (xhal_gguf_get_string(g, "general.architecture", &arch, NULL) != XHAL_OK)
        return xl_wrap(XHAL_ERROR_CORRUPT_DATA, "llama: %s: general.architecture", path);
    if (strcmp(arch, "llama") != 0)
        return xl_fail(XHAL_ERROR_UNSUPPORTED, "llama: %s: general.architecture is '%.64s'; the port runs 'llama'",
                       path, arch);
    xhal_status st;
    if ((st = get_int(g, path, "llama.embedding_length", -1, &c.hidden_size)) ||
        (st = get_int(g, path, "llama.feed_forward_length", -1, &c.intermediate_size)) ||
        (st = get_int(g, path, "llama.block_count", -1, &c.num_layers)) ||
        (st = get_int(g, path, "llama.attention.head_count", -1, &c.num_heads)) ||
        (st = get_int(g, path, "llama.attention.head_count_kv", c.num_heads, &c.num_kv_heads)) ||
        (st = get_int(g, path, "llama.context_length", 2048, &c.max_position_embeddings)))
        return st;
    /* head_count is checked with the rest (xl_config_check); until then it may be 0 or negative */
    const int64_t dflt_hd = c.num_heads > 0 ? c.hidden_size / c.num_heads : 0;
    if (c.num_heads > 0 && c.hidden_size % c.num_heads != 0 &&
        xhal_gguf_kv_get(g, "llama.attention.key_length", &(xhal_gguf_kv){0}) != XHAL_OK)
        return xl_fail(XHAL_ERROR_CORRUPT_DATA, "llama: %s: embedding_length %lld is not a multiple of head_count %lld",
                       path, (long long)c.hidden_size, (long long)c.num_heads);
    if ((st = get_int(g, path, "llama.attention.key_length", dflt_hd, &c.head_dim))) return st;
    int64_t vlen = 0, rdim = 0;
    if ((st = get_int(g, path, "llama.attention.value_length", c.head_dim, &vlen)) ||
        (st = get_int(g, path, "llama.rope.dimension_count", c.head_dim, &rdim)))
        return st;
    if (vlen != c.head_dim)
        return xl_fail(XHAL_ERROR_UNSUPPORTED, "llama: %s: value_length %lld differs from key_length %lld", path,
                       (long long)vlen, (long long)c.head_dim);
    if (rdim != c.head_dim)
        return xl_fail(XHAL_ERROR_UNSUPPORTED,
                       "llama: %s: rope.dimension_count %lld differs from the head dim %lld "
                       "(partial rotary embeddings are not implemented by the port)",
                       path, (long long)rdim, (long long)c.head_dim);
    xhal_gguf_kv kv;
    if (xhal_gguf_kv_get(g, "llama.rope.scaling.type", &kv) == XHAL_OK) {
        const char *t = NULL;
        if (xhal_gguf_get_string(g, "llama.rope.scaling.type", &t, NULL) != XHAL_OK || strcmp(t, "none") != 0)
            return xl_fail(XHAL_ERROR_UNSUPPORTED, "llama: %s: rope scaling is not implemented by the port", path);
    }
    /* vocabulary: llama.vocab_size, else the tokenizer's list, else the embedding's rows */
    xhal_gguf_tensor emb;
    if (xhal_gguf_tensor_get(g, "token_embd.weight", &emb) != XHAL_OK)
        return xl_fail(XHAL_ERROR_NOT_FOUND, "llama: %s: tensor 'token_embd.weight' is missing", path);
    int64_t vocab = emb.ndim == 2 ? emb.shape[0] : -1;
    if (xhal_gguf_kv_get(g, "tokenizer.ggml.tokens", &kv) == XHAL_OK && kv.type == XHAL_GGUF_ARRAY)
        vocab = (int64_t)kv.count;
    if ((st = get_int(g, path, "llama.vocab_size", vocab > 0 ? vocab : -1, &c.vocab_size))) return st;
    if ((st = get_num(g, path, "llama.attention.layer_norm_rms_epsilon", 1e-6, &c.rms_norm_eps)) ||
        (st = get_num(g, path, "llama.rope.freq_base", 10000.0, &c.rope_theta)))
        return st;
    int has_out = 0;
    xhal_gguf_tensor_has(g, "output.weight", &has_out);
    c.tie_word_embeddings = !has_out;
    static const xl_config_keys keys = {
        "llama.embedding_length",     "llama.feed_forward_length",     "llama.block_count",
        "llama.attention.head_count", "llama.attention.head_count_kv", "llama.attention.key_length",
        "llama.vocab_size",           "llama.context_length",          "llama.attention.layer_norm_rms_epsilon",
        "llama.rope.freq_base"};
    if ((st = xl_config_check(path, &c, &keys))) return st;
    c.family = XLLAMA_LLAMA;
    c.rotary_dims = c.head_dim;
    c.rope_interleaved = 1; /* llama.cpp's converter permuted the q/k rows */
    c.rope_factor = 1.0;
    *cfg = c;
    return XHAL_OK;
}
