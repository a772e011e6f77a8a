"""``embedmux profile``: load-time profiler of a local model, one fresh process per run."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from embedmux.cli._common import (
    EXIT_OK,
    EXIT_REGRESSION,
    EXIT_USAGE,
    CliError,
    command_parser,
    fmt_seconds,
)

STRATEGIES = ("lazy", "background", "progressive", "quantized", "onnx")
# Figures of a run summarised into mean/median/stdev/min/max.
METRICS = (
    "total_s",
    "import_s",
    "init_s",
    "first_encode_s",
    "memory_mb",
    "construct_s",
    "process_s",
    "peak_memory_mb",
    "quantization_cosine_min",
)
CHILD_TIMEOUT_S = 600.0

_EPILOG = """\
examples:
  embedmux profile                                   onnx, 5 runs, cold and warm
  embedmux profile --strategy all --runs 3 --warm    the five strategies side by side
  embedmux profile --strategy lazy --output base.json
  embedmux profile --strategy lazy --baseline base.json --threshold 0.2   (CI: exit 3 if slower)
  embedmux profile --strategy all --plot stages.png  (needs matplotlib)

cold: each run gets a fresh empty EMBEDMUX_CACHE_DIR (no metadata, no ONNX export);
warm: runs share a cache that one unmeasured run filled first (--cache-dir, else
the usual cache). Every run is a new process: `python -m embedmux.cli._profile_child`.

