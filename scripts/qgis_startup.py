"""Run inside QGIS by `make qgis` (qgis --code): show the synthetic scene in true colour and open the Sargasses dock."""

import os

from qgis.PyQt.QtCore import QTimer
from qgis.utils import iface, plugins


def start() -> None:
    from sargasses_qgis.scene_style import show_true_colour

    scene = os.environ.get("SARGASSES_DEMO_SCENE")
    if scene:
        layer = iface.addRasterLayer(scene, "Synthetic Sentinel-2 scene")
        if layer is not None and layer.isValid():
            show_true_colour(layer)
            iface.mapCanvas().setExtent(layer.extent())
    if "sargasses_qgis" in plugins:
        plugins["sargasses_qgis"].show_dock()


QTimer.singleShot(500, start)
