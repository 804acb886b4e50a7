/* xhal-conform --merge: two reports from two machines (one chip family on both, one on
 * each) join into one matrix op x dtype x family with the worst error / bound of each cell,
 * in all four formats; a file that is not a report is refused by name. */
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

static void add(xc_device_report *d, const char *name, const char *op, const char *dt, int outcome, double worst)
{
    xc_result *r = &d->results[d->n++];
    memset(r, 0, sizeof(*r));
    snprintf(r->suite, sizeof(r->suite), "ops");
    snprintf(r->name, sizeof(r->name), "%s", name);
    snprintf(r->op, sizeof(r->op), "%s", op);
    snprintf(r->dtype, sizeof(r->dtype), "%s", dt);
    r->outcome = outcome;
    r->has_figures = outcome == XC_PASS || outcome == XC_FAIL;
    r->worst = worst;
    r->tol = xc_tolerance(XHAL_OP_EXP, XHAL_DTYPE_F32, 1);
    if (outcome == XC_FAIL) snprintf(r->message, sizeof(r->message), "1 of 17 elements wrong");
    d->counts[outcome]++;
}

static void dev(xc_device_report *d, const char *spec, const char *vendor, const char *family, const char *driver)
{
    memset(d, 0, sizeof(*d));
    snprintf(d->info.spec, sizeof(d->info.spec), "%s", spec);
    snprintf(d->info.vendor, sizeof(d->info.vendor), "%s", vendor);
    snprintf(d->info.family, sizeof(d->info.family), "%s", family);
    snprintf(d->info.arch, sizeof(d->info.arch), "arch-x");
    snprintf(d->info.driver_version, sizeof(d->info.driver_version), "%s", driver);
    d->results = calloc(16, sizeof(xc_result));
    d->cap = 16;
}

static cJSON *cell(cJSON *fam, const char *op, const char *dt)
{
    cJSON *c;
    cJSON_ArrayForEach(
        c, cJSON_GetObjectItem(fam, "cells")) if (!strcmp(cJSON_GetObjectItem(c, "op")->valuestring, op) &&
                                                  !strcmp(cJSON_GetObjectItem(c, "dtype")->valuestring, dt)) return c;
    return NULL;
}

