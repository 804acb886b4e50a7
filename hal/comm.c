/* comm.c - communicators and the collectives' entry points: every rule of xhal_comm.h is
 * checked here, once, then the call goes to the communicator's engine (comm_host.c, a
 * backend's coll_* entries, or an engine plugin through comm_engine.c). */
#include "comm.h"
#include "context.h"
#include "validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *kind_fn(int kind)
{
    switch (kind) {
        case XHAL_COLL_ALL_REDUCE: return "xhal_all_reduce";
        case XHAL_COLL_BROADCAST: return "xhal_broadcast";
        case XHAL_COLL_ALL_GATHER: return "xhal_all_gather";
        case XHAL_COLL_REDUCE_SCATTER: return "xhal_reduce_scatter";
        case XHAL_COLL_SEND: return "xhal_send";
        case XHAL_COLL_RECV: return "xhal_recv";
        default: return "collective";
    }
}

static xhal_status check_comm(xhal_comm *c, const char *fn)
{
    if (!c) return hal_set_error(XHAL_ERROR_INVALID_HANDLE, "%s: comm is NULL", fn);
    if (!hal_handle_live(c, HAL_KIND_COMM))
        return hal_set_error(XHAL_ERROR_INVALID_HANDLE, "%s: %p is not a live communicator (destroyed?)", fn,
                             (void *)c);
    return XHAL_OK;
}

XHAL_API xhal_status xhal_comm_partition(int64_t count, int size, int rank, int64_t *offset, int64_t *len)
{
    if (count < 0 || size < 1 || rank < 0 || rank >= size)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                             "xhal_comm_partition: count %lld, size %d, rank %d (need count >= 0, size >= 1, "
                             "0 <= rank < size)",
                             (long long)count, size, rank);
    if (!offset || !len) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_comm_partition: offset or len NULL");
    hal_comm_block(count, size, rank, offset, len);
    return XHAL_OK;
}

/* ---- creation ---- */

static void comm_free(xhal_comm *c)
{
    hal_comm_host_drop_mailbox(c);
    free(c->scratch);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static void comm_teardown(hal_handle_hdr *h) { xhal_comm_destroy((xhal_comm *)h); }

static xhal_status comm_register(xhal_comm *c, xhal_comm **out)
{
    if (hal_handle_register(&c->hdr, HAL_KIND_COMM, c->ctx) != 0)
        return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "out of host memory registering a communicator");
    hal_ctx_attach(c->ctx, &c->hdr, comm_teardown);
    *out = c;
    return XHAL_OK;
}

