"""Real servers on loopback for the STAC tests and benchmarks/stac_reading.py: nginx serving COGs with range
requests (its access log counts the bytes), rustac's STAC API (`rustac serve`, in-memory backend) behind nginx,
and a scene written as an Earth Search-shaped item whose band assets are COGs.

The benchmark imports this file by path, as it does model_helpers.py.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from pyproj import Transformer

# Earth Search's asset keys for the ten model bands, their common names, wavelengths (um) and pixel sizes.
EARTH_SEARCH_ASSETS = {
    "B02": ("blue", "blue", 0.49, 10),
    "B03": ("green", "green", 0.56, 10),
    "B04": ("red", "red", 0.665, 10),
    "B05": ("rededge1", "rededge", 0.704, 20),
    "B06": ("rededge2", "rededge", 0.74, 20),
    "B07": ("rededge3", "rededge", 0.783, 20),
    "B08": ("nir", "nir", 0.842, 10),
    "B8A": ("nir08", "nir08", 0.865, 20),
    "B11": ("swir16", "swir16", 1.61, 20),
    "B12": ("swir22", "swir22", 2.19, 20),
}
FOOTPRINT_DATE = "2024-07-10"  # footprint_items' date, away from the other items'
ROLES = ("cogs", "api", "broken", "private")
TOKEN = "loopback-secret-7f3a9c"  # what the private catalogue wants; it must never appear in an output
# Planetary Computer's shape on loopback: a blob account (nginx's "blob" server, reached through GDAL_HTTP_PROXY,
# serves only with the SAS signature) and the token endpoint's answer (SasTokenServer, wants the subscription key).
BLOB_ACCOUNT, BLOB_CONTAINER = "sargassestest", "sentinel2-l2"
SAS_SIG = "loopback-sas-sig-51d0e2"
SUBSCRIPTION_KEY = "loopback-pc-key-8c1b94"


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the test process dies, so a crashed run leaves no server behind."""
    import ctypes
    import signal

    ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, process: subprocess.Popen, log: Path, timeout_s: float = 20.0) -> None:
    """Until `url` answers (any HTTP status); a RuntimeError with the server's log if it died or never did."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited ({process.returncode}): {log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {timeout_s:.0f} s: {log.read_text()[-2000:]}")


def write_cog_set(scene_tif: Path, folder: Path, native_10m: bool = True, blocksize: int = 512) -> dict[str, Path]:
    """One COG per band of a synthetic 20 m scene, as Earth Search has them: the 10 m bands at 10 m (each 20 m pixel
    repeated 2x2, so averaging them back gives the scene's values exactly) when `native_10m`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    with rasterio.open(scene_tif) as src:
        for index, name in enumerate(src.descriptions, start=1):
            data, transform = src.read(index), src.transform
            if native_10m and EARTH_SEARCH_ASSETS[name][3] == 10:
                data = np.repeat(np.repeat(data, 2, axis=0), 2, axis=1)
                transform = transform @ transform.scale(0.5, 0.5)
            profile = {
                "driver": "COG",
                "width": data.shape[1],
                "height": data.shape[0],
                "count": 1,
                "dtype": data.dtype.name,
                "crs": src.crs,
                "transform": transform,
                "nodata": src.nodata,
                "compress": "DEFLATE",
                "predictor": 2,
                "blocksize": blocksize,
                "overview_resampling": "average",
            }
            paths[name] = folder / f"{name}.tif"
            with rasterio.open(paths[name], "w", **profile) as dst:
                dst.write(data, 1)
    return paths


def earth_search_item(
    item_id: str,
    scene_tif: Path,
    cogs: dict[str, Path],
    href: Callable[[Path], str],
    collection: str = "sentinel-2-c1-l2a",
) -> dict[str, Any]:
    """An item as Earth Search's sentinel-2-c1-l2a publishes one: band assets by common-name keys with eo:bands,
    raster:bands scale/offset (the baseline's -0.1 in reflectance), proj:* per asset, a thumbnail. `cogs`: the
    band files, `href` what their URL is."""
    with rasterio.open(scene_tif) as src:
        tags, crs, bounds = src.tags(), src.crs, src.bounds
    to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    west, south, east, north = to_lonlat.transform_bounds(*bounds)
    offset = float(tags.get("BOA_ADD_OFFSET", 0)) / float(tags.get("BOA_QUANTIFICATION_VALUE", 10000))
    assets: dict[str, Any] = {}
    for name, path in cogs.items():
        key, common, wavelength, _ = EARTH_SEARCH_ASSETS[name]
        with rasterio.open(path) as band:
            shape, transform, gsd = [band.height, band.width], list(band.transform)[:6], band.transform.a
        assets[key] = {
            "href": href(path),
            "type": "image/tiff; application=geotiff; profile=cloud-optimized",
            "title": f"{common} - {gsd:g}m",
            "eo:bands": [{"name": key, "common_name": common, "center_wavelength": wavelength}],
            "raster:bands": [
                {"nodata": 0, "data_type": "uint16", "spatial_resolution": gsd, "scale": 0.0001, "offset": offset}
            ],
            "proj:shape": shape,
            "proj:transform": transform,
            "roles": ["data", "reflectance"],
        }
    assets["thumbnail"] = {"href": "https://example.invalid/thumb.jpg", "type": "image/jpeg", "roles": ["thumbnail"]}
    date = tags.get("ACQUISITION_DATE", "2024-06-22")
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "stac_extensions": [],
        "id": item_id,
        "collection": collection,
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[west, south], [east, south], [east, north], [west, north], [west, south]]],
        },
        "bbox": [west, south, east, north],
        "properties": {
            "datetime": f"{date}T14:45:45Z",
            "platform": "sentinel-2a",
            "constellation": "sentinel-2",
            "instruments": ["msi"],
            "eo:cloud_cover": 7.5,
            "s2:water_percentage": 88.2,
            "s2:processing_baseline": tags.get("PROCESSING_BASELINE", "05.10"),
            "s2:product_type": "S2MSI2A",
            "proj:code": crs.to_string(),
            "earthsearch:boa_offset_applied": True,
        },
        "links": [],
        "assets": assets,
    }


