"""`sargasses:detect` through Processing: processing.run in QGIS's Python, and qgis_process as a user runs it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import QGIS_PROCESS, Scene, scene_with_infinite_values, score
from qgis.core import QgsApplication, QgsCoordinateReferenceSystem, QgsRasterLayer, QgsVectorLayer


def test_provider_and_algorithm_are_registered(plugin) -> None:
    registry = QgsApplication.processingRegistry()
    assert registry.providerById("sargasses") is not None
    algorithm = registry.algorithmById("sargasses:detect")
    assert algorithm is not None
    names = {p.name() for p in algorithm.parameterDefinitions()}
    assert {"INPUT", "OUTPUT", "MODEL", "THRESHOLD", "MIN_AREA", "EXTENT", "PROBABILITIES", "DEVICE"} <= names
    optional = {p.name() for p in algorithm.parameterDefinitions() if p.flags() & p.FlagOptional}
    assert {"MODEL", "THRESHOLD", "EXTENT", "PROBABILITIES"} <= optional


def test_processing_run_writes_planted_rafts(plugin, scene, tmp_path: Path) -> None:
    import processing

    out = tmp_path / "rafts.shp"
    prob = tmp_path / "prob.tif"
    result = processing.run(
        "sargasses:detect",
        {
            "INPUT": str(scene.tif),
            "OUTPUT": str(out),
            "METHOD": ["model", "afai", "fai"].index(scene.method),
            "PROBABILITIES": str(prob),
        },
    )
    assert Path(result["OUTPUT"]) == out and out.exists()
    layer = QgsVectorLayer(str(out), "rafts", "ogr")
    assert layer.isValid()
    assert layer.crs().authid() == scene.planted["crs"] == "EPSG:32620"
    assert layer.featureCount() == result["RAFT_COUNT"] > 0
    assert "area_m2" in layer.fields().names()
    assert "COVERED_KM2" not in result  # no cover raster asked: no covered area (it said 0.0)
    scores = score(out, scene)
    assert scores["precision"] > 0.9, scores
    assert scores["object_recall"] > 0.75, scores
    probabilities = QgsRasterLayer(str(prob), "p")
    assert probabilities.isValid() and probabilities.width() == 512


def test_processing_extent_limits_the_search(plugin, scene, tmp_path: Path) -> None:
    import processing

    layer = QgsRasterLayer(str(scene.tif), "scene")
    full = layer.extent()
    # The western half only: every raft found lies in it. The scene's own method (the model when there is one):
    # AFAI at its default threshold finds 2 of this scene's 58 rafts (generator 1.2 draws fainter ones), none of them
    # in the western half.
    half = f"{full.xMinimum()},{full.center().x()},{full.yMinimum()},{full.yMaximum()} [EPSG:32620]"
    out = tmp_path / "west.gpkg"
    method = ["model", "afai", "fai"].index(scene.method)
    result = processing.run(
        "sargasses:detect",
        {"INPUT": str(scene.tif), "OUTPUT": str(out), "EXTENT": half, "METHOD": method, "MIN_AREA": 0},
    )
    west = QgsVectorLayer(result["OUTPUT"], "west", "ogr")
    assert west.featureCount() > 0
    assert west.extent().xMaximum() <= full.center().x() + 1e-6


@pytest.mark.skipif(not os.path.exists(QGIS_PROCESS), reason="qgis_process.bin is not installed")
def test_qgis_process_writes_a_shapefile(scene, qgis_process_env, tmp_path: Path) -> None:
    env = qgis_process_env
    out = tmp_path / "rafts.shp"
    done = subprocess.run(
        [
            QGIS_PROCESS,
            "run",
            "sargasses:detect",
            "--",
            f"INPUT={scene.tif}",
            f"OUTPUT={out}",
            f"METHOD={['model', 'afai', 'fai'].index(scene.method)}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # Nothing but the run: no GDAL warning (GeoPackage version, field widths), no ResourceWarning from our pipes.
    for warning in ("Warning 1:", "ResourceWarning"):  # (QGIS 3.22's own "setapi() is deprecated" stays)
        assert warning not in done.stdout + done.stderr, done.stdout + done.stderr
    layer = QgsVectorLayer(str(out), "rafts", "ogr")
    assert layer.isValid()
    assert "fid" not in layer.fields().names()  # the GeoPackage's feature id is not copied beside `id`
    help_text = subprocess.run(
        [QGIS_PROCESS, "help", "sargasses:detect"], env=env, capture_output=True, text=True, timeout=120
    ).stdout
    assert "Finds Sargassum rafts" in help_text and "<b>" not in help_text and "<br>" not in help_text
    assert layer.crs() == QgsCoordinateReferenceSystem("EPSG:32620")
    scores = score(out, scene)
    assert scores["features"] == layer.featureCount() > 0
    assert scores["precision"] > 0.9 and scores["object_recall"] > 0.75, scores


def test_algorithm_in_a_model(plugin, scene, tmp_path: Path) -> None:
    """The model builder's way: sargasses:detect as a child algorithm, its rafts buffered by another one."""
    import processing
    from qgis.core import (
        QgsProcessingModelAlgorithm,
        QgsProcessingModelChildAlgorithm,
        QgsProcessingModelChildParameterSource,
        QgsProcessingModelOutput,
        QgsProcessingModelParameter,
        QgsProcessingParameterRasterLayer,
    )

    model = QgsProcessingModelAlgorithm("rafts_buffered", "tests")
    model.addModelParameter(QgsProcessingParameterRasterLayer("scene", "Scene"), QgsProcessingModelParameter("scene"))
    detect = QgsProcessingModelChildAlgorithm("sargasses:detect")
    detect.setChildId("detect")
    detect.addParameterSources("INPUT", [QgsProcessingModelChildParameterSource.fromModelParameter("scene")])
    detect.addParameterSources(
        "METHOD", [QgsProcessingModelChildParameterSource.fromStaticValue(["model", "afai", "fai"].index(scene.method))]
    )
    model.addChildAlgorithm(detect)
    buffer = QgsProcessingModelChildAlgorithm("native:buffer")
    buffer.setChildId("buffer")
    buffer.addParameterSources("INPUT", [QgsProcessingModelChildParameterSource.fromChildOutput("detect", "OUTPUT")])
    buffer.addParameterSources("DISTANCE", [QgsProcessingModelChildParameterSource.fromStaticValue(50.0)])
    buffer.addParameterSources("DISSOLVE", [QgsProcessingModelChildParameterSource.fromStaticValue(True)])
    output = QgsProcessingModelOutput("zones", "Zones")
    output.setChildOutputName("OUTPUT")
    output.setChildId("buffer")
    buffer.setModelOutputs({"zones": output})
    buffer.setDependencies([])
    model.addChildAlgorithm(buffer)
    target = tmp_path / "zones.gpkg"
    # The model's own name for its output: "buffer:zones" up to QGIS 3.38, "zones" from 3.40.
    (zones_name,) = [parameter.name() for parameter in model.destinationParameterDefinitions()]
    result = processing.run(model, {"scene": str(scene.tif), zones_name: str(target)})
    zones = QgsVectorLayer(result[zones_name], "zones", "ogr")
    assert zones.isValid() and zones.featureCount() == 1  # dissolved
    assert zones.crs().authid() == "EPSG:32620"
    # 50 m around rafts covers more than the rafts, and lies inside the scene.
    assert zones.extent().width() > 0 and QgsRasterLayer(str(scene.tif), "s").extent().buffered(60).contains(
        zones.extent()
    )


