/* fuzz_common.h - helpers shared by the libFuzzer targets: a private temp folder per process
 * and writing the fuzzer's bytes to a file in it. */
#ifndef XHAL_FUZZ_COMMON_H
#define XHAL_FUZZ_COMMON_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A folder /tmp/xhal-fuzz-<name>-<pid>, made once; abort on failure (not a finding). */
static inline const char *fuzz_tmpdir(const char *name)
{
    static char dir[256];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/xhal-fuzz-%s-XXXXXX", name);
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            abort();
        }
    }
    return dir;
}

static inline void fuzz_write_file(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        abort();
    }
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f) != 0) abort();
}
#endif
