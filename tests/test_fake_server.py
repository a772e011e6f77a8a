"""The fake embeddings server speaks the vendors' wire formats and its knobs do what they say."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from embedmux.testing import (
    FORMATS,
    FakeEmbeddingServer,
    FakeServerConfig,
    SlidingWindowLimiter,
    WireFormat,
    fake_token_count,
    fake_vector,
    format_duration,
    spawn_fake_server,
)

MODEL = "text-embedding-3-small"
KEY = "sk-test"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def server() -> Iterator[FakeEmbeddingServer]:
    with FakeEmbeddingServer(api_key=KEY) as srv:
        yield srv


@pytest.fixture
def client(server: FakeEmbeddingServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, headers=AUTH, timeout=10) as c:
        yield c


def embed(client: httpx.Client, inputs: Any, **body: Any) -> httpx.Response:
    return client.post("/embeddings", json={"model": MODEL, "input": inputs, **body})


def decode(item: dict[str, Any]) -> np.ndarray[Any, np.dtype[np.float32]]:
    raw = item["embedding"]
    if isinstance(raw, str):
        return np.frombuffer(base64.b64decode(raw), dtype="<f4")
    return np.asarray(raw, dtype=np.float32)


# ---------------------------------------------------------------- pure functions


def test_fake_vector_is_deterministic_unit_length() -> None:
    """fake_vector gives the same unit-length float32 vector for the same text."""
    v = fake_vector("hello", 1536)
    assert v.dtype == np.float32
    assert v.shape == (1536,)
    assert np.isclose(np.linalg.norm(v), 1.0, atol=1e-5)
    assert np.array_equal(v, fake_vector("hello", 1536))
    assert not np.allclose(v, fake_vector("hello!", 1536))


def test_fake_vector_shorter_dimensions_is_normalised_prefix() -> None:
    """A shorter vector is the normalised prefix of the longer one (Matryoshka-style)."""
    full, short = fake_vector("text", 1536), fake_vector("text", 256)
    assert np.allclose(short, full[:256] / np.linalg.norm(full[:256]), atol=1e-6)


@pytest.mark.parametrize(
    ("text", "tokens"), [("", 1), ("abcd", 1), ("abcde", 2), ("é" * 4, 2), ("x" * 400, 100)]
)
def test_fake_token_count_rule(text: str, tokens: int) -> None:
    """Tokens are max(1, ceil(utf8 bytes / 4))."""
    assert fake_token_count(text) == tokens


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0ms"), (0.02, "20ms"), (1, "1s"), (1.5, "1.5s"), (360, "6m0s"), (3723, "1h2m3s")],
)
def test_format_duration_openai_style(seconds: float, text: str) -> None:
    """Durations use OpenAI's x-ratelimit-reset-* format."""
    assert format_duration(seconds) == text


def test_sliding_window_limiter_frees_quota_as_time_passes() -> None:
    """The limiter admits up to the window's quota and says exactly when more fits."""
    now = [100.0]
    limiter = SlidingWindowLimiter(clock=lambda: now[0])
    cfg = FakeServerConfig(tpm=600, rate_window_s=1.0)  # 10 tokens per 1 s window
    assert limiter.admit(6, cfg) == 0
    now[0] += 0.25
    assert limiter.admit(4, cfg) == 0
    assert limiter.admit(3, cfg) == pytest.approx(0.75)
    assert limiter.admit(11, cfg) == float("inf")
    now[0] += 0.75
    assert limiter.admit(3, cfg) == 0


def test_config_rejects_bad_knobs() -> None:
    """Out-of-range knobs raise ValueError naming them."""
    with pytest.raises(ValueError, match="fail_rate"):
        FakeServerConfig(fail_rate=1.5)
    with pytest.raises(ValueError, match="misbehave"):
        FakeServerConfig(misbehave="oops")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="vendors"):
        FakeServerConfig(vendors=("nope",))


# ---------------------------------------------------------------- wire format


