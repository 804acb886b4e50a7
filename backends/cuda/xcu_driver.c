/* xcu_driver.c - loading the driver through the one symbol table. */
#include "xcu_driver.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *xcu_error_name(const xcu_driver *drv, xcu_result r)
{
    const char *name = NULL;
    if (drv != NULL && drv->cuGetErrorName != NULL && XCU_GET_ERROR_NAME(drv, r, &name) == XCU_SUCCESS &&
        name != NULL && name[0] != '\0')
        return name;
    return "an unnamed error";
}

/* One table entry: name inside xhal, exported symbol, where the pointer goes. */
typedef struct xcu_symbol_slot {
    const char *symbol;
    void **slot;
} xcu_symbol_slot;

int xcu_driver_load(xcu_driver *drv, char *reason, size_t reason_size)
{
    memset(drv, 0, sizeof *drv);
    const char *env = secure_getenv(XCU_DRIVER_LIBRARY_ENV); /* not in setuid processes */
    const int from_env = env != NULL && env[0] != '\0';
    const char *const defaults[] = XCU_DRIVER_LIBRARIES;
    const char *lib = NULL;
    char tried[384] = "";
    /* The environment names one library; otherwise the vendor's names in order. */
    for (size_t i = 0; drv->library == NULL && i < (from_env ? 1 : sizeof defaults / sizeof defaults[0]); i++) {
        lib = from_env ? env : defaults[i];
        dlerror();
        drv->library = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
        if (drv->library == NULL) {
            const char *why = dlerror();
            size_t used = strlen(tried);
            snprintf(tried + used, sizeof tried - used, "%s%s", used ? "; " : "", why != NULL ? why : lib);
        }
    }
    if (drv->library == NULL) {
        snprintf(reason, reason_size, "%s library %s could not be loaded%s: %s", XCU_DRIVER_LABEL,
                 from_env ? env : XCU_DRIVER_LIBRARY, from_env ? " (path from " XCU_DRIVER_LIBRARY_ENV ")" : "", tried);
        return 1;
    }
    snprintf(drv->library_name, sizeof drv->library_name, "%s", lib);

    /* The list expanded a second time: every entry is resolved, none can be forgotten. */
    const xcu_symbol_slot slots[] = {
#define XCU_SLOT_(ret, name, params) {XCU_SYM_##name, (void **)&drv->name},
        XCU_DRIVER_SYMBOLS(XCU_SLOT_) XCU_VENDOR_SYMBOLS(XCU_SLOT_)
#undef XCU_SLOT_
    };
    for (size_t i = 0; i < sizeof slots / sizeof slots[0]; i++) {
        void *p = dlsym(drv->library, slots[i].symbol);
        if (p == NULL) {
            snprintf(reason, reason_size, "%s library %s lacks the symbol %s (driver too old or not a %s)",
                     XCU_DRIVER_LABEL, lib, slots[i].symbol, XCU_DRIVER_LABEL);
            xcu_driver_unload(drv);
            return 1;
        }
        /* dlsym returns void*; POSIX guarantees it converts to a function pointer. */
        memcpy(slots[i].slot, &p, sizeof p);
    }

    xcu_result r = drv->cuInit(0);
    if (r != XCU_SUCCESS) {
        const char *text = NULL;
        if (XCU_GET_ERROR_STRING(drv, r, &text) != XCU_SUCCESS || text == NULL) text = "";
        snprintf(reason, reason_size, "%s (%s): " XCU_SYM_cuInit " failed with %s (%d)%s%s", XCU_DRIVER_LABEL, lib,
                 xcu_error_name(drv, r), r, text[0] ? ": " : "", text);
        xcu_driver_unload(drv);
        return 1;
    }
    r = drv->cuDriverGetVersion(&drv->version);
    if (r != XCU_SUCCESS) {
        snprintf(reason, reason_size, "%s (%s): " XCU_SYM_cuDriverGetVersion " failed with %s", XCU_DRIVER_LABEL, lib,
                 xcu_error_name(drv, r));
        xcu_driver_unload(drv);
        return 1;
    }
    if (drv->version < XCU_MIN_DRIVER_VERSION) {
        char have[64], need[64];
        xcu_vendor_driver_version(have, sizeof have, drv->version);
        xcu_vendor_driver_version(need, sizeof need, XCU_MIN_DRIVER_VERSION);
        snprintf(reason, reason_size, "%s (%s) is version %d (%s) but this backend needs at least %d (%s)",
                 XCU_DRIVER_LABEL, lib, drv->version, have, XCU_MIN_DRIVER_VERSION, need);
        xcu_driver_unload(drv);
        return 1;
    }
    return 0;
}

void xcu_driver_unload(xcu_driver *drv)
{
    if (drv->library != NULL) dlclose(drv->library);
    char name[sizeof drv->library_name];
    memcpy(name, drv->library_name, sizeof name);
    memset(drv, 0, sizeof *drv);
    memcpy(drv->library_name, name, sizeof name);
}
