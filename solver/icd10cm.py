"""ICD-10-CM on the date of service, from the real code set (the simple-icd-10-cm package).

The package ships one fiscal year of the code set. The code changes that matter for the dates the product
answers are data (policies/tables/icd10cm-changes.yaml), each with its source: before its `valid_from` a
code did not exist; after its `billable_through` a code became a header (non-billable).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import simple_icd_10_cm as icd
import yaml

from solver.errors import PolicyError, Problem

_CODE_IN_NOTE = re.compile(r"\(([A-Z][0-9][0-9A-Z](?:\.[0-9A-Z-]{1,4})?)\)")


@dataclass(frozen=True)
class CodeChange:
    code: str
    valid_from: dt.date | None
    valid_through: dt.date | None
    billable_from: dt.date | None
    billable_through: dt.date | None
    source: str


class CodeSet:
    """Validity and billability of ICD-10-CM codes on a date, and Excludes1 conflicts."""

    def __init__(self, changes_file: Path):
        self.changes: dict[str, CodeChange] = {}
        self.source_file = changes_file
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

    @property
    def edition(self) -> str:
        return "ICD-10-CM code set shipped by simple-icd-10-cm (code-list April 2026)"

    def status(self, code: str, on: dt.date) -> str:
        """billable | header | invalid (no such code on that date)."""
        return _status(self, code, on)

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


@lru_cache(maxsize=65536)
def _excludes1_notes(code: str) -> tuple[str, ...]:
    if not icd.is_valid_item(code):
        return ()
    notes = list(icd.get_excludes1(code))
    for anc in icd.get_ancestors(code):
        if icd.is_category_or_subcategory(anc):
            notes.extend(icd.get_excludes1(anc))
    return tuple(notes)


@lru_cache(maxsize=65536)
def _shipped(code: str) -> str:
    if not icd.is_valid_item(code) or not icd.is_category_or_subcategory(code) and not icd.is_extended_subcategory(code):
        return "invalid"
    return "billable" if icd.is_leaf(code) else "header"


def _status(cs: CodeSet, code: str, on: dt.date) -> str:
    change = cs.changes.get(code)
    if change:
        if (change.valid_from and on < change.valid_from) or (change.valid_through and on > change.valid_through):
            return "invalid"
        if (change.billable_from and on < change.billable_from) or (change.billable_through and on > change.billable_through):
            return "header"
        if change.billable_from or change.billable_through:
            return "billable"
    return _shipped(code)


def description(code: str) -> str | None:
    return icd.get_description(code) if icd.is_valid_item(code) else None


def expand(pattern: str) -> list[str]:
    """A code, or a prefix ending in '*' (M54.5* = M54.5 and every code below it) -> codes of the code set."""
    if not pattern.endswith("*"):
        return [pattern]
    root = pattern[:-1].rstrip(".")
    if not icd.is_valid_item(root):
        return []
    return [root] + list(icd.get_descendants(root))
