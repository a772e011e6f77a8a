"""What every HTTP provider shares: the pooled client, auth-free request path, error
mapping and the pipeline. A vendor subclass supplies only its wire details:
``_endpoint``, ``_auth_headers``, and (when not the OpenAI format) ``_request_body``,
``_parse_response`` and ``_error_message``."""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import time
from collections.abc import Mapping, Sequence
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import SecretStr

from embedmux._exceptions import (
    ConfigError,
    ConnectionError,
    InputError,
    TimeoutError,
    status_error,
)
from embedmux._optimization import OptimizationConfig
from embedmux._pipeline import BatchReply, Pipeline
from embedmux._secrets import redact
from embedmux._tokens import TokenCounter, counter_for
from embedmux._transport import Sender, SendError, make_sender
from embedmux._types import INPUT_TYPES, EmbeddingResult, EmbeddingSpace, InputType
from embedmux._validation import check_texts, fit_to_limit
from embedmux._wire import ParsedEmbeddings, openai_error_message, openai_request_body
from embedmux._wire import parse_openai_response as _parse_openai

if TYPE_CHECKING:
    import httpx


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The server's retry hint: ``retry-after-ms``, else ``Retry-After`` (seconds or a date)."""
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    if (value := headers.get("retry-after")) is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value.strip() else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def required_api_key(
    api_key: str | None, env_var: str, *, provider: str, cls: str, alternative: str = ""
) -> str:
    """``api_key``, else ``$env_var``; a ConfigError naming both when neither is set."""
    key = api_key or os.environ.get(env_var)
    if not key:
        raise ConfigError(f"{provider}: {cls} needs api_key (or ${env_var}){alternative}")
    return key


def check_encoding_format(value: str, *, provider: str) -> None:
    """A ConfigError unless ``value`` is an encoding the OpenAI-style body may ask for."""
    if value not in ("base64", "float"):
        raise ConfigError(f"{provider}: encoding_format must be 'base64' or 'float'")


