"""The Llama-family port from Python: ids against the committed reference, and text in/out
through a tokenizer.json built here with Hugging Face's `tokenizers`."""
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

import xhal
import xhal.llama

from conftest import REFERENCE

F32 = REFERENCE / "tiny-llama-f32"


def test_generate_matches_reference(dev):
    ref = json.loads((F32 / "reference.json").read_text())
    m = xhal.llama.load(F32, dev)
    assert m.config["vocab_size"] == 300 and m.weight_dtype == "f32" and m.tokenizer is None
    ids, pl, gl = m.generate(ref["prompt"], len(ref["generated"]), return_logits=True)
    assert ids == ref["generated"]
    np.testing.assert_allclose(pl, np.load(F32 / "logits_prompt.npy"), rtol=1e-3, atol=1e-3)
    assert pl.shape == (len(ref["prompt"]), 300) and gl.shape == (len(ref["generated"]), 300)
    m.reset()
    last = m.forward(ref["prompt"])
    assert m.position == len(ref["prompt"]) and last.shape == (300,)
    np.testing.assert_allclose(last, pl[-1], rtol=1e-4, atol=1e-4)
    m.close()
    with pytest.raises(RuntimeError, match="closed"):
        m.generate([1], 1)


def test_bad_model_folders(tmp_path, cpu):
    with pytest.raises(xhal.Error) as e:
        xhal.llama.load(tmp_path, cpu)
    assert "config.json" in str(e.value)
    shutil.copy(F32 / "config.json", tmp_path / "config.json")
    cfg = json.loads((F32 / "config.json").read_text())
    cfg["num_attention_heads"] = 3
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(xhal.Error, match="num_attention_heads|head"):
        xhal.llama.load(tmp_path, cpu)
    m = xhal.llama.load(F32, cpu)
    with pytest.raises(xhal.Error, match="300|vocab|range"):
        m.generate([1, 300], 2)
    with pytest.raises(RuntimeError, match="tokenizer"):
        m.generate_text("hello", 2)


def _tiny_tokenizer(path):
    """A byte-level BPE of exactly 300 ids (the reference model's vocab), trained here."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    text = ["Once upon a time there was a little robot who loved to read stories about the sea.",
            "The robot read every day, and the stories made the little robot happy and curious."] * 20
    tok.train_from_iterator(text, trainer)
    assert tok.get_vocab_size() == 300
    tok.save(str(path))
    return tok


def test_text_in_text_out(tmp_path):
    pytest.importorskip("tokenizers")
    model = tmp_path / "tiny"
    shutil.copytree(F32, model)
    tok = _tiny_tokenizer(model / "tokenizer.json")
    prompt = "Once upon a time"
    m = xhal.llama.load(model, "cpu:0")
    assert m.tokenizer is not None
    ids = m.encode(prompt)
    assert ids == tok.encode(prompt).ids and max(ids) < 300
    gen = m.generate(ids, 12)
    want = tok.decode(gen[: gen.index(2)] if 2 in gen else gen, skip_special_tokens=True)
    assert m.generate_text(prompt, 12) == want
    p = subprocess.run([sys.executable, "-m", "xhal.run", "--model", str(model), "--prompt", prompt,
                        "--generate", "12"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stdout == want + "\n"
    assert "prefill" in p.stderr
    # ids in, ids out, like the xhal-run tool
    p = subprocess.run([sys.executable, "-m", "xhal.run", "--model", str(model), "--tokens",
                        ",".join(map(str, ids)), "--generate", "12", "--quiet"], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.strip() == ",".join(map(str, gen))
    t = subprocess.run([xhal.tool_path("xhal-run"), "--model", str(model), "--tokens", ",".join(map(str, ids)),
                        "--generate", "12", "--quiet"], capture_output=True, text=True)
    assert t.returncode == 0 and t.stdout.strip() == ",".join(map(str, gen))


def test_run_without_tokenizer_says_so(tmp_path):
    p = subprocess.run([sys.executable, "-m", "xhal.run", "--model", str(F32), "--prompt", "hi"],
                       capture_output=True, text=True)
    assert p.returncode == 1 and "tokenizer" in p.stderr
    p = subprocess.run([sys.executable, "-m", "xhal.run", "--model", str(F32)], capture_output=True, text=True)
    assert p.returncode == 2


def test_tokenizer_from_llama2c(tmp_path):
    pytest.importorskip("tokenizers")
    import struct

    # a llama2.c tokenizer.bin: <unk> <s> </s>, 256 byte tokens, then BPE pieces by score
    pieces = [("<unk>", 0.0), ("\n<s>\n", 0.0), ("\n</s>\n", 0.0)]
    pieces += [(f"<0x{b:02X}>", 0.0) for b in range(256)]
    pieces += [(" ", -1.0), ("a", -2.0), ("b", -3.0), ("c", -4.0), (" a", -5.0), ("bc", -6.0), (" abc", -7.0)]
    blob = struct.pack("<i", 8) + b"".join(struct.pack("<fi", s, len(p.encode())) + p.encode() for p, s in pieces)
    (tmp_path / "tok.bin").write_bytes(blob)
    tok = xhal.llama.tokenizer_from_llama2c(tmp_path / "tok.bin", tmp_path / "tokenizer.json")
    ids = tok.encode("abc a").ids
    names = [pieces[i][0] for i in ids]
    assert names[0] == "\n<s>\n" and names[1:] == [" abc", " a"]
    assert tok.decode(ids, skip_special_tokens=True) == "abc a"
    assert tok.decode(tok.encode("x\n").ids, skip_special_tokens=True) == "x\n"  # byte fallback
    assert (tmp_path / "tokenizer.json").is_file()
    with pytest.raises(xhal.CorruptDataError, match="past the end"):
        (tmp_path / "cut.bin").write_bytes(blob[:-3])
        xhal.llama.tokenizer_from_llama2c(tmp_path / "cut.bin", tmp_path / "t2.json")
    with pytest.raises(xhal.CorruptDataError, match="the model has 400"):
        xhal.llama.tokenizer_from_llama2c(tmp_path / "tok.bin", tmp_path / "t3.json", vocab_size=400)
