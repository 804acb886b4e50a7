/* The runner end to end on the CPU device: a good case passes; a deliberately broken case
 * (guard byte, gap between strided elements, an element) is caught and named; a required
 * error leaves out untouched; vectors pass, and a vector whose expected output was altered
 * fails by name; expected failures turn into XFAIL / XPASS; the report parses back. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>
#include "xtest.h"
#include "xc_conform.h"

static xhal_context *ctx;
static xhal_device *cpu;
static xhal_stream *stream;
static xc_case_list cat;

static const xc_case *find(const char *name)
{
    for (int i = 0; i < cat.n; i++)
        if (!strcmp(cat.cases[i].name, name)) return &cat.cases[i];
    fprintf(stderr, "no case %s\n", name);
    return NULL;
}

/* What the hook does to the output buffer after the op. */
static int64_t corrupt_at = -1;
static uint8_t corrupt_value;
static void hook(xhal_stream *s, xhal_buffer *buf, uint64_t size, const xc_case *c)
{
    (void)c;
    if (corrupt_at < 0) return;
    uint64_t off = corrupt_at == 1000000 ? size - 1 : (uint64_t)corrupt_at;
    uint8_t b;
    xhal_buffer_read(s, buf, off, &b, 1);
    b = corrupt_value ? corrupt_value : (uint8_t)~b;
    xhal_buffer_write(s, buf, off, &b, 1);
}

static xc_result run1(const char *name)
{
    xc_result r;
    memset(&r, 0, sizeof(r));
    const xc_case *c = find(name);
    if (c) xc_run_case(stream, cpu, c, 1, &r);
    return r;
}

static void test_guards(void)
{
    xc_result r = run1("add/f32/n17");
    CHECK(r.outcome == XC_PASS);
    if (r.outcome != XC_PASS) fprintf(stderr, "  %s\n", r.message);
    CHECK(r.has_figures && r.numel == 17);
    xc_set_post_op_hook(hook);
    /* the last guard byte after the output */
    corrupt_at = 1000000;
    r = run1("add/f32/n17");
    CHECK(r.outcome == XC_FAIL && strstr(r.message, "guard") && strstr(r.message, "after the last element"));
    /* the first guard byte */
    corrupt_at = 0;
    r = run1("add/f32/n17");
    CHECK(r.outcome == XC_FAIL && strstr(r.message, "before the first element"));
    /* a gap between the elements of a strided output (step 2: element 0 at guard + 4,
     * element 1 at guard + 12, the gap at guard + 8) */
    corrupt_at = 64 + 8;
    r = run1("fill/f32/step_out_17x3x5");
    CHECK(r.outcome == XC_FAIL && strstr(r.message, "between elements"));
    /* an element: a wrong value is a value failure with figures, not a guard failure */
    corrupt_at = 64 + 3; /* top byte of element 0 of a contiguous f32 output */
    corrupt_value = 0x42;
    r = run1("add/f32/n17");
    CHECK(r.outcome == XC_FAIL && strstr(r.message, "elements wrong") && r.max_abs > 1);
    corrupt_value = 0x7f; /* exponent all ones: NaN where a number was expected */
    r = run1("add/f32/n17");
    CHECK(r.outcome == XC_FAIL && strstr(r.message, "expected a finite value"));
    corrupt_value = 0;
    /* an op that must report an error and still define out (gather with a bad index: OUT_OF_RANGE
     * at the synchronize, zeros in that index's row): a nonzero byte in the bad row is caught */
    corrupt_at = -1;
    r = run1("gather/f32/idx_i32_out_of_range_high");
    CHECK(r.outcome == XC_PASS);
    if (r.outcome != XC_PASS) fprintf(stderr, "  %s\n", r.message);
    corrupt_at = 64 + 20 * 4 + 3; /* top byte of element [5, 0]: index 10 of a 10-row table */
    corrupt_value = 0x42;
    r = run1("gather/f32/idx_i32_out_of_range_high");
    CHECK(r.outcome == XC_FAIL && strstr(r.message, "elements wrong"));
    if (r.outcome != XC_FAIL) fprintf(stderr, "  %s\n", r.message);
    corrupt_value = 0;
    corrupt_at = -1;
    xc_set_post_op_hook(NULL);
    /* NaN sign is checked for copy: the special case carries -NaN and must still pass */
    r = run1("copy/f16/from_f32_special_n33");
    CHECK(r.outcome == XC_PASS);
    /* empty and scalar shapes run; an empty one gives the device no work: trivial */
    r = run1("exp/f32/empty_0x5");
    CHECK(r.outcome == XC_TRIVIAL && strstr(r.message, "trivial"));
    r = run1("matmul/f32/k0_3x0x5_beta");
    CHECK(r.outcome == XC_TRIVIAL);
    r = run1("exp/f32/scalar");
    CHECK(r.outcome == XC_PASS);
}

