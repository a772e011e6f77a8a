"""OpenTelemetry metrics from embedmux hook events (``pip install 'embedmux[otel]'``).

    from embedmux.otel import instrument
    instrument(hooks)                        # global MeterProvider
    instrument(hooks, meter_provider=mp)     # or your own

Instruments (attribute ``embedmux.provider`` on each; ``error.type`` on failures):

    gen_ai.client.operation.duration  histogram, s   every attempt (GenAI semantic conventions,
                                                     gen_ai.operation.name = "embeddings")
    gen_ai.client.token.usage         histogram      input tokens of successful attempts
    embedmux.requests                 counter        attempts
    embedmux.inputs                   counter        inputs that got vectors
    embedmux.retries                  counter
    embedmux.fallbacks                counter        by embedmux.provider (the one giving up)
                                                     and embedmux.to_provider
    embedmux.throttle.wait            counter, s     time spent on the client's rate limiter
    embedmux.cost                     counter, USD   estimated, where the price is known
    embedmux.cache.lookups            counter        inputs looked up, embedmux.cache.hit = bool

Like every subscriber, these never see headers or keys.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

try:
    from opentelemetry import metrics
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("embedmux.otel needs OpenTelemetry: pip install 'embedmux[otel]'") from exc

from embedmux import __version__
from embedmux._events import (
    CacheEvent,
    FallbackEvent,
    Hooks,
    RequestEvent,
    ResponseEvent,
    RetryEvent,
)

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider

__all__ = ["OtelMetrics", "instrument"]

PROVIDER = "embedmux.provider"
_OPERATION = {"gen_ai.operation.name": "embeddings"}


class OtelMetrics:
    """A hook subscriber recording OpenTelemetry metrics."""

    def __init__(self, meter_provider: MeterProvider | None = None) -> None:
        meter = metrics.get_meter("embedmux", __version__, meter_provider=meter_provider)
        self._duration = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s", description="Embedding attempt time"
        )
        self._tokens = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}", description="Input tokens per attempt"
        )
        self._requests = meter.create_counter("embedmux.requests", unit="{request}")
        self._inputs = meter.create_counter("embedmux.inputs", unit="{input}")
        self._retries = meter.create_counter("embedmux.retries", unit="{retry}")
        self._fallbacks = meter.create_counter("embedmux.fallbacks", unit="{fallback}")
        self._throttle = meter.create_counter("embedmux.throttle.wait", unit="s")
        self._cost = meter.create_counter("embedmux.cost", unit="USD")
        self._cache = meter.create_counter("embedmux.cache.lookups", unit="{input}")

    def on_request(self, event: RequestEvent) -> None:
        """Count an attempt and its rate-limiter wait."""
        attrs = {PROVIDER: event.provider}
        self._requests.add(1, attrs)
        if event.throttle_wait_s:
            self._throttle.add(event.throttle_wait_s, attrs)

    def on_response(self, event: ResponseEvent) -> None:
        """Record an attempt's duration, and its tokens, inputs and cost when it succeeded."""
        attrs: dict[str, str | int] = {**_OPERATION, PROVIDER: event.provider}
        if event.status_code is not None:
            attrs["http.response.status_code"] = event.status_code
        if event.error_type is not None:
            attrs["error.type"] = event.error_type
        self._duration.record(event.latency_s, attrs)
        if event.error_type is not None:
            return
        base = {PROVIDER: event.provider}
        self._inputs.add(event.batch_size, base)
        if event.prompt_tokens is not None:
            self._tokens.record(
                event.prompt_tokens, {**_OPERATION, **base, "gen_ai.token.type": "input"}
            )
        if event.cost_usd is not None:
            self._cost.add(event.cost_usd, base)

    def on_retry(self, event: RetryEvent) -> None:
        """Count a retry by error type."""
        self._retries.add(1, {PROVIDER: event.provider, "error.type": event.error_type})

    def on_fallback(self, event: FallbackEvent) -> None:
        """Count a hand-over between providers."""
        self._fallbacks.add(
            1,
            {
                PROVIDER: event.from_provider,
                "embedmux.to_provider": event.to_provider,
                "error.type": event.error_type,
            },
        )

    def on_cache(self, event: CacheEvent) -> None:
        """Count cache hits and misses."""
        for hit, count in ((True, event.hits), (False, event.misses)):
            if count:
                self._cache.add(count, {"embedmux.cache.hit": hit})


def instrument(hooks: Hooks, *, meter_provider: MeterProvider | None = None) -> OtelMetrics:
    """Subscribe an ``OtelMetrics`` to ``hooks`` and return it."""
    subscriber = OtelMetrics(meter_provider)
    hooks.subscribe(subscriber)
    return subscriber
