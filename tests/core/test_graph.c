/* test_graph.c - graphs (xhal_stream_begin_capture .. xhal_graph_launch): a decode-like step
 * (rope at a position, a KV-cache row write, attention over the cache prefix) captured once
 * and replayed with a parameter gives bit-identical results to running it eagerly at every
 * position, before and after the capture position; what cannot be recorded is refused on a
 * capturing stream; parameters that break a view, a position or a key length are refused at
 * launch with nothing queued; the graph keeps its buffers alive after their tensors and
 * buffers are destroyed; bad handles, streams of another device and nesting are named. Runs
 * on cpu:0 and, when present, opencl:0. */
#include "xtest.h"

#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { H = 2, D = 8, CAP = 16 };

typedef struct step_io {
    xhal_tensor *q;      /* [1, H, D] the new token's query ([S, H, D]) */
    xhal_tensor *knew;   /* [H, 1, D] its key, heads first */
    xhal_tensor *kcache; /* [H, CAP, D] */
    xhal_tensor *out;    /* [1, H, 1, D] */
    xhal_tensor *qr;     /* [1, H, D] rotated query */
} step_io;

/* The step at position p: rope(q) -> qr; kcache[:, p] = knew; out = attention(qr, k[:, :p+1],
 * k[:, :p+1]). When capturing, each field that depends on p is bound to parameter 0. */
static xhal_status step(xhal_stream *s, step_io *io, int64_t p, int bind)
{
    xhal_status st;
    xhal_tensor *slot = NULL, *prefix = NULL, *k4 = NULL, *q4 = NULL, *qh = NULL;
    int64_t s4[4] = {1, H, p + 1, D}, sq4[4] = {1, H, 1, D};
    static const int perm[3] = {1, 0, 2};
    if ((st = xhal_rope(s, io->q, 0, 10000.0, p, 0, XHAL_ROPE_HALF, io->qr))) goto done;
    if (bind && (st = xhal_stream_capture_bind(s, 0, XHAL_GRAPH_ROPE_POSITION, 0, 0, 1))) goto done;
    if ((st = xhal_tensor_slice(io->kcache, 1, p, p + 1, 1, &slot))) goto done;
    if ((st = xhal_copy(s, io->knew, slot))) goto done;
    if (bind && (st = xhal_stream_capture_bind(s, 0, XHAL_GRAPH_VIEW_START, XHAL_GRAPH_ARG_OUT, 1, 1))) goto done;
    if ((st = xhal_tensor_slice(io->kcache, 1, 0, p + 1, 1, &prefix))) goto done;
    if ((st = xhal_tensor_expand(prefix, 4, s4, &k4))) goto done;
    if ((st = xhal_tensor_permute(io->qr, perm, &qh))) goto done; /* [H, 1, D] view */
    if ((st = xhal_tensor_expand(qh, 4, sq4, &q4))) goto done;
    if ((st = xhal_attention(s, q4, k4, k4, NULL, 0.0, 1, io->out))) goto done;
    if (bind && (st = xhal_stream_capture_bind(s, 0, XHAL_GRAPH_ATTENTION_KEYS, 0, 0, 1))) goto done;
done:
    xhal_tensor_destroy(slot);
    xhal_tensor_destroy(prefix);
    xhal_tensor_destroy(k4);
    xhal_tensor_destroy(q4);
    xhal_tensor_destroy(qh);
    return st;
}

static void make_io(xhal_device *dev, xhal_stream *s, step_io *io)
{
    int64_t sq[3] = {1, H, D}, sk[3] = {H, 1, D}, sc[3] = {H, CAP, D}, so[4] = {1, H, 1, D};
    CHECK_OK(xhal_tensor_create(dev, XHAL_DTYPE_F32, 3, sq, &io->q));
    CHECK_OK(xhal_tensor_create(dev, XHAL_DTYPE_F32, 3, sk, &io->knew));
    CHECK_OK(xhal_tensor_create(dev, XHAL_DTYPE_F32, 3, sc, &io->kcache));
    CHECK_OK(xhal_tensor_create(dev, XHAL_DTYPE_F32, 4, so, &io->out));
    CHECK_OK(xhal_tensor_create(dev, XHAL_DTYPE_F32, 3, sq, &io->qr));
    CHECK_OK(xhal_fill(s, io->kcache, 0.0));
    CHECK_OK(xhal_fill(s, io->out, 0.0));
}

