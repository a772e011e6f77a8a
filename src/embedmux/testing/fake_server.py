"""A real HTTP/1.1 embeddings server on 127.0.0.1 for tests, benchmarks and self-checks.

It speaks the OpenAI embeddings wire format (``POST /v1/embeddings`` and
``POST /embeddings``) and Azure OpenAI's (``POST /openai/deployments/{name}/embeddings
?api-version=...``). A vendor format is one small :class:`WireFormat` subclass
registered with :func:`register_format`.

Answers are deterministic:

* :func:`fake_vector` gives the vector of a text: the SHAKE-256 stream of its
  UTF-8 bytes read as little-endian int16, scaled to unit length. A shorter
  ``dimensions`` is the normalised prefix of the longer vector (like OpenAI's
  Matryoshka shortening).
* :func:`fake_token_count` is the server's token rule:
  ``max(1, ceil(len(text.encode("utf-8")) / 4))``. It is deliberately not a
  client's estimator, so a client must reconcile with the reported ``usage``.

Knobs live in a frozen :class:`FakeServerConfig`; change them between tests with
:meth:`FakeEmbeddingServer.configure`. Faults: ``fail_rate`` (seeded),
:meth:`~FakeEmbeddingServer.fail_next`, ``rpm``/``tpm`` over a sliding window of
``rate_window_s`` (429 plus ``x-ratelimit-*`` headers, which also go on every
200), ``misbehave`` (see :data:`MISBEHAVIOURS`), ``max_batch_size`` and input
validation answering 400 like OpenAI.

Ways to run::

    with FakeEmbeddingServer(api_key="sk-test") as server:   # background thread
        server.base_url                                       # http://127.0.0.1:<port>/v1

    python -m embedmux.testing.fake_server --port 0 --tpm 600000 --window 1
    # prints its base URL on the first stdout line; spawn_fake_server() does this for you

A spawned server is driven over ``/_fake/{stats,configure,reset,fail_next,misbehave_next}``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import functools
import gzip
import hashlib
import json
import math
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from types import MappingProxyType, TracebackType
from typing import Any, Final, Literal, Self
from urllib.parse import parse_qs

import numpy as np
import numpy.typing as npt

Misbehaviour = Literal["short", "wrong_dim", "nan", "shuffle", "bad_json", "stall", "disconnect"]
#: short: one vector fewer; wrong_dim: one vector one value short; nan: a NaN value;
#: shuffle: items in reverse order (index fields still right); bad_json: truncated body;
#: stall: never answer; disconnect: close the connection without answering.
MISBEHAVIOURS: Final = frozenset(Misbehaviour.__args__)  # type: ignore[attr-defined]
DEFAULT_MODELS: Final[Mapping[str, int]] = MappingProxyType(
    {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
)
_FIXED_DIMENSION_MODELS: Final = frozenset({"text-embedding-ada-002"})
_MAX_HEADER_BYTES: Final = 64 * 1024
_MAX_BODY_BYTES: Final = 256 * 1024 * 1024
_ERROR_HINT: Final = (
    "Please check the API reference: https://platform.openai.com/docs/api-reference."
)


# ---------------------------------------------------------------- deterministic answers


def fake_vector(text: str, dimensions: int) -> npt.NDArray[np.float32]:
    """The server's unit-length float32 vector for ``text`` (deterministic, prefix-stable)."""
    raw = hashlib.shake_256(text.encode("utf-8")).digest(2 * dimensions)
    vector = np.frombuffer(raw, dtype="<i2").astype(np.float32)
    norm = float(np.sqrt(np.dot(vector, vector)))
    return vector / np.float32(norm if norm > 0 else 1.0)


