/* xhal-info - list backends (with status and reason) and devices with their info. */
#define _GNU_SOURCE /* xhal_probe.h: fork, readlink, clock_gettime, strsignal */
#include "xhal/xhal.h"
#if __has_include("xhal/xhal_topology.h")
#include "xhal/xhal_topology.h"
#define XHAL_INFO_HAVE_TOPOLOGY 1
#endif

#include "xhal_probe.h"
#include "xhal_isoload.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: xhal-info [--json] [--topology] [--probe [--timeout S]] [--plugin-path DIRS]\n"
               "  Lists xhal's backends (loaded, or unavailable with the reason) and devices.\n"
               "  --json          print the same as JSON\n"
               "  --topology      also print the machine topology and device locality (hwloc), the collective\n"
               "                  engine each device pair would use and the ring order over the devices\n"
               "  --plugin-path   extra plugin folders, colon-separated (also: XHAL_PLUGIN_PATH)\n"
               "  --probe         run a small add on each device, each in a child process: OK, FAILED,\n"
               "                  CRASHED or TIMEOUT per device (exit status 1 if any is not OK); the\n"
               "                  plugins are loaded in a child first, a folder that crashes loading is\n"
               "                  left out and shown as CRASHED\n"
               "  --timeout S     seconds a probe may take (default 60)\n");
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void dtypes_str(uint32_t mask, char *buf, size_t len)
{
    size_t u = 0;
    buf[0] = '\0';
    for (int d = 1; d < XHAL_DTYPE_COUNT_; d++)
        if (mask & XHAL_DTYPE_BIT(d))
            u += (size_t)snprintf(buf + u, u < len ? len - u : 0, "%s%s", u ? "," : "", xhal_dtype_name((xhal_dtype)d));
}

static const struct {
    uint32_t bit;
    const char *name;
} caps[] = {
    {XHAL_CAP_F16_COMPUTE, "f16_compute"}, {XHAL_CAP_F64, "f64"},
    {XHAL_CAP_HOST_MEMORY, "host_memory"}, {XHAL_CAP_EVENT_TIMING, "event_timing"},
    {XHAL_CAP_PEER_COPY, "peer_copy"},     {XHAL_CAP_CUSTOM_KERNELS, "custom_kernels"},
    {XHAL_CAP_PINNED_HOST, "pinned_host"}, {XHAL_CAP_MATMUL_I8, "matmul_i8"},
};

static void caps_str(uint32_t mask, char *buf, size_t len)
{
    size_t u = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++)
        if (mask & caps[i].bit)
            u += (size_t)snprintf(buf + u, u < len ? len - u : 0, "%s%s", u ? "," : "", caps[i].name);
}

/* --topology: the collective engine every device pair would use, whether MPI is available,
 * and the ring order over every device (xhal_comm.h). json: one object, else text. */
static void print_engines(xhal_context *ctx, int nd, int json)
{
    char name[32], why[512];
    int avail = 0;
    if (json)
        printf(",\n  \"collectives\": {\"pairs\": [");
    else
        printf("\nCollective engines (what a communicator of each pair would use):\n");
    int first = 1;
    for (int i = 0; i < nd; i++)
        for (int j = i + 1; j < nd; j++) {
            xhal_device *a, *b;
            xhal_device_info ia, ib;
            ia.struct_size = ib.struct_size = sizeof ia;
            if (xhal_device_get(ctx, i, &a) != XHAL_OK || xhal_device_get(ctx, j, &b) != XHAL_OK ||
                xhal_device_get_info(a, &ia) != XHAL_OK || xhal_device_get_info(b, &ib) != XHAL_OK)
                continue;
            if (xhal_comm_engine_query(ctx, a, b, NULL, name, sizeof name, why, sizeof why, &avail) != XHAL_OK) {
                snprintf(name, sizeof name, "?");
                snprintf(why, sizeof why, "%s", xhal_last_error());
            }
            if (json) {
                printf("%s\n    {\"a\": ", first ? "" : ",");
                json_str(ia.spec);
                printf(", \"b\": ");
                json_str(ib.spec);
                printf(", \"engine\": ");
                json_str(name);
                printf(", \"reason\": ");
                json_str(why);
                printf("}");
            } else {
                printf("  %-10s %-10s %-6s %s\n", ia.spec, ib.spec, name, why);
            }
            first = 0;
        }
    if (!json && first) printf("  (fewer than two devices)\n");
    xhal_comm_engine_query(ctx, NULL, NULL, "mpi", name, sizeof name, why, sizeof why, &avail);
    if (json) {
        printf("\n  ], \"mpi\": {\"available\": %s, \"detail\": ", avail ? "true" : "false");
        json_str(why);
        printf("}");
    } else {
        printf("  across processes: mpi %s: %s\n", avail ? "available" : "unavailable", why);
    }
    /* the ring the topology suggests over every device */
    xhal_device *devs[XHAL_COMM_MAX_LOCAL];
    int n = nd < XHAL_COMM_MAX_LOCAL ? nd : XHAL_COMM_MAX_LOCAL;
    for (int i = 0; i < n; i++)
        if (xhal_device_get(ctx, i, &devs[i]) != XHAL_OK) n = i;
    xhal_comm *c = NULL;
    xhal_comm_info ci;
    memset(&ci, 0, sizeof ci);
    ci.struct_size = sizeof ci;
    if (n >= 2 && xhal_comm_create(ctx, devs, n, "host", &c) == XHAL_OK && xhal_comm_get_info(c, &ci) == XHAL_OK) {
        if (json)
            printf(", \"ring\": [");
        else
            printf("  ring order over every device (nearest next: NVLink/xGMI links, then hwloc PCI/NUMA distance):");
        for (int k = 0; k < n; k++) {
            xhal_device_info di;
            di.struct_size = sizeof di;
            if (xhal_device_get_info(devs[ci.ring[k]], &di) != XHAL_OK) continue;
            if (json) {
                printf("%s", k ? ", " : "");
                json_str(di.spec);
            } else {
                printf("%s%s", k ? " -> " : " ", di.spec);
            }
        }
        printf(json ? "]" : "\n");
    }
    xhal_comm_destroy(c);
    if (json) printf("}");
}

