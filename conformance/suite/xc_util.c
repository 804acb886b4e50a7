/* xc_util.c - dtype encoding, rounding and the PRNG of the conformance suite. Written
 * independently of include/xhal/plugin/xhal_half.h on purpose: the judge does not share
 * code with what it judges. */
#include "xc_conform.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void xc_tensor_free(xc_tensor *t)
{
    if (!t) return;
    free(t->v);
    free(t->raw);
    t->v = NULL;
    t->raw = NULL;
    t->raw_bytes = 0;
    t->n = 0;
}

int64_t xc_numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

size_t xc_dtype_size(xhal_dtype dt)
{
    switch (dt) {
        case XHAL_DTYPE_F32:
        case XHAL_DTYPE_I32: return 4;
        case XHAL_DTYPE_F16:
        case XHAL_DTYPE_BF16: return 2;
        case XHAL_DTYPE_F64:
        case XHAL_DTYPE_I64: return 8;
        case XHAL_DTYPE_I8:
        case XHAL_DTYPE_U8: return 1;
        default: return 0;
    }
}

int xc_dtype_is_float(xhal_dtype dt)
{
    return dt == XHAL_DTYPE_F32 || dt == XHAL_DTYPE_F16 || dt == XHAL_DTYPE_BF16 || dt == XHAL_DTYPE_F64;
}

/* Round |a| (finite, > 0) to a binary float with mbits fraction bits, minimum normal
 * exponent emin; returns the rounded magnitude (may exceed the format's max). */
static double round_mag(double a, int mbits, int emin)
{
    int e;
    frexp(a, &e); /* a in [2^(e-1), 2^e) */
    int ee = e - 1;
    if (ee < emin) ee = emin;
    double q = ldexp(1.0, ee - mbits);
    double m = nearbyint(a / q); /* exact division by a power of two; ties to even */
    return m * q;
}

static uint16_t encode_small(double x, int mbits, int ebits)
{
    int bias = (1 << (ebits - 1)) - 1;
    int emin = 1 - bias;
    uint16_t sign = signbit(x) ? 0x8000u : 0;
    uint16_t expmask = (uint16_t)(((1u << ebits) - 1u) << mbits);
    if (isnan(x)) return (uint16_t)(sign | expmask | (1u << (mbits - 1)));
    double a = fabs(x);
    double maxv = ldexp(2.0 - ldexp(1.0, -mbits), bias);
    if (isinf(a)) return (uint16_t)(sign | expmask);
    if (a == 0) return sign;
    double r = round_mag(a, mbits, emin);
    if (r > maxv) return (uint16_t)(sign | expmask);
    if (r < ldexp(1.0, emin)) /* subnormal (or zero after rounding) */
        return (uint16_t)(sign | (uint16_t)(r / ldexp(1.0, emin - mbits)));
    int e;
    double f = frexp(r, &e); /* r = f 2^e, f in [0.5, 1) */
    unsigned exp = (unsigned)(e - 1 + bias);
    unsigned man = (unsigned)((f * 2.0 - 1.0) * (double)(1u << mbits));
    return (uint16_t)(sign | (exp << mbits) | man);
}

static double decode_small(uint16_t h, int mbits, int ebits)
{
    int bias = (1 << (ebits - 1)) - 1;
    unsigned exp = (h >> mbits) & ((1u << ebits) - 1u);
    unsigned man = h & ((1u << mbits) - 1u);
    double s = (h & 0x8000u) ? -1.0 : 1.0;
    if (exp == (1u << ebits) - 1u) return man ? copysign(NAN, s) : s * INFINITY;
    if (exp == 0) return s * ldexp((double)man, 1 - bias - mbits);
    return s * ldexp((double)(man | (1u << mbits)), (int)exp - bias - mbits);
}

uint16_t xc_f64_to_f16(double x) { return encode_small(x, 10, 5); }
uint16_t xc_f64_to_bf16(double x) { return encode_small(x, 7, 8); }
double xc_f16_to_f64(uint16_t h) { return decode_small(h, 10, 5); }
double xc_bf16_to_f64(uint16_t h) { return decode_small(h, 7, 8); }

static double sat_int(double x, double lo, double hi)
{
    if (isnan(x)) return 0;
    x = trunc(x);
    if (x < lo) return lo;
    if (x > hi) return hi;
    return x;
}

