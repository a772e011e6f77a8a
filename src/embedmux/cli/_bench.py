"""``embedmux bench``: throughput and latency of a provider, next to a raw httpx loop."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from embedmux.cli._common import EXIT_OK, command_parser

if TYPE_CHECKING:
    from embedmux._types import Provider

FAKE_MODEL = "text-embedding-3-small"
FAKE_KEY = "sk-embedmux-bench"
RAW_MAX_429 = 20

_EPILOG = """\
examples:
  embedmux bench                                   built-in fake server (no config): a self-check
  embedmux bench --fake --texts 5000 --concurrency 16
  embedmux bench --fake --fake-rpm 600 --fake-latency-ms 20    watch retries and 429s
  embedmux bench --config embedmux.toml --provider local --texts 500

Reports texts/s, per-call latency p50/p95/p99, retries and 429s, and for the fake
server or an HTTP provider the ratio to a raw httpx loop sending the same batches
(1.0 = no overhead). Without a config, --fake is the default.

exit codes: 0 ok, 1 error, 2 usage
"""


def register(commands: Any) -> None:
    """Add the ``bench`` sub-command."""
    p = command_parser(
        commands,
        "bench",
        help="throughput and latency of a provider (or the built-in fake server)",
        description="Benchmark a configured provider, or the built-in fake server (--fake).",
        epilog=_EPILOG,
        run=run,
    )
    p.add_argument("--fake", action="store_true", help="bench the built-in fake server")
    p.add_argument(
        "--config", metavar="FILE", help="config file (default: $EMBEDMUX_CONFIG, ./embedmux.toml)"
    )
    p.add_argument(
        "--provider", metavar="NAME", help="provider of the config (default: first of the chain)"
    )
    p.add_argument(
        "--texts", type=int, default=2000, metavar="N", help="texts to embed (default 2000)"
    )
    p.add_argument("--batch", type=int, default=64, metavar="N", help="texts per call (default 64)")
    p.add_argument(
        "--concurrency", type=int, default=8, metavar="N", help="calls in flight (default 8)"
    )
    p.add_argument("--no-raw", action="store_true", help="skip the raw httpx comparison")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    f = p.add_argument_group("fake server")
    f.add_argument("--fake-latency-ms", type=float, default=0.0, metavar="MS")
    f.add_argument("--fake-rpm", type=int, default=None, metavar="N")
    f.add_argument("--fake-tpm", type=int, default=None, metavar="N")
    f.add_argument("--fake-fail-rate", type=float, default=0.0, metavar="P")


class Figures:
    """What one benchmarked loop measured (a plain class: no dataclasses import at --help)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.texts = 0
        self.latencies: list[float] = []
        self.retries = 0
        self.rate_limited = 0

    def summary(self) -> dict[str, Any]:
        """texts/s and latency percentiles (ms)."""
        from embedmux.cli._common import percentile

        ms = [v * 1000 for v in self.latencies]
        return {
            "texts": self.texts,
            "seconds": self.seconds,
            "texts_per_s": self.texts / self.seconds if self.seconds else 0.0,
            "p50_ms": percentile(ms, 50),
            "p95_ms": percentile(ms, 95),
            "p99_ms": percentile(ms, 99),
            "calls": len(ms),
            "retries": self.retries,
            "rate_limited": self.rate_limited,
        }


def run(args: argparse.Namespace) -> int:
    """Bench the chosen provider (and the raw loop), print the figures."""
    from embedmux.cli._common import CliError, resolve_config_path

    for name in ("texts", "batch", "concurrency"):
        if getattr(args, name) < 1:
            raise CliError(f"--{name} must be at least 1", 2)
    texts = make_texts(args.texts)
    import asyncio  # here, not at module level: `embedmux --help` must not pay for it

    use_fake = args.fake or resolve_config_path(args.config) is None
    bench = _bench_fake if use_fake else _bench_config
    result = asyncio.run(bench(args, texts))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print(result)
    return EXIT_OK


def make_texts(n: int) -> list[str]:
    """``n`` distinct texts of varied length (deterministic)."""
    words = [
        "embedding",
        "vector",
        "search",
        "retrieval",
        "model",
        "token",
        "batch",
        "cache",
        "latency",
    ]
    return [f"text {i}: " + " ".join(words[: 3 + i % 7] * (1 + i % 4)) for i in range(n)]


