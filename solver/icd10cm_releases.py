"""The ICD-10-CM release history: which release judges a date, and each changed code's status on it.

Three files of policies/tables/, read strictly (unknown keys rejected, impossible dates reported, every
problem at once, as solver.errors.PolicyError):

- icd10cm-releases.source.yaml: the releases held (the wheel and the file inside it each was read from,
  their sha256, the days each is taken to be in force) and the releases between them that were not held;
- icd10cm-releases.csv: the codes whose status (billable, header, absent) differs between two consecutive
  releases held (derived by tools/derive_icd10cm_releases.py, never at install or test time);
- icd10cm-changes.yaml: dated changes curated by hand from the addenda, each with its source.

The newest release is the installed package's code set (solver.icd10cm); an older one is read by undoing the
table's rows, newest first. On the days a held release is known to be in force it decides, and a dated change
that disagrees is an error. On other days (before the earliest release held, between two held releases, after
the newest) a dated change decides where it speaks; otherwise a code that differs between two held releases
keeps the earlier status until the later release takes effect, flagged "uncertain", and any other code has
the status of the nearest held release.
"""
from __future__ import annotations

import bisect
import csv
import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

import yaml

from solver.errors import Problem, pydantic_problems

ICD10_START = dt.date(2015, 10, 1)  # ICD-10-CM replaced ICD-9-CM for dates of service from this day
CODE = r"^[A-Z][0-9A-Z][0-9A-Z](\.[0-9A-Z]{1,4})?$"  # QA0 (April 2026) has a letter second
STATUSES = ("billable", "header", "absent")
_DAY = dt.timedelta(days=1)


class _TextDates(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml where present: these load at start
    """A safe YAML loader that leaves dates as text, so an impossible date is a validation error, not a crash."""


_TextDates.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml(text: str):
    return yaml.load(text, Loader=_TextDates)  # noqa: S506 - a safe loader


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Change(_Strict):
    """A dated change from the addenda: before valid_from (after valid_through) the code did not exist; before
    billable_from (after billable_through) it was a header. Dates are inclusive."""

    code: str = Field(pattern=CODE)
    valid_from: dt.date | None = None
    valid_through: dt.date | None = None
    billable_from: dt.date | None = None
    billable_through: dt.date | None = None
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
    changes: list = []


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
    effective_from: dt.date
    known_in_force_through: dt.date
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


@dataclass(frozen=True)
class Gap:
    """Days between two consecutive held releases on which a release not held may have been in force."""

    earlier: Release
    later: Release
    not_held: tuple[str, ...]

    @property
    def first(self) -> dt.date:
        return self.earlier.known_in_force_through + _DAY

    @property
    def last(self) -> dt.date:
        return self.later.effective_from - _DAY


@dataclass(frozen=True)
class Judgement:
    """A code on a date. status is what the knowledge base reads (diagnosis_status/3): billable, header or
    invalid. flag is None, "uncertain" (the code changed between two held releases and the day is not known:
    status is the stated choice, see the module docstring) or "before_icd10" (a date before 2015-10-01)."""

    status: str
    flag: str | None = None
    gap: Gap | None = None
    later: str | None = None  # the status in the later release, when uncertain

    @property
    def note(self) -> str | None:
        if self.flag == "before_icd10":
            return f"before ICD-10-CM took effect ({ICD10_START}): diagnoses of that date are coded in ICD-9-CM"
        if self.flag == "uncertain" and self.gap:
            g = self.gap
            return (f"{self.status} in {g.earlier.id} and {self.later} in {g.later.id}; the release that changed it "
                    f"({', '.join(g.not_held) or 'not named'}) is not held, so the day is not known: judged "
                    f"{self.status} until {g.later.effective_from}")
        return None


BEFORE_ICD10 = Judgement("invalid", "before_icd10")
_PLAIN = {s: Judgement(s) for s in ("billable", "header", "invalid")}


def _kb(status: str) -> str:
    return "invalid" if status == "absent" else status


@dataclass
class History:
    releases: list[Release]
    gaps: list[Gap]
    source: ReleasesSource | None
    before_earliest: str
    starts: dict[str, list[int]]  # code -> day numbers on which its judgement changes
    judgements: dict[str, list[Judgement]]  # code -> the judgement from each start on
    changed: set[str]  # every code that changed between two releases held (each is in one of them)
    periods: list[tuple[int, str, int]] = ()  # (first day number, kind, release index), see _periods

    def judge(self, code: str, on: dt.date) -> Judgement | None:
        """The judgement of a code that changed in the history, or None for one the newest release decides."""
        starts = self.starts.get(code)
        if starts is None:
            return None
        return self.judgements[code][bisect.bisect_right(starts, on.toordinal()) - 1]


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


def read_rows(path: Path, release_ids: list[str], problems: list[Problem]) -> list[tuple[str, str, str, str, int]]:
    """(release, code, before, after, row number) rows; the release is the later of the two, never the earliest."""
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
                and match(row[1]) and (row[0], row[1]) not in seen):
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


