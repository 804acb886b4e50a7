/* loader.c - finds backend plugins, checks their ABI and required entries, initialises them.
 *
 * Search order: the context's plugin_path, then XHAL_PLUGIN_PATH (ignored in setuid/setgid
 * processes), then the "xhal" folder beside libxhal itself. Only absolute folders are
 * searched; files named libxhal-<name>.so are candidates. A plugin that fails at any step is
 * kept in the backend list as unavailable with its reason: nothing vanishes silently.
 * Policy (RELIABILITY.md, "Plugin loading rules"): links are resolved before the file and folder
 * checks; only regular files are opened; the first backend of a name in the search order wins
 * and a later one is listed as a duplicate (not even opened when its file name gives it away);
 * a plugin reporting more than HAL_MAX_DEVICES_PER_BACKEND devices, or pushing the context past
 * HAL_MAX_DEVICES, is unavailable. */
#include "internal.h"
#include "xhal/plugin/xhal_file.h"

#include <dirent.h>
#include <pthread.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bounds on what plugins may report: a plugin that claims more devices is unavailable (an
 * absurd count once overflowed the sum and wrote past the device array). */
#define HAL_MAX_DEVICES_PER_BACKEND 256
#define HAL_MAX_DEVICES 1024

static pthread_mutex_t g_entry_lock = PTHREAD_MUTEX_INITIALIZER;

static void set_reason(hal_backend *b, const char *fmt, ...) HAL_PRINTF(2, 3);
static void set_reason(hal_backend *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->info.reason, sizeof b->info.reason, fmt, ap);
    va_end(ap);
    b->info.state = XHAL_BACKEND_UNAVAILABLE;
}

/* "…/libxhal-opencl.so" -> "opencl" */
static void name_from_file(const char *path, char *name, size_t len)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (!strncmp(base, "libxhal-", 8)) base += 8;
    size_t n = strcspn(base, ".");
    if (n >= len) n = len - 1;
    memcpy(name, base, n);
    name[n] = '\0';
}

static int valid_backend_name(const char *n)
{
    size_t len = n ? strlen(n) : 0;
    if (len == 0 || len >= sizeof(((xhal_backend_info *)0)->name)) return 0;
    for (size_t i = 0; i < len; i++) {
        char c = n[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return 0;
    }
    return 1;
}

/* the entries every backend table must fill (clang-format 14 reflows this list differently on
 * each pass, hence off) */
/* clang-format off */
#define REQUIRED_ENTRIES(X)                                                                            \
    X(init) X(shutdown) X(device_count) X(device_info) X(buffer_alloc) X(buffer_free) X(stream_create) \
    X(stream_destroy) X(stream_sync) X(write) X(read) X(copy) X(op_supported) X(op_run)
/* clang-format on */

static const char *missing_required(const xhal_backend_table *t)
{
#define CHECK_ENTRY(e) \
    if (!t->e) return #e;
    REQUIRED_ENTRIES(CHECK_ENTRY)
#undef CHECK_ENTRY
    return NULL;
}

static hal_backend *find_loaded(xhal_context *ctx, const char *name)
{
    for (int i = 0; i < ctx->n_backends; i++)
        if (ctx->backends[i].info.state == XHAL_BACKEND_LOADED && !strcmp(ctx->backends[i].info.name, name))
            return &ctx->backends[i];
    return NULL;
}

/* The folder holding path, if others can write into it without the sticky bit: 1 and a
 * message in why; else 0. */
static int unsafe_folder(const char *path, char *why, size_t len)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) return 0;
    *slash = '\0';
    struct stat ds;
    if (stat(dir[0] ? dir : "/", &ds) == 0 && (ds.st_mode & S_IWOTH) && !(ds.st_mode & S_ISVTX)) {
        snprintf(why, len, "plugin folder %s is writable by other users without the sticky bit", dir[0] ? dir : "/");
        return 1;
    }
    return 0;
}

/* Is a plugin with this (resolved) path already listed? */
static int loaded_from(xhal_context *ctx, const char *real)
{
    for (int k = 0; k < ctx->n_backends; k++)
        if (!strcmp(ctx->backends[k].info.path, real)) return 1;
    return 0;
}

