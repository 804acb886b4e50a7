/*
 * cpu_backend.c - the CPU reference backend: entry point, table, the one device
 * "cpu:0", buffers, streams and events.
 *
 * Ops run synchronously in the thread that calls op_run (helped by the pool for big
 * ops), so everything queued on a stream has finished when op_run returns: stream_sync
 * and event_sync have nothing to wait for, and an event's timestamp is taken when it is
 * recorded.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <cblas.h>

#include "cpu_internal.h"

void *cpu_alloc(size_t size) { return size == SIZE_MAX ? NULL : cpu_host.host_alloc(size ? size : 1); }
void cpu_free(void *ptr) { cpu_host.host_free(ptr); }
size_t cpu_mul_size(size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size) return SIZE_MAX;
    return count * size;
}

/* ------------------------------------------------------------------------- */
/* names                                                                      */
/* ------------------------------------------------------------------------- */
const char *cpu_dtype_name(int dt) { return xhal_names_dtype(dt); }
size_t cpu_dtype_size(int dt) { return xhal_names_dtype_size(dt); }
const char *cpu_op_name(int op) { return xhal_names_op(op); }

/* ------------------------------------------------------------------------- */
/* init / shutdown                                                            */
/* ------------------------------------------------------------------------- */
static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : (int)n;
}

static xhal_status cpu_init(const xhal_host_services *host, void **state)
{
    (void)host; /* the same services XHAL_PLUGIN_ENTRY keeps (cpu_host) */
    cpu_state *st = cpu_host.host_calloc(1, sizeof(*st));
    if (!st) return CPU_ERR(XHAL_ERROR_OUT_OF_MEMORY, "cpu: cannot allocate the backend state");
    int n = online_cpus();
    /* XHAL_CPU_THREADS caps the pool (1: single-threaded ops) */
    const char *env = getenv("XHAL_CPU_THREADS");
    if (env && *env) {
        long v = strtol(env, NULL, 10);
        if (v >= 1 && v <= 256) n = (int)v;
    }
    st->nthreads = n;
    st->attn_cache_max = (int64_t)1 << 23;
    env = getenv("XHAL_CPU_ATTN_CACHE");
    if (env && *env) {
        long long v = strtoll(env, NULL, 10);
        if (v >= 0) st->attn_cache_max = v;
    }
    st->matmul_block = (int64_t)1 << 22;
    env = getenv("XHAL_CPU_MATMUL_BLOCK");
    if (env && *env) {
        long long v = strtoll(env, NULL, 10);
        if (v >= 1) st->matmul_block = v;
    }
    st->pool = cpu_pool_create(n);
    if (!st->pool) {
        cpu_host.host_free(st);
        return CPU_ERR(XHAL_ERROR_OUT_OF_MEMORY, "cpu: cannot create the thread pool");
    }
    if (cpu_host.log)
        cpu_host.log(XHAL_LOG_DEBUG, CPU_BACKEND_NAME, "cpu: %d pool threads, BLAS: %s", cpu_pool_workers(st->pool),
                     openblas_get_config());
    *state = st;
    return XHAL_OK;
}

static void cpu_shutdown(void *state)
{
    cpu_state *st = state;
    if (!st) return;
    cpu_pool_destroy(st->pool);
    cpu_host.host_free(st);
}

static int cpu_device_count(void *state)
{
    (void)state;
    return 1;
}

/* ------------------------------------------------------------------------- */
/* device info                                                                */
/* ------------------------------------------------------------------------- */
/* dst = a b c, truncated to cap - 1 characters (no snprintf: gcc flags the truncation). */
static void str_join(char *dst, size_t cap, const char *a, const char *b, const char *c)
{
    const char *parts[3] = {a, b, c};
    size_t len = 0;
    for (int i = 0; i < 3; i++) {
        if (!parts[i]) continue;
        size_t n = strlen(parts[i]);
        if (n > cap - 1 - len) n = cap - 1 - len;
        memcpy(dst + len, parts[i], n);
        len += n;
    }
    dst[len] = '\0';
}

static void copy_str(char *dst, size_t cap, const char *src) { str_join(dst, cap, src, NULL, NULL); }

