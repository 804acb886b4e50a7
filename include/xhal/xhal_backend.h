/*
 * xhal_backend.h - the backend plugin ABI (version 2).
 *
 * A backend is a shared library exporting one C function, XHAL_BACKEND_ENTRY_SYMBOL:
 *
 *     const xhal_backend_table *xhal_backend_entry(uint32_t host_abi_version,
 *                                                  const xhal_host_services *host);
 *
 * It returns a pointer to a table that lives as long as the library is loaded (or NULL
 * to refuse, after host->set_error explaining why). The table starts with the ABI
 * version the plugin was built for and sizeof the table it filled; the core refuses a
 * plugin whose abi_version differs from XHAL_BACKEND_ABI_VERSION or whose struct_size
 * is smaller than the version requires, and names both numbers in the reason. Plugin
 * authors do not write this function: include <xhal/plugin/xhal_plugin.h> and write
 * XHAL_PLUGIN_ENTRY(table), which does the checks and keeps the host services.
 *
 * A plugin must not link libxhal (nor call any xhal_* function of xhal.h): everything it
 * needs from the host comes through xhal_host_services (logging, errors, allocation, fault
 * injection, topology), and the header-only helpers in include/xhal/plugin/.
 *
 * Only C types cross this boundary: integers, doubles, char arrays and opaque void*
 * handles that belong to the plugin. Nothing is freed on the other side.
 *
 * Version 2 (this header) differs from version 1 in: init receives the host services;
 * xhal_device_info starts with struct_size (set by the core; a plugin writes only fields
 * that fit, XHAL_PLUGIN_INFO_HAS); catalogue_version is read by the core, which answers
 * UNSUPPORTED itself for op ids the plugin's catalogue does not have. A version-1 plugin is
 * refused ("ABI mismatch: plugin was built for backend ABI version 1, this libxhal X
 * implements version 2"); rebuild it against this header.
 *
 * Contract for every entry (see backends/README.md for a walk-through):
 *  - The core has validated every argument before calling: handles are the plugin's own
 *    live handles, devices are in range, sizes and offsets lie inside buffers, op
 *    descriptors satisfy the rules written next to each op in this header. A backend
 *    does not validate again.
 *  - Entries return xhal_status. On failure the plugin calls host->set_error(status,
 *    fmt, ...) to say what happened (driver error names, kernel names...) and returns
 *    that status. It must not print, abort or exit.
 *  - A failing op leaves its outputs untouched (or returns an error that says they
 *    are not). Entries may be called from several threads, but never concurrently for
 *    the same stream.
 */
#ifndef XHAL_XHAL_BACKEND_H
#define XHAL_XHAL_BACKEND_H

#include "xhal.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XHAL_BACKEND_ABI_VERSION 2u
#define XHAL_BACKEND_ENTRY_SYMBOL "xhal_backend_entry"

/* Version of the op catalogue a plugin was built against (= XHAL_OP_MAX_ID_ at build
 * time: every op id below it). The core reads the table's catalogue_version and answers
 * XHAL_ERROR_UNSUPPORTED itself, naming both catalogue versions, for an op id at or above
 * it: a plugin built for catalogue N never sees an op added later. A table with
 * catalogue_version 0 is refused. */
#define XHAL_BACKEND_CATALOGUE_VERSION ((uint32_t)XHAL_OP_MAX_ID_)

/* The first catalogue version with TOPK (id 85), ROPE's optional inputs (positions,
 * inv_freq) and attention factor, and ATTENTION's window, softcap and q_pos0 (issue 12). The
 * core sends none of these to a plugin whose catalogue_version is lower: it answers
 * XHAL_ERROR_UNSUPPORTED itself, naming the feature and both versions. A descriptor of an
 * older plugin's ops looks exactly as it did (the new members are zero or default). */
#define XHAL_CATALOGUE_ROPE_ATTENTION_EX 86u

/* The first catalogue version whose GATHER checks its own indices on the device and reports a
 * bad one through a status output (more_outputs[0], below) instead of having the core read the
 * indices back before the op (which waited for the queue and could not be captured in a
 * graph). The core refuses gather on a plugin whose catalogue_version is lower
 * (XHAL_ERROR_UNSUPPORTED naming both versions). */
#define XHAL_CATALOGUE_GATHER_STATUS 87u