def footprint_items(scene_tif: Path, cogs: dict[str, Path], href: Callable[[Path], str]) -> list[dict[str, Any]]:
    """Two items of 2024-07-10 (FOOTPRINT_DATE) whose footprints are parts of the scene's lon/lat box: its
    north-east quarter and its west half (their pixels are the scene's): for searches by polygon."""
    with rasterio.open(scene_tif) as src:
        west, south, east, north = Transformer.from_crs(src.crs, "EPSG:4326", always_xy=True).transform_bounds(
            *src.bounds
        )
    mid_x, mid_y = (west + east) / 2, (south + north) / 2
    parts = {"north-east": (mid_x, mid_y, east, north), "west-half": (west, south, mid_x, north)}
    found = []
    for item_id, (w, s, e, n) in parts.items():
        item = earth_search_item(item_id, scene_tif, cogs, href)
        item["geometry"] = {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}
        item["bbox"] = [w, s, e, n]
        item["properties"]["datetime"] = f"{FOOTPRINT_DATE}T14:45:45Z"
        found.append(item)
    return found


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)


def rustac_binary() -> str | None:
    found = Path(sys.executable).with_name("rustac")
    return str(found) if found.exists() else shutil.which("rustac")


@dataclass
class LoopbackServers:
    """nginx on one port per role, in front of one rustac per catalogue:
    cogs   files under `root` with range requests, and /missing/ 404s
    api    the catalogue `items`
    broken the same catalogue, but /search answers 500
    private the same catalogue, 401 without `Authorization: Bearer TOKEN`"""

    root: Path
    work: Path
    ports: dict[str, int] = field(default_factory=dict)
    processes: list[subprocess.Popen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ports = {r: free_port() for r in ROLES} | {f"{r}-rustac": free_port() for r in ROLES[1:]}
        self.ports["blob"] = free_port()

    def blob_href(self, path: Path) -> str:
        """The file `path` (under `root`) as a Planetary Computer asset href: served by nginx's "blob" server
        (GDAL_HTTP_PROXY=`blob_proxy`) with the SAS signature only. http, not https: nginx cannot be a CONNECT proxy."""
        rel = path.relative_to(self.root).as_posix()
        return f"http://{BLOB_ACCOUNT}.blob.core.windows.net/{BLOB_CONTAINER}/{rel}"

    @property
    def blob_proxy(self) -> str:
        return f"127.0.0.1:{self.ports['blob']}"

    def href(self, path: Path) -> str:
        """The URL nginx serves the file `path` (under `root`) at."""
        return f"{self.url('cogs')}/{path.relative_to(self.root).as_posix()}"

    def url(self, role: str) -> str:
        return f"http://127.0.0.1:{self.ports[role]}"

    @property
    def access_log(self) -> Path:
        return self.work / "access.log"

    def start(self, items: list[dict[str, Any]]) -> LoopbackServers:
        """Serve `items` (their asset hrefs under `url("cogs")`) in each catalogue."""
        self.work.mkdir(parents=True, exist_ok=True)
        (self.work / "items.json").write_text(json.dumps({"type": "FeatureCollection", "features": items}))
        for role in ROLES[1:]:
            self._start_rustac(role)
        self._start_nginx()
        return self

    def _start_rustac(self, role: str) -> None:
        log = self.work / f"rustac-{role}.log"
        command = [rustac_binary() or "rustac", "serve", str(self.work / "items.json"), "--create-collections"]
        command += ["--addr", self.url(role), "--bind", f"127.0.0.1:{self.ports[role + '-rustac']}"]
        with open(log, "wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        self.processes.append(process)
        wait_for(f"http://127.0.0.1:{self.ports[role + '-rustac']}/", process, log)

    def _start_nginx(self) -> None:
        conf = self.work / "nginx.conf"
        conf.write_text(self._nginx_conf())
        log = self.work / "error.log"
        command = [nginx_binary() or "nginx", "-p", str(self.work), "-c", str(conf), "-g", "daemon off;"]
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent
        )
        self.processes.append(process)
        wait_for(self.url("cogs") + "/", process, log)

    def _nginx_conf(self) -> str:
        w = self.work
        user = "user root root;" if os.geteuid() == 0 else ""  # root's workers would run as nobody: no tmp access
        temp = "".join(f"{k}_temp_path {w}/tmp-{k};\n" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))

        def proxy(role: str, extra: str = "") -> str:
            return (
                f"server {{ listen 127.0.0.1:{self.ports[role]}; {extra}\n"
                f"  location / {{ proxy_pass http://127.0.0.1:{self.ports[role + '-rustac']}; }} }}\n"
            )

        return f"""{user}
worker_processes 1;
pid {w}/nginx.pid;
error_log {w}/error.log warn;
events {{ worker_connections 64; }}
http {{
{temp}
types {{ image/tiff tif; application/json json; }}
log_format bytes '$server_port $request_method $uri $status $body_bytes_sent "$http_range" "$http_authorization"';
access_log {w}/access.log bytes;
server {{ listen 127.0.0.1:{self.ports["cogs"]};
  location / {{ root {self.root}; }} }}
{proxy("api")}
{proxy("broken", "location = /search { return 500; }")}
{proxy("private", f'if ($http_authorization != "Bearer {TOKEN}") {{ return 401; }}')}
server {{ listen 127.0.0.1:{self.ports["blob"]}; server_name {BLOB_ACCOUNT}.blob.core.windows.net;
  location /{BLOB_CONTAINER}/ {{ if ($arg_sig != "{SAS_SIG}") {{ return 403; }} alias {self.root}/; }} }}
}}
"""

    def bytes_served(self, prefix: str) -> int:
        """Body bytes nginx sent for requests whose path starts with `prefix`, from its access log."""
        total = 0
        for line in self.access_log.read_text().splitlines():
            port, _, uri, _, sent = line.split(" ")[:5]
            if port in (str(self.ports["cogs"]), str(self.ports["blob"])) and uri.startswith(prefix):
                total += int(sent)
        return total

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes.clear()


