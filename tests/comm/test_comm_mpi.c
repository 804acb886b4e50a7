/* test_comm_mpi.c - collectives across processes through the MPI engine (libxhal_mpi.so), run
 * by ctest as `mpirun -np 2 test_comm_mpi`: rank 0 on cpu:0 (host memory, no staging), rank 1
 * on opencl:0 when present (staged through host memory), else cpu:0. Every collective x dtype x
 * count (0, 1, odd counts not divisible by 2), then the errors only a cross-process check can
 * find (dtype and count differing between processes), reported on both ranks. */
#include "xhal/plugin/xhal_half.h"
#include "xtest.h"

#include <stdint.h>

static double val(int rank, int64_t i) { return (double)((i * 3 + rank * 5) % 17 - (rank == 1 ? 3 : 8)); }

static void to_bytes(xhal_dtype dt, const double *v, int64_t n, void *out)
{
    for (int64_t i = 0; i < n; i++) switch (dt) {
            case XHAL_DTYPE_F32: ((float *)out)[i] = (float)v[i]; break;
            case XHAL_DTYPE_F16: ((uint16_t *)out)[i] = xhal_f32_to_f16((float)v[i]); break;
            case XHAL_DTYPE_BF16: ((uint16_t *)out)[i] = xhal_f32_to_bf16((float)v[i]); break;
            case XHAL_DTYPE_I32: ((int32_t *)out)[i] = (int32_t)v[i]; break;
            default: break;
        }
}

static double from_bytes(xhal_dtype dt, const void *p, int64_t i)
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
    if (!t || n == 0) return t;
    double *v = malloc((size_t)n * sizeof *v);
    void *b = malloc((size_t)n * 8);
    for (int64_t i = 0; i < n; i++) v[i] = val(rank, i);
    to_bytes(dt, v, n, b);
    CHECK_OK(xhal_tensor_write(s, t, b, (uint64_t)n * xhal_dtype_size(dt)));
    free(v);
    free(b);
    return t;
}

static int check_vals(xhal_stream *s, xhal_tensor *t, xhal_dtype dt, int64_t n, int64_t first,
                      double (*want)(int64_t, void *), void *user, const char *what)
{
    if (n == 0) return 0;
    void *b = malloc((size_t)n * 8);
    CHECK_OK(xhal_tensor_read(s, t, b, (uint64_t)n * xhal_dtype_size(dt)));
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double g = from_bytes(dt, b, i), w = want(first + i, user);
        if (g != w && !bad++)
            fprintf(stderr, "%s %s n=%lld [%lld] = %g, want %g\n", what, xhal_dtype_name(dt), (long long)n,
                    (long long)(first + i), g, w);
    }
    free(b);
    CHECK(bad == 0);
    return bad;
}

static double want_sum(int64_t i, void *u)
{
    (void)u;
    return val(0, i) + val(1, i);
}
static double want_max(int64_t i, void *u)
{
    (void)u;
    return val(0, i) > val(1, i) ? val(0, i) : val(1, i);
}
static double want_root(int64_t i, void *u) { return val(*(int *)u, i); }