static char tmp[64];

static int copy_vectors(void)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "cp -r %s %s/vec", XC_TEST_VECTORS_DIR, tmp);
    return system(cmd);
}

static void test_vectors(void)
{
    char msg[512], dir[128];
    snprintf(dir, sizeof(dir), "%s/vec", tmp);
    CHECK(copy_vectors() == 0);
    xc_case_list v = {0};
    CHECK(xc_vectors_load(dir, &v, msg, sizeof(msg)) == 0);
    CHECK(v.n >= 20);
    for (int i = 0; i < v.n; i++) {
        xc_result r;
        xc_run_case(stream, cpu, &v.cases[i], 0, &r);
        if (r.outcome != XC_PASS) fprintf(stderr, "  vector %s: %s\n", r.name, r.message);
        CHECK(r.outcome == XC_PASS);
        CHECK(xc_vector_selfcheck(&v.cases[i], &r) == 0);
    }
    xc_case_list_free(&v);

    /* alter the expected output of one case (the third: not the first, to show it is named) */
    char path[256];
    snprintf(path, sizeof(path), "%s/cases.json", dir);
    FILE *f = fopen(path, "rb");
    char *text = calloc(1, 1 << 20);
    size_t n = f ? fread(text, 1, (1 << 20) - 1, f) : 0;
    if (f) fclose(f);
    CHECK(n > 0);
    cJSON *root = cJSON_Parse(text);
    free(text);
    cJSON *c2 = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "cases"), 2);
    const char *victim = cJSON_GetObjectItem(c2, "name")->valuestring;
    const cJSON *exp = cJSON_GetObjectItem(c2, "expected");
    char epath[256];
    snprintf(epath, sizeof(epath), "%s/%s", dir,
             cJSON_IsString(exp) ? exp->valuestring : cJSON_GetObjectItem(exp, "file")->valuestring);
    xc_tensor t;
    CHECK(xc_npy_read(epath, 0, &t, msg, sizeof(msg)) == 0);
    t.v[t.n - 1] += 0.25 + fabs(t.v[t.n - 1]) * 0.1;
    CHECK(xc_npy_write(epath, &t, msg, sizeof(msg)) == 0);
    xc_tensor_free(&t);
    char want[160];
    snprintf(want, sizeof(want), "vectors/%s", victim);
    cJSON_Delete(root);

    CHECK(xc_vectors_load(dir, &v, msg, sizeof(msg)) == 0);
    int failed = 0, named = 0;
    for (int i = 0; i < v.n; i++) {
        xc_result r;
        xc_run_case(stream, cpu, &v.cases[i], 0, &r);
        if (r.outcome == XC_FAIL) {
            failed++;
            named = !strcmp(r.name, want);
            CHECK(strstr(r.message, "elements wrong") != NULL);
        }
        xc_result s;
        int sc = xc_vector_selfcheck(&v.cases[i], &s);
        CHECK((sc != 0) == (strcmp(v.cases[i].name, want) == 0));
        if (sc != 0) CHECK(strstr(s.message, want) != NULL);
    }
    CHECK(failed == 1 && named);
    /* through the tool's path: the device report names it too */
    xc_run run;
    xc_run_init(&run);
    xc_options opt = {XC_SUITE_VECTORS, NULL, dir, NULL, NULL, 0, NULL, NULL};
    CHECK(xc_run_device(&run, ctx, cpu, &v, &opt, msg, sizeof(msg)) == 0);
    CHECK(run.n_devs == 1 && run.devs[0].counts[XC_FAIL] == 1);
    int counts[XC_OUTCOME_COUNT];
    CHECK(xc_run_totals(&run, counts) == 0);
    xc_run_free(&run);
    xc_case_list_free(&v);
    /* a malformed cases.json is refused with the file named */
    f = fopen(path, "w");
    fputs("{\"version\": 1, \"cases\": [{\"name\": \"x\", \"op\": \"no_such_op\", \"dtype\": \"f32\", \"expected\": "
          "\"a.npy\"}]}",
          f);
    fclose(f);
    CHECK(xc_vectors_load(dir, &v, msg, sizeof(msg)) == -1 && strstr(msg, "no_such_op"));
    xc_case_list_free(&v);
}

