"""OpenTelemetry metrics from hook events (needs the otel extra)."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk.metrics")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from embedmux._events import (
    CacheEvent,
    FallbackEvent,
    Hooks,
    RequestEvent,
    ResponseEvent,
    RetryEvent,
)
from embedmux.otel import instrument


def collect(reader: InMemoryMetricReader) -> dict[str, list[tuple[dict[str, Any], Any]]]:
    """Metric name -> [(attributes, value or histogram count)]."""
    out: dict[str, list[tuple[dict[str, Any], Any]]] = {}
    data = reader.get_metrics_data()
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                out[metric.name] = [
                    (
                        dict(p.attributes or {}),
                        getattr(p, "value", None) or getattr(p, "count", None),
                    )
                    for p in metric.data.data_points
                ]
    return out


def test_events_become_metrics() -> None:
    """Attempts, tokens, retries, fallbacks, waits, cost and cache lookups are recorded."""
    reader = InMemoryMetricReader()
    hooks = Hooks()
    instrument(hooks, meter_provider=MeterProvider(metric_readers=[reader]))
    for event in (
        RequestEvent("openai", 4, 40, throttle_wait_s=0.5),
        ResponseEvent("openai", 429, 4, None, 0.1, error_type="RateLimitError"),
        RetryEvent("openai", 1, 1.0, "RateLimitError", 429),
        RequestEvent("openai", 4, 40, attempt=2),
        ResponseEvent("openai", 200, 4, 38, 0.2, cost_usd=0.00000076),
        FallbackEvent("openai", "azure", "ServerError"),
        CacheEvent("m@3|document", hits=3, misses=4),
    ):
        hooks.emit(event)
    got = collect(reader)
    provider = {"embedmux.provider": "openai"}
    assert got["embedmux.requests"] == [(provider, 2)]
    assert got["embedmux.inputs"] == [(provider, 4)]
    assert got["embedmux.throttle.wait"] == [(provider, 0.5)]
    assert got["embedmux.cost"] == [(provider, pytest.approx(0.00000076))]
    assert got["embedmux.retries"] == [({**provider, "error.type": "RateLimitError"}, 1)]
    assert got["embedmux.cache.lookups"] == [
        ({"embedmux.cache.hit": True}, 3),
        ({"embedmux.cache.hit": False}, 4),
    ]
    [(fallback, _)] = got["embedmux.fallbacks"]
    assert fallback["embedmux.to_provider"] == "azure"
    durations = {a.get("error.type"): n for a, n in got["gen_ai.client.operation.duration"]}
    assert durations == {"RateLimitError": 1, None: 1}
    [(tokens, count)] = got["gen_ai.client.token.usage"]
    assert (tokens["gen_ai.token.type"], count) == ("input", 1)
