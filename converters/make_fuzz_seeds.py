#!/usr/bin/env python3
"""Writes the small seed corpora committed under tests/fuzz/corpus/ (a few KB in all).

    python converters/make_fuzz_seeds.py            # regenerates tests/fuzz/corpus/safetensors
"""
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "tests"))

import tailor_bundle as tb  # noqa: E402
from test_bundle import TINY_BERT, VOCAB, tiny_bert_tensors  # noqa: E402


def main():
    out = os.path.join(HERE, "..", "tests", "fuzz", "corpus", "safetensors")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(0)
    t = tiny_bert_tensors(rng)
    for storage in ("f32", "f16", "bf16"):
        tb.write_bundle(os.path.join(out, f"tiny_bert_{storage}.safetensors"), t, arch="bert", config=TINY_BERT,
                        vocab=VOCAB, storage=storage, progress=False)
    cls = dict(t, **{"classifier.weight": rng.standard_normal((3, 4)).astype(np.float32),
                     "classifier.bias": np.zeros(3, np.float32)})
    tb.write_bundle(os.path.join(out, "tiny_bert_classifier.safetensors"), cls, arch="bert",
                    config=dict(TINY_BERT, num_labels=3), vocab=VOCAB, progress=False)
    header = b'{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"I64","shape":[1],"data_offsets":[16,24]}}'
    with open(os.path.join(out, "plain.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + bytes(24))
    with open(os.path.join(out, "empty_object.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", 2) + b"{}")


if __name__ == "__main__":
    main()
