"""Convert a torchvision ResNet50 checkpoint into a tailor bundle, folding BatchNorm.

    python converters/convert.py resnet50 resnet50-11ad3fa6.pth weights/resnet50-v2.safetensors
    python converters/convert.py resnet50 model.pth OUT.safetensors --prefix image_encoder.
    python converters/convert.py resnet50 --random-init 7 weights/resnet50-random.safetensors

SRC is what torch.save wrote: a torchvision state dict (torchvision.models.resnet50().state_dict(),
the .pth files torchvision downloads), optionally nested under "state_dict" or "model", with
the keys optionally prefixed ("module." from DataParallel, "image_encoder." from the try-on
model; detected, or --prefix). A whole pickled nn.Module is read only with --trust-pickle
(unpickling runs code from the file).

Every BatchNorm (eps 1e-5) is folded into the conv before it, in float64, then stored as
float32 (or --dtype): W' = W * g / sqrt(v + eps), b' = beta - mean * g / sqrt(v + eps).
The bundle records it ("bn_folded" in tailor.transforms), the source file's SHA-256, and the
preprocessing the weights expect (tailor.preprocess): --preprocess v1 (Resize 256, the
IMAGENET1K_V1 weights, resnet50-0676ba61.pth) or v2 (Resize 232, IMAGENET1K_V2,
resnet50-11ad3fa6.pth); by default v2 when the file name is torchvision's V2 file, else v1.

--random-init SEED writes a seeded, untrained ResNet50 instead (torchvision's init, then
random BatchNorm statistics and affine parameters so the folding is exercised), labelled
"untrained": ["image"].

A 1000-class model gets torchvision's ImageNet class names as tailor.labels metadata (one a
line; --labels FILE for others), which `tailor classify` prints.
"""
from __future__ import annotations

import os
import re
import sys

from tailor_bundle import ConversionError, source_record, write_bundle

HELP = "torchvision ResNet50 state dict (.pth) -> bundle, BatchNorm folded"

BN_EPS = 1e-5  # torchvision's nn.BatchNorm2d default
EXPANSION = 4
STEM = 64
PLANES = (64, 128, 256, 512)
RESNET50_LAYERS = [3, 4, 6, 3]

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
PREPROCESS = {
    # torchvision.models.ResNet50_Weights.IMAGENET1K_V1 / V2 .transforms()
    "v1": {"resize": 256, "crop": 224, "mean": IMAGENET_MEAN, "std": IMAGENET_STD, "interpolation": "bilinear"},
    "v2": {"resize": 232, "crop": 224, "mean": IMAGENET_MEAN, "std": IMAGENET_STD, "interpolation": "bilinear"},
}
V2_FILE = re.compile(r"resnet50-11ad3fa6")


def add_arguments(p) -> None:
    p.add_argument("src", nargs="?", help="torchvision checkpoint (.pth); omit with --random-init")
    p.add_argument("out", help="bundle to write (.safetensors)")
    p.add_argument("--random-init", type=int, metavar="SEED", help="write a seeded untrained ResNet50 instead")
    p.add_argument("--prefix", default=None, help="key prefix of the ResNet in SRC (default: detected)")
    p.add_argument("--preprocess", choices=["auto", "v1", "v2"], default="auto",
                   help="the transform the weights expect: v1 = Resize 256, v2 = Resize 232 (default: auto)")
    p.add_argument("--no-fc", action="store_true", help="drop the classifier: features only (num_classes 0)")
    p.add_argument("--num-classes", type=int, default=1000, help="classes of a --random-init model (default 1000)")
    p.add_argument("--dtype", choices=["f32", "f16", "bf16"], default="f32", help="storage dtype (default f32)")
    p.add_argument("--labels", metavar="FILE",
                   help="class names, one a line, stored as tailor.labels (default: torchvision's ImageNet "
                        "categories when there are 1000 classes)")
    p.add_argument("--trust-pickle", action="store_true",
                   help="allow SRC to be a whole pickled model (unpickling runs code from the file)")


# ---- the model and its tensors ---------------------------------------------------------------
def block_names(layers):
    """(stage, block, has_downsample) for every Bottleneck, in order."""
    for s, n in enumerate(layers):
        for b in range(n):
            yield s, b, b == 0


