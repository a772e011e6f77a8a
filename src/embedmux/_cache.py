"""Persistent embedding cache: a SQLite file behind an in-memory LRU front.

Keys and values
    An entry is keyed by a *namespace* (``namespace_for(space, input_type)``,
    e.g. ``"text-embedding-3-small@1536|document"``) and the SHA-256 of the
    exact text (UTF-8, lone surrogates kept). Two namespaces never share
    entries. The value is the vector as float32 little-endian bytes, stored
    with its dimension count and CRC-32; a row whose length or checksum does
    not match is never returned (it reads as a miss and is logged).

Threads
    Each ``Cache`` owns one worker thread (a one-thread executor) holding its
    one SQLite connection, so the event loop never blocks on disk and no lock
    guards the connection. The LRU front lives on the caller's side behind a
    ``threading.Lock``; fully cached lookups never leave the event loop.

Processes and crashes
    The file is in WAL mode with ``synchronous=NORMAL``; every write is one
    ``BEGIN IMMEDIATE`` transaction and other processes wait up to
    ``BUSY_TIMEOUT_SECONDS``. A killed process loses at most its open
    transaction; it never leaves a partial vector readable.

Eviction
    Each row records its last access time (at most ``ACCESS_RESOLUTION_SECONDS``
    stale: reads queue a touch only when the recorded time is older, and the
    touches are written with the next write, eviction or ``aclose``).
    ``max_age_seconds`` drops rows not accessed for that long;
    ``max_entries`` / ``max_bytes`` (vector payload bytes) drop the least
    recently accessed rows. Configured limits are enforced after each
    ``put_many``. Eviction frees the file only; vectors still in the LRU front
    stay valid (a model's vector for a text does not go stale).

Failure
    An unreadable or corrupt file (garbage, a directory, no permission, a
    newer schema) logs a warning on ``embedmux.cache`` and disables the cache:
    ``get_many`` returns ``{}`` and ``put_many`` does nothing. A busy database
    skips that one operation. The cache never fails an embedding call.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import math
import os
import sqlite3
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import parse_qsl

from embedmux._exceptions import ConfigError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from embedmux._types import EmbeddingSpace

    FloatArray = npt.NDArray[np.float32]

logger = logging.getLogger("embedmux.cache")

ENV_CACHE_DIR = "EMBEDMUX_CACHE_DIR"
DEFAULT_MEMORY_ENTRIES = 10_000
# Another process's write transaction is waited for this long before an operation is skipped.
BUSY_TIMEOUT_SECONDS = 30.0
# Busy errors that SQLite raises without waiting are retried this often, backing off.
BUSY_RETRIES = 3
BUSY_RETRY_SECONDS = 0.05
SCHEMA_VERSION = 1
# Pages of a new file: large enough to hold several 1536-dim vectors without overflow
# pages (4 KiB pages store a 6 KiB vector in two pages, wasting a quarter of the file).
PAGE_SIZE = 32_768
# Bytes of the file SQLite reads through a memory map (reads only; writes stay write()s).
MMAP_BYTES = 256 * 2**20
# Keys per SELECT ... IN (...) statement (below SQLite's bound-parameter limit).
SQL_CHUNK = 500
# Reads re-record an entry's access time only when the recorded one is older than this.
ACCESS_RESOLUTION_SECONDS = 3600.0
# Queued access-time touches are written once this many are pending.
MAX_PENDING_TOUCHES = 10_000
MEMORY = ":memory:"

_T = TypeVar("_T")
_Key = tuple[str, bytes]


def default_cache_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$EMBEDMUX_CACHE_DIR/cache.db``, else the user cache dir's ``embedmux/cache.db``.

    The only place the cache reads the environment.
    """
    env = os.environ if environ is None else environ
    if directory := env.get(ENV_CACHE_DIR):
        return Path(directory).expanduser() / "cache.db"
    import platformdirs

    return Path(platformdirs.user_cache_dir("embedmux", appauthor=False)) / "cache.db"


def namespace_for(space: EmbeddingSpace, input_type: str) -> str:
    """The cache namespace of vectors of ``space`` embedded as ``input_type``."""
    return f"{space}|{input_type}"