@dataclass(frozen=True)
class Coverage:
    """Which held release judges a date, and what the data does not cover on it.

    kind: before_icd10 (before 2015-10-01), before_releases (before the earliest release held: it and the
    dated changes judge), in_force (a held release is known in force), between_releases (a release not held
    may have been in force: codes that changed between the two held ones are uncertain), after_releases
    (after the newest release held is known in force)."""

    release: str | None
    kind: str
    note: str | None = None


def _periods(releases: list[Release]) -> list[tuple[int, str, int]]:
    """(first day number, kind, release index) of each period of the calendar from ICD10_START on."""
    out = [(ICD10_START.toordinal(), "before", 0)] if releases[0].effective_from > ICD10_START else []
    for i, r in enumerate(releases):
        out.append((r.effective_from.toordinal(), "in_force", i))
        end = r.known_in_force_through + _DAY
        if i + 1 < len(releases):
            if end < releases[i + 1].effective_from:
                out.append((end.toordinal(), "gap", i))
        else:
            out.append((end.toordinal(), "after", i))
    return out


def _agrees(verdict: str, status: str) -> bool:
    return verdict == status or (verdict == "valid" and status != "invalid")


class _Builder:
    def __init__(self, releases: list[Release], gaps: dict[int, Gap], changes_file: str, problems: list[Problem]):
        self.releases, self.gaps, self.file, self.problems = releases, gaps, changes_file, problems
        self.periods = _periods(releases)
        self.interned: dict[tuple, Judgement] = {}
        self.reported: set[tuple] = set()

    def intern(self, status: str, flag: str | None = None, gap: int | None = None, later: str | None = None) -> Judgement:
        key = (status, flag, gap, later)
        if key not in self.interned:
            self.interned[key] = Judgement(status, flag, self.gaps.get(gap) if gap is not None else None, later)
        return self.interned[key]

    def judge(self, code: str, day: dt.date, period: tuple[int, str, int], s: tuple[str, ...],
              change: tuple[int, Change] | None) -> Judgement:
        _start, kind, i = period
        verdict = change[1].verdict(day) if change else None
        if kind == "in_force":  # a held release decides
            st = _kb(s[i])
            if verdict is not None and not _agrees(verdict, st):
                self.conflict(code, change[0], f"says {verdict} on {day}, but {self.releases[i].id} (in force "
                              f"{self.releases[i].effective_from} to {self.releases[i].known_in_force_through}) has it {st}")
            return self.intern(st)
        if kind == "gap":
            a, b = s[i], s[i + 1]
        else:
            a = b = s[0] if kind == "before" else s[-1]
        if verdict is None or verdict == "valid":
            valid = {x for x in (a, b) if x != "absent"}
            if verdict == "valid" and len(valid) == 1:
                return self.intern(valid.pop())
            if verdict == "valid" and not valid:
                self.conflict(code, change[0], f"says the code is valid on {day}, when no release held has it; "
                              "say whether it is billable with billable_from or billable_through")
            if a == b:
                return self.intern(_kb(a))
            return self.intern(_kb(a), "uncertain", i, _kb(b))
        return self.intern(verdict)

    def conflict(self, code: str, index: int, message: str) -> None:
        if (code, message) not in self.reported:
            self.reported.add((code, message))
            self.problems.append(Problem(self.file, f"changes.{index}", f"{code} {message}; fix the date or remove the change"))

    def timeline(self, code: str, s: tuple[str, ...], change) -> tuple[list[int], list[Judgement]]:
        starts = [p[0] for p in self.periods]
        kinds = list(self.periods)
        if change:  # the days the change pins split the periods
            for pin in change[1].pins():
                n = pin.toordinal()
                if n > starts[0] and n not in starts:
                    k = bisect.bisect_right(starts, n)
                    starts.insert(k, n)
                    kinds.insert(k, kinds[k - 1])
        out_s, out_j = [], []
        for n, period in zip(starts, kinds):
            j = self.judge(code, dt.date.fromordinal(n), period, s, change)
            if not out_j or out_j[-1] is not j:
                out_s.append(n)
                out_j.append(j)
        return out_s, out_j


