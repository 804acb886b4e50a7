/* comm_topo.c - the ring order of a communicator's local ranks from the topology: starting at
 * local rank 0, each next rank is the nearest one not yet visited, ties broken by rank. Nearest
 * means: the same device; then a direct NVLink/xGMI link (xhal_device_direct_link, from hwloc's
 * NVLinkBandwidth / XGMIBandwidth / XGMIHops matrices), more bandwidth nearer, then fewer xGMI
 * hops; then hwloc's PCI and NUMA distance (PIX < PXB < PHB < NODE < SYS < unknown). Engines
 * that build rings (and xhal-info --topology) follow it; a backend's own library (NCCL, RCCL)
 * also orders its rings itself from what its driver reports. */
#include "comm.h"
#include "context.h"

#include <stdint.h>

typedef struct hop_cost {
    int cls;       /* 0 same device, 1 direct link, 2 + xhal_link for a PCI path, 9 unknown */
    uint64_t bw;   /* direct link bandwidth, MB/s (more is nearer) */
    uint32_t hops; /* xGMI hops when reported (fewer is nearer) */
} hop_cost;

static int nearer(const hop_cost *x, const hop_cost *y)
{
    if (x->cls != y->cls) return x->cls < y->cls;
    if (x->bw != y->bw) return x->bw > y->bw;
    return x->hops < y->hops;
}

void hal_comm_ring(xhal_comm *c)
{
    int n = c->n_local;
    for (int i = 0; i < n; i++) c->ring[i] = i;
    if (n < 3) return; /* every order of one or two ranks is the same ring */
    xhal_status why;
    hal_topology *topo = hal_context_topology(c->ctx, &why);
    if (!topo) return;
    hop_cost cost[XHAL_COMM_MAX_LOCAL][XHAL_COMM_MAX_LOCAL];
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            hop_cost *h = &cost[i][j];
            *h = (hop_cost){9, 0, 0};
            xhal_link l = XHAL_LINK_UNKNOWN;
            xhal_direct_link dl = {0};
            if (c->devs[i] == c->devs[j])
                l = XHAL_LINK_SELF;
            else if (hal_topo_devices_link(topo, c->devs[i], c->devs[j], &l) != XHAL_OK)
                l = XHAL_LINK_UNKNOWN;
            if (l == XHAL_LINK_SELF) {
                h->cls = 0;
            } else if (hal_topo_devices_direct(topo, c->devs[i], c->devs[j], &dl) == XHAL_OK &&
                       dl.kind != XHAL_DIRECT_NONE) {
                *h = (hop_cost){1, dl.bandwidth_mbs, dl.hops};
            } else if (l != XHAL_LINK_UNKNOWN) {
                h->cls = 2 + (int)l;
            }
        }
    int seen[XHAL_COMM_MAX_LOCAL] = {0};
    int cur = 0;
    seen[0] = 1;
    for (int k = 1; k < n; k++) {
        int best = -1;
        for (int j = 0; j < n; j++)
            if (!seen[j] && (best < 0 || nearer(&cost[cur][j], &cost[cur][best]))) best = j;
        c->ring[k] = best;
        seen[best] = 1;
        cur = best;
    }
}
