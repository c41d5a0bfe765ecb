"""Compare: one encounter answered for several payers (and dates of service) in one batch. Each row has the
outcome, the claim and the rules that decided (the rules of error and review findings, with citations); across
the rows, the claim valid for all of them when one exists, and the rules where they part; over a date range,
the dates on which the answer changes and why (solver/explore/change_dates.py).

The common claim is found with the solver (solver/explore/common_claim.py)."""
from __future__ import annotations

import datetime as dt
import json

from solver.encounter import Encounter
from solver.errors import InputError, Problem
from solver.explore.change_dates import candidate_dates, relevant, signature
from solver.explore.common_claim import answers as _answers, as_context as _as, common_claim
from solver.explore.whatif import difference

MAX_DATES = 50  # dates of service asked one by one (a range has no such bound: its dates are computed)


def error_and_review_rules(result: dict) -> list[dict]:
    """The rules of the error and review findings, once each, with their citations (a row's "deciding_rules";
    not solver/case_coverage.py deciding_rules, the rules that decide the outcome alone)."""
    out: dict[str, dict] = {}
    for f in result.get("findings", []):
        if f["severity"] == "error" or f.get("review"):
            entry = out.setdefault(f["rule"], {"rule": f["rule"], "severity": f["severity"], "citations": f.get("citations", []),
                                               "lines": []})
            if f.get("line") and f["line"] not in entry["lines"]:
                entry["lines"].append(f["line"])
            if f.get("review"):
                entry["review"] = True
            if f.get("corrected") is False or f.get("line") is None:
                entry["corrected"] = False
            elif "corrected" not in entry:
                entry["corrected"] = bool(f.get("corrected"))
    return list(out.values())


def _row(result: dict) -> dict:
    return {"payer": result["payer"], "date_of_service": result["date_of_service"], "outcome": result["outcome"],
            "claim": result["claim"], "deciding_rules": error_and_review_rules(result),
            "policy_versions": result.get("policy", {}).get("versions", []),
            "rules_in_force": result.get("policy", {}).get("rules", [])}


def parting_rules(rows: list[dict], candidates: list[dict] = ()) -> list[dict]:
    """Where the rows part: each deciding rule that decides in some rows and not in others (where it decides, where
    it is in force without deciding, where it is not in force), then each rule that flags a candidate common claim
    in some rows ("flags": that claim)."""
    rules: dict[str, dict] = {}
    for row in rows:
        for d in row["deciding_rules"]:
            rules.setdefault(d["rule"], {"rule": d["rule"], "severity": d["severity"], "citations": d["citations"]})
    out = []
    for rid, entry in rules.items():
        deciding = [r for r in rows if any(d["rule"] == rid for d in r["deciding_rules"])]
        if len(deciding) == len(rows):
            continue
        quiet = [r for r in rows if r not in deciding and rid in r["rules_in_force"]]
        absent = [r for r in rows if r not in deciding and rid not in r["rules_in_force"]]
        label = _label_rows(rows)
        out.append({**entry, "payers": _uniq(label(r) for r in deciding), "in_force_not_deciding": _uniq(label(r) for r in quiet),
                    "not_in_force": _uniq(label(r) for r in absent)})
    out.sort(key=lambda e: e["rule"])
    label = _label_rows(rows)
    deciding = {e["rule"] for e in out}
    flagging: dict[str, dict] = {}
    for cand in candidates:
        for rid, info in cand.get("rules", {}).items():
            where = [x for x in cand["flagged"] if rid in x["rules"]]
            if rid in deciding or not where or len(where) == len(rows):
                continue
            entry = flagging.setdefault(rid, {"rule": rid, "severity": info["severity"], "citations": info["citations"],
                                              "payers": [], "flags": [], "in_force_not_deciding": [], "not_in_force": []})
            entry["payers"] = _uniq(entry["payers"] + [label(x) for x in where])
            entry["flags"].append(cand["claim"])
    return out + sorted(flagging.values(), key=lambda e: e["rule"])