def fake_token_count(text: str) -> int:
    """Tokens the server bills for ``text``: ``max(1, ceil(utf8_bytes / 4))``."""
    return max(1, (len(text.encode("utf-8")) + 3) // 4)


def format_duration(seconds: float) -> str:
    """OpenAI's ``x-ratelimit-reset-*`` format: ``20ms``, ``1.5s``, ``6m0s``, ``1h2m3s``."""
    if seconds < 1:
        return f"{max(0, math.ceil(seconds * 1000))}ms"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{round(secs, 3):g}s"
    if minutes or hours:
        text = f"{int(minutes)}m{text}"
    return f"{int(hours)}h{text}" if hours else text


@functools.lru_cache(maxsize=2048)
def _b64_vector(text: str, dimensions: int) -> str:
    return base64.b64encode(fake_vector(text, dimensions).tobytes()).decode("ascii")


# ---------------------------------------------------------------- configuration and stats


@dataclass(frozen=True)
class FakeServerConfig:
    """Every knob of the fake server; replace with :meth:`FakeEmbeddingServer.configure`."""

    api_key: str | None = None
    latency_s: float = 0.0
    fail_rate: float = 0.0
    fail_status: int = 503
    seed: int = 0
    rpm: int | None = None
    tpm: int | None = None
    rate_window_s: float = 60.0
    misbehave: Misbehaviour | None = None
    misbehave_rate: float = 1.0
    max_batch_size: int = 2048
    max_input_tokens: int = 8192
    max_request_tokens: int = 300_000
    models: Mapping[str, int] = field(default_factory=lambda: DEFAULT_MODELS)
    default_dimensions: int = 1536
    #: Azure deployment -> model; ``None`` accepts any deployment (a known model name
    #: serves that model, any other name serves ``text-embedding-3-small``).
    azure_deployments: Mapping[str, str] | None = None
    vendors: tuple[str, ...] = ("openai", "azure")
    record: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "vendors", tuple(self.vendors))
        for name in ("fail_rate", "misbehave_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")
        if self.latency_s < 0 or self.rate_window_s <= 0:
            raise ValueError("latency_s must be >= 0 and rate_window_s > 0")
        if any(v is not None and v <= 0 for v in (self.rpm, self.tpm)):
            raise ValueError("rpm and tpm must be positive or None")
        if self.misbehave is not None and self.misbehave not in MISBEHAVIOURS:
            raise ValueError(f"misbehave must be one of {sorted(MISBEHAVIOURS)} or None")
        if not 400 <= self.fail_status <= 599:
            raise ValueError("fail_status must be an HTTP error status")
        if unknown := set(self.vendors) - set(FORMATS):
            raise ValueError(f"unknown vendors {sorted(unknown)}; known: {sorted(FORMATS)}")

    def to_json(self) -> dict[str, Any]:
        """The knobs as JSON-ready values (for ``/_fake/configure`` and the CLI)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["models"] = dict(self.models)
        data["vendors"] = list(self.vendors)
        if self.azure_deployments is not None:
            data["azure_deployments"] = dict(self.azure_deployments)
        return data


@dataclass
class ServerStats:
    """Counters since start or the last :meth:`FakeEmbeddingServer.reset`."""

    requests: int = 0
    inputs: int = 0
    embedded: int = 0
    tokens: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    in_flight: int = 0
    peak_concurrency: int = 0
    status_counts: Counter[int] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        """The counters as a JSON-ready dict (``status_counts`` keys become strings)."""
        data = dataclasses.asdict(self)
        data["status_counts"] = {str(k): v for k, v in self.status_counts.items()}
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ServerStats:
        """Inverse of :meth:`to_json`."""
        counts = Counter({int(k): int(v) for k, v in data["status_counts"].items()})
        return cls(**{**data, "status_counts": counts})


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One API request as received (kept only when ``record=True``)."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: Any


@dataclass(frozen=True, slots=True)
class _Fault:
    status: int
    headers: tuple[tuple[str, str], ...]


# ---------------------------------------------------------------- HTTP primitives


@dataclass(slots=True)
class HttpRequest:
    """A parsed request: lower-case header names, raw body bytes."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


@dataclass(slots=True)
class Reply:
    """What to send back, and how (after ``delay`` s, never, or by dropping the connection)."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0
    stall: bool = False
    disconnect: bool = False

    def to_bytes(self, *, keep_alive: bool) -> bytes:
        """The serialised HTTP/1.1 response."""
        lines = [
            f"HTTP/1.1 {self.status} {_phrase(self.status)}",
            f"content-length: {len(self.body)}",
        ]
        lines += [f"{name}: {value}" for name, value in self.headers]
        if not keep_alive:
            lines.append("connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


@functools.cache
def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


_JSON = json.JSONEncoder(separators=(",", ":"))


def json_reply(status: int, payload: Any, headers: list[tuple[str, str]] | None = None) -> Reply:
    """A JSON response."""
    body = _JSON.encode(payload).encode()
    return Reply(status, body, [("content-type", "application/json"), *(headers or [])])


class ApiError(Exception):
    """A request the vendor would refuse; rendered by the route's :class:`WireFormat`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = (
            status,
            message,
            type_,
            code,
            param,
        )
        self.headers = headers or []


# ---------------------------------------------------------------- vendor wire formats


@dataclass(frozen=True, slots=True)
class EmbedRequest:
    """A validated embeddings request, whatever the vendor."""

    model: str
    inputs: list[str]
    base64: bool
    dimensions: int


