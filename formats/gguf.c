/* gguf.c - the GGUF reader: mmap, complete validation, typed getters. See
 * include/xhal/xhal_gguf.h for the contract.
 *
 * How it stays safe on hostile input: every read goes through gg_cursor, which checks the
 * bytes that remain before it reads; every count is compared with the bytes that remain
 * (each element needs at least so many) before anything is allocated for it; all sizes are
 * computed in uint64_t with explicit overflow checks. Nothing in the reader points outside
 * the mapping once open succeeds, and allocations are bounded by the file size. */
#include "xhal/xhal_gguf.h"
#include "xhal/plugin/xhal_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GG_MAX_ALIGNMENT (1u << 20)

/* ggml's types: name, elements per block, bytes per block (ggml.c's type traits). Holes are
 * numbers ggml retired; they are refused like unknown numbers. */
typedef struct gg_type_info {
    const char *name;
    uint32_t blck;
    uint32_t bytes;
    xhal_dtype dtype;
} gg_type_info;

static const gg_type_info gg_types[] = {
    [0] = {"f32", 1, 4, XHAL_DTYPE_F32},
    [1] = {"f16", 1, 2, XHAL_DTYPE_F16},
    [2] = {"q4_0", 32, 18, XHAL_DTYPE_Q4_0},
    [3] = {"q4_1", 32, 20, XHAL_DTYPE_INVALID},
    [6] = {"q5_0", 32, 22, XHAL_DTYPE_INVALID},
    [7] = {"q5_1", 32, 24, XHAL_DTYPE_INVALID},
    [8] = {"q8_0", 32, 34, XHAL_DTYPE_Q8_0},
    [9] = {"q8_1", 32, 40, XHAL_DTYPE_INVALID},
    [10] = {"q2_K", 256, 84, XHAL_DTYPE_INVALID},
    [11] = {"q3_K", 256, 110, XHAL_DTYPE_INVALID},
    [12] = {"q4_K", 256, 144, XHAL_DTYPE_Q4_K},
    [13] = {"q5_K", 256, 176, XHAL_DTYPE_INVALID},
    [14] = {"q6_K", 256, 210, XHAL_DTYPE_Q6_K},
    [15] = {"q8_K", 256, 292, XHAL_DTYPE_INVALID},
    [16] = {"iq2_xxs", 256, 66, XHAL_DTYPE_INVALID},
    [17] = {"iq2_xs", 256, 74, XHAL_DTYPE_INVALID},
    [18] = {"iq3_xxs", 256, 98, XHAL_DTYPE_INVALID},
    [19] = {"iq1_s", 256, 50, XHAL_DTYPE_INVALID},
    [20] = {"iq4_nl", 32, 18, XHAL_DTYPE_INVALID},
    [21] = {"iq3_s", 256, 110, XHAL_DTYPE_INVALID},
    [22] = {"iq2_s", 256, 82, XHAL_DTYPE_INVALID},
    [23] = {"iq4_xs", 256, 136, XHAL_DTYPE_INVALID},
    [24] = {"i8", 1, 1, XHAL_DTYPE_I8},
    [25] = {"i16", 1, 2, XHAL_DTYPE_INVALID},
    [26] = {"i32", 1, 4, XHAL_DTYPE_I32},
    [27] = {"i64", 1, 8, XHAL_DTYPE_I64},
    [28] = {"f64", 1, 8, XHAL_DTYPE_F64},
    [29] = {"iq1_m", 256, 56, XHAL_DTYPE_INVALID},
    [30] = {"bf16", 1, 2, XHAL_DTYPE_BF16},
    [34] = {"tq1_0", 256, 54, XHAL_DTYPE_INVALID},
    [35] = {"tq2_0", 256, 66, XHAL_DTYPE_INVALID},
    [39] = {"mxfp4", 32, 17, XHAL_DTYPE_INVALID},
    [40] = {"nvfp4", 64, 36, XHAL_DTYPE_INVALID},
    [41] = {"q1_0", 128, 18, XHAL_DTYPE_INVALID},
};
#define GG_N_TYPES ((uint32_t)(sizeof gg_types / sizeof gg_types[0]))

static const gg_type_info *gg_type(uint32_t t) { return t < GG_N_TYPES && gg_types[t].name ? &gg_types[t] : NULL; }

/* Size in bytes of a scalar value type; 0 for string/array/unknown. */
static uint64_t gg_scalar_size(uint32_t t)
{
    switch (t) {
        case XHAL_GGUF_UINT8:
        case XHAL_GGUF_INT8:
        case XHAL_GGUF_BOOL: return 1;
        case XHAL_GGUF_UINT16:
        case XHAL_GGUF_INT16: return 2;
        case XHAL_GGUF_UINT32:
        case XHAL_GGUF_INT32:
        case XHAL_GGUF_FLOAT32: return 4;
        case XHAL_GGUF_UINT64:
        case XHAL_GGUF_INT64:
        case XHAL_GGUF_FLOAT64: return 8;
        default: return 0;
    }
}

XHAL_API const char *xhal_gguf_type_name(int t)
{
    static const char *const names[] = {"uint8", "int8",   "uint16", "int16",  "uint32", "int32",  "float32",
                                        "bool",  "string", "array",  "uint64", "int64",  "float64"};
    return t >= 0 && t <= 12 ? names[t] : "invalid";
}

typedef struct gg_str {
    const char *s; /* NUL-terminated copy in the arena */
    uint64_t len;
} gg_str;

typedef struct gg_kv {
    const char *key;
    uint32_t type, elem_type;
    uint64_t count;
    const unsigned char *raw; /* scalars and numeric arrays: the value's bytes in the file */
    uint64_t strs;            /* strings: index of the first of count entries in str_pool */
} gg_kv;

typedef struct gg_tensor {
    const char *name;
    uint32_t type;
    int ndim;
    int64_t shape[XHAL_MAX_DIMS];
    int64_t numel;
    uint64_t rel; /* offset within the data area */
    uint64_t size;
} gg_tensor;

struct xhal_gguf {
    const unsigned char *base;
    size_t size;
    void *map; /* non-NULL when the reader owns a mapping */
    char *origin;
    int from_file; /* opened from origin (a path): tensor reads go to the file, not the mapping */
    dev_t dev;     /* identity of that file, to notice it being replaced */
    ino_t ino;
    uint32_t version, alignment;
    uint64_t data_offset;
    gg_kv *kvs;
    int64_t n_kv;
    int64_t *kv_sorted;
    gg_tensor *tensors;
    int64_t n_tensors;
    int64_t *t_sorted;
    struct gg_chunk *arena; /* every key, name and string, NUL-terminated (a chunk list) */
    gg_str *str_pool;
    uint64_t str_pool_used, str_pool_cap;
    int64_t kv_cap, t_cap;
};

