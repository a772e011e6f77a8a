"""Typed events the client emits, and ``Hooks``, the lists of callbacks that receive them.

One data flow: the client only *emits* events; statistics (``StatsRecorder``),
OpenTelemetry and user callbacks are all subscribers. Events carry names,
counts, times and error type names, never headers, request objects or keys.

When the client emits what
    ``RequestEvent``   before each HTTP attempt (``attempt`` 1 is the first try)
    ``ResponseEvent``  after each attempt, whatever its outcome: ``error_type``
                       is set when it failed (then ``status_code`` is the HTTP
                       status, or ``None`` when no answer came)
    ``RetryEvent``     when a failed attempt will be retried after ``wait_s``
    ``FallbackEvent``  when a chain hands the work to the next provider
    ``CacheEvent``     after each cache lookup
    ``CircuitEvent``   when a provider's circuit breaker changes state
    ``CallStartEvent`` when ``Client.embed`` starts (inputs validated), and
    ``CallEndEvent``   when it ends, whatever its outcome; every other event of
                       the call is emitted between the two, in the call's task
                       or in tasks it started (so a ``contextvars`` value set by
                       ``on_call_start`` is visible to them)

Prices
    ``Hooks.prices`` is the client's price table (``None``: the default one);
    ``hooks.cost(model, tokens)`` is how emitters price a ``ResponseEvent``, so
    events, ``stats()`` and ``usage.cost_usd`` agree.

Callbacks
    A hook is any callable taking the event. Its exceptions are logged on
    ``embedmux.hooks`` (with traceback) and never reach the embedding call. A
    hook that returns an awaitable (an ``async def``) is scheduled as a task on
    the running loop, not awaited: a slow hook never slows a call. ``await
    hooks.drain()`` waits for those tasks (the client does so on ``aclose``).
    With no hooks, ``emit`` is a dictionary look-up and an empty-list test; the
    client may also skip building an event with ``if hooks.on_request:``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

from embedmux._pricing import PriceTable, estimate_cost

logger = logging.getLogger("embedmux.hooks")


@dataclass(frozen=True, slots=True)
class RequestEvent:
    """An attempt to embed one batch is about to be sent."""

    provider: str
    batch_size: int  # inputs in the batch
    tokens: int  # estimated tokens of the batch
    attempt: int = 1  # 1 for the first try, 2 for the first retry, ...
    throttle_wait_s: float = 0.0  # time this attempt waited on the client's rate limiter


@dataclass(frozen=True, slots=True)
class ResponseEvent:
    """An attempt ended: with vectors, or with the error named by ``error_type``."""

    provider: str
    status_code: int | None  # HTTP status; None when no HTTP answer arrived (or local work)
    batch_size: int
    prompt_tokens: int | None  # as reported by the server (None when unknown or failed)
    latency_s: float
    cost_usd: float | None = None  # estimated; None when the model's price is unknown
    error_type: str | None = None  # exception class name when the attempt failed
    throttle_wait_s: float = 0.0  # time this attempt waited on the client's rate limiter


@dataclass(frozen=True, slots=True)
class RetryEvent:
    """A failed attempt will be retried after ``wait_s`` seconds."""

    provider: str
    attempt: int  # the attempt that failed
    wait_s: float
    error_type: str
    status_code: int | None = None


@dataclass(frozen=True, slots=True)
class FallbackEvent:
    """A chain handed the work from one provider to the next."""

    from_provider: str
    to_provider: str
    error_type: str
    message: str = ""  # the error's message (embedmux messages never hold secrets)


@dataclass(frozen=True, slots=True)
class CacheEvent:
    """A cache lookup answered ``hits`` of ``hits + misses`` inputs."""

    namespace: str
    hits: int
    misses: int
    provider: str | None = None  # the provider whose space was looked up, when known


@dataclass(frozen=True, slots=True)
class CircuitEvent:
    """A provider's circuit breaker changed state."""

    provider: str
    state: str  # "closed", "open" or "half_open"


@dataclass(frozen=True, slots=True)
class CallStartEvent:
    """``Client.embed`` started: ``inputs`` texts (``unique`` distinct) against ``chain``."""

    inputs: int
    unique: int
    input_type: str
    chain: tuple[tuple[str, str], ...]  # (provider name, model) in fallback order


@dataclass(frozen=True, slots=True)
class CallEndEvent:
    """``Client.embed`` ended: with vectors from ``provider``, or with ``error_type``."""

    inputs: int
    latency_s: float
    provider: str | None = None  # the provider whose space the result is in (None: failed)
    model: str | None = None
    cached: int = 0  # inputs answered by the cache
    prompt_tokens: int = 0  # tokens paid for (all providers tried)
    cost_usd: float | None = None
    error_type: str | None = None  # exception class name when the call failed


