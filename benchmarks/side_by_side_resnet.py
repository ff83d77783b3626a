#!/usr/bin/env python3
"""ResNet50 side by side: tailor vs PyTorch (torchvision) vs ONNX Runtime, same weights, same run.

    .venv/bin/python benchmarks/side_by_side_resnet.py --build build [--rounds 3] [--amx] [--json out.json]

One seeded torchvision resnet50 (random BatchNorm statistics, converters/convert_resnet50.py)
is converted to a tailor bundle and exported to ONNX; the three then run the same
(N, 3, 224, 224) input at batch 1 and 8 on 1 and 2 threads. Rounds are interleaved
(PyTorch, ONNX Runtime, tailor for every configuration, then the next round), so a noisy,
shared machine slows all three alike; every figure is the median of all timed passes.
PyTorch is timed in NCHW and channels_last and the faster is reported; ONNX Runtime with its
default (all) graph optimisations; tailor with `bench_image --forward-times` (forward pass
only, weights packed at load, as the others). The outputs are checked to agree first.
Prints a markdown table (ms per batch, ms per image, tailor's GFLOP/s and % of the FMA peak
measured in the same run, speedups) and optionally writes it all as JSON. Single-thread runs
also report process CPU time, which a busy machine distorts far less than wall time.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "converters"))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="tailor build directory")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--amx", action="store_true",
                    help="run tailor's 1x1 convs on AMX tiles (Options::amx: bf16x6, float32-accurate; needs an AMX "
                         "CPU and build): sets TAILOR_AMX=1 for tailor's processes")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)
    if args.amx:
        os.environ["TAILOR_AMX"] = "1"

    import numpy as np
    import onnxruntime as ort
    import torch

    import convert as convert_py
    from convert_resnet50 import make_random_resnet50

    bench = os.path.join(args.build, "benchmarks", "bench_image")
    cli = os.path.join(args.build, "tailor")
    if not os.path.exists(bench):
        sys.exit(f"{bench} not found: build the bench_image target first")

    tmp = tempfile.mkdtemp(prefix="tailor_sbs_")
    model = make_random_resnet50(args.seed)
    pth, bundle, onnx_path = (os.path.join(tmp, f) for f in ("r50.pth", "r50.safetensors", "r50.onnx"))
    torch.save(model.state_dict(), pth)
    assert convert_py.main(["resnet50", pth, bundle, "--quiet"]) == 0
    x1 = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    torch.onnx.export(model, x1, onnx_path, input_names=["x"], output_names=["logits"],
                      dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}}, dynamo=False)

    # Same weights, same answers (before timing anything).
    with torch.no_grad():
        ref = model(x1).numpy()
    so = ort.SessionOptions()
    sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
    got_ort = sess.run(None, {"x": x1.numpy()})[0]
    check = {"onnxruntime_rel_l2": float(np.linalg.norm(got_ort - ref) / np.linalg.norm(ref))}
    if os.path.exists(cli):
        xp = os.path.join(tmp, "x.npy")
        np.save(xp, x1.numpy())
        r = subprocess.run([cli, "image-features", "--weights", bundle, "--tensor", xp, "--output", "logits"],
                           capture_output=True, text=True, check=True)
        got = np.array(json.loads(r.stdout.splitlines()[0])["features"])
        check["tailor_rel_l2"] = float(np.linalg.norm(got - ref[0]) / np.linalg.norm(ref[0]))
    print(f"outputs vs PyTorch: {check}", flush=True)

    iters = {1: 10, 8: 3}
    configs = [(t, b) for t in args.threads for b in args.batch]
    times = {c: {"pytorch": [], "pytorch_channels_last": [], "onnxruntime": [], "tailor": []} for c in configs}
    cpu = {c: {"pytorch": [], "pytorch_channels_last": [], "onnxruntime": [], "tailor": []} for c in configs}
    meta = {}
    sessions = {}
    for t in args.threads:
        so = ort.SessionOptions()
        so.intra_op_num_threads = t
        so.inter_op_num_threads = 1
        sessions[t] = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
    model_cl = make_random_resnet50(args.seed).to(memory_format=torch.channels_last)

    def timed(fn, k, cpu_out):
        fn()  # warm-up
        out = []
        for _ in range(k):
            c0 = time.process_time()
            t0 = time.perf_counter()
            fn()
            out.append((time.perf_counter() - t0) * 1e3)
            cpu_out.append((time.process_time() - c0) * 1e3)
        return out

    for rnd in range(args.rounds):
        for (t, b) in configs:
            k = iters.get(b, 3)
            x = torch.randn(b, 3, 224, 224, generator=torch.Generator().manual_seed(b))
            torch.set_num_threads(t)
            with torch.inference_mode():
                times[(t, b)]["pytorch"] += timed(lambda: model(x), k, cpu[(t, b)]["pytorch"])
                xc = x.contiguous(memory_format=torch.channels_last)
                times[(t, b)]["pytorch_channels_last"] += timed(lambda: model_cl(xc), k,
                                                                cpu[(t, b)]["pytorch_channels_last"])
            xn = x.numpy()
            times[(t, b)]["onnxruntime"] += timed(lambda: sessions[t].run(None, {"x": xn}), k,
                                                  cpu[(t, b)]["onnxruntime"])
            r = subprocess.run([bench, "--forward-times", str(b), str(t), str(k)], capture_output=True, text=True,
                               env=dict(os.environ, TAILOR_RESNET_BUNDLE=bundle), check=True)
            res = json.loads(r.stdout)
            times[(t, b)]["tailor"] += res["times_ms"]
            cpu[(t, b)]["tailor"] += res["cpu_ms"]
            meta[(t, b)] = res
            print(f"round {rnd + 1}/{args.rounds} threads {t} batch {b}: done", flush=True)

    rows = []
    for (t, b) in configs:
        med = {k: statistics.median(v) for k, v in times[(t, b)].items()}
        torch_best = min(med["pytorch"], med["pytorch_channels_last"])
        gflop = meta[(t, b)]["gflop_per_image"] * b
        gflops = gflop / (med["tailor"] / 1e3)
        rows.append({"threads": t, "batch": b, "tailor_ms": med["tailor"], "pytorch_ms": torch_best,
                     "pytorch_layout": "NCHW" if med["pytorch"] <= med["pytorch_channels_last"] else "channels_last",
                     "onnxruntime_ms": med["onnxruntime"], "tailor_gflops": gflops,
                     "peak_gflops": meta[(t, b)]["peak_gflops"],
                     "tailor_pct_peak": 100 * gflops / meta[(t, b)]["peak_gflops"],
                     "speedup_vs_pytorch": torch_best / med["tailor"],
                     "speedup_vs_onnxruntime": med["onnxruntime"] / med["tailor"],
                     "cpu_ms": {k: statistics.median(v) for k, v in cpu[(t, b)].items()},
                     "samples": {k: len(v) for k, v in times[(t, b)].items()}})

    print("\n| threads | batch | tailor ms (ms/img) | PyTorch ms | ONNX Runtime ms | tailor GFLOP/s (% peak) | vs PyTorch | vs ORT |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['threads']} | {r['batch']} | {r['tailor_ms']:.1f} ({r['tailor_ms'] / r['batch']:.1f}) | "
              f"{r['pytorch_ms']:.1f} | {r['onnxruntime_ms']:.1f} | {r['tailor_gflops']:.0f} "
              f"({r['tailor_pct_peak']:.0f}%) | {r['speedup_vs_pytorch']:.2f}x | {r['speedup_vs_onnxruntime']:.2f}x |")
    if args.amx:
        print("\n(tailor's 1x1 convs on AMX tiles: Options::amx, bf16x6)")
    print(f"\n(medians of {args.rounds} interleaved rounds; PyTorch {torch.__version__}, ONNX Runtime "
          f"{ort.__version__}; speedup = their time / tailor's; load average {os.getloadavg()[0]:.1f})")
    print("\nSingle-thread CPU time (process time, robust to a busy machine), ms per batch:")
    for r in rows:
        if r["threads"] == 1:
            c = r["cpu_ms"]
            tb = min(c["pytorch"], c["pytorch_channels_last"])
            print(f"  batch {r['batch']}: tailor {c['tailor']:.1f}, PyTorch {tb:.1f}, ONNX Runtime {c['onnxruntime']:.1f} "
                  f"-> {tb / c['tailor']:.2f}x, {c['onnxruntime'] / c['tailor']:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"check": check, "rows": rows, "torch": torch.__version__, "onnxruntime": ort.__version__,
                       "load": os.getloadavg()}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
