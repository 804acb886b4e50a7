/* test_host_memory.c - zero-copy host memory: xhal_tensor_host_pointer lends a cpu tensor's
 * memory; xhal_buffer_wrap_host runs ops in place on memory the caller owns (exactly sized
 * malloc blocks, so ASan sees any touch past the elements), calls release exactly once, and
 * every bad argument gets its status and message. */
#include <stdlib.h>

#include "xtest.h"

static int released;
static void *released_user;

static void on_release(void *user)
{
    released++;
    released_user = user;
}

/* A tensor over wrapped memory: [rows, cols] f32. */
static xhal_tensor *wrapped(xhal_device *dev, float *p, int64_t rows, int64_t cols, xhal_buffer **buf)
{
    xhal_tensor *t = NULL;
    int64_t shape[2] = {rows, cols};
    CHECK_OK(xhal_buffer_wrap_host(dev, p, (uint64_t)(rows * cols) * sizeof(float), NULL, NULL, buf));
    CHECK_OK(xhal_tensor_from_buffer(*buf, XHAL_DTYPE_F32, 2, shape, NULL, 0, &t));
    CHECK_OK(xhal_buffer_destroy(*buf)); /* the tensor keeps it */
    return t;
}

static void test_ops_in_place(xhal_device *cpu, xhal_stream *s)
{
    enum { M = 7, K = 5, N = 3 };
    float *a = malloc(sizeof(float) * M * K), *b = malloc(sizeof(float) * K * N), *c = malloc(sizeof(float) * M * N);
    float *d = malloc(sizeof(float) * M * K);
    for (int i = 0; i < M * K; i++) a[i] = (float)(i % 11) - 5.0f;
    for (int i = 0; i < K * N; i++) b[i] = (float)(i % 7) * 0.5f;
    xhal_buffer *ba, *bb, *bc, *bd;
    xhal_tensor *ta = wrapped(cpu, a, M, K, &ba), *tb = wrapped(cpu, b, K, N, &bb);
    xhal_tensor *tc = wrapped(cpu, c, M, N, &bc), *td = wrapped(cpu, d, M, K, &bd);
    CHECK_OK(xhal_matmul(s, ta, tb, 0, 0, 1.0, 0.0, tc));
    CHECK_OK(xhal_add(s, ta, ta, td));
    CHECK_OK(xhal_stream_synchronize(s));
    int bad = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double ref = 0;
            for (int k = 0; k < K; k++) ref += (double)a[i * K + k] * b[k * N + j];
            if (fabs(ref - c[i * N + j]) > 1e-4) bad++;
        }
    CHECK(bad == 0);
    for (int i = 0; i < M * K; i++) bad += d[i] != 2 * a[i];
    CHECK(bad == 0);
    /* the host writes, the device sees it: no copy in between */
    a[3] = 100.0f;
    CHECK_OK(xhal_softmax(s, ta, 1.0, 0, td));
    CHECK_OK(xhal_stream_synchronize(s));
    CHECK(d[3] > 0.99f);
    CHECK_OK(xhal_fill(s, tc, 2.5));
    CHECK_OK(xhal_stream_synchronize(s));
    CHECK(c[0] == 2.5f && c[M * N - 1] == 2.5f);
    void *p = NULL;
    CHECK_OK(xhal_tensor_host_pointer(tc, &p));
    CHECK(p == (void *)c);
    xhal_tensor *row = NULL;
    CHECK_OK(xhal_tensor_slice(tc, 0, 2, 4, 1, &row));
    CHECK_OK(xhal_tensor_host_pointer(row, &p));
    CHECK(p == (void *)(c + 2 * N));
    xhal_tensor_destroy(row);
    xhal_tensor_destroy(ta);
    xhal_tensor_destroy(tb);
    xhal_tensor_destroy(tc);
    xhal_tensor_destroy(td);
    /* the memory is still the caller's */
    CHECK(c[1] == 2.5f);
    free(a);
    free(b);
    free(c);
    free(d);
}

