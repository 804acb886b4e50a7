/* safetensors.c - the safetensors reader: mmap, complete header validation, sharded
 * checkpoints, upload to a device. See include/xhal/xhal_safetensors.h for the contract.
 *
 * Why the checks are ordered as they are: nothing the header says is trusted until the
 * whole header has been read. The header length is checked against the file size before
 * the JSON is parsed; every tensor entry is checked on its own (dtype, shape, offsets) and
 * then all of them together (no overlap) before the reader is handed out. Allocations are
 * proportional to the number of JSON entries, which is bounded by the header length, never
 * to the sizes written in the header. */
#include "xhal/xhal_safetensors.h"
#include "xhal/plugin/xhal_file.h"
#include "xhal_json_guard.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* JSON numbers are doubles: integers above 2^53 are not exact, so they are refused. */
#define ST_MAX_EXACT 9007199254740992.0

typedef struct st_file {
    char *path;
    dev_t dev; /* identity at open: upload re-reads this very file */
    ino_t ino;
    void *map; /* whole file, PROT_READ */
    size_t map_size;
    const unsigned char *data; /* start of the data area */
    uint64_t data_size;
} st_file;

typedef struct st_entry {
    char *name;
    xhal_dtype dtype;
    int ndim;
    int64_t shape[XHAL_MAX_DIMS];
    int64_t numel;
    uint64_t begin, end; /* within the data area of files[file] */
    int file;
} st_entry;

typedef struct st_meta {
    char *key;
    char *value;
    int64_t seq; /* order of appearance over all shards: the first one of a key wins */
} st_meta;

struct xhal_safetensors {
    st_file *files;
    int n_files;
    st_entry *entries; /* sorted by name */
    int64_t n_entries;
    st_meta *meta; /* sorted by key */
    int64_t n_meta;
    char *origin; /* what was opened, for messages */
};

static char *st_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

static xhal_status st_oom(const char *what)
{
    return xhal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "safetensors: out of host memory (%s)", what);
}

static int st_host_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static const struct {
    const char *name;
    xhal_dtype dtype;
} st_dtypes[] = {
    {"F32", XHAL_DTYPE_F32}, {"F16", XHAL_DTYPE_F16}, {"BF16", XHAL_DTYPE_BF16}, {"F64", XHAL_DTYPE_F64},
    {"I8", XHAL_DTYPE_I8},   {"U8", XHAL_DTYPE_U8},   {"I32", XHAL_DTYPE_I32},   {"I64", XHAL_DTYPE_I64},
};

static xhal_dtype st_dtype_parse(const char *s)
{
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (strcmp(s, st_dtypes[i].name) == 0) return st_dtypes[i].dtype;
    return XHAL_DTYPE_INVALID;
}

/* ------------------------------------------------------------------------- */
/* One file                                                                   */
/* ------------------------------------------------------------------------- */

static void st_file_release(st_file *f)
{
    if (f->map && f->map != MAP_FAILED) munmap(f->map, f->map_size);
    free(f->path);
    memset(f, 0, sizeof *f);
}

static xhal_status st_map_file(const char *path, st_file *f)
{
    memset(f, 0, sizeof *f);
    struct stat sb;
    char why[128];
    int fd = xhal_open_regular(path, 0, &sb, why, sizeof why); /* a FIFO would block open() */
    if (fd < 0)
        return xhal_set_error(errno == ENOENT ? XHAL_ERROR_NOT_FOUND : XHAL_ERROR_IO,
                              "safetensors: cannot open '%s': %s", path, why);
    if (sb.st_size < 8) {
        close(fd);
        return xhal_set_error(XHAL_ERROR_CORRUPT_DATA,
                              "safetensors: '%s' is %lld bytes, too short for the 8-byte header length", path,
                              (long long)sb.st_size);
    }
    if ((uint64_t)sb.st_size > (uint64_t)SIZE_MAX) {
        close(fd);
        return xhal_set_error(XHAL_ERROR_IO, "safetensors: '%s' (%lld bytes) is too large to map", path,
                              (long long)sb.st_size);
    }
    f->map_size = (size_t)sb.st_size;
    f->dev = sb.st_dev;
    f->ino = sb.st_ino;
    f->map = mmap(NULL, f->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        return xhal_set_error(XHAL_ERROR_IO, "safetensors: cannot map '%s' (%zu bytes): %s", path, f->map_size,
                              strerror(e));
    }
    f->path = st_strdup(path);
    if (!f->path) {
        st_file_release(f);
        return st_oom("path");
    }
    return XHAL_OK;
}

/* A JSON number that must be an exact non-negative integer. */
static int st_json_uint(const cJSON *n, uint64_t *out)
{
    if (!cJSON_IsNumber(n)) return 0;
    double d = n->valuedouble;
    if (!(d >= 0.0) || d > ST_MAX_EXACT || d != (double)(uint64_t)d) return 0;
    *out = (uint64_t)d;
    return 1;
}

