"""payerkb explain: why not a code, what is missing, which single facts flip the answer. Every answer is checked
against real checks of the encounter with the facts applied."""
import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from solver.explore.assumable import Change
from solver.casetest import find_case_files, load_cases
from solver.explore.contract_paths import apply_changes
from solver.explore.missing import missing
from solver.paths import POLICIES_DIR
from solver.explore.sensitivity import sensitivity
from solver.explore.why_not import why_not
from tests.conftest import encounter, inj

ROOT = Path(__file__).resolve().parent.parent
CASES = {c.name: enc for path in find_case_files(POLICIES_DIR) for c, enc in load_cases(path)}


def _applied(engine, enc, facts):
    return engine.check(apply_changes(enc, [Change(f["path"], f["value"], op=f.get("op", "set")).as_change() for f in facts]))


def _assert_minimal_and_reaching(engine, enc, answer, reached):
    assert answer["alternatives"], answer["searched"]
    for alt in answer["alternatives"]:
        assert reached(_applied(engine, enc, alt["facts"])), alt
        for k in range(len(alt["facts"])):
            for subset in itertools.combinations(alt["facts"], k):
                assert not reached(_applied(engine, enc, list(subset))), (alt, subset)


def _allow(result):
    return result["outcome"] == "allow"


def test_missing_finds_the_failed_conservative_therapy_and_nothing_smaller_reaches_allow(engine):
    enc = CASES["no documented failed conservative therapy"]
    answer = missing(engine, enc)
    assert answer["baseline"]["outcome"] == "deny"
    assert [[f["path"] for f in a["facts"]] for a in answer["alternatives"]] == [["documentation.conservative_therapy.failed"]]
    alt = answer["alternatives"][0]
    assert alt["facts"][0]["value"] is True and alt["outcome"] == "allow"
    assert "commercial.exam-and-therapy" in [r["rule"] for r in alt["rules"]] and all(r["citations"] for r in alt["rules"])
    _assert_minimal_and_reaching(engine, enc, answer, _allow)


def test_missing_finds_the_trigger_points_on_exam_and_names_both_rules_it_satisfies(engine):
    enc = CASES["no trigger point on exam is not covered"]
    answer = missing(engine, enc)
    assert [[f["path"] for f in a["facts"]] for a in answer["alternatives"]] == [["documentation.trigger_points_on_exam"]]
    assert {"lcd.tpi-initial-criteria", "lcd.trigger-points-documented"} <= {r["rule"] for r in answer["alternatives"][0]["rules"]}
    _assert_minimal_and_reaching(engine, enc, answer, _allow)


def test_missing_names_a_muscle_in_place_of_a_region_word(engine):
    enc = CASES["paraspinals name no muscle and are not counted"]
    unnamed = [i for i, x in enumerate(enc.injections) if not engine.policies.vocabulary.match(x.muscle).muscle]
    answer = missing(engine, enc)
    for alt in answer["alternatives"]:
        assert [f["path"] for f in alt["facts"]] == [f"injections[{unnamed[0]}].muscle"]
        assert engine.policies.vocabulary.match(alt["facts"][0]["value"]).muscle
        assert "cpt.tpi-muscle-not-named" in [r["rule"] for r in alt["rules"]]
    _assert_minimal_and_reaching(engine, enc, answer, _allow)


def test_missing_an_abn_makes_the_ga_coding_valid_for_a_service_medicare_does_not_cover(engine):
    enc = CASES["dry needling is not covered by Medicare, GZ without an ABN"]
    answer = missing(engine, enc, target="20560-GA")
    assert answer["target"] == {"code": "20560", "modifiers": ["GA"]}
    assert [[(f["path"], f["value"]) for f in a["facts"]] for a in answer["alternatives"]] == [[("documentation.abn_on_file", True)]]
    assert answer["alternatives"][0]["claim"][0]["modifiers"] == ["GA"]
    carries = lambda r: any(line["code"] == "20560" and line["modifiers"] == ["GA"] for line in r["claim"])  # noqa: E731
    _assert_minimal_and_reaching(engine, enc, answer, carries)


def test_without_change_service_no_service_fact_is_assumed_and_with_it_a_third_muscle_makes_20553_valid(engine):
    enc = encounter(injections=[inj("upper trapezius"), inj("rhomboid major")])
    plain = missing(engine, enc, target="20553")
    assert plain["alternatives"] == []
    assert not any(p.startswith(("injections[2]", "diagnoses[")) for p in plain["searched"]["assumable"])
    changed = missing(engine, enc, target="20553", change_service=True)
    assert changed["alternatives"]
    for alt in changed["alternatives"]:
        assert [f["path"] for f in alt["facts"]] == ["injections[2]"] and alt["claim"][0]["code"] == "20553"
        assert alt["facts"][0]["value"]["muscle"] not in ("trapezius", "rhomboid major")


