"""ResNet50 parity with torchvision (issue 5): a seeded, untrained torchvision resnet50 with
random BatchNorm statistics (make_resnet_fixtures.py), converted by convert.py, run by
`tailor image-features` on random tensors, on real photos (their torchvision-preprocessed
tensors, and the image files end to end). Bar: rel L2 <= 1e-5 on logits and pooled features.
Also: results independent of threads and batch size; --random-init reproducible.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

FIX = os.path.join(os.environ.get("TAILOR_FIXTURES", ""), "resnet")
BAR = 1e-5


def _tailor():
    path = os.environ.get("TAILOR_BIN")
    if not path or not os.path.exists(path):
        pytest.skip("TAILOR_BIN not set (run through ctest)")
    return path


def _fixtures():
    with open(os.path.join(FIX, "fixtures.json")) as f:
        return json.load(f)


def features(*args, output="pooled", threads=2, batch=8):
    bundle = os.path.join(FIX, _fixtures()["bundle"])
    r = subprocess.run([_tailor(), "image-features", "--weights", bundle, "--output", output, "--threads", str(threads),
                        "--batch-size", str(batch), *args], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines()]


def rel_l2(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.mark.parametrize("case", ["random_224", "random_200x232", "photos"])
@pytest.mark.parametrize("output", ["logits", "pooled"])
def test_tensor_input_matches_torchvision(case, output):
    if case not in _fixtures()["cases"]:
        pytest.skip(f"no {case} fixture (test images missing)")
    x = os.path.join(FIX, "ref", f"{case}_x.npy")
    ref = np.load(os.path.join(FIX, "ref", f"{case}_{output}.npy"))
    got = np.array([r["features"] for r in features("--tensor", x, output=output)])
    assert got.shape == ref.shape
    err = rel_l2(got, ref)
    per_image = [rel_l2(g, r) for g, r in zip(got, ref)]
    print(f"{case} {output}: rel L2 {err:.2e} (worst image {max(per_image):.2e})")
    assert err <= BAR and max(per_image) <= BAR


@pytest.mark.parametrize("output", ["logits", "pooled"])
def test_amx_path_matches_torchvision(output):
    """--amx (the 1x1 convs on AMX tiles, bf16x6): the same bar; skipped where AMX is missing."""
    bundle = os.path.join(FIX, _fixtures()["bundle"])
    x = os.path.join(FIX, "ref", "random_224_x.npy")
    r = subprocess.run([_tailor(), "image-features", "--weights", bundle, "--output", output, "--threads", "2",
                        "--amx", "--tensor", x], capture_output=True, text=True, timeout=600)
    if r.returncode != 0 and "AMX" in r.stderr and "not available" in r.stderr:
        pytest.skip("AMX not available here")
    assert r.returncode == 0, r.stderr
    got = np.array([json.loads(line)["features"] for line in r.stdout.splitlines()])
    ref = np.load(os.path.join(FIX, "ref", f"random_224_{output}.npy"))
    err = rel_l2(got, ref)
    print(f"random_224 {output} on AMX: rel L2 {err:.2e}")
    assert err <= BAR


def test_photo_files_end_to_end():
    """Image files through tailor's own decode + preprocess + network. PNG preprocessing is
    exact, so PNG photos meet the model bar; JPEG photos carry the decoder difference
    (reported, bounded loosely)."""
    fx = _fixtures()
    if "photos" not in fx["cases"]:
        pytest.skip("no photo fixtures")
    files = fx["cases"]["photos"]["files"]
    ref = np.load(os.path.join(FIX, "ref", "photos_logits.npy"))
    got = features(*[os.path.join(FIX, "images", f) for f in files], output="logits")
    for f, g, r in zip(files, got, ref):
        err = rel_l2(g["features"], r)
        print(f"{f}: logits rel L2 {err:.2e}")
        if f.endswith(".png"):
            assert err <= BAR, f
        else:
            assert err <= 5e-2, f


def test_results_do_not_depend_on_threads_or_batch():
    x = os.path.join(FIX, "ref", "random_200x232_x.npy")
    a = features("--tensor", x, threads=1, batch=1)
    b = features("--tensor", x, threads=2, batch=8)
    assert a == b


def test_random_init_is_reproducible_and_labelled(tmp_path):
    """convert.py resnet50 --random-init SEED == converting make_random_resnet50(SEED)'s state dict."""
    import torch

    from convert_resnet50 import make_random_resnet50
    from tailor_bundle import read_bundle

    seed = _fixtures()["seed"]
    out = tmp_path / "r.safetensors"
    import convert as convert_py

    assert convert_py.main(["resnet50", "--random-init", str(seed), str(out), "--quiet"]) == 0
    meta, t = read_bundle(str(out))
    meta_ref, t_ref = read_bundle(os.path.join(FIX, _fixtures()["bundle"]))
    assert json.loads(meta["tailor.untrained"]) == ["image"]
    assert "tailor.untrained" not in meta_ref
    assert json.loads(meta["tailor.transforms"]) == ["bn_folded"]
    assert meta["tailor.labels"].splitlines()[0] == "tench"
    assert t.keys() == t_ref.keys()
    for k in t:
        assert np.array_equal(t[k], t_ref[k]), k
    # The folding itself, checked on one conv against PyTorch's conv + BN in float64.
    m = make_random_resnet50(seed).double()
    x = torch.randn(1, 64, 9, 9, dtype=torch.float64)
    with torch.no_grad():
        want = m.layer1[0].bn2(m.layer1[0].conv2(x)).numpy()
        w = torch.from_numpy(t["layer1.0.conv2.weight"].astype(np.float64))
        b = torch.from_numpy(t["layer1.0.conv2.bias"].astype(np.float64))
        got = torch.nn.functional.conv2d(x, w, b, padding=1).numpy()
    assert np.abs(got - want).max() < 1e-5 * np.abs(want).max()
