/* xtest.h - the tiny assertion layer of xhal's tests. Each CHECK prints file:line and the
 * failing expression and counts a failure; main returns xtest_finish(). */
#ifndef XTEST_H
#define XTEST_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <sys/stat.h>
#include "xhal/xhal.h"

static int xtest_failures_ = 0;
static int xtest_checks_ = 0;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        xtest_checks_++;                                                             \
        if (!(cond)) {                                                               \
            xtest_failures_++;                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)
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
static inline void xtest_check_status_(const char *file, int line, const char *expr, xhal_status got, xhal_status want,
                                       const char *substr)
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
#define CHECK_NEAR(a, b, tol)                                                                             \
    do {                                                                                                  \
        xtest_checks_++;                                                                                  \
        double a_ = (a), b_ = (b);                                                                        \
        if (!(fabs(a_ - b_) <= (tol))) {                                                                  \
            xtest_failures_++;                                                                            \
            fprintf(stderr, "%s:%d: %s = %.9g, expected %.9g (tol %g)\n", __FILE__, __LINE__, #a, a_, b_, \
                    (double)(tol));                                                                       \
        }                                                                                                 \
    } while (0)

static inline int xtest_finish(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, xtest_checks_, xtest_failures_);
    return xtest_failures_ ? 1 : 0;
}

/* The whole file dir/name in a malloc'd block (free it), its size in *size. Test data that cannot
 * be read ends the test with exit status 2 (a setup error, not a failed check). */
static inline void *xtest_read_file(const char *dir, const char *name, size_t *size)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc(n > 0 ? (size_t)n : 1);
    if (!p || n < 0 || fread(p, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "%s: read failed\n", path);
        exit(2);
    }
    fclose(f);
    *size = (size_t)n;
    return p;
}

/* Copy the file from to to (created or truncated) and give it mode; 0 on success, -1 if either
 * cannot be opened. */
static inline int xtest_copy_file(const char *from, const char *to, mode_t mode)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    if (!a || !b) {
        if (a) fclose(a);
        if (b) fclose(b);
        return -1;
    }
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0) fwrite(buf, 1, n, b);
    fclose(a);
    fclose(b);
    return chmod(to, mode);
}

#endif
