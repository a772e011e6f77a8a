"""Reading a config file for the command line, secrets masked.

The loader is ``embedmux._config_file`` (``load_config`` + ``build_providers``)
when it is installed; until then a minimal reader with the same file format
(see ``docs/cli.md``) stands in, so the commands work either way.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedmux._exceptions import ConfigError

if TYPE_CHECKING:
    from embedmux._types import Provider

MASK = "***"
_SECRET_KEY = re.compile(r"(api[_-]?key|secret|token|password|credential)", re.IGNORECASE)
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TOP_KEYS = {"chain", "cache", "offline", "providers"}


@dataclass
class ResolvedConfig:
    """A validated config: its providers built, its settings rendered with secrets masked."""

    path: Path
    chain: list[str]
    all_providers: list[Provider]
    providers: list[Provider]  # chain order; only local ones when offline
    cache: str | None
    offline: bool
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)  # interpolated, unmasked
    secrets: list[str] = field(default_factory=list)

    def masked(self) -> dict[str, Any]:
        """The resolved settings with every secret replaced by ``***``."""
        return {
            "path": str(self.path),
            "chain": list(self.chain),
            "cache": mask_text(self.cache, self.secrets) if self.cache else None,
            "offline": self.offline,
            "providers": {n: mask_settings(s, self.secrets) for n, s in self.settings.items()},
        }


def mask_text(text: str, secrets: list[str]) -> str:
    """``text`` with every secret value replaced by ``***``."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    return text


def mask_settings(value: Any, secrets: list[str], key: str = "") -> Any:
    """A copy of ``value`` with secret-named keys masked and secret values redacted."""
    if isinstance(value, Mapping):
        return {k: mask_settings(v, secrets, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_settings(v, secrets, key) for v in value]
    if _SECRET_KEY.search(key) and value not in (None, ""):
        return MASK
    if isinstance(value, str):
        return mask_text(value, secrets)
    return value


def resolve(path: Path, *, offline: bool = False) -> ResolvedConfig:
    """Load and validate ``path``; build its providers (``offline`` keeps only local ones)."""
    raw = _read_toml(path)
    settings, secrets = _interpolate_providers(raw)
    try:
        from embedmux import _config_file
    except ImportError:
        built = _build_fallback(raw, settings)
    else:
        built = _build_with(_config_file, path)
    chain = _chain(raw, settings)
    offline = offline or bool(raw.get("offline", False)) or _env_offline()
    by_name = {p.name: p for p in built}
    ordered = [by_name[n] for n in chain if n in by_name]
    usable = [p for p in ordered if not offline or _is_local(p)]
    cache = raw.get("cache")
    return ResolvedConfig(
        path=path,
        chain=chain,
        all_providers=built,
        providers=usable,
        cache=_interpolate(cache, "cache", []) if isinstance(cache, str) else None,
        offline=offline,
        settings=settings,
        secrets=secrets,
    )


def _env_offline() -> bool:
    return os.environ.get("EMBEDMUX_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def _is_local(provider: Provider) -> bool:
    return type(provider).__name__ == "LocalProvider"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from e
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the config file: {e.strerror or e}") from e


def _interpolate(value: Any, key: str, secrets: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, f"{key}.{k}", secrets) for k, v in value.items()}
    if not isinstance(value, str):
        return value

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ConfigError(f"{key}: environment variable ${{{name}}} is not set")
        secrets.append(os.environ[name])
        return os.environ[name]

    result = _ENV_REF.sub(sub, value)
    if _SECRET_KEY.search(key.rsplit(".", 1)[-1]):
        secrets.append(result)
    return result


def _interpolate_providers(raw: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown key (expected {', '.join(sorted(_TOP_KEYS))})")
    providers = raw.get("providers", {})
    if not isinstance(providers, dict) or not providers:
        raise ConfigError("providers: at least one [providers.NAME] table is required")
    secrets: list[str] = []
    settings: dict[str, dict[str, Any]] = {}
    for name, table in providers.items():
        if not isinstance(table, dict):
            raise ConfigError(f"providers.{name}: must be a table")
        settings[name] = _interpolate(table, f"providers.{name}", secrets)
    return settings, secrets


def _chain(raw: dict[str, Any], settings: dict[str, dict[str, Any]]) -> list[str]:
    chain = raw.get("chain", list(settings))
    if not isinstance(chain, list) or not all(isinstance(n, str) for n in chain):
        raise ConfigError("chain: must be a list of provider names")
    for name in chain:
        if name not in settings:
            raise ConfigError(f"chain: {name!r} is not a provider (known: {', '.join(settings)})")
    return list(chain)


def _build_with(module: Any, path: Path) -> list[Provider]:
    config = module.load_config(path)
    return list(module.build_providers(config))


def _build_fallback(raw: dict[str, Any], settings: dict[str, dict[str, Any]]) -> list[Provider]:
    from embedmux.providers import provider_class, provider_kinds

    built: list[Provider] = []
    for name, table in settings.items():
        kind = table.get("kind")
        if kind not in provider_kinds():
            raise ConfigError(
                f"providers.{name}.kind: must be one of {', '.join(provider_kinds())};"
                f" got {kind!r}"
            )
        kwargs = {k: v for k, v in table.items() if k not in ("kind", "optimization")}
        kwargs["name"] = name
        if "optimization" in table:
            kwargs["optimization"] = _optimization(name, kind, table["optimization"])
        built.append(_construct(provider_class(kind), name, kwargs))
    return built


def _optimization(name: str, kind: str, table: Any) -> Any:
    from embedmux._optimization import OptimizationConfig

    if not isinstance(table, dict):
        raise ConfigError(f"providers.{name}.optimization: must be a table")
    try:
        return OptimizationConfig.for_provider(kind, **table)
    except ConfigError as e:
        raise ConfigError(f"providers.{name}.optimization: {e}") from e


def _construct(cls: type[Any], name: str, kwargs: dict[str, Any]) -> Provider:
    try:
        provider: Provider = cls(**kwargs)
    except TypeError as e:
        bad = re.search(r"keyword argument '(\w+)'", str(e))
        key = bad.group(1) if bad else "?"
        raise ConfigError(f"providers.{name}.{key}: unknown key for {cls.__name__}") from e
    except ConfigError as e:
        text = str(e)
        raise ConfigError(text if f"providers.{name}" in text else f"providers.{name}: {text}") from e
    return provider
