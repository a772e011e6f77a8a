"""Which texts share a forward pass: longest first, few padding tokens.

A pass costs about (texts x padded length): every text is padded to the longest
of its pass. Sorting by token count and capping the padded tokens of a pass
keeps that waste small, and a pass never holds more than ``batch_size`` texts::

    lengths 40 9 3 9 8 7, batch_size 4, max_tokens 64  ->  [40] [9 9 8 7] [3]

The cap depends on the device (``max_pass_tokens``): small on a CPU, where
short passes of similar lengths run fastest, large on a GPU.
"""

from __future__ import annotations

from collections.abc import Sequence

from embedmux._local import _defaults as D


def max_pass_tokens(device: str) -> int:
    """The padded-token cap of one forward pass on ``device`` (``cpu``, ``cuda``, ``mps``...)."""
    return D.MAX_PASS_TOKENS if device == "cpu" else D.MAX_PASS_TOKENS_GPU


def plan_passes(lengths: Sequence[int], batch_size: int, max_tokens: int) -> list[list[int]]:
    """Indices into ``lengths`` for each pass, longest texts first (ties keep input order).

    A pass holds at most ``batch_size`` texts and at most ``max_tokens`` padded
    tokens, except that a text longer than ``max_tokens`` gets a pass of its own.
    """
    if batch_size < 1 or max_tokens < 1:
        raise ValueError("batch_size and max_tokens must be >= 1")
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    passes: list[list[int]] = []
    start = 0
    while start < len(order):
        longest = max(1, lengths[order[start]])
        size = max(1, min(batch_size, max_tokens // longest))
        passes.append(order[start : start + size])
        start += size
    return passes
