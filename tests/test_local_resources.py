"""Resource detection and the device / batch-size choices made from it."""

from __future__ import annotations

import dataclasses

import pytest

from embedmux._exceptions import ConfigError
from embedmux._local.resources import (
    Resources,
    choose_batch_size,
    choose_device,
    choose_onnx_device,
    detect_resources,
)
from tests import local_fixtures

_local_env = local_fixtures._local_env

CPU_ONLY = Resources(4, 8 * 1024**3, 4 * 1024**3, False, (), False, ("CPUExecutionProvider",))


def test_detect_without_torch_probe_reports_machine() -> None:
    """Without the torch probe, CPUs and memory are filled and CUDA/MPS stay unknown."""
    res = detect_resources(probe_torch=False, probe_onnxruntime=False)
    assert res.cpu_count >= 1
    assert res.total_memory_bytes is None or res.total_memory_bytes > 0
    assert (res.cuda, res.mps, res.onnx_providers) == (None, None, None)


def test_detect_with_probes_fills_devices() -> None:
    """With the probes, CUDA and MPS are booleans and ONNX Runtime lists its providers."""
    res = detect_resources()
    assert isinstance(res.cuda, bool)
    assert isinstance(res.mps, bool)
    assert res.onnx_providers is not None
    assert "CPUExecutionProvider" in res.onnx_providers
    assert dataclasses.is_dataclass(res)


def test_auto_picks_cpu_without_accelerators() -> None:
    """device='auto' falls back to CPU when neither CUDA nor MPS is present."""
    assert choose_device("auto", CPU_ONLY) == "cpu"


def test_auto_prefers_cuda_then_mps() -> None:
    """device='auto' picks CUDA first, then MPS."""
    assert choose_device("auto", dataclasses.replace(CPU_ONLY, cuda=True, mps=True)) == "cuda"
    assert choose_device("auto", dataclasses.replace(CPU_ONLY, mps=True)) == "mps"


def test_unavailable_device_is_config_error() -> None:
    """Asking for CUDA or MPS on a machine without them is a clear error."""
    with pytest.raises(ConfigError, match="CUDA"):
        choose_device("cuda", CPU_ONLY)
    with pytest.raises(ConfigError, match="MPS"):
        choose_device("mps", CPU_ONLY)


def test_onnx_device_uses_onnxruntime_providers() -> None:
    """The ONNX backend decides from onnxruntime's providers, never from torch."""
    assert choose_onnx_device("auto", CPU_ONLY) == ("cpu", ["CPUExecutionProvider"])
    gpu = dataclasses.replace(
        CPU_ONLY, onnx_providers=("CUDAExecutionProvider", "CPUExecutionProvider")
    )
    assert choose_onnx_device("auto", gpu)[0] == "cuda"
    with pytest.raises(ConfigError, match="onnxruntime-gpu"):
        choose_onnx_device("cuda", CPU_ONLY)


def test_batch_size_from_profile_gpu_and_low_memory() -> None:
    """CPU uses the profile's size, a GPU four times it, low memory caps CPU at 8."""
    assert choose_batch_size("cpu", CPU_ONLY, 32) == 32
    assert choose_batch_size("cuda", CPU_ONLY, 32) == 128
    low = dataclasses.replace(CPU_ONLY, available_memory_bytes=512 * 1024**2)
    assert choose_batch_size("cpu", low, 32) == 8
