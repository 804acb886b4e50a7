/* comm_host.c - the host engine: collectives within one process through host memory, for
 * devices without a common collective library (different backends, a device serving two
 * ranks, a backend without coll_* entries). Device memory that is host memory is used in
 * place; other devices are staged with xhal_tensor_read / xhal_tensor_write. Reductions run
 * in rank order, so results do not depend on which ranks are where. Also the buffered
 * in-process send/recv of every in-process communicator, and the reduction arithmetic the
 * engines share. */
#include "comm.h"
#include "validate.h"
#include "xhal/plugin/xhal_half.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t hal_comm_acc_size(xhal_dtype dt)
{
    if (dt == XHAL_DTYPE_F16 || dt == XHAL_DTYPE_BF16) return sizeof(float);
    return xhal_dtype_size(dt);
}

void hal_comm_acc_load(xhal_dtype dt, void *acc, const void *src, int64_t n)
{
    if (dt == XHAL_DTYPE_F16 || dt == XHAL_DTYPE_BF16) {
        const uint16_t *s = src;
        float *a = acc;
        for (int64_t i = 0; i < n; i++) a[i] = dt == XHAL_DTYPE_F16 ? xhal_f16_to_f32(s[i]) : xhal_bf16_to_f32(s[i]);
    } else {
        memcpy(acc, src, (size_t)n * xhal_dtype_size(dt));
    }
}

void hal_comm_acc_store(xhal_dtype dt, void *dst, const void *acc, int64_t n)
{
    if (dt == XHAL_DTYPE_F16 || dt == XHAL_DTYPE_BF16) {
        uint16_t *d = dst;
        const float *a = acc;
        for (int64_t i = 0; i < n; i++) d[i] = dt == XHAL_DTYPE_F16 ? xhal_f32_to_f16(a[i]) : xhal_f32_to_bf16(a[i]);
    } else {
        memcpy(dst, acc, (size_t)n * xhal_dtype_size(dt));
    }
}

/* Floats: MAX is NaN when either is NaN. Integers wrap (computed unsigned). */
#define COMBINE_FLOAT(T, a, x, op, n)                    \
    do {                                                 \
        T *A_ = (T *)(a);                                \
        for (int64_t i_ = 0; i_ < (n); i_++) {           \
            T v_ = (x)[i_];                              \
            if ((op) == XHAL_REDUCE_SUM)                 \
                A_[i_] = A_[i_] + v_;                    \
            else if (v_ != v_ || A_[i_] != A_[i_])       \
                A_[i_] = A_[i_] != A_[i_] ? A_[i_] : v_; \
            else if (v_ > A_[i_])                        \
                A_[i_] = v_;                             \
        }                                                \
    } while (0)
#define COMBINE_INT(T, UT, a, x, op, n)                    \
    do {                                                   \
        T *A_ = (T *)(a);                                  \
        const T *X_ = (const T *)(x);                      \
        for (int64_t i_ = 0; i_ < (n); i_++) {             \
            if ((op) == XHAL_REDUCE_SUM)                   \
                A_[i_] = (T)(UT)((UT)A_[i_] + (UT)X_[i_]); \
            else if (X_[i_] > A_[i_])                      \
                A_[i_] = X_[i_];                           \
        }                                                  \
    } while (0)

void hal_comm_combine(xhal_dtype dt, int op, void *acc, const void *src, int64_t n)
{
    switch (dt) {
        case XHAL_DTYPE_F32: COMBINE_FLOAT(float, acc, (const float *)src, op, n); break;
        case XHAL_DTYPE_F64: COMBINE_FLOAT(double, acc, (const double *)src, op, n); break;
        case XHAL_DTYPE_F16:
        case XHAL_DTYPE_BF16: {
            /* src is in dt: widen in chunks */
            const uint16_t *s = src;
            float tmp[256];
            float *a = acc;
            for (int64_t base = 0; base < n; base += 256) {
                int64_t m = n - base < 256 ? n - base : 256;
                for (int64_t i = 0; i < m; i++)
                    tmp[i] = dt == XHAL_DTYPE_F16 ? xhal_f16_to_f32(s[base + i]) : xhal_bf16_to_f32(s[base + i]);
                COMBINE_FLOAT(float, a + base, tmp, op, m);
            }
            break;
        }
        case XHAL_DTYPE_I8: COMBINE_INT(int8_t, uint8_t, acc, src, op, n); break;
        case XHAL_DTYPE_U8: COMBINE_INT(uint8_t, uint8_t, acc, src, op, n); break;
        case XHAL_DTYPE_I32: COMBINE_INT(int32_t, uint32_t, acc, src, op, n); break;
        case XHAL_DTYPE_I64: COMBINE_INT(int64_t, uint64_t, acc, src, op, n); break;
        default: break;
    }
}

