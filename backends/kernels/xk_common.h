/*
 * xk_common.h - dialect helpers shared by every target: dtype codes, f16/bf16 storage
 * conversions, the compute type xk_real, typed loads/stores on untyped buffers, strided
 * index decoding and work-group reductions. Needs a prelude (prelude_opencl.h or
 * prelude_cuda.h) first. Everything here is plain C that both OpenCL C 1.2 and CUDA
 * C++ accept.
 */
#ifndef XK_COMMON_H
#define XK_COMMON_H

/* dtype codes: the values of xhal_dtype */
#define XK_DT_F32 1
#define XK_DT_F16 2
#define XK_DT_BF16 3
#define XK_DT_F64 4
#define XK_DT_I8 5
#define XK_DT_U8 6
#define XK_DT_I32 7
#define XK_DT_I64 8

#define XK_MAX_DIMS 8
#define XK_MAX_TENSORS 5

/* Shape and strides (in elements) of up to 5 tensors indexed together. Slot 0 is the
 * output by convention. Only longs: the host mirrors it as int64_t[49]. */
typedef struct xk_nd {
    xk_i64 shape[XK_MAX_DIMS];
    xk_i64 st[XK_MAX_TENSORS][XK_MAX_DIMS];
    xk_i64 ndim;
} xk_nd;

/* Compute type of the op kernels: f32, or f64 in the f64 variant. */
#ifdef XK_REAL_F64
typedef double xk_real;
#define XK_R_EXP(x) XK_EXP(x)
#define XK_R_LOG(x) XK_LOG(x)
#define XK_R_SQRT(x) XK_SQRT(x)
#define XK_R_TANH(x) XK_TANH(x)
#define XK_R_ERF(x) XK_ERF(x)
#define XK_R_FABS(x) XK_FABS(x)
#define XK_R_ISNAN(x) XK_ISNAN(x)
#define XK_R_INF ((double)XK_INFINITY_F)
#define XK_RC(c) (c) /* a literal in the compute type */
#else
typedef float xk_real;
#define XK_R_EXP(x) XK_EXPF(x)
#define XK_R_LOG(x) XK_LOGF(x)
#define XK_R_SQRT(x) XK_SQRTF(x)
#define XK_R_TANH(x) XK_TANHF(x)
#define XK_R_ERF(x) XK_ERFF(x)
#define XK_R_FABS(x) XK_FABSF(x)
#define XK_R_ISNAN(x) XK_ISNANF(x)
#define XK_R_INF XK_INFINITY_F
#define XK_RC(c) (c##f)
#endif

/* ---- f16 / bf16 storage (ushort), math in f32; stores round to nearest even ---- */
XK_INLINE float xk_bf16_to_f32(xk_u16 h) { return XK_U32_AS_FLOAT(((xk_u32)h) << 16); }