/* Chunks of string storage: pointers into them stay valid as more are added. */
typedef struct gg_chunk {
    struct gg_chunk *next;
    size_t used, cap;
    char bytes[];
} gg_chunk;

static xhal_status gg_oom(const char *origin, const char *what)
{
    return xhal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "gguf '%s': out of host memory (%s)", origin, what);
}

static int gg_host_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static uint64_t gg_rd_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static uint32_t gg_rd_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* ---- bounded cursor ---- */
typedef struct gg_cursor {
    const unsigned char *p;
    uint64_t pos, size;
    const char *origin;
} gg_cursor;

static uint64_t gg_left(const gg_cursor *c) { return c->size - c->pos; }

static xhal_status gg_short(const gg_cursor *c, uint64_t need, const char *what)
{
    return xhal_set_error(XHAL_ERROR_CORRUPT_DATA,
                          "gguf '%s': %s needs %llu bytes at byte %llu but the file ends at %llu", c->origin, what,
                          (unsigned long long)need, (unsigned long long)c->pos, (unsigned long long)c->size);
}

static xhal_status gg_u32(gg_cursor *c, uint32_t *v, const char *what)
{
    if (gg_left(c) < 4) return gg_short(c, 4, what);
    *v = gg_rd_u32(c->p + c->pos);
    c->pos += 4;
    return XHAL_OK;
}

static xhal_status gg_u64(gg_cursor *c, uint64_t *v, const char *what)
{
    if (gg_left(c) < 8) return gg_short(c, 8, what);
    *v = gg_rd_u64(c->p + c->pos);
    c->pos += 8;
    return XHAL_OK;
}

/* Copy n bytes (already checked to be in the file) plus a NUL into the arena. Storage grows
 * with what was read, never with what a header claims. */
static char *gg_arena_put(xhal_gguf *g, const unsigned char *s, uint64_t n)
{
    gg_chunk *c = g->arena;
    if (!c || n + 1 > c->cap - c->used) {
        size_t cap = (size_t)n + 1 > 65536 ? (size_t)n + 1 : 65536;
        gg_chunk *nc = malloc(sizeof *nc + cap);
        if (!nc) return NULL;
        nc->next = g->arena;
        nc->used = 0;
        nc->cap = cap;
        g->arena = c = nc;
    }
    char *d = c->bytes + c->used;
    memcpy(d, s, (size_t)n);
    d[n] = '\0';
    c->used += (size_t)n + 1;
    return d;
}

/* Make room for one more element in a growing array (doubling). */
static int gg_grow(void **arr, int64_t *cap, int64_t need, size_t elem)
{
    if (need <= *cap) return 1;
    int64_t nc = *cap ? *cap * 2 : 16;
    while (nc < need) nc *= 2;
    void *p = realloc(*arr, (size_t)nc * elem);
    if (!p) return 0;
    *arr = p;
    *cap = nc;
    return 1;
}

/* A string: u64 length, bytes. name_rules: non-empty and no NUL (keys and tensor names). */
static xhal_status gg_string(xhal_gguf *g, gg_cursor *c, gg_str *out, int name_rules, const char *what)
{
    uint64_t n;
    xhal_status st = gg_u64(c, &n, what);
    if (st) return st;
    if (n > gg_left(c))
        return xhal_set_error(XHAL_ERROR_CORRUPT_DATA,
                              "gguf '%s': %s at byte %llu claims %llu bytes but only %llu remain", c->origin, what,
                              (unsigned long long)(c->pos - 8), (unsigned long long)n, (unsigned long long)gg_left(c));
    const unsigned char *s = c->p + c->pos;
    if (name_rules) {
        if (n == 0)
            return xhal_set_error(XHAL_ERROR_CORRUPT_DATA, "gguf '%s': %s at byte %llu is empty", c->origin, what,
                                  (unsigned long long)(c->pos - 8));
        if (memchr(s, 0, (size_t)n))
            return xhal_set_error(XHAL_ERROR_CORRUPT_DATA, "gguf '%s': %s at byte %llu contains a NUL byte", c->origin,
                                  what, (unsigned long long)(c->pos - 8));
    }
    out->s = gg_arena_put(g, s, n);
    if (!out->s) return gg_oom(c->origin, "strings");
    out->len = n;
    c->pos += n;
    return XHAL_OK;
}

/* ---- key/value pairs ---- */
static xhal_status gg_read_kv(xhal_gguf *g, gg_cursor *c, gg_kv *kv, int64_t index)
{
    gg_str key;
    char what[96];
    snprintf(what, sizeof what, "key %lld", (long long)index);
    xhal_status st = gg_string(g, c, &key, 1, what);
    if (st) return st;
    kv->key = key.s;
    uint32_t t;
    if ((st = gg_u32(c, &t, "value type"))) return st;
    if (t > XHAL_GGUF_FLOAT64)
        return xhal_set_error(XHAL_ERROR_CORRUPT_DATA, "gguf '%s': key '%s' has value type %u (valid: 0..12)",
                              c->origin, kv->key, t);
    kv->type = t;
    kv->elem_type = t;
    kv->count = 1;
    if (t == XHAL_GGUF_ARRAY) {
        uint32_t et;
        uint64_t n;
        if ((st = gg_u32(c, &et, "array element type"))) return st;
        if (et == XHAL_GGUF_ARRAY)
            return xhal_set_error(XHAL_ERROR_UNSUPPORTED,
                                  "gguf '%s': key '%s' is an array of arrays (nested arrays are not supported)",
                                  c->origin, kv->key);
        if (et > XHAL_GGUF_FLOAT64)
            return xhal_set_error(XHAL_ERROR_CORRUPT_DATA,
                                  "gguf '%s': key '%s' is an array of value type %u (valid: 0..12)", c->origin, kv->key,
                                  et);
        if ((st = gg_u64(c, &n, "array length"))) return st;
        kv->elem_type = et;
        kv->count = n;
    }
    uint32_t et = kv->elem_type;
    if (et == XHAL_GGUF_STRING) {
        /* each string needs at least its 8-byte length: bound the count before allocating */
        if (kv->count > gg_left(c) / 8)
            return xhal_set_error(XHAL_ERROR_CORRUPT_DATA,
                                  "gguf '%s': key '%s' claims %llu strings but only %llu bytes remain", c->origin,
                                  kv->key, (unsigned long long)kv->count, (unsigned long long)gg_left(c));
        kv->strs = g->str_pool_used;
        for (uint64_t i = 0; i < kv->count; i++) {
            snprintf(what, sizeof what, "string %llu of key '%.40s'", (unsigned long long)i, kv->key);
            int64_t cap = (int64_t)g->str_pool_cap;
            if (!gg_grow((void **)&g->str_pool, &cap, (int64_t)g->str_pool_used + 1, sizeof *g->str_pool))
                return gg_oom(c->origin, "strings");
            g->str_pool_cap = (uint64_t)cap;
            if ((st = gg_string(g, c, &g->str_pool[g->str_pool_used], 0, what))) return st;
            g->str_pool_used++;
        }
        return XHAL_OK;
    }
    uint64_t es = gg_scalar_size(et);
    if (kv->count > gg_left(c) / es)
        return xhal_set_error(
            XHAL_ERROR_CORRUPT_DATA, "gguf '%s': key '%s' claims %llu values of %llu bytes but only %llu bytes remain",
            c->origin, kv->key, (unsigned long long)kv->count, (unsigned long long)es, (unsigned long long)gg_left(c));
    kv->raw = c->p + c->pos;
    if (et == XHAL_GGUF_BOOL)
        for (uint64_t i = 0; i < kv->count; i++)
            if (kv->raw[i] > 1)
                return xhal_set_error(XHAL_ERROR_CORRUPT_DATA,
                                      "gguf '%s': key '%s': boolean %llu is %u (must be 0 or 1)", c->origin, kv->key,
                                      (unsigned long long)i, kv->raw[i]);
    c->pos += kv->count * es;
    return XHAL_OK;
}

