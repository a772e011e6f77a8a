"""Retry waits and decisions, computed as pure functions without sleeping."""

from __future__ import annotations

import random

import pytest
from tenacity import RetryCallState, Retrying, stop_after_attempt, wait_fixed

from embedmux import _constants as C
from embedmux._exceptions import (
    AuthenticationError,
    BadRequestError,
    ConnectionError,
    NotFoundError,
    RateLimitError,
    ResponseError,
    ServerError,
    TimeoutError,
    status_error,
)
from embedmux._optimization import OptimizationConfig
from embedmux._retry import backoff_wait, is_retryable, server_hint, wait_server_hint


def _state(attempt: int, error: BaseException) -> RetryCallState:
    """A tenacity call state whose ``attempt``-th attempt failed with ``error``."""
    state = RetryCallState(Retrying(), fn=None, args=(), kwargs={})
    state.attempt_number = attempt
    state.set_exception((type(error), error, None))
    return state


def _server_error(retry_after: float | None = None) -> ServerError:
    return ServerError("boom", provider="p", status_code=503, retry_after=retry_after)


@pytest.mark.parametrize(
    ("error", "retry"),
    [
        (RateLimitError("x", provider="p"), True),
        (_server_error(), True),
        (TimeoutError("x", provider="p"), True),
        (ConnectionError("x", provider="p"), True),
        (ResponseError("x", provider="p"), True),
        (BadRequestError("x", provider="p"), False),
        (AuthenticationError("x", provider="p"), False),
        (NotFoundError("x", provider="p"), False),
        (ValueError("x"), False),
    ],
)
def test_which_errors_are_retried(error: BaseException, retry: bool) -> None:
    """429, 5xx, timeouts, connection errors and bad responses retry; other 4xx never."""
    assert is_retryable(error) is retry


def test_backoff_grows_exponentially_and_is_capped() -> None:
    """Without a hint the wait is full-jitter exponential from retry_delay_ms, capped."""
    cfg = OptimizationConfig(retry_delay_ms=100, max_retry_delay_ms=1000)
    wait = backoff_wait(cfg)
    for attempt, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (9, 1.0)]:
        samples = [wait(_state(attempt, _server_error())) for _ in range(200)]
        assert all(0 <= s <= ceiling + 1e-9 for s in samples)
        assert max(samples) > ceiling * 0.5  # jitter spreads over the range


def test_retry_after_hint_replaces_backoff_with_small_jitter() -> None:
    """A Retry-After hint is honoured, plus at most PAUSE_JITTER_SECONDS of jitter."""
    wait = wait_server_hint(wait_fixed(99), rng=random.Random(1))
    samples = [wait(_state(1, _server_error(retry_after=2.0))) for _ in range(100)]
    assert all(2.0 <= s <= 2.0 + C.PAUSE_JITTER_SECONDS for s in samples)
    assert len(set(samples)) > 50  # waiters that got the same hint do not return together


def test_retry_after_hint_is_capped() -> None:
    """A server asking for an hour gets MAX_RETRY_AFTER_SECONDS."""
    wait = wait_server_hint(wait_fixed(0), jitter=0)
    assert wait(_state(1, _server_error(retry_after=3600))) == C.MAX_RETRY_AFTER_SECONDS


def test_server_hint_ignores_garbage() -> None:
    """Only a non-negative number counts as a hint."""
    assert server_hint(_server_error(retry_after=1.5)) == 1.5
    assert server_hint(ValueError()) is None
    assert server_hint(None) is None


def test_status_mapping() -> None:
    """One function maps HTTP status to the exception class, keeping index and hint."""
    assert isinstance(status_error(401, "m", provider="p"), AuthenticationError)
    assert isinstance(status_error(403, "m", provider="p"), AuthenticationError)
    assert isinstance(status_error(404, "m", provider="p"), NotFoundError)
    limited = status_error(429, "m", provider="p", retry_after=3)
    assert isinstance(limited, RateLimitError)
    assert limited.retry_after == 3
    assert isinstance(status_error(502, "m", provider="p"), ServerError)
    bad = status_error(400, "input[4] is empty", provider="p", index=4)
    assert isinstance(bad, BadRequestError)
    assert bad.index == 4
    assert "HTTP 400" in str(bad)


def test_stop_after_max_retries() -> None:
    """max_retries=2 means three attempts in all."""
    cfg = OptimizationConfig(max_retries=2)
    stop = stop_after_attempt(cfg.max_retries + 1)
    assert not stop(_state(2, _server_error()))
    assert stop(_state(3, _server_error()))
