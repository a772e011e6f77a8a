"""AzureOpenAIProvider: exact request shape (respx) and end to end against the fake server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
import respx

import embedmux
from embedmux import OptimizationConfig
from embedmux.providers.azure import AzureOpenAIProvider
from embedmux.testing import FakeEmbeddingServer, fake_vector

ENDPOINT = "https://res.openai.azure.com"
URL = f"{ENDPOINT}/openai/deployments/emb-small/embeddings"
KEY = "azure-planted-secret-0123456789"
MODEL = "text-embedding-3-small"


def _fast(**opts: object) -> OptimizationConfig:
    return OptimizationConfig.for_provider("azure").with_options(
        transport="httpx", retry_delay_ms=1, max_retry_delay_ms=2, **opts
    )


def _reply(request: httpx.Request) -> httpx.Response:
    inputs = json.loads(request.content)["input"]
    data = [{"index": i, "embedding": [float(i), 1.0, 2.0]} for i in range(len(inputs))]
    return httpx.Response(200, json={"data": data, "usage": {"prompt_tokens": 3}})


def _provider(**kw: object) -> AzureOpenAIProvider:
    args: dict[str, object] = dict(
        endpoint=ENDPOINT + "/",
        deployment="emb-small",
        api_key=KEY,
        dimensions=3,
        optimization=_fast(),
    )
    args.update(kw)
    return AzureOpenAIProvider(MODEL, **args)  # type: ignore[arg-type]


@pytest.fixture
def server() -> Iterator[FakeEmbeddingServer]:
    with FakeEmbeddingServer(api_key=KEY, azure_deployments={"emb-small": MODEL}) as srv:
        yield srv


@respx.mock
async def test_request_shape_with_api_key() -> None:
    """Deployment URL with api-version, api-key header, no bearer, no model in the body."""
    route = respx.post(URL, params={"api-version": "2024-10-21"}).mock(side_effect=_reply)
    async with _provider() as provider:
        result = await provider.embed(["a", "b"])
    request = route.calls.last.request
    assert request.headers["api-key"] == KEY
    assert "authorization" not in request.headers
    assert json.loads(request.content) == {
        "input": ["a", "b"],
        "encoding_format": "base64",
        "dimensions": 3,
    }
    assert (result.provider, result.model, result.dimensions) == ("azure", MODEL, 3)


@respx.mock
async def test_token_provider_is_called_per_request() -> None:
    """An Entra ID token provider gives a bearer token for every request; no api-key."""
    route = respx.post(URL).mock(side_effect=_reply)
    tokens: list[str] = []

    async def token() -> str:
        tokens.append(f"tok-{len(tokens)}")
        return tokens[-1]

    cfg = _fast(max_batch_size=1)
    async with _provider(api_key=None, token_provider=token, optimization=cfg) as provider:
        await provider.embed(["a", "b"])
        assert "tok-" not in repr(provider)
    sent = sorted(c.request.headers["authorization"] for c in route.calls)
    assert sent == ["Bearer tok-0", "Bearer tok-1"]
    assert all("api-key" not in c.request.headers for c in route.calls)


@respx.mock
async def test_hanging_token_provider_times_out() -> None:
    """A token provider that never returns costs timeout_seconds, then a TimeoutError (the
    sender's deadline does not cover it); nothing is sent."""
    route = respx.post(URL).mock(side_effect=_reply)

    async def token() -> str:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    cfg = _fast(timeout_seconds=0.05, max_retries=0)
    async with _provider(api_key=None, token_provider=token, optimization=cfg) as provider:
        with pytest.raises(embedmux.TimeoutError, match="token_provider gave no token"):
            await provider.embed(["a"])
    assert not route.called


@respx.mock
async def test_api_version_is_sent_as_given() -> None:
    """A custom api_version lands in the query string."""
    route = respx.post(URL, params={"api-version": "2024-02-01"}).mock(side_effect=_reply)
    async with _provider(api_version="2024-02-01") as provider:
        await provider.embed(["a"])
    assert route.called


@respx.mock
async def test_401_surfaces_without_retry_or_key() -> None:
    """A 401 is an AuthenticationError at once, and the key never appears in it."""
    body = {"error": {"code": "401", "message": f"Access denied for key {KEY}"}}
    route = respx.post(URL).mock(return_value=httpx.Response(401, json=body))
    async with _provider() as provider:
        with pytest.raises(embedmux.AuthenticationError) as info:
            await provider.embed(["a"])
    assert route.call_count == 1
    assert KEY not in str(info.value)


def test_needs_exactly_one_credential() -> None:
    """Neither api_key nor token_provider, or both, is a ConfigError."""

    async def token() -> str:
        return "t"

    with pytest.raises(embedmux.ConfigError, match="api_key"):
        _provider(api_key=None)
    with pytest.raises(embedmux.ConfigError, match="not both"):
        _provider(token_provider=token)


def test_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """$AZURE_OPENAI_API_KEY is the fallback key, never shown in repr."""
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", KEY)
    provider = _provider(api_key=None)
    assert KEY not in repr(provider)
    assert "emb-small" in repr(provider)


def test_space_is_the_model_behind_the_deployment() -> None:
    """An Azure deployment shares the OpenAI model's space, so they form a valid chain."""
    azure = _provider()
    openai = embedmux.OpenAIProvider(MODEL, api_key="sk-x")
    assert azure.space != openai.space  # 3 dimensions asked of Azure, 1536 native
    azure = _provider(dimensions=None)
    assert azure.space == openai.space
    assert azure.dimensions == 1536
    assert len(embedmux.Client([openai, azure]).providers) == 2


async def test_end_to_end_against_fake_server(server: FakeEmbeddingServer) -> None:
    """Vectors from the fake Azure deployment equal fake_vector, in order, over 127.0.0.1."""
    texts = [f"text number {i}" for i in range(50)]
    provider = AzureOpenAIProvider(
        MODEL,
        endpoint=server.url,
        deployment="emb-small",
        api_key=KEY,
        dimensions=256,
        optimization=_fast(max_batch_size=16),
    )
    async with provider:
        result = await provider.embed(texts)
    expected = np.stack([fake_vector(t, 256) for t in texts])
    np.testing.assert_allclose(result.vectors, expected, rtol=0, atol=0)
    assert result.usage.requests == 4
    assert server.stats.status_counts[200] == 4


async def test_default_aiohttp_transport_end_to_end(server: FakeEmbeddingServer) -> None:
    """The default (aiohttp) transport talks to the fake deployment too."""
    cfg = OptimizationConfig.for_provider("azure").with_options(retry_delay_ms=1)
    provider = AzureOpenAIProvider(
        MODEL, endpoint=server.url, deployment="emb-small", api_key=KEY, optimization=cfg
    )
    async with provider:
        vector = (await provider.embed(["hello"])).vectors[0]
    np.testing.assert_array_equal(vector, fake_vector("hello", 1536))


async def test_unknown_deployment_is_not_found(server: FakeEmbeddingServer) -> None:
    """A deployment the resource lacks is a NotFoundError, not retried."""
    provider = AzureOpenAIProvider(
        MODEL, endpoint=server.url, deployment="nope", api_key=KEY, optimization=_fast()
    )
    async with provider:
        with pytest.raises(embedmux.NotFoundError, match="deployment"):
            await provider.embed(["a"])
    assert server.stats.requests == 1


async def test_wrong_key_against_fake_server(server: FakeEmbeddingServer) -> None:
    """The fake server refuses a wrong api-key with Azure's 401."""
    provider = AzureOpenAIProvider(
        MODEL, endpoint=server.url, deployment="emb-small", api_key="wrong", optimization=_fast()
    )
    async with provider:
        with pytest.raises(embedmux.AuthenticationError):
            await provider.embed(["a"])
