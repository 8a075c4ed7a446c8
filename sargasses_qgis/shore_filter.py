""" "Hide shoreline rafts": a filter on a rafts layer that hides the rafts touching land (`setting` = shoreline: surf,
wet sand, an inlet's edge, or Sargassum on a beach), and the counts the dock shows beside it.

Why a subset string: QGIS saves it with the layer in the project, and Layer > Filter shows it. The user's own
filter is kept: the shoreline clause is ANDed to it and taken off it again.
"""

from __future__ import annotations

from qgis.core import QgsProviderRegistry, QgsVectorLayer

SETTING_FIELD = "setting"
HIDE_CLAUSE = '("setting" IS NULL OR "setting" <> \'shoreline\')'
ON_SHORELINE = "\"setting\" = 'shoreline'"
_AND = " AND "


def has_settings(layer: QgsVectorLayer) -> bool:
    """The layer says where each raft lies (runs of older versions do not)."""
    return layer.fields().indexOf(SETTING_FIELD) >= 0


def own_filter(subset: str) -> str:
    """The layer's filter without the shoreline clause."""
    if subset == HIDE_CLAUSE:
        return ""
    tail = _AND + HIDE_CLAUSE
    if subset.startswith("(") and subset.endswith(tail):
        return subset[1 : -len(tail) - 1]
    return subset


def shoreline_hidden(layer: QgsVectorLayer) -> bool:
    return layer.subsetString().endswith(HIDE_CLAUSE)


def hide_shoreline(layer: QgsVectorLayer, hide: bool) -> bool:
    """Add (hide) or take off the shoreline clause; False when the provider refused the filter."""
    own = own_filter(layer.subsetString())
    if not hide:
        return layer.setSubsetString(own)
    return layer.setSubsetString(f"({own}){_AND}{HIDE_CLAUSE}" if own else HIDE_CLAUSE)


def shoreline_count(layer: QgsVectorLayer) -> int:
    """The shoreline rafts the user's own filter keeps, hidden or not: counted on a second layer of the same source
    (the layer itself no longer sees those it hides)."""
    registry = QgsProviderRegistry.instance()
    parts = registry.decodeUri(layer.providerType(), layer.source())
    parts.pop("subset", None)
    probe = QgsVectorLayer(registry.encodeUri(layer.providerType(), parts), "count", layer.providerType())
    own = own_filter(layer.subsetString())
    probe.setSubsetString(f"({own}){_AND}{ON_SHORELINE}" if own else ON_SHORELINE)
    return max(probe.featureCount(), 0) if probe.isValid() else 0


def count_text(layer: QgsVectorLayer) -> str:
    """ "12 rafts shown, 5 on the shoreline hidden", or "17 rafts, 5 on the shoreline" when none is hidden."""
    shown, shore = layer.featureCount(), shoreline_count(layer)
    rafts = f"{shown} raft{'s' if shown != 1 else ''}"
    if shoreline_hidden(layer):
        return f"{rafts} shown, {shore} on the shoreline hidden"
    return f"{rafts}, {shore} on the shoreline"
