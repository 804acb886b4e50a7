/* stream.c - streams, events and custom-kernel programs (each destroys itself at context teardown). */
#include "fault.h"
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

xhal_status hal_check_stream(xhal_stream *s, const char *what)
{
    if (!s) return hal_set_error(XHAL_ERROR_INVALID_HANDLE, "%s: stream is NULL", what);
    if (!hal_handle_live(s, HAL_KIND_STREAM))
        return hal_set_error(XHAL_ERROR_INVALID_HANDLE, "%s: %p is not a live stream (destroyed?)", what, (void *)s);
    return XHAL_OK;
}

static xhal_status check_event(xhal_event *e, const char *what)
{
    if (!e) return hal_set_error(XHAL_ERROR_INVALID_HANDLE, "%s: event is NULL", what);
    if (!hal_handle_live(e, HAL_KIND_EVENT))
        return hal_set_error(XHAL_ERROR_INVALID_HANDLE, "%s: %p is not a live event (destroyed?)", what, (void *)e);
    return XHAL_OK;
}

static const xhal_backend_table *T(xhal_device *d) { return d->backend->table; }
static void *S(xhal_device *d) { return d->backend->state; }

/* Context teardown of each kind (hal_ctx_attach): the public destroy, which waits for the
 * work queued on a stream before it goes. */
static void stream_teardown(hal_handle_hdr *h) { xhal_stream_destroy((xhal_stream *)h); }
static void event_teardown(hal_handle_hdr *h) { xhal_event_destroy((xhal_event *)h); }
static void program_teardown(hal_handle_hdr *h) { xhal_program_destroy((xhal_program *)h); }

XHAL_API xhal_status xhal_stream_create(xhal_device *dev, xhal_stream **out)
{
    xhal_status st = hal_check_device(dev, "xhal_stream_create");
    if (st != XHAL_OK) return st;
    if (!out) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_stream_create: out is NULL");
    if (hal_fault_hit("host_alloc")) return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "out of host memory for a stream");
    xhal_stream *s = calloc(1, sizeof *s);
    if (!s) return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "out of host memory for a stream");
    if (hal_fault_hit("stream_create"))
        st = hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "injected fault: stream creation");
    else
        st = T(dev)->stream_create(S(dev), dev->index, &s->handle);
    if (st != XHAL_OK) {
        free(s);
        return hal_error_prefix(st, "creating a stream on %s", dev->spec);
    }
    if (hal_handle_register(&s->hdr, HAL_KIND_STREAM, dev->ctx) != 0) {
        T(dev)->stream_destroy(S(dev), s->handle);
        free(s);
        return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "out of host memory registering a stream");
    }
    s->dev = dev;
    hal_ctx_attach(dev->ctx, &s->hdr, stream_teardown);
    *out = s;
    return XHAL_OK;
}

XHAL_API xhal_status xhal_stream_synchronize(xhal_stream *s)
{
    xhal_status st = hal_check_stream(s, "xhal_stream_synchronize");
    if (st == XHAL_OK) st = hal_check_not_capturing(s, "xhal_stream_synchronize");
    if (st != XHAL_OK) return st;
    st = T(s->dev)->stream_sync(S(s->dev), s->handle);
    if (st != XHAL_OK) return hal_error_prefix(st, "stream on %s", s->dev->spec);
    return hal_op_status_check(s, "xhal_stream_synchronize");
}

XHAL_API xhal_status xhal_stream_destroy(xhal_stream *s)
{
    if (!s) return XHAL_OK;
    xhal_status st = hal_check_stream(s, "xhal_stream_destroy");
    if (st != XHAL_OK) return st;
    hal_graph_abort(s); /* a capture in progress is dropped with its stream */
    xhal_status sync = T(s->dev)->stream_sync(S(s->dev), s->handle);
    if (sync == XHAL_OK) sync = hal_op_status_check(s, "xhal_stream_destroy");
    char msg[1024] = "";
    if (sync != XHAL_OK) hal_error_copy(msg, sizeof msg);
    hal_op_status_free(s);
    T(s->dev)->stream_destroy(S(s->dev), s->handle);
    hal_ctx_detach(s->dev->ctx, &s->hdr);
    hal_handle_unregister(s);
    char spec[48];
    memcpy(spec, s->dev->spec, sizeof spec);
    free(s);
    if (sync != XHAL_OK) return hal_set_error(sync, "stream on %s failed before it was destroyed: %s", spec, msg);
    return XHAL_OK;
}

