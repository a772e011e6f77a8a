"""The local provider's cache directory: model metadata and content hashes.

Layout under the cache root (``cache_dir`` argument, else ``$EMBEDMUX_CACHE_DIR``,
else the platform's user cache dir for ``embedmux``)::

    local/metadata/<key>.json   dimensions and max_seq_length of a loaded model
    local/hashes.json           stat fingerprint -> content hash of a model folder
    local/onnx/<id>-<hash>/     ONNX exports (see ``backends.export``)

Every write goes to a temporary file first and is renamed into place, so a
crash or a concurrent process never leaves a half-written file behind.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from embedmux._local import _defaults as D
from embedmux._local.env import cache_dir_from_env

logger = logging.getLogger("embedmux.local")
_hash_lock = threading.Lock()


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The local provider's cache folder (not created here)."""
    if cache_dir is not None:
        base = Path(cache_dir).expanduser()
    else:
        base = cache_dir_from_env() or _platform_cache_dir()
    return base / D.CACHE_SUBDIR


def _platform_cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("embedmux", appauthor=False))


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> Any:
    """The JSON in ``path``, or ``None`` when it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def model_files(folder: Path) -> list[Path]:
    """The files of a model folder, sorted, hidden files and folders skipped."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def fingerprint(folder: Path) -> str:
    """A cheap identity of a model folder: names, sizes and modification times of its files."""
    h = hashlib.sha256()
    for p in model_files(folder):
        st = p.stat()
        h.update(f"{p.relative_to(folder).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def content_hash(folder: Path, root: Path) -> str:
    """SHA-256 over a model folder's file names and bytes, memoised by its fingerprint."""
    index_path = root / D.HASH_INDEX_FILE
    key = f"{folder.resolve()}|{fingerprint(folder)}"
    with _hash_lock:
        index = read_json(index_path)
        index = index if isinstance(index, dict) else {}
        if isinstance(index.get(key), str):
            return str(index[key])
        digest = _hash_files(folder)
        index[key] = digest
        write_json_atomic(index_path, index)
    return digest


def _hash_files(folder: Path) -> str:
    h = hashlib.sha256()
    for p in model_files(folder):
        h.update(p.relative_to(folder).as_posix().encode() + b"\0")
        with p.open("rb") as f:
            h.update(hashlib.file_digest(f, "sha256").digest())
    return h.hexdigest()


@dataclass(frozen=True, slots=True)
class ModelMetadata:
    """What progressive loading answers before the model is loaded."""

    model_id: str
    path: str
    fingerprint: str
    dimensions: int
    max_seq_length: int


def _metadata_path(root: Path, model: str) -> Path:
    key = hashlib.sha256(model.encode()).hexdigest()[:32]
    return root / D.METADATA_SUBDIR / f"{key}.json"


def load_metadata(root: Path, model: str) -> ModelMetadata | None:
    """Cached metadata for ``model`` (as the user named it), if still valid for its folder."""
    data = read_json(_metadata_path(root, model))
    try:
        meta = ModelMetadata(**data)
    except TypeError:
        return None
    folder = Path(meta.path)
    try:
        if folder.is_dir() and fingerprint(folder) == meta.fingerprint:
            return meta
    except OSError:
        pass
    logger.debug("metadata cache for %s is stale", model)
    return None


def save_metadata(root: Path, model: str, meta: ModelMetadata) -> None:
    """Record ``meta`` for ``model``; a failure to write is logged, never raised."""
    try:
        write_json_atomic(_metadata_path(root, model), asdict(meta))
    except OSError as e:
        logger.warning("could not write the metadata cache under %s: %s", root, e)
