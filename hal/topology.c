/* topology.c - hwloc in the core: loading a topology, placing PCI devices in it, links
 * between them, thread binding and NUMA-placed host memory.
 *
 * Everything hwloc-specific lives here; topology_api.c and topology_render.c only use the
 * functions of topology.h. A loaded topology is never modified, so queries need no lock
 * (hwloc allows concurrent read-only use of one topology). */
#include "topology.h"
#include "error.h"
#include "xhal/plugin/xhal_file.h"

#include <errno.h>
#include <hwloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if HWLOC_API_VERSION < 0x00020000
#error "xhal needs hwloc 2.x"
#endif

/* A direct link between two PCI devices, from hwloc's NVLinkBandwidth, XGMIBandwidth and
 * XGMIHops matrices (see load_direct_links). */
typedef struct direct_pair {
    hwloc_obj_t a, b;   /* PCI devices, a != b */
    int32_t kind;       /* xhal_direct_kind; NONE when only XGMIHops knows the pair */
    uint32_t hops;      /* XGMIHops, 0 when not reported */
    uint64_t bandwidth; /* MB/s, 0 when not reported */
} direct_pair;

struct hal_topology {
    hwloc_topology_t t;
    int this_system;
    char source[640];
    direct_pair *pairs;
    size_t n_pairs;
    char links_note[512]; /* which matrices were read, or why they were ignored */
};

static void seed_global(const hal_topology *topo);
static void load_direct_links(hal_topology *topo);

/* ------------------------------------------------------------------------- */
/* Loading                                                                    */
/* ------------------------------------------------------------------------- */

/* Reads XHAL_TOPOLOGY_XML into a NUL-terminated buffer: a regular file, not empty, at most
 * HAL_TOPOLOGY_MAX_XML bytes (real exports of 8-GPU servers are under 200 KB). */
