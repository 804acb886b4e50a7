/*
 * xhal_gguf.h - read GGUF files (llama.cpp's model format, versions 2 and 3). Part of
 * libxhal-formats (link xhal::xhal-formats, or pkg-config xhal-formats).
 *
 * Format (little-endian): "GGUF", u32 version, u64 tensor count, u64 key/value count; the
 * key/value pairs (key: u64 length + bytes; u32 value type; the value: a scalar, a string
 * (u64 length + bytes), or an array: u32 element type, u64 count, the elements); the tensor
 * infos (name string, u32 n_dims, u64 ne[n_dims] innermost first, u32 ggml type, u64 offset
 * relative to the data area); padding to the alignment ("general.alignment", a u32 power of
 * two, default 32); the data area.
 *
 * Validation: xhal_gguf_open maps the file read-only and checks everything before anything
 * in it is used: magic, version (1 and big-endian files are UNSUPPORTED), every count
 * against the bytes that remain (a count that cannot fit is refused before anything is
 * allocated for it) and against XHAL_GGUF_MAX_TENSORS / XHAL_GGUF_MAX_KV, every string
 * length against the bytes that remain, every value type and array element type (nested
 * arrays are UNSUPPORTED), booleans 0 or 1, keys and tensor names non-empty, without NUL
 * bytes and unique, "general.alignment" a u32 power of two up to 2^20 if present, n_dims
 * <= 4 (GGML_MAX_DIMS), every dimension < 2^63, element count and byte size overflow-checked,
 * the innermost dimension a multiple of the type's block size, every offset a multiple of
 * the alignment, every tensor inside the data area, and no two tensors sharing a byte.
 * A file that breaks any rule is refused as a whole, with a message naming the file, what
 * was wrong (key, tensor, byte position) and the numbers. Allocations are bounded by the
 * file size.
 *
 * Types: every ggml type llama.cpp knows is accepted and described (name, block size,
 * bytes per block); tensors whose type xhal has no dtype for are listed with
 * dtype = XHAL_DTYPE_INVALID and can still be read as bytes. An unknown type number is
 * CORRUPT_DATA (its size cannot be known).
 *
 * Shapes: `shape` is in xhal's order, outermost first (the reverse of GGUF's ne[]), so a
 * GGUF matrix with ne = {K, N} (K contiguous) has shape {N, K}, as in numpy and gguf-py.
 *
 * Ownership, lifetime and threads: as for xhal_safetensors.h. Every pointer returned is
 * owned by the reader and valid until xhal_gguf_close; data pointers point into the
 * read-only mapping (aligned as the file's alignment, relative to the mapping). A reader is
 * immutable after open: any number of threads may query it at once.
 *
 * Errors: XHAL_ERROR_NOT_FOUND (missing file, key or tensor), XHAL_ERROR_IO (open, stat,
 * mmap), XHAL_ERROR_CORRUPT_DATA (malformed file), XHAL_ERROR_UNSUPPORTED (version 1,
 * big-endian file, nested arrays, a big-endian host), XHAL_ERROR_DTYPE_MISMATCH (a typed
 * getter on a value of another type, or a value out of the getter's range),
 * XHAL_ERROR_INVALID_ARGUMENT (NULL arguments, index out of range), XHAL_ERROR_OUT_OF_MEMORY.
 * The message is in xhal_last_error().
 */
#ifndef XHAL_XHAL_GGUF_H
#define XHAL_XHAL_GGUF_H

#include "xhal/xhal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Limits (far above any real model: Llama 3 405B has ~1,100 tensors and ~40 keys). */
#define XHAL_GGUF_MAX_TENSORS (1u << 20)
#define XHAL_GGUF_MAX_KV (1u << 16)
#define XHAL_GGUF_MAX_DIMS 4

typedef struct xhal_gguf xhal_gguf;

/* GGUF value types (numbers as in the file). */
typedef enum xhal_gguf_type {
    XHAL_GGUF_UINT8 = 0,
    XHAL_GGUF_INT8 = 1,
    XHAL_GGUF_UINT16 = 2,
    XHAL_GGUF_INT16 = 3,
    XHAL_GGUF_UINT32 = 4,
    XHAL_GGUF_INT32 = 5,
    XHAL_GGUF_FLOAT32 = 6,
    XHAL_GGUF_BOOL = 7,
    XHAL_GGUF_STRING = 8,
    XHAL_GGUF_ARRAY = 9,
    XHAL_GGUF_UINT64 = 10,
    XHAL_GGUF_INT64 = 11,
    XHAL_GGUF_FLOAT64 = 12
} xhal_gguf_type;

/* "uint8", ..., "float64"; "invalid" for other values. */
XHAL_API const char *xhal_gguf_type_name(int type);

/* One key/value pair. For an array, type is XHAL_GGUF_ARRAY, elem_type the elements' type
 * and count their number; for a scalar, elem_type == type and count == 1. */
typedef struct xhal_gguf_kv {
    const char *key;
    xhal_gguf_type type;
    xhal_gguf_type elem_type;
    uint64_t count;
} xhal_gguf_kv;

