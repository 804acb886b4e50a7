/*
 * ocl_backend.c - the OpenCL backend plugin: entry point, device enumeration, buffers,
 * streams (in-order profiling queues), events (markers), custom programs.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CL/cl_ext.h>

#include "ocl_internal.h"

#ifndef CL_DEVICE_PCI_BUS_INFO_KHR
#define CL_DEVICE_PCI_BUS_INFO_KHR 0x410F
#endif
#ifndef CL_DEVICE_PCI_BUS_ID_NV
#define CL_DEVICE_PCI_BUS_ID_NV 0x4008
#endif
#ifndef CL_DEVICE_PCI_SLOT_ID_NV
#define CL_DEVICE_PCI_SLOT_ID_NV 0x4009
#endif
#ifndef CL_DEVICE_PCI_DOMAIN_ID_NV
#define CL_DEVICE_PCI_DOMAIN_ID_NV 0x400A
#endif
#ifndef CL_DEVICE_COMPUTE_CAPABILITY_MAJOR_NV
#define CL_DEVICE_COMPUTE_CAPABILITY_MAJOR_NV 0x4000
#define CL_DEVICE_COMPUTE_CAPABILITY_MINOR_NV 0x4001
#endif
#ifndef CL_DEVICE_TOPOLOGY_AMD
#define CL_DEVICE_TOPOLOGY_AMD 0x4037
#endif
#ifndef CL_DEVICE_GLOBAL_FREE_MEMORY_AMD
#define CL_DEVICE_GLOBAL_FREE_MEMORY_AMD 0x4039
#endif

/* ------------------------------------------------------------------ helpers */

static void copy_str(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    while (n > 0 && isspace((unsigned char)src[n - 1])) n--;
    while (n > 0 && isspace((unsigned char)*src)) {
        src++;
        n--;
    }
    if (n >= size) n = size - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
}

static void dev_str(cl_device_id d, cl_device_info what, char *dst, size_t size)
{
    char buf[1024];
    buf[0] = 0;
    if (clGetDeviceInfo(d, what, sizeof buf - 1, buf, NULL) != CL_SUCCESS) buf[0] = 0;
    buf[sizeof buf - 1] = 0;
    copy_str(dst, size, buf);
}

static int has_ext(const char *exts, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = exts; (p = strstr(p, name)) != NULL; p += n)
        if ((p == exts || p[-1] == ' ') && (p[n] == 0 || p[n] == ' ')) return 1;
    return 0;
}

static int icontains(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0) return 1;
    return 0;
}