/* ------------------------------------------------------------------------- */
/* Services the host gives every plugin                                       */
/* ------------------------------------------------------------------------- */
typedef struct xhal_host_services {
    uint32_t abi_version; /* XHAL_BACKEND_ABI_VERSION of the host */
    uint32_t struct_size; /* sizeof(xhal_host_services) of the host */

    /* Log a message at an xhal_log_level; filtered by the host (XHAL_LOG). */
    void (*log)(int level, const char *backend, const char *fmt, ...);
    /* Set the calling thread's error message; returns status for convenience:
     *     return host->set_error(XHAL_ERROR_BACKEND, "clEnqueue...: %s", name); */
    xhal_status (*set_error)(xhal_status status, const char *fmt, ...);
    /* Host memory for the plugin's own bookkeeping. Going through these lets the host
     * inject allocation failures in tests; they behave as malloc/calloc/free. */
    void *(*host_alloc)(size_t size);
    void *(*host_calloc)(size_t count, size_t size);
    void (*host_free)(void *ptr);
    /* Test hook: returns nonzero if the host wants the current backend call `site`
     * (a short static string such as "buffer_alloc") to fail. A plugin checks it at
     * its allocation sites so fault injection reaches device memory too. */
    int (*inject_fault)(const char *site);
    /* Topology (optional for the host to fill; NULL when topology is unavailable):
     * host memory of size bytes on the NUMA node nearest to the PCI device bus_id (""
     * or unknown: anywhere); free with topo_free_near. */
    void *(*topo_alloc_near)(const char *pci_bus_id, size_t size);
    void (*topo_free_near)(void *ptr, size_t size);
    /* Bind the calling thread to the cores of NUMA node `node` (-1: all cores).
     * Returns 0 on success. */
    int (*topo_bind_thread_numa)(int node);
    /* Number of NUMA nodes of the machine (>= 1), and the OS cpu ids of node `node`
     * written into cpus (at most max); returns the count written. */
    int (*topo_numa_count)(void);
    int (*topo_numa_cpus)(int node, int *cpus, int max);
} xhal_host_services;

/* Host services of ABI version 2 have at least every entry up to inject_fault; later ones
 * (topology) may be NULL. */
#define XHAL_HOST_SERVICES_MIN_SIZE (offsetof(xhal_host_services, inject_fault) + sizeof(void *))

/* ------------------------------------------------------------------------- */
/* Op descriptors                                                             */
/* ------------------------------------------------------------------------- */
#define XHAL_MAX_OP_INPUTS 4
#define XHAL_MAX_OP_OUTPUTS 2 /* outputs[0] and more_outputs[0] (TOPK's indices, GATHER's status) */

/* One tensor as a backend sees it: element (i0..in) lives at byte
 * offset + sizeof(dtype) * sum(ik * strides[k]) of buffer. Strides are >= 0, in elements.
 * Entries past ndim are 1 (shape) and 0 (strides). buffer is the plugin's own buffer
 * handle from buffer_alloc.
 *
 * Block-quantized dtypes (XHAL_DTYPE_Q8_0 .. : block_size elements in block_bytes bytes,
 * xhal_names_dtype_block in include/xhal/plugin/xhal_names.h) are addressed by block: with
 * lin = sum(ik * strides[k]), the block holding the element starts at byte
 *     offset + (lin / block_size) * block_bytes
 * and the element is number lin % block_size inside it. The core guarantees ndim >= 1,
 * an innermost dimension of stride 1 whose size is a multiple of block_size, and every
 * other stride a multiple of block_size: each row is a run of whole, contiguous blocks.
 * offset is any byte. A backend sees these dtypes only in COPY (same dtype, to
 * f32/f16/bf16, from f32/f16/bf16 to q8_0/q4_0) and only if its device_info lists them in
 * dtypes; it may still answer UNSUPPORTED for a pair. */
typedef struct xhal_tensor_desc {
    int32_t dtype; /* xhal_dtype */
    int32_t ndim;
    int64_t shape[XHAL_MAX_DIMS];
    int64_t strides[XHAL_MAX_DIMS];
    void *buffer;
    uint64_t offset; /* bytes, a multiple of the dtype size (any byte for block dtypes) */
} xhal_tensor_desc;

