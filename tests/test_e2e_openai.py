"""End to end over 127.0.0.1: the client against the fake OpenAI server, on both transports."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import numpy as np
import pytest

import embedmux
from embedmux import OptimizationConfig
from embedmux.testing import FakeEmbeddingServer, fake_vector

DIMS = 32
TRANSPORTS = ["httpx", "aiohttp"]


def _provider(server: FakeEmbeddingServer, transport: str, **opts: Any) -> embedmux.OpenAIProvider:
    knobs: dict[str, Any] = {
        "retry_delay_ms": 5,
        "max_retry_delay_ms": 50,
        "rate_limit_rpm": None,
        "rate_limit_tpm": None,
        **opts,
    }
    cfg = OptimizationConfig.for_provider("openai").with_options(transport=transport, **knobs)
    return embedmux.OpenAIProvider(
        api_key="sk-e2e", base_url=server.base_url, dimensions=DIMS, optimization=cfg
    )


def _expected(texts: list[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
    return np.stack([fake_vector(t, DIMS) for t in texts])


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_corpus_complete_and_in_order_despite_503s(
    fake_server: FakeEmbeddingServer, transport: str
) -> None:
    """10,000 inputs with 5% injected 503s come back complete, each row its own text's vector."""
    fake_server.configure(fail_rate=0.05, fail_status=503, seed=7)
    texts = [f"document number {i} about topic {i % 97}" for i in range(10_000)]
    async with embedmux.Client(
        _provider(fake_server, transport, max_batch_size=100, max_retries=8, max_concurrency=16)
    ) as client:
        result = await client.embed(texts)
    np.testing.assert_allclose(result.vectors, _expected(texts), rtol=0, atol=0)
    assert result.usage.retries == fake_server.stats.server_errors > 0
    assert result.usage.requests == 100 + result.usage.retries


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_server_tpm_limit_finishes_without_error(
    fake_server: FakeEmbeddingServer, transport: str
) -> None:
    """Against a server TPM limit and no client limiter, 429s are absorbed; the call completes."""
    fake_server.configure(tpm=60 * 400, rate_window_s=0.25)  # 100 tokens per 0.25 s window
    texts = [f"text {i} " * 5 for i in range(60)]
    async with embedmux.Client(
        _provider(fake_server, transport, max_batch_size=4, max_retries=30, max_concurrency=4)
    ) as client:
        result = await client.embed(texts)
    np.testing.assert_array_equal(result.vectors, _expected(texts))
    assert result.usage.rate_limited == fake_server.stats.rate_limited


async def test_client_limiter_below_server_limit_sees_no_429(
    fake_server: FakeEmbeddingServer,
) -> None:
    """With the client's TPM bucket at half the server's limit, no request is ever refused."""
    fake_server.configure(tpm=60_000, rate_window_s=1.0)  # 1,000 tokens a second
    texts = [f"text {i} " * 5 for i in range(60)]
    provider = _provider(
        fake_server,
        "aiohttp",
        max_batch_size=4,
        rate_limit_tpm=30_000,
        max_input_tokens=200,
        max_batch_tokens=800,
    )
    async with embedmux.Client(provider) as client:
        result = await client.embed(texts)
    assert fake_server.stats.rate_limited == 0
    assert result.usage.rate_limited == 0
    assert result.usage.throttle_wait_seconds > 0
    np.testing.assert_array_equal(result.vectors, _expected(texts))


@pytest.mark.parametrize("kind", ["short", "wrong_dim", "nan", "bad_json", "disconnect"])
async def test_misbehaving_answer_is_retried_never_returned(
    fake_server: FakeEmbeddingServer, kind: Any
) -> None:
    """A short, wrong-length, NaN, broken or dropped answer is retried, never returned."""
    fake_server.misbehave_next(kind, 1)
    texts = ["alpha", "beta", "gamma"]
    async with embedmux.Client(_provider(fake_server, "aiohttp")) as client:
        result = await client.embed(texts)
    np.testing.assert_array_equal(result.vectors, _expected(texts))
    assert result.usage.retries == 1


async def test_shuffled_items_are_put_back_in_order(fake_server: FakeEmbeddingServer) -> None:
    """Items returned out of order are placed by their index field (no retry needed)."""
    fake_server.misbehave_next("shuffle", 1)
    texts = ["one", "two", "three", "four"]
    async with embedmux.Client(_provider(fake_server, "aiohttp")) as client:
        result = await client.embed(texts)
    np.testing.assert_array_equal(result.vectors, _expected(texts))
    assert result.usage.retries == 0


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_stalled_server_times_out_and_retries(
    fake_server: FakeEmbeddingServer, transport: str
) -> None:
    """A server that never answers costs one timeout, then the retry succeeds."""
    fake_server.misbehave_next("stall", 1)
    async with embedmux.Client(_provider(fake_server, transport, timeout_seconds=0.3)) as client:
        result = await client.embed(["patience"])
    np.testing.assert_array_equal(result.vectors, _expected(["patience"]))
    assert result.usage.retries == 1


