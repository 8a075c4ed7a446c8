"""The gridded product: fractional cover and covered km2 per grid cell and time step, as a CF-1.8 NetCDF.

Cells are squares of `cell` in the grid CRS, aligned on its origin (cell (i, j) spans i*cell..(i+1)*cell), so
every scene and every run falls on the same cells. Cover = covered area / observed water area of the cell; NaN
where no scene of the step saw its water, 0 where water was seen and no raft: "not observed" is not "no raft".
QGIS (as a temporal mesh or raster layer) and xarray open it as a time series.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import numpy as np

from sargasses.monitor.periods import period_start
from sargasses.monitor.settings import MonitorSettings

DONE_CELLS = (
    "SELECT c.date, c.i, c.j, c.covered_m2, c.observed_m2 FROM monitor_cells c "
    "JOIN scenes s ON s.scene_key = c.scene_key WHERE s.status = 'done'"
)


def grid_arrays(
    db: sqlite3.Connection, period: str
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(time steps, cell columns i, cell rows j (north first), covered m2 and observed m2 as (time, j, i))."""
    rows = db.execute(DONE_CELLS).fetchall()
    if not rows:
        return [], np.array([], int), np.array([], int), np.zeros((0, 0, 0)), np.zeros((0, 0, 0))
    steps = sorted({period_start(r[0], period) for r in rows})
    ii = np.arange(min(r[1] for r in rows), max(r[1] for r in rows) + 1)
    jj = np.arange(max(r[2] for r in rows), min(r[2] for r in rows) - 1, -1)
    covered = np.zeros((len(steps), len(jj), len(ii)))
    observed = np.zeros_like(covered)
    where = {s: k for k, s in enumerate(steps)}
    for date, i, j, c, o in rows:
        k, y, x = where[period_start(date, period)], jj[0] - j, i - ii[0]
        covered[k, y, x] += c
        observed[k, y, x] += o
    return steps, ii, jj, covered, observed


def write_grid(db: sqlite3.Connection, settings: MonitorSettings, period: str, path: Path) -> int:
    """Write the NetCDF (under a temporary name, then renamed); returns the number of time steps."""
    import xarray as xr
    from pyproj import CRS

    from sargasses.atomic import atomic_write

    steps, ii, jj, covered, observed = grid_arrays(db, period)
    crs = CRS.from_user_input(settings.grid_crs)
    geographic = crs.is_geographic
    xname, yname = ("lon", "lat") if geographic else ("x", "y")
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(observed > 0, covered / observed, np.nan)
    seen = observed > 0
    times = np.array([np.datetime64(dt.date.fromisoformat(s), "ns") for s in steps], "datetime64[ns]")
    dims = ("time", yname, xname)
    ds = xr.Dataset(
        {
            "cover_fraction": (dims, fraction.astype(np.float32), _attrs("cover_fraction", "1", "fraction of the cell's observed water covered by Sargassum")),
            "covered_km2": (dims, np.where(seen, covered / 1e6, np.nan), _attrs(None, "km2", "Sargassum-covered area in the cell")),
            "observed_km2": (dims, observed / 1e6, _attrs(None, "km2", "water area of the cell seen by at least one scene")),
            "crs": ((), np.int32(0), {"crs_wkt": crs.to_wkt(), "spatial_ref": crs.to_wkt(), **_grid_mapping(crs)}),
        },
        coords={
            "time": ("time", times, {"standard_name": "time", "long_name": f"start of the {period}", "axis": "T"}),
            xname: (xname, (ii + 0.5) * settings.cell, _axis(geographic, "x")),
            yname: (yname, (jj + 0.5) * settings.cell, _axis(geographic, "y")),
        },
        attrs={"Conventions": "CF-1.8", "title": "Sargassum fractional cover (sargasses monitor)",
               "source": "sargasses monitor: detection per scene, cover per cell", "period": period,
               "cell_size": settings.cell, "history": f"written {dt.datetime.now(dt.timezone.utc):%Y-%m-%dT%H:%M:%SZ}"},
    )  # fmt: skip
    for name in ("cover_fraction", "covered_km2", "observed_km2"):
        ds[name].attrs["grid_mapping"] = "crs"
    encoding = {
        n: {"zlib": True, "_FillValue": np.float32(np.nan) if n == "cover_fraction" else np.nan}
        for n in ("cover_fraction", "covered_km2", "observed_km2")
    }
    encoding["time"] = {"units": "days since 1970-01-01", "calendar": "standard", "dtype": "float64"}
    atomic_write(path, lambda tmp: ds.to_netcdf(tmp, engine="h5netcdf", encoding=encoding))
    return len(steps)


def _attrs(standard: str | None, units: str, long_name: str) -> dict[str, object]:
    attrs: dict[str, object] = {"units": units, "long_name": long_name}
    if standard == "cover_fraction":
        attrs["valid_range"] = [0.0, 1.0]
    return attrs


def _axis(geographic: bool, axis: str) -> dict[str, str]:
    if geographic:
        return ({"standard_name": "longitude", "units": "degrees_east", "axis": "X"} if axis == "x"
                else {"standard_name": "latitude", "units": "degrees_north", "axis": "Y"})  # fmt: skip
    name = "projection_x_coordinate" if axis == "x" else "projection_y_coordinate"
    return {"standard_name": name, "units": "m", "axis": axis.upper()}


def _grid_mapping(crs) -> dict[str, object]:
    """CF grid-mapping attributes (pyproj writes them from the CRS)."""
    try:
        return {k: v for k, v in crs.to_cf().items() if k not in ("crs_wkt",)}
    except Exception:  # a CRS CF cannot name: the WKT alone (GDAL and QGIS read crs_wkt / spatial_ref)
        return {}


MAX_PANELS = 12  # steps shown by the grid figure (the last ones)


def write_grid_figure(db: sqlite3.Connection, period: str, path: Path) -> None:
    """One panel per time step (the last MAX_PANELS): cover per cell, grey where not observed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sargasses.atomic import atomic_write

    steps, _, _, covered, observed = grid_arrays(db, period)
    if not steps:
        return
    steps, covered, observed = steps[-MAX_PANELS:], covered[-MAX_PANELS:], observed[-MAX_PANELS:]
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(observed > 0, covered / observed, np.nan)
    top = max(float(np.nanmax(fraction)) if np.isfinite(fraction).any() else 0.0, 1e-4)
    columns = min(len(steps), 6)
    rows = -(-len(steps) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(2.0 * columns + 1, 2.1 * rows), squeeze=False)
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="0.8")
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, step, values in zip(axes.ravel(), steps, fraction, strict=False):
        image = ax.imshow(values * 100, cmap=cmap, vmin=0, vmax=top * 100, interpolation="nearest")
        ax.set_title(step, fontsize=9)
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, label="cover, % of observed water (grey: not seen)")
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png", bbox_inches="tight"))
    plt.close(fig)