/* Attributes, one member per op family; unused members are zero. */
typedef union xhal_op_attrs {
    struct {
        double value;  /* as the caller gave it */
        uint64_t bits; /* value converted to out's dtype (xhal_copy's rules) by the core: the
                        * element's bit pattern in the low bytes (an f16 is bits & 0xffff);
                        * a backend stores it as it is */
    } fill;            /* FILL */
    struct {
        double alpha, beta;
    } scale; /* SCALE */
    struct {
        int32_t axis;
    } reduce; /* SUM, MEAN, MAX, ARGMAX */
    struct {
        double scale;
        int32_t causal;
    } softmax; /* SOFTMAX (scale already != 0) */
    struct {
        double eps;
        int32_t has_weight, has_bias;
    } norm; /* RMS_NORM, LAYER_NORM */
    struct {
        double alpha, beta;
    } matmul; /* MATMUL */
    struct {
        double theta;
        int64_t pos_offset;
        int32_t seq_axis;    /* normalized, in [0, ndim-2) */
        int32_t rotary_dims; /* even, in [2, D] */
        int32_t layout;      /* xhal_rope_layout */
        /* catalogue XHAL_CATALOGUE_ROPE_ATTENTION_EX and later: */
        int32_t has_positions;   /* in[1] holds the positions */
        int32_t has_inv_freq;    /* the next input holds inv_freq */
        double attention_factor; /* multiplies cos and sin; 0 is read as 1 */
    } rope;
    struct {
        double scale;
        int32_t causal, has_mask;
        /* catalogue XHAL_CATALOGUE_ROPE_ATTENTION_EX and later: */
        int64_t window;     /* 0: none; else > 0 and causal is 1 */
        double softcap;     /* 0: none; else > 0, finite */
        int64_t q_pos0;     /* with has_q_pos0: P_i = q_pos0 + i, in [0, Sk - Sq] */
        int32_t has_q_pos0; /* 0: P_i = Sk - Sq + i (zero-initialized descriptors keep
                             * the bottom-right alignment) */
    } attention;            /* scale already != 0 */
    struct {
        int64_t k;          /* in [1, N] (N: in[0]'s last dim) */
        int32_t largest;    /* 1: the k largest, descending; 0: the k smallest, ascending */
    } topk;                 /* TOPK */
    uint8_t reserved_[128]; /* fixes the size of the union for the ABI */
} xhal_op_attrs;