def _label_rows(rows: list[dict]):
    many_dates = len({r["date_of_service"] for r in rows}) > 1
    return (lambda r: f"{r['payer']} {r['date_of_service']}") if many_dates else (lambda r: r["payer"])


def _uniq(items) -> list:
    return list(dict.fromkeys(items))


def _sweep(engine, enc: Encounter, payers: list[str], start: dt.date, end: dt.date) -> tuple[list[dict], list[dict], dict]:
    """Rows (each payer on the first day and on each day its answer changes) and the change dates, with reasons."""
    pol = engine.policies
    found = {p: candidate_dates(pol, enc, p, start, end) for p in payers}
    plan = [(p, [start, *found[p]], found[p]) for p in payers]
    jobs = [(p, d) for p, days, _r in plan for d in days]
    results = _answers(engine, [_as(enc, p, d) for p, d in jobs])
    by = {job: r for job, r in zip(jobs, results)}
    rows, changes = [], []
    for p, days, reasons in plan:
        prev = by[(p, days[0])]
        rows.append(prev)
        for d in days[1:]:
            cur = by[(p, d)]
            if signature(cur) != signature(prev):
                diff = difference(prev, cur)
                moved = {f["rule"] for f in diff["findings_added"] + diff["findings_removed"]}
                changes.append({"date": d.isoformat(), "payer": p, "reasons": relevant(pol, reasons[d], moved), "outcome": cur["outcome"],
                                "from": {"outcome": prev["outcome"], "claim": prev["claim"]},
                                "to": {"outcome": cur["outcome"], "claim": cur["claim"]},
                                "findings_added": diff["findings_added"], "findings_removed": diff["findings_removed"]})
                rows.append(cur)
            prev = cur
    searched = {"from": start.isoformat(), "to": end.isoformat(), "days": (end - start).days + 1,
                "dates_answered": len(jobs), "candidates": {p: len(r) for p, _d, r in plan}}
    return rows, changes, searched


def compare(engine, enc: Encounter, payers: list[str] | str | None = None, dates: list[dt.date] | None = None,
            start: dt.date | None = None, end: dt.date | None = None) -> dict:
    """The explore.md compare shape: {"encounter", "rows", "common_claim", "parting_rules", "change_dates"}, and
    "common_claim_search", "searched" (a date range). payers "all": every payer; None: every payer, or the encounter's
    own over a date range."""
    pol = engine.policies
    if payers is None or payers == "all":
        payers = [enc.payer] if start is not None and payers is None else sorted(pol.payers)
    unknown = [p for p in payers if p not in pol.payers]
    if unknown:
        raise InputError([Problem("(request)", "payers", f"unknown payer {p!r}; the payers are {sorted(pol.payers)}") for p in unknown])
    searched = None
    if start is not None or end is not None:
        if start is None or end is None or end < start:
            raise InputError([Problem("(request)", "from" if start is None else "to",
                                      "a date range needs both --from and --to, with --to on or after --from")])
        results, changes, searched = _sweep(engine, enc, payers, start, end)
    else:
        days = list(dict.fromkeys(dates or [enc.date_of_service]))
        if len(days) > MAX_DATES:
            raise InputError([Problem("(request)", "dates", f"{len(days)} dates asked; at most {MAX_DATES}: for a longer "
                                                            "span give a range (from and to), which finds the dates that matter")])
        results, changes = _answers(engine, [_as(enc, p, d) for p in payers for d in days]), []
    rows = [_row(r) for r in results]
    common = common_claim(engine, enc, results)
    out = {"encounter": enc.id, "rows": rows, "common_claim": common["claim"], "parting_rules": parting_rules(rows, common["candidates"]),
           "change_dates": changes, "common_claim_search": {k: common[k] for k in ("method", "candidates", "notes")}}
    if searched:
        out["searched"] = searched
    return out


def as_json(answer: dict) -> str:
    return json.dumps(answer, indent=2)
