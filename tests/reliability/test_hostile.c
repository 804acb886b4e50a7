/* test_hostile.c - hostile files and plugins (issue 17). Each part reproduces a failure seen
 * before its fix: plugins reporting absurd device counts (a heap write past the device array),
 * a plugin reached through a link into a world-writable folder (loaded), a second plugin of a
 * loaded name (its constructor ran), FIFOs in place of every input file (every tool hung).
 * A hang is bounded by alarm(): the test then fails with the step's name, not a ctest timeout. */
#include "xtest.h"

#include <math.h>
#include <signal.h>
#include <stdint.h>
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
    CHECK(find(ctx, "negative", &b) && b.state == XHAL_BACKEND_UNAVAILABLE && strstr(b.reason, "reports -3 devices"));
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
    CHECK(xtest_copy_file(GOOD "/libxhal-testdev.so", target, 0755) == 0);
    CHECK(chmod(open_dir, 0777) == 0); /* anyone may replace the target */
    CHECK(symlink(target, link) == 0);
    xhal_context *ctx = context_on(safe);
    xhal_backend_info b;
    if (ctx) {
        CHECK(find(ctx, "testdev", &b) && b.state == XHAL_BACKEND_UNAVAILABLE &&
              strstr(b.reason, "writable by other users without the sticky bit") && strstr(b.reason, open_dir));
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

/* ---- model files (issue 17) ---- */

static char mdir[128];

static void sh(const char *fmt, const char *a, const char *b)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, fmt, a, b);
    CHECK(system(cmd) == 0);
}

static void copy_model(void)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s' && cp '%s/config.json' '%s/model.safetensors' '%s/'", mdir,
             mdir, XHAL_REL_LLAMA_DIR, XHAL_REL_LLAMA_DIR, mdir);
    CHECK(system(cmd) == 0);
}

static char *slurp_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) b[n] = 0;
    *len = (size_t)n;
    return b;
}

static void spit_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(data, 1, len, f) == len);
    fclose(f);
}

/* Byte range [*begin, *end) of tensor name in the file's data area, and where that area starts. */
static int tensor_range(const char *file, const char *name, uint64_t *abs_begin, uint64_t *abs_end)
{
    size_t len = 0;
    char *b = slurp_file(file, &len);
    if (!b || len < 8) return -1;
    uint64_t hlen;
    memcpy(&hlen, b, 8);
    char key[160];
    snprintf(key, sizeof key, "\"%s\"", name);
    char *k = strstr(b + 8, key);
    char *d = k ? strstr(k, "\"data_offsets\"") : NULL;
    unsigned long long x = 0, y = 0;
    int ok = d && sscanf(strchr(d, '['), "[%llu,%llu]", &x, &y) == 2;
    free(b);
    if (!ok) return -1;
    *abs_begin = 8 + hlen + x;
    *abs_end = 8 + hlen + y;
    return 0;
}

static void write_config(const char *from, const char *to)
{
    char path[300];
    size_t len = 0;
    snprintf(path, sizeof path, "%s/config.json", mdir);
    char *c = slurp_file(path, &len);
    CHECK(c != NULL);
    if (!c) return;
    char *at = strstr(c, from);
    CHECK(at != NULL);
    if (at) {
        char *out = malloc(len + strlen(to) + 1);
        size_t pre = (size_t)(at - c);
        memcpy(out, c, pre);
        strcpy(out + pre, to);
        strcat(out, at + strlen(from));
        spit_file(path, out, strlen(out));
        free(out);
    }
    free(c);
}

