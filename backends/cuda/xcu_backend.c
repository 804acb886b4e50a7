/*
 * xcu_backend.c - the plugin table of the CUDA-dialect backend: driver start-up,
 * devices, buffers, streams, events and copies. Ops live in xcu_ops.c, GEMM through the
 * vendor BLAS in xcu_blas.c, custom kernels in xcu_rtc.c.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xcu_internal.h"

#ifndef XHAL_CUDA_PLUGIN_VERSION
#define XHAL_CUDA_PLUGIN_VERSION "0.1.0"
#endif

xhal_status xcu_fail(xcu_state *st, xcu_result r, const char *call, const char *what)
{
    xhal_status status = r == XCU_ERROR_OUT_OF_MEMORY ? XHAL_ERROR_OUT_OF_MEMORY : XHAL_ERROR_BACKEND;
    return xcu_host->set_error(status, "%s: %s: %s failed with %s (%d)", XCU_BACKEND_NAME, what, call,
                               xcu_error_name(&st->drv, r), r);
}

xhal_status xcu_use_device(xcu_state *st, int device)
{
    XCU_TRY(st, "selecting the device", cuCtxSetCurrent, (st->devs[device].ctx));
    return XHAL_OK;
}

/* ------------------------------------------------------------------------- */
/* init / shutdown / devices                                                  */
/* ------------------------------------------------------------------------- */
static void xcu_release_devices(xcu_state *st)
{
    for (int i = 0; i < st->n_devices; i++) {
        xcu_dev *d = &st->devs[i];
        if (d->ctx == NULL) continue;
        st->drv.cuCtxSetCurrent(d->ctx);
        xcu_blas_release_device(st, d);
        xcu_ops_release_device(st, d);
        st->drv.cuCtxSetCurrent(NULL);
        st->drv.cuDevicePrimaryCtxRelease(d->dev);
        pthread_mutex_destroy(&d->lock);
        d->ctx = NULL;
    }
    xcu_host->host_free(st->devs);
    st->devs = NULL;
    st->n_devices = 0;
}

static void xcu_shutdown(void *state)
{
    xcu_state *st = state;
    if (st == NULL) return;
    xcu_release_devices(st);
    xcu_blas_unload(st);
    xcu_rtc_unload(st);
    xcu_coll_unload(st);
    xcu_driver_unload(&st->drv);
    pthread_mutex_destroy(&st->lock);
    xcu_host->host_free(st);
}

static xhal_status xcu_open_device(xcu_state *st, int i)
{
    xcu_dev *d = &st->devs[i];
    d->index = i;
    XCU_TRY(st, "enumerating devices", cuDeviceGet, (&d->dev, i));
    XCU_TRY(st, "reading the device name", cuDeviceGetName, (d->name, (int)sizeof d->name, d->dev));
    d->name[sizeof d->name - 1] = '\0';
    const struct {
        int attr;
        int *out;
    } attrs[] = {
        {XCU_ATTR_CC_MAJOR, &d->cc_major},   {XCU_ATTR_CC_MINOR, &d->cc_minor},
        {XCU_ATTR_SM_COUNT, &d->sm_count},   {XCU_ATTR_MAX_THREADS_PER_BLOCK, &d->max_threads},
        {XCU_ATTR_WARP_SIZE, &d->warp_size}, {XCU_ATTR_MAX_SHARED_PER_BLOCK, &d->max_shared},
    };
    for (size_t k = 0; k < sizeof attrs / sizeof attrs[0]; k++)
        XCU_TRY(st, "reading device attributes", cuDeviceGetAttribute, (attrs[k].out, attrs[k].attr, d->dev));
    if (XCU_ATTR_ARCH != 0 && st->drv.cuDeviceGetAttribute(&d->arch_attr, XCU_ATTR_ARCH, d->dev) != XCU_SUCCESS)
        d->arch_attr = 0;
    size_t total = 0;
    XCU_TRY(st, "reading the memory size", cuDeviceTotalMem, (&total, d->dev));
    d->total_memory = total;
    if (st->drv.cuDeviceGetPCIBusId(d->pci_bus_id, (int)sizeof d->pci_bus_id, d->dev) != XCU_SUCCESS)
        d->pci_bus_id[0] = '\0';
    d->pci_bus_id[sizeof d->pci_bus_id - 1] = '\0';
    for (char *p = d->pci_bus_id; *p; p++) *p = (char)tolower((unsigned char)*p);
    XCU_TRY(st, "retaining the primary context", cuDevicePrimaryCtxRetain, (&d->ctx, d->dev));
    pthread_mutex_init(&d->lock, NULL);
    return XHAL_OK;
}

