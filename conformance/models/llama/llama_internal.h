/* llama_internal.h - helpers shared by the files of xhal_llama (not installed). */
#ifndef XLLAMA_INTERNAL_H
#define XLLAMA_INTERNAL_H

#include <stddef.h>

#include "llama.h"

#if defined(__GNUC__)
#define XL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define XL_PRINTF(a, b)
#endif

/* Set the port's message and return st. */
xhal_status xl_fail(xhal_status st, const char *fmt, ...) XL_PRINTF(2, 3);
/* Set the port's message to "<what>: <xhal_last_error()>" and return st. */
xhal_status xl_wrap(xhal_status st, const char *fmt, ...) XL_PRINTF(2, 3);

/* The Llama settings of an open GGUF file (gguf_config.c); path names it in messages. */
struct xhal_gguf;
xhal_status xl_config_from_gguf(const struct xhal_gguf *g, const char *path, xllama_config *cfg);

/* The keys of xllama_config's fields as one config format spells them, for messages. */
typedef struct xl_config_keys {
    const char *hidden_size, *intermediate_size, *num_layers, *num_heads, *num_kv_heads, *head_dim, *vocab_size,
        *max_position_embeddings, *rms_norm_eps, *rope_theta;
} xl_config_keys;

/* The bounds every config path applies (config.c; config.json and GGUF both call it after
 * parsing, so one file format cannot carry what the other refuses): sizes in [1, max],
 * rms_norm_eps in (0, 0.1], rope_theta in (1, 1e10], heads that divide, an even head dim, and
 * heads x head dim within the size limit. CORRUPT_DATA naming the key and value, else XHAL_OK. */
xhal_status xl_config_check(const char *path, const xllama_config *c, const xl_config_keys *keys);

/* Sliding-window rule of a family. */
enum { XL_WIN_NONE = 0, XL_WIN_ALL, XL_WIN_QWEN };
/* Mixture-of-experts layout of a family. */
enum { XL_MOE_NONE = 0, XL_MOE_MIXTRAL, XL_MOE_QWEN2, XL_MOE_QWEN3 };

/* One architecture family (arch.c): its config.json names, the defaults of its transformers
 * config class, and the choices config.c derives from them. */
typedef struct xl_arch {
    xllama_family family;
    const char *model_type, *architecture;
    double eps_default;      /* rms_norm_eps when absent */
    int64_t max_pos_default; /* max_position_embeddings when absent */
    int attention_bias_key;  /* reads attention_bias (q, k, v biases) */
    int attention_bias_default;
    int o_bias_follows;            /* o_proj has a bias when attention_bias is true */
    int qkv_bias_always;           /* q, k, v always have a bias (Qwen2) */
    int mlp_bias_key;              /* reads mlp_bias */
    int qk_norm;                   /* q_norm / k_norm per head (Qwen3) */
    double partial_rotary_default; /* partial_rotary_factor when absent; 1: the key must be 1 */
    int rope_interleaved;          /* GLM's rotary layout: pairs (2i, 2i+1) */
    int fused_gate_up;             /* mlp.gate_up_proj */
    int sandwich_norms;            /* Glm4's post_self_attn_layernorm / post_mlp_layernorm */
    int window;                    /* XL_WIN_* */
    int64_t window_default;        /* sliding_window when absent (Mistral's config class: 4096) */
    int moe;                       /* XL_MOE_* */
    int norm_topk_default;         /* norm_topk_prob when absent (Mixtral: always 1) */
    const char *const *keys;       /* the family's own config.json keys, besides the common ones */
} xl_arch;

const xl_arch *xl_arch_by_model_type(const char *model_type);
const xl_arch *xl_arch_by_architecture(const char *architecture);
const xl_arch *xl_arch_of(xllama_family f);
/* 1 if config.json key `key` is known to family a (common or its own). */
int xl_arch_knows_key(const xl_arch *a, const char *key);
/* The model types the port knows, comma-separated, for messages. */
void xl_arch_list_names(char *buf, size_t len);

#endif
