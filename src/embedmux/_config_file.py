"""The config file: TOML ─► ``${ENV}`` interpolation ─► pydantic ─► providers ─► ``Client``.

    load_config(path)       read + validate; the file, key path and expectation in every error
    build_providers(config) the chain's providers, in fallback order
    load_client(cls, path)  both, then ``cls(providers, allow_mixed_spaces=..., cache=...)``
    render_config(config)   the resolved config as TOML, secrets masked (``config check``)

A provider table's fields are checked against its class's constructor, so the
file accepts exactly what code accepts (``transport`` and ``token_provider``
are code-only); ``name`` is the table's name. Secrets (``api_key`` and every
value that came from ``${...}``) never appear in a repr, a rendering or an error.
"""

from __future__ import annotations

import inspect
import os
import re
import tomllib
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    TypeAdapter,
    ValidationError,
    create_model,
)

from embedmux._exceptions import ConfigError
from embedmux._optimization import OptimizationConfig
from embedmux._secrets import MASK, redact
from embedmux.providers import provider_class, provider_kinds

if TYPE_CHECKING:
    from embedmux._client import Client
    from embedmux._types import Provider

ENV_CONFIG = "EMBEDMUX_CONFIG"
ENV_OFFLINE = "EMBEDMUX_OFFLINE"
DEFAULT_FILE = "embedmux.toml"
#: Constructor parameters a file cannot set (code-only objects, or set by the file itself).
CODE_ONLY = frozenset({"self", "name", "optimization", "transport", "token_provider"})
#: Field names whose values are secret wherever they come from.
SECRET_FIELDS = frozenset({"api_key"})
_TOP_LEVEL = ("chain", "cache", "allow_mixed_spaces", "offline", "providers")
_INTERPOLATION = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_C = TypeVar("_C", bound="Client")


class ProviderConfig(BaseModel):
    """One ``[providers.NAME]`` table, validated against its kind's constructor."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    name: str
    kind: str
    #: Constructor keyword arguments (secrets as ``SecretStr``).
    fields: dict[str, Any]
    optimization: OptimizationConfig
    #: Field names whose values are masked (``api_key`` and values from ``${...}``).
    secret_fields: frozenset[str] = frozenset()

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        for key, value in super().__repr_args__():
            if key == "fields":
                yield key, {k: _masked(k in self.secret_fields, v) for k, v in self.fields.items()}
            else:
                yield key, value


class ConfigModel(BaseModel):
    """A validated config file: providers, the resolved chain and the client options."""

    model_config = ConfigDict(frozen=True)

    path: Path | None = None
    providers: dict[str, ProviderConfig]
    #: Fallback order, after ``offline`` filtering.
    chain: tuple[str, ...]
    cache: str | None = None
    allow_mixed_spaces: bool = False
    offline: bool = False
    #: Key paths whose values came from ``${...}`` (masked in reprs and renderings).
    secret_paths: frozenset[str] = frozenset()
    _secrets: frozenset[str] = PrivateAttr(default=frozenset())

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        for key, value in super().__repr_args__():
            yield key, _masked(key == "cache" and "cache" in self.secret_paths, value)


class _TopLevel(BaseModel):
    """The file's top level before provider tables are checked per kind."""

    model_config = ConfigDict(extra="forbid")

    chain: list[str] | None = None
    cache: str | None = None
    allow_mixed_spaces: bool = False
    offline: bool = False
    providers: dict[str, dict[str, Any]] = Field(min_length=1)


# --- public entry points -----------------------------------------------------------------


def find_config(path: str | os.PathLike[str] | None = None) -> Path:
    """``path``, else ``$EMBEDMUX_CONFIG``, else ``./embedmux.toml``; ConfigError if absent."""
    if path is None:
        path = os.environ.get(ENV_CONFIG) or None
    if path is None:
        found = Path(DEFAULT_FILE)
        if not found.is_file():
            raise ConfigError(
                f"no config file: pass a path, set ${ENV_CONFIG} or create ./{DEFAULT_FILE}"
            )
        return found
    found = Path(path).expanduser()
    if not found.is_file():
        raise ConfigError(f"{found}: config file not found")
    return found


