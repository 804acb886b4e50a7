/* npy_close - compare two f32 .npy files of one shape: prints the largest absolute difference
 * and its ratio to max(1, max |b|); exit status 0 when that ratio is within TOL, 1 otherwise, 2
 * for a file that cannot be read or shapes that differ. Used by the tensor-parallel MPI test
 * (tp_mpi.cmake) to compare `mpirun -np 2 xhal-run --tp 2` logits with the one-device run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npy.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: npy_close A.npy B.npy TOL\n");
        return 2;
    }
    char err[512];
    float *a = NULL, *b = NULL;
    int na = 0, nb = 0;
    int64_t sa[XC_NPY_MAX_DIMS], sb[XC_NPY_MAX_DIMS];
    if (xc_npy_read_f32(argv[1], &a, &na, sa, err, sizeof err) != XHAL_OK ||
        xc_npy_read_f32(argv[2], &b, &nb, sb, err, sizeof err) != XHAL_OK) {
        fprintf(stderr, "npy_close: %s\n", err);
        free(a);
        return 2;
    }
    int rc = 2;
    if (na != nb || memcmp(sa, sb, (size_t)na * sizeof sa[0]) != 0) {
        fprintf(stderr, "npy_close: %s and %s differ in shape\n", argv[1], argv[2]);
        goto done;
    }
    size_t n = 1;
    for (int i = 0; i < na; i++) n *= (size_t)sa[i];
    double e = 0, mag = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > e || d != d) e = d;
        if (fabs((double)b[i]) > mag) mag = fabs((double)b[i]);
    }
    const double tol = atof(argv[3]), rel = e / (mag > 1 ? mag : 1);
    printf("npy_close: %zu values, max |a - b| %.3g, %.3g of max(1, max |b|) %.3g, bound %.3g: %s\n", n, e, rel, mag,
           tol, rel <= tol ? "within" : "OUTSIDE");
    rc = rel <= tol ? 0 : 1;
done:
    free(a);
    free(b);
    return rc;
}
