"""Keeping secrets out of reprs, logs and error messages."""

from __future__ import annotations

from collections.abc import Iterable

MASK = "***"


def mask(secret: str | None) -> str:
    """What a repr shows for a secret."""
    return "None" if secret is None else MASK


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every occurrence of each secret (and its last 4+ chars) masked."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
            text = text.replace(secret[-4:], MASK) if len(secret) >= 12 else text
    return text
