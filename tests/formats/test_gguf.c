/* test_gguf.c - the GGUF reader on the file gguf-py wrote (tests/formats/data/tiny.gguf, see
 * make_gguf.py), on hostile files built here byte by byte (each refused with its status and
 * a message naming the problem), on every truncation of the good file, and under random
 * corruption (run under ASan, that part proves no read outside the file). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xhal/xhal_gguf.h"
#include "xhal_quant.h"
#include "xtest.h"

/* ------------------------------------------------------------------------- */
/* The file gguf-py wrote                                                     */
/* ------------------------------------------------------------------------- */
static void test_good_file(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tiny.gguf", XHAL_FORMATS_DATA);
    xhal_gguf *g = NULL;
    CHECK_OK(xhal_gguf_open(path, &g));
    if (!g) return;
    uint32_t version = 0, align = 0;
    uint64_t data_off = 0;
    CHECK_OK(xhal_gguf_info(g, &version, &align, &data_off));
    CHECK(version == 3 && align == 32 && data_off % 32 == 0);

    int64_t nkv = 0;
    CHECK_OK(xhal_gguf_kv_count(g, &nkv));
    CHECK(nkv == 16);
    xhal_gguf_kv kv;
    CHECK_OK(xhal_gguf_kv_at(g, 0, &kv));
    CHECK(strcmp(kv.key, "general.architecture") == 0 && kv.type == XHAL_GGUF_STRING);
    const char *s = NULL;
    uint64_t len = 0;
    CHECK_OK(xhal_gguf_get_string(g, "general.architecture", &s, &len));
    CHECK(s && strcmp(s, "llama") == 0 && len == 5);
    uint64_t u = 0;
    int64_t i = 0;
    double f = 0;
    int b = -1;
    CHECK_OK(xhal_gguf_get_u64(g, "llama.context_length", &u));
    CHECK(u == 64);
    CHECK_OK(xhal_gguf_get_u64(g, "xhal.test.u8", &u));
    CHECK(u == 200);
    CHECK_OK(xhal_gguf_get_i64(g, "xhal.test.i8", &i));
    CHECK(i == -100);
    CHECK_OK(xhal_gguf_get_u64(g, "xhal.test.u16", &u));
    CHECK(u == 60000);
    CHECK_OK(xhal_gguf_get_i64(g, "xhal.test.i16", &i));
    CHECK(i == -30000);
    CHECK_OK(xhal_gguf_get_i64(g, "xhal.test.i32", &i));
    CHECK(i == -2000000000);
    CHECK_OK(xhal_gguf_get_u64(g, "xhal.test.u64", &u));
    CHECK(u == (UINT64_C(1) << 63) + 5);
    CHECK_STATUS(xhal_gguf_get_i64(g, "xhal.test.u64", &i), XHAL_ERROR_DTYPE_MISMATCH, "above INT64_MAX");
    CHECK_OK(xhal_gguf_get_i64(g, "xhal.test.i64", &i));
    CHECK(i == -(INT64_C(1) << 62));
    CHECK_STATUS(xhal_gguf_get_u64(g, "xhal.test.i64", &u), XHAL_ERROR_DTYPE_MISMATCH, "negative");
    CHECK_OK(xhal_gguf_get_f64(g, "xhal.test.f32", &f));
    CHECK(f == 0.5);
    CHECK_OK(xhal_gguf_get_f64(g, "xhal.test.f64", &f));
    CHECK(f == -2.25);
    CHECK_OK(xhal_gguf_get_f64(g, "llama.context_length", &f));
    CHECK(f == 64.0);
    CHECK_OK(xhal_gguf_get_bool(g, "xhal.test.bool", &b));
    CHECK(b == 1);
    CHECK_STATUS(xhal_gguf_get_bool(g, "xhal.test.u8", &b), XHAL_ERROR_DTYPE_MISMATCH, "not a bool");
    CHECK_STATUS(xhal_gguf_get_u64(g, "xhal.test.f32", &u), XHAL_ERROR_DTYPE_MISMATCH, "xhal.test.f32");
    CHECK_STATUS(xhal_gguf_get_string(g, "xhal.test.u8", &s, NULL), XHAL_ERROR_DTYPE_MISMATCH, "not a string");
    CHECK_STATUS(xhal_gguf_get_u64(g, "no.such.key", &u), XHAL_ERROR_NOT_FOUND, "no.such.key");
    CHECK_STATUS(xhal_gguf_get_i64(g, "xhal.test.ints", &i), XHAL_ERROR_DTYPE_MISMATCH, "an array of int32");

    CHECK_OK(xhal_gguf_kv_get(g, "xhal.test.strings", &kv));
    CHECK(kv.type == XHAL_GGUF_ARRAY && kv.elem_type == XHAL_GGUF_STRING && kv.count == 3);
    CHECK_OK(xhal_gguf_array_string(g, "xhal.test.strings", 2, &s, &len));
    CHECK(strcmp(s, "xyz") == 0 && len == 3);
    CHECK_OK(xhal_gguf_array_string(g, "xhal.test.strings", 1, &s, &len));
    CHECK(strcmp(s, "") == 0 && len == 0);
    CHECK_STATUS(xhal_gguf_array_string(g, "xhal.test.strings", 3, &s, &len), XHAL_ERROR_INVALID_ARGUMENT,
                 "index 3 outside");
    CHECK_STATUS(xhal_gguf_array_i64(g, "xhal.test.strings", 0, &i), XHAL_ERROR_DTYPE_MISMATCH, "an integer");
    CHECK_OK(xhal_gguf_array_i64(g, "xhal.test.ints", 1, &i));
    CHECK(i == -2);
    CHECK_OK(xhal_gguf_array_f64(g, "xhal.test.ints", 2, &f));
    CHECK(f == 3.0);
    CHECK_STATUS(xhal_gguf_array_i64(g, "xhal.test.u8", 0, &i), XHAL_ERROR_DTYPE_MISMATCH, "not an array");

    int64_t nt = 0;
    CHECK_OK(xhal_gguf_tensor_count(g, &nt));
    CHECK(nt == 6);
    xhal_gguf_tensor t;
    size_t n = 0;
    float *plain = xtest_read_file(XHAL_FORMATS_DATA, "plain.f32", &n);
    CHECK_OK(xhal_gguf_tensor_get(g, "plain_f32", &t));
    CHECK(t.dtype == XHAL_DTYPE_F32 && t.ndim == 2 && t.shape[0] == 3 && t.shape[1] == 5 && t.numel == 15);
    CHECK(t.size == 60 && n == 60 && memcmp(t.data, plain, 60) == 0 && t.offset == data_off);
    CHECK(strcmp(t.type_name, "f32") == 0 && t.block_size == 1 && t.block_bytes == 4);
    CHECK_OK(xhal_gguf_tensor_get(g, "plain_f16", &t));
    CHECK(t.dtype == XHAL_DTYPE_F16 && t.size == 30 && t.offset % 32 == 0);
    if (t.size == 30) {
        const unsigned char *p = t.data;
        for (int k = 0; k < 15; k++) {
            float v = xhal_f16_to_f32((uint16_t)(p[2 * k] | (p[2 * k + 1] << 8)));
            CHECK(v == xhal_f16_to_f32(xhal_f32_to_f16(plain[k])));
        }
    }
    free(plain);
    static const struct {
        const char *name, *file, *type;
        int ggml, rows, cols;
        void (*deq)(const void *, float *, int64_t);
    } q[] = {{"w_q8_0", "q8_0", "q8_0", 8, 4, 256, xhal_dequant_q8_0},
             {"w_q4_0", "q4_0", "q4_0", 2, 4, 256, xhal_dequant_q4_0},
             {"w_q4_k", "q4_k", "q4_K", 12, 2, 512, xhal_dequant_q4_k},
             {"w_q6_k", "q6_k", "q6_K", 14, 4, 256, xhal_dequant_q6_k}};
    for (size_t k = 0; k < sizeof q / sizeof q[0]; k++) {
        char name[64];
        CHECK_OK(xhal_gguf_tensor_get(g, q[k].name, &t));
        CHECK(t.ggml_type == q[k].ggml && strcmp(t.type_name, q[k].type) == 0);
        CHECK(strcmp(xhal_dtype_name(t.dtype), q[k].file) == 0); /* q8_0, q4_0, q4_k, q6_k */
        CHECK(t.ndim == 2 && t.shape[0] == q[k].rows && t.shape[1] == q[k].cols);
        snprintf(name, sizeof name, "%s.bin", q[k].file);
        void *bin = xtest_read_file(XHAL_FORMATS_DATA, name, &n);
        CHECK(t.size == n && memcmp(t.data, bin, n) == 0);
        snprintf(name, sizeof name, "%s.deq.f32", q[k].file);
        size_t nd = 0;
        float *ref = xtest_read_file(XHAL_FORMATS_DATA, name, &nd);
        float *y = malloc(nd);
        q[k].deq(t.data, y, t.numel / t.block_size);
        CHECK(nd == (size_t)t.numel * 4 && memcmp(y, ref, nd) == 0);
        free(y);
        free(ref);
        free(bin);
    }
    int found = -1;
    CHECK_OK(xhal_gguf_tensor_has(g, "w_q6_k", &found));
    CHECK(found == 1);
    CHECK_OK(xhal_gguf_tensor_has(g, "w_q6", &found));
    CHECK(found == 0);
    CHECK_STATUS(xhal_gguf_tensor_get(g, "nope", &t), XHAL_ERROR_NOT_FOUND, "no tensor 'nope'");
    CHECK_STATUS(xhal_gguf_tensor_at(g, 6, &t), XHAL_ERROR_INVALID_ARGUMENT, "index 6");
    CHECK_STATUS(xhal_gguf_tensor_at(g, -1, &t), XHAL_ERROR_INVALID_ARGUMENT, "index -1");
    CHECK_OK(xhal_gguf_tensor_at(g, 5, &t));
    CHECK(strcmp(t.name, "w_q6_k") == 0);
    xhal_gguf_close(g);

    CHECK_STATUS(xhal_gguf_open("/nonexistent/x.gguf", &g), XHAL_ERROR_NOT_FOUND, "/nonexistent/x.gguf");
    CHECK_STATUS(xhal_gguf_open(XHAL_FORMATS_DATA, &g), XHAL_ERROR_IO, "not a regular file");
    CHECK_STATUS(xhal_gguf_open(NULL, &g), XHAL_ERROR_INVALID_ARGUMENT, "path is NULL");
    CHECK_STATUS(xhal_gguf_kv_count(NULL, &nkv), XHAL_ERROR_INVALID_ARGUMENT, "NULL");
    xhal_gguf_close(NULL);
}

