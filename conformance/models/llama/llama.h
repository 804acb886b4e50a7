/*
 * llama.h - a decoder for the Llama-style families (Llama 2/3.x, Mistral, Qwen2/2.5, Qwen3,
 * GLM-4, and the Mixtral / Qwen2-MoE / Qwen3-MoE mixtures of experts: xllama_family) written
 * once against the xhal API, so that it runs on any xhal device. Library xhal_llama.
 *
 * A model is read from a Hugging Face folder: config.json and model.safetensors (or a
 * sharded model.safetensors.index.json), or from a llama.cpp GGUF file (a path ending in
 * ".gguf": settings from its "llama.*" keys, llama.cpp's tensor names, q/k rows as
 * llama.cpp permutes them, run with interleaved RoPE). Weights may be f32, f16 or bf16;
 * GGUF projections may also be q8_0, q4_0, q4_K or q6_K (kept quantized: xhal_matmul takes
 * them on devices that store them, cpu:0) and a quantized token embedding is dequantized at
 * load. The arithmetic runs in the weights' dtype (f32 for quantized weights) or in
 * xllama_options.compute_dtype.
 *
 * Forward: embedding (gather) -> per layer [RMSNorm -> Q/K/V projections -> rotate-half
 * RoPE -> KV cache -> causal grouped-query attention over the cached prefix -> o_proj +
 * residual -> RMSNorm -> SwiGLU MLP + residual] -> final RMSNorm -> lm_head (or the tied
 * embedding). Prompts are processed many tokens at a time (in chunks of max_batch), then
 * one token per step against the cache.
 *
 * Errors: every function returns an xhal_status; the message is in xllama_last_error()
 * (thread-local, valid until the next xllama call on the thread). A failure inside an xhal
 * call is reported with what the port was doing, then xhal's own message.
 *
 * Thread safety: a model holds one stream (per local rank) and a KV cache: use it from one thread at a time.
 * Distinct models may run in parallel.
 */
#ifndef XLLAMA_LLAMA_H
#define XLLAMA_LLAMA_H

#include <stdint.h>

#include "xhal/xhal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The architecture families the port runs (conformance/MODELS.md: one description per family
 * in arch.c maps config.json keys to the choices below; the decoder is one). */
typedef enum xllama_family {
    XLLAMA_LLAMA = 0, /* LlamaForCausalLM (Llama 2 / 3.x) */
    XLLAMA_MISTRAL,   /* MistralForCausalLM */
    XLLAMA_QWEN2,     /* Qwen2ForCausalLM (Qwen2, Qwen2.5) */
    XLLAMA_QWEN3,     /* Qwen3ForCausalLM */
    XLLAMA_GLM,       /* GlmForCausalLM (GLM-4 9B "-hf") */
    XLLAMA_GLM4,      /* Glm4ForCausalLM (GLM-4-0414) */
    XLLAMA_MIXTRAL,   /* MixtralForCausalLM */
    XLLAMA_QWEN2_MOE, /* Qwen2MoeForCausalLM (Qwen1.5-MoE, Qwen2-MoE) */
    XLLAMA_QWEN3_MOE, /* Qwen3MoeForCausalLM */
    XLLAMA_FAMILY_COUNT_
} xllama_family;

/* Rotary position embedding frequencies (rope_scaling / rope_parameters.rope_type). */
typedef enum xllama_rope_type {
    XLLAMA_ROPE_DEFAULT = 0, /* inv_freq[k] = theta^(-2k/rotary_dims) */
    XLLAMA_ROPE_LINEAR,      /* inv_freq / factor */
    XLLAMA_ROPE_DYNAMIC,     /* dynamic NTK: theta grows with the sequence past original_max */
    XLLAMA_ROPE_LLAMA3       /* Llama 3.1: low frequencies / factor, smooth band between */
} xllama_rope_type;

/* How a mixture-of-experts layer routes (0: a dense MLP). */
typedef enum xllama_moe_kind {
    XLLAMA_MOE_NONE = 0,
    XLLAMA_MOE_SOFTMAX_TOPK /* softmax over all experts, top-k, renormalized if norm_topk_prob */
} xllama_moe_kind;

/* Layer limit of config.json (num_hidden_layers), also the size of the per-layer flags. */
#define XLLAMA_MAX_LAYERS 4096

