/* arch.c - one description per architecture family: which config.json keys the family has,
 * their defaults (transformers' config classes), and the choices they select in the one
 * decoder (model.c). A key that no description lists is refused by name: the port cannot know
 * whether it changes the math. */
#include "llama_internal.h"

#include <string.h>

/* Keys every family accepts that do not change the forward pass: provenance, token ids,
 * training-only settings, generation defaults that older transformers wrote into config.json,
 * and output switches. The sizes and RoPE keys are read by config.c for every family. */
static const char *const common_keys[] = {
    /* read by config.c */
    "architectures", "model_type", "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
    "num_attention_heads", "num_key_value_heads", "head_dim", "max_position_embeddings", "rms_norm_eps", "rope_theta",
    "rope_scaling", "rope_parameters", "tie_word_embeddings", "hidden_act",
    /* no effect on inference */
    "_name_or_path", "_commit_hash", "_attn_implementation_autoset", "transformers_version", "torch_dtype", "dtype",
    "use_cache", "initializer_range", "attention_dropout", "bos_token_id", "eos_token_id", "pad_token_id",
    "sep_token_id", "decoder_start_token_id", "id2label", "label2id", "return_dict", "output_attentions",
    "output_hidden_states", "torchscript", "use_bfloat16", "tf_legacy_loss", "chunk_size_feed_forward",
    "is_encoder_decoder", "is_decoder", "add_cross_attention", "cross_attention_hidden_size", "tie_encoder_decoder",
    "pruned_heads", "problem_type", "finetuning_task", "prefix", "task_specific_params", "tokenizer_class",
    "pretraining_tp", /* Llama: splits the projections into slices; the same products */
    /* generation defaults of transformers 4 configs (the port decodes greedily) */
    "max_length", "min_length", "do_sample", "early_stopping", "num_beams", "num_beam_groups", "diversity_penalty",
    "temperature", "top_k", "top_p", "typical_p", "repetition_penalty", "length_penalty", "no_repeat_ngram_size",
    "encoder_no_repeat_ngram_size", "bad_words_ids", "num_return_sequences", "output_scores", "return_dict_in_generate",
    "forced_bos_token_id", "forced_eos_token_id", "remove_invalid_values", "exponential_decay_length_penalty",
    "suppress_tokens", "begin_suppress_tokens", NULL};

/* Training-only MoE settings (auxiliary loss, router logits output, router jitter, which
 * transformers applies in training mode only). */
#define XL_MOE_TRAINING_KEYS "router_aux_loss_coef", "output_router_logits", "router_jitter_noise"
#define XL_QWEN_WINDOW_KEYS "use_sliding_window", "sliding_window", "max_window_layers", "layer_types", "use_mrope"

static const char *const llama_keys[] = {"attention_bias", "mlp_bias", NULL};
static const char *const mistral_keys[] = {"sliding_window", NULL};
static const char *const qwen2_keys[] = {XL_QWEN_WINDOW_KEYS, NULL};
static const char *const qwen3_keys[] = {"attention_bias", XL_QWEN_WINDOW_KEYS, NULL};
static const char *const glm_keys[] = {"attention_bias", "partial_rotary_factor", NULL};
static const char *const mixtral_keys[] = {"sliding_window", "num_local_experts", "num_experts_per_tok",
                                           XL_MOE_TRAINING_KEYS, NULL};
static const char *const qwen2_moe_keys[] = {"num_experts",
                                             "num_experts_per_tok",
                                             "moe_intermediate_size",
                                             "shared_expert_intermediate_size",
                                             "norm_topk_prob",
                                             "decoder_sparse_step",
                                             "mlp_only_layers",
                                             "qkv_bias",
                                             XL_QWEN_WINDOW_KEYS,
                                             XL_MOE_TRAINING_KEYS,
                                             NULL};
static const char *const qwen3_moe_keys[] = {"num_experts",
                                             "num_local_experts",
                                             "num_experts_per_tok",
                                             "moe_intermediate_size",
                                             "norm_topk_prob",
                                             "decoder_sparse_step",
                                             "mlp_only_layers",
                                             "attention_bias",
                                             XL_QWEN_WINDOW_KEYS,
                                             XL_MOE_TRAINING_KEYS,
                                             NULL};