def folded_specs(layers, num_classes):
    """Name -> shape of every tensor of the folded bundle (mirrors ResNetConfig::tensor_specs)."""
    specs = {"conv1.weight": (STEM, 3, 7, 7), "conv1.bias": (STEM,)}
    cin = STEM
    for s, b, first in block_names(layers):
        planes = PLANES[s]
        out = planes * EXPANSION
        bin_ = cin if first else out
        p = f"layer{s + 1}.{b}."
        specs[p + "conv1.weight"] = (planes, bin_, 1, 1)
        specs[p + "conv1.bias"] = (planes,)
        specs[p + "conv2.weight"] = (planes, planes, 3, 3)
        specs[p + "conv2.bias"] = (planes,)
        specs[p + "conv3.weight"] = (out, planes, 1, 1)
        specs[p + "conv3.bias"] = (out,)
        if first:
            specs[p + "downsample.0.weight"] = (out, bin_, 1, 1)
            specs[p + "downsample.0.bias"] = (out,)
        if b == layers[s] - 1:
            cin = out
    if num_classes:
        specs["fc.weight"] = (num_classes, PLANES[3] * EXPANSION)
        specs["fc.bias"] = (num_classes,)
    return specs


def conv_bn_pairs(layers):
    """(conv name, bn name, folded name) for every conv of the network."""
    pairs = [("conv1", "bn1", "conv1")]
    for s, b, first in block_names(layers):
        p = f"layer{s + 1}.{b}."
        for i in (1, 2, 3):
            pairs.append((p + f"conv{i}", p + f"bn{i}", p + f"conv{i}"))
        if first:
            pairs.append((p + "downsample.0", p + "downsample.1", p + "downsample.0"))
    return pairs


def randomize_batchnorm(model, generator) -> None:
    """Random running statistics and affine parameters for every BatchNorm2d (fresh ones are
    the identity, which would let a wrong fold pass)."""
    import torch

    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(n, generator=generator) * 0.2)
                m.running_var.copy_(torch.rand(n, generator=generator) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(n, generator=generator) * 0.8 + 0.6)
                m.bias.copy_(torch.randn(n, generator=generator) * 0.2)


def make_random_resnet50(seed: int, num_classes: int = 1000):
    """torchvision's resnet50 with its own init under torch.manual_seed(seed), then random BN."""
    import torch
    import torchvision

    torch.manual_seed(seed)
    model = torchvision.models.resnet50(weights=None, num_classes=num_classes)
    g = torch.Generator().manual_seed(seed + 1)
    randomize_batchnorm(model, g)
    return model.eval()


# ---- reading checkpoints ---------------------------------------------------------------------
def _looks_like_lfs_or_html(path: str) -> str | None:
    with open(path, "rb") as f:
        head = f.read(256)
    if head.startswith(b"version https://git-lfs"):
        return "a Git LFS pointer, not the checkpoint (run `git lfs pull`)"
    low = head.lstrip().lower()
    if low.startswith(b"<!doctype html") or low.startswith(b"<html"):
        return "an HTML page, not the checkpoint (the download saved a web page)"
    if head[:8] == b"\x89PNG\r\n\x1a\n" or head[:3] == b"\xff\xd8\xff":
        return "an image, not a checkpoint"
    if head[8:9] == b"{" and not head.startswith(b"PK"):
        return "a safetensors file; pass a PyTorch .pth checkpoint (or use it as a bundle if convert.py wrote it)"
    return None


def load_state_dict(path: str, trust_pickle: bool):
    """The flat name -> tensor dict in a checkpoint file."""
    import torch

    if not os.path.exists(path):
        raise ConversionError(f"{path}: no such file")
    what = _looks_like_lfs_or_html(path)
    if what:
        raise ConversionError(f"{path} is {what}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except Exception as e:  # noqa: BLE001 - torch raises many types for bad files
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        if "weights_only" in str(e) or "WeightsUnpickler" in str(e):
            raise ConversionError(f"{path} holds pickled Python objects (a whole model?), not just tensors; "
                                  "pass --trust-pickle if you trust the file (unpickling runs code from it)") from None
        raise ConversionError(f"{path}: not a PyTorch checkpoint torch.load can read ({msg})") from None
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    for key in ("state_dict", "model", "model_state_dict", "module"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], (dict, torch.nn.Module)):
            inner = obj[key]
            obj = inner.state_dict() if isinstance(inner, torch.nn.Module) else inner
            break
    if not isinstance(obj, dict) or not obj:
        raise ConversionError(f"{path}: holds a {type(obj).__name__}, not a state dict of tensors")
    sd = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not sd:
        raise ConversionError(f"{path}: the checkpoint holds no tensors")
    return sd


