"""Input validation: every input is a non-blank string, or the error names its index."""

from __future__ import annotations

from collections.abc import Sequence

from embedmux._exceptions import InputError

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
        raise InputError(f"texts must be a sequence of strings, got {type(texts).__name__}")
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise InputError(f"input {i} is {type(text).__name__}, expected str", index=i)
        if not text.strip():
            what = "empty" if not text else "whitespace-only"
            raise InputError(f"input {i} is {what}; embeddings need some text", index=i)
    return items
