"""``Client``: the public entry point. It validates, deduplicates, consults the cache,
and walks the fallback chain; providers do the embedding.

    embed(texts) ─► check_texts ─► dedup ─► for each provider in the chain:
        cache lookup ─► provider.embed(misses) ─► cache write ─► merge
    ─► expand duplicates ─► EmbeddingResult (one provider, one space)

Events (requests, retries, fallbacks, cache lookups) go to ``hooks``; the
client's own ``stats()`` is one subscriber of them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Self

import numpy as np

from embedmux import _emit
from embedmux._cache import Cache, namespace_for
from embedmux._chain import Chain
from embedmux._events import CacheEvent, CircuitEvent, FallbackEvent, Hooks
from embedmux._exceptions import (
    AllProvidersFailedError,
    InputError,
    ProviderError,
    ProviderUnavailableError,
)
from embedmux._pricing import PriceTable, estimate_cost
from embedmux._stats import ClientStats, StatsRecorder
from embedmux._types import INPUT_TYPES, EmbeddingResult, InputType, Provider, Usage
from embedmux._validation import check_texts
from embedmux._wire import FloatArray

logger = logging.getLogger("embedmux")


def deduplicate(texts: Sequence[str]) -> tuple[list[str], list[int]]:
    """Unique texts in first-seen order, and for each input the position of its unique text."""
    position: dict[str, int] = {}
    inverse = [position.setdefault(t, len(position)) for t in texts]
    return list(position), inverse


def _merge(
    n: int,
    hits: dict[int, FloatArray],
    paid_indices: list[int],
    paid_vectors: FloatArray,
    paid: list[EmbeddingResult],
) -> EmbeddingResult:
    """One result for ``n`` inputs from cache hits and the vectors just paid for."""
    usage = Usage(cached=len(hits))
    for result in paid:
        usage.add(result.usage)
    if hits:
        vectors = np.empty((n, paid_vectors.shape[1]), dtype=np.float32)
        vectors[paid_indices] = paid_vectors
        for i, vector in hits.items():
            vectors[i] = vector
    else:  # everything was paid for, in input order
        vectors = paid_vectors
    last = paid[-1]
    return EmbeddingResult(vectors, last.model, last.provider, last.space, usage)


class Client:
    """Embeds texts through a chain of providers (one provider is a chain of one).

    ``cache``: a ``Cache``, a cache URL (``"sqlite:///path.db"``, ``"sqlite://"`` for
    the default file in the user cache dir, ``"memory"``), or ``None``/``"none"``.
    ``hooks``: callbacks receiving typed events. ``prices`` overrides the price table.
    """

    def __init__(
        self,
        providers: Sequence[Provider] | Provider,
        *,
        cache: Cache | str | None = None,
        allow_mixed_spaces: bool = False,
        hooks: Hooks | None = None,
        prices: PriceTable | None = None,
    ) -> None:
        if isinstance(providers, Provider):
            providers = [providers]
        self._chain = Chain(list(providers), allow_mixed_spaces=allow_mixed_spaces)
        self._cache = Cache.from_url(cache) if isinstance(cache, str) else cache
        self.hooks = hooks if hooks is not None else Hooks()
        self._stats = StatsRecorder().attach(self.hooks)
        self._prices = prices

    @classmethod
    def from_config(cls, path: str | Path | None = None) -> Client:
        """Build a client from TOML: ``path``, else ``$EMBEDMUX_CONFIG``, else ./embedmux.toml."""
        from embedmux._config_file import load_client

        return load_client(cls, path)

    @property
    def providers(self) -> list[Provider]:
        """The chain's providers, in fallback order."""
        return list(self._chain)

    @property
    def cache(self) -> Cache | None:
        """The cache in use, if any."""
        return self._cache

    async def embed(
        self, texts: Sequence[str], *, input_type: InputType = "document"
    ) -> EmbeddingResult:
        """Embed ``texts``: row ``i`` of ``vectors`` is input ``i``'s vector, or an error says
        which inputs failed and why."""
        items = check_texts(texts)
        if input_type not in INPUT_TYPES:
            raise InputError(f"input_type must be one of {INPUT_TYPES}, got {input_type!r}")
        unique, inverse = deduplicate(items)
        token = _emit.current_hooks.set(self.hooks)
        try:
            result = await self._embed_unique(unique, input_type)
        finally:
            _emit.current_hooks.reset(token)
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

    def stats(self) -> ClientStats:
        """Per-provider totals since the client opened (requests, tokens, latency, errors...)."""
        snapshot = self._stats.snapshot()
        # half-open comes with time, not with an event: read the breakers now
        providers = {
            name: replace(p, circuit_state=self._chain.breakers[name].state)
            if name in self._chain.breakers
            else p
            for name, p in snapshot.providers.items()
        }
        return replace(snapshot, providers=providers)

    async def _embed_unique(self, texts: list[str], input_type: InputType) -> EmbeddingResult:
        causes: dict[str, BaseException] = {}
        for provider in self._chain:
            breaker = self._chain.breaker(provider)
            if not breaker.allows():
                causes[provider.name] = ProviderUnavailableError(
                    f"{provider.name}: circuit open after repeated failures", provider=provider.name
                )
                continue
            try:
                result = await self._embed_with(provider, texts, input_type)
            except ProviderError as e:
                if not e.fallback:
                    raise
                self._record_failure(provider, e)
                causes[provider.name] = e
                continue
            if breaker.state != "closed":
                self.hooks.emit(CircuitEvent(provider.name, "closed"))
            breaker.record_success()
            return result
        raise AllProvidersFailedError(causes)

    def _record_failure(self, provider: Provider, error: ProviderError) -> None:
        breaker = self._chain.breaker(provider)
        before = breaker.state
        breaker.record_failure()
        if breaker.state != before:
            self.hooks.emit(CircuitEvent(provider.name, breaker.state))
        nxt = self._chain.next_after(provider)
        logger.debug("%s failed (%s); falling back to %s", provider.name, type(error).__name__, nxt)
        if nxt is not None:
            self.hooks.emit(FallbackEvent(provider.name, nxt, type(error).__name__, str(error)))

    async def _embed_with(
        self, provider: Provider, texts: list[str], input_type: InputType
    ) -> EmbeddingResult:
        """One provider's attempt at the whole call: cached vectors plus the misses embedded."""
        if self._cache is None or not texts:
            return await self._provider_embed(provider, texts, input_type)
        paid: list[EmbeddingResult] = []
        first = 0
        if provider.dimensions is None:
            # The cache namespace includes the dimensions: learn them with one input first.
            paid.append(await self._provider_embed(provider, texts[:1], input_type))
            first = 1
        namespace = namespace_for(provider.space, input_type)
        found = await self._cache.get_many(namespace, texts[first:], dimensions=provider.dimensions)
        hits = {i + first: vector for i, vector in found.items()}
        misses = [i for i in range(first, len(texts)) if i not in hits]
        self.hooks.emit(CacheEvent(namespace, len(hits), len(misses), provider.name))
        if misses:
            paid.append(
                await self._provider_embed(provider, [texts[i] for i in misses], input_type)
            )
        paid_indices = [*range(first), *misses]
        if paid:
            paid_vectors = (
                np.concatenate([r.vectors for r in paid]) if len(paid) > 1 else (paid[0].vectors)
            )
            await self._cache.put_many(namespace, [texts[i] for i in paid_indices], paid_vectors)
            return _merge(len(texts), hits, paid_indices, paid_vectors, paid)
        vectors = np.stack([hits[i] for i in range(len(texts))])
        usage = Usage(cached=len(texts), cost_usd=0.0)
        return EmbeddingResult(vectors, provider.model, provider.name, provider.space, usage)

    async def _provider_embed(
        self, provider: Provider, texts: list[str], input_type: InputType
    ) -> EmbeddingResult:
        if not texts:
            empty = np.empty((0, provider.dimensions or 0), dtype=np.float32)
            return EmbeddingResult(empty, provider.model, provider.name, provider.space, Usage())
        result = await provider.embed(texts, input_type=input_type)
        if result.usage.cost_usd is None:  # a provider that knows its cost (local: 0) sets it
            result.usage.cost_usd = estimate_cost(
                result.model, result.usage.prompt_tokens, self._prices
            )
        return result

    async def aclose(self) -> None:
        """Close every provider of the chain and the cache; wait for async hooks."""
        for provider in self._chain:
            await provider.aclose()
        if self._cache is not None:
            await self._cache.aclose()
        await self.hooks.drain()

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
        return f"Client(providers={[p.name for p in self._chain]!r}, cache={self._cache!r})"
