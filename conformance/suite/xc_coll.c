/* xc_coll.c - the collectives conformance suite (xhal-conform --suite collectives): every
 * collective x dtype x count against a host reference computed in f64 in rank order, on device
 * sets in one process (each set one communicator) or on one rank per process under MPI. Bounds:
 * conformance/COLLECTIVES.md. Uses only the public API. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xc_coll.h"
#include "xhal/plugin/xhal_half.h"

typedef enum {
    K_ALL_REDUCE_SUM,
    K_ALL_REDUCE_MAX,
    K_REDUCE_SCATTER_SUM,
    K_REDUCE_SCATTER_MAX,
    K_ALL_GATHER,
    K_BROADCAST,
    K_SENDRECV,
    K_COUNT
} kind;
static const char *const KIND_NAMES[K_COUNT] = {"all_reduce_sum",     "all_reduce_max", "reduce_scatter_sum",
                                                "reduce_scatter_max", "all_gather",     "broadcast",
                                                "send_recv"};
static const xhal_dtype DTYPES[] = {XHAL_DTYPE_F32, XHAL_DTYPE_F16, XHAL_DTYPE_BF16, XHAL_DTYPE_I32,
                                    XHAL_DTYPE_F64, XHAL_DTYPE_I8,  XHAL_DTYPE_U8,   XHAL_DTYPE_I64};
#define N_DTYPES ((int)(sizeof DTYPES / sizeof DTYPES[0]))

/* deterministic data of (rank, element): floats in [-4, 4) with fraction bits that round in
 * f16/bf16, small integers for the integer dtypes (no overflow in a sum of 64 ranks) */
static double gen(xhal_dtype dt, int rank, int64_t i)
{
    uint64_t x = (uint64_t)(i + 1) * 0x9E3779B97F4A7C15ull ^ (uint64_t)(rank + 1) * 0xC2B2AE3D27D4EB4Full;
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 32;
    if (dt == XHAL_DTYPE_I8 || dt == XHAL_DTYPE_U8 || dt == XHAL_DTYPE_I32 || dt == XHAL_DTYPE_I64)
        return (double)((int)(x % 3) - (dt == XHAL_DTYPE_U8 ? 0 : 1));
    return ((double)(x >> 11) / 9007199254740992.0) * 8.0 - 4.0;
}

static void store(xhal_dtype dt, void *p, int64_t i, double v)
{
    switch (dt) {
        case XHAL_DTYPE_F32: ((float *)p)[i] = (float)v; break;
        case XHAL_DTYPE_F64: ((double *)p)[i] = v; break;
        case XHAL_DTYPE_F16: ((uint16_t *)p)[i] = xhal_f32_to_f16((float)v); break;
        case XHAL_DTYPE_BF16: ((uint16_t *)p)[i] = xhal_f32_to_bf16((float)v); break;
        case XHAL_DTYPE_I8: ((int8_t *)p)[i] = (int8_t)v; break;
        case XHAL_DTYPE_U8: ((uint8_t *)p)[i] = (uint8_t)v; break;
        case XHAL_DTYPE_I32: ((int32_t *)p)[i] = (int32_t)v; break;
        case XHAL_DTYPE_I64: ((int64_t *)p)[i] = (int64_t)v; break;
        default: break;
    }
}

static double load(xhal_dtype dt, const void *p, int64_t i)
{
    switch (dt) {
        case XHAL_DTYPE_F32: return ((const float *)p)[i];
        case XHAL_DTYPE_F64: return ((const double *)p)[i];
        case XHAL_DTYPE_F16: return xhal_f16_to_f32(((const uint16_t *)p)[i]);
        case XHAL_DTYPE_BF16: return xhal_bf16_to_f32(((const uint16_t *)p)[i]);
        case XHAL_DTYPE_I8: return ((const int8_t *)p)[i];
        case XHAL_DTYPE_U8: return ((const uint8_t *)p)[i];
        case XHAL_DTYPE_I32: return ((const int32_t *)p)[i];
        case XHAL_DTYPE_I64: return (double)((const int64_t *)p)[i];
        default: return 0;
    }
}

