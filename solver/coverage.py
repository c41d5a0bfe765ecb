"""What the answer for a date of service rests on: the editions of the national data and the dates each is
known to be in force (policies/tables/*.source.yaml `in_force`, and the ICD-10-CM releases held).

A date of service outside what the data covers (before ICD-10-CM, before the oldest or after the newest
ICD-10-CM release held, after a code table's quarter) is answered with a warning that says so; the answer is
never silent about the data it had to stretch.
"""
from __future__ import annotations

import datetime as dt
from solver.policy import Policies

RULE_ID = "data.coverage"


def _table_notes(pol: Policies, on: dt.date) -> list[tuple[str, dict]]:
    """A code table applied after the last day it is known in force (a later quarter may differ). Before its
    quarter a table's own rows say what is not known (the PTP rows' start dates: start_unknown evidence)."""
    out = []
    for name, src in sorted(pol.tables.sources.items()):
        end = (src.get("in_force") or {}).get("through")
        end = dt.date.fromisoformat(str(end)) if end else None
        if end and on > end:
            out.append((f"{name}: {src.get('edition', 'edition not stated')}, known in force through {end}; "
                        "a later edition may differ", src))
    return out


def _finding(pol: Policies, on: dt.date) -> dict | None:
    notes = _table_notes(pol, on)
    icd = pol.codeset.coverage(on)
    if icd.note and icd.kind != "between_releases":  # between releases only changed codes are uncertain: flagged per code
        notes.append((f"ICD-10-CM: {icd.note}", pol.codeset.source))
    if not notes:
        return None
    cites = []
    for _text, src in notes:
        url = src.get("url")
        if url and url not in [c["url"] for c in cites]:
            cites.append({"title": src.get("title", "data source"), "url": url})
    return {"rule": RULE_ID, "category": "coverage", "severity": "warning", "line": None, "code": None,
            "message": f"The answer for {on.isoformat()} rests on national data not known to be in force that day "
                       "(see the evidence): the codes and edits of that date may differ.",
            "citations": cites, "evidence": [text for text, _ in notes], "confidence": "high", "policy_version": None}


def coverage_finding(pol: Policies, on: dt.date) -> dict | None:
    """The warning for a date outside what the data covers, or None (a fresh copy: results are mutable)."""
    cache = pol.__dict__.setdefault("_coverage_by_date", {})  # one answer per date; dates are few
    if on not in cache:
        cache[on] = _finding(pol, on)
    f = cache[on]
    return None if f is None else {**f, "citations": [dict(c) for c in f["citations"]], "evidence": list(f["evidence"])}


VERSION_GAP_ID = "policy.no-version-in-force"


def version_gap_finding(pol: Policies, payer: str, on: dt.date) -> dict | None:
    """A point for review when the date falls between two of the payer's dated policy versions, none in force
    (the rules of the versions that are in force were applied; which policy governs that day is not known)."""
    for first, last in pol.version_gaps(payer):
        if first <= on <= last:
            return {"rule": VERSION_GAP_ID, "category": "coverage", "severity": "warning", "line": None, "code": None,
                    "message": f"No dated policy version of {payer} is in force on {on.isoformat()} (none from {first} "
                               f"through {last}): only the rules in force that day were applied, so a policy that "
                               "should govern it may be missing; a person should check the payer's policy dates.",
                    "citations": [], "evidence": [f"no version of {payer} in force from {first} through {last} "
                                                  "(policies/payers: each use's from and through)"],
                    "confidence": "high", "policy_version": None, "review": True}
    return None
