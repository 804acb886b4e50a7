/* config.c - config.json of LlamaForCausalLM: parse, default, check. Accepts the layout of
 * transformers 4 (rope_theta, rope_scaling at top level) and of transformers 5
 * (rope_parameters {rope_type, rope_theta}). */
#define _POSIX_C_SOURCE 200809L
#include "llama_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "xhal/plugin/xhal_file.h"
#include "xhal_json_guard.h"

static _Thread_local char xl_msg[4096];

const char *xllama_last_error(void) { return xl_msg; }

xhal_status xl_fail(xhal_status st, const char *fmt, ...)
{
    char tmp[sizeof xl_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    memcpy(xl_msg, tmp, sizeof tmp);
    return st;
}

xhal_status xl_wrap(xhal_status st, const char *fmt, ...)
{
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return xl_fail(st, "%s: %s", what, xhal_last_error());
}

/* Upper bounds that keep every size product far from overflow and refuse absurd configs
 * before anything is allocated. */
#define XL_MAX_DIM ((int64_t)1 << 20)
#define XL_MAX_LAYERS 4096
#define XL_MAX_VOCAB ((int64_t)1 << 24)
/* Real models use 1e-6 to 1e-5 and thetas of 1e4 to 1e7 */
#define XL_MAX_EPS 0.1
#define XL_MAX_THETA 1e10

static xhal_status read_file_text(const char *path, char **out)
{
    char why[128];
    FILE *fp = xhal_fopen_regular(path, why, sizeof why); /* a FIFO would block fopen() */
    if (!fp) {
        int e = errno;
        return xl_fail(e == ENOENT ? XHAL_ERROR_NOT_FOUND : XHAL_ERROR_IO, "llama: cannot open '%s': %s", path, why);
    }
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > (16 << 20)) {
        fclose(fp);
        return xl_fail(XHAL_ERROR_IO, "llama: '%s' is not a regular file below 16 MiB", path);
    }
    char *buf = malloc((size_t)sb.st_size + 1);
    if (!buf) {
        fclose(fp);
        return xl_fail(XHAL_ERROR_OUT_OF_MEMORY, "llama: out of memory reading '%s'", path);
    }
    size_t n = fread(buf, 1, (size_t)sb.st_size, fp);
    fclose(fp);
    if (n != (size_t)sb.st_size) {
        free(buf);
        return xl_fail(XHAL_ERROR_IO, "llama: short read of '%s'", path);
    }
    buf[n] = '\0';
    *out = buf;
    return XHAL_OK;
}

static int is_null_or_missing(const cJSON *j) { return j == NULL || cJSON_IsNull(j); }

/* An integer key: required (dflt < 0) or defaulted. Its range is xl_config_check's. */
static xhal_status get_int(const char *path, const cJSON *root, const char *key, int64_t dflt, int64_t *out)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, key);
    if (is_null_or_missing(j)) {
        if (dflt < 0) return xl_fail(XHAL_ERROR_CORRUPT_DATA, "llama: %s: required key '%s' is missing", path, key);
        *out = dflt;
        return XHAL_OK;
    }
    if (!cJSON_IsNumber(j) || j->valuedouble != floor(j->valuedouble))
        return xl_fail(XHAL_ERROR_CORRUPT_DATA, "llama: %s: '%s' must be an integer", path, key);
    if (fabs(j->valuedouble) > 0x1p62) /* keep the conversion defined; the bounds come later */
        return xl_fail(XHAL_ERROR_CORRUPT_DATA, "llama: %s: '%s' = %.17g is outside [1, %lld]", path, key,
                       j->valuedouble, (long long)XL_MAX_DIM);
    *out = (int64_t)j->valuedouble;
    return XHAL_OK;
}

/* A number key, defaulted when missing. Its range is xl_config_check's. */
static xhal_status get_number(const char *path, const cJSON *obj, const char *key, double dflt, double *out)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (is_null_or_missing(j)) {
        *out = dflt;
        return XHAL_OK;
    }
    if (!cJSON_IsNumber(j)) return xl_fail(XHAL_ERROR_CORRUPT_DATA, "llama: %s: '%s' must be a number", path, key);
    *out = j->valuedouble;
    return XHAL_OK;
}

static xhal_status check_int(const char *path, const char *key, int64_t v, int64_t max)
{
    if (v < 1 || v > max)
        return xl_fail(XHAL_ERROR_CORRUPT_DATA, "llama: %s: '%s' = %lld is outside [1, %lld]", path, key, (long long)v,
                       (long long)max);
    return XHAL_OK;
}

/* A number in (lo, hi]: absurd values are refused, not run (rms_norm_eps 1e308 once gave
 * all-zero logits and a "successful" run). NaN fails both comparisons. */
static xhal_status check_range(const char *path, const char *key, double v, double lo, double hi)
{
    if (!(v > lo && v <= hi))
        return xl_fail(XHAL_ERROR_CORRUPT_DATA, "llama: %s: '%s' = %.17g is outside (%g, %g]", path, key, v, lo, hi);
    return XHAL_OK;
}

