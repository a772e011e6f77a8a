"""Mistral: ``POST {base_url}/embeddings`` with a bearer key.

Wire format (Mistral's API reference): the body is ``{"model", "input": [...]}``
plus the optional ``encoding_format`` (``float`` | ``base64``),
``output_dimension`` and ``output_dtype``; the response is OpenAI-shaped
(``data[].embedding``, ``data[].index``, ``usage.prompt_tokens``). Errors are
``{"object": "error", "message", "type", "code"}``, or FastAPI's
``{"detail": ...}`` for 422 validation failures.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from embedmux._optimization import OptimizationConfig
from embedmux._types import InputType
from embedmux._wire import input_index_in
from embedmux.providers._http import HTTPProvider, check_encoding_format, required_api_key

if TYPE_CHECKING:
    import httpx


DEFAULT_BASE_URL = "https://api.mistral.ai/v1"
#: Native vector length of Mistral's embedding models.
MODEL_DIMENSIONS = {"mistral-embed": 1024, "codestral-embed": 1536}


class MistralProvider(HTTPProvider):
    """Mistral's embeddings API. ``api_key`` defaults to ``$MISTRAL_API_KEY``.

    ``dimensions`` is sent as ``output_dimension`` (only models that support it,
    such as codestral-embed, accept it). ``encoding_format="float"`` asks for
    JSON floats for a proxy or server without base64 support.
    """

    profile = "mistral"
    native_dimensions = MODEL_DIMENSIONS

    def __init__(
        self,
        model: str = "mistral-embed",
        *,
        api_key: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        dimensions: int | None = None,
        encoding_format: Literal["base64", "float"] = "base64",
        name: str = "mistral",
        optimization: OptimizationConfig | None = None,
        space: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        api_key = required_api_key(api_key, "MISTRAL_API_KEY", provider=name, cls="MistralProvider")
        check_encoding_format(encoding_format, provider=name)
        super().__init__(
            model=model,
            base_url=base_url or DEFAULT_BASE_URL,
            api_key=api_key,
            dimensions=dimensions,
            name=name,
            optimization=optimization,
            space=space,
            transport=transport,
        )
        self._encoding_format = encoding_format

    def _request_body(self, texts: Sequence[str], input_type: InputType) -> dict[str, Any]:
        # Mistral's embedding models take no query/document hint: input_type is unused.
        body: dict[str, Any] = {
            "model": self._model,
            "input": list(texts),
            "encoding_format": self._encoding_format,
        }
        if self._requested_dimensions is not None:
            body["output_dimension"] = self._requested_dimensions
        return body

    def _error_message(self, content: bytes) -> tuple[str, int | None]:
        return mistral_error_message(content)


def mistral_error_message(content: bytes) -> tuple[str, int | None]:
    """The message of a Mistral error body, and the input index it names, if any."""
    try:
        payload = json.loads(content)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        text = content[:300].decode("utf-8", "replace") or "(empty body)"
        return text, input_index_in(text)
    if "detail" in payload:
        return _detail_message(payload["detail"])
    message = payload.get("message", payload)
    if isinstance(message, dict) and "detail" in message:
        return _detail_message(message["detail"])
    text = message if isinstance(message, str) else json.dumps(message)
    if kind := payload.get("type"):
        text = f"{text} ({kind})"
    return text, input_index_in(text)


def _detail_message(detail: object) -> tuple[str, int | None]:
    """FastAPI-style ``detail``: a string, or a list of ``{"loc": [...], "msg": ...}``."""
    if not isinstance(detail, list):
        text = str(detail)
        return text, input_index_in(text)
    parts, index = [], None
    for item in detail:
        if not isinstance(item, dict):
            parts.append(str(item))
            continue
        loc = [str(p) for p in item.get("loc", [])]
        parts.append(f"{'.'.join(loc)}: {item.get('msg', '')}".strip(": "))
        if index is None and "input" in loc[:-1]:
            after = loc[loc.index("input") + 1]
            index = int(after) if after.isdigit() else None
    return "; ".join(parts) or "(empty detail)", index
