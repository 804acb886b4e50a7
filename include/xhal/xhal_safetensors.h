/*
 * xhal_safetensors.h - read safetensors checkpoints (single files and sharded folders).
 *
 * Format: 8-byte little-endian header length N, N bytes of JSON, then the data area.
 * The JSON object maps tensor names to {"dtype", "shape", "data_offsets": [begin, end]}
 * (offsets relative to the data area) plus an optional "__metadata__" string map.
 *
 * Validation: xhal_safetensors_open maps each file read-only and checks the whole header
 * before anything in it is used: N inside the file and at most XHAL_SAFETENSORS_MAX_HEADER,
 * a valid JSON object with no duplicate names and nothing after it, known dtypes, at most
 * XHAL_MAX_DIMS non-negative integer dimensions, element count x dtype size equal to the
 * byte range (overflow-checked), begin <= end <= size of the data area, and no two tensors
 * sharing a byte. A file that breaks any rule is refused as a whole, with a message naming
 * the file, the tensor and the numbers; nothing is allocated in proportion to sizes that
 * the header claims (allocations are bounded by the header's own length).
 *
 * Ownership and lifetime: the reader owns the mappings. Every pointer it returns (names,
 * data, metadata strings) stays valid until xhal_safetensors_close of that reader and not
 * a moment longer. Data pointers point straight into the read-only mapping: never write
 * through them, and do not assume they are aligned for their dtype (safetensors does not
 * promise alignment); copy with memcpy or upload with xhal_safetensors_upload. A file that
 * is truncated by someone else while it is mapped can raise SIGBUS on access through these
 * pointers (the usual mmap contract); xhal_safetensors_upload therefore reads the bytes with
 * pread from the file it opened (same device and inode) and reports a truncated or replaced
 * file as XHAL_ERROR_IO instead.
 *
 * Bounds: besides the header size, at most 1,000,000 tensors, 65,536 metadata keys and 65,536
 * shard files per checkpoint; a key twice in one JSON object and an escaped NUL
 * (backslash-u0000) anywhere in a header or index are refused (CORRUPT_DATA). Duplicate
 * checks are O(n log n).
 *
 * Thread safety: a reader is immutable after open. Any number of threads may query it and
 * read tensor data at once; closing it must not race with any other use of it.
 *
 * Errors: XHAL_ERROR_NOT_FOUND (missing file or tensor), XHAL_ERROR_IO (open/stat/mmap
 * failed), XHAL_ERROR_CORRUPT_DATA (malformed header or index), XHAL_ERROR_UNSUPPORTED
 * (a dtype that xhal does not have, more than XHAL_MAX_DIMS dims, a big-endian host),
 * XHAL_ERROR_INVALID_ARGUMENT (NULL arguments, index out of range), XHAL_ERROR_OUT_OF_MEMORY.
 * The message is in xhal_last_error().
 */
#ifndef XHAL_XHAL_SAFETENSORS_H
#define XHAL_XHAL_SAFETENSORS_H

#include "xhal/xhal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest JSON header accepted, in bytes (the same cap as the reference implementation). */
#define XHAL_SAFETENSORS_MAX_HEADER (100u * 1024u * 1024u)

typedef struct xhal_safetensors xhal_safetensors;

/* One tensor of an open reader. Every pointer is owned by the reader (see above). */
typedef struct xhal_safetensors_tensor {
    const char *name;
    xhal_dtype dtype;
    int ndim;                     /* 0 (scalar) to XHAL_MAX_DIMS */
    int64_t shape[XHAL_MAX_DIMS]; /* entries past ndim are 0 */
    int64_t numel;
    const void *data; /* mapped bytes; possibly unaligned; read-only */
    uint64_t size;    /* bytes: numel * xhal_dtype_size(dtype) */
    const char *file; /* path of the file (shard) holding it */
} xhal_safetensors_tensor;

/* Open a checkpoint. path is one of:
 *  - a .safetensors file;
 *  - a sharded index (a file ending in ".json", e.g. model.safetensors.index.json) whose
 *    "weight_map" maps tensor names to shard files in the index's folder: every shard is
 *    opened and validated, every name in weight_map must be in the shard it names, and a
 *    name found in two shards is refused;
 *  - a folder: its model.safetensors.index.json if present, else its model.safetensors.
 * On success *out is a reader to close with xhal_safetensors_close; on failure *out is
 * left untouched. Thread safe (distinct readers share nothing). */
XHAL_API xhal_status xhal_safetensors_open(const char *path, xhal_safetensors **out);

/* Unmap and free everything. NULL is a no-op. Pointers obtained from st become invalid. */
XHAL_API void xhal_safetensors_close(xhal_safetensors *st);

/* Number of tensors (over all shards). */
XHAL_API xhal_status xhal_safetensors_count(const xhal_safetensors *st, int64_t *count);

/* Tensor i in [0, count), in byte-wise sorted order of names: the way to iterate. */
XHAL_API xhal_status xhal_safetensors_at(const xhal_safetensors *st, int64_t index, xhal_safetensors_tensor *out);

/* Tensor by exact name. NOT_FOUND names the tensor and the checkpoint. */
XHAL_API xhal_status xhal_safetensors_get(const xhal_safetensors *st, const char *name, xhal_safetensors_tensor *out);

/* 1 in *found if a tensor of that name exists, else 0 (never an error for a missing name). */
XHAL_API xhal_status xhal_safetensors_has(const xhal_safetensors *st, const char *name, int *found);

/* The "__metadata__" string map (merged over shards, the first shard in file-name order that
 * sets a key wins).
 * Entries are in byte-wise sorted order of keys. */
XHAL_API xhal_status xhal_safetensors_metadata_count(const xhal_safetensors *st, int64_t *count);
XHAL_API xhal_status xhal_safetensors_metadata_at(const xhal_safetensors *st, int64_t index, const char **key,
                                                  const char **value);
/* Value of key, NOT_FOUND if absent. */
XHAL_API xhal_status xhal_safetensors_metadata_get(const xhal_safetensors *st, const char *key, const char **value);

/* Upload tensor `name` into a new contiguous xhal_tensor on the stream's device, of the
 * tensor's shape and of dtype `dtype` (XHAL_DTYPE_INVALID keeps the file's dtype; another
 * dtype is converted on the device with xhal_copy, rounding as xhal_copy does). Blocking:
 * when it returns the data is on the device. The caller owns *out (xhal_tensor_destroy).
 * Errors: those of xhal_safetensors_get, xhal_tensor_create, xhal_tensor_write, xhal_copy;
 * on failure nothing is left allocated and *out is untouched. */
XHAL_API xhal_status xhal_safetensors_upload(const xhal_safetensors *st, const char *name, xhal_stream *stream,
                                             xhal_dtype dtype, xhal_tensor **out);

/* The same for the slice [start, stop) of axis `axis` of tensor `name`: *out has the tensor's
 * shape with shape[axis] = stop - start, and only the slice's bytes are read from the file
 * (a tensor-parallel rank loads its share of a weight, never the whole). Errors: those of
 * xhal_safetensors_upload; INVALID_ARGUMENT for axis outside [0, ndim) or a slice not inside
 * [0, shape[axis]] (both named). */
XHAL_API xhal_status xhal_safetensors_upload_slice(const xhal_safetensors *st, const char *name, int axis,
                                                   int64_t start, int64_t stop, xhal_stream *stream, xhal_dtype dtype,
                                                   xhal_tensor **out);

#ifdef __cplusplus
}
#endif

#endif /* XHAL_XHAL_SAFETENSORS_H */
