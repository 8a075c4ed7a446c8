"""User-facing errors: one class, so the CLI and the QGIS plugin can show the message as is."""


class SargassesError(Exception):
    """Something the user can fix: the message says what is wrong and what to do."""


class DetectionCancelled(SargassesError):
    """The user asked to stop; nothing half-written is left behind."""


def warnings_in_one_line() -> None:
    """A command's warnings reach its user as `sargasses: warning: ...`, each text once: Python's own form adds the
    source file and line, and a warning raised in two places printed twice (issue 21). Deprecation notes of the
    libraries are for their programmers, not for a user of the command: they are not shown."""
    import sys
    import warnings

    shown: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        text = str(message).strip().splitlines()[0] if str(message).strip() else category.__name__
        if text in shown:
            return
        shown.add(text)
        stream = file or sys.stderr
        if stream is not None:
            print(f"sargasses: warning: {text}", file=stream)

    warnings.showwarning = show
    for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
        warnings.filterwarnings("ignore", category=category)
