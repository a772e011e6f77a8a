"""The persistent cache, on real SQLite files (and real writer processes)."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from embedmux import _cache
from embedmux._cache import Cache, CacheStats, default_cache_path, namespace_for, text_key
from embedmux._exceptions import ConfigError
from embedmux._types import EmbeddingSpace

NS = "text-embedding-3-small@4|document"
WRITER_PATH = Path(__file__).with_name("_cache_writer.py")


def _load_writer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_cache_writer", WRITER_PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


writer = _load_writer()


class FakeClock:
    """Seconds since the epoch, moved by the test."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def vecs(n: int, dims: int = 4, start: float = 0.0) -> npt.NDArray[np.float32]:
    """``n`` distinct float32 vectors."""
    return (np.arange(n * dims, dtype=np.float32) + start).reshape(n, dims)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Path of a fresh cache file."""
    return tmp_path / "cache" / "cache.db"


async def reopen_get(path: Path, ns: str, texts: list[str]) -> dict[int, npt.NDArray[np.float32]]:
    """Look texts up through a new Cache with no memory front (reads the file)."""
    cache = Cache(path, memory_entries=0)
    try:
        return await cache.get_many(ns, texts)
    finally:
        await cache.aclose()


# -- round trips -------------------------------------------------------------------


async def test_put_then_get_returns_the_vectors(db: Path) -> None:
    """Vectors put under a namespace come back for the same texts, float32, in place."""
    cache = Cache(db)
    await cache.put_many(NS, ["a", "b", "c"], vecs(3))
    got = await cache.get_many(NS, ["c", "x", "a"])
    assert sorted(got) == [0, 2]
    assert got[0].dtype == np.float32
    np.testing.assert_array_equal(got[0], vecs(3)[2])
    np.testing.assert_array_equal(got[2], vecs(3)[0])
    await cache.aclose()


async def test_vectors_survive_reopening_bit_exactly(db: Path) -> None:
    """A new Cache on the same file returns the stored bytes exactly."""
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((50, 1536)).astype(np.float32)
    texts = [f"t{i}" for i in range(50)]
    cache = Cache(db)
    await cache.put_many(NS, texts, vectors)
    await cache.aclose()
    got = await reopen_get(db, NS, texts)
    assert len(got) == 50
    for i in range(50):
        assert got[i].tobytes() == vectors[i].tobytes()


async def test_results_are_copies(db: Path) -> None:
    """Changing a returned vector, or the array that was put, never changes the cache."""
    cache = Cache(db)
    source = vecs(1)
    await cache.put_many(NS, ["a"], source)
    source[0, 0] = 99.0
    first = await cache.get_many(NS, ["a"])
    first[0][1] = 42.0
    again = await cache.get_many(NS, ["a"])
    np.testing.assert_array_equal(again[0], vecs(1)[0])
    assert again[0].flags.writeable
    await cache.aclose()


async def test_namespaces_never_share_entries(db: Path) -> None:
    """The same text in two namespaces holds two independent vectors."""
    cache = Cache(db)
    await cache.put_many("m@4|document", ["a"], vecs(1))
    assert await cache.get_many("m@4|query", ["a"]) == {}
    await cache.put_many("m@4|query", ["a"], vecs(1, start=10))
    got = await reopen_get(db, "m@4|document", ["a"])
    np.testing.assert_array_equal(got[0], vecs(1)[0])
    await cache.aclose()


async def test_keys_are_the_exact_text(db: Path) -> None:
    """Texts differing only in Unicode normalisation or whitespace are different entries."""
    nfc, nfd = "caf\u00e9", "cafe\u0301"
    cache = Cache(db)
    await cache.put_many(NS, [nfc], vecs(1))
    assert await reopen_get(db, NS, [nfd, nfc + " ", nfc.upper()]) == {}
    assert text_key("\ud800") != text_key("\ufffd")
    await cache.aclose()


async def test_repeated_texts_in_one_lookup_all_hit(db: Path) -> None:
    """Every index of a repeated text is answered, each with its own copy."""
    cache = Cache(db)
    await cache.put_many(NS, ["a"], vecs(1))
    got = await reopen_get(db, NS, ["a", "b", "a"])
    assert sorted(got) == [0, 2]
    assert got[0] is not got[2]
    await cache.aclose()


async def test_dimensions_filter_treats_other_lengths_as_misses(db: Path) -> None:
    """With dimensions given, a vector of another length is a miss."""
    cache = Cache(db)
    await cache.put_many(NS, ["a"], vecs(1, dims=4))
    assert await cache.get_many(NS, ["a"], dimensions=8) == {}
    assert list(await cache.get_many(NS, ["a"], dimensions=4)) == [0]
    await cache.aclose()


async def test_get_into_fills_hit_rows_and_leaves_miss_rows(db: Path) -> None:
    """get_into writes each hit into its row, bit-exactly, and returns the hit indices."""
    cache = Cache(db)
    await cache.put_many(NS, ["a", "b"], vecs(2))
    out = np.full((4, 4), -1.0, dtype=np.float32)
    assert await cache.get_into(NS, ["b", "x", "a", "b"], out) == [0, 2, 3]
    np.testing.assert_array_equal(out[[0, 2, 3]], vecs(2)[[1, 0, 1]])
    np.testing.assert_array_equal(out[1], [-1.0] * 4)
    await cache.aclose()


@pytest.mark.parametrize("memory_entries", [0, 100])
async def test_get_into_all_hits_from_file_and_memory(db: Path, memory_entries: int) -> None:
    """A fully cached lookup fills every row exactly, from the file or the memory front."""
    rng = np.random.default_rng(2)
    vectors = rng.standard_normal((30, 16)).astype(np.float32)
    texts = [f"t{i}" for i in range(30)]
    seed = Cache(db)
    await seed.put_many(NS, texts, vectors)
    await seed.aclose()
    cache = Cache(db, memory_entries=memory_entries)
    for _ in range(2):  # the second round is answered by the memory front, when there is one
        out = np.empty((30, 16), dtype=np.float32)
        assert await cache.get_into(NS, texts, out) == list(range(30))
        assert out.tobytes() == vectors.tobytes()
    await cache.aclose()


async def test_get_into_a_strided_view_and_other_dimensions(db: Path) -> None:
    """Rows of a non-contiguous ``out`` are filled too; vectors of another length miss."""
    cache = Cache(db)
    await cache.put_many(NS, ["a", "b"], vecs(2))
    base = np.zeros((2, 8), dtype=np.float32)
    assert await cache.get_into(NS, ["a", "b"], base[:, ::2]) == [0, 1]
    np.testing.assert_array_equal(base[:, ::2], vecs(2))
    np.testing.assert_array_equal(base[:, 1::2], np.zeros((2, 4)))
    assert await cache.get_into(NS, ["a"], np.zeros((1, 8), dtype=np.float32)) == []
    with pytest.raises(ValueError, match="shape"):
        await cache.get_into(NS, ["a", "b"], np.zeros((3, 4), dtype=np.float32))
    await cache.aclose()


async def test_non_finite_vectors_are_not_stored(db: Path) -> None:
    """A row holding NaN or inf is skipped; the finite rows are stored."""
    vectors = vecs(3)
    vectors[1, 2] = np.nan
    vectors[2, 0] = np.inf
    cache = Cache(db)
    await cache.put_many(NS, ["ok", "nan", "inf"], vectors)
    assert list(await cache.get_many(NS, ["ok", "nan", "inf"])) == [0]
    await cache.aclose()


async def test_put_rejects_mismatched_shapes(db: Path) -> None:
    """A vector count that differs from the text count is a programming error."""
    cache = Cache(db)
    with pytest.raises(ValueError, match="shape"):
        await cache.put_many(NS, ["a", "b"], vecs(3))
    with pytest.raises(ValueError, match="shape"):
        await cache.put_many(NS, ["a"], np.zeros(4, dtype=np.float32))


async def test_float64_input_is_stored_as_float32(db: Path) -> None:
    """Vectors of another float type are stored as float32."""
    cache = Cache(db)
    await cache.put_many(NS, ["a"], vecs(1).astype(np.float64))
    got = await reopen_get(db, NS, ["a"])
    assert got[0].dtype == np.float32
    await cache.aclose()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    texts=st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=8, unique=True),
    data=st.data(),
)
def test_round_trip_property(tmp_path: Path, texts: list[str], data: st.DataObject) -> None:
    """Any texts and finite float32 vectors come back bit-exactly from the file."""
    dims = data.draw(st.integers(1, 16))
    flat = data.draw(
        st.lists(
            st.floats(width=32, allow_nan=False, allow_infinity=False),
            min_size=len(texts) * dims,
            max_size=len(texts) * dims,
        )
    )
    vectors = np.array(flat, dtype=np.float32).reshape(len(texts), dims)
    path = tmp_path / f"prop-{text_key(''.join(texts)).hex()[:12]}.db"

    async def run() -> dict[int, npt.NDArray[np.float32]]:
        cache = Cache(path)
        await cache.put_many(NS, texts, vectors)
        await cache.aclose()
        return await reopen_get(path, NS, texts)

    got = asyncio.run(run())
    assert [got[i].tobytes() for i in range(len(texts))] == [v.tobytes() for v in vectors]


# -- damaged and unusable files ------------------------------------------------------


async def test_damaged_row_is_never_returned(db: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A row whose bytes do not match its length or checksum reads as a miss and is logged."""
    cache = Cache(db)
    await cache.put_many(NS, ["short", "flipped", "fine"], vecs(3))
    await cache.aclose()
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE entries SET vec = substr(vec, 1, 8) WHERE key = ?", (text_key("short"),)
        )
        blob = bytearray(vecs(3)[1].tobytes())
        blob[5] ^= 0xFF
        conn.execute("UPDATE entries SET vec = ? WHERE key = ?", (bytes(blob), text_key("flipped")))
    with caplog.at_level(logging.WARNING, logger="embedmux.cache"):
        got = await reopen_get(db, NS, ["short", "flipped", "fine"])
    assert list(got) == [2]
    assert "2 damaged vectors" in caplog.text