int main(int argc, char **argv)
{
    int json = 0, topo = 0, probe = 0;
    const char *probe_one = NULL;
    double probe_timeout = 60;
    xhal_context_options opts;
    xhal_context_options_init(&opts);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--topology"))
            topo = 1;
        else if (!strcmp(argv[i], "--plugin-path") && i + 1 < argc)
            opts.plugin_path = argv[++i];
        else if (!strcmp(argv[i], "--probe"))
            probe = 1;
        else if (!strcmp(argv[i], "--probe-one") && i + 1 < argc)
            probe_one = argv[++i]; /* internal */
        else if (!strcmp(argv[i], "--list-devices-child") && i + 1 < argc)
            xi_list_fd = atoi(argv[++i]); /* internal */
        else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
            char *e = NULL;
            probe_timeout = strtod(argv[++i], &e);
            if (*e || !(probe_timeout > 0)) {
                fprintf(stderr, "xhal-info: --timeout needs a positive number\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "xhal-info: unknown argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (probe_one) return xp_probe_one(&opts, probe_one);
    if (probe && json) {
        fprintf(stderr, "xhal-info: --probe prints text only (not with --json)\n");
        return 2;
    }
    if (xi_list_fd >= 0) {
        xi_extra_path = opts.plugin_path;
        xi_list_child(); /* does not return */
    }
    /* --probe: plugins are loaded in a child first (xhal_isoload.h); folders that crash, hang
     * or exit while loading are left out and named below */
    xi_load_failure *lfails = NULL;
    int n_lfails = 0;
    if (probe) {
        char msg[1024];
        xi_tool = "xhal-info";
        xi_extra_path = opts.plugin_path;
        xi_timeout = probe_timeout;
        if (xi_isolated_loading(argv, &lfails, &n_lfails, msg, sizeof msg) != 0) {
            fprintf(stderr, "xhal-info: %s\n", msg);
            return 1;
        }
    }
    xhal_context *ctx;
    xhal_status st = xhal_context_create(&opts, &ctx);
    if (st != XHAL_OK) {
        fprintf(stderr, "xhal-info: %s: %s\n", xhal_status_name(st), xhal_last_error());
        free(lfails);
        return 1;
    }
    int nb = 0, nd = 0;
    xhal_backend_count(ctx, &nb);
    xhal_device_count(ctx, &nd);
    char dts[128], cps[160];
    if (json) {
        printf("{\n  \"xhal_version\": ");
        json_str(xhal_version());
        printf(",\n  \"backends\": [");
        for (int i = 0; i < nb; i++) {
            xhal_backend_info b;
            xhal_backend_get_info(ctx, i, &b);
            printf("%s\n    {\"name\": ", i ? "," : "");
            json_str(b.name);
            printf(", \"status\": \"%s\", \"version\": ", b.state == XHAL_BACKEND_LOADED ? "loaded" : "unavailable");
            json_str(b.version);
            printf(", \"abi_version\": %u, \"devices\": %d, \"path\": ", b.abi_version, b.device_count);
            json_str(b.path);
            printf(", \"reason\": ");
            json_str(b.reason);
            printf("}");
        }
        printf("\n  ],\n  \"devices\": [");
        for (int i = 0; i < nd; i++) {
            xhal_device *d;
            xhal_device_info di;
            if (xhal_device_get(ctx, i, &d) != XHAL_OK || xhal_device_get_info(d, &di) != XHAL_OK) continue;
            dtypes_str(di.dtypes, dts, sizeof dts);
            caps_str(di.caps, cps, sizeof cps);
            printf("%s\n    {\"spec\": ", i ? "," : "");
            json_str(di.spec);
            printf(", \"backend\": ");
            json_str(di.backend);
            printf(", \"name\": ");
            json_str(di.name);
            printf(", \"vendor\": ");
            json_str(di.vendor);
            printf(", \"family\": ");
            json_str(di.family);
            printf(", \"arch\": ");
            json_str(di.arch);
            printf(", \"driver_version\": ");
            json_str(di.driver_version);
            printf(", \"pci_bus_id\": ");
            json_str(di.pci_bus_id);
            printf(", \"total_memory\": %" PRIu64 ", \"free_memory\": %" PRIu64 ", \"compute_units\": %d, \"dtypes\": ",
                   di.total_memory, di.free_memory, di.compute_units);
            json_str(dts);
            printf(", \"caps\": ");
            json_str(cps);
            printf("}");
        }
        printf("\n  ]");
#ifdef XHAL_INFO_HAVE_TOPOLOGY
        if (topo) {
            char *t = NULL;
            if (xhal_topology_render(ctx, XHAL_TOPOLOGY_RENDER_JSON, &t) == XHAL_OK && t) {
                printf(",\n  \"topology\": %s", t);
            } else {
                printf(",\n  \"topology\": {\"available\": false, \"reason\": ");
                json_str(xhal_last_error());
                printf("}");
            }
            xhal_topology_render_free(t);
            print_engines(ctx, nd, 1);
        }
#endif
        printf("\n}\n");
    } else {
        printf("xhal %s\n\nBackends (%d):\n", xhal_version(), nb);
        for (int i = 0; i < nb; i++) {
            xhal_backend_info b;
            xhal_backend_get_info(ctx, i, &b);
            if (b.state == XHAL_BACKEND_LOADED)
                printf("  %-10s loaded       %d device(s), plugin %s, ABI %u (%s)\n", b.name, b.device_count, b.version,
                       b.abi_version, b.path);
            else
                printf("  %-10s unavailable  %s (%s)\n", b.name, b.reason, b.path);
        }
        if (nb == 0) printf("  none found: set XHAL_PLUGIN_PATH to a folder holding libxhal-*.so plugins\n");
        printf("\nDevices (%d):\n", nd);
        for (int i = 0; i < nd; i++) {
            xhal_device *d;
            xhal_device_info di;
            if (xhal_device_get(ctx, i, &d) != XHAL_OK || xhal_device_get_info(d, &di) != XHAL_OK) {
                printf("  device %d: %s\n", i, xhal_last_error());
                continue;
            }
            dtypes_str(di.dtypes, dts, sizeof dts);
            caps_str(di.caps, cps, sizeof cps);
            printf("  %s  %s\n", di.spec, di.name);
            printf("      vendor %s, family %s, arch %s, driver %s\n", di.vendor, di.family, di.arch,
                   di.driver_version);
            printf("      memory %.1f GiB total, %.1f GiB free, %d compute units%s%s\n",
                   (double)di.total_memory / (1024.0 * 1024 * 1024), (double)di.free_memory / (1024.0 * 1024 * 1024),
                   di.compute_units, di.pci_bus_id[0] ? ", PCI " : "", di.pci_bus_id);
            printf("      dtypes %s\n      caps %s\n", dts, cps[0] ? cps : "-");
        }
#ifdef XHAL_INFO_HAVE_TOPOLOGY
        if (topo) {
            char *t = NULL;
            printf("\n");
            if (xhal_topology_render(ctx, 0, &t) == XHAL_OK && t)
                fputs(t, stdout);
            else
                printf("Topology unavailable: %s\n", xhal_last_error());
            xhal_topology_render_free(t);
            print_engines(ctx, nd, 0);
        }
#endif
    }
#ifndef XHAL_INFO_HAVE_TOPOLOGY
    if (topo) fprintf(stderr, "xhal-info: this build has no topology support\n");
#endif
    int probe_bad = probe ? xp_probe_all(ctx, opts.plugin_path, probe_timeout, argv) : 0;
    for (int i = 0; i < n_lfails; i++) printf("  %-12s %s: %s\n", lfails[i].spec, lfails[i].what, lfails[i].why);
    probe_bad |= n_lfails > 0;
    free(lfails);
    xhal_context_destroy(ctx);
    return probe_bad ? 1 : 0;
}
