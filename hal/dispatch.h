/* dispatch.h - shared checks of the op layer (internal). */
#ifndef HAL_DISPATCH_H
#define HAL_DISPATCH_H
#include "internal.h"
#include "shape.h"

/* Check the stream and every tensor handle (names[i] names ts[i] in messages; NULL entries
 * of ts are skipped when optional[i]), and that each lives on the stream's device. */
xhal_status hal_op_prelude(const char *fn, xhal_stream *s, int n, xhal_tensor *const *ts,
                           const char *const *names, const int *optional);
/* Output may not have a zero stride on a dimension longer than 1. */
xhal_status hal_check_writable(const char *fn, const char *name, const xhal_tensor *t);
/* A block-quantized dt on a device whose xhal_device_info.dtypes lacks it: UNSUPPORTED
 * naming both (its kernels would not know the layout). OK for plain dtypes. */
xhal_status hal_check_device_stores(const char *fn, xhal_device *dev, xhal_dtype dt);
/* 1 if the two views may touch a common byte. */
int hal_tensors_overlap(const xhal_tensor *a, const xhal_tensor *b);
/* 1 if a and b are the very same view (buffer, offset, dtype, shape and strides). */
int hal_tensors_same_view(const xhal_tensor *a, const xhal_tensor *b);
/* out must not overlap in unless (allow_same and they are the same view). */
xhal_status hal_check_no_overlap(const char *fn, const char *oname, const xhal_tensor *out, const char *iname,
                                 const xhal_tensor *in, int allow_same);
int64_t hal_tensor_numel(const xhal_tensor *t);
#endif