/* Fill the static part of dev->info from the driver. */
static void describe(ocl_device *dev, const char *platform_name)
{
    xhal_device_info *in = &dev->info;
    char exts[8192], ver[256], buf[128];
    cl_device_type type = 0;
    cl_ulong mem = 0, align_bits = 0;
    cl_uint cu = 0;
    cl_bool unified = CL_FALSE;
    size_t wg = 0;

    memset(in, 0, sizeof *in);
    copy_str(in->backend, sizeof in->backend, OCL_NAME);
    dev_str(dev->id, CL_DEVICE_NAME, in->name, sizeof in->name);
    dev_str(dev->id, CL_DRIVER_VERSION, in->driver_version, sizeof in->driver_version);
    dev_str(dev->id, CL_DEVICE_VERSION, ver, sizeof ver);
    exts[0] = 0;
    if (clGetDeviceInfo(dev->id, CL_DEVICE_EXTENSIONS, sizeof exts - 1, exts, NULL) != CL_SUCCESS) exts[0] = 0;
    exts[sizeof exts - 1] = 0;
    clGetDeviceInfo(dev->id, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    clGetDeviceInfo(dev->id, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, NULL);
    clGetDeviceInfo(dev->id, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
    clGetDeviceInfo(dev->id, CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof unified, &unified, NULL);
    clGetDeviceInfo(dev->id, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof wg, &wg, NULL);
    {
        cl_uint a = 0;
        clGetDeviceInfo(dev->id, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof a, &a, NULL);
        align_bits = a;
    }
    dev->has_fp64 = has_ext(exts, "cl_khr_fp64");
    dev->has_fp16 = has_ext(exts, "cl_khr_fp16");
    dev->amd_attrs = has_ext(exts, "cl_amd_device_attribute_query");
    dev->max_wg = wg;
    dev->is_cpu = (type & CL_DEVICE_TYPE_CPU) != 0;
    {
        /* XHAL_OPENCL_KERNELS=gpu|cpu: the kernels of the other device type (tests run the
         * GPU-type matmul kernels on PoCL with it); anything else: from CL_DEVICE_TYPE */
        const char *kind = getenv("XHAL_OPENCL_KERNELS");
        if (kind && strcmp(kind, "gpu") == 0) dev->is_cpu = 0;
        if (kind && strcmp(kind, "cpu") == 0) dev->is_cpu = 1;
    }
    dev->compute_units = cu;
    {
        cl_ulong lm = 0;
        clGetDeviceInfo(dev->id, CL_DEVICE_LOCAL_MEM_SIZE, sizeof lm, &lm, NULL);
        dev->local_mem = lm;
    }
    dev->base_align = align_bits >= 8 ? align_bits / 8 : 1;

    const char *tname = (type & CL_DEVICE_TYPE_GPU)           ? "gpu"
                        : (type & CL_DEVICE_TYPE_CPU)         ? "cpu"
                        : (type & CL_DEVICE_TYPE_ACCELERATOR) ? "accel"
                                                              : "device";
    int pocl = icontains(platform_name, "Portable Computing Language") || icontains(platform_name, "pocl");
    if (pocl) {
        copy_str(in->vendor, sizeof in->vendor, "PoCL");
        snprintf(in->family, sizeof in->family, "pocl-%s", tname);
        /* "OpenCL 3.0 PoCL HSTR: pthread-x86_64-pc-linux-gnu-haswell": arch is the last word */
        const char *h = strstr(ver, "HSTR:");
        const char *dash = h ? strrchr(h, '-') : NULL;
        copy_str(in->arch, sizeof in->arch, dash ? dash + 1 : "");
    } else {
        dev_str(dev->id, CL_DEVICE_VENDOR, in->vendor, sizeof in->vendor);
        /* family: first word of the vendor, lower case, plus the device type */
        size_t n = 0;
        while (in->vendor[n] && !isspace((unsigned char)in->vendor[n]) && in->vendor[n] != ',' && n < 30) {
            buf[n] = (char)tolower((unsigned char)in->vendor[n]);
            n++;
        }
        buf[n] = 0;
        snprintf(in->family, sizeof in->family, "%s-%s", n ? buf : "opencl", tname);
        cl_uint ma = 0, mi = 0;
        if (has_ext(exts, "cl_nv_device_attribute_query") &&
            clGetDeviceInfo(dev->id, CL_DEVICE_COMPUTE_CAPABILITY_MAJOR_NV, sizeof ma, &ma, NULL) == CL_SUCCESS &&
            clGetDeviceInfo(dev->id, CL_DEVICE_COMPUTE_CAPABILITY_MINOR_NV, sizeof mi, &mi, NULL) == CL_SUCCESS) {
            snprintf(in->arch, sizeof in->arch, "sm_%u%u", ma, mi);
        } else if (strncmp(in->name, "gfx", 3) == 0) {
            copy_str(in->arch, sizeof in->arch, in->name);
        } else {
            copy_str(in->arch, sizeof in->arch, ver); /* the driver's own version string */
        }
    }

    /* PCI bus id: cl_khr_pci_bus_info, else the NVIDIA / AMD vendor queries */
    if (has_ext(exts, "cl_khr_pci_bus_info")) {
        cl_uint pci[4] = {0, 0, 0, 0}; /* domain, bus, device, function */
        if (clGetDeviceInfo(dev->id, CL_DEVICE_PCI_BUS_INFO_KHR, sizeof pci, pci, NULL) == CL_SUCCESS)
            snprintf(in->pci_bus_id, sizeof in->pci_bus_id, "%04x:%02x:%02x.%x", pci[0] & 0xffff, pci[1] & 0xff,
                     pci[2] & 0x1f, pci[3] & 0x7);
    } else if (has_ext(exts, "cl_nv_device_attribute_query")) {
        cl_uint bus = 0, slot = 0, dom = 0;
        if (clGetDeviceInfo(dev->id, CL_DEVICE_PCI_BUS_ID_NV, sizeof bus, &bus, NULL) == CL_SUCCESS &&
            clGetDeviceInfo(dev->id, CL_DEVICE_PCI_SLOT_ID_NV, sizeof slot, &slot, NULL) == CL_SUCCESS) {
            if (clGetDeviceInfo(dev->id, CL_DEVICE_PCI_DOMAIN_ID_NV, sizeof dom, &dom, NULL) != CL_SUCCESS) dom = 0;
            snprintf(in->pci_bus_id, sizeof in->pci_bus_id, "%04x:%02x:%02x.%x", dom & 0xffff, bus & 0xff,
                     (slot >> 3) & 0x1f, slot & 0x7);
        }
    } else if (has_ext(exts, "cl_amd_device_attribute_query")) {
        unsigned char topo[24]; /* cl_device_topology_amd: type, 17 bytes, bus, device, function */
        memset(topo, 0, sizeof topo);
        if (clGetDeviceInfo(dev->id, CL_DEVICE_TOPOLOGY_AMD, sizeof topo, topo, NULL) == CL_SUCCESS && topo[0] == 1)
            snprintf(in->pci_bus_id, sizeof in->pci_bus_id, "0000:%02x:%02x.%x", topo[21], topo[22] & 0x1f,
                     topo[23] & 0x7);
    }

    in->total_memory = mem;
    in->free_memory = mem;
    in->compute_units = (int32_t)cu;
    for (int dt = XHAL_DTYPE_F32; dt < XHAL_DTYPE_COUNT_; dt++) in->dtypes |= XHAL_DTYPE_BIT(dt);
    /* block-quantized weights: copy (dequantize, quantize to q8_0/q4_0) and matmul's b (xk_ops.cl) */
    in->dtypes |= XHAL_DTYPE_BIT(XHAL_DTYPE_Q8_0) | XHAL_DTYPE_BIT(XHAL_DTYPE_Q4_0) | XHAL_DTYPE_BIT(XHAL_DTYPE_Q4_K) |
                  XHAL_DTYPE_BIT(XHAL_DTYPE_Q6_K);
    in->caps = XHAL_CAP_CUSTOM_KERNELS | XHAL_CAP_EVENT_TIMING;
    if (dev->has_fp16) in->caps |= XHAL_CAP_F16_COMPUTE;
    if (dev->has_fp64) in->caps |= XHAL_CAP_F64;
    if (unified) in->caps |= XHAL_CAP_HOST_MEMORY;
}

/* ------------------------------------------------------------------ init */

static void ocl_shutdown(void *state);

static xhal_status ocl_init(const xhal_host_services *host, void **state_out)
{
    (void)host; /* the same services XHAL_PLUGIN_ENTRY keeps (ocl_host) */
    cl_uint np = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &np);
    if (err == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || (err == CL_SUCCESS && np == 0))
        return ocl_host->set_error(XHAL_ERROR_UNAVAILABLE,
                                   "opencl: the ICD loader found no OpenCL platform (no "
                                   "/etc/OpenCL/vendors/*.icd driver installed, or OCL_ICD_VENDORS "
                                   "points nowhere)");
    if (err != CL_SUCCESS)
        return ocl_host->set_error(XHAL_ERROR_UNAVAILABLE, "opencl: clGetPlatformIDs failed: %s (%d)",
                                   ocl_err_name(err), (int)err);
    ocl_state *s = ocl_calloc(1, sizeof *s);
    cl_platform_id *plats = ocl_calloc(np, sizeof *plats);
    if (!s || !plats) {
        ocl_free(s);
        ocl_free(plats);
        return ocl_host->set_error(XHAL_ERROR_OUT_OF_MEMORY, "opencl: out of host memory");
    }
    clGetPlatformIDs(np, plats, NULL);
    for (cl_uint p = 0; p < np; p++) {
        cl_uint nd = 0;
        char pname[256] = "", pver[128] = "";
        clGetPlatformInfo(plats[p], CL_PLATFORM_NAME, sizeof pname - 1, pname, NULL);
        clGetPlatformInfo(plats[p], CL_PLATFORM_VERSION, sizeof pver - 1, pver, NULL);
        err = clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd);
        if (err != CL_SUCCESS || nd == 0) {
            ocl_log(XHAL_LOG_INFO, "platform '%s' has no devices (%s)", pname, ocl_err_name(err));
            continue;
        }
        cl_device_id *ids = ocl_calloc(nd, sizeof *ids);
        ocl_device *grown = ocl_calloc((size_t)s->ndev + nd, sizeof *grown);
        if (!ids || !grown) {
            ocl_free(ids);
            ocl_free(grown);
            ocl_free(plats);
            ocl_shutdown(s);
            return ocl_host->set_error(XHAL_ERROR_OUT_OF_MEMORY, "opencl: out of host memory");
        }
        if (s->ndev) memcpy(grown, s->devs, (size_t)s->ndev * sizeof *grown);
        ocl_free(s->devs);
        s->devs = grown;
        clGetDeviceIDs(plats[p], CL_DEVICE_TYPE_ALL, nd, ids, NULL);
        cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)plats[p], 0};
        cl_context ctx = clCreateContext(props, nd, ids, NULL, NULL, &err);
        if (err != CL_SUCCESS) {
            ocl_log(XHAL_LOG_WARN, "platform '%s': clCreateContext failed: %s; skipped", pname, ocl_err_name(err));
            ocl_free(ids);
            continue;
        }
        for (cl_uint d = 0; d < nd; d++) {
            ocl_device *dev = &s->devs[s->ndev];
            dev->platform = plats[p];
            dev->id = ids[d];
            dev->ctx = ctx;
            if (d > 0) clRetainContext(ctx);
            copy_str(dev->platform_version, sizeof dev->platform_version, pver);
            pthread_mutex_init(&dev->lock, NULL);
            describe(dev, pname);
            dev->info.index = s->ndev;
            if (nd > 1) dev->info.caps |= XHAL_CAP_PEER_COPY;
            ocl_log(XHAL_LOG_INFO, "device %d: %s (%s, %s, driver %s)", s->ndev, dev->info.name, dev->info.family,
                    dev->info.arch, dev->info.driver_version);
            s->ndev++;
        }
        ocl_free(ids);
    }
    ocl_free(plats);
    *state_out = s;
    return XHAL_OK;
}

