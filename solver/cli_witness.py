"""`payerkb policy diff OLD --witness`: the command's reading of its options and its report (the search is
solver/witness.py)."""
from __future__ import annotations

import datetime as dt
import json
import sys

from solver.errors import PayerkbError, Problem
from solver.report import clean


def witness_diff(before, after, payer: str | None, on: dt.date | None, as_json: bool, limit: int, fail) -> None:
    from solver import witness
    known = set(before.policies.payers) | set(after.policies.payers)
    if payer is not None and payer not in known:
        fail([Problem("(command line)", "--payer", f"unknown payer {payer!r}; the payers are {sorted(known)}")])
    try:
        report = witness.diff(before, after, [payer] if payer else None, on, limit=limit)
    except PayerkbError as exc:
        fail(exc.problems)
    sys.stdout.write(json.dumps(report, indent=2) + "\n" if as_json else text(report) + "\n")
    sys.stdout.flush()


def _span(w: dict) -> str:
    return f"{w['from'] or '(open)'}..{w['through'] or '(open)'}"


def _rules(side: dict) -> str:
    if not side["deciding_rules"]:
        return "no rule decides (allow)" if side["outcome"] == "allow" else "no rule of the policies decides"
    out = []
    for r in side["deciding_rules"]:
        cite = "; ".join(c["title"] + (f", {c['section']}" if c.get("section") else "") for c in r["citations"][:2])
        out.append(f"{r['rule']} ({r['severity']}, {r['policy_version']}){': ' + cite if cite else ''}")
    return "; ".join(out)


def text(report: dict) -> str:
    lines = []
    for p in report["payers"]:
        lines.append(f"{clean(p['payer'])}: {p['verdict']}")
        for w in p["windows"]:
            extra = f"; {w['refuted']} candidate(s) refuted by the checks" if w["refuted"] else ""
            note = f" ({w['note']})" if w.get("note") else ""
            lines.append(f"  {_span(w)}, answered on {w['date']}: {w['verdict']}{note}{extra}")
            ch = w.get("changed_rules") or {}
            if ch.get("old") or ch.get("new"):
                lines.append(f"    rules as OLD has them: {', '.join(ch['old']) or '(none)'}; as NEW has them: {', '.join(ch['new']) or '(none)'}")
            for x in w["witnesses"]:
                lines.append(f"    {x['outcome']['from']} -> {x['outcome']['to']} ({x['direction']}; a witness of {x['cost']} facts)")
                lines.append(f"      OLD: {clean(_rules(x['old']))}")
                lines.append(f"      NEW: {clean(_rules(x['new']))}")
                lines.append(f"      witness: {clean(json.dumps(x['witness'], separators=(',', ':')))}")
    lines.append("verdicts: NEW is stricter when no encounter is answered more leniently under it (allow < modify < review < deny) "
                 f"and some more strictly; {report['seconds']} s")
    return "\n".join(lines)
