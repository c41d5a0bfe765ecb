"""`payerkb validate`: every file of a policies folder checked, nothing run. The policies themselves are checked
by solver/policy.py (when they load); here the files read beside them: the cases, the payer map, the
encounter space of verify and what explain may assume, each with every problem it has."""
from __future__ import annotations

from pathlib import Path

from solver.casetest import find_case_files, load_case_files
from solver.errors import PayerkbError, Problem


def other_files(pol) -> tuple[list[Problem], dict]:
    """The problems of the files beside the policies, and what was validated (counts for the summary)."""
    from solver.explore.assumable import ASSUMABLE_FILE, _spec
    from solver.formats.payer_map import PayerMap
    from solver.verify.space import load_space

    problems: list[Problem] = []
    files = find_case_files(pol.root)
    rule_ids = {r.id for rs in pol.rulesets.values() for r in rs.rules}
    cases = 0
    try:
        cases = sum(len(c) for _, c in load_case_files(files, rule_ids))
    except PayerkbError as exc:
        problems.extend(exc.problems)
    root = Path(pol.root)
    checks = [(root / "payer-map.yaml", lambda p: PayerMap.load(p, set(pol.payers))),
              (root / "verify" / "space.yaml", lambda p: load_space(p, pol)),
              (root / ASSUMABLE_FILE, lambda p: _spec(str(p)))]
    read = []
    for path, load in checks:
        if path.is_file():
            try:
                load(path)
            except PayerkbError as exc:
                problems.extend(exc.problems)
            read.append(path.relative_to(root).as_posix())
    return problems, {"payers": len(pol.payers), "rule sets": len(pol.rulesets), "rules": len(rule_ids),
                      "cases": cases, "cases files": len(files), "other": read}
