/* xc_vectors.c - external test vectors: DIR/cases.json naming .npy inputs and expected
 * outputs (format: conformance/VECTORS.md). */
#include "xc_conform.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static int err(char *msg, size_t sz, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sz, fmt, ap);
    va_end(ap);
    return -1;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0) { fclose(f); return NULL; }
    long n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0) { fclose(f); return NULL; }
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
    fclose(f);
    if (b) { b[n] = 0; if (len) *len = (size_t)n; }
    return b;
}

static xhal_dtype dtype_named(const char *s)
{
    for (int d = 1; d < XHAL_DTYPE_COUNT_; d++)
        if (!strcmp(s, xhal_dtype_name((xhal_dtype)d))) return (xhal_dtype)d;
    return XHAL_DTYPE_INVALID;
}

static int load_tensor(const char *dir, const cJSON *item, xc_tensor *t, const char *cname, char *msg, size_t sz)
{
    const char *file = NULL, *dt = NULL;
    if (cJSON_IsString(item)) file = item->valuestring;
    else if (cJSON_IsObject(item)) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(item, "file");
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(item, "dtype");
        if (cJSON_IsString(f)) file = f->valuestring;
        if (cJSON_IsString(d)) dt = d->valuestring;
    }
    if (!file || strstr(file, "..") || file[0] == '/') return err(msg, sz, "case %s: a tensor entry is not a file name inside the folder", cname);
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    char m2[300];
    if (xc_npy_read(path, dt && !strcmp(dt, "bf16"), t, m2, sizeof(m2)) != 0) return err(msg, sz, "case %s: %s", cname, m2);
    if (dt) {
        xhal_dtype want = dtype_named(dt);
        if (want != t->dtype) { xc_tensor_free(t); return err(msg, sz, "case %s: %s holds %s, cases.json says %s", cname, file, xhal_dtype_name(t->dtype), dt); }
    }
    return 0;
}

static double num(const cJSON *attrs, const char *key, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(attrs, key);
    if (cJSON_IsNumber(v)) return v->valuedouble;
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v) ? 1 : 0;
    if (cJSON_IsString(v)) {
        if (!strcmp(v->valuestring, "nan")) return NAN;
        if (!strcmp(v->valuestring, "inf")) return INFINITY;
        if (!strcmp(v->valuestring, "-inf")) return -INFINITY;
        if (!strcmp(v->valuestring, "half")) return XHAL_ROPE_HALF;
        if (!strcmp(v->valuestring, "interleaved")) return XHAL_ROPE_INTERLEAVED;
    }
    return dflt;
}

/* An integer attribute: a number that is integral and fits (else *bad names the key). */
static int64_t inum(const cJSON *attrs, const char *key, int64_t dflt, int64_t lo, int64_t hi, const char **bad)
{
    double v = num(attrs, key, (double)dflt);
    if (!(v >= (double)lo && v <= (double)hi) || v != floor(v)) {
        if (!*bad) *bad = key;
        return dflt;
    }
    return (int64_t)v;
}

static xc_tspec spec_of(const xc_tensor *t)
{
    xc_tspec s;
    memset(&s, 0, sizeof(s));
    s.dtype = t->dtype;
    s.ndim = t->ndim;
    memcpy(s.shape, t->shape, sizeof(s.shape));
    for (int i = 0; i < XHAL_MAX_DIMS; i++) s.perm[i] = i;
    return s;
}

/* Free the data a case loaded (given_in is calloc'd with n_alloc_in entries). */
static void free_given(xc_case *c)
{
    if (c->given_in) {
        for (int k = 0; k < c->n_alloc_in; k++) xc_tensor_free(&c->given_in[k]);
        free(c->given_in);
    }
    if (c->given_init) { xc_tensor_free(c->given_init); free(c->given_init); }
    if (c->given_expect) { xc_tensor_free(c->given_expect); free(c->given_expect); }
    memset(c, 0, sizeof(*c));
}