#define HAL_TOPOLOGY_MAX_XML (64u << 20)
#define HAL_TOPOLOGY_MAX_OS_INDEX (1u << 20)
static xhal_status read_xml(const char *xml, char **out, size_t *len)
{
    char why[128];
    struct stat sb;
    int fd = xhal_open_regular(xml, 0, &sb, why, sizeof why);
    if (fd < 0)
        return hal_set_error(XHAL_ERROR_UNAVAILABLE, "XHAL_TOPOLOGY_XML=%s: cannot open the file: %s", xml, why);
    if (sb.st_size == 0) {
        close(fd);
        return hal_set_error(XHAL_ERROR_UNAVAILABLE, "XHAL_TOPOLOGY_XML=%s: the file is empty", xml);
    }
    if ((uint64_t)sb.st_size > HAL_TOPOLOGY_MAX_XML) {
        close(fd);
        return hal_set_error(XHAL_ERROR_UNAVAILABLE,
                             "XHAL_TOPOLOGY_XML=%s: the file is %lld bytes, above the limit of %u", xml,
                             (long long)sb.st_size, HAL_TOPOLOGY_MAX_XML);
    }
    size_t n = (size_t)sb.st_size;
    char *buf = malloc(n + 1);
    if (buf == NULL) {
        close(fd);
        return hal_set_error(XHAL_ERROR_UNAVAILABLE, "XHAL_TOPOLOGY_XML=%s: out of host memory", xml);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (got != n) {
        free(buf);
        return hal_set_error(XHAL_ERROR_UNAVAILABLE, "XHAL_TOPOLOGY_XML=%s: read %zu of %zu bytes (the file changed?)",
                             xml, got, n);
    }
    buf[n] = '\0';
    /* hwloc sizes its bitmaps by the largest OS index it meets: one NUMA node with os_index
     * 4294967295 cost 512 MB inside hwloc and 1.1 GB in all, on every context creation. Real
     * machines number CPUs and nodes far below HAL_TOPOLOGY_MAX_OS_INDEX. */
    for (const char *p = strstr(buf, "os_index=\""); p != NULL; p = strstr(p + 1, "os_index=\"")) {
        const char *q = p + 10;
        unsigned long long v = 0;
        int digits = 0;
        while (*q >= '0' && *q <= '9' && digits < 20) {
            v = v * 10 + (unsigned long long)(*q++ - '0');
            digits++;
        }
        if (digits == 0 || v > HAL_TOPOLOGY_MAX_OS_INDEX || (*q >= '0' && *q <= '9')) {
            long at = (long)(p - buf);
            free(buf);
            return hal_set_error(XHAL_ERROR_UNAVAILABLE,
                                 "XHAL_TOPOLOGY_XML=%s: an os_index at byte %ld is not a number up to %u: "
                                 "refused (hwloc would size its bitmaps by it)",
                                 xml, at, HAL_TOPOLOGY_MAX_OS_INDEX);
        }
    }
    *out = buf;
    *len = n;
    return XHAL_OK;
}

/* One attempt at loading topo->t from the XML bytes (or the live machine when xml_buf is
 * NULL). Returns 0, or -1 with *stage (0 init, 1 XML buffer, 2 load) and *err (errno) set and
 * topo->t destroyed. */
static int load_once(hal_topology *topo, const char *xml_buf, size_t xml_len, int *stage, int *err)
{
    *stage = 0;
    if (hwloc_topology_init(&topo->t) != 0) {
        *err = errno;
        return -1;
    }
    /* Bridges with something below them and the important OS devices are enough to
     * tell PIX from PXB from PHB; every PCI device is kept, because a backend may drive
     * a device of a class hwloc does not count as important (0x0880, 0x1180...) and
     * it must still be placed. */
    hwloc_topology_set_io_types_filter(topo->t, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
    hwloc_topology_set_type_filter(topo->t, HWLOC_OBJ_PCI_DEVICE, HWLOC_TYPE_FILTER_KEEP_ALL);
    /* PCI as Linux's sysfs shows it (hwloc's "linuxio" discovery) is all xhal needs. hwloc's
     * GPU-runtime components would initialise OpenCL, CUDA, NVML, ROCm SMI and Level Zero
     * inside topology discovery: slow (0.5 s for one OpenCL platform here), and a runtime
     * loaded there (PoCL's LLVM, for one) leaves threads and signal stacks behind that crash
     * sanitizer builds at thread exit; the runtimes belong to xhal's backends, which load
     * them when asked. So on a live machine hwloc's NVML/RSMI components do not run and
     * NVLink/xGMI matrices come only from an XML export (XHAL_TOPOLOGY_XML). The
     * libpciaccess-based "pci" component duplicates linuxio and leaks its PCI name
     * database when hwloc unloads it. */
    static const char *const gpu_components[] = {"opencl", "cuda", "nvml", "rsmi", "levelzero", "gl", "pci"};
    for (size_t i = 0; i < sizeof gpu_components / sizeof gpu_components[0]; i++)
        (void)hwloc_topology_set_components(topo->t, HWLOC_TOPOLOGY_COMPONENTS_FLAG_BLACKLIST, gpu_components[i]);
    if (xml_buf != NULL) {
        *stage = 1;
        if (hwloc_topology_set_xmlbuffer(topo->t, xml_buf, (int)xml_len + 1) != 0) {
            *err = errno;
            hwloc_topology_destroy(topo->t);
            return -1;
        }
    }
    *stage = 2;
    if (hwloc_topology_load(topo->t) != 0) {
        *err = errno;
        hwloc_topology_destroy(topo->t);
        return -1;
    }
    return 0;
}

/* Remove every <distances2 ...>...</distances2> and <distances2hetero ...>...</distances2hetero>
 * element from an XML buffer in place. Returns how many were removed. */
static int strip_distances(char *buf, size_t *len)
{
    int removed = 0;
    char *p;
    while ((p = strstr(buf, "<distances2")) != NULL) {
        int hetero = strncmp(p, "<distances2hetero", 17) == 0;
        const char *close = hetero ? "</distances2hetero>" : "</distances2>";
        char *end = strstr(p, close);
        char *gt = strchr(p, '>');
        if (gt != NULL && gt > p && gt[-1] == '/' && (end == NULL || gt < end))
            end = gt + 1; /* <distances2 .../> */
        else if (end != NULL)
            end += strlen(close);
        else
            end = buf + *len; /* unterminated: cut to the end (hwloc then refuses the file) */
        memmove(p, end, (size_t)(buf + *len - end) + 1);
        *len -= (size_t)(end - p);
        removed++;
    }
    return removed;
}

xhal_status hal_topology_load(hal_topology **out)
{
    if (out == NULL) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "topology: out is NULL");
    *out = NULL;
    const char *xml = secure_getenv("XHAL_TOPOLOGY_XML"); /* ignored in setuid processes */
    if (xml != NULL && xml[0] == '\0') xml = NULL;

    /* The file is read here, not by hwloc: it must be a regular file (a FIFO hung every context
     * creation), its size is bounded, and hwloc parses the bytes that were checked. hwloc's own
     * errors say little ("Invalid argument"), so the OS's reason is reported first. */
    char *xml_buf = NULL;
    size_t xml_len = 0;
    if (xml != NULL) {
        xhal_status rs = read_xml(xml, &xml_buf, &xml_len);
        if (rs != XHAL_OK) return rs;
    }

    hal_topology *topo = calloc(1, sizeof *topo);
    if (topo == NULL) {
        free(xml_buf);
        return hal_set_error(XHAL_ERROR_UNAVAILABLE, "out of host memory");
    }
    if (xml != NULL)
        snprintf(topo->source, sizeof topo->source, "XML file %s", xml);
    else
        snprintf(topo->source, sizeof topo->source, "live machine");
    int stage = 0, e = 0;
    int loaded = load_once(topo, xml_buf, xml_len, &stage, &e);
    if (loaded != 0 && xml_buf != NULL && strip_distances(xml_buf, &xml_len) > 0) {
        /* hwloc refuses a whole file for one malformed distance matrix (a wrong value count,
         * say): the machine itself is still worth having, without the matrices. */
        int e2 = 0, stage2 = 0;
        if (load_once(topo, xml_buf, xml_len, &stage2, &e2) == 0) {
            loaded = 0;
            snprintf(topo->links_note, sizeof topo->links_note,
                     "hwloc refused the file's distance matrices (%s): loaded without them, so no "
                     "NVLink/xGMI links",
                     strerror(e));
            hal_log(XHAL_LOG_WARN, "topology", "XHAL_TOPOLOGY_XML=%s: %s", xml, topo->links_note);
        }
    }
    free(xml_buf);
    if (loaded != 0) {
        free(topo);
        if (stage == 0) return hal_set_error(XHAL_ERROR_UNAVAILABLE, "hwloc_topology_init failed: %s", strerror(e));
        if (xml != NULL && stage == 1)
            return hal_set_error(XHAL_ERROR_UNAVAILABLE,
                                 "XHAL_TOPOLOGY_XML=%s: hwloc cannot read it as an "
                                 "hwloc XML export (corrupt or not hwloc XML: %s)",
                                 xml, strerror(e));
        if (xml != NULL)
            return hal_set_error(XHAL_ERROR_UNAVAILABLE,
                                 "XHAL_TOPOLOGY_XML=%s: hwloc cannot load it "
                                 "(corrupt or not hwloc 2.x XML: %s)",
                                 xml, strerror(e));
        return hal_set_error(XHAL_ERROR_UNAVAILABLE, "hwloc could not read this machine: %s", strerror(e));
    }
    topo->this_system = hwloc_topology_is_thissystem(topo->t) ? 1 : 0;
    load_direct_links(topo);
    if (topo->links_note[0] != '\0') hal_log(XHAL_LOG_INFO, "topology", "direct links: %s", topo->links_note);
    seed_global(topo);
    *out = topo;
    return XHAL_OK;
}

void hal_topology_destroy(hal_topology *topo)
{
    if (topo == NULL) return;
    hwloc_topology_destroy(topo->t);
    free(topo->pairs);
    free(topo);
}

const char *hal_topology_source(const hal_topology *topo) { return topo ? topo->source : "none"; }

int hal_topology_is_this_system(const hal_topology *topo) { return topo ? topo->this_system : 0; }

/* ------------------------------------------------------------------------- */
/* PCI bus ids                                                                */
/* ------------------------------------------------------------------------- */

static int parse_bus_id(const char *s, unsigned *dom, unsigned *bus, unsigned *dev, unsigned *fn)
{
    if (s == NULL || s[0] == '\0') return -1;
    unsigned a = 0, b = 0, c = 0, d = 0;
    int n = 0;
    /* Reject signs and spaces, which sscanf's %x would accept. */
    for (const char *p = s; *p; p++) {
        char ch = *p;
        int ok =
            (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F') || ch == ':' || ch == '.';
        if (!ok) return -1;
    }
    if (sscanf(s, "%x:%x:%x.%x%n", &a, &b, &c, &d, &n) == 4 && s[n] == '\0') {
        const char *colon = strchr(s, ':');
        if (colon - s > 8) return -1;
        *dom = a;
    } else if (sscanf(s, "%x:%x.%x%n", &b, &c, &d, &n) == 3 && s[n] == '\0') {
        *dom = 0;
    } else {
        return -1;
    }
    if (b > 0xff || c > 0x1f || d > 0x7 || *dom > 0xffff) return -1;
    *bus = b;
    *dev = c;
    *fn = d;
    return 0;
}

int hal_pci_bus_id_normalize(const char *in, char *out, size_t len)
{
    unsigned dom, bus, dev, fn;
    if (out != NULL && len > 0) out[0] = '\0';
    if (parse_bus_id(in, &dom, &bus, &dev, &fn) != 0) return -1;
    if (out != NULL && len > 0) snprintf(out, len, "%04x:%02x:%02x.%x", dom, bus, dev, fn);
    return 0;
}

static hwloc_obj_t find_pcidev(const hal_topology *topo, const char *bus_id)
{
    unsigned dom, bus, dev, fn;
    if (topo == NULL || parse_bus_id(bus_id, &dom, &bus, &dev, &fn) != 0) return NULL;
    return hwloc_get_pcidev_by_busid(topo->t, dom, bus, dev, fn);
}

/* ------------------------------------------------------------------------- */
/* Locality                                                                   */
/* ------------------------------------------------------------------------- */

/* Write a cpu list; on truncation end it with "..." at an element boundary. */
static void list_string(hwloc_const_bitmap_t set, char *out, size_t len)
{
    if (len == 0) return;
    int need = hwloc_bitmap_list_snprintf(out, len, set);
    if (need < 0) {
        out[0] = '\0';
        return;
    }
    if ((size_t)need < len) return;
    /* Truncated: cut back to the last comma that leaves room for "...". */
    size_t keep = len > 4 ? len - 4 : 0;
    out[keep] = '\0';
    char *comma = strrchr(out, ',');
    if (comma != NULL) *(comma + 1) = '\0';
    size_t l = strlen(out);
    if (l + 3 < len) memcpy(out + l, "...", 4);
}

static void fill_locality(const hal_topology *topo, hwloc_obj_t place, xhal_locality *out)
{
    out->known = 1;
    out->numa_count = 0;
    hwloc_const_nodeset_t ns = place->nodeset;
    if (ns == NULL || hwloc_bitmap_iszero(ns)) ns = hwloc_topology_get_topology_nodeset(topo->t);
    int id;
    hwloc_bitmap_foreach_begin(id, ns)
    {
        if (out->numa_count < XHAL_TOPO_MAX_NUMA) out->numa_nodes[out->numa_count++] = id;
    }
    hwloc_bitmap_foreach_end();
    hwloc_const_cpuset_t cs = place->cpuset;
    if (cs == NULL) cs = hwloc_topology_get_topology_cpuset(topo->t);
    list_string(cs, out->cpuset, sizeof out->cpuset);
}

void hal_topology_locality(const hal_topology *topo, const char *bus_id, int whole_machine, xhal_locality *out)
{
    memset(out, 0, sizeof *out);
    if (bus_id != NULL && bus_id[0] != '\0') {
        hal_pci_bus_id_normalize(bus_id, out->pci_bus_id, sizeof out->pci_bus_id);
        hwloc_obj_t pci = find_pcidev(topo, bus_id);
        if (pci == NULL) return;
        hwloc_obj_t place = hwloc_get_non_io_ancestor_obj(topo->t, pci);
        if (place == NULL) place = hwloc_get_root_obj(topo->t);
        fill_locality(topo, place, out);
        return;
    }
    if (whole_machine && topo != NULL) {
        fill_locality(topo, hwloc_get_root_obj(topo->t), out);
        out->whole_machine = 1;
    }
}

/* ------------------------------------------------------------------------- */
/* Links                                                                      */
/* ------------------------------------------------------------------------- */

/* Bridges strictly between obj and its ancestor anc. */
static int bridges_between(hwloc_obj_t obj, hwloc_obj_t anc)
{
    int n = 0;
    for (hwloc_obj_t p = obj->parent; p != NULL && p != anc; p = p->parent)
        if (p->type == HWLOC_OBJ_BRIDGE) n++;
    return n;
}

/* hwloc_get_common_ancestor_obj compares depths, which I/O objects do not have in the
 * normal sense; walk parents instead. */
static hwloc_obj_t common_ancestor(hwloc_obj_t a, hwloc_obj_t b)
{
    for (hwloc_obj_t x = a; x != NULL; x = x->parent)
        for (hwloc_obj_t y = b; y != NULL; y = y->parent)
            if (x == y) return x;
    return NULL;
}

xhal_link hal_topology_link(const hal_topology *topo, const char *bus_a, const char *bus_b)
{
    hwloc_obj_t a = find_pcidev(topo, bus_a);
    hwloc_obj_t b = find_pcidev(topo, bus_b);
    if (a == NULL || b == NULL) return XHAL_LINK_UNKNOWN;
    if (a == b) return XHAL_LINK_SELF;
    hwloc_obj_t c = common_ancestor(a, b);
    if (c == NULL) return XHAL_LINK_UNKNOWN;
    if (c->type == HWLOC_OBJ_BRIDGE) {
        if (c->attr->bridge.upstream_type == HWLOC_OBJ_BRIDGE_HOST) return XHAL_LINK_PHB;
        /* c is a PCI bridge: the upstream port of a switch (devices reach it through one
         * downstream port each) or a port with both devices on its bus. Anything deeper
         * crosses another switch. */
        if (bridges_between(a, c) <= 1 && bridges_between(b, c) <= 1) return XHAL_LINK_PIX;
        return XHAL_LINK_PXB;
    }
    if (c->type == HWLOC_OBJ_PCI_DEVICE || c->type == HWLOC_OBJ_OS_DEVICE)
        return XHAL_LINK_PIX; /* not expected: PCI devices have no PCI children */
    /* The path leaves PCIe: same NUMA node(s) or not. */
    hwloc_obj_t pa = hwloc_get_non_io_ancestor_obj(topo->t, a);
    hwloc_obj_t pb = hwloc_get_non_io_ancestor_obj(topo->t, b);
    if (pa != NULL && pb != NULL && pa->nodeset != NULL && pb->nodeset != NULL &&
        hwloc_bitmap_isequal(pa->nodeset, pb->nodeset))
        return XHAL_LINK_NODE;
    return XHAL_LINK_SYS;
}

/* ------------------------------------------------------------------------- */
/* Accelerators on PCI                                                        */
/* ------------------------------------------------------------------------- */

/* Vendor ids checked against public PCI id data (pci.ids, Linux pci_ids.h, lspci output
 * of the hardware). Vendors whose id could not be verified are left out on purpose:
 * they are named by hwloc's PCIVendor string when the export has one. */
static const struct {
    unsigned id;
    const char *name;
} known_vendors[] = {
    {0x10de, "NVIDIA"},        {0x1002, "AMD"},      {0x8086, "Intel"}, {0x19e5, "Huawei"},
    {0x1ed5, "Moore Threads"}, {0x1e3e, "Iluvatar"}, {0x9999, "MetaX"}, {0x1d94, "Hygon"},
};

static const char *vendor_name(unsigned id)
{
    for (size_t i = 0; i < sizeof known_vendors / sizeof known_vendors[0]; i++)
        if (known_vendors[i].id == id) return known_vendors[i].name;
    return NULL;
}

static int is_accelerator_class(unsigned class_id)
{
    unsigned base = class_id >> 8;
    return base == 0x03 || base == 0x12;
}

static void copy_str(char *dst, size_t len, const char *src)
{
    if (len == 0) return;
    snprintf(dst, len, "%s", src ? src : "");
}

/* ------------------------------------------------------------------------- */
/* Direct links: NVLink and xGMI                                              */
/* ------------------------------------------------------------------------- */

/* hwloc's NVML component adds "NVLinkBandwidth" (MB/s between its "nvmlN" OS devices, 0
 * where no NVLink joins two GPUs, peers such as NVSwitches or CPUs as extra objects), its
 * RSMI component "XGMIBandwidth" (MB/s, 0 without a direct xGMI link) and "XGMIHops" between
 * "rsmiN" OS devices. Each object is taken to the PCI device it sits on (the OS device's
 * parent); objects that are not accelerators on PCI (an NVSwitch, a package) are peers xhal
 * does not use and are skipped. A matrix whose objects do not give two distinct accelerators
 * is ignored, with the reason in links_note and the log. */
#define HAL_DIRECT_MAX_OBJS 1024u

static hwloc_obj_t accel_of(hwloc_obj_t o)
{
    if (o != NULL && o->type == HWLOC_OBJ_OS_DEVICE) o = o->parent;
    if (o == NULL || o->type != HWLOC_OBJ_PCI_DEVICE || !is_accelerator_class(o->attr->pcidev.class_id)) return NULL;
    return o;
}

static void note_add(hal_topology *topo, const char *fmt, ...) HAL_PRINTF(2, 3);
static void note_add(hal_topology *topo, const char *fmt, ...)
{
    size_t used = strlen(topo->links_note);
    if (used + 3 >= sizeof topo->links_note) return;
    if (used > 0) used += (size_t)snprintf(topo->links_note + used, sizeof topo->links_note - used, "; ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(topo->links_note + used, sizeof topo->links_note - used, fmt, ap);
    va_end(ap);
}

static direct_pair *find_pair(const hal_topology *topo, hwloc_obj_t a, hwloc_obj_t b)
{
    for (size_t i = 0; i < topo->n_pairs; i++) {
        direct_pair *p = &topo->pairs[i];
        if ((p->a == a && p->b == b) || (p->a == b && p->b == a)) return p;
    }
    return NULL;
}

/* Read one matrix; hops: values are XGMIHops, else bandwidths. Returns 1 if it was used. */
static int read_matrix(hal_topology *topo, const char *name, int32_t kind, int hops, int have_bw)
{
    unsigned nr = 1;
    struct hwloc_distances_s *d = NULL;
    if (hwloc_distances_get_by_name(topo->t, name, &nr, &d, 0) != 0 || nr == 0 || d == NULL) return 0;
    unsigned n = d->nbobjs;
    int used = 0;
    hwloc_obj_t *acc = NULL;
    if (n < 2 || n > HAL_DIRECT_MAX_OBJS || d->objs == NULL || d->values == NULL) {
        note_add(topo, "%s ignored: %u objects (2 to %u expected)", name, n, HAL_DIRECT_MAX_OBJS);
        goto done;
    }
    acc = calloc(n, sizeof *acc);
    if (acc == NULL) {
        note_add(topo, "%s ignored: out of host memory", name);
        goto done;
    }
    unsigned n_acc = 0;
    for (unsigned i = 0; i < n; i++) {
        acc[i] = accel_of(d->objs[i]);
        if (acc[i] == NULL) continue;
        for (unsigned j = 0; j < i; j++)
            if (acc[j] == acc[i]) {
                note_add(topo, "%s ignored: its objects %u and %u are one PCI device", name, j, i);
                goto done;
            }
        n_acc++;
    }
    if (n_acc < 2) {
        note_add(topo, "%s ignored: %u of its %u objects are accelerators on PCI (2 needed)", name, n_acc, n);
        goto done;
    }
    size_t room = topo->n_pairs + (size_t)n_acc * (n_acc - 1) / 2;
    direct_pair *np = realloc(topo->pairs, room * sizeof *np);
    if (np == NULL) {
        note_add(topo, "%s ignored: out of host memory", name);
        goto done;
    }
    topo->pairs = np;
    unsigned links = 0;
    for (unsigned i = 0; i < n; i++)
        for (unsigned j = i + 1; j < n; j++) {
            if (acc[i] == NULL || acc[j] == NULL) continue;
            hwloc_uint64_t vij = d->values[(size_t)i * n + j], vji = d->values[(size_t)j * n + i];
            hwloc_uint64_t v = vij < vji ? vij : vji; /* the slower direction */
            if (v == 0) continue;
            direct_pair *p = find_pair(topo, acc[i], acc[j]);
            if (hops) {
                if (p == NULL) {
                    p = &topo->pairs[topo->n_pairs++];
                    *p = (direct_pair){acc[i], acc[j], XHAL_DIRECT_NONE, 0, 0};
                }
                hwloc_uint64_t h = vij > vji ? vij : vji; /* the longer way */
                p->hops = h > UINT32_MAX ? UINT32_MAX : (uint32_t)h;
                /* Without a bandwidth matrix, one hop is a direct link. */
                if (!have_bw && p->hops == 1 && p->kind == XHAL_DIRECT_NONE) p->kind = kind;
            } else {
                if (p != NULL) continue; /* a pair already linked by an earlier matrix */
                p = &topo->pairs[topo->n_pairs++];
                *p = (direct_pair){acc[i], acc[j], kind, 0, v};
            }
            links++;
        }
    note_add(topo, "%s over %u accelerators (%u pairs)", name, n_acc, links);
    used = 1;
done:
    free(acc);
    hwloc_distances_release(topo->t, d);
    return used;
}

static void load_direct_links(hal_topology *topo)
{
    read_matrix(topo, "NVLinkBandwidth", XHAL_DIRECT_NVLINK, 0, 1);
    int have_bw = read_matrix(topo, "XGMIBandwidth", XHAL_DIRECT_XGMI, 0, 1);
    read_matrix(topo, "XGMIHops", XHAL_DIRECT_XGMI, 1, have_bw);
}

const char *hal_topology_links_note(const hal_topology *topo) { return topo ? topo->links_note : ""; }

void hal_topology_direct(const hal_topology *topo, const char *bus_a, const char *bus_b, xhal_direct_link *out)
{
    memset(out, 0, sizeof *out);
    hwloc_obj_t a = find_pcidev(topo, bus_a);
    hwloc_obj_t b = find_pcidev(topo, bus_b);
    if (a == NULL || b == NULL || a == b) return;
    const direct_pair *p = find_pair(topo, a, b);
    if (p == NULL) return;
    out->kind = p->kind;
    out->hops = p->hops;
    out->bandwidth_mbs = p->bandwidth;
}

int hal_topology_accelerators(const hal_topology *topo, xhal_pci_accelerator *out, int max)
{
    if (topo == NULL) return 0;
    int total = 0;
    for (hwloc_obj_t o = hwloc_get_next_pcidev(topo->t, NULL); o != NULL; o = hwloc_get_next_pcidev(topo->t, o)) {
        const struct hwloc_pcidev_attr_s *pa = &o->attr->pcidev;
        if (!is_accelerator_class(pa->class_id)) continue;
        if (out != NULL && total < max) {
            xhal_pci_accelerator *acc = &out[total];
            memset(acc, 0, sizeof *acc);
            snprintf(acc->pci_bus_id, sizeof acc->pci_bus_id, "%04x:%02x:%02x.%x", (unsigned)pa->domain,
                     (unsigned)pa->bus, (unsigned)pa->dev, (unsigned)pa->func);
            acc->vendor_id = pa->vendor_id;
            acc->device_id = pa->device_id;
            acc->class_id = pa->class_id;
            const char *vn = vendor_name(pa->vendor_id);
            if (vn == NULL) vn = hwloc_obj_get_info_by_name(o, "PCIVendor");
            copy_str(acc->vendor, sizeof acc->vendor, vn ? vn : "unknown");
            copy_str(acc->device_name, sizeof acc->device_name, hwloc_obj_get_info_by_name(o, "PCIDevice"));
            hwloc_obj_t place = hwloc_get_non_io_ancestor_obj(topo->t, o);
            if (place == NULL) place = hwloc_get_root_obj(topo->t);
            fill_locality(topo, place, &acc->locality);
            copy_str(acc->locality.pci_bus_id, sizeof acc->locality.pci_bus_id, acc->pci_bus_id);
        }
        total++;
    }
    return total;
}

/* ------------------------------------------------------------------------- */
/* Machine summary                                                            */
/* ------------------------------------------------------------------------- */

static int nb_of(const hal_topology *topo, hwloc_obj_type_t type)
{
    int n = hwloc_get_nbobjs_by_type(topo->t, type);
    return n < 0 ? 0 : n;
}

void hal_topology_counts(const hal_topology *topo, int *packages, int *numa, int *cores, int *pus)
{
    if (packages) *packages = topo ? nb_of(topo, HWLOC_OBJ_PACKAGE) : 0;
    if (numa) *numa = topo ? nb_of(topo, HWLOC_OBJ_NUMANODE) : 0;
    if (cores) *cores = topo ? nb_of(topo, HWLOC_OBJ_CORE) : 0;
    if (pus) *pus = topo ? nb_of(topo, HWLOC_OBJ_PU) : 0;
}

int hal_topology_numa_info(const hal_topology *topo, int i, int *os_id, char *cpus, size_t len,
                           unsigned long long *memory)
{
    if (topo == NULL || i < 0) return -1;
    hwloc_obj_t n = hwloc_get_obj_by_type(topo->t, HWLOC_OBJ_NUMANODE, (unsigned)i);
    if (n == NULL) return -1;
    if (os_id) *os_id = (int)n->os_index;
    if (cpus && len) list_string(n->cpuset, cpus, len);
    if (memory) *memory = (unsigned long long)n->attr->numanode.local_memory;
    return 0;
}

/* ------------------------------------------------------------------------- */
/* Binding and memory                                                         */
/* ------------------------------------------------------------------------- */

/* Rebuild a cpuset from the locality's NUMA nodes (exact) or, for a cut list, the
 * whole machine. */
static hwloc_bitmap_t locality_cpuset(const hal_topology *topo, const xhal_locality *loc)
{
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    if (set == NULL) return NULL;
    if (loc->whole_machine || loc->numa_count == 0 || loc->numa_count >= XHAL_TOPO_MAX_NUMA) {
        hwloc_bitmap_copy(set, hwloc_topology_get_topology_cpuset(topo->t));
        return set;
    }
    if (hwloc_bitmap_list_sscanf(set, loc->cpuset) == 0 && strstr(loc->cpuset, "...") == NULL &&
        !hwloc_bitmap_iszero(set))
        return set;
    hwloc_bitmap_zero(set);
    for (int i = 0; i < loc->numa_count; i++) {
        hwloc_obj_t n = hwloc_get_numanode_obj_by_os_index(topo->t, (unsigned)loc->numa_nodes[i]);
        if (n != NULL && n->cpuset != NULL) hwloc_bitmap_or(set, set, n->cpuset);
    }
    return set;
}

xhal_status hal_topology_bind_thread(const hal_topology *topo, const xhal_locality *loc)
{
    if (topo == NULL || loc == NULL || !loc->known)
        return hal_set_error(XHAL_ERROR_UNSUPPORTED, "bind: the device is not placed in the topology");
    if (!topo->this_system)
        return hal_set_error(XHAL_ERROR_UNSUPPORTED,
                             "bind: the topology was read from %s and does not describe this machine; "
                             "threads cannot be bound with it (unset XHAL_TOPOLOGY_XML)",
                             topo->source);
    hwloc_bitmap_t set = locality_cpuset(topo, loc);
    if (set == NULL) return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "bind: out of host memory");
    int rc = hwloc_set_cpubind(topo->t, set, HWLOC_CPUBIND_THREAD);
    int e = errno;
    hwloc_bitmap_free(set);
    if (rc != 0)
        return hal_set_error(XHAL_ERROR_UNSUPPORTED, "bind: the OS refused to bind the thread to cpus %s: %s",
                             loc->cpuset, strerror(e));
    return XHAL_OK;
}

void *hal_topology_alloc_near(const hal_topology *topo, const xhal_locality *loc, size_t size)
{
    if (size == 0) return NULL;
    /* mmap rather than hwloc_alloc_membind: the memory must be freeable without the
     * topology (a context, or the process-wide topology, may be gone by then), and an
     * anonymous mapping is what hwloc_alloc_membind makes on Linux anyway. */
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    if (topo != NULL && topo->this_system && loc != NULL && loc->known && !loc->whole_machine && loc->numa_count > 0) {
        hwloc_bitmap_t ns = hwloc_bitmap_alloc();
        if (ns != NULL) {
            for (int i = 0; i < loc->numa_count; i++) hwloc_bitmap_set(ns, (unsigned)loc->numa_nodes[i]);
            /* Best effort: without NUMA support (or permission) the kernel's default
             * policy places the pages, which is still correct memory. */
            (void)hwloc_set_area_membind(topo->t, p, size, ns, HWLOC_MEMBIND_BIND, HWLOC_MEMBIND_BYNODESET);
            hwloc_bitmap_free(ns);
        }
    }
    return p;
}

void hal_topology_free_near(void *p, size_t size)
{
    if (p != NULL && size > 0) munmap(p, size);
}

/* ------------------------------------------------------------------------- */
/* The process-wide topology behind the plugins' host services                */
/* ------------------------------------------------------------------------- */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static hal_topology *g_topo;                /* loaded on first use */
static int g_topo_failed;                   /* load failed: do not retry until released */
static _Thread_local int tl_loading_global; /* this thread loads the global topology */

/* A topology just loaded for a context also becomes the process-wide one when there is
 * none yet: a copy (hwloc_topology_dup) costs no discovery, and plugins' worker threads
 * then never run hwloc's discovery (which dlopens hwloc's plugins) themselves - under
 * AddressSanitizer a thread that did so fails at exit. */
static void seed_global(const hal_topology *topo)
{
    if (tl_loading_global) return; /* global_topology's own load, which holds g_lock */
    pthread_mutex_lock(&g_lock);
    if (g_topo == NULL) {
        hal_topology *copy = calloc(1, sizeof *copy);
        if (copy != NULL && hwloc_topology_dup(&copy->t, topo->t) == 0) {
            copy->this_system = topo->this_system;
            memcpy(copy->source, topo->source, sizeof copy->source);
            g_topo = copy;
            g_topo_failed = 0;
        } else {
            free(copy);
        }
    }
    pthread_mutex_unlock(&g_lock);
}

/* The global topology, loading it on first use; NULL if unavailable. Once loaded it
 * stays until hal_topo_release_global, which runs when no context (hence no plugin) is
 * left, so callers may use it after unlocking. */
static hal_topology *global_topology(void)
{
    pthread_mutex_lock(&g_lock);
    if (g_topo == NULL && !g_topo_failed) {
        /* Loaded under the lock, so by one thread; the others wait for it. */
        hal_topology *t = NULL;
        char saved[1024]; /* a host service must not change the caller's message */
        hal_error_copy(saved, sizeof saved);
        tl_loading_global = 1;
        if (hal_topology_load(&t) == XHAL_OK)
            g_topo = t;
        else
            g_topo_failed = 1;
        tl_loading_global = 0;
        hal_set_error(XHAL_OK, "%s", saved);
    }
    hal_topology *t = g_topo;
    pthread_mutex_unlock(&g_lock);
    return t;
}

void hal_topo_release_global(void)
{
    pthread_mutex_lock(&g_lock);
    hal_topology_destroy(g_topo);
    g_topo = NULL;
    g_topo_failed = 0;
    pthread_mutex_unlock(&g_lock);
}

void *hal_topo_alloc_near(const char *pci_bus_id, size_t size)
{
    hal_topology *t = global_topology();
    xhal_locality loc;
    hal_topology_locality(t, pci_bus_id, 0, &loc);
    return hal_topology_alloc_near(t, &loc, size);
}

void hal_topo_free_near(void *ptr, size_t size) { hal_topology_free_near(ptr, size); }

int hal_topo_bind_thread_numa(int node)
{
    hal_topology *t = global_topology();
    if (t == NULL || !t->this_system) return -1;
    hwloc_const_cpuset_t set;
    if (node < 0) {
        set = hwloc_topology_get_topology_cpuset(t->t);
    } else {
        hwloc_obj_t n = hwloc_get_numanode_obj_by_os_index(t->t, (unsigned)node);
        if (n == NULL || n->cpuset == NULL) return -1;
        set = n->cpuset;
    }
    return hwloc_set_cpubind(t->t, set, HWLOC_CPUBIND_THREAD) == 0 ? 0 : -1;
}

int hal_topo_numa_count(void)
{
    hal_topology *t = global_topology();
    int n = t ? nb_of(t, HWLOC_OBJ_NUMANODE) : 0;
    return n > 0 ? n : 1;
}

int hal_topo_numa_cpus(int node, int *cpus, int max)
{
    if (cpus == NULL || max <= 0) return 0;
    hal_topology *t = global_topology();
    int count = 0;
    if (t == NULL) {
        /* No topology: one node holding every online cpu. */
        if (node > 0) return 0;
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        for (long i = 0; i < n && count < max; i++) cpus[count++] = (int)i;
        return count;
    }
    hwloc_const_cpuset_t set;
    if (node < 0) {
        set = hwloc_topology_get_topology_cpuset(t->t);
    } else {
        hwloc_obj_t n = hwloc_get_numanode_obj_by_os_index(t->t, (unsigned)node);
        if (n == NULL || n->cpuset == NULL) return 0;
        set = n->cpuset;
    }
    int id;
    hwloc_bitmap_foreach_begin(id, set)
    {
        if (count < max) cpus[count++] = id;
    }
    hwloc_bitmap_foreach_end();
    return count;
}
