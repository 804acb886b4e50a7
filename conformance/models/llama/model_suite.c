/* model_suite.c - xc_model_suite_run: the Llama port against transformers' own logits
 * (conformance/MODELS.md says what is compared and with which tolerances). */
#define _POSIX_C_SOURCE 200809L
#include "model_suite.h"
#include "llama_internal.h"
#include "npy.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "xhal/plugin/xhal_file.h"

#ifndef XLLAMA_REF_DIR
#define XLLAMA_REF_DIR "conformance/models/llama/reference"
#endif

/* Tolerances per compute dtype (the references are float32 logits of the stored weights, so
 * an f32 run of half-precision weights meets the f32 bound). Keep in step with
 * conformance/MODELS.md. */
typedef struct xl_tol {
    const char *dtype;
    double max_abs; /* the bound on |logit - reference| is max(max_abs, rel x the largest |reference logit|) */
    double rel;     /* half-precision rounding grows with the logits' size (tied embeddings reach 35) */
    double cosine;
} xl_tol;
static const xl_tol tolerances[] = {
    {"f32", 1e-4, 0.0, 0.999999},
    {"bf16", 0.25, 0.03, 0.999},
    {"f16", 0.25, 0.004, 0.9995},
};

static const xl_tol *tol_for(const char *dtype)
{
    for (size_t i = 0; i < sizeof tolerances / sizeof tolerances[0]; i++)
        if (strcmp(tolerances[i].dtype, dtype) == 0) return &tolerances[i];
    return NULL;
}

static char *slurp(const char *path)
{
    FILE *fp = xhal_fopen_regular(path, NULL, 0); /* a FIFO would block fopen() */
    if (!fp) return NULL;
    char *buf = NULL;
    if (fseek(fp, 0, SEEK_END) == 0) {
        long n = ftell(fp);
        if (n >= 0 && n < (1 << 20) && fseek(fp, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1))) {
            if (fread(buf, 1, (size_t)n, fp) != (size_t)n) {
                free(buf);
                buf = NULL;
            } else {
                buf[n] = '\0';
            }
        }
    }
    fclose(fp);
    return buf;
}

static int read_int_array(const cJSON *a, int32_t **out, int64_t *n)
{
    if (!cJSON_IsArray(a)) return 0;
    int64_t k = cJSON_GetArraySize(a);
    int32_t *v = malloc((size_t)(k ? k : 1) * sizeof *v);
    if (!v) return 0;
    int64_t i = 0;
    for (const cJSON *e = a->child; e; e = e->next, i++) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble > 2147483647.0) {
            free(v);
            return 0;
        }
        v[i] = (int32_t)e->valuedouble;
    }
    *out = v;
    *n = k;
    return 1;
}

typedef struct xl_cmp {
    double max_abs;
    int64_t max_abs_row, max_abs_col;
    double min_cos;
    int64_t min_cos_row;
    int64_t top1_ok;
    int64_t first_top1_miss;
} xl_cmp;

static void compare(const float *got, const float *ref, int64_t rows, int64_t V, xl_cmp *c)
{
    c->max_abs = 0;
    c->max_abs_row = c->max_abs_col = 0;
    c->min_cos = 1.0;
    c->min_cos_row = 0;
    c->top1_ok = 0;
    c->first_top1_miss = -1;
    for (int64_t r = 0; r < rows; r++) {
        const float *g = got + r * V, *e = ref + r * V;
        double dot = 0, gg = 0, ee = 0;
        int64_t ag = 0, ae = 0;
        for (int64_t j = 0; j < V; j++) {
            double d = fabs((double)g[j] - (double)e[j]);
            if (!(d <= c->max_abs)) { /* NaN counts as the worst error */
                c->max_abs = isnan(d) ? INFINITY : d;
                c->max_abs_row = r;
                c->max_abs_col = j;
            }
            dot += (double)g[j] * e[j];
            gg += (double)g[j] * g[j];
            ee += (double)e[j] * e[j];
            if (g[j] > g[ag]) ag = j;
            if (e[j] > e[ae]) ae = j;
        }
        double cs = (gg > 0 && ee > 0) ? dot / sqrt(gg * ee) : (gg == ee ? 1.0 : 0.0);
        if (!(cs >= c->min_cos)) {
            c->min_cos = isnan(cs) ? -1.0 : cs;
            c->min_cos_row = r;
        }
        if (ag == ae)
            c->top1_ok++;
        else if (c->first_top1_miss < 0)
            c->first_top1_miss = r;
    }
}

