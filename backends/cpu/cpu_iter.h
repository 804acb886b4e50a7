/*
 * cpu_iter.h - strided N-d iteration over up to CPU_ITER_MAX tensors of one shape.
 *
 * Dimensions of size 1 are dropped and neighbours that are contiguous for every
 * tensor are merged, so a contiguous tensor becomes one long row. The kernel is
 * called for runs of the innermost dimension: n elements, a pointer and a byte stride
 * per tensor. Large iterations are split over the thread pool by element ranges.
 */
#ifndef XHAL_CPU_ITER_H
#define XHAL_CPU_ITER_H

#include "cpu_internal.h"

#define CPU_ITER_MAX 4

typedef void (*cpu_run_fn)(void *ctx, int64_t n, unsigned char *const *ptr, const int64_t *bstride);

typedef struct cpu_iter {
    int ndim;
    int nt;
    int64_t shape[XHAL_MAX_DIMS];
    int64_t bstride[CPU_ITER_MAX][XHAL_MAX_DIMS];
    unsigned char *base[CPU_ITER_MAX];
    int64_t numel;
} cpu_iter;

/* Set up an iteration over `shape` (ndim in [0, 8]); tensor t has first element base[t]
 * and strides strides[t] (in elements of size elsize[t]). */
void cpu_iter_init(cpu_iter *it, int ndim, const int64_t *shape, int nt, unsigned char *const *base,
                   const int64_t *const *strides, const size_t *elsize);
/* Same, from descriptors that all have t[0]'s shape. */
void cpu_iter_init_desc(cpu_iter *it, int nt, const xhal_tensor_desc *const *t);

/* Call fn for every element, in parallel (chunks of at least grain elements) when numel is
 * at least `par_min` (0: never). */
void cpu_iter_run(cpu_state *st, const cpu_iter *it, cpu_run_fn fn, void *ctx, int64_t par_min, int64_t grain);

#endif /* XHAL_CPU_ITER_H */
