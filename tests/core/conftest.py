"""Shared fixtures for the core tests: small real rasters written on the fly.

`write_raster(path, data, ...)` (fixture; function `write_raster_file`) writes a GeoTIFF (or any GDAL driver, e.g. JP2OpenJPEG) with georeferencing,
band descriptions, nodata and metadata tags; `make_safe(tmp_path, ...)` (fixture; `make_safe_tree`) builds a small Sentinel-2 .SAFE tree.
Tests ask for them as fixtures (importing `conftest` clashes when several test folders have one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

# A UTM tile in the Caribbean; north-up, pixels aligned on every resolution used in the tests.
TEST_CRS = "EPSG:32620"
TEST_ORIGIN = (600000.0, 1700040.0)


def write_raster_file(
    path: str | Path,
    data: np.ndarray,
    *,
    resolution: float = 20.0,
    origin: tuple[float, float] = TEST_ORIGIN,
    crs: str | None = TEST_CRS,
    transform: Affine | None = None,
    nodata: float | None = None,
    descriptions: Sequence[str | None] | None = None,
    tags: Mapping[str, object] | None = None,
    band_tags: Mapping[int, Mapping[str, object]] | None = None,
    driver: str = "GTiff",
    **creation_options: object,
) -> Path:
    """Write `data` ((C, H, W) or (H, W)) as a raster; returns its path. JP2 is written losslessly."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    array = data[np.newaxis] if data.ndim == 2 else data
    count, height, width = array.shape
    if transform is None:
        transform = Affine(resolution, 0.0, origin[0], 0.0, -resolution, origin[1])
    if driver == "JP2OpenJPEG":
        creation_options = {"QUALITY": 100, "REVERSIBLE": "YES", **creation_options}
    profile: dict[str, object] = {
        "driver": driver,
        "width": width,
        "height": height,
        "count": count,
        "dtype": array.dtype.name,
        "transform": transform,
        **creation_options,
    }
    if crs is not None:
        profile["crs"] = crs
    if nodata is not None:
        profile["nodata"] = nodata
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array)
        for index, description in enumerate(descriptions or [], start=1):
            if description is not None:
                dst.set_band_description(index, description)
        if tags:
            dst.update_tags(**{k: str(v) for k, v in tags.items()})
        for index, values in (band_tags or {}).items():
            dst.update_tags(index, **{k: str(v) for k, v in values.items()})
    return path


# Native resolution (m) of each Sentinel-2 band, for the fake products.
S2_NATIVE = {
    "B01": 60,
    "B02": 10,
    "B03": 10,
    "B04": 10,
    "B05": 20,
    "B06": 20,
    "B07": 20,
    "B08": 10,
    "B8A": 20,
    "B09": 60,
    "B10": 60,
    "B11": 20,
    "B12": 20,
}
_MTD_BAND_ORDER = list(S2_NATIVE)  # band_id 0..12


def fake_dn(band: str, resolution: float, size_m: float = 240.0, seed: int = 0) -> np.ndarray:
    """Distinct, reproducible digital numbers (1000..5999) for one band at one resolution."""
    n = round(size_m / resolution)
    rng = np.random.default_rng([seed, _MTD_BAND_ORDER.index(band), int(resolution)])
    return rng.integers(1000, 6000, size=(n, n)).astype(np.uint16)


