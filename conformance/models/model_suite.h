/* model_suite.h - the interface between the model port's suite (conformance/models/llama)
 * and the conformance runner (conformance/suite). */
#ifndef XC_MODEL_SUITE_H
#define XC_MODEL_SUITE_H
#include "xhal/xhal.h"

typedef struct xc_model_result {
    char model[64];        /* reference checkpoint name */
    char weight_dtype[8];  /* "f32", "f16", "bf16" */
    int status;            /* 1 passed, 0 failed, -1 unsupported / could not run (see message) */
    char message[512];     /* why it failed, naming the figure and its bound */
    int n_positions;       /* prompt positions compared */
    double max_abs_err;    /* over all logits of all positions */
    double min_cosine;     /* lowest per-position cosine similarity */
    double top1_agreement; /* fraction of positions whose argmax agrees */
    int greedy_match;      /* 1 if every generated token equals the reference */
    int n_generated;
    double tol_max_abs; /* bounds used (MODELS.md) */
    double tol_cosine;
    double prefill_tok_s;
    double decode_tok_s;
    char compute_dtype[8]; /* the arithmetic's dtype (the bounds are this dtype's) */
} xc_model_result;

/* Run every reference model found under ref_dir (NULL: the built-in default folder) on
 * dev, once per compute dtype its reference.json lists ("compute_dtypes"; default: the
 * weights' dtype), in name order. Writes at most max results; returns the number written, or
 * -1 when the reference data cannot be read (the reason: xc_model_suite_last_error()). */
int xc_model_suite_run(xhal_context *ctx, xhal_device *dev, const char *ref_dir, xc_model_result *out, int max);
/* The calling thread's reason for the last failure of xc_model_suite_run. */
const char *xc_model_suite_last_error(void);
#endif
