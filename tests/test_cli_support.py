"""Helpers for the CLI tests: run ``python -m embedmux`` in a subprocess, one shared model cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

CLI_TIMEOUT_S = 240


_SHARED: dict[str, Path] = {}


def shared_cache_dir(factory: pytest.TempPathFactory) -> Path:
    """One cache folder for every CLI test: the ONNX export is made once per session."""
    if "dir" not in _SHARED:
        _SHARED["dir"] = factory.mktemp("cli-cache")
    return _SHARED["dir"]


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The current (cleaned) environment, offline, plus ``extra``."""
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **(extra or {})}


def run_cli(
    *args: str, stdin: str | None = None, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m embedmux ARGS`` through the real entry point."""
    return subprocess.run(
        [sys.executable, "-m", "embedmux", *args],
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        cwd=cwd,
        env=cli_env(env),
        timeout=CLI_TIMEOUT_S,
        check=False,
    )


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every non-blank line of ``text`` parsed as JSON."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture
def cli_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """EMBEDMUX_CACHE_DIR pointed at the session's shared CLI cache folder."""
    folder = shared_cache_dir(tmp_path_factory)
    monkeypatch.setenv("EMBEDMUX_CACHE_DIR", str(folder))
    return folder