static void test_xfail_and_report(void)
{
    char msg[512];
    xc_xfail_list xl;
    const char *list = "cpu-* add f32 ^add/f32/n17$ # broken on purpose by the test hook\n"
                       "*     exp f32 ^exp/f32/n3$  # listed but passes: XPASS\n";
    CHECK(xc_xfail_parse(list, "xf", &xl, msg, sizeof(msg)) == 0);
    xc_options opt = {
        XC_SUITE_OPS, "^(add/f32/n17|exp/f32/n3|exp/f32/n17|matmul/f16/3x17x5)$", NULL, NULL, &xl, 7, NULL, NULL};
    xc_case_list sel;
    CHECK(xc_select_cases(&opt, &sel, msg, sizeof(msg)) == 0);
    CHECK(sel.n == 4);
    xc_run run;
    xc_run_init(&run);
    xc_run_describe_machine(&run, ctx);
    xc_set_post_op_hook(hook);
    corrupt_at = 1000000;
    CHECK(xc_run_device(&run, ctx, cpu, &sel, &opt, msg, sizeof(msg)) == 0);
    corrupt_at = -1;
    xc_set_post_op_hook(NULL);
    const xc_device_report *d = &run.devs[0];
    /* the hook breaks every case: the two listed ones are XFAIL, the others FAIL */
    CHECK(d->counts[XC_XFAIL] == 2 && d->counts[XC_FAIL] == 2);
    xc_run_free(&run);

    xc_run_init(&run);
    xc_run_describe_machine(&run, ctx);
    snprintf(run.command, sizeof(run.command), "test_conf_device <&> \"quoted\"");
    CHECK(xc_run_device(&run, ctx, cpu, &sel, &opt, msg, sizeof(msg)) == 0);
    d = &run.devs[0];
    CHECK(d->counts[XC_XPASS] == 2 && d->counts[XC_PASS] == 2);
    int counts[XC_OUTCOME_COUNT];
    CHECK(xc_run_totals(&run, counts) == 0);
    char dir[128];
    snprintf(dir, sizeof(dir), "%s/report", tmp);
    CHECK(xc_report_write(&run, dir, XC_FORMAT_JSON | XC_FORMAT_MD | XC_FORMAT_HTML | XC_FORMAT_JUNIT, msg,
                          sizeof(msg)) == 0);
    char path[256];
    snprintf(path, sizeof(path), "%s/report.json", dir);
    FILE *f = fopen(path, "rb");
    char *text = calloc(1, 1 << 20);
    size_t n = f ? fread(text, 1, (1 << 20) - 1, f) : 0;
    if (f) fclose(f);
    cJSON *root = cJSON_Parse(text);
    CHECK(root != NULL);
    if (root) {
        CHECK(cJSON_GetObjectItem(root, "schema_version")->valueint == XC_REPORT_SCHEMA_VERSION);
        cJSON *fam = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "families"), 0);
        CHECK(!strcmp(cJSON_GetObjectItem(fam, "family")->valuestring, run.devs[0].info.family));
        cJSON *dev = cJSON_GetArrayItem(cJSON_GetObjectItem(fam, "devices"), 0);
        CHECK(!strcmp(cJSON_GetObjectItem(dev, "spec")->valuestring, "cpu:0"));
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(dev, "results")) == 4);
        cJSON *tot = cJSON_GetObjectItem(root, "totals");
        CHECK(cJSON_GetObjectItem(tot, "xpass")->valueint == 2 && cJSON_IsFalse(cJSON_GetObjectItem(tot, "ok")));
        CHECK(!strcmp(cJSON_GetObjectItem(root, "command")->valuestring, "test_conf_device <&> \"quoted\""));
        CHECK(cJSON_IsObject(cJSON_GetObjectItem(root, "topology")));
    }
    cJSON_Delete(root);
    free(text);
    (void)n;
    xc_run_free(&run);
    xc_case_list_free(&sel);
    xc_xfail_free(&xl);
}

/* A backend broken on purpose (tests/conformance/xcbad_backend.c): each fault is caught and
 * named, and what it does not support is "unsupported", never "pass". */
