"""What the engine reads: the layer's file as is, a VRT that stacks the chosen bands, or a GeoTIFF written first.

The engine reads files only. A layer backed by a GDAL file whose bands match the model goes as is (the engine
then also reads the file's scaling tags and date). When the user changed the band mapping, or the bands come from
several files of a Sentinel-2 product, a VRT names the chosen bands after the model's bands. A layer QGIS reads
through a provider (WMS, memory, virtual, ...) is first written to a GeoTIFF for the chosen area.
`plan_input` runs on the main thread (it reads the layer); `materialize` runs in the task (it writes files).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from qgis.core import (
    Qgis,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransformContext,
    QgsFeedback,
    QgsProviderRegistry,
    QgsRasterBlockFeedback,
    QgsRasterFileWriter,
    QgsRasterLayer,
    QgsRasterPipe,
    QgsRectangle,
)

from .band_matching import (
    OTCI_CHANNELS,
    BandSource,
    band_label,
    inside_safe,
    product_band_files,
    sen3_band_files,
    sen3_folder,
)

MAX_EXPORT_SIDE = 8192  # pixels: a provider layer exported at screen resolution stays a sane size
# Keyed by the enum members themselves: ints on Qt5, enum members on Qt6 (where int() of them may fail).
_DATA_TYPES = {
    getattr(Qgis.DataType, name): name  # qt6: ok (Qgis.DataType is the enum type)
    for name in ("Byte", "UInt16", "Int16", "UInt32", "Int32", "Float32", "Float64")
}
_SENTINEL2_SUBDATASET = re.compile(r"^SENTINEL2_L\w+:(?P<mtd>.+?MTD_MSIL\w+\.xml):", re.IGNORECASE)
_NETCDF_SUBDATASET = re.compile(r'^NETCDF:"?(?P<file>.+?)"?:[^:"]+$', re.IGNORECASE)  # NETCDF:"file.nc":variable


class InputError(Exception):
    """The layer cannot be given to the engine; the message says why and what to do."""


@dataclass(frozen=True)
class Grid:
    crs_wkt: str
    extent: tuple[float, float, float, float]  # xmin, ymin, xmax, ymax
    width: int
    height: int


@dataclass
class InputPlan:
    """How the engine's input is made. kind: "file" (as is), "vrt" (stack of files), "export" (provider layer)."""

    kind: str
    path: str = ""  # "file": the path the engine gets
    bands: list[tuple[str, BandSource]] = field(default_factory=list)  # "vrt"/"export": (model band, source)
    grid: Grid | None = None  # "vrt"/"export": the grid of the stack
    provider: object | None = None  # "export": a clone of the layer's provider, read in the task
    description: str = ""  # for the log


def layer_file(layer: QgsRasterLayer) -> str | None:
    """The file (or .SAFE folder) GDAL reads this layer from, or None for a layer read through a provider."""
    if layer.providerType() != "gdal":
        return None
    parts = QgsProviderRegistry.instance().decodeUri("gdal", layer.source())
    path = str(parts.get("path") or "")
    m = _SENTINEL2_SUBDATASET.match(path)
    if m is not None:  # a .SAFE opened through GDAL's SENTINEL2 driver: the engine reads the product
        return str(Path(m.group("mtd")).parent)
    netcdf = _NETCDF_SUBDATASET.match(path)
    file = netcdf.group("file") if netcdf else path
    product = sen3_folder(file) if file and os.path.exists(file) else None
    if product is not None:  # a file of a Sentinel-3 .SEN3 product (a band's NetCDF): the engine reads the product
        return str(product)
    if parts.get("layerName") or not path or not os.path.exists(path):
        return None  # a subdataset or a remote file: not a plain file the engine can open
    return path


def _data_type(layer: QgsRasterLayer, band: int) -> str:
    return _DATA_TYPES.get(layer.dataProvider().dataType(band), "Float32")


def _nodata(layer: QgsRasterLayer, band: int) -> float | None:
    provider = layer.dataProvider()
    return float(provider.sourceNoDataValue(band)) if provider.sourceHasNoDataValue(band) else None


def _extent(rect: QgsRectangle) -> tuple[float, float, float, float]:
    return (rect.xMinimum(), rect.yMinimum(), rect.xMaximum(), rect.yMaximum())