static void ocl_shutdown(void *state)
{
    ocl_state *s = state;
    if (!s) return;
    for (int i = 0; i < s->ndev; i++) {
        ocl_device *d = &s->devs[i];
        for (int v = 0; v < 2; v++) {
            if (!d->ops[v]) continue; /* (errors freed below) */
            for (int k = 0; k < XK_K_COUNT_; k++) clReleaseKernel(d->kernels[v][k]);
            clReleaseProgram(d->ops[v]);
        }
        for (int v = 0; v < 2; v++) ocl_free(d->ops_error[v]);
        clReleaseContext(d->ctx);
        pthread_mutex_destroy(&d->lock);
    }
    ocl_free(s->devs);
    ocl_free(s);
}

static int ocl_device_count(void *state) { return ((ocl_state *)state)->ndev; }

static xhal_status ocl_device_info(void *state, int device, xhal_device_info *info)
{
    ocl_device *d = &((ocl_state *)state)->devs[device];
    cl_ulong free_kb[2] = {0, 0};
    *info = d->info;
    if (d->amd_attrs &&
        clGetDeviceInfo(d->id, CL_DEVICE_GLOBAL_FREE_MEMORY_AMD, sizeof free_kb, free_kb, NULL) == CL_SUCCESS &&
        free_kb[0] > 0) {
        info->free_memory = (uint64_t)free_kb[0] * 1024u;
    } else {
        /* best effort: what this plugin has not allocated */
        pthread_mutex_lock(&d->lock);
        uint64_t used = d->allocated;
        pthread_mutex_unlock(&d->lock);
        info->free_memory = used < d->info.total_memory ? d->info.total_memory - used : 0;
    }
    return XHAL_OK;
}

