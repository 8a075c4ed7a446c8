# sargasses: one command sets up and tests everything (`make test`), one shows it working (`make demo`).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
QGIS_VENV := .venv-qgis
S3_VENV := .venv-s3
PY := $(VENV)/bin/python
QGIS_PY := $(QGIS_VENV)/bin/python
# The torch build this project is tested with; installed first so that pip does not pick another one.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1

.PHONY: help setup system-deps test lint format test-core test-qgis test-qgis-versions test-qgis-trixie test-qgis-sid \
	demo demo-monitor plugin qgis benchmark clean

help:
	@echo "make test       set up everything missing (QGIS, venvs), then lint and run every test"
	@echo "make demo       detect Sargassum on a synthetic scene with the bundled model"
	@echo "make demo-monitor  monitor a synthetic 8-day series: catalogue, NetCDF grid, sector time series"
	@echo "make plugin     build dist/sargasses_qgis.zip (QGIS: Plugins > Install from ZIP)"
	@echo "make qgis       start QGIS with the plugin from this tree and a synthetic scene"
	@echo "make benchmark  speed and memory of detection (prints a table)"
	@echo "make format     format the code with ruff"
	@echo "make test-qgis-versions  the QGIS tests on this QGIS, QGIS 3.40 (Debian 13) and 3.44 (sid), in chroots"

setup: system-deps $(VENV)/.installed $(QGIS_VENV)/.installed $(S3_VENV)/.installed

system-deps:
	@bash scripts/setup_system.sh

# The core environment: torch, Lightning, mfai, rasterio, geopandas. Reinstalled when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e ".[full,stac,monitor,dev,planetary-computer]"
	@touch $@

# The QGIS test environment: QGIS's own Python (system: numpy 1.x on Debian 12, 2.x on 13) plus pure-Python test tools.
$(QGIS_VENV)/.installed: system-deps
	@test -x $(QGIS_PY) || /usr/bin/python3 -m venv --system-site-packages $(QGIS_VENV)
	@test -f $@ || $(QGIS_PY) -m pip install -q pytest pytest-qgis pytest-timeout
	@touch $@

# The S3 server the CDSE-style tests start on loopback (moto's server mode, tests/core/s3_server.py), apart: its
# botocore pins python-dateutil below what the core environment has.
$(S3_VENV)/.installed:
	@test -x $(S3_VENV)/bin/python || $(PYTHON) -m venv $(S3_VENV)
	$(S3_VENV)/bin/python -m pip install -q "moto[s3,server]>=5.0"
	@touch $@

lint: $(VENV)/.installed
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(PYTHON) scripts/check_qt6.py

format: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test-core: $(VENV)/.installed $(S3_VENV)/.installed
	$(PY) -m pytest tests/core

test-qgis: setup
	cd tests/qgis && QT_QPA_PLATFORM=offscreen SARGASSES_PYTHON=$(abspath $(PY)) $(abspath $(QGIS_PY)) -m pytest

# The QGIS tests against newer QGIS: Debian 13's 3.40 and sid's 3.44, each in a debootstrapped chroot kept in
# /var/cache/sargasses/chroots (built on first use, about 3 minutes; needs root). The engine stays this .venv.
test-qgis-versions: test-qgis test-qgis-trixie test-qgis-sid

test-qgis-trixie test-qgis-sid: test-qgis-%: $(VENV)/.installed
	bash scripts/qgis_chroot.sh test-qgis $*

test: setup lint test-core test-qgis

demo: $(VENV)/.installed
	$(VENV)/bin/sargasses synth demo --count 1 --seed 7 --size 1024 --overwrite
	$(VENV)/bin/sargasses detect demo/scene_0007.tif -o demo/rafts.shp --probabilities demo/probabilities.tif \
		--quicklook demo/quicklook.png --overwrite
	@echo "Results in demo/: rafts.shp (polygons), probabilities.tif, quicklook.png, rafts.summary.json"

# Monitoring (docs/monitoring.md): eight days of one synthetic sea, rafts drifting under clouds, on a local Dask cluster.
demo-monitor: $(VENV)/.installed
	$(VENV)/bin/sargasses synth demo-monitor/series --series 8 --seed 500 --size 512 --overwrite
	rm -rf demo-monitor/monitoring
	$(VENV)/bin/sargasses monitor 'demo-monitor/series/scene_*.tif' -o demo-monitor/monitoring \
		--sectors demo-monitor/series/sectors.gpkg --grid-crs EPSG:32620 --cell 1000
	@echo "Results in demo-monitor/monitoring/: catalogue.gpkg, grid.nc, grid.png, days.csv, sectors.csv, sectors.png"
	@echo "What was planted: demo-monitor/series/truth.json"

plugin:
	/usr/bin/python3 scripts/build_plugin.py

qgis: setup
	bash scripts/run_qgis.sh

benchmark: $(VENV)/.installed
	$(PY) benchmarks/benchmark_detect.py

clean:
	rm -rf build dist demo demo-monitor .pytest_cache .ruff_cache
