"""User-facing errors: one class, so the CLI and the QGIS plugin can show the message as is."""


class SargassesError(Exception):
    """Something the user can fix: the message says what is wrong and what to do."""


class DetectionCancelled(SargassesError):
    """The user asked to stop; nothing half-written is left behind."""
