"""Batch planning: pure functions that split inputs into requests, in input order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple


class Batch(NamedTuple):
    """Inputs ``start`` (inclusive) to ``stop`` (exclusive) of a call, and their token total."""

    start: int
    stop: int
    tokens: int

    @property
    def size(self) -> int:
        """Number of inputs in the batch."""
        return self.stop - self.start


def plan_batches(
    token_counts: Sequence[int], *, max_batch_size: int, max_batch_tokens: int
) -> list[Batch]:
    """Split inputs into contiguous batches of at most ``max_batch_size`` inputs and
    ``max_batch_tokens`` tokens. Every input lands in exactly one batch, in order.

    An input larger than ``max_batch_tokens`` on its own is a caller error
    (validation truncates or rejects it first), so it is refused here.
    """
    if max_batch_size < 1 or max_batch_tokens < 1:
        raise ValueError("max_batch_size and max_batch_tokens must be >= 1")
    inputs = len(token_counts)
    if 0 < inputs <= max_batch_size and (total := sum(token_counts)) <= max_batch_tokens:
        return [Batch(0, inputs, total)]  # a query or a small call: no loop
    batches: list[Batch] = []
    start, tokens = 0, 0
    for i, n in enumerate(token_counts):
        if n > max_batch_tokens:
            raise ValueError(f"input {i} has {n} tokens, more than max_batch_tokens")
        if i > start and (i - start >= max_batch_size or tokens + n > max_batch_tokens):
            batches.append(Batch(start, i, tokens))
            start, tokens = i, 0
        tokens += n
    if inputs > start:
        batches.append(Batch(start, inputs, tokens))
    return batches
