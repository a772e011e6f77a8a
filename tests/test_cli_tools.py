"""``embedmux profile``, ``models`` and ``bench`` through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from embedmux.cli._report import compare, load_schema, validate
from tests.test_cli_support import cli_cache, run_cli

__all__ = ["cli_cache"]
pytestmark = pytest.mark.usefixtures("cli_cache")


@pytest.fixture(scope="module")
def onnx_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A real profile run: onnx, warm, 2 runs, written as a JSON report."""
    from tests.test_cli_support import shared_cache_dir

    out = tmp_path_factory.mktemp("profile") / "report.json"
    done = run_cli("profile", "--strategy", "onnx", "--warm", "--runs", "2", "--output", str(out),
                   env={"EMBEDMUX_CACHE_DIR": str(shared_cache_dir(tmp_path_factory))})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "recommendations:" in done.stdout
    report: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    report["_path"] = str(out)
    return report


def test_profile_report_has_statistics_and_validates(onnx_report: dict[str, Any]) -> None:
    """The report matches its shipped schema and has mean/median/stdev/min/max per stage."""
    report = {k: v for k, v in onnx_report.items() if k != "_path"}
    assert validate(report) == []
    assert report["schema_version"] == 1
    (result,) = report["results"]
    assert (result["strategy"], result["mode"], result["ok_runs"]) == ("onnx", "warm", 2)
    for stage in ("total_s", "import_s", "init_s", "first_encode_s", "memory_mb"):
        assert set(result["stats"][stage]) == {"mean", "median", "stdev", "min", "max"}
        assert result["stats"][stage]["min"] <= result["stats"][stage]["max"]
    assert all(run["torch_imported"] is False for run in result["runs"])
    assert set(result["targets_met"]) == set(report["targets"])


def test_profile_regression_against_a_doctored_baseline_exits_3(
    onnx_report: dict[str, Any], tmp_path: Path
) -> None:
    """A baseline ten times faster than now makes the comparison fail with exit 3."""
    baseline = {k: v for k, v in onnx_report.items() if k != "_path"}
    for result in baseline["results"]:
        for summary in result["stats"].values():
            for key in summary:
                summary[key] /= 10
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(baseline), encoding="utf-8")
    done = run_cli("profile", "--strategy", "onnx", "--warm", "--runs", "1",
                   "--baseline", str(path))  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert "REGRESSION" in done.stdout


def test_compare_within_threshold_is_no_regression(onnx_report: dict[str, Any]) -> None:
    """A report compared with itself has no regression at any stage."""
    deltas = compare(onnx_report, onnx_report, 0.2)
    assert deltas
    assert not any(d.regression for d in deltas)


def test_validator_names_what_is_wrong(onnx_report: dict[str, Any]) -> None:
    """The schema check reports a wrong version and a missing key by path."""
    broken = {k: v for k, v in onnx_report.items() if k not in ("_path", "targets")}
    broken["schema_version"] = 2
    problems = validate(broken, load_schema())
    assert any("schema_version" in p for p in problems)
    assert any("targets" in p for p in problems)


def test_profile_plot_without_matplotlib_has_an_install_hint(tmp_path: Path) -> None:
    """--plot fails up front with a pip hint when matplotlib is missing."""
    pytest.importorskip("numpy")
    try:
        import matplotlib  # type: ignore[import-not-found, unused-ignore]  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("matplotlib is installed")
    done = run_cli("profile", "--plot", str(tmp_path / "p.png"))
    assert done.returncode == 1
    assert "pip install matplotlib" in done.stderr


def test_models_json_lists_the_bundled_model_and_resources() -> None:
    """models --json shows the bundled model's metadata and the detected resources."""
    done = run_cli("models", "--json", "--no-torch-probe")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    mini = next(m for m in data["models"] if m["model"] == "all-MiniLM-L6-v2")
    assert (mini["dimensions"], mini["max_seq_length"]) == (384, 256)
    assert mini["size_bytes"] > 0
    assert isinstance(mini["onnx_export"], bool)
    assert data["resources"]["cpu_count"] >= 1
    assert data["resources"]["suggested_device"] == "cpu"
    assert data["resources"]["suggested_batch_size"] >= 1


def test_bench_fake_reports_throughput_latency_and_ratio() -> None:
    """bench --fake measures texts/s, percentiles and the ratio to a raw httpx loop."""
    done = run_cli("bench", "--fake", "--texts", "64", "--batch", "16", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    mine = data["embedmux"]
    assert mine["texts"] == 64
    assert mine["texts_per_s"] > 0
    assert mine["p50_ms"] <= mine["p95_ms"] <= mine["p99_ms"]
    assert data["ratio_to_raw"] > 0
    assert data["server"]["rate_limited"] == 0
