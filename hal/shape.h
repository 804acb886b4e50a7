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
xhal_status hal_view_extent(const char *what, xhal_dtype dt, int ndim, const int64_t *shape,
                            const int64_t *strides, uint64_t offset, uint64_t *lo, uint64_t *hi);
/* numpy broadcast of a and b into out (ndim = max). SHAPE_MISMATCH naming both. */
xhal_status hal_broadcast_shapes(const char *an, int ad, const int64_t *as, const char *bn, int bd,
                                 const int64_t *bs, int *od, int64_t *os);
/* "[2,3,4]" into buf. */
const char *hal_shape_str(int ndim, const int64_t *shape, char *buf, size_t len);
/* 1 if dtype is one of the eight. */
int hal_dtype_valid(xhal_dtype dt);
int hal_dtype_is_float(xhal_dtype dt);
#endif
