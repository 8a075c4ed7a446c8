"""Sentinel-3 OLCI products (`.SEN3` folder or its zip): what the product is, and its swath arrays decoded.

Only finding files, parsing the manifest and decoding NetCDF variables lives here; putting the swath on a map grid
is `swath.py`'s job, and serving windows of a scene is `olci_scene.py`'s.

Layout (both levels): one NetCDF-4 file per band (`Oa01_radiance.nc` in Level-1 EFR, `Oa01_reflectance.nc` in
Level-2 WFR), `geo_coordinates.nc` (latitude/longitude per pixel), `tie_geometries.nc` (SZA/SAA/OZA/OAA on a
tie-point grid), `instrument_data.nc` (solar_flux per band and detector, detector_index per pixel), the flags
(`qualityFlags.nc` in L1, `wqsf.nc` in L2) and `xfdumanifest.xml`. Variables are read and decoded by `netcdf.py`.
"""

from __future__ import annotations

import errno
import math
import os
import re
import shutil
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sargasses.errors import SargassesError
from sargasses.reading.netcdf import NetcdfFile
from sargasses.reading.sensors import SENTINEL3_OLCI

MANIFEST = "xfdumanifest.xml"
LEVEL1 = "OL_1_EFR"
LEVEL2 = "OL_2_WFR"
# Level-2 WFR carries water reflectance in these 16 bands only (no O2 and water-vapour absorption bands).
LEVEL2_BANDS = tuple(f"Oa{i:02d}" for i in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 16, 17, 18, 21))
FILES = {
    "geo": "geo_coordinates.nc",
    "tie": "tie_geometries.nc",
    "instrument": "instrument_data.nc",
    LEVEL1: "qualityFlags.nc",
    LEVEL2: "wqsf.nc",
}
_FLAG_VARIABLE = {LEVEL1: "quality_flags", LEVEL2: "WQSF"}
# Which of the product's flags make a pixel nodata, land or cloud (docs/reading.md, "Sentinel-3 OLCI").
# L1 has no cloud flag: "bright" (cloud, snow, sun glint on haze) stands in for it.
EXCLUSION_FLAGS = {
    LEVEL1: {"nodata": ("invalid",), "land": ("land",), "cloud": ("bright",)},
    LEVEL2: {
        "nodata": ("INVALID",),
        "land": ("LAND",),
        "cloud": ("CLOUD", "CLOUD_AMBIGUOUS", "CLOUD_MARGIN", "SNOW_ICE"),
    },
}
_NAME = re.compile(r"(S3[ABCD])_OL_([12])_(EFR|WFR|ERR|WRR)_+(\d{8})T\d{6}")


