"""Testing helpers shipped with embedmux: a real fake embeddings server on 127.0.0.1.

See :mod:`embedmux.testing.fake_server` for the wire formats, knobs and ways to run it.
Names load on first access, so ``python -m embedmux.testing.fake_server`` does not
import the module twice.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from embedmux.testing.fake_server import (
        DEFAULT_MODELS,
        FORMATS,
        MISBEHAVIOURS,
        ApiError,
        AzureFormat,
        EmbedRequest,
        FakeEmbeddingApp,
        FakeEmbeddingServer,
        FakeServerConfig,
        FakeServerProcess,
        HttpRequest,
        Misbehaviour,
        RecordedRequest,
        Reply,
        ServerStats,
        SlidingWindowLimiter,
        WireFormat,
        fake_token_count,
        fake_vector,
        format_duration,
        register_format,
        spawn_fake_server,
    )

__all__ = [
    "DEFAULT_MODELS",
    "FORMATS",
    "MISBEHAVIOURS",
    "ApiError",
    "AzureFormat",
    "EmbedRequest",
    "FakeEmbeddingApp",
    "FakeEmbeddingServer",
    "FakeServerConfig",
    "FakeServerProcess",
    "HttpRequest",
    "Misbehaviour",
    "RecordedRequest",
    "Reply",
    "ServerStats",
    "SlidingWindowLimiter",
    "WireFormat",
    "fake_token_count",
    "fake_vector",
    "format_duration",
    "register_format",
    "spawn_fake_server",
]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'embedmux.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module("embedmux.testing.fake_server"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
