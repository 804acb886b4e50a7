/* test_loader.c - the plugin loader: broken plugins are listed with their reason and every
 * other backend keeps working; device specs; search-path rules. */
#include "xtest.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define BROKEN XHAL_TEST_PLUGIN_DIR "/broken"
#define GOOD XHAL_TEST_PLUGIN_DIR "/good"

static const xhal_backend_info *find(xhal_context *ctx, const char *name, xhal_backend_info *buf)
{
    int n = 0;
    xhal_backend_count(ctx, &n);
    for (int i = 0; i < n; i++) {
        xhal_backend_get_info(ctx, i, buf);
        if (!strcmp(buf->name, name)) return buf;
    }
    return NULL;
}

static void expect_unavailable(xhal_context *ctx, const char *name, const char *reason_part)
{
    xhal_backend_info b;
    const xhal_backend_info *p = find(ctx, name, &b);
    CHECK(p != NULL);
    if (!p) {
        fprintf(stderr, "  backend '%s' not listed\n", name);
        return;
    }
    CHECK(p->state == XHAL_BACKEND_UNAVAILABLE);
    CHECK(p->device_count == 0);
    if (!strstr(p->reason, reason_part)) {
        CHECK(!"reason mismatch");
        fprintf(stderr, "  backend '%s': reason '%s' lacks '%s'\n", name, p->reason, reason_part);
    }
}