static xhal_status xcu_init(const xhal_host_services *host, void **state)
{
    (void)host; /* the same services XHAL_PLUGIN_ENTRY keeps (xcu_host) */
    char reason[512];
    xcu_state *st = xcu_host->host_calloc(1, sizeof *st);
    if (st == NULL)
        return xcu_host->set_error(XHAL_ERROR_OUT_OF_MEMORY, "%s: no host memory for the backend state",
                                   XCU_BACKEND_NAME);
    if (xcu_driver_load(&st->drv, reason, sizeof reason) != 0) {
        xcu_host->host_free(st);
        return xcu_host->set_error(XHAL_ERROR_UNAVAILABLE, "%s", reason);
    }
    pthread_mutex_init(&st->lock, NULL);
    int count = 0;
    xcu_result r = st->drv.cuDeviceGetCount(&count);
    if (r == XCU_ERROR_NO_DEVICE)
        count = 0;
    else if (r != XCU_SUCCESS) {
        xcu_fail(st, r, XCU_SYM_cuDeviceGetCount, "counting devices");
        xcu_shutdown(st);
        return XHAL_ERROR_UNAVAILABLE;
    }
    if (count > XCU_MAX_DEVICES) count = XCU_MAX_DEVICES;
    if (count > 0) {
        st->devs = xcu_host->host_calloc((size_t)count, sizeof *st->devs);
        if (st->devs == NULL) {
            xcu_shutdown(st);
            return xcu_host->set_error(XHAL_ERROR_OUT_OF_MEMORY, "%s: no host memory for %d devices", XCU_BACKEND_NAME,
                                       count);
        }
    }
    st->n_devices = count; /* devices not yet opened have ctx == NULL and are skipped on release */
    for (int i = 0; i < count; i++) {
        xhal_status s = xcu_open_device(st, i);
        if (s != XHAL_OK) {
            xcu_shutdown(st);
            /* keep the driver's message from xcu_fail, but say the backend is unusable */
            return s == XHAL_ERROR_OUT_OF_MEMORY ? s : XHAL_ERROR_UNAVAILABLE;
        }
    }
    if (xcu_host->log != NULL)
        xcu_host->log(XHAL_LOG_INFO, XCU_BACKEND_NAME, "%s %d via %s: %d device(s)", XCU_DRIVER_LABEL, st->drv.version,
                      st->drv.library_name, count);
    *state = st;
    return XHAL_OK;
}

static int xcu_device_count(void *state) { return ((xcu_state *)state)->n_devices; }