@dataclass
class OlciProduct:
    """A `.SEN3` product: its level, identity, and where its NetCDF files are (a folder, or a zip read member by
    member: only the files a read needs are copied out, into a temporary folder removed by `close`)."""

    source: Path  # the .SEN3 folder or the zip
    level: str  # LEVEL1 or LEVEL2
    product_id: str
    platform: str | None  # "Sentinel-3A"
    date: str | None  # acquisition date, ISO 8601
    files: dict[str, str]  # file name as in the manifest -> path inside the product (folder or zip member)
    zip_root: str | None = None  # the members' folder in the zip ("" when at its top); None: a folder
    _extracted: Path | None = None

    @property
    def band_names(self) -> list[str]:
        """The bands this product carries (21 in L1, 16 in L2)."""
        return list(SENTINEL3_OLCI.band_names) if self.level == LEVEL1 else list(LEVEL2_BANDS)

    def band_file(self, band: str) -> tuple[str, str]:
        """(file name, variable name) of `band`: radiance in L1, water reflectance in L2."""
        if band not in self.band_names:
            raise SargassesError(
                f"the OLCI {self.level} product {self.product_id} has no band {band} (its bands are "
                f"{', '.join(self.band_names)}). Level-2 WFR has no O2 or water-vapour bands: use Level-1 EFR "
                "for these, or a model that does not need them."
            )
        variable = f"{band}_radiance" if self.level == LEVEL1 else f"{band}_reflectance"
        return f"{variable}.nc", variable

    @property
    def flags_file(self) -> tuple[str, str]:
        return FILES[self.level], _FLAG_VARIABLE[self.level]

    def path(self, name: str) -> Path:
        """A local path to the product's file `name` (copied out of the zip on first use)."""
        inside = self.files.get(name, name)
        if self.zip_root is None:
            path = self.source / inside
        else:
            if self._extracted is None:
                self._extracted = Path(tempfile.mkdtemp(prefix="sargasses-sen3-"))
            path = self._extracted / name
            if not path.exists():
                member = f"{self.zip_root}{inside}"
                try:
                    with zipfile.ZipFile(self.source) as archive, archive.open(member) as src, open(path, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                except KeyError:
                    raise _missing(self, name) from None
                except OSError as exc:
                    path.unlink(missing_ok=True)
                    if exc.errno in TEMPORARY_FOLDER_ERRORS:  # the temporary folder is full, not the zip damaged
                        raise SargassesError(
                            f"could not copy {name} out of {self.source.name} into {self._extracted.parent}: "
                            f"{os.strerror(exc.errno)}; free some space there, or set TMPDIR to a folder with room"
                        ) from None
                    raise self._unreadable(name, exc) from None
                except zipfile.BadZipFile as exc:
                    path.unlink(missing_ok=True)
                    raise self._unreadable(name, exc) from None
        if not path.exists():
            raise _missing(self, name)
        return path

    def _unreadable(self, name: str, exc: BaseException) -> SargassesError:
        return SargassesError(
            f"{name} could not be read from {self.source} ({exc}); the zip may be incomplete. "
            "Download it again, or unzip it and give the .SEN3 folder."
        )

    def open(self, name: str) -> NetcdfFile:
        return NetcdfFile(self.path(name), f"the OLCI product {self.source}")

    def close(self) -> None:
        """Remove the files copied out of a zip."""
        if self._extracted is not None:
            shutil.rmtree(self._extracted, ignore_errors=True)
            self._extracted = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_extracted"] = None  # each process copies out its own files, and removes them
        return state


# Errors writing the copy out of a zip: the temporary folder's fault, not the zip's
TEMPORARY_FOLDER_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES)


def _missing(product: OlciProduct, name: str) -> SargassesError:
    return SargassesError(
        f"the OLCI product {product.source} has no {name}; it may be incomplete. Download it again "
        "(a .SEN3 folder or its zip, as distributed)."
    )


def find_product(path: Path) -> OlciProduct | None:
    """The OLCI product `path` is (a .SEN3 folder or its zip) or lies in (a file of the folder); None if none."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".zip":
        return _read_zip(path)
    for candidate in (path, *list(path.parents)[:2]):
        if candidate.is_dir() and (candidate.suffix.upper() == ".SEN3" or (candidate / MANIFEST).is_file()):
            return _read_folder(candidate)
    return None


def _read_folder(root: Path) -> OlciProduct:
    manifest = root / MANIFEST
    if not manifest.is_file():
        raise SargassesError(f"{root} has no {MANIFEST}; it is not a complete OLCI product. Download it again.")
    return _product(root, manifest.read_bytes(), root.name, None)


def _read_zip(path: Path) -> OlciProduct | None:
    try:
        with zipfile.ZipFile(path) as archive:
            manifests = [n for n in archive.namelist() if n.rsplit("/", 1)[-1] == MANIFEST]
            if not manifests:
                return None
            member = min(manifests, key=len)
            text = archive.read(member)
    except zipfile.BadZipFile as exc:
        if not _NAME.search(path.name):
            return None  # not ours to judge: another reader may know this file
        raise SargassesError(f"{path} is not a readable zip ({exc}). Download the product again.") from None
    root = member[: -len(MANIFEST)]
    name = root.rstrip("/").rsplit("/", 1)[-1] or path.stem
    return _product(path, text, name, root)


def _product(source: Path, manifest: bytes, folder_name: str, zip_root: str | None) -> OlciProduct:
    info = parse_manifest(manifest)
    name = folder_name[:-5] if folder_name.upper().endswith(".SEN3") else folder_name
    from_name = _NAME.search(name)
    level = info.get("level") or (_level_from_name(from_name) if from_name else None)
    if level not in (LEVEL1, LEVEL2):
        raise SargassesError(
            f"{source} is a Sentinel-3 product of type {info.get('type') or 'unknown'}; only OLCI Level-1 EFR "
            "(OL_1_EFR) and Level-2 WFR (OL_2_WFR) are read. Give one of these."
        )
    platform = info.get("platform")
    if platform is None and from_name:
        platform = f"Sentinel-3{from_name.group(1)[-1]}"
    date = info.get("date")
    if date is None and from_name:
        d = from_name.group(4)
        date = f"{d[:4]}-{d[4:6]}-{d[6:]}"
    return OlciProduct(source, level, name, platform, date, info.get("files", {}), zip_root)


def _level_from_name(match: re.Match) -> str | None:
    return {("1", "EFR"): LEVEL1, ("2", "WFR"): LEVEL2}.get((match.group(2), match.group(3)))


def parse_manifest(text: bytes) -> dict:
    """Product type, level, platform, acquisition date and data files from an xfdumanifest.xml (namespaces ignored)."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise SargassesError(
            f"the product's {MANIFEST} is not valid XML ({exc}). Download the product again."
        ) from None
    info: dict = {"files": {}}
    for element in root.iter():
        tag = element.tag.rsplit("}", 1)[-1]
        text_value = (element.text or "").strip()
        if tag == "productType" and text_value:
            info["type"] = text_value
            kind = text_value.rstrip("_")
            info["level"] = kind if kind in (LEVEL1, LEVEL2) else None
        elif tag == "startTime" and text_value and "date" not in info:
            info["date"] = text_value[:10]
        elif tag == "platform":
            family = number = None
            for child in element:
                child_tag = child.tag.rsplit("}", 1)[-1]
                if child_tag == "familyName" and family is None:
                    family = (child.text or "").strip()
                elif child_tag == "number":
                    number = (child.text or "").strip()
            if family:
                info["platform"] = f"{family}{number or ''}"
        elif tag == "fileLocation" and element.get("href"):
            href = element.get("href").removeprefix("./")
            info["files"][href.rsplit("/", 1)[-1]] = href
    return info


