/* test_model_tp_mpi.c - the tensor-parallel port across processes through the library, run by
 * ctest as `mpirun -np 2 test_model_tp_mpi` (rank 1 on opencl:0 when present): xllama_load_tp is
 * collective (a rank that fails to load makes it fail on the other rank too, instead of leaving
 * it waiting in its first all_reduce), then TP=2 over the MPI engine matches each rank's own
 * one-device run on cpu:0 (greedy ids equal, logits within the bound of conformance/MODELS.md). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama.h"
#include "xtest.h"

#ifndef XLLAMA_TEST_REF_DIR
#error "XLLAMA_TEST_REF_DIR must name conformance/models/llama/reference"
#endif

enum { NP = 10, NG = 8 };

int main(void)
{
    static const int32_t prompt[NP] = {1, 17, 42, 99, 123, 7, 250, 33, 5, 181};
    char dir[700], name[48];
    snprintf(dir, sizeof dir, "%s/tiny-llama-f32", XLLAMA_TEST_REF_DIR);
    xhal_context *ctx = NULL;
    CHECK_OK(xhal_context_create(NULL, &ctx));
    if (!ctx) return xtest_finish("test_model_tp_mpi");
    xhal_device *cpu = NULL, *dev = NULL;
    CHECK_OK(xhal_device_find(ctx, "cpu:0", &cpu));
    dev = cpu;
    const char *env_rank = getenv("OMPI_COMM_WORLD_RANK");
    if (env_rank && !strcmp(env_rank, "1") && xhal_device_find(ctx, "opencl:0", &dev) != XHAL_OK) dev = cpu;
    xhal_comm *comm = NULL;
    CHECK_OK(xhal_comm_create_mpi(ctx, dev, &comm));
    if (!comm) {
        xhal_context_destroy(ctx);
        return xtest_finish("test_model_tp_mpi");
    }
    xhal_comm_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    CHECK_OK(xhal_comm_get_info(comm, &info));
    const int me = info.first_rank;
    CHECK(info.size == 2);

    xllama_options o;
    xllama_options_init(&o);
    o.max_seq = NP + NG;
    o.max_batch = 4;
    xllama_model *m = NULL;
    /* rank 1 asks for a compute dtype the port refuses: its load fails, and rank 0's too */
    xllama_options bad = o;
    if (me == 1) bad.compute_dtype = XHAL_DTYPE_I32;
    xhal_status s = xllama_load_tp(comm, dir, &bad, &m);
    CHECK(m == NULL);
    if (me == 1) {
        CHECK(s == XHAL_ERROR_INVALID_ARGUMENT);
        CHECK(strstr(xllama_last_error(), "compute dtype i32") != NULL);
    } else {
        CHECK(s == XHAL_ERROR_UNAVAILABLE);
        CHECK(strstr(xllama_last_error(), "another rank failed to load") != NULL);
    }
    if (s == XHAL_OK) xllama_destroy(m);
    m = NULL;

    /* TP=2 against this rank's one-device run */
    float *p1 = calloc(NP * 300, sizeof(float)), *p2 = calloc(NP * 300, sizeof(float));
    int32_t t1[NG], t2[NG];
    xllama_model *one = NULL;
    CHECK_OK(xllama_load(cpu, dir, &o, &one));
    CHECK_OK(xllama_load_tp(comm, dir, &o, &m));
    if (one && m && p1 && p2) {
        CHECK(xllama_get_config(m)->vocab_size == 300);
        CHECK(xllama_tp_size(m) == 2);
        CHECK_OK(xllama_generate(one, prompt, NP, NG, t1, p1, NULL, NULL));
        CHECK_OK(xllama_generate(m, prompt, NP, NG, t2, p2, NULL, NULL));
        CHECK(memcmp(t1, t2, sizeof t1) == 0);
        double err = 0, mag = 1;
        for (int i = 0; i < NP * 300; i++) {
            double d = fabs((double)p1[i] - (double)p2[i]);
            if (d > err || d != d) err = d;
            if (fabs((double)p1[i]) > mag) mag = fabs((double)p1[i]);
        }
        CHECK(err <= 1e-4 * mag);
        printf("rank %d: TP=2 over mpi, ids %s, max |dlogit| %.3g (%.3g of max(1, max |logit|))\n", me,
               memcmp(t1, t2, sizeof t1) ? "DIFFER" : "equal", err, err / mag);
    }
    xllama_destroy(one);
    xllama_destroy(m);
    free(p1);
    free(p2);
    CHECK_OK(xhal_comm_destroy(comm));
    xhal_context_destroy(ctx);
    snprintf(name, sizeof name, "test_model_tp_mpi rank %d", me);
    return xtest_finish(name);
}