def _assert_disabled(cache: Cache, caplog: pytest.LogCaptureFixture) -> None:
    assert not cache.enabled
    assert any(
        r.name == "embedmux.cache" and r.levelno == logging.WARNING and "disabled" in r.message
        for r in caplog.records
    )


async def test_garbage_file_disables_the_cache_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A file that is not a database: warning, lookups miss, writes do nothing, file kept."""
    path = tmp_path / "cache.db"
    garbage = os.urandom(8192)
    path.write_bytes(garbage)
    cache = Cache(path)
    with caplog.at_level(logging.WARNING, logger="embedmux.cache"):
        assert await cache.get_many(NS, ["a"]) == {}
    _assert_disabled(cache, caplog)
    await cache.put_many(NS, ["a"], vecs(1))
    assert await cache.get_many(NS, ["a"]) == {}
    assert (await cache.stats()).enabled is False
    assert path.read_bytes() == garbage
    await cache.aclose()


async def test_directory_at_the_path_disables_the_cache(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A directory where the file should be: warning and a disabled cache, no exception."""
    path = tmp_path / "cache.db"
    path.mkdir()
    cache = Cache(path)
    with caplog.at_level(logging.WARNING, logger="embedmux.cache"):
        await cache.put_many(NS, ["a"], vecs(1))
    _assert_disabled(cache, caplog)
    assert await cache.get_many(NS, ["a"]) == {}


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores file modes")
async def test_unreadable_file_disables_the_cache(
    db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A file without read permission: warning and a disabled cache, no exception."""
    cache = Cache(db)
    await cache.put_many(NS, ["a"], vecs(1))
    await cache.aclose()
    await asyncio.to_thread(db.chmod, 0)
    try:
        other = Cache(db)
        with caplog.at_level(logging.WARNING, logger="embedmux.cache"):
            assert await other.get_many(NS, ["a"]) == {}
        _assert_disabled(other, caplog)
    finally:
        await asyncio.to_thread(db.chmod, 0o600)


async def test_newer_schema_disables_the_cache(db: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A file written by a newer schema is left alone, not misread."""
    db.parent.mkdir(parents=True)
    with sqlite3.connect(db) as conn:
        conn.execute(f"PRAGMA user_version = {_cache.SCHEMA_VERSION + 1}")
    cache = Cache(db)
    with caplog.at_level(logging.WARNING, logger="embedmux.cache"):
        assert await cache.get_many(NS, ["a"]) == {}
    _assert_disabled(cache, caplog)
    assert "newer" in caplog.text


async def test_busy_file_skips_the_write_without_disabling(
    db: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While another connection holds the write lock past the timeout, a write is skipped."""
    monkeypatch.setattr(_cache, "BUSY_TIMEOUT_SECONDS", 0.05)
    cache = Cache(db, memory_entries=0)
    await cache.put_many(NS, ["a"], vecs(1))
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with caplog.at_level(logging.WARNING, logger="embedmux.cache"):
            await cache.put_many(NS, ["b"], vecs(1))
        assert "busy" in caplog.text
        assert cache.enabled
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    await cache.put_many(NS, ["c"], vecs(1))
    assert sorted(await cache.get_many(NS, ["a", "b", "c"])) == [0, 2]
    await cache.aclose()


# -- construction -------------------------------------------------------------------


@pytest.mark.parametrize("url", [None, "", "none", "None", "off"])
def test_from_url_disabled(url: str | None) -> None:
    """'none', '' and None mean no cache at all."""
    assert Cache.from_url(url) is None


def test_from_url_sqlite_absolute(tmp_path: Path) -> None:
    """sqlite:///abs/path.db names that file; four slashes mean the same."""
    for url in (f"sqlite://{tmp_path}/c.db", f"sqlite:///{tmp_path}/c.db"):
        cache = Cache.from_url(url)
        assert cache is not None
        assert cache.path == tmp_path / "c.db"


def test_from_url_expands_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """sqlite:///~/x.db is under the user's home directory."""
    monkeypatch.setenv("HOME", str(tmp_path))
    cache = Cache.from_url("sqlite:///~/x.db")
    assert cache is not None
    assert cache.path == tmp_path / "x.db"


def test_from_url_memory_and_options() -> None:
    """'memory' is an LRU-only cache; query options and keywords configure it."""
    cache = Cache.from_url("memory?memory_entries=5", max_entries=3)
    assert cache is not None
    assert cache.path is None
    assert repr(cache) == "Cache(':memory:', memory_entries=5)"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://localhost", "not understood"),
        ("sqlite:///x.db?size=3", "unknown option 'size'"),
        ("sqlite:///x.db?max_entries=lots", "must be a number"),
        ("sqlite:///x.db?max_entries=-1", "non-negative"),
        ("sqlite:///x.db?max_bytes=0", "positive"),
    ],
)
def test_from_url_rejects_bad_urls(url: str, message: str) -> None:
    """A URL or option that cannot be understood is a ConfigError naming it."""
    with pytest.raises(ConfigError, match=message):
        Cache.from_url(url)