def test_float_response_matches_fake_vector(client: httpx.Client) -> None:
    """Float responses carry one vector per input, in order, with the server's token count."""
    texts = ["first", "second text", "third"]
    resp = embed(client, texts)
    assert resp.status_code == 200
    body = resp.json()
    assert body["object"] == "list"
    assert body["model"] == MODEL
    assert [item["index"] for item in body["data"]] == [0, 1, 2]
    for text, item in zip(texts, body["data"], strict=True):
        assert item["object"] == "embedding"
        assert np.array_equal(decode(item), fake_vector(text, 1536))
    tokens = sum(map(fake_token_count, texts))
    assert body["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}


def test_base64_response_decodes_to_fake_vector(client: httpx.Client) -> None:
    """base64 embeddings are little-endian float32 equal to fake_vector."""
    resp = embed(client, ["a", "b"], encoding_format="base64")
    items = resp.json()["data"]
    assert all(isinstance(item["embedding"], str) for item in items)
    assert np.array_equal(decode(items[1]), fake_vector("b", 1536))


def test_string_input_dimensions_and_model_defaults(client: httpx.Client) -> None:
    """A bare string is one input; `dimensions` shortens; the model sets the default length."""
    assert len(decode(embed(client, "one", dimensions=64).json()["data"][0])) == 64
    resp = client.post("/embeddings", json={"model": "text-embedding-3-large", "input": "x"})
    assert len(decode(resp.json()["data"][0])) == 3072


def test_route_without_v1_prefix(server: FakeEmbeddingServer) -> None:
    """POST /embeddings works for base URLs without /v1."""
    resp = httpx.post(f"{server.url}/embeddings", json={"model": MODEL, "input": "x"}, headers=AUTH)
    assert resp.status_code == 200


def test_unknown_path_and_method(client: httpx.Client) -> None:
    """Unknown paths answer 404 and GET on the endpoint 405."""
    assert client.post("/nope", json={}).status_code == 404
    assert client.get("/embeddings").status_code == 405


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"model": MODEL, "input": []}, "'$.input' is invalid"),
        ({"model": MODEL, "input": ["a", "b", "c", ""]}, "input[3]"),
        ({"model": MODEL, "input": ["a", 7]}, "input[1]"),
        ({"model": MODEL, "input": "a", "extra": 1}, "Unrecognized request argument"),
        ({"input": "a"}, "model"),
        ({"model": MODEL, "input": "a", "encoding_format": "int8"}, "encoding_format"),
        ({"model": MODEL, "input": "a", "dimensions": 0}, "dimensions"),
        ({"model": "text-embedding-ada-002", "input": "a", "dimensions": 8}, "dimensions"),
        ({"model": MODEL, "input": ["x" * 40_000]}, "input[0]"),
    ],
)
def test_invalid_requests_get_400_naming_the_problem(
    client: httpx.Client, body: dict[str, Any], fragment: str
) -> None:
    """Invalid bodies answer 400 with an OpenAI error that names the field or input index."""
    resp = client.post("/embeddings", json=body)
    assert resp.status_code == 400
    assert fragment in resp.json()["error"]["message"]
    assert resp.json()["error"]["type"] == "invalid_request_error"


def test_malformed_json_body_gets_400(client: httpx.Client) -> None:
    """A body that is not JSON answers 400."""
    resp = client.post(
        "/embeddings", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert resp.status_code == 400
    assert "parse the JSON body" in resp.json()["error"]["message"]


def test_max_batch_size_rejects_larger_batches(
    server: FakeEmbeddingServer, client: httpx.Client
) -> None:
    """Batches above max_batch_size answer 400."""
    server.configure(max_batch_size=3)
    assert embed(client, ["a"] * 3).status_code == 200
    resp = embed(client, ["a"] * 4)
    assert resp.status_code == 400
    assert "too many inputs" in resp.json()["error"]["message"]


def test_gzip_request_body_is_accepted(client: httpx.Client) -> None:
    """A gzip-compressed request body is decompressed."""
    raw = gzip.compress(json.dumps({"model": MODEL, "input": "x"}).encode())
    headers = {"content-encoding": "gzip", "content-type": "application/json"}
    assert client.post("/embeddings", content=raw, headers=headers).status_code == 200


# ---------------------------------------------------------------- auth and Azure


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"api-key": KEY}])
def test_openai_route_requires_bearer_key(
    server: FakeEmbeddingServer, headers: dict[str, str]
) -> None:
    """Without the right bearer key the OpenAI route answers 401 invalid_api_key."""
    resp = httpx.post(
        f"{server.base_url}/embeddings", json={"model": MODEL, "input": "x"}, headers=headers
    )
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "invalid_api_key"
    assert resp.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("headers", [{"api-key": KEY}, AUTH])
