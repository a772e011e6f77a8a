"""Shared fixtures: a clean environment for every test and the fake OpenAI server."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

_ENV_PREFIXES = ("EMBEDMUX_", "OPENAI_", "AZURE_OPENAI_", "MISTRAL_")
_PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


@pytest.fixture(autouse=True)
def _clean_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No test sees the developer's keys, config or proxy; caches live in a temporary folder."""
    for name in list(os.environ):
        if name.startswith(_ENV_PREFIXES) or name.lower() in _PROXY_VARIABLES:
            monkeypatch.delenv(name)
    monkeypatch.setenv("EMBEDMUX_CACHE_DIR", str(tmp_path_factory.mktemp("embedmux-cache")))


@pytest.fixture(scope="session")
def _fake_server_session() -> Iterator[object]:
    from embedmux.testing import FakeEmbeddingServer

    with FakeEmbeddingServer() as server:
        yield server


@pytest.fixture
def fake_server(_fake_server_session: object) -> object:
    """The session's fake OpenAI server, its knobs and counters reset for this test."""
    server = _fake_server_session
    server.reset()  # type: ignore[attr-defined]
    return server
