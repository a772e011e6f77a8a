"""Retry policy: tenacity with exponential backoff and jitter that follows server hints.

Retries 429, 5xx, timeouts, connection errors and untrustworthy responses (the
``retryable`` flag of the error class); never other 4xx. A ``Retry-After`` or
``retry-after-ms`` hint replaces the backoff, capped at
``MAX_RETRY_AFTER_SECONDS``, plus a little jitter so retries that got the same
hint do not return together.
"""

from __future__ import annotations

import logging
import random

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)
from tenacity.wait import wait_base

from embedmux import _constants as C
from embedmux import _emit
from embedmux._events import RetryEvent
from embedmux._exceptions import ProviderError
from embedmux._optimization import OptimizationConfig

logger = logging.getLogger("embedmux")


def is_retryable(error: BaseException) -> bool:
    """True for errors a retry may fix (429, 5xx, timeouts, connection, bad response)."""
    return isinstance(error, ProviderError) and error.retryable


def server_hint(error: BaseException | None) -> float | None:
    """The ``retry_after`` seconds a server attached to ``error``, if any."""
    hint = getattr(error, "retry_after", None)
    return float(hint) if isinstance(hint, int | float) and hint >= 0 else None


class wait_server_hint(wait_base):
    """Wait what the server asked (capped, plus jitter), else fall back to ``fallback``."""

    def __init__(
        self,
        fallback: wait_base,
        *,
        cap: float = C.MAX_RETRY_AFTER_SECONDS,
        jitter: float = C.PAUSE_JITTER_SECONDS,
        rng: random.Random | None = None,
    ) -> None:
        self.fallback, self.cap, self.jitter = fallback, cap, jitter
        self.rng = rng or random.Random()

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        hint = server_hint(outcome.exception() if outcome is not None else None)
        if hint is None:
            return float(self.fallback(retry_state))
        return min(hint, self.cap) + self.rng.uniform(0, self.jitter)


def backoff_wait(config: OptimizationConfig) -> wait_server_hint:
    """The wait strategy for ``config``: full-jitter exponential backoff, server hints first."""
    fallback = wait_random_exponential(
        multiplier=config.retry_delay_ms / 1000, max=config.max_retry_delay_ms / 1000
    )
    return wait_server_hint(fallback)


def make_retrying(config: OptimizationConfig, *, provider: str) -> AsyncRetrying:
    """A tenacity controller for one request; ``copy()`` it per request (it holds state)."""

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        logger.debug(
            "%s: attempt %d failed (%s: %s); retrying in %.3fs",
            provider,
            state.attempt_number,
            type(error).__name__,
            error,
            wait,
        )
        if hooks := _emit.active():
            status = getattr(error, "status_code", None)
            hooks.emit(
                RetryEvent(provider, state.attempt_number, wait, type(error).__name__, status)
            )

    return AsyncRetrying(
        stop=stop_after_attempt(config.max_retries + 1),
        wait=backoff_wait(config),
        retry=retry_if_exception(is_retryable),
        before_sleep=before_sleep,
        reraise=True,
    )
