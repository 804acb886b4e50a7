/* Hostile vectors: every cases.json that breaks its op's shape or attribute rules, or the
 * format's own rules, is refused by xc_vectors_load with the case and the rule named, before
 * any reference or device work; the tool exits 2 and writes no report. Under ASan this also
 * proves none of them reads or writes out of bounds. */
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "xtest.h"
#include "xc_conform.h"

static char tmp[64];

static void npy(const char *dir, const char *name, xhal_dtype dt, int ndim, const int64_t *shape)
{
    xc_tensor t;
    memset(&t, 0, sizeof(t));
    t.dtype = dt;
    t.ndim = ndim;
    for (int i = 0; i < ndim; i++) t.shape[i] = shape[i];
    t.n = xc_numel(ndim, shape);
    t.v = calloc((size_t)(t.n ? t.n : 1), sizeof(double));
    for (int64_t i = 0; i < t.n; i++) t.v[i] = (double)(i % 3);
    char path[256], msg[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    CHECK(xc_npy_write(path, &t, msg, sizeof(msg)) == 0);
    xc_tensor_free(&t);
}

/* Replace the first occurrence of from by to (same length) in file dir/name. */
static void patch(const char *dir, const char *name, const char *from, const char *to)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "r+b");
    if (!f) {
        CHECK(!"open npy");
        return;
    }
    char buf[512];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = 0;
    char *p = NULL;
    for (size_t i = 0; i + strlen(from) <= n && !p; i++)
        if (!memcmp(buf + i, from, strlen(from))) p = buf + i;
    CHECK(p != NULL);
    if (p) {
        memcpy(p, to, strlen(to));
        fseek(f, 0, SEEK_SET);
        fwrite(buf, 1, n, f);
    }
    fclose(f);
}

static const char *mkcase(const char *sub, const char *cases_json)
{
    static char dir[256];
    snprintf(dir, sizeof(dir), "%s/%s", tmp, sub);
    mkdir(dir, 0777);
    int64_t s23[2] = {2, 3}, s3[1] = {3}, s5[1] = {5}, s2[1] = {2}, s4[1] = {4}, s32[2] = {3, 2}, s7[1] = {7};
    int64_t q[4] = {1, 2, 3, 4}, kv[4] = {1, 1, 5, 4}, o_bad[4] = {1, 2, 3, 9};
    npy(dir, "x23.npy", XHAL_DTYPE_F32, 2, s23);
    npy(dir, "x3.npy", XHAL_DTYPE_F32, 1, s3);
    npy(dir, "x2.npy", XHAL_DTYPE_F32, 1, s2);
    npy(dir, "x4.npy", XHAL_DTYPE_F32, 1, s4);
    npy(dir, "x5.npy", XHAL_DTYPE_F32, 1, s5);
    npy(dir, "x7.npy", XHAL_DTYPE_F32, 1, s7);
    npy(dir, "x32.npy", XHAL_DTYPE_F32, 2, s32);
    npy(dir, "i2.npy", XHAL_DTYPE_I64, 1, s2);
    npy(dir, "q.npy", XHAL_DTYPE_F32, 4, q);
    npy(dir, "kv.npy", XHAL_DTYPE_F32, 4, kv);
    npy(dir, "obad.npy", XHAL_DTYPE_F32, 4, o_bad);
    npy(dir, "fortran.npy", XHAL_DTYPE_F32, 2, s23);
    patch(dir, "fortran.npy", "False", "True ");
    npy(dir, "fortran1.npy", XHAL_DTYPE_F32, 2, s23);
    patch(dir, "fortran1.npy", "False", "1    ");
    char path[300];
    snprintf(path, sizeof(path), "%s/cases.json", dir);
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "{\"version\": 1, \"cases\": [%s]}", cases_json);
        fclose(f);
    }
    return dir;
}

#define CASE(op, ins, exp, attrs)                                                                             \
    "{\"name\": \"bad\", \"op\": \"" op "\", \"dtype\": \"f32\", \"inputs\": [" ins "], \"expected\": \"" exp \
    "\"" attrs "}"

