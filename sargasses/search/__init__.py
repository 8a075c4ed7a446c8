"""Finding scenes in STAC catalogues: `search.py` (the library function), `catalogues.py` (short names),
`aoi.py` (the area asked for), `cli.py` (`sargasses search`)."""
