/* model.c - the Llama decoder over the xhal API: weights, KV cache, forward, greedy decode. */
#define _POSIX_C_SOURCE 200809L
#include "llama_internal.h"
#include "xhal/xhal_gguf.h"
#include "xhal/xhal_safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct xl_layer {
    xhal_tensor *attn_norm, *wq, *wk, *wv, *wo;
    xhal_tensor *ffn_norm, *wgate, *wup, *wdown;
    xhal_tensor *kcache, *vcache; /* [Hkv, max_seq, D] */
} xl_layer;

struct xllama_model {
    xllama_config cfg;
    xhal_device *dev;
    xhal_stream *stream;
    xhal_dtype wdtype, cdtype;
    xhal_rope_layout rope; /* rotate-half (Hugging Face); interleaved for GGUF's permuted q/k */
    int64_t max_seq, max_batch, pos;
    xhal_tensor *embed, *norm, *lm_head; /* lm_head == embed when tied */
    xl_layer *layers;
    /* Work buffers sized for max_batch tokens; each forward views their first bytes. */
    xhal_buffer *b_ids, *b_x, *b_h, *b_q, *b_k, *b_v, *b_qt, *b_ao, *b_g, *b_u, *b_logits, *b_lf32;
};

void xllama_options_init(xllama_options *o)
{
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->compute_dtype = XHAL_DTYPE_INVALID;
}

const xllama_config *xllama_get_config(const xllama_model *m) { return m ? &m->cfg : NULL; }
xhal_dtype xllama_weight_dtype(const xllama_model *m) { return m ? m->wdtype : XHAL_DTYPE_INVALID; }
xhal_dtype xllama_compute_dtype(const xllama_model *m) { return m ? m->cdtype : XHAL_DTYPE_INVALID; }
int64_t xllama_max_seq(const xllama_model *m) { return m ? m->max_seq : 0; }
int64_t xllama_position(const xllama_model *m) { return m ? m->pos : 0; }
void xllama_reset(xllama_model *m)
{
    if (m) m->pos = 0;
}

static int is_float(xhal_dtype d) { return d == XHAL_DTYPE_F32 || d == XHAL_DTYPE_F16 || d == XHAL_DTYPE_BF16; }

/* ------------------------------------------------------------------------- */
/* Loading                                                                    */
/* ------------------------------------------------------------------------- */

static void shape_str(char *buf, size_t len, int ndim, const int64_t *shape)
{
    size_t k = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < len) snprintf(buf + k, len - k, "]");
}

/* Where the weights come from: a safetensors checkpoint or a GGUF file. */
typedef struct xl_src {
    xhal_safetensors *st;
    xhal_gguf *gg;
} xl_src;

static int is_block(xhal_dtype d)
{
    xhal_dtype_info info;
    return xhal_dtype_get_info(d, &info) == XHAL_OK && info.is_quantized;
}

/* llama.cpp's GGUF name of a Hugging Face Llama tensor name. */
static const char *gguf_name(const char *hf, char *buf, size_t len)
{
    static const char *const top[][2] = {{"model.embed_tokens.weight", "token_embd.weight"},
                                         {"model.norm.weight", "output_norm.weight"},
                                         {"lm_head.weight", "output.weight"}};
    static const char *const layer[][2] = {
        {"input_layernorm.weight", "attn_norm.weight"},    {"self_attn.q_proj.weight", "attn_q.weight"},
        {"self_attn.k_proj.weight", "attn_k.weight"},      {"self_attn.v_proj.weight", "attn_v.weight"},
        {"self_attn.o_proj.weight", "attn_output.weight"}, {"post_attention_layernorm.weight", "ffn_norm.weight"},
        {"mlp.gate_proj.weight", "ffn_gate.weight"},       {"mlp.up_proj.weight", "ffn_up.weight"},
        {"mlp.down_proj.weight", "ffn_down.weight"}};
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        if (!strcmp(hf, top[i][0])) return top[i][1];
    long long l = -1;
    int used = 0;
    if (sscanf(hf, "model.layers.%lld.%n", &l, &used) == 1 && used > 0)
        for (size_t i = 0; i < sizeof layer / sizeof layer[0]; i++)
            if (!strcmp(hf + used, layer[i][0])) {
                snprintf(buf, len, "blk.%lld.%s", l, layer[i][1]);
                return buf;
            }
    return hf;
}

/* Check that `name` exists with a float dtype (or, where quant_ok, a block-quantized one)
 * and the expected shape. */
