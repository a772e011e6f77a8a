"""Machinery behind :class:`embedmux.providers.local.LocalProvider`.

Nothing here imports torch, sentence-transformers, transformers, onnxruntime or
tokenizers at import time; each backend imports what it needs inside its
loader, which runs in a worker thread.

    env          the environment variables read in one place
    resolve      model name or directory -> a local folder (offline rules)
    cache        cache directory, metadata cache, model content hashes
    resources    CPU / CUDA / MPS / memory detection -> device and batch size
    loader       the load-once state machine (not_loaded, loading, ready, error)
    backends/    one module per runtime; ``backends.load_encoder`` picks one
"""
