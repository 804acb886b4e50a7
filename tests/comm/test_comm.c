/* test_comm.c - communicators and collectives in one process (xhal_comm.h): every collective
 * on cpu:0 serving two ranks and on cpu:0 + opencl:0 (host engine, staged), counts not
 * divisible by the rank count, 0 and 1 elements, and every validation rule with its named
 * error. The MPI path runs under mpirun in test_comm_mpi. */
#include "xhal/plugin/xhal_half.h"
#include "xtest.h"

#include <stdint.h>

static const xhal_dtype DTYPES[] = {XHAL_DTYPE_F32, XHAL_DTYPE_F16, XHAL_DTYPE_BF16, XHAL_DTYPE_I32,
                                    XHAL_DTYPE_F64, XHAL_DTYPE_I8,  XHAL_DTYPE_U8,   XHAL_DTYPE_I64};

/* A small integer, exact in every dtype, different per rank and element. */
static double val(int rank, int64_t i) { return (double)((i * 3 + rank * 5) % 17 - (rank == 1 ? 3 : 8)); }

static void to_bytes(xhal_dtype dt, const double *v, int64_t n, void *out)
{
    for (int64_t i = 0; i < n; i++) switch (dt) {
            case XHAL_DTYPE_F32: ((float *)out)[i] = (float)v[i]; break;
            case XHAL_DTYPE_F64: ((double *)out)[i] = v[i]; break;
            case XHAL_DTYPE_F16: ((uint16_t *)out)[i] = xhal_f32_to_f16((float)v[i]); break;
            case XHAL_DTYPE_BF16: ((uint16_t *)out)[i] = xhal_f32_to_bf16((float)v[i]); break;
            case XHAL_DTYPE_I8: ((int8_t *)out)[i] = (int8_t)v[i]; break;
            case XHAL_DTYPE_U8: ((uint8_t *)out)[i] = (uint8_t)(int)v[i]; break;
            case XHAL_DTYPE_I32: ((int32_t *)out)[i] = (int32_t)v[i]; break;
            case XHAL_DTYPE_I64: ((int64_t *)out)[i] = (int64_t)v[i]; break;
            default: break;
        }
}

static double from_bytes(xhal_dtype dt, const void *p, int64_t i)
{
    switch (dt) {
        case XHAL_DTYPE_F32: return ((const float *)p)[i];
        case XHAL_DTYPE_F64: return ((const double *)p)[i];
        case XHAL_DTYPE_F16: return xhal_f16_to_f32(((const uint16_t *)p)[i]);
        case XHAL_DTYPE_BF16: return xhal_bf16_to_f32(((const uint16_t *)p)[i]);
        case XHAL_DTYPE_I8: return ((const int8_t *)p)[i];
        case XHAL_DTYPE_U8: return ((const uint8_t *)p)[i];
        case XHAL_DTYPE_I32: return ((const int32_t *)p)[i];
        case XHAL_DTYPE_I64: return (double)((const int64_t *)p)[i];
        default: return 0;
    }
}

/* u8 stores val mod 256: the reference must wrap the same way. */
static double stored(xhal_dtype dt, double v)
{
    if (dt == XHAL_DTYPE_U8) return (double)(uint8_t)(int)v;
    return v;
}

static xhal_tensor *make(xhal_device *d, xhal_stream *s, xhal_dtype dt, int64_t n, int rank, int64_t first)
{
    xhal_tensor *t = NULL;
    CHECK_OK(xhal_tensor_create(d, dt, 1, &n, &t));
    if (!t || n == 0) return t;
    double *v = malloc((size_t)n * sizeof *v);
    void *b = malloc((size_t)n * 8);
    for (int64_t i = 0; i < n; i++) v[i] = val(rank, first + i);
    to_bytes(dt, v, n, b);
    CHECK_OK(xhal_tensor_write(s, t, b, (uint64_t)n * xhal_dtype_size(dt)));
    free(v);
    free(b);
    return t;
}