/* ------------------------------------------------------------------------- */
/* Hostile files built byte by byte                                           */
/* ------------------------------------------------------------------------- */
typedef struct buf {
    unsigned char b[8192];
    size_t n;
} buf;

static void put(buf *w, const void *p, size_t n)
{
    if (w->n + n > sizeof w->b) abort();
    memcpy(w->b + w->n, p, n);
    w->n += n;
}
static void u32(buf *w, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    put(w, b, 4);
}
static void u64(buf *w, uint64_t v)
{
    u32(w, (uint32_t)v);
    u32(w, (uint32_t)(v >> 32));
}
static void str(buf *w, const char *s)
{
    u64(w, strlen(s));
    put(w, s, strlen(s));
}
static void header(buf *w, uint32_t version, uint64_t nt, uint64_t nkv)
{
    w->n = 0;
    put(w, "GGUF", 4);
    u32(w, version);
    u64(w, nt);
    u64(w, nkv);
}
static void kv_u32(buf *w, const char *k, uint32_t v)
{
    str(w, k);
    u32(w, XHAL_GGUF_UINT32);
    u32(w, v);
}
static void tinfo(buf *w, const char *name, uint32_t nd, const uint64_t *ne, uint32_t type, uint64_t off)
{
    str(w, name);
    u32(w, nd);
    for (uint32_t d = 0; d < nd; d++) u64(w, ne[d]);
    u32(w, type);
    u64(w, off);
}
static void pad_to(buf *w, size_t align)
{
    while (w->n % align) put(w, "\0", 1);
}
static void zeros(buf *w, size_t n)
{
    for (size_t i = 0; i < n; i++) put(w, "\0", 1);
}

