"""The config file as the command line sees it, on top of ``embedmux._config_file``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from embedmux._config_file import ConfigModel
    from embedmux._types import Provider


@dataclass
class ResolvedConfig:
    """A validated config file and its chain's providers, built."""

    path: Path
    config: ConfigModel
    providers: list[Provider]  # the chain, in fallback order (offline: local ones only)

    @property
    def cache(self) -> str | None:
        """The config's cache URL, if any."""
        return self.config.cache

    @property
    def chain(self) -> list[str]:
        """Provider names in fallback order."""
        return list(self.config.chain)

    def rendered(self) -> str:
        """The resolved config as TOML, secrets masked."""
        from embedmux._config_file import render_config

        return render_config(self.config)

    def masked(self) -> dict[str, Any]:
        """The resolved config as JSON-ready data, secrets masked."""
        from embedmux._config_file import _masked

        providers = {}
        for name, section in self.config.providers.items():
            fields = {k: _masked(k in section.secret_fields, v) for k, v in section.fields.items()}
            opt = {
                k: _masked(f"providers.{name}.optimization.{k}" in self.config.secret_paths, v)
                for k, v in section.optimization.model_dump().items()
            }
            providers[name] = {"kind": section.kind, **fields, "optimization": opt}
        return {
            "path": str(self.path),
            "chain": self.chain,
            "cache": _masked("cache" in self.config.secret_paths, self.config.cache),
            "offline": self.config.offline,
            "providers": providers,
        }


def resolve(path: Path, *, provider: str | None = None) -> ResolvedConfig:
    """Load and validate ``path``; build its chain (or only the provider called ``provider``)."""
    from embedmux._config_file import build_providers, load_config
    from embedmux.cli._common import CliError

    config = load_config(path)
    if provider is not None:
        if provider not in config.providers:
            known = ", ".join(config.providers)
            raise CliError(f"--provider {provider!r} is not in {path} (providers: {known})")
        if config.offline and config.providers[provider].kind != "local":
            raise CliError(f"--provider {provider!r} is not local and offline mode is on")
        config = config.model_copy(update={"chain": (provider,)})
    return ResolvedConfig(path, config, build_providers(config))
