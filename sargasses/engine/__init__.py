"""The detection engine: a long-lived process that serves the QGIS plugin over JSON lines."""