exit codes: 0 ok, 1 error (or every run failed), 2 usage, 3 regression against --baseline
"""


def register(commands: Any) -> None:
    """Add the ``profile`` sub-command."""
    p = command_parser(
        commands,
        "profile",
        help="measure a local model's load time per loading strategy",
        description="Profile import, model init, first encode and memory of a local model.",
        epilog=_EPILOG,
        run=run,
    )
    p.add_argument("--model", default="all-MiniLM-L6-v2", help="model name or folder")
    p.add_argument(
        "--strategy",
        default="onnx",
        choices=(*STRATEGIES, "all"),
        help="loading strategy, or all five (default: onnx)",
    )
    p.add_argument("--runs", type=int, default=5, help="fresh processes per strategy and mode")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--cold", action="store_true", help="cold runs only")
    mode.add_argument("--warm", action="store_true", help="warm runs only")
    p.add_argument("--cache-dir", metavar="DIR", help="cache folder for warm runs")
    p.add_argument("--output", metavar="FILE", help="write the JSON report here")
    p.add_argument("--baseline", metavar="FILE", help="compare with an earlier JSON report")
    p.add_argument(
        "--threshold",
        type=float,
        default=0.20,
        help="regression threshold, fraction (default 0.20 = 20%%)",
    )
    p.add_argument("--plot", metavar="FILE.png", help="draw the stage breakdown (matplotlib)")
    t = p.add_argument_group("targets")
    t.add_argument("--target-total", type=float, default=5.0, metavar="S", help="default 5 s")
    t.add_argument("--target-import", type=float, default=1.0, metavar="S", help="default 1 s")
    t.add_argument("--target-init", type=float, default=3.0, metavar="S", help="default 3 s")
    t.add_argument(
        "--target-first-encode-ms", type=float, default=200.0, metavar="MS", help="default 200 ms"
    )
    t.add_argument(
        "--target-memory-mb", type=float, default=500.0, metavar="MB", help="default 500 MB"
    )


def run(args: argparse.Namespace) -> int:
    """Profile, print, then write the report, compare with the baseline, draw the plot."""
    if args.runs < 1:
        raise CliError("--runs must be at least 1", EXIT_USAGE)
    if args.plot:
        _require_matplotlib()
    baseline = _read_baseline(args.baseline) if args.baseline else None
    strategies = STRATEGIES if args.strategy == "all" else (args.strategy,)
    modes = ("cold",) if args.cold else ("warm",) if args.warm else ("cold", "warm")
    targets = _targets(args)
    results = [
        _profile_one(args, strategy, mode, targets) for strategy in strategies for mode in modes
    ]
    report = _report(args, results, targets)
    _print_report(report)
    if args.output:
        Path(args.output).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"\nreport written to {args.output}")
    if args.plot:
        _plot(report, args.plot)
        print(f"plot written to {args.plot}")
    if not any(r["ok_runs"] for r in results):
        raise CliError("every profiling run failed: " + _first_error(results))
    if baseline is not None and _print_comparison(report, baseline, args.threshold):
        return EXIT_REGRESSION
    return EXIT_OK


def _targets(args: argparse.Namespace) -> dict[str, float]:
    return {
        "total_s": args.target_total,
        "import_s": args.target_import,
        "init_s": args.target_init,
        "first_encode_s": args.target_first_encode_ms / 1000,
        "memory_mb": args.target_memory_mb,
    }


def _first_error(results: list[dict[str, Any]]) -> str:
    for r in results:
        if r.get("errors"):
            return str(r["errors"][0])
    return "unknown error"


# ---------------------------------------------------------------- running


def _profile_one(
    args: argparse.Namespace, strategy: str, mode: str, targets: dict[str, float]
) -> dict[str, Any]:
    from embedmux.cli._common import summarize

    print(f"profiling {strategy} ({mode}), {args.runs} runs ...", file=sys.stderr, flush=True)
    runs = _runs(args, strategy, mode)
    good = [r for r in runs if r.get("ok")]
    stats = {
        m: summarize([float(r[m]) for r in good if isinstance(r.get(m), int | float)])
        for m in METRICS
    }
    stats = {m: s for m, s in stats.items() if s}
    return {
        "strategy": strategy,
        "mode": mode,
        "ok_runs": len(good),
        "failed_runs": len(runs) - len(good),
        "backend": good[0].get("backend") if good else None,
        "errors": sorted({str(r.get("error")) for r in runs if not r.get("ok")}),
        "stats": stats,
        "runs": runs,
        "targets_met": {
            k: stats[k]["median"] <= limit for k, limit in targets.items() if k in stats
        },
    }


def _runs(args: argparse.Namespace, strategy: str, mode: str) -> list[dict[str, Any]]:
    if mode == "cold":
        out = []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="embedmux-profile-") as fresh:
                out.append(_child(args.model, strategy, fresh))
        return out
    warm_dir = args.cache_dir or os.environ.get("EMBEDMUX_CACHE_DIR") or None
    _child(args.model, strategy, warm_dir)  # fills the cache; not counted
    return [_child(args.model, strategy, warm_dir) for _ in range(args.runs)]


def _child(model: str, strategy: str, cache_dir: str | None) -> dict[str, Any]:
    import subprocess
    import time

    env = {**os.environ, "EMBEDMUX_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    env.pop("EMBEDMUX_CACHE_DIR", None)
    if cache_dir:
        env["EMBEDMUX_CACHE_DIR"] = cache_dir
    cmd = [sys.executable, "-m", "embedmux.cli._profile_child", "--model", model]
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [*cmd, "--strategy", strategy],
            capture_output=True,
            text=True,
            env=env,
            timeout=CHILD_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {CHILD_TIMEOUT_S:.0f} s"}
    elapsed = time.perf_counter() - started
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"ok": False, "error": f"child exited {done.returncode}: {tail}"}
    figures: dict[str, Any] = json.loads(lines[-1])
    figures["process_s"] = elapsed
    return figures


def _read_baseline(path: str) -> dict[str, Any]:
    from embedmux.cli._report import validate

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise CliError(f"--baseline {path}: cannot read a JSON report: {e}") from e
    problems = validate(data)
    if problems:
        raise CliError(f"--baseline {path}: not a profile report: {problems[0]}")
    return data  # type: ignore[no-any-return]


def _report(
    args: argparse.Namespace, results: list[dict[str, Any]], targets: dict[str, float]
) -> dict[str, Any]:
    import platform
    from datetime import UTC, datetime

    from embedmux import __version__
    from embedmux._local.resources import cpu_count
    from embedmux.cli._report import SCHEMA_VERSION, recommendations

    return {
        "schema_version": SCHEMA_VERSION,
        "tool": "embedmux profile",
        "embedmux_version": __version__,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": args.model,
        "environment": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpu_count": cpu_count(),
        },
        "runs": args.runs,
        "targets": targets,
        "results": results,
        "recommendations": recommendations(results, targets),
    }


# ---------------------------------------------------------------- printing


def _fmt(stage: str, value: float) -> str:
    return f"{value:.0f} MB" if stage.endswith("_mb") else fmt_seconds(value)


def _print_report(report: dict[str, Any]) -> None:
    from embedmux.cli._report import STAGES

    env = report["environment"]
    print(
        f"\nmodel {report['model']}, {report['runs']} runs each,"
        f" {env['cpu_count']} CPUs, Python {env['python']}"
    )
    for r in report["results"]:
        print(
            f"\n== {r['strategy']} ({r['mode']}) backend={r['backend']}"
            f"  ok {r['ok_runs']}, failed {r['failed_runs']}"
        )
        for error in r["errors"]:
            print(f"   error: {error}")
        if not r["ok_runs"]:
            continue
        print(
            f"   {'stage':<13}{'mean':>10}{'median':>10}{'stdev':>10}{'min':>10}{'max':>10}"
            f"{'target':>10}  "
        )
        for stage, label in STAGES:
            s = r["stats"].get(stage)
            if not s:
                continue
            cells = "".join(
                f"{_fmt(stage, s[k]):>10}" for k in ("mean", "median", "stdev", "min", "max")
            )
            target = report["targets"][stage]
            mark = "ok" if r["targets_met"].get(stage) else "OVER"
            print(f"   {label:<13}{cells}{_fmt(stage, target):>10}  {mark}")
    print("\nrecommendations:")
    for tip in report["recommendations"]:
        print(f"  - {tip}")


def _print_comparison(report: dict[str, Any], baseline: dict[str, Any], threshold: float) -> bool:
    from embedmux.cli._report import STAGES, compare

    labels = dict(STAGES)
    deltas = compare(report, baseline, threshold)
    print(f"\ncomparison with the baseline (medians, threshold {threshold:.0%}):")
    if not deltas:
        print("  no strategy/mode in common with the baseline")
    for d in deltas:
        flag = "REGRESSION" if d.regression else "ok"
        print(
            f"  {d.strategy:<12}{d.mode:<5} {labels[d.stage]:<13}"
            f"{_fmt(d.stage, d.current):>10} vs {_fmt(d.stage, d.baseline):>10}"
            f"  {d.change:+7.1%}  {flag}"
        )
    regressed = [d for d in deltas if d.regression]
    if regressed:
        print(
            f"embedmux: {len(regressed)} stage(s) regressed beyond {threshold:.0%}", file=sys.stderr
        )
    return bool(regressed)


# ---------------------------------------------------------------- plot


def _require_matplotlib() -> None:
    from embedmux.cli._common import has_modules

    if not has_modules("matplotlib"):
        raise CliError("--plot needs matplotlib: pip install matplotlib")


def _plot(report: dict[str, Any], path: str) -> None:
    import matplotlib  # type: ignore[import-not-found, unused-ignore]

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # type: ignore[import-not-found, unused-ignore]

    rows = [r for r in report["results"] if r["ok_runs"]]
    names = [f"{r['strategy']}\n{r['mode']}" for r in rows]
    fig, ax = plt.subplots(figsize=(max(6, len(rows) * 1.2), 4.5))
    bottom = [0.0] * len(rows)
    for stage, label in (
        ("import_s", "import"),
        ("init_s", "model init"),
        ("first_encode_s", "first encode"),
    ):
        heights = [r["stats"][stage]["median"] for r in rows]
        ax.bar(names, heights, bottom=bottom, label=label)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    ax.axhline(report["targets"]["total_s"], linestyle="--", color="grey", label="total target")
    ax.set_ylabel("seconds (median)")
    ax.set_title(f"embedmux profile: {report['model']}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
