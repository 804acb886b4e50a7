/* xc_run.c - run one case on a device: every tensor in its own buffer between guard
 * bytes, the op through the public API, then the checks of OPS.md (status, guards,
 * inputs unchanged, values against the f64 reference). */
#define _POSIX_C_SOURCE 200809L
#include "xc_conform.h"
#include "xhal/xhal_op_table.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GUARD 64u

static xc_post_op_hook g_hook;
void xc_set_post_op_hook(xc_post_op_hook hook) { g_hook = hook; }

typedef struct dtens {
    xhal_buffer *buf;
    xhal_tensor *base, *view;
    uint64_t size;
    int ndim;
    int64_t shape[XHAL_MAX_DIMS];   /* logical */
    int64_t vstride[XHAL_MAX_DIMS]; /* expected view strides (elements) */
    uint64_t voff;                  /* expected byte offset of element 0 */
    size_t es;
    int64_t n;
    uint8_t *image;  /* host image of the whole buffer as written */
    int dense;       /* row-major contiguous at voff */
    int bs, bb;      /* block-quantized dtypes: block size and bytes (es is 0); else 0 */
    int view_failed; /* dtens_make failed making the view (the base tensor was fine) */
    uint8_t *rows;   /* block-quantized outputs: the blocks read back, logical rows in order */
} dtens;

static uint8_t pattern(uint64_t i) { return (uint8_t)(0xC3u + 7u * (unsigned)(i & 0xffu)); }

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static void setmsg(xc_result *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof(r->message), fmt, ap);
    va_end(ap);
}

/* Byte offset of logical element i of t. */
static uint64_t elem_off(const dtens *t, int64_t i)
{
    int64_t off = 0;
    for (int d = t->ndim - 1; d >= 0; d--) {
        int64_t s = t->shape[d];
        off += (i % s) * t->vstride[d];
        i /= s;
    }
    return t->voff + (uint64_t)off * t->es;
}

static void dtens_free(dtens *t)
{
    xhal_tensor_destroy(t->view);
    if (t->base != t->view) xhal_tensor_destroy(t->base);
    xhal_buffer_destroy(t->buf);
    free(t->image);
    free(t->rows);
    memset(t, 0, sizeof(*t));
}

/* Create t per spec holding values v (logical order). Returns XHAL_OK or the failing
 * status with r->message set ("setup: ..."). */
