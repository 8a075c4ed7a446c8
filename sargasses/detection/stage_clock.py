"""Seconds spent in the stages after the tiled loop (polygons, cover, writing), for the summary's timing."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator


class StageClock:
    """Sums the time spent inside `with clock("write_s"):` blocks, per stage."""

    def __init__(self) -> None:
        self.seconds = {"polygons_s": 0.0, "coverage_s": 0.0, "write_s": 0.0}

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - started
