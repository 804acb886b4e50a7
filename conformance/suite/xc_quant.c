/* xc_quant.c - the suite's own codec of the block-quantized dtypes (q8_0, q4_0, q4_k, q6_k:
 * llama.cpp's layouts, ggml-common.h), written from the layout, independently of
 * backends/common/xhal_quant.h: the judge does not share code with what it judges.
 *
 * Decoding follows llama.cpp's reference C code step by step in f32 (every product and
 * difference rounded once, never fused), so the values are the exact f32 results that
 * `copy` to f32 must give. Quantization (f32 -> q8_0 / q4_0) follows quantize_row_*_ref.
 * Random blocks cover the whole code range, both signs of the scale, f16 subnormal
 * scales and zero scales. */
#include "xc_conform.h"

#include <math.h>
#include <string.h>

int xc_dtype_block(xhal_dtype dt, int *block_size, int *block_bytes)
{
    int bs = 0, bb = 0;
    switch (dt) {
        case XHAL_DTYPE_Q8_0:
            bs = 32;
            bb = 34;
            break;
        case XHAL_DTYPE_Q4_0:
            bs = 32;
            bb = 18;
            break;
        case XHAL_DTYPE_Q4_K:
            bs = 256;
            bb = 144;
            break;
        case XHAL_DTYPE_Q6_K:
            bs = 256;
            bb = 210;
            break;
        default: return 0;
    }
    if (block_size) *block_size = bs;
    if (block_bytes) *block_bytes = bb;
    return 1;
}

static float h2f(const uint8_t *p) { return (float)xc_f16_to_f64((uint16_t)(p[0] | (p[1] << 8))); }

static void f2h(uint8_t *p, float f)
{
    uint16_t h = xc_f64_to_f16((double)f); /* float -> double is exact: one rounding */
    p[0] = (uint8_t)(h & 0xffu);
    p[1] = (uint8_t)(h >> 8);
}