static xhal_status xcu_device_info(void *state, int device, xhal_device_info *info)
{
    xcu_state *st = state;
    xcu_dev *d = &st->devs[device];
    xhal_status s = xcu_use_device(st, device);
    if (s != XHAL_OK) return s;
    size_t free_b = 0, total_b = 0;
    XCU_TRY(st, "reading free memory", cuMemGetInfo, (&free_b, &total_b));
    snprintf(info->backend, sizeof info->backend, "%s", XCU_BACKEND_NAME);
    snprintf(info->name, sizeof info->name, "%s", d->name);
    snprintf(info->vendor, sizeof info->vendor, "%s", xcu_vendor_vendor(st->drv.library_name, d->name));
    snprintf(info->family, sizeof info->family, "%s", xcu_vendor_family(d->cc_major, d->cc_minor, d->arch_attr));
    xcu_vendor_arch(info->arch, sizeof info->arch, d->cc_major, d->cc_minor, d->arch_attr);
    xcu_vendor_driver_version(info->driver_version, sizeof info->driver_version, st->drv.version);
    snprintf(info->pci_bus_id, sizeof info->pci_bus_id, "%s", d->pci_bus_id);
    info->total_memory = d->total_memory;
    info->free_memory = free_b;
    info->compute_units = d->sm_count;
    info->index = device;
    info->dtypes = 0;
    for (int dt = XHAL_DTYPE_F32; dt < XHAL_DTYPE_COUNT_; dt++) info->dtypes |= XHAL_DTYPE_BIT(dt);
    /* block-quantized weights: copy (dequantize, quantize to q8_0/q4_0) and matmul's b (xk_ops.cl) */
    info->dtypes |= XHAL_DTYPE_BIT(XHAL_DTYPE_Q8_0) | XHAL_DTYPE_BIT(XHAL_DTYPE_Q4_0) |
                    XHAL_DTYPE_BIT(XHAL_DTYPE_Q4_K) | XHAL_DTYPE_BIT(XHAL_DTYPE_Q6_K);
    info->caps = XHAL_CAP_F64 | XHAL_CAP_EVENT_TIMING | XHAL_CAP_PINNED_HOST;
    for (int j = 0; j < st->n_devices; j++) {
        int can = 0;
        if (j != device && st->drv.cuDeviceCanAccessPeer(&can, d->dev, st->devs[j].dev) == XCU_SUCCESS && can)
            info->caps |= XHAL_CAP_PEER_COPY;
    }
    if (xcu_rtc_available(st)) info->caps |= XHAL_CAP_CUSTOM_KERNELS;
    return XHAL_OK;
}

/* ------------------------------------------------------------------------- */
/* buffers                                                                    */
/* ------------------------------------------------------------------------- */
static xhal_status xcu_buffer_alloc(void *state, int device, uint64_t size, void **buffer)
{
    xcu_state *st = state;
    if (xcu_host->inject_fault != NULL && xcu_host->inject_fault("buffer_alloc"))
        return xcu_host->set_error(XHAL_ERROR_OUT_OF_MEMORY, "%s:%d: allocating %llu bytes failed (injected fault)",
                                   XCU_BACKEND_NAME, device, (unsigned long long)size);
    if (size > (uint64_t)SIZE_MAX)
        return xcu_host->set_error(XHAL_ERROR_OUT_OF_MEMORY, "%s:%d: %llu bytes exceed the address space",
                                   XCU_BACKEND_NAME, device, (unsigned long long)size);
    xhal_status s = xcu_use_device(st, device);
    if (s != XHAL_OK) return s;
    xcu_buffer *b = xcu_host->host_alloc(sizeof *b);
    if (b == NULL)
        return xcu_host->set_error(XHAL_ERROR_OUT_OF_MEMORY, "%s: no host memory for a buffer handle",
                                   XCU_BACKEND_NAME);
    xcu_result r = st->drv.cuMemAlloc(&b->ptr, (size_t)size);
    if (r != XCU_SUCCESS) {
        xcu_host->host_free(b);
        if (r == XCU_ERROR_OUT_OF_MEMORY) {
            size_t free_b = 0, total_b = 0;
            st->drv.cuMemGetInfo(&free_b, &total_b);
            return xcu_host->set_error(XHAL_ERROR_OUT_OF_MEMORY,
                                       "%s:%d: allocating %llu bytes failed with %s (%llu of %llu bytes free)",
                                       XCU_BACKEND_NAME, device, (unsigned long long)size, xcu_error_name(&st->drv, r),
                                       (unsigned long long)free_b, (unsigned long long)total_b);
        }
        return xcu_fail(st, r, XCU_SYM_cuMemAlloc, "allocating device memory");
    }
    b->size = size;
    b->device = device;
    *buffer = b;
    return XHAL_OK;
}