static xhal_status check_tensor(const xl_src *src, const char *dir, const char *name, int ndim, int64_t d0, int64_t d1,
                                int quant_ok, xhal_dtype *dtype)
{
    xhal_safetensors_tensor t;
    if (src->gg) {
        char buf[160];
        const char *gn = gguf_name(name, buf, sizeof buf);
        xhal_gguf_tensor g;
        if (xhal_gguf_tensor_get(src->gg, gn, &g) != XHAL_OK)
            return xl_fail(XHAL_ERROR_NOT_FOUND, "llama: %s: tensor '%s' (%s) is missing", dir, gn, name);
        if (g.dtype == XHAL_DTYPE_INVALID || (!is_float(g.dtype) && !(quant_ok && is_block(g.dtype))))
            return xl_fail(XHAL_ERROR_UNSUPPORTED, "llama: %s: tensor '%s' is %s; the port takes f32, f16 or bf16%s",
                           dir, gn, g.type_name, quant_ok ? ", q8_0, q4_0, q4_K or q6_K weights" : " here");
        memset(&t, 0, sizeof t);
        t.dtype = g.dtype;
        t.ndim = g.ndim;
        memcpy(t.shape, g.shape, sizeof t.shape);
        name = gn;
    } else {
        int found = 0;
        xhal_safetensors_has(src->st, name, &found);
        if (!found) return xl_fail(XHAL_ERROR_NOT_FOUND, "llama: %s: tensor '%s' is missing", dir, name);
        if (xhal_safetensors_get(src->st, name, &t) != XHAL_OK)
            return xl_wrap(XHAL_ERROR_INTERNAL, "llama: %s: tensor '%s'", dir, name);
        if (!is_float(t.dtype))
            return xl_fail(XHAL_ERROR_UNSUPPORTED,
                           "llama: %s: tensor '%s' is %s; the port takes f32, "
                           "f16 or bf16 weights",
                           dir, name, xhal_dtype_name(t.dtype));
    }
    int64_t want[2] = {d0, d1};
    int ok = t.ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t.shape[i] == want[i];
    if (!ok) {
        char got[128], exp[128];
        shape_str(got, sizeof got, t.ndim, t.shape);
        shape_str(exp, sizeof exp, ndim, want);
        return xl_fail(XHAL_ERROR_SHAPE_MISMATCH,
                       "llama: %s: tensor '%s' has shape %s but %s "
                       "implies %s",
                       dir, name, got, src->gg ? "its settings" : "config.json", exp);
    }
    if (dtype) *dtype = t.dtype;
    return XHAL_OK;
}

/* Upload one weight. GGUF block-quantized weights stay quantized where quant_ok (the
 * projections: xhal_matmul takes them as b), and are dequantized to the compute dtype
 * otherwise (the embedding, which xhal_gather reads). */
