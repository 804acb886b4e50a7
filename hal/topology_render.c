/* topology_render.c - the machine report of xhal_topology_render, as text for people and
 * as JSON (cJSON) for programs. Tools print it; they hold no logic of their own. */
#include "context.h"
#include "error.h"
#include "internal.h"
#include "topology.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Everything the two renderers show, gathered once. */
typedef struct report {
    hal_topology *topo; /* NULL: unavailable */
    char reason[512];
    int n_dev;
    xhal_device **devs;
    char (*specs)[48];
    xhal_locality *locs;
    xhal_link *links;         /* n_dev * n_dev */
    xhal_direct_link *direct; /* n_dev * n_dev */
    int n_acc;
    xhal_pci_accelerator *accs;
} report;

static void report_free(report *r)
{
    free(r->devs);
    free(r->specs);
    free(r->locs);
    free(r->links);
    free(r->direct);
    free(r->accs);
}

static xhal_status report_gather(xhal_context *ctx, report *r)
{
    memset(r, 0, sizeof *r);
    xhal_status st = xhal_device_count(ctx, &r->n_dev);
    if (st != XHAL_OK) return st;
    size_t n = (size_t)r->n_dev;
    r->devs = calloc(n ? n : 1, sizeof *r->devs);
    r->specs = calloc(n ? n : 1, sizeof *r->specs);
    r->locs = calloc(n ? n : 1, sizeof *r->locs);
    r->links = calloc(n ? n * n : 1, sizeof *r->links);
    r->direct = calloc(n ? n * n : 1, sizeof *r->direct);
    if (!r->devs || !r->specs || !r->locs || !r->links || !r->direct)
        return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "xhal_topology_render: out of host memory");
    for (int i = 0; i < r->n_dev; i++) {
        st = xhal_device_get(ctx, i, &r->devs[i]);
        if (st != XHAL_OK) return st;
        snprintf(r->specs[i], sizeof r->specs[i], "%s", r->devs[i]->spec);
    }
    xhal_status why;
    r->topo = hal_context_topology(ctx, &why);
    if (r->topo == NULL) {
        hal_error_copy(r->reason, sizeof r->reason);
        return XHAL_OK;
    }
    for (int i = 0; i < r->n_dev; i++) {
        st = hal_topo_device_place(r->topo, r->devs[i], &r->locs[i], NULL, 0);
        if (st != XHAL_OK) return st;
    }
    for (int i = 0; i < r->n_dev; i++)
        for (int j = 0; j < r->n_dev; j++) {
            xhal_link l = XHAL_LINK_UNKNOWN;
            st = hal_topo_devices_link(r->topo, r->devs[i], r->devs[j], &l);
            if (st != XHAL_OK) return st;
            r->links[(size_t)i * n + (size_t)j] = l;
            st = hal_topo_devices_direct(r->topo, r->devs[i], r->devs[j], &r->direct[(size_t)i * n + (size_t)j]);
            if (st != XHAL_OK) return st;
        }
    r->n_acc = hal_topology_accelerators(r->topo, NULL, 0);
    if (r->n_acc > 0) {
        r->accs = calloc((size_t)r->n_acc, sizeof *r->accs);
        if (r->accs == NULL) return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "xhal_topology_render: out of host memory");
        hal_topology_accelerators(r->topo, r->accs, r->n_acc);
        st = hal_topo_match_drivers(ctx, r->accs, r->n_acc);
        if (st != XHAL_OK) return st;
    }
    return XHAL_OK;
}

static int undriven_count(const report *r)
{
    int n = 0;
    for (int i = 0; i < r->n_acc; i++) n += r->accs[i].driven_by[0] == '\0';
    return n;
}

/* "0-1,4" from ascending ids. */
static void id_list(const int32_t *ids, int n, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < n && used < len; i++) {
        int j = i;
        while (j + 1 < n && ids[j + 1] == ids[j] + 1) j++;
        int w = (j > i) ? snprintf(out + used, len - used, "%s%d-%d", used ? "," : "", ids[i], ids[j])
                        : snprintf(out + used, len - used, "%s%d", used ? "," : "", ids[i]);
        if (w < 0) break;
        used += (size_t)w;
        i = j;
    }
}

