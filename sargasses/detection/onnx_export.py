"""The model as an ONNX graph: exported from the torch module into the model file, run by ONNX Runtime on the CPU."""

from __future__ import annotations

import io
import warnings
from typing import Any

from sargasses.detection.devices import torch_module
from sargasses.errors import SargassesError
from sargasses.model_archive import check_self_contained

ONNX_OPSET = 17  # what ONNX Runtime 1.18 and later run; written in each model file's manifest


def onnx_bytes(loaded: Any, sample_size: int = 64, blocked: bool = True) -> bytes:
    """The probability module as an ONNX graph; batch, height and width dynamic (multiples of 32).

    Traced on a small sample: tracing a full tile would hold all its activations (hundreds of MB). A side that
    is a multiple of 32 needs no padding inside mfai's networks, so the traced graph holds no padding step and
    serves every tile shape the grid makes (tests compare it with torch at several shapes). `blocked`: an mfai
    UNet is exported with its first level on 2x2 pixel blocks (sargasses.detection.unet_blocks: same probabilities, a third
    faster on a CPU); False exports the module as it is.
    """
    from sargasses.detection.unet_blocks import rewritten

    torch = torch_module()
    module = loaded.module.to("cpu").eval()
    if blocked:
        module = rewritten(module, len(loaded.card.band_names)) or module
    sample = torch.zeros(1, len(loaded.card.band_names), sample_size, sample_size)
    buffer = io.BytesIO()
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (sample,),
            buffer,
            input_names=["reflectance"],
            output_names=["probability"],
            dynamic_axes={"reflectance": axes, "probability": dict(axes)},
            opset_version=ONNX_OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    return buffer.getvalue()


def onnx_session(graph: bytes, threads: int) -> Any:
    """An ONNX Runtime session on a model file's graph; a graph that names files outside it, or that ONNX Runtime
    cannot load, refused in one line."""
    import onnxruntime as ort

    check_self_contained(graph, "the model file")

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    # The memory pattern pre-plans one block for every intermediate tensor; without it the arena reuses freed
    # blocks: 140 MB less for a 512 x 512 HalfUNet-16 tile at the same speed (docs/performance.md).
    options.enable_mem_pattern = False
    # Idle worker threads sleep instead of spinning: the spin would take the core the tile reader needs
    # (measured on 2 cores: the model ran 1.7x faster beside the reader with spinning off; docs/performance.md).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's errors (Fail, InvalidGraph, ...) share no public base class
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise SargassesError(
            f"ONNX Runtime cannot load the model file's graph ({reason}); export the model file again"
        ) from None
