/* fuzz_safetensors.c - the safetensors reader on arbitrary bytes: the file is opened, and
 * when it is accepted every tensor and metadata entry is looked up and every data byte read
 * (so a header that points outside the mapping is caught by ASan). */
#include "fuzz_common.h"
#include "xhal/xhal_safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", fuzz_tmpdir("safetensors"));
    fuzz_write_file(path, data, size);
    xhal_safetensors *st = NULL;
    if (xhal_safetensors_open(path, &st) != XHAL_OK) return 0;
    int64_t n = 0, nm = 0;
    if (xhal_safetensors_count(st, &n) != XHAL_OK) abort();
    volatile unsigned sum = 0;
    for (int64_t i = 0; i < n; i++) {
        xhal_safetensors_tensor t, t2;
        if (xhal_safetensors_at(st, i, &t) != XHAL_OK) abort();
        if (xhal_safetensors_get(st, t.name, &t2) != XHAL_OK || t2.data != t.data) abort();
        if (t.size != (uint64_t)t.numel * xhal_dtype_size(t.dtype)) abort();
        const unsigned char *p = t.data;
        for (uint64_t k = 0; k < t.size; k++) sum += p[k];
    }
    if (xhal_safetensors_metadata_count(st, &nm) != XHAL_OK) abort();
    for (int64_t i = 0; i < nm; i++) {
        const char *k = NULL, *v = NULL, *v2 = NULL;
        if (xhal_safetensors_metadata_at(st, i, &k, &v) != XHAL_OK) abort();
        if (xhal_safetensors_metadata_get(st, k, &v2) != XHAL_OK || strcmp(v, v2)) abort();
    }
    (void)sum;
    xhal_safetensors_close(st);
    return 0;
}
