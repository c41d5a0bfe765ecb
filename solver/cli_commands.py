"""The commands of the command line, declared with typer (the entry point and what they share is solver/cli.py;
the explorations are in solver/cli_*.py, registered when the command line may name them)."""
from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from solver import __version__
from solver.cli import (POLICIES_HELP, _POLICIES, FailOn, Format, Interrupted, _clean, _engine, _err, _fail,  # noqa: F401
                        _parse_date, _print_problems, _read_all, _set_policies, _use_payer_map, command_named,
                        run_check)
from solver.errors import PayerkbError, Problem

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="payerkb: check trigger point injection claims against payer policy, with the source of every answer.")
policy_app = typer.Typer(no_args_is_help=True, help="See the payers and the rules in force.")
app.add_typer(policy_app, name="policy")


def _policies_option():
    return typer.Option(None, "--policies", metavar="DIR", help=POLICIES_HELP)


@app.callback(invoke_without_command=True)
def _main(version: bool = typer.Option(False, "--version", help="Print the version and exit."),
          policies: Optional[Path] = _policies_option()):
    _POLICIES["dir"] = policies
    if version:
        from solver import allocator
        lib = allocator.library()
        typer.echo(f"payerkb {__version__}\nallocator: {allocator.in_use()}"
                   + (f" (mimalloc installed: {lib}; {allocator.ENV}=system keeps the C library's)" if lib else " (mimalloc not installed)"))
        raise typer.Exit(0)


@app.command()
def check(
    files: List[str] = typer.Argument(..., metavar="FILE...", help="Encounter files (YAML, JSON, JSON Lines); '-' reads standard input."),
    payer: Optional[str] = typer.Option(None, "--payer", metavar="PAYER", help="Answer as if the encounters named this payer (what-if)."),
    date: Optional[str] = typer.Option(None, "--date", metavar="YYYY-MM-DD", help="Answer as if this were the date of service (what-if)."),
    fmt: Format = typer.Option(Format.text, "--format", metavar="text|json|fhir", help="text (a readable report), json, or fhir (a ClaimResponse per record)."),
    fail_on: Optional[FailOn] = typer.Option(None, "--fail-on", metavar="error|warning", help="Exit 1 when any finding has this severity or worse (for CI)."),
    jobs: Optional[int] = typer.Option(None, "--jobs", min=1, metavar="N", help="Processes to use for large inputs (default: every core)."),
    payer_map: Optional[Path] = typer.Option(None, "--payer-map", metavar="FILE", help="Which payer a FHIR or X12 claim is for (default: $PAYERKB_PAYER_MAP, or policies/payer-map.yaml)."),
    policies: Optional[Path] = _policies_option(),
):
    """Check encounters: findings, the corrected or derived claim, and the outcome."""
    run_check(files, payer, date, fmt, fail_on, jobs, payer_map, policies)


@policy_app.command("list")
def policy_list(policies: Optional[Path] = _policies_option()):
    """Every payer, with the versions of its policy and their dates."""
    from solver.report import print_policy_list
    _set_policies(policies)
    print_policy_list(_engine().policies)


