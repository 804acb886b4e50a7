/* handles.c - a process-wide open-addressing hash set of live handle pointers. */
#include "handles.h"
#include "internal.h"

#include <pthread.h>
#include <stdlib.h>

#define HAL_MAGIC 0x7868616cu /* "xhal" */
#define TOMB ((const void *)1)

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static const void **g_slots;
static size_t g_cap, g_used, g_tombs;

static size_t hash_ptr(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)x;
}

static int grow(void)
{
    size_t ncap = g_cap ? g_cap * 2 : 256;
    if (g_used * 4 < g_cap) ncap = g_cap; /* mostly tombstones: rehash in place size */
    const void **ns = calloc(ncap, sizeof *ns);
    if (!ns) return -1;
    for (size_t i = 0; i < g_cap; i++) {
        const void *p = g_slots[i];
        if (!p || p == TOMB) continue;
        size_t j = hash_ptr(p) & (ncap - 1);
        while (ns[j]) j = (j + 1) & (ncap - 1);
        ns[j] = p;
    }
    free(g_slots);
    g_slots = ns;
    g_cap = ncap;
    g_tombs = 0;
    return 0;
}

/* index of p, or (size_t)-1 */
static size_t find(const void *p)
{
    if (!g_cap) return (size_t)-1;
    size_t j = hash_ptr(p) & (g_cap - 1);
    for (size_t n = 0; n < g_cap; n++) {
        const void *s = g_slots[j];
        if (!s) return (size_t)-1;
        if (s == p) return j;
        j = (j + 1) & (g_cap - 1);
    }
    return (size_t)-1;
}

int hal_handle_register(hal_handle_hdr *h, hal_kind kind, struct xhal_context *ctx)
{
    h->kind = (uint32_t)kind;
    h->magic = HAL_MAGIC;
    h->ctx = ctx;
    h->next = h->prev = NULL;
    pthread_mutex_lock(&g_lock);
    if ((g_used + g_tombs + 1) * 2 > g_cap && grow() != 0) {
        pthread_mutex_unlock(&g_lock);
        return -1;
    }
    size_t j = hash_ptr(h) & (g_cap - 1);
    while (g_slots[j] && g_slots[j] != TOMB) j = (j + 1) & (g_cap - 1);
    if (g_slots[j] == TOMB) g_tombs--;
    g_slots[j] = h;
    g_used++;
    pthread_mutex_unlock(&g_lock);
    return 0;
}

int hal_handle_unregister(void *h)
{
    pthread_mutex_lock(&g_lock);
    size_t j = find(h);
    if (j == (size_t)-1) {
        pthread_mutex_unlock(&g_lock);
        return -1;
    }
    ((hal_handle_hdr *)h)->magic = 0;
    g_slots[j] = TOMB;
    g_used--;
    g_tombs++;
    if (g_used == 0) { /* last handle gone: give the table back */
        free(g_slots);
        g_slots = NULL;
        g_cap = g_tombs = 0;
    }
    pthread_mutex_unlock(&g_lock);
    return 0;
}

hal_kind hal_handle_kind(const void *p)
{
    if (!p) return 0;
    hal_kind k = 0;
    pthread_mutex_lock(&g_lock);
    if (find(p) != (size_t)-1) k = (hal_kind)((const hal_handle_hdr *)p)->kind;
    pthread_mutex_unlock(&g_lock);
    return k;
}

int hal_handle_live(const void *p, hal_kind kind) { return p && hal_handle_kind(p) == kind; }

const char *hal_kind_name(hal_kind kind)
{
    switch (kind) {
        case HAL_KIND_CONTEXT: return "context";
        case HAL_KIND_DEVICE: return "device";
        case HAL_KIND_BUFFER: return "buffer";
        case HAL_KIND_TENSOR: return "tensor";
        case HAL_KIND_STREAM: return "stream";
        case HAL_KIND_EVENT: return "event";
        case HAL_KIND_PROGRAM: return "program";
        case HAL_KIND_COMM: return "communicator";
        case HAL_KIND_GRAPH: return "graph";
    }
    return "unknown";
}
