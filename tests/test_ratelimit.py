"""The client-side rate limiter, on a virtual clock (no real sleeping)."""

from __future__ import annotations

import asyncio

import pytest

from embedmux import _constants as C
from embedmux._ratelimit import RateLimiter, Reservation, header_pause, parse_reset
from tests.virtual_time import run_virtual


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("20ms", 0.02),
        ("1h2m3s", 3723.0),
        ("0.5", 0.5),
        ("2.5s", 2.5),
        ("soon", None),
        ("", None),
    ],
)
def test_parse_reset(value: str, seconds: float | None) -> None:
    """x-ratelimit-reset-* durations in OpenAI's format (and plain seconds) parse."""
    assert parse_reset(value) == seconds


def test_header_pause_waits_until_the_budget_holds_the_next_request() -> None:
    """No pause while remaining holds the request; else the refill time (limit per minute),
    capped by the reset and by MAX_RETRY_AFTER_SECONDS."""
    healthy = {
        "x-ratelimit-limit-tokens": "6000",  # 100 tokens a second
        "x-ratelimit-remaining-tokens": "500",
        "x-ratelimit-reset-tokens": "30s",
    }
    short = {**healthy, "x-ratelimit-remaining-tokens": "10"}
    assert header_pause(healthy, tokens=100) == 0.0
    assert header_pause(short, tokens=100) == pytest.approx(0.9)  # 90 tokens at 100/s
    assert header_pause({**short, "x-ratelimit-reset-tokens": "0.5s"}, tokens=100) == 0.5
    assert header_pause({}, tokens=100) == 0.0
    slow = {**short, "x-ratelimit-limit-tokens": "60", "x-ratelimit-reset-tokens": "10m0s"}
    assert header_pause(slow, tokens=100) == C.MAX_RETRY_AFTER_SECONDS


def test_header_pause_counts_requests_sent_since() -> None:
    """Requests that went out after the answered one use the same remaining budget."""
    headers = {
        "x-ratelimit-limit-tokens": "6000",
        "x-ratelimit-remaining-tokens": "250",
        "x-ratelimit-reset-tokens": "1s",
        "x-ratelimit-limit-requests": "600",  # 10 a second
        "x-ratelimit-remaining-requests": "2",
        "x-ratelimit-reset-requests": "1s",
    }
    assert header_pause(headers, tokens=100) == 0.0
    assert header_pause(headers, tokens=100, sent_since=(0, 200)) == pytest.approx(0.5)
    assert header_pause(headers, tokens=10, sent_since=(2, 20)) == pytest.approx(0.1)


def test_rpm_bucket_spaces_requests() -> None:
    """At 60 RPM (run at the headroom fraction), ten requests take nine intervals."""

    async def scenario() -> float:
        limiter = RateLimiter(rpm=60, tpm=None)
        loop = asyncio.get_running_loop()
        start = loop.time()
        for _ in range(10):
            await limiter.acquire(1)
        return loop.time() - start

    assert run_virtual(scenario()) == pytest.approx(9.0 / C.RATE_LIMIT_HEADROOM, abs=0.05)


def test_tpm_bucket_weighs_by_tokens_and_splits_large_amounts() -> None:
    """600 TPM is 10 tokens/s (times the headroom) from the first request (the bucket starts
    full): 10 tokens wait 1 s, then 25 tokens 2.5 s more (in chunks of the bucket's size)."""

    async def scenario() -> tuple[float, float]:
        limiter = RateLimiter(rpm=None, tpm=600)
        first = await limiter.acquire(10)
        second = await limiter.acquire(25)
        return first.waited, second.waited

    first, second = run_virtual(scenario())
    assert first == pytest.approx(1.0 / C.RATE_LIMIT_HEADROOM, abs=0.05)
    assert second == pytest.approx(2.5 / C.RATE_LIMIT_HEADROOM, abs=0.05)


def test_concurrent_large_requests_are_spaced_not_bunched() -> None:
    """Requests larger than the bucket go out one by one at the rate, never together after
    taking turns chunk by chunk (which would send them as a burst)."""

    async def scenario() -> list[float]:
        limiter = RateLimiter(rpm=None, tpm=6000, headroom=1.0)  # 100 tokens/s, burst 5
        loop = asyncio.get_running_loop()
        start = loop.time()
        sent: list[float] = []

        async def request() -> None:
            await limiter.acquire(50)
            sent.append(loop.time() - start)

        await asyncio.gather(*(request() for _ in range(4)))
        return sent

    sent = run_virtual(scenario())
    assert sent == pytest.approx([0.5, 1.0, 1.5, 2.0], abs=0.02)


