"""``embedmux embed``: texts in (arguments, stdin lines, a txt or jsonl file), vectors out."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from embedmux.cli._common import EXIT_OK, EXIT_USAGE, CliError, command_parser

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from embedmux._types import Provider

    FloatArray = npt.NDArray[np.float32]

DEFAULT_CHUNK = 256
JSONL_SUFFIXES = (".jsonl", ".ndjson")

_EPILOG = """\
examples:
  embedmux embed "hello world"                       one JSON line: {"index","text","embedding"}
  embedmux embed "first text" "second text" --output vectors.npy
  cat corpus.txt | embedmux embed > vectors.jsonl    one text per non-blank stdin line
  embedmux embed --input docs.jsonl --field body --output out.jsonl
  embedmux embed --config embedmux.toml --provider openai --input corpus.txt --output v.npy
  EMBEDMUX_CONFIG=prod.toml embedmux embed --offline "works without a network"

Without a config (--config, $EMBEDMUX_CONFIG, ./embedmux.toml) the local default
model all-MiniLM-L6-v2 is used (ONNX Runtime when available: no torch import).
A cache named by the config (or --cache) makes an interrupted run resumable:
texts already embedded come back from the cache.

exit codes: 0 ok, 1 error, 2 usage
"""


def register(commands: Any) -> None:
    """Add the ``embed`` sub-command."""
    p = command_parser(
        commands,
        "embed",
        help="embed texts and write JSONL or .npy",
        description="Embed texts given as arguments, stdin lines, or an --input file.",
        epilog=_EPILOG,
        run=run,
    )
    p.add_argument("texts", nargs="*", metavar="TEXT", help="texts to embed")
    p.add_argument("-i", "--input", metavar="FILE", help="txt (one text per line) or .jsonl file")
    p.add_argument(
        "--field", metavar="NAME", help="jsonl: the field holding the text (default: text)"
    )
    p.add_argument(
        "-o", "--output", metavar="FILE", help="write here; .npy writes a float32 array, else JSONL"
    )
    p.add_argument(
        "--config", metavar="FILE", help="config file (default: $EMBEDMUX_CONFIG, ./embedmux.toml)"
    )
    p.add_argument("--provider", metavar="NAME", help="use only this provider of the config")
    p.add_argument("--offline", action="store_true", help="no network: local providers only")
    p.add_argument(
        "--cache", metavar="URL", help="cache URL (overrides the config's), e.g. sqlite:///v.db"
    )
    p.add_argument(
        "--input-type", choices=("document", "query"), default="document", help="default: document"
    )
    p.add_argument(
        "--chunk",
        type=_positive,
        default=DEFAULT_CHUNK,
        metavar="N",
        help=f"texts per client call (progress and resume granularity; default {DEFAULT_CHUNK})",
    )
    bar = p.add_mutually_exclusive_group()
    bar.add_argument(
        "--progress",
        dest="progress",
        action="store_const",
        const=True,
        default=None,
        help="always draw a progress bar (on stderr)",
    )
    bar.add_argument(
        "--no-progress",
        dest="progress",
        action="store_const",
        const=False,
        help="never draw a progress bar",
    )


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def run(args: argparse.Namespace) -> int:
    """Read the texts, embed them chunk by chunk, write the vectors."""
    texts = read_texts(args)
    if not texts:
        raise CliError("no texts to embed", EXIT_USAGE)
    if args.offline:
        from embedmux.cli._common import set_offline_env

        set_offline_env()
    from embedmux.cli._common import load_setup

    providers, cache, _ = load_setup(args.config, provider=args.provider, offline=args.offline)
    import asyncio

    asyncio.run(_embed_all(args, texts, providers, args.cache or cache))
    return EXIT_OK


# ---------------------------------------------------------------- input


def read_texts(args: argparse.Namespace) -> list[str]:
    """The texts from the arguments, ``--input`` or stdin (in that order of precedence)."""
    if args.texts and args.input:
        raise CliError("give texts as arguments or with --input, not both", EXIT_USAGE)
    if args.texts:
        return list(args.texts)
    if args.input:
        path = Path(args.input)
        jsonl = args.field is not None or path.suffix.lower() in JSONL_SUFFIXES
        with path.open(encoding="utf-8") as f:
            return read_jsonl(f, args.field or "text", str(path)) if jsonl else read_lines(f)
    if sys.stdin is None or sys.stdin.isatty():
        raise CliError("no texts: pass TEXT arguments, --input FILE, or pipe lines on stdin", 2)
    if args.field is not None:
        return read_jsonl(sys.stdin, args.field, "stdin")
    return read_lines(sys.stdin)


def read_lines(stream: TextIO) -> list[str]:
    """One text per line; the line break is dropped and blank lines are skipped."""
    return [line.rstrip("\r\n") for line in stream if line.strip()]


def read_jsonl(stream: TextIO, field: str, origin: str) -> list[str]:
    """The string ``field`` of each JSON object line (blank lines skipped)."""
    texts: list[str] = []
    for number, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as e:
            raise CliError(f"{origin}:{number}: not valid JSON: {e}") from e
        value = row.get(field) if isinstance(row, dict) else None
        if not isinstance(value, str):
            raise CliError(f"{origin}:{number}: no string field {field!r}")
        texts.append(value)
    return texts


# ---------------------------------------------------------------- embedding


async def _embed_all(
    args: argparse.Namespace, texts: list[str], providers: list[Provider], cache: str | None
) -> None:
    from embedmux.cli._common import settle
    from embedmux.cli._progress import make_progress

    client = _client(providers, cache)
    writer = _writer(args.output)
    bar = make_progress(args.progress, len(texts), "embedding")
    try:
        async with client:
            try:
                for start in range(0, len(texts), args.chunk):
                    chunk = texts[start : start + args.chunk]
                    result = await client.embed(chunk, input_type=args.input_type)
                    writer.write(start, chunk, result.vectors)
                    bar.advance(len(chunk), result.usage)
            finally:
                await settle(providers)
    finally:
        bar.close()
        writer.close()


def _client(providers: list[Provider], cache: str | None) -> Any:
    import inspect

    from embedmux._client import Client

    if cache and "cache" in inspect.signature(Client).parameters:
        return Client(providers, cache=cache)  # type: ignore[call-arg, unused-ignore]
    if cache:
        print(
            "embedmux: warning: this Client has no cache support; --cache ignored", file=sys.stderr
        )
    return Client(providers)


class JsonlWriter:
    """``{"index", "text", "embedding"}`` lines, streamed as chunks finish."""

    def __init__(self, stream: TextIO, *, owned: bool) -> None:
        self._stream = stream
        self._owned = owned

    def write(self, start: int, texts: Sequence[str], vectors: FloatArray) -> None:
        """Write one line per text of a chunk beginning at input ``start``."""
        lines = [
            json.dumps({"index": start + i, "text": t, "embedding": v.tolist()})
            for i, (t, v) in enumerate(zip(texts, vectors, strict=True))
        ]
        self._stream.write("\n".join(lines) + "\n")
        self._stream.flush()

    def close(self) -> None:
        """Close the file (never stdout)."""
        if self._owned:
            self._stream.close()


class NpyWriter:
    """One float32 array of shape (n, dim), saved when the run ends."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._parts: list[FloatArray] = []
        self._complete = True

    def write(self, start: int, texts: Sequence[str], vectors: FloatArray) -> None:
        """Keep a chunk's vectors."""
        self._parts.append(vectors)

    def close(self) -> None:
        """Save the array (only vectors of finished chunks; nothing if none finished)."""
        if not self._parts:
            return
        import numpy as np

        np.save(self._path, np.concatenate(self._parts).astype(np.float32, copy=False))


def _writer(output: str | None) -> JsonlWriter | NpyWriter:
    if output is None:
        return JsonlWriter(sys.stdout, owned=False)
    path = Path(output)
    if path.suffix.lower() == ".npy":
        return NpyWriter(path)
    return JsonlWriter(path.open("w", encoding="utf-8"), owned=True)
