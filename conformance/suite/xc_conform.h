/*
 * xc_conform.h - the conformance suite (library xhal_conform): the op case catalogue,
 * the f64 host reference, the comparison rules, the device runner, external test
 * vectors (.npy + cases.json), expected-failure lists and the report writers.
 *
 * Uses only the public xhal API (xhal.h). Semantics and tolerances: conformance/OPS.md.
 * Nothing here prints unless asked (progress goes to a caller-given FILE).
 * Not thread-safe: one run at a time per xc_run.
 */
#ifndef XC_CONFORM_H
#define XC_CONFORM_H

#include <stdint.h>
#include <stdio.h>
#include "xhal/xhal.h"
#include "../models/model_suite.h"

#ifdef __cplusplus
extern "C" {
#endif

#define XC_MAX_IN 6

/* ---------------------------------------------------------------------------------- */
/* Host tensors: logical row-major values in double (exactly representable in dtype). */
/* ---------------------------------------------------------------------------------- */
typedef struct xc_tensor {
    xhal_dtype dtype;
    int ndim;
    int64_t shape[XHAL_MAX_DIMS];
    int64_t n; /* numel */
    double *v; /* n values, malloc'd (NULL when n == 0) */
    /* Block-quantized dtypes only: the stored bytes (rows of whole blocks, in the order of
     * the tensor's dense storage, xc_tspec_view), malloc'd; v holds the decoded values in
     * logical order. NULL otherwise. */
    uint8_t *raw;
    int64_t raw_bytes;
} xc_tensor;

void xc_tensor_free(xc_tensor *t);
int64_t xc_numel(int ndim, const int64_t *shape);

/* dtype helpers (own implementations, independent of any backend). */
size_t xc_dtype_size(xhal_dtype dt);
int xc_dtype_is_float(xhal_dtype dt);
/* Round x to the nearest value representable in dt, as a store would (float: nearest
 * even, overflow to Inf, NaN kept with its sign; integers: truncate, saturate, NaN -> 0). */
double xc_round_to(xhal_dtype dt, double x);
/* Encode n values into dt's little-endian bytes / decode them back. */
void xc_encode(xhal_dtype dt, const double *v, int64_t n, void *dst);
void xc_decode(xhal_dtype dt, const void *src, int64_t n, double *v);
uint16_t xc_f64_to_f16(double x);
/* Block-quantized dtypes (q8_0, q4_0, q4_k, q6_k; xc_quant.c, the suite's own codec):
 * 1 and the block size (elements) and bytes per block for them, 0 for plain dtypes. */
int xc_dtype_block(xhal_dtype dt, int *block_size, int *block_bytes);
/* Decode nblocks blocks into their values (the exact f32 results of llama.cpp's reference
 * dequantization, as doubles). */
void xc_block_decode(xhal_dtype dt, const void *src, int64_t nblocks, double *v);
/* Quantize nblocks * block_size values (f32 values) to q8_0 or q4_0 as llama.cpp's
 * quantize_row_*_ref does. 0, or -1 for a dtype without a quantizer. */
int xc_block_quantize(xhal_dtype dt, const double *x, int64_t nblocks, void *dst);
uint16_t xc_f64_to_bf16(double x);
double xc_f16_to_f64(uint16_t h);
double xc_bf16_to_f64(uint16_t h);

/* Deterministic PRNG (splitmix64 seeding a xoshiro256**). */
typedef struct xc_rng {
    uint64_t s[4];
} xc_rng;
void xc_rng_seed(xc_rng *r, uint64_t seed);
uint64_t xc_rng_next(xc_rng *r);
double xc_rng_uniform(xc_rng *r, double lo, double hi); /* [lo, hi) */
uint64_t xc_hash_str(const char *s);
/* nblocks random blocks of dt: codes of every bit pattern, scales of both signs (where the
 * layout allows), some zero and some f16-subnormal scales; values of magnitude ~1. */
void xc_block_random(xhal_dtype dt, xc_rng *r, int64_t nblocks, void *dst);

/* ---------------------------------------------------------------------------------- */
/* Cases                                                                              */
/* ---------------------------------------------------------------------------------- */
enum { XC_LAYOUT_CONTIG = 0, XC_LAYOUT_PERMUTE = 1, XC_LAYOUT_STEP = 2, XC_LAYOUT_EXPAND = 3 };
/* UNIFORM [lo, hi); INT integers in [lo, hi]; SIGNMAG magnitude in [lo, hi) with a random
 * sign; SPECIAL uniform plus the op's NaN/Inf/signed-zero values spread over the tensor
 * (integer tensors: the last element is hi + 1, an out-of-range index); PAIRS_A/PAIRS_B
 * every pair of {NaN, +Inf, -Inf, 0, -0, 1, -2.5} (49 elements). */
/* TIES: values exactly halfway between two neighbours of the case's output dtype (f16,
 * bf16, f32), alternating with exactly representable ones, magnitudes 2^-10..2^10, both
 * signs: a cast that truncates or rounds half away from zero gets half of them wrong. */
enum {
    XC_GEN_UNIFORM = 0,
    XC_GEN_INT = 1,
    XC_GEN_SPECIAL = 2,
    XC_GEN_PAIRS_A = 3,
    XC_GEN_PAIRS_B = 4,
    XC_GEN_SIGNMAG = 5,
    XC_GEN_TIES = 6,
    XC_GEN_LLAMA3 = 7, /* rope's inv_freq [n]: Llama 3 scaling of theta^(-2k/(2n)) with lo as theta
                       * (factor 8, low/high frequency factors 1 and 4, original context 8192) */
    XC_GEN_QBLOCKS = 8 /* blocks of 32 that stress q8_0/q4_0 quantization: all zero, rounding ties,
                        * equal magnitudes of both signs, a scale that underflows f16, magnitudes
                        * 1e-3..1e3 */
};
enum { XC_INIT_NAN = 0, XC_INIT_RANDOM = 1 };

/* How one tensor of a case is made on the device and which values it holds. */
typedef struct xc_tspec {
    xhal_dtype dtype;
    int ndim;
    int64_t shape[XHAL_MAX_DIMS];  /* logical shape the op sees */
    int layout;                    /* XC_LAYOUT_* */
    int perm[XHAL_MAX_DIMS];       /* PERMUTE: view = permute(stored, perm) */
    int64_t eshape[XHAL_MAX_DIMS]; /* EXPAND: stored shape (same ndim, 1 where broadcast) */
    int gen;                       /* XC_GEN_* */
    double lo, hi;                 /* UNIFORM / INT range */
} xc_tspec;

typedef struct xc_attrs {
    int axis, keepdims;
    double alpha, beta, eps, scale, value, theta;
    int causal, trans_a, trans_b;
    int64_t pos_offset;
    int rotary_dims, rope_layout, seq_axis;
    int has_weight, has_bias, has_mask;
    /* rope: in[1] positions, then inv_freq, when present; attention_factor 0 means 1 */
    int has_positions, has_inv_freq;
    double attention_factor;
    /* attention_ex: window, softcap, q_pos0 (has_q_pos0 0: Sk - Sq; setting q_pos0 through
     * xc_attr_set sets has_q_pos0 = q_pos0 >= 0) */
    int64_t window, q_pos0;
    double softcap;
    int has_q_pos0;
    /* topk (axis is the axis above) */
    int64_t k;
    int largest;
} xc_attrs;

typedef struct xc_case {
    char name[128]; /* unique: "<op>/<dtype>/<variant>" */
    char suite[8];  /* "ops" or "vectors" */
    xhal_op op;
    xhal_dtype dtype; /* the dtype the support matrix files it under */
    int n_in;
    xc_tspec in[XC_MAX_IN]; /* inputs in op order (concat: all parts) */
    xc_tspec out;
    int has_out2;  /* a second output (topk's indices, exact) */
    xc_tspec out2; /* its dtype and shape (layout and gen as for out) */
    xc_attrs at;
    int expect_status; /* XHAL_OK, or the error the op must return (out untouched, unless
                        * out_defined), from the call or at the synchronize after it */
    int out_defined;   /* with expect_status: out is still defined and compared with the reference
                        * (gather: the rows of a bad index are zeros, OPS.md) */
    int out_init;      /* XC_INIT_*: what out holds before the op */
    int nan_sign;      /* 1: the sign of NaN results is checked */
    int inplace;       /* 1: out is input 0 itself (same tensor, same shape and dtype) */
    int view_refused;  /* 1: making input 0's view (its layout) must fail with expect_status
                        * (a view that splits quantized blocks); the op is not run */
    /* Vectors: given data (owned by the case list); NULL for generated cases. */
    xc_tensor *given_in; /* n_in tensors (n_alloc_in allocated) */
    int n_alloc_in;
    xc_tensor *given_init;   /* initial out or NULL */
    xc_tensor *given_expect; /* expected out */
} xc_case;

typedef struct xc_case_list {
    xc_case *cases;
    int n, cap;
} xc_case_list;

/* The shape, dtype and attribute rules of the case's op (conformance/OPS.md), checked
 * before any reference or device work: inputs broadcast or match as the op requires, the
 * output has the shape the op gives, attributes are in range, given data (vectors) has
 * the declared sizes. 0, or -1 with msg naming the case and the broken rule. */
int xc_case_validate(const xc_case *c, char *msg, size_t msgsz);
/* 1 if the case gives a device no work (an empty output, or an empty operand of an op
 * other than concat: the core answers those itself). */
int xc_case_trivial(const xc_case *c);
/* One line for people: every tensor's dtype, shape, view strides (elements) and offset
 * (elements) as the suite lays it out, and the op's attributes. */
void xc_case_describe(const xc_case *c, char *buf, size_t bufsz);
/* The view strides and element offset the suite gives a tensor of layout sp->layout. */
void xc_tspec_view(const xc_tspec *sp, int64_t *strides, int64_t *offset);

/* Attributes as vectors name them (VECTORS.md): JSON kind and where they live in xc_attrs. */
enum {
    XC_AK_NUM = 0,        /* a JSON number */
    XC_AK_INT = 1,        /* a JSON number that is an integer */
    XC_AK_BOOL = 2,       /* true/false or 0/1 */
    XC_AK_VALUE = 3,      /* a number or "nan", "inf", "-inf" */
    XC_AK_ROPE_LAYOUT = 4 /* "half", "interleaved", 0 or 1 */
};
typedef struct xc_attr_info {
    const char *name;
    int kind;            /* XC_AK_* */
    size_t offset;       /* in xc_attrs */
    char ctype;          /* 'd' double, 'i' int, 'l' int64_t */
    const char *members; /* the xhal_op_attrs members (op table ATTR column) it belongs to */
} xc_attr_info;
const xc_attr_info *xc_attr_table(int *n);
/* 1 if attribute name means something for op. */
int xc_attr_applies(const char *name, xhal_op op);
double xc_attr_get(const xc_attrs *a, const xc_attr_info *ai);
void xc_attr_set(xc_attrs *a, const xc_attr_info *ai, double v);

/* Build the built-in catalogue (every op x dtype with edge cases). 0 or -1 (OOM). */
int xc_catalogue_build(xc_case_list *list);
int xc_case_list_push(xc_case_list *list, const xc_case *c);
void xc_case_list_free(xc_case_list *list);

/* Host values of a case's inputs (from the PRNG seeded by seed ^ hash(name), or the
 * given data) and of out's initial contents. in must hold c->n_in tensors. */
int xc_case_inputs(const xc_case *c, uint64_t seed, xc_tensor *in, xc_tensor *init);

/* ---------------------------------------------------------------------------------- */
/* Reference and comparison                                                           */
/* ---------------------------------------------------------------------------------- */
/* f64 reference: fills ref (exact result in double, not rounded to out's dtype) and mag
 * (magnitude for the mtol term, OPS.md) for every element of out's logical shape, and
 * *R, the reduction length. 0 on success, -1 with msg filled if the case is malformed. */
int xc_ref_compute(const xc_case *c, const xc_tensor *in, const xc_tensor *init, double *ref, double *mag, int64_t *R,
                   char *msg, size_t msgsz);

/* The second output of a case with has_out2 (topk's indices, as doubles): 0, or -1 with msg. */
int xc_ref_compute_out2(const xc_case *c, const xc_tensor *in, double *ref2, char *msg, size_t msgsz);

typedef struct xc_tol {
    double atol, rtol, mtol, nmse;
} xc_tol;
/* The OPS.md tolerance of op for output dtype dt and reduction length R. */
xc_tol xc_tolerance(xhal_op op, xhal_dtype dt, int64_t R);

typedef struct xc_cmp {
    int pass;
    int64_t n, n_bad;
    double max_abs, max_rel, nmse;
    double worst;            /* max over finite elements of |d - r| / bound (<= 1 passes) */
    int64_t first_bad;       /* -1 if none */
    double got, want, bound; /* at first_bad */
    char why[256];
} xc_cmp;
/* Compare got against want (already rounded to the output dtype) with the rules of
 * OPS.md: NaN/Inf kind (and NaN sign if nan_sign), element bound, NMSE. */
void xc_compare(const double *got, const double *want, const double *mag, int64_t n, xc_tol tol, int nan_sign,
                xc_cmp *res);

/* ---------------------------------------------------------------------------------- */
/* Results                                                                            */
/* ---------------------------------------------------------------------------------- */
/* TRIVIAL: the op returned OK but never had work for the device (an empty output, or an
 * empty operand the core resolves itself, e.g. matmul with K = 0): the status and guard
 * bytes were checked, nothing else. Counted apart; never makes a support cell pass. */
typedef enum xc_outcome {
    XC_PASS = 0,
    XC_FAIL = 1,
    XC_UNSUPPORTED = 2,
    XC_XFAIL = 3,
    XC_XPASS = 4,
    XC_TRIVIAL = 5,
    XC_OUTCOME_COUNT = 6
} xc_outcome;
/* "pass", "fail", "unsupported", "xfail", "xpass", "trivial" */
const char *xc_outcome_name(int o);

typedef struct xc_result {
    char suite[8];
    char name[128];
    char op[24];
    char dtype[8];
    int outcome;
    int64_t numel;
    double max_abs, max_rel, nmse;
    double worst; /* largest error / bound ratio (xc_cmp.worst) */
    xc_tol tol;
    int has_figures;
    double ms;
    char message[512];
    char xfail_reason[160];
    char detail[512]; /* xc_case_describe of the case (shapes, strides, offsets, attrs) */
} xc_result;

typedef struct xc_device_report {
    xhal_device_info info;
    xc_result *results;
    int n, cap;
    int counts[XC_OUTCOME_COUNT];
    double seconds;
    int model_state; /* 0 not selected, 1 ran, -1 unavailable (message says why) */
    char model_message[256];
    xc_model_result models[40]; /* a result per reference and compute dtype */
    int n_models;
} xc_device_report;

typedef struct xc_machine {
    char hostname[128], os[128], kernel[128], arch[64], cpu[128];
    int cpus;
    uint64_t memory;
} xc_machine;

typedef struct xc_run {
    xc_device_report *devs;
    int n_devs;
    xc_machine machine;
    char started[32]; /* ISO 8601 UTC */
    char command[512];
    char suites[32];
    char filter[256];
    char xfail_file[256];
    char vectors_dir[256];
    uint64_t seed;
    double seconds;
    int topology_available;
    char *topology;      /* xhal_topology_render JSON (malloc'd) or NULL */
    char *topology_text; /* the same as text for people (malloc'd) or NULL */
    char topology_reason[256];
    int explicit_devices; /* the devices were named with --device (xc_run_exit_status) */
} xc_run;

/* ---------------------------------------------------------------------------------- */
/* Expected failures                                                                  */
/* ---------------------------------------------------------------------------------- */
/* File format (conformance/REPORT.md): one entry a line,
 *     FAMILY-GLOB OP-GLOB DTYPE-GLOB [CASE-REGEX]   # reason
 * '#' starts a comment; blank lines are ignored. */
typedef struct xc_xfail_entry {
    char family[64], op[32], dtype[16];
    char regex_src[200];
    int has_regex;
    void *regex; /* regex_t * */
    char reason[160];
    int line;
    int used;
} xc_xfail_entry;
typedef struct xc_xfail_list {
    xc_xfail_entry *e;
    int n;
} xc_xfail_list;

/* Parse text (NUL-terminated). -1 with msg "FILE:LINE: ..." on a malformed line. */
int xc_xfail_parse(const char *text, const char *fname, xc_xfail_list *out, char *msg, size_t msgsz);
int xc_xfail_load(const char *path, xc_xfail_list *out, char *msg, size_t msgsz);
void xc_xfail_free(xc_xfail_list *l);
/* The entry matching (device family or spec, op, dtype, case name), or NULL. */
const xc_xfail_entry *xc_xfail_match(const xc_xfail_list *l, const xhal_device_info *dev, const char *op,
                                     const char *dtype, const char *name);
/* Turn pass/fail into xpass/xfail per the list (unsupported stays unsupported). */
void xc_apply_xfail(const xc_xfail_list *l, const xhal_device_info *dev, xc_result *r);

/* ---------------------------------------------------------------------------------- */
/* .npy (format 1.0/2.0/3.0, little-endian, C order) and vectors                      */
/* ---------------------------------------------------------------------------------- */
/* Read path into t (dtype from descr: <f2 <f4 <f8 <i1 <u1 <i4 <i8, and <u2 read as bf16
 * bits when as_bf16). -1 with msg on error. */
int xc_npy_read(const char *path, int as_bf16, xc_tensor *t, char *msg, size_t msgsz);
/* Write t as format 1.0 (bf16 as <u2 bit patterns). */
int xc_npy_write(const char *path, const xc_tensor *t, char *msg, size_t msgsz);

/* Load DIR/cases.json and its .npy files into list (VECTORS.md). -1 with msg. */
int xc_vectors_load(const char *dir, xc_case_list *list, char *msg, size_t msgsz);
/* Check a vector case's expected output against the host reference (no device). */
int xc_vector_selfcheck(const xc_case *c, xc_result *r);

/* ---------------------------------------------------------------------------------- */
/* Running                                                                            */
/* ---------------------------------------------------------------------------------- */
/* Run one case on dev with stream; fills r (outcome pass/fail/unsupported). */
void xc_run_case(xhal_stream *stream, xhal_device *dev, const xc_case *c, uint64_t seed, xc_result *r);

/* Test hook: when set, called after the op completed and before the checks, with the
 * output's buffer; lets tests corrupt a guard byte or an element. */
typedef void (*xc_post_op_hook)(xhal_stream *stream, xhal_buffer *out_buf, uint64_t out_buf_size, const xc_case *c);
void xc_set_post_op_hook(xc_post_op_hook hook);

#define XC_SUITE_OPS 0x1u
#define XC_SUITE_VECTORS 0x2u
#define XC_SUITE_MODEL 0x4u

typedef struct xc_options {
    unsigned suites;         /* XC_SUITE_* */
    const char *filter;      /* POSIX ERE on case names, or NULL */
    const char *vectors_dir; /* NULL: xc_default_vectors_dir() */
    const char *model_dir;   /* reference models for the model suite; NULL: xc_default_models_dir() */
    const xc_xfail_list *xfail;
    uint64_t seed;
    FILE *progress;  /* NULL: quiet */
    const char *ops; /* comma-separated op names (xhal_op_name; "model" for the model
                               * suite) to select, or NULL for all; ANDed with filter */
} xc_options;

/* The conformance data a run uses by default: the copy installed with the running tool
 * (<bindir>/../share/xhal/conformance/...), else the source tree's; NULL when neither exists. */
const char *xc_default_vectors_dir(void);
const char *xc_default_models_dir(void);

/* Cases a run would select (catalogue and/or vectors, filtered); for --list. */
int xc_select_cases(const xc_options *opt, xc_case_list *out, char *msg, size_t msgsz);

void xc_run_init(xc_run *run);
void xc_run_free(xc_run *run);
/* Run the selected cases on dev, appending a device report to run. -1 with msg on a
 * setup error (bad regex, unreadable vectors). */
int xc_run_device(xc_run *run, xhal_context *ctx, xhal_device *dev, const xc_case_list *cases, const xc_options *opt,
                  char *msg, size_t msgsz);
/* Fill run->machine and the topology section (if the topology module exists). */
void xc_run_describe_machine(xc_run *run, xhal_context *ctx);
/* Total counts over all devices; returns 1 if everything passed (no fail, no xpass). */
int xc_run_totals(const xc_run *run, int counts[XC_OUTCOME_COUNT]);

/* Verdict of one suite ("ops", "vectors", "model") on one device: -1 when none of its
 * cases was selected; XC_FAIL when a case failed or xpassed; XC_UNSUPPORTED when nothing
 * really ran (every case unsupported or trivial, every model unsupported); else XC_PASS.
 * An expected failure counts as having run. */
int xc_suite_verdict(const xc_device_report *d, const char *suite);

/* Exit statuses of xhal-conform (conformance/REPORT.md). */
#define XC_EXIT_PASS 0  /* every selected suite ran and passed */
#define XC_EXIT_FAIL 1  /* a case failed, or an expected failure passed */
#define XC_EXIT_USAGE 2 /* usage or setup error */
#define XC_EXIT_NOTHING_RAN \
    3 /* no failure, but a suite ran nothing on a device named with
                               * --device, or nothing ran on any device at all */
/* The exit status of a finished run; explicit: the devices were named with --device. */
int xc_run_exit_status(const xc_run *run, int explicit_devices);

#define XC_FORMAT_JSON 0x1u
#define XC_FORMAT_MD 0x2u
#define XC_FORMAT_HTML 0x4u
#define XC_FORMAT_JUNIT 0x8u
#define XC_REPORT_SCHEMA_VERSION 1
/* Write report.json / report.md / report.html / junit.xml into dir (created if needed). */
int xc_report_write(const xc_run *run, const char *dir, unsigned formats, char *msg, size_t msgsz);

/* Join n report.json files (schema version XC_REPORT_SCHEMA_VERSION, e.g. from different
 * machines) into one matrix op x dtype x chip family (vendor, family, arch), each cell
 * with its counts and the worst error / bound of its compared cases, and write it into dir
 * in the given formats (REPORT.md, "Merging reports"). *any_failure: a fail or xpass in any
 * input. 0, or -1 with msg naming the file that could not be read or written. */
int xc_merge_reports(const char *const *paths, int n, const char *dir, unsigned formats, int *any_failure, char *msg,
                     size_t msgsz);

#ifdef __cplusplus
}
#endif
#endif
