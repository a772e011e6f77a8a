"""Client-side rate limiting for one provider: RPM and TPM token buckets, a provider-wide
pause after a 429, and back-pressure from the server's ``x-ratelimit-*`` headers.

The buckets are aiolimiter leaky buckets running at ``RATE_LIMIT_HEADROOM`` of
the configured rate and holding a twentieth of a second of quota, so the client
never bursts much more than one request; the TPM bucket starts full, so a
corpus is paced from its first request (a query's few tokens wait
microseconds). The TPM bucket is charged with each request's *estimated*
tokens, scaled by a calibration factor learned from the ``usage`` the server
reports; a request that used more than it was charged pays the difference
before its task moves on.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import re
from collections.abc import Mapping
from typing import NamedTuple

from aiolimiter import AsyncLimiter

from embedmux import _constants as C

logger = logging.getLogger("embedmux")

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_HEADER_KEYS = tuple(
    (f"x-ratelimit-remaining-{kind}", f"x-ratelimit-limit-{kind}", f"x-ratelimit-reset-{kind}")
    for kind in ("requests", "tokens")
)
_REMAINING_REQUESTS, _REMAINING_TOKENS = (keys[0] for keys in _HEADER_KEYS)


def parse_reset(value: str) -> float | None:
    """Seconds in an ``x-ratelimit-reset-*`` value (``"1s"``, ``"6m0s"``, ``"20ms"``, ``"0.5"``)."""
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parts = _DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value.replace(" ", ""):
        return None
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


def header_pause(
    headers: Mapping[str, str],
    *,
    tokens: float,
    sent_since: tuple[float, float] = (0, 0),
) -> float:
    """How long until the server's budget holds another request of ``tokens`` tokens.

    Reads ``x-ratelimit-*`` as OpenAI documents them: ``remaining`` may be sent
    now, the budget refills at ``limit`` per minute and is full again after
    ``reset``. ``sent_since`` (requests, tokens) went out after the request these
    headers answer, so the server may already have counted them. 0 when the
    budget already holds the request.
    """
    pause = 0.0
    later_requests, later_tokens = sent_since
    for (remaining_key, limit_key, reset_key), need in zip(
        _HEADER_KEYS, (1 + later_requests, tokens + later_tokens), strict=True
    ):
        remaining = headers.get(remaining_key)
        limit = headers.get(limit_key)
        if remaining is None or limit is None:
            continue
        try:
            left, per_minute = float(remaining), float(limit)
        except ValueError:
            continue
        if left >= need or per_minute <= 0:
            continue
        wait = (need - left) / (per_minute / 60.0)
        reset = parse_reset(headers.get(reset_key, ""))
        pause = max(pause, min(wait, reset) if reset is not None else wait)
    return min(pause, C.MAX_RETRY_AFTER_SECONDS)


class _Bucket:
    """A per-minute rate as a leaky bucket of about ``burst`` seconds; large amounts in chunks.

    ``primed`` buckets start full, so the start is paced like the rest instead of
    sending a burst on top of the steady rate (which a server counting over a
    short sliding window answers with 429s).
    """

    def __init__(self, per_minute: float, burst_seconds: float, *, primed: bool = False) -> None:
        capacity = max(1.0, per_minute / 60.0 * burst_seconds)
        self.limiter = AsyncLimiter(capacity, capacity * 60.0 / per_minute)
        self.capacity = capacity
        self._unprimed = primed
        self._turn = asyncio.Lock()

    async def acquire(self, amount: float) -> None:
        # One request at a time: if concurrent requests took turns chunk by chunk, they
        # would all finish together and go out as a burst.
        async with self._turn:
            if self._unprimed:
                self._unprimed = False
                await self.limiter.acquire(self.capacity)  # immediate: fills the empty bucket
            while amount > 0:
                chunk = min(amount, self.capacity)
                await self.limiter.acquire(chunk)
                amount -= chunk


class Reservation(NamedTuple):
    """What one request was charged, so it can be settled against reported usage."""

    estimated: int
    charged: int
    waited: float
    #: (requests, tokens) the limiter had let through, this request included
    sent_mark: tuple[int, int] = (0, 0)


class RateLimiter:
    """RPM/TPM limits of one provider; shared by all its concurrent requests."""

    def __init__(
        self,
        *,
        rpm: int | None,
        tpm: int | None,
        burst_seconds: float = C.RATE_LIMIT_BURST_SECONDS,
        headroom: float = C.RATE_LIMIT_HEADROOM,
        rng: random.Random | None = None,
    ) -> None:
        self._rpm = _Bucket(rpm * headroom, burst_seconds) if rpm else None
        self._tpm = _Bucket(tpm * headroom, burst_seconds, primed=True) if tpm else None
        self._rng = rng or random.Random()
        self._paused_until = 0.0
        self._jitter = 0.0
        self._estimated_total = 0
        self._actual_total = 0
        self._calibration = 1.0
        self._sent_requests = 0
        self._sent_tokens = 0

    @property
    def calibration(self) -> float:
        """Reported tokens per estimated token, learned from responses (1.0 until known)."""
        return self._calibration

    def pause(self, seconds: float) -> None:
        """Hold every request of this provider for ``seconds``; each waiter adds its own
        jitter (a fifth of the pause, at most ``PAUSE_JITTER_SECONDS``)."""
        seconds = min(max(0.0, seconds), C.MAX_RETRY_AFTER_SECONDS)
        until = asyncio.get_running_loop().time() + seconds
        if until > self._paused_until:
            logger.debug("rate limiter: pausing provider for %.3fs", seconds)
            self._paused_until = until
            self._jitter = min(C.PAUSE_JITTER_SECONDS, C.PAUSE_JITTER_FRACTION * seconds)

    def try_acquire(self, estimated_tokens: int) -> Reservation | None:
        """The reservation at once when nothing can hold the request back (no bucket, no
        pause in force); else ``None``, and the caller awaits ``acquire``. Saves the
        unlimited path a coroutine per request."""
        if self._rpm is not None or self._tpm is not None:
            return None
        if self._paused_until and self._paused_until > asyncio.get_running_loop().time():
            return None
        return self._reserve(estimated_tokens, 0.0)

    async def acquire(self, estimated_tokens: int) -> Reservation:
        """Wait for the pause, an RPM slot and the request's (calibrated) tokens."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        while (left := self._paused_until - loop.time()) > 0:
            await asyncio.sleep(left + self._rng.uniform(0, self._jitter))
        if self._rpm:
            await self._rpm.acquire(1)
        charged = math.ceil(estimated_tokens * self._calibration)
        if self._tpm:
            await self._tpm.acquire(charged)
        return self._reserve(estimated_tokens, loop.time() - start, charged)

    def _reserve(
        self, estimated_tokens: int, waited: float, charged: int | None = None
    ) -> Reservation:
        if charged is None:
            charged = math.ceil(estimated_tokens * self._calibration)
        self._sent_requests += 1
        self._sent_tokens += charged
        mark = (self._sent_requests, self._sent_tokens)
        return Reservation(estimated_tokens, charged, waited, mark)

    def settle(self, reservation: Reservation, actual_tokens: int | None) -> int:
        """Learn from the server's token count. Returns the under-charge the TPM bucket
        is still owed (0 without one): ``await pay(debt)`` before the next request."""
        if actual_tokens is None:
            return 0
        self._estimated_total += reservation.estimated
        self._actual_total += actual_tokens
        if self._actual_total and self._estimated_total:  # a fifth to five times the estimate
            self._calibration = min(5.0, max(0.2, self._actual_total / self._estimated_total))
        debt = actual_tokens - reservation.charged
        return debt if debt > 0 and self._tpm else 0

    async def pay(self, debt: int) -> float:
        """Charge ``debt`` tokens to the TPM bucket; returns the seconds waited."""
        if debt <= 0 or not self._tpm:
            return 0.0
        loop = asyncio.get_running_loop()
        start = loop.time()
        await self._tpm.acquire(debt)
        return loop.time() - start

    def observe(self, headers: Mapping[str, str], reservation: Reservation) -> None:
        """Hold back when ``x-ratelimit-*`` say the server's budget cannot take another
        request like the one just answered, on top of those sent since."""
        if _REMAINING_REQUESTS not in headers and _REMAINING_TOKENS not in headers:
            return  # the server does not say (a local or compatible server, often)
        requests, tokens = reservation.sent_mark
        since = (self._sent_requests - requests, self._sent_tokens - tokens)
        wait = header_pause(headers, tokens=reservation.charged, sent_since=since)
        if wait > 0:
            self.pause(wait)
