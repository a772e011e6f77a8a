"""OpenTelemetry spans and metrics from hook events (needs the otel extra)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk.metrics")

from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import embedmux
from embedmux import OptimizationConfig
from embedmux._events import (
    CacheEvent,
    FallbackEvent,
    Hooks,
    RequestEvent,
    ResponseEvent,
    RetryEvent,
)
from embedmux.otel import instrument
from embedmux.testing import FakeEmbeddingServer


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


# -- spans, driven through a real Client against the fake server --------------------

SECRET = "sk-otel-planted-secret-0123456789"
MODEL = "text-embedding-3-small"


@pytest.fixture
def spans() -> tuple[TracerProvider, InMemorySpanExporter]:
    """A tracer provider exporting every ended span to memory at once."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def _provider(server: FakeEmbeddingServer, name: str = "openai", **opts: Any) -> Any:
    knobs: dict[str, Any] = {"retry_delay_ms": 1, "max_retry_delay_ms": 2, **opts}
    cfg = OptimizationConfig.for_provider("openai").with_options(transport="aiohttp", **knobs)
    return embedmux.OpenAIProvider(
        api_key=SECRET, base_url=server.base_url, dimensions=8, name=name, optimization=cfg
    )


def _client(providers: Any, tracer_provider: TracerProvider, **options: Any) -> embedmux.Client:
    client = embedmux.Client(providers, **options)
    instrument(client.hooks, tracer_provider=tracer_provider, metrics=False)
    return client


def _by_name(finished: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in finished if s.name == name]


