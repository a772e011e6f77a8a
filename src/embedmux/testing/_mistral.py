"""Mistral's embeddings wire format for the fake server (``vendors=("mistral",)``).

Mistral shares OpenAI's routes (``POST /v1/embeddings``), so a server speaks
one of the two: list ``"mistral"`` in ``vendors`` to get Mistral's.

* Request: ``{"model", "input": [...]}`` plus optional ``encoding_format``
  (``float`` | ``base64``), ``output_dimension``, ``output_dtype`` (only
  ``float``), ``metadata``. Unknown fields are a 422 in FastAPI's
  ``{"detail": [{"loc", "msg", "type"}]}`` shape.
* Errors otherwise: ``{"object": "error", "message", "type", "param", "code"}``;
  401 and 429 come from Mistral's gateway as ``{"message", "request_id"}``.
* Limits: at most ``MAX_BATCH_TOKENS`` tokens per request ("Too many tokens in
  batch"), as the live API answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from embedmux.testing.fake_server import (
    ApiError,
    EmbedRequest,
    FakeServerConfig,
    HttpRequest,
    WireFormat,
    _inputs,
    fake_token_count,
    register_format,
)

#: Native dimensions of Mistral's embedding models (a model in ``cfg.models`` wins).
MISTRAL_MODELS: Final[Mapping[str, int]] = {"mistral-embed": 1024, "codestral-embed": 1536}
#: Models that accept ``output_dimension`` (up to their native size).
_FLEXIBLE: Final = frozenset({"codestral-embed"})
MAX_BATCH_TOKENS: Final = 16_384


class MistralFormat(WireFormat):
    """Mistral: bearer auth, OpenAI-shaped answers, its own body fields and error bodies."""

    name = "mistral"
    fields = frozenset(
        {"model", "input", "encoding_format", "output_dimension", "output_dtype", "metadata"}
    )

    def auth_error(self) -> ApiError:
        """The gateway's 401."""
        return ApiError(401, "Unauthorized", type_="gateway")

    def parse(
        self, body: Any, params: Mapping[str, str], request: HttpRequest, cfg: FakeServerConfig
    ) -> EmbedRequest:
        """Validate a Mistral body (422 for unknown fields, 400 over the token budget)."""
        if not isinstance(body, dict):
            raise ApiError(422, "Input should be a valid dictionary", type_="dict_type")
        if unknown := sorted(set(body) - self.fields):
            raise ApiError(422, "Extra inputs are not permitted", type_="extra_forbidden",
                           param=unknown[0])  # fmt: skip
        model = self.model_for(body, params, cfg)
        encoding = body.get("encoding_format", "float")
        if encoding not in ("float", "base64"):
            raise ApiError(422, "Input should be 'float' or 'base64'", type_="enum",
                           param="encoding_format")  # fmt: skip
        if body.get("output_dtype", "float") != "float":
            raise ApiError(400, "The fake server only serves output_dtype 'float'.")
        native = cfg.models.get(model) or MISTRAL_MODELS.get(model, cfg.default_dimensions)
        inputs = _inputs(body.get("input"))
        total = sum(fake_token_count(text) for text in inputs)
        if total > MAX_BATCH_TOKENS:
            raise ApiError(400, f"Too many tokens in batch. Max is {MAX_BATCH_TOKENS} got {total}")
        dims = self._dimensions(body.get("output_dimension"), model, native)
        return EmbedRequest(model, inputs, encoding == "base64", dims)

    @staticmethod
    def _dimensions(raw: object, model: str, native: int) -> int:
        if raw is None:
            return native
        if model not in _FLEXIBLE:
            raise ApiError(400, f"Model {model} does not support output_dimension.")
        if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= native:
            raise ApiError(422, f"Input should be an integer from 1 to {native}",
                           type_="int_type", param="output_dimension")  # fmt: skip
        return raw

    def render(self, request: EmbedRequest, items: list[dict[str, Any]], tokens: int) -> Any:
        """Mistral's 200: OpenAI-shaped, with an ``id`` and ``completion_tokens``."""
        usage = {"prompt_tokens": tokens, "total_tokens": tokens, "completion_tokens": 0}
        return {"id": "embd-fake", "object": "list", "data": items, "model": request.model,
                "usage": usage}  # fmt: skip

    def error_payload(self, error: ApiError) -> Any:
        """Gateway errors (401, 429), FastAPI validation errors (422), else Mistral's own."""
        if error.status in (401, 429):
            return {"message": error.message, "request_id": "fake-request"}
        if error.status == 422:
            loc = ["body", *(error.param.split(".") if error.param else [])]
            return {"detail": [{"type": error.type, "loc": loc, "msg": error.message}]}
        return {"object": "error", "message": error.message, "type": error.type,
                "param": error.param, "code": error.code}  # fmt: skip


register_format(MistralFormat())