/* Parse and check one tensor entry; on success fills e (name not set). */
static xhal_status st_parse_entry(const char *path, const cJSON *item, uint64_t data_size, st_entry *e)
{
    const char *name = item->string;
    if (!cJSON_IsObject(item))
        return xhal_set_error(XHAL_ERROR_CORRUPT_DATA, "safetensors: '%s': entry '%s' is not a JSON object", path,
                              name);
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(jd) || !cJSON_IsArray(js) || !cJSON_IsArray(jo))
        return xhal_set_error(XHAL_ERROR_CORRUPT_DATA,
                              "safetensors: '%s': tensor '%s' needs \"dtype\" (string), \"shape\" "
                              "(array) and \"data_offsets\" (array)",
                              path, name);
    for (const cJSON *k = item->child; k; k = k->next)
        if (strcmp(k->string, "dtype") != 0 && strcmp(k->string, "shape") != 0 &&
            strcmp(k->string, "data_offsets") != 0)
            return xhal_set_error(XHAL_ERROR_CORRUPT_DATA, "safetensors: '%s': tensor '%s' has an unknown field '%s'",
                                  path, name, k->string);
    e->dtype = st_dtype_parse(jd->valuestring);
    if (e->dtype == XHAL_DTYPE_INVALID)
        return xhal_set_error(XHAL_ERROR_UNSUPPORTED,
                              "safetensors: '%s': tensor '%s' has dtype '%.32s', which xhal does not "
                              "support (F32, F16, BF16, F64, I8, U8, I32, I64)",
                              path, name, jd->valuestring);
    int nd = cJSON_GetArraySize(js);
    if (nd > XHAL_MAX_DIMS)
        return xhal_set_error(XHAL_ERROR_UNSUPPORTED,
                              "safetensors: '%s': tensor '%s' has %d dims; xhal supports at most %d", path, name, nd,
                              XHAL_MAX_DIMS);
    e->ndim = nd;
    uint64_t numel = 1;
    int overflow = 0, i = 0;
    for (const cJSON *d = js->child; d; d = d->next, i++) {
        uint64_t v;
        if (!st_json_uint(d, &v))
            return xhal_set_error(XHAL_ERROR_CORRUPT_DATA,
                                  "safetensors: '%s': tensor '%s': shape[%d] is not a non-negative "
                                  "integer below 2^53",
                                  path, name, i);
        e->shape[i] = (int64_t)v;
        if (v != 0 && numel > UINT64_MAX / v)
            overflow = 1;
        else
            numel *= v;
    }
    for (; i < XHAL_MAX_DIMS; i++) e->shape[i] = 0;
    /* Zero in any dimension wins over an overflow in the others. */
    for (i = 0; i < nd; i++)
        if (e->shape[i] == 0) {
            numel = 0;
            overflow = 0;
        }
    uint64_t esize = xhal_dtype_size(e->dtype);
    if (overflow || numel > (uint64_t)INT64_MAX || numel > UINT64_MAX / esize)
        return xhal_set_error(XHAL_ERROR_CORRUPT_DATA,
                              "safetensors: '%s': tensor '%s': the element count of its shape "
                              "overflows",
                              path, name);
    e->numel = (int64_t)numel;
    uint64_t bytes = numel * esize;

    if (cJSON_GetArraySize(jo) != 2)
        return xhal_set_error(XHAL_ERROR_CORRUPT_DATA,
                              "safetensors: '%s': tensor '%s': data_offsets must be [begin, end]", path, name);
    if (!st_json_uint(jo->child, &e->begin) || !st_json_uint(jo->child->next, &e->end))
        return xhal_set_error(XHAL_ERROR_CORRUPT_DATA,
                              "safetensors: '%s': tensor '%s': data_offsets are not non-negative "
                              "integers below 2^53",
                              path, name);
    if (e->begin > e->end)
        return xhal_set_error(XHAL_ERROR_CORRUPT_DATA,
                              "safetensors: '%s': tensor '%s': data_offsets reversed (begin %llu > "
                              "end %llu)",
                              path, name, (unsigned long long)e->begin, (unsigned long long)e->end);
    if (e->end > data_size)
        return xhal_set_error(XHAL_ERROR_CORRUPT_DATA,
                              "safetensors: '%s': tensor '%s': data_offsets [%llu, %llu) lie past "
                              "the end of the data area (%llu bytes)",
                              path, name, (unsigned long long)e->begin, (unsigned long long)e->end,
                              (unsigned long long)data_size);
    if (e->end - e->begin != bytes)
        return xhal_set_error(XHAL_ERROR_CORRUPT_DATA,
                              "safetensors: '%s': tensor '%s': shape holds %llu elements of %s "
                              "(%llu bytes) but data_offsets span %llu bytes",
                              path, name, (unsigned long long)numel, xhal_dtype_name(e->dtype),
                              (unsigned long long)bytes, (unsigned long long)(e->end - e->begin));
    return XHAL_OK;
}

/* What one checkpoint may hold (far above real models: Llama 3 405B has 1,138 tensors in 191
 * shards), so that a header's size alone bounds the work. */
#define ST_MAX_TENSORS 1000000
#define ST_MAX_META 65536
#define ST_MAX_SHARDS 65536

static int st_cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Duplicate keys and escaped NULs inside names (xhal_json_guard.h), for a header or an index. */
static xhal_status st_json_guard(const char *path, const char *what, const char *text, size_t len, const cJSON *root)
{
    const char *dup = NULL;
    int r = xhal_json_duplicate_key(root, &dup);
    if (r < 0) return st_oom("duplicate check");
    if (r > 0)
        return xhal_set_error(XHAL_ERROR_CORRUPT_DATA,
                              "safetensors: '%s': key '%s' appears twice in "
                              "one object of the %s",
                              path, dup, what);
    const char *nul = xhal_json_nul_escape(text, len);
    if (nul)
        return xhal_set_error(XHAL_ERROR_CORRUPT_DATA,
                              "safetensors: '%s': the %s holds an escaped NUL "
                              "(\\u0000) at byte %ld, inside a name or value",
                              path, what, (long)(nul - text));
    return XHAL_OK;
}

