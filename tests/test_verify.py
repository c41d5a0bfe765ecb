"""payerkb verify on seeded defects (in a copy of the shipped policies) and on the shipped policies: the findings
name the seeded rules, and every witness behaves under a real check as verify says."""
import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BASE
from solver.encounter import Encounter
from solver.engine import Engine
from solver.paths import KB_DIR, POLICIES_DIR
from solver.verify.analysis import verify

DAY = dt.date(2024, 6, 10)
SEEDED = """
  - id: seeded.no-modifier-50-on-tpi
    family: modifier_not_allowed
    title: Seeded - modifier 50 never on a TPI code (against commercial.bilateral-modifier-50)
    category: modifier
    severity: error
    confidence: low
    params: {modifier_group: bilateral, code_group: tpi}
    message: "Seeded conflict: {modifiers} on {code}."
    citations: [pmr-guidance]
  - id: seeded.five-regions
    family: regions_per_session
    title: Seeded - at most 5 regions a session (the space injects at most 3 muscles)
    category: coverage
    severity: error
    confidence: low
    params: {slot: tpi, max_regions: 5}
    message: "Seeded dead rule."
    citations: [pmr-guidance]
  - id: seeded.exam-only
    family: documentation_required
    title: Seeded - trigger points on exam (commercial.exam-and-therapy asks for it and more)
    category: documentation
    severity: error
    confidence: low
    params: {slot: tpi, applies_to: any, all_of: [trigger_points_on_exam]}
    message: "Seeded subsumed rule."
    citations: [pmr-guidance]
"""


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    root = tmp_path_factory.mktemp("seeded") / "policies"
    shutil.copytree(POLICIES_DIR, root)
    path = root / "rulesets" / "commercial-default.yaml"
    path.write_text(path.read_text(encoding="utf-8").rstrip() + "\n" + SEEDED, encoding="utf-8")
    palmetto = root / "payers" / "medicare-palmetto.yaml"  # a hole of two days before the uniform LCD
    palmetto.write_text(palmetto.read_text(encoding="utf-8").replace("from: 2024-04-01", "from: 2024-04-03"), encoding="utf-8")
    engine = Engine(policies_dir=root, kb_dir=KB_DIR)
    return engine, verify(engine, "commercial-default", DAY)


def _check(engine, enc: dict) -> dict:
    return engine.check(Encounter.model_validate(enc))


def _rules(result: dict) -> set[str]:
    return {f["rule"] for f in result["findings"]}


def test_a_rule_whose_condition_the_space_never_meets_is_dead(seeded):
    _engine, report = seeded
    dead = {f["rule"]: f for f in report["dead"]}
    assert "seeded.five-regions" in dead
    assert dead["seeded.five-regions"]["citations"][0]["title"].startswith("AAPC Physical Medicine")
    assert "commercial.bilateral-modifier-50" not in dead and "seeded.exam-only" not in dead


def test_a_narrower_copy_of_a_rule_is_subsumed_and_its_witness_fires_both(seeded):
    engine, report = seeded
    found = [f for f in report["subsumed"] if f["rule"] == "seeded.exam-only"]
    assert "commercial.exam-and-therapy" in {f["by"]["rule"] for f in found}
    witness = next(f["witness"] for f in found if f["by"]["rule"] == "commercial.exam-and-therapy")
    assert {"seeded.exam-only", "commercial.exam-and-therapy"} <= _rules(_check(engine, witness["encounter"]))
    # and the wider rule is not subsumed by the narrower one: the check confirms an encounter with one only
    assert ("commercial.exam-and-therapy", "seeded.exam-only") not in {(f["rule"], f["by"]["rule"]) for f in report["subsumed"]}


def test_a_seeded_conflict_is_found_and_its_witness_keeps_a_coding_error_under_check(seeded):
    engine, report = seeded
    pairs = [{r["rule"] for r in c["rules"]} for c in report["conflicts"]]
    assert {"commercial.bilateral-modifier-50", "seeded.no-modifier-50-on-tpi"} & set().union(*pairs)
    conflict = next(c for c in report["conflicts"]
                    if {"commercial.bilateral-modifier-50", "seeded.no-modifier-50-on-tpi"} & {r["rule"] for r in c["rules"]})
    result = _check(engine, conflict["witness"]["encounter"])
    errors = [f for f in result["findings"] if f["severity"] == "error" and f["category"] == "modifier"]
    assert errors and result["claim"] and result["claim"][0]["code"] in ("20552", "20553")
    sides = {(i["muscle"], i.get("side")) for i in conflict["witness"]["encounter"]["injections"]}
    assert {s for _m, s in sides} >= {"left", "right"}  # the same muscle on both sides: 50 wanted and forbidden


