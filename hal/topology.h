/* topology.h - hwloc topology inside the core (internal). */
#ifndef HAL_TOPOLOGY_H
#define HAL_TOPOLOGY_H

#include "xhal/xhal.h"
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

#endif
