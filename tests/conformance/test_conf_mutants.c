/* The kill rate: the conformance suite (ops + vectors, selected by the mutant's op) against
 * every mutant backend of mutants.h. Mutant 0 (the CPU backend through the same wrapper,
 * no defect) must pass everything; every other mutant must fail at least one case. Writes
 * XC_MUTANT_REPORT_DIR/mutants.md and mutants.json (mutant, defect, killed, the cases that
 * killed it) and prints the table. */
#include <stdlib.h>
#include <sys/stat.h>
#include "xtest.h"
#include "xc_conform.h"
#include "mutants.h"

static const struct {
    const char *name, *op, *how, *what;
} M[] = {{"none", "-", "-", "the CPU backend through the wrapper, no defect"},
#define XC_MUTANT_ROW(name, op, how, what) {#name, #op, how, what},
         XC_MUTANTS(XC_MUTANT_ROW)
#undef XC_MUTANT_ROW
};

typedef struct kill {
    int selected, failed, unsupported, failed_ops; /* failed_ops: in the built-in (ops) suite */
    char first[3][128];
    char message[512];
} kill;

static void run_mutant(int k, kill *out)
{
    memset(out, 0, sizeof(*out));
    char env[16];
    snprintf(env, sizeof(env), "%d", k);
    setenv("XHAL_MUTANT", env, 1);
    xhal_context_options o;
    xhal_context_options_init(&o);
    o.flags = XHAL_CONTEXT_NO_DEFAULT_PLUGINS | XHAL_CONTEXT_IGNORE_ENV_PATH;
    o.plugin_path = XC_MUTANT_PLUGIN_DIR;
    xhal_context *ctx = NULL;
    xhal_device *dev = NULL;
    CHECK_OK(xhal_context_create(&o, &ctx));
    CHECK_OK(xhal_device_find(ctx, "mutant:0", &dev));
    if (!dev) {
        xhal_context_destroy(ctx);
        return;
    }
    /* the op's built-in cases and vectors (as xhal-conform --op <name>) */
    char op[32];
    size_t oi = 0;
    for (; M[k].op[oi] && oi + 1 < sizeof(op); oi++)
        op[oi] = (char)(M[k].op[oi] >= 'A' && M[k].op[oi] <= 'Z' ? M[k].op[oi] - 'A' + 'a' : M[k].op[oi]);
    op[oi] = 0;
    xc_options opt = {
        XC_SUITE_OPS | XC_SUITE_VECTORS, NULL, XC_TEST_VECTORS_DIR, NULL, NULL, 20240607, NULL, k ? op : NULL};
    xc_case_list sel;
    char msg[512];
    CHECK(xc_select_cases(&opt, &sel, msg, sizeof(msg)) == 0);
    out->selected = sel.n;
    xc_run run;
    xc_run_init(&run);
    CHECK(xc_run_device(&run, ctx, dev, &sel, &opt, msg, sizeof(msg)) == 0);
    if (run.n_devs == 1) {
        const xc_device_report *d = &run.devs[0];
        out->failed = d->counts[XC_FAIL];
        out->unsupported = d->counts[XC_UNSUPPORTED];
        int n = 0;
        for (int i = 0; i < d->n; i++) {
            if (d->results[i].outcome != XC_FAIL) continue;
            if (!strcmp(d->results[i].suite, "ops")) out->failed_ops++;
            if (n == 0) snprintf(out->message, sizeof(out->message), "%s", d->results[i].message);
            if (n < 3) snprintf(out->first[n], sizeof(out->first[n]), "%s", d->results[i].name);
            n++;
        }
    }
    xc_run_free(&run);
    xc_case_list_free(&sel);
    xhal_context_destroy(ctx);
}

static void md_cell(FILE *f, const char *s)
{
    for (; *s; s++) fputs(*s == '|' ? "\\|" : (char[]){*s, 0}, f);
}

int main(void)
{
    int n = (int)(sizeof(M) / sizeof(M[0]));
    kill *K = calloc((size_t)n, sizeof(kill));
    int killed = 0, killed_ops = 0;
    for (int k = 0; k < n; k++) {
        run_mutant(k, &K[k]);
        if (k == 0) {
            if (K[0].failed)
                fprintf(stderr, "control (no defect) failed %d cases, first %s: %s\n", K[0].failed, K[0].first[0],
                        K[0].message);
            CHECK(K[0].failed == 0 && K[0].selected > 1000);
        } else {
            if (K[k].failed) killed++;
            if (K[k].failed_ops)
                killed_ops++;
            else
                fprintf(stderr, "SURVIVED: mutant %d %s (%s) over %d cases\n", k, M[k].name, M[k].what, K[k].selected);
        }
    }
    int total = n - 1;
    mkdir(XC_MUTANT_REPORT_DIR, 0777);
    FILE *md = fopen(XC_MUTANT_REPORT_DIR "/mutants.md", "w");
    FILE *js = fopen(XC_MUTANT_REPORT_DIR "/mutants.json", "w");
    CHECK(md && js);
    if (md && js) {
        fprintf(md,
                "# Mutant kill report\n\nKilled %d of %d mutants (%.1f%%), %d of them by the built-in ops suite alone; "
                "the control (no defect) failed %d of %d cases.\n\n",
                killed, total, 100.0 * killed / total, killed_ops, K[0].failed, K[0].selected);
        fprintf(md, "| # | mutant | op | kind | defect | cases run | failed (ops suite) | killed by (first cases) | "
                    "first message |\n|---|---|---|---|---|---|---|---|---|\n");
        fprintf(js,
                "{\"killed\": %d, \"killed_by_ops_suite\": %d, \"total\": %d, \"control_failed\": %d, \"mutants\": [\n",
                killed, killed_ops, total, K[0].failed);
        for (int k = 1; k < n; k++) {
            fprintf(md, "| %d | %s | %s | %s | %s | %d | %d (%d) | ", k, M[k].name, M[k].op, M[k].how, M[k].what,
                    K[k].selected, K[k].failed, K[k].failed_ops);
            for (int i = 0; i < 3 && K[k].first[i][0]; i++) fprintf(md, "%s`%s`", i ? ", " : "", K[k].first[i]);
            if (!K[k].failed) fprintf(md, "**SURVIVED**");
            fprintf(md, " | ");
            md_cell(md, K[k].message);
            fprintf(md, " |\n");
            fprintf(js,
                    "  {\"id\": %d, \"mutant\": \"%s\", \"op\": \"%s\", \"killed\": %s, \"cases\": %d, \"failed\": %d, "
                    "\"first_killer\": \"%s\"}%s\n",
                    k, M[k].name, M[k].op, K[k].failed ? "true" : "false", K[k].selected, K[k].failed, K[k].first[0],
                    k + 1 < n ? "," : "");
        }
        fprintf(js, "]}\n");
    }
    if (md) fclose(md);
    if (js) fclose(js);
    printf("mutants: killed %d of %d (%.1f%%), %d by the ops suite alone; report: %s/mutants.md\n", killed, total,
           100.0 * killed / total, killed_ops, XC_MUTANT_REPORT_DIR);
    for (int k = 1; k < n; k++)
        printf("  %2d %-26s %-8s %s\n", k, M[k].name, K[k].failed ? "killed" : "SURVIVED",
               K[k].failed ? K[k].first[0] : M[k].what);
    CHECK(killed == total);
    free(K);
    return xtest_finish("test_conf_mutants");
}
