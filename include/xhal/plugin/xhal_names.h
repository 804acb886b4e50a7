/*
 * xhal/plugin/xhal_names.h - names and sizes of dtypes and ops, and FILL's value conversion,
 * header-only: one table for the core and for every plugin (plugins do not link libxhal,
 * so they cannot call xhal_op_name).
 */
#ifndef XHAL_NAMES_H
#define XHAL_NAMES_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../xhal.h"
#include "xhal_half.h"

static const char *const xhal_names_dtype_table_[XHAL_DTYPE_COUNT_] = {"invalid", "f32", "f16", "bf16", "f64",
                                                                       "i8",      "u8",  "i32", "i64"};
static const size_t xhal_names_dtype_size_table_[XHAL_DTYPE_COUNT_] = {0, 4, 2, 2, 8, 1, 1, 4, 8};

/* Block-quantized dtypes (XHAL_DTYPE_Q8_0 .. XHAL_DTYPE_END_ - 1): name, elements per
 * block, bytes per block (llama.cpp's layouts; codecs in xhal_quant.h). */
typedef struct xhal_names_block_entry_ {
    int dtype;
    const char *name;
    int block_size, block_bytes;
} xhal_names_block_entry_;

static const xhal_names_block_entry_ xhal_names_block_table_[] = {
    {XHAL_DTYPE_Q8_0, "q8_0", 32, 34},
    {XHAL_DTYPE_Q4_0, "q4_0", 32, 18},
    {XHAL_DTYPE_Q4_K, "q4_k", 256, 144},
    {XHAL_DTYPE_Q6_K, "q6_k", 256, 210},
};

/* The block entry of dt, NULL for plain or invalid dtypes. */
static inline const xhal_names_block_entry_ *xhal_names_dtype_block(int dt)
{
    for (size_t i = 0; i < sizeof xhal_names_block_table_ / sizeof xhal_names_block_table_[0]; i++)
        if (xhal_names_block_table_[i].dtype == dt) return &xhal_names_block_table_[i];
    return NULL;
}

/* "f32", ..., "q8_0", ...; "invalid" for values outside the enum. */
static inline const char *xhal_names_dtype(int dt)
{
    if (dt > 0 && dt < XHAL_DTYPE_COUNT_) return xhal_names_dtype_table_[dt];
    const xhal_names_block_entry_ *b = xhal_names_dtype_block(dt);
    return b ? b->name : "invalid";
}

/* Element size in bytes; 0 for values outside the enum and for block-quantized dtypes. */
static inline size_t xhal_names_dtype_size(int dt)
{
    return dt > 0 && dt < XHAL_DTYPE_COUNT_ ? xhal_names_dtype_size_table_[dt] : 0;
}

/* The plain dtypes of an XHAL_DTYPE_BIT mask as "f32, f16, bf16" (dtype order) into buf;
 * "none" for an empty mask. Returns buf. */
static inline const char *xhal_names_dtype_list(unsigned mask, char *buf, size_t size)
{
    size_t at = 0;
    if (size == 0) return buf;
    buf[0] = '\0';
    for (int dt = 1; dt < XHAL_DTYPE_COUNT_; dt++) {
        if (!(mask & XHAL_DTYPE_BIT(dt))) continue;
        const char *n = xhal_names_dtype_table_[dt];
        size_t len = strlen(n) + (at ? 2 : 0);
        if (at + len + 1 > size) break;
        if (at) {
            memcpy(buf + at, ", ", 2);
            at += 2;
            len -= 2;
        }
        memcpy(buf + at, n, len + 1);
        at += len;
    }
    if (at == 0) {
        strncpy(buf, "none", size - 1);
        buf[size - 1] = '\0';
    }
    return buf;
}

/* "add", "rms_norm", ...; "invalid" for an unknown id (the "name" column of
 * xhal_op_table.h). */
static inline const char *xhal_names_op(int op) { return xhal_op_table_row(op).name; }

/* The op id of a name, or XHAL_OP_INVALID. */
static inline int xhal_names_op_from(const char *name)
{
#define XHAL_NAMES_OP_FROM_(N, ID, NAME, ...) \
    if (!strcmp(name, NAME)) return ID;
    XHAL_OP_TABLE(XHAL_NAMES_OP_FROM_)
#undef XHAL_NAMES_OP_FROM_
    return XHAL_OP_INVALID;
}

/* v as one element of dtype dt, by xhal_copy's rules (floats round to nearest even, once;
 * to integers: truncate toward zero, saturate, NaN gives 0), returned as the element's bit
 * pattern in the low bytes. The core fills FILL's attrs.fill.bits with it. */
static inline uint64_t xhal_value_bits(int dt, double v)
{
    switch (dt) {
        case XHAL_DTYPE_F32: return xhal_f32_bits_((float)v);
        case XHAL_DTYPE_F64: {
            uint64_t u;
            memcpy(&u, &v, 8);
            return u;
        }
        case XHAL_DTYPE_F16: return xhal_f64_to_f16(v);
        case XHAL_DTYPE_BF16: return xhal_f64_to_bf16(v);
        default: break;
    }
    int64_t lo, hi;
    uint64_t mask;
    switch (dt) {
        case XHAL_DTYPE_I8:
            lo = INT8_MIN;
            hi = INT8_MAX;
            mask = 0xffu;
            break;
        case XHAL_DTYPE_U8:
            lo = 0;
            hi = UINT8_MAX;
            mask = 0xffu;
            break;
        case XHAL_DTYPE_I32:
            lo = INT32_MIN;
            hi = INT32_MAX;
            mask = 0xffffffffu;
            break;
        default:
            lo = INT64_MIN;
            hi = INT64_MAX;
            mask = ~(uint64_t)0;
            break;
    }
    /* (double)INT64_MAX is 2^63, so >= catches the top */
    int64_t iv = isnan(v) ? 0 : v <= (double)lo ? lo : v >= (double)hi ? hi : (int64_t)v;
    return (uint64_t)iv & mask;
}

#endif /* XHAL_NAMES_H */
