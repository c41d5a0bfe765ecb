"""How a muscle injected on both sides counts for a code billed with modifier 50: the sources disagree (CPT-2
counts each side, modifier 50 makes the code describe one side), so it is a payer's parameter
(commercial.bilateral-muscle-count, counting: unset | each_side | one_side), and while unset a claim whose code
differs by the two countings goes to review."""
import shutil

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import encounter, finding, inj, rules
from solver.engine import Engine
from solver.paths import POLICIES_DIR
from solver.resident import ResidentEngine

RULE = "commercial.bilateral-muscle-count"
COMMERCIAL = {"payer": "commercial-default", "diagnoses": ["M79.12"]}
BOTH_TRAPEZIUS = [inj("trapezius", "left"), inj("trapezius", "right")]
BOTH_LEVATOR = [inj("levator scapulae", "left"), inj("levator scapulae", "right")]


def band(n: int) -> str | None:
    return None if n == 0 else "20552" if n <= 2 else "20553"


@pytest.fixture(scope="module")
def payer_engines(tmp_path_factory) -> dict[str, Engine]:
    """An engine whose commercial-default payer sets counting (each_side, one_side), and the shipped (unset)."""
    out = {"unset": Engine()}
    for counting in ("each_side", "one_side"):
        root = tmp_path_factory.mktemp(counting) / "policies"
        shutil.copytree(POLICIES_DIR, root)
        path = root / "payers" / "commercial-default.yaml"
        payer = yaml.safe_load(path.read_text())
        use = next(u for u in payer["uses"] if u["ruleset"] == "commercial-default")
        use["params"] = {RULE: {"counting": counting}}
        path.write_text(yaml.safe_dump(payer, sort_keys=False))
        out[counting] = Engine(policies_dir=root)
    return out


def test_unset_counting_sends_a_claim_whose_code_depends_on_it_to_review(engine):
    r = engine.check(encounter(**COMMERCIAL, injections=BOTH_TRAPEZIUS + BOTH_LEVATOR,
                               claim=[{"code": "20553", "modifiers": ["50"], "diagnoses": ["M79.12"]}]))
    assert r["outcome"] == "review"
    f = finding(r, RULE)
    assert f["severity"] == "warning" and "each side gives 20553" in f["message"] and "one side" in f["message"]
    assert "20552" in f["message"] and "injected trapezius left" in f["evidence"]
    assert any("AAPC" in c["title"] for c in f["citations"])
    assert [(ln["code"], ln["modifiers"]) for ln in r["claim"]] == [("20553", ["50"])]  # each side, meanwhile


def test_a_code_finding_says_a_muscle_on_both_sides_counted_twice(engine):
    r = engine.check(encounter(**COMMERCIAL, injections=BOTH_TRAPEZIUS + [inj("levator scapulae", "left")],
                               claim=[{"code": "20552", "modifiers": ["50"], "diagnoses": ["M79.12"]}]))
    f = finding(r, "cpt.tpi-code-by-muscle-count")
    assert f["message"].startswith("3 distinct named muscle(s) were counted: report 20553, not 20552")
    assert "trapezius counts twice, right and left (CPT-2)" in f["evidence"]
    assert r["outcome"] == "review" and RULE in rules(r)


def test_bilateral_trapezius_alone_needs_no_decision(engine):
    r = engine.check(encounter(**COMMERCIAL, injections=BOTH_TRAPEZIUS,
                               claim=[{"code": "20552", "modifiers": ["50"], "diagnoses": ["M79.12"]}]))
    assert RULE not in rules(r) and r["outcome"] == "allow"