static void load_one(xhal_context *ctx, hal_backend *b, const char *path)
{
    memset(b, 0, sizeof *b);
    snprintf(b->info.path, sizeof b->info.path, "%s", path);
    name_from_file(path, b->info.name, sizeof b->info.name);
    b->info.state = XHAL_BACKEND_UNAVAILABLE;

    /* Links are resolved first: the checks below apply to the file that is really loaded and to
     * its real folder (a link in a safe folder to a file in a world-writable one is refused). */
    char real[PATH_MAX];
    if (!realpath(path, real)) {
        set_reason(b, "cannot resolve plugin path: %s", strerror(errno));
        return;
    }
    if (strlen(real) >= sizeof b->info.path) {
        set_reason(b, "the plugin's real path is longer than %zu bytes", sizeof b->info.path - 1);
        return;
    }
    if (strcmp(real, path) != 0) {
        if (loaded_from(ctx, real)) {
            set_reason(b, "duplicate: %s is a link to %s, which is already listed", path, real);
            return;
        }
        hal_log(XHAL_LOG_INFO, "loader", "%s is a link to %s: checking and loading %s", path, real, real);
    }
    /* A later plugin whose file name says it is a backend already loaded is not opened at all,
     * so its constructors never run (the first one found wins; see RELIABILITY.md). */
    hal_backend *first = find_loaded(ctx, b->info.name);
    if (first) {
        set_reason(b,
                   "duplicate: backend '%s' is already loaded from %s (earlier in the search order); "
                   "not opened",
                   b->info.name, first->info.path);
        hal_log(XHAL_LOG_WARN, "loader", "%s: %s", path, b->info.reason);
        return;
    }

    /* Ownership and mode checks on the opened file. (The name is loaded afterwards: dlopen of
     * /proc/self/fd/N would close the race between check and load, but glibc identifies loaded
     * objects by that name, and descriptor numbers are reused.) Opened non-blocking and refused
     * unless it is a regular file: a FIFO named libxhal-x.so would otherwise hang every context. */
    struct stat st;
    char why_open[128];
    int fd = xhal_open_regular(real, 0, &st, why_open, sizeof why_open);
    if (fd < 0) {
        set_reason(b, "cannot open plugin file %s: %s", real, why_open);
        hal_log(XHAL_LOG_WARN, "loader", "%s: %s", path, b->info.reason);
        return;
    }
    const char *refuse = NULL;
    char why[PATH_MAX + 96];
    if (st.st_mode & S_IWOTH) {
        snprintf(why, sizeof why, "plugin file is writable by other users (mode %03o); fix with chmod o-w",
                 (unsigned)(st.st_mode & 0777));
        refuse = why;
    } else if (st.st_uid != 0 && st.st_uid != geteuid()) {
        snprintf(why, sizeof why, "plugin file is owned by uid %u, neither root nor this user (uid %u)",
                 (unsigned)st.st_uid, (unsigned)geteuid());
        refuse = why;
    } else if (unsafe_folder(real, why, sizeof why) || unsafe_folder(path, why, sizeof why)) {
        refuse = why;
    }
    if (refuse) {
        set_reason(b, "refused: %s", refuse);
        hal_log(XHAL_LOG_WARN, "loader", "%s: %s", path, b->info.reason);
        close(fd);
        return;
    }
    /* info.path names the file that is really loaded */
    snprintf(b->info.path, sizeof b->info.path, "%s", real);
    path = real;
    dlerror();
    /* RTLD_NODELETE: a plugin stays mapped after its context is gone. Vendor runtimes below
     * it (OpenBLAS, LLVM in PoCL, driver libraries) keep threads and atexit handlers that
     * must not outlive their code; unloading them is a classic source of exit-time crashes. */
    b->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    close(fd);
    if (!b->dl) {
        const char *e = dlerror();
        set_reason(b, "cannot load shared library: %s", e ? e : "unknown dlopen error");
        return;
    }
    xhal_backend_entry_fn entry;
    void *sym = dlsym(b->dl, XHAL_BACKEND_ENTRY_SYMBOL);
    memcpy(&entry, &sym, sizeof entry);
    if (!sym) {
        set_reason(b, "not an xhal plugin: no exported symbol %s", XHAL_BACKEND_ENTRY_SYMBOL);
        goto fail;
    }
    hal_clear_error();
    /* Entry points run one at a time: a plugin's XHAL_PLUGIN_ENTRY keeps its copy of the host
     * services in a process-wide variable (xhal/plugin/xhal_plugin.h). */
    pthread_mutex_lock(&g_entry_lock);
    const xhal_backend_table *t = entry(XHAL_BACKEND_ABI_VERSION, hal_host_services());
    pthread_mutex_unlock(&g_entry_lock);
    if (!t) {
        const char *m = xhal_last_error();
        set_reason(b, "plugin refused to load: %s", *m ? m : "its entry point returned no table");
        goto fail;
    }
    b->info.abi_version = t->abi_version;
    if (t->abi_version != XHAL_BACKEND_ABI_VERSION) {
        set_reason(b,
                   "ABI mismatch: plugin was built for backend ABI version %u, this libxhal %s "
                   "implements version %u (rebuild the plugin against this xhal's headers)",
                   t->abi_version, xhal_version(), XHAL_BACKEND_ABI_VERSION);
        goto fail;
    }
    if (t->struct_size < XHAL_BACKEND_TABLE_MIN_SIZE) {
        set_reason(b, "ABI mismatch: backend table is %u bytes, ABI version %u needs at least %zu", t->struct_size,
                   XHAL_BACKEND_ABI_VERSION, (size_t)XHAL_BACKEND_TABLE_MIN_SIZE);
        goto fail;
    }
    if (t->catalogue_version == 0) {
        set_reason(b,
                   "backend table has catalogue_version 0 (set it to XHAL_BACKEND_CATALOGUE_VERSION, %u "
                   "for this xhal)",
                   (unsigned)XHAL_BACKEND_CATALOGUE_VERSION);
        goto fail;
    }
    if (!valid_backend_name(t->name)) {
        set_reason(b, "backend table has an invalid name (must be 1-31 of [a-z0-9_])");
        goto fail;
    }
    snprintf(b->info.name, sizeof b->info.name, "%s", t->name);
    snprintf(b->info.version, sizeof b->info.version, "%s", t->version ? t->version : "");
    const char *miss = missing_required(t);
    if (miss) {
        set_reason(b, "backend table lacks the required entry '%s'", miss);
        goto fail;
    }
    hal_backend *dup = find_loaded(ctx, t->name);
    if (dup) {
        set_reason(b, "duplicate: backend '%s' is already loaded from %s", t->name, dup->info.path);
        hal_log(XHAL_LOG_WARN, "loader", "%s: %s (earlier in the search order)", path, b->info.reason);
        goto fail;
    }
    hal_clear_error();
    xhal_status s = t->init(hal_host_services(), &b->state);
    if (s != XHAL_OK) {
        const char *m = xhal_last_error();
        set_reason(b, "initialisation failed (%s): %s", xhal_status_name(s), *m ? m : "no reason given");
        goto fail;
    }
    int n = t->device_count(b->state);
    int total = 0;
    for (int k = 0; k < ctx->n_backends; k++)
        if (&ctx->backends[k] != b && ctx->backends[k].info.state == XHAL_BACKEND_LOADED)
            total += ctx->backends[k].info.device_count;
    if (n < 0 || n > HAL_MAX_DEVICES_PER_BACKEND || n > HAL_MAX_DEVICES - total) {
        if (n < 0 || n > HAL_MAX_DEVICES_PER_BACKEND)
            set_reason(b, "the plugin reports %d devices (at most %d per backend): not used", n,
                       HAL_MAX_DEVICES_PER_BACKEND);
        else
            set_reason(b,
                       "the plugin reports %d devices, but %d are already listed and a context holds "
                       "at most %d: not used",
                       n, total, HAL_MAX_DEVICES);
        hal_log(XHAL_LOG_WARN, "loader", "%s: %s", path, b->info.reason);
        t->shutdown(b->state);
        b->state = NULL;
        goto fail;
    }
    b->table = t;
    b->info.state = XHAL_BACKEND_LOADED;
    b->info.device_count = n > 0 ? n : 0;
    b->info.reason[0] = '\0';
    hal_log(XHAL_LOG_INFO, "loader", "loaded backend '%s' %s from %s: %d device(s)", b->info.name, b->info.version,
            path, b->info.device_count);
    return;
fail:
    hal_log(XHAL_LOG_INFO, "loader", "%s: unavailable: %s", path, b->info.reason);
    dlclose(b->dl);
    b->dl = NULL;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int is_candidate(const char *name)
{
    size_t n = strlen(name);
    return n > 11 && !strncmp(name, "libxhal-", 8) && !strcmp(name + n - 3, ".so");
}

static xhal_status scan_folder(xhal_context *ctx, const char *dir, const char *origin)
{
    if (dir[0] != '/') {
        hal_log(XHAL_LOG_WARN, "loader", "ignoring plugin folder '%s' from %s: not an absolute path", dir, origin);
        return XHAL_OK;
    }
    DIR *d = opendir(dir);
    if (!d) {
        hal_log(XHAL_LOG_INFO, "loader", "plugin folder %s (%s): %s", dir, origin, strerror(errno));
        return XHAL_OK;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    xhal_status st = XHAL_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!is_candidate(e->d_name)) continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            char **nn = realloc(names, nc * sizeof *nn);
            if (!nn) {
                st = XHAL_ERROR_OUT_OF_MEMORY;
                break;
            }
            names = nn;
            cap = nc;
        }
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        names[n] = malloc(len);
        if (!names[n]) {
            st = XHAL_ERROR_OUT_OF_MEMORY;
            break;
        }
        snprintf(names[n], len, "%s/%s", dir, e->d_name);
        n++;
    }
    closedir(d);
    if (st == XHAL_OK && n) qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n && st == XHAL_OK; i++) {
        /* the same file reached through two folders is loaded once */
        int seen = 0;
        for (int k = 0; k < ctx->n_backends; k++)
            if (!strcmp(ctx->backends[k].info.path, names[i])) seen = 1;
        if (seen) continue;
        hal_backend *nb = realloc(ctx->backends, (size_t)(ctx->n_backends + 1) * sizeof *nb);
        if (!nb) {
            st = XHAL_ERROR_OUT_OF_MEMORY;
            break;
        }
        ctx->backends = nb;
        load_one(ctx, &ctx->backends[ctx->n_backends], names[i]);
        ctx->n_backends++;
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    if (st != XHAL_OK) return hal_set_error(st, "out of memory while scanning plugin folder %s", dir);
    return XHAL_OK;
}

