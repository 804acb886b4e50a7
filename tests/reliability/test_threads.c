/* test_threads.c - four threads share one context and the cpu device, each with its own
 * stream, and run ops (some reading one shared input tensor) and the Llama port (one model
 * per thread, as llama.h asks) at the same time. Every result must equal the single-threaded
 * run bit for bit. Built with -DXHAL_SANITIZE=thread it must run with no ThreadSanitizer
 * report (scripts/reliability.sh). */
#include "xtest.h"

#include "llama.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NTHREADS 4
#define ROUNDS 6
#define OPS_OUT (64 + 64 + 64 + 128)
#define LL_PROMPT 5
#define LL_GEN 4
#define LL_VOCAB 300
#define LL_OUT (LL_GEN + LL_PROMPT * LL_VOCAB)

static xhal_context *ctx;
static xhal_device *cpu;
static xhal_tensor *shared_w; /* [16, 16], written once before the threads start, then only read */

/* A chain of ops on the caller's stream; `seed` varies the input per thread. */
static xhal_status run_ops(xhal_stream *s, int seed, float *result)
{
    xhal_status st = XHAL_OK;
    enum { NT = 8 };
    xhal_tensor *t[NT] = {0};
    float host[256];
    for (int i = 0; i < 256; i++) host[i] = (float)(((i + 13 * seed) * 37) % 29) / 16.0f - 0.9f;
#define TRY(call)                     \
    do {                              \
        st = (call);                  \
        if (st != XHAL_OK) goto done; \
    } while (0)
    TRY(xhal_tensor_create(cpu, XHAL_DTYPE_F32, 2, (int64_t[]){4, 16}, &t[0]));
    TRY(xhal_tensor_create(cpu, XHAL_DTYPE_F32, 2, (int64_t[]){4, 16}, &t[1]));
    TRY(xhal_tensor_create(cpu, XHAL_DTYPE_F32, 2, (int64_t[]){4, 16}, &t[2]));
    TRY(xhal_tensor_create(cpu, XHAL_DTYPE_F32, 4, (int64_t[]){1, 4, 4, 8}, &t[3])); /* q */
    TRY(xhal_tensor_create(cpu, XHAL_DTYPE_F32, 4, (int64_t[]){1, 2, 4, 8}, &t[4])); /* k, v */
    TRY(xhal_tensor_create(cpu, XHAL_DTYPE_F32, 4, (int64_t[]){1, 4, 4, 8}, &t[5]));
    TRY(xhal_tensor_create(cpu, XHAL_DTYPE_BF16, 2, (int64_t[]){4, 16}, &t[6]));
    TRY(xhal_tensor_write(s, t[0], host, 64 * 4));
    TRY(xhal_matmul(s, t[0], shared_w, 0, 0, 1.0, 0.0, t[1]));
    TRY(xhal_unary(s, XHAL_OP_GELU, t[1], t[2]));
    TRY(xhal_binary(s, XHAL_OP_ADD, t[2], t[0], t[2]));
    TRY(xhal_rms_norm(s, t[2], NULL, 1e-5, t[2]));
    TRY(xhal_softmax(s, t[1], 0.0, 1, t[1]));
    TRY(xhal_copy(s, t[2], t[6]));
    TRY(xhal_tensor_write(s, t[3], host + 7, 128 * 4));
    TRY(xhal_tensor_write(s, t[4], host + 100, 64 * 4));
    TRY(xhal_attention(s, t[3], t[4], t[4], NULL, 0.0, 1, t[5]));
    TRY(xhal_stream_synchronize(s));
    TRY(xhal_tensor_read(s, t[1], result, 64 * 4));
    TRY(xhal_tensor_read(s, t[2], result + 64, 64 * 4));
    {
        uint16_t b16[64];
        TRY(xhal_tensor_read(s, t[6], b16, sizeof b16));
        for (int i = 0; i < 64; i++) result[128 + i] = (float)b16[i];
    }
    TRY(xhal_tensor_read(s, t[5], result + 192, 128 * 4));
#undef TRY
done:
    for (int i = NT - 1; i >= 0; i--) xhal_tensor_destroy(t[i]);
    return st;
}

static xhal_status run_llama(xllama_model *m, int seed, float *result)
{
    int32_t prompt[LL_PROMPT], toks[LL_GEN] = {0};
    for (int i = 0; i < LL_PROMPT; i++) prompt[i] = (int32_t)((1 + 31 * seed + 17 * i) % LL_VOCAB);
    xhal_status st = xllama_generate(m, prompt, LL_PROMPT, LL_GEN, toks, result + LL_GEN, NULL, NULL);
    for (int i = 0; i < LL_GEN; i++) result[i] = (float)toks[i];
    return st;
}

