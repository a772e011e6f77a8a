"""The environment variables the local provider reads, in one place."""

from __future__ import annotations

import os
from pathlib import Path

OFFLINE_VARS = ("EMBEDMUX_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
CACHE_DIR_VAR = "EMBEDMUX_CACHE_DIR"
_TRUE = {"1", "true", "yes", "on"}


def offline_from_env() -> bool:
    """True when EMBEDMUX_OFFLINE, HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE is set truthy."""
    return any(os.environ.get(var, "").strip().lower() in _TRUE for var in OFFLINE_VARS)


def cache_dir_from_env() -> Path | None:
    """``EMBEDMUX_CACHE_DIR`` as a path, or ``None`` when unset or empty."""
    value = os.environ.get(CACHE_DIR_VAR, "").strip()
    return Path(value).expanduser() if value else None
