/* xc_compare.c - the tolerance table of OPS.md and the comparison rules. */
#include "xc_conform.h"
#include "xhal/xhal_op_table.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The tolerance class is the TOL column of the op table (include/xhal/xhal_op_table.h). */
enum {
    CLS_EXACT = XHAL_OP_TOL_EXACT,
    CLS_ARITH = XHAL_OP_TOL_ARITH,
    CLS_TRANS = XHAL_OP_TOL_TRANS,
    CLS_ACC = XHAL_OP_TOL_ACC
};

static int op_class(xhal_op op) { return xhal_op_table_row((int)op).tolerance; }

xc_tol xc_tolerance(xhal_op op, xhal_dtype dt, int64_t R)
{
    xc_tol t = {0, 0, 0, 0};
    const double u64 = ldexp(1.0, -53), u32 = ldexp(1.0, -24);
    const double u16 = ldexp(1.0, -11), ubf = ldexp(1.0, -8);
    if (!xc_dtype_is_float(dt)) return t; /* integers: exact */
    int cls = op_class(op);
    double sq = sqrt((double)(R > 1 ? R : 1));
    switch (cls) {
        case CLS_ARITH:
            switch (dt) {
                case XHAL_DTYPE_F64: t = (xc_tol){0, 4 * u64, 4 * u64, 1e-26}; break;
                case XHAL_DTYPE_F32: t = (xc_tol){ldexp(1.0, -126), 6 * u32, 6 * u32, 1e-12}; break;
                case XHAL_DTYPE_F16: t = (xc_tol){ldexp(1.0, -24), 2 * u16, 2 * u16, 1e-6}; break;
                default: t = (xc_tol){ldexp(1.0, -126), 2 * ubf, 2 * ubf, 1e-4}; break;
            }
            break;
        case CLS_TRANS:
            switch (dt) {
                case XHAL_DTYPE_F64: t = (xc_tol){1e-14, 1e-13, 16 * u64, 1e-24}; break;
                case XHAL_DTYPE_F32: t = (xc_tol){1e-6, 4e-6, 16 * u32, 1e-10}; break;
                case XHAL_DTYPE_F16: t = (xc_tol){1e-5, 2e-3, 16 * u32, 2e-6}; break;
                default: t = (xc_tol){1e-5, 1.6e-2, 16 * u32, 2e-4}; break;
            }
            break;
        case CLS_ACC:
            switch (dt) {
                case XHAL_DTYPE_F64: t = (xc_tol){1e-14, 1e-13, 16 * u64 * sq + 1e-14, 1e-22}; break;
                case XHAL_DTYPE_F32: t = (xc_tol){1e-6, 1e-5, 16 * u32 * sq + 1e-6, 1e-9}; break;
                case XHAL_DTYPE_F16: t = (xc_tol){1e-5, 2e-3, 16 * u32 * sq + 1e-6, 1e-5}; break;
                default: t = (xc_tol){1e-5, 1.6e-2, 16 * u32 * sq + 1e-6, 3e-4}; break;
            }
            if (op == XHAL_OP_ATTENTION && dt == XHAL_DTYPE_F16 && t.mtol < 4 * u16) t.mtol = 4 * u16;
            if (op == XHAL_OP_ATTENTION && dt == XHAL_DTYPE_BF16 && t.mtol < 4 * ubf) t.mtol = 4 * ubf;
            break;
        default: break;
    }
    return t;
}

static const char *kind(double x)
{
    if (isnan(x)) return signbit(x) ? "-NaN" : "+NaN";
    if (isinf(x)) return x > 0 ? "+Inf" : "-Inf";
    return "finite";
}

void xc_compare(const double *got, const double *want, const double *mag, int64_t n, xc_tol tol, int nan_sign,
                xc_cmp *res)
{
    memset(res, 0, sizeof(*res));
    res->n = n;
    res->first_bad = -1;
    double se = 0, sr = 0;
    for (int64_t i = 0; i < n; i++) {
        double g = got[i], w = want[i];
        double bound = 0;
        const char *why = NULL;
        if (isnan(w)) {
            if (!isnan(g))
                why = "expected NaN";
            else if (nan_sign && signbit(g) != signbit(w))
                why = "NaN of the wrong sign";
        } else if (isinf(w)) {
            if (g != w) why = w > 0 ? "expected +Inf" : "expected -Inf";
        } else if (!isfinite(g)) {
            why = "expected a finite value";
        } else {
            double e = fabs(g - w);
            bound = tol.atol + tol.rtol * fabs(w) + tol.mtol * (mag ? mag[i] : 0);
            if (e > res->max_abs) res->max_abs = e;
            if (w != 0 && e / fabs(w) > res->max_rel) res->max_rel = e / fabs(w);
            /* NMSE judges the relative part of the error: what the absolute terms of the
             * bound allow (noise floor, accumulation error) is taken off first */
            double ex = e - tol.atol - tol.mtol * (mag ? mag[i] : 0);
            if (ex > 0) se += ex * ex;
            sr += w * w;
            if (!(e <= bound)) why = "error above bound";
            double ratio = bound > 0 ? e / bound : (e > 0 ? INFINITY : 0);
            if (ratio > res->worst) res->worst = ratio;
        }
        if (why && !(isfinite(w) && isfinite(g))) {
            /* a value of the wrong kind (NaN/Inf/finite) is an unbounded error: say so in
             * the figures too, not only in the message */
            res->max_abs = INFINITY;
            res->worst = INFINITY;
        }
        if (why) {
            res->n_bad++;
            if (res->first_bad < 0) {
                res->first_bad = i;
                res->got = g;
                res->want = w;
                res->bound = bound;
                snprintf(res->why, sizeof(res->why), "%s at element %lld: got %.9g (%s), want %.9g (%s), bound %.3g",
                         why, (long long)i, g, kind(g), w, kind(w), bound);
            }
        }
    }
    res->nmse = se / (sr > 0 ? sr : 1.0);
    res->pass = res->n_bad == 0;
    if (res->pass && res->nmse > tol.nmse) {
        res->pass = 0;
        snprintf(res->why, sizeof(res->why), "NMSE %.3g above bound %.3g", res->nmse, tol.nmse);
    }
}

const char *xc_outcome_name(int o)
{
    static const char *names[] = {"pass", "fail", "unsupported", "xfail", "xpass", "trivial"};
    return (o >= 0 && o < XC_OUTCOME_COUNT) ? names[o] : "invalid";
}