static void destroy_io(step_io *io)
{
    xhal_tensor *ts[] = {io->q, io->knew, io->kcache, io->out, io->qr};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) xhal_tensor_destroy(ts[i]);
}

/* token t's q and k: distinct values per token */
static void inputs(int64_t t, float *q, float *k)
{
    for (int i = 0; i < H * D; i++) {
        q[i] = (float)((t * 31 + i * 7) % 19) / 19.0f - 0.5f;
        k[i] = (float)((t * 17 + i * 5) % 23) / 23.0f - 0.5f;
    }
}

static void run_device(xhal_context *ctx, const char *spec)
{
    xhal_device *dev = NULL;
    if (xhal_device_find(ctx, spec, &dev) != XHAL_OK) {
        printf("test_graph: %s not present, skipped\n", spec);
        return;
    }
    xhal_stream *s = NULL, *s2 = NULL;
    CHECK_OK(xhal_stream_create(dev, &s));
    CHECK_OK(xhal_stream_create(dev, &s2));
    step_io e, g;
    make_io(dev, s, &e);
    make_io(dev, s, &g);

    /* capture at position 3 (what the recorded ops were built for) */
    xhal_graph *graph = NULL;
    int64_t p0 = 3;
    CHECK_OK(xhal_stream_begin_capture(s, 1, &p0));
    CHECK_OK(step(s, &g, p0, 1));
    CHECK_OK(xhal_stream_end_capture(s, &graph));
    int nops = -1, native = -1;
    CHECK_OK(xhal_graph_op_count(graph, &nops));
    CHECK(nops == 3);
    CHECK_OK(xhal_graph_is_native(graph, &native));
    CHECK(native == 0 || native == 1);

    /* positions 0..CAP-1, alternating the launch stream: the graph equals eager, bit for bit */
    float q[H * D], k[H * D], oe[H * D], og[H * D], ce[H * CAP * D], cg[H * CAP * D];
    for (int64_t p = 0; p < CAP; p++) {
        inputs(p, q, k);
        CHECK_OK(xhal_tensor_write(s, e.q, q, sizeof q));
        CHECK_OK(xhal_tensor_write(s, e.knew, k, sizeof k));
        CHECK_OK(step(s, &e, p, 0));
        CHECK_OK(xhal_tensor_write(s, g.q, q, sizeof q));
        CHECK_OK(xhal_tensor_write(s, g.knew, k, sizeof k));
        xhal_stream *ls = (p % 2) ? s2 : s;
        if (p % 2) CHECK_OK(xhal_stream_synchronize(s)); /* writes on s before the launch on s2 */
        CHECK_OK(xhal_graph_set_param(graph, 0, p));
        CHECK_OK(xhal_graph_launch(graph, ls));
        CHECK_OK(xhal_stream_synchronize(ls));
        CHECK_OK(xhal_tensor_read(s, e.out, oe, sizeof oe));
        CHECK_OK(xhal_tensor_read(s, g.out, og, sizeof og));
        CHECK(memcmp(oe, og, sizeof oe) == 0);
    }
    CHECK_OK(xhal_tensor_read(s, e.kcache, ce, sizeof ce));
    CHECK_OK(xhal_tensor_read(s, g.kcache, cg, sizeof cg));
    CHECK(memcmp(ce, cg, sizeof ce) == 0);
    /* the same position twice: nothing moves, same result */
    CHECK_OK(xhal_graph_launch(graph, s));
    CHECK_OK(xhal_tensor_read(s, g.out, og, sizeof og));
    CHECK(memcmp(oe, og, sizeof oe) == 0);

    /* fixed shape: attention over the whole cache, q_pos0 bound (xhal_attention_ex), against
     * the eager attention over the prefix; a backend of an older catalogue gets UNSUPPORTED at
     * launch once q_pos0 is no longer Sk - Sq */
    {
        int64_t s4[4] = {1, H, CAP, D}, sq4[4] = {1, H, 1, D}, sp4[4] = {1, H, 0, D};
        static const int perm[3] = {1, 0, 2};
        xhal_tensor *kf = NULL, *qh = NULL, *q4 = NULL, *o2 = NULL, *pre = NULL, *kp = NULL;
        CHECK_OK(xhal_tensor_expand(e.kcache, 4, s4, &kf));
        CHECK_OK(xhal_tensor_permute(e.qr, perm, &qh));
        CHECK_OK(xhal_tensor_expand(qh, 4, sq4, &q4));
        CHECK_OK(xhal_tensor_create(dev, XHAL_DTYPE_F32, 4, sq4, &o2));
        xhal_attention_params ap;
        xhal_attention_params_init(&ap);
        ap.causal = 1;
        ap.q_pos0 = CAP - 1;
        int64_t pc = CAP - 1;
        xhal_graph *ga = NULL;
        CHECK_OK(xhal_stream_begin_capture(s, 1, &pc));
        CHECK_OK(xhal_attention_ex(s, q4, kf, kf, NULL, &ap, o2));
        CHECK_OK(xhal_stream_capture_bind(s, 0, XHAL_GRAPH_ATTENTION_Q_POS0, 0, 0, 1));
        CHECK_STATUS(xhal_stream_capture_bind(s, 0, XHAL_GRAPH_ROPE_POSITION, 0, 0, 1), XHAL_ERROR_INVALID_ARGUMENT,
                     "needs a rope op");
        CHECK_OK(xhal_stream_end_capture(s, &ga));
        xhal_device_info info;
        CHECK_OK(xhal_device_get_info(dev, &info));
        for (int64_t p = 0; p < CAP; p += 5) {
            sp4[2] = p + 1;
            CHECK_OK(xhal_tensor_slice(e.kcache, 1, 0, p + 1, 1, &pre));
            CHECK_OK(xhal_tensor_expand(pre, 4, sp4, &kp));
            CHECK_OK(xhal_attention(s, q4, kp, kp, NULL, 0.0, 1, e.out));
            CHECK_OK(xhal_graph_set_param(ga, 0, p));
            xhal_status st = xhal_graph_launch(ga, s);
            if (st == XHAL_ERROR_UNSUPPORTED) { /* opencl declares catalogue 85 for now */
                CHECK(strstr(xhal_last_error(), "needs op catalogue version") != NULL);
                CHECK(p != CAP - 1);
            } else {
                CHECK_OK(st);
                CHECK_OK(xhal_tensor_read(s, e.out, oe, sizeof oe));
                CHECK_OK(xhal_tensor_read(s, o2, og, sizeof og));
                double worst = 0;
                for (int i = 0; i < H * D; i++) worst = fmax(worst, fabs((double)oe[i] - og[i]));
                CHECK(worst < 1e-6);
            }
            xhal_tensor_destroy(kp);
            xhal_tensor_destroy(pre);
        }
        CHECK_OK(xhal_graph_set_param(ga, 0, CAP)); /* q_pos0 16 > Sk - Sq = 15 */
        CHECK_STATUS(xhal_graph_launch(ga, s), XHAL_ERROR_OUT_OF_RANGE, "q_pos0 16 is above Sk - Sq = 15");
        CHECK_OK(xhal_graph_set_param(ga, 0, -1));
        CHECK_STATUS(xhal_graph_launch(ga, s), XHAL_ERROR_OUT_OF_RANGE, "makes q_pos0 negative");
        CHECK_OK(xhal_graph_destroy(ga));
        xhal_tensor *ts[] = {kf, qh, q4, o2};
        for (int i = 0; i < 4; i++) xhal_tensor_destroy(ts[i]);
    }

    /* parameters that break the step are refused at launch, and nothing is queued */
    CHECK_OK(xhal_fill(s, g.out, 7.0));
    CHECK_OK(xhal_graph_set_param(graph, 0, CAP));
    CHECK_STATUS(xhal_graph_launch(graph, s), XHAL_ERROR_OUT_OF_RANGE, "reaches byte");
    CHECK_OK(xhal_graph_set_param(graph, 0, -1));
    CHECK_STATUS(xhal_graph_launch(graph, s), XHAL_ERROR_OUT_OF_RANGE, "negative");
    CHECK_OK(xhal_graph_set_param(graph, 0, -4));
    CHECK_STATUS(xhal_graph_launch(graph, s), XHAL_ERROR_OUT_OF_RANGE, "op 0 (rope)");
    CHECK_OK(xhal_tensor_read(s, g.out, og, sizeof og));
    CHECK(og[0] == 7.0f && og[H * D - 1] == 7.0f);
    CHECK_STATUS(xhal_graph_set_param(graph, 1, 0), XHAL_ERROR_INVALID_ARGUMENT, "param 1 is not in [0, 1)");
    /* a good value again works after the refusals */
    CHECK_OK(xhal_graph_set_param(graph, 0, CAP - 1));
    CHECK_OK(xhal_graph_launch(graph, s));
    CHECK_OK(xhal_tensor_read(s, g.out, og, sizeof og));
    CHECK(memcmp(oe, og, sizeof oe) == 0);

    /* the graph keeps its buffers: destroy every tensor of g, then launch again (ASan checks) */
    destroy_io(&g);
    CHECK_OK(xhal_graph_launch(graph, s));
    CHECK_OK(xhal_stream_synchronize(s));

    /* launching on a capturing stream, and a nested capture */
    CHECK_OK(xhal_stream_begin_capture(s2, 0, NULL));
    CHECK_STATUS(xhal_graph_launch(graph, s2), XHAL_ERROR_INVALID_ARGUMENT, "not nested");
    CHECK_STATUS(xhal_stream_begin_capture(s2, 0, NULL), XHAL_ERROR_INVALID_ARGUMENT, "already capturing");
    /* what cannot be recorded */
    CHECK_STATUS(xhal_stream_synchronize(s2), XHAL_ERROR_INVALID_ARGUMENT, "capturing a graph");
    CHECK_STATUS(xhal_tensor_write(s2, e.q, q, sizeof q), XHAL_ERROR_INVALID_ARGUMENT, "capturing a graph");
    CHECK_STATUS(xhal_tensor_read(s2, e.q, q, sizeof q), XHAL_ERROR_INVALID_ARGUMENT, "capturing a graph");
    /* (xhal_gather is recorded like any op: test_gather_status captures a step that starts with it) */
    /* bindings that do not fit */
    CHECK_STATUS(xhal_stream_capture_bind(s2, 0, XHAL_GRAPH_ROPE_POSITION, 0, 0, 1), XHAL_ERROR_INVALID_ARGUMENT,
                 "no op has been captured");
    CHECK_OK(xhal_copy(s2, e.q, e.qr));
    CHECK_STATUS(xhal_stream_capture_bind(s2, 0, XHAL_GRAPH_ROPE_POSITION, 0, 0, 1), XHAL_ERROR_INVALID_ARGUMENT,
                 "param 0 is not in [0, 0)");
    CHECK_STATUS(xhal_stream_capture_bind(s, 0, XHAL_GRAPH_ROPE_POSITION, 0, 0, 1), XHAL_ERROR_INVALID_ARGUMENT,
                 "not capturing");
    /* an op that fails validation while capturing is not recorded */
    CHECK_STATUS(xhal_copy(s2, e.q, e.kcache), XHAL_ERROR_SHAPE_MISMATCH, NULL);
    xhal_graph *g2 = NULL;
    CHECK_OK(xhal_stream_end_capture(s2, &g2));
    CHECK_OK(xhal_graph_op_count(g2, &nops));
    CHECK(nops == 1);
    CHECK_STATUS(xhal_stream_end_capture(s2, &g2), XHAL_ERROR_INVALID_ARGUMENT, "not capturing");
    CHECK_OK(xhal_graph_launch(g2, s2)); /* no parameters: runs as recorded */
    CHECK_OK(xhal_stream_synchronize(s2));
    CHECK_OK(xhal_graph_destroy(g2));
    CHECK_STATUS(xhal_graph_launch(g2, s2), XHAL_ERROR_INVALID_HANDLE, "not a live graph");
    CHECK_STATUS(xhal_graph_destroy(g2), XHAL_ERROR_INVALID_HANDLE, "not a live graph");
    CHECK_OK(xhal_graph_destroy(NULL));
    CHECK_STATUS(xhal_graph_launch(NULL, s), XHAL_ERROR_INVALID_HANDLE, "graph is NULL");
    CHECK_STATUS(xhal_graph_launch(graph, NULL), XHAL_ERROR_INVALID_HANDLE, "stream is NULL");

    /* capture arguments */
    CHECK_STATUS(xhal_stream_begin_capture(s2, XHAL_GRAPH_MAX_PARAMS + 1, &p0), XHAL_ERROR_INVALID_ARGUMENT,
                 "n_params 9");
    CHECK_STATUS(xhal_stream_begin_capture(s2, 1, NULL), XHAL_ERROR_INVALID_ARGUMENT, "param_values is NULL");
    CHECK_STATUS(xhal_stream_end_capture(s2, NULL), XHAL_ERROR_INVALID_ARGUMENT, "not capturing");

    /* bindings refused for ops that fold the caller's views, and fields an op lacks */
    {
        int64_t sm[2] = {4, 4};
        xhal_tensor *a = NULL, *b = NULL, *c = NULL;
        CHECK_OK(xhal_tensor_create(dev, XHAL_DTYPE_F32, 2, sm, &a));
        CHECK_OK(xhal_tensor_create(dev, XHAL_DTYPE_F32, 2, sm, &b));
        CHECK_OK(xhal_tensor_create(dev, XHAL_DTYPE_F32, 2, sm, &c));
        CHECK_OK(xhal_stream_begin_capture(s2, 1, &p0));
        CHECK_OK(xhal_matmul(s2, a, b, 0, 1, 1.0, 0.0, c));
        CHECK_STATUS(xhal_stream_capture_bind(s2, 0, XHAL_GRAPH_VIEW_START, 0, 0, 1), XHAL_ERROR_INVALID_ARGUMENT,
                     "not available for argument 0 of matmul");
        CHECK_STATUS(xhal_stream_capture_bind(s2, 0, XHAL_GRAPH_ATTENTION_KEYS, 0, 0, 1), XHAL_ERROR_INVALID_ARGUMENT,
                     "needs an attention op, but the op captured last is matmul");
        CHECK_OK(xhal_unary(s2, XHAL_OP_NEG, a, c));
        CHECK_STATUS(xhal_stream_capture_bind(s2, 0, XHAL_GRAPH_VIEW_START, 1, 0, 1), XHAL_ERROR_INVALID_ARGUMENT,
                     "arg 1 is not a tensor argument of neg");
        CHECK_STATUS(xhal_stream_capture_bind(s2, 0, XHAL_GRAPH_VIEW_START, 0, 2, 1), XHAL_ERROR_INVALID_ARGUMENT,
                     "axis 2 is not in [0, 2)");
        CHECK_STATUS(xhal_stream_capture_bind(s2, 0, XHAL_GRAPH_VIEW_START, 0, 0, 0), XHAL_ERROR_INVALID_ARGUMENT,
                     "scale is 0");
        CHECK_STATUS(xhal_stream_capture_bind(s2, 0, (xhal_graph_field)42, 0, 0, 1), XHAL_ERROR_INVALID_ARGUMENT,
                     "field 42");
        /* out moved onto its input: refused at launch */
        xhal_tensor *lo = NULL, *hi = NULL;
        CHECK_OK(xhal_tensor_slice(a, 0, 0, 2, 1, &lo));
        CHECK_OK(xhal_tensor_slice(a, 0, 2, 4, 1, &hi));
        CHECK_OK(xhal_copy(s2, lo, hi));
        CHECK_OK(xhal_stream_capture_bind(s2, 0, XHAL_GRAPH_VIEW_START, XHAL_GRAPH_ARG_OUT, 0, 1));
        xhal_tensor_destroy(lo);
        xhal_tensor_destroy(hi);
        CHECK_OK(xhal_stream_end_capture(s2, &g2));
        CHECK_OK(xhal_graph_set_param(g2, 0, p0 - 1)); /* dst rows [1, 3) overlap src rows [0, 2) */
        CHECK_STATUS(xhal_graph_launch(g2, s2), XHAL_ERROR_OUT_OF_RANGE, "op 2 (copy)");
        CHECK_OK(xhal_graph_set_param(g2, 0, p0 - 2)); /* dst = src: the same view is not allowed either */
        CHECK_STATUS(xhal_graph_launch(g2, s2), XHAL_ERROR_OUT_OF_RANGE, "overlaps input 0");
        CHECK_OK(xhal_graph_set_param(g2, 0, p0));
        CHECK_OK(xhal_graph_launch(g2, s2));
        CHECK_OK(xhal_stream_synchronize(s2));
        /* the graph outlives the buffers' tensors and the context destroys it */
        xhal_tensor_destroy(a);
        xhal_tensor_destroy(b);
        xhal_tensor_destroy(c);
        CHECK_OK(xhal_graph_launch(g2, s2));
        CHECK_OK(xhal_stream_synchronize(s2));
    }

    /* a stream destroyed while capturing drops its capture */
    xhal_stream *s3 = NULL;
    CHECK_OK(xhal_stream_create(dev, &s3));
    CHECK_OK(xhal_stream_begin_capture(s3, 0, NULL));
    CHECK_OK(xhal_fill(s3, e.out, 1.0));
    CHECK_OK(xhal_stream_destroy(s3));

    /* the graph alive at the end is destroyed with the context (and g2 too) */
    destroy_io(&e);
    (void)graph;
    CHECK_OK(xhal_stream_destroy(s2));
    CHECK_OK(xhal_stream_destroy(s));
}

