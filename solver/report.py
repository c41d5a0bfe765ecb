"""Readable terminal output: results as plain text (escaped, coloured on a terminal); payers and rules with rich."""
from __future__ import annotations

import datetime as dt
import os
import re
import sys


from solver.policy import Policies

_OUTCOME_STYLE = {"allow": "bold green", "modify": "bold yellow", "review": "bold magenta", "deny": "bold red", "error": "bold red"}
_SEVERITY_STYLE = {"error": "red", "warning": "yellow", "info": "cyan"}
_SGR = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "magenta": "35", "cyan": "36"}
ORDER = ["allow", "modify", "review", "deny", "error"]

# Control characters (C0, DEL, C1), line and paragraph separators and bidirectional overrides: input text
# that would move the cursor, recolour the terminal or reorder what is shown. They are printed escaped.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def clean(value) -> str:
    """Text from the input, safe to print: every control character shown as an escape (\\x1b, \\u202e)."""
    text = str(value)
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", text)


def use_color(stream=None) -> bool:
    """Colour only on a terminal, and not when NO_COLOR is set or TERM is dumb."""
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)()) and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def _console():
    from rich.console import Console  # rich only for the policy tables: a check's report is plain text

    con = Console(highlight=False, soft_wrap=False)
    if not con.is_terminal:  # piped or captured: do not squeeze tables into 80 columns
        con = Console(highlight=False, soft_wrap=False, width=160)
    return con


def render_result(r: dict, color: bool = False) -> str:
    """One result as the text report shows it (lines ending in a blank line); every input text escaped.

    Plain string building: the report costs about what JSON does, and a worker process can render it."""
    def st(text: str, style: str) -> str:
        if not color or not style:
            return text
        return "\x1b[" + ";".join(_SGR[s] for s in style.split()) + "m" + text + "\x1b[0m"

    outcome = r.get("outcome", "error")
    head = st(clean(r.get("encounter")), "bold")
    if outcome == "error":  # the problems themselves go to standard error, one line each
        return (f"{head}  {st('ERROR', _OUTCOME_STYLE['error'])}  not answered: {len(r.get('errors', []))} problem(s) "
                "in the input, listed on standard error\n\n")
    out = [f"{head}  {clean(r['payer'])}  {clean(r['date_of_service'])}  {st(clean(outcome).upper(), _OUTCOME_STYLE.get(outcome, ''))}",
           st("  claim" + (" (corrected)" if outcome == "modify" else ""), "bold")]
    rows = [("#", "code", "modifiers", "units", "diagnoses")]
    rows += [(str(n), clean(line["code"]), clean(" ".join(line["modifiers"]) or "-"), clean(line["units"]),
              clean(" ".join(line["diagnoses"]) or "-")) for n, line in enumerate(r["claim"], start=1)]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for k, row in enumerate(rows):
        text = "    " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
        out.append(st(text, "bold") if k == 0 else text)
    if len(rows) == 1:
        out.append("    (no lines)")
    alternatives = r.get("alternatives", [])
    for alt in alternatives[:4]:
        out.append("  also valid: " + "; ".join(clean(l["code"]) + ("-" + "-".join(clean(m) for m in l["modifiers"]) if l["modifiers"] else "")
                                                for l in alt))
    if len(alternatives) > 4:
        out.append(f"  and {len(alternatives) - 4} more valid coding(s) (see --format json)")
    for f in r["findings"]:
        where = f" line {f['line']}" if f.get("line") else ""
        fixed = " (corrected)" if f.get("corrected") else ""
        severity = f"{clean(f['severity']).upper():7}"
        out.append(f"  {st(severity, _SEVERITY_STYLE.get(f['severity'], ''))}"
                   + st(f" {clean(f['rule'])}{where}{fixed}: ", "bold") + clean(f["message"]))
        out += [f"           - {clean(e)}" for e in f["evidence"]]
        for c in f["citations"]:
            sec = f", {clean(c['section'])}" if c.get("section") else ""
            out.append(st(f"           source: {clean(c['title'])}{sec} <{clean(c['url'])}>", "dim"))
    pol = r["policy"]
    out.append(st(f"  policy {clean(pol['version'][:19])}… versions: {', '.join(clean(v) for v in pol['versions'])}", "dim"))
    return "\n".join(out) + "\n\n"


def summary_line(outcomes: list[str]) -> str:
    counts = {o: outcomes.count(o) for o in set(outcomes)}
    return f"{len(outcomes)} encounters: " + ", ".join(f"{counts[o]} {o}" for o in ORDER + sorted(set(counts) - set(ORDER)) if o in counts)


def print_text(results: list[dict], stream=None) -> None:
    stream = stream or sys.stdout
    color = use_color(stream)
    stream.write("".join(render_result(r, color) for r in results))
    if len(results) > 1:
        stream.write(summary_line([r.get("outcome", "error") for r in results]) + "\n")


def print_policy_list(pol: Policies) -> None:
    con = _console()
    from rich.table import Table
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
    from rich.text import Text
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
