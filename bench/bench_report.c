/*
 * bench_report.c - the machine-readable report (JSON through cJSON) and a self-contained HTML
 * page with inline SVG bar charts (xhal against its peer, per device and group).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bench_internal.h"

/* ------------------------------------------------------------------------- */
/* JSON                                                                       */
/* ------------------------------------------------------------------------- */
static cJSON *num_or_null(double v, int ok) { return ok && isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

int xb_write_json(const xb_report *rep, const char *path)
{
    const xb_machine *m = &rep->machine;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "tool", "xhal-bench");
    cJSON_AddStringToObject(root, "xhal_version", m->xhal_version);
    cJSON_AddBoolToObject(root, "quick", rep->quick);
    cJSON_AddNumberToObject(root, "wall_s", rep->wall_s);
    cJSON *mach = cJSON_AddObjectToObject(root, "machine");
    cJSON_AddStringToObject(mach, "cpu_model", m->cpu_model);
    cJSON_AddNumberToObject(mach, "cores", m->cores);
    cJSON_AddStringToObject(mach, "kernel", m->kernel);
    cJSON *la = cJSON_AddArrayToObject(mach, "load_average");
    cJSON_AddItemToArray(la, cJSON_CreateNumber(m->load1));
    cJSON_AddItemToArray(la, cJSON_CreateNumber(m->load5));
    cJSON_AddItemToArray(la, cJSON_CreateNumber(m->load15));
    cJSON_AddStringToObject(mach, "date_utc", m->date_utc);
    cJSON_AddStringToObject(mach, "openblas", m->openblas);
    cJSON_AddStringToObject(mach, "clblast", m->clblast);
    cJSON_AddStringToObject(mach, "command", m->command);
    cJSON *devs = cJSON_AddArrayToObject(root, "devices");
    for (int i = 0; i < m->ndev; i++) {
        const xhal_device_info *d = &m->dev[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "spec", d->spec);
        cJSON_AddStringToObject(o, "backend", d->backend);
        cJSON_AddStringToObject(o, "name", d->name);
        cJSON_AddStringToObject(o, "vendor", d->vendor);
        cJSON_AddStringToObject(o, "family", d->family);
        cJSON_AddStringToObject(o, "arch", d->arch);
        cJSON_AddStringToObject(o, "driver_version", d->driver_version);
        cJSON_AddNumberToObject(o, "compute_units", d->compute_units);
        cJSON_AddNumberToObject(o, "total_memory", (double)d->total_memory);
        cJSON_AddBoolToObject(o, "event_timing", (d->caps & XHAL_CAP_EVENT_TIMING) != 0);
        cJSON_AddItemToArray(devs, o);
    }
    cJSON *res = cJSON_AddArrayToObject(root, "results");
    for (int i = 0; i < rep->n; i++) {
        const xb_result *r = &rep->results[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "device", r->device);
        cJSON_AddStringToObject(o, "group", r->group);
        cJSON_AddStringToObject(o, "name", r->name);
        cJSON_AddStringToObject(o, "dtype", r->dtype);
        cJSON_AddStringToObject(o, "shape", r->shape);
        cJSON_AddStringToObject(o, "unit", r->unit);
        cJSON_AddBoolToObject(o, "higher_is_better", r->higher_is_better);
        cJSON_AddBoolToObject(o, "failed", r->failed);
        cJSON_AddNumberToObject(o, "reps", r->reps);
        cJSON_AddItemToObject(o, "median", num_or_null(r->median, !r->failed));
        cJSON_AddItemToObject(o, "min", num_or_null(r->min, !r->failed));
        cJSON_AddItemToObject(o, "max", num_or_null(r->max, !r->failed));
        cJSON_AddItemToObject(o, "event_median", num_or_null(r->event_median, r->event_median >= 0));
        if (r->peer[0]) {
            cJSON *p = cJSON_AddObjectToObject(o, "peer");
            cJSON_AddStringToObject(p, "name", r->peer);
            cJSON_AddBoolToObject(p, "available", r->peer_ok);
            cJSON_AddItemToObject(p, "median", num_or_null(r->peer_median, r->peer_ok));
            cJSON_AddItemToObject(p, "min", num_or_null(r->peer_min, r->peer_ok));
            cJSON_AddItemToObject(p, "max", num_or_null(r->peer_max, r->peer_ok));
            cJSON_AddStringToObject(p, "note", r->peer_note);
        } else {
            cJSON_AddNullToObject(o, "peer");
        }
        cJSON_AddItemToObject(o, "ratio", num_or_null(r->ratio, r->ratio > 0));
        cJSON_AddStringToObject(o, "note", r->note);
        cJSON_AddItemToArray(res, o);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) {
        fprintf(stderr, "xhal-bench: out of memory writing JSON\n");
        return -1;
    }
    FILE *f = fopen(path, "w");
    int rc = 0;
    if (!f || fputs(text, f) < 0 || fputc('\n', f) == EOF) rc = -1;
    if (f && fclose(f) != 0) rc = -1;
    if (rc) fprintf(stderr, "xhal-bench: cannot write %s: %s\n", path, strerror(errno));
    cJSON_free(text);
    return rc;
}

