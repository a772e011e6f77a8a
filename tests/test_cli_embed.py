"""``embedmux embed`` through the real entry point (subprocesses), on the bundled local model."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.test_cli_support import cli_cache, cli_env, json_lines, run_cli

__all__ = ["cli_cache"]
pytestmark = pytest.mark.usefixtures("cli_cache")


def test_one_argument_prints_one_json_line_with_384_dims() -> None:
    """The README's main command prints one JSON line with a 384-dimensional vector."""
    done = run_cli("embed", "hello world")
    assert done.returncode == 0, done.stderr
    (row,) = json_lines(done.stdout)
    assert row["index"] == 0
    assert row["text"] == "hello world"
    assert len(row["embedding"]) == 384


def test_vectors_equal_local_provider() -> None:
    """CLI vectors equal LocalProvider's (whose ONNX export is checked against
    sentence-transformers at cosine 0.9999 when it is made)."""
    texts = ["hello world", "The quick brown fox jumps over the lazy dog.", "a" * 2000]
    done = run_cli("embed", *texts)
    assert done.returncode == 0, done.stderr
    got = np.array([row["embedding"] for row in json_lines(done.stdout)], dtype=np.float32)
    from embedmux.providers.local import LocalProvider

    async def reference() -> np.ndarray:
        provider = LocalProvider(loading="onnx", offline=True)
        try:
            return (await provider.embed(texts)).vectors
        finally:
            await provider.aclose()

    want = asyncio.run(reference())
    cosine = (got * want).sum(axis=1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    assert cosine.min() >= 0.9999
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_stdin_lines_in_order_blank_lines_skipped() -> None:
    """Each non-blank stdin line is one text; output rows keep the input order."""
    done = run_cli("embed", stdin="first\n\nsecond\nthird\n")
    assert done.returncode == 0, done.stderr
    rows = json_lines(done.stdout)
    assert [r["text"] for r in rows] == ["first", "second", "third"]
    assert [r["index"] for r in rows] == [0, 1, 2]


def test_txt_input_to_npy_output(tmp_path: Path) -> None:
    """--input FILE.txt with --output FILE.npy writes a float32 (n, 384) array in input order."""
    source = tmp_path / "texts.txt"
    source.write_text("alpha\nbeta\ngamma\nalpha\n", encoding="utf-8")
    out = tmp_path / "v.npy"
    done = run_cli("embed", "--input", str(source), "--output", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    vectors = np.load(out)
    assert vectors.shape == (4, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_array_equal(vectors[0], vectors[3])
    assert not np.allclose(vectors[0], vectors[1])


def test_jsonl_input_field_to_jsonl_output_matches_npy(tmp_path: Path) -> None:
    """--input FILE.jsonl --field picks the text; JSONL and .npy outputs hold the same vectors."""
    source = tmp_path / "docs.jsonl"
    rows = [{"id": i, "body": f"document number {i}"} for i in range(3)]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out_jsonl, out_npy = tmp_path / "out.jsonl", tmp_path / "out.npy"
    for out in (out_jsonl, out_npy):
        done = run_cli("embed", "--input", str(source), "--field", "body", "--output", str(out))
        assert done.returncode == 0, done.stderr
    lines = json_lines(out_jsonl.read_text(encoding="utf-8"))
    assert [r["text"] for r in lines] == [r["body"] for r in rows]
    np.testing.assert_allclose(
        np.array([r["embedding"] for r in lines], dtype=np.float32), np.load(out_npy), atol=1e-6
    )


def test_bad_jsonl_line_is_one_error_line_naming_it(tmp_path: Path) -> None:
    """A jsonl line without the field fails with exit 1 and one line naming file and line."""
    source = tmp_path / "docs.jsonl"
    source.write_text('{"text": "ok"}\n{"other": 1}\n', encoding="utf-8")
    done = run_cli("embed", "--input", str(source))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"embedmux: error: {source}:2: no string field 'text'"
    ]


def test_no_texts_is_a_usage_error() -> None:
    """Empty stdin and no arguments exit 2 with an error line."""
    done = run_cli("embed", stdin="")
    assert done.returncode == 2
    assert done.stderr.startswith("embedmux: error: no texts")


def test_config_provider_and_cache_resume(tmp_path: Path) -> None:
    """--config/--provider pick a local provider; a second run is answered by the config's cache."""
    db = tmp_path / "cache.db"
    config = tmp_path / "embedmux.toml"
    config.write_text(
        f'cache = "sqlite:///{db}"\n[providers.mini]\nkind = "local"\nloading = "onnx"\n',
        encoding="utf-8",
    )
    first = run_cli("embed", "--config", str(config), "--provider", "mini", "cached text")
    assert first.returncode == 0, first.stderr
    again = run_cli("embed", "one more", cwd=tmp_path)  # ./embedmux.toml is found
    assert again.returncode == 0, again.stderr
    assert db.is_file()
    resumed = run_cli("embed", "--config", str(config), "cached text")  # all from the cache
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout == first.stdout
    unknown = run_cli("embed", "--config", str(config), "--provider", "nope", "x")
    assert unknown.returncode == 1
    assert "'nope'" in unknown.stderr


def test_embed_on_the_onnx_path_never_imports_torch_or_rich() -> None:
    """The default embed path loads neither torch nor rich (no bar for a short input)."""
    code = (
        "import sys; from embedmux.cli import main; rc = main(['embed', 'x']);"
        " print(rc, 'torch' in sys.modules, 'rich' in sys.modules, file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(), check=False
    )
    assert done.stderr.strip().splitlines()[-1] == "0 False False"
