/* xc_vectors.c - external test vectors: DIR/cases.json naming .npy inputs and expected
 * outputs (format: conformance/VECTORS.md). */
#define _POSIX_C_SOURCE 200809L /* xhal_file.h: open flags, fdopen */
#include "xc_conform.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "xhal/plugin/xhal_file.h"

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
    FILE *f = xhal_fopen_regular(path, NULL, 0); /* a FIFO would block fopen() */
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return NULL;
    }
    long n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) {
        b[n] = 0;
        if (len) *len = (size_t)n;
    }
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
    if (cJSON_IsString(item))
        file = item->valuestring;
    else if (cJSON_IsObject(item)) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(item, "file");
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(item, "dtype");
        if (cJSON_IsString(f)) file = f->valuestring;
        if (cJSON_IsString(d)) dt = d->valuestring;
    }
    if (!file || strstr(file, "..") || file[0] == '/')
        return err(msg, sz, "case %s: a tensor entry is not a file name inside the folder", cname);
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    char m2[300];
    if (xc_npy_read(path, dt && !strcmp(dt, "bf16"), t, m2, sizeof(m2)) != 0)
        return err(msg, sz, "case %s: %s", cname, m2);
    if (dt) {
        xhal_dtype want = dtype_named(dt);
        if (want != t->dtype) {
            xc_tensor_free(t);
            return err(msg, sz, "case %s: %s holds %s, cases.json says %s", cname, file, xhal_dtype_name(t->dtype), dt);
        }
    }
    return 0;
}

/* Parse one attribute value of kind k (XC_AK_*). 0, or -1 with why set. */
static int attr_value(const cJSON *v, int k, double *out, const char **why)
{
    switch (k) {
        case XC_AK_VALUE:
            if (cJSON_IsString(v)) {
                if (!strcmp(v->valuestring, "nan")) {
                    *out = NAN;
                    return 0;
                }
                if (!strcmp(v->valuestring, "inf")) {
                    *out = INFINITY;
                    return 0;
                }
                if (!strcmp(v->valuestring, "-inf")) {
                    *out = -INFINITY;
                    return 0;
                }
                *why = "is a string other than \"nan\", \"inf\", \"-inf\"";
                return -1;
            }
            /* fall through */
        case XC_AK_NUM:
            if (!cJSON_IsNumber(v)) {
                *why = "is not a number";
                return -1;
            }
            *out = v->valuedouble;
            if (!isfinite(*out)) {
                *why = "is not finite";
                return -1;
            }
            return 0;
        case XC_AK_INT:
            if (!cJSON_IsNumber(v)) {
                *why = "is not a number";
                return -1;
            }
            if (v->valuedouble != floor(v->valuedouble) || fabs(v->valuedouble) > 4503599627370496.0) {
                *why = "is not an integer in range";
                return -1;
            }
            *out = v->valuedouble;
            return 0;
        case XC_AK_BOOL:
            if (cJSON_IsBool(v)) {
                *out = cJSON_IsTrue(v) ? 1 : 0;
                return 0;
            }
            if (cJSON_IsNumber(v) && (v->valuedouble == 0 || v->valuedouble == 1)) {
                *out = v->valuedouble;
                return 0;
            }
            *why = "is not true/false, 0 or 1";
            return -1;
        case XC_AK_ROPE_LAYOUT:
            if (cJSON_IsString(v)) {
                if (!strcmp(v->valuestring, "half")) {
                    *out = XHAL_ROPE_HALF;
                    return 0;
                }
                if (!strcmp(v->valuestring, "interleaved")) {
                    *out = XHAL_ROPE_INTERLEAVED;
                    return 0;
                }
                *why = "is not \"half\" or \"interleaved\"";
                return -1;
            }
            if (cJSON_IsNumber(v) && (v->valuedouble == XHAL_ROPE_HALF || v->valuedouble == XHAL_ROPE_INTERLEAVED)) {
                *out = v->valuedouble;
                return 0;
            }
            *why = "is not \"half\", \"interleaved\", 0 or 1";
            return -1;
        default: *why = "has an unknown kind"; return -1;
    }
}

/* Fill c->at from attrs (NULL: defaults): every key must be an attribute of c's op, of the
 * right JSON type. has_weight/has_bias default from the number of inputs. */
