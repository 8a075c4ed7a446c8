"""Ctrl-C (SIGINT) and `kill` (SIGTERM) in the commands: both stop a run the same way, and nothing half-written
is left (exit 130 / 143, as a shell reports a process killed by them).

Two ways, one per kind of code: `terminate_as_interrupt()` makes SIGTERM raise like Ctrl-C, for code that cleans up
on KeyboardInterrupt (detection, scoring); `signals_deferred()` only records the signals while a block runs, for a
block that must not be cut (renaming outputs into place) or whose library catches KeyboardInterrupt itself
(Lightning's `fit` turns it into exit 1, and SIGTERM into exit 0), and checks at its own safe points.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that the run cleans up the same way (exit 143)."""


def raise_for(caught: list[int]) -> None:
    """Raise what the first recorded signal would have raised (Terminated for SIGTERM, KeyboardInterrupt for
    SIGINT); nothing when none came."""
    if caught:
        raise Terminated() if caught[0] == signal.SIGTERM else KeyboardInterrupt()


def exit_status(exc: KeyboardInterrupt) -> int:
    """What a shell reports for a process stopped by the signal: 128 + its number."""
    return 143 if isinstance(exc, Terminated) else 130


def terminate_as_interrupt() -> Callable[[], None]:
    """SIGTERM (a `kill`, a job scheduler) stops the run as Ctrl-C does: nothing new is left. Returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def terminate(number: int, frame: Any) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    return lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


@contextlib.contextmanager
def signals_deferred(event: threading.Event | None = None) -> Iterator[list[int]]:
    """SIGINT and SIGTERM are recorded (and `event` set) while the block runs, not raised (main thread only:
    elsewhere Python runs no handler anyway)."""
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return

    def record(number: int, frame: Any) -> None:
        caught.append(number)
        if event is not None:
            event.set()

    # a signal the process was told to ignore (SIGINT in a shell's background job) stays ignored
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    previous = {s: handler for s, handler in previous.items() if handler != signal.SIG_IGN}
    for s in previous:
        signal.signal(s, record)
    try:
        yield caught
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