def build_history(source: ReleasesSource, rows: list[tuple[str, str, str, str, int]], changes: dict[str, tuple[int, Change]],
                  newest: dict[str, int], files: tuple[str, str], problems: list[Problem]) -> History:
    """The compiled timelines of the codes that changed in the history or by a dated change.

    newest: the installed package's code set (code -> 1 billable, 0 header); files: the table and the changes
    file, for messages."""
    releases = list(source.releases)
    ids = [r.id for r in releases]
    not_held = {tuple(g.between): tuple(g.releases) for g in source.not_held}
    gaps = {i: Gap(releases[i], releases[i + 1], not_held.get((ids[i], ids[i + 1]), ()))
            for i in range(len(releases) - 1)}
    by_release: dict[str, list[tuple[str, str, str, int]]] = {r: [] for r in ids}
    for rel, code, before, after, n in rows:
        by_release[rel].append((code, before, after, n))

    def newest_status(code: str) -> str:
        v = newest.get(code)
        return "absent" if v is None else "billable" if v else "header"

    # Walk back from the newest release: each release's status of every code that changed.
    codes = {row[1] for row in rows}
    current = {c: newest_status(c) for c in codes}
    per_release: list[dict[str, str]] = [{}] * len(releases)
    for i in range(len(releases) - 1, -1, -1):
        per_release[i] = dict(current)
        if i == 0:
            break
        for code, before, after, n in by_release[ids[i]]:
            if current[code] != after:
                problems.append(Problem(files[0], "after", f"{code} is {current[code]} in {ids[i]} by the installed code "
                                        f"set and the later rows, not {after}; derive the table again", f"row {n}"))
            current[code] = before

    builder = _Builder(releases, gaps, files[1], problems)
    by_pattern: dict[tuple, tuple[list[int], list[Judgement]]] = {}
    starts, judgements = {}, {}
    columns = list(zip(*(pr.values() for pr in per_release))) if codes else []
    for code, s in zip(per_release[0], columns):  # each code's status in each release, oldest first
        if code in changes:
            continue
        if s not in by_pattern:  # codes with the same statuses share a timeline
            by_pattern[s] = builder.timeline(code, s, None)
        starts[code], judgements[code] = by_pattern[s]
    for code, change in changes.items():
        s = tuple(pr[code] if code in pr else newest_status(code) for pr in per_release)
        starts[code], judgements[code] = builder.timeline(code, s, change)
    return History(releases, list(gaps.values()), source, source.before_earliest, starts, judgements,
                   codes, builder.periods)


def coverage(history: History, on: dt.date) -> Coverage:
    if on < ICD10_START:
        return Coverage(None, "before_icd10", BEFORE_ICD10.note)
    periods = history.periods
    _start, kind, i = periods[bisect.bisect_right(periods, (on.toordinal(), "~")) - 1]
    r = history.releases[i]
    if kind == "in_force":
        return Coverage(r.id, "in_force")
    if kind == "before":
        return Coverage(r.id, "before_releases", f"before the earliest ICD-10-CM release held ({r.id}, in force from "
                        f"{r.effective_from}), which judges the date with the dated changes. {history.before_earliest}")
    if kind == "gap":
        g = history.gaps[i]
        return Coverage(r.id, "between_releases", f"between the ICD-10-CM releases held {r.id} (known in force through "
                        f"{r.known_in_force_through}) and {g.later.id} (from {g.later.effective_from}); not held: "
                        f"{', '.join(g.not_held) or 'not named'}. A code that changed between the two is judged as in "
                        f"{r.id} and flagged uncertain, unless a dated change pins the day.")
    return Coverage(r.id, "after_releases", f"after the newest ICD-10-CM release held ({r.id}, known in force through "
                    f"{r.known_in_force_through}): a later release is not held, and codes it added, deleted or expanded "
                    f"are judged as in {r.id}.")
