#!/usr/bin/env python3
"""Summarises a GPU check's results (check.sh's $OUT) as short tables, then as a Markdown
section ready to paste into benchmarks/RESULTS.md.

    python3 benchmarks/gpu/summarize.py OUT_DIR              # the tables
    python3 benchmarks/gpu/summarize.py OUT_DIR --markdown   # the RESULTS.md section

Reads bench_kernels.json (Google Benchmark), side_by_side.json (side_by_side_torch.py);
either may be missing (its table is then left out).
"""
from __future__ import annotations

import json
import os
import sys


def load(path: str):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError):
        return None


def fmt(v, spec: str = ".3f") -> str:
    return "n/a" if v is None else format(v, spec)


def kernel_rows(bench: dict) -> list[tuple[str, str, str, str]]:
    """(name, time us, GB/s or TFLOP/s, % of ceiling) per kernel benchmark."""
    rows = []
    for b in bench.get("benchmarks", []):
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        t_us = float(b["real_time"]) * {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6}[b.get("time_unit", "ns")]
        if "TFLOP/s" in b:
            rate, pct = f"{b['TFLOP/s']:.1f} TFLOP/s", f"{b.get('%gemm', 0):.0f}% gemm"
        elif "GB/s" in b:
            rate, pct = f"{b['GB/s']:.0f} GB/s", f"{b.get('%bw', 0):.0f}% copy"
        else:
            rate, pct = "", ""
        name = b["name"].split("/iterations:")[0].split("/manual_time")[0]
        rows.append((name, f"{t_us:.1f}", rate, pct))
    return rows


def main() -> int:
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    markdown = "--markdown" in sys.argv[2:]
    real_stdout = sys.stdout
    if markdown:  # tables to nowhere, the Markdown to stdout at the end
        sys.stdout = open(os.devnull, "w")
    bench = load(os.path.join(out, "bench_kernels.json"))
    sbs = load(os.path.join(out, "side_by_side.json"))
    md = []
    if bench:
        ctx = bench.get("context", {})
        line = (f"ceilings measured: copy {float(ctx.get('copy_gbs', 0)):.0f} GB/s; GEMM 8192^3 fp32 "
                f"{float(ctx.get('gemm_tflops_fp32', 0)):.1f} / tf32 {float(ctx.get('gemm_tflops_tf32', 0)):.1f} / "
                f"fp16 {float(ctx.get('gemm_tflops_fp16', 0)):.1f} / bf16 {float(ctx.get('gemm_tflops_bf16', 0)):.1f} "
                f"TFLOP/s")
        print()
        print(line)
        rows = kernel_rows(bench)
        # The short table: hand-written vs cuBLAS pairs and the memory-bound kernels in fp16.
        keep = [r for r in rows if ("/fp16/" in r[0] or "gemm/fp32/bert_ffn1" in r[0] or "attention/fp32" in r[0])
                and ("custom" in r[0] or "cublas" in r[0] or "im2col" in r[0] or "/fp16/" in r[0])]
        print(f"{'kernel':<66}{'us':>9}  {'rate':<16}{'of ceiling'}")
        for r in keep[:40]:
            print(f"{r[0]:<66}{r[1]:>9}  {r[2]:<16}{r[3]}")
        md += ["", f"Kernels ({line}):", "", "| kernel | us | rate | of ceiling |", "|---|---|---|---|"]
        md += [f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} |" for r in rows]
    if sbs:
        print()
        print(f"parity vs PyTorch fp32 (same weights and inputs), {sbs.get('gpu')}, torch {sbs.get('torch')}")
        md += ["", f"Parity, tailor GPU vs PyTorch fp32 on the same weights and inputs (relative L2):", "",
               "| model | precision | outputs |", "|---|---|---|"]
        for p in sbs.get("parity", []):
            vals = ", ".join(f"{k.replace('_rel_l2', '')} {v:.2e}" for k, v in p.items() if k.endswith("rel_l2"))
            vals = vals or ("ERROR " + p.get("error", ""))
            print(f"  {p['model']:<18}{p['precision']:<6}{vals}")
            md.append(f"| {p['model']} | {p['precision']} | {vals} |")
        print()
        hdr = (f"{'model':<18}{'prec':<6}{'batch':>6}{'tailor ms':>11}{'eager ms':>10}{'graph ms':>10}{'x eager':>9}"
               f"{'x graph':>9}{'gpu ms':>9}{'x gpu':>7}  target")
        print(hdr)
        md += ["", "Models, end to end (host in, host out), median ms:", "",
               "| model | precision | batch | tailor | PyTorch eager | PyTorch CUDA graph | x eager | x graph "
               "| tailor GPU-only | x GPU-only | target |",
               "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in sbs.get("rows", []):
            tgt = []
            if r.get("target_ms") is not None:
                ok = r.get("tailor_ms") is not None and r["tailor_ms"] <= r["target_ms"]
                tgt.append(f"<= {r['target_ms']} ms {'ok' if ok else 'MISSED'}")
            if r.get("target_speedup") is not None:
                ok = r.get("speedup_vs_eager") is not None and r["speedup_vs_eager"] >= r["target_speedup"]
                tgt.append(f">= {r['target_speedup']}x {'ok' if ok else 'MISSED'}")
            cells = (r["model"], r["precision"], r["batch"], fmt(r.get("tailor_ms")), fmt(r.get("torch_eager_ms")),
                     fmt(r.get("torch_graph_ms")), fmt(r.get("speedup_vs_eager"), ".2f"),
                     fmt(r.get("speedup_vs_graph"), ".2f"), fmt(r.get("tailor_gpu_ms")),
                     fmt(r.get("speedup_device_only"), ".2f"), "; ".join(tgt))
            print(f"{cells[0]:<18}{cells[1]:<6}{cells[2]:>6}{cells[3]:>11}{cells[4]:>10}{cells[5]:>10}{cells[6]:>9}"
                  f"{cells[7]:>9}{cells[8]:>9}{cells[9]:>7}  {cells[10]}")
            md.append("| " + " | ".join(str(c) for c in cells) + " |")
    if markdown:
        sys.stdout = real_stdout
        print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
