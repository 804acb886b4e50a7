/* test_kernels.c - custom kernels through the public API (xhal_program_create /
 * xhal_kernel_launch) on every device that reports XHAL_CAP_CUSTOM_KERNELS, and their
 * validation rules. A device without the capability must answer UNSUPPORTED. */
#include "xtest.h"

#include <stdlib.h>

static const char *src = "XK_KERNEL void axpy(XK_GLOBAL float *y, XK_GLOBAL const float *x, float a, xk_i64 n)\n"
                         "{\n"
                         "    xk_i64 i = XK_GLOBAL_ID(0);\n"
                         "    if (i < n) y[i] = a * x[i] + y[i];\n"
                         "}\n";

static void run_on(xhal_device *dev, const char *spec)
{
    xhal_stream *s = NULL;
    xhal_program *p = NULL;
    CHECK_OK(xhal_stream_create(dev, &s));
    CHECK_OK(xhal_program_create(dev, src, NULL, &p));
    CHECK_STATUS(xhal_program_create(dev, "XK_KERNEL void broken(", NULL, &p), XHAL_ERROR_BACKEND, "");
    int64_t n = 1000;
    xhal_tensor *x = NULL, *y = NULL;
    CHECK_OK(xhal_tensor_create(dev, XHAL_DTYPE_F32, 1, &n, &x));
    CHECK_OK(xhal_tensor_create(dev, XHAL_DTYPE_F32, 1, &n, &y));
    float *hx = malloc(sizeof(float) * (size_t)n), *hy = malloc(sizeof(float) * (size_t)n);
    for (int i = 0; i < n; i++) {
        hx[i] = (float)i;
        hy[i] = 1.0f;
    }
    CHECK_OK(xhal_tensor_write(s, x, hx, sizeof(float) * (uint64_t)n));
    CHECK_OK(xhal_tensor_write(s, y, hy, sizeof(float) * (uint64_t)n));
    xhal_kernel_arg args[4] = {{.kind = XHAL_ARG_TENSOR, .value.tensor = y},
                               {.kind = XHAL_ARG_TENSOR, .value.tensor = x},
                               {.kind = XHAL_ARG_F32, .value.f32 = 2.0f},
                               {.kind = XHAL_ARG_I64, .value.i64 = n}};
    uint64_t global = 1024, local = 64;
    CHECK_OK(xhal_kernel_launch(s, p, "axpy", 1, &global, &local, 4, args));
    CHECK_OK(xhal_tensor_read(s, y, hy, sizeof(float) * (uint64_t)n));
    int bad = 0;
    for (int i = 0; i < n; i++) bad += hy[i] != 2.0f * (float)i + 1.0f;
    CHECK(bad == 0);
    if (bad) fprintf(stderr, "  %s: %d wrong elements\n", spec, bad);
    /* validation rules */
    uint64_t zero = 0, odd = 1000;
    CHECK_STATUS(xhal_kernel_launch(s, p, "axpy", 0, &global, NULL, 4, args), XHAL_ERROR_INVALID_ARGUMENT, "dims 0");
    CHECK_STATUS(xhal_kernel_launch(s, p, "axpy", 1, &zero, NULL, 4, args), XHAL_ERROR_INVALID_ARGUMENT,
                 "global_size[0] is 0");
    /* issue 17: 2^62 items returned OK and PoCL aborted at synchronize */
    uint64_t huge = 1ull << 62, g3[3] = {1ull << 20, 1ull << 20, 1ull << 20};
    CHECK_STATUS(xhal_kernel_launch(s, p, "axpy", 1, &huge, NULL, 4, args), XHAL_ERROR_INVALID_ARGUMENT,
                 "exceeds 4294967295");
    CHECK_STATUS(xhal_kernel_launch(s, p, "axpy", 3, g3, NULL, 4, args), XHAL_ERROR_INVALID_ARGUMENT, "more than 2^41");
    CHECK_STATUS(xhal_kernel_launch(s, p, "axpy", 1, &odd, &local, 4, args), XHAL_ERROR_INVALID_ARGUMENT,
                 "not a multiple of local_size 64");
    CHECK_STATUS(xhal_kernel_launch(s, p, NULL, 1, &global, NULL, 4, args), XHAL_ERROR_INVALID_ARGUMENT, "name");
    xhal_kernel_arg badarg[1] = {{.kind = 99}};
    CHECK_STATUS(xhal_kernel_launch(s, p, "axpy", 1, &global, NULL, 1, badarg), XHAL_ERROR_INVALID_ARGUMENT,
                 "unknown kind 99");
    xhal_kernel_arg dead[1] = {{.kind = XHAL_ARG_TENSOR, .value.tensor = NULL}};
    CHECK_STATUS(xhal_kernel_launch(s, p, "axpy", 1, &global, NULL, 1, dead), XHAL_ERROR_INVALID_HANDLE, "argument 0");
    CHECK_OK(xhal_program_destroy(p));
    CHECK_STATUS(xhal_kernel_launch(s, p, "axpy", 1, &global, NULL, 4, args), XHAL_ERROR_INVALID_HANDLE,
                 "not a live program");
    CHECK_STATUS(xhal_program_destroy(p), XHAL_ERROR_INVALID_HANDLE, "not a live program");
    free(hx);
    free(hy);
    xhal_tensor_destroy(x);
    xhal_tensor_destroy(y);
    xhal_stream_destroy(s);
}

int main(void)
{
    xhal_context *ctx = NULL;
    CHECK_OK(xhal_context_create(NULL, &ctx));
    int n = 0, ran = 0;
    CHECK_OK(xhal_device_count(ctx, &n));
    for (int i = 0; i < n; i++) {
        xhal_device *dev = NULL;
        xhal_device_info info;
        CHECK_OK(xhal_device_get(ctx, i, &dev));
        CHECK_OK(xhal_device_get_info(dev, &info));
        if (info.caps & XHAL_CAP_CUSTOM_KERNELS) {
            run_on(dev, info.spec);
            ran++;
        } else {
            xhal_program *p = NULL;
            CHECK_STATUS(xhal_program_create(dev, src, NULL, &p), XHAL_ERROR_UNSUPPORTED, "has no custom kernels");
        }
    }
    printf("test_kernels: custom kernels ran on %d device(s)\n", ran);
    CHECK_OK(xhal_context_destroy(ctx));
    return xtest_finish("test_kernels");
}