/* ---- sorting for lookups ---- */
typedef struct gg_name_index {
    const char *name;
    int64_t index;
} gg_name_index;

static int gg_ni_cmp(const void *a, const void *b)
{
    return strcmp(((const gg_name_index *)a)->name, ((const gg_name_index *)b)->name);
}

/* Sort names; report the first duplicate in *dup (index into the original array), or -1. */
static int64_t *gg_sorted_index(const char *const *names, int64_t n, int64_t *dup)
{
    *dup = -1;
    gg_name_index *ni = malloc((size_t)(n > 0 ? n : 1) * sizeof *ni);
    int64_t *out = malloc((size_t)(n > 0 ? n : 1) * sizeof *out);
    if (!ni || !out) {
        free(ni);
        free(out);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) {
        ni[i].name = names[i];
        ni[i].index = i;
    }
    qsort(ni, (size_t)n, sizeof *ni, gg_ni_cmp);
    for (int64_t i = 0; i < n; i++) {
        out[i] = ni[i].index;
        if (i > 0 && *dup < 0 && strcmp(ni[i].name, ni[i - 1].name) == 0) *dup = ni[i].index;
    }
    free(ni);
    return out;
}

typedef struct gg_span {
    uint64_t begin, end;
    int64_t index;
} gg_span;

static int gg_span_cmp(const void *a, const void *b)
{
    const gg_span *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end > y->end) - (x->end < y->end);
}

/* ---- tensor infos ---- */
static xhal_status gg_read_tensor(xhal_gguf *g, gg_cursor *c, gg_tensor *t, int64_t index)
{
    gg_str name;
    char what[64];
    snprintf(what, sizeof what, "name of tensor %lld", (long long)index);
    xhal_status st = gg_string(g, c, &name, 1, what);
    if (st) return st;
    t->name = name.s;
    uint32_t nd;
    if ((st = gg_u32(c, &nd, "tensor n_dims"))) return st;
    if (nd > XHAL_GGUF_MAX_DIMS)
        return xhal_set_error(XHAL_ERROR_CORRUPT_DATA, "gguf '%s': tensor '%s' has %u dims (at most %d)", c->origin,
                              t->name, nd, XHAL_GGUF_MAX_DIMS);
    t->ndim = (int)nd;
    uint64_t ne[XHAL_GGUF_MAX_DIMS];
    uint64_t numel = 1;
    int overflow = 0;
    for (uint32_t d = 0; d < nd; d++) {
        if ((st = gg_u64(c, &ne[d], "tensor dimension"))) return st;
        if (ne[d] > (uint64_t)INT64_MAX)
            return xhal_set_error(XHAL_ERROR_CORRUPT_DATA,
                                  "gguf '%s': tensor '%s': dimension %u is %llu (above 2^63 - 1)", c->origin, t->name,
                                  d, (unsigned long long)ne[d]);
        if (ne[d] != 0 && numel > (uint64_t)INT64_MAX / ne[d])
            overflow = 1;
        else
            numel *= ne[d];
    }
    for (uint32_t d = 0; d < nd; d++)
        if (ne[d] == 0) overflow = 0, numel = 0;
    if (overflow)
        return xhal_set_error(XHAL_ERROR_CORRUPT_DATA, "gguf '%s': tensor '%s': element count overflows 2^63",
                              c->origin, t->name);
    uint32_t type;
    if ((st = gg_u32(c, &type, "tensor type"))) return st;
    const gg_type_info *ti = gg_type(type);
    if (!ti)
        return xhal_set_error(XHAL_ERROR_CORRUPT_DATA,
                              "gguf '%s': tensor '%s' has ggml type %u, which is not a known type", c->origin, t->name,
                              type);
    t->type = type;
    if (nd > 0 && ne[0] % ti->blck != 0)
        return xhal_set_error(
            XHAL_ERROR_CORRUPT_DATA,
            "gguf '%s': tensor '%s': innermost dimension %llu is not a multiple of %s's block size %u", c->origin,
            t->name, (unsigned long long)ne[0], ti->name, ti->blck);
    if (nd == 0 && ti->blck != 1)
        return xhal_set_error(XHAL_ERROR_CORRUPT_DATA, "gguf '%s': tensor '%s': a scalar of block type %s", c->origin,
                              t->name, ti->name);
    uint64_t blocks = numel / ti->blck;
    if (blocks > UINT64_MAX / ti->bytes)
        return xhal_set_error(XHAL_ERROR_CORRUPT_DATA, "gguf '%s': tensor '%s': byte size overflows", c->origin,
                              t->name);
    t->size = blocks * ti->bytes;
    t->numel = (int64_t)numel;
    for (int d = 0; d < XHAL_MAX_DIMS; d++) t->shape[d] = 0;
    for (uint32_t d = 0; d < nd; d++) t->shape[nd - 1 - d] = (int64_t)ne[d];
    if ((st = gg_u64(c, &t->rel, "tensor offset"))) return st;
    return XHAL_OK;
}