def detect_prefix(sd, prefix):
    if prefix is not None:
        if not any(k.startswith(prefix + "conv1.weight") or k == prefix + "conv1.weight" for k in sd):
            raise ConversionError(f"no '{prefix}conv1.weight' in the checkpoint: --prefix '{prefix}' does not match "
                                  f"(keys start like: {', '.join(sorted(sd)[:4])})")
        return prefix
    cands = sorted({k[: -len("conv1.weight")] for k in sd if k.endswith("conv1.weight")
                    and not re.search(r"layer\d+\.\d+\.conv1\.weight$", k)}, key=len)
    if not cands:
        sample = ", ".join(sorted(sd)[:6])
        raise ConversionError("this checkpoint is not a torchvision ResNet: no 'conv1.weight' (its keys start: "
                              f"{sample}); convert BERT checkpoints with `convert.py bert`")
    for c in cands:  # prefer the image encoder of a try-on checkpoint
        if c in ("", "module.", "image_encoder.", "module.image_encoder.", "model."):
            return c
    return cands[0]


def infer_layers(sd, prefix):
    layers = []
    for s in range(1, 5):
        blocks = {int(m.group(1)) for k in sd for m in [re.match(re.escape(prefix) + rf"layer{s}\.(\d+)\.", k)] if m}
        if not blocks:
            raise ConversionError(f"no '{prefix}layer{s}.*' tensors: not a torchvision ResNet with 4 stages")
        if blocks != set(range(len(blocks))):
            raise ConversionError(f"'{prefix}layer{s}' has blocks {sorted(blocks)}: not numbered 0..n-1")
        layers.append(len(blocks))
    if f"{prefix}layer1.0.conv3.weight" not in sd:
        raise ConversionError("the blocks have no conv3: this is a ResNet with BasicBlocks (resnet18/34), "
                              "not a Bottleneck ResNet (resnet50/101/152); tailor serves ResNet50")
    return layers


def fold(sd, prefix, layers, num_classes, progress=True):
    """Folded float32 tensors (name -> numpy array), BN folded in float64."""
    import numpy as np

    used = set()

    def get(name, shape=None):
        key = prefix + name
        if key not in sd:
            raise ConversionError(f"missing tensor '{key}': the checkpoint is not a complete torchvision ResNet50")
        t = sd[key]
        used.add(key)
        a = t.detach().to("cpu").double().numpy()
        if shape is not None and tuple(a.shape) != tuple(shape):
            raise ConversionError(f"tensor '{key}' has shape {tuple(a.shape)} but a ResNet50 has {tuple(shape)} "
                                  "(wide_resnet50_2 and ResNeXt variants are not supported)")
        if not np.all(np.isfinite(a)):
            raise ConversionError(f"tensor '{key}' holds NaN or Inf values")
        return a

    specs = folded_specs(layers, num_classes)
    out = {}
    pairs = conv_bn_pairs(layers)
    for conv, bn, name in pairs:
        w = get(conv + ".weight", specs[name + ".weight"])
        if prefix + conv + ".bias" in sd:
            cb = get(conv + ".bias", (w.shape[0],))
        else:
            cb = np.zeros(w.shape[0])
        n = w.shape[0]
        gamma, beta = get(bn + ".weight", (n,)), get(bn + ".bias", (n,))
        mean, var = get(bn + ".running_mean", (n,)), get(bn + ".running_var", (n,))
        if np.any(var < 0):
            raise ConversionError(f"'{prefix}{bn}.running_var' has negative entries: the checkpoint is damaged")
        used.add(prefix + bn + ".num_batches_tracked")
        scale = gamma / np.sqrt(var + BN_EPS)  # float64: one rounding at the final cast
        out[name + ".weight"] = (w * scale[:, None, None, None]).astype(np.float32)
        out[name + ".bias"] = (beta + (cb - mean) * scale).astype(np.float32)
    if num_classes:
        out["fc.weight"] = get("fc.weight", specs["fc.weight"]).astype(np.float32)
        out["fc.bias"] = get("fc.bias", specs["fc.bias"]).astype(np.float32)
    else:
        used.update({prefix + "fc.weight", prefix + "fc.bias"})
    if progress:
        sys.stderr.write(f"folding BatchNorm: {len(pairs)} convs folded\n")
    extra = sorted(k for k in sd if k.startswith(prefix) and k not in used and not k.endswith("num_batches_tracked"))
    if extra:
        raise ConversionError(f"unexpected tensors for a ResNet50: {', '.join(extra[:5])}"
                              f"{' ...' if len(extra) > 5 else ''} (is this a modified ResNet?)")
    # Keep the spec order (conv1, layer1..4, fc) in the file.
    return {k: out[k] for k in specs}


