"""What this machine offers a local model: CPUs, CUDA, MPS, memory.

``detect_resources()`` returns a frozen :class:`Resources`; ``choose_device`` and
``choose_batch_size`` turn it into the settings a backend runs with. Probing
CUDA or MPS through torch imports torch, so it happens only when asked for
(``probe_torch=True``, which the torch backend does while it loads anyway).
The ONNX backend probes ``onnxruntime`` providers instead and never needs torch.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from typing import Literal

from embedmux._exceptions import ConfigError
from embedmux._local import _defaults as D

logger = logging.getLogger("embedmux.local")

Device = Literal["auto", "cpu", "cuda", "mps"]
DEVICES: tuple[Device, ...] = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True, slots=True)
class Resources:
    """A snapshot of the machine. ``None`` means "not probed" or "unknown"."""

    cpu_count: int
    total_memory_bytes: int | None
    available_memory_bytes: int | None
    cuda: bool | None
    cuda_devices: tuple[str, ...]
    mps: bool | None
    onnx_providers: tuple[str, ...] | None


def detect_resources(*, probe_torch: bool = True, probe_onnxruntime: bool = True) -> Resources:
    """Detect CPUs, memory and (when asked and installed) CUDA, MPS and ONNX Runtime providers.

    ``probe_torch`` imports torch if it is installed (slow, seconds); pass
    ``False`` to skip it, and ``cuda``/``mps`` are then ``None``.
    """
    total, available = _memory()
    cuda, names, mps = _torch_devices() if probe_torch else (None, (), None)
    providers = _onnx_providers() if probe_onnxruntime else None
    return Resources(cpu_count(), total, available, cuda, names, mps, providers)


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _memory() -> tuple[int | None, int | None]:
    try:
        import psutil  # type: ignore[import-untyped]
    except ImportError:
        return _proc_meminfo()
    vm = psutil.virtual_memory()
    return int(vm.total), int(vm.available)


def _proc_meminfo() -> tuple[int | None, int | None]:
    values: dict[str, int] = {}
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                key, _, rest = line.partition(":")
                values[key] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        return _sysconf_total(), None
    return values.get("MemTotal"), values.get("MemAvailable")


def _sysconf_total() -> int | None:
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def _torch_devices() -> tuple[bool | None, tuple[str, ...], bool | None]:
    if importlib.util.find_spec("torch") is None:
        return None, (), None
    import torch

    cuda = bool(torch.cuda.is_available())
    names = (
        tuple(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        if cuda
        else ()
    )
    mps_backend = getattr(torch.backends, "mps", None)
    mps = bool(mps_backend is not None and mps_backend.is_available())
    return cuda, names, mps


def _onnx_providers() -> tuple[str, ...] | None:
    if importlib.util.find_spec("onnxruntime") is None:
        return None
    import onnxruntime

    return tuple(onnxruntime.get_available_providers())


def choose_device(requested: Device, res: Resources) -> str:
    """``requested`` checked against ``res``; ``auto`` picks CUDA, then MPS, then CPU."""
    if requested == "auto":
        return "cuda" if res.cuda else "mps" if res.mps else "cpu"
    if requested == "cuda" and res.cuda is False:
        raise ConfigError("device='cuda' was requested but CUDA is not available")
    if requested == "mps" and res.mps is False:
        raise ConfigError("device='mps' was requested but MPS is not available")
    return requested


def choose_onnx_device(requested: Device, res: Resources) -> tuple[str, list[str]]:
    """Device name and ONNX Runtime execution providers for ``requested``."""
    available = res.onnx_providers or ("CPUExecutionProvider",)
    has_cuda = "CUDAExecutionProvider" in available
    if requested == "mps":
        raise ConfigError("device='mps' is not supported by the onnx backend; use 'cpu'")
    if requested == "cuda" and not has_cuda:
        raise ConfigError(
            "device='cuda' was requested but onnxruntime has no CUDAExecutionProvider"
            " (install onnxruntime-gpu)"
        )
    if requested == "cuda" or (requested == "auto" and has_cuda):
        return "cuda", ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return "cpu", ["CPUExecutionProvider"]


def choose_batch_size(device: str, res: Resources, profile_batch_size: int) -> int:
    """Batch size: the profile's on CPU, larger on a GPU, smaller when memory is low."""
    size = profile_batch_size * (D.GPU_BATCH_MULTIPLIER if device in ("cuda", "mps") else 1)
    low = res.available_memory_bytes is not None and res.available_memory_bytes < D.LOW_MEMORY_BYTES
    if low and device == "cpu":
        size = min(size, D.LOW_MEMORY_BATCH_SIZE)
    return size