static void add_msg(xc_model_result *r, const char *fmt, ...) XL_PRINTF(2, 3);
static void add_msg(xc_model_result *r, const char *fmt, ...)
{
    size_t k = strlen(r->message);
    if (k + 3 >= sizeof r->message) return;
    if (k) {
        strcat(r->message, "; ");
        k += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message + k, sizeof r->message - k, fmt, ap);
    va_end(ap);
}

/* The compute dtypes reference.json asks for ("compute_dtypes": ["f32", "bf16"]); none: the
 * weights' dtype only (out[0] = XHAL_DTYPE_INVALID). Returns how many (at least 1). */
static int ref_compute_dtypes(const char *dir, xhal_dtype *out, int max)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/reference.json", dir);
    char *text = slurp(path);
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    free(text);
    const cJSON *cd = cJSON_GetObjectItemCaseSensitive(j, "compute_dtypes");
    int n = 0;
    if (cJSON_IsArray(cd))
        for (const cJSON *e = cd->child; e && n < max; e = e->next) {
            xhal_dtype dt = XHAL_DTYPE_INVALID;
            /* an unknown name runs as the weights' dtype and the result says so (run_one) */
            if (cJSON_IsString(e) && xhal_dtype_from_name(e->valuestring, &dt) != XHAL_OK) dt = XHAL_DTYPE_END_;
            out[n++] = dt;
        }
    cJSON_Delete(j);
    if (n == 0) out[n++] = XHAL_DTYPE_INVALID;
    return n;
}

/* Run one reference folder with the arithmetic in cdt (XHAL_DTYPE_INVALID: the weights'
 * dtype); fills r. */
