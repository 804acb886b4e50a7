/* mutants.h - the mutant backends of the kill-rate test (tests/conformance/mutant_backend.c,
 * test_conf_mutants.c): one row per injected defect, X(name, op, how, what).
 *
 * Every mutant is the CPU reference backend with exactly one defect in one op: "desc" ones
 * change the op descriptor before the CPU backend runs it (an attribute ignored or fixed, a
 * stride assumed, an op swapped for a near one); "f32" ones compute the op themselves on
 * the CPU backend's host memory with the defect, for f32 tensors (other dtypes go to the
 * CPU backend unchanged); "post" ones let the CPU backend run and then spoil its output.
 * The conformance suite (ops + vectors, filtered to the op) must fail at least one case of
 * every mutant. */
#ifndef XC_MUTANTS_H
#define XC_MUTANTS_H

#define XC_MUTANTS(X)                                                                                       \
    X(RMS_EPS_ZERO, RMS_NORM, "desc", "rms_norm ignores eps (eps = 0)")                                     \
    X(RMS_EPS_FIXED, RMS_NORM, "desc", "rms_norm hard-codes eps = 1e-5")                                    \
    X(RMS_EPS_OUTSIDE, RMS_NORM, "f32", "rms_norm adds eps outside the square root: x / (sqrt(ms) + eps)")  \
    X(RMS_WEIGHT_IGNORED, RMS_NORM, "desc", "rms_norm ignores the weight")                                  \
    X(LN_EPS_ZERO, LAYER_NORM, "desc", "layer_norm ignores eps (eps = 0)")                                  \
    X(LN_EPS_FIXED, LAYER_NORM, "desc", "layer_norm hard-codes eps = 1e-5")                                 \
    X(LN_BIAS_IGNORED, LAYER_NORM, "desc", "layer_norm ignores the bias")                                   \
    X(LN_NO_MEAN, LAYER_NORM, "desc", "layer_norm does not subtract the mean (runs rms_norm)")              \
    X(LN_VAR_UNBIASED, LAYER_NORM, "f32", "layer_norm divides the variance by D - 1")                       \
    X(SOFTMAX_NO_MAX, SOFTMAX, "f32", "softmax without max-subtraction (exp overflows)")                    \
    X(SOFTMAX_SCALE_IGNORED, SOFTMAX, "desc", "softmax ignores scale")                                      \
    X(SOFTMAX_CAUSAL_IGNORED, SOFTMAX, "desc", "softmax ignores causal")                                    \
    X(SOFTMAX_CAUSAL_OFF_BY_ONE, SOFTMAX, "f32", "softmax's causal mask lets one future column through")    \
    X(ATTN_CAUSAL_OFF_BY_ONE, ATTENTION, "f32", "attention's causal mask lets one future key through")      \
    X(ATTN_GQA_MOD, ATTENTION, "f32", "attention groups query heads as h % Hkv instead of h / (Hq / Hkv)")  \
    X(ATTN_SCALE_DEFAULT, ATTENTION, "desc", "attention ignores scale (always 1/sqrt(D))")                  \
    X(ATTN_CAUSAL_IGNORED, ATTENTION, "desc", "attention ignores causal")                                   \
    X(ATTN_MASK_IGNORED, ATTENTION, "desc", "attention ignores the additive mask")                          \
    X(ROPE_LAYOUT_SWAPPED, ROPE, "desc", "rope swaps the half and interleaved layouts")                     \
    X(ROPE_POS_IGNORED, ROPE, "desc", "rope ignores pos_offset")                                            \
    X(ROPE_THETA_FIXED, ROPE, "desc", "rope hard-codes theta = 10000")                                      \
    X(ROPE_ROTARY_FULL, ROPE, "desc", "rope ignores rotary_dims (rotates the whole head)")                  \
    X(MATMUL_BETA_IGNORED, MATMUL, "desc", "matmul ignores beta (never reads out)")                         \
    X(MATMUL_ALPHA_IGNORED, MATMUL, "desc", "matmul ignores alpha")                                         \
    X(MATMUL_B_ROW_MAJOR, MATMUL, "desc", "matmul assumes b is row-major (a transposed b read wrongly)")    \
    X(SCALE_BETA_IGNORED, SCALE, "desc", "scale ignores beta")                                              \
    X(EXP_CONTIG_IN, EXP, "desc", "exp assumes its input is contiguous (strides ignored)")                  \
    X(ADD_CONTIG_OUT, ADD, "desc", "add assumes its output is contiguous (strides ignored)")                \
    X(ADD_BCAST_MOD, ADD, "f32", "add ignores broadcast strides (reads a broadcast input as if dense)")     \
    X(SUB_SWAPPED, SUB, "desc", "sub computes b - a")                                                       \
    X(MEAN_IS_SUM, MEAN, "desc", "mean forgets to divide (runs sum)")                                       \
    X(ARGMAX_LAST, ARGMAX, "f32", "argmax returns the last index of the maximum on ties")                   \
    X(MAX_NAN_IGNORED, MAX, "f32", "max reduction skips NaN (fmax semantics)")                              \
    X(MAXIMUM_NAN_IGNORED, MAXIMUM, "f32", "maximum does not propagate NaN (fmaxf)")                        \
    X(COPY_BF16_TRUNC, COPY, "f32", "f32 -> bf16 truncates instead of rounding to nearest even")            \
    X(COPY_F16_FTZ, COPY, "post", "f32 -> f16 flushes subnormal results to zero")                           \
    X(FILL_VIA_F32, FILL, "desc", "fill rounds the value to f32 first (double rounding for f16/bf16)")      \
    X(GELU_TANH_FOR_ERF, GELU, "f32", "gelu (erf form) computed with the tanh approximation")               \
    X(SILU_OVERFLOW, SILU, "f32", "silu as x e^x / (1 + e^x): Inf / Inf = NaN for large x")                 \
    X(RELU_NAN_ZERO, RELU, "f32", "relu as x > 0 ? x : 0 (NaN becomes 0)")                                  \
    X(TANH_OVERFLOW, TANH, "f32", "tanh as (e^2x - 1) / (e^2x + 1): NaN for large x")                       \
    X(RSQRT_FAST, RSQRT, "f32", "rsqrt by the bit trick and one Newton step (~1e-3 relative error)")        \
    X(MINIMUM_NAN_IGNORED, MINIMUM, "f32", "minimum does not propagate NaN (fminf)")                        \
    X(ROPE_SIN_SIGN, ROPE, "f32", "rope rotates the wrong way (the sine's sign flipped)")                   \
    X(ROPE_POSITIONS_IGNORED, ROPE, "desc", "rope ignores the positions tensor (pos_offset + s)")           \
    X(ROPE_POSITIONS_BATCH0, ROPE, "desc", "rope reads every batch's positions from batch 0")               \
    X(ROPE_INV_FREQ_IGNORED, ROPE, "desc", "rope ignores the inv_freq tensor (theta^(-2k/n))")              \
    X(ROPE_FACTOR_IGNORED, ROPE, "desc", "rope ignores attention_factor")                                   \
    X(ATTN_WINDOW_IGNORED, ATTENTION, "desc", "attention ignores the sliding window")                       \
    X(ATTN_WINDOW_OFF_BY_ONE, ATTENTION, "desc", "attention's window lets one older key through")           \
    X(ATTN_SOFTCAP_IGNORED, ATTENTION, "desc", "attention ignores softcap")                                 \
    X(ATTN_SOFTCAP_AFTER_MASK, ATTENTION, "f32", "attention caps the scores after adding the mask (ONNX)")  \
    X(ATTN_QPOS0_IGNORED, ATTENTION, "desc", "attention ignores q_pos0 (bottom-right alignment)")           \
    X(TOPK_LARGEST_IGNORED, TOPK, "desc", "topk always takes the largest")                                  \
    X(TOPK_CONTIG_IN, TOPK, "desc", "topk assumes x's rows are contiguous (strides ignored)")               \
    X(TOPK_TIES_LAST, TOPK, "post", "topk puts the higher index first among equal values")                  \
    X(Q4_0_NIBBLES_SWAPPED, MATMUL, "f32", "matmul with q4_0 weights reads element j from the high nibble") \
    X(Q8_0_SCALE_DROPPED, COPY, "f32", "q8_0 -> f32 dequantization forgets the block scale")                \
    X(QMATMUL_B_DENSE, MATMUL, "desc", "matmul with quantized weights assumes dense [.., N, K] rows")

enum {
    XC_MUTANT_NONE = 0,
#define XC_MUTANT_ENUM(name, op, how, what) XC_MUTANT_##name,
    XC_MUTANTS(XC_MUTANT_ENUM)
#undef XC_MUTANT_ENUM
        XC_MUTANT_COUNT
};

#endif
