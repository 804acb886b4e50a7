/* comm_engine.c - collective-engine plugins (xhal_engine.h): found, loaded once per process
 * and kept (an MPI library does not survive dlclose), started when the first communicator
 * asks and stopped when the last one goes. And the path of a process communicator's
 * collective: compare every rank's signature, stage device memory, run. */
#include "comm.h"
#include "validate.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct hal_engine {
    const char *name;
    void *dl;
    const xhal_engine_table *t;
    void *state;
    int refs;
    int stopped; /* shut down once: cannot start again (MPI) */
    char path[PATH_MAX];
    char reason[512]; /* why it did not load (sticky: loading is tried once) */
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static hal_engine g_mpi = {.name = "mpi"};

static hal_engine *engine_by_name(const char *name) { return !strcmp(name, "mpi") ? &g_mpi : NULL; }

static int file_exists(const char *p) { return access(p, R_OK) == 0; }

/* The file: XHAL_<NAME>_ENGINE, else libxhal_<name>.so in XHAL_PLUGIN_PATH's folders, then in
 * the installation's plugin folder. 0 and path filled, or -1 and reason. */
static int locate(const char *name, char *path, size_t len, char *reason, size_t rlen)
{
    char env[64], file[64];
    snprintf(env, sizeof env, "XHAL_%s_ENGINE", !strcmp(name, "mpi") ? "MPI" : name);
    snprintf(file, sizeof file, "libxhal_%s.so", name);
    const char *e = secure_getenv(env);
    if (e && *e) {
        if (!file_exists(e)) {
            snprintf(reason, rlen, "%s=%s: no such readable file", env, e);
            return -1;
        }
        snprintf(path, len, "%s", e);
        return 0;
    }
    char searched[1024] = "";
    const char *pp = secure_getenv("XHAL_PLUGIN_PATH");
    if (pp && *pp) {
        char *copy = strdup(pp);
        char *save = NULL;
        for (char *tok = copy ? strtok_r(copy, ":", &save) : NULL; tok; tok = strtok_r(NULL, ":", &save)) {
            if (tok[0] != '/') continue;
            snprintf(path, len, "%s/%s", tok, file);
            if (file_exists(path)) {
                free(copy);
                return 0;
            }
            size_t u = strlen(searched);
            snprintf(searched + u, sizeof searched - u, "%s%s", u ? ", " : "", tok);
        }
        free(copy);
    }
    char dir[PATH_MAX];
    if (hal_default_plugin_dir(dir, sizeof dir) == 0) {
        snprintf(path, len, "%s/%s", dir, file);
        if (file_exists(path)) return 0;
        size_t u = strlen(searched);
        snprintf(searched + u, sizeof searched - u, "%s%s", u ? ", " : "", dir);
    }
    snprintf(reason, rlen,
             "%s not found (searched %s; set %s to its path). It is built when mpi.h is found "
             "(Debian: libopenmpi-dev)",
             file, searched[0] ? searched : "no folder", env);
    return -1;
}

/* dlopen + entry + table checks (under g_lock); on failure e->reason. */
static int load(hal_engine *e)
{
    if (e->t) return 0;
    if (e->reason[0]) return -1;
    if (locate(e->name, e->path, sizeof e->path, e->reason, sizeof e->reason) != 0) return -1;
    e->dl = dlopen(e->path, RTLD_NOW | RTLD_LOCAL);
    if (!e->dl) {
        const char *d = dlerror();
        snprintf(e->reason, sizeof e->reason, "%s: %s", e->path, d ? d : "dlopen failed");
        return -1;
    }
    xhal_engine_entry_fn entry = (xhal_engine_entry_fn)dlsym(e->dl, XHAL_ENGINE_ENTRY_SYMBOL);
    if (!entry) {
        snprintf(e->reason, sizeof e->reason, "%s exports no %s", e->path, XHAL_ENGINE_ENTRY_SYMBOL);
        return -1;
    }
    const xhal_engine_table *t = entry(XHAL_ENGINE_ABI_VERSION, hal_host_services());
    if (!t) {
        snprintf(e->reason, sizeof e->reason, "%s refused to load: %s", e->path, xhal_last_error());
        return -1;
    }
    if (t->abi_version != XHAL_ENGINE_ABI_VERSION || t->struct_size < XHAL_ENGINE_TABLE_MIN_SIZE) {
        snprintf(e->reason, sizeof e->reason,
                 "ABI mismatch: %s was built for engine ABI version %u (table of %u bytes), this libxhal implements "
                 "version %u (at least %zu bytes)",
                 e->path, t->abi_version, t->struct_size, XHAL_ENGINE_ABI_VERSION, XHAL_ENGINE_TABLE_MIN_SIZE);
        return -1;
    }
    e->t = t;
    return 0;
}

