"""`payerkb test --coverage`: which rules the cases exercise as the deciding rule, per payer, and which none reaches."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from solver.case_coverage import deciding_rules
from solver.paths import POLICIES_DIR

ROOT = Path(__file__).resolve().parent.parent
RULE = "cigna.interval-21-days"


def _coverage(policies: Path, fmt="json"):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    r = subprocess.run([sys.executable, "-m", "solver", "test", "--coverage", "--format", fmt, "--policies", str(policies)],
                       capture_output=True, text=True, cwd=ROOT, env=env)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout) if fmt == "json" else r.stdout


def _payer(report, pid):
    return next(p for p in report["coverage"]["payers"] if p["payer"] == pid)


@pytest.fixture(scope="module")
def shipped():
    return _coverage(POLICIES_DIR)


def test_a_rule_a_case_violates_is_listed_covered_for_its_payer_with_that_case(shipped):
    cigna = _payer(shipped, "cigna")
    row = next(r for r in cigna["covered"] if r["rule"] == RULE)
    assert row["version"] == "MM-0139" and row["decides"] is True
    assert [c["case"] for c in row["cases"]] == ["a TPI two weeks after the previous one is too soon for Cigna"]
    assert RULE not in [r["rule"] for r in cigna["uncovered"]]
    assert shipped["passed"] > 100 and shipped["failed"] == 0


def test_a_shared_rule_tested_under_one_payer_is_not_reached_for_another_and_names_where_it_is(shipped):
    cigna = _payer(shipped, "cigna")
    row = next(r for r in cigna["uncovered"] if r["rule"] == "ncci.ptp-bundled")
    assert "commercial-default" in row["exercised_under"] and "cigna" not in row["exercised_under"]
    assert "ncci.ptp-bundled" in [r["rule"] for r in _payer(shipped, "commercial-default")["covered"]]
    assert shipped["coverage"]["reached_by_no_case"] == []
    counts = shipped["coverage"]
    assert counts["covered"] + counts["uncovered"] == counts["rules"] == sum(p["rules"] for p in counts["payers"])


def test_a_rule_whose_cases_are_removed_is_listed_uncovered(tmp_path):
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES_DIR, policies)
    path = policies / "rulesets" / "cigna-mm0139.cases.yaml"
    data = yaml.safe_load(path.read_text())
    data["cases"] = [c for c in data["cases"] if RULE not in c.get("violates", [])]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    report = _coverage(policies)
    cigna = _payer(report, "cigna")
    assert RULE in [r["rule"] for r in cigna["uncovered"]]
    assert RULE not in [r["rule"] for r in cigna["covered"]]
    assert RULE in report["coverage"]["reached_by_no_case"]
    text = _coverage(policies, "text")
    assert f"  not reached: {RULE} (MM-0139)\n" in text
    assert f"rules no case exercises under any payer: {RULE}\n" in text


def _f(rule, severity="error", **kw):
    return {"rule": rule, "severity": severity, **kw}


def test_the_deciding_rules_are_the_findings_that_make_the_outcome():
    findings = [_f("a.fixed", corrected=True), _f("a.kept", corrected=False), _f("a.review", "warning", review=True),
                _f("a.info", "info"), _f("vocabulary.unknown-muscle", "warning"), _f("data.coverage", "warning")]
    assert deciding_rules({"outcome": "deny", "findings": findings}) == {"a.kept"}
    assert deciding_rules({"outcome": "review", "findings": findings[2:]}) == {"a.review"}
    assert deciding_rules({"outcome": "modify", "findings": [findings[0], findings[3]]}) == {"a.fixed"}
    assert deciding_rules({"outcome": "allow", "findings": findings[3:]}) == set()
