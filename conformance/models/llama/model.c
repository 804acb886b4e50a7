/* model.c - the decoder over the xhal API: weights, KV cache, forward, greedy decode. One
 * decoder for every family; the family's description (arch.c, through xllama_config) decides
 * which weights exist and which steps run. Each layer is two functions (attention_block,
 * mlp_block), the experts a third (moe_block). Tensor parallelism (xllama_load_tp) runs the same
 * functions on each rank's share of the weights, in lockstep over the local ranks, with an
 * all_reduce after each row-parallel projection (forward_chunk, tp_reduce, tp_finish). */
#define _POSIX_C_SOURCE 200809L
#include "llama_internal.h"
#include "xhal/xhal_gguf.h"
#include "xhal/xhal_safetensors.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A projection [out, in] and its bias [out] (NULL when the family has none). */
typedef struct xl_lin {
    xhal_tensor *w, *b;
} xl_lin;

typedef struct xl_expert {
    xl_lin gate, up, down;
} xl_expert;

typedef struct xl_layer {
    xhal_tensor *attn_norm, *ffn_norm;
    xhal_tensor *post_attn_norm, *post_mlp_norm; /* Glm4's sandwich norms */
    xhal_tensor *q_norm, *k_norm;                /* Qwen3: [head_dim] */
    xl_lin q, k, v, o;
    xhal_tensor *gate_up; /* GLM's fused [2I, H]; gate.w and up.w are views of its halves */
    xl_lin gate, up, down;
    /* mixture of experts */
    int is_moe, sliding;
    xhal_tensor *router; /* [E, H] */
    xl_expert *experts;  /* E of them */
    xl_lin sh_gate, sh_up, sh_down;
    xhal_tensor *sh_router;       /* Qwen2-MoE shared_expert_gate [1, H] */
    xhal_tensor *kcache, *vcache; /* [Hkv, max_seq, D] */
    /* tensor parallel: the biases of the row-parallel o_proj / down_proj, added once after the
     * all_reduce (on one device they are o.b / down.b) */
    xhal_tensor *o_bias_after, *down_bias_after;
} xl_layer;

