"""One measured load of a local model, in a fresh process; prints one JSON line.

    python -m embedmux.cli._profile_child --strategy onnx [--model all-MiniLM-L6-v2]

Stages (seconds, ``time.perf_counter``):
    import        importing embedmux's LocalProvider and the strategy's runtime
                  (sentence-transformers + torch, or onnxruntime + tokenizers)
    init          constructing the provider and waiting until the model is ready
                  (``construct`` is the constructor alone: what a caller waits
                  for before it gets a handle, near zero for background loading)
    first_encode  embedding one short text on the ready model
    total         import + init + first_encode
Memory: resident set size after the first encode minus before the imports (MB),
and the peak (VmHWM) where /proc is available.
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()

import argparse  # noqa: E402 - the clock starts before anything else is imported
import json  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402

RUNTIME_MODULES = {
    "lazy": ("sentence_transformers",),
    "background": ("sentence_transformers",),
    "progressive": ("sentence_transformers",),
    "onnx": ("onnxruntime", "tokenizers"),
    "quantized": ("onnxruntime", "tokenizers"),
}
PROBE_TEXT = "The quick brown fox jumps over the lazy dog."


def rss_mb(field: str = "VmRSS") -> float | None:
    """This process's resident memory (or its peak with ``VmHWM``) in MB."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    if field == "VmHWM":
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
    return None


def measure(model: str, strategy: str) -> dict[str, Any]:
    """Import, load and first-encode ``model`` with ``strategy``; the figures as a dict."""
    import asyncio
    import importlib

    mem0 = rss_mb()
    start = time.perf_counter()
    from embedmux.providers.local import LocalProvider

    for module in RUNTIME_MODULES[strategy]:
        importlib.import_module(module)
    imported = time.perf_counter()
    provider = LocalProvider(model, loading=strategy, offline=True)  # type: ignore[arg-type]
    constructed = time.perf_counter()

    async def load_and_encode() -> tuple[float, float, Any, Any]:
        await provider.wait_ready()
        ready = time.perf_counter()
        result = await provider.embed([PROBE_TEXT])
        encoded = time.perf_counter()
        info = provider.info
        await provider.aclose()
        return ready, encoded, result, info

    dims_early = provider.dimensions
    ready, encoded, result, info = asyncio.run(load_and_encode())
    mem1 = rss_mb()
    return {
        "ok": True,
        "strategy": strategy,
        "model": model,
        "startup_s": start - _T0,
        "import_s": imported - start,
        "construct_s": constructed - imported,
        "init_s": ready - imported,
        "first_encode_s": encoded - ready,
        "total_s": encoded - start,
        "memory_mb": (mem1 - mem0) if mem0 is not None and mem1 is not None else None,
        "peak_memory_mb": rss_mb("VmHWM"),
        "dimensions": result.dimensions,
        "dimensions_before_ready": dims_early,
        "backend": info.backend if info else None,
        "device": info.device if info else None,
        "quantization_cosine_min": _quant(info),
        "torch_imported": "torch" in sys.modules,
    }


def _quant(info: Any) -> float | None:
    report = getattr(info, "quantization", None) if info else None
    return float(report.cosine_min) if report is not None else None


def main(argv: list[str] | None = None) -> int:
    """Run one measurement and print it as one JSON line (``ok: false`` with the error)."""
    parser = argparse.ArgumentParser(prog="python -m embedmux.cli._profile_child")
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--strategy", choices=sorted(RUNTIME_MODULES), required=True)
    args = parser.parse_args(argv)
    try:
        figures = measure(args.model, args.strategy)
    except Exception as e:  # the parent reports it; one line either way
        figures = {"ok": False, "strategy": args.strategy, "error": f"{type(e).__name__}: {e}"}
    print(json.dumps(figures), flush=True)
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