xhal_status hal_comm_host_map(xhal_stream *s, xhal_tensor *t, int fill, void **ptr, void **staging)
{
    *ptr = NULL;
    *staging = NULL;
    xhal_status st = xhal_stream_synchronize(s);
    if (st != XHAL_OK) return st;
    int64_t n = hal_tensor_numel(t);
    size_t bytes = (size_t)n * xhal_dtype_size(t->dtype);
    void *p = NULL;
    /* a backend lends memory (buffer_host_ptr) only for devices whose memory is host memory */
    if (XHAL_BACKEND_TABLE_HAS(t->buf->dev->backend->table, buffer_host_ptr) &&
        xhal_tensor_host_pointer(t, &p) == XHAL_OK) {
        *ptr = p;
        return XHAL_OK;
    }
    void *buf = malloc(bytes ? bytes : 1);
    if (!buf) return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "out of host memory staging %zu bytes", bytes);
    if (fill && bytes) {
        st = xhal_tensor_read(s, t, buf, bytes);
        if (st != XHAL_OK) {
            free(buf);
            return st;
        }
    }
    *ptr = buf;
    *staging = buf;
    return XHAL_OK;
}

xhal_status hal_comm_host_unmap(xhal_stream *s, xhal_tensor *t, void *staging, int write)
{
    if (!staging) return XHAL_OK;
    xhal_status st = XHAL_OK;
    size_t bytes = (size_t)hal_tensor_numel(t) * xhal_dtype_size(t->dtype);
    if (write && bytes) st = xhal_tensor_write(s, t, staging, bytes);
    free(staging);
    return st;
}

/* ---- the collectives ---- */

typedef struct {
    void *in[XHAL_COMM_MAX_LOCAL], *in_stage[XHAL_COMM_MAX_LOCAL];
    void *out[XHAL_COMM_MAX_LOCAL], *out_stage[XHAL_COMM_MAX_LOCAL];
} maps;

static void unmap_all(const hal_coll *c, int n, maps *m)
{
    for (int i = 0; i < n; i++) {
        free(m->in_stage[i]);
        free(m->out_stage[i]);
    }
    (void)c;
}

xhal_status hal_comm_host_run(xhal_comm *comm, const hal_coll *c)
{
    int n = comm->n_local;
    xhal_dtype dt = c->dtype;
    size_t es = xhal_dtype_size(dt);
    maps m;
    memset(&m, 0, sizeof m);
    xhal_status st = XHAL_OK;
    /* inputs first (every rank's), so that in-place outputs are read before they are written */
    for (int i = 0; i < n && st == XHAL_OK; i++)
        if (c->kind != XHAL_COLL_BROADCAST || i == c->root)
            st = hal_comm_host_map(c->streams[i], c->send[i], 1, &m.in[i], &m.in_stage[i]);
    /* what every rank's recv (or its block) is made of: in the communicator's scratch memory,
     * kept between calls (a fresh allocation per call costs page faults at every size) */
    const void *result = NULL;
    int64_t total = c->count;
    if (st == XHAL_OK && c->kind == XHAL_COLL_BROADCAST) {
        result = m.in[c->root]; /* no output overlaps the root's input (validated) */
    } else if (st == XHAL_OK) {
        int reduce = c->kind == XHAL_COLL_ALL_REDUCE || c->kind == XHAL_COLL_REDUCE_SCATTER;
        size_t as = hal_comm_acc_size(dt);
        /* f16/bf16 accumulate in f32 beside the result; other dtypes accumulate in the result */
        size_t acc_off = ((size_t)total * es + 7) & ~(size_t)7; /* the f32 accumulator, aligned */
        size_t need = reduce && as != es ? acc_off + (size_t)total * as : (size_t)total * es;
        if (need > comm->scratch_size) {
            void *p = realloc(comm->scratch, need);
            if (!p)
                st = hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "%s: out of host memory (%zu bytes)", c->fn, need);
            else {
                comm->scratch = p;
                comm->scratch_size = need;
            }
        }
        if (st == XHAL_OK) {
            char *res = comm->scratch;
            result = res;
            if (reduce) {
                void *acc = as != es ? res + acc_off : res;
                hal_comm_acc_load(dt, acc, m.in[0], total);
                for (int i = 1; i < n; i++) hal_comm_combine(dt, c->op, acc, m.in[i], total);
                if (acc != res) hal_comm_acc_store(dt, res, acc, total);
            } else { /* ALL_GATHER */
                for (int i = 0; i < n; i++) {
                    int64_t off, len;
                    hal_comm_block(total, comm->size, i, &off, &len);
                    memcpy(res + off * (int64_t)es, m.in[i], (size_t)len * es);
                }
            }
        }
    }
    /* outputs */
    for (int i = 0; i < n && st == XHAL_OK; i++) {
        xhal_tensor *out = c->kind == XHAL_COLL_BROADCAST ? c->send[i] : c->recv[i];
        if (c->kind == XHAL_COLL_BROADCAST && i == c->root) continue;
        const char *src = result;
        int64_t len = total;
        if (c->kind == XHAL_COLL_REDUCE_SCATTER) {
            int64_t off;
            hal_comm_block(total, comm->size, i, &off, &len);
            src += off * (int64_t)es;
        }
        void *p, *stage;
        st = hal_comm_host_map(c->streams[i], out, 0, &p, &stage);
        if (st != XHAL_OK) break;
        memcpy(p, src, (size_t)len * es);
        st = hal_comm_host_unmap(c->streams[i], out, stage, 1);
    }
    unmap_all(c, n, &m);
    if (st != XHAL_OK) return hal_error_prefix(st, "%s (engine host)", c->fn);
    return XHAL_OK;
}

