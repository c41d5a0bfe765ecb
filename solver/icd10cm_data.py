"""The ICD-10-CM tables of policies/tables/, read strictly: unknown keys rejected, impossible dates reported,
every problem at once (file: field.path: message, or file: row N: field: message for the CSV).

- icd10cm-releases.source.yaml: the releases held (the wheel and the file inside it each was read from,
  their sha256, the days each is taken to be in force) and the releases between them that were not held;
- icd10cm-releases.csv: the codes whose status (billable, header, absent) differs between two consecutive
  releases held (derived by tools/derive_icd10cm_releases.py, never at install or test time);
- icd10cm-changes.yaml: dated changes curated by hand from the addenda, each with its source.
"""
from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from solver.dates import InputDate
from solver.errors import Problem, pydantic_problems
from solver.yamltext import load_yaml  # dates as text, libyaml where present

ICD10_START = dt.date(2015, 10, 1)  # ICD-10-CM replaced ICD-9-CM for dates of service from this day
CODE = r"^[A-Z][0-9A-Z][0-9A-Z](\.[0-9A-Z]{1,4})?$"  # QA0 (April 2026) has a letter second
STATUSES = ("billable", "header", "absent")
_DAY = dt.timedelta(days=1)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Change(_Strict):
    """A dated change from the addenda: before valid_from (after valid_through) the code did not exist; before
    billable_from (after billable_through) it was a header. Dates are inclusive."""

    code: str = Field(pattern=CODE)
    valid_from: InputDate | None = None
    valid_through: InputDate | None = None
    billable_from: InputDate | None = None
    billable_through: InputDate | None = None
    source: str = Field(min_length=1)

    @model_validator(mode="after")
    def _dates(self):
        days = {k: getattr(self, k) for k in ("valid_from", "valid_through", "billable_from", "billable_through")}
        if not any(days.values()):
            raise ValueError("a change needs at least one of valid_from, valid_through, billable_from, billable_through")
        for k, v in days.items():
            if v and v < ICD10_START:
                raise ValueError(f"{k} {v} is before ICD-10-CM took effect ({ICD10_START}); no ICD-10-CM code changed then")
        for a, b in (("valid_from", "valid_through"), ("billable_from", "billable_through"),
                     ("valid_from", "billable_through"), ("billable_from", "valid_through")):
            if days[a] and days[b] and days[b] < days[a]:
                raise ValueError(f"{b} {days[b]} is before {a} {days[a]}; the dates are inclusive, fix the order")
        return self

    def verdict(self, on: dt.date) -> str | None:
        """What this change says about the date: invalid, header, billable, valid (billable or header), or None."""
        if (self.valid_from and on < self.valid_from) or (self.valid_through and on > self.valid_through):
            return "invalid"
        if (self.billable_from and on < self.billable_from) or (self.billable_through and on > self.billable_through):
            return "header"
        if self.billable_from or self.billable_through:
            return "billable"
        return "valid"

    def pins(self) -> list[dt.date]:
        """The days on which what this change says may change."""
        out = [d for d in (self.valid_from, self.billable_from) if d]
        return out + [d + _DAY for d in (self.valid_through, self.billable_through) if d]


class _SourceRef(_Strict):
    title: str = Field(min_length=1)
    url: str = Field(pattern=r"^https?://\S+$")


class _ChangesHead(_Strict):
    source: _SourceRef
    changes: list = []  # each row is validated on its own (Change), so every bad row is reported


class ChangesFile(_ChangesHead):
    """The whole file, for its JSON Schema: the head and its rows, each a Change."""

    changes: list[Change] = []


class Release(_Strict):
    id: str = Field(pattern=r"^FY20[0-9]{2}(-[A-Z][a-z]{2})?$")
    title: str = Field(min_length=1)
    package: str
    wheel: str = Field(pattern=r"\.whl$")
    wheel_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    file: str
    file_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    code_list: str | None = None
    checked_against: str | None = None
    effective_from: InputDate
    known_in_force_through: InputDate
    codes: int = Field(gt=0)
    billable: int = Field(gt=0)
    notes: str
    headers_derived_from_billable_codes: str | None = None

    @model_validator(mode="after")
    def _dates(self):
        if self.effective_from < ICD10_START:
            raise ValueError(f"effective_from {self.effective_from} is before ICD-10-CM took effect ({ICD10_START})")
        if self.known_in_force_through < self.effective_from:
            raise ValueError("known_in_force_through is before effective_from; fix the order")
        return self


class _Baseline(_Strict):
    release: str
    package: str
    version: str
    codes: int = Field(gt=0)
    billable: int = Field(gt=0)
    code_set_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    notes: str


class _NotHeld(_Strict):
    between: tuple[str, str]
    releases: list[str] = Field(min_length=1)


