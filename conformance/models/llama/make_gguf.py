#!/usr/bin/env python3
"""Convert the committed tiny Llama reference (reference/tiny-llama-f32: config.json and
model.safetensors) to GGUF the way llama.cpp's convert_hf_to_gguf.py does, with gguf-py:

    python3 -m venv /tmp/qvenv && /tmp/qvenv/bin/pip install gguf numpy
    /tmp/qvenv/bin/python conformance/models/llama/make_gguf.py

Writes reference/gguf/:
  tiny-llama-f32.gguf    every tensor f32
  tiny-llama-q8_0.gguf   2-D weights q8_0 (gguf-py's quantizer, bit-exact with llama.cpp),
                         norms f32
  tiny-llama-q4_0.gguf   2-D weights q4_0, norms f32
  ref-<type>.json        the greedy continuation of the prompt and the f64 reference logits'
  logits-<type>.f32      [n_prompt + n_generate - 1, vocab] of a NumPy float64 forward pass
                         over the *dequantized* weights of that file (gguf-py's dequantizer),
                         written as raw little-endian f32
As in llama.cpp, q_proj and k_proj rows are permuted for the interleaved ("normal") RoPE of
GGUF Llama files; the reference runs Hugging Face's rotate-half RoPE on the unpermuted
weights (permuting rows commutes with row-wise block quantization). CI needs no Python.
"""
import json
import os
import struct
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import quantize, dequantize

try:
    from importlib.metadata import version as _pkg_version
    GGUF_VERSION = _pkg_version("gguf")
except Exception:  # pragma: no cover
    GGUF_VERSION = "unknown"

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "reference", "tiny-llama-f32")
OUT = os.path.join(HERE, "reference", "gguf")
PROMPT = [1, 17, 42, 99, 123, 7, 250, 33, 5, 181]
N_GENERATE = 16


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", (name, info["dtype"])
        b, e = info["data_offsets"]
        out[name] = np.frombuffer(data[b:e], dtype="<f4").reshape(info["shape"]).copy()
    return out


def permute(w, n_head, n_head_kv):
    # llama.cpp convert_hf_to_gguf.py LlamaModel.permute (rows regrouped for interleaved RoPE)
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def forward_f64(w, cfg, tokens):
    """Hugging Face Llama forward in float64 over weights w (HF names, unpermuted)."""
    H, nh, nkv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    D = cfg.get("head_dim", H // nh)
    eps = cfg["rms_norm_eps"]
    theta = cfg.get("rope_theta", cfg.get("rope_parameters", {}).get("rope_theta", 10000.0))
    W = {k: v.astype(np.float64) for k, v in w.items()}
    S = len(tokens)
    x = W["model.embed_tokens.weight"][tokens]

    def rms(v, g):
        return v / np.sqrt(np.mean(v * v, axis=-1, keepdims=True) + eps) * g

    inv = theta ** (-np.arange(0, D, 2, dtype=np.float64) / D)
    ang = np.arange(S, dtype=np.float64)[:, None] * inv[None, :]
    cos = np.concatenate([np.cos(ang), np.cos(ang)], -1)
    sin = np.concatenate([np.sin(ang), np.sin(ang)], -1)

    def rope(t):  # [S, h, D] rotate-half
        t1, t2 = t[..., : D // 2], t[..., D // 2:]
        rot = np.concatenate([-t2, t1], -1)
        return t * cos[:, None, :] + rot * sin[:, None, :]

    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = rms(x, W[p + "input_layernorm.weight"])
        q = (h @ W[p + "self_attn.q_proj.weight"].T).reshape(S, nh, D)
        k = (h @ W[p + "self_attn.k_proj.weight"].T).reshape(S, nkv, D)
        v = (h @ W[p + "self_attn.v_proj.weight"].T).reshape(S, nkv, D)
        q, k = rope(q), rope(k)
        rep = nh // nkv
        k = np.repeat(k, rep, axis=1)
        v = np.repeat(v, rep, axis=1)
        att = np.einsum("shd,thd->hst", q, k) / np.sqrt(D)
        att = att + np.triu(np.full((S, S), -np.inf), 1)[None]
        att = np.exp(att - att.max(-1, keepdims=True))
        att = att / att.sum(-1, keepdims=True)
        o = np.einsum("hst,thd->shd", att, v).reshape(S, nh * D)
        x = x + o @ W[p + "self_attn.o_proj.weight"].T
        h = rms(x, W[p + "post_attention_layernorm.weight"])
        g = h @ W[p + "mlp.gate_proj.weight"].T
        u = h @ W[p + "mlp.up_proj.weight"].T
        x = x + ((g / (1 + np.exp(-g))) * u) @ W[p + "mlp.down_proj.weight"].T
    x = rms(x, W["model.norm.weight"])
    head = W["lm_head.weight"] if "lm_head.weight" in W else W["model.embed_tokens.weight"]
    return x @ head.T


NAMES = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}
LAYER = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}


