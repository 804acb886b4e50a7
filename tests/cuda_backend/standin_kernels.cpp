/*
 * standin_kernels.cpp - the op kernels of backends/kernels/xk_ops.cl compiled for the
 * host (once per variant: STANDIN_TABLE names the table, XK_REAL_F64 selects f64), with
 * one unpacking function per kernel of xk_kernels.h that reads the cuLaunchKernel parameter
 * array the way the GPU would: each params[i] points at the i-th argument of the kernel's
 * signature (the types come from the kernel's C++ signature, not from a list written here).
 * A wrong argument order, size or module variant in the CUDA backend shows up as wrong
 * results in the tests.
 */
#include "standin_prelude_host.h"
#include "xk_common.h"
#include "xk_ops.cl"

#include <utility>

#include "standin_exec.h"
#include "xk_kernels.h"

/* params[i] points at the i-th argument, of the kernel's i-th parameter type (device
 * pointers are host addresses here, stored in 64 bits like a CUdeviceptr). */
template <typename T> static T xs_get(void *p)
{
    T v;
    memcpy(&v, p, sizeof v);
    return v;
}

template <typename... A> static constexpr int xs_nparams(void (*)(A...)) { return (int)sizeof...(A); }

template <typename... A, size_t... I> static void xs_call(void (*f)(A...), void **p, std::index_sequence<I...>)
{
    f(xs_get<A>(p[I])...);
}

/* The unpacking function of kernel F, its parameter types read from F's own signature. */
template <auto F> static void xs_invoke(void **p) { xs_call(F, p, std::make_index_sequence<xs_nparams(F)>{}); }

/* one row per kernel of xk_kernels.h */
#define XS_ROW_(ID, NAME, BARRIERS) {#NAME, xs_invoke<NAME>, BARRIERS, xs_nparams(NAME)},
extern "C" const xs_kernel STANDIN_TABLE[] = {XK_KERNEL_LIST(XS_ROW_){nullptr, nullptr, 0, 0}};
#undef XS_ROW_
