"""Token counting: exact with tiktoken where its encoding is available offline, else an estimate.

The estimate (``estimate_tokens``) is deliberately conservative for English
(about 3 characters a token where OpenAI's tokenizers average about 4) and
counts every non-ASCII byte generously, so CJK and emoji are not
under-counted. The rate limiter reconciles it with the ``usage`` the server
reports, so being conservative costs little throughput.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from embedmux import _constants as C

logger = logging.getLogger("embedmux")

_OFFLINE_VARS = ("EMBEDMUX_OFFLINE", "HF_HUB_OFFLINE")


def estimate_tokens(text: str) -> int:
    """A conservative token count: ASCII at ~3 chars/token, other characters ~1.5 tokens."""
    n = len(text)
    extra_bytes = len(text.encode("utf-8")) - n  # 0 for ASCII, 1-3 per other character
    return max(1, math.ceil(n / C.ESTIMATE_CHARS_PER_TOKEN + extra_bytes * 0.75))


@dataclass(frozen=True, slots=True)
class TokenCounter:
    """Counts and truncates texts for one model; ``exact`` says whether counts are exact."""

    count: Callable[[str], int]
    truncate: Callable[[str, int], str]
    exact: bool


def _estimate_truncate(text: str, max_tokens: int) -> str:
    """Cut ``text`` so that ``estimate_tokens`` of the result is at most ``max_tokens``."""
    lo, hi = 1, len(text)
    while lo < hi:  # largest prefix length whose estimate fits
        mid = (lo + hi + 1) // 2
        if estimate_tokens(text[:mid]) <= max_tokens:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]


ESTIMATE = TokenCounter(count=estimate_tokens, truncate=_estimate_truncate, exact=False)


def _offline() -> bool:
    return any(os.environ.get(v, "").strip() not in ("", "0") for v in _OFFLINE_VARS)


@lru_cache(maxsize=16)
def counter_for(model: str) -> TokenCounter:
    """Exact tiktoken counter for an OpenAI model if available without network, else ESTIMATE.

    Blocking (tiktoken may read its encoding file): call it from a worker thread.
    """
    if _offline():
        return ESTIMATE
    try:
        import tiktoken

        enc = tiktoken.encoding_for_model(model)
    except Exception as e:  # not installed, unknown model, or encoding not downloadable
        logger.debug("token counting for %s uses the estimate: %s", model, type(e).__name__)
        return ESTIMATE

    def count(text: str) -> int:
        return len(enc.encode_ordinary(text))

    def truncate(text: str, max_tokens: int) -> str:
        return str(enc.decode(enc.encode_ordinary(text)[:max_tokens]))

    return TokenCounter(count=count, truncate=truncate, exact=True)
