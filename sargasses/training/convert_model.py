"""`sargasses convert-model OLD.pt -o NEW.sargasses`: an old-format model file rewritten in the current format.

The old format (a PyTorch file) needs torch to be read, so the CPU engine cannot use it; the new file holds the
same card and weights plus the network's ONNX graph, which the CPU engine runs without torch (docs/detect.md).
Run it once where the full engine (`sargasses[full]`) is installed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sargasses.errors import SargassesError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sargasses convert-model",
        description="Rewrite a model file of the old format (.pt) as a .sargasses file (card, ONNX graph, weights).",
    )
    parser.add_argument("model", type=Path, help="model file of the old format (.pt)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="model file to write (.sargasses)")
    parser.add_argument("--force", action="store_true", help="replace OUTPUT if it exists")
    return parser


def main(argv: list[str] | None = None) -> int:
    from sargasses.model_file import convert_model_file

    args = build_parser().parse_args(argv)
    try:
        if args.output.resolve() == args.model.resolve():
            raise SargassesError("the output would replace the model file being converted; give another name")
        convert_model_file(args.model, args.output, force=args.force)
    except SargassesError as exc:
        print(f"sargasses: error: {exc}", file=sys.stderr)
        return 1
    size = args.output.stat().st_size / 1e6
    print(f"wrote {args.output} ({size:.2f} MB)")
    return 0
