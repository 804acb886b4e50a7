/*
 * xcu_coll.c - collectives through the vendor's collective library (NCCL for CUDA, RCCL for
 * the HIP build), the backend ABI's optional coll_* entries. The library is loaded with dlopen
 * on the first communicator (XCU_COLL_LIBRARIES, or the file XCU_COLL_LIBRARY_ENV names) and
 * resolved through XCU_COLL_SYMBOLS; a missing or too old library makes coll_comm_create answer
 * UNAVAILABLE with the reason, and the core then uses its host engine and reports that reason.
 *
 * Counts not divisible by the rank count (xhal_coll_desc): equal blocks go to ncclAllGather /
 * ncclReduceScatter; uneven ones to one ncclBroadcast (all_gather) or ncclReduce
 * (reduce_scatter) per block, all in one group.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xcu_coll_symbols.h"
#include "xcu_internal.h"

typedef struct xcu_coll {
    void *library;
    char library_name[256];
    int version;
#define XCU_COLL_FIELD_(ret, name, params) ret(*name) params;
    XCU_COLL_SYMBOLS(XCU_COLL_FIELD_)
#undef XCU_COLL_FIELD_
} xcu_coll;

typedef struct xcu_coll_comm {
    int n;
    int devices[XHAL_COMM_MAX_LOCAL];
    void *comms[XHAL_COMM_MAX_LOCAL];
} xcu_coll_comm;

/* Load once (under st->lock); NULL with st->coll_error when unusable. */
static xcu_coll *coll_get(xcu_state *st)
{
    pthread_mutex_lock(&st->lock);
    if (!st->coll_tried) {
        st->coll_tried = 1;
        const char *env = secure_getenv(XCU_COLL_LIBRARY_ENV);
        const char *const defaults[] = XCU_COLL_LIBRARIES;
        void *lib = NULL;
        const char *used = NULL;
        char err[200] = "";
        if (env && env[0]) {
            used = env;
            lib = dlopen(env, RTLD_NOW | RTLD_LOCAL);
            if (!lib) snprintf(err, sizeof err, "%s", dlerror());
        } else {
            for (size_t i = 0; !lib && i < sizeof defaults / sizeof defaults[0]; i++) {
                used = defaults[i];
                lib = dlopen(defaults[i], RTLD_NOW | RTLD_LOCAL);
                if (!lib && i == 0) snprintf(err, sizeof err, "%s", dlerror());
            }
        }
        xcu_coll *c = NULL;
        if (!lib) {
            snprintf(st->coll_error, sizeof st->coll_error, "%s library not loadable (%s): %s", XCU_COLL_NAME,
                     env && env[0] ? XCU_COLL_LIBRARY_ENV : used, err);
        } else if (!(c = xcu_host->host_calloc(1, sizeof *c))) {
            snprintf(st->coll_error, sizeof st->coll_error, "out of host memory");
            dlclose(lib);
        } else {
            const char *missing = NULL;
#define XCU_COLL_RESOLVE_(ret, name, params)    \
    if (!missing) {                             \
        *(void **)&c->name = dlsym(lib, #name); \
        if (!c->name) missing = #name;          \
    }
            XCU_COLL_SYMBOLS(XCU_COLL_RESOLVE_)
#undef XCU_COLL_RESOLVE_
            int v = 0;
            if (missing) {
                snprintf(st->coll_error, sizeof st->coll_error, "%s (%s) lacks %s", used, XCU_COLL_NAME, missing);
            } else if (c->ncclGetVersion(&v) != XCU_NCCL_SUCCESS || v < XCU_COLL_MIN_VERSION) {
                snprintf(st->coll_error, sizeof st->coll_error, "%s is version %d.%d.%d, xhal needs %d.%d or later",
                         used, v / 10000, (v % 10000) / 100, v % 100, XCU_COLL_MIN_VERSION / 10000,
                         (XCU_COLL_MIN_VERSION % 10000) / 100);
            } else {
                c->library = lib;
                c->version = v;
                snprintf(c->library_name, sizeof c->library_name, "%s", used);
                st->coll = c;
                xcu_host->log(XHAL_LOG_INFO, XCU_BACKEND_NAME, "%s %d.%d.%d loaded from %s", XCU_COLL_NAME, v / 10000,
                              (v % 10000) / 100, v % 100, used);
            }
            if (!st->coll) {
                xcu_host->host_free(c);
                dlclose(lib);
            }
        }
        if (!st->coll) xcu_host->log(XHAL_LOG_INFO, XCU_BACKEND_NAME, "%s", st->coll_error);
    }
    xcu_coll *c = st->coll;
    pthread_mutex_unlock(&st->lock);
    return c;
}

void xcu_coll_unload(xcu_state *st)
{
    if (st->coll) {
        dlclose(st->coll->library);
        xcu_host->host_free(st->coll);
        st->coll = NULL;
    }
}

static xhal_status nccl_fail(xcu_coll *c, int r, const char *call)
{
    const char *s = c->ncclGetErrorString ? c->ncclGetErrorString(r) : NULL;
    return xcu_host->set_error(XHAL_ERROR_BACKEND, "%s failed: %s (%d)", call, s ? s : "unknown error", r);
}

xhal_status xcu_coll_comm_create(void *state, int n, const int *devices, char *name, size_t name_len, void **comm)
{
    xcu_state *st = state;
    xcu_coll *c = coll_get(st);
    if (!c) return xcu_host->set_error(XHAL_ERROR_UNAVAILABLE, "%s", st->coll_error);
    xcu_coll_comm *cc = xcu_host->host_calloc(1, sizeof *cc);
    if (!cc) return xcu_host->set_error(XHAL_ERROR_OUT_OF_MEMORY, "out of host memory");
    cc->n = n;
    memcpy(cc->devices, devices, (size_t)n * sizeof *devices);
    int r = c->ncclCommInitAll(cc->comms, n, devices);
    if (r != XCU_NCCL_SUCCESS) {
        xhal_status s = nccl_fail(c, r, "ncclCommInitAll");
        xcu_host->host_free(cc);
        return s == XHAL_ERROR_BACKEND ? XHAL_ERROR_UNAVAILABLE : s;
    }
    snprintf(name, name_len, "%s", XCU_COLL_NAME);
    *comm = cc;
    return XHAL_OK;
}

void xcu_coll_comm_destroy(void *state, void *comm)
{
    xcu_state *st = state;
    xcu_coll_comm *cc = comm;
    if (st->coll)
        for (int i = 0; i < cc->n; i++) st->coll->ncclCommDestroy(cc->comms[i]);
    xcu_host->host_free(cc);
}

static int nccl_dtype(int dt)
{
    switch (dt) {
        case XHAL_DTYPE_F32: return XCU_NCCL_FLOAT32;
        case XHAL_DTYPE_F16: return XCU_NCCL_FLOAT16;
        case XHAL_DTYPE_BF16: return XCU_NCCL_BFLOAT16;
        case XHAL_DTYPE_F64: return XCU_NCCL_FLOAT64;
        case XHAL_DTYPE_I8: return XCU_NCCL_INT8;
        case XHAL_DTYPE_U8: return XCU_NCCL_UINT8;
        case XHAL_DTYPE_I32: return XCU_NCCL_INT32;
        case XHAL_DTYPE_I64: return XCU_NCCL_INT64;
        default: return -1;
    }
}

static void *dptr(void *buffer, uint64_t offset) { return (void *)(uintptr_t)(((xcu_buffer *)buffer)->ptr + offset); }

xhal_status xcu_coll_run(void *state, void *comm, const xhal_coll_desc *d)
{
    xcu_state *st = state;
    xcu_coll *c = st->coll;
    xcu_coll_comm *cc = comm;
    int dt = nccl_dtype(d->dtype);
    if (!c || dt < 0)
        return xcu_host->set_error(XHAL_ERROR_UNSUPPORTED, "%s: dtype %s", XCU_COLL_NAME, xhal_names_dtype(d->dtype));
    int op = d->op == XHAL_REDUCE_MAX ? XCU_NCCL_MAX : XCU_NCCL_SUM;
    size_t es = xhal_names_dtype_size(d->dtype);
    int n = cc->n;
    int64_t N = d->count;
    int even = N % n == 0;
    const char *call = "ncclGroupStart";
    int r = c->ncclGroupStart();
    for (int i = 0; i < n && r == XCU_NCCL_SUCCESS; i++) {
        const xhal_coll_rank_desc *k = &d->ranks[i];
        xcu_stream s = ((xcu_stream_obj *)k->stream)->s;
        void *send = dptr(k->send_buffer, k->send_offset), *recv = dptr(k->recv_buffer, k->recv_offset);
        switch (d->kind) {
            case XHAL_COLL_ALL_REDUCE:
                call = "ncclAllReduce";
                r = c->ncclAllReduce(send, recv, (size_t)N, dt, op, cc->comms[i], s);
                break;
            case XHAL_COLL_BROADCAST:
                call = "ncclBroadcast";
                r = c->ncclBroadcast(send, recv, (size_t)N, dt, d->root, cc->comms[i], s);
                break;
            case XHAL_COLL_ALL_GATHER:
                call = even ? "ncclAllGather" : "ncclBroadcast";
                if (even) {
                    r = c->ncclAllGather(send, recv, (size_t)(N / n), dt, cc->comms[i], s);
                    break;
                }
                for (int root = 0; root < n && r == XCU_NCCL_SUCCESS; root++) {
                    int64_t q = N / n, rem = N % n, len = q + (root < rem), off = root * q + (root < rem ? root : rem);
                    r = c->ncclBroadcast(root == i ? send : NULL, (char *)recv + off * (int64_t)es, (size_t)len, dt,
                                         root, cc->comms[i], s);
                }
                break;
            case XHAL_COLL_REDUCE_SCATTER:
                call = even ? "ncclReduceScatter" : "ncclReduce";
                if (even) {
                    r = c->ncclReduceScatter(send, recv, (size_t)(N / n), dt, op, cc->comms[i], s);
                    break;
                }
                for (int root = 0; root < n && r == XCU_NCCL_SUCCESS; root++) {
                    int64_t q = N / n, rem = N % n, len = q + (root < rem), off = root * q + (root < rem ? root : rem);
                    r = c->ncclReduce((char *)send + off * (int64_t)es, root == i ? recv : NULL, (size_t)len, dt, op,
                                      root, cc->comms[i], s);
                }
                break;
            default:
                c->ncclGroupEnd();
                return xcu_host->set_error(XHAL_ERROR_UNSUPPORTED, "%s: collective %d", XCU_COLL_NAME, d->kind);
        }
    }
    int r_end = c->ncclGroupEnd();
    if (r != XCU_NCCL_SUCCESS) return nccl_fail(c, r, call);
    if (r_end != XCU_NCCL_SUCCESS) return nccl_fail(c, r_end, "ncclGroupEnd");
    return XHAL_OK;
}