class SasTokenServer:
    """Planetary Computer's SAS token endpoint on loopback: GET {url}/{account}/{container} answers the package's
    response shape ({"msft:expiry", "token"}) when the subscription key header is SUBSCRIPTION_KEY, else 401.
    `asked` lists the paths asked for."""

    def __init__(self) -> None:
        import http.server
        import threading

        asked: list[str] = []
        self.asked = asked

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                asked.append(self.path)
                if self.headers.get("Ocp-Apim-Subscription-Key") != SUBSCRIPTION_KEY:
                    self.send_response(401)
                    self.end_headers()
                    return
                token = (
                    f"st=2024-01-01T00%3A00%3A00Z&se=2099-01-01T00%3A00%3A00Z&sp=rl&sv=2024-05-04&sr=c&sig={SAS_SIG}"
                )
                body = json.dumps({"msft:expiry": "2099-01-01T00:00:00Z", "token": token}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/sas/v1/token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class DroppingServer:
    """An HTTP server that answers a COG's header ranges (the first 64 KiB) but drops the connection halfway
    through any later range: a network cut mid-read, after the file was opened."""

    def __init__(self, root: Path) -> None:
        import http.server
        import threading

        folder = root

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                size = (folder / self.path.lstrip("/")).stat().st_size
                self.send_response(200)
                self.send_header("Content-Length", str(size))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()

            def do_GET(self) -> None:
                data = (folder / self.path.lstrip("/")).read_bytes()
                first, last = self.headers.get("Range", f"bytes=0-{len(data) - 1}")[6:].split(",")[0].split("-")
                start, stop = int(first), min(int(last) + 1, len(data))
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{len(data)}")
                self.send_header("Content-Length", str(stop - start))
                self.end_headers()
                cut = stop if stop <= 65536 else start + (stop - start) // 2
                self.wfile.write(data[start:cut])
                self.close_connection = True

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