def test_when_allow_is_unreachable_the_answer_says_so_and_gives_the_nearest_outcome(engine):
    enc = CASES["Medicare does not take modifier 50 on 20552 (bilateral indicator 0)"]
    answer = missing(engine, enc)
    assert answer["alternatives"] == [] and answer["reachable"] is False
    assert any("allow is not reachable" in n for n in answer["searched"]["notes"])
    assert answer["nearest"]["target"] == {"outcome": "modify"}
    assert all(a["outcome"] == "modify" for a in answer["nearest"]["alternatives"]) and answer["nearest"]["alternatives"]


def test_why_not_20553_on_two_muscles_names_the_code_rule_and_the_third_muscle_not_documented(engine):
    enc = encounter(injections=[inj("upper trapezius"), inj("rhomboid major")])
    answer = why_not(engine, enc, "20553")
    assert answer["valid"] is False and answer["claim"][0]["code"] == "20553"
    broken = {f["rule"]: f for f in answer["broken"]}
    assert "cpt.tpi-code-by-muscle-count" in broken
    assert "no third named muscle is documented (20553 is for 3 or more)" in broken["cpt.tpi-code-by-muscle-count"]["evidence"]
    assert broken["cpt.tpi-code-by-muscle-count"]["citations"]
    assert answer["as_submitted"]["outcome"] == "modify" and answer["as_submitted"]["claim"][0]["code"] == "20552"


def test_why_not_20552_on_three_muscles_says_how_many_are_documented(engine):
    enc = encounter(injections=[inj("upper trapezius"), inj("rhomboid major"), inj("levator scapulae")])
    answer = why_not(engine, enc, "20552")
    f = {f["rule"]: f for f in answer["broken"]}["cpt.tpi-code-by-muscle-count"]
    assert "3 named muscles are documented (20552 is for at most 2)" in f["evidence"]


def test_why_not_a_valid_code_says_it_is_valid(engine):
    enc = encounter(injections=[inj("upper trapezius"), inj("rhomboid major")])
    answer = why_not(engine, enc, "20552")
    assert answer["valid"] is True and answer["broken"] == [] and answer["claim"][0]["code"] == "20552"


def test_sensitivity_finds_that_removing_any_muscle_of_three_changes_the_code(engine):
    enc = encounter(injections=[inj("upper trapezius"), inj("rhomboid major"), inj("levator scapulae")])
    answer = sensitivity(engine, enc)
    assert answer["baseline"]["claim"][0]["code"] == "20553"
    by_path = {f["facts"][0]["path"]: f for f in answer["flips"]}
    for i in range(3):
        flip = by_path[f"injections[{i}]"]
        assert flip["facts"][0]["op"] == "remove" and flip["claim"][0]["code"] == "20552"
        assert "cpt.tpi-code-by-muscle-count" in [r["rule"] for r in flip["rules"]]
    assert by_path["documentation.trigger_points_on_exam"]["outcome"] == "deny"
    for flip in answer["flips"]:  # each flip is a real flip
        result = _applied(engine, enc, flip["facts"])
        assert (result["outcome"], [x["code"] for x in result["claim"]]) != ("allow", ["20553"])


CASE_NAMES = sorted(CASES)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(CASE_NAMES))
def test_for_any_shipped_case_each_missing_alternative_applied_and_checked_reaches_its_target(engine, name):
    enc = CASES[name]
    answer = missing(engine, enc)
    for alt in answer["alternatives"]:
        assert _applied(engine, enc, alt["facts"])["outcome"] == "allow"
    for alt in (answer.get("nearest") or {}).get("alternatives", []):
        assert _applied(engine, enc, alt["facts"])["outcome"] == "modify"
    for alt in answer["alternatives"]:  # assumed by default: documentation only, never the service
        assert not any(f["path"].startswith("diagnoses[") for f in alt["facts"])


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "solver", "explain", *args], cwd=ROOT, capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_the_command_answers_in_json_and_text_and_bad_input_is_exit_2_naming_the_option():
    out = _cli("examples/encounters.yaml", "--id", "enc-0002", "--why-not", "20553", "--format", "json")
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert set(answer) >= {"encounter", "asked", "claim", "outcome", "broken"}
    text = _cli("examples/encounters.yaml", "--id", "enc-0003", "--missing")
    assert text.returncode == 0 and "what is missing for allow" in text.stdout
    bad = _cli("examples/encounters.yaml", "--id", "enc-0002", "--why-not", "2055")
    assert bad.returncode == 2 and "--why-not" in bad.stderr and "Traceback" not in bad.stderr
    two = _cli("examples/encounters.yaml", "--id", "enc-0002", "--missing", "--sensitivity")
    assert two.returncode == 2 and "exactly one" in two.stderr
    many = _cli("examples/encounters.yaml", "--missing")
    assert many.returncode == 2 and "--id" in many.stderr


