/*
 * standin_nccl.c - a stand-in for NCCL's libnccl.so.2 (and, built with -DSTANDIN_RCCL, for
 * RCCL's librccl.so.1: the same symbols), for the tests of the CUDA backend's collective path
 * without a GPU. The stand-in driver (standin_cuda.c) keeps "device" memory in host memory and
 * runs streams synchronously, so this library performs each collective on host memory when
 * its group ends: calls are recorded between ncclGroupStart and ncclGroupEnd (or run alone
 * outside a group), and, as in NCCL, the k-th call of every rank is collective k. Reductions follow NCCL's types (f16/bf16 combined in f32, rounded once
 * per combination, in rank order).
 *
 * XHAL_NCCL_STANDIN selects behaviour (comma-separated):
 *   oldversion  ncclGetVersion reports 2.7.8 (too old for xhal)
 *   initfail    ncclCommInitAll fails with ncclSystemError
 *   runfail     every collective fails with ncclInternalError at ncclGroupEnd
 * Built with -DSTANDIN_NO_BCAST it lacks ncclBroadcast (a library missing a symbol).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xhal/plugin/xhal_half.h"

#define EXPORT __attribute__((visibility("default")))

enum { OK = 0, SYSTEM_ERROR = 2, INTERNAL_ERROR = 3, INVALID_ARGUMENT = 4, INVALID_USAGE = 5 };
enum { I8 = 0, U8 = 1, I32 = 2, U32 = 3, I64 = 4, U64 = 5, F16 = 6, F32 = 7, F64 = 8, BF16 = 9 };
enum { F_ALLREDUCE = 1, F_BCAST, F_REDUCE, F_ALLGATHER, F_REDUCESCATTER };

static int mode(const char *m)
{
    const char *e = getenv("XHAL_NCCL_STANDIN");
    return e && strstr(e, m) != NULL;
}

typedef struct comm {
    int rank, size;
} comm;

typedef struct call {
    int fn, rank, size, dtype, op, root;
    const void *send;
    void *recv;
    size_t count;
} call;

static call *g_calls;
static int g_n, g_cap, g_depth;

static size_t esize(int dt)
{
    switch (dt) {
        case I8:
        case U8: return 1;
        case F16:
        case BF16: return 2;
        case I32:
        case U32:
        case F32: return 4;
        default: return 8;
    }
}

static double load(int dt, const void *p, size_t i)
{
    switch (dt) {
        case I8: return ((const int8_t *)p)[i];
        case U8: return ((const uint8_t *)p)[i];
        case I32: return ((const int32_t *)p)[i];
        case I64: return (double)((const int64_t *)p)[i];
        case F16: return xhal_f16_to_f32(((const uint16_t *)p)[i]);
        case BF16: return xhal_bf16_to_f32(((const uint16_t *)p)[i]);
        case F32: return ((const float *)p)[i];
        case F64: return ((const double *)p)[i];
        default: return 0;
    }
}

/* integers wrap as in NCCL (the test values stay small, so double holds them exactly) */
static void store(int dt, void *p, size_t i, double v)
{
    switch (dt) {
        case I8: ((int8_t *)p)[i] = (int8_t)(int64_t)v; break;
        case U8: ((uint8_t *)p)[i] = (uint8_t)(int64_t)v; break;
        case I32: ((int32_t *)p)[i] = (int32_t)(int64_t)v; break;
        case I64: ((int64_t *)p)[i] = (int64_t)v; break;
        case F16: ((uint16_t *)p)[i] = xhal_f32_to_f16((float)v); break;
        case BF16: ((uint16_t *)p)[i] = xhal_f32_to_bf16((float)v); break;
        case F32: ((float *)p)[i] = (float)v; break;
        case F64: ((double *)p)[i] = v; break;
        default: break;
    }
}

static double combine(int dt, int op, double a, double b)
{
    double r = op == 2 ? (a > b ? a : b) : a + b;
    if (dt == F32 || dt == F16 || dt == BF16) r = (float)r;
    return r;
}

/* reduce count elements at byte offset `off` of every rank's send into dst */
static void reduce_into(const call *cs, int n, size_t off_el, size_t count, void *dst)
{
    int dt = cs[0].dtype;
    for (size_t i = 0; i < count; i++) {
        double acc = load(dt, cs[0].send, off_el + i);
        for (int r = 1; r < n; r++) acc = combine(dt, cs[0].op, acc, load(dt, cs[r].send, off_el + i));
        store(dt, dst, i, acc);
    }
}

