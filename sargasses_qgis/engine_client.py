"""The plugin's side of the engine protocol (docs/engine_protocol.md): start the engine, send requests, route events.

Standard library only and no Qt: tasks call it from worker threads, and the Processing algorithm from
qgis_process. One reader thread routes stdout events to per-request queues; another copies stderr to the log.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from .engine_finder import PROTOCOL_VERSION, EngineLookup, engine_environment, find_engine
from .log import log_info, log_warning

START_TIMEOUT_S = 120.0
TERMINAL_EVENTS = ("result", "error", "cancelled")
CANCEL_GRACE_S = 1.0  # an engine that has not stopped this long after a cancel is killed


class EngineError(Exception):
    """Something went wrong in or with the engine; the message is for people."""


class EngineNotFound(EngineError):
    def __init__(self, lookup: EngineLookup) -> None:
        super().__init__(lookup.explain())
        self.lookup = lookup


class EngineStopped(EngineError):
    """The engine process ended while requests were open (a crash, an out-of-memory, a kill)."""


class RequestCancelled(EngineError):
    """The user cancelled a long request (detect, finetune); nothing was added to the project."""


class Request:
    """An open request: its events arrive in `events`, in order, the last one terminal."""

    def __init__(self, request_id: int, cmd: str) -> None:
        self.id = request_id
        self.cmd = cmd
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()

    def next_event(self, timeout: float | None = None) -> dict[str, Any] | None:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            return None


class EngineClient:
    """One engine process."""

    def __init__(self, python: str, source: str = "") -> None:
        self.python = python
        self.source = source
        self.process: subprocess.Popen | None = None
        self.ready: dict[str, Any] = {}
        self._ready = threading.Event()
        self._ids = itertools.count(1)
        self._open: dict[int, Request] = {}
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._stderr: collections.deque[str] = collections.deque(maxlen=40)
        self._stopped = False
        self.exit_code: int | None = None

    # ------------------------------------------------------------------ life
    def start(self, timeout: float = START_TIMEOUT_S) -> dict[str, Any]:
        """Start the process and wait for its `ready` event."""
        kwargs: dict[str, Any] = {}
        if sys.platform == "win32":
            kwargs["creationflags"] = getattr(subprocess, "CREATE_NO_WINDOW", 0)
        else:
            kwargs["start_new_session"] = True  # a Ctrl-C in QGIS's console does not reach the engine
        log_info(f"starting the detection engine: {self.python} -m sargasses engine")
        try:
            self.process = self._spawn(kwargs)
        except OSError as exc:
            raise EngineError(f"the detection engine ({self.python}) cannot be started: {exc}") from exc
        threading.Thread(target=self._read_stdout, name="sargasses-engine-out", daemon=True).start()
        threading.Thread(target=self._read_stderr, name="sargasses-engine-err", daemon=True).start()
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.1):
            if self._stopped or time.monotonic() > deadline:
                self.kill()
                raise EngineError(
                    f"the detection engine ({self.python}) did not start: {self.stderr_tail() or 'no output'}"
                )
        if self.ready.get("protocol") != PROTOCOL_VERSION:
            self.kill()
            raise EngineError(
                f"the detection engine speaks protocol {self.ready.get('protocol')}, this plugin {PROTOCOL_VERSION}: "
                "reinstall the engine from the plugin's settings"
            )
        log_info(f"detection engine ready: sargasses {self.ready.get('version')}, pid {self.ready.get('pid')}")
        return self.ready

    def _spawn(self, kwargs: dict[str, Any]) -> subprocess.Popen:
        return subprocess.Popen(
            [self.python, "-m", "sargasses", "engine"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=engine_environment(),
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
            **kwargs,
        )

    @property
    def alive(self) -> bool:
        return self.process is not None and not self._stopped and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def shutdown(self, timeout: float = 3.0) -> None:
        """Ask the engine to stop; kill it if it does not within `timeout`."""
        if self.process is None:
            return
        if self.alive:
            with contextlib.suppress(EngineError):
                self.request("shutdown")
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
        self.kill()

    def kill(self) -> None:
        """Stop the process now (a run that ignores cancel, a plugin unload)."""
        if self.process is None or self.process.poll() is not None:
            return
        log_warning(f"stopping the detection engine (pid {self.process.pid})")
        try:
            if sys.platform != "win32":
                os.killpg(self.process.pid, signal.SIGKILL)
            else:
                self.process.kill()
        except (ProcessLookupError, PermissionError, OSError):
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5.0)

    # ------------------------------------------------------------------ requests
    def request(self, cmd: str, **fields: Any) -> Request:
        """Send a request; its events arrive in the returned Request's queue."""
        if not self.alive:
            raise EngineStopped(self._stopped_message())
        request = Request(next(self._ids), cmd)
        with self._lock:
            self._open[request.id] = request
        line = json.dumps({"id": request.id, "cmd": cmd, **fields})
        try:
            with self._write_lock:
                self.process.stdin.write(line + "\n")
                self.process.stdin.flush()
        except (OSError, ValueError) as exc:
            with self._lock:
                self._open.pop(request.id, None)
            raise EngineStopped(self._stopped_message()) from exc
        return request

    def call(self, cmd: str, timeout: float = 120.0, **fields: Any) -> dict[str, Any]:
        """Send a request and wait for its result (for short requests: info)."""
        request = self.request(cmd, **fields)
        deadline = time.monotonic() + timeout
        while True:
            event = request.next_event(timeout=0.2)
            if event is None:
                if time.monotonic() > deadline:
                    raise EngineError(f"the detection engine did not answer {cmd!r} within {timeout:.0f} s")
                continue
            if event["event"] == "result":
                return event.get("result", event.get("summary", {}))
            if event["event"] in ("error", "cancelled"):
                raise EngineError(event.get("message", "the engine failed"))

    def cancel(self, request_id: int) -> None:
        if self.alive:
            with contextlib.suppress(EngineError):
                self.request("cancel", target=request_id)

    def stderr_tail(self, lines: int = 8) -> str:
        return "\n".join(list(self._stderr)[-lines:])

    # ------------------------------------------------------------------ reader threads
    def _read_stdout(self) -> None:
        stream = self.process.stdout
        for line in iter(stream.readline, ""):
            try:
                event = json.loads(line)
            except ValueError:
                log_warning(f"engine wrote a line that is not JSON (ignored): {line.strip()[:200]}")
                continue
            if event.get("event") == "ready" and "id" not in event:
                self.ready = event
                self._ready.set()
                continue
            with self._lock:
                request = self._open.get(event.get("id"))
                if request is not None and event.get("event") in TERMINAL_EVENTS:
                    del self._open[request.id]
            if request is not None:
                request.events.put(event)
            elif event.get("event") == "error":
                log_warning(f"engine: {event.get('message')}")
        stream.close()  # the engine closed it: ours goes too (no ResourceWarning at exit)
        self._on_exit()

    def _read_stderr(self) -> None:
        for line in iter(self.process.stderr.readline, ""):
            text = line.rstrip("\n").split("\r")[-1].rstrip()  # progress bars rewrite one line with \r
            if text:
                self._stderr.append(text)
                log_info(f"engine: {text}")
        self.process.stderr.close()

    def _on_exit(self) -> None:
        """stdout closed: the engine is gone. Every open request fails with the reason."""
        try:
            self.exit_code = self.process.wait(5.0)
        except subprocess.TimeoutExpired:
            self.exit_code = None
        with contextlib.suppress(OSError):  # a broken pipe if the engine died with requests unread
            self.process.stdin.close()
        self._stopped = True
        with self._lock:
            orphans = list(self._open.values())
            self._open.clear()
        message = self._stopped_message()
        if orphans:
            log_warning(message)
        for request in orphans:
            request.events.put({"id": request.id, "event": "error", "message": message, "crashed": True})

    def _stopped_message(self) -> str:
        code = self.exit_code if self.exit_code is not None else (self.process.poll() if self.process else None)
        how = f"exit code {code}" if code is not None and code >= 0 else f"killed by signal {-(code or 0)}"
        tail = self.stderr_tail(5)
        return (
            f"the detection engine stopped unexpectedly ({how}). QGIS is fine; the next run starts a new engine. "
            + (f"Its last words:\n{tail}" if tail else "")
        ).strip()