static int read_back(xhal_stream *s, xhal_tensor *t, xhal_dtype dt, int64_t n, double *out)
{
    if (n == 0) return 1;
    void *b = malloc((size_t)n * 8);
    xhal_status st = xhal_tensor_read(s, t, b, (uint64_t)n * xhal_dtype_size(dt));
    CHECK(st == XHAL_OK);
    for (int64_t i = 0; i < n; i++) out[i] = from_bytes(dt, b, i);
    free(b);
    return st == XHAL_OK;
}

static void wrap_ref(xhal_dtype dt, double *v)
{
    if (dt == XHAL_DTYPE_I8) *v = (double)(int8_t)(int)*v;
    if (dt == XHAL_DTYPE_U8) *v = (double)(uint8_t)(int)*v;
}

/* Every collective of one dtype and count on a 2-rank communicator. */
static void run_all(xhal_comm *comm, xhal_device **devs, xhal_stream **ss, xhal_dtype dt, int64_t n)
{
    char where[96];
    snprintf(where, sizeof where, "%s n=%lld", xhal_dtype_name(dt), (long long)n);
    double *got = malloc((size_t)(n + 1) * sizeof *got);
    /* all_reduce SUM and MAX (and in place) */
    for (int op = 0; op < 2; op++) {
        xhal_tensor *in[2], *out[2];
        for (int r = 0; r < 2; r++) {
            in[r] = make(devs[r], ss[r], dt, n, r, 0);
            out[r] = make(devs[r], ss[r], dt, n, 7, 0);
        }
        int in_place = op == 1;
        CHECK_OK(xhal_all_reduce(comm, ss, in, in_place ? in : out, (xhal_reduce_op)op));
        for (int r = 0; r < 2; r++) {
            if (!read_back(ss[r], in_place ? in[r] : out[r], dt, n, got)) continue;
            int bad = 0;
            for (int64_t i = 0; i < n; i++) {
                double a = stored(dt, val(0, i)), b = stored(dt, val(1, i));
                double want = op == 0 ? a + b : (a > b ? a : b);
                wrap_ref(dt, &want);
                if (got[i] != want && !bad++)
                    fprintf(stderr, "all_reduce %s op %d rank %d [%lld] = %g, want %g\n", where, op, r, (long long)i,
                            got[i], want);
            }
            CHECK(bad == 0);
        }
        for (int r = 0; r < 2; r++) {
            xhal_tensor_destroy(in[r]);
            xhal_tensor_destroy(out[r]);
        }
    }
    /* reduce_scatter then all_gather (its inverse) */
    {
        xhal_tensor *in[2], *blk[2], *all[2];
        int64_t off[2], len[2];
        for (int r = 0; r < 2; r++) {
            CHECK_OK(xhal_comm_partition(n, 2, r, &off[r], &len[r]));
            in[r] = make(devs[r], ss[r], dt, n, r, 0);
            blk[r] = make(devs[r], ss[r], dt, len[r], 9, 0);
            all[r] = make(devs[r], ss[r], dt, n, 9, 0);
        }
        CHECK(len[0] == (n + 1) / 2 && len[1] == n / 2 && off[1] == len[0]);
        CHECK_OK(xhal_reduce_scatter(comm, ss, in, blk, XHAL_REDUCE_SUM));
        for (int r = 0; r < 2; r++) {
            if (!read_back(ss[r], blk[r], dt, len[r], got)) continue;
            int bad = 0;
            for (int64_t i = 0; i < len[r]; i++) {
                double want = stored(dt, val(0, off[r] + i)) + stored(dt, val(1, off[r] + i));
                wrap_ref(dt, &want);
                if (got[i] != want && !bad++)
                    fprintf(stderr, "reduce_scatter %s rank %d [%lld] = %g, want %g\n", where, r, (long long)i, got[i],
                            want);
            }
            CHECK(bad == 0);
        }
        CHECK_OK(xhal_all_gather(comm, ss, blk, all));
        for (int r = 0; r < 2; r++) {
            if (!read_back(ss[r], all[r], dt, n, got)) continue;
            int bad = 0;
            for (int64_t i = 0; i < n; i++) {
                double want = stored(dt, val(0, i)) + stored(dt, val(1, i));
                wrap_ref(dt, &want);
                if (got[i] != want && !bad++)
                    fprintf(stderr, "all_gather %s rank %d [%lld] = %g, want %g\n", where, r, (long long)i, got[i],
                            want);
            }
            CHECK(bad == 0);
        }
        for (int r = 0; r < 2; r++) {
            xhal_tensor_destroy(in[r]);
            xhal_tensor_destroy(blk[r]);
            xhal_tensor_destroy(all[r]);
        }
    }
    /* broadcast from each root; send/recv both ways */
    for (int root = 0; root < 2; root++) {
        xhal_tensor *t[2];
        for (int r = 0; r < 2; r++) t[r] = make(devs[r], ss[r], dt, n, r, 0);
        CHECK_OK(xhal_broadcast(comm, ss, t, root));
        for (int r = 0; r < 2; r++) {
            if (!read_back(ss[r], t[r], dt, n, got)) continue;
            int bad = 0;
            for (int64_t i = 0; i < n; i++) bad += got[i] != stored(dt, val(root, i));
            CHECK(bad == 0);
        }
        int src = root, dst = 1 - root;
        xhal_tensor *m = make(devs[dst], ss[dst], dt, n, 11, 0);
        CHECK_OK(xhal_send(comm, src, ss[src], t[src], dst));
        CHECK_OK(xhal_recv(comm, dst, ss[dst], m, src));
        if (read_back(ss[dst], m, dt, n, got)) {
            int bad = 0;
            for (int64_t i = 0; i < n; i++) bad += got[i] != stored(dt, val(root, i));
            CHECK(bad == 0);
        }
        xhal_tensor_destroy(m);
        for (int r = 0; r < 2; r++) xhal_tensor_destroy(t[r]);
    }
    free(got);
}

