"""Monitoring a region: many scenes -> one catalogue, a gridded time series and per-sector covered km2 (issue 23).

Each scene is one detection (sargasses/detection/run.py's `run_detection`, called as a library), run on a Dask
worker; the worker reduces it to what the region's products need and hands that back; only the client writes the
monitoring folder. One file per step (docs/monitoring.md):
- `inputs.py`: paths, globs, text files of paths, item hrefs -> the list of scenes;
- `settings.py`: what every scene of a folder is measured with (model and its SHA-256, threshold, grid, sectors);
- `scene_task.py`: one scene on a worker: the detection, then `scene_measures.py` (footprint, cells, sectors);
- `catalogue.py`: the GeoPackage (rafts, scenes, cells, sector passes), one transaction per scene;
- `cluster.py`: the Dask client (an embedded LocalCluster, or `--scheduler`), progress, results as they come;
- `grid_product.py`: the CF NetCDF of fractional cover per cell and day;
- `sector_product.py`: covered km2 per sector and pass (CSV, PNG) with a risk class against a baseline;
- `cli.py`: `sargasses monitor`.
"""
