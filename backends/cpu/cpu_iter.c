/* cpu_iter.c - strided N-d iteration (see cpu_iter.h). */
#include "cpu_iter.h"

void cpu_iter_init(cpu_iter *it, int ndim, const int64_t *shape, int nt, unsigned char *const *base,
                   const int64_t *const *strides, const size_t *elsize)
{
    it->nt = nt;
    it->ndim = 0;
    it->numel = 1;
    for (int t = 0; t < nt; t++) it->base[t] = base[t];
    for (int k = 0; k < ndim; k++) it->numel *= shape[k];
    /* keep dims of size != 1, outermost first */
    for (int k = 0; k < ndim; k++) {
        if (shape[k] == 1) continue;
        int d = it->ndim++;
        it->shape[d] = shape[k];
        for (int t = 0; t < nt; t++) it->bstride[t][d] = strides[t][k] * (int64_t)elsize[t];
    }
    if (it->ndim == 0) {
        it->ndim = 1;
        it->shape[0] = 1;
        for (int t = 0; t < nt; t++) it->bstride[t][0] = 0;
        return;
    }
    /* merge dim d into d+1 when, for every tensor, stride[d] == stride[d+1] * shape[d+1] */
    int out = 0;
    for (int d = 1; d < it->ndim; d++) {
        int ok = 1;
        for (int t = 0; t < nt; t++)
            if (it->bstride[t][out] != it->bstride[t][d] * it->shape[d]) ok = 0;
        if (ok) {
            it->shape[out] *= it->shape[d];
            for (int t = 0; t < nt; t++) it->bstride[t][out] = it->bstride[t][d];
        } else {
            out++;
            it->shape[out] = it->shape[d];
            for (int t = 0; t < nt; t++) it->bstride[t][out] = it->bstride[t][d];
        }
    }
    it->ndim = out + 1;
}

void cpu_iter_init_desc(cpu_iter *it, int nt, const xhal_tensor_desc *const *t)
{
    unsigned char *base[CPU_ITER_MAX];
    const int64_t *strides[CPU_ITER_MAX];
    size_t es[CPU_ITER_MAX];
    for (int i = 0; i < nt; i++) {
        base[i] = cpu_tensor_base(t[i]);
        strides[i] = t[i]->strides;
        es[i] = cpu_dtype_size(t[i]->dtype);
    }
    cpu_iter_init(it, t[0]->ndim, t[0]->shape, nt, base, strides, es);
}

typedef struct iter_job {
    const cpu_iter *it;
    cpu_run_fn fn;
    void *ctx;
} iter_job;

/* Elements [begin, end) in row-major order of the coalesced shape. */
static void iter_range(void *vctx, int64_t begin, int64_t end, int worker)
{
    (void)worker;
    const iter_job *job = vctx;
    const cpu_iter *it = job->it;
    int nd = it->ndim, nt = it->nt;
    int64_t inner = it->shape[nd - 1];
    int64_t idx[XHAL_MAX_DIMS];
    unsigned char *p[CPU_ITER_MAX];
    int64_t bs[CPU_ITER_MAX];

    int64_t row = begin / inner, col = begin % inner;
    for (int k = nd - 2; k >= 0; k--) {
        idx[k] = row % it->shape[k];
        row /= it->shape[k];
    }
    for (int t = 0; t < nt; t++) {
        int64_t off = col * it->bstride[t][nd - 1];
        for (int k = 0; k < nd - 1; k++) off += idx[k] * it->bstride[t][k];
        p[t] = it->base[t] + off;
        bs[t] = it->bstride[t][nd - 1];
    }
    int64_t pos = begin;
    while (pos < end) {
        int64_t len = inner - col;
        if (len > end - pos) len = end - pos;
        job->fn(job->ctx, len, p, bs);
        pos += len;
        if (pos >= end) break;
        /* next row: rewind the inner dim, carry through the outer ones */
        for (int t = 0; t < nt; t++) p[t] -= col * bs[t];
        col = 0;
        for (int k = nd - 2; k >= 0; k--) {
            idx[k]++;
            for (int t = 0; t < nt; t++) p[t] += it->bstride[t][k];
            if (idx[k] < it->shape[k]) break;
            for (int t = 0; t < nt; t++) p[t] -= it->bstride[t][k] * it->shape[k];
            idx[k] = 0;
        }
    }
}

void cpu_iter_run(cpu_state *st, const cpu_iter *it, cpu_run_fn fn, void *ctx, int64_t par_min, int64_t grain)
{
    if (it->numel <= 0) return;
    iter_job job = {it, fn, ctx};
    if (par_min > 0 && it->numel >= par_min && st)
        cpu_parallel_for(st->pool, it->numel, grain, iter_range, &job);
    else
        iter_range(&job, 0, it->numel, 0);
}
