"""National code tables and product vocabularies, loaded from policies/tables/.

The NCCI PTP, MUE and fee-schedule (PPRRVU) loaders read the column layout of CMS's published files
(comma or tab separated, notes above the header, a header stacked over several rows), so a user can drop
in the current quarter's full file; rows that touch no code the knowledge base knows are filtered out on
load, and a full PTP file is filtered once and cached. Every problem is reported as file: row: field.
"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Iterator

import yaml
from pydantic import BaseModel, ValidationError

from solver.errors import PolicyError, Problem, pydantic_problems
from solver.paths import cache_dir
from solver.table_model import CodeGroupsFile, SourceFile, SubstancesFile


@dataclass(frozen=True)
class PtpRow:
    column1: str
    column2: str
    effective: dt.date | None  # as the file gives it; None: the file has no effective date for the row
    deleted: dt.date | None  # CMS's deletion date, the last day the edit is in force; None: active (*)
    modifier_indicator: int
    rationale: str
    applies_from: dt.date | None = None  # the first day the row is applied; None: no lower bound
    known_from: dt.date | None = None  # a row without effective date: the first day it is known to be in force
    note: str = ""  # a row without effective date: what is assumed, for the finding's evidence


@dataclass(frozen=True)
class MueRow:
    code: str
    value: int
    mai: int
    rationale: str


@dataclass
class Tables:
    code_groups: dict[str, list[str]]
    modifier_groups: dict[str, list[str]]
    substance_terms: dict[str, list[str]]
    ptp: list[PtpRow] = field(default_factory=list)
    mue: dict[str, MueRow] = field(default_factory=dict)
    mpfs: dict[str, dict[str, str]] = field(default_factory=dict)
    sources: dict[str, dict] = field(default_factory=dict)

    @property
    def substance_terms_key(self) -> tuple:
        return tuple((k, tuple(v)) for k, v in self.substance_terms.items())

    def known_codes(self) -> set[str]:
        return {c for codes in self.code_groups.values() for c in codes}

    def group_of(self, code: str) -> list[str]:
        return [g for g, codes in self.code_groups.items() if code in codes]


# --- reading CMS files ---------------------------------------------------------------------------

def _decode(raw: bytes, first: bool = False) -> str:
    try:
        text = raw.decode("utf-8-sig" if first else "utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.rstrip("\r\n")


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of a file, each line decoded as UTF-8 or else Latin-1 (CMS text files are not always UTF-8)."""
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, start=1):
            yield n, _decode(raw, n == 1)


def _split(text: str, delimiter: str) -> list[str]:
    return [c.strip() for c in next(csv.reader([text], delimiter=delimiter), [])]


def _is_separator(cells: list[str]) -> bool:
    """A line of notes or a blank line: at most one cell filled (a title, a copyright line)."""
    return sum(1 for c in cells if c) <= 1


def _column(names: list[str], wanted: str) -> int | None:
    """The column named `wanted`, or else the first whose name starts with it (CMS adds notes: "Modifier 0=not allowed ...")."""
    norm = [" ".join(n.split()).lower() for n in names]
    w = wanted.lower()
    exact = [i for i, n in enumerate(norm) if n == w]
    return exact[0] if exact else next((i for i, n in enumerate(norm) if n.startswith(w)), None)


_CODE = re.compile(r"\d{4}[0-9A-Z]|[A-Z]\d{4}")  # a CPT/HCPCS code, as in solver.encounter


