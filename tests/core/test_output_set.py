"""A run's outputs are one set: all appear together or none does, whatever fails (issue 12, items 1 and 2).

Each test is a fault a user meets: a full disk while the probabilities are written (a 2 MB tmpfs; CI runs as root),
Ctrl-C or SIGTERM mid-run, a run killed outright, two runs to the same paths at once, a quicklook that cannot be
written, an output path that is one of the run's inputs, and a reader that stops early (`| head`).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import pytest
import rasterio.shutil
from detect_helpers import bright_model, plant, planted_rafts, random_model, water, write_scene

from sargasses.detection.cli import main

PYTHON = sys.executable
SETS = ("r.gpkg", "p.tif", "r.summary.json")


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """A small scene with six rafts (a quick good run), a 1024 px noise scene whose probability raster does not fit
    in 2 MB, and their models."""
    folder = tmp_path_factory.mktemp("scenes")
    small = write_scene(folder / "small.tif", plant(water(300, 300, seed=4), planted_rafts(300, 300)))
    big = write_scene(folder / "big.tif", water(1024, 1024, seed=9))
    return {
        "small": small,
        "big": big,
        "bright": bright_model(folder / "bright.sargasses", tile_size=128, overlap=32),
        "random": random_model(folder / "random.sargasses", tile_size=64, overlap=16),
    }


def detect(*args: object) -> int:
    return main([str(a) for a in args])


def digests(folder: Path) -> dict[str, str]:
    """Every entry of a folder (hidden ones too) with its content's hash: a folder is unchanged when this is."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "folder" for p in folder.iterdir()}


def good_set(scenes, folder: Path) -> dict[str, str]:
    """A finished run's outputs in `folder` (six rafts), to be kept intact by the failed runs that follow."""
    rc = detect(
        scenes["small"], "-o", folder / "r.gpkg", "--model", scenes["bright"], "--probabilities", folder / "p.tif"
    )
    assert rc == 0
    assert sorted(digests(folder)) == sorted(SETS)
    return digests(folder)


def one_error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("sargasses: error: "), err
    return lines[0]


def assert_summary_matches(folder: Path, name: str = "r") -> None:
    """The summary beside the polygons is theirs: same raft count, same output path."""
    summary = json.loads((folder / f"{name}.summary.json").read_text())
    polygons = folder / Path(summary["output"]).name
    assert len(gpd.read_file(polygons)) == summary["rafts"]


# --------------------------------------------------------------------------- a full disk
@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs: writes past it fail with ENOSPC, as on a full disk."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill (needs root): {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_full_disk_while_writing_probabilities_keeps_the_previous_set(scenes, small_disk, capsys):
    before = good_set(scenes, small_disk)
    capsys.readouterr()
    rc = detect(
        *(scenes["big"], "-o", small_disk / "r.gpkg", "--model", scenes["random"]),
        *("--probabilities", small_disk / "p.tif", "--overwrite", "-q"),
    )
    err = capsys.readouterr().err
    assert rc == 1
    line = one_error_line(err)
    assert "could not write" in line and "p.tif" in line and "No space left on device" in line, line
    assert "free some space" in line
    assert digests(small_disk) == before  # the old set is whole; nothing new, no staging folder, no lock
    assert_summary_matches(small_disk)


def test_full_disk_while_writing_polygons_is_one_line(scenes, small_disk, capsys):
    """GeoPackage on a full disk: SQLite's error, with kilobytes of SQL in pyogrio's message, becomes one line."""
    before = good_set(scenes, small_disk)
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    (small_disk / "filler").write_bytes(b"\0" * max(0, free - 16 * 1024))
    before["filler"] = digests(small_disk)["filler"]
    capsys.readouterr()
    rc = detect(scenes["small"], "-o", small_disk / "r.gpkg", "--model", scenes["bright"], "--overwrite", "-q")
    line = one_error_line(capsys.readouterr().err)
    assert rc == 1 and "r.gpkg" in line and "No space left on device" in line and "CREATE" not in line, line
    assert digests(small_disk) == before


def test_a_failed_quicklook_leaves_the_previous_set(scenes, tmp_path, capsys, monkeypatch):
    """The last file to be written fails: the polygons and probabilities made before it do not appear either."""
    from sargasses.outputs.quicklook import Quicklook

    before = good_set(scenes, tmp_path)

    def full(self, path, *args, **kwargs):
        raise OSError(errno.EIO, os.strerror(errno.EIO), str(path))

    monkeypatch.setattr(Quicklook, "save", full)
    capsys.readouterr()
    rc = detect(
        *(scenes["big"], "-o", tmp_path / "r.gpkg", "--model", scenes["random"], "--probabilities", tmp_path / "p.tif"),
        *("--quicklook", tmp_path / "q.png", "--overwrite", "-q"),
    )
    line = one_error_line(capsys.readouterr().err)
    assert rc == 1 and "Input/output error" in line, line
    assert digests(tmp_path) == before
    assert_summary_matches(tmp_path)


