"""tailor_bundle: write and read tailor weight bundles (safetensors + tailor.* metadata).

A bundle is a standard safetensors file: an 8-byte little-endian header length, a JSON
header ({"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets"}}), then the
tensor bytes back to back. This writer pads the header with spaces so the data section
starts on a 64-byte boundary, streams tensors to a temporary file with progress on stderr,
and renames it into place only when complete.

Metadata keys (DESIGN.md): tailor.format, tailor.arch, tailor.config, tailor.vocab,
tailor.preprocess, tailor.transforms, tailor.source, tailor.untrained.
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
import sys
import time
from typing import Iterable, Mapping

import numpy as np

FORMAT_VERSION = "1"
CONVERTER_VERSION = "0.1.0"
ARCHES = ("resnet50", "bert", "tryon")
STORAGE_DTYPES = ("f32", "f16", "bf16")
_ST_NAME = {"f32": "F32", "f16": "F16", "bf16": "BF16"}
_ST_SIZE = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2,
            "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "F64": 8, "I64": 8, "U64": 8}


class ConversionError(Exception):
    """A problem with the user's input; convert.py prints it as `convert.py: error: ...`."""


class Progress:
    """Progress on stderr: a rewritten line on a terminal, a line per 10% otherwise."""

    def __init__(self, label: str, total: int, enabled: bool = True):
        self.label, self.total, self.enabled = label, max(total, 1), enabled
        self.tty = sys.stderr.isatty()
        self.done = 0
        self.last_decile = -1
        self.t0 = time.monotonic()

    def update(self, n: int) -> None:
        self.done += n
        if not self.enabled:
            return
        frac = min(self.done / self.total, 1.0)
        mb = self.done / 2**20
        if self.tty:
            sys.stderr.write(f"\r{self.label}: {frac:6.1%} ({mb:.1f} MiB)")
            sys.stderr.flush()
        elif int(frac * 10) > self.last_decile:
            self.last_decile = int(frac * 10)
            sys.stderr.write(f"{self.label}: {frac:.0%} ({mb:.1f} MiB)\n")

    def finish(self) -> None:
        if self.enabled:
            secs = time.monotonic() - self.t0
            sys.stderr.write(("\r" if self.tty else "") +
                             f"{self.label}: done, {self.done / 2**20:.1f} MiB in {secs:.1f} s\n")


def sha256_file(path: str, progress: bool = True) -> str:
    """SHA-256 of a file, with progress for large ones."""
    size = os.path.getsize(path)
    h = hashlib.sha256()
    p = Progress(f"hashing {os.path.basename(path)}", size, progress and size > 64 * 2**20)
    with open(path, "rb") as f:
        while chunk := f.read(8 * 2**20):
            h.update(chunk)
            p.update(len(chunk))
    if size > 64 * 2**20:
        p.finish()
    return h.hexdigest()


def source_record(paths: Iterable[str], note: str = "", progress: bool = True) -> dict:
    """The tailor.source value: each source file's name, size and SHA-256."""
    files = []
    for p in paths:
        files.append({"file": os.path.basename(os.path.normpath(p)), "bytes": os.path.getsize(p),
                      "sha256": sha256_file(p, progress)})
    rec = {"converter": f"tailor converters/convert.py {CONVERTER_VERSION}", "files": files}
    if note:
        rec["note"] = note
    return rec


