/*
 * xcu_rtc.c - custom kernels (xhal_program_create / xhal_kernel_launch): portable-dialect
 * source, prefixed with the CUDA prelude and xk_common.h embedded in the plugin, compiled
 * by the vendor's runtime compiler (NVRTC; hiprtc for HIP) loaded with dlopen, to machine
 * code for the device, then loaded with cuModuleLoadData.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xcu_internal.h"

extern const char xcu_prelude_text[];
extern const char xcu_common_text[];
extern const unsigned long long xcu_prelude_text_size;

typedef struct xcu_rtc {
    void *library;
    char library_name[128];
    int (*create)(void **prog, const char *src, const char *name, int n_headers, const char *const *headers,
                  const char *const *include_names);
    int (*destroy)(void **prog);
    int (*compile)(void *prog, int n_options, const char *const *options);
    int (*log_size)(void *prog, size_t *size);
    int (*log)(void *prog, char *log);
    int (*code_size)(void *prog, size_t *size);
    int (*code)(void *prog, char *code);
    const char *(*error_string)(int result);
} xcu_rtc;

typedef struct xcu_program {
    xcu_module module;
    int device;
} xcu_program;

/* Loads the runtime compiler once. Returns it, or NULL with st->rtc_error set. */
static xcu_rtc *xcu_rtc_get(xcu_state *st)
{
    pthread_mutex_lock(&st->lock);
    if (!st->rtc_tried) {
        st->rtc_tried = 1;
        const char *env = secure_getenv(XCU_RTC_LIBRARY_ENV); /* not in setuid processes */
        const char *const defaults[] = XCU_RTC_LIBRARIES;
        const int from_env = env != NULL && env[0] != '\0';
        const size_t n_names = from_env ? 1 : sizeof defaults / sizeof defaults[0];
        const char *names[8] = {XCU_RTC_SYM_CreateProgram,     XCU_RTC_SYM_DestroyProgram, XCU_RTC_SYM_CompileProgram,
                                XCU_RTC_SYM_GetProgramLogSize, XCU_RTC_SYM_GetProgramLog,  XCU_RTC_SYM_GetCodeSize,
                                XCU_RTC_SYM_GetCode,           XCU_RTC_SYM_GetErrorString};
        snprintf(st->rtc_error, sizeof st->rtc_error, "%s is not available:", XCU_RTC_NAME);
        /* The first candidate that loads and has every entry point wins (HIP 5.x keeps
         * hiprtc inside libamdhip64, later versions in libhiprtc). */
        for (size_t c = 0; st->rtc == NULL && c < n_names; c++) {
            const char *used = from_env ? env : defaults[c];
            size_t len = strlen(st->rtc_error);
            void *lib = dlopen(used, RTLD_NOW | RTLD_LOCAL);
            if (lib == NULL) {
                const char *why = dlerror();
                snprintf(st->rtc_error + len, sizeof st->rtc_error - len, " %s", why != NULL ? why : used);
                continue;
            }
            void *p[8];
            int missing = -1;
            for (int i = 0; i < 8; i++)
                if ((p[i] = dlsym(lib, names[i])) == NULL && missing < 0) missing = i;
            xcu_rtc *r = missing < 0 ? xcu_host->host_calloc(1, sizeof *r) : NULL;
            if (r == NULL) {
                snprintf(st->rtc_error + len, sizeof st->rtc_error - len, " %s %s%s;", used,
                         missing >= 0 ? "lacks " : "could not be set up (no host memory)",
                         missing >= 0 ? names[missing] : "");
                dlclose(lib);
                continue;
            }
            r->library = lib;
            snprintf(r->library_name, sizeof r->library_name, "%s", used);
            memcpy(&r->create, &p[0], sizeof p[0]);
            memcpy(&r->destroy, &p[1], sizeof p[1]);
            memcpy(&r->compile, &p[2], sizeof p[2]);
            memcpy(&r->log_size, &p[3], sizeof p[3]);
            memcpy(&r->log, &p[4], sizeof p[4]);
            memcpy(&r->code_size, &p[5], sizeof p[5]);
            memcpy(&r->code, &p[6], sizeof p[6]);
            memcpy(&r->error_string, &p[7], sizeof p[7]);
            st->rtc = r;
        }
    }
    xcu_rtc *r = st->rtc;
    pthread_mutex_unlock(&st->lock);
    return r;
}

int xcu_rtc_available(xcu_state *st) { return xcu_prelude_text_size > 0 && xcu_rtc_get(st) != NULL; }

