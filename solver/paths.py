"""Where the knowledge base and the policies live: inside the installed package, or beside the source tree."""
from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    bundled = _PACKAGE / "_data" / name
    if bundled.is_dir():
        return bundled
    return _PACKAGE.parent / name


KB_DIR = _data_dir("kb")
POLICIES_DIR = _data_dir("policies")
