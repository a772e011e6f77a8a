"""Int8 dynamic quantization of an ONNX export (needs onnxruntime's quantizer and onnx).

MatMul weights are quantized per output channel; activations are quantized at
run time. The drift from fp32 is measured on fixed texts when the int8 model is
built and kept in ``meta.json`` (``ModelInfo.quantization``) so every later
start can report it.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from embedmux._local import _defaults as D
from embedmux._local.backends.base import ONNX_HINT, QuantizationReport, require
from embedmux._local.backends.onnx import ExportMeta, plain_encoder

logger = logging.getLogger("embedmux.local")


def quantize_export(folder: Path, meta: ExportMeta) -> ExportMeta:
    """Write ``model.int8.onnx`` next to ``model.onnx``, measure it, and update ``meta.json``."""
    require("onnx", ONNX_HINT)
    quantization = require("onnxruntime.quantization", ONNX_HINT)
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".onnx")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with _quiet_root_logger():
            quantization.quantize_dynamic(
                str(folder / D.ONNX_MODEL_FILE),
                str(tmp),
                per_channel=True,
                op_types_to_quantize=["MatMul"],
                weight_type=quantization.QuantType.QInt8,
            )
        report = measure(folder / D.ONNX_MODEL_FILE, tmp, folder, meta)
        os.replace(tmp, folder / D.ONNX_INT8_FILE)
    finally:
        tmp.unlink(missing_ok=True)
    meta = replace(meta, quantization=report)
    meta.write(folder)
    logger.info(
        "int8 model: cosine to fp32 mean %.4f, min %.4f", report.cosine_mean, report.cosine_min
    )
    return meta


def measure(fp32: Path, int8: Path, folder: Path, meta: ExportMeta) -> QuantizationReport:
    """Cosine similarity between fp32 and int8 vectors of the calibration texts."""
    texts = list(D.CALIBRATION_TEXTS)
    a = plain_encoder(fp32, folder, meta).encode(texts, 16).vectors
    b = plain_encoder(int8, folder, meta).encode(texts, 16).vectors
    cos = (a * b).sum(axis=1)
    return QuantizationReport(float(cos.mean()), float(cos.min()), len(texts))


class _DropQuantizerChatter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "onnxruntime" not in record.pathname


@contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """The quantizer logs advice and progress on the root logger; drop those records."""
    root = logging.getLogger()
    hint_filter = _DropQuantizerChatter()
    root.addFilter(hint_filter)
    try:
        yield
    finally:
        root.removeFilter(hint_filter)