def test_default_path_follows_the_environment(tmp_path: Path) -> None:
    """EMBEDMUX_CACHE_DIR overrides the user cache directory."""
    assert default_cache_path({"EMBEDMUX_CACHE_DIR": str(tmp_path)}) == tmp_path / "cache.db"
    default = default_cache_path({})
    assert default.name == "cache.db"
    assert default.parent.name == "embedmux"


def test_default_cache_uses_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Cache() and sqlite:// with no path use the default path."""
    monkeypatch.setenv("EMBEDMUX_CACHE_DIR", str(tmp_path))
    assert Cache().path == tmp_path / "cache.db"
    from_url = Cache.from_url("sqlite://")
    assert from_url is not None
    assert from_url.path == tmp_path / "cache.db"


def test_namespace_for_names_space_and_input_type() -> None:
    """The namespace joins the embedding space and the input type."""
    space = EmbeddingSpace.of("OpenAI/Text-Embedding-3-Small", 1536)
    assert namespace_for(space, "query") == "text-embedding-3-small@1536|query"
    assert namespace_for(space, "query") != namespace_for(space, "document")


# -- maintenance --------------------------------------------------------------------


async def test_stats_and_clear(db: Path) -> None:
    """stats counts entries and payload bytes; clear drops one namespace or all."""
    cache = Cache(db)
    await cache.put_many("a", ["x", "y"], vecs(2))
    await cache.put_many("b", ["x"], vecs(1, dims=8))
    await cache.get_many("a", ["x", "nope"])
    stats = await cache.stats()
    assert (stats.path, stats.entries, stats.bytes) == (db, 3, 2 * 16 + 32)
    assert (stats.hits, stats.misses, stats.memory_entries) == (1, 1, 3)
    assert stats.file_bytes > 0
    assert await cache.clear("a") == 2
    assert await cache.get_many("a", ["x"]) == {}
    assert list(await cache.get_many("b", ["x"])) == [0]
    assert await cache.clear() == 1
    assert (await cache.stats()).entries == 0
    await cache.aclose()