class HTTPProvider:
    """Base of the HTTP providers: implements the ``Provider`` protocol over one pipeline."""

    #: Optimisation profile used when none is given.
    profile: ClassVar[str] = "openai"
    #: Native vector length of the vendor's models, assumed until a response says otherwise.
    native_dimensions: ClassVar[Mapping[str, int]] = {}

    def __init__(
        self,
        *,
        model: str,
        base_url: str,
        api_key: str | None,
        dimensions: int | None = None,
        name: str,
        optimization: OptimizationConfig | None = None,
        space: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if dimensions is not None and dimensions < 1:
            raise InputError(f"{name}: dimensions must be >= 1, got {dimensions}")
        self._model = model
        self._base_url = base_url.rstrip("/")
        self._api_key = SecretStr(api_key) if api_key else None
        self._requested_dimensions = dimensions  # sent to the server
        # known up front (asked for, or the model's native length), else learned from a response
        self._known_dimensions = dimensions or self.native_dimensions.get(model)
        self._name = name
        self._space_model = space or model
        self._space: EmbeddingSpace | None = None
        self.optimization = optimization or OptimizationConfig.for_provider(self.profile)
        self._pipeline = Pipeline(self.optimization, provider=name, model=model)
        self._transport = transport
        self._sender: Sender | None = None
        self._sender_loop: asyncio.AbstractEventLoop | None = None
        self._counter: TokenCounter | None = None

    # --- the Provider protocol -------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def model(self) -> str:
        return self._model

    @property
    def dimensions(self) -> int | None:
        return self._known_dimensions

    @property
    def space(self) -> EmbeddingSpace:
        space = self._space
        if space is None or space.dimensions != self._known_dimensions:
            space = self._space = EmbeddingSpace.of(self._space_model, self._known_dimensions)
        return space

    async def embed(
        self, texts: Sequence[str], *, input_type: InputType = "document"
    ) -> EmbeddingResult:
        """Embed ``texts`` through the pipeline; row ``i`` belongs to ``texts[i]``."""
        items = check_texts(texts)
        if input_type not in INPUT_TYPES:
            raise InputError(f"input_type must be one of {INPUT_TYPES}, got {input_type!r}")
        counter = self._counter or await self._load_counter()
        cfg = self.optimization
        prepared = fit_to_limit(
            items, counter, max_input_tokens=cfg.max_input_tokens, truncate=cfg.truncate
        )
        send = partial(self._send, input_type=input_type)
        vectors, usage = await self._pipeline.run(prepared, send)
        if len(items) and self._known_dimensions is None:
            self._known_dimensions = int(vectors.shape[1])
        return EmbeddingResult(vectors, self._model, self._name, self.space, usage)

    async def aclose(self) -> None:
        sender, self._sender = self._sender, None
        if sender is not None and self._sender_loop is asyncio.get_running_loop():
            await sender.aclose()  # a pool of a finished loop cannot be closed from this one

    async def __aenter__(self) -> HTTPProvider:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self._name!r}, model={self._model!r},"
            f" base_url={self._base_url!r})"
        )

    # --- vendor hooks (OpenAI wire format by default) ----------------------------------

    def _endpoint(self) -> str:
        """Request path relative to the base URL (may carry a query)."""
        return "/embeddings"

    def _auth_headers(self) -> dict[str, str] | None:
        """Headers that authenticate every request (a bearer token by default), built once.
        ``None`` when they change per request: ``_token_headers`` is then awaited each time."""
        return {"authorization": f"Bearer {self._secret()}"} if self._api_key is not None else {}

    async def _token_headers(self) -> dict[str, str]:
        """Per-request authentication, for a vendor whose ``_auth_headers`` is ``None``."""
        raise NotImplementedError(f"{type(self).__name__} has no per-request authentication")

    def _request_body(self, texts: Sequence[str], input_type: InputType) -> dict[str, Any]:
        return openai_request_body(texts, model=self._model, dimensions=self._requested_dimensions)

    def _parse_response(self, content: bytes, *, expected: int) -> ParsedEmbeddings:
        return _parse_openai(
            content, expected=expected, dimensions=self.dimensions, provider=self._name
        )

    def _error_message(self, content: bytes) -> tuple[str, int | None]:
        return openai_error_message(content)

    # --- internals ---------------------------------------------------------------------

    def _secret(self) -> str:
        return self._api_key.get_secret_value() if self._api_key is not None else ""

    @cached_property
    def _path(self) -> str:
        return self._endpoint()

    @cached_property
    def _fixed_auth(self) -> dict[str, str] | None:
        headers = self._auth_headers()  # shared by every request, never mutated
        return None if headers is None else _AuthHeaders(headers)

    async def _request_headers(self) -> dict[str, str]:
        """The authentication headers of the next request."""
        fixed = self._fixed_auth
        return fixed if fixed is not None else await self._token_headers()

    async def _load_counter(self) -> TokenCounter:
        self._counter = await asyncio.to_thread(counter_for, self._model)
        return self._counter

    async def _send(self, texts: list[str], *, input_type: InputType) -> BatchReply:
        """One HTTP request for one batch; maps every failure to a ProviderError."""
        body = _json_bytes(self._request_body(texts, input_type))
        headers = self._fixed_auth
        if headers is None:
            headers = await self._token_headers()
        loop = asyncio.get_running_loop()
        if self._sender is None or self._sender_loop is not loop:  # e.g. asyncio.run again
            self._sender_loop = loop
            self._sender = make_sender(
                self.optimization, base_url=self._base_url, transport=self._transport
            )
        try:
            reply = await self._sender.post(self._path, body, headers)
        except SendError as e:
            kind = TimeoutError if e.timed_out else ConnectionError
            message = redact(f"{self._name}: {e}", [self._secret()])
            raise kind(message, provider=self._name) from None
        if reply.status != 200:
            message, index = self._error_message(reply.content)
            raise status_error(
                reply.status,
                redact(message, [self._secret()]),
                provider=self._name,
                retry_after=retry_after_seconds(reply.headers),
                index=index,
            )
        parsed = self._parse_response(reply.content, expected=len(texts))
        return BatchReply(parsed.vectors, parsed.prompt_tokens, reply.headers)


class _AuthHeaders(dict[str, str]):
    """Authentication headers kept on a provider: their values never show in a repr
    (``vars(provider)`` in a debugger or a log line)."""

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{name!r}: '***'" for name in self) + "}"


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _json_bytes(body: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON, as httpx's ``json=`` writes it (one encoder: ``json.dumps`` with
    options builds a new one per call, which doubled the cost of a query's body)."""
    return _ENCODER.encode(body).encode()