XHAL_API xhal_status xhal_stream_device(xhal_stream *s, xhal_device **dev)
{
    xhal_status st = hal_check_stream(s, "xhal_stream_device");
    if (st != XHAL_OK) return st;
    if (!dev) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_stream_device: dev is NULL");
    *dev = s->dev;
    return XHAL_OK;
}

/* ---- events ---- */
static double host_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

XHAL_API xhal_status xhal_event_create(xhal_device *dev, xhal_event **out)
{
    xhal_status st = hal_check_device(dev, "xhal_event_create");
    if (st != XHAL_OK) return st;
    if (!out) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_event_create: out is NULL");
    if (hal_fault_hit("host_alloc")) return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "out of host memory for an event");
    xhal_event *e = calloc(1, sizeof *e);
    if (!e) return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "out of host memory for an event");
    if (T(dev)->event_create) {
        st = T(dev)->event_create(S(dev), dev->index, &e->handle);
        if (st != XHAL_OK) {
            free(e);
            return hal_error_prefix(st, "creating an event on %s", dev->spec);
        }
    }
    if (hal_handle_register(&e->hdr, HAL_KIND_EVENT, dev->ctx) != 0) {
        if (e->handle) T(dev)->event_destroy(S(dev), e->handle);
        free(e);
        return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "out of host memory registering an event");
    }
    e->dev = dev;
    hal_ctx_attach(dev->ctx, &e->hdr, event_teardown);
    *out = e;
    return XHAL_OK;
}

XHAL_API xhal_status xhal_event_destroy(xhal_event *e)
{
    if (!e) return XHAL_OK;
    xhal_status st = check_event(e, "xhal_event_destroy");
    if (st != XHAL_OK) return st;
    if (e->handle && T(e->dev)->event_destroy) T(e->dev)->event_destroy(S(e->dev), e->handle);
    hal_ctx_detach(e->dev->ctx, &e->hdr);
    hal_handle_unregister(e);
    free(e);
    return XHAL_OK;
}

XHAL_API xhal_status xhal_event_record(xhal_event *e, xhal_stream *s)
{
    xhal_status st = check_event(e, "xhal_event_record");
    if (st == XHAL_OK) st = hal_check_stream(s, "xhal_event_record");
    if (st == XHAL_OK) st = hal_check_not_capturing(s, "xhal_event_record");
    if (st != XHAL_OK) return st;
    if (s->dev != e->dev)
        return hal_set_error(XHAL_ERROR_WRONG_DEVICE, "xhal_event_record: event is on %s but the stream is on %s",
                             e->dev->spec, s->dev->spec);
    if (e->handle) {
        st = T(e->dev)->event_record(S(e->dev), e->handle, s->handle);
        if (st != XHAL_OK) return hal_error_prefix(st, "recording an event on %s", e->dev->spec);
    } else {
        /* emulated: the point after queued work is when the stream drains */
        st = T(s->dev)->stream_sync(S(s->dev), s->handle);
        if (st != XHAL_OK) return hal_error_prefix(st, "recording an event on %s", e->dev->spec);
        e->host_time_ms = host_ms();
    }
    e->recorded = 1;
    return XHAL_OK;
}

XHAL_API xhal_status xhal_stream_wait_event(xhal_stream *s, xhal_event *e)
{
    xhal_status st = hal_check_stream(s, "xhal_stream_wait_event");
    if (st == XHAL_OK) st = hal_check_not_capturing(s, "xhal_stream_wait_event");
    if (st == XHAL_OK) st = check_event(e, "xhal_stream_wait_event");
    if (st != XHAL_OK) return st;
    if (!e->recorded)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_stream_wait_event: the event was never recorded");
    if (!e->handle) return XHAL_OK; /* emulated events are complete once recorded */
    if (e->dev->backend == s->dev->backend && T(s->dev)->stream_wait_event) {
        st = T(s->dev)->stream_wait_event(S(s->dev), s->handle, e->handle);
        return st == XHAL_OK ? st : hal_error_prefix(st, "stream on %s waiting for an event", s->dev->spec);
    }
    /* another backend: the host waits */
    st = T(e->dev)->event_sync(S(e->dev), e->handle);
    return st == XHAL_OK ? st : hal_error_prefix(st, "waiting for an event on %s", e->dev->spec);
}

