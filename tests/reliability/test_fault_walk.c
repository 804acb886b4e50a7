/* test_fault_walk.c - fault injection over every site of two runs on cpu:0:
 *  (a) a set of ops: create tensors, write, unary, binary, matmul, softmax, rms_norm,
 *      attention, read;
 *  (b) the Llama port: load the committed reference model and generate a few tokens.
 * For n = 1, 2, ... the n-th fault site (any name: "" matches every site, so host_alloc,
 * device_alloc, stream_create, backend_call and the plugin's own sites all count) fails.
 * Each run must end with a clean status (never a crash), a run whose fault fired must either
 * fail or produce exactly the clean result, and afterwards the context must still work (a
 * fresh small op gives the right answer). The walk stops at the first n whose run sees no
 * fault fire; leaks are left to the ASan/LSan build. */
#include "xtest.h"

#include "llama.h"
#include "xhal/xhal_testing.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WALK_CAP 2000

static xhal_context *ctx;
static xhal_device *cpu;

/* ---- (a) a set of ops -------------------------------------------------------------- */
#define OPS_OUT 80 /* floats written by run_ops */

static xhal_status run_ops(float *result)
{
    xhal_status st = XHAL_OK;
    xhal_stream *s = NULL;
    enum { NT = 10 };
    xhal_tensor *t[NT] = {0};
    float host[64];
    for (int i = 0; i < 64; i++) host[i] = (float)((i * 37) % 17) / 8.0f - 1.0f;
#define TRY(call)                     \
    do {                              \
        st = (call);                  \
        if (st != XHAL_OK) goto done; \
    } while (0)
    TRY(xhal_stream_create(cpu, &s));
    TRY(xhal_tensor_create(cpu, XHAL_DTYPE_F32, 2, (int64_t[]){4, 8}, &t[0])); /* x */
    TRY(xhal_tensor_create(cpu, XHAL_DTYPE_F32, 2, (int64_t[]){8, 4}, &t[1])); /* w */
    TRY(xhal_tensor_create(cpu, XHAL_DTYPE_F32, 2, (int64_t[]){4, 8}, &t[2]));
    TRY(xhal_tensor_create(cpu, XHAL_DTYPE_F32, 2, (int64_t[]){4, 4}, &t[3]));
    TRY(xhal_tensor_create(cpu, XHAL_DTYPE_F32, 1, (int64_t[]){8}, &t[4]));          /* norm weight */
    TRY(xhal_tensor_create(cpu, XHAL_DTYPE_F32, 4, (int64_t[]){1, 2, 4, 4}, &t[5])); /* q */
    TRY(xhal_tensor_create(cpu, XHAL_DTYPE_F32, 4, (int64_t[]){1, 1, 4, 4}, &t[6])); /* k = v */
    TRY(xhal_tensor_create(cpu, XHAL_DTYPE_F32, 4, (int64_t[]){1, 2, 4, 4}, &t[7])); /* attn out */
    TRY(xhal_tensor_write(s, t[0], host, 32 * 4));
    TRY(xhal_tensor_write(s, t[1], host + 7, 32 * 4));
    TRY(xhal_tensor_write(s, t[4], host + 3, 8 * 4));
    TRY(xhal_unary(s, XHAL_OP_SILU, t[0], t[2]));
    TRY(xhal_binary(s, XHAL_OP_MUL, t[0], t[2], t[2]));
    TRY(xhal_rms_norm(s, t[2], t[4], 1e-5, t[2]));
    TRY(xhal_matmul(s, t[2], t[1], 0, 0, 1.0, 0.0, t[3]));
    TRY(xhal_softmax(s, t[3], 0.5, 1, t[3]));
    TRY(xhal_tensor_write(s, t[5], host, 32 * 4));
    TRY(xhal_tensor_write(s, t[6], host + 11, 16 * 4));
    TRY(xhal_attention(s, t[5], t[6], t[6], NULL, 0.0, 1, t[7]));
    TRY(xhal_tensor_reshape(t[3], 1, (int64_t[]){16}, &t[8]));
    TRY(xhal_stream_synchronize(s));
    TRY(xhal_tensor_read(s, t[8], result, 16 * 4));
    TRY(xhal_tensor_read(s, t[7], result + 16, 32 * 4));
    TRY(xhal_tensor_read(s, t[2], result + 48, 32 * 4));
#undef TRY
done:
    for (int i = NT - 1; i >= 0; i--) xhal_tensor_destroy(t[i]);
    xhal_stream_destroy(s);
    return st;
}

/* ---- (b) the Llama port ------------------------------------------------------------ */
#define LL_PROMPT 4
#define LL_GEN 3
#define LL_VOCAB 300
#define LL_OUT (LL_GEN + LL_PROMPT * LL_VOCAB)

static xhal_status run_llama(float *result)
{
    static const int32_t prompt[LL_PROMPT] = {1, 17, 42, 99};
    int32_t toks[LL_GEN] = {0};
    xllama_options o;
    xllama_options_init(&o);
    o.max_seq = 16;
    o.max_batch = 4;
    xllama_model *m = NULL;
    xhal_status st = xllama_load(cpu, XHAL_REL_LLAMA_DIR, &o, &m);
    if (st == XHAL_OK) st = xllama_generate(m, prompt, LL_PROMPT, LL_GEN, toks, result + LL_GEN, NULL, NULL);
    if (st == XHAL_OK)
        for (int i = 0; i < LL_GEN; i++) result[i] = (float)toks[i];
    xllama_destroy(m);
    return st;
}