/* What each op's descriptor looks like after the core normalized it:
 *  COPY     in[0] -> out[0], equal shapes, dtypes may differ (cast rules of xhal_copy).
 *  FILL     out[0] only; store attrs.fill.bits (the value already converted by the core, so
 *           every backend writes the same pattern).
 *  unary    in[0], out[0]: equal dtype and shape.
 *  binary   in[0], in[1], out[0]: equal dtype and ndim; inputs already broadcast to out's
 *           shape (broadcast dims have stride 0).
 *  SCALE    like unary; attrs.scale.
 *  reduce   in[0] [.., R, ..], out[0] with the same ndim and size 1 at attrs.reduce.axis
 *           (keepdims form, whatever the caller asked). R >= 1 for MAX/ARGMAX. ARGMAX's out
 *           is i32 or i64.
 *  SOFTMAX  in[0], out[0] equal shapes; last axis; causal as in xhal_softmax.
 *  RMS_NORM in[0] x, in[1] weight [D] (if has_weight), out[0].
 *  LAYER_NORM in[0] x, in[1] weight (if has_weight, else absent), in[2] bias (if has_bias;
 *           it is in[1] when there is no weight).
 *  MATMUL   in[0] a [B.., M, K], in[1] b [B.., K, N], out[0] [B.., M, N]: transposes are
 *           already folded into strides and batch dims are broadcast (stride 0), so all
 *           three have the same ndim >= 2 and equal batch shape. A backend picks its
 *           fast path from the strides (e.g. a row- or column-major last two dims).
 *           Quantized weights: b may be block-quantized (only on devices listing its dtype);
 *           then a and out are one of f32/f16/bf16, b's K axis has stride 1 and a size that
 *           is a multiple of the block size (blocks run along K: the caller's b is [N, K],
 *           used with trans_b = 1), b's N stride is a multiple of the block size, and the
 *           result is the product with the dequantized b (OPS.md).
 *           Per-channel int8 weights (xhal_matmul_i8, only on devices reporting
 *           XHAL_CAP_MATMUL_I8): b is i8 with K stride 1, in[2] is scales f32 [N] (contiguous
 *           or strided, 1-D), a and out are f32/f16/bf16, and the result is
 *           alpha * sum_k a[m, k] * scales[n] * b[k, n] + beta * out.
 *  GATHER   in[0] table [V, D..] with V >= 1, in[1] indices (i32/i64), out[0] [idx.., D..],
 *           more_outputs[0] status: i64 [XHAL_OP_STATUS_WORDS], contiguous, n_outputs 2. The
 *           indices are data on the device, unchecked by the core. The backend's kernel is
 *           their bounds guard: an index outside [0, V) reads nothing, its rows of out are
 *           zeros (every byte 0), and the first such index in row-major order of the indices
 *           is recorded in status with xhal_op_status_record's rules (only while
 *           status[XHAL_OP_STATUS_OP] is 0: an earlier op's record stays). The backend never
 *           fails the op, waits or makes a message for it: the core reads the status where
 *           the caller waits anyway (xhal.h, xhal_gather) and reports OUT_OF_RANGE there.
 *  ROPE     in[0] x, out[0] same shape; attrs.rope. Then, in this order and only when
 *           present: positions (has_positions; i32/i64, ndim = seq_axis + 1, expanded to
 *           x's shape[0 .. seq_axis] with stride 0 where broadcast: the token of x at
 *           indices (i0 .. i_sa, ...) has position positions[i0 .. i_sa]), inv_freq
 *           (has_inv_freq; f32 [rotary_dims / 2]); so inv_freq is in[1] without positions.
 *           Without positions a token at index s of the seq axis has position pos_offset + s;
 *           without inv_freq, inv_freq[k] = theta^(-2k / rotary_dims). Semantics: xhal_rope_ex.
 *  ATTENTION in[0] q [B,Hq,Sq,D], in[1] k [B,Hkv,Sk,D], in[2] v [B,Hkv,Sk,Dv],
 *           in[3] mask expanded to [B,Hq,Sq,Sk] (if has_mask), out[0] [B,Hq,Sq,Dv].
 *           window, softcap and q_pos0 as in xhal_attention_ex; Sk >= 1 (no keys is
 *           answered by the core); Sk >= Sq when causal and has_q_pos0 is 0.
 *  TOPK     in[0] x [.., N] with N >= 1, out[0] values [.., k] (x's dtype), more_outputs[0]
 *           indices [.., k] (i32 or i64); n_outputs 2. The core moved the caller's axis
 *           last (a permuted view: any strides). Order, ties and NaN: xhal_topk.
 * Every float op computes in at least f32. Empty tensors never reach a backend. */
typedef struct xhal_op_desc {
    uint32_t struct_size; /* sizeof(xhal_op_desc) */
    int32_t op;           /* xhal_op */
    int32_t n_inputs;
    int32_t n_outputs;
    xhal_tensor_desc inputs[XHAL_MAX_OP_INPUTS];
    xhal_tensor_desc outputs[1];
    xhal_op_attrs attrs;
    /* Outputs 1 .. n_outputs - 1 (catalogue XHAL_CATALOGUE_ROPE_ATTENTION_EX: TOPK's
     * indices; XHAL_CATALOGUE_GATHER_STATUS: GATHER's status), after attrs so that every
     * member above keeps the offset plugins built before were compiled with.
     * xhal_op_desc_output(d, i) reads either array. */
    xhal_tensor_desc more_outputs[XHAL_MAX_OP_OUTPUTS - 1];
} xhal_op_desc;

/* Output i of d, i in [0, n_outputs). */
static inline const xhal_tensor_desc *xhal_op_desc_output(const xhal_op_desc *d, int i)
{
    return i == 0 ? &d->outputs[0] : &d->more_outputs[i - 1];
}

/* The status output of an op that checks its data on the device (GATHER), one per stream,
 * owned and cleared by the core: XHAL_OP_STATUS_WORDS int64 words, all 0 while nothing went
 * wrong. The record of the first bad index: OP the op id (written last; nonzero marks the
 * record), VALUE the index's value, LIMIT the bound it broke (gather: V, the table's rows),
 * NDIM the indices' ndim, POS .. POS + NDIM - 1 its position (row-major coordinates). Device
 * kernels write the same words (backends/kernels/xk_ops.cl, xk_gather). */
