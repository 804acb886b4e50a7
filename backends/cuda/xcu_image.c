/*
 * xcu_image.c - the device code embedded in the plugin: the op kernels of
 * backends/kernels/xk_ops.cl compiled at build time (a CUDA fatbin, or a HIP code object
 * bundle) in an f32 and an f64 variant, and the dialect headers that runtime-compiled
 * custom kernels are prefixed with. The files are pulled in with the assembler's
 * .incbin, so the build never turns megabytes of code into C arrays.
 */
#include <stddef.h>

#define XCU_STR2_(x) #x
#define XCU_STR_(x) XCU_STR2_(x)

/* Emits a hidden, 64-byte aligned, read-only symbol holding a file, its size as a 64-bit
 * symbol name##_size, and (for text) a terminating NUL. */
#define XCU_EMBED_(name, path, nul)                                                                           \
    __asm__(".section .rodata\n"                                                                              \
            ".balign 64\n"                                                                                    \
            ".globl " #name "\n.hidden " #name "\n.type " #name ", @object\n" #name ":\n"                     \
            ".incbin \"" path "\"\n" #name "_end:\n" nul ".balign 8\n"                                        \
            ".globl " #name "_size\n.hidden " #name "_size\n.type " #name "_size, @object\n" #name "_size:\n" \
            ".quad " #name "_end - " #name "\n"                                                               \
            ".previous\n")

#if defined(XCU_IMAGE_F32) && defined(XCU_IMAGE_F64)
XCU_EMBED_(xcu_ops_image_f32, XCU_IMAGE_F32, "");
XCU_EMBED_(xcu_ops_image_f64, XCU_IMAGE_F64, "");
#else
const unsigned char xcu_ops_image_f32[1] = {0};
const unsigned char xcu_ops_image_f64[1] = {0};
const unsigned long long xcu_ops_image_f32_size = 0;
const unsigned long long xcu_ops_image_f64_size = 0;
#endif

#if defined(XCU_PRELUDE_FILE) && defined(XCU_COMMON_FILE)
XCU_EMBED_(xcu_prelude_text, XCU_PRELUDE_FILE, ".byte 0\n");
XCU_EMBED_(xcu_common_text, XCU_COMMON_FILE, ".byte 0\n");
#else
const char xcu_prelude_text[1] = {0};
const char xcu_common_text[1] = {0};
const unsigned long long xcu_prelude_text_size = 0;
const unsigned long long xcu_common_text_size = 0;
#endif

#ifndef XCU_IMAGE_NOTE
#define XCU_IMAGE_NOTE "no device code"
#endif
/* What the images hold, for messages ("sm_80 sm_89 sm_90 compute_90"). */
const char xcu_ops_image_note[] = XCU_IMAGE_NOTE;