static int st_cmp_entry_name(const void *a, const void *b)
{
    return strcmp(((const st_entry *)a)->name, ((const st_entry *)b)->name);
}

static int st_cmp_entry_begin(const void *a, const void *b)
{
    const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static int st_cmp_meta(const void *a, const void *b)
{
    const st_meta *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->seq < y->seq ? -1 : x->seq > y->seq);
}

/* Growable arrays of the reader under construction. */
typedef struct st_builder {
    st_entry *entries;
    int64_t n_entries, cap_entries;
    st_meta *meta;
    int64_t n_meta, cap_meta;
} st_builder;

static int st_grow(void **arr, int64_t *cap, int64_t need, size_t elem)
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

static void st_builder_free(st_builder *b)
{
    for (int64_t i = 0; i < b->n_entries; i++) free(b->entries[i].name);
    for (int64_t i = 0; i < b->n_meta; i++) {
        free(b->meta[i].key);
        free(b->meta[i].value);
    }
    free(b->entries);
    free(b->meta);
    memset(b, 0, sizeof *b);
}

/* Validate the header of mapped file f (index file_index) and append its tensors and
 * metadata to b. On failure b keeps what it had before this file only in count terms:
 * the caller discards b entirely. */
static xhal_status st_read_header(st_file *f, int file_index, st_builder *b)
{
    const char *path = f->path;
    const unsigned char *base = f->map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | base[i];
    uint64_t avail = (uint64_t)f->map_size - 8;
    /* The length field is not printed: in a file that is not safetensors at all (a text file
     * behind a link, say) it is 8 bytes of that file's content. */
    if (hlen > XHAL_SAFETENSORS_MAX_HEADER)
        return xhal_set_error(XHAL_ERROR_CORRUPT_DATA,
                              "safetensors: '%s': the header length field exceeds the limit of %u "
                              "bytes: not a safetensors file, or a corrupt one",
                              path, (unsigned)XHAL_SAFETENSORS_MAX_HEADER);
    if (hlen > avail)
        return xhal_set_error(XHAL_ERROR_CORRUPT_DATA,
                              "safetensors: '%s': the header length field points past the end of the "
                              "file (%llu bytes after it): file truncated, or not a safetensors file",
                              path, (unsigned long long)avail);
    if (hlen < 2)
        return xhal_set_error(XHAL_ERROR_CORRUPT_DATA,
                              "safetensors: '%s': header length %llu is too small for a JSON object", path,
                              (unsigned long long)hlen);
    const char *json = (const char *)base + 8;
    if (json[0] != '{')
        return xhal_set_error(XHAL_ERROR_CORRUPT_DATA, "safetensors: '%s': header does not start with '{'", path);
    if (memchr(json, '\0', (size_t)hlen) != NULL)
        return xhal_set_error(XHAL_ERROR_CORRUPT_DATA, "safetensors: '%s': header contains a NUL byte", path);
    f->data = base + 8 + hlen;
    f->data_size = avail - hlen;

    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, (size_t)hlen, &end, 0);
    if (!root) /* cJSON's error position is a process-wide global: not used, not thread safe */
        return xhal_set_error(XHAL_ERROR_CORRUPT_DATA, "safetensors: '%s': header (%llu bytes) is not valid JSON", path,
                              (unsigned long long)hlen);
    xhal_status st = st_json_guard(path, "header", json, (size_t)hlen, root);
    if (st != XHAL_OK) goto done;
    if (!cJSON_IsObject(root)) {
        st = xhal_set_error(XHAL_ERROR_CORRUPT_DATA, "safetensors: '%s': header is not a JSON object", path);
        goto done;
    }
    /* Only whitespace may follow the object (the format pads with spaces). */
    for (const char *p = end; p && p < json + hlen; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            st = xhal_set_error(XHAL_ERROR_CORRUPT_DATA,
                                "safetensors: '%s': trailing bytes after the JSON header at byte %ld", path,
                                (long)(p - json));
            goto done;
        }
    }

    int64_t first = b->n_entries;
    int seen_meta = 0;
    for (const cJSON *item = root->child; item; item = item->next) {
        if (strcmp(item->string, "__metadata__") == 0) {
            if (seen_meta++) {
                st = xhal_set_error(XHAL_ERROR_CORRUPT_DATA, "safetensors: '%s': \"__metadata__\" appears twice", path);
                goto done;
            }
            if (!cJSON_IsObject(item)) {
                st = xhal_set_error(XHAL_ERROR_CORRUPT_DATA, "safetensors: '%s': \"__metadata__\" is not an object",
                                    path);
                goto done;
            }
            for (const cJSON *m = item->child; m; m = m->next) {
                if (!cJSON_IsString(m)) {
                    st = xhal_set_error(XHAL_ERROR_CORRUPT_DATA,
                                        "safetensors: '%s': __metadata__['%s'] is not a string", path, m->string);
                    goto done;
                }
                /* (a key twice in one header was refused by st_json_guard; across shards the
                 * first wins, sorted out in st_finish in O(n log n)) */
                if (b->n_meta >= ST_MAX_META) {
                    st = xhal_set_error(XHAL_ERROR_CORRUPT_DATA, "safetensors: '%s': more than %d __metadata__ entries",
                                        path, ST_MAX_META);
                    goto done;
                }
                if (!st_grow((void **)&b->meta, &b->cap_meta, b->n_meta + 1, sizeof(st_meta))) {
                    st = st_oom("metadata");
                    goto done;
                }
                st_meta *mm = &b->meta[b->n_meta];
                mm->seq = b->n_meta;
                mm->key = st_strdup(m->string);
                mm->value = st_strdup(m->valuestring);
                if (!mm->key || !mm->value) {
                    free(mm->key);
                    free(mm->value);
                    st = st_oom("metadata");
                    goto done;
                }
                b->n_meta++;
            }
            continue;
        }
        if (b->n_entries >= ST_MAX_TENSORS) {
            st = xhal_set_error(XHAL_ERROR_CORRUPT_DATA, "safetensors: '%s': more than %d tensors", path,
                                ST_MAX_TENSORS);
            goto done;
        }
        st_entry e;
        memset(&e, 0, sizeof e);
        st = st_parse_entry(path, item, f->data_size, &e);
        if (st != XHAL_OK) goto done;
        if (!st_grow((void **)&b->entries, &b->cap_entries, b->n_entries + 1, sizeof(st_entry))) {
            st = st_oom("tensor table");
            goto done;
        }
        e.name = st_strdup(item->string);
        if (!e.name) {
            st = st_oom("tensor name");
            goto done;
        }
        e.file = file_index;
        b->entries[b->n_entries++] = e;
    }

    /* No two tensors of this file may share a byte. */
    int64_t n = b->n_entries - first;
    if (n > 1) {
        st_entry **order = malloc((size_t)n * sizeof *order);
        if (!order) {
            st = st_oom("overlap check");
            goto done;
        }
        for (int64_t i = 0; i < n; i++) order[i] = &b->entries[first + i];
        qsort(order, (size_t)n, sizeof *order, st_cmp_entry_begin);
        const st_entry *prev = NULL;
        for (int64_t i = 0; i < n; i++) {
            const st_entry *cur = order[i];
            if (cur->begin == cur->end) continue; /* empty tensors occupy no byte */
            if (prev && cur->begin < prev->end) {
                st = xhal_set_error(XHAL_ERROR_CORRUPT_DATA,
                                    "safetensors: '%s': tensors '%s' [%llu, %llu) and '%s' [%llu, "
                                    "%llu) overlap",
                                    path, prev->name, (unsigned long long)prev->begin, (unsigned long long)prev->end,
                                    cur->name, (unsigned long long)cur->begin, (unsigned long long)cur->end);
                break;
            }
            prev = cur;
        }
        free(order);
    }