def layer_band_sources(layer: QgsRasterLayer) -> list[BandSource]:
    """Every band of the layer as a possible source, labelled with the name the file gives it."""
    path = layer_file(layer) or ""
    return [
        BandSource(
            label=band_label(layer.bandName(i)) or f"band {i}",
            path=path,
            band=i,
            data_type=_data_type(layer, i),
            nodata=_nodata(layer, i),
            width=layer.width(),
            height=layer.height(),
            extent=_extent(layer.extent()),
            crs_wkt=layer.crs().toWkt(),
        )
        for i in range(1, layer.bandCount() + 1)
    ]


def product_band_sources(layer: QgsRasterLayer, gsd_m: float) -> list[BandSource]:
    """When the layer is one band file of a Sentinel-2 product: every band file of the product; of a Sentinel-3
    OLCI product: its bands and the RGB channels the engine renders from them ([] otherwise)."""
    path = layer_file(layer)
    if path is not None and sen3_folder(path) is not None:
        return sen3_sources(Path(path))
    if path is None or layer.bandCount() != 1:
        return []
    files = product_band_files(path, gsd_m)
    if len(files) < 2:
        return []
    sources = []
    for item in files:
        other = layer if Path(item.path) == Path(path) else QgsRasterLayer(str(item.path), item.band, "gdal")
        if not other.isValid():
            continue
        sources.append(
            BandSource(
                label=f"{item.band} ({item.path.name})",
                path=str(item.path),
                band=1,
                data_type=_data_type(other, 1),
                nodata=_nodata(other, 1),
                width=other.width(),
                height=other.height(),
                extent=_extent(other.extent()),
                crs_wkt=other.crs().toWkt(),
            )
        )
    return sources


def sen3_sources(folder: Path) -> list[BandSource]:
    """An OLCI product's bands, and the OTCI rendering's red, green and blue: what a model may ask the engine for.
    The engine reads the product as a whole (its files have no map coordinates GDAL would use), so these only say
    which of a model's bands the product has."""
    files = sen3_band_files(folder)
    sources = [BandSource(f"{f.band} ({f.path.name})", str(f.path), 1) for f in files]
    bands = {f.band for f in files}
    sources += [
        BandSource(f"{channel} (OTCI rendering of {band})", str(folder), i)
        for i, (channel, band) in enumerate(OTCI_CHANNELS, start=1)
        if band in bands
    ]
    return sources


def plan_input(
    layer: QgsRasterLayer,
    mapping: dict[str, BandSource],
    automatic: bool,
    gsd_m: float,
    area: QgsRectangle | None,
    units_per_pixel: float | None = None,
) -> InputPlan:
    """Decide what the engine reads. `mapping`: model band -> source, complete; `automatic`: as matched, unedited.

    `area` (layer CRS) bounds what a provider layer exports; `units_per_pixel` is its export resolution when the
    provider has no native one (e.g. WMS: the map canvas's).
    """
    path = layer_file(layer)
    sources = list(mapping.values())
    files = {s.path for s in sources}
    if path is not None and sen3_folder(path) is not None:
        return _sen3_plan(path, automatic, area)
    if path is not None and automatic:
        same_file = files == {path}
        product_band = path in files and inside_safe(path)
        if same_file or product_band or Path(path).is_dir():
            return InputPlan("file", path=path, description=f"the layer's file {path}")
    if "" not in files:  # every band in a file: stack them in a VRT
        return InputPlan(
            "vrt",
            bands=list(mapping.items()),
            grid=_stack_grid(sources, gsd_m),
            description=f"a VRT of {len(files)} file(s)",
        )
    return _export_plan(layer, mapping, area, units_per_pixel)


def _sen3_plan(folder: str, automatic: bool, area: QgsRectangle | None) -> InputPlan:
    """A Sentinel-3 product goes to the engine as it is: it finds the model's bands and puts them on a map grid."""
    if not automatic:
        raise InputError(
            "a Sentinel-3 product is read by the engine with the bands the model names; keep the automatic band choice"
        )
    if area is not None:
        raise InputError(
            "a Sentinel-3 product's layer has no map coordinates to choose an area with; search the whole layer"
        )
    return InputPlan("file", path=folder, description=f"the Sentinel-3 product {folder}")


