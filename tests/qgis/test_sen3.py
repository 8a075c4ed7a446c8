"""Sentinel-3 OLCI products in QGIS: a band file of a `.SEN3` product (as QGIS opens it: the file, or the NetCDF
variable) sends the whole product to the engine, which reads it; the dock and Processing show its bands."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import engine_python_or_fail
from qgis.core import QgsRasterLayer, QgsRectangle

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
