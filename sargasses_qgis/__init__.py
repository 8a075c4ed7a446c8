"""Sargasses QGIS plugin: find Sargassum rafts on imagery, with the detection engine in its own process.

QGIS imports this package and calls `classFactory(iface)`; qgis_process calls it with iface=None and then only
`initProcessing()`. Nothing heavy is imported here, so QGIS starts as fast with the plugin as without it.
"""


def classFactory(iface):
    from .plugin import SargassesPlugin

    return SargassesPlugin(iface)
