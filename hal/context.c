/* context.c - contexts, backend and device queries. */
#include "context.h"
#include "fault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Live contexts: the process-wide topology behind the host services is released with the
 * last one (after its plugins shut down, so no plugin thread can still use it). */
static pthread_mutex_t g_ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_live_contexts;

/* ---- object lists ---- */
void hal_ctx_attach(xhal_context *ctx, hal_handle_hdr *h, void (*destroy)(hal_handle_hdr *h))
{
    h->destroy = destroy;
    pthread_mutex_lock(&ctx->lock);
    h->prev = NULL;
    h->next = ctx->objects;
    if (ctx->objects) ctx->objects->prev = h;
    ctx->objects = h;
    pthread_mutex_unlock(&ctx->lock);
}

void hal_ctx_detach(xhal_context *ctx, hal_handle_hdr *h)
{
    pthread_mutex_lock(&ctx->lock);
    if (h->prev)
        h->prev->next = h->next;
    else if (ctx->objects == h)
        ctx->objects = h->next;
    if (h->next) h->next->prev = h->prev;
    h->next = h->prev = NULL;
    pthread_mutex_unlock(&ctx->lock);
}

int hal_context_live(xhal_context *ctx) { return hal_handle_live(ctx, HAL_KIND_CONTEXT); }

static xhal_status check_ctx(xhal_context *ctx)
{
    if (!ctx) return hal_set_error(XHAL_ERROR_INVALID_HANDLE, "context is NULL");
    if (!hal_context_live(ctx))
        return hal_set_error(XHAL_ERROR_INVALID_HANDLE, "context %p is not a live context (destroyed?)", (void *)ctx);
    return XHAL_OK;
}

XHAL_API void xhal_context_options_init(xhal_context_options *opts)
{
    if (!opts) return;
    memset(opts, 0, sizeof *opts);
    opts->struct_size = sizeof *opts;
    opts->log_level = -1;
}

static xhal_status build_devices(xhal_context *ctx)
{
    int total = 0;
    for (int i = 0; i < ctx->n_backends; i++)
        if (ctx->backends[i].info.state == XHAL_BACKEND_LOADED) total += ctx->backends[i].info.device_count;
    if (total == 0) return XHAL_OK;
    ctx->devices = calloc((size_t)total, sizeof *ctx->devices);
    if (!ctx->devices) return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "out of memory for %d devices", total);
    for (int i = 0; i < ctx->n_backends; i++) {
        hal_backend *b = &ctx->backends[i];
        if (b->info.state != XHAL_BACKEND_LOADED) continue;
        for (int k = 0; k < b->info.device_count; k++) {
            xhal_device *d = calloc(1, sizeof *d);
            if (!d) return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "out of memory for a device");
            d->ctx = ctx;
            d->backend = b;
            d->index = k;
            snprintf(d->spec, sizeof d->spec, "%s:%d", b->info.name, k);
            if (hal_handle_register(&d->hdr, HAL_KIND_DEVICE, ctx) != 0) {
                free(d);
                return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "out of memory registering a device");
            }
            ctx->devices[ctx->n_devices++] = d;
            xhal_device_info info;
            memset(&info, 0, sizeof info);
            info.struct_size = sizeof info;
            if (b->table->device_info(b->state, k, &info) == XHAL_OK) { /* else asked again when needed */
                d->dtypes = info.dtypes;
                d->caps = info.caps;
                d->info_cached = 1;
            }
        }
    }
    return XHAL_OK;
}

static void destroy_devices(xhal_context *ctx)
{
    for (int i = 0; i < ctx->n_devices; i++) {
        hal_handle_unregister(ctx->devices[i]);
        free(ctx->devices[i]);
    }
    free(ctx->devices);
    ctx->devices = NULL;
    ctx->n_devices = 0;
}

