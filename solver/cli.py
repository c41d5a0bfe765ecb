"""The command line. Exit codes: 0 ran; 1 the --fail-on threshold was met; 2 bad input or bad policy, one line per
problem naming file, record and field, and no traceback; 130 interrupted (Ctrl-C), with one line. Text printed
from the input is escaped (report.clean).

This module is the entry point and what every command shares; the commands themselves are declared with
typer in solver/cli_commands.py (and the explorations in solver/cli_*.py). A command line that is only
`payerkb check FILE...` (no option) is run here without building the typer app: the common cold start of one
encounter then imports neither typer nor the other commands. Any other command line goes through typer, the
plain check too when it asks for help or names an option."""
from __future__ import annotations

import gc

gc.disable()  # a cold start makes many objects and frees few: the collector waits until main() knows the command

import datetime as dt  # noqa: E402
import errno  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
from enum import Enum  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Optional  # noqa: E402

from solver.errors import PayerkbError, Problem  # noqa: E402


def _err():
    """The console of standard error (rich is imported only by the commands that print with it)."""
    from rich.console import Console
    return Console(stderr=True, highlight=False, soft_wrap=True)


class Format(str, Enum):
    text = "text"
    json = "json"
    fhir = "fhir"  # check only: a FHIR R4 ClaimResponse per record (solver/formats/fhir_response.py)


class FailOn(str, Enum):
    error = "error"
    warning = "warning"


def _clean(text: str) -> str:
    from solver.report import clean
    return clean(text)


def _print_problems(problems: list[Problem]) -> None:
    """One line per problem on standard error; control characters from the input are shown escaped."""
    if problems:
        sys.stderr.write("".join(f"error: {_clean(str(p))}\n" for p in problems))
        sys.stderr.flush()


def _fail(problems: list[Problem], code: int = 2):
    _print_problems(problems)
    sys.exit(code)


_POLICIES: dict[str, Path | None] = {"dir": None}
POLICIES_HELP = "A policies folder of your own (default: the shipped one, or $PAYERKB_POLICIES); before or after the command."


def _engine(policies: Path | None = None, also=None):
    """The engine of the policies folder; a bad folder exits 2 with its problems (and with also(root)'s, the
    problems of other files of the folder that do not depend on the policies loading)."""
    from solver.engine import Engine
    from solver.paths import POLICIES_DIR
    root = policies or _POLICIES["dir"] or POLICIES_DIR
    if not root.is_dir():
        _fail([Problem(str(root), "(folder)", "no such policies folder; give a folder with rulesets/, payers/ and tables/")])
    try:
        return Engine(policies_dir=root)
    except PayerkbError as exc:
        _fail(exc.problems + (also(root) if also else []))


def _parse_date(value: Optional[str], option: str) -> Optional[dt.date]:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        _fail([Problem("(command line)", option, f"{value!r} is not a date; give YYYY-MM-DD")])


def _set_policies(policies: Optional[Path]) -> None:
    if policies is not None:  # given after the command: it wins over one given before
        _POLICIES["dir"] = policies


def _use_payer_map(payer_map: Optional[Path]) -> None:
    """--payer-map FILE: the map the input formats (FHIR, X12) read, in this process and its workers."""
    if payer_map is None:
        return
    if not payer_map.is_file():
        _fail([Problem("(command line)", "--payer-map", f"no file {str(payer_map)!r}; give the path of a payer map "
                       "(see policies/payer-map.yaml for its form)")])
    os.environ["PAYERKB_PAYER_MAP"] = str(payer_map.resolve())


def _read_all(files: list[str]):
    """Every record of every file, and the problems of the files that could not be read at all."""
    from solver.reading import read_file
    records, problems = [], []
    for path in files:
        try:
            records.extend(read_file(path))
        except PayerkbError as exc:
            problems.extend(exc.problems)
    return records, problems


def _open_all(files: list[str], problems: list[Problem]):
    """The records of every file, read as they are answered, and whether any file is JSON Lines. The first
    record of each file is read at once: a file that cannot be read at all is a problem (in `problems`) before
    any answer, and the output's form (JSON Lines when any input is) is known before the first is written."""
    from solver.reading import read_file
    opened = []
    for path in files:
        records = read_file(path)
        try:
            first = next(records, None)
        except PayerkbError as exc:
            problems.extend(exc.problems)
            continue
        if first is not None:
            opened.append((first, records))
    json_lines = any(first.json_lines for first, _ in opened) or any(f.endswith((".jsonl", ".ndjson")) for f in files)

    def records_of_all():
        for first, records in opened:
            yield first
            try:
                yield from records
            except PayerkbError as exc:  # a file that fails part way (a read error): its problems, the others go on
                problems.extend(exc.problems)
    return records_of_all(), json_lines