class ReleasesSource(_Strict):
    title: str
    publisher: str
    url: str = Field(pattern=r"^https?://\S+$")
    derived_by: str
    table: str
    confidence: str
    baseline: _Baseline
    releases: list[Release] = Field(min_length=1)
    not_held: list[_NotHeld] = []
    before_earliest: str
    choice: str
    rows: dict[str, dict[str, int]] = {}

    @model_validator(mode="after")
    def _order(self):
        ids = [r.id for r in self.releases]
        for a, b in zip(self.releases, self.releases[1:]):
            if b.effective_from <= a.known_in_force_through:
                raise ValueError(f"releases: {b.id} takes effect {b.effective_from}, on or before the last day "
                                 f"{a.id} is known in force ({a.known_in_force_through}); list them oldest first")
        if self.baseline.release != ids[-1]:
            raise ValueError(f"baseline.release {self.baseline.release!r} is not the newest release listed ({ids[-1]!r})")
        pairs = set(zip(ids, ids[1:]))
        for n, gap in enumerate(self.not_held):
            if tuple(gap.between) not in pairs:
                raise ValueError(f"not_held.{n}.between {list(gap.between)} are not two consecutive releases of {ids}")
        return self


def read_changes(path: Path, problems: list[Problem]) -> dict[str, tuple[int, Change]]:
    """code -> (index in the file, change). Every record is validated on its own."""
    if not path.exists():
        return {}
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"))
    except Exception as exc:  # YAML syntax, encoding
        problems.append(Problem(str(path), "(file)", f"cannot be read as YAML: {exc}; fix the syntax"))
        return {}
    if not isinstance(raw, dict):
        problems.append(Problem(str(path), "(file)", "expected a mapping with source and changes"))
        return {}
    try:
        head = _ChangesHead.model_validate(raw)
    except ValidationError as exc:
        problems.extend(pydantic_problems(exc, str(path)))
        head = None
    rows = raw.get("changes") if isinstance(raw.get("changes"), list) else []
    out: dict[str, tuple[int, Change]] = {}
    for i, row in enumerate(rows):
        try:
            change = Change.model_validate(row)
        except ValidationError as exc:
            problems.extend(pydantic_problems(exc, str(path), prefix=f"changes.{i}"))
            continue
        if change.code in out:
            problems.append(Problem(str(path), f"changes.{i}.code",
                                    f"{change.code} is already changed by changes.{out[change.code][0]}; merge the two"))
            continue
        out[change.code] = (i, change)
    return out if head is not None else {}


def read_source(path: Path, problems: list[Problem]) -> ReleasesSource | None:
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(Problem(str(path), "(file)", "missing; derive it with tools/derive_icd10cm_releases.py"))
        return None
    except Exception as exc:
        problems.append(Problem(str(path), "(file)", f"cannot be read as YAML: {exc}; fix the syntax"))
        return None
    try:
        return ReleasesSource.model_validate(raw)
    except ValidationError as exc:
        problems.extend(pydantic_problems(exc, str(path)))
        return None


def read_rows(path: Path, release_ids: list[str], problems: list[Problem],
              known: dict | set = frozenset()) -> list[tuple[str, str, str, str, int]]:
    """(release, code, before, after, row number) rows; the release is the later of the two, never the earliest.
    A code of known (the newest code set) is not matched against the pattern again."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(str(path), "(file)", f"cannot be read ({exc.__class__.__name__}); derive it with "
                                                     "tools/derive_icd10cm_releases.py"))
        return []
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if header != ["release", "code", "before", "after"]:
        problems.append(Problem(str(path), "(header)", f"expected release,code,before,after, found {header}"))
        return []
    later, statuses = set(release_ids[1:]), set(STATUSES)
    match = re.compile(CODE).match
    out, seen = [], {}
    for n, row in enumerate(reader, start=2):
        if (len(row) == 4 and row[0] in later and row[2] in statuses and row[3] in statuses and row[2] != row[3]
                and (row[1] in known or match(row[1])) and (row[0], row[1]) not in seen):
            seen[row[0], row[1]] = n
            out.append((row[0], row[1], row[2], row[3], n))
        else:
            problems.extend(_row_problems(str(path), n, row, later, seen))
    return out


def _row_problems(path: str, n: int, row: list[str], later: set[str], seen: dict) -> list[Problem]:
    where = f"row {n}"
    if len(row) != 4:
        return [Problem(path, "(row)", f"expected 4 columns (release,code,before,after), found {len(row)}", where)]
    rel, code, before, after = row
    bad = []
    if rel not in later:
        bad.append(("release", f"{rel!r} is not one of the later releases of the source file {sorted(later)}"))
    if not re.match(CODE, code):
        bad.append(("code", f"{code!r} is not an ICD-10-CM code"))
    for name, v in (("before", before), ("after", after)):
        if v not in STATUSES:
            bad.append((name, f"{v!r} is not one of {list(STATUSES)}"))
    if before == after:
        bad.append(("after", "the same as before; a row is a change"))
    if (rel, code) in seen:
        bad.append(("code", f"{code} is already changed in {rel} at row {seen[rel, code]}"))
    return [Problem(path, field, msg, where) for field, msg in bad]