static void test_host_pointer_of_created_tensor(xhal_device *cpu, xhal_stream *s)
{
    xhal_tensor *t = NULL;
    int64_t shape[1] = {16};
    CHECK_OK(xhal_tensor_create(cpu, XHAL_DTYPE_U8, 1, shape, &t));
    const unsigned char bytes[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    CHECK_OK(xhal_tensor_write(s, t, bytes, 16));
    void *p = NULL;
    CHECK_OK(xhal_tensor_host_pointer(t, &p));
    CHECK(p && memcmp(p, bytes, 16) == 0);
    ((unsigned char *)p)[0] = 42;
    unsigned char back[16];
    CHECK_OK(xhal_tensor_read(s, t, back, 16));
    CHECK(back[0] == 42);
    CHECK_STATUS(xhal_tensor_host_pointer(t, NULL), XHAL_ERROR_INVALID_ARGUMENT, "out is NULL");
    CHECK_OK(xhal_tensor_destroy(t));
    CHECK_STATUS(xhal_tensor_host_pointer(NULL, &p), XHAL_ERROR_INVALID_HANDLE, "xhal_tensor_host_pointer");
}

static void test_release_once(xhal_device *cpu)
{
    float *m = malloc(sizeof(float) * 4);
    xhal_buffer *buf = NULL;
    xhal_tensor *t = NULL;
    int64_t four = 4;
    released = 0;
    CHECK_OK(xhal_buffer_wrap_host(cpu, m, 4 * sizeof(float), on_release, m, &buf));
    CHECK_OK(xhal_tensor_from_buffer(buf, XHAL_DTYPE_F32, 1, &four, NULL, 0, &t));
    CHECK_OK(xhal_buffer_destroy(buf));
    CHECK(released == 0); /* the tensor still uses it */
    CHECK_OK(xhal_tensor_destroy(t));
    CHECK(released == 1 && released_user == (void *)m);
    free(m);
}

static void test_bad_arguments(xhal_context *ctx, xhal_device *cpu)
{
    float x[4];
    xhal_buffer *buf = NULL;
    released = 0;
    CHECK_STATUS(xhal_buffer_wrap_host(cpu, NULL, 16, on_release, NULL, &buf), XHAL_ERROR_INVALID_ARGUMENT,
                 "ptr or out is NULL");
    CHECK_STATUS(xhal_buffer_wrap_host(cpu, x, 16, on_release, NULL, NULL), XHAL_ERROR_INVALID_ARGUMENT,
                 "ptr or out is NULL");
    CHECK_STATUS(xhal_buffer_wrap_host(cpu, x, 0, on_release, NULL, &buf), XHAL_ERROR_INVALID_ARGUMENT, "size is 0");
    CHECK_STATUS(xhal_buffer_wrap_host(cpu, (void *)(UINTPTR_MAX - 8), 64, on_release, NULL, &buf),
                 XHAL_ERROR_INVALID_ARGUMENT, "wrap around");
    CHECK_STATUS(xhal_buffer_wrap_host(NULL, x, 16, on_release, NULL, &buf), XHAL_ERROR_INVALID_HANDLE, NULL);
    CHECK(released == 0 && buf == NULL);
    /* a device whose backend does not lend or wrap host memory says so */
    xhal_device *ocl = NULL;
    if (xhal_device_find(ctx, "opencl:0", &ocl) == XHAL_OK) {
        CHECK_STATUS(xhal_buffer_wrap_host(ocl, x, 16, on_release, NULL, &buf), XHAL_ERROR_UNSUPPORTED, "opencl:0");
        CHECK(released == 0 && buf == NULL);
        xhal_tensor *ot = NULL;
        int64_t n = 4;
        void *p = NULL;
        CHECK_OK(xhal_tensor_create(ocl, XHAL_DTYPE_F32, 1, &n, &ot));
        CHECK_STATUS(xhal_tensor_host_pointer(ot, &p), XHAL_ERROR_UNSUPPORTED, "opencl:0");
        CHECK(p == NULL);
        xhal_tensor_destroy(ot);
    } else {
        printf("test_host_memory: no opencl:0, its UNSUPPORTED cases not run\n");
    }
    /* a tensor over wrapped memory stays inside it */
    int64_t five = 5;
    xhal_tensor *t = NULL;
    CHECK_OK(xhal_buffer_wrap_host(cpu, x, sizeof x, NULL, NULL, &buf));
    CHECK_STATUS(xhal_tensor_from_buffer(buf, XHAL_DTYPE_F32, 1, &five, NULL, 0, &t), XHAL_ERROR_OUT_OF_RANGE, NULL);
    xhal_buffer_destroy(buf);
}

int main(void)
{
    xhal_context *ctx = NULL;
    xhal_device *cpu = NULL;
    xhal_stream *s = NULL;
    if (xhal_context_create(NULL, &ctx) != XHAL_OK || xhal_device_find(ctx, "cpu:0", &cpu) != XHAL_OK ||
        xhal_stream_create(cpu, &s) != XHAL_OK) {
        fprintf(stderr, "setup: %s\n", xhal_last_error());
        return 1;
    }
    test_ops_in_place(cpu, s);
    test_host_pointer_of_created_tensor(cpu, s);
    test_release_once(cpu);
    test_bad_arguments(ctx, cpu);
    {
        /* release at context destroy */
        float *m = malloc(sizeof(float) * 4);
        xhal_buffer *buf = NULL;
        released = 0;
        CHECK_OK(xhal_buffer_wrap_host(cpu, m, 4 * sizeof(float), on_release, m, &buf));
        CHECK_OK(xhal_context_destroy(ctx));
        CHECK(released == 1 && released_user == (void *)m);
        free(m);
        ctx = NULL;
    }
    if (ctx) xhal_context_destroy(ctx);
    return xtest_finish("test_host_memory");
}