async def test_vacuum_shrinks_the_file(db: Path) -> None:
    """After clear, vacuum gives the space back."""
    cache = Cache(db)
    await cache.put_many(NS, [str(i) for i in range(500)], vecs(500, dims=256))
    big = (await cache.stats()).file_bytes
    await cache.clear()
    await cache.vacuum()
    assert (await cache.stats()).file_bytes < big / 4
    await cache.aclose()


async def test_evict_by_age_uses_last_access(db: Path) -> None:
    """Entries not accessed within max_age go; an entry read recently stays."""
    clock = FakeClock()
    cache = Cache(db, memory_entries=0, clock=clock)
    await cache.put_many(NS, ["old", "read"], vecs(2))
    clock.now += 10 * 86400
    assert list(await cache.get_many(NS, ["read"])) == [0]
    await cache.put_many(NS, ["new"], vecs(1))  # also writes the queued access time
    clock.now += 86400
    assert await cache.evict(max_age_seconds=5 * 86400) == 1
    assert sorted(await cache.get_many(NS, ["old", "read", "new"])) == [1, 2]
    await cache.aclose()


async def test_memory_hits_refresh_the_access_time(db: Path) -> None:
    """Entries served from the LRU front are still recorded as accessed (on aclose)."""
    clock = FakeClock()
    cache = Cache(db, clock=clock)
    await cache.put_many(NS, ["hot", "cold"], vecs(2))
    clock.now += 10 * 86400
    assert list(await cache.get_many(NS, ["hot"])) == [0]
    await cache.aclose()
    clock.now += 86400
    fresh = Cache(db, memory_entries=0, clock=clock)
    assert await fresh.evict(max_age_seconds=5 * 86400) == 1
    assert list(await fresh.get_many(NS, ["hot", "cold"])) == [0]
    await fresh.aclose()


