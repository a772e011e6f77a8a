"""Response parsing: base64 and float decoding, and the checks no wrong vector gets past."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pytest

from embedmux._exceptions import ResponseError
from embedmux._wire import (
    input_index_in,
    openai_error_message,
    openai_request_body,
    parse_openai_response,
)


def _b64(values: list[float]) -> str:
    return base64.b64encode(np.asarray(values, dtype="<f4").tobytes()).decode()


def _body(items: list[dict[str, Any]], tokens: int = 3) -> bytes:
    return json.dumps({"data": items, "model": "m", "usage": {"prompt_tokens": tokens}}).encode()


def test_base64_and_float_decode_to_the_same_vectors() -> None:
    """Both encodings give identical float32 rows."""
    vecs = [[0.5, -1.25, 3.0], [1.0, 2.0, 4.0]]
    b64 = _body([{"index": i, "embedding": _b64(v)} for i, v in enumerate(vecs)])
    flt = _body([{"index": i, "embedding": v} for i, v in enumerate(vecs)])
    a = parse_openai_response(b64, expected=2, dimensions=None, provider="p")
    b = parse_openai_response(flt, expected=2, dimensions=None, provider="p")
    assert a.vectors.dtype == np.float32
    np.testing.assert_array_equal(a.vectors, np.asarray(vecs, dtype=np.float32))
    np.testing.assert_array_equal(a.vectors, b.vectors)
    assert (a.prompt_tokens, a.model) == (3, "m")


def test_items_are_reordered_by_index() -> None:
    """Items out of order are placed by their ``index`` field."""
    body = _body([{"index": 1, "embedding": [2.0]}, {"index": 0, "embedding": [1.0]}])
    parsed = parse_openai_response(body, expected=2, dimensions=1, provider="p")
    assert parsed.vectors[:, 0].tolist() == [1.0, 2.0]


@pytest.mark.parametrize(
    ("items", "match"),
    [
        ([{"index": 0, "embedding": [1.0, 2.0]}], "expected 2 vectors, got 1"),
        ([{"index": 0, "embedding": [1.0, 2.0]}, {"index": 1, "embedding": [1.0]}], "dimensions"),
        (
            [{"index": 0, "embedding": [1.0, 2.0]}, {"index": 0, "embedding": [1.0, 2.0]}],
            "repeated index 0",
        ),
        (
            [{"index": 0, "embedding": [1.0, 2.0]}, {"index": 5, "embedding": [1.0, 2.0]}],
            "bad or repeated index 5",
        ),
        (
            [{"index": 0, "embedding": [1.0, float("nan")]}, {"index": 1, "embedding": [1.0, 2.0]}],
            r"non-finite values in vectors \[0\]",
        ),
        (
            [{"index": 0, "embedding": [1.0, 2.0]}, {"index": 1, "embedding": [float("-inf"), 0]}],
            r"non-finite values in vectors \[1\]",
        ),
        (
            [{"index": 0, "embedding": "not base64!"}, {"index": 1, "embedding": [1.0, 2.0]}],
            "bad base64",
        ),
        ([{"index": 0}, {"index": 1, "embedding": [1.0, 2.0]}], "malformed"),
    ],
)
def test_untrustworthy_responses_raise(items: list[dict[str, Any]], match: str) -> None:
    """Short, wrong-length, repeated, out-of-range, NaN or malformed vectors never pass."""
    with pytest.raises(ResponseError, match=match):
        parse_openai_response(_body(items), expected=2, dimensions=None, provider="p")


@pytest.mark.parametrize("n", [2, 12])  # below and above assemble's bulk-check size
def test_large_responses_are_checked_like_small_ones(n: int) -> None:
    """Shuffled items land in their rows; a repeated index or a short vector is named,
    whatever the response size."""
    rows = [[float(i), 1.0] for i in range(n)]
    items = [{"index": i, "embedding": _b64(rows[i])} for i in range(n)]
    shuffled = items[1::2] + items[::2]
    parsed = parse_openai_response(_body(shuffled), expected=n, dimensions=None, provider="p")
    np.testing.assert_array_equal(parsed.vectors, np.asarray(rows, dtype=np.float32))

    repeated = [*items[:-1], {"index": 0, "embedding": _b64(rows[0])}]
    with pytest.raises(ResponseError, match="repeated index 0"):
        parse_openai_response(_body(repeated), expected=n, dimensions=None, provider="p")
    short = [*items[:-1], {"index": n - 1, "embedding": _b64([1.0])}]
    with pytest.raises(ResponseError, match=f"vector {n - 1} has 1 dimensions, expected 2"):
        parse_openai_response(_body(short), expected=n, dimensions=None, provider="p")


def test_huge_finite_values_pass() -> None:
    """Values whose squares overflow float32 are still finite: the quick finiteness check
    falls back to the exact one instead of rejecting them."""
    big = float(np.finfo(np.float32).max)
    body = _body([{"index": 0, "embedding": [big, -big]}])
    parsed = parse_openai_response(body, expected=1, dimensions=None, provider="p")
    assert parsed.vectors.tolist() == [[big, -big]]


def test_configured_dimensions_are_enforced() -> None:
    """Vectors of a length other than the provider's dimensions are rejected."""
    body = _body([{"index": 0, "embedding": [1.0, 2.0, 3.0]}])
    with pytest.raises(ResponseError, match="expected 4"):
        parse_openai_response(body, expected=1, dimensions=4, provider="p")


def test_invalid_json_is_a_retryable_response_error() -> None:
    """A body that is not JSON raises a retryable ResponseError."""
    with pytest.raises(ResponseError, match="not valid JSON") as info:
        parse_openai_response(b"<html>", expected=1, dimensions=None, provider="p")
    assert info.value.retryable


def test_request_body_asks_for_base64() -> None:
    """The request asks for base64 and sends dimensions only when given."""
    assert openai_request_body(["a"], model="m", dimensions=None) == {
        "input": ["a"],
        "encoding_format": "base64",
        "model": "m",
    }
    assert openai_request_body(["a"], model="m", dimensions=8)["dimensions"] == 8


def test_error_message_and_input_index() -> None:
    """OpenAI error bodies yield their message and the input index they name."""
    body = json.dumps({"error": {"message": "'$.input[3]' is invalid", "type": "x"}}).encode()
    assert openai_error_message(body) == ("'$.input[3]' is invalid", 3)
    assert openai_error_message(b"plain failure") == ("plain failure", None)
    assert input_index_in("input[12] is empty") == 12
    assert input_index_in("nothing here") is None
