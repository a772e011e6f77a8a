"""The profile report: its JSON Schema, a validator, baseline comparison, recommendations.

The schema ships with the package (``profile_report.schema.json``). ``validate``
uses ``jsonschema`` when it is installed, else a small validator for the
keywords the schema uses (type, const, enum, required, properties,
additionalProperties, items, minimum, $ref to ``#/$defs``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

SCHEMA_VERSION = 1
SCHEMA_FILE = "profile_report.schema.json"
# (key in a run, label, unit) in display order; memory is in MB, the rest in seconds.
STAGES: tuple[tuple[str, str], ...] = (
    ("total_s", "total"),
    ("import_s", "import"),
    ("init_s", "model init"),
    ("first_encode_s", "first encode"),
    ("memory_mb", "memory"),
)
# A stage is a regression only when it is also slower by more than this absolute amount,
# so that jitter on tiny figures (a 5 ms first encode) never fails a CI job.
NOISE_FLOOR = {"memory_mb": 5.0}
NOISE_FLOOR_SECONDS = 0.010

_TYPES: dict[str, type | tuple[type, ...]] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "integer": int,
    "number": (int, float),
    "null": type(None),
}


def load_schema() -> dict[str, Any]:
    """The report's JSON Schema, as shipped in the package."""
    text = resources.files("embedmux.cli").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def validate(report: Any, schema: dict[str, Any] | None = None) -> list[str]:
    """Problems of ``report`` against the schema (``path: what``); empty when valid."""
    schema = schema or load_schema()
    try:
        import jsonschema  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        return _check(report, schema, schema, "$")
    validator = jsonschema.Draft202012Validator(schema)
    return [
        f"$.{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(report)
    ]


def _check(value: Any, node: dict[str, Any], root: dict[str, Any], path: str) -> list[str]:
    if "$ref" in node:
        name = node["$ref"].removeprefix("#/$defs/")
        return _check(value, root["$defs"][name], root, path)
    if "const" in node and value != node["const"]:
        return [f"{path}: must be {node['const']!r}"]
    if "enum" in node and value not in node["enum"]:
        return [f"{path}: must be one of {node['enum']}"]
    if "type" in node and not _is_type(value, node["type"]):
        return [f"{path}: must be of type {node['type']}"]
    if "minimum" in node and isinstance(value, int | float) and value < node["minimum"]:
        return [f"{path}: must be >= {node['minimum']}"]
    if isinstance(value, dict):
        return _check_object(value, node, root, path)
    if isinstance(value, list) and "items" in node:
        errors: list[str] = []
        for i, item in enumerate(value):
            errors += _check(item, node["items"], root, f"{path}[{i}]")
        return errors
    return []


def _check_object(
    value: dict[str, Any], node: dict[str, Any], root: dict[str, Any], path: str
) -> list[str]:
    errors = [f"{path}: missing {k!r}" for k in node.get("required", ()) if k not in value]
    props = node.get("properties", {})
    extra = node.get("additionalProperties", True)
    for key, item in value.items():
        if key in props:
            errors += _check(item, props[key], root, f"{path}.{key}")
        elif extra is False:
            errors.append(f"{path}: unexpected key {key!r}")
        elif isinstance(extra, dict):
            errors += _check(item, extra, root, f"{path}.{key}")
    return errors


def _is_type(value: Any, expected: str | list[str]) -> bool:
    names = [expected] if isinstance(expected, str) else expected
    for name in names:
        if isinstance(value, bool) and name in ("integer", "number"):
            continue
        if isinstance(value, _TYPES[name]):
            return True
    return False


# ---------------------------------------------------------------- baseline


@dataclass(frozen=True, slots=True)
class Delta:
    """One stage of one (strategy, mode) against the baseline, compared on medians."""

    strategy: str
    mode: str
    stage: str
    current: float
    baseline: float
    regression: bool

    @property
    def change(self) -> float:
        """Relative change (+0.25 is 25 % slower or larger)."""
        return (self.current - self.baseline) / self.baseline if self.baseline else 0.0


def compare(current: dict[str, Any], baseline: dict[str, Any], threshold: float) -> list[Delta]:
    """Stage-by-stage medians of every (strategy, mode) present in both reports."""
    old = {(r["strategy"], r["mode"]): r["stats"] for r in baseline.get("results", [])}
    deltas: list[Delta] = []
    for result in current["results"]:
        before = old.get((result["strategy"], result["mode"]))
        if before is None:
            continue
        for stage, _ in STAGES:
            if stage not in result["stats"] or stage not in before:
                continue
            now, then = result["stats"][stage]["median"], before[stage]["median"]
            floor = NOISE_FLOOR.get(stage, NOISE_FLOOR_SECONDS)
            worse = now > then * (1 + threshold) and now - then > floor
            deltas.append(Delta(result["strategy"], result["mode"], stage, now, then, worse))
    return deltas


