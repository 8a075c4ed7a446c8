"""The whole fine-tune loop on scenes with planted rafts and planted false positives (green algae, which the bundled
model flags): detect, mark as a user does, fine-tune, and check on a new scene of the same kind that the marked kind
of false positive is gone and the rafts are still found. Also: the labels file is read-only to a fine-tune, the new
card records its lineage, and `sargasses evaluate --against` compares the two model files."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from finetune_helpers import mark_like_a_user, write_lookalike_scene

from sargasses.detection.options import DetectOptions
from sargasses.detection.run import run_detection
from sargasses.evaluation.metrics import score_detection
from sargasses.model_file import default_model_path, read_card
from sargasses.reading.labels import read_label
from sargasses.reading.scene import open_scene
from sargasses.training.finetune import FinetuneOptions, run_finetune
from sargasses.training.label_store import rasterize_store, store_scenes

TRAIN_SEEDS = (601, 602, 603)  # three dates: two to train on, one held back
NEW_SEED = 611  # never seen: the scene the fine-tuned model is judged on


def _detect(image: str, output: Path, model: Path | None = None) -> Path:
    run_detection(DetectOptions(input=image, output=str(output), model=str(model) if model else None))
    return output


def _judge(scene: dict, detections: Path) -> tuple[float, float]:
    """(share of the planted algae patches flagged, object recall of the planted rafts)."""
    lookalikes = np.load(scene["lookalikes"])
    with open_scene(scene["image"]) as grid:
        detected = read_label(detections, grid) == 1
        truth = read_label(Path(scene["label"]), grid)
    from scipy.ndimage import label as components

    patches, count = components(lookalikes)
    flagged = len(set(np.unique(patches[detected & (patches > 0)]))) / max(count, 1)
    return flagged, score_detection(detected, truth).objects.recall


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("coast")
    store = folder / "sargasses_labels.gpkg"
    marks = {"sargassum": 0, "false_positive": 0}
    for seed in TRAIN_SEEDS:
        scene = write_lookalike_scene(folder, seed)
        detections = _detect(scene["image"], folder / f"run_{seed}.gpkg")
        mask = np.load(scene["lookalikes"])
        for kind, n in mark_like_a_user(store, Path(scene["image"]), detections, mask, scene["date"]).items():
            marks[kind] += n
    digest = hashlib.sha256(store.read_bytes()).hexdigest()
    output = folder / "models" / "coast.sargasses"
    output.parent.mkdir()
    report = run_finetune(FinetuneOptions(labels=str(store), output=str(output), epochs=8, device="cpu"))
    return {"folder": folder, "store": store, "digest": digest, "marks": marks, "report": report, "model": output}


def test_the_default_model_flags_the_planted_algae(loop) -> None:
    assert loop["marks"]["false_positive"] >= 20, loop["marks"]  # the bundled model's mistake the user corrects
    assert loop["marks"]["sargassum"] >= 10, loop["marks"]


def test_marks_rasterize_as_the_user_meant(loop) -> None:
    scene = store_scenes(loop["store"])[0]
    with open_scene(scene.image) as grid:
        label = rasterize_store(loop["store"], str(scene.image), grid)
        truth = read_label(Path(str(scene.image).replace(".tif", "_label.tif")), grid)
    lookalikes = np.load(str(scene.image).replace(".tif", "_lookalikes.npy"))
    assert set(np.unique(label)) <= {0, 1, 255}
    assert (label[lookalikes] == 0).mean() > 0.9  # marked false positives are negatives
    assert (truth[label == 1] != 0).mean() > 0.95  # confirmed detections lie on rafts (or their unscored rims)
    assert (label == 0).mean() > 0.9  # the looked-at scene: everything else is not Sargassum


def test_finetune_removes_the_marked_false_positives_and_keeps_the_rafts(loop, tmp_path: Path) -> None:
    scene = write_lookalike_scene(tmp_path, NEW_SEED)
    before = _judge(scene, _detect(scene["image"], tmp_path / "parent.gpkg"))
    after = _judge(scene, _detect(scene["image"], tmp_path / "child.gpkg", loop["model"]))
    assert before[0] >= 0.7, before  # the parent flags most algae patches on the new scene
    assert after[0] <= 0.2, after  # the fine-tuned one hardly any
    assert after[1] >= 0.85 and after[1] >= before[1] - 0.05, (before, after)  # and still finds the rafts


def test_the_report_and_the_card_record_lineage_and_before_after(loop) -> None:
    report, card = loop["report"], read_card(loop["model"])
    record = card.metrics["finetune"]
    assert record["parent"]["path"] == str(default_model_path()) and card.name.endswith("-coast")
    assert record["trained_on"]["scenes"] == 2 and record["trained_on"]["false_positive"] > 0
    assert [s["split"] for s in record["scenes"]].count("held_back") == 1
    held = report["held_back"]
    assert held["after"]["false_positive_pixels"] < 0.3 * held["before"]["false_positive_pixels"], held
    check = report["check_scene"]
    assert check["after"]["f1"] > 0.85, check  # the bundled check scene: still good
    assert card.threshold == read_card(default_model_path()).threshold
    assert all("F1" in w or "rafts" in w for w in report["warnings"])


def test_the_labels_file_is_only_read(loop) -> None:
    assert hashlib.sha256(loop["store"].read_bytes()).hexdigest() == loop["digest"]
    with pytest.raises(Exception, match="never replaces"):
        run_finetune(FinetuneOptions(labels=str(loop["store"]), output=str(loop["model"]), epochs=1))


def test_evaluate_compares_two_model_files_on_the_labels(loop, tmp_path: Path, capsys) -> None:
    from sargasses.evaluation.cli import main

    report = tmp_path / "compare.json"
    code = main(
        [
            str(loop["store"]),
            "--model",
            str(loop["model"]),
            "--against",
            str(default_model_path()),
            "--json",
            str(report),
        ]
    )
    assert code == 0
    table = capsys.readouterr().out
    assert "coast.sargasses" in table and default_model_path().name in table
    rows = json.loads(report.read_text())["models"]
    new, old = rows[loop["model"].name], rows[default_model_path().name]
    assert new["false_positive_pixels"] < old["false_positive_pixels"]


def test_a_cancelled_finetune_writes_nothing(loop) -> None:
    import threading

    from sargasses.errors import DetectionCancelled

    cancel = threading.Event()
    seen: list[str] = []

    def progress(fraction: float, message: str) -> None:
        seen.append(message)
        if message.startswith("Fine-tuning on"):
            cancel.set()  # as the engine does on a `cancel` request: the next batch stops it

    output = loop["folder"] / "models" / "cancelled.sargasses"
    with pytest.raises(DetectionCancelled):
        run_finetune(FinetuneOptions(labels=str(loop["store"]), output=str(output), epochs=3), progress, cancel)
    assert not output.exists() and not any(m.startswith("epoch") for m in seen), seen