/* One tensor. Pointers are owned by the reader. */
typedef struct xhal_gguf_tensor {
    const char *name;
    int ggml_type;                /* the file's type number (GGML_TYPE_*) */
    const char *type_name;        /* "f32", "q8_0", "q4_K", ... (ggml's names) */
    xhal_dtype dtype;             /* the xhal dtype, XHAL_DTYPE_INVALID if xhal has none */
    int64_t block_size;           /* elements per block (1 for plain types) */
    int64_t block_bytes;          /* bytes per block */
    int ndim;                     /* 0 to XHAL_GGUF_MAX_DIMS */
    int64_t shape[XHAL_MAX_DIMS]; /* outermost first; entries past ndim are 0 */
    int64_t numel;
    uint64_t offset;  /* byte position of the data in the file */
    const void *data; /* mapped bytes, read-only */
    uint64_t size;    /* bytes: numel / block_size * block_bytes */
} xhal_gguf_tensor;

/* Open and validate a GGUF file. On failure *out is untouched. Thread safe. */
XHAL_API xhal_status xhal_gguf_open(const char *path, xhal_gguf **out);

/* The same on bytes in memory (size bytes at data); the caller keeps them alive and
 * unchanged until xhal_gguf_close. Used by the fuzzer and for embedded models. */
XHAL_API xhal_status xhal_gguf_open_memory(const void *data, size_t size, xhal_gguf **out);

/* Unmap and free everything. NULL is a no-op. */
XHAL_API void xhal_gguf_close(xhal_gguf *g);

/* The file's version (2 or 3), its alignment and the data area's position in the file. */
XHAL_API xhal_status xhal_gguf_info(const xhal_gguf *g, uint32_t *version, uint32_t *alignment, uint64_t *data_offset);

/* Key/value pairs in file order. */
XHAL_API xhal_status xhal_gguf_kv_count(const xhal_gguf *g, int64_t *count);
XHAL_API xhal_status xhal_gguf_kv_at(const xhal_gguf *g, int64_t index, xhal_gguf_kv *out);
/* By key: NOT_FOUND names the key. */
XHAL_API xhal_status xhal_gguf_kv_get(const xhal_gguf *g, const char *key, xhal_gguf_kv *out);

/* Typed getters of scalars. Integers: any integer type (and bool) whose value fits the
 * output (a negative value for get_u64, a u64 above INT64_MAX for get_i64 are
 * DTYPE_MISMATCH); get_f64 takes float32/float64 (and integers, converted); get_string
 * takes strings (*len without the terminating NUL; the string may contain NUL bytes,
 * which is why the length is given; len may be NULL). */
XHAL_API xhal_status xhal_gguf_get_u64(const xhal_gguf *g, const char *key, uint64_t *out);
XHAL_API xhal_status xhal_gguf_get_i64(const xhal_gguf *g, const char *key, int64_t *out);
XHAL_API xhal_status xhal_gguf_get_f64(const xhal_gguf *g, const char *key, double *out);
XHAL_API xhal_status xhal_gguf_get_bool(const xhal_gguf *g, const char *key, int *out);
XHAL_API xhal_status xhal_gguf_get_string(const xhal_gguf *g, const char *key, const char **out, uint64_t *len);
/* Elements of an array value, same conversions as the scalar getters; index in [0, count). */
XHAL_API xhal_status xhal_gguf_array_i64(const xhal_gguf *g, const char *key, uint64_t index, int64_t *out);
XHAL_API xhal_status xhal_gguf_array_f64(const xhal_gguf *g, const char *key, uint64_t index, double *out);
XHAL_API xhal_status xhal_gguf_array_string(const xhal_gguf *g, const char *key, uint64_t index, const char **out,
                                            uint64_t *len);

/* Tensors in file order; by name (NOT_FOUND names the tensor and the file); has: *found
 * 1 or 0, never an error for a missing name. */
XHAL_API xhal_status xhal_gguf_tensor_count(const xhal_gguf *g, int64_t *count);
XHAL_API xhal_status xhal_gguf_tensor_at(const xhal_gguf *g, int64_t index, xhal_gguf_tensor *out);
XHAL_API xhal_status xhal_gguf_tensor_get(const xhal_gguf *g, const char *name, xhal_gguf_tensor *out);
XHAL_API xhal_status xhal_gguf_tensor_has(const xhal_gguf *g, const char *name, int *found);

/* Copy the bytes of tensor t (from xhal_gguf_tensor_get/at on this reader) into dst, which
 * holds size == t->size bytes. A reader opened from a file reads the file with pread, not the
 * mapping, so a file truncated or replaced since xhal_gguf_open gives XHAL_ERROR_IO instead of
 * SIGBUS: use it rather than t->data for weights. A reader on memory copies from it.
 * Errors: INVALID_ARGUMENT (NULL, a size other than t->size, t not of this reader), IO. */
XHAL_API xhal_status xhal_gguf_tensor_read(const xhal_gguf *g, const xhal_gguf_tensor *t, void *dst, uint64_t size);

/* The slice [start, stop) of axis `axis` of tensor t into dst (size: the slice's bytes), read
 * the same way (only the slice's bytes: a tensor-parallel rank's share of a weight). On the
 * innermost axis of a block-quantized tensor, start and stop must be multiples of its
 * block_size. Errors: INVALID_ARGUMENT (NULL, axis or slice outside the tensor, a slice that
 * splits a block, a size other than the slice's, t not of this reader), IO. */
XHAL_API xhal_status xhal_gguf_tensor_read_slice(const xhal_gguf *g, const xhal_gguf_tensor *t, int axis, int64_t start,
                                                 int64_t stop, void *dst, uint64_t size);

#ifdef __cplusplus
}
#endif

#endif /* XHAL_XHAL_GGUF_H */