static xhal_status gg_parse(xhal_gguf *g)
{
    gg_cursor c = {g->base, 0, g->size, g->origin};
    if (!gg_host_little_endian())
        return xhal_set_error(XHAL_ERROR_UNSUPPORTED, "gguf '%s': big-endian hosts are not supported", g->origin);
    if (g->size < 24)
        return xhal_set_error(XHAL_ERROR_CORRUPT_DATA, "gguf '%s': %zu bytes, too short for the 24-byte header",
                              g->origin, g->size);
    if (memcmp(g->base, "GGUF", 4) != 0)
        return xhal_set_error(XHAL_ERROR_CORRUPT_DATA, "gguf '%s': bad magic %02x %02x %02x %02x (expected \"GGUF\")",
                              g->origin, g->base[0], g->base[1], g->base[2], g->base[3]);
    c.pos = 4;
    uint32_t version;
    xhal_status st = gg_u32(&c, &version, "version");
    if (st) return st;
    if (version == 1)
        return xhal_set_error(XHAL_ERROR_UNSUPPORTED, "gguf '%s': version 1 files are not supported (2 and 3 are)",
                              g->origin);
    if ((version & 0xffffu) == 0 && (version >> 16) != 0)
        return xhal_set_error(XHAL_ERROR_UNSUPPORTED,
                              "gguf '%s': a big-endian GGUF file (version field 0x%08x) is not supported", g->origin,
                              version);
    if (version != 2 && version != 3)
        return xhal_set_error(XHAL_ERROR_CORRUPT_DATA, "gguf '%s': version %u (supported: 2, 3)", g->origin, version);
    g->version = version;
    uint64_t n_tensors, n_kv;
    if ((st = gg_u64(&c, &n_tensors, "tensor count")) || (st = gg_u64(&c, &n_kv, "key/value count"))) return st;
    /* a key/value needs at least 8 (key length) + 1 (key) + 4 (type) + 1 (value) bytes, a
     * tensor info 8 + 1 + 4 + 4 + 8: refuse counts the file cannot hold before allocating */
    if (n_kv > XHAL_GGUF_MAX_KV || n_kv > gg_left(&c) / 14)
        return xhal_set_error(XHAL_ERROR_CORRUPT_DATA,
                              "gguf '%s': %llu key/value pairs claimed (at most %u, and %llu bytes remain)", g->origin,
                              (unsigned long long)n_kv, XHAL_GGUF_MAX_KV, (unsigned long long)gg_left(&c));
    if (n_tensors > XHAL_GGUF_MAX_TENSORS || n_tensors > gg_left(&c) / 25)
        return xhal_set_error(XHAL_ERROR_CORRUPT_DATA,
                              "gguf '%s': %llu tensors claimed (at most %u, and %llu bytes remain)", g->origin,
                              (unsigned long long)n_tensors, XHAL_GGUF_MAX_TENSORS, (unsigned long long)gg_left(&c));
    g->alignment = 32;
    /* tables grow with what was read (doubling), not with the counts claimed */
    for (uint64_t i = 0; i < n_kv; i++) {
        if (!gg_grow((void **)&g->kvs, &g->kv_cap, (int64_t)i + 1, sizeof *g->kvs))
            return gg_oom(g->origin, "key/value table");
        memset(&g->kvs[i], 0, sizeof g->kvs[i]);
        if ((st = gg_read_kv(g, &c, &g->kvs[i], (int64_t)i))) return st;
        g->n_kv = (int64_t)i + 1;
        gg_kv *kv = &g->kvs[i];
        if (strcmp(kv->key, "general.alignment") == 0) {
            if (kv->type != XHAL_GGUF_UINT32)
                return xhal_set_error(XHAL_ERROR_CORRUPT_DATA, "gguf '%s': general.alignment is a %s (must be uint32)",
                                      g->origin, xhal_gguf_type_name((int)kv->type));
            uint32_t a = gg_rd_u32(kv->raw);
            if (a == 0 || (a & (a - 1)) != 0 || a > GG_MAX_ALIGNMENT)
                return xhal_set_error(XHAL_ERROR_CORRUPT_DATA,
                                      "gguf '%s': general.alignment is %u (must be a power of two up to %u)", g->origin,
                                      a, GG_MAX_ALIGNMENT);
            g->alignment = a;
        }
    }
    int64_t dup;
    const char **names = malloc(((size_t)n_kv + 1) * sizeof *names);
    if (!names) return gg_oom(g->origin, "key index");
    for (uint64_t i = 0; i < n_kv; i++) names[i] = g->kvs[i].key;
    g->kv_sorted = gg_sorted_index(names, (int64_t)n_kv, &dup);
    free(names);
    if (!g->kv_sorted) return gg_oom(g->origin, "key index");
    if (dup >= 0)
        return xhal_set_error(XHAL_ERROR_CORRUPT_DATA, "gguf '%s': key '%s' appears twice", g->origin, g->kvs[dup].key);

    for (uint64_t i = 0; i < n_tensors; i++) {
        if (!gg_grow((void **)&g->tensors, &g->t_cap, (int64_t)i + 1, sizeof *g->tensors))
            return gg_oom(g->origin, "tensor table");
        memset(&g->tensors[i], 0, sizeof g->tensors[i]);
        if ((st = gg_read_tensor(g, &c, &g->tensors[i], (int64_t)i))) return st;
        g->n_tensors = (int64_t)i + 1;
    }
    names = malloc(((size_t)n_tensors + 1) * sizeof *names);
    if (!names) return gg_oom(g->origin, "tensor index");
    for (uint64_t i = 0; i < n_tensors; i++) names[i] = g->tensors[i].name;
    g->t_sorted = gg_sorted_index(names, (int64_t)n_tensors, &dup);
    free(names);
    if (!g->t_sorted) return gg_oom(g->origin, "tensor index");
    if (dup >= 0)
        return xhal_set_error(XHAL_ERROR_CORRUPT_DATA, "gguf '%s': tensor '%s' appears twice", g->origin,
                              g->tensors[dup].name);

    /* the data area starts at the end of the header, rounded up to the alignment */
    uint64_t data = c.pos + (g->alignment - c.pos % g->alignment) % g->alignment;
    if (n_tensors > 0 && data > g->size)
        return xhal_set_error(XHAL_ERROR_CORRUPT_DATA,
                              "gguf '%s': the data area would start at byte %llu, past the end of the file (%zu bytes)",
                              g->origin, (unsigned long long)data, g->size);
    g->data_offset = data;
    uint64_t area = data <= g->size ? g->size - data : 0;
    gg_span *spans = malloc(((size_t)n_tensors + 1) * sizeof *spans);
    if (!spans) return gg_oom(g->origin, "tensor spans");
    for (uint64_t i = 0; i < n_tensors; i++) {
        const gg_tensor *t = &g->tensors[i];
        if (t->rel % g->alignment != 0) {
            free(spans);
            return xhal_set_error(XHAL_ERROR_CORRUPT_DATA,
                                  "gguf '%s': tensor '%s': offset %llu is not a multiple of the alignment %u",
                                  g->origin, t->name, (unsigned long long)t->rel, g->alignment);
        }
        if (t->rel > area || t->size > area - t->rel) {
            free(spans);
            return xhal_set_error(
                XHAL_ERROR_CORRUPT_DATA,
                "gguf '%s': tensor '%s': bytes [%llu, +%llu) of the data area are outside it (%llu bytes)", g->origin,
                t->name, (unsigned long long)t->rel, (unsigned long long)t->size, (unsigned long long)area);
        }
        spans[i].begin = t->rel;
        spans[i].end = t->rel + t->size;
        spans[i].index = (int64_t)i;
    }
    qsort(spans, (size_t)n_tensors, sizeof *spans, gg_span_cmp);
    uint64_t max_end = 0;
    int64_t max_idx = -1;
    for (uint64_t i = 0; i < n_tensors; i++) {
        if (spans[i].begin == spans[i].end) continue; /* empty tensors share nothing */
        if (max_idx >= 0 && spans[i].begin < max_end) {
            const char *a = g->tensors[max_idx].name, *b = g->tensors[spans[i].index].name;
            free(spans);
            return xhal_set_error(XHAL_ERROR_CORRUPT_DATA, "gguf '%s': tensors '%s' and '%s' overlap in the data area",
                                  g->origin, a, b);
        }
        if (spans[i].end > max_end) {
            max_end = spans[i].end;
            max_idx = spans[i].index;
        }
    }
    free(spans);
    return XHAL_OK;
}

