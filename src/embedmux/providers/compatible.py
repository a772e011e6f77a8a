"""Any server speaking the OpenAI embeddings wire format: vLLM, TEI, Infinity, Ollama,
a LiteLLM proxy. ``POST {base_url}/embeddings``; the key is optional."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from embedmux._exceptions import ConfigError
from embedmux._optimization import OptimizationConfig
from embedmux._types import InputType
from embedmux._wire import openai_request_body
from embedmux.providers._http import HTTPProvider, check_encoding_format

if TYPE_CHECKING:
    import httpx


class OpenAICompatibleProvider(HTTPProvider):
    """An OpenAI-format embeddings server at ``base_url`` (e.g. ``http://localhost:8000/v1``).

    ``api_key`` is sent as a bearer token when given; no auth header otherwise.
    ``space`` names the model whose space the vectors belong to when the
    server's model id differs (e.g. ``space="all-MiniLM-L6-v2"`` for a TEI
    server, so it can back up a local provider). ``encoding_format="float"``
    is for servers that lack base64 (some Ollama versions).
    """

    profile = "openai_compatible"

    def __init__(
        self,
        model: str,
        *,
        base_url: str,
        api_key: str | None = None,
        dimensions: int | None = None,
        name: str = "openai_compatible",
        optimization: OptimizationConfig | None = None,
        space: str | None = None,
        encoding_format: Literal["base64", "float"] = "base64",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not base_url:
            raise ConfigError(f"{name}: OpenAICompatibleProvider needs base_url")
        check_encoding_format(encoding_format, provider=name)
        super().__init__(
            model=model,
            base_url=base_url,
            api_key=api_key,
            dimensions=dimensions,
            name=name,
            optimization=optimization,
            space=space,
            transport=transport,
        )
        self._encoding_format = encoding_format

    def _request_body(self, texts: Sequence[str], input_type: InputType) -> dict[str, Any]:
        body = openai_request_body(texts, model=self._model, dimensions=self._requested_dimensions)
        body["encoding_format"] = self._encoding_format
        return body
