"""Small synthetic Sentinel-3 OLCI products (`.SEN3`, Level-1 EFR and Level-2 WFR) in the real product's layout.

One swath is drawn and written twice: as L2 water reflectance, and through an atmosphere (synth/atmosphere.py) as
L1 radiance L = rho_toa * F0 * cos(SZA) / pi. The swath is curved and rotated (its rows and columns are not the
map's), its pixels widen towards the edges; it holds an island (land), a cloud, a strip of invalid pixels and
sub-pixel Sargassum rafts: single swath pixels where a fraction f of the surface is Sargassum, mixed linearly
with the water ((1 - f) * water + f * dense Sargassum; spectra from sargasses/data/reference_spectra.csv,
interpolated to OLCI's band centres). `<stem>_planted.json` beside the products records every raft pixel
(latitude, longitude, swath row and column, fraction, covered area) for tests to check against.

Files, variables, data types, scale factors, fill values and flag attributes follow the real products
(docs/reading.md, "Sentinel-3 OLCI"); the absorption bands (O2, water vapour) carry no absorption here.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sargasses.atomic import atomic_write, atomic_write_text
from sargasses.errors import SargassesError
from sargasses.reading import olci
from sargasses.reading.sensors import DEFAULT_BANDS, SENTINEL2_L2A, SENTINEL3_OLCI
from sargasses.synth.atmosphere import ATLANTIC
from sargasses.synth.spectra import SPECTRA

PIXEL_M = 300.0  # along-track spacing, and across-track at nadir
AC_SUBSAMPLING, AL_SUBSAMPLING = 64, 1  # tie-point grid: every 64th column, every row (as in EFR/WFR)
OLCI_WAVELENGTHS = np.array([b.wavelength_nm for b in SENTINEL3_OLCI.bands], np.float64)
# In-band solar irradiance at OLCI's band centres (mW m-2 nm-1, close to the products' solar_flux).
SOLAR_FLUX = np.array(
    [1714, 1742, 1904, 1929, 1926, 1800, 1650, 1531, 1505, 1474, 1408, 1266, 1255, 1251, 1246, 1183, 958, 930, 895,
     815, 699],
    np.float32,
)  # fmt: skip
# quality_flags of L1 (uint32) and WQSF of L2 (uint64): names and bits as the real products declare them.
L1_FLAGS = {
    **{n: 1 << (31 - i) for i, n in enumerate(
        ("land", "coastline", "fresh_inland_water", "tidal_region", "bright", "straylight_risk", "invalid",
         "cosmetic", "duplicated", "sun-glint_risk", "dubious"))},
    **{f"saturated@Oa{i:02d}": 1 << (i - 1) for i in range(1, 22)},
}  # fmt: skip
L2_FLAGS = {
    n: 1 << i
    for i, n in enumerate(
        ("INVALID", "WATER", "LAND", "CLOUD", "SNOW_ICE", "INLAND_WATER", "TIDAL", "COSMETIC", "SUSPECT", "HISOLZEN",
         "SATURATED", "MEGLINT", "HIGHGLINT", "WHITECAPS", "ADJAC", "WV_FAIL", "PAR_FAIL", "AC_FAIL", "OC4ME_FAIL",
         "OCNN_FAIL", "Extra_1", "KDM_FAIL", "Extra_2", "CLOUD_AMBIGUOUS", "CLOUD_MARGIN", "BPAC_ON", "WHITE_SCATT",
         "LOWRW", "HIGHRW"))
}  # fmt: skip
L2_REFLECTANCE_SCALE, L2_REFLECTANCE_OFFSET = 1.0e-5, -0.05  # uint16: -0.05 ... 0.605


@dataclass
class SyntheticSwath:
    """Everything drawn for one product pair, per swath pixel (rows x columns)."""

    lat: np.ndarray
    lon: np.ndarray
    surface: np.ndarray  # (21, rows, cols) surface (water-leaving over water) reflectance
    land: np.ndarray
    cloud: np.ndarray
    invalid: np.ndarray
    sza: np.ndarray  # (rows, tie columns) degrees
    detector: np.ndarray  # (rows, cols) detector index
    solar_flux: np.ndarray  # (21, detectors)
    rafts: list[dict]
    pixel_area: np.ndarray  # (rows, cols) m2


def olci_spectrum(name: str) -> np.ndarray:
    """A class spectrum of the reference table (Sentinel-2 band centres) interpolated to OLCI's 21 bands; flat
    beyond the table's first and last bands."""
    s2_wl = np.array([SENTINEL2_L2A.band(b).wavelength_nm for b in DEFAULT_BANDS], np.float64)
    return np.interp(OLCI_WAVELENGTHS, s2_wl, SPECTRA[name].astype(np.float64)).astype(np.float32)