XHAL_API void xhal_gguf_close(xhal_gguf *g)
{
    if (!g) return;
    if (g->map) munmap(g->map, g->size);
    free(g->kvs);
    free(g->kv_sorted);
    free(g->tensors);
    free(g->t_sorted);
    while (g->arena) {
        gg_chunk *n = g->arena->next;
        free(g->arena);
        g->arena = n;
    }
    free(g->str_pool);
    free(g->origin);
    free(g);
}

static xhal_status gg_finish_open(xhal_gguf *g, xhal_gguf **out)
{
    xhal_status st = gg_parse(g);
    if (st) {
        xhal_gguf_close(g);
        return st;
    }
    *out = g;
    return XHAL_OK;
}

static xhal_gguf *gg_new(const char *origin)
{
    xhal_gguf *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    size_t n = strlen(origin) + 1;
    g->origin = malloc(n);
    if (!g->origin) {
        free(g);
        return NULL;
    }
    memcpy(g->origin, origin, n);
    return g;
}

XHAL_API xhal_status xhal_gguf_open_memory(const void *data, size_t size, xhal_gguf **out)
{
    if (!out || (!data && size))
        return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_gguf_open_memory: %s is NULL", out ? "data" : "out");
    xhal_gguf *g = gg_new("<memory>");
    if (!g) return gg_oom("<memory>", "reader");
    g->base = data;
    g->size = size;
    return gg_finish_open(g, out);
}

XHAL_API xhal_status xhal_gguf_open(const char *path, xhal_gguf **out)
{
    if (!path || !out)
        return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_gguf_open: %s is NULL", path ? "out" : "path");
    /* a FIFO in place of the file must not block the open (xhal_file.h) */
    struct stat sb;
    char why[128];
    int fd = xhal_open_regular(path, 0, &sb, why, sizeof why);
    if (fd < 0)
        return xhal_set_error(errno == ENOENT ? XHAL_ERROR_NOT_FOUND : XHAL_ERROR_IO, "gguf: cannot open '%s': %s",
                              path, why);
    if (sb.st_size < 24) {
        close(fd);
        return xhal_set_error(XHAL_ERROR_CORRUPT_DATA, "gguf '%s': %lld bytes, too short for the 24-byte header", path,
                              (long long)sb.st_size);
    }
    if ((uint64_t)sb.st_size > (uint64_t)SIZE_MAX / 2) {
        close(fd);
        return xhal_set_error(XHAL_ERROR_IO, "gguf: '%s' (%lld bytes) is too large to map", path,
                              (long long)sb.st_size);
    }
    size_t size = (size_t)sb.st_size;
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (map == MAP_FAILED)
        return xhal_set_error(XHAL_ERROR_IO, "gguf: cannot map '%s' (%zu bytes): %s", path, size, strerror(e));
    xhal_gguf *g = gg_new(path);
    if (!g) {
        munmap(map, size);
        return gg_oom(path, "reader");
    }
    g->map = map;
    g->base = map;
    g->size = size;
    g->from_file = 1;
    g->dev = sb.st_dev;
    g->ino = sb.st_ino;
    return gg_finish_open(g, out);
}

/* ---- queries ---- */
#define GG_CHECK(g, what)                                                                         \
    do {                                                                                          \
        if (!(g)) return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: reader is NULL", what); \
    } while (0)

XHAL_API xhal_status xhal_gguf_info(const xhal_gguf *g, uint32_t *version, uint32_t *alignment, uint64_t *data_offset)
{
    GG_CHECK(g, "xhal_gguf_info");
    if (version) *version = g->version;
    if (alignment) *alignment = g->alignment;
    if (data_offset) *data_offset = g->data_offset;
    return XHAL_OK;
}

XHAL_API xhal_status xhal_gguf_kv_count(const xhal_gguf *g, int64_t *count)
{
    GG_CHECK(g, "xhal_gguf_kv_count");
    if (!count) return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_gguf_kv_count: count is NULL");
    *count = g->n_kv;
    return XHAL_OK;
}

static void gg_fill_kv(const gg_kv *kv, xhal_gguf_kv *out)
{
    out->key = kv->key;
    out->type = (xhal_gguf_type)kv->type;
    out->elem_type = (xhal_gguf_type)kv->elem_type;
    out->count = kv->count;
}

XHAL_API xhal_status xhal_gguf_kv_at(const xhal_gguf *g, int64_t index, xhal_gguf_kv *out)
{
    GG_CHECK(g, "xhal_gguf_kv_at");
    if (!out) return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_gguf_kv_at: out is NULL");
    if (index < 0 || index >= g->n_kv)
        return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_gguf_kv_at: index %lld outside [0, %lld)",
                              (long long)index, (long long)g->n_kv);
    gg_fill_kv(&g->kvs[index], out);
    return XHAL_OK;
}

