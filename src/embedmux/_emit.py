"""Where events go: the hooks of the client whose call is running.

``Client`` sets ``current_hooks`` for the duration of a call; the pipeline and
the retry policy (which run inside that call's tasks) emit into it. Data flows
one way — client to provider — without providers holding a client reference.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from embedmux._events import Event, Hooks

current_hooks: ContextVar[Hooks | None] = ContextVar("embedmux_hooks", default=None)


def active() -> Hooks | None:
    """The running call's hooks when any callback is registered, else ``None`` (cheap)."""
    hooks = current_hooks.get()
    return hooks if hooks else None


def emit(event: Event) -> None:
    """Send ``event`` to the running call's hooks, if any."""
    if (hooks := current_hooks.get()) is not None:
        hooks.emit(event)