def test_overwrite_replaces_the_whole_set(scenes, tmp_path, capsys):
    good_set(scenes, tmp_path)
    (tmp_path / "r.gpkg").unlink()
    (tmp_path / "r.shp").write_bytes(b"old")
    rc = detect(
        *(scenes["big"], "-o", tmp_path / "r.gpkg", "--model", scenes["random"], "--probabilities", tmp_path / "p.tif"),
        *("--overwrite", "-q", "--min-area", "5000"),
    )
    assert rc == 0, capsys.readouterr().err
    assert_summary_matches(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*SETS, "r.shp"])


# --------------------------------------------------------------------------- signals and killed runs
def start_run(scene: Path, model: Path, outdir: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            *(PYTHON, "-m", "sargasses", "detect", str(scene), "-o", str(outdir / "r.gpkg"), "--model", str(model)),
            *("--probabilities", str(outdir / "p.tif"), "--batch-size", "1", "--backend", "torch", "-q", *extra),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a shell's background job ignores SIGINT, and its children inherit that: give the run the default back
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_until_writing(process: subprocess.Popen, outdir: Path) -> Path:
    """The run's staging folder, once it exists (the run holds its locks and is computing)."""
    deadline = time.time() + 120
    while True:
        staging = [p for p in outdir.iterdir() if p.name.endswith(".part")]
        if staging:
            return staging[0]
        assert process.poll() is None and time.time() < deadline, process.communicate()
        time.sleep(0.05)


@pytest.fixture(scope="module")
def huge(tmp_path_factory):
    """Large enough that a run is still going when the signal comes, on a fast machine too."""
    folder = tmp_path_factory.mktemp("huge")
    return write_scene(folder / "huge.tif", water(1536, 1536, seed=9))


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_mid_run_leaves_the_previous_set(scenes, huge, tmp_path, sig, code):
    before = good_set(scenes, tmp_path)
    process = start_run(huge, scenes["random"], tmp_path, "--overwrite")
    staging = wait_until_writing(process, tmp_path)
    assert json.loads((staging / "RUN.json").read_text())["pid"] == process.pid
    time.sleep(0.3)
    process.send_signal(sig)
    _, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    assert "no output was written" in err.strip().splitlines()[-1]
    assert "Traceback" not in err
    assert digests(tmp_path) == before


def test_a_killed_runs_leftovers_are_cleaned_by_the_next_run(scenes, huge, tmp_path, capsys):
    process = start_run(huge, scenes["random"], tmp_path)
    staging = wait_until_writing(process, tmp_path)
    time.sleep(0.3)
    process.kill()  # no cleanup possible
    process.communicate(timeout=60)
    assert staging.is_dir()
    assert not (tmp_path / "r.gpkg").exists()  # nothing under a final name, even so
    old_style = tmp_path / ".r.gpkg.abc123.part"  # an older sargasses' leftover, two days old
    old_style.mkdir()
    os.utime(old_style, (time.time() - 2 * 86400,) * 2)
    alive = tmp_path / f".sargasses-other.gpkg.{os.getpid()}.0000.part"  # a run still going: kept
    alive.mkdir()
    (alive / "RUN.json").write_text(json.dumps({"pid": os.getpid(), "host": os.uname().nodename}))
    rc = detect(scenes["small"], "-o", tmp_path / "r.gpkg", "--model", scenes["bright"], "-q")
    assert rc == 0, capsys.readouterr().err
    assert not staging.exists() and not old_style.exists()
    assert alive.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["r.gpkg", "r.summary.json", alive.name])
    assert_summary_matches(tmp_path)


def test_concurrent_runs_to_the_same_paths_one_wins_whole(scenes, huge, tmp_path, capsys):
    process = start_run(huge, scenes["random"], tmp_path, "--overwrite")
    wait_until_writing(process, tmp_path)
    rc = detect(
        *(scenes["small"], "-o", tmp_path / "r.gpkg", "--model", scenes["bright"]),
        *("--probabilities", tmp_path / "p.tif", "--overwrite", "-q"),
    )
    line = one_error_line(capsys.readouterr().err)
    assert rc == 1 and "another sargasses run" in line and f"pid {process.pid}" in line, line
    _, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(SETS)  # the winner's set, its lock gone
    summary = json.loads((tmp_path / "r.summary.json").read_text())
    assert Path(summary["input"]).name == "huge.tif"
    assert_summary_matches(tmp_path)


# --------------------------------------------------------------------------- inputs are never outputs
def test_a_vrt_source_is_never_an_output(scenes, tmp_path, capsys):
    source = tmp_path / "source.tif"
    source.write_bytes(Path(scenes["small"]).read_bytes())
    vrt = tmp_path / "scene.vrt"
    rasterio.shutil.copy(source, vrt, driver="VRT")
    kept = digests(tmp_path)
    rc = detect(
        *(vrt, "-o", tmp_path / "r.gpkg", "--model", scenes["bright"]),
        *("--probabilities", source, "--overwrite", "-q"),
    )
    line = one_error_line(capsys.readouterr().err)
    assert rc == 1 and "source.tif" in line and "reads" in line and "never replaces an input" in line, line
    assert digests(tmp_path) == kept


