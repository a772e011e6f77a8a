"""Hook events and the ``Hooks`` dispatcher."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import pytest

from embedmux._events import (
    KINDS,
    CacheEvent,
    CallEndEvent,
    CallStartEvent,
    CircuitEvent,
    Event,
    FallbackEvent,
    Hooks,
    RequestEvent,
    ResponseEvent,
    RetryEvent,
)

EVENTS: list[Event] = [
    RequestEvent("openai", batch_size=3, tokens=12, attempt=1),
    ResponseEvent("openai", 200, batch_size=3, prompt_tokens=12, latency_s=0.1),
    RetryEvent("openai", attempt=1, wait_s=0.5, error_type="RateLimitError", status_code=429),
    FallbackEvent("openai", "azure", "ServerError", "openai: HTTP 503: busy"),
    CacheEvent("m@4|document", hits=2, misses=1, provider="openai"),
    CircuitEvent("openai", "open"),
    CallStartEvent(3, 2, "document", (("openai", "text-embedding-3-small"),)),
    CallEndEvent(3, 0.2, "openai", "text-embedding-3-small", cached=1, prompt_tokens=8),
]


def test_every_event_kind_has_a_hook_list() -> None:
    """Each event type reaches exactly the hooks of its own kind."""
    seen: dict[str, list[Event]] = {kind: [] for kind in KINDS}
    hooks = Hooks()
    for kind in KINDS:
        getattr(hooks, kind).append(seen[kind].append)
    for event in EVENTS:
        hooks.emit(event)
    assert [seen[k] for k in KINDS] == [[e] for e in EVENTS]


def test_events_are_frozen_values() -> None:
    """Events cannot be changed after they are emitted, and compare by value."""
    event = RequestEvent("openai", 1, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.tokens = 2  # type: ignore[misc]
    assert event == RequestEvent("openai", 1, 1)


def test_events_carry_no_headers_or_exceptions() -> None:
    """Event fields are plain names and numbers: nothing that could hold a secret."""
    for event in EVENTS:
        for f in dataclasses.fields(event):
            value = getattr(event, f.name)
            if isinstance(value, tuple):  # the call's chain: (provider, model) names
                assert all(isinstance(n, str) for pair in value for n in pair), f.name
            else:
                assert value is None or isinstance(value, str | int | float), f.name


def test_hooks_run_in_order_with_constructor_lists() -> None:
    """Hooks given to the constructor are called in order."""
    calls: list[str] = []
    hooks = Hooks(on_retry=[lambda e: calls.append("a"), lambda e: calls.append("b")])
    hooks.emit(EVENTS[2])
    assert calls == ["a", "b"]


def test_failing_hook_is_logged_and_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    """An exception in a hook is logged with its traceback and never propagates."""
    calls: list[Event] = []

    def broken(event: RequestEvent) -> None:
        raise RuntimeError("boom")

    hooks = Hooks(on_request=[broken, calls.append])
    with caplog.at_level(logging.ERROR, logger="embedmux.hooks"):
        hooks.emit(EVENTS[0])
    assert calls == [EVENTS[0]]
    [record] = caplog.records
    assert record.name == "embedmux.hooks"
    assert "broken" in record.getMessage()
    assert record.exc_info is not None


async def test_async_hooks_are_scheduled_not_awaited() -> None:
    """emit returns before an async hook runs; drain waits for it."""
    started = asyncio.Event()
    release = asyncio.Event()
    done: list[Event] = []

    async def slow(event: CacheEvent) -> None:
        started.set()
        await release.wait()
        done.append(event)

    hooks = Hooks(on_cache=[slow])
    hooks.emit(EVENTS[4])
    assert done == []
    await started.wait()
    release.set()
    await hooks.drain()
    assert done == [EVENTS[4]]


async def test_failing_async_hook_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    """An async hook's exception is logged when it finishes, never raised."""

    async def broken(event: CircuitEvent) -> None:
        raise ValueError("bad")

    hooks = Hooks(on_circuit=[broken])
    with caplog.at_level(logging.ERROR, logger="embedmux.hooks"):
        hooks.emit(EVENTS[5])
        await hooks.drain()
    [record] = caplog.records
    assert "broken" in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ValueError)


def test_async_hook_without_a_loop_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    """Emitting outside an event loop skips async hooks with a warning (no unawaited coroutine)."""

    async def hook(event: RequestEvent) -> None:
        raise AssertionError("must not run")

    hooks = Hooks(on_request=[hook])
    with caplog.at_level(logging.WARNING, logger="embedmux.hooks"):
        hooks.emit(EVENTS[0])
    assert "no running event loop" in caplog.text


def test_subscribe_adds_the_subscribers_methods() -> None:
    """subscribe registers each on_<kind> method an object has, and only those."""

    class Partial:
        def __init__(self) -> None:
            self.seen: list[Event] = []

        def on_retry(self, event: RetryEvent) -> None:
            self.seen.append(event)

    sub = Partial()
    hooks = Hooks()
    hooks.subscribe(sub)
    assert len(hooks.on_retry) == 1
    assert not hooks.on_request
    for event in EVENTS:
        hooks.emit(event)
    assert sub.seen == [EVENTS[2]]


def test_empty_hooks_are_falsy_and_cheap() -> None:
    """Hooks with nothing registered are falsy; emitting to them does nothing."""
    hooks = Hooks()
    assert not hooks
    assert repr(hooks) == "Hooks()"
    for event in EVENTS:
        hooks.emit(event)
    hooks.on_cache.append(print)
    assert hooks
    assert repr(hooks) == "Hooks(on_cache=1)"


@pytest.mark.parametrize("kind", KINDS)
def test_one_hook_of_any_kind_makes_hooks_truthy(kind: str) -> None:
    """Truthiness (what the pipeline checks before building events) sees every kind."""
    hooks = Hooks()
    getattr(hooks, kind).append(print)
    assert hooks


def test_hook_added_during_emit_is_not_called_for_that_event() -> None:
    """A hook registering another hook does not make emit loop."""
    calls: list[str] = []
    hooks = Hooks()

    def adder(event: RequestEvent) -> None:
        calls.append("adder")
        hooks.on_request.append(adder)

    hooks.on_request.append(adder)
    hooks.emit(EVENTS[0])
    assert calls == ["adder"]