static void errors(xhal_context *ctx, xhal_comm *comm, xhal_device **devs, xhal_stream **ss)
{
    int64_t n = 6, n5 = 5;
    xhal_tensor *a[2], *b[2];
    for (int r = 0; r < 2; r++) {
        CHECK_OK(xhal_tensor_create(devs[r], XHAL_DTYPE_F32, 1, &n, &a[r]));
        CHECK_OK(xhal_tensor_create(devs[r], XHAL_DTYPE_F32, 1, &n, &b[r]));
    }
    /* dtype across ranks, send vs recv */
    xhal_tensor *h = NULL, *c5 = NULL, *mat = NULL, *tr = NULL;
    CHECK_OK(xhal_tensor_create(devs[1], XHAL_DTYPE_F16, 1, &n, &h));
    xhal_tensor *mix[2] = {a[0], h};
    CHECK_STATUS(xhal_all_reduce(comm, ss, mix, b, XHAL_REDUCE_SUM), XHAL_ERROR_DTYPE_MISMATCH,
                 "rank 1's send is f16 but rank 0's is f32");
    xhal_tensor *mixo[2] = {b[0], h};
    CHECK_STATUS(xhal_all_reduce(comm, ss, a, mixo, XHAL_REDUCE_SUM), XHAL_ERROR_DTYPE_MISMATCH,
                 "rank 1's recv is f16 but its send is f32");
    /* counts */
    CHECK_OK(xhal_tensor_create(devs[1], XHAL_DTYPE_F32, 1, &n5, &c5));
    xhal_tensor *cnt[2] = {a[0], c5};
    CHECK_STATUS(xhal_broadcast(comm, ss, cnt, 0), XHAL_ERROR_SHAPE_MISMATCH, "rank 1's tensor has 5 elements");
    xhal_tensor *rs_out[2] = {b[0], b[1]}; /* 6 elements, but blocks are 3 */
    CHECK_STATUS(xhal_reduce_scatter(comm, ss, a, rs_out, XHAL_REDUCE_SUM), XHAL_ERROR_SHAPE_MISMATCH,
                 "rank 0's recv has 6 elements but its block of the send count is 3");
    CHECK_STATUS(xhal_all_gather(comm, ss, a, b), XHAL_ERROR_SHAPE_MISMATCH,
                 "rank 0's send has 6 elements but its block of the recv count is 3");
    int64_t sh23[2] = {2, 3}, sh32[2] = {3, 2};
    xhal_tensor *m23 = NULL, *m32 = NULL;
    CHECK_OK(xhal_tensor_create(devs[0], XHAL_DTYPE_F32, 2, sh23, &m23));
    CHECK_OK(xhal_tensor_create(devs[0], XHAL_DTYPE_F32, 2, sh32, &m32));
    xhal_tensor *s23[2] = {m23, a[1]}, *r32[2] = {m32, b[1]};
    CHECK_STATUS(xhal_all_reduce(comm, ss, s23, r32, XHAL_REDUCE_SUM), XHAL_ERROR_SHAPE_MISMATCH, "rank 0");
    /* streams and tensors on the wrong device (rank 1 is devs[1]) */
    if (devs[0] != devs[1]) {
        xhal_stream *sw[2] = {ss[0], ss[0]};
        CHECK_STATUS(xhal_all_reduce(comm, sw, a, b, XHAL_REDUCE_SUM), XHAL_ERROR_WRONG_DEVICE,
                     "rank 1's stream is on");
        xhal_tensor *aw[2] = {a[0], a[0]};
        CHECK_STATUS(xhal_all_reduce(comm, ss, aw, b, XHAL_REDUCE_SUM), XHAL_ERROR_WRONG_DEVICE, "rank 1's send is on");
    }
    /* not contiguous */
    CHECK_OK(xhal_tensor_create(devs[0], XHAL_DTYPE_F32, 2, sh23, &mat));
    CHECK_OK(xhal_tensor_transpose(mat, 0, 1, &tr));
    xhal_tensor *nc[2] = {tr, a[1]};
    CHECK_STATUS(xhal_broadcast(comm, ss, nc, 0), XHAL_ERROR_INVALID_ARGUMENT, "rank 0's tensor is not contiguous");
    /* quantized dtype */
    int64_t q = 32;
    xhal_tensor *tq = NULL;
    if (xhal_tensor_create(devs[0], XHAL_DTYPE_Q8_0, 1, &q, &tq) == XHAL_OK) {
        xhal_tensor *qq[2] = {tq, a[1]};
        CHECK_STATUS(xhal_broadcast(comm, ss, qq, 0), XHAL_ERROR_DTYPE_MISMATCH, "plain dtypes");
        xhal_tensor_destroy(tq);
    }
    /* ranges, NULLs, overlaps */
    CHECK_STATUS(xhal_broadcast(comm, ss, a, 2), XHAL_ERROR_INVALID_ARGUMENT, "root 2 is outside [0, 2)");
    CHECK_STATUS(xhal_all_reduce(comm, ss, a, b, (xhal_reduce_op)7), XHAL_ERROR_INVALID_ARGUMENT, "op is 7");
    CHECK_STATUS(xhal_all_reduce(comm, NULL, a, b, XHAL_REDUCE_SUM), XHAL_ERROR_INVALID_ARGUMENT, "streams is NULL");
    CHECK_STATUS(xhal_all_reduce(comm, ss, a, NULL, XHAL_REDUCE_SUM), XHAL_ERROR_INVALID_ARGUMENT, "recv is NULL");
    if (devs[0] == devs[1]) {
        xhal_tensor *same[2] = {b[0], b[0]};
        CHECK_STATUS(xhal_all_reduce(comm, ss, a, same, XHAL_REDUCE_SUM), XHAL_ERROR_INVALID_ARGUMENT,
                     "rank 0's recv overlaps rank 1's");
    }
    xhal_tensor *half = NULL;
    CHECK_OK(xhal_tensor_slice(a[0], 0, 0, 3, 1, &half));
    xhal_tensor *ag_in[2] = {half, NULL};
    CHECK_OK(xhal_tensor_slice(a[1], 0, 0, 3, 1, &ag_in[1]));
    CHECK_STATUS(xhal_all_gather(comm, ss, ag_in, a), XHAL_ERROR_INVALID_ARGUMENT, "rank 0's recv overlaps its send");
    xhal_tensor_destroy(ag_in[1]);
    xhal_tensor_destroy(half);
    /* point to point */
    CHECK_STATUS(xhal_recv(comm, 1, ss[1], a[1], 0), XHAL_ERROR_INVALID_ARGUMENT, "rank 1 has no message from rank 0");
    CHECK_STATUS(xhal_send(comm, 0, ss[0], a[0], 0), XHAL_ERROR_INVALID_ARGUMENT, "rank 0 itself");
    CHECK_STATUS(xhal_send(comm, 2, ss[0], a[0], 1), XHAL_ERROR_INVALID_ARGUMENT, "local rank 2");
    CHECK_OK(xhal_send(comm, 0, ss[0], a[0], 1));
    CHECK_STATUS(xhal_recv(comm, 1, ss[1], c5, 0), XHAL_ERROR_SHAPE_MISMATCH, "which sent 6 f32");
    CHECK_OK(xhal_recv(comm, 1, ss[1], a[1], 0)); /* the message stayed queued */
    /* dead handles */
    xhal_tensor *dead = NULL;
    CHECK_OK(xhal_tensor_create(devs[0], XHAL_DTYPE_F32, 1, &n, &dead));
    CHECK_OK(xhal_tensor_destroy(dead));
    xhal_tensor *dd[2] = {dead, a[1]};
    CHECK_STATUS(xhal_broadcast(comm, ss, dd, 0), XHAL_ERROR_INVALID_HANDLE, "rank 0's tensor");
    CHECK_STATUS(xhal_all_reduce(NULL, ss, a, b, XHAL_REDUCE_SUM), XHAL_ERROR_INVALID_HANDLE, "comm is NULL");
    xhal_device *d0 = devs[0];
    xhal_comm *c2 = NULL;
    CHECK_OK(xhal_comm_create(ctx, &d0, 1, NULL, &c2));
    CHECK_OK(xhal_comm_destroy(c2));
    CHECK_STATUS(xhal_comm_destroy(c2), XHAL_ERROR_INVALID_HANDLE, "not a live communicator");
    xhal_tensor *one[1] = {a[0]};
    CHECK_STATUS(xhal_broadcast(c2, ss, one, 0), XHAL_ERROR_INVALID_HANDLE, "not a live communicator");
    for (int r = 0; r < 2; r++) {
        xhal_tensor_destroy(a[r]);
        xhal_tensor_destroy(b[r]);
    }
    xhal_tensor_destroy(h);
    xhal_tensor_destroy(c5);
    xhal_tensor_destroy(m23);
    xhal_tensor_destroy(m32);
    xhal_tensor_destroy(tr);
    xhal_tensor_destroy(mat);
}

