/*
 * cpu_qdot.c - the quantized-weight kernels of cpu_qdot.h: a portable C table and, on x86-64
 * with GCC or Clang, an AVX2 + FMA + F16C table compiled through function target attributes
 * (as cpu_simd.c does), chosen at run time together with cpu_simd()'s table.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_qdot.h"
#include "cpu_simd.h"
#include "xhal/xhal.h"
#include "xhal_quant.h"

/* ------------------------------------------------------------------------- */
/* portable C                                                                 */
/* ------------------------------------------------------------------------- */
static void p_dequant(int dt, const void *w, float *y, int64_t nblk)
{
    switch (dt) {
        case XHAL_DTYPE_Q8_0: xhal_dequant_q8_0(w, y, nblk); break;
        case XHAL_DTYPE_Q4_0: xhal_dequant_q4_0(w, y, nblk); break;
        case XHAL_DTYPE_Q4_K: xhal_dequant_q4_k(w, y, nblk); break;
        case XHAL_DTYPE_Q6_K: xhal_dequant_q6_k(w, y, nblk); break;
        default: break;
    }
}

/* 32 products in 8 f32 lanes */
static float p_dot32(const float *x, const float *w)
{
    float l[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int t = 0; t < 32; t += 8)
        for (int u = 0; u < 8; u++) l[u] += x[t + u] * w[t + u];
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

static double p_dot_q8_0(const unsigned char *b, const float *x, int64_t nblk)
{
    double acc = 0.0;
    for (int64_t i = 0; i < nblk; i++, b += XHAL_Q8_0_BYTES, x += 32) {
        const signed char *q = (const signed char *)(b + 2);
        float l[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int t = 0; t < 32; t += 8)
            for (int u = 0; u < 8; u++) l[u] += (float)q[t + u] * x[t + u];
        float s = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
        acc += (double)xhal_quant_rd_f16_(b) * (double)s;
    }
    return acc;
}

static double p_dot_q4_0(const unsigned char *b, const float *x, int64_t nblk)
{
    double acc = 0.0;
    for (int64_t i = 0; i < nblk; i++, b += XHAL_Q4_0_BYTES, x += 32) {
        const unsigned char *q = b + 2;
        float l[8] = {0, 0, 0, 0, 0, 0, 0, 0}, h[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int t = 0; t < 16; t += 8)
            for (int u = 0; u < 8; u++) {
                l[u] += (float)((q[t + u] & 0x0f) - 8) * x[t + u];
                h[u] += (float)((q[t + u] >> 4) - 8) * x[16 + t + u];
            }
        float s = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7])) +
                  (((h[0] + h[1]) + (h[2] + h[3])) + ((h[4] + h[5]) + (h[6] + h[7])));
        acc += (double)xhal_quant_rd_f16_(b) * (double)s;
    }
    return acc;
}

static double p_dot(int dt, const void *w, const float *x, int64_t nblk)
{
    if (dt == XHAL_DTYPE_Q8_0) return p_dot_q8_0(w, x, nblk);
    if (dt == XHAL_DTYPE_Q4_0) return p_dot_q4_0(w, x, nblk);
    /* K-quants: one block of 256 dequantized at a time */
    const int64_t bb = dt == XHAL_DTYPE_Q4_K ? XHAL_Q4_K_BYTES : XHAL_Q6_K_BYTES;
    const unsigned char *b = w;
    float tmp[XHAL_QK_K];
    double acc = 0.0;
    for (int64_t i = 0; i < nblk; i++, b += bb, x += XHAL_QK_K) {
        p_dequant(dt, b, tmp, 1);
        for (int j = 0; j < XHAL_QK_K; j += 32) acc += (double)p_dot32(x + j, tmp + j);
    }
    return acc;
}

static double p_dot_i8(const int8_t *w, const float *x, int64_t n)
{
    double acc = 0.0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        float l[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int t = 0; t < 32; t += 8)
            for (int u = 0; u < 8; u++) l[u] += (float)w[i + t + u] * x[i + t + u];
        acc += (double)(((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7])));
    }
    for (; i < n; i++) acc += (double)w[i] * (double)x[i];
    return acc;
}