/* The settings of config.json that the port uses (after defaults and checks). */
typedef struct xllama_config {
    int64_t hidden_size;
    int64_t intermediate_size;
    int64_t num_layers;   /* num_hidden_layers */
    int64_t num_heads;    /* num_attention_heads */
    int64_t num_kv_heads; /* num_key_value_heads (default: num_heads) */
    int64_t head_dim;     /* head_dim (default: hidden_size / num_heads) */
    int64_t vocab_size;
    int64_t max_position_embeddings;
    double rms_norm_eps;     /* default 1e-6, as transformers' LlamaConfig */
    double rope_theta;       /* default 10000 */
    int tie_word_embeddings; /* default 0 */
    /* Since issue 12: what differs between the families (all zero / default for Llama 2). */
    xllama_family family;
    int64_t rotary_dims;  /* head_dim * partial_rotary_factor (GLM: half the head) */
    int rope_interleaved; /* pairs (2i, 2i+1) (GLM; GGUF's permuted q/k) instead of rotate-half */
    xllama_rope_type rope_type;
    double rope_factor;                             /* linear / dynamic / llama3 factor */
    double rope_low_freq_factor;                    /* llama3 */
    double rope_high_freq_factor;                   /* llama3 */
    int64_t rope_original_max_position;             /* llama3 / dynamic original_max_position_embeddings */
    int qkv_bias;                                   /* q_proj, k_proj, v_proj have a bias */
    int o_bias;                                     /* o_proj has a bias */
    int mlp_bias;                                   /* gate/up/down projections have a bias (Llama mlp_bias) */
    int qk_norm;                                    /* Qwen3: RMSNorm of each q and k head before RoPE */
    int fused_gate_up;                              /* GLM: mlp.gate_up_proj [2 x intermediate, hidden] */
    int sandwich_norms;                             /* Glm4: RMSNorm of the attention and MLP outputs */
    int64_t sliding_window;                         /* tokens a query sees on a sliding layer; 0: none */
    unsigned char layer_sliding[XLLAMA_MAX_LAYERS]; /* 1: this layer uses sliding_window */
    xllama_moe_kind moe;
    int64_t num_experts;
    int64_t experts_per_tok;
    int64_t moe_intermediate_size;              /* each expert's intermediate size */
    int64_t shared_expert_intermediate_size;    /* Qwen2-MoE's shared expert (0: none) */
    int norm_topk_prob;                         /* renormalize the k chosen probabilities to sum 1 */
    unsigned char layer_moe[XLLAMA_MAX_LAYERS]; /* 1: this layer's MLP is the experts */
} xllama_config;

/* The family's config.json names ("LlamaForCausalLM", "llama"); NULL for a bad value. */
const char *xllama_family_architecture(xllama_family f);
const char *xllama_family_model_type(xllama_family f);

/* Read and check DIR/config.json. The model_type / architectures select the family; its
 * description (arch.c) says which keys it honours. Refused with the key named: a missing or
 * non-positive size, heads that do not divide, an odd head_dim, an unknown model type, a key
 * the family does not know (it might change the math), and values the port does not implement
 * (e.g. hidden_act other than silu, an unknown rope_type). Errors: NOT_FOUND, IO, CORRUPT_DATA
 * (not JSON, wrong types, inconsistent values), UNSUPPORTED. */
xhal_status xllama_config_load(const char *dir, xllama_config *cfg);

typedef struct xllama_options {
    uint32_t struct_size;     /* sizeof(xllama_options) */
    xhal_dtype compute_dtype; /* XHAL_DTYPE_INVALID: the weights' dtype; or F32, F16, BF16 */
    int64_t max_seq;          /* KV cache length in tokens; 0: max_position_embeddings, at most 4096;
                               * above max_position_embeddings: INVALID_ARGUMENT */
    int64_t max_batch;        /* tokens per forward chunk; 0: min(max_seq, 512) */
    int32_t decode_graph;     /* 1: the one-token step (with logits), embedding lookup included, is
                               * captured once as an xhal_graph and replayed, one launch per token,
                               * with the position as its parameter and the token id written to the
                               * graph's index buffer before it (no per-op validation and dispatch);
                               * 0 (default): op by op. Same logits.
                               * Models with experts or sliding windows run op by op anyway (their
                               * step reads the host midway: the routing, the mask). */
} xllama_options;

void xllama_options_init(xllama_options *opts);

typedef struct xllama_model xllama_model;

/* Load DIR (config.json + safetensors) onto dev: checks the config, checks every tensor's
 * presence, dtype and shape against it (a mismatch names the tensor, its shape and the shape
 * the config implies) before uploading anything, then uploads the weights converted to the
 * compute dtype and allocates the KV cache and work buffers. opts may be NULL. */
