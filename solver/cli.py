"""The command line (the only module that imports typer). Exit codes: 0 ran; 1 the --fail-on threshold was
met; 2 bad input or bad policy, one line per problem naming file, record and field, and no traceback."""
from __future__ import annotations

import datetime as dt
import gc
import json
import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from solver import __version__
from solver.errors import PayerkbError, Problem

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="payerkb: check trigger point injection claims against payer policy, with the source of every answer.")
policy_app = typer.Typer(no_args_is_help=True, help="See the payers and the rules in force.")
app.add_typer(policy_app, name="policy")
err = Console(stderr=True, highlight=False, soft_wrap=True)


class Format(str, Enum):
    text = "text"
    json = "json"


class FailOn(str, Enum):
    error = "error"
    warning = "warning"


def _fail(problems: list[Problem], code: int = 2):
    for p in problems:
        err.print(f"error: {p}", markup=False)
    raise typer.Exit(code)


_POLICIES: dict[str, Path | None] = {"dir": None}


def _engine(policies: Path | None = None):
    from solver.engine import Engine
    from solver.paths import POLICIES_DIR
    root = policies or _POLICIES["dir"] or POLICIES_DIR
    if not root.is_dir():
        _fail([Problem(str(root), "(folder)", "no such policies folder; give a folder with rulesets/, payers/ and tables/")])
    try:
        return Engine(policies_dir=root)
    except PayerkbError as exc:
        _fail(exc.problems)


def _parse_date(value: Optional[str], option: str) -> Optional[dt.date]:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        _fail([Problem("(command line)", option, f"{value!r} is not a date; give YYYY-MM-DD")])


@app.callback(invoke_without_command=True)
def _main(version: bool = typer.Option(False, "--version", help="Print the version and exit."),
          policies: Optional[Path] = typer.Option(None, "--policies", help="A policies folder of your own (default: the shipped one, or $PAYERKB_POLICIES).")):
    _POLICIES["dir"] = policies
    if version:
        typer.echo(f"payerkb {__version__}")
        raise typer.Exit(0)


@app.command()
def check(
    files: List[str] = typer.Argument(..., help="Encounter files (YAML, JSON, JSON Lines); '-' reads standard input."),
    payer: Optional[str] = typer.Option(None, "--payer", help="Answer as if the encounters named this payer (what-if)."),
    date: Optional[str] = typer.Option(None, "--date", help="Answer as if this were the date of service, YYYY-MM-DD (what-if)."),
    fmt: Format = typer.Option(Format.text, "--format", help="text (a readable report) or json."),
    fail_on: Optional[FailOn] = typer.Option(None, "--fail-on", help="Exit 1 when any finding has this severity or worse (for CI)."),
    jobs: Optional[int] = typer.Option(None, "--jobs", min=1, help="Processes to use for large inputs (default: every core)."),
):
    """Check encounters: findings, the corrected or derived claim, and the outcome."""
    from solver.batch import Job, run
    from solver.reading import read_file
    from solver.report import print_text

    when = _parse_date(date, "--date")
    engine = _engine()
    gc.freeze()  # the engine's long-lived objects; bulk reading and solving make garbage the collector need not scan
    gc.disable()
    if payer and payer not in engine.policies.payers:
        _fail([Problem("(command line)", "--payer", f"unknown payer {payer!r}; the payers are {sorted(engine.policies.payers)}")])
    records, problems = [], []
    for path in files:
        try:
            records.extend(read_file(path))
        except PayerkbError as exc:
            problems.extend(exc.problems)
    json_lines = any(rec.json_lines for rec in records)
    as_json = fmt is Format.json
    answered = run(Job(engine, payer, when, as_json), records, jobs)
    for record_problems, _res in answered:
        problems.extend(record_problems)
    if as_json:
        lines = [res for _p, res in answered]
        sys.stdout.write("".join(line + "\n" for line in lines) if json_lines else "[" + ",\n".join(lines) + "]\n")
    else:
        print_text([res for _p, res in answered])
    for p in problems:
        err.print(f"error: {p}", markup=False)
    if problems:
        raise typer.Exit(2)
    if fail_on:
        levels = {"error"} if fail_on is FailOn.error else {"error", "warning"}
        results = [json.loads(r) for _p, r in answered] if as_json else [r for _p, r in answered]
        # a corrected finding still counts: it is an error in the claim as submitted
        if any(f["severity"] in levels for r in results for f in r.get("findings", [])):
            raise typer.Exit(1)


@policy_app.command("list")
def policy_list():
    """Every payer, with the versions of its policy and their dates."""
    from solver.report import print_policy_list
    print_policy_list(_engine().policies)


