/*
 * test_cuda_coll.c - the CUDA backend's collectives through NCCL (the HIP build's through
 * RCCL), behind the public API, on the stand-in driver (2 devices whose memory is host memory)
 * and the stand-in collective library (standin_nccl.c): engine choice and its reasons, every
 * collective x dtype x count (even and uneven blocks), and the loader and error paths (library
 * missing, too old, lacking a symbol, failing init, failing collective).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xhal/plugin/xhal_half.h"
#include "xtest.h"

#ifdef XCU_TEST_HIP
#define BACKEND "hip"
#define ENGINE "rccl"
#define DRIVER_ENV "XHAL_HIP_LIBRARY"
#define COLL_ENV "XHAL_RCCL_LIBRARY"
#define OTHER_DRIVER_ENV "XHAL_CUDA_LIBRARY"
#define OTHER_DRIVER "/nonexistent/libcuda.so.1"
#else
#define BACKEND "cuda"
#define ENGINE "nccl"
#define DRIVER_ENV "XHAL_CUDA_LIBRARY"
#define COLL_ENV "XHAL_NCCL_LIBRARY"
#define OTHER_DRIVER_ENV "XHAL_HIP_LIBRARY"
#define OTHER_DRIVER "/nonexistent/libamdhip64.so"
#endif

static double val(int rank, int64_t i) { return (double)((i * 3 + rank * 5) % 17 - (rank == 1 ? 3 : 8)); }

static void put(xhal_dtype dt, void *p, int64_t i, double v)
{
    switch (dt) {
        case XHAL_DTYPE_F32: ((float *)p)[i] = (float)v; break;
        case XHAL_DTYPE_F16: ((uint16_t *)p)[i] = xhal_f32_to_f16((float)v); break;
        case XHAL_DTYPE_BF16: ((uint16_t *)p)[i] = xhal_f32_to_bf16((float)v); break;
        case XHAL_DTYPE_I32: ((int32_t *)p)[i] = (int32_t)v; break;
        default: break;
    }
}

static double get(xhal_dtype dt, const void *p, int64_t i)
{
    switch (dt) {
        case XHAL_DTYPE_F32: return ((const float *)p)[i];
        case XHAL_DTYPE_F16: return xhal_f16_to_f32(((const uint16_t *)p)[i]);
        case XHAL_DTYPE_BF16: return xhal_bf16_to_f32(((const uint16_t *)p)[i]);
        case XHAL_DTYPE_I32: return ((const int32_t *)p)[i];
        default: return 0;
    }
}

static xhal_tensor *make(xhal_device *d, xhal_stream *s, xhal_dtype dt, int64_t n, int rank)
{
    xhal_tensor *t = NULL;
    CHECK_OK(xhal_tensor_create(d, dt, 1, &n, &t));
    void *b = malloc((size_t)n * 4 + 4);
    for (int64_t i = 0; i < n; i++) put(dt, b, i, val(rank, i));
    if (n) CHECK_OK(xhal_tensor_write(s, t, b, (uint64_t)n * xhal_dtype_size(dt)));
    free(b);
    return t;
}

/* t[i] == want(first + i) for i < n */
static void expect(xhal_stream *s, xhal_tensor *t, xhal_dtype dt, int64_t n, int64_t first, int kind, int root,
                   const char *what)
{
    void *b = malloc((size_t)n * 4 + 4);
    if (n) CHECK_OK(xhal_tensor_read(s, t, b, (uint64_t)n * xhal_dtype_size(dt)));
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double a = val(0, first + i), c = val(1, first + i);
        double w = kind == 0 ? a + c : kind == 1 ? (a > c ? a : c) : val(root, first + i);
        double g = get(dt, b, i);
        if (g != w && !bad++)
            fprintf(stderr, "%s %s n=%lld [%lld] = %g, want %g\n", what, xhal_dtype_name(dt), (long long)n,
                    (long long)(first + i), g, w);
    }
    CHECK(bad == 0);
    free(b);
}

static xhal_context *open_ctx(void)
{
    xhal_context_options o;
    xhal_context_options_init(&o);
    o.flags = XHAL_CONTEXT_NO_DEFAULT_PLUGINS | XHAL_CONTEXT_IGNORE_ENV_PATH;
    o.plugin_path = XCU_TEST_PLUGIN_DIR;
    xhal_context *ctx = NULL;
    CHECK_OK(xhal_context_create(&o, &ctx));
    return ctx;
}

