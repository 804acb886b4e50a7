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
#define XL_MAX_LAYERS XLLAMA_MAX_LAYERS
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

static const char *str_or(const cJSON *j, const char *dflt) { return cJSON_IsString(j) ? j->valuestring : dflt; }

/* Which family: model_type and architectures must agree; either alone is enough; neither
 * means Llama (the layout the port was first written for). */
static xhal_status pick_arch(const char *path, const cJSON *root, const xl_arch **out)
{
    char names[256];
    xl_arch_list_names(names, sizeof names);
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    const xl_arch *a = NULL;
    if (mt) {
        if (!cJSON_IsString(mt) || (a = xl_arch_by_model_type(mt->valuestring)) == NULL)
            return xl_fail(XHAL_ERROR_UNSUPPORTED, "llama: %s: model_type '%s' is not supported (the port runs %s)",
                           path, str_or(mt, "?"), names);
    }
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    if (!is_null_or_missing(arch) && !cJSON_IsArray(arch))
        return xl_fail(XHAL_ERROR_CORRUPT_DATA, "llama: %s: architectures must be a list", path);
    if (cJSON_IsArray(arch) && cJSON_GetArraySize(arch) > 0) {
        const xl_arch *found = NULL;
        const char *first = NULL;
        for (const cJSON *e = arch->child; e; e = e->next) {
            if (!cJSON_IsString(e))
                return xl_fail(XHAL_ERROR_CORRUPT_DATA, "llama: %s: architectures holds a non-string", path);
            if (!first) first = e->valuestring;
            const xl_arch *b = xl_arch_by_architecture(e->valuestring);
            if (b && (!a || b == a)) found = b;
        }
        if (!found) {
            if (a)
                return xl_fail(XHAL_ERROR_UNSUPPORTED, "llama: %s: architectures does not list %s (model_type '%s')",
                               path, a->architecture, a->model_type);
            return xl_fail(XHAL_ERROR_UNSUPPORTED, "llama: %s: architectures '%s' is not supported (the port runs %s)",
                           path, first, names);
        }
        a = found;
    }
    *out = a ? a : xl_arch_of(XLLAMA_LLAMA);
    return XHAL_OK;
}

/* A list of layer indices (mlp_only_layers), each in [0, L). */
static xhal_status get_layer_list(const char *path, const cJSON *root, const char *key, int64_t L, unsigned char *set)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, key);
    if (is_null_or_missing(j)) return XHAL_OK;
    if (!cJSON_IsArray(j))
        return xl_fail(XHAL_ERROR_CORRUPT_DATA, "llama: %s: '%s' must be a list of layer indices", path, key);
    for (const cJSON *e = j->child; e; e = e->next) {
        if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) || e->valuedouble < 0 ||
            e->valuedouble >= (double)L)
            return xl_fail(XHAL_ERROR_CORRUPT_DATA, "llama: %s: '%s' holds %s, not a layer index in [0, %lld)", path,
                           key, cJSON_IsNumber(e) ? "a number" : "a non-number", (long long)L);
        set[(int64_t)e->valuedouble] = 1;
    }
    return XHAL_OK;
}

/* sliding_window: null or absent (the family's default), 0 (none: transformers 5's Qwen2-MoE
 * config writes 0 when use_sliding_window is false) or a positive integer. */
static xhal_status get_window(const char *path, const cJSON *root, int64_t dflt, int64_t *out)
{
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, "sliding_window");
    if (!j) {
        *out = dflt;
        return XHAL_OK;
    }
    if (cJSON_IsNull(j)) {
        *out = 0;
        return XHAL_OK;
    }
    xhal_status st = get_int(path, root, "sliding_window", -1, out);
    if (st != XHAL_OK || *out == 0) return st;
    return check_int(path, "sliding_window", *out, XL_MAX_DIM);
}

/* The sliding-window layers: Mistral / Mixtral slide every layer when sliding_window is set;
 * Qwen2 / Qwen3 (and their MoE) with use_sliding_window slide layers >= max_window_layers, or
 * as layer_types (transformers 5) lists them. */
