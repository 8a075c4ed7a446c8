"""`sargasses fit|validate|test|predict --config FILE`: Lightning's CLI over SargassesLightningModule and
SargassesDataModule, so `--print_config`, `-c a.yaml -c b.yaml`, `--trainer.fast_dev_run` and dotted overrides
work as Lightning users expect.

The only addition is a link: the DataModule's `input_card` (sensor, bands, GSD, normalization, tile size) is handed
to the LightningModule when both are built, so the checkpoint carries the model card and cannot disagree with the
data it was trained on.
"""

from __future__ import annotations

import pickle
import sys
import warnings
from pathlib import Path

from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from sargasses.errors import SargassesError
from sargasses.training.datamodule import SargassesDataModule
from sargasses.training.plmodule import SargassesLightningModule


class SargassesLightningCLI(LightningCLI):
    """LightningCLI with the data -> model card link; configs live in configs/ (see docs/config_files.md)."""

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("data.input_card", "model.input_card", apply_on="instantiate")


def _root_cause(exc: BaseException) -> SargassesError | None:
    """jsonargparse may wrap an error raised while building a class; find ours inside."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, SargassesError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def _checkpoint_error(exc: BaseException, argv: list[str]) -> SargassesError | None:
    """An error of torch.load on `--ckpt_path` (a file that is not a checkpoint, or one holding code, which
    torch refuses to run): one line naming the file, not torch's traceback."""
    import traceback

    if not any(
        Path(frame.filename).match("torch/serialization.py") for frame in traceback.extract_tb(exc.__traceback__)
    ):
        return None
    given = [a.split("=", 1)[1] for a in argv if a.startswith("--ckpt_path=")]
    given += [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--ckpt_path"]
    name = given[-1] if given else "the checkpoint"
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
    if isinstance(exc, pickle.UnpicklingError):  # torch's text tells how to run the code: not what a user should do
        reason = "it holds code or objects that are not weights, which torch refuses to load"
    return SargassesError(
        f"cannot load {name} ({reason}); give a checkpoint written by `sargasses fit` (code in a checkpoint is "
        "never run)"
    )


def run_lightning_cli(argv: list[str]) -> int:
    """Run one LightningCLI sub-command; a SargassesError becomes one line on stderr and exit status 1."""
    # `sargasses fit ...` passes its own argv; sys.argv must stay as is, since DDP relaunches it on every rank
    warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended to run from within Python")
    try:
        SargassesLightningCLI(
            SargassesLightningModule,
            SargassesDataModule,
            args=list(argv),
            save_config_kwargs={"overwrite": True},
        )
    except SystemExit as exc:  # argparse's --help, --print_config and usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception as exc:
        cause = _root_cause(exc) or _checkpoint_error(exc, argv)
        if cause is None:
            raise
        print(f"sargasses: error: {cause}", file=sys.stderr)
        return 1
    return 0
