"""Which band of the layer (or which file of a Sentinel-2 product) feeds each band the model needs.

The rule mirrors the core's `SensorProfile.match_band` (the plugin may not import the core): a label names a band
when one of its tokens, lower-cased and without leading zeros, equals the band's name ("B8A_865", "b8a", "B08",
"SR_B4" all match). Without any named band, bands are taken in order when the counts agree. The engine applies
the same rule to a file it is given as is, so the dock shows what the engine will do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# A Sentinel-2 band file: T20QKD_20230501T143729_B04_20m.jp2 (L2A) or T20QKD_20230501T143729_B04.jp2 (L1C).
_S2_BAND_FILE = re.compile(r"^(?P<prefix>.+)_(?P<band>B\d{2}|B8A)(?:_(?P<res>\d+)m)?\.(jp2|tiff?)$", re.IGNORECASE)
_S2_NATIVE_RES = {"B02": 10, "B03": 10, "B04": 10, "B08": 10, "B01": 60, "B09": 60, "B10": 60}
_QGIS_BAND_PREFIX = re.compile(r"^Band\s+\d+\s*:\s*", re.IGNORECASE)


@dataclass(frozen=True)
class BandSource:
    """One band that can feed the model: band `band` (1-based) of `path` ("" for a layer read by a provider)."""

    label: str  # for people, and for matching
    path: str
    band: int
    data_type: str = "Float32"  # GDAL's name
    nodata: float | None = None
    width: int = 0
    height: int = 0
    extent: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # xmin, ymin, xmax, ymax in the CRS below
    crs_wkt: str = ""

    @property
    def key(self) -> tuple[str, int]:
        return (self.path, self.band)


def _normalise(token: str) -> str:
    m = re.fullmatch(r"([a-z]*)0*(\d+)([a-z]*)", token.lower())
    return token.lower() if m is None else f"{m.group(1)}{int(m.group(2))}{m.group(3)}"


def band_label(qgis_band_name: str) -> str:
    """QGIS shows "Band 01: B02"; the part after the colon is the file's own name for the band."""
    if ":" not in qgis_band_name and re.fullmatch(r"Band\s+\d+", qgis_band_name.strip(), re.IGNORECASE):
        return ""  # QGIS's generated name: the file does not name the band
    return _QGIS_BAND_PREFIX.sub("", qgis_band_name).strip()


def label_names(label: str, band: str) -> bool:
    """Does `label` (as found in a file) name the model band `band`?"""
    wanted = _normalise(band)
    return any(_normalise(t) == wanted for t in re.split(r"[^0-9A-Za-z]+", label.strip()) if t)


def auto_mapping(model_bands: list[str], sources: list[BandSource]) -> dict[str, BandSource | None]:
    """Each model band's source: by name, else by position when no source is named and the counts agree."""
    mapping: dict[str, BandSource | None] = {}
    used: set[tuple[str, int]] = set()
    for band in model_bands:
        mapping[band] = None
        for source in sources:
            if source.key not in used and label_names(source.label, band):
                mapping[band] = source
                used.add(source.key)
                break
    if not used and len(sources) == len(model_bands):
        return dict(zip(model_bands, sources, strict=True))
    return mapping


def missing_bands(mapping: dict[str, BandSource | None]) -> list[str]:
    return [band for band, source in mapping.items() if source is None]


@dataclass(frozen=True)
class ProductBandFile:
    band: str  # "B04", "B8A"
    path: Path
    resolution_m: int


def product_band_files(path: str | Path, preferred_resolution_m: float = 20.0) -> list[ProductBandFile]:
    """The band files of the Sentinel-2 product that `path` (one band file of it) belongs to, one per band.

    Looks beside the file and, for an L2A product, in the sibling R10m/R20m/R60m folders; for each band keeps the
    file whose resolution is closest to `preferred_resolution_m`, the finer one on a tie. [] when `path` is not a
    Sentinel-2 band file.
    """
    path = Path(path)
    m = _S2_BAND_FILE.match(path.name)
    if m is None:
        return []
    prefix = m.group("prefix")
    folders = [path.parent]
    if re.fullmatch(r"R\d+m", path.parent.name):
        folders = sorted(p for p in path.parent.parent.iterdir() if p.is_dir() and re.fullmatch(r"R\d+m", p.name))
    found: dict[str, ProductBandFile] = {}
    for folder in folders:
        for candidate in sorted(folder.iterdir()):
            cm = _S2_BAND_FILE.match(candidate.name)
            if cm is None or cm.group("prefix") != prefix or not candidate.is_file():
                continue
            band = cm.group("band").upper()
            res = int(cm.group("res")) if cm.group("res") else _S2_NATIVE_RES.get(band, 20)
            current = found.get(band)
            score = (abs(res - preferred_resolution_m), res)
            if current is None or score < (abs(current.resolution_m - preferred_resolution_m), current.resolution_m):
                found[band] = ProductBandFile(band, candidate, res)
    return sorted(found.values(), key=lambda f: f.band)


def inside_safe(path: str | Path) -> bool:
    """Is `path` inside a .SAFE product? Then the engine finds the product's other bands and metadata itself."""
    for folder in list(Path(path).parents)[:5]:  # as deep as the core's safe.find_product looks
        if folder.suffix.upper() == ".SAFE" or any(folder.glob("MTD_MSIL*.xml")):
            return True
    return False


# A band file of a Sentinel-3 OLCI product: Oa08_radiance.nc (Level-1 EFR) or Oa08_reflectance.nc (Level-2 WFR).
_OLCI_BAND_FILE = re.compile(r"^(?P<band>Oa\d{2})_(radiance|reflectance)\.nc$")
# The OTCI rendering the engine makes from a product (docs/reading.md): the model's RGB channels and their bands.
OTCI_CHANNELS = (("red", "Oa12"), ("green", "Oa11"), ("blue", "Oa10"))


def sen3_folder(path: str | Path) -> Path | None:
    """The Sentinel-3 `.SEN3` product folder `path` is or lies in (the engine reads the product itself); else None."""
    path = Path(path)
    for folder in (path, path.parent):
        if folder.is_dir() and (folder.suffix.upper() == ".SEN3" or (folder / "xfdumanifest.xml").is_file()):
            return folder
    return None


def sen3_band_files(folder: str | Path) -> list[ProductBandFile]:
    """The band files of an OLCI product folder, in band order (21 in Level-1, 16 in Level-2)."""
    found = []
    for candidate in sorted(Path(folder).iterdir()):
        m = _OLCI_BAND_FILE.match(candidate.name)
        if m is not None and candidate.is_file():
            found.append(ProductBandFile(m.group("band"), candidate, 300))
    return found