static xhal_comm *comm_alloc(xhal_context *ctx)
{
    xhal_comm *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->ctx = ctx;
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

/* 1 if the device's memory is host memory that its backend lends (no staging needed). */
static int dev_host_memory(xhal_device *d)
{
    if (!XHAL_BACKEND_TABLE_HAS(d->backend->table, buffer_host_ptr)) return 0;
    xhal_device_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    if (xhal_device_get_info(d, &info) != XHAL_OK) return 0;
    return (info.caps & XHAL_CAP_HOST_MEMORY) != 0;
}

/* Why the backend engine cannot serve devs (reason written), or 0 when it can be tried. */
static int backend_engine_blocked(xhal_device *const *devs, int n, char *reason, size_t len)
{
    hal_backend *b = devs[0]->backend;
    for (int i = 1; i < n; i++)
        if (devs[i]->backend != b) {
            snprintf(reason, len, "%s and %s are of different backends (%s, %s): no common engine", devs[0]->spec,
                     devs[i]->spec, b->info.name, devs[i]->backend->info.name);
            return 1;
        }
    if (!XHAL_BACKEND_TABLE_HAS(b->table, coll_comm_create) || !XHAL_BACKEND_TABLE_HAS(b->table, coll_run) ||
        !XHAL_BACKEND_TABLE_HAS(b->table, coll_comm_destroy)) {
        snprintf(reason, len, "backend %s provides no collective library", b->info.name);
        return 1;
    }
    if (n < 2) {
        snprintf(reason, len, "a single rank needs no collective library");
        return 1;
    }
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (devs[i] == devs[j]) {
                snprintf(reason, len, "%s serves ranks %d and %d (a collective library needs distinct devices)",
                         devs[i]->spec, i, j);
                return 1;
            }
    return 0;
}

/* Try the backend's collective library; on failure reason says why. */
static xhal_status backend_engine_try(xhal_comm *c, char *reason, size_t len)
{
    if (backend_engine_blocked(c->devs, c->n_local, reason, len)) return XHAL_ERROR_UNSUPPORTED;
    hal_backend *b = c->devs[0]->backend;
    int idx[XHAL_COMM_MAX_LOCAL];
    for (int i = 0; i < c->n_local; i++) idx[i] = c->devs[i]->index;
    char name[32] = "";
    void *bc = NULL;
    xhal_status st = b->table->coll_comm_create(b->state, c->n_local, idx, name, sizeof name, &bc);
    if (st != XHAL_OK) {
        snprintf(reason, len, "backend %s's collective library: %s", b->info.name, xhal_last_error());
        return st;
    }
    name[sizeof name - 1] = '\0';
    c->kind = HAL_COMM_BACKEND;
    c->bcomm = bc;
    snprintf(c->engine, sizeof c->engine, "%s", name[0] ? name : b->info.name);
    return XHAL_OK;
}

XHAL_API xhal_status xhal_comm_create(xhal_context *ctx, xhal_device *const *devices, int n, const char *engine,
                                      xhal_comm **out)
{
    const char *fn = "xhal_comm_create";
    if (!ctx || !hal_context_live(ctx)) return hal_set_error(XHAL_ERROR_INVALID_HANDLE, "%s: ctx is not live", fn);
    if (!devices || !out) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: devices or out is NULL", fn);
    if (n < 1 || n > XHAL_COMM_MAX_LOCAL)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: n is %d (1 to %d ranks in one process)", fn, n,
                             XHAL_COMM_MAX_LOCAL);
    for (int i = 0; i < n; i++) {
        char what[48];
        snprintf(what, sizeof what, "%s: devices[%d]", fn, i);
        xhal_status st = hal_check_device(devices[i], what);
        if (st != XHAL_OK) return st;
        if (devices[i]->ctx != ctx)
            return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: devices[%d] (%s) belongs to another context", fn, i,
                                 devices[i]->spec);
    }
    int want_host = 0, want_backend = 0;
    if (!engine || !*engine || !strcmp(engine, "auto")) {
    } else if (!strcmp(engine, "host")) {
        want_host = 1;
    } else if (!strcmp(engine, "mpi")) {
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                             "%s: engine \"mpi\" joins processes, one rank each: use xhal_comm_create_mpi", fn);
    } else {
        want_backend = 1;
    }
    xhal_comm *c = comm_alloc(ctx);
    if (!c) return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "%s: out of host memory", fn);
    c->size = c->n_local = n;
    c->first_rank = 0;
    memcpy(c->devs, devices, (size_t)n * sizeof *devices);
    char why[256] = "";
    if (!want_host) {
        xhal_status st = backend_engine_try(c, why, sizeof why);
        if (st == XHAL_OK && want_backend && strcmp(c->engine, engine) != 0) {
            snprintf(why, sizeof why, "these devices' engine is \"%s\"", c->engine);
            c->devs[0]->backend->table->coll_comm_destroy(c->devs[0]->backend->state, c->bcomm);
            c->bcomm = NULL;
            st = XHAL_ERROR_UNAVAILABLE;
        }
        if (st != XHAL_OK && want_backend) {
            comm_free(c);
            return hal_set_error(XHAL_ERROR_UNAVAILABLE, "%s: engine \"%s\" cannot serve these %d device(s): %s", fn,
                                 engine, n, why);
        }
        if (st == XHAL_OK)
            snprintf(c->reason, sizeof c->reason, "every rank is a distinct %s device", c->devs[0]->backend->info.name);
    }
    if (c->kind == 0) {
        c->kind = HAL_COMM_HOST;
        snprintf(c->engine, sizeof c->engine, "host");
        if (want_host)
            snprintf(c->reason, sizeof c->reason, "asked for");
        else
            snprintf(c->reason, sizeof c->reason, "copies through host memory: %s", why);
    }
    for (int i = 0; i < n; i++)
        if (c->kind != HAL_COMM_BACKEND && !dev_host_memory(c->devs[i])) c->staged = 1;
    hal_comm_ring(c);
    hal_log(XHAL_LOG_INFO, "comm", "communicator of %d rank(s): engine %s (%s)", n, c->engine, c->reason);
    xhal_status st = comm_register(c, out);
    if (st != XHAL_OK) {
        if (c->kind == HAL_COMM_BACKEND)
            c->devs[0]->backend->table->coll_comm_destroy(c->devs[0]->backend->state, c->bcomm);
        comm_free(c);
        return st;
    }
    hal_clear_error();
    return XHAL_OK;
}

