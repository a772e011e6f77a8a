"""A separate process that writes deterministic vectors into a cache file (for test_cache).

    python tests/_cache_writer.py DB START COUNT BATCH [--forever]

Writes texts ``text-{START}`` .. ``text-{START + COUNT - 1}`` in batches of
``BATCH`` and prints the number of texts written after each committed batch.
With ``--forever`` it starts again from ``START`` until it is killed.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys

import numpy as np
import numpy.typing as npt

from embedmux._cache import Cache

NAMESPACE = "writer@64|document"
DIMS = 64


def text_of(i: int) -> str:
    """The i-th text the writer stores."""
    return f"text-{i}"


def vector_of(text: str) -> npt.NDArray[np.float32]:
    """The deterministic vector the writer stores for ``text``."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    return np.random.default_rng(seed).standard_normal(DIMS).astype(np.float32)


async def write(db: str, start: int, count: int, batch: int, forever: bool) -> None:
    """Write the texts batch by batch, reporting progress on stdout."""
    cache = Cache(db, memory_entries=0)
    written = 0
    while True:
        for lo in range(start, start + count, batch):
            texts = [text_of(i) for i in range(lo, min(lo + batch, start + count))]
            await cache.put_many(NAMESPACE, texts, np.stack([vector_of(t) for t in texts]))
            written += len(texts)
            print(written, flush=True)
        if not forever:
            break
    if not cache.enabled:
        sys.exit("cache disabled itself")
    await cache.aclose()


if __name__ == "__main__":
    db, start, count, batch = sys.argv[1], *map(int, sys.argv[2:5])
    asyncio.run(write(db, start, count, batch, "--forever" in sys.argv))