static int load_case(const char *dir, const cJSON *jc, xc_case *c, char *msg, size_t sz)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->suite, sizeof(c->suite), "vectors");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(jc, "name");
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(jc, "op");
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(jc, "dtype");
    const cJSON *ins = cJSON_GetObjectItemCaseSensitive(jc, "inputs");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(jc, "expected");
    const cJSON *init = cJSON_GetObjectItemCaseSensitive(jc, "init");
    const cJSON *odt = cJSON_GetObjectItemCaseSensitive(jc, "out_dtype");
    const cJSON *attrs = cJSON_GetObjectItemCaseSensitive(jc, "attrs");
    if (!cJSON_IsString(name) || !cJSON_IsString(op) || !cJSON_IsString(dt) || !exp)
        return err(msg, sz, "a case lacks name, op, dtype or expected");
    snprintf(c->name, sizeof(c->name), "vectors/%s", name->valuestring);
    if (xhal_op_from_name(op->valuestring, &c->op) != XHAL_OK) return err(msg, sz, "case %s: unknown op '%s'", name->valuestring, op->valuestring);
    c->dtype = dtype_named(dt->valuestring);
    if (c->dtype == XHAL_DTYPE_INVALID) return err(msg, sz, "case %s: unknown dtype '%s'", name->valuestring, dt->valuestring);
    int n_in = ins ? cJSON_GetArraySize(ins) : 0;
    if (ins && !cJSON_IsArray(ins)) return err(msg, sz, "case %s: inputs is not a list", name->valuestring);
    if (n_in > XC_MAX_IN) return err(msg, sz, "case %s: more than %d inputs", name->valuestring, XC_MAX_IN);
    c->given_in = calloc((size_t)(n_in > 0 ? n_in : 1), sizeof(xc_tensor));
    c->n_alloc_in = n_in > 0 ? n_in : 1;
    c->given_expect = calloc(1, sizeof(xc_tensor));
    if (!c->given_in || !c->given_expect) return err(msg, sz, "out of memory");
    for (int i = 0; i < n_in; i++) {
        if (load_tensor(dir, cJSON_GetArrayItem(ins, i), &c->given_in[i], name->valuestring, msg, sz) != 0) return -1;
        c->n_in = i + 1;
        c->in[i] = spec_of(&c->given_in[i]);
    }
    if (load_tensor(dir, exp, c->given_expect, name->valuestring, msg, sz) != 0) return -1;
    if (init) {
        c->given_init = calloc(1, sizeof(xc_tensor));
        if (!c->given_init) return err(msg, sz, "out of memory");
        if (load_tensor(dir, init, c->given_init, name->valuestring, msg, sz) != 0) return -1;
    }
    c->out = spec_of(c->given_expect);
    c->out.dtype = c->dtype;
    if (cJSON_IsString(odt)) {
        c->out.dtype = dtype_named(odt->valuestring);
        if (c->out.dtype == XHAL_DTYPE_INVALID) return err(msg, sz, "case %s: unknown out_dtype", name->valuestring);
    } else if (c->op == XHAL_OP_ARGMAX) {
        c->out.dtype = XHAL_DTYPE_I64;
    }
    xc_attrs *a = &c->at;
    const char *bad = NULL;
    a->axis = (int)inum(attrs, "axis", 0, -64, 64, &bad);
    a->keepdims = (int)inum(attrs, "keepdims", 0, -64, 64, &bad);
    a->alpha = num(attrs, "alpha", 1.0);
    a->beta = num(attrs, "beta", 0.0);
    a->eps = num(attrs, "eps", 1e-5);
    a->scale = num(attrs, "scale", 0.0);
    a->value = num(attrs, "value", 0.0);
    a->theta = num(attrs, "theta", 10000.0);
    a->causal = (int)inum(attrs, "causal", 0, -64, 64, &bad);
    a->trans_a = (int)inum(attrs, "trans_a", 0, -64, 64, &bad);
    a->trans_b = (int)inum(attrs, "trans_b", 0, -64, 64, &bad);
    a->pos_offset = inum(attrs, "pos_offset", 0, 0, (int64_t)1 << 52, &bad);
    a->rotary_dims = (int)inum(attrs, "rotary_dims", 0, 0, 1 << 20, &bad);
    a->rope_layout = (int)inum(attrs, "layout", 0, -64, 64, &bad);
    a->seq_axis = (int)inum(attrs, "seq_axis", 0, -64, 64, &bad);
    if (c->op == XHAL_OP_RMS_NORM) a->has_weight = (int)inum(attrs, "has_weight", n_in >= 2, 0, 1, &bad);
    if (c->op == XHAL_OP_LAYER_NORM) {
        a->has_weight = (int)inum(attrs, "has_weight", n_in >= 2, 0, 1, &bad);
        a->has_bias = (int)inum(attrs, "has_bias", n_in >= 3, 0, 1, &bad);
        if (1 + a->has_weight + a->has_bias != n_in) return err(msg, sz, "case %s: has_weight/has_bias disagree with %d inputs", name->valuestring, n_in);
    }
    if (c->op == XHAL_OP_ATTENTION) a->has_mask = n_in >= 4;
    if (bad) return err(msg, sz, "case %s: attribute %s is not an integer in range", name->valuestring, bad);
    /* the op's own number of inputs (a case with too few would index missing tensors) */
    int lo = 1, hi = 1;
    if (c->op == XHAL_OP_FILL) lo = hi = 0;
    else if ((c->op >= XHAL_OP_ADD && c->op <= XHAL_OP_MINIMUM) || c->op == XHAL_OP_MATMUL || c->op == XHAL_OP_GATHER)
        lo = hi = 2;
    else if (c->op == XHAL_OP_RMS_NORM) hi = 2;
    else if (c->op == XHAL_OP_LAYER_NORM) hi = 3;
    else if (c->op == XHAL_OP_ATTENTION) { lo = 3; hi = 4; }
    else if (c->op == XHAL_OP_CONCAT) hi = XC_MAX_IN;
    if (n_in < lo || n_in > hi)
        return err(msg, sz, "case %s: op %s takes %d to %d inputs, the case gives %d", name->valuestring,
                   xhal_op_name(c->op), lo, hi, n_in);
    c->out_init = c->given_init ? XC_INIT_RANDOM : XC_INIT_NAN;
    c->nan_sign = (int)inum(attrs, "nan_sign", 0, -64, 64, &bad);
    if (bad) return err(msg, sz, "case %s: attribute %s is not an integer in range", name->valuestring, bad);
    if (c->given_expect->n != xc_numel(c->out.ndim, c->out.shape)) return err(msg, sz, "case %s: expected has a bad size", name->valuestring);
    return 0;
}