/* ------------------------------------------------------------------ buffers */

static xhal_status ocl_buffer_alloc(void *state, int device, uint64_t size, void **out)
{
    ocl_device *d = &((ocl_state *)state)->devs[device];
    cl_int err;
    if (ocl_host->inject_fault && ocl_host->inject_fault("buffer_alloc"))
        return ocl_host->set_error(XHAL_ERROR_OUT_OF_MEMORY,
                                   "opencl: allocating %llu bytes on %s failed (injected fault)",
                                   (unsigned long long)size, d->info.name);
    ocl_buffer *b = ocl_calloc(1, sizeof *b);
    if (!b) return ocl_host->set_error(XHAL_ERROR_OUT_OF_MEMORY, "opencl: out of host memory");
    b->mem = clCreateBuffer(d->ctx, CL_MEM_READ_WRITE, (size_t)size, NULL, &err);
    if (err != CL_SUCCESS) {
        ocl_free(b);
        if (err == CL_INVALID_BUFFER_SIZE) err = CL_MEM_OBJECT_ALLOCATION_FAILURE;
        return ocl_fail(err, "clCreateBuffer(%llu bytes) on %s", (unsigned long long)size, d->info.name);
    }
    b->device = device;
    b->size = size;
    pthread_mutex_lock(&d->lock);
    d->allocated += size;
    pthread_mutex_unlock(&d->lock);
    *out = b;
    return XHAL_OK;
}

