"""Config file: TOML -> validated models -> providers -> Client, with errors naming file and key."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import embedmux
from embedmux import ConfigError, OptimizationConfig
from embedmux._config_file import build_providers, load_config, render_config
from embedmux.providers import _REGISTRY
from embedmux.providers.azure import AzureOpenAIProvider
from embedmux.testing import FakeEmbeddingServer, fake_vector

SECRET = "sk-planted-secret-9f8e7d6c5b4a"
BASIC = """
chain = ["openai", "azure"]

[providers.openai]
kind = "openai"
model = "text-embedding-3-small"
api_key = "${OPENAI_KEY}"

[providers.azure]
kind = "azure"
model = "text-embedding-3-small"
endpoint = "https://example.openai.azure.com"
deployment = "emb-small"
api_key = "literal-azure-key-0123456789"
[providers.azure.optimization]
max_retries = 5
"""

WriteConfig = Callable[[str], Path]


class StubLocalProvider:
    """Stands in for LocalProvider (same constructor) so config tests load no model."""

    def __init__(
        self,
        model: str = "all-MiniLM-L6-v2",
        *,
        loading: str = "progressive",
        device: str = "auto",
        normalize: bool = True,
        max_seq_length: int | None = None,
        batch_size: int | None = None,
        offline: bool | None = None,
        cache_dir: str | None = None,
        name: str = "local",
        optimization: OptimizationConfig | None = None,
    ) -> None:
        self.name, self.model, self.loading, self.offline = name, model, loading, offline
        self.optimization = optimization
        self.dimensions = 384
        self.space = embedmux.EmbeddingSpace.of(model, 384)

    async def aclose(self) -> None:
        """Nothing to release."""


@pytest.fixture
def write(tmp_path: Path) -> WriteConfig:
    def write_config(text: str) -> Path:
        path = tmp_path / "embedmux.toml"
        path.write_text(text, encoding="utf-8")
        return path

    return write_config


@pytest.fixture
def stub_local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(_REGISTRY, "local", f"{__name__}:StubLocalProvider")


def _error(path: Path | None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


def test_builds_the_same_objects_as_code(
    write: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tables become providers with their fields, profile plus overrides, and the chain order."""
    monkeypatch.setenv("OPENAI_KEY", SECRET)
    client = embedmux.Client.from_config(write(BASIC))
    openai, azure = client.providers
    assert isinstance(openai, embedmux.OpenAIProvider)
    assert isinstance(azure, AzureOpenAIProvider)
    assert (openai.name, azure.name) == ("openai", "azure")
    assert azure.optimization == OptimizationConfig.for_provider("azure", max_retries=5)
    assert openai.optimization == OptimizationConfig.for_provider("openai")
    assert openai._secret() == SECRET