/* ------------------------------------------------------------------------- */
/* HTML                                                                       */
/* ------------------------------------------------------------------------- */
static void esc(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
            case '<': fputs("&lt;", f); break;
            case '>': fputs("&gt;", f); break;
            case '&': fputs("&amp;", f); break;
            case '"': fputs("&quot;", f); break;
            default: fputc(*s, f);
        }
    }
}

/* A horizontal bar chart of the results of one device and group: per figure a bar for xhal
 * (blue) and one for its peer (orange) when measured, both on one scale. */
static void chart(FILE *f, const xb_report *rep, const char *device, const char *g1, const char *g2,
                  const char *unit_only, const char *title)
{
    int idx[256], n = 0;
    double vmax = 0;
    const char *unit = "";
    for (int i = 0; i < rep->n && n < 256; i++) {
        const xb_result *r = &rep->results[i];
        if (strcmp(r->device, device) != 0) continue;
        if (strcmp(r->group, g1) != 0 && (!g2 || strcmp(r->group, g2) != 0)) continue;
        if (!r->higher_is_better) continue;
        if (unit_only && strcmp(r->unit, unit_only) != 0) continue;
        idx[n++] = i;
        unit = r->unit;
        if (!r->failed && r->max > vmax) vmax = r->max;
        if (r->peer_ok && r->peer_max > vmax) vmax = r->peer_max;
    }
    if (n == 0 || vmax <= 0) return;
    const int label_w = 330, bar_w = 560, row_h = 34, top = 34;
    int height = top + n * row_h + 30;
    fprintf(f, "<h3>");
    esc(f, title);
    fprintf(f, " &mdash; %s</h3>\n", device);
    fprintf(f,
            "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' font-family='sans-serif' "
            "font-size='12'>\n",
            label_w + bar_w + 160, height);
    fprintf(f,
            "<rect x='%d' y='6' width='12' height='12' fill='#3b6fd6'/><text x='%d' y='16'>xhal</text>"
            "<rect x='%d' y='6' width='12' height='12' fill='#f08c2e'/><text x='%d' y='16'>peer (what "
            "a user would call instead)</text><text x='%d' y='16' fill='#555'>%s</text>\n",
            label_w, label_w + 16, label_w + 70, label_w + 86, label_w + bar_w - 40, unit);
    for (int k = 0; k <= 4; k++) {
        int x = label_w + bar_w * k / 4;
        fprintf(f,
                "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='#ddd'/><text x='%d' y='%d' fill='#777' "
                "text-anchor='middle'>%.3g</text>\n",
                x, top - 6, x, top + n * row_h, x, top + n * row_h + 14, vmax * k / 4);
    }
    for (int j = 0; j < n; j++) {
        const xb_result *r = &rep->results[idx[j]];
        int y = top + j * row_h;
        fprintf(f, "<text x='%d' y='%d' text-anchor='end'>", label_w - 8, y + 18);
        esc(f, r->name);
        fprintf(f, "</text>\n");
        if (r->failed) {
            fprintf(f, "<text x='%d' y='%d' fill='#b00'>failed</text>\n", label_w + 4, y + 13);
        } else {
            int w = (int)(bar_w * r->median / vmax + 0.5);
            fprintf(f,
                    "<rect x='%d' y='%d' width='%d' height='13' fill='#3b6fd6'/><text x='%d' y='%d'>%.3g"
                    "</text>\n",
                    label_w, y + 3, w, label_w + w + 4, y + 14, r->median);
        }
        if (r->peer_ok) {
            int w = (int)(bar_w * r->peer_median / vmax + 0.5);
            fprintf(f, "<rect x='%d' y='%d' width='%d' height='13' fill='#f08c2e'/><text x='%d' y='%d'>%.3g", label_w,
                    y + 17, w, label_w + w + 4, y + 28, r->peer_median);
            if (r->ratio > 0) fprintf(f, " (xhal/peer %.2f)", r->ratio);
            fprintf(f, "</text>\n");
        } else if (r->peer[0]) {
            fprintf(f, "<text x='%d' y='%d' fill='#999'>%s", label_w + 4, y + 28,
                    strncmp(r->peer_note, "peer unavailable", 16) == 0 ? "" : "peer: ");
            esc(f, r->peer_note[0] ? r->peer_note : "unavailable");
            fprintf(f, "</text>\n");
        }
    }
    fprintf(f, "</svg>\n");
}