static void ocl_buffer_free(void *state, void *buffer)
{
    ocl_buffer *b = buffer;
    if (!b) return;
    ocl_device *d = &((ocl_state *)state)->devs[b->device];
    pthread_mutex_lock(&d->lock);
    d->allocated -= b->size;
    pthread_mutex_unlock(&d->lock);
    clReleaseMemObject(b->mem);
    ocl_free(b);
}

/* ------------------------------------------------------------------ streams */

static xhal_status ocl_stream_create(void *state, int device, void **out)
{
    ocl_device *d = &((ocl_state *)state)->devs[device];
    cl_int err;
    ocl_stream *s = ocl_calloc(1, sizeof *s);
    if (!s) return ocl_host->set_error(XHAL_ERROR_OUT_OF_MEMORY, "opencl: out of host memory");
    s->q = clCreateCommandQueue(d->ctx, d->id, CL_QUEUE_PROFILING_ENABLE, &err);
    if (err != CL_SUCCESS) {
        ocl_free(s);
        return ocl_fail(err, "clCreateCommandQueue on %s", d->info.name);
    }
    s->device = device;
    *out = s;
    return XHAL_OK;
}

static void ocl_stream_destroy(void *state, void *stream)
{
    ocl_stream *s = stream;
    if (!s) return;
    clFinish(s->q);
    clReleaseCommandQueue(s->q);
    ocl_free(s);
}

static xhal_status ocl_stream_sync(void *state, void *stream)
{
    cl_int err = clFinish(((ocl_stream *)stream)->q);
    if (err != CL_SUCCESS) return ocl_fail(err, "clFinish (queued work failed)");
    return XHAL_OK;
}

static xhal_status ocl_write(void *state, void *stream, void *buffer, uint64_t offset, const void *src, uint64_t size)
{
    ocl_buffer *b = buffer;
    cl_int err = clEnqueueWriteBuffer(((ocl_stream *)stream)->q, b->mem, CL_TRUE, (size_t)offset, (size_t)size, src, 0,
                                      NULL, NULL);
    if (err != CL_SUCCESS)
        return ocl_fail(err, "clEnqueueWriteBuffer(%llu bytes at %llu)", (unsigned long long)size,
                        (unsigned long long)offset);
    return XHAL_OK;
}

static xhal_status ocl_read(void *state, void *stream, void *buffer, uint64_t offset, void *dst, uint64_t size)
{
    ocl_buffer *b = buffer;
    cl_int err = clEnqueueReadBuffer(((ocl_stream *)stream)->q, b->mem, CL_TRUE, (size_t)offset, (size_t)size, dst, 0,
                                     NULL, NULL);
    if (err != CL_SUCCESS)
        return ocl_fail(err, "clEnqueueReadBuffer(%llu bytes at %llu)", (unsigned long long)size,
                        (unsigned long long)offset);
    return XHAL_OK;
}

static xhal_status ocl_copy(void *state, void *stream, void *src, uint64_t src_offset, void *dst, uint64_t dst_offset,
                            uint64_t size)
{
    cl_int err = clEnqueueCopyBuffer(((ocl_stream *)stream)->q, ((ocl_buffer *)src)->mem, ((ocl_buffer *)dst)->mem,
                                     (size_t)src_offset, (size_t)dst_offset, (size_t)size, 0, NULL, NULL);
    if (err != CL_SUCCESS) return ocl_fail(err, "clEnqueueCopyBuffer(%llu bytes)", (unsigned long long)size);
    return XHAL_OK;
}

