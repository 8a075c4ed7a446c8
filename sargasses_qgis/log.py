"""The plugin's log: a "Sargasses" tab in QGIS's log panel. Safe to call from any thread."""

from __future__ import annotations

from qgis.core import Qgis, QgsMessageLog

TAG = "Sargasses"


def log_info(message: str) -> None:
    QgsMessageLog.logMessage(message, TAG, Qgis.MessageLevel.Info)


def log_warning(message: str) -> None:
    QgsMessageLog.logMessage(message, TAG, Qgis.MessageLevel.Warning)


def log_error(message: str) -> None:
    QgsMessageLog.logMessage(message, TAG, Qgis.MessageLevel.Critical)
