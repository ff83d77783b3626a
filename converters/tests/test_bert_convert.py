"""convert.py bert on small Hugging Face checkpoints made here: every accepted layout
(BertModel safetensors / pytorch_model.bin, BertForSequenceClassification, BertForMaskedLM,
sentence-transformers folders), the recorded config / tokenizer flags / pooling, storage
dtypes, the errors for what it refuses, and `tailor embed` on the result against transformers."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import tailor_bundle as tb

HERE = os.path.dirname(os.path.abspath(__file__))
CONVERT = os.path.join(os.path.dirname(HERE), "convert.py")
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "##s", "the", "a", "red", "dress", ",", "!",
         "summer", "é", "cafe"] + [f"w{i}" for i in range(47)]


def small_config(**kw):
    from transformers import BertConfig
    args = dict(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                intermediate_size=64, max_position_embeddings=40)
    args.update(kw)
    return BertConfig(**args)


def save_model(path, cls="BertModel", seed=0, safe=True, lower=True, strip_accents=None, max_len=40, **kw):
    import torch
    import transformers
    torch.manual_seed(seed)
    model = getattr(transformers, cls)(small_config(**kw)).eval()
    model.save_pretrained(path)
    if not safe:  # the older PyTorch pickle format (transformers 5 writes safetensors only)
        os.remove(os.path.join(path, "model.safetensors"))
        torch.save(model.state_dict(), os.path.join(path, "pytorch_model.bin"))
    with open(os.path.join(path, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(VOCAB) + "\n")
    tc = {"do_lower_case": lower, "tokenize_chinese_chars": True, "model_max_length": max_len,
          "tokenizer_class": "BertTokenizer"}
    if strip_accents is not None:
        tc["strip_accents"] = strip_accents
    with open(os.path.join(path, "tokenizer_config.json"), "w") as f:
        json.dump(tc, f)
    return model


def convert(src, out, *extra):
    return subprocess.run([sys.executable, CONVERT, "bert", str(src), str(out), "--quiet", *extra],
                          capture_output=True, text=True, timeout=300)


def converted(tmp_path, **kw):
    src = tmp_path / "hf"
    model = save_model(src, **kw)
    out = tmp_path / "out.safetensors"
    r = convert(src, out)
    assert r.returncode == 0, r.stderr
    meta, tensors = tb.read_bundle(str(out))
    return model, out, json.loads(meta["tailor.config"]), meta, tensors


def test_bert_model_safetensors(tmp_path, run_tailor):
    model, out, cfg, meta, tensors = converted(tmp_path)
    assert meta["tailor.arch"] == "bert"
    assert cfg["num_labels"] == 0 and cfg["has_pooler"] is True
    assert cfg["tailor"] == {"pooling": "cls", "normalize": False}
    assert cfg["tokenizer"] == {"do_lower_case": True, "tokenize_chinese_chars": True, "model_max_length": 40}
    assert meta["tailor.vocab"] == "\n".join(VOCAB) + "\n"
    sd = model.state_dict()
    for k, v in sd.items():
        if k.endswith("position_ids"):
            continue
        np.testing.assert_array_equal(tensors[k], v.numpy())
    assert "embeddings.position_ids" not in tensors
    src = json.loads(meta["tailor.source"])
    assert {f["file"] for f in src["files"]} >= {"config.json", "model.safetensors", "vocab.txt"}
    r = run_tailor("inspect", str(out), "--no-tensors", check=True)
    assert b"validation OK" in r.stdout


def test_pytorch_model_bin(tmp_path, run_tailor):
    model, out, cfg, meta, tensors = converted(tmp_path, safe=False, cls="BertForSequenceClassification", num_labels=2)
    assert not os.path.exists(tmp_path / "hf" / "model.safetensors")
    assert cfg["num_labels"] == 2
    np.testing.assert_array_equal(tensors["pooler.dense.weight"],
                                  model.state_dict()["bert.pooler.dense.weight"].numpy())
    assert json.loads(meta["tailor.source"])["files"][1]["file"] == "pytorch_model.bin"
    run_tailor("inspect", str(out), "--no-tensors", check=True)


def test_sequence_classification_strips_the_prefix(tmp_path, run_tailor):
    model, out, cfg, meta, tensors = converted(tmp_path, cls="BertForSequenceClassification", num_labels=5,
                                               hidden_act="gelu_new")
    assert cfg["num_labels"] == 5 and cfg["hidden_act"] == "gelu_new"
    assert "classifier.weight" in tensors and tensors["classifier.weight"].shape == (5, 32)
    assert not any(k.startswith("bert.") for k in tensors)
    np.testing.assert_array_equal(tensors["encoder.layer.1.output.dense.weight"],
                                  model.state_dict()["bert.encoder.layer.1.output.dense.weight"].numpy())
    r = run_tailor("inspect", str(out), "--no-tensors", check=True)
    assert b"classifier 5" in r.stdout


def test_masked_lm_keeps_the_encoder_only(tmp_path, run_tailor):
    _, out, cfg, meta, tensors = converted(tmp_path, cls="BertForMaskedLM")
    assert cfg["has_pooler"] is False and cfg["num_labels"] == 0
    assert not any(k.startswith("cls.") for k in tensors)
    assert "dropped" in json.loads(meta["tailor.source"])["note"]
    run_tailor("inspect", str(out), "--no-tensors", check=True)


@pytest.mark.parametrize("storage,dtype", [("f16", "F16"), ("bf16", "BF16")])
def test_storage_dtypes(tmp_path, run_tailor, storage, dtype):
    src = tmp_path / "hf"
    save_model(src)
    out = tmp_path / f"{storage}.safetensors"
    r = convert(src, out, "--dtype", storage)
    assert r.returncode == 0, r.stderr
    got = json.loads(run_tailor("inspect", str(out), "--tensor", "pooler.dense.bias", check=True).stdout)
    assert got["dtype"] == dtype


def test_tokenizer_flags(tmp_path):
    _, _, cfg, _, _ = converted(tmp_path, lower=False, strip_accents=True, max_len=int(1e30))
    # HF's "no limit" sentinel becomes the position table's size.
    assert cfg["tokenizer"] == {"do_lower_case": False, "strip_accents": True, "tokenize_chinese_chars": True,
                                "model_max_length": 40}


def make_sentence_transformers(tmp_path, pooling="mean", normalize=True, max_seq=24):
    st = tmp_path / "st"
    save_model(st, seed=3)
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
    with open(st / "modules.json", "w") as f:
        json.dump(modules, f)
    os.makedirs(st / "1_Pooling")
    with open(st / "1_Pooling" / "config.json", "w") as f:
        json.dump({"word_embedding_dimension": 32, "pooling_mode_cls_token": pooling == "cls",
                   "pooling_mode_mean_tokens": pooling == "mean", "pooling_mode_max_tokens": pooling == "max",
                   "pooling_mode_mean_sqrt_len_tokens": False}, f)
    with open(st / "sentence_bert_config.json", "w") as f:
        json.dump({"max_seq_length": max_seq, "do_lower_case": False}, f)
    return st


@pytest.mark.parametrize("pooling,normalize", [("mean", True), ("cls", False)])
def test_sentence_transformers_folder(tmp_path, run_tailor, pooling, normalize):
    st = make_sentence_transformers(tmp_path, pooling, normalize)
    out = tmp_path / "st.safetensors"
    r = convert(st, out)
    assert r.returncode == 0, r.stderr
    meta, _ = tb.read_bundle(str(out))
    cfg = json.loads(meta["tailor.config"])
    assert cfg["tailor"] == {"pooling": pooling, "normalize": normalize}
    assert cfg["tokenizer"]["model_max_length"] == 24  # sentence-transformers' max_seq_length caps it
    # tailor embed with the bundle's defaults = sentence-transformers' encode().
    from sentence_transformers import SentenceTransformer
    texts = ["hello world", "The red summer dress!", "", "w1 w2 w3 " * 20, "Café, hello worlds"]
    want = SentenceTransformer(str(st), device="cpu").encode(texts, convert_to_numpy=True)
    r = run_tailor("embed", "--weights", str(out), input="\n".join(texts).encode() + b"\n", check=True)
    got = np.array([json.loads(l)["embedding"] for l in r.stdout.decode().splitlines()], dtype=np.float32)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


def test_max_pooling_is_refused(tmp_path):
    st = make_sentence_transformers(tmp_path, "max", False)
    r = convert(st, tmp_path / "x.safetensors")
    assert r.returncode == 1
    assert "pooling" in r.stderr and "not supported" in r.stderr


def test_embed_cli_against_transformers(tmp_path, run_tailor):
    import torch
    from transformers import BertModel, BertTokenizerFast
    model, out, *_ = converted(tmp_path)
    tok = BertTokenizerFast.from_pretrained(str(tmp_path / "hf"))
    texts = ["hello world", "The RED dress, hello!", "w5 w6 w7 w8 w9 w10 " * 10]
    with torch.no_grad():
        enc = tok(texts, padding=True, truncation=True, max_length=40, return_tensors="pt")
        o = model(**enc)
    data = ("\n".join(texts) + "\n").encode()
    # --pooling none: every token's row.
    r = run_tailor("embed", "--weights", str(out), "--pooling", "none", input=data, check=True)
    for i, line in enumerate(r.stdout.decode().splitlines()):
        h = np.array(json.loads(line)["last_hidden_state"], dtype=np.float32)
        n = int(enc["attention_mask"][i].sum())
        assert h.shape == (n, 32)
        np.testing.assert_allclose(h, o.last_hidden_state[i, :n].numpy(), atol=1e-5, rtol=0)
    # pooler, normalised; and cls.
    r = run_tailor("embed", "--weights", str(out), "--pooling", "pooler", "--normalize", "--batch-size", "2",
                   input=data, check=True)
    got = np.array([json.loads(l)["embedding"] for l in r.stdout.decode().splitlines()])
    want = torch.nn.functional.normalize(o.pooler_output, dim=1).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    r = run_tailor("embed", "--weights", str(out), "--pooling", "cls", "--max-length", "4", input=b"hello world the a red\n",
                   check=True)
    e = tok(["hello world the a red"], truncation=True, max_length=4, return_tensors="pt")
    with torch.no_grad():
        want = model(**e).last_hidden_state[0, 0].numpy()
    np.testing.assert_allclose(np.array(json.loads(r.stdout)["embedding"]), want, atol=1e-5, rtol=0)


def test_embed_cli_errors(tmp_path, run_tailor):
    _, out, *_ = converted(tmp_path, cls="BertForMaskedLM")  # no pooler
    r = run_tailor("embed", "--weights", str(out), "--pooling", "pooler", input=b"hi\n")
    assert r.returncode == 2 and b"no pooler" in r.stderr
    r = run_tailor("embed", "--weights", str(out), "--max-length", "41", input=b"hi\n")
    assert r.returncode == 2 and b"positions" in r.stderr
    r = run_tailor("embed", "--weights", str(out), "--pooling", "max", input=b"hi\n")
    assert r.returncode != 0 and b"tailor: error:" in r.stderr
    r = run_tailor("embed", "--weights", str(tmp_path / "missing.safetensors"), input=b"hi\n")
    assert r.returncode == 1 and b"tailor: error:" in r.stderr
    r = run_tailor("embed", input=b"hi\n")
    assert r.returncode == 2 and b"--weights" in r.stderr
    r = run_tailor("embed", "--help", check=True)
    assert b"--pooling" in r.stdout


def test_refuses_non_bert_checkpoints(tmp_path):
    from transformers import GPT2Config, GPT2Model
    src = tmp_path / "gpt2"
    GPT2Model(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=50, n_positions=16)).save_pretrained(src)
    r = convert(src, tmp_path / "x.safetensors")
    assert r.returncode == 1
    assert "model_type is 'gpt2'" in r.stderr and "BERT" in r.stderr
    assert not os.path.exists(tmp_path / "x.safetensors")


def test_clear_errors_for_broken_folders(tmp_path):
    r = convert(tmp_path / "nowhere", tmp_path / "x.safetensors")
    assert r.returncode == 1 and "not a folder" in r.stderr
    src = tmp_path / "hf"
    save_model(src)
    # vocab / config disagreement
    with open(src / "vocab.txt", "a") as f:
        f.write("extra\n")
    r = convert(src, tmp_path / "x.safetensors")
    assert r.returncode == 1 and "vocab_size" in r.stderr
    # no vocab at all
    os.remove(src / "vocab.txt")
    r = convert(src, tmp_path / "x.safetensors")
    assert r.returncode == 1 and "no vocab.txt or tokenizer.json" in r.stderr
    # no weights
    save_model(tmp_path / "hf2")
    os.remove(tmp_path / "hf2" / "model.safetensors")
    r = convert(tmp_path / "hf2", tmp_path / "x.safetensors")
    assert r.returncode == 1 and "no model.safetensors or pytorch_model.bin" in r.stderr
    # a Git LFS pointer saved instead of the weights
    save_model(tmp_path / "hf3")
    with open(tmp_path / "hf3" / "model.safetensors", "w") as f:
        f.write("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n")
    r = convert(tmp_path / "hf3", tmp_path / "x.safetensors")
    assert r.returncode == 1 and "model.safetensors" in r.stderr
    # an unsupported activation
    save_model(tmp_path / "hf4", hidden_act="silu")
    r = convert(tmp_path / "hf4", tmp_path / "x.safetensors")
    assert r.returncode == 1 and "hidden_act" in r.stderr
    assert not os.path.exists(tmp_path / "x.safetensors")
