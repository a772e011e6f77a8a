"""The fallback chain: providers in order, each behind a circuit breaker.

A breaker opens after ``circuit_failure_threshold`` consecutive failures of its
provider, lets one trial call through after ``circuit_cooldown_seconds``
(half-open), and closes again on success. The chain yields providers whose
breaker allows a call; an open breaker hands the work to the next provider.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from embedmux import _constants as C
from embedmux._exceptions import ConfigError
from embedmux._types import Provider

BreakerState = Literal["closed", "open", "half_open"]


@dataclass(slots=True)
class CircuitBreaker:
    """Consecutive-failure breaker; ``clock`` is injectable for tests."""

    failure_threshold: int = C.DEFAULT_CIRCUIT_FAILURE_THRESHOLD
    cooldown_seconds: float = C.DEFAULT_CIRCUIT_COOLDOWN_SECONDS
    clock: Callable[[], float] = field(default=time.monotonic)
    failures: int = 0
    opened_at: float | None = None

    @property
    def state(self) -> BreakerState:
        """``closed`` (normal), ``open`` (skipping) or ``half_open`` (one trial allowed)."""
        if self.opened_at is None:
            return "closed"
        if self.clock() - self.opened_at >= self.cooldown_seconds:
            return "half_open"
        return "open"

    def allows(self) -> bool:
        """True when a call may go to the provider now."""
        return self.opened_at is None or self.state != "open"

    def record_success(self) -> bool:
        """Close the breaker; True when it was not closed."""
        was_open = self.opened_at is not None
        self.failures, self.opened_at = 0, None
        return was_open

    def record_failure(self) -> None:
        self.failures += 1
        if self.state == "half_open" or self.failures >= self.failure_threshold:
            self.opened_at = self.clock()


def breaker_for(provider: Provider) -> CircuitBreaker:
    """A breaker configured from the provider's ``optimization`` (defaults otherwise)."""
    cfg = getattr(provider, "optimization", None)
    if cfg is None:
        return CircuitBreaker()
    return CircuitBreaker(cfg.circuit_failure_threshold, cfg.circuit_cooldown_seconds)


class Chain:
    """Ordered providers with a breaker each; checks the embedding-space rule."""

    def __init__(self, providers: Sequence[Provider], *, allow_mixed_spaces: bool = False) -> None:
        if not providers:
            raise ConfigError("a client needs at least one provider")
        names = [p.name for p in providers]
        if len(set(names)) != len(names):
            raise ConfigError(f"provider names must be unique in a chain, got {names}")
        if not allow_mixed_spaces:
            first = providers[0]
            for other in providers[1:]:
                if not first.space.compatible(other.space):
                    raise ConfigError(
                        f"providers {first.name!r} ({first.space}) and {other.name!r}"
                        f" ({other.space}) embed into different spaces; their vectors are not"
                        " comparable. Set allow_mixed_spaces=true to fall back across spaces."
                    )
        self.providers = list(providers)
        self.breakers = {p.name: breaker_for(p) for p in providers}
        #: (provider, its breaker) in fallback order
        self.links = [(p, self.breakers[p.name]) for p in providers]
        self.allow_mixed_spaces = allow_mixed_spaces

    def __iter__(self) -> Iterator[Provider]:
        return iter(self.providers)

    def next_after(self, provider: Provider) -> str | None:
        """Name of the provider after ``provider`` in the chain, if any."""
        names = [p.name for p in self.providers]
        i = names.index(provider.name) + 1
        return names[i] if i < len(names) else None

    def breaker(self, provider: Provider) -> CircuitBreaker:
        return self.breakers[provider.name]