def load_config(path: str | os.PathLike[str] | None = None) -> ConfigModel:
    """Read, interpolate and validate a config file (see :func:`find_config` for the search)."""
    file = find_config(path)
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{file}: cannot read the file: {e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{file}: invalid TOML: {e}") from None
    secrets: set[str] = set()
    try:
        return parse_config(raw, file=file, secrets=secrets)
    except ConfigError as e:
        raise ConfigError(redact(str(e), secrets)) from None


def parse_config(
    raw: Mapping[str, Any], *, file: Path | None = None, secrets: set[str] | None = None
) -> ConfigModel:
    """Validate an already-parsed TOML document (``secrets`` collects values to redact)."""
    secrets = set() if secrets is None else secrets
    where = f"{file}: " if file else ""
    data, secret_paths = _interpolate(raw, where=where, secrets=secrets)
    top = _validate(_TopLevel, data, where=where, prefix="", allowed=_TOP_LEVEL)
    providers = {
        name: _provider_config(name, table, where=where, secret_paths=secret_paths)
        for name, table in top.providers.items()
    }
    offline = top.offline or _env_flag(ENV_OFFLINE)
    chain = _resolve_chain(top.chain, providers, offline=offline, where=where)
    if offline:
        providers = {n: _force_offline(p) for n, p in providers.items()}
    config = ConfigModel(
        path=file,
        providers=providers,
        chain=chain,
        cache=top.cache,
        allow_mixed_spaces=top.allow_mixed_spaces,
        offline=offline,
        secret_paths=frozenset(secret_paths),
    )
    for section in providers.values():  # literal keys in the file are secrets too
        secrets.update(_reveal(section.fields[k]) for k in section.secret_fields)
    config._secrets = frozenset(s for s in secrets if isinstance(s, str))
    return config


def build_providers(config: ConfigModel) -> list[Provider]:
    """The providers of ``config.chain``, in order (errors name the file and table)."""
    providers: list[Provider] = []
    for name in config.chain:
        section = config.providers[name]
        kwargs = {k: _reveal(v) for k, v in section.fields.items()}
        try:
            provider = provider_class(section.kind)(
                name=name, optimization=section.optimization, **kwargs
            )
        except (ConfigError, ValueError, TypeError) as e:
            message = f"{_where(config)}providers.{name}: {e}"
            raise ConfigError(redact(message, config._secrets)) from None
        providers.append(provider)
    return providers


def load_client(cls: type[_C], path: str | os.PathLike[str] | None = None) -> _C:
    """A ``cls`` (``Client``) built from the config file at ``path`` (or the default search)."""
    config = load_config(path)
    providers = build_providers(config)
    options: dict[str, Any] = {"allow_mixed_spaces": config.allow_mixed_spaces}
    if config.cache is not None:
        options["cache"] = config.cache
    try:
        return cls(providers, **options)
    except ConfigError as e:
        raise ConfigError(redact(f"{_where(config)}{e}", config._secrets)) from None


def render_config(config: ConfigModel) -> str:
    """The resolved config as TOML (defaults filled in), secrets shown as ``***``."""
    hidden = config.secret_paths
    lines = [f"# resolved from {config.path}" if config.path else "# resolved config"]
    lines.append(f"chain = {_toml(list(config.chain))}")
    if config.cache is not None:
        lines.append(f"cache = {_toml(_masked('cache' in hidden, config.cache))}")
    lines.append(f"allow_mixed_spaces = {_toml(config.allow_mixed_spaces)}")
    lines.append(f"offline = {_toml(config.offline)}")
    for name, section in config.providers.items():
        table = f"providers.{_key(name)}"
        lines += ["", f"[{table}]", f"kind = {_toml(section.kind)}"]
        for key, value in _with_defaults(section).items():
            shown = _masked(key in section.secret_fields, value)
            lines.append(f"{_key(key)} = {_toml(shown)}")
        lines.append(f"[{table}.optimization]")
        for key, value in section.optimization.model_dump().items():
            if value is not None:
                shown = _masked(f"providers.{name}.optimization.{key}" in hidden, value)
                lines.append(f"{key} = {_toml(shown)}")
    return "\n".join(lines) + "\n"


def _with_defaults(section: ProviderConfig) -> dict[str, Any]:
    """The table's values in constructor order, unset ones at their defaults (None left out)."""
    out = {}
    for key, info in _fields_model(provider_class(section.kind)).model_fields.items():
        value = section.fields.get(key, info.default)
        if value is not None:
            out[key] = value
    return out


# --- interpolation -----------------------------------------------------------------------


def _interpolate(raw: Mapping[str, Any], *, where: str, secrets: set[str]) -> tuple[Any, set[str]]:
    """Replace ``${VAR}`` in every string value; ``$${`` is a literal ``${``.

    Returns the new document and the key paths whose values used a variable.
    """
    secret_paths: set[str] = set()

    def walk(value: Any, path: str) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, f"{path}.{k}" if path else k) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if not isinstance(value, str) or "$" not in value:
            return value
        used = False

        def substitute(match: re.Match[str]) -> str:
            nonlocal used
            if match.group(0) == "$${":
                return "${"
            var = match.group(1)
            if not _ENV_NAME.fullmatch(var):
                raise ConfigError(f"{where}{path}: invalid variable reference ${{{var}}}")
            if var not in os.environ:
                raise ConfigError(
                    f"{where}{path}: environment variable {var} is not set"
                    " (referenced as ${" + var + "})"
                )
            used = True
            secrets.add(os.environ[var])
            return os.environ[var]

        result = _INTERPOLATION.sub(substitute, value)
        if used:
            secret_paths.add(path)
            secrets.add(result)
        return result

    return walk(dict(raw), ""), secret_paths