done:
    cJSON_Delete(root);
    return st;
}

/* ------------------------------------------------------------------------- */
/* Opening                                                                    */
/* ------------------------------------------------------------------------- */

static int st_is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int st_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static int st_ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static char *st_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t k = a;
    if (k > 0 && p[k - 1] != '/') p[k++] = '/';
    memcpy(p + k, name, b + 1);
    return p;
}

/* Read a whole small text file (index JSON) with a size cap. */
static xhal_status st_read_text(const char *path, char **out, size_t *len)
{
    char why[128];
    FILE *fp = xhal_fopen_regular(path, why, sizeof why); /* a FIFO would block fopen() */
    if (!fp)
        return xhal_set_error(errno == ENOENT ? XHAL_ERROR_NOT_FOUND : XHAL_ERROR_IO,
                              "safetensors: cannot open '%s': %s", path, why);
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0) {
        fclose(fp);
        return xhal_set_error(XHAL_ERROR_IO, "safetensors: cannot stat '%s'", path);
    }
    if ((uint64_t)sb.st_size > XHAL_SAFETENSORS_MAX_HEADER) {
        fclose(fp);
        return xhal_set_error(XHAL_ERROR_CORRUPT_DATA, "safetensors: index '%s' is %lld bytes, above the limit of %u",
                              path, (long long)sb.st_size, (unsigned)XHAL_SAFETENSORS_MAX_HEADER);
    }
    size_t n = (size_t)sb.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(fp);
        return st_oom("index file");
    }
    size_t got = fread(buf, 1, n, fp);
    int err = ferror(fp);
    fclose(fp);
    if (got != n || err) {
        free(buf);
        return xhal_set_error(XHAL_ERROR_IO, "safetensors: short read of '%s' (%zu of %zu bytes)", path, got, n);
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return XHAL_OK;
}

static void st_free_reader(xhal_safetensors *r)
{
    if (!r) return;
    for (int i = 0; i < r->n_files; i++) st_file_release(&r->files[i]);
    free(r->files);
    for (int64_t i = 0; i < r->n_entries; i++) free(r->entries[i].name);
    free(r->entries);
    for (int64_t i = 0; i < r->n_meta; i++) {
        free(r->meta[i].key);
        free(r->meta[i].value);
    }
    free(r->meta);
    free(r->origin);
    free(r);
}

