"""OpenTelemetry spans and metrics from embedmux hook events (``pip install 'embedmux[otel]'``).

    from embedmux.otel import instrument
    instrument(client.hooks)                 # global TracerProvider and MeterProvider
    instrument(client.hooks, tracer_provider=tp, meter_provider=mp)   # or your own

Spans (``OtelTracing``)

    embedmux.embed            INTERNAL, one per ``Client.embed``; a child of the span
                              current when the call starts. Attributes embedmux.inputs,
                              embedmux.unique_inputs, embedmux.input_type, and at the end
                              embedmux.provider, embedmux.model, embedmux.cached,
                              embedmux.prompt_tokens, embedmux.cost_usd. Span events:
                              embedmux.cache.lookup (hits, misses), embedmux.retry
                              (attempt, wait), embedmux.fallback (to_provider),
                              embedmux.circuit (state).
      embeddings {model}      CLIENT, one per HTTP attempt (GenAI semantic conventions):
                              gen_ai.operation.name = "embeddings", gen_ai.request.model,
                              gen_ai.usage.input_tokens, embedmux.provider,
                              embedmux.attempt (1 = first try), embedmux.batch_size,
                              http.response.status_code, embedmux.cost_usd. While it is
                              open it is the current span, so spans of an instrumented
                              HTTP client nest under it.

    A failed call or attempt has status ERROR and ``error.type`` (the exception class).

Metrics (``OtelMetrics``) (attribute ``embedmux.provider`` on each; ``error.type`` on failures):

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

Like every subscriber, these never see headers, keys, texts or vectors.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

try:
    from opentelemetry import context as otel_context
    from opentelemetry import metrics, trace
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("embedmux.otel needs OpenTelemetry: pip install 'embedmux[otel]'") from exc

from embedmux import __version__
from embedmux._events import (
    CacheEvent,
    CallEndEvent,
    CallStartEvent,
    CircuitEvent,
    FallbackEvent,
    Hooks,
    RequestEvent,
    ResponseEvent,
    RetryEvent,
)

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Span, TracerProvider

__all__ = ["Instrumentation", "OtelMetrics", "OtelTracing", "instrument"]

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


@dataclass(slots=True)
class _Call:
    """The span of one ``Client.embed`` and its attempts still open."""

    span: Span
    token: Token[Any] | None  # restores the context current before the call
    models: dict[str, str]  # provider name -> model, from the call's chain
    attempts: dict[int, Span] = field(default_factory=dict)


class OtelTracing:
    """A hook subscriber turning calls into spans and attempts into child spans.

    State travels in context variables: each ``Client.embed`` runs in its own task
    (or tasks it starts), so concurrent calls and concurrent batches never mix.
    """

    def __init__(self, tracer_provider: TracerProvider | None = None) -> None:
        self._tracer = trace.get_tracer("embedmux", __version__, tracer_provider=tracer_provider)
        self._call: ContextVar[_Call | None] = ContextVar("embedmux_otel_call", default=None)
        self._attempt: ContextVar[tuple[Span, Token[Any]] | None] = ContextVar(
            "embedmux_otel_attempt", default=None
        )

    def on_call_start(self, event: CallStartEvent) -> None:
        """Open the call span and make it current."""
        span = self._tracer.start_span(
            "embedmux.embed",
            kind=SpanKind.INTERNAL,
            attributes={
                "embedmux.inputs": event.inputs,
                "embedmux.unique_inputs": event.unique,
                "embedmux.input_type": event.input_type,
                "embedmux.chain": [name for name, _ in event.chain],
            },
        )
        token = otel_context.attach(trace.set_span_in_context(span))
        self._call.set(_Call(span, token, dict(event.chain)))

    def on_call_end(self, event: CallEndEvent) -> None:
        """Close the call span (and any attempt a cancellation left open)."""
        call = self._call.get()
        if call is None:
            return
        self._call.set(None)
        span = call.span
        for attempt in call.attempts.values():  # only after a cancellation or a bug
            _fail(attempt, event.error_type or "Interrupted")
            attempt.end()
        if event.provider is not None:
            span.set_attributes(
                {
                    PROVIDER: event.provider,
                    "embedmux.model": event.model or "",
                    "embedmux.cached": event.cached,
                    "embedmux.prompt_tokens": event.prompt_tokens,
                }
            )
            if event.cost_usd is not None:
                span.set_attribute("embedmux.cost_usd", event.cost_usd)
        if event.error_type is not None:
            _fail(span, event.error_type)
        span.end()
        if call.token is not None:
            otel_context.detach(call.token)

    def on_request(self, event: RequestEvent) -> None:
        """Open an attempt span, a child of the call span, and make it current."""
        call = self._call.get()
        model = call.models.get(event.provider) if call is not None else None
        attributes: dict[str, str | int | float] = {
            **_OPERATION,
            PROVIDER: event.provider,
            "embedmux.attempt": event.attempt,
            "embedmux.batch_size": event.batch_size,
            "embedmux.tokens_estimated": event.tokens,
        }
        if model:
            attributes["gen_ai.request.model"] = model
        if event.attempt > 1:
            attributes["http.request.resend_count"] = event.attempt - 1
        if event.throttle_wait_s:
            attributes["embedmux.throttle_wait_s"] = event.throttle_wait_s
        parent = trace.set_span_in_context(call.span) if call is not None else None
        span = self._tracer.start_span(
            f"embeddings {model}" if model else "embeddings",
            context=parent,
            kind=SpanKind.CLIENT,
            attributes=attributes,
        )
        self._attempt.set((span, otel_context.attach(trace.set_span_in_context(span))))
        if call is not None:
            call.attempts[id(span)] = span

    def on_response(self, event: ResponseEvent) -> None:
        """Close the attempt span with its outcome."""
        current = self._attempt.get()
        if current is None:
            return
        span, token = current
        self._attempt.set(None)
        otel_context.detach(token)
        if (call := self._call.get()) is not None:
            call.attempts.pop(id(span), None)
        if event.status_code is not None:
            span.set_attribute("http.response.status_code", event.status_code)
        if event.prompt_tokens is not None:
            span.set_attribute("gen_ai.usage.input_tokens", event.prompt_tokens)
        if event.cost_usd is not None:
            span.set_attribute("embedmux.cost_usd", event.cost_usd)
        if event.error_type is not None:
            _fail(span, event.error_type)
        span.end()

    def on_retry(self, event: RetryEvent) -> None:
        """Record a retry decision as an event of the call span."""
        attributes: dict[str, str | int | float] = {
            PROVIDER: event.provider,
            "embedmux.attempt": event.attempt,
            "embedmux.retry.wait_s": event.wait_s,
            "error.type": event.error_type,
        }
        if event.status_code is not None:
            attributes["http.response.status_code"] = event.status_code
        self._span().add_event("embedmux.retry", attributes)

    def on_fallback(self, event: FallbackEvent) -> None:
        """Record a hand-over between providers as an event of the call span."""
        self._span().add_event(
            "embedmux.fallback",
            {
                PROVIDER: event.from_provider,
                "embedmux.to_provider": event.to_provider,
                "error.type": event.error_type,
            },
        )

    def on_cache(self, event: CacheEvent) -> None:
        """Record a cache lookup as an event of the call span."""
        attributes: dict[str, str | int] = {
            "embedmux.cache.namespace": event.namespace,
            "embedmux.cache.hits": event.hits,
            "embedmux.cache.misses": event.misses,
        }
        if event.provider is not None:
            attributes[PROVIDER] = event.provider
        self._span().add_event("embedmux.cache.lookup", attributes)

    def on_circuit(self, event: CircuitEvent) -> None:
        """Record a circuit breaker's change of state as an event of the call span."""
        self._span().add_event(
            "embedmux.circuit", {PROVIDER: event.provider, "embedmux.circuit.state": event.state}
        )

    def _span(self) -> Span:
        """The running call's span, else whatever span is current."""
        call = self._call.get()
        return call.span if call is not None else trace.get_current_span()


def _fail(span: Span, error_type: str) -> None:
    span.set_attribute("error.type", error_type)
    span.set_status(Status(StatusCode.ERROR, error_type))


@dataclass(frozen=True, slots=True)
class Instrumentation:
    """The subscribers ``instrument`` added (``None`` for a signal left off)."""

    tracing: OtelTracing | None
    metrics: OtelMetrics | None


def instrument(
    hooks: Hooks,
    *,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    traces: bool = True,
    metrics: bool = True,
) -> Instrumentation:
    """Subscribe ``OtelTracing`` and ``OtelMetrics`` to ``hooks`` (each unless turned off)."""
    tracing = OtelTracing(tracer_provider) if traces else None
    meters = OtelMetrics(meter_provider) if metrics else None
    for subscriber in (tracing, meters):
        if subscriber is not None:
            hooks.subscribe(subscriber)
    return Instrumentation(tracing, meters)