/* the value as the dtype stores it */
static double rounded(xhal_dtype dt, double v)
{
    unsigned char b[8];
    store(dt, b, 0, v);
    return load(dt, b, 0);
}

/* unit roundoff of accumulation and output (COLLECTIVES.md) */
static double u_acc(xhal_dtype dt) { return dt == XHAL_DTYPE_F64 ? 0x1p-53 : 0x1p-24; }
static double u_out(xhal_dtype dt)
{
    switch (dt) {
        case XHAL_DTYPE_F16: return 0x1p-11;
        case XHAL_DTYPE_BF16: return 0x1p-8;
        case XHAL_DTYPE_F32: return 0x1p-24;
        case XHAL_DTYPE_F64: return 0x1p-53;
        default: return 0;
    }
}

typedef struct result {
    char set[160];
    const char *kind;
    xhal_dtype dtype;
    int64_t count;
    int ok; /* 1 pass, 0 fail */
    double max_err, max_tol;
    char msg[256];
} result;

typedef struct run_state {
    result *res;
    int n, cap;
    int failed;
    FILE *log;
    int quiet;
} run_state;

static void add(run_state *rs, const result *r)
{
    if (rs->n == rs->cap) {
        int nc = rs->cap ? rs->cap * 2 : 256;
        result *p = realloc(rs->res, (size_t)nc * sizeof *p);
        if (!p) return;
        rs->res = p;
        rs->cap = nc;
    }
    rs->res[rs->n++] = *r;
    if (!r->ok) rs->failed++;
    if (!r->ok || !rs->quiet)
        fprintf(rs->log, "  %-4s %-20s %-5s n=%-6lld %s%s\n", r->ok ? "PASS" : "FAIL", r->kind,
                xhal_dtype_name(r->dtype), (long long)r->count, r->set, r->msg[0] ? r->msg : "");
}