static void p_i8_to_f32(const int8_t *w, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = (float)w[i];
}

static const cpu_qdot_ops portable_ops = {"portable", p_dot, p_dequant, p_dot_i8, p_i8_to_f32};

/* ------------------------------------------------------------------------- */
/* AVX2 + FMA + F16C                                                          */
/* ------------------------------------------------------------------------- */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CPU_HAVE_AVX2_QTABLE 1
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))

/* the f16 at p (unaligned, little-endian) as f32: exact, as xhal_quant_rd_f16_ */
AVX2 static inline float h2f(const unsigned char *p) { return _cvtsh_ss((unsigned short)(p[0] | (p[1] << 8))); }

AVX2 static inline float v_hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* the 8 signed bytes at q, as f32 */
AVX2 static inline __m256 i8x8(const void *q)
{
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)q)));
}

/* the low 8 signed bytes of v, as f32 */
AVX2 static inline __m256 i8lo(__m128i v) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)); }
AVX2 static inline __m256 i8hi(__m128i v) { return i8lo(_mm_srli_si128(v, 8)); }

/* q8_0: sum q * x over the block (the scale is applied by the caller) */
AVX2 static inline __m256 blk_q8_0(const unsigned char *b, const float *x)
{
    const unsigned char *q = b + 2;
    __m256 s = _mm256_mul_ps(i8x8(q), _mm256_loadu_ps(x));
    s = _mm256_fmadd_ps(i8x8(q + 8), _mm256_loadu_ps(x + 8), s);
    s = _mm256_fmadd_ps(i8x8(q + 16), _mm256_loadu_ps(x + 16), s);
    return _mm256_fmadd_ps(i8x8(q + 24), _mm256_loadu_ps(x + 24), s);
}

/* q4_0: the 32 codes minus 8 as signed bytes, elements 0..15 in *lo and 16..31 in *hi */
AVX2 static inline void nib_q4_0(const unsigned char *b, __m128i *lo, __m128i *hi)
{
    const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(b + 2));
    const __m128i m = _mm_set1_epi8(0x0f), e = _mm_set1_epi8(8);
    *lo = _mm_sub_epi8(_mm_and_si128(v, m), e);
    *hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), m), e);
}

AVX2 static inline __m256 blk_q4_0(const unsigned char *b, const float *x)
{
    __m128i lo, hi;
    nib_q4_0(b, &lo, &hi);
    __m256 s = _mm256_mul_ps(i8lo(lo), _mm256_loadu_ps(x));
    s = _mm256_fmadd_ps(i8hi(lo), _mm256_loadu_ps(x + 8), s);
    s = _mm256_fmadd_ps(i8lo(hi), _mm256_loadu_ps(x + 16), s);
    return _mm256_fmadd_ps(i8hi(hi), _mm256_loadu_ps(x + 24), s);
}

AVX2 static double a_dot_q8_0(const unsigned char *b, const float *x, int64_t nblk)
{
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= nblk; i += 2, b += 2 * XHAL_Q8_0_BYTES, x += 64) {
        acc0 = _mm256_fmadd_ps(blk_q8_0(b, x), _mm256_set1_ps(h2f(b)), acc0);
        acc1 = _mm256_fmadd_ps(blk_q8_0(b + XHAL_Q8_0_BYTES, x + 32), _mm256_set1_ps(h2f(b + XHAL_Q8_0_BYTES)), acc1);
    }
    if (i < nblk) acc0 = _mm256_fmadd_ps(blk_q8_0(b, x), _mm256_set1_ps(h2f(b)), acc0);
    return (double)v_hsum(_mm256_add_ps(acc0, acc1));
}