# --- validation --------------------------------------------------------------------------

_M = TypeVar("_M", bound=BaseModel)


def _validate(model: type[_M], data: Any, *, where: str, prefix: str, allowed: Iterable[str]) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ConfigError(where + _describe(e, prefix=prefix, allowed=allowed)) from None


def _describe(error: ValidationError, *, prefix: str, allowed: Iterable[str]) -> str:
    """One ``key.path: problem`` per error; input values are never shown."""
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        path = ".".join([*filter(None, [prefix]), *map(str, item["loc"])]) or "<root>"
        if item["type"] == "extra_forbidden":
            expected = ", ".join(sorted(allowed))
            problems.append(f"{path}: unknown key (expected one of: {expected})")
        elif item["type"] == "missing":
            problems.append(f"{path}: required key is missing")
        else:
            problems.append(f"{path}: {item['msg']}")
    return "; ".join(problems)


def _provider_config(
    name: str, table: Mapping[str, Any], *, where: str, secret_paths: set[str]
) -> ProviderConfig:
    prefix = f"providers.{name}"
    table = dict(table)
    kind = table.pop("kind", None)
    if not isinstance(kind, str) or kind not in provider_kinds():
        got = "missing" if kind is None else f"got {kind!r}"
        raise ConfigError(
            f"{where}{prefix}.kind: expected one of {', '.join(provider_kinds())} ({got})"
        )
    overrides = table.pop("optimization", None) or {}
    if not isinstance(overrides, dict):
        raise ConfigError(f"{where}{prefix}.optimization: expected a table")
    cls = provider_class(kind)
    fields_model = _fields_model(cls)
    allowed = ["kind", "optimization", *fields_model.model_fields]
    fields = _validate(fields_model, table, where=where, prefix=prefix, allowed=allowed)
    values = {
        k: getattr(fields, k) for k in fields_model.model_fields if k in fields.model_fields_set
    }
    secret = {k for k in values if k in SECRET_FIELDS or f"{prefix}.{k}" in secret_paths}
    return ProviderConfig(
        name=name,
        kind=kind,
        fields=values,
        optimization=_optimization(cls, kind, overrides, where=where, prefix=prefix),
        secret_fields=frozenset(secret),
    )


