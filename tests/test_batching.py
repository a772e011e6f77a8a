"""Batch planning is a pure function: every input in exactly one batch, in order, within limits."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from embedmux._batching import Batch, plan_batches


@given(
    counts=st.lists(st.integers(min_value=1, max_value=50), max_size=300),
    max_size=st.integers(min_value=1, max_value=40),
    max_tokens=st.integers(min_value=50, max_value=400),
)
def test_every_input_lands_once_in_order(counts: list[int], max_size: int, max_tokens: int) -> None:
    """Concatenated batches cover 0..n-1 exactly once, in order, and respect both limits."""
    batches = plan_batches(counts, max_batch_size=max_size, max_batch_tokens=max_tokens)
    covered = [i for b in batches for i in range(b.start, b.stop)]
    assert covered == list(range(len(counts)))
    for b in batches:
        assert 1 <= b.size <= max_size
        assert b.tokens == sum(counts[b.start : b.stop]) <= max_tokens


@given(counts=st.lists(st.integers(min_value=1, max_value=10), min_size=1, max_size=100))
def test_batches_are_greedy(counts: list[int]) -> None:
    """A batch closes only when the next input would break a limit (no needless requests)."""
    batches = plan_batches(counts, max_batch_size=7, max_batch_tokens=30)
    for b, nxt in itertools.pairwise(batches):
        assert b.size == 7 or b.tokens + counts[nxt.start] > 30


def test_openai_limits_split_a_large_corpus() -> None:
    """5,000 inputs of 100 tokens split by OpenAI's 2048-input and 300k-token limits."""
    batches = plan_batches([100] * 5000, max_batch_size=2048, max_batch_tokens=300_000)
    assert [b.size for b in batches] == [2048, 2048, 904]
    heavy = plan_batches([200] * 5000, max_batch_size=2048, max_batch_tokens=300_000)
    assert [b.size for b in heavy] == [1500, 1500, 1500, 500]


def test_empty_input_plans_no_batch() -> None:
    """No inputs, no requests."""
    assert plan_batches([], max_batch_size=10, max_batch_tokens=10) == []


def test_input_larger_than_a_batch_is_refused() -> None:
    """An input over max_batch_tokens is a caller error, named by index."""
    with pytest.raises(ValueError, match="input 1"):
        plan_batches([1, 11], max_batch_size=10, max_batch_tokens=10)


def test_batch_size_property() -> None:
    """Batch.size is the number of inputs it holds."""
    assert Batch(3, 8, 40).size == 5