/* Sort the table, refuse duplicates, hand the arrays to r. */
static xhal_status st_finish(xhal_safetensors *r, st_builder *b)
{
    if (b->n_entries > 1) qsort(b->entries, (size_t)b->n_entries, sizeof(st_entry), st_cmp_entry_name);
    for (int64_t i = 1; i < b->n_entries; i++) {
        if (strcmp(b->entries[i - 1].name, b->entries[i].name) == 0) {
            const st_entry *x = &b->entries[i - 1], *y = &b->entries[i];
            return xhal_set_error(XHAL_ERROR_CORRUPT_DATA, "safetensors: tensor '%s' appears twice (in '%s' and '%s')",
                                  x->name, r->files[x->file].path, r->files[y->file].path);
        }
    }
    if (b->n_meta > 1) qsort(b->meta, (size_t)b->n_meta, sizeof(st_meta), st_cmp_meta);
    /* a key set by several shards: the first (lowest seq, sorted first) wins */
    int64_t kept = 0;
    for (int64_t i = 0; i < b->n_meta; i++) {
        if (kept > 0 && strcmp(b->meta[kept - 1].key, b->meta[i].key) == 0) {
            free(b->meta[i].key);
            free(b->meta[i].value);
            continue;
        }
        b->meta[kept++] = b->meta[i];
    }
    b->n_meta = kept;
    r->entries = b->entries;
    r->n_entries = b->n_entries;
    r->meta = b->meta;
    r->n_meta = b->n_meta;
    memset(b, 0, sizeof *b);
    return XHAL_OK;
}

static xhal_status st_add_file(xhal_safetensors *r, const char *path, st_builder *b)
{
    st_file *nf = realloc(r->files, (size_t)(r->n_files + 1) * sizeof(st_file));
    if (!nf) return st_oom("file table");
    r->files = nf;
    xhal_status st = st_map_file(path, &r->files[r->n_files]);
    if (st != XHAL_OK) return st;
    r->n_files++;
    return st_read_header(&r->files[r->n_files - 1], r->n_files - 1, b);
}

static const st_entry *st_find(const xhal_safetensors *r, const char *name)
{
    int64_t lo = 0, hi = r->n_entries;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(r->entries[mid].name, name);
        if (c == 0) return &r->entries[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* A shard name from weight_map: a plain file name in the index's folder. */
static int st_safe_shard_name(const char *s)
{
    if (s[0] == '\0' || strchr(s, '/') != NULL || strchr(s, '\\') != NULL) return 0;
    if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0) return 0;
    return 1;
}

static xhal_status st_open_index(xhal_safetensors *r, const char *index_path, st_builder *b)
{
    char *text = NULL;
    size_t len = 0;
    xhal_status st = st_read_text(index_path, &text, &len);
    if (st != XHAL_OK) return st;
    cJSON *root = cJSON_ParseWithLength(text, len);
    if (!root) {
        free(text);
        return xhal_set_error(XHAL_ERROR_CORRUPT_DATA, "safetensors: index '%s' is not valid JSON", index_path);
    }
    st = st_json_guard(index_path, "index", text, len, root);
    free(text);
    if (st != XHAL_OK) {
        cJSON_Delete(root);
        return st;
    }
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(root) || !cJSON_IsObject(wm)) {
        cJSON_Delete(root);
        return xhal_set_error(XHAL_ERROR_CORRUPT_DATA, "safetensors: index '%s' has no \"weight_map\" object",
                              index_path);
    }
    /* Folder of the index. */
    char *dir = st_strdup(index_path);
    if (!dir) {
        cJSON_Delete(root);
        return st_oom("path");
    }
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[1] = '\0';
    else
        strcpy(dir, "./");

    /* Distinct shard names, sorted (shards are read in file-name order). */
    const char **shards = NULL;
    int n_shards = 0;
    int64_t n_map = 0;
    for (const cJSON *m = wm->child; m; m = m->next) n_map++;
    if (n_map > ST_MAX_TENSORS)
        st = xhal_set_error(XHAL_ERROR_CORRUPT_DATA,
                            "safetensors: index '%s': more than %d names in "
                            "weight_map",
                            index_path, ST_MAX_TENSORS);
    else if (n_map > 0 && !(shards = malloc((size_t)n_map * sizeof *shards)))
        st = st_oom("shard list");
    for (const cJSON *m = wm->child; m && st == XHAL_OK; m = m->next) {
        if (!cJSON_IsString(m)) {
            st = xhal_set_error(XHAL_ERROR_CORRUPT_DATA, "safetensors: index '%s': weight_map['%s'] is not a string",
                                index_path, m->string);
            break;
        }
        if (!st_safe_shard_name(m->valuestring)) {
            st = xhal_set_error(XHAL_ERROR_CORRUPT_DATA,
                                "safetensors: index '%s': weight_map['%s'] = '%s' is not a file name "
                                "in the index's folder",
                                index_path, m->string, m->valuestring);
            break;
        }
        shards[n_shards++] = m->valuestring;
    }
    if (st == XHAL_OK && n_shards > 1) {
        qsort(shards, (size_t)n_shards, sizeof *shards, st_cmp_str);
        int u = 1;
        for (int i = 1; i < n_shards; i++)
            if (strcmp(shards[u - 1], shards[i]) != 0) shards[u++] = shards[i];
        n_shards = u;
    }
    if (st == XHAL_OK && n_shards > ST_MAX_SHARDS)
        st = xhal_set_error(XHAL_ERROR_CORRUPT_DATA,
                            "safetensors: index '%s' names %d shard files, "
                            "more than %d",
                            index_path, n_shards, ST_MAX_SHARDS);
    if (st == XHAL_OK && n_shards == 0)
        st = xhal_set_error(XHAL_ERROR_CORRUPT_DATA, "safetensors: index '%s': weight_map is empty", index_path);
    for (int i = 0; i < n_shards && st == XHAL_OK; i++) {
        char *p = st_join(dir, shards[i]);
        if (!p) {
            st = st_oom("path");
            break;
        }
        st = st_add_file(r, p, b);
        free(p);
    }
    if (st == XHAL_OK) st = st_finish(r, b);
    /* Every name in weight_map must be in the shard it names. */
    for (const cJSON *m = wm->child; m && st == XHAL_OK; m = m->next) {
        const st_entry *e = st_find(r, m->string);
        if (!e) {
            st = xhal_set_error(XHAL_ERROR_CORRUPT_DATA,
                                "safetensors: index '%s' maps tensor '%s' to '%s', which does not "
                                "hold it",
                                index_path, m->string, m->valuestring);
            break;
        }
        const char *fp = r->files[e->file].path;
        const char *base = strrchr(fp, '/');
        base = base ? base + 1 : fp;
        if (strcmp(base, m->valuestring) != 0)
            st = xhal_set_error(XHAL_ERROR_CORRUPT_DATA,
                                "safetensors: index '%s' maps tensor '%s' to '%s' but it is in '%s'", index_path,
                                m->string, m->valuestring, fp);
    }
    free(shards);
    free(dir);
    cJSON_Delete(root);
    return st;
}