static int parse_attrs(const cJSON *attrs, xc_case *c, int n_in, const char *cname, char *msg, size_t sz)
{
    xc_attrs *a = &c->at;
    memset(a, 0, sizeof(*a));
    a->alpha = 1.0;
    a->eps = 1e-5;
    a->theta = 10000.0;
    if (c->op == XHAL_OP_RMS_NORM || c->op == XHAL_OP_LAYER_NORM) a->has_weight = n_in >= 2;
    if (c->op == XHAL_OP_LAYER_NORM) a->has_bias = n_in >= 3;
    if (c->op == XHAL_OP_ATTENTION) a->has_mask = n_in >= 4;
    if (c->op == XHAL_OP_ROPE) { /* x, positions, inv_freq; has_* say which one a second input is */
        a->has_positions = n_in >= 2;
        a->has_inv_freq = n_in >= 3;
    }
    if (!attrs) return 0;
    if (!cJSON_IsObject(attrs)) return err(msg, sz, "case %s: attrs is not an object", cname);
    int nt;
    const xc_attr_info *tab = xc_attr_table(&nt);
    const cJSON *v;
    cJSON_ArrayForEach(v, attrs)
    {
        const char *key = v->string ? v->string : "";
        const char *why = NULL;
        double d = 0;
        if (!strcmp(key, "nan_sign")) {
            if (attr_value(v, XC_AK_BOOL, &d, &why) != 0)
                return err(msg, sz, "case %s: attribute nan_sign %s", cname, why);
            c->nan_sign = (int)d;
            continue;
        }
        int k = 0;
        while (k < nt && strcmp(tab[k].name, key)) k++;
        if (k == nt) return err(msg, sz, "case %s: unknown attribute '%.40s'", cname, key);
        if (!xc_attr_applies(key, c->op))
            return err(msg, sz, "case %s: attribute %s does not apply to op %s", cname, key, xhal_op_name(c->op));
        if (attr_value(v, tab[k].kind, &d, &why) != 0) return err(msg, sz, "case %s: attribute %s %s", cname, key, why);
        if (tab[k].ctype == 'i' && !(d >= -2147483648.0 && d <= 2147483647.0))
            return err(msg, sz, "case %s: attribute %s is out of range", cname, key);
        xc_attr_set(a, &tab[k], d);
    }
    return 0;
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
    if (c->given_init) {
        xc_tensor_free(c->given_init);
        free(c->given_init);
    }
    if (c->given_expect) {
        xc_tensor_free(c->given_expect);
        free(c->given_expect);
    }
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
    if (xhal_op_from_name(op->valuestring, &c->op) != XHAL_OK)
        return err(msg, sz, "case %s: unknown op '%s'", name->valuestring, op->valuestring);
    if (xhal_op_family_of((int)c->op) == XHAL_OPF_TOPK)
        return err(msg, sz, "case %s: op %s has two outputs; vectors hold one expected tensor (use the built-in cases)",
                   name->valuestring, op->valuestring);
    c->dtype = dtype_named(dt->valuestring);
    if (c->dtype == XHAL_DTYPE_INVALID)
        return err(msg, sz, "case %s: unknown dtype '%s'", name->valuestring, dt->valuestring);
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
    if (odt && !cJSON_IsString(odt)) return err(msg, sz, "case %s: out_dtype is not a string", name->valuestring);
    if (cJSON_IsString(odt)) {
        c->out.dtype = dtype_named(odt->valuestring);
        if (c->out.dtype == XHAL_DTYPE_INVALID) return err(msg, sz, "case %s: unknown out_dtype", name->valuestring);
    } else if (c->op == XHAL_OP_ARGMAX) {
        c->out.dtype = XHAL_DTYPE_I64;
    }
    if (parse_attrs(attrs, c, n_in, name->valuestring, msg, sz) != 0) return -1;
    c->out_init = c->given_init ? XC_INIT_RANDOM : XC_INIT_NAN;
    /* the op's shape and attribute rules, before anything computes with the case */
    return xc_case_validate(c, msg, sz);
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
    if (!cJSON_IsNumber(ver) || ver->valuedouble != 1) {
        err(msg, msgsz, "%s: \"version\" must be 1", path);
        goto out;
    }
    if (!cJSON_IsArray(cases)) {
        err(msg, msgsz, "%s: \"cases\" must be a list", path);
        goto out;
    }
    const cJSON *jc;
    int first = list->n;
    cJSON_ArrayForEach(jc, cases)
    {
        xc_case c;
        char m2[400];
        if (load_case(dir, jc, &c, m2, sizeof(m2)) != 0) {
            err(msg, msgsz, "%s: %s", path, m2);
            free_given(&c);
            goto out;
        }
        for (int i = first; i < list->n; i++)
            if (!strcmp(list->cases[i].name, c.name)) {
                err(msg, msgsz, "%s: case name %s appears twice (names are unique)", path, c.name + 8);
                free_given(&c);
                goto out;
            }
        if (xc_case_list_push(list, &c) != 0) {
            free_given(&c);
            err(msg, msgsz, "out of memory");
            goto out;
        }
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
        if (cmp.pass)
            r->outcome = XC_PASS;
        else
            snprintf(r->message, sizeof(r->message), "%s: expected output disagrees with the f64 reference: %s",
                     c->name, cmp.why);
    }
    for (int i = 0; i < c->n_in; i++) xc_tensor_free(&in[i]);
    xc_tensor_free(&init);
    free(ref);
    free(mag);
    free(want);
    return r->outcome == XC_PASS ? 0 : -1;
}
