"""HTTP benchmark: embedmux vs raw httpx / aiohttp loops, fake server in its own process.

    python benchmarks/bench_http.py [--quick]

Prints tables and writes benchmarks/results/http.json. Sections:

1. server capacity (a minimal keep-alive load generator, no JSON work on the client side);
2. single-input calls at concurrency 1 and 64: raw httpx, raw aiohttp, embedmux on each transport;
3. a 10,000-text corpus in batches of 1,000 (base64), texts/s;
4. the same corpus against a server TPM limit (1 s sliding window) sized so the theoretical
   minimum (tokens / rate) is ~10 s, with embedmux's limiter at that limit and at 2x that
   limit, in requests of 40 texts (4% of a window's quota) and of 100 (10%);
5. ``import embedmux`` time in fresh interpreters, and which heavy modules it loads.

See docs/benchmarks.md for what is measured and the formulas.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx
import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).parent))
from _util import (
    LoadResult,
    RawHttpLoad,
    environment,
    make_corpus,
    median_result,
    run_load,
    table,
    time_import,
    write_json,
)

from embedmux.testing import FakeServerProcess, fake_token_count, spawn_fake_server

MODEL = "text-embedding-3-small"
KEY = "sk-bench"
HEADERS = {"Authorization": f"Bearer {KEY}", "content-type": "application/json"}
CORPUS_BATCH = 1000
CORPUS_CONCURRENCY = 8
TPM_WINDOW_S = 1.0
TPM_BATCHES = (40, 100)
SINGLE_ROUNDS = 9
Call = Callable[[int], Awaitable[None]]
Matrix = npt.NDArray[np.float32]


def body_for(texts: list[str]) -> bytes:
    """The request body every variant sends (base64, like embedmux)."""
    return json.dumps({"model": MODEL, "input": texts, "encoding_format": "base64"}).encode()


def decode_response(payload: bytes) -> Matrix:
    """What a minimal raw loop must do too: parse, order by index, base64 -> float32 matrix."""
    data = sorted(json.loads(payload)["data"], key=lambda item: item["index"])
    return np.stack([np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4") for d in data])


# ---------------------------------------------------------------- the four clients


class RawHttpx:
    """A plain httpx.AsyncClient loop."""

    def __init__(self, base_url: str, pool: int, *, over_aiohttp: bool = False) -> None:
        limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
        transport = None
        if over_aiohttp:  # httpx's API over aiohttp's pool, as embedmux's aiohttp transport
            from httpx_aiohttp import AiohttpTransport

            transport = AiohttpTransport(limits=limits)
        self.client = httpx.AsyncClient(
            base_url=base_url, headers=HEADERS, limits=limits, timeout=60, transport=transport
        )

    async def embed(self, texts: list[str]) -> Matrix:
        resp = await self.client.post("/embeddings", content=body_for(texts))
        resp.raise_for_status()
        return decode_response(resp.content)

    async def aclose(self) -> None:
        await self.client.aclose()


class RawAiohttp:
    """A plain aiohttp.ClientSession loop."""

    def __init__(self, base_url: str, pool: int) -> None:
        self.url = f"{base_url}/embeddings"
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=pool))

    async def embed(self, texts: list[str]) -> Matrix:
        async with self.session.post(self.url, data=body_for(texts), headers=HEADERS) as resp:
            resp.raise_for_status()
            return decode_response(await resp.read())

    async def aclose(self) -> None:
        await self.session.close()


class Embedmux:
    """embedmux.Client over one OpenAIProvider pointed at the fake server."""

    def __init__(self, base_url: str, transport: str, pool: int, **options: Any) -> None:
        import embedmux

        settings = {
            "transport": transport,
            "rate_limit_rpm": None,
            "rate_limit_tpm": None,
            "max_concurrency": pool,
            "connection_pool_size": pool,
            "max_batch_size": CORPUS_BATCH,
        }
        optimization = embedmux.OptimizationConfig.for_provider("openai").with_options(
            **{**settings, **options}
        )
        provider = embedmux.OpenAIProvider(
            model=MODEL, api_key=KEY, base_url=base_url, optimization=optimization
        )
        self.client = embedmux.Client([provider])
        self.last: Any = None

    async def embed(self, texts: list[str]) -> Matrix:
        self.last = await self.client.embed(texts)
        vectors: Matrix = self.last.vectors
        return vectors

    async def aclose(self) -> None:
        await self.client.aclose()


def embedmux_available() -> bool:
    """Whether the client half can run (the client is developed alongside)."""
    try:
        import embedmux

        embedmux.Client, embedmux.OpenAIProvider  # noqa: B018
    except (ImportError, AttributeError):
        return False
    return True


def variants(include_embedmux: bool) -> dict[str, Callable[[str, int], Any]]:
    """name -> factory(base_url, pool)."""
    made: dict[str, Callable[[str, int], Any]] = {
        "raw httpx": RawHttpx,
        "raw aiohttp": RawAiohttp,
        # context: the cost of httpx's client layer over aiohttp, without embedmux
        "raw httpx-over-aiohttp": lambda url, pool: RawHttpx(url, pool, over_aiohttp=True),
    }
    if include_embedmux:
        made["embedmux httpx"] = lambda url, pool: Embedmux(url, "httpx", pool)
        made["embedmux aiohttp"] = lambda url, pool: Embedmux(url, "aiohttp", pool)
    return made


# ---------------------------------------------------------------- sections


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def server_capacity(proc: FakeServerProcess, n: int) -> dict[str, float | None]:
    """Single-input requests/s the fake server answers (c64, no client-side JSON work), and its
    CPU per request: 1e6 / cpu_us is its capacity on a core of its own."""
    parts = urlsplit(proc.base_url)
    body = body_for(["server capacity probe"])
    head = (
        f"POST {parts.path}/embeddings HTTP/1.1\r\nhost: {parts.netloc}\r\n"
        f"authorization: Bearer {KEY}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    load = RawHttpLoad(parts.hostname or "127.0.0.1", parts.port or 80, head.encode() + body)
    await load.run(n=min(n, 2000), concurrency=64)
    cpu_before = process_cpu_seconds(proc.process.pid)
    rps = await load.run(n=n, concurrency=64)
    cpu_after = process_cpu_seconds(proc.process.pid)
    cpu_us = None
    if cpu_before is not None and cpu_after is not None:
        cpu_us = (cpu_after - cpu_before) / n * 1e6
    return {"rps": rps, "server_cpu_us_per_request": cpu_us}


async def single_input(
    base_url: str, makers: dict[str, Callable[[str, int], Any]], *, n: dict[int, int], rounds: int
) -> tuple[list[LoadResult], dict[str, list[float]]]:
    """Each variant at concurrency 1 and 64; rounds interleave variants. Returns the median
    run of each, and every round's req/s by ``"name@c"`` (ratios are paired per round)."""
    results: list[LoadResult] = []
    per_round: dict[str, list[float]] = {}
    for concurrency, count in n.items():
        runs: dict[str, list[LoadResult]] = {name: [] for name in makers}
        for _ in range(rounds):
            for name, make in makers.items():
                client = make(base_url, concurrency)
                try:
                    texts = [[f"single input text {i}"] for i in range(count)]

                    async def call(i: int, client: Any = client, texts: Any = texts) -> None:
                        await client.embed(texts[i])

                    await run_load(name, call, n=min(count, 200), concurrency=concurrency)
                    runs[name].append(await run_load(name, call, n=count, concurrency=concurrency))
                finally:
                    await client.aclose()
        results += [median_result(r) for r in runs.values()]
        per_round |= {f"{name}@{concurrency}": [r.rps for r in rs] for name, rs in runs.items()}
    return results, per_round


