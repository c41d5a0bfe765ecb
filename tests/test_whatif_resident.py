"""payerkb whatif on the resident engine: variants of the baseline's shape re-solve one program, and every answer
is byte for byte today's (one batch of the baseline and its variants)."""
from __future__ import annotations

import json

import pytest

from resident_corpus import shipped_cases, whatif_sets
from solver.engine import Engine
from solver.errors import InputError
from solver.explore.patching import parse_set, variants
from solver.explore.whatif import whatif
from solver.resident import ResidentEngine
from solver.resident.shape import encode


@pytest.fixture(scope="module")
def engines():
    ref = Engine()
    return ref, ResidentEngine(reference=ref, watch=False)


def case_variants(ref: Engine, enc):
    payers = sorted(ref.policies.payers)
    out = []
    for s in whatif_sets(enc, payers):
        try:
            out += variants(enc, [parse_set(s)])
        except InputError:  # a change the contract refuses for this encounter (e.g. a side on an unnamed muscle)
            continue
    return out


def test_every_shipped_case_and_its_variants_answer_as_todays_batch(engines):
    ref, res = engines
    cases = shipped_cases(ref.policies)
    assert len(cases) > 100
    resident_before = res.resident
    for enc in cases:
        found = case_variants(ref, enc)
        assert len(found) >= 6, enc.id
        try:
            today = whatif(ref, enc, found, resident=False)
        except InputError as exc:
            with pytest.raises(InputError) as got:
                whatif(res, enc, found)
            assert got.value.problems == exc.problems, enc.id
            continue
        assert json.dumps(whatif(res, enc, found)) == json.dumps(today), enc.id
    # the variants of the baseline's shape were answered by its program, not by the batch
    assert res.resident - resident_before > 3 * len(cases)


def test_a_command_line_engine_answers_in_one_batch_and_a_resident_engine_for_the_call_gives_the_same(engines):
    ref, _res = engines
    enc = shipped_cases(ref.policies)[0]
    found = case_variants(ref, enc)
    today = json.dumps(whatif(ref, enc, found, resident=False))
    assert json.dumps(whatif(ref, enc, found)) == today
    assert json.dumps(whatif(ref, enc, found, min_shared=2)) == today


def test_a_service_workers_engine_keeps_a_program_for_every_shape_of_the_variants(engines):
    ref, _res = engines
    res = ResidentEngine(reference=ref, watch=False)
    enc = next(e for e in shipped_cases(ref.policies) if e.injections and e.diagnoses)
    found = case_variants(ref, enc)
    whatif(res, enc, found)
    shapes = {c.shape for e in [enc, *(v.encounter for v in found)] if (c := encode(ref.policies, e))}
    assert res.cache.misses == len(shapes) >= 2  # the payer's variant too: another rule set, another program
    built = res.cache.misses
    whatif(res, enc, found)  # the next request: every variant re-solved on a warm program
    assert res.cache.misses == built and res.fallbacks == 0


def test_variants_of_one_shape_share_a_program_and_a_new_payer_falls_back_to_the_batch(engines):
    ref, _res = engines
    res = ResidentEngine(reference=ref, watch=False)
    enc = next(e for e in shipped_cases(ref.policies) if e.injections and e.diagnoses)
    found = case_variants(ref, enc)
    labels = [v.label for v in found]
    results = res.check_variants([enc] + [v.encounter for v in found])
    assert [r["outcome"] for r in results] == [r["outcome"] for r in ref.check_many([enc] + [v.encounter for v in found])]
    base = encode(ref.policies, enc).shape
    same = [lab for lab, v in zip(labels, found) if (c := encode(ref.policies, v.encounter)) and c.shape == base]
    assert {"documentation.abn_on_file=true", "documentation.abn_on_file=false"} & set(same)
    assert any(lab.startswith("injections[0].muscle=") for lab in same)
    assert not any(lab.startswith("payer=") for lab in same)  # another rule set: another shape
    assert res.resident + res.fallbacks == len(same) + 1  # the baseline and its shape's variants, on one program
    assert res.cache.misses == 1