static void run_one(xhal_device *dev, const char *dir, const char *name, xhal_dtype cdt, xc_model_result *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->model, sizeof r->model, "%s", name);
    r->status = -1;
    char path[4096];
    int32_t *prompt = NULL, *expect = NULL, *got = NULL;
    int64_t n_prompt = 0, n_gen = 0;
    float *ref_p = NULL, *ref_g = NULL, *out_p = NULL, *out_g = NULL;
    xllama_model *m = NULL;
    cJSON *j = NULL;
    char err[512];

    snprintf(path, sizeof path, "%s/reference.json", dir);
    char *text = slurp(path);
    j = text ? cJSON_Parse(text) : NULL;
    free(text);
    const cJSON *wd = cJSON_GetObjectItemCaseSensitive(j, "weight_dtype");
    const cJSON *fp = cJSON_GetObjectItemCaseSensitive(j, "logits_prompt");
    const cJSON *fg = cJSON_GetObjectItemCaseSensitive(j, "logits_generated");
    if (!j || !cJSON_IsString(wd) || !cJSON_IsString(fp) || !cJSON_IsString(fg) ||
        !read_int_array(cJSON_GetObjectItemCaseSensitive(j, "prompt"), &prompt, &n_prompt) ||
        !read_int_array(cJSON_GetObjectItemCaseSensitive(j, "generated"), &expect, &n_gen) || n_prompt < 1) {
        add_msg(r,
                "%s is missing or malformed (needs weight_dtype, prompt, generated, "
                "logits_prompt, logits_generated)",
                path);
        goto out;
    }
    snprintf(r->weight_dtype, sizeof r->weight_dtype, "%s", wd->valuestring);
    snprintf(r->compute_dtype, sizeof r->compute_dtype, "%s",
             cdt == XHAL_DTYPE_INVALID ? wd->valuestring : xhal_dtype_name(cdt));
    if (cdt == XHAL_DTYPE_END_) {
        add_msg(r, "%s/reference.json: compute_dtypes holds a name that is not a dtype", dir);
        goto out;
    }
    const xl_tol *tol = tol_for(r->compute_dtype);
    if (!tol) {
        add_msg(r, "no tolerance for compute dtype '%s'", r->compute_dtype);
        goto out;
    }
    r->tol_cosine = tol->cosine;

    int nd;
    int64_t shp[XC_NPY_MAX_DIMS], shg[XC_NPY_MAX_DIMS];
    snprintf(path, sizeof path, "%s/%s", dir, fp->valuestring);
    if (xc_npy_read_f32(path, &ref_p, &nd, shp, err, sizeof err) != XHAL_OK || nd != 2 || shp[0] != n_prompt) {
        add_msg(r, "reference logits: %s", ref_p ? "shape is not [prompt, vocab]" : err);
        goto out;
    }
    snprintf(path, sizeof path, "%s/%s", dir, fg->valuestring);
    if (xc_npy_read_f32(path, &ref_g, &nd, shg, err, sizeof err) != XHAL_OK || nd != 2 || shg[0] != n_gen ||
        shg[1] != shp[1]) {
        add_msg(r, "reference logits: %s", ref_g ? "shape is not [generated, vocab]" : err);
        goto out;
    }

    {
        double big = 0;
        for (int64_t i = 0; i < n_prompt * shp[1]; i++) big = fmax(big, fabs((double)ref_p[i]));
        for (int64_t i = 0; i < n_gen * shg[1]; i++) big = fmax(big, fabs((double)ref_g[i]));
        r->tol_max_abs = fmax(tol->max_abs, tol->rel * big);
    }
    xllama_options o;
    xllama_options_init(&o);
    o.max_seq = n_prompt + n_gen;
    o.compute_dtype = cdt;
    if (xllama_load(dev, dir, &o, &m) != XHAL_OK) {
        add_msg(r, "%s", xllama_last_error());
        goto out;
    }
    const int64_t V = xllama_get_config(m)->vocab_size;
    if (V != shp[1]) {
        add_msg(r, "reference logits have %lld columns, the model's vocab is %lld", (long long)shp[1], (long long)V);
        goto out;
    }
    out_p = malloc((size_t)(n_prompt * V) * sizeof(float));
    out_g = malloc((size_t)((n_gen ? n_gen : 1) * V) * sizeof(float));
    got = malloc((size_t)(n_gen ? n_gen : 1) * sizeof(int32_t));
    if (!out_p || !out_g || !got) {
        add_msg(r, "out of host memory");
        goto out;
    }
    xllama_timing t;
    if (xllama_generate(m, prompt, n_prompt, n_gen, got, out_p, out_g, &t) != XHAL_OK) {
        add_msg(r, "%s", xllama_last_error());
        goto out;
    }
    /* A second, timed run: the first one pays for warm-up (allocation, kernel compiles). */
    xllama_timing t2;
    if (xllama_generate(m, prompt, n_prompt, n_gen, got, NULL, NULL, &t2) == XHAL_OK) t = t2;
    r->prefill_tok_s = t.prefill_s > 0 ? (double)t.n_prefill / t.prefill_s : 0;
    r->decode_tok_s = t.decode_s > 0 && t.n_decode > 0 ? (double)t.n_decode / t.decode_s : 0;

    xl_cmp cp, cg;
    compare(out_p, ref_p, n_prompt, V, &cp);
    compare(out_g, ref_g, n_gen, V, &cg);
    r->n_positions = (int)n_prompt;
    r->max_abs_err = cp.max_abs;
    r->min_cosine = cp.min_cos;
    r->top1_agreement = (double)cp.top1_ok / (double)n_prompt;
    r->n_generated = (int)n_gen;
    r->greedy_match = 1;
    int64_t first_diff = -1;
    for (int64_t i = 0; i < n_gen; i++)
        if (got[i] != expect[i]) {
            r->greedy_match = 0;
            if (first_diff < 0) first_diff = i;
        }

    int pass = 1;
    if (!(cp.max_abs <= r->tol_max_abs)) {
        pass = 0;
        add_msg(r, "prompt max_abs_err %.3g > tol %.3g (over by %.3g; position %lld, logit %lld)", cp.max_abs,
                r->tol_max_abs, cp.max_abs - r->tol_max_abs, (long long)cp.max_abs_row, (long long)cp.max_abs_col);
    }
    if (!(cp.min_cos >= tol->cosine)) {
        pass = 0;
        add_msg(r, "prompt min cosine %.9f < tol %.9f (short by %.3g; position %lld)", cp.min_cos, tol->cosine,
                tol->cosine - cp.min_cos, (long long)cp.min_cos_row);
    }
    if (cp.top1_ok != n_prompt) {
        pass = 0;
        add_msg(r, "prompt top-1 agrees on %lld of %lld positions (first miss at %lld)", (long long)cp.top1_ok,
                (long long)n_prompt, (long long)cp.first_top1_miss);
    }
    if (n_gen > 0 && !(cg.max_abs <= r->tol_max_abs)) {
        pass = 0;
        add_msg(r, "decode max_abs_err %.3g > tol %.3g (over by %.3g; step %lld, logit %lld)", cg.max_abs,
                r->tol_max_abs, cg.max_abs - r->tol_max_abs, (long long)cg.max_abs_row, (long long)cg.max_abs_col);
    }
    if (n_gen > 0 && !(cg.min_cos >= tol->cosine)) {
        pass = 0;
        add_msg(r, "decode min cosine %.9f < tol %.9f (short by %.3g; step %lld)", cg.min_cos, tol->cosine,
                tol->cosine - cg.min_cos, (long long)cg.min_cos_row);
    }
    if (!r->greedy_match) {
        pass = 0;
        add_msg(r, "greedy tokens differ from step %lld (got %d, expected %d)", (long long)first_diff,
                (int)got[first_diff], (int)expect[first_diff]);
    }
    r->status = pass;
    if (pass)
        snprintf(r->message, sizeof r->message,
                 "max_abs_err %.3g (tol %.3g), min cosine %.9f (tol "
                 "%.9f), decode max_abs_err %.3g, %d/%d greedy tokens",
                 cp.max_abs, r->tol_max_abs, cp.min_cos, tol->cosine, cg.max_abs, (int)n_gen, (int)n_gen);