XHAL_API xhal_status xhal_comm_create_mpi(xhal_context *ctx, xhal_device *device, xhal_comm **out)
{
    const char *fn = "xhal_comm_create_mpi";
    if (!ctx || !hal_context_live(ctx)) return hal_set_error(XHAL_ERROR_INVALID_HANDLE, "%s: ctx is not live", fn);
    xhal_status st = hal_check_device(device, "xhal_comm_create_mpi: device");
    if (st != XHAL_OK) return st;
    if (device->ctx != ctx)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: device %s belongs to another context", fn, device->spec);
    if (!out) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: out is NULL", fn);
    hal_engine *e = NULL;
    st = hal_engine_acquire("mpi", &e);
    if (st != XHAL_OK) return hal_error_prefix(st, "%s", fn);
    xhal_comm *c = comm_alloc(ctx);
    if (!c) {
        hal_engine_release(e);
        return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "%s: out of host memory", fn);
    }
    const xhal_engine_table *t = hal_engine_table(e);
    int rank = 0, size = 0;
    st = t->comm_create(hal_engine_state(e), &rank, &size, &c->ecomm);
    if (st != XHAL_OK) {
        comm_free(c);
        hal_engine_release(e);
        return hal_error_prefix(st, "%s: engine mpi", fn);
    }
    c->kind = HAL_COMM_PROCESS;
    c->eng = e;
    c->size = size;
    c->n_local = 1;
    c->first_rank = rank;
    c->devs[0] = device;
    c->ring[0] = 0;
    c->staged = !dev_host_memory(device);
    snprintf(c->engine, sizeof c->engine, "mpi");
    snprintf(c->reason, sizeof c->reason, "one rank per process (%s), %s", t->version ? t->version : "",
             c->staged ? "staged through host memory" : "device memory is host memory");
    st = comm_register(c, out);
    if (st != XHAL_OK) {
        t->comm_destroy(hal_engine_state(e), c->ecomm);
        comm_free(c);
        hal_engine_release(e);
        return st;
    }
    hal_clear_error();
    return XHAL_OK;
}

XHAL_API xhal_status xhal_comm_destroy(xhal_comm *c)
{
    if (!c) return XHAL_OK;
    xhal_status st = check_comm(c, "xhal_comm_destroy");
    if (st != XHAL_OK) return st;
    if (c->kind == HAL_COMM_BACKEND) {
        hal_backend *b = c->devs[0]->backend;
        b->table->coll_comm_destroy(b->state, c->bcomm);
    } else if (c->kind == HAL_COMM_PROCESS) {
        hal_engine_table(c->eng)->comm_destroy(hal_engine_state(c->eng), c->ecomm);
        hal_engine_release(c->eng);
    }
    hal_ctx_detach(c->ctx, &c->hdr);
    hal_handle_unregister(c);
    comm_free(c);
    return XHAL_OK;
}

XHAL_API xhal_status xhal_comm_get_info(xhal_comm *c, xhal_comm_info *info)
{
    xhal_status st = check_comm(c, "xhal_comm_get_info");
    if (st != XHAL_OK) return st;
    if (!info) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_comm_get_info: info is NULL");
    if (info->struct_size < offsetof(xhal_comm_info, ring))
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_comm_get_info: info->struct_size is %u (set it to %zu)",
                             info->struct_size, sizeof *info);
    xhal_comm_info r;
    memset(&r, 0, sizeof r);
    snprintf(r.engine, sizeof r.engine, "%s", c->engine);
    snprintf(r.reason, sizeof r.reason, "%s", c->reason);
    r.size = c->size;
    r.n_local = c->n_local;
    r.first_rank = c->first_rank;
    r.staged = c->staged;
    memcpy(r.ring, c->ring, sizeof r.ring);
    size_t n = info->struct_size < sizeof r ? info->struct_size : sizeof r;
    r.struct_size = (uint32_t)n;
    memcpy(info, &r, n);
    return XHAL_OK;
}

