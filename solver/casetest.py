"""The YAML cases next to the policy files (*.cases.yaml): an encounter and what the product must answer.

Each case lists the rules the encounter violates and the rules it passes, and may expect an outcome and
claim lines (each listed field of each listed line must match)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydantic import ValidationError

from solver.encounter import Encounter
from solver.errors import PolicyError, Problem, pydantic_problems
from solver.policy_model import Case, CaseFile
from solver.yamltext import read_policy_yaml

PRODUCT_RULES = ("vocabulary.",)  # findings the product makes itself, not rules of a rule set (see explain.py)


def find_case_files(path: Path) -> list[Path]:
    path = Path(path)
    if path.is_file():
        return [path]
    return sorted(path.rglob("*.cases.yaml"))


def load_cases(path: Path, rule_ids: set[str] | None = None) -> list[tuple[Case, Encounter]]:
    """The cases of one file, each encounter validated; with rule_ids, every rule a case names must be one of them."""
    problems: list[Problem] = []
    out = _read_cases(Path(path), rule_ids, problems)
    if problems:
        raise PolicyError(problems)
    return out


def load_case_files(files: list[Path], rule_ids: set[str] | None = None) -> list[tuple[Path, list[tuple[Case, Encounter]]]]:
    """The cases of many files: every problem of every file raises one PolicyError."""
    problems: list[Problem] = []
    out = [(Path(path), _read_cases(Path(path), rule_ids, problems)) for path in files]
    if problems:
        raise PolicyError(problems)
    return out


def case_problems(files: list[Path]) -> list[Problem]:
    """The problems of cases files that do not depend on the policies (their rule names aside): for a run whose
    policies did not load, so that the cases' own problems are found in the same run."""
    problems: list[Problem] = []
    for path in files:
        _read_cases(Path(path), None, problems)
    return problems


def _read_cases(path: Path, rule_ids: set[str] | None, problems: list[Problem]) -> list[tuple[Case, Encounter]]:
    data = read_policy_yaml(path, problems)
    if data is None:
        return []
    if not isinstance(data, dict):
        problems.append(Problem(str(path), "(file)", "a cases file is a mapping with cases (a list) and, if you like, defaults"))
        return []
    raw_cases = data.get("cases")
    try:
        cf = CaseFile.model_validate({**data, "cases": []} if isinstance(raw_cases, list) else data)
    except ValidationError as exc:
        header = pydantic_problems(exc, str(path))
        problems.extend(header)
        if not isinstance(raw_cases, list):
            return []
        cf = None  # the cases are still checked, but not their encounters: those take the file's defaults
    bad_defaults = _check_defaults(cf.defaults, str(path), problems) if cf is not None else set()
    waiting: dict[str, list[int]] = {}  # a default with problems -> the cases that take it (not run)
    held: list[int] = []  # cases whose encounters were not checked: the file's header has problems
    out = []
    for i, raw_case in enumerate(raw_cases):  # each case on its own, so every error of every case is reported
        if isinstance(raw_case, dict):
            _check_rule_names(raw_case, f"cases.{i}", rule_ids, str(path), problems)
        try:
            case = Case.model_validate(raw_case)
        except ValidationError as exc:
            problems.extend(pydantic_problems(exc, str(path), prefix=f"cases.{i}"))
            continue
        if cf is None:
            held.append(i)
            continue
        raw = dict(cf.defaults)
        raw.update(case.encounter)
        raw.setdefault("id", f"{path.stem}#{i + 1}")  # the case is named by its name; its encounter by its place
        taken = {k for k in bad_defaults if k not in case.encounter}
        for k in taken:
            waiting.setdefault(k, []).append(i)
        try:
            enc = Encounter.model_validate(raw)
        except ValidationError as exc:  # its own problems; a default's are reported once, on defaults
            problems.extend(p for p, err in zip(pydantic_problems(exc, str(path), prefix=f"cases.{i}.encounter"), exc.errors())
                            if not (err.get("loc") and err["loc"][0] in taken))
            continue
        if not taken:
            out.append((case, enc))
    if held:
        problems.append(Problem(str(path), "(file)", f"the encounters of {_count(held)} ({_numbered(held)}) not checked: they take "
                                f"the file's defaults, and the file has problems ({header[0].field}: {header[0].message}); "
                                "fix those first"))
    for key, cases in waiting.items():
        problems.append(Problem(str(path), f"defaults.{key}", f"{_count(cases)} not run: {'it takes' if len(cases) == 1 else 'they take'} "
                                f"{key} from defaults ({_numbered(cases)}); correct defaults.{key} (above) and {'it runs' if len(cases) == 1 else 'they run'}"))
    return out


