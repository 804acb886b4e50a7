/*
 * xcu_driver.h - the dlopen'd driver: one function-pointer table built from
 * XCU_DRIVER_SYMBOLS and XCU_VENDOR_SYMBOLS, its loader and error naming.
 */
#ifndef XCU_DRIVER_H
#define XCU_DRIVER_H

#include "xcu_api.h"
#include "xcu_symbols.h"

typedef struct xcu_driver {
    void *library;
    char library_name[256];
    int version; /* from cuDriverGetVersion */
#define XCU_FIELD_(ret, name, params) ret(*name) params;
    XCU_DRIVER_SYMBOLS(XCU_FIELD_)
    XCU_VENDOR_SYMBOLS(XCU_FIELD_)
#undef XCU_FIELD_
} xcu_driver;

/* Open the driver library (XCU_DRIVER_LIBRARY, or the path in XCU_DRIVER_LIBRARY_ENV),
 * resolve every symbol, call cuInit(0) and check the version. On failure writes a
 * reason naming the library, the missing symbol or the driver's error into reason,
 * closes the library and returns nonzero. */
int xcu_driver_load(xcu_driver *drv, char *reason, size_t reason_size);
void xcu_driver_unload(xcu_driver *drv);

/* "CUDA_ERROR_OUT_OF_MEMORY" (the driver's own name) or "error 123" when it has none.
 * The returned string is static or owned by the driver. */
const char *xcu_error_name(const xcu_driver *drv, xcu_result r);

#endif
