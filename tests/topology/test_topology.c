/* test_topology.c - topology from hwloc: fixtures (XHAL_TOPOLOGY_XML), a corrupt or
 * missing file, and the live machine. One scenario per process (argv[1]), because the
 * topology is read from the environment when a context is created.
 *
 * Devices come from the topotest backend (tests/topology/topotest_backend.c), whose PCI
 * bus ids are listed in XHAL_TOPOTEST_DEVICES. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* CPU_COUNT, sched_getaffinity */
#endif
#include "xtest.h"
#include "xhal/xhal_topology.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* xtest.h's CHECK_OK passes CHECK_STATUS a NULL substring, which gcc -O2 flags
 * (-Wnonnull in strstr, even behind the NULL test), and "" draws -Wformat-overflow.
 * These two check the status alone. */
#undef CHECK_OK
#define CHECK_CODE(expr, st)                                                                        \
    do {                                                                                            \
        xtest_checks_++;                                                                            \
        xhal_status c_ = (expr);                                                                    \
        if (c_ != (st)) {                                                                           \
            xtest_failures_++;                                                                      \
            fprintf(stderr, "%s:%d: %s returned %s (%s), expected %s\n", __FILE__, __LINE__, #expr, \
                    xhal_status_name(c_), xhal_last_error(), xhal_status_name(st));                 \
        }                                                                                           \
    } while (0)
#define CHECK_OK(expr) CHECK_CODE(expr, XHAL_OK)

#ifndef TOPOTEST_PLUGIN_DIR
#error "TOPOTEST_PLUGIN_DIR must be defined by the build"
#endif
#ifndef TOPOTEST_DATA_DIR
#error "TOPOTEST_DATA_DIR must be defined by the build"
#endif
#ifndef TOPOTEST_CORE_PLUGIN_DIR
#define TOPOTEST_CORE_PLUGIN_DIR ""
#endif

static xhal_context *open_context(const char *xml, const char *devices, int with_core_plugins)
{
    setenv("XHAL_TOPOLOGY_XML", xml ? xml : "", 1);
    setenv("XHAL_TOPOTEST_DEVICES", devices, 1);
    xhal_context_options o;
    xhal_context_options_init(&o);
    o.flags = XHAL_CONTEXT_NO_DEFAULT_PLUGINS | XHAL_CONTEXT_IGNORE_ENV_PATH;
    char path[2048];
    const char *core_dir = TOPOTEST_CORE_PLUGIN_DIR;
    snprintf(path, sizeof path, "%s%s%s", TOPOTEST_PLUGIN_DIR, with_core_plugins && core_dir[0] ? ":" : "",
             with_core_plugins ? core_dir : "");
    o.plugin_path = path;
    xhal_context *ctx = NULL;
    CHECK_OK(xhal_context_create(&o, &ctx));
    return ctx;
}

static xhal_device *dev_of(xhal_context *ctx, int i)
{
    char spec[32];
    snprintf(spec, sizeof spec, "topotest:%d", i);
    xhal_device *d = NULL;
    CHECK_OK(xhal_device_find(ctx, spec, &d));
    return d;
}

static void check_locality(xhal_device *d, int known, const char *bus, const char *cpus, int n_numa, const int *numa)
{
    xhal_locality loc;
    memset(&loc, 0x5a, sizeof loc);
    CHECK_OK(xhal_device_locality(d, &loc));
    CHECK(loc.known == known);
    CHECK(strcmp(loc.pci_bus_id, bus) == 0);
    if (strcmp(loc.pci_bus_id, bus) != 0) fprintf(stderr, "  bus id '%s', expected '%s'\n", loc.pci_bus_id, bus);
    CHECK(strcmp(loc.cpuset, cpus) == 0);
    if (strcmp(loc.cpuset, cpus) != 0) fprintf(stderr, "  cpuset '%s', expected '%s'\n", loc.cpuset, cpus);
    CHECK(loc.numa_count == n_numa);
    for (int i = 0; i < n_numa && i < loc.numa_count; i++) CHECK(loc.numa_nodes[i] == numa[i]);
}

/* Plain device work, to show the context works whatever the topology did. */
static void check_device_works(xhal_device *d)
{
    xhal_buffer *buf = NULL;
    xhal_stream *s = NULL;
    CHECK_OK(xhal_buffer_create(d, 64, &buf));
    CHECK_OK(xhal_stream_create(d, &s));
    unsigned char in[64], out[64];
    for (int i = 0; i < 64; i++) in[i] = (unsigned char)(i * 7 + 1);
    memset(out, 0, sizeof out);
    CHECK_OK(xhal_buffer_write(s, buf, 0, in, sizeof in));
    CHECK_OK(xhal_buffer_read(s, buf, 0, out, sizeof out));
    CHECK(memcmp(in, out, sizeof in) == 0);
    CHECK_OK(xhal_stream_destroy(s));
    CHECK_OK(xhal_buffer_destroy(buf));
}

static char *render(xhal_context *ctx, uint32_t flags)
{
    char *s = NULL;
    CHECK_OK(xhal_topology_render(ctx, flags, &s));
    CHECK(s != NULL);
    return s;
}