/* Same platform (one context): the destination queue waits for the source queue's work,
 * copies, and the call returns when the copy is done. Other pairs: the core stages. */
static xhal_status ocl_copy_peer(void *state, void *src_stream, void *src, uint64_t src_offset, void *dst_stream,
                                 void *dst, uint64_t dst_offset, uint64_t size)
{
    ocl_state *s = state;
    ocl_stream *ss = src_stream, *ds = dst_stream;
    if (s->devs[ss->device].ctx != s->devs[ds->device].ctx)
        return ocl_host->set_error(XHAL_ERROR_UNSUPPORTED, "opencl: devices %d and %d are on different platforms",
                                   ss->device, ds->device);
    cl_event marker;
    cl_int err = clEnqueueMarkerWithWaitList(ss->q, 0, NULL, &marker);
    if (err != CL_SUCCESS) return ocl_fail(err, "clEnqueueMarkerWithWaitList");
    err = clEnqueueCopyBuffer(ds->q, ((ocl_buffer *)src)->mem, ((ocl_buffer *)dst)->mem, (size_t)src_offset,
                              (size_t)dst_offset, (size_t)size, 1, &marker, NULL);
    clReleaseEvent(marker);
    if (err != CL_SUCCESS) return ocl_fail(err, "clEnqueueCopyBuffer (peer)");
    err = clFinish(ds->q);
    if (err != CL_SUCCESS) return ocl_fail(err, "clFinish (peer copy)");
    return XHAL_OK;
}

/* ------------------------------------------------------------------ events */

static xhal_status ocl_event_create(void *state, int device, void **out)
{
    ocl_event *e = ocl_calloc(1, sizeof *e);
    if (!e) return ocl_host->set_error(XHAL_ERROR_OUT_OF_MEMORY, "opencl: out of host memory");
    e->device = device;
    *out = e;
    return XHAL_OK;
}

static void ocl_event_destroy(void *state, void *event)
{
    ocl_event *e = event;
    if (!e) return;
    if (e->ev) clReleaseEvent(e->ev);
    ocl_free(e);
}

static xhal_status ocl_event_record(void *state, void *event, void *stream)
{
    ocl_event *e = event;
    cl_event ev;
    cl_int err = clEnqueueMarkerWithWaitList(((ocl_stream *)stream)->q, 0, NULL, &ev);
    if (err != CL_SUCCESS) return ocl_fail(err, "clEnqueueMarkerWithWaitList (event record)");
    if (e->ev) clReleaseEvent(e->ev);
    e->ev = ev;
    return XHAL_OK;
}

static xhal_status ocl_stream_wait_event(void *state, void *stream, void *event)
{
    ocl_state *s = state;
    ocl_event *e = event;
    ocl_stream *st = stream;
    cl_int err;
    if (!e->ev) return XHAL_OK;
    if (s->devs[e->device].ctx == s->devs[st->device].ctx) {
        err = clEnqueueBarrierWithWaitList(st->q, 1, &e->ev, NULL);
        if (err != CL_SUCCESS) return ocl_fail(err, "clEnqueueBarrierWithWaitList");
    } else {
        /* events do not cross OpenCL contexts: wait on the host */
        err = clWaitForEvents(1, &e->ev);
        if (err != CL_SUCCESS) return ocl_fail(err, "clWaitForEvents");
    }
    return XHAL_OK;
}

static xhal_status ocl_event_sync(void *state, void *event)
{
    ocl_event *e = event;
    if (!e->ev) return XHAL_OK;
    cl_int err = clWaitForEvents(1, &e->ev);
    if (err != CL_SUCCESS) return ocl_fail(err, "clWaitForEvents");
    return XHAL_OK;
}

static xhal_status ocl_event_elapsed_ms(void *state, void *start, void *end, double *ms)
{
    ocl_event *a = start, *b = end;
    cl_ulong ta = 0, tb = 0;
    cl_int err = clWaitForEvents(1, &a->ev);
    if (err == CL_SUCCESS) err = clWaitForEvents(1, &b->ev);
    if (err != CL_SUCCESS) return ocl_fail(err, "clWaitForEvents (elapsed time)");
    err = clGetEventProfilingInfo(a->ev, CL_PROFILING_COMMAND_END, sizeof ta, &ta, NULL);
    if (err == CL_SUCCESS) err = clGetEventProfilingInfo(b->ev, CL_PROFILING_COMMAND_END, sizeof tb, &tb, NULL);
    if (err != CL_SUCCESS) return ocl_fail(err, "clGetEventProfilingInfo (marker timestamps)");
    *ms = ((double)tb - (double)ta) * 1e-6;
    return XHAL_OK;
}

