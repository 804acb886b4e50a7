/* fuzz_vectors.c - the conformance vectors reader (xc_vectors_load, which validates every
 * case against its op's rules) on an arbitrary cases.json, then the f64 reference on every
 * case it accepted (xc_vector_selfcheck: inputs, reference, comparison). The folder holds
 * links to the committed .npy files, so a seed taken from conformance/vectors/default
 * loads its data too. A case the loader accepts must never make the reference read or
 * write out of bounds. */
#include "fuzz_common.h"
#include "xc_conform.h"

#include <dirent.h>

static void link_npy_files(const char *dir)
{
    DIR *d = opendir(XHAL_FUZZ_VECTORS_DIR);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".npy")) continue;
        char from[1024], to[1024];
        snprintf(from, sizeof from, "%s/%s", XHAL_FUZZ_VECTORS_DIR, e->d_name);
        snprintf(to, sizeof to, "%s/%s", dir, e->d_name);
        if (symlink(from, to) != 0) { /* already there */
        }
    }
    closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int linked;
    const char *dir = fuzz_tmpdir("vectors");
    if (!linked) {
        link_npy_files(dir);
        linked = 1;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/cases.json", dir);
    fuzz_write_file(path, data, size);
    xc_case_list list;
    memset(&list, 0, sizeof list);
    char msg[512];
    if (xc_vectors_load(dir, &list, msg, sizeof msg) == 0) {
        if (list.n < 0 || (list.n > 0 && !list.cases)) abort();
        for (int i = 0; i < list.n; i++) {
            xc_result r;
            (void)xc_vector_selfcheck(&list.cases[i], &r);
        }
    }
    xc_case_list_free(&list);
    return 0;
}
