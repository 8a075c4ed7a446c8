"""STAC search and detection from a STAC item, against real servers on loopback (tests/core/stac_helpers.py):
rustac's STAC API behind nginx, the item's band assets COGs served by nginx with range requests.

The same synthetic scene is detected from its file on disk and from its item: the rafts must be the same, and a
small area must fetch a small share of the COGs' bytes (nginx's access log says how many were sent).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import geopandas as gpd
import pytest
import rasterio
import stac_helpers as sh
from pyproj import Transformer
from shapely.geometry import LineString, box

from sargasses.detection.options import DetectOptions
from sargasses.detection.run import run_detection
from sargasses.errors import SargassesError
from sargasses.search import cli as search_cli
from sargasses.search.search import item_hrefs, search_items
from sargasses.synth import cli as synth_cli

ITEM = "S2A_20PPB_20240622_0_L2A"
LATER = "S2B_20PPB_20240625_0_L2A"  # the same pixels three days later, cloudier
COLLECTION = "sentinel-2-c1-l2a"
PC_ITEM = "S2A_MSIL2A_20240801_PC"  # its assets in "Azure Blob Storage": nginx serves them with the SAS only


def _servers_available() -> None:
    """nginx comes from Debian (make setup), rustac from the [stac] extra: without them this is a broken setup."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the loopback servers (nginx from Debian) are set up on Linux only")
    missing = [name for name, found in (("nginx", sh.nginx_binary()), ("rustac", sh.rustac_binary())) if not found]
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed: run `make setup` (apt nginx-light, pip .[stac])")


def _synth(folder: Path, size: int, seed: int) -> Path:
    argv = [str(folder), "--count", "1", "--size", str(size), "--seed", str(seed), "--kind", "mixed"]
    assert synth_cli.main([*argv, "--dtype", "uint16"]) == 0
    return folder / f"scene_{seed:04d}.tif"


@pytest.fixture(scope="session")
def stac(tmp_path_factory):
    """The servers, a 512 px scene (`scene`) as items ITEM and LATER, a 2048 px one as item "large", and the
    fault items: a missing asset (with a signed-looking query), no band assets, assets on a dropping server."""
    _servers_available()
    root = tmp_path_factory.mktemp("stac")
    scene = _synth(root / "scene", 512, 2)
    large = _synth(root / "large-scene", 2048, 5)
    cogs = sh.write_cog_set(scene, root / "cogs" / ITEM)
    large_cogs = sh.write_cog_set(large, root / "cogs" / "large", blocksize=256)
    servers = sh.LoopbackServers(root=root / "cogs", work=root / "servers")
    dropping = sh.DroppingServer(root / "cogs")
    tokens = sh.SasTokenServer()
    items = [sh.earth_search_item(ITEM, scene, cogs, servers.href)]
    items[0]["properties"]["datetime"] = "2024-06-22T14:45:45Z"
    later = sh.earth_search_item(LATER, scene, cogs, servers.href)
    later["properties"].update({"datetime": "2024-06-25T14:45:45Z", "eo:cloud_cover": 64.0, "platform": "sentinel-2b"})
    missing = sh.earth_search_item("missing-asset", scene, cogs, servers.href)
    missing["assets"]["nir08"]["href"] = servers.url("cogs") + "/gone/B8A.tif?se=2030-01-01&sig=SECRETSIG"
    no_bands = sh.earth_search_item("no-bands", scene, cogs, servers.href)
    no_bands["assets"] = {k: v for k, v in no_bands["assets"].items() if k in ("thumbnail", "red")}
    dropped = sh.earth_search_item("dropped", scene, cogs, lambda p: f"{dropping.url}/{p.relative_to(root / 'cogs')}")
    big = sh.earth_search_item("large", large, large_cogs, servers.href)
    signed = sh.earth_search_item(PC_ITEM, scene, cogs, servers.blob_href)
    signed["properties"]["datetime"] = "2024-08-01T14:45:45Z"
    for item in (missing, no_bands, dropped, big):
        item["properties"]["datetime"] = "2023-01-01T00:00:00Z"  # outside the searches of the scene's week
    servers.start(
        [items[0], later, missing, no_bands, dropped, big, signed, *sh.footprint_items(scene, cogs, servers.href)]
    )
    try:
        yield {
            "servers": servers,
            "scene": scene,
            "large": large,
            "cogs": cogs,
            "large_cogs": large_cogs,
            "tokens": tokens,
        }
    finally:
        servers.stop()
        dropping.stop()
        tokens.stop()


