"""plan_passes: length-sorted forward passes with a cap on padded tokens (pure function)."""

from __future__ import annotations

import pytest

from embedmux._local.passes import max_pass_tokens, plan_passes


def test_longest_first_and_batch_size_respected() -> None:
    """Texts run longest first, at most batch_size per pass, every index exactly once."""
    lengths = [5, 9, 3, 9, 8, 7, 1]
    passes = plan_passes(lengths, batch_size=3, max_tokens=1000)
    assert passes == [[1, 3, 4], [5, 0, 2], [6]]
    assert sorted(i for p in passes for i in p) == list(range(len(lengths)))


def test_padded_token_cap_splits_long_texts_from_short_ones() -> None:
    """A pass holds at most max_tokens padded tokens: short texts are not padded to a long one."""
    lengths = [40, 9, 3, 9, 8, 7]
    passes = plan_passes(lengths, batch_size=4, max_tokens=64)
    assert passes == [[0], [1, 3, 4, 5], [2]]
    for p in passes:
        assert len(p) * max(lengths[i] for i in p) <= 64


def test_text_longer_than_the_cap_gets_a_pass_of_its_own() -> None:
    """An input longer than max_tokens is still encoded, alone."""
    assert plan_passes([500, 2, 2], batch_size=8, max_tokens=100) == [[0], [1, 2]]


def test_cap_by_device() -> None:
    """On a CPU four texts of 256 tokens share a pass; a GPU allows far larger passes."""
    cpu, gpu = max_pass_tokens("cpu"), max_pass_tokens("cuda")
    assert plan_passes([256] * 4, batch_size=32, max_tokens=cpu) == [[0, 1, 2, 3]]
    assert gpu >= 32 * 256 > cpu


def test_empty_and_invalid() -> None:
    """No texts means no passes; a batch size or cap below 1 is refused."""
    assert plan_passes([], batch_size=4, max_tokens=10) == []
    with pytest.raises(ValueError, match=">= 1"):
        plan_passes([1], batch_size=0, max_tokens=10)
