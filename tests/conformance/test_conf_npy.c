/* The .npy reader/writer: round trips of every dtype and shape kind, numpy's own header
 * variants (format 2.0, 1-D "(n,)", 0-D "()"), and refusal of what it cannot read. */
#include <math.h>
#include <stdlib.h>
#include <unistd.h>
#include "xtest.h"
#include "xc_conform.h"

static char dir[64];

static void roundtrip(xhal_dtype dt, int ndim, const int64_t *shape)
{
    xc_tensor t, u;
    memset(&t, 0, sizeof(t));
    t.dtype = dt;
    t.ndim = ndim;
    for (int i = 0; i < ndim; i++) t.shape[i] = shape[i];
    t.n = xc_numel(ndim, shape);
    t.v = malloc(sizeof(double) * (size_t)(t.n ? t.n : 1));
    for (int64_t i = 0; i < t.n; i++)
        t.v[i] = xc_round_to(dt, (double)(i % 17) * (xc_dtype_is_float(dt) ? -0.37 : 3) + 1);
    if (xc_dtype_is_float(dt) && t.n > 2) {
        t.v[0] = NAN;
        t.v[1] = -INFINITY;
    }
    char path[128], msg[256];
    snprintf(path, sizeof(path), "%s/t.npy", dir);
    CHECK(xc_npy_write(path, &t, msg, sizeof(msg)) == 0);
    CHECK(xc_npy_read(path, dt == XHAL_DTYPE_BF16, &u, msg, sizeof(msg)) == 0);
    CHECK(u.dtype == dt && u.ndim == ndim && u.n == t.n);
    for (int i = 0; i < ndim; i++) CHECK(u.shape[i] == shape[i]);
    int same = 1;
    for (int64_t i = 0; i < t.n && u.n == t.n; i++)
        if (!(t.v[i] == u.v[i] || (isnan(t.v[i]) && isnan(u.v[i])))) same = 0;
    CHECK(same);
    /* the header is 64-byte aligned as numpy writes it */
    FILE *f = fopen(path, "rb");
    unsigned char h[10];
    CHECK(f && fread(h, 1, 10, f) == 10);
    if (f) fclose(f);
    CHECK((10 + (h[8] | (h[9] << 8))) % 64 == 0);
    xc_tensor_free(&t);
    xc_tensor_free(&u);
}

static void write_raw(const char *name, int version, const char *dict, const void *data, size_t n)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    size_t dl = strlen(dict);
    fwrite("\x93NUMPY", 1, 6, f);
    fputc(version, f);
    fputc(0, f);
    if (version == 1) {
        fputc((int)(dl & 0xff), f);
        fputc((int)(dl >> 8), f);
    } else {
        fputc((int)(dl & 0xff), f);
        fputc((int)(dl >> 8), f);
        fputc(0, f);
        fputc(0, f);
    }
    fwrite(dict, 1, dl, f);
    fwrite(data, 1, n, f);
    fclose(f);
}

static int read_named(const char *name, xc_tensor *t, char *msg)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return xc_npy_read(path, 0, t, msg, 256);
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/xc_npy_XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    const xhal_dtype all[] = {XHAL_DTYPE_F32, XHAL_DTYPE_F16, XHAL_DTYPE_BF16, XHAL_DTYPE_F64,
                              XHAL_DTYPE_I8,  XHAL_DTYPE_U8,  XHAL_DTYPE_I32,  XHAL_DTYPE_I64};
    int64_t s3[3] = {2, 3, 5}, s1[1] = {7}, s0[1] = {0};
    for (int d = 0; d < 8; d++) {
        roundtrip(all[d], 3, s3);
        roundtrip(all[d], 1, s1);
        roundtrip(all[d], 0, NULL);
        roundtrip(all[d], 1, s0);
    }
    xc_tensor t;
    char msg[256];
    /* numpy-style headers written by hand: format 2.0, double quotes, 1-D and 0-D tuples */
    float fv[3] = {1.5f, -2.0f, 3.25f};
    write_raw("v2.npy", 2, "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (3,), }\n", fv, sizeof(fv));
    CHECK(read_named("v2.npy", &t, msg) == 0 && t.ndim == 1 && t.n == 3 && t.v[2] == 3.25);
    xc_tensor_free(&t);
    int64_t iv = -42;
    write_raw("scalar.npy", 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (), }    \n", &iv, 8);
    CHECK(read_named("scalar.npy", &t, msg) == 0 && t.ndim == 0 && t.n == 1 && t.v[0] == -42);
    xc_tensor_free(&t);
    /* refusals */
    write_raw("be.npy", 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (3,), }\n", fv, sizeof(fv));
    CHECK(read_named("be.npy", &t, msg) == -1 && strstr(msg, "unsupported dtype"));
    write_raw("fo.npy", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (3,), }\n", fv, sizeof(fv));
    CHECK(read_named("fo.npy", &t, msg) == -1 && strstr(msg, "fortran"));
    write_raw("short.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }\n", fv, sizeof(fv));
    CHECK(read_named("short.npy", &t, msg) == -1 && strstr(msg, "truncated"));
    write_raw("u2.npy", 1, "{'descr': '<u2', 'fortran_order': False, 'shape': (1,), }\n", fv, 2);
    CHECK(read_named("u2.npy", &t, msg) == -1); /* u2 only as bf16 */
    write_raw("ver.npy", 9, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }\n", fv, sizeof(fv));
    CHECK(read_named("ver.npy", &t, msg) == -1 && strstr(msg, "version"));
    write_raw("noshape.npy", 1, "{'descr': '<f4', 'fortran_order': False}\n", fv, sizeof(fv));
    CHECK(read_named("noshape.npy", &t, msg) == -1 && strstr(msg, "shape"));
    char path[128];
    snprintf(path, sizeof(path), "%s/bad.npy", dir);
    FILE *f = fopen(path, "wb");
    fputs("PK\x03\x04 not numpy", f);
    fclose(f);
    CHECK(read_named("bad.npy", &t, msg) == -1 && strstr(msg, "magic"));
    CHECK(read_named("missing.npy", &t, msg) == -1 && strstr(msg, "cannot open"));
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return xtest_finish("test_conf_npy");
}
