"""payerkb verify [PAYER] [--date D] [--space FILE] [--format text|json]: what the rules in force do over the
bounded encounter space (solver/verify), each finding with a minimal witness encounter and the rules' citations."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Optional

import typer

from solver.cli import Format, _engine, _fail, _parse_date, _policies_option, _set_policies
from solver.errors import PayerkbError, Problem


def verify(
    payer: Optional[str] = typer.Argument(None, metavar="[PAYER]", help="A payer id (default: every payer)."),
    date: Optional[str] = typer.Option(None, "--date", metavar="YYYY-MM-DD", help="The date of service (default: today)."),
    space: Optional[Path] = typer.Option(None, "--space", metavar="FILE", help="The encounter space (default: policies/verify/space.yaml)."),
    fmt: Format = typer.Option(Format.text, "--format", metavar="text|json", help="text or json."),
    policies: Optional[Path] = _policies_option(),
):
    """Dead, subsumed and masked rules, conflicts, gaps and case stubs, each with a witness encounter."""
    from solver.verify.analysis import verify as run
    from solver.verify.space import SPACE_FILE, load_space
    from solver.verify.text import print_report
    _set_policies(policies)
    when = _parse_date(date, "--date") or dt.date.today()
    if fmt is Format.fhir:
        _fail([Problem("(command line)", "--format", "verify answers in text or json")])
    engine = _engine()
    if payer is not None and payer not in engine.policies.payers:
        _fail([Problem("(command line)", "PAYER", f"unknown payer {payer!r}; the payers are {sorted(engine.policies.payers)}")])
    path = space or (engine.policies.root / "verify" / "space.yaml")
    if not path.is_file():
        path = SPACE_FILE if space is None else path
    if not path.is_file():
        _fail([Problem(str(path), "(file)", "no such space file; give --space FILE (see policies/verify/space.yaml)")])
    try:
        declared = load_space(path, engine.policies)
        reports = [run(engine, p, when, declared) for p in ([payer] if payer else sorted(engine.policies.payers))]
    except PayerkbError as exc:
        _fail(exc.problems)
    if fmt is Format.json:
        typer.echo(json.dumps(reports[0] if payer else reports, indent=2, default=str))
    else:
        for r in reports:
            print_report(r)