/* ---- buffered point to point ---- */

struct hal_msg {
    hal_msg *next;
    int src, dst;
    xhal_dtype dtype;
    int64_t count;
    unsigned char data[];
};

xhal_status hal_comm_host_send(xhal_comm *comm, const hal_coll *c)
{
    size_t bytes = (size_t)c->count * xhal_dtype_size(c->dtype);
    hal_msg *msg = malloc(sizeof *msg + bytes);
    if (!msg) return hal_set_error(XHAL_ERROR_OUT_OF_MEMORY, "%s: out of host memory (%zu bytes)", c->fn, bytes);
    void *p, *stage;
    xhal_status st = hal_comm_host_map(c->streams[0], c->send[0], 1, &p, &stage);
    if (st != XHAL_OK) {
        free(msg);
        return hal_error_prefix(st, "%s", c->fn);
    }
    memcpy(msg->data, p, bytes);
    free(stage);
    msg->next = NULL;
    msg->src = comm->first_rank + c->local;
    msg->dst = c->peer;
    msg->dtype = c->dtype;
    msg->count = c->count;
    pthread_mutex_lock(&comm->lock);
    hal_msg **tail = &comm->mailbox;
    while (*tail) tail = &(*tail)->next;
    *tail = msg;
    pthread_mutex_unlock(&comm->lock);
    return XHAL_OK;
}

xhal_status hal_comm_host_recv(xhal_comm *comm, const hal_coll *c)
{
    int me = comm->first_rank + c->local;
    pthread_mutex_lock(&comm->lock);
    hal_msg **pp = &comm->mailbox;
    while (*pp && !((*pp)->src == c->peer && (*pp)->dst == me)) pp = &(*pp)->next;
    hal_msg *msg = *pp;
    if (msg && (msg->dtype != c->dtype || msg->count != c->count)) {
        xhal_status st = msg->dtype != c->dtype ? XHAL_ERROR_DTYPE_MISMATCH : XHAL_ERROR_SHAPE_MISMATCH;
        char got[64];
        snprintf(got, sizeof got, "%lld %s", (long long)msg->count, xhal_dtype_name(msg->dtype));
        pthread_mutex_unlock(&comm->lock);
        return hal_set_error(st, "%s: rank %d receives %lld %s from rank %d, which sent %s (the message stays queued)",
                             c->fn, me, (long long)c->count, xhal_dtype_name(c->dtype), c->peer, got);
    }
    if (msg) *pp = msg->next;
    pthread_mutex_unlock(&comm->lock);
    if (!msg)
        return hal_set_error(XHAL_ERROR_INVALID_ARGUMENT,
                             "%s: rank %d has no message from rank %d (in one process, call xhal_send before the "
                             "matching xhal_recv)",
                             c->fn, me, c->peer);
    void *p, *stage;
    xhal_status st = hal_comm_host_map(c->streams[0], c->recv[0], 0, &p, &stage);
    if (st == XHAL_OK) {
        memcpy(p, msg->data, (size_t)msg->count * xhal_dtype_size(msg->dtype));
        st = hal_comm_host_unmap(c->streams[0], c->recv[0], stage, 1);
    }
    if (st != XHAL_OK) { /* put it back at the head: nothing is lost */
        pthread_mutex_lock(&comm->lock);
        msg->next = comm->mailbox;
        comm->mailbox = msg;
        pthread_mutex_unlock(&comm->lock);
        return hal_error_prefix(st, "%s", c->fn);
    }
    free(msg);
    return XHAL_OK;
}

void hal_comm_host_drop_mailbox(xhal_comm *comm)
{
    hal_msg *m = comm->mailbox;
    while (m) {
        hal_msg *next = m->next;
        free(m);
        m = next;
    }
    comm->mailbox = NULL;
}
