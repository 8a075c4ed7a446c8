"""The `sargasses` command: one entry point, one sub-command per step of the flow.

fit/validate/test/predict go to LightningCLI untouched, so they behave exactly as Lightning users expect.
Each other sub-command lives in the module that does the work and exposes `main(argv)`.
"""

from __future__ import annotations

import importlib
import sys

LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")

# sub-command -> (module with main(argv), one-line help)
COMMANDS = {
    "detect": ("sargasses.detection.cli", "find Sargassum rafts on a raster and write polygons"),
    "search": ("sargasses.search.cli", "list the STAC items (scenes) over an area between two dates"),
    "monitor": ("sargasses.monitor.cli", "many scenes -> a catalogue, a gridded time series and per-sector cover"),
    "synth": ("sargasses.synth.cli", "write synthetic Sentinel-2 scenes with their label masks"),
    "export-model": ("sargasses.training.export_model", "make a distributable model file from a checkpoint"),
    "convert-model": ("sargasses.training.convert_model", "rewrite an old .pt model file as a .sargasses file"),
    "finetune": ("sargasses.training.finetune", "fine-tune a model file on the labels GeoPackage of the QGIS plugin"),
    "evaluate": (
        "sargasses.evaluation.cli",
        "score a model file against the AFAI / FAI baselines on labelled scenes",
    ),
    "engine": ("sargasses.engine.server", "serve detections to the QGIS plugin over stdin/stdout (JSON lines)"),
}


def usage() -> str:
    lines = ["usage: sargasses COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<13} LightningCLI: {name} a model from a YAML config" for name in LIGHTNING_COMMANDS]
    lines += [f"  {name:<13} {help_}" for name, (_, help_) in COMMANDS.items()]
    lines += ["", "Run `sargasses COMMAND --help` for the options of one command."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    command, rest = argv[0], argv[1:]
    if command in LIGHTNING_COMMANDS:
        from sargasses.training.lightning_cli import run_lightning_cli

        return run_lightning_cli([command, *rest])
    if command not in COMMANDS:
        print(f"sargasses: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[command][0])
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
