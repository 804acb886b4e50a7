/* handles.h - live-handle registry (internal).
 *
 * Every public handle starts with an hal_handle_hdr. The registry is a process-wide hash
 * set of live handle addresses; a handle is checked against it before it is ever
 * dereferenced, so a destroyed (freed) handle is reported, never read. */
#ifndef HAL_HANDLES_H
#define HAL_HANDLES_H

#include <stdint.h>

typedef enum hal_kind {
    HAL_KIND_CONTEXT = 1,
    HAL_KIND_DEVICE,
    HAL_KIND_BUFFER,
    HAL_KIND_TENSOR,
    HAL_KIND_STREAM,
    HAL_KIND_EVENT,
    HAL_KIND_PROGRAM,
    HAL_KIND_COMM,
    HAL_KIND_GRAPH
} hal_kind;

typedef struct hal_handle_hdr {
    uint32_t kind;
    uint32_t magic;
    struct xhal_context *ctx;
    struct hal_handle_hdr *next, *prev; /* the context's object list */
    /* How this object destroys itself when its context is destroyed with the object still
     * alive (set by hal_ctx_attach; each kind's module owns the function). */
    void (*destroy)(struct hal_handle_hdr *h);
} hal_handle_hdr;

/* Register h (kind set) as live. Returns 0, or -1 when out of memory. */
int hal_handle_register(hal_handle_hdr *h, hal_kind kind, struct xhal_context *ctx);
/* Remove h; returns 0 if it was live. */
int hal_handle_unregister(void *h);
/* 1 if p is a live handle of this kind (checked without dereferencing a dead p). */
int hal_handle_live(const void *p, hal_kind kind);
/* Name of a kind ("tensor"). */
const char *hal_kind_name(hal_kind kind);
/* Kind of a live handle, 0 if p is not live. */
hal_kind hal_handle_kind(const void *p);

#endif