/* ------------------------------------------------------------------ custom kernels */

static xhal_status ocl_program_create(void *state, int device, const char *source, const char *options, void **out)
{
    ocl_device *d = &((ocl_state *)state)->devs[device];
    char opts[2048];
    ocl_base_options(d, opts, sizeof opts);
    if (options && options[0]) {
        if (strlen(opts) + strlen(options) + 2 > sizeof opts)
            return ocl_host->set_error(XHAL_ERROR_INVALID_ARGUMENT, "opencl: program options longer than %zu bytes",
                                       sizeof opts - strlen(opts) - 2);
        strcat(opts, " ");
        strcat(opts, options);
    }
    size_t n1 = strlen(xk_src_prelude_opencl_h), n2 = strlen(xk_src_xk_common_h), n3 = strlen(source);
    char *src = ocl_alloc(n1 + n2 + n3 + 16);
    ocl_program *p = ocl_calloc(1, sizeof *p);
    if (!src || !p) {
        ocl_free(src);
        ocl_free(p);
        return ocl_host->set_error(XHAL_ERROR_OUT_OF_MEMORY, "opencl: out of host memory");
    }
    memcpy(src, xk_src_prelude_opencl_h, n1);
    memcpy(src + n1, xk_src_xk_common_h, n2);
    memcpy(src + n1 + n2, "#line 1\n", 8);
    memcpy(src + n1 + n2 + 8, source, n3 + 1);
    pthread_mutex_lock(&d->lock);
    xhal_status st = ocl_build_program(d, src, opts, "custom program", &p->prog);
    pthread_mutex_unlock(&d->lock);
    ocl_free(src);
    if (st != XHAL_OK) {
        ocl_free(p);
        return st;
    }
    p->device = device;
    *out = p;
    return XHAL_OK;
}

static void ocl_program_destroy(void *state, void *program)
{
    ocl_program *p = program;
    if (!p) return;
    clReleaseProgram(p->prog);
    ocl_free(p);
}