static void pair(xhal_context *ctx, xhal_device *d0, xhal_device *d1, int expect_staged)
{
    xhal_device *devs[2] = {d0, d1};
    xhal_stream *ss[2];
    CHECK_OK(xhal_stream_create(d0, &ss[0]));
    CHECK_OK(xhal_stream_create(d1, &ss[1]));
    xhal_comm *comm = NULL;
    CHECK_OK(xhal_comm_create(ctx, devs, 2, NULL, &comm));
    if (!comm) return;
    xhal_comm_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    CHECK_OK(xhal_comm_get_info(comm, &info));
    CHECK(!strcmp(info.engine, "host"));
    CHECK(info.size == 2 && info.n_local == 2 && info.first_rank == 0);
    CHECK(info.staged == expect_staged);
    CHECK(info.ring[0] == 0 && info.ring[1] == 1);
    printf("engine %s (%s), staged %d\n", info.engine, info.reason, info.staged);
    xhal_device *got = NULL;
    CHECK_OK(xhal_comm_device(comm, 1, &got));
    CHECK(got == d1);
    CHECK_STATUS(xhal_comm_device(comm, 2, &got), XHAL_ERROR_INVALID_ARGUMENT, "local rank 2");
    static const int64_t sizes[] = {0, 1, 2, 7, 1000, 4099};
    for (size_t k = 0; k < sizeof DTYPES / sizeof DTYPES[0]; k++)
        for (size_t j = 0; j < sizeof sizes / sizeof sizes[0]; j++) run_all(comm, devs, ss, DTYPES[k], sizes[j]);
    errors(ctx, comm, devs, ss);
    CHECK_OK(xhal_comm_destroy(comm));
    xhal_stream_destroy(ss[0]);
    xhal_stream_destroy(ss[1]);
}

