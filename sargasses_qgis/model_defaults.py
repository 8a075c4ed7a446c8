"""What the plugin assumes before the engine has told it about a model (the default model's contract, docs/reading.md).

The engine's `info` answer (the model card) always wins; these only let the plugin plan inputs for the index
methods, which have no card, and for Processing runs, which do not ask.
"""

DEFAULT_BANDS = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")
DEFAULT_GSD_M = 20.0
METHODS = ["model", "afai", "fai"]  # as the engine's `method` option spells them