int main(void)
{
    xhal_context *ctx = NULL;
    xhal_context_options o;
    xhal_context_options_init(&o);
    o.plugin_path = BROKEN ":" GOOD;
    CHECK_OK(xhal_context_create(&o, &ctx));

    /* each broken plugin is listed, unavailable, with its reason */
    expect_unavailable(ctx, "corrupt", "cannot load shared library");
    expect_unavailable(ctx, "badabi", "ABI mismatch: plugin was built for backend ABI version 42");
    expect_unavailable(ctx, "badabi", "implements version 2");
    /* a plugin built against the version-1 header is refused, naming both versions */
    expect_unavailable(ctx, "abiv1", "ABI mismatch: plugin was built for backend ABI version 1, this libxhal");
    expect_unavailable(ctx, "abiv1", "implements version 2 (rebuild the plugin");
    expect_unavailable(ctx, "nocat", "catalogue_version 0");
    expect_unavailable(ctx, "small", "backend table is 24 bytes");
    expect_unavailable(ctx, "noentry", "no exported symbol xhal_backend_entry");
    expect_unavailable(ctx, "missing", "lacks the required entry 'op_run'");
    expect_unavailable(ctx, "initfail", "FAKE_ERROR_NO_DEVICE");
    expect_unavailable(ctx, "refuse", "refuses hosts of ABI 2");

    /* ... and the others keep working: the good test plugin and the CPU backend */
    xhal_backend_info b;
    CHECK(find(ctx, "testdev", &b) && b.state == XHAL_BACKEND_LOADED && b.device_count == 1);
    CHECK(find(ctx, "cpu", &b) && b.state == XHAL_BACKEND_LOADED);
    xhal_device *dev = NULL;
    CHECK_OK(xhal_device_find(ctx, "cpu", &dev));
    CHECK_OK(xhal_device_find(ctx, "cpu:0", &dev));
    CHECK_OK(xhal_device_find(ctx, "testdev", &dev));
    xhal_device_info di;
    CHECK_OK(xhal_device_get_info(dev, &di));
    CHECK(!strcmp(di.spec, "testdev:0") && !strcmp(di.backend, "testdev") && !strcmp(di.name, "test device"));

    /* device specs */
    CHECK_STATUS(xhal_device_find(ctx, "testdev:1", &dev), XHAL_ERROR_NOT_FOUND, "has 1 device(s)");
    CHECK_STATUS(xhal_device_find(ctx, "nosuch:0", &dev), XHAL_ERROR_NOT_FOUND, "no backend named 'nosuch'");
    CHECK_STATUS(xhal_device_find(ctx, "nosuch:0", &dev), XHAL_ERROR_NOT_FOUND, "cpu:0");
    CHECK_STATUS(xhal_device_find(ctx, "initfail:0", &dev), XHAL_ERROR_UNAVAILABLE, "FAKE_ERROR_NO_DEVICE");
    CHECK_STATUS(xhal_device_find(ctx, "cpu:x", &dev), XHAL_ERROR_INVALID_ARGUMENT, "malformed");
    CHECK_STATUS(xhal_device_find(ctx, "cpu:-1", &dev), XHAL_ERROR_INVALID_ARGUMENT, "malformed");
    CHECK_STATUS(xhal_device_find(ctx, "cpu:", &dev), XHAL_ERROR_INVALID_ARGUMENT, "malformed");
    CHECK_STATUS(xhal_device_find(ctx, "", &dev), XHAL_ERROR_INVALID_ARGUMENT, "malformed");
    CHECK_STATUS(xhal_device_find(ctx, ":0", &dev), XHAL_ERROR_INVALID_ARGUMENT, "malformed");
    CHECK_STATUS(xhal_device_find(ctx, NULL, &dev), XHAL_ERROR_INVALID_ARGUMENT, "spec is NULL");
    CHECK_STATUS(xhal_device_find(NULL, "cpu", &dev), XHAL_ERROR_INVALID_HANDLE, "context is NULL");
    int n = 0;
    CHECK_STATUS(xhal_backend_get_info(ctx, 999, &b), XHAL_ERROR_OUT_OF_RANGE, "999");
    CHECK_STATUS(xhal_device_get(ctx, -1, &dev), XHAL_ERROR_OUT_OF_RANGE, "-1");
    CHECK_STATUS(xhal_device_count(ctx, NULL), XHAL_ERROR_INVALID_ARGUMENT, NULL);
    CHECK_OK(xhal_device_count(ctx, &n));
    CHECK(n >= 2);

    /* a backend that runs no ops says so, naming op, dtype and device */
    CHECK_OK(xhal_device_find(ctx, "testdev", &dev));
    xhal_stream *s = NULL;
    xhal_tensor *t = NULL;
    int64_t shape[1] = {4};
    CHECK_OK(xhal_stream_create(dev, &s));
    CHECK_OK(xhal_tensor_create(dev, XHAL_DTYPE_F32, 1, shape, &t));
    CHECK_STATUS(xhal_unary(s, XHAL_OP_EXP, t, t), XHAL_ERROR_UNSUPPORTED,
                 "op exp (f32) is not supported on testdev:0");
    /* transfers work through the required entries */
    float in[4] = {1, 2, 3, 4}, out[4] = {0};
    CHECK_OK(xhal_tensor_write(s, t, in, sizeof in));
    CHECK_OK(xhal_tensor_read(s, t, out, sizeof out));
    CHECK(!memcmp(in, out, sizeof in));
    /* events without backend support are emulated by the core */
    xhal_event *e0 = NULL, *e1 = NULL;
    double ms = -1;
    CHECK_OK(xhal_event_create(dev, &e0));
    CHECK_OK(xhal_event_create(dev, &e1));
    CHECK_STATUS(xhal_event_elapsed_ms(e0, e1, &ms), XHAL_ERROR_INVALID_ARGUMENT, "never recorded");
    CHECK_OK(xhal_event_record(e0, s));
    CHECK_OK(xhal_event_record(e1, s));
    CHECK_OK(xhal_event_synchronize(e1));
    CHECK_OK(xhal_event_elapsed_ms(e0, e1, &ms));
    CHECK(ms >= 0.0);
    /* custom kernels: the test backend has none */
    xhal_program *prog = NULL;
    CHECK_STATUS(xhal_program_create(dev, "x", NULL, &prog), XHAL_ERROR_UNSUPPORTED, "has no custom kernels");
    /* ops past a plugin's catalogue are answered by the core (the plugin is never asked:
     * oldcat answers INTERNAL if it is), ops within it reach the plugin */
    xhal_device *oldcat = NULL;
    xhal_stream *so = NULL;
    xhal_tensor *to = NULL;
    CHECK_OK(xhal_device_find(ctx, "oldcat", &oldcat));
    CHECK_OK(xhal_stream_create(oldcat, &so));
    CHECK_OK(xhal_tensor_create(oldcat, XHAL_DTYPE_F32, 1, shape, &to));
    CHECK_STATUS(xhal_unary(so, XHAL_OP_NEG, to, to), XHAL_ERROR_UNSUPPORTED,
                 "op neg (f32) is not supported on oldcat:0: backend 'oldcat' was built for op catalogue version");
    CHECK_STATUS(xhal_fill(so, to, 1.0), XHAL_ERROR_UNSUPPORTED, "the test backend runs no ops");
    /* a plugin of catalogue 85 (before TOPK and the rope/attention extensions) is asked for
     * plain rope and attention only; the rest the core refuses, naming the feature (cat85's
     * op_supported answers INTERNAL if it is asked) */
    {
        xhal_device *c85 = NULL;
        xhal_stream *s85 = NULL;
        CHECK_OK(xhal_device_find(ctx, "cat85", &c85));
        CHECK_OK(xhal_stream_create(c85, &s85));
        xhal_tensor *x = NULL, *pos = NULL, *invf = NULL, *q = NULL, *k = NULL, *vals = NULL, *idx = NULL;
        CHECK_OK(xhal_tensor_create(c85, XHAL_DTYPE_F32, 4, (int64_t[]){1, 3, 2, 8}, &x));
        CHECK_OK(xhal_tensor_create(c85, XHAL_DTYPE_I64, 1, (int64_t[]){3}, &pos));
        CHECK_OK(xhal_tensor_create(c85, XHAL_DTYPE_F32, 1, (int64_t[]){4}, &invf));
        CHECK_OK(xhal_tensor_create(c85, XHAL_DTYPE_F32, 4, (int64_t[]){1, 2, 3, 8}, &q));
        CHECK_OK(xhal_tensor_create(c85, XHAL_DTYPE_F32, 4, (int64_t[]){1, 2, 5, 8}, &k));
        CHECK_OK(xhal_tensor_create(c85, XHAL_DTYPE_F32, 2, (int64_t[]){3, 2}, &vals));
        CHECK_OK(xhal_tensor_create(c85, XHAL_DTYPE_I32, 2, (int64_t[]){3, 2}, &idx));
        xhal_rope_params rp;
        xhal_rope_params_init(&rp);
        /* gather needs catalogue 87 (its kernel checks the indices and writes the status output) */
        CHECK_STATUS(xhal_gather(s85, vals, idx, q), XHAL_ERROR_SHAPE_MISMATCH, "result is [3,2,2]");
        {
            xhal_tensor *g = NULL;
            CHECK_OK(xhal_tensor_create(c85, XHAL_DTYPE_F32, 3, (int64_t[]){3, 2, 2}, &g));
            CHECK_STATUS(xhal_gather(s85, vals, idx, g), XHAL_ERROR_UNSUPPORTED,
                         "op gather (f32) is not supported on cat85:0: gather checks its indices on the device and "
                         "needs op catalogue version 87 or later, backend 'cat85' was built for version 85");
            xhal_tensor_destroy(g);
        }
        CHECK_STATUS(xhal_rope(s85, x, 1, 10000, 0, 0, XHAL_ROPE_HALF, x), XHAL_ERROR_UNSUPPORTED,
                     "the test backend runs no ops");
        CHECK_STATUS(xhal_rope_ex(s85, x, NULL, NULL, &rp, x), XHAL_ERROR_UNSUPPORTED, "the test backend runs no ops");
        CHECK_STATUS(xhal_rope_ex(s85, x, pos, NULL, &rp, x), XHAL_ERROR_UNSUPPORTED,
                     "op rope (f32) is not supported on cat85:0: rope with a positions tensor needs op catalogue "
                     "version 86 or later, backend 'cat85' was built for version 85");
        CHECK_STATUS(xhal_rope_ex(s85, x, NULL, invf, &rp, x), XHAL_ERROR_UNSUPPORTED, "rope with an inv_freq tensor");
        rp.attention_factor = 1.5;
        CHECK_STATUS(xhal_rope_ex(s85, x, NULL, NULL, &rp, x), XHAL_ERROR_UNSUPPORTED,
                     "rope with an attention_factor other than 1");
        xhal_attention_params ap;
        xhal_attention_params_init(&ap);
        ap.causal = 1;
        CHECK_STATUS(xhal_attention(s85, q, k, k, NULL, 0, 1, q), XHAL_ERROR_INVALID_ARGUMENT, "overlaps");
        xhal_tensor *ao = NULL;
        CHECK_OK(xhal_tensor_create(c85, XHAL_DTYPE_F32, 4, (int64_t[]){1, 2, 3, 8}, &ao));
        CHECK_STATUS(xhal_attention_ex(s85, q, k, k, NULL, &ap, ao), XHAL_ERROR_UNSUPPORTED,
                     "the test backend runs no ops");
        ap.q_pos0 = 2; /* = Sk - Sq: the old alignment, sent */
        CHECK_STATUS(xhal_attention_ex(s85, q, k, k, NULL, &ap, ao), XHAL_ERROR_UNSUPPORTED,
                     "the test backend runs no ops");
        ap.q_pos0 = 1;
        CHECK_STATUS(xhal_attention_ex(s85, q, k, k, NULL, &ap, ao), XHAL_ERROR_UNSUPPORTED,
                     "attention with q_pos0 other than Sk - Sq needs op catalogue version 86");
        ap.q_pos0 = -1;
        ap.window = 2;
        CHECK_STATUS(xhal_attention_ex(s85, q, k, k, NULL, &ap, ao), XHAL_ERROR_UNSUPPORTED,
                     "attention with a sliding window needs op catalogue version 86");
        ap.window = 0;
        ap.softcap = 20;
        CHECK_STATUS(xhal_attention_ex(s85, q, k, k, NULL, &ap, ao), XHAL_ERROR_UNSUPPORTED,
                     "attention with a softcap needs op catalogue version 86");
        CHECK_STATUS(xhal_topk(s85, q, 2, 3, 1, vals, idx), XHAL_ERROR_SHAPE_MISMATCH, "values is [3,2]");
        xhal_tensor *tx = NULL;
        CHECK_OK(xhal_tensor_create(c85, XHAL_DTYPE_F32, 2, (int64_t[]){3, 7}, &tx));
        CHECK_STATUS(xhal_topk(s85, tx, 2, -1, 1, vals, idx), XHAL_ERROR_UNSUPPORTED,
                     "op topk (f32) is not supported on cat85:0: backend 'cat85' was built for op catalogue version "
                     "85, the op needs version 86 or later");
    }
    /* device info crosses the ABI sized */
    xhal_device_info oi;
    memset(&oi, 0xff, sizeof oi);
    CHECK_OK(xhal_device_get_info(oldcat, &oi));
    CHECK(oi.struct_size == sizeof oi && !strcmp(oi.name, "test device") && oi.total_memory == 0);
    /* copy across two backends (testdev -> cpu), staged through the host */
    xhal_device *cpu = NULL;
    xhal_tensor *tc = NULL;
    CHECK_OK(xhal_device_find(ctx, "cpu", &cpu));
    CHECK_OK(xhal_tensor_create(cpu, XHAL_DTYPE_F32, 1, shape, &tc));
    CHECK_OK(xhal_copy(s, t, tc));
    xhal_stream *sc = NULL;
    CHECK_OK(xhal_stream_create(cpu, &sc));
    memset(out, 0, sizeof out);
    CHECK_OK(xhal_tensor_read(sc, tc, out, sizeof out));
    CHECK(!memcmp(in, out, sizeof in));
    CHECK_OK(xhal_context_destroy(ctx)); /* destroys the remaining objects too */

    /* a destroyed context is detected */
    CHECK_STATUS(xhal_device_count(ctx, &n), XHAL_ERROR_INVALID_HANDLE, "not a live context");
    CHECK_OK(xhal_context_destroy(NULL));

    /* only absolute folders; XHAL_PLUGIN_PATH; flags */
    o.plugin_path = "relative/folder";
    o.flags = XHAL_CONTEXT_NO_DEFAULT_PLUGINS;
    CHECK_OK(xhal_context_create(&o, &ctx));
    CHECK_OK(xhal_backend_count(ctx, &n));
    CHECK(n == 0);
    CHECK_STATUS(xhal_device_find(ctx, "cpu", &dev), XHAL_ERROR_NOT_FOUND, "devices present: none");
    xhal_context_destroy(ctx);

    setenv("XHAL_PLUGIN_PATH", GOOD, 1);
    o.plugin_path = NULL;
    CHECK_OK(xhal_context_create(&o, &ctx));
    CHECK(find(ctx, "testdev", &b) != NULL);
    CHECK(find(ctx, "cpu", &b) == NULL);
    xhal_context_destroy(ctx);
    o.flags |= XHAL_CONTEXT_IGNORE_ENV_PATH;
    CHECK_OK(xhal_context_create(&o, &ctx));
    CHECK(find(ctx, "testdev", &b) == NULL);
    xhal_context_destroy(ctx);
    unsetenv("XHAL_PLUGIN_PATH");

    /* a plugin writable by other users is refused; a second plugin with a loaded name too */
    char dir[] = "/tmp/xhal-loader-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char p1[256], p2[256], path[600];
    snprintf(p1, sizeof p1, "%s/libxhal-testdev.so", dir);
    snprintf(p2, sizeof p2, "%s/libxhal-testdev2.so", dir);
    CHECK(xtest_copy_file(GOOD "/libxhal-testdev.so", p1, 0666) == 0);
    CHECK(xtest_copy_file(GOOD "/libxhal-testdev.so", p2, 0755) == 0);
    o.flags = XHAL_CONTEXT_NO_DEFAULT_PLUGINS;
    snprintf(path, sizeof path, "%s:%s", dir, GOOD);
    o.plugin_path = path;
    CHECK_OK(xhal_context_create(&o, &ctx));
    CHECK_OK(xhal_backend_count(ctx, &n));
    CHECK(n == 3);
    int refused = 0, dup = 0, loaded = 0;
    for (int i = 0; i < n; i++) {
        xhal_backend_get_info(ctx, i, &b);
        if (strstr(b.reason, "writable by other users")) refused++;
        if (strstr(b.reason, "duplicate: backend 'testdev' is already loaded")) dup++;
        if (b.state == XHAL_BACKEND_LOADED) loaded++;
    }
    CHECK(refused == 1 && loaded == 1 && dup == 1);
    xhal_context_destroy(ctx);
    unlink(p1);
    unlink(p2);
    /* a folder anyone can write into (no sticky bit) is refused, whatever the file's mode */
    CHECK(xtest_copy_file(GOOD "/libxhal-testdev.so", p1, 0755) == 0);
    CHECK(chmod(dir, 0777) == 0);
    o.plugin_path = dir;
    CHECK_OK(xhal_context_create(&o, &ctx));
    CHECK(find(ctx, "testdev", &b) != NULL && b.state == XHAL_BACKEND_UNAVAILABLE &&
          strstr(b.reason, "writable by other users without the sticky bit") != NULL);
    xhal_context_destroy(ctx);
    CHECK(chmod(dir, 01777) == 0); /* with the sticky bit (as /tmp) it loads */
    CHECK_OK(xhal_context_create(&o, &ctx));
    CHECK(find(ctx, "testdev", &b) != NULL && b.state == XHAL_BACKEND_LOADED);
    xhal_context_destroy(ctx);
    unlink(p1);
    rmdir(dir);

    /* bad options */
    xhal_context_options bad;
    xhal_context_options_init(&bad);
    bad.struct_size = 3;
    CHECK_STATUS(xhal_context_create(&bad, &ctx), XHAL_ERROR_INVALID_ARGUMENT, "struct_size is 3");
    xhal_context_options_init(&bad);
    bad.flags = 0x80;
    CHECK_STATUS(xhal_context_create(&bad, &ctx), XHAL_ERROR_INVALID_ARGUMENT, "unknown flags 0x80");
    xhal_context_options_init(&bad);
    bad.log_level = 9;
    CHECK_STATUS(xhal_context_create(&bad, &ctx), XHAL_ERROR_INVALID_ARGUMENT, "log_level 9");
    CHECK_STATUS(xhal_context_create(NULL, NULL), XHAL_ERROR_INVALID_ARGUMENT, "out is NULL");
    return xtest_finish("test_loader");
}
