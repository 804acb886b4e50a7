"""The Llama-family port (conformance/models/llama) from Python, with text in and out.

::

    import xhal.llama
    m = xhal.llama.load("path/to/hf-folder", "cpu:0")
    ids = m.generate([1, 17, 42], 16)          # greedy token ids
    print(m.generate_text("Once upon a time", 32))   # needs tokenizer.json + `tokenizers`

A folder is a Hugging Face LlamaForCausalLM folder: config.json and model.safetensors (or a
sharded index), weights f32, f16 or bf16. When it has a tokenizer.json and the optional
``tokenizers`` package is installed, :attr:`Model.tokenizer` is loaded from it and the text
methods work; without them the id methods still do.
"""
from __future__ import annotations

import json
import os
from typing import Any, List, Optional, Sequence, Tuple, Union

from . import _xhal

__all__ = ["Model", "load", "load_tokenizer", "tokenizer_from_llama2c"]


def load_tokenizer(path: Union[str, "os.PathLike[str]"]) -> Any:
    """A ``tokenizers.Tokenizer`` from a tokenizer.json file or a folder holding one.

    Raises FileNotFoundError when there is no such file and ImportError (saying how to install
    it) when the ``tokenizers`` package is missing.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, "tokenizer.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no tokenizer file {path}")
    try:
        from tokenizers import Tokenizer
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("text in/out needs Hugging Face's `tokenizers` package: pip install tokenizers") from e
    return Tokenizer.from_file(path)


def tokenizer_from_llama2c(tokenizer_bin: Union[str, "os.PathLike[str]"], out_json: Union[str, "os.PathLike[str]"],
                           vocab_size: Optional[int] = None) -> Any:
    """Write a Hugging Face tokenizer.json for a llama2.c tokenizer.bin (e.g. tok512.bin) and
    return the ``tokenizers.Tokenizer``.

    tokenizer.bin holds a sentencepiece BPE vocabulary: an int32 max token length, then per
    token a float32 score, an int32 length and the bytes (``"▁"`` written as a space,
    ``<0xNN>`` byte tokens, ``<unk>``, ``<s>``, ``</s>`` as ids 0-2). The BPE merges are
    rebuilt from the vocabulary the way transformers' Llama converter does (every split of a
    token into two tokens, ranked by the token's score), with byte fallback, a ``"▁"`` prefix
    and BOS prepended on encode. ``vocab_size`` (default: every entry in the file) is the
    model's. Needs the ``tokenizers`` package.
    """
    import struct

    from tokenizers import Tokenizer, decoders, models, normalizers, processors

    with open(os.fspath(tokenizer_bin), "rb") as f:
        data = f.read()
    if len(data) < 4:
        raise _xhal.CorruptDataError(f"{os.fspath(tokenizer_bin)}: too short for a llama2.c tokenizer")
    off = 4
    pieces: List[Tuple[str, float]] = []
    while off < len(data) and (vocab_size is None or len(pieces) < vocab_size):
        if off + 8 > len(data):
            raise _xhal.CorruptDataError(f"{os.fspath(tokenizer_bin)}: token {len(pieces)} is cut at byte {off}")
        score, n = struct.unpack_from("<fi", data, off)
        off += 8
        if n < 0 or off + n > len(data):
            raise _xhal.CorruptDataError(f"{os.fspath(tokenizer_bin)}: token {len(pieces)} has length {n} past the end")
        text = data[off:off + n].decode("utf-8", errors="replace")
        off += n
        if text.strip() in ("<unk>", "<s>", "</s>"):
            text = text.strip()
        pieces.append((text.replace(" ", "\u2581"), score))
    if vocab_size is not None and len(pieces) < vocab_size:
        raise _xhal.CorruptDataError(f"{os.fspath(tokenizer_bin)}: {len(pieces)} tokens, the model has {vocab_size}")
    vocab = {}
    for i, (p, _) in enumerate(pieces):
        vocab.setdefault(p, i)
    merges = []
    for i, (p, score) in enumerate(pieces):
        if p.startswith("<") and p.endswith(">"):
            continue
        for k in range(1, len(p)):
            a, b = p[:k], p[k:]
            if a in vocab and b in vocab:
                merges.append((score, i, a, b))
    merges.sort(key=lambda m: (-m[0], m[1]))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[(a, b) for _, _, a, b in merges], unk_token="<unk>",
                               byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    if "<s>" in vocab:
        tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", vocab["<s>"])])
    tok.add_special_tokens([p for p in ("<unk>", "<s>", "</s>") if p in vocab])
    tok.save(os.fspath(out_json))
    return tok


class Model:
    """A loaded model: greedy generation and logits on an xhal device, text through a tokenizer.

    A model holds a KV cache and one stream: use it from one thread at a time.
    """

    def __init__(self, native: _xhal.LlamaModel, path: str, tokenizer: Any = None) -> None:
        self._m = native
        self.path = path
        self.tokenizer = tokenizer
        self.eos_token_id: Optional[int] = None
        try:
            with open(os.path.join(path, "config.json"), encoding="utf-8") as f:
                eos = json.load(f).get("eos_token_id")
            if isinstance(eos, list):
                eos = eos[0] if eos else None
            self.eos_token_id = eos if isinstance(eos, int) else None
        except (OSError, ValueError):
            pass

    # -- properties of the native model
    @property
    def config(self) -> dict:
        """The config.json settings the port uses (hidden_size, num_layers, vocab_size...)."""
        return self._m.config

    @property
    def device(self) -> _xhal.Device:
        return self._m.device

    @property
    def weight_dtype(self) -> str:
        return self._m.weight_dtype

    @property
    def compute_dtype(self) -> str:
        return self._m.compute_dtype

    @property
    def max_seq(self) -> int:
        """KV cache length in tokens (prompt + generated tokens must fit)."""
        return self._m.max_seq

    @property
    def position(self) -> int:
        """Tokens in the KV cache."""
        return self._m.position

    @property
    def vocab_size(self) -> int:
        return int(self._m.config["vocab_size"])

    # -- ids
    def generate(self, ids: Sequence[int], n: int, *, return_logits: bool = False) -> Any:
        """Greedy decoding from an empty cache: the ``n`` next token ids after prompt ``ids``.

        With ``return_logits`` returns ``(ids, prompt_logits [n_prompt, vocab], gen_logits [n, vocab])``
        as float32 numpy arrays (gen_logits row i is what pick i was made from).
        """
        toks, pl, gl, timing = self._m.generate(list(ids), int(n), return_logits, return_logits)
        self.last_timing = timing
        if not return_logits:
            return toks
        import numpy as np

        v = self.vocab_size
        return (toks, np.frombuffer(pl, dtype=np.float32).reshape(-1, v),
                np.frombuffer(gl, dtype=np.float32).reshape(-1, v))

    def forward(self, ids: Sequence[int], all_positions: bool = False) -> Any:
        """Run ``ids`` at the current position (appending them to the KV cache) and return the
        float32 logits as numpy: ``[len(ids), vocab]`` with ``all_positions``, else ``[vocab]``."""
        import numpy as np

        raw = self._m.forward(list(ids), bool(all_positions))
        a = np.frombuffer(raw, dtype=np.float32)
        return a.reshape(-1, self.vocab_size) if all_positions else a

    def reset(self) -> None:
        """Forget the KV cache."""
        self._m.reset()

    def close(self) -> None:
        """Free the model's device memory now (the object is unusable afterwards)."""
        self._m.close()

    def __enter__(self) -> "Model":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- text
    def _need_tokenizer(self) -> Any:
        if self.tokenizer is None:
            raise RuntimeError(
                f"{self.path} has no tokenizer loaded: text in/out needs a tokenizer.json in the model folder "
                "and the `tokenizers` package (pip install tokenizers); token ids work without them")
        return self.tokenizer

    def encode(self, text: str) -> List[int]:
        """Token ids of ``text`` (the tokenizer's own special tokens included)."""
        return list(self._need_tokenizer().encode(text).ids)

    def decode(self, ids: Sequence[int]) -> str:
        """Text of token ids (special tokens skipped)."""
        return self._need_tokenizer().decode(list(ids), skip_special_tokens=True)

    def generate_text(self, prompt: str, n: int, *, stop_at_eos: bool = True) -> str:
        """The text of the ``n`` greedy tokens that follow ``prompt`` (cut at the config's
        eos_token_id when ``stop_at_eos``)."""
        ids = self.encode(prompt)
        if not ids:
            raise _xhal.InvalidArgumentError(f"the prompt {prompt!r} encodes to no tokens")
        out = self.generate(ids, n)
        if stop_at_eos and self.eos_token_id is not None and self.eos_token_id in out:
            out = out[: out.index(self.eos_token_id)]
        return self.decode(out)

    def __repr__(self) -> str:
        c = self.config
        return (f"<xhal.llama.Model {self.path!r} on {self.device.spec}: {c['num_layers']} layers, "
                f"hidden {c['hidden_size']}, vocab {c['vocab_size']}, {self.weight_dtype} weights, "
                f"{self.compute_dtype} compute, tokenizer {'yes' if self.tokenizer is not None else 'no'}>")