def test_the_model_file_and_a_safe_product_are_never_outputs(scenes, tmp_path, capsys):
    model = tmp_path / "model.png"  # a model file may have any name
    model.write_bytes(Path(scenes["bright"]).read_bytes())
    kept = digests(tmp_path)
    rc = detect(scenes["small"], "-o", tmp_path / "r.gpkg", "--model", model, "--quicklook", model, "--overwrite", "-q")
    line = one_error_line(capsys.readouterr().err)
    assert rc == 1 and "the model file" in line, line
    assert digests(tmp_path) == kept

    band = tmp_path / "S2B_MSIL2A_TEST.SAFE" / "GRANULE" / "scene.tif"
    band.parent.mkdir(parents=True)
    band.write_bytes(Path(scenes["small"]).read_bytes())
    product = tmp_path / "S2B_MSIL2A_TEST.SAFE" / "r.gpkg"
    rc = detect(band, "-o", product, "--model", scenes["bright"], "--overwrite", "-q")
    line = one_error_line(capsys.readouterr().err)
    assert rc == 1 and "S2B_MSIL2A_TEST.SAFE" in line, line
    assert not product.exists()


# --------------------------------------------------------------------------- a reader that stops early
def test_a_closed_pipe_gives_no_traceback(scenes, tmp_path):
    """`sargasses detect ... | head`: the reader is gone when the summary is printed."""
    process = subprocess.Popen(
        [
            *(PYTHON, "-m", "sargasses", "detect", str(scenes["small"]), "-o", str(tmp_path / "r.gpkg")),
            *("--model", str(scenes["bright"]), "--json", "-q"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    process.stdout.close()  # as `head` does once it has its lines
    err = process.stderr.read().decode()
    process.wait(timeout=300)
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert process.returncode == 0
    assert_summary_matches(tmp_path)


def _mount_tmpfs(folder: Path, kilobytes: int) -> None:
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={kilobytes}k", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill (needs root): {mounted.stderr.decode().strip()}")


def test_a_probability_raster_cut_short_by_a_full_disk_never_takes_its_name(tmp_path, capsys):
    """Sizes scanned so the disk fills inside the last blocks: there GDAL writes a block cut short whose offset and
    size still fit the file (it fails only to decode). Each run either fails in one line, leaving no p.tif, or
    leaves a p.tif whose every block decodes."""
    from sargasses.synth import make_scene
    from sargasses.synth import write_scene as write_synthetic

    image = write_synthetic(make_scene(11, 512, "mixed"), tmp_path)["image"]
    failed = 0
    for kilobytes in range(62, 94, 4):
        disk = tmp_path / f"disk{kilobytes}"
        _mount_tmpfs(disk, kilobytes)
        try:
            other = tmp_path / f"other{kilobytes}"
            other.mkdir()
            rc = detect(image, "-o", other / "r.gpkg", "--probabilities", disk / "p.tif", "-q")
            err = capsys.readouterr().err
            if rc == 0:
                with rasterio.open(disk / "p.tif") as written:
                    assert written.read(1).shape == (512, 512)  # every block decodes
            else:
                line = one_error_line(err)
                assert rc == 1 and "p.tif" in line and "No space left on device" in line, line
                assert not (disk / "p.tif").exists() and not list(other.iterdir())
                failed += 1
        finally:
            subprocess.run(["umount", str(disk)], check=False)
    assert failed  # the scan met the full disk


def test_a_run_without_overwrite_removes_no_file_of_the_users(scenes, tmp_path, capsys):
    """A folder holding only r.shp.xml (the user's metadata) and r.qpj: a new r.shp is written beside them, and
    both stay as they were (they were deleted as an old shapefile's index files)."""
    (tmp_path / "r.shp.xml").write_text("<metadata>the user's notes</metadata>\n")
    (tmp_path / "r.qpj").write_text('PROJCS["WGS 84 / UTM zone 20N"]\n')
    before = digests(tmp_path)
    assert detect(scenes["small"], "-o", tmp_path / "r.shp", "--model", scenes["bright"], "-q") == 0
    after = digests(tmp_path)
    assert {name: after[name] for name in before} == before
    assert len(gpd.read_file(tmp_path / "r.shp")) == 6


def test_overwrite_removes_an_old_shapefiles_index_files(scenes, tmp_path):
    """With --overwrite over an old r.shp, its index (.qpj here) goes with it: it would not match the new file."""
    assert detect(scenes["small"], "-o", tmp_path / "r.shp", "--model", scenes["bright"], "-q") == 0
    (tmp_path / "r.qpj").write_text('PROJCS["an old projection"]\n')
    args = ("-o", tmp_path / "r.shp", "--model", scenes["bright"], "--overwrite", "-q")
    assert detect(scenes["small"], *args) == 0
    assert not (tmp_path / "r.qpj").exists() and len(gpd.read_file(tmp_path / "r.shp")) == 6