xhal_status xl_config_check(const char *path, const xllama_config *c, const xl_config_keys *k)
{
    xhal_status st;
    if ((st = check_int(path, k->hidden_size, c->hidden_size, XL_MAX_DIM)) ||
        (st = check_int(path, k->intermediate_size, c->intermediate_size, XL_MAX_DIM)) ||
        (st = check_int(path, k->num_layers, c->num_layers, XL_MAX_LAYERS)) ||
        (st = check_int(path, k->num_heads, c->num_heads, 4096)) ||
        (st = check_int(path, k->num_kv_heads, c->num_kv_heads, 4096)) ||
        (st = check_int(path, k->head_dim, c->head_dim, 65536)) ||
        (st = check_int(path, k->vocab_size, c->vocab_size, XL_MAX_VOCAB)) ||
        (st = check_int(path, k->max_position_embeddings, c->max_position_embeddings, XL_MAX_DIM)) ||
        (st = check_range(path, k->rms_norm_eps, c->rms_norm_eps, 0.0, XL_MAX_EPS)) ||
        (st = check_range(path, k->rope_theta, c->rope_theta, 1.0, XL_MAX_THETA)))
        return st;
    if (c->num_heads % c->num_kv_heads != 0)
        return xl_fail(XHAL_ERROR_CORRUPT_DATA, "llama: %s: %s %lld is not a multiple of %s %lld", path, k->num_heads,
                       (long long)c->num_heads, k->num_kv_heads, (long long)c->num_kv_heads);
    if (c->head_dim % 2 != 0)
        return xl_fail(XHAL_ERROR_CORRUPT_DATA, "llama: %s: %s %lld is odd; RoPE needs pairs", path, k->head_dim,
                       (long long)c->head_dim);
    if (c->num_heads * c->head_dim > XL_MAX_DIM)
        return xl_fail(XHAL_ERROR_CORRUPT_DATA, "llama: %s: %s x %s = %lld is too large", path, k->num_heads,
                       k->head_dim, (long long)(c->num_heads * c->head_dim));
    return XHAL_OK;
}

static xhal_status get_bool(const char *path, const cJSON *root, const char *key, int dflt, int *out)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, key);
    if (is_null_or_missing(j)) {
        *out = dflt;
        return XHAL_OK;
    }
    if (!cJSON_IsBool(j)) return xl_fail(XHAL_ERROR_CORRUPT_DATA, "llama: %s: '%s' must be true or false", path, key);
    *out = cJSON_IsTrue(j);
    return XHAL_OK;
}

