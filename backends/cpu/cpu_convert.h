/*
 * cpu_convert.h - element conversions of the CPU backend, following xhal_copy's rules:
 * floats to f16/bf16/f32 round to nearest even (exactly once: a double is first rounded
 * to f32 "to odd", which makes the second rounding to f16/bf16 correct); floats to
 * integers truncate toward zero and saturate, NaN gives 0; integers to integers
 * saturate; integers to floats round to nearest even.
 *
 * Tiles: float ops load up to CPU_TILE elements into doubles, compute, and store them
 * back; integer ops do the same with int64_t and wrap on store (two's complement).
 */
#ifndef XHAL_CPU_CONVERT_H
#define XHAL_CPU_CONVERT_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "xhal/xhal.h"
#include "xhal/plugin/xhal_half.h"

#define CPU_TILE 256

static inline int cpu_is_float(int dt)
{
    return dt == XHAL_DTYPE_F32 || dt == XHAL_DTYPE_F16 || dt == XHAL_DTYPE_BF16 || dt == XHAL_DTYPE_F64;
}
static inline int cpu_is_int(int dt)
{
    return dt == XHAL_DTYPE_I8 || dt == XHAL_DTYPE_U8 || dt == XHAL_DTYPE_I32 || dt == XHAL_DTYPE_I64;
}

/* f64 -> f16/bf16 with one rounding (through f32 rounded "to odd": xhal_half.h). */
static inline uint16_t cpu_f64_to_f16(double d) { return xhal_f64_to_f16(d); }
static inline uint16_t cpu_f64_to_bf16(double d) { return xhal_f64_to_bf16(d); }

/* int64 to double rounded to odd (then any narrower rounding is correct). */
static inline double cpu_i64_to_f64_odd(int64_t v)
{
    double d = (double)v;
    if (v > -9007199254740992LL && v < 9007199254740992LL) return d; /* |v| < 2^53: exact */
    int above;                                                       /* d > v ? */
    if (d >= 9223372036854775808.0) {
        above = 1; /* d == 2^63 > any int64 */
    } else {
        int64_t back = (int64_t)d;
        if (back == v) return d;
        above = back > v;
    }
    int neg = v < 0;
    /* move toward zero if d is farther from zero than v */
    if ((above && !neg) || (!above && neg)) d = nextafter(d, 0.0);
    uint64_t u;
    memcpy(&u, &d, 8);
    u |= 1u;
    memcpy(&d, &u, 8);
    return d;
}

static inline int64_t cpu_f64_to_i64_sat(double d, int64_t lo, int64_t hi)
{
    if (isnan(d)) return 0;
    if (d >= (double)hi) return hi; /* (double)INT64_MAX is 2^63: >= catches the top */
    if (d <= (double)lo) return lo;
    return (int64_t)d;
}

static inline void cpu_int_range(int dt, int64_t *lo, int64_t *hi)
{
    switch (dt) {
        case XHAL_DTYPE_I8:
            *lo = INT8_MIN;
            *hi = INT8_MAX;
            break;
        case XHAL_DTYPE_U8:
            *lo = 0;
            *hi = UINT8_MAX;
            break;
        case XHAL_DTYPE_I32:
            *lo = INT32_MIN;
            *hi = INT32_MAX;
            break;
        default:
            *lo = INT64_MIN;
            *hi = INT64_MAX;
            break;
    }
}

/* ---- scalar load / store ---- */
static inline double cpu_load_f64(int dt, const void *p)
{
    switch (dt) {
        case XHAL_DTYPE_F32: {
            float v;
            memcpy(&v, p, 4);
            return v;
        }
        case XHAL_DTYPE_F16: {
            uint16_t v;
            memcpy(&v, p, 2);
            return xhal_f16_to_f32(v);
        }
        case XHAL_DTYPE_BF16: {
            uint16_t v;
            memcpy(&v, p, 2);
            return xhal_bf16_to_f32(v);
        }
        case XHAL_DTYPE_F64: {
            double v;
            memcpy(&v, p, 8);
            return v;
        }
        case XHAL_DTYPE_I8: {
            int8_t v;
            memcpy(&v, p, 1);
            return v;
        }
        case XHAL_DTYPE_U8: {
            uint8_t v;
            memcpy(&v, p, 1);
            return v;
        }
        case XHAL_DTYPE_I32: {
            int32_t v;
            memcpy(&v, p, 4);
            return v;
        }
        case XHAL_DTYPE_I64: {
            int64_t v;
            memcpy(&v, p, 8);
            return (double)v;
        }
        default: return 0.0;
    }
}

