/* shape.c - shape, stride and byte-range arithmetic. */
#include "shape.h"
#include "error.h"
#include "xhal/plugin/xhal_names.h"

#include <stdio.h>
#include <string.h>

int hal_dtype_valid(xhal_dtype dt)
{
    return (dt > XHAL_DTYPE_INVALID && dt < XHAL_DTYPE_COUNT_) || xhal_names_dtype_block(dt) != NULL;
}

int hal_dtype_block(xhal_dtype dt, int64_t *block_size, int64_t *block_bytes)
{
    const xhal_names_block_entry_ *b = xhal_names_dtype_block(dt);
    if (!b) {
        if (block_size) *block_size = 1;
        if (block_bytes) *block_bytes = (int64_t)xhal_names_dtype_size(dt);
        return 0;
    }
    if (block_size) *block_size = b->block_size;
    if (block_bytes) *block_bytes = b->block_bytes;
    return 1;
}

uint64_t hal_dtype_bytes(xhal_dtype dt, uint64_t n)
{
    int64_t bs, bb;
    hal_dtype_block(dt, &bs, &bb);
    return n / (uint64_t)bs * (uint64_t)bb;
}

xhal_status hal_block_layout_check(const char *what, xhal_dtype dt, int ndim, const int64_t *shape,
                                   const int64_t *strides)
{
    int64_t bs, bb;
    if (!hal_dtype_block(dt, &bs, &bb)) return XHAL_OK;
    const char *name = xhal_dtype_name(dt);
    if (ndim < 1)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                             "%s: a %s tensor needs at least one dimension (blocks run "
                             "along the innermost one)",
                             what, name);
    int last = ndim - 1;
    if (shape[last] % bs != 0)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                             "%s: innermost dimension %lld splits a %s block (%lld elements): it must be a multiple "
                             "of %lld",
                             what, (long long)shape[last], name, (long long)bs, (long long)bs);
    if (shape[last] > 1 && strides[last] != 1)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                             "%s: innermost stride %lld splits %s blocks: the innermost dimension of a block-quantized "
                             "tensor must be contiguous (stride 1)",
                             what, (long long)strides[last], name);
    for (int i = 0; i < last; i++)
        if (shape[i] > 1 && strides[i] % bs != 0)
            return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                                 "%s: stride %lld of axis %d splits a %s block: strides must be multiples of %lld "
                                 "(whole blocks)",
                                 what, (long long)strides[i], i, name, (long long)bs);
    return XHAL_OK;
}

int hal_dtype_is_float(xhal_dtype dt)
{
    return dt == XHAL_DTYPE_F32 || dt == XHAL_DTYPE_F16 || dt == XHAL_DTYPE_BF16 || dt == XHAL_DTYPE_F64;
}

const char *hal_shape_str(int ndim, const int64_t *shape, char *buf, size_t len)
{
    size_t u = 0;
    u += (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && u < len; i++)
        u += (size_t)snprintf(buf + u, len - u, "%s%lld", i ? "," : "", (long long)shape[i]);
    if (u < len) snprintf(buf + u, len - u, "]");
    return buf;
}

xhal_status hal_shape_check(const char *what, int ndim, const int64_t *shape, int64_t *numel)
{
    if (ndim < 0 || ndim > XHAL_MAX_DIMS)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: ndim %d is not in [0, %d]", what, ndim, XHAL_MAX_DIMS);
    if (ndim > 0 && !shape) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: shape is NULL", what);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: dimension %d is %lld (negative)", what, i,
                                 (long long)shape[i]);
    }
    /* The product of the dimensions must fit even when one of them is 0 (an empty tensor):
     * strides are products of dimensions too, and views of an empty tensor keep them. */
    int empty = 0;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] == 0) {
            empty = 1;
            continue;
        }
        if (__builtin_mul_overflow(n, shape[i], &n)) {
            char b[160];
            return hal_set_error(XHAL_ERROR_OVERFLOW, "%s: element count of shape %s overflows 64 bits", what,
                                 hal_shape_str(ndim, shape, b, sizeof b));
        }
    }
    if (empty) n = 0;
    if (numel) *numel = n;
    return XHAL_OK;
}

void hal_contiguous_strides(int ndim, const int64_t *shape, int64_t *strides)
{
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        strides[i] = s;
        s *= shape[i] > 0 ? shape[i] : 1;
    }
}

int hal_is_contiguous(int ndim, const int64_t *shape, const int64_t *strides)
{
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        if (shape[i] == 1) continue;
        if (strides[i] != s) return 0;
        s *= shape[i];
    }
    return 1;
}

