/* graph_plugin.c - a test backend ("graphdev") that takes whole graphs (graph_create,
 * graph_launch, graph_destroy of xhal_backend.h) on a host-memory device running FILL and COPY
 * of f32 and GATHER of f32 rows by i32 indices (the bounds guard of xhal_backend.h: zeros for a
 * bad index, the first one recorded in the status output). It keeps its own copy of every descriptor and, at each launch, checks that the ops
 * the core lists as changed are exactly those whose descriptors differ from the previous
 * launch (INTERNAL otherwise), then runs them. A graph whose first op fills 99 is refused
 * with UNSUPPORTED, so the core's op-by-op default is exercised too. graphdev_stats (found by
 * the test with dlsym) counts what happened. */
#include "xhal/plugin/xhal_plugin.h"

#include <stdlib.h>
#include <string.h>

static int n_create, n_launch, n_changed_total, n_op_run;

XHAL_BACKEND_EXPORT void graphdev_stats(int *creates, int *launches, int *changed, int *op_runs)
{
    *creates = n_create;
    *launches = n_launch;
    *changed = n_changed_total;
    *op_runs = n_op_run;
}

static xhal_status g_init(const xhal_host_services *h, void **state)
{
    *state = h->host_alloc(16);
    return *state ? XHAL_OK : XHAL_ERROR_OUT_OF_MEMORY;
}
static void g_shutdown(void *state) { xhal_plugin_host()->host_free(state); }
static int g_count(void *state) { return 1; }
static xhal_status g_info(void *state, int dev, xhal_device_info *info)
{
    strcpy(info->name, "graph test device");
    strcpy(info->vendor, "xhal tests");
    strcpy(info->family, "test");
    info->dtypes = XHAL_DTYPE_BIT(XHAL_DTYPE_F32) | XHAL_DTYPE_BIT(XHAL_DTYPE_I32);
    info->caps = XHAL_CAP_HOST_MEMORY;
    return XHAL_OK;
}
static xhal_status g_alloc(void *state, int dev, uint64_t size, void **buf)
{
    *buf = calloc(1, size);
    return *buf ? XHAL_OK : xhal_plugin_host()->set_error(XHAL_ERROR_OUT_OF_MEMORY, "graphdev: out of memory");
}
static void g_free(void *state, void *buf) { free(buf); }
static xhal_status g_screate(void *state, int dev, void **s)
{
    *s = (void *)1;
    return XHAL_OK;
}
static void g_sdestroy(void *state, void *s) {}
static xhal_status g_ssync(void *state, void *s) { return XHAL_OK; }
static xhal_status g_write(void *state, void *s, void *b, uint64_t off, const void *src, uint64_t n)
{
    memcpy((char *)b + off, src, n);
    return XHAL_OK;
}
static xhal_status g_read(void *state, void *s, void *b, uint64_t off, void *dst, uint64_t n)
{
    memcpy(dst, (char *)b + off, n);
    return XHAL_OK;
}
static xhal_status g_copy(void *state, void *s, void *src, uint64_t so, void *dst, uint64_t d, uint64_t n)
{
    memmove((char *)dst + d, (char *)src + so, n);
    return XHAL_OK;
}
static xhal_status g_supported(void *state, int dev, const xhal_op_desc *d)
{
    int f32 = d->outputs[0].dtype == XHAL_DTYPE_F32 && (d->op == XHAL_OP_FILL || d->inputs[0].dtype == XHAL_DTYPE_F32);
    if ((d->op == XHAL_OP_FILL || d->op == XHAL_OP_COPY) && f32 && d->outputs[0].ndim <= 3) return XHAL_OK;
    if (d->op == XHAL_OP_GATHER && f32 && d->inputs[0].ndim == 2 && d->inputs[1].ndim == 1 &&
        d->inputs[1].dtype == XHAL_DTYPE_I32 && d->n_outputs == 2)
        return XHAL_OK;
    return xhal_plugin_host()->set_error(XHAL_ERROR_UNSUPPORTED,
                                         "graphdev runs FILL and COPY of f32 up to 3 dims, GATHER of f32 [V, D] "
                                         "by i32 [n]");
}
static float *at(const xhal_tensor_desc *t, int64_t i, int64_t j, int64_t k)
{
    int64_t e = i * t->strides[0] + j * t->strides[1] + k * t->strides[2];
    return (float *)((char *)t->buffer + t->offset) + e;
}
static void run_gather(const xhal_op_desc *d)
{
    const xhal_tensor_desc *t = &d->inputs[0], *ix = &d->inputs[1], *o = &d->outputs[0];
    const xhal_tensor_desc *sd = xhal_op_desc_output(d, 1);
    int64_t *status = (int64_t *)((char *)sd->buffer + sd->offset);
    int first = 1;
    for (int64_t i = 0; i < ix->shape[0]; i++) {
        int64_t k = ((const int32_t *)((const char *)ix->buffer + ix->offset))[i * ix->strides[0]];
        int bad = k < 0 || k >= t->shape[0];
        if (bad && first) xhal_op_status_record(status, XHAL_OP_GATHER, k, t->shape[0], 1, ix->shape, i);
        first &= !bad;
        for (int64_t j = 0; j < o->shape[1]; j++) *at(o, i, j, 0) = bad ? 0.0f : *at(t, k, j, 0);
    }
}
static xhal_status run_op(const xhal_op_desc *d)
{
    if (d->op == XHAL_OP_GATHER) {
        run_gather(d);
        return XHAL_OK;
    }
    const xhal_tensor_desc *o = &d->outputs[0];
    float v;
    memcpy(&v, &d->attrs.fill.bits, sizeof v);
    for (int64_t i = 0; i < o->shape[0]; i++)
        for (int64_t j = 0; j < o->shape[1]; j++)
            for (int64_t k = 0; k < o->shape[2]; k++)
                *at(o, i, j, k) = d->op == XHAL_OP_FILL ? v : *at(&d->inputs[0], i, j, k);
    return XHAL_OK;
}
static xhal_status g_run(void *state, void *s, const xhal_op_desc *d)
{
    n_op_run++;
    return run_op(d);
}

