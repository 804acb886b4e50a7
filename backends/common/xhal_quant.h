/*
 * xhal_quant.h - block-quantized codecs, header-only, for the core, the CPU backend, the
 * formats library and the tools. The layouts are llama.cpp's (ggml-common.h), bit-exact:
 *
 *   type  elements/block  bytes/block  block layout (little-endian)
 *   q8_0        32             34       f16 d; int8 qs[32]                 x = d * q
 *   q4_0        32             18       f16 d; u8 qs[16]                   x = d * (q - 8)
 *              (element j < 16 in the low nibble of qs[j], element j + 16 in its high nibble)
 *   q4_k       256            144       f16 d; f16 dmin; u8 scales[12]; u8 qs[128]
 *              (8 sub-blocks of 32 with 6-bit scale sc and min m packed in scales[]:
 *               x = (d * sc) * q - (dmin * m); each 64 elements use 32 bytes of qs,
 *               the first 32 in the low nibbles, the next 32 in the high nibbles)
 *   q6_k       256            210       u8 ql[128]; u8 qh[64]; int8 scales[16]; f16 d
 *              (16 sub-blocks of 16 with an int8 scale: x = (d * sc) * (q - 32), q six bits:
 *               four low bits from ql, two high bits from qh)
 *
 * Blocks are read and written byte-wise (no alignment is assumed). Every arithmetic step is
 * one rounding in f32 in the reference's order (a product, then a difference: never fused),
 * so results equal ggml's reference C code and gguf-py's numpy code bit for bit; the test
 * tests/formats/test_quant.c proves it against data made by gguf-py.
 *
 * Quantization (f32 -> q8_0, q4_0) follows ggml's quantize_row_*_ref: q8_0 takes
 * d = max|x| / 127 and q = roundf(x / d) (through the f32 reciprocal, as ggml does); q4_0
 * takes the element of largest magnitude (the first one on ties) as max, d = max / -8 and
 * q = min(15, (int)(x / d + 8.5)). An all-zero block gives d = 0 and zero codes. Inputs are
 * expected finite (NaN or infinity give the same unspecified codes as in ggml).
 */
#ifndef XHAL_QUANT_H
#define XHAL_QUANT_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "xhal/plugin/xhal_half.h"

#define XHAL_QK8_0 32
#define XHAL_QK4_0 32
#define XHAL_QK_K 256
#define XHAL_Q8_0_BYTES 34
#define XHAL_Q4_0_BYTES 18
#define XHAL_Q4_K_BYTES 144
#define XHAL_Q6_K_BYTES 210

static inline float xhal_quant_rd_f16_(const unsigned char *p)
{
    return xhal_f16_to_f32((uint16_t)(p[0] | (p[1] << 8)));
}

static inline void xhal_quant_wr_f16_(unsigned char *p, float f)
{
    uint16_t h = xhal_f32_to_f16(f);
    p[0] = (unsigned char)(h & 0xffu);
    p[1] = (unsigned char)(h >> 8);
}

/* ---- q8_0 ---- */
static inline void xhal_dequant_q8_0(const void *src, float *y, int64_t nblocks)
{
    const unsigned char *b = (const unsigned char *)src;
    for (int64_t i = 0; i < nblocks; i++, b += XHAL_Q8_0_BYTES, y += XHAL_QK8_0) {
        const float d = xhal_quant_rd_f16_(b);
        for (int j = 0; j < XHAL_QK8_0; j++) y[j] = (float)(int8_t)b[2 + j] * d;
    }
}

static inline void xhal_quant_q8_0(const float *x, void *dst, int64_t nblocks)
{
    unsigned char *b = (unsigned char *)dst;
    for (int64_t i = 0; i < nblocks; i++, b += XHAL_Q8_0_BYTES, x += XHAL_QK8_0) {
        float amax = 0.0f;
        for (int j = 0; j < XHAL_QK8_0; j++) {
            const float a = fabsf(x[j]);
            if (a > amax) amax = a;
        }
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        xhal_quant_wr_f16_(b, d);
        for (int j = 0; j < XHAL_QK8_0; j++) {
            const float r = roundf(x[j] * id);
            /* in range for finite input; the clamps only keep NaN/inf defined */
            const int q = r >= 127.0f ? 127 : r >= -128.0f ? (int)r : r < 0.0f ? -128 : 0;
            b[2 + j] = (unsigned char)(int8_t)q;
        }
    }
}

