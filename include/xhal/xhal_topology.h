/*
 * xhal_topology.h - where devices sit in the machine: NUMA nodes, CPUs, PCIe paths.
 *
 * The topology comes from hwloc. A context loads it once, from the live machine or, when
 * the environment variable XHAL_TOPOLOGY_XML names a file, from an hwloc XML export
 * (`lstopo --of xml`, hwloc 2.x format) - useful to look at another machine or to test.
 * Its PCI devices and OS devices are kept, so accelerators can be placed by PCI bus id.
 *
 * A topology that cannot be loaded (hwloc failure, missing or corrupt XML file) never
 * makes a context fail: every function here then returns XHAL_ERROR_UNAVAILABLE with
 * the reason (file name and problem), and the rest of xhal works as before.
 *
 * Conventions are those of xhal.h: every function returns an xhal_status, a failing call
 * sets the thread's message (xhal_last_error()) and leaves its outputs untouched. The
 * topology of a context is read-only once loaded, so every function here may be called
 * from any number of threads at once. A device function uses the topology of the
 * device's context.
 *
 * CPU and NUMA numbers are the operating system's (Linux cpu ids, NUMA node ids), the
 * same as in /sys, numactl and taskset. PCI bus ids are written "dddd:bb:dd.f" in
 * lower-case hex; on input "bb:dd.f" (domain 0) and 8-digit domains (CUDA's
 * "00000000:3B:00.0") are accepted too, in any case.
 *
 * This header is C11 and usable from C++.
 */
#ifndef XHAL_XHAL_TOPOLOGY_H
#define XHAL_XHAL_TOPOLOGY_H

#include "xhal.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XHAL_TOPO_MAX_NUMA 64     /* NUMA node ids reported per device (more are cut) */
#define XHAL_TOPO_CPUSET_LEN 1024 /* bytes of a cpu list string, with its NUL */

/* How two devices are connected, in the words of `nvidia-smi topo -m`. Values are
 * ordered from nearest to farthest (UNKNOWN aside) and never change. */
typedef enum xhal_link {
    XHAL_LINK_UNKNOWN = 0, /* one of the devices is not in the topology, or has no PCI id */
    XHAL_LINK_SELF = 1,    /* the same device (or one PCI device seen by two backends) */
    XHAL_LINK_PIX = 2,     /* through at most one PCIe switch (bridge) */
    XHAL_LINK_PXB = 3,     /* through several PCIe switches, not through a host bridge */
    XHAL_LINK_PHB = 4,     /* through a PCIe host bridge (same root complex) */
    XHAL_LINK_NODE = 5,    /* between host bridges of one NUMA node */
    XHAL_LINK_SYS = 6      /* across NUMA nodes / sockets (QPI, UPI, Infinity Fabric...) */
} xhal_link;

/* Short upper-case name: "SELF", "PIX", "PXB", "PHB", "NODE", "SYS", "UNKNOWN" (also for
 * values out of range). Static string; never fails. */
XHAL_API const char *xhal_link_name(xhal_link link);

/* Where a device sits. */
typedef struct xhal_locality {
    int32_t known;                          /* 1 if the topology places the device, 0 if not (then the
                              fields below are empty) */
    int32_t whole_machine;                  /* 1 for a host device (e.g. the CPU backend): all CPUs and
                              all NUMA nodes are its own */
    int32_t numa_count;                     /* NUMA nodes nearest to the device (entries of numa_nodes) */
    int32_t numa_nodes[XHAL_TOPO_MAX_NUMA]; /* their OS ids, ascending */
    char cpuset[XHAL_TOPO_CPUSET_LEN];      /* the CPUs near the device as a list, e.g.
                                          "0-15,32-47"; ends in "..." if it did not fit */
    char pci_bus_id[32];                    /* normalized "dddd:bb:dd.f", or "" if the device has none */
} xhal_locality;

/* Whether ctx has a topology. *available = 1 or 0; when 0 and reason is not NULL, the
 * reason (e.g. "XHAL_TOPOLOGY_XML=/x.xml: ...") is copied into reason[0..len) with a
 * NUL (cut if needed); when 1, reason gets "". Returns OK in both cases.
 * Errors: INVALID_HANDLE (ctx), INVALID_ARGUMENT (available NULL). */
