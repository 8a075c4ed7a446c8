"""Sentinel-3 OLCI products in QGIS: a band file of a `.SEN3` product (as QGIS opens it: the file, or the NetCDF
variable) sends the whole product to the engine, which reads it; the dock and Processing show its bands."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, engine_python_or_fail
from qgis.core import QgsRasterLayer, QgsRectangle, QgsVectorLayer

from sargasses_qgis.band_matching import auto_mapping, missing_bands
from sargasses_qgis.raster_input import InputError, automatic_plan, layer_file, plan_input, product_band_sources


@pytest.fixture(scope="module")
def products(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sen3")
    command = [engine_python_or_fail(), "-m", "sargasses", "synth", str(folder), "--olci", "--seed", "3"]
    subprocess.run(command, check=True, capture_output=True)
    return {"l1": next(folder.glob("*_OL_1_EFR_*.SEN3")), "l2": next(folder.glob("*_OL_2_WFR_*.SEN3"))}


def test_a_band_file_of_a_product_stands_for_the_product(products) -> None:
    l1, l2 = products["l1"], products["l2"]
    band = QgsRasterLayer(str(l1 / "Oa08_radiance.nc"), "Oa08")
    variable = QgsRasterLayer(f'NETCDF:"{l2 / "Oa08_reflectance.nc"}":Oa08_reflectance', "Oa08 L2")
    assert band.isValid() and variable.isValid()
    assert layer_file(band) == str(l1) and layer_file(variable) == str(l2)
    sources = product_band_sources(band, 300.0)
    labels = [s.label for s in sources]
    assert labels[0] == "Oa01 (Oa01_radiance.nc)" and len(labels) == 21 + 3
    assert labels[-3:] == [
        "red (OTCI rendering of Oa12)",
        "green (OTCI rendering of Oa11)",
        "blue (OTCI rendering of Oa10)",
    ]
    assert len(product_band_sources(variable, 300.0)) == 16 + 3  # Level-2 has no absorption bands
    for bands in (["Oa08", "Oa12", "Oa17"], ["red", "green", "blue"]):
        mapping = auto_mapping(bands, sources)
        assert not missing_bands(mapping)
        plan = plan_input(band, mapping, True, 300.0, None)
        assert (plan.kind, plan.path) == ("file", str(l1))


def test_processing_sends_the_product_and_refuses_what_it_cannot_do(products) -> None:
    band = QgsRasterLayer(str(products["l2"] / "Oa17_reflectance.nc"), "Oa17")
    plan = automatic_plan(band, ["Oa08", "Oa12", "Oa17"], 300.0, None)
    assert (plan.kind, plan.path) == ("file", str(products["l2"]))
    with pytest.raises(InputError, match="no map coordinates"):
        automatic_plan(band, ["Oa08"], 300.0, QgsRectangle(0, 0, 10, 10))
    mapping = auto_mapping(["Oa08"], product_band_sources(band, 300.0))
    with pytest.raises(InputError, match="automatic band choice"):
        plan_input(band, mapping, False, 300.0, None)


# A model for the OTCI rendering whose answer is known (tests/core/model_helpers.py): red - blue > 4 is Sargassum.
RGB_MODEL = """
import sys
sys.path.insert(0, sys.argv[2])
from model_helpers import make_card, red_edge_weights
from sargasses.model_file import save_model_file
card = make_card("HalfUNet", {"num_filters": 4, "bias": True, "autopad_enabled": True}, band_names=["red", "green", "blue"],
                 sensor="otci_rgb", gsd_m=300.0, tile_size=64, tile_overlap=16, name="test-otci")
save_model_file(sys.argv[1], red_edge_weights(card, gain=2.0, rise=4.0, high="red", low="blue"), card)
"""


def test_processing_runs_an_rgb_model_on_a_product(plugin, products, tmp_path: Path) -> None:
    """The original way: a model of the rendered RGB runs on the Level-2 product through Processing; every planted
    raft (one grid pixel each, so the minimum size is lowered to one pixel) is found, nothing else."""
    import processing

    model = tmp_path / "otci.pt"
    subprocess.run([engine_python_or_fail(), "-c", RGB_MODEL, str(model), str(ROOT / "tests" / "core")], check=True)
    out = tmp_path / "rafts.gpkg"
    band = products["l2"] / "Oa08_reflectance.nc"
    result = processing.run(
        "sargasses:detect", {"INPUT": str(band), "OUTPUT": str(out), "MODEL": str(model), "MIN_AREA": 1}
    )
    rafts = QgsVectorLayer(result["OUTPUT"], "rafts", "ogr")
    planted = json.loads(next(products["l2"].parent.glob("olci_*_planted.json")).read_text())["rafts"]
    assert rafts.crs().authid() == "EPSG:32620"  # the UTM zone of the product's centre
    assert len(planted) - 1 <= rafts.featureCount() == result["RAFT_COUNT"] <= len(planted)
