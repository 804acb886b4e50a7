/*
 * test_cuda_api.c - the CUDA plugin behind the public API (libxhal's loader, validation
 * and dispatch), pointed at the stand-in driver with XHAL_CUDA_LIBRARY: an unusable
 * driver makes the backend unavailable with its reason while the rest of xhal works;
 * with the stand-in, tensors, fill, copies and error paths go through the core.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xtest.h"

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

static int find_backend(xhal_context *ctx, const char *name, xhal_backend_info *info)
{
    int n = 0;
    xhal_backend_count(ctx, &n);
    for (int i = 0; i < n; i++)
        if (xhal_backend_get_info(ctx, i, info) == XHAL_OK && strcmp(info->name, name) == 0) return 1;
    return 0;
}

static void test_unavailable(void)
{
    setenv("XHAL_CUDA_LIBRARY", "/nonexistent/libcuda.so.1", 1);
    xhal_context *ctx = open_ctx();
    if (ctx == NULL) return;
    xhal_backend_info bi;
    CHECK(find_backend(ctx, "cuda", &bi) || strstr(bi.path, "xhal-cuda") != NULL);
    CHECK(bi.state == XHAL_BACKEND_UNAVAILABLE);
    CHECK(strstr(bi.reason, "libcuda.so.1") != NULL);
    xhal_device *dev = NULL;
    CHECK_STATUS(xhal_device_find(ctx, "cuda:0", &dev), XHAL_ERROR_UNAVAILABLE, "libcuda.so.1");
    /* the other backends are unaffected */
    if (find_backend(ctx, "cpu", &bi)) {
        CHECK(bi.state == XHAL_BACKEND_LOADED);
        CHECK_OK(xhal_device_find(ctx, "cpu:0", &dev));
    }
    xhal_context_destroy(ctx);

    setenv("XHAL_CUDA_LIBRARY", XCU_TEST_STANDIN, 1);
    setenv("XHAL_CUDA_STANDIN", "nodevice", 1);
    ctx = open_ctx();
    if (ctx == NULL) return;
    CHECK(find_backend(ctx, "cuda", &bi) || strstr(bi.path, "xhal-cuda") != NULL);
    CHECK(bi.state == XHAL_BACKEND_UNAVAILABLE && strstr(bi.reason, "CUDA_ERROR_NO_DEVICE") != NULL);
    xhal_context_destroy(ctx);
    unsetenv("XHAL_CUDA_STANDIN");
}

static void test_through_core(void)
{
    setenv("XHAL_CUDA_LIBRARY", XCU_TEST_STANDIN, 1);
    unsetenv("XHAL_CUDA_STANDIN");
    xhal_context *ctx = open_ctx();
    if (ctx == NULL) return;
    xhal_backend_info bi;
    CHECK(find_backend(ctx, "cuda", &bi));
    CHECK(bi.state == XHAL_BACKEND_LOADED && bi.device_count == 2);
    xhal_device *dev = NULL;
    CHECK_OK(xhal_device_find(ctx, "cuda:1", &dev));
    xhal_device_info info;
    CHECK_OK(xhal_device_get_info(dev, &info));
    CHECK(strcmp(info.spec, "cuda:1") == 0 && strcmp(info.arch, "sm_90") == 0);
    CHECK(strcmp(info.pci_bus_id, "0000:bb:00.0") == 0);

    xhal_stream *s = NULL;
    xhal_tensor *t = NULL, *tt = NULL, *c = NULL;
    const int64_t shape[2] = {3, 4}, tshape[2] = {4, 3};
    CHECK_OK(xhal_stream_create(dev, &s));
    CHECK_OK(xhal_tensor_create(dev, XHAL_DTYPE_F32, 2, shape, &t));
    CHECK_OK(xhal_fill(s, t, -1.25));
    float got[12];
    CHECK_OK(xhal_tensor_read(s, t, got, sizeof got));
    for (int i = 0; i < 12; i++) CHECK(got[i] == -1.25f);

    float v[12];
    for (int i = 0; i < 12; i++) v[i] = (float)i;
    CHECK_OK(xhal_tensor_write(s, t, v, sizeof v));
    CHECK_OK(xhal_tensor_transpose(t, 0, 1, &tt));
    CHECK_OK(xhal_tensor_create(dev, XHAL_DTYPE_F32, 2, tshape, &c));
    CHECK_OK(xhal_copy(s, tt, c));
    CHECK_OK(xhal_tensor_read(s, c, got, sizeof got));
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++) CHECK(got[i * 3 + j] == v[j * 4 + i]);
    CHECK_OK(xhal_stream_synchronize(s));

    /* device memory exhausted: OUT_OF_MEMORY from the core, nothing created */
    setenv("XHAL_CUDA_STANDIN", "oom", 1);
    xhal_tensor *big = NULL;
    const int64_t bshape[1] = {(int64_t)16 << 20};
    CHECK_STATUS(xhal_tensor_create(dev, XHAL_DTYPE_F32, 1, bshape, &big), XHAL_ERROR_OUT_OF_MEMORY, "bytes");
    CHECK(big == NULL);

    /* a failing launch is reported with the kernel's name */
    setenv("XHAL_CUDA_STANDIN", "launchfail", 1);
    CHECK_STATUS(xhal_unary(s, XHAL_OP_NEG, t, t), XHAL_ERROR_BACKEND, "xk_unary");
    unsetenv("XHAL_CUDA_STANDIN");

    xhal_tensor_destroy(c);
    xhal_tensor_destroy(tt);
    xhal_tensor_destroy(t);
    xhal_stream_destroy(s);
    CHECK_OK(xhal_context_destroy(ctx));
}

int main(void)
{
    setenv("XHAL_CUDA_CUBLAS_LIBRARY", "none", 1);
    /* keep a real HIP runtime (if installed) out of this process: only cuda is under test */
    setenv("XHAL_HIP_LIBRARY", "/nonexistent/libamdhip64.so", 1);
    test_unavailable();
    test_through_core();
    return xtest_finish("test_cuda_api");
}
