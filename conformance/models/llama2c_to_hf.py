#!/usr/bin/env python3
"""Convert a llama2.c checkpoint (e.g. stories260K.bin) into a Hugging Face Llama folder
(config.json + model.safetensors) that xhal-run and xllama_load read.

Needs numpy only (the safetensors file is written here, by hand: the format fits on a page).

    python3 conformance/models/llama2c_to_hf.py stories260K.bin out/stories260K
    xhal-run --model out/stories260K --tokens 1,403,407,261,378 --generate 40

llama2.c format (karpathy/llama2.c, "legacy" export): seven little-endian int32 (dim,
hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a negative vocab_size means
an unshared classifier follows), then f32 arrays: token embedding, attention norms, wq, wk,
wv, wo, ffn norms, w1, w2, w3, final norm, two RoPE tables (skipped), [classifier].
llama2.c rotates interleaved pairs (2i, 2i+1); Hugging Face Llama rotates halves (i, i+D/2),
so the rows of wq and wk are permuted within each head, as transformers' own conversion does.
"""
import argparse
import json
import os
import struct

import numpy as np


def permute_rows(w, heads, head_dim):
    """Interleaved RoPE pairs -> rotate-half layout, per head."""
    return (w.reshape(heads, head_dim // 2, 2, w.shape[1])
             .transpose(0, 2, 1, 3).reshape(heads * head_dim, w.shape[1]))


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, arr in tensors.items():
        data = np.ascontiguousarray(arr, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("out_dir")
    args = ap.parse_args()
    raw = open(args.checkpoint, "rb").read()
    dim, hidden, layers, heads, kv_heads, vocab, seq = struct.unpack("<7i", raw[:28])
    shared = vocab > 0
    vocab = abs(vocab)
    hd = dim // heads
    flat = np.frombuffer(raw, dtype="<f4", offset=28)
    pos = 0

    def take(*shape):
        nonlocal pos
        n = int(np.prod(shape))
        if pos + n > flat.size:
            raise SystemExit(f"{args.checkpoint}: truncated (needs {shape} at float {pos})")
        out = flat[pos:pos + n].reshape(shape)
        pos += n
        return out

    emb = take(vocab, dim)
    att_norm = take(layers, dim)
    wq = take(layers, heads * hd, dim)
    wk = take(layers, kv_heads * hd, dim)
    wv = take(layers, kv_heads * hd, dim)
    wo = take(layers, dim, heads * hd)
    ffn_norm = take(layers, dim)
    w1 = take(layers, hidden, dim)
    w2 = take(layers, dim, hidden)
    w3 = take(layers, hidden, dim)
    final_norm = take(dim)
    take(seq, hd // 2)
    take(seq, hd // 2)
    t = {"model.embed_tokens.weight": emb, "model.norm.weight": final_norm}
    if not shared:
        t["lm_head.weight"] = take(vocab, dim)
    for i in range(layers):
        p = f"model.layers.{i}."
        t[p + "input_layernorm.weight"] = att_norm[i]
        t[p + "self_attn.q_proj.weight"] = permute_rows(wq[i], heads, hd)
        t[p + "self_attn.k_proj.weight"] = permute_rows(wk[i], kv_heads, hd)
        t[p + "self_attn.v_proj.weight"] = wv[i]
        t[p + "self_attn.o_proj.weight"] = wo[i]
        t[p + "post_attention_layernorm.weight"] = ffn_norm[i]
        t[p + "mlp.gate_proj.weight"] = w1[i]
        t[p + "mlp.up_proj.weight"] = w3[i]
        t[p + "mlp.down_proj.weight"] = w2[i]
    os.makedirs(args.out_dir, exist_ok=True)
    write_safetensors(os.path.join(args.out_dir, "model.safetensors"), t)
    cfg = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": dim, "intermediate_size": hidden, "num_hidden_layers": layers,
        "num_attention_heads": heads, "num_key_value_heads": kv_heads, "head_dim": hd,
        "vocab_size": vocab, "max_position_embeddings": seq, "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0, "rope_scaling": None, "tie_word_embeddings": shared,
        "hidden_act": "silu", "attention_bias": False, "mlp_bias": False,
        "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32",
    }
    with open(os.path.join(args.out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    print(f"{args.out_dir}: dim {dim}, {layers} layers, {heads}/{kv_heads} heads, vocab {vocab}, "
          f"{'tied' if shared else 'untied'} classifier")


if __name__ == "__main__":
    main()