/* Value of the first "key : value" line of /proc/cpuinfo whose key is `key`. */
static int cpuinfo_value(const char *key, char *out, size_t cap)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return 0;
    char line[4096];
    int found = 0;
    size_t klen = strlen(key);
    while (!found && fgets(line, sizeof(line), f)) {
        if (strncmp(line, key, klen) != 0) continue;
        const char *p = line + klen;
        while (*p == ' ' || *p == '\t') p++;
        if (*p != ':') continue;
        p++;
        while (*p == ' ' || *p == '\t') p++;
        size_t len = strcspn(p, "\n");
        while (len > 0 && isspace((unsigned char)p[len - 1])) len--;
        if (len >= cap) len = cap - 1;
        memcpy(out, p, len);
        out[len] = '\0';
        found = len > 0;
    }
    fclose(f);
    return found;
}

static int has_flag(const char *flags, const char *flag)
{
    size_t n = strlen(flag);
    for (const char *p = flags; (p = strstr(p, flag)) != NULL; p += n) {
        int start = p == flags || p[-1] == ' ';
        int stop = p[n] == '\0' || p[n] == ' ';
        if (start && stop) return 1;
    }
    return 0;
}

/* Bytes from a /proc/meminfo line such as "MemAvailable:  123 kB"; 0 if absent. */
static uint64_t meminfo_bytes(const char *key)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    uint64_t v = 0;
    size_t klen = strlen(key);
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            v = strtoull(line + klen + 1, NULL, 10) * 1024u;
            break;
        }
    }
    fclose(f);
    return v;
}

static xhal_status cpu_device_info(void *state, int device, xhal_device_info *info)
{
    (void)state;
    char buf[512];
    struct utsname un;
    const char *machine = uname(&un) == 0 ? un.machine : "unknown";

    copy_str(info->backend, sizeof(info->backend), CPU_BACKEND_NAME);
    if (cpuinfo_value("model name", buf, sizeof(buf)) || cpuinfo_value("Model", buf, sizeof(buf)) ||
        cpuinfo_value("cpu model", buf, sizeof(buf)))
        copy_str(info->name, sizeof(info->name), buf);
    else
        str_join(info->name, sizeof(info->name), machine, " host CPU", NULL);

    if (cpuinfo_value("vendor_id", buf, sizeof(buf))) {
        if (strcmp(buf, "GenuineIntel") == 0)
            copy_str(info->vendor, sizeof(info->vendor), "Intel");
        else if (strcmp(buf, "AuthenticAMD") == 0)
            copy_str(info->vendor, sizeof(info->vendor), "AMD");
        else if (strcmp(buf, "HygonGenuine") == 0)
            copy_str(info->vendor, sizeof(info->vendor), "Hygon");
        else
            copy_str(info->vendor, sizeof(info->vendor), buf);
    } else if (cpuinfo_value("CPU implementer", buf, sizeof(buf))) {
        str_join(info->vendor, sizeof(info->vendor), "implementer ", buf, NULL);
    } else {
        copy_str(info->vendor, sizeof(info->vendor), "unknown");
    }

    str_join(info->family, sizeof(info->family), "cpu-", machine, NULL);
    /* arch: the machine plus its widest vector extension the kernel reports */
    const char *simd = "";
    if (cpuinfo_value("flags", buf, sizeof(buf))) {
        if (has_flag(buf, "avx512f"))
            simd = "-avx512";
        else if (has_flag(buf, "avx2"))
            simd = "-avx2";
        else if (has_flag(buf, "avx"))
            simd = "-avx";
        else if (has_flag(buf, "sse4_2"))
            simd = "-sse4.2";
    } else if (cpuinfo_value("Features", buf, sizeof(buf))) {
        if (has_flag(buf, "sve"))
            simd = "-sve";
        else if (has_flag(buf, "asimd"))
            simd = "-neon";
    }
    str_join(info->arch, sizeof(info->arch), machine, simd, NULL);

    /* "OpenBLAS 0.3.21 DYNAMIC_ARCH ...": keep the first two words */
    char blas[40];
    copy_str(blas, sizeof(blas), openblas_get_config());
    size_t w1 = strcspn(blas, " ");
    if (blas[w1]) blas[w1 + 1 + strcspn(blas + w1 + 1, " ")] = '\0';
    str_join(info->driver_version, sizeof(info->driver_version), "xhal-cpu " CPU_BACKEND_VERSION " (", blas, ")");
    info->pci_bus_id[0] = '\0';

    struct sysinfo si;
    uint64_t total = 0, avail = 0;
    if (sysinfo(&si) == 0) {
        total = (uint64_t)si.totalram * si.mem_unit;
        avail = (uint64_t)si.freeram * si.mem_unit;
    }
    uint64_t ma = meminfo_bytes("MemAvailable");
    if (ma) avail = ma;
    info->total_memory = total;
    info->free_memory = avail;
    info->compute_units = online_cpus();
    info->index = device;
    info->dtypes = 0;
    for (int dt = XHAL_DTYPE_F32; dt < XHAL_DTYPE_COUNT_; dt++) info->dtypes |= XHAL_DTYPE_BIT(dt);
    /* block-quantized: copies (same dtype, dequantize, quantize) in cpu_quant.c */
    info->dtypes |= XHAL_DTYPE_BIT(XHAL_DTYPE_Q8_0) | XHAL_DTYPE_BIT(XHAL_DTYPE_Q4_0) |
                    XHAL_DTYPE_BIT(XHAL_DTYPE_Q4_K) | XHAL_DTYPE_BIT(XHAL_DTYPE_Q6_K);
    info->caps = XHAL_CAP_F64 | XHAL_CAP_HOST_MEMORY | XHAL_CAP_EVENT_TIMING | XHAL_CAP_MATMUL_I8;
    return XHAL_OK;
}

