/* context.h - context internals other core modules may use. */
#ifndef HAL_CONTEXT_H
#define HAL_CONTEXT_H
#include "internal.h"

/* The context's topology, or NULL with *why = UNAVAILABLE and the message set to the
 * reason topology could not be loaded. ctx must be live. */
hal_topology *hal_context_topology(xhal_context *ctx, xhal_status *why);
/* 1 if ctx is a live context. */
int hal_context_live(xhal_context *ctx);
#endif