XHAL_API xhal_status xhal_event_synchronize(xhal_event *e)
{
    xhal_status st = check_event(e, "xhal_event_synchronize");
    if (st != XHAL_OK) return st;
    if (!e->recorded)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_event_synchronize: the event was never recorded");
    if (!e->handle) return XHAL_OK;
    st = T(e->dev)->event_sync(S(e->dev), e->handle);
    return st == XHAL_OK ? st : hal_error_prefix(st, "waiting for an event on %s", e->dev->spec);
}

XHAL_API xhal_status xhal_event_elapsed_ms(xhal_event *a, xhal_event *b, double *ms)
{
    xhal_status st = check_event(a, "xhal_event_elapsed_ms (start)");
    if (st == XHAL_OK) st = check_event(b, "xhal_event_elapsed_ms (end)");
    if (st != XHAL_OK) return st;
    if (!ms) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_event_elapsed_ms: ms is NULL");
    if (a->dev != b->dev)
        return hal_set_error(XHAL_ERROR_WRONG_DEVICE, "xhal_event_elapsed_ms: events are on %s and %s", a->dev->spec,
                             b->dev->spec);
    if (!a->recorded || !b->recorded)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_event_elapsed_ms: the %s event was never recorded",
                             a->recorded ? "end" : "start");
    if (!a->handle) {
        *ms = b->host_time_ms - a->host_time_ms;
        return XHAL_OK;
    }
    st = T(a->dev)->event_elapsed_ms(S(a->dev), a->handle, b->handle, ms);
    return st == XHAL_OK ? st : hal_error_prefix(st, "elapsed time of events on %s", a->dev->spec);
}

/* ---- programs ---- */
static xhal_status check_program(xhal_program *p, const char *what)
{
    if (!p) return hal_set_error(XHAL_ERROR_INVALID_HANDLE, "%s: program is NULL", what);
    if (!hal_handle_live(p, HAL_KIND_PROGRAM))
        return hal_set_error(XHAL_ERROR_INVALID_HANDLE, "%s: %p is not a live program (destroyed?)", what, (void *)p);
    return XHAL_OK;
}

XHAL_API xhal_status xhal_program_create(xhal_device *dev, const char *source, const char *options, xhal_program **out)
{
    xhal_status st = hal_check_device(dev, "xhal_program_create");
    if (st != XHAL_OK) return st;
    if (!source || !out)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_program_create: source or out is NULL");
    if (!T(dev)->program_create || !T(dev)->kernel_launch)
        return hal_set_error(XHAL_ERROR_UNSUPPORTED,
                             "xhal_program_create: device %s (backend %s) has no custom kernels", dev->spec,
                             dev->backend->info.name);
    xhal_program *p = calloc(1, sizeof *p);
    if (!p) return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "out of host memory for a program");
    st = T(dev)->program_create(S(dev), dev->index, source, options ? options : "", &p->handle);
    if (st != XHAL_OK) {
        free(p);
        return hal_error_prefix(st, "building a program for %s", dev->spec);
    }
    if (hal_handle_register(&p->hdr, HAL_KIND_PROGRAM, dev->ctx) != 0) {
        T(dev)->program_destroy(S(dev), p->handle);
        free(p);
        return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "out of host memory registering a program");
    }
    p->dev = dev;
    hal_ctx_attach(dev->ctx, &p->hdr, program_teardown);
    *out = p;
    return XHAL_OK;
}

XHAL_API xhal_status xhal_program_destroy(xhal_program *p)
{
    if (!p) return XHAL_OK;
    xhal_status st = check_program(p, "xhal_program_destroy");
    if (st != XHAL_OK) return st;
    if (T(p->dev)->program_destroy) T(p->dev)->program_destroy(S(p->dev), p->handle);
    hal_ctx_detach(p->dev->ctx, &p->hdr);
    hal_handle_unregister(p);
    free(p);
    return XHAL_OK;
}

