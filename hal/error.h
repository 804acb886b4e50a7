/* error.h - the thread-local error message and logging of the core (internal). */
#ifndef HAL_ERROR_H
#define HAL_ERROR_H

#include "xhal/xhal.h"
#include <stdarg.h>

#if defined(__GNUC__)
#define HAL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define HAL_PRINTF(a, b)
#endif

/* Set the calling thread's message and return st. */
xhal_status hal_set_error(xhal_status st, const char *fmt, ...) HAL_PRINTF(2, 3);
xhal_status hal_set_errorv(xhal_status st, const char *fmt, va_list ap);
/* Prefix the current message with "prefix: " (keeps st). */
xhal_status hal_error_prefix(xhal_status st, const char *fmt, ...) HAL_PRINTF(2, 3);
/* Clear the calling thread's message (start of every public call that succeeds). */
void hal_clear_error(void);
/* Copy of the current message into buf. */
void hal_error_copy(char *buf, size_t len);

/* Logging: one function; level from XHAL_LOG (error, warn, info, debug) or the context
 * options; quiet by default. Writes to stderr. */
void hal_log(int level, const char *who, const char *fmt, ...) HAL_PRINTF(3, 4);
void hal_logv(int level, const char *who, const char *fmt, va_list ap);
void hal_log_set_level(int level);
int hal_log_level(void);
/* Parse XHAL_LOG; returns -1 if unset or unknown. */
int hal_log_level_from_env(void);

#endif