def test_the_search_programs_keep_clingo_silent_even_when_nothing_may_be_assumed():
    from solver.engine import Engine
    fresh = Engine()
    doc = dict(encounter().documentation.model_dump(mode="json"), abn_on_file=True,
               prior_relief={"percent": 60, "weeks": 8, "same_scale": True, "dated": True})
    clean = encounter(documentation=doc)  # allow as it is, and nothing left that may be assumed
    assert missing(fresh, clean)["searched"]["assumable"] == []
    for enc in (clean, CASES["no documented failed conservative therapy"], CASES["dry needling is excluded"]):
        missing(fresh, enc)
        missing(fresh, enc, change_service=True)
        sensitivity(fresh, enc)
        if enc.injections and enc is not CASES["dry needling is excluded"]:
            why_not(fresh, enc, "20553")
    assert fresh.messages == []


def test_a_bad_assumable_file_is_a_policy_error_naming_the_entry_and_field(tmp_path):
    from solver.explore.assumable import spec_for
    from solver.errors import PolicyError
    (tmp_path / "assumable.yaml").write_text("documentation:\n  - {path: documentation.abn_on_file, cost: 0}\n")
    with pytest.raises(PolicyError) as err:
        spec_for(tmp_path)
    fields = {p.field for p in err.value.problems}
    assert {"documentation.0.reading", "documentation.0", "documentation.0.cost"} <= fields


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(CASE_NAMES))
def test_for_any_shipped_case_each_flip_applied_from_its_json_changes_the_outcome_or_the_code(engine, name):
    enc = CASES[name]
    answer = json.loads(json.dumps(sensitivity(engine, enc)))  # as a program reads it
    before = (answer["baseline"]["outcome"], sorted(x["code"] for x in answer["baseline"]["claim"]))
    for flip in answer["flips"]:
        assert len(flip["facts"]) == 1 and flip["rules"], flip
        result = _applied(engine, enc, flip["facts"])
        assert (result["outcome"], sorted(x["code"] for x in result["claim"])) != before
        assert (result["outcome"], result["claim"]) == (flip["outcome"], flip["claim"])


def test_why_not_on_a_service_that_names_no_muscle_says_no_claim_can_carry_the_code_and_names_the_rule(engine):
    answer = why_not(engine, CASES['only "upper back" documented supports no TPI code, and none is recommended'], "20552")
    assert answer["valid"] is False and answer["claim"] == []
    assert any("no claim can carry 20552" in n for n in answer["notes"])
    f = {f["rule"]: f for f in answer["broken"]}["cpt.tpi-no-named-muscle"]
    assert f["evidence"] == ["injection 1 (upper back) names no muscle"]


def test_why_not_an_e_m_without_its_modifier_25_names_the_modifier_rule(engine):
    answer = why_not(engine, CASES["a TPI, a distinct knee injection with XS and a separately identifiable E/M with 25"], "99214")
    assert answer["valid"] is False
    assert "ncci.em-modifier-25-required" in [f["rule"] for f in answer["broken"]]


def test_an_unknown_key_or_a_second_value_in_the_assumable_file_is_named_with_what_to_do(tmp_path):
    from solver.explore.assumable import spec_for
    from solver.errors import PolicyError
    (tmp_path / "assumable.yaml").write_text(
        "documentation:\n  - {path: documentation.abn_on_file, value: true, from_param: min_weeks, reading: r}\n"
        "injections:\n  - {field: muscle, when: vague, reading: r}\nservise: []\n")
    with pytest.raises(PolicyError) as err:
        spec_for(tmp_path)
    by_field = {p.field: p.message for p in err.value.problems}
    assert "exactly one of value" in by_field["documentation.0"]
    assert "injections.0.when" in by_field and "servise" in by_field


def test_an_edited_assumable_file_is_read_again(tmp_path):
    import os

    from solver.explore.assumable import spec_for
    f = tmp_path / "assumable.yaml"
    f.write_text("documentation:\n  - {path: documentation.abn_on_file, value: true, reading: an ABN}\n")
    assert [d["reading"] for d in spec_for(tmp_path)["documentation"]] == ["an ABN"]
    f.write_text("documentation:\n  - {path: documentation.abn_on_file, value: true, reading: an ABN on file}\n")
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))
    assert [d["reading"] for d in spec_for(tmp_path)["documentation"]] == ["an ABN on file"]