typedef struct g_graph {
    int n;
    xhal_op_desc *d; /* as last launched */
} g_graph;

static xhal_status g_gcreate(void *state, int dev, int n, const xhal_op_desc *descs, void **out)
{
    float v;
    memcpy(&v, &descs[0].attrs.fill.bits, sizeof v);
    if (descs[0].op == XHAL_OP_FILL && v == 99.0f)
        return xhal_plugin_host()->set_error(XHAL_ERROR_UNSUPPORTED, "graphdev: this graph is left to the core");
    g_graph *g = malloc(sizeof *g);
    if (!g) return XHAL_ERROR_OUT_OF_MEMORY;
    g->n = n;
    g->d = malloc((size_t)n * sizeof *g->d);
    if (!g->d) {
        free(g);
        return XHAL_ERROR_OUT_OF_MEMORY;
    }
    memcpy(g->d, descs, (size_t)n * sizeof *descs);
    *out = g;
    n_create++;
    return XHAL_OK;
}
static xhal_status g_glaunch(void *state, void *s, void *graph, int n, const xhal_op_desc *descs, int n_changed,
                             const int32_t *changed)
{
    g_graph *g = graph;
    if (n != g->n)
        return xhal_plugin_host()->set_error(XHAL_ERROR_INTERNAL, "graphdev: launched with %d ops, created with %d", n,
                                             g->n);
    int c = 0;
    for (int i = 0; i < n; i++) {
        int differs = memcmp(&descs[i], &g->d[i], sizeof *descs) != 0;
        int listed = c < n_changed && changed[c] == i;
        if (listed) c++;
        if (differs && !listed)
            return xhal_plugin_host()->set_error(XHAL_ERROR_INTERNAL, "graphdev: op %d changed but is not listed", i);
    }
    if (c != n_changed)
        return xhal_plugin_host()->set_error(XHAL_ERROR_INTERNAL, "graphdev: changed list not ascending");
    for (int i = 0; i < n; i++) {
        xhal_status st = run_op(&descs[i]);
        if (st != XHAL_OK) return st;
    }
    memcpy(g->d, descs, (size_t)n * sizeof *descs);
    n_launch++;
    n_changed_total += n_changed;
    return XHAL_OK;
}
static void g_gdestroy(void *state, void *graph)
{
    g_graph *g = graph;
    free(g->d);
    free(g);
}

static const xhal_backend_table table = {
    .abi_version = XHAL_BACKEND_ABI_VERSION,
    .struct_size = sizeof(xhal_backend_table),
    .name = "graphdev",
    .version = "test-1",
    .catalogue_version = XHAL_BACKEND_CATALOGUE_VERSION,
    .init = g_init,
    .shutdown = g_shutdown,
    .device_count = g_count,
    .device_info = g_info,
    .buffer_alloc = g_alloc,
    .buffer_free = g_free,
    .stream_create = g_screate,
    .stream_destroy = g_sdestroy,
    .stream_sync = g_ssync,
    .write = g_write,
    .read = g_read,
    .copy = g_copy,
    .op_supported = g_supported,
    .op_run = g_run,
    .graph_create = g_gcreate,
    .graph_launch = g_glaunch,
    .graph_destroy = g_gdestroy,
};

/* the exported entry: ABI checks and the host services, in the plugin helper */
XHAL_PLUGIN_ENTRY(table)