def test_default_chain_is_file_order(write: WriteConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ``chain`` every provider is used, in the order of the file."""
    monkeypatch.setenv("OPENAI_KEY", SECRET)
    config = load_config(write(BASIC.replace('chain = ["openai", "azure"]', "")))
    assert config.chain == ("openai", "azure")
    reverse = load_config(write(BASIC.replace('["openai", "azure"]', '["azure"]')))
    assert [p.name for p in build_providers(reverse)] == ["azure"]


def test_search_order(write: WriteConfig, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Explicit path, then $EMBEDMUX_CONFIG, then ./embedmux.toml; none is a clear error."""
    monkeypatch.setenv("OPENAI_KEY", SECRET)
    path = write(BASIC)
    elsewhere = tmp_path / "sub"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert "$EMBEDMUX_CONFIG" in _error(None)
    monkeypatch.setenv("EMBEDMUX_CONFIG", str(path))
    assert load_config(None).path == path
    monkeypatch.delenv("EMBEDMUX_CONFIG")
    monkeypatch.chdir(tmp_path)
    assert load_config(None).path == Path("embedmux.toml")
    assert "config file not found" in _error(tmp_path / "missing.toml")


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("max_retries = 5", 'max_retries = "many"'), "providers.azure.optimization.max_retries:"),
        (("max_retries = 5", "max_retrys = 5"), "providers.azure.optimization.max_retrys: unknown"),
        (("max_retries = 5", "max_retries = -1"), "greater than or equal to 0"),
        (('deployment = "emb-small"', "deploymnt = 1"), "providers.azure.deploymnt: unknown key"),
        (('deployment = "emb-small"', ""), "providers.azure.deployment: required key is missing"),
        (('kind = "azure"', 'kind = "azur"'), "providers.azure.kind: expected one of azure, local"),
        (('kind = "azure"', ""), "providers.azure.kind: expected one of"),
        (('["openai", "azure"]', '["openai", "azur"]'), "chain[1]: 'azur' is not a provider"),
        (('["openai", "azure"]', '["openai", "openai"]'), "chain[1]: 'openai' appears twice"),
        (('["openai", "azure"]', "[]"), "chain: expected at least one provider"),
        (('chain = ["openai", "azure"]', "chian = []"), "chian: unknown key (expected one of"),
        (('chain = ["openai", "azure"]', "offline = 3.5"), "offline:"),
        (("[providers.azure.optimization]", "[providers.azure.optimizashun]"), "optimizashun"),
        (
            ('model = "text-embedding-3-small"\nendpoint', "dimensions = 'x'\nendpoint"),
            "dimensions",
        ),
        (("max_retries = 5", "max_retries = 5\n[oops"), "invalid TOML"),
    ],
)
def test_errors_name_file_key_and_expectation(
    write: WriteConfig, monkeypatch: pytest.MonkeyPatch, edit: tuple[str, str], expected: str
) -> None:
    """Each mistake is a ConfigError naming the file, the key path and what was expected."""
    monkeypatch.setenv("OPENAI_KEY", SECRET)
    old, new = edit
    assert old in BASIC
    path = write(BASIC.replace(old, new, 1))
    message = _error(path)
    assert str(path) in message
    assert expected in message
    assert SECRET not in message


def test_no_providers_is_an_error(write: WriteConfig) -> None:
    """A file without provider tables says so."""
    assert "providers" in _error(write('cache = "none"\n'))


def test_missing_env_var_names_variable_and_key(write: WriteConfig) -> None:
    """An unset ${VAR} is an error naming the variable and the key that uses it."""
    message = _error(write(BASIC))
    assert "providers.openai.api_key: environment variable OPENAI_KEY is not set" in message