xhal_status hal_view_extent(const char *what, xhal_dtype dt, int ndim, const int64_t *shape, const int64_t *strides,
                            uint64_t offset, uint64_t *lo, uint64_t *hi)
{
    int64_t bs = 1, bb = 0;
    hal_dtype_block(dt, &bs, &bb);
    uint64_t es = (uint64_t)bb;
    int64_t numel;
    xhal_status st = hal_shape_check(what, ndim, shape, &numel);
    if (st != XHAL_OK) return st;
    *lo = *hi = offset;
    if (numel == 0) return XHAL_OK;
    uint64_t last = 0; /* element index of the farthest element */
    for (int i = 0; i < ndim; i++) {
        if (strides[i] < 0)
            return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                                 "%s: stride %d is %lld (negative strides are not "
                                 "supported)",
                                 what, i, (long long)strides[i]);
        uint64_t t;
        if (__builtin_mul_overflow((uint64_t)(shape[i] - 1), (uint64_t)strides[i], &t) ||
            __builtin_add_overflow(last, t, &last))
            return hal_set_error(XHAL_ERROR_OVERFLOW, "%s: strided extent overflows 64 bits", what);
    }
    uint64_t bytes;
    /* block dtypes: the farthest element's block, whole (hal_block_layout_check holds) */
    if (bs > 1) last /= (uint64_t)bs;
    if (__builtin_add_overflow(last, 1u, &bytes) || __builtin_mul_overflow(bytes, es, &bytes) ||
        __builtin_add_overflow(offset, bytes, hi))
        return hal_set_error(XHAL_ERROR_OVERFLOW, "%s: byte extent overflows 64 bits", what);
    return XHAL_OK;
}

xhal_status hal_broadcast_shapes(const char *an, int ad, const int64_t *as, const char *bn, int bd, const int64_t *bs,
                                 int *od, int64_t *os)
{
    int n = ad > bd ? ad : bd;
    for (int i = 0; i < n; i++) {
        int ia = ad - n + i, ib = bd - n + i;
        int64_t x = ia >= 0 ? as[ia] : 1, y = ib >= 0 ? bs[ib] : 1;
        if (x != y && x != 1 && y != 1) {
            char b1[160], b2[160];
            return hal_set_error(XHAL_ERROR_SHAPE_MISMATCH, "%s %s and %s %s do not broadcast (axis %d: %lld vs %lld)",
                                 an, hal_shape_str(ad, as, b1, sizeof b1), bn, hal_shape_str(bd, bs, b2, sizeof b2),
                                 i - n, (long long)x, (long long)y);
        }
        os[i] = x == 1 ? y : x;
    }
    *od = n;
    return XHAL_OK;
}

/* ---- dtype and op names (one table: include/xhal/plugin/xhal_names.h) ---- */
XHAL_API size_t xhal_dtype_size(xhal_dtype dt) { return xhal_names_dtype_size(dt); }
XHAL_API const char *xhal_dtype_name(xhal_dtype dt) { return xhal_names_dtype(dt); }

XHAL_API xhal_status xhal_dtype_from_name(const char *name, xhal_dtype *out)
{
    if (!name || !out) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_dtype_from_name: NULL argument");
    for (int i = 1; i < XHAL_DTYPE_END_; i++)
        if (hal_dtype_valid((xhal_dtype)i) && !strcmp(name, xhal_names_dtype(i))) {
            *out = (xhal_dtype)i;
            return XHAL_OK;
        }
    return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                         "unknown dtype '%s' (known: f32 f16 bf16 f64 i8 u8 i32 i64 q8_0 q4_0 q4_k q6_k)", name);
}

XHAL_API xhal_status xhal_dtype_get_info(xhal_dtype dt, xhal_dtype_info *info)
{
    if (!info) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_dtype_get_info: info is NULL");
    if (!hal_dtype_valid(dt))
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_dtype_get_info: %d is not a valid xhal_dtype", (int)dt);
    memset(info, 0, sizeof *info);
    info->name = xhal_names_dtype(dt);
    info->is_quantized = hal_dtype_block(dt, &info->block_size, &info->block_bytes);
    info->is_float = hal_dtype_is_float(dt);
    info->is_integer = !info->is_float && !info->is_quantized;
    return XHAL_OK;
}

XHAL_API const char *xhal_op_name(xhal_op op) { return xhal_names_op(op); }

XHAL_API xhal_status xhal_op_from_name(const char *name, xhal_op *out)
{
    if (!name || !out) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_op_from_name: NULL argument");
    int op = xhal_names_op_from(name);
    if (op == XHAL_OP_INVALID) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "unknown op '%s'", name);
    *out = (xhal_op)op;
    return XHAL_OK;
}