#define XHAL_OP_STATUS_WORDS (4 + XHAL_MAX_DIMS)
enum {
    XHAL_OP_STATUS_OP = 0,
    XHAL_OP_STATUS_VALUE = 1,
    XHAL_OP_STATUS_LIMIT = 2,
    XHAL_OP_STATUS_NDIM = 3,
    XHAL_OP_STATUS_POS = 4
};

/* Record that index `flat` (row-major position among the ndim-dimensional indices of the given
 * shape) holds `value`, outside [0, limit), for op: only if status holds no record yet. For
 * plugins that run on host memory; the caller passes the first bad index of the op. */
static inline void xhal_op_status_record(int64_t *status, int op, int64_t value, int64_t limit, int ndim,
                                         const int64_t *shape, int64_t flat)
{
    if (status[XHAL_OP_STATUS_OP] != 0) return;
    status[XHAL_OP_STATUS_VALUE] = value;
    status[XHAL_OP_STATUS_LIMIT] = limit;
    status[XHAL_OP_STATUS_NDIM] = ndim;
    for (int d = ndim - 1; d >= 0; d--) {
        status[XHAL_OP_STATUS_POS + d] = shape[d] > 0 ? flat % shape[d] : 0;
        flat = shape[d] > 0 ? flat / shape[d] : 0;
    }
    status[XHAL_OP_STATUS_OP] = op;
}

/* A custom-kernel argument as the backend sees it (tensors resolved to buffer+offset). */
typedef struct xhal_backend_kernel_arg {
    int32_t kind; /* xhal_kernel_arg_kind */
    void *buffer; /* XHAL_ARG_TENSOR */
    uint64_t offset;
    union {
        int32_t i32;
        int64_t i64;
        float f32;
    } value;
} xhal_backend_kernel_arg;

/* ------------------------------------------------------------------------- */
/* Collective descriptors (optional backend entries coll_*, and engine plugins) */
/* ------------------------------------------------------------------------- */
typedef enum xhal_coll_kind {
    XHAL_COLL_ALL_REDUCE = 1,
    XHAL_COLL_BROADCAST = 2,
    XHAL_COLL_ALL_GATHER = 3,
    XHAL_COLL_REDUCE_SCATTER = 4,
    XHAL_COLL_SEND = 5,
    XHAL_COLL_RECV = 6
} xhal_coll_kind;

/* One local rank of a collective: its stream and its contiguous send/recv memory (plugin
 * buffer handles and byte offsets; a buffer is NULL where the collective has none). */
typedef struct xhal_coll_rank_desc {
    void *stream;
    void *send_buffer;
    uint64_t send_offset;
    int64_t send_count; /* elements */
    void *recv_buffer;
    uint64_t recv_offset;
    int64_t recv_count; /* elements */
} xhal_coll_rank_desc;

/* One collective for every rank of a backend communicator, validated by the core (xhal_comm.h):
 * one plain dtype everywhere, contiguous memory on each rank's device, counts as follows, with
 * N = count:
 *  ALL_REDUCE     send and recv N elements (recv may be the very same memory as send);
 *  BROADCAST      send == recv (in place), N elements, root's is read;
 *  ALL_GATHER     recv N elements; rank r's send is block r of N (below);
 *  REDUCE_SCATTER send N elements; rank r's recv is block r of N.
 * Block r of N over `size` ranks: ranks r < N % size get N / size + 1 elements, the others
 * N / size, in rank order (numpy.array_split). op is an xhal_reduce_op (SUM, MAX); root in
 * [0, size). n_ranks equals the communicator's size. Counts of 0 never reach a backend. */
typedef struct xhal_coll_desc {
    uint32_t struct_size; /* sizeof(xhal_coll_desc) */
    int32_t kind;         /* xhal_coll_kind (ALL_REDUCE .. REDUCE_SCATTER) */
    int32_t dtype;        /* xhal_dtype */
    int32_t op;           /* xhal_reduce_op */
    int32_t root;
    int32_t n_ranks;
    int64_t count; /* N */
    xhal_coll_rank_desc ranks[XHAL_COMM_MAX_LOCAL];
} xhal_coll_desc;

/* ------------------------------------------------------------------------- */
/* The table                                                                  */
/* ------------------------------------------------------------------------- */
/* Handles: void *state (the plugin instance), void *buffer, void *stream, void *event,
 * void *program; all created and owned by the plugin. Devices are indices in
 * [0, device_count). */
