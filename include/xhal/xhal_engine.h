/*
 * xhal_engine.h - the collective-engine plugin ABI (version 1): how the core drives a
 * communication library for processes and machines (libxhal_mpi.so, over MPI).
 *
 * An engine is a shared library named libxhal_<name>.so in a plugin folder (the folders of
 * XHAL_PLUGIN_PATH, then the installation's lib/xhal/), or the file XHAL_<NAME>_ENGINE
 * names (XHAL_MPI_ENGINE). Unlike backends (libxhal-<name>.so) it is loaded only when a
 * communicator asks for it, once per process, and never unloaded (an MPI library does not
 * survive dlclose). It links its library (libmpi) itself: the core links none.
 *
 * It exports XHAL_ENGINE_ENTRY_SYMBOL:
 *     const xhal_engine_table *xhal_engine_entry(uint32_t host_abi_version,
 *                                                const xhal_host_services *host);
 * returning NULL (after host->set_error) to refuse. The core refuses a table whose abi_version
 * differs from XHAL_ENGINE_ABI_VERSION or whose struct_size is below
 * XHAL_ENGINE_TABLE_MIN_SIZE, naming both numbers.
 *
 * Contract: the core has validated everything it can see locally (xhal_comm.h) and compared
 * every rank's dtype, count, op and root through the engine's own ALL_GATHER before it asks
 * for a collective; the engine moves host memory only (the core stages device memory). Entries
 * report failures through host->set_error and return the status; they never print or abort.
 * Calls come from the thread that called the public function; the core serializes them per
 * communicator.
 */
#ifndef XHAL_XHAL_ENGINE_H
#define XHAL_XHAL_ENGINE_H

#include "xhal_backend.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XHAL_ENGINE_ABI_VERSION 1u
#define XHAL_ENGINE_ENTRY_SYMBOL "xhal_engine_entry"

/* One collective of this process's rank, on host memory. kind: xhal_coll_kind. count is N
 * as in xhal_coll_desc (xhal_backend.h): ALL_REDUCE send/recv N (recv may equal send);
 * BROADCAST recv N in place (send == recv); ALL_GATHER recv N, send this rank's block;
 * REDUCE_SCATTER send N, recv this rank's block; SEND/RECV N elements to/from peer. Blocks
 * follow numpy.array_split (rank r < N % size gets N/size + 1). Counts may be 0. */
typedef struct xhal_engine_op {
    uint32_t struct_size; /* sizeof(xhal_engine_op) */
    int32_t kind;
    int32_t dtype; /* xhal_dtype, plain */
    int32_t op;    /* xhal_reduce_op */
    int32_t root;
    int32_t peer;
    int64_t count;
    const void *send;
    void *recv;
} xhal_engine_op;

typedef struct xhal_engine_table {
    uint32_t abi_version; /* XHAL_ENGINE_ABI_VERSION */
    uint32_t struct_size; /* sizeof(xhal_engine_table) as the plugin built it */
    const char *name;     /* "mpi" */
    const char *version;  /* the plugin's version and its library's, e.g. "0.1.0 (Open MPI v4.1.4)" */
    /* Start the library if nobody did (MPI_Init_thread); UNAVAILABLE with the reason if it
     * cannot (e.g. already finalized). */
    xhal_status (*init)(const xhal_host_services *host, void **state);
    /* Stop what init started (MPI_Finalize only if init called MPI_Init_thread). */
    void (*shutdown)(void *state);
    /* A communicator over every process (a duplicate of MPI_COMM_WORLD): collective. */
    xhal_status (*comm_create)(void *state, int *rank, int *size, void **comm);
    void (*comm_destroy)(void *state, void *comm);
    /* Run one collective to completion (blocking). */
    xhal_status (*run)(void *state, void *comm, const xhal_engine_op *op);
} xhal_engine_table;

#define XHAL_ENGINE_TABLE_MIN_SIZE (offsetof(xhal_engine_table, run) + sizeof(void *))

typedef const xhal_engine_table *(*xhal_engine_entry_fn)(uint32_t host_abi_version, const xhal_host_services *host);

#ifdef __cplusplus
}
#endif

#endif /* XHAL_XHAL_ENGINE_H */
