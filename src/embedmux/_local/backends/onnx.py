"""The ONNX Runtime backend: ``onnx`` (fp32) and ``quantized`` (int8) strategies.

At run time this module needs only onnxruntime, tokenizers and numpy: torch is
imported solely by ``export`` the first time a model is exported. Inputs are
tokenized once (truncated at the model's ``max_seq_length``), sorted by token
count and run in passes padded to each pass's longest text (see ``passes``),
then mean-pooled and normalised exactly like sentence-transformers.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedmux._exceptions import ConfigError
from embedmux._local import _defaults as D
from embedmux._local.backends.base import (
    ONNX_HINT,
    Encoded,
    LoadSpec,
    ModelInfo,
    QuantizationReport,
    require,
)
from embedmux._local.cache import content_hash, read_json, write_json_atomic
from embedmux._local.passes import max_pass_tokens, plan_passes
from embedmux._local.resolve import ResolvedModel, download_snapshot
from embedmux._local.resources import choose_batch_size, choose_onnx_device, detect_resources

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    IntArray = npt.NDArray[np.int64]
    FloatArray = npt.NDArray[np.float32]

logger = logging.getLogger("embedmux.local")
POOLING_MODES = ("mean", "cls", "max")
_build_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class ExportMeta:
    """``meta.json`` of an export folder: how to run the exported graph."""

    format: int
    model_id: str
    source_hash: str
    dimensions: int
    max_seq_length: int
    pooling: str
    input_names: list[str]
    pad_id: int
    pad_token: str
    quantization: QuantizationReport | None = None

    @classmethod
    def read(cls, folder: Path) -> ExportMeta | None:
        """The metadata of a complete export in ``folder``, or ``None``."""
        data = read_json(folder / D.ONNX_META_FILE)
        if not isinstance(data, dict) or data.get("format") != D.ONNX_FORMAT_VERSION:
            return None
        if not (folder / D.ONNX_MODEL_FILE).is_file():
            return None
        quant = data.pop("quantization", None)
        try:
            meta = cls(**data)
            return replace(meta, quantization=QuantizationReport(**quant) if quant else None)
        except TypeError:
            return None

    def write(self, folder: Path) -> None:
        """Write this as ``meta.json`` in ``folder`` (atomically)."""
        write_json_atomic(folder / D.ONNX_META_FILE, asdict(self))


def export_dir(cache_root: Path, model_id: str, source_hash: str) -> Path:
    """The export folder for a model's content hash."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id)[:64]
    return cache_root / D.ONNX_SUBDIR / f"{safe}-{source_hash[:16]}"


class OnnxEncoder:
    """An ONNX Runtime session plus a tokenizer set up like sentence-transformers'."""

    def __init__(
        self, session: Any, tokenizer: Any, meta: ExportMeta, info: ModelInfo, *, normalize: bool
    ) -> None:
        self._session = session
        self._tokenizer = tokenizer
        self._meta = meta
        self._info = info
        self._normalize = normalize

    @property
    def info(self) -> ModelInfo:
        """What was loaded and how it runs."""
        return self._info

    def encode(self, texts: list[str], batch_size: int) -> Encoded:
        """Vectors for ``texts`` in order: tokenized once, then run in length-sorted passes."""
        import numpy as np

        encodings = self._tokenizer.encode_batch(texts)
        lengths = [len(e.ids) for e in encodings]
        out = np.empty((len(texts), self._meta.dimensions), dtype=np.float32)
        passes = plan_passes(lengths, batch_size, max_pass_tokens(self._info.device))
        for idx in passes:
            out[idx] = self._run([encodings[i] for i in idx])
        return Encoded(
            out,
            batches=len(passes),
            tokens=sum(lengths),
            truncated=sum(1 for e in encodings if e.overflowing),
        )

    def _run(self, encodings: list[Any]) -> FloatArray:
        """Pool the vectors of one pass, each text padded to the pass's longest."""
        import numpy as np

        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), width), self._meta.pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        types = np.zeros((len(encodings), width), dtype=np.int64)
        for row, e in enumerate(encodings):
            n = len(e.ids)
            ids[row, :n], mask[row, :n], types[row, :n] = e.ids, 1, e.type_ids
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._meta.input_names:
            feed["token_type_ids"] = types
        hidden = self._session.run(None, feed)[0]
        return pool(hidden, mask, self._meta.pooling, normalize=self._normalize)

    def close(self) -> None:
        """Drop the session."""
        self._session = None


def pool(hidden: FloatArray, mask: IntArray, mode: str, *, normalize: bool) -> FloatArray:
    """Pool token vectors like sentence-transformers' ``Pooling`` (+ ``Normalize``)."""
    import numpy as np

    m = mask[..., None].astype(np.float32)
    if mode == "cls":
        vectors = hidden[:, 0]
    elif mode == "max":
        vectors = np.where(m > 0, hidden, np.float32(-1e9)).max(axis=1)
    else:
        vectors = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), D.POOLING_EPS, None)
    if normalize:
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.clip(norms, D.NORMALIZE_EPS, None)
    return vectors.astype(np.float32, copy=False)