/* ------------------------------------------------------------------------- */

typedef struct {
    xhal_device *dev;
    int failures;
} thread_arg;

static void *locality_thread(void *p)
{
    thread_arg *a = p;
    for (int i = 0; i < 300; i++) {
        xhal_locality loc;
        if (xhal_device_locality(a->dev, &loc) != XHAL_OK || strcmp(loc.cpuset, "0-3,8-11") != 0) a->failures++;
    }
    return NULL;
}

static void scenario_two_socket(void)
{
    xhal_context *ctx = open_context(TOPOTEST_DATA_DIR "/two-socket-8gpu.xml",
                                     "0000:05:00.0,0000:06:00.0,00000000:09:00.0,0000:11:00.0,"
                                     "0000:43:00.0,0000:53:00.0,0000:ee:00.0,host,none,zz:00.0",
                                     0);
    if (!ctx) return;
    int avail = -1;
    char reason[256] = "x";
    CHECK_OK(xhal_topology_available(ctx, &avail, reason, sizeof reason));
    CHECK(avail == 1);
    CHECK(reason[0] == '\0');

    int n = 0;
    CHECK_OK(xhal_device_count(ctx, &n));
    CHECK(n == 10);
    if (n != 10) return;
    xhal_device *d[10];
    for (int i = 0; i < 10; i++) d[i] = dev_of(ctx, i);

    static const int node0[] = {0}, node1[] = {1}, both[] = {0, 1};
    check_locality(d[0], 1, "0000:05:00.0", "0-3,8-11", 1, node0);
    check_locality(d[1], 1, "0000:06:00.0", "0-3,8-11", 1, node0);
    check_locality(d[2], 1, "0000:09:00.0", "0-3,8-11", 1, node0); /* CUDA-style id, normalized */
    check_locality(d[3], 1, "0000:11:00.0", "0-3,8-11", 1, node0);
    check_locality(d[4], 1, "0000:43:00.0", "4-7,12-15", 1, node1);
    check_locality(d[5], 1, "0000:53:00.0", "4-7,12-15", 1, node1);
    check_locality(d[6], 0, "0000:ee:00.0", "", 0, NULL); /* bus id not in the topology */
    check_locality(d[7], 1, "", "0-15", 2, both);         /* host device: whole machine */
    check_locality(d[8], 0, "", "", 0, NULL);             /* no bus id, not host memory */
    check_locality(d[9], 0, "", "", 0, NULL);             /* malformed bus id */
    xhal_locality loc;
    CHECK_OK(xhal_device_locality(d[7], &loc));
    CHECK(loc.whole_machine == 1);
    CHECK_OK(xhal_device_locality(d[0], &loc));
    CHECK(loc.whole_machine == 0);

    /* The link matrix. */
    enum {
        U = XHAL_LINK_UNKNOWN,
        X = XHAL_LINK_SELF,
        PIX = XHAL_LINK_PIX,
        PXB = XHAL_LINK_PXB,
        PHB = XHAL_LINK_PHB,
        NODE = XHAL_LINK_NODE,
        SYS = XHAL_LINK_SYS
    };
    static const int expect[8][8] = {
        /*        0    1    2    3    4     5     6  7 */
        /* 0 */ {X, PIX, PXB, PHB, SYS, SYS, U, U},
        /* 1 */ {PIX, X, PXB, PHB, SYS, SYS, U, U},
        /* 2 */ {PXB, PXB, X, PHB, SYS, SYS, U, U},
        /* 3 */ {PHB, PHB, PHB, X, SYS, SYS, U, U},
        /* 4 */ {SYS, SYS, SYS, SYS, X, NODE, U, U},
        /* 5 */ {SYS, SYS, SYS, SYS, NODE, X, U, U},
        /* 6 */ {U, U, U, U, U, U, X, U},
        /* 7 */ {U, U, U, U, U, U, U, X},
    };
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++) {
            xhal_link l = (xhal_link)-1;
            CHECK_OK(xhal_device_relation(d[i], d[j], &l));
            CHECK((int)l == expect[i][j]);
            if ((int)l != expect[i][j])
                fprintf(stderr, "  topotest:%d - topotest:%d is %s, expected %s\n", i, j, xhal_link_name(l),
                        xhal_link_name((xhal_link)expect[i][j]));
        }
    CHECK(strcmp(xhal_link_name(XHAL_LINK_PXB), "PXB") == 0);
    /* No distance matrices in this fixture: no direct link anywhere. */
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 8; j++) {
            xhal_direct_link dl = {.kind = -1};
            CHECK_OK(xhal_device_direct_link(d[i], d[j], &dl));
            CHECK(dl.kind == XHAL_DIRECT_NONE && dl.bandwidth_mbs == 0 && dl.hops == 0);
        }
    CHECK(strcmp(xhal_link_name((xhal_link)99), "UNKNOWN") == 0);

    /* A communicator's ring follows the links: from rank 0 (device 0) always the nearest
     * device not yet visited (PIX, then PXB, PHB, and only then across the sockets), ties by
     * rank. Ranks 0..5 are devices 0, 4, 3, 5, 1, 2. */
    {
        xhal_device *cd[6] = {d[0], d[4], d[3], d[5], d[1], d[2]};
        xhal_comm *comm = NULL;
        CHECK_OK(xhal_comm_create(ctx, cd, 6, NULL, &comm));
        xhal_comm_info ci;
        memset(&ci, 0, sizeof ci);
        ci.struct_size = sizeof ci;
        CHECK_OK(xhal_comm_get_info(comm, &ci));
        static const int ring[6] = {0, 4, 5, 2, 1, 3};
        for (int k = 0; k < 6; k++) CHECK(ci.ring[k] == ring[k]);
        CHECK(strcmp(ci.engine, "host") == 0 && strstr(ci.reason, "provides no collective library") != NULL);
        CHECK_OK(xhal_comm_destroy(comm));
    }

    /* Argument errors leave outputs alone. */
    CHECK_STATUS(xhal_device_locality(d[0], NULL), XHAL_ERROR_INVALID_ARGUMENT, "out is NULL");
    CHECK_STATUS(xhal_device_locality(NULL, &loc), XHAL_ERROR_INVALID_HANDLE, "xhal_device_locality");
    CHECK_CODE(xhal_device_relation(d[0], d[1], NULL), XHAL_ERROR_INVALID_ARGUMENT);
    CHECK_CODE(xhal_device_relation(d[0], NULL, &(xhal_link){0}), XHAL_ERROR_INVALID_HANDLE);
    CHECK_CODE(xhal_topology_available(ctx, NULL, NULL, 0), XHAL_ERROR_INVALID_ARGUMENT);
    CHECK_CODE(xhal_topology_available(NULL, &avail, NULL, 0), XHAL_ERROR_INVALID_HANDLE);

    /* Accelerators on PCI: 8 GPUs + one accelerator of an unlisted vendor. */
    int count = -1;
    CHECK_OK(xhal_topology_pci_accelerators(ctx, NULL, 0, &count));
    CHECK(count == 9);
    xhal_pci_accelerator acc[16];
    int count2 = -1;
    CHECK_OK(xhal_topology_pci_accelerators(ctx, acc, 16, &count2));
    CHECK(count2 == 9);
    static const struct {
        const char *bus, *vendor, *driven;
        unsigned vid, cls;
        int node;
    } want[9] = {
        {"0000:05:00.0", "NVIDIA", "topotest:0", 0x10de, 0x0302, 0},
        {"0000:06:00.0", "NVIDIA", "topotest:1", 0x10de, 0x0302, 0},
        {"0000:09:00.0", "NVIDIA", "topotest:2", 0x10de, 0x0302, 0},
        {"0000:0a:00.0", "NVIDIA", "", 0x10de, 0x0302, 0},
        {"0000:11:00.0", "unknown", "topotest:3", 0xcabc, 0x1200, 0},
        {"0000:43:00.0", "NVIDIA", "topotest:4", 0x10de, 0x0302, 1},
        {"0000:44:00.0", "NVIDIA", "", 0x10de, 0x0302, 1},
        {"0000:53:00.0", "NVIDIA", "topotest:5", 0x10de, 0x0302, 1},
        {"0000:54:00.0", "NVIDIA", "", 0x10de, 0x0302, 1},
    };
    for (int i = 0; i < 9 && i < count2; i++) {
        CHECK(strcmp(acc[i].pci_bus_id, want[i].bus) == 0);
        CHECK(strcmp(acc[i].vendor, want[i].vendor) == 0);
        CHECK(strcmp(acc[i].driven_by, want[i].driven) == 0);
        CHECK(acc[i].vendor_id == want[i].vid);
        CHECK(acc[i].class_id == want[i].cls);
        CHECK(acc[i].locality.known == 1);
        CHECK(acc[i].locality.numa_count == 1 && acc[i].locality.numa_nodes[0] == want[i].node);
        if (strcmp(acc[i].pci_bus_id, want[i].bus) != 0 || strcmp(acc[i].driven_by, want[i].driven) != 0)
            fprintf(stderr, "  accelerator %d: %s driven by '%s'\n", i, acc[i].pci_bus_id, acc[i].driven_by);
    }
    CHECK(strcmp(acc[0].device_name, "Fixture GPU 0") == 0);
    /* A short array gets the first entries and the full count. */
    xhal_pci_accelerator few[2];
    memset(few, 0, sizeof few);
    CHECK_OK(xhal_topology_pci_accelerators(ctx, few, 2, &count));
    CHECK(count == 9);
    CHECK(strcmp(few[1].pci_bus_id, "0000:06:00.0") == 0);
    CHECK_CODE(xhal_topology_pci_accelerators(ctx, NULL, 3, &count), XHAL_ERROR_INVALID_ARGUMENT);
    CHECK_CODE(xhal_topology_pci_accelerators(ctx, acc, -1, &count), XHAL_ERROR_INVALID_ARGUMENT);

    /* The XML does not describe this machine: binding is refused, memory still comes. */
    CHECK_STATUS(xhal_bind_thread_to_device(d[0]), XHAL_ERROR_UNSUPPORTED, "two-socket-8gpu.xml");
    CHECK_STATUS(xhal_bind_thread_to_device(d[6]), XHAL_ERROR_NOT_FOUND, "0000:ee:00.0");
    void *p = NULL;
    CHECK_OK(xhal_host_alloc_near(d[4], 3 * 4096 + 5, &p));
    CHECK(p != NULL);
    if (p) {
        memset(p, 0xab, 3 * 4096 + 5);
        CHECK(((unsigned char *)p)[3 * 4096 + 4] == 0xab);
    }
    CHECK_OK(xhal_host_free_near(p, 3 * 4096 + 5));
    CHECK_OK(xhal_host_free_near(NULL, 0));
    CHECK_STATUS(xhal_host_alloc_near(d[0], 0, &p), XHAL_ERROR_INVALID_ARGUMENT, "size is 0");
    CHECK_STATUS(xhal_host_free_near((void *)(uintptr_t)8, 16), XHAL_ERROR_INVALID_ARGUMENT, "page-aligned");

    /* The plugin's host services see the same topology (2 NUMA nodes, 8 cpus in node 0). */
    xhal_device_info info;
    CHECK_OK(xhal_device_get_info(d[0], &info));
    CHECK(strcmp(info.arch, "numa2-cpus8") == 0);
    if (strcmp(info.arch, "numa2-cpus8") != 0) fprintf(stderr, "  plugin sees '%s'\n", info.arch);
    CHECK(strcmp(info.family, "topotest-near-ok") == 0);
    CHECK_OK(xhal_device_get_info(d[6], &info)); /* unknown bus id: memory from anywhere */
    CHECK(strcmp(info.family, "topotest-near-ok") == 0);

    /* Many threads asking at once. */
    pthread_t th[4];
    thread_arg ta[4];
    for (int i = 0; i < 4; i++) {
        ta[i].dev = d[i % 3];
        ta[i].failures = 0;
        CHECK(pthread_create(&th[i], NULL, locality_thread, &ta[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK(ta[i].failures == 0);
    }

    /* Text report. */
    char *text = render(ctx, 0);
    if (text) {
        CHECK(strstr(text, "two-socket-8gpu.xml (not this machine)") != NULL);
        CHECK(strstr(text, "Machine: 2 packages, 2 NUMA nodes, 8 cores, 16 PUs") != NULL);
        CHECK(strstr(text, "NUMA node 0: CPUs 0-3,8-11, memory 64.0 GiB") != NULL);
        CHECK(strstr(text, "NUMA node 1: CPUs 4-7,12-15, memory 64.0 GiB") != NULL);
        CHECK(strstr(text, "3 accelerators on PCI are not driven by any loaded xhal backend: 0000:0a:00.0 "
                           "(NVIDIA), 0000:44:00.0 (NVIDIA), 0000:54:00.0 (NVIDIA)") != NULL);
        CHECK(strstr(text, "PXB") != NULL && strstr(text, "NODE") != NULL);
        CHECK(strstr(text, "NVLink/xGMI matrices: none in this topology") != NULL);
        if (getenv("TOPOTEST_VERBOSE")) fputs(text, stdout);
    }
    CHECK_OK(xhal_topology_render_free(text));
    CHECK_OK(xhal_topology_render_free(NULL));
    CHECK_STATUS(xhal_topology_render(ctx, 0x80, &text), XHAL_ERROR_INVALID_ARGUMENT, "flags");
    CHECK_CODE(xhal_topology_render(ctx, 0, NULL), XHAL_ERROR_INVALID_ARGUMENT);

    /* JSON report. */
    char *json = render(ctx, XHAL_TOPOLOGY_RENDER_JSON);
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    CHECK(root != NULL);
    if (root) {
        CHECK(cJSON_IsTrue(cJSON_GetObjectItem(root, "available")));
        cJSON *m = cJSON_GetObjectItem(root, "machine");
        CHECK(cJSON_GetObjectItem(m, "packages") && cJSON_GetObjectItem(m, "packages")->valueint == 2);
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(m, "numa")) == 2);
        cJSON *devs = cJSON_GetObjectItem(root, "devices");
        CHECK(cJSON_GetArraySize(devs) == 10);
        cJSON *d0 = cJSON_GetArrayItem(devs, 0);
        cJSON *links = cJSON_GetObjectItem(d0, "links");
        cJSON *l01 = cJSON_GetObjectItem(links, "topotest:1");
        CHECK(cJSON_IsString(l01) && strcmp(l01->valuestring, "PIX") == 0);
        cJSON *cpus = cJSON_GetObjectItem(d0, "cpus");
        CHECK(cJSON_IsString(cpus) && strcmp(cpus->valuestring, "0-3,8-11") == 0);
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(root, "accelerators")) == 9);
        cJSON *und = cJSON_GetObjectItem(root, "undriven_accelerators");
        CHECK(cJSON_GetArraySize(und) == 3);
        CHECK(cJSON_IsString(cJSON_GetArrayItem(und, 1)) &&
              strcmp(cJSON_GetArrayItem(und, 1)->valuestring, "0000:44:00.0") == 0);
        cJSON_Delete(root);
    }
    xhal_topology_render_free(json);
    CHECK_OK(xhal_context_destroy(ctx));
}

