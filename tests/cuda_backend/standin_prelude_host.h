/*
 * standin_prelude_host.h - the portable kernel dialect on the host, for the stand-in
 * driver only: a kernel is a plain C++ function, work-group memory is static (one group
 * runs at a time), a barrier is a pthread barrier across the group's threads
 * (standin_exec.cpp runs one host thread per work item of a group).
 */
#ifndef STANDIN_PRELUDE_HOST_H
#define STANDIN_PRELUDE_HOST_H

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

extern thread_local unsigned xs_tid[3], xs_bid[3];
extern unsigned xs_bdim[3], xs_gdim[3];
extern pthread_barrier_t xs_barrier;

#define XK_HAS_FP64 1
#define XK_KERNEL static
#define XK_GLOBAL
#define XK_LOCAL static
#define XK_LOCAL_PTR
#define XK_INLINE static inline
#define XK_BARRIER() pthread_barrier_wait(&xs_barrier)

#define XK_LOCAL_ID(d) ((long long)xs_tid[d])
#define XK_GROUP_ID(d) ((long long)xs_bid[d])
#define XK_LOCAL_SIZE(d) ((long long)xs_bdim[d])
#define XK_NUM_GROUPS(d) ((long long)xs_gdim[d])
#define XK_GLOBAL_ID(d) (XK_GROUP_ID(d) * XK_LOCAL_SIZE(d) + XK_LOCAL_ID(d))

typedef signed char xk_i8;
typedef unsigned char xk_u8;
typedef short xk_i16;
typedef unsigned short xk_u16;
typedef int xk_i32;
typedef unsigned int xk_u32;
typedef long long xk_i64;
typedef unsigned long long xk_u64;

static inline xk_u32 xs_f2u(float f)
{
    xk_u32 u;
    memcpy(&u, &f, 4);
    return u;
}
static inline float xs_u2f(xk_u32 u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}
#define XK_FLOAT_AS_U32(f) xs_f2u(f)
#define XK_U32_AS_FLOAT(u) xs_u2f(u)

#define XK_EXPF(x) expf(x)
#define XK_LOGF(x) logf(x)
#define XK_SQRTF(x) sqrtf(x)
#define XK_RSQRTF(x) (1.0f / sqrtf(x))
#define XK_TANHF(x) tanhf(x)
#define XK_ERFF(x) erff(x)
#define XK_FABSF(x) fabsf(x)
#define XK_POWF(x, y) powf(x, y)
#define XK_SINF(x) sinf(x)
#define XK_COSF(x) cosf(x)
#define XK_FMAXF(x, y) fmaxf(x, y)
#define XK_FMINF(x, y) fminf(x, y)
#define XK_ISNANF(x) isnan(x)
#define XK_INFINITY_F INFINITY

#define XK_EXP(x) exp(x)
#define XK_LOG(x) log(x)
#define XK_SQRT(x) sqrt(x)
#define XK_TANH(x) tanh(x)
#define XK_ERF(x) erf(x)
#define XK_FABS(x) fabs(x)
#define XK_POW(x, y) pow(x, y)
#define XK_SIN(x) sin(x)
#define XK_COS(x) cos(x)
#define XK_ISNAN(x) isnan(x)

#endif
