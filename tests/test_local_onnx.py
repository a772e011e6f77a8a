"""The onnx and quantized strategies: golden vectors, accuracy, cached export, torch-free runs."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

import embedmux._local.backends.export as export_module
from embedmux._exceptions import ConfigError, ProviderUnavailableError
from embedmux._local.backends.base import LoadSpec
from embedmux._local.backends.onnx import pool
from embedmux.providers.local import LocalProvider
from tests import local_fixtures
from tests.local_fixtures import CORPUS, GOLDEN_BATCH, OVER_LIMIT, cosines, run_python
from tests.test_local_provider import corrupt_model

_local_env = local_fixtures._local_env
model_path = local_fixtures.model_path
onnx_cache = local_fixtures.onnx_cache
reference_model = local_fixtures.reference_model
reference_vectors = local_fixtures.reference_vectors
load_calls = local_fixtures.load_calls

ONNX_STRATEGIES = ["onnx", "quantized"]


@pytest.fixture
def no_export(monkeypatch: pytest.MonkeyPatch) -> None:
    """Makes any new ONNX export fail, proving the cached one is used."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was exported again")

    monkeypatch.setattr(export_module, "export_model", refuse)


async def test_onnx_golden_vectors(
    onnx_cache: Path, reference_vectors: npt.NDArray[np.float32], no_export: None
) -> None:
    """ONNX vectors equal sentence-transformers' (cosine >= 0.9999), truncations counted."""
    provider = LocalProvider(loading="onnx", cache_dir=onnx_cache, batch_size=GOLDEN_BATCH)
    result = await provider.embed(CORPUS)
    assert result.vectors.dtype == np.float32
    cos = cosines(result.vectors, reference_vectors)
    assert float(cos.min()) >= 0.9999
    assert result.usage.truncated == OVER_LIMIT
    assert result.usage.requests == -(-len(CORPUS) // GOLDEN_BATCH)
    assert (await provider.embed(["hello world"])).usage.prompt_tokens == 4
    await provider.aclose()


@pytest.mark.parametrize("strategy", ONNX_STRATEGIES)
async def test_padding_cap_splits_passes_and_keeps_vectors(
    strategy: str,
    onnx_cache: Path,
    reference_vectors: npt.NDArray[np.float32],
    monkeypatch: pytest.MonkeyPatch,
    no_export: None,
) -> None:
    """Long inputs run in smaller passes under the padded-token cap; vectors and order hold."""
    from embedmux._local import _defaults as D

    monkeypatch.setattr(D, "MAX_PASS_TOKENS", 600)  # two 256-token texts per pass at most
    provider = LocalProvider(loading=strategy, cache_dir=onnx_cache, batch_size=64)  # type: ignore[arg-type]
    result = await provider.embed(CORPUS)
    cos = cosines(result.vectors, reference_vectors)
    assert float(cos.min() if strategy == "onnx" else cos.mean()) >= (
        0.9999 if strategy == "onnx" else 0.98
    )
    assert result.usage.requests > 1
    assert result.usage.truncated == OVER_LIMIT
    await provider.aclose()


async def test_onnx_and_quantized_built_at_once_in_one_process(tmp_path: Path) -> None:
    """Two providers exporting the same model at the same time take turns (one export, no crash)."""
    cache = tmp_path / "fresh-cache"
    providers = [LocalProvider(loading=s, cache_dir=cache) for s in ("onnx", "quantized")]
    ready = await asyncio.gather(*(p.wait_ready(600) for p in providers))
    assert ready == [True, True]
    exports = list((cache / "local" / "onnx").iterdir())
    assert len(exports) == 1
    for p in providers:
        assert (await p.embed(["hello world"])).vectors.shape == (1, 384)
        await p.aclose()


async def test_quantized_accuracy(
    onnx_cache: Path, reference_vectors: npt.NDArray[np.float32], no_export: None
) -> None:
    """Int8 vectors keep mean cosine >= 0.98 to the reference, and the drift is reported."""
    provider = LocalProvider(loading="quantized", cache_dir=onnx_cache, batch_size=GOLDEN_BATCH)
    result = await provider.embed(CORPUS)
    cos = cosines(result.vectors, reference_vectors)
    assert float(cos.mean()) >= 0.98
    assert provider.info is not None
    report = provider.info.quantization
    assert report is not None
    assert report.cosine_mean >= 0.98
    assert report.cosine_min <= report.cosine_mean
    assert provider.space.compatible(LocalProvider(loading="lazy").space)  # fp32's space
    await provider.aclose()


async def test_unnormalized_onnx_matches_torch_path(onnx_cache: Path, no_export: None) -> None:
    """normalize=False on the onnx path gives the same raw vectors as the torch path."""
    onnx = LocalProvider(loading="onnx", cache_dir=onnx_cache, normalize=False)
    torch_path = LocalProvider(loading="lazy", normalize=False)
    a = (await onnx.embed(CORPUS[:6])).vectors
    b = (await torch_path.embed(CORPUS[:6])).vectors
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
    assert onnx.space.variant == "unnormalized"
    await onnx.aclose()
    await torch_path.aclose()


@pytest.mark.parametrize("strategy", ONNX_STRATEGIES)
async def test_state_machine_reaches_ready(
    strategy: str, onnx_cache: Path, no_export: None
) -> None:
    """onnx and quantized start loading at once, answer dims from the cache, end ready."""
    provider = LocalProvider(loading=strategy, cache_dir=onnx_cache)  # type: ignore[arg-type]
    assert provider.status in ("loading", "ready")
    assert provider.dimensions == 384
    assert await provider.wait_ready(120)
    assert (provider.status, provider.load_error) == ("ready", None)
    assert provider.load_time is not None
    assert provider.info is not None
    assert provider.info.backend.startswith("onnxruntime")
    assert provider.info.export_path is not None
    assert Path(provider.info.export_path).is_relative_to(onnx_cache)
    await provider.aclose()


@pytest.mark.parametrize("strategy", ONNX_STRATEGIES)
async def test_concurrent_first_calls_load_once(
    strategy: str, onnx_cache: Path, load_calls: list[LoadSpec], no_export: None
) -> None:
    """Concurrent first calls on onnx and quantized share exactly one load."""
    provider = LocalProvider(loading=strategy, cache_dir=onnx_cache)  # type: ignore[arg-type]
    results = await asyncio.gather(*(provider.embed([f"text {i}"]) for i in range(8)))
    assert all(r.vectors.shape == (1, 384) for r in results)
    assert len(load_calls) == 1
    await provider.aclose()


@pytest.mark.parametrize("strategy", ONNX_STRATEGIES)
async def test_missing_model_path_fails_clearly(strategy: str, tmp_path: Path) -> None:
    """A model path that does not exist ends in error with a clear message, never a hang."""
    provider = LocalProvider(tmp_path / "absent", loading=strategy)  # type: ignore[arg-type]
    with pytest.raises(ProviderUnavailableError, match="does not exist"):
        await provider.embed(["x"])
    assert provider.status == "error"


@pytest.mark.parametrize("strategy", ONNX_STRATEGIES)
async def test_corrupt_model_dir_fails_clearly(strategy: str, tmp_path: Path) -> None:
    """A corrupt model folder fails the export with a clear error and leaves no export behind."""
    provider = LocalProvider(corrupt_model(tmp_path), loading=strategy, cache_dir=tmp_path / "c")  # type: ignore[arg-type]
    with pytest.raises(ProviderUnavailableError, match="failed to load"):
        await provider.wait_ready(120)
    assert provider.status == "error"
    onnx_dir = tmp_path / "c" / "local" / "onnx"
    assert not onnx_dir.exists() or not any(onnx_dir.iterdir())


async def test_missing_onnxruntime_gives_install_hint(
    monkeypatch: pytest.MonkeyPatch, onnx_cache: Path
) -> None:
    """Without onnxruntime the load fails with `pip install 'embedmux[onnx]'`."""
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    provider = LocalProvider(loading="onnx", cache_dir=onnx_cache)
    with pytest.raises(ProviderUnavailableError, match=r"pip install 'embedmux\[onnx\]'") as info:
        await provider.embed(["x"])
    assert isinstance(info.value.__cause__, ConfigError)


async def test_export_is_keyed_by_model_content(onnx_cache: Path) -> None:
    """The export folder is named after the model id and a hash of the model's files."""
    exports = [p for p in (onnx_cache / "local" / "onnx").iterdir() if not p.name.startswith(".")]
    assert len(exports) == 1
    assert exports[0].name.startswith("all-MiniLM-L6-v2-")
    assert {"model.onnx", "model.int8.onnx", "meta.json", "tokenizer.json"} <= {
        p.name for p in exports[0].iterdir()
    }


def test_fresh_process_embeds_without_torch(
    onnx_cache: Path, reference_vectors: npt.NDArray[np.float32]
) -> None:
    """With the export cached, a fresh process embeds with onnx while torch cannot even import."""
    code = f"""
        import asyncio, json, sys

        class BlockHeavy:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {{"torch", "transformers", "sentence_transformers"}}:
                    raise ImportError("blocked: " + name)
                return None

        sys.meta_path.insert(0, BlockHeavy())
        from embedmux.providers.local import LocalProvider

        async def main():
            p = LocalProvider(loading="onnx", cache_dir={str(onnx_cache)!r})
            r = await p.embed({CORPUS[:3]!r})
            names = ("torch", "transformers", "sentence_transformers")
            heavy = [m for m in names if m in sys.modules]
            print(json.dumps({{"heavy": heavy, "vectors": r.vectors.tolist(), "status": p.status}}))

        asyncio.run(main())
    """
    out = run_python(code)
    assert out["heavy"] == []
    assert out["status"] == "ready"
    vectors = np.asarray(out["vectors"], dtype=np.float32)
    assert float(cosines(vectors, reference_vectors[:3]).min()) >= 0.9999


@pytest.mark.parametrize("mode", ["mean", "cls", "max"])
def test_pool_matches_definition(mode: str) -> None:
    """Pooling ignores padding like sentence-transformers and normalises to unit length."""
    rng = np.random.default_rng(0)
    hidden = rng.normal(size=(2, 4, 3)).astype(np.float32)
    mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0]], dtype=np.int64)
    got = pool(hidden, mask, mode, normalize=False)
    row1 = hidden[1, :2]
    expected = {"mean": row1.mean(axis=0), "cls": row1[0], "max": row1.max(axis=0)}[mode]
    np.testing.assert_allclose(got[1], expected, rtol=1e-6)
    unit = pool(hidden, mask, mode, normalize=True)
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, rtol=1e-6)
