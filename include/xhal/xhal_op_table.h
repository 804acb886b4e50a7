/*
 * xhal_op_table.h - the op catalogue as one list: every other description of an op is an
 * expansion of XHAL_OP_TABLE (an "X-macro": the list is written once and each user passes
 * its own macro X to turn a row into what it needs).
 *
 * Expanded into: the enum xhal_op (xhal.h), op names (xhal_op_name, xhal_op_from_name, the
 * plugins' names helper), the core's per-family entry checks and descriptor building
 * (hal/validate.c, hal/ops.c), the backends' op_run dispatch and their op_supported rules
 * (cpu, opencl, cuda/hip: the family's runner and the DTYPES column decide, no op is listed by
 * id), the portable kernels' op ids (XK_OP_<NAME> in backends/kernels/xk_ops.cl, from the rows
 * alone), and the conformance suite's per-op plumbing and tolerance class.
 *
 * Columns of a row  X(NAME, ID, "name", FAMILY, NIN, NOPT, ATTR, DTYPES, TOL, KERNEL):
 *   NAME    the enumerator is XHAL_OP_<NAME>
 *   ID      its value: part of the ABI, never reused or changed; rows are in ascending
 *           id order (XHAL_OP_MAX_ID_ is the last id + 1)
 *   "name"  what xhal_op_name returns (lower case; used by vectors, reports, xfail files)
 *   FAMILY  XHAL_OPF_<FAMILY>: the public entry point, the descriptor layout of
 *           xhal_backend.h and the backend runner that serve the op (see xhal_op_family)
 *   NIN     inputs every descriptor of the op has; NOPT: optional inputs after them
 *           (weight/bias of the norms, the attention mask, rope's positions/inv_freq); the
 *           outputs are one, except TOPK's two (values, indices: xhal_backend.h)
 *   ATTR    the member of xhal_op_attrs the op reads (`none`: no attributes)
 *   DTYPES  XHAL_OP_DTYPES_<DTYPES>: dtypes of the op's data operand (in[0], or out[0]
 *           for FILL) the core accepts: FLOAT = f32 f16 bf16 f64; FLOAT_INT = FLOAT plus
 *           i32 i64; ANY = every dtype. Family rules add the rest (argmax writes i32/i64,
 *           gather's indices are i32/i64).
 *   TOL     XHAL_OP_TOL_<TOL>: the tolerance class of conformance/OPS.md (EXACT, ARITH,
 *           TRANS: transcendental, ACC: accumulating)
 *   KERNEL  the portable kernel (backends/kernels/xk_ops.cl) that runs the op, `none`
 *           when the core composes it; a family may pick a variant (xk_binary_int for
 *           integers, xk_matmul_rb for large matmuls). Its launch arguments are described
 *           once, in backends/kernels/xk_launch.c, for the OpenCL and CUDA/HIP backends alike.
 *
 * How to add an op (the next free id is XHAL_OP_MAX_ID_):
 *   1. one row below, at the end, with the next id (an op of a new family also needs
 *      its entry point in xhal.h, its checks in hal/validate.c, its descriptor in
 *      hal/ops.c and a runner per backend);
 *   2. its kernels: the CPU backend's computation (e.g. a case in cpu_ops.c's
 *      unary_tile) and the portable kernel's (e.g. a case `case XK_OP_<NAME>:` in
 *      xk_ops.cl's xk_unary_op: the id comes from this row). An op of an existing family
 *      needs nothing else on the devices. A new portable kernel is its source in xk_ops.cl,
 *      a row in backends/kernels/xk_kernels.h and its arguments pushed once in
 *      backends/kernels/xk_launch.c (see backends/kernels/README.md): no edit in ocl_ops.c
 *      or xcu_ops.c, whose generic launchers set whatever the plan lists;
 *   3. its reference and cases in the conformance suite (conformance/suite/xc_ref.c,
 *      xc_cases.c) and its entry in conformance/OPS.md.
 * Names, enum, the core's checks, the backends' op_run dispatch and op_supported, the
 * kernels' op ids and the suite's plumbing follow from the row (SQUARE, id 84, was added
 * this way: see its commit).
 *
 * The list is plain preprocessor text without C declarations; the C helpers at the end
 * are left out where XHAL_OP_TABLE_ROWS_ONLY is defined, so device code includes the rows
 * alone (xk_ops.cl does; the OpenCL backend embeds this file before it).
 */
#ifndef XHAL_XHAL_OP_TABLE_H
#define XHAL_XHAL_OP_TABLE_H

