/*
 * xhal/plugin/xhal_iter.h - walk every element of up to XHAL_ITER_MAX tensors of one shape,
 * header-only, for backends that run ops on host-addressable memory.
 *
 * The core hands a backend strided tensors (xhal_tensor_desc: shape, strides in elements,
 * stride 0 on broadcast dims). This helper visits the elements of the first tensor's shape
 * in row-major order and keeps, for every tensor, the element offset of the current
 * element (in elements, from the tensor's first element: add it to the pointer your
 * buffer and desc->offset give):
 *
 *     const xhal_tensor_desc *t[3] = {&d->outputs[0], &d->inputs[0], &d->inputs[1]};
 *     xhal_iter it;
 *     for (xhal_iter_init(&it, 3, t); !it.done; xhal_iter_next(&it))
 *         out[it.off[0]] = a[it.off[1]] + b[it.off[2]];
 *
 * It is simple, not fast: a backend that cares merges contiguous dims itself (see
 * backends/cpu/cpu_iter.c). Empty tensors never reach a backend, but an iteration over a
 * shape with a 0 dim starts done.
 */
#ifndef XHAL_PLUGIN_ITER_H
#define XHAL_PLUGIN_ITER_H

#include <stdint.h>

#include "../xhal_backend.h"

#define XHAL_ITER_MAX 4

typedef struct xhal_iter {
    int ndim; /* of the first tensor */
    int n;    /* tensors */
    int done; /* nonzero when every element was visited */
    int64_t shape[XHAL_MAX_DIMS];
    int64_t strides[XHAL_ITER_MAX][XHAL_MAX_DIMS]; /* elements; 0 past a tensor's own ndim */
    int64_t index[XHAL_MAX_DIMS];                  /* the current element's index */
    int64_t off[XHAL_ITER_MAX];                    /* the current element's offset per tensor */
} xhal_iter;

/* Start at element 0 of t[0]'s shape for n (1..XHAL_ITER_MAX) tensors. Tensors after the first
 * must have t[0]'s ndim or broadcast to it from the right (extra leading dims count as size 1:
 * the core always hands equal ndim for elementwise ops). */
static inline void xhal_iter_init(xhal_iter *it, int n, const xhal_tensor_desc *const *t)
{
    it->n = n < 1 ? 1 : n > XHAL_ITER_MAX ? XHAL_ITER_MAX : n;
    it->ndim = t[0]->ndim;
    it->done = 0;
    for (int d = 0; d < XHAL_MAX_DIMS; d++) {
        it->shape[d] = d < it->ndim ? t[0]->shape[d] : 1;
        it->index[d] = 0;
        if (it->shape[d] <= 0) it->done = 1;
    }
    for (int k = 0; k < it->n; k++) {
        int lead = it->ndim - t[k]->ndim; /* dims t[k] lacks on the left */
        for (int d = 0; d < XHAL_MAX_DIMS; d++) {
            int src = d - lead;
            it->strides[k][d] = (d < it->ndim && src >= 0 && src < t[k]->ndim) ? t[k]->strides[src] : 0;
        }
        it->off[k] = 0;
    }
}

/* Move to the next element (row-major: the last dim fastest); sets it->done after the last. */
static inline void xhal_iter_next(xhal_iter *it)
{
    for (int d = it->ndim - 1; d >= 0; d--) {
        if (++it->index[d] < it->shape[d]) {
            for (int k = 0; k < it->n; k++) it->off[k] += it->strides[k][d];
            return;
        }
        /* wrap this dim back to 0 and carry into the next one to the left */
        for (int k = 0; k < it->n; k++) it->off[k] -= (it->shape[d] - 1) * it->strides[k][d];
        it->index[d] = 0;
    }
    it->done = 1; /* carried out of dim 0 (or a 0-dim tensor: its one element was visited) */
}

#endif /* XHAL_PLUGIN_ITER_H */