/* One case on the n_local ranks of comm (global size `size`, local rank i is first + i). */
static void run_case(xhal_comm *comm, xhal_device **devs, xhal_stream **ss, int n_local, int first, int size, kind k,
                     xhal_dtype dt, int64_t N, const char *set, run_state *rs)
{
    result r;
    memset(&r, 0, sizeof r);
    snprintf(r.set, sizeof r.set, "%s", set);
    r.kind = KIND_NAMES[k];
    r.dtype = dt;
    r.count = N;
    r.ok = 1;
    size_t es = xhal_dtype_size(dt);
    int root = size - 1;
    xhal_tensor *in[XHAL_COMM_MAX_LOCAL] = {0}, *out[XHAL_COMM_MAX_LOCAL] = {0};
    int64_t in_n[XHAL_COMM_MAX_LOCAL], out_n[XHAL_COMM_MAX_LOCAL], out_off[XHAL_COMM_MAX_LOCAL];
    unsigned char *buf = malloc((size_t)(N + 1) * 8);
    xhal_status st = XHAL_OK;
    for (int i = 0; i < n_local && st == XHAL_OK; i++) {
        int rank = first + i;
        int64_t off = 0, len = N;
        if (k == K_REDUCE_SCATTER_SUM || k == K_REDUCE_SCATTER_MAX || k == K_ALL_GATHER)
            xhal_comm_partition(N, size, rank, &off, &len);
        in_n[i] = k == K_ALL_GATHER ? len : N;
        out_n[i] = (k == K_REDUCE_SCATTER_SUM || k == K_REDUCE_SCATTER_MAX) ? len : N;
        out_off[i] = (k == K_REDUCE_SCATTER_SUM || k == K_REDUCE_SCATTER_MAX) ? off : 0;
        st = xhal_tensor_create(devs[i], dt, 1, &in_n[i], &in[i]);
        if (st == XHAL_OK && k != K_BROADCAST) st = xhal_tensor_create(devs[i], dt, 1, &out_n[i], &out[i]);
        int64_t base = k == K_ALL_GATHER ? off : 0;
        for (int64_t e = 0; e < in_n[i]; e++) store(dt, buf, e, gen(dt, rank, base + e));
        if (st == XHAL_OK && in_n[i]) st = xhal_tensor_write(ss[i], in[i], buf, (uint64_t)in_n[i] * es);
        /* the outputs start as NaN-ish garbage so that an untouched output fails */
        for (int64_t e = 0; e < out_n[i]; e++) store(dt, buf, e, -77);
        if (st == XHAL_OK && out[i] && out_n[i]) st = xhal_tensor_write(ss[i], out[i], buf, (uint64_t)out_n[i] * es);
    }
    if (st == XHAL_OK) switch (k) {
            case K_ALL_REDUCE_SUM:
            case K_ALL_REDUCE_MAX:
                st = xhal_all_reduce(comm, ss, in, out, k == K_ALL_REDUCE_SUM ? XHAL_REDUCE_SUM : XHAL_REDUCE_MAX);
                break;
            case K_REDUCE_SCATTER_SUM:
            case K_REDUCE_SCATTER_MAX:
                st = xhal_reduce_scatter(comm, ss, in, out,
                                         k == K_REDUCE_SCATTER_SUM ? XHAL_REDUCE_SUM : XHAL_REDUCE_MAX);
                break;
            case K_ALL_GATHER: st = xhal_all_gather(comm, ss, in, out); break;
            case K_BROADCAST: st = xhal_broadcast(comm, ss, in, root); break;
            case K_SENDRECV:
                /* a ring: rank r sends to r+1; in one process every send is posted first */
                for (int i = 0; i < n_local && st == XHAL_OK; i++) {
                    int rank = first + i;
                    if (n_local > 1 || rank % 2 == 0) st = xhal_send(comm, i, ss[i], in[i], (rank + 1) % size);
                    if (st == XHAL_OK && n_local == 1) st = xhal_recv(comm, i, ss[i], out[i], (rank + size - 1) % size);
                    if (st == XHAL_OK && n_local == 1 && rank % 2)
                        st = xhal_send(comm, i, ss[i], in[i], (rank + 1) % size);
                }
                for (int i = 0; i < n_local && st == XHAL_OK && n_local > 1; i++) {
                    int rank = first + i;
                    st = xhal_recv(comm, i, ss[i], out[i], (rank + size - 1) % size);
                }
                break;
            default: break;
        }
    if (st != XHAL_OK) {
        r.ok = 0;
        snprintf(r.msg, sizeof r.msg, " %s: %s", xhal_status_name(st), xhal_last_error());
    }
    for (int i = 0; i < n_local && r.ok; i++) {
        int rank = first + i;
        xhal_tensor *t = k == K_BROADCAST ? in[i] : out[i];
        int64_t n = k == K_BROADCAST ? in_n[i] : out_n[i];
        if (n && (st = xhal_tensor_read(ss[i], t, buf, (uint64_t)n * es)) != XHAL_OK) {
            r.ok = 0;
            snprintf(r.msg, sizeof r.msg, " reading rank %d: %s", rank, xhal_last_error());
            break;
        }
        for (int64_t e = 0; e < n; e++) {
            int64_t gi = out_off[i] + e;
            double ref = 0, tol = 0;
            switch (k) {
                case K_ALL_REDUCE_SUM:
                case K_REDUCE_SCATTER_SUM:
                case K_ALL_REDUCE_MAX:
                case K_REDUCE_SCATTER_MAX: {
                    int max = k == K_ALL_REDUCE_MAX || k == K_REDUCE_SCATTER_MAX;
                    double s = 0;
                    for (int q = 0; q < size; q++) {
                        double x = rounded(dt, gen(dt, q, gi));
                        ref = q == 0 ? x : max ? (x > ref ? x : ref) : ref + x;
                        s += fabs(x);
                    }
                    if (max)
                        tol = 0;
                    else if (u_out(dt) > 0)
                        tol = (size - 1) * (u_acc(dt) + u_out(dt)) * s + u_out(dt) * fabs(ref);
                    else
                        ref = rounded(dt, ref); /* integers wrap like the dtype */
                    break;
                }
                case K_ALL_GATHER: {
                    int64_t off = 0, len = 0;
                    int q = 0;
                    for (q = 0; q < size - 1; q++) {
                        xhal_comm_partition(N, size, q, &off, &len);
                        if (gi >= off && gi < off + len) break;
                    }
                    ref = rounded(dt, gen(dt, q, gi));
                    break;
                }
                case K_BROADCAST: ref = rounded(dt, gen(dt, root, gi)); break;
                case K_SENDRECV: ref = rounded(dt, gen(dt, (rank + size - 1) % size, gi)); break;
                default: break;
            }
            double got = load(dt, buf, e), err = fabs(got - ref);
            if (!(err <= tol)) {
                if (r.ok)
                    snprintf(r.msg, sizeof r.msg, " rank %d [%lld] = %.9g, reference %.9g (bound %.3g)", rank,
                             (long long)gi, got, ref, tol);
                r.ok = 0;
            }
            if (err > r.max_err) r.max_err = err;
            if (tol > r.max_tol) r.max_tol = tol;
        }
    }
    for (int i = 0; i < n_local; i++) {
        xhal_tensor_destroy(in[i]);
        xhal_tensor_destroy(out[i]);
    }
    free(buf);
    add(rs, &r);
}