void xcu_rtc_unload(xcu_state *st)
{
    if (st->rtc != NULL) {
        /* The compiler library stays mapped: NVRTC keeps process-wide state (and its
         * allocations) that a dlclose would orphan; a later init reuses the mapping. */
        xcu_host->host_free(st->rtc);
    }
    st->rtc = NULL;
    st->rtc_tried = 0;
}

/* Splits options at blanks into argv (pointers into buf). Returns the count. */
static int xcu_split_options(char *buf, const char **argv, int max)
{
    int n = 0;
    for (char *p = buf; *p != '\0' && n < max;) {
        while (*p == ' ' || *p == '\t' || *p == '\n') *p++ = '\0';
        if (*p == '\0') break;
        argv[n++] = p;
        while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\n') p++;
    }
    return n;
}

xhal_status xcu_program_create(void *state, int device, const char *source, const char *options, void **program)
{
    xcu_state *st = state;
    xcu_dev *d = &st->devs[device];
    xcu_rtc *r = xcu_rtc_get(st);
    if (r == NULL)
        return xcu_host->set_error(XHAL_ERROR_UNSUPPORTED, "%s:%d: custom kernels need %s: %s", XCU_BACKEND_NAME,
                                   device, XCU_RTC_NAME, st->rtc_error);
    if (xcu_prelude_text_size == 0)
        return xcu_host->set_error(XHAL_ERROR_UNSUPPORTED, "%s:%d: this plugin was built without the dialect prelude",
                                   XCU_BACKEND_NAME, device);
    size_t lp = strlen(xcu_prelude_text), lc = strlen(xcu_common_text), ls = strlen(source);
    size_t lo = options != NULL ? strlen(options) : 0;
    char *full = xcu_host->host_alloc(lp + lc + ls + 64);
    char *optbuf = xcu_host->host_alloc(lo + 1);
    if (full == NULL || optbuf == NULL) {
        xcu_host->host_free(full);
        xcu_host->host_free(optbuf);
        return xcu_host->set_error(XHAL_ERROR_OUT_OF_MEMORY, "%s: no host memory for a program", XCU_BACKEND_NAME);
    }
    snprintf(full, lp + lc + ls + 64, "%s\n%s\n#line 1 \"program\"\n%s\n", xcu_prelude_text, xcu_common_text, source);
    memcpy(optbuf, options != NULL ? options : "", lo + 1);
    char arch[64], arch_opt[96];
    xcu_vendor_arch(arch, sizeof arch, d->cc_major, d->cc_minor, d->arch_attr);
    snprintf(arch_opt, sizeof arch_opt, "%s%s", XCU_RTC_ARCH_OPTION, arch);
    const char *argv[64];
    argv[0] = arch_opt;
    int argc = 1 + xcu_split_options(optbuf, argv + 1, 63);

    xhal_status status = XHAL_OK;
    void *prog = NULL;
    char *code = NULL;
    int rr = r->create(&prog, full, "program.cu", 0, NULL, NULL);
    if (rr != 0) {
        status = xcu_host->set_error(XHAL_ERROR_BACKEND, "%s:%d: %s create failed: %s", XCU_BACKEND_NAME, device,
                                     XCU_RTC_NAME, r->error_string(rr));
        goto done;
    }
    rr = r->compile(prog, argc, argv);
    if (rr != 0) {
        size_t n = 0;
        char *log = NULL;
        if (r->log_size(prog, &n) == 0 && n > 0 && (log = xcu_host->host_alloc(n + 1)) != NULL &&
            r->log(prog, log) == 0)
            log[n] = '\0';
        status =
            xcu_host->set_error(XHAL_ERROR_BACKEND, "%s:%d: compiling the program for %s failed (%s): %s",
                                XCU_BACKEND_NAME, device, arch, r->error_string(rr), log != NULL ? log : "(no log)");
        xcu_host->host_free(log);
        goto done;
    }
    size_t code_size = 0;
    if ((rr = r->code_size(prog, &code_size)) != 0 || code_size == 0 ||
        (code = xcu_host->host_alloc(code_size)) == NULL || (rr = r->code(prog, code)) != 0) {
        status = code_size > 0 && code == NULL
                     ? xcu_host->set_error(XHAL_ERROR_OUT_OF_MEMORY, "%s: no host memory for compiled code",
                                           XCU_BACKEND_NAME)
                     : xcu_host->set_error(XHAL_ERROR_BACKEND, "%s:%d: reading the compiled program failed: %s",
                                           XCU_BACKEND_NAME, device, r->error_string(rr));
        goto done;
    }
    if ((status = xcu_use_device(st, device)) != XHAL_OK) goto done;
    xcu_program *p = xcu_host->host_calloc(1, sizeof *p);
    if (p == NULL) {
        status = xcu_host->set_error(XHAL_ERROR_OUT_OF_MEMORY, "%s: no host memory for a program", XCU_BACKEND_NAME);
        goto done;
    }
    xcu_result cr = st->drv.cuModuleLoadData(&p->module, code);
    if (cr != XCU_SUCCESS) {
        xcu_host->host_free(p);
        status = xcu_fail(st, cr, XCU_SYM_cuModuleLoadData, "loading the compiled program");
        goto done;
    }
    p->device = device;
    *program = p;
done:
    if (prog != NULL) r->destroy(&prog);
    xcu_host->host_free(code);
    xcu_host->host_free(full);
    xcu_host->host_free(optbuf);
    return status;
}

