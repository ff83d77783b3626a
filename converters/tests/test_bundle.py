"""The bundle writer against tailor's reader: round trips per dtype, inspect's verdicts,
and the CLI's error contract on corrupted files."""
import json
import os
import struct

import numpy as np
import pytest

import tailor_bundle as tb

TINY_BERT = {"vocab_size": 8, "hidden_size": 4, "num_hidden_layers": 1, "num_attention_heads": 2,
             "intermediate_size": 8, "max_position_embeddings": 16, "type_vocab_size": 2,
             "layer_norm_eps": 1e-12, "hidden_act": "gelu", "num_labels": 0, "has_pooler": True}
VOCAB = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\n##s\n"


def tiny_bert_tensors(rng):
    H, I = 4, 8
    t = {"embeddings.word_embeddings.weight": (8, H), "embeddings.position_embeddings.weight": (16, H),
         "embeddings.token_type_embeddings.weight": (2, H), "embeddings.LayerNorm.weight": (H,),
         "embeddings.LayerNorm.bias": (H,)}
    p = "encoder.layer.0."
    for m in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
        t[p + m + ".weight"] = (H, H)
        t[p + m + ".bias"] = (H,)
    t.update({p + "attention.output.LayerNorm.weight": (H,), p + "attention.output.LayerNorm.bias": (H,),
              p + "intermediate.dense.weight": (I, H), p + "intermediate.dense.bias": (I,),
              p + "output.dense.weight": (H, I), p + "output.dense.bias": (H,),
              p + "output.LayerNorm.weight": (H,), p + "output.LayerNorm.bias": (H,),
              "pooler.dense.weight": (H, H), "pooler.dense.bias": (H,)})
    return {k: rng.standard_normal(s).astype(np.float32) for k, s in t.items()}


def write_tiny(path, storage="f32", **kw):
    rng = np.random.default_rng(0)
    tensors = tiny_bert_tensors(rng)
    tb.write_bundle(str(path), tensors, arch="bert", config=TINY_BERT, vocab=VOCAB, storage=storage,
                    source={"files": []}, progress=False, **kw)
    return tensors


@pytest.mark.parametrize("storage", ["f32", "f16", "bf16"])
def test_round_trip_per_dtype(tmp_path, run_tailor, storage):
    path = tmp_path / f"tiny-{storage}.safetensors"
    tensors = write_tiny(path, storage)
    # The Python reader and tailor's reader agree, value for value, with the stored dtype's rounding.
    _, back = tb.read_bundle(str(path))
    for name in ("embeddings.word_embeddings.weight", "encoder.layer.0.intermediate.dense.weight"):
        r = run_tailor("inspect", str(path), "--tensor", name, check=True)
        got = json.loads(r.stdout)
        assert got["dtype"] == {"f32": "F32", "f16": "F16", "bf16": "BF16"}[storage]
        assert got["shape"] == list(tensors[name].shape)
        vals = np.array(got["values"], dtype=np.float32).reshape(tensors[name].shape)
        np.testing.assert_array_equal(vals, back[name])
        want = tensors[name]
        if storage == "f16":
            want = want.astype(np.float16).astype(np.float32)
        elif storage == "bf16":
            want = tb.bf16_bits_to_f32(tb.f32_to_bf16_bits(want))
        np.testing.assert_array_equal(vals, want)


def test_bf16_rounding_is_nearest_even():
    x = np.array([1.0 + 2**-8, 1.0 + 3 * 2**-8, -2.0, np.inf, np.nan], dtype=np.float32)
    b = tb.f32_to_bf16_bits(x)
    assert list(b[:4]) == [0x3F80, 0x3F82, 0xC000, 0x7F80]
    assert np.isnan(tb.bf16_bits_to_f32(b[4:]))[0]


