"""Helpers every command shares: exit codes, errors, config resolution, statistics.

Only the standard library is imported here at module level; anything heavier
is imported inside the function that needs it.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from embedmux._types import Provider

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_REGRESSION = 3

CONFIG_ENV = "EMBEDMUX_CONFIG"
DEFAULT_CONFIG_FILE = "embedmux.toml"
OFFLINE_ENV = ("EMBEDMUX_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
# Modules the ONNX path runs on, and those a one-time export needs.
ONNX_RUNTIME_MODULES = ("onnxruntime", "tokenizers")
ONNX_EXPORT_MODULES = ("torch", "sentence_transformers", "onnx")

Runner = Callable[[argparse.Namespace], int]


class CliError(Exception):
    """An error the command line reports as one line, with its exit code."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


def add_debug_flag(parser: argparse.ArgumentParser, *, top_level: bool = False) -> None:
    """``--debug`` on ``parser`` (a sub-command's copy never overrides the top-level one)."""
    parser.add_argument(
        "--debug",
        action="store_true",
        default=False if top_level else argparse.SUPPRESS,
        help="show tracebacks and debug logging",
    )


def debug_enabled(args: argparse.Namespace) -> bool:
    """True when ``--debug`` was given before or after the command."""
    return bool(getattr(args, "debug", False))


def command_parser(
    commands: Any, name: str, *, help: str, description: str, epilog: str, run: Runner
) -> argparse.ArgumentParser:
    """A sub-command parser with examples in its epilog, ``--debug`` and its runner."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=help,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_debug_flag(parser)
    parser.set_defaults(run=run)
    return parser


def has_modules(*names: str) -> bool:
    """True when every module in ``names`` is installed (nothing is imported)."""
    return all(importlib.util.find_spec(name) is not None for name in names)


def set_offline_env() -> None:
    """Make this process (and libraries it loads) offline: no Hugging Face downloads."""
    for var in OFFLINE_ENV:
        os.environ[var] = "1"


def resolve_config_path(explicit: str | None) -> Path | None:
    """``--config``, else ``$EMBEDMUX_CONFIG``, else ./embedmux.toml when it exists, else None."""
    if explicit:
        return _existing(Path(explicit).expanduser(), "--config")
    env = os.environ.get(CONFIG_ENV, "").strip()
    if env:
        return _existing(Path(env).expanduser(), f"${CONFIG_ENV}")
    local = Path(DEFAULT_CONFIG_FILE)
    return local if local.is_file() else None


def _existing(path: Path, origin: str) -> Path:
    if not path.is_file():
        raise CliError(f"config file {str(path)!r} (from {origin}) does not exist")
    return path


# ---------------------------------------------------------------- providers


def default_loading(cache_dir: str | os.PathLike[str] | None = None) -> tuple[str, str]:
    """Loading strategy for the default local model, and why.

    ``onnx`` when onnxruntime and tokenizers are installed and an export is
    cached or can be made (torch, sentence-transformers and onnx present);
    ``lazy`` otherwise.
    """
    if not has_modules(*ONNX_RUNTIME_MODULES):
        return "lazy", "onnxruntime or tokenizers is not installed"
    if _export_cached(cache_dir):
        return "onnx", "an ONNX export is cached"
    if has_modules(*ONNX_EXPORT_MODULES):
        return "onnx", "the ONNX export can be made (once)"
    return "lazy", "no ONNX export is cached and torch/onnx are missing to make one"


def _export_cached(cache_dir: str | os.PathLike[str] | None) -> bool:
    from embedmux._local import _defaults as D
    from embedmux._local.cache import cache_root

    folder = cache_root(cache_dir) / D.ONNX_SUBDIR
    prefix = f"{D.DEFAULT_MODEL}-"
    try:
        return any(
            p.name.startswith(prefix) and (p / D.ONNX_MODEL_FILE).is_file()
            for p in folder.iterdir()
        )
    except OSError:
        return False


def default_local_provider(*, offline: bool, loading: str | None = None) -> Provider:
    """``LocalProvider()`` for the default model with the fastest usable loading strategy."""
    from embedmux.providers.local import LocalProvider

    chosen = loading or default_loading()[0]
    return LocalProvider(loading=chosen, offline=offline or None)  # type: ignore[arg-type]


def load_setup(
    config: str | None, *, provider: str | None, offline: bool
) -> tuple[list[Provider], str | None, str]:
    """Providers (chain order), cache URL and a description of where they came from."""
    path = resolve_config_path(config)
    # numpy first, on this thread: a local provider's loader thread imports it too, and two
    # threads importing numpy at once can fail ("partially initialized module").
    import numpy  # noqa: F401

    if path is None:
        if provider not in (None, "local"):
            raise CliError(f"--provider {provider!r}: no config file; only 'local' is available")
        return [default_local_provider(offline=offline)], None, "the default local model"
    from embedmux.cli._cfg import resolve

    resolved = resolve(path, provider=provider)
    return resolved.providers, resolved.cache, f"config {path}"


async def settle(providers: Sequence[Provider]) -> None:
    """Wait for local models still loading in a background thread (call before closing them).

    A process that exits while onnxruntime or torch initialise in a loader thread
    can abort in C++ ("terminate called without an active exception"); this
    happens when a run never needed the model (every text came from the cache).
    """
    for provider in providers:
        if getattr(provider, "status", None) == "loading":
            # the load error, if any, is not ours to report: we are closing anyway
            with contextlib.suppress(Exception):
                await provider.wait_ready()  # type: ignore[attr-defined]


# ---------------------------------------------------------------- statistics


def summarize(values: Sequence[float]) -> dict[str, float]:
    """mean, median, stdev (0 for one value), min and max of ``values``."""
    import statistics

    if not values:
        return {}
    return {
        "mean": statistics.fmean(values),
        "median": statistics.median(values),
        "stdev": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
    }


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, linear between ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def fmt_seconds(value: float) -> str:
    """``0.123`` -> ``123 ms``; ``3.2`` -> ``3.20 s``."""
    if math.isnan(value):
        return "n/a"
    return f"{value * 1000:.0f} ms" if abs(value) < 1 else f"{value:.2f} s"
