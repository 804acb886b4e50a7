/* comm.h - communicators (internal): the object, one collective as the engines see it, and the
 * engines (comm_host.c: host staging in one process; comm_engine.c: engine plugins such as
 * libxhal_mpi.so; a backend's coll_* entries). comm.c validates every call once, here. */
#ifndef HAL_COMM_H
#define HAL_COMM_H
#include "internal.h"

#include "xhal/xhal_engine.h"

typedef enum hal_comm_kind {
    HAL_COMM_HOST = 1,    /* in one process, through host memory (comm_host.c) */
    HAL_COMM_BACKEND = 2, /* in one process, the backend's coll_* entries */
    HAL_COMM_PROCESS = 3  /* one rank per process, an engine plugin (comm_engine.c) */
} hal_comm_kind;

typedef struct hal_msg hal_msg; /* a buffered in-process send */

typedef struct hal_engine hal_engine; /* a loaded engine plugin (comm_engine.c) */

struct xhal_comm {
    hal_handle_hdr hdr;
    xhal_context *ctx;
    int kind; /* hal_comm_kind */
    int size, n_local, first_rank;
    xhal_device *devs[XHAL_COMM_MAX_LOCAL];
    int ring[XHAL_COMM_MAX_LOCAL];
    char engine[32];
    char reason[256];
    int staged;
    void *bcomm;     /* HAL_COMM_BACKEND: the plugin's communicator */
    hal_engine *eng; /* HAL_COMM_PROCESS */
    void *ecomm;
    pthread_mutex_t lock; /* mailbox */
    hal_msg *mailbox;     /* buffered sends, oldest first */
    void *scratch;        /* host engine: result and accumulator, kept between calls */
    size_t scratch_size;
};

/* One validated collective (comm.c), for local ranks 0..n_local-1. count is N as in
 * xhal_coll_desc; send/recv arrays hold n_local entries (broadcast: recv == send). */
typedef struct hal_coll {
    const char *fn;
    int kind; /* xhal_coll_kind */
    xhal_dtype dtype;
    int op, root, peer, local; /* peer/local: SEND and RECV */
    int64_t count;
    xhal_stream *const *streams;
    xhal_tensor *const *send;
    xhal_tensor *const *recv;
} hal_coll;

/* Host engine: runs c for every local rank of comm (every rank is local). */
xhal_status hal_comm_host_run(xhal_comm *comm, const hal_coll *c);
/* Buffered point to point within one process (any in-process communicator). */
xhal_status hal_comm_host_send(xhal_comm *comm, const hal_coll *c);
xhal_status hal_comm_host_recv(xhal_comm *comm, const hal_coll *c);
void hal_comm_host_drop_mailbox(xhal_comm *comm);

/* Block r of n over size ranks (numpy.array_split). */
static inline void hal_comm_block(int64_t n, int size, int r, int64_t *off, int64_t *len)
{
    int64_t q = n / size, rem = n % size;
    *len = q + (r < rem ? 1 : 0);
    *off = (int64_t)r * q + (r < rem ? r : rem);
}

/* Combine n elements of src into acc (host memory, dtype dt) with op, in place: acc = acc op
 * src. f16/bf16 accumulate in an f32 array (acc is float*), others in their own type. */
void hal_comm_combine(xhal_dtype dt, int op, void *acc, const void *src, int64_t n);
/* acc (f32 for f16/bf16, else dt) -> dst in dt; acc <- src of dt. */
void hal_comm_acc_load(xhal_dtype dt, void *acc, const void *src, int64_t n);
void hal_comm_acc_store(xhal_dtype dt, void *dst, const void *acc, int64_t n);
size_t hal_comm_acc_size(xhal_dtype dt);

/* Host access to a contiguous tensor after the stream's queued work: a pointer into the
 * device's memory when it is host memory (*staging NULL), else a malloc'd copy (*staging is
 * it; read from the device unless `fill` is 0). */
xhal_status hal_comm_host_map(xhal_stream *s, xhal_tensor *t, int fill, void **ptr, void **staging);
/* Write back what hal_comm_host_map staged (no-op when it mapped) and free the staging. */
xhal_status hal_comm_host_unmap(xhal_stream *s, xhal_tensor *t, void *staging, int write);

/* Engine plugins (comm_engine.c). */
xhal_status hal_engine_acquire(const char *name, hal_engine **out);
void hal_engine_release(hal_engine *e);
const xhal_engine_table *hal_engine_table(hal_engine *e);
void *hal_engine_state(hal_engine *e);
/* Whether the engine would load, with the reason or the path it loads from. */
int hal_engine_probe(const char *name, char *reason, size_t len);
/* Run a collective of a process communicator (host memory of this process's one rank). */
xhal_status hal_comm_process_run(xhal_comm *comm, const hal_coll *c);

/* Ring order of comm's local ranks from the topology (comm_topo.c). */
void hal_comm_ring(xhal_comm *comm);
#endif
