"""``LocalProvider``: a sentence-transformers model on this machine, loaded once, off the loop.

Importing this module is cheap: torch, sentence-transformers, onnxruntime and
tokenizers load in a worker thread when the model is first needed. See
``docs/local.md`` for the loading strategies.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

from embedmux._exceptions import ConfigError, ProviderUnavailableError
from embedmux._exceptions import TimeoutError as EncodeTimeoutError
from embedmux._local import _defaults as D
from embedmux._local.backends import load_encoder
from embedmux._local.backends.base import (
    STRATEGIES,
    Encoded,
    Encoder,
    LoadSpec,
    ModelInfo,
    Strategy,
)
from embedmux._local.cache import ModelMetadata, cache_root, load_metadata
from embedmux._local.env import offline_from_env
from embedmux._local.loader import ModelLoader, Status
from embedmux._local.resolve import model_id_for
from embedmux._local.resources import DEVICES, Device
from embedmux._optimization import OptimizationConfig
from embedmux._types import EmbeddingResult, EmbeddingSpace, InputType, Usage
from embedmux._validation import check_texts

if TYPE_CHECKING:
    from pathlib import Path

_PRELOADED: frozenset[Strategy] = frozenset({"progressive", "onnx", "quantized"})


class LocalProvider:
    """Embeds with a local sentence-transformers model (``loading=`` picks how it loads)."""

    def __init__(
        self,
        model: str | os.PathLike[str] = D.DEFAULT_MODEL,
        *,
        loading: Strategy = "progressive",
        device: Device = "auto",
        normalize: bool = True,
        max_seq_length: int | None = None,
        batch_size: int | None = None,
        offline: bool | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        name: str = "local",
        optimization: OptimizationConfig | None = None,
    ) -> None:
        _check_args(loading, device, max_seq_length, batch_size)
        self._optimization = optimization or OptimizationConfig.for_provider("local")
        self._spec = LoadSpec(
            model=os.fspath(model),
            model_id=model_id_for(model),
            strategy=loading,
            device=device,
            normalize=normalize,
            max_seq_length=max_seq_length,
            batch_size=batch_size,
            profile_batch_size=self._optimization.max_batch_size,
            offline=offline_from_env() if offline is None else offline,
            cache_root=cache_root(cache_dir),
            name=name,
        )
        self._loader: ModelLoader[Encoder] = ModelLoader(
            partial(load_encoder, self._spec), name=name
        )
        self._encode_lock = threading.BoundedSemaphore(self._optimization.max_concurrency)
        self._closed = False
        preload = loading in _PRELOADED
        self._metadata: ModelMetadata | None = (
            load_metadata(self._spec.cache_root, self._spec.model) if preload else None
        )
        if loading != "lazy":
            import numpy  # noqa: F401 - before the loader thread: concurrent first imports can fail

            self._loader.start()

    @property
    def name(self) -> str:
        """Provider name used in results, logs and errors."""
        return self._spec.name

    @property
    def model(self) -> str:
        """Model id: the name given, or a directory's name for a local path."""
        return self._spec.model_id

    @property
    def loading(self) -> Strategy:
        """The loading strategy."""
        return self._spec.strategy

    @property
    def status(self) -> Status:
        """``not_loaded``, ``loading``, ``ready`` or ``error``."""
        return self._loader.status

    @property
    def load_time(self) -> float | None:
        """Seconds the load took (``None`` until it finished)."""
        return self._loader.load_time

    @property
    def load_error(self) -> BaseException | None:
        """Why the load failed, if it did."""
        return self._loader.error

    @property
    def cache_dir(self) -> Path:
        """The folder holding this provider's metadata cache and ONNX exports."""
        return self._spec.cache_root

    @property
    def info(self) -> ModelInfo | None:
        """Backend, device, batch size and paths of the loaded model (``None`` until ready)."""
        return self._loader.result().info if self._loader.status == "ready" else None

    @property
    def dimensions(self) -> int | None:
        """Vector length: from the loaded model, else (progressive) the metadata cache."""
        info = self.info
        if info is not None:
            return info.dimensions
        return self._metadata.dimensions if self._metadata else None

    @property
    def max_seq_length(self) -> int | None:
        """Tokens per input the model reads; longer inputs are truncated (and counted)."""
        info = self.info
        if info is not None:
            return info.max_seq_length
        if self._spec.max_seq_length is not None:
            return self._spec.max_seq_length
        return self._metadata.max_seq_length if self._metadata else None

    @property
    def space(self) -> EmbeddingSpace:
        """The vector space: model id, dimensions, ``"unnormalized"`` when normalize=False."""
        variant = "" if self._spec.normalize else "unnormalized"
        return EmbeddingSpace.of(self.model, self.dimensions, variant)

    async def wait_ready(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Start loading if needed and wait; True when ready, False on timeout.

        Raises ``ProviderUnavailableError`` (its ``__cause__`` is the original
        error) when the load failed.
        """
        if not await self._loader.wait_async(timeout):
            return False
        self._encoder()
        return True

    async def embed(
        self, texts: Sequence[str], *, input_type: InputType = "document"
    ) -> EmbeddingResult:
        """Embed ``texts`` in a worker thread; row ``i`` belongs to ``texts[i]``."""
        items = check_texts(texts)
        if not await self._loader.wait_async(D.LOAD_TIMEOUT_SECONDS):
            raise self._unavailable(f"model still loading after {D.LOAD_TIMEOUT_SECONDS:.0f} s")
        encoder = self._encoder()
        batch = encoder.info.batch_size
        timeout = self._optimization.timeout_seconds * max(1, -(-len(items) // batch))
        try:
            done = await asyncio.wait_for(
                asyncio.to_thread(self._run, encoder, items, batch), timeout
            )
        except TimeoutError as e:
            raise EncodeTimeoutError(
                f"{self.name}: encoding took over {timeout:.0f} s", provider=self.name
            ) from e
        usage = Usage(
            prompt_tokens=done.tokens, requests=done.batches, truncated=done.truncated, cost_usd=0.0
        )
        return EmbeddingResult(done.vectors, self.model, self.name, self.space, usage)

    def _run(self, encoder: Encoder, items: list[str], batch: int) -> Encoded:
        with self._encode_lock:
            return encoder.encode(items, batch)

    def _encoder(self) -> Encoder:
        if self._closed:
            raise self._unavailable("the provider is closed")
        try:
            return self._loader.result()
        except Exception as e:
            raise self._unavailable(f"model {self._spec.model!r} failed to load: {e}") from e

    def _unavailable(self, why: str) -> ProviderUnavailableError:
        return ProviderUnavailableError(f"{self.name}: {why}", provider=self.name)

    async def aclose(self) -> None:
        """Release the model (idempotent); later ``embed`` calls raise ProviderUnavailableError."""
        if self._closed:
            return
        self._closed = True
        if self._loader.status == "ready":
            self._loader.result().close()
        self._loader.release()

    def __repr__(self) -> str:
        return (
            f"LocalProvider(model={self.model!r}, loading={self.loading!r}, status={self.status!r})"
        )


def _check_args(
    loading: str, device: str, max_seq_length: int | None, batch_size: int | None
) -> None:
    if loading not in STRATEGIES:
        raise ConfigError(f"loading must be one of {', '.join(STRATEGIES)}; got {loading!r}")
    if device not in DEVICES:
        raise ConfigError(f"device must be one of {', '.join(DEVICES)}; got {device!r}")
    for field, value in (("max_seq_length", max_seq_length), ("batch_size", batch_size)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ConfigError(f"{field} must be a positive integer; got {value!r}")
