"""Start time of the command line: ``embedmux --help`` in fresh processes (goal <= 0.3 s).

    python benchmarks/bench_cli.py [--runs 15] [--embed]

Reports the median wall time (and min/max) of ``python -m embedmux --help`` and,
next to it, of a bare ``python -c pass`` (the interpreter's own floor). With
``--embed`` it also times ``embedmux embed "hello world"`` (warm: the ONNX export
already cached; the first run is discarded).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

GOAL_S = 0.3


def wall(cmd: list[str]) -> float:
    """Seconds ``cmd`` took, start to exit (output discarded)."""
    started = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def report(label: str, times: list[float]) -> float:
    """Print median/min/max of ``times``; return the median."""
    median = statistics.median(times)
    print(
        f"{label:<36} median {median * 1000:7.1f} ms   min {min(times) * 1000:7.1f}"
        f"   max {max(times) * 1000:7.1f}   ({len(times)} runs)"
    )
    return median


def main() -> int:
    """Time the commands and compare ``--help`` with the goal."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--embed", action="store_true", help="also time embed 'hello world'")
    args = parser.parse_args()
    python = sys.executable
    wall([python, "-m", "embedmux", "--help"])  # warm the OS file cache and .pyc files
    floor = report("python -c pass", [wall([python, "-c", "pass"]) for _ in range(args.runs)])
    helped = report(
        "embedmux --help", [wall([python, "-m", "embedmux", "--help"]) for _ in range(args.runs)]
    )
    if args.embed:
        cmd = [python, "-m", "embedmux", "embed", "hello world"]
        wall(cmd)
        report(
            'embedmux embed "hello world" (warm)',
            [wall(cmd) for _ in range(max(3, args.runs // 3))],
        )
    verdict = "meets" if helped <= GOAL_S else "MISSES"
    print(
        f"--help median {helped:.3f} s ({helped - floor:.3f} s over the interpreter):"
        f" {verdict} the {GOAL_S} s goal"
    )
    return 0 if helped <= GOAL_S else 1


if __name__ == "__main__":
    sys.exit(main())
