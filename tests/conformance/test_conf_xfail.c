/* Expected-failure lists: parsing (good and malformed lines), matching, XFAIL / XPASS. */
#include "xtest.h"
#include "xc_conform.h"

static xhal_device_info dev(const char *spec, const char *family)
{
    xhal_device_info d;
    memset(&d, 0, sizeof(d));
    snprintf(d.spec, sizeof(d.spec), "%s", spec);
    snprintf(d.family, sizeof(d.family), "%s", family);
    return d;
}

static xc_result res(const char *name, const char *op, const char *dt, int outcome)
{
    xc_result r;
    memset(&r, 0, sizeof(r));
    snprintf(r.name, sizeof(r.name), "%s", name);
    snprintf(r.op, sizeof(r.op), "%s", op);
    snprintf(r.dtype, sizeof(r.dtype), "%s", dt);
    r.outcome = outcome;
    return r;
}

int main(void)
{
    const char *text = "# expected failures of the test chips\n"
                       "\n"
                       "pocl-*   copy     i8     ^copy/i8/from_(i32|i64)   # narrowing wraps (issue 12)\n"
                       "  *      gelu     bf16                               # erf approximation\n"
                       "opencl:1 matmul   *      \n"
                       "cpu-*    ad?      f*     large\n";
    xc_xfail_list l;
    char msg[256] = "";
    CHECK(xc_xfail_parse(text, "xf.txt", &l, msg, sizeof(msg)) == 0);
    CHECK(l.n == 4);
    CHECK(!strcmp(l.e[0].family, "pocl-*") && !strcmp(l.e[0].op, "copy") && l.e[0].has_regex && l.e[0].line == 3);
    CHECK(!strcmp(l.e[0].reason, "narrowing wraps (issue 12)"));
    CHECK(!l.e[1].has_regex && !strcmp(l.e[1].reason, "erf approximation"));
    CHECK(l.e[2].reason[0] == 0);

    xhal_device_info pocl = dev("opencl:0", "pocl-cpu"), ocl1 = dev("opencl:1", "gfx906"),
                     cpu = dev("cpu:0", "cpu-x86_64");
    CHECK(xc_xfail_match(&l, &pocl, "copy", "i8", "copy/i8/from_i32_n17") == &l.e[0]);
    CHECK(xc_xfail_match(&l, &pocl, "copy", "i8", "copy/i8/from_u8_n17") == NULL); /* regex */
    CHECK(xc_xfail_match(&l, &cpu, "copy", "i8", "copy/i8/from_i32_n17") == NULL); /* family */
    CHECK(xc_xfail_match(&l, &cpu, "gelu", "bf16", "gelu/bf16/n1") == &l.e[1]);
    CHECK(xc_xfail_match(&l, &ocl1, "matmul", "f16", "matmul/f16/1x1x1") == &l.e[2]); /* by spec */
    CHECK(xc_xfail_match(&l, &pocl, "matmul", "f16", "matmul/f16/1x1x1") == NULL);
    CHECK(xc_xfail_match(&l, &cpu, "add", "f32", "add/f32/large_4097x4099_bcast_row") == &l.e[3]);
    CHECK(xc_xfail_match(&l, &cpu, "add", "i32", "add/i32/large") == NULL);

    /* a listed failure is XFAIL, a listed pass is XPASS, unlisted and unsupported unchanged */
    xc_result r = res("copy/i8/from_i64_n17", "copy", "i8", XC_FAIL);
    xc_apply_xfail(&l, &pocl, &r);
    CHECK(r.outcome == XC_XFAIL && strstr(r.xfail_reason, "narrowing wraps") && strstr(r.xfail_reason, "line 3"));
    r = res("copy/i8/from_i32_n17", "copy", "i8", XC_PASS);
    xc_apply_xfail(&l, &pocl, &r);
    CHECK(r.outcome == XC_XPASS);
    r = res("gelu/bf16/n1", "gelu", "bf16", XC_UNSUPPORTED);
    xc_apply_xfail(&l, &pocl, &r);
    CHECK(r.outcome == XC_UNSUPPORTED);
    r = res("exp/f32/n1", "exp", "f32", XC_FAIL);
    xc_apply_xfail(&l, &pocl, &r);
    CHECK(r.outcome == XC_FAIL);
    /* XPASS makes a run fail */
    xc_run run;
    xc_run_init(&run);
    xc_device_report d;
    memset(&d, 0, sizeof(d));
    d.counts[XC_PASS] = 3;
    d.counts[XC_XFAIL] = 1;
    run.devs = &d;
    run.n_devs = 1;
    int counts[XC_OUTCOME_COUNT];
    CHECK(xc_run_totals(&run, counts) == 1);
    d.counts[XC_XPASS] = 1;
    CHECK(xc_run_totals(&run, counts) == 0 && counts[XC_XPASS] == 1);
    d.counts[XC_XPASS] = 0;
    d.counts[XC_UNSUPPORTED] = 5;
    CHECK(xc_run_totals(&run, counts) == 1); /* unsupported is not a failure */
    xc_xfail_free(&l);

    /* malformed lines are refused with file and line */
    CHECK(xc_xfail_parse("cpu-* copy\n", "bad.txt", &l, msg, sizeof(msg)) == -1);
    CHECK(strstr(msg, "bad.txt:1:") != NULL);
    CHECK(xc_xfail_parse("# ok\ncpu-* copy f32 a b\n", "bad.txt", &l, msg, sizeof(msg)) == -1);
    CHECK(strstr(msg, "bad.txt:2:") && strstr(msg, "too many"));
    CHECK(xc_xfail_parse("cpu-* copy f32 (unclosed\n", "bad.txt", &l, msg, sizeof(msg)) == -1);
    CHECK(strstr(msg, "regex") != NULL);
    CHECK(xc_xfail_parse("", "empty.txt", &l, msg, sizeof(msg)) == 0 && l.n == 0);
    xc_xfail_free(&l);
    CHECK(xc_xfail_load("/nonexistent/xfail.txt", &l, msg, sizeof(msg)) == -1 && strstr(msg, "cannot open"));
    return xtest_finish("test_conf_xfail");
}