async def corpus(
    base_url: str, makers: dict[str, Callable[[str, int], Any]], texts: list[str], *, rounds: int
) -> dict[str, float]:
    """Texts/s embedding the corpus: raw loops gather batches of 1,000 with <= 8 in flight."""
    best: dict[str, list[float]] = {name: [] for name in makers}
    for _ in range(rounds):
        for name, make in makers.items():
            client = make(base_url, CORPUS_CONCURRENCY)
            try:
                start = time.perf_counter()
                matrix = await embed_corpus(client, texts)
                best[name].append(len(texts) / (time.perf_counter() - start))
                assert matrix.shape == (len(texts), 1536), matrix.shape
            finally:
                await client.aclose()
    return {name: sorted(v)[len(v) // 2] for name, v in best.items()}


async def embed_corpus(client: Any, texts: list[str]) -> Matrix:
    """embedmux batches itself; raw loops split into batches of 1,000, <= 8 concurrently."""
    if isinstance(client, Embedmux):
        return await client.embed(texts)
    gate = asyncio.Semaphore(CORPUS_CONCURRENCY)

    async def batch(start: int) -> Matrix:
        async with gate:
            matrix: Matrix = await client.embed(texts[start : start + CORPUS_BATCH])
            return matrix

    parts = await asyncio.gather(*(batch(s) for s in range(0, len(texts), CORPUS_BATCH)))
    return np.concatenate(parts)


async def tpm_run(
    proc: FakeServerProcess,
    texts: list[str],
    *,
    tpm: int,
    client_tpm: int,
    retries: int,
    batch: int,
) -> dict[str, Any]:
    """One corpus run against server TPM ``tpm`` (1 s window) with the client's limiter at
    ``client_tpm``, ``batch`` texts per request."""
    proc.reset(api_key=KEY, tpm=tpm, rate_window_s=TPM_WINDOW_S)
    client = Embedmux(
        proc.base_url,
        "aiohttp",
        CORPUS_CONCURRENCY,
        rate_limit_tpm=client_tpm,
        max_batch_size=batch,
        max_retries=retries,
    )
    error = None
    start = time.perf_counter()
    try:
        await client.embed(texts)
    except Exception as e:  # reported, not raised: the table shows the failure
        error = f"{type(e).__name__}: {e}"
    finally:
        wall = time.perf_counter() - start
        await client.aclose()
    stats = proc.stats()
    usage = client.last.usage if client.last is not None else None
    return {
        "client_tpm": client_tpm,
        "batch_size": batch,
        "wall_s": wall,
        "error": error,
        "server_429s": stats.rate_limited,
        "server_tokens": stats.tokens,
        "server_requests": stats.requests,
        "client_rate_limited": getattr(usage, "rate_limited", None),
        "client_retries": getattr(usage, "retries", None),
        "client_throttle_wait_s": getattr(usage, "throttle_wait_seconds", None),
        "client_prompt_tokens": getattr(usage, "prompt_tokens", None),
    }


async def tpm_section(proc: FakeServerProcess, texts: list[str], target_s: float) -> dict[str, Any]:
    """Server TPM limit L sized so the corpus's T tokens take T*60/L = target_s at the limit's
    rate; client limiter at L and at 2L. (A client may also spend the first window's quota at
    once, so the bound is T*60/L - W; a client that paces from the start cannot.)"""
    total = sum(map(fake_token_count, texts))
    tpm = math.ceil(total * 60 / target_s)
    t_min = total * 60 / tpm
    runs = []
    for batch in TPM_BATCHES:
        runs.append(await tpm_run(proc, texts, tpm=tpm, client_tpm=tpm, retries=3, batch=batch))
        runs.append(
            await tpm_run(proc, texts, tpm=tpm, client_tpm=2 * tpm, retries=10, batch=batch)
        )
    for run in runs:
        run["ratio_to_min"] = run["wall_s"] / t_min
        # a request's tokens as a share of what one window admits (mean request)
        run["batch_share_of_window"] = total / len(texts) * run["batch_size"] / (tpm / 60)
    return {
        "server_tokens_total": total,
        "server_tpm": tpm,
        "window_s": TPM_WINDOW_S,
        "theoretical_min_s": t_min,
        "burst_aware_min_s": t_min - TPM_WINDOW_S,
        "runs": runs,
    }


def import_section(runs: int) -> list[dict[str, Any]]:
    """Import costs in fresh interpreters."""
    statements = [
        "import httpx",
        "import embedmux",
        "from embedmux import Client, OpenAIProvider",
    ]
    return [time_import(s, runs=runs) for s in statements]


# ---------------------------------------------------------------- report


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def paired_ratio(per_round: dict[str, list[float]], a: str, b: str) -> float | None:
    """Median over rounds of ``a``'s req/s over ``b``'s in the same round: a round's
    variants run back to back, so drifts of a shared machine cancel out."""
    if a not in per_round or b not in per_round:
        return None
    ratios = sorted(x / y for x, y in zip(per_round[a], per_round[b], strict=True) if y)
    return statistics.median(ratios) if ratios else None


def summarise(per_round: dict[str, list[float]], corpus_rates: dict[str, float]) -> dict[str, Any]:
    """The goal ratios (single-input ones paired per round, see ``paired_ratio``)."""
    out: dict[str, Any] = {}
    for c in (1, 64):
        out[f"embedmux_httpx_vs_raw_httpx_c{c}"] = paired_ratio(
            per_round, f"embedmux httpx@{c}", f"raw httpx@{c}"
        )
        out[f"embedmux_aiohttp_vs_raw_aiohttp_c{c}"] = paired_ratio(
            per_round, f"embedmux aiohttp@{c}", f"raw aiohttp@{c}"
        )
    out["embedmux_aiohttp_c64_vs_raw_httpx_c64"] = paired_ratio(
        per_round, "embedmux aiohttp@64", "raw httpx@64"
    )
    for name in ("embedmux httpx", "embedmux aiohttp"):
        key = f"corpus_{name.replace(' ', '_')}_vs_raw_httpx"
        out[key] = ratio(corpus_rates.get(name), corpus_rates.get("raw httpx"))
    return out


def print_report(payload: dict[str, Any]) -> None:
    cap = payload["server_capacity"]
    print(
        f"\nfake server (own process), c64 minimal client: {cap['rps']:,.0f} req/s;"
        f" server CPU per request: {cap['server_cpu_us_per_request'] or float('nan'):.0f} us"
    )
    rows = [
        [r.name, r.concurrency, r.requests, r.rps, r.p50_ms, r.p99_ms] for r in payload["single"]
    ]
    print("\nsingle-input calls\n" + table(["client", "c", "n", "req/s", "p50 ms", "p99 ms"], rows))
    rows = [[name, rate] for name, rate in payload["corpus_texts_per_s"].items()]
    print(
        f"\ncorpus of {payload['corpus_size']} texts, batches of {CORPUS_BATCH}\n"
        + table(["client", "texts/s"], rows)
    )
    if tpm := payload.get("tpm"):
        print(
            f"\nTPM {tpm['server_tpm']:,} over a {tpm['window_s']} s window,"
            f" theoretical minimum {tpm['theoretical_min_s']:.2f} s"
        )
        rows = [
            [
                r["client_tpm"],
                r["batch_size"],
                f"{r['batch_share_of_window']:.0%}",
                r["wall_s"],
                r["ratio_to_min"],
                r["server_429s"],
                r["client_retries"],
                (r["error"] or "-")[:90],
            ]
            for r in tpm["runs"]
        ]
        headers = ["client tpm", "batch", "of window", "wall s", "x min", "429s", "retries"]
        print(table([*headers, "error"], rows))
    rows = [
        [i["statement"], i["median_ms"], i["min_ms"], ",".join(i["heavy_modules_loaded"]) or "none"]
        for i in payload["imports"]
    ]
    print(
        "\nimport time (fresh interpreter)\n"
        + table(["statement", "median ms", "min ms", "heavy"], rows)
    )
    print(
        "\nratios\n"
        + table(
            ["ratio", "value"],
            [[k, v if v is not None else "n/a"] for k, v in payload["ratios"].items()],
        )
    )


async def run_all(proc: FakeServerProcess, quick: bool) -> dict[str, Any]:
    with_embedmux = embedmux_available()
    makers = variants(with_embedmux)
    rounds = 1 if quick else 3
    n = {1: 300, 64: 1000} if quick else {1: 1000, 64: 3000}
    capacity = await server_capacity(proc, 5000 if quick else 20000)
    # single-input ratios are per-round pairs: more rounds, because a shared machine drifts
    single, per_round = await single_input(
        proc.base_url, makers, n=n, rounds=3 if quick else SINGLE_ROUNDS
    )
    texts = make_corpus(2000 if quick else 10_000)
    rates = await corpus(proc.base_url, makers, texts, rounds=rounds)
    tpm = await tpm_section(proc, texts, 3.0 if quick else 10.0) if with_embedmux else None
    return {
        "quick": quick,
        "environment": environment(),
        "embedmux_measured": with_embedmux,
        "server_capacity": capacity,
        "single": single,
        "single_rps_per_round": per_round,
        "corpus_size": len(texts),
        "corpus_texts_per_s": rates,
        "tpm": tpm,
        "ratios": summarise(per_round, rates),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests and rounds")
    args = parser.parse_args()
    with spawn_fake_server(api_key=KEY) as proc:
        payload = asyncio.run(run_all(proc, args.quick))
    payload["imports"] = import_section(3 if args.quick else 9)
    print_report(payload)
    print(f"\nwrote {write_json('http', payload)}")


if __name__ == "__main__":
    main()
