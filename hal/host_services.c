/* host_services.c - what the core gives every plugin (xhal_host_services, backend ABI 2):
 * logging, the thread-local error message, host allocation that fault injection reaches,
 * fault sites and topology. One process-wide table; plugins receive a pointer to it from the
 * entry point and from init. Plugins link nothing of libxhal: this table is all they call. */
#include "fault.h"
#include "internal.h"

#include <stdarg.h>
#include <stdlib.h>

static void hs_log(int level, const char *who, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    hal_logv(level, who, fmt, ap);
    va_end(ap);
}

static xhal_status hs_set_error(xhal_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    hal_set_errorv(st, fmt, ap);
    va_end(ap);
    return st;
}

static void *hs_alloc(size_t n) { return hal_fault_hit("host_alloc") ? NULL : malloc(n); }
static void *hs_calloc(size_t c, size_t n) { return hal_fault_hit("host_alloc") ? NULL : calloc(c, n); }
static void hs_free(void *p) { free(p); }
static int hs_inject(const char *site) { return hal_fault_hit(site); }

static const xhal_host_services g_host = {
    .abi_version = XHAL_BACKEND_ABI_VERSION,
    .struct_size = sizeof(xhal_host_services),
    .log = hs_log,
    .set_error = hs_set_error,
    .host_alloc = hs_alloc,
    .host_calloc = hs_calloc,
    .host_free = hs_free,
    .inject_fault = hs_inject,
    .topo_alloc_near = hal_topo_alloc_near,
    .topo_free_near = hal_topo_free_near,
    .topo_bind_thread_numa = hal_topo_bind_thread_numa,
    .topo_numa_count = hal_topo_numa_count,
    .topo_numa_cpus = hal_topo_numa_cpus,
};

const xhal_host_services *hal_host_services(void) { return &g_host; }
