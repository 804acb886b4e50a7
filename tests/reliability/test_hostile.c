/* test_hostile.c - hostile files and plugins (issue 17). Each part reproduces a failure seen
 * before its fix: plugins reporting absurd device counts (a heap write past the device array),
 * a plugin reached through a link into a world-writable folder (loaded), a second plugin of a
 * loaded name (its constructor ran), FIFOs in place of every input file (every tool hung).
 * A hang is bounded by alarm(): the test then fails with the step's name, not a ctest timeout. */
#include "xtest.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llama.h"
#include "npy.h"
#include "xc_conform.h"
#include "xhal/xhal_safetensors.h"
#include "xhal/xhal_topology.h"

#define HOSTILE XHAL_HOSTILE_DIR
#define GOOD XHAL_TEST_PLUGIN_DIR "/good"

static const char *volatile step_name = "start";

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "test_hostile: HUNG (alarm after 20 s) in step: ";
    write(2, msg, sizeof msg - 1);
    write(2, step_name, strlen(step_name));
    write(2, "\n", 1);
    _exit(3);
}

/* Starts a step that must finish in 20 s. */
static void step(const char *name)
{
    step_name = name;
    alarm(20);
}

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

static int copy_file(const char *from, const char *to, mode_t mode)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    if (!a || !b) {
        if (a) fclose(a);
        if (b) fclose(b);
        return -1;
    }
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0) fwrite(buf, 1, n, b);
    fclose(a);
    fclose(b);
    return chmod(to, mode);
}

static xhal_context *context_on(const char *path)
{
    xhal_context_options o;
    xhal_context_options_init(&o);
    o.flags = XHAL_CONTEXT_NO_DEFAULT_PLUGINS | XHAL_CONTEXT_IGNORE_ENV_PATH;
    o.plugin_path = path;
    xhal_context *ctx = NULL;
    CHECK_OK(xhal_context_create(&o, &ctx));
    return ctx;
}

/* Absurd device counts: unavailable with the reason; the sum stays bounded. */
static void test_device_counts(void)
{
    step("device counts");
    xhal_context *ctx = context_on(HOSTILE "/counts");
    if (!ctx) return;
    xhal_backend_info b;
    CHECK(find(ctx, "huge", &b) && b.state == XHAL_BACKEND_UNAVAILABLE && b.device_count == 0 &&
          strstr(b.reason, "reports 2147483647 devices (at most 256 per backend)"));
    CHECK(find(ctx, "negative", &b) && b.state == XHAL_BACKEND_UNAVAILABLE &&
          strstr(b.reason, "reports -3 devices"));
    for (int i = 1; i <= 4; i++) {
        char name[16];
        snprintf(name, sizeof name, "many%d", i);
        CHECK(find(ctx, name, &b) && b.state == XHAL_BACKEND_LOADED && b.device_count == 250);
    }
    CHECK(find(ctx, "many5", &b) && b.state == XHAL_BACKEND_UNAVAILABLE &&
          strstr(b.reason, "1000 are already listed and a context holds at most 1024"));
    int n = 0;
    CHECK_OK(xhal_device_count(ctx, &n));
    CHECK(n == 1000);
    xhal_device *d = NULL;
    CHECK_OK(xhal_device_find(ctx, "many4:249", &d));
    CHECK_STATUS(xhal_device_find(ctx, "huge:0", &d), XHAL_ERROR_UNAVAILABLE, "2147483647 devices");
    xhal_context_destroy(ctx);
}

/* Links are resolved before the checks; duplicates keep the first and never open the second. */
static void test_links_and_duplicates(void)
{
    step("links and duplicates");
    char safe[] = "/tmp/xhal-hostile-safe-XXXXXX", open_dir[] = "/tmp/xhal-hostile-open-XXXXXX";
    CHECK(mkdtemp(safe) != NULL && mkdtemp(open_dir) != NULL);
    char target[128], link[128];
    snprintf(target, sizeof target, "%s/libxhal-testdev.so", open_dir);
    snprintf(link, sizeof link, "%s/libxhal-testdev.so", safe);
    CHECK(copy_file(GOOD "/libxhal-testdev.so", target, 0755) == 0);
    CHECK(chmod(open_dir, 0777) == 0); /* anyone may replace the target */
    CHECK(symlink(target, link) == 0);
    xhal_context *ctx = context_on(safe);
    xhal_backend_info b;
    if (ctx) {
        CHECK(find(ctx, "testdev", &b) && b.state == XHAL_BACKEND_UNAVAILABLE &&
              strstr(b.reason, "writable by other users without the sticky bit") &&
              strstr(b.reason, open_dir));
        xhal_context_destroy(ctx);
    }
    /* the same link into a safe folder loads, and lists the real file */
    CHECK(chmod(open_dir, 0755) == 0);
    ctx = context_on(safe);
    if (ctx) {
        CHECK(find(ctx, "testdev", &b) && b.state == XHAL_BACKEND_LOADED && !strcmp(b.path, target));
        xhal_context_destroy(ctx);
    }
    /* a link and its target seen through two folders: listed once as loaded */
    char both[300];
    snprintf(both, sizeof both, "%s:%s", safe, open_dir);
    ctx = context_on(both);
    if (ctx) {
        int n = 0, loaded = 0;
        CHECK_OK(xhal_backend_count(ctx, &n));
        for (int i = 0; i < n; i++) {
            xhal_backend_get_info(ctx, i, &b);
            if (b.state == XHAL_BACKEND_LOADED) loaded++;
        }
        CHECK(n == 1 && loaded == 1);
        xhal_context_destroy(ctx);
    }
    unlink(link);
    unlink(target);
    rmdir(safe);
    rmdir(open_dir);

    /* a later plugin named like a loaded one: listed as a duplicate, never opened */
    unsetenv("XHAL_TEST_HOSTILE_CTOR");
    ctx = context_on(GOOD ":" HOSTILE "/ctor");
    if (ctx) {
        int n = 0, dup = 0;
        CHECK_OK(xhal_backend_count(ctx, &n));
        for (int i = 0; i < n; i++) {
            xhal_backend_get_info(ctx, i, &b);
            if (strstr(b.reason, "duplicate: backend 'testdev' is already loaded from") &&
                strstr(b.reason, "not opened") && strstr(b.path, "/ctor/"))
                dup++;
        }
        CHECK(dup == 1);
        CHECK(getenv("XHAL_TEST_HOSTILE_CTOR") == NULL); /* its constructor never ran */
        xhal_device_info di;
        xhal_device *d = NULL;
        CHECK_OK(xhal_device_find(ctx, "testdev:0", &d));
        CHECK_OK(xhal_device_get_info(d, &di));
        CHECK(!strcmp(di.name, "test device")); /* the first one's device */
        xhal_context_destroy(ctx);
    }
}