typedef struct xhal_backend_table {
    uint32_t abi_version;       /* XHAL_BACKEND_ABI_VERSION the plugin was built for */
    uint32_t struct_size;       /* sizeof(xhal_backend_table) as the plugin built it */
    const char *name;           /* short lower-case name: the device spec prefix ("cpu") */
    const char *version;        /* the plugin's own version string */
    uint32_t catalogue_version; /* XHAL_BACKEND_CATALOGUE_VERSION (read by the core, > 0) */
    uint32_t reserved0;

    /* ---- required ---- */
    /* Initialise; on failure (driver missing, no usable device...) return
     * XHAL_ERROR_UNAVAILABLE with the reason set through host->set_error: the backend is
     * then listed as unavailable with that reason. Zero devices is not a failure. host is the
     * same pointer the entry point received, alive until shutdown returns. */
    xhal_status (*init)(const xhal_host_services *host, void **state);
    void (*shutdown)(void *state);
    int (*device_count)(void *state);
    /* Fill everything but struct_size, spec, backend and index (the core sets them); the
     * core zeroes *info first and sets info->struct_size to the size of its
     * xhal_device_info: write only fields that fit (XHAL_PLUGIN_INFO_HAS), never memset the
     * whole struct. index is in range. */
    xhal_status (*device_info)(void *state, int device, xhal_device_info *info);

    xhal_status (*buffer_alloc)(void *state, int device, uint64_t size, void **buffer);
    void (*buffer_free)(void *state, void *buffer);

    xhal_status (*stream_create)(void *state, int device, void **stream);
    void (*stream_destroy)(void *state, void *stream); /* after stream_sync */
    xhal_status (*stream_sync)(void *state, void *stream);

    /* Blocking: ordered after work queued on stream; returns when host memory may be reused. */
    xhal_status (*write)(void *state, void *stream, void *buffer, uint64_t offset, const void *src, uint64_t size);
    xhal_status (*read)(void *state, void *stream, void *buffer, uint64_t offset, void *dst, uint64_t size);
    /* Byte copy between two buffers of one device, queued on stream. */
    xhal_status (*copy)(void *state, void *stream, void *src, uint64_t src_offset, void *dst, uint64_t dst_offset,
                        uint64_t size);

    /* OK if the device runs desc, else UNSUPPORTED with a reason. Must not touch memory. */
    xhal_status (*op_supported)(void *state, int device, const xhal_op_desc *desc);
    /* Queue desc on stream. Called only after op_supported said OK. */
    xhal_status (*op_run)(void *state, void *stream, const xhal_op_desc *desc);

    /* ---- optional (NULL: the core's default, documented per entry) ---- */
    /* Events. Default: the core emulates an event by synchronizing the stream at
     * record time and taking a host timestamp (correct, but serializing). */
    xhal_status (*event_create)(void *state, int device, void **event);
    void (*event_destroy)(void *state, void *event);
    xhal_status (*event_record)(void *state, void *event, void *stream);
    xhal_status (*stream_wait_event)(void *state, void *stream, void *event);
    xhal_status (*event_sync)(void *state, void *event);
    xhal_status (*event_elapsed_ms)(void *state, void *start, void *end, double *ms);

    /* Copy between buffers on two devices of this backend. Default: staged through host
     * memory (synchronous). Return UNSUPPORTED to ask for the default for a pair. */
    xhal_status (*copy_peer)(void *state, void *src_stream, void *src, uint64_t src_offset, void *dst_stream, void *dst,
                             uint64_t dst_offset, uint64_t size);

    /* Custom kernels. Default: UNSUPPORTED. */
    xhal_status (*program_create)(void *state, int device, const char *source, const char *options, void **program);
    void (*program_destroy)(void *state, void *program);
    xhal_status (*kernel_launch)(void *state, void *stream, void *program, const char *name, int dims,
                                 const uint64_t *global_size, const uint64_t *local_size, int nargs,
                                 const xhal_backend_kernel_arg *args);

    /* Host memory (xhal_tensor_host_pointer, xhal_buffer_wrap_host). Default: UNSUPPORTED.
     * Only for devices whose memory is host memory. Read by the core only when struct_size
     * covers them (XHAL_BACKEND_TABLE_HAS), so plugins built before they existed still load.
     * buffer_host_ptr: the host address of byte 0 of buffer.
     * buffer_wrap_host: a buffer handle over [ptr, ptr + size), memory the caller owns (no
     * padding after it): buffer_free frees the handle, never that memory. May refuse with
     * UNSUPPORTED and a reason. */
    xhal_status (*buffer_host_ptr)(void *state, void *buffer, void **ptr);
    xhal_status (*buffer_wrap_host)(void *state, int device, void *ptr, uint64_t size, void **buffer);

    /* Collectives through the backend's own library (NCCL, RCCL, HCCL, CNCL...). Default (NULL):
     * the core's host engine copies through host memory. Read only when struct_size covers them
     * (XHAL_BACKEND_TABLE_HAS); a plugin provides all three or none. backends/README.md has the
     * contract in full.
     * coll_comm_create: a communicator of n ranks (2 <= n <= XHAL_COMM_MAX_LOCAL), rank i on
     *   device devices[i], every device distinct, all in this process. Writes the engine's name
     *   (e.g. "nccl", at most name_len bytes with the NUL) and *comm. UNSUPPORTED or
     *   UNAVAILABLE with a reason (library missing, too old, devices cannot reach each other)
     *   makes the core fall back to its host engine and report that reason.
     * coll_run: queue desc on every rank's stream (ranks[i].stream) as one group; return once
     *   it is queued (the streams order it with later work). Called only with validated
     *   descriptors (xhal_coll_desc above), never with SEND/RECV (the core buffers those).
     * coll_comm_destroy: after the streams that ran its collectives were synchronized. */
    xhal_status (*coll_comm_create)(void *state, int n, const int *devices, char *name, size_t name_len, void **comm);
    void (*coll_comm_destroy)(void *state, void *comm);
    xhal_status (*coll_run)(void *state, void *comm, const xhal_coll_desc *desc);

    /* Recorded op lists (xhal_graph, xhal.h). Default (any of the three NULL, or struct_size not
     * covering them): the core replays a graph op by op through op_run with the descriptors it
     * stored at capture, so every backend runs graphs without writing these. A backend writes
     * them to take the whole list at once: build a CUDA graph, a command buffer, or fuse ops
     * for an NPU. Read by the core only when struct_size covers them (XHAL_BACKEND_TABLE_HAS).
     * graph_create: descs[0..n) are the ops of one graph in order, each already accepted by
     *   op_supported, all for device. Build what the device runs them from; keep copies of
     *   what you need (descs is the core's memory). UNSUPPORTED (with a reason, logged at
     *   debug level) makes the core replay this graph op by op; any other failure fails
     *   xhal_stream_end_capture. n >= 1.
     * graph_launch: queue the graph on stream (of the same device), in order after the work
     *   already queued. descs[0..n) are its descriptors as they are for this launch: the same
     *   ops in the same order, differing from those of the previous launch (or of
     *   graph_create, for the first) only in the ops listed in changed[0..n_changed), in
     *   ascending order, whose parameters moved (xhal_stream_capture_bind): an attrs.rope
     *   pos_offset, a tensor's offset, the key length of an attention. The core has checked
     *   them as it checks any descriptor. On failure nothing may have been queued, or the
     *   error must say that some was.
     * graph_destroy: free it. Launches still in flight complete (free lazily, as buffer_free
     *   does). */
    xhal_status (*graph_create)(void *state, int device, int n, const xhal_op_desc *descs, void **graph);
    xhal_status (*graph_launch)(void *state, void *stream, void *graph, int n, const xhal_op_desc *descs, int n_changed,
                                const int32_t *changed);
    void (*graph_destroy)(void *state, void *graph);
} xhal_backend_table;

/* The size a version-2 table must have at least (every field up to op_run). */
#define XHAL_BACKEND_TABLE_MIN_SIZE (offsetof(xhal_backend_table, op_run) + sizeof(void *))

/* Whether table t, of t->struct_size bytes as the plugin built it, has a non-NULL `member`. */
#define XHAL_BACKEND_TABLE_HAS(t, member) \
    ((t)->struct_size >= offsetof(xhal_backend_table, member) + sizeof(void (*)(void)) && (t)->member != NULL)

typedef const xhal_backend_table *(*xhal_backend_entry_fn)(uint32_t host_abi_version, const xhal_host_services *host);

#if defined(_WIN32)
#define XHAL_BACKEND_EXPORT __declspec(dllexport)
#else
#define XHAL_BACKEND_EXPORT __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
}
#endif

#endif /* XHAL_XHAL_BACKEND_H */
