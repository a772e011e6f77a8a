"""Per-provider statistics since a client opened, computed from its hook events.

``StatsRecorder`` is one more subscriber of ``Hooks`` (``hooks.subscribe(recorder)``);
the client only emits events. ``recorder.snapshot()`` returns an immutable
``ClientStats``. How each figure is counted:

    requests               ResponseEvent (every attempt that ended, retries included)
    inputs, prompt_tokens  ResponseEvent without error (inputs that got vectors)
    errors                 ResponseEvent with error_type, by type (every failed attempt)
    rate_limited           ResponseEvent with status 429
    latency p50/p95        ResponseEvent.latency_s, all attempts, over a bounded
                           uniform sample (reservoir of ``LATENCY_SAMPLE_SIZE``)
    retries                RetryEvent
    throttle_wait_seconds  ResponseEvent.throttle_wait_s

The recorder needs ``ResponseEvent`` only (an attempt's outcome carries its
wait), so a client with no other subscriber does not build a ``RequestEvent``
per attempt.
    cost_usd               sum of ResponseEvent.cost_usd; None as soon as one
                           successful response had an unknown cost
    fallbacks              FallbackEvent.from_provider
    cache_hits             CacheEvent with a provider (ClientStats counts all lookups)
    circuit_state          the last CircuitEvent ("closed" before any)
"""

from __future__ import annotations

import dataclasses
import json
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from embedmux._events import (
    CacheEvent,
    CircuitEvent,
    FallbackEvent,
    Hooks,
    ResponseEvent,
    RetryEvent,
)

LATENCY_SAMPLE_SIZE = 4096


@dataclass(frozen=True, slots=True)
class ProviderStats:
    """What one provider did since the client opened."""

    requests: int = 0
    inputs: int = 0
    prompt_tokens: int = 0
    retries: int = 0
    rate_limited: int = 0
    throttle_wait_seconds: float = 0.0
    cache_hits: int = 0
    cost_usd: float | None = 0.0
    errors: Mapping[str, int] = field(default_factory=dict)
    latency_p50_s: float | None = None
    latency_p95_s: float | None = None
    fallbacks: int = 0  # times this provider handed the work to the next one
    circuit_state: str = "closed"


@dataclass(frozen=True, slots=True)
class ClientStats:
    """Statistics of every provider of a client, plus its cache lookups."""

    providers: Mapping[str, ProviderStats] = field(default_factory=dict)
    cache_hits: int = 0
    cache_misses: int = 0
    started_at: float = 0.0  # seconds since the epoch

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (nested dicts, numbers, strings, None)."""
        return {
            "providers": {
                name: {**dataclasses.asdict(p), "errors": dict(p.errors)}
                for name, p in self.providers.items()
            },
            "cache_hits": self.cache_hits,
            "cache_misses": self.cache_misses,
            "started_at": self.started_at,
        }

    def to_json(self, *, indent: int | None = None) -> str:
        """``to_dict()`` as JSON text."""
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)


@dataclass(slots=True)
class _Totals:
    """Mutable counters of one provider, behind the recorder's lock."""

    requests: int = 0
    inputs: int = 0
    prompt_tokens: int = 0
    retries: int = 0
    rate_limited: int = 0
    throttle_wait_seconds: float = 0.0
    cache_hits: int = 0
    cost_usd: float | None = 0.0
    errors: dict[str, int] = field(default_factory=dict)
    fallbacks: int = 0
    circuit_state: str = "closed"
    latencies: list[float] = field(default_factory=list)
    latency_count: int = 0


class StatsRecorder:
    """Aggregates hook events into ``ClientStats``; safe to read from another thread."""

    def __init__(
        self,
        *,
        sample_size: int = LATENCY_SAMPLE_SIZE,
        clock: Callable[[], float] = time.time,
        seed: int = 0,
    ) -> None:
        self._sample_size = sample_size
        self._clock = clock
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._totals: dict[str, _Totals] = {}
        self._cache_hits = self._cache_misses = 0
        self._started_at = clock()

    def attach(self, hooks: Hooks) -> StatsRecorder:
        """Subscribe to ``hooks``; returns self."""
        hooks.subscribe(self)
        return self

    def on_response(self, event: ResponseEvent) -> None:
        """Count an attempt, its wait, and its outcome: inputs, tokens and cost, or its error."""
        with self._lock:
            t = self._totals.get(event.provider) or self._get(event.provider)
            t.requests += 1
            t.throttle_wait_seconds += event.throttle_wait_s
            t.latency_count += 1
            if len(t.latencies) < self._sample_size:
                t.latencies.append(event.latency_s)
            else:
                self._sample(t, event.latency_s)
            if event.status_code == 429:
                t.rate_limited += 1
            if event.error_type is not None:
                t.errors[event.error_type] = t.errors.get(event.error_type, 0) + 1
                return
            t.inputs += event.batch_size
            t.prompt_tokens += event.prompt_tokens or 0
            if t.cost_usd is not None:
                t.cost_usd = None if event.cost_usd is None else t.cost_usd + event.cost_usd

    def on_retry(self, event: RetryEvent) -> None:
        """Count a retry."""
        with self._lock:
            self._get(event.provider).retries += 1

    def on_fallback(self, event: FallbackEvent) -> None:
        """Count a hand-over on the provider that gave up the work."""
        with self._lock:
            self._get(event.from_provider).fallbacks += 1

    def on_cache(self, event: CacheEvent) -> None:
        """Count a cache lookup."""
        with self._lock:
            self._cache_hits += event.hits
            self._cache_misses += event.misses
            if event.provider is not None:
                self._get(event.provider).cache_hits += event.hits

    def on_circuit(self, event: CircuitEvent) -> None:
        """Remember a provider's circuit-breaker state."""
        with self._lock:
            self._get(event.provider).circuit_state = event.state

    def snapshot(self) -> ClientStats:
        """An immutable copy of the statistics so far."""
        with self._lock:
            providers = {name: _freeze(t) for name, t in self._totals.items()}
            return ClientStats(providers, self._cache_hits, self._cache_misses, self._started_at)

    def _get(self, provider: str) -> _Totals:
        totals = self._totals.get(provider)
        if totals is None:
            totals = self._totals[provider] = _Totals()
        return totals

    def _sample(self, t: _Totals, latency: float) -> None:
        """Reservoir sampling (algorithm R) once the sample is full (``on_response`` fills
        it first): a uniform sample of all latencies seen."""
        slot = self._random.randrange(t.latency_count)
        if slot < self._sample_size:
            t.latencies[slot] = latency


#: ProviderStats fields copied from the totals as they are (a counter added to both
#: classes cannot be forgotten here); the others are computed in ``_freeze``
_COPIED = tuple(
    f.name
    for f in dataclasses.fields(ProviderStats)
    if f.name not in ("errors", "latency_p50_s", "latency_p95_s")
)


def _freeze(t: _Totals) -> ProviderStats:
    ordered = sorted(t.latencies)
    return ProviderStats(
        **{name: getattr(t, name) for name in _COPIED},
        errors=dict(t.errors),
        latency_p50_s=percentile(ordered, 0.50),
        latency_p95_s=percentile(ordered, 0.95),
    )


def percentile(ordered: list[float], q: float) -> float | None:
    """The ``q`` quantile of sorted values, interpolated linearly (numpy's default)."""
    if not ordered:
        return None
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)
