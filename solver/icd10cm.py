"""ICD-10-CM on the date of service: the release in force on that date, from several real releases.

The newest release is the code set of the simple-icd-10-cm package, which parses its XML (about 1.7 s) when
imported, so the product reads it once, keeps a compact index of what it needs (each code, whether it is
billable, its Excludes1 notes, the code set's fingerprint) in a cache folder, and imports the package again
only when the package changes or the cached index is unreadable or of the wrong shape.

Older releases come from policies/tables/icd10cm-releases.csv (the codes that changed between consecutive
releases held, with their source in icd10cm-releases.source.yaml), and the dated changes curated from the
addenda from icd10cm-changes.yaml; solver.icd10cm_data reads them, solver.icd10cm_releases says how a date
is judged. Excludes1 notes are always those of the newest code set (the history holds no notes).
"""
from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import json
import os
import re
import tempfile
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from solver.errors import PolicyError, Problem
from solver.icd10cm_data import ICD10_START, read_changes, read_rows, read_source
from solver.icd10cm_releases import BEFORE_ICD10, PLAIN, Coverage, Judgement, build_history, coverage
from solver.paths import cache_dir

__all__ = ["CodeSet", "Coverage", "Judgement", "index", "code_set_digest"]

_CODE_IN_NOTE = re.compile(r"\(([A-Z][0-9][0-9A-Z](?:\.[0-9A-Z-]{1,4})?)\)")
_INDEX: dict | None = None
_ICD10_DAY = ICD10_START.toordinal()


def code_set_digest(codes: dict[str, int]) -> str:
    """The fingerprint of a code set (the same as tools/derive_icd10cm_releases.py writes for the baseline)."""
    return hashlib.sha256("\n".join(f"{c} {codes[c]}" for c in sorted(codes)).encode()).hexdigest()


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
    return {"codes": codes, "excludes1": excludes1, "digest": code_set_digest(codes)}


def _loads(data: bytes):
    """JSON (orjson where installed: the index is the largest file a check reads)."""
    try:
        import orjson
    except ImportError:  # pragma: no cover - orjson is a dependency
        return json.loads(data.decode("utf-8"))
    return orjson.loads(data)


def _well_formed(data) -> bool:
    """A cached index of the right shape: a non-empty {code: 0|1}, {code: [note]} and a hex digest."""
    if not isinstance(data, dict) or set(data) != {"codes", "excludes1", "digest"}:
        return False
    codes, ex, digest = data["codes"], data["excludes1"], data["digest"]
    if not isinstance(codes, dict) or not codes or not isinstance(ex, dict):
        return False
    if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
        return False
    if not {*map(type, codes.values())} <= {int} or not {*codes.values()} <= {0, 1}:  # bool is not int here
        return False
    if not {*map(type, ex.values())} <= {list}:
        return False
    return {type(n) for v in ex.values() for n in v} <= {str}


def index() -> dict:
    """The compact code-set index of the installed package, built once per package version and cached."""
    global _INDEX
    if _INDEX is not None:
        return _INDEX
    version = metadata.version("simple-icd-10-cm")
    path = cache_dir() / f"icd10cm-index-v2-{version}.json"  # v2: with the code set fingerprint
    try:
        data = _loads(path.read_bytes())
        if _well_formed(data):
            _INDEX = data
            return _INDEX
    except (OSError, ValueError):  # missing, unreadable, not UTF-8, not JSON: build it again
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


def _ancestors(code: str) -> list[str]:
    """M79.12 -> M79.1, M79 (the categories and subcategories above a code)."""
    out, c = [], code
    while len(c.replace(".", "")) > 3:
        c = c[:-1].rstrip(".")
        out.append(c)
    return out


