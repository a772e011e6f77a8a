"""Input validation: every input is a non-blank string within the token limit, or the
error names its index (or, when configured, the input is truncated and counted)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from embedmux._exceptions import InputError
from embedmux._tokens import TokenCounter

_PREVIEW = 40


def preview(text: str) -> str:
    """A short, single-line preview of ``text`` for error messages."""
    flat = " ".join(text.split())
    return flat if len(flat) <= _PREVIEW else flat[: _PREVIEW - 3] + "..."


def check_texts(texts: Sequence[str]) -> list[str]:
    """Return ``texts`` as a list, or raise ``InputError`` naming the first bad input.

    A lone ``str`` is rejected (it is a sequence of characters, almost always a
    mistake for ``[text]``); so are non-strings, empty and whitespace-only texts.
    """
    if isinstance(texts, str):
        raise InputError("texts must be a sequence of strings, got a single str; wrap it: [text]")
    try:
        items = list(texts)
    except TypeError:
        raise InputError(
            f"texts must be a sequence of strings, got {type(texts).__name__}"
        ) from None
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise InputError(f"input {i} is {type(text).__name__}, expected str", index=i)
        if not text or text.isspace():  # (no stripped copy of every text)
            what = "empty" if not text else "whitespace-only"
            raise InputError(f"input {i} is {what}; embeddings need some text", index=i)
    return items


class PreparedInputs(NamedTuple):
    """Texts ready to send: token counts per input and how many were truncated."""

    texts: list[str]
    token_counts: list[int]
    truncated: int


def fit_to_limit(
    texts: Sequence[str], counter: TokenCounter, *, max_input_tokens: int, truncate: bool
) -> PreparedInputs:
    """Count tokens; an input over ``max_input_tokens`` is an error naming it, or truncated.

    Truncation happens only when asked (``truncate=True``) and is counted, never silent.
    """
    out, counts, truncated = list(texts), [], 0
    for i, text in enumerate(out):
        n = counter.count(text)
        if n > max_input_tokens:
            if not truncate:
                kind = "" if counter.exact else "about "
                raise InputError(
                    f"input {i} ({preview(text)!r}) has {kind}{n} tokens, over the limit of"
                    f" {max_input_tokens}; shorten it or set truncate=true",
                    index=i,
                )
            out[i] = counter.truncate(text, max_input_tokens)
            n = counter.count(out[i])
            truncated += 1
        counts.append(n)
    return PreparedInputs(out, counts, truncated)
