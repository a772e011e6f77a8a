"""Azure OpenAI: ``POST {endpoint}/openai/deployments/{deployment}/embeddings?api-version=...``.

Authenticates with an ``api-key`` header, or with an Entra ID bearer token from
an async ``token_provider`` (called per request, so the caller's credential
refreshes it; azure-identity stays an optional, caller-side dependency).
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from embedmux._exceptions import ConfigError, TimeoutError
from embedmux._optimization import OptimizationConfig
from embedmux._types import InputType
from embedmux._wire import openai_request_body
from embedmux.providers._http import HTTPProvider, required_api_key
from embedmux.providers.openai import MODEL_DIMENSIONS

if TYPE_CHECKING:
    import httpx


DEFAULT_API_VERSION = "2024-10-21"

#: An async callable returning a bearer token (e.g. wrapping azure-identity's
#: ``get_bearer_token_provider``).
TokenProvider = Callable[[], Awaitable[str]]


class AzureOpenAIProvider(HTTPProvider):
    """An Azure OpenAI embeddings deployment.

    ``model`` is the model behind ``deployment`` and defines the embedding
    space, so OpenAI and an Azure deployment of the same model form a valid
    chain. Exactly one of ``api_key`` (default ``$AZURE_OPENAI_API_KEY``) and
    ``token_provider`` is required.
    """

    profile = "azure"
    native_dimensions = MODEL_DIMENSIONS

    def __init__(
        self,
        model: str,
        *,
        endpoint: str,
        deployment: str,
        api_version: str = DEFAULT_API_VERSION,
        api_key: str | None = None,
        token_provider: TokenProvider | None = None,
        dimensions: int | None = None,
        name: str = "azure",
        optimization: OptimizationConfig | None = None,
        space: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if api_key and token_provider is not None:
            raise ConfigError(f"{name}: give either api_key or token_provider, not both")
        if token_provider is None:
            api_key = required_api_key(
                api_key,
                "AZURE_OPENAI_API_KEY",
                provider=name,
                cls="AzureOpenAIProvider",
                alternative=" or token_provider",
            )
        for field, value in (("endpoint", endpoint), ("deployment", deployment)):
            if not value:
                raise ConfigError(f"{name}: AzureOpenAIProvider needs {field}")
        super().__init__(
            model=model,
            base_url=f"{endpoint.rstrip('/')}/openai/deployments/{quote(deployment, safe='')}",
            api_key=api_key,
            dimensions=dimensions,
            name=name,
            optimization=optimization,
            space=space,
            transport=transport,
        )
        self._deployment = deployment
        self._api_version = api_version
        self._token_provider = token_provider

    def _endpoint(self) -> str:
        return f"/embeddings?api-version={quote(self._api_version, safe='')}"

    def _auth_headers(self) -> dict[str, str] | None:
        return None if self._token_provider is not None else {"api-key": self._secret()}

    async def _token_headers(self) -> dict[str, str]:
        assert self._token_provider is not None  # _auth_headers is None only with one
        deadline = self.optimization.timeout_seconds  # the sender's does not cover this
        try:
            async with asyncio.timeout(deadline):
                token = await self._token_provider()
        except builtins.TimeoutError:
            raise TimeoutError(
                f"{self._name}: token_provider gave no token within {deadline}s",
                provider=self._name,
            ) from None
        return {"authorization": f"Bearer {token}"}

    def _request_body(self, texts: Sequence[str], input_type: InputType) -> dict[str, Any]:
        # The deployment picks the model: Azure's body has no "model".
        return openai_request_body(texts, model=None, dimensions=self._requested_dimensions)

    def __repr__(self) -> str:
        auth = "token_provider" if self._token_provider is not None else "api_key"
        return (
            f"AzureOpenAIProvider(name={self._name!r}, model={self._model!r},"
            f" deployment={self._deployment!r}, base_url={self._base_url!r}, auth={auth})"
        )