static xllama_model *load_model(void)
{
    xllama_options o;
    xllama_options_init(&o);
    o.max_seq = 16;
    xllama_model *m = NULL;
    if (xllama_load(cpu, XHAL_REL_LLAMA_DIR, &o, &m) != XHAL_OK) {
        fprintf(stderr, "llama load: %s\n", xllama_last_error());
        return NULL;
    }
    return m;
}

static float ref_ops[NTHREADS][OPS_OUT], ref_ll[NTHREADS][LL_OUT];

typedef struct worker {
    int id;
    int mismatches, errors;
    long ops_run, gens;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    xhal_stream *s = NULL;
    float *got_ops = malloc(sizeof(float) * OPS_OUT), *got_ll = malloc(sizeof(float) * LL_OUT);
    xllama_model *m = load_model();
    if (!m || xhal_stream_create(cpu, &s) != XHAL_OK) {
        w->errors++;
        goto out;
    }
    for (int r = 0; r < ROUNDS; r++) {
        if (run_ops(s, w->id, got_ops) != XHAL_OK) {
            fprintf(stderr, "thread %d ops: %s\n", w->id, xhal_last_error());
            w->errors++;
        } else if (memcmp(got_ops, ref_ops[w->id], sizeof(float) * OPS_OUT) != 0) {
            w->mismatches++;
        }
        w->ops_run += 11; /* xhal calls that compute: 11 in run_ops */
        if (run_llama(m, w->id, got_ll) != XHAL_OK) {
            fprintf(stderr, "thread %d llama: %s\n", w->id, xllama_last_error());
            w->errors++;
        } else if (memcmp(got_ll, ref_ll[w->id], sizeof(float) * LL_OUT) != 0) {
            w->mismatches++;
        }
        w->gens++;
    }
out:
    xllama_destroy(m);
    xhal_stream_destroy(s);
    free(got_ops);
    free(got_ll);
    return NULL;
}

int main(void)
{
    xhal_context_options o;
    xhal_context_options_init(&o);
    o.flags = XHAL_CONTEXT_IGNORE_ENV_PATH;
    CHECK_OK(xhal_context_create(&o, &ctx));
    CHECK_OK(xhal_device_find(ctx, "cpu:0", &cpu));
    if (!cpu) return xtest_finish("test_threads");
    xhal_stream *s = NULL;
    CHECK_OK(xhal_stream_create(cpu, &s));
    CHECK_OK(xhal_tensor_create(cpu, XHAL_DTYPE_F32, 2, (int64_t[]){16, 16}, &shared_w));
    float w[256];
    for (int i = 0; i < 256; i++) w[i] = (float)((i * 11) % 23) / 23.0f - 0.5f;
    CHECK_OK(xhal_tensor_write(s, shared_w, w, sizeof w));

    /* The single-threaded reference, one per thread's input. */
    xllama_model *m = load_model();
    CHECK(m != NULL);
    for (int t = 0; t < NTHREADS && m; t++) {
        CHECK_OK(run_ops(s, t, ref_ops[t]));
        CHECK_OK(run_llama(m, t, ref_ll[t]));
    }
    xllama_destroy(m);
    CHECK_OK(xhal_stream_destroy(s));

    pthread_t th[NTHREADS];
    worker wk[NTHREADS];
    for (int t = 0; t < NTHREADS; t++) {
        memset(&wk[t], 0, sizeof wk[t]);
        wk[t].id = t;
        CHECK(pthread_create(&th[t], NULL, work, &wk[t]) == 0);
    }
    long total = 0, gens = 0;
    for (int t = 0; t < NTHREADS; t++) {
        pthread_join(th[t], NULL);
        CHECK(wk[t].errors == 0);
        CHECK(wk[t].mismatches == 0);
        total += wk[t].ops_run;
        gens += wk[t].gens;
    }
    printf("test_threads: %d threads x %d rounds: %ld op/transfer calls and %ld Llama generations "
           "(%d prompt + %d generated tokens each), all bit-identical to the single-threaded run\n",
           NTHREADS, ROUNDS, total, gens, LL_PROMPT, LL_GEN);
    CHECK_OK(xhal_tensor_destroy(shared_w));
    xhal_context_destroy(ctx);
    return xtest_finish("test_threads");
}
