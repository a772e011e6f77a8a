"""``Client``: the public entry point. It validates, deduplicates, consults the cache,
and walks the fallback chain; providers do the embedding.

    embed(texts) ─► check_texts ─► dedup ─► for each provider in the chain:
        cache lookup ─► provider.embed(misses) ─► cache write ─► merge
    ─► expand duplicates ─► EmbeddingResult (one provider, one space)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import numpy as np

from embedmux._chain import Chain
from embedmux._exceptions import AllProvidersFailedError, InputError, ProviderError
from embedmux._types import INPUT_TYPES, EmbeddingResult, InputType, Provider, Usage
from embedmux._validation import check_texts
from embedmux._wire import FloatArray

logger = logging.getLogger("embedmux")


def deduplicate(texts: Sequence[str]) -> tuple[list[str], list[int]]:
    """Unique texts in first-seen order, and for each input the position of its unique text."""
    position: dict[str, int] = {}
    inverse = [position.setdefault(t, len(position)) for t in texts]
    return list(position), inverse


class Client:
    """Embeds texts through a chain of providers (one provider is a chain of one)."""

    def __init__(
        self,
        providers: Sequence[Provider] | Provider,
        *,
        allow_mixed_spaces: bool = False,
    ) -> None:
        if isinstance(providers, Provider):
            providers = [providers]
        self._chain = Chain(list(providers), allow_mixed_spaces=allow_mixed_spaces)

    @classmethod
    def from_config(cls, path: str | Path | None = None) -> Client:
        """Build a client from TOML: ``path``, else ``$EMBEDMUX_CONFIG``, else ./embedmux.toml."""
        from embedmux._config_file import load_client

        return load_client(cls, path)

    @property
    def providers(self) -> list[Provider]:
        """The chain's providers, in fallback order."""
        return list(self._chain)

    async def embed(
        self, texts: Sequence[str], *, input_type: InputType = "document"
    ) -> EmbeddingResult:
        """Embed ``texts``: row ``i`` of ``vectors`` is input ``i``'s vector, or an error says
        which inputs failed and why."""
        items = check_texts(texts)
        if input_type not in INPUT_TYPES:
            raise InputError(f"input_type must be one of {INPUT_TYPES}, got {input_type!r}")
        unique, inverse = deduplicate(items)
        result = await self._embed_unique(unique, input_type)
        if len(unique) != len(items):
            result.vectors = result.vectors[np.asarray(inverse, dtype=np.intp)]
            result.usage.deduplicated = len(items) - len(unique)
        return result

    async def embed_query(self, text: str) -> FloatArray:
        """Embed one query text; returns its 1-D float32 vector."""
        if not isinstance(text, str):
            raise InputError(f"query must be a str, got {type(text).__name__}", index=0)
        result = await self.embed([text], input_type="query")
        vector: FloatArray = result.vectors[0]
        return vector

    async def _embed_unique(self, texts: list[str], input_type: InputType) -> EmbeddingResult:
        causes: dict[str, BaseException] = {}
        for provider in self._chain:
            breaker = self._chain.breaker(provider)
            if not breaker.allows():
                causes[provider.name] = ProviderError(
                    f"{provider.name}: circuit open after repeated failures", provider=provider.name
                )
                continue
            try:
                result = await self._embed_with(provider, texts, input_type)
            except ProviderError as e:
                if not e.fallback:
                    raise
                breaker.record_failure()
                causes[provider.name] = e
                logger.debug("%s failed (%s); falling back", provider.name, type(e).__name__)
                continue
            breaker.record_success()
            return result
        raise AllProvidersFailedError(causes)

    async def _embed_with(
        self, provider: Provider, texts: list[str], input_type: InputType
    ) -> EmbeddingResult:
        if not texts:
            dims = provider.dimensions or 0
            empty = np.empty((0, dims), dtype=np.float32)
            return EmbeddingResult(empty, provider.model, provider.name, provider.space, Usage())
        return await provider.embed(texts, input_type=input_type)

    async def aclose(self) -> None:
        """Close every provider of the chain."""
        for provider in self._chain:
            await provider.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"Client(providers={[p.name for p in self._chain]!r})"
