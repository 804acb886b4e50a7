/*
 * bench_model.c - the model port's speed (prefill and decode tokens/s, weight bytes per second
 * in decode against the machine's measured memory bandwidth), the STREAM-like bandwidth loop,
 * and the random-weight Llama checkpoint writer that makes the model figure download-free.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_internal.h"

#ifdef XB_HAVE_LLAMA
#include "llama.h"
#endif

/* ------------------------------------------------------------------------- */
/* STREAM-like bandwidth: copy, triad and read over arrays far larger than caches */
/* ------------------------------------------------------------------------- */
typedef struct stream_job {
    double *a, *b, *c;
    size_t begin, end;
    int kernel; /* 0 copy c=a, 1 triad a=b+s*c, 2 read sum(a) */
    double sum;
} stream_job;

static void *stream_worker(void *vj)
{
    stream_job *j = vj;
    double *a = j->a, *b = j->b, *c = j->c;
    const double s = 3.0;
    double acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0;
    switch (j->kernel) {
        case 0:
            for (size_t i = j->begin; i < j->end; i++) c[i] = a[i];
            break;
        case 1:
            for (size_t i = j->begin; i < j->end; i++) a[i] = b[i] + s * c[i];
            break;
        default:
            for (size_t i = j->begin; i + 4 <= j->end; i += 4) {
                acc0 += a[i];
                acc1 += a[i + 1];
                acc2 += a[i + 2];
                acc3 += a[i + 3];
            }
            j->sum = acc0 + acc1 + acc2 + acc3;
            break;
    }
    return NULL;
}

/* One pass of kernel over n doubles with nthreads threads (each thread a contiguous part). */
static void stream_pass(double *a, double *b, double *c, size_t n, int kernel, int nthreads)
{
    pthread_t th[64];
    stream_job jobs[64];
    if (nthreads > 64) nthreads = 64;
    for (int t = 0; t < nthreads; t++) {
        jobs[t] = (stream_job){a,      b,  c, n * (size_t)t / (size_t)nthreads, n * (size_t)(t + 1) / (size_t)nthreads,
                               kernel, 0.0};
        if (t > 0 && pthread_create(&th[t], NULL, stream_worker, &jobs[t]) != 0) {
            stream_worker(&jobs[t]); /* no thread: do it here */
            th[t] = 0;
        }
    }
    stream_worker(&jobs[0]);
    for (int t = 1; t < nthreads; t++)
        if (th[t]) pthread_join(th[t], NULL);
}

double xb_suite_stream(xb_env *e)
{
    size_t n = e->opts->quick ? ((size_t)1 << 21) : ((size_t)1 << 23); /* 16 / 64 MiB per array */
    int nthreads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (nthreads < 1) nthreads = 1;
    double *a = malloc(n * sizeof(double)), *b = malloc(n * sizeof(double)), *c = malloc(n * sizeof(double));
    double triad = 0.0;
    static const char *names[3] = {"copy", "triad", "read"};
    static const double words[3] = {2.0, 3.0, 1.0};
    if (!a || !b || !c) {
        free(a);
        free(b);
        free(c);
        return 0.0;
    }
    /* touch with the same partitioning as the passes, so pages sit where they are used */
    for (size_t i = 0; i < n; i++) a[i] = 1.0, b[i] = 2.0, c[i] = 0.5;
    int reps = e->opts->quick ? 3 : 10;
    for (int k = 0; k < 3; k++) {
        double smp[64];
        stream_pass(a, b, c, n, k, nthreads);
        for (int r = 0; r < reps; r++) {
            double t0 = xb_now();
            stream_pass(a, b, c, n, k, nthreads);
            smp[r] = xb_now() - t0;
        }
        xb_result r;
        xb_result_init(&r, "host", "memory", "GB/s");
        snprintf(r.name, sizeof r.name, "STREAM-like %s, %d threads", names[k], nthreads);
        snprintf(r.dtype, sizeof r.dtype, "f64");
        snprintf(r.shape, sizeof r.shape, "%zu doubles x %s", n, k == 2 ? "1 array" : k == 0 ? "2 arrays" : "3 arrays");
        r.reps = reps;
        double bytes = words[k] * 8.0 * (double)n;
        xb_rate(smp, reps, bytes, 1e-9, &r.median, &r.min, &r.max);
        snprintf(r.note, sizeof r.note, "bytes counted as STREAM does (%g words per element, no write-allocate)",
                 words[k]);
        xb_add(e, &r);
        if (k == 1) triad = r.median;
    }
    free(a);
    free(b);
    free(c);
    return triad;
}