static void scenario_one_socket(void)
{
    xhal_context *ctx = open_context(TOPOTEST_DATA_DIR "/one-socket-1acc.xml", "0000:01:00.0,host,0000:02:00.0", 0);
    if (!ctx) return;
    static const int node0[] = {0};
    check_locality(dev_of(ctx, 0), 1, "0000:01:00.0", "0-7", 1, node0);
    check_locality(dev_of(ctx, 1), 1, "", "0-7", 1, node0);
    /* A device of a class hwloc does not call important is placed all the same. */
    check_locality(dev_of(ctx, 2), 1, "0000:02:00.0", "0-7", 1, node0);
    xhal_link l02;
    CHECK_OK(xhal_device_relation(dev_of(ctx, 0), dev_of(ctx, 2), &l02));
    CHECK(l02 == XHAL_LINK_PHB);
    xhal_link l;
    CHECK_OK(xhal_device_relation(dev_of(ctx, 0), dev_of(ctx, 1), &l));
    CHECK(l == XHAL_LINK_UNKNOWN);
    xhal_pci_accelerator acc[2];
    int count = 0;
    CHECK_OK(xhal_topology_pci_accelerators(ctx, acc, 2, &count));
    CHECK(count == 1);
    CHECK(strcmp(acc[0].vendor, "Huawei") == 0);
    CHECK(acc[0].vendor_id == 0x19e5 && acc[0].class_id == 0x1200);
    CHECK(strcmp(acc[0].driven_by, "topotest:0") == 0);
    char *text = render(ctx, 0);
    if (text) {
        CHECK(strstr(text, "not driven by any loaded xhal backend") == NULL);
        CHECK(strstr(text, "Machine: 1 package, 1 NUMA node, 4 cores, 8 PUs") != NULL);
        CHECK(strstr(text, "memory 16.0 GiB") != NULL);
    }
    xhal_topology_render_free(text);
    CHECK_OK(xhal_context_destroy(ctx));
}