static inline int64_t cpu_load_i64(int dt, const void *p)
{
    switch (dt) {
        case XHAL_DTYPE_I8: {
            int8_t v;
            memcpy(&v, p, 1);
            return v;
        }
        case XHAL_DTYPE_U8: {
            uint8_t v;
            memcpy(&v, p, 1);
            return v;
        }
        case XHAL_DTYPE_I32: {
            int32_t v;
            memcpy(&v, p, 4);
            return v;
        }
        case XHAL_DTYPE_I64: {
            int64_t v;
            memcpy(&v, p, 8);
            return v;
        }
        default: {
            int64_t lo, hi;
            cpu_int_range(XHAL_DTYPE_I64, &lo, &hi);
            double d = cpu_load_f64(dt, p);
            return cpu_f64_to_i64_sat(d, lo, hi);
        }
    }
}

/* Store an int64 that already fits dt's range (or wrap it: two's complement). */
static inline void cpu_store_i64_wrap(int dt, void *p, int64_t v)
{
    switch (dt) {
        case XHAL_DTYPE_I8: {
            uint8_t u = (uint8_t)(uint64_t)v;
            memcpy(p, &u, 1);
            break;
        }
        case XHAL_DTYPE_U8: {
            uint8_t u = (uint8_t)(uint64_t)v;
            memcpy(p, &u, 1);
            break;
        }
        case XHAL_DTYPE_I32: {
            uint32_t u = (uint32_t)(uint64_t)v;
            memcpy(p, &u, 4);
            break;
        }
        case XHAL_DTYPE_I64: memcpy(p, &v, 8); break;
        default: break;
    }
}

/* Store a double into dt with xhal_copy's rules. */
static inline void cpu_store_f64(int dt, void *p, double d)
{
    switch (dt) {
        case XHAL_DTYPE_F32: {
            float v = (float)d;
            memcpy(p, &v, 4);
            break;
        }
        case XHAL_DTYPE_F16: {
            uint16_t v = cpu_f64_to_f16(d);
            memcpy(p, &v, 2);
            break;
        }
        case XHAL_DTYPE_BF16: {
            uint16_t v = cpu_f64_to_bf16(d);
            memcpy(p, &v, 2);
            break;
        }
        case XHAL_DTYPE_F64: memcpy(p, &d, 8); break;
        default: {
            int64_t lo, hi;
            cpu_int_range(dt, &lo, &hi);
            cpu_store_i64_wrap(dt, p, cpu_f64_to_i64_sat(d, lo, hi));
            break;
        }
    }
}

/* Store an int64 into dt with xhal_copy's rules (saturate to integers, round to floats). */
static inline void cpu_store_i64_cast(int dt, void *p, int64_t v)
{
    switch (dt) {
        case XHAL_DTYPE_F32: {
            float f = (float)v;
            memcpy(p, &f, 4);
            break;
        }
        case XHAL_DTYPE_F64: {
            double f = (double)v;
            memcpy(p, &f, 8);
            break;
        }
        case XHAL_DTYPE_F16:
        case XHAL_DTYPE_BF16: cpu_store_f64(dt, p, cpu_i64_to_f64_odd(v)); break;
        default: {
            int64_t lo, hi;
            cpu_int_range(dt, &lo, &hi);
            cpu_store_i64_wrap(dt, p, v < lo ? lo : v > hi ? hi : v);
            break;
        }
    }
}

/* One element from (sdt, s) to (ddt, d) with the cast rules. */
static inline void cpu_convert_elem(int ddt, void *d, int sdt, const void *s)
{
    if (cpu_is_int(sdt))
        cpu_store_i64_cast(ddt, d, cpu_load_i64(sdt, s));
    else
        cpu_store_f64(ddt, d, cpu_load_f64(sdt, s));
}

