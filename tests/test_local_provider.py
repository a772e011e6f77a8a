"""LocalProvider on the sentence-transformers path: golden vectors, strategies, errors, usage."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from embedmux._exceptions import ConfigError, InputError, ProviderUnavailableError
from embedmux._local.backends.base import LoadSpec
from embedmux.providers.local import LocalProvider
from tests import local_fixtures
from tests.local_fixtures import CORPUS, GOLDEN_BATCH, OVER_LIMIT, SHORT, cosines

_local_env = local_fixtures._local_env
model_path = local_fixtures.model_path
reference_model = local_fixtures.reference_model
reference_vectors = local_fixtures.reference_vectors
load_calls = local_fixtures.load_calls


TORCH_STRATEGIES = ["lazy", "background", "progressive"]


def corrupt_model(tmp_path: Path) -> Path:
    """A folder that looks like a model but whose files are garbage."""
    folder = tmp_path / "broken-model"
    folder.mkdir()
    (folder / "config.json").write_text("{ this is not json")
    (folder / "modules.json").write_text("[{ nor is this")
    (folder / "model.safetensors").write_bytes(b"\0garbage")
    return folder


async def test_golden_vectors_match_sentence_transformers(
    reference_vectors: npt.NDArray[np.float32],
) -> None:
    """Torch-path vectors equal SentenceTransformer.encode on the same texts (cosine >= 0.9999)."""
    provider = LocalProvider(loading="lazy", batch_size=GOLDEN_BATCH)
    result = await provider.embed(CORPUS)
    assert result.vectors.dtype == np.float32
    assert result.vectors.shape == (len(CORPUS), 384)
    cos = cosines(result.vectors, reference_vectors)
    assert float(cos.min()) >= 0.9999
    np.testing.assert_allclose(result.vectors, reference_vectors, atol=1e-5)
    await provider.aclose()


async def test_padding_cap_splits_passes_and_keeps_vectors(
    reference_vectors: npt.NDArray[np.float32], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Long inputs run in smaller passes under the padded-token cap; vectors and order hold."""
    from embedmux._local import _defaults as D

    monkeypatch.setattr(D, "MAX_PASS_TOKENS", 600)  # two 256-token texts per pass at most
    provider = LocalProvider(loading="lazy", batch_size=64)
    result = await provider.embed(CORPUS)
    assert float(cosines(result.vectors, reference_vectors).min()) >= 0.9999
    assert result.usage.requests > 1
    await provider.aclose()


