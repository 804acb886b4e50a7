/*
 * cpu_simd.c - the vector kernels of cpu_simd.h: a portable C table and, on x86-64 with
 * GCC or Clang, an AVX2 + FMA + F16C table compiled through function target attributes
 * and chosen at run time with __builtin_cpu_supports, so the build needs no -m flag and
 * the plugin still runs on a CPU without AVX2.
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_simd.h"
#include "xhal/xhal.h"
#include "xhal/plugin/xhal_half.h"

/* ------------------------------------------------------------------------- */
/* portable C                                                                 */
/* ------------------------------------------------------------------------- */
static inline float ld1(int dt, const void *p, int64_t i)
{
    if (dt == XHAL_DTYPE_F16) return xhal_f16_to_f32(((const uint16_t *)p)[i]);
    if (dt == XHAL_DTYPE_BF16) return xhal_bf16_to_f32(((const uint16_t *)p)[i]);
    return ((const float *)p)[i];
}

static void p_load(int dt, const void *src, float *dst, int64_t n)
{
    if (dt == XHAL_DTYPE_F32) {
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    }
    for (int64_t i = 0; i < n; i++) dst[i] = ld1(dt, src, i);
}

static void p_store(int dt, void *dst, const float *src, int64_t n)
{
    if (dt == XHAL_DTYPE_F16) {
        uint16_t *d = dst;
        for (int64_t i = 0; i < n; i++) d[i] = xhal_f32_to_f16(src[i]);
    } else if (dt == XHAL_DTYPE_BF16) {
        uint16_t *d = dst;
        for (int64_t i = 0; i < n; i++) d[i] = xhal_f32_to_bf16(src[i]);
    } else {
        memcpy(dst, src, (size_t)n * sizeof(float));
    }
}

static float p_dot(int wdt, const float *x, const void *w, int64_t n)
{
    float s[4] = {0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int j = 0; j < 4; j++) s[j] += x[i + j] * ld1(wdt, w, i + j);
    for (; i < n; i++) s[0] += x[i] * ld1(wdt, w, i);
    return (s[0] + s[1]) + (s[2] + s[3]);
}

static void p_dot4(int wdt, const float *x, const void *w, int64_t ldw, int64_t n, float out[4])
{
    for (int r = 0; r < 4; r++) out[r] = p_dot(wdt, x, (const unsigned char *)w + r * ldw, n);
}

static void p_axpy(int wdt, int nr, const float *a, const void *w, int64_t ldw, float *y, int64_t n)
{
    for (int r = 0; r < nr; r++) {
        const void *wr = (const unsigned char *)w + r * ldw;
        float ar = a[r];
        for (int64_t i = 0; i < n; i++) y[i] += ar * ld1(wdt, wr, i);
    }
}

static float p_max(const float *v, int64_t n)
{
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (v[i] > m) m = v[i];
    return m;
}

static double p_exp_sum(float *v, int64_t n, float sub)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        v[i] = expf(v[i] - sub);
        s += v[i];
    }
    return s;
}

static void p_scale(float *v, int64_t n, float s)
{
    for (int64_t i = 0; i < n; i++) v[i] *= s;
}

static double p_sum(const float *v, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += v[i];
    return s;
}

static double p_sumsq(const float *v, int64_t n, float c)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double t = (double)v[i] - c;
        s += t * t;
    }
    return s;
}

static void p_norm(float *v, int64_t n, float c, float inv, const float *w, const float *b)
{
    for (int64_t i = 0; i < n; i++) {
        float y = (v[i] - c) * inv;
        if (w) y *= w[i];
        if (b) y += b[i];
        v[i] = y;
    }
}

static void p_silu(float *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float x = v[i], e = expf(-fabsf(x));
        float s = x >= 0 ? 1.0f / (1.0f + e) : e / (1.0f + e);
        v[i] = x * s;
    }
}

static const cpu_simd_ops portable_ops = {
    "portable", p_load, p_store, p_dot, p_dot4, p_axpy, p_max, p_exp_sum, p_scale, p_sum, p_sumsq, p_norm, p_silu,
};

/* ------------------------------------------------------------------------- */
/* AVX2 + FMA + F16C                                                          */
/* ------------------------------------------------------------------------- */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CPU_HAVE_AVX2_TABLE 1
#include <cpuid.h>
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))

