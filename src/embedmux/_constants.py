"""Every default number embedmux uses, in one place (seconds unless the name says otherwise)."""

from __future__ import annotations

DEFAULT_TIMEOUT_SECONDS = 60.0
DEFAULT_MAX_RETRIES = 3
DEFAULT_RETRY_DELAY_MS = 500
DEFAULT_MAX_RETRY_DELAY_MS = 30_000
# A server hint (Retry-After / retry-after-ms) longer than this is capped to it.
MAX_RETRY_AFTER_SECONDS = 60.0
DEFAULT_MAX_CONCURRENCY = 8
DEFAULT_CONNECTION_POOL_SIZE = 20

# OpenAI's documented request limits for the embeddings endpoint.
OPENAI_MAX_BATCH_SIZE = 2048
OPENAI_MAX_BATCH_TOKENS = 300_000
OPENAI_MAX_INPUT_TOKENS = 8192

# Token buckets hold about this many seconds of quota. Servers enforce limits
# over short windows (Azure: 1 s or 10 s), and whatever a bucket saved up while
# idle goes out as a burst on top of the steady rate, so keep it small.
RATE_LIMIT_BURST_SECONDS = 0.05
# The buckets run at this fraction of the configured RPM/TPM: the margin absorbs
# arrival jitter and the burst, so a client configured at its account limit
# sees no 429s (benchmarks/bench_http.py, TPM section).
RATE_LIMIT_HEADROOM = 0.95
# Random extra wait added to a provider-wide pause so waiters do not return
# together: up to this fraction of the pause, and never more than the cap.
PAUSE_JITTER_FRACTION = 0.2
PAUSE_JITTER_SECONDS = 0.25

# Conservative token estimate when no exact tokenizer is available offline.
ESTIMATE_CHARS_PER_TOKEN = 3.0

DEFAULT_CIRCUIT_FAILURE_THRESHOLD = 5
DEFAULT_CIRCUIT_COOLDOWN_SECONDS = 30.0
