"""ResidentEngine.solve_assuming with free externals: the facts explain --missing may assume are left free on the
shape's search program, each with its cost, and the solver chooses the cheapest sets that reach the goal; explain
--missing answers from there with today's answer, byte for byte, on every shipped case."""
from __future__ import annotations

import json

import pytest

from resident_corpus import shipped_cases
from solver.casetest import find_case_files, load_cases
from solver.encounter import Encounter
from solver.engine import Engine
from solver.explore import overlay
from solver.explore import missing as missing_module
from solver.explore.assumable import Change, assumable, spec_for
from solver.explore.missing import missing
from solver.paths import POLICIES_DIR
from solver.resident import ResidentEngine

CASES = {c.name: enc for path in find_case_files(POLICIES_DIR) for c, enc in load_cases(path)}


@pytest.fixture(scope="module")
def engines():
    ref = Engine()
    return ref, ResidentEngine(reference=ref, watch=False)


def kept_changes(ref, enc):
    kept, _skipped, _diffs = overlay.select(ref, enc, assumable(ref.policies, enc, spec_for(ref.policies_dir)))
    return kept


def test_the_failed_conservative_therapy_is_the_one_cheapest_fact_to_assume(engines):
    ref, res = engines
    enc = CASES["no documented failed conservative therapy"]
    found = res.solve_assuming(enc, assumable=kept_changes(ref, enc), goal="allow")
    assert [[c.path for c in s] for s in found["sets"]] == [["documentation.conservative_therapy.failed"]]
    assert found["cost"] == 1 and not found["truncated"]
    chosen = found["sets"][0][0]
    assert chosen.value is True
    # the program is put back: a plain check of the encounter still denies, the one with the fact allows
    assert res.check(enc)["outcome"] == "deny"
    assert res.solve_assuming(enc, {"documentation": {"conservative_therapy": {
        **enc.documentation.conservative_therapy.model_dump(), "failed": True}}})["outcome"] == "allow"


def test_costs_decide_the_cheapest_set(engines):
    ref, res = engines
    enc = CASES["no documented failed conservative therapy"]
    kept = kept_changes(ref, enc)
    dear = [Change(c.path, c.value, c.reading, 5, c.op) if c.path == "documentation.conservative_therapy.failed" else c
            for c in kept]
    found = res.solve_assuming(enc, assumable=dear, goal="allow")
    assert found["cost"] == 5  # no cheaper set reaches allow: the dear fact is still the only one
    assert [[c.path for c in s] for s in found["sets"]] == [["documentation.conservative_therapy.failed"]]


def test_an_unreachable_goal_has_no_set_and_no_cost(engines):
    ref, res = engines
    enc = CASES["no documented failed conservative therapy"]
    found = res.solve_assuming(enc, assumable=[], goal="allow")
    assert found == {"sets": [], "cost": None, "truncated": False}


def test_a_change_that_leaves_the_shape_is_not_searched_on_a_resident_program(engines):
    ref, res = engines
    enc = CASES["no documented failed conservative therapy"]
    other_payer = Change("payer", next(p for p in sorted(ref.policies.payers) if p != enc.payer), "another payer")
    assert res.solve_assuming(enc, assumable=[other_payer], goal="allow") is None


def test_explain_missing_on_the_resident_path_is_todays_answer_on_every_shipped_case(engines):
    ref, res = engines
    before = dict(missing_module.SEARCHED_ON)
    cases = shipped_cases(ref.policies)
    for enc in cases:
        today = json.dumps(missing(ref, enc, resident=False))
        assert json.dumps(missing(res, enc)) == today, enc.id
        assert json.dumps(missing(res, enc)) == today, enc.id  # again, on the warm search program
    used = {k: missing_module.SEARCHED_ON[k] - before.get(k, 0) for k in ("resident", "overlay")}
    assert used["resident"] + used["overlay"] == 3 * len(cases)  # today's way once, the resident path twice
    assert used["resident"] > used["overlay"] - len(cases)  # the resident path searched mostly on resident programs