int main(void)
{
    char tmp[64], msg[512], a[128], b[128], out[128], pa[160], pb[160];
    snprintf(tmp, sizeof(tmp), "/tmp/xc_merge_XXXXXX");
    CHECK(mkdtemp(tmp) != NULL);
    snprintf(a, sizeof(a), "%s/a", tmp);
    snprintf(b, sizeof(b), "%s/b", tmp);
    snprintf(out, sizeof(out), "%s/merged", tmp);
    const unsigned all = XC_FORMAT_JSON | XC_FORMAT_MD | XC_FORMAT_HTML | XC_FORMAT_JUNIT;

    /* machine A: an Acme GPU and a CPU */
    xc_run r1;
    xc_run_init(&r1);
    snprintf(r1.machine.hostname, sizeof(r1.machine.hostname), "host-a");
    r1.devs = calloc(2, sizeof(xc_device_report));
    r1.n_devs = 2;
    dev(&r1.devs[0], "acme:0", "Acme", "acme-1", "1.0");
    dev(&r1.devs[1], "cpu:0", "AMD", "cpu-x86_64", "0.1");
    add(&r1.devs[0], "exp/f32/n17", "exp", "f32", XC_PASS, 0.25);
    add(&r1.devs[0], "add/f32/n17", "add", "f32", XC_PASS, 0);
    add(&r1.devs[1], "exp/f32/n17", "exp", "f32", XC_PASS, 0.01);
    CHECK(xc_report_write(&r1, a, XC_FORMAT_JSON, msg, sizeof(msg)) == 0);
    /* machine B: the same Acme family (another driver), worse on exp, failing add */
    xc_run r2;
    xc_run_init(&r2);
    snprintf(r2.machine.hostname, sizeof(r2.machine.hostname), "host-b");
    r2.devs = calloc(1, sizeof(xc_device_report));
    r2.n_devs = 1;
    dev(&r2.devs[0], "acme:1", "Acme", "acme-1", "1.1");
    add(&r2.devs[0], "exp/f32/n17", "exp", "f32", XC_PASS, 0.75);
    add(&r2.devs[0], "add/f32/n17", "add", "f32", XC_FAIL, 3.5);
    add(&r2.devs[0], "exp/f16/empty", "exp", "f16", XC_TRIVIAL, 0);
    CHECK(xc_report_write(&r2, b, XC_FORMAT_JSON, msg, sizeof(msg)) == 0);

    snprintf(pa, sizeof(pa), "%s/report.json", a);
    snprintf(pb, sizeof(pb), "%s/report.json", b);
    const char *paths[2] = {pa, pb};
    int failing = -1;
    CHECK(xc_merge_reports(paths, 2, out, all, &failing, msg, sizeof(msg)) == 0);
    CHECK(failing == 1);

    char p[200];
    snprintf(p, sizeof(p), "%s/report.json", out);
    char *text = slurp(p);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    CHECK(root != NULL);
    if (root) {
        CHECK(!strcmp(cJSON_GetObjectItem(root, "schema")->valuestring, "xhal-conform-merged"));
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(root, "sources")) == 2);
        cJSON *fams = cJSON_GetObjectItem(root, "families");
        CHECK(cJSON_GetArraySize(fams) == 2); /* acme-1 (both machines) and cpu-x86_64 */
        cJSON *acme = cJSON_GetArrayItem(fams, 0);
        CHECK(!strcmp(cJSON_GetObjectItem(acme, "family")->valuestring, "acme-1"));
        CHECK(strstr(cJSON_GetObjectItem(acme, "devices")->valuestring, "host-a/acme:0") &&
              strstr(cJSON_GetObjectItem(acme, "devices")->valuestring, "host-b/acme:1"));
        CHECK(!strcmp(cJSON_GetObjectItem(acme, "driver_versions")->valuestring, "1.0, 1.1"));
        cJSON *e = cell(acme, "exp", "f32");
        CHECK(e && cJSON_GetObjectItem(e, "pass")->valueint == 2);
        CHECK(e && cJSON_GetObjectItem(e, "worst_err_over_bound")->valuedouble == 0.75);
        CHECK(e && !strcmp(cJSON_GetObjectItem(e, "worst_device")->valuestring, "host-b/acme:1"));
        cJSON *ad = cell(acme, "add", "f32");
        CHECK(ad && !strcmp(cJSON_GetObjectItem(ad, "state")->valuestring, "fail"));
        cJSON *tr = cell(acme, "exp", "f16");
        CHECK(tr && !strcmp(cJSON_GetObjectItem(tr, "state")->valuestring, "trivial only"));
        cJSON *cpu = cJSON_GetArrayItem(fams, 1);
        CHECK(cell(cpu, "exp", "f32") && !cell(cpu, "add", "f32"));
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(root, "failures")) == 1);
    }
    cJSON_Delete(root);
    free(text);
    snprintf(p, sizeof(p), "%s/report.md", out);
    text = slurp(p);
    CHECK(text && strstr(text, "| op | dtype | F1 acme-1 | F2 cpu-x86_64 |"));
    CHECK(text && strstr(text, "| exp | f32 | pass 2, worst 0.75 | pass 1, worst 0.01 |"));
    CHECK(text && strstr(text, "| add | f32 | FAIL 1/2, worst 3.5 | - |"));
    free(text);
    snprintf(p, sizeof(p), "%s/report.html", out);
    text = slurp(p);
    CHECK(text && strstr(text, "<svg") && strstr(text, "</svg>") && strstr(text, "1 (bound)"));
    CHECK(text && !strstr(text, "<script") && !strstr(text, "src="));
    free(text);
    snprintf(p, sizeof(p), "%s/junit.xml", out);
    text = slurp(p);
    CHECK(text && strstr(text, "<testsuite name=\"xhal-conform.acme-1\">") &&
          strstr(text, "<failure message=\"FAIL 1/2"));
    free(text);

    /* a file that is not a report: refused by name, nothing merged */
    snprintf(p, sizeof(p), "%s/not-a-report.json", tmp);
    FILE *f = fopen(p, "w");
    fputs("{\"schema\": \"something-else\"}", f);
    fclose(f);
    const char *bad[2] = {pa, p};
    CHECK(xc_merge_reports(bad, 2, out, all, &failing, msg, sizeof(msg)) == -1 && strstr(msg, "not-a-report.json") &&
          strstr(msg, "not an xhal-conform report"));
    const char *missing[1] = {"/nonexistent/report.json"};
    CHECK(xc_merge_reports(missing, 1, out, all, &failing, msg, sizeof(msg)) == -1 &&
          strstr(msg, "/nonexistent/report.json"));

    xc_run_free(&r1);
    xc_run_free(&r2);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
    CHECK(system(cmd) == 0);
    return xtest_finish("test_conf_merge");
}
