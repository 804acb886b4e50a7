/* version.c - the library version, from the XHAL_VERSION_* macros of xhal.h (the root
 * CMakeLists.txt refuses to configure when they differ from the project's version). */
#include "xhal/xhal.h"

#define HAL_STR_(x) #x
#define HAL_XSTR_(x) HAL_STR_(x)

XHAL_API const char *xhal_version(void)
{
    return HAL_XSTR_(XHAL_VERSION_MAJOR) "." HAL_XSTR_(XHAL_VERSION_MINOR) "." HAL_XSTR_(XHAL_VERSION_PATCH);
}