static void expect(const buf *w, xhal_status st, const char *msg, int line)
{
    xhal_gguf *g = NULL;
    xhal_status got = xhal_gguf_open_memory(w->b, w->n, &g);
    xtest_check_status_(__FILE__, line, "xhal_gguf_open_memory(hostile)", got, st, msg);
    if (got == XHAL_OK)
        xhal_gguf_close(g);
    else
        CHECK(g == NULL);
}
#define EXPECT(w, st, msg) expect(w, st, msg, __LINE__)

static void test_hostile(void)
{
    buf w;
    const uint64_t ne2[2] = {32, 2};
    /* a valid base: one key, one q8_0 tensor of 2 blocks */
    header(&w, 3, 1, 1);
    kv_u32(&w, "a.b", 7);
    tinfo(&w, "t", 2, ne2, 8, 0);
    pad_to(&w, 32);
    zeros(&w, 68);
    EXPECT(&w, XHAL_OK, NULL);
    buf good = w;

    w = good;
    memcpy(w.b, "GGUX", 4);
    EXPECT(&w, XHAL_ERROR_CORRUPT_DATA, "bad magic");
    w.n = 10;
    EXPECT(&w, XHAL_ERROR_CORRUPT_DATA, "too short");
    header(&w, 1, 0, 0);
    EXPECT(&w, XHAL_ERROR_UNSUPPORTED, "version 1");
    header(&w, 0x03000000u, 0, 0);
    EXPECT(&w, XHAL_ERROR_UNSUPPORTED, "big-endian");
    header(&w, 4, 0, 0);
    EXPECT(&w, XHAL_ERROR_CORRUPT_DATA, "version 4");
    header(&w, 2, 0, 0);
    EXPECT(&w, XHAL_OK, NULL); /* empty v2 file */

    /* counts the file cannot hold: refused before anything is allocated for them */
    header(&w, 3, 0, UINT64_MAX);
    zeros(&w, 64);
    EXPECT(&w, XHAL_ERROR_CORRUPT_DATA, "key/value pairs claimed");
    header(&w, 3, UINT64_C(1) << 40, 0);
    zeros(&w, 64);
    EXPECT(&w, XHAL_ERROR_CORRUPT_DATA, "tensors claimed");
    header(&w, 3, 0, 2);
    kv_u32(&w, "a", 1);
    EXPECT(&w, XHAL_ERROR_CORRUPT_DATA, "key/value pairs claimed");

    /* strings */
    header(&w, 3, 0, 1);
    u64(&w, UINT64_MAX);
    zeros(&w, 8);
    EXPECT(&w, XHAL_ERROR_CORRUPT_DATA, "claims 18446744073709551615 bytes");
    header(&w, 3, 0, 1);
    u64(&w, 0);
    u32(&w, XHAL_GGUF_UINT8);
    put(&w, "\1", 1);
    zeros(&w, 4);
    EXPECT(&w, XHAL_ERROR_CORRUPT_DATA, "is empty");
    header(&w, 3, 0, 1);
    u64(&w, 3);
    put(&w, "a\0b", 3);
    u32(&w, XHAL_GGUF_UINT8);
    put(&w, "\1", 1);
    EXPECT(&w, XHAL_ERROR_CORRUPT_DATA, "NUL byte");
    header(&w, 3, 0, 2);
    kv_u32(&w, "dup", 1);
    kv_u32(&w, "dup", 2);
    EXPECT(&w, XHAL_ERROR_CORRUPT_DATA, "key 'dup' appears twice");

    /* value types */
    header(&w, 3, 0, 1);
    str(&w, "k");
    u32(&w, 13);
    zeros(&w, 8);
    EXPECT(&w, XHAL_ERROR_CORRUPT_DATA, "value type 13");
    header(&w, 3, 0, 1);
    str(&w, "k");
    u32(&w, XHAL_GGUF_BOOL);
    put(&w, "\2", 1);
    EXPECT(&w, XHAL_ERROR_CORRUPT_DATA, "boolean 0 is 2");
    header(&w, 3, 0, 1);
    str(&w, "k");
    u32(&w, XHAL_GGUF_ARRAY);
    u32(&w, XHAL_GGUF_ARRAY);
    u64(&w, 0);
    EXPECT(&w, XHAL_ERROR_UNSUPPORTED, "nested arrays");
    header(&w, 3, 0, 1);
    str(&w, "k");
    u32(&w, XHAL_GGUF_ARRAY);
    u32(&w, 99);
    u64(&w, 0);
    EXPECT(&w, XHAL_ERROR_CORRUPT_DATA, "array of value type 99");
    header(&w, 3, 0, 1);
    str(&w, "k");
    u32(&w, XHAL_GGUF_ARRAY);
    u32(&w, XHAL_GGUF_UINT64);
    u64(&w, UINT64_C(1) << 61);
    zeros(&w, 16);
    EXPECT(&w, XHAL_ERROR_CORRUPT_DATA, "claims 2305843009213693952 values");
    header(&w, 3, 0, 1);
    str(&w, "k");
    u32(&w, XHAL_GGUF_ARRAY);
    u32(&w, XHAL_GGUF_STRING);
    u64(&w, UINT64_C(1) << 40);
    zeros(&w, 16);
    EXPECT(&w, XHAL_ERROR_CORRUPT_DATA, "claims 1099511627776 strings");
    header(&w, 3, 0, 1);
    str(&w, "k");
    u32(&w, XHAL_GGUF_ARRAY);
    u32(&w, XHAL_GGUF_STRING);
    u64(&w, 2);
    str(&w, "x");
    u64(&w, 100);
    EXPECT(&w, XHAL_ERROR_CORRUPT_DATA, "string 1 of key 'k'");

    /* alignment */
    header(&w, 3, 0, 1);
    kv_u32(&w, "general.alignment", 48);
    EXPECT(&w, XHAL_ERROR_CORRUPT_DATA, "general.alignment is 48");
    header(&w, 3, 0, 1);
    kv_u32(&w, "general.alignment", 0);
    EXPECT(&w, XHAL_ERROR_CORRUPT_DATA, "general.alignment is 0");
    header(&w, 3, 0, 1);
    str(&w, "general.alignment");
    u32(&w, XHAL_GGUF_UINT64);
    u64(&w, 64);
    EXPECT(&w, XHAL_ERROR_CORRUPT_DATA, "must be uint32");
    /* a file with alignment 64: offsets must follow it */
    header(&w, 3, 1, 1);
    kv_u32(&w, "general.alignment", 64);
    tinfo(&w, "t", 2, ne2, 8, 0);
    pad_to(&w, 64);
    zeros(&w, 68);
    EXPECT(&w, XHAL_OK, NULL);

    /* tensor infos */
    header(&w, 3, 1, 0);
    {
        const uint64_t ne5[5] = {1, 1, 1, 1, 1};
        tinfo(&w, "t", 5, ne5, 0, 0);
    }
    EXPECT(&w, XHAL_ERROR_CORRUPT_DATA, "tensor 't' has 5 dims");
    header(&w, 3, 1, 0);
    {
        const uint64_t ne[2] = {UINT64_C(1) << 63, 1};
        tinfo(&w, "t", 2, ne, 0, 0);
    }
    EXPECT(&w, XHAL_ERROR_CORRUPT_DATA, "above 2^63 - 1");
    header(&w, 3, 1, 0);
    {
        const uint64_t ne[3] = {UINT64_C(1) << 32, UINT64_C(1) << 32, 4};
        tinfo(&w, "t", 3, ne, 0, 0);
    }
    EXPECT(&w, XHAL_ERROR_CORRUPT_DATA, "element count overflows");
    header(&w, 3, 1, 0);
    {
        const uint64_t ne[2] = {UINT64_C(1) << 61, 1};
        tinfo(&w, "t", 2, ne, 0, 0); /* 2^61 f32 = 2^63 bytes: fits u64 but not the file */
    }
    pad_to(&w, 32);
    EXPECT(&w, XHAL_ERROR_CORRUPT_DATA, "outside it");
    header(&w, 3, 1, 0);
    {
        const uint64_t ne[1] = {UINT64_C(1) << 62};
        tinfo(&w, "t", 1, ne, 27, 0); /* i64: 2^65 bytes */
    }
    EXPECT(&w, XHAL_ERROR_CORRUPT_DATA, "byte size overflows");
    header(&w, 3, 1, 0);
    tinfo(&w, "t", 2, ne2, 4, 0);
    EXPECT(&w, XHAL_ERROR_CORRUPT_DATA, "ggml type 4, which is not a known type");
    header(&w, 3, 1, 0);
    tinfo(&w, "t", 2, ne2, 1000, 0);
    EXPECT(&w, XHAL_ERROR_CORRUPT_DATA, "ggml type 1000");
    header(&w, 3, 1, 0);
    {
        const uint64_t ne[2] = {33, 2};
        tinfo(&w, "t", 2, ne, 8, 0);
    }
    EXPECT(&w, XHAL_ERROR_CORRUPT_DATA, "33 is not a multiple of q8_0's block size 32");
    header(&w, 3, 1, 0);
    tinfo(&w, "t", 0, NULL, 12, 0);
    EXPECT(&w, XHAL_ERROR_CORRUPT_DATA, "a scalar of block type q4_K");
    header(&w, 3, 1, 0);
    tinfo(&w, "t", 2, ne2, 8, 8);
    pad_to(&w, 32);
    zeros(&w, 128);
    EXPECT(&w, XHAL_ERROR_CORRUPT_DATA, "offset 8 is not a multiple of the alignment 32");
    header(&w, 3, 1, 0);
    tinfo(&w, "t", 2, ne2, 8, 0);
    pad_to(&w, 32);
    zeros(&w, 67);
    EXPECT(&w, XHAL_ERROR_CORRUPT_DATA, "are outside it (67 bytes)");
    header(&w, 3, 1, 0);
    tinfo(&w, "t", 2, ne2, 8, UINT64_MAX - 31);
    pad_to(&w, 32);
    zeros(&w, 68);
    EXPECT(&w, XHAL_ERROR_CORRUPT_DATA, "outside it");
    header(&w, 3, 2, 0);
    tinfo(&w, "a", 2, ne2, 8, 0);
    tinfo(&w, "b", 2, ne2, 8, 64);
    pad_to(&w, 32);
    zeros(&w, 132);
    EXPECT(&w, XHAL_ERROR_CORRUPT_DATA, "tensors 'a' and 'b' overlap");
    header(&w, 3, 2, 0);
    tinfo(&w, "a", 2, ne2, 8, 0);
    tinfo(&w, "a", 2, ne2, 8, 96);
    pad_to(&w, 32);
    zeros(&w, 164);
    EXPECT(&w, XHAL_ERROR_CORRUPT_DATA, "tensor 'a' appears twice");
    header(&w, 3, 2, 0);
    tinfo(&w, "a", 2, ne2, 8, 0);
    tinfo(&w, "b", 2, ne2, 8, 96);
    pad_to(&w, 32);
    zeros(&w, 164);
    EXPECT(&w, XHAL_OK, NULL);
    header(&w, 3, 1, 0);
    tinfo(&w, "t", 2, ne2, 8, 0);
    EXPECT(&w, XHAL_ERROR_CORRUPT_DATA, "past the end of the file");
    header(&w, 3, 1, 0);
    str(&w, "t");
    u32(&w, 4);
    u64(&w, 32);
    u64(&w, 2);
    EXPECT(&w, XHAL_ERROR_CORRUPT_DATA, "tensor dimension needs 8 bytes");

    /* an empty tensor (a zero dimension) is accepted and shares no byte */
    header(&w, 3, 2, 0);
    {
        const uint64_t ne[2] = {32, 0};
        tinfo(&w, "empty", 2, ne, 8, 0);
    }
    tinfo(&w, "t", 2, ne2, 8, 0);
    pad_to(&w, 32);
    zeros(&w, 68);
    EXPECT(&w, XHAL_OK, NULL);

    /* every truncation of the valid base is refused */
    for (size_t k = 0; k < good.n; k++) {
        xhal_gguf *g = NULL;
        xhal_status st = xhal_gguf_open_memory(good.b, k, &g);
        if (st == XHAL_OK) {
            fprintf(stderr, "truncation to %zu bytes accepted\n", k);
            xhal_gguf_close(g);
        }
        CHECK(st == XHAL_ERROR_CORRUPT_DATA);
    }
}