Event: TypeAlias = (
    RequestEvent
    | ResponseEvent
    | RetryEvent
    | FallbackEvent
    | CacheEvent
    | CircuitEvent
    | CallStartEvent
    | CallEndEvent
)
E = TypeVar("E", bound=Event)
Hook: TypeAlias = Callable[[E], object]

_KIND: dict[type[Any], str] = {
    RequestEvent: "on_request",
    ResponseEvent: "on_response",
    RetryEvent: "on_retry",
    FallbackEvent: "on_fallback",
    CacheEvent: "on_cache",
    CircuitEvent: "on_circuit",
    CallStartEvent: "on_call_start",
    CallEndEvent: "on_call_end",
}
KINDS: tuple[str, ...] = tuple(_KIND.values())


class Hooks:
    """Callbacks per event kind; ``emit`` calls those of the event's kind.

    The lists are plain and may be appended to at any time. ``prices`` is the
    price table events are priced with (``None``: ``DEFAULT_PRICES``); a client
    given ``prices=`` sets it on its hooks.
    """

    __slots__ = (*KINDS, "_tasks", "prices")

    def __init__(
        self,
        *,
        on_request: Iterable[Hook[RequestEvent]] = (),
        on_response: Iterable[Hook[ResponseEvent]] = (),
        on_retry: Iterable[Hook[RetryEvent]] = (),
        on_fallback: Iterable[Hook[FallbackEvent]] = (),
        on_cache: Iterable[Hook[CacheEvent]] = (),
        on_circuit: Iterable[Hook[CircuitEvent]] = (),
        on_call_start: Iterable[Hook[CallStartEvent]] = (),
        on_call_end: Iterable[Hook[CallEndEvent]] = (),
        prices: PriceTable | None = None,
    ) -> None:
        self.on_request: list[Hook[RequestEvent]] = list(on_request)
        self.on_response: list[Hook[ResponseEvent]] = list(on_response)
        self.on_retry: list[Hook[RetryEvent]] = list(on_retry)
        self.on_fallback: list[Hook[FallbackEvent]] = list(on_fallback)
        self.on_cache: list[Hook[CacheEvent]] = list(on_cache)
        self.on_circuit: list[Hook[CircuitEvent]] = list(on_circuit)
        self.on_call_start: list[Hook[CallStartEvent]] = list(on_call_start)
        self.on_call_end: list[Hook[CallEndEvent]] = list(on_call_end)
        self.prices = prices
        self._tasks: set[asyncio.Future[Any]] = set()

    def subscribe(self, subscriber: object) -> None:
        """Add each ``on_<kind>`` method ``subscriber`` has (e.g. a ``StatsRecorder``)."""
        for kind in KINDS:
            method = getattr(subscriber, kind, None)
            if callable(method):
                getattr(self, kind).append(method)

    def cost(self, model: str, prompt_tokens: int) -> float | None:
        """Estimated USD for ``prompt_tokens`` of ``model`` by ``prices``; ``None`` if unknown."""
        return estimate_cost(model, prompt_tokens, self.prices)

    def __bool__(self) -> bool:
        return bool(
            self.on_request
            or self.on_response
            or self.on_retry
            or self.on_fallback
            or self.on_cache
            or self.on_circuit
            or self.on_call_start
            or self.on_call_end
        )

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={len(getattr(self, k))}" for k in KINDS if getattr(self, k))
        return f"Hooks({counts})"

    def emit(self, event: Event) -> None:
        """Call every hook of the event's kind; a failing hook is logged, never raised."""
        hooks = getattr(self, _KIND[type(event)])
        for hook in tuple(hooks) if hooks else ():
            try:
                result = hook(event)
            except Exception:
                logger.exception("hook %s failed on %s", _name(hook), type(event).__name__)
                continue
            if result is not None and inspect.isawaitable(result):
                self._schedule(hook, event, result)

    async def drain(self) -> None:
        """Wait for the async hooks scheduled so far (their errors are logged)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _schedule(self, hook: Callable[..., object], event: Event, result: Awaitable[Any]) -> None:
        try:
            task = asyncio.ensure_future(result, loop=asyncio.get_running_loop())
        except RuntimeError:
            if inspect.iscoroutine(result):
                result.close()
            logger.warning(
                "async hook %s skipped on %s: no running event loop",
                _name(hook),
                type(event).__name__,
            )
            return
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._finished(t, hook, event))

    def _finished(
        self, task: asyncio.Future[Any], hook: Callable[..., object], event: Event
    ) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            logger.error(
                "hook %s failed on %s",
                _name(hook),
                type(event).__name__,
                exc_info=(type(exc), exc, exc.__traceback__),
            )


def _name(hook: Callable[..., object]) -> str:
    return getattr(hook, "__qualname__", None) or repr(hook)
