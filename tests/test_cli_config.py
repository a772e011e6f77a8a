"""``embedmux config check`` and the CLI's help, errors and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_cli_support import cli_cache, cli_env, run_cli

__all__ = ["cli_cache"]
pytestmark = pytest.mark.usefixtures("cli_cache")

SECRET = "sk-planted-secret-0123456789abcdef"
CONFIG = """\
chain = ["openai", "mini"]
[providers.openai]
kind = "openai"
model = "text-embedding-3-small"
api_key = "${PLANTED_KEY}"
[providers.openai.optimization]
max_retries = 7
[providers.mini]
kind = "local"
loading = "onnx"
"""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """A valid two-provider config whose OpenAI key comes from $PLANTED_KEY."""
    path = tmp_path / "embedmux.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def test_valid_config_is_rendered_with_secrets_masked(config_file: Path) -> None:
    """A valid file exits 0 and shows chain and optimisation values, never the secret."""
    done = run_cli("config", "check", str(config_file), env={"PLANTED_KEY": SECRET})
    assert done.returncode == 0, done.stderr
    assert "valid; chain openai -> mini" in done.stdout
    assert "max_retries = 7" in done.stdout
    assert SECRET not in done.stdout + done.stderr
    assert SECRET[-8:] not in done.stdout
    assert "***" in done.stdout


def test_json_output_masks_secrets(config_file: Path) -> None:
    """--json gives the same resolution as data, the key masked."""
    done = run_cli("config", "check", str(config_file), "--json", env={"PLANTED_KEY": SECRET})
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["chain"] == ["openai", "mini"]
    assert data["providers"]["openai"]["api_key"] == "***"
    assert data["providers"]["openai"]["optimization"]["max_retries"] == 7
    assert SECRET not in done.stdout


def test_invalid_config_names_the_key(tmp_path: Path) -> None:
    """An invalid file exits 1 with one error line naming the offending key, no traceback."""
    bad = tmp_path / "bad.toml"
    bad.write_text('[providers.x]\nkind = "nope"\n', encoding="utf-8")
    done = run_cli("config", "check", str(bad))
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("embedmux: error: ")
    assert "providers.x.kind" in line


def test_invalid_optimization_value_names_the_key(tmp_path: Path) -> None:
    """A bad optimisation value names its full key path."""
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[providers.x]\nkind = "local"\n[providers.x.optimization]\nmax_retries = -1\n',
        encoding="utf-8",
    )
    done = run_cli("config", "check", str(bad))
    assert done.returncode == 1
    assert "providers.x.optimization.max_retries" in done.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    """--debug adds the traceback to the error line."""
    bad = tmp_path / "bad.toml"
    bad.write_text("this is = = not toml", encoding="utf-8")
    done = run_cli("--debug", "config", "check", str(bad))
    assert done.returncode == 1
    assert "Traceback" in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("embedmux: error: ")


def test_offline_preflight_says_which_providers_work(config_file: Path) -> None:
    """--offline marks the remote provider as failing and the local one as working, with why."""
    done = run_cli("config", "check", str(config_file), "--offline", "--json",
                   env={"PLANTED_KEY": SECRET})  # fmt: skip
    assert done.returncode == 0, done.stderr
    verdicts = {v["provider"]: v for v in json.loads(done.stdout)["offline_preflight"]}
    assert verdicts["openai"]["works_offline"] is False
    assert "network" in verdicts["openai"]["why"]
    assert verdicts["mini"]["works_offline"] is True
    assert "weights at" in verdicts["mini"]["why"]


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    """A --config path that does not exist is one error line, exit 1."""
    done = run_cli("embed", "--config", str(tmp_path / "absent.toml"), "x")
    assert done.returncode == 1
    assert "does not exist" in done.stderr


@pytest.mark.parametrize(
    "command", ["embed", "profile", "bench", "models", "config", "config check"]
)
def test_every_command_has_help_with_examples(command: str) -> None:
    """--help works for every command and shows examples and exit codes."""
    done = run_cli(*command.split(), "--help")
    assert done.returncode == 0
    assert "examples:" in done.stdout
    assert "exit codes" in done.stdout


def test_unknown_option_is_a_usage_error() -> None:
    """argparse usage errors exit 2."""
    done = run_cli("embed", "--no-such-flag")
    assert done.returncode == 2
    assert "error: unrecognized arguments: --no-such-flag" in done.stderr


def test_help_imports_neither_numpy_nor_httpx() -> None:
    """`embedmux --help` loads no numpy, httpx, pydantic or rich."""
    code = (
        "import sys; from embedmux.cli import main; rc = main(['--help']);"
        " heavy = [m for m in ('numpy', 'httpx', 'pydantic', 'rich', 'torch') if m in sys.modules];"
        " print(rc, heavy, file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(), check=False
    )
    assert done.stderr.strip().splitlines()[-1] == "0 []"
