"""How the long sub-commands (detect, finetune, monitor, search) end: one line a user reads and an exit status a
script tests, the same for all of them.

- a SargassesError: `sargasses: error: MESSAGE` (what is wrong and what to do), exit 1; a cancel, exit 130;
- out of memory, or a write that fails (disk full, permissions changed during the run): one line, exit 1;
- Ctrl-C exits 130 and `kill` (SIGTERM) 143, as a shell reports a process stopped by them, with one line saying
  what is left (sargasses/signals.py makes SIGTERM stop the work as Ctrl-C does);
- a reader that stops early (`| head`) or no stdout at all (`>&-`) is no error: the results are written already.
A traceback is for a bug, never for one of these.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sargasses.errors import DetectionCancelled, SargassesError, warnings_in_one_line
from sargasses.signals import exit_status, terminate_as_interrupt

T = TypeVar("T")


@dataclass(frozen=True)
class Endings:
    """What a command says when it stops early (each message follows `sargasses: `)."""

    interrupted: Callable[[KeyboardInterrupt], str]  # e.g. "interrupted; no output was written"
    out_of_memory: str = "out of memory; process a smaller part, or use --device cpu"
    writing: str | os.PathLike | None = None  # the output an OSError is reported on (when it names no file)
    interrupted_after: str = "interrupted; the results were complete and are in place"  # while they are printed


def run_command(
    work: Callable[[], T],
    show: Callable[[T], str | None],
    endings: Endings,
    stop_progress: Callable[[], None] = lambda: None,
) -> int:
    """Run `work`, then print `show(result)` on stdout; the exit status. `stop_progress` closes a progress bar
    before any message, so that the message stands on its own line."""
    warnings_in_one_line()
    restore_term = terminate_as_interrupt()
    try:
        result = work()
    except DetectionCancelled as exc:
        return _stopped(stop_progress, f"cancelled: {exc}", 130)
    except SargassesError as exc:
        return _stopped(stop_progress, f"error: {exc}", 1)
    except MemoryError:
        return _stopped(stop_progress, f"error: {endings.out_of_memory}", 1)
    except KeyboardInterrupt as exc:
        return _stopped(stop_progress, endings.interrupted(exc), exit_status(exc))
    except OSError as exc:
        if endings.writing is None:
            raise
        from sargasses.atomic import write_error

        return _stopped(stop_progress, f"error: {write_error(exc.filename or endings.writing, exc)}", 1)
    finally:
        restore_term()
    stop_progress()
    try:
        text = show(result)
        if text is not None:
            print_out(text)
    except KeyboardInterrupt:
        print(f"sargasses: {endings.interrupted_after}", file=sys.stderr)
        return 130
    return 0


def print_out(text: str) -> None:
    """Print a line on stdout; when its reader has gone (`| head`) or there is no stdout (`>&-`), print nothing
    more and go on: what the command writes to files matters, not who reads its report."""
    if sys.stdout is None:  # Python sets it to None when file descriptor 1 is closed
        return
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # Python would report the pipe again when it flushes stdout at exit: point stdout at nothing instead
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _stopped(stop_progress: Callable[[], None], message: str, status: int) -> int:
    stop_progress()
    print(f"sargasses: {message}", file=sys.stderr)
    return status