/* One collective: cs[0..n) one call per rank (sorted by rank). */
static int execute(call *cs, int n)
{
    int dt = cs[0].dtype;
    size_t es = esize(dt), count = cs[0].count;
    for (int r = 0; r < n; r++)
        if (cs[r].fn != cs[0].fn || cs[r].rank != r || cs[r].count != count || cs[r].dtype != dt ||
            cs[r].root != cs[0].root)
            return INVALID_USAGE;
    switch (cs[0].fn) {
        case F_ALLREDUCE: {
            void *tmp = malloc(count * es + 1);
            if (!tmp) return SYSTEM_ERROR;
            reduce_into(cs, n, 0, count, tmp);
            for (int r = 0; r < n; r++) memcpy(cs[r].recv, tmp, count * es);
            free(tmp);
            return OK;
        }
        case F_BCAST: {
            const void *src = cs[cs[0].root].send;
            for (int r = 0; r < n; r++)
                if (cs[r].recv != src) memcpy(cs[r].recv, src, count * es);
            return OK;
        }
        case F_REDUCE: {
            void *tmp = malloc(count * es + 1);
            if (!tmp) return SYSTEM_ERROR;
            reduce_into(cs, n, 0, count, tmp);
            memcpy(cs[cs[0].root].recv, tmp, count * es);
            free(tmp);
            return OK;
        }
        case F_ALLGATHER:
            for (int r = 0; r < n; r++)
                for (int k = 0; k < n; k++) memcpy((char *)cs[r].recv + (size_t)k * count * es, cs[k].send, count * es);
            return OK;
        case F_REDUCESCATTER:
            for (int r = 0; r < n; r++) reduce_into(cs, n, (size_t)r * count, count, cs[r].recv);
            return OK;
        default: return INTERNAL_ERROR;
    }
}

/* Like NCCL, calls match by order on each communicator: the k-th call of every rank in the
 * group is collective k. */
static int flush(void)
{
    int rc = OK;
    if (mode("runfail") && g_n) rc = INTERNAL_ERROR;
    int size = g_n ? g_calls[0].size : 0;
    if (rc == OK && (size < 1 || size > 64 || g_n % size != 0)) rc = g_n ? INVALID_USAGE : OK;
    for (int k = 0; rc == OK && k < g_n / size; k++) {
        call sorted[64];
        memset(sorted, 0, sizeof sorted);
        for (int r = 0; r < size && rc == OK; r++) {
            int seen = 0, found = 0;
            for (int i = 0; i < g_n && !found; i++)
                if (g_calls[i].rank == r && seen++ == k) {
                    sorted[r] = g_calls[i];
                    found = 1;
                }
            if (!found) rc = INVALID_USAGE; /* a collective some rank did not join */
        }
        if (rc == OK) rc = execute(sorted, size);
    }
    g_n = 0;
    return rc;
}

static int record(call c)
{
    if (g_n == g_cap) {
        int nc = g_cap ? g_cap * 2 : 64;
        call *p = realloc(g_calls, (size_t)nc * sizeof *p);
        if (!p) return SYSTEM_ERROR;
        g_calls = p;
        g_cap = nc;
    }
    g_calls[g_n++] = c;
    if (g_depth == 0 && g_n == c.size) return flush();
    return OK;
}

__attribute__((destructor)) static void standin_nccl_fini(void) { free(g_calls); }

EXPORT int ncclGetVersion(int *v)
{
    *v = mode("oldversion") ? 20708 : 22809;
    return OK;
}

EXPORT const char *ncclGetErrorString(int r)
{
    switch (r) {
        case OK: return "no error";
        case SYSTEM_ERROR: return "unhandled system error (stand-in)";
        case INTERNAL_ERROR: return "internal error (stand-in)";
        case INVALID_USAGE: return "invalid usage (stand-in)";
        default: return "invalid argument (stand-in)";
    }
}

EXPORT int ncclCommInitAll(void **comms, int n, const int *devlist)
{
    (void)devlist;
    if (mode("initfail")) return SYSTEM_ERROR;
    for (int i = 0; i < n; i++) {
        comm *c = malloc(sizeof *c);
        if (!c) return SYSTEM_ERROR;
        c->rank = i;
        c->size = n;
        comms[i] = c;
    }
    return OK;
}

EXPORT int ncclCommDestroy(void *c)
{
    free(c);
    return OK;
}

EXPORT int ncclGroupStart(void)
{
    g_depth++;
    return OK;
}

EXPORT int ncclGroupEnd(void)
{
    if (g_depth == 0) return INVALID_USAGE;
    if (--g_depth == 0) return flush();
    return OK;
}

static call mk(int fn, const void *s, void *r, size_t count, int dt, int op, int root, void *cm)
{
    comm *c = cm;
    call x = {fn, c->rank, c->size, dt, op, root, s, r, count};
    return x;
}

EXPORT int ncclAllReduce(const void *s, void *r, size_t count, int dt, int op, void *c, void *stream)
{
    (void)stream;
    return record(mk(F_ALLREDUCE, s, r, count, dt, op, 0, c));
}

#ifndef STANDIN_NO_BCAST
EXPORT int ncclBroadcast(const void *s, void *r, size_t count, int dt, int root, void *c, void *stream)
{
    (void)stream;
    return record(mk(F_BCAST, s, r, count, dt, 0, root, c));
}
#endif

EXPORT int ncclReduce(const void *s, void *r, size_t count, int dt, int op, int root, void *c, void *stream)
{
    (void)stream;
    return record(mk(F_REDUCE, s, r, count, dt, op, root, c));
}

EXPORT int ncclAllGather(const void *s, void *r, size_t count, int dt, void *c, void *stream)
{
    (void)stream;
    return record(mk(F_ALLGATHER, s, r, count, dt, 0, 0, c));
}

EXPORT int ncclReduceScatter(const void *s, void *r, size_t count, int dt, int op, void *c, void *stream)
{
    (void)stream;
    return record(mk(F_REDUCESCATTER, s, r, count, dt, op, 0, c));
}
