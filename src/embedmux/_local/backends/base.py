"""What every backend shares: the load spec, the ``Encoder`` protocol and its results."""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Literal, Protocol

from embedmux._exceptions import ConfigError
from embedmux._local.resources import Device

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

Strategy = Literal["lazy", "background", "progressive", "quantized", "onnx"]
STRATEGIES: tuple[Strategy, ...] = ("lazy", "background", "progressive", "quantized", "onnx")
ONNX_HINT = "pip install 'embedmux[onnx]'"
LOCAL_HINT = "pip install 'embedmux[local]'"


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """Everything a backend needs to load a model; built and validated by ``LocalProvider``."""

    model: str
    model_id: str
    strategy: Strategy
    device: Device
    normalize: bool
    max_seq_length: int | None
    batch_size: int | None
    profile_batch_size: int
    offline: bool
    cache_root: Path
    name: str


@dataclass(frozen=True, slots=True)
class QuantizationReport:
    """How close int8 vectors stay to fp32 ones, measured when the model was quantized."""

    cosine_mean: float
    cosine_min: float
    samples: int


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What was loaded, where and how it runs."""

    model_id: str
    path: str | None
    backend: str
    device: str
    batch_size: int
    dimensions: int
    max_seq_length: int
    export_path: str | None = None
    quantization: QuantizationReport | None = None


@dataclass(frozen=True, slots=True)
class Encoded:
    """Vectors in input order plus what encoding them cost."""

    vectors: npt.NDArray[np.float32]
    batches: int
    tokens: int
    truncated: int


class Encoder(Protocol):
    """A loaded model that turns texts into vectors (called from worker threads)."""

    @property
    def info(self) -> ModelInfo:
        """What was loaded and how it runs."""
        ...

    def encode(self, texts: list[str], batch_size: int) -> Encoded:
        """Vectors for ``texts`` in order, encoded ``batch_size`` texts at a time."""
        ...

    def close(self) -> None:
        """Free what the model holds."""
        ...


def require(module: str, hint: str) -> ModuleType:
    """Import an optional dependency or raise ``ConfigError`` with an install hint."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ConfigError(f"{module} is required for this loading strategy: {hint}") from e


_offline_lock = threading.Lock()
_offline_depth = 0
_offline_saved: tuple[str | None, object] = (None, None)


@contextmanager
def hub_offline() -> Iterator[None]:
    """Make Hugging Face libraries offline while our own load of a local folder runs.

    Sets ``HF_HUB_OFFLINE=1`` (and huggingface_hub's cached copy of it) and puts
    both back afterwards, counting nested and concurrent uses.
    """
    _enter_offline()
    try:
        yield
    finally:
        _exit_offline()


def _enter_offline() -> None:
    global _offline_depth, _offline_saved  # noqa: PLW0603 - one process-wide switch
    with _offline_lock:
        _offline_depth += 1
        if _offline_depth > 1:
            return
        constants = _hub_constants()
        before = getattr(constants, "HF_HUB_OFFLINE", None) if constants else None
        _offline_saved = (os.environ.get("HF_HUB_OFFLINE"), before)
        os.environ["HF_HUB_OFFLINE"] = "1"
        if constants is not None:
            setattr(constants, "HF_HUB_OFFLINE", True)  # noqa: B010 - untyped module attribute


def _exit_offline() -> None:
    global _offline_depth  # noqa: PLW0603 - one process-wide switch
    with _offline_lock:
        _offline_depth -= 1
        if _offline_depth > 0:
            return
        env, before = _offline_saved
        if env is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = env
        constants = _hub_constants()
        if constants is not None and before is not None:
            setattr(constants, "HF_HUB_OFFLINE", before)  # noqa: B010 - untyped module attribute


def _hub_constants() -> ModuleType | None:
    try:
        return importlib.import_module("huggingface_hub.constants")
    except ImportError:
        return None
