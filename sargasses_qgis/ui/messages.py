"""Messages in QGIS's message bar: one line that fits, the whole text behind its "more" button.

A message bar item shows about a line and a half; a longer text was cut mid-sentence.
"""

from __future__ import annotations

import contextlib

from .text import fitting

TITLE = "Sargasses"
FITS = 160  # characters a message bar line shows at 1366 px


def push(iface, text: str, level, duration: int, short: str = "") -> None:
    """`text` in the bar, or `short` (default: what of it fits a line) with `text` behind "more"."""
    if iface is None:
        return
    short = short or fitting(text, FITS)
    bar = iface.messageBar()
    if short == text.strip():
        bar.pushMessage(TITLE, text, level, duration)
    else:
        bar.pushMessage(TITLE, short, text, level, duration)


def push_with_button(iface, text: str, button_text: str, on_click, level):
    """A message with one action button, kept until closed; the item (pop it with `pop` once it is stale)."""
    if iface is None:
        return None
    from qgis.PyQt.QtWidgets import QPushButton

    bar = iface.messageBar()
    widget = bar.createMessage(TITLE, fitting(text, FITS))
    widget.setToolTip(text)
    button = QPushButton(button_text, widget)
    button.clicked.connect(on_click)
    widget.layout().addWidget(button)
    bar.pushWidget(widget, level, 0)
    return widget


def pop(iface, widget) -> None:
    """Take a message off the bar (it may have been closed already)."""
    if iface is None or widget is None:
        return
    with contextlib.suppress(RuntimeError, TypeError):
        iface.messageBar().popWidget(widget)
