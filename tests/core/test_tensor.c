/* test_tensor.c - buffers, tensors and views: geometry, lifetime and every validation rule. */
#include "xtest.h"

#include <stdint.h>
#include <stdlib.h>

static xhal_context *ctx;
static xhal_device *cpu;
static xhal_stream *s;

static void read_f32(xhal_tensor *t, float *out, size_t n) { CHECK_OK(xhal_tensor_read(s, t, out, n * sizeof(float))); }

int main(void)
{
    CHECK_OK(xhal_context_create(NULL, &ctx));
    CHECK_OK(xhal_device_find(ctx, "cpu", &cpu));
    CHECK_OK(xhal_stream_create(cpu, &s));

    /* ---- dtypes ---- */
    CHECK(xhal_dtype_size(XHAL_DTYPE_BF16) == 2 && xhal_dtype_size(XHAL_DTYPE_I64) == 8);
    CHECK(xhal_dtype_size((xhal_dtype)99) == 0);
    CHECK(!strcmp(xhal_dtype_name(XHAL_DTYPE_BF16), "bf16"));
    xhal_dtype dt;
    CHECK_OK(xhal_dtype_from_name("i8", &dt));
    CHECK(dt == XHAL_DTYPE_I8);
    CHECK_STATUS(xhal_dtype_from_name("f8", &dt), XHAL_ERROR_INVALID_ARGUMENT, "unknown dtype 'f8'");
    xhal_op op;
    CHECK_OK(xhal_op_from_name("rms_norm", &op));
    CHECK(op == XHAL_OP_RMS_NORM && !strcmp(xhal_op_name(XHAL_OP_ATTENTION), "attention"));
    /* the op table: ids ascend, every name round-trips, a row's values are the enum's */
    {
        int prev = 0, rows = 0;
#define ROW_(NAME, ID, STR, FAM, NIN, NOPT, ATTR, DT, TOL, K)                                     \
    CHECK((ID) > prev && (int)XHAL_OP_##NAME == (ID));                                            \
    prev = (ID);                                                                                  \
    rows++;                                                                                       \
    CHECK(!strcmp(xhal_op_name(XHAL_OP_##NAME), STR) && xhal_op_from_name(STR, &op) == XHAL_OK && \
          op == XHAL_OP_##NAME);                                                                  \
    CHECK(xhal_op_table_row(ID).family == XHAL_OPF_##FAM && xhal_op_family_of(ID) == XHAL_OPF_##FAM);
        XHAL_OP_TABLE(ROW_)
#undef ROW_
        CHECK(rows >= 33 && prev == XHAL_OP_MAX_ID_ - 1);
        CHECK(xhal_op_family_of(XHAL_OP_MAX_ID_) == XHAL_OPF_NONE && !strcmp(xhal_op_name(XHAL_OP_MAX_ID_), "invalid"));
        CHECK(xhal_op_dtypes_of(XHAL_OP_DIV) == XHAL_OP_DTYPES_FLOAT &&
              (xhal_op_dtypes_of(XHAL_OP_ADD) & XHAL_DTYPE_BIT(XHAL_DTYPE_I64)));
    }
    CHECK(!strcmp(xhal_status_name(XHAL_ERROR_OUT_OF_RANGE), "XHAL_ERROR_OUT_OF_RANGE"));

    /* ---- buffers ---- */
    xhal_buffer *buf = NULL;
    CHECK_STATUS(xhal_buffer_create(cpu, 0, &buf), XHAL_ERROR_INVALID_ARGUMENT, "size is 0");
    CHECK_STATUS(xhal_buffer_create(NULL, 16, &buf), XHAL_ERROR_INVALID_HANDLE, "device is NULL");
    CHECK_STATUS(xhal_buffer_create((xhal_device *)s, 16, &buf), XHAL_ERROR_INVALID_HANDLE, "not a live device");
    CHECK_STATUS(xhal_buffer_create(cpu, UINT64_MAX, &buf), XHAL_ERROR_OUT_OF_MEMORY, "beyond any device");
    CHECK_STATUS(xhal_buffer_create(cpu, 16, NULL), XHAL_ERROR_INVALID_ARGUMENT, "out is NULL");
    CHECK_OK(xhal_buffer_create(cpu, 64, &buf));
    uint64_t bs = 0;
    CHECK_OK(xhal_buffer_size(buf, &bs));
    CHECK(bs == 64);
    char bytes[64];
    for (int i = 0; i < 64; i++) bytes[i] = (char)i;
    CHECK_OK(xhal_buffer_write(s, buf, 0, bytes, 64));
    CHECK_STATUS(xhal_buffer_write(s, buf, 60, bytes, 8), XHAL_ERROR_OUT_OF_RANGE,
                 "bytes [60, 68) lie outside the buffer of 64");
    CHECK_STATUS(xhal_buffer_write(s, buf, UINT64_MAX, bytes, 8), XHAL_ERROR_OVERFLOW, "overflows");
    CHECK_STATUS(xhal_buffer_write(s, buf, 0, NULL, 8), XHAL_ERROR_INVALID_ARGUMENT, "src is NULL");
    CHECK_STATUS(xhal_buffer_read(s, buf, 0, NULL, 8), XHAL_ERROR_INVALID_ARGUMENT, "dst is NULL");
    char back[8];
    CHECK_OK(xhal_buffer_read(s, buf, 8, back, 8));
    CHECK(back[0] == 8 && back[7] == 15);

    /* ---- tensor creation rules ---- */
    xhal_tensor *t = NULL;
    int64_t sh[9] = {2, 3, 4, 1, 1, 1, 1, 1, 1};
    CHECK_STATUS(xhal_tensor_create(cpu, XHAL_DTYPE_F32, 9, sh, &t), XHAL_ERROR_INVALID_ARGUMENT,
                 "ndim 9 is not in [0, 8]");
    CHECK_STATUS(xhal_tensor_create(cpu, XHAL_DTYPE_F32, -1, sh, &t), XHAL_ERROR_INVALID_ARGUMENT, "ndim -1");
    CHECK_STATUS(xhal_tensor_create(cpu, XHAL_DTYPE_F32, 2, NULL, &t), XHAL_ERROR_INVALID_ARGUMENT, "shape is NULL");
    CHECK_STATUS(xhal_tensor_create(cpu, (xhal_dtype)0, 1, sh, &t), XHAL_ERROR_INVALID_ARGUMENT, "dtype 0");
    CHECK_STATUS(xhal_tensor_create(cpu, (xhal_dtype)42, 1, sh, &t), XHAL_ERROR_INVALID_ARGUMENT, "dtype 42");
    int64_t neg[2] = {2, -3};
    CHECK_STATUS(xhal_tensor_create(cpu, XHAL_DTYPE_F32, 2, neg, &t), XHAL_ERROR_INVALID_ARGUMENT, "dimension 1 is -3");
    int64_t huge[3] = {INT64_MAX / 2, 4, 1};
    CHECK_STATUS(xhal_tensor_create(cpu, XHAL_DTYPE_F32, 3, huge, &t), XHAL_ERROR_OVERFLOW, "overflows 64 bits");
    int64_t big[2] = {INT64_MAX / 8, 2};
    CHECK_STATUS(xhal_tensor_create(cpu, XHAL_DTYPE_F64, 2, big, &t), XHAL_ERROR_OVERFLOW, "more than 2^62 bytes");
    CHECK(t == NULL);
    /* an empty tensor still may not have dimensions whose product overflows (its strides would) */
    int64_t empty_huge[3] = {0, INT64_MAX / 2, 4};
    CHECK_STATUS(xhal_tensor_create(cpu, XHAL_DTYPE_F32, 3, empty_huge, &t), XHAL_ERROR_OVERFLOW, "overflows 64 bits");

    /* scalar and empty tensors */
    xhal_tensor *scalar = NULL, *empty = NULL;
    CHECK_OK(xhal_tensor_create(cpu, XHAL_DTYPE_F32, 0, NULL, &scalar));
    int64_t n = -1;
    CHECK_OK(xhal_tensor_numel(scalar, &n));
    CHECK(n == 1);
    int64_t esh[2] = {0, 5};
    CHECK_OK(xhal_tensor_create(cpu, XHAL_DTYPE_F32, 2, esh, &empty));
    CHECK_OK(xhal_tensor_numel(empty, &n));
    CHECK(n == 0);
    CHECK_OK(xhal_tensor_write(s, empty, NULL, 0));
    CHECK_OK(xhal_fill(s, empty, 1.0));

    /* ---- from_buffer rules ---- */
    int64_t s2[2] = {4, 4};
    CHECK_OK(xhal_tensor_from_buffer(buf, XHAL_DTYPE_F32, 2, s2, NULL, 0, &t)); /* exactly 64 bytes */
    xhal_tensor_destroy(t);
    CHECK_STATUS(xhal_tensor_from_buffer(buf, XHAL_DTYPE_F32, 2, s2, NULL, 4, &t), XHAL_ERROR_OUT_OF_RANGE,
                 "reaches byte 68, but the buffer holds 64 bytes");
    CHECK_STATUS(xhal_tensor_from_buffer(buf, XHAL_DTYPE_F32, 2, s2, NULL, 2, &t), XHAL_ERROR_INVALID_ARGUMENT,
                 "byte offset 2 is not a multiple of the f32 size 4");
    int64_t st_neg[2] = {4, -1};
    CHECK_STATUS(xhal_tensor_from_buffer(buf, XHAL_DTYPE_F32, 2, s2, st_neg, 0, &t), XHAL_ERROR_INVALID_ARGUMENT,
                 "negative strides");
    int64_t st_huge[2] = {INT64_MAX / 2, 1};
    CHECK_STATUS(xhal_tensor_from_buffer(buf, XHAL_DTYPE_F32, 2, s2, st_huge, 0, &t), XHAL_ERROR_OVERFLOW, "overflows");
    int64_t st_far[2] = {5, 1};
    CHECK_STATUS(xhal_tensor_from_buffer(buf, XHAL_DTYPE_F32, 2, s2, st_far, 0, &t), XHAL_ERROR_OUT_OF_RANGE,
                 "reaches byte 76");
    int64_t st_bc[2] = {0, 1};
    CHECK_OK(xhal_tensor_from_buffer(buf, XHAL_DTYPE_F32, 2, s2, st_bc, 0, &t)); /* broadcast rows: 16 bytes */
    float ones[16];
    for (int i = 0; i < 16; i++) ones[i] = 1;
    CHECK_STATUS(xhal_tensor_write(s, t, ones, sizeof ones), XHAL_ERROR_INVALID_ARGUMENT,
                 "broadcast view cannot be written");
    xhal_tensor_destroy(t);

    /* ---- views ---- */
    xhal_tensor *base = NULL, *v = NULL, *v2 = NULL;
    int64_t bsh[3] = {2, 3, 4};
    CHECK_OK(xhal_tensor_create(cpu, XHAL_DTYPE_F32, 3, bsh, &base));
    float data[24], got[24];
    for (int i = 0; i < 24; i++) data[i] = (float)i;
    CHECK_OK(xhal_tensor_write(s, base, data, sizeof data));
    int nd;
    int64_t vs[8], vst[8];
    /* slice with step along the last axis: columns 1 and 3 */
    CHECK_OK(xhal_tensor_slice(base, -1, 1, 4, 2, &v));
    CHECK_OK(xhal_tensor_shape(v, &nd, vs, vst));
    CHECK(nd == 3 && vs[2] == 2 && vst[2] == 2 && vst[1] == 4);
    int cont = 1;
    CHECK_OK(xhal_tensor_is_contiguous(v, &cont));
    CHECK(cont == 0);
    read_f32(v, got, 12);
    CHECK(got[0] == 1 && got[1] == 3 && got[2] == 5 && got[11] == 23);
    CHECK_STATUS(xhal_tensor_reshape(v, 1, (int64_t[]){12}, &v2), XHAL_ERROR_INVALID_ARGUMENT, "not contiguous");
    CHECK_STATUS(xhal_tensor_slice(base, 3, 0, 1, 1, &v2), XHAL_ERROR_INVALID_ARGUMENT, "axis 3 is out of range");
    CHECK_STATUS(xhal_tensor_slice(base, 0, 0, 1, 0, &v2), XHAL_ERROR_INVALID_ARGUMENT, "step 0 must be >= 1");
    /* python-style clamping and negative start */
    CHECK_OK(xhal_tensor_slice(base, 1, -2, 100, 1, &v2));
    CHECK_OK(xhal_tensor_shape(v2, &nd, vs, NULL));
    CHECK(vs[1] == 2);
    read_f32(v2, got, 16);
    CHECK(got[0] == 4 && got[8] == 16);
    xhal_tensor_destroy(v2);
    /* a step far beyond the axis: one element, no arithmetic overflow */
    CHECK_OK(xhal_tensor_slice(base, 2, 1, 4, INT64_MAX, &v2));
    CHECK_OK(xhal_tensor_shape(v2, &nd, vs, vst));
    CHECK(vs[2] == 1 && vst[2] == 1);
    xhal_tensor_destroy(v2);
    CHECK_OK(xhal_tensor_slice(base, 2, INT64_MIN, INT64_MAX, INT64_MAX / 3, &v2));
    CHECK_OK(xhal_tensor_shape(v2, &nd, vs, NULL));
    CHECK(vs[2] == 1);
    xhal_tensor_destroy(v2);
    /* an empty slice */
    CHECK_OK(xhal_tensor_slice(base, 1, 2, 1, 1, &v2));
    CHECK_OK(xhal_tensor_numel(v2, &n));
    CHECK(n == 0);
    xhal_tensor_destroy(v2);
    /* writing through a strided view touches only its elements */
    float w12[12];
    for (int i = 0; i < 12; i++) w12[i] = -1.0f - (float)i;
    CHECK_OK(xhal_tensor_write(s, v, w12, sizeof w12));
    read_f32(base, got, 24);
    CHECK(got[0] == 0 && got[1] == -1 && got[2] == 2 && got[3] == -2 && got[23] == -12);
    CHECK_OK(xhal_tensor_write(s, base, data, sizeof data));
    xhal_tensor_destroy(v);

    /* permute / transpose */
    CHECK_OK(xhal_tensor_permute(base, (int[]){2, 0, 1}, &v));
    CHECK_OK(xhal_tensor_shape(v, &nd, vs, vst));
    CHECK(vs[0] == 4 && vs[1] == 2 && vs[2] == 3 && vst[0] == 1 && vst[1] == 12 && vst[2] == 4);
    read_f32(v, got, 24);
    CHECK(got[0] == 0 && got[1] == 4 && got[3] == 12 && got[6] == 1);
    xhal_tensor_destroy(v);
    CHECK_STATUS(xhal_tensor_permute(base, (int[]){0, 0, 1}, &v), XHAL_ERROR_INVALID_ARGUMENT, "not a permutation");
    CHECK_STATUS(xhal_tensor_permute(base, (int[]){0, 1, 3}, &v), XHAL_ERROR_INVALID_ARGUMENT, "entry 2 is 3");
    CHECK_OK(xhal_tensor_transpose(base, 0, -1, &v));
    CHECK_OK(xhal_tensor_shape(v, &nd, vs, NULL));
    CHECK(vs[0] == 4 && vs[2] == 2);
    xhal_tensor_destroy(v);
    CHECK_STATUS(xhal_tensor_transpose(base, 0, 5, &v), XHAL_ERROR_INVALID_ARGUMENT, "axis 5");

    /* reshape */
    CHECK_OK(xhal_tensor_reshape(base, 2, (int64_t[]){-1, 6}, &v));
    CHECK_OK(xhal_tensor_shape(v, &nd, vs, NULL));
    CHECK(nd == 2 && vs[0] == 4 && vs[1] == 6);
    xhal_tensor_destroy(v);
    CHECK_STATUS(xhal_tensor_reshape(base, 2, (int64_t[]){5, 5}, &v), XHAL_ERROR_SHAPE_MISMATCH,
                 "has 24 elements but [5,5] has 25");
    CHECK_STATUS(xhal_tensor_reshape(base, 2, (int64_t[]){-1, -1}, &v), XHAL_ERROR_INVALID_ARGUMENT,
                 "more than one -1");
    CHECK_STATUS(xhal_tensor_reshape(base, 2, (int64_t[]){-1, 5}, &v), XHAL_ERROR_SHAPE_MISMATCH, "cannot infer");
    CHECK_STATUS(xhal_tensor_reshape(base, 2, (int64_t[]){-3, 5}, &v), XHAL_ERROR_INVALID_ARGUMENT,
                 "dimension 0 is -3");

    CHECK_OK(xhal_tensor_reshape(empty, 3, (int64_t[]){0, 5, 1}, &v)); /* empty [0,5] */
    xhal_tensor_destroy(v);
    CHECK_STATUS(xhal_tensor_reshape(empty, 3, (int64_t[]){0, INT64_MAX / 2, 4}, &v), XHAL_ERROR_OVERFLOW, "overflows");

    /* expand */
    xhal_tensor *row = NULL;
    CHECK_OK(xhal_tensor_slice(base, 1, 0, 1, 1, &row)); /* [2,1,4] */
    CHECK_OK(xhal_tensor_expand(row, 4, (int64_t[]){5, 2, 3, 4}, &v));
    CHECK_OK(xhal_tensor_shape(v, &nd, vs, vst));
    CHECK(nd == 4 && vst[0] == 0 && vst[2] == 0 && vst[3] == 1);
    float ex[120];
    CHECK_OK(xhal_tensor_read(s, v, ex, sizeof ex));
    CHECK(ex[0] == 0 && ex[4] == 0 && ex[12] == 12 && ex[119] == 15);
    xhal_tensor_destroy(v);
    CHECK_STATUS(xhal_tensor_expand(row, 3, (int64_t[]){2, 3, 5}, &v), XHAL_ERROR_SHAPE_MISMATCH, "does not broadcast");
    CHECK_STATUS(xhal_tensor_expand(row, 2, (int64_t[]){3, 4}, &v), XHAL_ERROR_SHAPE_MISMATCH,
                 "cannot expand 3 dims to 2");

    /* ---- lifetime: views keep the memory alive; dead handles are detected ---- */
    xhal_tensor *keep = NULL;
    CHECK_OK(xhal_tensor_slice(base, 0, 1, 2, 1, &keep));
    CHECK_OK(xhal_tensor_destroy(base));
    CHECK_STATUS(xhal_tensor_numel(base, &n), XHAL_ERROR_INVALID_HANDLE, "not a live tensor");
    CHECK_STATUS(xhal_tensor_destroy(base), XHAL_ERROR_INVALID_HANDLE, "not a live tensor"); /* double destroy */
    read_f32(keep, got, 12);
    CHECK(got[0] == 12 && got[11] == 23);
    CHECK_OK(xhal_tensor_destroy(keep));
    CHECK_OK(xhal_tensor_destroy(row));
    CHECK_OK(xhal_tensor_destroy(NULL));
    /* a buffer destroyed by its owner lives on while a tensor uses it */
    xhal_tensor *tb = NULL;
    CHECK_OK(xhal_tensor_from_buffer(buf, XHAL_DTYPE_U8, 1, (int64_t[]){64}, NULL, 0, &tb));
    CHECK_OK(xhal_buffer_destroy(buf));
    CHECK_STATUS(xhal_buffer_size(buf, &bs), XHAL_ERROR_INVALID_HANDLE, "not a live buffer");
    unsigned char u8[64];
    CHECK_OK(xhal_tensor_read(s, tb, u8, 64));
    CHECK(u8[5] == 5 && u8[63] == 63);
    CHECK_OK(xhal_tensor_destroy(tb));
    CHECK_OK(xhal_buffer_destroy(NULL));
    /* wrong kind of handle */
    CHECK_STATUS(xhal_tensor_numel((xhal_tensor *)s, &n), XHAL_ERROR_INVALID_HANDLE, "is a stream, not a tensor");
    CHECK_STATUS(xhal_tensor_numel(NULL, &n), XHAL_ERROR_INVALID_HANDLE, "is NULL");
    CHECK_STATUS(xhal_tensor_numel(scalar, NULL), XHAL_ERROR_INVALID_ARGUMENT, "numel is NULL");
    /* a tensor's own buffer is not handed out */
    xhal_buffer *own = NULL;
    CHECK_STATUS(xhal_tensor_buffer(scalar, &own), XHAL_ERROR_INVALID_ARGUMENT, "owns its buffer");
    /* write/read size must match */
    float two[2];
    CHECK_STATUS(xhal_tensor_write(s, scalar, two, sizeof two), XHAL_ERROR_INVALID_ARGUMENT,
                 "size is 8 bytes but the f32 tensor [] holds 4");

    CHECK_OK(xhal_context_destroy(ctx));
    return xtest_finish("test_tensor");
}
