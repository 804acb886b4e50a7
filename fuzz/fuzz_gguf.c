/* fuzz_gguf.c - the GGUF reader on arbitrary bytes (through xhal_gguf_open_memory, so the
 * fuzzer's own buffer is the "file" and ASan sees any read past it). When the bytes are
 * accepted, every tensor byte is read, every key/value element fetched through the typed
 * getters, and every block-quantized tensor that xhal's codecs know is dequantized. */
#include "fuzz_common.h"
#include "xhal/xhal_gguf.h"
#include "xhal_quant.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xhal_gguf *g = NULL;
    if (xhal_gguf_open_memory(data, size, &g) != XHAL_OK) {
        if (!xhal_last_error()[0]) abort(); /* every refusal says why */
        return 0;
    }
    int64_t nt = 0, nkv = 0;
    if (xhal_gguf_tensor_count(g, &nt) != XHAL_OK || xhal_gguf_kv_count(g, &nkv) != XHAL_OK) abort();
    volatile unsigned sum = 0;
    static float y[4096];
    for (int64_t i = 0; i < nt; i++) {
        xhal_gguf_tensor t, t2;
        if (xhal_gguf_tensor_at(g, i, &t) != XHAL_OK) abort();
        if (xhal_gguf_tensor_get(g, t.name, &t2) != XHAL_OK || t2.data != t.data) abort();
        const unsigned char *p = t.data;
        if (p < data || t.size > size || p + t.size > data + size) abort();
        if ((uint64_t)t.numel / (uint64_t)t.block_size * (uint64_t)t.block_bytes != t.size) abort();
        for (uint64_t k = 0; k < t.size; k++) sum += p[k];
        void (*deq)(const void *, float *, int64_t) = NULL;
        switch (t.ggml_type) {
            case 8: deq = xhal_dequant_q8_0; break;
            case 2: deq = xhal_dequant_q4_0; break;
            case 12: deq = xhal_dequant_q4_k; break;
            case 14: deq = xhal_dequant_q6_k; break;
            default: break;
        }
        if (deq) {
            int64_t blocks = t.numel / t.block_size, per = 4096 / t.block_size;
            for (int64_t b = 0; b < blocks; b += per) {
                int64_t m = blocks - b < per ? blocks - b : per;
                deq(p + b * t.block_bytes, y, m);
            }
        }
    }
    for (int64_t i = 0; i < nkv; i++) {
        xhal_gguf_kv kv, kv2;
        if (xhal_gguf_kv_at(g, i, &kv) != XHAL_OK) abort();
        if (xhal_gguf_kv_get(g, kv.key, &kv2) != XHAL_OK || kv2.count != kv.count) abort();
        for (uint64_t e = 0; e < kv.count && e < 256; e++) {
            const char *s;
            uint64_t len;
            int64_t iv;
            double dv;
            if (kv.elem_type == XHAL_GGUF_STRING) {
                xhal_status st = kv.type == XHAL_GGUF_ARRAY ? xhal_gguf_array_string(g, kv.key, e, &s, &len)
                                                            : xhal_gguf_get_string(g, kv.key, &s, &len);
                if (st != XHAL_OK) abort();
                for (uint64_t k = 0; k <= len; k++) sum += (unsigned char)s[k];
            } else if (kv.type == XHAL_GGUF_ARRAY) {
                (void)xhal_gguf_array_i64(g, kv.key, e, &iv);
                (void)xhal_gguf_array_f64(g, kv.key, e, &dv);
            } else {
                (void)xhal_gguf_get_i64(g, kv.key, &iv);
                (void)xhal_gguf_get_f64(g, kv.key, &dv);
            }
        }
    }
    (void)sum;
    xhal_gguf_close(g);
    return 0;
}