static xhal_status parse_window(const char *path, const cJSON *root, const xl_arch *a, xllama_config *c)
{
    xhal_status st;
    int64_t L = c->num_layers;
    if (a->window == XL_WIN_NONE) return XHAL_OK;
    int64_t w = 0;
    if ((st = get_window(path, root, a->window_default, &w)) != XHAL_OK) return st;
    if (a->window == XL_WIN_ALL) {
        c->sliding_window = w;
        for (int64_t l = 0; l < L; l++) c->layer_sliding[l] = w > 0;
        return XHAL_OK;
    }
    int use = 0;
    int64_t mwl = 0;
    if ((st = get_bool(path, root, "use_sliding_window", 0, &use)) != XHAL_OK ||
        (st = get_int(path, root, "max_window_layers", 28, &mwl)) != XHAL_OK)
        return st;
    if (mwl < 0)
        return xl_fail(XHAL_ERROR_CORRUPT_DATA, "llama: %s: 'max_window_layers' = %lld is negative", path,
                       (long long)mwl);
    const cJSON *lt = cJSON_GetObjectItemCaseSensitive(root, "layer_types");
    if (!is_null_or_missing(lt)) {
        if (!cJSON_IsArray(lt) || cJSON_GetArraySize(lt) != L)
            return xl_fail(XHAL_ERROR_CORRUPT_DATA, "llama: %s: 'layer_types' must list the %lld layers", path,
                           (long long)L);
        int64_t l = 0;
        for (const cJSON *e = lt->child; e; e = e->next, l++) {
            const char *t = str_or(e, "?");
            if (strcmp(t, "sliding_attention") == 0)
                c->layer_sliding[l] = 1;
            else if (strcmp(t, "full_attention") != 0)
                return xl_fail(XHAL_ERROR_UNSUPPORTED,
                               "llama: %s: layer_types[%lld] '%s' is not supported (full_attention or "
                               "sliding_attention)",
                               path, (long long)l, t);
        }
    } else if (use && w > 0) {
        /* the rules of transformers 5's config classes when layer_types is absent */
        for (int64_t l = 0; l < L; l++)
            c->layer_sliding[l] = a->moe == XL_MOE_QWEN3   ? 1                             /* Qwen3-MoE: every layer */
                                  : a->moe == XL_MOE_QWEN2 ? ((l + 1) % 2 != 0 && l < mwl) /* Qwen2-MoE */
                                                           : l >= mwl;                     /* Qwen2, Qwen3 */
    }
    int any = 0;
    for (int64_t l = 0; l < L; l++) any |= c->layer_sliding[l];
    /* transformers applies the window only with use_sliding_window (sliding_window is None otherwise) */
    if (any && (!use || w <= 0))
        return xl_fail(XHAL_ERROR_CORRUPT_DATA,
                       "llama: %s: layer_types has sliding_attention layers but use_sliding_window is false or "
                       "sliding_window is null",
                       path);
    c->sliding_window = any ? w : 0;
    return XHAL_OK;
}

