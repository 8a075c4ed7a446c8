"""Plain text shown as Qt rich text in the dock's labels: escaped, and breakable where a narrow dock needs it."""

from __future__ import annotations

import re

_FOLDERS = re.compile(r"(?<![\w.])(?:[A-Za-z]:)?[\\/](?:[^\s\\/:;,'\"]+[\\/])+(?=[^\s\\/])")


def html(text: str) -> str:
    """Escaped, line breaks kept."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\n", "<br>")


def html_wrapping_paths(text: str) -> str:
    """Escaped, with line breaks allowed after path separators, so long paths wrap in a narrow dock."""
    return html(text).replace("/", "/\u200b")


def error_html(text: str) -> str:
    """A message in the error colour."""
    return f"<span style='color:#b00020'>{html_wrapping_paths(text)}</span>"


def capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def fitting(text: str, limit: int = 160) -> str:
    """What fits a message bar's line: the first line, cut after its last whole sentence (else word) in `limit`."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    if len(line) <= limit:
        return line
    head = line[:limit]
    end = head.rfind(". ")
    if end > limit // 3:
        return head[: end + 1]
    return head[: head.rfind(" ")].rstrip(",;:") + "…" if " " in head else head[: limit - 1] + "…"


def without_folders(text: str) -> str:
    """Absolute paths cut to their file names: in a one-line message the folders of a path leave no room for
    what is wrong (the whole text stays behind "more" and in the log)."""
    return _FOLDERS.sub("", text)
