/*
 * standin_kernels.cpp - the op kernels of backends/kernels/xk_ops.cl compiled for the
 * host (once per variant: STANDIN_TABLE names the table, XK_REAL_F64 selects f64), with
 * one unpacking function per kernel that reads the cuLaunchKernel parameter array the way
 * the GPU would: each params[i] points at the i-th argument of the kernel's signature.
 * A wrong argument order, size or module variant in the CUDA backend shows up as wrong
 * results in the tests.
 */
#include "standin_prelude_host.h"
#include "xk_common.h"
#include "xk_ops.cl"

#include "standin_exec.h"

#define I(k) (*(const int *)p[k])
#define L(k) (*(const long long *)p[k])
#define U(k) (*(const unsigned long long *)p[k])
#define P(k) ((xk_u8 *)(uintptr_t) * (const uint64_t *)p[k])
#define R(k) (*(const xk_real *)p[k])
#define F(k) (*(const float *)p[k])
#define ND(k) (*(const xk_nd *)p[k])

static void g_copy(void **p) { xk_copy(P(0), L(1), I(2), P(3), L(4), I(5), L(6), ND(7)); }
static void g_fill(void **p) { xk_fill(P(0), L(1), I(2), U(3), L(4), ND(5)); }
static void g_unary(void **p) { xk_unary(I(0), I(1), P(2), L(3), P(4), L(5), L(6), ND(7)); }
static void g_scale(void **p) { xk_scale(I(0), P(1), L(2), P(3), L(4), R(5), R(6), L(7), ND(8)); }
static void g_binary(void **p) { xk_binary(I(0), I(1), P(2), L(3), P(4), L(5), P(6), L(7), L(8), ND(9)); }
static void g_binary_int(void **p) { xk_binary_int(I(0), I(1), P(2), L(3), P(4), L(5), P(6), L(7), L(8), ND(9)); }
static void g_reduce(void **p) { xk_reduce(I(0), I(1), P(2), L(3), I(4), P(5), L(6), L(7), L(8), ND(9)); }
static void g_softmax(void **p)
{
    xk_softmax(I(0), P(1), L(2), P(3), L(4), L(5), L(6), L(7), L(8), I(9), R(10), ND(11));
}
static void g_rms_norm(void **p)
{
    xk_rms_norm(I(0), P(1), L(2), P(3), L(4), P(5), L(6), L(7), I(8), L(9), L(10), L(11), R(12), ND(13));
}
static void g_layer_norm(void **p)
{
    xk_layer_norm(I(0), P(1), L(2), P(3), L(4), P(5), L(6), L(7), I(8), P(9), L(10), L(11), I(12), L(13), L(14),
                  L(15), R(16), ND(17));
}
static void g_matmul(void **p)
{
    xk_matmul(I(0), P(1), L(2), P(3), L(4), P(5), L(6), L(7), L(8), L(9), L(10), L(11), L(12), L(13), L(14), L(15),
              R(16), R(17), ND(18));
}
static void g_matmul_rb(void **p)
{
    xk_matmul_rb(I(0), P(1), L(2), P(3), L(4), P(5), L(6), L(7), L(8), L(9), L(10), L(11), L(12), L(13), L(14),
                 L(15), R(16), R(17), ND(18));
}
static void g_gather(void **p) { xk_gather(I(0), P(1), L(2), P(3), L(4), L(5), P(6), L(7), I(8), L(9), ND(10)); }
static void g_rope(void **p)
{
    xk_rope(I(0), P(1), L(2), P(3), L(4), L(5), L(6), I(7), I(8), L(9), F(10), L(11), L(12), L(13), ND(14));
}
static void g_attention(void **p)
{
    xk_attention(I(0), P(1), L(2), P(3), L(4), P(5), L(6), P(7), L(8), P(9), L(10), I(11), L(12), L(13), L(14),
                 I(15), R(16), ND(17));
}

extern "C" const xs_kernel STANDIN_TABLE[] = {
    {"xk_copy", g_copy, 0, 8},           {"xk_fill", g_fill, 0, 6},
    {"xk_unary", g_unary, 0, 8},         {"xk_scale", g_scale, 0, 9},
    {"xk_binary", g_binary, 0, 10},      {"xk_binary_int", g_binary_int, 0, 10},
    {"xk_reduce", g_reduce, 1, 10},      {"xk_softmax", g_softmax, 1, 12},
    {"xk_rms_norm", g_rms_norm, 1, 14},  {"xk_layer_norm", g_layer_norm, 1, 18},
    {"xk_matmul", g_matmul, 1, 19},      {"xk_matmul_rb", g_matmul_rb, 1, 19},
    {"xk_gather", g_gather, 0, 11},      {"xk_rope", g_rope, 0, 15},
    {"xk_attention", g_attention, 1, 18}, {nullptr, nullptr, 0, 0},
};
