#!/usr/bin/env python3
"""ResNet50 side by side: tailor vs PyTorch (torchvision) vs ONNX Runtime, same weights, same run.

    .venv/bin/python benchmarks/side_by_side_resnet.py --build build [--rounds 15] [--amx] [--json out.json]

One seeded torchvision resnet50 (random BatchNorm statistics, converters/convert_resnet50.py)
is converted to a tailor bundle and exported to ONNX; the three then run the same
(N, 3, 224, 224) input at batch 1 and 8 on 1 and 2 threads. The machine this was written on is
a shared VM whose cores each swing between two speeds ~35% apart for seconds at a time, so
the passes are interleaved as finely as possible: every round runs one forward pass of each
framework back to back (rotating who goes first, 100 ms apart: ONNX Runtime's workers spin
~55 ms after a run and would slow whichever pass came next), tailor's in a `bench_image
--serve` process that keeps its models loaded; one-thread passes of all three run pinned to
the same CPU. The speedups are medians over rounds of the same round's time ratio; the ms are
medians too. PyTorch is timed in NCHW and channels_last and the faster is reported; ONNX Runtime with its
default (all) graph optimisations; tailor's forward pass with its weights packed at load, as
the others. The outputs are checked to agree first. Prints a markdown table (ms per batch, ms
per image, tailor's GFLOP/s and % of the FMA peak measured in the same run, speedups) and
optionally writes it all, every pass's time included, as JSON. Single-thread runs also report
process CPU time.
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
    ap.add_argument("--rounds", type=int, default=15, help="passes of each framework per configuration")
    ap.add_argument("--pin", type=int, help="CPU for the one-thread passes (default: the first this process may use)")
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

    configs = [(t, b) for t in args.threads for b in args.batch]
    names = ("pytorch", "pytorch_channels_last", "onnxruntime", "tailor")
    times = {c: {k: [] for k in names} for c in configs}
    cpu = {c: {k: [] for k in names} for c in configs}
    sessions = {}
    for t in args.threads:
        so = ort.SessionOptions()
        so.intra_op_num_threads = t
        so.inter_op_num_threads = 1
        sessions[t] = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
    model_cl = make_random_resnet50(args.seed).to(memory_format=torch.channels_last)
    # tailor: one bench_image process holding a model and session per thread count, which
    # runs one forward pass per request (bench_image --serve).
    srv = subprocess.Popen([bench, "--serve", *map(str, args.threads)], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True, env=dict(os.environ, TAILOR_RESNET_BUNDLE=bundle))
    hello = json.loads(srv.stdout.readline())
    peak = dict(zip(args.threads, hello["peak_gflops"]))
    all_cpus = os.sched_getaffinity(0)
    pin = min(all_cpus) if args.pin is None else args.pin

    inputs = {b: torch.randn(b, 3, 224, 224, generator=torch.Generator().manual_seed(b)) for b in args.batch}
    inputs_cl = {b: x.contiguous(memory_format=torch.channels_last) for b, x in inputs.items()}

    def one_pass(name, t, b):
        """Times one forward pass of `name` (ms wall, ms process CPU)."""
        if name == "tailor":
            srv.stdin.write(f"{b} {t} {pin if t == 1 else -1}\n")
            srv.stdin.flush()
            r = json.loads(srv.stdout.readline())
            return r["ms"], r["cpu_ms"]
        torch.set_num_threads(t)
        if name == "onnxruntime":
            xn = inputs[b].numpy()
            fn = lambda: sessions[t].run(None, {"x": xn})  # noqa: E731
        elif name == "pytorch":
            fn = lambda: model(inputs[b])  # noqa: E731
        else:
            fn = lambda: model_cl(inputs_cl[b])  # noqa: E731
        with torch.inference_mode():
            c0 = time.process_time()
            t0 = time.perf_counter()
            fn()
            return (time.perf_counter() - t0) * 1e3, (time.process_time() - c0) * 1e3

    def set_pin(t):
        # One-thread passes of all three run on the same core (this process's thread and
        # tailor's); others on every core. Thread pools were made before any pinning.
        os.sched_setaffinity(0, {pin} if t == 1 else all_cpus)

    # Warm-up (thread pools, lazily made buffers): every configuration once, widest first.
    for (t, b) in sorted(configs, reverse=True):
        set_pin(t)
        for name in names:
            one_pass(name, t, b)
    for rnd in range(args.rounds):
        for (t, b) in configs:
            set_pin(t)
            order = names[rnd % len(names):] + names[:rnd % len(names)]  # rotate who goes first
            for name in order:
                time.sleep(0.1)  # ONNX Runtime's idle workers spin ~55 ms after a run, PyTorch's ~10 ms
                ms, c = one_pass(name, t, b)
                times[(t, b)][name].append(ms)
                cpu[(t, b)][name].append(c)
        if (rnd + 1) % 5 == 0 or rnd + 1 == args.rounds:
            print(f"round {rnd + 1}/{args.rounds}: done", flush=True)
    os.sched_setaffinity(0, all_cpus)
    srv.stdin.write("\n")
    srv.stdin.flush()
    srv.wait()

    def paired(other, t, b):
        """Median over rounds of other's time / tailor's time in the same round."""
        tt = times[(t, b)]["tailor"]
        return statistics.median(o / x for o, x in zip(times[(t, b)][other], tt))

    rows = []
    for (t, b) in configs:
        med = {k: statistics.median(v) for k, v in times[(t, b)].items()}
        torch_name = "pytorch" if med["pytorch"] <= med["pytorch_channels_last"] else "pytorch_channels_last"
        torch_best = med[torch_name]
        gflop = hello["gflop_per_image"] * b
        gflops = gflop / (med["tailor"] / 1e3)
        rows.append({"threads": t, "batch": b, "tailor_ms": med["tailor"], "pytorch_ms": torch_best,
                     "pytorch_layout": "NCHW" if torch_name == "pytorch" else "channels_last",
                     "onnxruntime_ms": med["onnxruntime"], "tailor_gflops": gflops,
                     "peak_gflops": peak[t], "tailor_pct_peak": 100 * gflops / peak[t],
                     "speedup_vs_pytorch": paired(torch_name, t, b),
                     "speedup_vs_onnxruntime": paired("onnxruntime", t, b),
                     "ratio_of_medians": {"pytorch": torch_best / med["tailor"],
                                          "onnxruntime": med["onnxruntime"] / med["tailor"]},
                     "cpu_ms": {k: statistics.median(v) for k, v in cpu[(t, b)].items()},
                     "times_ms": times[(t, b)], "samples": len(times[(t, b)]["tailor"])})

    print("\n| threads | batch | tailor ms (ms/img) | PyTorch ms | ONNX Runtime ms | tailor GFLOP/s (% peak) | vs PyTorch | vs ORT |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['threads']} | {r['batch']} | {r['tailor_ms']:.1f} ({r['tailor_ms'] / r['batch']:.1f}) | "
              f"{r['pytorch_ms']:.1f} | {r['onnxruntime_ms']:.1f} | {r['tailor_gflops']:.0f} "
              f"({r['tailor_pct_peak']:.0f}%) | {r['speedup_vs_pytorch']:.2f}x | {r['speedup_vs_onnxruntime']:.2f}x |")
    if args.amx:
        print("\n(tailor's 1x1 convs on AMX tiles: Options::amx, bf16x6)")
    print(f"\n(ms: medians of {args.rounds} rounds of one pass each, the three frameworks' passes back to back in "
          f"rotating order; speedup: median over rounds of their time / tailor's in the same round; one-thread passes "
          f"all on CPU {pin}; PyTorch {torch.__version__}, ONNX Runtime {ort.__version__}; load average "
          f"{os.getloadavg()[0]:.1f})")
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