static xhal_status upload(const xl_src *src, const char *name, xhal_stream *s, xhal_dtype cdtype, int keep_quant,
                          xhal_tensor **out)
{
    if (!src->gg) return xhal_safetensors_upload(src->st, name, s, cdtype, out);
    char buf[160];
    xhal_gguf_tensor g;
    xhal_status st = xhal_gguf_tensor_get(src->gg, gguf_name(name, buf, sizeof buf), &g);
    if (st != XHAL_OK) return st;
    xhal_device *dev = NULL;
    xhal_tensor *raw = NULL, *conv = NULL;
    if ((st = xhal_stream_device(s, &dev)) != XHAL_OK) return st;
    if ((st = xhal_tensor_create(dev, g.dtype, g.ndim, g.shape, &raw)) != XHAL_OK) return st;
    {
        /* read from the file, not the mapping: a file truncated while loading is an IO error,
         * not SIGBUS (xhal_gguf_tensor_read) */
        void *staging = g.size && (size_t)g.size == g.size ? malloc((size_t)g.size) : NULL;
        if (g.size && !staging) {
            st = xl_fail(XHAL_ERROR_OUT_OF_MEMORY, "llama: out of host memory staging %llu bytes of '%s'",
                         (unsigned long long)g.size, g.name);
            goto fail;
        }
        st = g.size ? xhal_gguf_tensor_read(src->gg, &g, staging, g.size) : XHAL_OK;
        if (st == XHAL_OK && g.size) st = xhal_tensor_write(s, raw, staging, g.size);
        free(staging);
        if (st != XHAL_OK) goto fail;
    }
    if (g.dtype == cdtype || (keep_quant && is_block(g.dtype))) {
        *out = raw;
        return XHAL_OK;
    }
    if ((st = xhal_contiguous(s, raw, cdtype, &conv)) != XHAL_OK) goto fail;
    if ((st = xhal_stream_synchronize(s)) != XHAL_OK) goto fail;
    xhal_tensor_destroy(raw);
    *out = conv;
    return XHAL_OK;
fail:
    xhal_tensor_destroy(conv);
    xhal_tensor_destroy(raw);
    return st;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

typedef struct xl_wspec {
    char name[128];
    int ndim;
    int64_t d0, d1;
    xhal_tensor **dst;
} xl_wspec;

static xhal_status make_buffer(xllama_model *m, const char *what, int64_t elems, xhal_dtype dt, xhal_buffer **out)
{
    uint64_t bytes = (uint64_t)elems * xhal_dtype_size(dt);
    if (bytes == 0) bytes = 1;
    xhal_status s = xhal_buffer_create(m->dev, bytes, out);
    if (s != XHAL_OK) return xl_wrap(s, "llama: allocating work buffer '%s'", what);
    return XHAL_OK;
}

xhal_status xllama_load(xhal_device *dev, const char *dir, const xllama_options *opts, xllama_model **out)
{
    if (!dev || !dir || !out) return xl_fail(XHAL_ERROR_INVALID_ARGUMENT, "llama: NULL argument");
    xllama_options o;
    xllama_options_init(&o);
    if (opts) {
        if (opts->struct_size < sizeof o)
            return xl_fail(XHAL_ERROR_INVALID_ARGUMENT, "llama: options.struct_size %u < %zu",
                           (unsigned)opts->struct_size, sizeof o);
        o = *opts;
    }
    if (o.compute_dtype != XHAL_DTYPE_INVALID && !is_float(o.compute_dtype))
        return xl_fail(XHAL_ERROR_INVALID_ARGUMENT, "llama: compute dtype %s is not f32, f16 or bf16",
                       xhal_dtype_name(o.compute_dtype));
    if (o.max_seq < 0 || o.max_batch < 0)
        return xl_fail(XHAL_ERROR_INVALID_ARGUMENT, "llama: negative max_seq or max_batch");

    xllama_config cfg;
    xhal_status s;
    xl_src src = {NULL, NULL};
    const int is_gguf = ends_with(dir, ".gguf");
    if (is_gguf) {
        s = xhal_gguf_open(dir, &src.gg);
        if (s != XHAL_OK) return xl_wrap(s, "llama: %s: reading the GGUF file", dir);
        s = xl_config_from_gguf(src.gg, dir, &cfg);
        if (s != XHAL_OK) {
            xhal_gguf_close(src.gg);
            return s;
        }
    } else {
        s = xllama_config_load(dir, &cfg);
        if (s != XHAL_OK) return s;
        s = xhal_safetensors_open(dir, &src.st);
        if (s != XHAL_OK) return xl_wrap(s, "llama: %s: reading the weights", dir);
    }

    const int64_t H = cfg.hidden_size, I = cfg.intermediate_size, V = cfg.vocab_size;
    const int64_t HQ = cfg.num_heads * cfg.head_dim, HKV = cfg.num_kv_heads * cfg.head_dim;
    const int64_t L = cfg.num_layers;

    xllama_model *m = calloc(1, sizeof *m);
    xl_wspec *ws = NULL;
    if (!m) {
        xhal_safetensors_close(src.st);
        xhal_gguf_close(src.gg);
        return xl_fail(XHAL_ERROR_OUT_OF_MEMORY, "llama: out of host memory");
    }
    m->cfg = cfg;
    m->rope = is_gguf ? XHAL_ROPE_INTERLEAVED : XHAL_ROPE_HALF;
    m->dev = dev;
    m->layers = calloc((size_t)L, sizeof *m->layers);
    int64_t n_ws = 3 + 9 * L;
    ws = calloc((size_t)n_ws, sizeof *ws);
    if (!m->layers || !ws) {
        s = xl_fail(XHAL_ERROR_OUT_OF_MEMORY, "llama: out of host memory");
        goto fail;
    }

    /* The list of weights and the shapes the config implies ([out, in] for projections). */
    int64_t k = 0;
#define WS(dstp, nd, a, b, ...)                               \
    do {                                                      \
        snprintf(ws[k].name, sizeof ws[k].name, __VA_ARGS__); \
        ws[k].ndim = nd;                                      \
        ws[k].d0 = a;                                         \
        ws[k].d1 = b;                                         \
        ws[k].dst = dstp;                                     \
        k++;                                                  \
    } while (0)
    WS(&m->embed, 2, V, H, "model.embed_tokens.weight");
    WS(&m->norm, 1, H, 0, "model.norm.weight");
    if (!cfg.tie_word_embeddings) WS(&m->lm_head, 2, V, H, "lm_head.weight");
    for (int64_t l = 0; l < L; l++) {
        xl_layer *y = &m->layers[l];
        WS(&y->attn_norm, 1, H, 0, "model.layers.%lld.input_layernorm.weight", (long long)l);
        WS(&y->wq, 2, HQ, H, "model.layers.%lld.self_attn.q_proj.weight", (long long)l);
        WS(&y->wk, 2, HKV, H, "model.layers.%lld.self_attn.k_proj.weight", (long long)l);
        WS(&y->wv, 2, HKV, H, "model.layers.%lld.self_attn.v_proj.weight", (long long)l);
        WS(&y->wo, 2, H, HQ, "model.layers.%lld.self_attn.o_proj.weight", (long long)l);
        WS(&y->ffn_norm, 1, H, 0, "model.layers.%lld.post_attention_layernorm.weight", (long long)l);
        WS(&y->wgate, 2, I, H, "model.layers.%lld.mlp.gate_proj.weight", (long long)l);
        WS(&y->wup, 2, I, H, "model.layers.%lld.mlp.up_proj.weight", (long long)l);
        WS(&y->wdown, 2, H, I, "model.layers.%lld.mlp.down_proj.weight", (long long)l);
    }
#undef WS
    n_ws = k;

    /* Check every tensor before uploading any. */
    for (int64_t i = 0; i < n_ws; i++) {
        xhal_dtype dt = XHAL_DTYPE_INVALID;
        s = check_tensor(&src, dir, ws[i].name, ws[i].ndim, ws[i].d0, ws[i].d1, ws[i].ndim == 2, &dt);
        if (s != XHAL_OK) goto fail;
        if (i == 0) m->wdtype = dt;
    }
    /* block-quantized weights compute in f32 unless asked otherwise */
    m->cdtype = o.compute_dtype != XHAL_DTYPE_INVALID ? o.compute_dtype
                : is_float(m->wdtype)                 ? m->wdtype
                                                      : XHAL_DTYPE_F32;
    /* Positions past max_position_embeddings were never trained: a longer cache is refused
     * (--max-seq 16777216 on a tiny model once allocated 8.7 GB and ran without a word). */
    if (o.max_seq > cfg.max_position_embeddings) {
        s = xl_fail(XHAL_ERROR_INVALID_ARGUMENT,
                    "llama: max_seq %lld is above the model's "
                    "max_position_embeddings %lld (%s)",
                    (long long)o.max_seq, (long long)cfg.max_position_embeddings, dir);
        goto fail;
    }
    m->max_seq = o.max_seq ? o.max_seq : (cfg.max_position_embeddings < 4096 ? cfg.max_position_embeddings : 4096);
    m->max_batch = o.max_batch ? o.max_batch : (m->max_seq < 512 ? m->max_seq : 512);
    if (m->max_batch > m->max_seq) m->max_batch = m->max_seq;

    s = xhal_stream_create(dev, &m->stream);
    if (s != XHAL_OK) {
        s = xl_wrap(s, "llama: creating a stream");
        goto fail;
    }
    for (int64_t i = 0; i < n_ws; i++) {
        /* projections and lm_head keep a block-quantized dtype; the embedding (gathered) is
         * dequantized, unless it is also the tied lm_head (then it is dequantized too) */
        s = upload(&src, ws[i].name, m->stream, m->cdtype, ws[i].ndim == 2 && ws[i].dst != &m->embed, ws[i].dst);
        if (s != XHAL_OK) {
            s = xl_wrap(s, "llama: uploading '%s' as %s", ws[i].name, xhal_dtype_name(m->cdtype));
            goto fail;
        }
    }
    if (cfg.tie_word_embeddings) m->lm_head = m->embed;

    /* KV cache, zeroed so that nothing uninitialized is ever read. */
    const int64_t D = cfg.head_dim, S = m->max_seq;
    for (int64_t l = 0; l < L; l++) {
        int64_t shape[3] = {cfg.num_kv_heads, S, D};
        xl_layer *y = &m->layers[l];
        if ((s = xhal_tensor_create(dev, m->cdtype, 3, shape, &y->kcache)) != XHAL_OK ||
            (s = xhal_tensor_create(dev, m->cdtype, 3, shape, &y->vcache)) != XHAL_OK) {
            s = xl_wrap(s, "llama: allocating the KV cache of layer %lld (%lld tokens)", (long long)l, (long long)S);
            goto fail;
        }
        if ((s = xhal_fill(m->stream, y->kcache, 0.0)) != XHAL_OK ||
            (s = xhal_fill(m->stream, y->vcache, 0.0)) != XHAL_OK) {
            s = xl_wrap(s, "llama: clearing the KV cache");
            goto fail;
        }
    }
    const int64_t B = m->max_batch;
    const xhal_dtype C = m->cdtype;
    if ((s = make_buffer(m, "ids", B, XHAL_DTYPE_I32, &m->b_ids)) != XHAL_OK ||
        (s = make_buffer(m, "x", B * H, C, &m->b_x)) != XHAL_OK ||
        (s = make_buffer(m, "h", B * H, C, &m->b_h)) != XHAL_OK ||
        (s = make_buffer(m, "q", B * HQ, C, &m->b_q)) != XHAL_OK ||
        (s = make_buffer(m, "k", B * HKV, C, &m->b_k)) != XHAL_OK ||
        (s = make_buffer(m, "v", B * HKV, C, &m->b_v)) != XHAL_OK ||
        (s = make_buffer(m, "q_heads", B * HQ, C, &m->b_qt)) != XHAL_OK ||
        (s = make_buffer(m, "attn_out", B * HQ, C, &m->b_ao)) != XHAL_OK ||
        (s = make_buffer(m, "gate", B * I, C, &m->b_g)) != XHAL_OK ||
        (s = make_buffer(m, "up", B * I, C, &m->b_u)) != XHAL_OK ||
        (s = make_buffer(m, "logits", B * V, C, &m->b_logits)) != XHAL_OK ||
        (C != XHAL_DTYPE_F32 && (s = make_buffer(m, "logits_f32", B * V, XHAL_DTYPE_F32, &m->b_lf32)) != XHAL_OK))
        goto fail;
    if ((s = xhal_stream_synchronize(m->stream)) != XHAL_OK) {
        s = xl_wrap(s, "llama: loading");
        goto fail;
    }
    free(ws);
    xhal_safetensors_close(src.st);
    xhal_gguf_close(src.gg);
    *out = m;
    return XHAL_OK;
fail:
    free(ws);
    xhal_safetensors_close(src.st);
    xhal_gguf_close(src.gg);
    xllama_destroy(m);
    return s;
}

void xllama_destroy(xllama_model *m)
{
    if (!m) return;
    if (m->stream) xhal_stream_synchronize(m->stream);
    if (m->layers) {
        for (int64_t l = 0; l < m->cfg.num_layers; l++) {
            xl_layer *y = &m->layers[l];
            xhal_tensor *ts[] = {y->attn_norm, y->wq,  y->wk,    y->wv,     y->wo,    y->ffn_norm,
                                 y->wgate,     y->wup, y->wdown, y->kcache, y->vcache};
            for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
                if (ts[i]) xhal_tensor_destroy(ts[i]);
        }
        free(m->layers);
    }
    if (m->lm_head && m->lm_head != m->embed) xhal_tensor_destroy(m->lm_head);
    if (m->embed) xhal_tensor_destroy(m->embed);
    if (m->norm) xhal_tensor_destroy(m->norm);
    xhal_buffer *bs[] = {m->b_ids, m->b_x,  m->b_h, m->b_q, m->b_k,      m->b_v,
                         m->b_qt,  m->b_ao, m->b_g, m->b_u, m->b_logits, m->b_lf32};
    for (size_t i = 0; i < sizeof bs / sizeof bs[0]; i++)
        if (bs[i]) xhal_buffer_destroy(bs[i]);
    if (m->stream) xhal_stream_destroy(m->stream);
    free(m);
}

/* ------------------------------------------------------------------------- */
/* Forward                                                                    */
/* ------------------------------------------------------------------------- */

/* The views made during one forward chunk, destroyed at its end. */
#define XL_MAX_VIEWS 64
typedef struct xl_views {
    xhal_tensor *t[XL_MAX_VIEWS];
    int n;
} xl_views;

static void views_release(xl_views *v)
{
    for (int i = 0; i < v->n; i++) xhal_tensor_destroy(v->t[i]);
    v->n = 0;
}

static xhal_status keep(xl_views *v, xhal_status s, xhal_tensor *t, xhal_tensor **out, const char *what)
{
    if (s != XHAL_OK) return xl_wrap(s, "llama: view %s", what);
    if (v->n == XL_MAX_VIEWS) {
        xhal_tensor_destroy(t);
        return xl_fail(XHAL_ERROR_INTERNAL, "llama: too many views");
    }
    v->t[v->n++] = t;
    *out = t;
    return XHAL_OK;
}

/* A contiguous view of the first elements of buf. */
static xhal_status view(xl_views *v, xhal_buffer *buf, xhal_dtype dt, int ndim, const int64_t *shape, xhal_tensor **out,
                        const char *what)
{
    xhal_tensor *t = NULL;
    xhal_status s = xhal_tensor_from_buffer(buf, dt, ndim, shape, NULL, 0, &t);
    return keep(v, s, t, out, what);
}

static xhal_status permute3(xl_views *v, xhal_tensor *x, xhal_tensor **out, const char *what)
{
    static const int perm[3] = {1, 0, 2};
    xhal_tensor *t = NULL;
    xhal_status s = xhal_tensor_permute(x, perm, &t);
    return keep(v, s, t, out, what);
}

static xhal_status slice(xl_views *v, xhal_tensor *x, int axis, int64_t a, int64_t b, xhal_tensor **out,
                         const char *what)
{
    xhal_tensor *t = NULL;
    xhal_status s = xhal_tensor_slice(x, axis, a, b, 1, &t);
    return keep(v, s, t, out, what);
}

static xhal_status expand4(xl_views *v, xhal_tensor *x, int64_t d0, int64_t d1, int64_t d2, xhal_tensor **out,
                           const char *what)
{
    int64_t shape[4] = {1, d0, d1, d2};
    xhal_tensor *t = NULL;
    xhal_status s = xhal_tensor_expand(x, 4, shape, &t);
    return keep(v, s, t, out, what);
}

#define OP(expr, ...)                     \
    do {                                  \
        xhal_status s_ = (expr);          \
        if (s_ != XHAL_OK) {              \
            s = xl_wrap(s_, __VA_ARGS__); \
            goto done;                    \
        }                                 \
    } while (0)
#define VIEW(expr)                              \
    do {                                        \
        if ((s = (expr)) != XHAL_OK) goto done; \
    } while (0)

/* One chunk of n <= max_batch tokens at position m->pos. rows: 0 (no logits), 1 (last
 * position), n (all). logits receives rows x vocab f32. */
static xhal_status forward_chunk(xllama_model *m, const int32_t *tokens, int64_t n, int64_t rows, float *logits)
{
    const xllama_config *c = &m->cfg;
    const int64_t H = c->hidden_size, I = c->intermediate_size, V = c->vocab_size;
    const int64_t NH = c->num_heads, NKV = c->num_kv_heads, D = c->head_dim;
    const int64_t p = m->pos, S = p + n;
    const xhal_dtype C = m->cdtype;
    xhal_stream *st = m->stream;
    xl_views vw = {{0}, 0};
    xhal_status s = XHAL_OK;

    xhal_tensor *ids, *X, *Hn, *Q2, *Q3, *Q3p, *K2, *K3, *K3p, *V2, *V3, *V3p;
    xhal_tensor *QT3, *QT4, *AO4, *AO3, *AO3p, *G, *U;
    {
        int64_t s1[1] = {n}, sh[2] = {n, H}, sq2[2] = {n, NH * D}, sq3[3] = {n, NH, D};
        int64_t sk2[2] = {n, NKV * D}, sk3[3] = {n, NKV, D};
        int64_t sqt3[3] = {NH, n, D}, sqt4[4] = {1, NH, n, D}, si[2] = {n, I};
        VIEW(view(&vw, m->b_ids, XHAL_DTYPE_I32, 1, s1, &ids, "ids"));
        VIEW(view(&vw, m->b_x, C, 2, sh, &X, "x"));
        VIEW(view(&vw, m->b_h, C, 2, sh, &Hn, "h"));
        VIEW(view(&vw, m->b_q, C, 2, sq2, &Q2, "q"));
        VIEW(view(&vw, m->b_q, C, 3, sq3, &Q3, "q heads"));
        VIEW(permute3(&vw, Q3, &Q3p, "q heads first"));
        VIEW(view(&vw, m->b_k, C, 2, sk2, &K2, "k"));
        VIEW(view(&vw, m->b_k, C, 3, sk3, &K3, "k heads"));
        VIEW(permute3(&vw, K3, &K3p, "k heads first"));
        VIEW(view(&vw, m->b_v, C, 2, sk2, &V2, "v"));
        VIEW(view(&vw, m->b_v, C, 3, sk3, &V3, "v heads"));
        VIEW(permute3(&vw, V3, &V3p, "v heads first"));
        VIEW(view(&vw, m->b_qt, C, 3, sqt3, &QT3, "q [H, S, D]"));
        VIEW(view(&vw, m->b_qt, C, 4, sqt4, &QT4, "q [1, H, S, D]"));
        VIEW(view(&vw, m->b_ao, C, 4, sqt4, &AO4, "attention out"));
        VIEW(view(&vw, m->b_ao, C, 3, sqt3, &AO3, "attention out [H, S, D]"));
        VIEW(permute3(&vw, AO3, &AO3p, "attention out [S, H, D]"));
        VIEW(view(&vw, m->b_g, C, 2, si, &G, "gate"));
        VIEW(view(&vw, m->b_u, C, 2, si, &U, "up"));
    }

    OP(xhal_tensor_write(st, ids, tokens, (uint64_t)n * sizeof(int32_t)), "llama: writing token ids");
    OP(xhal_gather(st, m->embed, ids, X), "llama: embedding");

    for (int64_t l = 0; l < c->num_layers; l++) {
        xl_layer *y = &m->layers[l];
        const long long li = (long long)l;
        int mark = vw.n;
        xhal_tensor *kdst, *vdst, *kall, *vall, *k4, *v4;
        VIEW(slice(&vw, y->kcache, 1, p, S, &kdst, "k cache slot"));
        VIEW(slice(&vw, y->vcache, 1, p, S, &vdst, "v cache slot"));
        VIEW(slice(&vw, y->kcache, 1, 0, S, &kall, "k cache prefix"));
        VIEW(slice(&vw, y->vcache, 1, 0, S, &vall, "v cache prefix"));
        VIEW(expand4(&vw, kall, NKV, S, D, &k4, "k [1, Hkv, S, D]"));
        VIEW(expand4(&vw, vall, NKV, S, D, &v4, "v [1, Hkv, S, D]"));

        OP(xhal_rms_norm(st, X, y->attn_norm, c->rms_norm_eps, Hn), "llama: layer %lld input_layernorm", li);
        OP(xhal_matmul(st, Hn, y->wq, 0, 1, 1.0, 0.0, Q2), "llama: layer %lld q_proj", li);
        OP(xhal_matmul(st, Hn, y->wk, 0, 1, 1.0, 0.0, K2), "llama: layer %lld k_proj", li);
        OP(xhal_matmul(st, Hn, y->wv, 0, 1, 1.0, 0.0, V2), "llama: layer %lld v_proj", li);
        OP(xhal_rope(st, Q3, 0, c->rope_theta, p, 0, m->rope, Q3), "llama: layer %lld rope q", li);
        OP(xhal_rope(st, K3, 0, c->rope_theta, p, 0, m->rope, K3), "llama: layer %lld rope k", li);
        OP(xhal_copy(st, K3p, kdst), "llama: layer %lld writing the k cache", li);
        OP(xhal_copy(st, V3p, vdst), "llama: layer %lld writing the v cache", li);
        OP(xhal_copy(st, Q3p, QT3), "llama: layer %lld q to [H, S, D]", li);
        OP(xhal_attention(st, QT4, k4, v4, NULL, 0.0, 1, AO4), "llama: layer %lld attention", li);
        /* [1, H, S, D] -> [S, H, D] = [S, H*D], reusing q's buffer. */
        OP(xhal_copy(st, AO3p, Q3), "llama: layer %lld attention out to [S, H*D]", li);
        OP(xhal_matmul(st, Q2, y->wo, 0, 1, 1.0, 1.0, X), "llama: layer %lld o_proj + residual", li);
        OP(xhal_rms_norm(st, X, y->ffn_norm, c->rms_norm_eps, Hn), "llama: layer %lld post_attention_layernorm", li);
        OP(xhal_matmul(st, Hn, y->wgate, 0, 1, 1.0, 0.0, G), "llama: layer %lld gate_proj", li);
        OP(xhal_matmul(st, Hn, y->wup, 0, 1, 1.0, 0.0, U), "llama: layer %lld up_proj", li);
        OP(xhal_unary(st, XHAL_OP_SILU, G, G), "llama: layer %lld silu", li);
        OP(xhal_mul(st, G, U, G), "llama: layer %lld silu(gate) * up", li);
        OP(xhal_matmul(st, G, y->wdown, 0, 1, 1.0, 1.0, X), "llama: layer %lld down_proj + residual", li);
        /* Per-layer views are no longer needed once the ops are queued (views keep their
         * buffers alive; the ops captured what they use). */
        while (vw.n > mark) xhal_tensor_destroy(vw.t[--vw.n]);
    }

    if (rows > 0) {
        xhal_tensor *Xr, *Hr, *Lg, *Lf = NULL;
        int64_t sh[2] = {rows, H}, sl[2] = {rows, V};
        VIEW(slice(&vw, X, 0, n - rows, n, &Xr, "last rows"));
        VIEW(view(&vw, m->b_h, C, 2, sh, &Hr, "final norm out"));
        VIEW(view(&vw, m->b_logits, C, 2, sl, &Lg, "logits"));
        OP(xhal_rms_norm(st, Xr, m->norm, c->rms_norm_eps, Hr), "llama: final norm");
        OP(xhal_matmul(st, Hr, m->lm_head, 0, 1, 1.0, 0.0, Lg), "llama: lm_head");
        if (C != XHAL_DTYPE_F32) {
            VIEW(view(&vw, m->b_lf32, XHAL_DTYPE_F32, 2, sl, &Lf, "logits f32"));
            OP(xhal_copy(st, Lg, Lf), "llama: logits to f32");
        } else {
            Lf = Lg;
        }
        OP(xhal_tensor_read(st, Lf, logits, (uint64_t)(rows * V) * sizeof(float)), "llama: reading logits");
    }
    OP(xhal_stream_synchronize(st), "llama: forward");
    m->pos = S;
done:
    views_release(&vw);
    return s;
}

xhal_status xllama_forward(xllama_model *m, const int32_t *tokens, int64_t n, int all_positions, float *logits)
{
    if (!m || !tokens || n < 1)
        return xl_fail(XHAL_ERROR_INVALID_ARGUMENT, "llama: forward needs a model and n >= 1 tokens");
    const int64_t V = m->cfg.vocab_size;
    for (int64_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= V)
            return xl_fail(XHAL_ERROR_OUT_OF_RANGE,
                           "llama: token %lld (at index %lld) is outside the "
                           "vocabulary [0, %lld)",
                           (long long)tokens[i], (long long)i, (long long)V);
    if (n > m->max_seq - m->pos)
        return xl_fail(XHAL_ERROR_OUT_OF_RANGE,
                       "llama: %lld tokens do not fit: %lld of %lld cache "
                       "positions are used",
                       (long long)n, (long long)m->pos, (long long)m->max_seq);
    const int64_t start = m->pos;
    for (int64_t done = 0; done < n;) {
        int64_t chunk = n - done < m->max_batch ? n - done : m->max_batch;
        int last = done + chunk == n;
        int64_t rows = !logits ? 0 : all_positions ? chunk : (last ? 1 : 0);
        float *dst = !logits ? NULL : all_positions ? logits + done * V : logits;
        xhal_status s = forward_chunk(m, tokens + done, chunk, rows, dst);
        /* Non-finite logits are never a result: NaN in a norm weight once gave all-NaN logits
         * and greedy tokens 0,0,0,0 with exit status 0. */
        for (int64_t i = 0; s == XHAL_OK && i < rows * V; i++)
            if (!isfinite(dst[i]))
                s = xl_fail(XHAL_ERROR_CORRUPT_DATA,
                            "llama: the logits of position %lld hold %s at vocabulary "
                            "index %lld: corrupt weights, or a device computing wrongly",
                            (long long)(start + done + (all_positions ? i / V : chunk - 1)),
                            isnan(dst[i]) ? "NaN" : "an infinity", (long long)(i % V));
        if (s != XHAL_OK) {
            m->pos = start; /* the cache beyond start is garbage now: forget it */
            return s;
        }
        done += chunk;
    }
    return XHAL_OK;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int32_t argmax(const float *x, int64_t n)
{
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best] || (x[i] != x[i] && x[best] == x[best])) best = i;
    return (int32_t)best;
}

