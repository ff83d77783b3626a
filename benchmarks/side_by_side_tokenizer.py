#!/usr/bin/env python3
"""tailor's WordPiece tokenizer vs HF tokenizers, same texts, same vocab, one thread, one run.

    .venv/bin/python benchmarks/side_by_side_tokenizer.py [--bench build/benchmarks/bench_text]

Corpora (written to a temporary directory, one text a line): English prose (Debian's
English man pages) and multilingual prose (the translated man pages and message catalogs
of the parity corpus: French, German, Russian, Japanese, Chinese, Korean, Arabic, Thai...).
Each text is decoded with errors="replace" first, so both sides see the same characters.

HF: tokenizers.Tokenizer.from_file(all-MiniLM-L6-v2's tokenizer.json), truncation and
padding off, RAYON_NUM_THREADS=1: `encode(text)` per text, and `encode_batch(texts)`. Also,
for reference, transformers' BertTokenizerFast.__call__ per text (what most Python code
calls; it adds Python overhead per call).
tailor: bench_text's BM_text_encode (encode() per text) and BM_text_encode_batch (one
encode_batch() call), truncation off, on the same file.

Both sides are timed by CPU time (time.process_time here, Google Benchmark's CPU time
there: this machine is shared, and wall time measures the neighbours too); wall-clock ratios
are printed as well. Each figure is the median of --repeats runs. tokens/s counts every id
of every encoding, [CLS]/[SEP] included, and the script checks that both sides produce the
same number of tokens.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

os.environ["RAYON_NUM_THREADS"] = "1"          # before tokenizers is imported
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "converters"))


def corpora(n_lines: int):
    from tokenizer_parity import MAN_LANGS, man_page_texts, mo_texts
    rng = random.Random(2024)
    en = man_page_texts(n_lines, rng, langs=[""], max_files=4000).get("man-en", [])
    multi = []
    for lines in list(man_page_texts(n_lines // 20, rng, langs=MAN_LANGS).values()) + \
            list(mo_texts(n_lines // 40, rng).values()):
        multi.extend(lines)
    rng.shuffle(multi)
    dec = lambda lines: [b.decode("utf-8", errors="replace").replace("\r", " ") for b in lines]
    return {"english": dec(en), "multilingual": dec(multi[:n_lines])}


def time_hf(tok, bert_fast, lines, repeats):
    res = {}
    for name, fn in (("encode", lambda: sum(len(tok.encode(t).ids) for t in lines)),
                     ("encode_batch", lambda: sum(len(e.ids) for e in tok.encode_batch(lines))),
                     ("BertTokenizerFast()", lambda: sum(len(bert_fast(t)["input_ids"]) for t in lines))):
        cpu, wall, tokens = [], [], 0
        for _ in range(repeats):
            c0, w0 = time.process_time(), time.perf_counter()
            tokens = fn()
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
        res[name] = dict(tokens=tokens, cpu=statistics.median(cpu), wall=statistics.median(wall))
    return res


def time_tailor(bench, path, repeats):
    env = dict(os.environ, TAILOR_BENCH_TEXT=path)
    r = subprocess.run([bench, "--benchmark_filter=BM_text_encode(_batch)?$", f"--benchmark_repetitions={repeats}",
                        "--benchmark_format=json", "--benchmark_min_time=0.5"],
                       env=env, capture_output=True, text=True, timeout=1200)
    if r.returncode != 0:
        raise SystemExit(f"{bench} failed:\n{r.stderr}")
    out = {}
    for b in json.loads(r.stdout)["benchmarks"]:
        if b.get("run_type") != "aggregate" or b.get("aggregate_name") != "median":
            continue
        name = "encode_batch" if "batch" in b["run_name"] else "encode"
        scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]
        out[name] = dict(tokens=int(b["tokens"]), cpu=b["cpu_time"] * scale, wall=b["real_time"] * scale)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", default=os.path.join(ROOT, "build", "benchmarks", "bench_text"))
    ap.add_argument("--lines", type=int, default=20000, help="texts per corpus")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    if not os.path.exists(args.bench):
        raise SystemExit(f"{args.bench} not found: cmake --build build --target bench_text")

    from tokenizers import Tokenizer
    from transformers import BertTokenizerFast
    from tokenizer_parity import minilm_dir
    import tokenizers
    tok = Tokenizer.from_file(os.path.join(minilm_dir(), "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    bert_fast = BertTokenizerFast.from_pretrained(minilm_dir())

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, lines in corpora(args.lines).items():
            path = os.path.join(tmp, name + ".txt")
            with open(path, "w", encoding="utf-8") as f:
                f.write("".join(l + "\n" for l in lines))
            nbytes = sum(len(l.encode()) for l in lines)
            hf = time_hf(tok, bert_fast, lines, args.repeats)
            ta = time_tailor(args.bench, path, args.repeats)
            for mode in ("encode", "encode_batch"):
                if hf[mode]["tokens"] != ta[mode]["tokens"]:
                    raise SystemExit(f"{name}/{mode}: HF made {hf[mode]['tokens']} tokens, tailor {ta[mode]['tokens']}")
                rows.append((name, len(lines), nbytes, mode, hf[mode], ta[mode]))
            rows.append((name, len(lines), nbytes, "BertTokenizerFast()", hf["BertTokenizerFast()"], ta["encode"]))

    print(f"\ntokenizers {tokenizers.__version__}, RAYON_NUM_THREADS=1, tailor {os.path.relpath(args.bench, ROOT)}; "
          f"medians of {args.repeats} runs; M tok/s by CPU time (wall in brackets)\n")
    print(f"| corpus | texts | MB | HF call | HF M tok/s | tailor call | tailor M tok/s | ratio (CPU) | ratio (wall) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, n, nbytes, mode, h, t in rows:
        tmode = "encode_batch" if mode == "encode_batch" else "encode"
        print(f"| {name} | {n} | {nbytes / 1e6:.2f} | {mode} | {h['tokens'] / h['cpu'] / 1e6:.2f} "
              f"({h['tokens'] / h['wall'] / 1e6:.2f}) | {tmode} | {t['tokens'] / t['cpu'] / 1e6:.2f} "
              f"({t['tokens'] / t['wall'] / 1e6:.2f}) | {h['cpu'] / t['cpu']:.1f}x | {h['wall'] / t['wall']:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