@policy_app.command("show")
def policy_show(
    payer: str = typer.Argument(..., help="A payer id (see `payerkb policy list`)."),
    date: Optional[str] = typer.Option(None, "--date", help="Show the rules in force on this date (default: today)."),
    fmt: Format = typer.Option(Format.text, "--format"),
):
    """The rules in force for a payer on a date, with their citations and confidence."""
    from solver.report import policy_rules, print_policy_show
    when = _parse_date(date, "--date") or dt.date.today()
    engine = _engine()
    if payer not in engine.policies.payers:
        _fail([Problem("(command line)", "PAYER", f"unknown payer {payer!r}; the payers are {sorted(engine.policies.payers)}")])
    rules = policy_rules(engine, payer, when)
    if fmt is Format.json:
        typer.echo(json.dumps(rules, indent=2, default=str))
    else:
        print_policy_show(engine.policies, payer, when, rules)


@policy_app.command("diff")
def policy_diff(
    base: Path = typer.Argument(..., help="The policies folder before the change (e.g. a checkout of main)."),
    files: List[str] = typer.Argument(..., help="Encounter files to answer under both (the cases' encounters work too)."),
    changed: Optional[Path] = typer.Option(None, "--against", help="The policies folder after the change (default: the one in use)."),
    fmt: Format = typer.Option(Format.text, "--format"),
):
    """What a policy change does: answer the encounters under two policy folders and show what differs."""
    from solver.batch import Job, run
    from solver.compare import difference
    from solver.reading import read_file
    before, after = _engine(base), _engine(changed)
    records = []
    for path in files:
        try:
            records.extend(read_file(path))
        except PayerkbError as exc:
            _fail(exc.problems)
    old = run(Job(before), records, 1)
    new = run(Job(after), records, 1)
    diffs = [d for (_p1, a), (_p2, b) in zip(old, new) if (d := difference(a, b))]
    if fmt is Format.json:
        typer.echo(json.dumps({"encounters": len(records), "changed": diffs}, indent=2))
        return
    for d in diffs:
        typer.echo(f"{d['encounter']}:")
        for key in ("outcome", "claim"):
            if key in d:
                typer.echo(f"  {key}: {d[key][0]} -> {d[key][1]}")
        for f in d.get("findings_removed", []):
            typer.echo(f"  - {f}")
        for f in d.get("findings_added", []):
            typer.echo(f"  + {f}")
    typer.echo(f"{len(diffs)} of {len(records)} encounters answered differently")


@app.command("schema")
def schema(policy: Optional[str] = typer.Option(None, "--policy", help="The schema of a policy file instead: ruleset, payer, cases or muscles.")):
    """The JSON Schema of an encounter (contract v1), for programs that build them; or of a kind of policy file."""
    if policy is None:
        from solver.encounter import Encounter
        typer.echo(json.dumps(Encounter.model_json_schema(), indent=2))
        return
    from solver.policy_model import POLICY_FILE_MODELS, policy_schema
    if policy not in POLICY_FILE_MODELS:
        _fail([Problem("(command line)", "--policy", f"unknown kind {policy!r}; use one of {sorted(POLICY_FILE_MODELS)}")])
    typer.echo(json.dumps(policy_schema(policy), indent=2))


@app.command("test")
def test_cases(path: Optional[Path] = typer.Argument(None, help="A cases file or folder (default: every *.cases.yaml under the policies).")):
    """Run the YAML cases that sit next to the policy files."""
    from solver.casetest import find_case_files, run_cases
    engine = _engine()
    files = find_case_files(path or engine.policies.root)
    if not files:
        _fail([Problem(str(path or engine.policies.root), "(path)", "no *.cases.yaml files found")])
    try:
        failures, total = run_cases(engine, files, err)
    except PayerkbError as exc:
        _fail(exc.problems)
    typer.echo(f"{total - failures} passed, {failures} failed")
    raise typer.Exit(1 if failures else 0)


@app.command("compile")
def compile_facts(
    encounter: str = typer.Argument(..., help="One encounter file ('-' reads standard input)."),
    output: Path = typer.Option(..., "-o", "--output", help="Where to write the facts (e.g. facts.lp)."),
):
    """Write the facts of one encounter, so that `python -m clingo kb/main.lp facts.lp` replays the decision."""
    from solver.reading import read_file
    engine = _engine()
    try:
        records = list(read_file(encounter))
    except PayerkbError as exc:
        _fail(exc.problems)
    if len(records) != 1:
        _fail([Problem(encounter, "(file)", f"holds {len(records)} encounters; compile takes exactly one")])
    rec = records[0].resolve()
    if rec.problems:
        _fail(rec.problems)
    bad = engine.unknown_payer(rec.encounter)
    if bad:
        _fail([Problem(encounter, "payer", bad.message, rec.label)])
    output.write_text(engine.facts_program(rec.encounter), encoding="utf-8")
    typer.echo(f"wrote {output}; replay with: clingo {engine.kb_dir / 'main.lp'} {output}")


def main():
    try:
        app()
    except PayerkbError as exc:  # a domain error that escaped a command: still no traceback
        for p in exc.problems:
            err.print(f"error: {p}", markup=False)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