XHAL_API xhal_status xhal_topology_available(xhal_context *ctx, int *available, char *reason, size_t len);

/* Fill *out with the locality of dev. A device with a PCI bus id is placed through that id:
 * its NUMA nodes and CPUs are those of the nearest CPU-side object (socket, NUMA node...)
 * above its PCIe path. A device whose bus id is not in the topology, or that has none
 * and is not host memory, gets known = 0 (not an error). A host-memory device without
 * a bus id (the CPU backend) gets the whole machine.
 * Errors: INVALID_HANDLE (dev), INVALID_ARGUMENT (out NULL),
 * UNAVAILABLE (no topology; the message says why). */
XHAL_API xhal_status xhal_device_locality(xhal_device *dev, xhal_locality *out);

/* The link between devices a and b (see xhal_link). a == b gives SELF; so do two devices
 * with one PCI bus id. A device that is not on PCI or not in the topology gives UNKNOWN
 * (not an error).
 * Errors: INVALID_HANDLE, INVALID_ARGUMENT (out NULL, a and b of different contexts),
 * UNAVAILABLE (no topology). */
XHAL_API xhal_status xhal_device_relation(xhal_device *a, xhal_device *b, xhal_link *out);

/* A direct device-to-device link beside PCIe. */
typedef enum xhal_direct_kind {
    XHAL_DIRECT_NONE = 0,   /* no direct link reported between the two devices */
    XHAL_DIRECT_NVLINK = 1, /* NVLink: hwloc's "NVLinkBandwidth" matrix (NVML) */
    XHAL_DIRECT_XGMI = 2    /* AMD xGMI: hwloc's "XGMIBandwidth" / "XGMIHops" matrices (ROCm SMI) */
} xhal_direct_kind;

/* Short name: "NVLINK", "XGMI", "NONE" (also for values out of range). Static; never fails. */
XHAL_API const char *xhal_direct_kind_name(int32_t kind);

typedef struct xhal_direct_link {
    int32_t kind;           /* an xhal_direct_kind */
    uint32_t hops;          /* XGMIHops between the devices when reported, else 0 */
    uint64_t bandwidth_mbs; /* the link's bandwidth in MB/s, as hwloc reports it (NVML: 20000 or
                             * 25000 per NVLink, summed over the links joining the pair; the slower
                             * direction if the matrix is not symmetric); 0 if not reported */
} xhal_direct_link;

/* The direct link between devices a and b, as the topology's distance matrices report it:
 * NVLink from "NVLinkBandwidth" (a nonzero value between the two GPUs), xGMI from
 * "XGMIBandwidth" (nonzero) or, without that matrix, "XGMIHops" equal to 1. The matrices join
 * hwloc OS devices ("nvml0", "rsmi0") or PCI devices; each is placed by its PCI device. hwloc
 * adds them only where its NVML / ROCm SMI components ran: xhal does not run those components
 * on the live machine (they start the vendor runtimes), so they come from an hwloc XML export
 * (XHAL_TOPOLOGY_XML) of a machine whose hwloc has them (`lstopo --of xml`). GPUs linked only
 * through NVSwitches get NONE (the switches are matrix objects xhal does not follow yet).
 * A matrix that cannot be used is ignored, with the reason in the log (XHAL_LOG=warn/info) and
 * in xhal_topology_render's report. A direct link is nearer than any PCI path (xhal_link),
 * and a faster one nearer than a slower one: communicator rings follow that (xhal_comm.h).
 * The same device, a device without bus id or not in the topology gives NONE (not an error).
 * Errors: INVALID_HANDLE, INVALID_ARGUMENT (out NULL, a and b of different contexts),
 * UNAVAILABLE (no topology). */
XHAL_API xhal_status xhal_device_direct_link(xhal_device *a, xhal_device *b, xhal_direct_link *out);

