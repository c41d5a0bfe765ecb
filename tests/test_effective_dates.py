"""Boundaries of every dated rule instance: the day before it starts, its first day, its last day and the
day after. The violating case of each rule is moved (with all its dates) so that its date of service falls
on each boundary; the rule must fire exactly on the days it is in force."""
import datetime as dt

import pytest

from conftest import shift
from solver.casetest import find_case_files, load_cases
from solver.encounter import Encounter
from solver.paths import KB_DIR, POLICIES_DIR
from solver.policy import load_policies

POL = load_policies(POLICIES_DIR, KB_DIR)
VIOLATING = {}
for path in find_case_files(POLICIES_DIR):
    for case, enc in load_cases(path):
        for rid in case.violates:
            VIOLATING.setdefault(rid, enc)

BOUNDARIES = []
for inst in POL.instances:
    enc = VIOLATING.get(inst.id)
    if enc is None:
        continue
    enc = enc.model_copy(update={"payer": inst.payer})
    if inst.start:
        BOUNDARIES += [(inst, enc, inst.start - dt.timedelta(days=1), False), (inst, enc, inst.start, True)]
    if inst.end:
        BOUNDARIES += [(inst, enc, inst.end, True), (inst, enc, inst.end + dt.timedelta(days=1), False)]


def test_every_dated_rule_has_boundary_checks():
    dated = {(i.payer, i.id) for i in POL.instances if i.start or i.end}
    checked = {(i.payer, i.id) for i, *_ in BOUNDARIES}
    assert dated <= checked, f"dated rules without a violating case to move: {sorted(dated - checked)}"


@pytest.mark.parametrize("inst,enc,day,in_force", BOUNDARIES,
                         ids=[f"{i.payer} {i.id} {d} {'in force' if f else 'not in force'}" for i, _, d, f in BOUNDARIES])
def test_rule_fires_only_while_in_force(engine, inst, enc, day, in_force):
    raw = enc.model_dump(mode="json", exclude_none=True)
    moved = Encounter.model_validate(shift(raw, (day - enc.date_of_service).days))
    result = engine.check(moved)
    # the same rule id may continue under the payer's next version: the instance is the id under its version
    assert (inst.id in result["policy"]["rules"] and inst.version in result["policy"]["versions"]) is in_force
    assert ((inst.id, inst.version) in {(f["rule"], f["policy_version"]) for f in result["findings"]}) is in_force
