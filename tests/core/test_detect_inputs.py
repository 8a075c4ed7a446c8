"""`sargasses detect` gives no silent wrong answer: inputs it cannot measure or read right are refused (or
warned about) in one line that says what to do, and odd but valid inputs give the same rafts as plain ones.

docs/detect.md, "Safety", promises each of these.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from affine import Affine
from detect_helpers import (
    SARGASSUM,
    TRANSFORM,
    assert_summary_shape,
    bright_model,
    plant,
    random_model,
    water,
    write_scene,
)

from sargasses.detection.cli import main
from sargasses.detection.options import DetectOptions
from sargasses.detection.run import run_detection
from sargasses.reading.sensors import DEFAULT_BANDS


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    return {
        "bright": bright_model(folder / "bright.sargasses"),
        # random weights: spatial (3 x 3 convolutions), so it sees mirrored or zero-padded scenes differently
        "random": random_model(folder / "random.sargasses", seed=3),
    }


def _no_nan(name: str) -> None:
    raise AssertionError(f"the summary holds {name}, which is not JSON")


def detect(capsys, *args: object) -> tuple[int, str, dict | None]:
    """Run the CLI; (exit code, stderr, the summary read back as strict JSON, None when there is none)."""
    argv = [str(a) for a in args]
    rc = main([*argv, "-q", "--device", "cpu"])
    err = capsys.readouterr().err
    output = Path(argv[argv.index("-o") + 1])
    summary_file = output.with_name(f"{output.stem}.summary.json")
    summary = json.loads(summary_file.read_text(), parse_constant=_no_nan) if summary_file.exists() else None
    return rc, err, summary


def refused(capsys, *args: object, match: str) -> str:
    rc, err, summary = detect(capsys, *args)
    assert rc == 1 and summary is None, err
    assert err.startswith("sargasses: error: ") and err.count("\n") == 1, err
    assert match.lower() in err.lower(), err
    return err


def one_raft_scene(path: Path, crs: str | None = "EPSG:32620", **kw) -> Path:
    raft = np.zeros((60, 70), bool)
    raft[20:26, 30:36] = True  # 36 pixels
    return write_scene(path, plant(water(60, 70, seed=2), [raft]), crs=crs, **kw)


# --------------------------------------------------------------------------- no CRS
def test_a_raster_without_crs_is_refused_with_what_to_do(tmp_path, models, capsys) -> None:
    scene = one_raft_scene(tmp_path / "nocrs.tif", crs=None)
    err = refused(capsys, scene, "-o", tmp_path / "r.gpkg", "--model", models["bright"], match="no coordinate")
    assert "gdal_edit.py -a_srs" in err and "--pixel-units" in err


def test_pixel_units_measure_in_pixels_and_say_so(tmp_path, models, capsys) -> None:
    scene = one_raft_scene(tmp_path / "nocrs.tif", crs=None)
    out = tmp_path / "r.gpkg"
    rc, err, summary = detect(capsys, scene, "-o", out, "--model", models["bright"], "--pixel-units", "--json")
    assert rc == 0, err
    assert_summary_shape(summary)  # with total_area_px and water_area_px
    assert summary["units"] == "pixels" and summary["rafts"] == 1
    assert summary["total_area_px"] == 36 and summary["total_area_km2"] is None
    assert summary["water_area_px"] == 60 * 70
    assert "pixels" in err and "sargasses: warning:" in err
    frame = gpd.read_file(out)
    assert frame["area_m2"].tolist() == [36.0]  # pixels, as the summary says
    assert frame["lon"].isna().all()


# --------------------------------------------------------------------------- scenes smaller than a tile
def test_a_thin_strip_gives_the_rafts_of_the_full_scene(tmp_path, models, capsys) -> None:
    """3 x 5000 px: its one tile is 32 px high. Zero padding there looked like a shore to the model (false rafts);
    the strip mirrored into the padding gives what the full scene gives: none above this threshold."""
    sea = water(64, 5000, seed=1)
    full = write_scene(tmp_path / "full.tif", sea)
    strip = write_scene(tmp_path / "strip.tif", sea[:, :3, :])
    args = ("--model", models["random"], "--threshold", "0.7")
    rc, err, summary = detect(capsys, full, "-o", tmp_path / "full.gpkg", *args)
    assert rc == 0 and summary["rafts"] == 0, err
    rc, err, summary = detect(
        capsys, strip, "-o", tmp_path / "strip.gpkg", *args, "--probabilities", tmp_path / "p.tif"
    )
    assert rc == 0, err
    assert summary["rafts"] == 0
    with rasterio.open(tmp_path / "p.tif") as prob:
        assert prob.shape == (3, 5000) and np.nanmax(prob.read(1)) < 0.7


# --------------------------------------------------------------------------- reflectance out of range
def test_reflectance_mostly_out_of_range_is_refused(tmp_path, models, capsys) -> None:
    negative = write_scene(tmp_path / "neg.tif", water(60, 70) - 0.4)
    refused(capsys, negative, "-o", tmp_path / "a.gpkg", "--model", models["bright"], match="offset")
    percent = write_scene(tmp_path / "pct.tif", water(60, 70) * 100)
    refused(capsys, percent, "-o", tmp_path / "b.gpkg", "--model", models["bright"], match="divide")


def test_some_reflectance_out_of_range_is_warned_about(tmp_path, models, capsys) -> None:
    sea = water(60, 70)
    sea[:, :12] = -0.5  # 17 % of the scene
    scene = write_scene(tmp_path / "some.tif", sea)
    rc, err, summary = detect(capsys, scene, "-o", tmp_path / "r.gpkg", "--model", models["bright"])
    assert rc == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("sargasses: warning:")]
    assert len(warnings) == 1 and "outside the range" in warnings[0] and "offset" in warnings[0]
    assert summary["warnings"] and "outside the range" in summary["warnings"][0]


# --------------------------------------------------------------------------- integer types
@pytest.mark.parametrize("dtype", ["int8", "uint8"])
def test_8_bit_integers_are_not_reflectance(tmp_path, models, capsys, write_raster, dtype) -> None:
    data = np.full((10, 40, 40), 100, dtype=dtype)
    path = write_raster(tmp_path / f"{dtype}.tif", data, descriptions=list(DEFAULT_BANDS))
    refused(capsys, path, "-o", tmp_path / "r.gpkg", "--model", models["bright"], match=f"8-bit integers ({dtype})")


# --------------------------------------------------------------------------- infinite and missing values
def test_all_infinite_input_says_so(tmp_path, models, capsys) -> None:
    scene = write_scene(tmp_path / "inf.tif", np.full((10, 40, 50), np.inf, np.float32))
    err = refused(capsys, scene, "-o", tmp_path / "r.gpkg", "--model", models["bright"], match="infinite")
    assert "cloud" not in err


def test_all_nan_input_says_so(tmp_path, models, capsys) -> None:
    scene = write_scene(tmp_path / "nan.tif", np.full((10, 40, 50), np.nan, np.float32))
    refused(capsys, scene, "-o", tmp_path / "r.gpkg", "--model", models["bright"], match="no valid pixel")


def test_some_infinite_values_are_nodata_and_warned_about(tmp_path, models, capsys) -> None:
    sea = water(60, 70)
    sea[:, :, :5] = np.inf
    scene = write_scene(tmp_path / "inf.tif", sea)
    rc, err, summary = detect(capsys, scene, "-o", tmp_path / "r.gpkg", "--model", models["bright"])
    assert rc == 0, err
    assert "infinite" in err and summary["pixels"]["nodata"] == 60 * 5 and summary["pixels"]["cloud"] == 0
    assert len(summary["warnings"]) == 1  # infinite, not also "outside the range reflectance can take"


# --------------------------------------------------------------------------- options
@pytest.mark.parametrize(
    "args",
    [
        ("--min-area", "nan"),
        ("--threshold", "nan"),
        ("--threshold", "inf"),
        ("--method", "afai", "--threshold", "nan"),
        ("--method", "afai", "--min-area", "inf"),
        ("--simplify", "nan"),
        ("--extent", "0", "0", "nan", "1"),
    ],
)
def test_nan_and_inf_options_are_refused(tmp_path, models, capsys, args) -> None:
    scene = one_raft_scene(tmp_path / "s.tif")
    model = () if "afai" in args else ("--model", models["bright"])
    refused(capsys, scene, "-o", tmp_path / "r.gpkg", *model, *args, match="not a finite number")


def test_the_summary_is_strict_json(tmp_path, models) -> None:
    """No NaN even where a measure cannot be made (pixel units: no km2)."""
    scene = one_raft_scene(tmp_path / "nocrs.tif", crs=None)
    summary = run_detection(
        DetectOptions(input=str(scene), output=str(tmp_path / "r.gpkg"), model=str(models["bright"]), pixel_units=True)
    )
    text = (tmp_path / "r.summary.json").read_text()
    assert json.loads(text, parse_constant=_no_nan) == json.loads(json.dumps(summary, default=str))


# --------------------------------------------------------------------------- flipped grids
def _rafts(frame: gpd.GeoDataFrame) -> list[tuple[float, float, float]]:
    return sorted((round(g.area), round(g.centroid.x, 3), round(g.centroid.y, 3)) for g in frame.geometry)


@pytest.mark.parametrize("flip", ["south-up", "right-to-left", "half-turn", "transposed"])
def test_a_flipped_grid_gives_the_rafts_of_the_upright_one(tmp_path, models, capsys, flip) -> None:
    raft = np.zeros((96, 128), bool)
    raft[10:14, 20:60] = True
    raft[50:80, 90:93] = True
    sea = plant(water(96, 128, seed=5), [raft], SARGASSUM * 0.6 + 0.4 * water(1, 1)[:, 0, 0])
    upright = write_scene(tmp_path / "up.tif", sea)
    h, w = sea.shape[1:]
    t = TRANSFORM
    if flip == "south-up":
        flipped = write_scene(tmp_path / "f.tif", sea[:, ::-1], Affine(t.a, 0, t.c, 0, -t.e, t.f + t.e * h))
    elif flip == "right-to-left":
        flipped = write_scene(tmp_path / "f.tif", sea[:, :, ::-1], Affine(-t.a, 0, t.c + t.a * w, 0, t.e, t.f))
    elif flip == "half-turn":
        turned = Affine(-t.a, 0, t.c + t.a * w, 0, -t.e, t.f + t.e * h)
        flipped = write_scene(tmp_path / "f.tif", sea[:, ::-1, ::-1], turned)
    else:  # rows of the file run east, its columns south: a rotated grid, warped north-up when read
        flipped = write_scene(tmp_path / "f.tif", sea.transpose(0, 2, 1), Affine(0, t.a, t.c, t.e, 0, t.f))
    args = ("--model", models["random"], "--threshold", "0.6")
    rc, err, first = detect(capsys, upright, "-o", tmp_path / "up.gpkg", *args)
    assert rc == 0 and first["rafts"] > 0, err
    rc, err, second = detect(capsys, flipped, "-o", tmp_path / "f.gpkg", *args)
    assert rc == 0 and second["rafts"] == first["rafts"], err
    assert _rafts(gpd.read_file(tmp_path / "f.gpkg")) == _rafts(gpd.read_file(tmp_path / "up.gpkg"))


# --------------------------------------------------------------------------- duplicate band names
def test_two_bands_that_say_they_are_the_same_band_are_refused_naming_them(tmp_path, models, capsys, write_raster):
    """An extra band (B11's values) described "B04" and first: read as B04 it gave 62 rafts for 14, exit 0."""
    sea = water(40, 40, seed=1)
    data = np.concatenate([sea[[list(DEFAULT_BANDS).index("B11")]], sea]).astype(np.float32)
    path = write_raster(tmp_path / "twice.tif", data, descriptions=["B04", *DEFAULT_BANDS])
    refused(capsys, path, "-o", tmp_path / "r.gpkg", "--model", models["bright"], match="bands 1 (B04) and 4 (B04)")


def test_a_band_named_twice_in_bands_is_refused(tmp_path, models, capsys) -> None:
    scene = one_raft_scene(tmp_path / "scene.tif")
    bands = ",".join(["B02", *DEFAULT_BANDS[:1], *DEFAULT_BANDS[2:]])  # B02 twice, B03 not at all
    refused(
        capsys,
        scene,
        "-o",
        tmp_path / "r.gpkg",
        "--model",
        models["bright"],
        "--bands",
        bands,
        match="--bands names B02 more than once",
    )