def test_interpolation_and_escape(write: WriteConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    """${VAR} is replaced inside strings; $${...} stays a literal ${...}."""
    monkeypatch.setenv("OPENAI_KEY", SECRET)
    monkeypatch.setenv("HOST", "example")
    text = BASIC.replace("https://example.openai", "https://${HOST}.openai").replace(
        'deployment = "emb-small"', 'deployment = "emb-$${small}"'
    )
    config = load_config(write(text))
    fields = config.providers["azure"].fields
    assert fields["endpoint"] == "https://example.openai.azure.com"
    assert fields["deployment"] == "emb-${small}"


def test_secrets_never_in_repr_render_or_errors(
    write: WriteConfig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A planted secret (from ${...} or literal) stays out of reprs, renderings, logs, errors."""
    caplog.set_level(logging.DEBUG, logger="embedmux")
    monkeypatch.setenv("OPENAI_KEY", SECRET)
    monkeypatch.setenv("CACHE_URL", "memory")
    literal = "literal-azure-key-0123456789"
    config = load_config(write('cache = "${CACHE_URL}"\n' + BASIC))
    client = embedmux.Client.from_config(config.path)
    shown = [repr(config), str(config), render_config(config), repr(client)]
    shown += [repr(p) for p in client.providers]
    for text in shown:
        assert SECRET not in text
        assert literal not in text
    assert 'api_key = "***"' in render_config(config)
    assert 'cache = "***"' in render_config(config)
    bad = write(BASIC.replace('kind = "openai"', 'kind = "${OPENAI_KEY}"'))
    assert SECRET not in _error(bad)
    assert SECRET not in caplog.text


def test_provider_constructor_errors_name_the_table(
    write: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A value the provider itself refuses is reported under its table's key path."""
    monkeypatch.setenv("OPENAI_KEY", SECRET)
    path = write(BASIC.replace('api_key = "literal-azure-key-0123456789"', ""))
    with pytest.raises(ConfigError, match=r"embedmux.toml: providers.azure: .*api_key"):
        embedmux.Client.from_config(path)


def test_mixed_spaces_need_opt_in(write: WriteConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    """A chain crossing embedding spaces is a ConfigError unless allow_mixed_spaces = true."""
    monkeypatch.setenv("OPENAI_KEY", SECRET)
    mixed = BASIC.replace(
        'model = "text-embedding-3-small"\nendpoint', 'model = "text-embedding-3-large"\nendpoint'
    )
    with pytest.raises(ConfigError, match="different spaces"):
        embedmux.Client.from_config(write(mixed))
    client = embedmux.Client.from_config(write("allow_mixed_spaces = true\n" + mixed))
    assert len(client.providers) == 2


def test_cache_is_passed_to_the_client(
    write: WriteConfig, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``cache = "sqlite:///..."`` reaches Client(cache=...); "none" disables it."""
    monkeypatch.setenv("OPENAI_KEY", SECRET)
    db = tmp_path / "c.db"
    client = embedmux.Client.from_config(write(f'cache = "sqlite:///{db}"\n' + BASIC))
    assert client.cache is not None
    assert client.cache.path == db
    assert embedmux.Client.from_config(write('cache = "none"\n' + BASIC)).cache is None


def test_local_kind_is_imported_only_when_configured(
    write: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A config without a local provider never imports embedmux.providers.local."""
    monkeypatch.setenv("OPENAI_KEY", SECRET)
    monkeypatch.delitem(sys.modules, "embedmux.providers.local", raising=False)
    load_config(write(BASIC))
    assert "embedmux.providers.local" not in sys.modules


LOCAL = """
[providers.openai]
kind = "openai"
api_key = "sk-x"

[providers.mini]
kind = "local"
model = "all-MiniLM-L6-v2"
loading = "onnx"
[providers.mini.optimization]
max_batch_size = 8
"""


@pytest.mark.usefixtures("stub_local")
def test_local_fields_pass_through(write: WriteConfig) -> None:
    """Local tables pass their fields to LocalProvider; unknown ones name the key."""
    config = load_config(write('chain = ["mini"]\n' + LOCAL))
    providers = build_providers(config)
    (local,) = providers
    assert isinstance(local, StubLocalProvider)
    assert (local.name, local.loading, local.offline) == ("mini", "onnx", None)
    assert local.optimization == OptimizationConfig.for_provider("local", max_batch_size=8)
    message = _error(write(LOCAL.replace('loading = "onnx"', 'loadin = "onnx"')))
    assert "providers.mini.loadin: unknown key" in message


@pytest.mark.usefixtures("stub_local")
@pytest.mark.parametrize("how", ["file", "env"])
def test_offline_keeps_only_local_providers(
    write: WriteConfig, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """offline = true (or EMBEDMUX_OFFLINE=1) drops HTTP providers and keeps local ones offline."""
    text = LOCAL
    if how == "file":
        text = "offline = true\n" + text
    else:
        monkeypatch.setenv("EMBEDMUX_OFFLINE", "1")
    client = embedmux.Client.from_config(write(text))
    (local,) = client.providers
    assert isinstance(local, StubLocalProvider)
    assert local.offline is True


def test_offline_without_local_provider_is_an_error(
    write: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Offline mode with no local provider says what to add."""
    monkeypatch.setenv("OPENAI_KEY", SECRET)
    message = _error(write("offline = true\n" + BASIC))
    assert "offline mode" in message
    assert 'kind = "local"' in message


def test_example_file_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    """examples/embedmux.toml loads (keys from the environment) and renders."""
    example = Path(__file__).parent.parent / "examples" / "embedmux.toml"
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", SECRET)
    config = load_config(example)
    assert config.chain[:2] == ("openai", "azure")
    assert SECRET not in render_config(config)


async def test_config_built_client_embeds_end_to_end(
    write: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client built from a file talks to the fake Mistral server and gets its vectors."""
    monkeypatch.setenv("MISTRAL_KEY", SECRET)
    with FakeEmbeddingServer(api_key=SECRET, vendors=("mistral",)) as server:
        text = f"""
[providers.mistral]
kind = "mistral"
api_key = "${{MISTRAL_KEY}}"
base_url = "{server.base_url}"
encoding_format = "float"
[providers.mistral.optimization]
retry_delay_ms = 1
rate_limit_rpm = 100000
"""
        async with embedmux.Client.from_config(write(text)) as client:
            result = await client.embed(["a", "b"])
    np.testing.assert_array_equal(result.vectors[1], fake_vector("b", 1024))
    assert result.provider == "mistral"