/* A topology that cannot be loaded: unavailable with the file and the problem named;
 * every other function of the context goes on working. */
static void check_unavailable(const char *xml, const char *why)
{
    xhal_context *ctx = open_context(xml, "0000:05:00.0,host", 0);
    if (!ctx) return;
    int avail = -1;
    char reason[512] = "";
    CHECK_OK(xhal_topology_available(ctx, &avail, reason, sizeof reason));
    CHECK(avail == 0);
    CHECK(strstr(reason, xml) != NULL);
    CHECK(strstr(reason, why) != NULL);
    if (strstr(reason, why) == NULL) fprintf(stderr, "  reason '%s' lacks '%s'\n", reason, why);
    xhal_device *d = dev_of(ctx, 0);
    xhal_locality loc;
    loc.known = 42;
    CHECK_STATUS(xhal_device_locality(d, &loc), XHAL_ERROR_UNAVAILABLE, xml);
    CHECK(loc.known == 42);
    xhal_link l = (xhal_link)42;
    CHECK_STATUS(xhal_device_relation(d, dev_of(ctx, 1), &l), XHAL_ERROR_UNAVAILABLE, "topology unavailable");
    CHECK(l == (xhal_link)42);
    CHECK_STATUS(xhal_bind_thread_to_device(d), XHAL_ERROR_UNAVAILABLE, xml);
    int count = 42;
    CHECK_STATUS(xhal_topology_pci_accelerators(ctx, NULL, 0, &count), XHAL_ERROR_UNAVAILABLE, xml);
    CHECK(count == 42);
    /* Memory near a device still comes (unplaced). */
    void *p = NULL;
    CHECK_OK(xhal_host_alloc_near(d, 100, &p));
    CHECK(p != NULL);
    CHECK_OK(xhal_host_free_near(p, 100));
    /* The report says why. */
    char *text = render(ctx, 0);
    CHECK(text && strstr(text, "Topology: unavailable") && strstr(text, xml));
    xhal_topology_render_free(text);
    char *json = render(ctx, XHAL_TOPOLOGY_RENDER_JSON);
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    CHECK(root && cJSON_IsFalse(cJSON_GetObjectItem(root, "available")));
    cJSON *r = root ? cJSON_GetObjectItem(root, "reason") : NULL;
    CHECK(cJSON_IsString(r) && strstr(r->valuestring, xml) != NULL);
    cJSON_Delete(root);
    xhal_topology_render_free(json);
    /* The devices work. */
    check_device_works(d);
    check_device_works(dev_of(ctx, 1));
    CHECK_OK(xhal_context_destroy(ctx));
}