/* ------------------------------------------------------------------------- */
/* Text                                                                       */
/* ------------------------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) HAL_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int w = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? room : 0, fmt, ap);
        va_end(ap);
        if (w < 0) {
            b->oom = 1;
            return;
        }
        if (b->p != NULL && (size_t)w < room) {
            b->len += (size_t)w;
            return;
        }
        size_t ncap = b->cap ? b->cap * 2 : 1024;
        while (ncap < b->len + (size_t)w + 1) ncap *= 2;
        char *np = realloc(b->p, ncap);
        if (np == NULL) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
}

static void format_bytes(unsigned long long bytes, char *out, size_t len)
{
    const double gib = 1024.0 * 1024.0 * 1024.0;
    if ((double)bytes >= gib)
        snprintf(out, len, "%.1f GiB", (double)bytes / gib);
    else
        snprintf(out, len, "%.1f MiB", (double)bytes / (1024.0 * 1024.0));
}

static void render_text(const report *r, sbuf *b)
{
    if (r->topo == NULL) {
        sb_printf(b, "Topology: unavailable: %s\n", r->reason);
        return;
    }
    int packages, numa, cores, pus;
    hal_topology_counts(r->topo, &packages, &numa, &cores, &pus);
    sb_printf(b, "Topology: %s%s\n", hal_topology_source(r->topo),
              hal_topology_is_this_system(r->topo) ? "" : " (not this machine)");
    sb_printf(b, "Machine: %d package%s, %d NUMA node%s, %d core%s, %d PU%s\n", packages, packages == 1 ? "" : "s",
              numa, numa == 1 ? "" : "s", cores, cores == 1 ? "" : "s", pus, pus == 1 ? "" : "s");
    for (int i = 0; i < numa; i++) {
        int id;
        char cpus[XHAL_TOPO_CPUSET_LEN], mem[32];
        unsigned long long bytes;
        if (hal_topology_numa_info(r->topo, i, &id, cpus, sizeof cpus, &bytes) != 0) continue;
        format_bytes(bytes, mem, sizeof mem);
        sb_printf(b, "  NUMA node %d: CPUs %s, memory %s\n", id, cpus, mem);
    }

    sb_printf(b, "\nDevices (%d):\n", r->n_dev);
    if (r->n_dev > 0) {
        int w = 6; /* "NVLINK" */
        for (int i = 0; i < r->n_dev; i++) {
            int l = (int)strlen(r->specs[i]);
            if (l > w) w = l;
        }
        /* Affinity columns as wide as their longest entry. */
        char(*nodes)[256] = calloc((size_t)r->n_dev, sizeof *nodes);
        if (nodes == NULL) {
            b->oom = 1;
            return;
        }
        int wn = (int)strlen("NUMA Affinity"), wc = (int)strlen("CPU Affinity");
        for (int i = 0; i < r->n_dev; i++) {
            const xhal_locality *loc = &r->locs[i];
            snprintf(nodes[i], sizeof nodes[i], "N/A");
            if (loc->known) id_list(loc->numa_nodes, loc->numa_count, nodes[i], sizeof nodes[i]);
            int ln = (int)strlen(nodes[i]), lc = loc->known ? (int)strlen(loc->cpuset) : 3;
            wn = ln > wn ? ln : wn;
            wc = lc > wc ? lc : wc;
        }
        sb_printf(b, "%-*s", w + 2, "");
        for (int j = 0; j < r->n_dev; j++) sb_printf(b, "%-*s", w + 2, r->specs[j]);
        sb_printf(b, "%-*s%-*s%s\n", wn + 2, "NUMA Affinity", wc + 2, "CPU Affinity", "PCI");
        for (int i = 0; i < r->n_dev; i++) {
            sb_printf(b, "%-*s", w + 2, r->specs[i]);
            for (int j = 0; j < r->n_dev; j++) {
                xhal_link l = r->links[(size_t)i * (size_t)r->n_dev + (size_t)j];
                const xhal_direct_link *dl = &r->direct[(size_t)i * (size_t)r->n_dev + (size_t)j];
                const char *cell = l == XHAL_LINK_SELF ? "X" : l == XHAL_LINK_UNKNOWN ? "N/A" : xhal_link_name(l);
                if (l != XHAL_LINK_SELF && dl->kind != XHAL_DIRECT_NONE) cell = xhal_direct_kind_name(dl->kind);
                sb_printf(b, "%-*s", w + 2, cell);
            }
            const xhal_locality *loc = &r->locs[i];
            sb_printf(b, "%-*s%-*s%s\n", wn + 2, nodes[i], wc + 2, loc->known ? loc->cpuset : "N/A",
                      loc->pci_bus_id[0] ? loc->pci_bus_id : (loc->whole_machine ? "(host)" : "-"));
        }
        free(nodes);
        sb_printf(b, "\nLegend:\n"
                     "  X    = Self\n"
                     "  NVLINK = Direct NVLink between the devices (hwloc's NVLinkBandwidth matrix; see below)\n"
                     "  XGMI = Direct AMD xGMI link between the devices (hwloc's XGMIBandwidth/XGMIHops; see below)\n"
                     "  SYS  = Connection traversing PCIe as well as the interconnect between NUMA nodes\n"
                     "  NODE = Connection traversing PCIe and the interconnect between host bridges of one NUMA node\n"
                     "  PHB  = Connection traversing PCIe and a PCIe host bridge\n"
                     "  PXB  = Connection traversing multiple PCIe bridges (without a host bridge)\n"
                     "  PIX  = Connection traversing at most a single PCIe bridge\n"
                     "  N/A  = Not placed: no PCI bus id, or a bus id the topology does not have\n");
        sb_printf(b, "\nDirect links (nearer than any PCI path; communicator rings use them first):\n");
        int any = 0;
        for (int i = 0; i < r->n_dev; i++)
            for (int j = i + 1; j < r->n_dev; j++) {
                const xhal_direct_link *dl = &r->direct[(size_t)i * (size_t)r->n_dev + (size_t)j];
                if (dl->kind == XHAL_DIRECT_NONE) continue;
                sb_printf(b, "  %-*s %-*s %-6s", w, r->specs[i], w, r->specs[j], xhal_direct_kind_name(dl->kind));
                if (dl->bandwidth_mbs)
                    sb_printf(b, " %llu MB/s", (unsigned long long)dl->bandwidth_mbs);
                else
                    sb_printf(b, " bandwidth not reported");
                if (dl->hops) sb_printf(b, ", %u hop%s", dl->hops, dl->hops == 1 ? "" : "s");
                sb_printf(b, "\n");
                any = 1;
            }
        if (!any) sb_printf(b, "  none between these devices\n");
    }
    {
        const char *note = hal_topology_links_note(r->topo);
        sb_printf(b, "NVLink/xGMI matrices: %s\n", note[0] ? note : "none in this topology");
    }

    sb_printf(b, "\nPCI accelerators (%d):\n", r->n_acc);
    int wv = 6, wa = 4, wcpu = 4;
    for (int i = 0; i < r->n_acc; i++) {
        const xhal_pci_accelerator *a = &r->accs[i];
        char nodes[256];
        id_list(a->locality.numa_nodes, a->locality.numa_count, nodes, sizeof nodes);
        int lv = (int)strlen(a->vendor), la = (int)strlen(nodes), lc = (int)strlen(a->locality.cpuset);
        wv = lv > wv ? lv : wv;
        wa = la > wa ? la : wa;
        wcpu = lc > wcpu ? lc : wcpu;
    }
    for (int i = 0; i < r->n_acc; i++) {
        const xhal_pci_accelerator *a = &r->accs[i];
        char nodes[256];
        id_list(a->locality.numa_nodes, a->locality.numa_count, nodes, sizeof nodes);
        sb_printf(b, "  %s  %-*s [%04x:%04x] class %04x  NUMA %-*s CPUs %-*s %s%s%s%s\n", a->pci_bus_id, wv, a->vendor,
                  a->vendor_id, a->device_id, a->class_id, wa + 1, nodes, wcpu + 1, a->locality.cpuset,
                  a->driven_by[0] ? "driven by " : "not driven by xhal", a->driven_by, a->device_name[0] ? "  " : "",
                  a->device_name);
    }
    int und = undriven_count(r);
    if (und > 0) {
        sb_printf(b, "%d accelerator%s on PCI %s not driven by any loaded xhal backend:", und, und == 1 ? "" : "s",
                  und == 1 ? "is" : "are");
        int k = 0;
        for (int i = 0; i < r->n_acc; i++)
            if (r->accs[i].driven_by[0] == '\0') {
                const xhal_pci_accelerator *a = &r->accs[i];
                if (strcmp(a->vendor, "unknown") == 0)
                    sb_printf(b, "%s %s (vendor 0x%04x)", k++ ? "," : "", a->pci_bus_id, a->vendor_id);
                else
                    sb_printf(b, "%s %s (%s)", k++ ? "," : "", a->pci_bus_id, a->vendor);
            }
        sb_printf(b, "\n");
    }
}