static const gg_kv *gg_find_kv(const xhal_gguf *g, const char *key)
{
    int64_t lo = 0, hi = g->n_kv;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        const gg_kv *kv = &g->kvs[g->kv_sorted[mid]];
        int c = strcmp(kv->key, key);
        if (c == 0) return kv;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static xhal_status gg_lookup(const xhal_gguf *g, const char *key, const char *fn, const gg_kv **kv)
{
    GG_CHECK(g, fn);
    if (!key) return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: key is NULL", fn);
    *kv = gg_find_kv(g, key);
    if (!*kv) return xhal_set_error(XHAL_ERROR_NOT_FOUND, "gguf '%s': no key '%s'", g->origin, key);
    return XHAL_OK;
}

XHAL_API xhal_status xhal_gguf_kv_get(const xhal_gguf *g, const char *key, xhal_gguf_kv *out)
{
    const gg_kv *kv;
    xhal_status st = gg_lookup(g, key, "xhal_gguf_kv_get", &kv);
    if (st) return st;
    if (!out) return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_gguf_kv_get: out is NULL");
    gg_fill_kv(kv, out);
    return XHAL_OK;
}

/* Element i of a numeric value as a signed/unsigned integer or a double. kind: 0 int, 1 float. */
typedef struct gg_num {
    int is_float, is_neg;
    uint64_t u; /* magnitude for integers */
    int64_t i;
    double f;
} gg_num;

static int gg_element(const gg_kv *kv, uint64_t idx, gg_num *n)
{
    const unsigned char *p = kv->raw + idx * gg_scalar_size(kv->elem_type);
    memset(n, 0, sizeof *n);
    uint64_t u = 0;
    int64_t s = 0;
    int sgn = 0;
    switch (kv->elem_type) {
        case XHAL_GGUF_UINT8:
        case XHAL_GGUF_BOOL: u = p[0]; break;
        case XHAL_GGUF_INT8:
            s = (int8_t)p[0];
            sgn = 1;
            break;
        case XHAL_GGUF_UINT16: u = (uint64_t)(p[0] | (p[1] << 8)); break;
        case XHAL_GGUF_INT16:
            s = (int16_t)(uint16_t)(p[0] | (p[1] << 8));
            sgn = 1;
            break;
        case XHAL_GGUF_UINT32: u = gg_rd_u32(p); break;
        case XHAL_GGUF_INT32:
            s = (int32_t)gg_rd_u32(p);
            sgn = 1;
            break;
        case XHAL_GGUF_UINT64: u = gg_rd_u64(p); break;
        case XHAL_GGUF_INT64:
            s = (int64_t)gg_rd_u64(p);
            sgn = 1;
            break;
        case XHAL_GGUF_FLOAT32: {
            uint32_t b = gg_rd_u32(p);
            float f;
            memcpy(&f, &b, 4);
            n->is_float = 1;
            n->f = f;
            return 1;
        }
        case XHAL_GGUF_FLOAT64: {
            uint64_t b = gg_rd_u64(p);
            memcpy(&n->f, &b, 8);
            n->is_float = 1;
            return 1;
        }
        default: return 0;
    }
    if (sgn) {
        n->i = s;
        n->is_neg = s < 0;
        n->u = s < 0 ? 0 : (uint64_t)s;
        n->f = (double)s;
    } else {
        n->u = u;
        n->i = u > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)u;
        n->f = (double)u;
    }
    return 1;
}

static xhal_status gg_mismatch(const xhal_gguf *g, const gg_kv *kv, const char *want)
{
    return xhal_set_error(XHAL_ERROR_DTYPE_MISMATCH, "gguf '%s': key '%s' is %s%s%s, not %s", g->origin, kv->key,
                          kv->type == XHAL_GGUF_ARRAY ? "an array of " : "a ", xhal_gguf_type_name((int)kv->elem_type),
                          kv->type == XHAL_GGUF_ARRAY ? "" : " value", want);
}

static xhal_status gg_get_int(const xhal_gguf *g, const gg_kv *kv, uint64_t idx, int want_signed, uint64_t *u,
                              int64_t *i)
{
    gg_num n;
    if (!gg_element(kv, idx, &n) || n.is_float) return gg_mismatch(g, kv, "an integer");
    int is_unsigned_type = kv->elem_type == XHAL_GGUF_UINT8 || kv->elem_type == XHAL_GGUF_UINT16 ||
                           kv->elem_type == XHAL_GGUF_UINT32 || kv->elem_type == XHAL_GGUF_UINT64 ||
                           kv->elem_type == XHAL_GGUF_BOOL;
    if (want_signed) {
        if (is_unsigned_type && n.u > (uint64_t)INT64_MAX)
            return xhal_set_error(XHAL_ERROR_DTYPE_MISMATCH, "gguf '%s': key '%s' is %llu, above INT64_MAX", g->origin,
                                  kv->key, (unsigned long long)n.u);
        *i = is_unsigned_type ? (int64_t)n.u : n.i;
    } else {
        if (n.is_neg)
            return xhal_set_error(XHAL_ERROR_DTYPE_MISMATCH, "gguf '%s': key '%s' is %lld, negative", g->origin,
                                  kv->key, (long long)n.i);
        *u = n.u;
    }
    return XHAL_OK;
}

static xhal_status gg_scalar(const xhal_gguf *g, const char *key, const char *fn, const gg_kv **kv)
{
    xhal_status st = gg_lookup(g, key, fn, kv);
    if (st) return st;
    if ((*kv)->type == XHAL_GGUF_ARRAY) return gg_mismatch(g, *kv, "a scalar");
    return XHAL_OK;
}

XHAL_API xhal_status xhal_gguf_get_u64(const xhal_gguf *g, const char *key, uint64_t *out)
{
    const gg_kv *kv;
    xhal_status st = gg_scalar(g, key, "xhal_gguf_get_u64", &kv);
    if (st) return st;
    if (!out) return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_gguf_get_u64: out is NULL");
    return gg_get_int(g, kv, 0, 0, out, NULL);
}

XHAL_API xhal_status xhal_gguf_get_i64(const xhal_gguf *g, const char *key, int64_t *out)
{
    const gg_kv *kv;
    xhal_status st = gg_scalar(g, key, "xhal_gguf_get_i64", &kv);
    if (st) return st;
    if (!out) return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_gguf_get_i64: out is NULL");
    return gg_get_int(g, kv, 0, 1, NULL, out);
}

static xhal_status gg_get_f64(const xhal_gguf *g, const gg_kv *kv, uint64_t idx, double *out)
{
    gg_num n;
    if (kv->elem_type == XHAL_GGUF_BOOL || !gg_element(kv, idx, &n)) return gg_mismatch(g, kv, "a number");
    *out = n.f;
    return XHAL_OK;
}