XHAL_API xhal_status xhal_comm_device(xhal_comm *c, int local_rank, xhal_device **out)
{
    xhal_status st = check_comm(c, "xhal_comm_device");
    if (st != XHAL_OK) return st;
    if (!out) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_comm_device: out is NULL");
    if (local_rank < 0 || local_rank >= c->n_local)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_comm_device: local rank %d is outside [0, %d)",
                             local_rank, c->n_local);
    *out = c->devs[local_rank];
    return XHAL_OK;
}

XHAL_API xhal_status xhal_comm_engine_query(xhal_context *ctx, xhal_device *a, xhal_device *b, const char *engine_name,
                                            char *name, size_t name_len, char *reason, size_t reason_len,
                                            int *available)
{
    const char *fn = "xhal_comm_engine_query";
    if (!ctx || !hal_context_live(ctx)) return hal_set_error(XHAL_ERROR_INVALID_HANDLE, "%s: ctx is not live", fn);
    if (!available) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: available is NULL", fn);
    char nm[32] = "", why[512] = "";
    int ok = 0;
    if (engine_name) {
        snprintf(nm, sizeof nm, "%s", engine_name);
        if (!strcmp(engine_name, "host")) {
            ok = 1;
            snprintf(why, sizeof why, "built into libxhal");
        } else if (!strcmp(engine_name, "mpi")) {
            ok = hal_engine_probe("mpi", why, sizeof why);
        } else {
            snprintf(why, sizeof why, "no engine named \"%s\" (host, mpi, or a backend's: ask with two devices)",
                     engine_name);
        }
    } else {
        xhal_status st = hal_check_device(a, "xhal_comm_engine_query: a");
        if (st == XHAL_OK) st = hal_check_device(b, "xhal_comm_engine_query: b");
        if (st != XHAL_OK) return st;
        xhal_device *devs[2] = {a, b};
        if (backend_engine_blocked(devs, 2, why, sizeof why)) {
            snprintf(nm, sizeof nm, "host");
            ok = 1;
        } else {
            /* ask the backend by creating (and dropping) a communicator of the pair */
            int idx[2] = {a->index, b->index};
            void *bc = NULL;
            st = a->backend->table->coll_comm_create(a->backend->state, 2, idx, nm, sizeof nm, &bc);
            nm[sizeof nm - 1] = '\0';
            if (st == XHAL_OK) {
                a->backend->table->coll_comm_destroy(a->backend->state, bc);
                snprintf(why, sizeof why, "backend %s's collective library", a->backend->info.name);
                ok = 1;
            } else {
                snprintf(why, sizeof why, "backend %s's collective library: %s", a->backend->info.name,
                         xhal_last_error());
                snprintf(nm, sizeof nm, "host");
                ok = 1;
            }
        }
    }
    if (name && name_len) snprintf(name, name_len, "%s", nm);
    if (reason && reason_len) snprintf(reason, reason_len, "%s", why);
    *available = ok;
    hal_clear_error();
    return XHAL_OK;
}

/* ---- validation ---- */

/* A rank's tensor: live, on its rank's device, contiguous, a plain dtype. */
static xhal_status check_rank_tensor(const char *fn, xhal_comm *c, int i, const char *role, xhal_tensor *t)
{
    char what[96];
    int rank = c->first_rank + i;
    snprintf(what, sizeof what, "%s: rank %d's %s", fn, rank, role);
    xhal_status st = hal_check_tensor(t, what);
    if (st != XHAL_OK) return st;
    if (t->buf->dev != c->devs[i])
        return hal_set_error(XHAL_ERROR_WRONG_DEVICE, "%s is on %s but rank %d is %s", what, t->buf->dev->spec, rank,
                             c->devs[i]->spec);
    xhal_dtype_info di;
    if (xhal_dtype_get_info(t->dtype, &di) != XHAL_OK || di.is_quantized)
        return hal_set_error(XHAL_ERROR_DTYPE_MISMATCH,
                             "%s is %s: collectives take plain dtypes (f32 f16 bf16 f64 i8 u8 i32 i64)", what,
                             xhal_dtype_name(t->dtype));
    int contig = 0;
    xhal_tensor_is_contiguous(t, &contig);
    if (!contig)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s is not contiguous (copy it with xhal_contiguous)", what);
    return XHAL_OK;
}