class EngineManager:
    """The one engine of this QGIS session: started on first need, kept warm, restarted after a crash."""

    def __init__(self, finder: Callable[[], EngineLookup] = find_engine) -> None:
        self._finder = finder
        self._client: EngineClient | None = None
        self._lock = threading.Lock()
        self.last_lookup: EngineLookup | None = None

    def client(self) -> EngineClient:
        """The running engine, started if needed. Blocks (finding and starting take seconds): not on the main thread."""
        with self._lock:
            if self._client is not None and self._client.alive:
                return self._client
            if self._client is not None:
                log_info("the previous detection engine has stopped; starting a new one")
            lookup = self._finder()
            self.last_lookup = lookup
            if lookup.engine is None:
                raise EngineNotFound(lookup)
            client = EngineClient(lookup.engine.python, lookup.engine.source)
            client.start()
            self._client = client
            return client

    def current(self) -> EngineClient | None:
        """The running engine, or None: never starts one."""
        client = self._client
        return client if client is not None and client.alive else None

    def discard(self, client: EngineClient) -> None:
        """Kill an engine that misbehaved (ignored a cancel); the next call to client() starts a new one."""
        client.kill()
        with self._lock:
            if self._client is client:
                self._client = None

    def shutdown(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.shutdown()


def follow_request(
    manager: EngineManager,
    client: EngineClient,
    request: Request,
    progress: Callable[[float, str], None],
    is_cancelled: Callable[[], bool],
    what: str = "the run",
) -> dict[str, Any]:
    """Follow a long request (detect, finetune) to its end: `progress(fraction 0-1, message)` for each progress
    event, `cancel` sent once `is_cancelled()`, the engine killed if it has not stopped CANCEL_GRACE_S after.

    Returns the `result` event; raises RequestCancelled, EngineStopped (crash) or EngineError (its message).
    """
    cancel_sent: float | None = None
    while True:
        if cancel_sent is None and is_cancelled():
            client.cancel(request.id)
            cancel_sent = time.monotonic()
        event = request.next_event(timeout=0.05)
        if event is None:
            if cancel_sent is not None and time.monotonic() - cancel_sent > CANCEL_GRACE_S:
                log_warning("the engine did not stop within a second of the cancel; stopping it")
                manager.discard(client)
                raise RequestCancelled(f"{what} was cancelled (the engine was stopped)")
            continue
        kind = event.get("event")
        if kind == "progress" and cancel_sent is None:
            fraction = min(1.0, max(0.0, float(event.get("fraction") or 0.0)))
            progress(fraction, str(event.get("message") or ""))
        elif kind == "result":
            return event
        elif kind == "cancelled":
            raise RequestCancelled(str(event.get("message") or f"{what} was cancelled"))
        elif kind == "error":
            if event.get("crashed"):
                raise EngineStopped(str(event.get("message")))
            if event.get("traceback"):
                log_warning(str(event["traceback"]))
            raise EngineError(str(event.get("message") or f"{what} failed"))


_shared: EngineManager | None = None
_shared_lock = threading.Lock()


def shared_engine() -> EngineManager:
    """The engine shared by the dock and the Processing algorithm, so both use one warm model."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = EngineManager()
        return _shared
