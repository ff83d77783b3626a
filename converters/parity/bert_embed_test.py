"""`tailor embed` (text in, embeddings out: tokenizer + BERT) against the real frameworks.

On the BERT parity fixtures ($TAILOR_FIXTURES/bert, built by the bert_fixtures test from
converters/make_bert_fixtures.py): the real all-MiniLM-L6-v2 converted from its
sentence-transformers folder, and 200+ real sentences in 19 languages (+ long texts that hit
the 256-token limit). Checks, for every text:
  - the default embedding (the bundle's mean pooling + Normalize) against
    sentence-transformers' encode(): cosine >= 0.99999 and max abs diff <= 1e-4;
  - --pooling none (last_hidden_state, every token) against transformers' BertModel;
  - the batch size changes nothing (bit-identical output);
and, on the random BERT-base bundle, --pooling pooler / cls against transformers.
Run by ctest as test_bert_cli (labels python, parity).
"""
import json
import os
import subprocess

import numpy as np
import pytest

FIXTURES = os.path.join(os.environ.get("TAILOR_FIXTURES", "fixtures"), "bert")


def need(path):
    if not os.path.exists(path):
        pytest.fail(f"{path} is missing: run the bert_fixtures test first")
    return path


@pytest.fixture(scope="module")
def texts():
    with open(need(os.path.join(FIXTURES, "texts.txt")), encoding="utf-8") as f:
        t = f.read().split("\n")
    assert t[-1] == ""
    t = t[:-1]
    assert len(t) >= 200
    return t


def ref(name):
    from safetensors.numpy import load_file
    return load_file(need(os.path.join(FIXTURES, f"{name}_ref.safetensors")))


def embed(*args, data: bytes):
    tailor = os.environ["TAILOR_BIN"]
    r = subprocess.run([tailor, "embed", *args], input=data, capture_output=True, timeout=900)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    return [json.loads(line) for line in r.stdout.decode().splitlines()]


def test_minilm_sentence_embeddings_match_sentence_transformers(texts):
    r = ref("minilm")
    data = ("\n".join(texts) + "\n").encode()
    got = embed("--weights", os.path.join(FIXTURES, "minilm.safetensors"), "--threads", "2", data=data)
    assert len(got) == len(texts)
    emb = np.array([g["embedding"] for g in got], dtype=np.float64)
    want = np.stack([r[f"st.{i}"] for i in range(len(texts))]).astype(np.float64)
    cos = (emb * want).sum(1) / np.linalg.norm(emb, axis=1) / np.linalg.norm(want, axis=1)
    print(f"tailor embed vs sentence-transformers, {len(texts)} texts: min cosine {cos.min():.9f}, "
          f"max abs diff {np.abs(emb - want).max():.2e}")
    assert cos.min() >= 0.99999
    assert np.abs(emb - want).max() <= 1e-4
    # Any batch size gives the same bytes.
    again = embed("--weights", os.path.join(FIXTURES, "minilm.safetensors"), "--batch-size", "7", "--threads", "1",
                  data=data)
    assert again == got


def test_minilm_last_hidden_state_matches_transformers(texts):
    r = ref("minilm")
    data = ("\n".join(texts) + "\n").encode()
    got = embed("--weights", os.path.join(FIXTURES, "minilm.safetensors"), "--pooling", "none", data=data)
    worst = 0.0
    for i, g in enumerate(got):
        h = np.array(g["last_hidden_state"], dtype=np.float32)
        want = r[f"hidden.{i}"]
        assert h.shape == want.shape, f"text {i}: {h.shape} tokens vs transformers' {want.shape}"
        worst = max(worst, float(np.abs(h - want).max()))
    print(f"tailor embed --pooling none vs transformers: max abs diff {worst:.2e}")
    assert worst <= 1e-4


def test_bert_base_pooler_and_cls(texts):
    """The random BERT-base saw texts of its own; use them through the CLI."""
    from safetensors import safe_open
    r = ref("base")
    with safe_open(os.path.join(FIXTURES, "base_ref.safetensors"), "np") as f:
        meta_texts = json.loads(f.metadata()["texts"])
    data = ("\n".join(meta_texts) + "\n").encode()
    bundle = os.path.join(FIXTURES, "base.safetensors")
    pooled = embed("--weights", bundle, "--pooling", "pooler", data=data)
    cls = embed("--weights", bundle, "--pooling", "cls", data=data)
    for i in range(len(meta_texts)):
        np.testing.assert_allclose(np.array(pooled[i]["embedding"]), r[f"pooled.{i}"], atol=1e-4, rtol=0)
        np.testing.assert_allclose(np.array(cls[i]["embedding"]), r[f"hidden.{i}"][0], atol=1e-4, rtol=0)
