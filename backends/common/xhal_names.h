/*
 * xhal_names.h - names and sizes of dtypes and ops, header-only: one table for the core and
 * for every plugin (plugins do not link libxhal, so they cannot call xhal_op_name).
 */
#ifndef XHAL_NAMES_H
#define XHAL_NAMES_H

#include <stddef.h>
#include <string.h>

#include "xhal/xhal.h"

static const char *const xhal_names_dtype_table_[XHAL_DTYPE_COUNT_] = {
    "invalid", "f32", "f16", "bf16", "f64", "i8", "u8", "i32", "i64"};
static const size_t xhal_names_dtype_size_table_[XHAL_DTYPE_COUNT_] = {0, 4, 2, 2, 8, 1, 1, 4, 8};

/* "f32", ...; "invalid" for values outside the enum. */
static inline const char *xhal_names_dtype(int dt)
{
    return dt > 0 && dt < XHAL_DTYPE_COUNT_ ? xhal_names_dtype_table_[dt] : "invalid";
}

/* Element size in bytes; 0 for values outside the enum. */
static inline size_t xhal_names_dtype_size(int dt)
{
    return dt > 0 && dt < XHAL_DTYPE_COUNT_ ? xhal_names_dtype_size_table_[dt] : 0;
}

typedef struct xhal_names_op_entry_ {
    int op;
    const char *name;
} xhal_names_op_entry_;

static const xhal_names_op_entry_ xhal_names_op_table_[] = {
    {XHAL_OP_COPY, "copy"}, {XHAL_OP_FILL, "fill"}, {XHAL_OP_NEG, "neg"}, {XHAL_OP_ABS, "abs"},
    {XHAL_OP_EXP, "exp"}, {XHAL_OP_LOG, "log"}, {XHAL_OP_SQRT, "sqrt"}, {XHAL_OP_RSQRT, "rsqrt"},
    {XHAL_OP_TANH, "tanh"}, {XHAL_OP_SIGMOID, "sigmoid"}, {XHAL_OP_RELU, "relu"}, {XHAL_OP_SILU, "silu"},
    {XHAL_OP_GELU, "gelu"}, {XHAL_OP_GELU_TANH, "gelu_tanh"}, {XHAL_OP_ADD, "add"}, {XHAL_OP_SUB, "sub"},
    {XHAL_OP_MUL, "mul"}, {XHAL_OP_DIV, "div"}, {XHAL_OP_MAXIMUM, "maximum"}, {XHAL_OP_MINIMUM, "minimum"},
    {XHAL_OP_SCALE, "scale"}, {XHAL_OP_SUM, "sum"}, {XHAL_OP_MEAN, "mean"}, {XHAL_OP_MAX, "max"},
    {XHAL_OP_ARGMAX, "argmax"}, {XHAL_OP_SOFTMAX, "softmax"}, {XHAL_OP_RMS_NORM, "rms_norm"},
    {XHAL_OP_LAYER_NORM, "layer_norm"}, {XHAL_OP_MATMUL, "matmul"}, {XHAL_OP_GATHER, "gather"},
    {XHAL_OP_ROPE, "rope"}, {XHAL_OP_ATTENTION, "attention"}, {XHAL_OP_CONCAT, "concat"},
};

/* "add", "rms_norm", ...; "invalid" for an unknown id. */
static inline const char *xhal_names_op(int op)
{
    for (size_t i = 0; i < sizeof xhal_names_op_table_ / sizeof xhal_names_op_table_[0]; i++)
        if (xhal_names_op_table_[i].op == op) return xhal_names_op_table_[i].name;
    return "invalid";
}

/* The op id of a name, or XHAL_OP_INVALID. */
static inline int xhal_names_op_from(const char *name)
{
    for (size_t i = 0; i < sizeof xhal_names_op_table_ / sizeof xhal_names_op_table_[0]; i++)
        if (!strcmp(xhal_names_op_table_[i].name, name)) return xhal_names_op_table_[i].op;
    return XHAL_OP_INVALID;
}

#endif /* XHAL_NAMES_H */
