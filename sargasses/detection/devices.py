"""Which device runs the model: CUDA, then Apple's MPS, then the CPU; and how many CPU threads there are.

Answered without importing torch where no GPU can exist, so CPU runs from an ONNX graph never load it; the CPU
engine has no torch at all and always runs on the CPU."""

from __future__ import annotations

import os
import platform
import re
import sys
from dataclasses import dataclass
from typing import Any

from sargasses.errors import SargassesError


def torch_module() -> Any:
    """torch, imported only when a path needs it (seconds and hundreds of MB); the CPU engine has none."""
    try:
        import torch
    except ImportError:
        raise SargassesError(
            "this needs PyTorch, which this environment lacks (the CPU engine detects without it); "
            "install the full engine: pip install 'sargasses[full]'"
        ) from None
    return torch


def torch_installed() -> bool:
    """Whether torch can be imported here (it is then imported: call this only where torch would be used)."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class DeviceChoice:
    kind: str  # "cuda", "mps" or "cpu"
    name: str  # for people: the GPU's name or the CPU's thread count
    torch_device: str = ""  # e.g. "cuda:1"; defaults to kind

    def __post_init__(self) -> None:
        self.torch_device = self.torch_device or self.kind


def _gpu_possible() -> bool:
    """Could PyTorch see a GPU here? Answered without importing torch (seconds and hundreds of MB) when the
    machine has no GPU driver at all, so CPU runs never load it."""
    if sys.modules.get("torch") is not None:
        return True
    if sys.platform == "darwin":
        return platform.machine() == "arm64"
    if sys.platform.startswith("linux"):
        return any(os.path.exists(p) for p in ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/kfd"))
    if sys.platform == "win32":
        system = os.environ.get("SYSTEMROOT", r"C:\Windows")
        return os.path.exists(os.path.join(system, "System32", "nvcuda.dll"))
    return True


def choose_device(requested: str = "auto") -> DeviceChoice:
    """`auto` takes CUDA, then MPS (Apple), then the CPU; a device asked for but absent is an error."""
    requested = (requested or "auto").lower()
    if requested not in ("auto", "cpu", "cuda", "mps") and not re.fullmatch(r"cuda:\d+", requested):
        raise SargassesError(f"unknown device {requested!r}; use auto, cpu, cuda, cuda:N or mps")
    cpu = DeviceChoice("cpu", f"CPU ({cpu_threads()} threads)")
    if requested == "cpu" or (requested == "auto" and not _gpu_possible()):
        return cpu
    if not torch_installed():  # the CPU engine
        if requested == "auto":
            return cpu
        raise SargassesError(
            f"--device {requested} needs the GPU engine (PyTorch), which this environment lacks; use --device cpu, "
            "or install the GPU engine (pip install 'sargasses[full]')"
        )
    torch = torch_module()
    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if requested == "auto":
        requested = "cuda" if cuda else "mps" if mps else "cpu"
    if requested.startswith("cuda"):
        if not cuda:
            raise SargassesError("--device cuda was asked but PyTorch sees no CUDA GPU; use --device auto or cpu")
        index = int(requested.split(":")[1]) if ":" in requested else 0
        if index >= torch.cuda.device_count():
            raise SargassesError(f"--device {requested}: there are {torch.cuda.device_count()} CUDA GPU(s), from 0")
        return DeviceChoice("cuda", f"CUDA GPU {torch.cuda.get_device_name(index)}", f"cuda:{index}")
    if requested == "mps":
        if not mps:
            raise SargassesError("--device mps was asked but PyTorch sees no Apple GPU; use --device auto or cpu")
        return DeviceChoice("mps", "Apple GPU (MPS)")
    return cpu


def cpu_threads() -> int:
    """The CPU threads a detection uses: SARGASSES_CPU_THREADS when set (a monitoring worker's share of the
    machine: sargasses/monitor/scene_task.py), else every CPU this process may run on."""
    if os.environ.get("SARGASSES_CPU_THREADS", "").isdigit():
        return max(1, int(os.environ["SARGASSES_CPU_THREADS"]))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)
