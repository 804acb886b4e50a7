/* xtest.h - the tiny assertion layer of xhal's tests. Each CHECK prints file:line and the
 * failing expression and counts a failure; main returns xtest_finish(). */
#ifndef XTEST_H
#define XTEST_H
#include <stdio.h>
#include <string.h>
#include <math.h>
#include "xhal/xhal.h"

static int xtest_failures_ = 0;
static int xtest_checks_ = 0;

#define CHECK(cond) do { xtest_checks_++; if (!(cond)) { xtest_failures_++; \
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
/* Expect status st and a message containing substr (may be NULL). */
/* Strings are written with fputs: gcc 12's -Wformat-overflow misreads them as NULL once this
 * is inlined with a NULL substr. */
static inline void xtest_put_(const char *a, const char *b, const char *c, const char *d)
{
    fputs(a, stderr);
    fputs(b, stderr);
    fputs(c, stderr);
    fputs(d, stderr);
}
static inline void xtest_check_status_(const char *file, int line, const char *expr, xhal_status got,
                                       xhal_status want, const char *substr)
{
    const char *m = xhal_last_error();
    xtest_checks_++;
    if (got != want) {
        xtest_failures_++;
        fprintf(stderr, "%s:%d: ", file, line);
        xtest_put_(expr, " returned ", xhal_status_name(got), " (");
        xtest_put_(m, "), expected ", xhal_status_name(want), "\n");
        return;
    }
    if (substr && !strstr(m, substr)) {
        xtest_failures_++;
        fprintf(stderr, "%s:%d: ", file, line);
        xtest_put_(expr, ": message '", m, "' lacks '");
        xtest_put_(substr, "'\n", "", "");
    }
}
#define CHECK_STATUS(expr, st, substr) xtest_check_status_(__FILE__, __LINE__, #expr, (expr), (st), (substr))
#define CHECK_OK(expr) CHECK_STATUS(expr, XHAL_OK, NULL)
#define CHECK_NEAR(a, b, tol) do { xtest_checks_++; double a_ = (a), b_ = (b); \
    if (!(fabs(a_ - b_) <= (tol))) { xtest_failures_++; \
        fprintf(stderr, "%s:%d: %s = %.9g, expected %.9g (tol %g)\n", __FILE__, __LINE__, #a, a_, b_, \
            (double)(tol)); } } while (0)

static inline int xtest_finish(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, xtest_checks_, xtest_failures_);
    return xtest_failures_ ? 1 : 0;
}
#endif
