#!/usr/bin/env python3
"""`tailor rank` of one photo against 1,000 garment texts vs the PyTorch reference doing the
same work, same weights, same threads, in one run.

    .venv/bin/python benchmarks/side_by_side_rank.py [--threads 1 2] [--repeats 7] [--texts 1000] [--amx]

The model is the default try-on model (converters/make_default_bundle.py: real MiniLM text
tower, seeded random ResNet50 and head), built once in PyTorch and converted to a bundle.
The work, for both: decode + preprocess the photo, the image tower once, tokenize the texts,
the text tower in batches of 32, the head, the top 10.
  - PyTorch: converters/reference_model.py in-process (model already loaded; PIL decode,
    torchvision transforms, BertTokenizerFast, batches padded to their longest text).
  - tailor: the `tailor rank` CLI end to end (process start and bundle load included), and
    the work time it prints (`total`: decode to top 10, the same work as PyTorch's, without
    the load; on several threads the image tower runs on one thread beside the text tower).
--amx also times `tailor rank --amx` (the text tower on AMX tiles, bf16x6) in the same loop.
Runs alternate (who goes first alternates too, 100 ms apart so neither meets the other's
spinning workers); one-thread runs of both are pinned to the same CPU (every thread of the
Python process, the tokenizer's pool included, and the tailor process). Prints medians,
pairs/s and the ratios (medians of the same repeat's ratio); checks that both give the same
top 10.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "converters"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

COLOURS = ["red", "navy blue", "black", "white", "olive green", "mustard yellow", "grey", "beige", "burgundy",
           "sky blue"]
MATERIALS = ["cotton", "linen", "wool", "silk", "denim", "leather", "cashmere", "corduroy", "velvet", "polyester"]
GARMENTS = ["shirt", "summer dress", "blazer", "t-shirt", "slim-fit jeans", "raincoat with a hood",
            "turtleneck sweater", "field jacket", "pleated skirt", "suit"]


def catalog(n: int) -> list[str]:
    items = [f"a {c} {m} {g}" for g in GARMENTS for m in MATERIALS for c in COLOURS]
    extra = [" with zip pockets", " for the office", ", oversized fit", " with a floral print"]
    return [items[i % len(items)] + extra[(i // len(items)) % len(extra)] * (i >= len(items)) for i in range(n)]


def build(tmp: str):
    """(PyTorch model, tokenizer, bundle path) of the default try-on model."""
    import torch
    import transformers

    import convert
    import make_default_bundle
    from reference_model import HeadConfig, ImageTextModel

    ckpt = os.path.join(tmp, "model.pt")
    make_default_bundle.build_checkpoint(ckpt)
    obj = torch.load(ckpt, weights_only=True)
    text_config = transformers.BertConfig.from_dict(obj["text_config"])
    model = ImageTextModel(text_config, HeadConfig(**obj["head_config"]))
    model.load_state_dict(obj["state_dict"])
    model.eval()
    bundle = os.path.join(tmp, "tryon.safetensors")
    assert convert.main(["tryon", ckpt, bundle, "--text-model", make_default_bundle.minilm_dir(), "--quiet"]) == 0
    tok = transformers.BertTokenizerFast.from_pretrained(make_default_bundle.minilm_dir())
    return model, tok, bundle


def torch_rank(model, tok, photo: str, texts: list[str], top: int = 10):
    import torch
    import torchvision
    from PIL import Image

    tf = torchvision.transforms.Compose([
        torchvision.transforms.Resize(256), torchvision.transforms.CenterCrop(224), torchvision.transforms.ToTensor(),
        torchvision.transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    with torch.inference_mode():
        x = tf(Image.open(photo).convert("RGB")).unsqueeze(0)
        fi = model.image_features(x)
        feats = []
        for b in range(0, len(texts), 32):
            enc = tok(texts[b:b + 32], padding=True, truncation=True, max_length=256, return_tensors="pt")
            feats.append(model.text_features(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]))
        ft = torch.cat(feats)
        logits = model.fuse(fi.expand(ft.shape[0], -1), ft)[:, 0]
        order = torch.argsort(logits, descending=True, stable=True)[:top]
        return [texts[i] for i in order.tolist()]


def pin_process(cpus) -> None:
    """Restricts every thread of this process (tokenizers' and PyTorch's pools included) to cpus."""
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except OSError:  # a thread that just ended
            pass


def tailor_rank(tailor: str, bundle: str, photo: str, catalog_path: str, threads: int, top: int = 10,
                amx: bool = False, cpus=None):
    t0 = time.perf_counter()
    r = subprocess.run([tailor, "rank", "--weights", bundle, "--image", photo, "--catalog", catalog_path, "--top",
                        str(top), "--threads", str(threads)] + (["--amx"] if amx else []),
                       capture_output=True, text=True, check=True,
                       preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
    wall = time.perf_counter() - t0
    lines = r.stdout.splitlines()
    items = [re.match(r"^\s*\d+\s+\S+\s+\S+\s+(.*)$", ln).group(1) for ln in lines[1:1 + top]]
    # The work: decode + the stages, as `total` (on several threads the image tower runs beside
    # the text tower, so the stages overlap and their sum would count it twice).
    work = float(re.search(r"total ([\d.]+)", lines[-1]).group(1)) / 1000.0
    return items, wall, work


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--pin", type=int,
                    help="CPU for the one-thread runs of both (default: the first this process may use)")
    ap.add_argument("--texts", type=int, default=1000)
    ap.add_argument("--tailor", default=os.path.join(ROOT, "build", "tailor"))
    ap.add_argument("--photo", default=os.path.join(ROOT, "examples", "data", "photo.jpg"))
    ap.add_argument("--amx", action="store_true",
                    help="also time `tailor rank --amx` (BERT on AMX tiles, bf16x6) in the same interleaved loop")
    args = ap.parse_args()
    import torch

    texts = catalog(args.texts)
    all_cpus = os.sched_getaffinity(0)
    pin = min(all_cpus) if args.pin is None else args.pin
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        model, tok, bundle = build(tmp)
        cat = os.path.join(tmp, "catalog.txt")
        with open(cat, "w", encoding="utf-8") as f:
            f.write("\n".join(texts) + "\n")
        for threads in args.threads:
            torch.set_num_threads(threads)
            want = torch_rank(model, tok, args.photo, texts)  # warm-up + reference answer
            variants = [False, True] if args.amx else [False]
            pin_process(all_cpus)
            same = {v: tailor_rank(args.tailor, bundle, args.photo, cat, threads, amx=v)[0] == want for v in variants}
            t_torch, t_wall, t_work = [], {v: [] for v in variants}, {v: [] for v in variants}
            # One-thread runs of both on the same CPU (every thread of this process, the
            # tokenizer's pool included, and the tailor process); others on every CPU.
            cpus = {pin} if threads == 1 else all_cpus
            pin_process(cpus)
            for rep in range(args.repeats):  # interleaved, so load changes hit all; who goes first alternates
                order = ["torch"] + variants
                if rep % 2:
                    order.reverse()
                for who in order:
                    time.sleep(0.1)  # the previous run's spinning workers go idle
                    if who == "torch":
                        t0 = time.perf_counter()
                        torch_rank(model, tok, args.photo, texts)
                        t_torch.append(time.perf_counter() - t0)
                    else:
                        _, wall, work = tailor_rank(args.tailor, bundle, args.photo, cat, threads, amx=who,
                                                    cpus=cpus)
                        t_wall[who].append(wall)
                        t_work[who].append(work)
            pin_process(all_cpus)
            for v in variants:
                # Ratios: medians over repeats of the same repeat's PyTorch time / tailor's.
                r_wall = statistics.median(a / b for a, b in zip(t_torch, t_wall[v]))
                r_work = statistics.median(a / b for a, b in zip(t_torch, t_work[v]))
                rows.append((f"{threads}{' amx' if v else ''}", statistics.median(t_torch), statistics.median(t_wall[v]),
                             statistics.median(t_work[v]), same[v], r_wall, r_work))
    n = args.texts
    print(f"\nrank: 1 photo x {n} texts, default try-on model (MiniLM + ResNet50), medians of {args.repeats}"
          f" (ratios: medians of the same repeat's PyTorch time / tailor's; one-thread runs on CPU {pin})"
          + ("; 'amx': tailor rank --amx" if args.amx else ""))
    print(f"{'threads':>7} {'PyTorch s':>10} {'pairs/s':>9} {'tailor CLI s':>13} {'pairs/s':>9} {'ratio':>6} "
          f"{'tailor work s':>14} {'pairs/s':>9} {'ratio':>6} {'same top 10':>11}")
    for threads, tt, tw, tk, same, r_wall, r_work in rows:
        print(f"{threads:>7} {tt:>10.3f} {n / tt:>9.0f} {tw:>13.3f} {n / tw:>9.0f} {r_wall:>5.2f}x "
              f"{tk:>14.3f} {n / tk:>9.0f} {r_work:>5.2f}x {str(same):>11}")
    return 0 if all(r[4] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