/* Bind the calling thread to the CPUs near dev (its NUMA node's cores; all cores for a
 * host device). The binding lasts until changed; undo it with the OS (sched_setaffinity)
 * or by binding to a host device.
 * Errors: INVALID_HANDLE, UNAVAILABLE (no topology), NOT_FOUND (dev is not placed in the
 * topology), UNSUPPORTED (the topology was read from XHAL_TOPOLOGY_XML and does not
 * describe this machine, or the OS refused: the message gives errno's text). */
XHAL_API xhal_status xhal_bind_thread_to_device(xhal_device *dev);

/* Allocate size bytes (size > 0) of page-aligned host memory on the NUMA node(s) nearest
 * to dev, zero-filled. Placement is best effort: when the topology is unavailable, is an
 * XML file, or does not place dev, or the OS refuses the binding, the memory is still
 * returned, placed by the OS's default policy. Free it with xhal_host_free_near(p, size)
 * with the same size; the memory does not depend on the context and may outlive it.
 * Errors: INVALID_HANDLE, INVALID_ARGUMENT (size 0, out NULL), OUT_OF_MEMORY. */
XHAL_API xhal_status xhal_host_alloc_near(xhal_device *dev, size_t size, void **out);

/* Free memory from xhal_host_alloc_near; size must be the size allocated. NULL is a no-op.
 * Errors: INVALID_ARGUMENT (size 0 with a non-NULL p, or p not page-aligned). */
XHAL_API xhal_status xhal_host_free_near(void *p, size_t size);

/* An accelerator the topology shows on PCI: class 0x03xx (display / 3D controller) or
 * 0x12xx (processing accelerator). */
typedef struct xhal_pci_accelerator {
    char pci_bus_id[32];    /* "dddd:bb:dd.f" */
    char vendor[64];        /* "NVIDIA", "AMD", "Intel", "Huawei", "Moore Threads", "Iluvatar",
                             "MetaX", "Hygon"; else the name hwloc knows, else "unknown" */
    char device_name[128];  /* hwloc's device name when it has one, else "" */
    uint32_t vendor_id;     /* PCI vendor id, e.g. 0x10de */
    uint32_t device_id;     /* PCI device id */
    uint32_t class_id;      /* PCI class and subclass, e.g. 0x0302 */
    char driven_by[48];     /* spec of the xhal device of ctx with this bus id ("cuda:1"), or ""
                             when no loaded backend drives it */
    xhal_locality locality; /* its NUMA nodes and CPUs (known = 1) */
} xhal_pci_accelerator;

/* The accelerators on PCI, in hwloc's order (by bus id within each host bridge).
 * *count gets how many there are; the first min(count, max) are written to out (out may
 * be NULL when max is 0, to ask for the count).
 * Errors: INVALID_HANDLE, INVALID_ARGUMENT (count NULL, max < 0, out NULL with max > 0),
 * UNAVAILABLE (no topology). */
XHAL_API xhal_status xhal_topology_pci_accelerators(xhal_context *ctx, xhal_pci_accelerator *out, int max, int *count);

#define XHAL_TOPOLOGY_RENDER_JSON 0x1u /* JSON instead of text */

/* A report of the machine for people (text) or programs (JSON, flags has
 * XHAL_TOPOLOGY_RENDER_JSON): the topology's source; packages, NUMA nodes (with their CPUs
 * and memory), cores and CPUs; for the devices of ctx a link matrix like
 * `nvidia-smi topo -m` with NUMA and CPU affinity columns; the accelerators on PCI with
 * the xhal device that drives each; and a line naming those no loaded backend drives.
 * A context without topology still gets a report that says why (JSON: "available": false,
 * "reason"). *out is a NUL-terminated string that the caller frees with
 * xhal_topology_render_free.
 * Errors: INVALID_HANDLE, INVALID_ARGUMENT (out NULL, unknown flags), OUT_OF_MEMORY. */
XHAL_API xhal_status xhal_topology_render(xhal_context *ctx, uint32_t flags, char **out);

/* Free a string from xhal_topology_render. NULL is a no-op; always returns OK. */
XHAL_API xhal_status xhal_topology_render_free(char *s);

#ifdef __cplusplus
}
#endif

#endif /* XHAL_XHAL_TOPOLOGY_H */
