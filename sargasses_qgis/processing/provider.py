"""Processing provider `sargasses`: the toolbox, batch mode, the model builder and qgis_process see it."""

from __future__ import annotations

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from ..paths import icon_path
from .detect_algorithm import DetectAlgorithm
from .monitor_algorithm import MonitorAlgorithm


class SargassesProvider(QgsProcessingProvider):
    def id(self) -> str:
        return "sargasses"

    def name(self) -> str:
        return "Sargasses"

    def longName(self) -> str:
        return "Sargasses: Sargassum raft detection"

    def icon(self) -> QIcon:
        return QIcon(icon_path())

    def loadAlgorithms(self) -> None:
        self.addAlgorithm(DetectAlgorithm())
        self.addAlgorithm(MonitorAlgorithm())