/* clang-format off */
#define XHAL_OP_TABLE(X)                                                                          \
    /* NAME        ID  name          FAMILY     NIN NOPT ATTR       DTYPES     TOL    KERNEL */    \
    X(COPY,         1, "copy",       COPY,      1,  0,   none,      ANY,       EXACT, xk_copy)      \
    X(FILL,         2, "fill",       FILL,      0,  0,   fill,      ANY,       EXACT, xk_fill)      \
    X(NEG,         10, "neg",        UNARY,     1,  0,   none,      FLOAT_INT, EXACT, xk_unary)     \
    X(ABS,         11, "abs",        UNARY,     1,  0,   none,      FLOAT_INT, EXACT, xk_unary)     \
    X(EXP,         12, "exp",        UNARY,     1,  0,   none,      FLOAT,     TRANS, xk_unary)     \
    X(LOG,         13, "log",        UNARY,     1,  0,   none,      FLOAT,     TRANS, xk_unary)     \
    X(SQRT,        14, "sqrt",       UNARY,     1,  0,   none,      FLOAT,     TRANS, xk_unary)     \
    X(RSQRT,       15, "rsqrt",      UNARY,     1,  0,   none,      FLOAT,     TRANS, xk_unary)     \
    X(TANH,        16, "tanh",       UNARY,     1,  0,   none,      FLOAT,     TRANS, xk_unary)     \
    X(SIGMOID,     17, "sigmoid",    UNARY,     1,  0,   none,      FLOAT,     TRANS, xk_unary)     \
    X(RELU,        18, "relu",       UNARY,     1,  0,   none,      FLOAT_INT, EXACT, xk_unary)     \
    X(SILU,        19, "silu",       UNARY,     1,  0,   none,      FLOAT,     TRANS, xk_unary)     \
    X(GELU,        20, "gelu",       UNARY,     1,  0,   none,      FLOAT,     TRANS, xk_unary)     \
    X(GELU_TANH,   21, "gelu_tanh",  UNARY,     1,  0,   none,      FLOAT,     TRANS, xk_unary)     \
    X(ADD,         30, "add",        BINARY,    2,  0,   none,      FLOAT_INT, ARITH, xk_binary)    \
    X(SUB,         31, "sub",        BINARY,    2,  0,   none,      FLOAT_INT, ARITH, xk_binary)    \
    X(MUL,         32, "mul",        BINARY,    2,  0,   none,      FLOAT_INT, ARITH, xk_binary)    \
    X(DIV,         33, "div",        BINARY,    2,  0,   none,      FLOAT,     ARITH, xk_binary)    \
    X(MAXIMUM,     34, "maximum",    BINARY,    2,  0,   none,      FLOAT_INT, EXACT, xk_binary)    \
    X(MINIMUM,     35, "minimum",    BINARY,    2,  0,   none,      FLOAT_INT, EXACT, xk_binary)    \
    X(SCALE,       40, "scale",      SCALE,     1,  0,   scale,     FLOAT,     ARITH, xk_scale)     \
    X(SUM,         50, "sum",        REDUCE,    1,  0,   reduce,    FLOAT,     ACC,   xk_reduce)    \
    X(MEAN,        51, "mean",       REDUCE,    1,  0,   reduce,    FLOAT,     ACC,   xk_reduce)    \
    X(MAX,         52, "max",        REDUCE,    1,  0,   reduce,    FLOAT,     EXACT, xk_reduce)    \
    X(ARGMAX,      53, "argmax",     REDUCE,    1,  0,   reduce,    FLOAT,     EXACT, xk_reduce)    \
    X(SOFTMAX,     60, "softmax",    SOFTMAX,   1,  0,   softmax,   FLOAT,     ACC,   xk_softmax)   \
    X(RMS_NORM,    61, "rms_norm",   NORM,      1,  1,   norm,      FLOAT,     ACC,   xk_rms_norm)  \
    X(LAYER_NORM,  62, "layer_norm", NORM,      1,  2,   norm,      FLOAT,     ACC,   xk_layer_norm)\
    X(MATMUL,      70, "matmul",     MATMUL,    2,  1,   matmul,    FLOAT,     ACC,   xk_matmul)    \
    X(GATHER,      80, "gather",     GATHER,    2,  0,   none,      ANY,       EXACT, xk_gather)    \
    X(ROPE,        81, "rope",       ROPE,      1,  2,   rope,      FLOAT,     ACC,   xk_rope)      \
    X(ATTENTION,   82, "attention",  ATTENTION, 3,  1,   attention, FLOAT,     ACC,   xk_attention) \
    X(CONCAT,      83, "concat",     COMPOSED,  1,  0,   none,      ANY,       EXACT, none)         \
    X(SQUARE,      84, "square",     UNARY,     1,  0,   none,      FLOAT,     ARITH, xk_unary)     \
    X(TOPK,        85, "topk",       TOPK,      1,  0,   topk,      FLOAT,     EXACT, xk_topk)      \
    X(SOFTPLUS,    86, "softplus",   UNARY,     1,  0,   none,      FLOAT,     TRANS, xk_unary)
/* clang-format on */

#ifndef XHAL_OP_TABLE_ROWS_ONLY

#include "xhal.h" /* the dtypes; when xhal.h included this header, this does nothing */