/* 8 elements of dt at p + i as f32 */
AVX2 static inline __m256 v_ld(int dt, const void *p, int64_t i)
{
    if (dt == XHAL_DTYPE_F16)
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)((const uint16_t *)p + i)));
    if (dt == XHAL_DTYPE_BF16) {
        __m128i h = _mm_loadu_si128((const __m128i *)(const void *)((const uint16_t *)p + i));
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
    return _mm256_loadu_ps((const float *)p + i);
}

AVX2 static inline float v_hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* 8 floats added into two double accumulators */
AVX2 static inline void v_accd(__m256d *lo, __m256d *hi, __m256 v)
{
    *lo = _mm256_add_pd(*lo, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
    *hi = _mm256_add_pd(*hi, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}

AVX2 static inline double v_hsumd(__m256d v)
{
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

AVX2 static void a_load(int dt, const void *src, float *dst, int64_t n)
{
    int64_t i = 0;
    if (dt != XHAL_DTYPE_F32)
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, v_ld(dt, src, i));
    for (; i < n; i++) dst[i] = ld1(dt, src, i);
}

AVX2 static void a_store(int dt, void *dst, const float *src, int64_t n)
{
    int64_t i = 0;
    if (dt == XHAL_DTYPE_F16) {
        uint16_t *d = dst;
        for (; i + 8 <= n; i += 8)
            _mm_storeu_si128((__m128i *)(void *)(d + i),
                             _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
        for (; i < n; i++) d[i] = xhal_f32_to_f16(src[i]);
        return;
    }
    p_store(dt, dst, src, n);
}

AVX2 static float a_dot(int wdt, const float *x, const void *w, int64_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), v_ld(wdt, w, i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), v_ld(wdt, w, i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), v_ld(wdt, w, i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), v_ld(wdt, w, i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), v_ld(wdt, w, i), s0);
    float s = v_hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) s += x[i] * ld1(wdt, w, i);
    return s;
}

AVX2 static void a_dot4(int wdt, const float *x, const void *w, int64_t ldw, int64_t n, float out[4])
{
    const unsigned char *w0 = w, *w1 = w0 + ldw, *w2 = w1 + ldw, *w3 = w2 + ldw;
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
    __m256 t0 = _mm256_setzero_ps(), t1 = _mm256_setzero_ps(), t2 = _mm256_setzero_ps(), t3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 xa = _mm256_loadu_ps(x + i), xb = _mm256_loadu_ps(x + i + 8);
        s0 = _mm256_fmadd_ps(xa, v_ld(wdt, w0, i), s0);
        s1 = _mm256_fmadd_ps(xa, v_ld(wdt, w1, i), s1);
        s2 = _mm256_fmadd_ps(xa, v_ld(wdt, w2, i), s2);
        s3 = _mm256_fmadd_ps(xa, v_ld(wdt, w3, i), s3);
        t0 = _mm256_fmadd_ps(xb, v_ld(wdt, w0, i + 8), t0);
        t1 = _mm256_fmadd_ps(xb, v_ld(wdt, w1, i + 8), t1);
        t2 = _mm256_fmadd_ps(xb, v_ld(wdt, w2, i + 8), t2);
        t3 = _mm256_fmadd_ps(xb, v_ld(wdt, w3, i + 8), t3);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 xa = _mm256_loadu_ps(x + i);
        s0 = _mm256_fmadd_ps(xa, v_ld(wdt, w0, i), s0);
        s1 = _mm256_fmadd_ps(xa, v_ld(wdt, w1, i), s1);
        s2 = _mm256_fmadd_ps(xa, v_ld(wdt, w2, i), s2);
        s3 = _mm256_fmadd_ps(xa, v_ld(wdt, w3, i), s3);
    }
    out[0] = v_hsum(_mm256_add_ps(s0, t0));
    out[1] = v_hsum(_mm256_add_ps(s1, t1));
    out[2] = v_hsum(_mm256_add_ps(s2, t2));
    out[3] = v_hsum(_mm256_add_ps(s3, t3));
    for (; i < n; i++) {
        out[0] += x[i] * ld1(wdt, w0, i);
        out[1] += x[i] * ld1(wdt, w1, i);
        out[2] += x[i] * ld1(wdt, w2, i);
        out[3] += x[i] * ld1(wdt, w3, i);
    }
}

