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
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Self

import numpy as np

from embedmux import _emit
from embedmux._cache import Cache, namespace_for
from embedmux._chain import Chain
from embedmux._events import (
    CacheEvent,
    CallEndEvent,
    CallStartEvent,
    CircuitEvent,
    FallbackEvent,
    Hooks,
)
from embedmux._exceptions import (
    AllProvidersFailedError,
    InputError,
    ProviderError,
    ProviderUnavailableError,
)
from embedmux._pricing import PriceTable
from embedmux._stats import ClientStats, StatsRecorder
from embedmux._types import INPUT_TYPES, EmbeddingResult, InputType, Provider, Usage
from embedmux._validation import check_texts
from embedmux._wire import FloatArray

logger = logging.getLogger("embedmux")


def _complement(hits: list[int], first: int, stop: int) -> list[int]:
    """Indices in ``first..stop-1`` that are not ``hits[j] + first`` (``hits`` ascending)."""
    if len(hits) == stop - first:
        return []
    hit = {i + first for i in hits}
    return [i for i in range(first, stop) if i not in hit]


def deduplicate(texts: Sequence[str]) -> tuple[list[str], list[int]]:
    """Unique texts in first-seen order, and for each input the position of its unique text."""
    position: dict[str, int] = {}
    inverse = [position.setdefault(t, len(position)) for t in texts]
    return list(position), inverse


def _merge(
    out: FloatArray | None,
    cached: int,
    paid_indices: list[int],
    paid_vectors: FloatArray,
    paid: list[EmbeddingResult],
) -> EmbeddingResult:
    """One result from ``out`` (cache hits filled in, ``None`` when none) and the vectors
    just paid for, which go to rows ``paid_indices``."""
    usage = Usage(cached=cached)
    for result in paid:
        usage.add(result.usage)
    if out is not None:
        out[paid_indices] = paid_vectors
        vectors = out
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
        if prices is not None:  # events, stats() and usage all price with this table
            self.hooks.prices = prices
        self._stats = StatsRecorder().attach(self.hooks)

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
        unique, inverse = deduplicate(items) if len(items) > 1 else (items, [])
        hooks = self.hooks
        token = _emit.current_hooks.set(hooks)
        try:
            if hooks.on_call_start or hooks.on_call_end:
                result = await self._observed(unique, input_type, len(items))
            else:  # one coroutine frame less on every call nobody observes
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

    async def _observed(
        self, texts: list[str], input_type: InputType, inputs: int
    ) -> EmbeddingResult:
        """``_embed_unique`` between a CallStartEvent and a CallEndEvent."""
        hooks = self.hooks
        chain = tuple((p.name, p.model) for p in self._chain)
        hooks.emit(CallStartEvent(inputs, len(texts), input_type, chain))
        started = time.perf_counter()
        try:
            result = await self._embed_unique(texts, input_type)
        except BaseException as e:  # cancellation included: the call ends either way
            hooks.emit(
                CallEndEvent(inputs, time.perf_counter() - started, error_type=type(e).__name__)
            )
            raise
        u = result.usage
        elapsed = time.perf_counter() - started
        hooks.emit(
            CallEndEvent(
                inputs,
                elapsed,
                result.provider,
                result.model,
                u.cached,
                u.prompt_tokens,
                u.cost_usd,
            )
        )
        return result

    async def _embed_unique(self, texts: list[str], input_type: InputType) -> EmbeddingResult:
        causes: dict[str, BaseException] = {}
        embed_with = self._provider_embed if self._cache is None else self._embed_with
        for provider, breaker in self._chain.links:
            if not breaker.allows():
                causes[provider.name] = ProviderUnavailableError(
                    f"{provider.name}: circuit open after repeated failures", provider=provider.name
                )
                continue
            try:
                result = await embed_with(provider, texts, input_type)
            except ProviderError as e:
                if not e.fallback:
                    raise
                self._record_failure(provider, e)
                causes[provider.name] = e
                continue
            if breaker.record_success():
                self.hooks.emit(CircuitEvent(provider.name, "closed"))
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
        """One provider's attempt at the whole call: cached vectors plus the misses embedded.
        ``_embed_unique`` calls it only when the client has a cache."""
        cache = self._cache
        assert cache is not None
        if not texts:
            return await self._provider_embed(provider, texts, input_type)
        paid: list[EmbeddingResult] = []
        if provider.dimensions is None:
            # The cache namespace includes the dimensions: learn them with one input first.
            paid.append(await self._provider_embed(provider, texts[:1], input_type))
        first = len(paid)
        dims = paid[0].vectors.shape[1] if paid else provider.dimensions or 0
        namespace = namespace_for(provider.space, input_type)
        # Hits are copied once, straight into the result's rows.
        out = np.empty((len(texts), dims), dtype=np.float32)
        hits = await cache.get_into(namespace, texts[first:], out[first:])
        misses = _complement(hits, first, len(texts))
        self.hooks.emit(CacheEvent(namespace, len(hits), len(misses), provider.name))
        if misses:
            paid.append(
                await self._provider_embed(provider, [texts[i] for i in misses], input_type)
            )
        if not paid:
            usage = Usage(cached=len(texts), cost_usd=0.0)
            return EmbeddingResult(out, provider.model, provider.name, provider.space, usage)
        paid_indices = [*range(first), *misses]
        paid_vectors = (
            np.concatenate([r.vectors for r in paid]) if len(paid) > 1 else paid[0].vectors
        )
        await cache.put_many(namespace, [texts[i] for i in paid_indices], paid_vectors)
        return _merge(out if hits else None, len(hits), paid_indices, paid_vectors, paid)

    async def _provider_embed(
        self, provider: Provider, texts: list[str], input_type: InputType
    ) -> EmbeddingResult:
        if not texts:
            empty = np.empty((0, provider.dimensions or 0), dtype=np.float32)
            return EmbeddingResult(empty, provider.model, provider.name, provider.space, Usage())
        result = await provider.embed(texts, input_type=input_type)
        if result.usage.cost_usd is None:  # a provider that knows its cost (local: 0) sets it
            result.usage.cost_usd = self.hooks.cost(result.model, result.usage.prompt_tokens)
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