static void scenario_corrupt(void)
{
    check_unavailable(TOPOTEST_DATA_DIR "/corrupt.xml", "corrupt");
    check_unavailable(TOPOTEST_DATA_DIR "/no-such-file.xml", "cannot open the file");
    /* Well-formed XML that is not an hwloc export. */
    char tmpl[] = "/tmp/xhal-topotest-XXXXXX";
    int fd = mkstemp(tmpl);
    CHECK(fd >= 0);
    if (fd >= 0) {
        const char *text = "<?xml version=\"1.0\"?>\n<notatopology/>\n";
        CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
        close(fd);
        check_unavailable(tmpl, "hwloc");
        unlink(tmpl);
    }
    fd = mkstemp(tmpl);
    if (fd >= 0) {
        close(fd);
        check_unavailable(tmpl, "empty");
        unlink(tmpl);
    }
}

static void scenario_live(void)
{
    xhal_context *ctx = open_context(NULL, "host,0000:ee:00.0", 1);
    if (!ctx) return;
    int avail = 0;
    char reason[512];
    CHECK_OK(xhal_topology_available(ctx, &avail, reason, sizeof reason));
    CHECK(avail == 1);
    if (!avail) {
        fprintf(stderr, "  live topology unavailable: %s\n", reason);
        xhal_context_destroy(ctx);
        return;
    }
    xhal_device *host = dev_of(ctx, 0);
    xhal_locality loc;
    CHECK_OK(xhal_device_locality(host, &loc));
    CHECK(loc.known == 1 && loc.whole_machine == 1);
    CHECK(loc.numa_count >= 1);
    CHECK(loc.cpuset[0] != '\0');
    /* Binding to the whole machine works here, and leaves the thread on those cpus. */
    CHECK_OK(xhal_bind_thread_to_device(host));
    cpu_set_t set;
    CPU_ZERO(&set);
    CHECK(sched_getaffinity(0, sizeof set, &set) == 0);
    CHECK(CPU_COUNT(&set) >= 1);
    void *p = NULL;
    CHECK_OK(xhal_host_alloc_near(host, 1 << 20, &p));
    if (p) memset(p, 1, 1 << 20);
    CHECK_OK(xhal_host_free_near(p, 1 << 20));
    xhal_locality unk;
    CHECK_OK(xhal_device_locality(dev_of(ctx, 1), &unk));
    CHECK(unk.known == 0);
    int count = -1;
    CHECK_OK(xhal_topology_pci_accelerators(ctx, NULL, 0, &count));
    CHECK(count >= 0);
    xhal_device_info info;
    CHECK_OK(xhal_device_get_info(host, &info));
    CHECK(strncmp(info.arch, "numa", 4) == 0 && strstr(info.arch, "-cpus0") == NULL);
    CHECK(strcmp(info.family, "topotest-near-ok") == 0);
    /* The CPU backend, when this build has it, is the whole machine too. */
    xhal_device *cpu = NULL;
    if (xhal_device_find(ctx, "cpu", &cpu) == XHAL_OK) {
        xhal_locality cl;
        CHECK_OK(xhal_device_locality(cpu, &cl));
        CHECK(cl.known == 1 && cl.whole_machine == 1);
        CHECK(strcmp(cl.cpuset, loc.cpuset) == 0);
    } else {
        printf("test_topology live: no cpu backend in this build; its locality is not checked\n");
    }
    char *text = render(ctx, 0);
    CHECK(text && strstr(text, "Topology: live machine") != NULL);
    xhal_topology_render_free(text);
    CHECK_OK(xhal_context_destroy(ctx));
}

