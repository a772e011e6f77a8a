"""``embedmux config check``: validate a config file, show its resolution, preflight offline."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedmux.cli._common import EXIT_ERROR, EXIT_OK, CliError, command_parser

if TYPE_CHECKING:
    from embedmux._types import Provider

_EPILOG = """\
examples:
  embedmux config check                       ./embedmux.toml (or $EMBEDMUX_CONFIG)
  embedmux config check prod.toml --json
  embedmux config check prod.toml --offline   which providers work without a network, and why

exit codes: 0 valid (and, with --offline, at least one provider works offline),
            1 invalid (the error names the key) or nothing works offline, 2 usage
"""


def register(commands: Any) -> None:
    """Add the ``config`` sub-command and its ``check`` action."""
    p = command_parser(
        commands,
        "config",
        help="validate a config file (config check)",
        description="Config file tools.",
        epilog=_EPILOG,
        run=_no_action,
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    check = command_parser(
        actions,
        "check",
        help="validate a config file and show the resolved providers (secrets masked)",
        description="Validate a config file; print providers, chain and optimisation values.",
        epilog=_EPILOG,
        run=run_check,
    )
    check.add_argument(
        "file",
        nargs="?",
        metavar="FILE",
        help="config file (default: $EMBEDMUX_CONFIG, then ./embedmux.toml)",
    )
    check.add_argument(
        "--offline",
        action="store_true",
        help="preflight: which providers of the chain work without a network",
    )
    check.add_argument("--json", action="store_true", help="machine-readable output")


def _no_action(args: argparse.Namespace) -> int:
    raise CliError("config needs an action: embedmux config check [FILE]", 2)


def run_check(args: argparse.Namespace) -> int:
    """Load and validate; print the resolution, and the offline preflight when asked."""
    from embedmux.cli._cfg import resolve
    from embedmux.cli._common import resolve_config_path

    path = resolve_config_path(args.file)
    if path is None:
        raise CliError("no config file: pass FILE, set $EMBEDMUX_CONFIG or create ./embedmux.toml")
    resolved = resolve(path)
    try:
        data = resolved.masked()
        data["spaces"] = {p.name: str(p.space) for p in resolved.providers}
        checks = [preflight(p) for p in resolved.providers] if args.offline else None
    finally:
        _close(resolved.providers)
    if args.json:
        print(json.dumps({**data, "offline_preflight": checks} if checks else data, indent=2))
    else:
        print(f"{path}: valid; chain {' -> '.join(resolved.chain)}\n")
        print(resolved.rendered(), end="")
        if checks is not None:
            _print_preflight(checks)
    if checks is not None and not any(item["works_offline"] for item in checks):
        print("embedmux: error: no provider of the chain works offline", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def preflight(provider: Provider) -> dict[str, Any]:
    """Whether ``provider`` can work without a network, and why (nothing is loaded)."""
    name = provider.name
    if type(provider).__name__ != "LocalProvider":
        url = str(getattr(provider, "_base_url", "") or "")
        if any(host in url for host in ("://127.0.0.1", "://localhost", "://[::1]")):
            return _verdict(name, True, f"server on this machine ({url}); it must be running")
        return _verdict(
            name, False, f"remote API ({url or type(provider).__name__}) needs a network"
        )
    return _local_preflight(provider)


def _verdict(name: str, works: bool, why: str) -> dict[str, Any]:
    return {"provider": name, "works_offline": works, "why": why}


def _local_preflight(provider: Any) -> dict[str, Any]:
    from embedmux._exceptions import ConfigError
    from embedmux._local.resolve import resolve_model
    from embedmux.cli._common import ONNX_EXPORT_MODULES, ONNX_RUNTIME_MODULES, has_modules

    name, spec = provider.name, provider._spec
    try:
        found = resolve_model(spec.model, offline=True)
    except ConfigError as e:
        return _verdict(name, False, str(e))
    where = f"weights at {found.path}"
    if spec.strategy not in ("onnx", "quantized"):
        if has_modules("torch", "sentence_transformers"):
            return _verdict(name, True, f"{where}; sentence-transformers installed")
        return _verdict(name, False, f"{where} but sentence-transformers/torch are not installed")
    if not has_modules(*ONNX_RUNTIME_MODULES):
        return _verdict(name, False, f"{where} but onnxruntime/tokenizers are not installed")
    if _export_present(spec, Path(str(found.path)), quantized=spec.strategy == "quantized"):
        return _verdict(name, True, f"{where}; ONNX export cached under {spec.cache_root}")
    if has_modules(*ONNX_EXPORT_MODULES):
        return _verdict(
            name,
            True,
            f"{where}; ONNX export not cached yet: made on first load"
            " (one-time, no network, torch needed then)",
        )
    return _verdict(
        name, False, f"{where}; no ONNX export cached and torch/onnx missing to make one"
    )


def _export_present(spec: Any, folder: Path, *, quantized: bool) -> bool:
    from embedmux._local import _defaults as D
    from embedmux._local.backends.onnx import ExportMeta, export_dir
    from embedmux._local.cache import content_hash

    target = export_dir(spec.cache_root, spec.model_id, content_hash(folder, spec.cache_root))
    meta = ExportMeta.read(target)
    if meta is None:
        return False
    return not quantized or (target / D.ONNX_INT8_FILE).is_file()


def _close(providers: list[Provider]) -> None:
    import asyncio

    from embedmux.cli._common import settle

    async def close_all() -> None:
        await settle(providers)
        for provider in providers:
            await provider.aclose()

    asyncio.run(close_all())


def _print_preflight(checks: list[dict[str, Any]]) -> None:
    print("\noffline preflight:")
    for item in checks:
        mark = "works" if item["works_offline"] else "FAILS"
        print(f"  {item['provider']:<16} {mark:<6} {item['why']}")