static xhal_status ocl_kernel_launch(void *state, void *stream, void *program, const char *name, int dims,
                                     const uint64_t *global_size, const uint64_t *local_size, int nargs,
                                     const xhal_backend_kernel_arg *args)
{
    ocl_state *s = state;
    ocl_stream *st = stream;
    ocl_program *p = program;
    ocl_device *d = &s->devs[st->device];
    cl_int err;
    xhal_status ret = XHAL_OK;
    size_t gs[3], ls[3];
    cl_mem subs[64];
    int nsubs = 0;

    if (nargs > 64)
        return ocl_host->set_error(XHAL_ERROR_UNSUPPORTED,
                                   "opencl: kernel '%s': %d arguments, at "
                                   "most 64 are supported",
                                   name, nargs);
    cl_kernel k = clCreateKernel(p->prog, name, &err);
    if (err == CL_INVALID_KERNEL_NAME)
        return ocl_host->set_error(XHAL_ERROR_NOT_FOUND, "opencl: no kernel '%s' in the program", name);
    if (err != CL_SUCCESS) return ocl_fail(err, "clCreateKernel(%s)", name);
    for (int i = 0; i < nargs && ret == XHAL_OK; i++) {
        const xhal_backend_kernel_arg *a = &args[i];
        switch (a->kind) {
            case XHAL_ARG_TENSOR: {
                ocl_buffer *b = a->buffer;
                cl_mem m = b->mem;
                if (a->offset != 0) {
                    if (a->offset % d->base_align != 0) {
                        ret = ocl_host->set_error(
                            XHAL_ERROR_UNSUPPORTED,
                            "opencl: kernel '%s' argument %d: a tensor at byte offset %llu of its "
                            "buffer cannot be passed on %s (offsets must be multiples of %llu bytes, "
                            "CL_DEVICE_MEM_BASE_ADDR_ALIGN)",
                            name, i, (unsigned long long)a->offset, d->info.name, (unsigned long long)d->base_align);
                        break;
                    }
                    cl_buffer_region r = {(size_t)a->offset, (size_t)(b->size - a->offset)};
                    m = clCreateSubBuffer(b->mem, 0, CL_BUFFER_CREATE_TYPE_REGION, &r, &err);
                    if (err != CL_SUCCESS) {
                        ret = ocl_fail(err, "clCreateSubBuffer for kernel '%s' argument %d", name, i);
                        break;
                    }
                    subs[nsubs++] = m;
                }
                err = clSetKernelArg(k, (cl_uint)i, sizeof m, &m);
                break;
            }
            case XHAL_ARG_I32: err = clSetKernelArg(k, (cl_uint)i, sizeof(cl_int), &a->value.i32); break;
            case XHAL_ARG_I64: err = clSetKernelArg(k, (cl_uint)i, sizeof(cl_long), &a->value.i64); break;
            case XHAL_ARG_F32: err = clSetKernelArg(k, (cl_uint)i, sizeof(cl_float), &a->value.f32); break;
            default:
                ret = ocl_host->set_error(XHAL_ERROR_INVALID_ARGUMENT,
                                          "opencl: kernel '%s' argument %d has unknown kind %d", name, i, (int)a->kind);
                break;
        }
        if (ret == XHAL_OK && err != CL_SUCCESS) {
            xhal_status code = XHAL_ERROR_INVALID_ARGUMENT;
            ret = ocl_host->set_error(code, "opencl: kernel '%s' argument %d: clSetKernelArg: %s (%d)", name, i,
                                      ocl_err_name(err), (int)err);
        }
    }
    if (ret == XHAL_OK) {
        for (int i = 0; i < dims; i++) {
            gs[i] = (size_t)global_size[i];
            if (local_size) ls[i] = (size_t)local_size[i];
        }
        err = clEnqueueNDRangeKernel(st->q, k, (cl_uint)dims, NULL, gs, local_size ? ls : NULL, 0, NULL, NULL);
        if (err == CL_INVALID_KERNEL_ARGS || err == CL_INVALID_WORK_GROUP_SIZE || err == CL_INVALID_WORK_ITEM_SIZE ||
            err == CL_INVALID_GLOBAL_WORK_SIZE)
            ret = ocl_host->set_error(XHAL_ERROR_INVALID_ARGUMENT, "opencl: launching kernel '%s': %s (%d)", name,
                                      ocl_err_name(err), (int)err);
        else if (err != CL_SUCCESS)
            ret = ocl_fail(err, "clEnqueueNDRangeKernel(%s)", name);
    }
    for (int i = 0; i < nsubs; i++) clReleaseMemObject(subs[i]); /* kept alive by the queue */
    clReleaseKernel(k);
    return ret;
}

/* ------------------------------------------------------------------ entry */

static const xhal_backend_table ocl_table = {
    .abi_version = XHAL_BACKEND_ABI_VERSION,
    .struct_size = sizeof(xhal_backend_table),
    .name = OCL_NAME,
    .version = "0.1.0",
    .catalogue_version = XHAL_BACKEND_CATALOGUE_VERSION,
    .init = ocl_init,
    .shutdown = ocl_shutdown,
    .device_count = ocl_device_count,
    .device_info = ocl_device_info,
    .buffer_alloc = ocl_buffer_alloc,
    .buffer_free = ocl_buffer_free,
    .stream_create = ocl_stream_create,
    .stream_destroy = ocl_stream_destroy,
    .stream_sync = ocl_stream_sync,
    .write = ocl_write,
    .read = ocl_read,
    .copy = ocl_copy,
    .op_supported = ocl_op_supported,
    .op_run = ocl_op_run,
    .event_create = ocl_event_create,
    .event_destroy = ocl_event_destroy,
    .event_record = ocl_event_record,
    .stream_wait_event = ocl_stream_wait_event,
    .event_sync = ocl_event_sync,
    .event_elapsed_ms = ocl_event_elapsed_ms,
    .copy_peer = ocl_copy_peer,
    .program_create = ocl_program_create,
    .program_destroy = ocl_program_destroy,
    .kernel_launch = ocl_kernel_launch,
};

/* The exported entry point: ABI checks and the host services (ocl_host), in one helper. */
XHAL_PLUGIN_ENTRY(ocl_table)
