"""Reading and type-checking the engine's request lines, before anything acts on them.

Why a file of its own: the engine must answer every line, whatever it holds (random bytes, deep nesting, an id
that cannot be a key, an option of the wrong type), with one `error` event naming what is wrong, and never die
or call the user's mistake an internal error. Everything a request may hold is checked here, so the engine's
dispatch and its worker only ever see well-formed requests. See docs/engine_protocol.md ("Limits and errors").
"""

from __future__ import annotations

import json
import math
import types
import typing
from dataclasses import dataclass, fields
from typing import IO, Any, Union

from sargasses.errors import SargassesError

MAX_LINE_BYTES = 1 << 20  # 1 MiB: a real request is under 2 KB; more is a runaway client
MAX_DEPTH = 16  # JSON nesting; a real request nests 3 deep (request > options > extent)
COMMANDS = ("info", "detect", "cancel", "shutdown")
# The fields each command may carry besides `id` and `cmd`, and their types.
FIELDS: dict[str, dict[str, Any]] = {
    "info": {"model": str | None, "method": str, "device": str | None},
    "detect": {"options": dict},
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
    fields: dict[str, Any]  # checked; for `detect`, `fields["options"]` holds DetectOptions' checked keywords


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
        raise RequestError(f"the request is not valid JSON ({exc}): {_short(text)}") from None
    if not isinstance(request, dict):
        raise RequestError(f"a request must be a JSON object, not {_shown(request)}")
    if _depth(request) > MAX_DEPTH:
        raise RequestError(f"the request nests deeper than {MAX_DEPTH} levels (the limit)")
    rid = request.get("id")
    if isinstance(rid, bool) or not isinstance(rid, (str, int, type(None))):
        raise RequestError(f"a request's 'id' must be a string, an integer or null, not {_shown(rid)}")
    cmd = request.get("cmd")
    if cmd not in COMMANDS:
        raise RequestError(f"unknown command {_shown(cmd)}; the commands are {', '.join(COMMANDS)}", rid)
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
    if cmd == "detect":
        if "options" not in checked:
            raise RequestError("a detect request needs an 'options' object", rid)
        checked["options"] = detect_options(checked["options"], rid)
    return Request(rid, cmd, checked)


def detect_options(options: dict[str, Any], rid: RequestId = None) -> dict[str, Any]:
    """A detect request's options checked against DetectOptions' fields and types: the keywords to build it.

    Unknown keys are refused rather than dropped, so a plugin newer than its engine says so.
    """
    from sargasses.detect import DetectOptions

    hints = typing.get_type_hints(DetectOptions)
    names = [f.name for f in fields(DetectOptions)]
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise RequestError(
            f"this engine does not know the option(s) {', '.join(unknown)}; "
            "update the detection engine to the plugin's version (reinstall it from the plugin's settings)",
            rid,
        )
    missing = [f.name for f in fields(DetectOptions) if f.name not in options and _required(f)]
    if missing:
        raise RequestError(f"a detect request's options need {', '.join(map(repr, missing))}", rid)
    return {name: _checked(f"option {name!r}", value, hints[name], rid) for name, value in options.items()}


def _required(field: Any) -> bool:
    from dataclasses import MISSING

    return field.default is MISSING and field.default_factory is MISSING


def _checked(what: str, value: Any, hint: Any, rid: RequestId) -> Any:
    """`value` as the type `hint` asks for (ints for floats, lists for tuples), or RequestError naming `what`."""
    converted = _convert(value, hint)
    if converted is _WRONG:
        raise RequestError(f"{what} must be {_describe(hint)}, not {_shown(value)}", rid)
    return converted


_WRONG = object()


def _convert(value: Any, hint: Any) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        for option in args:
            converted = _convert(value, option)
            if converted is not _WRONG:
                return converted
        return _WRONG
    if hint is type(None):
        return None if value is None else _WRONG
    if hint is Any:
        return value
    if isinstance(value, bool):
        return value if hint is bool else _WRONG
    if hint is float:
        return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else _WRONG
    if hint in (int, str, dict):
        return value if isinstance(value, hint) else _WRONG
    if origin is list and isinstance(value, list):
        items = [_convert(v, args[0]) for v in value]
        return _WRONG if any(v is _WRONG for v in items) else items
    if origin is tuple and isinstance(value, list) and len(value) == len(args):
        items = [_convert(v, a) for v, a in zip(value, args, strict=True)]
        return _WRONG if any(v is _WRONG for v in items) else tuple(items)
    return _WRONG


def _describe(hint: Any) -> str:
    """A type in words for the error message: `float | None` -> "a number or null"."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is list:
        return f"a list of {_describe(args[0]).removeprefix('a ').removeprefix('an ')}s"
    if origin is tuple:
        return f"a list of {len(args)} {_describe(args[0]).removeprefix('a ')}s"
    words = {type(None): "null", float: "a number", int: "an integer", str: "a string", bool: "true or false"}
    return words.get(hint, "an object" if hint is dict else str(hint))


def _shown(value: Any) -> str:
    """A value in a message: its JSON type and a short excerpt."""
    kind = {
        bool: "a boolean",
        int: "the number",
        float: "the number",
        str: "the string",
        list: "a list",
        dict: "an object",
        type(None): "null",
    }.get(type(value), type(value).__name__)
    if value is None:
        return kind
    return f"{kind} {_short(json.dumps(value))}"


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


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
