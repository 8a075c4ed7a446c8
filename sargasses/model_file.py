"""The sargasses model file: one file that holds a trained network and everything needed to use it right.

A model file (`.sargasses`, sargasses.model_archive) is a zip of the card (JSON), the network as an ONNX graph
(reflectance in, probabilities out, the card's normalization inside) and its weights (plain arrays). Detection on a
CPU needs only the card and the graph: `read_card` and `read_graph` import no torch. Opening a model file never
runs code: nothing in it is unpickled.

The weights are those of the bare mfai network (keys as in `build_network(card).state_dict()`). For the torch
engine (GPU) and training, the network is rebuilt from an ALLOWLIST of mfai classes named in the card; nothing
else can be instantiated. `load_model_file` wraps it in `ProbabilityModel`: reflectance in, probabilities out,
the per-band normalization inside, which is also what the graph holds.

Format 1 (`.pt`, a `torch.save` of the card and tensors, loaded with `torch.load(weights_only=True)`) is still
read where torch is installed; `sargasses convert-model` turns it into a `.sargasses` file.
"""

from __future__ import annotations

import contextvars
import copy
import dataclasses
import datetime as _dt
import importlib
import math
import os
import pickle
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sargasses.errors import SargassesError
from sargasses.model_archive import FORMAT, SUFFIX, is_model_archive, read_model_archive, write_model_archive

LEGACY_FORMAT_VERSION = 1  # a torch.save pickle (.pt): read with torch only
DEFAULT_MODEL_NAME = f"default_model{SUFFIX}"
# Set while a card is read without torch: the architecture's settings are then not checked against mfai (which
# would import torch); the torch loader checks them when it builds the network.
_CARD_ONLY: contextvars.ContextVar[bool] = contextvars.ContextVar("sargasses_card_only", default=False)

# architecture name -> (module, network class, settings class). Only these can be built from a model file.
ARCHITECTURES: dict[str, tuple[str, str, str]] = {
    "HalfUNet": ("mfai.pytorch.models.half_unet", "HalfUNet", "HalfUNetSettings"),
    "UNet": ("mfai.pytorch.models.unet", "UNet", "UNetSettings"),
    "Segformer": ("mfai.pytorch.models.segformer", "Segformer", "SegformerSettings"),
}