/* Families: one public entry point, one descriptor layout (xhal_backend.h), one runner. */
typedef enum xhal_op_family {
    XHAL_OPF_NONE = 0,  /* not an op */
    XHAL_OPF_COPY,      /* xhal_copy, xhal_contiguous, concat's pieces */
    XHAL_OPF_FILL,      /* xhal_fill */
    XHAL_OPF_UNARY,     /* xhal_unary */
    XHAL_OPF_BINARY,    /* xhal_binary, xhal_add, xhal_mul */
    XHAL_OPF_SCALE,     /* xhal_scale */
    XHAL_OPF_REDUCE,    /* xhal_reduce */
    XHAL_OPF_SOFTMAX,   /* xhal_softmax */
    XHAL_OPF_NORM,      /* xhal_rms_norm, xhal_layer_norm */
    XHAL_OPF_MATMUL,    /* xhal_matmul */
    XHAL_OPF_GATHER,    /* xhal_gather */
    XHAL_OPF_ROPE,      /* xhal_rope, xhal_rope_ex */
    XHAL_OPF_ATTENTION, /* xhal_attention, xhal_attention_ex */
    XHAL_OPF_COMPOSED,  /* composed by the core from other ops; never reaches a backend */
    XHAL_OPF_TOPK,      /* xhal_topk (two outputs) */
    XHAL_OPF_COUNT_
} xhal_op_family;

/* Tolerance classes of conformance/OPS.md. */
typedef enum xhal_op_tol {
    XHAL_OP_TOL_EXACT = 0,
    XHAL_OP_TOL_ARITH = 1,
    XHAL_OP_TOL_TRANS = 2,
    XHAL_OP_TOL_ACC = 3
} xhal_op_tol;

/* The DTYPES column as XHAL_DTYPE_BIT masks. */
#define XHAL_OP_DTYPES_FLOAT                                                                             \
    (XHAL_DTYPE_BIT(XHAL_DTYPE_F32) | XHAL_DTYPE_BIT(XHAL_DTYPE_F16) | XHAL_DTYPE_BIT(XHAL_DTYPE_BF16) | \
     XHAL_DTYPE_BIT(XHAL_DTYPE_F64))
#define XHAL_OP_DTYPES_FLOAT_INT \
    (XHAL_OP_DTYPES_FLOAT | XHAL_DTYPE_BIT(XHAL_DTYPE_I32) | XHAL_DTYPE_BIT(XHAL_DTYPE_I64))
#define XHAL_OP_DTYPES_ANY (((1u << (unsigned)XHAL_DTYPE_COUNT_) - 1u) & ~1u)

/* One row as values. */
typedef struct xhal_op_row {
    int id;             /* xhal_op; 0 for an unknown id */
    const char *name;   /* "invalid" for an unknown id */
    int family;         /* xhal_op_family */
    int n_inputs;       /* NIN */
    int n_optional;     /* NOPT */
    const char *attrs;  /* member of xhal_op_attrs, "none" */
    unsigned dtypes;    /* XHAL_DTYPE_BIT mask of the DTYPES column */
    int tolerance;      /* xhal_op_tol */
    const char *kernel; /* portable kernel, "none" */
} xhal_op_row;

/* The row of op id `op` (id 0 and name "invalid" when no row has that id). Header-only so
 * plugins, which do not link libxhal, use it too. */
static inline xhal_op_row xhal_op_table_row(int op)
{
    xhal_op_row r = {0, "invalid", XHAL_OPF_NONE, 0, 0, "none", 0u, XHAL_OP_TOL_EXACT, "none"};
    switch (op) {
#define XHAL_OP_TABLE_ROW_(N, ID, NAME, FAM, NIN, NOPT, ATTR, DT, TOL, K) \
    case ID:                                                              \
        r.id = ID;                                                        \
        r.name = NAME;                                                    \
        r.family = XHAL_OPF_##FAM;                                        \
        r.n_inputs = NIN;                                                 \
        r.n_optional = NOPT;                                              \
        r.attrs = #ATTR;                                                  \
        r.dtypes = XHAL_OP_DTYPES_##DT;                                   \
        r.tolerance = XHAL_OP_TOL_##TOL;                                  \
        r.kernel = #K;                                                    \
        break;
        XHAL_OP_TABLE(XHAL_OP_TABLE_ROW_)
#undef XHAL_OP_TABLE_ROW_
        default: break;
    }
    return r;
}

/* The family of op id `op` (XHAL_OPF_NONE when unknown). */
static inline int xhal_op_family_of(int op)
{
    switch (op) {
#define XHAL_OP_TABLE_FAM_(N, ID, NAME, FAM, ...) \
    case ID: return XHAL_OPF_##FAM;
        XHAL_OP_TABLE(XHAL_OP_TABLE_FAM_)
#undef XHAL_OP_TABLE_FAM_
        default: return XHAL_OPF_NONE;
    }
}

/* The DTYPES mask of op id `op` (0 when unknown). */
static inline unsigned xhal_op_dtypes_of(int op)
{
    switch (op) {
#define XHAL_OP_TABLE_DT_(N, ID, NAME, FAM, NIN, NOPT, ATTR, DT, ...) \
    case ID: return XHAL_OP_DTYPES_##DT;
        XHAL_OP_TABLE(XHAL_OP_TABLE_DT_)
#undef XHAL_OP_TABLE_DT_
        default: return 0u;
    }
}

#endif /* XHAL_OP_TABLE_ROWS_ONLY */

#endif /* XHAL_XHAL_OP_TABLE_H */