def load(path: Union[str, "os.PathLike[str]"], device: Union[_xhal.Device, str, None] = None, *,
         dtype: Optional[str] = None, max_seq: int = 0, max_batch: int = 0,
         tokenizer: Union[None, bool, str, Any] = None) -> Model:
    """Load a Hugging Face Llama folder onto ``device`` (a Device or a spec; default ``cpu:0``).

    ``dtype``: compute dtype (default: the weights'); ``max_seq``: KV cache length (0:
    max_position_embeddings, at most 4096); ``max_batch``: tokens per forward chunk.
    ``tokenizer``: None loads DIR/tokenizer.json when it is there and ``tokenizers`` is
    installed; False loads none; a path loads that file; any other object is used as is
    (it needs ``encode(text).ids`` and ``decode(ids, skip_special_tokens=...)``).
    Bad folders raise the :class:`xhal.Error` subclass with the port's message (the config key
    or tensor that is wrong).
    """
    from . import as_device

    path = os.fspath(path)
    native = _xhal.LlamaModel(as_device(device), path, dtype, int(max_seq), int(max_batch))
    tok: Any = None
    if tokenizer is None:
        if os.path.isfile(os.path.join(path, "tokenizer.json")):
            try:
                tok = load_tokenizer(path)
            except ImportError:
                tok = None
    elif tokenizer is True:
        tok = load_tokenizer(path)
    elif isinstance(tokenizer, (str, os.PathLike)):
        tok = load_tokenizer(tokenizer)
    elif tokenizer is not False:
        tok = tokenizer
    return Model(native, path, tok)
