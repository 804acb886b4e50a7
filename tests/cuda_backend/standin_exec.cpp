/*
 * standin_exec.cpp - runs the host build of the op kernels with CUDA's launch model:
 * blocks one after the other; within a block, kernels without barriers run their work
 * items in a loop, kernels with barriers get one host thread per work item, all meeting
 * at a pthread barrier (XK_BARRIER) and once more at the end of each block, so static
 * work-group memory is never shared between two blocks.
 */
#include <pthread.h>
#include <string.h>

#include "standin_exec.h"

thread_local unsigned xs_tid[3], xs_bid[3];
unsigned xs_bdim[3], xs_gdim[3];
pthread_barrier_t xs_barrier;

namespace {
struct worker {
    pthread_t thread;
    unsigned index;
    const xs_kernel *k;
    void **params;
};

void set_block(unsigned long long b)
{
    xs_bid[0] = (unsigned)(b % xs_gdim[0]);
    xs_bid[1] = (unsigned)((b / xs_gdim[0]) % xs_gdim[1]);
    xs_bid[2] = (unsigned)(b / ((unsigned long long)xs_gdim[0] * xs_gdim[1]));
}

void set_thread(unsigned t)
{
    xs_tid[0] = t % xs_bdim[0];
    xs_tid[1] = (t / xs_bdim[0]) % xs_bdim[1];
    xs_tid[2] = t / (xs_bdim[0] * xs_bdim[1]);
}

void *run_worker(void *arg)
{
    worker *w = static_cast<worker *>(arg);
    unsigned long long blocks = (unsigned long long)xs_gdim[0] * xs_gdim[1] * xs_gdim[2];
    set_thread(w->index);
    for (unsigned long long b = 0; b < blocks; b++) {
        set_block(b);
        w->k->fn(w->params);
        pthread_barrier_wait(&xs_barrier);
    }
    return nullptr;
}
} // namespace

extern "C" int standin_exec(int variant, const char *name, const unsigned grid[3], const unsigned block[3],
                            void **params)
{
    const xs_kernel *k = variant ? standin_kernels_f64 : standin_kernels_f32;
    while (k->name != nullptr && strcmp(k->name, name) != 0)
        k++;
    if (k->name == nullptr)
        return -1;
    memcpy(xs_gdim, grid, sizeof xs_gdim);
    memcpy(xs_bdim, block, sizeof xs_bdim);
    unsigned threads = block[0] * block[1] * block[2];
    unsigned long long blocks = (unsigned long long)grid[0] * grid[1] * grid[2];
    if (!k->barriers) {
        for (unsigned long long b = 0; b < blocks; b++) {
            set_block(b);
            for (unsigned t = 0; t < threads; t++) {
                set_thread(t);
                k->fn(params);
            }
        }
        return 0;
    }
    static worker workers[1024];
    pthread_barrier_init(&xs_barrier, nullptr, threads);
    for (unsigned t = 0; t < threads; t++) {
        workers[t].index = t;
        workers[t].k = k;
        workers[t].params = params;
        pthread_create(&workers[t].thread, nullptr, run_worker, &workers[t]);
    }
    for (unsigned t = 0; t < threads; t++)
        pthread_join(workers[t].thread, nullptr);
    pthread_barrier_destroy(&xs_barrier);
    return 0;
}
