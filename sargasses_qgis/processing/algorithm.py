"""What every sargasses Processing algorithm shares: its name and help as class attributes, the plugin's icon, a
fresh instance of its own class, optional parameters read as "empty: the default", progress into the feedback,
and the detection engine's Python (or the reason there is none, in plain words)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qgis.core import (
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingParameterDefinition,
)
from qgis.PyQt.QtGui import QIcon

from ..engine_finder import find_engine
from ..paths import icon_path


class SargassesAlgorithm(QgsProcessingAlgorithm):
    """A sargasses algorithm: a subclass sets NAME, DISPLAY_NAME and HELP (plain text: the dialog shows it as a
    paragraph, qgis_process prints it as it is) and its parameters and processing."""

    NAME = ""
    DISPLAY_NAME = ""
    HELP = ""

    def name(self) -> str:
        return self.NAME

    def displayName(self) -> str:
        return self.DISPLAY_NAME

    def shortHelpString(self) -> str:
        return self.HELP

    def icon(self) -> QIcon:
        return QIcon(icon_path())

    def createInstance(self) -> SargassesAlgorithm:
        return type(self)()

    def add_advanced_parameter(self, parameter: QgsProcessingParameterDefinition) -> None:
        """A parameter most runs leave as it is: under "Advanced parameters" in the dialog."""
        parameter.setFlags(parameter.flags() | parameter.FlagAdvanced)
        self.addParameter(parameter)

    def optional_double(self, parameters: dict[str, Any], name: str, context: QgsProcessingContext) -> float | None:
        """The number given, or None when the parameter is left empty (the engine's default)."""
        if parameters.get(name) in (None, ""):
            return None
        return self.parameterAsDouble(parameters, name, context)


def progress_to(feedback: QgsProcessingFeedback) -> Callable[[float, str], None]:
    """A run's progress as Processing shows it: the bar, and each new message once in the log."""
    last = [""]

    def progress(fraction: float, message: str) -> None:
        feedback.setProgress(100.0 * fraction)
        if message != last[0]:
            last[0] = message
            feedback.pushInfo(message)

    return progress


def engine_python() -> str:
    """The engine's Python, or a QgsProcessingException that says why there is none and what to do."""
    lookup = find_engine()
    if lookup.engine is None:
        raise QgsProcessingException(lookup.explain())
    return lookup.engine.python
