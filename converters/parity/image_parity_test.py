"""Preprocessing parity of tailor's image pipeline with PIL + torchvision (issue 5).

Runs converters/parity_image.py's checks on every image resnet_fixtures generated (every PNG
colour type and bit depth, interlaced, odd sizes and aspects, JPEG variants, real photos):
PNG decode identical, resize identical (uint8), normalized tensor max abs <= 1e-5, JPEG
end-to-end mean abs <= 0.01 with the decoder difference reported separately. Also the V2
transform (Resize 232) and a crop larger than the resize (torchvision's zero padding).
The measured figures are written to $TAILOR_FIXTURES/resnet/image_parity.json.
"""
import concurrent.futures
import json
import os
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import parity_image  # noqa: E402

FIX = os.path.join(os.environ.get("TAILOR_FIXTURES", ""), "resnet")


def _tailor():
    path = os.environ.get("TAILOR_BIN")
    if not path or not os.path.exists(path):
        pytest.skip("TAILOR_BIN not set (run through ctest)")
    return path


def _images():
    with open(os.path.join(FIX, "images", "manifest.json")) as f:
        return [os.path.join(FIX, "images", e["file"]) for e in json.load(f)]


def _check_all(paths, resize, crop):
    tailor = _tailor()

    def one(p):
        with tempfile.TemporaryDirectory() as tmp:
            return parity_image.check_image(tailor, p, resize, crop, tmp)

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as ex:
        return list(ex.map(one, paths))


def test_preprocessing_matches_pil_and_torchvision():
    paths = _images()
    assert len(paths) >= 50, "the fixture set should hold at least 50 images"
    results = _check_all(paths, 256, 224)
    summary = parity_image.summarize(results)
    with open(os.path.join(FIX, "image_parity.json"), "w") as f:
        json.dump({"summary": summary, "images": results}, f, indent=1)
    print(json.dumps(summary, indent=1))
    bad = [r for r in results if not r["ok"]]
    assert not bad, json.dumps(bad[:5], indent=1)
    assert summary["png"] >= 40 and summary["jpeg"] >= 8
    assert summary["png_decode_identical"] == summary["png"]
    assert summary["resize_identical"] == summary["images"]
    assert summary["tensor_max_abs_same_decode"] <= parity_image.BAR_TENSOR_MAX
    assert summary["png_e2e_max_abs"] <= parity_image.BAR_TENSOR_MAX
    assert summary["jpeg_e2e_mean_abs"]["max"] <= parity_image.BAR_JPEG_MEAN


@pytest.mark.parametrize("resize,crop", [(232, 224), (200, 224), (64, 56)])
def test_other_transforms(resize, crop):
    """V2 weights' Resize 232; a crop larger than the short side (zero padding); small sizes."""
    paths = [p for p in _images() if os.path.getsize(p) < 2_000_000][::5]
    results = _check_all(paths, resize, crop)
    bad = [r for r in results if not r["ok"]]
    assert not bad, json.dumps(bad[:5], indent=1)