def _item_url(stac: dict, item_id: str, role: str = "api") -> str:
    return f"{stac['servers'].url(role)}/collections/{COLLECTION}/items/{item_id}"


def _lonlat_bounds(path: Path, shrink: float = 0.0) -> tuple[float, float, float, float]:
    with rasterio.open(path) as src:
        left, bottom, right, top = src.bounds
        to_lonlat = Transformer.from_crs(src.crs, "EPSG:4326", always_xy=True)
    return to_lonlat.transform_bounds(left + shrink, bottom + shrink, right - shrink, top - shrink)


def test_search_lists_the_week_by_date_with_cloud_and_area_shares(stac):
    inside = box(*_lonlat_bounds(stac["scene"], shrink=2000))
    found = search_items(stac["servers"].url("api"), inside, "2024-06-20/2024-06-30", COLLECTION)
    assert [f.id for f in found] == [ITEM, LATER]
    first, second = found
    assert (first.platform, first.level, first.cloud_pct, first.water_pct) == ("sentinel-2a", "L2A", 7.5, 88.2)
    assert first.aoi_share == pytest.approx(1.0) and second.cloud_pct == 64.0
    assert first.href == _item_url(stac, ITEM)
    with rasterio.open(stac["scene"]) as src:  # the area's extent in the item's CRS, for detect --extent
        assert first.crs == src.crs.to_string()
        assert first.aoi_extent[0] == pytest.approx(src.bounds.left + 2000, abs=200)  # a lon/lat box, reprojected
    west, south, east, north = _lonlat_bounds(stac["scene"])
    half_out = box(west - (east - west), south, east, north)  # half the area lies west of the tile
    assert search_items(stac["servers"].url("api"), half_out, "2024-06-20/2024-06-30", COLLECTION)[0].aoi_share == (
        pytest.approx(0.5, abs=0.01)
    )
    assert item_hrefs(stac["servers"].url("api"), inside, "2024-06-20/2024-06-30", COLLECTION, max_cloud=50) == [
        _item_url(stac, ITEM)
    ]
    assert search_items(stac["servers"].url("api"), inside, "2025-01-01/2025-02-01", COLLECTION) == []