static const struct {
    const char *sub, *json, *want;
} H[] = {
    /* shapes that do not fit the op: each would overflow the reference's buffers */
    {"sum_out", CASE("sum", "\"x23.npy\"", "x5.npy", ", \"attrs\": {\"axis\": 1}"),
     "sum: out is [5], the reduction gives [2]"},
    {"gather_out",
     "{\"name\": \"bad\", \"op\": \"gather\", \"dtype\": \"f32\", \"inputs\": [\"x32.npy\", \"i2.npy\"], \"expected\": "
     "\"x3.npy\"}",
     "gather: out is [3]"},
    {"concat_out", CASE("concat", "\"x2.npy\", \"x3.npy\"", "x4.npy", ""), "concat: parts sum to 5"},
    {"attention_out", CASE("attention", "\"q.npy\", \"kv.npy\", \"kv.npy\"", "obad.npy", ""),
     "attention: out [1,2,3,9]"},
    {"add_bcast", CASE("add", "\"x23.npy\", \"x2.npy\"", "x23.npy", ""), "add: b [2] does not broadcast to out [2,3]"},
    {"exp_out", CASE("exp", "\"x3.npy\"", "x5.npy", ""), "exp: x [3] and out [5] differ"},
    {"matmul_k", CASE("matmul", "\"x23.npy\", \"x23.npy\"", "x23.npy", ""), "matmul: K of a is 3 but of b 2"},
    {"norm_w", CASE("rms_norm", "\"x23.npy\", \"x2.npy\"", "x23.npy", ""), "rms_norm: weight must be [3]"},
    {"gather_idx",
     "{\"name\": \"bad\", \"op\": \"gather\", \"dtype\": \"f32\", \"inputs\": [\"x32.npy\", \"x2.npy\"], \"expected\": "
     "\"x23.npy\"}",
     "indices must be i32 or i64"},
    /* attributes of the wrong JSON type or meaning */
    {"eps_string", CASE("rms_norm", "\"x23.npy\"", "x23.npy", ", \"attrs\": {\"eps\": \"abc\"}"),
     "attribute eps is not a number"},
    {"axis_list", CASE("sum", "\"x23.npy\"", "x2.npy", ", \"attrs\": {\"axis\": [1]}"),
     "attribute axis is not a number"},
    {"layout_bogus", CASE("rope", "\"x23.npy\"", "x23.npy", ", \"attrs\": {\"layout\": \"bogus\"}"),
     "attribute layout is not"},
    {"axis_fraction", CASE("sum", "\"x23.npy\"", "x2.npy", ", \"attrs\": {\"axis\": 0.5}"),
     "attribute axis is not an integer"},
    {"causal_2", CASE("softmax", "\"x23.npy\"", "x23.npy", ", \"attrs\": {\"causal\": 2}"),
     "attribute causal is not true/false"},
    {"unknown_attr", CASE("rms_norm", "\"x23.npy\"", "x23.npy", ", \"attrs\": {\"epsilon\": 1e-3}"),
     "unknown attribute 'epsilon'"},
    {"foreign_attr", CASE("add", "\"x23.npy\", \"x23.npy\"", "x23.npy", ", \"attrs\": {\"eps\": 1}"),
     "attribute eps does not apply to op add"},
    {"attrs_list", CASE("add", "\"x23.npy\", \"x23.npy\"", "x23.npy", ", \"attrs\": [1]"), "attrs is not an object"},
    {"eps_negative", CASE("rms_norm", "\"x23.npy\"", "x23.npy", ", \"attrs\": {\"eps\": -1}"),
     "eps -1 must be finite and >= 0"},
    {"axis_range", CASE("sum", "\"x23.npy\"", "x2.npy", ", \"attrs\": {\"axis\": 7}"), "axis 7 out of range"},
    {"rope_rot", CASE("rope", "\"x23.npy\"", "x23.npy", ", \"attrs\": {\"rotary_dims\": 3}"),
     "rotary_dims 3 must be even"},
    {"out_dtype_num", CASE("add", "\"x23.npy\", \"x23.npy\"", "x23.npy", ", \"out_dtype\": 5"),
     "out_dtype is not a string"},
    /* the format's own rules */
    {"fortran_true", CASE("exp", "\"fortran.npy\"", "x23.npy", ""), "fortran_order arrays are not supported"},
    {"fortran_1", CASE("exp", "\"fortran1.npy\"", "x23.npy", ""), "fortran_order must be True or False"},
    {"duplicate", CASE("exp", "\"x3.npy\"", "x3.npy", "") ", " CASE("exp", "\"x3.npy\"", "x3.npy", ""),
     "case name bad appears twice"},
};

