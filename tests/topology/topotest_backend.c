/* topotest_backend.c - a backend for the topology tests only: host-memory devices that
 * carry the PCI bus ids of the fixture topologies.
 *
 * XHAL_TOPOTEST_DEVICES lists the devices, comma-separated: a PCI bus id (any form the
 * device reports, e.g. "0000:05:00.0" or CUDA's "00000000:09:00.0"), "host" (no bus id,
 * host memory: placed on the whole machine) or "none" (no bus id, not host memory).
 * Memory, streams and copies work (plain host memory); ops answer UNSUPPORTED.
 * The device's arch field reports what the host's topology services tell the plugin:
 * "numa<N>-cpus<M>" (N NUMA nodes, M cpus in the first one), or "no-topo-services"; its
 * family field says whether topo_alloc_near gave writable memory near the device
 * ("topotest-near-ok", "topotest-near-null"). */
#if !defined(_POSIX_C_SOURCE) && !defined(_GNU_SOURCE)
#define _POSIX_C_SOURCE 200809L /* strtok_r */
#endif
#include "xhal/plugin/xhal_plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEVICES 16

typedef struct topotest_state {
    int n;
    char bus[MAX_DEVICES][32];
    int host_memory[MAX_DEVICES];
} topotest_state;

typedef struct topotest_buffer {
    int device;
    uint64_t size;
    unsigned char *data;
} topotest_buffer;

static const char *default_devices =
    "0000:05:00.0,0000:06:00.0,00000000:09:00.0,0000:11:00.0,0000:43:00.0,0000:53:00.0,0000:ee:00.0,host";

static xhal_status tt_init(const xhal_host_services *h, void **state)
{
    topotest_state *s = xhal_plugin_host()->host_calloc(1, sizeof *s);
    if (s == NULL) return xhal_plugin_host()->set_error(XHAL_ERROR_OUT_OF_MEMORY, "topotest: out of memory");
    const char *list = getenv("XHAL_TOPOTEST_DEVICES");
    if (list == NULL) list = default_devices;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", list);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok != NULL && s->n < MAX_DEVICES; tok = strtok_r(NULL, ",", &save)) {
        if (strcmp(tok, "host") == 0) {
            s->host_memory[s->n] = 1;
            s->bus[s->n][0] = '\0';
        } else if (strcmp(tok, "none") == 0) {
            s->bus[s->n][0] = '\0';
        } else {
            snprintf(s->bus[s->n], sizeof s->bus[s->n], "%s", tok);
        }
        s->n++;
    }
    *state = s;
    return XHAL_OK;
}

static void tt_shutdown(void *state) { xhal_plugin_host()->host_free(state); }

static int tt_device_count(void *state) { return ((topotest_state *)state)->n; }

static xhal_status tt_device_info(void *state, int device, xhal_device_info *info)
{
    topotest_state *s = state;
    snprintf(info->backend, sizeof info->backend, "topotest");
    snprintf(info->name, sizeof info->name, "topotest device %d", device);
    snprintf(info->vendor, sizeof info->vendor, "xhal tests");
    const char *near = "topotest";
    if (xhal_plugin_host()->topo_alloc_near != NULL && xhal_plugin_host()->topo_free_near != NULL) {
        unsigned char *p = xhal_plugin_host()->topo_alloc_near(s->bus[device], 2 * 4096 + 1);
        near = "topotest-near-null";
        if (p != NULL) {
            memset(p, 0x5a, 2 * 4096 + 1);
            near = p[2 * 4096] == 0x5a ? "topotest-near-ok" : "topotest-near-bad";
            xhal_plugin_host()->topo_free_near(p, 2 * 4096 + 1);
        }
    }
    snprintf(info->family, sizeof info->family, "%s", near);
    if (xhal_plugin_host()->topo_numa_count != NULL && xhal_plugin_host()->topo_numa_cpus != NULL) {
        int cpus[256];
        int nodes = xhal_plugin_host()->topo_numa_count();
        int first = 0;
        /* The first NUMA node's OS id is not always 0: find it among the first 64 ids. */
        for (int id = 0; id < 64; id++) {
            first = xhal_plugin_host()->topo_numa_cpus(id, cpus, 256);
            if (first > 0) break;
        }
        snprintf(info->arch, sizeof info->arch, "numa%d-cpus%d", nodes, first);
    } else {
        snprintf(info->arch, sizeof info->arch, "no-topo-services");
    }
    snprintf(info->driver_version, sizeof info->driver_version, "1");
    snprintf(info->pci_bus_id, sizeof info->pci_bus_id, "%s", s->bus[device]);
    info->total_memory = 1ull << 30;
    info->free_memory = 1ull << 30;
    info->compute_units = 1;
    info->index = device;
    info->dtypes = XHAL_DTYPE_BIT(XHAL_DTYPE_F32) | XHAL_DTYPE_BIT(XHAL_DTYPE_U8);
    info->caps = s->host_memory[device] ? XHAL_CAP_HOST_MEMORY : 0;
    return XHAL_OK;
}

