/* test_safetensors.c - the safetensors reader on good files, on hostile files made here
 * (each with its status and message), on sharded checkpoints, and under random corruption
 * of a good header (run under ASan, that part proves no out-of-bounds read). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xhal/xhal_safetensors.h"
#include "xtest.h"

static char tmpdir[256];

static void path_in(char *buf, size_t len, const char *name) { snprintf(buf, len, "%s/%s", tmpdir, name); }

/* Write raw bytes. */
static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(2);
    }
    if (n && fwrite(p, 1, n, f) != n) exit(2);
    fclose(f);
}

/* A safetensors file: 8-byte length (hlen_override when nonzero), header, data. */
static void write_st(const char *path, const char *header, const void *data, size_t n, uint64_t hlen_override)
{
    size_t h = strlen(header);
    uint64_t hl = hlen_override ? hlen_override : (uint64_t)h;
    unsigned char *buf = malloc(8 + h + n + 1);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(hl >> (8 * i));
    memcpy(buf + 8, header, h);
    if (n) memcpy(buf + 8 + h, data, n);
    write_bytes(path, buf, 8 + h + n);
    free(buf);
}

/* Write a file with header hdr and `n` data bytes (0..n-1), expect st and substr on open. */
static int expect_open(const char *name, const char *hdr, size_t n, uint64_t hlen, xhal_status want, const char *substr)
{
    char path[512];
    path_in(path, sizeof path, name);
    unsigned char data[256];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (unsigned char)i;
    write_st(path, hdr, data, n, hlen);
    xhal_safetensors *st = (xhal_safetensors *)0x1;
    xhal_status s = xhal_safetensors_open(path, &st);
    int before = xtest_failures_;
    CHECK_STATUS(s, want, substr);
    if (want != XHAL_OK) CHECK(st == (xhal_safetensors *)0x1); /* untouched on failure */
    if (s == XHAL_OK) xhal_safetensors_close(st);
    if (xtest_failures_ != before) fprintf(stderr, "  (case %s)\n", name);
    return s == XHAL_OK;
}

static uint16_t f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)(u >> 16); /* the values used here are exact in bf16 */
}

