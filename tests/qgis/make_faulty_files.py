"""Faulty inputs for the Processing fault tests (run with the core environment's Python: QGIS's has no rasterio).

`make_faulty_files.py FOLDER SCENE` writes, from the synthetic SCENE, the files a careful user or a hostile file
brings (issue 21), and prints one JSON line naming them: a model whose weights hold a NaN, a model whose card.json
is a zip bomb, a model file that is text, the scene with an extra band that also says it is B04, the scene without
its CRS, and the scene with only its first four bands. The hostile model files are tests/core/hostile_files.py's.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))

import rasterio
from detect_helpers import make_card
from hostile_files import write_bomb, write_nan_model


def _rewrite(source: Path, target: Path, bands: list[int], names: list[str], crs: bool = True) -> Path:
    """`source`'s bands `bands` (1-based, in that order) as `target`, described `names`, with or without its CRS."""
    with rasterio.open(source) as src:
        profile = {**src.profile, "count": len(bands)}
        if not crs:
            profile["crs"] = None
        with rasterio.open(target, "w", **profile) as dst:
            for i, (band, name) in enumerate(zip(bands, names, strict=True), start=1):
                dst.write(src.read(band), i)
                dst.set_band_description(i, name)
    return target


def main(folder: str, scene: str) -> None:
    root, source = Path(folder), Path(scene)
    root.mkdir(parents=True, exist_ok=True)
    with rasterio.open(source) as src:
        names = [d or f"band {i}" for i, d in enumerate(src.descriptions, start=1)]
    count = len(names)
    text_model = root / "text.sargasses"
    text_model.write_text("not a model\n")
    files = {
        "nan_model": write_nan_model(root / "nan.sargasses", make_card(tile_size=64, tile_overlap=16)),
        "bomb_model": write_bomb(root / "bomb.sargasses", "card.json", 64 << 20),
        "text_model": text_model,
        # B11's values first, described "B04": taken as B04, it gave 62 rafts instead of 14 (issue 21, item 2)
        "duplicate_bands": _rewrite(
            source, root / "duplicate.tif", [names.index("B11") + 1, *range(1, count + 1)], ["B04", *names]
        ),
        "no_crs": _rewrite(source, root / "no_crs.tif", list(range(1, count + 1)), names, crs=False),
        "four_bands": _rewrite(source, root / "four_bands.tif", [1, 2, 3, 4], names[:4]),
    }
    print(json.dumps({key: str(path) for key, path in files.items()}))


if __name__ == "__main__":
    main(*sys.argv[1:])