AVX2 static double a_dot_q4_0(const unsigned char *b, const float *x, int64_t nblk)
{
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= nblk; i += 2, b += 2 * XHAL_Q4_0_BYTES, x += 64) {
        acc0 = _mm256_fmadd_ps(blk_q4_0(b, x), _mm256_set1_ps(h2f(b)), acc0);
        acc1 = _mm256_fmadd_ps(blk_q4_0(b + XHAL_Q4_0_BYTES, x + 32), _mm256_set1_ps(h2f(b + XHAL_Q4_0_BYTES)), acc1);
    }
    if (i < nblk) acc0 = _mm256_fmadd_ps(blk_q4_0(b, x), _mm256_set1_ps(h2f(b)), acc0);
    return (double)v_hsum(_mm256_add_ps(acc0, acc1));
}

/* q4_k: the 64 codes of sub-blocks 2j and 2j + 1 (32 bytes of qs) as unsigned bytes, the
 * first 32 in *lo, the next 32 in *hi */
AVX2 static inline void nib_q4_k(const unsigned char *q, __m256i *lo, __m256i *hi)
{
    const __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)q), m = _mm256_set1_epi8(0x0f);
    *lo = _mm256_and_si256(v, m);
    *hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m);
}

/* 8 unsigned bytes (the low 8 of v) as f32 */
AVX2 static inline __m256 u8lo(__m128i v) { return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v)); }

/* acc += x * (d1 * q - m1) over 32 elements whose codes are the 32 bytes of q: the weights
 * exactly as the reference dequantizes them (d1 * q is exact in f32, so the fused
 * multiply-subtract rounds once, as the reference's subtraction does) */
AVX2 static inline __m256 fma_k32(__m256i q, __m256 d1, __m256 m1, const float *x, __m256 acc)
{
    const __m128i a = _mm256_castsi256_si128(q), c = _mm256_extracti128_si256(q, 1);
    acc = _mm256_fmadd_ps(_mm256_loadu_ps(x), _mm256_fmsub_ps(d1, u8lo(a), m1), acc);
    acc = _mm256_fmadd_ps(_mm256_loadu_ps(x + 8), _mm256_fmsub_ps(d1, u8lo(_mm_srli_si128(a, 8)), m1), acc);
    acc = _mm256_fmadd_ps(_mm256_loadu_ps(x + 16), _mm256_fmsub_ps(d1, u8lo(c), m1), acc);
    return _mm256_fmadd_ps(_mm256_loadu_ps(x + 24), _mm256_fmsub_ps(d1, u8lo(_mm_srli_si128(c, 8)), m1), acc);
}

AVX2 static double a_dot_q4_k(const unsigned char *b, const float *x, int64_t nblk)
{
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    for (int64_t i = 0; i < nblk; i++, b += XHAL_Q4_K_BYTES) {
        const float d = h2f(b), dmin = h2f(b + 2);
        const unsigned char *q = b + 16;
        for (int j = 0; j < 4; j++, q += 32, x += 64) {
            int sc, m;
            xhal_quant_k4_scale_min_(2 * j, b + 4, &sc, &m);
            const __m256 d1 = _mm256_set1_ps(d * (float)sc), m1 = _mm256_set1_ps(dmin * (float)m);
            xhal_quant_k4_scale_min_(2 * j + 1, b + 4, &sc, &m);
            const __m256 d2 = _mm256_set1_ps(d * (float)sc), m2 = _mm256_set1_ps(dmin * (float)m);
            __m256i lo, hi;
            nib_q4_k(q, &lo, &hi);
            acc0 = fma_k32(lo, d1, m1, x, acc0);
            acc1 = fma_k32(hi, d2, m2, x + 32, acc1);
        }
    }
    return (double)v_hsum(_mm256_add_ps(acc0, acc1));
}

/* q6_k: the codes of one half-block (128 elements: 64 bytes of ql, 32 of qh) minus 32, as
 * signed bytes; g[k] holds elements 32k .. 32k + 31 */