/* clang-format off */
static const xl_arch arches[] = {
    /* family          model_type   architecture           eps    maxpos  bias: key dflt o   always mlp  qknorm rot   ilv fused sandw window           wdflt moe               norm */
    {XLLAMA_LLAMA,     "llama",     "LlamaForCausalLM",    1e-6,  2048,   1, 0, 1, 0, 1,  0,    1.0,  0,  0,  0,  XL_WIN_NONE,     0,    XL_MOE_NONE,      0, llama_keys},
    {XLLAMA_MISTRAL,   "mistral",   "MistralForCausalLM",  1e-6,  131072, 0, 0, 0, 0, 0,  0,    1.0,  0,  0,  0,  XL_WIN_ALL,      4096, XL_MOE_NONE,      0, mistral_keys},
    {XLLAMA_QWEN2,     "qwen2",     "Qwen2ForCausalLM",    1e-6,  32768,  0, 0, 0, 1, 0,  0,    1.0,  0,  0,  0,  XL_WIN_QWEN,     4096, XL_MOE_NONE,      0, qwen2_keys},
    {XLLAMA_QWEN3,     "qwen3",     "Qwen3ForCausalLM",    1e-6,  32768,  1, 0, 1, 0, 0,  1,    1.0,  0,  0,  0,  XL_WIN_QWEN,     4096, XL_MOE_NONE,      0, qwen3_keys},
    {XLLAMA_GLM,       "glm",       "GlmForCausalLM",      1.5625e-07, 131072, 1, 1, 0, 0, 0, 0, 0.5, 1, 1, 0, XL_WIN_NONE,     0,    XL_MOE_NONE,      0, glm_keys},
    {XLLAMA_GLM4,      "glm4",      "Glm4ForCausalLM",     1.5625e-07, 131072, 1, 1, 0, 0, 0, 0, 0.5, 1, 1, 1, XL_WIN_NONE,     0,    XL_MOE_NONE,      0, glm_keys},
    {XLLAMA_MIXTRAL,   "mixtral",   "MixtralForCausalLM",  1e-5,  131072, 0, 0, 0, 0, 0,  0,    1.0,  0,  0,  0,  XL_WIN_ALL,      0,    XL_MOE_MIXTRAL,   1, mixtral_keys},
    {XLLAMA_QWEN2_MOE, "qwen2_moe", "Qwen2MoeForCausalLM", 1e-6,  32768,  0, 0, 0, 1, 0,  0,    1.0,  0,  0,  0,  XL_WIN_QWEN,     4096, XL_MOE_QWEN2,     0, qwen2_moe_keys},
    {XLLAMA_QWEN3_MOE, "qwen3_moe", "Qwen3MoeForCausalLM", 1e-6,  32768,  1, 0, 1, 0, 0,  1,    1.0,  0,  0,  0,  XL_WIN_QWEN,     4096, XL_MOE_QWEN3,     0, qwen3_moe_keys},
};
/* clang-format on */

const xl_arch *xl_arch_by_model_type(const char *model_type)
{
    for (size_t i = 0; i < sizeof arches / sizeof arches[0]; i++)
        if (strcmp(arches[i].model_type, model_type) == 0) return &arches[i];
    return NULL;
}

const xl_arch *xl_arch_by_architecture(const char *architecture)
{
    for (size_t i = 0; i < sizeof arches / sizeof arches[0]; i++)
        if (strcmp(arches[i].architecture, architecture) == 0) return &arches[i];
    return NULL;
}

const xl_arch *xl_arch_of(xllama_family f)
{
    for (size_t i = 0; i < sizeof arches / sizeof arches[0]; i++)
        if (arches[i].family == f) return &arches[i];
    return NULL;
}

const char *xllama_family_architecture(xllama_family f)
{
    const xl_arch *a = xl_arch_of(f);
    return a ? a->architecture : NULL;
}

const char *xllama_family_model_type(xllama_family f)
{
    const xl_arch *a = xl_arch_of(f);
    return a ? a->model_type : NULL;
}

static int in_list(const char *const *list, const char *key)
{
    for (; list && *list; list++)
        if (strcmp(*list, key) == 0) return 1;
    return 0;
}

int xl_arch_knows_key(const xl_arch *a, const char *key) { return in_list(common_keys, key) || in_list(a->keys, key); }

void xl_arch_list_names(char *buf, size_t len)
{
    size_t k = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof arches / sizeof arches[0] && k < len; i++) {
        size_t n = strlen(arches[i].model_type);
        if (k + n + 3 >= len) break;
        if (k) {
            memcpy(buf + k, ", ", 2);
            k += 2;
        }
        memcpy(buf + k, arches[i].model_type, n + 1);
        k += n;
    }
}
