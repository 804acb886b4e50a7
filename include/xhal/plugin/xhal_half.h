/*
 * xhal/plugin/xhal_half.h - f16 / bf16 <-> f32 conversions, header-only, for the core, the CPU
 * backend and the tools. f32 -> f16/bf16 rounds to nearest, ties to even; NaN stays NaN
 * (quiet, sign kept); overflow gives infinity; f16 subnormals are exact.
 */
#ifndef XHAL_HALF_H
#define XHAL_HALF_H

#include <stdint.h>
#include <string.h>

static inline uint32_t xhal_f32_bits_(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static inline float xhal_bits_f32_(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline float xhal_bf16_to_f32(uint16_t h) { return xhal_bits_f32_((uint32_t)h << 16); }

static inline uint16_t xhal_f32_to_bf16(float f)
{
    uint32_t u = xhal_f32_bits_(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: keep sign, force quiet */
        return (uint16_t)((u >> 16) | 0x0040u);
    u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest even */
    return (uint16_t)(u >> 16);
}

static inline float xhal_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0) {
        if (man == 0) return xhal_bits_f32_(sign);
        /* subnormal: value = man * 2^-24 */
        float v = (float)man * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    if (exp == 31) return xhal_bits_f32_(sign | 0x7f800000u | (man << 13));
    return xhal_bits_f32_(sign | ((exp + 112u) << 23) | (man << 13));
}

static inline uint16_t xhal_f32_to_f16(float f)
{
    uint32_t u = xhal_f32_bits_(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu)); /* NaN */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);                       /* >= 65520 rounds to inf */
    if (a < 0x38800000u) {
        /* result is subnormal or zero: value / 2^-24, rounded to nearest even */
        if (a < 0x33000000u) return sign; /* < 2^-25: rounds to 0 */
        uint32_t exp = a >> 23;
        uint32_t man = (a & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126u - exp; /* 14..24 */
        uint32_t q = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1u);
        uint32_t half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (q & 1u))) q++;
        return (uint16_t)(sign | q);
    }
    /* normal: rebias exponent, round mantissa to 10 bits (nearest even) */
    uint32_t r = a + 0x0fffu + ((a >> 13) & 1u);
    r -= 0x38000000u; /* exponent bias 127 -> 15 */
    return (uint16_t)(sign | (r >> 13));
}

/* d rounded to f32 "to odd": exact values unchanged, inexact ones truncated toward zero
 * with the lowest mantissa bit set. Rounding that to f16/bf16 (fewer than 22 bits) equals
 * rounding d directly, so the two functions below round d once, to nearest even. */
static inline float xhal_f64_to_f32_odd(double d)
{
    float f = (float)d;
    if (d != d || (double)f == d) return f;                                  /* NaN or exact */
    if (f > 3.4028234663852886e38f || f < -3.4028234663852886e38f) return f; /* beyond f32: f16/bf16 overflow anyway */
    uint32_t u = xhal_f32_bits_(f);
    if ((f < 0 ? -(double)f : (double)f) > (d < 0 ? -d : d)) u -= 1u; /* rounded away from zero: step back */
    return xhal_bits_f32_(u | 1u);
}

static inline uint16_t xhal_f64_to_f16(double d) { return xhal_f32_to_f16(xhal_f64_to_f32_odd(d)); }
static inline uint16_t xhal_f64_to_bf16(double d) { return xhal_f32_to_bf16(xhal_f64_to_f32_odd(d)); }

#endif /* XHAL_HALF_H */