def _children(finished: Sequence[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    assert parent.context is not None
    return [
        s for s in finished if s.parent is not None and s.parent.span_id == parent.context.span_id
    ]


def _assert_no_secret(finished: Sequence[ReadableSpan]) -> None:
    """The planted key appears in no span name, attribute or event attribute."""
    for span in finished:
        values = [span.name, *(span.attributes or {}).values()]
        for event in span.events:
            values += [event.name, *(event.attributes or {}).values()]
        text = repr(values)
        assert SECRET not in text
        assert SECRET[-8:] not in text


async def test_call_span_holds_one_span_per_attempt(
    fake_server: FakeEmbeddingServer, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    """A retried call: one call span, a CLIENT span per HTTP attempt, retry and cache events."""
    tracer_provider, exporter = spans
    fake_server.fail_next(1, status=503)
    async with _client(_provider(fake_server), tracer_provider, cache="memory") as client:
        result = await client.embed(["a", "b"])
    finished = exporter.get_finished_spans()
    [call] = _by_name(finished, "embedmux.embed")
    failed, succeeded = sorted(_children(finished, call), key=lambda s: s.start_time or 0)
    for attempt in (failed, succeeded):
        assert attempt.name == f"embeddings {MODEL}"
        assert attempt.kind is SpanKind.CLIENT
        attrs = attempt.attributes or {}
        assert attrs["gen_ai.operation.name"] == "embeddings"
        assert attrs["gen_ai.request.model"] == MODEL
        assert attrs["embedmux.provider"] == "openai"
    f_attrs, s_attrs = failed.attributes or {}, succeeded.attributes or {}
    assert (f_attrs["embedmux.attempt"], s_attrs["embedmux.attempt"]) == (1, 2)
    assert failed.status.status_code is StatusCode.ERROR
    assert (f_attrs["error.type"], f_attrs["http.response.status_code"]) == ("ServerError", 503)
    assert "gen_ai.usage.input_tokens" not in f_attrs
    assert succeeded.status.status_code is StatusCode.UNSET
    assert "error.type" not in s_attrs
    assert s_attrs["gen_ai.usage.input_tokens"] == result.usage.prompt_tokens
    assert s_attrs["embedmux.cost_usd"] == pytest.approx(result.usage.cost_usd)
    events = {e.name: dict(e.attributes or {}) for e in call.events}
    assert events["embedmux.cache.lookup"]["embedmux.cache.misses"] == 2
    assert events["embedmux.retry"]["error.type"] == "ServerError"
    call_attrs = call.attributes or {}
    assert call_attrs["embedmux.provider"] == "openai"
    assert call_attrs["embedmux.prompt_tokens"] == result.usage.prompt_tokens
    assert call.status.status_code is StatusCode.UNSET
    _assert_no_secret(finished)


async def test_cached_call_has_no_attempt_spans(
    fake_server: FakeEmbeddingServer, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    """A fully cached call is one span with its cache lookup, and no HTTP attempt."""
    tracer_provider, exporter = spans
    async with _client(_provider(fake_server), tracer_provider, cache="memory") as client:
        await client.embed(["a", "b"])
        exporter.clear()
        await client.embed(["b", "a", "a"])
    [call] = exporter.get_finished_spans()
    assert call.name == "embedmux.embed"
    assert (call.attributes or {})["embedmux.cached"] == 2
    [lookup] = call.events
    assert (lookup.attributes or {})["embedmux.cache.hits"] == 2


async def test_fallback_and_failed_provider_are_visible(
    fake_server: FakeEmbeddingServer, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    """The dead provider's attempt fails with its error type; the hand-over is a span event."""
    tracer_provider, exporter = spans
    dead = embedmux.OpenAIProvider(
        api_key=SECRET,
        base_url="http://127.0.0.1:9/v1",
        dimensions=8,
        name="dead",
        optimization=OptimizationConfig(max_retries=0, transport="aiohttp"),
    )
    async with _client([dead, _provider(fake_server)], tracer_provider) as client:
        await client.embed(["x"])
    finished = exporter.get_finished_spans()
    [call] = _by_name(finished, "embedmux.embed")
    attempts = _children(finished, call)
    by_provider = {(s.attributes or {})["embedmux.provider"]: s for s in attempts}
    assert (by_provider["dead"].attributes or {})["error.type"] == "ConnectionError"
    assert by_provider["dead"].status.status_code is StatusCode.ERROR
    assert by_provider["openai"].status.status_code is StatusCode.UNSET
    [fallback] = [e for e in call.events if e.name == "embedmux.fallback"]
    assert (fallback.attributes or {})["embedmux.to_provider"] == "openai"
    _assert_no_secret(finished)


async def test_failed_call_span_has_error_status_and_no_secret(
    fake_server: FakeEmbeddingServer, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    """An authentication failure ends the call span with ERROR and error.type, key absent."""
    tracer_provider, exporter = spans
    fake_server.configure(api_key="sk-other")
    async with _client(_provider(fake_server), tracer_provider) as client:
        with pytest.raises(embedmux.AuthenticationError):
            await client.embed(["x"])
    finished = exporter.get_finished_spans()
    [call] = _by_name(finished, "embedmux.embed")
    assert call.status.status_code is StatusCode.ERROR
    assert (call.attributes or {})["error.type"] == "AuthenticationError"
    assert all(s.end_time is not None for s in finished)
    _assert_no_secret(finished)


async def test_concurrent_calls_and_batches_keep_their_parents(
    fake_server: FakeEmbeddingServer, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    """Two calls at once, each sending batches concurrently: every attempt is under its call,
    and both calls are under the caller's span, which is current again afterwards."""
    tracer_provider, exporter = spans
    tracer = tracer_provider.get_tracer("app")
    provider = _provider(fake_server, max_batch_size=1, max_concurrency=4)
    async with _client(provider, tracer_provider) as client:
        with tracer.start_as_current_span("app") as app:
            await asyncio.gather(client.embed(["a", "b", "c"]), client.embed(["d", "e"]))
            assert trace.get_current_span() is app
    finished = exporter.get_finished_spans()
    [app_span] = _by_name(finished, "app")
    calls = _by_name(finished, "embedmux.embed")
    assert sorted(len(_children(finished, c)) for c in calls) == [2, 3]
    assert all(c in _children(finished, app_span) for c in calls)
    for call in calls:
        inputs = (call.attributes or {})["embedmux.inputs"]
        assert len(_children(finished, call)) == inputs
    assert len(finished) == 1 + 2 + 5


async def test_attempt_span_is_current_while_the_request_runs(
    fake_server: FakeEmbeddingServer, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    """Code running during the attempt (an instrumented HTTP client) sees the attempt span."""
    tracer_provider, _ = spans
    seen: list[str] = []

    def current(event: object) -> None:
        span = trace.get_current_span()
        seen.append(getattr(span, "name", ""))

    async with _client(_provider(fake_server), tracer_provider) as client:
        client.hooks.on_request.append(current)  # runs after the tracer's on_request
        await client.embed(["x"])
        client.hooks.on_call_end.append(current)  # runs after the call span was closed
        await client.embed(["y"])
    assert seen == [f"embeddings {MODEL}", f"embeddings {MODEL}", ""]
