"""Per-provider statistics computed from hook events."""

from __future__ import annotations

import json
import threading

import pytest

from embedmux._events import (
    CacheEvent,
    CircuitEvent,
    FallbackEvent,
    Hooks,
    RequestEvent,
    ResponseEvent,
    RetryEvent,
)
from embedmux._stats import ClientStats, ProviderStats, StatsRecorder, percentile


def ok(provider: str, batch: int, tokens: int, latency: float, cost: float | None) -> ResponseEvent:
    """A successful attempt."""
    return ResponseEvent(provider, 200, batch, tokens, latency, cost_usd=cost)


def failed(provider: str, status: int | None, error: str, wait: float = 0.0) -> ResponseEvent:
    """A failed attempt."""
    return ResponseEvent(provider, status, 5, None, 0.05, error_type=error, throttle_wait_s=wait)


def replay(recorder: StatsRecorder) -> None:
    """A call with one 429 retried, then a fallback from openai to azure."""
    hooks = Hooks()
    recorder.attach(hooks)
    for event in (
        CacheEvent("m@3|document", hits=2, misses=5, provider="openai"),
        RequestEvent("openai", 5, 50, attempt=1, throttle_wait_s=0.25),
        failed("openai", 429, "RateLimitError", wait=0.25),
        RetryEvent("openai", 1, 0.5, "RateLimitError", 429),
        RequestEvent("openai", 5, 50, attempt=2),
        ok("openai", 5, 40, 0.2, 0.0000008),
        RequestEvent("openai", 5, 50, attempt=1),
        failed("openai", None, "TimeoutError"),
        FallbackEvent("openai", "azure", "TimeoutError"),
        CircuitEvent("openai", "open"),
        RequestEvent("azure", 5, 50),
        ok("azure", 5, 42, 0.4, None),
    ):
        hooks.emit(event)


def test_counts_follow_the_events() -> None:
    """Requests, inputs, tokens, retries, 429s, waits, errors and cache hits add up."""
    recorder = StatsRecorder()
    replay(recorder)
    openai = recorder.snapshot().providers["openai"]
    assert openai == ProviderStats(
        requests=3,
        inputs=5,
        prompt_tokens=40,
        retries=1,
        rate_limited=1,
        throttle_wait_seconds=0.25,
        cache_hits=2,
        cost_usd=pytest.approx(0.0000008),  # type: ignore[arg-type]
        errors={"RateLimitError": 1, "TimeoutError": 1},
        latency_p50_s=pytest.approx(0.05),  # type: ignore[arg-type]
        latency_p95_s=pytest.approx(0.185),  # type: ignore[arg-type]
        fallbacks=1,
        circuit_state="open",
    )


def test_client_totals_and_unknown_cost() -> None:
    """Cache lookups are counted per client; an unknown price makes the cost None."""
    recorder = StatsRecorder(clock=lambda: 1234.0)
    replay(recorder)
    stats = recorder.snapshot()
    assert (stats.cache_hits, stats.cache_misses, stats.started_at) == (2, 5, 1234.0)
    azure = stats.providers["azure"]
    assert (azure.inputs, azure.prompt_tokens, azure.cost_usd) == (5, 42, None)
    assert azure.circuit_state == "closed"


def test_unknown_cost_stays_unknown() -> None:
    """Once a response's cost is unknown, later known costs do not make a partial sum."""
    recorder = StatsRecorder()
    recorder.on_response(ok("p", 1, 1, 0.1, None))
    recorder.on_response(ok("p", 1, 1, 0.1, 0.5))
    assert recorder.snapshot().providers["p"].cost_usd is None


def test_snapshot_is_a_frozen_copy() -> None:
    """A snapshot does not change when more events arrive, nor when its dict is edited."""
    recorder = StatsRecorder()
    recorder.on_response(failed("p", 500, "ServerError"))
    before = recorder.snapshot()
    recorder.on_response(failed("p", 500, "ServerError"))
    assert before.providers["p"].errors == {"ServerError": 1}
    before.providers["p"].errors["ServerError"] = 99  # type: ignore[index]
    assert recorder.snapshot().providers["p"].errors == {"ServerError": 2}


def test_empty_stats() -> None:
    """A recorder with no events has no providers; a provider without latencies has no p50."""
    recorder = StatsRecorder()
    assert recorder.snapshot().providers == {}
    hooks = Hooks()
    recorder.attach(hooks)
    hooks.emit(RequestEvent("p", 1, 1))  # not counted until the attempt ends
    assert recorder.snapshot().providers == {}
    recorder.on_circuit(CircuitEvent("p", "open"))
    p = recorder.snapshot().providers["p"]
    assert (p.requests, p.latency_p50_s, p.latency_p95_s, p.cost_usd) == (0, None, None, 0.0)


def test_to_dict_and_to_json_round_trip() -> None:
    """to_json is JSON of to_dict, with every provider field present."""
    recorder = StatsRecorder()
    replay(recorder)
    stats = recorder.snapshot()
    data = json.loads(stats.to_json(indent=2))
    assert data == json.loads(json.dumps(stats.to_dict()))
    assert set(data["providers"]) == {"openai", "azure"}
    assert data["providers"]["openai"]["errors"] == {"RateLimitError": 1, "TimeoutError": 1}
    assert data["providers"]["azure"]["cost_usd"] is None
    assert set(data["providers"]["azure"]) == set(ProviderStats.__dataclass_fields__)


def test_latency_sample_is_bounded_and_uniform() -> None:
    """Past the sample size, percentiles still describe every latency seen."""
    recorder = StatsRecorder(sample_size=200, seed=1)
    for i in range(10_000):
        recorder.on_response(ok("p", 1, 1, i / 10_000, 0.0))
    p = recorder.snapshot().providers["p"]
    assert p.latency_p50_s is not None
    assert p.latency_p95_s is not None
    assert 0.4 < p.latency_p50_s < 0.6
    assert 0.9 < p.latency_p95_s <= 1.0


def test_percentile_matches_linear_interpolation() -> None:
    """percentile interpolates like numpy's default method."""
    assert percentile([], 0.5) is None
    assert percentile([3.0], 0.95) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([0.0, 10.0], 0.95) == pytest.approx(9.5)


def test_recording_from_threads_loses_nothing() -> None:
    """Events emitted from several threads are all counted."""
    recorder = StatsRecorder()

    def work() -> None:
        for _ in range(1000):
            recorder.on_response(failed("p", 503, "ServerError", wait=0.001))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    p = recorder.snapshot().providers["p"]
    assert p.requests == 4000
    assert p.throttle_wait_seconds == pytest.approx(4.0)


def test_stats_types_are_immutable() -> None:
    """ClientStats and ProviderStats cannot be changed in place."""
    with pytest.raises(AttributeError):
        ClientStats().cache_hits = 1  # type: ignore[misc]
    with pytest.raises(AttributeError):
        ProviderStats().requests = 1  # type: ignore[misc]
