"""Test images for tailor's image pipeline, generated at test time (nothing large is committed).

    python converters/image_fixtures.py OUT_DIR            # writes the images + OUT_DIR/manifest.json

What it writes (each entry of manifest.json: file, kind, and a note):
  - every PNG colour type and bit depth, with and without tRNS transparency, plain and Adam7
    interlaced: gray 1/2/4/8/16, gray+alpha 8/16, RGB 8/16, RGBA 8/16, palette 1/2/4/8. PIL
    cannot write most of these (16-bit colour, low bit depths, interlacing), so a small PNG
    encoder is here (png_bytes);
  - odd sizes and aspect ratios (1x1 up to 2000x1500, 64:1 strips), so Resize both upscales
    and downscales and CenterCrop's rounding sees odd and even margins;
  - JPEGs written by PIL (libjpeg-turbo): qualities, 4:4:4 / 4:2:2 / 4:2:0 subsampling,
    progressive, optimized, grayscale, CMYK;
  - real photos: Debian's python3-skimage data images (PNG and JPEG) and gnome-backgrounds
    (WebP, re-encoded here as JPEG and PNG), when installed.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import struct
import sys
import zlib

import numpy as np

SKIMAGE_DIRS = ["/usr/lib/python3/dist-packages/skimage/data", "/usr/share/python3-skimage/data"]
GNOME_DIR = "/usr/share/backgrounds/gnome"

# Adam7 passes: (x0, y0, dx, dy)
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _pack_row(samples: np.ndarray, bit_depth: int) -> bytes:
    """One scanline's samples (1-D, already interleaved) at bit_depth."""
    if bit_depth == 16:
        return samples.astype(">u2").tobytes()
    if bit_depth == 8:
        return samples.astype(np.uint8).tobytes()
    per = 8 // bit_depth
    n = len(samples)
    out = bytearray((n * bit_depth + 7) // 8)
    for i, v in enumerate(samples.astype(int)):
        out[i // per] |= (v & ((1 << bit_depth) - 1)) << (8 - bit_depth * (i % per + 1))
    return bytes(out)


def png_bytes(samples: np.ndarray, color_type: int, bit_depth: int, palette=None, trns=None,
              interlace: bool = False, compress: int = 6) -> bytes:
    """A PNG of `samples` (H, W, channels) in the given colour type / bit depth (filter 0)."""
    h, w = samples.shape[:2]
    samples = samples.reshape(h, w, -1)
    assert samples.shape[2] == CHANNELS[color_type]
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 1 if interlace else 0)
    raw = bytearray()
    if not interlace:
        for y in range(h):
            raw += b"\x00" + _pack_row(samples[y].reshape(-1), bit_depth)
    else:
        for x0, y0, dx, dy in ADAM7:
            sub = samples[y0::dy, x0::dx]
            if sub.shape[0] == 0 or sub.shape[1] == 0:
                continue
            for row in sub:
                raw += b"\x00" + _pack_row(row.reshape(-1), bit_depth)
    out = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
    if palette is not None:
        out += _chunk(b"PLTE", bytes(np.asarray(palette, np.uint8).reshape(-1)))
    if trns is not None:
        out += _chunk(b"tRNS", trns)
    return out + _chunk(b"IDAT", zlib.compress(bytes(raw), compress)) + _chunk(b"IEND", b"")


def _pattern(h: int, w: int, c: int, maxval: int, seed: int) -> np.ndarray:
    """Smooth gradients plus noise: exercises the filter without being constant."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    planes = []
    for k in range(c):
        base = (np.sin(xx / (3.0 + 2 * k) + k) + np.cos(yy / (4.0 + k)) + 2) / 4
        noise = rng.random((h, w)) * 0.25
        planes.append(np.clip(base * 0.8 + noise, 0, 1))
    return np.round(np.stack(planes, -1) * maxval).astype(np.int64)


def png_cases():
    """(name, bytes, note) for every colour type, bit depth, tRNS and interlace combination."""
    cases = []
    h, w = 29, 37
    for bd in (1, 2, 4, 8, 16):
        cases.append((f"gray{bd}", png_bytes(_pattern(h, w, 1, (1 << bd) - 1, bd), 0, bd), f"gray {bd}-bit"))
    # 16-bit gray with values around 255 (PIL clips I;16 at 255 when converting).
    g16 = _pattern(h, w, 1, 400, 3)
    cases.append(("gray16_low", png_bytes(g16, 0, 16), "gray 16-bit, values 0..400 (PIL clips at 255)"))
    cases.append(("gray8_trns", png_bytes(_pattern(h, w, 1, 255, 4), 0, 8, trns=struct.pack(">H", 100)), "gray 8 + tRNS"))
    cases.append(("gray16_trns", png_bytes(g16, 0, 16, trns=struct.pack(">H", 200)), "gray 16 + tRNS"))
    cases.append(("gray2_trns", png_bytes(_pattern(h, w, 1, 3, 5), 0, 2, trns=struct.pack(">H", 1)), "gray 2 + tRNS"))
    for bd in (8, 16):
        m = (1 << bd) - 1
        cases.append((f"graya{bd}", png_bytes(_pattern(h, w, 2, m, 10 + bd), 4, bd), f"gray+alpha {bd}-bit"))
        cases.append((f"rgb{bd}", png_bytes(_pattern(h, w, 3, m, 20 + bd), 2, bd), f"RGB {bd}-bit"))
        cases.append((f"rgba{bd}", png_bytes(_pattern(h, w, 4, m, 30 + bd), 6, bd), f"RGBA {bd}-bit"))
    cases.append(("rgb8_trns", png_bytes(_pattern(h, w, 3, 255, 40), 2, 8, trns=struct.pack(">HHH", 10, 20, 30)),
                  "RGB 8 + tRNS"))
    cases.append(("rgb16_trns", png_bytes(_pattern(h, w, 3, 65535, 41), 2, 16, trns=struct.pack(">HHH", 1, 2, 3)),
                  "RGB 16 + tRNS"))
    rng = np.random.default_rng(50)
    for bd in (1, 2, 4, 8):
        n = 1 << bd
        pal = rng.integers(0, 256, (n, 3))
        idx = _pattern(h, w, 1, n - 1, 50 + bd)
        cases.append((f"palette{bd}", png_bytes(idx, 3, bd, palette=pal), f"palette {bd}-bit"))
    pal = rng.integers(0, 256, (256, 3))
    idx = _pattern(h, w, 1, 255, 60)
    cases.append(("palette8_trns", png_bytes(idx, 3, 8, palette=pal, trns=bytes(range(0, 256, 2))),
                  "palette 8 + tRNS"))
    # Adam7 interlaced, at a size where every pass is present and partial.
    ih, iw = 23, 19
    cases.append(("interlaced_gray8", png_bytes(_pattern(ih, iw, 1, 255, 70), 0, 8, interlace=True), "Adam7 gray 8"))
    cases.append(("interlaced_gray2", png_bytes(_pattern(ih, iw, 1, 3, 71), 0, 2, interlace=True), "Adam7 gray 2"))
    cases.append(("interlaced_rgb8", png_bytes(_pattern(ih, iw, 3, 255, 72), 2, 8, interlace=True), "Adam7 RGB 8"))
    cases.append(("interlaced_rgba16", png_bytes(_pattern(ih, iw, 4, 65535, 73), 6, 16, interlace=True),
                  "Adam7 RGBA 16"))
    cases.append(("interlaced_palette4", png_bytes(_pattern(ih, iw, 1, 15, 74), 3, 4, palette=rng.integers(0, 256, (16, 3)),
                                                   interlace=True), "Adam7 palette 4"))
    cases.append(("interlaced_gray16", png_bytes(_pattern(ih, iw, 1, 300, 75), 0, 16, interlace=True),
                  "Adam7 gray 16"))
    return cases


def _photo_like(h: int, w: int, seed: int) -> np.ndarray:
    return _pattern(h, w, 3, 255, seed).astype(np.uint8)


def generate(out_dir: str, include_system: bool = True, large: bool = True) -> list[dict]:
    """Writes the images into out_dir; returns the manifest entries."""
    from PIL import Image

    os.makedirs(out_dir, exist_ok=True)
    entries = []

    def add(name, data_or_path, kind, note):
        path = os.path.join(out_dir, name)
        if isinstance(data_or_path, bytes):
            with open(path, "wb") as f:
                f.write(data_or_path)
        else:
            shutil.copyfile(data_or_path, path)
        entries.append({"file": name, "kind": kind, "note": note})

    for name, data, note in png_cases():
        add(f"png_{name}.png", data, "png", note)

    sizes = [(1, 1), (2, 3), (3, 1), (7, 5), (17, 23), (100, 100), (223, 224), (224, 224), (255, 256), (256, 256),
             (257, 255), (300, 200), (511, 513), (1000, 37), (37, 1000), (64, 1), (1, 64), (640, 10), (233, 231)]
    if large:
        sizes.append((2000, 1500))
    for i, (w, h) in enumerate(sizes):
        im = Image.fromarray(_photo_like(h, w, 100 + i), "RGB")
        buf = io.BytesIO()
        im.save(buf, "PNG")
        add(f"size_{w}x{h}.png", buf.getvalue(), "png", f"RGB {w}x{h}")

    base = Image.fromarray(_photo_like(251, 333, 200), "RGB")
    jpeg_variants = [
        ("q95_444", dict(quality=95, subsampling=0)),
        ("q75_422", dict(quality=75, subsampling=1)),
        ("q50_420", dict(quality=50, subsampling=2)),
        ("progressive", dict(quality=85, progressive=True)),
        ("optimized", dict(quality=85, optimize=True)),
    ]
    for name, kw in jpeg_variants:
        buf = io.BytesIO()
        base.save(buf, "JPEG", **kw)
        add(f"jpeg_{name}.jpg", buf.getvalue(), "jpeg", f"333x251 {name}")
    buf = io.BytesIO()
    base.convert("L").save(buf, "JPEG", quality=90)
    add("jpeg_gray.jpg", buf.getvalue(), "jpeg", "grayscale JPEG")
    buf = io.BytesIO()
    base.convert("CMYK").save(buf, "JPEG", quality=90)
    add("jpeg_cmyk.jpg", buf.getvalue(), "jpeg", "CMYK JPEG (Adobe, inverted)")
    buf = io.BytesIO()
    Image.fromarray(_photo_like(13, 17, 201), "RGB").save(buf, "JPEG", quality=90)
    add("jpeg_17x13.jpg", buf.getvalue(), "jpeg", "tiny JPEG (partial MCUs)")
    buf = io.BytesIO()
    Image.fromarray(_photo_like(300, 7, 202), "RGB").save(buf, "JPEG", quality=90, progressive=True)
    add("jpeg_7x300_progressive.jpg", buf.getvalue(), "jpeg", "narrow progressive JPEG")

    if include_system:
        skdir = next((d for d in SKIMAGE_DIRS if os.path.isdir(d)), None)
        if skdir:
            for f in sorted(os.listdir(skdir)):
                if not f.endswith((".png", ".jpg")) or f == "truncated.jpg":
                    continue
                kind = "png" if f.endswith(".png") else "jpeg"
                add(f"skimage_{f}", os.path.join(skdir, f), kind, "python3-skimage data")
        if os.path.isdir(GNOME_DIR):
            # (file, longest side kept, also as PNG): one full 4096 x 4096 photo, the rest smaller.
            picks = [("wood-d.webp", 4096, False), ("adwaita-l.webp", 1600, False), ("vnc-l.webp", 256, True)]
            for f, side, as_png in picks if large else picks[2:]:
                p = os.path.join(GNOME_DIR, f)
                if not os.path.exists(p):
                    continue
                try:
                    im = Image.open(p).convert("RGB")
                except Exception:  # noqa: BLE001 - a PIL without WebP: skip
                    continue
                if max(im.size) > side:
                    im = im.resize((side, side * im.size[1] // im.size[0]), Image.LANCZOS)
                stem = f.rsplit(".", 1)[0]
                buf = io.BytesIO()
                im.save(buf, "JPEG", quality=90)
                add(f"gnome_{stem}.jpg", buf.getvalue(), "jpeg", f"gnome-backgrounds {im.size[0]}x{im.size[1]}, JPEG")
                if as_png:
                    buf = io.BytesIO()
                    im.save(buf, "PNG", compress_level=1)
                    add(f"gnome_{stem}.png", buf.getvalue(), "png", f"gnome-backgrounds {im.size[0]}x{im.size[1]}, PNG")

    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(entries, f, indent=1)
    return entries


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    e = generate(sys.argv[1])
    print(f"image_fixtures: wrote {len(e)} images to {sys.argv[1]}")
