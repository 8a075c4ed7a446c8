"""Reading and type-checking the engine's request lines, before anything acts on them.

Why a file of its own: the engine must answer every line, whatever it holds (random bytes, deep nesting, an id
that cannot be a key, an option of the wrong type), with one `error` event naming what is wrong, and never die
or call the user's mistake an internal error. Everything a request may hold is checked here, so the engine's
dispatch and its worker only ever see well-formed requests. See docs/engine_protocol.md ("Limits and errors").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sargasses.detection.options import DetectOptions
    from sargasses.training.finetune import FinetuneOptions

from sargasses.checked_values import ValueTypeError, checked, short, shown
from sargasses.engine.search_request import FIELDS as SEARCH_FIELDS
from sargasses.errors import SargassesError
from sargasses.option_words import PLACES, in_words_of

MAX_LINE_BYTES = 1 << 20  # 1 MiB: a real request is under 2 KB; more is a runaway client
MAX_DEPTH = 16  # JSON nesting; a real request nests 3 deep (request > options > extent)
COMMANDS = ("info", "detect", "finetune", "search", "cancel", "shutdown")
RUNS = ("detect", "finetune")  # long requests: one at a time in the worker, cancellable, ids unique while open
# The fields each command may carry besides `id` and `cmd`, and their types.
FIELDS: dict[str, dict[str, Any]] = {
    # asker: who shows the answers (option_words.PLACES: "processing", "dock"; none for the CLI's words)
    "info": {"model": str | None, "method": str, "device": str | None, "asker": str | None},
    "detect": {"options": dict, "token": str | None, "asker": str | None},  # token: a STAC catalogue's, not an option
    "finetune": {"options": dict, "asker": str | None},
    "search": SEARCH_FIELDS,
    "cancel": {"target": str | int | None},
    "shutdown": {},
}

RequestId = str | int | None


class RequestError(SargassesError):
    """A request the engine refuses; `rid` is its id when that much could be read, else None."""

    def __init__(self, message: str, rid: RequestId = None) -> None:
        super().__init__(message)
        self.rid = rid


@dataclass(frozen=True)
class Request:
    id: RequestId
    cmd: str
    fields: dict[str, Any]  # checked; `fields["options"]` is a DetectOptions (detect) or FinetuneOptions (finetune)


def read_line(stream: IO[bytes]) -> bytes | None:
    """The next line (None at the end of input); a line over MAX_LINE_BYTES comes back cut at MAX_LINE_BYTES + 1
    bytes, the rest of it read and dropped, so that it is answered once and never held whole in memory."""
    line = stream.readline(MAX_LINE_BYTES + 1)
    if not line:
        return None
    if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
        while True:
            rest = stream.readline(MAX_LINE_BYTES)
            if not rest or rest.endswith(b"\n"):
                break
    return line


def parse_request(line: bytes) -> Request:
    """One request line as a checked Request, or RequestError saying what is wrong with it."""
    if len(line) > MAX_LINE_BYTES:
        raise RequestError(f"the request line is longer than {MAX_LINE_BYTES} bytes (the limit); it was not read")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestError(f"the request is not UTF-8 text (byte {line[exc.start]:#04x} at {exc.start})") from None
    try:
        request = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise RequestError(f"the request nests deeper than {MAX_DEPTH} levels (the limit)") from None
    except ValueError as exc:
        raise RequestError(f"the request is not valid JSON ({exc}): {short(text)}") from None
    if not isinstance(request, dict):
        raise RequestError(f"a request must be a JSON object, not {shown(request)}")
    if _depth(request) > MAX_DEPTH:
        raise RequestError(f"the request nests deeper than {MAX_DEPTH} levels (the limit)")
    rid = request.get("id")
    if isinstance(rid, bool) or not isinstance(rid, (str, int, type(None))):
        raise RequestError(f"a request's 'id' must be a string, an integer or null, not {shown(rid)}")
    cmd = request.get("cmd")
    if cmd not in COMMANDS:
        raise RequestError(f"unknown command {shown(cmd)}; the commands are {', '.join(COMMANDS)}", rid)
    allowed = FIELDS[cmd]
    unknown = sorted(set(request) - {"id", "cmd", *allowed})
    if unknown:
        raise RequestError(
            f"{'an' if cmd == 'info' else 'a'} {cmd} request has no field(s) {', '.join(map(repr, unknown))}; its fields are "
            f"{', '.join(['id', 'cmd', *allowed])} (a newer plugin? update the detection engine)",
            rid,
        )
    article = "an" if cmd == "info" else "a"
    checked = {}
    for name, hint in allowed.items():
        if name in request:
            checked[name] = _checked(f"field {name!r} of {article} {cmd} request", request[name], hint, rid)
    asker = checked.get("asker")
    if asker is not None and asker not in PLACES:
        raise RequestError(f"field 'asker' must be one of {', '.join(PLACES)} or null, not {shown(asker)}", rid)
    if cmd in RUNS:
        if "options" not in checked:
            raise RequestError(f"a {cmd} request needs an 'options' object", rid)
        try:
            checked["options"] = (detect_options if cmd == "detect" else finetune_options)(checked["options"], rid)
        except RequestError as exc:
            raise RequestError(in_words_of(str(exc), asker), rid) from None
    return Request(rid, cmd, checked)


def _checked(what: str, value: Any, hint: Any, rid: RequestId) -> Any:
    try:
        return checked(what, value, hint)
    except ValueTypeError as exc:
        raise RequestError(str(exc), rid) from None


def detect_options(options: dict[str, Any], rid: RequestId = None) -> DetectOptions:
    """A detect request's options, built and type-checked by DetectOptions.from_mapping.

    Unknown keys are refused rather than dropped, so a plugin newer than its engine says so.
    """
    from sargasses.detection.options import DetectOptions, UnknownOptions

    try:
        return DetectOptions.from_mapping(options)
    except UnknownOptions as exc:
        raise RequestError(
            f"this engine does not know the option(s) {', '.join(exc.names)}; "
            "update the detection engine to the plugin's version (reinstall it from the plugin's settings)",
            rid,
        ) from None
    except SargassesError as exc:
        raise RequestError(str(exc), rid) from None


def finetune_options(options: dict[str, Any], rid: RequestId = None) -> FinetuneOptions:
    """A finetune request's options, built and type-checked by FinetuneOptions.from_mapping (no torch imported)."""
    from sargasses.training.finetune import FinetuneOptions

    try:
        return FinetuneOptions.from_mapping(options)
    except SargassesError as exc:
        raise RequestError(str(exc), rid) from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _depth(value: Any) -> int:
    """How deep lists and objects nest in `value` (a scalar: 0), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            break
        stack.extend((child, level + 1) for child in children)
    return deepest