static xhal_status dtens_make(xhal_stream *stream, xhal_device *dev, const xc_tspec *sp, const double *v,
                              const xc_tensor *h, const char *what, dtens *t, xc_result *r)
{
    memset(t, 0, sizeof(*t));
    t->ndim = sp->ndim;
    t->es = xc_dtype_size(sp->dtype);
    int blk = xc_dtype_block(sp->dtype, &t->bs, &t->bb);
    memcpy(t->shape, sp->shape, sizeof(t->shape));
    t->n = xc_numel(sp->ndim, sp->shape);
    int layout = sp->layout;
    if (sp->ndim == 0 && layout != XC_LAYOUT_EXPAND) layout = XC_LAYOUT_CONTIG;
    int64_t S[XHAL_MAX_DIMS], st[XHAL_MAX_DIMS];
    for (int d = 0; d < sp->ndim; d++) S[d] = sp->shape[d];
    if (layout == XC_LAYOUT_PERMUTE)
        for (int d = 0; d < sp->ndim; d++) S[sp->perm[d]] = sp->shape[d];
    else if (layout == XC_LAYOUT_STEP) /* block dtypes: a valid base whose step-2 slice splits blocks */
        S[sp->ndim - 1] = 2 * sp->shape[sp->ndim - 1] + (blk ? 0 : 1);
    else if (layout == XC_LAYOUT_EXPAND)
        for (int d = 0; d < sp->ndim; d++) S[d] = sp->eshape[d];
    int64_t ns = 1;
    for (int d = sp->ndim - 1; d >= 0; d--) {
        st[d] = ns;
        ns *= S[d];
    }
    /* block dtypes start at an odd byte: blocks must be read byte-wise (xhal_backend.h) */
    t->size = 2 * GUARD + (blk ? (uint64_t)(ns / t->bs * t->bb) + 1 : (uint64_t)ns * t->es);
    t->voff = GUARD + (blk ? 1u : 0u);
    for (int d = 0; d < sp->ndim; d++) {
        switch (layout) {
            case XC_LAYOUT_PERMUTE: t->vstride[d] = st[sp->perm[d]]; break;
            case XC_LAYOUT_EXPAND: t->vstride[d] = (S[d] == 1 && sp->shape[d] != 1) ? 0 : st[d]; break;
            default: t->vstride[d] = st[d]; break;
        }
    }
    if (layout == XC_LAYOUT_STEP) {
        t->vstride[sp->ndim - 1] *= 2;
        t->voff += t->es;
    }
    uint64_t base_off = blk ? t->voff : GUARD;
    t->image = malloc((size_t)t->size);
    if (!t->image) {
        setmsg(r, "setup: out of host memory");
        return XHAL_ERROR_OUT_OF_MEMORY;
    }
    for (uint64_t i = 0; i < t->size; i++) t->image[i] = pattern(i);
    t->dense = layout == XC_LAYOUT_CONTIG;
    if (blk) {
        /* the stored bytes, dense at voff (h->raw is in storage order) */
        if (h && h->raw && (uint64_t)h->raw_bytes == (uint64_t)(ns / t->bs * t->bb))
            memcpy(t->image + t->voff, h->raw, (size_t)h->raw_bytes);
    } else if (v && t->dense)
        xc_encode(sp->dtype, v, t->n, t->image + t->voff);
    else if (v)
        for (int64_t i = 0; i < t->n; i++) xc_encode(sp->dtype, &v[i], 1, t->image + elem_off(t, i));

    xhal_status st_ = xhal_buffer_create(dev, t->size, &t->buf);
    if (st_ != XHAL_OK) {
        setmsg(r, "setup: buffer_create(%s, %llu bytes): %s: %s", what, (unsigned long long)t->size,
               xhal_status_name(st_), xhal_last_error());
        return st_;
    }
    st_ = xhal_buffer_write(stream, t->buf, 0, t->image, t->size);
    if (st_ != XHAL_OK) {
        setmsg(r, "setup: buffer_write(%s): %s: %s", what, xhal_status_name(st_), xhal_last_error());
        return st_;
    }
    st_ = xhal_tensor_from_buffer(t->buf, sp->dtype, sp->ndim, S, NULL, base_off, &t->base);
    if (st_ != XHAL_OK) {
        setmsg(r, "setup: tensor_from_buffer(%s, %s): %s: %s", what, xhal_dtype_name(sp->dtype), xhal_status_name(st_),
               xhal_last_error());
        return st_;
    }
    t->view = t->base;
    switch (layout) {
        case XC_LAYOUT_PERMUTE: st_ = xhal_tensor_permute(t->base, sp->perm, &t->view); break;
        case XC_LAYOUT_STEP: st_ = xhal_tensor_slice(t->base, -1, 1, S[sp->ndim - 1], 2, &t->view); break;
        case XC_LAYOUT_EXPAND: st_ = xhal_tensor_expand(t->base, sp->ndim, sp->shape, &t->view); break;
        default: break;
    }
    if (st_ != XHAL_OK) {
        t->view = t->base;
        setmsg(r, "setup: making the view of %s: %s: %s", what, xhal_status_name(st_), xhal_last_error());
        t->view_failed = 1;
        return st_;
    }
    /* The view must be exactly what the layout says, or the guard check means nothing. */
    int nd = 0;
    int64_t vs[XHAL_MAX_DIMS], vsh[XHAL_MAX_DIMS];
    uint64_t off = 0;
    if (xhal_tensor_shape(t->view, &nd, vsh, vs) != XHAL_OK || xhal_tensor_byte_offset(t->view, &off) != XHAL_OK ||
        nd != sp->ndim) {
        setmsg(r, "setup: cannot query view of %s", what);
        return XHAL_ERROR_INTERNAL;
    }
    if (t->n > 0) {
        int bad = off != t->voff;
        for (int d = 0; d < nd; d++) bad |= vsh[d] != sp->shape[d] || (sp->shape[d] > 1 && vs[d] != t->vstride[d]);
        if (bad) {
            setmsg(r, "setup: view of %s has unexpected shape/strides/offset (offset %llu, want %llu)", what,
                   (unsigned long long)off, (unsigned long long)t->voff);
            return XHAL_ERROR_INTERNAL;
        }
    }
    return XHAL_OK;
}

/* Block-quantized tensors: rows of whole blocks. Byte offset of logical row r (all indices
 * but the innermost) of t, and the bytes of one row. */
