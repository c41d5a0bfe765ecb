"""The text report of payerkb verify (the JSON is the result of solver.verify.analysis.verify as it is)."""
from __future__ import annotations

import yaml
from rich.console import Console

from solver.report import clean

out = Console(highlight=False, soft_wrap=True)


def _cite(f: dict) -> str:
    cites = f.get("citations") or []
    return "; ".join(c.get("title", "") + (f" {c['section']}" if c.get("section") else "") for c in cites[:2])


def _w(w: dict) -> str:
    return (f"witness ({w.get('cost')} facts): outcome {w.get('outcome')}, findings {', '.join(w.get('findings', []))}"
            if w else "")


def print_report(r: dict) -> None:
    p = lambda s="": out.print(clean(s), markup=False)  # noqa: E731
    p(f"payerkb verify {r['payer']} on {r['date_of_service']}: {r['rules']} rules in force, "
      f"{r['timings']['total']:.2f} s, {r['searched']['solves']} solves")
    sections = [("dead", "Dead (can never fire on this date)"), ("not_searched", "Not searched"),
                ("subsumed", "Subsumed (whenever it fires, another fires)"),
                ("masked", "Masked (never decides the outcome alone)"), ("unconfirmed", "Unconfirmed by the check")]
    for key, title in sections:
        items = r.get(key) or []
        p(f"{title}: {len(items) or 'none'}")
        for f in items:
            extra = ""
            if key == "subsumed":
                extra = f" by {f['by']['rule']}" + (" (equivalent)" if f.get("equivalent") else "")
            elif key in ("dead", "not_searched"):
                extra = f": {f.get('reason')}"
            p(f"  {f['rule']} ({f['version']}){extra}  [{_cite(f)}]")
            if f.get("witness"):
                p(f"    {_w(f['witness'])}")
    p(f"Conflicts: {len(r['conflicts']) or 'none'} ({r['searched']['conflict_proposals']} encounters proposed and checked)")
    for c in r["conflicts"]:
        p(f"  rules {', '.join(x['rule'] for x in c['rules'])}: {_w({**c['witness'], 'cost': '-'})}")
        p(f"    best claim: {c['witness']['claim']}")
    p(f"Gaps: {len(r['gaps']) or 'none'}")
    for g in r["gaps"]:
        p(f"  {g['kind']}: {g['message']}")
    p(f"Generated cases: {len(r['generated_cases']) or 'none'}")
    if r["generated_cases"]:
        for line in yaml.safe_dump([c["case"] for c in r["generated_cases"]], sort_keys=False, width=120).splitlines():
            p(line)  # line by line: clean() shows a line break inside a text as \x0a, and the stubs are for pasting
    p()