XK_INLINE xk_u16 xk_f32_to_bf16(float f)
{
    xk_u32 u = XK_FLOAT_AS_U32(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (xk_u16)((u >> 16) | 0x0040u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (xk_u16)(u >> 16);
}

XK_INLINE float xk_f16_to_f32(xk_u16 h)
{
    xk_u32 sign = ((xk_u32)(h & 0x8000u)) << 16;
    xk_u32 ex = (h >> 10) & 0x1fu;
    xk_u32 man = h & 0x3ffu;
    if (ex == 0) {
        float v = (float)man * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    if (ex == 31) return XK_U32_AS_FLOAT(sign | 0x7f800000u | (man << 13));
    return XK_U32_AS_FLOAT(sign | ((ex + 112u) << 23) | (man << 13));
}

XK_INLINE xk_u16 xk_f32_to_f16(float f)
{
    xk_u32 u = XK_FLOAT_AS_U32(f);
    xk_u16 sign = (xk_u16)((u >> 16) & 0x8000u);
    xk_u32 a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (xk_u16)(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
    if (a >= 0x477ff000u) return (xk_u16)(sign | 0x7c00u);
    if (a < 0x38800000u) {
        if (a < 0x33000000u) return sign;
        xk_u32 ex = a >> 23;
        xk_u32 man = (a & 0x7fffffu) | 0x800000u;
        xk_u32 shift = 126u - ex;
        xk_u32 q = man >> shift;
        xk_u32 rem = man & ((1u << shift) - 1u);
        xk_u32 halfway = 1u << (shift - 1u);
        if (rem > halfway || (rem == halfway && (q & 1u))) q++;
        return (xk_u16)(sign | q);
    }
    xk_u32 r = a + 0x0fffu + ((a >> 13) & 1u);
    r -= 0x38000000u;
    return (xk_u16)(sign | (r >> 13));
}

#define XK_LOAD_F16(p, i) xk_f16_to_f32((p)[i])
#define XK_STORE_F16(p, i, v) ((p)[i] = xk_f32_to_f16(v))
#define XK_LOAD_BF16(p, i) xk_bf16_to_f32((p)[i])
#define XK_STORE_BF16(p, i, v) ((p)[i] = xk_f32_to_bf16(v))

/* ---- typed access to untyped buffers (i is an element index) ---- */
XK_INLINE xk_real xk_ld(XK_GLOBAL const void *p, xk_i64 i, int dt)
{
    switch (dt) {
        case XK_DT_F32: return (xk_real)((XK_GLOBAL const float *)p)[i];
        case XK_DT_F16: return (xk_real)xk_f16_to_f32(((XK_GLOBAL const xk_u16 *)p)[i]);
        case XK_DT_BF16: return (xk_real)xk_bf16_to_f32(((XK_GLOBAL const xk_u16 *)p)[i]);
#ifdef XK_REAL_F64
        case XK_DT_F64: return ((XK_GLOBAL const double *)p)[i];
#endif
        case XK_DT_I8: return (xk_real)((XK_GLOBAL const xk_i8 *)p)[i];
        case XK_DT_U8: return (xk_real)((XK_GLOBAL const xk_u8 *)p)[i];
        case XK_DT_I32: return (xk_real)((XK_GLOBAL const xk_i32 *)p)[i];
        case XK_DT_I64: return (xk_real)((XK_GLOBAL const xk_i64 *)p)[i];
        default: return (xk_real)0;
    }
}

XK_INLINE xk_i64 xk_ld_int(XK_GLOBAL const void *p, xk_i64 i, int dt)
{
    switch (dt) {
        case XK_DT_I8: return (xk_i64)((XK_GLOBAL const xk_i8 *)p)[i];
        case XK_DT_U8: return (xk_i64)((XK_GLOBAL const xk_u8 *)p)[i];
        case XK_DT_I32: return (xk_i64)((XK_GLOBAL const xk_i32 *)p)[i];
        case XK_DT_I64: return ((XK_GLOBAL const xk_i64 *)p)[i];
        default: return 0;
    }
}

/* Integer store: keeps the low bits (two's complement wrap-around). */
XK_INLINE void xk_st_int(XK_GLOBAL void *p, xk_i64 i, int dt, xk_i64 v)
{
    switch (dt) {
        case XK_DT_I8: ((XK_GLOBAL xk_u8 *)p)[i] = (xk_u8)((xk_u64)v & 0xffu); break;
        case XK_DT_U8: ((XK_GLOBAL xk_u8 *)p)[i] = (xk_u8)((xk_u64)v & 0xffu); break;
        case XK_DT_I32: ((XK_GLOBAL xk_u32 *)p)[i] = (xk_u32)((xk_u64)v & 0xffffffffu); break;
        case XK_DT_I64: ((XK_GLOBAL xk_i64 *)p)[i] = v; break;
        default: break;
    }
}

/* Float to integer: truncate toward zero, saturate, NaN gives 0. The bounds are powers
 * of two, exact in every float type. */
XK_INLINE xk_i64 xk_real_to_int(xk_real v, int dt)
{
    if (v != v) return 0;
    switch (dt) {
        case XK_DT_I8:
            if (v <= (xk_real)-128.0f) return -128;
            if (v >= (xk_real)127.0f) return 127;
            return (xk_i64)v;
        case XK_DT_U8:
            if (v <= (xk_real)0.0f) return 0;
            if (v >= (xk_real)255.0f) return 255;
            return (xk_i64)v;
        case XK_DT_I32:
            if (v <= (xk_real)-2147483648.0f) return -2147483647 - 1;
            if (v >= (xk_real)2147483648.0f) return 2147483647;
            return (xk_i64)v;
        default:
            if (v <= (xk_real)-9223372036854775808.0f) return (xk_i64)(((xk_u64)1) << 63);
            if (v >= (xk_real)9223372036854775808.0f) return (xk_i64)((((xk_u64)1) << 63) - 1u);
            return (xk_i64)v;
    }
}

/* Integer clamped to the range of integer dtype dt (integer-to-integer casts saturate). */
XK_INLINE xk_i64 xk_sat_int(xk_i64 v, int dt)
{
    xk_i64 lo, hi;
    switch (dt) {
        case XK_DT_I8:
            lo = -128;
            hi = 127;
            break;
        case XK_DT_U8:
            lo = 0;
            hi = 255;
            break;
        case XK_DT_I32:
            lo = -2147483647 - 1;
            hi = 2147483647;
            break;
        default: return v;
    }
    return v < lo ? lo : (v > hi ? hi : v);
}

/* Magnitude of f one step toward zero, then the lowest mantissa bit set: "round to odd".
 * A value rounded to f32 to odd and then to f16/bf16 is rounded correctly once. */
XK_INLINE float xk_make_odd(float f, int too_big)
{
    xk_u32 u = XK_FLOAT_AS_U32(f);
    if (too_big) u -= 1u;
    return XK_U32_AS_FLOAT(u | 1u);
}

/* int64 to f32 rounded to odd (exact values unchanged). */
XK_INLINE float xk_i64_to_f32_odd(xk_i64 v)
{
    float f = (float)v;
    xk_i64 back;
    if (v > -16777216 && v < 16777216) return f;               /* |v| < 2^24: exact */
    if (f >= 9223372036854775808.0f) return xk_make_odd(f, 1); /* 2^63 > every int64 */
    back = (xk_i64)f;
    if (back == v) return f;
    return xk_make_odd(f, v > 0 ? back > v : back < v);
}

#ifdef XK_REAL_F64
/* f64 to f32 rounded to odd; NaN, infinities, exact values and overflow unchanged. */
XK_INLINE float xk_f64_to_f32_odd(double d)
{
    float f = (float)d;
    if (d != d || (double)f == d || f == XK_INFINITY_F || f == -XK_INFINITY_F) return f;
    return xk_make_odd(f, XK_FABS((double)f) > XK_FABS(d));
}
#define XK_R_TO_F32_ODD(v) xk_f64_to_f32_odd(v)
#else
#define XK_R_TO_F32_ODD(v) (v)
#endif

XK_INLINE void xk_st(XK_GLOBAL void *p, xk_i64 i, int dt, xk_real v)
{
    switch (dt) {
        case XK_DT_F32: ((XK_GLOBAL float *)p)[i] = (float)v; break;
        case XK_DT_F16: ((XK_GLOBAL xk_u16 *)p)[i] = xk_f32_to_f16(XK_R_TO_F32_ODD(v)); break;
        case XK_DT_BF16: ((XK_GLOBAL xk_u16 *)p)[i] = xk_f32_to_bf16(XK_R_TO_F32_ODD(v)); break;
#ifdef XK_REAL_F64
        case XK_DT_F64: ((XK_GLOBAL double *)p)[i] = v; break;
#endif
        default: xk_st_int(p, i, dt, xk_real_to_int(v, dt)); break;
    }
}

XK_INLINE int xk_dt_is_int(int dt) { return dt >= XK_DT_I8; }

/* Decode linear index i over nd->shape into element offsets of tensors 0..nt-1. */
XK_INLINE void xk_nd_offsets(const xk_nd *nd, xk_i64 i, int nt, xk_i64 *off)
{
    int t;
    int k;
    for (t = 0; t < nt; t++) off[t] = 0;
    for (k = (int)nd->ndim - 1; k >= 0; k--) {
        xk_i64 n = nd->shape[k];
        xk_i64 c = i % n;
        i /= n;
        for (t = 0; t < nt; t++) off[t] += c * nd->st[t][k];
    }
}

/* Work-group reductions over buf[0..n) (n = the work-group size, a power of two);
 * every work item gets the result. Called by all items of the group. */
XK_INLINE xk_real xk_wg_sum(XK_LOCAL_PTR xk_real *buf, xk_i64 lid, xk_i64 n, xk_real v)
{
    xk_i64 s;
    xk_real r;
    buf[lid] = v;
    XK_BARRIER();
    for (s = n / 2; s > 0; s /= 2) {
        if (lid < s) buf[lid] += buf[lid + s];
        XK_BARRIER();
    }
    r = buf[0];
    XK_BARRIER();
    return r;
}

/* Maximum that propagates NaN. */
XK_INLINE xk_real xk_max_nan(xk_real a, xk_real b)
{
    if (a != a) return a;
    if (b != b) return b;
    return a > b ? a : b;
}

XK_INLINE xk_real xk_wg_max(XK_LOCAL_PTR xk_real *buf, xk_i64 lid, xk_i64 n, xk_real v)
{
    xk_i64 s;
    xk_real r;
    buf[lid] = v;
    XK_BARRIER();
    for (s = n / 2; s > 0; s /= 2) {
        if (lid < s) buf[lid] = xk_max_nan(buf[lid], buf[lid + s]);
        XK_BARRIER();
    }
    r = buf[0];
    XK_BARRIER();
    return r;
}

#endif /* XK_COMMON_H */