double xc_round_to(xhal_dtype dt, double x)
{
    switch (dt) {
        case XHAL_DTYPE_F64: return x;
        case XHAL_DTYPE_F32: {
            if (isnan(x)) return x;
            float f = (float)x; /* C conversion: nearest even, overflow to Inf */
            return (double)f;
        }
        case XHAL_DTYPE_F16: return xc_f16_to_f64(xc_f64_to_f16(x));
        case XHAL_DTYPE_BF16: return xc_bf16_to_f64(xc_f64_to_bf16(x));
        case XHAL_DTYPE_I8: return sat_int(x, -128.0, 127.0);
        case XHAL_DTYPE_U8: return sat_int(x, 0.0, 255.0);
        case XHAL_DTYPE_I32: return sat_int(x, -2147483648.0, 2147483647.0);
        case XHAL_DTYPE_I64: {
            if (isnan(x)) return 0;
            x = trunc(x);
            if (x < -9223372036854775808.0) return -9223372036854775808.0;
            if (x >= 9223372036854775808.0) return 9223372036854775807.0;
            return x;
        }
        default: return x;
    }
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

void xc_encode(xhal_dtype dt, const double *v, int64_t n, void *dst)
{
    uint8_t *p = dst;
    size_t es = xc_dtype_size(dt);
    for (int64_t i = 0; i < n; i++, p += es) {
        double x = v[i];
        switch (dt) {
            case XHAL_DTYPE_F64: memcpy(p, &x, 8); break;
            case XHAL_DTYPE_F32: {
                float f = (float)x;
                if (isnan(x)) f = signbit(x) ? -NAN : NAN;
                memcpy(p, &f, 4);
                break;
            }
            case XHAL_DTYPE_F16: put16(p, xc_f64_to_f16(x)); break;
            case XHAL_DTYPE_BF16: put16(p, xc_f64_to_bf16(x)); break;
            case XHAL_DTYPE_I8: {
                int8_t k = (int8_t)xc_round_to(dt, x);
                memcpy(p, &k, 1);
                break;
            }
            case XHAL_DTYPE_U8: {
                uint8_t k = (uint8_t)xc_round_to(dt, x);
                memcpy(p, &k, 1);
                break;
            }
            case XHAL_DTYPE_I32: {
                int32_t k = (int32_t)xc_round_to(dt, x);
                memcpy(p, &k, 4);
                break;
            }
            case XHAL_DTYPE_I64: {
                double r = xc_round_to(dt, x);
                int64_t k = r >= 9223372036854775807.0 ? INT64_MAX : (int64_t)r;
                memcpy(p, &k, 8);
                break;
            }
            default: break;
        }
    }
}

void xc_decode(xhal_dtype dt, const void *src, int64_t n, double *v)
{
    const uint8_t *p = src;
    size_t es = xc_dtype_size(dt);
    for (int64_t i = 0; i < n; i++, p += es) {
        switch (dt) {
            case XHAL_DTYPE_F64: memcpy(&v[i], p, 8); break;
            case XHAL_DTYPE_F32: {
                float f;
                memcpy(&f, p, 4);
                v[i] = (double)f;
                break;
            }
            case XHAL_DTYPE_F16: v[i] = xc_f16_to_f64(get16(p)); break;
            case XHAL_DTYPE_BF16: v[i] = xc_bf16_to_f64(get16(p)); break;
            case XHAL_DTYPE_I8: {
                int8_t k;
                memcpy(&k, p, 1);
                v[i] = k;
                break;
            }
            case XHAL_DTYPE_U8: v[i] = p[0]; break;
            case XHAL_DTYPE_I32: {
                int32_t k;
                memcpy(&k, p, 4);
                v[i] = k;
                break;
            }
            case XHAL_DTYPE_I64: {
                int64_t k;
                memcpy(&k, p, 8);
                v[i] = (double)k;
                break;
            }
            default: v[i] = 0; break;
        }
    }
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void xc_rng_seed(xc_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t xc_rng_next(xc_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double xc_rng_uniform(xc_rng *r, double lo, double hi)
{
    double u = (double)(xc_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
    return lo + (hi - lo) * u;
}

uint64_t xc_hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 1099511628211ull;
    }
    return h;
}
