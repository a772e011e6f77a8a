"""OpenAI: ``POST {base_url}/embeddings`` with a bearer key."""

from __future__ import annotations

from typing import TYPE_CHECKING

from embedmux._optimization import OptimizationConfig
from embedmux.providers._http import HTTPProvider, required_api_key

if TYPE_CHECKING:
    import httpx


DEFAULT_BASE_URL = "https://api.openai.com/v1"
#: Native vector length of OpenAI's embedding models.
MODEL_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}


class OpenAIProvider(HTTPProvider):
    """OpenAI's embeddings API. ``api_key`` defaults to ``$OPENAI_API_KEY``.

    ``dimensions`` shortens text-embedding-3 vectors server-side (it is sent in
    the request); without it the model's native length is assumed.
    """

    profile = "openai"
    native_dimensions = MODEL_DIMENSIONS

    def __init__(
        self,
        model: str = "text-embedding-3-small",
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        dimensions: int | None = None,
        organization: str | None = None,
        name: str = "openai",
        optimization: OptimizationConfig | None = None,
        space: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(
            model=model,
            base_url=base_url or DEFAULT_BASE_URL,
            api_key=required_api_key(
                api_key, "OPENAI_API_KEY", provider=name, cls="OpenAIProvider"
            ),
            dimensions=dimensions,
            name=name,
            optimization=optimization,
            space=space,
            transport=transport,
        )
        self._organization = organization

    def _auth_headers(self) -> dict[str, str] | None:
        headers = super()._auth_headers() or {}
        if self._organization:
            headers["openai-organization"] = self._organization
        return headers