static uint64_t block_row_off(const dtens *t, int64_t r)
{
    int64_t lin = 0;
    for (int d = t->ndim - 2; d >= 0; d--) {
        int64_t s = t->shape[d];
        lin += (r % s) * t->vstride[d];
        r /= s;
    }
    return t->voff + (uint64_t)(lin / t->bs * t->bb);
}
static uint64_t block_row_bytes(const dtens *t) { return (uint64_t)(t->shape[t->ndim - 1] / t->bs * t->bb); }

/* Read the buffer back; check bytes that must be unchanged. For an output (is_out) the
 * element bytes are decoded into got instead. Returns 0 if fine, else sets r->message. */
static int dtens_check(xhal_stream *stream, dtens *t, const char *what, int is_out, xhal_dtype dt, double *got,
                       xc_result *r)
{
    uint8_t *now = malloc((size_t)t->size);
    if (!now) {
        setmsg(r, "out of host memory");
        return -1;
    }
    xhal_status st = xhal_buffer_read(stream, t->buf, 0, now, t->size);
    if (st != XHAL_OK) {
        setmsg(r, "buffer_read(%s): %s: %s", what, xhal_status_name(st), xhal_last_error());
        free(now);
        return -1;
    }
    int rc = 0;
    if (!is_out) {
        for (uint64_t i = 0; i < t->size; i++)
            if (now[i] != t->image[i]) {
                setmsg(r, "input %s was modified: byte %llu of its buffer was 0x%02x, now 0x%02x", what,
                       (unsigned long long)i, t->image[i], now[i]);
                rc = -1;
                break;
            }
    } else {
        uint8_t *mark = calloc((size_t)t->size, 1);
        if (!mark) {
            free(now);
            setmsg(r, "out of host memory");
            return -1;
        }
        uint64_t first = UINT64_MAX, last = 0;
        if (t->bs && t->n > 0) { /* block dtype: whole rows of blocks */
            int64_t inner = t->shape[t->ndim - 1], nrows = t->n / inner;
            uint64_t rb = block_row_bytes(t);
            free(t->rows);
            t->rows = malloc((size_t)(rb * (uint64_t)nrows));
            if (!t->rows) {
                free(mark);
                free(now);
                setmsg(r, "out of host memory");
                return -1;
            }
            for (int64_t row = 0; row < nrows; row++) {
                uint64_t o = block_row_off(t, row);
                memset(mark + o, 1, (size_t)rb);
                memcpy(t->rows + (uint64_t)row * rb, now + o, (size_t)rb);
                if (o < first) first = o;
                if (o + rb > last) last = o + rb;
            }
            if (got) xc_block_decode(dt, t->rows, t->n / t->bs, got);
        } else if (t->dense && t->n > 0) {
            first = t->voff;
            last = t->voff + (uint64_t)t->n * t->es;
            memset(mark + first, 1, (size_t)(last - first));
            if (got) xc_decode(dt, now + first, t->n, got);
        }
        for (int64_t i = 0; i < t->n && !t->dense && !t->bs; i++) {
            uint64_t o = elem_off(t, i);
            memset(mark + o, 1, t->es);
            if (o < first) first = o;
            if (o + t->es > last) last = o + t->es;
            if (got) xc_decode(dt, now + o, 1, &got[i]);
        }
        for (uint64_t i = 0; i < t->size; i++)
            if (!mark[i] && now[i] != t->image[i]) {
                const char *where = t->n == 0   ? "in an empty output's buffer"
                                    : i < first ? "before the first element"
                                    : i >= last ? "after the last element"
                                                : "between elements";
                setmsg(r, "guard bytes of %s changed: byte %llu (%s) was 0x%02x, now 0x%02x", what,
                       (unsigned long long)i, where, t->image[i], now[i]);
                rc = -1;
                break;
            }
        free(mark);
    }
    free(now);
    return rc;
}

/* A block-quantized output (copy to q8_0/q4_0, or between blocks of one dtype) must hold
 * exactly the bytes of the reference: the codec's blocks of the input values, or the input's
 * own blocks. 0 if equal, else -1 with the first differing byte named. */
