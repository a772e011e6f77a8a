"""The public surface: every name in __all__ resolves, and import embedmux stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

import embedmux


def test_all_exports_resolve() -> None:
    """Each name in embedmux.__all__ is an attribute of the package."""
    for name in embedmux.__all__:
        assert getattr(embedmux, name) is not None, name
    # the order is ruff's (RUF022); the lazy map and __all__ name the same things
    assert set(embedmux.__all__) == {*embedmux._EXPORTS, "__version__"}
    assert len(set(embedmux.__all__)) == len(embedmux.__all__)


def test_unknown_attribute_raises() -> None:
    """A misspelt name raises AttributeError, not something stranger."""
    with pytest.raises(AttributeError, match="Clinet"):
        embedmux.Clinet  # noqa: B018


def test_import_does_not_load_heavy_stacks() -> None:
    """import embedmux (and building an OpenAI client) loads no torch, transformers or tiktoken."""
    code = (
        "import sys, embedmux\n"
        "embedmux.Client([embedmux.OpenAIProvider(api_key='k')])\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers', 'tiktoken',"
        " 'onnxruntime') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
