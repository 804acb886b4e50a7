/*
 * xhal_json_guard.h - checks cJSON leaves to its caller, header-only, for every reader of a
 * JSON file (config.json, safetensors headers and indexes):
 *   - duplicate keys: cJSON keeps both and its lookups return the first, Python's json the
 *     last, so one file meant two things; refused.
 *   - an escaped NUL (backslash-u0000) inside a string: cJSON decodes it into a C string
 *     that ends there, so "model.norm.weight" + escaped NUL + "evil" was used as
 *     "model.norm.weight"; refused.
 * Both run in O(n log n) in the size of the document (a sort per object), never quadratic.
 */
#ifndef XHAL_JSON_GUARD_H
#define XHAL_JSON_GUARD_H

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

/* The first escaped NUL (backslash-u0000) inside a string of text[0, len), or NULL. */
static inline const char *xhal_json_nul_escape(const char *text, size_t len)
{
    int in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (!in_str) {
            if (c == '"') in_str = 1;
            continue;
        }
        if (c == '"') {
            in_str = 0;
        } else if (c == '\\' && i + 1 < len) {
            if (text[i + 1] == 'u' && i + 5 < len && !memcmp(text + i + 2, "0000", 4)) return text + i;
            i++; /* the escaped character */
        }
    }
    return NULL;
}

static int xhal_json_cmp_names_(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* 1 and the key in *dup if some object in the tree holds a key twice; 0 if none; -1 when out of
 * memory. */
static inline int xhal_json_duplicate_key(const cJSON *node, const char **dup)
{
    if (!node) return 0;
    if (cJSON_IsObject(node)) {
        size_t n = 0;
        for (const cJSON *c = node->child; c; c = c->next) n++;
        if (n > 1) {
            const char **names = malloc(n * sizeof *names);
            if (!names) return -1;
            size_t k = 0;
            for (const cJSON *c = node->child; c; c = c->next) names[k++] = c->string ? c->string : "";
            qsort(names, n, sizeof *names, xhal_json_cmp_names_);
            for (size_t i = 1; i < n; i++)
                if (!strcmp(names[i - 1], names[i])) {
                    /* names[i] points into the tree, which outlives this call */
                    *dup = names[i];
                    free(names);
                    return 1;
                }
            free(names);
        }
    }
    if (cJSON_IsObject(node) || cJSON_IsArray(node))
        for (const cJSON *c = node->child; c; c = c->next) {
            int r = xhal_json_duplicate_key(c, dup);
            if (r) return r;
        }
    return 0;
}

#endif