int main(void)
{
    /* no engine plugin at that path: unavailable, naming it (loading is tried once per process) */
    setenv("XHAL_MPI_ENGINE", "/nonexistent/libxhal_mpi.so", 1);
    xhal_context *ctx = NULL;
    CHECK_OK(xhal_context_create(NULL, &ctx));
    if (!ctx) return xtest_finish("test_comm");
    xhal_device *cpu = NULL, *ocl = NULL;
    CHECK_OK(xhal_device_find(ctx, "cpu:0", &cpu));
    xhal_comm *bad = NULL;
    CHECK_STATUS(xhal_comm_create_mpi(ctx, cpu, &bad), XHAL_ERROR_UNAVAILABLE,
                 "XHAL_MPI_ENGINE=/nonexistent/libxhal_mpi.so: no such readable file");
    char name[32], why[512];
    int avail = -1;
    CHECK_OK(xhal_comm_engine_query(ctx, NULL, NULL, "mpi", name, sizeof name, why, sizeof why, &avail));
    CHECK(avail == 0 && strstr(why, "no such readable file"));
    CHECK_OK(xhal_comm_engine_query(ctx, cpu, cpu, NULL, name, sizeof name, why, sizeof why, &avail));
    CHECK(avail == 1 && !strcmp(name, "host"));
    /* creation errors */
    xhal_device *two[2] = {cpu, cpu};
    CHECK_STATUS(xhal_comm_create(ctx, two, 0, NULL, &bad), XHAL_ERROR_INVALID_ARGUMENT, "n is 0");
    CHECK_STATUS(xhal_comm_create(ctx, two, 2, "mpi", &bad), XHAL_ERROR_INVALID_ARGUMENT, "xhal_comm_create_mpi");
    CHECK_STATUS(xhal_comm_create(ctx, two, 2, "nccl", &bad), XHAL_ERROR_UNAVAILABLE,
                 "backend cpu provides no collective library");
    xhal_device *nul[2] = {cpu, NULL};
    CHECK_STATUS(xhal_comm_create(ctx, nul, 2, NULL, &bad), XHAL_ERROR_INVALID_HANDLE, "devices[1]");
    int64_t off, len;
    CHECK_OK(xhal_comm_partition(7, 3, 2, &off, &len));
    CHECK(off == 5 && len == 2);
    CHECK_OK(xhal_comm_partition(2, 4, 3, &off, &len));
    CHECK(off == 2 && len == 0);
    CHECK_STATUS(xhal_comm_partition(7, 3, 3, &off, &len), XHAL_ERROR_INVALID_ARGUMENT, "rank 3");

    printf("== cpu:0 serving ranks 0 and 1\n");
    pair(ctx, cpu, cpu, 0);
    if (xhal_device_find(ctx, "opencl:0", &ocl) == XHAL_OK) {
        printf("== cpu:0 + opencl:0\n");
        pair(ctx, cpu, ocl, 1);
        CHECK_OK(xhal_comm_engine_query(ctx, cpu, ocl, NULL, name, sizeof name, why, sizeof why, &avail));
        CHECK(!strcmp(name, "host") && strstr(why, "different backends"));
    } else {
        printf("opencl:0 not present: the heterogeneous pair is skipped (%s)\n", xhal_last_error());
    }
    /* a communicator left alive is destroyed with its context */
    xhal_comm *left = NULL;
    CHECK_OK(xhal_comm_create(ctx, two, 2, "host", &left));
    CHECK_OK(xhal_context_destroy(ctx));
    return xtest_finish("test_comm");
}
