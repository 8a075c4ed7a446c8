"""The sinks of a detection run: each takes the masked strips (detected.DetectedStrip) top to bottom, then writes
what it made once the rafts are known. A new output (a grid accumulator, say) is one more class with these three
methods, added to the list in run.py; no other sink changes.

    add(strip)      one strip, in order
    close(rafts)    every strip seen, the rafts polygonized: write the output (into the output set's staging folder)
    discard()       always called at the end, after close or after a failure: drop what was not closed, free files
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sargasses.detection.detected import DetectedStrip
    from sargasses.detection.vectorize import Raft


class Sink(Protocol):
    def add(self, strip: DetectedStrip) -> None: ...

    def close(self, rafts: list[Raft]) -> None: ...

    def discard(self) -> None: ...
