/* validate.h - every rule of the op layer, in one unit (validate.c, internal).
 *
 * Each public op entry point calls one hal_validate_* function and, on XHAL_OK, builds its
 * descriptor (ops.c, transfer.c) and dispatches it. What these functions establish is what
 * xhal_backend.h promises a backend; backends check nothing again. On failure they set the
 * thread's message (naming the function, the argument and the values) and return its
 * status; they never modify a tensor.
 */
#ifndef HAL_VALIDATE_H
#define HAL_VALIDATE_H
#include "internal.h"
#include "shape.h"

/* ---- building blocks (also used by transfer.c) ---- */

/* Check the stream and every tensor handle (names[i] names ts[i] in messages; NULL entries
 * of ts are skipped when optional[i]), and that each lives on the stream's device. */
xhal_status hal_op_prelude(const char *fn, xhal_stream *s, int n, xhal_tensor *const *ts, const char *const *names,
                           const int *optional);
/* An output view: no zero stride on a dimension longer than 1, no element addressed twice. */
xhal_status hal_check_writable(const char *fn, const char *name, const xhal_tensor *t);
/* A block-quantized dt on a device whose xhal_device_info.dtypes lacks it: UNSUPPORTED
 * naming both (its kernels would not know the layout). OK for plain dtypes. */
xhal_status hal_check_device_stores(const char *fn, xhal_device *dev, xhal_dtype dt);
/* The dtype pairs xhal_copy converts when a block-quantized dtype is involved (xhal.h):
 * UNSUPPORTED for the others. OK when neither is a block dtype. */
xhal_status hal_check_block_pair(xhal_dtype sdt, xhal_dtype ddt);
/* 1 if the two views may touch a common byte. */
int hal_tensors_overlap(const xhal_tensor *a, const xhal_tensor *b);
/* 1 if a and b are the very same view (buffer, offset, dtype, shape and strides). */
int hal_tensors_same_view(const xhal_tensor *a, const xhal_tensor *b);
/* out must not overlap in unless (allow_same and they are the same view). in may be NULL. */
xhal_status hal_check_no_overlap(const char *fn, const char *oname, const xhal_tensor *out, const char *iname,
                                 const xhal_tensor *in, int allow_same);
/* a and b have equal shapes; SHAPE_MISMATCH "<fn>: <an> is [..] but <bn> is [..]". */
xhal_status hal_check_same_shape(const char *fn, const char *an, const xhal_tensor *a, const char *bn,
                                 const xhal_tensor *b);
int64_t hal_tensor_numel(const xhal_tensor *t);

/* ---- one function per public op (its checks, in the order they are reported) ---- */
xhal_status hal_validate_copy(xhal_stream *s, xhal_tensor *src, xhal_tensor *dst);
xhal_status hal_validate_fill(xhal_stream *s, xhal_tensor *t);
xhal_status hal_validate_concat(xhal_stream *s, xhal_tensor *const *inputs, int n, int axis, xhal_tensor *out,
                                int *axis_out);
xhal_status hal_validate_unary(xhal_stream *s, xhal_op op, xhal_tensor *x, xhal_tensor *out);
xhal_status hal_validate_binary(xhal_stream *s, xhal_op op, xhal_tensor *a, xhal_tensor *b, xhal_tensor *out);
xhal_status hal_validate_scale(xhal_stream *s, xhal_tensor *x, double alpha, double beta, xhal_tensor *out);
/* *axis_out: the axis in [0, x->ndim). */
xhal_status hal_validate_reduce(xhal_stream *s, xhal_op op, xhal_tensor *x, int axis, int keepdims, xhal_tensor *out,
                                int *axis_out);
/* After the rules that hold for any data: reducing an empty axis (MAX/ARGMAX of nothing). */
xhal_status hal_validate_reduce_empty(xhal_op op, int axis);
xhal_status hal_validate_softmax(xhal_stream *s, xhal_tensor *x, double scale, int causal, xhal_tensor *out);
/* op is XHAL_OP_RMS_NORM (b is NULL) or XHAL_OP_LAYER_NORM. */
xhal_status hal_validate_norm(xhal_stream *s, xhal_op op, xhal_tensor *x, xhal_tensor *w, xhal_tensor *b, double eps,
                              xhal_tensor *out);

/* matmul's geometry once the transposes are folded into views. */
typedef struct hal_matmul_geom {
    xhal_tensor av, bv; /* a and b as [.., M, K] and [.., K, N] views (no handles) */
    int64_t M, N, K;
    int batch_ndim; /* out has batch_ndim + 2 dims */
} hal_matmul_geom;
xhal_status hal_validate_matmul(xhal_stream *s, xhal_tensor *a, xhal_tensor *b, int trans_a, int trans_b, double alpha,
                                double beta, xhal_tensor *out, hal_matmul_geom *g);
/* xhal_matmul_i8: a f32/f16/bf16, w i8 [.., N, K] with contiguous K (used transposed), scales
 * f32 [N], and a device that reports XHAL_CAP_MATMUL_I8; g as for hal_validate_matmul with
 * b = w transposed. */
xhal_status hal_validate_matmul_i8(xhal_stream *s, xhal_tensor *a, xhal_tensor *w, xhal_tensor *scales, double alpha,
                                   double beta, xhal_tensor *out, hal_matmul_geom *g);

/* Shapes and dtypes of gather, and a table with rows when there are indices. The indices'
 * values are data on the device: the backend's kernel checks them as it runs and the core
 * reports a bad one later (op_status.c). */
xhal_status hal_validate_gather(xhal_stream *s, xhal_tensor *table, xhal_tensor *idx, xhal_tensor *out);

/* fn names the entry point (xhal_rope, xhal_rope_ex); pos and invf may be NULL; p is complete
 * (defaults filled). *seq_axis_out in [0, ndim-1), *rotary_out even in [2, D]. */
xhal_status hal_validate_rope(const char *fn, xhal_stream *s, xhal_tensor *x, xhal_tensor *pos, xhal_tensor *invf,
                              const xhal_rope_params *p, xhal_tensor *out, int *seq_axis_out, int *rotary_out);
/* fn names the entry point; p is complete. *mask_shape: [B, Hq, Sq, Sk] (what the mask is
 * expanded to). */
xhal_status hal_validate_attention(const char *fn, xhal_stream *s, xhal_tensor *q, xhal_tensor *k, xhal_tensor *v,
                                   xhal_tensor *mask, const xhal_attention_params *p, xhal_tensor *out,
                                   int64_t mask_shape[4]);
/* *axis_out in [0, ndim). */
xhal_status hal_validate_topk(xhal_stream *s, xhal_tensor *x, int64_t k, int axis, int largest, xhal_tensor *values,
                              xhal_tensor *indices, int *axis_out);

#endif
