"""MistralProvider: request shape and error bodies (respx), end to end against the fake server."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
import respx

import embedmux
from embedmux import OptimizationConfig
from embedmux.providers.mistral import MistralProvider, mistral_error_message
from embedmux.testing import FakeEmbeddingServer, fake_vector

URL = "https://api.mistral.ai/v1/embeddings"
KEY = "mistral-planted-secret-0123456789"


def _fast(**opts: object) -> OptimizationConfig:
    """Mistral's profile with tiny backoff and no client rate limit (tests wait on nothing)."""
    return OptimizationConfig.for_provider("mistral").with_options(
        transport="httpx",
        retry_delay_ms=1,
        max_retry_delay_ms=2,
        rate_limit_rpm=None,
        rate_limit_tpm=None,
        **opts,
    )


def _reply(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    data = [
        {
            "object": "embedding",
            "index": i,
            "embedding": base64.b64encode(np.full(1024, i, dtype="<f4").tobytes()).decode(),
        }
        for i in range(len(body["input"]))
    ]
    usage = {"prompt_tokens": 4, "total_tokens": 4, "completion_tokens": 0}
    return httpx.Response(
        200,
        json={"id": "e", "object": "list", "data": data, "model": body["model"], "usage": usage},
    )


def _provider(**kw: object) -> MistralProvider:
    args: dict[str, object] = dict(api_key=KEY, optimization=_fast())
    args.update(kw)
    return MistralProvider(**args)  # type: ignore[arg-type]


@pytest.fixture
def server() -> Iterator[FakeEmbeddingServer]:
    with FakeEmbeddingServer(api_key=KEY, vendors=("mistral",)) as srv:
        yield srv


@respx.mock
async def test_request_shape() -> None:
    """POST /v1/embeddings, bearer key, body {model, input, encoding_format} and nothing else."""
    route = respx.post(URL).mock(side_effect=_reply)
    async with _provider() as provider:
        assert provider.dimensions == 1024
        result = await provider.embed(["hello", "world"], input_type="query")
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(request.content) == {
        "model": "mistral-embed",
        "input": ["hello", "world"],
        "encoding_format": "base64",
    }
    np.testing.assert_array_equal(result.vectors[:, 0], [0.0, 1.0])
    assert (result.provider, result.model, result.dimensions) == ("mistral", "mistral-embed", 1024)
    assert str(result.space) == "mistral-embed@1024"
    assert result.usage.prompt_tokens == 4


@respx.mock
async def test_float_encoding_and_output_dimension() -> None:
    """encoding_format='float' and dimensions (sent as output_dimension) reach the body."""
    vectors = [[0.5] * 8, [0.25] * 8]
    route = respx.post(URL).mock(
        return_value=httpx.Response(
            200,
            json={"data": [{"index": i, "embedding": v} for i, v in enumerate(vectors)]},
        )
    )
    provider = _provider(model="codestral-embed", dimensions=8, encoding_format="float")
    async with provider:
        result = await provider.embed(["a", "b"])
    assert json.loads(route.calls.last.request.content) == {
        "model": "codestral-embed",
        "input": ["a", "b"],
        "encoding_format": "float",
        "output_dimension": 8,
    }
    np.testing.assert_array_equal(result.vectors, np.asarray(vectors, dtype=np.float32))


@respx.mock
@pytest.mark.parametrize(
    ("status", "body", "error", "fragment", "index"),
    [
        (
            400,
            {
                "object": "error",
                "message": "Too many tokens in batch. Max is 16384 got 17555",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            },
            embedmux.BadRequestError,
            "Max is 16384 got 17555 (invalid_request_error)",
            None,
        ),
        (
            422,
            {"detail": [{"type": "string_type", "loc": ["body", "input", 1], "msg": "bad"}]},
            embedmux.BadRequestError,
            "body.input.1: bad",
            1,
        ),
        (
            422,
            {
                "object": "error",
                "message": {"detail": [{"loc": ["body", "model"], "msg": "Field required"}]},
                "type": "invalid_request_error",
            },
            embedmux.BadRequestError,
            "body.model: Field required",
            None,
        ),
        (401, {"message": "Unauthorized"}, embedmux.AuthenticationError, "Unauthorized", None),
        (404, {"detail": "Not Found"}, embedmux.NotFoundError, "Not Found", None),
    ],
)
async def test_error_bodies_surface_at_once(
    status: int, body: object, error: type[Exception], fragment: str, index: int | None
) -> None:
    """Mistral's error shapes map to the right error with a readable message, not retried."""
    route = respx.post(URL).mock(return_value=httpx.Response(status, json=body))
    async with _provider() as provider:
        with pytest.raises(error) as info:
            await provider.embed(["a", "b"])
    assert route.call_count == 1
    assert fragment in str(info.value)
    assert getattr(info.value, "index", None) == index


@respx.mock
async def test_gateway_429_is_retried() -> None:
    """A 429 from Mistral's gateway is retried, then the call completes."""
    answers: list[Any] = [
        httpx.Response(429, json={"message": "Requests rate limit exceeded"}),
        _reply,
    ]
    route = respx.post(URL).mock(side_effect=answers)
    async with _provider() as provider:
        result = await provider.embed(["a"])
    assert route.call_count == 2
    assert (result.usage.retries, result.usage.rate_limited) == (1, 1)


def test_error_message_of_non_json_body() -> None:
    """A body that is not JSON is shown as text (truncated)."""
    assert mistral_error_message(b"upstream connect error") == ("upstream connect error", None)
    assert mistral_error_message(b"") == ("(empty body)", None)


def test_key_required_and_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without api_key or $MISTRAL_API_KEY: ConfigError; the env key is never in repr."""
    with pytest.raises(embedmux.ConfigError, match="MISTRAL_API_KEY"):
        MistralProvider()
    monkeypatch.setenv("MISTRAL_API_KEY", KEY)
    provider = MistralProvider()
    assert KEY not in repr(provider)
    assert provider.optimization.max_batch_size == 128


def test_bad_encoding_format_is_config_error() -> None:
    """Only base64 and float are valid encodings."""
    with pytest.raises(embedmux.ConfigError, match="encoding_format"):
        _provider(encoding_format="int8")


@pytest.mark.parametrize("encoding", ["base64", "float"])
async def test_end_to_end_against_fake_server(server: FakeEmbeddingServer, encoding: str) -> None:
    """Vectors from the fake Mistral server equal fake_vector(text, 1024), in input order."""
    texts = [f"sentence {i} " + "word " * (i % 7) for i in range(300)]
    async with _provider(base_url=server.base_url, encoding_format=encoding) as provider:
        result = await provider.embed(texts)
    np.testing.assert_array_equal(result.vectors, np.stack([fake_vector(t, 1024) for t in texts]))
    assert result.usage.requests == 3  # 128 inputs per request
    assert server.stats.status_counts == {200: 3}


async def test_batches_stay_under_the_token_limit(server: FakeEmbeddingServer) -> None:
    """Long inputs are split so no request crosses Mistral's 16384-token batch limit."""
    texts = [f"{i} " + "lorem ipsum dolor sit amet " * 90 for i in range(100)]  # ~600 tokens
    async with _provider(base_url=server.base_url) as provider:
        result = await provider.embed(texts)
    assert result.vectors.shape == (100, 1024)
    assert server.stats.status_counts[400] == 0
    assert server.stats.requests >= 4


async def test_fake_server_refuses_output_dimension_for_mistral_embed(
    server: FakeEmbeddingServer,
) -> None:
    """mistral-embed has a fixed size: asking for output_dimension is a 400, not retried."""
    async with _provider(base_url=server.base_url, dimensions=256) as provider:
        with pytest.raises(embedmux.BadRequestError, match="output_dimension"):
            await provider.embed(["a"])
    assert server.stats.requests == 1


async def test_wrong_key_against_fake_server(server: FakeEmbeddingServer) -> None:
    """The fake server answers a wrong key with the gateway's 401."""
    async with _provider(base_url=server.base_url, api_key="wrong-key") as provider:
        with pytest.raises(embedmux.AuthenticationError, match="Unauthorized"):
            await provider.embed(["a"])