async def test_evict_by_entries_drops_least_recently_accessed(db: Path) -> None:
    """max_entries keeps the most recently accessed entries."""
    clock = FakeClock()
    cache = Cache(db, memory_entries=0, clock=clock)
    for i in range(5):
        await cache.put_many(NS, [f"t{i}"], vecs(1))
        clock.now += 2 * _cache.ACCESS_RESOLUTION_SECONDS
    await cache.get_many(NS, ["t0"])
    assert await cache.evict(max_entries=2) == 3
    assert sorted(await cache.get_many(NS, [f"t{i}" for i in range(5)])) == [0, 4]
    await cache.aclose()


async def test_evict_by_bytes_keeps_payload_under_the_limit(db: Path) -> None:
    """max_bytes keeps the newest entries whose vectors fit in that many bytes."""
    clock = FakeClock()
    cache = Cache(db, memory_entries=0, clock=clock)
    for i in range(4):
        await cache.put_many(NS, [f"t{i}"], vecs(1, dims=4))  # 16 bytes each
        clock.now += 1
    assert await cache.evict(max_bytes=40) == 2
    stats = await cache.stats()
    assert (stats.entries, stats.bytes) == (2, 32)
    assert sorted(await cache.get_many(NS, [f"t{i}" for i in range(4)])) == [2, 3]
    await cache.aclose()


async def test_configured_limits_apply_on_every_write(db: Path) -> None:
    """A cache built with max_entries never holds more after a write."""
    cache = Cache.from_url(f"sqlite://{db}?max_entries=10&memory_entries=0")
    assert cache is not None
    for i in range(5):
        await cache.put_many(NS, [f"{i}-{j}" for j in range(7)], vecs(7))
        assert (await cache.stats()).entries <= 10
    assert await cache.evict() == 0
    await cache.aclose()


async def test_memory_only_cache(caplog: pytest.LogCaptureFixture) -> None:
    """An LRU-only cache answers lookups, holds at most memory_entries and has no file."""
    cache = Cache(":memory:", memory_entries=2)
    await cache.put_many(NS, ["a", "b", "c"], vecs(3))
    assert sorted(await cache.get_many(NS, ["a", "b", "c"])) == [1, 2]
    stats = await cache.stats()
    assert (stats.path, stats.entries, stats.bytes, stats.file_bytes) == (None, 2, 32, 0)
    assert await cache.evict(max_entries=1) == 1
    assert await cache.clear() == 1
    await cache.vacuum()
    await cache.aclose()
    assert not caplog.records


async def test_lru_front_is_bounded_and_falls_back_to_the_file(db: Path) -> None:
    """Entries pushed out of the LRU front are still read from the file."""
    cache = Cache(db, memory_entries=2)
    await cache.put_many(NS, ["a", "b", "c"], vecs(3))
    assert (await cache.stats()).memory_entries == 2
    got = await cache.get_many(NS, ["a", "b", "c"])
    np.testing.assert_array_equal(np.stack([got[i] for i in range(3)]), vecs(3))
    await cache.aclose()


async def test_aclose_then_reuse_reopens(db: Path) -> None:
    """A closed cache opens its file again on the next call."""
    cache = Cache(db, memory_entries=0)
    await cache.put_many(NS, ["a"], vecs(1))
    await cache.aclose()
    await cache.aclose()
    assert list(await cache.get_many(NS, ["a"])) == [0]
    await cache.aclose()