static xhal_status scan_path_list(xhal_context *ctx, const char *list, const char *origin)
{
    if (!list || !*list) return XHAL_OK;
    char *copy = strdup(list);
    if (!copy) return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "out of memory copying plugin path");
    xhal_status st = XHAL_OK;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ":", &save); tok && st == XHAL_OK; tok = strtok_r(NULL, ":", &save))
        if (*tok) st = scan_folder(ctx, tok, origin);
    free(copy);
    return st;
}

/* The folder of the file that holds libxhal's code, + "/xhal". */
int hal_default_plugin_dir(char *out, size_t len)
{
    Dl_info info;
    void *self = (void *)(uintptr_t)&xhal_version;
    if (!dladdr(self, &info) || !info.dli_fname) return -1;
    char real[PATH_MAX];
    if (!realpath(info.dli_fname, real)) return -1;
    char *slash = strrchr(real, '/');
    if (!slash) return -1;
    *slash = '\0';
    if ((size_t)snprintf(out, len, "%s/%s", real, XHAL_PLUGIN_SUBDIR) >= len) return -1;
    return 0;
}

xhal_status hal_load_plugins(xhal_context *ctx, const xhal_context_options *opts)
{
    xhal_status st = scan_path_list(ctx, opts->plugin_path, "the context options");
    if (st != XHAL_OK) return st;
    if (!(opts->flags & XHAL_CONTEXT_IGNORE_ENV_PATH)) {
        /* secure_getenv: XHAL_PLUGIN_PATH is ignored in setuid/setgid processes */
        st = scan_path_list(ctx, secure_getenv("XHAL_PLUGIN_PATH"), "XHAL_PLUGIN_PATH");
        if (st != XHAL_OK) return st;
    }
    if (!(opts->flags & XHAL_CONTEXT_NO_DEFAULT_PLUGINS)) {
        char dir[PATH_MAX];
        if (hal_default_plugin_dir(dir, sizeof dir) == 0)
            st = scan_folder(ctx, dir, "the installation");
        else
            hal_log(XHAL_LOG_WARN, "loader",
                    "cannot locate libxhal's own folder; only explicit plugin "
                    "folders are searched");
    }
    return st;
}

void hal_unload_plugins(xhal_context *ctx)
{
    for (int i = ctx->n_backends - 1; i >= 0; i--) {
        hal_backend *b = &ctx->backends[i];
        if (b->table) b->table->shutdown(b->state);
        if (b->dl) dlclose(b->dl);
    }
    free(ctx->backends);
    ctx->backends = NULL;
    ctx->n_backends = 0;
}
