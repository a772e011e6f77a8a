"""The request pipeline shared by every HTTP provider.

    plan batches ─► workers (≤ max_concurrency, shared per provider)
        each batch: rate limiter ─► retry policy ─► send (the provider's HTTP call)
    ─► reassemble in input order

A batch that fails for good stops the other workers from taking new batches;
the error then names every input that got no vector (``failed_indices``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import NamedTuple

import numpy as np

from embedmux import _emit
from embedmux._batching import Batch, plan_batches
from embedmux._events import RequestEvent, ResponseEvent
from embedmux._exceptions import (
    ProviderError,
    RateLimitError,
    ResponseError,
    failed_indices_note,
)
from embedmux._optimization import OptimizationConfig
from embedmux._ratelimit import RateLimiter
from embedmux._retry import make_retrying
from embedmux._types import Usage
from embedmux._validation import PreparedInputs
from embedmux._wire import FloatArray


class BatchReply(NamedTuple):
    """What a provider's HTTP call returned for one batch."""

    vectors: FloatArray
    prompt_tokens: int | None = None
    headers: Mapping[str, str] = MappingProxyType({})


SendBatch = Callable[[list[str]], Awaitable[BatchReply]]


@dataclass(slots=True)
class _CallState:
    """Mutable state of one ``run`` call, shared by its workers."""

    texts: list[str]
    batches: Iterator[tuple[int, Batch]]
    results: list[FloatArray | None]
    usage: Usage
    error: ProviderError | None = None


