"""A callback for the DDP test: each rank writes what it trained (imported by `sargasses fit` through PYTHONPATH)."""

from __future__ import annotations

import json
from pathlib import Path

from lightning.pytorch.callbacks import Callback


class RankProbe(Callback):
    def __init__(self, output_dir: str) -> None:
        self.output_dir = Path(output_dir)
        self.batches = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.batches += 1

    def on_train_end(self, trainer, pl_module) -> None:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        checksum = float(sum(p.detach().double().sum() for p in pl_module.parameters()))
        report = {
            "rank": trainer.global_rank,
            "world_size": trainer.world_size,
            "batches": self.batches,
            "checksum": checksum,
            "strategy": type(trainer.strategy).__name__,
        }
        (self.output_dir / f"rank{trainer.global_rank}.json").write_text(json.dumps(report))
