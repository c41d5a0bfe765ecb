"""The YAML cases next to the policy files: every case passes, and every rule has a case that violates it
and one that does not."""
import pytest

from solver.casetest import compare, find_case_files, load_cases
from solver.paths import POLICIES_DIR
from solver.policy import load_policies
from solver.paths import KB_DIR

CASE_FILES = find_case_files(POLICIES_DIR)
CASES = [(path, case, enc) for path in CASE_FILES for case, enc in load_cases(path)]


def test_there_are_case_files_next_to_the_policies():
    assert CASE_FILES, "no *.cases.yaml under policies/"


@pytest.mark.parametrize("path,case,enc", CASES, ids=[f"{p.stem}: {c.name}" for p, c, _ in CASES])
def test_case(engine, path, case, enc):
    result = engine.check(enc)
    diffs = compare(case, result)
    assert not diffs, "\n".join(f"{what}: expected {e}, got {a}" for what, e, a in diffs)


def test_every_rule_has_a_violating_and_a_passing_case():
    pol = load_policies(POLICIES_DIR, KB_DIR)
    rule_ids = {r.id for rs in pol.rulesets.values() for r in rs.rules}
    violating = {rid for _, c, _ in CASES for rid in c.violates}
    passing = {rid for _, c, _ in CASES for rid in c.passes}
    missing = sorted(f"{rid}: {'no violating case' if rid not in violating else 'no passing case'}"
                     for rid in rule_ids if rid not in violating or rid not in passing)
    assert not missing, "rules without cases:\n" + "\n".join(missing)


def test_cases_name_only_rules_that_exist():
    pol = load_policies(POLICIES_DIR, KB_DIR)
    rule_ids = {r.id for rs in pol.rulesets.values() for r in rs.rules}
    unknown = sorted({rid for _, c, _ in CASES for rid in c.violates + c.passes if rid not in rule_ids})
    assert not unknown
