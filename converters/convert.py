#!/usr/bin/env python3
"""Convert PyTorch / Hugging Face checkpoints into tailor weight bundles.

    python converters/convert.py bert      SRC_DIR OUT.safetensors        # HF BERT / sentence-transformers folder
    python converters/convert.py resnet50  SRC.pth OUT.safetensors        # torchvision state dict (BN folded)
    python converters/convert.py tryon     CHECKPOINT OUT.safetensors     # the ImageTextModel (image + text + head)

Each subcommand has --help. Bundles are safetensors files with tailor.* metadata (see
README "Bundle format"); `tailor inspect OUT.safetensors` checks one.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from tailor_bundle import ConversionError  # noqa: E402

# Subcommand -> module (converters/<module>.py) providing HELP, add_arguments(parser) and
# run(args). Modules import torch inside run() so that --help stays fast.
SUBCOMMANDS = {
    "bert": "convert_bert",
    "resnet50": "convert_resnet50",
    "tryon": "convert_tryon",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="convert.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    here = os.path.dirname(os.path.abspath(__file__))
    for kind, module in SUBCOMMANDS.items():
        if not os.path.exists(os.path.join(here, module + ".py")):
            continue
        mod = importlib.import_module(module)
        p = sub.add_parser(kind, help=mod.HELP, description=mod.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
        p.add_argument("--quiet", action="store_true", help="no progress output")
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args._run(args)
    except ConversionError as e:
        print(f"convert.py: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