static void test_model_inputs(void)
{
    step("model inputs");
    snprintf(mdir, sizeof mdir, "%s/model", tmpdir);
    xhal_context *ctx = NULL;
    xhal_device *cpu = NULL;
    CHECK_OK(xhal_context_create(NULL, &ctx));
    CHECK_OK(xhal_device_find(ctx, "cpu", &cpu));
    if (!cpu) return;
    xllama_config cfg;
    xllama_model *m = NULL;
    int32_t prompt[4] = {1, 17, 42, 99}, out[4];
    char st_path[300];
    snprintf(st_path, sizeof st_path, "%s/model.safetensors", mdir);

    /* NaN in the final norm weight: all-NaN logits ran to "success" (tokens 0,0,0,0) */
    copy_model();
    uint64_t b0 = 0, b1 = 0;
    CHECK(tensor_range(st_path, "model.norm.weight", &b0, &b1) == 0);
    size_t len = 0;
    unsigned char *bytes = (unsigned char *)slurp_file(st_path, &len);
    if (bytes && b1 <= len && b1 > b0) {
        float nan = NAN;
        memcpy(bytes + b0 + 4, &nan, 4);
        spit_file(st_path, bytes, len);
    }
    free(bytes);
    CHECK_OK(xllama_load(cpu, mdir, NULL, &m));
    if (m) {
        xhal_status s = xllama_generate(m, prompt, 4, 4, out, NULL, NULL, NULL);
        CHECK(s == XHAL_ERROR_CORRUPT_DATA && strstr(xllama_last_error(), "hold NaN at vocabulary index"));
        xllama_destroy(m);
        m = NULL;
    }

    /* absurd config values, duplicate keys, NUL escapes */
    copy_model();
    write_config("\"rms_norm_eps\": 1e-05", "\"rms_norm_eps\": 1e308");
    CHECK(xllama_config_load(mdir, &cfg) == XHAL_ERROR_CORRUPT_DATA &&
          strstr(xllama_last_error(), "'rms_norm_eps' = 1e+308 is outside (0, 0.1]"));
    copy_model();
    write_config("\"rope_theta\": 10000.0", "\"rope_theta\": 1e300");
    CHECK(xllama_config_load(mdir, &cfg) == XHAL_ERROR_CORRUPT_DATA && strstr(xllama_last_error(), "'rope_theta'"));
    copy_model();
    write_config("\"hidden_size\": 64,", "\"hidden_size\": 64, \"hidden_size\": 128,");
    CHECK(xllama_config_load(mdir, &cfg) == XHAL_ERROR_CORRUPT_DATA &&
          strstr(xllama_last_error(), "key 'hidden_size' appears twice"));
    copy_model();
    write_config("\"rope_type\": \"default\"", "\"rope_type\": \"default\", \"rope_type\": \"yarn\"");
    CHECK(xllama_config_load(mdir, &cfg) == XHAL_ERROR_CORRUPT_DATA &&
          strstr(xllama_last_error(), "'rope_type' appears twice"));
    copy_model();
    write_config("\"model_type\": \"llama\"", "\"model_type\": \"llama\\u0000evil\"");
    CHECK(xllama_config_load(mdir, &cfg) == XHAL_ERROR_CORRUPT_DATA && strstr(xllama_last_error(), "escaped NUL"));

    /* --max-seq beyond max_position_embeddings (64): refused (8.7 GB for 2^24 before) */
    copy_model();
    xllama_options o;
    xllama_options_init(&o);
    o.max_seq = 1 << 24;
    CHECK(xllama_load(cpu, mdir, &o, &m) == XHAL_ERROR_INVALID_ARGUMENT &&
          strstr(xllama_last_error(), "above the model's max_position_embeddings 64"));
    o.max_seq = 64;
    CHECK_OK(xllama_load(cpu, mdir, &o, &m));
    xllama_destroy(m);
    m = NULL;

    /* a NUL inside a tensor name; duplicate metadata keys; a text file as the model: the
     * message must not show its bytes as a "header length" */
    xhal_safetensors *st = NULL;
    const char *hdr = "{\"model.norm.weight\\u0000evil\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    unsigned char file[256];
    uint64_t hl = strlen(hdr);
    memcpy(file, &hl, 8);
    memcpy(file + 8, hdr, hl);
    memset(file + 8 + hl, 0, 4);
    char p[300];
    snprintf(p, sizeof p, "%s/nul.safetensors", tmpdir);
    spit_file(p, file, 8 + hl + 4);
    CHECK_STATUS(xhal_safetensors_open(p, &st), XHAL_ERROR_CORRUPT_DATA, "escaped NUL");
    hdr = "{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"},\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    hl = strlen(hdr);
    memcpy(file, &hl, 8);
    memcpy(file + 8, hdr, hl);
    memset(file + 8 + hl, 0, 4);
    spit_file(p, file, 8 + hl + 4);
    CHECK_STATUS(xhal_safetensors_open(p, &st), XHAL_ERROR_CORRUPT_DATA, "key 'k' appears twice");
    const char *text = "This is a secret text file, not a model.\n";
    spit_file(p, text, strlen(text));
    uint64_t as_len;
    memcpy(&as_len, text, 8);
    char num[32];
    snprintf(num, sizeof num, "%llu", (unsigned long long)as_len);
    CHECK(xhal_safetensors_open(p, &st) == XHAL_ERROR_CORRUPT_DATA);
    CHECK(strstr(xhal_last_error(), num) == NULL && strstr(xhal_last_error(), "This is") == NULL);
    unlink(p);

    /* many metadata keys (the duplicate check was quadratic: 100k keys took 22 s): 60,000 are
     * read and counted, 70,000 are above the bound of 65,536 */
    for (int round = 0; round < 2; round++) {
        int keys = round ? 70000 : 60000;
        size_t cap = 4u << 20, n = 0;
        char *h = malloc(cap);
        n += (size_t)snprintf(h + n, cap - n, "{\"__metadata__\":{");
        for (int i = 0; i < keys; i++) n += (size_t)snprintf(h + n, cap - n, "%s\"k%d\":\"v\"", i ? "," : "", i);
        n += (size_t)snprintf(h + n, cap - n, "},\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}");
        unsigned char *f = malloc(n + 12);
        uint64_t h64 = n;
        memcpy(f, &h64, 8);
        memcpy(f + 8, h, n);
        memset(f + 8 + n, 0, 4);
        spit_file(p, f, n + 12);
        free(f);
        free(h);
        int64_t cnt = 0;
        if (round == 0) {
            CHECK_OK(xhal_safetensors_open(p, &st));
            CHECK_OK(xhal_safetensors_metadata_count(st, &cnt));
            CHECK(cnt == keys);
            xhal_safetensors_close(st);
            st = NULL;
        } else {
            CHECK_STATUS(xhal_safetensors_open(p, &st), XHAL_ERROR_CORRUPT_DATA,
                         "more than 65536 __metadata__ entries");
        }
        unlink(p);
    }

    /* the model file truncated after it was opened: an IO error, not SIGBUS */
    step("truncated model file");
    copy_model();
    CHECK_OK(xhal_safetensors_open(st_path, &st));
    if (st) {
        CHECK(truncate(st_path, 4096) == 0);
        xhal_stream *s = NULL;
        xhal_tensor *t = NULL;
        CHECK_OK(xhal_stream_create(cpu, &s));
        CHECK_STATUS(xhal_safetensors_upload(st, "lm_head.weight", s, XHAL_DTYPE_INVALID, &t), XHAL_ERROR_IO,
                     "shorter than when it was opened");
        CHECK(t == NULL);
        xhal_stream_destroy(s);
        xhal_safetensors_close(st);
    }
    sh("rm -rf '%s' %s", mdir, "");
    xhal_context_destroy(ctx);
}