xhal_status hal_engine_acquire(const char *name, hal_engine **out)
{
    hal_engine *e = engine_by_name(name);
    if (!e) return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT, "no engine plugin named \"%s\"", name);
    pthread_mutex_lock(&g_lock);
    xhal_status st = XHAL_OK;
    if (e->refs > 0) {
        e->refs++;
    } else if (e->stopped) {
        st = hal_set_error(XHAL_ERROR_UNAVAILABLE,
                           "engine %s was shut down in this process when its last communicator was destroyed (MPI "
                           "cannot be initialized twice)",
                           name);
    } else if (load(e) != 0) {
        st = hal_set_error(XHAL_ERROR_UNAVAILABLE, "engine %s is unavailable: %s", name, e->reason);
    } else {
        st = e->t->init(hal_host_services(), &e->state);
        if (st != XHAL_OK)
            st = hal_set_error(XHAL_ERROR_UNAVAILABLE, "engine %s (%s) could not start: %s", name, e->path,
                               xhal_last_error());
        else
            e->refs = 1;
    }
    pthread_mutex_unlock(&g_lock);
    if (st == XHAL_OK) *out = e;
    return st;
}

void hal_engine_release(hal_engine *e)
{
    pthread_mutex_lock(&g_lock);
    if (e->refs > 0 && --e->refs == 0) {
        e->t->shutdown(e->state);
        e->state = NULL;
        e->stopped = 1;
    }
    pthread_mutex_unlock(&g_lock);
}

const xhal_engine_table *hal_engine_table(hal_engine *e) { return e->t; }
void *hal_engine_state(hal_engine *e) { return e->state; }

int hal_engine_probe(const char *name, char *reason, size_t len)
{
    hal_engine *e = engine_by_name(name);
    if (!e) {
        snprintf(reason, len, "no engine plugin named \"%s\"", name);
        return 0;
    }
    pthread_mutex_lock(&g_lock);
    int ok = load(e) == 0;
    if (ok)
        snprintf(reason, len, "%s (%s)%s", e->path, e->t->version ? e->t->version : "",
                 e->stopped ? ", shut down in this process" : "");
    else
        snprintf(reason, len, "%s", e->reason);
    if (e->stopped) ok = 0;
    pthread_mutex_unlock(&g_lock);
    return ok;
}

/* ---- a process communicator's collective ---- */

static xhal_status engine_run(xhal_comm *comm, int kind, xhal_dtype dt, int op, int root, int peer, int64_t count,
                              const void *send, void *recv)
{
    xhal_engine_op o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.kind = kind;
    o.dtype = dt;
    o.op = op;
    o.root = root;
    o.peer = peer;
    o.count = count;
    o.send = send;
    o.recv = recv;
    return hal_engine_table(comm->eng)->run(hal_engine_state(comm->eng), comm->ecomm, &o);
}

