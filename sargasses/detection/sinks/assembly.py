"""The sinks one run writes to, made from what the options ask for (outputs/output_checks.check_outputs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sargasses.detection.area import DetectionArea
from sargasses.detection.method import Method
from sargasses.detection.options import DetectOptions
from sargasses.detection.sinks import Sink
from sargasses.detection.sinks.cover import CoverSink
from sargasses.detection.sinks.probabilities import ProbabilitySink
from sargasses.detection.sinks.quicklook import QuicklookSink
from sargasses.detection.sinks.rafts import RaftSink, raft_attributes
from sargasses.detection.sinks.tally import PixelTally
from sargasses.detection.stage_clock import StageClock


@dataclass
class RunSinks:
    """The run's sinks; `all` in the order they take each strip (the rafts first, the tally last)."""

    rafts: RaftSink
    tally: PixelTally
    probabilities: ProbabilitySink | None = None
    cover: CoverSink | None = None
    quicklook: QuicklookSink | None = None
    all: list[Sink] = field(default_factory=list)


def open_sinks(
    options: DetectOptions,
    outputs: dict[str, Path],
    outset: Any,
    scene: Any,
    method: Method,
    area: DetectionArea,
    clock: StageClock,
) -> RunSinks:
    """Every sink the outputs ask for; each writes into the output set's staging folder (outset.stage)."""

    def place(name: str) -> tuple[Path, Path]:
        return outset.stage(outputs[name]), outputs[name]

    sinks = RunSinks(
        RaftSink(options, area, scene.crs, raft_attributes(scene, method), *place("output"), clock), PixelTally()
    )
    sinks.all = [sinks.rafts]
    try:
        if "probabilities" in outputs:
            sinks.probabilities = ProbabilitySink(method, area, scene.crs, *place("probabilities"), clock)
            sinks.all.append(sinks.probabilities)
        if "coverage" in outputs:
            sinks.cover = CoverSink(scene, method, area, *place("coverage"), clock)
            sinks.all.append(sinks.cover)
        if options.quicklook:
            sinks.quicklook = QuicklookSink(scene, area, *place("quicklook"), clock)
            sinks.all.append(sinks.quicklook)
    except BaseException:
        discard_all(sinks.all)
        raise
    sinks.all.append(sinks.tally)
    return sinks


def discard_all(sinks: list[Sink]) -> None:
    """Every sink's discard (the first error raised once all have been called)."""
    errors = []
    for sink in sinks:
        try:
            sink.discard()
        except BaseException as exc:  # each sink gets its call
            errors.append(exc)
    if errors:
        raise errors[0]
