"""Known STAC APIs by a short word, with the Sentinel-2 collection to search when none is given."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Catalogue:
    url: str
    collection: str  # the default collection: Sentinel-2 Level-2A COGs


CATALOGUES = {
    "earth-search": Catalogue("https://earth-search.aws.element84.com/v1", "sentinel-2-c1-l2a"),
    # its assets need signed URLs: reading/signing.py signs an item when it is read
    "planetary-computer": Catalogue("https://planetarycomputer.microsoft.com/api/stac/v1", "sentinel-2-l2a"),
}


def resolve(stac: str) -> Catalogue | None:
    """The known catalogue `stac` names (a short word or its URL); None for any other URL."""
    if stac in CATALOGUES:
        return CATALOGUES[stac]
    return next((c for c in CATALOGUES.values() if c.url == stac.rstrip("/")), None)


def catalogue_url(stac: str) -> str:
    known = resolve(stac)
    return known.url if known else stac