static int run_tool(const char *dir)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "'%s' --device cpu:0 --suite vectors --vectors '%s' --report '%s/rep' --quiet > '%s/out.txt' 2>&1",
             XC_TEST_TOOL, dir, dir, dir);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(void)
{
    snprintf(tmp, sizeof(tmp), "/tmp/xc_hostile_XXXXXX");
    CHECK(mkdtemp(tmp) != NULL);
    for (size_t i = 0; i < sizeof(H) / sizeof(H[0]); i++) {
        const char *dir = mkcase(H[i].sub, H[i].json);
        xc_case_list l = {0};
        char msg[512] = "";
        int rc = xc_vectors_load(dir, &l, msg, sizeof(msg));
        int ok = rc == -1 && strstr(msg, H[i].want) != NULL && strstr(msg, "bad") != NULL;
        if (!ok) fprintf(stderr, "  %s: rc %d, message '%s' (want '%s')\n", H[i].sub, rc, msg, H[i].want);
        CHECK(ok);
        xc_case_list_free(&l);
    }
    /* an index outside the table cannot be expressed by a vector (no expected error) */
    {
        const char *dir = mkcase("gather_oob", "{\"name\": \"bad\", \"op\": \"gather\", \"dtype\": \"f32\", "
                                               "\"inputs\": [\"x2.npy\", \"i2.npy\"], \"expected\": \"x2.npy\"}");
        /* table x2 is [2] -> rows of 1 element; indices 0, 1 fit: make the table one row */
        int64_t s1[1] = {1};
        npy(dir, "x2.npy", XHAL_DTYPE_F32, 1, s1);
        int64_t s2[1] = {2};
        npy(dir, "out2.npy", XHAL_DTYPE_F32, 1, s2);
        char path[300];
        snprintf(path, sizeof(path), "%s/cases.json", dir);
        FILE *f = fopen(path, "w");
        fputs("{\"version\": 1, \"cases\": [{\"name\": \"bad\", \"op\": \"gather\", \"dtype\": \"f32\", \"inputs\": "
              "[\"x2.npy\", \"i2.npy\"], \"expected\": \"out2.npy\"}]}",
              f);
        fclose(f);
        xc_case_list l = {0};
        char msg[512] = "";
        CHECK(xc_vectors_load(dir, &l, msg, sizeof(msg)) == -1 && strstr(msg, "index 1 at 1 is outside [0, 1)"));
        xc_case_list_free(&l);
    }
    /* the tool: exit 2, the reason printed, no report written */
    const char *tool_cases[] = {"sum_out", "eps_string", "duplicate", "fortran_true"};
    for (size_t i = 0; i < sizeof(tool_cases) / sizeof(tool_cases[0]); i++) {
        char dir[256], rep[300];
        snprintf(dir, sizeof(dir), "%s/%s", tmp, tool_cases[i]);
        CHECK(run_tool(dir) == 2);
        snprintf(rep, sizeof(rep), "%s/rep/report.json", dir);
        CHECK(access(rep, F_OK) != 0);
    }
    /* every built-in case meets the rules it is judged by */
    xc_case_list cat = {0};
    CHECK(xc_catalogue_build(&cat) == 0);
    for (int i = 0; i < cat.n; i++) {
        char msg[512];
        if (xc_case_validate(&cat.cases[i], msg, sizeof(msg)) != 0) {
            fprintf(stderr, "  %s\n", msg);
            CHECK(!"catalogue case invalid");
        }
    }
    xc_case_list_free(&cat);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
    CHECK(system(cmd) == 0);
    return xtest_finish("test_conf_hostile");
}
