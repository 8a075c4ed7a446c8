"""Values from outside (JSON, command-line arguments) checked against a type hint before anything acts on them.

Shared by the engine's request reader and `DetectOptions.from_mapping`, so a wrong type gets the same message,
naming what was expected and what came, wherever it came from.
"""

from __future__ import annotations

import json
import types
import typing
from typing import Any, Union

from sargasses.errors import SargassesError


class ValueTypeError(SargassesError):
    """A value of the wrong type; the message names the field, the expected type and what came."""


def checked(what: str, value: Any, hint: Any) -> Any:
    """`value` as the type `hint` asks for (ints for floats, lists for tuples), or ValueTypeError naming `what`."""
    converted = _convert(value, hint)
    if converted is _WRONG:
        raise ValueTypeError(f"{what} must be {_describe(hint)}, not {shown(value)}")
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
        return float(value) if isinstance(value, (int, float)) else _WRONG  # finite or not: the caller's rule
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


def shown(value: Any) -> str:
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
    return f"{kind} {short(json.dumps(value))}"


def short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
