/* topology_api.c - the public topology functions of xhal_topology.h: validation of the
 * caller's handles and arguments, then the queries of topology.c. */
#include "context.h"
#include "error.h"
#include "internal.h"
#include "topology.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

XHAL_API const char *xhal_link_name(xhal_link link)
{
    switch (link) {
        case XHAL_LINK_SELF: return "SELF";
        case XHAL_LINK_PIX: return "PIX";
        case XHAL_LINK_PXB: return "PXB";
        case XHAL_LINK_PHB: return "PHB";
        case XHAL_LINK_NODE: return "NODE";
        case XHAL_LINK_SYS: return "SYS";
        case XHAL_LINK_UNKNOWN: break;
    }
    return "UNKNOWN";
}

XHAL_API const char *xhal_direct_kind_name(int32_t kind)
{
    switch (kind) {
        case XHAL_DIRECT_NVLINK: return "NVLINK";
        case XHAL_DIRECT_XGMI: return "XGMI";
        default: return "NONE";
    }
}

static xhal_status check_context(xhal_context *ctx, const char *fn)
{
    if (ctx == NULL) return hal_set_error(XHAL_ERROR_INVALID_HANDLE, "%s: context is NULL", fn);
    if (!hal_context_live(ctx))
        return hal_set_error(XHAL_ERROR_INVALID_HANDLE, "%s: context %p is not a live context (destroyed?)", fn,
                             (void *)ctx);
    return XHAL_OK;
}

/* The device's topology (or UNAVAILABLE with "fn: topology unavailable: reason"). */
static hal_topology *device_topology(xhal_device *dev, const char *fn, xhal_status *st)
{
    hal_topology *topo = hal_context_topology(dev->ctx, st);
    if (topo == NULL) *st = hal_error_prefix(*st, "%s", fn);
    return topo;
}

xhal_status hal_topo_device_place(const hal_topology *topo, xhal_device *dev, xhal_locality *out, char *spec,
                                  size_t spec_len)
{
    xhal_device_info info;
    xhal_status st = xhal_device_get_info(dev, &info);
    if (st != XHAL_OK) return st;
    int host = (info.caps & XHAL_CAP_HOST_MEMORY) != 0 || strcmp(info.backend, "cpu") == 0;
    hal_topology_locality(topo, info.pci_bus_id, host, out);
    if (spec != NULL && spec_len > 0) snprintf(spec, spec_len, "%s", info.spec);
    return XHAL_OK;
}

XHAL_API xhal_status xhal_topology_available(xhal_context *ctx, int *available, char *reason, size_t len)
{
    xhal_status st = check_context(ctx, "xhal_topology_available");
    if (st != XHAL_OK) return st;
    if (available == NULL)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_topology_available: available is NULL");
    xhal_status why;
    hal_topology *topo = hal_context_topology(ctx, &why);
    if (reason != NULL && len > 0) {
        if (topo == NULL)
            hal_error_copy(reason, len);
        else
            reason[0] = '\0';
    }
    *available = topo != NULL;
    hal_clear_error();
    return XHAL_OK;
}

XHAL_API xhal_status xhal_device_locality(xhal_device *dev, xhal_locality *out)
{
    xhal_status st = hal_check_device(dev, "xhal_device_locality");
    if (st != XHAL_OK) return st;
    if (out == NULL) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_device_locality: out is NULL");
    hal_topology *topo = device_topology(dev, "xhal_device_locality", &st);
    if (topo == NULL) return st;
    xhal_locality loc;
    st = hal_topo_device_place(topo, dev, &loc, NULL, 0);
    if (st != XHAL_OK) return st;
    *out = loc;
    hal_clear_error();
    return XHAL_OK;
}