def test_batch_runs_share_one_warm_engine(plugin, scene, tmp_path: Path) -> None:
    """Batch mode starts several runs at once: the engine serves them one after the other, the same answer each."""
    from conftest import wait_for
    from qgis.core import QgsProcessingAlgRunnerTask, QgsProcessingContext, QgsProcessingFeedback

    algorithm = QgsApplication.processingRegistry().algorithmById("sargasses:detect")
    tasks, keep = [], []  # contexts and feedbacks must outlive their tasks
    for i in range(3):
        context, feedback = QgsProcessingContext(), QgsProcessingFeedback()
        keep += [context, feedback]
        parameters = {
            "INPUT": str(scene.tif),
            "OUTPUT": str(tmp_path / f"batch_{i}.gpkg"),
            "METHOD": ["model", "afai", "fai"].index(scene.method),
        }
        task = QgsProcessingAlgRunnerTask(algorithm, parameters, context, feedback)
        done = []
        task.executed.connect(lambda ok, results, d=done: d.append((ok, results)))
        tasks.append((task, done))
        QgsApplication.taskManager().addTask(task)
    assert wait_for(lambda: all(done for _, done in tasks), 300)
    counts = set()
    for _, done in tasks:
        ok, results = done[0]
        assert ok
        counts.add(results["RAFT_COUNT"])
    assert len(counts) == 1 and counts.pop() > 0


