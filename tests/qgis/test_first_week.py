"""What a forecaster met in the plugin's first week (issue 20), each point in the real QGIS with the real engine:
the installer asks before replacing an engine and keeps it until the new one works, the dock follows the image the
user just added, sizes that fit, the toolbar button, names and levels people read."""

from __future__ import annotations

from pathlib import Path

from conftest import add_raster, cancel_the_next_question, choose_layer, run_and_wait, wait_for
from qgis.core import Qgis, QgsProject, QgsRasterLayer, QgsVectorLayer
from qgis.PyQt.QtWidgets import QApplication

from sargasses_qgis.engine_installer import CPU_FULL_ENGINE, GPU_ENGINE, TORCH_CPU_INDEX_VAR, EngineInstallTask
from sargasses_qgis.paths import ENGINE_MARKER
from sargasses_qgis.ui.installer_dialog import install_question


# ---------------------------------------------------------------------- 1. the engine is never lost
def test_the_full_engine_offer_asks_first_and_says_the_engine_stays(plugin, dock, monkeypatch, tmp_path: Path):
    """The fine-tune's "install the full engine" goes through the question; Cancel there starts nothing."""
    from qgis.core import QgsApplication

    engine = tmp_path / "engine"
    engine.mkdir()
    (engine / ENGINE_MARKER).write_text("{}")
    monkeypatch.setattr("sargasses_qgis.ui.installer_dialog.installed_engine_dir", lambda: engine)
    monkeypatch.setattr("sargasses_qgis.ui.installer_dialog.nvidia_gpu", lambda: "")
    seen: list[str] = []
    tasks_before = len(QgsApplication.taskManager().tasks())
    cancel_the_next_question(seen)
    dock.finetune_box.needsFullEngine.emit()  # what the message bar's button sends
    assert seen and "Fine-tuning needs PyTorch" in seen[0] and "is kept and used until the new one" in seen[0]
    assert len(QgsApplication.taskManager().tasks()) == tasks_before
    assert (engine / ENGINE_MARKER).is_file()


