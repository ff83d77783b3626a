"""Preprocessing parity: tailor's image pipeline against PIL + torchvision, image by image.

    python converters/parity_image.py --tailor build/tailor IMAGE_OR_DIR... [--resize 256 --crop 224] [--json report.json]

For each PNG/JPEG (directories are searched, non-images skipped) it compares, through the
`tailor preprocess` command:
  decode    tailor's RGB8 vs PIL's Image.open(f).convert("RGB"): identical for PNG; for JPEG the
            two decoders (stb_image vs libjpeg-turbo) differ slightly and the difference is
            measured (mean / max abs, in 0..255 levels);
  resize    tailor's Resize(S) uint8 vs torchvision's T.Resize(S) on the *same* decoded pixels
            (for JPEG, PIL's decode is handed to tailor as a lossless PNG): must be identical;
  tensor    tailor's normalized (3, C, C) tensor vs T.Compose([Resize(S), CenterCrop(C),
            ToTensor(), Normalize(ImageNet)]) on the same pixels: max abs <= 1e-5;
  end-to-end  tailor's tensor from the original file vs torchvision's: PNG max abs <= 1e-5,
            JPEG mean abs <= 0.01 (the decoder difference only).
Exit status 1 if any bar is missed. The bars are those of DESIGN.md's numerics contract.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
BAR_TENSOR_MAX = 1e-5
BAR_JPEG_MEAN = 0.01


def find_images(paths):
    out = []
    for p in paths:
        if os.path.isdir(p):
            for root, _, files in os.walk(p):
                out += [os.path.join(root, f) for f in sorted(files)
                        if f.lower().endswith((".png", ".jpg", ".jpeg"))]
        else:
            out.append(p)
    return out


def kind_of(path):
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"\x89PNG"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    return "other"


def tailor_stages(tailor, path, resize, crop, tmp):
    """tailor's (rgb, resized, cropped, tensor) for one image, from one `tailor preprocess` run."""
    out = os.path.join(tmp, "tensor.npy")
    r = subprocess.run([tailor, "preprocess", path, "--out", out, "--stages-dir", tmp, "--resize", str(resize),
                        "--crop", str(crop)], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"tailor preprocess {path} failed: {r.stderr.strip()}")
    return tuple(np.load(os.path.join(tmp, f"{s}.npy")) for s in ("rgb", "resized", "cropped")) + (np.load(out)[0],)


def check_image(tailor, path, resize=256, crop=224, tmp=None):
    """Metrics of one image (dict); raises if tailor fails where PIL succeeds."""
    import torchvision.transforms as T
    from PIL import Image

    kind = kind_of(path)
    with Image.open(path) as im:
        mode = im.mode
        rgb = im.convert("RGB")
    tf_resize = T.Resize(resize)
    tf = T.Compose([T.Resize(resize), T.CenterCrop(crop), T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    ref_rgb = np.asarray(rgb)
    ref_resized = np.asarray(tf_resize(rgb))
    ref_tensor = tf(rgb).numpy()
    m = {"file": path, "kind": kind, "mode": mode, "size": list(rgb.size), "resize": resize, "crop": crop}

    got_rgb, got_resized, _, got_tensor = tailor_stages(tailor, path, resize, crop, tmp)
    if got_rgb.shape != ref_rgb.shape:
        raise RuntimeError(f"{path}: tailor decoded {got_rgb.shape}, PIL {ref_rgb.shape}")
    d = np.abs(got_rgb.astype(np.int32) - ref_rgb.astype(np.int32))
    m["decode_max_abs"] = int(d.max())
    m["decode_mean_abs"] = float(d.mean())
    m["decode_identical"] = bool(d.max() == 0)
    e = np.abs(got_tensor - ref_tensor)
    m["e2e_max_abs"] = float(e.max())
    m["e2e_mean_abs"] = float(e.mean())

    # Same decode: PIL's pixels as a lossless PNG (for PNG, tailor's decode is PIL's already).
    if kind != "png":
        same = os.path.join(tmp, "same_decode.png")
        rgb.save(same, "PNG", compress_level=1)
        _, got_resized, _, got_tensor = tailor_stages(tailor, same, resize, crop, tmp)
    m["resize_identical"] = bool(got_resized.shape == ref_resized.shape and np.array_equal(got_resized, ref_resized))
    if got_resized.shape == ref_resized.shape:
        m["resize_max_abs"] = int(np.abs(got_resized.astype(np.int32) - ref_resized.astype(np.int32)).max())
    else:
        m["resize_max_abs"] = 255
        m["resize_shapes"] = [list(got_resized.shape), list(ref_resized.shape)]
    m["tensor_max_abs"] = float(np.abs(got_tensor - ref_tensor).max())

    ok = m["resize_identical"] and m["tensor_max_abs"] <= BAR_TENSOR_MAX
    if kind == "png":
        ok = ok and m["decode_identical"] and m["e2e_max_abs"] <= BAR_TENSOR_MAX
    else:
        ok = ok and m["e2e_mean_abs"] <= BAR_JPEG_MEAN
    m["ok"] = bool(ok)
    return m


def summarize(results):
    png = [r for r in results if r["kind"] == "png"]
    jpg = [r for r in results if r["kind"] == "jpeg"]
    s = {"images": len(results), "png": len(png), "jpeg": len(jpg),
         "failed": [r["file"] for r in results if not r["ok"]],
         "resize_identical": sum(r["resize_identical"] for r in results),
         "tensor_max_abs_same_decode": max((r["tensor_max_abs"] for r in results), default=0.0)}
    if png:
        s["png_decode_identical"] = sum(r["decode_identical"] for r in png)
        s["png_e2e_max_abs"] = max(r["e2e_max_abs"] for r in png)
    if jpg:
        s["jpeg_decode_mean_abs_levels"] = {"mean": float(np.mean([r["decode_mean_abs"] for r in jpg])),
                                            "max": max(r["decode_mean_abs"] for r in jpg)}
        s["jpeg_decode_max_abs_levels"] = max(r["decode_max_abs"] for r in jpg)
        s["jpeg_e2e_mean_abs"] = {"mean": float(np.mean([r["e2e_mean_abs"] for r in jpg])),
                                  "max": max(r["e2e_mean_abs"] for r in jpg)}
        s["jpeg_e2e_max_abs"] = max(r["e2e_max_abs"] for r in jpg)
    return s


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="+", help="images or directories")
    ap.add_argument("--tailor", required=True, help="the tailor executable")
    ap.add_argument("--resize", type=int, default=256)
    ap.add_argument("--crop", type=int, default=224)
    ap.add_argument("--json", help="write per-image metrics and the summary here")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for p in find_images(args.paths):
            r = check_image(args.tailor, p, args.resize, args.crop, tmp)
            results.append(r)
            if not args.quiet:
                print(f"{'ok  ' if r['ok'] else 'FAIL'} {os.path.basename(p):40s} {r['kind']:4s} {r['mode']:5s} "
                      f"{r['size'][0]:>5}x{r['size'][1]:<5} decode max {r['decode_max_abs']:3d} "
                      f"mean {r['decode_mean_abs']:.4f} | resize {'identical' if r['resize_identical'] else 'DIFFERS'} "
                      f"| tensor {r['tensor_max_abs']:.1e} | end-to-end max {r['e2e_max_abs']:.1e} "
                      f"mean {r['e2e_mean_abs']:.1e}")
    s = summarize(results)
    print(json.dumps(s, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"summary": s, "images": results}, f, indent=1)
    return 0 if not s["failed"] else 1


if __name__ == "__main__":
    sys.exit(main())