@policy_app.command("show")
def policy_show(
    payer: str = typer.Argument(..., metavar="PAYER", help="A payer id (see `payerkb policy list`)."),
    date: Optional[str] = typer.Option(None, "--date", metavar="YYYY-MM-DD", help="Show the rules in force on this date (default: today)."),
    fmt: Format = typer.Option(Format.text, "--format", metavar="text|json", help="text or json."),
    policies: Optional[Path] = _policies_option(),
):
    """The rules in force for a payer on a date, with their citations and confidence."""
    from solver.report import policy_rules, print_policy_show
    _set_policies(policies)
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
    base: Path = typer.Argument(..., metavar="OLD_POLICIES", help="The policies folder before the change (e.g. a checkout of main)."),
    files: Optional[List[str]] = typer.Argument(None, metavar="[FILE...]", help="Encounter files to answer under both (the cases' encounters work too); none with --witness."),
    changed: Optional[Path] = typer.Option(None, "--against", metavar="NEW_POLICIES", help="The policies folder after the change (default: the one in use)."),
    witness: bool = typer.Option(False, "--witness", help="No corpus: search the bounded encounter space for encounters the two versions decide differently, per payer and date window, with a verdict."),
    payer: Optional[str] = typer.Option(None, "--payer", metavar="PAYER", help="With --witness: this payer only (default: every payer)."),
    date: Optional[str] = typer.Option(None, "--date", metavar="YYYY-MM-DD", help="With --witness: only the date window holding this day, answered on it."),
    limit: int = typer.Option(3, "--limit", min=1, max=20, metavar="N", help="With --witness: witnesses per direction and window, each with another pair of outcomes."),
    fmt: Format = typer.Option(Format.text, "--format", metavar="text|json", help="text or json."),
    policies: Optional[Path] = _policies_option(),
):
    """What a policy change does: answer the encounters under two policy folders and show what differs; or,
    with --witness, find the encounters that tell the two apart.

    A record not answered under either folder (it cannot be read, or names a payer one folder lacks) is
    listed with its problems, never counted as unchanged; then the exit code is 2."""
    _set_policies(policies)
    if witness:
        from solver.cli_witness import witness_diff
        if files:
            _fail([Problem("(command line)", "FILE...", "--witness searches without encounter files; leave them out, or drop --witness")])
        before, after = _engine(base), _engine(changed)
        witness_diff(before, after, payer, _parse_date(date, "--date"), fmt is Format.json, limit, _fail)
        return
    if not files:
        _fail([Problem("(command line)", "FILE...", "give the encounter files to answer under both folders, or --witness to search without them")])
    from solver.batch import Job, run
    from solver.compare import difference, not_answered
    _set_policies(policies)
    before, after = _engine(base), _engine(changed)
    records, problems = _read_all(files)
    if problems:
        _fail(problems)
    old = run(Job(before), records, 1)
    new = run(Job(after), records, 1)
    unanswered = [u for a, b in zip(old, new) if (u := not_answered(a, b))]
    diffs = [d for a, b in zip(old, new) if a.outcome != "error" and b.outcome != "error" and (d := difference(a.result, b.result))]
    if fmt is Format.json:
        typer.echo(json.dumps({"encounters": len(records), "changed": diffs, "not_answered": unanswered}, indent=2))
    else:
        out = []
        for d in diffs:
            out.append(f"{_clean(d['encounter'])}:")
            for key in ("outcome", "claim"):
                if key in d:
                    out.append(f"  {key}: {_clean(d[key][0])} -> {_clean(d[key][1])}")
            out += [f"  - {_clean(f)}" for f in d.get("findings_removed", [])]
            out += [f"  + {_clean(f)}" for f in d.get("findings_added", [])]
        for u in unanswered:
            out.append(f"{_clean(u['encounter'])}: not answered")
            for side in ("before", "after"):
                if u[side] is None:
                    out.append(f"  {side}: answered ({u[side + '_outcome']})")
                for e in u[side] or []:
                    out.append(f"  {side}: {_clean(e)}")
        summary = f"{len(diffs)} of {len(records)} encounters answered differently"
        if unanswered:
            summary += f"; {len(unanswered)} not answered under one folder or both (listed above)"
        typer.echo("\n".join(out + [summary]))
    if unanswered:
        raise typer.Exit(2)


@app.command("schema")
def schema(policy: Optional[str] = typer.Option(None, "--policy", metavar="KIND", help="The schema of a kind of policy file instead: ruleset, payer, cases, muscles, code-groups, substances, table-source, icd10cm-releases-source, icd10cm-changes, payer-map, space or assumable.")):
    """The JSON Schema of an encounter (contract v1), for programs that build them; or of a kind of policy file
    (the files in policies/schema/, which every policy file names on its first line)."""
    if policy is None:
        from solver.encounter import Encounter
        typer.echo(json.dumps(Encounter.model_json_schema(), indent=2))
        return
    from solver.families import load_families
    from solver.paths import KB_DIR
    from solver.policy_schema import POLICY_FILE_MODELS, schema_text
    from solver.yamltext import read_policy_yaml
    if policy not in POLICY_FILE_MODELS:
        _fail([Problem("(command line)", "--policy", f"unknown kind {policy!r}; use one of {sorted(POLICY_FILE_MODELS)}")])
    problems: list[Problem] = []
    families = load_families(KB_DIR, read_policy_yaml, problems).specs
    if problems:
        _fail(problems)
    sys.stdout.write(schema_text(policy, families))