xhal_status xllama_generate(xllama_model *m, const int32_t *prompt, int64_t n_prompt, int64_t n_generate,
                            int32_t *out_tokens, float *prompt_logits, float *gen_logits, xllama_timing *timing)
{
    if (!m || !prompt || n_prompt < 1 || n_generate < 0 || (n_generate > 0 && !out_tokens))
        return xl_fail(XHAL_ERROR_INVALID_ARGUMENT, "llama: generate needs a model, a prompt of at "
                                                    "least one token and room for the output");
    const int64_t V = m->cfg.vocab_size;
    if (n_prompt + (n_generate > 0 ? n_generate - 1 : 0) > m->max_seq)
        return xl_fail(XHAL_ERROR_OUT_OF_RANGE,
                       "llama: %lld prompt + %lld generated tokens exceed the "
                       "cache of %lld",
                       (long long)n_prompt, (long long)n_generate, (long long)m->max_seq);
    float *last = malloc((size_t)V * sizeof(float));
    float *all = prompt_logits;
    if (!last) return xl_fail(XHAL_ERROR_OUT_OF_MEMORY, "llama: out of host memory");
    xllama_timing t = {0, 0, n_prompt, 0};
    xllama_reset(m);
    double t0 = now_s();
    xhal_status s = all ? xllama_forward(m, prompt, n_prompt, 1, all) : xllama_forward(m, prompt, n_prompt, 0, last);
    t.prefill_s = now_s() - t0;
    if (s == XHAL_OK && all) memcpy(last, all + (n_prompt - 1) * V, (size_t)V * sizeof(float));
    t0 = now_s();
    for (int64_t i = 0; s == XHAL_OK && i < n_generate; i++) {
        if (i > 0) {
            s = xllama_forward(m, &out_tokens[i - 1], 1, 0, last);
            if (s != XHAL_OK) break;
            t.n_decode++;
        }
        if (gen_logits) memcpy(gen_logits + i * V, last, (size_t)V * sizeof(float));
        out_tokens[i] = argmax(last, V);
    }
    t.decode_s = now_s() - t0;
    free(last);
    if (timing) *timing = t;
    return s;
}
