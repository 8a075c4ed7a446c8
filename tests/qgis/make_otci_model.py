"""Train a model the original way and write an OTCI scene for the QGIS tests (run with the core environment's Python).

`make_otci_model.py FOLDER` fits configs/original_otci_halfunet.yaml tiny on synthetic OTCI PNG + npz data
(tests/core/otci_helpers.py, the same as the core tests), exports FOLDER/otci.sargasses, and writes the test scene as
FOLDER/otci.tif (georeferenced GeoTIFF), FOLDER/otci.png with otci.pgw + otci.prj, and FOLDER/otci_label.tif.
Prints one JSON line: the paths and the number of planted rafts.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))

from otci_helpers import (
    TEST_SEED,
    fit_original_tiny,
    make_otci_scene,
    write_geotiff,
    write_label_geotiff,
    write_png,
    write_world_file,
)


def main(folder: str) -> None:
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    model = fit_original_tiny(root)
    scene = make_otci_scene(TEST_SEED)
    png = write_png(root / "otci.png", scene)
    write_world_file(png)
    from rasterio.crs import CRS

    (root / "otci.prj").write_text(CRS.from_epsg(4326).to_wkt())
    paths = {
        "model": str(model),
        "tif": str(write_geotiff(root / "otci.tif", scene)),
        "png": str(png),
        "label": str(write_label_geotiff(root / "otci_label.tif", scene)),
        "rafts": scene.rafts,
    }
    print(json.dumps(paths))


if __name__ == "__main__":
    main(sys.argv[1])
