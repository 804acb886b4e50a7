/* topology.h - hwloc topology inside the core (internal).
 *
 * hal/topology.c owns hwloc: loading, placing PCI devices, links, binding, NUMA memory.
 * hal/topology_api.c and hal/topology_render.c build the public xhal_topology.h on it. */
#ifndef HAL_TOPOLOGY_H
#define HAL_TOPOLOGY_H

#include "xhal/xhal.h"
#include "xhal/xhal_topology.h"
#include <stddef.h>

typedef struct hal_topology hal_topology;

/* Load the topology (XHAL_TOPOLOGY_XML=FILE if set, else the live machine), with PCI and
 * OS devices kept. On failure returns XHAL_ERROR_UNAVAILABLE with the message set and
 * *out = NULL; the context then runs without topology. */
xhal_status hal_topology_load(hal_topology **out);
void hal_topology_destroy(hal_topology *topo);

/* Host services for plugins (xhal_host_services topo_*): process-wide, lazily loaded. */
void *hal_topo_alloc_near(const char *pci_bus_id, size_t size);
void hal_topo_free_near(void *ptr, size_t size);
int hal_topo_bind_thread_numa(int node);
int hal_topo_numa_count(void);
int hal_topo_numa_cpus(int node, int *cpus, int max);
/* Release the process-wide topology (called when the last context is destroyed). */
void hal_topo_release_global(void);

/* ---- queries on a loaded topology (read-only: safe from many threads at once) ---- */

/* Parse a PCI bus id ("dddd:bb:dd.f", "bb:dd.f", any case, 4- or 8-digit domain) into
 * the canonical lower-case "dddd:bb:dd.f" (out has >= 32 bytes). Returns 0, or -1 if it
 * is not a bus id (out is then ""). */
int hal_pci_bus_id_normalize(const char *in, char *out, size_t len);

/* "live machine" or "XML file PATH". */
const char *hal_topology_source(const hal_topology *topo);
/* 1 if the topology describes the machine this process runs on (binding is possible). */
int hal_topology_is_this_system(const hal_topology *topo);

/* Locality of the PCI device bus_id (any accepted form), or of the whole machine when
 * bus_id is NULL or "" and whole_machine is nonzero. Fills *out completely (known = 0
 * when bus_id is not in the topology or empty without whole_machine). */
void hal_topology_locality(const hal_topology *topo, const char *bus_id, int whole_machine, xhal_locality *out);

/* Link between two PCI devices (any accepted form). UNKNOWN when either is absent. */
xhal_link hal_topology_link(const hal_topology *topo, const char *bus_a, const char *bus_b);

/* The direct link (NVLink, xGMI) between two PCI devices, from the topology's NVLinkBandwidth,
 * XGMIBandwidth and XGMIHops matrices; all zero (XHAL_DIRECT_NONE) when there is none. */
void hal_topology_direct(const hal_topology *topo, const char *bus_a, const char *bus_b, xhal_direct_link *out);
/* Which of those matrices were read, or why one was ignored ("" when there were none). */
const char *hal_topology_links_note(const hal_topology *topo);

/* The PCI accelerators (class 0x03xx / 0x12xx): writes min(total, max) entries with
 * driven_by = "" and returns the total. */
int hal_topology_accelerators(const hal_topology *topo, xhal_pci_accelerator *out, int max);

/* Counts of packages, NUMA nodes, cores and PUs (each >= 0). */
void hal_topology_counts(const hal_topology *topo, int *packages, int *numa, int *cores, int *pus);
/* NUMA node i in [0, numa count): its OS id, CPU list and local memory in bytes.
 * Returns 0, or -1 if i is out of range. */
int hal_topology_numa_info(const hal_topology *topo, int i, int *os_id, char *cpus, size_t len,
                           unsigned long long *memory);

/* Bind the calling thread to the CPUs of a locality (its cpuset). Returns OK, or
 * UNSUPPORTED with the message set (not this system, OS refusal). */
xhal_status hal_topology_bind_thread(const hal_topology *topo, const xhal_locality *loc);

/* Page-aligned zeroed host memory (mmap) placed, best effort, on the NUMA nodes of loc
 * (loc or topo may be NULL: no placement). Free with hal_topology_free_near. NULL if the
 * OS has no memory. */
void *hal_topology_alloc_near(const hal_topology *topo, const xhal_locality *loc, size_t size);
void hal_topology_free_near(void *p, size_t size);

/* ---- shared by topology_api.c and topology_render.c (dev, ctx live; topo not NULL) ---- */

/* Locality of a device (host-memory devices without a bus id: the whole machine); spec
 * (may be NULL) gets the device's spec. Errors: those of xhal_device_get_info. */
xhal_status hal_topo_device_place(const hal_topology *topo, xhal_device *dev, xhal_locality *out, char *spec,
                                  size_t spec_len);
/* Link between two devices (SELF for one device or one bus id). */
xhal_status hal_topo_devices_link(const hal_topology *topo, xhal_device *a, xhal_device *b, xhal_link *out);
/* Direct link between two devices (all zero for one device, or without bus ids). */
xhal_status hal_topo_devices_direct(const hal_topology *topo, xhal_device *a, xhal_device *b, xhal_direct_link *out);
/* Set acc[i].driven_by to the spec of the first device of ctx with that bus id. */
xhal_status hal_topo_match_drivers(xhal_context *ctx, xhal_pci_accelerator *acc, int n);

#endif