AVX2 static inline void codes_q6_k(const unsigned char *ql, const unsigned char *qh, __m256i g[4])
{
    const __m256i l0 = _mm256_loadu_si256((const __m256i *)(const void *)ql);
    const __m256i l1 = _mm256_loadu_si256((const __m256i *)(const void *)(ql + 32));
    const __m256i h = _mm256_loadu_si256((const __m256i *)(const void *)qh);
    const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(3), o = _mm256_set1_epi8(32);
    /* (h >> s) & 3 put at bits 4..5: the 16-bit shifts never carry a set bit across a byte
     * once masked */
    const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(h, m2), 4);
    const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), m2), 4);
    const __m256i h2 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), m2), 4);
    const __m256i h3 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), m2), 4);
    g[0] = _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(l0, m4), h0), o);
    g[1] = _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(l1, m4), h1), o);
    g[2] = _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), h2), o);
    g[3] = _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), h3), o);
}

AVX2 static double a_dot_q6_k(const unsigned char *b, const float *x, int64_t nblk)
{
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    for (int64_t i = 0; i < nblk; i++, b += XHAL_Q6_K_BYTES) {
        const float d = h2f(b + 208);
        const signed char *sc = (const signed char *)(b + 192);
        for (int half = 0; half < 2; half++, sc += 8, x += 128) {
            __m256i g[4];
            codes_q6_k(b + 64 * half, b + 128 + 32 * half, g);
            for (int k = 0; k < 4; k++) {
                /* sub-blocks of 16: elements 32k .. 32k + 15 with sc[2k], the next 16 with sc[2k + 1] */
                const __m128i a = _mm256_castsi256_si128(g[k]), c = _mm256_extracti128_si256(g[k], 1);
                const float *xk = x + 32 * k;
                __m256 s0 = _mm256_mul_ps(i8lo(a), _mm256_loadu_ps(xk));
                s0 = _mm256_fmadd_ps(i8hi(a), _mm256_loadu_ps(xk + 8), s0);
                __m256 s1 = _mm256_mul_ps(i8lo(c), _mm256_loadu_ps(xk + 16));
                s1 = _mm256_fmadd_ps(i8hi(c), _mm256_loadu_ps(xk + 24), s1);
                acc0 = _mm256_fmadd_ps(s0, _mm256_set1_ps(d * (float)sc[2 * k]), acc0);
                acc1 = _mm256_fmadd_ps(s1, _mm256_set1_ps(d * (float)sc[2 * k + 1]), acc1);
            }
        }
    }
    return (double)v_hsum(_mm256_add_ps(acc0, acc1));
}

AVX2 static double a_dot(int dt, const void *w, const float *x, int64_t nblk)
{
    switch (dt) {
        case XHAL_DTYPE_Q8_0: return a_dot_q8_0(w, x, nblk);
        case XHAL_DTYPE_Q4_0: return a_dot_q4_0(w, x, nblk);
        case XHAL_DTYPE_Q4_K: return a_dot_q4_k(w, x, nblk);
        case XHAL_DTYPE_Q6_K: return a_dot_q6_k(w, x, nblk);
        default: return 0.0;
    }
}

/* Dequantization in registers; every value is one product (or one fused multiply-subtract
 * of an exact product), so the result is bit-exact with xhal_quant.h. */