int main(void)
{
    xhal_context *ctx = NULL;
    CHECK_OK(xhal_context_create(NULL, &ctx));
    if (!ctx) return xtest_finish("test_comm_mpi");
    xhal_device *cpu = NULL, *dev = NULL;
    CHECK_OK(xhal_device_find(ctx, "cpu:0", &cpu));
    dev = cpu;
    /* mpirun's rank, known before MPI starts (Open MPI sets OMPI_COMM_WORLD_RANK): rank 1 takes
     * opencl:0 when there is one, so that its data is staged through host memory */
    const char *env_rank = getenv("OMPI_COMM_WORLD_RANK");
    if (env_rank && !strcmp(env_rank, "1") && xhal_device_find(ctx, "opencl:0", &dev) != XHAL_OK) dev = cpu;
    xhal_comm *comm = NULL;
    CHECK_OK(xhal_comm_create_mpi(ctx, dev, &comm));
    if (!comm) {
        xhal_context_destroy(ctx);
        return xtest_finish("test_comm_mpi");
    }
    xhal_comm_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    CHECK_OK(xhal_comm_get_info(comm, &info));
    CHECK(info.size == 2 && info.n_local == 1 && !strcmp(info.engine, "mpi"));
    int me = info.first_rank;
    CHECK(info.staged == (dev != cpu));
    xhal_device *mine = NULL;
    CHECK_OK(xhal_comm_device(comm, 0, &mine));
    CHECK(mine == dev);
    printf("rank %d of %d: engine %s (%s)\n", me, info.size, info.engine, info.reason);
    xhal_stream *s = NULL;
    CHECK_OK(xhal_stream_create(dev, &s));
    xhal_stream *ss[1] = {s};
    static const xhal_dtype dts[] = {XHAL_DTYPE_F32, XHAL_DTYPE_F16, XHAL_DTYPE_BF16, XHAL_DTYPE_I32};
    static const int64_t sizes[] = {0, 1, 7, 1001};
    for (size_t k = 0; k < 4; k++)
        for (size_t j = 0; j < 4; j++) {
            xhal_dtype dt = dts[k];
            int64_t n = sizes[j];
            for (int op = 0; op < 2; op++) {
                xhal_tensor *in = make(dev, s, dt, n, me), *out = make(dev, s, dt, n, 5);
                xhal_tensor *ia[1] = {in}, *oa[1] = {out};
                CHECK_OK(xhal_all_reduce(comm, ss, ia, op ? ia : oa, (xhal_reduce_op)op));
                check_vals(s, op ? in : out, dt, n, 0, op ? want_max : want_sum, NULL, "all_reduce");
                xhal_tensor_destroy(in);
                xhal_tensor_destroy(out);
            }
            int64_t off, len;
            CHECK_OK(xhal_comm_partition(n, 2, me, &off, &len));
            xhal_tensor *in = make(dev, s, dt, n, me), *blk = make(dev, s, dt, len, 5), *all = make(dev, s, dt, n, 5);
            xhal_tensor *ia[1] = {in}, *ba[1] = {blk}, *aa[1] = {all};
            CHECK_OK(xhal_reduce_scatter(comm, ss, ia, ba, XHAL_REDUCE_SUM));
            check_vals(s, blk, dt, len, off, want_sum, NULL, "reduce_scatter");
            CHECK_OK(xhal_all_gather(comm, ss, ba, aa));
            check_vals(s, all, dt, n, 0, want_sum, NULL, "all_gather");
            for (int root = 0; root < 2; root++) {
                xhal_tensor *t = make(dev, s, dt, n, me), *ta[1] = {t};
                CHECK_OK(xhal_broadcast(comm, ss, ta, root));
                check_vals(s, t, dt, n, 0, want_root, &root, "broadcast");
                xhal_tensor_destroy(t);
            }
            /* rank 0 sends its values to rank 1 */
            xhal_tensor *p = make(dev, s, dt, n, me);
            if (me == 0) {
                CHECK_OK(xhal_send(comm, 0, s, p, 1));
            } else {
                int zero = 0;
                CHECK_OK(xhal_recv(comm, 0, s, p, 0));
                check_vals(s, p, dt, n, 0, want_root, &zero, "send/recv");
            }
            xhal_tensor_destroy(p);
            xhal_tensor_destroy(in);
            xhal_tensor_destroy(blk);
            xhal_tensor_destroy(all);
        }
    /* mismatches between processes: every rank gets the same named error */
    int64_t n6 = 6, n5 = 5;
    xhal_tensor *t = NULL;
    CHECK_OK(xhal_tensor_create(dev, me ? XHAL_DTYPE_F16 : XHAL_DTYPE_F32, 1, &n6, &t));
    xhal_tensor *ta[1] = {t};
    CHECK_STATUS(xhal_all_reduce(comm, ss, ta, ta, XHAL_REDUCE_SUM), XHAL_ERROR_DTYPE_MISMATCH,
                 "rank 1's dtype is f16 but rank 0's is f32");
    xhal_tensor_destroy(t);
    CHECK_OK(xhal_tensor_create(dev, XHAL_DTYPE_F32, 1, me ? &n5 : &n6, &t));
    ta[0] = t;
    CHECK_STATUS(xhal_broadcast(comm, ss, ta, 0), XHAL_ERROR_SHAPE_MISMATCH,
                 "rank 1's element count is 5 but rank 0's is 6");
    CHECK_STATUS(xhal_broadcast(comm, ss, ta, me), XHAL_ERROR_INVALID_ARGUMENT, "rank 1's root is 1 but rank 0's is 0");
    /* a receive of fewer elements than were sent */
    if (me == 0) {
        CHECK_OK(xhal_send(comm, 0, s, t, 1));
    } else {
        CHECK_STATUS(xhal_recv(comm, 0, s, t, 0), XHAL_ERROR_SHAPE_MISMATCH, "more than the 5 elements");
    }
    xhal_tensor_destroy(t);
    CHECK_OK(xhal_comm_destroy(comm));
    /* MPI was started by the engine and finalized with its last communicator */
    xhal_comm *again = NULL;
    CHECK_STATUS(xhal_comm_create_mpi(ctx, cpu, &again), XHAL_ERROR_UNAVAILABLE, "cannot be initialized twice");
    xhal_stream_destroy(s);
    xhal_context_destroy(ctx);
    char name[32];
    snprintf(name, sizeof name, "test_comm_mpi rank %d", me);
    return xtest_finish(name);
}
