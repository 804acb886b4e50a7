/* xhal_mpi.c - the MPI collective engine (libxhal_mpi.so, xhal_engine.h): collectives of one
 * rank per process on host memory, through the MPI library this plugin links (Open MPI from
 * Debian in CI). The core dlopens this plugin only when a communicator asks for MPI, so
 * libxhal itself links no MPI; without this file or its libmpi the engine is unavailable with
 * the reason. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xhal/plugin/xhal_half.h"
#include "xhal/xhal_engine.h"

#define EXPORT __attribute__((visibility("default")))
#define TAG_P2P 0x7a1

static const xhal_host_services *H;

typedef struct mpi_state {
    int we_init;
    MPI_Op f16_sum, f16_max, bf16_sum, bf16_max, f32_max, f64_max;
} mpi_state;

static xhal_status mpi_fail(int rc, const char *what)
{
    char s[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    if (MPI_Error_string(rc, s, &len) != MPI_SUCCESS) snprintf(s, sizeof s, "MPI error %d", rc);
    return H->set_error(XHAL_ERROR_BACKEND, "%s: %s", what, s);
}

/* ---- reductions MPI has no built-in for: f16/bf16 (combined in f32, rounded once per
 * combination) and MAX of floats with NaN propagating (xhal_comm.h) ---- */
#define HALF_OP(NAME, TO32, FROM32, MAXOP)                                                     \
    static void NAME(void *in, void *inout, int *len, MPI_Datatype *dt)                        \
    {                                                                                          \
        (void)dt;                                                                              \
        const uint16_t *a = in;                                                                \
        uint16_t *b = inout;                                                                   \
        for (int i = 0; i < *len; i++) {                                                       \
            float x = TO32(a[i]), y = TO32(b[i]);                                              \
            float r = MAXOP ? (x != x || y != y ? (y != y ? y : x) : (x > y ? x : y)) : y + x; \
            b[i] = FROM32(r);                                                                  \
        }                                                                                      \
    }
HALF_OP(op_f16_sum, xhal_f16_to_f32, xhal_f32_to_f16, 0)
HALF_OP(op_f16_max, xhal_f16_to_f32, xhal_f32_to_f16, 1)
HALF_OP(op_bf16_sum, xhal_bf16_to_f32, xhal_f32_to_bf16, 0)
HALF_OP(op_bf16_max, xhal_bf16_to_f32, xhal_f32_to_bf16, 1)
#define FMAX_OP(NAME, T)                                                  \
    static void NAME(void *in, void *inout, int *len, MPI_Datatype *dt)   \
    {                                                                     \
        (void)dt;                                                         \
        const T *a = in;                                                  \
        T *b = inout;                                                     \
        for (int i = 0; i < *len; i++) {                                  \
            T x = a[i], y = b[i];                                         \
            b[i] = x != x || y != y ? (y != y ? y : x) : (x > y ? x : y); \
        }                                                                 \
    }
FMAX_OP(op_f32_max, float)
FMAX_OP(op_f64_max, double)

/* Open MPI loads its components with dlopen and they expect libmpi's symbols to be global;
 * the core dlopens this plugin RTLD_LOCAL, so libmpi is promoted to RTLD_GLOBAL first. */
static void promote_libmpi(void)
{
    Dl_info info;
    if (dladdr((void *)(uintptr_t)&MPI_Init_thread, &info) && info.dli_fname)
        (void)dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
}

static xhal_status mpi_init(const xhal_host_services *host, void **state)
{
    H = host;
    int fin = 0, inited = 0;
    MPI_Finalized(&fin);
    if (fin) return H->set_error(XHAL_ERROR_UNAVAILABLE, "MPI was already finalized in this process");
    mpi_state *s = H->host_calloc(1, sizeof *s);
    if (!s) return H->set_error(XHAL_ERROR_OUT_OF_MEMORY, "out of host memory");
    MPI_Initialized(&inited);
    if (!inited) {
        promote_libmpi();
        int provided = 0;
        int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided);
        if (rc != MPI_SUCCESS) {
            H->host_free(s);
            mpi_fail(rc, "MPI_Init_thread");
            return XHAL_ERROR_UNAVAILABLE;
        }
        s->we_init = 1;
    }
    MPI_Op_create(op_f16_sum, 1, &s->f16_sum);
    MPI_Op_create(op_f16_max, 1, &s->f16_max);
    MPI_Op_create(op_bf16_sum, 1, &s->bf16_sum);
    MPI_Op_create(op_bf16_max, 1, &s->bf16_max);
    MPI_Op_create(op_f32_max, 1, &s->f32_max);
    MPI_Op_create(op_f64_max, 1, &s->f64_max);
    *state = s;
    return XHAL_OK;
}

