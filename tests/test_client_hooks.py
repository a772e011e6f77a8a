"""Client hooks, stats and cost: typed events for every request, retry, fallback and lookup."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest

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
from embedmux._pricing import DEFAULT_PRICES
from embedmux.testing import FakeEmbeddingServer

SECRET = "sk-planted-secret-abcdef123456"


def _provider(server: FakeEmbeddingServer, name: str = "openai", **opts: Any) -> Any:
    knobs: dict[str, Any] = {"retry_delay_ms": 1, "max_retry_delay_ms": 2, **opts}
    cfg = OptimizationConfig.for_provider("openai").with_options(transport="aiohttp", **knobs)
    return embedmux.OpenAIProvider(
        api_key=SECRET, base_url=server.base_url, dimensions=8, name=name, optimization=cfg
    )


async def test_events_reach_hooks_and_stats(fake_server: FakeEmbeddingServer) -> None:
    """Requests, responses, retries and cache lookups arrive as typed events and in stats()."""
    seen: list[Any] = []
    hooks = Hooks(
        on_request=[seen.append],
        on_response=[seen.append],
        on_retry=[seen.append],
        on_cache=[seen.append],
    )
    fake_server.fail_next(1, status=503)
    async with embedmux.Client(_provider(fake_server), hooks=hooks, cache="memory") as client:
        result = await client.embed(["a", "b"])
        stats = client.stats()
    kinds = [type(e) for e in seen]
    assert kinds == [
        CacheEvent,
        RequestEvent,
        ResponseEvent,
        RetryEvent,
        RequestEvent,
        ResponseEvent,
    ]
    assert seen[3].status_code == 503
    assert seen[4].attempt == 2
    openai = stats.providers["openai"]
    assert (openai.requests, openai.retries) == (2, 1)
    assert openai.errors == {"ServerError": 1}
    assert openai.latency_p50_s is not None
    assert result.usage.cost_usd == pytest.approx(result.usage.prompt_tokens * 0.02 / 1e6)
    assert json.loads(stats.to_json())["providers"]["openai"]["requests"] == 2


@pytest.mark.parametrize("price", [1.0, None])
async def test_client_prices_apply_to_events_stats_and_usage(
    fake_server: FakeEmbeddingServer, price: float | None
) -> None:
    """Client(prices=...) prices ResponseEvents and stats() as it prices usage (None: unknown)."""
    seen: list[ResponseEvent] = []
    prices = DEFAULT_PRICES.with_prices({"text-embedding-3-small": price})
    async with embedmux.Client(
        _provider(fake_server), hooks=Hooks(on_response=[seen.append]), prices=prices
    ) as client:
        result = await client.embed(["a", "b"])
        stats = client.stats().providers["openai"]
    tokens = result.usage.prompt_tokens
    assert tokens > 0
    expected = None if price is None else pytest.approx(tokens * price / 1e6)
    assert [e.cost_usd for e in seen] == [expected]
    assert stats.cost_usd == expected
    assert result.usage.cost_usd == expected


async def test_hook_exceptions_never_break_the_call(
    fake_server: FakeEmbeddingServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A hook that raises is logged; the embedding call still succeeds."""

    def broken(event: object) -> None:
        raise RuntimeError("hook bug")

    hooks = Hooks(on_request=[broken], on_response=[broken])
    async with embedmux.Client(_provider(fake_server), hooks=hooks) as client:
        result = await client.embed(["fine"])
    assert result.vectors.shape == (1, 8)
    assert "hook bug" in caplog.text


async def test_fallback_event_names_both_providers(fake_server: FakeEmbeddingServer) -> None:
    """A fallback emits one FallbackEvent from the failing provider to the next."""
    seen: list[FallbackEvent] = []
    broken = embedmux.OpenAIProvider(
        api_key=SECRET,
        base_url="http://127.0.0.1:9/v1",
        dimensions=8,
        name="dead",
        optimization=OptimizationConfig(max_retries=0, transport="aiohttp"),
    )
    async with embedmux.Client(
        [broken, _provider(fake_server)], hooks=Hooks(on_fallback=[seen.append])
    ) as client:
        result = await client.embed(["x"])
    assert result.provider == "openai"
    assert [(e.from_provider, e.to_provider) for e in seen] == [("dead", "openai")]
    assert client.stats().providers["dead"].errors == {"ConnectionError": 1}


async def test_secret_never_appears_in_logs_reprs_or_errors(
    fake_server: FakeEmbeddingServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A planted key is absent from debug logs, reprs, error messages and events."""
    caplog.set_level(logging.DEBUG, logger="embedmux")
    seen: list[Any] = []
    hooks = Hooks(on_retry=[seen.append], on_response=[seen.append])
    fake_server.configure(api_key="sk-other")
    provider = _provider(fake_server)
    async with embedmux.Client(provider, hooks=hooks) as client:
        with pytest.raises(embedmux.AuthenticationError) as info:
            await client.embed(["x"])
        text = " ".join(
            [
                caplog.text,
                repr(client),
                repr(provider),
                str(info.value),
                repr(info.value),
                repr(seen),
                client.stats().to_json(),
            ]
        )
    assert SECRET not in text
    assert SECRET[-6:] not in text


async def test_async_hooks_are_awaited_on_close(fake_server: FakeEmbeddingServer) -> None:
    """An async hook runs without blocking the call and is drained by aclose()."""
    seen: list[Any] = []

    async def record(event: Any) -> None:
        seen.append(event)

    async with embedmux.Client(_provider(fake_server), hooks=Hooks(on_response=[record])) as client:
        await client.embed(["x"])
    assert len(seen) == 1


def test_transport_mock_keeps_usage_honest() -> None:
    """Usage counts requests and retries as they happened (MockTransport, no network)."""
    answers = iter(
        [
            httpx.Response(500),
            httpx.Response(
                200,
                json={
                    "data": [{"index": 0, "embedding": [1.0] * 8}],
                    "usage": {"prompt_tokens": 3},
                },
            ),
        ]
    )
    provider = embedmux.OpenAIProvider(
        api_key=SECRET,
        dimensions=8,
        optimization=OptimizationConfig(retry_delay_ms=1, max_retry_delay_ms=2),
        transport=httpx.MockTransport(lambda r: next(answers)),
    )

    async def run() -> Any:
        async with embedmux.Client(provider) as client:
            return await client.embed(["x"])

    import asyncio

    result = asyncio.run(run())
    assert (result.usage.requests, result.usage.retries, result.usage.prompt_tokens) == (2, 1, 3)