XHAL_API xhal_status xhal_device_relation(xhal_device *a, xhal_device *b, xhal_link *out)
{
    xhal_status st = hal_check_device(a, "xhal_device_relation: a");
    if (st != XHAL_OK) return st;
    st = hal_check_device(b, "xhal_device_relation: b");
    if (st != XHAL_OK) return st;
    if (out == NULL) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_device_relation: out is NULL");
    if (a->ctx != b->ctx)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                             "xhal_device_relation: %s and %s belong to different contexts", a->spec, b->spec);
    hal_topology *topo = device_topology(a, "xhal_device_relation", &st);
    if (topo == NULL) return st;
    xhal_link link;
    st = hal_topo_devices_link(topo, a, b, &link);
    if (st != XHAL_OK) return st;
    *out = link;
    hal_clear_error();
    return XHAL_OK;
}

XHAL_API xhal_status xhal_device_direct_link(xhal_device *a, xhal_device *b, xhal_direct_link *out)
{
    xhal_status st = hal_check_device(a, "xhal_device_direct_link: a");
    if (st != XHAL_OK) return st;
    st = hal_check_device(b, "xhal_device_direct_link: b");
    if (st != XHAL_OK) return st;
    if (out == NULL) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_device_direct_link: out is NULL");
    if (a->ctx != b->ctx)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                             "xhal_device_direct_link: %s and %s belong to different contexts", a->spec, b->spec);
    hal_topology *topo = device_topology(a, "xhal_device_direct_link", &st);
    if (topo == NULL) return st;
    xhal_direct_link dl;
    st = hal_topo_devices_direct(topo, a, b, &dl);
    if (st != XHAL_OK) return st;
    *out = dl;
    hal_clear_error();
    return XHAL_OK;
}

xhal_status hal_topo_devices_direct(const hal_topology *topo, xhal_device *a, xhal_device *b, xhal_direct_link *out)
{
    memset(out, 0, sizeof *out);
    if (a == b) return XHAL_OK;
    xhal_device_info ia, ib;
    xhal_status st = xhal_device_get_info(a, &ia);
    if (st == XHAL_OK) st = xhal_device_get_info(b, &ib);
    if (st != XHAL_OK) return st;
    hal_topology_direct(topo, ia.pci_bus_id, ib.pci_bus_id, out);
    return XHAL_OK;
}

xhal_status hal_topo_devices_link(const hal_topology *topo, xhal_device *a, xhal_device *b, xhal_link *out)
{
    if (a == b) {
        *out = XHAL_LINK_SELF;
        return XHAL_OK;
    }
    xhal_device_info ia, ib;
    xhal_status st = xhal_device_get_info(a, &ia);
    if (st == XHAL_OK) st = xhal_device_get_info(b, &ib);
    if (st != XHAL_OK) return st;
    char na[32], nb[32];
    if (hal_pci_bus_id_normalize(ia.pci_bus_id, na, sizeof na) != 0 ||
        hal_pci_bus_id_normalize(ib.pci_bus_id, nb, sizeof nb) != 0) {
        *out = XHAL_LINK_UNKNOWN;
        return XHAL_OK;
    }
    /* One physical device reached through two backends (CUDA and OpenCL) is itself,
     * even when the topology does not list it. */
    if (strcmp(na, nb) == 0) {
        *out = XHAL_LINK_SELF;
        return XHAL_OK;
    }
    *out = hal_topology_link(topo, na, nb);
    return XHAL_OK;
}

XHAL_API xhal_status xhal_bind_thread_to_device(xhal_device *dev)
{
    xhal_status st = hal_check_device(dev, "xhal_bind_thread_to_device");
    if (st != XHAL_OK) return st;
    hal_topology *topo = device_topology(dev, "xhal_bind_thread_to_device", &st);
    if (topo == NULL) return st;
    xhal_locality loc;
    st = hal_topo_device_place(topo, dev, &loc, NULL, 0);
    if (st != XHAL_OK) return st;
    if (!loc.known)
        return hal_set_error(XHAL_ERROR_NOT_FOUND,
                             "xhal_bind_thread_to_device: %s (PCI bus id \"%s\") is not in the topology (%s)",
                             dev->spec, loc.pci_bus_id, hal_topology_source(topo));
    st = hal_topology_bind_thread(topo, &loc);
    if (st != XHAL_OK) return hal_error_prefix(st, "xhal_bind_thread_to_device: %s", dev->spec);
    hal_clear_error();
    return XHAL_OK;
}