def _optimization(
    cls: type[Any], kind: str, overrides: dict[str, Any], *, where: str, prefix: str
) -> OptimizationConfig:
    """The kind's profile with the table's overrides on top."""
    profile = getattr(cls, "profile", kind)
    try:
        return OptimizationConfig.for_provider(profile).with_options(**overrides)
    except ConfigError as e:
        cause = e.__cause__
        if isinstance(cause, ValidationError):
            allowed = OptimizationConfig.model_fields
            message = _describe(cause, prefix=f"{prefix}.optimization", allowed=allowed)
            raise ConfigError(where + message) from None
        raise ConfigError(f"{where}{prefix}.optimization: {e}") from None


_FIELD_MODELS: dict[type[Any], type[BaseModel]] = {}


def _fields_model(cls: type[Any]) -> type[BaseModel]:
    """A pydantic model of ``cls.__init__``'s keyword arguments a file may set (cached)."""
    if cls not in _FIELD_MODELS:
        _FIELD_MODELS[cls] = _build_fields_model(cls)
    return _FIELD_MODELS[cls]


def _build_fields_model(cls: type[Any]) -> type[BaseModel]:
    globalns = vars(inspect.getmodule(cls) or typing)
    fields: dict[str, Any] = {}
    for param in inspect.signature(cls.__init__).parameters.values():
        if param.name in CODE_ONLY or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = _resolve(param.annotation, globalns)
        if param.name in SECRET_FIELDS:
            annotation = SecretStr | None
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (annotation, default)
    config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)
    return create_model(f"{cls.__name__}Fields", __config__=config, **fields)


def _resolve(annotation: Any, globalns: Mapping[str, Any]) -> Any:
    """A parameter's annotation as a type pydantic can validate, else ``Any``."""
    if annotation is inspect.Parameter.empty:
        return Any
    try:
        resolved = eval(annotation, dict(globalns)) if isinstance(annotation, str) else annotation
        TypeAdapter(resolved)
    except Exception:  # an unresolvable or unsupported hint: accept any value
        return Any
    return resolved


def _resolve_chain(
    chain: list[str] | None,
    providers: Mapping[str, ProviderConfig],
    *,
    offline: bool,
    where: str,
) -> tuple[str, ...]:
    names = list(providers) if chain is None else chain
    for i, name in enumerate(names):
        if name not in providers:
            raise ConfigError(
                f"{where}chain[{i}]: {name!r} is not a provider of this file"
                f" (defined: {', '.join(providers)})"
            )
        if names.index(name) != i:
            raise ConfigError(f"{where}chain[{i}]: {name!r} appears twice")
    if not names:
        raise ConfigError(f"{where}chain: expected at least one provider")
    if offline:
        names = [n for n in names if providers[n].kind == "local"]
        if not names:
            raise ConfigError(
                f"{where}offline mode (offline = true or ${ENV_OFFLINE}=1) keeps only local"
                " providers, and the chain has none; add a [providers.NAME] table with"
                ' kind = "local"'
            )
    return tuple(names)


def _force_offline(section: ProviderConfig) -> ProviderConfig:
    """A local provider told to stay offline unless its table says otherwise."""
    if section.kind != "local" or "offline" in section.fields:
        return section
    if "offline" not in _fields_model(provider_class("local")).model_fields:
        return section
    return section.model_copy(update={"fields": {**section.fields, "offline": True}})


# --- small helpers -----------------------------------------------------------------------


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")


def _where(config: ConfigModel) -> str:
    return f"{config.path}: " if config.path else ""


def _reveal(value: Any) -> Any:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def _masked(secret: bool, value: Any) -> Any:
    if isinstance(value, SecretStr):
        return MASK
    return MASK if secret and value is not None else value


def _key(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else _toml(name)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    text = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
