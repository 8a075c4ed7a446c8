"""Inference speed of candidate mfai networks on this CPU, to choose the default model (see configs/sentinel2_*.yaml).

Eager PyTorch, batch 4 x 512 x 512, 10 input bands, 2 threads, best of N runs after a warm-up; prints a table.
    .venv/bin/python benchmarks/model_speed.py [--threads 2] [--repeat 3]
Timings on a shared machine are noisy: compare rows of one run with each other.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "core"))  # model_helpers.make_card

CANDIDATES = [
    ("HalfUNet", {"num_filters": 4}),
    ("HalfUNet", {"num_filters": 8}),
    ("HalfUNet", {"num_filters": 12}),
    ("HalfUNet", {"num_filters": 16}),
    ("UNet", {"init_features": 4}),
    ("UNet", {"init_features": 8}),
    ("Segformer", {"dims": (16, 32, 64, 128), "heads": (1, 2, 4, 8), "decoder_dim": 64, "num_downsampling_chans": 16}),
]


def build(name: str, settings: dict):
    from model_helpers import make_card

    from sargasses.model_file import build_network

    card = make_card(name, settings={**settings, "autopad_enabled": True})
    return build_network(card).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    x = torch.rand(4, 10, args.size, args.size) * 0.05
    print(f"| network | settings | parameters | Mpx/s (batch 4x{args.size}^2, {args.threads} threads) |")
    print("|---|---|---|---|")
    for name, settings in CANDIDATES:
        net = build(name, settings)
        params = sum(p.numel() for p in net.parameters())
        with torch.inference_mode():
            net(x)
            best = float("inf")
            for _ in range(args.repeat):
                start = time.perf_counter()
                net(x)
                best = min(best, time.perf_counter() - start)
        print(f"| {name} | {settings} | {params:,} | {x.shape[0] * args.size**2 / best / 1e6:.2f} |", flush=True)


if __name__ == "__main__":
    main()