class WireFormat:
    """The OpenAI wire format; other vendors subclass and override what differs."""

    name = "openai"
    routes: tuple[str, ...] = (r"/v1/embeddings", r"/embeddings")
    fields = frozenset({"model", "input", "encoding_format", "dimensions", "user"})

    def __init__(self) -> None:
        self.patterns = tuple(re.compile(route) for route in self.routes)

    def authorized(self, request: HttpRequest, api_key: str) -> bool:
        """Whether the request carries ``api_key``."""
        return request.headers.get("authorization") == f"Bearer {api_key}"

    def auth_error(self) -> ApiError:
        """The 401 for a missing or wrong key."""
        message = "Incorrect API key provided. You can find your API key in your account."
        return ApiError(401, message, code="invalid_api_key")

    def model_for(
        self, body: Mapping[str, Any], params: Mapping[str, str], cfg: FakeServerConfig
    ) -> str:
        """The model the request asks for."""
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise ApiError(400, "you must provide a model parameter", param="model")
        return model

    def parse(
        self, body: Any, params: Mapping[str, str], request: HttpRequest, cfg: FakeServerConfig
    ) -> EmbedRequest:
        """Validate the JSON body into an :class:`EmbedRequest`, or raise :class:`ApiError`."""
        if not isinstance(body, dict):
            raise ApiError(400, f"'$' is invalid: expected an object. {_ERROR_HINT}")
        if unknown := sorted(set(body) - self.fields):
            raise ApiError(400, f"Unrecognized request argument supplied: {unknown[0]}")
        model = self.model_for(body, params, cfg)
        encoding = body.get("encoding_format", "float")
        if encoding not in ("float", "base64"):
            msg = f"'$.encoding_format' is invalid: must be 'float' or 'base64'. {_ERROR_HINT}"
            raise ApiError(400, msg, param="encoding_format")
        native = cfg.models.get(model, cfg.default_dimensions)
        return EmbedRequest(
            model,
            _inputs(body.get("input")),
            encoding == "base64",
            _dimensions(body.get("dimensions"), model, native),
        )

    def render(self, request: EmbedRequest, items: list[dict[str, Any]], tokens: int) -> Any:
        """The JSON payload of a 200."""
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        return {"object": "list", "data": items, "model": request.model, "usage": usage}

    def error_payload(self, error: ApiError) -> Any:
        """The JSON payload of an error response."""
        detail = {"message": error.message, "type": error.type, "param": error.param}
        return {"error": {**detail, "code": error.code}}


class AzureFormat(WireFormat):
    """Azure OpenAI: deployment in the path, ``api-version`` query, ``api-key`` header."""

    name = "azure"
    routes = (r"/openai/deployments/(?P<deployment>[^/]+)/embeddings",)
    fields = WireFormat.fields | {"input_type"}

    def authorized(self, request: HttpRequest, api_key: str) -> bool:
        """``api-key: <key>`` or ``Authorization: Bearer <key>``."""
        return request.headers.get("api-key") == api_key or super().authorized(request, api_key)

    def auth_error(self) -> ApiError:
        """Azure's 401 body."""
        message = (
            "Access denied due to invalid subscription key or wrong API endpoint. Make sure to"
            " provide a valid key for an active subscription and use a correct regional API"
            " endpoint for your resource."
        )
        return ApiError(401, message, code="401")

    def model_for(
        self, body: Mapping[str, Any], params: Mapping[str, str], cfg: FakeServerConfig
    ) -> str:
        """The model behind the deployment (``model`` in the body is ignored)."""
        name = params["deployment"]
        if cfg.azure_deployments is None:
            return name if name in cfg.models else "text-embedding-3-small"
        if name not in cfg.azure_deployments:
            msg = "The API deployment for this resource does not exist."
            raise ApiError(404, msg, code="DeploymentNotFound")
        return cfg.azure_deployments[name]

    def parse(
        self, body: Any, params: Mapping[str, str], request: HttpRequest, cfg: FakeServerConfig
    ) -> EmbedRequest:
        """As OpenAI, after checking the ``api-version`` query parameter."""
        if not parse_qs(request.query).get("api-version"):
            msg = "The api-version query parameter (?api-version=) is required for all requests."
            raise ApiError(400, msg, code="MissingApiVersionParameter")
        return super().parse(body, params, request, cfg)

    def error_payload(self, error: ApiError) -> Any:
        """Azure errors: ``{"error": {"code", "message"}}`` (plus OpenAI's fields for 400s)."""
        if error.status in (401, 404):
            return {"error": {"code": error.code, "message": error.message}}
        return super().error_payload(error)


FORMATS: dict[str, WireFormat] = {}


def register_format(wire_format: WireFormat) -> None:
    """Make a vendor format available to ``FakeServerConfig(vendors=(...))`` by its name."""
    FORMATS[wire_format.name] = wire_format


register_format(WireFormat())
register_format(AzureFormat())


def _inputs(raw: object) -> list[str]:
    """``input`` as a non-empty list of non-empty strings, or a 400 naming the culprit."""
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise ApiError(400, f"'$.input' is invalid. {_ERROR_HINT}", param="input")
    for i, text in enumerate(raw):
        if not isinstance(text, str):
            msg = f"Invalid 'input[{i}]': expected a string, got {type(text).__name__}."
            raise ApiError(400, msg, param=f"input[{i}]")
        if not text:
            raise ApiError(400, f"Invalid 'input[{i}]': string too short.", param=f"input[{i}]")
    return raw