static char tmpdir[64];

static void make_fifo(const char *name, char *path, size_t len)
{
    snprintf(path, len, "%s/%s", tmpdir, name);
    unlink(path);
    CHECK(mkfifo(path, 0600) == 0);
}

/* A FIFO as a plugin file: listed as unavailable, not opened for reading. */
static void test_fifo_plugin(void)
{
    step("FIFO as a plugin file");
    char p[256];
    make_fifo("libxhal-fifo.so", p, sizeof p);
    xhal_context *ctx = context_on(tmpdir);
    xhal_backend_info b;
    if (ctx) {
        CHECK(find(ctx, "fifo", &b) && b.state == XHAL_BACKEND_UNAVAILABLE &&
              strstr(b.reason, "is a FIFO, not a regular file"));
        xhal_context_destroy(ctx);
    }
    unlink(p);
}

/* A FIFO in place of each input file: an error naming the file, at once. */
static void test_fifo_inputs(void)
{
    char p[256], msg[512];
    step("FIFO as config.json");
    make_fifo("config.json", p, sizeof p);
    xllama_config cfg;
    CHECK(xllama_config_load(tmpdir, &cfg) == XHAL_ERROR_IO && strstr(xllama_last_error(), "FIFO"));
    unlink(p);

    step("FIFO as model.safetensors");
    make_fifo("model.safetensors", p, sizeof p);
    xhal_safetensors *st = NULL;
    CHECK_STATUS(xhal_safetensors_open(p, &st), XHAL_ERROR_IO, "is a FIFO, not a regular file");
    CHECK_STATUS(xhal_safetensors_open(tmpdir, &st), XHAL_ERROR_IO, "is a FIFO, not a regular file");
    unlink(p);

    step("FIFO as the safetensors index");
    make_fifo("model.safetensors.index.json", p, sizeof p);
    CHECK_STATUS(xhal_safetensors_open(tmpdir, &st), XHAL_ERROR_IO, "is a FIFO, not a regular file");
    CHECK_STATUS(xhal_safetensors_open(p, &st), XHAL_ERROR_IO, "is a FIFO, not a regular file");
    unlink(p);

    step("FIFO as a .npy file");
    make_fifo("x.npy", p, sizeof p);
    float *data = NULL;
    int ndim = 0;
    int64_t shape[8];
    CHECK(xc_npy_read_f32(p, &data, &ndim, shape, msg, sizeof msg) == XHAL_ERROR_IO && strstr(msg, "FIFO"));
    xc_tensor t;
    CHECK(xc_npy_read(p, 0, &t, msg, sizeof msg) != 0 && strstr(msg, "FIFO"));
    unlink(p);

    step("FIFO as cases.json");
    make_fifo("cases.json", p, sizeof p);
    xc_case_list list;
    memset(&list, 0, sizeof list);
    CHECK(xc_vectors_load(tmpdir, &list, msg, sizeof msg) != 0);
    unlink(p);

    step("FIFO as XHAL_TOPOLOGY_XML");
    make_fifo("topo.xml", p, sizeof p);
    setenv("XHAL_TOPOLOGY_XML", p, 1);
    xhal_context *ctx = context_on(GOOD);
    if (ctx) {
        int avail = 1;
        char why[256] = "";
        CHECK_OK(xhal_topology_available(ctx, &avail, why, sizeof why));
        CHECK(avail == 0 && strstr(why, "is a FIFO, not a regular file"));
        xhal_context_destroy(ctx);
    }
    unsetenv("XHAL_TOPOLOGY_XML");
    unlink(p);
}

int main(void)
{
    signal(SIGALRM, on_alarm);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/xhal-hostile-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_device_counts();
    test_links_and_duplicates();
    test_fifo_plugin();
    test_fifo_inputs();
    alarm(0);
    rmdir(tmpdir);
    return xtest_finish("test_hostile");
}