static int check_block_bytes(const xc_case *c, const xc_tensor *hin, const dtens *din, const dtens *out, xc_result *r)
{
    int64_t inner = out->shape[out->ndim - 1], nrows = out->n / inner;
    uint64_t rb = block_row_bytes(out);
    uint8_t *want = malloc((size_t)(rb * (uint64_t)nrows) + 1);
    if (!want) {
        setmsg(r, "out of host memory");
        return -1;
    }
    if (din->bs) { /* same dtype: the input's blocks, row by row */
        for (int64_t row = 0; row < nrows; row++)
            memcpy(want + (uint64_t)row * rb, hin->raw + (block_row_off(din, row) - din->voff), (size_t)rb);
    } else if (xc_block_quantize(c->out.dtype, hin->v, out->n / out->bs, want) != 0) {
        free(want);
        setmsg(r, "no reference quantizer for %s", xhal_dtype_name(c->out.dtype));
        return -1;
    }
    int rc = 0;
    for (uint64_t i = 0; i < rb * (uint64_t)nrows; i++)
        if (out->rows[i] != want[i]) {
            uint64_t row = i / rb, blk = (i % rb) / (uint64_t)out->bb, byte = (i % rb) % (uint64_t)out->bb;
            setmsg(r,
                   "%s bytes differ from the reference codec: row %llu, block %llu, byte %llu is 0x%02x, want 0x%02x",
                   xhal_dtype_name(c->out.dtype), (unsigned long long)row, (unsigned long long)blk,
                   (unsigned long long)byte, out->rows[i], want[i]);
            rc = -1;
            break;
        }
    free(want);
    return rc;
}

static int out_untouched(xhal_stream *stream, dtens *t, xc_result *r)
{
    uint8_t *now = malloc((size_t)t->size);
    if (!now) {
        setmsg(r, "out of host memory");
        return -1;
    }
    int rc = 0;
    if (xhal_buffer_read(stream, t->buf, 0, now, t->size) != XHAL_OK) {
        setmsg(r, "buffer_read(out) failed");
        rc = -1;
    } else
        for (uint64_t i = 0; i < t->size; i++)
            if (now[i] != t->image[i]) {
                setmsg(r, "out was modified by a failing op: byte %llu was 0x%02x, now 0x%02x", (unsigned long long)i,
                       t->image[i], now[i]);
                rc = -1;
                break;
            }
    free(now);
    return rc;
}

/* One public entry point per family of the op table (include/xhal/xhal_op_table.h). */
static xhal_status run_op(xhal_stream *s, const xc_case *c, dtens *in, dtens *out, dtens *out2)
{
    const xc_attrs *a = &c->at;
    switch (xhal_op_family_of((int)c->op)) {
        case XHAL_OPF_COPY: return xhal_copy(s, in[0].view, out->view);
        case XHAL_OPF_FILL: return xhal_fill(s, out->view, a->value);
        case XHAL_OPF_UNARY: return xhal_unary(s, c->op, in[0].view, out->view);
        case XHAL_OPF_BINARY:
            /* add and mul through their own entry points, the rest through xhal_binary */
            if (c->op == XHAL_OP_ADD) return xhal_add(s, in[0].view, in[1].view, out->view);
            if (c->op == XHAL_OP_MUL) return xhal_mul(s, in[0].view, in[1].view, out->view);
            return xhal_binary(s, c->op, in[0].view, in[1].view, out->view);
        case XHAL_OPF_SCALE: return xhal_scale(s, in[0].view, a->alpha, a->beta, out->view);
        case XHAL_OPF_REDUCE: return xhal_reduce(s, c->op, in[0].view, a->axis, a->keepdims, out->view);
        case XHAL_OPF_SOFTMAX: return xhal_softmax(s, in[0].view, a->scale, a->causal, out->view);
        case XHAL_OPF_NORM: {
            int k = 1;
            xhal_tensor *w = a->has_weight ? in[k++].view : NULL;
            if (c->op == XHAL_OP_RMS_NORM) return xhal_rms_norm(s, in[0].view, w, a->eps, out->view);
            xhal_tensor *b = a->has_bias ? in[k++].view : NULL;
            return xhal_layer_norm(s, in[0].view, w, b, a->eps, out->view);
        }
        case XHAL_OPF_MATMUL:
            if (c->n_in > 2) /* per-channel int8 weights with scales */
                return xhal_matmul_i8(s, in[0].view, in[1].view, in[2].view, a->alpha, a->beta, out->view);
            return xhal_matmul(s, in[0].view, in[1].view, a->trans_a, a->trans_b, a->alpha, a->beta, out->view);
        case XHAL_OPF_GATHER: return xhal_gather(s, in[0].view, in[1].view, out->view);
        case XHAL_OPF_ROPE: {
            if (!a->has_positions && !a->has_inv_freq && a->attention_factor == 0)
                return xhal_rope(s, in[0].view, a->seq_axis, a->theta, a->pos_offset, a->rotary_dims,
                                 (xhal_rope_layout)a->rope_layout, out->view);
            xhal_rope_params p;
            xhal_rope_params_init(&p);
            p.seq_axis = a->seq_axis;
            p.theta = a->theta;
            p.pos_offset = a->pos_offset;
            p.rotary_dims = a->rotary_dims;
            p.layout = a->rope_layout;
            if (a->attention_factor != 0) p.attention_factor = a->attention_factor;
            int k = 1;
            xhal_tensor *pos = a->has_positions ? in[k++].view : NULL;
            xhal_tensor *invf = a->has_inv_freq ? in[k++].view : NULL;
            return xhal_rope_ex(s, in[0].view, pos, invf, &p, out->view);
        }
        case XHAL_OPF_ATTENTION: {
            xhal_tensor *mask = a->has_mask ? in[3].view : NULL;
            if (!a->window && a->softcap == 0 && !a->has_q_pos0)
                return xhal_attention(s, in[0].view, in[1].view, in[2].view, mask, a->scale, a->causal, out->view);
            xhal_attention_params p;
            xhal_attention_params_init(&p);
            p.scale = a->scale;
            p.causal = a->causal;
            p.window = a->window;
            p.softcap = a->softcap;
            p.q_pos0 = a->has_q_pos0 ? a->q_pos0 : -1;
            return xhal_attention_ex(s, in[0].view, in[1].view, in[2].view, mask, &p, out->view);
        }
        case XHAL_OPF_TOPK:
            return xhal_topk(s, in[0].view, a->k, a->axis, a->largest, out->view, out2 ? out2->view : NULL);
        case XHAL_OPF_COMPOSED:
            if (c->op == XHAL_OP_CONCAT) {
                xhal_tensor *parts[XC_MAX_IN];
                for (int i = 0; i < c->n_in; i++) parts[i] = in[i].view;
                return xhal_concat(s, parts, c->n_in, a->axis, out->view);
            }
            return XHAL_ERROR_INVALID_ARGUMENT;
        default: return XHAL_ERROR_INVALID_ARGUMENT;
    }
}