def gguf_name(hf):
    if hf in NAMES:
        return NAMES[hf]
    parts = hf.split(".")
    return f"blk.{parts[2]}." + LAYER[".".join(parts[3:])]


def write(path, cfg, w, qtype):
    """Write the GGUF; return the weights as the file holds them, dequantized (HF names)."""
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    D = cfg.get("head_dim", cfg["hidden_size"] // nh)
    theta = cfg.get("rope_theta", cfg.get("rope_parameters", {}).get("rope_theta", 10000.0))
    g = gguf.GGUFWriter(path, "llama")
    g.add_string("general.name", "xhal tiny llama " + qtype.name.lower())
    g.add_uint32("llama.context_length", cfg["max_position_embeddings"])
    g.add_uint32("llama.embedding_length", cfg["hidden_size"])
    g.add_uint32("llama.block_count", cfg["num_hidden_layers"])
    g.add_uint32("llama.feed_forward_length", cfg["intermediate_size"])
    g.add_uint32("llama.attention.head_count", nh)
    g.add_uint32("llama.attention.head_count_kv", nkv)
    g.add_uint32("llama.attention.key_length", D)
    g.add_uint32("llama.attention.value_length", D)
    g.add_uint32("llama.rope.dimension_count", D)
    g.add_float32("llama.rope.freq_base", float(theta))
    g.add_float32("llama.attention.layer_norm_rms_epsilon", float(cfg["rms_norm_eps"]))
    g.add_uint32("llama.vocab_size", cfg["vocab_size"])
    g.add_uint32("general.file_type", {T.F32: 0, T.Q8_0: 7, T.Q4_0: 2}[qtype])
    back = {}
    for hf, t in w.items():
        if hf.endswith("q_proj.weight"):
            t = permute(t, nh, nh)
        elif hf.endswith("k_proj.weight"):
            t = permute(t, nh, nkv)
        if t.ndim == 2 and qtype != T.F32:
            q = quantize(t, qtype)
            g.add_tensor(gguf_name(hf), q, raw_dtype=qtype)
            deq = dequantize(q, qtype).astype(np.float32)
        else:
            g.add_tensor(gguf_name(hf), t.astype(np.float32))
            deq = t.astype(np.float32)
        # undo the permutation for the Hugging Face reference
        if hf.endswith("q_proj.weight"):
            deq = unpermute(deq, nh, nh)
        elif hf.endswith("k_proj.weight"):
            deq = unpermute(deq, nh, nkv)
        back[hf] = deq
    g.write_header_to_file()
    g.write_kv_data_to_file()
    g.write_tensors_to_file()
    g.close()
    return back


def unpermute(w, n_head, n_head_kv):
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def greedy(w, cfg):
    toks = list(PROMPT)
    out = []
    rows = []
    for i in range(N_GENERATE):
        logits = forward_f64(w, cfg, toks)
        if i == 0:
            rows.extend(logits[:-1])
        rows.append(logits[-1])
        nxt = int(np.argmax(logits[-1]))
        out.append(nxt)
        toks.append(nxt)
    return out, np.array(rows)


def random_k_blocks(rng, qtype, rows, cols):
    """Random but valid K-quant blocks (gguf-py has no K quantizer): finite small f16 scales."""
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    n = rows * cols // block
    raw = rng.integers(0, 256, size=(n, size), dtype=np.uint8)
    d = rng.uniform(0.0002, 0.001, n).astype(np.float16).view(np.uint8).reshape(n, 2)
    if qtype == T.Q4_K:
        raw[:, 0:2] = d
        raw[:, 2:4] = rng.uniform(0.0002, 0.001, n).astype(np.float16).view(np.uint8).reshape(n, 2)
    else:
        raw[:, size - 2:size] = d
    return raw.reshape(rows, cols // block * size)


def write_k_mix(path):
    """A synthetic one-layer Llama (hidden 256: K-quants need rows of 256) in llama.cpp's Q4_K_M mix:
    q4_K for most projections and the embedding, q6_K for attn_v, ffn_down and output; random
    K-quant blocks, random norms. Returns (cfg, weights dequantized by gguf-py, HF names)."""
    rng = np.random.default_rng(4242)
    cfg = {"hidden_size": 256, "intermediate_size": 256, "num_hidden_layers": 1,
           "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 64,
           "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "vocab_size": 256,
           "max_position_embeddings": 64}
    H, I, V, D = 256, 256, 256, 64
    shapes = {"model.embed_tokens.weight": (V, H, T.Q4_K), "model.norm.weight": (H,),
              "lm_head.weight": (V, H, T.Q6_K)}
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        shapes.update({p + "input_layernorm.weight": (H,), p + "post_attention_layernorm.weight": (H,),
                       p + "self_attn.q_proj.weight": (4 * D, H, T.Q4_K),
                       p + "self_attn.k_proj.weight": (2 * D, H, T.Q4_K),
                       p + "self_attn.v_proj.weight": (2 * D, H, T.Q6_K),
                       p + "self_attn.o_proj.weight": (H, 4 * D, T.Q4_K),
                       p + "mlp.gate_proj.weight": (I, H, T.Q4_K), p + "mlp.up_proj.weight": (I, H, T.Q4_K),
                       p + "mlp.down_proj.weight": (H, I, T.Q6_K)})
    g = gguf.GGUFWriter(path, "llama")
    g.add_string("general.name", "xhal synthetic llama q4_k_m mix")
    for k, v in (("context_length", 64), ("embedding_length", H), ("block_count", cfg["num_hidden_layers"]),
                 ("feed_forward_length", I),
                 ("attention.head_count", 4), ("attention.head_count_kv", 2), ("vocab_size", V)):
        g.add_uint32("llama." + k, v)
    g.add_float32("llama.attention.layer_norm_rms_epsilon", 1e-5)
    g.add_float32("llama.rope.freq_base", 10000.0)
    g.add_uint32("general.file_type", 15)  # LLAMA_FTYPE_MOSTLY_Q4_K_M
    back = {}
    for hf, sh in shapes.items():
        if len(sh) == 1:
            t = (1.0 + 0.1 * rng.standard_normal(sh)).astype(np.float32)
            g.add_tensor(gguf_name(hf), t)
            back[hf] = t
            continue
        rows, cols, qt = sh
        raw = random_k_blocks(rng, qt, rows, cols)
        g.add_tensor(gguf_name(hf), raw, raw_dtype=qt)
        deq = dequantize(raw, qt).astype(np.float32)
        # the file holds llama.cpp's permuted q/k rows: the HF reference uses them unpermuted
        if hf.endswith("q_proj.weight"):
            deq = unpermute(deq, 4, 4)
        elif hf.endswith("k_proj.weight"):
            deq = unpermute(deq, 4, 2)
        back[hf] = deq
    g.write_header_to_file()
    g.write_kv_data_to_file()
    g.write_tensors_to_file()
    g.close()
    return cfg, back


def main():
    with open(os.path.join(SRC, "config.json")) as f:
        cfg = json.load(f)
    w = read_safetensors(os.path.join(SRC, "model.safetensors"))
    # a consistency check of permute/unpermute
    t = np.arange(64 * 8, dtype=np.float32).reshape(64, 8)
    assert np.array_equal(unpermute(permute(t, 4, 2), 4, 2), t)
    os.makedirs(OUT, exist_ok=True)
    for qtype in (T.F32, T.Q8_0, T.Q4_0):
        tag = qtype.name.lower()
        back = write(os.path.join(OUT, f"tiny-llama-{tag}.gguf"), cfg, w, qtype)
        toks, logits = greedy(back, cfg)
        logits.astype("<f4").tofile(os.path.join(OUT, f"logits-{tag}.f32"))
        with open(os.path.join(OUT, f"ref-{tag}.json"), "w") as f:
            json.dump({"prompt": PROMPT, "generated": toks, "logits_rows": int(logits.shape[0]),
                       "vocab": int(logits.shape[1]), "gguf_py": GGUF_VERSION,
                       "reference": "numpy float64 forward over the file's dequantized weights"}, f, indent=1)
        print(tag, toks)
    cfg_k, back = write_k_mix(os.path.join(OUT, "synthetic-q4_k_m.gguf"))
    toks, logits = greedy(back, cfg_k)
    srt = np.sort(logits[len(PROMPT) - 1:], axis=1)
    logits.astype("<f4").tofile(os.path.join(OUT, "logits-q4_k_m.f32"))
    with open(os.path.join(OUT, "ref-q4_k_m.json"), "w") as f:
        json.dump({"prompt": PROMPT, "generated": toks, "logits_rows": int(logits.shape[0]),
                   "vocab": int(logits.shape[1]), "gguf_py": GGUF_VERSION,
                   "min_top1_margin": float((srt[:, -1] - srt[:, -2]).min()),
                   "reference": "numpy float64 forward over the file's dequantized weights (synthetic "
                                "K-quant blocks: gguf-py has no K quantizer)"}, f, indent=1)
    print("q4_k_m", toks, "margin", float((srt[:, -1] - srt[:, -2]).min()), "max|logit|", float(np.abs(logits).max()))


if __name__ == "__main__":
    sys.exit(main())
