"""OptimizationConfig: profiles, validation naming the field, overrides by copy."""

from __future__ import annotations

import pytest

from embedmux import ConfigError, OptimizationConfig


@pytest.mark.parametrize(
    ("name", "timeout", "retries", "batch", "pool", "rpm", "tpm"),
    [
        ("openai", 60, 3, 2048, 20, 3000, 1_000_000),
        ("mistral", 30, 3, 128, 10, 100, 100_000),
        ("azure", 90, 4, 2048, 15, 300, 300_000),
        ("local", 10, 2, 32, 5, None, None),
    ],
)
def test_profiles_match_the_design(
    name: str,
    timeout: float,
    retries: int,
    batch: int,
    pool: int,
    rpm: int | None,
    tpm: int | None,
) -> None:
    """Each profile carries the documented numbers."""
    cfg = OptimizationConfig.for_provider(name)
    assert (cfg.timeout_seconds, cfg.max_retries, cfg.max_batch_size) == (timeout, retries, batch)
    assert (cfg.connection_pool_size, cfg.rate_limit_rpm, cfg.rate_limit_tpm) == (pool, rpm, tpm)


def test_unknown_profile_lists_the_known_ones() -> None:
    """An unknown profile name is a ConfigError listing valid names."""
    with pytest.raises(ConfigError, match="azure, local, mistral, openai"):
        OptimizationConfig.for_provider("cohere")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"max_retries": -1}, "max_retries"),
        ({"max_batch_size": 0}, "max_batch_size"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"rate_limit_tpm": 100}, "rate_limit_tpm"),
        ({"max_input_tokens": 10, "max_batch_tokens": 5}, "max_input_tokens"),
        ({"retry_delay_ms": 500, "max_retry_delay_ms": 100}, "max_retry_delay_ms"),
        ({"transport": "curl"}, "transport"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_invalid_values_name_the_field(changes: dict[str, object], field: str) -> None:
    """Invalid values raise ConfigError whose message names the field."""
    with pytest.raises(ConfigError, match=field):
        OptimizationConfig(**changes)


def test_overrides_copy_and_validate() -> None:
    """with_options returns a validated copy and leaves the original unchanged."""
    base = OptimizationConfig.for_provider("openai")
    tuned = base.with_options(max_retries=7)
    assert (base.max_retries, tuned.max_retries) == (3, 7)
    assert tuned.rate_limit_rpm == 3000
    with pytest.raises(ConfigError, match="max_retries"):
        base.with_options(max_retries=-2)


def test_frozen() -> None:
    """A config cannot be mutated in place."""
    cfg = OptimizationConfig()
    with pytest.raises(Exception, match="frozen"):
        cfg.max_retries = 9


def test_for_provider_accepts_overrides() -> None:
    """Overrides given to for_provider apply on top of the profile."""
    assert OptimizationConfig.for_provider("azure", max_retries=5).max_retries == 5
