/* hostile_plugin.c - test plugins that misbehave the way a buggy or hostile vendor stack does,
 * each variant selected at compile time (tests/reliability/CMakeLists.txt):
 *   HOSTILE_COUNT=n     device_count returns n (huge, negative, or many across plugins)
 *   HOSTILE_CTOR        a constructor records that the library was opened (XHAL_TEST_HOSTILE_CTOR)
 *   HOSTILE_CRASH_RUN   op_supported says yes for everything, op_run dereferences NULL
 *   HOSTILE_HANG_RUN    op_supported says yes for everything, op_run never returns
 *   HOSTILE_CRASH_INIT  init stores through a wild pointer (SIGSEGV while the plugin loads)
 *   HOSTILE_EXIT_INIT   init calls _exit(0) (the loading process ends "successfully")
 * Otherwise a host-memory device that runs no ops. */
#define _GNU_SOURCE
#include "xhal/plugin/xhal_plugin.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef HOSTILE_COUNT
#define HOSTILE_COUNT 1
#endif

#ifdef HOSTILE_CTOR
__attribute__((constructor)) static void hostile_ctor(void) { setenv("XHAL_TEST_HOSTILE_CTOR", BACKEND_NAME, 1); }
#endif

static xhal_status h_init(const xhal_host_services *hs, void **state)
{
    (void)hs;
#if defined(HOSTILE_CRASH_INIT)
    *(volatile int *)(uintptr_t)hs->struct_size = 1; /* a wild store: SIGSEGV while loading */
#elif defined(HOSTILE_EXIT_INIT)
    _exit(0); /* ends the loading process with status 0 */
#endif
    *state = malloc(16);
    return *state ? XHAL_OK : XHAL_ERROR_OUT_OF_MEMORY;
}
static void h_shutdown(void *state) { free(state); }
static int h_count(void *state)
{
    (void)state;
    return HOSTILE_COUNT;
}
static xhal_status h_info(void *state, int dev, xhal_device_info *info)
{
    (void)state;
    (void)dev;
    strcpy(info->name, "hostile device");
    strcpy(info->vendor, "xhal tests");
    strcpy(info->family, "hostile");
    info->dtypes = XHAL_DTYPE_BIT(XHAL_DTYPE_F32);
    return XHAL_OK;
}
static xhal_status h_alloc(void *state, int dev, uint64_t size, void **buf)
{
    (void)state;
    (void)dev;
    *buf = malloc(size ? size : 1);
    return *buf ? XHAL_OK : XHAL_ERROR_OUT_OF_MEMORY;
}
static void h_free(void *state, void *buf)
{
    (void)state;
    free(buf);
}
static xhal_status h_screate(void *state, int dev, void **s)
{
    (void)state;
    (void)dev;
    *s = (void *)1;
    return XHAL_OK;
}
static void h_sdestroy(void *state, void *s)
{
    (void)state;
    (void)s;
}
static xhal_status h_ssync(void *state, void *s)
{
    (void)state;
    (void)s;
    return XHAL_OK;
}
static xhal_status h_write(void *state, void *s, void *b, uint64_t off, const void *src, uint64_t n)
{
    (void)state;
    (void)s;
    memcpy((char *)b + off, src, n);
    return XHAL_OK;
}
static xhal_status h_read(void *state, void *s, void *b, uint64_t off, void *dst, uint64_t n)
{
    (void)state;
    (void)s;
    memcpy(dst, (char *)b + off, n);
    return XHAL_OK;
}
static xhal_status h_copy(void *state, void *s, void *src, uint64_t so, void *dst, uint64_t d, uint64_t n)
{
    (void)state;
    (void)s;
    memmove((char *)dst + d, (char *)src + so, n);
    return XHAL_OK;
}
static xhal_status h_supported(void *state, int dev, const xhal_op_desc *d)
{
    (void)state;
    (void)dev;
    (void)d;
#if defined(HOSTILE_CRASH_RUN) || defined(HOSTILE_HANG_RUN)
    return XHAL_OK;
#else
    return xhal_plugin_host()->set_error(XHAL_ERROR_UNSUPPORTED, "the hostile test backend runs no ops");
#endif
}
static xhal_status h_run(void *state, void *s, const xhal_op_desc *d)
{
    (void)state;
    (void)s;
    (void)d;
#if defined(HOSTILE_CRASH_RUN)
    volatile int *p = NULL;
    *p = 42; /* SIGSEGV, as a driver bug would */
#elif defined(HOSTILE_HANG_RUN)
    for (;;) pause();
#endif
    return xhal_plugin_host()->set_error(XHAL_ERROR_INTERNAL, "op_run without op_supported");
}

static const xhal_backend_table table = {
    .abi_version = XHAL_BACKEND_ABI_VERSION,
    .struct_size = sizeof(xhal_backend_table),
    .name = BACKEND_NAME,
    .version = "hostile-1",
    .catalogue_version = XHAL_BACKEND_CATALOGUE_VERSION,
    .init = h_init,
    .shutdown = h_shutdown,
    .device_count = h_count,
    .device_info = h_info,
    .buffer_alloc = h_alloc,
    .buffer_free = h_free,
    .stream_create = h_screate,
    .stream_destroy = h_sdestroy,
    .stream_sync = h_ssync,
    .write = h_write,
    .read = h_read,
    .copy = h_copy,
    .op_supported = h_supported,
    .op_run = h_run,
};

/* the exported entry: ABI checks and the host services, in the plugin helper */
XHAL_PLUGIN_ENTRY(table)