XHAL_API xhal_status xhal_safetensors_open(const char *path, xhal_safetensors **out)
{
    if (!path || !out)
        return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_safetensors_open: path and out must not be NULL");
    if (!st_host_little_endian())
        return xhal_set_error(XHAL_ERROR_UNSUPPORTED,
                              "xhal_safetensors_open: safetensors data is little-endian and this host "
                              "is not");
    xhal_safetensors *r = calloc(1, sizeof *r);
    if (!r) return st_oom("reader");
    st_builder b;
    memset(&b, 0, sizeof b);
    xhal_status st = XHAL_OK;
    char *target = NULL;
    int is_index = 0;
    if (st_is_dir(path)) {
        char *idx = st_join(path, "model.safetensors.index.json");
        char *one = st_join(path, "model.safetensors");
        if (!idx || !one) {
            st = st_oom("path");
            free(idx);
            free(one);
        } else if (st_exists(idx)) {
            target = idx;
            is_index = 1;
            free(one);
        } else if (st_exists(one)) {
            target = one;
            free(idx);
        } else {
            st = xhal_set_error(XHAL_ERROR_NOT_FOUND,
                                "safetensors: folder '%s' has neither model.safetensors.index.json "
                                "nor model.safetensors",
                                path);
            free(idx);
            free(one);
        }
    } else {
        target = st_strdup(path);
        if (!target) st = st_oom("path");
        is_index = st_ends_with(path, ".json");
    }
    if (st == XHAL_OK) {
        r->origin = target;
        target = NULL;
        if (is_index) {
            st = st_open_index(r, r->origin, &b);
        } else {
            st = st_add_file(r, r->origin, &b);
            if (st == XHAL_OK) st = st_finish(r, &b);
        }
    }
    free(target);
    st_builder_free(&b);
    if (st != XHAL_OK) {
        st_free_reader(r);
        return st;
    }
    *out = r;
    return XHAL_OK;
}

XHAL_API void xhal_safetensors_close(xhal_safetensors *st) { st_free_reader(st); }

/* ------------------------------------------------------------------------- */
/* Queries                                                                    */
/* ------------------------------------------------------------------------- */

static void st_fill(const xhal_safetensors *r, const st_entry *e, xhal_safetensors_tensor *out)
{
    memset(out, 0, sizeof *out);
    out->name = e->name;
    out->dtype = e->dtype;
    out->ndim = e->ndim;
    memcpy(out->shape, e->shape, sizeof out->shape);
    out->numel = e->numel;
    out->data = r->files[e->file].data + e->begin;
    out->size = e->end - e->begin;
    out->file = r->files[e->file].path;
}

XHAL_API xhal_status xhal_safetensors_count(const xhal_safetensors *st, int64_t *count)
{
    if (!st || !count)
        return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_safetensors_count: st and count must not be NULL");
    *count = st->n_entries;
    return XHAL_OK;
}

XHAL_API xhal_status xhal_safetensors_at(const xhal_safetensors *st, int64_t index, xhal_safetensors_tensor *out)
{
    if (!st || !out)
        return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_safetensors_at: st and out must not be NULL");
    if (index < 0 || index >= st->n_entries)
        return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_safetensors_at: index %lld outside [0, %lld)",
                              (long long)index, (long long)st->n_entries);
    st_fill(st, &st->entries[index], out);
    return XHAL_OK;
}

XHAL_API xhal_status xhal_safetensors_get(const xhal_safetensors *st, const char *name, xhal_safetensors_tensor *out)
{
    if (!st || !name || !out)
        return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_safetensors_get: st, name and out must not be NULL");
    const st_entry *e = st_find(st, name);
    if (!e) return xhal_set_error(XHAL_ERROR_NOT_FOUND, "safetensors: no tensor '%s' in '%s'", name, st->origin);
    st_fill(st, e, out);
    return XHAL_OK;
}

XHAL_API xhal_status xhal_safetensors_has(const xhal_safetensors *st, const char *name, int *found)
{
    if (!st || !name || !found)
        return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_safetensors_has: st, name and found must not be NULL");
    *found = st_find(st, name) != NULL;
    return XHAL_OK;
}

