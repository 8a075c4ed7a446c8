"""The labels file as the plugin leaves it: a polygon drawn where no image was has no scene, and a fine-tune says
so in one line instead of failing inside (it did: "'<' not supported between 'float' and 'str'")."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from sargasses.errors import SargassesError
from sargasses.training.label_store import LABELS_LAYER, add_to_store, read_store, store_scenes


def _store(tmp_path: Path) -> Path:
    image = tmp_path / "scene.tif"
    image.write_bytes(b"")  # only its name is read here
    labels = gpd.GeoDataFrame(
        {"scene": [str(image)], "kind": ["sargassum"], "date": ["2025-04-20"]}, geometry=[box(0, 0, 0.01, 0.01)]
    )
    return add_to_store(tmp_path / "sargasses_labels.gpkg", labels=labels)


def test_a_label_without_a_scene_is_refused_in_one_line(tmp_path: Path) -> None:
    path = _store(tmp_path)
    labels, _ = read_store(path)
    drawn = gpd.GeoDataFrame({"scene": [None], "kind": ["sargassum"]}, geometry=[box(5, 5, 5.01, 5.01)], crs=labels.crs)
    both = gpd.GeoDataFrame(pd.concat([labels, drawn], ignore_index=True), crs=labels.crs)
    both.to_file(path, layer=LABELS_LAYER, driver="GPKG")  # as QGIS saves a drawn polygon: the layer rewritten
    with pytest.raises(SargassesError) as refused:
        store_scenes(path)
    message = str(refused.value)
    assert "1 feature(s) of layer 'labels'" in message and "have no scene" in message and "\n" not in message


def test_a_store_whose_labels_all_have_scenes_is_read(tmp_path: Path) -> None:
    path = _store(tmp_path)
    [scene] = store_scenes(path)
    assert scene.image == tmp_path / "scene.tif" and scene.counts["sargassum"] == 1
