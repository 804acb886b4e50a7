/* broken_plugin.c - test plugins, each broken in exactly one way (selected by BROKEN_*),
 * plus one that works (BROKEN_NONE) and provides a host-memory device with no ops. They
 * write their entry point by hand (not XHAL_PLUGIN_ENTRY) so they can break it; a plugin to
 * copy is examples/backend-skeleton/. */
#include "xhal/xhal_backend.h"

#include <stdlib.h>
#include <string.h>

static const xhal_host_services *host;

static xhal_status t_init(const xhal_host_services *h, void **state)
{
    if (h != host) return h->set_error(XHAL_ERROR_INTERNAL, "init got other host services than the entry point");
#ifdef BROKEN_INIT
    return host->set_error(XHAL_ERROR_UNAVAILABLE, "fake driver: FAKE_ERROR_NO_DEVICE (no device detected)");
#else
    *state = host->host_alloc(16);
    return *state ? XHAL_OK : XHAL_ERROR_OUT_OF_MEMORY;
#endif
}
static void t_shutdown(void *state) { host->host_free(state); }
static int t_count(void *state) { return 1; }
static xhal_status t_info(void *state, int dev, xhal_device_info *info)
{
    strcpy(info->name, "test device");
    strcpy(info->vendor, "xhal tests");
    strcpy(info->family, "test");
    info->dtypes = XHAL_DTYPE_BIT(XHAL_DTYPE_F32);
    return XHAL_OK;
}
static xhal_status t_alloc(void *state, int dev, uint64_t size, void **buf)
{
    *buf = malloc(size);
    return *buf ? XHAL_OK
                : host->set_error(XHAL_ERROR_OUT_OF_MEMORY, "test: malloc(%llu) failed", (unsigned long long)size);
}
static void t_free(void *state, void *buf) { free(buf); }
static xhal_status t_screate(void *state, int dev, void **s)
{
    *s = (void *)1;
    return XHAL_OK;
}
static void t_sdestroy(void *state, void *s) {}
static xhal_status t_ssync(void *state, void *s) { return XHAL_OK; }
static xhal_status t_write(void *state, void *s, void *b, uint64_t off, const void *src, uint64_t n)
{
    memcpy((char *)b + off, src, n);
    return XHAL_OK;
}
static xhal_status t_read(void *state, void *s, void *b, uint64_t off, void *dst, uint64_t n)
{
    memcpy(dst, (char *)b + off, n);
    return XHAL_OK;
}
static xhal_status t_copy(void *state, void *s, void *src, uint64_t so, void *dst, uint64_t d, uint64_t n)
{
    memmove((char *)dst + d, (char *)src + so, n);
    return XHAL_OK;
}
static xhal_status t_supported(void *state, int dev, const xhal_op_desc *d)
{
#ifdef BROKEN_OLD_CATALOGUE
    /* the core must answer for ops past this plugin's catalogue without asking it */
    if (d->op >= XHAL_OP_NEG)
        return host->set_error(XHAL_ERROR_INTERNAL, "op_supported asked for op %d, past catalogue %d", d->op,
                               (int)XHAL_OP_NEG);
#endif
#ifdef BROKEN_CATALOGUE_85
    /* built before TOPK and the rope/attention extensions: the core must not send them */
    if (d->op >= (int)XHAL_CATALOGUE_ROPE_ATTENTION_EX - 1 ||
        (d->op == XHAL_OP_ROPE && (d->attrs.rope.has_positions || d->attrs.rope.has_inv_freq ||
                                   (d->attrs.rope.attention_factor != 0 && d->attrs.rope.attention_factor != 1))) ||
        (d->op == XHAL_OP_ATTENTION && (d->attrs.attention.window || d->attrs.attention.softcap != 0 ||
                                        (d->attrs.attention.has_q_pos0 &&
                                         d->attrs.attention.q_pos0 != d->inputs[1].shape[2] - d->inputs[0].shape[2]))))
        return host->set_error(XHAL_ERROR_INTERNAL, "op_supported asked for a catalogue-86 feature of op %d", d->op);
#endif
    return host->set_error(XHAL_ERROR_UNSUPPORTED, "the test backend runs no ops");
}
#ifndef BROKEN_MISSING_ENTRY
static xhal_status t_run(void *state, void *s, const xhal_op_desc *d)
{
    return host->set_error(XHAL_ERROR_INTERNAL, "op_run without op_supported");
}
#endif

static xhal_backend_table table = {
#ifdef BROKEN_ABI
    .abi_version = XHAL_BACKEND_ABI_VERSION + 40,
#elif defined(BROKEN_V1)
    .abi_version = 1, /* what a plugin built against the version-1 header says */
#else
    .abi_version = XHAL_BACKEND_ABI_VERSION,
#endif
#ifdef BROKEN_SIZE
    .struct_size = 24,
#else
    .struct_size = sizeof(xhal_backend_table),
#endif
    .name = BACKEND_NAME,
    .version = "test-1",
#ifdef BROKEN_NO_CATALOGUE
    .catalogue_version = 0,
#elif defined(BROKEN_OLD_CATALOGUE)
    .catalogue_version = XHAL_OP_NEG, /* built when copy and fill were the whole catalogue */
#elif defined(BROKEN_CATALOGUE_85)
    .catalogue_version = XHAL_CATALOGUE_ROPE_ATTENTION_EX - 1, /* built just before TOPK (issue 12) */
#else
    .catalogue_version = XHAL_BACKEND_CATALOGUE_VERSION,
#endif
    .init = t_init,
    .shutdown = t_shutdown,
    .device_count = t_count,
    .device_info = t_info,
    .buffer_alloc = t_alloc,
    .buffer_free = t_free,
    .stream_create = t_screate,
    .stream_destroy = t_sdestroy,
    .stream_sync = t_ssync,
    .write = t_write,
    .read = t_read,
    .copy = t_copy,
    .op_supported = t_supported,
#ifndef BROKEN_MISSING_ENTRY
    .op_run = t_run,
#endif
};

#ifndef BROKEN_NO_ENTRY
XHAL_BACKEND_EXPORT const xhal_backend_table *xhal_backend_entry(uint32_t abi, const xhal_host_services *h)
{
    host = h;
#ifdef BROKEN_REFUSE
    h->set_error(XHAL_ERROR_UNAVAILABLE, "this plugin refuses hosts of ABI %u", abi);
    return abi == 0 ? &table : NULL; /* never 0: the table is refused */
#else
    return &table;
#endif
}
#else
XHAL_BACKEND_EXPORT const xhal_backend_table *xhal_backend_entry_misspelled(void) { return &table; }
#endif
