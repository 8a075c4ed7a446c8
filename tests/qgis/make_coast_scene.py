"""Write a scene with a coast for the QGIS tests of rafts by the shore (run with the core environment's Python).

`make_coast_scene.py FOLDER`: the clean 512 px synthetic scene of seed 7 (its rafts on open sea, more than 2 km
from land), land (vegetation) over its last LAND_COLUMNS columns, and two dense rafts planted by that land: one
against it (on the shoreline) and one 30 px (600 m) off it (nearshore). Prints one JSON line: the scene's path and
the columns of the land and of the two planted rafts.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sargasses.synth import make_scene, write_scene
from sargasses.synth.spectra import SPECTRA

SIZE, LAND_COLUMNS = 512, 60
COAST = SIZE - LAND_COLUMNS  # the first column of land
PLANTED = {"shoreline": (COAST - 4, COAST), "nearshore": (COAST - 34, COAST - 30)}  # columns [start, end)
ROWS = slice(300, 330)


def main(folder: str) -> None:
    scene = make_scene(7, SIZE, "clean")
    scene.reflectance[:, :, COAST:] = SPECTRA["vegetation"][:, None, None]
    scene.label[:, COAST:] = 0
    for start, end in PLANTED.values():
        scene.reflectance[:, ROWS, start:end] = SPECTRA["dense_sargassum"][:, None, None]
        scene.label[ROWS, start:end] = 1
    paths = write_scene(scene, folder, overwrite=True)
    print(json.dumps({"tif": str(paths["image"]), "coast_column": COAST, "planted": PLANTED}))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(Path.cwd()))