def make_tokenizer(folder: Path, max_seq_length: int) -> Any:
    """The export's tokenizer: truncate at ``max_seq_length``, no padding (passes pad)."""
    tokenizers = require("tokenizers", ONNX_HINT)
    tok = tokenizers.Tokenizer.from_file(str(folder / D.ONNX_TOKENIZER_FILE))
    tok.enable_truncation(max_length=max_seq_length)
    tok.no_padding()
    return tok


def make_session(model_file: Path, providers: list[str], threads: int) -> Any:
    """An ONNX Runtime session with full graph optimisation and one thread per CPU."""
    ort = require("onnxruntime", ONNX_HINT)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Worker threads spin while a run is in progress (fast) but stop when it returns,
    # instead of burning the CPU that the caller's other work needs between runs.
    options.add_session_config_entry("session.force_spinning_stop", "1")
    return ort.InferenceSession(str(model_file), options, providers=providers)


def ensure_export(
    spec: LoadSpec, resolved: ResolvedModel, *, quantized: bool
) -> tuple[Path, ExportMeta]:
    """The export folder for ``resolved`` (exporting or quantizing first when missing)."""
    folder = resolved.path if resolved.path is not None else download_snapshot(str(resolved.hub_id))
    digest = content_hash(folder, spec.cache_root)
    target = export_dir(spec.cache_root, spec.model_id, digest)
    meta = ExportMeta.read(target)
    if meta is None or (quantized and not _has_int8(target, meta)):
        # torch.onnx.export is not thread-safe: two providers loading at once in one
        # process (say onnx and quantized) take turns, and the second reuses the first's work.
        with _build_lock:
            meta = _build(folder, target, spec.model_id, digest, quantized=quantized)
    return target, meta


def _has_int8(target: Path, meta: ExportMeta) -> bool:
    return meta.quantization is not None and (target / D.ONNX_INT8_FILE).is_file()


def _build(
    folder: Path, target: Path, model_id: str, digest: str, *, quantized: bool
) -> ExportMeta:
    meta = ExportMeta.read(target)
    if meta is None:
        from embedmux._local.backends.export import export_model

        meta = export_model(folder, target, model_id=model_id, source_hash=digest)
    if quantized and not _has_int8(target, meta):
        from embedmux._local.backends.quantize import quantize_export

        meta = quantize_export(target, meta)
    return meta


def load(spec: LoadSpec, resolved: ResolvedModel, *, quantized: bool = False) -> OnnxEncoder:
    """Load the (exported once, cached) ONNX model for ``resolved``."""
    require("onnxruntime", ONNX_HINT)
    require("tokenizers", ONNX_HINT)
    target, meta = ensure_export(spec, resolved, quantized=quantized)
    res = detect_resources(probe_torch=False, probe_onnxruntime=True)
    device, providers = choose_onnx_device(spec.device, res)
    max_len = spec.max_seq_length or meta.max_seq_length
    file = target / (D.ONNX_INT8_FILE if quantized else D.ONNX_MODEL_FILE)
    session = make_session(file, providers, res.cpu_count)
    info = ModelInfo(
        model_id=spec.model_id,
        path=str(resolved.path) if resolved.path else None,
        backend="onnxruntime-int8" if quantized else "onnxruntime",
        device=device,
        batch_size=spec.batch_size or choose_batch_size(device, res, spec.profile_batch_size),
        dimensions=meta.dimensions,
        max_seq_length=max_len,
        export_path=str(file),
        quantization=meta.quantization if quantized else None,
    )
    tokenizer = make_tokenizer(target, max_len)
    return OnnxEncoder(session, tokenizer, meta, info, normalize=spec.normalize)


def check_pooling(mode: str) -> str:
    """``mode`` if the ONNX backend can pool that way, else ``ConfigError``."""
    if mode not in POOLING_MODES:
        raise ConfigError(
            f"the onnx backend supports pooling {', '.join(POOLING_MODES)}, not {mode!r};"
            " use loading='background' for this model"
        )
    return mode


def plain_encoder(file: Path, folder: Path, meta: ExportMeta) -> OnnxEncoder:
    """A single-threaded CPU encoder for ``file`` (export checks and quantization drift)."""
    session = make_session(file, ["CPUExecutionProvider"], 1)
    info = ModelInfo(
        meta.model_id, None, "onnxruntime", "cpu", 16, meta.dimensions, meta.max_seq_length
    )
    tok = make_tokenizer(folder, meta.max_seq_length)
    return OnnxEncoder(session, tok, meta, info, normalize=True)
