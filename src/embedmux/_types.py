"""Core value types: the ``Provider`` protocol, ``EmbeddingResult`` and ``Usage``."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float32]

InputType = Literal["document", "query"]
INPUT_TYPES: tuple[InputType, ...] = ("document", "query")


@dataclass(frozen=True, slots=True)
class EmbeddingSpace:
    """Which vector space a provider's vectors live in.

    Vectors are comparable only within one space: same model (an organisation
    prefix such as ``sentence-transformers/`` is ignored), same dimensions and
    same ``variant`` (a post-processing that changes the vectors, e.g.
    ``"unnormalized"``). ``dimensions`` may be ``None`` until a provider knows it.
    """

    model: str
    dimensions: int | None = None
    variant: str = ""

    @classmethod
    def of(cls, model: str, dimensions: int | None = None, variant: str = "") -> EmbeddingSpace:
        """The space of ``model`` with ``dimensions``, the model name normalised."""
        return cls(model.rsplit("/", 1)[-1].lower(), dimensions, variant)

    def compatible(self, other: EmbeddingSpace) -> bool:
        """True when vectors of both spaces can be compared (unknown dimensions match)."""
        if (self.model, self.variant) != (other.model, other.variant):
            return False
        return (
            self.dimensions is None
            or other.dimensions is None
            or (self.dimensions == other.dimensions)
        )

    def __str__(self) -> str:
        dims = self.dimensions if self.dimensions is not None else "?"
        return f"{self.model}@{dims}" + (f"+{self.variant}" if self.variant else "")


@dataclass(slots=True)
class Usage:
    """What one call (or a sum of calls) cost and how it went."""

    prompt_tokens: int = 0
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0  # 429 answers received
    throttle_wait_seconds: float = 0.0  # time spent waiting on the client's rate limiter
    cached: int = 0  # inputs answered from the cache
    deduplicated: int = 0  # inputs that repeated an earlier input of the same call
    truncated: int = 0  # inputs truncated to max_input_tokens (only with truncate=True)
    cost_usd: float | None = None  # estimated, only where the model's price is known

    def add(self, other: Usage) -> None:
        """Add ``other``'s counts to this one in place."""
        for f in dataclasses.fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if f.name == "cost_usd":
                if theirs is not None:
                    setattr(self, f.name, (mine or 0.0) + theirs)
            else:
                setattr(self, f.name, mine + theirs)


@dataclass(slots=True)
class EmbeddingResult:
    """Vectors for a call's inputs: row ``i`` of ``vectors`` belongs to input ``i``."""

    vectors: FloatArray
    model: str
    provider: str
    space: EmbeddingSpace
    usage: Usage = field(default_factory=Usage)

    @property
    def dimensions(self) -> int:
        """Length of each vector."""
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return int(self.vectors.shape[0])


@runtime_checkable
class Provider(Protocol):
    """Anything that turns texts into vectors of one embedding space."""

    @property
    def name(self) -> str:
        """Name used in results, logs, errors and the chain (e.g. ``"openai"``)."""
        ...

    @property
    def model(self) -> str:
        """The model id the provider asks for."""
        ...

    @property
    def dimensions(self) -> int | None:
        """Vector length, or ``None`` until known."""
        ...

    @property
    def space(self) -> EmbeddingSpace:
        """The embedding space the vectors belong to."""
        ...

    async def embed(
        self, texts: Sequence[str], *, input_type: InputType = "document"
    ) -> EmbeddingResult:
        """Embed ``texts``; row ``i`` of the result belongs to ``texts[i]``."""
        ...

    async def aclose(self) -> None:
        """Release connections, threads and models."""
        ...