/* A backend that takes whole graphs (tests/core/graph_plugin.c): the core hands it the list
 * once, then each launch with the indices of the ops whose parameters moved; a graph it refuses
 * runs op by op through op_run instead. */
static void native_path(void)
{
    xhal_context_options o;
    xhal_context_options_init(&o);
    o.flags = XHAL_CONTEXT_NO_DEFAULT_PLUGINS | XHAL_CONTEXT_IGNORE_ENV_PATH;
    o.plugin_path = XHAL_TEST_PLUGIN_DIR "/graph";
    xhal_context *ctx = NULL;
    xhal_device *dev = NULL;
    xhal_stream *s = NULL;
    CHECK_OK(xhal_context_create(&o, &ctx));
    CHECK_OK(xhal_device_find(ctx, "graphdev:0", &dev));
    if (!dev) return;
    void *so = dlopen(XHAL_TEST_PLUGIN_DIR "/graph/libxhal-graphdev.so", RTLD_NOW | RTLD_NOLOAD);
    void (*stats)(int *, int *, int *, int *) =
        so ? (void (*)(int *, int *, int *, int *))dlsym(so, "graphdev_stats") : NULL;
    CHECK(stats != NULL);
    if (!stats) return;
    CHECK_OK(xhal_stream_create(dev, &s));
    int64_t sr[1] = {4}, sc[2] = {8, 4};
    xhal_tensor *row = NULL, *cache = NULL, *slot = NULL;
    CHECK_OK(xhal_tensor_create(dev, XHAL_DTYPE_F32, 1, sr, &row));
    CHECK_OK(xhal_tensor_create(dev, XHAL_DTYPE_F32, 2, sc, &cache));
    CHECK_OK(xhal_fill(s, cache, 0.0));
    /* fill row with 5, copy it to cache row p (bound), fill row with 6 (not bound) */
    int64_t p0 = 2;
    xhal_graph *g = NULL;
    CHECK_OK(xhal_stream_begin_capture(s, 1, &p0));
    CHECK_OK(xhal_fill(s, row, 5.0));
    CHECK_OK(xhal_tensor_slice(cache, 0, p0, p0 + 1, 1, &slot));
    xhal_tensor *slot1 = NULL;
    int64_t one[1] = {4};
    CHECK_OK(xhal_tensor_reshape(slot, 1, one, &slot1));
    CHECK_OK(xhal_copy(s, row, slot1));
    CHECK_OK(xhal_stream_capture_bind(s, 0, XHAL_GRAPH_VIEW_START, XHAL_GRAPH_ARG_OUT, 0, 4)); /* a row is 4 */
    CHECK_OK(xhal_fill(s, row, 6.0));
    CHECK_OK(xhal_stream_end_capture(s, &g));
    xhal_tensor_destroy(slot);
    xhal_tensor_destroy(slot1);
    int native = 0, c0, l0, ch0, r0, c1, l1, ch1, r1;
    CHECK_OK(xhal_graph_is_native(g, &native));
    CHECK(native == 1);
    stats(&c0, &l0, &ch0, &r0);
    CHECK(c0 == 1);
    for (int64_t p = 0; p < 8; p++) {
        CHECK_OK(xhal_graph_set_param(g, 0, p));
        CHECK_OK(xhal_graph_launch(g, s));
    }
    CHECK_OK(xhal_graph_launch(g, s)); /* nothing moved: no op listed */
    stats(&c1, &l1, &ch1, &r1);
    CHECK(l1 - l0 == 9 && ch1 - ch0 == 8 && r1 == r0); /* each of p = 0..7 moved the copy (the capture had 2) */
    float host[32];
    CHECK_OK(xhal_tensor_read(s, cache, host, sizeof host));
    int ok = 1;
    for (int i = 0; i < 32; i++) ok &= host[i] == 5.0f;
    CHECK(ok);
    CHECK_OK(xhal_graph_set_param(g, 0, 8));
    CHECK_STATUS(xhal_graph_launch(g, s), XHAL_ERROR_OUT_OF_RANGE, "op 1 (copy)");
    stats(&c1, &l1, &ch1, &r1);
    CHECK(l1 - l0 == 9); /* refused before the backend saw it */
    xhal_graph_destroy(g);
    /* refused by the backend (UNSUPPORTED): the core replays op by op */
    CHECK_OK(xhal_stream_begin_capture(s, 0, NULL));
    CHECK_OK(xhal_fill(s, row, 99.0));
    CHECK_OK(xhal_fill(s, cache, 1.0));
    CHECK_OK(xhal_stream_end_capture(s, &g));
    CHECK_OK(xhal_graph_is_native(g, &native));
    CHECK(native == 0);
    CHECK_OK(xhal_graph_launch(g, s));
    stats(&c1, &l1, &ch1, &r1);
    CHECK(c1 == 1 && r1 - r0 == 2);
    CHECK_OK(xhal_tensor_read(s, cache, host, sizeof host));
    CHECK(host[0] == 1.0f && host[31] == 1.0f);
    xhal_graph_destroy(g);
    /* a gather in a native graph: launched on another stream, its status output moves to that
     * stream's (listed as changed: graphdev fails the launch otherwise) and the bad index is
     * reported there, not on the capture stream */
    {
        xhal_stream *s2 = NULL;
        xhal_tensor *idx = NULL, *rows = NULL;
        int64_t n2[1] = {2}, rs[2] = {2, 4};
        CHECK_OK(xhal_stream_create(dev, &s2));
        CHECK_OK(xhal_tensor_create(dev, XHAL_DTYPE_I32, 1, n2, &idx));
        CHECK_OK(xhal_tensor_create(dev, XHAL_DTYPE_F32, 2, rs, &rows));
        CHECK_OK(xhal_fill(s, cache, 3.0));
        int32_t iv[2] = {7, 1};
        CHECK_OK(xhal_tensor_write(s, idx, iv, sizeof iv));
        CHECK_OK(xhal_stream_begin_capture(s, 0, NULL));
        CHECK_OK(xhal_gather(s, cache, idx, rows));
        CHECK_OK(xhal_stream_end_capture(s, &g));
        CHECK_OK(xhal_graph_is_native(g, &native));
        CHECK(native == 1);
        stats(&c0, &l0, &ch0, &r0);
        CHECK_OK(xhal_graph_launch(g, s));
        CHECK_OK(xhal_stream_synchronize(s));
        iv[1] = 8; /* one past the 8 rows */
        CHECK_OK(xhal_tensor_write(s2, idx, iv, sizeof iv));
        CHECK_OK(xhal_graph_launch(g, s2));
        stats(&c1, &l1, &ch1, &r1);
        CHECK(l1 - l0 == 2 && ch1 - ch0 == 1 && r1 == r0); /* the second launch listed the gather */
        CHECK_OK(xhal_stream_synchronize(s));
        CHECK_STATUS(xhal_stream_synchronize(s2), XHAL_ERROR_OUT_OF_RANGE,
                     "xhal_gather (queued earlier on this stream of graphdev:0, reported at xhal_stream_synchronize): "
                     "indices[1] = 8 is outside [0, 8)");
        CHECK_OK(xhal_tensor_read(s2, rows, host, 8 * sizeof(float)));
        CHECK(host[0] == 3.0f && host[3] == 3.0f && host[4] == 0.0f && host[7] == 0.0f);
        CHECK_OK(xhal_graph_launch(g, s2)); /* same stream again: nothing listed */
        stats(&c1, &l1, &ch1, &r1);
        CHECK(ch1 - ch0 == 1);
        CHECK_STATUS(xhal_stream_synchronize(s2), XHAL_ERROR_OUT_OF_RANGE, "indices[1] = 8");
        xhal_graph_destroy(g);
        xhal_tensor_destroy(idx);
        xhal_tensor_destroy(rows);
        CHECK_OK(xhal_stream_destroy(s2));
    }
    dlclose(so);
    CHECK_OK(xhal_context_destroy(ctx)); /* destroys g, the tensors and the stream */
}

