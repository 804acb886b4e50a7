/* fault.c - one counter for every fault-injection site. */
#include "fault.h"
#include "xhal/xhal_testing.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static int g_armed;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static char g_prefix[64];
static long g_target, g_seen;
static int g_fired;

XHAL_API void xhal_testing_fault_set(const char *prefix, long n)
{
    pthread_mutex_lock(&g_lock);
    snprintf(g_prefix, sizeof g_prefix, "%s", prefix ? prefix : "");
    g_target = n;
    g_seen = 0;
    g_fired = 0;
    __atomic_store_n(&g_armed, n > 0, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&g_lock);
}

XHAL_API void xhal_testing_fault_stats(long *sites_seen, int *fired)
{
    pthread_mutex_lock(&g_lock);
    if (sites_seen) *sites_seen = g_seen;
    if (fired) *fired = g_fired;
    pthread_mutex_unlock(&g_lock);
}

int hal_fault_hit(const char *site)
{
    if (!__atomic_load_n(&g_armed, __ATOMIC_ACQUIRE)) return 0;
    int hit = 0;
    pthread_mutex_lock(&g_lock);
    if (!strncmp(site, g_prefix, strlen(g_prefix))) {
        g_seen++;
        if (g_seen == g_target) {
            hit = 1;
            g_fired = 1;
        }
    }
    pthread_mutex_unlock(&g_lock);
    return hit;
}
