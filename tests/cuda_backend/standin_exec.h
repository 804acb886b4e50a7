/* standin_exec.h - host execution of the op kernels inside the stand-in driver. */
#ifndef STANDIN_EXEC_H
#define STANDIN_EXEC_H
#ifdef __cplusplus
extern "C" {
#endif
typedef struct xs_kernel {
    const char *name;
    void (*fn)(void **params);
    int barriers; /* uses work-group barriers: one host thread per work item */
    int nparams;
} xs_kernel;

extern const xs_kernel standin_kernels_f32[];
extern const xs_kernel standin_kernels_f64[];

/* Runs kernel `name` of the f32 (variant 0) or f64 (1) build over grid x block.
 * Returns 0, or -1 when there is no such kernel. */
int standin_exec(int variant, const char *name, const unsigned grid[3], const unsigned block[3], void **params);
#ifdef __cplusplus
}
#endif
#endif
