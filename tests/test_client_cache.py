"""Client + cache: a text embedded once is never paid for again, across clients and runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import embedmux
from embedmux import OptimizationConfig
from embedmux._cache import Cache
from embedmux.testing import FakeEmbeddingServer, fake_token_count, fake_vector

DIMS = 16


def _client(
    server: FakeEmbeddingServer,
    cache: Any,
    *,
    dimensions: int | None = DIMS,
    model: str = "text-embedding-3-small",
) -> embedmux.Client:
    cfg = OptimizationConfig(
        transport="aiohttp", retry_delay_ms=1, max_retry_delay_ms=2, max_batch_size=10
    )
    provider = embedmux.OpenAICompatibleProvider(
        model, base_url=server.base_url, dimensions=dimensions, optimization=cfg
    )
    return embedmux.Client(provider, cache=cache)


async def test_second_call_is_served_from_the_sqlite_file(
    fake_server: FakeEmbeddingServer, tmp_path: Path
) -> None:
    """A new client on the same file sends only texts it has not seen; vectors are identical."""
    url = f"sqlite:///{tmp_path / 'cache.db'}"
    first_texts = [f"text {i}" for i in range(30)]
    async with _client(fake_server, url) as client:
        first = await client.embed(first_texts)
    sent_before = fake_server.stats.inputs
    texts = [*first_texts, "new one", "new two"]
    async with _client(fake_server, url) as client:
        second = await client.embed(texts)
    assert fake_server.stats.inputs - sent_before == 2
    assert second.usage.cached == 30
    np.testing.assert_array_equal(second.vectors[:30], first.vectors)
    np.testing.assert_array_equal(second.vectors, np.stack([fake_vector(t, DIMS) for t in texts]))


async def test_fully_cached_call_sends_nothing(fake_server: FakeEmbeddingServer) -> None:
    """A call whose every text is cached makes no request and costs nothing."""
    async with _client(fake_server, "memory") as client:
        await client.embed(["a", "b"])
        requests = fake_server.stats.requests
        again = await client.embed(["b", "a", "b"])
    assert fake_server.stats.requests == requests
    assert again.usage.cached == 2
    assert again.usage.deduplicated == 1
    assert again.usage.cost_usd == 0.0
    np.testing.assert_array_equal(again.vectors[0], fake_vector("b", DIMS))


async def test_two_models_never_share_entries(fake_server: FakeEmbeddingServer) -> None:
    """The same text under another model is a miss, embedded by that model."""
    cache = Cache.from_url("memory")
    async with _client(fake_server, cache, model="model-a") as client:
        await client.embed(["shared text"])
    async with _client(fake_server, cache, model="model-b") as client:
        result = await client.embed(["shared text"])
    assert result.usage.cached == 0


async def test_unknown_dimensions_are_learned_before_lookup(
    fake_server: FakeEmbeddingServer, tmp_path: Path
) -> None:
    """A provider learning its dimensions from the server resumes from the cache after a probe."""
    url = f"sqlite:///{tmp_path / 'c.db'}"
    texts = [f"t{i}" for i in range(20)]
    async with _client(fake_server, url, dimensions=None) as client:
        await client.embed(texts[:15])
    before = fake_server.stats.inputs
    async with _client(fake_server, url, dimensions=None) as client:
        result = await client.embed(texts)
    # one probe input to learn the dimensions, then only the 5 texts never stored
    assert fake_server.stats.inputs - before == 1 + 5
    # the probe was paid for, so it counts in usage and not as a cache hit
    assert result.usage.cached == 14
    assert result.usage.prompt_tokens == sum(fake_token_count(t) for t in [texts[0], *texts[15:]])
    assert result.vectors.shape == (20, 1536)


async def test_corrupt_cache_file_does_not_fail_the_call(
    fake_server: FakeEmbeddingServer, tmp_path: Path, caplog: Any
) -> None:
    """A garbage cache file logs a warning and the call proceeds uncached."""
    path = tmp_path / "broken.db"
    path.write_bytes(b"this is not a database" * 100)
    async with _client(fake_server, f"sqlite:///{path}") as client:
        result = await client.embed(["still works"])
    np.testing.assert_array_equal(result.vectors[0], fake_vector("still works", DIMS))
    assert any("cache" in r.getMessage().lower() for r in caplog.records)
