/*
 * cpu_qdot.h - dot products and dequantization of block-quantized weights (q8_0, q4_0, q4_k,
 * q6_k; layouts in backends/common/xhal_quant.h) against f32 activations, for the quantized
 * matmul of cpu_quant.c (not installed).
 *
 * One table is chosen once, at the first call of cpu_qdot(): "avx512" (the q8_0 and q4_0
 * decode dots with AVX-512F/BW, the rest as "avx2") when the CPU has AVX-512F and AVX-512BW,
 * "avx2" (AVX2 + FMA + F16C through target attributes) when cpu_simd() chose its AVX2 table,
 * else "portable" (plain C). XHAL_CPU_ISA=portable forces the portable one, XHAL_CPU_ISA=avx2
 * keeps AVX2 on a CPU with AVX-512 (to compare, or to test both).
 *
 * Arithmetic: the activations stay f32 (they are never quantized), so the product is the one
 * with the dequantized weights up to the f32 accumulation (OPS.md's accumulate class). The
 * weights' scale is exact in f32 for every type (an f16 times an integer of at most 8 bits),
 * so q8_0, q4_0 and q6_k sum q * x per block (q6_k: per sub-block of 16) and multiply by the
 * scale once; q4_k, whose value is d1 * q - m1, is dequantized exactly in registers first (a
 * factored form would cancel). The AVX2 table keeps f32 vector partial sums over the whole
 * row; the portable one sums each block in f32 and the blocks in double.
 */
#ifndef XHAL_CPU_QDOT_H
#define XHAL_CPU_QDOT_H

#include <stdint.h>

typedef struct cpu_qdot_ops {
    const char *isa; /* "avx512", "avx2" or "portable" */
    /* sum_i x[i] * w[i] over nblk blocks of dtype dt at w (x: nblk * block_size floats);
     * dt is one of XHAL_DTYPE_Q8_0, Q4_0, Q4_K, Q6_K */
    double (*dot)(int dt, const void *w, const float *x, int64_t nblk);
    /* y[i] = the dequantized w[i], bit-exact with xhal_quant.h's xhal_dequant_* */
    void (*dequant)(int dt, const void *w, float *y, int64_t nblk);
    /* sum_i x[i] * w[i] over n int8 weights (per-channel int8: the scale is the caller's) */
    double (*dot_i8)(const int8_t *w, const float *x, int64_t n);
    /* y[i] = w[i] as f32 */
    void (*i8_to_f32)(const int8_t *w, float *y, int64_t n);
} cpu_qdot_ops;

/* The table for this CPU; never NULL, thread-safe. */
const cpu_qdot_ops *cpu_qdot(void);

#endif /* XHAL_CPU_QDOT_H */