static void mpi_shutdown(void *state)
{
    mpi_state *s = state;
    if (!s) return;
    MPI_Op *ops[] = {&s->f16_sum, &s->f16_max, &s->bf16_sum, &s->bf16_max, &s->f32_max, &s->f64_max};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) MPI_Op_free(ops[i]);
    if (s->we_init) MPI_Finalize();
    H->host_free(s);
}

static xhal_status mpi_comm_create(void *state, int *rank, int *size, void **comm)
{
    (void)state;
    MPI_Comm *c = H->host_alloc(sizeof *c);
    if (!c) return H->set_error(XHAL_ERROR_OUT_OF_MEMORY, "out of host memory");
    int rc = MPI_Comm_dup(MPI_COMM_WORLD, c);
    if (rc != MPI_SUCCESS) {
        H->host_free(c);
        return mpi_fail(rc, "MPI_Comm_dup(MPI_COMM_WORLD)");
    }
    MPI_Comm_set_errhandler(*c, MPI_ERRORS_RETURN);
    MPI_Comm_rank(*c, rank);
    MPI_Comm_size(*c, size);
    *comm = c;
    return XHAL_OK;
}

static void mpi_comm_destroy(void *state, void *comm)
{
    (void)state;
    MPI_Comm *c = comm;
    MPI_Comm_free(c);
    H->host_free(c);
}

static int mpi_type(int dt, MPI_Datatype *t)
{
    switch (dt) {
        case XHAL_DTYPE_F32: *t = MPI_FLOAT; return 0;
        case XHAL_DTYPE_F64: *t = MPI_DOUBLE; return 0;
        case XHAL_DTYPE_F16:
        case XHAL_DTYPE_BF16: *t = MPI_UINT16_T; return 0;
        case XHAL_DTYPE_I8: *t = MPI_INT8_T; return 0;
        case XHAL_DTYPE_U8: *t = MPI_UINT8_T; return 0;
        case XHAL_DTYPE_I32: *t = MPI_INT32_T; return 0;
        case XHAL_DTYPE_I64: *t = MPI_INT64_T; return 0;
        default: return -1;
    }
}

static MPI_Op mpi_op(const mpi_state *s, int dt, int op)
{
    int max = op == XHAL_REDUCE_MAX;
    switch (dt) {
        case XHAL_DTYPE_F16: return max ? s->f16_max : s->f16_sum;
        case XHAL_DTYPE_BF16: return max ? s->bf16_max : s->bf16_sum;
        case XHAL_DTYPE_F32: return max ? s->f32_max : MPI_SUM;
        case XHAL_DTYPE_F64: return max ? s->f64_max : MPI_SUM;
        default: return max ? MPI_MAX : MPI_SUM;
    }
}