@app.command("test")
def test_cases(path: Optional[Path] = typer.Argument(None, metavar="[PATH]", help="A cases file or folder (default: every *.cases.yaml under the policies)."),
               coverage: bool = typer.Option(False, "--coverage", help="Also report, per payer, which rules the cases exercise as the deciding rule and which no case reaches."),
               fmt: Format = typer.Option(Format.text, "--format", metavar="text|json", help="text or json."),
               policies: Optional[Path] = _policies_option()):
    """Run the YAML cases that sit next to the policy files."""
    from solver.casetest import case_problems, find_case_files, run_cases
    _set_policies(policies)
    engine = _engine(also=lambda root: case_problems(find_case_files(path or root)))
    files = find_case_files(path or engine.policies.root)
    if not files:
        _fail([Problem(str(path or engine.policies.root), "(path)", "no *.cases.yaml files found")])
    runs: list = []
    try:
        failures, total = run_cases(engine, files, _err(), runs)
    except PayerkbError as exc:
        _fail(exc.problems)
    report = nowhere = None
    if coverage or path is None:  # every case was run: say which rules none of them exercises (cheap: no solve)
        from solver.case_coverage import coverage_report, coverage_text
        full = coverage_report(engine.policies, runs)
        report, nowhere = (full if coverage else None), full["reached_by_no_case"]
    if fmt is Format.json:
        out = {"passed": total - failures, "failed": failures}
        if nowhere is not None:
            out["reached_by_no_case"] = nowhere
        if report is not None:
            out["coverage"] = report
        typer.echo(json.dumps(out, indent=2))
    else:
        if report is not None:
            typer.echo(coverage_text(report))
        elif nowhere:
            typer.echo(f"rules no case exercises under any payer: {', '.join(nowhere)}; add a case that makes each "
                       "fire and one that does not (payerkb test --coverage lists every payer's)")
        typer.echo(f"{total - failures} passed, {failures} failed")
    raise typer.Exit(1 if failures else 0)


@app.command("validate")
def validate(policies: Optional[Path] = _policies_option()):
    """Validate a policies folder: every policy file, cases file, the payer map, verify's space and what explain may
    assume; all problems at once (exit 2). Nothing is run."""
    from solver.validate import other_files
    _set_policies(policies)
    engine = _engine(also=lambda root: other_files(root)[0])
    problems, n = other_files(engine.policies.root, engine.policies)
    if problems:
        _fail(problems)
    typer.echo(f"{engine.policies.root}: valid: {n['payers']} payers, {n['rule sets']} rule sets, {n['rules']} rules, "
               f"{n['cases']} cases in {n['cases files']} cases files (not run: payerkb test runs them), {', '.join(n['other'])}")


