"""``python -m xhal.run``: the Llama-family port on a Hugging Face folder, text in, text out.

    python -m xhal.run --model DIR --prompt "Once upon a time" [--generate 32] [--device cpu:0]
    python -m xhal.run --model DIR --tokens 1,17,42 [--generate 16]

With ``--prompt`` the folder needs a tokenizer.json and the ``tokenizers`` package; the
generated continuation is printed as text. With ``--tokens`` the generated ids are printed,
comma-separated, like the xhal-run tool. A timing line goes to stderr unless ``--quiet``.
Exit status: 0 on success, 1 when the model cannot run, 2 on a usage error.
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional, Sequence


def _parse_tokens(s: str) -> List[int]:
    try:
        ids = [int(x) for x in s.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{s}' is not a comma-separated list of token ids") from None
    if not ids or any(i < 0 for i in ids):
        raise argparse.ArgumentTypeError(f"'{s}' is not a comma-separated list of token ids")
    return ids


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m xhal.run",
                                description="Greedy generation with xhal's Llama-family port.")
    p.add_argument("--model", required=True, help="Hugging Face folder: config.json + model.safetensors")
    p.add_argument("--device", default="cpu:0", help="device spec (default cpu:0)")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--prompt", help="prompt text (needs tokenizer.json and the tokenizers package)")
    g.add_argument("--tokens", type=_parse_tokens, help="prompt token ids, comma-separated")
    p.add_argument("--generate", type=int, default=32, help="tokens to generate (default 32)")
    p.add_argument("--dtype", default=None, help="compute dtype: f32, f16 or bf16 (default: the weights')")
    p.add_argument("--max-seq", type=int, default=0, help="KV cache length (default: prompt + generated)")
    p.add_argument("--no-stop", action="store_true", help="do not stop at the end-of-sequence token")
    p.add_argument("--echo", action="store_true", help="print the prompt before the continuation")
    p.add_argument("--quiet", action="store_true", help="no timing line on stderr")
    a = p.parse_args(argv)
    if a.generate < 1:
        p.error("--generate must be at least 1")

    import xhal
    from xhal import llama

    try:
        tok = None
        if a.prompt is not None:
            tok = llama.load_tokenizer(a.model)
            ids = list(tok.encode(a.prompt).ids)
            if not ids:
                print(f"xhal.run: the prompt encodes to no tokens", file=sys.stderr)
                return 2
        else:
            ids = a.tokens
        max_seq = a.max_seq or len(ids) + a.generate
        m = llama.load(a.model, a.device, dtype=a.dtype, max_seq=max_seq, tokenizer=tok if tok is not None else False)
        out = m.generate(ids, a.generate)
        if a.prompt is not None:
            if not a.no_stop and m.eos_token_id is not None and m.eos_token_id in out:
                out = out[: out.index(m.eos_token_id)]
            text = m.decode(out)
            print(a.prompt + text if a.echo else text)
        else:
            print(",".join(str(i) for i in out))
        if not a.quiet:
            t = m.last_timing
            pre = t["n_prefill"] / t["prefill_s"] if t["prefill_s"] > 0 else 0.0
            dec = t["n_decode"] / t["decode_s"] if t["decode_s"] > 0 else 0.0
            print(f"xhal.run: {m.device.spec}, {m.compute_dtype} compute: prefill {t['n_prefill']} tokens "
                  f"({pre:.1f} tok/s), decode {t['n_decode']} steps ({dec:.1f} tok/s)", file=sys.stderr)
        m.close()
    except (xhal.Error, FileNotFoundError, ImportError) as e:
        print(f"xhal.run: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
