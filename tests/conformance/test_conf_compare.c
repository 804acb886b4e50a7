/* The comparison rules of OPS.md: NaN/Inf kind and sign, the element bound, NMSE. */
#include <math.h>
#include "xtest.h"
#include "xc_conform.h"

static int cmp1(double got, double want, xc_tol tol, int nan_sign)
{
    xc_cmp r;
    xc_compare(&got, &want, NULL, 1, tol, nan_sign, &r);
    return r.pass;
}

int main(void)
{
    xc_tol exact = {0, 0, 0, 0}, loose = {1e-6, 1e-3, 0, 1};
    /* NaN must be NaN */
    CHECK(cmp1(NAN, NAN, exact, 0));
    CHECK(!cmp1(1.0, NAN, loose, 0));
    CHECK(!cmp1(INFINITY, NAN, loose, 0));
    /* NaN sign only where asked */
    CHECK(cmp1(-NAN, NAN, exact, 0));
    CHECK(!cmp1(-NAN, NAN, exact, 1));
    CHECK(cmp1(-NAN, -NAN, exact, 1));
    /* a NaN where a number is expected fails however loose the bound */
    xc_tol huge = {1e300, 1e300, 0, 1e300};
    CHECK(!cmp1(NAN, 1.0, huge, 0));
    CHECK(!cmp1(INFINITY, 1.0, huge, 0));
    /* infinities: same sign required */
    CHECK(cmp1(INFINITY, INFINITY, exact, 0));
    CHECK(!cmp1(-INFINITY, INFINITY, huge, 0));
    CHECK(!cmp1(1e308, INFINITY, huge, 0));
    /* element bound: atol + rtol |r| */
    CHECK(cmp1(1.0005, 1.0, loose, 0));
    CHECK(!cmp1(1.002, 1.0, loose, 0));
    CHECK(cmp1(5e-7, 0.0, loose, 0));
    CHECK(!cmp1(5e-6, 0.0, loose, 0));
    /* signed zeros compare equal */
    CHECK(cmp1(-0.0, 0.0, exact, 1));
    /* mtol * magnitude */
    {
        double got = 1e-3, want = 0.0, mag = 100.0;
        xc_tol t = {0, 0, 1e-5, 1};
        xc_cmp r;
        xc_compare(&got, &want, &mag, 1, t, 0, &r);
        CHECK(r.pass);
        mag = 10.0;
        xc_compare(&got, &want, &mag, 1, t, 0, &r);
        CHECK(!r.pass && r.first_bad == 0 && strstr(r.why, "above bound") != NULL);
    }
    /* figures and NMSE: a systematic 1e-3 relative bias passes the element bound but not NMSE */
    {
        double got[100], want[100];
        for (int i = 0; i < 100; i++) {
            want[i] = 1.0 + i;
            got[i] = want[i] * (1 + 1e-3);
        }
        xc_tol t = {0, 2e-3, 0, 1e-7};
        xc_cmp r;
        xc_compare(got, want, NULL, 100, t, 0, &r);
        CHECK(!r.pass && r.n_bad == 0 && strstr(r.why, "NMSE") != NULL);
        CHECK_NEAR(r.max_rel, 1e-3, 1e-9);
        CHECK_NEAR(r.nmse, 1e-6, 1e-9);
        CHECK_NEAR(r.max_abs, 100 * 1e-3, 1e-9);
        t.nmse = 1e-5;
        xc_compare(got, want, NULL, 100, t, 0, &r);
        CHECK(r.pass);
    }
    /* first bad element is reported with its figures */
    {
        double got[3] = {1, 2, 7}, want[3] = {1, 2, 3};
        xc_cmp r;
        xc_compare(got, want, NULL, 3, exact, 0, &r);
        CHECK(!r.pass && r.first_bad == 2 && r.got == 7 && r.want == 3 && strstr(r.why, "element 2") != NULL);
    }
    /* tolerance table: f32 tighter than f16 tighter than bf16; exact ops exact; mtol grows with R */
    {
        xc_tol a = xc_tolerance(XHAL_OP_EXP, XHAL_DTYPE_F32, 1), b = xc_tolerance(XHAL_OP_EXP, XHAL_DTYPE_F16, 1),
               c = xc_tolerance(XHAL_OP_EXP, XHAL_DTYPE_BF16, 1), d = xc_tolerance(XHAL_OP_EXP, XHAL_DTYPE_F64, 1);
        CHECK(d.rtol < a.rtol && a.rtol < b.rtol && b.rtol < c.rtol);
        xc_tol e = xc_tolerance(XHAL_OP_COPY, XHAL_DTYPE_F16, 1);
        CHECK(e.atol == 0 && e.rtol == 0 && e.mtol == 0);
        xc_tol m1 = xc_tolerance(XHAL_OP_MATMUL, XHAL_DTYPE_F32, 16),
               m2 = xc_tolerance(XHAL_OP_MATMUL, XHAL_DTYPE_F32, 1600);
        CHECK(m2.mtol > m1.mtol);
        xc_tol at16 = xc_tolerance(XHAL_OP_ATTENTION, XHAL_DTYPE_F16, 8);
        CHECK(at16.mtol >= 4 * ldexp(1.0, -11));
        xc_tol ii = xc_tolerance(XHAL_OP_ADD, XHAL_DTYPE_I32, 1);
        CHECK(ii.rtol == 0 && ii.atol == 0);
    }
    CHECK(!strcmp(xc_outcome_name(XC_XPASS), "xpass") && !strcmp(xc_outcome_name(XC_UNSUPPORTED), "unsupported"));
    return xtest_finish("test_conf_compare");
}