def test_azure_route_with_api_key_or_bearer(
    server: FakeEmbeddingServer, headers: dict[str, str]
) -> None:
    """The Azure route accepts api-key or Bearer auth and reports the deployment's model."""
    server.configure(azure_deployments={"emb": "text-embedding-3-large"})
    url = f"{server.url}/openai/deployments/emb/embeddings?api-version=2024-10-21"
    resp = httpx.post(url, json={"input": ["a"], "encoding_format": "base64"}, headers=headers)
    assert resp.status_code == 200
    body = resp.json()
    assert body["model"] == "text-embedding-3-large"
    assert np.array_equal(decode(body["data"][0]), fake_vector("a", 3072))


def test_azure_errors(server: FakeEmbeddingServer) -> None:
    """Azure: missing api-version 400, unknown deployment 404, wrong key 401 in Azure's shape."""
    server.configure(azure_deployments={"emb": MODEL})
    base = f"{server.url}/openai/deployments"
    body, auth = {"input": "a"}, {"api-key": KEY}
    resp = httpx.post(f"{base}/emb/embeddings", json=body, headers=auth)
    assert (resp.status_code, resp.json()["error"]["code"]) == (400, "MissingApiVersionParameter")
    resp = httpx.post(f"{base}/other/embeddings?api-version=1", json=body, headers=auth)
    assert (resp.status_code, resp.json()["error"]["code"]) == (404, "DeploymentNotFound")
    resp = httpx.post(f"{base}/emb/embeddings?api-version=1", json=body, headers={"api-key": "x"})
    assert resp.status_code == 401
    assert set(resp.json()["error"]) == {"code", "message"}


def test_vendor_formats_are_pluggable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A WireFormat subclass registered in FORMATS serves its own route."""

    class Custom(WireFormat):
        name = "custom"
        routes = (r"/custom/embed",)

    monkeypatch.setitem(FORMATS, "custom", Custom())
    with FakeEmbeddingServer(vendors=("custom",)) as srv:
        ok = httpx.post(f"{srv.url}/custom/embed", json={"model": MODEL, "input": "a"})
        missing = httpx.post(f"{srv.base_url}/embeddings", json={"model": MODEL, "input": "a"})
    assert (ok.status_code, missing.status_code) == (200, 404)


# ---------------------------------------------------------------- failures and limits


def test_fail_next_sends_retry_after_then_recovers(
    server: FakeEmbeddingServer, client: httpx.Client
) -> None:
    """fail_next(n) fails exactly the next n requests, with the Retry-After hints given."""
    server.fail_next(2, status=429, retry_after=2, retry_after_ms=1500)
    for _ in range(2):
        resp = embed(client, "x")
        assert resp.status_code == 429
        assert (resp.headers["retry-after"], resp.headers["retry-after-ms"]) == ("2", "1500")
        assert resp.json()["error"]["code"] == "rate_limit_exceeded"
    assert embed(client, "x").status_code == 200
    server.fail_next(status=503)
    assert embed(client, "x").status_code == 503
    stats = server.stats
    assert (stats.rate_limited, stats.server_errors, stats.embedded) == (2, 1, 1)


def test_fail_rate_is_reproducible_with_a_seed() -> None:
    """fail_rate draws from a seeded RNG: the same seed fails the same requests."""
    runs = []
    for _ in range(2):
        with (
            FakeEmbeddingServer(fail_rate=0.5, fail_status=502, seed=7) as srv,
            httpx.Client(base_url=srv.base_url) as c,
        ):
            runs.append([embed(c, "x").status_code for _ in range(20)])
    assert runs[0] == runs[1]
    assert set(runs[0]) == {200, 502}


def test_rpm_limit_answers_429_with_ratelimit_headers(
    server: FakeEmbeddingServer, client: httpx.Client
) -> None:
    """Above rpm: 429 with x-ratelimit-* and Retry-After; 200s carry the headers too."""
    server.configure(rpm=2, tpm=1_000)
    first = embed(client, "abcd")
    assert first.headers["x-ratelimit-limit-requests"] == "2"
    assert first.headers["x-ratelimit-remaining-requests"] == "1"
    assert first.headers["x-ratelimit-limit-tokens"] == "1000"
    assert first.headers["x-ratelimit-remaining-tokens"] == "999"
    assert embed(client, "abcd").headers["x-ratelimit-remaining-requests"] == "0"
    limited = embed(client, "abcd")
    assert limited.status_code == 429
    assert limited.headers["x-ratelimit-remaining-requests"] == "0"
    assert limited.headers["x-ratelimit-reset-requests"].endswith("s")
    assert int(limited.headers["retry-after"]) >= 1
    assert 0 < int(limited.headers["retry-after-ms"]) <= 60_000
    assert server.stats.rate_limited == 1


def test_remaining_is_what_a_short_window_still_admits(
    server: FakeEmbeddingServer, client: httpx.Client
) -> None:
    """With a 1 s window, remaining-* is the window's free quota, not a per-minute figure."""
    server.configure(tpm=6_000, rpm=600, rate_window_s=1.0)  # 100 tokens, 10 requests a second
    reply = embed(client, "x" * 160)  # 40 tokens
    assert reply.headers["x-ratelimit-limit-tokens"] == "6000"
    assert reply.headers["x-ratelimit-remaining-tokens"] == "60"
    assert reply.headers["x-ratelimit-remaining-requests"] == "9"


