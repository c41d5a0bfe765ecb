"""The resident engine (solver.resident) answers byte for byte as the reference engine (solver.engine.Engine):
the shipped cases, boundary dates and day thresholds, and a corpus of varied encounters with variants that
re-solve warm programs (seed fixed). A difference fails with the first differing encounter and a diff."""
from __future__ import annotations

import re
import shutil

import pytest

import solver.resident.shape as shape_module
from solver.engine import Engine
from solver.paths import KB_DIR, POLICIES_DIR
from solver.resident import ResidentEngine
from solver.resident.shape import UNREAD_PREDICATES
from resident_corpus import boundary_encounters, canonical, first_difference, shipped_cases, varied_corpus

SEED = 20260101
VARIED_BASE, VARIANTS = 200, 9  # 2,000 encounters: about 200 programs built, the rest re-solved


@pytest.fixture(scope="module")
def engines():
    reference = Engine()
    # a budget of 100 programs (the default keeps a worker under 300 MB with 66): the varied corpus interleaves
    # about 200 shapes, and the test asks that many answers come from programs solved before
    return reference, ResidentEngine(reference=reference, cap_mb=300)


def test_the_resident_engine_answers_every_shipped_case_as_the_reference_does(engines):
    reference, resident = engines
    encounters = shipped_cases(reference.policies)
    assert len(encounters) > 100
    diff = first_difference(reference, resident, encounters)
    assert diff is None, diff


def test_the_resident_engine_answers_rule_and_release_boundaries_and_day_thresholds_as_the_reference_does(engines):
    reference, resident = engines
    encounters = boundary_encounters(reference.policies)
    assert len(encounters) > 150 and any(e.id.startswith("gap-") for e in encounters)
    diff = first_difference(reference, resident, encounters)
    assert diff is None, diff


def test_the_resident_engine_answers_a_varied_corpus_and_its_variants_as_the_reference_does(engines):
    reference, resident = engines
    encounters = varied_corpus(VARIED_BASE, VARIANTS, SEED)
    assert len(encounters) > 1500
    before = dict(resident.stats())
    diff = first_difference(reference, resident, encounters)
    assert diff is None, diff
    after = resident.stats()
    answered = after["resident"] - before["resident"]
    # not vacuous: most answers come from resident programs, many from programs solved before
    assert answered > 0.8 * len(encounters), after
    assert after["hits"] - before["hits"] > 0.5 * len(encounters), after
    said = [m for prog in resident.cache._programs.values() for m in prog.messages]
    assert not said, said[:5]  # a shape program grounds without a clingo warning, as the knowledge base does


def test_the_differential_catches_a_resident_engine_whose_day_threshold_is_one_day_off(engines, monkeypatch):
    reference, _ = engines
    real = shape_module.encounter_facts

    def off_by_one(pol, enc, key, raw=False):  # "gap below N days" computed as "below N-1 days", resident only
        ef = real(pol, enc, key, raw=raw)
        gaps = {args[0]: args[1] for name, args in ef.symbols if name == "prior_session_gap"}
        ef.symbols = [(name, args) for name, args in ef.symbols
                      if not (name == "prior_gap_below" and gaps[args[0]] == args[1] - 1)]
        return ef

    monkeypatch.setattr(shape_module, "encounter_facts", off_by_one)
    faulty = ResidentEngine(reference=reference)
    diff = first_difference(reference, faulty, [e for e in boundary_encounters(reference.policies) if e.id.startswith("gap-")])
    assert diff is not None and "gap-" in diff and "earlier session" in diff


def test_no_family_reads_the_facts_the_resident_engine_leaves_out():
    for path in KB_DIR.rglob("*.lp"):
        if path.name == "vocabulary.lp" or path.parent.name == "search":
            continue  # the search programs (kb/search/) run on the reference engine (Engine.control)
        code = "\n".join(line.split("%")[0] for line in path.read_text(encoding="utf-8").splitlines())
        for name in UNREAD_PREDICATES:
            assert not re.search(rf"\b{name}\(", code), f"{path.name} reads {name}/N: the resident engine must hold it"


def test_an_encounter_past_the_largest_bucket_is_answered_by_the_reference_engine(engines):
    reference, resident = engines
    enc = shipped_cases(reference.policies)[0]
    many = enc.model_copy(update={"injections": [enc.injections[0]] * 13} if enc.injections else {"history": enc.history * 25})
    before = resident.fallbacks
    assert canonical(resident.check(many)) == canonical(reference.check(many))
    assert resident.fallbacks == before + 1


def test_a_policy_folder_changed_on_disk_is_never_answered_from_a_stale_program(tmp_path):
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES_DIR, policies)
    resident = ResidentEngine(policies_dir=policies)
    enc = next(e for e in shipped_cases(resident.policies) if e.payer == "medicare-cgs" and e.claim)
    first = resident.check(enc)
    assert resident.stats()["programs"] == 1
    ruleset = policies / "rulesets" / "medicare-national.yaml"
    ruleset.write_text(ruleset.read_text(encoding="utf-8") + "\n", encoding="utf-8")  # a change: size and time
    second = resident.check(enc)
    assert resident.stats()["rebuilds"] == 1
    assert canonical(second) == canonical(Engine(policies_dir=policies).check(enc))
    assert second["outcome"] == first["outcome"]


def test_the_resident_engine_keeps_the_reference_engines_public_surface(engines):
    reference, resident = engines
    enc = shipped_cases(reference.policies)[0]
    assert resident.policies is reference.policies
    assert resident.unknown_payer(enc) is None
    assert resident.facts_program(enc) == reference.facts_program(enc)
    what_if = resident.solve_assuming(enc, {"documentation": {"abn_on_file": not enc.documentation.abn_on_file}})
    changed = enc.model_copy(update={"documentation": enc.documentation.model_copy(
        update={"abn_on_file": not enc.documentation.abn_on_file})})
    assert canonical(what_if) == canonical(reference.check(changed))
