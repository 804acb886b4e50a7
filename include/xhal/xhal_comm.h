/*
 * xhal_comm.h - communicators and collectives (included by xhal.h; do not include it alone).
 *
 * A communicator is a set of ranks, one device per rank. A process drives one or more of
 * them ("local ranks"):
 *  - xhal_comm_create: every rank in this process, rank i on devices[i];
 *  - xhal_comm_create_mpi: one rank per process, over MPI (mpirun -np N ...).
 * Every collective call takes arrays of n_local entries, entry i for local rank i (global
 * rank first_rank + i): the calling thread issues the collective for all its ranks at once,
 * as NCCL's ncclGroupStart/End does, so one thread drives several devices without deadlock.
 *
 * Engines (how the bytes move; xhal_comm_info.engine says which one a communicator uses and
 * xhal_comm_info.reason why):
 *  - a backend's own collective library (NCCL for cuda, RCCL for hip, a vendor plugin's
 *    HCCL/CNCL...) when every rank's device is of that backend, each device appears once and
 *    the backend provides the optional collective entries of xhal_backend.h;
 *  - "host": in one process, copies through host memory (devices of different backends, a
 *    device appearing twice, or a backend without collective entries). Reductions run on the
 *    host in rank order, so the result does not depend on the engine's schedule;
 *  - "mpi": across processes, through libxhal_mpi.so (an engine plugin linking libmpi, itself
 *    dlopen'd by the core; missing = unavailable with the reason). Device memory that is not
 *    host memory is staged through host buffers.
 * The host and mpi engines complete a collective before the call returns (they synchronize
 * the ranks' streams first, so work queued before the call is seen); a backend engine queues
 * it on the streams like an op.
 *
 * Tensors: every send/recv tensor is contiguous (INVALID_ARGUMENT otherwise), of a plain dtype
 * (f32, f16, bf16, f64, i8, u8, i32, i64; block-quantized dtypes: DTYPE_MISMATCH) and lives on
 * its rank's device (WRONG_DEVICE), as does its rank's stream. Tensors are flat element
 * sequences: only their dtype and element count must agree, as each call says; shapes do not
 * matter except where a call says so. The same device may serve several ranks of the host
 * engine (cpu:0 twice is 2 ranks); their recv tensors must then be distinct memory.
 *
 * Counts not divisible by the rank count: a count of N elements is split over `size` ranks
 * as numpy.array_split does (xhal_comm_partition): ranks r < N % size get ceil(N/size)
 * elements, the others floor(N/size), in rank order. reduce_scatter gives rank r block r of
 * the reduced send; all_gather is its inverse: rank r contributes block r of recv. With N
 * divisible by size both are NCCL's equal-count collectives. Blocks of 0 elements are valid.
 *
 * Reductions: SUM and MAX. f16/bf16 are converted to f32, combined in f32 in rank order
 * (0, 1, ...) and rounded once (host engine; other engines round after each combination:
 * at most size-1 roundings, the bound in conformance/COLLECTIVES.md). f32 combines in f32,
 * f64 in f64, integers in two's complement with wrap-around. MAX of floats: NaN if any
 * rank's element is NaN.
 *
 * Errors common to every call: INVALID_HANDLE (comm, a stream or a tensor NULL or dead),
 * INVALID_ARGUMENT (arrays NULL, op or root/peer out of range, a tensor not contiguous, recv
 * overlapping send or another rank's recv), WRONG_DEVICE, DTYPE_MISMATCH (a dtype differs
 * between send and recv or between ranks), SHAPE_MISMATCH (an element count differs from what
 * the call requires), UNAVAILABLE/BACKEND (the engine failed; the message names it). Across
 * processes the engine compares every rank's dtype, count, op and root before moving data,
 * so a mismatch is reported on every rank (naming the ranks) instead of hanging.
 * On failure no recv tensor has been written, except BACKEND errors of the engine itself.
 *
 * Threads: like a stream, a communicator takes calls from one thread at a time (collectives
 * and send/recv of one communicator must not run concurrently); different communicators may be
 * used from different threads.
 */
#ifndef XHAL_XHAL_COMM_H
#define XHAL_XHAL_COMM_H

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xhal_comm xhal_comm;

typedef enum xhal_reduce_op { XHAL_REDUCE_SUM = 0, XHAL_REDUCE_MAX = 1 } xhal_reduce_op;

/* Ranks one process may drive in one communicator. */
#define XHAL_COMM_MAX_LOCAL 64

typedef struct xhal_comm_info {
    uint32_t struct_size;              /* sizeof(xhal_comm_info): set it before the call */
    char engine[32];                   /* "host", "mpi", "nccl", "rccl" or a vendor plugin's name */
    char reason[256];                  /* why this engine was chosen */
    int32_t size;                      /* ranks in the communicator, every process together */
    int32_t n_local;                   /* ranks driven by this process */
    int32_t first_rank;                /* global rank of local rank 0 (local i is first_rank + i) */
    int32_t staged;                    /* 1 if some rank's data passes through host staging memory */
    int32_t ring[XHAL_COMM_MAX_LOCAL]; /* local ranks in the order the topology suggests for a
                                         * ring (nearest first: a direct NVLink/xGMI link, more
                                         * bandwidth first, then same PCI switch, NUMA node...) */
} xhal_comm_info;