def test_the_shipped_policies_have_no_conflict_for_commercial_default(engine):
    report = verify(engine, "commercial-default", DAY)
    assert report["conflicts"] == [] and report["unconfirmed"] == []
    assert report["searched"]["conflict_proposals"] > 0


@pytest.mark.parametrize("payer", sorted(Engine().policies.payers))
def test_verify_runs_on_every_shipped_payer_and_its_witnesses_behave_as_claimed(engine, payer):
    report = verify(engine, payer, DAY)
    assert report["unconfirmed"] == []
    for f in report["subsumed"]:
        assert {f["rule"], f["by"]["rule"]} <= set(f["witness"]["findings"])
    for f in report["masked"]:
        assert f["rule"] in f["witness"]["findings"]
    assert {f["rule"] for f in report["dead"]} <= {i.id for i in engine.policies.in_force(payer, DAY)}
    for gap in report["gaps"]:
        result = _check(engine, gap["witness"]["encounter"])
        if gap["kind"] == "no_session_limit":  # the witness's earlier sessions raise no frequency finding
            assert gap["witness"]["encounter"]["history"] and not any(f["category"] == "frequency" for f in result["findings"])
        if gap["kind"] == "no_diagnosis_rule":
            assert not any(f["category"] == "diagnosis" for f in result["findings"])
    if payer == "cigna":  # MM0139 sets a 21-day interval and no cap of sessions
        assert ("no_session_limit", "tpi") in {(g["kind"], g.get("slot")) for g in report["gaps"]}


def test_days_between_a_payers_dated_versions_with_none_in_force_are_a_gap(seeded):
    from solver.verify.gaps import date_gaps
    engine, _report = seeded
    found = date_gaps(engine, "medicare-palmetto")
    assert [(g["from"], g["through"]) for g in found] == [("2024-04-01", "2024-04-02")]
    assert "L39671" not in found[0]["witness"]["versions"]
    assert date_gaps(Engine(), "medicare-palmetto") == []


@pytest.mark.parametrize("day, in_gap", [("2024-03-31", False), ("2024-04-01", True), ("2024-04-02", True), ("2024-04-03", False)])
def test_a_check_on_a_day_no_dated_version_covers_is_sent_to_review_and_says_why(seeded, day, in_gap):
    engine, _report = seeded
    enc = dict(BASE, id="gap-day", payer="medicare-palmetto", date_of_service=day)
    result = _check(engine, enc)
    gap = [f for f in result["findings"] if f["rule"] == "policy.no-version-in-force"]
    assert bool(gap) is in_gap
    if in_gap:
        assert result["outcome"] == "review" and gap[0]["review"] is True
        assert "none from 2024-04-01 through 2024-04-02" in gap[0]["message"]
    from solver.resident import ResidentEngine
    assert ResidentEngine(reference=engine).check(Encounter.model_validate(enc)) == result


def test_a_rule_no_case_speaks_of_gets_case_stubs_whose_encounters_behave_as_stated(seeded):
    engine, report = seeded
    stubs = {(c["rule"], c["kind"]): c["case"] for c in report["generated_cases"]}
    violates, passes = stubs[("seeded.exam-only", "violates")], stubs[("seeded.exam-only", "passes")]
    for case, fires in ((violates, True), (passes, False)):
        enc = {"id": "stub", **case["encounter"]}
        assert ("seeded.exam-only" in _rules(_check(engine, enc))) is fires


def test_the_text_report_prints_the_case_stubs_as_yaml_one_can_paste(seeded, capsys):
    import yaml

    from solver.verify.text import print_report
    _engine, report = seeded
    print_report(report)
    text = capsys.readouterr().out
    assert "\\x0a" not in text
    block = text.split("Generated cases:", 1)[1].split("\n", 1)[1]
    assert yaml.safe_load(block) == [c["case"] for c in report["generated_cases"]]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "solver", *map(str, args)], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent)


def test_the_verify_command_answers_json_with_witnesses_and_rejects_an_unknown_payer_and_a_bad_space(tmp_path):
    r = _cli("verify", "cigna", "--date", "2024-06-10", "--format", "json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["payer"] == "cigna" and out["rules"] > 20 and "timings" in out
    for f in out["subsumed"]:
        assert f["citations"] and f["witness"]["encounter"]["payer"] == "cigna"
    r = _cli("verify", "nobody", "--date", "2024-06-10")
    assert r.returncode == 2 and "unknown payer 'nobody'" in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "space.yaml"
    bad.write_text("version: 1\ninjections: {max: 0}\n", encoding="utf-8")
    r = _cli("verify", "cigna", "--date", "2024-06-10", "--space", bad)
    assert r.returncode == 2 and f"{bad}: injections.max" in r.stderr and "Traceback" not in r.stderr