def draw_swath(seed: int, rows: int = 192, cols: int = 257, lat0: float = 16.2, lon0: float = -61.0) -> SyntheticSwath:
    """A curved, rotated swath centred on (lat0, lon0) with an island, a cloud, invalid pixels and rafts."""
    if (cols - 1) % AC_SUBSAMPLING:
        raise SargassesError(f"columns must be 64 * n + 1 (the tie-point grid's), not {cols}")
    rng = np.random.default_rng(seed)
    # across-track spacing grows towards the edges; the along-track lines bend (the swath's "smile")
    c = np.arange(cols, dtype=np.float64)
    half = (cols - 1) / 2
    spacing = PIXEL_M * (1 + 0.15 * ((c - half) / half) ** 2)
    u = np.cumsum(spacing) - spacing[0]
    u -= u[int(half)]
    a = (np.arange(rows, dtype=np.float64) - rows / 2) * PIXEL_M
    bow = 2.0 * PIXEL_M * (u / np.abs(u).max()) ** 2
    heading = np.radians(rng.uniform(8.0, 16.0))  # descending pass: rows go south, tilted west
    along = a[:, None] + bow[None, :]
    east = -np.sin(heading) * along + np.cos(heading) * u[None, :]
    north = -np.cos(heading) * along - np.sin(heading) * u[None, :]
    lat = lat0 + north / 111_320.0
    lon = lon0 + east / (111_320.0 * np.cos(np.radians(lat0)))
    pixel_area = (PIXEL_M * spacing)[None, :].repeat(rows, axis=0)

    rr, cc = np.mgrid[0:rows, 0:cols]
    land = (rr - rows * 0.3) ** 2 + (cc - cols * 0.75) ** 2 < (min(rows, cols) * 0.12) ** 2
    cloud = ((rr - rows * 0.72) / (rows * 0.1)) ** 2 + ((cc - cols * 0.25) / (cols * 0.08)) ** 2 < 1
    invalid = (rr < 4) & (cc < cols // 6)
    water = olci_spectrum("water")[:, None, None] * rng.uniform(0.97, 1.03, (1, rows, cols)).astype(np.float32)
    surface = np.where(land[None], olci_spectrum("vegetation")[:, None, None], water)
    surface = np.where(cloud[None], 2.5 * olci_spectrum("cloud_mean")[:, None, None], surface).astype(np.float32)

    rafts = []
    sargassum = olci_spectrum("dense_sargassum")
    free = ~(land | cloud | invalid)
    free[:8], free[-8:], free[:, :8], free[:, -8:] = False, False, False, False
    for _ in range(12):
        candidates = np.argwhere(free)
        r, col = (int(v) for v in candidates[rng.integers(len(candidates))])
        fraction = float(np.round(rng.uniform(0.1, 0.6), 3))
        surface[:, r, col] = (1 - fraction) * surface[:, r, col] + fraction * sargassum
        free[max(r - 6, 0) : r + 7, max(col - 6, 0) : col + 7] = False  # rafts apart: each one stands alone
        rafts.append(
            {
                "swath_row": r,
                "swath_col": col,
                "lat": float(lat[r, col]),
                "lon": float(lon[r, col]),
                "fraction": fraction,
                "area_m2": float(fraction * pixel_area[r, col]),
            }
        )
    tie_cols = (cols - 1) // AC_SUBSAMPLING + 1
    sza = 32.0 + 0.01 * np.arange(rows)[:, None] + 0.05 * np.arange(tie_cols)[None, :] * AC_SUBSAMPLING
    detector = np.broadcast_to(cols - 1 - np.arange(cols), (rows, cols)).astype(np.int16)  # reversed, as cameras are
    ramp = 1 + 0.03 * (np.arange(cols) / (cols - 1) - 0.5)  # detectors differ: a wrong index gives wrong reflectance
    solar_flux = (SOLAR_FLUX[:, None] * ramp[None, :]).astype(np.float32)
    return SyntheticSwath(lat, lon, surface, land, cloud, invalid, sza, detector, solar_flux, rafts, pixel_area)


def toa_reflectance(swath: SyntheticSwath) -> np.ndarray:
    """The surface seen from space through the ATLANTIC atmosphere: T * rho + P."""
    t = ATLANTIC.transmittance(OLCI_WAVELENGTHS).astype(np.float32)[:, None, None]
    p = ATLANTIC.path(OLCI_WAVELENGTHS).astype(np.float32)[:, None, None]
    return swath.surface * t + p


def product_name(level: str, seed: int) -> str:
    """A name as real products have (platform, level, start/stop/creation times, ...); the seed gives the day and
    the orbit and frame numbers, so each seed's products have their own names."""
    day = 1 + seed % 28
    start = f"202306{day:02d}T141517"
    kind = "OL_1_EFR___" if level == olci.LEVEL1 else "OL_2_WFR___"
    orbit = f"0179_099_{seed // 10000 % 1000:03d}_{seed % 10000:04d}"  # duration, cycle, orbit, frame: the seed
    return f"S3A_{kind}_{start}_202306{day:02d}T141817_202306{day:02d}T161829_{orbit}_MAR_O_NT_003.SEN3"


def product_paths(outdir: Path, seed: int, zip_too: bool = False) -> dict[str, Path]:
    """Where write_products puts the products of this seed: l1, l2, (l1_zip, l2_zip,) planted."""
    paths = {"l1": outdir / product_name(olci.LEVEL1, seed), "l2": outdir / product_name(olci.LEVEL2, seed)}
    if zip_too:
        paths.update({f"{k}_zip": p.with_name(p.name + ".zip") for k, p in list(paths.items())})
    paths["planted"] = outdir / f"olci_{seed:04d}_planted.json"
    return paths


def write_products(
    outdir: str | os.PathLike,
    seed: int = 0,
    rows: int = 192,
    cols: int = 257,
    zip_too: bool = False,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Write the L1 EFR and L2 WFR products of one swath in `outdir` (and their zips with `zip_too`), and the
    planted rafts' JSON. Returns their paths: l1, l2, (l1_zip, l2_zip,) planted."""
    outdir = Path(outdir)
    paths = product_paths(outdir, seed, zip_too)
    existing = [str(p) for p in paths.values() if p.exists()]
    if existing and not overwrite:
        raise SargassesError(f"{existing[0]} already exists: choose another folder or seed, or pass --overwrite")
    outdir.mkdir(parents=True, exist_ok=True)
    swath = draw_swath(seed, rows, cols)
    _write_folder(paths["l1"], lambda folder: _write_level1(folder, swath, seed))
    _write_folder(paths["l2"], lambda folder: _write_level2(folder, swath, seed))
    if zip_too:
        for key in ("l1", "l2"):
            atomic_write(paths[f"{key}_zip"], lambda tmp, key=key: _zip(paths[key], tmp))
    planted = {
        "seed": seed,
        "swath_shape": [rows, cols],
        "rafts": swath.rafts,
        "total_area_m2": float(sum(r["area_m2"] for r in swath.rafts)),
        "land_pixels": int(swath.land.sum()),
        "cloud_pixels": int(swath.cloud.sum()),
        "invalid_pixels": int(swath.invalid.sum()),
    }
    atomic_write_text(paths["planted"], json.dumps(planted, indent=1))
    return paths


def _write_folder(path: Path, write) -> None:
    """Write a product folder under a temporary name, then rename it (an older one is replaced)."""
    from sargasses.atomic import temporary_name

    tmp = temporary_name(path, "")
    tmp.mkdir()
    try:
        write(tmp)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _zip(folder: Path, target: Path) -> None:
    """The product zipped as distributed: its folder at the top of the archive."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(folder.iterdir()):
            archive.write(file, f"{folder.name}/{file.name}")


def _write_level1(folder: Path, swath: SyntheticSwath, seed: int) -> None:
    rows, cols = swath.lat.shape
    rr, cc = np.mgrid[0:rows, 0:cols]
    cos_sza = np.cos(np.radians(olci.bilinear(swath.sza, rr / AL_SUBSAMPLING, cc / AC_SUBSAMPLING)))
    f0 = swath.solar_flux[:, swath.detector]  # (21, rows, cols)
    radiance = toa_reflectance(swath) * f0 * cos_sza / np.pi
    files = []
    for i, band in enumerate(SENTINEL3_OLCI.band_names):
        scale = float(SOLAR_FLUX[i] / np.pi * 1.3 / 65000)  # room for reflectance up to 1.3
        values = np.where(swath.invalid, np.nan, radiance[i])
        _write_band(folder / f"{band}_radiance.nc", f"{band}_radiance", values, scale, 0.0, "mW.m-2.sr-1.nm-1", seed)
        files.append(f"{band}_radiance.nc")
    flags = np.zeros((rows, cols), np.uint32)
    flags[swath.land] |= L1_FLAGS["land"]
    flags[swath.cloud] |= L1_FLAGS["bright"]
    flags[swath.invalid] |= L1_FLAGS["invalid"]
    _write_flags(folder / "qualityFlags.nc", "quality_flags", flags, L1_FLAGS, seed)
    _write_common(folder, swath, seed)
    _write_manifest(folder, olci.LEVEL1, seed, [*files, "qualityFlags.nc"], swath)


def _write_level2(folder: Path, swath: SyntheticSwath, seed: int) -> None:
    files = []
    for band in olci.LEVEL2_BANDS:
        i = SENTINEL3_OLCI.band_names.index(band)
        values = np.where(swath.invalid | swath.land, np.nan, swath.surface[i])  # WFR leaves land unprocessed
        name = f"{band}_reflectance"
        _write_band(folder / f"{name}.nc", name, values, L2_REFLECTANCE_SCALE, L2_REFLECTANCE_OFFSET, "dl", seed)
        files.append(f"{name}.nc")
    flags = np.where(swath.land, L2_FLAGS["LAND"], L2_FLAGS["WATER"]).astype(np.uint64)
    from scipy.ndimage import binary_dilation

    margin = binary_dilation(swath.cloud, iterations=2) & ~swath.cloud
    flags[swath.cloud] |= np.uint64(L2_FLAGS["CLOUD"])
    flags[margin] |= np.uint64(L2_FLAGS["CLOUD_MARGIN"])
    flags[swath.invalid] = np.uint64(L2_FLAGS["INVALID"])
    _write_flags(folder / "wqsf.nc", "WQSF", flags, L2_FLAGS, seed)
    _write_common(folder, swath, seed)
    _write_manifest(folder, olci.LEVEL2, seed, [*files, "wqsf.nc"], swath)


def _netcdf(path: Path, seed: int, dims: dict[str, int]):
    import h5netcdf

    f = h5netcdf.File(path, "w")
    f.dimensions = dims
    f.attrs.update(
        {
            "ac_subsampling_factor": np.int32(AC_SUBSAMPLING),
            "al_subsampling_factor": np.int32(AL_SUBSAMPLING),
            "start_time": f"2023-06-{1 + seed % 28:02d}T14:15:17.000000Z",
            "stop_time": f"2023-06-{1 + seed % 28:02d}T14:18:17.000000Z",
            "comment": "synthetic product written by sargasses (sargasses/synth/olci_product.py)",
        }
    )
    return f


def _write_band(path: Path, name: str, values: np.ndarray, scale: float, offset: float, units: str, seed: int):
    """One band as uint16 with scale_factor/add_offset and _FillValue 65535, as the products store them."""
    rows, cols = values.shape
    stored = np.where(np.isfinite(values), np.round((values - offset) / scale), 65535)
    stored = np.clip(stored, 0, 65535).astype(np.uint16)
    with _netcdf(path, seed, {"rows": rows, "columns": cols}) as f:
        chunks = (min(rows, 64), min(cols, 128))
        fill = np.uint16(65535)
        v = f.create_variable(
            name, ("rows", "columns"), np.uint16, data=stored, fillvalue=fill, chunks=chunks, compression="gzip"
        )
        v.attrs.update({"scale_factor": np.float32(scale), "add_offset": np.float32(offset), "units": units})


def _write_flags(path: Path, name: str, flags: np.ndarray, meanings: dict[str, int], seed: int) -> None:
    rows, cols = flags.shape
    with _netcdf(path, seed, {"rows": rows, "columns": cols}) as f:
        v = f.create_variable(name, ("rows", "columns"), flags.dtype, data=flags, compression="gzip")
        v.attrs.update(
            {
                "flag_masks": np.array(list(meanings.values()), flags.dtype),
                "flag_meanings": " ".join(meanings),
            }
        )


def _write_common(folder: Path, swath: SyntheticSwath, seed: int) -> None:
    """geo_coordinates.nc, tie_geometries.nc and instrument_data.nc (the same in both levels)."""
    rows, cols = swath.lat.shape
    with _netcdf(folder / "geo_coordinates.nc", seed, {"rows": rows, "columns": cols}) as f:
        for name, values in (("latitude", swath.lat), ("longitude", swath.lon)):
            stored = np.round(values * 1e6).astype(np.int32)
            fill = np.int32(-2147483648)
            v = f.create_variable(name, ("rows", "columns"), np.int32, data=stored, fillvalue=fill, compression="gzip")
            units = "degrees_north" if name == "latitude" else "degrees_east"
            v.attrs.update({"scale_factor": np.float64(1e-6), "add_offset": np.float64(0.0), "units": units})
        f.create_variable("altitude", ("rows", "columns"), np.int16, data=np.where(swath.land, 50, 0).astype(np.int16))
    tie_rows, tie_cols = swath.sza.shape
    with _netcdf(folder / "tie_geometries.nc", seed, {"tie_rows": tie_rows, "tie_columns": tie_cols}) as f:
        across = np.ones((tie_rows, 1))
        angles = {
            "SZA": swath.sza,
            "SAA": np.full(swath.sza.shape, 120.0),
            "OZA": np.abs(np.linspace(-40, 40, tie_cols))[None] * across,
            "OAA": np.where(np.arange(tie_cols) < tie_cols / 2, 100.0, -80.0)[None] * across,
        }
        for name, values in angles.items():
            dtype = np.uint32 if name.endswith("ZA") else np.int32  # zenith angles unsigned, azimuths signed
            v = f.create_variable(name, ("tie_rows", "tie_columns"), dtype, data=np.round(values * 1e6).astype(dtype))
            v.attrs.update({"scale_factor": np.float64(1e-6), "units": "degrees"})
    detectors = swath.solar_flux.shape[1]
    dims = {"rows": rows, "columns": cols, "bands": 21, "detectors": detectors}
    with _netcdf(folder / "instrument_data.nc", seed, dims) as f:
        index = swath.detector
        f.create_variable("detector_index", ("rows", "columns"), np.int16, data=index, fillvalue=np.int16(-1))
        flux = f.create_variable("solar_flux", ("bands", "detectors"), np.float32, data=swath.solar_flux)
        flux.attrs.update({"units": "mW.m-2.nm-1", "long_name": "In-band solar irradiance, seasonally corrected"})
        wavelengths = np.repeat(OLCI_WAVELENGTHS.astype(np.float32)[:, None], detectors, axis=1)
        f.create_variable("lambda0", ("bands", "detectors"), np.float32, data=wavelengths).attrs["units"] = "nm"


def _write_manifest(folder: Path, level: str, seed: int, files: list[str], swath: SyntheticSwath) -> None:
    """xfdumanifest.xml with the elements readers use: product type, acquisition period, platform, footprint,
    and one dataObject per file."""
    day = f"2023-06-{1 + seed % 28:02d}"
    text = (
        "SENTINEL-3 OLCI Level 1 Earth Observation Full Resolution Product"
        if level == olci.LEVEL1
        else "SENTINEL-3 OLCI Level 2 Water Product"
    )
    files = [*files, "geo_coordinates.nc", "tie_geometries.nc", "instrument_data.nc"]
    corners = ((0, 0), (0, -1), (-1, -1), (-1, 0), (0, 0))
    footprint = " ".join(f"{swath.lat[r, c]:.6f} {swath.lon[r, c]:.6f}" for r, c in corners)
    objects = "\n".join(
        f'    <dataObject ID="{name[:-3]}Data"><byteStream mimeType="application/x-netcdf" size="{(folder / name).stat().st_size}">'
        f'<fileLocation locatorType="URL" href="./{name}"/></byteStream></dataObject>'
        for name in files
    )
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1" xmlns:gml="http://www.opengis.net/gml" xmlns:sentinel-safe="http://www.esa.int/safe/sentinel/1.1" xmlns:sentinel3="http://www.esa.int/safe/sentinel/sentinel-3/1.0" version="esa/safe/sentinel/1.1/sentinel-3/olci">
  <informationPackageMap>
    <xfdu:contentUnit unitType="Information Package" textInfo="{text}" ID="packageUnit"/>
  </informationPackageMap>
  <metadataSection>
    <metadataObject ID="acquisitionPeriod"><metadataWrap><xmlData><sentinel-safe:acquisitionPeriod>
      <sentinel-safe:startTime>{day}T14:15:17.000000Z</sentinel-safe:startTime>
      <sentinel-safe:stopTime>{day}T14:18:17.000000Z</sentinel-safe:stopTime>
    </sentinel-safe:acquisitionPeriod></xmlData></metadataWrap></metadataObject>
    <metadataObject ID="platform"><metadataWrap><xmlData><sentinel-safe:platform>
      <sentinel-safe:familyName abbreviation="S3">Sentinel-3</sentinel-safe:familyName>
      <sentinel-safe:number>A</sentinel-safe:number>
      <sentinel-safe:instrument><sentinel-safe:familyName abbreviation="OLCI">Ocean Land Colour Instrument</sentinel-safe:familyName></sentinel-safe:instrument>
    </sentinel-safe:platform></xmlData></metadataWrap></metadataObject>
    <metadataObject ID="generalProductInformation"><metadataWrap><xmlData><sentinel3:generalProductInformation>
      <sentinel3:productName>{folder.name}</sentinel3:productName>
      <sentinel3:productType>{level}___</sentinel3:productType>
      <sentinel3:productSize>0</sentinel3:productSize>
    </sentinel3:generalProductInformation></xmlData></metadataWrap></metadataObject>
    <metadataObject ID="measurementFrameSet"><metadataWrap><xmlData><sentinel-safe:frameSet><sentinel-safe:footPrint>
      <gml:posList>{footprint}</gml:posList>
    </sentinel-safe:footPrint></sentinel-safe:frameSet></xmlData></metadataWrap></metadataObject>
  </metadataSection>
  <dataObjectSection>
{objects}
  </dataObjectSection>
</xfdu:XFDU>
"""
    (folder / olci.MANIFEST).write_text(xml, encoding="utf-8")
