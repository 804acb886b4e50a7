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

static int xi_isolate = 1;        /* --no-isolate turns it off */
static double xi_timeout = 1800;  /* seconds per device (--timeout) */
static int xi_child_fd = -1;      /* --isolated-child FD: this process is a child */
static int xi_list_fd = -1;       /* --list-devices-child FD: this process lists the devices */

static const char xi_magic[8] = {'X', 'H', 'A', 'L', 'I', 'S', 'O', '1'};

/* Isolation options; 1 if a[i] was one (*i advanced past its value), 0 if not, -1 if bad. */
static int xi_parse_arg(int argc, char **argv, int *i)
{
    const char *a = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    if (!strcmp(a, "--isolate")) { xi_isolate = 1; return 1; }
    if (!strcmp(a, "--no-isolate")) { xi_isolate = 0; return 1; }
    if (!strcmp(a, "--timeout") || !strcmp(a, "--isolated-child") || !strcmp(a, "--list-devices-child")) {
        char *e = NULL;
        double x = v ? strtod(v, &e) : 0;
        if (!v || e == v || *e || !(x > 0) || x > 1e7) {
            fprintf(stderr, "xhal-conform: %s needs a positive number\n", a);
            return -1;
        }
        if (a[2] == 't') xi_timeout = x;
        else if (a[2] == 'l') xi_list_fd = (int)x;
        else xi_child_fd = (int)x;
        (*i)++;
        return 1;
    }
    return 0;
}

static int xi_write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads exactly n bytes before the deadline (CLOCK_MONOTONIC seconds); 0, -1 on EOF/error,
 * -2 on timeout. */
static int xi_read_all(int fd, void *p, size_t n, double deadline)
{
    char *c = p;
    while (n) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        double left = deadline - ((double)ts.tv_sec + ts.tv_nsec * 1e-9);
        if (left <= 0) return -2;
        struct pollfd pf = {fd, POLLIN, 0};
        int pr = poll(&pf, 1, left > 60 ? 60000 : (int)(left * 1000) + 1);
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) continue;
        ssize_t r = read(fd, c, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        c += r;
        n -= (size_t)r;
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
    if (dev) xhal_device_get_info(dev, &d->info);
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
    snprintf(r->detail, sizeof r->detail, "%s", dev ? "the device ran in a child process (xhal-conform --isolate); "
             "its results are lost" : "its plugins were loaded in a child process (xhal-conform --isolate) and are "
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
    if (sl <= 0 || (size_t)sl >= sizeof self - 1) snprintf(self, sizeof self, "%s", argv[0]);
    else self[sl] = '\0';
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

/* ---- isolated plugin loading ---- */

static const char xi_list_magic[8] = {'X', 'H', 'A', 'L', 'L', 'S', 'T', '1'};

/* --list-devices-child FD: load the plugins, list every device, answer, end. */
static void xi_list_child(void)
{
    xhal_context *ctx = NULL;
    int n = -1;
    if (xhal_context_create(NULL, &ctx) == XHAL_OK && xhal_device_count(ctx, &n) == XHAL_OK) {
        for (int i = 0; i < n; i++) {
            xhal_device *d = NULL;
            xhal_device_info info;
            if (xhal_device_get(ctx, i, &d) == XHAL_OK) xhal_device_get_info(d, &info);
        }
    }
    xhal_context_destroy(ctx);
    int ok = xi_write_all(xi_list_fd, xi_list_magic, 8) == 0 && xi_write_all(xi_list_fd, &n, sizeof n) == 0;
    _exit(ok ? 0 : 4);
}

/* Runs a listing child with XHAL_PLUGIN_PATH = path (NULL: as inherited). 0 if it answered,
 * else -1 with what ("CRASHED"/"TIMEOUT") and why filled in. */
static int xi_try_listing(char **argv, const char *path, const char **what, char *why, size_t whysz)
{
    int pfd[2];
    if (pipe(pfd) != 0) {
        *what = "CRASHED";
        snprintf(why, whysz, "pipe: %s", strerror(errno));
        return -1;
    }
    char self[4096], fdbuf[16];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl <= 0 || (size_t)sl >= sizeof self - 1) snprintf(self, sizeof self, "%s", argv[0]);
    else self[sl] = '\0';
    snprintf(fdbuf, sizeof fdbuf, "%d", pfd[1]);
    char *av[] = {argv[0], "--list-devices-child", fdbuf, NULL};
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        if (path) setenv("XHAL_PLUGIN_PATH", path, 1);
        execv(self, av);
        _exit(127);
    }
    close(pfd[1]);
    if (pid < 0) {
        close(pfd[0]);
        *what = "CRASHED";
        snprintf(why, whysz, "fork: %s", strerror(errno));
        return -1;
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double deadline = (double)ts.tv_sec + ts.tv_nsec * 1e-9 + xi_timeout;
    char magic[8];
    int n = 0, r = xi_read_all(pfd[0], magic, 8, deadline);
    if (r == 0 && memcmp(magic, xi_list_magic, 8) != 0) r = -1;
    if (r == 0) r = xi_read_all(pfd[0], &n, sizeof n, deadline);
    close(pfd[0]);
    if (r == -2) kill(pid, SIGKILL);
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {}
    if (r == 0 && WIFEXITED(ws) && WEXITSTATUS(ws) == 0) return 0;
    *what = "CRASHED";
    if (r == -2) {
        *what = "TIMEOUT";
        snprintf(why, whysz, "loading the plugins took longer than %g s (--timeout); the process was killed", xi_timeout);
    } else if (WIFSIGNALED(ws)) {
        snprintf(why, whysz, "the process loading the plugins was killed by signal %d (%s)", WTERMSIG(ws),
                 strsignal(WTERMSIG(ws)));
    } else {
        snprintf(why, whysz, "the process loading the plugins exited with status %d before listing the devices",
                 WIFEXITED(ws) ? WEXITSTATUS(ws) : -1);
    }
    return -1;
}

typedef struct xi_load_failure {
    char spec[64], what[16], why[1024];
} xi_load_failure;

/* The plugin files of a folder as backend names ("libxhal-NAME.so" -> NAME), comma-separated. */
static void xi_folder_names(const char *dir, char *out, size_t outsz)
{
    out[0] = '\0';
    DIR *d = opendir(dir);
    if (!d) return;
    size_t o = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t l = strlen(e->d_name);
        if (strncmp(e->d_name, "libxhal-", 8) != 0 || l < 12 || strcmp(e->d_name + l - 3, ".so") != 0) continue;
        int w = snprintf(out + o, outsz - o, "%s%.*s", o ? "," : "", (int)(l - 11), e->d_name + 8);
        if (w < 0 || (size_t)w >= outsz - o) break;
        o += (size_t)w;
    }
    closedir(d);
}

