"""The YAML cases next to the policy files (*.cases.yaml): an encounter and what the product must answer.

Each case lists the rules the encounter violates and the rules it passes, and may expect an outcome and
claim lines (each listed field of each listed line must match)."""
from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from solver.encounter import Encounter
from solver.errors import PolicyError, Problem, pydantic_problems
from solver.policy_model import Case, CaseFile
from solver.reading import load_yaml


def find_case_files(path: Path) -> list[Path]:
    path = Path(path)
    if path.is_file():
        return [path]
    return sorted(path.rglob("*.cases.yaml"))


def load_cases(path: Path) -> list[tuple[Case, Encounter]]:
    problems: list[Problem] = []
    try:
        cf = CaseFile.model_validate(load_yaml(path.read_text(encoding="utf-8")))
    except ValidationError as exc:
        raise PolicyError(pydantic_problems(exc, str(path))) from None
    except Exception as exc:  # YAML syntax
        raise PolicyError([Problem(str(path), "(file)", f"cannot read the cases: {exc}")]) from None
    out = []
    for i, case in enumerate(cf.cases):
        raw = dict(cf.defaults)
        raw.update(case.encounter)
        raw.setdefault("id", case.name)
        try:
            out.append((case, Encounter.model_validate(raw)))
        except ValidationError as exc:
            problems.extend(pydantic_problems(exc, str(path), prefix=f"cases.{i}.encounter"))
    if problems:
        raise PolicyError(problems)
    return out


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
    if "outcome" in exp and exp["outcome"] != result["outcome"]:
        diffs.append(("outcome", exp["outcome"], result["outcome"]))
    if "claim" in exp:
        got = result["claim"]
        if len(exp["claim"]) != len(got):
            diffs.append(("claim lines", str(len(exp["claim"])), str(len(got))))
        for n, (e, g) in enumerate(zip(exp["claim"], got), start=1):
            for k, v in e.items():
                v = [str(x) for x in v] if isinstance(v, list) else (str(v) if k == "code" else v)
                if g.get(k) != v:
                    diffs.append((f"claim line {n} {k}", str(v), str(g.get(k))))
    return diffs


def run_cases(engine, files: list[Path], console) -> tuple[int, int]:
    failures = total = 0
    for path in files:
        cases = load_cases(path)
        results = engine.check_many([enc for _, enc in cases]) if cases else []
        for (case, _enc), result in zip(cases, results):
            total += 1
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
