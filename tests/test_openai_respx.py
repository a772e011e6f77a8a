"""The exact OpenAI request shape, pinned with respx at the HTTP boundary."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import numpy as np
import pytest
import respx

import embedmux
from embedmux import OptimizationConfig

URL = "https://api.openai.com/v1/embeddings"
KEY = "sk-test-planted-secret-0123456789"


def _reply(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": base64.b64encode(np.full(3, i + 1, dtype="<f4").tobytes()).decode(),
        }
        for i, _ in enumerate(body["input"])
    ]
    return httpx.Response(
        200,
        json={
            "object": "list",
            "data": data,
            "model": body["model"],
            "usage": {"prompt_tokens": 5, "total_tokens": 5},
        },
    )


def _answers(*answers: object) -> list[Any]:
    """A respx side-effect sequence (responses, exceptions or handlers), one per call."""
    return list(answers)


def _provider(**opts: object) -> embedmux.OpenAIProvider:
    cfg = OptimizationConfig.for_provider("openai").with_options(
        transport="httpx", retry_delay_ms=1, max_retry_delay_ms=2, **opts
    )
    return embedmux.OpenAIProvider(
        api_key=KEY, dimensions=3, organization="org-1", optimization=cfg
    )


@respx.mock
async def test_request_shape() -> None:
    """POST /v1/embeddings with bearer auth, organisation, base64 and the dimensions asked."""
    route = respx.post(URL).mock(side_effect=_reply)
    async with _provider() as provider:
        result = await provider.embed(["hello", "world"])
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["openai-organization"] == "org-1"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {
        "input": ["hello", "world"],
        "encoding_format": "base64",
        "model": "text-embedding-3-small",
        "dimensions": 3,
    }
    np.testing.assert_array_equal(result.vectors[:, 0], [1.0, 2.0])
    assert (result.model, result.provider, result.dimensions) == (
        "text-embedding-3-small",
        "openai",
        3,
    )
    assert result.usage.prompt_tokens == 5
    assert result.usage.requests == 1


@respx.mock
async def test_batches_follow_max_batch_size() -> None:
    """Five inputs with max_batch_size=2 become three requests, reassembled in order."""
    route = respx.post(URL).mock(side_effect=_reply)
    async with _provider(max_batch_size=2) as provider:
        result = await provider.embed([f"t{i}" for i in range(5)])
    sent = [json.loads(c.request.content)["input"] for c in route.calls]
    assert sorted(sent) == [["t0", "t1"], ["t2", "t3"], ["t4"]]
    np.testing.assert_array_equal(result.vectors[:, 0], [1, 2, 1, 2, 1])
    assert result.usage.requests == 3


@respx.mock
async def test_retry_after_ms_then_success() -> None:
    """A 429 with retry-after-ms is retried and counted; the result is complete."""
    route = respx.post(URL).mock(
        side_effect=_answers(
            httpx.Response(
                429, headers={"retry-after-ms": "5"}, json={"error": {"message": "slow"}}
            ),
            httpx.Response(503, json={"error": {"message": "busy"}}),
            _reply,
        )
    )
    async with _provider() as provider:
        result = await provider.embed(["a"])
    assert route.call_count == 3
    assert (result.usage.retries, result.usage.rate_limited, result.usage.requests) == (2, 1, 3)


@respx.mock
async def test_400_is_not_retried_and_names_the_input() -> None:
    """A 400 naming input[1] surfaces at once as BadRequestError with index 1."""
    route = respx.post(URL).mock(
        return_value=httpx.Response(
            400,
            json={"error": {"message": "'$.input[1]' is invalid", "type": "invalid_request_error"}},
        )
    )
    async with _provider() as provider:
        with pytest.raises(embedmux.BadRequestError) as info:
            await provider.embed(["a", "b"])
    assert route.call_count == 1
    assert info.value.index == 1
    assert info.value.failed_indices == (0, 1)


@respx.mock
async def test_401_never_leaks_the_key() -> None:
    """An auth error echoing the key is redacted in the message."""
    respx.post(URL).mock(
        return_value=httpx.Response(
            401, json={"error": {"message": f"Incorrect API key provided: {KEY}"}}
        )
    )
    async with _provider() as provider:
        with pytest.raises(embedmux.AuthenticationError) as info:
            await provider.embed(["a"])
        assert KEY not in repr(provider)
        assert KEY not in repr(vars(provider))  # the headers built once for every request
        assert KEY[-4:] not in repr(vars(provider))
    assert KEY not in str(info.value)
    assert KEY[-4:] not in str(info.value)


@respx.mock
async def test_retries_exhausted_names_failed_inputs() -> None:
    """Persistent 503s raise ServerError after max_retries, listing the inputs without vectors."""
    route = respx.post(URL).mock(return_value=httpx.Response(503, json={"error": {"message": "x"}}))
    async with _provider(max_retries=2) as provider:
        with pytest.raises(embedmux.ServerError) as info:
            await provider.embed(["a", "b", "c"])
    assert route.call_count == 3
    assert info.value.failed_indices == (0, 1, 2)
    assert "inputs [0, 1, 2] got no vector" in "".join(info.value.__notes__)


@respx.mock
async def test_connection_error_is_retried() -> None:
    """A dropped connection is retried like a 5xx."""
    route = respx.post(URL).mock(side_effect=_answers(httpx.ConnectError("refused"), _reply))
    async with _provider() as provider:
        result = await provider.embed(["a"])
    assert route.call_count == 2
    assert result.usage.retries == 1


@respx.mock
async def test_short_response_is_retried_then_raises() -> None:
    """A response one vector short is never returned: retried, then ResponseError."""
    short = httpx.Response(
        200,
        json={
            "data": [{"index": 0, "embedding": [1.0, 2.0, 3.0]}],
            "model": "m",
            "usage": {"prompt_tokens": 1},
        },
    )
    route = respx.post(URL).mock(return_value=short)
    async with _provider(max_retries=1) as provider:
        with pytest.raises(embedmux.ResponseError, match="expected 2 vectors, got 1"):
            await provider.embed(["a", "b"])
    assert route.call_count == 2


def test_missing_key_is_a_config_error() -> None:
    """Without api_key or $OPENAI_API_KEY the provider refuses to build."""
    with pytest.raises(embedmux.ConfigError, match="api_key"):
        embedmux.OpenAIProvider()


def test_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """$OPENAI_API_KEY is used when no api_key is passed, and never shown in repr."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    provider = embedmux.OpenAIProvider()
    assert KEY not in repr(provider)
    assert provider.dimensions == 1536
    assert str(provider.space) == "text-embedding-3-small@1536"