AVX2 static void a_axpy(int wdt, int nr, const float *a, const void *w, int64_t ldw, float *y, int64_t n)
{
    const unsigned char *w0 = w, *w1 = w0 + ldw, *w2 = w1 + ldw, *w3 = w2 + ldw;
    int64_t i = 0;
    if (nr == 4) {
        __m256 a0 = _mm256_set1_ps(a[0]), a1 = _mm256_set1_ps(a[1]), a2 = _mm256_set1_ps(a[2]),
               a3 = _mm256_set1_ps(a[3]);
        for (; i + 8 <= n; i += 8) {
            __m256 acc = _mm256_loadu_ps(y + i);
            acc = _mm256_fmadd_ps(a0, v_ld(wdt, w0, i), acc);
            acc = _mm256_fmadd_ps(a1, v_ld(wdt, w1, i), acc);
            acc = _mm256_fmadd_ps(a2, v_ld(wdt, w2, i), acc);
            acc = _mm256_fmadd_ps(a3, v_ld(wdt, w3, i), acc);
            _mm256_storeu_ps(y + i, acc);
        }
        for (; i < n; i++)
            y[i] += a[0] * ld1(wdt, w0, i) + a[1] * ld1(wdt, w1, i) + a[2] * ld1(wdt, w2, i) + a[3] * ld1(wdt, w3, i);
        return;
    }
    for (int r = 0; r < nr; r++) {
        const unsigned char *wr = w0 + r * ldw;
        __m256 ar = _mm256_set1_ps(a[r]);
        for (i = 0; i + 8 <= n; i += 8)
            _mm256_storeu_ps(y + i, _mm256_fmadd_ps(ar, v_ld(wdt, wr, i), _mm256_loadu_ps(y + i)));
        for (; i < n; i++) y[i] += a[r] * ld1(wdt, wr, i);
    }
}

AVX2 static float a_max(const float *v, int64_t n)
{
    /* _mm256_max_ps(x, m) returns m where x is NaN: NaN is skipped */
    __m256 m0 = _mm256_set1_ps(-INFINITY), m1 = m0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        m0 = _mm256_max_ps(_mm256_loadu_ps(v + i), m0);
        m1 = _mm256_max_ps(_mm256_loadu_ps(v + i + 8), m1);
    }
    for (; i + 8 <= n; i += 8) m0 = _mm256_max_ps(_mm256_loadu_ps(v + i), m0);
    m0 = _mm256_max_ps(m0, m1);
    float t[8];
    _mm256_storeu_ps(t, m0);
    float m = -INFINITY;
    for (int j = 0; j < 8; j++)
        if (t[j] > m) m = t[j];
    for (; i < n; i++)
        if (v[i] > m) m = v[i];
    return m;
}

/* e^x for 8 lanes: x = k ln2 + r, |r| <= ln2/2, e^r by a degree-7 polynomial (Taylor
 * coefficients: the truncation error is below 2^-27 on that range), 2^k put into the exponent. Lanes
 * below -87.3 (where e^x nears the smallest normal) give 0; NaN stays NaN (max/min return
 * their second operand for a NaN, so the clamps keep it). */
AVX2 static inline __m256 v_exp(__m256 x)
{
    const __m256 lo = _mm256_set1_ps(-87.33654f), hi = _mm256_set1_ps(88.37626f);
    __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    __m256 xc = _mm256_max_ps(lo, x);
    xc = _mm256_min_ps(hi, xc);
    __m256 k = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), xc);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    /* k in [-126, 128): 2^k as (k + 127) << 23; k = 128 (x near the top) splits in two */
    __m256i ki = _mm256_cvtps_epi32(k);
    __m256i k1 = _mm256_srai_epi32(ki, 1), k2 = _mm256_sub_epi32(ki, k1);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k1, _mm256_set1_epi32(127)), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k2, _mm256_set1_epi32(127)), 23));
    __m256 y = _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
    /* NaN lanes: k is NaN and its integer conversion garbage, but p is NaN too */
    return _mm256_andnot_ps(under, y);
}