/* Mixture of experts: sizes, routing normalization and which layers route. */
static xhal_status parse_moe(const char *path, const cJSON *root, const xl_arch *a, xllama_config *c)
{
    xhal_status st;
    const int64_t L = c->num_layers;
    if (a->moe == XL_MOE_NONE) return XHAL_OK;
    c->moe = XLLAMA_MOE_SOFTMAX_TOPK;
    if (a->moe == XL_MOE_MIXTRAL) {
        if ((st = get_int(path, root, "num_local_experts", 8, &c->num_experts)) ||
            (st = get_int(path, root, "num_experts_per_tok", 2, &c->experts_per_tok)))
            return st;
        c->moe_intermediate_size = c->intermediate_size;
        c->norm_topk_prob = 1;
        for (int64_t l = 0; l < L; l++) c->layer_moe[l] = 1;
    } else {
        int64_t step = 1;
        const int q2 = a->moe == XL_MOE_QWEN2;
        /* Qwen3-MoE: transformers 5 writes num_local_experts (num_experts is its alias) */
        const char *ne =
            !q2 && !cJSON_GetObjectItemCaseSensitive(root, "num_experts") ? "num_local_experts" : "num_experts";
        if (!q2 && cJSON_GetObjectItemCaseSensitive(root, "num_experts") &&
            cJSON_GetObjectItemCaseSensitive(root, "num_local_experts"))
            return xl_fail(XHAL_ERROR_CORRUPT_DATA, "llama: %s: both num_experts and num_local_experts are set", path);
        if ((st = get_int(path, root, ne, q2 ? 60 : 128, &c->num_experts)) ||
            (st = get_int(path, root, "num_experts_per_tok", q2 ? 4 : 8, &c->experts_per_tok)) ||
            (st = get_int(path, root, "moe_intermediate_size", q2 ? 1408 : 768, &c->moe_intermediate_size)) ||
            (st = get_bool(path, root, "norm_topk_prob", a->norm_topk_default, &c->norm_topk_prob)) ||
            (st = get_int(path, root, "decoder_sparse_step", 1, &step)))
            return st;
        if (q2 &&
            (st = get_int(path, root, "shared_expert_intermediate_size", 5632, &c->shared_expert_intermediate_size)))
            return st;
        if ((st = check_int(path, "decoder_sparse_step", step, XL_MAX_LAYERS))) return st;
        unsigned char only[XLLAMA_MAX_LAYERS];
        memset(only, 0, sizeof only);
        if ((st = get_layer_list(path, root, "mlp_only_layers", L, only))) return st;
        /* transformers: experts where the layer is not in mlp_only_layers and (l + 1) % step == 0 */
        for (int64_t l = 0; l < L; l++) c->layer_moe[l] = !only[l] && c->num_experts > 0 && (l + 1) % step == 0;
        if (q2 &&
            (st = check_int(path, "shared_expert_intermediate_size", c->shared_expert_intermediate_size, XL_MAX_DIM)))
            return st;
    }
    if ((st = check_int(path, a->moe == XL_MOE_MIXTRAL ? "num_local_experts" : "num_experts", c->num_experts, 65536)) ||
        (st = check_int(path, "num_experts_per_tok", c->experts_per_tok, c->num_experts)) ||
        (st = check_int(path, a->moe == XL_MOE_MIXTRAL ? "intermediate_size" : "moe_intermediate_size",
                        c->moe_intermediate_size, XL_MAX_DIM)))
        return st;
    return XHAL_OK;
}

/* RoPE: theta, frequency scaling and partial rotary, from transformers 4's rope_theta /
 * rope_scaling or transformers 5's rope_parameters. Unknown keys of either are refused. */
