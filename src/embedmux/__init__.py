"""embedmux: one async interface for text embeddings, whichever provider does the work.

``import embedmux`` is cheap: the public names below load on first access, so
httpx, numpy, pydantic and (for the local provider) torch are imported only
when the code that needs them is first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> private module that defines it
_EXPORTS: dict[str, str] = {
    "AllProvidersFailedError": "embedmux._exceptions",
    "AuthenticationError": "embedmux._exceptions",
    "BadRequestError": "embedmux._exceptions",
    "Client": "embedmux._client",
    "ConfigError": "embedmux._exceptions",
    "ConnectionError": "embedmux._exceptions",
    "EmbeddingResult": "embedmux._types",
    "EmbeddingSpace": "embedmux._types",
    "EmbedmuxError": "embedmux._exceptions",
    "InputError": "embedmux._exceptions",
    "InputType": "embedmux._types",
    "NotFoundError": "embedmux._exceptions",
    "OpenAIProvider": "embedmux.providers.openai",
    "OptimizationConfig": "embedmux._optimization",
    "Provider": "embedmux._types",
    "ProviderError": "embedmux._exceptions",
    "ProviderUnavailableError": "embedmux._exceptions",
    "RateLimitError": "embedmux._exceptions",
    "ResponseError": "embedmux._exceptions",
    "ServerError": "embedmux._exceptions",
    "TimeoutError": "embedmux._exceptions",
    "TransportError": "embedmux._exceptions",
    "Usage": "embedmux._types",
}

__all__ = [
    "AllProvidersFailedError",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ConfigError",
    "ConnectionError",
    "EmbeddingResult",
    "EmbeddingSpace",
    "EmbedmuxError",
    "InputError",
    "InputType",
    "NotFoundError",
    "OpenAIProvider",
    "OptimizationConfig",
    "Provider",
    "ProviderError",
    "ProviderUnavailableError",
    "RateLimitError",
    "ResponseError",
    "ServerError",
    "TimeoutError",
    "TransportError",
    "Usage",
    "__version__",
]

if TYPE_CHECKING:
    from embedmux._client import Client
    from embedmux._exceptions import (
        AllProvidersFailedError,
        AuthenticationError,
        BadRequestError,
        ConfigError,
        ConnectionError,
        EmbedmuxError,
        InputError,
        NotFoundError,
        ProviderError,
        ProviderUnavailableError,
        RateLimitError,
        ResponseError,
        ServerError,
        TimeoutError,
        TransportError,
    )
    from embedmux._optimization import OptimizationConfig
    from embedmux._types import EmbeddingResult, EmbeddingSpace, InputType, Provider, Usage
    from embedmux.providers.openai import OpenAIProvider


def __getattr__(name: str) -> Any:
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'embedmux' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