struct xllama_model {
    xllama_config cfg;
    xhal_device *dev;
    xhal_stream *stream;
    xhal_dtype wdtype, cdtype;
    xhal_rope_layout rope; /* rotate-half (Hugging Face); interleaved for GLM and GGUF's permuted q/k */
    int64_t max_seq, max_batch, pos;
    xhal_tensor *embed, *norm, *lm_head; /* lm_head == embed when tied */
    xhal_tensor *inv_freq;               /* f32 [rotary_dims / 2] for scaled RoPE (linear, llama3); else NULL */
    float *h_inv_freq;                   /* the same on the host */
    int rope_composed;                   /* the device's rope takes no inv_freq: composed (rope_composed()) */
    int topk_host;                       /* the device has no TOPK: the experts are chosen on the host */
    int window_mask;                     /* the device's attention has no window: an additive mask */
    xhal_buffer *b_cos, *b_sin, *b_cosc, *b_sinc, *b_r1, *b_r2, *b_r3; /* its tables and scratch */
    xl_layer *layers;
    int any_sliding, any_moe;
    /* Work buffers sized for max_batch tokens; each forward views their first bytes. */
    xhal_buffer *b_ids, *b_x, *b_h, *b_t, *b_q, *b_k, *b_v, *b_qt, *b_ao, *b_g, *b_u, *b_logits, *b_lf32;
    xhal_buffer *b_mask, *b_maskf; /* sliding window: [max_batch, max_seq] additive mask */
    float *h_mask;
    /* mixture of experts: B = max_batch, k = experts_per_tok, E experts */
    xhal_buffer *b_rl, *b_rlf, *b_prob;            /* router logits [B, E] (compute, f32), probabilities */
    xhal_buffer *b_sel, *b_inv, *b_rwf, *b_rw;     /* [B*k] i32 rows, i32 inverse order, weights f32 / compute */
    xhal_buffer *b_xg, *b_eg, *b_eu, *b_ey, *b_yt; /* gathered rows [B*k, H], expert gate/up [B*k, Im], out */
    xhal_buffer *b_sg, *b_su, *b_sgt;              /* shared expert [B, Is] x 2, its gate [B, 1] */
    float *h_prob, *h_rw;
    int32_t *h_sel, *h_inv, *h_cnt, *h_fill, *h_choice;
    /* Tensor parallelism. A rank's model holds its share of the weights: nh query heads, nkv
     * kv heads, inter MLP columns, moe_inter / sh_inter expert and shared-expert columns (on
     * one device: all of them); cfg stays the whole model's. A group (xllama_load_tp) holds a
     * model per local rank and drives them in lockstep; its own fields are the shared ones. */
    int tp_size, tp_rank;
    int64_t nh, nkv, inter, moe_inter, sh_inter;
    xhal_comm *comm;        /* group: the communicator (the caller's) */
    int n_local;            /* group: local ranks (0: not a group) */
    xllama_model **local;   /* group: the model of each local rank */
    int decode_graph;       /* xllama_options.decode_graph */
    int capturing;          /* forward_chunk is capturing the one-token step: bind the position */
    xhal_graph *step_graph; /* the one-token step with logits, captured at its first run */
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
    if (!m) return;
    m->pos = 0;
    for (int i = 0; i < m->n_local; i++) m->local[i]->pos = 0;
}
int xllama_tp_size(const xllama_model *m) { return m ? (m->local ? m->local[0]->tp_size : m->tp_size) : 0; }

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
static xhal_status upload(const xl_src *src, const char *name, int axis, int64_t a, int64_t b, xhal_stream *s,
                          xhal_dtype cdtype, int keep_quant, xhal_tensor **out)
{
    if (!src->gg)
        return axis < 0 ? xhal_safetensors_upload(src->st, name, s, cdtype, out)
                        : xhal_safetensors_upload_slice(src->st, name, axis, a, b, s, cdtype, out);
    char buf[160];
    xhal_gguf_tensor g;
    xhal_status st = xhal_gguf_tensor_get(src->gg, gguf_name(name, buf, sizeof buf), &g);
    if (st != XHAL_OK) return st;
    xhal_device *dev = NULL;
    xhal_tensor *raw = NULL, *conv = NULL;
    int64_t shape[XHAL_MAX_DIMS];
    memcpy(shape, g.shape, sizeof shape);
    uint64_t size = g.size;
    if (axis >= 0) { /* a tensor-parallel rank's share: rows, or whole blocks of the columns */
        shape[axis] = b - a;
        size = g.size / (uint64_t)g.shape[axis] * (uint64_t)(b - a);
    }
    if ((st = xhal_stream_device(s, &dev)) != XHAL_OK) return st;
    if ((st = xhal_tensor_create(dev, g.dtype, g.ndim, shape, &raw)) != XHAL_OK) return st;
    {
        /* read from the file, not the mapping: a file truncated while loading is an IO error,
         * not SIGBUS (xhal_gguf_tensor_read) */
        void *staging = size && (size_t)size == size ? malloc((size_t)size) : NULL;
        if (size && !staging) {
            st = xl_fail(XHAL_ERROR_OUT_OF_MEMORY, "llama: out of host memory staging %llu bytes of '%s'",
                         (unsigned long long)size, g.name);
            goto fail;
        }
        st = !size      ? XHAL_OK
             : axis < 0 ? xhal_gguf_tensor_read(src->gg, &g, staging, size)
                        : xhal_gguf_tensor_read_slice(src->gg, &g, axis, a, b, staging, size);
        if (st == XHAL_OK && size) st = xhal_tensor_write(s, raw, staging, size);
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

/* One weight to read: its name in the checkpoint, the shape config.json implies, where it goes. */
typedef struct xl_wspec {
    char name[160];
    int ndim;
    int64_t d0, d1;
    xhal_tensor **dst;
    int axis; /* tensor parallel: the rank's share is [a, b) of this axis; -1: all of it */
    int64_t a, b;
} xl_wspec;

typedef struct xl_wlist {
    xl_wspec *v;
    int64_t n, cap;
} xl_wlist;

static int wl_add(xl_wlist *wl, xhal_tensor **dst, int ndim, int64_t d0, int64_t d1, const char *fmt, ...)
    XL_PRINTF(6, 7);
static int wl_add(xl_wlist *wl, xhal_tensor **dst, int ndim, int64_t d0, int64_t d1, const char *fmt, ...)
{
    if (wl->n == wl->cap) {
        int64_t cap = wl->cap ? 2 * wl->cap : 64;
        xl_wspec *v = realloc(wl->v, (size_t)cap * sizeof *v);
        if (!v) return 0;
        wl->v = v;
        wl->cap = cap;
    }
    xl_wspec *w = &wl->v[wl->n++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->name, sizeof w->name, fmt, ap);
    va_end(ap);
    w->ndim = ndim;
    w->d0 = d0;
    w->d1 = d1;
    w->dst = dst;
    w->axis = -1;
    w->a = w->b = 0;
    return 1;
}

/* The last weight added is split over the ranks (a no-op on one device): this rank takes
 * `len` entries of `axis` from `first` + rank x len. */
static int wl_split(const xllama_model *m, xl_wlist *wl, int axis, int64_t first, int64_t len)
{
    if (m->tp_size > 1) {
        xl_wspec *w = &wl->v[wl->n - 1];
        w->axis = axis;
        w->a = first + (int64_t)m->tp_rank * len;
        w->b = w->a + len;
    }
    return 1;
}

/* The weights of the model as its family names them, with the shapes the config implies. */
static int list_weights(xllama_model *m, xl_wlist *wl)
{
    const xllama_config *c = &m->cfg;
    const int64_t H = c->hidden_size, I = c->intermediate_size, V = c->vocab_size;
    const int64_t HQ = c->num_heads * c->head_dim, HKV = c->num_kv_heads * c->head_dim, D = c->head_dim;
    const int64_t E = c->num_experts, Im = c->moe_intermediate_size, Is = c->shared_expert_intermediate_size;
    const int mixtral = c->family == XLLAMA_MIXTRAL;
    /* this rank's share (Megatron): rows of the column-parallel q/k/v/gate/up and their biases,
     * columns of the row-parallel o/down (their biases whole, added after the all_reduce) */
    const int64_t hq = m->nh * D, hkv = m->nkv * D, il = m->inter, iml = m->moe_inter, isl = m->sh_inter;
    const int tp = m->tp_size > 1;
#define ROWS(len) wl_split(m, wl, 0, 0, len)
#define COLS(len) wl_split(m, wl, 1, 0, len)
    int ok = wl_add(wl, &m->embed, 2, V, H, "model.embed_tokens.weight") &&
             wl_add(wl, &m->norm, 1, H, 0, "model.norm.weight");
    if (!c->tie_word_embeddings) ok = ok && wl_add(wl, &m->lm_head, 2, V, H, "lm_head.weight");
    for (int64_t l = 0; ok && l < c->num_layers; l++) {
        xl_layer *y = &m->layers[l];
        const long long li = (long long)l;
#define P(fmt) "model.layers.%lld." fmt, li
        ok = wl_add(wl, &y->attn_norm, 1, H, 0, P("input_layernorm.weight")) &&
             wl_add(wl, &y->q.w, 2, HQ, H, P("self_attn.q_proj.weight")) && ROWS(hq) &&
             wl_add(wl, &y->k.w, 2, HKV, H, P("self_attn.k_proj.weight")) && ROWS(hkv) &&
             wl_add(wl, &y->v.w, 2, HKV, H, P("self_attn.v_proj.weight")) && ROWS(hkv) &&
             wl_add(wl, &y->o.w, 2, H, HQ, P("self_attn.o_proj.weight")) && COLS(hq) &&
             wl_add(wl, &y->ffn_norm, 1, H, 0, P("post_attention_layernorm.weight"));
        if (ok && c->qkv_bias)
            ok = wl_add(wl, &y->q.b, 1, HQ, 0, P("self_attn.q_proj.bias")) && ROWS(hq) &&
                 wl_add(wl, &y->k.b, 1, HKV, 0, P("self_attn.k_proj.bias")) && ROWS(hkv) &&
                 wl_add(wl, &y->v.b, 1, HKV, 0, P("self_attn.v_proj.bias")) && ROWS(hkv);
        if (ok && c->o_bias) ok = wl_add(wl, tp ? &y->o_bias_after : &y->o.b, 1, H, 0, P("self_attn.o_proj.bias"));
        if (ok && c->qk_norm)
            ok = wl_add(wl, &y->q_norm, 1, D, 0, P("self_attn.q_norm.weight")) &&
                 wl_add(wl, &y->k_norm, 1, D, 0, P("self_attn.k_norm.weight"));
        if (ok && c->sandwich_norms)
            ok = wl_add(wl, &y->post_attn_norm, 1, H, 0, P("post_self_attn_layernorm.weight")) &&
                 wl_add(wl, &y->post_mlp_norm, 1, H, 0, P("post_mlp_layernorm.weight"));
        if (!ok) break;
        if (y->is_moe) {
            const char *blk = mixtral ? "block_sparse_moe" : "mlp";
            ok = wl_add(wl, &y->router, 2, E, H, "model.layers.%lld.%s.gate.weight", li, blk);
            for (int64_t e = 0; ok && e < E; e++) {
                xl_expert *x = &y->experts[e];
                const long long ei = (long long)e;
                if (mixtral)
                    ok =
                        wl_add(wl, &x->gate.w, 2, Im, H, P("block_sparse_moe.experts.%lld.w1.weight"), ei) &&
                        ROWS(iml) && wl_add(wl, &x->up.w, 2, Im, H, P("block_sparse_moe.experts.%lld.w3.weight"), ei) &&
                        ROWS(iml) &&
                        wl_add(wl, &x->down.w, 2, H, Im, P("block_sparse_moe.experts.%lld.w2.weight"), ei) && COLS(iml);
                else
                    ok = wl_add(wl, &x->gate.w, 2, Im, H, P("mlp.experts.%lld.gate_proj.weight"), ei) && ROWS(iml) &&
                         wl_add(wl, &x->up.w, 2, Im, H, P("mlp.experts.%lld.up_proj.weight"), ei) && ROWS(iml) &&
                         wl_add(wl, &x->down.w, 2, H, Im, P("mlp.experts.%lld.down_proj.weight"), ei) && COLS(iml);
            }
            if (ok && Is > 0)
                ok = wl_add(wl, &y->sh_gate.w, 2, Is, H, P("mlp.shared_expert.gate_proj.weight")) && ROWS(isl) &&
                     wl_add(wl, &y->sh_up.w, 2, Is, H, P("mlp.shared_expert.up_proj.weight")) && ROWS(isl) &&
                     wl_add(wl, &y->sh_down.w, 2, H, Is, P("mlp.shared_expert.down_proj.weight")) && COLS(isl) &&
                     wl_add(wl, &y->sh_router, 2, 1, H, P("mlp.shared_expert_gate.weight"));
        } else if (c->fused_gate_up && tp) {
            /* GLM's fused [gate; up]: the rank's gate rows from the first half, its up rows from
             * the second, read as two slices of the one tensor */
            ok = wl_add(wl, &y->gate.w, 2, 2 * I, H, P("mlp.gate_up_proj.weight")) && wl_split(m, wl, 0, 0, il) &&
                 wl_add(wl, &y->up.w, 2, 2 * I, H, P("mlp.gate_up_proj.weight")) && wl_split(m, wl, 0, I, il) &&
                 wl_add(wl, &y->down.w, 2, H, I, P("mlp.down_proj.weight")) && COLS(il);
        } else if (c->fused_gate_up) {
            ok = wl_add(wl, &y->gate_up, 2, 2 * I, H, P("mlp.gate_up_proj.weight")) &&
                 wl_add(wl, &y->down.w, 2, H, I, P("mlp.down_proj.weight"));
        } else {
            ok = wl_add(wl, &y->gate.w, 2, I, H, P("mlp.gate_proj.weight")) && ROWS(il) &&
                 wl_add(wl, &y->up.w, 2, I, H, P("mlp.up_proj.weight")) && ROWS(il) &&
                 wl_add(wl, &y->down.w, 2, H, I, P("mlp.down_proj.weight")) && COLS(il);
            if (ok && c->mlp_bias)
                ok = wl_add(wl, &y->gate.b, 1, I, 0, P("mlp.gate_proj.bias")) && ROWS(il) &&
                     wl_add(wl, &y->up.b, 1, I, 0, P("mlp.up_proj.bias")) && ROWS(il) &&
                     wl_add(wl, tp ? &y->down_bias_after : &y->down.b, 1, H, 0, P("mlp.down_proj.bias"));
        }
#undef P
    }
#undef ROWS
#undef COLS
    return ok;
}

static xhal_status make_buffer(xllama_model *m, const char *what, int64_t elems, xhal_dtype dt, xhal_buffer **out)
{
    uint64_t bytes = (uint64_t)elems * xhal_dtype_size(dt);
    if (bytes == 0) bytes = 1;
    xhal_status s = xhal_buffer_create(m->dev, bytes, out);
    if (s != XHAL_OK) return xl_wrap(s, "llama: allocating work buffer '%s'", what);
    return XHAL_OK;
}

/* The inverse frequencies of scaled RoPE, as transformers' _compute_linear_scaling_rope_parameters
 * and _compute_llama3_parameters make them (modeling_rope_utils.py), uploaded as f32 for
 * xhal_rope_ex. Default and dynamic RoPE need none: dynamic NTK changes the frequencies only
 * past max_position_embeddings, which the cache never reaches. */
static xhal_status make_inv_freq(xllama_model *m)
{
    const xllama_config *c = &m->cfg;
    if (c->rope_type != XLLAMA_ROPE_LINEAR && c->rope_type != XLLAMA_ROPE_LLAMA3) return XHAL_OK;
    const int64_t half = c->rotary_dims / 2;
    float *f = malloc((size_t)half * sizeof *f);
    if (!f) return xl_fail(XHAL_ERROR_OUT_OF_MEMORY, "llama: out of host memory");
    const double pi = 3.14159265358979323846;
    for (int64_t k = 0; k < half; k++) {
        double inv = 1.0 / pow(c->rope_theta, (double)(2 * k) / (double)c->rotary_dims);
        if (c->rope_type == XLLAMA_ROPE_LINEAR) {
            inv /= c->rope_factor;
        } else {
            const double old = (double)c->rope_original_max_position;
            const double low_wl = old / c->rope_low_freq_factor, high_wl = old / c->rope_high_freq_factor;
            const double wl = 2 * pi / inv;
            if (wl > low_wl) {
                inv /= c->rope_factor;  /* low frequencies: interpolated */
            } else if (wl >= high_wl) { /* the band between: smooth blend */
                const double sm =
                    (old / wl - c->rope_low_freq_factor) / (c->rope_high_freq_factor - c->rope_low_freq_factor);
                inv = (1 - sm) * inv / c->rope_factor + sm * inv;
            } /* high frequencies unchanged */
        }
        f[k] = (float)inv;
    }
    m->h_inv_freq = f;
    xhal_status s = xhal_tensor_create(m->dev, XHAL_DTYPE_F32, 1, &half, &m->inv_freq);
    if (s == XHAL_OK) s = xhal_tensor_write(m->stream, m->inv_freq, f, (uint64_t)half * sizeof *f);
    if (s != XHAL_OK) return xl_wrap(s, "llama: uploading the RoPE inverse frequencies");
    /* scratch of the composed form, for devices whose rope takes no inv_freq */
    const int64_t B = m->max_batch, HS = (m->nh > m->nkv ? m->nh : m->nkv) * half;
    if ((s = make_buffer(m, "rope cos", B * half, XHAL_DTYPE_F32, &m->b_cos)) != XHAL_OK ||
        (s = make_buffer(m, "rope sin", B * half, XHAL_DTYPE_F32, &m->b_sin)) != XHAL_OK ||
        (s = make_buffer(m, "rope cos c", B * half, m->cdtype, &m->b_cosc)) != XHAL_OK ||
        (s = make_buffer(m, "rope sin c", B * half, m->cdtype, &m->b_sinc)) != XHAL_OK ||
        (s = make_buffer(m, "rope scratch 1", B * HS, m->cdtype, &m->b_r1)) != XHAL_OK ||
        (s = make_buffer(m, "rope scratch 2", B * HS, m->cdtype, &m->b_r2)) != XHAL_OK ||
        (s = make_buffer(m, "rope scratch 3", B * HS, m->cdtype, &m->b_r3)) != XHAL_OK)
        return s;
    return XHAL_OK;
}

/* Whether the device's attention takes a sliding window (xhal_attention_ex, op catalogue 86):
 * asked once at load with a 1-token call; a device that answers UNSUPPORTED gets the window as
 * an additive mask of xhal_attention instead (window_mask()). */
static xhal_status probe_window(xllama_model *m)
{
    if (!m->any_sliding) return XHAL_OK;
    const int64_t shape[4] = {1, 1, 1, 2};
    xhal_tensor *t[4] = {NULL, NULL, NULL, NULL};
    xhal_status s = XHAL_OK;
    for (int i = 0; i < 4 && s == XHAL_OK; i++) s = xhal_tensor_create(m->dev, m->cdtype, 4, shape, &t[i]);
    for (int i = 0; i < 3 && s == XHAL_OK; i++) s = xhal_fill(m->stream, t[i], 0.0);
    if (s == XHAL_OK) {
        xhal_attention_params ap;
        xhal_attention_params_init(&ap);
        ap.causal = 1;
        ap.window = 1;
        s = xhal_attention_ex(m->stream, t[0], t[1], t[2], NULL, &ap, t[3]);
        if (s == XHAL_ERROR_UNSUPPORTED) {
            m->window_mask = 1;
            s = XHAL_OK;
        }
        if (s == XHAL_OK) s = xhal_stream_synchronize(m->stream);
    }
    for (int i = 0; i < 4; i++)
        if (t[i]) xhal_tensor_destroy(t[i]);
    if (s != XHAL_OK) return xl_wrap(s, "llama: asking the device for windowed attention");
    return XHAL_OK;
}

static xhal_status alloc_work(xllama_model *m)
{
    const xllama_config *c = &m->cfg;
    const int64_t H = c->hidden_size, I = m->inter, V = c->vocab_size;
    const int64_t HQ = m->nh * c->head_dim, HKV = m->nkv * c->head_dim;
    const int64_t B = m->max_batch;
    const xhal_dtype C = m->cdtype;
    xhal_status s;
    if ((s = make_buffer(m, "ids", B, XHAL_DTYPE_I32, &m->b_ids)) != XHAL_OK ||
        (s = make_buffer(m, "x", B * H, C, &m->b_x)) != XHAL_OK ||
        (s = make_buffer(m, "h", B * H, C, &m->b_h)) != XHAL_OK ||
        (s = make_buffer(m, "t", B * H, C, &m->b_t)) != XHAL_OK ||
        (s = make_buffer(m, "q", B * HQ, C, &m->b_q)) != XHAL_OK ||
        (s = make_buffer(m, "k", B * HKV, C, &m->b_k)) != XHAL_OK ||
        (s = make_buffer(m, "v", B * HKV, C, &m->b_v)) != XHAL_OK ||
        (s = make_buffer(m, "q_heads", B * HQ, C, &m->b_qt)) != XHAL_OK ||
        (s = make_buffer(m, "attn_out", B * HQ, C, &m->b_ao)) != XHAL_OK ||
        (s = make_buffer(m, "gate", B * I, C, &m->b_g)) != XHAL_OK ||
        (s = make_buffer(m, "up", B * I, C, &m->b_u)) != XHAL_OK ||
        (s = make_buffer(m, "logits", B * V, C, &m->b_logits)) != XHAL_OK ||
        (C != XHAL_DTYPE_F32 && (s = make_buffer(m, "logits_f32", B * V, XHAL_DTYPE_F32, &m->b_lf32)) != XHAL_OK))
        return s;
    if ((s = probe_window(m)) != XHAL_OK) return s;
    if (m->window_mask) {
        const int64_t n = B * m->max_seq;
        if ((s = make_buffer(m, "mask", n, C, &m->b_mask)) != XHAL_OK ||
            (s = make_buffer(m, "mask_f32", n, XHAL_DTYPE_F32, &m->b_maskf)) != XHAL_OK)
            return s;
        if (!(m->h_mask = malloc((size_t)n * sizeof(float))))
            return xl_fail(XHAL_ERROR_OUT_OF_MEMORY, "llama: out of host memory");
    }
    if (m->any_moe) {
        const int64_t E = c->num_experts, K = c->experts_per_tok, Im = m->moe_inter;
        const int64_t Is = m->sh_inter;
        if ((s = make_buffer(m, "router logits", B * E, C, &m->b_rl)) != XHAL_OK ||
            (s = make_buffer(m, "router logits f32", B * E, XHAL_DTYPE_F32, &m->b_rlf)) != XHAL_OK ||
            (s = make_buffer(m, "router probabilities", B * E, XHAL_DTYPE_F32, &m->b_prob)) != XHAL_OK ||
            (s = make_buffer(m, "routed rows", B * K, XHAL_DTYPE_I32, &m->b_sel)) != XHAL_OK ||
            (s = make_buffer(m, "routed order", B * K, XHAL_DTYPE_I32, &m->b_inv)) != XHAL_OK ||
            (s = make_buffer(m, "routing weights f32", B * K, XHAL_DTYPE_F32, &m->b_rwf)) != XHAL_OK ||
            (s = make_buffer(m, "routing weights", B * K, C, &m->b_rw)) != XHAL_OK ||
            (s = make_buffer(m, "expert input", B * K * H, C, &m->b_xg)) != XHAL_OK ||
            (s = make_buffer(m, "expert gate", B * K * Im, C, &m->b_eg)) != XHAL_OK ||
            (s = make_buffer(m, "expert up", B * K * Im, C, &m->b_eu)) != XHAL_OK ||
            (s = make_buffer(m, "expert out", B * K * H, C, &m->b_ey)) != XHAL_OK ||
            (s = make_buffer(m, "expert out by token", B * K * H, C, &m->b_yt)) != XHAL_OK)
            return s;
        if (Is > 0 && ((s = make_buffer(m, "shared gate", B * Is, C, &m->b_sg)) != XHAL_OK ||
                       (s = make_buffer(m, "shared up", B * Is, C, &m->b_su)) != XHAL_OK ||
                       (s = make_buffer(m, "shared expert gate", B, C, &m->b_sgt)) != XHAL_OK))
            return s;
        m->h_prob = malloc((size_t)(B * E) * sizeof(float));
        m->h_rw = malloc((size_t)(B * K) * sizeof(float));
        m->h_sel = malloc((size_t)(B * K) * sizeof(int32_t));
        m->h_inv = malloc((size_t)(B * K) * sizeof(int32_t));
        m->h_cnt = malloc((size_t)(E + 1) * sizeof(int32_t));
        m->h_fill = malloc((size_t)E * sizeof(int32_t));
        m->h_choice = malloc((size_t)(B * K) * sizeof(int32_t));
        if (!m->h_prob || !m->h_rw || !m->h_sel || !m->h_inv || !m->h_cnt || !m->h_fill || !m->h_choice)
            return xl_fail(XHAL_ERROR_OUT_OF_MEMORY, "llama: out of host memory");
    }
    return XHAL_OK;
}

/* The share of rank tp_rank of tp_size: the heads, kv heads and MLP columns of the config
 * divided by tp_size; a size that does not divide is refused naming its key (of config.json or
 * of the GGUF file) and the rank count. */
static xhal_status tp_shares(xllama_model *m, const char *dir, int gguf)
{
    const xllama_config *c = &m->cfg;
    const int64_t N = m->tp_size;
    int any_dense = 0, any_moe = 0;
    for (int64_t l = 0; l < c->num_layers; l++) {
        const int moe = c->moe != XLLAMA_MOE_NONE && c->layer_moe[l];
        any_moe |= moe;
        any_dense |= !moe;
    }
    const struct {
        const char *key, *gguf_key;
        int64_t v;
        int used;
        int64_t *share;
    } k[] = {
        {"num_attention_heads", "llama.attention.head_count", c->num_heads, 1, &m->nh},
        {"num_key_value_heads", "llama.attention.head_count_kv", c->num_kv_heads, 1, &m->nkv},
        {"intermediate_size", "llama.feed_forward_length", c->intermediate_size, any_dense, &m->inter},
        {c->family == XLLAMA_MIXTRAL ? "intermediate_size" : "moe_intermediate_size", "", c->moe_intermediate_size,
         any_moe, &m->moe_inter},
        {"shared_expert_intermediate_size", "", c->shared_expert_intermediate_size,
         any_moe && c->shared_expert_intermediate_size > 0, &m->sh_inter},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        if (k[i].used && k[i].v % N != 0)
            return xl_fail(XHAL_ERROR_INVALID_ARGUMENT,
                           "llama: %s: tensor parallelism over %lld ranks needs %s (%lld) divisible by %lld; "
                           "run it over a rank count that divides it",
                           dir, (long long)N, gguf ? k[i].gguf_key : k[i].key, (long long)k[i].v, (long long)N);
        *k[i].share = k[i].v / N;
    }
    return XHAL_OK;
}

/* The model of rank tp_rank of tp_size (1, 0: the whole model) on dev. */
static xhal_status load_rank(xhal_device *dev, const char *dir, const xllama_options *opts, int tp_size, int tp_rank,
                             xllama_model **out)
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

    xllama_model *m = calloc(1, sizeof *m);
    if (!m) return xl_fail(XHAL_ERROR_OUT_OF_MEMORY, "llama: out of host memory");
    xhal_status s;
    xl_src src = {NULL, NULL};
    xl_wlist wl = {NULL, 0, 0};
    const int is_gguf = ends_with(dir, ".gguf");
    if (is_gguf) {
        s = xhal_gguf_open(dir, &src.gg);
        if (s != XHAL_OK) {
            s = xl_wrap(s, "llama: %s: reading the GGUF file", dir);
            goto fail;
        }
        if ((s = xl_config_from_gguf(src.gg, dir, &m->cfg)) != XHAL_OK) goto fail;
    } else {
        if ((s = xllama_config_load(dir, &m->cfg)) != XHAL_OK) goto fail;
        s = xhal_safetensors_open(dir, &src.st);
        if (s != XHAL_OK) {
            s = xl_wrap(s, "llama: %s: reading the weights", dir);
            goto fail;
        }
    }
    const xllama_config *cfg = &m->cfg;
    const int64_t L = cfg->num_layers;
    m->tp_size = tp_size;
    m->tp_rank = tp_rank;
    if ((s = tp_shares(m, dir, is_gguf)) != XHAL_OK) goto fail;
    m->rope = cfg->rope_interleaved ? XHAL_ROPE_INTERLEAVED : XHAL_ROPE_HALF;
    m->dev = dev;
    m->layers = calloc((size_t)L, sizeof *m->layers);
    if (!m->layers) {
        s = xl_fail(XHAL_ERROR_OUT_OF_MEMORY, "llama: out of host memory");
        goto fail;
    }
    for (int64_t l = 0; l < L; l++) {
        xl_layer *y = &m->layers[l];
        y->is_moe = cfg->moe != XLLAMA_MOE_NONE && cfg->layer_moe[l];
        y->sliding = cfg->sliding_window > 0 && cfg->layer_sliding[l];
        m->any_sliding |= y->sliding;
        m->any_moe |= y->is_moe;
        if (y->is_moe && !(y->experts = calloc((size_t)cfg->num_experts, sizeof *y->experts))) {
            s = xl_fail(XHAL_ERROR_OUT_OF_MEMORY, "llama: out of host memory");
            goto fail;
        }
    }
    if (!list_weights(m, &wl)) {
        s = xl_fail(XHAL_ERROR_OUT_OF_MEMORY, "llama: out of host memory");
        goto fail;
    }

    /* Check every tensor before uploading any. */
    for (int64_t i = 0; i < wl.n; i++) {
        xhal_dtype dt = XHAL_DTYPE_INVALID;
        s = check_tensor(&src, dir, wl.v[i].name, wl.v[i].ndim, wl.v[i].d0, wl.v[i].d1, wl.v[i].ndim == 2, &dt);
        if (s != XHAL_OK) goto fail;
        xhal_dtype_info di;
        if (wl.v[i].axis == wl.v[i].ndim - 1 && xhal_dtype_get_info(dt, &di) == XHAL_OK && di.is_quantized &&
            (wl.v[i].b - wl.v[i].a) % di.block_size != 0) {
            char gbuf[160];
            s = xl_fail(XHAL_ERROR_UNSUPPORTED,
                        "llama: %s: tensor parallelism over %d ranks gives each rank %lld columns of '%s', which "
                        "splits its %s blocks of %lld elements",
                        dir, tp_size, (long long)(wl.v[i].b - wl.v[i].a), gguf_name(wl.v[i].name, gbuf, sizeof gbuf),
                        di.name, (long long)di.block_size);
            goto fail;
        }
        if (i == 0) m->wdtype = dt;
    }
    /* block-quantized weights compute in f32 unless asked otherwise */
    m->cdtype = o.compute_dtype != XHAL_DTYPE_INVALID ? o.compute_dtype
                : is_float(m->wdtype)                 ? m->wdtype
                                                      : XHAL_DTYPE_F32;
    /* Positions past max_position_embeddings were never trained: a longer cache is refused
     * (--max-seq 16777216 on a tiny model once allocated 8.7 GB and ran without a word). */
    if (o.max_seq > cfg->max_position_embeddings) {
        s = xl_fail(XHAL_ERROR_INVALID_ARGUMENT,
                    "llama: max_seq %lld is above the model's "
                    "max_position_embeddings %lld (%s)",
                    (long long)o.max_seq, (long long)cfg->max_position_embeddings, dir);
        goto fail;
    }
    m->max_seq = o.max_seq ? o.max_seq : (cfg->max_position_embeddings < 4096 ? cfg->max_position_embeddings : 4096);
    m->max_batch = o.max_batch ? o.max_batch : (m->max_seq < 512 ? m->max_seq : 512);
    if (m->max_batch > m->max_seq) m->max_batch = m->max_seq;
    m->decode_graph = o.decode_graph != 0;

    s = xhal_stream_create(dev, &m->stream);
    if (s != XHAL_OK) {
        s = xl_wrap(s, "llama: creating a stream");
        goto fail;
    }
    for (int64_t i = 0; i < wl.n; i++) {
        /* projections and lm_head keep a block-quantized dtype; the embedding (gathered) is
         * dequantized, unless it is also the tied lm_head (then it is dequantized too) */
        const xl_wspec *w = &wl.v[i];
        s = upload(&src, w->name, w->axis, w->a, w->b, m->stream, m->cdtype, w->ndim == 2 && w->dst != &m->embed,
                   w->dst);
        if (s != XHAL_OK) {
            if (w->axis >= 0)
                s = xl_wrap(s, "llama: uploading rows [%lld, %lld) of axis %d of '%s' as %s", (long long)w->a,
                            (long long)w->b, w->axis, w->name, xhal_dtype_name(m->cdtype));
            else
                s = xl_wrap(s, "llama: uploading '%s' as %s", w->name, xhal_dtype_name(m->cdtype));
            goto fail;
        }
    }
    if (cfg->tie_word_embeddings) m->lm_head = m->embed;
    /* GLM's fused gate_up_proj: gate is the first half of the rows, up the second */
    for (int64_t l = 0; l < L; l++) {
        xl_layer *y = &m->layers[l];
        if (!y->gate_up) continue;
        const int64_t I = cfg->intermediate_size;
        if ((s = xhal_tensor_slice(y->gate_up, 0, 0, I, 1, &y->gate.w)) != XHAL_OK ||
            (s = xhal_tensor_slice(y->gate_up, 0, I, 2 * I, 1, &y->up.w)) != XHAL_OK) {
            s = xl_wrap(s, "llama: splitting gate_up_proj of layer %lld", (long long)l);
            goto fail;
        }
    }

    /* KV cache, zeroed so that nothing uninitialized is ever read. */
    const int64_t D = cfg->head_dim, S = m->max_seq;
    for (int64_t l = 0; l < L; l++) {
        int64_t shape[3] = {m->nkv, S, D};
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
    if ((s = alloc_work(m)) != XHAL_OK || (s = make_inv_freq(m)) != XHAL_OK) goto fail;
    if ((s = xhal_stream_synchronize(m->stream)) != XHAL_OK) {
        s = xl_wrap(s, "llama: loading");
        goto fail;
    }
    free(wl.v);
    xhal_safetensors_close(src.st);
    xhal_gguf_close(src.gg);
    *out = m;
    return XHAL_OK;
fail:
    free(wl.v);
    xhal_safetensors_close(src.st);
    xhal_gguf_close(src.gg);
    xllama_destroy(m);
    return s;
}

xhal_status xllama_load(xhal_device *dev, const char *dir, const xllama_options *opts, xllama_model **out)
{
    return load_rank(dev, dir, opts, 1, 0, out);
}

/* Whether any rank of comm, in any process, failed (local_failed: this process's): an i32 per
 * local rank, all_reduce MAX. Every rank calls it, so a rank that failed to load never leaves
 * the others waiting in their first forward's all_reduce. */
static xhal_status tp_agree(xhal_comm *comm, int n_local, int local_failed, int *any_failed)
{
    xhal_stream *ss[XHAL_COMM_MAX_LOCAL] = {NULL};
    xhal_tensor *ts[XHAL_COMM_MAX_LOCAL] = {NULL};
    const int64_t one = 1;
    int32_t v = local_failed != 0;
    xhal_status s = XHAL_OK;
    for (int i = 0; i < n_local && s == XHAL_OK; i++) {
        xhal_device *dev = NULL;
        if ((s = xhal_comm_device(comm, i, &dev)) == XHAL_OK && (s = xhal_stream_create(dev, &ss[i])) == XHAL_OK &&
            (s = xhal_tensor_create(dev, XHAL_DTYPE_I32, 1, &one, &ts[i])) == XHAL_OK)
            s = xhal_tensor_write(ss[i], ts[i], &v, sizeof v);
    }
    if (s == XHAL_OK) s = xhal_all_reduce(comm, ss, ts, ts, XHAL_REDUCE_MAX);
    if (s == XHAL_OK) s = xhal_tensor_read(ss[0], ts[0], &v, sizeof v);
    if (s == XHAL_OK) s = xhal_stream_synchronize(ss[0]);
    for (int i = 0; i < n_local; i++) {
        if (ts[i]) xhal_tensor_destroy(ts[i]);
        if (ss[i]) xhal_stream_destroy(ss[i]);
    }
    *any_failed = v != 0;
    return s;
}

xhal_status xllama_load_tp(xhal_comm *comm, const char *dir, const xllama_options *opts, xllama_model **out)
{
    if (!comm || !dir || !out) return xl_fail(XHAL_ERROR_INVALID_ARGUMENT, "llama: NULL argument");
    xhal_comm_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    xhal_status s = xhal_comm_get_info(comm, &info);
    if (s != XHAL_OK) return xl_wrap(s, "llama: reading the communicator");
    xllama_model *g = calloc(1, sizeof *g);
    if (!g || !(g->local = calloc((size_t)info.n_local, sizeof *g->local))) {
        free(g);
        return xl_fail(XHAL_ERROR_OUT_OF_MEMORY, "llama: out of host memory");
    }
    g->comm = comm;
    g->n_local = info.n_local;
    if (opts && opts->struct_size >= sizeof *opts && opts->decode_graph)
        s = xl_fail(XHAL_ERROR_UNSUPPORTED, "llama: decode_graph with tensor parallelism: the all_reduce between the "
                                            "layers is not captured in a graph (run op by op)");
    for (int i = 0; i < info.n_local && s == XHAL_OK; i++) {
        xhal_device *dev = NULL;
        if ((s = xhal_comm_device(comm, i, &dev)) != XHAL_OK) {
            s = xl_wrap(s, "llama: the device of local rank %d", i);
        } else if ((s = load_rank(dev, dir, opts, info.size, info.first_rank + i, &g->local[i])) != XHAL_OK) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", xllama_last_error());
            s = xl_fail(s, "llama: tensor parallel rank %d of %d: %s", info.first_rank + i, info.size,
                        strncmp(msg, "llama: ", 7) ? msg : msg + 7);
        }
    }
    for (int i = 1; s == XHAL_OK && i < g->n_local; i++)
        if (g->local[i]->cdtype != g->local[0]->cdtype)
            s = xl_fail(XHAL_ERROR_INTERNAL, "llama: local ranks 0 and %d compute in different dtypes", i);
    /* collective: every rank learns whether every other loaded (the failing one keeps its own
     * message) */
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", xllama_last_error());
    int any_failed = 0;
    xhal_status sa = tp_agree(comm, info.n_local, s != XHAL_OK, &any_failed);
    if (s != XHAL_OK)
        s = xl_fail(s, "%s", msg);
    else if (sa != XHAL_OK)
        s = xl_wrap(sa, "llama: tensor parallel over %d ranks: asking every rank whether it loaded", info.size);
    else if (any_failed)
        s = xl_fail(XHAL_ERROR_UNAVAILABLE,
                    "llama: %s: tensor parallel over %d ranks: another rank failed to load (its process says why)", dir,
                    info.size);
    if (s != XHAL_OK) {
        xllama_destroy(g);
        return s;
    }
    const xllama_model *r0 = g->local[0];
    g->cfg = r0->cfg;
    g->tp_size = r0->tp_size;
    g->wdtype = r0->wdtype;
    g->cdtype = r0->cdtype;
    g->max_seq = r0->max_seq;
    g->max_batch = r0->max_batch;
    *out = g;
    return XHAL_OK;
}

static void lin_destroy(xl_lin *x)
{
    if (x->w) xhal_tensor_destroy(x->w);
    if (x->b) xhal_tensor_destroy(x->b);
}

void xllama_destroy(xllama_model *m)
{
    if (!m) return;
    if (m->local) { /* a group: its ranks hold everything */
        for (int i = 0; i < m->n_local; i++) xllama_destroy(m->local[i]);
        free(m->local);
        free(m);
        return;
    }
    if (m->stream) xhal_stream_synchronize(m->stream);
    xhal_graph_destroy(m->step_graph);
    if (m->layers) {
        for (int64_t l = 0; l < m->cfg.num_layers; l++) {
            xl_layer *y = &m->layers[l];
            xhal_tensor *ts[] = {y->attn_norm, y->ffn_norm,     y->post_attn_norm, y->post_mlp_norm, y->q_norm,
                                 y->k_norm,    y->gate_up,      y->router,         y->sh_router,     y->kcache,
                                 y->vcache,    y->o_bias_after, y->down_bias_after};
            for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
                if (ts[i]) xhal_tensor_destroy(ts[i]);
            xl_lin *ls[] = {&y->q,  &y->k,    &y->v,       &y->o,     &y->gate,
                            &y->up, &y->down, &y->sh_gate, &y->sh_up, &y->sh_down};
            for (size_t i = 0; i < sizeof ls / sizeof ls[0]; i++) lin_destroy(ls[i]);
            if (y->experts) {
                for (int64_t e = 0; e < m->cfg.num_experts; e++) {
                    lin_destroy(&y->experts[e].gate);
                    lin_destroy(&y->experts[e].up);
                    lin_destroy(&y->experts[e].down);
                }
                free(y->experts);
            }
        }
        free(m->layers);
    }
    if (m->lm_head && m->lm_head != m->embed) xhal_tensor_destroy(m->lm_head);
    if (m->embed) xhal_tensor_destroy(m->embed);
    if (m->norm) xhal_tensor_destroy(m->norm);
    if (m->inv_freq) xhal_tensor_destroy(m->inv_freq);
    free(m->h_inv_freq);
    xhal_buffer *rb[] = {m->b_cos, m->b_sin, m->b_cosc, m->b_sinc, m->b_r1, m->b_r2, m->b_r3};
    for (size_t i = 0; i < sizeof rb / sizeof rb[0]; i++)
        if (rb[i]) xhal_buffer_destroy(rb[i]);
    xhal_buffer *bs[] = {m->b_ids, m->b_x,    m->b_h,   m->b_t,      m->b_q,    m->b_k,    m->b_v,     m->b_qt,
                         m->b_ao,  m->b_g,    m->b_u,   m->b_logits, m->b_lf32, m->b_mask, m->b_maskf, m->b_rl,
                         m->b_rlf, m->b_prob, m->b_sel, m->b_inv,    m->b_rwf,  m->b_rw,   m->b_xg,    m->b_eg,
                         m->b_eu,  m->b_ey,   m->b_yt,  m->b_sg,     m->b_su,   m->b_sgt};
    for (size_t i = 0; i < sizeof bs / sizeof bs[0]; i++)
        if (bs[i]) xhal_buffer_destroy(bs[i]);
    if (m->stream) xhal_stream_destroy(m->stream);
    free(m->h_mask);
    free(m->h_prob);
    free(m->h_rw);
    free(m->h_sel);
    free(m->h_inv);
    free(m->h_cnt);
    free(m->h_fill);
    free(m->h_choice);
    free(m);
}

/* ------------------------------------------------------------------------- */
/* Forward                                                                    */
/* ------------------------------------------------------------------------- */

/* The views made during one forward chunk, destroyed at its end. */
#define XL_MAX_VIEWS 96
typedef struct xl_views {
    xhal_tensor *t[XL_MAX_VIEWS];
    int n;
} xl_views;

static void views_release(xl_views *v)
{
    for (int i = 0; i < v->n; i++) xhal_tensor_destroy(v->t[i]);
    v->n = 0;
}

/* Destroy the views made after mark (the ops that use them are queued: views keep their
 * buffers alive and the ops captured what they use). */
static void views_release_to(xl_views *v, int mark)
{
    while (v->n > mark) xhal_tensor_destroy(v->t[--v->n]);
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

static xhal_status view2(xl_views *v, xhal_buffer *buf, xhal_dtype dt, int64_t d0, int64_t d1, xhal_tensor **out,
                         const char *what)
{
    const int64_t shape[2] = {d0, d1};
    return view(v, buf, dt, 2, shape, out, what);
}

static xhal_status view3(xl_views *v, xhal_buffer *buf, xhal_dtype dt, int64_t d0, int64_t d1, int64_t d2,
                         xhal_tensor **out, const char *what)
{
    const int64_t shape[3] = {d0, d1, d2};
    return view(v, buf, dt, 3, shape, out, what);
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

/* The tensors of one forward chunk of n tokens at position p (views of the work buffers). */
typedef struct xl_fw {
    xl_views vw;
    int64_t n, p, S;
    xhal_tensor *ids, *X, *Hn, *T;
    xhal_tensor *Q2, *Q3, *Q3p, *K2, *K3, *K3p, *V2, *V3, *V3p;
    xhal_tensor *QN3, *KN3; /* q / k heads after q_norm / k_norm, before RoPE */
    xhal_tensor *QT3, *QT4, *AO4, *AO3, *AO3p, *G, *U;
    xhal_tensor *mask; /* [n, S] sliding-window mask, or NULL */
} xl_fw;

/* out = x W^T (+ b), or out += x W^T (+ b) with accumulate. */
static xhal_status linear(xhal_stream *st, xhal_tensor *x, const xl_lin *w, int accumulate, xhal_tensor *out)
{
    xhal_status s = xhal_matmul(st, x, w->w, 0, 1, 1.0, accumulate ? 1.0 : 0.0, out);
    if (s == XHAL_OK && w->b) s = xhal_add(st, out, w->b, out);
    return s;
}

/* Scaled RoPE from elementwise ops, for a device whose rope takes no inv_freq (an op
 * catalogue before 86): cos / sin of pos x inv_freq[k] made on the host (angles in double),
 * then (a, b) -> (a cos - b sin, b cos + a sin) on the pairs, viewed as strided slices. x and
 * out are [n, H, D] and may be the same tensor. */
static xhal_status rope_composed(xllama_model *m, xhal_tensor *x, int64_t p, xhal_tensor *out)
{
    const xllama_config *c = &m->cfg;
    xhal_stream *st = m->stream;
    const int64_t R = c->rotary_dims, half = R / 2, D = c->head_dim;
    int nd = 0;
    int64_t sh[8], strd[8];
    xhal_status s = xhal_tensor_shape(x, &nd, sh, strd);
    if (s != XHAL_OK) return s;
    const int64_t n = sh[0], H = sh[1];
    const xhal_dtype C = m->cdtype;
    xl_views vw = {{0}, 0};
    float *tab = malloc((size_t)(2 * n * half) * sizeof *tab);
    if (!tab) return xl_fail(XHAL_ERROR_OUT_OF_MEMORY, "llama: out of host memory");
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < half; k++) {
            const double ang = (double)(p + i) * (double)m->h_inv_freq[k];
            tab[i * half + k] = (float)cos(ang);
            tab[n * half + i * half + k] = (float)sin(ang);
        }
    /* HALF: pairs (k, k + R/2) as [n, H, half] slices; INTERLEAVED: (2k, 2k+1) as [n, H, half, 1]
     * slices of the [n, H, D/2, 2] view */
    const int il = m->rope == XHAL_ROPE_INTERLEAVED;
    const int nd4 = il ? 4 : 3;
    const int64_t tshape[4] = {n, 1, half, 1}, sshape[4] = {n, H, half, 1};
    xhal_tensor *cf, *sf, *cc, *sc, *xa, *xb, *oa, *ob, *r1, *r2, *r3, *x4 = x, *o4 = out;
    VIEW(view(&vw, m->b_cos, XHAL_DTYPE_F32, nd4, tshape, &cf, "rope cos"));
    VIEW(view(&vw, m->b_sin, XHAL_DTYPE_F32, nd4, tshape, &sf, "rope sin"));
    VIEW(view(&vw, m->b_cosc, C, nd4, tshape, &cc, "rope cos"));
    VIEW(view(&vw, m->b_sinc, C, nd4, tshape, &sc, "rope sin"));
    VIEW(view(&vw, m->b_r1, C, nd4, sshape, &r1, "rope scratch"));
    VIEW(view(&vw, m->b_r2, C, nd4, sshape, &r2, "rope scratch"));
    VIEW(view(&vw, m->b_r3, C, nd4, sshape, &r3, "rope scratch"));
    if (il) {
        const int64_t s4[4] = {n, H, D / 2, 2};
        xhal_tensor *t = NULL;
        VIEW(keep(&vw, xhal_tensor_reshape(x, 4, s4, &t), t, &x4, "rope pairs"));
        VIEW(keep(&vw, xhal_tensor_reshape(out, 4, s4, &t), t, &o4, "rope pairs"));
        xhal_tensor *xr, *orr;
        VIEW(slice(&vw, x4, 2, 0, half, &xr, "rotary part"));
        VIEW(slice(&vw, o4, 2, 0, half, &orr, "rotary part"));
        VIEW(slice(&vw, xr, 3, 0, 1, &xa, "even entries"));
        VIEW(slice(&vw, xr, 3, 1, 2, &xb, "odd entries"));
        VIEW(slice(&vw, orr, 3, 0, 1, &oa, "even entries"));
        VIEW(slice(&vw, orr, 3, 1, 2, &ob, "odd entries"));
    } else {
        VIEW(slice(&vw, x, 2, 0, half, &xa, "first half"));
        VIEW(slice(&vw, x, 2, half, R, &xb, "second half"));
        VIEW(slice(&vw, out, 2, 0, half, &oa, "first half"));
        VIEW(slice(&vw, out, 2, half, R, &ob, "second half"));
    }
    OP(xhal_tensor_write(st, cf, tab, (uint64_t)(n * half) * sizeof *tab), "llama: rope cos table");
    OP(xhal_tensor_write(st, sf, tab + n * half, (uint64_t)(n * half) * sizeof *tab), "llama: rope sin table");
    OP(xhal_copy(st, cf, cc), "llama: rope cos table");
    OP(xhal_copy(st, sf, sc), "llama: rope sin table");
    OP(xhal_mul(st, xa, cc, r1), "llama: rope a cos");
    OP(xhal_mul(st, xb, sc, r2), "llama: rope b sin");
    OP(xhal_binary(st, XHAL_OP_SUB, r1, r2, r1), "llama: rope a cos - b sin");
    OP(xhal_mul(st, xb, cc, r2), "llama: rope b cos");
    OP(xhal_mul(st, xa, sc, r3), "llama: rope a sin");
    OP(xhal_add(st, r2, r3, r2), "llama: rope b cos + a sin");
    OP(xhal_copy(st, r1, oa), "llama: rope out");
    OP(xhal_copy(st, r2, ob), "llama: rope out");
    if (x != out && R < D) {
        xhal_tensor *xp, *op;
        VIEW(slice(&vw, x, 2, R, D, &xp, "pass-through part"));
        VIEW(slice(&vw, out, 2, R, D, &op, "pass-through part"));
        OP(xhal_copy(st, xp, op), "llama: rope pass-through part");
    }
    /* the host table is read by the writes above; they are complete when the stream is */
    OP(xhal_stream_synchronize(st), "llama: rope");
done:
    free(tab);
    views_release(&vw);
    return s;
}

/* While the one-token step is being captured (decode_graph): the op just captured follows the
 * position, parameter 0 of the graph (field and arg as xhal_stream_capture_bind). */
static xhal_status bind_pos(xllama_model *m, xhal_graph_field field, int arg, int axis)
{
    return m->capturing ? xhal_stream_capture_bind(m->stream, 0, field, arg, axis, 1) : XHAL_OK;
}

/* x [n, H, D] -> out, rotated for positions p.. (out may be x). */
static xhal_status rope(xllama_model *m, xhal_tensor *x, int64_t p, xhal_tensor *out)
{
    const xllama_config *c = &m->cfg;
    xhal_status s;
    if (!m->inv_freq) {
        s = xhal_rope(m->stream, x, 0, c->rope_theta, p, (int)c->rotary_dims, m->rope, out);
        return s == XHAL_OK ? bind_pos(m, XHAL_GRAPH_ROPE_POSITION, 0, 0) : s;
    }
    if (!m->rope_composed) {
        xhal_rope_params rp;
        xhal_rope_params_init(&rp);
        rp.seq_axis = 0;
        rp.pos_offset = p;
        rp.rotary_dims = (int32_t)c->rotary_dims;
        rp.layout = m->rope;
        s = xhal_rope_ex(m->stream, x, NULL, m->inv_freq, &rp, out);
        if (s == XHAL_OK) return bind_pos(m, XHAL_GRAPH_ROPE_POSITION, 0, 0);
        if (s != XHAL_ERROR_UNSUPPORTED) return s;
        m->rope_composed = 1; /* refused before anything was queued: compose from now on */
    }
    return rope_composed(m, x, p, out);
}

/* The sliding-window mask of a chunk: query i (position p + i) sees key j iff
 * p + i - window < j <= p + i (transformers' sliding_window_overlay on the causal mask); NULL when
 * no key falls out of the window. Additive: 0 or -inf. */
static xhal_status window_mask(xllama_model *m, xl_fw *f)
{
    const int64_t w = m->cfg.sliding_window, n = f->n, S = f->S, p = f->p;
    xhal_status s = XHAL_OK;
    f->mask = NULL;
    if (!m->window_mask || S <= w) return XHAL_OK;
    xhal_tensor *mf = NULL, *mc = NULL;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < S; j++) m->h_mask[i * S + j] = (j > p + i - w && j <= p + i) ? 0.0f : -INFINITY;
    VIEW(view2(&f->vw, m->b_maskf, XHAL_DTYPE_F32, n, S, &mf, "mask f32"));
    OP(xhal_tensor_write(m->stream, mf, m->h_mask, (uint64_t)(n * S) * sizeof(float)),
       "llama: writing the window mask");
    if (m->cdtype != XHAL_DTYPE_F32) {
        VIEW(view2(&f->vw, m->b_mask, m->cdtype, n, S, &mc, "mask"));
        OP(xhal_copy(m->stream, mf, mc), "llama: window mask to %s", xhal_dtype_name(m->cdtype));
    } else {
        mc = mf;
    }
    f->mask = mc;
done:
    return s;
}

/* Attention sub-block of layer l: X += o_proj(attention(rope(q), rope(k), v)) (Glm4: the
 * output normed first). Reads X, writes X. Under tensor parallelism, on this rank's heads, and
 * it stops at this rank's partial o_proj product in T (no bias): tp_reduce and tp_finish add the
 * rest. */
static xhal_status attention_block(xllama_model *m, xl_fw *f, int64_t l)
{
    const xllama_config *c = &m->cfg;
    const xl_layer *y = &m->layers[l];
    const int64_t NKV = m->nkv, D = c->head_dim, p = f->p, S = f->S;
    xhal_stream *st = m->stream;
    const long long li = (long long)l;
    const int mark = f->vw.n;
    xhal_status s = XHAL_OK;
    xhal_tensor *kdst = NULL, *vdst = NULL, *kall = NULL, *vall = NULL, *k4 = NULL, *v4 = NULL;
    VIEW(slice(&f->vw, y->kcache, 1, p, S, &kdst, "k cache slot"));
    VIEW(slice(&f->vw, y->vcache, 1, p, S, &vdst, "v cache slot"));
    VIEW(slice(&f->vw, y->kcache, 1, 0, S, &kall, "k cache prefix"));
    VIEW(slice(&f->vw, y->vcache, 1, 0, S, &vall, "v cache prefix"));
    VIEW(expand4(&f->vw, kall, NKV, S, D, &k4, "k [1, Hkv, S, D]"));
    VIEW(expand4(&f->vw, vall, NKV, S, D, &v4, "v [1, Hkv, S, D]"));

    OP(xhal_rms_norm(st, f->X, y->attn_norm, c->rms_norm_eps, f->Hn), "llama: layer %lld input_layernorm", li);
    OP(linear(st, f->Hn, &y->q, 0, f->Q2), "llama: layer %lld q_proj", li);
    OP(linear(st, f->Hn, &y->k, 0, f->K2), "llama: layer %lld k_proj", li);
    OP(linear(st, f->Hn, &y->v, 0, f->V2), "llama: layer %lld v_proj", li);
    if (y->q_norm) { /* Qwen3: RMSNorm over each head, then RoPE from the normed copy */
        OP(xhal_rms_norm(st, f->Q3, y->q_norm, c->rms_norm_eps, f->QN3), "llama: layer %lld q_norm", li);
        OP(xhal_rms_norm(st, f->K3, y->k_norm, c->rms_norm_eps, f->KN3), "llama: layer %lld k_norm", li);
        OP(rope(m, f->QN3, p, f->Q3), "llama: layer %lld rope q", li);
        OP(rope(m, f->KN3, p, f->K3), "llama: layer %lld rope k", li);
    } else {
        OP(rope(m, f->Q3, p, f->Q3), "llama: layer %lld rope q", li);
        OP(rope(m, f->K3, p, f->K3), "llama: layer %lld rope k", li);
    }
    OP(xhal_copy(st, f->K3p, kdst), "llama: layer %lld writing the k cache", li);
    OP(bind_pos(m, XHAL_GRAPH_VIEW_START, XHAL_GRAPH_ARG_OUT, 1), "llama: layer %lld binding the k cache row", li);
    OP(xhal_copy(st, f->V3p, vdst), "llama: layer %lld writing the v cache", li);
    OP(bind_pos(m, XHAL_GRAPH_VIEW_START, XHAL_GRAPH_ARG_OUT, 1), "llama: layer %lld binding the v cache row", li);
    OP(xhal_copy(st, f->Q3p, f->QT3), "llama: layer %lld q to [H, S, D]", li);
    if (y->sliding && !m->window_mask) {
        xhal_attention_params ap;
        xhal_attention_params_init(&ap);
        ap.causal = 1;
        ap.window = c->sliding_window;
        OP(xhal_attention_ex(st, f->QT4, k4, v4, NULL, &ap, f->AO4), "llama: layer %lld attention (window %lld)", li,
           (long long)c->sliding_window);
    } else {
        OP(xhal_attention(st, f->QT4, k4, v4, y->sliding ? f->mask : NULL, 0.0, 1, f->AO4),
           "llama: layer %lld attention", li);
    }
    OP(bind_pos(m, XHAL_GRAPH_ATTENTION_KEYS, 0, 0), "llama: layer %lld binding the keys", li);
    /* [1, H, S, D] -> [S, H, D] = [S, H*D], reusing q's buffer. */
    OP(xhal_copy(st, f->AO3p, f->Q3), "llama: layer %lld attention out to [S, H*D]", li);
    if (m->tp_size > 1) {
        OP(linear(st, f->Q2, &y->o, 0, f->T), "llama: layer %lld o_proj of this rank's heads", li);
    } else if (y->post_attn_norm) {
        OP(linear(st, f->Q2, &y->o, 0, f->Hn), "llama: layer %lld o_proj", li);
        OP(xhal_rms_norm(st, f->Hn, y->post_attn_norm, c->rms_norm_eps, f->T),
           "llama: layer %lld post_self_attn_layernorm", li);
        OP(xhal_add(st, f->X, f->T, f->X), "llama: layer %lld attention residual", li);
    } else {
        OP(linear(st, f->Q2, &y->o, 1, f->X), "llama: layer %lld o_proj + residual", li);
    }
done:
    views_release_to(&f->vw, mark);
    return s;
}

/* SwiGLU: out (+)= down(silu(gate(x)) * up(x)), with g / u [rows, I] as scratch. */
static xhal_status swiglu(xhal_stream *st, xhal_tensor *x, const xl_lin *gate, const xl_lin *up, const xl_lin *down,
                          xhal_tensor *g, xhal_tensor *u, int accumulate, xhal_tensor *out)
{
    xhal_status s;
    if ((s = linear(st, x, gate, 0, g)) != XHAL_OK || (s = linear(st, x, up, 0, u)) != XHAL_OK ||
        (s = xhal_unary(st, XHAL_OP_SILU, g, g)) != XHAL_OK || (s = xhal_mul(st, g, u, g)) != XHAL_OK)
        return s;
    return linear(st, g, down, accumulate, out);
}

/* Top-k on the host from the probabilities [n, E] (h_prob), for a device without TOPK: the k
 * largest per token, the lower index first among equals (as torch.topk and ONNX TopK), into
 * h_choice and h_rw (token-major). */
static void route_select_host(xllama_model *m, int64_t n)
{
    const int64_t E = m->cfg.num_experts, K = m->cfg.experts_per_tok;
    for (int64_t t = 0; t < n; t++) {
        const float *pr = m->h_prob + t * E;
        for (int64_t j = 0; j < K; j++) {
            int64_t best = -1;
            for (int64_t e = 0; e < E; e++) {
                int taken = 0;
                for (int64_t i = 0; i < j && !taken; i++) taken = m->h_choice[t * K + i] == e;
                if (!taken && (best < 0 || pr[e] > pr[best])) best = e;
            }
            m->h_choice[t * K + j] = (int32_t)best;
            m->h_rw[t * K + j] = pr[best];
        }
    }
}

/* From the chosen experts (h_choice) and their probabilities (h_rw): renormalize with
 * norm_topk_prob, then the rows each expert takes (sorted by expert, tokens ascending: h_sel),
 * where each (token, slot) lands in that order (h_inv) and each expert's first row (h_cnt). */
static void route_order(xllama_model *m, int64_t n)
{
    const xllama_config *c = &m->cfg;
    const int64_t E = c->num_experts, K = c->experts_per_tok;
    const int32_t *choice = m->h_choice;
    for (int64_t e = 0; e <= E; e++) m->h_cnt[e] = 0;
    for (int64_t t = 0; t < n; t++) {
        double sum = 0;
        for (int64_t j = 0; j < K; j++) {
            sum += m->h_rw[t * K + j];
            m->h_cnt[choice[t * K + j] + 1]++;
        }
        if (c->norm_topk_prob)
            for (int64_t j = 0; j < K; j++) m->h_rw[t * K + j] = (float)(m->h_rw[t * K + j] / sum);
    }
    for (int64_t e = 0; e < E; e++) m->h_cnt[e + 1] += m->h_cnt[e]; /* h_cnt[e] = first row of expert e */
    int32_t *fill = m->h_fill;
    memcpy(fill, m->h_cnt, (size_t)E * sizeof *fill);
    for (int64_t e = 0; e < E; e++)
        for (int64_t t = 0; t < n; t++)
            for (int64_t j = 0; j < K; j++)
                if (choice[t * K + j] == e) {
                    m->h_sel[fill[e]] = (int32_t)t;
                    m->h_inv[t * K + j] = fill[e]++;
                }
}

/* Mixture of experts of layer l on the normed rows Hn [n, H]: moe_route, then moe_experts,
 * which adds the result to X. Composition (conformance/MODELS.md): router matmul and softmax
 * on the device, the top k on the device (or on the host from the probabilities read back);
 * then per expert its rows are gathered, run through its SwiGLU, gathered back into token
 * order, weighted and summed. Under tensor parallelism the ranks agree on rank 0's routing
 * between the two (tp_route_agree). */
static xhal_status moe_route(xllama_model *m, xl_fw *f, int64_t l)
{
    const xllama_config *c = &m->cfg;
    const xl_layer *y = &m->layers[l];
    const int64_t n = f->n, E = c->num_experts, K = c->experts_per_tok;
    const xhal_dtype C = m->cdtype;
    xhal_stream *st = m->stream;
    const long long li = (long long)l;
    const int mark = f->vw.n;
    xhal_status s = XHAL_OK;
    xhal_tensor *R, *Rf, *P;

    VIEW(view2(&f->vw, m->b_rl, C, n, E, &R, "router logits"));
    VIEW(view2(&f->vw, m->b_rlf, XHAL_DTYPE_F32, n, E, &Rf, "router logits f32"));
    VIEW(view2(&f->vw, m->b_prob, XHAL_DTYPE_F32, n, E, &P, "router probabilities"));
    OP(xhal_matmul(st, f->Hn, y->router, 0, 1, 1.0, 0.0, R), "llama: layer %lld router", li);
    OP(xhal_copy(st, R, Rf), "llama: layer %lld router logits to f32", li);
    OP(xhal_softmax(st, Rf, 1.0, 0, P), "llama: layer %lld router softmax", li);
    const int64_t NK = n * K;
    if (!m->topk_host) { /* TOPK on the device; only the k ids and probabilities come back */
        xhal_tensor *tv, *ti;
        VIEW(view2(&f->vw, m->b_rwf, XHAL_DTYPE_F32, n, K, &tv, "top-k probabilities"));
        VIEW(view2(&f->vw, m->b_sel, XHAL_DTYPE_I32, n, K, &ti, "top-k experts"));
        xhal_status ts = xhal_topk(st, P, K, 1, 1, tv, ti);
        if (ts == XHAL_OK) {
            OP(xhal_tensor_read(st, tv, m->h_rw, (uint64_t)NK * sizeof(float)), "llama: layer %lld reading the router",
               li);
            OP(xhal_tensor_read(st, ti, m->h_choice, (uint64_t)NK * sizeof(int32_t)),
               "llama: layer %lld reading the router", li);
        } else if (ts == XHAL_ERROR_UNSUPPORTED) {
            m->topk_host = 1; /* refused before anything was queued */
        } else {
            OP(ts, "llama: layer %lld router top-k", li);
        }
    }
    if (m->topk_host)
        OP(xhal_tensor_read(st, P, m->h_prob, (uint64_t)(n * E) * sizeof(float)),
           "llama: layer %lld reading the router", li);
    OP(xhal_stream_synchronize(st), "llama: layer %lld router", li);
    if (m->topk_host) route_select_host(m, n);
done:
    views_release_to(&f->vw, mark);
    return s;
}

/* The chosen experts (h_choice, h_rw) of every token run on Hn and added to X; under tensor
 * parallelism, on this rank's expert columns, the partial sum left in T (as mlp_block). */
static xhal_status moe_experts(xllama_model *m, xl_fw *f, int64_t l)
{
    const xllama_config *c = &m->cfg;
    const xl_layer *y = &m->layers[l];
    const int64_t n = f->n, H = c->hidden_size, E = c->num_experts, K = c->experts_per_tok;
    const int64_t Im = m->moe_inter, Is = m->sh_inter, NK = n * K;
    const xhal_dtype C = m->cdtype;
    xhal_stream *st = m->stream;
    const long long li = (long long)l;
    const int mark = f->vw.n;
    xhal_status s = XHAL_OK;
    xhal_tensor *sel, *inv, *rwf, *rw, *Xg, *Eg, *Eu, *Ey, *Yt, *Yt3;
    route_order(m, n);

    VIEW(view(&f->vw, m->b_sel, XHAL_DTYPE_I32, 1, &NK, &sel, "routed rows"));
    VIEW(view(&f->vw, m->b_inv, XHAL_DTYPE_I32, 1, &NK, &inv, "routed order"));
    VIEW(view2(&f->vw, m->b_rwf, XHAL_DTYPE_F32, NK, 1, &rwf, "routing weights f32"));
    VIEW(view2(&f->vw, m->b_rw, C, NK, 1, &rw, "routing weights"));
    VIEW(view2(&f->vw, m->b_xg, C, NK, H, &Xg, "expert rows"));
    VIEW(view2(&f->vw, m->b_eg, C, NK, Im, &Eg, "expert gate"));
    VIEW(view2(&f->vw, m->b_eu, C, NK, Im, &Eu, "expert up"));
    VIEW(view2(&f->vw, m->b_ey, C, NK, H, &Ey, "expert out"));
    VIEW(view2(&f->vw, m->b_yt, C, NK, H, &Yt, "expert out by token"));
    VIEW(view3(&f->vw, m->b_yt, C, n, K, H, &Yt3, "expert out [n, k, H]"));
    OP(xhal_tensor_write(st, sel, m->h_sel, (uint64_t)NK * sizeof(int32_t)), "llama: layer %lld routed rows", li);
    OP(xhal_tensor_write(st, inv, m->h_inv, (uint64_t)NK * sizeof(int32_t)), "llama: layer %lld routed order", li);
    OP(xhal_tensor_write(st, rwf, m->h_rw, (uint64_t)NK * sizeof(float)), "llama: layer %lld routing weights", li);
    /* transformers casts the weights to the hidden dtype before weighting */
    OP(xhal_copy(st, rwf, rw), "llama: layer %lld routing weights to %s", li, xhal_dtype_name(C));
    OP(xhal_gather(st, f->Hn, sel, Xg), "llama: layer %lld gathering the routed rows", li);
    for (int64_t e = 0; e < E; e++) {
        const int64_t a = m->h_cnt[e], b = m->h_cnt[e + 1];
        if (a == b) continue;
        const int emark = f->vw.n;
        xhal_tensor *xe, *ge, *ue, *ye;
        VIEW(slice(&f->vw, Xg, 0, a, b, &xe, "expert rows"));
        VIEW(slice(&f->vw, Eg, 0, a, b, &ge, "expert gate rows"));
        VIEW(slice(&f->vw, Eu, 0, a, b, &ue, "expert up rows"));
        VIEW(slice(&f->vw, Ey, 0, a, b, &ye, "expert out rows"));
        const xl_expert *x = &y->experts[e];
        OP(swiglu(st, xe, &x->gate, &x->up, &x->down, ge, ue, 0, ye), "llama: layer %lld expert %lld", li,
           (long long)e);
        views_release_to(&f->vw, emark);
    }
    OP(xhal_gather(st, Ey, inv, Yt), "llama: layer %lld expert outputs to token order", li);
    OP(xhal_mul(st, Yt, rw, Yt), "llama: layer %lld routing weights", li);
    OP(xhal_reduce(st, XHAL_OP_SUM, Yt3, 1, 0, f->T), "llama: layer %lld sum over the chosen experts", li);
    if (m->tp_size > 1) { /* T stays this rank's partial sum: the shared expert's share joins it */
        if (y->sh_router) {
            xhal_tensor *sg, *su, *sgt, *sh;
            VIEW(view2(&f->vw, m->b_sg, C, n, Is, &sg, "shared gate"));
            VIEW(view2(&f->vw, m->b_su, C, n, Is, &su, "shared up"));
            VIEW(view2(&f->vw, m->b_sgt, C, n, 1, &sgt, "shared expert gate"));
            VIEW(view2(&f->vw, m->b_ey, C, n, H, &sh, "shared expert out")); /* expert out is free now */
            OP(xhal_matmul(st, f->Hn, y->sh_router, 0, 1, 1.0, 0.0, sgt), "llama: layer %lld shared_expert_gate", li);
            OP(xhal_unary(st, XHAL_OP_SIGMOID, sgt, sgt), "llama: layer %lld shared_expert_gate sigmoid", li);
            OP(swiglu(st, f->Hn, &y->sh_gate, &y->sh_up, &y->sh_down, sg, su, 0, sh),
               "llama: layer %lld shared expert of this rank's columns", li);
            OP(xhal_mul(st, sh, sgt, sh), "llama: layer %lld gated shared expert", li);
            OP(xhal_add(st, f->T, sh, f->T), "llama: layer %lld experts + shared expert", li);
        }
        goto done;
    }
    OP(xhal_add(st, f->X, f->T, f->X), "llama: layer %lld experts residual", li);
    if (y->sh_router) { /* Qwen2-MoE: + sigmoid(shared_expert_gate(x)) * shared_expert(x) */
        xhal_tensor *sg, *su, *sgt;
        VIEW(view2(&f->vw, m->b_sg, C, n, Is, &sg, "shared gate"));
        VIEW(view2(&f->vw, m->b_su, C, n, Is, &su, "shared up"));
        VIEW(view2(&f->vw, m->b_sgt, C, n, 1, &sgt, "shared expert gate"));
        OP(xhal_matmul(st, f->Hn, y->sh_router, 0, 1, 1.0, 0.0, sgt), "llama: layer %lld shared_expert_gate", li);
        OP(xhal_unary(st, XHAL_OP_SIGMOID, sgt, sgt), "llama: layer %lld shared_expert_gate sigmoid", li);
        OP(swiglu(st, f->Hn, &y->sh_gate, &y->sh_up, &y->sh_down, sg, su, 0, f->T), "llama: layer %lld shared expert",
           li);
        OP(xhal_mul(st, f->T, sgt, f->T), "llama: layer %lld gated shared expert", li);
        OP(xhal_add(st, f->X, f->T, f->X), "llama: layer %lld shared expert residual", li);
    }
done:
    views_release_to(&f->vw, mark);
    return s;
}

static xhal_status moe_block(xllama_model *m, xl_fw *f, int64_t l)
{
    xhal_status s = moe_route(m, f, l);
    return s == XHAL_OK ? moe_experts(m, f, l) : s;
}

/* MLP sub-block of layer l: X += mlp(norm(X)): SwiGLU, GLM's fused gate_up (the halves are
 * views), or the experts; Glm4 norms the output before the residual. Under tensor parallelism,
 * on this rank's columns, stopping at the partial down_proj product in T (as attention_block). */
static xhal_status mlp_block(xllama_model *m, xl_fw *f, int64_t l)
{
    const xllama_config *c = &m->cfg;
    const xl_layer *y = &m->layers[l];
    xhal_stream *st = m->stream;
    const long long li = (long long)l;
    xhal_status s = XHAL_OK;
    OP(xhal_rms_norm(st, f->X, y->ffn_norm, c->rms_norm_eps, f->Hn), "llama: layer %lld post_attention_layernorm", li);
    if (y->is_moe && m->tp_size > 1) return moe_route(m, f, l); /* forward_chunk runs the rest */
    if (y->is_moe) return moe_block(m, f, l);
    if (m->tp_size > 1) {
        OP(swiglu(st, f->Hn, &y->gate, &y->up, &y->down, f->G, f->U, 0, f->T),
           "llama: layer %lld mlp of this rank's columns", li);
    } else if (y->post_mlp_norm) {
        /* down_proj into T, normed into Hn (free once gate/up have read it), then the residual */
        OP(swiglu(st, f->Hn, &y->gate, &y->up, &y->down, f->G, f->U, 0, f->T), "llama: layer %lld mlp", li);
        OP(xhal_rms_norm(st, f->T, y->post_mlp_norm, c->rms_norm_eps, f->Hn), "llama: layer %lld post_mlp_layernorm",
           li);
        OP(xhal_add(st, f->X, f->Hn, f->X), "llama: layer %lld mlp residual", li);
    } else {
        OP(swiglu(st, f->Hn, &y->gate, &y->up, &y->down, f->G, f->U, 1, f->X), "llama: layer %lld mlp + residual", li);
    }
done:
    return s;
}

static xhal_status chunk_views(xllama_model *m, xl_fw *f)
{
    const xllama_config *c = &m->cfg;
    const int64_t H = c->hidden_size, I = m->inter, n = f->n;
    const int64_t NH = m->nh, NKV = m->nkv, D = c->head_dim;
    const xhal_dtype C = m->cdtype;
    xl_views *vw = &f->vw;
    xhal_status s = XHAL_OK;
    int64_t s1[1] = {n}, sqt4[4] = {1, NH, n, D};
    VIEW(view(vw, m->b_ids, XHAL_DTYPE_I32, 1, s1, &f->ids, "ids"));
    VIEW(view2(vw, m->b_x, C, n, H, &f->X, "x"));
    VIEW(view2(vw, m->b_h, C, n, H, &f->Hn, "h"));
    VIEW(view2(vw, m->b_t, C, n, H, &f->T, "t"));
    VIEW(view2(vw, m->b_q, C, n, NH * D, &f->Q2, "q"));
    VIEW(view3(vw, m->b_q, C, n, NH, D, &f->Q3, "q heads"));
    VIEW(permute3(vw, f->Q3, &f->Q3p, "q heads first"));
    VIEW(view2(vw, m->b_k, C, n, NKV * D, &f->K2, "k"));
    VIEW(view3(vw, m->b_k, C, n, NKV, D, &f->K3, "k heads"));
    VIEW(permute3(vw, f->K3, &f->K3p, "k heads first"));
    VIEW(view2(vw, m->b_v, C, n, NKV * D, &f->V2, "v"));
    VIEW(view3(vw, m->b_v, C, n, NKV, D, &f->V3, "v heads"));
    VIEW(permute3(vw, f->V3, &f->V3p, "v heads first"));
    /* q_norm / k_norm outputs: q's in the [H, S, D] buffer (free until the copy after RoPE),
     * k's in the attention output buffer (free until attention) */
    VIEW(view3(vw, m->b_qt, C, n, NH, D, &f->QN3, "q heads normed"));
    VIEW(view3(vw, m->b_ao, C, n, NKV, D, &f->KN3, "k heads normed"));
    VIEW(view3(vw, m->b_qt, C, NH, n, D, &f->QT3, "q [H, S, D]"));
    VIEW(view(vw, m->b_qt, C, 4, sqt4, &f->QT4, "q [1, H, S, D]"));
    VIEW(view(vw, m->b_ao, C, 4, sqt4, &f->AO4, "attention out"));
    VIEW(view3(vw, m->b_ao, C, NH, n, D, &f->AO3, "attention out [H, S, D]"));
    VIEW(permute3(vw, f->AO3, &f->AO3p, "attention out [S, H, D]"));
    VIEW(view2(vw, m->b_g, C, n, I, &f->G, "gate"));
    VIEW(view2(vw, m->b_u, C, n, I, &f->U, "up"));
done:
    return s;
}

/* The one-token step with logits, replayed from m->step_graph at position m->pos: the token
 * written into the ids buffer that the graph's embedding gather reads (the graph's input; the
 * gather checks it on the device as it runs, a bad one would be reported at the logits' read,
 * but xllama_forward has checked the ids already), one launch of the graph with the position
 * as parameter, the logits (f32, into logits). */
static xhal_status step_replay(xllama_model *m, const int32_t *token, float *logits)
{
    const int64_t V = m->cfg.vocab_size;
    xhal_stream *st = m->stream;
    xl_views vw = {{0}, 0};
    xhal_status s = XHAL_OK;
    xhal_tensor *ids, *Lf;
    int64_t s1[1] = {1};
    VIEW(view(&vw, m->b_ids, XHAL_DTYPE_I32, 1, s1, &ids, "ids"));
    VIEW(view2(&vw, m->cdtype != XHAL_DTYPE_F32 ? m->b_lf32 : m->b_logits, XHAL_DTYPE_F32, 1, V, &Lf, "logits f32"));
    OP(xhal_tensor_write(st, ids, token, sizeof(int32_t)), "llama: writing token ids");
    OP(xhal_graph_set_param(m->step_graph, 0, m->pos), "llama: decode graph position");
    OP(xhal_graph_launch(m->step_graph, st), "llama: decode graph at position %lld", (long long)m->pos);
    OP(xhal_tensor_read(st, Lf, logits, (uint64_t)V * sizeof(float)), "llama: reading logits");
    OP(xhal_stream_synchronize(st), "llama: forward");
    m->pos += 1;
done:
    views_release(&vw);
    return s;
}

/* Tensor parallel: T of every local rank (its partial product of a row-parallel projection) is
 * summed over all the ranks, in place (xhal_all_reduce SUM: every rank gets the same sum). */
static xhal_status tp_reduce(xllama_model *g, xllama_model *const *R, xl_fw *F, int nr, const char *what, int64_t l)
{
    xhal_stream *ss[XHAL_COMM_MAX_LOCAL];
    xhal_tensor *ts[XHAL_COMM_MAX_LOCAL];
    for (int r = 0; r < nr; r++) {
        ss[r] = R[r]->stream;
        ts[r] = F[r].T;
    }
    xhal_status s = xhal_all_reduce(g->comm, ss, ts, ts, XHAL_REDUCE_SUM);
    if (s != XHAL_OK)
        return xl_wrap(s, "llama: layer %lld all_reduce of %s over %d ranks", (long long)l, what, R[0]->tp_size);
    return XHAL_OK;
}

/* Tensor parallel, between moe_route and moe_experts: every rank takes rank 0's choice of
 * experts and their probabilities (xhal_broadcast of h_choice and h_rw through the routed-rows
 * and routing-weights buffers), so that ranks on different devices, whose router logits may
 * differ in the last bit, never run different experts for a token. */
static xhal_status tp_route_agree(xllama_model *g, xllama_model *const *R, xl_fw *F, int nr, int64_t l)
{
    xhal_stream *ss[XHAL_COMM_MAX_LOCAL];
    xhal_tensor *sel[XHAL_COMM_MAX_LOCAL], *rw[XHAL_COMM_MAX_LOCAL];
    const int64_t NK = F[0].n * g->cfg.experts_per_tok;
    int marks[XHAL_COMM_MAX_LOCAL];
    xhal_status s = XHAL_OK;
    for (int r = 0; r < nr; r++) marks[r] = F[r].vw.n;
    for (int r = 0; r < nr; r++) {
        xllama_model *m = R[r];
        xl_fw *f = &F[r];
        ss[r] = m->stream;
        VIEW(view(&f->vw, m->b_sel, XHAL_DTYPE_I32, 1, &NK, &sel[r], "chosen experts"));
        VIEW(view(&f->vw, m->b_rwf, XHAL_DTYPE_F32, 1, &NK, &rw[r], "routing weights"));
        OP(xhal_tensor_write(m->stream, sel[r], m->h_choice, (uint64_t)NK * sizeof(int32_t)),
           "llama: layer %lld chosen experts", (long long)l);
        OP(xhal_tensor_write(m->stream, rw[r], m->h_rw, (uint64_t)NK * sizeof(float)),
           "llama: layer %lld routing weights", (long long)l);
    }
    OP(xhal_broadcast(g->comm, ss, sel, 0), "llama: layer %lld broadcasting rank 0's experts", (long long)l);
    OP(xhal_broadcast(g->comm, ss, rw, 0), "llama: layer %lld broadcasting rank 0's routing weights", (long long)l);
    for (int r = 0; r < nr; r++) {
        xllama_model *m = R[r];
        OP(xhal_tensor_read(m->stream, sel[r], m->h_choice, (uint64_t)NK * sizeof(int32_t)),
           "llama: layer %lld chosen experts", (long long)l);
        OP(xhal_tensor_read(m->stream, rw[r], m->h_rw, (uint64_t)NK * sizeof(float)),
           "llama: layer %lld routing weights", (long long)l);
        OP(xhal_stream_synchronize(m->stream), "llama: layer %lld routing", (long long)l);
    }
done:
    for (int r = 0; r < nr; r++) views_release_to(&F[r].vw, marks[r]);
    return s;
}

/* Tensor parallel, after tp_reduce: T holds the whole o_proj / down_proj product; its bias is
 * added once, then Glm4's norm, then the residual: X += T. */
static xhal_status tp_finish(xllama_model *m, xl_fw *f, xhal_tensor *bias, xhal_tensor *post_norm, const char *what,
                             int64_t l)
{
    xhal_stream *st = m->stream;
    const long long li = (long long)l;
    xhal_status s = XHAL_OK;
    if (bias) OP(xhal_add(st, f->T, bias, f->T), "llama: layer %lld %s bias", li, what);
    if (post_norm) {
        OP(xhal_rms_norm(st, f->T, post_norm, m->cfg.rms_norm_eps, f->Hn), "llama: layer %lld %s norm", li, what);
        OP(xhal_add(st, f->X, f->Hn, f->X), "llama: layer %lld %s residual", li, what);
    } else {
        OP(xhal_add(st, f->X, f->T, f->X), "llama: layer %lld %s residual", li, what);
    }
done:
    return s;
}

/* One chunk of n <= max_batch tokens at position m->pos. rows: 0 (no logits), 1 (last
 * position), n (all). logits receives rows x vocab f32. With decode_graph, the one-token step
 * with logits is captured at its first run from the embedding gather to the logits (its ops
 * recorded, not run, the position bound to rope, the cache rows written and the keys attended:
 * bind_pos; the token id is read from the ids buffer, written before the capture and before
 * each launch), launched, and replayed by step_replay from then on: one launch per token.
 * Models whose step reads the host in the middle (mixture of experts: the routing; sliding
 * windows: the mask; scaled RoPE on a device without xhal_rope_ex: its tables) run op by op.
 * A tensor-parallel group (m->local) runs each step on every local rank in turn, with a
 * tp_reduce after each row-parallel projection; local rank 0 computes the logits (the lm_head
 * is replicated: every rank could). */
static xhal_status forward_chunk(xllama_model *m, const int32_t *tokens, int64_t n, int64_t rows, float *logits)
{
    /* scaled RoPE (inv_freq) is capturable once a forward showed the device takes xhal_rope_ex
     * (rope_composed writes host tables) */
    const int graph_step = !m->local && m->decode_graph && n == 1 && rows == 1 && !m->any_moe && !m->any_sliding &&
                           (!m->inv_freq || (m->pos > 0 && !m->rope_composed));
    if (graph_step && m->step_graph) return step_replay(m, tokens, logits);
    xllama_model *const *R = m->local ? m->local : &m;
    const int nr = m->local ? m->n_local : 1, tp = R[0]->tp_size > 1;
    const xllama_config *c = &m->cfg;
    const int64_t H = c->hidden_size, V = c->vocab_size;
    const xhal_dtype C = m->cdtype;
    xhal_status s = XHAL_OK;
    xl_fw f1, *F = nr == 1 ? &f1 : calloc((size_t)nr, sizeof *F);
    if (!F) return xl_fail(XHAL_ERROR_OUT_OF_MEMORY, "llama: out of host memory");
    memset(F, 0, (size_t)nr * sizeof *F);
    for (int r = 0; r < nr; r++) {
        xl_fw *f = &F[r];
        f->n = n;
        f->p = m->pos;
        f->S = m->pos + n;
        VIEW(chunk_views(R[r], f));
        VIEW(window_mask(R[r], f));
        OP(xhal_tensor_write(R[r]->stream, f->ids, tokens, (uint64_t)n * sizeof(int32_t)), "llama: writing token ids");
    }
    if (graph_step) { /* from the embedding on: the ids buffer, written before each launch, is the input */
        OP(xhal_stream_begin_capture(m->stream, 1, &F[0].p), "llama: capturing the decode step");
        m->capturing = 1;
    }
    for (int r = 0; r < nr; r++) OP(xhal_gather(R[r]->stream, R[r]->embed, F[r].ids, F[r].X), "llama: embedding");
    for (int64_t l = 0; l < c->num_layers; l++) {
        for (int r = 0; r < nr; r++)
            if ((s = attention_block(R[r], &F[r], l)) != XHAL_OK) goto done;
        if (tp) {
            if ((s = tp_reduce(m, R, F, nr, "o_proj", l)) != XHAL_OK) goto done;
            for (int r = 0; r < nr; r++) {
                const xl_layer *y = &R[r]->layers[l];
                if ((s = tp_finish(R[r], &F[r], y->o_bias_after, y->post_attn_norm, "o_proj", l)) != XHAL_OK) goto done;
            }
        }
        for (int r = 0; r < nr; r++)
            if ((s = mlp_block(R[r], &F[r], l)) != XHAL_OK) goto done;
        if (tp && R[0]->layers[l].is_moe) { /* mlp_block stopped after the router */
            if ((s = tp_route_agree(m, R, F, nr, l)) != XHAL_OK) goto done;
            for (int r = 0; r < nr; r++)
                if ((s = moe_experts(R[r], &F[r], l)) != XHAL_OK) goto done;
        }
        if (tp) {
            if ((s = tp_reduce(m, R, F, nr, "the mlp output", l)) != XHAL_OK) goto done;
            for (int r = 0; r < nr; r++) {
                const xl_layer *y = &R[r]->layers[l];
                if ((s = tp_finish(R[r], &F[r], y->down_bias_after, y->post_mlp_norm, "mlp", l)) != XHAL_OK) goto done;
            }
        }
    }
    if (rows > 0) {
        xllama_model *r0 = R[0];
        xl_fw *f = &F[0];
        xhal_stream *st = r0->stream;
        xhal_tensor *Xr, *Hr, *Lg, *Lf = NULL;
        VIEW(slice(&f->vw, f->X, 0, n - rows, n, &Xr, "last rows"));
        VIEW(view2(&f->vw, r0->b_h, C, rows, H, &Hr, "final norm out"));
        VIEW(view2(&f->vw, r0->b_logits, C, rows, V, &Lg, "logits"));
        OP(xhal_rms_norm(st, Xr, r0->norm, c->rms_norm_eps, Hr), "llama: final norm");
        OP(xhal_matmul(st, Hr, r0->lm_head, 0, 1, 1.0, 0.0, Lg), "llama: lm_head");
        if (C != XHAL_DTYPE_F32) {
            VIEW(view2(&f->vw, r0->b_lf32, XHAL_DTYPE_F32, rows, V, &Lf, "logits f32"));
            OP(xhal_copy(st, Lg, Lf), "llama: logits to f32");
        } else {
            Lf = Lg;
        }
        if (m->capturing) {
            m->capturing = 0;
            OP(xhal_stream_end_capture(st, &m->step_graph), "llama: capturing the decode step");
            OP(xhal_graph_launch(m->step_graph, st), "llama: decode graph");
        }
        OP(xhal_tensor_read(st, Lf, logits, (uint64_t)(rows * V) * sizeof(float)), "llama: reading logits");
    }
    for (int r = 0; r < nr; r++) OP(xhal_stream_synchronize(R[r]->stream), "llama: forward");
    m->pos = F[0].S;
    for (int r = 0; r < m->n_local; r++) R[r]->pos = m->pos;
done:
    if (m->capturing) { /* a capture cut short by a failure: leave capture mode, drop what it holds */
        xhal_graph *g = NULL;
        m->capturing = 0;
        if (xhal_stream_end_capture(m->stream, &g) == XHAL_OK) xhal_graph_destroy(g);
    }
    for (int r = 0; r < nr; r++) views_release(&F[r].vw);
    if (F != &f1) free(F);
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
