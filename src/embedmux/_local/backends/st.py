"""The sentence-transformers (torch) backend: ``lazy``, ``background`` and ``progressive``.

Vectors come from the model's own tokenization and modules, run the way
``SentenceTransformer.encode`` runs them (inference mode, one pass per batch),
so they equal the reference (cosine >= 0.9999). Texts are sorted by token count
and grouped into passes that cap padding (see ``passes``); calling the modules
directly skips the per-call set-up ``encode`` repeats (``eval()``, argument
checks, per-row tensors), which matters most for single queries.

Token counts come from the model's fast tokenizer, run without truncation, so
inputs longer than ``max_seq_length`` (which sentence-transformers truncates
silently) are counted in ``usage.truncated``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from embedmux._local.backends.base import (
    LOCAL_HINT,
    Encoded,
    LoadSpec,
    ModelInfo,
    hub_offline,
    require,
)
from embedmux._local.passes import max_pass_tokens, plan_passes
from embedmux._local.resolve import ResolvedModel
from embedmux._local.resources import choose_batch_size, choose_device, detect_resources

logger = logging.getLogger("embedmux.local")
Lengths = Callable[[list[str]], list[int]]


class SentenceTransformerEncoder:
    """A loaded ``SentenceTransformer`` plus a token counter."""

    def __init__(self, model: Any, info: ModelInfo, lengths: Lengths, normalize: bool) -> None:
        self._model = model
        self._info = info
        self._lengths = lengths
        self._normalize = normalize
        self._preprocess = _preprocessor(model)

    @property
    def info(self) -> ModelInfo:
        """What was loaded and how it runs."""
        return self._info

    def encode(self, texts: list[str], batch_size: int) -> Encoded:
        """Vectors for ``texts`` in order: length-sorted passes through the model's own modules."""
        import numpy as np
        import torch

        limit = self._info.max_seq_length
        lengths = self._lengths(texts)
        passes = plan_passes(
            [min(n, limit) for n in lengths], batch_size, max_pass_tokens(self._info.device)
        )
        out = np.empty((len(texts), self._info.dimensions), dtype=np.float32)
        with torch.inference_mode():
            for idx in passes:
                out[idx] = self._run([texts[i] for i in idx])
        return Encoded(
            vectors=out,
            batches=len(passes),
            tokens=sum(min(n, limit) for n in lengths),
            truncated=sum(n > limit for n in lengths),
        )

    def _run(self, texts: list[str]) -> Any:
        """One pass through sentence-transformers' own tokenization and modules."""
        if self._preprocess is None:  # prompts or truncated dimensions: let ``encode`` apply them
            return self._model.encode(
                texts,
                batch_size=len(texts),
                show_progress_bar=False,
                normalize_embeddings=self._normalize,
            )
        features = self._preprocess(texts)
        device = self._info.device
        features = {k: v.to(device) if hasattr(v, "to") else v for k, v in features.items()}
        vectors = self._model(features)["sentence_embedding"]
        if self._normalize:
            import torch

            vectors = torch.nn.functional.normalize(vectors, p=2, dim=1)
        return vectors.float().cpu().numpy()

    def close(self) -> None:
        """Drop the model."""
        self._model = None


def _preprocessor(model: Any) -> Callable[[list[str]], dict[str, Any]] | None:
    """``model.preprocess`` (``tokenize`` before sentence-transformers 5), or ``None`` when
    ``encode`` adds something of its own (a default prompt, truncated dimensions)."""
    if getattr(model, "default_prompt_name", None) or getattr(model, "truncate_dim", None):
        return None
    method: Callable[[list[str]], dict[str, Any]] | None = getattr(model, "preprocess", None)
    return method or getattr(model, "tokenize", None)


def load(spec: LoadSpec, resolved: ResolvedModel) -> SentenceTransformerEncoder:
    """Load ``resolved`` with sentence-transformers on the device ``spec`` asks for."""
    require("torch", LOCAL_HINT)
    st = require("sentence_transformers", LOCAL_HINT)
    res = detect_resources(probe_torch=True, probe_onnxruntime=False)
    device = choose_device(spec.device, res)
    local = resolved.path is not None
    source = str(resolved.path) if local else str(resolved.hub_id)
    with _quiet(), hub_offline() if local else _nothing():
        model = st.SentenceTransformer(source, device=device, local_files_only=local)
    model.eval()
    if spec.max_seq_length is not None:
        model.max_seq_length = spec.max_seq_length
    normalize_extra = _set_normalize(model, spec.normalize)
    batch = spec.batch_size or choose_batch_size(device, res, spec.profile_batch_size)
    info = ModelInfo(
        model_id=spec.model_id,
        path=str(resolved.path) if local else None,
        backend="sentence-transformers",
        device=device,
        batch_size=batch,
        dimensions=int(model.get_embedding_dimension()),
        max_seq_length=int(model.max_seq_length),
    )
    return SentenceTransformerEncoder(
        model, info, _length_counter(model, resolved.path), normalize_extra
    )


def _set_normalize(model: Any, normalize: bool) -> bool:
    """Make the pipeline match ``normalize``; True when ``encode`` must normalise itself."""
    positions = [i for i, m in enumerate(model) if type(m).__name__ == "Normalize"]
    if normalize:
        return not positions
    for i in reversed(positions):
        del model[i]
    return False


def _length_counter(model: Any, folder: Path | None) -> Lengths:
    """Token lengths (special tokens in, no truncation) from the cheapest tokenizer at hand."""
    file = folder / "tokenizer.json" if folder is not None else None
    if file is not None and file.is_file():
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(file))
        tok.no_truncation()
        tok.no_padding()
        return lambda texts: [len(e.ids) for e in tok.encode_batch(texts)]
    hf_tok = model.tokenizer
    return lambda texts: [len(ids) for ids in hf_tok(texts, truncation=False)["input_ids"]]


@contextmanager
def _quiet() -> Iterator[None]:
    """Hide transformers' weight-loading progress bar during our load, then restore it."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        yield
        return
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


@contextmanager
def _nothing() -> Iterator[None]:
    yield
