/* shape.h - shape, stride and byte-range arithmetic, overflow-checked (internal). */
#ifndef HAL_SHAPE_H
#define HAL_SHAPE_H
#include "xhal/xhal.h"
#include <stdint.h>

/* Validate ndim in [0, 8] and every dim >= 0; numel without overflow. `what` names the
 * argument in messages. */
xhal_status hal_shape_check(const char *what, int ndim, const int64_t *shape, int64_t *numel);
/* Row-major strides (elements). */
void hal_contiguous_strides(int ndim, const int64_t *shape, int64_t *strides);
/* 1 if strides are row-major for shape (size-1 dims ignored). */
int hal_is_contiguous(int ndim, const int64_t *shape, const int64_t *strides);
/* Byte range [lo, hi) the view touches (hi == lo when empty); OVERFLOW when the arithmetic
 * overflows 64 bits. */
xhal_status hal_view_extent(const char *what, xhal_dtype dt, int ndim, const int64_t *shape, const int64_t *strides,
                            uint64_t offset, uint64_t *lo, uint64_t *hi);
/* numpy broadcast of a and b into out (ndim = max). SHAPE_MISMATCH naming both. */
xhal_status hal_broadcast_shapes(const char *an, int ad, const int64_t *as, const char *bn, int bd, const int64_t *bs,
                                 int *od, int64_t *os);
/* "[2,3,4]" into buf. */
const char *hal_shape_str(int ndim, const int64_t *shape, char *buf, size_t len);
/* 1 if dtype is one of the plain eight or a block-quantized dtype. */
int hal_dtype_valid(xhal_dtype dt);
/* 1 for a block-quantized dtype, with its elements and bytes per block; 0 for a plain
 * dtype (block_size 1, block_bytes its element size). Either pointer may be NULL. */
int hal_dtype_block(xhal_dtype dt, int64_t *block_size, int64_t *block_bytes);
/* Bytes of n elements stored densely (n a multiple of the block size). */
uint64_t hal_dtype_bytes(xhal_dtype dt, uint64_t n);
/* The layout rules of block-quantized tensors (xhal.h, xhal_dtype_info); OK for plain
 * dtypes. INVALID_ARGUMENT naming the rule. */
xhal_status hal_block_layout_check(const char *what, xhal_dtype dt, int ndim, const int64_t *shape,
                                   const int64_t *strides);
int hal_dtype_is_float(xhal_dtype dt);
#endif
