"""The embed progress bar: rich, imported only when a bar is actually drawn."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from embedmux._types import Usage

# A bar is drawn automatically for inputs at least this long, on a terminal.
AUTO_MIN_TEXTS = 100


class Progress(Protocol):
    """Receives each finished chunk of an embed run."""

    def advance(self, texts: int, usage: Usage) -> None:
        """``texts`` more inputs are done; ``usage`` is what their call cost."""
        ...

    def close(self) -> None:
        """The run is over (or failed)."""
        ...


class NoProgress:
    """Draws nothing."""

    def advance(self, texts: int, usage: Usage) -> None:
        """Nothing to draw."""

    def close(self) -> None:
        """Nothing to close."""


class RichProgress:
    """A rich bar on stderr: texts done, texts/s, tokens, retries and cache hits."""

    def __init__(self, total: int, description: str) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bar

        self._bar = Bar(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>8.1f} texts/s"),
            TextColumn("tokens {task.fields[tokens]}"),
            TextColumn("retries {task.fields[retries]}"),
            TextColumn("cached {task.fields[cached]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._totals = {"tokens": 0, "retries": 0, "cached": 0}
        self._done = 0
        self._started = time.perf_counter()
        self._bar.start()
        fields: dict[str, Any] = {"rate": 0.0, **self._totals}
        self._task = self._bar.add_task(description, total=total, **fields)

    def advance(self, texts: int, usage: Usage) -> None:
        """Move the bar and refresh the counters."""
        self._done += texts
        self._totals["tokens"] += usage.prompt_tokens
        self._totals["retries"] += usage.retries
        self._totals["cached"] += usage.cached
        rate = self._done / max(time.perf_counter() - self._started, 1e-9)
        fields: dict[str, Any] = {"rate": rate, **self._totals}
        self._bar.update(self._task, advance=texts, **fields)

    def close(self) -> None:
        """Stop redrawing."""
        self._bar.stop()


def make_progress(choice: bool | None, total: int, description: str) -> Progress:
    """A bar when asked (``True``), or by default for long inputs on a terminal."""
    if choice is False:
        return NoProgress()
    if choice is None and (total < AUTO_MIN_TEXTS or not sys.stderr.isatty()):
        return NoProgress()
    try:
        return RichProgress(total, description)
    except ImportError:
        if choice:
            print(
                "embedmux: warning: no progress bar: pip install 'embedmux[cli]'", file=sys.stderr
            )
        return NoProgress()