XHAL_API xhal_status xhal_context_create(const xhal_context_options *opts, xhal_context **out)
{
    if (!out) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_context_create: out is NULL");
    xhal_context_options o;
    xhal_context_options_init(&o);
    if (opts) {
        if (opts->struct_size < offsetof(xhal_context_options, log_level) + sizeof(int) || opts->struct_size > 4096)
            return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                                 "xhal_context_create: opts->struct_size is %u, expected %zu (call "
                                 "xhal_context_options_init)",
                                 opts->struct_size, sizeof o);
        o.flags = opts->flags;
        o.plugin_path = opts->plugin_path;
        o.log_level = opts->log_level;
        if (o.flags & ~(uint32_t)(XHAL_CONTEXT_NO_DEFAULT_PLUGINS | XHAL_CONTEXT_IGNORE_ENV_PATH))
            return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_context_create: unknown flags 0x%x", o.flags);
        if (o.log_level < -1 || o.log_level > XHAL_LOG_DEBUG)
            return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_context_create: log_level %d is not in [-1, 4]",
                                 o.log_level);
    }
    if (o.log_level >= 0) hal_log_set_level(o.log_level);
    if (hal_fault_hit("host_alloc"))
        return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "xhal_context_create: out of memory");
    xhal_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "xhal_context_create: out of memory");
    pthread_mutex_init(&ctx->lock, NULL);
    if (hal_handle_register(&ctx->hdr, HAL_KIND_CONTEXT, ctx) != 0) {
        pthread_mutex_destroy(&ctx->lock);
        free(ctx);
        return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "xhal_context_create: out of memory");
    }
    pthread_mutex_lock(&g_ctx_lock);
    g_live_contexts++; /* before any plugin starts: its threads may use the global topology */
    ctx->counted = 1;
    pthread_mutex_unlock(&g_ctx_lock);
    /* topology first: plugins starting threads then find the shared topology ready */
    xhal_status ts = hal_topology_load(&ctx->topology);
    if (ts != XHAL_OK) {
        snprintf(ctx->topology_reason, sizeof ctx->topology_reason, "%s", xhal_last_error());
        hal_log(XHAL_LOG_INFO, "topology", "unavailable: %s", ctx->topology_reason);
        ctx->topology = NULL;
    }
    xhal_status st = hal_load_plugins(ctx, &o);
    if (st == XHAL_OK) st = build_devices(ctx);
    if (st != XHAL_OK) {
        char msg[1024];
        hal_error_copy(msg, sizeof msg);
        xhal_context_destroy(ctx);
        return hal_set_error(st, "%s", msg);
    }
    hal_clear_error();
    *out = ctx;
    return XHAL_OK;
}

XHAL_API xhal_status xhal_context_destroy(xhal_context *ctx)
{
    if (!ctx) return XHAL_OK;
    xhal_status st = check_ctx(ctx);
    if (st != XHAL_OK) return st;
    /* Objects in dependency order: graphs (they hold buffer references), communicators,
     * programs, events, tensors, then buffers, then streams. */
    static const hal_kind order[] = {HAL_KIND_GRAPH,  HAL_KIND_COMM,   HAL_KIND_PROGRAM, HAL_KIND_EVENT,
                                     HAL_KIND_TENSOR, HAL_KIND_BUFFER, HAL_KIND_STREAM};
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
        for (;;) {
            hal_handle_hdr *h;
            pthread_mutex_lock(&ctx->lock);
            for (h = ctx->objects; h && h->kind != (uint32_t)order[k]; h = h->next) {}
            pthread_mutex_unlock(&ctx->lock);
            if (!h) break;
            h->destroy(h); /* unlinks h from ctx->objects */
        }
    }
    destroy_devices(ctx);
    if (ctx->topology) hal_topology_destroy(ctx->topology);
    hal_unload_plugins(ctx);
    int counted = ctx->counted;
    hal_handle_unregister(ctx);
    pthread_mutex_destroy(&ctx->lock);
    free(ctx);
    if (counted) {
        pthread_mutex_lock(&g_ctx_lock);
        int last = --g_live_contexts == 0;
        if (last) hal_topo_release_global();
        pthread_mutex_unlock(&g_ctx_lock);
    }
    return XHAL_OK;
}

hal_topology *hal_context_topology(xhal_context *ctx, xhal_status *why)
{
    if (ctx->topology) {
        if (why) *why = XHAL_OK;
        return ctx->topology;
    }
    if (why) *why = hal_set_error(XHAL_ERROR_UNAVAILABLE, "topology unavailable: %s", ctx->topology_reason);
    return NULL;
}

/* ---- backends and devices ---- */
XHAL_API xhal_status xhal_backend_count(xhal_context *ctx, int *count)
{
    xhal_status st = check_ctx(ctx);
    if (st != XHAL_OK) return st;
    if (!count) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_backend_count: count is NULL");
    *count = ctx->n_backends;
    return XHAL_OK;
}

XHAL_API xhal_status xhal_backend_get_info(xhal_context *ctx, int index, xhal_backend_info *info)
{
    xhal_status st = check_ctx(ctx);
    if (st != XHAL_OK) return st;
    if (!info) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_backend_get_info: info is NULL");
    if (index < 0 || index >= ctx->n_backends)
        return hal_set_error(XHAL_ERROR_OUT_OF_RANGE, "xhal_backend_get_info: index %d is not in [0, %d)", index,
                             ctx->n_backends);
    *info = ctx->backends[index].info;
    return XHAL_OK;
}

XHAL_API xhal_status xhal_device_count(xhal_context *ctx, int *count)
{
    xhal_status st = check_ctx(ctx);
    if (st != XHAL_OK) return st;
    if (!count) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_device_count: count is NULL");
    *count = ctx->n_devices;
    return XHAL_OK;
}

