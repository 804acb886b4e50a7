/* dispatch.h - the op layer's internal interface: the checks (validate.h) and the one path
 * from a descriptor to a backend (hal_dispatch, internal.h). */
#ifndef HAL_DISPATCH_H
#define HAL_DISPATCH_H
#include "internal.h"
#include "shape.h"
#include "validate.h"
#endif