def test_search_command_prints_a_table_and_json(stac, capsys):
    bbox = ",".join(f"{v:.5f}" for v in _lonlat_bounds(stac["scene"], shrink=2000))
    argv = ["--stac", stac["servers"].url("api"), "--collection", COLLECTION, f"--bbox={bbox}"]
    assert search_cli.main([*argv, "--dates", "2024-06-20/2024-06-30", "--max-cloud", "50"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["date-time", "(UTC)", "id"]
    assert table[1].split()[:6] == ["2024-06-22T14:45:45", ITEM, "sentinel-2a", "L2A", "7.5", "100"]
    assert table[-1] == "1 item(s)"
    assert search_cli.main([*argv, "--dates", "2024-06-20/2024-06-30", "--json"]) == 0
    assert [f["id"] for f in json.loads(capsys.readouterr().out)] == [ITEM, LATER]


def test_search_takes_the_polygons_of_a_vector_file_in_any_crs(stac, tmp_path, capsys):
    with rasterio.open(stac["scene"]) as src:
        left, bottom, right, _ = src.bounds
        crs = src.crs
    inner = box(left + 2000, bottom + 2000, left + 4000, bottom + 4000)  # 2 km squares in the scene's UTM zone
    outside = box(right + 20000, bottom, right + 22000, bottom + 2000)  # 20 km east of the tile
    gpd.GeoDataFrame(geometry=[inner, outside], crs=crs).to_file(tmp_path / "coast.gpkg")
    argv = ["--stac", stac["servers"].url("api"), "--collection", COLLECTION, "--aoi", str(tmp_path / "coast.gpkg")]
    assert search_cli.main([*argv, "--dates", "2024-06-22/2024-06-22", "--json"]) == 0
    (found,) = json.loads(capsys.readouterr().out)
    assert found["id"] == ITEM and found["aoi_share"] == pytest.approx(0.5, abs=0.01)
    line = LineString(inner.exterior.coords)  # (a LinearRing crashes pyogrio 0.x when written)
    gpd.GeoDataFrame(geometry=[line], crs=crs).to_file(tmp_path / "line.gpkg")
    assert search_cli.main([*argv[:4], "--aoi", str(tmp_path / "line.gpkg"), "--dates", "2024-06-22/.."]) == 1
    assert "holds no polygon" in capsys.readouterr().err


def test_an_aoi_polygon_is_searched_as_a_polygon_not_as_its_bbox(stac, tmp_path, capsys):
    """An L-shaped coast (the scene less its north-east quarter): the item over that quarter lies inside the L's
    bbox but not on the L, so it is not listed; the west half's item covers about 2/3 of the L, 1/2 of its bbox.
    (The cut is 1 km wider than the quarter: the item's footprint is a lon/lat box, the L is drawn in UTM.)"""
    with rasterio.open(stac["scene"]) as src:
        left, bottom, right, top = src.bounds
        crs = src.crs
    mid_x, mid_y = (left + right) / 2, (bottom + top) / 2
    ell = box(left, bottom, right, top).difference(box(mid_x - 1000, mid_y - 1000, right + 1, top + 1))
    gpd.GeoDataFrame(geometry=[ell], crs=crs).to_file(tmp_path / "ell.gpkg")
    argv = ["--stac", stac["servers"].url("api"), "--collection", COLLECTION, "--aoi", str(tmp_path / "ell.gpkg")]
    assert search_cli.main([*argv, "--dates", "2024-07-10/2024-07-10", "--json"]) == 0
    found = {f["id"]: f["aoi_share"] for f in json.loads(capsys.readouterr().out)}
    assert set(found) == {"west-half"}, found
    west_half = (left + right) / 2 - left  # of the L's area: all of it but the cut's 1 km strip over the west half
    cut = (right - mid_x + 1000) * (top - mid_y + 1000)
    expected = (west_half * (top - bottom) - 1000 * (top - mid_y + 1000)) / ((right - left) * (top - bottom) - cut)
    assert found["west-half"] == pytest.approx(expected, abs=0.01) and expected > 0.6
    bbox = ",".join(f"{v:.6f}" for v in gpd.read_file(tmp_path / "ell.gpkg").to_crs(4326).total_bounds)
    assert search_cli.main([*argv[:4], f"--bbox={bbox}", "--dates", "2024-07-10/2024-07-10", "--json"]) == 0
    by_bbox = {f["id"]: f["aoi_share"] for f in json.loads(capsys.readouterr().out)}
    assert set(by_bbox) == {"north-east", "west-half"} and by_bbox["west-half"] == pytest.approx(0.5, abs=0.02)


def _rafts(path: Path) -> list[tuple[float, ...]]:
    frame = gpd.read_file(path)
    return sorted(tuple(round(v, 3) for v in (*g.bounds, g.area)) for g in frame.geometry)


def test_detection_from_the_item_finds_the_rafts_of_the_file_on_disk(stac, tmp_path):
    local = run_detection(DetectOptions(input=str(stac["scene"]), output=str(tmp_path / "disk.gpkg")))
    remote = run_detection(DetectOptions(input=_item_url(stac, ITEM), output=str(tmp_path / "item.gpkg")))
    assert local["rafts"] > 10 and remote["rafts"] == local["rafts"]
    assert _rafts(tmp_path / "item.gpkg") == _rafts(tmp_path / "disk.gpkg")
    assert remote["water_area_km2"] == local["water_area_km2"] and remote["pixels"] == local["pixels"]
    assert remote["product_id"] == ITEM and remote["stac_item"] == _item_url(stac, ITEM)
    assert remote["acquisition_date"] == "2024-06-22" and remote["sensor"] == "sentinel2_l2a"
    assert set(gpd.read_file(tmp_path / "item.gpkg")["product"]) == {ITEM}


def test_detect_command_takes_a_catalogue_and_an_item_id(stac, tmp_path, capsys):
    from sargasses.detection import cli as detect_cli

    argv = ["--stac", stac["servers"].url("api"), "--collection", COLLECTION, "--id", ITEM]
    assert detect_cli.main([*argv, "-o", str(tmp_path / "r.gpkg"), "--json", "-q"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["product_id"] == ITEM and summary["stac_item"] == _item_url(stac, ITEM)
    assert summary["input"] == _item_url(stac, ITEM)
    assert detect_cli.main([*argv[:4], "--id", "nope", "-o", str(tmp_path / "x.gpkg")]) == 1
    assert (
        capsys.readouterr()
        .err.strip()
        .endswith("no item nope in collection sentinel-2-c1-l2a of " + argv[1] + "; list them with sargasses search")
    )
    assert detect_cli.main(["--id", ITEM, "-o", str(tmp_path / "x.gpkg")]) == 1
    assert "give an INPUT, or --stac CATALOGUE with --id ITEM" in capsys.readouterr().err
    assert not (tmp_path / "x.gpkg").exists()


def test_detection_from_an_item_json_file_resolves_its_assets(stac, tmp_path):
    """A saved item (as `sargasses search --json` users keep them) reads the same assets as its URL."""
    item = json.loads((stac["servers"].work / "items.json").read_text())["features"][0]
    (tmp_path / "item.json").write_text(json.dumps(item))
    summary = run_detection(DetectOptions(input=str(tmp_path / "item.json"), output=str(tmp_path / "r.gpkg")))
    disk = run_detection(DetectOptions(input=str(stac["scene"]), output=str(tmp_path / "d.gpkg")))
    assert summary["rafts"] == disk["rafts"] and summary["product_id"] == ITEM


def test_a_small_area_fetches_a_small_share_of_the_tile(stac, tmp_path):
    """5 km x 5 km of a 41 km tile (1.5 % of its area; 10 km of a 110 km Sentinel-2 tile is 0.8 %, measured by
    benchmarks/stac_reading.py): the COG blocks that cover it and the headers, at most 10 % of the bytes."""
    servers = stac["servers"]
    with rasterio.open(stac["large"]) as src:
        left, top = src.bounds.left + 15000, src.bounds.top - 15000
    before = servers.bytes_served("/large/")
    options = DetectOptions(
        input=_item_url(stac, "large"),
        output=str(tmp_path / "rafts.gpkg"),
        extent=(left, top - 5000, left + 5000, top),
        method="afai",
    )
    summary = run_detection(options)
    sent = servers.bytes_served("/large/") - before
    total = sum(p.stat().st_size for p in stac["large_cogs"].values())
    assert summary["pixels"]["width"] == 250 and summary["pixels"]["height"] == 250
    assert 0 < sent <= 0.10 * total, f"{sent} of {total} bytes"


def _refused(tmp_path: Path, input_: str, expected: str) -> str:
    with pytest.raises(SargassesError) as raised:
        run_detection(DetectOptions(input=input_, output=str(tmp_path / "out" / "rafts.gpkg")))
    message = str(raised.value)
    assert "\n" not in message and expected in message, message
    assert not any((tmp_path / "out").iterdir())  # nothing written, not even a staging folder
    return message


@pytest.fixture
def out_dir(tmp_path):
    (tmp_path / "out").mkdir()
    return tmp_path


def test_a_missing_asset_is_one_line_without_its_signature(stac, out_dir, capfd):
    message = _refused(out_dir, _item_url(stac, "missing-asset"), "asset")
    assert "missing-asset" in message and "SECRETSIG" not in message and "/gone/B8A.tif" in message
    from sargasses.detection import cli as detect_cli

    capfd.readouterr()
    assert detect_cli.main([_item_url(stac, "missing-asset"), "-o", str(out_dir / "out" / "r.gpkg")]) == 1
    said = capfd.readouterr()  # GDAL's own messages included: what reaches the terminal
    assert "SECRETSIG" not in said.out + said.err and said.err.count("sargasses: error:") == 1
    assert not any((out_dir / "out").iterdir())


def test_an_item_without_the_bands_names_them(stac, out_dir):
    message = _refused(out_dir, _item_url(stac, "no-bands"), "has no asset for band(s) B02, B03")
    assert "B04" not in message.split("(its assets")[0]


def test_a_connection_dropped_mid_read_is_one_line(stac, out_dir):
    message = _refused(out_dir, _item_url(stac, "dropped"), "reading band B02 of STAC item dropped over the network")
    assert "connection dropped" in message


def test_an_unknown_item_is_one_line(stac, out_dir):
    _refused(out_dir, _item_url(stac, "no-such-item"), "HTTP 404")


def test_a_server_error_on_search_is_one_line(stac):
    with pytest.raises(SargassesError, match=r"failed on the server's side \(HTTP 500\)") as raised:
        search_items(
            stac["servers"].url("broken"), box(*_lonlat_bounds(stac["scene"])), "2024-06-01/2024-07-01", COLLECTION
        )
    assert "\n" not in str(raised.value)


def test_a_catalogue_that_needs_a_token_says_so_and_the_token_never_shows(stac, tmp_path, monkeypatch, capsys):
    area = box(*_lonlat_bounds(stac["scene"], shrink=2000))
    private = stac["servers"].url("private")
    with pytest.raises(SargassesError, match=r"needs credentials.*SARGASSES_STAC_TOKEN"):
        search_items(private, area, "2024-06-20/2024-06-30", COLLECTION)
    monkeypatch.setenv("SARGASSES_STAC_TOKEN", sh.TOKEN)
    assert [f.id for f in search_items(private, area, "2024-06-20/2024-06-30", COLLECTION)] == [ITEM, LATER]
    from sargasses.detection import cli as detect_cli

    out = tmp_path / "rafts.gpkg"
    assert detect_cli.main([_item_url(stac, ITEM, "private"), "-o", str(out), "--json", "--quiet"]) == 0
    assert detect_cli.main([_item_url(stac, "no-such-item", "private"), "-o", str(tmp_path / "x.gpkg")]) == 1
    said = capsys.readouterr()
    written = [p.read_bytes() for p in tmp_path.iterdir() if p.is_file()]
    assert written and all(sh.TOKEN.encode() not in data for data in written)
    assert sh.TOKEN not in said.out + said.err and "HTTP 404" in said.err
    assert os.environ["SARGASSES_STAC_TOKEN"] == sh.TOKEN  # the token was there all along


@pytest.fixture
def planetary_computer_on_loopback(stac, monkeypatch):
    """The `planetary-computer` package's settings pointed at the loopback token endpoint, GDAL's reads of the
    blob host sent to nginx's "blob" server; the package's settings and token caches emptied before and after."""
    pytest.importorskip("planetary_computer", reason="the [planetary-computer] extra is not installed")
    from planetary_computer.sas import TOKEN_CACHE
    from planetary_computer.settings import Settings

    monkeypatch.setenv("PC_SDK_SAS_URL", stac["tokens"].url)
    monkeypatch.setenv("PC_SDK_SUBSCRIPTION_KEY", sh.SUBSCRIPTION_KEY)
    monkeypatch.setenv("GDAL_HTTP_PROXY", stac["servers"].blob_proxy)
    Settings.get.cache_clear()
    TOKEN_CACHE.clear()
    yield
    Settings.get.cache_clear()
    TOKEN_CACHE.clear()


def _blob_status(stac: dict, query: str) -> int:
    """What nginx's blob server answers for B02 with `query`: the gate that makes the signing necessary."""
    proxy = urllib.request.ProxyHandler({"http": "http://" + stac["servers"].blob_proxy})
    url = stac["servers"].blob_href(stac["cogs"]["B02"]) + query
    try:
        with urllib.request.build_opener(proxy).open(urllib.request.Request(url, headers={"Range": "bytes=0-99"})) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_planetary_computer_item_is_signed_by_the_package_and_its_token_never_shows(
    stac, planetary_computer_on_loopback, tmp_path, monkeypatch, capfd
):
    """The package's own path (sign -> get_token -> PC_SDK_SAS_URL) signs the blob hrefs when the item is read:
    the same rafts as the file on disk; the signature and the key appear in no output, summary or message."""
    from sargasses.detection import cli as detect_cli

    assert _blob_status(stac, "") == 403 and _blob_status(stac, f"?sr=c&sig={sh.SAS_SIG}") == 206
    out = tmp_path / "out"
    assert detect_cli.main([_item_url(stac, PC_ITEM), "-o", str(out / "signed.gpkg"), "--json", "-q"]) == 0
    remote = json.loads(capfd.readouterr().out)
    local = run_detection(DetectOptions(input=str(stac["scene"]), output=str(tmp_path / "disk.gpkg")))
    assert remote["rafts"] == local["rafts"] > 10 and remote["product_id"] == PC_ITEM
    assert _rafts(out / "signed.gpkg") == _rafts(tmp_path / "disk.gpkg")
    assert stac["tokens"].asked == [f"/api/sas/v1/token/{sh.BLOB_ACCOUNT}/{sh.BLOB_CONTAINER}"]  # one per container
    found = search_items(
        stac["servers"].url("api"), box(*_lonlat_bounds(stac["scene"])), "2024-08-01/2024-08-01", COLLECTION
    )
    assert [f.id for f in found] == [PC_ITEM] and sh.SAS_SIG not in json.dumps([f.as_dict() for f in found])

    monkeypatch.setenv("PC_SDK_SUBSCRIPTION_KEY", "not-the-key")  # the endpoint refuses: one line, nothing written
    from planetary_computer.sas import TOKEN_CACHE
    from planetary_computer.settings import Settings

    Settings.get.cache_clear()
    TOKEN_CACHE.clear()
    assert detect_cli.main([_item_url(stac, PC_ITEM), "-o", str(out / "refused.gpkg"), "-q"]) == 1
    said = capfd.readouterr()
    assert "signing the assets of STAC item" in said.err and "HTTP 401: check PC_SDK_SUBSCRIPTION_KEY" in said.err
    assert (
        said.err.count("sargasses: error:") == 1 and said.err.count("\n") == 1 and not (out / "refused.gpkg").exists()
    )
    written = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()]
    for secret in (sh.SAS_SIG, sh.SUBSCRIPTION_KEY, "not-the-key"):
        assert secret not in json.dumps(remote) + said.out + said.err
        assert all(secret.encode() not in data for data in written)


def test_an_item_to_sign_without_the_signing_package_says_what_to_install(stac, monkeypatch, out_dir):
    monkeypatch.setitem(sys.modules, "planetary_computer", None)  # what `import` sees when it is not installed
    message = _refused(out_dir, _item_url(stac, PC_ITEM), "need signed URLs")
    assert "pip install 'sargasses[planetary-computer]'" in message


def _s3_python() -> str:
    """The S3 environment's Python (make setup's .venv-s3, or SARGASSES_S3_PYTHON): moto's server mode."""
    python = os.environ.get("SARGASSES_S3_PYTHON") or str(Path(__file__).resolve().parents[2] / ".venv-s3/bin/python")
    if not Path(python).exists():
        pytest.fail(f"{python} missing: run `make setup` (its .venv-s3 holds moto[s3,server], the loopback S3 server)")
    return python


@pytest.fixture(scope="session")
def s3(stac, tmp_path_factory):
    """moto's S3 server on loopback (s3_server.py) holding ITEM's COGs under {BUCKET}/ITEM/, checking every
    request's signature; its JSON line (endpoint, bucket, the key pair)."""
    log = tmp_path_factory.mktemp("s3") / "s3.log"
    command = [_s3_python(), str(Path(__file__).with_name("s3_server.py")), str(stac["cogs"]["B02"].parents[1])]
    with open(log, "wb") as err:
        process = subprocess.Popen(
            [*command, str(sh.free_port())], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True
        )
    try:
        line = process.stdout.readline()
        assert line.startswith("{"), f"s3_server.py did not start: {log.read_text()[-2000:]}"
        yield json.loads(line) | {"log": log}
    finally:
        process.stdin.close()
        process.wait(30)


def _s3_item(stac: dict, s3: dict, folder: Path) -> Path:
    """ITEM as a CDSE-style item JSON file whose band assets are s3:// hrefs into the S3 server's bucket."""
    item = sh.earth_search_item(
        "S2A_CDSE", stac["scene"], stac["cogs"], lambda p: f"s3://{s3['bucket']}/{ITEM}/{p.name}"
    )
    path = folder / "cdse_item.json"
    path.write_text(json.dumps(item))
    return path


def test_s3_assets_are_read_through_vsis3_with_the_keys_of_the_environment(stac, s3, tmp_path, monkeypatch, capfd):
    """CDSE's shape: s3:// assets, GDAL's AWS_* variables (AWS_S3_ENDPOINT, no TLS, path-style) and keys that the
    server checks: the same rafts as the file on disk, a wrong secret one line, no key in any output or message."""
    from sargasses.detection import cli as detect_cli

    item = _s3_item(stac, s3, tmp_path)
    monkeypatch.setenv("AWS_S3_ENDPOINT", s3["endpoint"])
    monkeypatch.setenv("AWS_HTTPS", "NO")
    monkeypatch.setenv("AWS_VIRTUAL_HOSTING", "FALSE")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3["aws_secret_access_key"])
    out = tmp_path / "out"
    assert detect_cli.main([str(item), "-o", str(out / "s3.gpkg"), "--json", "-q"]) == 0
    remote = json.loads(capfd.readouterr().out)
    local = run_detection(DetectOptions(input=str(stac["scene"]), output=str(tmp_path / "disk.gpkg")))
    assert remote["rafts"] == local["rafts"] > 10 and remote["product_id"] == "S2A_CDSE"
    assert _rafts(out / "s3.gpkg") == _rafts(tmp_path / "disk.gpkg")
    assert f"GET /{s3['bucket']}/{ITEM}/B02.tif" in s3["log"].read_text()  # read from the S3 server

    # The server checks the signature: a wrong secret is refused. In a fresh process: GDAL caches what it read.
    env = os.environ | {"AWS_SECRET_ACCESS_KEY": "not-the-secret"}
    command = [sys.executable, "-m", "sargasses", "detect", str(item), "-o", str(out / "refused.gpkg"), "-q"]
    said = subprocess.run(command, env=env, capture_output=True, text=True)
    assert said.returncode == 1, said.stderr
    assert said.stderr.count("sargasses: error:") == 1 and "AWS_SECRET_ACCESS_KEY" in said.stderr
    assert "signature" in said.stderr and not (out / "refused.gpkg").exists()
    written = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()]
    for secret in (s3["aws_access_key_id"], s3["aws_secret_access_key"], "not-the-secret"):
        assert secret not in json.dumps(remote) + said.stdout + said.stderr
        assert all(secret.encode() not in data for data in written)


def _ready_engine(folder: Path):
    """The real engine process (test_engine_fuzz.py's), once it said it is ready."""
    from test_engine_fuzz import EngineProcess

    engine = EngineProcess(folder)
    assert engine.next_event(60)["event"] == "ready"
    return engine


def _search_request(stac: dict, role: str) -> dict:
    """The engine's search request over the scene's week, in catalogue `role`."""
    west, south, east, north = _lonlat_bounds(stac["scene"], shrink=2000)
    search = {"id": 1, "cmd": "search", "stac": stac["servers"].url(role), "collection": COLLECTION}
    return search | {"bbox": [west, south, east, north], "dates": "2024-06-20/2024-06-30"}


def test_the_engine_searches_and_detects_an_item_for_the_plugin(stac, tmp_path):
    """The plugin's path: a `search` request to the real engine process, then a `detect` of the first item's href."""
    engine = _ready_engine(tmp_path)
    try:
        search = _search_request(stac, "api") | {"max_cloud": 50}
        reply = engine.reply(json.dumps(search).encode())
        assert reply["event"] == "result", reply
        items = reply["result"]["items"]
        assert [(i["id"], i["cloud_pct"], i["aoi_share"]) for i in items] == [(ITEM, 7.5, 1.0)]
        detect = {"id": 2, "cmd": "detect", "options": {"input": items[0]["href"], "output": str(tmp_path / "r.gpkg")}}
        result = engine.reply(json.dumps(detect).encode())
        assert result["event"] == "result" and result["summary"]["product_id"] == ITEM, result
        west, south, east, north = search["bbox"]  # the box less its north-east quarter (and a margin): an L
        mid_x, mid_y = (west + east) / 2 - 0.05 * (east - west), (south + north) / 2 - 0.05 * (north - south)
        ell = box(west, south, east, north).difference(box(mid_x, mid_y, east, north))
        by_area = {
            **search,
            "id": 4,
            "area": ell.__geo_interface__,
            "dates": f"{sh.FOOTPRINT_DATE}/{sh.FOOTPRINT_DATE}",
        }
        by_area = engine.reply(json.dumps(by_area, default=list).encode())
        assert [i["id"] for i in by_area["result"]["items"]] == ["west-half"], by_area
        bad = engine.reply(json.dumps({**search, "id": 3, "stac": stac["servers"].url("broken")}).encode())
        assert bad["event"] == "error" and "HTTP 500" in bad["message"]
    finally:
        engine.close()


def test_the_engine_sends_a_requests_own_token_and_never_shows_it(stac, tmp_path):
    """The plugin's token (from QGIS's authentication database) comes in the request, for that request only."""
    engine = _ready_engine(tmp_path)
    try:
        search = _search_request(stac, "private")
        refused = engine.reply(json.dumps(search).encode())
        assert refused["event"] == "error" and "needs credentials" in refused["message"], refused
        wrong = engine.reply(json.dumps({**search, "id": 2, "token": "not-it"}).encode())
        assert wrong["event"] == "error" and "refused the token" in wrong["message"], wrong
        reply = engine.reply(json.dumps({**search, "id": 3, "token": sh.TOKEN}).encode())
        assert [i["id"] for i in reply["result"]["items"]] == [ITEM, LATER], reply
        out = tmp_path / "out"
        detect = {"input": reply["result"]["items"][0]["href"], "output": str(out / "r.gpkg")}
        result = engine.reply(json.dumps({"id": 4, "cmd": "detect", "options": detect, "token": sh.TOKEN}).encode())
        assert result["event"] == "result" and result["summary"]["product_id"] == ITEM, result
        gone = {"input": _item_url(stac, "no-such-item", "private"), "output": str(out / "x.gpkg")}
        missing = engine.reply(json.dumps({"id": 5, "cmd": "detect", "options": gone, "token": sh.TOKEN}).encode())
        assert missing["event"] == "error" and "HTTP 404" in missing["message"]
        again = engine.reply(json.dumps({**search, "id": 6}).encode())  # the token went with its request
        assert again["event"] == "error" and "needs credentials" in again["message"]
    finally:
        engine.close()
    said = json.dumps([refused, wrong, reply, result, missing, again])
    written = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()]  # outputs and the engine's stderr
    assert written and sh.TOKEN not in said and all(sh.TOKEN.encode() not in data for data in written)