async def test_retry_after_pauses_then_succeeds(fake_server: FakeEmbeddingServer) -> None:
    """429s with Retry-After are honoured and counted; the corpus still completes."""
    fake_server.fail_next(3, status=429, retry_after_ms=20)
    texts = [f"t{i}" for i in range(40)]
    async with embedmux.Client(_provider(fake_server, "aiohttp", max_batch_size=5)) as client:
        result = await client.embed(texts)
    np.testing.assert_array_equal(result.vectors, _expected(texts))
    assert result.usage.rate_limited == 3


async def test_wrong_key_is_an_auth_error(fake_server: FakeEmbeddingServer) -> None:
    """A key the server rejects raises AuthenticationError at once (no retries)."""
    fake_server.configure(api_key="sk-right")
    async with embedmux.Client(_provider(fake_server, "aiohttp")) as client:
        with pytest.raises(embedmux.AuthenticationError, match="HTTP 401"):
            await client.embed(["x"])
    assert fake_server.stats.requests == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_request_on_the_wire(fake_server: FakeEmbeddingServer, transport: str) -> None:
    """Both transports send the same request: path, JSON content type, auth, agent, body."""
    fake_server.configure(record=True)
    async with embedmux.Client(_provider(fake_server, transport)) as client:
        await client.embed(["héllo", "wörld"])
    (request,) = fake_server.requests
    assert (request.method, request.path) == ("POST", "/v1/embeddings")
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == "Bearer sk-e2e"
    assert request.headers["user-agent"] == f"embedmux/{embedmux.__version__}"
    assert request.headers["accept-encoding"] == "gzip, deflate"
    assert request.body == {
        "model": "text-embedding-3-small",
        "input": ["héllo", "wörld"],
        "encoding_format": "base64",
        "dimensions": DIMS,
    }


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_proxy_from_the_environment(
    fake_server: FakeEmbeddingServer, transport: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTP_PROXY is honoured on both transports: the request reaches the proxy (the fake
    server), addressed to a host that does not exist; NO_PROXY turns it off."""
    monkeypatch.setenv("HTTP_PROXY", fake_server.base_url.removesuffix("/v1"))
    cfg = OptimizationConfig(transport=transport, max_retries=0)
    behind_proxy = embedmux.OpenAIProvider(
        api_key="sk-e2e", base_url="http://api.example.invalid/v1", optimization=cfg
    )
    async with behind_proxy:
        result = await behind_proxy.embed(["via proxy"])
    assert result.vectors.shape[0] == 1
    assert fake_server.stats.requests == 1
    monkeypatch.setenv("NO_PROXY", "api.example.invalid")
    direct = embedmux.OpenAIProvider(
        api_key="sk-e2e", base_url="http://api.example.invalid/v1", optimization=cfg
    )
    async with direct:
        with pytest.raises(embedmux.TransportError):
            await direct.embed(["no proxy"])
    assert fake_server.stats.requests == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_provider_closed_in_each_event_loop(
    fake_server: FakeEmbeddingServer, transport: str
) -> None:
    """A CLI calling asyncio.run twice, closing the provider each time: no leak, no warning."""
    provider = _provider(fake_server, transport)

    async def once(text: str) -> embedmux.EmbeddingResult:
        async with provider:
            return await provider.embed([text])

    first, second = asyncio.run(once("one")), asyncio.run(once("two"))
    np.testing.assert_array_equal(first.vectors, _expected(["one"]))
    np.testing.assert_array_equal(second.vectors, _expected(["two"]))


# The pool left in the finished loop cannot be closed from the new one: its sockets are
# reclaimed by the garbage collector, which warns about them (collected here, on purpose).
@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_provider_left_open_still_works_in_a_new_loop(
    fake_server: FakeEmbeddingServer, transport: str
) -> None:
    """Not closed before the loop ended: the next loop gets a fresh pool instead of an error."""
    provider = _provider(fake_server, transport)
    first = asyncio.run(provider.embed(["one"]))
    second = asyncio.run(provider.embed(["two"]))
    asyncio.run(provider.aclose())
    gc.collect()
    np.testing.assert_array_equal(first.vectors, _expected(["one"]))
    np.testing.assert_array_equal(second.vectors, _expected(["two"]))


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_unreachable_server_is_a_connection_error(transport: str) -> None:
    """Nothing listening: ConnectionError after retries, naming the inputs without vectors."""
    cfg = OptimizationConfig(
        transport=transport, max_retries=1, retry_delay_ms=1, max_retry_delay_ms=2
    )
    provider = embedmux.OpenAIProvider(
        api_key="k", base_url="http://127.0.0.1:9/v1", optimization=cfg
    )
    async with provider:
        with pytest.raises(embedmux.TransportError) as info:
            await provider.embed(["a", "b"])
    assert info.value.failed_indices == (0, 1)