static void fmt_num(FILE *f, double v) { fprintf(f, "%.4g", v); }

int xb_write_html(const xb_report *rep, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "xhal-bench: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    const xb_machine *m = &rep->machine;
    fprintf(f, "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>xhal-bench</title>\n<style>"
               "body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse;font-size:12px}"
               "td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}th{background:#eee}"
               "td.n{text-align:right;font-variant-numeric:tabular-nums}.fail{color:#b00}.dim{color:#777}"
               "</style></head><body>\n");
    fprintf(f, "<h1>xhal-bench</h1>\n<p>");
    esc(f, m->cpu_model);
    fprintf(f, ", %d cores, ", m->cores);
    esc(f, m->kernel);
    fprintf(f, "<br>measured %s, load average %.2f %.2f %.2f, %s run, %.0f s<br>OpenBLAS: ", m->date_utc, m->load1,
            m->load5, m->load15, rep->quick ? "quick" : "full", rep->wall_s);
    esc(f, m->openblas);
    fprintf(f, "; CLBlast: ");
    esc(f, m->clblast);
    fprintf(f, "<br>command: <code>");
    esc(f, m->command);
    fprintf(f, "</code></p>\n<table><tr><th>device</th><th>name</th><th>vendor</th><th>driver</th>"
               "<th>compute units</th></tr>\n");
    for (int i = 0; i < m->ndev; i++) {
        const xhal_device_info *d = &m->dev[i];
        fprintf(f, "<tr><td>%s</td><td>", d->spec);
        esc(f, d->name);
        fprintf(f, "</td><td>");
        esc(f, d->vendor);
        fprintf(f, "</td><td>");
        esc(f, d->driver_version);
        fprintf(f, "</td><td class='n'>%d</td></tr>\n", d->compute_units);
    }
    fprintf(f, "</table>\n");
    for (int i = 0; i < m->ndev; i++) {
        const char *spec = m->dev[i].spec;
        chart(f, rep, spec, "matmul", NULL, NULL, "matmul GFLOP/s, xhal against the peer");
        chart(f, rep, spec, "elementwise", "softmax", NULL, "add and softmax GB/s");
        chart(f, rep, spec, "rms_norm", "copy", NULL, "rms_norm and copy GB/s");
        chart(f, rep, spec, "transfer", NULL, NULL, "host/device transfer GB/s");
        chart(f, rep, spec, "model", NULL, "tokens/s", "model port tokens/s");
        chart(f, rep, spec, "model", NULL, "GB/s", "model port decode: weight bytes/s against STREAM triad");
    }
    chart(f, rep, "host", "memory", NULL, NULL, "memory bandwidth (STREAM-like)");
    fprintf(f, "<h2>All figures</h2>\n<table><tr><th>device</th><th>figure</th><th>shape</th><th>median</th>"
               "<th>min</th><th>max</th><th>unit</th><th>n</th><th>peer</th><th>peer median</th>"
               "<th>ratio</th><th>note</th></tr>\n");
    for (int i = 0; i < rep->n; i++) {
        const xb_result *r = &rep->results[i];
        fprintf(f, "<tr><td>%s</td><td>", r->device);
        esc(f, r->name);
        fprintf(f, "</td><td>");
        esc(f, r->shape);
        fprintf(f, "</td>");
        if (r->failed) {
            fprintf(f, "<td colspan='3' class='fail'>failed</td>");
        } else {
            fprintf(f, "<td class='n'>");
            fmt_num(f, r->median);
            fprintf(f, "</td><td class='n'>");
            fmt_num(f, r->min);
            fprintf(f, "</td><td class='n'>");
            fmt_num(f, r->max);
            fprintf(f, "</td>");
        }
        fprintf(f, "<td>%s</td><td class='n'>%d</td><td>", r->unit, r->reps);
        esc(f, r->peer);
        fprintf(f, "</td><td class='n'>");
        if (r->peer_ok)
            fmt_num(f, r->peer_median);
        else if (r->peer[0]) {
            fprintf(f, "<span class='dim'>");
            esc(f, r->peer_note);
            fprintf(f, "</span>");
        }
        fprintf(f, "</td><td class='n'>");
        if (r->ratio > 0) fprintf(f, "%.2f", r->ratio);
        fprintf(f, "</td><td class='dim'>");
        esc(f, r->note);
        fprintf(f, "</td></tr>\n");
    }
    fprintf(f, "</table>\n<p class='dim'>ratio: xhal/peer for rates; peer/xhal for latencies (above 1: xhal "
               "faster).</p>\n</body></html>\n");
    if (fclose(f) != 0) {
        fprintf(stderr, "xhal-bench: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}
