/* xhal-run - run a decoder of the port's families (Llama 2/3.x, Mistral, Qwen2/2.5/3, GLM-4,
 * Mixtral, Qwen2-MoE, Qwen3-MoE: a Hugging Face folder, or a llama GGUF file) on an xhal device: greedy
 * generation from token ids, optionally dumping the prompt's logits as .npy; with --tp N,
 * tensor parallel over N devices in this process, or over N processes under mpirun. The logic
 * lives in the xhal_llama library (conformance/models/llama). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama.h"
#include "npy.h"
#include "xhal/xhal.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: xhal-run --model DIR --tokens ID,ID,... [--device SPEC[,SPEC...]] [--generate N]\n"
               "                [--logits-out FILE.npy] [--dtype f32|f16|bf16] [--max-seq N] [--tp N] [--quiet]\n"
               "  --model DIR        Hugging Face folder: config.json + model.safetensors (or index) of\n"
               "                     llama, mistral, qwen2, qwen3, glm, glm4, mixtral, qwen2_moe or qwen3_moe,\n"
               "                     or a llama.cpp GGUF file (FILE.gguf: f32/f16/bf16/q8_0/q4_0/q4_K/q6_K)\n"
               "  --device SPEC      device, e.g. cpu, cuda:0, opencl:1 (default: cpu); with --tp N a list\n"
               "                     of N devices, rank r on the r-th (one device: every rank on it)\n"
               "  --tokens LIST      prompt token ids, comma-separated\n"
               "  --generate N       greedy tokens to generate (default 0)\n"
               "  --logits-out FILE  write the logits of every prompt position, [tokens, vocab] f32 .npy\n"
               "  --dtype DT         compute dtype (default: the weights' dtype)\n"
               "  --max-seq N        KV cache length (default: prompt + generated tokens; at most the\n"
               "                     model's max_position_embeddings, or the run is refused)\n"
               "  --tp N             tensor parallel over N ranks (heads and MLP columns split, all_reduce\n"
               "                     after o_proj and down_proj): under mpirun (-np N) one rank per process\n"
               "                     over MPI, else N devices of this process through the host engine\n"
               "  --quiet            no timing line on stderr\n"
               "Prints the generated ids on stdout, comma-separated, one line (under mpirun: rank 0 only,\n"
               "which also writes --logits-out).\n");
}

static int parse_i64(const char *s, long long lo, long long hi, long long *out)
{
    char *e;
    errno = 0;
    long long v = strtoll(s, &e, 10);
    if (errno || e == s || *e != '\0' || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

/* The MPI rank of this process when started by mpirun (Open MPI, MPICH/PMI, PMIx), else -1. */
static int mpi_env_rank(int *size)
{
    static const char *const ranks[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"};
    static const char *const sizes[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", NULL};
    for (size_t i = 0; i < sizeof ranks / sizeof ranks[0]; i++) {
        const char *r = getenv(ranks[i]);
        if (!r) continue;
        long long v = 0, n = 0;
        const char *sz = sizes[i] ? getenv(sizes[i]) : NULL;
        *size = sz && parse_i64(sz, 1, 1 << 20, &n) ? (int)n : 0;
        return parse_i64(r, 0, 1 << 20, &v) ? (int)v : -1;
    }
    return -1;
}

/* Split a comma-separated list in place; at most max entries. */
static int split_list(char *s, char **out, int max)
{
    int n = 0;
    for (char *p = s; n < max;) {
        out[n++] = p;
        char *c = strchr(p, ',');
        if (!c) break;
        *c = '\0';
        p = c + 1;
    }
    return n;
}

static int parse_tokens(const char *s, int32_t **out, int64_t *n)
{
    int64_t cap = 1;
    for (const char *p = s; *p; p++) cap += *p == ',';
    int32_t *v = malloc((size_t)cap * sizeof *v);
    if (!v) return 0;
    int64_t k = 0;
    const char *p = s;
    while (*p) {
        char *e;
        errno = 0;
        long long x = strtoll(p, &e, 10);
        if (errno || e == p || x < 0 || x > 2147483647LL || (*e != ',' && *e != '\0')) {
            free(v);
            return 0;
        }
        v[k++] = (int32_t)x;
        p = *e == ',' ? e + 1 : e;
        if (*e == ',' && *p == '\0') {
            free(v);
            return 0;
        }
    }
    if (k == 0) {
        free(v);
        return 0;
    }
    *out = v;
    *n = k;
    return 1;
}

int main(int argc, char **argv)
{
    const char *model = NULL, *device = "cpu", *tokens_s = NULL, *logits_out = NULL, *dtype_s = NULL;
    long long n_gen = 0, max_seq = 0, tp = 0;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--quiet") == 0) {
            quiet = 1;
            continue;
        }
        if (!val) {
            fprintf(stderr, "xhal-run: %s needs a value\n", a);
            usage(stderr);
            return 2;
        }
        if (strcmp(a, "--model") == 0)
            model = val;
        else if (strcmp(a, "--device") == 0)
            device = val;
        else if (strcmp(a, "--tokens") == 0)
            tokens_s = val;
        else if (strcmp(a, "--logits-out") == 0)
            logits_out = val;
        else if (strcmp(a, "--dtype") == 0)
            dtype_s = val;
        else if (strcmp(a, "--generate") == 0) {
            if (!parse_i64(val, 0, 1 << 20, &n_gen)) {
                fprintf(stderr, "xhal-run: --generate '%s' is not an integer in [0, %d]\n", val, 1 << 20);
                return 2;
            }
        } else if (strcmp(a, "--tp") == 0) {
            if (!parse_i64(val, 1, XHAL_COMM_MAX_LOCAL, &tp)) {
                fprintf(stderr, "xhal-run: --tp '%s' is not an integer in [1, %d]\n", val, XHAL_COMM_MAX_LOCAL);
                return 2;
            }
        } else if (strcmp(a, "--max-seq") == 0) {
            if (!parse_i64(val, 1, 1 << 24, &max_seq)) {
                fprintf(stderr, "xhal-run: --max-seq '%s' is not a positive integer\n", val);
                return 2;
            }
        } else {
            fprintf(stderr, "xhal-run: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
        i++;
    }
    if (!model || !tokens_s) {
        fprintf(stderr, "xhal-run: --model and --tokens are required\n");
        usage(stderr);
        return 2;
    }
    int32_t *prompt = NULL;
    int64_t n_prompt = 0;
    if (!parse_tokens(tokens_s, &prompt, &n_prompt)) {
        fprintf(stderr, "xhal-run: --tokens '%s' is not a comma-separated list of ids\n", tokens_s);
        return 2;
    }
    xllama_options o;
    xllama_options_init(&o);
    if (dtype_s && xhal_dtype_from_name(dtype_s, &o.compute_dtype) != XHAL_OK) {
        fprintf(stderr, "xhal-run: --dtype: %s\n", xhal_last_error());
        free(prompt);
        return 2;
    }
    o.max_seq = max_seq ? max_seq : n_prompt + (n_gen > 0 ? n_gen : 1);

    int rc = 1, rank = 0, world = 0;
    xhal_context *ctx = NULL;
    xhal_device *dev = NULL;
    xhal_comm *comm = NULL;
    xllama_model *m = NULL;
    int32_t *out = NULL;
    float *logits = NULL;
    char *dev_list = strdup(device), *devs[XHAL_COMM_MAX_LOCAL];
    const int n_devs = dev_list ? split_list(dev_list, devs, XHAL_COMM_MAX_LOCAL) : 0;
    const int mpi_rank = tp ? mpi_env_rank(&world) : -1;
    if (!dev_list) {
        fprintf(stderr, "xhal-run: out of memory\n");
        goto done;
    }
    if (n_devs > 1 && (!tp || (n_devs != tp))) {
        fprintf(stderr, "xhal-run: --device lists %d devices: give one, or --tp %d with one per rank\n", n_devs,
                n_devs);
        goto done;
    }
    if (xhal_context_create(NULL, &ctx) != XHAL_OK) {
        fprintf(stderr, "xhal-run: %s\n", xhal_last_error());
        goto done;
    }
    if (tp && mpi_rank >= 0) { /* under mpirun: one rank per process */
        device = devs[n_devs > 1 ? mpi_rank % n_devs : 0];
        if (world && world != tp) {
            fprintf(stderr, "xhal-run: --tp %lld but mpirun started %d process%s (run mpirun -np %lld)\n", tp, world,
                    world == 1 ? "" : "es", tp);
            goto done;
        }
        if (xhal_device_find(ctx, device, &dev) != XHAL_OK || xhal_comm_create_mpi(ctx, dev, &comm) != XHAL_OK) {
            fprintf(stderr, "xhal-run: rank %d: %s\n", mpi_rank, xhal_last_error());
            goto done;
        }
    } else if (tp) { /* in this process: N ranks, through the host engine or a backend's own */
        xhal_device *ds[XHAL_COMM_MAX_LOCAL];
        for (int i = 0; i < tp; i++)
            if (xhal_device_find(ctx, devs[n_devs > 1 ? i : 0], &ds[i]) != XHAL_OK) {
                fprintf(stderr, "xhal-run: %s\n", xhal_last_error());
                goto done;
            }
        if (xhal_comm_create(ctx, ds, (int)tp, NULL, &comm) != XHAL_OK) {
            fprintf(stderr, "xhal-run: %s\n", xhal_last_error());
            goto done;
        }
    } else if (xhal_device_find(ctx, device, &dev) != XHAL_OK) {
        fprintf(stderr, "xhal-run: %s\n", xhal_last_error());
        goto done;
    }
    if (comm) {
        xhal_comm_info ci;
        memset(&ci, 0, sizeof ci);
        ci.struct_size = sizeof ci;
        if (xhal_comm_get_info(comm, &ci) != XHAL_OK) {
            fprintf(stderr, "xhal-run: %s\n", xhal_last_error());
            goto done;
        }
        if (ci.size != tp) {
            fprintf(stderr, "xhal-run: --tp %lld but the communicator has %d ranks\n", tp, (int)ci.size);
            goto done;
        }
        rank = ci.first_rank;
        if (!quiet && rank == 0)
            fprintf(stderr, "xhal-run: tensor parallel over %d ranks, engine %s (%s)\n", (int)ci.size, ci.engine,
                    ci.reason);
    }
    if ((comm ? xllama_load_tp(comm, model, &o, &m) : xllama_load(dev, model, &o, &m)) != XHAL_OK) {
        fprintf(stderr, "xhal-run: %s\n", xllama_last_error());
        goto done;
    }
    const int64_t V = xllama_get_config(m)->vocab_size;
    out = malloc((size_t)(n_gen ? n_gen : 1) * sizeof *out);
    logits = logits_out ? malloc((size_t)(n_prompt * V) * sizeof *logits) : NULL;
    if (!out || (logits_out && !logits)) {
        fprintf(stderr, "xhal-run: out of memory\n");
        goto done;
    }
    xllama_timing t;
    if (xllama_generate(m, prompt, n_prompt, n_gen, out, logits, NULL, &t) != XHAL_OK) {
        fprintf(stderr, "xhal-run: %s\n", xllama_last_error());
        goto done;
    }
    if (rank == 0) {
        for (long long i = 0; i < n_gen; i++) printf("%s%d", i ? "," : "", (int)out[i]);
        printf("\n");
    }
    if (logits_out && rank == 0) {
        char err[512];
        int64_t shape[2] = {n_prompt, V};
        if (xc_npy_write_f32(logits_out, logits, 2, shape, err, sizeof err) != XHAL_OK) {
            fprintf(stderr, "xhal-run: %s\n", err);
            goto done;
        }
    }
    if (!quiet && rank == 0)
        fprintf(stderr,
                "xhal-run: %s%s, %s compute: prefill %lld tokens in %.3f ms (%.1f tok/s), "
                "decode %lld steps in %.3f ms (%.1f tok/s)\n",
                device, comm ? " (tp)" : "", xhal_dtype_name(xllama_compute_dtype(m)), (long long)t.n_prefill,
                t.prefill_s * 1e3, t.prefill_s > 0 ? (double)t.n_prefill / t.prefill_s : 0.0, (long long)t.n_decode,
                t.decode_s * 1e3, t.decode_s > 0 ? (double)t.n_decode / t.decode_s : 0.0);
    rc = 0;
done:
    xllama_destroy(m);
    xhal_comm_destroy(comm);
    xhal_context_destroy(ctx);
    free(dev_list);
    free(out);
    free(logits);
    free(prompt);
    return rc;
}