def mtd_xml(level: str, offsets: Mapping[str, float] | None, quantification: float = 10000.0) -> str:
    """A trimmed MTD_MSIL1C.xml / MTD_MSIL2A.xml with the elements real products use for scaling."""
    offsets = offsets or {}
    spectral = "".join(
        f'<Spectral_Information bandId="{i}" physicalBand="{b.replace("B0", "B")}">'
        f"<RESOLUTION>{S2_NATIVE[b]}</RESOLUTION></Spectral_Information>"
        for i, b in enumerate(_MTD_BAND_ORDER)
    )
    special = (
        "<Special_Values><SPECIAL_VALUE_TEXT>NODATA</SPECIAL_VALUE_TEXT>"
        "<SPECIAL_VALUE_INDEX>0</SPECIAL_VALUE_INDEX></Special_Values>"
        "<Special_Values><SPECIAL_VALUE_TEXT>SATURATED</SPECIAL_VALUE_TEXT>"
        "<SPECIAL_VALUE_INDEX>65535</SPECIAL_VALUE_INDEX></Special_Values>"
    )
    if level == "L2A":
        root, quant_tag, offset_list, offset_tag = (
            "n1:Level-2A_User_Product",
            f'<QUANTIFICATION_VALUES_LIST><BOA_QUANTIFICATION_VALUE unit="none">{quantification:g}'
            "</BOA_QUANTIFICATION_VALUE><AOT_QUANTIFICATION_VALUE>1000.0</AOT_QUANTIFICATION_VALUE>"
            "</QUANTIFICATION_VALUES_LIST>",
            "BOA_ADD_OFFSET_VALUES_LIST",
            "BOA_ADD_OFFSET",
        )
    else:
        root, quant_tag, offset_list, offset_tag = (
            "n1:Level-1C_User_Product",
            f'<QUANTIFICATION_VALUE unit="none">{quantification:g}</QUANTIFICATION_VALUE>',
            "Radiometric_Offset_List",
            "RADIO_ADD_OFFSET",
        )
    offset_xml = "".join(
        f'<{offset_tag} band_id="{_MTD_BAND_ORDER.index(b)}">{v:g}</{offset_tag}>' for b, v in offsets.items()
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<{root} xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-2A.xsd">'
        "<n1:General_Info><Product_Info>"
        "<PRODUCT_START_TIME>2023-06-14T14:35:21.024Z</PRODUCT_START_TIME>"
        "<PROCESSING_BASELINE>05.09</PROCESSING_BASELINE>"
        "</Product_Info><Product_Image_Characteristics>"
        f"{special}{quant_tag}<{offset_list}>{offset_xml}</{offset_list}>"
        f"<Spectral_Information_List>{spectral}</Spectral_Information_List>"
        "</Product_Image_Characteristics></n1:General_Info>"
        f"</{root}>"
    )


def make_safe_tree(
    folder: str | Path,
    level: str = "L2A",
    *,
    name: str | None = None,
    bands: Mapping[str, Sequence[float]] | None = None,
    offsets: Mapping[str, float] | None = None,
    with_mtd: bool = True,
    size_m: float = 240.0,
    driver: str = "JP2OpenJPEG",
) -> tuple[Path, dict[tuple[str, float], np.ndarray]]:
    """A small .SAFE tree (JP2 band files at their resolutions, an MTD file); returns it and the DNs written.

    `bands`: band -> resolutions to write (default: each band at its native resolution; L2A also gets the
    20 m and 60 m copies ESA ships for the 10 m bands).
    """
    if name is None:
        name = f"S2B_MSI{level}_20230614T143521_N0509_R053_T20QKD_20230614T170512"
    root = Path(folder) / f"{name}.SAFE"
    tile = "T20QKD_20230614T143521"
    if bands is None:
        bands = {b: [r] for b, r in S2_NATIVE.items() if not (level == "L2A" and b == "B10")}
        if level == "L2A":
            for b, r in S2_NATIVE.items():
                if r == 10:
                    bands[b] = [10, 20, 60]
    written = {}
    ext = ".jp2" if driver == "JP2OpenJPEG" else ".tif"
    for band, resolutions in bands.items():
        for resolution in resolutions:
            dn = fake_dn(band, resolution, size_m)
            if level == "L2A":
                file = root / f"GRANULE/L2A_{tile}/IMG_DATA/R{resolution:g}m/{tile}_{band}_{resolution:g}m{ext}"
            else:
                file = root / f"GRANULE/L1C_{tile}/IMG_DATA/{tile}_{band}{ext}"
            write_raster_file(file, dn, resolution=resolution, driver=driver)
            written[(band, float(resolution))] = dn
    if with_mtd:
        (root / f"MTD_MSI{level}.xml").write_text(mtd_xml(level, offsets))
    return root, written


@pytest.fixture
def write_raster() -> Callable[..., Path]:
    """`write_raster_file`: tests ask for it by fixture, so no test imports conftest as a module."""
    return write_raster_file


@pytest.fixture
def make_safe() -> Callable[..., tuple[Path, dict[tuple[str, float], np.ndarray]]]:
    """`make_safe_tree` as a fixture."""
    return make_safe_tree


@pytest.fixture
def small_disks(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """`small_disks("70k")`: a new tmpfs of that size (writes past it fail with ENOSPC, as on a full disk),
    unmounted after the test; the test is skipped where mounting is not permitted (it needs root)."""
    from tmpfs_disks import mounted_disks

    yield from mounted_disks(tmp_path)
