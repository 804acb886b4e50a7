/* fuzz_llama_config.c - the Llama port's config.json parser (xllama_config_load) on
 * arbitrary bytes. An accepted config must satisfy the checks llama.h promises. */
#include "fuzz_common.h"
#include "llama.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *dir = fuzz_tmpdir("llama-config");
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    fuzz_write_file(path, data, size);
    xllama_config c;
    if (xllama_config_load(dir, &c) != XHAL_OK) return 0;
    /* what the loader guarantees on success */
    if (c.hidden_size <= 0 || c.intermediate_size <= 0 || c.num_layers <= 0 || c.num_heads <= 0 ||
        c.num_kv_heads <= 0 || c.head_dim <= 0 || c.vocab_size <= 0 || c.max_position_embeddings <= 0)
        abort();
    if (c.num_heads % c.num_kv_heads != 0 || c.head_dim % 2 != 0) abort();
    if (!(c.rms_norm_eps > 0) || !(c.rope_theta > 0)) abort();
    return 0;
}