def subsampling(tie: NetcdfFile, geo: NetcdfFile) -> tuple[float, float]:
    """(al_subsampling_factor, ac_subsampling_factor): tie point (i, j) sits at pixel (i * al, j * ac). Read from the
    tie-point file, else from geo_coordinates.nc (products carry them in both)."""
    factors = []
    for name in ("al_subsampling_factor", "ac_subsampling_factor"):
        value = tie.attribute(name, default=None)
        factors.append(float(geo.attribute(name, default=1) if value is None else value))
    return factors[0], factors[1]


def solar_zenith_cosine(
    sza: np.ndarray, rows: np.ndarray, cols: np.ndarray, factors: tuple[float, float]
) -> np.ndarray:
    """cos(SZA) at pixels (rows, cols), SZA (degrees, on the tie-point grid) interpolated bilinearly."""
    al, ac = factors
    return np.cos(np.radians(bilinear(sza, rows / al, cols / ac))).astype(np.float32)


def bilinear(grid: np.ndarray, fr: np.ndarray, fc: np.ndarray) -> np.ndarray:
    """`grid` sampled at fractional (row, column) positions, clamped to its edges."""
    h, w = grid.shape
    fr = np.clip(fr, 0, h - 1)
    fc = np.clip(fc, 0, w - 1)
    r0 = np.minimum(np.floor(fr).astype(np.intp), max(h - 2, 0))
    c0 = np.minimum(np.floor(fc).astype(np.intp), max(w - 2, 0))
    r1, c1 = np.minimum(r0 + 1, h - 1), np.minimum(c0 + 1, w - 1)
    wr, wc = fr - r0, fc - c0
    top = grid[r0, c0] * (1 - wc) + grid[r0, c1] * wc
    bottom = grid[r1, c0] * (1 - wc) + grid[r1, c1] * wc
    return top * (1 - wr) + bottom * wr


def toa_reflectance(radiance: np.ndarray, solar_flux: np.ndarray, cos_sza: np.ndarray) -> np.ndarray:
    """Top-of-atmosphere reflectance pi * L / (F0 * cos(SZA)); the OLCI solar flux is already corrected for the
    Sun-Earth distance of the day ("seasonally corrected"), so no distance factor is applied."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return (np.float32(math.pi) * radiance / (solar_flux * cos_sza)).astype(np.float32)
