"""The Python API: the command line's checks, for a program.

    from solver.api import check, check_many, findings
    result = check({"id": "e1", "payer": "medicare-cgs", "date_of_service": "2024-06-10", ...})
    result["outcome"], [f["rule"] for f in findings(result)]

Results are the command line's result objects (contract v1). A record that is not a valid encounter, or
names an unknown payer, is a result with outcome "error" and "errors" naming each field, as in a batch;
the knowledge base is loaded once, on the first call, from the shipped policies (or $PAYERKB_POLICIES).
A single check is answered by solver.resident.ResidentEngine (a program kept per encounter shape, about a
millisecond warm); a list of several by the reference engine in one grounding; the answers are the same.
"""
from __future__ import annotations

import datetime as dt
from typing import Iterable

from solver.batch import Job, _answer, _repeated_ids
from solver.encounter import Encounter
from solver.errors import InputError, Problem
from solver.reading import Record, _validate

SOURCE = "(api)"
_ENGINE = None


def engine():
    """The engine of this process, built on first use."""
    global _ENGINE
    if _ENGINE is None:
        from solver.resident import ResidentEngine  # single checks from resident programs; batches by the reference
        from solver.resident.engine import SERVICE_ADMIT_AFTER
        _ENGINE = ResidentEngine(admit_after=SERVICE_ADMIT_AFTER)
    return _ENGINE


def _record(n: int, item) -> Record:
    if isinstance(item, Encounter):
        return Record(SOURCE, n, item.id, encounter=item)
    return _validate(item, SOURCE, n, False)


def _date(date: dt.date | str | None) -> dt.date | None:
    if date is None or isinstance(date, dt.date):
        return date
    try:
        return dt.date.fromisoformat(date)
    except (TypeError, ValueError):
        raise InputError([Problem(SOURCE, "date", f"{date!r} is not a date; give YYYY-MM-DD")]) from None


def check_many(encounters: Iterable[dict | Encounter], *, payer: str | None = None,
               date: dt.date | str | None = None) -> list[dict]:
    """One result per encounter, in order. payer / date: answer as if the encounters named them (what-if).
    Raises solver.errors.InputError for an unknown what-if payer or a date that is not one."""
    if isinstance(encounters, (dict, Encounter, str, bytes)):  # one encounter: iterating it would check its keys
        raise TypeError(f"check_many takes a list of encounters, not one {type(encounters).__name__}; use check() for one")
    eng = engine()
    if payer is not None and payer not in eng.policies.payers:
        raise InputError([Problem(SOURCE, "payer", f"unknown payer {payer!r}; the payers are {sorted(eng.policies.payers)}")])
    job = Job(eng, payer, _date(date), "dict")
    answers = _answer(job, [_record(n, e) for n, e in enumerate(encounters, start=1)])
    _repeated_ids(job, answers)
    return [a.result for a in answers]


def check(encounter: dict | Encounter, *, payer: str | None = None, date: dt.date | str | None = None) -> dict:
    """The result of one encounter (a mapping in the contract's shape, or an Encounter)."""
    return check_many([encounter], payer=payer, date=date)[0]


def findings(result: dict) -> list[dict]:
    """The findings of a result (none for an error result: see result["errors"])."""
    return list(result.get("findings", []))