static xhal_status tt_buffer_alloc(void *state, int device, uint64_t size, void **buffer)
{
    (void)state;
    topotest_buffer *b = xhal_plugin_host()->host_calloc(1, sizeof *b);
    unsigned char *data = b ? xhal_plugin_host()->host_calloc(1, (size_t)size) : NULL;
    if (data == NULL) {
        xhal_plugin_host()->host_free(b);
        return xhal_plugin_host()->set_error(XHAL_ERROR_OUT_OF_MEMORY, "topotest: cannot allocate %llu bytes",
                                             (unsigned long long)size);
    }
    b->device = device;
    b->size = size;
    b->data = data;
    *buffer = b;
    return XHAL_OK;
}

static void tt_buffer_free(void *state, void *buffer)
{
    (void)state;
    topotest_buffer *b = buffer;
    if (b != NULL) {
        xhal_plugin_host()->host_free(b->data);
        xhal_plugin_host()->host_free(b);
    }
}

static xhal_status tt_stream_create(void *state, int device, void **stream)
{
    (void)state;
    int *s = xhal_plugin_host()->host_alloc(sizeof *s);
    if (s == NULL) return xhal_plugin_host()->set_error(XHAL_ERROR_OUT_OF_MEMORY, "topotest: out of memory");
    *s = device;
    *stream = s;
    return XHAL_OK;
}

static void tt_stream_destroy(void *state, void *stream)
{
    (void)state;
    xhal_plugin_host()->host_free(stream);
}

static xhal_status tt_stream_sync(void *state, void *stream)
{
    (void)state;
    (void)stream;
    return XHAL_OK;
}

static xhal_status tt_write(void *state, void *stream, void *buffer, uint64_t offset, const void *src, uint64_t size)
{
    (void)state;
    (void)stream;
    memcpy(((topotest_buffer *)buffer)->data + offset, src, (size_t)size);
    return XHAL_OK;
}

static xhal_status tt_read(void *state, void *stream, void *buffer, uint64_t offset, void *dst, uint64_t size)
{
    (void)state;
    (void)stream;
    memcpy(dst, ((topotest_buffer *)buffer)->data + offset, (size_t)size);
    return XHAL_OK;
}

static xhal_status tt_copy(void *state, void *stream, void *src, uint64_t src_offset, void *dst, uint64_t dst_offset,
                           uint64_t size)
{
    (void)state;
    (void)stream;
    memmove(((topotest_buffer *)dst)->data + dst_offset, ((topotest_buffer *)src)->data + src_offset, (size_t)size);
    return XHAL_OK;
}

static xhal_status tt_op_supported(void *state, int device, const xhal_op_desc *desc)
{
    (void)state;
    return xhal_plugin_host()->set_error(XHAL_ERROR_UNSUPPORTED, "topotest:%d runs no ops (op %d asked)", device,
                                         (int)desc->op);
}

static xhal_status tt_op_run(void *state, void *stream, const xhal_op_desc *desc)
{
    (void)state;
    (void)stream;
    return xhal_plugin_host()->set_error(XHAL_ERROR_UNSUPPORTED, "topotest runs no ops (op %d asked)", (int)desc->op);
}

static const xhal_backend_table table = {
    .abi_version = XHAL_BACKEND_ABI_VERSION,
    .struct_size = sizeof(xhal_backend_table),
    .name = "topotest",
    .version = "1.0",
    .catalogue_version = XHAL_BACKEND_CATALOGUE_VERSION,
    .init = tt_init,
    .shutdown = tt_shutdown,
    .device_count = tt_device_count,
    .device_info = tt_device_info,
    .buffer_alloc = tt_buffer_alloc,
    .buffer_free = tt_buffer_free,
    .stream_create = tt_stream_create,
    .stream_destroy = tt_stream_destroy,
    .stream_sync = tt_stream_sync,
    .write = tt_write,
    .read = tt_read,
    .copy = tt_copy,
    .op_supported = tt_op_supported,
    .op_run = tt_op_run,
};

/* the exported entry: ABI checks and the host services, in the plugin helper */
XHAL_PLUGIN_ENTRY(table)