static void run_set(xhal_comm *comm, xhal_device **devs, int n_local, const char *set, run_state *rs)
{
    xhal_comm_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    xhal_comm_get_info(comm, &info);
    char label[160];
    snprintf(label, sizeof label, "[%s; engine %s]", set, info.engine);
    fprintf(rs->log, "== %s: %d rank(s), engine %s (%s)\n", set, info.size, info.engine, info.reason);
    xhal_stream *ss[XHAL_COMM_MAX_LOCAL];
    for (int i = 0; i < n_local; i++)
        if (xhal_stream_create(devs[i], &ss[i]) != XHAL_OK) {
            fprintf(rs->log, "  cannot create a stream on rank %d: %s\n", i, xhal_last_error());
            rs->failed++;
            for (int j = 0; j < i; j++) xhal_stream_destroy(ss[j]);
            return;
        }
    int size = info.size;
    const int64_t sizes[] = {0, 1, size - 1 > 1 ? size - 1 : 2, 7, 1000, 65537};
    for (int k = 0; k < K_COUNT; k++)
        for (int d = 0; d < N_DTYPES; d++)
            for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
                run_case(comm, devs, ss, n_local, info.first_rank, size, (kind)k, DTYPES[d], sizes[s], label, rs);
    for (int i = 0; i < n_local; i++) xhal_stream_destroy(ss[i]);
}

static void json_s(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\u%04x", *s);
        else
            fputc(*s, f);
    }
    fputc('"', f);
}

static int write_report(const run_state *rs, const char *dir, const char *mode)
{
    if (!dir) return 0;
    char path[1400];
    snprintf(path, sizeof path, "mkdir -p '%s'", dir);
    if (system(path) != 0) return -1;
    snprintf(path, sizeof path, "%s/collectives.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "{\"suite\": \"collectives\", \"mode\": ");
    json_s(f, mode);
    fprintf(f, ", \"cases\": %d, \"failed\": %d, \"results\": [", rs->n, rs->failed);
    for (int i = 0; i < rs->n; i++) {
        const result *r = &rs->res[i];
        fprintf(f, "%s\n  {\"set\": ", i ? "," : "");
        json_s(f, r->set);
        fprintf(f,
                ", \"collective\": \"%s\", \"dtype\": \"%s\", \"count\": %lld, \"status\": \"%s\", \"max_err\": %.6g, "
                "\"max_bound\": %.6g, \"message\": ",
                r->kind, xhal_dtype_name(r->dtype), (long long)r->count, r->ok ? "PASS" : "FAIL", r->max_err,
                r->max_tol);
        json_s(f, r->msg);
        fprintf(f, "}");
    }
    fprintf(f, "\n]}\n");
    fclose(f);
    snprintf(path, sizeof path, "%s/collectives.md", dir);
    f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f,
            "# Collectives conformance (%s)\n\n%d cases, %d failed.\n\n| set | collective | dtype | count | "
            "status | max error | bound |\n|---|---|---|---|---|---|---|\n",
            mode, rs->n, rs->failed);
    for (int i = 0; i < rs->n; i++) {
        const result *r = &rs->res[i];
        fprintf(f, "| %s | %s | %s | %lld | %s | %.3g | %.3g |\n", r->set, r->kind, xhal_dtype_name(r->dtype),
                (long long)r->count, r->ok ? "PASS" : "FAIL", r->max_err, r->max_tol);
    }
    fclose(f);
    return 0;
}