out:
    xllama_destroy(m);
    cJSON_Delete(j);
    free(prompt);
    free(expect);
    free(got);
    free(ref_p);
    free(ref_g);
    free(out_p);
    free(out_g);
}

const char *xc_model_suite_last_error(void) { return xllama_last_error(); }

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

int xc_model_suite_run(xhal_context *ctx, xhal_device *dev, const char *ref_dir, xc_model_result *out, int max)
{
    (void)ctx;
    if (!ref_dir) ref_dir = XLLAMA_REF_DIR;
    if (!dev || (max > 0 && !out)) {
        xl_fail(XHAL_ERROR_INVALID_ARGUMENT, "model suite: NULL device or output");
        return -1;
    }
    DIR *d = opendir(ref_dir);
    if (!d) {
        xl_fail(XHAL_ERROR_NOT_FOUND, "model suite: cannot read the reference folder '%s'", ref_dir);
        return -1;
    }
    char **names = NULL;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char p[4096];
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s/reference.json", ref_dir, e->d_name);
        if (stat(p, &sb) != 0) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            char **nn = realloc(names, (size_t)cap * sizeof *nn);
            if (!nn) break;
            names = nn;
        }
        size_t len = strlen(e->d_name) + 1;
        if ((names[n] = malloc(len)) == NULL) break;
        memcpy(names[n++], e->d_name, len);
    }
    closedir(d);
    if (n == 0) {
        free(names);
        xl_fail(XHAL_ERROR_NOT_FOUND,
                "model suite: no reference model (a folder with "
                "reference.json) in '%s'",
                ref_dir);
        return -1;
    }
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    int written = 0;
    for (int i = 0; i < n; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", ref_dir, names[i]);
        xhal_dtype cdts[4];
        int nc = ref_compute_dtypes(p, cdts, 4);
        for (int c = 0; c < nc && written < max; c++) run_one(dev, p, names[i], cdts[c], &out[written++]);
        free(names[i]);
    }
    free(names);
    return written;
}
