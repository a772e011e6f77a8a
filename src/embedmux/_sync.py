"""``SyncClient``: the blocking facade over ``Client``.

It owns one event loop running in a daemon thread and submits each call to it
with ``asyncio.run_coroutine_threadsafe``; every behaviour lives in the async
``Client``. Because the work runs on that thread, a ``SyncClient`` also works
from code that already runs an event loop (a Jupyter cell, an async web
handler): the caller's thread only waits for the answer.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

from embedmux._exceptions import EmbedmuxError

if TYPE_CHECKING:
    from embedmux._client import Client
    from embedmux._stats import ClientStats
    from embedmux._types import EmbeddingResult, InputType, Provider
    from embedmux._wire import FloatArray

_T = TypeVar("_T")


class _LoopThread:
    """An event loop running forever in a daemon thread until ``stop``."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="embedmux-sync", daemon=True
        )
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coro`` on the loop thread and wait for its result (its exception re-raised)."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("a SyncClient cannot be called from its own loop thread")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        """Stop the loop, join the thread, close the loop."""
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class SyncClient:
    """Blocking version of :class:`~embedmux.Client`: same arguments, same methods.

    ``with SyncClient.from_config() as client: client.embed([...])``
    """

    def __init__(self, providers: Sequence[Provider] | Provider, **options: Any) -> None:
        from embedmux._client import Client

        self._start(lambda: Client(providers, **options))

    @classmethod
    def from_config(cls, path: str | Path | None = None) -> SyncClient:
        """Build from TOML: ``path``, else ``$EMBEDMUX_CONFIG``, else ./embedmux.toml."""
        from embedmux._client import Client

        self = cls.__new__(cls)
        self._start(lambda: Client.from_config(path))
        return self

    def _start(self, factory: Callable[[], Client]) -> None:
        """Start the loop thread and build the client on it (so it binds to that loop)."""
        self._closed = False
        self._runner = _LoopThread()
        try:
            self._client = self._runner.run(_call(factory))
        except BaseException:
            self._runner.stop()
            raise

    @property
    def client(self) -> Client:
        """The async client underneath."""
        return self._client

    @property
    def providers(self) -> list[Provider]:
        """The chain's providers, in fallback order."""
        return self._client.providers

    def embed(self, texts: Sequence[str], *, input_type: InputType = "document") -> EmbeddingResult:
        """Embed ``texts``; see :meth:`Client.embed`."""
        return self._run(self._client.embed(texts, input_type=input_type))

    def embed_query(self, text: str) -> FloatArray:
        """Embed one query text; see :meth:`Client.embed_query`."""
        return self._run(self._client.embed_query(text))

    def stats(self) -> ClientStats:
        """Per-provider totals; see :meth:`Client.stats` (still readable after ``close``)."""
        if self._closed:
            return self._client.stats()
        return self._run(_call(self._client.stats))

    def close(self) -> None:
        """Close the client's providers and cache, then stop the loop thread (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._runner.run(self._client.aclose())
        finally:
            self._runner.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Sync{self._client!r}"

    def _run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        if self._closed:
            coro.close()
            raise EmbedmuxError("this SyncClient is closed")
        return self._runner.run(coro)


async def _call(fn: Callable[[], _T]) -> _T:
    """``fn()`` as a coroutine, so it runs on the loop thread."""
    return fn()