static void xcu_buffer_free(void *state, void *buffer)
{
    xcu_state *st = state;
    xcu_buffer *b = buffer;
    if (b == NULL) return;
    if (xcu_use_device(st, b->device) == XHAL_OK) st->drv.cuMemFree(b->ptr);
    xcu_host->host_free(b);
}

/* ------------------------------------------------------------------------- */
/* streams                                                                    */
/* ------------------------------------------------------------------------- */
static xhal_status xcu_stream_create(void *state, int device, void **stream)
{
    xcu_state *st = state;
    xhal_status s = xcu_use_device(st, device);
    if (s != XHAL_OK) return s;
    xcu_stream_obj *so = xcu_host->host_calloc(1, sizeof *so);
    if (so == NULL)
        return xcu_host->set_error(XHAL_ERROR_OUT_OF_MEMORY, "%s: no host memory for a stream", XCU_BACKEND_NAME);
    xcu_result r = st->drv.cuStreamCreate(&so->s, XCU_STREAM_NON_BLOCKING);
    if (r != XCU_SUCCESS) {
        xcu_host->host_free(so);
        return xcu_fail(st, r, XCU_SYM_cuStreamCreate, "creating a stream");
    }
    so->device = device;
    *stream = so;
    return XHAL_OK;
}

static void xcu_stream_destroy(void *state, void *stream)
{
    xcu_state *st = state;
    xcu_stream_obj *so = stream;
    if (so == NULL) return;
    if (xcu_use_device(st, so->device) == XHAL_OK) {
        st->drv.cuStreamSynchronize(so->s);
        for (int i = 0; i < 2; i++) {
            if (so->staged[i] != NULL) st->drv.cuEventDestroy(so->staged[i]);
            if (so->staging[i] != NULL) st->drv.cuMemFreeHost(so->staging[i]);
        }
        st->drv.cuStreamDestroy(so->s);
    }
    xcu_host->host_free(so);
}

static xhal_status xcu_stream_sync(void *state, void *stream)
{
    xcu_state *st = state;
    xcu_stream_obj *so = stream;
    xhal_status s = xcu_use_device(st, so->device);
    if (s != XHAL_OK) return s;
    XCU_TRY(st, "waiting for the stream", cuStreamSynchronize, (so->s));
    return XHAL_OK;
}

/* Pinned staging halves, made on first use. Pinned memory cannot be placed through
 * host->topo_alloc_near (the driver allocates and pins it); NUMA placement of staging is
 * left to the driver and the caller's thread binding. Returns 0 when staging is usable. */