AVX2 static void a_dequant(int dt, const void *w, float *y, int64_t nblk)
{
    const unsigned char *b = w;
    switch (dt) {
        case XHAL_DTYPE_Q8_0:
            for (int64_t i = 0; i < nblk; i++, b += XHAL_Q8_0_BYTES, y += 32) {
                const __m256 d = _mm256_set1_ps(h2f(b));
                for (int j = 0; j < 32; j += 8) _mm256_storeu_ps(y + j, _mm256_mul_ps(i8x8(b + 2 + j), d));
            }
            break;
        case XHAL_DTYPE_Q4_0:
            for (int64_t i = 0; i < nblk; i++, b += XHAL_Q4_0_BYTES, y += 32) {
                const __m256 d = _mm256_set1_ps(h2f(b));
                __m128i lo, hi;
                nib_q4_0(b, &lo, &hi);
                _mm256_storeu_ps(y, _mm256_mul_ps(i8lo(lo), d));
                _mm256_storeu_ps(y + 8, _mm256_mul_ps(i8hi(lo), d));
                _mm256_storeu_ps(y + 16, _mm256_mul_ps(i8lo(hi), d));
                _mm256_storeu_ps(y + 24, _mm256_mul_ps(i8hi(hi), d));
            }
            break;
        case XHAL_DTYPE_Q4_K:
            for (int64_t i = 0; i < nblk; i++, b += XHAL_Q4_K_BYTES) {
                const float d = h2f(b), dmin = h2f(b + 2);
                const unsigned char *q = b + 16;
                for (int j = 0; j < 4; j++, q += 32) {
                    __m256i g[2];
                    nib_q4_k(q, &g[0], &g[1]);
                    for (int s = 0; s < 2; s++, y += 32) {
                        int sc, m;
                        xhal_quant_k4_scale_min_(2 * j + s, b + 4, &sc, &m);
                        const __m256 d1 = _mm256_set1_ps(d * (float)sc), m1 = _mm256_set1_ps(dmin * (float)m);
                        const __m128i a = _mm256_castsi256_si128(g[s]), c = _mm256_extracti128_si256(g[s], 1);
                        _mm256_storeu_ps(y, _mm256_fmsub_ps(d1, u8lo(a), m1));
                        _mm256_storeu_ps(y + 8, _mm256_fmsub_ps(d1, u8lo(_mm_srli_si128(a, 8)), m1));
                        _mm256_storeu_ps(y + 16, _mm256_fmsub_ps(d1, u8lo(c), m1));
                        _mm256_storeu_ps(y + 24, _mm256_fmsub_ps(d1, u8lo(_mm_srli_si128(c, 8)), m1));
                    }
                }
            }
            break;
        case XHAL_DTYPE_Q6_K:
            for (int64_t i = 0; i < nblk; i++, b += XHAL_Q6_K_BYTES) {
                const float d = h2f(b + 208);
                const signed char *sc = (const signed char *)(b + 192);
                for (int half = 0; half < 2; half++, sc += 8, y += 128) {
                    __m256i g[4];
                    codes_q6_k(b + 64 * half, b + 128 + 32 * half, g);
                    for (int k = 0; k < 4; k++) {
                        const __m128i a = _mm256_castsi256_si128(g[k]), c = _mm256_extracti128_si256(g[k], 1);
                        const __m256 s0 = _mm256_set1_ps(d * (float)sc[2 * k]);
                        const __m256 s1 = _mm256_set1_ps(d * (float)sc[2 * k + 1]);
                        _mm256_storeu_ps(y + 32 * k, _mm256_mul_ps(s0, i8lo(a)));
                        _mm256_storeu_ps(y + 32 * k + 8, _mm256_mul_ps(s0, i8hi(a)));
                        _mm256_storeu_ps(y + 32 * k + 16, _mm256_mul_ps(s1, i8lo(c)));
                        _mm256_storeu_ps(y + 32 * k + 24, _mm256_mul_ps(s1, i8hi(c)));
                    }
                }
            }
            break;
        default: break;
    }
}

AVX2 static double a_dot_i8(const int8_t *w, const float *x, int64_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(i8x8(w + i), _mm256_loadu_ps(x + i), s0);
        s1 = _mm256_fmadd_ps(i8x8(w + i + 8), _mm256_loadu_ps(x + i + 8), s1);
        s2 = _mm256_fmadd_ps(i8x8(w + i + 16), _mm256_loadu_ps(x + i + 16), s2);
        s3 = _mm256_fmadd_ps(i8x8(w + i + 24), _mm256_loadu_ps(x + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(i8x8(w + i), _mm256_loadu_ps(x + i), s0);
    double acc = (double)v_hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) acc += (double)w[i] * (double)x[i];
    return acc;
}

AVX2 static void a_i8_to_f32(const int8_t *w, float *y, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, i8x8(w + i));
    for (; i < n; i++) y[i] = (float)w[i];
}

