"""Readable terminal output (rich): results, payers and the rules in force."""
from __future__ import annotations

import datetime as dt

from rich.console import Console
from rich.table import Table
from rich.text import Text

from solver.policy import Policies

_OUTCOME_STYLE = {"allow": "bold green", "modify": "bold yellow", "review": "bold magenta", "deny": "bold red", "error": "bold red"}
_SEVERITY_STYLE = {"error": "red", "warning": "yellow", "info": "cyan"}


def _console() -> Console:
    con = Console(highlight=False, soft_wrap=False)
    if not con.is_terminal:  # piped or captured: do not squeeze tables into 80 columns
        con = Console(highlight=False, soft_wrap=False, width=160)
    return con


def print_text(results: list[dict]) -> None:
    con = _console()
    counts: dict[str, int] = {}
    for r in results:
        counts[r.get("outcome", "error")] = counts.get(r.get("outcome", "error"), 0) + 1
        outcome = r.get("outcome", "error")
        head = Text()
        head.append(f"{r.get('encounter')}", style="bold")
        if outcome == "error":  # the problems themselves go to standard error, one line each
            head.append("  ")
            head.append("ERROR", style=_OUTCOME_STYLE["error"])
            head.append(f"  not answered: {len(r['errors'])} problem(s) in the input, listed on standard error")
            con.print(head)
            con.print()
            continue
        head.append(f"  {r['payer']}  {r['date_of_service']}  ")
        head.append(outcome.upper(), style=_OUTCOME_STYLE[outcome])
        con.print(head)
        t = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        for col in ("#", "code", "modifiers", "units", "diagnoses"):
            t.add_column(col)
        for n, line in enumerate(r["claim"], start=1):
            t.add_row(str(n), line["code"], " ".join(line["modifiers"]) or "-", str(line["units"]), " ".join(line["diagnoses"]) or "-")
        con.print(Text("  claim" + (" (corrected)" if outcome == "modify" else ""), style="bold"))
        con.print(t)
        for alt in r.get("alternatives", [])[:4]:
            con.print("  also valid: " + "; ".join(f"{l['code']}" + ("-" + "-".join(l["modifiers"]) if l["modifiers"] else "") for l in alt), markup=False)
        for f in r["findings"]:
            line = Text("  ")
            line.append(f"{f['severity'].upper():7}", style=_SEVERITY_STYLE.get(f["severity"], ""))
            where = f" line {f['line']}" if f.get("line") else ""
            fixed = " (corrected)" if f.get("corrected") else ""
            line.append(f" {f['rule']}{where}{fixed}: ", style="bold")
            line.append(f["message"])
            con.print(line)
            for e in f["evidence"]:
                con.print(f"           - {e}", markup=False)
            for c in f["citations"][:2]:
                sec = f", {c['section']}" if c.get("section") else ""
                con.print(f"           source: {c['title']}{sec} <{c['url']}>", markup=False, style="dim")
        con.print(f"  policy {r['policy']['version'][:19]}… versions: {', '.join(r['policy']['versions'])}", style="dim")
        con.print()
    if len(results) > 1:
        order = ["allow", "modify", "review", "deny", "error"]
        con.print(f"{len(results)} encounters: " + ", ".join(f"{counts[o]} {o}" for o in order if o in counts))


def print_policy_list(pol: Policies) -> None:
    con = _console()
    t = Table(show_header=True, header_style="bold")
    for col in ("payer", "version", "from", "through", "rules", "title"):
        t.add_column(col, no_wrap=col != "title")
    for pid in sorted(pol.payers):
        payer = pol.payers[pid]
        by_version: dict[str, list] = {}
        for inst in pol.payer_instances(pid):
            by_version.setdefault(inst.version, []).append(inst)
        first = True
        for version, insts in by_version.items():
            starts = [i.start for i in insts]
            ends = [i.end for i in insts]
            start = None if any(s is None for s in starts) else min(starts)
            end = None if any(e is None for e in ends) else max(ends)
            title = insts[0].version_title or payer.name
            t.add_row(pid if first else "", version, str(start or "-"), str(end or "-"), str(len(insts)), title)
            first = False
    con.print(t)
    for name, src in sorted(pol.tables.sources.items()):  # the provenance of the national code tables
        con.print(f"code table {name}: {src.get('title', '?')}, edition {src.get('edition', '?')}, "
                  f"confidence {src.get('confidence', '?')}", markup=False)


def policy_rules(engine, payer: str, on: dt.date) -> list[dict]:
    """The rules in force on a date, as the checks see them (Policies.in_force)."""
    out = []
    for inst in engine.policies.in_force(payer, on):
        out.append({"rule": inst.id, "family": inst.rule.family, "title": inst.rule.title, "category": inst.rule.category,
                    "severity": inst.rule.severity, "confidence": inst.rule.confidence, "version": inst.version,
                    "from": inst.start.isoformat() if inst.start else None, "through": inst.end.isoformat() if inst.end else None,
                    "params": inst.authored, "review": inst.rule.review, "notes": inst.rule.notes,
                    "citations": [c.model_dump(mode="json", exclude_none=True) for c in inst.citations]})
    return out


def print_policy_show(pol: Policies, payer: str, on: dt.date, rules: list[dict]) -> None:
    con = _console()
    con.print(Text(f"{payer}: {pol.payers[payer].name} - rules in force on {on.isoformat()}", style="bold"))
    for r in rules:
        span = f"{r['from'] or '...'} to {r['through'] or 'now'}"
        con.print(Text(f"\n{r['rule']}", style="bold"), Text(f" [{r['category']}, {r['severity']}, confidence {r['confidence']}, {r['version']}, {span}]"))
        con.print(f"  {r['title']}", markup=False)
        if r["params"]:
            con.print(f"  params: {r['params']}", markup=False)
        if r["notes"]:
            con.print(f"  note: {r['notes'].strip()}", markup=False)
        for c in r["citations"]:
            sec = f", {c['section']}" if c.get("section") else ""
            con.print(f"  source: {c['title']}{sec} <{c['url']}>", markup=False, style="dim")