/* A communicator of BACKEND:0 and BACKEND:1 in a fresh context: its engine and reason. */
static void engine_of_pair(char *engine, size_t elen, char *reason, size_t rlen)
{
    engine[0] = reason[0] = '\0';
    xhal_context *ctx = open_ctx();
    if (!ctx) return;
    xhal_device *d[2];
    CHECK_OK(xhal_device_find(ctx, BACKEND ":0", &d[0]));
    CHECK_OK(xhal_device_find(ctx, BACKEND ":1", &d[1]));
    xhal_comm *c = NULL;
    CHECK_OK(xhal_comm_create(ctx, d, 2, NULL, &c));
    xhal_comm_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    if (c && xhal_comm_get_info(c, &info) == XHAL_OK) {
        snprintf(engine, elen, "%s", info.engine);
        snprintf(reason, rlen, "%s", info.reason);
    }
    CHECK_STATUS(xhal_comm_create(ctx, d, 2, ENGINE, &c), strcmp(engine, ENGINE) ? XHAL_ERROR_UNAVAILABLE : XHAL_OK,
                 NULL);
    xhal_context_destroy(ctx);
}

int main(void)
{
    setenv(DRIVER_ENV, XCU_TEST_STANDIN, 1);
    setenv(OTHER_DRIVER_ENV, OTHER_DRIVER, 1);
    setenv(COLL_ENV, XCU_TEST_COLL, 1);
    unsetenv("XHAL_NCCL_STANDIN");
    xhal_context *ctx = open_ctx();
    if (!ctx) return xtest_finish("test_" BACKEND "_coll");
    xhal_device *d[2], *cpu = NULL;
    CHECK_OK(xhal_device_find(ctx, BACKEND ":0", &d[0]));
    CHECK_OK(xhal_device_find(ctx, BACKEND ":1", &d[1]));
    xhal_stream *ss[2];
    CHECK_OK(xhal_stream_create(d[0], &ss[0]));
    CHECK_OK(xhal_stream_create(d[1], &ss[1]));
    xhal_comm *comm = NULL;
    CHECK_OK(xhal_comm_create(ctx, d, 2, NULL, &comm));
    xhal_comm_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    CHECK_OK(xhal_comm_get_info(comm, &info));
    CHECK(!strcmp(info.engine, ENGINE) && info.staged == 0);
    printf("engine %s (%s)\n", info.engine, info.reason);
    char name[32], why[512];
    int avail = 0;
    CHECK_OK(xhal_comm_engine_query(ctx, d[0], d[1], NULL, name, sizeof name, why, sizeof why, &avail));
    CHECK(!strcmp(name, ENGINE));
    static const xhal_dtype dts[] = {XHAL_DTYPE_F32, XHAL_DTYPE_F16, XHAL_DTYPE_BF16, XHAL_DTYPE_I32};
    static const int64_t sizes[] = {0, 1, 7, 8, 1000};
    for (int k = 0; k < 4; k++)
        for (int j = 0; j < 5; j++) {
            xhal_dtype dt = dts[k];
            int64_t n = sizes[j];
            for (int op = 0; op < 2; op++) {
                xhal_tensor *in[2] = {make(d[0], ss[0], dt, n, 0), make(d[1], ss[1], dt, n, 1)};
                xhal_tensor *out[2] = {make(d[0], ss[0], dt, n, 4), make(d[1], ss[1], dt, n, 4)};
                CHECK_OK(xhal_all_reduce(comm, ss, in, out, (xhal_reduce_op)op));
                for (int r = 0; r < 2; r++) expect(ss[r], out[r], dt, n, 0, op, 0, "all_reduce");
                for (int r = 0; r < 2; r++) {
                    xhal_tensor_destroy(in[r]);
                    xhal_tensor_destroy(out[r]);
                }
            }
            int64_t off[2], len[2];
            xhal_tensor *in[2], *blk[2], *all[2];
            for (int r = 0; r < 2; r++) {
                CHECK_OK(xhal_comm_partition(n, 2, r, &off[r], &len[r]));
                in[r] = make(d[r], ss[r], dt, n, r);
                blk[r] = make(d[r], ss[r], dt, len[r], 4);
                all[r] = make(d[r], ss[r], dt, n, 4);
            }
            CHECK_OK(xhal_reduce_scatter(comm, ss, in, blk, XHAL_REDUCE_SUM));
            for (int r = 0; r < 2; r++) expect(ss[r], blk[r], dt, len[r], off[r], 0, 0, "reduce_scatter");
            CHECK_OK(xhal_all_gather(comm, ss, blk, all));
            for (int r = 0; r < 2; r++) expect(ss[r], all[r], dt, n, 0, 0, 0, "all_gather");
            CHECK_OK(xhal_broadcast(comm, ss, in, 1));
            for (int r = 0; r < 2; r++) expect(ss[r], in[r], dt, n, 0, 2, 1, "broadcast");
            for (int r = 0; r < 2; r++) {
                xhal_tensor_destroy(in[r]);
                xhal_tensor_destroy(blk[r]);
                xhal_tensor_destroy(all[r]);
            }
        }
    /* send/recv of a backend communicator go through the core's buffer */
    {
        int64_t n = 5;
        xhal_tensor *a = make(d[0], ss[0], XHAL_DTYPE_F32, n, 0), *b = make(d[1], ss[1], XHAL_DTYPE_F32, n, 1);
        CHECK_OK(xhal_send(comm, 0, ss[0], a, 1));
        CHECK_OK(xhal_recv(comm, 1, ss[1], b, 0));
        expect(ss[1], b, XHAL_DTYPE_F32, n, 0, 2, 0, "send/recv");
        xhal_tensor_destroy(a);
        xhal_tensor_destroy(b);
    }
    CHECK_OK(xhal_comm_destroy(comm));
    /* the same device twice, or a device of another backend: the host engine, saying why */
    xhal_device *twice[2] = {d[0], d[0]};
    CHECK_OK(xhal_comm_create(ctx, twice, 2, NULL, &comm));
    CHECK_OK(xhal_comm_get_info(comm, &info));
    CHECK(!strcmp(info.engine, "host") && strstr(info.reason, "serves ranks 0 and 1"));
    CHECK_OK(xhal_comm_destroy(comm));
    if (xhal_device_find(ctx, "cpu:0", &cpu) == XHAL_OK) {
        xhal_device *mixed[2] = {cpu, d[1]};
        CHECK_OK(xhal_comm_create(ctx, mixed, 2, NULL, &comm));
        CHECK_OK(xhal_comm_get_info(comm, &info));
        CHECK(!strcmp(info.engine, "host") && strstr(info.reason, "different backends"));
        CHECK_OK(xhal_comm_destroy(comm));
    }
    xhal_stream_destroy(ss[0]);
    xhal_stream_destroy(ss[1]);
    xhal_context_destroy(ctx);

    /* the loader's and the library's failures: the host engine, with the reason */
    char engine[32], reason[256];
    setenv(COLL_ENV, "/nonexistent/lib" ENGINE ".so", 1);
    engine_of_pair(engine, sizeof engine, reason, sizeof reason);
    CHECK(!strcmp(engine, "host") && strstr(reason, ENGINE " library not loadable") && strstr(reason, "nonexistent"));
    printf("missing library: %s\n", reason);
    setenv(COLL_ENV, XCU_TEST_COLL_NOBCAST, 1);
    engine_of_pair(engine, sizeof engine, reason, sizeof reason);
    CHECK(!strcmp(engine, "host") && strstr(reason, "lacks ncclBroadcast"));
    setenv(COLL_ENV, XCU_TEST_COLL, 1);
    setenv("XHAL_NCCL_STANDIN", "oldversion", 1);
    engine_of_pair(engine, sizeof engine, reason, sizeof reason);
    CHECK(!strcmp(engine, "host") && strstr(reason, "version 2.7.8"));
    setenv("XHAL_NCCL_STANDIN", "initfail", 1);
    engine_of_pair(engine, sizeof engine, reason, sizeof reason);
    CHECK(!strcmp(engine, "host") && strstr(reason, "ncclCommInitAll failed"));
    setenv("XHAL_NCCL_STANDIN", "runfail", 1);
    ctx = open_ctx();
    if (ctx) {
        CHECK_OK(xhal_device_find(ctx, BACKEND ":0", &d[0]));
        CHECK_OK(xhal_device_find(ctx, BACKEND ":1", &d[1]));
        CHECK_OK(xhal_stream_create(d[0], &ss[0]));
        CHECK_OK(xhal_stream_create(d[1], &ss[1]));
        CHECK_OK(xhal_comm_create(ctx, d, 2, NULL, &comm));
        xhal_tensor *t[2] = {make(d[0], ss[0], XHAL_DTYPE_F32, 4, 0), make(d[1], ss[1], XHAL_DTYPE_F32, 4, 1)};
        CHECK_STATUS(xhal_all_reduce(comm, ss, t, t, XHAL_REDUCE_SUM), XHAL_ERROR_BACKEND,
                     "ncclGroupEnd failed: internal error");
        xhal_context_destroy(ctx); /* tensors, streams and the communicator go with it */
    }
    unsetenv("XHAL_NCCL_STANDIN");
    return xtest_finish("test_" BACKEND "_coll");
}