async def test_result_fields_and_usage() -> None:
    """The result names model, provider and space; usage counts batches, tokens, truncations."""
    provider = LocalProvider(loading="lazy", batch_size=GOLDEN_BATCH)
    result = await provider.embed(CORPUS)
    assert (result.model, result.provider) == ("all-MiniLM-L6-v2", "local")
    assert str(result.space) == "all-minilm-l6-v2@384"
    assert result.usage.requests == -(-len(CORPUS) // GOLDEN_BATCH)
    assert result.usage.truncated == OVER_LIMIT
    assert 0 < result.usage.prompt_tokens <= len(CORPUS) * 256
    single = await provider.embed(["hello world"])
    assert single.usage.prompt_tokens == 4  # [CLS] hello world [SEP]
    assert single.usage.truncated == 0
    await provider.aclose()


async def test_vectors_keep_input_order(reference_model: Any) -> None:
    """Row i belongs to input i whatever the batch and length sorting did."""
    provider = LocalProvider(loading="lazy", batch_size=3)
    texts = list(reversed(SHORT))
    result = await provider.embed(texts)
    expected = reference_model.encode(texts, show_progress_bar=False)
    assert float(cosines(result.vectors, expected).min()) >= 0.9999
    await provider.aclose()


async def test_unnormalized_variant(reference_model: Any) -> None:
    """normalize=False returns raw mean-pooled vectors in the 'unnormalized' space."""
    provider = LocalProvider(loading="lazy", normalize=False)
    result = await provider.embed(SHORT)
    norms = np.linalg.norm(result.vectors, axis=1)
    assert not np.allclose(norms, 1.0)
    expected = reference_model.encode(SHORT, show_progress_bar=False)
    assert float(cosines(result.vectors, expected).min()) >= 0.9999
    assert provider.space.variant == "unnormalized"
    await provider.aclose()


async def test_max_seq_length_override_truncates_more() -> None:
    """A smaller max_seq_length is applied and over-long inputs are counted against it."""
    provider = LocalProvider(loading="lazy", max_seq_length=8)
    assert provider.max_seq_length == 8
    result = await provider.embed(["one two three four five six seven eight nine ten", "hi"])
    assert result.usage.truncated == 1
    assert result.usage.prompt_tokens == 8 + 3
    await provider.aclose()


@pytest.mark.parametrize("strategy", TORCH_STRATEGIES)
async def test_state_machine_reaches_ready(strategy: str) -> None:
    """Each torch strategy goes to ready with a load time and no error; lazy waits for a call."""
    provider = LocalProvider(loading=strategy)  # type: ignore[arg-type]
    expected_start = "not_loaded" if strategy == "lazy" else "loading"
    assert (provider.status, provider.load_time) == (expected_start, None)
    assert await provider.wait_ready(300)
    assert (provider.status, provider.load_time is not None) == ("ready", True)
    assert provider.load_error is None
    assert provider.info is not None
    assert provider.info.backend == "sentence-transformers"
    await provider.aclose()


@pytest.mark.parametrize("strategy", TORCH_STRATEGIES)
async def test_concurrent_first_calls_load_once(strategy: str, load_calls: list[LoadSpec]) -> None:
    """Concurrent first embed calls share one model load and all get vectors."""
    provider = LocalProvider(loading=strategy)  # type: ignore[arg-type]
    results = await asyncio.gather(*(provider.embed([f"text {i}"]) for i in range(8)))
    assert [r.vectors.shape for r in results] == [(1, 384)] * 8
    assert len(load_calls) == 1
    await provider.aclose()


@pytest.mark.parametrize("strategy", TORCH_STRATEGIES)
async def test_missing_model_path_fails_clearly(strategy: str, tmp_path: Path) -> None:
    """A model path that does not exist ends in status error and a clear embed error."""
    provider = LocalProvider(tmp_path / "no-such-model", loading=strategy)  # type: ignore[arg-type]
    assert provider.model == "no-such-model"
    with pytest.raises(ProviderUnavailableError, match="does not exist") as info:
        await provider.embed(["x"])
    assert isinstance(info.value.__cause__, ConfigError)
    assert provider.status == "error"
    assert isinstance(provider.load_error, ConfigError)


@pytest.mark.parametrize("strategy", TORCH_STRATEGIES)
async def test_corrupt_model_dir_fails_clearly(strategy: str, tmp_path: Path) -> None:
    """A corrupt model folder fails to load with a clear error on wait_ready and embed."""
    provider = LocalProvider(corrupt_model(tmp_path), loading=strategy)  # type: ignore[arg-type]
    with pytest.raises(ProviderUnavailableError, match="failed to load"):
        await provider.wait_ready(300)
    with pytest.raises(ProviderUnavailableError, match="broken-model"):
        await provider.embed(["x"])
    assert provider.status == "error"
    assert provider.load_time is not None


async def test_progressive_answers_from_metadata_cache(tmp_path: Path) -> None:
    """After one load, a new progressive provider knows dims and max length before loading."""
    first = LocalProvider(loading="progressive", cache_dir=tmp_path)
    assert first.dimensions is None  # empty cache: unknown until loaded
    assert await first.wait_ready(300)
    await first.aclose()
    second = LocalProvider(loading="lazy", cache_dir=tmp_path)
    assert second.dimensions is None  # only progressive (and onnx) read the cache
    third = LocalProvider(loading="progressive", cache_dir=tmp_path)
    assert third.status == "loading"
    assert (third.dimensions, third.max_seq_length) == (384, 256)
    assert str(third.space) == "all-minilm-l6-v2@384"
    assert await third.wait_ready(300)
    await third.aclose()


async def test_local_directory_model_id_is_folder_name(model_path: Path) -> None:
    """A model given as a directory is named after the directory."""
    provider = LocalProvider(model_path, loading="lazy", name="mine")
    result = await provider.embed(["hello"])
    assert (result.model, result.provider, provider.name) == (model_path.name, "mine", "mine")
    await provider.aclose()


async def test_offline_load_never_opens_a_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading the bundled model touches no network, and HF_HUB_OFFLINE is restored after."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setenv("EMBEDMUX_OFFLINE", "1")
    provider = LocalProvider(loading="background")
    assert provider.max_seq_length is None or provider.max_seq_length == 256
    assert (await provider.embed(["offline"])).vectors.shape == (1, 384)
    assert "HF_HUB_OFFLINE" not in os.environ
    await provider.aclose()


async def test_offline_missing_model_names_places_and_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    """offline=True with an unknown model fails fast, saying where it looked and what to do."""
    provider = LocalProvider("some-org/not-a-real-model", loading="lazy", offline=True)
    with pytest.raises(ProviderUnavailableError, match="looked in"):
        await provider.embed(["x"])


async def test_invalid_inputs_raise_input_error() -> None:
    """Bad input is rejected before any model is loaded."""
    provider = LocalProvider(loading="lazy")
    with pytest.raises(InputError):
        await provider.embed([""])
    with pytest.raises(InputError):
        await provider.embed("a single string")
    assert provider.status == "not_loaded"


@pytest.mark.parametrize(
    "kwargs",
    [{"loading": "eager"}, {"device": "tpu"}, {"batch_size": 0}, {"max_seq_length": -1}],
)
def test_bad_arguments_are_config_errors(kwargs: dict[str, Any]) -> None:
    """Unknown strategies or devices and non-positive sizes fail at construction."""
    with pytest.raises(ConfigError):
        LocalProvider(**kwargs)


async def test_closed_provider_refuses_work() -> None:
    """aclose is idempotent; after it, embed raises ProviderUnavailableError."""
    provider = LocalProvider(loading="lazy")
    await provider.embed(["warm"])
    await provider.aclose()
    await provider.aclose()  # idempotent
    with pytest.raises(ProviderUnavailableError, match="closed"):
        await provider.embed(["x"])


def test_satisfies_provider_protocol() -> None:
    """LocalProvider is a Provider and its repr names model, strategy and status."""
    from embedmux._types import Provider

    provider = LocalProvider(loading="lazy")
    assert isinstance(provider, Provider)
    assert "all-MiniLM-L6-v2" in repr(provider)
    assert "not_loaded" in repr(provider)