static void test_good_file(xhal_context *ctx)
{
    /* a: f32 [2,3]; b: bf16 [4]; e: empty i32 [0, 5]; s: scalar i64; metadata. */
    float a[6] = {1, 2, 3, 4, 5, 6};
    uint16_t b[4] = {f32_to_bf16(0.5f), f32_to_bf16(-1.0f), f32_to_bf16(2.0f), f32_to_bf16(3.5f)};
    int64_t sc = -7;
    unsigned char data[24 + 8 + 8];
    memcpy(data, a, 24);
    memcpy(data + 24, b, 8);
    memcpy(data + 32, &sc, 8);
    const char *hdr = "{\"__metadata__\":{\"format\":\"pt\",\"author\":\"xhal\"},"
                      "\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[24,32]},"
                      "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                      "\"e\":{\"dtype\":\"I32\",\"shape\":[0,5],\"data_offsets\":[32,32]},"
                      "\"s\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[32,40]}}      ";
    char path[512];
    path_in(path, sizeof path, "good.safetensors");
    write_st(path, hdr, data, sizeof data, 0);

    xhal_safetensors *st = NULL;
    CHECK_OK(xhal_safetensors_open(path, &st));
    if (!st) return;
    int64_t n = 0;
    CHECK_OK(xhal_safetensors_count(st, &n));
    CHECK(n == 4);
    const char *order[4] = {"a", "b", "e", "s"};
    for (int64_t i = 0; i < n && i < 4; i++) {
        xhal_safetensors_tensor t;
        CHECK_OK(xhal_safetensors_at(st, i, &t));
        CHECK(strcmp(t.name, order[i]) == 0);
        CHECK(strcmp(t.file, path) == 0);
    }
    xhal_safetensors_tensor t;
    CHECK_STATUS(xhal_safetensors_at(st, 4, &t), XHAL_ERROR_INVALID_ARGUMENT, "index 4");
    CHECK_OK(xhal_safetensors_get(st, "a", &t));
    CHECK(t.dtype == XHAL_DTYPE_F32 && t.ndim == 2 && t.shape[0] == 2 && t.shape[1] == 3);
    CHECK(t.numel == 6 && t.size == 24 && memcmp(t.data, a, 24) == 0);
    CHECK_OK(xhal_safetensors_get(st, "b", &t));
    CHECK(t.dtype == XHAL_DTYPE_BF16 && t.ndim == 1 && t.shape[0] == 4 && t.size == 8);
    CHECK(memcmp(t.data, b, 8) == 0);
    CHECK_OK(xhal_safetensors_get(st, "e", &t));
    CHECK(t.dtype == XHAL_DTYPE_I32 && t.numel == 0 && t.size == 0);
    CHECK_OK(xhal_safetensors_get(st, "s", &t));
    CHECK(t.ndim == 0 && t.numel == 1 && t.size == 8);
    int64_t v;
    memcpy(&v, t.data, 8);
    CHECK(v == -7);
    CHECK_STATUS(xhal_safetensors_get(st, "zz", &t), XHAL_ERROR_NOT_FOUND, "'zz'");
    int found = -1;
    CHECK_OK(xhal_safetensors_has(st, "b", &found));
    CHECK(found == 1);
    CHECK_OK(xhal_safetensors_has(st, "c", &found));
    CHECK(found == 0);

    int64_t nm = 0;
    CHECK_OK(xhal_safetensors_metadata_count(st, &nm));
    CHECK(nm == 2);
    const char *k = NULL, *val = NULL;
    CHECK_OK(xhal_safetensors_metadata_at(st, 0, &k, &val));
    CHECK(k && strcmp(k, "author") == 0 && strcmp(val, "xhal") == 0);
    CHECK_OK(xhal_safetensors_metadata_get(st, "format", &val));
    CHECK(strcmp(val, "pt") == 0);
    CHECK_STATUS(xhal_safetensors_metadata_get(st, "nope", &val), XHAL_ERROR_NOT_FOUND, "'nope'");

    /* Upload to the CPU device: as is, and cast bf16 -> f32. */
    xhal_device *dev = NULL;
    xhal_stream *stream = NULL;
    if (ctx && xhal_device_find(ctx, "cpu", &dev) == XHAL_OK && xhal_stream_create(dev, &stream) == XHAL_OK) {
        xhal_tensor *ta = NULL, *tb = NULL;
        CHECK_OK(xhal_safetensors_upload(st, "a", stream, XHAL_DTYPE_INVALID, &ta));
        float back[6] = {0};
        CHECK_OK(xhal_tensor_read(stream, ta, back, sizeof back));
        CHECK(memcmp(back, a, sizeof a) == 0);
        int nd = 0;
        int64_t shape[8];
        xhal_dtype dt;
        CHECK_OK(xhal_tensor_shape(ta, &nd, shape, NULL));
        CHECK(nd == 2 && shape[0] == 2 && shape[1] == 3);
        CHECK_OK(xhal_safetensors_upload(st, "b", stream, XHAL_DTYPE_F32, &tb));
        CHECK_OK(xhal_tensor_dtype(tb, &dt));
        CHECK(dt == XHAL_DTYPE_F32);
        float bf[4] = {0};
        CHECK_OK(xhal_tensor_read(stream, tb, bf, sizeof bf));
        CHECK(bf[0] == 0.5f && bf[1] == -1.0f && bf[2] == 2.0f && bf[3] == 3.5f);
        xhal_tensor *te = NULL;
        CHECK_OK(xhal_safetensors_upload(st, "e", stream, XHAL_DTYPE_INVALID, &te));
        xhal_tensor *bad = (xhal_tensor *)0x1;
        CHECK_STATUS(xhal_safetensors_upload(st, "missing", stream, XHAL_DTYPE_INVALID, &bad), XHAL_ERROR_NOT_FOUND,
                     "'missing'");
        CHECK(bad == (xhal_tensor *)0x1);
        CHECK_STATUS(xhal_safetensors_upload(st, "a", NULL, XHAL_DTYPE_INVALID, &bad), XHAL_ERROR_INVALID_HANDLE, NULL);
        xhal_tensor_destroy(ta);
        xhal_tensor_destroy(tb);
        xhal_tensor_destroy(te);
        xhal_stream_destroy(stream);
    } else {
        fprintf(stderr, "note: no cpu device (%s); upload not tested\n", xhal_last_error());
        CHECK(0);
    }
    xhal_safetensors_close(st);
    xhal_safetensors_close(NULL);

    /* A folder holding model.safetensors opens as that file. */
    char sub[512], one[600];
    path_in(sub, sizeof sub, "folder");
    mkdir(sub, 0700);
    snprintf(one, sizeof one, "%s/model.safetensors", sub);
    write_st(one, hdr, data, sizeof data, 0);
    CHECK_OK(xhal_safetensors_open(sub, &st));
    if (st) {
        CHECK_OK(xhal_safetensors_count(st, &n));
        CHECK(n == 4);
        xhal_safetensors_close(st);
    }
}