def _dimensions(raw: object, model: str, native: int) -> int:
    if raw is None:
        return native
    if model in _FIXED_DIMENSION_MODELS:
        raise ApiError(
            400, "This model does not support specifying dimensions.", param="dimensions"
        )
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= native:
        msg = f"'$.dimensions' is invalid: must be an integer from 1 to {native}."
        raise ApiError(400, msg, param="dimensions")
    return raw


# ---------------------------------------------------------------- rate limits


class SlidingWindowLimiter:
    """RPM and TPM enforced over the last ``rate_window_s`` seconds.

    A window of ``W`` seconds admits ``rpm * W / 60`` requests and ``tpm * W / 60``
    tokens. ``x-ratelimit-limit-*`` report the per-minute limits, ``remaining-*``
    what the window admits right now (OpenAI: "the remaining number permitted
    before exhausting the rate limit"), ``reset-*`` the time until the window is
    empty again.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._events: deque[tuple[float, int]] = deque()
        self._requests = 0
        self._tokens = 0

    def _evict(self, now: float, window: float) -> None:
        while self._events and self._events[0][0] <= now - window:
            self._requests -= 1
            self._tokens -= self._events.popleft()[1]

    def admit(self, tokens: int, cfg: FakeServerConfig) -> float:
        """Record the request and return 0, or return seconds until it would fit (inf: never)."""
        now, window = self._clock(), cfg.rate_window_s
        self._evict(now, window)
        req_quota, tok_quota = _quota(cfg.rpm, window), _quota(cfg.tpm, window)
        if tokens > tok_quota:
            return math.inf
        need_req, need_tok = self._requests + 1 - req_quota, self._tokens + tokens - tok_quota
        if need_req <= 0 and need_tok <= 0:
            self._events.append((now, tokens))
            self._requests += 1
            self._tokens += tokens
            return 0.0
        freed_req = freed_tok = 0
        for stamp, used in self._events:
            freed_req, freed_tok = freed_req + 1, freed_tok + used
            if freed_req >= need_req and freed_tok >= need_tok:
                return stamp + window - now
        return window  # unreachable in practice: an empty window admits any request that fits

    def headers(self, cfg: FakeServerConfig) -> list[tuple[str, str]]:
        """The ``x-ratelimit-*`` headers for the configured limits."""
        now, window = self._clock(), cfg.rate_window_s
        self._evict(now, window)
        reset = format_duration(self._events[-1][0] + window - now if self._events else 0.0)
        out = []
        for kind, limit, used in (
            ("requests", cfg.rpm, self._requests),
            ("tokens", cfg.tpm, self._tokens),
        ):
            if limit is not None:
                remaining = max(0, math.floor(_quota(limit, window) - used))
                out += [
                    (f"x-ratelimit-limit-{kind}", str(limit)),
                    (f"x-ratelimit-remaining-{kind}", str(remaining)),
                    (f"x-ratelimit-reset-{kind}", reset),
                ]
        return out


def _quota(per_minute: int | None, window: float) -> float:
    return math.inf if per_minute is None else per_minute * window / 60


# ---------------------------------------------------------------- the application


class FakeEmbeddingApp:
    """The request handler: synchronous, so the protocol answers without a task per request."""

    def __init__(self, config: FakeServerConfig) -> None:
        self.lock = threading.Lock()
        self._clear(config)

    def _clear(self, config: FakeServerConfig) -> None:
        self.config = config
        self.stats = ServerStats()
        self.recorded: list[RecordedRequest] = []
        self.limiter = SlidingWindowLimiter()
        self.faults: deque[_Fault] = deque()
        self.misbehaviours: deque[Misbehaviour] = deque()
        self.rng = random.Random(config.seed)

    def reset(self, config: FakeServerConfig) -> None:
        """Back to a fresh state with ``config``."""
        with self.lock:
            self._clear(config)

    def handle(self, request: HttpRequest) -> Reply:
        """Answer one request (admin routes under ``/_fake/``, the rest as vendor API)."""
        if request.path.startswith("/_fake/"):
            return self._admin(request)
        cfg, stats = self.config, self.stats
        stats.requests += 1
        if cfg.record:
            self.recorded.append(_record(request))
        reply = self._api(request, cfg)
        reply.delay = cfg.latency_s
        stats.status_counts[reply.status] += 1
        stats.rate_limited += reply.status == 429
        stats.server_errors += reply.status >= 500
        return reply

    def _api(self, request: HttpRequest, cfg: FakeServerConfig) -> Reply:
        for name in cfg.vendors:
            wire = FORMATS[name]
            for pattern in wire.patterns:
                if match := pattern.fullmatch(request.path):
                    if request.method != "POST":
                        return json_reply(
                            405, {"error": {"message": "Method not allowed"}}, [("allow", "POST")]
                        )
                    try:
                        return self._embed(wire, match.groupdict(), request, cfg)
                    except ApiError as e:
                        return json_reply(e.status, wire.error_payload(e), e.headers)
        message = f"Invalid URL ({request.method} {request.path})"
        return json_reply(404, {"error": {"message": message, "type": "invalid_request_error"}})

    def _embed(
        self, wire: WireFormat, params: dict[str, str], request: HttpRequest, cfg: FakeServerConfig
    ) -> Reply:
        if cfg.api_key is not None and not wire.authorized(request, cfg.api_key):
            raise wire.auth_error()
        emb = wire.parse(_load_body(request), params, request, cfg)
        self.stats.inputs += len(emb.inputs)
        tokens = _check_sizes(emb, cfg)
        if self.faults:
            fault = self.faults.popleft()
            raise _fault_error(fault)
        limit_headers = self._rate_limit(tokens, emb.model, cfg)
        if cfg.fail_rate and self.rng.random() < cfg.fail_rate:
            raise _fault_error(_Fault(cfg.fail_status, ()))
        self.stats.embedded += len(emb.inputs)
        self.stats.tokens += tokens
        return self._success(wire, emb, tokens, limit_headers, self._next_misbehaviour(cfg))

    def _rate_limit(self, tokens: int, model: str, cfg: FakeServerConfig) -> list[tuple[str, str]]:
        if cfg.rpm is None and cfg.tpm is None:
            return []
        wait = self.limiter.admit(tokens, cfg)
        headers = self.limiter.headers(cfg)
        if wait == 0:
            return headers
        if math.isinf(wait):
            msg = (
                f"Request too large for {model} on tokens per min (TPM):"
                f" Limit {cfg.tpm}, Requested {tokens}."
            )
            raise ApiError(429, msg, type_="tokens", code="rate_limit_exceeded", headers=headers)
        hint = [
            ("retry-after", str(max(1, math.ceil(wait)))),
            ("retry-after-ms", str(math.ceil(wait * 1000))),
        ]
        msg = f"Rate limit reached for {model}. Please try again in {format_duration(wait)}."
        raise ApiError(
            429, msg, type_="requests", code="rate_limit_exceeded", headers=headers + hint
        )

    def _next_misbehaviour(self, cfg: FakeServerConfig) -> Misbehaviour | None:
        if self.misbehaviours:
            return self.misbehaviours.popleft()
        if cfg.misbehave is not None and (
            cfg.misbehave_rate >= 1 or self.rng.random() < cfg.misbehave_rate
        ):
            return cfg.misbehave
        return None

    def _success(
        self,
        wire: WireFormat,
        emb: EmbedRequest,
        tokens: int,
        headers: list[tuple[str, str]],
        misbehave: Misbehaviour | None,
    ) -> Reply:
        if misbehave in ("stall", "disconnect"):
            return Reply(200, stall=misbehave == "stall", disconnect=misbehave == "disconnect")
        items = [
            {"object": "embedding", "index": i, "embedding": _encode(text, emb)}
            for i, text in enumerate(emb.inputs)
        ]
        if misbehave is not None and misbehave != "bad_json":
            _corrupt(items, emb, misbehave)
        reply = json_reply(200, wire.render(emb, items, tokens), headers)
        if misbehave == "bad_json":
            reply.body = reply.body[: len(reply.body) // 2]
        return reply

    def _admin(self, request: HttpRequest) -> Reply:
        action = request.path.removeprefix("/_fake/")
        args = json.loads(request.body or b"{}")
        with self.lock:
            if action == "configure":
                self.config = dataclasses.replace(self.config, **_json_knobs(args))
            elif action == "reset":
                self._clear(FakeServerConfig(**_json_knobs(args)))
            elif action == "fail_next":
                self.faults.extend(make_faults(**args))
            elif action == "misbehave_next":
                self.misbehaviours.extend([args["kind"]] * int(args.get("n", 1)))
            elif action != "stats":
                return json_reply(404, {"error": f"unknown admin action {action!r}"})
        return json_reply(200, {"stats": self.stats.to_json(), "config": self.config.to_json()})


def make_faults(
    n: int = 1,
    status: int = 429,
    retry_after: float | None = None,
    retry_after_ms: int | None = None,
) -> list[_Fault]:
    """``n`` injected failures with ``status`` and optional Retry-After hints."""
    headers: list[tuple[str, str]] = []
    if retry_after is not None:
        headers.append(("retry-after", f"{retry_after:g}"))
    if retry_after_ms is not None:
        headers.append(("retry-after-ms", str(retry_after_ms)))
    return [_Fault(status, tuple(headers))] * n


def _fault_error(fault: _Fault) -> ApiError:
    if fault.status == 429:
        msg, type_, code = "Rate limit reached (injected).", "requests", "rate_limit_exceeded"
    elif fault.status >= 500:
        msg, type_, code = (
            "The server had an error while processing your request.",
            "server_error",
            None,
        )
    else:
        msg, type_, code = f"Injected error {fault.status}.", "invalid_request_error", None
    return ApiError(fault.status, msg, type_=type_, code=code, headers=list(fault.headers))


def _json_knobs(args: Mapping[str, Any]) -> dict[str, Any]:
    knobs = dict(args)
    if "vendors" in knobs:
        knobs["vendors"] = tuple(knobs["vendors"])
    return knobs


def _record(request: HttpRequest) -> RecordedRequest:
    try:
        body: Any = json.loads(_decompress(request))
    except ValueError:
        body = request.body
    return RecordedRequest(request.method, request.path, request.query, dict(request.headers), body)


def _decompress(request: HttpRequest) -> bytes:
    if request.headers.get("content-encoding", "").lower() == "gzip":
        return gzip.decompress(request.body)
    return request.body


def _load_body(request: HttpRequest) -> Any:
    try:
        return json.loads(_decompress(request))
    except (ValueError, OSError, EOFError):
        msg = (
            "We could not parse the JSON body of your request. (HINT: This likely means"
            " you aren't using your HTTP library correctly.)"
        )
        raise ApiError(400, msg) from None


def _check_sizes(emb: EmbedRequest, cfg: FakeServerConfig) -> int:
    """The request's server-counted tokens, after OpenAI's batch and length limits."""
    if len(emb.inputs) > cfg.max_batch_size:
        msg = (
            f"'$.input' is invalid: too many inputs ({len(emb.inputs)});"
            f" the max number of inputs is {cfg.max_batch_size}."
        )
        raise ApiError(400, msg, param="input")
    total = 0
    for i, text in enumerate(emb.inputs):
        count = fake_token_count(text)
        if count > cfg.max_input_tokens:
            msg = (
                f"Invalid 'input[{i}]': this model's maximum context length is"
                f" {cfg.max_input_tokens} tokens, however you requested {count} tokens."
            )
            raise ApiError(400, msg, param=f"input[{i}]")
        total += count
    if total > cfg.max_request_tokens:
        msg = f"Requested {total} tokens, max {cfg.max_request_tokens} tokens per request."
        raise ApiError(400, msg, param="input")
    return total


def _encode(text: str, emb: EmbedRequest) -> Any:
    if emb.base64:
        return _b64_vector(text, emb.dimensions)
    return fake_vector(text, emb.dimensions).tolist()


def _corrupt(items: list[dict[str, Any]], emb: EmbedRequest, kind: Misbehaviour) -> None:
    """Apply a data misbehaviour in place."""
    if kind == "short":
        items.pop()
    elif kind == "shuffle":
        items.reverse()
    else:
        dims = emb.dimensions - 1 if kind == "wrong_dim" else emb.dimensions
        vector = fake_vector(emb.inputs[-1], max(1, dims))
        if kind == "nan":
            vector[0] = np.nan
        items[-1]["embedding"] = (
            base64.b64encode(vector.tobytes()).decode() if emb.base64 else vector.tolist()
        )


# ---------------------------------------------------------------- the asyncio protocol


class _HttpProtocol(asyncio.Protocol):
    """Minimal HTTP/1.1: keep-alive, pipelining, Content-Length or chunked bodies."""

    def __init__(self, app: FakeEmbeddingApp, connections: set[_HttpProtocol]) -> None:
        self._app, self._connections = app, connections
        self._buffer = bytearray()
        self._pending: deque[tuple[HttpRequest, bool]] = deque()
        self._busy = False
        self._timer: asyncio.TimerHandle | None = None
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._connections.discard(self)
        if self._timer is not None:
            self._timer.cancel()
        if self._busy:
            self._app.stats.in_flight -= 1
            self._busy = False
        self._transport = None

    def close(self) -> None:
        """Drop the connection now (server shutdown)."""
        if self._transport is not None:
            self._transport.abort()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            while (parsed := _parse_request(self._buffer)) is not None:
                self._pending.append(parsed)
        except ValueError as e:
            self._write(Reply(400, str(e).encode()), keep_alive=False)
            return
        self._pump()

    def _pump(self) -> None:
        while self._pending and not self._busy and self._transport is not None:
            request, keep_alive = self._pending.popleft()
            reply = self._app.handle(request)
            if request.path.startswith("/_fake/"):
                self._write(reply, keep_alive)
                continue
            stats = self._app.stats
            stats.in_flight += 1
            stats.peak_concurrency = max(stats.peak_concurrency, stats.in_flight)
            if reply.delay <= 0 and not reply.stall:
                stats.in_flight -= 1
                self._write(reply, keep_alive)
                continue
            self._busy = True
            if not reply.stall:
                loop = asyncio.get_running_loop()
                self._timer = loop.call_later(reply.delay, self._finish, reply, keep_alive)

    def _finish(self, reply: Reply, keep_alive: bool) -> None:
        self._timer, self._busy = None, False
        self._app.stats.in_flight -= 1
        self._write(reply, keep_alive)
        self._pump()

    def _write(self, reply: Reply, keep_alive: bool) -> None:
        if self._transport is None:
            return
        if reply.disconnect:
            self._transport.abort()
            return
        self._transport.write(reply.to_bytes(keep_alive=keep_alive))
        if not keep_alive:
            self._transport.close()


def _parse_request(buffer: bytearray) -> tuple[HttpRequest, bool] | None:
    """Pop one complete request off ``buffer`` (``None`` if incomplete); ValueError if malformed."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > _MAX_HEADER_BYTES:
            raise ValueError("request headers too large")
        return None
    lines = buffer[:end].decode("latin-1").split("\r\n")
    method, target, version = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"malformed header line {line!r}")
        headers[name.strip().lower()] = value.strip()
    start = end + 4
    if "chunked" in headers.get("transfer-encoding", "").lower():
        decoded = _dechunk(buffer, start)
        if decoded is None:
            return None
        body, stop = decoded
    else:
        length = int(headers.get("content-length", "0"))
        if not 0 <= length <= _MAX_BODY_BYTES:
            raise ValueError("bad content-length")
        if len(buffer) < start + length:
            return None
        body, stop = bytes(buffer[start : start + length]), start + length
    del buffer[:stop]
    if "://" in target:  # absolute form, as clients send it to a proxy (RFC 9112 3.2.2)
        target = "/" + target.split("://", 1)[1].partition("/")[2]
    path, _, query = target.partition("?")
    connection = headers.get("connection", "").lower()
    keep_alive = connection != "close" and (version == "HTTP/1.1" or connection == "keep-alive")
    return HttpRequest(method, path, query, headers, body), keep_alive