def f32_to_bf16_bits(a: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bit patterns (uint16), round to nearest even, NaN kept NaN."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    u = a.view(np.uint32).astype(np.uint64)
    rounded = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(a)
    if nan.any():
        rounded[nan] = ((u[nan] >> 16) | 0x40).astype(np.uint16)
    return rounded


def bf16_bits_to_f32(b: np.ndarray) -> np.ndarray:
    return (b.astype(np.uint32) << 16).view(np.float32)


def _encode(arr: np.ndarray, storage: str) -> tuple[str, bytes]:
    """(safetensors dtype, little-endian bytes) for a tensor stored as `storage`."""
    arr = np.asarray(arr)
    if arr.dtype.kind == "f":
        a32 = np.ascontiguousarray(arr, dtype=np.float32)
        if storage == "f32":
            return "F32", a32.astype("<f4").tobytes()
        if storage == "f16":
            return "F16", a32.astype("<f2").tobytes()
        return "BF16", f32_to_bf16_bits(a32).astype("<u2").tobytes()
    kinds = {np.dtype("int64"): "I64", np.dtype("int32"): "I32", np.dtype("uint8"): "U8",
             np.dtype("int8"): "I8", np.dtype("bool"): "BOOL"}
    if arr.dtype not in kinds:
        raise ValueError(f"unsupported tensor dtype {arr.dtype}")
    return kinds[arr.dtype], np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()


def write_bundle(path: str, tensors: Mapping[str, np.ndarray], *, arch: str, config: dict,
                 vocab: str | None = None, preprocess: dict | None = None,
                 transforms: Iterable[str] = (), untrained: Iterable[str] = (),
                 source: dict | None = None, storage: str = "f32",
                 extra_metadata: Mapping[str, str] | None = None, progress: bool = True) -> None:
    """Writes `tensors` (name -> array, in order) as a tailor bundle at `path`.

    Float tensors are stored as `storage` (f32, f16 or bf16); others keep their dtype.
    """
    if arch not in ARCHES:
        raise ValueError(f"arch must be one of {ARCHES}, not {arch!r}")
    if storage not in STORAGE_DTYPES:
        raise ValueError(f"storage must be one of {STORAGE_DTYPES}, not {storage!r}")
    meta = {"tailor.format": FORMAT_VERSION, "tailor.arch": arch,
            "tailor.config": json.dumps(config, sort_keys=True)}
    if vocab is not None:
        meta["tailor.vocab"] = vocab
    if preprocess is not None:
        meta["tailor.preprocess"] = json.dumps(preprocess, sort_keys=True)
    meta["tailor.transforms"] = json.dumps(list(transforms))
    untrained = list(untrained)
    if untrained:
        meta["tailor.untrained"] = json.dumps(untrained)
    if source is not None:
        meta["tailor.source"] = json.dumps(source, sort_keys=True)
    if extra_metadata:
        meta.update(extra_metadata)

    header: dict = {"__metadata__": meta}
    encoded: list[tuple[str, bytes]] = []
    offset = 0
    for name, arr in tensors.items():
        dtype, raw = _encode(arr, storage)
        header[name] = {"dtype": dtype, "shape": [int(d) for d in np.shape(arr)],
                        "data_offsets": [offset, offset + len(raw)]}
        encoded.append((name, raw))
        offset += len(raw)
    hjson = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    pad = (-(8 + len(hjson))) % 64
    hjson += b" " * pad

    tmp = f"{path}.tmp{os.getpid()}"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    p = Progress(f"writing {os.path.basename(path)}", offset, progress and offset > 16 * 2**20)
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(hjson)))
            f.write(hjson)
            for _, raw in encoded:
                f.write(raw)
                p.update(len(raw))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    if offset > 16 * 2**20:
        p.finish()


def read_bundle(path: str) -> tuple[dict, dict]:
    """(metadata, {name: float32 or integer array}) of a bundle; F16/BF16 become float32."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        raw = data[base + b: base + e]
        dt = info["dtype"]
        if dt == "F32":
            a = np.frombuffer(raw, "<f4")
        elif dt == "F16":
            a = np.frombuffer(raw, "<f2").astype(np.float32)
        elif dt == "BF16":
            a = bf16_bits_to_f32(np.frombuffer(raw, "<u2"))
        else:
            a = np.frombuffer(raw, {"I64": "<i8", "I32": "<i4", "U8": "u1", "I8": "i1", "BOOL": "?"}[dt])
        out[name] = a.reshape(info["shape"])
    return meta, out