int xc_vectors_load(const char *dir, xc_case_list *list, char *msg, size_t msgsz)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/cases.json", dir);
    char *text = slurp(path, NULL);
    if (!text) return err(msg, msgsz, "%s: cannot read", path);
    cJSON *root = cJSON_Parse(text);
    if (!root) {
        /* cJSON's error pointer points into text: report it before freeing text */
        const char *near = cJSON_GetErrorPtr();
        err(msg, msgsz, "%s: not valid JSON (near '%.20s')", path, near ? near : "");
        free(text);
        return -1;
    }
    free(text);
    int rc = -1;
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "version");
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(root, "cases");
    if (!cJSON_IsNumber(ver) || ver->valueint != 1) { err(msg, msgsz, "%s: \"version\" must be 1", path); goto out; }
    if (!cJSON_IsArray(cases)) { err(msg, msgsz, "%s: \"cases\" must be a list", path); goto out; }
    const cJSON *jc;
    cJSON_ArrayForEach(jc, cases) {
        xc_case c;
        char m2[400];
        if (load_case(dir, jc, &c, m2, sizeof(m2)) != 0) {
            err(msg, msgsz, "%s: %s", path, m2);
            free_given(&c);
            goto out;
        }
        if (xc_case_list_push(list, &c) != 0) { free_given(&c); err(msg, msgsz, "out of memory"); goto out; }
    }
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

int xc_vector_selfcheck(const xc_case *c, xc_result *r)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->suite, sizeof(r->suite), "vectors");
    snprintf(r->name, sizeof(r->name), "%s", c->name);
    snprintf(r->op, sizeof(r->op), "%s", xhal_op_name(c->op));
    snprintf(r->dtype, sizeof(r->dtype), "%s", xhal_dtype_name(c->dtype));
    r->outcome = XC_FAIL;
    int64_t n = xc_numel(c->out.ndim, c->out.shape), R = 1;
    r->numel = n;
    xc_tensor in[XC_MAX_IN], init;
    memset(in, 0, sizeof(in));
    double *ref = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    double *mag = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    double *want = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    char emsg[256];
    if (!ref || !mag || !want || xc_case_inputs(c, 0, in, &init) != 0) {
        snprintf(r->message, sizeof(r->message), "out of memory");
    } else if (xc_ref_compute(c, in, &init, ref, mag, &R, emsg, sizeof(emsg)) != 0) {
        snprintf(r->message, sizeof(r->message), "reference: %s", emsg);
    } else {
        for (int64_t i = 0; i < n; i++) {
            ref[i] = xc_round_to(c->out.dtype, ref[i]);
            want[i] = xc_round_to(c->out.dtype, c->given_expect->v[i]);
        }
        r->tol = xc_tolerance(c->op, c->out.dtype, R);
        xc_cmp cmp;
        xc_compare(want, ref, mag, n, r->tol, c->nan_sign, &cmp);
        r->has_figures = 1;
        r->max_abs = cmp.max_abs;
        r->max_rel = cmp.max_rel;
        r->nmse = cmp.nmse;
        r->worst = cmp.worst;
        if (cmp.pass) r->outcome = XC_PASS;
        else snprintf(r->message, sizeof(r->message), "%s: expected output disagrees with the f64 reference: %s", c->name, cmp.why);
    }
    for (int i = 0; i < c->n_in; i++) xc_tensor_free(&in[i]);
    xc_tensor_free(&init);
    free(ref);
    free(mag);
    free(want);
    return r->outcome == XC_PASS ? 0 : -1;
}
