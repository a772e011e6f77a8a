"""Fallback chain: which failures hand the work over, the circuit breaker, embedding spaces,
and corpora that complete in order while providers die mid-way."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import numpy as np
import pytest

import embedmux
from embedmux import OptimizationConfig
from embedmux._chain import CircuitBreaker
from embedmux._events import CircuitEvent, FallbackEvent, Hooks
from embedmux.providers.azure import AzureOpenAIProvider
from embedmux.providers.compatible import OpenAICompatibleProvider
from embedmux.testing import FakeEmbeddingServer, fake_vector

MODEL = "text-embedding-3-small"
KEY = "sk-chain-test-key-0123456789"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Tripwire(httpx.AsyncBaseTransport):
    """A real HTTP transport that runs ``action`` once, after ``after`` responses."""

    def __init__(self, after: int, action: Callable[[], object]) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._after, self._action, self.responses = after, action, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        self.responses += 1
        if self.responses == self._after:
            self._action()
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def _cfg(profile: str = "openai", **opts: object) -> OptimizationConfig:
    base = dict(retry_delay_ms=1, max_retry_delay_ms=2, rate_limit_rpm=None, rate_limit_tpm=None)
    return OptimizationConfig.for_provider(profile).with_options(**{**base, **opts})


def _primary(
    server: FakeEmbeddingServer, transport: httpx.AsyncBaseTransport | None = None, **opts: object
) -> embedmux.OpenAIProvider:
    return embedmux.OpenAIProvider(
        MODEL,
        api_key=KEY,
        base_url=server.base_url,
        optimization=_cfg("openai", **opts),
        transport=transport,
    )


def _secondary(server: FakeEmbeddingServer, **opts: object) -> AzureOpenAIProvider:
    return AzureOpenAIProvider(
        MODEL,
        endpoint=server.url,
        deployment="emb-small",
        api_key=KEY,
        optimization=_cfg("azure", **opts),
    )


@pytest.fixture
def first() -> Iterator[FakeEmbeddingServer]:
    with FakeEmbeddingServer(api_key=KEY) as srv:
        yield srv


@pytest.fixture
def second() -> Iterator[FakeEmbeddingServer]:
    with FakeEmbeddingServer(api_key=KEY) as srv:
        yield srv


def _check_rows(vectors: np.ndarray, texts: list[str], dims: int = 1536) -> None:
    """Every input has exactly its own vector, in input order."""
    assert vectors.shape == (len(texts), dims)
    expected = np.stack([fake_vector(t, dims) for t in texts])
    np.testing.assert_array_equal(vectors, expected)


# --- what hands the work over ----------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 429])
async def test_retryable_status_falls_back_after_retries(
    first: FakeEmbeddingServer, second: FakeEmbeddingServer, status: int
) -> None:
    """5xx and 429 that outlast the retries hand the call to the next provider."""
    first.configure(fail_rate=1.0, fail_status=status)
    fallbacks: list[FallbackEvent] = []
    hooks = Hooks(on_fallback=[fallbacks.append])
    texts = ["alpha", "beta", "gamma"]
    chain = [_primary(first, max_retries=2), _secondary(second)]
    async with embedmux.Client(chain, hooks=hooks) as client:
        result = await client.embed(texts)
    _check_rows(result.vectors, texts)
    assert result.provider == "azure"
    assert first.stats.requests == 3  # the first try and two retries
    assert second.stats.requests == 1
    (event,) = fallbacks
    assert (event.from_provider, event.to_provider) == ("openai", "azure")


async def test_connection_refused_falls_back(second: FakeEmbeddingServer) -> None:
    """A provider whose server is gone hands over (connection errors)."""
    dead = FakeEmbeddingServer(api_key=KEY).start()
    dead.stop()  # the port is closed now
    chain = [_primary(dead, max_retries=1), _secondary(second)]
    async with embedmux.Client(chain) as client:
        result = await client.embed(["x", "y"])
    _check_rows(result.vectors, ["x", "y"])
    assert result.provider == "azure"


async def test_timeout_falls_back(first: FakeEmbeddingServer, second: FakeEmbeddingServer) -> None:
    """A stalled server times out and the next provider answers."""
    first.configure(misbehave="stall")
    chain = [_primary(first, max_retries=0, timeout_seconds=0.2), _secondary(second)]
    async with embedmux.Client(chain) as client:
        result = await client.embed(["slow"])
    _check_rows(result.vectors, ["slow"])
    assert result.provider == "azure"


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, embedmux.BadRequestError),
        (401, embedmux.AuthenticationError),
        (403, embedmux.AuthenticationError),
        (404, embedmux.NotFoundError),
        (422, embedmux.BadRequestError),
    ],
)
async def test_caller_errors_do_not_fall_through(
    first: FakeEmbeddingServer, second: FakeEmbeddingServer, status: int, error: type[Exception]
) -> None:
    """400/401/403/404/422 surface at once: not retried, never sent to the next provider."""
    first.fail_next(1, status=status)
    async with embedmux.Client([_primary(first), _secondary(second)]) as client:
        with pytest.raises(error) as info:
            await client.embed(["a"])
    assert getattr(info.value, "status_code", None) == status
    assert first.stats.requests == 1
    assert second.stats.requests == 0


async def test_all_failed_carries_each_cause(
    first: FakeEmbeddingServer, second: FakeEmbeddingServer
) -> None:
    """When every provider fails, the error names each one with its own cause."""
    first.configure(fail_rate=1.0, fail_status=503)
    second.configure(fail_rate=1.0, fail_status=429)
    async with embedmux.Client([_primary(first), _secondary(second)]) as client:
        with pytest.raises(embedmux.AllProvidersFailedError) as info:
            await client.embed(["a", "b"])
    causes = info.value.causes
    assert list(causes) == ["openai", "azure"]
    assert isinstance(causes["openai"], embedmux.ServerError)
    assert isinstance(causes["azure"], embedmux.RateLimitError)
    assert causes["openai"].failed_indices == (0, 1)
    assert "openai: ServerError" in str(info.value)


# --- the circuit breaker ------------------------------------------------------------------


def test_breaker_states_with_a_controlled_clock() -> None:
    """Opens after N consecutive failures, half-opens after the cooldown, closes on success."""
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=3, cooldown_seconds=30, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()  # a success resets the count: failures must be consecutive
    breaker.record_failure()
    breaker.record_failure()
    assert (breaker.state, breaker.allows()) == ("closed", True)
    breaker.record_failure()
    assert (breaker.state, breaker.allows()) == ("open", False)
    clock.now += 29.9
    assert breaker.state == "open"
    clock.now += 0.1
    assert (breaker.state, breaker.allows()) == ("half_open", True)
    breaker.record_failure()  # the trial failed: open again for a full cooldown
    assert breaker.state == "open"
    clock.now += 30
    breaker.record_success()
    assert (breaker.state, breaker.failures) == ("closed", 0)


async def test_open_breaker_skips_the_provider_until_cooldown(
    first: FakeEmbeddingServer, second: FakeEmbeddingServer
) -> None:
    """After N failed calls the provider is skipped (no request), then tried again half-open."""
    first.configure(fail_rate=1.0, fail_status=503)
    clock = Clock()
    circuits: list[CircuitEvent] = []
    primary = _primary(
        first, max_retries=0, circuit_failure_threshold=2, circuit_cooldown_seconds=60
    )
    client = embedmux.Client(
        [primary, _secondary(second)], hooks=Hooks(on_circuit=[circuits.append])
    )
    client._chain.breaker(primary).clock = clock  # the breaker's injectable clock
    async with client:
        for i in range(2):
            assert (await client.embed([f"t{i}"])).provider == "azure"
        assert first.stats.requests == 2
        assert [(e.provider, e.state) for e in circuits] == [("openai", "open")]

        result = await client.embed(["while open"])  # skipped: no request reaches it
        assert (result.provider, first.stats.requests) == ("azure", 2)

        first.configure(fail_rate=0.0)
        clock.now += 60  # cooldown over: one trial call goes through and succeeds
        result = await client.embed(["recovered"])
    assert result.provider == "openai"
    assert first.stats.requests == 3
    assert [e.state for e in circuits] == ["open", "closed"]
    _check_rows(result.vectors, ["recovered"])


async def test_open_breaker_cause_is_reported(first: FakeEmbeddingServer) -> None:
    """With every breaker open, AllProvidersFailedError says the circuit is open."""
    first.configure(fail_rate=1.0, fail_status=503)
    primary = _primary(first, max_retries=0, circuit_failure_threshold=1)
    async with embedmux.Client(primary) as client:
        with pytest.raises(embedmux.AllProvidersFailedError):
            await client.embed(["a"])
        with pytest.raises(embedmux.AllProvidersFailedError, match="circuit open") as info:
            await client.embed(["b"])
    assert isinstance(info.value.causes["openai"], embedmux.ProviderUnavailableError)
    assert first.stats.requests == 1


# --- embedding spaces --------------------------------------------------------------------


def _other_space(server: FakeEmbeddingServer) -> OpenAICompatibleProvider:
    return OpenAICompatibleProvider(
        "bge-small",
        base_url=server.base_url,
        api_key=KEY,
        dimensions=384,
        name="bge",
        optimization=_cfg("openai_compatible"),
    )


def test_mixed_spaces_need_opt_in(first: FakeEmbeddingServer) -> None:
    """A chain crossing embedding spaces is a ConfigError naming both providers and spaces."""
    with pytest.raises(embedmux.ConfigError, match=r"'openai' .*@1536.* 'bge' .*bge-small@384"):
        embedmux.Client([_primary(first), _other_space(first)])
    client = embedmux.Client([_primary(first), _other_space(first)], allow_mixed_spaces=True)
    assert [p.name for p in client.providers] == ["openai", "bge"]


def test_same_model_different_dimensions_is_another_space(first: FakeEmbeddingServer) -> None:
    """The same model shortened to other dimensions is another space."""
    short = AzureOpenAIProvider(
        MODEL, endpoint=first.url, deployment="d", api_key=KEY, dimensions=256
    )
    with pytest.raises(embedmux.ConfigError, match="different spaces"):
        embedmux.Client([_primary(first), short])


async def test_mixed_result_never_mixes_spaces(
    first: FakeEmbeddingServer, second: FakeEmbeddingServer
) -> None:
    """When the primary dies mid-corpus, the whole result comes from one provider and space."""
    second.configure(models={"bge-small": 384})
    texts = [f"doc {i}" for i in range(200)]
    wire = Tripwire(after=3, action=lambda: first.configure(fail_rate=1.0))
    primary = _primary(first, transport=wire, max_batch_size=20, max_concurrency=1, max_retries=1)
    chain = [primary, _other_space(second)]
    async with embedmux.Client(chain, allow_mixed_spaces=True) as client:
        result = await client.embed(texts)
    assert (result.provider, str(result.space)) == ("bge", "bge-small@384")
    _check_rows(result.vectors, texts, dims=384)


# --- corpora that outlive their providers ----------------------------------------------


@pytest.mark.parametrize("failure", ["503", "stop", "stall"])
async def test_corpus_completes_when_primary_dies_mid_way(
    first: FakeEmbeddingServer, second: FakeEmbeddingServer, failure: str
) -> None:
    """The primary breaks after k requests (503s, gone, or silent): every input still gets
    exactly its own vector, in order, nothing lost or duplicated."""
    actions: dict[str, Callable[[], object]] = {
        "503": lambda: first.configure(fail_rate=1.0, fail_status=503),
        "stop": first.stop,
        "stall": lambda: first.configure(misbehave="stall"),
    }
    texts = [f"passage {i}: " + "word " * (i % 13) for i in range(600)]
    wire = Tripwire(after=5, action=actions[failure])
    primary = _primary(
        first, transport=wire, max_batch_size=25, max_concurrency=4, max_retries=1,
        timeout_seconds=0.3,
    )  # fmt: skip
    async with embedmux.Client([primary, _secondary(second, max_batch_size=100)]) as client:
        result = await client.embed(texts)
    _check_rows(result.vectors, texts)
    assert result.provider == "azure"
    assert second.stats.embedded == len(texts)  # each input embedded once by the survivor


async def test_many_calls_survive_a_flapping_primary(
    first: FakeEmbeddingServer, second: FakeEmbeddingServer
) -> None:
    """Call after call of a corpus: whichever provider answers, each chunk is complete."""
    texts = [f"row {i}" for i in range(400)]
    chunks = [texts[i : i + 50] for i in range(0, len(texts), 50)]
    primary = _primary(first, max_retries=0, max_batch_size=10, circuit_failure_threshold=100)
    async with embedmux.Client([primary, _secondary(second)]) as client:
        rows = []
        for n, chunk in enumerate(chunks):
            first.configure(fail_rate=1.0 if n % 2 else 0.0)
            result = await client.embed(chunk)
            assert result.provider == ("azure" if n % 2 else "openai")
            rows.append(result.vectors)
    _check_rows(np.concatenate(rows), texts)
