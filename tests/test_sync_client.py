"""SyncClient: the blocking facade runs the async Client on its own loop thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import embedmux
from embedmux import OptimizationConfig
from embedmux._sync import SyncClient
from embedmux.testing import FakeEmbeddingServer, fake_vector

KEY = "sk-sync-test-key-0123456789"


@pytest.fixture
def server() -> Iterator[FakeEmbeddingServer]:
    with FakeEmbeddingServer(api_key=KEY) as srv:
        yield srv


def _provider(server: FakeEmbeddingServer) -> embedmux.OpenAIProvider:
    cfg = OptimizationConfig.for_provider("openai").with_options(retry_delay_ms=1)
    return embedmux.OpenAIProvider(api_key=KEY, base_url=server.base_url, optimization=cfg)


def _sync_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "embedmux-sync"]


def test_embed_and_query_block_and_return_vectors(server: FakeEmbeddingServer) -> None:
    """embed and embed_query return the async client's results, rows in input order."""
    with SyncClient(_provider(server)) as client:
        result = client.embed(["a", "b", "a"])
        query = client.embed_query("q")
        stats = client.stats()
    np.testing.assert_array_equal(result.vectors[1], fake_vector("b", 1536))
    np.testing.assert_array_equal(result.vectors[0], result.vectors[2])
    np.testing.assert_array_equal(query, fake_vector("q", 1536))
    assert result.usage.deduplicated == 1
    assert stats.providers["openai"].requests == 2


def test_close_stops_the_thread_and_refuses_more_calls(server: FakeEmbeddingServer) -> None:
    """close() stops the loop thread; later calls raise a clear error; close is idempotent."""
    before = len(_sync_threads())
    client = SyncClient(_provider(server))
    assert len(_sync_threads()) == before + 1
    client.embed(["x"])
    client.close()
    client.close()
    assert len(_sync_threads()) == before
    with pytest.raises(embedmux.EmbedmuxError, match="closed"):
        client.embed(["x"])
    assert client.stats().providers["openai"].requests == 1


async def test_works_inside_a_running_event_loop(server: FakeEmbeddingServer) -> None:
    """Called from a thread already running a loop (as in Jupyter), it still answers."""
    asyncio.get_running_loop()  # this test body runs on pytest-asyncio's loop
    with SyncClient(_provider(server)) as client:
        vector = client.embed_query("inside")
    np.testing.assert_array_equal(vector, fake_vector("inside", 1536))


def test_errors_propagate_unchanged(server: FakeEmbeddingServer) -> None:
    """Input and provider errors reach the caller as the async client raised them."""
    server.configure(api_key="other")
    with SyncClient(_provider(server)) as client:
        with pytest.raises(embedmux.InputError) as info:
            client.embed(["ok", ""])
        assert info.value.index == 1
        with pytest.raises(embedmux.AuthenticationError):
            client.embed(["ok"])


def test_constructor_errors_leave_no_thread() -> None:
    """A bad argument raises the Client's error and stops the thread it started."""
    before = len(_sync_threads())
    with pytest.raises(embedmux.ConfigError):
        SyncClient([])
    assert len(_sync_threads()) == before


def test_from_config(server: FakeEmbeddingServer, tmp_path: Path) -> None:
    """SyncClient.from_config reads the same TOML as Client.from_config."""
    path = tmp_path / "embedmux.toml"
    path.write_text(
        f'[providers.compat]\nkind = "openai_compatible"\nmodel = "text-embedding-3-small"\n'
        f'base_url = "{server.base_url}"\napi_key = "{KEY}"\n',
        encoding="utf-8",
    )
    with SyncClient.from_config(path) as client:
        assert [p.name for p in client.providers] == ["compat"]
        result = client.embed(["z"])
        assert "compat" in repr(client)
    np.testing.assert_array_equal(result.vectors[0], fake_vector("z", 1536))
    assert result.provider == "compat"
