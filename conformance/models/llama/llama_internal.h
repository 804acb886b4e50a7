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

#endif