/* ------------------------------------------------------------------------- */
/* random-weight Llama checkpoint                                            */
/* ------------------------------------------------------------------------- */
typedef struct wt {
    char name[96];
    int64_t d0, d1; /* d1 == 0: 1-D */
    int ones;       /* norm weights: 1.0 */
} wt;

static int llama_tensors(int hidden, int inter, int layers, int heads, int kv_heads, int vocab, wt **out)
{
    int n = 3 + 9 * layers, k = 0;
    int64_t hd = hidden / heads;
    wt *w = calloc((size_t)n, sizeof *w);
    if (!w) return -1;
#define XB_W(nm, a, b, o)                                \
    do {                                                 \
        snprintf(w[k].name, sizeof w[k].name, "%s", nm); \
        w[k].d0 = a;                                     \
        w[k].d1 = b;                                     \
        w[k].ones = o;                                   \
        k++;                                             \
    } while (0)
    XB_W("model.embed_tokens.weight", vocab, hidden, 0);
    for (int l = 0; l < layers; l++) {
        char nm[96];
#define XB_L(suffix, a, b, o)                                     \
    do {                                                          \
        snprintf(nm, sizeof nm, "model.layers.%d.%s", l, suffix); \
        XB_W(nm, a, b, o);                                        \
    } while (0)
        XB_L("input_layernorm.weight", hidden, 0, 1);
        XB_L("self_attn.q_proj.weight", heads * hd, hidden, 0);
        XB_L("self_attn.k_proj.weight", kv_heads * hd, hidden, 0);
        XB_L("self_attn.v_proj.weight", kv_heads * hd, hidden, 0);
        XB_L("self_attn.o_proj.weight", hidden, heads * hd, 0);
        XB_L("post_attention_layernorm.weight", hidden, 0, 1);
        XB_L("mlp.gate_proj.weight", inter, hidden, 0);
        XB_L("mlp.up_proj.weight", inter, hidden, 0);
        XB_L("mlp.down_proj.weight", hidden, inter, 0);
#undef XB_L
    }
    XB_W("model.norm.weight", hidden, 0, 1);
    XB_W("lm_head.weight", vocab, hidden, 0);
#undef XB_W
    *out = w;
    return k;
}

