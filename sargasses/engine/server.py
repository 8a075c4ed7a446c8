"""The detection engine: a long-lived process that serves detections to the QGIS plugin over JSON lines.

Why a separate process: QGIS's Python cannot hold torch, numpy 2 or rasterio safely, and a crash or an
out-of-memory in the model must never take QGIS down. Why long-lived: the model (and torch) stay loaded
between runs, so the second run starts at once.

Requests come one JSON object per line on stdin; events go one JSON object per line on stdout, which carries
nothing else (every library print goes to stderr, which the plugin shows in its log). See
docs/engine_protocol.md for the messages. Detections run one at a time in a worker thread, so that the
main thread keeps reading stdin and a `cancel` is seen at once.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from sargasses.engine.requests import RUNS, Request, RequestError, parse_request, read_line
from sargasses.errors import DetectionCancelled, SargassesError
from sargasses.option_words import in_words_of

if TYPE_CHECKING:
    from sargasses.detection.options import DetectOptions
    from sargasses.training.finetune import FinetuneOptions

PROTOCOL_VERSION = 1
# At most this many progress events a second: the plugin redraws a progress bar, nothing more.
PROGRESS_EVENTS_PER_S = 10.0


def engine_version() -> str:
    """The installed package's version, or the source tree's."""
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("sargasses")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+source"


class ProtocolWriter:
    """Writes events as JSON lines; one lock so that lines from several threads never interleave."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def send(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, default=_json_default, allow_nan=False)
        with self._lock:
            try:
                self._stream.write(line + "\n")
                self._stream.flush()
            except (BrokenPipeError, ValueError):  # the plugin has gone; stdin's EOF ends us soon
                pass


def _json_default(value: Any) -> Any:
    """Summaries may hold paths, numpy scalars, tuples: send them as plain JSON."""
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def _finite(value: Any) -> Any:
    """NaN/inf are not JSON: send null instead (allow_nan=False would refuse the whole line)."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


@dataclass
class Job:
    """One detect or finetune request, queued or running."""

    id: Any
    options: DetectOptions | FinetuneOptions  # built and checked by parse_request when the request came
    cancel: threading.Event = field(default_factory=threading.Event)
    cmd: str = "detect"
    token: str | None = field(default=None, repr=False)  # a STAC catalogue's bearer token for this run only
    asker: str | None = None  # who shows its messages: option_words.PLACES, or None for the CLI's words


def describe_device(requested: str = "auto") -> dict[str, Any]:
    """The device a run would use, for people: its kind and name (the GPU's name, or the CPU's threads), and
    torch's version where the engine has torch (the CPU engine has none)."""
    from sargasses.detection.devices import choose_device

    choice = choose_device(requested)
    info: dict[str, Any] = {"requested": requested or "auto", "type": choice.kind, "name": choice.name}
    torch = sys.modules.get("torch")  # choose_device imported it where a GPU may be
    if torch is not None:
        info["torch"] = torch.__version__
    if choice.kind.startswith("cuda"):
        index = torch.device(choice.torch_device).index or 0
        info["memory_gb"] = round(torch.cuda.get_device_properties(index).total_memory / 2**30, 1)
    return info


def model_card_info(model: str | None) -> dict[str, Any]:
    """The card of `model` (default: the bundled model) as a plain dict, with the file it came from."""
    from sargasses.model_file import default_model_path, read_card

    path = model or str(default_model_path())
    return {"path": str(path), "card": read_card(path).to_dict()}


