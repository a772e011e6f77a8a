"""The load-once state machine, with a fake load function (no model needed)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from embedmux._local.loader import ModelLoader
from tests import local_fixtures

_local_env = local_fixtures._local_env


class Gate:
    """A load function that blocks until released and counts its calls."""

    def __init__(self, *, fail: bool = False) -> None:
        self.calls = 0
        self.release = threading.Event()
        self.fail = fail

    def __call__(self) -> str:
        self.calls += 1
        assert self.release.wait(30)
        if self.fail:
            raise OSError("disk on fire")
        return "model"


def test_starts_not_loaded() -> None:
    """A new loader is not_loaded and has no load time or error."""
    loader = ModelLoader(Gate(), name="t")
    assert (loader.status, loader.load_time, loader.error) == ("not_loaded", None, None)


def test_start_then_ready() -> None:
    """start() moves to loading, a successful load to ready with a load time."""
    gate = Gate()
    loader = ModelLoader(gate, name="t")
    loader.start()
    before = loader.status
    gate.release.set()
    assert loader.wait(10)
    assert (before, loader.status) == ("loading", "ready")
    assert loader.result() == "model"
    assert loader.load_time is not None
    assert loader.load_time >= 0


def test_failed_load_keeps_error() -> None:
    """A load that raises ends in error; result() re-raises the original exception."""
    gate = Gate(fail=True)
    gate.release.set()
    loader = ModelLoader(gate, name="t")
    assert loader.wait(10)
    assert loader.status == "error"
    assert isinstance(loader.error, OSError)
    with pytest.raises(OSError, match="disk on fire"):
        loader.result()


def test_wait_times_out_without_hanging() -> None:
    """wait() returns False when the load is still running at the timeout."""
    gate = Gate()
    loader = ModelLoader(gate, name="t")
    assert not loader.wait(0.01)
    assert loader.status == "loading"
    gate.release.set()
    assert loader.wait(10)


def test_concurrent_threads_load_once() -> None:
    """Many threads racing to start trigger exactly one load."""
    gate = Gate()
    loader = ModelLoader(gate, name="t")
    threads = [threading.Thread(target=loader.wait, args=(10,)) for _ in range(16)]
    for t in threads:
        t.start()
    gate.release.set()
    for t in threads:
        t.join(10)
    assert gate.calls == 1
    assert loader.load_count == 1


async def test_concurrent_coroutines_load_once() -> None:
    """Many coroutines awaiting wait_async share one load and all see it finish."""
    gate = Gate()
    loader = ModelLoader(gate, name="t")
    waiters = [asyncio.create_task(loader.wait_async(10)) for _ in range(16)]
    await asyncio.sleep(0)
    gate.release.set()
    assert await asyncio.gather(*waiters) == [True] * 16
    assert gate.calls == 1


async def test_wait_async_does_not_block_the_loop() -> None:
    """While the load runs, the event loop keeps serving other tasks."""
    gate = Gate()
    loader = ModelLoader(gate, name="t")
    waiter = asyncio.create_task(loader.wait_async(10))
    ticks = 0
    for _ in range(5):
        await asyncio.sleep(0)
        ticks += 1
    assert ticks == 5
    assert not waiter.done()
    gate.release.set()
    assert await waiter


async def test_wait_async_timeout_returns_false() -> None:
    """wait_async() returns False at its timeout and leaves no waiter behind."""
    gate = Gate()
    loader = ModelLoader(gate, name="t")
    assert not await loader.wait_async(0.01)
    assert loader._waiters == []
    gate.release.set()
    assert await loader.wait_async(10)


def test_waiters_on_another_loop_are_woken() -> None:
    """A waiter in one event loop is woken by a load finishing on another thread."""
    gate = Gate()
    loader = ModelLoader(gate, name="t")
    threading.Timer(0.05, gate.release.set).start()
    assert asyncio.run(loader.wait_async(10))
    assert asyncio.run(loader.wait_async(10))


def test_release_drops_value_keeps_status() -> None:
    """release() forgets the model but the status still says what happened."""
    gate = Gate()
    gate.release.set()
    loader = ModelLoader(gate, name="t")
    assert loader.wait(10)
    loader.release()
    assert loader.status == "ready"
    with pytest.raises(RuntimeError, match="not loaded"):
        loader.result()