def _plain(value: Any) -> Any:
    """Tuples to lists, numpy scalars to Python: the card must hold only types `weights_only` accepts."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return value.item()
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise SargassesError(f"model card value {value!r} of type {type(value).__name__} cannot be stored")


@dataclass
class ModelCard:
    """What a model needs to be used right, stored beside its weights."""

    name: str
    version: str
    sensor: str  # sensor profile name, e.g. "sentinel2_l2a"
    band_names: list[str]
    gsd_m: float
    normalization: dict[str, list[float]]  # {"mean": [...], "std": [...]} per band, applied to reflectance
    architecture: dict[str, Any]  # {"name", "settings", "in_channels", "out_channels", "input_shape"}
    scaling: str | dict[str, Any] = "reflectance"  # "reflectance": the model takes reflectance 0-1
    tile_size: int = 512
    tile_overlap: int = 64
    threshold: float = 0.5
    metrics: dict[str, Any] = field(default_factory=dict)
    trained_on: str = ""
    # other sensor profiles the model was trained to take as well, e.g. ["sentinel2_l1c"] beside "sentinel2_l2a"
    accepted_sensors: list[str] = field(default_factory=list)
    created: str = field(default_factory=lambda: _dt.date.today().isoformat())
    description: str = ""

    def __post_init__(self) -> None:
        self.validate()

    @property
    def sensors(self) -> list[str]:
        """Every sensor profile the model takes: its own first."""
        return [self.sensor, *self.accepted_sensors]

    # ----------------------------------------------------------------- validation
    def validate(self) -> None:
        """Refuse a card that would build the wrong network or feed it the wrong data."""

        def bad(why: str) -> SargassesError:
            return SargassesError(f"invalid model card ({self.name!r}): {why}; re-export the model file")

        if not isinstance(self.band_names, (list, tuple)) or not self.band_names:
            raise bad("band_names must be a non-empty list")
        self.band_names = [str(b) for b in self.band_names]
        if len(set(self.band_names)) != len(self.band_names):
            raise bad(f"band_names has duplicates: {self.band_names}")
        n = len(self.band_names)
        arch = self.architecture
        if not isinstance(arch, dict) or "name" not in arch:
            raise bad("architecture must be a dict with a 'name'")
        if arch["name"] not in ARCHITECTURES:
            raise SargassesError(
                f"model card ({self.name!r}) names architecture {arch['name']!r}, which sargasses does not build; "
                f"allowed: {', '.join(ARCHITECTURES)}. Use a model file made by `sargasses export-model`."
            )
        arch.setdefault("settings", {})
        arch.setdefault("in_channels", n)
        arch.setdefault("out_channels", 1)
        arch.setdefault("input_shape", [int(self.tile_size), int(self.tile_size)])
        if not isinstance(arch["settings"], dict):
            raise bad("architecture settings must be a dict")
        if int(arch["in_channels"]) != n:
            raise bad(f"architecture in_channels={arch['in_channels']} but {n} band_names")
        if int(arch["out_channels"]) != 1:
            raise bad("only binary models (out_channels=1) are supported")
        norm = self.normalization
        if not isinstance(norm, dict) or "mean" not in norm or "std" not in norm:
            raise bad("normalization must be {'mean': [...], 'std': [...]}")
        norm["mean"] = [float(v) for v in norm["mean"]]
        norm["std"] = [float(v) for v in norm["std"]]
        if len(norm["mean"]) != n or len(norm["std"]) != n:
            raise bad(f"normalization needs {n} means and stds, one per band")
        if any(not math.isfinite(v) for v in norm["mean"]) or any(
            not (math.isfinite(v) and v > 0) for v in norm["std"]
        ):
            raise bad("normalization means must be finite and stds finite and > 0")
        self.tile_size = int(self.tile_size)
        self.tile_overlap = int(self.tile_overlap)
        if self.tile_size < 16 or not (0 <= self.tile_overlap < self.tile_size // 2):
            raise bad(f"tile_size={self.tile_size} must be >= 16 and 0 <= tile_overlap < tile_size/2")
        self.threshold = float(self.threshold)
        if not 0.0 < self.threshold < 1.0:
            raise bad(f"threshold={self.threshold} must lie in (0, 1)")
        self.gsd_m = float(self.gsd_m)
        if not self.gsd_m > 0:
            raise bad("gsd_m must be > 0")
        if not isinstance(self.scaling, (str, dict)):
            raise bad("scaling must be a string or a dict")
        if not isinstance(self.accepted_sensors, (list, tuple)):
            raise bad("accepted_sensors must be a list of sensor profile names")
        self.accepted_sensors = [str(s) for s in self.accepted_sensors if str(s) != self.sensor]
        if not _CARD_ONLY.get():  # read_card skips it: no mfai (nor torch) import for a card already checked
            _settings_class(arch["name"])  # fails early on a broken mfai install
            _make_settings(arch["name"], arch["settings"])  # unknown settings keys are refused

    # ----------------------------------------------------------------- plain dicts
    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        if not isinstance(data, dict):
            raise SargassesError("model card is not a dict; the file is not a sargasses model file")
        names = {f.name for f in dataclasses.fields(cls)}
        required = {
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
        missing = sorted(required - set(data))
        if missing:
            raise SargassesError(f"model card lacks {', '.join(missing)}; re-export the model file")
        unknown = sorted(set(data) - names)
        if unknown:
            raise SargassesError(
                f"model card has unknown fields {', '.join(unknown)}: made by a newer sargasses? Upgrade sargasses."
            )
        return cls(**copy.deepcopy(data))


# --------------------------------------------------------------------- building the network
def _settings_class(arch_name: str) -> type:
    module_name, _, settings_name = ARCHITECTURES[arch_name]
    return getattr(importlib.import_module(module_name), settings_name)


def _make_settings(arch_name: str, settings: dict[str, Any]) -> Any:
    kls = _settings_class(arch_name)
    allowed = {f.name for f in dataclasses.fields(kls)}
    unknown = sorted(set(settings) - allowed)
    if unknown:
        raise SargassesError(
            f"{arch_name} has no settings {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))}); "
            "fix the model card or the training config"
        )
    # JSON/YAML give lists where mfai expects tuples (e.g. Segformer dims).
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}
    return kls(**values)


def build_network(card: ModelCard) -> Any:
    """The bare mfai network the card describes, freshly initialised (returns logits)."""
    arch = card.architecture
    module_name, class_name, _ = ARCHITECTURES[arch["name"]]
    kls = getattr(importlib.import_module(module_name), class_name)
    return kls(
        in_channels=int(arch["in_channels"]),
        out_channels=int(arch["out_channels"]),
        input_shape=tuple(int(v) for v in arch["input_shape"]),
        settings=_make_settings(arch["name"], arch["settings"]),
    )


def _torch():
    from sargasses.detection.devices import torch_module

    return torch_module()


def _probability_model_class():
    torch = _torch()
    nn = torch.nn

    class ProbabilityModel(nn.Module):
        """Reflectance (B, C, H, W) float32, NaN already replaced -> probabilities (B, 1, H, W) in [0, 1].

        mfai networks return logits (their Lightning module applies the sigmoid); the sigmoid and the card's
        per-band normalization live here so that every caller and every export gets them.
        """

        def __init__(self, network: nn.Module, mean: list[float], std: list[float]) -> None:
            super().__init__()
            self.network = network
            self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
            self.register_buffer("inv_std", (1.0 / torch.tensor(std, dtype=torch.float32)).view(1, -1, 1, 1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = (x - self.mean.to(x.dtype)) * self.inv_std.to(x.dtype)
            return torch.sigmoid(self.network(x))

    return ProbabilityModel


def probability_model(card: ModelCard, network: Any | None = None) -> Any:
    """Wrap a network (built from the card when not given) as reflectance -> probability, in eval mode."""
    kls = _probability_model_class()
    net = build_network(card) if network is None else network
    module = kls(net, card.normalization["mean"], card.normalization["std"])
    return module.eval()


@dataclass
class LoadedModel:
    card: ModelCard
    module: Any  # ProbabilityModel (torch.nn.Module) in eval mode
    path: Path | None = None

    @property
    def device(self) -> Any:
        return next(self.module.parameters()).device


# --------------------------------------------------------------------- saving and loading
_PREFIXES = ("model.", "network.", "net.")


def _strip_prefix(state_dict: dict[str, Any], expected: set[str]) -> dict[str, Any]:
    """Accept a Lightning module's state_dict too ("model.xxx"): training code should not have to care."""
    if set(state_dict) == expected:
        return state_dict
    for prefix in _PREFIXES:
        stripped = {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
        if set(stripped) == expected:
            return stripped
    return state_dict


def _check_weights(card: ModelCard, state_dict: dict[str, Any]) -> dict[str, Any]:
    """Load the weights into a fresh network so a mismatch is found when saving, not when a user detects."""
    torch = _torch()
    network = build_network(card)
    expected = set(network.state_dict())
    state_dict = _strip_prefix(dict(state_dict), expected)
    for key, value in state_dict.items():
        if not isinstance(value, torch.Tensor):
            raise SargassesError(f"state_dict entry {key!r} is not a tensor")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise SargassesError(
                f"weight {key!r} holds NaN or infinite values: a network with them gives no probabilities; "
                "use another model file, or train it again (a lower learning rate)"
            )
    try:
        network.load_state_dict(state_dict, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0:3]
        raise SargassesError(
            f"the weights do not fit a {card.architecture['name']} with the card's settings ({' '.join(first)}); "
            "check the architecture settings in the card"
        ) from None
    return state_dict


def save_model_file(path: str | os.PathLike, state_dict: dict[str, Any], card: ModelCard) -> Path:
    """Write one model file atomically: the card, the network's ONNX graph (exported here) and its weights."""
    from sargasses.detection.onnx_export import ONNX_OPSET, onnx_bytes

    torch = _torch()
    path = Path(path)
    if not isinstance(card, ModelCard):
        card = ModelCard.from_dict(card)
    card.validate()
    state_dict = _check_weights(card, state_dict)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise SargassesError(f"folder {folder} does not exist; create it first")
    network = build_network(card)
    network.load_state_dict(state_dict, strict=True)
    graph = onnx_bytes(LoadedModel(card=card, module=probability_model(card, network)))
    weights = {k: v.detach().to("cpu").contiguous().numpy() for k, v in state_dict.items()}
    exporter = f"torch {torch.__version__}, ONNX opset {ONNX_OPSET}"
    return write_model_archive(path, card.to_dict(), graph, weights, exporter)


def convert_model_file(source: str | os.PathLike, output: str | os.PathLike, force: bool = False) -> Path:
    """A model file of the old format (.pt) rewritten in the current one (its graph exported); needs torch."""
    output = Path(output)
    if output.exists() and not force:
        raise SargassesError(f"{output} exists; choose another name or add --force to replace it")
    card, state_dict = read_model_file(source)
    return save_model_file(output, state_dict, card)


def _checked_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.exists():
        raise SargassesError(f"model file {path} does not exist; give --model a sargasses model file ({SUFFIX})")
    if path.is_dir():
        raise SargassesError(f"model file {path} is a folder; give --model a sargasses model file ({SUFFIX})")
    return path


def _check_legacy(path: Path) -> None:
    """A file that is not in the current format must be a torch.save zip (format 1, `.pt`), and torch must be
    here to read it; anything else is refused unread, with what to do."""
    if not zipfile.is_zipfile(path):
        raise SargassesError(
            f"{path} is not a sargasses model file, or it is truncated or damaged; give a file made by "
            "`sargasses export-model` (copy or export it again)"
        )
    with zipfile.ZipFile(path) as archive:
        if not any(n.endswith("/data.pkl") and n.count("/") == 1 for n in archive.namelist()):
            raise SargassesError(f"{path} is not a sargasses model file (a zip without its manifest.json)")
    from sargasses.detection.devices import torch_installed

    if not torch_installed():
        raise SargassesError(
            f"{path} is a model file of the old format (.pt, a PyTorch file), which this engine cannot read without "
            f"PyTorch; convert it once where the full engine is installed: sargasses convert-model {path} "
            f"-o {path.with_suffix(SUFFIX).name}"
        )


def _card_without_torch(data: Any) -> ModelCard:
    token = _CARD_ONLY.set(True)
    try:
        return ModelCard.from_dict(data)
    finally:
        _CARD_ONLY.reset(token)


def read_card(path: str | os.PathLike) -> ModelCard:
    """The card of a model file, without torch (an old .pt file needs torch)."""
    path = _checked_path(path)
    if is_model_archive(path):
        return _card_without_torch(read_model_archive(path, graph=False).card)
    _check_legacy(path)
    return read_model_file(path)[0]


def read_graph(path: str | os.PathLike) -> tuple[ModelCard, bytes]:
    """The card and the ONNX graph that detection runs on a CPU: read from the file, without torch; an old .pt
    file's graph is exported from its weights (needs torch, a few seconds)."""
    path = _checked_path(path)
    if is_model_archive(path):
        archive = read_model_archive(path, graph=True)
        return _card_without_torch(archive.card), archive.graph
    _check_legacy(path)
    from sargasses.detection.onnx_export import onnx_bytes

    loaded = load_model_file(path)
    return loaded.card, onnx_bytes(loaded)


def read_model_file(path: str | os.PathLike) -> tuple[ModelCard, dict[str, Any]]:
    """Card and raw weights (torch tensors), without building the network. Never runs code from the file."""
    path = _checked_path(path)
    if is_model_archive(path):
        torch = _torch()
        # the graph is read too, though torch runs the weights: a file with a hostile graph is refused either way
        archive = read_model_archive(path, graph=True, weights=True)
        if not archive.weights:
            raise SargassesError(f"{path} holds no weights; export the model file again")
        return ModelCard.from_dict(archive.card), {k: torch.from_numpy(v.copy()) for k, v in archive.weights.items()}
    _check_legacy(path)
    return _read_legacy(path)


def _read_legacy(path: Path) -> tuple[ModelCard, dict[str, Any]]:
    """A format-1 file: `torch.load(weights_only=True)`, which never runs code from the file."""
    torch = _torch()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pickle-protocol chatter from foreign files; we report our own error
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SargassesError(
            f"{path} is not a sargasses model file or unsafe: it holds objects that could run code ({reason[:160]}); "
            "use a model file made by `sargasses export-model`"
        ) from None
    except Exception as exc:  # a corrupt file can raise almost anything from the unpickler
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SargassesError(
            f"{path} is not a sargasses model file or unsafe: it cannot be read ({reason[:160]}); "
            "the file may be truncated or corrupt: copy or export it again"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise SargassesError(
            f"{path} is not a sargasses model file (no '{FORMAT}' marker); a plain PyTorch or Lightning checkpoint "
            "must first go through `sargasses export-model`"
        )
    version = payload.get("format_version")
    if version != LEGACY_FORMAT_VERSION:
        raise SargassesError(
            f"{path} has model format version {version!r} in a PyTorch file, which no sargasses writes; "
            "use a model file made by `sargasses export-model`"
        )
    state_dict = payload.get("state_dict")
    if not isinstance(state_dict, dict) or not state_dict:
        raise SargassesError(f"{path} holds no weights; export the model file again")
    card = ModelCard.from_dict(payload.get("card"))
    return card, state_dict


def load_model_file(path: str | os.PathLike, device: str | Any = "cpu") -> LoadedModel:
    """Read a model file and build its module: reflectance in, probabilities out, eval mode, on `device`."""
    card, state_dict = read_model_file(path)
    network = build_network(card)
    network.load_state_dict(_check_weights(card, state_dict), strict=True)
    module = probability_model(card, network).to(device)
    for p in module.parameters():
        p.requires_grad_(False)
    return LoadedModel(card=card, module=module, path=Path(path))


def default_model_path() -> Path:
    """Where the bundled default model lies: the source tree's resources/, or the copy a wheel/plugin bundles."""
    package = Path(__file__).resolve().parent
    candidates = [
        Path(os.environ["SARGASSES_DEFAULT_MODEL"]) if os.environ.get("SARGASSES_DEFAULT_MODEL") else None,
        package / "_bundled" / DEFAULT_MODEL_NAME,
        package.parent / "resources" / DEFAULT_MODEL_NAME,
    ]
    for candidate in candidates:
        if candidate is not None and candidate.is_file():
            return candidate
    raise SargassesError(
        "no bundled default model found (looked in "
        + ", ".join(str(c) for c in candidates if c is not None)
        + "); give one with --model FILE, or use --method afai"
    )
