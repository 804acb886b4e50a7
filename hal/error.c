/* error.c - status names, the thread-local message, logging. */
#include "error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HAL_MSG_MAX 4096
static _Thread_local char tls_msg[HAL_MSG_MAX];

XHAL_API const char *xhal_status_name(xhal_status s)
{
    switch (s) {
        case XHAL_OK: return "XHAL_OK";
        case XHAL_ERROR_INVALID_ARGUMENT: return "XHAL_ERROR_INVALID_ARGUMENT";
        case XHAL_ERROR_INVALID_HANDLE: return "XHAL_ERROR_INVALID_HANDLE";
        case XHAL_ERROR_DTYPE_MISMATCH: return "XHAL_ERROR_DTYPE_MISMATCH";
        case XHAL_ERROR_SHAPE_MISMATCH: return "XHAL_ERROR_SHAPE_MISMATCH";
        case XHAL_ERROR_OUT_OF_RANGE: return "XHAL_ERROR_OUT_OF_RANGE";
        case XHAL_ERROR_OVERFLOW: return "XHAL_ERROR_OVERFLOW";
        case XHAL_ERROR_OUT_OF_MEMORY: return "XHAL_ERROR_OUT_OF_MEMORY";
        case XHAL_ERROR_UNSUPPORTED: return "XHAL_ERROR_UNSUPPORTED";
        case XHAL_ERROR_UNAVAILABLE: return "XHAL_ERROR_UNAVAILABLE";
        case XHAL_ERROR_NOT_FOUND: return "XHAL_ERROR_NOT_FOUND";
        case XHAL_ERROR_WRONG_DEVICE: return "XHAL_ERROR_WRONG_DEVICE";
        case XHAL_ERROR_IO: return "XHAL_ERROR_IO";
        case XHAL_ERROR_CORRUPT_DATA: return "XHAL_ERROR_CORRUPT_DATA";
        case XHAL_ERROR_ABI_MISMATCH: return "XHAL_ERROR_ABI_MISMATCH";
        case XHAL_ERROR_BACKEND: return "XHAL_ERROR_BACKEND";
        case XHAL_ERROR_INTERNAL: return "XHAL_ERROR_INTERNAL";
    }
    return "XHAL_ERROR_UNKNOWN";
}

XHAL_API const char *xhal_last_error(void) { return tls_msg; }

xhal_status hal_set_errorv(xhal_status st, const char *fmt, va_list ap)
{
    char tmp[HAL_MSG_MAX];
    /* fmt's arguments may point into tls_msg itself (re-raising a message) */
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    memcpy(tls_msg, tmp, sizeof tmp);
    hal_log(XHAL_LOG_DEBUG, "error", "%s: %s", xhal_status_name(st), tls_msg);
    return st;
}

xhal_status hal_set_error(xhal_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    hal_set_errorv(st, fmt, ap);
    va_end(ap);
    return st;
}

XHAL_API xhal_status xhal_set_error(xhal_status st, const char *fmt, ...)
{
    if (!fmt) {
        tls_msg[0] = '\0';
        return st;
    }
    va_list ap;
    va_start(ap, fmt);
    hal_set_errorv(st, fmt, ap);
    va_end(ap);
    return st;
}

xhal_status hal_error_prefix(xhal_status st, const char *fmt, ...)
{
    char prefix[512], old[HAL_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, tls_msg, sizeof old);
    snprintf(tls_msg, sizeof tls_msg, "%s: %s", prefix, old);
    return st;
}

void hal_clear_error(void) { tls_msg[0] = '\0'; }

void hal_error_copy(char *buf, size_t len)
{
    if (len == 0) return;
    snprintf(buf, len, "%s", tls_msg);
}

/* ---- logging ---- */
static int g_log_level = -2; /* -2: not yet read from the environment */

int hal_log_level_from_env(void)
{
    const char *v = getenv("XHAL_LOG");
    if (!v || !*v) return -1;
    if (!strcasecmp(v, "off") || !strcmp(v, "0")) return XHAL_LOG_OFF;
    if (!strcasecmp(v, "error")) return XHAL_LOG_ERROR;
    if (!strcasecmp(v, "warn") || !strcasecmp(v, "warning")) return XHAL_LOG_WARN;
    if (!strcasecmp(v, "info")) return XHAL_LOG_INFO;
    if (!strcasecmp(v, "debug")) return XHAL_LOG_DEBUG;
    return -1;
}

int hal_log_level(void)
{
    int l = __atomic_load_n(&g_log_level, __ATOMIC_RELAXED);
    if (l == -2) {
        l = hal_log_level_from_env();
        if (l < 0) l = XHAL_LOG_OFF;
        __atomic_store_n(&g_log_level, l, __ATOMIC_RELAXED);
    }
    return l;
}

void hal_log_set_level(int level) { __atomic_store_n(&g_log_level, level, __ATOMIC_RELAXED); }

void hal_logv(int level, const char *who, const char *fmt, va_list ap)
{
    static const char *names[] = {"off", "error", "warn", "info", "debug"};
    if (level <= XHAL_LOG_OFF || level > hal_log_level()) return;
    char line[2048];
    vsnprintf(line, sizeof line, fmt, ap);
    fprintf(stderr, "xhal[%s] %s: %s\n", names[level > 4 ? 4 : level], who ? who : "core", line);
}

void hal_log(int level, const char *who, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    hal_logv(level, who, fmt, ap);
    va_end(ap);
}
