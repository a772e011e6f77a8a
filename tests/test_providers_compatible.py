"""OpenAICompatibleProvider: request shape (respx) and end to end against the fake server."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
import respx

import embedmux
from embedmux import OptimizationConfig
from embedmux.providers.compatible import OpenAICompatibleProvider
from embedmux.testing import FakeEmbeddingServer, fake_vector

BASE = "http://tei.internal:8080/v1"
URL = f"{BASE}/embeddings"
KEY = "compat-planted-secret-0123456789"


def _fast(**opts: object) -> OptimizationConfig:
    return OptimizationConfig.for_provider("openai_compatible").with_options(
        transport="httpx", retry_delay_ms=1, max_retry_delay_ms=2, **opts
    )


def _reply(request: httpx.Request) -> httpx.Response:
    inputs = json.loads(request.content)["input"]
    data = [{"index": i, "embedding": [float(i), 0.5]} for i in range(len(inputs))]
    return httpx.Response(200, json={"data": data})


@pytest.fixture
def server() -> Iterator[FakeEmbeddingServer]:
    with FakeEmbeddingServer(models={"bge-small": 384}) as srv:
        yield srv


@respx.mock
async def test_no_auth_header_without_key() -> None:
    """Without api_key no authorization header is sent; base64 and the model are asked."""
    route = respx.post(URL).mock(side_effect=_reply)
    provider = OpenAICompatibleProvider("bge-small", base_url=BASE, optimization=_fast())
    before = provider.dimensions
    async with provider:
        result = await provider.embed(["a", "b"])
    request = route.calls.last.request
    assert "authorization" not in request.headers
    assert json.loads(request.content) == {
        "input": ["a", "b"],
        "encoding_format": "base64",
        "model": "bge-small",
    }
    assert (before, provider.dimensions) == (None, 2)  # learned from the first answer
    assert (result.provider, str(result.space)) == ("openai_compatible", "bge-small@2")


@respx.mock
async def test_bearer_key_float_encoding_and_dimensions() -> None:
    """A key goes as a bearer token; encoding_format='float' and dimensions reach the body."""
    route = respx.post(URL).mock(side_effect=_reply)
    provider = OpenAICompatibleProvider(
        "bge-small",
        base_url=BASE + "/",
        api_key=KEY,
        dimensions=2,
        encoding_format="float",
        optimization=_fast(),
    )
    async with provider:
        await provider.embed(["a"])
        assert KEY not in repr(provider)
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(request.content) == {
        "input": ["a"],
        "encoding_format": "float",
        "model": "bge-small",
        "dimensions": 2,
    }


def test_space_names_the_served_model() -> None:
    """space= puts a server's vectors in a named model's space (e.g. TEI serving MiniLM)."""
    provider = OpenAICompatibleProvider(
        "my-tei-deployment",
        base_url=BASE,
        space="sentence-transformers/all-MiniLM-L6-v2",
        dimensions=384,
    )
    assert provider.space == embedmux.EmbeddingSpace("all-minilm-l6-v2", 384)
    assert provider.optimization.max_batch_size == 32


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"base_url": ""}, "base_url"), ({"base_url": BASE, "encoding_format": "x"}, "encoding")],
)
def test_invalid_arguments(kwargs: dict[str, str], match: str) -> None:
    """A missing base_url or an unknown encoding is a ConfigError."""
    with pytest.raises(embedmux.ConfigError, match=match):
        OpenAICompatibleProvider("m", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("encoding", ["base64", "float"])
async def test_end_to_end_against_fake_server(server: FakeEmbeddingServer, encoding: str) -> None:
    """Vectors from a fake OpenAI-format server equal fake_vector, in order, either encoding."""
    texts = [f"doc {i}" for i in range(70)]
    provider = OpenAICompatibleProvider(
        "bge-small",
        base_url=server.base_url,
        encoding_format=encoding,  # type: ignore[arg-type]
        optimization=_fast(),
    )
    async with provider:
        result = await provider.embed(texts)
    np.testing.assert_array_equal(result.vectors, np.stack([fake_vector(t, 384) for t in texts]))
    assert result.usage.requests == 3  # 32 inputs per request in this profile
    assert provider.dimensions == 384


async def test_server_with_key_refuses_missing_key() -> None:
    """A server that wants a key answers 401 when none is configured."""
    with FakeEmbeddingServer(api_key=KEY) as srv:
        provider = OpenAICompatibleProvider("m", base_url=srv.base_url, optimization=_fast())
        async with provider:
            with pytest.raises(embedmux.AuthenticationError):
                await provider.embed(["a"])
