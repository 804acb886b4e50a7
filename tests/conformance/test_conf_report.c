/* The report writers on a synthetic run: report.json parses back with the documented
 * schema, devices are grouped by family, NaN figures become null, report.html is
 * self-contained, junit.xml counts failures and skips, markdown lists the failures. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>
#include "xtest.h"
#include "xc_conform.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *b = calloc(1, 1 << 20);
    size_t n = fread(b, 1, (1 << 20) - 1, f);
    fclose(f);
    (void)n;
    return b;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

static void add(xc_device_report *d, const char *name, const char *op, const char *dt, int outcome, double err)
{
    xc_result *r = &d->results[d->n++];
    memset(r, 0, sizeof(*r));
    snprintf(r->suite, sizeof(r->suite), "ops");
    snprintf(r->name, sizeof(r->name), "%s", name);
    snprintf(r->op, sizeof(r->op), "%s", op);
    snprintf(r->dtype, sizeof(r->dtype), "%s", dt);
    r->outcome = outcome;
    r->has_figures = outcome != XC_UNSUPPORTED;
    r->max_abs = err;
    r->max_rel = err;
    r->nmse = err;
    r->tol = xc_tolerance(XHAL_OP_EXP, XHAL_DTYPE_F32, 1);
    if (outcome == XC_FAIL) snprintf(r->message, sizeof(r->message), "1 of 17 elements wrong; got <NaN> & \"x\"");
    if (outcome == XC_UNSUPPORTED) snprintf(r->message, sizeof(r->message), "exp f64 unsupported on this device");
    if (outcome == XC_XFAIL || outcome == XC_XPASS)
        snprintf(r->xfail_reason, sizeof(r->xfail_reason), "line 3: known bug");
    d->counts[outcome]++;
}

static void dev(xc_device_report *d, const char *spec, const char *vendor, const char *family)
{
    memset(d, 0, sizeof(*d));
    snprintf(d->info.spec, sizeof(d->info.spec), "%s", spec);
    snprintf(d->info.vendor, sizeof(d->info.vendor), "%s", vendor);
    snprintf(d->info.family, sizeof(d->info.family), "%s", family);
    snprintf(d->info.arch, sizeof(d->info.arch), "arch-x");
    snprintf(d->info.driver_version, sizeof(d->info.driver_version), "1.0");
    snprintf(d->info.name, sizeof(d->info.name), "Device <%s>", spec);
    d->info.dtypes = XHAL_DTYPE_BIT(XHAL_DTYPE_F32);
    d->results = calloc(16, sizeof(xc_result));
    d->cap = 16;
}

int main(void)
{
    char tmp[64];
    snprintf(tmp, sizeof(tmp), "/tmp/xc_rep_XXXXXX");
    CHECK(mkdtemp(tmp) != NULL);
    xc_run run;
    xc_run_init(&run);
    run.devs = calloc(3, sizeof(xc_device_report));
    run.n_devs = 3;
    dev(&run.devs[0], "gpu:0", "Acme", "acme-1");
    dev(&run.devs[1], "gpu:1", "Acme", "acme-1");
    dev(&run.devs[2], "cpu:0", "AMD", "cpu-x86_64");
    add(&run.devs[0], "exp/f32/n17", "exp", "f32", XC_PASS, 1e-7);
    add(&run.devs[0], "exp/f16/n17", "exp", "f16", XC_FAIL, NAN);
    add(&run.devs[0], "exp/f64/n17", "exp", "f64", XC_UNSUPPORTED, 0);
    add(&run.devs[1], "exp/f32/n17", "exp", "f32", XC_XFAIL, 1);
    add(&run.devs[1], "add/i32/n17", "add", "i32", XC_XPASS, 0);
    add(&run.devs[2], "exp/f32/n17", "exp", "f32", XC_PASS, INFINITY);
    run.devs[2].model_state = 1;
    run.devs[2].n_models = 1;
    snprintf(run.devs[2].models[0].model, 64, "stories260K");
    snprintf(run.devs[2].models[0].weight_dtype, 8, "f32");
    snprintf(run.devs[2].models[0].compute_dtype, 8, "f32");
    run.devs[2].models[0].status = 1;
    run.devs[2].models[0].min_cosine = 0.99999;
    run.devs[0].model_state = -1;
    snprintf(run.devs[0].model_message, sizeof(run.devs[0].model_message), "no reference models");
    snprintf(run.command, sizeof(run.command), "xhal-conform --filter '<a&b>'");
    snprintf(run.topology_reason, sizeof(run.topology_reason), "no hwloc here");
    char msg[256];
    char dir[128];
    snprintf(dir, sizeof(dir), "%s/a/b", tmp); /* nested: created */
    CHECK(xc_report_write(&run, dir, XC_FORMAT_JSON | XC_FORMAT_MD | XC_FORMAT_HTML | XC_FORMAT_JUNIT, msg,
                          sizeof(msg)) == 0);
    char path[256];

    snprintf(path, sizeof(path), "%s/report.json", dir);
    char *text = slurp(path);
    CHECK(text != NULL);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    CHECK(root != NULL);
    if (root) {
        CHECK(!strcmp(cJSON_GetObjectItem(root, "schema")->valuestring, "xhal-conform-report"));
        CHECK(cJSON_GetObjectItem(root, "schema_version")->valueint == 1);
        cJSON *fams = cJSON_GetObjectItem(root, "families");
        CHECK(cJSON_GetArraySize(fams) == 2);
        cJSON *f0 = cJSON_GetArrayItem(fams, 0);
        CHECK(!strcmp(cJSON_GetObjectItem(f0, "family")->valuestring, "acme-1"));
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(f0, "devices")) == 2);
        cJSON *d0 = cJSON_GetArrayItem(cJSON_GetObjectItem(f0, "devices"), 0);
        cJSON *r1 = cJSON_GetArrayItem(cJSON_GetObjectItem(d0, "results"), 1);
        CHECK(!strcmp(cJSON_GetObjectItem(r1, "outcome")->valuestring, "fail"));
        CHECK(cJSON_IsNull(cJSON_GetObjectItem(r1, "max_abs_err")));
        CHECK(cJSON_IsNumber(cJSON_GetObjectItem(cJSON_GetObjectItem(r1, "tolerance"), "rtol")));
        CHECK(!strcmp(cJSON_GetObjectItem(r1, "message")->valuestring, "1 of 17 elements wrong; got <NaN> & \"x\""));
        cJSON *tot = cJSON_GetObjectItem(root, "totals");
        CHECK(cJSON_GetObjectItem(tot, "cases")->valueint == 6);
        CHECK(cJSON_GetObjectItem(tot, "failed")->valueint == 1 && cJSON_GetObjectItem(tot, "xpass")->valueint == 1);
        CHECK(cJSON_IsFalse(cJSON_GetObjectItem(tot, "ok")));
        cJSON *topo = cJSON_GetObjectItem(root, "topology");
        CHECK(cJSON_IsFalse(cJSON_GetObjectItem(topo, "available")) &&
              !strcmp(cJSON_GetObjectItem(topo, "reason")->valuestring, "no hwloc here"));
        cJSON *f1 = cJSON_GetArrayItem(fams, 1);
        cJSON *d2 = cJSON_GetArrayItem(cJSON_GetObjectItem(f1, "devices"), 0);
        cJSON *ms = cJSON_GetObjectItem(d2, "model_suite");
        CHECK(!strcmp(cJSON_GetObjectItem(ms, "state")->valuestring, "ran"));
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(ms, "results")) == 1);
        CHECK(cJSON_GetObjectItem(root, "machine") && cJSON_GetObjectItem(root, "generated"));
    }
    cJSON_Delete(root);
    free(text);

    snprintf(path, sizeof(path), "%s/report.html", dir);
    text = slurp(path);
    CHECK(text && strstr(text, "<!DOCTYPE html>") && strstr(text, "</html>"));
    if (text) {
        CHECK(!strstr(text, "http://") && !strstr(text, "https://") && !strstr(text, "<script") &&
              !strstr(text, "<link"));
        CHECK(strstr(text, "<style>") != NULL);
        CHECK(strstr(text, "Support matrix") && strstr(text, "FAIL 1/1") && strstr(text, "XPASS 1/1"));
        CHECK(strstr(text, "&lt;NaN&gt; &amp; &quot;x&quot;") != NULL); /* escaped */
        CHECK(strstr(text, "Topology unavailable") && strstr(text, "stories260K"));
        CHECK(count(text, "<table") == count(text, "</table>"));
        CHECK(count(text, "<tr>") == count(text, "</tr>"));
    }
    free(text);

    snprintf(path, sizeof(path), "%s/junit.xml", dir);
    text = slurp(path);
    CHECK(text && strstr(text, "<testsuites name=\"xhal-conform\" tests=\"6\" failures=\"2\" skipped=\"2\""));
    if (text) {
        CHECK(count(text, "<testsuite ") == 3 && count(text, "</testsuite>") == 3);
        CHECK(count(text, "<testcase ") == 6);
        CHECK(count(text, "<failure ") == 2 && count(text, "<skipped ") == 2);
        CHECK(!strstr(text, "<NaN>"));
    }
    free(text);

    snprintf(path, sizeof(path), "%s/report.md", dir);
    text = slurp(path);
    CHECK(text && strstr(text, "Result: **FAIL**") && strstr(text, "`exp/f16/n17`") && strstr(text, "acme-1"));
    free(text);

    /* only the formats asked for */
    snprintf(dir, sizeof(dir), "%s/only_json", tmp);
    CHECK(xc_report_write(&run, dir, XC_FORMAT_JSON, msg, sizeof(msg)) == 0);
    snprintf(path, sizeof(path), "%s/report.html", dir);
    CHECK(access(path, F_OK) != 0);
    /* an unwritable folder is an error with its name */
    CHECK(xc_report_write(&run, "/proc/xc_no_such/dir", XC_FORMAT_JSON, msg, sizeof(msg)) == -1 &&
          strstr(msg, "/proc/xc_no_such"));
    xc_run_free(&run);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
    CHECK(system(cmd) == 0);
    return xtest_finish("test_conf_report");
}