def _check_defaults(defaults: dict, file: str, problems: list[Problem]) -> set[str]:
    """The file's defaults validated once, as fields of an encounter: each problem named on defaults (not on every
    case that takes the value); the fields with problems."""
    probe = {"id": "defaults", "payer": "defaults", "date_of_service": dt.date(2000, 1, 1), **defaults}
    try:
        Encounter.model_validate(probe)
    except ValidationError as exc:
        bad = set()
        for p, err in zip(pydantic_problems(exc, file, prefix="defaults"), exc.errors()):
            loc = err.get("loc") or ()
            if loc and loc[0] in defaults:
                problems.append(p)
                bad.add(loc[0])
        return bad
    return set()


def _count(cases: list[int]) -> str:
    return "1 case" if len(cases) == 1 else f"{len(cases)} cases"


def _numbered(cases: list[int]) -> str:
    """cases.0-3, 5, 7-9"""
    spans: list[list[int]] = []
    for n in cases:
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return "cases." + ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


def _check_rule_names(raw: dict, where: str, rule_ids: set[str] | None, file: str, problems: list[Problem]) -> None:
    """A case names rules that exist, and never one rule as both violated and passed (checked on the raw case,
    so these problems are reported with the case's other ones)."""
    named = {key: raw.get(key) if isinstance(raw.get(key), list) else [] for key in ("violates", "passes")}
    for key, rids in named.items():
        for j, rid in enumerate(rids):
            if not isinstance(rid, str):
                continue  # the model reports it
            if rule_ids is not None and rid not in rule_ids and not rid.startswith(PRODUCT_RULES):
                problems.append(Problem(file, f"{where}.{key}.{j}", f"{rid!r} is not a rule of the policies; check its spelling"))
            elif key == "passes" and rid in named["violates"]:
                problems.append(Problem(file, f"{where}.{key}.{j}", f"{rid!r} is also listed under violates; a case either violates a rule or passes it"))


def compare(case: Case, result: dict) -> list[tuple[str, str, str]]:
    """(what, expected, actual) for each expectation the result does not meet."""
    diffs = []
    found = {f["rule"] for f in result["findings"]}
    for rid in case.violates:
        if rid not in found:
            diffs.append((f"rule {rid}", "violated", "not violated"))
    for rid in case.passes:
        if rid in found:
            diffs.append((f"rule {rid}", "not violated", "violated"))
    exp = case.expect
    if exp.outcome is not None and exp.outcome != result["outcome"]:
        diffs.append(("outcome", exp.outcome, result["outcome"]))
    if exp.claim is not None:
        got = result["claim"]
        if len(exp.claim) != len(got):
            diffs.append(("claim lines", str(len(exp.claim)), str(len(got))))
        for n, (e, g) in enumerate(zip(exp.claim, got), start=1):
            for k, v in e.model_dump(exclude_unset=True).items():
                if g.get(k) != v:
                    diffs.append((f"claim line {n} {k}", str(v), str(g.get(k))))
    return diffs


def run_cases(engine, files: list[Path], console, runs: list | None = None) -> tuple[int, int]:
    """Run the cases of the files, after every file was validated (all their problems raise one PolicyError).
    With runs, each (file, case, result) is appended to it (for the coverage report)."""
    failures = total = 0
    rule_ids = {r.id for rs in engine.policies.rulesets.values() for r in rs.rules}
    for path, cases in load_case_files(files, rule_ids):
        results = engine.check_many([enc for _, enc in cases]) if cases else []
        for (case, _enc), result in zip(cases, results):
            total += 1
            if runs is not None:
                runs.append((str(path), case, result))
            diffs = compare(case, result)
            if diffs:
                failures += 1
                console.print(f"FAIL {path}: {case.name}", markup=False)
                width = max(len(d[0]) for d in diffs)
                console.print(f"  {'':{width}}  {'expected':30}  actual", markup=False)
                if any(d[0].startswith("rule ") for d in diffs):
                    console.print(f"  {'findings':{width}}  {'':30}  {', '.join(sorted({f['rule'] for f in result['findings']})) or '(none)'}", markup=False)
                for what, e, a in diffs:
                    console.print(f"  {what:{width}}  {e:30}  {a}", markup=False)
    return failures, total
