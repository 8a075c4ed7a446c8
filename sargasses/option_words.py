"""The words of the place a message is shown in: the command line's options as the QGIS plugin names them.

The core's messages say what to do in command-line words ("pass --pixel-units", "check --extent"); in Processing
or the dock that reads wrong, since there is no option to pass there. The engine is told who asks (the request's
`asker`, docs/engine_protocol.md) and rewrites each message it sends with this table, the one place where a
command-line option meets its Processing parameter and its dock field (issue 21). The CLI keeps its own words.
"""

from __future__ import annotations

import re

PLACES = ("processing", "dock")

# Whole remedies first: those with no counterpart in the plugin go, or say what to do there instead.
PHRASES: dict[str, dict[str, str]] = {
    ", or pass --pixel-units to measure areas in pixels": {"processing": "", "dock": ""},
    " (--overwrite never replaces an input)": {
        "processing": " (a run never replaces an input)",
        "dock": " (a run never replaces an input)",
    },
    "add --overwrite to replace it, or choose another name": {
        "processing": "choose another name",
        "dock": "move it away, or choose another results folder in Settings > Options > Sargasses",
    },
    "choose another name or add --force to replace it": {
        "processing": "choose another name",
        "dock": "choose another name",
    },
    ", or choose the bands to use with --bands.": {
        "processing": " (the bands are matched by their descriptions).",
        "dock": ", or choose the bands in the dock's band table.",
    },
    " (or map bands with --bands)": {"processing": "", "dock": " (or choose the bands in the dock's band table)"},
    "use --method afai": {"processing": "choose the AFAI method", "dock": "choose AFAI as the model"},
    "give one with --model FILE, or": {"processing": "choose a model file, or", "dock": "choose a model file, or"},
}

# Then each option left, by what it is called there. An option missing here keeps its name (a test checks
# that every option the engine's messages name is here: tests/core/test_option_words.py).
OPTIONS: dict[str, dict[str, str]] = {
    "--extent": {"processing": "the Area parameter", "dock": "the area"},
    "--model": {"processing": "the Model file parameter", "dock": "the Model choice"},
    "--threshold": {"processing": "the Probability threshold", "dock": "the Threshold"},
    "--min-area": {"processing": "the Minimum raft area", "dock": "the Minimum area"},
    "--device": {"processing": "the Device", "dock": "the Device"},
    "--probabilities": {"processing": "the Probabilities output", "dock": "the probability raster"},
    "--coverage": {"processing": "the Fractional cover output", "dock": "the fractional cover raster"},
    "--sensor": {"processing": "the Level of the image", "dock": "the Level"},
    "--bands": {"processing": "the bands", "dock": "the dock's band table"},
    "--method": {"processing": "the Method", "dock": "the Model choice"},
    "--learning-rate": {"processing": "the learning rate", "dock": "the learning rate"},
    "--crop-size": {"processing": "the crop size", "dock": "the crop size"},
    "--tile-size": {"processing": "the model's tile size", "dock": "the model's tile size"},
    "--batch-size": {"processing": "the batch size", "dock": "the batch size"},
    "--backend": {"processing": "the backend", "dock": "the backend"},
    "--simplify": {"processing": "the simplification", "dock": "the simplification"},
    "--land": {"processing": "the land mask", "dock": "the land mask"},
    "--quicklook": {"processing": "the quicklook", "dock": "the quicklook"},
    "--pixel-units": {"processing": "pixel units", "dock": "pixel units"},
    "--overwrite": {"processing": "replacing files", "dock": "replacing files"},
    "--force": {"processing": "replacing files", "dock": "replacing files"},
}
OPTION_NAME = re.compile(r"--[a-z][a-z0-9-]*")


def in_words_of(message: str, place: str | None) -> str:
    """`message` as it should read in `place` (processing, dock); unchanged for the command line (None)."""
    if place not in PLACES:
        return message
    for phrase, words in PHRASES.items():
        message = message.replace(phrase, words[place])
    return OPTION_NAME.sub(lambda found: OPTIONS.get(found.group(), {}).get(place, found.group()), message)
