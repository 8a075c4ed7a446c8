"""Score a vector of rafts against a synthetic scene's label mask (run with the core environment's Python).

The QGIS tests cannot import the core (QGIS's Python has no rasterio); they run this script with SARGASSES_PYTHON
and read one JSON line: pixel precision/recall/F1 and the share of planted rafts that a polygon touches
(`object_recall`: rafts of DENSE_COVER or more, as tests/core/test_detect_cli.py judges the default model; fainter
rafts, labelled from 4 % cover, are the detection-limit benchmark's: `object_recall_all` counts them too).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
from rasterio.features import rasterize

from sargasses.evaluation.metrics import label_from_cover, object_counts
from sargasses.synth import make_scene

DENSE_COVER = 0.2


def dense_rafts(label: np.ndarray, label_path: str) -> np.ndarray:
    """The label with rafts under DENSE_COVER unscored: a `sargasses synth` scene is drawn again from its seed,
    size and kind (its JSON beside the label); any other label (no cover known) is kept whole."""
    meta_path = Path(label_path.replace("_label.tif", ".json"))
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    if not meta.get("synthetic") or "seed" not in meta:
        return label
    scene = make_scene(int(meta["seed"]), int(meta["size"]), str(meta["kind"]))
    return label_from_cover(label, scene.coverage, DENSE_COVER)


def main(vector_path: str, label_path: str) -> None:
    with rasterio.open(label_path) as src:
        label = src.read(1)
        frame = gpd.read_file(vector_path)
        if len(frame) and frame.crs != src.crs:
            frame = frame.to_crs(src.crs)
        shapes = [(geom, 1) for geom in frame.geometry if geom is not None and not geom.is_empty]
        detected = (
            rasterize(shapes, out_shape=label.shape, transform=src.transform, fill=0, dtype="uint8").astype(bool)
            if shapes
            else np.zeros(label.shape, bool)
        )
    scored = label != 255
    truth = (label == 1) & scored
    found = detected & scored
    tp = int((found & truth).sum())
    fp = int((found & ~truth).sum())
    fn = int((~found & truth).sum())
    objects = object_counts(detected & scored, np.where(scored, label, 0))
    dense = object_counts(detected & scored, dense_rafts(np.where(scored, label, 0), label_path))
    print(
        json.dumps(
            {
                "features": len(frame),
                "crs": frame.crs.to_string() if frame.crs is not None else None,
                "precision": tp / (tp + fp) if tp + fp else 0.0,
                "recall": tp / (tp + fn) if tp + fn else 0.0,
                "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
                "rafts_planted": objects.total,
                "rafts_found": objects.found,
                "object_recall_all": objects.recall,
                "dense_rafts_planted": dense.total,
                "object_recall": dense.recall,
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