XHAL_API xhal_status xhal_gguf_get_f64(const xhal_gguf *g, const char *key, double *out)
{
    const gg_kv *kv;
    xhal_status st = gg_scalar(g, key, "xhal_gguf_get_f64", &kv);
    if (st) return st;
    if (!out) return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_gguf_get_f64: out is NULL");
    return gg_get_f64(g, kv, 0, out);
}

XHAL_API xhal_status xhal_gguf_get_bool(const xhal_gguf *g, const char *key, int *out)
{
    const gg_kv *kv;
    xhal_status st = gg_scalar(g, key, "xhal_gguf_get_bool", &kv);
    if (st) return st;
    if (!out) return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_gguf_get_bool: out is NULL");
    if (kv->type != XHAL_GGUF_BOOL) return gg_mismatch(g, kv, "a bool");
    *out = kv->raw[0];
    return XHAL_OK;
}

XHAL_API xhal_status xhal_gguf_get_string(const xhal_gguf *g, const char *key, const char **out, uint64_t *len)
{
    const gg_kv *kv;
    xhal_status st = gg_scalar(g, key, "xhal_gguf_get_string", &kv);
    if (st) return st;
    if (!out) return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_gguf_get_string: out is NULL");
    if (kv->type != XHAL_GGUF_STRING) return gg_mismatch(g, kv, "a string");
    *out = g->str_pool[kv->strs].s;
    if (len) *len = g->str_pool[kv->strs].len;
    return XHAL_OK;
}

static xhal_status gg_array(const xhal_gguf *g, const char *key, uint64_t index, const char *fn, const gg_kv **kv)
{
    xhal_status st = gg_lookup(g, key, fn, kv);
    if (st) return st;
    if ((*kv)->type != XHAL_GGUF_ARRAY) return gg_mismatch(g, *kv, "an array");
    if (index >= (*kv)->count)
        return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: index %llu outside key '%s' of %llu elements", fn,
                              (unsigned long long)index, key, (unsigned long long)(*kv)->count);
    return XHAL_OK;
}

XHAL_API xhal_status xhal_gguf_array_i64(const xhal_gguf *g, const char *key, uint64_t index, int64_t *out)
{
    const gg_kv *kv;
    xhal_status st = gg_array(g, key, index, "xhal_gguf_array_i64", &kv);
    if (st) return st;
    if (!out) return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_gguf_array_i64: out is NULL");
    return gg_get_int(g, kv, index, 1, NULL, out);
}

XHAL_API xhal_status xhal_gguf_array_f64(const xhal_gguf *g, const char *key, uint64_t index, double *out)
{
    const gg_kv *kv;
    xhal_status st = gg_array(g, key, index, "xhal_gguf_array_f64", &kv);
    if (st) return st;
    if (!out) return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_gguf_array_f64: out is NULL");
    return gg_get_f64(g, kv, index, out);
}

XHAL_API xhal_status xhal_gguf_array_string(const xhal_gguf *g, const char *key, uint64_t index, const char **out,
                                            uint64_t *len)
{
    const gg_kv *kv;
    xhal_status st = gg_array(g, key, index, "xhal_gguf_array_string", &kv);
    if (st) return st;
    if (!out) return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_gguf_array_string: out is NULL");
    if (kv->elem_type != XHAL_GGUF_STRING) return gg_mismatch(g, kv, "an array of strings");
    *out = g->str_pool[kv->strs + index].s;
    if (len) *len = g->str_pool[kv->strs + index].len;
    return XHAL_OK;
}

XHAL_API xhal_status xhal_gguf_tensor_count(const xhal_gguf *g, int64_t *count)
{
    GG_CHECK(g, "xhal_gguf_tensor_count");
    if (!count) return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_gguf_tensor_count: count is NULL");
    *count = g->n_tensors;
    return XHAL_OK;
}

static void gg_fill_tensor(const xhal_gguf *g, const gg_tensor *t, xhal_gguf_tensor *out)
{
    const gg_type_info *ti = gg_type(t->type);
    memset(out, 0, sizeof *out);
    out->name = t->name;
    out->ggml_type = (int)t->type;
    out->type_name = ti->name;
    out->dtype = ti->dtype;
    out->block_size = ti->blck;
    out->block_bytes = ti->bytes;
    out->ndim = t->ndim;
    memcpy(out->shape, t->shape, sizeof out->shape);
    out->numel = t->numel;
    out->offset = g->data_offset + t->rel;
    out->data = g->base + g->data_offset + t->rel;
    out->size = t->size;
}

XHAL_API xhal_status xhal_gguf_tensor_at(const xhal_gguf *g, int64_t index, xhal_gguf_tensor *out)
{
    GG_CHECK(g, "xhal_gguf_tensor_at");
    if (!out) return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_gguf_tensor_at: out is NULL");
    if (index < 0 || index >= g->n_tensors)
        return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_gguf_tensor_at: index %lld outside [0, %lld)",
                              (long long)index, (long long)g->n_tensors);
    gg_fill_tensor(g, &g->tensors[index], out);
    return XHAL_OK;
}

