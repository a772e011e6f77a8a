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
    "AzureOpenAIProvider": "embedmux.providers.azure",
    "BadRequestError": "embedmux._exceptions",
    "Cache": "embedmux._cache",
    "CacheEvent": "embedmux._events",
    "CacheStats": "embedmux._cache",
    "CallEndEvent": "embedmux._events",
    "CallStartEvent": "embedmux._events",
    "CircuitEvent": "embedmux._events",
    "Client": "embedmux._client",
    "ClientStats": "embedmux._stats",
    "ConfigError": "embedmux._exceptions",
    "ConnectionError": "embedmux._exceptions",
    "DEFAULT_PRICES": "embedmux._pricing",
    "EmbeddingResult": "embedmux._types",
    "EmbeddingSpace": "embedmux._types",
    "EmbedmuxError": "embedmux._exceptions",
    "FallbackEvent": "embedmux._events",
    "Hooks": "embedmux._events",
    "InputError": "embedmux._exceptions",
    "InputType": "embedmux._types",
    "LocalProvider": "embedmux.providers.local",
    "MistralProvider": "embedmux.providers.mistral",
    "NotFoundError": "embedmux._exceptions",
    "OpenAICompatibleProvider": "embedmux.providers.compatible",
    "OpenAIProvider": "embedmux.providers.openai",
    "OptimizationConfig": "embedmux._optimization",
    "PriceTable": "embedmux._pricing",
    "Provider": "embedmux._types",
    "ProviderError": "embedmux._exceptions",
    "ProviderStats": "embedmux._stats",
    "ProviderUnavailableError": "embedmux._exceptions",
    "RateLimitError": "embedmux._exceptions",
    "RequestEvent": "embedmux._events",
    "ResponseError": "embedmux._exceptions",
    "ResponseEvent": "embedmux._events",
    "RetryEvent": "embedmux._events",
    "ServerError": "embedmux._exceptions",
    "StatsRecorder": "embedmux._stats",
    "SyncClient": "embedmux._sync",
    "TimeoutError": "embedmux._exceptions",
    "TransportError": "embedmux._exceptions",
    "Usage": "embedmux._types",
    "estimate_cost": "embedmux._pricing",
    "namespace_for": "embedmux._cache",
}

__all__ = [
    "DEFAULT_PRICES",
    "AllProvidersFailedError",
    "AuthenticationError",
    "AzureOpenAIProvider",
    "BadRequestError",
    "Cache",
    "CacheEvent",
    "CacheStats",
    "CallEndEvent",
    "CallStartEvent",
    "CircuitEvent",
    "Client",
    "ClientStats",
    "ConfigError",
    "ConnectionError",
    "EmbeddingResult",
    "EmbeddingSpace",
    "EmbedmuxError",
    "FallbackEvent",
    "Hooks",
    "InputError",
    "InputType",
    "LocalProvider",
    "MistralProvider",
    "NotFoundError",
    "OpenAICompatibleProvider",
    "OpenAIProvider",
    "OptimizationConfig",
    "PriceTable",
    "Provider",
    "ProviderError",
    "ProviderStats",
    "ProviderUnavailableError",
    "RateLimitError",
    "RequestEvent",
    "ResponseError",
    "ResponseEvent",
    "RetryEvent",
    "ServerError",
    "StatsRecorder",
    "SyncClient",
    "TimeoutError",
    "TransportError",
    "Usage",
    "__version__",
    "estimate_cost",
    "namespace_for",
]

if TYPE_CHECKING:
    from embedmux._cache import (
        Cache,
        CacheStats,
        namespace_for,
    )
    from embedmux._client import (
        Client,
    )
    from embedmux._events import (
        CacheEvent,
        CallEndEvent,
        CallStartEvent,
        CircuitEvent,
        FallbackEvent,
        Hooks,
        RequestEvent,
        ResponseEvent,
        RetryEvent,
    )
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
    from embedmux._optimization import (
        OptimizationConfig,
    )
    from embedmux._pricing import (
        DEFAULT_PRICES,
        PriceTable,
        estimate_cost,
    )
    from embedmux._stats import (
        ClientStats,
        ProviderStats,
        StatsRecorder,
    )
    from embedmux._sync import (
        SyncClient,
    )
    from embedmux._types import (
        EmbeddingResult,
        EmbeddingSpace,
        InputType,
        Provider,
        Usage,
    )
    from embedmux.providers.azure import (
        AzureOpenAIProvider,
    )
    from embedmux.providers.compatible import (
        OpenAICompatibleProvider,
    )
    from embedmux.providers.local import (
        LocalProvider,
    )
    from embedmux.providers.mistral import (
        MistralProvider,
    )
    from embedmux.providers.openai import (
        OpenAIProvider,
    )


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