def _csv_rows(lines: Iterable[tuple[int, str]], file: str, required: list[str], problems: list[Problem]):
    """(line number, values of the required columns) of each data row of a CMS table. The header is the fewest
    lines, above the first data row, whose words name every required column, each column's name its words
    over those lines (CMS stacks a header over several rows)."""
    it = iter(lines)
    block: list[list[str]] = []
    idx = None
    delimiter = ","
    for n, text in it:
        if delimiter == "," and text.count("\t") > text.count(","):
            delimiter = "\t"
        cells = _split(text, delimiter)
        if _is_separator(cells):
            block = []
            continue
        block.append(cells)
        for k in range(1, len(block) + 1):  # the fewest lines that name every column (a note above is no header)
            rows = block[-k:]
            width = max(len(r) for r in rows)
            names = [" ".join(r[i] for r in rows if i < len(r) and r[i]) for i in range(width)]
            found = [_column(names, r) for r in required]
            if all(i is not None for i in found):
                idx, header_width = found, width
                break
        if idx is not None:
            break
    if idx is None:
        problems.append(Problem(file, "(header)", f"no header row naming the columns {required}; give the CMS file as published"))
        return
    for n, text in it:
        cells = _split(text, delimiter)
        if not cells or not _CODE.fullmatch(cells[0]):
            continue  # a blank line, the rest of a stacked header, a note: no data row starts without a code
        if max(idx) >= len(cells):
            problems.append(Problem(file, "(row)", f"has {len(cells)} fields, the header has {header_width}; "
                                    "correct the row or give the CMS file as published", record=f"row {n}"))
            continue
        yield n, [cells[i] for i in idx]


def _cms_date(text: str) -> dt.date | None:
    """CMS's YYYYMMDD (ISO accepted too); '*' or empty is no date."""
    text = text.strip()
    if not text or text == "*":
        return None
    for fmt in ("%Y%m%d", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            pass
    raise ValueError(f"{text!r} is not a date; CMS writes YYYYMMDD (or * for none)")


# --- the PTP prefilter cache -----------------------------------------------------------------------

_CACHE_FORMAT = "payerkb-ptp-prefilter"
_CACHE_VERSION = 1
_PREFILTER_FROM = 2_000_000  # bytes: smaller files are read as they are


_CODE_BYTES = re.compile(rb"(\d{4}[0-9A-Z]|[A-Z]\d{4})")


def _filtered_lines(path: Path, keep: set[str]) -> list[tuple[int, str]]:
    """The lines whose first field is a kept code or no code at all (notes, header), decoded; bytes are
    compared first, so a line of another code costs no decoding."""
    keep_b = {c.encode() for c in keep}
    out = []
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, start=1):
            first = raw.split(b"\t", 1)[0].split(b",", 1)[0].strip().strip(b'"')
            if first in keep_b or not _CODE_BYTES.fullmatch(first):
                out.append((n, _decode(raw, n == 1)))
    return out


def _read_cache(cached: Path, source: Path) -> list[tuple[int, str]] | None:
    """The cached lines, or None when the cache is missing, unreadable, corrupt or of another shape."""
    try:
        data = json.loads(cached.read_text(encoding="utf-8"))
        if not (isinstance(data, dict) and data.get("format") == _CACHE_FORMAT and data.get("version") == _CACHE_VERSION
                and data.get("source") == str(source.resolve()) and isinstance(data.get("lines"), list)):
            return None
        lines = [(n, t) for n, t in data["lines"]]
        if not all(isinstance(n, int) and isinstance(t, str) for n, t in lines):
            return None
        return lines
    except (OSError, ValueError, TypeError):
        return None


def _write_cache(cached: Path, source: Path, lines: list[tuple[int, str]]) -> None:
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"format": _CACHE_FORMAT, "version": _CACHE_VERSION, "source": str(source.resolve()),
                                   "lines": lines}), encoding="utf-8")
        os.replace(tmp, cached)  # readers never see a half-written cache
    except OSError:
        pass  # no cache this time: the file is filtered again on the next run


