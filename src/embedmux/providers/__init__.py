"""Provider registry: a config ``kind`` maps to the class that implements it.

Classes are imported on demand, so naming a provider kind never imports the
dependencies of the others (notably torch for ``local``).
"""

from __future__ import annotations

import importlib
from typing import Any

from embedmux._exceptions import ConfigError

_REGISTRY: dict[str, str] = {
    "openai": "embedmux.providers.openai:OpenAIProvider",
    "azure": "embedmux.providers.azure:AzureOpenAIProvider",
    "mistral": "embedmux.providers.mistral:MistralProvider",
    "openai_compatible": "embedmux.providers.compatible:OpenAICompatibleProvider",
    "local": "embedmux.providers.local:LocalProvider",
}


def provider_kinds() -> list[str]:
    """The ``kind`` values a config file may use."""
    return sorted(_REGISTRY)


def provider_class(kind: str) -> type[Any]:
    """The provider class registered for ``kind``."""
    try:
        target = _REGISTRY[kind]
    except KeyError:
        raise ConfigError(
            f"unknown provider kind {kind!r}; expected one of: {', '.join(provider_kinds())}"
        ) from None
    module, _, attr = target.partition(":")
    cls: type[Any] = getattr(importlib.import_module(module), attr)
    return cls