async def test_aclose_racing_with_lookups_keeps_the_cache_working(db: Path) -> None:
    """Lookups started around an aclose all succeed and the cache stays enabled."""
    cache = Cache(db, memory_entries=0)
    await cache.put_many(NS, ["a"], vecs(1))
    results = await asyncio.gather(
        cache.get_many(NS, ["a"]),
        cache.aclose(),
        cache.get_many(NS, ["a"]),
        cache.put_many(NS, ["b"], vecs(1)),
        cache.aclose(),
        cache.get_many(NS, ["a", "b"]),
    )
    assert list(results[0]) == [0]
    assert list(results[2]) == [0]
    assert 0 in results[5]
    assert cache.enabled
    assert sorted(await cache.get_many(NS, ["a", "b"])) == [0, 1]
    await cache.aclose()


# -- concurrency and crashes ---------------------------------------------------------


async def test_concurrent_tasks_share_one_cache(db: Path) -> None:
    """Many tasks reading and writing one cache at once lose nothing."""
    cache = Cache(db, memory_entries=16)

    async def worker(k: int) -> None:
        texts = [f"{k}-{i}" for i in range(20)]
        await cache.put_many(NS, texts, vecs(20, start=k))
        got = await cache.get_many(NS, texts)
        np.testing.assert_array_equal(np.stack([got[i] for i in range(20)]), vecs(20, start=k))

    await asyncio.gather(*(worker(k) for k in range(30)))
    assert (await cache.stats()).entries == 600
    await cache.aclose()


def _spawn_writer(
    db: Path, start: int, count: int, batch: int, *flags: str
) -> subprocess.Popen[str]:
    args = [str(db), str(start), str(count), str(batch), *flags]
    return subprocess.Popen(
        [sys.executable, str(WRITER_PATH), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def _assert_all_exact(db: Path, texts: list[str]) -> dict[int, npt.NDArray[np.float32]]:
    got = await reopen_get(db, writer.NAMESPACE, texts)
    for i, vector in got.items():
        assert vector.tobytes() == writer.vector_of(texts[i]).tobytes(), texts[i]
    return got


async def _stats(db: Path) -> CacheStats:
    cache = Cache(db)
    try:
        return await cache.stats()
    finally:
        await cache.aclose()


def _integrity(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


@pytest.mark.slow
async def test_killed_writer_never_leaves_a_partial_vector(db: Path) -> None:
    """kill -9 in the middle of writing: the file is intact, every stored vector exact."""
    total = 20_000
    db.parent.mkdir(parents=True)
    proc = _spawn_writer(db, 0, total, 100)
    assert proc.stdout is not None
    committed = 0
    for line in proc.stdout:  # wait until it is well into its work
        committed = int(line)
        if committed >= 3000:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    assert proc.stderr is not None
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert _integrity(db) == "ok"
    got = await _assert_all_exact(db, [writer.text_of(i) for i in range(total)])
    assert committed <= len(got) < total
    assert (await _stats(db)).entries == len(got)


@pytest.mark.slow
async def test_killed_writer_that_loops_forever(db: Path) -> None:
    """A writer rewriting the same rows when killed leaves every row intact and exact."""
    db.parent.mkdir(parents=True)
    proc = _spawn_writer(db, 0, 500, 50, "--forever")
    assert proc.stdout is not None
    assert proc.stderr is not None
    for line in proc.stdout:
        if int(line) >= 2500:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    assert _integrity(db) == "ok"
    got = await _assert_all_exact(db, [writer.text_of(i) for i in range(500)])
    assert len(got) == 500


@pytest.mark.slow
async def test_two_processes_write_one_file(db: Path) -> None:
    """Two writer processes at once, with overlapping texts: no errors, every entry there."""
    db.parent.mkdir(parents=True)
    procs = [_spawn_writer(db, 0, 3000, 50), _spawn_writer(db, 2000, 3000, 50)]
    outputs = [p.communicate(timeout=240) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert err == ""
    got = await _assert_all_exact(db, [writer.text_of(i) for i in range(5000)])
    assert len(got) == 5000
    stats = await _stats(db)
    assert (stats.entries, stats.bytes) == (5000, 5000 * writer.DIMS * 4)


def test_stats_type_is_frozen() -> None:
    """CacheStats is an immutable value."""
    stats = CacheStats(None, 0, 0)
    with pytest.raises(AttributeError):
        stats.entries = 1  # type: ignore[misc]