/* ------------------------------------------------------------------------- */
/* NVLink / xGMI: hwloc distance matrices in the fixtures                     */
/* ------------------------------------------------------------------------- */

#define ALL_GPUS                                                                                               \
    "0000:05:00.0,0000:06:00.0,0000:09:00.0,0000:0a:00.0,0000:43:00.0,0000:44:00.0,0000:53:00.0,0000:54:00.0," \
    "host"

static void check_direct(xhal_device *a, xhal_device *b, int kind, uint64_t bw, uint32_t hops)
{
    xhal_direct_link dl;
    memset(&dl, 0x5a, sizeof dl);
    CHECK_OK(xhal_device_direct_link(a, b, &dl));
    CHECK(dl.kind == kind && dl.bandwidth_mbs == bw && dl.hops == hops);
    if (dl.kind != kind || dl.bandwidth_mbs != bw || dl.hops != hops)
        fprintf(stderr, "  direct link %s %llu MB/s %u hops, expected %s %llu MB/s %u hops\n",
                xhal_direct_kind_name(dl.kind), (unsigned long long)dl.bandwidth_mbs, dl.hops,
                xhal_direct_kind_name(kind), (unsigned long long)bw, hops);
}

/* The ring of a communicator over GPUs 0, 4, 3, 5, 1, 2 (ranks 0..5). By PCI distance alone it
 * is 0, 4, 2, 5, 1, 3 (GPU 0, 1 (PIX), 3 (PXB), 2 (PIX), 4 (SYS), 5 (NODE)). */