/* ------------------------------------------------------------------------- */
/* buffers                                                                    */
/* ------------------------------------------------------------------------- */
static xhal_status cpu_buffer_alloc(void *state, int device, uint64_t size, void **buffer)
{
    (void)state;
    (void)device;
    if (cpu_host.inject_fault && cpu_host.inject_fault("buffer_alloc"))
        return CPU_ERR(XHAL_ERROR_OUT_OF_MEMORY, "cpu: cannot allocate %llu bytes on cpu:0 (injected fault)",
                       (unsigned long long)size);
    /* round up to whole cache lines so vector loops may touch the tail safely */
    if (size > (uint64_t)SIZE_MAX - 64)
        return CPU_ERR(XHAL_ERROR_OUT_OF_MEMORY, "cpu: cannot allocate %llu bytes on cpu:0", (unsigned long long)size);
    size_t bytes = ((size_t)size + 63u) & ~(size_t)63u;
    cpu_buffer *b = cpu_host.host_calloc(1, sizeof(*b));
    if (!b)
        return CPU_ERR(XHAL_ERROR_OUT_OF_MEMORY, "cpu: cannot allocate %llu bytes on cpu:0", (unsigned long long)size);
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64) != 0 || !p) {
        cpu_host.host_free(b);
        return CPU_ERR(XHAL_ERROR_OUT_OF_MEMORY, "cpu: cannot allocate %llu bytes on cpu:0", (unsigned long long)size);
    }
    b->data = p;
    b->size = size;
    *buffer = b;
    return XHAL_OK;
}

static void cpu_buffer_free(void *state, void *buffer)
{
    (void)state;
    cpu_buffer *b = buffer;
    if (!b) return;
    if (!b->foreign) free(b->data);
    cpu_host.host_free(b);
}

static xhal_status cpu_buffer_host_ptr(void *state, void *buffer, void **ptr)
{
    (void)state;
    *ptr = ((cpu_buffer *)buffer)->data;
    return XHAL_OK;
}

static xhal_status cpu_buffer_wrap_host(void *state, int device, void *ptr, uint64_t size, void **buffer)
{
    (void)state;
    (void)device;
    cpu_buffer *b = cpu_host.host_calloc(1, sizeof(*b));
    if (!b) return CPU_ERR(XHAL_ERROR_OUT_OF_MEMORY, "cpu: out of host memory for a buffer handle");
    b->data = ptr;
    b->size = size;
    b->foreign = 1;
    *buffer = b;
    return XHAL_OK;
}

/* ------------------------------------------------------------------------- */
/* streams and transfers                                                      */
/* ------------------------------------------------------------------------- */
typedef struct cpu_stream {
    int device;
} cpu_stream;

static xhal_status cpu_stream_create(void *state, int device, void **stream)
{
    (void)state;
    cpu_stream *s = cpu_host.host_calloc(1, sizeof(*s));
    if (!s) return CPU_ERR(XHAL_ERROR_OUT_OF_MEMORY, "cpu: cannot allocate a stream");
    s->device = device;
    *stream = s;
    return XHAL_OK;
}

static void cpu_stream_destroy(void *state, void *stream)
{
    (void)state;
    cpu_host.host_free(stream);
}

static xhal_status cpu_stream_sync(void *state, void *stream)
{
    (void)state;
    (void)stream;
    return XHAL_OK; /* ops ran to completion inside op_run */
}

static xhal_status cpu_write(void *state, void *stream, void *buffer, uint64_t offset, const void *src, uint64_t size)
{
    (void)state;
    (void)stream;
    memcpy(((cpu_buffer *)buffer)->data + offset, src, (size_t)size);
    return XHAL_OK;
}