def _stack_grid(sources: list[BandSource], gsd_m: float) -> Grid:
    """One file: its own grid. Several (a product's 10/20/60 m bands): the first's extent at the model's resolution."""
    first = sources[0]
    if all((s.width, s.height, s.extent) == (first.width, first.height, first.extent) for s in sources):
        return Grid(first.crs_wkt, first.extent, first.width, first.height)
    xmin, ymin, xmax, ymax = first.extent
    crs = QgsCoordinateReferenceSystem.fromWkt(first.crs_wkt)
    metric = crs.isValid() and not crs.isGeographic()
    res = gsd_m if metric else (xmax - xmin) / max(1, first.width)
    return Grid(first.crs_wkt, first.extent, max(1, round((xmax - xmin) / res)), max(1, round((ymax - ymin) / res)))


def _export_plan(
    layer: QgsRasterLayer, mapping: dict[str, BandSource], area: QgsRectangle | None, units_per_pixel: float | None
) -> InputPlan:
    provider = layer.dataProvider()
    extent = QgsRectangle(layer.extent())
    if area is not None:
        extent = extent.intersect(area)
        if extent.isEmpty():
            raise InputError(f"the chosen area does not overlap the layer {layer.name()!r}; choose another area")
    if provider.capabilities() & provider.Size and layer.width() > 0:
        res_x, res_y = layer.rasterUnitsPerPixelX(), layer.rasterUnitsPerPixelY()
    elif units_per_pixel:
        res_x = res_y = units_per_pixel
    else:
        res_x = res_y = max(extent.width(), extent.height()) / 2048.0
    width = max(1, round(extent.width() / res_x))
    height = max(1, round(extent.height() / res_y))
    if max(width, height) > MAX_EXPORT_SIDE:
        shrink = max(width, height) / MAX_EXPORT_SIDE
        width, height = max(1, round(width / shrink)), max(1, round(height / shrink))
    grid = Grid(layer.crs().toWkt(), _extent(extent), width, height)
    return InputPlan(
        "export",
        bands=list(mapping.items()),
        grid=grid,
        provider=provider.clone(),
        description=f"layer {layer.name()!r} ({layer.providerType()}) written to a GeoTIFF, {width} x {height} px",
    )


def materialize(plan: InputPlan, work_dir: Path, feedback: QgsFeedback | None = None) -> str:
    """Write what the plan needs into `work_dir`; the path the engine reads. Runs in a worker thread."""
    if plan.kind == "file":
        return plan.path
    work_dir.mkdir(parents=True, exist_ok=True)
    bands = plan.bands
    if plan.kind == "export":
        tif = work_dir / "input.tif"
        _export_provider(plan, tif, feedback)
        bands = [
            (
                name,
                BandSource(
                    s.label,
                    str(tif),
                    s.band,
                    s.data_type,
                    s.nodata,
                    plan.grid.width,
                    plan.grid.height,
                    plan.grid.extent,
                    plan.grid.crs_wkt,
                ),
            )
            for name, s in plan.bands
        ]
    vrt = work_dir / "input.vrt"
    write_stack_vrt(vrt, bands, plan.grid)
    return str(vrt)


def _export_provider(plan: InputPlan, path: Path, feedback: QgsFeedback | None) -> None:
    grid = plan.grid
    pipe = QgsRasterPipe()
    if not pipe.set(plan.provider):
        raise InputError("the layer's data cannot be read for export; save it as a GeoTIFF and use that")
    writer = QgsRasterFileWriter(str(path))
    writer.setOutputFormat("GTiff")
    set_options = getattr(writer, "setCreationOptions", writer.setCreateOptions)  # renamed in 3.44
    set_options(["COMPRESS=DEFLATE", "TILED=YES", "BIGTIFF=IF_SAFER"])
    crs = QgsCoordinateReferenceSystem.fromWkt(grid.crs_wkt)
    block_feedback = feedback if isinstance(feedback, QgsRasterBlockFeedback) else QgsRasterBlockFeedback()
    if feedback is not None and block_feedback is not feedback:
        feedback.canceled.connect(block_feedback.cancel)  # a Processing feedback cancels the export too
    error = writer.writeRaster(
        pipe, grid.width, grid.height, QgsRectangle(*grid.extent), crs, QgsCoordinateTransformContext(), block_feedback
    )
    if block_feedback.isCanceled():
        raise InputError("cancelled while writing the layer to a GeoTIFF")
    if error != QgsRasterFileWriter.WriterError.NoError:
        raise InputError(
            f"the layer could not be written to a temporary GeoTIFF (error {int(error)}); "
            "save it as a GeoTIFF (Export > Save As) and run on that"
        )