/* ------------------------------------------------------------------------- */
/* JSON                                                                       */
/* ------------------------------------------------------------------------- */

static cJSON *int_array(const int32_t *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a != NULL && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

static cJSON *hex_string(unsigned v)
{
    char s[16];
    snprintf(s, sizeof s, "0x%04x", v);
    return cJSON_CreateString(s);
}

static cJSON *render_json(const report *r)
{
    cJSON *root = cJSON_CreateObject();
    if (root == NULL) return NULL;
    cJSON_AddBoolToObject(root, "available", r->topo != NULL);
    if (r->topo == NULL) {
        cJSON_AddStringToObject(root, "reason", r->reason);
        return root;
    }
    cJSON_AddStringToObject(root, "source", hal_topology_source(r->topo));
    cJSON_AddBoolToObject(root, "this_system", hal_topology_is_this_system(r->topo));
    cJSON_AddStringToObject(root, "direct_links_note", hal_topology_links_note(r->topo));

    int packages, numa, cores, pus;
    hal_topology_counts(r->topo, &packages, &numa, &cores, &pus);
    cJSON *m = cJSON_AddObjectToObject(root, "machine");
    cJSON_AddNumberToObject(m, "packages", packages);
    cJSON_AddNumberToObject(m, "numa_nodes", numa);
    cJSON_AddNumberToObject(m, "cores", cores);
    cJSON_AddNumberToObject(m, "pus", pus);
    cJSON *nodes = cJSON_AddArrayToObject(m, "numa");
    for (int i = 0; i < numa; i++) {
        int id;
        char cpus[XHAL_TOPO_CPUSET_LEN];
        unsigned long long bytes;
        if (hal_topology_numa_info(r->topo, i, &id, cpus, sizeof cpus, &bytes) != 0) continue;
        cJSON *n = cJSON_CreateObject();
        cJSON_AddNumberToObject(n, "id", id);
        cJSON_AddStringToObject(n, "cpus", cpus);
        cJSON_AddNumberToObject(n, "memory_bytes", (double)bytes);
        cJSON_AddItemToArray(nodes, n);
    }

    cJSON *devs = cJSON_AddArrayToObject(root, "devices");
    for (int i = 0; i < r->n_dev; i++) {
        const xhal_locality *loc = &r->locs[i];
        cJSON *d = cJSON_CreateObject();
        cJSON_AddStringToObject(d, "spec", r->specs[i]);
        cJSON_AddStringToObject(d, "pci_bus_id", loc->pci_bus_id);
        cJSON_AddBoolToObject(d, "known", loc->known);
        cJSON_AddBoolToObject(d, "whole_machine", loc->whole_machine);
        cJSON_AddItemToObject(d, "numa_nodes", int_array(loc->numa_nodes, loc->numa_count));
        cJSON_AddStringToObject(d, "cpus", loc->cpuset);
        cJSON *links = cJSON_AddObjectToObject(d, "links");
        for (int j = 0; j < r->n_dev; j++)
            cJSON_AddStringToObject(links, r->specs[j],
                                    xhal_link_name(r->links[(size_t)i * (size_t)r->n_dev + (size_t)j]));
        cJSON *direct = cJSON_AddObjectToObject(d, "direct_links");
        for (int j = 0; j < r->n_dev; j++) {
            const xhal_direct_link *dl = &r->direct[(size_t)i * (size_t)r->n_dev + (size_t)j];
            if (dl->kind == XHAL_DIRECT_NONE) continue;
            cJSON *o = cJSON_AddObjectToObject(direct, r->specs[j]);
            cJSON_AddStringToObject(o, "kind", xhal_direct_kind_name(dl->kind));
            cJSON_AddNumberToObject(o, "bandwidth_mbs", (double)dl->bandwidth_mbs);
            cJSON_AddNumberToObject(o, "hops", dl->hops);
        }
        cJSON_AddItemToArray(devs, d);
    }

    cJSON *accs = cJSON_AddArrayToObject(root, "accelerators");
    cJSON *undriven = cJSON_CreateArray();
    for (int i = 0; i < r->n_acc; i++) {
        const xhal_pci_accelerator *a = &r->accs[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "pci_bus_id", a->pci_bus_id);
        cJSON_AddStringToObject(o, "vendor", a->vendor);
        cJSON_AddItemToObject(o, "vendor_id", hex_string(a->vendor_id));
        cJSON_AddItemToObject(o, "device_id", hex_string(a->device_id));
        cJSON_AddItemToObject(o, "class_id", hex_string(a->class_id));
        cJSON_AddStringToObject(o, "device_name", a->device_name);
        cJSON_AddItemToObject(o, "numa_nodes", int_array(a->locality.numa_nodes, a->locality.numa_count));
        cJSON_AddStringToObject(o, "cpus", a->locality.cpuset);
        if (a->driven_by[0]) {
            cJSON_AddStringToObject(o, "driven_by", a->driven_by);
        } else {
            cJSON_AddNullToObject(o, "driven_by");
            cJSON_AddItemToArray(undriven, cJSON_CreateString(a->pci_bus_id));
        }
        cJSON_AddItemToArray(accs, o);
    }
    cJSON_AddItemToObject(root, "undriven_accelerators", undriven);
    return root;
}

/* ------------------------------------------------------------------------- */

XHAL_API xhal_status xhal_topology_render(xhal_context *ctx, uint32_t flags, char **out)
{
    if (ctx == NULL) return hal_set_error(XHAL_ERROR_INVALID_HANDLE, "xhal_topology_render: context is NULL");
    if (!hal_context_live(ctx))
        return hal_set_error(XHAL_ERROR_INVALID_HANDLE, "xhal_topology_render: context %p is not a live context",
                             (void *)ctx);
    if (out == NULL) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_topology_render: out is NULL");
    if (flags & ~(uint32_t)XHAL_TOPOLOGY_RENDER_JSON)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_topology_render: unknown flags 0x%x", (unsigned)flags);
    report r;
    xhal_status st = report_gather(ctx, &r);
    if (st != XHAL_OK) {
        report_free(&r);
        return st;
    }
    char *text = NULL;
    if (flags & XHAL_TOPOLOGY_RENDER_JSON) {
        cJSON *root = render_json(&r);
        char *printed = root ? cJSON_Print(root) : NULL;
        cJSON_Delete(root);
        if (printed != NULL) {
            /* Our own copy: the caller frees with free() whatever hooks cJSON uses. */
            size_t l = strlen(printed);
            text = malloc(l + 1);
            if (text != NULL) memcpy(text, printed, l + 1);
            cJSON_free(printed);
        }
    } else {
        sbuf b = {0};
        render_text(&r, &b);
        if (b.oom || b.p == NULL)
            free(b.p);
        else
            text = b.p;
    }
    report_free(&r);
    if (text == NULL) return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "xhal_topology_render: out of host memory");
    *out = text;
    hal_clear_error();
    return XHAL_OK;
}

XHAL_API xhal_status xhal_topology_render_free(char *s)
{
    free(s);
    return XHAL_OK;
}
