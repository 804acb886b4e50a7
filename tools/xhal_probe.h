/*
 * xhal_probe.h - xhal-info --probe (issue 17): each device is exercised in a child process
 * (fork + exec of xhal-info --probe-one SPEC): a stream, three f32 tensors, a write, an add and a
 * read back, checked. The parent prints one line per device: OK, FAILED (with the message),
 * CRASHED (the signal) or TIMEOUT (--timeout S, default 60), so a vendor stack that crashes or
 * hangs on first use is named instead of taking xhal-info down. Plugin loading is isolated
 * before that (xhal_isoload.h): a plugin folder whose loading crashes, hangs or exits is left
 * out and printed as CRASHED or TIMEOUT.
 */
#ifndef XHAL_PROBE_H
#define XHAL_PROBE_H

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "xhal/xhal.h"

/* The child: one small add on spec; prints "OK" or the failing call's message; exit 0 / 1. */
static int xp_probe_one(const xhal_context_options *opts, const char *spec)
{
    xhal_context *ctx = NULL;
    xhal_device *dev = NULL;
    xhal_stream *s = NULL;
    xhal_tensor *a = NULL, *b = NULL, *o = NULL;
    int64_t n = 16;
    float x[16], y[16], r[16];
    for (int i = 0; i < 16; i++) {
        x[i] = (float)i;
        y[i] = 0.5f * (float)i;
    }
    const char *what = "context";
    xhal_status st = xhal_context_create(opts, &ctx);
    if (st == XHAL_OK) what = "device", st = xhal_device_find(ctx, spec, &dev);
    if (st == XHAL_OK) what = "stream", st = xhal_stream_create(dev, &s);
    if (st == XHAL_OK) what = "tensor", st = xhal_tensor_create(dev, XHAL_DTYPE_F32, 1, &n, &a);
    if (st == XHAL_OK) st = xhal_tensor_create(dev, XHAL_DTYPE_F32, 1, &n, &b);
    if (st == XHAL_OK) st = xhal_tensor_create(dev, XHAL_DTYPE_F32, 1, &n, &o);
    if (st == XHAL_OK) what = "write", st = xhal_tensor_write(s, a, x, sizeof x);
    if (st == XHAL_OK) st = xhal_tensor_write(s, b, y, sizeof y);
    if (st == XHAL_OK) what = "add", st = xhal_add(s, a, b, o);
    if (st == XHAL_OK) what = "read", st = xhal_tensor_read(s, o, r, sizeof r);
    int ok = st == XHAL_OK;
    char msg[600];
    snprintf(msg, sizeof msg, "%s: %s", what, st == XHAL_OK ? "" : xhal_last_error());
    for (int i = 0; ok && i < 16; i++)
        if (fabsf(r[i] - 1.5f * (float)i) > 1e-6f) {
            ok = 0;
            snprintf(msg, sizeof msg, "add: element %d is %g, expected %g", i, (double)r[i], 1.5 * i);
        }
    printf("%s\n", ok ? "OK" : msg);
    fflush(stdout);
    xhal_context_destroy(ctx);
    return ok ? 0 : 1;
}

/* The parent: one child per device; prints a line each; returns the number not OK. */
static int xp_probe_all(xhal_context *ctx, const char *plugin_path, double timeout_s, char **argv)
{
    int nd = 0, bad = 0;
    xhal_device_count(ctx, &nd);
    char self[4096];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl <= 0 || (size_t)sl >= sizeof self - 1)
        snprintf(self, sizeof self, "%s", argv[0]);
    else
        self[sl] = '\0';
    printf("probe (each device in a child process, %g s limit):\n", timeout_s);
    for (int i = 0; i < nd; i++) {
        xhal_device *dev = NULL;
        xhal_device_info info;
        if (xhal_device_get(ctx, i, &dev) != XHAL_OK || xhal_device_get_info(dev, &info) != XHAL_OK) continue;
        int pfd[2];
        if (pipe(pfd) != 0) return nd;
        fflush(NULL);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        pid_t pid = fork();
        if (pid == 0) {
            close(pfd[0]);
            dup2(pfd[1], 1);
            if (plugin_path)
                execl(self, self, "--plugin-path", plugin_path, "--probe-one", info.spec, (char *)NULL);
            else
                execl(self, self, "--probe-one", info.spec, (char *)NULL);
            _exit(127);
        }
        close(pfd[1]);
        char out[700] = "";
        size_t got = 0;
        int timed_out = 0;
        for (;;) {
            clock_gettime(CLOCK_MONOTONIC, &t1);
            double left = timeout_s - ((double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9);
            if (left <= 0) {
                timed_out = 1;
                break;
            }
            struct pollfd pf = {pfd[0], POLLIN, 0};
            int pr = poll(&pf, 1, (int)(left * 1000) + 1);
            if (pr < 0 && errno == EINTR) continue;
            if (pr == 0) continue;
            ssize_t r = read(pfd[0], out + got, sizeof out - 1 - got);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            got += (size_t)r;
            if (got == sizeof out - 1) break;
        }
        out[got] = '\0';
        out[strcspn(out, "\n")] = '\0';
        close(pfd[0]);
        if (timed_out && pid > 0) kill(pid, SIGKILL);
        int ws = 0;
        while (pid > 0 && waitpid(pid, &ws, 0) < 0 && errno == EINTR) {}
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-6;
        if (timed_out) {
            printf("  %-12s TIMEOUT: no answer in %g s (killed)\n", info.spec, timeout_s);
            bad++;
        } else if (WIFSIGNALED(ws)) {
            printf("  %-12s CRASHED: killed by signal %d (%s)\n", info.spec, WTERMSIG(ws), strsignal(WTERMSIG(ws)));
            bad++;
        } else if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0 && !strcmp(out, "OK")) {
            printf("  %-12s OK (%.0f ms)\n", info.spec, ms);
        } else {
            printf("  %-12s FAILED (exit status %d): %s\n", info.spec, WIFEXITED(ws) ? WEXITSTATUS(ws) : -1,
                   out[0] ? out : "no answer");
            bad++;
        }
    }
    return bad;
}

#endif
