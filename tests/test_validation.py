"""Input validation and token limits: clear errors naming the index, or counted truncation."""

from __future__ import annotations

from typing import Any

import pytest

from embedmux._exceptions import InputError
from embedmux._tokens import ESTIMATE, estimate_tokens
from embedmux._validation import check_texts, fit_to_limit


@pytest.mark.parametrize(
    ("texts", "index", "match"),
    [
        (["ok", 3], 1, "input 1 is int"),
        (["ok", ""], 1, "input 1 is empty"),
        (["ok", "fine", "  \n\t"], 2, "whitespace-only"),
        ([None], 0, "input 0 is NoneType"),
    ],
)
def test_bad_inputs_name_their_index(texts: list[Any], index: int, match: str) -> None:
    """Non-strings, empty and blank texts raise InputError with the offending index."""
    with pytest.raises(InputError, match=match) as info:
        check_texts(texts)
    assert info.value.index == index


def test_a_lone_string_is_rejected() -> None:
    """A str is not a list of texts; the error says how to fix it."""
    with pytest.raises(InputError, match=r"wrap it: \[text\]"):
        check_texts("hello")


def test_non_iterable_is_rejected() -> None:
    """A non-sequence raises InputError naming its type."""
    with pytest.raises(InputError, match="got int"):
        check_texts(5)  # type: ignore[arg-type]


def test_over_long_input_is_an_error_by_default() -> None:
    """An input over max_input_tokens raises, naming the index; nothing is dropped."""
    with pytest.raises(InputError, match="input 1") as info:
        fit_to_limit(["short", "x" * 400], ESTIMATE, max_input_tokens=100, truncate=False)
    assert info.value.index == 1


def test_truncation_is_counted() -> None:
    """With truncate=True an over-long input is cut to the limit and counted."""
    prepared = fit_to_limit(["short", "word " * 200], ESTIMATE, max_input_tokens=50, truncate=True)
    assert prepared.truncated == 1
    assert prepared.token_counts[1] <= 50
    assert prepared.texts[0] == "short"
    assert "word " * 30 in prepared.texts[1]


def test_estimate_is_conservative_for_non_ascii() -> None:
    """The estimate counts CJK and accented text more heavily than ASCII."""
    assert estimate_tokens("abc") == 1
    assert estimate_tokens("a" * 300) == 100
    assert estimate_tokens("漢字漢字漢字") >= 6
    assert estimate_tokens("x") == 1