static const cpu_qdot_ops avx2_ops = {"avx2", a_dot, a_dequant, a_dot_i8, a_i8_to_f32};

/* AVX-512F (+BW for the byte ops): the decode dots of q8_0 and q4_0 with 16 lanes, half the
 * instructions per weight of the AVX2 ones; everything else is the AVX2 table's. */
#define AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw")))

/* the 16 signed bytes of v as f32 */
AVX512 static inline __m512 z_i8x16(__m128i v) { return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(v)); }

/* the block's f16 scale, broadcast */
AVX512 static inline __m512 z_scale(const unsigned char *b)
{
    return _mm512_set1_ps(_cvtsh_ss((unsigned short)(b[0] | (b[1] << 8))));
}

AVX512 static double z_dot_q8_0(const unsigned char *b, const float *x, int64_t nblk)
{
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    for (int64_t i = 0; i < nblk; i++, b += XHAL_Q8_0_BYTES, x += 32) {
        const __m128i *q = (const __m128i *)(const void *)(b + 2);
        __m512 s = _mm512_mul_ps(z_i8x16(_mm_loadu_si128(q)), _mm512_loadu_ps(x));
        s = _mm512_fmadd_ps(z_i8x16(_mm_loadu_si128(q + 1)), _mm512_loadu_ps(x + 16), s);
        if (i & 1)
            acc1 = _mm512_fmadd_ps(s, z_scale(b), acc1);
        else
            acc0 = _mm512_fmadd_ps(s, z_scale(b), acc0);
    }
    return (double)_mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

AVX512 static double z_dot_q4_0(const unsigned char *b, const float *x, int64_t nblk)
{
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    const __m128i m = _mm_set1_epi8(0x0f), e = _mm_set1_epi8(8);
    for (int64_t i = 0; i < nblk; i++, b += XHAL_Q4_0_BYTES, x += 32) {
        const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(b + 2));
        const __m128i lo = _mm_sub_epi8(_mm_and_si128(v, m), e);
        const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), m), e);
        __m512 s = _mm512_mul_ps(z_i8x16(lo), _mm512_loadu_ps(x));
        s = _mm512_fmadd_ps(z_i8x16(hi), _mm512_loadu_ps(x + 16), s);
        if (i & 1)
            acc1 = _mm512_fmadd_ps(s, z_scale(b), acc1);
        else
            acc0 = _mm512_fmadd_ps(s, z_scale(b), acc0);
    }
    return (double)_mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

AVX512 static double z_dot(int dt, const void *w, const float *x, int64_t nblk)
{
    if (dt == XHAL_DTYPE_Q8_0) return z_dot_q8_0(w, x, nblk);
    if (dt == XHAL_DTYPE_Q4_0) return z_dot_q4_0(w, x, nblk);
    return a_dot(dt, w, x, nblk);
}

static const cpu_qdot_ops avx512_ops = {"avx512", z_dot, a_dequant, a_dot_i8, a_i8_to_f32};
#endif

/* ------------------------------------------------------------------------- */
/* choice: the AVX2 table exactly when cpu_simd() chose its AVX2 table (the same CPU checks
 * and the same XHAL_CPU_ISA override)                                        */
/* ------------------------------------------------------------------------- */
static const cpu_qdot_ops *chosen = &portable_ops;
static pthread_once_t choose_once = PTHREAD_ONCE_INIT;

static void choose(void)
{
#ifdef CPU_HAVE_AVX2_QTABLE
    if (strcmp(cpu_simd()->isa, "avx2") != 0) return;
    chosen = &avx2_ops;
    const char *force = getenv("XHAL_CPU_ISA");
    if (force && strcmp(force, "avx2") == 0) return;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")) chosen = &avx512_ops;
#endif
}

const cpu_qdot_ops *cpu_qdot(void)
{
    pthread_once(&choose_once, choose);
    return chosen;
}