/* Every rank's (kind, dtype, op, root, count) must be rank 0's: checked on every rank alike. */
static xhal_status compare_signatures(xhal_comm *comm, const hal_coll *c)
{
    enum { K = 5 };
    int64_t mine[K] = {c->kind, c->dtype,
                       c->kind == XHAL_COLL_ALL_REDUCE || c->kind == XHAL_COLL_REDUCE_SCATTER ? c->op : 0,
                       c->kind == XHAL_COLL_BROADCAST ? c->root : 0, c->count};
    int64_t *all = calloc((size_t)comm->size * K, sizeof *all);
    if (!all) return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "%s: out of host memory", c->fn);
    xhal_status st =
        engine_run(comm, XHAL_COLL_ALL_GATHER, XHAL_DTYPE_I64, 0, 0, 0, (int64_t)comm->size * K, mine, all);
    if (st != XHAL_OK) {
        free(all);
        return hal_error_prefix(st, "%s: engine mpi, exchanging the ranks' arguments", c->fn);
    }
    static const char *what[K] = {"collective", "dtype", "op", "root", "element count"};
    for (int r = 1; r < comm->size && st == XHAL_OK; r++)
        for (int k = 0; k < K; k++) {
            int64_t a = all[k], b = all[(size_t)r * K + k];
            if (a == b) continue;
            xhal_status code = k == 1   ? XHAL_ERROR_DTYPE_MISMATCH
                               : k == 4 ? XHAL_ERROR_SHAPE_MISMATCH
                                        : XHAL_ERROR_INVALID_ARGUMENT;
            char va[32], vb[32];
            if (k == 1) {
                snprintf(va, sizeof va, "%s", xhal_dtype_name((xhal_dtype)a));
                snprintf(vb, sizeof vb, "%s", xhal_dtype_name((xhal_dtype)b));
            } else {
                snprintf(va, sizeof va, "%lld", (long long)a);
                snprintf(vb, sizeof vb, "%lld", (long long)b);
            }
            st = hal_set_error(code, "%s: rank %d's %s is %s but rank 0's is %s (checked on every rank)", c->fn, r,
                               what[k], vb, va);
            break;
        }
    free(all);
    return st;
}

xhal_status hal_comm_process_run(xhal_comm *comm, const hal_coll *c)
{
    xhal_status st = XHAL_OK;
    int p2p = c->kind == XHAL_COLL_SEND || c->kind == XHAL_COLL_RECV;
    if (!p2p) st = compare_signatures(comm, c);
    if (st != XHAL_OK) return st;
    xhal_stream *s = c->streams[0];
    xhal_tensor *in = c->send[0];
    xhal_tensor *out = c->recv[0];
    int me = comm->first_rank;
    int in_place =
        c->kind == XHAL_COLL_BROADCAST || (c->kind == XHAL_COLL_ALL_REDUCE && hal_tensors_same_view(in, out));
    int read_in = c->kind != XHAL_COLL_RECV && !(c->kind == XHAL_COLL_BROADCAST && c->root != me);
    void *pin = NULL, *sin = NULL, *pout = NULL, *sout = NULL;
    if (c->kind != XHAL_COLL_RECV) st = hal_comm_host_map(s, in, read_in, &pin, &sin);
    if (st == XHAL_OK && c->kind != XHAL_COLL_SEND) {
        if (in_place && c->kind != XHAL_COLL_RECV) {
            pout = pin;
        } else {
            st = hal_comm_host_map(s, out, 0, &pout, &sout);
        }
    }
    if (st == XHAL_OK) st = engine_run(comm, c->kind, c->dtype, c->op, c->root, c->peer, c->count, pin, pout);
    if (st != XHAL_OK) {
        free(sin);
        free(sout);
        return hal_error_prefix(st, "%s (engine mpi)", c->fn);
    }
    int writes = c->kind != XHAL_COLL_SEND && !(c->kind == XHAL_COLL_BROADCAST && c->root == me);
    if (in_place && c->kind != XHAL_COLL_RECV) {
        st = hal_comm_host_unmap(s, in, sin, writes);
    } else {
        free(sin);
        st = hal_comm_host_unmap(s, out, sout, writes);
    }
    if (st != XHAL_OK) return hal_error_prefix(st, "%s (engine mpi)", c->fn);
    return XHAL_OK;
}
