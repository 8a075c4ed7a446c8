"""The engine installer as the user meets it: the question (what, how big, CPU or GPU engine), the progress read
from pip's real output, and the NVIDIA GPU check. The install itself and Cancel: test_engine.py."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import cancel_the_next_question
from qgis.PyQt.QtCore import QTimer
from qgis.PyQt.QtWidgets import QApplication, QMessageBox

from sargasses_qgis.engine_installer import (
    CPU_ENGINE,
    FETCH_SHARE,
    GPU_ENGINE,
    PipProgress,
    nvidia_gpu,
)
from sargasses_qgis.ui.installer_dialog import ask_engine, install_question

RECORDED_PIP = Path(__file__).resolve().parent / "data" / "pip_install_engine.txt"  # pip 23.2, the CPU engine


def _texts(box: QMessageBox) -> list[str]:
    return [button.text() for button in box.buttons()]


def test_question_names_the_cpu_engine_and_its_sizes_without_a_gpu() -> None:
    box, engines = install_question(gpu_name="")
    text = box.text()
    assert "CPU engine" in text and "no PyTorch" in text
    assert f"{CPU_ENGINE.download_mb} MB to download" in text and f"{CPU_ENGINE.disk_mb} MB on disk" in text
    assert "GPU" not in text and list(engines.values()) == [CPU_ENGINE]
    assert box.defaultButton().text() == f"Install the CPU engine ({CPU_ENGINE.disk_mb} MB)"
    assert "Cancel" in " ".join(_texts(box))


def test_question_offers_the_gpu_engine_when_an_nvidia_gpu_is_present() -> None:
    box, engines = install_question(gpu_name="NVIDIA H200")
    text = box.text()
    assert "NVIDIA H200" in text and "GPU engine" in text and "CUDA" in text
    assert f"{GPU_ENGINE.download_mb / 1000:.1f} GB to download" in text
    assert f"{GPU_ENGINE.disk_mb / 1000:.1f} GB on disk" in text
    assert sorted(e.key for e in engines.values()) == ["cpu", "gpu"]
    assert box.defaultButton() is next(b for b, e in engines.items() if e is CPU_ENGINE)  # CPU stays the default


def _answer_with(label_start: str) -> None:
    """Click the button of the open question whose text starts with `label_start` (as the user would)."""

    def click() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, click)
            return
        next(b for b in box.buttons() if b.text().replace("&", "").startswith(label_start)).click()

    QTimer.singleShot(20, click)


def test_the_answer_picks_the_engine_and_cancel_installs_nothing() -> None:
    _answer_with("Install the GPU engine")
    assert ask_engine(gpu_name="NVIDIA H200") is GPU_ENGINE
    _answer_with("Install the CPU engine")
    assert ask_engine(gpu_name="") is CPU_ENGINE
    _answer_with("Cancel")
    assert ask_engine(gpu_name="NVIDIA H200") is None


def test_progress_follows_pip_package_by_package_then_megabytes_written() -> None:
    progress = PipProgress(CPU_ENGINE, start_mb=20.0)
    updates = [u for u in (progress.feed(line) for line in RECORDED_PIP.read_text().splitlines()[:-1]) if u]
    shares = [share for share, _ in updates]
    statuses = [status for _, status in updates]
    assert shares == sorted(shares) and 0 < shares[0] < 0.05
    fetched = [s for s in statuses if s.startswith("Getting ")]
    assert len(fetched) == CPU_ENGINE.packages == 20  # every package pip fetched, counted
    assert fetched[0] == f"Getting sargasses (1 of about {CPU_ENGINE.packages} packages)"
    assert "Getting onnxruntime (3 of about" in fetched[2]
    assert "Downloading rasterio-1.4.4-cp311-cp311-manylinux_2_28_x86_64.whl (35.9 MB)" in statuses
    assert shares[-1] == FETCH_SHARE and statuses[-1].startswith("Installing 20 packages: 20 of about")
    # pip is silent while it writes: the environment's size moves the bar, never past 99 % of the step
    half = progress.written(20.0 + (CPU_ENGINE.disk_mb - 20.0) / 2)
    assert half is not None and abs(half[0] - (FETCH_SHARE + (1 - FETCH_SHARE) / 2)) < 1e-6
    assert (
        half[1]
        == f"Installing 20 packages: {20 + (CPU_ENGINE.disk_mb - 20) / 2:.0f} of about {CPU_ENGINE.disk_mb} MB written"
    )
    assert progress.written(5000.0)[0] < 1.0
    assert progress.written(10.0)[0] == progress.written(5000.0)[0]  # never goes back
    done = progress.feed(RECORDED_PIP.read_text().splitlines()[-1])
    assert done == (1.0, "Installed; checking the new engine")


def test_written_says_nothing_before_pip_writes() -> None:
    assert PipProgress(CPU_ENGINE).written(300.0) is None


def test_nvidia_gpu_is_read_from_nvidia_smi(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert nvidia_gpu() == ""  # no nvidia-smi: no GPU engine offered
    tool = tmp_path / "nvidia-smi"
    tool.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H200 (UUID: GPU-5f0c7a61-0000-1111-2222-333344445555)'\n")
    tool.chmod(0o755)
    assert nvidia_gpu() == "NVIDIA H200"
    tool.write_text(
        "#!/bin/sh\necho 'NVIDIA-SMI has failed because it could not communicate with the driver' >&2\nexit 9\n"
    )
    assert nvidia_gpu() == ""  # a driver that does not answer: no GPU


def test_recorded_pip_output_is_the_cpu_engine() -> None:
    """The recording is what pip printed installing the CPU engine here: no torch in it."""
    text = RECORDED_PIP.read_text()
    assert "onnxruntime" in text and "torch" not in text and os.path.getsize(RECORDED_PIP) < 10_000


def test_the_dock_button_asks_before_anything_is_installed(dock, monkeypatch, tmp_path: Path) -> None:
    """Install detection engine… in the dock: the question first; Cancel there starts no task and no dialog."""
    from qgis.core import QgsApplication

    monkeypatch.setattr("sargasses_qgis.ui.installer_dialog.nvidia_gpu", lambda: "")
    monkeypatch.setattr("sargasses_qgis.ui.installer_dialog.installed_engine_dir", lambda: tmp_path / "engine")
    seen: list[str] = []
    tasks_before = len(QgsApplication.taskManager().tasks())
    cancel_the_next_question(seen)
    dock.engine_box.install_button.click()
    assert seen and "CPU engine" in seen[0] and str(tmp_path / "engine") in seen[0]
    assert len(QgsApplication.taskManager().tasks()) == tasks_before
    assert not (tmp_path / "engine").exists()
