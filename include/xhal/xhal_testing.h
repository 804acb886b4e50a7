/*
 * xhal_testing.h - test hooks: fault injection. Not for production use.
 *
 * Every allocation and backend resource site in xhal (the core's host allocations, plugin
 * host allocations through host services, device buffer allocations, stream creation...)
 * passes a named site through one counter. xhal_testing_fault_set(prefix, n) makes the n-th
 * site whose name starts with prefix (counting from 1 after the call) fail as if out of
 * memory; the test then walks n over 1, 2, ... until a run completes with no fault hit.
 * Process-wide; not thread-safe with respect to which thread sees the fault.
 */
#ifndef XHAL_XHAL_TESTING_H
#define XHAL_XHAL_TESTING_H
#include "xhal.h"
#ifdef __cplusplus
extern "C" {
#endif
/* Arm: the nth site matching prefix ("" matches every site) fails. n == 0 disarms. */
XHAL_API void xhal_testing_fault_set(const char *prefix, long n);
/* Sites matching the armed prefix seen since the last xhal_testing_fault_set, and whether
 * the fault fired (1) or not (0). */
XHAL_API void xhal_testing_fault_stats(long *sites_seen, int *fired);
#ifdef __cplusplus
}
#endif
#endif
