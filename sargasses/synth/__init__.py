"""Synthetic scenes: the generator moves to one file per step in the next commit; this keeps `sargasses.synth` working."""

from sargasses.synth.scene import *  # noqa: F403
