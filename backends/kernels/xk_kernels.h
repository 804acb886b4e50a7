/*
 * xk_kernels.h - the list of the portable op kernels of xk_ops.cl, as one X-macro with no
 * other declarations, so host C (xk_launch.h), the backends and the CUDA stand-in's C++
 * (tests/cuda_backend) expand the same list.
 *
 * K(ID, name, BARRIERS): XK_K_<ID> is the kernel's index (xk_launch.h), `name` its name in
 * xk_ops.cl, BARRIERS 1 when it calls XK_BARRIER (all items of a group run together, the
 * group size is fixed by its launch). A new kernel is a row here, its source in xk_ops.cl
 * and its arguments in xk_launch.c. The matmul roles come in one row per storage dtype
 * (f32, f16, bf16, in that order: xk_launch.c adds the dtype's index to the F32 row).
 */
#ifndef XK_KERNELS_H
#define XK_KERNELS_H

#define XK_KERNEL_LIST(K)                 \
    K(COPY, xk_copy, 0)                   \
    K(FILL, xk_fill, 0)                   \
    K(UNARY, xk_unary, 0)                 \
    K(SCALE, xk_scale, 0)                 \
    K(BINARY, xk_binary, 0)               \
    K(BINARY_INT, xk_binary_int, 0)       \
    K(REDUCE, xk_reduce, 1)               \
    K(SOFTMAX, xk_softmax, 1)             \
    K(RMS_NORM, xk_rms_norm, 1)           \
    K(LAYER_NORM, xk_layer_norm, 1)       \
    K(MATMUL, xk_matmul, 1)               \
    K(GEMV_CPU_F32, xk_gemv_cpu_f32, 0)   \
    K(GEMV_CPU_F16, xk_gemv_cpu_f16, 0)   \
    K(GEMV_CPU_BF16, xk_gemv_cpu_bf16, 0) \
    K(GEMM_CPU_F32, xk_gemm_cpu_f32, 0)   \
    K(GEMM_CPU_F16, xk_gemm_cpu_f16, 0)   \
    K(GEMM_CPU_BF16, xk_gemm_cpu_bf16, 0) \
    K(GEMV_GPU_F32, xk_gemv_gpu_f32, 1)   \
    K(GEMV_GPU_F16, xk_gemv_gpu_f16, 1)   \
    K(GEMV_GPU_BF16, xk_gemv_gpu_bf16, 1) \
    K(GEMM_GPU_F32, xk_gemm_gpu_f32, 1)   \
    K(GEMM_GPU_F16, xk_gemm_gpu_f16, 1)   \
    K(GEMM_GPU_BF16, xk_gemm_gpu_bf16, 1) \
    K(GATHER, xk_gather, 0)               \
    K(ROPE, xk_rope, 0)                   \
    K(ATTENTION, xk_attention, 1)         \
    K(TOPK, xk_topk, 0)                   \
    K(QDEQUANT, xk_qdequant, 0)           \
    K(QCOPY, xk_qcopy, 0)                 \
    K(QQUANT, xk_qquant, 0)               \
    K(QGEMV, xk_qgemv, 1)                 \
    K(QGEMV_CPU, xk_qgemv_cpu, 0)         \
    K(QMM, xk_qmm, 1)

#endif /* XK_KERNELS_H */
