"""Where the knowledge base and the policies live: inside the installed package, or beside the source tree."""
from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    bundled = _PACKAGE / "_data" / name
    if bundled.is_dir():
        return bundled
    return _PACKAGE.parent / name


KB_DIR = _data_dir("kb")
# An analyst may point the product at a policies folder of their own (PAYERKB_POLICIES).
POLICIES_DIR = Path(os.environ["PAYERKB_POLICIES"]) if os.environ.get("PAYERKB_POLICIES") else _data_dir("policies")


def cache_dir() -> Path:
    """Where derived data (the ICD-10-CM index, filtered CMS files) is kept between runs."""
    base = os.environ.get("PAYERKB_CACHE") or os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "payerkb"