static xhal_status check_stream_of(const char *fn, xhal_comm *c, int i, xhal_stream *s)
{
    char what[96];
    int rank = c->first_rank + i;
    snprintf(what, sizeof what, "%s: rank %d's stream", fn, rank);
    xhal_status st = hal_check_stream(s, what);
    if (st == XHAL_OK) st = hal_check_not_capturing(s, what); /* collectives are not recorded */
    if (st != XHAL_OK) return st;
    if (s->dev != c->devs[i])
        return hal_set_error(XHAL_ERROR_WRONG_DEVICE, "%s is on %s but rank %d is %s", what, s->dev->spec, rank,
                             c->devs[i]->spec);
    return XHAL_OK;
}

static xhal_status check_count(const char *fn, int rank, const char *role, const xhal_tensor *t, int64_t want,
                               const char *rule)
{
    int64_t n = hal_tensor_numel(t);
    if (n != want)
        return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH, "%s: rank %d's %s has %lld elements but %s %lld", fn, rank,
                             role, (long long)n, rule, (long long)want);
    return XHAL_OK;
}

/* Everything that can be checked in this process; fills c->dtype and c->count. */
static xhal_status validate(xhal_comm *comm, hal_coll *c)
{
    const char *fn = c->fn;
    xhal_status st = check_comm(comm, fn);
    if (st != XHAL_OK) return st;
    int n = comm->n_local;
    int has_send = c->kind != XHAL_COLL_BROADCAST;
    int has_recv = 1;
    if (!c->streams) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: streams is NULL", fn);
    if (!c->send)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: %s is NULL", fn, has_send ? "send" : "tensors");
    if (has_send && !c->recv) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: recv is NULL", fn);
    if (c->kind == XHAL_COLL_ALL_REDUCE || c->kind == XHAL_COLL_REDUCE_SCATTER) {
        if (c->op != XHAL_REDUCE_SUM && c->op != XHAL_REDUCE_MAX)
            return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: op is %d (XHAL_REDUCE_SUM 0 or XHAL_REDUCE_MAX 1)",
                                 fn, c->op);
    }
    if (c->kind == XHAL_COLL_BROADCAST && (c->root < 0 || c->root >= comm->size))
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: root %d is outside [0, %d)", fn, c->root, comm->size);
    for (int i = 0; i < n; i++) {
        st = check_stream_of(fn, comm, i, c->streams[i]);
        if (st == XHAL_OK) st = check_rank_tensor(fn, comm, i, has_send ? "send" : "tensor", c->send[i]);
        if (st == XHAL_OK && has_send) st = check_rank_tensor(fn, comm, i, "recv", c->recv[i]);
        if (st != XHAL_OK) return st;
    }
    (void)has_recv;
    xhal_tensor *const *in = c->send;
    xhal_tensor *const *out = has_send ? c->recv : c->send;
    int r0 = comm->first_rank;
    c->dtype = in[0]->dtype;
    for (int i = 0; i < n; i++) {
        int rank = r0 + i;
        if (in[i]->dtype != c->dtype)
            return hal_set_error(XHAL_ERROR_DTYPE_MISMATCH, "%s: rank %d's %s is %s but rank %d's is %s", fn, rank,
                                 has_send ? "send" : "tensor", xhal_dtype_name(in[i]->dtype), r0,
                                 xhal_dtype_name(c->dtype));
        if (has_send && out[i]->dtype != c->dtype)
            return hal_set_error(XHAL_ERROR_DTYPE_MISMATCH, "%s: rank %d's recv is %s but its send is %s", fn, rank,
                                 xhal_dtype_name(out[i]->dtype), xhal_dtype_name(in[i]->dtype));
    }
    /* counts */
    switch (c->kind) {
        case XHAL_COLL_ALL_REDUCE:
            c->count = hal_tensor_numel(in[0]);
            for (int i = 0; i < n; i++) {
                st = hal_check_same_shape(fn, "send", in[i], "recv", out[i]);
                if (st != XHAL_OK) return hal_error_prefix(st, "rank %d", r0 + i);
                st = check_count(fn, r0 + i, "send", in[i], c->count, "rank 0's has");
                if (st != XHAL_OK) return st;
            }
            break;
        case XHAL_COLL_BROADCAST:
            c->count = hal_tensor_numel(in[0]);
            for (int i = 0; i < n; i++) {
                st = check_count(fn, r0 + i, "tensor", in[i], c->count, "rank 0's has");
                if (st != XHAL_OK) return st;
            }
            break;
        case XHAL_COLL_ALL_GATHER:
            c->count = hal_tensor_numel(out[0]);
            for (int i = 0; i < n; i++) {
                int64_t off, len;
                hal_comm_block(c->count, comm->size, r0 + i, &off, &len);
                st = check_count(fn, r0 + i, "recv", out[i], c->count, "rank 0's has");
                if (st == XHAL_OK) st = check_count(fn, r0 + i, "send", in[i], len, "its block of the recv count is");
                if (st != XHAL_OK) return st;
            }
            break;
        case XHAL_COLL_REDUCE_SCATTER:
            c->count = hal_tensor_numel(in[0]);
            for (int i = 0; i < n; i++) {
                int64_t off, len;
                hal_comm_block(c->count, comm->size, r0 + i, &off, &len);
                st = check_count(fn, r0 + i, "send", in[i], c->count, "rank 0's has");
                if (st == XHAL_OK) st = check_count(fn, r0 + i, "recv", out[i], len, "its block of the send count is");
                if (st != XHAL_OK) return st;
            }
            break;
        default: return hal_set_error(XHAL_ERROR_INTERNAL, "%s: unknown collective %d", fn, c->kind);
    }
    /* overlaps: recv against its send (all_reduce: in place allowed) and against other ranks' */
    for (int i = 0; i < n; i++) {
        if (has_send) {
            int same_ok = c->kind == XHAL_COLL_ALL_REDUCE;
            if (hal_tensors_overlap(out[i], in[i]) && !(same_ok && hal_tensors_same_view(out[i], in[i])))
                return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: rank %d's recv overlaps its send%s", fn, r0 + i,
                                     same_ok ? " (only the very same view is allowed: in place)" : "");
        }
        for (int j = 0; j < n; j++) {
            if (j == i) continue;
            if (hal_tensors_overlap(out[i], out[j]))
                return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: rank %d's %s overlaps rank %d's", fn, r0 + i,
                                     has_send ? "recv" : "tensor", r0 + j);
            if (has_send && hal_tensors_overlap(out[i], in[j]))
                return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: rank %d's recv overlaps rank %d's send", fn,
                                     r0 + i, r0 + j);
        }
    }
    return XHAL_OK;
}