def _prefiltered(path: Path, keep: set[str]) -> Iterable[tuple[int, str]]:
    """The lines of a large CMS file that can name a kept code in column 1 (notes and header lines kept, each
    with its line number in the file), cached by the file's size and time, so a full quarterly PTP file
    (over a million rows) is read once, not per run. A cache that cannot be read back is rebuilt."""
    st = path.stat()
    if st.st_size < _PREFILTER_FROM:
        return _lines(path)
    digest = hashlib.sha256(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{sorted(keep)}".encode()).hexdigest()[:24]
    cached = cache_dir() / f"ptp-{digest}.json"
    lines = _read_cache(cached, path)
    if lines is None:
        lines = _filtered_lines(path, keep)
        _write_cache(cached, path, lines)
    return lines


# --- the tables ------------------------------------------------------------------------------------

PTP_COLUMNS = ["Column 1", "Column 2", "Effective Date", "Deletion Date", "Modifier", "PTP Edit Rationale"]
MUE_COLUMNS = ["HCPCS/CPT Code", "Practitioner Services MUE Values", "MUE Adjudication Indicator", "MUE Rationale"]
MPFS_COLUMNS = ["HCPCS", "MOD", "STATUS CODE", "GLOB DAYS", "MULT PROC", "BILAT SURG"]


def load_ptp(path: Path, keep: set[str], problems: list[Problem], in_force_from: dt.date | None = None,
             edition: str = "the file") -> list[PtpRow]:
    """The PTP rows whose two codes are both kept. Indicator 9 rows (deleted retroactively, never applied) are
    left out. A row without effective date is dated by _date_unknown_starts from the edition's first day."""
    rows, undated = [], None
    for n, (c1, c2, eff, dele, mod, why) in _csv_rows(_prefiltered(path, keep), str(path), PTP_COLUMNS, problems):
        if c1 not in keep or c2 not in keep:
            continue
        before = len(problems)
        try:
            effective = _cms_date(eff)
        except ValueError as exc:
            problems.append(Problem(str(path), "Effective Date", str(exc), record=f"row {n}"))
        try:
            deleted = _cms_date(dele)
        except ValueError as exc:
            problems.append(Problem(str(path), "Deletion Date", str(exc), record=f"row {n}"))
        if mod not in ("0", "1", "9"):
            problems.append(Problem(str(path), "Modifier", f"{mod!r} is not a modifier indicator; CMS writes 0, 1 or 9", record=f"row {n}"))
        if len(problems) > before:
            continue
        if effective is None and undated is None:
            undated = n
        if mod != "9":
            rows.append(PtpRow(c1, c2, effective, deleted, int(mod), why))
    if undated is not None and in_force_from is None:
        problems.append(Problem(str(path), "Effective Date", "empty; give CMS's effective dates, or state the first day "
                                f"the file is in force as in_force.from in {path.with_suffix('.source.yaml').name}",
                                record=f"row {undated}"))
        return rows
    return _date_unknown_starts(rows, in_force_from, edition)


def _date_unknown_starts(rows: list[PtpRow], in_force_from: dt.date | None, edition: str) -> list[PtpRow]:
    """Rows without effective date (a parameter of ncci-ptp-practitioner.source.yaml, confidence low): each is taken
    to be in force on earlier dates of service too, back to the day after the last deletion of an earlier edit of
    the same two codes (in either column order) when the file has one, else with no lower bound. It is known to be
    in force from the edition's first day (an active row) or on its deletion date (a deleted row)."""
    by_pair: dict[frozenset, list[PtpRow]] = defaultdict(list)
    for r in rows:
        by_pair[frozenset((r.column1, r.column2))].append(r)
    out = []
    for r in rows:
        if r.effective is not None:
            out.append(replace(r, applies_from=r.effective))
            continue
        end = r.deleted or dt.date.max
        ended = [o.deleted for o in by_pair[frozenset((r.column1, r.column2))] if o.deleted is not None and o.deleted < end]
        start = max(ended) + dt.timedelta(days=1) if ended else None
        known = in_force_from if r.deleted is None else min(r.deleted, in_force_from)
        what = (f"is in {edition}" if r.deleted is None else f"is a deleted edit of {edition}, in force through {r.deleted.isoformat()},")
        since = f", as from {start.isoformat()} (the day after an earlier edit of these codes ended)" if start else ""
        note = (f"NCCI PTP edit {r.column1}/{r.column2} {what} without an effective date: taken to be in force on "
                f"this date of service{since}; start unknown, confidence low")
        out.append(replace(r, applies_from=start, known_from=known, note=note))
    return out


def load_mue(path: Path, keep: set[str], problems: list[Problem]) -> dict[str, MueRow]:
    out = {}
    for n, (code, value, mai, why) in _csv_rows(_lines(path), str(path), MUE_COLUMNS, problems):
        if code not in keep:
            continue
        m = re.match(r"([123])\b", mai)
        if not value.isdigit():
            problems.append(Problem(str(path), "Practitioner Services MUE Values", f"{value!r} is not a whole number", record=f"row {n}"))
        elif not m:
            problems.append(Problem(str(path), "MUE Adjudication Indicator", f"{mai!r} does not start with the indicator 1, 2 or 3", record=f"row {n}"))
        else:
            out[code] = MueRow(code, int(value), int(m.group(1)), why)
    return out


def load_mpfs(path: Path, keep: set[str], problems: list[Problem]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for n, (code, mod, status, glob, mult, bilat) in _csv_rows(_lines(path), str(path), MPFS_COLUMNS, problems):
        if code not in keep or mod:
            continue
        empty = [name for name, v in zip(MPFS_COLUMNS[2:], (status, glob, mult, bilat)) if not v]
        if empty:
            problems.append(Problem(str(path), empty[0], "empty; every fee-schedule indicator has a value", record=f"row {n}"))
            continue
        out[code] = {"status": status, "global": glob, "multiple": mult, "bilateral": bilat}
    return out


_SAFE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser: the same values as yaml.safe_load


def _yaml(path: Path, model: type[BaseModel], problems: list[Problem]) -> BaseModel | None:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE)  # noqa: S506 - yaml.safe_load, in C where present
    except FileNotFoundError:
        problems.append(Problem(str(path), "(file)", "missing table file"))
        return None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problems.append(Problem(str(path), "(file)", f"not valid YAML{where}: {getattr(exc, 'problem', exc)}"))
        return None
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        problems.extend(pydantic_problems(exc, str(path)))
        return None


def load_tables(directory: Path) -> Tables:
    problems: list[Problem] = []
    groups = _yaml(directory / "code-groups.yaml", CodeGroupsFile, problems)
    subs = _yaml(directory / "substances.yaml", SubstancesFile, problems)
    tables = Tables({k: list(v.codes) for k, v in groups.code_groups.items()} if groups else {},
                    {k: list(v.modifiers) for k, v in groups.modifier_groups.items()} if groups else {},
                    {k: list(v.terms) for k, v in subs.classes.items()} if subs else {})
    keep = tables.known_codes()
    for name, loader, attr in (("ncci-ptp-practitioner.csv", load_ptp, "ptp"),
                               ("mue-practitioner.csv", load_mue, "mue"),
                               ("mpfs-indicators.csv", load_mpfs, "mpfs")):
        path = directory / name
        if not path.exists():
            problems.append(Problem(str(path), "(file)", "missing code table"))
            continue
        src_path = path.with_suffix(".source.yaml")
        src = _yaml(src_path, SourceFile, problems) if src_path.exists() else None
        if src is not None:
            tables.sources[name] = src.model_dump(mode="json", by_alias=True, exclude_defaults=True)
        if attr == "ptp":
            kw = {"in_force_from": src.in_force.from_, "edition": src.edition} if src else {}
            tables.ptp = load_ptp(path, keep, problems, **kw)
        else:
            setattr(tables, attr, loader(path, keep, problems))
    if problems:
        raise PolicyError(problems)
    return tables
