"""The same config scales out with Lightning's DDP: two CPU processes train one model and write one checkpoint."""

from __future__ import annotations

import json

import torch
from training_helpers import TINY_CONFIG, data_args, run_sargasses, write_tiny_scenes

from sargasses.training.plmodule import SargassesLightningModule


def test_fit_with_two_ddp_processes(tmp_path):
    folders = write_tiny_scenes(tmp_path / "data")
    probe = tmp_path / "ranks"
    result = run_sargasses(
        [
            "fit",
            "--config",
            str(TINY_CONFIG),
            *data_args(folders),
            "--trainer.accelerator=cpu",
            "--trainer.devices=2",
            "--trainer.strategy=ddp",
            "--trainer.callbacks+=ddp_probe.RankProbe",
            f"--trainer.callbacks.output_dir={probe}",
        ],
        cwd=tmp_path,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    reports = [json.loads((probe / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert [r["rank"] for r in reports] == [0, 1]
    assert all(r["world_size"] == 2 and r["strategy"] == "DDPStrategy" for r in reports)
    # each rank trained on its half of the crops (16 crops, batch 8: one batch each) ...
    assert all(r["batches"] == 1 for r in reports)
    # ... and DDP kept the weights identical on both ranks
    assert abs(reports[0]["checksum"] - reports[1]["checksum"]) < 1e-6
    [checkpoint] = list((tmp_path / "lightning_logs").glob("tiny/version_*/checkpoints/*.ckpt"))
    model = SargassesLightningModule.load_from_checkpoint(checkpoint, map_location="cpu")
    assert model.input_card["band_names"][0] == "B02"
    saved = sum(p.detach().double().sum() for p in model.parameters())
    assert abs(float(saved) - reports[0]["checksum"]) < 1e-6
    assert torch.isfinite(model(torch.zeros(1, 10, 64, 64))).all()