static xhal_status run_backend(xhal_comm *comm, const hal_coll *c)
{
    xhal_coll_desc d;
    memset(&d, 0, sizeof d);
    d.struct_size = sizeof d;
    d.kind = c->kind;
    d.dtype = c->dtype;
    d.op = c->op;
    d.root = c->root;
    d.n_ranks = comm->n_local;
    d.count = c->count;
    for (int i = 0; i < comm->n_local; i++) {
        xhal_tensor *in = c->send[i];
        xhal_tensor *out = c->kind == XHAL_COLL_BROADCAST ? c->send[i] : c->recv[i];
        d.ranks[i].stream = c->streams[i]->handle;
        d.ranks[i].send_buffer = in->buf->handle;
        d.ranks[i].send_offset = in->offset;
        d.ranks[i].send_count = hal_tensor_numel(in);
        d.ranks[i].recv_buffer = out->buf->handle;
        d.ranks[i].recv_offset = out->offset;
        d.ranks[i].recv_count = hal_tensor_numel(out);
    }
    hal_backend *b = comm->devs[0]->backend;
    xhal_status st = b->table->coll_run(b->state, comm->bcomm, &d);
    if (st != XHAL_OK) return hal_error_prefix(st, "%s (engine %s)", c->fn, comm->engine);
    return XHAL_OK;
}

