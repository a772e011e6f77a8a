"""An event loop whose clock jumps to the next timer instead of sleeping (tests only)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """``time()`` is virtual: when nothing is ready, it advances to the next scheduled timer."""

    def __init__(self) -> None:
        super().__init__()
        self._virtual_now = 0.0

    def time(self) -> float:
        return self._virtual_now

    def _run_once(self) -> None:
        scheduled = self._scheduled  # type: ignore[attr-defined]
        if not self._ready and scheduled:  # type: ignore[attr-defined]
            # A nanosecond at least, as a real clock always moves on: code that re-arms a
            # timer for "now plus a float rounding error" would otherwise never progress.
            self._virtual_now = max(self._virtual_now + 1e-9, scheduled[0].when())
        super()._run_once()  # type: ignore[misc]


def run_virtual(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a fresh virtual-clock loop."""
    with asyncio.Runner(loop_factory=VirtualClockLoop) as runner:
        return runner.run(coro)
