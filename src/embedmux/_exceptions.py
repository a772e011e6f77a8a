"""The embedmux exception tree.

    EmbedmuxError
    ├── ConfigError                  bad OptimizationConfig, provider arguments or config file
    ├── InputError                   a bad input text; ``.index`` names it
    ├── ProviderError                a provider failed; ``.provider`` names it
    │   ├── AuthenticationError      401 / 403
    │   ├── BadRequestError          other 4xx; ``.index`` when the server names an input
    │   ├── NotFoundError            404 (wrong model, deployment or URL)
    │   ├── RateLimitError           429 after retries are spent; ``.retry_after``
    │   ├── ServerError              5xx after retries are spent
    │   ├── ResponseError            a malformed response (wrong count, dimension, NaN)
    │   ├── ProviderUnavailableError circuit open, model failed to load
    │   └── TransportError           no usable HTTP answer
    │       ├── TimeoutError         the request timed out
    │       └── ConnectionError      the connection failed
    └── AllProvidersFailedError      every provider of a chain failed; ``.causes``

``status_error`` is the one place that maps an HTTP status to its exception.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class EmbedmuxError(Exception):
    """Base class of every error embedmux raises."""


class ConfigError(EmbedmuxError):
    """A configuration value is invalid; the message names the field or key."""


class InputError(EmbedmuxError, ValueError):
    """An input text is invalid; ``index`` is its position in the call."""

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


class ProviderError(EmbedmuxError):
    """A provider could not produce vectors."""

    #: True when the next provider of a chain may take over the work.
    fallback: bool = False
    #: True when the request may succeed if retried as is.
    retryable: bool = False
    #: Inputs of the call that got no vector (set by the pipeline; empty if unknown).
    failed_indices: tuple[int, ...] = ()

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status_code: int | None = None,
        index: int | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.status_code = status_code
        self.index = index


class AuthenticationError(ProviderError):
    """The provider rejected the credentials (401/403)."""


class BadRequestError(ProviderError):
    """The provider rejected the request (4xx other than 401/403/404/429)."""


class NotFoundError(ProviderError):
    """The model, deployment or URL does not exist (404)."""


class RateLimitError(ProviderError):
    """The provider answered 429; ``retry_after`` is its hint in seconds, if any."""

    fallback = True
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class ServerError(ProviderError):
    """The provider answered 5xx."""

    fallback = True
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class ResponseError(ProviderError):
    """The provider answered 2xx with a body that cannot be trusted."""

    fallback = True
    retryable = True


class ProviderUnavailableError(ProviderError):
    """The provider cannot serve now (circuit open, model failed to load)."""

    fallback = True


class TransportError(ProviderError):
    """No usable HTTP answer arrived."""

    fallback = True
    retryable = True


class TimeoutError(TransportError):
    """The request timed out."""


class ConnectionError(TransportError):
    """The connection to the provider failed."""


class AllProvidersFailedError(EmbedmuxError):
    """Every provider of the chain failed; ``causes`` maps provider name to its error."""

    def __init__(self, causes: Mapping[str, BaseException]) -> None:
        self.causes = dict(causes)
        lines = "; ".join(f"{name}: {type(e).__name__}: {e}" for name, e in self.causes.items())
        super().__init__(f"all providers failed ({lines})")


def status_error(
    status_code: int,
    message: str,
    *,
    provider: str,
    retry_after: float | None = None,
    index: int | None = None,
) -> ProviderError:
    """Map an HTTP status to the matching ``ProviderError`` (the only such mapping)."""
    text = f"{provider}: HTTP {status_code}: {message}"
    if status_code == 429:
        return RateLimitError(
            text, provider=provider, status_code=status_code, retry_after=retry_after
        )
    if status_code >= 500:
        return ServerError(
            text, provider=provider, status_code=status_code, retry_after=retry_after
        )
    if status_code in (401, 403):
        return AuthenticationError(text, provider=provider, status_code=status_code)
    if status_code == 404:
        return NotFoundError(text, provider=provider, status_code=status_code)
    return BadRequestError(text, provider=provider, status_code=status_code, index=index)


def failed_indices_note(indices: Sequence[int]) -> str:
    """Short human text for a list of failed input indices."""
    shown = ", ".join(map(str, indices[:10]))
    more = f" and {len(indices) - 10} more" if len(indices) > 10 else ""
    return f"inputs [{shown}{more}]"