def test_inspect_accepts_a_written_bundle(tmp_path, run_tailor):
    path = tmp_path / "tiny.safetensors"
    write_tiny(path)
    r = run_tailor("inspect", str(path), check=True)
    out = r.stdout.decode()
    assert "arch       bert" in out
    assert "validation OK" in out
    assert "encoder.layer.0.attention.self.query.weight" in out
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
    assert (8 + n) % 64 == 0  # data section aligned


def test_writer_is_atomic_and_records_source(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"abc")
    rec = tb.source_record([str(src)], progress=False)
    assert rec["files"][0]["sha256"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    path = tmp_path / "out.safetensors"
    write_tiny(path, untrained=["text"], transforms=["none"])
    meta, _ = tb.read_bundle(str(path))
    assert json.loads(meta["tailor.untrained"]) == ["text"]
    assert not [p for p in os.listdir(tmp_path) if ".tmp" in p]


def corrupt_variants(good: bytes):
    n = struct.unpack("<Q", good[:8])[0]
    header = good[8:8 + n]
    yield "empty", b""
    yield "truncated header", good[: 8 + n // 2]
    yield "truncated data", good[:-3]
    yield "trailing bytes", good + b"\0" * 4
    yield "huge header length", struct.pack("<Q", 2**62) + good[8:]
    yield "header bit flip", good[:8] + header.replace(b'"F32"', b'"F31"', 1) + good[8 + n:]
    yield "git lfs pointer", b"version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 12\n"
    yield "html page", b"<!DOCTYPE html><html><body>Not Found</body></html>"
    yield "shape edit", good[:8] + header.replace(b"[8,4]", b"[8,5]", 1) + good[8 + n:]


def test_inspect_refuses_corrupted_files(tmp_path, run_tailor):
    path = tmp_path / "good.safetensors"
    write_tiny(path)
    good = path.read_bytes()
    for what, data in corrupt_variants(good):
        bad = tmp_path / "bad.safetensors"
        bad.write_bytes(data)
        r = run_tailor("inspect", str(bad))
        err = r.stderr.decode()
        assert r.returncode == 1, (what, r.returncode, err)
        assert err.startswith("tailor: error: "), (what, err)
        assert err.count("\n") == 1, (what, err)
    lfs = tmp_path / "lfs.safetensors"
    lfs.write_bytes(b"version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 12\n")
    assert "Git LFS pointer" in run_tailor("inspect", str(lfs)).stderr.decode()


def test_cli_contract(run_tailor):
    r = run_tailor("--help")
    assert r.returncode == 0 and b"inspect" in r.stdout
    r = run_tailor("inspect", "--help")
    assert r.returncode == 0 and b"usage: tailor inspect" in r.stdout
    # Every command prints its help alone, whatever it otherwise requires.
    commands = [ln.split()[0] for ln in run_tailor("--help").stdout.decode().split("commands:")[1].splitlines()
                if ln.startswith("  ") and ln.split()]
    assert {"score", "rank", "embed", "classify"} <= set(commands), commands
    for cmd in commands:
        r = run_tailor(cmd, "--help")
        assert r.returncode == 0 and f"usage: tailor {cmd}".encode() in r.stdout, (cmd, r.stderr)
    r = run_tailor("inspect", "/nonexistent.safetensors")
    assert r.returncode == 1 and r.stderr.startswith(b"tailor: error: /nonexistent.safetensors: cannot open")
    r = run_tailor("inspect", "--bogus", "x")
    assert r.returncode == 2 and b"unknown option '--bogus'" in r.stderr
    r = run_tailor("frobnicate")
    assert r.returncode == 2 and b"unknown command" in r.stderr
    r = run_tailor("inspect")
    assert r.returncode == 2 and b"missing arguments" in r.stderr


def test_convert_help_lists_subcommands():
    import subprocess
    import sys
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, os.path.join(here, "convert.py"), "--help"], capture_output=True, timeout=120)
    assert r.returncode == 0
    assert b"usage: convert.py" in r.stdout
