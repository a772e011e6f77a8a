"""The local cache directory, metadata cache and content hashes."""

from __future__ import annotations

from pathlib import Path

import pytest

from embedmux._local.cache import (
    ModelMetadata,
    cache_root,
    content_hash,
    fingerprint,
    load_metadata,
    save_metadata,
)
from tests import local_fixtures

_local_env = local_fixtures._local_env


def _model(tmp_path: Path) -> Path:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "weights.bin").write_bytes(b"\0" * 64)
    return folder


def test_argument_beats_environment(tmp_path: Path) -> None:
    """An explicit cache_dir wins over EMBEDMUX_CACHE_DIR."""
    assert cache_root(tmp_path / "arg") == tmp_path / "arg" / "local"


def test_environment_beats_platform_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """EMBEDMUX_CACHE_DIR is used when no argument is given."""
    monkeypatch.setenv("EMBEDMUX_CACHE_DIR", str(tmp_path / "env"))
    assert cache_root() == tmp_path / "env" / "local"


def test_platform_default_when_nothing_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without argument or variable, the platform's user cache dir for embedmux is used."""
    import platformdirs

    monkeypatch.delenv("EMBEDMUX_CACHE_DIR")
    expected = Path(platformdirs.user_cache_dir("embedmux", appauthor=False)) / "local"
    assert cache_root() == expected


def test_metadata_round_trip(tmp_path: Path) -> None:
    """Saved metadata is read back while the model folder is unchanged."""
    folder = _model(tmp_path)
    meta = ModelMetadata("m", str(folder), fingerprint(folder), 384, 256)
    save_metadata(tmp_path / "cache", "m", meta)
    assert load_metadata(tmp_path / "cache", "m") == meta


def test_metadata_goes_stale_when_model_changes(tmp_path: Path) -> None:
    """Changing a model file invalidates its cached metadata."""
    folder = _model(tmp_path)
    save_metadata(
        tmp_path / "cache", "m", ModelMetadata("m", str(folder), fingerprint(folder), 1, 2)
    )
    (folder / "weights.bin").write_bytes(b"\1" * 65)
    assert load_metadata(tmp_path / "cache", "m") is None


def test_corrupt_metadata_is_ignored(tmp_path: Path) -> None:
    """A garbled metadata file reads as a cache miss, not an error."""
    save_metadata(tmp_path / "cache", "m", ModelMetadata("m", "/x", "f", 1, 2))
    for file in (tmp_path / "cache").rglob("*.json"):
        file.write_text("{not json")
    assert load_metadata(tmp_path / "cache", "m") is None


def test_content_hash_tracks_bytes_and_is_memoised(tmp_path: Path) -> None:
    """The content hash changes with the bytes and is remembered in hashes.json."""
    folder = _model(tmp_path)
    first = content_hash(folder, tmp_path / "cache")
    assert content_hash(folder, tmp_path / "cache") == first
    assert (tmp_path / "cache" / "hashes.json").is_file()
    (folder / "weights.bin").write_bytes(b"\1" * 64)
    assert content_hash(folder, tmp_path / "cache") != first