XHAL_API xhal_status xhal_device_get(xhal_context *ctx, int index, xhal_device **out)
{
    xhal_status st = check_ctx(ctx);
    if (st != XHAL_OK) return st;
    if (!out) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_device_get: out is NULL");
    if (index < 0 || index >= ctx->n_devices)
        return hal_set_error(XHAL_ERROR_OUT_OF_RANGE, "xhal_device_get: index %d is not in [0, %d)", index,
                             ctx->n_devices);
    *out = ctx->devices[index];
    return XHAL_OK;
}

static void list_devices(xhal_context *ctx, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < ctx->n_devices && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", ctx->devices[i]->spec);
    if (ctx->n_devices == 0) snprintf(buf, len, "none");
}

XHAL_API xhal_status xhal_device_find(xhal_context *ctx, const char *spec, xhal_device **out)
{
    xhal_status st = check_ctx(ctx);
    if (st != XHAL_OK) return st;
    if (!out) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_device_find: out is NULL");
    if (!spec) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_device_find: spec is NULL");
    char name[32];
    long index = 0;
    const char *colon = strchr(spec, ':');
    size_t nlen = colon ? (size_t)(colon - spec) : strlen(spec);
    if (nlen == 0 || nlen >= sizeof name)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                             "device spec '%s' is malformed: expected 'backend' or 'backend:index'", spec);
    memcpy(name, spec, nlen);
    name[nlen] = '\0';
    if (colon) {
        char *end = NULL;
        if (!colon[1] || colon[1] == '-' || colon[1] == '+')
            return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                                 "device spec '%s' is malformed: the index after ':' must be a number >= 0", spec);
        index = strtol(colon + 1, &end, 10);
        if (*end || index < 0 || index > 1000000)
            return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                                 "device spec '%s' is malformed: the index after ':' must be a number >= 0", spec);
    }
    char present[512];
    for (int i = 0; i < ctx->n_backends; i++) {
        hal_backend *b = &ctx->backends[i];
        if (strcmp(b->info.name, name) != 0) continue;
        if (b->info.state != XHAL_BACKEND_LOADED) {
            /* a later plugin of the same name may be loaded: keep looking */
            int loaded_later = 0;
            for (int k = i + 1; k < ctx->n_backends; k++)
                if (!strcmp(ctx->backends[k].info.name, name) && ctx->backends[k].info.state == XHAL_BACKEND_LOADED)
                    loaded_later = 1;
            if (loaded_later) continue;
            return hal_set_error(XHAL_ERROR_UNAVAILABLE, "device '%s': backend '%s' is unavailable: %s", spec, name,
                                 b->info.reason);
        }
        for (int k = 0; k < ctx->n_devices; k++)
            if (ctx->devices[k]->backend == b && ctx->devices[k]->index == index) {
                *out = ctx->devices[k];
                return XHAL_OK;
            }
        list_devices(ctx, present, sizeof present);
        return hal_set_error(XHAL_ERROR_NOT_FOUND, "device '%s': backend '%s' has %d device(s); devices present: %s",
                             spec, name, b->info.device_count, present);
    }
    list_devices(ctx, present, sizeof present);
    return hal_set_error(XHAL_ERROR_NOT_FOUND, "device '%s': no backend named '%s' is loaded; devices present: %s",
                         spec, name, present);
}

xhal_status hal_check_device(xhal_device *d, const char *what)
{
    if (!d) return hal_set_error(XHAL_ERROR_INVALID_HANDLE, "%s: device is NULL", what);
    if (!hal_handle_live(d, HAL_KIND_DEVICE))
        return hal_set_error(XHAL_ERROR_INVALID_HANDLE, "%s: %p is not a live device", what, (void *)d);
    return XHAL_OK;
}

XHAL_API xhal_status xhal_device_get_info(xhal_device *dev, xhal_device_info *info)
{
    xhal_status st = hal_check_device(dev, "xhal_device_get_info");
    if (st != XHAL_OK) return st;
    if (!info) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_device_get_info: info is NULL");
    xhal_device_info tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.struct_size = sizeof tmp; /* the plugin writes only fields that fit */
    st = dev->backend->table->device_info(dev->backend->state, dev->index, &tmp);
    if (st != XHAL_OK) return hal_error_prefix(st, "device %s", dev->spec);
    tmp.struct_size = sizeof tmp;
    snprintf(tmp.spec, sizeof tmp.spec, "%s", dev->spec);
    snprintf(tmp.backend, sizeof tmp.backend, "%s", dev->backend->info.name);
    tmp.index = dev->index;
    *info = tmp;
    return XHAL_OK;
}