/* The GGUF path of the port applies config.json's bounds (one function, xl_config_check): a
 * copy of the reference GGUF with one scalar value rewritten in place. The key is stored as
 * its bytes, then a u32 type (4: u32, 6: f32), then the value. */
static void gguf_with(const char *out, const char *key, uint32_t type, const void *value)
{
    char src[512];
    snprintf(src, sizeof src, "%s/../gguf/tiny-llama-f32.gguf", XHAL_REL_LLAMA_DIR);
    size_t len = 0;
    unsigned char *b = (unsigned char *)slurp_file(src, &len);
    CHECK(b != NULL);
    if (!b) return;
    size_t kl = strlen(key);
    unsigned char *at = memmem(b, len, key, kl);
    CHECK(at != NULL && (size_t)(at - b) + kl + 8 <= len);
    if (at) {
        uint32_t t;
        memcpy(&t, at + kl, 4);
        CHECK(t == type);
        memcpy(at + kl + 4, value, 4);
    }
    spit_file(out, b, len);
    free(b);
}

static void expect_gguf(xhal_device *cpu, const char *path, const char *msg, int line)
{
    xllama_model *m = NULL;
    xhal_status s = xllama_load(cpu, path, NULL, &m);
    if (s != XHAL_ERROR_CORRUPT_DATA || !strstr(xllama_last_error(), msg)) {
        fprintf(stderr, "line %d: status %d, message '%s', wanted CORRUPT_DATA and '%s'\n", line, (int)s,
                xllama_last_error(), msg);
        CHECK(0);
    }
    xllama_destroy(m);
}

