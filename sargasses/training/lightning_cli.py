"""`sargasses fit|validate|test|predict --config FILE`: Lightning's CLI over SargassesLightningModule and
SargassesDataModule, so `--print_config`, `-c a.yaml -c b.yaml`, `--trainer.fast_dev_run` and dotted overrides
work as Lightning users expect.

The only addition is a link: the DataModule's `input_card` (sensor, bands, GSD, normalization, tile size) is handed
to the LightningModule when both are built, so the checkpoint carries the model card and cannot disagree with the
data it was trained on.
"""

from __future__ import annotations

import sys
import warnings

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
        cause = _root_cause(exc)
        if cause is None:
            raise
        print(f"sargasses: error: {cause}", file=sys.stderr)
        return 1
    return 0