static const gg_tensor *gg_find_tensor(const xhal_gguf *g, const char *name)
{
    int64_t lo = 0, hi = g->n_tensors;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        const gg_tensor *t = &g->tensors[g->t_sorted[mid]];
        int c = strcmp(t->name, name);
        if (c == 0) return t;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

XHAL_API xhal_status xhal_gguf_tensor_get(const xhal_gguf *g, const char *name, xhal_gguf_tensor *out)
{
    GG_CHECK(g, "xhal_gguf_tensor_get");
    if (!name || !out)
        return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_gguf_tensor_get: %s is NULL", name ? "out" : "name");
    const gg_tensor *t = gg_find_tensor(g, name);
    if (!t) return xhal_set_error(XHAL_ERROR_NOT_FOUND, "gguf '%s': no tensor '%s'", g->origin, name);
    gg_fill_tensor(g, t, out);
    return XHAL_OK;
}

XHAL_API xhal_status xhal_gguf_tensor_has(const xhal_gguf *g, const char *name, int *found)
{
    GG_CHECK(g, "xhal_gguf_tensor_has");
    if (!name || !found)
        return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_gguf_tensor_has: %s is NULL", name ? "found" : "name");
    *found = gg_find_tensor(g, name) != NULL;
    return XHAL_OK;
}

XHAL_API xhal_status xhal_gguf_tensor_read(const xhal_gguf *g, const xhal_gguf_tensor *t, void *dst, uint64_t size)
{
    GG_CHECK(g, "xhal_gguf_tensor_read");
    if (!t || !dst)
        return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_gguf_tensor_read: %s is NULL", t ? "dst" : "t");
    if (size != t->size)
        return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                              "xhal_gguf_tensor_read: size is %llu bytes but tensor '%s' has %llu",
                              (unsigned long long)size, t->name ? t->name : "?", (unsigned long long)t->size);
    /* the descriptor must be this reader's: its bytes lie inside this reader's data */
    const unsigned char *p = t->data;
    if (!p || p < g->base || p > g->base + g->size || t->size > (uint64_t)(g->base + g->size - p) ||
        t->offset != (uint64_t)(p - g->base))
        return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                              "xhal_gguf_tensor_read: tensor '%s' does not belong to gguf '%s'",
                              t->name ? t->name : "?", g->origin);
    if (!g->from_file) {
        memcpy(dst, p, (size_t)size);
        return XHAL_OK;
    }
    /* From the file with pread, not from the mapping: a file truncated since it was opened
     * would meet a copy from the mapping as SIGBUS. */
    char why[128];
    struct stat sb;
    int fd = xhal_open_regular(g->origin, 0, &sb, why, sizeof why);
    if (fd < 0)
        return xhal_set_error(XHAL_ERROR_IO, "gguf: cannot reopen '%s' to read tensor '%s': %s", g->origin, t->name,
                              why);
    if (sb.st_dev != g->dev || sb.st_ino != g->ino) {
        close(fd);
        return xhal_set_error(XHAL_ERROR_IO, "gguf: '%s' was replaced since it was opened (reading tensor '%s')",
                              g->origin, t->name);
    }
    uint64_t got = 0;
    while (got < size) {
        size_t want = size - got > ((size_t)1 << 30) ? ((size_t)1 << 30) : (size_t)(size - got);
        ssize_t r = pread(fd, (char *)dst + got, want, (off_t)(t->offset + got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (uint64_t)r;
    }
    close(fd);
    if (got != size)
        return xhal_set_error(XHAL_ERROR_IO,
                              "gguf: '%s' is shorter than when it was opened (truncated while loading?): read %llu "
                              "of the %llu bytes of tensor '%s'",
                              g->origin, (unsigned long long)got, (unsigned long long)size, t->name);
    return XHAL_OK;
}

XHAL_API xhal_status xhal_gguf_tensor_read_slice(const xhal_gguf *g, const xhal_gguf_tensor *t, int axis, int64_t start,
                                                 int64_t stop, void *dst, uint64_t size)
{
    GG_CHECK(g, "xhal_gguf_tensor_read_slice");
    if (!t || !dst)
        return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_gguf_tensor_read_slice: %s is NULL", t ? "dst" : "t");
    if (axis < 0 || axis >= t->ndim || t->block_size < 1)
        return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                              "xhal_gguf_tensor_read_slice: axis %d of tensor '%s' outside [0, %d)", axis,
                              t->name ? t->name : "?", t->ndim);
    if (start < 0 || stop < start || stop > t->shape[axis])
        return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                              "xhal_gguf_tensor_read_slice: slice [%lld, %lld) of axis %d of tensor '%s' is not "
                              "inside [0, %lld]",
                              (long long)start, (long long)stop, axis, t->name ? t->name : "?",
                              (long long)t->shape[axis]);
    const int last = axis == t->ndim - 1;
    if (last && (start % t->block_size || stop % t->block_size))
        return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                              "xhal_gguf_tensor_read_slice: slice [%lld, %lld) of the innermost axis of tensor '%s' "
                              "splits its %s blocks of %lld elements",
                              (long long)start, (long long)stop, t->name ? t->name : "?", t->type_name,
                              (long long)t->block_size);
    /* bytes: the innermost axis holds shape[last] / block_size blocks */
    uint64_t outer = 1, inner = (uint64_t)t->block_bytes;
    for (int i = 0; i < axis; i++) outer *= (uint64_t)t->shape[i];
    for (int i = axis + 1; i < t->ndim; i++)
        inner *= (uint64_t)(i == t->ndim - 1 ? t->shape[i] / t->block_size : t->shape[i]);
    const int64_t per = last ? t->block_size : 1; /* elements of axis per inner-byte unit */
    const uint64_t run = (uint64_t)((stop - start) / per) * inner;
    const uint64_t row = (uint64_t)(t->shape[axis] / per) * inner;
    if (size != outer * run)
        return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                              "xhal_gguf_tensor_read_slice: size is %llu bytes but the slice of '%s' has %llu",
                              (unsigned long long)size, t->name ? t->name : "?", (unsigned long long)(outer * run));
    const unsigned char *p = t->data;
    if (!p || p < g->base || p > g->base + g->size || t->size > (uint64_t)(g->base + g->size - p) ||
        t->offset != (uint64_t)(p - g->base) || outer * row != t->size)
        return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                              "xhal_gguf_tensor_read_slice: tensor '%s' does not belong to gguf '%s'",
                              t->name ? t->name : "?", g->origin);
    const uint64_t first = (uint64_t)(start / per) * inner;
    if (!g->from_file) {
        for (uint64_t o = 0; o < outer; o++) memcpy((char *)dst + o * run, p + o * row + first, (size_t)run);
        return XHAL_OK;
    }
    char why[128];
    struct stat sb;
    int fd = xhal_open_regular(g->origin, 0, &sb, why, sizeof why);
    if (fd < 0)
        return xhal_set_error(XHAL_ERROR_IO, "gguf: cannot reopen '%s' to read tensor '%s': %s", g->origin, t->name,
                              why);
    if (sb.st_dev != g->dev || sb.st_ino != g->ino) {
        close(fd);
        return xhal_set_error(XHAL_ERROR_IO, "gguf: '%s' was replaced since it was opened (reading tensor '%s')",
                              g->origin, t->name);
    }
    xhal_status s = XHAL_OK;
    for (uint64_t o = 0; o < outer && s == XHAL_OK; o++) {
        uint64_t got = 0;
        const uint64_t off = t->offset + o * row + first;
        while (got < run) {
            size_t want = run - got > ((size_t)1 << 30) ? ((size_t)1 << 30) : (size_t)(run - got);
            ssize_t r = pread(fd, (char *)dst + o * run + got, want, (off_t)(off + got));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            got += (uint64_t)r;
        }
        if (got != run)
            s = xhal_set_error(XHAL_ERROR_IO,
                               "gguf: '%s' is shorter than when it was opened (truncated while loading?): tensor '%s'",
                               g->origin, t->name);
    }
    close(fd);
    return s;
}