/* Parent side, before its context: loads the plugins in a child; if that fails, one child per
 * XHAL_PLUGIN_PATH folder (and one for the installation's folder alone) finds the folders that
 * load, XHAL_PLUGIN_PATH is narrowed to them, and each failing folder is added to fails
 * (caller frees). 0, or -1 with msg if nothing could be narrowed (the installation's plugins
 * themselves fail). */
static int xi_isolated_loading(char **argv, xi_load_failure **fails, int *n_fails, char *msg, size_t msgsz)
{
    *fails = NULL;
    *n_fails = 0;
    const char *what = NULL;
    char why[900];
    if (xi_try_listing(argv, NULL, &what, why, sizeof why) == 0) return 0;
    fprintf(stderr, "xhal-conform: loading the plugins failed (%s: %s); trying each plugin folder alone\n", what, why);
    if (xi_try_listing(argv, "", &what, why, sizeof why) != 0) {
        snprintf(msg, msgsz, "the installation's own plugins fail to load (%s: %s)", what, why);
        return -1;
    }
    const char *env = getenv("XHAL_PLUGIN_PATH");
    char *list = strdup(env ? env : ""), *keep = calloc(1, strlen(env ? env : "") + 1);
    if (!list || !keep) {
        free(list);
        free(keep);
        snprintf(msg, msgsz, "out of memory");
        return -1;
    }
    char *save = NULL;
    for (char *dir = strtok_r(list, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        if (!*dir) continue;
        if (xi_try_listing(argv, dir, &what, why, sizeof why) == 0) {
            if (*keep) strcat(keep, ":");
            strcat(keep, dir);
            continue;
        }
        xi_load_failure *nf = realloc(*fails, sizeof *nf * (size_t)(*n_fails + 1));
        if (!nf) break;
        *fails = nf;
        xi_load_failure *f = &nf[(*n_fails)++];
        char names[256];
        xi_folder_names(dir, names, sizeof names);
        snprintf(f->spec, sizeof f->spec, "%s", *names ? names : "plugins");
        snprintf(f->what, sizeof f->what, "%s", what);
        snprintf(f->why, sizeof f->why, "plugin folder %s (%s): %s", dir, *names ? names : "no libxhal-*.so", why);
        fprintf(stderr, "xhal-conform: %s %s: %s; its plugins are left out\n", f->spec, what, f->why);
    }
    setenv("XHAL_PLUGIN_PATH", keep, 1);
    free(list);
    free(keep);
    return 0;
}

/* 1 if spec ("NAME:N" or "NAME") names a backend of a folder that failed to load. */
static int xi_spec_failed(const char *spec, const xi_load_failure *fails, int n_fails)
{
    size_t bl = strcspn(spec, ":");
    for (int i = 0; i < n_fails; i++)
        for (const char *p = fails[i].spec; *p;) {
            size_t l = strcspn(p, ",");
            if (l == bl && !strncmp(p, spec, bl)) return 1;
            p += l + (p[l] == ',');
        }
    return 0;
}

#endif
