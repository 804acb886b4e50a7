/* comm_topo.c - the ring order of a communicator's local ranks from the topology: starting at
 * local rank 0, each next rank is the nearest one not yet visited (hwloc's PCI and NUMA
 * distance: SELF < PIX < PXB < PHB < NODE < SYS < unknown), ties broken by rank. Engines that
 * build rings (and xhal-info --topology) follow it; a backend's own library (NCCL) may also
 * see links (NVLink, xGMI) that are not in hwloc's PCI tree and order its rings itself. */
#include "comm.h"
#include "context.h"

void hal_comm_ring(xhal_comm *c)
{
    int n = c->n_local;
    for (int i = 0; i < n; i++) c->ring[i] = i;
    if (n < 3) return; /* every order of one or two ranks is the same ring */
    xhal_status why;
    hal_topology *topo = hal_context_topology(c->ctx, &why);
    if (!topo) return;
    int dist[XHAL_COMM_MAX_LOCAL][XHAL_COMM_MAX_LOCAL];
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            xhal_link l = XHAL_LINK_UNKNOWN;
            if (c->devs[i] == c->devs[j])
                l = XHAL_LINK_SELF;
            else if (hal_topo_devices_link(topo, c->devs[i], c->devs[j], &l) != XHAL_OK)
                l = XHAL_LINK_UNKNOWN;
            dist[i][j] = l == XHAL_LINK_UNKNOWN ? XHAL_LINK_SYS + 1 : (int)l;
        }
    int seen[XHAL_COMM_MAX_LOCAL] = {0};
    int cur = 0;
    seen[0] = 1;
    for (int k = 1; k < n; k++) {
        int best = -1;
        for (int j = 0; j < n; j++)
            if (!seen[j] && (best < 0 || dist[cur][j] < dist[cur][best])) best = j;
        c->ring[k] = best;
        seen[best] = 1;
        cur = best;
    }
}
