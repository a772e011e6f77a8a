"""The OpenAI embeddings wire format (shared by OpenAI, Azure and compatible servers),
and the checks every response passes before a vector reaches the caller."""

from __future__ import annotations

import binascii
import codecs
import json
import math
import re
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from embedmux._exceptions import ResponseError

FloatArray = npt.NDArray[np.float32]
#: from this many vectors, ``assemble`` checks order and lengths with comprehensions
#: (a third faster at 1,000 vectors); below it, one loop is cheaper
_CHECK_IN_BULK = 8


class ParsedEmbeddings(NamedTuple):
    """Vectors of one response in input order, plus what the server reported."""

    vectors: FloatArray
    prompt_tokens: int | None
    model: str | None


def openai_request_body(
    texts: Sequence[str], *, model: str | None, dimensions: int | None
) -> dict[str, Any]:
    """The JSON body of ``POST /embeddings``; asks for base64 (decoding floats costs 50-100x)."""
    body: dict[str, Any] = {"input": list(texts), "encoding_format": "base64"}
    if model is not None:
        body["model"] = model
    if dimensions is not None:
        body["dimensions"] = dimensions
    return body


def load_json(content: bytes, *, provider: str) -> Any:
    """Parse a response body, or raise a retryable ``ResponseError``."""
    try:  # decoded here: json.loads(bytes) first sniffs for UTF-16/32, which no server sends
        return json.loads(content.removeprefix(codecs.BOM_UTF8).decode())
    except ValueError as e:  # UnicodeDecodeError included
        raise ResponseError(
            f"{provider}: response is not valid JSON: {e}", provider=provider
        ) from e


def decode_embedding(raw: object, *, provider: str) -> FloatArray:
    """One vector from base64 (little-endian float32) or a JSON list of numbers."""
    if isinstance(raw, str):
        try:  # (base64.b64decode(validate=True) adds only a wrapper around this)
            data = binascii.a2b_base64(raw, strict_mode=True)
        except (binascii.Error, ValueError) as e:  # ValueError: not ASCII
            raise ResponseError(f"{provider}: bad base64 embedding: {e}", provider=provider) from e
        if len(data) % 4:
            raise ResponseError(f"{provider}: base64 embedding is not float32", provider=provider)
        return np.frombuffer(data, dtype="<f4")
    if isinstance(raw, list):
        try:
            return np.asarray(raw, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise ResponseError(
                f"{provider}: embedding is not numeric: {e}", provider=provider
            ) from e
    raise ResponseError(f"{provider}: embedding has type {type(raw).__name__}", provider=provider)


def assemble(
    items: Sequence[tuple[int, FloatArray]],
    *,
    expected: int,
    dimensions: int | None,
    provider: str,
) -> FloatArray:
    """Stack ``(index, vector)`` pairs into an ``(expected, dim)`` matrix in index order.

    Raises ``ResponseError`` unless there is exactly one vector per input, all of
    one length (``dimensions`` if given) and every value finite.
    """
    if len(items) != expected:
        raise ResponseError(
            f"{provider}: expected {expected} vectors, got {len(items)}", provider=provider
        )
    if expected == 0:
        return np.empty((0, dimensions or 0), dtype=np.float32)
    dim = dimensions if dimensions is not None else len(items[0][1])
    out: FloatArray | None = None
    if expected >= _CHECK_IN_BULK:  # the usual answer, in order: checked and copied in bulk
        vectors = [vector for _, vector in items]
        if [index for index, _ in items] == list(range(expected)) and {
            v.shape for v in vectors
        } == {(dim,)}:
            out = np.array(vectors, dtype=np.float32)
    if out is None:
        out = _place(items, expected, dim, provider)
    # A finite sum of squares proves every value finite (squares cannot cancel), in one
    # BLAS pass without a temporary; only when it is not finite (or overflows) look closer.
    if not math.isfinite(np.vdot(out, out)) and not np.isfinite(out).all():
        bad = sorted({int(i) for i in np.argwhere(~np.isfinite(out))[:, 0]})
        raise ResponseError(f"{provider}: non-finite values in vectors {bad}", provider=provider)
    return out


def _place(
    items: Sequence[tuple[int, FloatArray]], expected: int, dim: int, provider: str
) -> FloatArray:
    """Put each vector in its row, or raise naming the first bad index or length."""
    out = np.empty((expected, dim), dtype=np.float32)
    seen = bytearray(expected)
    for index, vector in items:
        if not 0 <= index < expected or seen[index]:
            raise ResponseError(f"{provider}: bad or repeated index {index}", provider=provider)
        if vector.shape != (dim,):
            raise ResponseError(
                f"{provider}: vector {index} has {vector.size} dimensions, expected {dim}",
                provider=provider,
            )
        out[index] = vector
        seen[index] = 1
    return out


def parse_openai_response(
    content: bytes, *, expected: int, dimensions: int | None, provider: str
) -> ParsedEmbeddings:
    """Parse and check an OpenAI-format embeddings response."""
    payload = load_json(content, provider=provider)
    try:
        data = payload["data"]
        items = [
            (int(d["index"]), decode_embedding(d["embedding"], provider=provider)) for d in data
        ]
    except (KeyError, TypeError, ValueError) as e:
        raise ResponseError(
            f"{provider}: malformed response: missing {e}", provider=provider
        ) from e
    vectors = assemble(items, expected=expected, dimensions=dimensions, provider=provider)
    usage = payload.get("usage") or {}
    tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    model = payload.get("model")
    return ParsedEmbeddings(
        vectors,
        int(tokens) if isinstance(tokens, int) else None,
        model if isinstance(model, str) else None,
    )


def openai_error_message(content: bytes) -> tuple[str, int | None]:
    """The message of an OpenAI-style error body, and the input index it names, if any."""
    try:
        payload = json.loads(content)
        err = payload.get("error", payload)
        message = str(err.get("message") or err)
    except (ValueError, AttributeError):
        message = content[:300].decode("utf-8", "replace") or "(empty body)"
    return message, input_index_in(message)


def input_index_in(message: str) -> int | None:
    """The input index a server error message names (``input[3]``, ``'$.input[3]'``), if any."""
    match = re.search(r"input\W{0,2}\[(\d+)\]", message)
    return int(match.group(1)) if match else None