class Engine:
    """Reads requests, runs detections in a worker thread, answers with events."""

    def __init__(self, out: ProtocolWriter) -> None:
        self.out = out
        self.jobs: queue.Queue[Job | None] = queue.Queue()
        self.pending: dict[Any, Job] = {}  # queued or running detect jobs, by request id
        self.lock = threading.Lock()
        self.runs = 0  # detections finished in this process: the plugin shows that the engine is warm
        self.worker = threading.Thread(target=self._work, name="sargasses-detect", daemon=True)
        self.worker.start()

    # ------------------------------------------------------------------ requests
    def serve(self, lines: IO[bytes]) -> int:
        """Answer requests until `shutdown` or the end of input (the plugin went away)."""
        self.out.send(
            {
                "event": "ready",
                "protocol": PROTOCOL_VERSION,
                "version": engine_version(),
                "pid": os.getpid(),
                "python": sys.version.split()[0],
            }
        )
        while True:
            line = read_line(lines)
            if line is None:
                break
            line = line.strip()
            if not line:
                continue
            if not self.handle(line):
                break
        self.stop()
        return 0

    def handle(self, line: bytes) -> bool:
        """Answer one request line (an `error` event for anything malformed); False when the engine should stop.

        Nothing a line holds may end the engine: whatever escapes the checks is answered as an internal error.
        """
        try:
            return self._dispatch(parse_request(line))
        except RequestError as exc:
            self.out.send({"id": exc.rid, "event": "error", "message": str(exc)})
        except Exception as exc:
            self._error(None, exc)
        return True

    def _dispatch(self, request: Request) -> bool:
        rid, cmd = request.id, request.cmd
        if cmd in RUNS:
            fields = request.fields
            job = Job(rid, fields["options"], cmd=cmd, token=fields.get("token"), asker=fields.get("asker"))
            with self.lock:
                if rid in self.pending:
                    raise RequestError(
                        f"the id {rid!r} is already used by an open {self.pending[rid].cmd} request", rid
                    )
                self.pending[rid] = job
            self.jobs.put(job)
        elif cmd == "cancel":
            self._cancel(rid, request.fields.get("target"))
        elif cmd == "info":
            threading.Thread(target=self._info, args=(rid, request.fields), name="sargasses-info", daemon=True).start()
        elif cmd == "search":
            threading.Thread(
                target=self._search, args=(rid, request.fields), name="sargasses-search", daemon=True
            ).start()
        else:  # shutdown
            self.out.send({"id": rid, "event": "result", "result": {"shutdown": True}})
            return False
        return True

    def _cancel(self, rid: Any, target: Any) -> None:
        with self.lock:
            jobs = list(self.pending.values()) if target is None else [self.pending.get(target)]
        found = [job for job in jobs if job is not None]
        for job in found:
            job.cancel.set()
        self.out.send({"id": rid, "event": "result", "result": {"cancelling": [job.id for job in found]}})

    def _info(self, rid: Any, request: dict[str, Any]) -> None:
        try:
            result: dict[str, Any] = {
                "version": engine_version(),
                "protocol": PROTOCOL_VERSION,
                "python": sys.version.split()[0],
                "executable": sys.executable,
                "pid": os.getpid(),
                "runs": self.runs,
                "device": describe_device(str(request.get("device") or "auto")),
            }
            from sargasses.detection.baseline import DEFAULT_THRESHOLDS

            method = request.get("method") or "model"
            if method == "model":
                try:
                    result["model"] = model_card_info(request.get("model"))
                    result["threshold"] = result["model"]["card"]["threshold"]
                except SargassesError as exc:
                    result["model_error"] = in_words_of(str(exc), request.get("asker"))  # the device still shows
            elif method in DEFAULT_THRESHOLDS:
                result["threshold"] = DEFAULT_THRESHOLDS[method]
            self.out.send({"id": rid, "event": "result", "result": _finite(result)})
        except Exception as exc:
            self._error(rid, exc)

    def _search(self, rid: Any, fields: dict[str, Any]) -> None:
        """STAC items for the plugin's scene list (search_request.py), beside any detection that runs."""
        from sargasses.engine.search_request import search_result

        try:
            self.out.send({"id": rid, "event": "result", "result": _finite(search_result(fields))})
        except Exception as exc:
            self._error(rid, exc)

    # ------------------------------------------------------------------ detections
    def _work(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            try:
                if job.cancel.is_set():
                    raise DetectionCancelled("the run was cancelled before it started")
                if job.cmd == "finetune":
                    summary = self._finetune(job)
                else:
                    summary = self._detect(job)
                    self.runs += 1
                self.out.send({"id": job.id, "event": "result", "summary": _finite(summary)})
            except DetectionCancelled as exc:
                self.out.send({"id": job.id, "event": "cancelled", "message": str(exc) or "cancelled"})
            except Exception as exc:
                self._error(job.id, exc, job.asker)
            finally:
                with self.lock:
                    self.pending.pop(job.id, None)

    def _detect(self, job: Job) -> dict[str, Any]:
        from sargasses.detection.run import run_detection
        from sargasses.reading.stac_http import request_token

        started = time.perf_counter()
        with request_token(job.token):
            summary = dict(run_detection(job.options, progress=self._progress(job), cancel=job.cancel) or {})
        if job.cancel.is_set():
            raise DetectionCancelled("the run was cancelled")
        summary.setdefault("engine_seconds", round(time.perf_counter() - started, 3))
        summary["engine_run"] = self.runs + 1  # 1 on the first run of this process: the plugin shows warm runs
        summary["engine_pid"] = os.getpid()
        if summary.get("warnings"):
            summary["warnings"] = [in_words_of(str(w), job.asker) for w in summary["warnings"]]
        return summary

    def _progress(self, job: Job) -> Any:
        """A run's progress callback: events at most PROGRESS_EVENTS_PER_S, and the cancel checked at each."""
        last = [0.0]

        def progress(fraction: float, message: str = "") -> None:
            now = time.monotonic()
            if fraction < 1.0 and now - last[0] < 1.0 / PROGRESS_EVENTS_PER_S:
                return
            last[0] = now
            event = {"id": job.id, "event": "progress", "fraction": round(float(fraction), 4), "message": message}
            self.out.send(event)
            if job.cancel.is_set():  # a run that only checks between steps still stops at the next progress
                raise DetectionCancelled("the run was cancelled")

        return progress

    def _finetune(self, job: Job) -> dict[str, Any]:
        """A fine-tune (docs/engine_protocol.md). It needs PyTorch and Lightning, which a light engine lacks."""
        import importlib.util

        if importlib.util.find_spec("torch") is None or importlib.util.find_spec("lightning") is None:
            raise SargassesError(
                "fine-tuning needs PyTorch and Lightning, which this detection engine (the CPU engine) lacks: install the "
                "full engine, with PyTorch, or run `sargasses finetune` where torch is installed"
            )
        from sargasses.training.finetune import run_finetune

        return run_finetune(job.options, progress=self._progress(job), cancel=job.cancel)

    def _error(self, rid: Any, exc: BaseException, asker: str | None = None) -> None:
        if isinstance(exc, SargassesError):
            self.out.send({"id": rid, "event": "error", "message": in_words_of(str(exc), asker)})
            return
        trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        print(trace, file=sys.stderr, flush=True)
        self.out.send(
            {
                "id": rid,
                "event": "error",
                "message": f"internal error in the detection engine: {type(exc).__name__}: {exc}. "
                "The traceback is in the Sargasses log; please report it.",
                "traceback": trace,
            }
        )

    def stop(self) -> None:
        """Cancel what runs, let the worker finish its current step, and return."""
        with self.lock:
            for job in self.pending.values():
                job.cancel.set()
        self.jobs.put(None)
        self.worker.join(timeout=5.0)


def protocol_stdout() -> IO[str]:
    """Keep the real stdout for protocol lines only, and send everything else written to fd 1 to stderr.

    Libraries print (Lightning banners, warnings from C code); one stray line would break the protocol.
    """
    sys.stdout.flush()
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(protocol_fd, "w", encoding="utf-8", buffering=1, newline="\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="sargasses engine",
        description="Serve detections to the QGIS plugin: JSON lines on stdin/stdout (docs/engine_protocol.md).",
    )
    parser.add_argument("--version", action="store_true", help="print the engine's version and protocol, and exit")
    args = parser.parse_args(argv)
    if args.version:
        print(json.dumps({"version": engine_version(), "protocol": PROTOCOL_VERSION}))
        return 0
    out = ProtocolWriter(protocol_stdout())
    stdin = open(sys.stdin.fileno(), "rb", closefd=False)  # noqa: SIM115 (bytes: a line that is not UTF-8 is answered)
    return Engine(out).serve(stdin)


if __name__ == "__main__":
    sys.exit(main())