/* A communicator of n ranks (1 <= n <= XHAL_COMM_MAX_LOCAL) in this process, rank i on devices[i].
 * engine: NULL, "" or "auto" lets the core choose (a backend's collective library if every
 * device has it, else "host"); "host" or a backend engine's name ("nccl") asks for that
 * one (UNAVAILABLE with the reason when it cannot serve these devices). "mpi" is refused
 * here (INVALID_ARGUMENT: use xhal_comm_create_mpi).
 * Errors: INVALID_HANDLE (ctx, a device), INVALID_ARGUMENT (n, devices or out NULL, devices of
 * another context, unknown engine), UNAVAILABLE, OUT_OF_MEMORY. */
XHAL_API xhal_status xhal_comm_create(xhal_context *ctx, xhal_device *const *devices, int n, const char *engine,
                                      xhal_comm **out);

/* One rank per process over MPI (run under mpirun): this process's rank is its rank in
 * MPI_COMM_WORLD, on device. The core dlopens libxhal_mpi.so from the plugin folders (or the
 * file XHAL_MPI_ENGINE names); it initializes MPI if nobody did (MPI_Init_thread) and then
 * finalizes it when the last MPI communicator of the process is destroyed (MPI cannot be
 * initialized twice: a later call gives UNAVAILABLE). Collective: every process calls it.
 * Errors: INVALID_HANDLE, INVALID_ARGUMENT (out NULL), UNAVAILABLE (no engine plugin, no MPI
 * library, MPI finalized; the reason says which), OUT_OF_MEMORY. */
XHAL_API xhal_status xhal_comm_create_mpi(xhal_context *ctx, xhal_device *device, xhal_comm **out);

/* Destroy a communicator (NULL is a no-op). Destroyed with its context too. For MPI,
 * collective: every process destroys its communicator. */
XHAL_API xhal_status xhal_comm_destroy(xhal_comm *comm);

/* Engine, sizes and ring order. info->struct_size must be set (fields that fit are written). */
XHAL_API xhal_status xhal_comm_get_info(xhal_comm *comm, xhal_comm_info *info);
/* The device of local rank local_rank in [0, n_local). */
XHAL_API xhal_status xhal_comm_device(xhal_comm *comm, int local_rank, xhal_device **out);

/* Block `rank` of count elements split over size ranks (numpy.array_split): *offset and *len
 * in elements. INVALID_ARGUMENT for count < 0, size < 1 or rank outside [0, size). */
XHAL_API xhal_status xhal_comm_partition(int64_t count, int size, int rank, int64_t *offset, int64_t *len);

/* What engine a communicator of devices a and b (in this process) would use, and why; or,
 * with engine_name not NULL, whether that engine ("mpi", "host", "nccl"...) is available here.
 * name/reason are written as NUL-terminated strings (truncated to their lengths).
 * *available is 1 or 0. Errors: INVALID_HANDLE, INVALID_ARGUMENT. */
XHAL_API xhal_status xhal_comm_engine_query(xhal_context *ctx, xhal_device *a, xhal_device *b, const char *engine_name,
                                            char *name, size_t name_len, char *reason, size_t reason_len,
                                            int *available);

/* ---- collectives: arrays of n_local entries, entry i for local rank i ---- */

/* recv[i] = op over every rank of send; send and recv of one dtype and one shape on each rank,
 * the same element count on every rank. recv[i] may be send[i] (in place). */
XHAL_API xhal_status xhal_all_reduce(xhal_comm *comm, xhal_stream *const *streams, xhal_tensor *const *send,
                                     xhal_tensor *const *recv, xhal_reduce_op op);
/* tensors[i] = root's tensor on every rank (in place, like MPI_Bcast); one dtype and element
 * count on every rank. root in [0, size). */
XHAL_API xhal_status xhal_broadcast(xhal_comm *comm, xhal_stream *const *streams, xhal_tensor *const *tensors,
                                    int root);
/* recv (N elements, the same N on every rank) = the ranks' send blocks in rank order; rank r's
 * send has exactly xhal_comm_partition(N, size, r) elements. */
XHAL_API xhal_status xhal_all_gather(xhal_comm *comm, xhal_stream *const *streams, xhal_tensor *const *send,
                                     xhal_tensor *const *recv);
/* recv on rank r = block r (xhal_comm_partition(N, size, r)) of op over every rank's send (N
 * elements, the same N on every rank). */
XHAL_API xhal_status xhal_reduce_scatter(xhal_comm *comm, xhal_stream *const *streams, xhal_tensor *const *send,
                                         xhal_tensor *const *recv, xhal_reduce_op op);
/* Point to point: local rank local_rank sends t to global rank peer, or receives into t from it;
 * dtype and element count must match the peer's. Within one process (host engine) a send is
 * buffered when it is called (t may be reused at once) and the matching recv, called later by
 * the same or another thread, takes the oldest message from that peer: a recv with no pending
 * message is INVALID_ARGUMENT (it could never be satisfied by a single thread). Across
 * processes (mpi) the calls block like MPI_Send / MPI_Recv. peer != the sender's own rank. */
XHAL_API xhal_status xhal_send(xhal_comm *comm, int local_rank, xhal_stream *stream, xhal_tensor *t, int peer);
XHAL_API xhal_status xhal_recv(xhal_comm *comm, int local_rank, xhal_stream *stream, xhal_tensor *t, int peer);

#ifdef __cplusplus
}
#endif

#endif /* XHAL_XHAL_COMM_H */