static xhal_status parse_rope(const char *path, const cJSON *root, const xl_arch *a, xllama_config *c)
{
    xhal_status st;
    c->rope_theta = 10000.0;
    c->rope_type = XLLAMA_ROPE_DEFAULT;
    c->rope_factor = 1.0;
    double prf = a->partial_rotary_default;
    const cJSON *rp = cJSON_GetObjectItemCaseSensitive(root, "rope_parameters");
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
    if (!is_null_or_missing(rp) && !cJSON_IsObject(rp))
        return xl_fail(XHAL_ERROR_CORRUPT_DATA, "llama: %s: rope_parameters must be an object", path);
    if (!is_null_or_missing(rs) && !cJSON_IsObject(rs))
        return xl_fail(XHAL_ERROR_CORRUPT_DATA, "llama: %s: rope_scaling must be an object or null", path);
    if (cJSON_GetObjectItemCaseSensitive(root, "rope_theta") &&
        (st = get_number(path, root, "rope_theta", 10000.0, &c->rope_theta)) != XHAL_OK)
        return st;
    const cJSON *top_prf = cJSON_GetObjectItemCaseSensitive(root, "partial_rotary_factor");
    if (top_prf && (st = get_number(path, root, "partial_rotary_factor", prf, &prf)) != XHAL_OK) return st;

    /* transformers 5 takes a non-null rope_scaling over rope_parameters (PreTrainedConfig's
     * convert_rope_params_to_dict), then fills rope_theta from the top level if absent */
    const cJSON *sc = !is_null_or_missing(rs) ? rs : rp;
    const char *scn = !is_null_or_missing(rs) ? "rope_scaling" : "rope_parameters";
    if (!is_null_or_missing(sc)) {
        static const char *const known[] = {"rope_type",
                                            "type",
                                            "rope_theta",
                                            "factor",
                                            "low_freq_factor",
                                            "high_freq_factor",
                                            "original_max_position_embeddings",
                                            "partial_rotary_factor",
                                            NULL};
        for (const cJSON *e = sc->child; e; e = e->next) {
            int ok = 0;
            for (const char *const *k = known; *k && !ok; k++) ok = strcmp(*k, e->string) == 0;
            if (!ok)
                return xl_fail(XHAL_ERROR_UNSUPPORTED, "llama: %s: %s.%s is not supported by the port", path, scn,
                               e->string);
        }
        const cJSON *rt = cJSON_GetObjectItemCaseSensitive(sc, "rope_type");
        if (!rt) rt = cJSON_GetObjectItemCaseSensitive(sc, "type");
        const char *t = rt ? str_or(rt, "?") : "default";
        if (strcmp(t, "default") == 0)
            c->rope_type = XLLAMA_ROPE_DEFAULT;
        else if (strcmp(t, "linear") == 0)
            c->rope_type = XLLAMA_ROPE_LINEAR;
        else if (strcmp(t, "dynamic") == 0)
            c->rope_type = XLLAMA_ROPE_DYNAMIC;
        else if (strcmp(t, "llama3") == 0)
            c->rope_type = XLLAMA_ROPE_LLAMA3;
        else
            return xl_fail(XHAL_ERROR_UNSUPPORTED,
                           "llama: %s: %s.rope_type '%s' is not supported (default, linear, dynamic, llama3)", path,
                           scn, t);
        if ((st = get_number(path, sc, "rope_theta", c->rope_theta, &c->rope_theta)) != XHAL_OK) return st;
        if (cJSON_GetObjectItemCaseSensitive(sc, "partial_rotary_factor") &&
            (st = get_number(path, sc, "partial_rotary_factor", prf, &prf)) != XHAL_OK)
            return st;
        if (c->rope_type != XLLAMA_ROPE_DEFAULT) {
            if ((st = get_number(path, sc, "factor", NAN, &c->rope_factor)) != XHAL_OK) return st;
            if (!(c->rope_factor >= 1.0 && c->rope_factor <= 1e6))
                return xl_fail(XHAL_ERROR_CORRUPT_DATA, "llama: %s: %s.factor = %.17g is outside [1, 1e6]%s", path, scn,
                               c->rope_factor, isnan(c->rope_factor) ? " (missing)" : "");
            c->rope_original_max_position = c->max_position_embeddings;
            if ((st = get_int(path, sc, "original_max_position_embeddings",
                              c->rope_type == XLLAMA_ROPE_LLAMA3 ? -1 : c->max_position_embeddings,
                              &c->rope_original_max_position)) ||
                (st = check_int(path, "original_max_position_embeddings", c->rope_original_max_position, XL_MAX_DIM)))
                return st;
        }
        if (c->rope_type == XLLAMA_ROPE_LLAMA3) {
            if ((st = get_number(path, sc, "low_freq_factor", NAN, &c->rope_low_freq_factor)) ||
                (st = get_number(path, sc, "high_freq_factor", NAN, &c->rope_high_freq_factor)))
                return st;
            if (!(c->rope_low_freq_factor > 0 && c->rope_high_freq_factor > c->rope_low_freq_factor &&
                  c->rope_high_freq_factor <= 1e6))
                return xl_fail(XHAL_ERROR_CORRUPT_DATA,
                               "llama: %s: %s needs 0 < low_freq_factor (%g) < high_freq_factor (%g) <= 1e6", path, scn,
                               c->rope_low_freq_factor, c->rope_high_freq_factor);
        }
    }
    /* Partial rotary: GLM rotates the first head_dim * factor entries of each head. */
    if (!(prf > 0.0 && prf <= 1.0))
        return xl_fail(XHAL_ERROR_CORRUPT_DATA, "llama: %s: partial_rotary_factor = %.17g is outside (0, 1]", path,
                       prf);
    if (a->partial_rotary_default == 1.0 && prf != 1.0)
        return xl_fail(XHAL_ERROR_UNSUPPORTED, "llama: %s: partial_rotary_factor %g is not supported for %s (only 1)",
                       path, prf, a->architecture);
    c->rotary_dims = (int64_t)(c->head_dim * prf); /* transformers: int(head_dim * factor) */
    if (c->rotary_dims < 2 || c->rotary_dims % 2 != 0)
        return xl_fail(
            XHAL_ERROR_CORRUPT_DATA,
            "llama: %s: head_dim %lld x partial_rotary_factor %g = %lld rotary entries, not an even number >= 2", path,
            (long long)c->head_dim, prf, (long long)c->rotary_dims);
    c->rope_interleaved = a->rope_interleaved;
    return XHAL_OK;
}

