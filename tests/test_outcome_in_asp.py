"""The search programs' outcome (kb/search/outcome.lp) is the outcome a check reports, on every shipped case:
a goal stated on the solver's outcome means what the user reads."""
import pytest

from solver.casetest import find_case_files, load_cases
from solver.paths import KB_DIR, POLICIES_DIR

OUTCOME_LP = KB_DIR / "search" / "outcome.lp"
CASES = [(case, enc) for path in find_case_files(POLICIES_DIR) for case, enc in load_cases(path)]


def _solver_outcome(engine, enc) -> str:
    ctl, _facts = engine.control([enc], extra=(OUTCOME_LP,))
    ctl.add("show_outcome", [], "#show outcome/2.")
    ctl.ground([("base", []), ("show_outcome", [])])
    found: list[str] = []
    ctl.solve(on_model=lambda m: found.__setitem__(slice(None), [s.arguments[1].name for s in m.symbols(shown=True)
                                                                   if s.name == "outcome"]))
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize("case,enc", CASES, ids=[c.name for c, _ in CASES])
def test_the_solver_derives_the_outcome_the_result_reports(engine, case, enc):
    assert _solver_outcome(engine, enc) == engine.check(enc)["outcome"]


def test_the_cases_cover_every_outcome(engine):
    assert {engine.check(enc)["outcome"] for _c, enc in CASES} == {"allow", "modify", "review", "deny"}
