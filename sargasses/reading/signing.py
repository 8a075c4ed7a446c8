"""Planetary Computer's signed URLs: an item whose assets lie in Azure Blob Storage is readable only with a SAS
token in each href's query string. The `planetary-computer` package (extra `[planetary-computer]`) asks its token
endpoint for one per storage container and appends it; it reads its settings from the environment:
PC_SDK_SAS_URL (the endpoint, Microsoft's by default) and PC_SDK_SUBSCRIPTION_KEY (optional).

Signing happens when an item is opened for reading, never at search time, so that no listed href (the JSON of
`sargasses search`, the plugin's scene list, a layer in a QGIS project) carries a token; the signed hrefs live in memory only
and every message shows them through `redact`.
"""

from __future__ import annotations

import copy
import urllib.parse
from typing import Any

from sargasses.errors import SargassesError
from sargasses.reading.stac_http import redact

BLOB_STORAGE_DOMAIN = ".blob.core.windows.net"  # what the package signs; other hrefs it returns as they are
EXTRA = "pip install 'sargasses[planetary-computer]'"


def needs_signing(item: dict[str, Any]) -> bool:
    """An asset on Azure Blob Storage without a signature (st/se/sp/sig) in its query string."""
    for asset in (item.get("assets") or {}).values():
        parsed = urllib.parse.urlparse(str(asset.get("href", "")) if isinstance(asset, dict) else "")
        if parsed.netloc.endswith(BLOB_STORAGE_DOMAIN) and not {"sig", "se"} & set(urllib.parse.parse_qs(parsed.query)):
            return True
    return False


def signed_item(item: dict[str, Any]) -> dict[str, Any]:
    """`item` with its blob hrefs signed by the `planetary-computer` package (a copy); `item` itself when it needs
    no signing. One line when the package is missing or its token endpoint fails, without the key or a token."""
    if not needs_signing(item):
        return item
    try:
        import planetary_computer
        import requests
    except ImportError:
        raise SargassesError(
            f"STAC item {item.get('id')} has assets in Azure Blob Storage (Planetary Computer) that need signed URLs: "
            f"install the signing package ({EXTRA}) in the engine's environment"
        ) from None
    from planetary_computer.settings import Settings

    try:
        return planetary_computer.sign(copy.deepcopy(item))
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else "?"
        reason = f"HTTP {status}" + (": check PC_SDK_SUBSCRIPTION_KEY" if status in (401, 403) else "")
    except (requests.RequestException, ValueError) as exc:  # refused, timed out, not a token in the answer
        reason = type(exc).__name__
    raise SargassesError(
        f"signing the assets of STAC item {item.get('id')} failed: the token endpoint {redact(str(Settings.get().sas_url))} "
        f"answered {reason}; try again later (PC_SDK_SAS_URL sets the endpoint)"
    )