class Pipeline:
    """Runs batches of one provider through limiter, retries and its ``send`` function."""

    def __init__(self, config: OptimizationConfig, *, provider: str, model: str) -> None:
        self.config = config
        self.provider = provider
        self.model = model
        self.limiter = RateLimiter(rpm=config.rate_limit_rpm, tpm=config.rate_limit_tpm)
        self._slots = asyncio.Semaphore(config.max_concurrency)
        self._retrying = make_retrying(config, provider=provider)

    async def run(self, prepared: PreparedInputs, send: SendBatch) -> tuple[FloatArray, Usage]:
        """Embed ``prepared`` texts; rows come back in input order, or a ProviderError."""
        cfg = self.config
        batches = plan_batches(
            prepared.token_counts,
            max_batch_size=cfg.max_batch_size,
            max_batch_tokens=cfg.max_batch_tokens,
        )
        usage = Usage(truncated=prepared.truncated)
        if len(batches) == 1:  # a query, or a small call: no shared state, few frames
            await self._slots.acquire()  # (not ``async with``: two coroutines less)
            try:
                vectors = await self._run_batch(batches[0], prepared.texts, usage, send)
            except ProviderError as e:
                self._with_failed_inputs(e, batches, [None])  # names the inputs, in place
                raise
            finally:
                self._slots.release()
            return vectors, usage
        state = _CallState(
            texts=prepared.texts,
            batches=iter(enumerate(batches)),
            results=[None] * len(batches),
            usage=usage,
        )
        workers = min(cfg.max_concurrency, len(batches))
        if workers == 1:  # no concurrency: no task machinery
            await self._worker(state, send)
        else:
            async with asyncio.TaskGroup() as group:
                for _ in range(workers):
                    group.create_task(self._worker(state, send))
        if state.error is not None:
            raise self._with_failed_inputs(state.error, batches, state.results)
        return self._assemble(state.results), usage

    async def _worker(self, state: _CallState, send: SendBatch) -> None:
        for position, batch in state.batches:
            if state.error is not None:
                return
            await self._slots.acquire()
            try:
                state.results[position] = await self._run_batch(
                    batch, state.texts, state.usage, send
                )
            except ProviderError as e:
                if e.index is not None:
                    e.index += batch.start  # the server counted within the batch
                state.error = state.error or e
                return
            finally:
                self._slots.release()

    async def _run_batch(
        self, batch: Batch, texts: list[str], usage: Usage, send: SendBatch
    ) -> FloatArray:
        try:
            reply = await self._attempt(batch, texts, usage, send, 1)
        except ProviderError as e:
            if not (e.retryable and self.config.max_retries):
                raise
            reply = await self._retry(batch, texts, usage, send, e)
        vectors = reply.vectors
        if vectors.shape[0] != batch.stop - batch.start:  # providers check; never trust blindly
            raise ResponseError(f"{self.provider}: batch came back short", provider=self.provider)
        return vectors

    async def _retry(
        self, batch: Batch, texts: list[str], usage: Usage, send: SendBatch, first: ProviderError
    ) -> BatchReply:
        """Attempts 2+ under tenacity. The first attempt ran without it (tenacity's set-up
        costs about a fifth of a fast call); here it is replayed as tenacity's attempt 1, so
        backoff, logging and retry events are exactly as if tenacity had run it."""
        attempts = 1
        try:
            async for attempt in self._retrying.copy():
                with attempt:
                    if attempt.retry_state.attempt_number == 1:
                        raise first
                    attempts += 1
                    reply = await self._attempt(batch, texts, usage, send, attempts)
        finally:
            usage.retries += attempts - 1
        return reply

    async def _attempt(
        self, batch: Batch, texts: list[str], usage: Usage, send: SendBatch, attempt: int
    ) -> BatchReply:
        start, stop, tokens = batch
        limiter = self.limiter
        reservation = limiter.try_acquire(tokens)
        if reservation is None:
            reservation = await limiter.acquire(tokens)
        waited = reservation.waited
        usage.requests += 1
        usage.throttle_wait_seconds += waited
        if (hooks := _emit.active()) is not None:
            if hooks.on_request:  # (stats() needs only the ResponseEvent)
                hooks.emit(RequestEvent(self.provider, stop - start, tokens, attempt, waited))
            started = time.perf_counter()
        try:  # the sender enforces timeout_seconds: a stalled server never hangs a call
            reply = await send(texts[start:stop])
        except ProviderError as e:
            if isinstance(e, RateLimitError):
                usage.rate_limited += 1
                hint = e.retry_after
                limiter.pause(hint if hint is not None else self.config.retry_delay_ms / 1000)
            if hooks is not None:
                latency = time.perf_counter() - started
                error = type(e).__name__
                hooks.emit(
                    ResponseEvent(
                        self.provider,
                        e.status_code,
                        stop - start,
                        None,
                        latency,
                        None,
                        error,
                        waited,
                    )
                )
            raise
        reported = reply.prompt_tokens
        if hooks is not None:
            latency = time.perf_counter() - started
            cost = hooks.cost(self.model, reported or tokens)
            hooks.emit(
                ResponseEvent(
                    self.provider, 200, stop - start, reported, latency, cost, None, waited
                )
            )
        limiter.observe(reply.headers, reservation)
        if debt := limiter.settle(reservation, reported):
            usage.throttle_wait_seconds += await limiter.pay(debt)
        usage.prompt_tokens += reported if reported is not None else tokens
        return reply

    def _assemble(self, results: Sequence[FloatArray | None]) -> FloatArray:
        parts = [r for r in results if r is not None]
        if not parts:
            return np.empty((0, 0), dtype=np.float32)
        dims = {p.shape[1] for p in parts}
        if len(dims) > 1:
            raise ResponseError(
                f"{self.provider}: batches came back with different dimensions {sorted(dims)}",
                provider=self.provider,
            )
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    @staticmethod
    def _with_failed_inputs(
        error: ProviderError, batches: Sequence[Batch], results: Sequence[FloatArray | None]
    ) -> ProviderError:
        failed = tuple(
            i
            for b, r in zip(batches, results, strict=True)
            if r is None
            for i in range(b.start, b.stop)
        )
        error.failed_indices = failed
        error.add_note(f"{failed_indices_note(failed)} got no vector ({len(failed)} in all)")
        return error
