"""Sentinel-2 `.SAFE` products: where each band's file is, and the product's own scale and offset.

Only finding files and parsing metadata lives here; stacking and reading is `scene.py`'s job.
Layouts: L1C `GRANULE/*/IMG_DATA/T.._B02.jp2`; L2A `GRANULE/*/IMG_DATA/R10m|R20m|R60m/T.._B02_10m.jp2`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from sargasses.errors import SargassesError
from sargasses.reading.sensors import SENTINEL2_L1C, SENTINEL2_L2A, SensorProfile

# The MTD's band_id attributes count the 13 MSI bands in this order.
_MTD_BAND_ORDER = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")
_BAND_FILE = re.compile(r"_(B\d{2}|B8A)(?:_(\d+)m)?\.(jp2|tiff?)$", re.IGNORECASE)
_LEVELS = {"L2A": SENTINEL2_L2A, "L1C": SENTINEL2_L1C}
_DEFAULT_QUANTIFICATION = 10000.0
_OFFSET_SINCE_BASELINE_4 = -1000.0


@dataclass
class SafeProduct:
    """What `scene.py` needs from a .SAFE product: band files by resolution, scaling, and its identity."""

    root: Path
    level: str  # "L1C" or "L2A"
    product_id: str
    date: str | None  # acquisition date, ISO 8601
    quantification: float = _DEFAULT_QUANTIFICATION
    offsets: dict[str, float] = field(default_factory=dict)  # band name -> offset added to DNs
    default_offset: float = 0.0
    nodata: float = 0.0
    files: dict[str, dict[float, Path]] = field(default_factory=dict)  # band -> resolution (m) -> file

    @property
    def profile(self) -> SensorProfile:
        return _LEVELS[self.level]

    def offset(self, band: str) -> float:
        return self.offsets.get(band, self.default_offset)

    def band_file(self, band: str, resolution: float) -> Path:
        """The file to resample to `resolution`: the same resolution, else the closest finer one, else coarser."""
        by_resolution = self.files.get(band)
        if not by_resolution:
            found = ", ".join(sorted(self.files)) or "none"
            raise SargassesError(
                f"the Sentinel-2 product {self.root.name} has no file for band {band} (bands found: {found}). "
                "Check that the product was downloaded and unzipped completely."
            )
        finer = [r for r in by_resolution if r <= resolution]
        chosen = max(finer) if finer else min(by_resolution)
        return by_resolution[chosen]


def find_product(path: Path) -> SafeProduct | None:
    """The .SAFE product `path` is or lies in (a band file, the MTD file, a granule folder); None if none."""
    path = Path(path)
    if path.suffix.lower() == ".zip" and re.search(r"MSIL\w\w|\.SAFE", path.name, re.IGNORECASE):
        raise SargassesError(f"{path} is a zipped Sentinel-2 product. Unzip it and give the .SAFE folder.")
    for candidate in (path, *list(path.parents)[:5]):
        if candidate.is_dir() and (candidate.suffix.upper() == ".SAFE" or _mtd_files(candidate)):
            return read_product(candidate)
    return None


def read_product(root: Path) -> SafeProduct:
    """Parse a .SAFE folder: its level, band files, and its metadata (defaults when the MTD file is missing)."""
    mtd = _mtd_files(root)
    level = _level(root, mtd)
    name = root.name[:-5] if root.suffix.upper() == ".SAFE" else root.name
    product = SafeProduct(root=root, level=level, product_id=name, date=_date_from_name(name))
    baseline = _baseline_from_name(name)
    if mtd:
        baseline = _apply_mtd(product, mtd[0]) or baseline
    if baseline is not None and baseline >= 4.0 and not product.offsets:
        product.default_offset = _OFFSET_SINCE_BASELINE_4
    product.files = _band_files(root)
    if not product.files:
        raise SargassesError(
            f"no band files (GRANULE/*/IMG_DATA/...B02.jp2) were found in {root}. "
            "Check that the product was downloaded and unzipped completely."
        )
    return product


def _mtd_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("MTD_MSIL*.xml"))


def _level(root: Path, mtd: list[Path]) -> str:
    names = [p.name for p in mtd] + [root.name]
    for text in names:
        m = re.search(r"MSIL(\w\w)", text, re.IGNORECASE)
        if m:
            level = "L" + m.group(1).upper()
            if level in _LEVELS:
                return level
            raise SargassesError(
                f"{root.name} is a Sentinel-2 Level-{m.group(1).upper()} product; only Level-1C and "
                "Level-2A products can be read. Use an L1C or L2A product."
            )
    raise SargassesError(
        f"the product level of {root} was not recognised: neither its name nor an MTD_MSIL1C.xml / "
        "MTD_MSIL2A.xml file says whether it is Level-1C or Level-2A. Give the original .SAFE folder."
    )


def _date_from_name(name: str) -> str | None:
    """S2A_MSIL2A_20220131T101431_... -> 2022-01-31 (the sensing start)."""
    m = re.search(r"_(\d{4})(\d{2})(\d{2})T\d{6}", name)
    return f"{m.group(1)}-{m.group(2)}-{m.group(3)}" if m else None


def _baseline_from_name(name: str) -> float | None:
    """S2A_MSIL2A_20220131T101431_N0400_... -> 4.0."""
    m = re.search(r"_N(\d{2})(\d{2})_", name)
    return int(m.group(1)) + int(m.group(2)) / 100 if m else None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _apply_mtd(product: SafeProduct, mtd: Path) -> float | None:
    """Fill scaling, offsets, nodata and date from the MTD file; returns the processing baseline if given."""
    try:
        tree = ET.parse(mtd)
    except ET.ParseError as exc:
        raise SargassesError(f"{mtd} is not valid XML ({exc}). Download the product again.") from exc
    band_of_id = dict(enumerate(_MTD_BAND_ORDER))
    baseline = None
    raw_offsets: dict[str, float] = {}
    for element in tree.iter():
        tag, text = _local(element.tag), (element.text or "").strip()
        if tag == "Spectral_Information" and element.get("bandId") and element.get("physicalBand"):
            physical = element.get("physicalBand", "")
            band_of_id[int(element.get("bandId", "0"))] = SENTINEL2_L1C.match_band(physical) or physical
        elif tag in ("BOA_QUANTIFICATION_VALUE", "L2A_BOA_QUANTIFICATION_VALUE", "QUANTIFICATION_VALUE"):
            product.quantification = float(text)
        elif tag in ("BOA_ADD_OFFSET", "RADIO_ADD_OFFSET") and element.get("band_id") is not None:
            raw_offsets[element.get("band_id", "")] = float(text)
        elif tag == "PROCESSING_BASELINE" and text:
            baseline = float(text)
        elif tag in ("PRODUCT_START_TIME", "DATATAKE_SENSING_START") and text and product.date is None:
            product.date = text[:10]
        elif tag == "PRODUCT_URI" and text:
            product.product_id = text[:-5] if text.upper().endswith(".SAFE") else text
        elif tag == "Special_Values":
            kind = next((c.text for c in element if _local(c.tag) == "SPECIAL_VALUE_TEXT"), None)
            index = next((c.text for c in element if _local(c.tag) == "SPECIAL_VALUE_INDEX"), None)
            if kind == "NODATA" and index is not None:
                product.nodata = float(index)
    product.offsets = {band_of_id[int(i)]: v for i, v in raw_offsets.items() if int(i) in band_of_id}
    return baseline


def _band_files(root: Path) -> dict[str, dict[float, Path]]:
    """Band files by band and resolution; an error if two granules hold the same band."""
    files: dict[str, dict[float, Path]] = {}
    for path in sorted(root.glob("GRANULE/*/IMG_DATA/**/*")):
        m = _BAND_FILE.search(path.name)
        if m is None or not path.is_file():
            continue
        band = SENTINEL2_L1C.match_band(m.group(1))
        if band is None:
            continue
        resolution = float(m.group(2)) if m.group(2) else SENTINEL2_L1C.band(band).resolution_m
        if resolution in files.setdefault(band, {}):
            raise SargassesError(
                f"{root.name} holds band {band} at {resolution:g} m twice ({files[band][resolution]} and "
                f"{path}): products with several granules are not supported. Build a VRT of the bands "
                "you need (gdalbuildvrt -separate) and give that instead."
            )
        files[band][resolution] = path
    return files