def run_check(files: list[str], payer: Optional[str] = None, date: Optional[str] = None, fmt: Format = Format.text,
              fail_on: Optional[FailOn] = None, jobs: Optional[int] = None, payer_map: Optional[Path] = None,
              policies: Optional[Path] = None) -> None:
    """`payerkb check` (the options are those of solver.cli_commands.check): findings, the corrected or derived
    claim, and the outcome, for every record of every file. Exits 1 or 2 as the module docstring says. Each
    answer is written as soon as it and those before it are answered (FHIR's Bundle at the end)."""
    import contextlib

    from solver.batch import Job, stream
    from solver.report import summary_line, use_color

    _set_policies(policies)
    _use_payer_map(payer_map)
    when = _parse_date(date, "--date")
    engine = _engine()
    gc.freeze()  # the engine's long-lived objects; bulk reading and solving make garbage the collector need not scan
    gc.disable()
    if payer and payer not in engine.policies.payers:
        _fail([Problem("(command line)", "--payer", f"unknown payer {payer!r}; the payers are {sorted(engine.policies.payers)}")])
    problems: list[Problem] = []  # the files' that could not be read, then the records', in input order
    records, json_lines = _open_all(files, problems)
    form = "dict" if fmt is Format.fhir else "json" if fmt is Format.json else "text"
    kept: list = []  # the records, for FHIR's responses (each names its claim)
    if fmt is Format.fhir:
        records = _kept(records, kept)
    outcomes: list[str] = []
    severities: set[str] = set()
    results: list = []
    out = sys.stdout
    job = Job(engine, payer, when, form, fmt is Format.text and use_color(out))
    with contextlib.closing(stream(job, records, jobs)) as answers:
        for a in answers:
            problems.extend(a.problems)
            severities |= a.severities
            if fmt is Format.fhir:
                results.append(a.result)
            elif fmt is not Format.json:
                out.write(a.result)
            elif json_lines:
                out.write(a.result + "\n")
            else:
                out.write(("[" if not outcomes else ",\n") + a.result)
            outcomes.append(a.outcome)
    if fmt is Format.fhir:
        from solver.formats.fhir_response import render
        out.write(render(kept, results))
    elif fmt is Format.json and not json_lines:
        out.write("]\n" if outcomes else "[]\n")
    elif fmt is Format.text and len(outcomes) > 1:
        out.write(summary_line(outcomes) + "\n")
    out.flush()
    if not outcomes and not problems:  # e.g. an empty JSON Lines file: never an exit 0 that checked nothing
        problems.append(Problem(", ".join(files), "(file)", "holds no encounter; give one encounter, a list of "
                                                         "encounters or JSON Lines"))
    _print_problems(problems)
    if problems:
        sys.exit(2)
    if fail_on:
        levels = {"error"} if fail_on is FailOn.error else {"error", "warning"}
        # a corrected finding still counts: it is an error in the claim as submitted
        if severities & levels:
            sys.exit(1)


def _kept(records, kept: list):
    for rec in records:
        kept.append(rec)
        yield rec


class Interrupted(BaseException):
    """Ctrl-C: raised in the parent only (workers ignore SIGINT), past typer's own handling."""


def _interrupt(_signum, _frame):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C while the pool stops is ignored
    raise Interrupted()


_GLOBAL_VALUE_OPTIONS = {"--policies"}  # the options before the command that take a value


def command_named(argv: list[str]) -> str | None:
    """The command a command line names (the first word past the options of payerkb itself), or None."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in _GLOBAL_VALUE_OPTIONS:
            i += 2
            continue
        if arg.startswith("-"):
            i += 1
            continue
        return arg
    return None


def plain_check(argv: list[str]) -> bool:
    """`check FILE...` and nothing else: every file a path (or '-', standard input), no option, no help."""
    return len(argv) >= 2 and argv[0] == "check" and all(a == "-" or (a and not a.startswith("-")) for a in argv[1:])


def main():
    argv = sys.argv[1:]
    if command_named(argv) != "check":
        gc.enable()  # a check keeps it off (it freezes its engine, then makes only short-lived garbage)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        if plain_check(argv):
            _plain_run(argv[1:])
        else:
            from solver.cli_commands import run_typer
            run_typer()
    except PayerkbError as exc:  # a domain error that escaped a command: still no traceback
        _print_problems(exc.problems)
        sys.exit(2)
    except (Interrupted, KeyboardInterrupt):
        sys.stderr.write("payerkb: interrupted\n")
        sys.exit(130)


def _plain_run(files: list[str]) -> None:
    """run_check as typer would run it: a closed standard output (`payerkb check f | head`) exits 1 quietly."""
    try:
        run_check(files)
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # nothing is flushed into the closed pipe at exit
        except (OSError, ValueError):
            pass
        sys.exit(1)


def __getattr__(name: str):
    """What the typer module declares (app, the commands, _policies_option), as before the two were apart."""
    if name.startswith("__"):
        raise AttributeError(name)
    from solver import cli_commands
    try:
        return getattr(cli_commands, name)
    except AttributeError:
        raise AttributeError(f"module 'solver.cli' has no attribute {name!r}") from None


if __name__ == "__main__":
    main()