XHAL_API xhal_status xhal_safetensors_metadata_count(const xhal_safetensors *st, int64_t *count)
{
    if (!st || !count)
        return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                              "xhal_safetensors_metadata_count: st and count must not be NULL");
    *count = st->n_meta;
    return XHAL_OK;
}

XHAL_API xhal_status xhal_safetensors_metadata_at(const xhal_safetensors *st, int64_t index, const char **key,
                                                  const char **value)
{
    if (!st || !key || !value)
        return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                              "xhal_safetensors_metadata_at: st, key and value must not be NULL");
    if (index < 0 || index >= st->n_meta)
        return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_safetensors_metadata_at: index %lld outside [0, %lld)",
                              (long long)index, (long long)st->n_meta);
    *key = st->meta[index].key;
    *value = st->meta[index].value;
    return XHAL_OK;
}

XHAL_API xhal_status xhal_safetensors_metadata_get(const xhal_safetensors *st, const char *key, const char **value)
{
    if (!st || !key || !value)
        return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                              "xhal_safetensors_metadata_get: st, key and value must not be NULL");
    for (int64_t i = 0; i < st->n_meta; i++) {
        if (strcmp(st->meta[i].key, key) == 0) {
            *value = st->meta[i].value;
            return XHAL_OK;
        }
    }
    return xhal_set_error(XHAL_ERROR_NOT_FOUND, "safetensors: no metadata key '%s' in '%s'", key, st->origin);
}

/* Reads size bytes at off of the file f with pread into dst: the file may have been truncated
 * or replaced since it was mapped, which a copy from the mapping would meet as SIGBUS. */
static xhal_status st_read_range(const st_file *f, uint64_t off, void *dst, uint64_t size, const char *name)
{
    char why[128];
    struct stat sb;
    int fd = xhal_open_regular(f->path, 0, &sb, why, sizeof why);
    if (fd < 0)
        return xhal_set_error(XHAL_ERROR_IO, "safetensors: cannot reopen '%s' to read tensor '%s': %s", f->path, name,
                              why);
    if (sb.st_dev != f->dev || sb.st_ino != f->ino) {
        close(fd);
        return xhal_set_error(XHAL_ERROR_IO,
                              "safetensors: '%s' was replaced since it was opened "
                              "(reading tensor '%s')",
                              f->path, name);
    }
    uint64_t got = 0;
    while (got < size) {
        size_t want = size - got > ((size_t)1 << 30) ? ((size_t)1 << 30) : (size_t)(size - got);
        ssize_t r = pread(fd, (char *)dst + got, want, (off_t)(off + got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (uint64_t)r;
    }
    close(fd);
    if (got != size)
        return xhal_set_error(XHAL_ERROR_IO,
                              "safetensors: '%s' is shorter than when it was opened "
                              "(truncated while loading?): read %llu of the %llu bytes of tensor '%s'",
                              f->path, (unsigned long long)got, (unsigned long long)size, name);
    return XHAL_OK;
}

/* The slice [start, stop) of axis `axis` of tensor e (info its description) read from its file
 * into dst: one pread per index of the axes before `axis` (a row range for axis 0), so that
 * nothing outside the slice is read. */
static xhal_status st_read_slice(const xhal_safetensors *st, const char *name, const xhal_safetensors_tensor *info,
                                 int axis, int64_t start, int64_t stop, unsigned char *dst)
{
    const st_entry *e = st_find(st, name);
    const st_file *f = &st->files[e->file];
    const uint64_t base = (uint64_t)(f->data - (const unsigned char *)f->map) + e->begin;
    const uint64_t es = xhal_dtype_size(info->dtype);
    uint64_t outer = 1, inner = es;
    for (int i = 0; i < axis; i++) outer *= (uint64_t)info->shape[i];
    for (int i = axis + 1; i < info->ndim; i++) inner *= (uint64_t)info->shape[i];
    const uint64_t run = (uint64_t)(stop - start) * inner, row = (uint64_t)info->shape[axis] * inner;
    if (outer == 1) return st_read_range(f, base + (uint64_t)start * inner, dst, run, name);
    char why[128];
    struct stat sb;
    int fd = xhal_open_regular(f->path, 0, &sb, why, sizeof why);
    if (fd < 0)
        return xhal_set_error(XHAL_ERROR_IO, "safetensors: cannot reopen '%s' to read tensor '%s': %s", f->path, name,
                              why);
    if (sb.st_dev != f->dev || sb.st_ino != f->ino) {
        close(fd);
        return xhal_set_error(XHAL_ERROR_IO, "safetensors: '%s' was replaced since it was opened (reading tensor '%s')",
                              f->path, name);
    }
    xhal_status s = XHAL_OK;
    for (uint64_t o = 0; o < outer && s == XHAL_OK; o++) {
        const uint64_t off = base + o * row + (uint64_t)start * inner;
        uint64_t got = 0;
        while (got < run) {
            size_t want = run - got > ((size_t)1 << 30) ? ((size_t)1 << 30) : (size_t)(run - got);
            ssize_t r = pread(fd, dst + o * run + got, want, (off_t)(off + got));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            got += (uint64_t)r;
        }
        if (got != run)
            s = xhal_set_error(XHAL_ERROR_IO,
                               "safetensors: '%s' is shorter than when it was opened (truncated while loading?): "
                               "tensor '%s'",
                               f->path, name);
    }
    close(fd);
    return s;
}

XHAL_API xhal_status xhal_safetensors_upload_slice(const xhal_safetensors *st, const char *name, int axis,
                                                   int64_t start, int64_t stop, xhal_stream *stream, xhal_dtype dtype,
                                                   xhal_tensor **out)
{
    if (!st || !name || !out)
        return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                              "xhal_safetensors_upload_slice: st, name and out must not be NULL");
    xhal_safetensors_tensor info;
    xhal_status s = xhal_safetensors_get(st, name, &info);
    if (s != XHAL_OK) return s;
    if (axis < 0 || axis >= info.ndim)
        return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                              "xhal_safetensors_upload_slice: axis %d of tensor '%s' outside [0, %d)", axis, name,
                              info.ndim);
    if (start < 0 || stop < start || stop > info.shape[axis])
        return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                              "xhal_safetensors_upload_slice: slice [%lld, %lld) of axis %d of tensor '%s' is not "
                              "inside [0, %lld]",
                              (long long)start, (long long)stop, axis, name, (long long)info.shape[axis]);
    if (dtype != XHAL_DTYPE_INVALID && xhal_dtype_size(dtype) == 0)
        return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_safetensors_upload_slice: invalid target dtype %d",
                              (int)dtype);
    xhal_device *dev = NULL;
    s = xhal_stream_device(stream, &dev);
    if (s != XHAL_OK) return s;
    int64_t shape[XHAL_MAX_DIMS];
    memcpy(shape, info.shape, sizeof shape);
    shape[axis] = stop - start;
    uint64_t size = xhal_dtype_size(info.dtype);
    for (int i = 0; i < info.ndim; i++) size *= (uint64_t)shape[i];
    xhal_tensor *raw = NULL, *cast = NULL;
    s = xhal_tensor_create(dev, info.dtype, info.ndim, shape, &raw);
    if (s != XHAL_OK) return s;
    if (size > 0) {
        unsigned char *staging = (size_t)size == size ? malloc((size_t)size) : NULL;
        if (!staging)
            s = xhal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "out of host memory staging %llu bytes",
                               (unsigned long long)size);
        else
            s = st_read_slice(st, name, &info, axis, start, stop, staging);
        if (s == XHAL_OK) s = xhal_tensor_write(stream, raw, staging, size);
        free(staging);
    }
    if (s == XHAL_OK && dtype != XHAL_DTYPE_INVALID && dtype != info.dtype) {
        s = xhal_tensor_create(dev, dtype, info.ndim, shape, &cast);
        if (s == XHAL_OK && size > 0) s = xhal_copy(stream, raw, cast);
        if (s == XHAL_OK) s = xhal_stream_synchronize(stream);
    }
    if (s != XHAL_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", xhal_last_error());
        xhal_tensor_destroy(cast);
        xhal_tensor_destroy(raw);
        return xhal_set_error(s, "safetensors: uploading a slice of '%s': %s", name, msg);
    }
    if (cast) {
        xhal_tensor_destroy(raw);
        raw = cast;
    }
    *out = raw;
    return XHAL_OK;
}

