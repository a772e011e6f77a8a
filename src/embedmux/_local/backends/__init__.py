"""Backends, one module each, and the registry that maps a loading strategy to one.

    lazy, background, progressive -> st       (sentence-transformers on torch)
    onnx                          -> onnx     (onnxruntime + tokenizers, fp32)
    quantized                     -> onnx     (same runtime, int8 MatMul weights)

Backend modules are imported only when a model is loaded.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from embedmux._local.backends.base import Encoder, LoadSpec, Strategy
from embedmux._local.cache import ModelMetadata, fingerprint, load_metadata, save_metadata
from embedmux._local.resolve import ResolvedModel, resolve_model

# strategy -> (module, keyword arguments for its ``load``)
REGISTRY: dict[Strategy, tuple[str, dict[str, Any]]] = {
    "lazy": ("embedmux._local.backends.st", {}),
    "background": ("embedmux._local.backends.st", {}),
    "progressive": ("embedmux._local.backends.st", {}),
    "onnx": ("embedmux._local.backends.onnx", {"quantized": False}),
    "quantized": ("embedmux._local.backends.onnx", {"quantized": True}),
}


def backend_loader(strategy: Strategy) -> Callable[[LoadSpec, ResolvedModel], Encoder]:
    """The ``load`` function of ``strategy``'s backend (imports the backend module)."""
    module_name, kwargs = REGISTRY[strategy]
    load: Callable[..., Encoder] = importlib.import_module(module_name).load
    return partial(load, **kwargs)


def load_encoder(spec: LoadSpec) -> Encoder:
    """Resolve ``spec.model``, load it with its strategy's backend, record its metadata."""
    resolved = resolve_model(spec.model, offline=spec.offline)
    encoder = backend_loader(spec.strategy)(spec, resolved)
    if resolved.path is not None:
        _remember(spec, resolved.path, encoder)
    return encoder


def _remember(spec: LoadSpec, folder: Path, encoder: Encoder) -> None:
    info = encoder.info
    native = info.max_seq_length if spec.max_seq_length is None else None
    if native is None:  # a user override is not the model's own limit
        return
    meta = ModelMetadata(spec.model_id, str(folder), fingerprint(folder), info.dimensions, native)
    if load_metadata(spec.cache_root, spec.model) != meta:
        save_metadata(spec.cache_root, spec.model, meta)
