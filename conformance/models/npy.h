/* npy.h - the NumPy .npy format (v1.0 written; v1.0-v3.0 read), f32 arrays only: what the
 * model suite and xhal-run need to exchange logits with Python. Format:
 * https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html */
#ifndef XC_NPY_H
#define XC_NPY_H
#include <stdint.h>
#include "xhal/xhal.h"

#define XC_NPY_MAX_DIMS 8

/* Write a little-endian f32 C-order array of ndim dims (0..8) to path (replaced if it
 * exists). On failure returns XHAL_ERROR_IO / INVALID_ARGUMENT and writes a message to
 * err (may be NULL). */
xhal_status xc_npy_write_f32(const char *path, const float *data, int ndim, const int64_t *shape, char *err,
                             size_t err_len);

/* Read an f32 ('<f4', C order) array. On success *data is malloc'd (caller frees), *ndim and
 * shape[0..ndim) are set. Refuses other dtypes, Fortran order, malformed headers, sizes that
 * disagree with the file, with a message in err. Errors: NOT_FOUND, IO, CORRUPT_DATA,
 * UNSUPPORTED, OUT_OF_MEMORY. */
xhal_status xc_npy_read_f32(const char *path, float **data, int *ndim, int64_t *shape, char *err, size_t err_len);
#endif