int main(void)
{
    native_path();
    xhal_context *ctx = NULL;
    CHECK_OK(xhal_context_create(NULL, &ctx));
    run_device(ctx, "cpu:0");
    run_device(ctx, "opencl:0");

    /* launching on a stream of another device; recording on it with tensors of this one */
    xhal_device *cpu = NULL, *ocl = NULL;
    CHECK_OK(xhal_device_find(ctx, "cpu:0", &cpu));
    if (xhal_device_find(ctx, "opencl:0", &ocl) == XHAL_OK) {
        xhal_stream *sc = NULL, *so = NULL;
        xhal_tensor *t = NULL;
        int64_t n = 8;
        CHECK_OK(xhal_stream_create(cpu, &sc));
        CHECK_OK(xhal_stream_create(ocl, &so));
        CHECK_OK(xhal_tensor_create(cpu, XHAL_DTYPE_F32, 1, &n, &t));
        xhal_graph *g = NULL;
        CHECK_OK(xhal_stream_begin_capture(so, 0, NULL));
        CHECK_STATUS(xhal_fill(so, t, 1.0), XHAL_ERROR_WRONG_DEVICE, "is on cpu:0 but the stream is on opencl:0");
        CHECK_OK(xhal_stream_end_capture(so, &g));
        xhal_graph_destroy(g);
        CHECK_OK(xhal_stream_begin_capture(sc, 0, NULL));
        CHECK_OK(xhal_fill(sc, t, 1.0));
        CHECK_OK(xhal_stream_end_capture(sc, &g));
        CHECK_STATUS(xhal_graph_launch(g, so), XHAL_ERROR_WRONG_DEVICE,
                     "captured on cpu:0 but the stream is on opencl:0");
        CHECK_OK(xhal_graph_launch(g, sc));
        xhal_graph_destroy(g);
    }
    CHECK_OK(xhal_context_destroy(ctx));
    return xtest_finish("test_graph");
}