/* 6-bit scale and min of sub-block j (0..7) of a q4_k super-block (get_scale_min_k4). */
static void k4_scale_min(int j, const uint8_t *q, int *sc, int *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

static void decode_one(xhal_dtype dt, const uint8_t *b, double *y)
{
    switch (dt) {
        case XHAL_DTYPE_Q8_0: {
            const float d = h2f(b);
            for (int j = 0; j < 32; j++) {
                const float v = (float)(int8_t)b[2 + j] * d;
                y[j] = v;
            }
            break;
        }
        case XHAL_DTYPE_Q4_0: {
            const float d = h2f(b);
            for (int j = 0; j < 16; j++) {
                const float lo = (float)((b[2 + j] & 0xF) - 8) * d;
                const float hi = (float)((b[2 + j] >> 4) - 8) * d;
                y[j] = lo;
                y[j + 16] = hi;
            }
            break;
        }
        case XHAL_DTYPE_Q4_K: {
            const float d = h2f(b), dmin = h2f(b + 2);
            const uint8_t *scales = b + 4, *q = b + 16;
            int is = 0;
            for (int j = 0; j < 256; j += 64, q += 32, is += 2) {
                int sc, m;
                k4_scale_min(is, scales, &sc, &m);
                const float d1 = d * (float)sc, m1 = dmin * (float)m;
                k4_scale_min(is + 1, scales, &sc, &m);
                const float d2 = d * (float)sc, m2 = dmin * (float)m;
                for (int l = 0; l < 32; l++) {
                    volatile float p = d1 * (float)(q[l] & 0xF); /* rounded before the difference */
                    const float v = p - m1;
                    y[j + l] = v;
                }
                for (int l = 0; l < 32; l++) {
                    volatile float p = d2 * (float)(q[l] >> 4);
                    const float v = p - m2;
                    y[j + 32 + l] = v;
                }
            }
            break;
        }
        case XHAL_DTYPE_Q6_K: {
            const uint8_t *ql = b, *qh = b + 128;
            const int8_t *sc = (const int8_t *)(b + 192);
            const float d = h2f(b + 208);
            for (int n = 0; n < 256; n += 128, ql += 64, qh += 32, sc += 8) {
                for (int l = 0; l < 32; l++) {
                    const int is = l / 16;
                    const int q1 = (int)((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                    const int q2 = (int)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                    const int q3 = (int)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                    const int q4 = (int)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                    const float s1 = d * (float)sc[is], s2 = d * (float)sc[is + 2];
                    const float s3 = d * (float)sc[is + 4], s4 = d * (float)sc[is + 6];
                    const float v1 = s1 * (float)q1, v2 = s2 * (float)q2, v3 = s3 * (float)q3, v4 = s4 * (float)q4;
                    y[n + l] = v1;
                    y[n + l + 32] = v2;
                    y[n + l + 64] = v3;
                    y[n + l + 96] = v4;
                }
            }
            break;
        }
        default: break;
    }
}

void xc_block_decode(xhal_dtype dt, const void *src, int64_t nblocks, double *v)
{
    int bs, bb;
    if (!xc_dtype_block(dt, &bs, &bb)) return;
    const uint8_t *p = src;
    for (int64_t i = 0; i < nblocks; i++) decode_one(dt, p + i * bb, v + i * bs);
}

int xc_block_quantize(xhal_dtype dt, const double *x, int64_t nblocks, void *dst)
{
    uint8_t *b = dst;
    if (dt == XHAL_DTYPE_Q8_0) {
        for (int64_t i = 0; i < nblocks; i++, b += 34, x += 32) {
            float amax = 0.0f;
            for (int j = 0; j < 32; j++) {
                const float a = fabsf((float)x[j]);
                if (a > amax) amax = a;
            }
            const float d = amax / 127.0f;
            const float id = d != 0.0f ? 1.0f / d : 0.0f;
            f2h(b, d);
            for (int j = 0; j < 32; j++) {
                const float s = (float)x[j] * id;
                b[2 + j] = (uint8_t)(int8_t)(int)roundf(s); /* |s| <= 127 for finite input */
            }
        }
        return 0;
    }
    if (dt == XHAL_DTYPE_Q4_0) {
        for (int64_t i = 0; i < nblocks; i++, b += 18, x += 32) {
            float amax = 0.0f, max = 0.0f;
            for (int j = 0; j < 32; j++) {
                const float a = fabsf((float)x[j]);
                if (amax < a) { /* the first element of largest magnitude */
                    amax = a;
                    max = (float)x[j];
                }
            }
            const float d = max / -8.0f;
            const float id = d != 0.0f ? 1.0f / d : 0.0f;
            f2h(b, d);
            for (int j = 0; j < 16; j++) {
                const float x0 = (float)x[j] * id, x1 = (float)x[j + 16] * id;
                const float s0 = x0 + 8.5f, s1 = x1 + 8.5f;
                int q0 = (int)s0, q1 = (int)s1; /* truncation, as ggml's (int8_t) cast */
                if (q0 > 15) q0 = 15;
                if (q1 > 15) q1 = 15;
                b[2 + j] = (uint8_t)(q0 | (q1 << 4));
            }
        }
        return 0;
    }
    return -1;
}

/* An f16 scale: mostly of magnitude [lo, 2 lo), sometimes zero or subnormal. */
static void rand_scale(xc_rng *r, uint8_t *p, float lo, int signed_, int64_t i)
{
    uint16_t h;
    if (i % 11 == 5)
        h = 0; /* a zero scale: every value 0 (or -0 from a negative min) */
    else if (i % 7 == 3)
        h = (uint16_t)(1 + xc_rng_next(r) % 0x3ff); /* f16 subnormal */
    else
        h = xc_f64_to_f16(xc_rng_uniform(r, lo, 2 * lo));
    if (signed_ && (xc_rng_next(r) & 1)) h |= 0x8000u;
    p[0] = (uint8_t)(h & 0xffu);
    p[1] = (uint8_t)(h >> 8);
}

void xc_block_random(xhal_dtype dt, xc_rng *r, int64_t nblocks, void *dst)
{
    int bs, bb;
    if (!xc_dtype_block(dt, &bs, &bb)) return;
    uint8_t *b = dst;
    for (int64_t i = 0; i < nblocks; i++, b += bb) {
        for (int k = 0; k < bb; k++) b[k] = (uint8_t)xc_rng_next(r); /* codes: every bit pattern */
        switch (dt) {
            case XHAL_DTYPE_Q8_0: rand_scale(r, b, 1.0f / 128, 1, i); break; /* values ~ +-1 */
            case XHAL_DTYPE_Q4_0: rand_scale(r, b, 1.0f / 8, 1, i); break;   /* values ~ +-1 */
            case XHAL_DTYPE_Q4_K:                                            /* d sc q - dmin m */
                rand_scale(r, b, 1.0f / 512, 0, i);                          /* d */
                rand_scale(r, b + 2, 1.0f / 1024, 0, i + 1);                 /* dmin */
                break;
            case XHAL_DTYPE_Q6_K: rand_scale(r, b + 208, 1.0f / 2048, 1, i); break; /* d sc (q - 32) */
            default: break;
        }
    }
}