/* ---- tiles: n <= CPU_TILE elements at byte stride bs ---- */
static inline void cpu_load_tile(int dt, const unsigned char *p, int64_t bs, int64_t n, double *out)
{
    switch (dt) {
        case XHAL_DTYPE_F32:
            if (bs == 4) {
                const float *f = (const float *)(const void *)p;
                for (int64_t i = 0; i < n; i++) out[i] = f[i];
            } else {
                for (int64_t i = 0; i < n; i++) {
                    float v;
                    memcpy(&v, p + i * bs, 4);
                    out[i] = v;
                }
            }
            break;
        case XHAL_DTYPE_F64:
            for (int64_t i = 0; i < n; i++) memcpy(&out[i], p + i * bs, 8);
            break;
        case XHAL_DTYPE_F16:
            for (int64_t i = 0; i < n; i++) {
                uint16_t v;
                memcpy(&v, p + i * bs, 2);
                out[i] = xhal_f16_to_f32(v);
            }
            break;
        case XHAL_DTYPE_BF16:
            for (int64_t i = 0; i < n; i++) {
                uint16_t v;
                memcpy(&v, p + i * bs, 2);
                out[i] = xhal_bf16_to_f32(v);
            }
            break;
        default:
            for (int64_t i = 0; i < n; i++) out[i] = cpu_load_f64(dt, p + i * bs);
            break;
    }
}

static inline void cpu_store_tile(int dt, unsigned char *p, int64_t bs, int64_t n, const double *in)
{
    switch (dt) {
        case XHAL_DTYPE_F32:
            if (bs == 4) {
                float *f = (float *)(void *)p;
                for (int64_t i = 0; i < n; i++) f[i] = (float)in[i];
            } else {
                for (int64_t i = 0; i < n; i++) {
                    float v = (float)in[i];
                    memcpy(p + i * bs, &v, 4);
                }
            }
            break;
        case XHAL_DTYPE_F64:
            for (int64_t i = 0; i < n; i++) memcpy(p + i * bs, &in[i], 8);
            break;
        case XHAL_DTYPE_F16:
            for (int64_t i = 0; i < n; i++) {
                uint16_t v = cpu_f64_to_f16(in[i]);
                memcpy(p + i * bs, &v, 2);
            }
            break;
        case XHAL_DTYPE_BF16:
            for (int64_t i = 0; i < n; i++) {
                uint16_t v = cpu_f64_to_bf16(in[i]);
                memcpy(p + i * bs, &v, 2);
            }
            break;
        default:
            for (int64_t i = 0; i < n; i++) cpu_store_f64(dt, p + i * bs, in[i]);
            break;
    }
}

static inline void cpu_load_tile_i64(int dt, const unsigned char *p, int64_t bs, int64_t n, int64_t *out)
{
    for (int64_t i = 0; i < n; i++) out[i] = cpu_load_i64(dt, p + i * bs);
}

static inline void cpu_store_tile_i64(int dt, unsigned char *p, int64_t bs, int64_t n, const int64_t *in)
{
    for (int64_t i = 0; i < n; i++) cpu_store_i64_wrap(dt, p + i * bs, in[i]);
}

/* A whole strided vector of n elements (any n) into doubles. */
static inline void cpu_load_vec(int dt, const unsigned char *p, int64_t bs, int64_t n, double *out)
{
    for (int64_t i = 0; i < n; i += CPU_TILE) {
        int64_t m = n - i < CPU_TILE ? n - i : CPU_TILE;
        cpu_load_tile(dt, p + i * bs, bs, m, out + i);
    }
}
static inline void cpu_store_vec(int dt, unsigned char *p, int64_t bs, int64_t n, const double *in)
{
    for (int64_t i = 0; i < n; i += CPU_TILE) {
        int64_t m = n - i < CPU_TILE ? n - i : CPU_TILE;
        cpu_store_tile(dt, p + i * bs, bs, m, in + i);
    }
}

#endif /* XHAL_CPU_CONVERT_H */