static xhal_status mpi_run(void *state, void *comm, const xhal_engine_op *o)
{
    mpi_state *s = state;
    MPI_Comm c = *(MPI_Comm *)comm;
    MPI_Datatype t;
    if (mpi_type(o->dtype, &t) != 0) return H->set_error(XHAL_ERROR_UNSUPPORTED, "dtype %d has no MPI type", o->dtype);
    if (o->count > INT_MAX)
        return H->set_error(XHAL_ERROR_UNSUPPORTED, "%lld elements: MPI counts stop at %d", (long long)o->count,
                            INT_MAX);
    int n = (int)o->count, size = 1, rank = 0, rc = MPI_SUCCESS;
    MPI_Comm_size(c, &size);
    MPI_Comm_rank(c, &rank);
    const char *what = "";
    switch (o->kind) {
        case XHAL_COLL_ALL_REDUCE:
            what = "MPI_Allreduce";
            rc = MPI_Allreduce(o->send == o->recv ? MPI_IN_PLACE : o->send, o->recv, n, t, mpi_op(s, o->dtype, o->op),
                               c);
            break;
        case XHAL_COLL_BROADCAST:
            what = "MPI_Bcast";
            rc = MPI_Bcast(o->recv, n, t, o->root, c);
            break;
        case XHAL_COLL_ALL_GATHER:
        case XHAL_COLL_REDUCE_SCATTER: {
            int *counts = H->host_alloc(2 * (size_t)size * sizeof(int));
            if (!counts) return H->set_error(XHAL_ERROR_OUT_OF_MEMORY, "out of host memory");
            int *displs = counts + size;
            int q = n / size, rem = n % size;
            for (int r = 0; r < size; r++) {
                counts[r] = q + (r < rem);
                displs[r] = r * q + (r < rem ? r : rem);
            }
            if (o->kind == XHAL_COLL_ALL_GATHER) {
                what = "MPI_Allgatherv";
                rc = MPI_Allgatherv(o->send, counts[rank], t, o->recv, counts, displs, t, c);
            } else {
                what = "MPI_Reduce_scatter";
                rc = MPI_Reduce_scatter(o->send, o->recv, counts, t, mpi_op(s, o->dtype, o->op), c);
            }
            H->host_free(counts);
            break;
        }
        case XHAL_COLL_SEND:
            what = "MPI_Send";
            rc = MPI_Send(o->send, n, t, o->peer, TAG_P2P, c);
            break;
        case XHAL_COLL_RECV: {
            what = "MPI_Recv";
            MPI_Status status;
            rc = MPI_Recv(o->recv, n, t, o->peer, TAG_P2P, c, &status);
            if (rc == MPI_ERR_TRUNCATE || (rc != MPI_SUCCESS && status.MPI_ERROR == MPI_ERR_TRUNCATE))
                return H->set_error(XHAL_ERROR_SHAPE_MISMATCH,
                                    "rank %d sent rank %d more than the %d elements it receives", o->peer, rank, n);
            if (rc == MPI_SUCCESS) {
                int got = 0;
                MPI_Get_count(&status, t, &got);
                if (got != n)
                    return H->set_error(XHAL_ERROR_SHAPE_MISMATCH, "rank %d sent rank %d %d elements, not %d", o->peer,
                                        rank, got, n);
            }
            break;
        }
        default: return H->set_error(XHAL_ERROR_UNSUPPORTED, "collective %d is not known to the mpi engine", o->kind);
    }
    if (rc != MPI_SUCCESS) return mpi_fail(rc, what);
    return XHAL_OK;
}

static char g_version[160];

static const xhal_engine_table g_table = {
    .abi_version = XHAL_ENGINE_ABI_VERSION,
    .struct_size = sizeof(xhal_engine_table),
    .name = "mpi",
    .version = g_version,
    .init = mpi_init,
    .shutdown = mpi_shutdown,
    .comm_create = mpi_comm_create,
    .comm_destroy = mpi_comm_destroy,
    .run = mpi_run,
};

EXPORT const xhal_engine_table *xhal_engine_entry(uint32_t host_abi_version, const xhal_host_services *host)
{
    H = host;
    if (host_abi_version != XHAL_ENGINE_ABI_VERSION) {
        host->set_error(XHAL_ERROR_ABI_MISMATCH, "libxhal_mpi.so implements engine ABI %u, the host %u",
                        XHAL_ENGINE_ABI_VERSION, host_abi_version);
        return NULL;
    }
    char lib[MPI_MAX_LIBRARY_VERSION_STRING] = "";
    int len = 0;
    MPI_Get_library_version(lib, &len);
    lib[strcspn(lib, ",\n")] = '\0';
    snprintf(g_version, sizeof g_version, "%s, %s", XHAL_MPI_ENGINE_VERSION, lib);
    return &g_table;
}

/* The peer of xhal-bench --suite collectives: MPI_Allreduce (f32, sum) called directly on
 * MPI_COMM_WORLD with the caller's host buffers, iters times after a barrier; *seconds is the
 * slowest rank's time per call. Needs MPI started (by the engine's init). Not part of the
 * engine ABI: xhal-bench looks it up by name in this file. Returns 0, or an MPI error code. */
EXPORT int xhal_mpi_peer_allreduce(const float *send, float *recv, int count, int iters, double *seconds)
{
    int rc = MPI_Barrier(MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return rc;
    double t0 = MPI_Wtime();
    for (int i = 0; i < iters && rc == MPI_SUCCESS; i++)
        rc = MPI_Allreduce(send, recv, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    double t = (MPI_Wtime() - t0) / (iters > 0 ? iters : 1);
    if (rc == MPI_SUCCESS) rc = MPI_Allreduce(&t, seconds, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return rc;
}
