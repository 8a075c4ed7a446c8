"""Talking to STAC servers without leaking credentials: JSON fetched with a timeout and one clear line per
failure, and every URL shown to the user with its query string (SAS tokens, signed-URL keys) hidden."""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

from sargasses.errors import SargassesError

TIMEOUT_S = 30
# A bearer token for catalogues that need one: from the environment (the command line), or for one engine request
# (the plugin reads it from QGIS's authentication database and sends it over the pipe); never from a file.
TOKEN_VARIABLE = "SARGASSES_STAC_TOKEN"
# Credentials other parts read from the environment (GDAL's S3 keys, the Planetary Computer subscription key).
SECRET_VARIABLES = (
    TOKEN_VARIABLE,
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "PC_SDK_SUBSCRIPTION_KEY",
)
_REQUEST_TOKEN: contextvars.ContextVar[str | None] = contextvars.ContextVar("sargasses_stac_token", default=None)
_SECRET_QUERY = re.compile(r"\?[^\s'\")]*")
_SECRET_WORDS = re.compile(r"(?i)(authorization|bearer|token|signature|sig|key|password)[=: ]+[^\s&'\")]+")


@contextlib.contextmanager
def request_token(token: str | None) -> Iterator[None]:
    """Send `token` (when given) instead of the environment's in this thread's STAC requests, for one engine
    request: concurrent requests (a search beside a detection) each keep their own."""
    if not token:
        yield
        return
    reset = _REQUEST_TOKEN.set(token)
    try:
        yield
    finally:
        _REQUEST_TOKEN.reset(reset)


def current_token() -> str | None:
    return _REQUEST_TOKEN.get() or os.environ.get(TOKEN_VARIABLE) or None


def redact(text: str) -> str:
    """`text` with URL query strings and anything that looks like a token replaced by a placeholder."""
    text = _SECRET_QUERY.sub("?(query hidden)", text)
    for token in {_REQUEST_TOKEN.get(), *(os.environ.get(name) for name in SECRET_VARIABLES)}:
        if token:
            text = text.replace(token, "(token hidden)")
    return _SECRET_WORDS.sub(lambda m: f"{m.group(1)}=(hidden)", text)


def auth_headers() -> dict[str, str]:
    token = current_token()
    return {"Authorization": f"Bearer {token}"} if token else {}


def fetch_json(url: str, what: str) -> dict[str, Any]:
    """The JSON document at `url`; a SargassesError naming `what` and the (redacted) URL when it cannot be had."""
    request = urllib.request.Request(url, headers={"Accept": "application/json", **auth_headers()})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise SargassesError(http_error_line(what, url, exc.code)) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SargassesError(
            f"{what} at {redact(url)} could not be reached ({redact(str(reason))}); check the address and the network"
        ) from None
    except ValueError as exc:
        raise SargassesError(f"{what} at {redact(url)} is not JSON ({exc}); check the address") from None


def http_error_line(what: str, url: str, status: int | None) -> str:
    """One line for an HTTP error status: what to do differs for 401/403, 404 and 5xx."""
    where = f"{what} at {redact(url)}"
    if status in (401, 403) and current_token():
        return f"{where} refused the token it was given (HTTP {status}): check that it is right and not expired"
    if status in (401, 403):
        return (
            f"{where} refused access (HTTP {status}): the catalogue needs credentials; set a token in the "
            f"{TOKEN_VARIABLE} environment variable, or in QGIS choose its authentication in Find scenes (or sign "
            "the URLs, see docs/stac.md)"
        )
    if status == 404:
        return f"{where} was not found (HTTP 404); check the URL, the collection and the item id"
    if status is not None and status >= 500:
        return f"{where} failed on the server's side (HTTP {status}); try again later or use another catalogue"
    return f"{where} answered HTTP {status}; check the address"
