#!/usr/bin/env python3
"""Writes the small image seed corpus committed under tests/fuzz/corpus/image/ (a few KB).

    python converters/make_image_seeds.py

The files seed the libFuzzer target tests/fuzz/fuzz_image.cpp and are the inputs of the
hostile-image unit tests (tests/test_image_hardening.cpp truncates each at every offset):
one PNG per colour type / bit depth (plain, tRNS, Adam7 interlaced) and JPEGs written by PIL
(baseline 4:2:0 / 4:2:2 / 4:4:4, progressive, grayscale, CMYK, restart intervals), all tiny.
"""
import io
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from image_fixtures import _pattern, png_bytes  # noqa: E402


def main():
    from PIL import Image

    out = os.path.join(HERE, "..", "tests", "fuzz", "corpus", "image")
    os.makedirs(out, exist_ok=True)
    h, w = 6, 7
    seeds = {}
    for bd in (1, 2, 4, 8, 16):
        seeds[f"gray{bd}.png"] = png_bytes(_pattern(h, w, 1, (1 << bd) - 1, bd), 0, bd)
    seeds["gray8_trns.png"] = png_bytes(_pattern(h, w, 1, 255, 1), 0, 8, trns=struct.pack(">H", 3))
    seeds["gray16_trns.png"] = png_bytes(_pattern(h, w, 1, 400, 2), 0, 16, trns=struct.pack(">H", 3))
    for bd in (8, 16):
        m = (1 << bd) - 1
        seeds[f"graya{bd}.png"] = png_bytes(_pattern(h, w, 2, m, 3), 4, bd)
        seeds[f"rgb{bd}.png"] = png_bytes(_pattern(h, w, 3, m, 4), 2, bd)
        seeds[f"rgba{bd}.png"] = png_bytes(_pattern(h, w, 4, m, 5), 6, bd)
    seeds["rgb8_trns.png"] = png_bytes(_pattern(h, w, 3, 255, 6), 2, 8, trns=struct.pack(">HHH", 1, 2, 3))
    rng = np.random.default_rng(7)
    for bd in (1, 2, 4, 8):
        n = 1 << bd
        seeds[f"palette{bd}.png"] = png_bytes(_pattern(h, w, 1, n - 1, 8), 3, bd, palette=rng.integers(0, 256, (n, 3)))
    seeds["palette8_trns.png"] = png_bytes(_pattern(h, w, 1, 255, 9), 3, 8, palette=rng.integers(0, 256, (256, 3)),
                                           trns=bytes([0, 128, 255]))
    ih, iw = 11, 9
    seeds["interlaced_rgb8.png"] = png_bytes(_pattern(ih, iw, 3, 255, 10), 2, 8, interlace=True)
    seeds["interlaced_gray16.png"] = png_bytes(_pattern(ih, iw, 1, 65535, 11), 0, 16, interlace=True)
    seeds["interlaced_palette2.png"] = png_bytes(_pattern(ih, iw, 1, 3, 12), 3, 2, palette=rng.integers(0, 256, (4, 3)),
                                                 interlace=True)

    base = Image.fromarray(_pattern(13, 17, 3, 255, 20).astype(np.uint8), "RGB")

    def jpeg(img, **kw):
        b = io.BytesIO()
        img.save(b, "JPEG", **kw)
        return b.getvalue()

    seeds["baseline_420.jpg"] = jpeg(base, quality=80, subsampling=2)
    seeds["baseline_422.jpg"] = jpeg(base, quality=80, subsampling=1)
    seeds["baseline_444.jpg"] = jpeg(base, quality=80, subsampling=0)
    seeds["progressive.jpg"] = jpeg(base, quality=80, progressive=True)
    seeds["gray.jpg"] = jpeg(base.convert("L"), quality=80)
    seeds["cmyk.jpg"] = jpeg(base.convert("CMYK"), quality=80)
    seeds["restart.jpg"] = jpeg(base, quality=80, restart_marker_blocks=1)
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"make_image_seeds: {len(seeds)} seeds, {sum(len(d) for d in seeds.values())} bytes in {out}")


if __name__ == "__main__":
    main()
