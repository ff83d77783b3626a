"""`tailor tokenize` against HF BertTokenizerFast, line for line (DESIGN.md's contract).

Feeds texts of the parity corpus ($TAILOR_FIXTURES/tokenizer/texts.hex, built by the
tokenizer_fixtures test) to the CLI as stdin lines and compares every JSON line with what
BertTokenizerFast gives for that line (decoded with errors="replace"), with --vocab and with
--weights (a bundle carrying the vocab and tokenizer flags), lowercased and not, with
--max-length, and with --pairs. Run by ctest as test_text_cli (labels python, parity).
"""
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

FIXTURES = os.path.join(os.environ.get("TAILOR_FIXTURES", "fixtures"), "tokenizer")


@pytest.fixture(scope="module")
def corpus():
    path = os.path.join(FIXTURES, "texts.hex")
    if not os.path.exists(path):
        pytest.fail(f"{path} is missing: run the tokenizer_fixtures test first")
    with open(path) as f:
        texts = [bytes.fromhex(line.strip()) for line in f]
    # A stdin line cannot hold "\n"; keep every third text for time.
    return [t for t in texts[::3] if b"\n" not in t]


@pytest.fixture(scope="module")
def hf():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from transformers import BertTokenizerFast
    from tokenizer_parity import minilm_dir
    d = minilm_dir()
    return {"dir": d, "uncased": BertTokenizerFast.from_pretrained(d),
            "cased": BertTokenizerFast.from_pretrained(d, do_lower_case=False)}


def tailor_bin():
    path = os.environ.get("TAILOR_BIN")
    assert path and os.path.exists(path), "set TAILOR_BIN to the built tailor executable (ctest does)"
    return path


def run_cli(args, stdin: bytes):
    r = subprocess.run([tailor_bin(), "tokenize", *args], input=stdin, capture_output=True, timeout=600)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    out = r.stdout.decode("utf-8").split("\n")
    assert out[-1] == ""
    return [json.loads(x) for x in out[:-1]]


def expected(tok, a: bytes, b: bytes | None, max_length: int):
    sa = a.decode("utf-8", errors="replace")
    args = (sa,) if b is None else (sa, b.decode("utf-8", errors="replace"))
    e = tok(*args, truncation=True, max_length=max_length, return_offsets_mapping=True)
    return {"input_ids": e["input_ids"], "token_type_ids": e["token_type_ids"],
            "attention_mask": e["attention_mask"], "offsets": [list(o) for o in e["offset_mapping"]]}


def compare(got, want_fn, items):
    assert len(got) == len(items), f"{len(got)} output lines for {len(items)} input lines"
    bad = [(i, it) for i, (g, it) in enumerate(zip(got, items)) if g != want_fn(it)]
    assert not bad, f"{len(bad)} of {len(items)} lines differ; first: {bad[0][1]!r}: " \
                    f"tailor {got[bad[0][0]]} vs HF {want_fn(bad[0][1])}"


@pytest.mark.parametrize("cased", [False, True])
def test_lines_match_bert_tokenizer_fast(corpus, hf, cased):
    lines = corpus + [b"", b"  ", b"last line\r"]
    args = ["--vocab", os.path.join(hf["dir"], "vocab.txt")] + (["--no-lower-case"] if cased else [])
    got = run_cli(args, b"\n".join(lines) + b"\n")
    tok = hf["cased" if cased else "uncased"]
    compare(got, lambda t: expected(tok, t, None, 512), lines)


def test_max_length_and_no_final_newline(corpus, hf):
    lines = corpus[:1500]
    got = run_cli(["--vocab", os.path.join(hf["dir"], "vocab.txt"), "--max-length", "9"], b"\n".join(lines))
    compare(got, lambda t: expected(hf["uncased"], t, None, 9), lines)


def test_pairs(corpus, hf):
    items = [(a, b) for a, b in zip(corpus[0::2], corpus[1::2]) if b"\t" not in a][:2000]
    items += [(b"only a", b""), (b"", b"only b"), (b"", b"")]
    stdin = b"".join(a + b"\t" + b + b"\n" for a, b in items) + b"no tab here\n"
    got = run_cli(["--vocab", os.path.join(hf["dir"], "vocab.txt"), "--pairs", "--max-length", "32"], stdin)
    want = [expected(hf["uncased"], a, b if b else None, 32) for a, b in items]
    want.append(expected(hf["uncased"], b"no tab here", None, 32))
    assert len(got) == len(want)
    bad = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
    assert not bad, f"{len(bad)} pairs differ; first: {items[bad[0]] if bad[0] < len(items) else 'no tab'}"


def test_weights_bundle(tmp_path, corpus, hf):
    import numpy as np
    from tailor_bundle import write_bundle
    with open(os.path.join(hf["dir"], "vocab.txt"), encoding="utf-8") as f:
        vocab = f.read()
    with open(os.path.join(hf["dir"], "config.json")) as f:
        config = json.load(f)
    config["tokenizer"] = {"do_lower_case": False, "strip_accents": None, "tokenize_chinese_chars": True,
                           "model_max_length": 512}
    path = str(tmp_path / "tok.safetensors")
    write_bundle(path, {"pooler.dense.bias": np.zeros(config["hidden_size"], np.float32)}, arch="bert",
                 config=config, vocab=vocab, progress=False)
    lines = corpus[:800]
    got = run_cli(["--weights", path], b"\n".join(lines) + b"\n")  # flags from the bundle: cased
    compare(got, lambda t: expected(hf["cased"], t, None, 512), lines)


def test_usage_errors(hf):
    r = subprocess.run([tailor_bin(), "tokenize"], capture_output=True, timeout=60)
    assert r.returncode == 2 and b"tailor: error:" in r.stderr
    r = subprocess.run([tailor_bin(), "tokenize", "--vocab", "/nonexistent/vocab.txt"], input=b"x\n",
                       capture_output=True, timeout=60)
    assert r.returncode == 1 and b"tailor: error:" in r.stderr
    r = subprocess.run([tailor_bin(), "tokenize", "--help"], capture_output=True, timeout=60)
    assert r.returncode == 0 and b"--pairs" in r.stdout