int xb_write_llama(const char *dir, int hidden, int inter, int layers, int heads, int kv_heads, int vocab, char *err,
                   size_t errsize)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        snprintf(err, errsize, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    fprintf(f,
            "{\n  \"architectures\": [\"LlamaForCausalLM\"],\n  \"model_type\": \"llama\",\n"
            "  \"hidden_size\": %d,\n  \"intermediate_size\": %d,\n  \"num_hidden_layers\": %d,\n"
            "  \"num_attention_heads\": %d,\n  \"num_key_value_heads\": %d,\n  \"vocab_size\": %d,\n"
            "  \"max_position_embeddings\": 2048,\n  \"rms_norm_eps\": 1e-05,\n  \"rope_theta\": 10000.0,\n"
            "  \"hidden_act\": \"silu\",\n  \"tie_word_embeddings\": false,\n  \"torch_dtype\": \"float32\"\n}\n",
            hidden, inter, layers, heads, kv_heads, vocab);
    fclose(f);

    wt *w = NULL;
    int n = llama_tensors(hidden, inter, layers, heads, kv_heads, vocab, &w);
    if (n < 0) {
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    /* header: JSON object of name -> dtype, shape, data_offsets; padded with spaces to 8 bytes */
    size_t cap = (size_t)n * 192 + 64, len = 0;
    char *hdr = malloc(cap);
    if (!hdr) {
        free(w);
        snprintf(err, errsize, "out of memory");
        return -1;
    }
    uint64_t off = 0;
    len += (size_t)snprintf(hdr + len, cap - len, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (int i = 0; i < n; i++) {
        uint64_t bytes = (uint64_t)w[i].d0 * (uint64_t)(w[i].d1 ? w[i].d1 : 1) * 4u;
        if (w[i].d1)
            len += (size_t)snprintf(hdr + len, cap - len,
                                    ",\"%s\":{\"dtype\":\"F32\",\"shape\":[%lld,%lld],\"data_offsets\":[%llu,%llu]}",
                                    w[i].name, (long long)w[i].d0, (long long)w[i].d1, (unsigned long long)off,
                                    (unsigned long long)(off + bytes));
        else
            len += (size_t)snprintf(
                hdr + len, cap - len, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[%lld],\"data_offsets\":[%llu,%llu]}",
                w[i].name, (long long)w[i].d0, (unsigned long long)off, (unsigned long long)(off + bytes));
        off += bytes;
    }
    len += (size_t)snprintf(hdr + len, cap - len, "}");
    while (len % 8) hdr[len++] = ' ';
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    f = fopen(path, "wb");
    int rc = -1;
    float *buf = malloc((size_t)1 << 22);
    if (!f || !buf) {
        snprintf(err, errsize, "cannot write %s: %s", path, f ? "out of memory" : strerror(errno));
        goto done;
    }
    uint64_t hl = len;
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(hl >> (8 * i));
    if (fwrite(le, 1, 8, f) != 8 || fwrite(hdr, 1, len, f) != len) goto io;
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < n; i++) {
        uint64_t cnt = (uint64_t)w[i].d0 * (uint64_t)(w[i].d1 ? w[i].d1 : 1);
        /* small weights (std ~ 1/sqrt(fan-in)) keep activations finite through the layers */
        float scale = w[i].d1 ? 1.0f / (float)w[i].d1 : 0.0f;
        while (cnt > 0) {
            size_t m = cnt < ((size_t)1 << 20) ? (size_t)cnt : ((size_t)1 << 20);
            for (size_t j = 0; j < m; j++) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                float u = (float)((rng >> 40) & 0xffffff) / 16777216.0f * 2.0f - 1.0f;
                buf[j] = w[i].ones ? 1.0f : u * 1.7f * scale * 16.0f;
            }
            if (fwrite(buf, sizeof(float), m, f) != m) goto io;
            cnt -= m;
        }
    }
    if (fclose(f) != 0) {
        f = NULL;
        goto io;
    }
    f = NULL;
    rc = 0;
    goto done;
io:
    snprintf(err, errsize, "cannot write %s: %s", path, strerror(errno));
done:
    if (f) fclose(f);
    free(buf);
    free(hdr);
    free(w);
    return rc;
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

/* ------------------------------------------------------------------------- */
/* the model port                                                             */
/* ------------------------------------------------------------------------- */
#ifndef XB_HAVE_LLAMA
int xb_model_wanted(const xb_env *e) { return xb_want(e, "llama decode"); }

void xb_suite_model(xb_env *e, xb_dev *d, double stream_gbs)
{
    (void)stream_gbs;
    xb_result r;
    xb_result_init(&r, d->info.spec, "model", "tokens/s");
    snprintf(r.name, sizeof r.name, "llama decode");
    r.failed = 1;
    snprintf(r.note, sizeof r.note, "xhal_bench was built without the model port (xhal_llama)");
    xb_add(e, &r);
}
#else
static const char *const xb_variant_labels[4] = {"", ", f16", ", 1 thread", ", f16, 1 thread"};

/* 1 if the filter lets one of the model figures of variant `label` run */
static int variant_wanted(const xb_env *e, const char *label, int n_prompt, int n_gen)
{
    char nm[96];
    snprintf(nm, sizeof nm, "llama prefill %d-token prompt%s", n_prompt, label);
    if (xb_want(e, nm)) return 1;
    snprintf(nm, sizeof nm, "llama decode (%d steps)%s", n_gen - 1, label);
    if (xb_want(e, nm)) return 1;
    snprintf(nm, sizeof nm, "llama decode weight bytes/s%s", label);
    return xb_want(e, nm);
}

int xb_model_wanted(const xb_env *e)
{
    for (int i = 0; i < 4; i++)
        if (variant_wanted(e, xb_variant_labels[i], e->opts->quick ? 16 : 128, e->opts->quick ? 5 : 33)) return 1;
    return 0;
}

/* One way of running the model: weights (and activations) in dt, the CPU pool at `threads`
 * threads (0: the device as the bench opened it). */
typedef struct xb_variant {
    xhal_dtype dt;
    int threads;
    xhal_context *ctx; /* own context for a thread count other than the device's, else NULL */
    xllama_model *m;
    double ps[16], ds[16];
    int ok;
    char err[512];
    char label[48]; /* "", ", f16", ", 1 thread", ", f16, 1 thread" */
} xb_variant;

/* A second context whose CPU backend runs `threads` pool threads (XHAL_CPU_THREADS is read
 * when the backend starts), with the device named like d. */
static int variant_device(xb_variant *v, const xb_dev *d, xhal_device **dev)
{
    char *old = getenv("XHAL_CPU_THREADS");
    char saved[32] = "";
    int had = old != NULL;
    if (had) snprintf(saved, sizeof saved, "%s", old);
    char num[16];
    snprintf(num, sizeof num, "%d", v->threads);
    setenv("XHAL_CPU_THREADS", num, 1);
    xhal_status st = xhal_context_create(NULL, &v->ctx);
    if (had)
        setenv("XHAL_CPU_THREADS", saved, 1);
    else
        unsetenv("XHAL_CPU_THREADS");
    if (st == XHAL_OK) st = xhal_device_find(v->ctx, d->info.spec, dev);
    if (st != XHAL_OK) {
        snprintf(v->err, sizeof v->err, "context with XHAL_CPU_THREADS=%d: %s", v->threads, xhal_last_error());
        return -1;
    }
    return 0;
}

void xb_suite_model(xb_env *e, xb_dev *d, double stream_gbs)
{
    int quick = e->opts->quick;
    if (!xb_model_wanted(e)) return;
    /* full: f32 weights of ~390 MB, far beyond the caches, so decode streams them from memory */
    int hidden = quick ? 256 : 1024, inter = quick ? 688 : 2816, layers = quick ? 2 : 8;
    int heads = quick ? 4 : 16, kv = quick ? 2 : 4, vocab = quick ? 1024 : 8192;
    int n_prompt = quick ? 16 : 128, n_gen = quick ? 5 : 33;
    int reps = quick ? 2 : 3;
    char dir[] = "/tmp/xhal-bench-llama-XXXXXX";
    char err[512] = "";
    char shape[64];
    snprintf(shape, sizeof shape, "h%d i%d L%d H%d/%d V%d", hidden, inter, layers, heads, kv, vocab);
    int64_t hd = hidden / heads;
    /* elements of weights one decode step must read: every layer matrix and norm, the final
     * norm, lm_head, and one embedding row */
    double welems = (double)layers * ((double)hidden * (double)(heads * hd + 2 * kv * hd) +
                                      (double)(heads * hd) * hidden + 3.0 * hidden * inter + 2.0 * hidden) +
                    hidden + (double)vocab * hidden + hidden;
    /* the variants: f32 and f16 weights at the device's threads; on a CPU with more than one
     * thread, both again on one thread (its own context). f16 runs in f16 throughout (the
     * port's compute dtype), as a user loading f16 weights would run it. */
    xb_variant var[4];
    int nv = 0;
    int threads_all = d->info.compute_units > 0 ? d->info.compute_units : 1;
    for (int t = 0; t < 2; t++) {
        if (t == 1 && (!d->is_cpu || threads_all <= 1)) break;
        for (int f = 0; f < 2; f++) {
            xhal_dtype dt = f ? XHAL_DTYPE_F16 : XHAL_DTYPE_F32;
            if (!(d->info.dtypes & XHAL_DTYPE_BIT(dt))) continue;
            if (f && !d->is_cpu) continue; /* a slow device: f32 only, to keep the run in minutes */
            xb_variant *v = &var[nv++];
            memset(v, 0, sizeof *v);
            v->dt = dt;
            v->threads = t ? 1 : 0;
            snprintf(v->label, sizeof v->label, "%s", xb_variant_labels[2 * t + f]);
            if (!variant_wanted(e, v->label, n_prompt, n_gen)) nv--;
        }
    }
    int32_t *prompt = NULL, *out = NULL;
    if (!mkdtemp(dir)) {
        snprintf(err, sizeof err, "mkdtemp: %s", strerror(errno));
        dir[0] = 0;
        goto fail;
    }
    if (xb_write_llama(dir, hidden, inter, layers, heads, kv, vocab, err, sizeof err) != 0) goto fail;
    prompt = malloc((size_t)n_prompt * sizeof *prompt);
    out = malloc((size_t)n_gen * sizeof *out);
    if (!prompt || !out) {
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    for (int i = 0; i < n_prompt; i++) prompt[i] = (int32_t)((i * 7919 + 13) % vocab);
    for (int i = 0; i < nv; i++) {
        xb_variant *v = &var[i];
        xhal_device *dev = d->dev;
        if (v->threads > 0 && variant_device(v, d, &dev) != 0) continue;
        xllama_options o;
        xllama_options_init(&o);
        o.compute_dtype = v->dt;
        o.max_seq = n_prompt + n_gen + 8;
        o.max_batch = n_prompt;
        if (xllama_load(dev, dir, &o, &v->m) != XHAL_OK) {
            snprintf(v->err, sizeof v->err, "xllama_load: %s", xllama_last_error());
            continue;
        }
        /* warm-up: a short prompt and two steps (builds kernels, touches every weight); the
         * first variant's step time bounds the run: a device where 32 steps would take minutes
         * gets fewer steps and one repetition (the note says so) */
        xllama_timing t;
        int64_t nw = n_prompt < 8 ? n_prompt : 8;
        xb_blas_threads(v->threads > 0 ? v->threads : threads_all);
        if (xllama_generate(v->m, prompt, nw, 3, out, NULL, NULL, &t) != XHAL_OK) {
            snprintf(v->err, sizeof v->err, "xllama_generate: %s", xllama_last_error());
            continue;
        }
        v->ok = 1;
        double step = t.decode_s / (double)(t.n_decode > 0 ? t.n_decode : 1);
        double prefill_est = t.prefill_s * (double)n_prompt / (double)nw;
        if (i == 0 && (step * (n_gen - 1) + prefill_est) * reps > 90.0) {
            reps = 1;
            int g = (int)(30.0 / (step > 0 ? step : 1)) + 1;
            if (g < n_gen) n_gen = g < 3 ? 3 : g;
        }
    }
    /* rounds: each variant once per round, so that all of them see the same load */
    for (int r = 0; r < reps; r++) {
        for (int i = 0; i < nv; i++) {
            xb_variant *v = &var[i];
            if (!v->ok) continue;
            xllama_timing t;
            xb_blas_threads(v->threads > 0 ? v->threads : threads_all);
            if (xllama_generate(v->m, prompt, n_prompt, n_gen, out, NULL, NULL, &t) != XHAL_OK) {
                snprintf(v->err, sizeof v->err, "xllama_generate: %s", xllama_last_error());
                v->ok = 0;
                continue;
            }
            v->ps[r] = t.prefill_s;
            v->ds[r] = t.decode_s / (double)(t.n_decode > 0 ? t.n_decode : 1);
        }
    }
    xb_blas_threads(threads_all);
    for (int i = 0; i < nv; i++) {
        xb_variant *v = &var[i];
        xb_result rp, rd, rb;
        const char *dtn = xhal_dtype_name(v->dt);
        xb_result_init(&rp, d->info.spec, "model", "tokens/s");
        xb_result_init(&rd, d->info.spec, "model", "tokens/s");
        xb_result_init(&rb, d->info.spec, "model", "GB/s");
        snprintf(rp.dtype, sizeof rp.dtype, "%s", dtn);
        snprintf(rd.dtype, sizeof rd.dtype, "%s", dtn);
        snprintf(rb.dtype, sizeof rb.dtype, "%s", dtn);
        snprintf(rp.shape, sizeof rp.shape, "%s", shape);
        snprintf(rd.shape, sizeof rd.shape, "%s", shape);
        snprintf(rb.shape, sizeof rb.shape, "%s", shape);
        snprintf(rp.name, sizeof rp.name, "llama prefill %d-token prompt%s", n_prompt, v->label);
        snprintf(rd.name, sizeof rd.name, "llama decode (%d steps)%s", n_gen - 1, v->label);
        snprintf(rb.name, sizeof rb.name, "llama decode weight bytes/s%s", v->label);
        if (!v->ok) {
            rp.failed = 1;
            snprintf(rp.note, sizeof rp.note, "%s", v->err);
            xb_add(e, &rp);
            continue;
        }
        double wbytes = welems * (double)xhal_dtype_size(v->dt);
        char thr[48];
        if (v->threads > 0)
            snprintf(thr, sizeof thr, "%d thread (XHAL_CPU_THREADS, OpenBLAS)", v->threads);
        else
            snprintf(thr, sizeof thr, "%d threads", threads_all);
        rp.reps = rd.reps = rb.reps = reps;
        xb_rate(v->ps, reps, (double)n_prompt, 1.0, &rp.median, &rp.min, &rp.max);
        xb_rate(v->ds, reps, 1.0, 1.0, &rd.median, &rd.min, &rd.max);
        xb_rate(v->ds, reps, wbytes, 1e-9, &rb.median, &rb.min, &rb.max);
        snprintf(rp.note, sizeof rp.note,
                 "random weights (%.0f MB as %s), generated in a temp folder; %s; wall "
                 "time of the prompt's forward",
                 wbytes / 1e6, dtn, thr);
        snprintf(rd.note, sizeof rd.note,
                 "greedy decode, one token per step, KV cache after a %d-token prompt; "
                 "%s%s",
                 n_prompt, thr,
                 reps == 1 && !quick ? "; slow device: fewer steps, one repetition after the warm-up" : "");
        if (stream_gbs > 0) {
            xb_set_peer(&rb, "STREAM triad", stream_gbs, stream_gbs, stream_gbs);
            snprintf(rb.note, sizeof rb.note,
                     "%.0f weight bytes per decode step; %.0f%% of the measured "
                     "triad bandwidth (all threads); %s",
                     wbytes, 100.0 * rb.median / stream_gbs, thr);
        } else {
            xb_peer_absent(&rb, "STREAM triad", "memory suite not run");
            snprintf(rb.note, sizeof rb.note, "%.0f weight bytes per decode step; %s", wbytes, thr);
        }
        xb_add(e, &rp);
        xb_add(e, &rd);
        xb_add(e, &rb);
    }
    goto cleanup;
fail : {
    xb_result rp;
    xb_result_init(&rp, d->info.spec, "model", "tokens/s");
    snprintf(rp.name, sizeof rp.name, "llama prefill %d-token prompt", n_prompt);
    rp.failed = 1;
    snprintf(rp.note, sizeof rp.note, "%s", err);
    xb_add(e, &rp);
}
cleanup:
    for (int i = 0; i < nv; i++) {
        xllama_destroy(var[i].m);
        if (var[i].ctx) xhal_context_destroy(var[i].ctx);
    }
    free(prompt);
    free(out);
    if (dir[0] && strstr(dir, "XXXXXX") == NULL) nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}
#endif