def write_stack_vrt(path: Path, bands: list[tuple[str, BandSource]], grid: Grid) -> None:
    """A GDAL VRT with one band per model band, named after it, each read from its source onto `grid`."""
    xmin, ymin, xmax, ymax = grid.extent
    res_x, res_y = (xmax - xmin) / grid.width, (ymax - ymin) / grid.height
    lines = [
        f'<VRTDataset rasterXSize="{grid.width}" rasterYSize="{grid.height}">',
        f"  <SRS>{escape(grid.crs_wkt)}</SRS>",
        f"  <GeoTransform>{xmin!r}, {res_x!r}, 0.0, {ymax!r}, 0.0, {-res_y!r}</GeoTransform>",
    ]
    for index, (name, source) in enumerate(bands, start=1):
        sx0, sy0, sx1, sy1 = source.extent
        dst_x = (sx0 - xmin) / res_x
        dst_y = (ymax - sy1) / res_y
        dst_w = (sx1 - sx0) / res_x
        dst_h = (sy1 - sy0) / res_y
        finer = source.width > 0 and dst_w < source.width * 0.999
        lines += [
            f'  <VRTRasterBand dataType="{source.data_type}" band="{index}">',
            f"    <Description>{escape(name)}</Description>",
        ]
        if source.nodata is not None:
            lines.append(f"    <NoDataValue>{source.nodata!r}</NoDataValue>")
        lines += [
            f'    <ComplexSource resampling="{"average" if finer else "bilinear"}">',
            f'      <SourceFilename relativeToVRT="0">{escape(str(Path(source.path).resolve()))}</SourceFilename>',
            f"      <SourceBand>{source.band}</SourceBand>",
            f'      <SrcRect xOff="0" yOff="0" xSize="{source.width}" ySize="{source.height}"/>',
            f'      <DstRect xOff="{dst_x!r}" yOff="{dst_y!r}" xSize="{dst_w!r}" ySize="{dst_h!r}"/>',
        ]
        if source.nodata is not None:
            lines.append(f"      <NODATA>{source.nodata!r}</NODATA>")
        lines += ["    </ComplexSource>", "  </VRTRasterBand>"]
    lines.append("</VRTDataset>")
    tmp = path.with_name(path.name + ".part")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def automatic_plan(
    layer: QgsRasterLayer,
    model_bands: list[str],
    gsd_m: float,
    area: QgsRectangle | None,
    units_per_pixel: float | None = None,
) -> InputPlan:
    """The input without a user's band mapping (Processing): a file goes as is and the engine matches its bands;
    loose Sentinel-2 band files are stacked; a provider layer is exported with its bands matched by name."""
    from .band_matching import auto_mapping, missing_bands

    path = layer_file(layer)
    if path is not None and sen3_folder(path) is not None:
        return _sen3_plan(path, True, area)
    if path is not None and (layer.bandCount() > 1 or inside_safe(path) or Path(path).is_dir()):
        return InputPlan("file", path=path, description=f"the layer's file {path}")
    sources = product_band_sources(layer, gsd_m) or layer_band_sources(layer)
    mapping = auto_mapping(model_bands, sources)
    missing = missing_bands(mapping)
    if missing:
        raise InputError(bands_missing_message(layer.name(), missing, sources, model_bands, in_dock=False))
    return plan_input(layer, mapping, True, gsd_m, area, units_per_pixel)


def bands_missing_message(
    layer_name: str, missing: list[str], sources: list[BandSource], wanted: list[str], in_dock: bool = True
) -> str:
    """The error a user can act on when bands are missing: each band named once, and a remedy that can work.

    `wanted`: all the bands the model needs; choosing other sources for the missing ones can help only when the
    layer has as many bands, and only in the dock.
    """
    count = len(sources)
    have = ", ".join(s.label for s in sources) or "none"
    text = (
        f"The layer {layer_name!r} lacks the band(s) {', '.join(missing)} that the model needs; "
        f"the layer has {count} band{'s' if count != 1 else ''} ({have}). "
    )
    if in_dock and count >= len(wanted):
        return text + "Choose a source for each missing band under Bands, or use an image with these bands."
    return text + "Use an image with these bands (e.g. a Sentinel-2 L2A product)."
