"""`payerkb explain ENCOUNTER --why-not CODE[-MOD...] | --missing [--target allow|CODE[-MOD...]] [--change-service]
| --sensitivity`, in text or JSON. Registered by solver/cli.py."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from solver.cli import Format, _engine, _fail, _policies_option, _set_policies
from solver.errors import PayerkbError, Problem
from solver.explore.common import line_text
from solver.report import clean


def load_one(path: str, record_id: str | None, engine):
    """The one encounter of a file (or the one with --id), validated, its payer known; else exit 2 naming it."""
    from solver.reading import read_file
    try:
        records = [r.resolve() for r in read_file(path)]
    except PayerkbError as exc:
        _fail(exc.problems)
    if record_id is not None:
        records = [r for r in records if r.encounter is not None and r.encounter.id == record_id] or _fail(
            [Problem(path, "--id", f"no encounter with id {record_id!r} in the file")])
    if len(records) != 1:
        ids = [r.encounter.id for r in records if r.encounter is not None]
        _fail([Problem(path, "(file)", f"holds {len(records)} encounters; explain takes one: give --id (one of {ids})")])
    rec = records[0]
    if rec.problems:
        _fail(rec.problems)
    bad = engine.unknown_payer(rec.encounter)
    if bad:
        _fail([Problem(path, "payer", bad.message, rec.label)])
    return rec.encounter


def explain(
    encounter: str = typer.Argument(..., metavar="ENCOUNTER", help="An encounter file ('-' reads standard input)."),
    why_not: Optional[str] = typer.Option(None, "--why-not", metavar="CODE[-MOD...]", help="The claim forced to carry this code and these modifiers, and the rules it breaks."),
    missing: bool = typer.Option(False, "--missing", help="The smallest sets of facts that would reach the target."),
    target: Optional[str] = typer.Option(None, "--target", metavar="allow|CODE[-MOD...]", help="With --missing: the outcome allow (default), or a code made valid."),
    change_service: bool = typer.Option(False, "--change-service", help="With --missing: the service itself may change (another muscle, a diagnosis)."),
    sensitivity: bool = typer.Option(False, "--sensitivity", help="The single facts whose change flips the outcome or the code."),
    record_id: Optional[str] = typer.Option(None, "--id", metavar="ID", help="The encounter of a file holding several."),
    fmt: Format = typer.Option(Format.text, "--format", metavar="text|json", help="text (readable) or json."),
    policies: Optional[Path] = _policies_option(),
):
    """Explain an answer: why not another code, what is missing for allow, which single facts flip it."""
    from solver.explore.missing import missing as find_missing
    from solver.explore.sensitivity import sensitivity as find_flips
    from solver.explore.why_not import why_not as force

    modes = [m for m, on in (("--why-not", why_not is not None), ("--missing", missing), ("--sensitivity", sensitivity)) if on]
    if len(modes) != 1:
        _fail([Problem("(command line)", "(mode)", "give exactly one of --why-not CODE[-MOD...], --missing, --sensitivity"
                       + (f"; got {', '.join(modes)}" if modes else ""))])
    if (target or change_service) and not missing:
        _fail([Problem("(command line)", "--target" if target else "--change-service", "only with --missing")])
    if fmt is Format.fhir:
        _fail([Problem("(command line)", "--format", "explain answers in text or json")])
    _set_policies(policies)
    engine = _engine()
    enc = load_one(encounter, record_id, engine)
    try:
        if why_not is not None:
            answer, render = force(engine, enc, why_not), render_why_not
        elif missing:
            answer, render = find_missing(engine, enc, target, change_service), render_missing
        else:
            answer, render = find_flips(engine, enc), render_sensitivity
    except PayerkbError as exc:
        _fail(exc.problems)
    sys.stdout.write(json.dumps(answer, indent=1) + "\n" if fmt is Format.json else render(answer))


def _claim(lines: list[dict]) -> str:
    return "; ".join(clean(line_text(x)) for x in lines) or "(no lines)"


def _rules(rules: list[dict], indent: str = "      ") -> list[str]:
    out = []
    for r in rules:
        cite = "; ".join(clean(c["title"]) + (f", {clean(c['section'])}" if c.get("section") else "") for c in r["citations"])
        now = f" ({r['now']})" if r.get("now") else ""
        out.append(f"{indent}rule {clean(r['rule'])}{now}" + (f" - {cite}" if cite else ""))
    return out


def render_why_not(a: dict) -> str:
    asked = "-".join([a["asked"]["code"], *a["asked"]["modifiers"]])
    out = [f"{clean(a['encounter'])}  why not {clean(asked)}?  (the check answers {a['baseline']['outcome']}: {_claim(a['baseline']['claim'])})"]
    if a["valid"]:
        out.append(f"  {clean(asked)} is valid here: the claim {_claim(a['claim'])} breaks no rule the derived claim does not"
                   + (" (but see the warnings below)" if a["broken"] else ""))
    else:
        out.append(f"  forced claim: {_claim(a['claim'])}")
    for note in a.get("notes", []):
        out.append(f"  {clean(note)}")
    for f in a["broken"]:
        out.append(f"  {f['severity'].upper():7} {clean(f['rule'])}: {clean(f['message'])}")
        out += [f"           - {clean(e)}" for e in f["evidence"]]
        out += [f"           source: {clean(c['title'])}" + (f", {clean(c['section'])}" if c.get("section") else "") for c in f["citations"]]
    if a.get("as_submitted"):
        s = a["as_submitted"]
        out.append(f"  sent as is, the check answers {s['outcome']}: {_claim(s['claim'])}")
    return "\n".join(out) + "\n"


def _alternatives(alts: list[dict]) -> list[str]:
    out = []
    for n, alt in enumerate(alts, start=1):
        out.append(f"  {n}. -> {alt['outcome']}: {_claim(alt['claim'])}" + ("" if alt["facts"] else " (nothing to add)"))
        for f in alt["facts"]:
            out.append(f"      {clean(f['path'])} = {clean(json.dumps(f['value']))}   ({clean(f['reading'])})")
        out += _rules(alt["rules"])
    return out


def render_missing(a: dict) -> str:
    t = a["target"]
    goal = t.get("outcome") or "-".join([t["code"], *t["modifiers"]]) + " valid"
    out = [f"{clean(a['encounter'])}  what is missing for {clean(goal)}?  (now {a['baseline']['outcome']}: {_claim(a['baseline']['claim'])})"]
    out += _alternatives(a["alternatives"]) or [f"  no set of the facts that may be assumed reaches {clean(goal)}"]
    if a.get("nearest") and a["nearest"]["alternatives"]:
        out.append(f"  the nearest reachable outcome, {a['nearest']['target']['outcome']}:")
        out += _alternatives(a["nearest"]["alternatives"])
    out += [f"  note: {clean(n)}" for n in a["searched"]["notes"]]
    return "\n".join(out) + "\n"


def render_sensitivity(a: dict) -> str:
    out = [f"{clean(a['encounter'])}  which single facts flip the answer?  (now {a['baseline']['outcome']}: {_claim(a['baseline']['claim'])})"]
    if not a["flips"]:
        out.append("  no single change of one fact flips the outcome or the code")
    for f in a["flips"]:
        fact = f["facts"][0]
        what = f"{fact['path']} removed" if fact.get("op") == "remove" else f"{fact['path']} = {json.dumps(fact['value'])}"
        out.append(f"  {clean(what)} ({clean(fact['reading'])}) -> {f['outcome']}: {_claim(f['claim'])}")
        out += _rules(f["rules"])
    out += [f"  note: {clean(n)}" for n in a["searched"]["notes"]]
    return "\n".join(out) + "\n"