static void check_ring(xhal_context *ctx, xhal_device **d, const int *expect)
{
    xhal_device *cd[6] = {d[0], d[4], d[3], d[5], d[1], d[2]};
    xhal_comm *comm = NULL;
    CHECK_OK(xhal_comm_create(ctx, cd, 6, NULL, &comm));
    if (!comm) return;
    xhal_comm_info ci;
    memset(&ci, 0, sizeof ci);
    ci.struct_size = sizeof ci;
    CHECK_OK(xhal_comm_get_info(comm, &ci));
    int same = 1;
    for (int k = 0; k < 6; k++) same &= ci.ring[k] == expect[k];
    CHECK(same);
    if (!same) {
        fprintf(stderr, "  ring");
        for (int k = 0; k < 6; k++) fprintf(stderr, " %d", (int)ci.ring[k]);
        fprintf(stderr, "\n");
    }
    CHECK_OK(xhal_comm_destroy(comm));
}

static void scenario_nvlink(void)
{
    xhal_context *ctx = open_context(TOPOTEST_DATA_DIR "/two-socket-8gpu-nvlink.xml", ALL_GPUS, 0);
    if (!ctx) return;
    xhal_device *d[9];
    for (int i = 0; i < 9; i++) d[i] = dev_of(ctx, i);
    /* The PCI links are those of two-socket-8gpu.xml; the NVLinks come beside them. */
    xhal_link l = XHAL_LINK_UNKNOWN;
    CHECK_OK(xhal_device_relation(d[0], d[4], &l));
    CHECK(l == XHAL_LINK_SYS);
    check_direct(d[0], d[4], XHAL_DIRECT_NVLINK, 50000, 0);
    check_direct(d[4], d[0], XHAL_DIRECT_NVLINK, 50000, 0);
    check_direct(d[0], d[1], XHAL_DIRECT_NVLINK, 25000, 0);
    check_direct(d[4], d[2], XHAL_DIRECT_NVLINK, 50000, 0);
    check_direct(d[6], d[7], XHAL_DIRECT_NVLINK, 50000, 0);
    check_direct(d[0], d[2], XHAL_DIRECT_NONE, 0, 0); /* PXB, no NVLink */
    check_direct(d[4], d[5], XHAL_DIRECT_NONE, 0, 0); /* NODE, no NVLink */
    check_direct(d[0], d[0], XHAL_DIRECT_NONE, 0, 0); /* the device itself */
    check_direct(d[0], d[8], XHAL_DIRECT_NONE, 0, 0); /* the host: no bus id */
    CHECK_CODE(xhal_device_direct_link(d[0], d[1], NULL), XHAL_ERROR_INVALID_ARGUMENT);
    CHECK_CODE(xhal_device_direct_link(NULL, d[1], &(xhal_direct_link){0}), XHAL_ERROR_INVALID_HANDLE);
    CHECK(strcmp(xhal_direct_kind_name(XHAL_DIRECT_NVLINK), "NVLINK") == 0);
    CHECK(strcmp(xhal_direct_kind_name(77), "NONE") == 0);

    /* From GPU 0 the faster NVLink (to 4) before the slower one (to 1, also PIX); from 4, GPU 2
     * over NVLink before GPU 5 (NODE); then 5 and 1 by NVLink, 3 last. */
    static const int ring[6] = {0, 1, 5, 3, 4, 2};
    check_ring(ctx, d, ring);

    char *text = render(ctx, 0);
    if (text) {
        CHECK(strstr(text, "NVLinkBandwidth over 8 accelerators (7 pairs)") != NULL);
        CHECK(strstr(text, "topotest:0 topotest:4 NVLINK 50000 MB/s") != NULL);
        CHECK(strstr(text, "topotest:2 topotest:5 NVLINK 25000 MB/s") != NULL);
        CHECK(strstr(text, "topotest:0 topotest:2") == NULL); /* no NVLink there */
        /* In the pair matrix, row topotest:0: X, then NVLINK (PIX underneath), PXB, PXB, NVLINK. */
        CHECK(strstr(text, "topotest:0  X           NVLINK      PXB         PXB         NVLINK      SYS") != NULL);
        if (getenv("TOPOTEST_VERBOSE")) fputs(text, stdout);
    }
    xhal_topology_render_free(text);
    char *json = render(ctx, XHAL_TOPOLOGY_RENDER_JSON);
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    CHECK(root != NULL);
    if (root) {
        cJSON *d0 = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "devices"), 0);
        cJSON *l04 = cJSON_GetObjectItem(cJSON_GetObjectItem(d0, "direct_links"), "topotest:4");
        CHECK(cJSON_IsString(cJSON_GetObjectItem(l04, "kind")) &&
              strcmp(cJSON_GetObjectItem(l04, "kind")->valuestring, "NVLINK") == 0);
        CHECK(cJSON_IsNumber(cJSON_GetObjectItem(l04, "bandwidth_mbs")) &&
              cJSON_GetObjectItem(l04, "bandwidth_mbs")->valuedouble == 50000.0);
        CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(d0, "direct_links"), "topotest:2") == NULL);
        /* The PCI link stays what it was. */
        cJSON *p04 = cJSON_GetObjectItem(cJSON_GetObjectItem(d0, "links"), "topotest:4");
        CHECK(cJSON_IsString(p04) && strcmp(p04->valuestring, "SYS") == 0);
        cJSON_Delete(root);
    }
    xhal_topology_render_free(json);
    CHECK_OK(xhal_context_destroy(ctx));
}