static xhal_status cpu_read(void *state, void *stream, void *buffer, uint64_t offset, void *dst, uint64_t size)
{
    (void)state;
    (void)stream;
    memcpy(dst, ((cpu_buffer *)buffer)->data + offset, (size_t)size);
    return XHAL_OK;
}

static xhal_status cpu_copy(void *state, void *stream, void *src, uint64_t src_offset, void *dst, uint64_t dst_offset,
                            uint64_t size)
{
    (void)state;
    (void)stream;
    /* memmove: both ranges may lie in one buffer */
    memmove(((cpu_buffer *)dst)->data + dst_offset, ((cpu_buffer *)src)->data + src_offset, (size_t)size);
    return XHAL_OK;
}

/* ------------------------------------------------------------------------- */
/* events: host timestamps taken at record time (the stream is always drained)  */
/* ------------------------------------------------------------------------- */
typedef struct cpu_event {
    int recorded;
    struct timespec ts;
} cpu_event;

static xhal_status cpu_event_create(void *state, int device, void **event)
{
    (void)state;
    (void)device;
    cpu_event *e = cpu_host.host_calloc(1, sizeof(*e));
    if (!e) return CPU_ERR(XHAL_ERROR_OUT_OF_MEMORY, "cpu: cannot allocate an event");
    *event = e;
    return XHAL_OK;
}

static void cpu_event_destroy(void *state, void *event)
{
    (void)state;
    cpu_host.host_free(event);
}

static xhal_status cpu_event_record(void *state, void *event, void *stream)
{
    (void)state;
    (void)stream;
    cpu_event *e = event;
    clock_gettime(CLOCK_MONOTONIC, &e->ts);
    e->recorded = 1;
    return XHAL_OK;
}

static xhal_status cpu_stream_wait_event(void *state, void *stream, void *event)
{
    (void)state;
    (void)stream;
    (void)event;
    return XHAL_OK; /* the event's work finished before it was recorded */
}

static xhal_status cpu_event_sync(void *state, void *event)
{
    (void)state;
    (void)event;
    return XHAL_OK;
}

static xhal_status cpu_event_elapsed_ms(void *state, void *start, void *end, double *ms)
{
    (void)state;
    const cpu_event *a = start, *b = end;
    if (!a->recorded || !b->recorded)
        return CPU_ERR(XHAL_ERROR_INVALID_ARGUMENT, "cpu: event_elapsed_ms: the %s event was never recorded",
                       !a->recorded ? "start" : "end");
    *ms = (double)(b->ts.tv_sec - a->ts.tv_sec) * 1e3 + (double)(b->ts.tv_nsec - a->ts.tv_nsec) * 1e-6;
    return XHAL_OK;
}

/* ------------------------------------------------------------------------- */
/* entry                                                                      */
/* ------------------------------------------------------------------------- */
static const xhal_backend_table cpu_table = {
    .abi_version = XHAL_BACKEND_ABI_VERSION,
    .struct_size = sizeof(xhal_backend_table),
    .name = CPU_BACKEND_NAME,
    .version = CPU_BACKEND_VERSION,
    .catalogue_version = XHAL_BACKEND_CATALOGUE_VERSION,
    .init = cpu_init,
    .shutdown = cpu_shutdown,
    .device_count = cpu_device_count,
    .device_info = cpu_device_info,
    .buffer_alloc = cpu_buffer_alloc,
    .buffer_free = cpu_buffer_free,
    .stream_create = cpu_stream_create,
    .stream_destroy = cpu_stream_destroy,
    .stream_sync = cpu_stream_sync,
    .write = cpu_write,
    .read = cpu_read,
    .copy = cpu_copy,
    .op_supported = cpu_op_supported,
    .op_run = cpu_op_run,
    .event_create = cpu_event_create,
    .event_destroy = cpu_event_destroy,
    .event_record = cpu_event_record,
    .stream_wait_event = cpu_stream_wait_event,
    .event_sync = cpu_event_sync,
    .event_elapsed_ms = cpu_event_elapsed_ms,
    .copy_peer = NULL,
    .program_create = NULL,
    .program_destroy = NULL,
    .kernel_launch = NULL,
    .buffer_host_ptr = cpu_buffer_host_ptr,
    .buffer_wrap_host = cpu_buffer_wrap_host,
};

/* The exported entry point: ABI checks and the host services (cpu_host), in one helper. */
XHAL_PLUGIN_ENTRY(cpu_table)
