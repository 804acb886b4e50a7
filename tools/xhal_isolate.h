/*
 * xhal_isolate.h - xhal-conform's isolation mode (issue 17), kept apart from the tool's
 * reporting: each device runs in a child process (fork + exec of this same program with
 * --device SPEC and an internal --isolated-child FD), which sends its device report back
 * through a pipe. A child that dies on a signal (a SIGSEGV or abort in a vendor plugin), exits
 * without a report (exit() inside a plugin) or outlives --timeout becomes one FAIL result named
 * CRASHED or TIMEOUT for that device; the other devices complete and the report is written.
 *
 * Plugin loading is isolated too: before the parent creates its context, a child
 * (--list-devices-child FD) loads every plugin and lists the devices. If it dies, hangs or
 * exits without its answer, one child per plugin folder (XHAL_PLUGIN_PATH's folders, and the
 * installation's alone) finds the folders that load; the parent and the device children then
 * use only those (XHAL_PLUGIN_PATH is narrowed), and each failing folder becomes a CRASHED or
 * TIMEOUT result naming its plugin files.
 *
 * Limits: a failure is located to a plugin folder, not to one file of a folder holding several;
 * a crash in the installation's own folder cannot be narrowed away (the run then fails at
 * context creation, after the CRASHED line); a crashed device's partial results are lost (the
 * report holds only CRASHED).
 * The child is a fresh exec, not a bare fork: vendor runtimes (PoCL's worker threads, CUDA) do
 * not survive fork.
 */
#ifndef XHAL_ISOLATE_H
#define XHAL_ISOLATE_H

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "xc_conform.h"
#include "xhal_isoload.h"

static int xi_isolate = 1;   /* --no-isolate turns it off */
static int xi_child_fd = -1; /* --isolated-child FD: this process is a child */

static const char xi_magic[8] = {'X', 'H', 'A', 'L', 'I', 'S', 'O', '1'};

/* Isolation options; 1 if a[i] was one (*i advanced past its value), 0 if not, -1 if bad. */
static int xi_parse_arg(int argc, char **argv, int *i)
{
    const char *a = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    if (!strcmp(a, "--isolate")) {
        xi_isolate = 1;
        return 1;
    }
    if (!strcmp(a, "--no-isolate")) {
        xi_isolate = 0;
        return 1;
    }
    if (!strcmp(a, "--timeout") || !strcmp(a, "--isolated-child") || !strcmp(a, "--list-devices-child")) {
        char *e = NULL;
        double x = v ? strtod(v, &e) : 0;
        if (!v || e == v || *e || !(x > 0) || x > 1e7) {
            fprintf(stderr, "xhal-conform: %s needs a positive number\n", a);
            return -1;
        }
        if (a[2] == 't')
            xi_timeout = x;
        else if (a[2] == 'l')
            xi_list_fd = (int)x;
        else
            xi_child_fd = (int)x;
        (*i)++;
        return 1;
    }
    return 0;
}

/* The device report of a device whose child gave none: one FAIL result saying why. dev NULL:
 * a plugin folder that did not load; spec then names it. */
static int xi_append_failure(xc_run *run, xhal_device *dev, const char *spec, const char *what, const char *why)
{
    xc_device_report *nd = realloc(run->devs, sizeof(*nd) * (size_t)(run->n_devs + 1));
    if (!nd) return -1;
    run->devs = nd;
    xc_device_report *d = &run->devs[run->n_devs];
    memset(d, 0, sizeof *d);
    if (dev)
        xhal_device_get_info(dev, &d->info);
    else {
        snprintf(d->info.spec, sizeof d->info.spec, "%s", spec);
        snprintf(d->info.name, sizeof d->info.name, "plugin that did not load");
    }
    d->results = calloc(1, sizeof *d->results);
    if (!d->results) return -1;
    d->n = d->cap = 1;
    xc_result *r = &d->results[0];
    snprintf(r->suite, sizeof r->suite, "ops");
    snprintf(r->name, sizeof r->name, "isolation/%s", what);
    snprintf(r->op, sizeof r->op, "-");
    snprintf(r->dtype, sizeof r->dtype, "-");
    r->outcome = XC_FAIL;
    snprintf(r->message, sizeof r->message, "%s: %s", what, why);
    snprintf(r->detail, sizeof r->detail, "%s",
             dev ? "the device ran in a child process (xhal-conform --isolate); "
                   "its results are lost"
                 : "its plugins were loaded in a child process (xhal-conform --isolate) and are "
                   "left out of this run");
    d->counts[XC_FAIL] = 1;
    run->n_devs++;
    return 0;
}

/* Child side: send rc, msg, the last device report, its results and the expected-failure
 * "used" flags; then end the process without running anything else. */
static void xi_child_send(const xc_run *run, int rc, const char *msg, const xc_options *opt)
{
    const xc_device_report *d = run->n_devs ? &run->devs[run->n_devs - 1] : NULL;
    int has = d != NULL, nx = opt->xfail ? opt->xfail->n : 0;
    char m[512];
    snprintf(m, sizeof m, "%s", msg ? msg : "");
    int ok = xi_write_all(xi_child_fd, xi_magic, 8) == 0 && xi_write_all(xi_child_fd, &rc, sizeof rc) == 0 &&
             xi_write_all(xi_child_fd, m, sizeof m) == 0 && xi_write_all(xi_child_fd, &has, sizeof has) == 0;
    if (ok && has)
        ok = xi_write_all(xi_child_fd, d, sizeof *d) == 0 &&
             xi_write_all(xi_child_fd, d->results, sizeof *d->results * (size_t)d->n) == 0;
    if (ok) ok = xi_write_all(xi_child_fd, &nx, sizeof nx) == 0;
    for (int k = 0; ok && k < nx; k++) ok = xi_write_all(xi_child_fd, &opt->xfail->e[k].used, sizeof(int)) == 0;
    fflush(NULL);
    _exit(ok ? 0 : 4);
}

