/* xc_coll.h - the collectives conformance suite (xc_coll.c; conformance/COLLECTIVES.md). */
#ifndef XC_COLL_H
#define XC_COLL_H
#include "xhal/xhal.h"

typedef struct xc_coll_options {
    const char *const *devices; /* --device specs: one device set (in one process), or per rank (mpi) */
    int n_devices;
    int mpi;                /* one rank per process through xhal_comm_create_mpi (run under mpirun) */
    const char *report_dir; /* collectives.json and collectives.md go there (NULL: none) */
    int quiet;              /* print failures and the summary only */
} xc_coll_options;

/* Run every collective x dtype (f32 f16 bf16 i32 f64 i8 u8 i64) x count (0, 1, size-1, 7, 1000,
 * 65537) against the f64 host reference. In one process: the devices named as one set, else
 * cpu:0 twice, cpu:0 three times, cpu:0 + opencl:0 and every backend with two devices or more.
 * Under MPI: rank r on devices[r % n] (default cpu:0); failures are summed over the ranks and
 * rank 0 writes the report. Returns the exit status: 0 all passed, 1 a case failed, 2 setup
 * error, 3 no device set. */
int xc_coll_conform(const xc_coll_options *o);

#endif
