"""A setuptools build step: the wheel carries resources/default_model.sargasses as sargasses/_bundled/.

resources/ stays the model's home in the repository; any wheel built from the tree (`pip install .`,
`pip wheel .`, scripts/build_plugin.py) gets a copy, so `sargasses detect` works after a plain install
(model_file.default_model_path looks in sargasses/_bundled/). pyproject.toml names this class in
[tool.setuptools.cmdclass]. A tree without a trained model builds a wheel without one, and says so.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools.command.build_py import build_py

MODEL = Path(__file__).resolve().parent.parent / "resources" / "default_model.sargasses"


class BuildPyWithModel(build_py):
    def run(self) -> None:
        super().run()
        if not MODEL.is_file():
            self.announce(f"no {MODEL}: the wheel carries no default model", level=3)
            return
        target = Path(self.build_lib) / "sargasses" / "_bundled" / MODEL.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(MODEL, target)