def test_pause_holds_every_request_with_jitter() -> None:
    """After pause(2), every waiter waits at least 2 s and at most 2 s + jitter."""
    jitter = min(C.PAUSE_JITTER_SECONDS, 2.0 * C.PAUSE_JITTER_FRACTION)

    async def scenario() -> list[float]:
        limiter = RateLimiter(rpm=None, tpm=None)
        limiter.pause(2.0)
        results = await asyncio.gather(*(limiter.acquire(1) for _ in range(5)))
        return [r.waited for r in results]

    waits = run_virtual(scenario())
    assert all(2.0 <= w <= 2.0 + jitter + 1e-9 for w in waits)
    assert len(set(waits)) > 1


def test_observe_pauses_on_spent_headers() -> None:
    """Headers saying the request budget is spent make the next acquire wait for one
    request's refill (60 RPM: 1 s), not for the whole reset."""

    async def scenario() -> float:
        limiter = RateLimiter(rpm=None, tpm=None)
        reservation = await limiter.acquire(1)
        limiter.observe(
            {
                "x-ratelimit-limit-requests": "60",
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": "30s",
            },
            reservation,
        )
        return (await limiter.acquire(1)).waited

    waited = run_virtual(scenario())
    assert 1.0 <= waited <= 1.0 + C.PAUSE_JITTER_FRACTION + 1e-9


def test_calibration_learns_from_reported_usage() -> None:
    """When the server counts half the estimated tokens, later requests are charged half."""

    async def scenario() -> tuple[int, float]:
        limiter = RateLimiter(rpm=None, tpm=6000)
        reservation = await limiter.acquire(100)
        limiter.settle(reservation, 50)
        return (await limiter.acquire(100)).charged, limiter.calibration

    charged, calibration = run_virtual(scenario())
    assert calibration == 0.5
    assert charged == 50


def test_under_charged_request_pays_its_debt() -> None:
    """A request that used more tokens than charged pays the difference to the TPM bucket."""

    async def scenario() -> float:
        limiter = RateLimiter(rpm=None, tpm=600, headroom=1.0)  # 10 tokens/s
        reservation = await limiter.acquire(10)
        return await limiter.pay(limiter.settle(reservation, 30))

    assert run_virtual(scenario()) == pytest.approx(2.0, abs=0.05)


def test_unknown_usage_changes_nothing() -> None:
    """Without a reported count, calibration stays 1.0 and nothing is charged."""

    async def scenario() -> tuple[int, float]:
        limiter = RateLimiter(rpm=None, tpm=600)
        reservation = await limiter.acquire(5)
        return limiter.settle(reservation, None), limiter.calibration

    assert run_virtual(scenario()) == (0, 1.0)


def test_try_acquire_only_when_nothing_can_hold_the_request_back() -> None:
    """Without buckets and outside a pause the reservation comes at once, counted like an
    awaited one; a bucket or a pause in force means ``None`` (the caller awaits acquire)."""

    async def scenario() -> tuple[Reservation | None, ...]:
        free = RateLimiter(rpm=None, tpm=None)
        first = free.try_acquire(10)
        free.pause(1.0)
        paused = free.try_acquire(10)
        await asyncio.sleep(1.0 + C.PAUSE_JITTER_SECONDS)
        after = free.try_acquire(10)
        limited = RateLimiter(rpm=60, tpm=None).try_acquire(10)
        return first, paused, after, limited

    first, paused, after, limited = run_virtual(scenario())
    assert first is not None
    assert (first.charged, first.waited, first.sent_mark) == (10, 0, (1, 10))
    assert paused is None
    assert limited is None
    assert after is not None
    assert after.sent_mark == (2, 20)


def test_settle_owes_nothing_without_a_tpm_bucket() -> None:
    """Calibration is learned either way; only a TPM bucket is owed an under-charge."""
    unlimited = RateLimiter(rpm=None, tpm=None)
    reservation = unlimited.try_acquire(10)
    assert reservation is not None
    assert unlimited.settle(reservation, 30) == 0
    assert unlimited.calibration == 3.0
