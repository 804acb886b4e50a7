/*
 * cpu_internal.h - shared declarations of the CPU reference backend (not installed).
 *
 * The backend runs every op synchronously in the calling thread (helped by a small
 * persistent thread pool for large ops), so streams are plain tokens and stream_sync
 * has nothing to wait for.
 */
#ifndef XHAL_CPU_INTERNAL_H
#define XHAL_CPU_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "xhal/plugin/xhal_plugin.h"

#define CPU_BACKEND_NAME "cpu"
#define CPU_BACKEND_VERSION "0.1.0"

/* Host services, kept by XHAL_PLUGIN_ENTRY; members the host did not provide are NULL. */
#define cpu_host (*xhal_plugin_host())

/* Error helper: formats through host->set_error and returns status. */
#define CPU_ERR(status, ...) (cpu_host.set_error((status), __VA_ARGS__))

void *cpu_alloc(size_t size); /* host_alloc; NULL on failure or size 0 overflow */
void cpu_free(void *ptr);
/* count * size with overflow check; SIZE_MAX on overflow (then cpu_alloc fails). */
size_t cpu_mul_size(size_t count, size_t size);

/* ---- buffers ---- */
typedef struct cpu_buffer {
    unsigned char *data; /* 64-byte aligned, unless foreign */
    uint64_t size;
    int foreign; /* xhal_buffer_wrap_host: the caller's memory, never freed here */
} cpu_buffer;

/* ---- thread pool ---- */
typedef struct cpu_pool cpu_pool;

/* Work over [begin, end); worker is in [0, cpu_pool_workers(pool)) and identifies the
 * calling thread for the duration of one cpu_parallel_for (use it to index scratch). */
typedef void (*cpu_range_fn)(void *ctx, int64_t begin, int64_t end, int worker);

/* Create a pool of nthreads threads in total (the caller counts as one). */
cpu_pool *cpu_pool_create(int nthreads);
void cpu_pool_destroy(cpu_pool *pool);
/* Threads a parallel_for may use at most (>= 1). NULL pool: 1. */
int cpu_pool_workers(const cpu_pool *pool);
/* Run fn over [0, n) in chunks of at least grain items. Runs inline when the range is
 * small, the pool is NULL or the pool is busy with another caller's job (so calls from
 * inside a task or from concurrent streams never deadlock). Returns when all is done. */
void cpu_parallel_for(cpu_pool *pool, int64_t n, int64_t grain, cpu_range_fn fn, void *ctx);

/* ---- plugin instance ---- */
typedef struct cpu_state {
    cpu_pool *pool;
    int nthreads;
    /* attention caches a kv head's K and V in double when they take at most this many
     * doubles per worker (XHAL_CPU_ATTN_CACHE; 0 forces the streaming path) */
    int64_t attn_cache_max;
    /* matmul packs b and stages out in column blocks of about this many elements
     * (XHAL_CPU_MATMUL_BLOCK; blocks are never narrower than 64 columns) */
    int64_t matmul_block;
} cpu_state;

/* ---- names for messages ---- */
const char *cpu_dtype_name(int dtype);
const char *cpu_op_name(int op);
size_t cpu_dtype_size(int dtype);

/* ---- ops (cpu_ops*.c) ---- */
xhal_status cpu_op_supported(void *state, int device, const xhal_op_desc *desc);
xhal_status cpu_op_run(void *state, void *stream, const xhal_op_desc *desc);

/* Per-family entry points, called by cpu_op_run after dispatch. */
xhal_status cpu_run_copy(cpu_state *st, const xhal_op_desc *d);
/* Block-quantized dtypes (cpu_quant.c): COPY between a block dtype and itself, to
 * f32/f16/bf16, or from f32/f16/bf16 to q8_0/q4_0. */
int cpu_is_block_dtype(int dtype);
xhal_status cpu_block_copy_supported(int src_dtype, int dst_dtype);
xhal_status cpu_run_copy_block(cpu_state *st, const xhal_op_desc *d);
/* MATMUL with a block-quantized b, or an i8 b with f32 scales [N] as in[2] (xhal_matmul_i8);
 * a and out f32/f16/bf16. */
xhal_status cpu_qmatmul_supported(const xhal_op_desc *d);
xhal_status cpu_run_matmul_q(cpu_state *st, const xhal_op_desc *d);
xhal_status cpu_run_fill(cpu_state *st, const xhal_op_desc *d);
xhal_status cpu_run_unary(cpu_state *st, const xhal_op_desc *d);
xhal_status cpu_run_binary(cpu_state *st, const xhal_op_desc *d);
xhal_status cpu_run_scale(cpu_state *st, const xhal_op_desc *d);
xhal_status cpu_run_reduce(cpu_state *st, const xhal_op_desc *d);
xhal_status cpu_run_softmax(cpu_state *st, const xhal_op_desc *d);
xhal_status cpu_run_norm(cpu_state *st, const xhal_op_desc *d);
xhal_status cpu_run_matmul(cpu_state *st, const xhal_op_desc *d);
xhal_status cpu_run_gather(cpu_state *st, const xhal_op_desc *d);
xhal_status cpu_run_rope(cpu_state *st, const xhal_op_desc *d);
xhal_status cpu_run_attention(cpu_state *st, const xhal_op_desc *d);
xhal_status cpu_run_topk(cpu_state *st, const xhal_op_desc *d);

/* First byte of a tensor (element 0...0). */
static inline unsigned char *cpu_tensor_base(const xhal_tensor_desc *t)
{
    return ((cpu_buffer *)t->buffer)->data + t->offset;
}

static inline int64_t cpu_numel(const xhal_tensor_desc *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

/* Byte offset of the row with flat index `row` over the first `nd` dims of t (row-major
 * order of those dims); idx (may be NULL) receives the per-dim indices. */
static inline int64_t cpu_row_offset(const xhal_tensor_desc *t, int nd, int64_t row, int64_t *idx)
{
    int64_t off = 0;
    int64_t es = (int64_t)cpu_dtype_size(t->dtype);
    for (int k = nd - 1; k >= 0; k--) {
        int64_t s = t->shape[k];
        int64_t i = s > 0 ? row % s : 0;
        row = s > 0 ? row / s : 0;
        if (idx) idx[k] = i;
        off += i * t->strides[k] * es;
    }
    return off;
}

#endif /* XHAL_CPU_INTERNAL_H */