static xhal_status parse(const char *path, const cJSON *root, xllama_config *c)
{
    xhal_status st;
    if (!cJSON_IsObject(root)) return xl_fail(XHAL_ERROR_CORRUPT_DATA, "llama: %s is not a JSON object", path);

    /* What model is it? */
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (mt && (!cJSON_IsString(mt) || strcmp(mt->valuestring, "llama") != 0))
        return xl_fail(XHAL_ERROR_UNSUPPORTED,
                       "llama: %s: model_type '%s' is not supported (only "
                       "'llama')",
                       path, cJSON_IsString(mt) ? mt->valuestring : "?");
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    if (cJSON_IsArray(arch) && cJSON_GetArraySize(arch) > 0) {
        int ok = 0;
        for (const cJSON *a = arch->child; a; a = a->next)
            ok |= cJSON_IsString(a) && strcmp(a->valuestring, "LlamaForCausalLM") == 0;
        if (!ok)
            return xl_fail(XHAL_ERROR_UNSUPPORTED,
                           "llama: %s: architectures does not list "
                           "LlamaForCausalLM",
                           path);
    }

    /* Settings the port does not implement: refused, never ignored. */
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "hidden_act");
    if (act && (!cJSON_IsString(act) || strcmp(act->valuestring, "silu") != 0))
        return xl_fail(XHAL_ERROR_UNSUPPORTED,
                       "llama: %s: hidden_act '%s' is not supported (only "
                       "'silu')",
                       path, cJSON_IsString(act) ? act->valuestring : "?");
    int flag;
    if ((st = get_bool(path, root, "attention_bias", 0, &flag)) != XHAL_OK) return st;
    if (flag) return xl_fail(XHAL_ERROR_UNSUPPORTED, "llama: %s: attention_bias true is not supported", path);
    if ((st = get_bool(path, root, "mlp_bias", 0, &flag)) != XHAL_OK) return st;
    if (flag) return xl_fail(XHAL_ERROR_UNSUPPORTED, "llama: %s: mlp_bias true is not supported", path);
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
    if (!is_null_or_missing(rs))
        return xl_fail(XHAL_ERROR_UNSUPPORTED,
                       "llama: %s: rope_scaling is set; only null (plain "
                       "RoPE) is supported",
                       path);

    if ((st = get_int(path, root, "hidden_size", -1, &c->hidden_size)) != XHAL_OK ||
        (st = get_int(path, root, "intermediate_size", -1, &c->intermediate_size)) != XHAL_OK ||
        (st = get_int(path, root, "num_hidden_layers", -1, &c->num_layers)) != XHAL_OK ||
        (st = get_int(path, root, "num_attention_heads", -1, &c->num_heads)) != XHAL_OK ||
        (st = get_int(path, root, "vocab_size", -1, &c->vocab_size)) != XHAL_OK ||
        (st = get_int(path, root, "max_position_embeddings", 2048, &c->max_position_embeddings)) != XHAL_OK ||
        (st = get_int(path, root, "num_key_value_heads", c->num_heads, &c->num_kv_heads)) != XHAL_OK)
        return st;
    int64_t dflt_hd = c->num_heads > 0 ? c->hidden_size / c->num_heads : 1;
    if (dflt_hd < 1) dflt_hd = 1;
    if ((st = get_int(path, root, "head_dim", dflt_hd, &c->head_dim)) != XHAL_OK) return st;
    if ((st = get_number(path, root, "rms_norm_eps", 1e-6, &c->rms_norm_eps)) != XHAL_OK) return st;
    if ((st = get_bool(path, root, "tie_word_embeddings", 0, &c->tie_word_embeddings)) != XHAL_OK) return st;

    /* RoPE: transformers 5 writes rope_parameters, transformers 4 rope_theta. */
    c->rope_theta = 10000.0;
    const cJSON *rp = cJSON_GetObjectItemCaseSensitive(root, "rope_parameters");
    if (!is_null_or_missing(rp)) {
        if (!cJSON_IsObject(rp))
            return xl_fail(XHAL_ERROR_CORRUPT_DATA, "llama: %s: rope_parameters must be an object", path);
        const cJSON *rt = cJSON_GetObjectItemCaseSensitive(rp, "rope_type");
        if (rt && (!cJSON_IsString(rt) || strcmp(rt->valuestring, "default") != 0))
            return xl_fail(XHAL_ERROR_UNSUPPORTED,
                           "llama: %s: rope_parameters.rope_type '%s' is not "
                           "supported (only 'default')",
                           path, cJSON_IsString(rt) ? rt->valuestring : "?");
        if ((st = get_number(path, rp, "rope_theta", 10000.0, &c->rope_theta)) != XHAL_OK) return st;
        const cJSON *prf = cJSON_GetObjectItemCaseSensitive(rp, "partial_rotary_factor");
        if (!is_null_or_missing(prf) && !(cJSON_IsNumber(prf) && prf->valuedouble == 1.0))
            return xl_fail(XHAL_ERROR_UNSUPPORTED,
                           "llama: %s: rope_parameters.partial_rotary_factor "
                           "other than 1 is not supported",
                           path);
    }
    if (cJSON_GetObjectItemCaseSensitive(root, "rope_theta") &&
        (st = get_number(path, root, "rope_theta", 10000.0, &c->rope_theta)) != XHAL_OK)
        return st;

    static const xl_config_keys keys = {
        "hidden_size", "intermediate_size", "num_hidden_layers",       "num_attention_heads", "num_key_value_heads",
        "head_dim",    "vocab_size",        "max_position_embeddings", "rms_norm_eps",        "rope_theta"};
    return xl_config_check(path, c, &keys);
}

xhal_status xllama_config_load(const char *dir, xllama_config *cfg)
{
    if (!dir || !cfg) return xl_fail(XHAL_ERROR_INVALID_ARGUMENT, "llama: NULL argument");
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/config.json", dir) >= sizeof path)
        return xl_fail(XHAL_ERROR_INVALID_ARGUMENT, "llama: path too long");
    char *text = NULL;
    xhal_status st = read_file_text(path, &text);
    if (st != XHAL_OK) return st;
    cJSON *root = cJSON_Parse(text);
    if (!root) {
        free(text);
        return xl_fail(XHAL_ERROR_CORRUPT_DATA, "llama: %s is not valid JSON", path);
    }
    /* cJSON keeps both copies of a repeated key and reads the first, Python the last: the
     * file would mean two models. An escaped NUL would cut a string short unseen. */
    const char *dup = NULL;
    int dr = xhal_json_duplicate_key(root, &dup);
    const char *nul = xhal_json_nul_escape(text, strlen(text));
    free(text);
    xllama_config c;
    memset(&c, 0, sizeof c);
    if (dr < 0)
        st = xl_fail(XHAL_ERROR_OUT_OF_MEMORY, "llama: out of memory checking %s", path);
    else if (dr > 0)
        st = xl_fail(XHAL_ERROR_CORRUPT_DATA, "llama: %s: key '%s' appears twice", path, dup);
    else if (nul)
        st = xl_fail(XHAL_ERROR_CORRUPT_DATA,
                     "llama: %s: a string holds an escaped NUL "
                     "(backslash-u0000)",
                     path);
    else
        st = parse(path, root, &c);
    cJSON_Delete(root);
    if (st == XHAL_OK) *cfg = c;
    return st;
}