static void scenario_xgmi(void)
{
    xhal_context *ctx = open_context(TOPOTEST_DATA_DIR "/two-socket-8gpu-xgmi.xml", ALL_GPUS, 0);
    if (!ctx) return;
    xhal_device *d[9];
    for (int i = 0; i < 9; i++) d[i] = dev_of(ctx, i);
    check_direct(d[0], d[5], XHAL_DIRECT_XGMI, 64000, 1);
    check_direct(d[3], d[2], XHAL_DIRECT_XGMI, 32000, 1);
    check_direct(d[0], d[1], XHAL_DIRECT_NONE, 0, 2); /* two hops, through GPU 5 */
    check_direct(d[0], d[6], XHAL_DIRECT_NONE, 0, 0); /* GPU 6 has no xGMI */
    /* The xGMI chain 0-5-1-4-3-2 is the ring: ranks of GPUs 0, 5, 1, 4, 3, 2. */
    static const int ring[6] = {0, 3, 4, 1, 2, 5};
    check_ring(ctx, d, ring);
    char *text = render(ctx, 0);
    if (text) {
        CHECK(strstr(text, "XGMIBandwidth over 8 accelerators (5 pairs); XGMIHops over 8 accelerators (15 pairs)") !=
              NULL);
        CHECK(strstr(text, "topotest:0 topotest:5 XGMI   64000 MB/s, 1 hop\n") != NULL);
        if (getenv("TOPOTEST_VERBOSE")) fputs(text, stdout);
    }
    xhal_topology_render_free(text);
    CHECK_OK(xhal_context_destroy(ctx));
}

/* Matrices xhal cannot use: the topology still loads, the matrix is ignored with the reason. */
static void scenario_bad_links(void)
{
    /* Fewer values than 8 x 8: hwloc refuses the file; xhal loads it without its matrices. */
    xhal_context *ctx = open_context(TOPOTEST_DATA_DIR "/two-socket-8gpu-badnvlink.xml", ALL_GPUS, 0);
    if (ctx) {
        int avail = 0;
        CHECK_OK(xhal_topology_available(ctx, &avail, NULL, 0));
        CHECK(avail == 1);
        xhal_device *d[9];
        for (int i = 0; i < 9; i++) d[i] = dev_of(ctx, i);
        check_direct(d[0], d[4], XHAL_DIRECT_NONE, 0, 0);
        xhal_link l = XHAL_LINK_UNKNOWN;
        CHECK_OK(xhal_device_relation(d[0], d[1], &l));
        CHECK(l == XHAL_LINK_PIX);
        static const int pci_ring[6] = {0, 4, 2, 5, 1, 3};
        check_ring(ctx, d, pci_ring);
        char *text = render(ctx, 0);
        CHECK(text && strstr(text, "hwloc refused the file's distance matrices") != NULL);
        xhal_topology_render_free(text);
        CHECK_OK(xhal_context_destroy(ctx));
    }
    /* An NVLinkBandwidth matrix over the two packages: no accelerator among its objects. */
    ctx = open_context(TOPOTEST_DATA_DIR "/two-socket-8gpu-nvlink-pkg.xml", ALL_GPUS, 0);
    if (ctx) {
        xhal_device *d[9];
        for (int i = 0; i < 9; i++) d[i] = dev_of(ctx, i);
        check_direct(d[0], d[4], XHAL_DIRECT_NONE, 0, 0);
        char *json = render(ctx, XHAL_TOPOLOGY_RENDER_JSON);
        cJSON *root = json ? cJSON_Parse(json) : NULL;
        cJSON *note = root ? cJSON_GetObjectItem(root, "direct_links_note") : NULL;
        CHECK(cJSON_IsString(note) &&
              strcmp(note->valuestring,
                     "NVLinkBandwidth ignored: 0 of its 2 objects are accelerators on PCI (2 needed)") == 0);
        cJSON_Delete(root);
        xhal_topology_render_free(json);
        CHECK_OK(xhal_context_destroy(ctx));
    }
}

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "all";
    int all = strcmp(which, "all") == 0;
    if (all || strcmp(which, "two-socket") == 0) scenario_two_socket();
    if (all || strcmp(which, "one-socket") == 0) scenario_one_socket();
    if (all || strcmp(which, "corrupt") == 0) scenario_corrupt();
    if (all || strcmp(which, "live") == 0) scenario_live();
    if (all || strcmp(which, "nvlink") == 0) scenario_nvlink();
    if (all || strcmp(which, "xgmi") == 0) scenario_xgmi();
    if (all || strcmp(which, "bad-links") == 0) scenario_bad_links();
    char name[64];
    snprintf(name, sizeof name, "test_topology %s", which);
    return xtest_finish(name);
}
