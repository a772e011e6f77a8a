"""Client: validation, in-call deduplication, empty calls, queries, chain basics."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import numpy as np
import pytest

import embedmux
from embedmux import OptimizationConfig


def _echo_server(calls: list[list[str]]) -> Callable[[httpx.Request], httpx.Response]:
    """A transport handler answering vector [len(text), index-in-call] and recording inputs."""

    def handler(request: httpx.Request) -> httpx.Response:
        inputs = json.loads(request.content)["input"]
        calls.append(inputs)
        data = [
            {"index": i, "embedding": [float(len(t)), float(len(calls))]}
            for i, t in enumerate(inputs)
        ]
        return httpx.Response(200, json={"data": data, "usage": {"prompt_tokens": len(inputs)}})

    return handler


def _provider(
    handler: Callable[[httpx.Request], httpx.Response], name: str = "openai", **opts: object
) -> embedmux.OpenAIProvider:
    cfg = OptimizationConfig.for_provider("openai").with_options(
        retry_delay_ms=1, max_retry_delay_ms=2, **opts
    )
    return embedmux.OpenAIProvider(
        api_key="sk-x",
        dimensions=2,
        name=name,
        optimization=cfg,
        transport=httpx.MockTransport(handler),
    )


async def test_duplicates_are_embedded_once() -> None:
    """Identical texts in one call are sent once and every input still gets its vector."""
    calls: list[list[str]] = []
    async with embedmux.Client(_provider(_echo_server(calls))) as client:
        result = await client.embed(["aa", "b", "aa", "cccc", "b"])
    assert calls == [["aa", "b", "cccc"]]
    assert result.vectors[:, 0].tolist() == [2, 1, 2, 4, 1]
    assert result.usage.deduplicated == 2
    assert result.vectors.shape == (5, 2)


async def test_empty_call_sends_nothing() -> None:
    """An empty list returns an empty (0, dim) result without a request."""
    calls: list[list[str]] = []
    async with embedmux.Client(_provider(_echo_server(calls))) as client:
        result = await client.embed([])
    assert calls == []
    assert result.vectors.shape == (0, 2)
    assert len(result) == 0


async def test_embed_query_returns_one_vector() -> None:
    """embed_query returns a 1-D float32 vector."""
    async with embedmux.Client(_provider(_echo_server([]))) as client:
        vector = await client.embed_query("abc")
    assert vector.dtype == np.float32
    assert vector.shape == (2,)
    assert vector[0] == 3


async def test_bad_input_fails_before_any_request() -> None:
    """Validation errors name the input and nothing is sent."""
    calls: list[list[str]] = []
    async with embedmux.Client(_provider(_echo_server(calls))) as client:
        with pytest.raises(embedmux.InputError, match="input 2 is empty"):
            await client.embed(["a", "b", ""])
        with pytest.raises(embedmux.InputError, match="input_type"):
            await client.embed(["a"], input_type="passage")  # type: ignore[arg-type]
        with pytest.raises(embedmux.InputError, match="query must be a str"):
            await client.embed_query(["a"])  # type: ignore[arg-type]
    assert calls == []


async def test_falls_back_to_the_next_provider_of_the_same_space() -> None:
    """A provider failing with 503 after retries hands the call to the next one."""
    calls: list[list[str]] = []
    broken = _provider(lambda r: httpx.Response(503), name="primary", max_retries=1)
    backup = _provider(_echo_server(calls), name="backup")
    async with embedmux.Client([broken, backup]) as client:
        result = await client.embed(["x", "yy"])
    assert result.provider == "backup"
    assert result.vectors[:, 0].tolist() == [1, 2]


async def test_auth_error_does_not_fall_through() -> None:
    """A 401 is a configuration error: it surfaces at once, the backup is never called."""
    calls: list[list[str]] = []
    broken = _provider(lambda r: httpx.Response(401), name="primary")
    backup = _provider(_echo_server(calls), name="backup")
    async with embedmux.Client([broken, backup]) as client:
        with pytest.raises(embedmux.AuthenticationError):
            await client.embed(["x"])
    assert calls == []


async def test_all_failed_carries_each_cause() -> None:
    """When every provider fails, the error maps each provider to its cause."""
    one = _provider(lambda r: httpx.Response(503), name="one", max_retries=0)
    two = _provider(lambda r: httpx.Response(429), name="two", max_retries=0)
    async with embedmux.Client([one, two]) as client:
        with pytest.raises(embedmux.AllProvidersFailedError) as info:
            await client.embed(["x"])
    assert isinstance(info.value.causes["one"], embedmux.ServerError)
    assert isinstance(info.value.causes["two"], embedmux.RateLimitError)


def test_mixed_spaces_need_an_opt_in() -> None:
    """Providers of different models in one chain are a ConfigError by default."""
    small = embedmux.OpenAIProvider(api_key="k", name="small")
    large = embedmux.OpenAIProvider("text-embedding-3-large", api_key="k", name="large")
    with pytest.raises(embedmux.ConfigError, match="different spaces"):
        embedmux.Client([small, large])
    assert embedmux.Client([small, large], allow_mixed_spaces=True).providers == [small, large]