static xhal_status run(xhal_comm *comm, hal_coll *c)
{
    xhal_status st = validate(comm, c);
    if (st != XHAL_OK) return st;
    if (comm->kind == HAL_COMM_PROCESS)
        st = hal_comm_process_run(comm, c);
    else if (c->count == 0)
        st = XHAL_OK;
    else if (comm->kind == HAL_COMM_BACKEND)
        st = run_backend(comm, c);
    else
        st = hal_comm_host_run(comm, c);
    if (st == XHAL_OK) hal_clear_error();
    return st;
}

XHAL_API xhal_status xhal_all_reduce(xhal_comm *comm, xhal_stream *const *streams, xhal_tensor *const *send,
                                     xhal_tensor *const *recv, xhal_reduce_op op)
{
    hal_coll c = {.fn = kind_fn(XHAL_COLL_ALL_REDUCE),
                  .kind = XHAL_COLL_ALL_REDUCE,
                  .op = (int)op,
                  .streams = streams,
                  .send = send,
                  .recv = recv};
    return run(comm, &c);
}

XHAL_API xhal_status xhal_broadcast(xhal_comm *comm, xhal_stream *const *streams, xhal_tensor *const *tensors, int root)
{
    hal_coll c = {.fn = kind_fn(XHAL_COLL_BROADCAST),
                  .kind = XHAL_COLL_BROADCAST,
                  .root = root,
                  .streams = streams,
                  .send = tensors,
                  .recv = tensors};
    return run(comm, &c);
}

XHAL_API xhal_status xhal_all_gather(xhal_comm *comm, xhal_stream *const *streams, xhal_tensor *const *send,
                                     xhal_tensor *const *recv)
{
    hal_coll c = {.fn = kind_fn(XHAL_COLL_ALL_GATHER),
                  .kind = XHAL_COLL_ALL_GATHER,
                  .streams = streams,
                  .send = send,
                  .recv = recv};
    return run(comm, &c);
}

XHAL_API xhal_status xhal_reduce_scatter(xhal_comm *comm, xhal_stream *const *streams, xhal_tensor *const *send,
                                         xhal_tensor *const *recv, xhal_reduce_op op)
{
    hal_coll c = {.fn = kind_fn(XHAL_COLL_REDUCE_SCATTER),
                  .kind = XHAL_COLL_REDUCE_SCATTER,
                  .op = (int)op,
                  .streams = streams,
                  .send = send,
                  .recv = recv};
    return run(comm, &c);
}

static xhal_status p2p(xhal_comm *comm, int kind, int local, xhal_stream *s, xhal_tensor *t, int peer)
{
    const char *fn = kind_fn(kind);
    xhal_status st = check_comm(comm, fn);
    if (st != XHAL_OK) return st;
    if (local < 0 || local >= comm->n_local)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: local rank %d is outside [0, %d)", fn, local,
                             comm->n_local);
    int me = comm->first_rank + local;
    if (peer < 0 || peer >= comm->size || peer == me)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: peer %d is outside [0, %d) or rank %d itself", fn, peer,
                             comm->size, me);
    st = check_stream_of(fn, comm, local, s);
    if (st == XHAL_OK) st = check_rank_tensor(fn, comm, local, kind == XHAL_COLL_SEND ? "send" : "recv", t);
    if (st != XHAL_OK) return st;
    xhal_stream *streams[1] = {s};
    xhal_tensor *ts[1] = {t};
    hal_coll c = {.fn = fn,
                  .kind = kind,
                  .dtype = t->dtype,
                  .peer = peer,
                  .local = local,
                  .count = hal_tensor_numel(t),
                  .streams = streams,
                  .send = ts,
                  .recv = ts};
    if (comm->kind == HAL_COMM_PROCESS)
        st = hal_comm_process_run(comm, &c);
    else if (kind == XHAL_COLL_SEND)
        st = hal_comm_host_send(comm, &c);
    else
        st = hal_comm_host_recv(comm, &c);
    if (st == XHAL_OK) hal_clear_error();
    return st;
}

XHAL_API xhal_status xhal_send(xhal_comm *comm, int local_rank, xhal_stream *stream, xhal_tensor *t, int peer)
{
    return p2p(comm, XHAL_COLL_SEND, local_rank, stream, t, peer);
}

XHAL_API xhal_status xhal_recv(xhal_comm *comm, int local_rank, xhal_stream *stream, xhal_tensor *t, int peer)
{
    return p2p(comm, XHAL_COLL_RECV, local_rank, stream, t, peer);
}