/* ---- the walk ---------------------------------------------------------------------- */
/* A fresh small op on a new stream: 1 + 2 = 3 everywhere. */
static int context_works(void)
{
    xhal_stream *s = NULL;
    xhal_tensor *a = NULL, *b = NULL;
    float v[6] = {0};
    int ok = xhal_stream_create(cpu, &s) == XHAL_OK &&
             xhal_tensor_create(cpu, XHAL_DTYPE_F32, 2, (int64_t[]){2, 3}, &a) == XHAL_OK &&
             xhal_tensor_create(cpu, XHAL_DTYPE_F32, 2, (int64_t[]){2, 3}, &b) == XHAL_OK &&
             xhal_fill(s, a, 1.0) == XHAL_OK && xhal_fill(s, b, 2.0) == XHAL_OK && xhal_add(s, a, b, b) == XHAL_OK &&
             xhal_tensor_read(s, b, v, sizeof v) == XHAL_OK;
    for (int i = 0; ok && i < 6; i++) ok = v[i] == 3.0f;
    if (!ok) fprintf(stderr, "context not usable: %s\n", xhal_last_error());
    xhal_tensor_destroy(a);
    xhal_tensor_destroy(b);
    xhal_stream_destroy(s);
    return ok;
}

static int is_clean_failure(xhal_status st)
{
    return st == XHAL_ERROR_OUT_OF_MEMORY || st == XHAL_ERROR_BACKEND || st == XHAL_ERROR_UNAVAILABLE ||
           st == XHAL_ERROR_UNSUPPORTED;
}

typedef xhal_status (*scenario_fn)(float *result);

/* Returns the number of sites walked. */
static long walk(const char *name, scenario_fn fn, size_t nout)
{
    float *ref = calloc(nout, sizeof(float)), *got = calloc(nout, sizeof(float));
    CHECK_OK(fn(ref)); /* the clean run */
    long n, absorbed = 0, failed = 0;
    int finished = 0;
    for (n = 1; n <= WALK_CAP; n++) {
        memset(got, 0, nout * sizeof(float));
        xhal_testing_fault_set("", n);
        xhal_status st = fn(got);
        long seen = 0;
        int fired = 0;
        xhal_testing_fault_stats(&seen, &fired);
        xhal_testing_fault_set("", 0);
        char msg[512];
        snprintf(msg, sizeof msg, "%s", xhal_last_error());
        if (!fired) {
            /* no n-th site: the run is complete, and it must be the clean run */
            CHECK_OK(st);
            CHECK(memcmp(got, ref, nout * sizeof(float)) == 0);
            finished = 1;
            break;
        }
        if (st == XHAL_OK) {
            /* the fault was absorbed (a fallback path): the result must still be exact */
            absorbed++;
            if (memcmp(got, ref, nout * sizeof(float)) != 0) {
                xtest_checks_++;
                xtest_failures_++;
                fprintf(stderr, "%s: fault at site %ld was absorbed but the result differs\n", name, n);
            }
        } else {
            failed++;
            xtest_checks_++;
            if (!is_clean_failure(st)) {
                xtest_failures_++;
                fprintf(stderr, "%s: fault at site %ld gave %s (%s)\n", name, n, xhal_status_name(st), msg);
            }
            xtest_checks_++;
            if (!msg[0] && !xllama_last_error()[0]) {
                xtest_failures_++;
                fprintf(stderr, "%s: fault at site %ld failed with no message\n", name, n);
            }
        }
        xtest_checks_++;
        if (!context_works()) {
            xtest_failures_++;
            fprintf(stderr, "%s: context unusable after a fault at site %ld\n", name, n);
        }
    }
    CHECK(finished);
    printf("%s: walked %ld fault sites (%ld failed cleanly, %ld absorbed with an exact result)%s\n", name, n - 1,
           failed, absorbed, finished ? "" : " -- CAP REACHED");
    free(ref);
    free(got);
    return n - 1;
}

int main(void)
{
    xhal_context_options o;
    xhal_context_options_init(&o);
    o.flags = XHAL_CONTEXT_IGNORE_ENV_PATH;
    CHECK_OK(xhal_context_create(&o, &ctx));
    CHECK_OK(xhal_device_find(ctx, "cpu:0", &cpu));
    if (!cpu) return xtest_finish("test_fault_walk");

    long a = walk("ops on cpu:0", run_ops, OPS_OUT);
    long b = walk("llama on cpu:0", run_llama, LL_OUT);
    CHECK(a > 10);
    CHECK(b > 10);

    /* Context creation itself: every site of loading the plugins. */
    long n;
    int finished = 0;
    for (n = 1; n <= WALK_CAP; n++) {
        xhal_context *c = NULL;
        xhal_testing_fault_set("", n);
        xhal_status st = xhal_context_create(&o, &c);
        long seen = 0;
        int fired = 0;
        xhal_testing_fault_stats(&seen, &fired);
        xhal_testing_fault_set("", 0);
        xhal_device *d = NULL;
        if (st == XHAL_OK) {
            /* a plugin that failed to load is listed, never fatal; cpu may then be missing */
            xhal_status fs = xhal_device_find(c, "cpu:0", &d);
            CHECK(fs == XHAL_OK || fired);
        } else {
            CHECK(fired && st == XHAL_ERROR_OUT_OF_MEMORY);
        }
        xhal_context_destroy(c);
        if (!fired) {
            finished = 1;
            break;
        }
    }
    CHECK(finished);
    printf("context creation: walked %ld fault sites\n", n - 1);
    CHECK(context_works());
    xhal_context_destroy(ctx);
    return xtest_finish("test_fault_walk");
}