XHAL_API xhal_status xhal_safetensors_upload(const xhal_safetensors *st, const char *name, xhal_stream *stream,
                                             xhal_dtype dtype, xhal_tensor **out)
{
    if (!st || !name || !out)
        return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                              "xhal_safetensors_upload: st, name and out must not be NULL");
    xhal_safetensors_tensor info;
    xhal_status s = xhal_safetensors_get(st, name, &info);
    if (s != XHAL_OK) return s;
    if (dtype != XHAL_DTYPE_INVALID && xhal_dtype_size(dtype) == 0)
        return xhal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "xhal_safetensors_upload: invalid target dtype %d",
                              (int)dtype);
    xhal_device *dev = NULL;
    s = xhal_stream_device(stream, &dev);
    if (s != XHAL_OK) return s;
    xhal_tensor *raw = NULL, *cast = NULL;
    s = xhal_tensor_create(dev, info.dtype, info.ndim, info.shape, &raw);
    if (s != XHAL_OK) return s;
    if (info.size > 0) {
        /* read from the file, not the mapping (see st_read_range) */
        const st_entry *e = st_find(st, name);
        const st_file *f = &st->files[e->file];
        uint64_t off = (uint64_t)(f->data - (const unsigned char *)f->map) + e->begin;
        void *staging = (size_t)info.size == info.size ? malloc((size_t)info.size) : NULL;
        if (!staging)
            s = xhal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "out of host memory staging %llu bytes",
                               (unsigned long long)info.size);
        else
            s = st_read_range(f, off, staging, info.size, name);
        if (s == XHAL_OK) s = xhal_tensor_write(stream, raw, staging, info.size);
        free(staging);
    }
    if (s == XHAL_OK && dtype != XHAL_DTYPE_INVALID && dtype != info.dtype) {
        s = xhal_tensor_create(dev, dtype, info.ndim, info.shape, &cast);
        if (s == XHAL_OK && info.numel > 0) s = xhal_copy(stream, raw, cast);
        if (s == XHAL_OK) s = xhal_stream_synchronize(stream);
    }
    if (s != XHAL_OK) {
        /* Keep the failing call's message across the clean-up calls. */
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", xhal_last_error());
        xhal_tensor_destroy(cast);
        xhal_tensor_destroy(raw);
        return xhal_set_error(s, "safetensors: uploading '%s': %s", name, msg);
    }
    if (cast) {
        xhal_tensor_destroy(raw);
        raw = cast;
    }
    *out = raw;
    return XHAL_OK;
}