static void test_hostile(void)
{
    const char *ok1 = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    expect_open("baseline", ok1, 8, 0, XHAL_OK, NULL);

    char path[512];
    /* Shorter than the length field. */
    path_in(path, sizeof path, "tiny");
    write_bytes(path, "\x05\x00\x00", 3);
    xhal_safetensors *st = NULL;
    CHECK_STATUS(xhal_safetensors_open(path, &st), XHAL_ERROR_CORRUPT_DATA, "too short");
    /* Empty file. */
    path_in(path, sizeof path, "empty");
    write_bytes(path, "", 0);
    CHECK_STATUS(xhal_safetensors_open(path, &st), XHAL_ERROR_CORRUPT_DATA, "0 bytes");
    /* Missing file, folder without a checkpoint, NULL arguments. */
    path_in(path, sizeof path, "does-not-exist.safetensors");
    CHECK_STATUS(xhal_safetensors_open(path, &st), XHAL_ERROR_NOT_FOUND, "does-not-exist");
    CHECK_STATUS(xhal_safetensors_open(tmpdir, &st), XHAL_ERROR_NOT_FOUND, "model.safetensors");
    CHECK_STATUS(xhal_safetensors_open(NULL, &st), XHAL_ERROR_INVALID_ARGUMENT, NULL);

    /* Header length absurd (beyond the cap, and beyond 2^63). */
    expect_open("absurd", ok1, 8, (uint64_t)1 << 40, XHAL_ERROR_CORRUPT_DATA, "exceeds the limit");
    expect_open("absurd2", ok1, 8, UINT64_MAX, XHAL_ERROR_CORRUPT_DATA, "exceeds the limit");
    /* Header length below the cap but past the end of the file. */
    expect_open("hlen_past_eof", ok1, 8, 4096, XHAL_ERROR_CORRUPT_DATA, "file truncated");
    /* Truncated file: the data area is shorter than the offsets say. */
    expect_open("truncated", ok1, 5, 0, XHAL_ERROR_CORRUPT_DATA, "past the end of the data area");
    /* Header claims more data than the file holds. */
    expect_open("claims_more",
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[1099511627776],\"data_offsets\":[0,4398046511104]}}", 8, 0,
                XHAL_ERROR_CORRUPT_DATA, "past the end");
    /* Bad JSON, not an object, trailing garbage, NUL inside. */
    expect_open("bad_json", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8, 0,
                XHAL_ERROR_CORRUPT_DATA, "not valid JSON");
    expect_open("array", "[1,2,3]", 0, 0, XHAL_ERROR_CORRUPT_DATA, "does not start with '{'");
    expect_open("trailing", "{}  x", 0, 0, XHAL_ERROR_CORRUPT_DATA, "trailing bytes");
    {
        char hdr[] = "{\"a\":1}";
        char p2[512];
        path_in(p2, sizeof p2, "nul");
        unsigned char buf[8 + 8] = {8, 0, 0, 0, 0, 0, 0, 0};
        memcpy(buf + 8, hdr, 7);
        buf[15] = 0; /* header of 8 bytes whose last is NUL */
        write_bytes(p2, buf, sizeof buf);
        CHECK_STATUS(xhal_safetensors_open(p2, &st), XHAL_ERROR_CORRUPT_DATA, "NUL");
    }
    expect_open("not_object_entry", "{\"a\":5}", 0, 0, XHAL_ERROR_CORRUPT_DATA, "not a JSON object");
    /* Unknown dtypes are named. */
    expect_open("dtype_f8", "{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, 0,
                XHAL_ERROR_UNSUPPORTED, "'F8_E4M3'");
    expect_open("dtype_bool", "{\"a\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, 0,
                XHAL_ERROR_UNSUPPORTED, "'BOOL'");
    expect_open("dtype_lower", "{\"a\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, 0,
                XHAL_ERROR_UNSUPPORTED, "'f32'");
    /* Overlapping ranges (partial and nested), and two tensors at one place. */
    expect_open("overlap",
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                12, 0, XHAL_ERROR_CORRUPT_DATA, "overlap");
    expect_open("overlap_same",
                "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                "\"b\":{\"dtype\":\"I8\",\"shape\":[4],\"data_offsets\":[0,4]}}",
                4, 0, XHAL_ERROR_CORRUPT_DATA, "overlap");
    expect_open("overlap_nested",
                "{\"a\":{\"dtype\":\"U8\",\"shape\":[16],\"data_offsets\":[0,16]},"
                "\"c\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[20,22]},"
                "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[4,6]}}",
                22, 0, XHAL_ERROR_CORRUPT_DATA, "overlap");
    /* Adjacent ranges and an empty tensor inside another's range are fine. */
    expect_open("adjacent",
                "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[2,2]},"
                "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}",
                8, 0, XHAL_OK, NULL);
    /* Shape and bytes disagree. */
    expect_open("mismatch", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, 0,
                XHAL_ERROR_CORRUPT_DATA, "(12 bytes) but data_offsets span 8 bytes");
    expect_open("mismatch_f64", "{\"a\":{\"dtype\":\"F64\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 16, 0,
                XHAL_ERROR_CORRUPT_DATA, "32 bytes");
    /* Offsets reversed. */
    expect_open("reversed", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, 0,
                XHAL_ERROR_CORRUPT_DATA, "reversed");
    /* Malformed fields. */
    expect_open("neg_dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, 0,
                XHAL_ERROR_CORRUPT_DATA, "shape[0]");
    expect_open("frac_dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}", 8, 0,
                XHAL_ERROR_CORRUPT_DATA, "shape[0]");
    expect_open("str_dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8, 0,
                XHAL_ERROR_CORRUPT_DATA, "shape[0]");
    expect_open("huge_off", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,1e300]}}", 8, 0,
                XHAL_ERROR_CORRUPT_DATA, "data_offsets");
    expect_open("neg_off", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8, 0,
                XHAL_ERROR_CORRUPT_DATA, "data_offsets");
    expect_open("three_off", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,9]}}", 8, 0,
                XHAL_ERROR_CORRUPT_DATA, "[begin, end]");
    expect_open("no_offsets", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, 0, XHAL_ERROR_CORRUPT_DATA,
                "data_offsets");
    expect_open("extra_field", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 8, 0,
                XHAL_ERROR_CORRUPT_DATA, "unknown field 'x'");
    expect_open("overflow", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,8]}}",
                8, 0, XHAL_ERROR_CORRUPT_DATA, "overflows");
    expect_open("overflow_bytes", "{\"a\":{\"dtype\":\"F64\",\"shape\":[4611686018427387904],\"data_offsets\":[0,8]}}",
                8, 0, XHAL_ERROR_CORRUPT_DATA, "shape[0]"); /* above 2^53: not exact */
    expect_open("overflow_bytes2",
                "{\"a\":{\"dtype\":\"F64\",\"shape\":[4503599627370496,4096],\"data_offsets\":[0,8]}}", 8, 0,
                XHAL_ERROR_CORRUPT_DATA, "overflows");
    expect_open("zero_dim_beats_overflow",
                "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,0],\"data_offsets\":[0,0]}}", 0, 0, XHAL_OK,
                NULL);
    expect_open("nine_dims", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1, 0,
                XHAL_ERROR_UNSUPPORTED, "9 dims");
    expect_open("duplicate",
                "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
                2, 0, XHAL_ERROR_CORRUPT_DATA, "appears twice");
    expect_open("meta_not_string", "{\"__metadata__\":{\"k\":5}}", 0, 0, XHAL_ERROR_CORRUPT_DATA, "__metadata__['k']");
    expect_open("meta_not_object", "{\"__metadata__\":[]}", 0, 0, XHAL_ERROR_CORRUPT_DATA, "not an object");
    expect_open("empty_header_ok", "{}", 0, 0, XHAL_OK, NULL);
    expect_open("deep_nesting",
                "{\"a\":{\"dtype\":\"U8\",\"shape\":[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]],"
                "\"data_offsets\":[0,1]}}",
                1, 0, XHAL_ERROR_CORRUPT_DATA, "shape[0]");
}