static void test_bad_backend(void)
{
    xhal_context_options o;
    xhal_context_options_init(&o);
    o.flags = XHAL_CONTEXT_NO_DEFAULT_PLUGINS | XHAL_CONTEXT_IGNORE_ENV_PATH;
    o.plugin_path = XC_TEST_PLUGIN_DIR;
    xhal_context *bctx = NULL;
    xhal_device *bad = NULL;
    xhal_stream *bs = NULL;
    CHECK_OK(xhal_context_create(&o, &bctx));
    CHECK_OK(xhal_device_find(bctx, "xcbad:0", &bad));
    if (!bad) {
        xhal_context_destroy(bctx);
        return;
    }
    CHECK_OK(xhal_stream_create(bad, &bs));
    struct {
        const char *name;
        int outcome;
        const char *msg;
    } want[] = {
        {"mul/f32/n17", XC_PASS, ""},
        {"neg/f32/n17", XC_FAIL, "after the last element"},
        {"add/f32/n17", XC_FAIL, "input 0 was modified"},
        {"exp/f32/n17", XC_UNSUPPORTED, "not supported"},
        {"exp/f16/n17", XC_UNSUPPORTED, "does not store f16"},
        {"mul/f32/3x127", XC_UNSUPPORTED, ""},
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        xc_result r;
        memset(&r, 0, sizeof(r));
        const xc_case *c = find(want[i].name);
        if (c) xc_run_case(bs, bad, c, 3, &r);
        if (r.outcome != want[i].outcome || !strstr(r.message, want[i].msg))
            fprintf(stderr, "  xcbad %s: %s (%s)\n", want[i].name, xc_outcome_name(r.outcome), r.message);
        CHECK(r.outcome == want[i].outcome && strstr(r.message, want[i].msg) != NULL);
    }
    xhal_stream_destroy(bs);
    /* through a run with an expected-failure list for the family */
    char msg[256];
    xc_xfail_list xl;
    CHECK(xc_xfail_parse("xcbad-* neg f32 # writes past the end\nxcbad-* add * # scribbles on a\n", "xf", &xl, msg,
                         sizeof(msg)) == 0);
    xc_options opt = {XC_SUITE_OPS, "^(add|neg|mul|exp)/f(32|16)/n17$", NULL, NULL, &xl, 3, NULL, NULL};
    xc_case_list sel;
    CHECK(xc_select_cases(&opt, &sel, msg, sizeof(msg)) == 0);
    xc_run run;
    xc_run_init(&run);
    CHECK(xc_run_device(&run, bctx, bad, &sel, &opt, msg, sizeof(msg)) == 0);
    const xc_device_report *d = &run.devs[0];
    CHECK(d->counts[XC_PASS] == 1 && d->counts[XC_XFAIL] == 2 && d->counts[XC_FAIL] == 0 &&
          d->counts[XC_UNSUPPORTED] == 5);
    int counts[XC_OUTCOME_COUNT];
    CHECK(xc_run_totals(&run, counts) == 1); /* unsupported and xfail do not fail a run */
    xc_run_free(&run);
    xc_case_list_free(&sel);
    xc_xfail_free(&xl);

    /* honest counting: an op the device lacks, with only an empty case besides, is
     * unsupported + trivial, never pass; the suite ran nothing: exit status 3 */
    xc_options o2 = {XC_SUITE_OPS, "^exp/f32/(n17|empty_0x5)$", NULL, NULL, NULL, 3, NULL, NULL};
    CHECK(xc_select_cases(&o2, &sel, msg, sizeof(msg)) == 0 && sel.n == 2);
    xc_run_init(&run);
    CHECK(xc_run_device(&run, bctx, bad, &sel, &o2, msg, sizeof(msg)) == 0);
    d = &run.devs[0];
    CHECK(d->counts[XC_UNSUPPORTED] == 1 && d->counts[XC_TRIVIAL] == 1 && d->counts[XC_PASS] == 0);
    CHECK(xc_suite_verdict(d, "ops") == XC_UNSUPPORTED && xc_suite_verdict(d, "vectors") == -1);
    CHECK(xc_run_exit_status(&run, 1) == XC_EXIT_NOTHING_RAN);
    CHECK(xc_run_exit_status(&run, 0) == XC_EXIT_NOTHING_RAN); /* nothing ran anywhere */
    {
        char dir[128], path[256];
        snprintf(dir, sizeof(dir), "%s/report-trivial", tmp);
        run.explicit_devices = 1;
        CHECK(xc_report_write(&run, dir, XC_FORMAT_JSON | XC_FORMAT_MD | XC_FORMAT_HTML | XC_FORMAT_JUNIT, msg,
                              sizeof(msg)) == 0);
        snprintf(path, sizeof(path), "%s/report.md", dir);
        FILE *f = fopen(path, "rb");
        char *text = calloc(1, 1 << 20);
        if (f) {
            size_t n = fread(text, 1, (1 << 20) - 1, f);
            (void)n;
            fclose(f);
        }
        CHECK(strstr(text, "Result: **UNSUPPORTED**") != NULL);
        CHECK(strstr(text, "| exp | unsupported (trivial 1) |") != NULL);
        CHECK(strstr(text, "| xcbad:0 | exp | 1 | f32  | 1 | 0 |") != NULL);
        snprintf(path, sizeof(path), "%s/report.json", dir);
        f = fopen(path, "rb");
        memset(text, 0, 1 << 20);
        if (f) {
            size_t n = fread(text, 1, (1 << 20) - 1, f);
            (void)n;
            fclose(f);
        }
        cJSON *root = cJSON_Parse(text);
        CHECK(root && !strcmp(cJSON_GetObjectItem(root, "verdict")->valuestring, "UNSUPPORTED"));
        CHECK(root && cJSON_GetObjectItem(cJSON_GetObjectItem(root, "totals"), "trivial")->valueint == 1);
        cJSON_Delete(root);
        snprintf(path, sizeof(path), "%s/junit.xml", dir);
        f = fopen(path, "rb");
        memset(text, 0, 1 << 20);
        if (f) {
            size_t n = fread(text, 1, (1 << 20) - 1, f);
            (void)n;
            fclose(f);
        }
        CHECK(strstr(text, "<skipped message=\"trivial: ") != NULL);
        free(text);
    }
    xc_run_free(&run);
    xc_case_list_free(&sel);
    /* with one real pass the suite ran: exit 0 */
    xc_options o3 = {XC_SUITE_OPS, "^(exp/f32/empty_0x5|mul/f32/n17)$", NULL, NULL, NULL, 3, NULL, NULL};
    CHECK(xc_select_cases(&o3, &sel, msg, sizeof(msg)) == 0 && sel.n == 2);
    xc_run_init(&run);
    CHECK(xc_run_device(&run, bctx, bad, &sel, &o3, msg, sizeof(msg)) == 0);
    CHECK(xc_suite_verdict(&run.devs[0], "ops") == XC_PASS && xc_run_exit_status(&run, 1) == XC_EXIT_PASS);
    xc_run_free(&run);
    xc_case_list_free(&sel);
    /* --op selects by op name (vectors too), and refuses an unknown name */
    xc_options o5 = {
        XC_SUITE_OPS | XC_SUITE_VECTORS, NULL, XC_TEST_VECTORS_DIR, NULL, NULL, 3, NULL, "rms_norm,softmax"};
    CHECK(xc_select_cases(&o5, &sel, msg, sizeof(msg)) == 0 && sel.n > 50);
    int others = 0, vec = 0;
    for (int i = 0; i < sel.n; i++) {
        others += sel.cases[i].op != XHAL_OP_RMS_NORM && sel.cases[i].op != XHAL_OP_SOFTMAX;
        vec += !strcmp(sel.cases[i].suite, "vectors");
    }
    CHECK(others == 0 && vec >= 2);
    xc_case_list_free(&sel);
    o5.ops = "rms_norm,no_such_op";
    CHECK(xc_select_cases(&o5, &sel, msg, sizeof(msg)) == -1 && strstr(msg, "no_such_op"));
    /* the model suite on a device that runs none of its models: unsupported, exit 3 */
    xc_options o4 = {XC_SUITE_MODEL, NULL, NULL, NULL, NULL, 3, NULL, NULL};
    xc_case_list none = {0};
    xc_run_init(&run);
    CHECK(xc_run_device(&run, bctx, bad, &none, &o4, msg, sizeof(msg)) == 0);
    CHECK(xc_suite_verdict(&run.devs[0], "model") == XC_UNSUPPORTED);
    CHECK(xc_run_exit_status(&run, 1) == XC_EXIT_NOTHING_RAN);
    xc_run_free(&run);
    xhal_context_destroy(bctx);
}

int main(void)
{
    snprintf(tmp, sizeof(tmp), "/tmp/xc_dev_XXXXXX");
    CHECK(mkdtemp(tmp) != NULL);
    CHECK_OK(xhal_context_create(NULL, &ctx));
    if (xhal_device_find(ctx, "cpu:0", &cpu) != XHAL_OK) {
        fprintf(stderr, "no cpu device: %s\n", xhal_last_error());
        CHECK(!"the CPU backend is built with the tests");
        return xtest_finish("test_conf_device");
    }
    CHECK_OK(xhal_stream_create(cpu, &stream));
    CHECK(xc_catalogue_build(&cat) == 0);
    test_guards();
    test_vectors();
    test_xfail_and_report();
    test_bad_backend();
    xc_case_list_free(&cat);
    xhal_stream_destroy(stream);
    xhal_context_destroy(ctx);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
    CHECK(system(cmd) == 0);
    return xtest_finish("test_conf_device");
}
