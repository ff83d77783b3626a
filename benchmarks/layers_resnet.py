#!/usr/bin/env python3
"""ResNet50 conv by conv: tailor against ONNX Runtime, each timed inside its own network.

    .venv/bin/python benchmarks/layers_resnet.py [--build build] [--rounds 10] [--passes 4] [--threads 1]

Where side_by_side_resnet.py says which engine is faster, this says where: one seeded
torchvision resnet50 (random BatchNorm statistics) is converted to a tailor bundle and
exported to ONNX; tailor's passes are timed conv by conv by benchmarks/profile_resnet (the
TAILOR_RESNET_CONV_HOOK of models/resnet50.hpp), ONNX Runtime's by its own profiler
(SessionOptions.enable_profiling), whose fused nodes carry a conv's name (conv1 + ReLU is
".../relu", conv2 + ReLU ".../relu_1", conv3 + add + ReLU ".../conv3", the stem "/relu").
The two alternate, `--passes` forward passes each per round, and every time is the median over
all passes; one-thread runs are pinned to one CPU (both engines). Prints one row per conv
(ms, and ORT's time over tailor's: above 1 tailor is faster), the sums per stage and the
nodes that are not convs. ONNX Runtime's node names come from its graph optimiser and may
change between versions: unmatched nodes are listed, not dropped.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "converters"))

NODE = re.compile(r"^/(?:layer\d/(layer\d\.\d+)/)?(relu_1|relu|conv3|downsample/downsample\.0)/")
ROLE = {"relu": "conv1", "relu_1": "conv2", "conv3": "conv3", "downsample/downsample.0": "downsample.0"}


def ort_name(node: str) -> str | None:
    """tailor's (torchvision's) name of the conv an ONNX Runtime node runs, or None."""
    m = NODE.match(node)
    if not m:
        return None
    block, role = m.groups()
    if block is None:
        return "conv1" if role == "relu" else None
    return f"{block}.{ROLE[role]}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="tailor build directory")
    ap.add_argument("--rounds", type=int, default=10, help="rounds of (tailor, ONNX Runtime)")
    ap.add_argument("--passes", type=int, default=4, help="forward passes of each engine per round")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--pin", type=int, help="CPU for one-thread runs (default: the first this process may use)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write the per-conv medians here")
    args = ap.parse_args(argv)

    import onnxruntime as ort
    import torch

    import convert as convert_py
    from convert_resnet50 import make_random_resnet50

    prof = os.path.join(args.build, "benchmarks", "profile_resnet")
    if not os.path.exists(prof):
        sys.exit(f"{prof} not found: build the profile_resnet target first")
    if args.threads == 1:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0)) if args.pin is None else args.pin})

    tmp = tempfile.mkdtemp(prefix="tailor_layers_")
    model = make_random_resnet50(args.seed)
    pth, bundle, onnx_path = (os.path.join(tmp, f) for f in ("r50.pth", "r50.safetensors", "r50.onnx"))
    torch.save(model.state_dict(), pth)
    assert convert_py.main(["resnet50", pth, bundle, "--quiet"]) == 0
    x = torch.randn(args.batch, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    torch.onnx.export(model, x, onnx_path, input_names=["x"], output_names=["logits"], dynamo=False)
    xn = x.numpy()

    tailor = collections.defaultdict(list)
    onnx = collections.defaultdict(list)
    tailor_pass, ort_pass = [], []
    for r in range(args.rounds):
        out = subprocess.run([prof, bundle, "--threads", str(args.threads), "--batch", str(args.batch),
                              "--passes", str(args.passes), "--json"], capture_output=True, text=True, check=True)
        res = json.loads(out.stdout)
        tailor_pass.append(res["pass_ms"])
        for c in res["convs"]:
            tailor[c["name"]].append(c["ms"])

        so = ort.SessionOptions()
        so.intra_op_num_threads = args.threads
        so.inter_op_num_threads = 1
        so.enable_profiling = True
        so.profile_file_prefix = os.path.join(tmp, f"ort{r}")
        sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
        for _ in range(2):  # warm-up, as profile_resnet's
            sess.run(None, {"x": xn})
        for _ in range(args.passes):
            sess.run(None, {"x": xn})
        with open(sess.end_profiling()) as f:
            events = json.load(f)
        runs = [e for e in events if e.get("cat") == "Session" and e["name"] == "model_run"]
        ort_pass += [e["dur"] / 1e3 for e in runs[2:]]
        per_run = collections.defaultdict(list)
        for e in events:
            if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
                per_run[e["name"][: -len("_kernel_time")]].append(e["dur"] / 1e3)
        for node, durs in per_run.items():
            onnx[node] += durs[2:]  # after the two warm-up passes
        print(f"round {r + 1}/{args.rounds}: done", file=sys.stderr, flush=True)

    med = statistics.median
    matched = collections.defaultdict(float)
    other = {}
    for node, durs in onnx.items():
        name = ort_name(node)
        if name is None:
            other[node] = med(durs)
        else:
            matched[name] += med(durs)
    print(f"ResNet50, batch {args.batch}, {args.threads} thread(s), {args.rounds} x {args.passes} passes; "
          f"ONNX Runtime {ort.__version__}")
    print(f"pass: tailor {med(tailor_pass):.2f} ms, ONNX Runtime {med(ort_pass):.2f} ms\n")
    print("| conv | tailor ms | ORT ms | ORT / tailor |")
    print("|---|---|---|---|")
    stage = collections.defaultdict(lambda: [0.0, 0.0])
    rows = []
    for name, v in tailor.items():
        t = med(v)
        o = matched.get(name)
        rows.append({"conv": name, "tailor_ms": t, "ort_ms": o})
        key = name.split(".")[0] if name.startswith("layer") else "stem"
        stage[key][0] += t
        stage[key][1] += o or 0.0
        print(f"| {name} | {t:.3f} | {o:.3f} | {o / t:.2f} |" if o else f"| {name} | {t:.3f} | - | - |")
    for key, (t, o) in stage.items():
        print(f"| **{key}** | {t:.2f} | {o:.2f} | {o / t:.2f} |")
    unmatched = [n for n in tailor if n not in matched]
    if unmatched:
        print(f"\nno ONNX Runtime node found for: {', '.join(unmatched)}")
    print("\nONNX Runtime's other nodes (ms): " + ", ".join(f"{n} {d:.3f}" for n, d in sorted(other.items())))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "batch": args.batch, "tailor_pass_ms": med(tailor_pass),
                       "ort_pass_ms": med(ort_pass), "convs": rows, "ort_other_ms": other}, f, indent=1)


if __name__ == "__main__":
    main()
