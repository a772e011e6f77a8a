"""``OptimizationConfig``: the frozen knobs every provider is built from, and its profiles."""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from embedmux import _constants as C
from embedmux._exceptions import ConfigError

Transport = Literal["auto", "httpx", "aiohttp"]


def describe_validation_error(error: ValidationError, *, prefix: str = "") -> str:
    """One line per problem: ``key.path: what was wrong`` (input values are never shown)."""
    lines = []
    for item in error.errors():
        parts = [*(prefix.split(".") if prefix else []), *map(str, item["loc"])]
        path = ".".join(parts)
        lines.append(f"{path or '<root>'}: {item['msg']}")
    return "; ".join(lines)


class OptimizationConfig(BaseModel):
    """Timeouts, retries, batching, rate limits and pooling for one provider.

    Immutable: derive a changed copy with :meth:`with_options`. Invalid values
    raise :class:`~embedmux.ConfigError` naming the field.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    timeout_seconds: float = Field(C.DEFAULT_TIMEOUT_SECONDS, gt=0)
    max_retries: int = Field(C.DEFAULT_MAX_RETRIES, ge=0, le=100)
    retry_delay_ms: int = Field(C.DEFAULT_RETRY_DELAY_MS, ge=0)
    max_retry_delay_ms: int = Field(C.DEFAULT_MAX_RETRY_DELAY_MS, ge=0)
    max_batch_size: int = Field(C.OPENAI_MAX_BATCH_SIZE, ge=1)
    max_batch_tokens: int = Field(C.OPENAI_MAX_BATCH_TOKENS, ge=1)
    max_input_tokens: int = Field(C.OPENAI_MAX_INPUT_TOKENS, ge=1)
    rate_limit_rpm: int | None = Field(None, gt=0)
    rate_limit_tpm: int | None = Field(None, gt=0)
    connection_pool_size: int = Field(C.DEFAULT_CONNECTION_POOL_SIZE, ge=1)
    max_concurrency: int = Field(C.DEFAULT_MAX_CONCURRENCY, ge=1)
    compression_enabled: bool = True
    #: Over-long inputs: ``False`` raises InputError, ``True`` truncates (counted in usage).
    truncate: bool = False
    #: HTTP transport: ``aiohttp`` (aiohttp directly), ``httpx`` (httpx's pool), ``auto`` (aiohttp).
    transport: Transport = "auto"
    circuit_failure_threshold: int = Field(C.DEFAULT_CIRCUIT_FAILURE_THRESHOLD, ge=1)
    circuit_cooldown_seconds: float = Field(C.DEFAULT_CIRCUIT_COOLDOWN_SECONDS, ge=0)

    PROFILES: ClassVar[dict[str, dict[str, Any]]] = {
        "openai": dict(
            timeout_seconds=60.0,
            max_retries=3,
            max_batch_size=2048,
            connection_pool_size=20,
            rate_limit_rpm=3000,
            rate_limit_tpm=1_000_000,
            max_concurrency=8,
        ),
        "mistral": dict(
            timeout_seconds=30.0,
            max_retries=3,
            max_batch_size=128,
            connection_pool_size=10,
            rate_limit_rpm=100,
            rate_limit_tpm=100_000,
            max_batch_tokens=16_384,
            max_input_tokens=8192,
            max_concurrency=4,
        ),
        "azure": dict(
            timeout_seconds=90.0,
            max_retries=4,
            max_batch_size=2048,
            connection_pool_size=15,
            rate_limit_rpm=300,
            rate_limit_tpm=300_000,
            max_concurrency=8,
        ),
        "openai_compatible": dict(
            timeout_seconds=60.0,
            max_retries=3,
            max_batch_size=32,
            connection_pool_size=10,
            max_concurrency=8,
        ),
        "local": dict(
            timeout_seconds=10.0,
            max_retries=2,
            max_batch_size=32,
            connection_pool_size=5,
            max_input_tokens=512,
            max_batch_tokens=32 * 512,
            max_concurrency=1,
        ),
    }

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as e:
            raise ConfigError(f"invalid OptimizationConfig: {describe_validation_error(e)}") from e

    @model_validator(mode="after")
    def _check_consistency(self) -> Self:
        if self.max_retry_delay_ms < self.retry_delay_ms:
            raise ValueError("max_retry_delay_ms must be >= retry_delay_ms")
        if self.max_input_tokens > self.max_batch_tokens:
            raise ValueError(
                f"max_input_tokens ({self.max_input_tokens}) must be <= max_batch_tokens"
                f" ({self.max_batch_tokens}): one input must fit in a batch"
            )
        if self.rate_limit_tpm is not None and self.rate_limit_tpm < self.max_input_tokens:
            raise ValueError(
                f"rate_limit_tpm ({self.rate_limit_tpm}) is smaller than one input's tokens"
                f" (max_input_tokens={self.max_input_tokens}): no request could ever be sent"
            )
        return self

    @classmethod
    def for_provider(cls, name: str, **overrides: Any) -> OptimizationConfig:
        """The tuned profile for ``name`` (openai, mistral, azure, openai_compatible, local)."""
        try:
            profile = cls.PROFILES[name]
        except KeyError:
            known = ", ".join(sorted(cls.PROFILES))
            raise ConfigError(
                f"unknown optimization profile {name!r}; expected one of: {known}"
            ) from None
        return cls(**{**profile, **overrides})

    def with_options(self, **changes: Any) -> OptimizationConfig:
        """A validated copy with ``changes`` applied (unknown fields are an error)."""
        return type(self)(**{**self.model_dump(exclude_unset=False), **changes})

    @property
    def timeout(self) -> float:
        """Alias of ``timeout_seconds``."""
        return self.timeout_seconds