static int xcu_staging_ready(xcu_state *st, xcu_stream_obj *so)
{
    if (so->staging_failed) return -1;
    if (so->staging[0] != NULL) return 0;
    for (int i = 0; i < 2; i++) {
        if (st->drv.cuMemHostAlloc(&so->staging[i], XCU_STAGING_CHUNK, XCU_HOSTALLOC_PORTABLE) != XCU_SUCCESS ||
            st->drv.cuEventCreate(&so->staged[i], XCU_EVENT_DEFAULT) != XCU_SUCCESS) {
            for (int j = 0; j <= i; j++) {
                if (so->staging[j] != NULL) st->drv.cuMemFreeHost(so->staging[j]);
                if (so->staged[j] != NULL) st->drv.cuEventDestroy(so->staged[j]);
                so->staging[j] = NULL;
                so->staged[j] = NULL;
            }
            so->staging_failed = 1;
            if (xcu_host->log != NULL)
                xcu_host->log(XHAL_LOG_WARN, XCU_BACKEND_NAME,
                              "pinned staging memory refused; transfers use pageable memory");
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------- */
/* host <-> device transfers                                                  */
/* ------------------------------------------------------------------------- */
static xhal_status xcu_write(void *state, void *stream, void *buffer, uint64_t offset, const void *src, uint64_t size)
{
    xcu_state *st = state;
    xcu_stream_obj *so = stream;
    xcu_buffer *b = buffer;
    xhal_status s = xcu_use_device(st, so->device);
    if (s != XHAL_OK) return s;
    const unsigned char *in = src;
    xcu_deviceptr dst = b->ptr + offset;
    if (xcu_staging_ready(st, so) != 0) {
        XCU_TRY(st, "writing to the device", cuMemcpyHtoDAsync, (dst, src, (size_t)size, so->s));
        XCU_TRY(st, "writing to the device", cuStreamSynchronize, (so->s));
        return XHAL_OK;
    }
    uint64_t pos = 0;
    for (uint64_t k = 0; pos < size; k++) {
        size_t n = (size_t)(size - pos < XCU_STAGING_CHUNK ? size - pos : XCU_STAGING_CHUNK);
        int half = (int)(k & 1u);
        if (k >= 2) /* the DMA that last read this half must be done before it is refilled */
            XCU_TRY(st, "writing to the device", cuEventSynchronize, (so->staged[half]));
        memcpy(so->staging[half], in + pos, n);
        XCU_TRY(st, "writing to the device", cuMemcpyHtoDAsync, (dst + pos, so->staging[half], n, so->s));
        XCU_TRY(st, "writing to the device", cuEventRecord, (so->staged[half], so->s));
        pos += n;
    }
    XCU_TRY(st, "writing to the device", cuStreamSynchronize, (so->s));
    return XHAL_OK;
}

static xhal_status xcu_read(void *state, void *stream, void *buffer, uint64_t offset, void *dst, uint64_t size)
{
    xcu_state *st = state;
    xcu_stream_obj *so = stream;
    xcu_buffer *b = buffer;
    xhal_status s = xcu_use_device(st, so->device);
    if (s != XHAL_OK) return s;
    unsigned char *out = dst;
    xcu_deviceptr src = b->ptr + offset;
    if (xcu_staging_ready(st, so) != 0) {
        XCU_TRY(st, "reading from the device", cuMemcpyDtoHAsync, (dst, src, (size_t)size, so->s));
        XCU_TRY(st, "reading from the device", cuStreamSynchronize, (so->s));
        return XHAL_OK;
    }
    uint64_t chunks = (size + XCU_STAGING_CHUNK - 1) / XCU_STAGING_CHUNK;
    /* chunk k goes through half k % 2: two DMAs in flight while the host copies out */
    for (uint64_t k = 0; k < chunks && k < 2; k++) {
        uint64_t p = k * XCU_STAGING_CHUNK;
        size_t n = (size_t)(size - p < XCU_STAGING_CHUNK ? size - p : XCU_STAGING_CHUNK);
        XCU_TRY(st, "reading from the device", cuMemcpyDtoHAsync, (so->staging[k], src + p, n, so->s));
        XCU_TRY(st, "reading from the device", cuEventRecord, (so->staged[k], so->s));
    }
    for (uint64_t k = 0; k < chunks; k++) {
        int half = (int)(k & 1u);
        uint64_t p = k * XCU_STAGING_CHUNK;
        size_t n = (size_t)(size - p < XCU_STAGING_CHUNK ? size - p : XCU_STAGING_CHUNK);
        XCU_TRY(st, "reading from the device", cuEventSynchronize, (so->staged[half]));
        memcpy(out + p, so->staging[half], n);
        if (k + 2 < chunks) {
            uint64_t p2 = (k + 2) * XCU_STAGING_CHUNK;
            size_t n2 = (size_t)(size - p2 < XCU_STAGING_CHUNK ? size - p2 : XCU_STAGING_CHUNK);
            XCU_TRY(st, "reading from the device", cuMemcpyDtoHAsync, (so->staging[half], src + p2, n2, so->s));
            XCU_TRY(st, "reading from the device", cuEventRecord, (so->staged[half], so->s));
        }
    }
    return XHAL_OK;
}

static xhal_status xcu_copy(void *state, void *stream, void *src, uint64_t src_offset, void *dst, uint64_t dst_offset,
                            uint64_t size)
{
    xcu_state *st = state;
    xcu_stream_obj *so = stream;
    xhal_status s = xcu_use_device(st, so->device);
    if (s != XHAL_OK) return s;
    XCU_TRY(st, "copying on the device", cuMemcpyDtoDAsync,
            (((xcu_buffer *)dst)->ptr + dst_offset, ((xcu_buffer *)src)->ptr + src_offset, (size_t)size, so->s));
    return XHAL_OK;
}

/* Direct copy between two devices when the driver allows peer access; UNSUPPORTED (the
 * core then stages through the host) otherwise. Synchronous: ordered after the work of
 * both streams and finished on return. */
static xhal_status xcu_copy_peer(void *state, void *src_stream, void *src, uint64_t src_offset, void *dst_stream,
                                 void *dst, uint64_t dst_offset, uint64_t size)
{
    xcu_state *st = state;
    xcu_stream_obj *ss = src_stream, *ds = dst_stream;
    xcu_buffer *sb = src, *db = dst;
    xcu_dev *sd = &st->devs[sb->device], *dd = &st->devs[db->device];
    if (sb->device == db->device) {
        xhal_status s = xcu_stream_sync(st, ss);
        if (s != XHAL_OK) return s;
        s = xcu_copy(st, ds, src, src_offset, dst, dst_offset, size);
        return s != XHAL_OK ? s : xcu_stream_sync(st, ds);
    }
    pthread_mutex_lock(&dd->lock);
    int *state_flag = &dd->peer_enabled[sb->device];
    if (*state_flag == 0) {
        int can = 0;
        if (st->drv.cuDeviceCanAccessPeer(&can, dd->dev, sd->dev) != XCU_SUCCESS || !can)
            *state_flag = -1;
        else if (st->drv.cuCtxSetCurrent(dd->ctx) == XCU_SUCCESS) {
            xcu_result r = st->drv.cuCtxEnablePeerAccess(sd->ctx, 0);
            *state_flag = (r == XCU_SUCCESS || r == XCU_ERROR_PEER_ACCESS_ALREADY_ENABLED) ? 1 : -1;
        } else
            *state_flag = -1;
    }
    int enabled = *state_flag;
    pthread_mutex_unlock(&dd->lock);
    if (enabled != 1)
        return xcu_host->set_error(XHAL_ERROR_UNSUPPORTED, "%s: no peer access from device %d to %d", XCU_BACKEND_NAME,
                                   db->device, sb->device);
    xhal_status s = xcu_stream_sync(st, ss);
    if (s != XHAL_OK) return s;
    if ((s = xcu_use_device(st, db->device)) != XHAL_OK) return s;
    /* CUDA names the two contexts, HIP the two device ordinals: the mapping picks. */
    xcu_result r = XCU_COPY_PEER(&st->drv, db->ptr + dst_offset, dd->dev, dd->ctx, sb->ptr + src_offset, sd->dev,
                                 sd->ctx, (size_t)size, ds->s);
    if (r != XCU_SUCCESS) return xcu_fail(st, r, XCU_SYM_cuMemcpyPeerAsync, "copying between devices");
    return xcu_stream_sync(st, ds);
}

/* ------------------------------------------------------------------------- */
/* events                                                                     */
/* ------------------------------------------------------------------------- */
static xhal_status xcu_event_create(void *state, int device, void **event)
{
    xcu_state *st = state;
    xhal_status s = xcu_use_device(st, device);
    if (s != XHAL_OK) return s;
    xcu_event_obj *e = xcu_host->host_calloc(1, sizeof *e);
    if (e == NULL)
        return xcu_host->set_error(XHAL_ERROR_OUT_OF_MEMORY, "%s: no host memory for an event", XCU_BACKEND_NAME);
    xcu_result r = st->drv.cuEventCreate(&e->e, XCU_EVENT_DEFAULT);
    if (r != XCU_SUCCESS) {
        xcu_host->host_free(e);
        return xcu_fail(st, r, XCU_SYM_cuEventCreate, "creating an event");
    }
    e->device = device;
    *event = e;
    return XHAL_OK;
}

static void xcu_event_destroy(void *state, void *event)
{
    xcu_state *st = state;
    xcu_event_obj *e = event;
    if (e == NULL) return;
    if (xcu_use_device(st, e->device) == XHAL_OK) st->drv.cuEventDestroy(e->e);
    xcu_host->host_free(e);
}

static xhal_status xcu_event_record(void *state, void *event, void *stream)
{
    xcu_state *st = state;
    xcu_event_obj *e = event;
    xcu_stream_obj *so = stream;
    xhal_status s = xcu_use_device(st, so->device);
    if (s != XHAL_OK) return s;
    XCU_TRY(st, "recording an event", cuEventRecord, (e->e, so->s));
    return XHAL_OK;
}

static xhal_status xcu_stream_wait_event(void *state, void *stream, void *event)
{
    xcu_state *st = state;
    xcu_event_obj *e = event;
    xcu_stream_obj *so = stream;
    xhal_status s = xcu_use_device(st, so->device);
    if (s != XHAL_OK) return s;
    XCU_TRY(st, "waiting for an event on a stream", cuStreamWaitEvent, (so->s, e->e, 0));
    return XHAL_OK;
}

static xhal_status xcu_event_sync(void *state, void *event)
{
    xcu_state *st = state;
    xcu_event_obj *e = event;
    xhal_status s = xcu_use_device(st, e->device);
    if (s != XHAL_OK) return s;
    XCU_TRY(st, "waiting for an event", cuEventSynchronize, (e->e));
    return XHAL_OK;
}

static xhal_status xcu_event_elapsed_ms(void *state, void *start, void *end, double *ms)
{
    xcu_state *st = state;
    xcu_event_obj *a = start, *b = end;
    xhal_status s = xcu_use_device(st, a->device);
    if (s != XHAL_OK) return s;
    float f = 0.0f;
    XCU_TRY(st, "measuring time between events", cuEventElapsedTime, (&f, a->e, b->e));
    *ms = (double)f;
    return XHAL_OK;
}

/* ------------------------------------------------------------------------- */
/* the table                                                                  */
/* ------------------------------------------------------------------------- */
static const xhal_backend_table xcu_table = {
    .abi_version = XHAL_BACKEND_ABI_VERSION,
    .struct_size = sizeof(xhal_backend_table),
    .name = XCU_BACKEND_NAME,
    .version = XHAL_CUDA_PLUGIN_VERSION,
    .catalogue_version = XHAL_BACKEND_CATALOGUE_VERSION,
    .init = xcu_init,
    .shutdown = xcu_shutdown,
    .device_count = xcu_device_count,
    .device_info = xcu_device_info,
    .buffer_alloc = xcu_buffer_alloc,
    .buffer_free = xcu_buffer_free,
    .stream_create = xcu_stream_create,
    .stream_destroy = xcu_stream_destroy,
    .stream_sync = xcu_stream_sync,
    .write = xcu_write,
    .read = xcu_read,
    .copy = xcu_copy,
    .op_supported = xcu_op_supported,
    .op_run = xcu_op_run,
    .event_create = xcu_event_create,
    .event_destroy = xcu_event_destroy,
    .event_record = xcu_event_record,
    .stream_wait_event = xcu_stream_wait_event,
    .event_sync = xcu_event_sync,
    .event_elapsed_ms = xcu_event_elapsed_ms,
    .copy_peer = xcu_copy_peer,
    .program_create = xcu_program_create,
    .program_destroy = xcu_program_destroy,
    .kernel_launch = xcu_kernel_launch,
    .coll_comm_create = xcu_coll_comm_create,
    .coll_comm_destroy = xcu_coll_comm_destroy,
    .coll_run = xcu_coll_run,
};

/* The exported entry point: ABI checks and the host services (xcu_host), in one helper. */
XHAL_PLUGIN_ENTRY(xcu_table)