def test_tpm_limit_counts_server_tokens(server: FakeEmbeddingServer, client: httpx.Client) -> None:
    """TPM counts fake_token_count tokens; a request larger than the quota is 'too large'."""
    server.configure(tpm=10)
    assert embed(client, "x" * 32).status_code == 200  # 8 tokens
    assert embed(client, "x" * 12).status_code == 429  # 3 more would exceed 10
    assert embed(client, "x" * 8).status_code == 200  # 2 more fit exactly
    too_large = embed(client, "x" * 44)
    assert too_large.status_code == 429
    assert "Request too large" in too_large.json()["error"]["message"]
    assert server.stats.tokens == 10


def test_no_ratelimit_headers_without_limits(client: httpx.Client) -> None:
    """Without rpm/tpm no x-ratelimit-* headers are sent."""
    assert not any(h.startswith("x-ratelimit") for h in embed(client, "x").headers)


# ---------------------------------------------------------------- misbehaviours


TEXTS = ["alpha", "beta", "gamma"]


@pytest.mark.parametrize("encoding", ["float", "base64"])
def test_misbehaviours_corrupt_the_data(
    server: FakeEmbeddingServer, client: httpx.Client, encoding: str
) -> None:
    """short / wrong_dim / nan / shuffle corrupt exactly as named, then answers are clean again."""
    for kind in ("short", "wrong_dim", "nan", "shuffle"):
        server.misbehave_next(kind)
    data = [embed(client, TEXTS, encoding_format=encoding).json()["data"] for _ in range(5)]
    assert len(data[0]) == 2
    assert sorted(len(decode(item)) for item in data[1]) == [1535, 1536, 1536]
    assert sum(np.isnan(decode(item)).any() for item in data[2]) == 1
    assert [item["index"] for item in data[3]] == [2, 1, 0]
    assert all(np.array_equal(decode(i), fake_vector(TEXTS[i["index"]], 1536)) for i in data[3])
    assert [item["index"] for item in data[4]] == [0, 1, 2]


def test_bad_json_misbehaviour_by_rate(server: FakeEmbeddingServer, client: httpx.Client) -> None:
    """misbehave='bad_json' with rate 1 answers 200 with a truncated body."""
    server.configure(misbehave="bad_json")
    resp = embed(client, TEXTS)
    assert resp.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(resp.content)


def test_stall_never_answers(server: FakeEmbeddingServer) -> None:
    """A stalled request gets no answer until the client times out."""
    server.misbehave_next("stall")
    with httpx.Client(base_url=server.base_url, headers=AUTH, timeout=0.2) as c:
        with pytest.raises(httpx.ReadTimeout):
            embed(c, "x")
        assert embed(c, "x").status_code == 200