/* Every truncation of gguf-py's file, and random corruption of it: refused or read fully. */
static void test_corruption(void)
{
    size_t n = 0;
    unsigned char *orig = xtest_read_file(XHAL_FORMATS_DATA, "tiny.gguf", &n);
    unsigned char *b = malloc(n);
    int accepted = 0, refused = 0;
    /* the end of the last tensor's bytes (gguf-py pads the file after it) */
    size_t end = 0;
    {
        xhal_gguf *g = NULL;
        int64_t nt = 0;
        CHECK_OK(xhal_gguf_open_memory(orig, n, &g));
        CHECK_OK(xhal_gguf_tensor_count(g, &nt));
        for (int64_t i = 0; i < nt; i++) {
            xhal_gguf_tensor t;
            CHECK_OK(xhal_gguf_tensor_at(g, i, &t));
            if (t.offset + t.size > end) end = (size_t)(t.offset + t.size);
        }
        xhal_gguf_close(g);
        CHECK(end > 0 && end <= n);
    }
    for (size_t k = 0; k < end; k += 3) {
        xhal_gguf *g = NULL;
        memcpy(b, orig, k);
        /* a truncation that keeps the header but drops tensor data must still be refused */
        xhal_status st = xhal_gguf_open_memory(b, k, &g);
        CHECK(st != XHAL_OK);
        if (st == XHAL_OK) xhal_gguf_close(g);
    }
    srand(1234);
    for (int round = 0; round < 3000; round++) {
        memcpy(b, orig, n);
        int flips = 1 + rand() % 4;
        for (int k = 0; k < flips; k++) {
            /* mostly the header (the first ~900 bytes), sometimes anywhere */
            size_t at = (size_t)rand() % (rand() % 4 ? 900 : n);
            b[at] = (unsigned char)rand();
        }
        xhal_gguf *g = NULL;
        if (xhal_gguf_open_memory(b, n, &g) != XHAL_OK) {
            refused++;
            CHECK(xhal_last_error()[0] != '\0');
            continue;
        }
        accepted++;
        int64_t nt = 0, nkv = 0;
        CHECK_OK(xhal_gguf_tensor_count(g, &nt));
        CHECK_OK(xhal_gguf_kv_count(g, &nkv));
        volatile unsigned sum = 0;
        for (int64_t i = 0; i < nt; i++) {
            xhal_gguf_tensor t;
            CHECK_OK(xhal_gguf_tensor_at(g, i, &t));
            const unsigned char *p = t.data;
            CHECK(p >= b && p + t.size <= b + n);
            for (uint64_t k = 0; k < t.size; k++) sum += p[k];
        }
        for (int64_t i = 0; i < nkv; i++) {
            xhal_gguf_kv kv;
            CHECK_OK(xhal_gguf_kv_at(g, i, &kv));
            for (uint64_t e = 0; e < kv.count && e < 64; e++) {
                const char *s;
                int64_t iv;
                double dv;
                if (kv.elem_type == XHAL_GGUF_STRING) {
                    if (kv.type == XHAL_GGUF_ARRAY)
                        (void)xhal_gguf_array_string(g, kv.key, e, &s, NULL);
                    else
                        (void)xhal_gguf_get_string(g, kv.key, &s, NULL);
                } else if (kv.type == XHAL_GGUF_ARRAY) {
                    (void)xhal_gguf_array_i64(g, kv.key, e, &iv);
                    (void)xhal_gguf_array_f64(g, kv.key, e, &dv);
                } else {
                    (void)xhal_gguf_get_i64(g, kv.key, &iv);
                    (void)xhal_gguf_get_f64(g, kv.key, &dv);
                }
            }
        }
        (void)sum;
        xhal_gguf_close(g);
    }
    printf("corruption: %d mutants refused with a message, %d accepted and read fully\n", refused, accepted);
    CHECK(refused > 100 && accepted > 100);
    free(b);
    free(orig);
}

