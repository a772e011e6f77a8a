"""One-time export of a sentence-transformers model to ONNX (needs torch, onnx).

The transformer is traced with eager attention into ``model.onnx`` (dynamic
batch and sequence axes); pooling and normalisation stay outside the graph and
run in numpy. Before the export is cached it is checked against
sentence-transformers' own vectors; the folder appears atomically (built under
a temporary name, then renamed), so concurrent processes never see half of it.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from embedmux._exceptions import ConfigError
from embedmux._local import _defaults as D
from embedmux._local.backends.base import hub_offline, require
from embedmux._local.backends.onnx import ExportMeta, check_pooling, plain_encoder

logger = logging.getLogger("embedmux.local")
EXPORT_HINT = (
    "the one-time ONNX export needs torch, sentence-transformers and onnx:"
    " pip install 'embedmux[local,onnx]'"
)
_SUPPORTED_MODULES = {"Transformer", "Pooling", "Normalize"}
_TOKEN_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_MIN_EXPORT_COSINE = 0.9999


def export_model(folder: Path, target: Path, *, model_id: str, source_hash: str) -> ExportMeta:
    """Export the model in ``folder`` to ``target`` and return the export's metadata."""
    for module in ("torch", "sentence_transformers", "onnx"):
        require(module, EXPORT_HINT)
    logger.info("exporting %s to ONNX under %s (once)", model_id, target)
    model = _load_reference(folder)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".tmp-{target.name}-"))
    try:
        meta = _export_into(model, tmp, model_id, source_hash)
        _verify(model, tmp, meta)
        _publish(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return meta


def _load_reference(folder: Path) -> Any:
    from sentence_transformers import SentenceTransformer

    from embedmux._local.backends.st import _quiet

    with _quiet(), hub_offline():
        model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    kinds = [type(m).__name__ for m in model]
    if not kinds or kinds[0] != "Transformer" or not set(kinds) <= _SUPPORTED_MODULES:
        raise ConfigError(
            f"the onnx backend supports Transformer + Pooling (+ Normalize) models; this one has"
            f" {kinds}: use loading='background'"
        )
    return model


def _export_into(model: Any, tmp: Path, model_id: str, source_hash: str) -> ExportMeta:
    import torch

    tokenizer = model[0].tokenizer
    names = [n for n in _TOKEN_INPUTS if n in tokenizer.model_input_names]
    sample = tokenizer(
        ["a longer sentence to trace the graph with", "short"], padding=True, return_tensors="pt"
    )
    wrapper = _Wrapper(_eager(model[0].auto_model), names).eval()
    axes = {n: {0: "batch", 1: "sequence"} for n in [*names, "last_hidden_state"]}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            tuple(sample[n] for n in names),
            str(tmp / D.ONNX_MODEL_FILE),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=D.ONNX_OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    tokenizer.backend_tokenizer.save(str(tmp / D.ONNX_TOKENIZER_FILE))
    meta = ExportMeta(
        format=D.ONNX_FORMAT_VERSION,
        model_id=model_id,
        source_hash=source_hash,
        dimensions=int(model.get_embedding_dimension()),
        max_seq_length=int(model.max_seq_length),
        pooling=check_pooling(_pooling_mode(model)),
        input_names=names,
        pad_id=int(tokenizer.pad_token_id or 0),
        pad_token=str(tokenizer.pad_token or "[PAD]"),
    )
    meta.write(tmp)
    return meta


def _eager(auto_model: Any) -> Any:
    """Switch to eager attention, which traces into plain ONNX ops."""
    setter = getattr(auto_model, "set_attn_implementation", None)
    if setter is not None:
        setter("eager")
    return auto_model


def _pooling_mode(model: Any) -> str:
    pooling = next((m for m in model if type(m).__name__ == "Pooling"), None)
    if pooling is None:
        raise ConfigError("the model has no Pooling module; use loading='background'")
    config = pooling.get_config_dict()
    mode = config.get("pooling_mode")
    if isinstance(mode, str):
        return mode
    legacy = {
        "pooling_mode_mean_tokens": "mean",
        "pooling_mode_cls_token": "cls",
        "pooling_mode_max_tokens": "max",
    }
    return next((v for k, v in legacy.items() if config.get(k)), "unknown")


def _verify(model: Any, tmp: Path, meta: ExportMeta) -> None:
    """Refuse to cache an export whose vectors differ from sentence-transformers'."""
    import numpy as np

    texts = list(D.CALIBRATION_TEXTS)
    expected = model.encode(texts, show_progress_bar=False, normalize_embeddings=True)
    got = plain_encoder(tmp / D.ONNX_MODEL_FILE, tmp, meta).encode(texts, 8).vectors
    expected = expected / np.linalg.norm(expected, axis=1, keepdims=True)
    worst = float((got * expected).sum(axis=1).min())
    if worst < _MIN_EXPORT_COSINE:
        raise ConfigError(f"the ONNX export does not reproduce the model (min cosine {worst:.5f})")
    logger.debug("ONNX export verified: min cosine %.6f", worst)


def _publish(tmp: Path, target: Path) -> None:
    try:
        tmp.rename(target)
    except OSError:
        if not (target / D.ONNX_META_FILE).is_file():
            raise
        logger.debug("another process exported %s first; using its copy", target)


class _Wrapper:
    """Builds the ``torch.nn.Module`` lazily, so this module imports without torch."""

    def __new__(cls, auto_model: Any, names: list[str]) -> Any:
        import torch

        class Wrapper(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = auto_model

            def forward(self, *args: Any) -> Any:
                return self.model(**dict(zip(names, args, strict=True))).last_hidden_state

        return Wrapper()