def convert_state_dict(sd, prefix=None, no_fc=False, progress=True):
    """(tensors, config) of the folded ResNet in a state dict; used by convert.py tryon too."""
    prefix = detect_prefix(sd, prefix)
    layers = infer_layers(sd, prefix)
    if no_fc:
        num_classes = 0
    elif prefix + "fc.weight" in sd:
        num_classes = int(sd[prefix + "fc.weight"].shape[0])
    else:
        num_classes = 0
    tensors = fold(sd, prefix, layers, num_classes, progress)
    return tensors, {"layers": layers, "num_classes": num_classes}


def imagenet_categories():
    """torchvision's ImageNet-1k class names (shipped with torchvision, no download)."""
    import torchvision

    return list(torchvision.models.ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


def class_labels(path, num_classes):
    """The tailor.labels metadata value: one class name a line, or None."""
    if path:
        with open(path, encoding="utf-8") as f:
            labels = [line.rstrip("\r\n") for line in f]
        while labels and labels[-1] == "":
            labels.pop()
        if len(labels) != num_classes:
            raise ConversionError(f"{path} has {len(labels)} labels but the model has {num_classes} classes")
    elif num_classes == 1000:
        labels = imagenet_categories()
    else:
        return None
    if any("\n" in x for x in labels):
        raise ConversionError("a class label contains a line break")
    return "\n".join(labels) + "\n"


def run(args) -> None:
    progress = not getattr(args, "quiet", False)
    untrained = []
    if args.random_init is not None:
        if args.src is not None:
            raise ConversionError("give either SRC or --random-init SEED, not both")
        if args.num_classes < 0:
            raise ConversionError("--num-classes must be >= 0")
        model = make_random_resnet50(args.random_init, max(args.num_classes, 1))
        sd = model.state_dict()
        tensors, config = convert_state_dict(sd, "", no_fc=args.no_fc or args.num_classes == 0, progress=progress)
        source = source_record([], progress=False)
        source["random_init"] = {"seed": args.random_init, "init": "torchvision resnet50 init, random BatchNorm"}
        untrained = ["image"]
        pre = PREPROCESS["v1" if args.preprocess == "auto" else args.preprocess]
    else:
        if args.src is None:
            raise ConversionError("missing SRC (a torchvision .pth), or pass --random-init SEED")
        sd = load_state_dict(args.src, args.trust_pickle)
        tensors, config = convert_state_dict(sd, args.prefix, no_fc=args.no_fc, progress=progress)
        source = source_record([args.src], progress=progress)
        choice = args.preprocess
        if choice == "auto":
            choice = "v2" if V2_FILE.search(os.path.basename(args.src)) else "v1"
            if progress:
                sys.stderr.write(f"preprocess: {choice} (Resize {PREPROCESS[choice]['resize']}); "
                                 "pass --preprocess v1|v2 to choose\n")
        pre = PREPROCESS[choice]
    labels = class_labels(args.labels, config["num_classes"])
    write_bundle(args.out, tensors, arch="resnet50", config=config, preprocess=pre, transforms=["bn_folded"],
                 untrained=untrained, source=source, storage=args.dtype, progress=progress,
                 extra_metadata={"tailor.labels": labels} if labels else None)
    if progress:
        n = sum(a.size for a in tensors.values())
        sys.stderr.write(f"wrote {args.out}: {len(tensors)} tensors, {n / 1e6:.1f} M parameters, "
                         f"layers {config['layers']}, {config['num_classes']} classes\n")