@pytest.mark.parametrize("threshold", [0.0, 1.0, -0.2, 1.5])
def test_processing_refuses_a_threshold_that_is_no_probability(plugin, scene, threshold, monkeypatch, tmp_path) -> None:
    """Refused before the engine starts, in Processing's words (no command-line flag)."""
    import processing
    from qgis.core import QgsProcessingException

    from sargasses_qgis.processing import detect_algorithm

    started = []
    monkeypatch.setattr(detect_algorithm, "shared_engine", lambda: started.append(1))
    with pytest.raises(QgsProcessingException) as refused:
        processing.run(
            "sargasses:detect",
            {"INPUT": str(scene.tif), "OUTPUT": str(tmp_path / "r.gpkg"), "METHOD": 1, "THRESHOLD": threshold},
        )
    message = str(refused.value)
    assert f"Probability threshold {threshold:g} is not a probability strictly between 0 and 1" in message
    assert "0.001 to 0.999" in message and "--" not in message
    assert not started
    # The same check guards the algorithm when a caller skips checkParameterValues.
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    algorithm = QgsApplication.processingRegistry().algorithmById("sargasses:detect")
    with pytest.raises(QgsProcessingException, match="strictly between 0 and 1"):
        algorithm.create().processAlgorithm(
            {"INPUT": str(scene.tif), "OUTPUT": "memory:", "METHOD": 1, "THRESHOLD": threshold},
            QgsProcessingContext(),
            QgsProcessingFeedback(),
        )
    assert not started


def test_processing_and_dock_thresholds_agree(plugin, dock) -> None:
    """One range: the dock's field, the Processing parameter (both 0.001 to 0.999, 3 decimals), inside the core's
    0 < threshold < 1."""
    algorithm = QgsApplication.processingRegistry().algorithmById("sargasses:detect")
    parameter = algorithm.parameterDefinition("THRESHOLD")
    assert (parameter.minimum(), parameter.maximum()) == (
        dock.options_box.threshold.minimum(),
        dock.options_box.threshold.maximum(),
    )
    assert parameter.minimum() > 0.0 and parameter.maximum() < 1.0
    assert parameter.metadata()["widget_wrapper"]["decimals"] == dock.options_box.threshold.decimals() == 3
    from qgis.core import QgsProcessingContext

    for fine in (0.016, 0.001, 0.999):
        _, message = algorithm.checkParameterValues({"INPUT": "x", "THRESHOLD": fine}, QgsProcessingContext())
        assert "threshold" not in message.lower(), message


def test_processing_output_carries_the_rafts_style(plugin, scene, qgis_new_project) -> None:
    """The layer Processing loads into the project is styled as the dock's rafts are (resources/rafts.qml)."""
    import processing
    from qgis.core import QgsProject

    from sargasses_qgis.results import style_rafts

    result = processing.runAndLoadResults(
        "sargasses:detect", {"INPUT": str(scene.tif), "OUTPUT": "TEMPORARY_OUTPUT", "METHOD": 1}
    )
    layer = QgsProject.instance().mapLayer(result["OUTPUT"])
    assert isinstance(layer, QgsVectorLayer) and layer.featureCount() == result["RAFT_COUNT"] > 0
    reference = QgsVectorLayer("Polygon?crs=EPSG:32620", "reference", "memory")
    style_rafts(reference)
    assert reference.renderer().type() != "singleSymbol" or reference.renderer().symbol().symbolLayerCount() > 1
    assert layer.renderer().dump() == reference.renderer().dump()
    assert layer.mapTipTemplate() == reference.mapTipTemplate() != ""


def test_processing_reports_the_engines_warnings(plugin, scene, tmp_path: Path) -> None:
    import processing
    from qgis.core import QgsProcessingFeedback

    class Recorder(QgsProcessingFeedback):
        def __init__(self) -> None:
            super().__init__()
            self.warnings: list[str] = []
            self.infos: list[str] = []

        def pushWarning(self, text: str) -> None:
            self.warnings.append(text)

        def pushInfo(self, text: str) -> None:
            self.infos.append(text)

    feedback = Recorder()
    source = scene_with_infinite_values(scene, tmp_path)
    result = processing.run(
        "sargasses:detect", {"INPUT": str(source), "OUTPUT": str(tmp_path / "r.gpkg"), "METHOD": 1}, feedback=feedback
    )
    assert result["RAFT_COUNT"] > 0
    assert any("infinite values" in w for w in feedback.warnings), feedback.warnings
    # the same words as the dock: "N rafts, X km², on CPU (n threads), in S s"
    assert any(" km², on " in line and " rafts" in line for line in feedback.infos), feedback.infos


@pytest.mark.parametrize("image", ["tif", "png"])
def test_processing_runs_a_model_trained_the_original_way(plugin, otci, image, tmp_path: Path) -> None:
    """An OTCI RGB model (trained with configs/original_otci_halfunet.yaml) on a GeoTIFF and on a PNG placed by a
    world file with a .prj: the planted rafts come back, with their fractional cover."""
    import processing

    out = tmp_path / "rafts.gpkg"
    cover = tmp_path / "cover.tif"
    result = processing.run(
        "sargasses:detect",
        {"INPUT": otci[image], "MODEL": otci["model"], "OUTPUT": str(out), "COVERAGE": str(cover)},
    )
    layer = QgsVectorLayer(str(out), "rafts", "ogr")
    assert layer.isValid() and layer.crs().authid() == "EPSG:4326"
    assert layer.featureCount() == result["RAFT_COUNT"] == otci["rafts"]
    scores = score(out, Scene(Path(otci[image]), Path(otci["label"]), {}, "model"))
    # every raft; the pixels called beside the labels are the streaks' edges, under the 30 % cover labelled
    assert scores["object_recall"] == 1.0 and scores["recall"] > 0.9 and scores["precision"] > 0.8, scores
    assert 0 < result["COVERED_KM2"] <= result["AREA_KM2"] * 1.05
    coverage = QgsRasterLayer(str(result["COVERAGE"]), "cover")
    assert coverage.isValid() and coverage.crs().authid() == "EPSG:4326" and coverage.width() == 192


def test_a_full_disk_at_the_output_fails_the_run_and_keeps_the_users_file(plugin, scene, small_disks) -> None:
    """QGIS's sink says nothing when the disk fills: the run exited 0 with a GeoPackage without its tables (issue 21).
    Now: one line naming the full disk, nothing under the output's name but the user's earlier file, intact."""
    import processing
    from qgis.core import QgsProcessingException

    small_disk = small_disks("40k")  # too small for the rafts' GeoPackage
    out = small_disk / "rafts.gpkg"
    earlier = b"the user's earlier file"
    out.write_bytes(earlier)
    method = ["model", "afai", "fai"].index(scene.method)
    with pytest.raises(QgsProcessingException) as failed:
        processing.run("sargasses:detect", {"INPUT": str(scene.tif), "OUTPUT": str(out), "METHOD": method})
    message = str(failed.value)
    assert "No space left on device" in message and str(out) in message and "\n" not in message.strip()
    assert out.read_bytes() == earlier
    assert sorted(p.name for p in small_disk.iterdir()) == ["rafts.gpkg"]