static void test_sharded(xhal_context *ctx)
{
    char dir[512], p[700];
    path_in(dir, sizeof dir, "sharded");
    mkdir(dir, 0700);
    float x[2] = {1, 2}, y[3] = {3, 4, 5};
    snprintf(p, sizeof p, "%s/model-00001-of-00002.safetensors", dir);
    write_st(p,
             "{\"__metadata__\":{\"format\":\"pt\"},"
             "\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
             x, 8, 0);
    snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", dir);
    write_st(p,
             "{\"__metadata__\":{\"format\":\"other\",\"shard\":\"2\"},"
             "\"y\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}",
             y, 12, 0);
    const char *index = "{\"metadata\":{\"total_size\":20},\"weight_map\":{"
                        "\"x\":\"model-00001-of-00002.safetensors\",\"y\":\"model-00002-of-00002.safetensors\"}}";
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    write_bytes(p, index, strlen(index));

    xhal_safetensors *st = NULL;
    CHECK_OK(xhal_safetensors_open(dir, &st)); /* the folder finds the index */
    if (st) {
        int64_t n = 0;
        CHECK_OK(xhal_safetensors_count(st, &n));
        CHECK(n == 2);
        xhal_safetensors_tensor t;
        CHECK_OK(xhal_safetensors_get(st, "y", &t));
        CHECK(t.numel == 3 && memcmp(t.data, y, 12) == 0 && strstr(t.file, "00002") != NULL);
        CHECK_OK(xhal_safetensors_get(st, "x", &t));
        CHECK(memcmp(t.data, x, 8) == 0 && strstr(t.file, "00001") != NULL);
        const char *v = NULL;
        CHECK_OK(xhal_safetensors_metadata_get(st, "format", &v));
        CHECK(v && strcmp(v, "pt") == 0); /* first shard wins */
        CHECK_OK(xhal_safetensors_metadata_get(st, "shard", &v));
        CHECK(v && strcmp(v, "2") == 0);
        if (ctx) {
            xhal_device *dev = NULL;
            xhal_stream *s = NULL;
            if (xhal_device_find(ctx, "cpu", &dev) == XHAL_OK && xhal_stream_create(dev, &s) == XHAL_OK) {
                xhal_tensor *ty = NULL;
                CHECK_OK(xhal_safetensors_upload(st, "y", s, XHAL_DTYPE_F16, &ty));
                float back[3] = {0};
                xhal_tensor *f = NULL;
                if (ty) {
                    CHECK_OK(xhal_contiguous(s, ty, XHAL_DTYPE_F32, &f));
                    CHECK_OK(xhal_tensor_read(s, f, back, sizeof back));
                    CHECK(back[0] == 3 && back[1] == 4 && back[2] == 5);
                }
                xhal_tensor_destroy(f);
                xhal_tensor_destroy(ty);
                xhal_stream_destroy(s);
            }
        }
        xhal_safetensors_close(st);
    }
    /* The index file itself also opens. */
    CHECK_OK(xhal_safetensors_open(p, &st));
    xhal_safetensors_close(st);

    /* Broken indexes. */
    struct {
        const char *json;
        xhal_status st;
        const char *msg;
    } bad[] = {
        {"{\"weight_map\":{\"x\":\"model-00001-of-00002.safetensors\",\"z\":\"missing.safetensors\"}}",
         XHAL_ERROR_NOT_FOUND, "missing.safetensors"},
        {"{\"weight_map\":{\"y\":\"model-00001-of-00002.safetensors\"}}", XHAL_ERROR_CORRUPT_DATA, "maps tensor 'y'"},
        {"{\"weight_map\":{\"x\":\"../sharded/model-00001-of-00002.safetensors\"}}", XHAL_ERROR_CORRUPT_DATA,
         "not a file name"},
        {"{\"weight_map\":{\"x\":\"/etc/passwd\"}}", XHAL_ERROR_CORRUPT_DATA, "not a file name"},
        {"{\"weight_map\":{}}", XHAL_ERROR_CORRUPT_DATA, "empty"},
        {"{\"weight_map\":[]}", XHAL_ERROR_CORRUPT_DATA, "weight_map"},
        {"{\"weight_map\":{\"x\":3}}", XHAL_ERROR_CORRUPT_DATA, "not a string"},
        {"{\"weight_map\":", XHAL_ERROR_CORRUPT_DATA, "not valid JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char ip[700];
        snprintf(ip, sizeof ip, "%s/bad%zu.index.json", dir, i);
        write_bytes(ip, bad[i].json, strlen(bad[i].json));
        st = NULL;
        CHECK_STATUS(xhal_safetensors_open(ip, &st), bad[i].st, bad[i].msg);
        CHECK(st == NULL);
    }
    /* A tensor in two shards. */
    snprintf(p, sizeof p, "%s/dup.safetensors", dir);
    write_st(p, "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", x, 8, 0);
    snprintf(p, sizeof p, "%s/dup.index.json", dir);
    const char *dup = "{\"weight_map\":{\"x\":\"dup.safetensors\",\"y\":\"model-00001-of-00002.safetensors\"}}";
    write_bytes(p, dup, strlen(dup));
    CHECK_STATUS(xhal_safetensors_open(p, &st), XHAL_ERROR_CORRUPT_DATA, "appears twice");
    /* A corrupt shard is reported with its name. */
    snprintf(p, sizeof p, "%s/corrupt.safetensors", dir);
    write_st(p, "{\"q\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", x, 8, 0);
    snprintf(p, sizeof p, "%s/corrupt.index.json", dir);
    const char *cor = "{\"weight_map\":{\"q\":\"corrupt.safetensors\"}}";
    write_bytes(p, cor, strlen(cor));
    CHECK_STATUS(xhal_safetensors_open(p, &st), XHAL_ERROR_CORRUPT_DATA, "corrupt.safetensors");
}

/* Random corruption of a good file: every open either succeeds or fails cleanly, and a
 * successful open only hands out ranges inside the file (ASan checks the reads). */
static void test_fuzz(void)
{
    const char *hdr = "{\"__metadata__\":{\"format\":\"pt\"},"
                      "\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                      "\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[16,24]}}";
    size_t h = strlen(hdr), n = 8 + h + 24;
    unsigned char *good = malloc(n), *buf = malloc(n);
    for (int i = 0; i < 8; i++) good[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(good + 8, hdr, h);
    for (size_t i = 0; i < 24; i++) good[8 + h + i] = (unsigned char)(i * 7);
    char path[512];
    path_in(path, sizeof path, "fuzz.safetensors");
    uint32_t rng = 12345u;
    int opened = 0, refused = 0, bad_status = 0;
    for (int iter = 0; iter < 2000; iter++) {
        memcpy(buf, good, n);
        size_t len = n;
        int edits = 1 + (int)(rng % 4);
        for (int e = 0; e < edits && len > 0; e++) {
            rng = rng * 1103515245u + 12345u;
            /* every 8th iteration edits the data area only: such files must still open */
            size_t pos = (iter % 8 == 0) ? 8 + h + (rng >> 8) % 24 : (rng >> 8) % len;
            rng = rng * 1103515245u + 12345u;
            switch (rng % 4) {
                case 0: buf[pos] = (unsigned char)(rng >> 16); break;
                case 1: buf[pos] ^= (unsigned char)(1u << ((rng >> 12) % 8)); break;
                case 2: buf[pos] = "{}[],:\"0123456789-e."[(rng >> 10) % 20]; break;
                default:
                    if (iter % 8) len = pos;
                    break; /* truncate */
            }
        }
        write_bytes(path, buf, len);
        xhal_safetensors *st = NULL;
        xhal_status s = xhal_safetensors_open(path, &st);
        if (s == XHAL_OK) {
            opened++;
            int64_t cnt = 0;
            xhal_safetensors_count(st, &cnt);
            for (int64_t i = 0; i < cnt; i++) {
                xhal_safetensors_tensor t;
                if (xhal_safetensors_at(st, i, &t) != XHAL_OK) continue;
                const unsigned char *d = t.data;
                unsigned sum = 0;
                for (uint64_t k = 0; k < t.size; k++) sum += d[k]; /* must be inside the map */
                (void)sum;
                if (t.size != (uint64_t)t.numel * xhal_dtype_size(t.dtype)) bad_status++;
            }
            xhal_safetensors_close(st);
        } else {
            refused++;
            if (s != XHAL_ERROR_CORRUPT_DATA && s != XHAL_ERROR_UNSUPPORTED) {
                bad_status++;
                fprintf(stderr, "fuzz %d: unexpected %s: %s\n", iter, xhal_status_name(s), xhal_last_error());
            }
            if (xhal_last_error()[0] == '\0') bad_status++;
        }
    }
    CHECK(bad_status == 0);
    CHECK(refused > 1000);
    CHECK(opened >= 250); /* the data-only edits */
    printf("fuzz: %d opened, %d refused\n", opened, refused);
    free(good);
    free(buf);
}

static void remove_tree(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

/* xhal_set_error: how libxhal-formats reports through xhal_last_error. */
static void test_set_error(void)
{
    CHECK_STATUS(xhal_set_error(XHAL_ERROR_CORRUPT_DATA, "tensor '%s' at %d", "w", 7), XHAL_ERROR_CORRUPT_DATA,
                 "tensor 'w' at 7");
    CHECK(strcmp(xhal_last_error(), "tensor 'w' at 7") == 0);
    CHECK(xhal_set_error(XHAL_ERROR_IO, NULL) == XHAL_ERROR_IO && xhal_last_error()[0] == '\0');
}

int main(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/xhal-st-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    xhal_context *ctx = NULL;
    if (xhal_context_create(NULL, &ctx) != XHAL_OK) {
        fprintf(stderr, "context: %s\n", xhal_last_error());
        ctx = NULL;
    }
    test_set_error();
    test_good_file(ctx);
    test_hostile();
    test_sharded(ctx);
    test_fuzz();
    xhal_context_destroy(ctx);
    remove_tree(tmpdir);
    return xtest_finish("test_safetensors");
}