# ---------------------------------------------------------------- recommendations


def recommendations(results: list[dict[str, Any]], targets: dict[str, float]) -> list[str]:
    """Advice drawn from the figures: which strategy for which situation, and why."""
    ok = [r for r in results if r["ok_runs"]]
    if not ok:
        return ["no run succeeded: check the errors above (is the model installed?)"]
    tips: list[str] = []
    med = {(r["strategy"], r["mode"]): r["stats"] for r in ok}
    fastest = min(ok, key=lambda r: r["stats"]["total_s"]["median"])
    tips.append(
        f"fastest to a first vector: {fastest['strategy']} ({fastest['mode']}),"
        f" median {fastest['stats']['total_s']['median']:.2f} s"
    )
    for r in ok:
        s = r["stats"]
        total = s["total_s"]["median"]
        if r["strategy"] in ("lazy", "background", "progressive") and total > 0:
            share = s["import_s"]["median"] / total
            if share > 0.5:
                tips.append(
                    f"{r['strategy']} ({r['mode']}): importing torch/sentence-transformers is"
                    f" {share:.0%} of the start; loading='onnx' avoids that import"
                )
                break
    tips += _cold_tips(med)
    tips += _handle_tips(ok)
    tips += _quantized_tips(ok, med)
    tips += _target_tips(ok, targets)
    return tips


def _cold_tips(med: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    tips = []
    for strategy in ("onnx", "quantized"):
        cold, warm = med.get((strategy, "cold")), med.get((strategy, "warm"))
        if cold and warm:
            extra = cold["total_s"]["median"] - warm["total_s"]["median"]
            if extra > 1.0:
                tips.append(
                    f"{strategy}: the first run on a machine pays a one-time export"
                    f" (+{extra:.1f} s cold); ship or pre-build the cache"
                    " (EMBEDMUX_CACHE_DIR) in images and CI"
                )
    return tips


def _handle_tips(ok: list[dict[str, Any]]) -> list[str]:
    for r in ok:
        if r["strategy"] in ("background", "progressive") and "construct_s" in r["stats"]:
            handle = r["stats"]["construct_s"]["median"]
            return [
                f"{r['strategy']} returns a provider in {handle * 1000:.0f} ms and loads"
                " meanwhile: use it when the program has other start-up work to overlap"
                + (
                    " (progressive also answers dimensions at once)"
                    if r["strategy"] == "progressive"
                    else ""
                )
            ]
    return []


def _quantized_tips(
    ok: list[dict[str, Any]], med: dict[tuple[str, str], dict[str, Any]]
) -> list[str]:
    quantized = sorted(
        (r for r in ok if r["strategy"] == "quantized"), key=lambda r: r["mode"] != "warm"
    )  # warm first: cold figures include the one-time export
    for r in quantized:
        fp32 = med.get(("onnx", r["mode"]))
        cos = r["stats"].get("quantization_cosine_min")
        accuracy = f" (int8 cosine vs fp32: min {cos['median']:.3f})" if cos else ""
        if fp32:
            q_mem, f_mem = r["stats"]["memory_mb"]["median"], fp32["memory_mb"]["median"]
            return [
                f"quantized vs onnx ({r['mode']}): memory {q_mem:.0f} vs {f_mem:.0f} MB,"
                f" first encode {r['stats']['first_encode_s']['median'] * 1000:.0f} vs"
                f" {fp32['first_encode_s']['median'] * 1000:.0f} ms{accuracy};"
                " prefer it only where memory matters more than exact vectors"
            ]
        return [f"quantized{accuracy}: compare with --strategy all before adopting it"]
    return []


def _target_tips(ok: list[dict[str, Any]], targets: dict[str, float]) -> list[str]:
    tips = []
    for r in ok:
        missed = [stage for stage, met in r["targets_met"].items() if not met]
        if missed:
            tips.append(f"{r['strategy']} ({r['mode']}) misses the target for: {', '.join(missed)}")
        over = r["stats"].get("memory_mb", {}).get("median", 0) > targets["memory_mb"]
        if over and r["strategy"] in ("lazy", "background", "progressive"):
            tips.append(f"{r['strategy']} ({r['mode']}): memory over target; onnx uses less")
        elif over and r["mode"] == "cold":
            tips.append(
                f"{r['strategy']} (cold): the memory figure includes the one-time export (torch);"
                " warm runs use far less"
            )
    if not tips:
        tips.append("every measured strategy meets every target")
    return tips