def test_disconnect_drops_the_connection(server: FakeEmbeddingServer, client: httpx.Client) -> None:
    """misbehave 'disconnect' closes the connection without an answer."""
    server.misbehave_next("disconnect")
    with pytest.raises(httpx.RemoteProtocolError):
        embed(client, "x")
    assert embed(client, "x").status_code == 200


# ---------------------------------------------------------------- introspection and lifecycle


async def test_latency_and_peak_concurrency() -> None:
    """With latency, concurrent requests overlap and peak_concurrency counts them."""
    with FakeEmbeddingServer(latency_s=0.3) as srv:
        async with httpx.AsyncClient(base_url=srv.base_url) as c:
            body = {"model": MODEL, "input": "x"}
            replies = await asyncio.gather(*(c.post("/embeddings", json=body) for _ in range(8)))
        assert {r.status_code for r in replies} == {200}
        assert srv.stats.peak_concurrency == 8
        assert srv.stats.in_flight == 0


def test_record_and_reset(client: httpx.Client) -> None:
    """record=True keeps bodies and headers; reset() clears counters and restores knobs."""
    with FakeEmbeddingServer(api_key=KEY) as srv:
        with httpx.Client(base_url=srv.base_url, headers=AUTH) as c:
            embed(c, "x")
            assert srv.requests == []
            srv.configure(record=True, rpm=5)
            embed(c, ["y"], user="u1")
        [rec] = srv.requests
        assert rec.body == {"model": MODEL, "input": ["y"], "user": "u1"}
        assert rec.headers["authorization"] == f"Bearer {KEY}"
        assert srv.stats.requests == 2
        srv.reset()
        assert (srv.stats.requests, srv.requests, srv.config.rpm) == (0, [], None)


def test_raw_http_pipelining_and_chunked_body(server: FakeEmbeddingServer) -> None:
    """Two pipelined requests (one chunked) are both answered, in order, on one connection."""
    body = json.dumps({"model": MODEL, "input": "x"}).encode()
    head = f"POST /v1/embeddings HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {KEY}\r\n"
    plain = f"{head}content-length: {len(body)}\r\n\r\n".encode() + body
    chunked = f"{head}transfer-encoding: chunked\r\n\r\n".encode()
    chunked += f"{len(body[:5]):x}\r\n".encode() + body[:5] + b"\r\n"
    chunked += f"{len(body[5:]):x}\r\n".encode() + body[5:] + b"\r\n0\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(plain + chunked)
        received = b""
        while received.count(b"HTTP/1.1 200 OK") < 2:
            chunk = sock.recv(65536)
            assert chunk
            received += chunk
    assert server.stats.embedded == 2


def test_stop_closes_open_connections() -> None:
    """Stopping the server closes kept-alive connections; the client sees a clean error."""
    srv = FakeEmbeddingServer().start()
    with httpx.Client(base_url=srv.base_url) as c:
        assert embed(c, "x").status_code == 200
        srv.stop()
        with pytest.raises(httpx.TransportError):
            embed(c, "x")


def test_spawned_process_prints_url_and_is_driven_over_admin_routes() -> None:
    """spawn_fake_server runs the CLI in a child; stats/configure/fail_next work over HTTP."""
    with spawn_fake_server(api_key=KEY, tpm=600_000) as proc:
        assert proc.base_url.startswith("http://127.0.0.1:")
        with httpx.Client(base_url=proc.base_url, headers=AUTH) as c:
            assert embed(c, "x").headers["x-ratelimit-limit-tokens"] == "600000"
            proc.fail_next(1, status=500)
            assert embed(c, "x").status_code == 500
            assert proc.configure(rpm=1)["rpm"] == 1
            assert embed(c, "x").status_code == 429
        # vendor formats that live in their own files are known to the child too
        assert proc.configure(vendors=["openai", "mistral"])["vendors"] == ["openai", "mistral"]
        stats = proc.stats()
        assert (stats.requests, stats.server_errors, stats.rate_limited) == (3, 1, 1)
        proc.reset()
        assert proc.stats().requests == 0
    assert proc.process.returncode == 0
