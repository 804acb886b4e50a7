/*
 * xhal_isoload.h - isolated plugin loading for xhal-conform --isolate and xhal-info --probe
 * (issue 17). A plugin that segfaults, hangs or calls exit() in its entry point or init would
 * take the tool down if the tool's own process loaded it first. So before the tool creates its
 * context, a child (the tool exec'd with --list-devices-child FD) loads the plugins and lists
 * the devices; if it dies, hangs (the tool's timeout) or ends without answering, one child per
 * XHAL_PLUGIN_PATH folder, plus one with that variable empty, finds the folders that load.
 * XHAL_PLUGIN_PATH is narrowed to those, so the tool and its later children never load the
 * others, and each failing folder is returned, named after its libxhal-NAME.so files.
 * Limits: a failure is located to a folder, not to one of several files in it; plugins outside
 * XHAL_PLUGIN_PATH (the installation's folder, --plugin-path) cannot be narrowed away.
 */
#ifndef XHAL_ISOLOAD_H
#define XHAL_ISOLOAD_H

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

#include "xhal/xhal.h"

static double xi_timeout = 1800; /* seconds a child may run (--timeout) */

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

/* ---- isolated plugin loading ---- */

static int xi_list_fd = -1; /* --list-devices-child FD: this process lists the devices */
static const char *xi_tool = "xhal-conform";
static const char *xi_extra_path = NULL; /* a --plugin-path the listing child must see too */

static const char xi_list_magic[8] = {'X', 'H', 'A', 'L', 'L', 'S', 'T', '1'};

/* --list-devices-child FD: load the plugins, list every device, answer, end. */
static void xi_list_child(void)
{
    xhal_context *ctx = NULL;
    xhal_context_options o;
    xhal_context_options_init(&o);
    o.plugin_path = xi_extra_path;
    int n = -1;
    if (xhal_context_create(&o, &ctx) == XHAL_OK && xhal_device_count(ctx, &n) == XHAL_OK) {
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
    if (sl <= 0 || (size_t)sl >= sizeof self - 1)
        snprintf(self, sizeof self, "%s", argv[0]);
    else
        self[sl] = '\0';
    snprintf(fdbuf, sizeof fdbuf, "%d", pfd[1]);
    char *av[] = {argv[0], "--list-devices-child", fdbuf, NULL, NULL, NULL};
    if (xi_extra_path) {
        av[3] = "--plugin-path";
        av[4] = (char *)xi_extra_path;
    }
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
        snprintf(why, whysz, "loading the plugins took longer than %g s (--timeout); the process was killed",
                 xi_timeout);
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
    fprintf(stderr, "%s: loading the plugins failed (%s: %s); trying each plugin folder alone\n", xi_tool, what, why);
    if (xi_try_listing(argv, "", &what, why, sizeof why) != 0) {
        snprintf(msg, msgsz, "the plugins outside XHAL_PLUGIN_PATH (the installation's%s) fail to load (%s: %s)",
                 xi_extra_path ? ", --plugin-path" : "", what, why);
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
        fprintf(stderr, "%s: %s %s: %s; its plugins are left out\n", xi_tool, f->spec, what, f->why);
    }
    setenv("XHAL_PLUGIN_PATH", keep, 1);
    free(list);
    free(keep);
    return 0;
}

/* 1 if spec ("NAME:N" or "NAME") names a backend of a folder that failed to load. */
static inline int xi_spec_failed(const char *spec, const xi_load_failure *fails, int n_fails)
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
