"""Items' preview images fetched in the background with QGIS's network manager (its proxy settings, its disk
cache) and kept in memory by URL, so a second search over the same days shows them at once."""

from __future__ import annotations

from collections.abc import Callable

from qgis.core import QgsNetworkAccessManager
from qgis.PyQt.QtCore import QObject, Qt, QUrl
from qgis.PyQt.QtGui import QPixmap
from qgis.PyQt.QtNetwork import QNetworkReply, QNetworkRequest

from .log import log_info

SIDE = 64  # pixels: what the scene list shows


class ThumbnailLoader(QObject):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.cache: dict[str, QPixmap] = {}
        self._waiting: dict[str, list[Callable[[QPixmap], None]]] = {}
        self._replies: list[QNetworkReply] = []

    def load(self, url: str, done: Callable[[QPixmap], None]) -> None:
        """Call `done(pixmap)` on the UI thread once `url` is fetched (at once when cached; never on failure)."""
        if url in self.cache:
            done(self.cache[url])
            return
        if url in self._waiting:
            self._waiting[url].append(done)
            return
        self._waiting[url] = [done]
        request = QNetworkRequest(QUrl(url))
        request.setAttribute(
            QNetworkRequest.Attribute.CacheLoadControlAttribute, QNetworkRequest.CacheLoadControl.PreferCache
        )
        reply = QgsNetworkAccessManager.instance().get(request)
        self._replies.append(reply)
        reply.finished.connect(lambda: self._finished(url, reply))

    def _finished(self, url: str, reply: QNetworkReply) -> None:
        self._replies.remove(reply)
        waiting = self._waiting.pop(url, [])
        pixmap = QPixmap()
        if reply.error() == QNetworkReply.NetworkError.NoError and pixmap.loadFromData(bytes(reply.readAll())):
            pixmap = pixmap.scaled(
                SIDE, SIDE, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
            self.cache[url] = pixmap
            for done in waiting:
                done(pixmap)
        else:  # a missing preview leaves the row without an image; the log says why (no query: it may be signed)
            status = reply.attribute(QNetworkRequest.Attribute.HttpStatusCodeAttribute)
            log_info(f"no thumbnail from {url.split('?')[0]} (HTTP status {status}, network error {reply.error()})")
        reply.deleteLater()
