"""ICD-10-CM on the date of service, from the real code set (the simple-icd-10-cm package).

The package ships one fiscal year of the code set and parses its XML (about 1.7 s) when imported, so the
product reads it once, keeps a compact index of what it needs (each code, whether it is billable, its
Excludes1 notes) in a cache folder, and imports the package again only when the package changes.

The code changes that matter for the dates the product answers are data
(policies/tables/icd10cm-changes.yaml), each with its source: before its valid_from a code did not exist;
after its billable_through a code became a header (non-billable).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import yaml

from solver.errors import PolicyError, Problem
from solver.paths import cache_dir

_CODE_IN_NOTE = re.compile(r"\(([A-Z][0-9][0-9A-Z](?:\.[0-9A-Z-]{1,4})?)\)")
_INDEX: dict | None = None


def _build_index() -> dict:
    import simple_icd_10_cm as icd  # slow: parses the code set's XML

    codes, excludes1 = {}, {}
    for code in icd.get_all_codes(with_dots=True):
        if not icd.is_category_or_subcategory(code):
            continue
        codes[code] = 1 if icd.is_leaf(code) else 0
        notes = icd.get_excludes1(code)
        if notes:
            excludes1[code] = notes
    return {"codes": codes, "excludes1": excludes1}


def index() -> dict:
    """The compact code-set index, built once per package version and cached on disk."""
    global _INDEX
    if _INDEX is not None:
        return _INDEX
    version = metadata.version("simple-icd-10-cm")
    path = cache_dir() / f"icd10cm-index-{version}.json"
    try:
        _INDEX = json.loads(path.read_text(encoding="utf-8"))
        return _INDEX
    except (OSError, ValueError):
        pass
    _INDEX = _build_index()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp", encoding="utf-8") as fh:
            json.dump(_INDEX, fh, separators=(",", ":"))
        os.replace(fh.name, path)
    except OSError:
        pass  # a read-only home: keep the index in memory for this process
    return _INDEX


@dataclass(frozen=True)
class CodeChange:
    code: str
    valid_from: dt.date | None
    valid_through: dt.date | None
    billable_from: dt.date | None
    billable_through: dt.date | None
    source: str


def _ancestors(code: str) -> list[str]:
    """M79.12 -> M79.1, M79 (the categories and subcategories above a code)."""
    out, c = [], code
    while len(c.replace(".", "")) > 3:
        c = c[:-1].rstrip(".")
        out.append(c)
    return out


class CodeSet:
    """Validity and billability of ICD-10-CM codes on a date, and Excludes1 conflicts."""

    def __init__(self, changes_file: Path):
        self.changes: dict[str, CodeChange] = {}
        if changes_file.exists():
            self._load_changes(changes_file)

    def _load_changes(self, path: Path) -> None:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        problems = []
        for i, row in enumerate(data.get("changes", [])):
            try:
                self.changes[row["code"]] = CodeChange(
                    code=row["code"], valid_from=row.get("valid_from"), valid_through=row.get("valid_through"),
                    billable_from=row.get("billable_from"), billable_through=row.get("billable_through"),
                    source=row["source"])
            except (KeyError, TypeError) as exc:
                problems.append(Problem(str(path), f"changes.{i}", f"missing or bad field {exc}; each change needs code and source"))
        if problems:
            raise PolicyError(problems)

    def known(self, code: str) -> bool:
        return code in index()["codes"] or code in self.changes

    def status(self, code: str, on: dt.date) -> str:
        """billable | header | invalid (no such code on that date)."""
        change = self.changes.get(code)
        if change:
            if (change.valid_from and on < change.valid_from) or (change.valid_through and on > change.valid_through):
                return "invalid"
            if (change.billable_from and on < change.billable_from) or (change.billable_through and on > change.billable_through):
                return "header"
            if change.billable_from or change.billable_through:
                return "billable"
        leaf = index()["codes"].get(code)
        return "invalid" if leaf is None else "billable" if leaf else "header"

    def excludes1_pairs(self, codes: list[str]) -> list[tuple[str, str, str]]:
        """(code, excluded code, note) for each pair among codes that an Excludes1 note forbids together."""
        out = []
        for a in codes:
            for note in _excludes1_notes(a):
                for target in _CODE_IN_NOTE.findall(note):
                    prefix = target.rstrip("-").rstrip(".")
                    for b in codes:
                        if b != a and b.startswith(prefix):
                            out.append((a, b, note))
        return out

    def expand(self, pattern: str) -> list[str]:
        """A code, or a prefix ending in '*' (M54.5* = M54.5 and every code below it) -> codes of the code set."""
        if not pattern.endswith("*"):
            return [pattern] if self.known(pattern) else []
        root = pattern[:-1].rstrip(".")
        if not self.known(root):
            return []
        below = [c for c in index()["codes"] if c.startswith(root) and c != root]
        return [root] + sorted(below)


@lru_cache(maxsize=65536)
def _excludes1_notes(code: str) -> tuple[str, ...]:
    ex = index()["excludes1"]
    if code not in index()["codes"]:
        return ()
    notes = list(ex.get(code, ()))
    for anc in _ancestors(code):
        notes.extend(ex.get(anc, ()))
    return tuple(notes)