def _dechunk(buffer: bytearray, pos: int) -> tuple[bytes, int] | None:
    parts: list[bytes] = []
    while True:
        eol = buffer.find(b"\r\n", pos)
        if eol < 0:
            return None
        size = int(buffer[pos:eol].split(b";")[0], 16)
        if size == 0:
            trailer_end = buffer.find(b"\r\n\r\n", eol)
            if trailer_end < 0 and buffer[eol : eol + 4] != b"\r\n\r\n":
                return None
            return b"".join(parts), (trailer_end if trailer_end >= 0 else eol) + 4
        if len(buffer) < eol + 2 + size + 2:
            return None
        parts.append(bytes(buffer[eol + 2 : eol + 2 + size]))
        pos = eol + 2 + size + 2


# ---------------------------------------------------------------- running it


class FakeEmbeddingServer:
    """The fake server on 127.0.0.1 in a background thread with its own event loop.

    ``with FakeEmbeddingServer(api_key="k", tpm=60_000) as server: ...``; the
    port is ephemeral unless given.
    """

    def __init__(
        self,
        config: FakeServerConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        **knobs: Any,
    ) -> None:
        self._initial = dataclasses.replace(config or FakeServerConfig(), **knobs)
        self.app = FakeEmbeddingApp(self._initial)
        self.host, self.port = host, port
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_future: asyncio.Future[None] | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (the Azure endpoint)."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1`` (the OpenAI base URL)."""
        return f"{self.url}/v1"

    @property
    def config(self) -> FakeServerConfig:
        """The knobs in force."""
        return self.app.config

    @property
    def stats(self) -> ServerStats:
        """A snapshot of the counters."""
        with self.app.lock:
            stats = self.app.stats
            return dataclasses.replace(stats, status_counts=Counter(stats.status_counts))

    @property
    def requests(self) -> list[RecordedRequest]:
        """Requests received while ``record=True``."""
        with self.app.lock:
            return list(self.app.recorded)

    def configure(self, **knobs: Any) -> FakeServerConfig:
        """Replace some knobs (validated); counters and queued faults are kept."""
        with self.app.lock:
            self.app.config = dataclasses.replace(self.app.config, **knobs)
            return self.app.config

    def reset(self, **knobs: Any) -> None:
        """Counters, queues, records and rate windows cleared; knobs back to the initial ones."""
        self.app.reset(dataclasses.replace(self._initial, **knobs))

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 429,
        retry_after: float | None = None,
        retry_after_ms: int | None = None,
    ) -> None:
        """The next ``n`` well-formed API requests fail with ``status`` and the given hints."""
        with self.app.lock:
            self.app.faults.extend(make_faults(n, status, retry_after, retry_after_ms))

    def misbehave_next(self, kind: Misbehaviour, n: int = 1) -> None:
        """The next ``n`` successful answers misbehave as ``kind`` (see :data:`MISBEHAVIOURS`)."""
        if kind not in MISBEHAVIOURS:
            raise ValueError(f"kind must be one of {sorted(MISBEHAVIOURS)}")
        with self.app.lock:
            self.app.misbehaviours.extend([kind] * n)

    def start(self) -> Self:
        """Start serving; returns once the port is bound."""
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, name="fake-embedding-server", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise RuntimeError("fake embedding server failed to start") from self._error
        return self

    def stop(self) -> None:
        """Close every connection and the listening socket; join the thread."""
        if self._thread is None or self._loop is None or self._stop_future is None:
            return
        self._loop.call_soon_threadsafe(self._stop_future.set_result, None)
        self._thread.join()
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as e:  # reported to start()
            self._error = e
            self._ready.set()
        finally:
            loop.close()

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        connections: set[_HttpProtocol] = set()
        self._stop_future = loop.create_future()
        server = await loop.create_server(
            lambda: _HttpProtocol(self.app, connections), self.host, self.port, backlog=2048
        )
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            await self._stop_future
        finally:
            server.close()
            for connection in list(connections):
                connection.close()
            await server.wait_closed()
            while connections:  # connection_lost runs on the next loop iterations
                await asyncio.sleep(0)


