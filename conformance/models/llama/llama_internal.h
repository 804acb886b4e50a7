/* llama_internal.h - helpers shared by the files of xhal_llama (not installed). */
#ifndef XLLAMA_INTERNAL_H
#define XLLAMA_INTERNAL_H

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

#endif
