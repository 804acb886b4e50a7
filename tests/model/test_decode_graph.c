/* test_decode_graph.c - the Llama port's decode step replayed from an xhal_graph
 * (xllama_options.decode_graph) gives the same greedy tokens and bit-identical logits as op by
 * op, on the committed tiny models of several architectures, on cpu:0 and, when present,
 * opencl:0; a reset and a second
 * generation reuse the graph at lower positions; a prompt longer than one chunk and a
 * forward without logits take the op-by-op path beside it. The embedding gather is inside the
 * graph (the token id its input): a token outside the vocabulary, with the graph captured or
 * not, fails with OUT_OF_RANGE naming it and leaves the cache as it was (the step after it
 * matches op by op). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama.h"
#include "xtest.h"

#ifndef XLLAMA_TEST_REF_DIR
#error "XLLAMA_TEST_REF_DIR must name conformance/models/llama/reference"
#endif

enum { NP = 10, NG = 14 };

static int run(xhal_device *dev, const char *dir, int graph, int32_t *tok, float *gl, int64_t V)
{
    static const int32_t prompt[NP] = {1, 17, 42, 99, 123, 7, 250, 33, 5, 181};
    xllama_options o;
    xllama_options_init(&o);
    o.decode_graph = graph;
    o.max_seq = 2 * (NP + NG);
    o.max_batch = 4; /* the prompt in chunks of 4: the last chunk has 2 tokens */
    xllama_model *m = NULL;
    CHECK_OK(xllama_load(dev, dir, &o, &m));
    if (!m) {
        fprintf(stderr, "%s\n", xllama_last_error());
        return -1;
    }
    /* twice: the second generation starts again at position 0 with the same graph */
    for (int r = 0; r < 2; r++) {
        xhal_status s = xllama_generate(m, prompt, NP, NG, tok + r * NG, NULL, gl + (size_t)r * NG * V, NULL);
        CHECK(s == XHAL_OK);
        if (s != XHAL_OK) fprintf(stderr, "%s\n", xllama_last_error());
    }
    /* a token outside the vocabulary [0, V): named, nothing run; the steps below continue the cache */
    const int32_t bad[2] = {(int32_t)V, -1};
    for (int i = 0; i < 2; i++) {
        char want[64];
        snprintf(want, sizeof want, "token %d (at index 0)", (int)bad[i]);
        CHECK(xllama_forward(m, &bad[i], 1, 0, gl + (size_t)2 * NG * V) == XHAL_ERROR_OUT_OF_RANGE);
        CHECK(strstr(xllama_last_error(), want) != NULL);
        if (!strstr(xllama_last_error(), want)) fprintf(stderr, "want '%s' in: %s\n", want, xllama_last_error());
    }
    /* a forward without logits (op by op) and one more step with them (graph) continue the cache */
    CHECK(xllama_forward(m, prompt, 1, 0, NULL) == XHAL_OK);
    CHECK(xllama_forward(m, prompt + 1, 1, 0, gl + (size_t)2 * NG * V) == XHAL_OK);
    xllama_destroy(m);
    return 0;
}

int main(void)
{
    xhal_context *ctx = NULL;
    CHECK_OK(xhal_context_create(NULL, &ctx));
    /* Llama f32, f16 (logits converted inside the graph), Qwen3 (q_norm/k_norm before RoPE), Glm4
     * (post-attention norms), Qwen2 (biases), Llama 3 (scaled RoPE through xhal_rope_ex; composed
     * op by op on a device without it); Mistral (sliding window) runs op by op beside */
    static const char *const models[] = {"tiny-llama-f32",  "tiny-llama-tied-f16", "tiny-qwen3-bf16", "tiny-glm4-f16",
                                         "tiny-qwen2-bf16", "tiny-mistral-bf16",   "tiny-llama3-bf16"};
    const int n_models = (int)(sizeof models / sizeof models[0]);
    static const char *const devs[] = {"cpu:0", "opencl:0"};
    for (int d = 0; d < 2; d++) {
        xhal_device *dev = NULL;
        if (xhal_device_find(ctx, devs[d], &dev) != XHAL_OK) {
            printf("test_decode_graph: %s not present, skipped\n", devs[d]);
            continue;
        }
        for (int k = 0; k < n_models; k++) {
            char dir[700];
            snprintf(dir, sizeof dir, "%s/%s", XLLAMA_TEST_REF_DIR, models[k]);
            xllama_model *probe = NULL;
            CHECK_OK(xllama_load(dev, dir, NULL, &probe));
            if (!probe) continue;
            const int64_t V = xllama_get_config(probe)->vocab_size;
            xllama_destroy(probe);
            size_t nl = (size_t)(2 * NG + 1) * (size_t)V;
            float *l0 = calloc(nl, sizeof(float)), *l1 = calloc(nl, sizeof(float));
            int32_t t0[2 * NG], t1[2 * NG];
            if (!l0 || !l1 || run(dev, dir, 0, t0, l0, V) || run(dev, dir, 1, t1, l1, V)) {
                CHECK(0);
            } else {
                CHECK(memcmp(t0, t1, sizeof t0) == 0);
                CHECK(memcmp(t0, t0 + NG, NG * sizeof(int32_t)) == 0);
                size_t bad = nl;
                for (size_t i = 0; i < nl && bad == nl; i++)
                    if (memcmp(&l0[i], &l1[i], sizeof(float))) bad = i;
                CHECK(bad == nl);
                if (bad != nl)
                    fprintf(stderr, "%s on %s: logits differ at %zu (step %zu): %.9g vs %.9g\n", models[k], devs[d],
                            bad, bad / (size_t)V, l0[bad], l1[bad]);
                printf("%s on %s: %d greedy tokens and %zu logits identical with and without the graph\n", models[k],
                       devs[d], 2 * NG, nl);
            }
            free(l0);
            free(l1);
        }
    }
    CHECK_OK(xhal_context_destroy(ctx));
    return xtest_finish("test_decode_graph");
}