XHAL_API xhal_status xhal_kernel_launch(xhal_stream *s, xhal_program *p, const char *name, int dims,
                                        const uint64_t *global_size, const uint64_t *local_size, int nargs,
                                        const xhal_kernel_arg *args)
{
    xhal_status st = hal_check_stream(s, "xhal_kernel_launch");
    if (st == XHAL_OK) st = hal_check_not_capturing(s, "xhal_kernel_launch");
    if (st == XHAL_OK) st = check_program(p, "xhal_kernel_launch");
    if (st != XHAL_OK) return st;
    if (!name || !global_size || (nargs > 0 && !args))
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_kernel_launch: name, global_size or args is NULL");
    if (dims < 1 || dims > 3)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_kernel_launch: dims %d is not in [1, 3]", dims);
    if (nargs < 0 || nargs > 64)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_kernel_launch: nargs %d is not in [0, 64]", nargs);
    if (p->dev != s->dev)
        return hal_set_error(XHAL_ERROR_WRONG_DEVICE, "xhal_kernel_launch: program is for %s, stream is on %s",
                             p->dev->spec, s->dev->spec);
    /* Launch limits every target shares (a 2^62-item launch returned OK and made PoCL abort at
     * synchronize): 32-bit sizes per dimension, at most 2^41 work items (CUDA's grid of
     * 2^31 - 1 blocks of 1024). Tighter device limits are the backend's to check. */
    uint64_t items = 1;
    for (int d = 0; d < dims; d++) {
        if (global_size[d] > XHAL_KERNEL_MAX_GLOBAL_DIM || (local_size && local_size[d] > XHAL_KERNEL_MAX_GLOBAL_DIM))
            return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                                 "xhal_kernel_launch: global_size[%d]=%llu or its local size exceeds %llu", d,
                                 (unsigned long long)global_size[d], (unsigned long long)XHAL_KERNEL_MAX_GLOBAL_DIM);
        if (global_size[d] && items > XHAL_KERNEL_MAX_ITEMS / global_size[d])
            return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                                 "xhal_kernel_launch: global sizes of more than 2^41 work items in all");
        items *= global_size[d] ? global_size[d] : 1;
    }
    for (int d = 0; d < dims; d++) {
        if (global_size[d] == 0)
            return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_kernel_launch: global_size[%d] is 0", d);
        if (local_size && (local_size[d] == 0 || global_size[d] % local_size[d]))
            return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                                 "xhal_kernel_launch: global_size[%d]=%llu is not a multiple of local_size %llu", d,
                                 (unsigned long long)global_size[d], (unsigned long long)local_size[d]);
    }
    xhal_backend_kernel_arg ba[64];
    for (int i = 0; i < nargs; i++) {
        memset(&ba[i], 0, sizeof ba[i]);
        ba[i].kind = args[i].kind;
        switch (args[i].kind) {
            case XHAL_ARG_TENSOR: {
                xhal_tensor *t = args[i].value.tensor;
                char what[48];
                snprintf(what, sizeof what, "xhal_kernel_launch: argument %d", i);
                st = hal_check_tensor(t, what);
                if (st != XHAL_OK) return st;
                if (t->buf->dev != s->dev)
                    return hal_set_error(XHAL_ERROR_WRONG_DEVICE,
                                         "xhal_kernel_launch: argument %d is on %s, stream on %s", i, t->buf->dev->spec,
                                         s->dev->spec);
                ba[i].buffer = t->buf->handle;
                ba[i].offset = t->offset;
                break;
            }
            case XHAL_ARG_I32: ba[i].value.i32 = args[i].value.i32; break;
            case XHAL_ARG_I64: ba[i].value.i64 = args[i].value.i64; break;
            case XHAL_ARG_F32: ba[i].value.f32 = args[i].value.f32; break;
            default:
                return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_kernel_launch: argument %d has unknown kind %d",
                                     i, args[i].kind);
        }
    }
    st = T(s->dev)->kernel_launch(S(s->dev), s->handle, p->handle, name, dims, global_size, local_size, nargs, ba);
    return st == XHAL_OK ? st : hal_error_prefix(st, "launching kernel '%s' on %s", name, s->dev->spec);
}