void xcu_program_destroy(void *state, void *program)
{
    xcu_state *st = state;
    xcu_program *p = program;
    if (p == NULL) return;
    if (xcu_use_device(st, p->device) == XHAL_OK) st->drv.cuModuleUnload(p->module);
    xcu_host->host_free(p);
}

xhal_status xcu_kernel_launch(void *state, void *stream, void *program, const char *name, int dims,
                              const uint64_t *global_size, const uint64_t *local_size, int nargs,
                              const xhal_backend_kernel_arg *args)
{
    xcu_state *st = state;
    xcu_stream_obj *so = stream;
    xcu_program *p = program;
    xhal_status s = xcu_use_device(st, so->device);
    if (s != XHAL_OK) return s;
    xcu_function fn = NULL;
    xcu_result r = st->drv.cuModuleGetFunction(&fn, p->module, name);
    if (r != XCU_SUCCESS)
        return xcu_host->set_error(XHAL_ERROR_NOT_FOUND, "%s: kernel %s is not in the program (%s)", XCU_BACKEND_NAME,
                                   name, xcu_error_name(&st->drv, r));
    /* Default local sizes: 256 items in 1-D, 16x16 in 2-D, 8x8x4 in 3-D, never above the
     * global size. */
    static const unsigned defaults[3][3] = {{256, 1, 1}, {16, 16, 1}, {8, 8, 4}};
    unsigned grid[3] = {1, 1, 1}, block[3] = {1, 1, 1};
    const uint64_t limits[3] = {2147483647u, 65535u, 65535u};
    uint64_t threads = 1;
    for (int i = 0; i < dims; i++) {
        uint64_t l = local_size != NULL ? local_size[i] : defaults[dims - 1][i];
        if (local_size == NULL && l > global_size[i]) l = global_size[i] > 0 ? global_size[i] : 1;
        if (l == 0)
            return xcu_host->set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: kernel %s: local size %d is 0",
                                       XCU_BACKEND_NAME, name, i);
        uint64_t g = (global_size[i] + l - 1) / l;
        threads *= l;
        if (g > limits[i] || l > 1024 || threads > (uint64_t)st->devs[so->device].max_threads)
            return xcu_host->set_error(XHAL_ERROR_INVALID_ARGUMENT,
                                       "%s: kernel %s: global %llu / local %llu in dim %d exceed the device's launch "
                                       "limits (grid %llu, %d threads per block)",
                                       XCU_BACKEND_NAME, name, (unsigned long long)global_size[i],
                                       (unsigned long long)l, i, (unsigned long long)limits[i],
                                       st->devs[so->device].max_threads);
        grid[i] = (unsigned)g;
        block[i] = (unsigned)l;
    }
    union xcu_arg {
        xcu_deviceptr ptr;
        int32_t i32;
        int64_t i64;
        float f32;
    };
    union xcu_arg vals[64];
    void *params[64];
    if (nargs > 64)
        return xcu_host->set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: kernel %s: %d arguments (at most 64)",
                                   XCU_BACKEND_NAME, name, nargs);
    for (int i = 0; i < nargs; i++) {
        switch (args[i].kind) {
            case XHAL_ARG_TENSOR: vals[i].ptr = ((xcu_buffer *)args[i].buffer)->ptr + args[i].offset; break;
            case XHAL_ARG_I32: vals[i].i32 = args[i].value.i32; break;
            case XHAL_ARG_I64: vals[i].i64 = args[i].value.i64; break;
            case XHAL_ARG_F32: vals[i].f32 = args[i].value.f32; break;
            default:
                return xcu_host->set_error(XHAL_ERROR_INVALID_ARGUMENT, "%s: kernel %s: argument %d has kind %d",
                                           XCU_BACKEND_NAME, name, i, args[i].kind);
        }
        params[i] = &vals[i];
    }
    return xcu_launch(st, so, fn, name, grid, block, 0, params);
}
