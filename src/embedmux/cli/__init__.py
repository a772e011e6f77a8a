"""The ``embedmux`` command line: embed, profile, bench, models, config check.

Exit codes::

    0  success
    1  error (bad config, provider failure, unreadable input ...)
    2  usage error (unknown option, missing argument)
    3  regression (``profile --baseline`` found a stage slower than the threshold)

Errors print one line on stderr, ``embedmux: error: ...``; ``--debug`` adds the
traceback and debug logging. Startup is kept cheap: building the parser imports
only the standard library, and each command imports what it needs when it runs
(``--help`` loads neither numpy nor httpx; ``embed`` on the ONNX path never loads
torch, and rich only when a progress bar is drawn).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from embedmux.cli import _bench, _config, _embed, _models, _profile
from embedmux.cli._common import EXIT_ERROR, EXIT_USAGE, CliError, add_debug_flag, debug_enabled

__all__ = ["build_parser", "main"]

_EPILOG = """\
examples:
  embedmux embed "hello world"                  one JSON line with a 384-dim vector (offline)
  cat docs.txt | embedmux embed --output vectors.npy
  embedmux profile --strategy all --runs 3      compare the five loading strategies
  embedmux bench                                quick self-check against the built-in fake server
  embedmux models --json
  embedmux config check embedmux.toml --offline

exit codes: 0 ok, 1 error, 2 usage, 3 regression (profile --baseline)
"""


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per command."""
    parser = argparse.ArgumentParser(
        prog="embedmux",
        description="Turn text into embedding vectors with any provider, or a local model.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"embedmux {_version()}")
    add_debug_flag(parser, top_level=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for module in (_embed, _profile, _bench, _models, _config):
        module.register(commands)
    return parser


def _version() -> str:
    from embedmux import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
    except SystemExit as e:  # argparse: --help / --version exit 0, usage errors exit 2
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    debug = debug_enabled(args)
    if debug:
        import logging

        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        print("embedmux: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `embedmux embed ... | head -1`
        _silence_stdout()
        return EXIT_ERROR
    except Exception as e:
        if debug:
            import traceback

            traceback.print_exc()
        print(f"embedmux: error: {_describe(e)}", file=sys.stderr)
        return e.code if isinstance(e, CliError) else EXIT_ERROR
    return code


def _describe(e: Exception) -> str:
    from embedmux._exceptions import EmbedmuxError

    text = " ".join(str(e).split()) or type(e).__name__
    if isinstance(e, CliError | EmbedmuxError | OSError):
        return text
    return f"{type(e).__name__}: {text} (run with --debug for the traceback)"


def _silence_stdout() -> None:
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass
