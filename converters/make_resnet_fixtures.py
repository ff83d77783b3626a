#!/usr/bin/env python3
"""Fixtures for the ResNet50 / image parity suites, generated at test time (nothing committed).

    python converters/make_resnet_fixtures.py OUT_DIR [--seed S]

Writes into OUT_DIR:
  images/                 the test images of image_fixtures.py (+ images/manifest.json)
  resnet50_seed.pth       a seeded, untrained torchvision resnet50 state dict with random
                          BatchNorm statistics (convert_resnet50.make_random_resnet50(S))
  resnet50.safetensors    that checkpoint converted by `convert.py resnet50` (the path a user's
                          real .pth takes), BN folded
  ref/<case>_x.npy        inputs (N, 3, H, W) float32, normalized
  ref/<case>_logits.npy   torchvision's logits (N, 1000) for them
  ref/<case>_pooled.npy   torchvision's pooled features (N, 2048)
  fixtures.json           the seed and the cases (photo cases list their image files)
Cases: random tensors at 224 (batch 1) and at 200 x 232 (batch 3), and real photos (skimage
and gnome-backgrounds) run through torchvision's V1 eval transform with PIL.
The seed defaults to $TAILOR_RESNET_SEED or 5; any seed must pass.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

PHOTOS = ["skimage_astronaut.png", "skimage_chelsea.png", "skimage_coffee.png", "skimage_motorcycle_left.png",
          "skimage_rocket.jpg", "skimage_retina.jpg", "skimage_hubble_deep_field.jpg", "gnome_wood-d.jpg",
          "gnome_vnc-l.png", "skimage_logo.png", "skimage_camera.png"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=int(os.environ.get("TAILOR_RESNET_SEED", "5")))
    args = ap.parse_args(argv)

    import numpy as np
    import torch
    import torchvision.transforms as T
    from PIL import Image

    import image_fixtures
    from convert_resnet50 import IMAGENET_MEAN, IMAGENET_STD, make_random_resnet50

    out = args.out
    os.makedirs(os.path.join(out, "ref"), exist_ok=True)
    entries = image_fixtures.generate(os.path.join(out, "images"))
    print(f"make_resnet_fixtures: {len(entries)} images", flush=True)

    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    model = make_random_resnet50(args.seed)
    pth = os.path.join(out, "resnet50_seed.pth")
    torch.save(model.state_dict(), pth)
    bundle = os.path.join(out, "resnet50.safetensors")
    import convert as convert_py  # the user's path: convert.py resnet50 SRC.pth OUT

    if convert_py.main(["resnet50", pth, bundle, "--quiet"]) != 0:
        raise SystemExit("make_resnet_fixtures: conversion failed")
    print(f"make_resnet_fixtures: seed {args.seed} model converted", flush=True)

    def reference(x):
        with torch.no_grad():
            r = model
            f = r.maxpool(r.relu(r.bn1(r.conv1(x))))
            f = r.layer4(r.layer3(r.layer2(r.layer1(f))))
            pooled = torch.flatten(r.avgpool(f), 1)
            return r.fc(pooled).numpy(), pooled.numpy()

    cases = {}
    g = torch.Generator().manual_seed(args.seed + 100)

    def save(name, x, extra=None):
        logits, pooled = reference(x)
        np.save(os.path.join(out, "ref", f"{name}_x.npy"), x.numpy().astype(np.float32))
        np.save(os.path.join(out, "ref", f"{name}_logits.npy"), logits)
        np.save(os.path.join(out, "ref", f"{name}_pooled.npy"), pooled)
        cases[name] = dict(extra or {}, shape=list(x.shape))

    save("random_224", torch.randn(1, 3, 224, 224, generator=g))
    save("random_200x232", torch.randn(3, 3, 200, 232, generator=g))
    tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    photos = [p for p in PHOTOS if os.path.exists(os.path.join(out, "images", p))]
    xs = []
    for p in photos:
        with Image.open(os.path.join(out, "images", p)) as im:
            xs.append(tf(im.convert("RGB")))
    if xs:
        save("photos", torch.stack(xs), {"files": photos})
    with open(os.path.join(out, "fixtures.json"), "w") as f:
        json.dump({"seed": args.seed, "bundle": "resnet50.safetensors", "pth": "resnet50_seed.pth", "cases": cases},
                  f, indent=1)
    print(f"make_resnet_fixtures: wrote {out} ({len(cases)} cases, {len(photos)} photos)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