async def _bench_fake(args: argparse.Namespace, texts: list[str]) -> dict[str, Any]:
    from embedmux.providers.compatible import OpenAICompatibleProvider
    from embedmux.testing.fake_server import FakeEmbeddingServer

    knobs = dict(
        api_key=FAKE_KEY,
        latency_s=args.fake_latency_ms / 1000,
        rpm=args.fake_rpm,
        tpm=args.fake_tpm,
        fail_rate=args.fake_fail_rate,
        rate_window_s=1.0,
    )
    with FakeEmbeddingServer(**knobs) as server:
        provider = OpenAICompatibleProvider(
            FAKE_MODEL, base_url=server.base_url, api_key=FAKE_KEY, name="fake"
        )
        result = await _measure(args, provider, texts, raw=not args.no_raw)
        stats = server.stats
    result["target"] = f"built-in fake server at {server.base_url}"
    result["server"] = {
        "requests": stats.requests,
        "rate_limited": stats.rate_limited,
        "server_errors": stats.server_errors,
    }
    return result


async def _bench_config(args: argparse.Namespace, texts: list[str]) -> dict[str, Any]:
    from embedmux.cli._common import load_setup

    providers, _, origin = load_setup(args.config, provider=args.provider, offline=False)
    provider = providers[0]
    is_http = hasattr(provider, "_endpoint")
    result = await _measure(args, provider, texts, raw=is_http and not args.no_raw)
    result["target"] = f"provider {provider.name} ({type(provider).__name__}) from {origin}"
    return result


async def _measure(
    args: argparse.Namespace, provider: Provider, texts: list[str], *, raw: bool
) -> dict[str, Any]:
    chunks = [texts[i : i + args.batch] for i in range(0, len(texts), args.batch)]
    try:
        await provider.embed(chunks[0][:1])  # connect / load the model before the clock starts

        async def call(chunk: Sequence[str]) -> tuple[int, int]:
            usage = (await provider.embed(chunk)).usage
            return usage.retries, usage.rate_limited

        mine = await _loop(chunks, args.concurrency, call)
        raw_figures = await _raw_loop(provider, chunks, args.concurrency) if raw else None
    finally:
        await provider.aclose()
    out: dict[str, Any] = {"embedmux": mine.summary()}
    if raw_figures is not None:
        out["raw_httpx"] = raw_figures.summary()
        raw_rate = out["raw_httpx"]["texts_per_s"]
        out["ratio_to_raw"] = out["embedmux"]["texts_per_s"] / raw_rate if raw_rate else None
    return out


async def _loop(
    chunks: list[list[str]],
    concurrency: int,
    call: Callable[[Sequence[str]], Awaitable[tuple[int, int]]],
) -> Figures:
    import asyncio

    figures = Figures()
    gate = asyncio.Semaphore(concurrency)

    async def one(chunk: list[str]) -> None:
        async with gate:
            started = time.perf_counter()
            retries, limited = await call(chunk)
            figures.latencies.append(time.perf_counter() - started)
            figures.retries += retries
            figures.rate_limited += limited
            figures.texts += len(chunk)

    started = time.perf_counter()
    await asyncio.gather(*(one(c) for c in chunks))
    figures.seconds = time.perf_counter() - started
    return figures


async def _raw_loop(provider: Any, chunks: list[list[str]], concurrency: int) -> Figures:
    """The floor: the same batches through a bare httpx client, vectors base64-decoded."""
    import asyncio
    import base64

    import httpx
    import numpy as np

    url = provider._base_url + provider._endpoint()
    headers = await provider._request_headers()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60.0) as client:

        async def call(chunk: Sequence[str]) -> tuple[int, int]:
            body = provider._request_body(chunk, "document")
            limited = 0
            reply = await client.post(url, json=body, headers=headers)
            while (
                reply.status_code == 429 and limited < RAW_MAX_429
            ):  # the naive loop: wait, resend
                limited += 1
                await asyncio.sleep(float(reply.headers.get("retry-after", 1.0)))
                reply = await client.post(url, json=body, headers=headers)
            reply.raise_for_status()
            for item in reply.json()["data"]:
                np.frombuffer(base64.b64decode(item["embedding"]), dtype=np.float32)
            return 0, limited

        return await _loop(chunks, concurrency, call)


def _print(result: dict[str, Any]) -> None:
    print(f"target: {result['target']}")
    rows = [("embedmux", result["embedmux"])]
    if "raw_httpx" in result:
        rows.append(("raw httpx", result["raw_httpx"]))
    print(
        f"{'':<11}{'texts/s':>10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'calls':>7}"
        f"{'retries':>9}{'429s':>6}"
    )
    for label, s in rows:
        print(
            f"{label:<11}{s['texts_per_s']:>10.0f}{s['p50_ms']:>9.1f}{s['p95_ms']:>9.1f}"
            f"{s['p99_ms']:>9.1f}{s['calls']:>7}{s['retries']:>9}{s['rate_limited']:>6}"
        )
    if result.get("ratio_to_raw") is not None:
        print(f"embedmux / raw httpx throughput: {result['ratio_to_raw']:.2f}")
    if "server" in result:
        s = result["server"]
        print(
            f"server saw {s['requests']} requests, {s['rate_limited']} answered 429,"
            f" {s['server_errors']} 5xx"
        )
