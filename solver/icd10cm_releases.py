"""The ICD-10-CM release history compiled into timelines: which release judges a date, and each changed
code's status on it (the tables are read by solver.icd10cm_data).

The newest release is the installed package's code set (solver.icd10cm); an older one is read by undoing the
table's rows, newest first. On the days a held release is known to be in force it decides, and a dated change
that disagrees is an error. On other days (before the earliest release held, between two held releases, after
the newest) a dated change decides where it speaks; otherwise a code that differs between two held releases
keeps the earlier status until the later release takes effect, flagged "uncertain", and any other code has
the status of the nearest held release.
"""
from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass

from solver.errors import Problem
from solver.icd10cm_data import ICD10_START, Change, Release, ReleasesSource

_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Gap:
    """Days between two consecutive held releases on which a release not held may have been in force."""

    earlier: Release
    later: Release
    not_held: tuple[str, ...]


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
PLAIN = {s: Judgement(s) for s in ("billable", "header", "invalid")}


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

    names = {1: "billable", 0: "header", None: "absent"}

    def newest_status(code: str) -> str:
        return names[newest.get(code)]

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
