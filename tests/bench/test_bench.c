/*
 * test_bench.c - xhal-bench --quick on cpu:0 writes a JSON report that parses and carries
 * every key a reader relies on (machine, devices, each figure with unit, device, shape, the
 * statistics and the peer), covers every group of both suites (the model suite with the dense
 * Llama and the mixture of experts against its same-active-parameter dense peer), and an HTML
 * page with charts.
 * Speed is never asserted.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

static int failures;
#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                   \
            fputc('\n', stderr);                                            \
            failures++;                                                     \
        }                                                                   \
    } while (0)

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    if (b) b[n] = 0;
    if (len) *len = (size_t)n;
    fclose(f);
    return b;
}

static const cJSON *get(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k); }

static int has_string(const cJSON *o, const char *k) { return cJSON_IsString(get(o, k)); }

int main(void)
{
    char dir[] = "/tmp/xhal-test-bench-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char json[256], html[256], cmd[1024];
    snprintf(json, sizeof json, "%s/b.json", dir);
    snprintf(html, sizeof html, "%s/b.html", dir);
    snprintf(cmd, sizeof cmd, "'%s' --quick --device cpu:0 --json '%s' --html '%s' > '%s/out.txt' 2>&1", XB_TOOL, json,
             html, dir);
    int st = system(cmd);
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "xhal-bench exited with %d; output in %s/out.txt", st,
          dir);

    size_t len = 0;
    char *text = slurp(json, &len);
    CHECK(text != NULL, "no JSON written at %s", json);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    CHECK(root != NULL, "JSON does not parse");
    if (root) {
        CHECK(has_string(root, "tool") && strcmp(get(root, "tool")->valuestring, "xhal-bench") == 0, "tool");
        CHECK(has_string(root, "xhal_version"), "xhal_version");
        CHECK(cJSON_IsTrue(get(root, "quick")), "quick is true");
        const cJSON *m = get(root, "machine");
        CHECK(cJSON_IsObject(m), "machine");
        CHECK(has_string(m, "cpu_model") && has_string(m, "kernel") && has_string(m, "date_utc") &&
                  has_string(m, "openblas") && has_string(m, "clblast") && has_string(m, "command"),
              "machine strings");
        CHECK(cJSON_IsNumber(get(m, "cores")) && get(m, "cores")->valuedouble >= 1, "machine.cores");
        CHECK(cJSON_GetArraySize(get(m, "load_average")) == 3, "machine.load_average");
        const cJSON *devs = get(root, "devices");
        CHECK(cJSON_GetArraySize(devs) == 1, "one device");
        const cJSON *d0 = cJSON_GetArrayItem(devs, 0);
        CHECK(d0 && has_string(d0, "spec") && strcmp(get(d0, "spec")->valuestring, "cpu:0") == 0, "device spec");
        CHECK(d0 && has_string(d0, "name") && has_string(d0, "driver_version") && has_string(d0, "backend"),
              "device strings");

        const char *groups[] = {"matmul",   "elementwise", "softmax", "rms_norm", "copy",
                                "dispatch", "transfer",    "model",   "memory"};
        int seen[9] = {0};
        int f32_matmul_with_peer = 0, dispatch_with_peer = 0, decode_vs_stream = 0, dispatch_overhead = 0,
            f16_decode = 0, q8_decode = 0, q4_decode = 0, moe_vs_dense = 0, moe_bytes = 0;
        const cJSON *res = get(root, "results");
        CHECK(cJSON_GetArraySize(res) >= 20, "at least 20 figures, got %d", cJSON_GetArraySize(res));
        const cJSON *r;
        cJSON_ArrayForEach(r, res)
        {
            const char *name = has_string(r, "name") ? get(r, "name")->valuestring : "?";
            CHECK(has_string(r, "device") && has_string(r, "group") && has_string(r, "name") && has_string(r, "unit") &&
                      has_string(r, "shape") && has_string(r, "dtype") && has_string(r, "note"),
                  "string keys of %s", name);
            CHECK(cJSON_IsBool(get(r, "failed")) && cJSON_IsBool(get(r, "higher_is_better")), "bools of %s", name);
            CHECK(cJSON_IsFalse(get(r, "failed")), "%s failed: %s", name,
                  has_string(r, "note") ? get(r, "note")->valuestring : "");
            CHECK(cJSON_IsNumber(get(r, "reps")) && get(r, "reps")->valuedouble >= 1, "reps of %s", name);
            const cJSON *md = get(r, "median"), *mn = get(r, "min"), *mx = get(r, "max");
            CHECK(cJSON_IsNumber(md) && cJSON_IsNumber(mn) && cJSON_IsNumber(mx), "statistics of %s", name);
            if (cJSON_IsNumber(md) && cJSON_IsNumber(mn) && cJSON_IsNumber(mx))
                CHECK(mn->valuedouble <= md->valuedouble && md->valuedouble <= mx->valuedouble &&
                          (cJSON_IsFalse(get(r, "higher_is_better")) || mn->valuedouble > 0),
                      "min <= median <= max (rates positive) for %s", name);
            CHECK(get(r, "event_median") && get(r, "ratio") && get(r, "peer"), "event_median, ratio, peer of %s", name);
            const char *g = has_string(r, "group") ? get(r, "group")->valuestring : "";
            if (strcmp(g, "dispatch") == 0 && strstr(name, "above raw")) dispatch_overhead++;
            if (strcmp(g, "model") == 0 && strstr(name, "llama decode (") && strstr(name, ", f16")) f16_decode++;
            if (strcmp(g, "model") == 0 && strstr(name, "llama decode (") && strstr(name, ", q8_0")) q8_decode++;
            if (strcmp(g, "model") == 0 && strstr(name, "llama decode (") && strstr(name, ", q4_0")) q4_decode++;
            if (strcmp(g, "model") == 0 && strcmp(name, "moe weight bytes per decode token") == 0 &&
                cJSON_IsNumber(get(r, "median")))
                moe_bytes++;
            for (int i = 0; i < 9; i++)
                if (strcmp(g, groups[i]) == 0) seen[i] = 1;
            const cJSON *p = get(r, "peer");
            if (cJSON_IsObject(p)) {
                CHECK(has_string(p, "name") && cJSON_IsBool(get(p, "available")) && has_string(p, "note") &&
                          get(p, "median"),
                      "peer keys of %s", name);
                if (cJSON_IsTrue(get(p, "available"))) {
                    CHECK(cJSON_IsNumber(get(p, "median")) && cJSON_IsNumber(get(r, "ratio")),
                          "available peer of %s has a median and a ratio", name);
                    if (strcmp(g, "matmul") == 0 && strstr(get(p, "name")->valuestring, "OpenBLAS"))
                        f32_matmul_with_peer++;
                    if (strcmp(g, "dispatch") == 0) dispatch_with_peer++;
                    if (strcmp(g, "model") == 0 && strstr(get(p, "name")->valuestring, "STREAM")) decode_vs_stream++;
                    if (strcmp(g, "model") == 0 && strncmp(name, "moe ", 4) == 0 &&
                        strcmp(get(p, "name")->valuestring, "dense, same active parameters") == 0)
                        moe_vs_dense++;
                } else {
                    CHECK(get(p, "note")->valuestring[0] != 0, "an absent peer of %s says why", name);
                }
            }
        }
        for (int i = 0; i < 9; i++) CHECK(seen[i], "group %s present", groups[i]);
        CHECK(f32_matmul_with_peer >= 1, "an f32 matmul measured against OpenBLAS");
        CHECK(dispatch_with_peer == 2, "both dispatch figures have the raw-call peer");
        CHECK(dispatch_overhead == 2, "both dispatch overheads above the raw call are figures of their own");
        /* f32 and f16 weights, at the device's threads and (more than one core) at one */
        CHECK(decode_vs_stream >= 2, "decode weight bandwidth compared with STREAM (got %d)", decode_vs_stream);
        CHECK(f16_decode >= 1, "a decode figure with f16 weights");
        CHECK(q8_decode >= 1 && q4_decode >= 1, "decode figures with q8_0 and q4_0 weights (GGUF)");
        /* the mixture of experts: prefill, decode and bytes per token against the dense model
         * with the same active parameters */
        CHECK(moe_vs_dense == 3, "MoE figures against the dense model (got %d)", moe_vs_dense);
        CHECK(moe_bytes == 1, "the MoE's weight bytes per decode token");
        cJSON_Delete(root);
    }
    free(text);

    char *page = slurp(html, &len);
    CHECK(page != NULL, "no HTML written");
    if (page) {
        CHECK(strstr(page, "<!DOCTYPE html>") != NULL && strstr(page, "</html>") != NULL, "a whole page");
        CHECK(strstr(page, "<svg") != NULL, "inline SVG charts");
        CHECK(strstr(page, "<script") == NULL && strstr(page, " src=") == NULL && strstr(page, "<link") == NULL,
              "self-contained (no scripts, no external resources)");
        free(page);
    }

    /* --filter: only the matching figures run; a bad expression is refused with its reason */
    char fjson[256];
    snprintf(fjson, sizeof fjson, "%s/f.json", dir);
    snprintf(cmd, sizeof cmd,
             "'%s' --quick --device cpu:0 --filter '^(softmax|rms_norm) ' --json '%s' > '%s/f.txt' 2>&1", XB_TOOL,
             fjson, dir);
    st = system(cmd);
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "filtered run exited with %d", st);
    text = slurp(fjson, &len);
    root = text ? cJSON_Parse(text) : NULL;
    CHECK(root != NULL, "filtered JSON does not parse");
    if (root) {
        const cJSON *res = get(root, "results"), *r;
        int n = 0, other = 0;
        cJSON_ArrayForEach(r, res)
        {
            const char *name = has_string(r, "name") ? get(r, "name")->valuestring : "?";
            n++;
            if (strncmp(name, "softmax ", 8) != 0 && strncmp(name, "rms_norm ", 9) != 0) other++;
        }
        CHECK(n == 2 && other == 0, "the filter keeps softmax and rms_norm only (%d figures, %d others)", n, other);
        cJSON_Delete(root);
    }
    free(text);
    snprintf(cmd, sizeof cmd, "'%s' --quick --device cpu:0 --filter '(' > '%s/bad.txt' 2>&1", XB_TOOL, dir);
    st = system(cmd);
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) != 0, "a bad --filter fails (status %d)", st);
    snprintf(cmd, sizeof cmd, "%s/bad.txt", dir);
    text = slurp(cmd, &len);
    CHECK(text && strstr(text, "--filter"), "the message names --filter: %s", text ? text : "(none)");
    free(text);

    if (failures == 0) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
        printf("test_bench: OK\n");
        return 0;
    }
    fprintf(stderr, "test_bench: %d failure(s); files kept in %s\n", failures, dir);
    return 1;
}
