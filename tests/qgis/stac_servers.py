"""The QGIS tests' STAC world, started with the core environment's Python (QGIS's has no rasterio): a synthetic
scene as two Earth Search-shaped items a few days apart, with a thumbnail and a true-colour (visual) COG, served
by tests/core/stac_helpers.py's real nginx and rustac on loopback.

    python stac_servers.py FOLDER   prints one JSON line (the URLs, the scene, the token), then serves until its
                                    standard input closes (the test's end), and stops the servers.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import rasterio
from pyproj import Transformer

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "core"))

import stac_helpers as sh  # noqa: E402

from sargasses.synth import cli as synth_cli  # noqa: E402

ITEM, LATER = "S2A_20PPB_20240622_0_L2A", "S2B_20PPB_20240625_0_L2A"
COLLECTION = "sentinel-2-c1-l2a"


def _visual(scene: Path, folder: Path) -> tuple[Path, Path]:
    """A true-colour COG (B04 B03 B02 stretched to bytes) and a small PNG thumbnail of it."""
    with rasterio.open(scene) as src:
        rgb = np.stack([src.read(src.descriptions.index(b) + 1) for b in ("B04", "B03", "B02")]).astype("float32")
        profile = {"crs": src.crs, "transform": src.transform, "width": src.width, "height": src.height}
    rgb = np.clip((rgb - 1000.0) / 1200.0 * 255.0, 0, 255).astype("uint8")  # L2A DN with the -1000 offset
    visual = folder / "TCI.tif"
    with rasterio.open(visual, "w", driver="COG", count=3, dtype="uint8", **profile) as dst:
        dst.write(rgb)
    thumb = folder / "thumb.png"
    small = rgb[:, ::8, ::8]
    with warnings.catch_warnings():  # a thumbnail has no georeferencing, on purpose
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(
            thumb, "w", driver="PNG", count=3, dtype="uint8", width=small.shape[2], height=small.shape[1]
        ) as dst:
            dst.write(small)
    return visual, thumb


def main(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    argv = [str(folder / "scene"), "--count", "1", "--size", "512", "--seed", "2", "--kind", "mixed"]
    assert synth_cli.main([*argv, "--dtype", "uint16", "--overwrite"]) == 0
    scene = folder / "scene" / "scene_0002.tif"
    root = folder / "cogs"
    cogs = sh.write_cog_set(scene, root / ITEM)
    visual, thumb = _visual(scene, root / ITEM)
    servers = sh.LoopbackServers(root=root, work=folder / "servers")
    items = []
    for item_id, date, cloud in ((LATER, "2024-06-25", 64.0), (ITEM, "2024-06-22", 7.5)):  # served newest first
        item = sh.earth_search_item(item_id, scene, cogs, servers.href)
        item["properties"].update({"datetime": f"{date}T14:45:45Z", "eo:cloud_cover": cloud})
        item["assets"]["thumbnail"]["href"] = servers.href(thumb)
        item["assets"]["visual"] = {"href": servers.href(visual), "type": "image/tiff", "roles": ["visual"]}
        items.append(item)
    servers.start([*items, *sh.footprint_items(scene, cogs, servers.href)])
    with rasterio.open(scene) as src:
        bounds, crs = src.bounds, src.crs
    lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform_bounds(*bounds)
    world = {
        "api": servers.url("api"),
        "private": servers.url("private"),
        "token": sh.TOKEN,
        "collection": COLLECTION,
        "items": [ITEM, LATER],
        "scene": str(scene),
        "visual": str(visual),
        "lonlat": list(lonlat),
        "footprint_date": sh.FOOTPRINT_DATE,
        "access_log": str(servers.access_log),
    }
    print(json.dumps(world), flush=True)
    try:
        sys.stdin.read()  # until the test closes it
    finally:
        servers.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