@app.command("compile")
def compile_facts(
    encounter: str = typer.Argument(..., metavar="ENCOUNTER", help="One encounter file ('-' reads standard input)."),
    output: Path = typer.Option(..., "-o", "--output", metavar="FILE", help="Where to write the facts (e.g. facts.lp)."),
    policies: Optional[Path] = _policies_option(),
):
    """Write the facts of one encounter, so that `python -m clingo kb/main.lp facts.lp` replays the decision."""
    from solver.reading import read_file
    _set_policies(policies)
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
    try:
        output.write_text(engine.facts_program(rec.encounter), encoding="utf-8")
    except OSError as exc:
        _fail([Problem(str(output), "-o", f"cannot be written ({exc.strerror or exc.__class__.__name__}); "
                                        "give a file in a folder that exists and that you may write to")])
    typer.echo(f"wrote {output}; replay with: python -m clingo {engine.kb_dir / 'main.lp'} {output}")


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", "--host", metavar="HOST", help="The address to listen on."),
    port: int = typer.Option(8080, "--port", min=0, max=65535, metavar="PORT", help="The port to listen on."),
    workers: int = typer.Option(2, "--workers", min=1, max=64, metavar="N", help="Solver worker processes."),
    log_inputs: bool = typer.Option(False, "--log-inputs", help="Put each encounter in the decision log (patient data: off by default)."),
    payer_map: Optional[Path] = typer.Option(None, "--payer-map", metavar="FILE", help="Which payer a FHIR or X12 claim is for (default: $PAYERKB_PAYER_MAP, or policies/payer-map.yaml)."),
    decision_log: Optional[str] = typer.Option(None, "--decision-log", metavar="FILE", help="Where the decision log goes (default: standard error)."),
    timeout: float = typer.Option(30.0, "--timeout", min=0.001, metavar="SECONDS", help="Longest a request may take in the solver (then a 504)."),
    max_body: int = typer.Option(5_000_000, "--max-body", min=1, metavar="BYTES", help="Largest body read (then a 413)."),
    max_records: int = typer.Option(1000, "--max-records", min=1, metavar="N", help="Most encounters a request (then a 422)."),
    policies: Optional[Path] = _policies_option(),
):
    """Serve the checks over HTTP (FastAPI on uvicorn): POST /v1/check, /v1/payers, /docs, ..."""
    import os

    import uvicorn

    from solver.errors import PolicyError
    from solver.formats.payer_map import PayerMap
    from solver.service.app import create_app
    from solver.service.state import Settings

    _set_policies(policies)
    engine = _engine()  # a bad policies folder or payer map stops here, with its problems
    if payer_map is not None:
        if not payer_map.is_file():
            _fail([Problem(str(payer_map), "(file)", "no such payer map; give a YAML file of payers and their identifiers")])
        try:
            PayerMap.load(payer_map, set(engine.policies.payers))
        except PolicyError as exc:
            _fail(exc.problems)
        os.environ["PAYERKB_PAYER_MAP"] = str(payer_map.resolve())  # the workers' input formats read it too
    root = _POLICIES["dir"]
    if root is not None:
        os.environ["PAYERKB_POLICIES"] = str(root.resolve())
    settings = Settings(workers=workers, timeout=timeout, max_body=max_body, max_records=max_records,
                        decision_log=decision_log, log_inputs=log_inputs, policies_dir=engine.policies_dir,
                        payer_map=payer_map)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info", timeout_graceful_shutdown=timeout + 5)


def _plain_help(cmd) -> None:
    """Help that names values the way users do (FILE..., PAYER, DIR), not as Python types (<list[str]>)."""
    from typer.core import TyperArgument
    for p in cmd.params:
        if isinstance(p, TyperArgument):
            p.display_type_rich = lambda ctx: None
            name = p.metavar or p.name.upper()
            p.get_usage_pieces = lambda ctx, name=name: [name]
        elif getattr(p, "is_flag", False):
            p.display_type_rich = lambda ctx: None

    def help_option(ctx, made=cmd.get_help_option):
        opt = made(ctx)
        if opt is not None:
            opt.display_type_rich = lambda ctx: None
        return opt

    cmd.get_help_option = help_option
    for sub in getattr(cmd, "commands", {}).values():
        _plain_help(sub)


# Commands in modules of their own (the explorations), registered when the command line may name them: a
# check, a policy list or a schema does not import them (nor what they import), so a cold start stays short.
LAZY_COMMANDS = {"explain": ("solver.cli_explain", "explain"), "verify": ("solver.cli_verify", "verify"),
                 "whatif": ("solver.cli_whatif", "whatif"), "compare": ("solver.cli_compare", "compare")}


def register_commands(argv: list[str] | None = None) -> None:
    """Register the commands that live in modules of their own: all of them, unless the command line names a
    command of this module (then none is imported). Each is registered once, in the order of LAZY_COMMANDS."""
    from importlib import import_module
    named = command_named(sys.argv[1:] if argv is None else argv)
    if named in {c.name or c.callback.__name__ for c in app.registered_commands} | {"policy"} and named not in LAZY_COMMANDS:
        return
    have = {c.name for c in app.registered_commands}
    for name, (module, attr) in LAZY_COMMANDS.items():
        if name not in have:
            app.command(name)(getattr(import_module(module), attr))


def run_typer() -> None:
    """Every command line but the plain check (solver.cli.main): the typer app, with the commands it may name."""
    register_commands()
    command = typer.main.get_command(app)
    _plain_help(command)
    command(prog_name="payerkb")
