/* mutant_engine: the MPI collective engine (libxhal_mpi.so) with one injected defect in its
 * results, chosen by XHAL_ENGINE_MUTANT=<number> (0 or unset: none), loaded in its place through
 * XHAL_MPI_ENGINE. test_coll_mutants (tp_coll_mutants.cmake) runs `xhal-conform --suite
 * collectives --mpi` under mpirun against each one and requires the suite to fail, and to pass
 * with no defect: the suite's checks would see an engine computing wrongly. It dlopens the built
 * engine (XC_MPI_ENGINE), takes its table and forwards everything; run() lets the real engine
 * compute, then spoils the result (f32 data only, so the core's own i64 exchange of every rank's
 * dtype/count/op/root stays intact and the defect reaches the data checks). Test-only: never
 * installed, never on a plugin path. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xhal/xhal_engine.h"

#if defined(__GNUC__)
#define EXPORT __attribute__((visibility("default")))
#else
#define EXPORT
#endif

enum {
    M_NONE = 0,
    M_ALLREDUCE_LAST,    /* all_reduce: the last element off by one */
    M_MAX_AS_SUM,        /* all_reduce MAX computed as SUM */
    M_BCAST_WRONG_ROOT,  /* broadcast from root + 1 */
    M_GATHER_SWAP,       /* all_gather: first and last element swapped */
    M_SCATTER_UNWRITTEN, /* reduce_scatter: the last element of the block left as it was */
    M_RECV_FIRST,        /* recv: the first element off by one */
    M_COUNT_
};

static xhal_engine_table table;
static const xhal_engine_table *real;
static int mutant, g_rank, g_size;

static xhal_status mut_comm_create(void *state, int *rank, int *size, void **comm)
{
    xhal_status s = real->comm_create(state, rank, size, comm);
    if (s == XHAL_OK) {
        g_rank = *rank;
        g_size = *size;
    }
    return s;
}

static xhal_status mut_run(void *state, void *comm, const xhal_engine_op *op)
{
    xhal_engine_op o = *op;
    const int f32 = op->dtype == XHAL_DTYPE_F32;
    if (f32 && mutant == M_MAX_AS_SUM && op->kind == XHAL_COLL_ALL_REDUCE && op->op == XHAL_REDUCE_MAX)
        o.op = XHAL_REDUCE_SUM;
    if (f32 && mutant == M_BCAST_WRONG_ROOT && op->kind == XHAL_COLL_BROADCAST && g_size > 1)
        o.root = (op->root + 1) % g_size;
    /* reduce_scatter: this rank's block (numpy.array_split) */
    int64_t blk = 0;
    if (g_size > 0) blk = op->count / g_size + (g_rank < op->count % g_size);
    float keep = 0;
    const int unwritten = f32 && mutant == M_SCATTER_UNWRITTEN && op->kind == XHAL_COLL_REDUCE_SCATTER && blk > 0;
    if (unwritten) memcpy(&keep, (float *)op->recv + blk - 1, sizeof keep);
    xhal_status s = real->run(state, comm, &o);
    if (s != XHAL_OK || !f32) return s;
    float *r = op->recv;
    switch (mutant) {
        case M_ALLREDUCE_LAST:
            if (op->kind == XHAL_COLL_ALL_REDUCE && op->count > 0) r[op->count - 1] += 1.0f;
            break;
        case M_GATHER_SWAP:
            if (op->kind == XHAL_COLL_ALL_GATHER && op->count > 1) {
                float t = r[0];
                r[0] = r[op->count - 1];
                r[op->count - 1] = t;
            }
            break;
        case M_SCATTER_UNWRITTEN:
            if (unwritten) memcpy(r + blk - 1, &keep, sizeof keep);
            break;
        case M_RECV_FIRST:
            if (op->kind == XHAL_COLL_RECV && op->count > 0) r[0] += 1.0f;
            break;
        default: break;
    }
    return XHAL_OK;
}

EXPORT const xhal_engine_table *xhal_engine_entry(uint32_t host_abi_version, const xhal_host_services *host)
{
    const char *m = getenv("XHAL_ENGINE_MUTANT");
    mutant = m ? atoi(m) : 0;
    if (mutant < 0 || mutant >= M_COUNT_) {
        host->set_error(XHAL_ERROR_INVALID_ARGUMENT, "mutant engine: XHAL_ENGINE_MUTANT=%s outside [0, %d)", m,
                        (int)M_COUNT_);
        return NULL;
    }
    /* RTLD_GLOBAL: the real engine's libmpi loads its own components with dlopen */
    void *h = dlopen(XC_MPI_ENGINE, RTLD_NOW | RTLD_GLOBAL);
    xhal_engine_entry_fn entry = h ? (xhal_engine_entry_fn)(uintptr_t)dlsym(h, XHAL_ENGINE_ENTRY_SYMBOL) : NULL;
    real = entry ? entry(host_abi_version, host) : NULL;
    if (!real) {
        if (!entry) host->set_error(XHAL_ERROR_UNAVAILABLE, "mutant engine: cannot load %s", XC_MPI_ENGINE);
        return NULL;
    }
    table = *real;
    table.comm_create = mut_comm_create;
    table.run = mut_run;
    return &table;
}