xhal_status xllama_load(xhal_device *dev, const char *dir, const xllama_options *opts, xllama_model **out);
/* Tensor parallelism (Megatron-style) over the ranks of comm (conformance/MODELS.md, "Tensor
 * parallelism"): every rank loads only its share of DIR's weights onto its device: the
 * column-parallel q/k/v/gate/up (and their biases) by rows: num_attention_heads / N query heads,
 * num_key_value_heads / N kv heads and intermediate_size / N MLP columns (GLM's fused
 * gate_up_proj split into its gate and up halves first; each expert of a mixture by its
 * moe_intermediate_size columns, the router replicated and rank 0's routing broadcast to every
 * rank); the row-parallel o_proj / down_proj by
 * columns, their outputs summed with xhal_all_reduce (SUM) and their biases added once, after
 * the sum. Embedding, norms, q_norm/k_norm and lm_head are replicated. N = the communicator's
 * size, over every process. The returned model drives the comm's local ranks of this process
 * (xhal_comm_device gives their devices; an in-process comm may mix backends: cpu:0 + opencl:0)
 * and is used like a one-device model: xllama_forward / xllama_generate run the ranks in
 * lockstep and give the logits of local rank 0. Across processes (xhal_comm_create_mpi) every
 * process makes the same calls with the same tokens (they are collective; so is this load: a
 * rank that fails to load makes it fail on every rank, UNAVAILABLE "another rank failed to
 * load" where the rank itself did not). comm must outlive the model. The logits differ from the one-device run by the summation order only (the bound
 * and the measured error are in MODELS.md). decode_graph is refused (UNSUPPORTED: a collective
 * is not captured). A size that does not divide by N is refused naming its key and N
 * (INVALID_ARGUMENT), as is a GGUF quantized weight whose column share splits a block
 * (UNSUPPORTED). Errors: those of xllama_load, with the rank named. */
xhal_status xllama_load_tp(xhal_comm *comm, const char *dir, const xllama_options *opts, xllama_model **out);
/* Ranks the model is split over (1 for xllama_load). */
int xllama_tp_size(const xllama_model *m);

/* Free the model and everything it allocated on the device. NULL is a no-op. */
void xllama_destroy(xllama_model *m);

const xllama_config *xllama_get_config(const xllama_model *m);
xhal_dtype xllama_weight_dtype(const xllama_model *m); /* of the embedding in the file */
xhal_dtype xllama_compute_dtype(const xllama_model *m);
int64_t xllama_max_seq(const xllama_model *m);
/* Tokens in the KV cache. */
int64_t xllama_position(const xllama_model *m);
/* Forget the cache: the next forward starts at position 0. */
void xllama_reset(xllama_model *m);

/* Run n >= 1 tokens at the current position and append them to the cache. logits (host,
 * f32) may be NULL; otherwise it receives [n, vocab] (all_positions != 0) or [vocab] (the
 * last position only). Tokens must lie in [0, vocab); the cache must have room
 * (OUT_OF_RANGE otherwise, with the cache unchanged). Logits that hold a NaN or an infinity
 * are an error (CORRUPT_DATA naming the position and index; the cache is left as before). */
xhal_status xllama_forward(xllama_model *m, const int32_t *tokens, int64_t n, int all_positions, float *logits);

typedef struct xllama_timing {
    double prefill_s;  /* wall time of the prompt's forward (synchronized) */
    double decode_s;   /* wall time of the decode steps */
    int64_t n_prefill; /* tokens */
    int64_t n_decode;  /* single-token forward steps (n_generate - 1) */
} xllama_timing;

/* Greedy decoding from an empty cache: resets, runs the prompt, then picks the argmax (the
 * first index of the maximum) n_generate times, feeding each pick back except the last.
 * out_tokens receives n_generate ids. prompt_logits (may be NULL) receives [n_prompt, vocab],
 * gen_logits (may be NULL) the [n_generate, vocab] logits each pick was made from (row 0 is
 * the last prompt row). timing may be NULL. */
xhal_status xllama_generate(xllama_model *m, const int32_t *prompt, int64_t n_prompt, int64_t n_generate,
                            int32_t *out_tokens, float *prompt_logits, float *gen_logits, xllama_timing *timing);

/* The calling thread's message for the last failing xllama call ("" if none). */
const char *xllama_last_error(void);

#ifdef __cplusplus
}
#endif
#endif