static void test_gguf_config(void)
{
    step("gguf config");
    xhal_context *ctx = NULL;
    xhal_device *cpu = NULL;
    CHECK_OK(xhal_context_create(NULL, &ctx));
    CHECK_OK(xhal_device_find(ctx, "cpu", &cpu));
    if (!cpu) return;
    char path[300];
    snprintf(path, sizeof path, "%s/hostile.gguf", tmpdir);
    const char *eps = "llama.attention.layer_norm_rms_epsilon", *theta = "llama.rope.freq_base";
    /* each was accepted before (the GGUF path bounded floats at 1e30 only) and ran */
    float v = 0.5f;
    gguf_with(path, eps, 6, &v);
    expect_gguf(cpu, path, "'llama.attention.layer_norm_rms_epsilon' = 0.5 is outside (0, 0.1]", __LINE__);
    v = NAN;
    gguf_with(path, eps, 6, &v);
    expect_gguf(cpu, path, "'llama.attention.layer_norm_rms_epsilon' = nan is outside (0, 0.1]", __LINE__);
    v = 0.5f;
    gguf_with(path, theta, 6, &v);
    expect_gguf(cpu, path, "'llama.rope.freq_base' = 0.5 is outside (1, 1e+10]", __LINE__);
    v = 1e20f;
    gguf_with(path, theta, 6, &v);
    expect_gguf(cpu, path, "'llama.rope.freq_base' = 1.0000000200408773e+20 is outside (1, 1e+10]", __LINE__);
    uint32_t u = 0;
    gguf_with(path, "llama.context_length", 4, &u);
    expect_gguf(cpu, path, "'llama.context_length' = 0 is outside [1, 1048576]", __LINE__);
    u = 1u << 21;
    gguf_with(path, "llama.context_length", 4, &u);
    expect_gguf(cpu, path, "'llama.context_length' = 2097152 is outside [1, 1048576]", __LINE__);
    u = 0;
    gguf_with(path, "llama.attention.head_count", 4, &u);
    expect_gguf(cpu, path, "'llama.attention.head_count' = 0 is outside [1, 4096]", __LINE__);
    /* in bounds: loads, and max_seq is held to context_length as for config.json */
    v = 1e-5f;
    gguf_with(path, eps, 6, &v);
    xllama_model *m = NULL;
    CHECK_OK(xllama_load(cpu, path, NULL, &m));
    xllama_destroy(m);
    m = NULL;
    xllama_options o;
    xllama_options_init(&o);
    o.max_seq = 1 << 24;
    CHECK(xllama_load(cpu, path, &o, &m) == XHAL_ERROR_INVALID_ARGUMENT &&
          strstr(xllama_last_error(), "above the model's max_position_embeddings"));
    xllama_destroy(m);
    unlink(path);
    xhal_context_destroy(ctx);
}

static void test_vectors_version(void)
{
    step("cases.json version 1.9");
    char p[300], msg[512];
    snprintf(p, sizeof p, "%s/cases.json", tmpdir);
    spit_file(p, "{\"version\": 1.9, \"cases\": []}", 30);
    xc_case_list list;
    memset(&list, 0, sizeof list);
    CHECK(xc_vectors_load(tmpdir, &list, msg, sizeof msg) != 0 && strstr(msg, "\"version\" must be 1"));
    unlink(p);
}

/* A 3 KB topology with one NUMA node numbered 4294967295 cost 1.1 GB at every context
 * creation: refused before hwloc sees it. */
static void test_topology_bounds(void)
{
    step("topology os_index bound");
    size_t len = 0;
    char *x = slurp_file(XHAL_TOPO_DATA_DIR "/one-socket-1acc.xml", &len);
    CHECK(x != NULL);
    char *at = x ? strstr(x, "type=\"NUMANode\" os_index=\"0\"") : NULL;
    CHECK(at != NULL);
    if (!at) {
        free(x);
        return;
    }
    char p[300];
    snprintf(p, sizeof p, "%s/numa.xml", tmpdir);
    FILE *f = fopen(p, "wb");
    size_t pre = (size_t)(at - x) + strlen("type=\"NUMANode\" os_index=\"");
    fwrite(x, 1, pre, f);
    fputs("4294967295", f);
    fputs(at + strlen("type=\"NUMANode\" os_index=\"0"), f);
    fclose(f);
    free(x);
    setenv("XHAL_TOPOLOGY_XML", p, 1);
    xhal_context *ctx = context_on(GOOD);
    if (ctx) {
        int avail = 1;
        char why[256] = "";
        CHECK_OK(xhal_topology_available(ctx, &avail, why, sizeof why));
        CHECK(avail == 0 && strstr(why, "os_index") && strstr(why, "1048576"));
        xhal_context_destroy(ctx);
    }
    /* the untouched file still loads */
    setenv("XHAL_TOPOLOGY_XML", XHAL_TOPO_DATA_DIR "/one-socket-1acc.xml", 1);
    ctx = context_on(GOOD);
    if (ctx) {
        int avail = 0;
        char why[256] = "";
        CHECK_OK(xhal_topology_available(ctx, &avail, why, sizeof why));
        CHECK(avail == 1);
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
    test_model_inputs();
    test_gguf_config();
    test_vectors_version();
    test_topology_bounds();
    alarm(0);
    rmdir(tmpdir);
    return xtest_finish("test_hostile");
}
