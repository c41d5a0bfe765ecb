"""`payerkb compare`: one encounter across payers and dates of service; the command's options and text only."""
from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Optional

import typer

from solver.cli_whatif import ENCOUNTER_ID, POLICIES, OutFormat, claim_text


def _dates(text: Optional[str], option: str) -> list[dt.date] | None:
    from solver.cli import _parse_date
    if text is None:
        return None
    return [_parse_date(d.strip(), option) for d in text.split(",") if d.strip()]


def render_compare(answer: dict) -> str:
    from solver.report import clean
    rows = answer["rows"]
    width = max([len(r["payer"]) for r in rows] + [5])
    out = [f"{clean(answer['encounter'])}: {len(rows)} row{'s' if len(rows) != 1 else ''}",
           f"{'payer':<{width}}  {'date':<10}  {'outcome':<7}  {'claim':<24}  deciding rules"]
    for r in rows:
        rules = ", ".join(d["rule"] + ("" if d.get("corrected") is False else " (fixed)") for d in r["deciding_rules"]) or "-"
        out.append(f"{clean(r['payer']):<{width}}  {r['date_of_service']:<10}  {r['outcome']:<7}  "
                   f"{clean(claim_text(r['claim'])):<24}  {rules}")
    common = answer["common_claim"]
    if len({r["payer"] for r in rows}) > 1 or len(rows) > 1:
        out.append(f"claim valid in every row: {clean(claim_text(common))}" if common else
                   "no claim is valid in every row: " + "; ".join(
                       f"{clean(claim_text(c['claim']))} flagged by " + ", ".join(
                           f"{x['payer']}{' ' + x['date_of_service'] if len(rows) != len({r['payer'] for r in rows}) else ''} "
                           f"({', '.join(x['rules'])})" for x in c["flagged"][:4]) + (" ..." if len(c["flagged"]) > 4 else "")
                       for c in answer["common_claim_search"]["candidates"][:3]))
    if answer["parting_rules"]:
        out.append("where they part:")
        for p in answer["parting_rules"]:
            cite = (p["citations"] or [{}])[0].get("title", "")
            verb = f"flags {' / '.join(claim_text(c) for c in p['flags'])} for" if p.get("flags") else "decides for"
            out.append(f"  {p['rule']} ({p['severity']}) {verb} {', '.join(p['payers'])}"
                       + (f"; in force, not deciding: {', '.join(p['in_force_not_deciding'])}" if p["in_force_not_deciding"] else "")
                       + (f" [{clean(cite)}]" if cite else ""))
    if "searched" in answer:
        s = answer["searched"]
        out.append(f"dates {s['from']} to {s['to']} ({s['days']} days): {s['dates_answered']} answered, "
                   f"{len(answer['change_dates'])} where the answer changes")
        for c in answer["change_dates"]:
            what = [f"{c['from']['outcome']} -> {c['to']['outcome']}" if c["from"]["outcome"] != c["to"]["outcome"] else c["outcome"]]
            if c["from"]["claim"] != c["to"]["claim"]:
                what.append(f"claim {claim_text(c['from']['claim'])} -> {claim_text(c['to']['claim'])}")
            what += [f"+{f['rule']}" for f in c["findings_added"]] + [f"-{f['rule']}" for f in c["findings_removed"]]
            out.append(f"  {c['date']} {c['payer']}: {clean(', '.join(what))}")
            out += [f"      because {clean(r)}" for r in c["reasons"]]
    return "\n".join(out) + "\n"


def compare(
    encounter: str = typer.Argument(..., metavar="ENCOUNTER", help="An encounter file (one encounter, or several with --id)."),
    payers: Optional[str] = typer.Option(None, "--payers", metavar="all|A,B", help="The payers (default: all; over a date range, the encounter's own)."),
    dates: Optional[str] = typer.Option(None, "--dates", metavar="D1,D2", help="Dates of service to answer (default: the encounter's)."),
    start: Optional[str] = typer.Option(None, "--from", metavar="YYYY-MM-DD", help="First day of a date range: the dates on which the answer changes."),
    end: Optional[str] = typer.Option(None, "--to", metavar="YYYY-MM-DD", help="Last day of the date range."),
    encounter_id: Optional[str] = ENCOUNTER_ID,
    fmt: OutFormat = typer.Option(OutFormat.text, "--format", metavar="text|json", help="text or json."),
    policies: Optional[Path] = POLICIES,
):
    """Compare payers and dates: one row per payer (and date), the claim valid for all, the rules where they part,
    and over a date range the dates on which the answer changes, with the reasons."""
    from solver.cli import _engine, _fail, _set_policies
    from solver.errors import PayerkbError, Problem
    from solver.explore.compare import as_json, compare as answer_compare
    from solver.explore.reading import one_encounter

    _set_policies(policies)
    if dates is not None and (start or end):
        _fail([Problem("(command line)", "--dates", "give --dates or a range --from/--to, not both")])
    if (start is None) != (end is None):
        _fail([Problem("(command line)", "--from" if start is None else "--to", "a date range needs both --from and --to")])
    days, first, last = _dates(dates, "--dates"), _dates(start, "--from"), _dates(end, "--to")
    if first and last and last[0] < first[0]:
        _fail([Problem("(command line)", "--to", f"{end} is before --from {start}; give a range in order")])
    wanted = payers if payers in (None, "all") else [p.strip() for p in payers.split(",") if p.strip()]
    try:
        enc = one_encounter(encounter, encounter_id)
        engine = _engine()
        answer = answer_compare(engine, enc, wanted, days, first[0] if first else None, last[0] if last else None)
    except PayerkbError as exc:
        _fail([Problem("(command line)", f"--{p.field}", p.message) if p.field in ("payers", "dates") else p for p in exc.problems])
    sys.stdout.write(as_json(answer) + "\n" if fmt is OutFormat.json else render_compare(answer))