/* Runs the cases on dev: in this process (no isolation, or in a child), else in a child. */
static int xi_run_device(xc_run *run, xhal_context *ctx, xhal_device *dev, const xc_case_list *cases,
                         const xc_options *opt, char *msg, size_t msgsz, int argc, char **argv)
{
    if (!xi_isolate || xi_child_fd >= 0) {
        int rc = xc_run_device(run, ctx, dev, cases, opt, msg, msgsz);
        if (xi_child_fd >= 0) xi_child_send(run, rc, rc ? msg : "", opt);
        return rc;
    }
    xhal_device_info info;
    if (xhal_device_get_info(dev, &info) != XHAL_OK) {
        snprintf(msg, msgsz, "%s", xhal_last_error());
        return -1;
    }
    int pfd[2];
    if (pipe(pfd) != 0) {
        snprintf(msg, msgsz, "pipe: %s", strerror(errno));
        return -1;
    }
    /* child argv: ours without --device/--report/--list, plus the device and the pipe */
    char **av = calloc((size_t)argc + 8, sizeof *av);
    char fdbuf[16];
    if (!av) {
        close(pfd[0]);
        close(pfd[1]);
        snprintf(msg, msgsz, "out of memory");
        return -1;
    }
    int k = 0;
    av[k++] = argv[0];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--device") || !strcmp(argv[i], "--report") || !strcmp(argv[i], "--timeout")) {
            i++;
            continue;
        }
        if (!strcmp(argv[i], "--isolate")) continue;
        av[k++] = argv[i];
    }
    snprintf(fdbuf, sizeof fdbuf, "%d", pfd[1]);
    av[k++] = "--device";
    av[k++] = info.spec;
    av[k++] = "--quiet";
    av[k++] = "--isolated-child";
    av[k++] = fdbuf;
    av[k] = NULL;
    /* readlink rather than exec of /proc/self/exe itself: valgrind reports the client's path */
    char self[4096];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl <= 0 || (size_t)sl >= sizeof self - 1)
        snprintf(self, sizeof self, "%s", argv[0]);
    else
        self[sl] = '\0';
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        execv(self, av);
        _exit(127);
    }
    free(av);
    close(pfd[1]);
    if (pid < 0) {
        close(pfd[0]);
        snprintf(msg, msgsz, "fork: %s", strerror(errno));
        return -1;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double deadline = (double)ts.tv_sec + ts.tv_nsec * 1e-9 + xi_timeout;
    char magic[8], cmsg[512];
    int crc = 0, has = 0, nx = 0, r;
    xc_device_report d;
    memset(&d, 0, sizeof d);
    r = xi_read_all(pfd[0], magic, 8, deadline);
    if (r == 0 && memcmp(magic, xi_magic, 8) != 0) r = -1;
    if (r == 0) r = xi_read_all(pfd[0], &crc, sizeof crc, deadline);
    if (r == 0) r = xi_read_all(pfd[0], cmsg, sizeof cmsg, deadline);
    if (r == 0) r = xi_read_all(pfd[0], &has, sizeof has, deadline);
    if (r == 0 && has) {
        r = xi_read_all(pfd[0], &d, sizeof d, deadline);
        d.results = NULL;
        if (r == 0 && (d.n < 0 || d.n > 10000000)) r = -1;
        if (r == 0 && d.n > 0 && !(d.results = malloc(sizeof *d.results * (size_t)d.n))) r = -1;
        if (r == 0 && d.n > 0) r = xi_read_all(pfd[0], d.results, sizeof *d.results * (size_t)d.n, deadline);
        d.cap = d.n;
    }
    if (r == 0) r = xi_read_all(pfd[0], &nx, sizeof nx, deadline);
    for (int i = 0; r == 0 && i < nx; i++) {
        int used = 0;
        r = xi_read_all(pfd[0], &used, sizeof used, deadline);
        if (r == 0 && opt->xfail && i < opt->xfail->n && used) opt->xfail->e[i].used = 1;
    }
    close(pfd[0]);
    if (r == -2) kill(pid, SIGKILL);
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {}
    if (r == 0 && WIFEXITED(ws) && WEXITSTATUS(ws) == 0) {
        if (crc != 0) {
            free(d.results);
            snprintf(msg, msgsz, "%s", cmsg);
            return -1;
        }
        if (has) {
            xc_device_report *nd = realloc(run->devs, sizeof(*nd) * (size_t)(run->n_devs + 1));
            if (!nd) {
                free(d.results);
                snprintf(msg, msgsz, "out of memory");
                return -1;
            }
            run->devs = nd;
            run->devs[run->n_devs++] = d;
        }
        return 0;
    }
    free(d.results);
    char why[256];
    const char *what = "CRASHED";
    if (r == -2) {
        what = "TIMEOUT";
        snprintf(why, sizeof why, "%s ran longer than %g s (--timeout) and was killed", info.spec, xi_timeout);
    } else if (WIFSIGNALED(ws)) {
        snprintf(why, sizeof why, "the process running %s was killed by signal %d (%s)", info.spec, WTERMSIG(ws),
                 strsignal(WTERMSIG(ws)));
    } else {
        snprintf(why, sizeof why, "the process running %s exited with status %d without a report", info.spec,
                 WIFEXITED(ws) ? WEXITSTATUS(ws) : -1);
    }
    fprintf(stderr, "xhal-conform: %s %s: %s\n", info.spec, what, why);
    if (xi_append_failure(run, dev, NULL, what, why) != 0) {
        snprintf(msg, msgsz, "out of memory");
        return -1;
    }
    return 0;
}

#endif