/* ------------------------------------------------------------------------- */
/* Files that change under the reader, and files that are not files           */
/* ------------------------------------------------------------------------- */
static void test_file_changes(void)
{
    size_t n = 0;
    unsigned char *orig = xtest_read_file(XHAL_FORMATS_DATA, "tiny.gguf", &n);
    char dir[] = "/tmp/xhal-gguf-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(2);
    }
    char path[256];
    snprintf(path, sizeof path, "%s/copy.gguf", dir);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(orig, 1, n, f) == n);
    if (f) fclose(f);

    xhal_gguf *g = NULL;
    CHECK_OK(xhal_gguf_open(path, &g));
    if (g) {
        int64_t count = 0;
        CHECK_OK(xhal_gguf_tensor_count(g, &count));
        xhal_gguf_tensor t, last;
        CHECK_OK(xhal_gguf_tensor_at(g, 0, &t));
        CHECK_OK(xhal_gguf_tensor_at(g, count - 1, &last));
        /* intact: the read equals the mapped bytes */
        unsigned char *rb = malloc((size_t)t.size);
        CHECK_OK(xhal_gguf_tensor_read(g, &t, rb, t.size));
        CHECK(memcmp(rb, t.data, (size_t)t.size) == 0);
        CHECK_STATUS(xhal_gguf_tensor_read(g, &t, rb, t.size + 1), XHAL_ERROR_INVALID_ARGUMENT, "has");
        CHECK_STATUS(xhal_gguf_tensor_read(g, NULL, rb, t.size), XHAL_ERROR_INVALID_ARGUMENT, "is NULL");
        xhal_gguf_tensor foreign = t;
        foreign.data = orig; /* not this reader's bytes */
        CHECK_STATUS(xhal_gguf_tensor_read(g, &foreign, rb, t.size), XHAL_ERROR_INVALID_ARGUMENT, "does not belong");
        free(rb);
        /* truncated while open: the mapping would SIGBUS on the lost pages; the read reports it */
        CHECK(truncate(path, (off_t)last.offset) == 0);
        unsigned char *lb = malloc((size_t)last.size);
        CHECK_STATUS(xhal_gguf_tensor_read(g, &last, lb, last.size), XHAL_ERROR_IO, "truncated while loading");
        free(lb);
        /* replaced by another file of the same name */
        CHECK(unlink(path) == 0);
        f = fopen(path, "wb");
        CHECK(f && fwrite(orig, 1, n, f) == n);
        if (f) fclose(f);
        unsigned char *b2 = malloc((size_t)t.size);
        CHECK_STATUS(xhal_gguf_tensor_read(g, &t, b2, t.size), XHAL_ERROR_IO, "was replaced");
        free(b2);
        xhal_gguf_close(g);
    }
    /* a FIFO in place of the file: refused at once, where open() used to block for a writer
     * (the alarm turns a hang into a failed test) */
    char fifo[256];
    snprintf(fifo, sizeof fifo, "%s/fifo.gguf", dir);
    CHECK(mkfifo(fifo, 0600) == 0);
    alarm(20);
    g = NULL;
    CHECK_STATUS(xhal_gguf_open(fifo, &g), XHAL_ERROR_IO, "FIFO");
    alarm(0);
    CHECK(g == NULL);
    unlink(fifo);
    unlink(path);
    rmdir(dir);
    free(orig);
}

int main(void)
{
    test_good_file();
    test_hostile();
    test_corruption();
    test_file_changes();
    return xtest_finish("test_gguf");
}
