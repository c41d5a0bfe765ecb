"""`payerkb validate`: every file of a policies folder checked, nothing run. The policies themselves are checked
by solver/policy.py; here the files read beside them: the cases, the payer map, the encounter space of verify
and what explain may assume, each with every problem it has. When the policies did not load, these files are
still checked, for what does not depend on the policies (a case's rule names, a payer map's payer ids and the
space's muscles and codes wait for them)."""
from __future__ import annotations

from pathlib import Path

from solver.casetest import case_problems, find_case_files, load_case_files
from solver.errors import PayerkbError, Problem


def other_files(root: Path, pol=None) -> tuple[list[Problem], dict]:
    """The problems of the files beside the policies (pol: the policies, when they loaded), and what was
    validated (counts for the summary)."""
    from solver.explore.assumable import ASSUMABLE_FILE, _spec
    from solver.formats.payer_map import PayerMap
    from solver.verify.space import load_space

    root = Path(root)
    files = find_case_files(root)
    problems: list[Problem] = []
    cases = 0
    if pol is None:
        problems.extend(case_problems(files))
    else:
        try:
            cases = sum(len(c) for _, c in load_case_files(files, {r.id for rs in pol.rulesets.values() for r in rs.rules}))
        except PayerkbError as exc:
            problems.extend(exc.problems)
    checks = [(root / "payer-map.yaml", lambda p: PayerMap.load(p, set(pol.payers) if pol else None)),
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
    counts = {"cases": cases, "cases files": len(files), "other": read}
    if pol is not None:
        counts.update({"payers": len(pol.payers), "rule sets": len(pol.rulesets),
                       "rules": len({r.id for rs in pol.rulesets.values() for r in rs.rules})})
    return problems, counts