int xc_coll_conform(const xc_coll_options *o)
{
    run_state rs;
    memset(&rs, 0, sizeof rs);
    rs.log = stdout;
    rs.quiet = o->quiet;
    xhal_context *ctx = NULL;
    if (xhal_context_create(NULL, &ctx) != XHAL_OK) {
        fprintf(stderr, "xhal-conform: cannot create a context: %s\n", xhal_last_error());
        return 2;
    }
    int rc = 0, o_report_printed = 0;
    char mode[64];
    if (o->mpi) {
        /* one rank per process; the device of rank r is --device number r % n (the rank is
         * read from the launcher's environment before MPI starts) */
        const char *er = getenv("OMPI_COMM_WORLD_RANK");
        if (!er) er = getenv("PMIX_RANK");
        if (!er) er = getenv("PMI_RANK");
        int r = er ? atoi(er) : 0;
        const char *spec = o->n_devices ? o->devices[r % o->n_devices] : "cpu:0";
        xhal_device *dev = NULL;
        xhal_comm *comm = NULL;
        if (xhal_device_find(ctx, spec, &dev) != XHAL_OK || xhal_comm_create_mpi(ctx, dev, &comm) != XHAL_OK) {
            fprintf(stderr, "xhal-conform: --mpi on %s: %s\n", spec, xhal_last_error());
            xhal_context_destroy(ctx);
            return 2;
        }
        xhal_comm_info info;
        memset(&info, 0, sizeof info);
        info.struct_size = sizeof info;
        xhal_comm_get_info(comm, &info);
        char set[96];
        snprintf(set, sizeof set, "mpi rank %d of %d on %s", info.first_rank, info.size, spec);
        if (info.first_rank != 0) rs.quiet = 1;
        run_set(comm, &dev, 1, set, &rs);
        /* every rank's failures, summed through the communicator itself */
        xhal_stream *s = NULL;
        xhal_tensor *t = NULL;
        int64_t one = 1;
        int32_t total = rs.failed;
        if (xhal_stream_create(dev, &s) == XHAL_OK && xhal_tensor_create(dev, XHAL_DTYPE_I32, 1, &one, &t) == XHAL_OK &&
            xhal_tensor_write(s, t, &total, sizeof total) == XHAL_OK &&
            xhal_all_reduce(comm, &s, &t, &t, XHAL_REDUCE_SUM) == XHAL_OK &&
            xhal_tensor_read(s, t, &total, sizeof total) == XHAL_OK) {
        } else {
            total = rs.failed + 1;
        }
        xhal_tensor_destroy(t);
        xhal_stream_destroy(s);
        printf("rank %d: %d cases, %d failed here, %d failed on all ranks\n", info.first_rank, rs.n, rs.failed,
               (int)total);
        snprintf(mode, sizeof mode, "mpi, %d processes", info.size);
        if (info.first_rank == 0 && write_report(&rs, o->report_dir, mode) != 0) rc = 2;
        if (info.first_rank != 0) o_report_printed = 1;
        if (total) rc = 1;
        xhal_comm_destroy(comm);
    } else {
        /* device sets: the --device list as one set, else cpu:0 twice, cpu:0 three times,
         * cpu:0 + opencl:0, and every backend with two devices or more (all of them) */
        xhal_device *sets[8][XHAL_COMM_MAX_LOCAL];
        int n_in[8], n_sets = 0;
        char names[8][160];
        if (o->n_devices) {
            n_in[0] = 0;
            names[0][0] = '\0';
            for (int i = 0; i < o->n_devices && i < XHAL_COMM_MAX_LOCAL; i++) {
                if (xhal_device_find(ctx, o->devices[i], &sets[0][i]) != XHAL_OK) {
                    fprintf(stderr, "xhal-conform: --device %s: %s\n", o->devices[i], xhal_last_error());
                    xhal_context_destroy(ctx);
                    return 2;
                }
                size_t u = strlen(names[0]);
                snprintf(names[0] + u, sizeof names[0] - u, "%s%s", i ? "+" : "", o->devices[i]);
                n_in[0]++;
            }
            n_sets = 1;
        } else {
            xhal_device *cpu = NULL, *ocl = NULL;
            if (xhal_device_find(ctx, "cpu:0", &cpu) == XHAL_OK) {
                sets[n_sets][0] = sets[n_sets][1] = cpu;
                n_in[n_sets] = 2;
                snprintf(names[n_sets++], sizeof names[0], "cpu:0+cpu:0");
                sets[n_sets][0] = sets[n_sets][1] = sets[n_sets][2] = cpu;
                n_in[n_sets] = 3;
                snprintf(names[n_sets++], sizeof names[0], "cpu:0+cpu:0+cpu:0");
                if (xhal_device_find(ctx, "opencl:0", &ocl) == XHAL_OK) {
                    sets[n_sets][0] = cpu;
                    sets[n_sets][1] = ocl;
                    n_in[n_sets] = 2;
                    snprintf(names[n_sets++], sizeof names[0], "cpu:0+opencl:0");
                }
            }
            int nb = 0;
            xhal_backend_count(ctx, &nb);
            for (int b = 0; b < nb && n_sets < 8; b++) {
                xhal_backend_info bi;
                if (xhal_backend_get_info(ctx, b, &bi) != XHAL_OK || bi.device_count < 2 ||
                    bi.state != XHAL_BACKEND_LOADED)
                    continue;
                int m = bi.device_count < XHAL_COMM_MAX_LOCAL ? bi.device_count : XHAL_COMM_MAX_LOCAL;
                n_in[n_sets] = 0;
                for (int i = 0; i < m; i++) {
                    char spec[64];
                    snprintf(spec, sizeof spec, "%s:%d", bi.name, i);
                    if (xhal_device_find(ctx, spec, &sets[n_sets][n_in[n_sets]]) == XHAL_OK) n_in[n_sets]++;
                }
                snprintf(names[n_sets], sizeof names[0], "%s:0..%d", bi.name, m - 1);
                if (n_in[n_sets] >= 2) n_sets++;
            }
        }
        for (int s = 0; s < n_sets; s++) {
            xhal_comm *comm = NULL;
            if (xhal_comm_create(ctx, sets[s], n_in[s], NULL, &comm) != XHAL_OK) {
                fprintf(stdout, "== %s: FAIL: %s\n", names[s], xhal_last_error());
                rs.failed++;
                continue;
            }
            run_set(comm, sets[s], n_in[s], names[s], &rs);
            xhal_comm_destroy(comm);
        }
        printf("collectives: %d cases on %d device set(s), %d failed\n", rs.n, n_sets, rs.failed);
        snprintf(mode, sizeof mode, "one process, %d device set(s)", n_sets);
        if (write_report(&rs, o->report_dir, mode) != 0) rc = 2;
        if (rs.failed) rc = 1;
        if (!n_sets) rc = 3;
    }
    if (o->report_dir && rc != 2 && !o_report_printed)
        printf("report: %s/collectives.json, collectives.md\n", o->report_dir);
    free(rs.res);
    xhal_context_destroy(ctx);
    return rc;
}