def text_key(text: str) -> bytes:
    """SHA-256 of the exact text (UTF-8; lone surrogates kept, never replaced)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def text_keys(texts: Sequence[str]) -> list[bytes]:
    """``text_key`` of each text (one loop, no call per text)."""
    sha256 = hashlib.sha256
    return [sha256(t.encode("utf-8", "surrogatepass")).digest() for t in texts]


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Size of a cache and how it served lookups since it was opened."""

    path: Path | None  # None for a memory-only cache
    entries: int  # rows in the file (memory-only: entries in the LRU front)
    bytes: int  # vector payload bytes of those entries
    file_bytes: int = 0  # database plus write-ahead log on disk
    memory_entries: int = 0  # entries in the LRU front
    hits: int = 0
    misses: int = 0
    enabled: bool = True  # False once the file proved unusable


class Cache:
    """Persistent vector cache. See the module docstring for guarantees.

    ``path`` is a SQLite file (default: ``default_cache_path()``) or ``":memory:"``
    for an LRU-only cache. ``memory_entries`` bounds the LRU front (0 disables it).
    ``clock`` returns seconds since the epoch (tests pass their own).
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        memory_entries: int = DEFAULT_MEMORY_ENTRIES,
        max_entries: int | None = None,
        max_age_seconds: float | None = None,
        max_bytes: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        _check_limit("memory_entries", memory_entries, allow_zero=True)
        for name, value in (("max_entries", max_entries), ("max_bytes", max_bytes)):
            _check_limit(name, value)
        _check_limit("max_age_seconds", max_age_seconds)
        if path is None:
            path = default_cache_path()
        self._path = None if os.fspath(path) == MEMORY else Path(path).expanduser()
        self._memory_entries = memory_entries
        self._limits = (max_age_seconds, max_entries, max_bytes)
        self._clock = clock
        self._lru: OrderedDict[_Key, tuple[FloatArray, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._touches: dict[_Key, float] = {}
        self._worker: _Worker | None = None
        self._disabled = False
        self._hits = self._misses = 0

    @classmethod
    def from_url(cls, url: str | os.PathLike[str] | None, **options: Any) -> Cache | None:
        """Build a cache from a URL; ``None`` when the URL disables caching.

        ``"sqlite:///abs/path.db"``, ``"sqlite:///~/x.db"``, ``"sqlite://"`` (default
        path), ``"memory"`` (LRU only), ``"none"`` / ``""`` / ``None`` (no cache). A
        query string sets options: ``?max_entries=100000&max_age_seconds=2592000``.
        Keyword ``options`` are passed to ``Cache`` and win over the query string.
        """
        if url is None:
            return None
        if not isinstance(url, str):
            return cls(url, **options)
        base, _, query = url.strip().partition("?")
        opts: dict[str, Any] = {k: _parse_option(k, v, url) for k, v in parse_qsl(query)}
        opts.update(options)
        if base.lower() in ("", "none", "off", "false"):
            return None
        if base.lower() in ("memory", "memory://"):
            return cls(MEMORY, **opts)
        if not base.startswith("sqlite://"):
            raise ConfigError(
                f"cache URL {url!r} not understood; use 'sqlite:///path/cache.db', "
                "'memory' or 'none'"
            )
        rest = base[len("sqlite://") :]
        if rest.startswith("/~") or rest.startswith("//"):
            rest = rest[1:]
        return cls(rest or None, **opts)

    @property
    def path(self) -> Path | None:
        """The SQLite file, or ``None`` for a memory-only cache."""
        return self._path

    @property
    def enabled(self) -> bool:
        """False once the file proved unusable (the cache then does nothing)."""
        return not self._disabled

    def __repr__(self) -> str:
        where = self._path or MEMORY
        return f"Cache({str(where)!r}, memory_entries={self._memory_entries})"

    # -- public async API -------------------------------------------------------

    async def get_many(
        self, namespace: str, texts: Sequence[str], *, dimensions: int | None = None
    ) -> dict[int, FloatArray]:
        """Cached vectors of ``texts``: index in ``texts`` -> a fresh float32 copy.

        Misses are absent. With ``dimensions``, vectors of another length are misses.
        """
        if self._disabled or not texts:
            return {}
        vectors, hits = await self._lookup(namespace, texts, dimensions)
        return {i: cast("FloatArray", vectors[i]).copy() for i in hits}

    async def get_into(self, namespace: str, texts: Sequence[str], out: FloatArray) -> list[int]:
        """Write the cached vector of ``texts[i]`` into ``out[i]``; return those ``i``, ascending.

        ``out`` has shape ``(len(texts), dim)``; vectors of another length are misses
        and rows of misses are left as they were. Each vector is copied once, straight
        into ``out`` (no intermediate arrays).
        """
        import numpy as np

        if out.ndim != 2 or out.shape[0] != len(texts):
            raise ValueError(f"out must have shape ({len(texts)}, dim), got {tuple(out.shape)}")
        if self._disabled or not texts:
            return []
        vectors, hits = await self._lookup(namespace, texts, out.shape[1])
        if len(hits) == len(vectors) and out.flags.c_contiguous:
            # one C loop copying every vector into out's buffer
            np.concatenate(cast("list[FloatArray]", vectors), out=out.reshape(-1))
        else:
            for i in hits:
                out[i] = vectors[i]
        return hits

    async def put_many(self, namespace: str, texts: Sequence[str], vectors: FloatArray) -> None:
        """Store ``vectors[i]`` for ``texts[i]`` in one transaction (replacing old rows).

        Rows with non-finite values are skipped: the cache never holds garbage.
        """
        import numpy as np

        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise ValueError(
                f"vectors must have shape ({len(texts)}, dim), got {tuple(vectors.shape)}"
            )
        if self._disabled or not texts:
            return
        arr = np.ascontiguousarray(vectors, dtype="<f4")
        finite = np.isfinite(arr).all(axis=1)
        now = self._clock()
        rows: dict[bytes, StoredRow] = {}
        for i, text in enumerate(texts):
            if finite[i]:
                blob = arr[i].tobytes()
                rows[text_key(text)] = StoredRow(blob, arr.shape[1], zlib.crc32(blob), now)
        self._admit(namespace, rows)
        if self._path is not None and rows:
            touches = self._take_touches()
            await self._run(SqliteStore.put, None, namespace, rows, touches, self._limits, now)

    async def stats(self) -> CacheStats:
        """Entry count and sizes (the file's when there is one)."""
        with self._lock:
            mem = len(self._lru)
            mem_bytes = sum(v.nbytes for v, _ in self._lru.values())
        entries, payload, file_bytes = mem, mem_bytes, 0
        if self._path is not None:
            entries, payload, file_bytes = await self._run(SqliteStore.stats, (0, 0, 0))
        return CacheStats(
            self._path, entries, payload, file_bytes, mem, self._hits, self._misses, self.enabled
        )

    async def clear(self, namespace: str | None = None) -> int:
        """Drop every entry (of ``namespace`` only, when given); returns rows removed."""
        with self._lock:
            stale = [k for k in self._lru if namespace is None or k[0] == namespace]
            for k in stale:
                del self._lru[k]
            self._touches.clear()
        if self._path is None:
            return len(stale)
        return await self._run(SqliteStore.clear, 0, namespace)

    async def evict(
        self,
        max_age_seconds: float | None = None,
        max_entries: int | None = None,
        max_bytes: int | None = None,
    ) -> int:
        """Apply these limits now (default: the configured ones); returns rows removed."""
        limits = (max_age_seconds, max_entries, max_bytes)
        if limits == (None, None, None):
            limits = self._limits
        if self._path is None:
            return self._evict_memory(*limits)
        return await self._run(SqliteStore.evict, 0, self._take_touches(), limits, self._clock())

    async def vacuum(self) -> None:
        """Give the space of removed rows back to the file system."""
        if self._path is not None:
            await self._run(SqliteStore.vacuum, None)

    async def aclose(self) -> None:
        """Write pending access times, close the file and stop the worker thread.

        The cache stays usable: the next call reopens it.
        """
        worker, self._worker = self._worker, None
        if worker is None:
            return
        call = functools.partial(self._close_in_worker, worker, self._take_touches())
        await asyncio.get_running_loop().run_in_executor(worker.pool, call)
        worker.pool.shutdown(wait=False)

    async def _lookup(
        self, namespace: str, texts: Sequence[str], dimensions: int | None
    ) -> tuple[list[FloatArray | None], list[int]]:
        """The cached (read-only, shared) vector of each text or ``None``, and the hit indices."""
        keys = text_keys(texts)
        found = self._memory_get(namespace, keys)
        if len(found) < len(keys) and self._path is not None:
            missing = [k for k in dict.fromkeys(keys) if k not in found]
            if missing:
                nothing: dict[bytes, StoredRow] = {}
                rows = await self._run(SqliteStore.get, nothing, namespace, missing)
                found.update(self._admit(namespace, rows))
        if dimensions is not None:
            for key in [k for k, v in found.items() if v.shape[0] != dimensions]:
                del found[key]
        vectors = [found.get(k) for k in keys]
        hits = [i for i, v in enumerate(vectors) if v is not None]
        self._hits += len(hits)
        self._misses += len(keys) - len(hits)
        if len(self._touches) >= MAX_PENDING_TOUCHES:
            await self._run(SqliteStore.touch, None, self._take_touches())
        return vectors, hits

    # -- LRU front ----------------------------------------------------------------

    def _memory_get(self, namespace: str, keys: list[bytes]) -> dict[bytes, FloatArray]:
        found: dict[bytes, FloatArray] = {}
        if not self._lru:
            return found
        now = self._clock()
        # entries read longer ago than this get their access time re-recorded in the file
        stale = now - ACCESS_RESOLUTION_SECONDS if self._path is not None else -math.inf
        lru = self._lru
        get, move = lru.get, lru.move_to_end
        with self._lock:
            for key in keys:
                entry = get(k := (namespace, key))
                if entry is not None:
                    move(k)
                    found[key] = entry[0]
                    if entry[1] < stale:
                        self._touches[k] = now
                        lru[k] = (entry[0], now)
        return found

    def _admit(self, namespace: str, rows: Mapping[bytes, StoredRow]) -> dict[bytes, FloatArray]:
        """Decode rows to read-only vectors, keep them in the LRU front, queue stale touches."""
        import numpy as np

        vectors = {k: np.frombuffer(r.blob, dtype="<f4") for k, r in rows.items()}
        now = self._clock()
        with self._lock:
            for key, row in rows.items():
                accessed = row.accessed
                if accessed < now - ACCESS_RESOLUTION_SECONDS and self._path is not None:
                    self._touches[(namespace, key)] = accessed = now
                if self._memory_entries:
                    self._lru[(namespace, key)] = (vectors[key], accessed)
                    self._lru.move_to_end((namespace, key))
            while len(self._lru) > self._memory_entries:
                self._lru.popitem(last=False)
        return vectors

    def _evict_memory(self, max_age: float | None, entries: int | None, size: int | None) -> int:
        with self._lock:
            before = len(self._lru)
            if max_age is not None:
                cutoff = self._clock() - max_age
                for k in [k for k, (_, ts) in self._lru.items() if ts < cutoff]:
                    del self._lru[k]
            while entries is not None and len(self._lru) > entries:
                self._lru.popitem(last=False)
            total = sum(v.nbytes for v, _ in self._lru.values())
            while size is not None and total > size:
                total -= self._lru.popitem(last=False)[1][0].nbytes
            return before - len(self._lru)

    def _take_touches(self) -> list[tuple[float, str, bytes]]:
        with self._lock:
            touches, self._touches = self._touches, {}
        return [(ts, ns, key) for (ns, key), ts in touches.items()]

    # -- worker thread --------------------------------------------------------------

    async def _run(self, fn: Callable[..., _T], default: _T, *args: Any) -> _T:
        """Run ``fn(store, *args)`` on the worker thread; ``default`` if the file fails."""
        if self._path is None:
            return default
        worker = self._worker
        if worker is None:
            worker = self._worker = _Worker(self._path)
        call = functools.partial(self._guarded, worker, fn, default, *args)
        return await asyncio.get_running_loop().run_in_executor(worker.pool, call)

    def _guarded(self, worker: _Worker, fn: Callable[..., _T], default: _T, *args: Any) -> _T:
        for attempt in range(BUSY_RETRIES + 1):
            if self._disabled:
                return default
            try:
                return fn(worker.open(), *args)
            except (sqlite3.Error, OSError) as exc:
                if not is_busy(exc):
                    self._disable(exc)
                    worker.close()
                    return default
                if attempt == BUSY_RETRIES:
                    logger.warning("cache %s is busy; skipped %s: %s", self._path, fn.__name__, exc)
                    return default
                # SQLite reports some lock conflicts (WAL recovery, a checkpoint on another
                # process's close) at once, without its busy timeout: try again shortly.
                time.sleep(BUSY_RETRY_SECONDS * 2**attempt)
        return default  # pragma: no cover - the loop always returns

    def _disable(self, exc: BaseException) -> None:
        self._disabled = True
        logger.warning(
            "cache %s is unusable (%s: %s); caching is disabled for this process",
            self._path,
            type(exc).__name__,
            exc,
        )
        with self._lock:
            self._lru.clear()

    def _close_in_worker(self, worker: _Worker, touches: list[tuple[float, str, bytes]]) -> None:
        if touches:
            self._guarded(worker, SqliteStore.touch, None, touches)
        worker.close()


class _Worker:
    """One thread and the one connection it owns (opened there, used only there)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="embedmux-cache")
        self.store: SqliteStore | None = None

    def open(self) -> SqliteStore:
        """The connection, opened on first use (on the worker thread)."""
        if self.store is None:
            self.store = SqliteStore.open(self.path)
        return self.store

    def close(self) -> None:
        """Close the connection if open (on the worker thread)."""
        if self.store is not None:
            self.store.close()
            self.store = None


def _check_limit(name: str, value: float | None, *, allow_zero: bool = False) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"cache option {name} must be a non-negative number, got {value!r}")
    if value == 0 and not allow_zero:
        raise ConfigError(f"cache option {name} must be positive, got 0")


_OPTION_TYPES: dict[str, Callable[[str], float]] = {
    "memory_entries": int,
    "max_entries": int,
    "max_bytes": int,
    "max_age_seconds": float,
}


def _parse_option(key: str, value: str, url: str) -> float:
    parse = _OPTION_TYPES.get(key)
    if parse is None:
        raise ConfigError(
            f"cache URL {url!r}: unknown option {key!r} (known: {', '.join(_OPTION_TYPES)})"
        )
    try:
        return parse(value)
    except ValueError:
        raise ConfigError(f"cache URL {url!r}: option {key} must be a number") from None


# -- the SQLite file (every method runs on the cache's worker thread) -----------------


@dataclass(frozen=True, slots=True)
class StoredRow:
    """One vector as stored: float32 little-endian bytes, dimension count, CRC-32."""

    blob: bytes
    dims: int
    crc: int
    accessed: float

    def intact(self) -> bool:
        """True when the bytes are exactly the vector that was written."""
        return len(self.blob) == self.dims * 4 and zlib.crc32(self.blob) == self.crc


_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS entries (
        id INTEGER PRIMARY KEY,
        ns TEXT NOT NULL,
        key BLOB NOT NULL,
        dims INTEGER NOT NULL,
        crc INTEGER NOT NULL,
        accessed REAL NOT NULL,
        vec BLOB NOT NULL,
        UNIQUE (ns, key))""",
    # Covers eviction and stats without reading the vectors.
    "CREATE INDEX IF NOT EXISTS entries_by_access ON entries (accessed, dims)",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)
