"""National code tables and product vocabularies, loaded from policies/tables/.

The NCCI and MUE loaders read the column layout of CMS's published files, so a user can drop in the
current quarter's full file; rows that touch no code the knowledge base knows are filtered out on load.
"""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from solver.errors import PolicyError, Problem
from solver.paths import cache_dir


@dataclass(frozen=True)
class PtpRow:
    column1: str
    column2: str
    effective: dt.date
    deleted: dt.date | None
    modifier_indicator: int
    rationale: str


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


def _cms_date(text: str) -> dt.date | None:
    text = (text or "").strip()
    if not text or text == "*":
        return None
    return dt.datetime.strptime(text, "%Y%m%d").date()


def _csv_rows(path: Path, required: list[str], problems: list[Problem]):
    """Rows of a CMS CSV, found by the header line that names the required columns (CMS files open with notes)."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = None
        for row in reader:
            norm = [c.strip() for c in row]
            if all(any(c.startswith(r) for c in norm) for r in required):
                header = norm
                break
        if header is None:
            problems.append(Problem(str(path), "(header)", f"no header row naming the columns {required}; give the CMS file as published"))
            return
        idx = [next(i for i, c in enumerate(header) if c.startswith(r)) for r in required]
        for n, row in enumerate(reader, start=2):
            if not any(c.strip() for c in row):
                continue
            yield n, [row[i].strip() if i < len(row) else "" for i in idx]


def _prefiltered(path: Path, keep: set[str]) -> Path:
    """A copy of a large CMS file with only the lines that can name two kept codes (header lines kept), cached
    by the file's size and time, so a full quarterly PTP file (over a million rows) is read once, not per run."""
    st = path.stat()
    if st.st_size < 2_000_000:
        return path
    digest = hashlib.sha256(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{sorted(keep)}".encode()).hexdigest()[:24]
    cached = cache_dir() / f"ptp-{digest}.csv"
    if cached.exists():
        return cached
    out = []
    with path.open(encoding="utf-8-sig") as fh:
        for line in fh:
            if line.split(",", 1)[0].strip().strip('"') in keep or "Column 1" in line[:40]:
                out.append(line)
    text = "".join(out)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text(text, encoding="utf-8")
        return cached
    except OSError:
        tmp = Path(tempfile.mkdtemp()) / "ptp.csv"
        tmp.write_text(text, encoding="utf-8")
        return tmp


def load_ptp(path: Path, keep: set[str], problems: list[Problem]) -> list[PtpRow]:
    cols = ["Column 1", "Column 2", "Effective Date", "Deletion Date", "Modifier", "PTP Edit Rationale"]
    rows = []
    for n, (c1, c2, eff, dele, mod, why) in _csv_rows(_prefiltered(path, keep), cols, problems):
        if c1 not in keep or c2 not in keep:
            continue
        try:
            rows.append(PtpRow(c1, c2, _cms_date(eff) or dt.date(1996, 1, 1), _cms_date(dele), int(mod), why))
        except ValueError as exc:
            problems.append(Problem(str(path), f"row {n}", f"{exc}; dates are YYYYMMDD, the modifier indicator 0, 1 or 9"))
    return rows


def load_mue(path: Path, keep: set[str], problems: list[Problem]) -> dict[str, MueRow]:
    cols = ["HCPCS/CPT Code", "Practitioner Services MUE Values", "MUE Adjudication Indicator", "MUE Rationale"]
    out = {}
    for n, (code, value, mai, why) in _csv_rows(path, cols, problems):
        if code not in keep:
            continue
        m = re.match(r"\s*(\d)", mai)
        try:
            out[code] = MueRow(code, int(value), int(m.group(1)) if m else 0, why)
        except ValueError as exc:
            problems.append(Problem(str(path), f"row {n}", f"{exc}; the MUE value is a whole number"))
    return out


def load_mpfs(path: Path, keep: set[str], problems: list[Problem]) -> dict[str, dict[str, str]]:
    cols = ["HCPCS", "MOD", "STATUS CODE", "GLOB DAYS", "MULT PROC", "BILAT SURG"]
    out: dict[str, dict[str, str]] = {}
    for _n, (code, mod, status, glob, mult, bilat) in _csv_rows(path, cols, problems):
        if code not in keep or mod:
            continue
        out[code] = {"status": status, "global": glob, "multiple": mult, "bilateral": bilat}
    return out


def _yaml(path: Path, problems: list[Problem]) -> dict:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        problems.append(Problem(str(path), "(file)", "missing table file"))
    except yaml.YAMLError as exc:
        problems.append(Problem(str(path), "(file)", f"not valid YAML: {exc}"))
    return {}


def load_tables(directory: Path) -> Tables:
    problems: list[Problem] = []
    groups = _yaml(directory / "code-groups.yaml", problems)
    code_groups = {k: [str(c) for c in v.get("codes", [])] for k, v in (groups.get("code_groups") or {}).items()}
    modifier_groups = {k: [str(c) for c in v.get("modifiers", [])] for k, v in (groups.get("modifier_groups") or {}).items()}
    subs = _yaml(directory / "substances.yaml", problems)
    substance_terms = {k: [t.lower() for t in v.get("terms", [])] for k, v in (subs.get("classes") or {}).items()}
    tables = Tables(code_groups, modifier_groups, substance_terms)
    keep = tables.known_codes()
    for name, loader, attr in (("ncci-ptp-practitioner.csv", load_ptp, "ptp"),
                               ("mue-practitioner.csv", load_mue, "mue"),
                               ("mpfs-indicators.csv", load_mpfs, "mpfs")):
        path = directory / name
        if path.exists():
            setattr(tables, attr, loader(path, keep, problems))
            src = path.with_suffix(".source.yaml")
            if src.exists():
                tables.sources[name] = _yaml(src, problems)
        else:
            problems.append(Problem(str(path), "(file)", "missing code table"))
    if problems:
        raise PolicyError(problems)
    return tables
