"""Load a model exactly once, in a background thread, with an observable state.

    not_loaded --start()--> loading --ok--> ready
                                   \\--exception--> error

``start`` is idempotent and thread-safe: however many callers race, one thread
runs the load function. Threads wait with :meth:`ModelLoader.wait`; coroutines
with :meth:`ModelLoader.wait_async`, which never blocks the event loop and works
from any event loop (completion is signalled with ``call_soon_threadsafe``).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Generic, Literal, TypeVar

logger = logging.getLogger("embedmux.local")

T = TypeVar("T")
Status = Literal["not_loaded", "loading", "ready", "error"]
# Seconds interpreter exit waits for loads still running (native code such as
# onnxruntime can abort if its thread is frozen mid-load at shutdown).
EXIT_WAIT_SECONDS = 30.0
_running: weakref.WeakSet[ModelLoader[object]] = weakref.WeakSet()


class ModelLoader(Generic[T]):
    """Runs ``load`` once in a daemon thread and keeps its result or its error."""

    def __init__(self, load: Callable[[], T], *, name: str) -> None:
        self._load = load
        self._name = name
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._status: Status = "not_loaded"
        self._value: T | None = None
        self._error: BaseException | None = None
        self._load_time: float | None = None
        self.load_count = 0  # how many times ``load`` ran (tests check it is never above 1)

    @property
    def status(self) -> Status:
        """``not_loaded``, ``loading``, ``ready`` or ``error``."""
        return self._status

    @property
    def load_time(self) -> float | None:
        """Seconds the load took, once it finished (successfully or not)."""
        return self._load_time

    @property
    def error(self) -> BaseException | None:
        """The exception the load raised, if it failed."""
        return self._error

    def start(self) -> None:
        """Start loading in a background thread, unless a load already started."""
        with self._lock:
            if self._status != "not_loaded":
                return
            self._status = "loading"
            _running.add(self)  # type: ignore[arg-type]
        thread = threading.Thread(target=self._run, name=f"embedmux-load-{self._name}", daemon=True)
        thread.start()

    def _run(self) -> None:
        self.load_count += 1
        started = time.perf_counter()
        try:
            value = self._load()
        except BaseException as e:  # every failure must reach the waiters
            logger.warning("loading %s failed: %s: %s", self._name, type(e).__name__, e)
            self._finish("error", None, e, time.perf_counter() - started)
        else:
            self._finish("ready", value, None, time.perf_counter() - started)
            logger.info("%s loaded in %.2f s", self._name, self._load_time)

    def _finish(
        self, status: Status, value: T | None, error: BaseException | None, took: float
    ) -> None:
        with self._lock:
            self._value, self._error, self._load_time = value, error, took
            self._status = status
            waiters, self._waiters = self._waiters, []
            self._done.set()
            _running.discard(self)  # type: ignore[arg-type]
        for loop, future in waiters:
            # A closed loop raises RuntimeError: nobody waits there any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_resolve, future)

    def result(self) -> T:
        """The loaded value; raises the load's error. Call only when finished."""
        if self._error is not None:
            raise self._error
        if self._value is None:
            raise RuntimeError(f"{self._name} is not loaded (status {self._status})")
        return self._value

    def wait(self, timeout: float | None = None) -> bool:
        """Start the load if needed and block until it finishes; False on timeout."""
        self.start()
        return self._done.wait(timeout)

    async def wait_async(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Start the load if needed and wait without blocking the loop; False on timeout."""
        self.start()
        if self._done.is_set():
            return True
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._done.is_set():
                return True
            self._waiters.append((loop, future))
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return False
        finally:
            with self._lock:
                if (loop, future) in self._waiters:
                    self._waiters.remove((loop, future))
        return True

    def release(self) -> None:
        """Drop the loaded value (after ``aclose``); the status keeps what happened."""
        with self._lock:
            self._value = None


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


@atexit.register
def _wait_for_running_loads() -> None:
    """At interpreter exit, let loads in progress finish (bounded) instead of freezing them."""
    deadline = time.monotonic() + EXIT_WAIT_SECONDS
    for loader in list(_running):
        loader._done.wait(max(0.0, deadline - time.monotonic()))