def test_one_side_counting_codes_a_bilateral_pair_of_muscles_20552_with_50(payer_engines):
    eng = payer_engines["one_side"]
    r = eng.check(encounter(**COMMERCIAL, injections=BOTH_TRAPEZIUS + BOTH_LEVATOR,
                            claim=[{"code": "20553", "modifiers": ["50"], "diagnoses": ["M79.12"]}]))
    assert r["outcome"] == "modify" and RULE not in rules(r)
    assert [(ln["code"], ln["modifiers"]) for ln in r["claim"]] == [("20552", ["50"])]
    f = finding(r, "cpt.tpi-code-by-muscle-count")
    assert f["message"].startswith("2 distinct named muscle(s) were counted: report 20552, not 20553")
    assert {"trapezius counts once, right and left: this payer's code with modifier 50 describes one side",
            "levator scapulae counts once, right and left: this payer's code with modifier 50 describes one side"} <= set(f["evidence"])
    ok = eng.check(encounter(**COMMERCIAL, injections=BOTH_TRAPEZIUS + BOTH_LEVATOR,
                             claim=[{"code": "20552", "modifiers": ["50"], "diagnoses": ["M79.12"]}]))
    assert ok["outcome"] == "allow"


def test_one_side_counting_leaves_a_one_sided_session_counted_as_cpt_says(payer_engines):
    three = [inj("trapezius", "left"), inj("levator scapulae", "left"), inj("rhomboid major", "left")]
    r = payer_engines["one_side"].check(encounter(**COMMERCIAL, injections=three,
                                                  claim=[{"code": "20552", "diagnoses": ["M79.12"]}]))
    assert [ln["code"] for ln in r["claim"]] == ["20553"]
    f = finding(r, "cpt.tpi-code-by-muscle-count")
    assert f["message"].startswith("3 distinct named muscle(s) were counted: report 20553")
    assert not any("counts once" in e or "counts twice" in e for e in f["evidence"])  # no muscle on both sides


def test_each_side_counting_is_cpt_2_without_review(payer_engines):
    r = payer_engines["each_side"].check(encounter(**COMMERCIAL, injections=BOTH_TRAPEZIUS + BOTH_LEVATOR,
                                                   claim=[{"code": "20553", "modifiers": ["50"], "diagnoses": ["M79.12"]}]))
    assert r["outcome"] == "allow" and RULE not in rules(r)


def test_the_resident_engine_answers_as_the_reference_for_each_counting(payer_engines):
    encs = [encounter(**COMMERCIAL, injections=inj_, claim=[{"code": "20552", "modifiers": ["50"], "diagnoses": ["M79.12"]}])
            for inj_ in (BOTH_TRAPEZIUS + BOTH_LEVATOR, BOTH_TRAPEZIUS + [inj("rhomboid major", "left")], BOTH_TRAPEZIUS)]
    for counting, eng in payer_engines.items():
        res = ResidentEngine(policies_dir=eng.policies_dir, reference=eng, watch=False)
        for enc in encs:
            assert res.check(enc) == eng.check(enc), counting


SIDES = st.sampled_from(["left", "right"])
MUSCLES = st.sampled_from(["trapezius", "levator scapulae", "rhomboid major", "infraspinatus", "gluteus medius"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(MUSCLES, SIDES), min_size=1, max_size=6))
def test_the_code_and_the_review_follow_the_two_countings(payer_engines, shots):
    """Each side: distinct (muscle, side); one side: distinct muscles, where some muscle is on both sides."""
    each, one = len(set(shots)), len({m for m, _ in shots})
    bilateral = any((m, "left") in shots and (m, "right") in shots for m, _ in shots)
    enc = encounter(**COMMERCIAL, injections=[inj(m, s) for m, s in shots],
                    claim=[{"code": "20552", "diagnoses": ["M79.12"]}])
    unset = payer_engines["unset"].check(enc)
    assert [ln["code"] for ln in unset["claim"]] == [band(each)]
    assert (RULE in rules(unset)) == (bilateral and band(each) != band(one))
    one_side = payer_engines["one_side"].check(enc)
    assert [ln["code"] for ln in one_side["claim"]] == [band(one if bilateral else each)]
    assert RULE not in rules(one_side)
