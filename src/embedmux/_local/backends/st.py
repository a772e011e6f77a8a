"""The sentence-transformers (torch) backend: ``lazy``, ``background`` and ``progressive``.

Vectors come from ``SentenceTransformer.encode`` itself, so they equal the
reference exactly. Token counts come from the model's fast tokenizer, run
without truncation, so inputs longer than ``max_seq_length`` (which
sentence-transformers truncates silently) are counted in ``usage.truncated``.
"""

from __future__ import annotations

import logging
import math
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

    @property
    def info(self) -> ModelInfo:
        """What was loaded and how it runs."""
        return self._info

    def encode(self, texts: list[str], batch_size: int) -> Encoded:
        """Vectors for ``texts`` in order, from ``SentenceTransformer.encode``."""
        vectors = self._model.encode(
            texts,
            batch_size=batch_size,
            show_progress_bar=False,
            convert_to_numpy=True,
            normalize_embeddings=self._normalize,
        )
        limit = self._info.max_seq_length
        lengths = self._lengths(texts)
        return Encoded(
            vectors=vectors.astype("float32", copy=False),
            batches=math.ceil(len(texts) / batch_size) if texts else 0,
            tokens=sum(min(n, limit) for n in lengths),
            truncated=sum(n > limit for n in lengths),
        )

    def close(self) -> None:
        """Drop the model."""
        self._model = None


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
