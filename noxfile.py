"""Developer sessions: ``nox -s tests``, ``lint``, ``typecheck``, ``bench``."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.default_venv_backend = "venv"

EXTRAS = ".[local,onnx,cli,dev]"


def _install(session: nox.Session) -> None:
    # torch first and pinned: a plain requirement would pull a multi-GB CUDA build.
    session.install("torch==2.13.0")
    session.install("-e", EXTRAS)


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite (the same command CI runs)."""
    _install(session)
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and formatting."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package and the tests."""
    _install(session)
    session.run("mypy")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks: HTTP pipeline vs raw httpx/aiohttp, local model vs sentence-transformers."""
    _install(session)
    quick = ["--quick"] if "quick" in session.posargs else []
    for script in ("bench_http.py", "bench_local.py", "bench_cache.py"):
        session.run("python", f"benchmarks/{script}", *quick)