def test_without_a_gpu_the_full_engine_is_pytorchs_cpu_build(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv(TORCH_CPU_INDEX_VAR, "file:///nowhere/torch-cpu")
    box, engines = install_question(gpu_name="", full=True)
    assert list(engines.values()) == [CPU_FULL_ENGINE] and "CPU build" in box.text()
    task = EngineInstallTask(target=tmp_path / "engine", source=tmp_path, engine=CPU_FULL_ENGINE)
    command = task.pip_command()
    assert command[command.index("--extra-index-url") + 1] == "file:///nowhere/torch-cpu"
    assert command[-1].endswith("[full]") and command[0].startswith(str(tmp_path / "engine.new"))
    box, engines = install_question(gpu_name="NVIDIA H200", full=True)
    assert list(engines.values()) == [GPU_ENGINE]  # a GPU: the CUDA build
    monkeypatch.delenv(TORCH_CPU_INDEX_VAR)
    box, engines = install_question(gpu_name="", full=True)
    assert "No NVIDIA GPU was seen" in box.text() and TORCH_CPU_INDEX_VAR in box.text()


# ---------------------------------------------------------------------- 2. the dock follows the new image
def test_the_dock_follows_new_and_active_rasters_until_one_is_picked(scene, qgis_iface, dock) -> None:
    first = add_raster(scene.tif, qgis_iface, "yesterday")
    assert dock.image_box.layer() is first
    second = add_raster(scene.tif, qgis_iface, "today")
    assert dock.image_box.layer() is second  # the newly added scene, not yesterday's
    dock.image_box.follow(first)  # the user makes yesterday's active in the layer panel
    assert dock.image_box.layer() is first
    # The user picks one in the dock: it stays, whatever is added or activated.
    combo = dock.image_box.layer_combo
    combo.setLayer(second)
    combo.activated.emit(combo.currentIndex())
    third = add_raster(scene.tif, qgis_iface, "tomorrow")
    dock.image_box.follow(third)
    assert dock.image_box.layer() is second and dock.image_box.picked_by_hand
    # A run's own rasters are never followed.
    QgsProject.instance().removeMapLayer(second.id())  # the picked one goes: follow again
    assert not dock.image_box.picked_by_hand
    from sargasses_qgis.results import RESULT_PROPERTY

    probabilities = QgsRasterLayer(str(scene.tif), "Sargassum probability")
    probabilities.setCustomProperty(RESULT_PROPERTY, "a run")
    QgsProject.instance().addMapLayer(probabilities)
    assert dock.image_box.layer() is not probabilities


# ---------------------------------------------------------------------- 5. sizes
def test_long_texts_fit_the_message_bar_and_the_installer_dialog(qgis_iface, dock) -> None:
    from sargasses_qgis.ui.installer_dialog import InstallerDialog

    long = "The engine could not read " + "/very/long/folder" * 20 + "/scene.tif. Check the file and run again."
    qgis_iface.messageBar().clear_messages()
    dock._report(long)
    shown = qgis_iface.messageBar().get_messages(Qgis.MessageLevel.Warning)[-1]
    assert len(shown) <= 170 and shown.startswith("Sargasses:The engine could not read"), shown
    dialog = InstallerDialog()
    dialog.show()
    dialog.status.setText("Getting " + "a-very-long-package-name-" * 40)
    QApplication.processEvents()
    screen = QApplication.primaryScreen().availableGeometry().width()
    assert dialog.width() <= min(screen, 800), dialog.width()
    dialog.close()


def test_the_card_gets_its_full_height(scene, qgis_iface, dock) -> None:
    layer = add_raster(scene.tif, qgis_iface)
    choose_layer(dock, layer, scene.method)
    dock.resize(340, 900)
    wait_for(lambda: False, 0.3)
    label = dock.model_box.card_label
    assert label.height() >= label.heightForWidth(label.width()) - 2, (
        label.height(),
        label.heightForWidth(label.width()),
    )


# ---------------------------------------------------------------------- 6. the button
def test_the_button_is_on_a_toolbar_of_its_own(plugin) -> None:
    assert plugin.toolbar.objectName() == "SargassesToolbar"
    assert plugin.run_action in plugin.toolbar.actions()


# ---------------------------------------------------------------------- 7. names and levels
def test_a_level_said_in_the_dock_reaches_the_rafts(scene, qgis_iface, dock) -> None:
    layer = add_raster(scene.tif, qgis_iface)
    choose_layer(dock, layer, "afai")
    levels = dock.image_box.level_combo
    levels.setCurrentIndex(levels.findData("sentinel2_l1c"))
    task = run_and_wait(dock)
    assert task.outcome is not None, task.error
    assert task.job.options["sensor"] == "sentinel2_l1c"
    rafts = dock.last_layer
    assert rafts.featureCount() > 0 and {f["sensor"] for f in rafts.getFeatures()} == {"sentinel2_l1c"}
    from sargasses_qgis.ui.export_dialog import export_stem

    assert export_stem(rafts) == f"{scene.tif.stem}_{task.outcome.summary['acquisition_date'][:10]}_rafts"
    levels.setCurrentIndex(0)


def test_natural_and_false_colour_of_named_bands(scene, qgis_iface, dock) -> None:
    layer = add_raster(scene.tif, qgis_iface)
    assert dock.image_box.natural_button.isEnabled() and dock.image_box.false_button.isEnabled()
    assert dock.image_box.show_colours("false")
    names = [layer.bandName(i) for i in range(1, layer.bandCount() + 1)]
    renderer = layer.renderer()
    picked = [renderer.redBand(), renderer.greenBand(), renderer.blueBand()]
    assert [names[i - 1].split(":")[-1].strip() for i in picked] == ["B8A", "B04", "B03"], names
    assert dock.image_box.show_colours("natural") and layer.renderer().redBand() == 3


def test_processing_result_is_named_after_its_scene_and_markable(plugin, scene, qgis_new_project) -> None:
    import processing

    from sargasses_qgis import labelling

    result = processing.runAndLoadResults(
        "sargasses:detect", {"INPUT": str(scene.tif), "OUTPUT": "TEMPORARY_OUTPUT", "METHOD": 1}
    )
    layer = QgsProject.instance().mapLayer(result["OUTPUT"])
    assert isinstance(layer, QgsVectorLayer) and scene.tif.stem in layer.name()
    assert labelling.is_markable(layer)
    assert layer.customProperty(labelling.SCENE_PROPERTY) == str(scene.tif.absolute())