_Limits = tuple[float | None, int | None, int | None]


def is_busy(exc: BaseException) -> bool:
    """True for SQLite's "another connection holds the lock" errors."""
    return str(getattr(exc, "sqlite_errorname", "")).startswith(("SQLITE_BUSY", "SQLITE_LOCKED"))


@contextmanager
def _write(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction, taking the write lock up front (no upgrade deadlocks)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class SqliteStore:
    """The cache file: one connection, used from one thread."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self._path = path

    @classmethod
    def open(cls, path: Path) -> SqliteStore:
        """Open (creating if needed) the file in WAL mode; raise if it is not usable."""
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        try:
            conn.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # takes effect on a new file only
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")  # reads map pages, no read() copy
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise sqlite3.DatabaseError(
                    f"schema version {version} is newer than this embedmux reads ({SCHEMA_VERSION})"
                )
            if version < SCHEMA_VERSION:
                with _write(conn):
                    for statement in _SCHEMA:
                        conn.execute(statement)
        except BaseException:
            conn.close()
            raise
        return cls(conn, path)

    def get(self, ns: str, keys: list[bytes]) -> dict[bytes, StoredRow]:
        """Intact rows of ``keys`` in ``ns``; damaged rows are logged and left out."""
        out: dict[bytes, StoredRow] = {}
        damaged = 0
        crc32 = zlib.crc32
        for start in range(0, len(keys), SQL_CHUNK):
            chunk = keys[start : start + SQL_CHUNK]
            sql = (
                "SELECT key, vec, dims, crc, accessed FROM entries"
                f" WHERE ns = ? AND key IN ({','.join('?' * len(chunk))})"
            )
            for key, blob, dims, crc, accessed in self._conn.execute(sql, (ns, *chunk)):
                if len(blob) == dims * 4 and crc32(blob) == crc:  # StoredRow.intact, inlined
                    out[key] = StoredRow(blob, dims, crc, accessed)
                else:
                    damaged += 1
        if damaged:
            logger.warning("cache %s: %d damaged vectors ignored", self._path, damaged)
        return out

    def put(
        self,
        ns: str,
        rows: Mapping[bytes, StoredRow],
        touches: list[tuple[float, str, bytes]],
        limits: _Limits,
        now: float,
    ) -> None:
        """Insert or replace ``rows`` and apply the limits, all in one transaction."""
        with _write(self._conn):
            self._touch(touches)
            self._conn.executemany(
                "INSERT OR REPLACE INTO entries (ns, key, dims, crc, accessed, vec)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                ((ns, k, r.dims, r.crc, r.accessed, r.blob) for k, r in rows.items()),
            )
            self._evict(limits, now)

    def touch(self, touches: list[tuple[float, str, bytes]]) -> None:
        """Record access times queued by reads."""
        if touches:
            with _write(self._conn):
                self._touch(touches)

    def evict(self, touches: list[tuple[float, str, bytes]], limits: _Limits, now: float) -> int:
        """Apply ``limits`` (age, entries, payload bytes); returns rows removed."""
        with _write(self._conn):
            self._touch(touches)
            return self._evict(limits, now)

    def stats(self) -> tuple[int, int, int]:
        """(entries, payload bytes, bytes on disk)."""
        count, dims = self._conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(dims), 0) FROM entries"
        ).fetchone()
        files = (self._path, self._path.with_name(self._path.name + "-wal"))
        return int(count), int(dims) * 4, sum(p.stat().st_size for p in files if p.exists())

    def clear(self, ns: str | None) -> int:
        """Remove every row (of ``ns`` when given)."""
        with _write(self._conn):
            if ns is None:
                return self._conn.execute("DELETE FROM entries").rowcount
            return self._conn.execute("DELETE FROM entries WHERE ns = ?", (ns,)).rowcount

    def vacuum(self) -> None:
        """Rewrite the file without free pages and truncate the write-ahead log."""
        self._conn.execute("VACUUM")
        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        """Close the connection (errors on close are of no use to anyone)."""
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()

    def _touch(self, touches: list[tuple[float, str, bytes]]) -> None:
        self._conn.executemany(
            "UPDATE entries SET accessed = MAX(accessed, ?) WHERE ns = ? AND key = ?", touches
        )

    def _evict(self, limits: _Limits, now: float) -> int:
        max_age, max_entries, max_bytes = limits
        before = self._conn.total_changes
        if max_age is not None:
            self._conn.execute("DELETE FROM entries WHERE accessed < ?", (now - max_age,))
        if max_entries is not None:
            self._conn.execute(
                "DELETE FROM entries WHERE id IN (SELECT id FROM entries"
                " ORDER BY accessed DESC, id DESC LIMIT -1 OFFSET ?)",
                (max_entries,),
            )
        if max_bytes is not None:
            self._conn.execute(
                "DELETE FROM entries WHERE id IN (SELECT id FROM (SELECT id, SUM(dims)"
                " OVER (ORDER BY accessed DESC, id DESC) * 4 AS kept FROM entries)"
                " WHERE kept > ?)",
                (max_bytes,),
            )
        return self._conn.total_changes - before
