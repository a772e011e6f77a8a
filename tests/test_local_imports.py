"""Importing embedmux or the local provider loads none of the heavy ML stacks."""

from __future__ import annotations

from tests import local_fixtures
from tests.local_fixtures import run_python

_local_env = local_fixtures._local_env

HEAVY = ("torch", "transformers", "sentence_transformers", "onnxruntime", "tokenizers")


def test_import_embedmux_and_local_provider_is_light() -> None:
    """`import embedmux` and `import embedmux.providers.local` import no ML framework."""
    code = f"""
        import json, sys
        import embedmux
        import embedmux.providers.local
        from embedmux.providers.local import LocalProvider
        heavy = {HEAVY!r}
        print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))
    """
    assert run_python(code) == []


def test_lazy_provider_construction_is_light() -> None:
    """Building a lazy LocalProvider and reading its id and space imports no ML framework."""
    code = f"""
        import json, sys
        from embedmux.providers.local import LocalProvider
        p = LocalProvider(loading="lazy")
        assert p.status == "not_loaded" and p.model == "all-MiniLM-L6-v2"
        str(p.space)
        heavy = {HEAVY!r}
        print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in heavy)))
    """
    assert run_python(code) == []
