"""The plugin's log: a "Sargasses" tab in QGIS's log panel. Safe to call from any thread."""

from __future__ import annotations

from qgis.core import Qgis, QgsMessageLog

TAG = "Sargasses"


def log_info(message: str) -> None:
    QgsMessageLog.logMessage(message, TAG, Qgis.Info)


def log_warning(message: str) -> None:
    QgsMessageLog.logMessage(message, TAG, Qgis.Warning)


def log_error(message: str) -> None:
    QgsMessageLog.logMessage(message, TAG, Qgis.Critical)