class FakeServerProcess:
    """A fake server in a child process (``spawn_fake_server``), driven over ``/_fake/``."""

    def __init__(self, process: subprocess.Popen[str], base_url: str) -> None:
        self.process = process
        self.base_url = base_url
        self.url = base_url.removesuffix("/v1")

    def _admin(self, action: str, args: Mapping[str, Any] | None = None) -> dict[str, Any]:
        data = None if args is None else json.dumps(args).encode()
        with urllib.request.urlopen(f"{self.url}/_fake/{action}", data=data, timeout=10) as resp:
            result: dict[str, Any] = json.loads(resp.read())
        return result

    def stats(self) -> ServerStats:
        """The child's counters."""
        return ServerStats.from_json(self._admin("stats")["stats"])

    def configure(self, **knobs: Any) -> dict[str, Any]:
        """Replace some knobs in the child; returns its config."""
        return dict(self._admin("configure", knobs)["config"])

    def reset(self, **knobs: Any) -> None:
        """Fresh counters and windows, knobs = defaults updated by ``knobs``."""
        self._admin("reset", knobs)

    def fail_next(self, n: int = 1, **kwargs: Any) -> None:
        """As :meth:`FakeEmbeddingServer.fail_next`."""
        self._admin("fail_next", {"n": n, **kwargs})

    def stop(self) -> None:
        """Terminate the child and wait for it."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def spawn_fake_server(python: str = sys.executable, **knobs: Any) -> FakeServerProcess:
    """Start ``python -m embedmux.testing.fake_server`` with ``knobs``; returns once it listens."""
    config = dataclasses.replace(FakeServerConfig(), **knobs).to_json()
    cmd = [
        python,
        "-m",
        "embedmux.testing.fake_server",
        "--port",
        "0",
        "--config-json",
        json.dumps(config),
    ]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("http://"):
        process.kill()
        process.wait()
        process.stdout.close()
        raise RuntimeError(f"fake server did not start (first line: {line!r})")
    return FakeServerProcess(process, line)


def _parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, FakeServerConfig]:
    parser = argparse.ArgumentParser(description="Fake OpenAI/Azure embeddings server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--config-json", default="{}", help="FakeServerConfig knobs as JSON")
    parser.add_argument("--api-key")
    parser.add_argument("--rpm", type=int)
    parser.add_argument("--tpm", type=int)
    parser.add_argument("--window", type=float, help="rate-limit window in seconds")
    parser.add_argument("--latency", type=float)
    parser.add_argument("--fail-rate", type=float)
    args = parser.parse_args(argv)
    knobs = _json_knobs(json.loads(args.config_json))
    flags = {
        "api_key": args.api_key,
        "rpm": args.rpm,
        "tpm": args.tpm,
        "rate_window_s": args.window,
        "latency_s": args.latency,
        "fail_rate": args.fail_rate,
    }
    knobs.update({k: v for k, v in flags.items() if v is not None})
    return args, FakeServerConfig(**knobs)


def main(argv: list[str] | None = None) -> None:
    """CLI: serve until SIGTERM/SIGINT, printing the base URL first."""
    args, config = _parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with FakeEmbeddingServer(config, host=args.host, port=args.port) as server:
        print(server.base_url, flush=True)
        while not stop.wait(0.5):
            pass


# Vendor formats kept in their own files register themselves on import.
import embedmux.testing._mistral  # noqa: E402, F401

if __name__ == "__main__":
    # Run the package's copy of this module: the one vendor formats registered into
    # (``python -m`` executes this file a second time as ``__main__``).
    from embedmux.testing.fake_server import main as _main

    _main()