AVX2 static double a_exp_sum(float *v, int64_t n, float sub)
{
    __m256 s = _mm256_set1_ps(sub);
    __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = v_exp(_mm256_sub_ps(_mm256_loadu_ps(v + i), s));
        _mm256_storeu_ps(v + i, e);
        v_accd(&lo, &hi, e);
    }
    double t = v_hsumd(_mm256_add_pd(lo, hi));
    if (i < n) {
        /* the tail through the same polynomial, padded with -inf (which gives 0) */
        float buf[8];
        int64_t m = n - i;
        for (int j = 0; j < 8; j++) buf[j] = j < m ? v[i + j] - sub : -INFINITY;
        _mm256_storeu_ps(buf, v_exp(_mm256_loadu_ps(buf)));
        for (int64_t j = 0; j < m; j++) {
            v[i + j] = buf[j];
            t += buf[j];
        }
    }
    return t;
}

AVX2 static void a_scale(float *v, int64_t n, float s)
{
    __m256 f = _mm256_set1_ps(s);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(v + i, _mm256_mul_ps(_mm256_loadu_ps(v + i), f));
    for (; i < n; i++) v[i] *= s;
}

AVX2 static double a_sum(const float *v, int64_t n)
{
    __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) v_accd(&lo, &hi, _mm256_loadu_ps(v + i));
    double t = v_hsumd(_mm256_add_pd(lo, hi));
    for (; i < n; i++) t += v[i];
    return t;
}

AVX2 static double a_sumsq(const float *v, int64_t n, float c)
{
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd();
    __m256d cd = _mm256_set1_pd((double)c);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(v + i);
        __m256d l = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(x)), cd);
        __m256d h = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)), cd);
        a0 = _mm256_fmadd_pd(l, l, a0);
        a1 = _mm256_fmadd_pd(h, h, a1);
    }
    double t = v_hsumd(_mm256_add_pd(a0, a1));
    for (; i < n; i++) {
        double d = (double)v[i] - c;
        t += d * d;
    }
    return t;
}

AVX2 static void a_norm(float *v, int64_t n, float c, float inv, const float *w, const float *b)
{
    __m256 cv = _mm256_set1_ps(c), iv = _mm256_set1_ps(inv);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 y = _mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(v + i), cv), iv);
        if (w) y = _mm256_mul_ps(y, _mm256_loadu_ps(w + i));
        if (b) y = _mm256_add_ps(y, _mm256_loadu_ps(b + i));
        _mm256_storeu_ps(v + i, y);
    }
    p_norm(v + i, n - i, c, inv, w ? w + i : NULL, b ? b + i : NULL);
}

AVX2 static void a_silu(float *v, int64_t n)
{
    const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(v + i);
        __m256 e = v_exp(_mm256_or_ps(x, sign)); /* exp(-|x|) */
        __m256 r = _mm256_div_ps(one, _mm256_add_ps(one, e));
        __m256 neg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
        __m256 s = _mm256_blendv_ps(r, _mm256_mul_ps(e, r), neg); /* x < 0: e / (1 + e) */
        _mm256_storeu_ps(v + i, _mm256_mul_ps(x, s));
    }
    p_silu(v + i, n - i);
}

static const cpu_simd_ops avx2_ops = {
    "avx2", a_load, a_store, a_dot, a_dot4, a_axpy, a_max, a_exp_sum, a_scale, a_sum, a_sumsq, a_norm, a_silu,
};
#endif

/* ------------------------------------------------------------------------- */
/* choice                                                                     */
/* ------------------------------------------------------------------------- */
static const cpu_simd_ops *chosen = &portable_ops;
static pthread_once_t choose_once = PTHREAD_ONCE_INIT;

static void choose(void)
{
    const char *force = getenv("XHAL_CPU_ISA");
    if (force && strcmp(force, "portable") == 0) return;
#ifdef CPU_HAVE_AVX2_TABLE
    __builtin_cpu_init();
    /* F16C: CPUID leaf 1, ECX bit 29 (Clang's __builtin_cpu_supports does not know "f16c") */
    unsigned int a = 0, b = 0, c = 0, d = 0;
    int f16c = __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29)) != 0;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c) chosen = &avx2_ops;
#endif
}

const cpu_simd_ops *cpu_simd(void)
{
    pthread_once(&choose_once, choose);
    return chosen;
}
