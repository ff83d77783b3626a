"""`convert.py resnet50` and the image CLI commands (issue 5): what users see.

Converter: torchvision state dicts plain, under "image_encoder." / "module." prefixes, nested
in {"state_dict": ...}, whole pickled models (only with --trust-pickle), --no-fc, --dtype,
--preprocess; clear errors for ResNet18 (BasicBlock), BERT checkpoints, Git LFS pointers,
HTML pages, extra / missing / NaN tensors.
CLI: classify (labels from the bundle, --labels, --top, --json), image-features and preprocess
(stages, --weights transform), and `tailor: error: ...` with exit 1 (bad input) or 2 (bad
usage) for hostile images, wrong bundles and wrong tensors, never a crash.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
CONV = os.path.dirname(HERE)
sys.path.insert(0, CONV)

FIX = os.path.join(os.environ.get("TAILOR_FIXTURES", ""), "resnet")


def tailor(*args, timeout=300):
    path = os.environ.get("TAILOR_BIN")
    if not path or not os.path.exists(path):
        pytest.skip("TAILOR_BIN not set (run through ctest)")
    return subprocess.run([path, *args], capture_output=True, text=True, timeout=timeout)


def convert(*args):
    """convert.py resnet50 ARGS --quiet, in this process (torch is imported once)."""
    import contextlib
    import io
    import types

    import convert as convert_py

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            rc = convert_py.main(["resnet50", *args, "--quiet"])
        except SystemExit as e:  # argparse usage errors
            rc = e.code
    return types.SimpleNamespace(returncode=rc, stderr=err.getvalue())


def bundle():
    return os.path.join(FIX, "resnet50.safetensors")


def image(name):
    return os.path.join(FIX, "images", name)


@pytest.fixture(scope="module")
def seed_state_dict():
    import torch

    return torch.load(os.path.join(FIX, "resnet50_seed.pth"), weights_only=True)


# ---- converter -------------------------------------------------------------------------------
def test_prefixed_and_nested_checkpoints_convert_to_the_same_tensors(tmp_path, seed_state_dict):
    import torch

    from tailor_bundle import read_bundle

    _, ref = read_bundle(bundle())
    ck = {"state_dict": {"image_encoder." + k: v for k, v in seed_state_dict.items()},
          "text_encoder.embeddings.word_embeddings.weight": torch.zeros(2, 2)}
    src = tmp_path / "tryon.pth"
    torch.save(ck, src)
    out = tmp_path / "a.safetensors"
    r = convert(str(src), str(out), "--preprocess", "v2", "--dtype", "f16")
    assert r.returncode == 0, r.stderr
    meta, t = read_bundle(str(out))
    assert json.loads(meta["tailor.preprocess"])["resize"] == 232
    assert t.keys() == ref.keys()
    for k in t:
        assert np.allclose(t[k], ref[k], rtol=1e-3, atol=1e-3), k  # f16 storage
    # tailor preprocess takes the transform from the bundle
    r = tailor("preprocess", image("skimage_chelsea.png"), "--out", str(tmp_path / "x.npy"), "--weights", str(out))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["resize"] == 232


def test_dataparallel_prefix_and_no_fc(tmp_path, seed_state_dict):
    import torch

    src = tmp_path / "dp.pth"
    torch.save({"module." + k: v for k, v in seed_state_dict.items()}, src)
    out = tmp_path / "nofc.safetensors"
    r = convert(str(src), str(out), "--no-fc")
    assert r.returncode == 0, r.stderr
    r = tailor("inspect", str(out), "--no-tensors")
    assert r.returncode == 0 and "no fc (features only)" in r.stdout
    # features only: pooled works, logits and classify are refused clearly
    ok = tailor("image-features", "--weights", str(out), image("skimage_coffee.png"))
    assert ok.returncode == 0 and len(json.loads(ok.stdout)["features"]) == 2048
    for args in (["image-features", "--weights", str(out), "--output", "logits", image("skimage_coffee.png")],
                 ["classify", "--weights", str(out), image("skimage_coffee.png")]):
        r = tailor(*args)
        assert r.returncode == 1 and "no fc layer" in r.stderr


def test_whole_pickled_model_needs_trust_pickle(tmp_path):
    import torch
    import torchvision

    src = tmp_path / "model.pth"
    torch.save(torchvision.models.resnet50(weights=None), src)
    r = convert(str(src), str(tmp_path / "m.safetensors"))
    assert r.returncode == 1 and "--trust-pickle" in r.stderr
    r = convert(str(src), str(tmp_path / "m.safetensors"), "--trust-pickle")
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("what", ["resnet18", "bert", "lfs", "html", "extra", "missing", "nan", "wide"])
def test_converter_refuses_what_is_not_a_resnet50(tmp_path, what, seed_state_dict):
    import torch
    import torchvision

    src = tmp_path / "bad.pth"
    expect = {"resnet18": "BasicBlock", "bert": "not a torchvision ResNet", "lfs": "Git LFS", "html": "HTML",
              "extra": "unexpected tensors", "missing": "missing tensor", "nan": "NaN", "wide": "has shape"}[what]
    if what == "resnet18":
        torch.save(torchvision.models.resnet18(weights=None).state_dict(), src)
    elif what == "bert":
        torch.save({"embeddings.word_embeddings.weight": torch.zeros(4, 4), "pooler.dense.weight": torch.zeros(4, 4)},
                   src)
    elif what == "lfs":
        src.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 102530333\n")
    elif what == "html":
        src.write_text("<!DOCTYPE html><html><body>Not found</body></html>")
    elif what == "wide":  # wide_resnet50_2's first block: twice the planes
        sd = dict(seed_state_dict)
        sd["layer1.0.conv1.weight"] = torch.zeros(128, 64, 1, 1)
        torch.save(sd, src)
    else:
        sd = dict(seed_state_dict)
        if what == "extra":
            sd["layer1.0.se.fc.weight"] = torch.zeros(4, 4)
        elif what == "missing":
            del sd["layer3.2.bn1.running_var"]
        else:
            sd["layer2.0.conv2.weight"] = sd["layer2.0.conv2.weight"].clone()
            sd["layer2.0.conv2.weight"][0, 0, 0, 0] = float("nan")
        torch.save(sd, src)
    r = convert(str(src), str(tmp_path / "out.safetensors"))
    assert r.returncode == 1, r.stderr
    assert r.stderr.startswith("convert.py: error:") and expect in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "out.safetensors").exists()


# ---- CLI --------------------------------------------------------------------------------------
def test_classify_prints_top_k_with_imagenet_labels(tmp_path):
    r = tailor("classify", "--weights", bundle(), "--top", "3", "--json", image("skimage_chelsea.png"),
               image("skimage_rocket.jpg"))
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [os.path.basename(x["image"]) for x in rows] == ["skimage_chelsea.png", "skimage_rocket.jpg"]
    with open(os.path.join(os.path.dirname(CONV), "examples", "data", "imagenet_classes.txt")) as f:
        names = f.read().splitlines()
    for row in rows:
        assert len(row["top"]) == 3
        probs = [t["probability"] for t in row["top"]]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0 + 1e-6
        for t in row["top"]:
            assert t["label"] == names[t["class"]]
    # The same top class as torchvision's logits for this photo.
    fx = json.load(open(os.path.join(FIX, "fixtures.json")))
    files = fx["cases"]["photos"]["files"]
    ref = np.load(os.path.join(FIX, "ref", "photos_logits.npy"))[files.index("skimage_chelsea.png")]
    assert rows[0]["top"][0]["class"] == int(np.argmax(ref))
    # --labels overrides, and must match the class count
    lab = tmp_path / "labels.txt"
    lab.write_text("\n".join(f"c{i}" for i in range(1000)) + "\n")
    r = tailor("classify", "--weights", bundle(), "--labels", str(lab), image("skimage_chelsea.png"))
    assert r.returncode == 0 and " c" in r.stdout
    lab.write_text("a\nb\n")
    r = tailor("classify", "--weights", bundle(), "--labels", str(lab), image("skimage_chelsea.png"))
    assert r.returncode == 1 and "has 2 labels but the model has 1000 classes" in r.stderr


def test_preprocess_stages(tmp_path):
    p = image("skimage_coffee.png")  # 600 x 400
    shapes = {}
    for stage in ("rgb", "resized", "cropped", "tensor"):
        out = tmp_path / f"{stage}.npy"
        r = tailor("preprocess", p, "--out", str(out), "--stage", stage)
        assert r.returncode == 0, r.stderr
        a = np.load(out)
        shapes[stage] = a.shape
        assert a.dtype == (np.float32 if stage == "tensor" else np.uint8)
    assert shapes == {"rgb": (400, 600, 3), "resized": (256, 384, 3), "cropped": (224, 224, 3), "tensor": (1, 3, 224, 224)}


@pytest.mark.parametrize("content,expect", [
    (b"", "empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x01\x86\xa0\x00\x00\x00\x01\x08\x00\x00\x00\x00\x00\x00\x00\x00", "limit"),
    (b"GIF89a\x01\x00\x01\x00\x80\x00\x00", "GIF"),
    (b"<html>nope</html>", "HTML"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "not a valid JPEG"),
])
def test_hostile_images_are_clean_errors(tmp_path, content, expect):
    f = tmp_path / "hostile.img"
    f.write_bytes(content)
    for args in (["preprocess", str(f), "--out", str(tmp_path / "x.npy")],
                 ["image-features", "--weights", bundle(), str(f)],
                 ["classify", "--weights", bundle(), str(f)]):
        r = tailor(*args)
        assert r.returncode == 1, (args, r.stderr)
        assert r.stderr.startswith("tailor: error: ") and str(f) in r.stderr and expect in r.stderr, r.stderr


def test_usage_and_input_errors(tmp_path):
    assert tailor("image-features", image("skimage_coffee.png")).returncode == 2  # no --weights
    assert tailor("image-features", "--weights", bundle()).returncode == 2        # nothing to run
    assert tailor("preprocess", image("skimage_coffee.png")).returncode == 2      # no --out
    r = tailor("preprocess", image("skimage_coffee.png"), "--out", str(tmp_path / "x.npy"), "--stage", "bogus")
    assert r.returncode == 2
    for cmd in ("image-features", "classify", "preprocess"):
        h = tailor(cmd, "--help")
        assert h.returncode == 0 and "usage: tailor " + cmd in h.stdout
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((2, 224, 224), np.float32))
    r = tailor("image-features", "--weights", bundle(), "--tensor", str(bad))
    assert r.returncode == 1 and "not [N, 3, H, W]" in r.stderr
    np.save(bad, np.zeros((1, 3, 8, 8), np.uint8))
    r = tailor("image-features", "--weights", bundle(), "--tensor", str(bad))
    assert r.returncode == 1 and "uint8" in r.stderr
    bad.write_bytes(b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f4'")
    r = tailor("image-features", "--weights", bundle(), "--tensor", str(bad))
    assert r.returncode == 1 and "tailor: error:" in r.stderr
    r = tailor("image-features", "--weights", image("skimage_coffee.png"), image("skimage_coffee.png"))
    assert r.returncode == 1 and "tailor: error:" in r.stderr