class CodeSet:
    """Validity and billability of ICD-10-CM codes on a date, by the release in force, and Excludes1 conflicts.

    changes_file is policies/tables/icd10cm-changes.yaml; the release history sits beside it."""

    def __init__(self, changes_file: Path):
        problems: list[Problem] = []
        tables = changes_file.parent
        table, source_file = tables / "icd10cm-releases.csv", tables / "icd10cm-releases.source.yaml"
        changes = read_changes(changes_file, problems)
        self.changes = {code: change for code, (_i, change) in changes.items()}
        source = read_source(source_file, problems)
        # where the release history was read, for findings that rest on it
        self.source = {"title": source.title, "url": source.url} if source is not None else {}
        idx = index()
        self._codes: dict[str, int] = idx["codes"]
        self.history = None
        if source is not None:
            rows = read_rows(table, [r.id for r in source.releases], problems, self._codes)
            base = source.baseline
            if idx["digest"] != base.code_set_sha256:
                problems.append(Problem(str(source_file), "baseline.code_set_sha256", (
                    f"the installed simple-icd-10-cm {metadata.version('simple-icd-10-cm')} carries another code set "
                    f"than the release history's newest release ({base.release}, {base.package} {base.version}); "
                    f"install {base.package}=={base.version}, or derive the history again with "
                    "tools/derive_icd10cm_releases.py")))
            else:
                self.history = build_history(source, rows, changes, self._codes, (str(table), str(changes_file)), problems)
        if problems:
            raise PolicyError(problems)
        self._sorted: list[str] | None = None
        self._starts = self.history.starts
        self._judgements = self.history.judgements

    def known(self, code: str) -> bool:
        """A code of any release held, or of a dated change."""
        return code in self._codes or code in self._starts or code in self.changes

    def status(self, code: str, on: dt.date) -> str:
        """billable | header | invalid (no such code on that date, or a date before ICD-10-CM), by the release
        in force on the date. A dict lookup, and a bisection of a few days for a code that changed."""
        day = on.toordinal()
        if day < _ICD10_DAY:
            return "invalid"
        starts = self._starts.get(code)
        if starts is None:
            leaf = self._codes.get(code)
            return "invalid" if leaf is None else "billable" if leaf else "header"
        return self._judgements[code][bisect.bisect_right(starts, day) - 1].status

    def judge(self, code: str, on: dt.date) -> Judgement:
        """The status with its flag: "uncertain" (changed between two held releases, day not known) or
        "before_icd10"; see Judgement."""
        if on < ICD10_START:
            return BEFORE_ICD10
        found = self.history.judge(code, on)
        return found if found is not None else PLAIN[self.status(code, on)]

    def coverage(self, on: dt.date) -> Coverage:
        """Which release held judges the date, and a note when the date is outside what the data covers."""
        return coverage(self.history, on)

    def excludes1_pairs(self, codes: list[str]) -> list[tuple[str, str, str]]:
        """(code, excluded code, note) for each pair among codes that an Excludes1 note forbids together.

        The notes are those of the newest code set (the installed package) on every date: the release
        history holds no notes, and a code deleted before the newest release has none."""
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
        """A code, or a prefix ending in '*' (M54.5* = M54.5 and every code below it) -> codes of any release held."""
        if not pattern.endswith("*"):
            return [pattern] if self.known(pattern) else []
        root = pattern[:-1].rstrip(".")
        if not self.known(root):
            return []
        if self._sorted is None:  # every code of any release held, sorted: a prefix is a range of it
            self._sorted = sorted({*self._codes, *self.history.changed})
        start = bisect.bisect_right(self._sorted, root)
        end = bisect.bisect_left(self._sorted, root + "\uffff", start)
        return [root] + self._sorted[start:end]


@lru_cache(maxsize=65536)
def _excludes1_notes(code: str) -> tuple[str, ...]:
    ex = index()["excludes1"]
    if code not in index()["codes"]:
        return ()
    notes = list(ex.get(code, ()))
    for anc in _ancestors(code):
        notes.extend(ex.get(anc, ()))
    return tuple(notes)
