"""Shared helpers for the benchmarks: load loops, percentiles, a corpus, import timing, tables."""

from __future__ import annotations

import asyncio
import json
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).parent / "results"
HEAVY_MODULES = ("torch", "sentence_transformers", "transformers", "tiktoken")


@dataclass(frozen=True)
class LoadResult:
    """Throughput and latency of one load run."""

    name: str
    concurrency: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of already-sorted values, nearest-rank."""
    index = min(len(sorted_values) - 1, max(0, round(q * len(sorted_values)) - 1))
    return sorted_values[index]


async def run_load(
    name: str, call: Callable[[int], Awaitable[None]], *, n: int, concurrency: int
) -> LoadResult:
    """Run ``call(i)`` for i in range(n) with ``concurrency`` workers; time each call."""
    latencies: list[float] = []
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            start = time.perf_counter()
            await call(i)
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - start
    latencies.sort()
    return LoadResult(
        name,
        concurrency,
        n,
        seconds,
        n / seconds,
        percentile(latencies, 0.5) * 1e3,
        percentile(latencies, 0.99) * 1e3,
    )


def median_result(results: Sequence[LoadResult]) -> LoadResult:
    """The run with the median throughput (its latencies come with it)."""
    ordered = sorted(results, key=lambda r: r.rps)
    return ordered[len(ordered) // 2]


def make_corpus(n: int, *, seed: int = 0) -> list[str]:
    """``n`` distinct pseudo-sentences of 8-30 words (about 125 characters on average)."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = ["".join(rng.choices(letters, k=rng.randint(3, 8))) for _ in range(5000)]
    return [f"{i} " + " ".join(rng.choices(vocab, k=rng.randint(8, 30))) for i in range(n)]


def time_import(statement: str, *, runs: int) -> dict[str, Any]:
    """Median seconds of ``statement`` in fresh interpreters, and heavy modules it loaded."""
    code = (
        "import sys, time, json\n"
        "t = time.perf_counter()\n"
        f"{statement}\n"
        "elapsed = time.perf_counter() - t\n"
        f"heavy = [m for m in {HEAVY_MODULES!r} if m in sys.modules]\n"
        "print(json.dumps({'seconds': elapsed, 'heavy': heavy, 'modules': len(sys.modules)}))\n"
    )
    samples = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        samples.append(json.loads(out.stdout))
    return {
        "statement": statement,
        "median_ms": statistics.median(s["seconds"] for s in samples) * 1e3,
        "min_ms": min(s["seconds"] for s in samples) * 1e3,
        "runs": runs,
        "heavy_modules_loaded": sorted({m for s in samples for m in s["heavy"]}),
        "modules_loaded": samples[0]["modules"],
    }


def environment() -> dict[str, Any]:
    """Where the figures were measured."""
    import os

    import aiohttp
    import httpx

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "httpx": httpx.__version__,
        "aiohttp": aiohttp.__version__,
    }


def write_json(name: str, payload: dict[str, Any]) -> Path:
    """Write ``results/<name>.json``."""
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, default=_jsonable) + "\n")
    return path


def _jsonable(value: object) -> object:
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)  # type: ignore[call-overload]
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
    return str(value)


class RawHttpLoad:
    """A minimal keep-alive HTTP/1.1 load generator (asyncio streams) to gauge the server's own
    capacity; it does no JSON work, so the client is not the bottleneck."""

    def __init__(self, host: str, port: int, request: bytes) -> None:
        self.host, self.port, self.request = host, port, request

    async def run(self, *, n: int, concurrency: int) -> float:
        """Requests per second over ``n`` requests on ``concurrency`` connections."""
        counter = iter(range(n))

        async def connection() -> None:
            reader, writer = await asyncio.open_connection(self.host, self.port)
            try:
                for _ in counter:
                    writer.write(self.request)
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                    await reader.readexactly(length)
            finally:
                writer.close()
                await writer.wait_closed()

        start = time.perf_counter()
        await asyncio.gather(*(connection() for _ in range(concurrency)))
        return n / (time.perf_counter() - start)