XHAL_API xhal_status xhal_host_alloc_near(xhal_device *dev, size_t size, void **out)
{
    xhal_status st = hal_check_device(dev, "xhal_host_alloc_near");
    if (st != XHAL_OK) return st;
    if (out == NULL) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_host_alloc_near: out is NULL");
    if (size == 0) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_host_alloc_near: size is 0");
    xhal_status why;
    hal_topology *topo = hal_context_topology(dev->ctx, &why); /* NULL: allocate unplaced */
    xhal_locality loc;
    memset(&loc, 0, sizeof loc);
    if (topo != NULL) {
        st = hal_topo_device_place(topo, dev, &loc, NULL, 0);
        if (st != XHAL_OK) return st;
    }
    void *p = hal_topology_alloc_near(topo, &loc, size);
    if (p == NULL)
        return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "xhal_host_alloc_near: %zu bytes near %s: out of host memory",
                             size, dev->spec);
    *out = p;
    hal_clear_error();
    return XHAL_OK;
}

XHAL_API xhal_status xhal_host_free_near(void *p, size_t size)
{
    if (p == NULL) return XHAL_OK;
    if (size == 0) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_host_free_near: size is 0 for %p", p);
    long page = sysconf(_SC_PAGESIZE);
    if (page > 0 && ((uintptr_t)p % (uintptr_t)page) != 0)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                             "xhal_host_free_near: %p is not page-aligned, so not from xhal_host_alloc_near", p);
    hal_topology_free_near(p, size);
    hal_clear_error();
    return XHAL_OK;
}

xhal_status hal_topo_match_drivers(xhal_context *ctx, xhal_pci_accelerator *acc, int n)
{
    int count = 0;
    xhal_status st = xhal_device_count(ctx, &count);
    if (st != XHAL_OK) return st;
    for (int d = 0; d < count; d++) {
        xhal_device *dev = NULL;
        xhal_device_info info;
        st = xhal_device_get(ctx, d, &dev);
        if (st == XHAL_OK) st = xhal_device_get_info(dev, &info);
        if (st != XHAL_OK) return st;
        char bus[32];
        if (hal_pci_bus_id_normalize(info.pci_bus_id, bus, sizeof bus) != 0) continue;
        for (int i = 0; i < n; i++)
            if (acc[i].driven_by[0] == '\0' && strcmp(acc[i].pci_bus_id, bus) == 0)
                snprintf(acc[i].driven_by, sizeof acc[i].driven_by, "%s", info.spec);
    }
    return XHAL_OK;
}

XHAL_API xhal_status xhal_topology_pci_accelerators(xhal_context *ctx, xhal_pci_accelerator *out, int max, int *count)
{
    xhal_status st = check_context(ctx, "xhal_topology_pci_accelerators");
    if (st != XHAL_OK) return st;
    if (count == NULL)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_topology_pci_accelerators: count is NULL");
    if (max < 0) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_topology_pci_accelerators: max is %d", max);
    if (out == NULL && max > 0)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_topology_pci_accelerators: out is NULL but max is %d",
                             max);
    hal_topology *topo = hal_context_topology(ctx, &st);
    if (topo == NULL) return hal_error_prefix(st, "xhal_topology_pci_accelerators");
    /* Fill a private copy first so that out stays untouched on failure. */
    int total = hal_topology_accelerators(topo, NULL, 0);
    int n = total < max ? total : max;
    if (n > 0) {
        xhal_pci_accelerator *tmp = calloc((size_t)total, sizeof *tmp);
        if (tmp == NULL)
            return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "xhal_topology_pci_accelerators: out of host memory");
        hal_topology_accelerators(topo, tmp, total);
        st = hal_topo_match_drivers(ctx, tmp, total);
        if (st != XHAL_OK) {
            free(tmp);
            return st;
        }
        memcpy(out, tmp, (size_t)n * sizeof *tmp);
        free(tmp);
    }
    *count = total;
    hal_clear_error();
    return XHAL_OK;
}