static xhal_status parse(const char *path, const cJSON *root, xllama_config *c)
{
    xhal_status st;
    if (!cJSON_IsObject(root)) return xl_fail(XHAL_ERROR_CORRUPT_DATA, "llama: %s is not a JSON object", path);

    /* What model is it? */
    const xl_arch *a = NULL;
    if ((st = pick_arch(path, root, &a)) != XHAL_OK) return st;
    c->family = a->family;
    /* Every key must be one the family's description knows: an unknown one may change the math. */
    for (const cJSON *e = root->child; e; e = e->next)
        if (!xl_arch_knows_key(a, e->string))
            return xl_fail(XHAL_ERROR_UNSUPPORTED,
                           "llama: %s: key '%s' is not known to the port's %s description; it may change the "
                           "math, so the model is refused",
                           path, e->string, a->architecture);

    /* Settings the port does not implement: refused, never ignored. */
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "hidden_act");
    if (act && (!cJSON_IsString(act) || strcmp(act->valuestring, "silu") != 0))
        return xl_fail(XHAL_ERROR_UNSUPPORTED, "llama: %s: hidden_act '%s' is not supported (only 'silu')", path,
                       str_or(act, "?"));
    int flag = 0;
    /* Qwen2.5's configs say use_mrope false; true is Qwen2-VL's multimodal rotary sections */
    if ((st = get_bool(path, root, "use_mrope", 0, &flag)) != XHAL_OK) return st;
    if (flag) return xl_fail(XHAL_ERROR_UNSUPPORTED, "llama: %s: use_mrope true is not supported", path);
    if (a->attention_bias_key) {
        if ((st = get_bool(path, root, "attention_bias", a->attention_bias_default, &flag)) != XHAL_OK) return st;
        c->qkv_bias = flag;
        c->o_bias = flag && a->o_bias_follows;
    }
    if (a->qkv_bias_always) c->qkv_bias = 1;
    if (a->moe == XL_MOE_QWEN2) { /* transformers 5's Qwen2MoeConfig.qkv_bias (default true) */
        if ((st = get_bool(path, root, "qkv_bias", 1, &flag)) != XHAL_OK) return st;
        c->qkv_bias = flag;
    }
    if (a->mlp_bias_key && (st = get_bool(path, root, "mlp_bias", 0, &c->mlp_bias)) != XHAL_OK) return st;
    c->qk_norm = a->qk_norm;
    c->fused_gate_up = a->fused_gate_up;
    c->sandwich_norms = a->sandwich_norms;

    if ((st = get_int(path, root, "hidden_size", -1, &c->hidden_size)) != XHAL_OK ||
        (st = get_int(path, root, "intermediate_size", -1, &c->intermediate_size)) != XHAL_OK ||
        (st = get_int(path, root, "num_hidden_layers", -1, &c->num_layers)) != XHAL_OK ||
        (st = get_int(path, root, "num_attention_heads", -1, &c->num_heads)) != XHAL_OK ||
        (st = get_int(path, root, "vocab_size", -1, &c->vocab_size)) != XHAL_OK ||
        (st = get_int(path, root, "max_position_embeddings", a->max_pos_default, &c->max_position_embeddings)) !=
            XHAL_OK ||
        (st = get_int(path, root, "num_key_value_heads", c->num_heads, &c->num_kv_heads)) != XHAL_OK)
        return st;
    int64_t dflt_hd = c->num_heads > 0 ? c->hidden_size / c->num_heads : 1;
    if (dflt_hd < 1) dflt_hd = 1;
    if ((st = get_int(path, root, "head_dim", dflt_hd, &c->head_dim)) != XHAL_OK) return st;
    if ((st = get_number(path, root, "rms_norm_eps", a->eps_default, &c->rms_norm_eps)) != XHAL_OK) return st;
    if ((st = get_bool(path, root, "tie_word_embeddings", 0, &c->tie_word_embeddings)) != XHAL_OK) return st;

    static const xl_config_keys keys = {
        "hidden_size", "intermediate_size", "num_hidden_layers",       "num_attention_heads", "num_key_value_heads",
        "head_dim",    "vocab_size",        "max_position_embeddings", "rms_norm_eps",        "rope_theta"};
    /* the sizes first: the rest indexes layers and heads */
    c->rope_theta = 10000.0;
    if ((st = xl_config_check(path, c, &keys)) != XHAL_OK) return st;
    if ((st = parse_rope(path, root, a, c)) != XHAL_OK || (st = parse_window(path, root, a, c)) != XHAL_OK ||
        (st = parse_moe(path, root, a, c)) != XHAL_OK)
        return st;
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
