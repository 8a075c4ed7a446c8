"""The probability GeoTIFF of a run, written strip by strip, and checked to be whole before it counts."""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sargasses.errors import SargassesError

BLOCK = 256  # block size of the probability GeoTIFF


def _mute_libtiff() -> Callable[[], None]:
    """Silence libtiff's own error printer while the probabilities are written; returns the undo.

    GDAL reports a failed block write (a full disk) through libtiff's default handler, which prints
    `_tiffWriteProc: No space left on device.` on stderr and raises nothing; ProbabilityWriter.close finds the
    failure itself and says it in one line, so the raw lines would only be noise. Counted: the probability and
    cover rasters are written together, and the first one closed must not unmute the other (it once did). Best
    effort: rasterio's wheels ship libtiff beside GDAL; elsewhere nothing is changed.
    """
    libtiff = _libtiff()
    if libtiff is None:
        return lambda: None
    with _MUTE_LOCK:
        if _MUTED["count"] == 0:
            _MUTED["previous"] = libtiff.TIFFSetErrorHandler(None)
        _MUTED["count"] += 1
    done = []

    def restore() -> None:
        with _MUTE_LOCK:
            if done:
                return
            done.append(True)
            _MUTED["count"] -= 1
            if _MUTED["count"] == 0:
                libtiff.TIFFSetErrorHandler(_MUTED["previous"])

    return restore


_MUTE_LOCK = threading.Lock()
_MUTED: dict[str, Any] = {"count": 0, "previous": None}


@functools.cache
def _libtiff() -> Any:
    """rasterio's own libtiff (ctypes), or None where it cannot be found."""
    import ctypes
    import glob

    import rasterio

    libs = glob.glob(os.path.join(os.path.dirname(os.path.dirname(rasterio.__file__)), "rasterio.libs", "libtiff*"))
    try:
        libtiff = ctypes.CDLL(libs[0]) if libs else None
        if libtiff is not None:
            libtiff.TIFFSetErrorHandler.restype = ctypes.c_void_p
            libtiff.TIFFSetErrorHandler.argtypes = [ctypes.c_void_p]
        return libtiff
    except (OSError, AttributeError):
        return None


class ProbabilityRaster:
    """A tiled, compressed float32 GeoTIFF written strip by strip.

    A strip fills part of a row of blocks; GDAL holds those blocks in its block cache (capped, GDAL_CACHE_MB) until
    they are complete, so no buffer here grows with the scene's width.

    GDAL does not raise when a block cannot be written (a full disk only prints `_tiffWriteProc: No space left on
    device` and closes "successfully"), so `close` checks the file: flushed to the disk, every block present inside
    the file. Errors are one line naming `final`, the path the user asked for."""

    def __init__(
        self, path: Path, final: Path, width: int, height: int, crs: Any, transform: Any, tags: dict[str, str]
    ) -> None:
        import rasterio

        self.path, self.final = Path(path), Path(final)
        self._restore_libtiff = _mute_libtiff()
        try:
            self.dataset = rasterio.open(
                path,
                "w",
                driver="GTiff",
                width=width,
                height=height,
                count=1,
                dtype="float32",
                crs=crs,
                transform=transform,
                nodata=float("nan"),
                tiled=True,
                blockxsize=BLOCK,
                blockysize=BLOCK,
                compress="deflate",
                predictor=3,
                zlevel=1,
                bigtiff="IF_SAFER",
            )
            self.dataset.update_tags(**tags)
            self.dataset.set_band_description(1, tags.get("SCORE", "probability"))
        except Exception as exc:  # rasterio's errors carry GDAL's text
            self._restore_libtiff()
            raise self._error(exc) from None
        self.width, self.height = width, height
        self.row = 0

    def _error(self, exc: BaseException | str) -> SargassesError:
        """One line naming the user's path; a full disk is named so even when GDAL only said a block is missing."""
        from sargasses.atomic import write_error

        return write_error(self.final, exc)

    def add(self, rows: np.ndarray) -> None:
        from rasterio.windows import Window

        try:
            self.dataset.write(rows, 1, window=Window(0, self.row, self.width, rows.shape[0]))
        except Exception as exc:
            raise self._error(exc) from None
        self.row += rows.shape[0]

    def close(self) -> None:
        """Close, flush and check the file: an error here is a write that failed, however GDAL reported it."""
        from sargasses.atomic import fsync_file

        try:
            self.dataset.close()
            fsync_file(self.path)
            self._check_blocks()
        except Exception as exc:
            raise self._error(exc) from None
        finally:
            self._restore_libtiff()

    def discard(self) -> None:
        """Close after an error, whatever state the file is in (it is in the staging folder, removed with it)."""
        with contextlib.suppress(Exception):
            self.dataset.close()
        self._restore_libtiff()

    def _check_blocks(self) -> None:
        """Every block is in the file: a block GDAL failed to write has no offset, or one past the end."""
        import errno

        import rasterio

        size = self.path.stat().st_size
        with rasterio.open(self.path) as check:
            if (check.width, check.height) != (self.width, self.height):
                raise OSError(errno.EIO, f"the GeoTIFF header was not written whole ({size} bytes)")
            for y in range(-(-self.height // BLOCK)):
                for x in range(-(-self.width // BLOCK)):
                    offset = check.get_tag_item(f"BLOCK_OFFSET_{x}_{y}", "TIFF", bidx=1)
                    length = check.get_tag_item(f"BLOCK_SIZE_{x}_{y}", "TIFF", bidx=1)
                    if not offset or not length or int(offset) + int(length) > size or int(length) == 0:
                        raise RuntimeError(f"block {x},{y} of the GeoTIFF was not written")
            self._decode_every_block(check)

    def _decode_every_block(self, check: Any) -> None:
        """Read every block back: on a full disk a block can be cut short inside the file (its offset and size
        fit) and fail only to decode (a ZIP checksum), which no look at the tags finds."""
        from rasterio.windows import Window

        for row in range(0, self.height, BLOCK):
            try:
                check.read(1, window=Window(0, row, self.width, min(BLOCK, self.height - row)))
            except Exception as exc:
                # write_error names a full disk when it is one
                raise RuntimeError(f"rows {row}+ of the GeoTIFF do not decode ({exc})") from None