static int device_stores(xhal_device *dev, xhal_dtype dt)
{
    xhal_device_info info;
    if (xhal_device_get_info(dev, &info) != XHAL_OK) return 1;
    return (info.dtypes & XHAL_DTYPE_BIT(dt)) != 0;
}

void xc_run_case(xhal_stream *stream, xhal_device *dev, const xc_case *c, uint64_t seed, xc_result *r)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->suite, sizeof(r->suite), "%s", c->suite[0] ? c->suite : "ops");
    snprintf(r->name, sizeof(r->name), "%s", c->name);
    snprintf(r->op, sizeof(r->op), "%s", xhal_op_name(c->op));
    snprintf(r->dtype, sizeof(r->dtype), "%s", xhal_dtype_name(c->dtype));
    r->outcome = XC_FAIL;
    r->numel = xc_numel(c->out.ndim, c->out.shape);
    xc_case_describe(c, r->detail, sizeof(r->detail));
    {
        char vmsg[300];
        if (xc_case_validate(c, vmsg, sizeof(vmsg)) != 0) {
            setmsg(r, "malformed case: %s", vmsg);
            return;
        }
    }

    for (int i = 0; i < c->n_in; i++)
        if (!device_stores(dev, c->in[i].dtype)) {
            r->outcome = XC_UNSUPPORTED;
            setmsg(r, "the device does not store %s", xhal_dtype_name(c->in[i].dtype));
            return;
        }
    if (!device_stores(dev, c->out.dtype) || (c->has_out2 && !device_stores(dev, c->out2.dtype))) {
        r->outcome = XC_UNSUPPORTED;
        setmsg(r, "the device does not store %s",
               xhal_dtype_name(device_stores(dev, c->out.dtype) ? c->out2.dtype : c->out.dtype));
        return;
    }

    xc_tensor hin[XC_MAX_IN], hinit;
    memset(hin, 0, sizeof(hin));
    memset(&hinit, 0, sizeof(hinit));
    dtens din[XC_MAX_IN], dout, dout2;
    memset(din, 0, sizeof(din));
    memset(&dout, 0, sizeof(dout));
    memset(&dout2, 0, sizeof(dout2));
    double *ref = NULL, *mag = NULL, *got = NULL, *ref2 = NULL, *got2 = NULL, *init2 = NULL;
    int64_t n = r->numel, R = 1;
    char emsg[256] = "";
    int first_in = 0; /* inputs before this one are not checked as inputs (in place) */

    if (xc_case_inputs(c, seed, hin, &hinit) != 0) {
        setmsg(r, "cannot generate inputs (out of memory)");
        goto done;
    }
    size_t nb = sizeof(double) * (size_t)(n > 0 ? n : 1);
    ref = malloc(nb);
    mag = malloc(nb);
    got = malloc(nb);
    if (!ref || !mag || !got) {
        setmsg(r, "out of host memory");
        goto done;
    }
    if (c->has_out2) { /* the second output starts as -77 everywhere (never a valid index) */
        ref2 = malloc(nb);
        got2 = malloc(nb);
        init2 = malloc(nb);
        if (!ref2 || !got2 || !init2) {
            setmsg(r, "out of host memory");
            goto done;
        }
        for (int64_t i = 0; i < n; i++) init2[i] = -77.0;
        if (c->expect_status == XHAL_OK && xc_ref_compute_out2(c, hin, ref2, emsg, sizeof(emsg)) != 0) {
            setmsg(r, "reference: %s", emsg);
            goto done;
        }
    }
    if (c->expect_status == XHAL_OK || c->out_defined) {
        if (c->given_expect) {
            int64_t Rr = 1;
            /* the reference gives the magnitudes; the vector gives the values */
            if (xc_ref_compute(c, hin, &hinit, ref, mag, &Rr, emsg, sizeof(emsg)) != 0) {
                setmsg(r, "reference: %s", emsg);
                goto done;
            }
            R = Rr;
            for (int64_t i = 0; i < n; i++) ref[i] = c->given_expect->v[i];
        } else if (xc_ref_compute(c, hin, &hinit, ref, mag, &R, emsg, sizeof(emsg)) != 0) {
            setmsg(r, "reference: %s", emsg);
            goto done;
        }
    }

    for (int i = 0; i < c->n_in; i++) {
        char what[16];
        snprintf(what, sizeof(what), "input %d", i);
        xhal_status st = dtens_make(stream, dev, &c->in[i], hin[i].v, &hin[i], what, &din[i], r);
        if (i == 0 && c->view_refused) {
            /* the case is the view itself: it must be refused with the status named */
            if (st == (xhal_status)c->expect_status && din[0].view_failed) {
                r->outcome = XC_PASS;
                setmsg(r, "view refused as required: %s: %s", xhal_status_name(st), xhal_last_error());
            } else if (st == XHAL_OK)
                setmsg(r, "a view that splits %s blocks was accepted (want %s)", xhal_dtype_name(c->in[0].dtype),
                       xhal_status_name((xhal_status)c->expect_status));
            else if (!din[0].view_failed && st == XHAL_ERROR_UNSUPPORTED)
                r->outcome = XC_UNSUPPORTED; /* the device does not take the dtype at all */
            else if (din[0].view_failed)
                setmsg(r, "the view was refused with %s, want %s (%s)", xhal_status_name(st),
                       xhal_status_name((xhal_status)c->expect_status), xhal_last_error());
            goto done;
        }
        if (st != XHAL_OK) {
            if (st == XHAL_ERROR_UNSUPPORTED) r->outcome = XC_UNSUPPORTED;
            goto done;
        }
    }
    if (c->inplace && c->n_in > 0) {
        dout = din[0]; /* the same tensor: checked once, as the output; freed as input 0 */
        first_in = 1;
    } else {
        xhal_status st = dtens_make(stream, dev, &c->out, hinit.v, NULL, "out", &dout, r);
        if (st != XHAL_OK) {
            if (st == XHAL_ERROR_UNSUPPORTED) r->outcome = XC_UNSUPPORTED;
            goto done;
        }
    }

    if (c->has_out2) {
        xhal_status st2 = dtens_make(stream, dev, &c->out2, init2, NULL, "out2", &dout2, r);
        if (st2 != XHAL_OK) {
            if (st2 == XHAL_ERROR_UNSUPPORTED) r->outcome = XC_UNSUPPORTED;
            goto done;
        }
    }

    double t0 = now_ms();
    xhal_status st = run_op(stream, c, din, &dout, c->has_out2 ? &dout2 : NULL);
    const char *opmsg = st != XHAL_OK ? xhal_last_error() : "";
    char opmsg_copy[400];
    snprintf(opmsg_copy, sizeof(opmsg_copy), "%s", opmsg);
    xhal_status sst = xhal_stream_synchronize(stream);
    r->ms = now_ms() - t0;
    if (st == XHAL_OK && sst != XHAL_OK) {
        st = sst;
        snprintf(opmsg_copy, sizeof(opmsg_copy), "stream_synchronize: %s", xhal_last_error());
    }
    if (st == XHAL_ERROR_UNSUPPORTED) {
        r->outcome = XC_UNSUPPORTED;
        setmsg(r, "%s", opmsg_copy);
        goto done;
    }
    if (g_hook) g_hook(stream, dout.buf, dout.size, c);
    if (c->expect_status != XHAL_OK) {
        if (st != (xhal_status)c->expect_status) {
            setmsg(r, "expected %s, got %s (%s)", xhal_status_name((xhal_status)c->expect_status), xhal_status_name(st),
                   opmsg_copy);
            goto done;
        }
        if (!c->out_defined) {
            if (out_untouched(stream, &dout, r) != 0) goto done;
            if (c->has_out2 && out_untouched(stream, &dout2, r) != 0) goto done;
            for (int i = first_in; i < c->n_in; i++)
                if (dtens_check(stream, &din[i], "an input", 0, c->in[i].dtype, NULL, r) != 0) goto done;
            r->outcome = XC_PASS;
            setmsg(r, "returned %s as required: %s", xhal_status_name(st), opmsg_copy);
            goto done;
        }
        st = XHAL_OK; /* the status was right; out is judged below like any output */
    }
    if (st != XHAL_OK) {
        setmsg(r, "%s: %s", xhal_status_name(st), opmsg_copy);
        goto done;
    }
    if (dtens_check(stream, &dout, "out", 1, c->out.dtype, got, r) != 0) goto done;
    if (dout.bs && n > 0 && check_block_bytes(c, &hin[0], &din[0], &dout, r) != 0) goto done;
    if (c->has_out2) { /* exact: every element equal to the reference's */
        if (dtens_check(stream, &dout2, "out2", 1, c->out2.dtype, got2, r) != 0) goto done;
        int64_t bad = 0, first = -1;
        for (int64_t i = 0; i < n; i++)
            if (got2[i] != ref2[i]) {
                if (first < 0) first = i;
                bad++;
            }
        if (bad) {
            setmsg(r, "second output (%s): %lld of %lld elements wrong; first at %lld: got %.17g, want %.17g",
                   c->op == XHAL_OP_TOPK ? "indices" : "out2", (long long)bad, (long long)n, (long long)first,
                   got2[first], ref2[first]);
            goto done;
        }
    }
    for (int i = first_in; i < c->n_in; i++) {
        char what[24];
        snprintf(what, sizeof(what), "input %d", i);
        if (dtens_check(stream, &din[i], what, 0, c->in[i].dtype, NULL, r) != 0) goto done;
    }
    for (int64_t i = 0; i < n; i++) ref[i] = xc_round_to(c->out.dtype, ref[i]);
    r->tol = xc_tolerance(c->op, c->out.dtype, R);
    {
        xc_cmp cmp;
        xc_compare(got, ref, mag, n, r->tol, c->nan_sign, &cmp);
        r->has_figures = 1;
        r->max_abs = cmp.max_abs;
        r->max_rel = cmp.max_rel;
        r->nmse = cmp.nmse;
        r->worst = cmp.worst;
        if (cmp.pass)
            r->outcome = xc_case_trivial(c) ? XC_TRIVIAL : XC_PASS;
        else
            setmsg(r, "%lld of %lld elements wrong; %s", (long long)cmp.n_bad, (long long)n, cmp.why);
        if (r->outcome == XC_TRIVIAL)
            setmsg(r, "trivial: empty tensors give the device no work (checked: status and guard bytes)");
    }
done:
    for (int i = 0; i < c->n_in; i++) {
        dtens_free(&din[i]);
        xc_tensor_free(&hin[i]);
    }
    if (!first_in) dtens_free(&dout);
    if (c->has_out2) dtens_free(&dout2);
    free(ref2);
    free(got2);
    free(init2);
    xc_tensor_free(&hinit);
    free(ref);
    free(mag);
    free(got);
}