/* ---- q4_0 ---- */
static inline void xhal_dequant_q4_0(const void *src, float *y, int64_t nblocks)
{
    const unsigned char *b = (const unsigned char *)src;
    for (int64_t i = 0; i < nblocks; i++, b += XHAL_Q4_0_BYTES, y += XHAL_QK4_0) {
        const float d = xhal_quant_rd_f16_(b);
        for (int j = 0; j < XHAL_QK4_0 / 2; j++) {
            const int lo = (b[2 + j] & 0x0f) - 8, hi = (b[2 + j] >> 4) - 8;
            y[j] = (float)lo * d;
            y[j + XHAL_QK4_0 / 2] = (float)hi * d;
        }
    }
}

static inline void xhal_quant_q4_0(const float *x, void *dst, int64_t nblocks)
{
    unsigned char *b = (unsigned char *)dst;
    for (int64_t i = 0; i < nblocks; i++, b += XHAL_Q4_0_BYTES, x += XHAL_QK4_0) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < XHAL_QK4_0; j++) {
            const float a = fabsf(x[j]);
            if (amax < a) {
                amax = a;
                max = x[j];
            }
        }
        const float d = max / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        xhal_quant_wr_f16_(b, d);
        for (int j = 0; j < XHAL_QK4_0 / 2; j++) {
            const float x0 = x[j] * id, x1 = x[j + XHAL_QK4_0 / 2] * id;
            const float s0 = x0 + 8.5f, s1 = x1 + 8.5f;
            /* truncation as ggml's (int8_t) cast, then min(15, .); the lower clamp and the
             * NaN case are only reachable with non-finite input */
            const int q0 = s0 >= 15.0f ? 15 : s0 >= 0.0f ? (int)s0 : 0;
            const int q1 = s1 >= 15.0f ? 15 : s1 >= 0.0f ? (int)s1 : 0;
            b[2 + j] = (unsigned char)(q0 | (q1 << 4));
        }
    }
}

/* ---- q4_k ---- */
static inline void xhal_quant_k4_scale_min_(int j, const unsigned char *q, int *sc, int *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

static inline void xhal_dequant_q4_k(const void *src, float *y, int64_t nblocks)
{
    const unsigned char *b = (const unsigned char *)src;
    for (int64_t i = 0; i < nblocks; i++, b += XHAL_Q4_K_BYTES) {
        const float d = xhal_quant_rd_f16_(b), dmin = xhal_quant_rd_f16_(b + 2);
        const unsigned char *scales = b + 4, *q = b + 16;
        for (int j = 0; j < XHAL_QK_K; j += 64, q += 32) {
            int sc, m;
            xhal_quant_k4_scale_min_(j / 32, scales, &sc, &m);
            const float d1 = d * (float)sc, m1 = dmin * (float)m;
            xhal_quant_k4_scale_min_(j / 32 + 1, scales, &sc, &m);
            const float d2 = d * (float)sc, m2 = dmin * (float)m;
            for (int l = 0; l < 32; l++) {
                const float p = d1 * (float)(q[l] & 0x0f);
                *y++ = p - m1;
            }
            for (int l = 0; l < 32; l++) {
                const float p = d2 * (float)(q[l] >> 4);
                *y++ = p - m2;
            }
        }
    }
}

/* ---- q6_k ---- */
static inline void xhal_dequant_q6_k(const void *src, float *y, int64_t nblocks)
{
    const unsigned char *b = (const unsigned char *)src;
    for (int64_t i = 0; i < nblocks; i++, b += XHAL_Q6_K_BYTES) {
        const unsigned char *ql = b, *qh = b + 128;
        const signed char *sc = (const signed char *)(b + 192);
        const float d = xhal_quant_rd_f16_(b + 208);
        for (int n = 0; n < XHAL_QK_K; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                const float s1 = d * (float)sc[is], s2 = d * (float)sc[is + 2];
                const float s3 = d * (float)sc[is + 4], s4 = d * (float)sc[is + 6];
                y[l] = s1 * (float)q1;
                y[l + 32] = s2 * (float)q2;
                y[l + 64] = s3 * (float)q3;
                y[l + 96] = s4 * (float)q4;
            }
        }
    }
}

#endif /* XHAL_QUANT_H */
