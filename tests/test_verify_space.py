"""The bounded encounter space of verify: the facts kb/search/space.lp derives from a model's picks are the facts
the real check derives from the decoded encounter (so a witness behaves under `payerkb check` as it did in the
search), and a bad space file is a clear error."""
import datetime as dt

import pytest

from solver.encounter import Encounter
from solver.errors import PolicyError
from solver.verify import space as sp

INPUTS = ("injection_slot", "injection_muscle", "injection_side", "injection_region", "injection_unnamed",
          "injection_documented", "injection_substance_class", "injection_guidance", "diagnosis", "diagnosis_status",
          "diagnosis_excludes1", "slot", "slot_code", "slot_units", "slot_distinct", "evaluation_separately_identifiable",
          "evaluation_new_patient", "documented", "prior_relief", "conservative_therapy_weeks", "prior_session",
          "prior_session_muscle", "prior_session_region", "claim_submitted", "claim_line", "claim_modifier",
          "claim_diagnosis", "claim_line_slot")


@pytest.mark.parametrize("payer", ["medicare-cgs", "evicore"])
def test_the_facts_of_random_encounters_of_the_space_are_the_facts_of_their_decoded_encounters(engine, payer):
    from solver.facts import encounter_facts
    sf = sp.space_facts(engine.policies, payer, dt.date(2024, 6, 10))
    for seed in range(6):
        ctl = sp.control(engine, sf, options=["--opt-mode=ignore", f"--seed={seed}", "--rand-freq=0.5", "--sign-def=rnd"])
        ctl.ground([("base", [])])
        got = []
        ctl.solve(on_model=lambda m: got.append(m.symbols(atoms=True)) or False)
        asp = {s for s in got[0] if s.name in INPUTS and s.arguments[0].number == 0}
        enc = Encounter.model_validate(sp.decode(got[0], sf))
        py = {s for s in encounter_facts(engine.policies, enc, 0).symbols if s.name in INPUTS}
        assert asp == py, (sp.decode(got[0], sf), asp ^ py)


def test_the_diagnoses_of_the_space_are_one_billable_code_per_class_of_the_rules_lists(engine):
    sf = sp.space_facts(engine.policies, "medicare-cgs", dt.date(2024, 6, 10))
    codes = {c: st for c, st, _ in sf.diagnoses}
    covered = [c for c, _, cl in sf.diagnoses if "lcd.tpi-covered-diagnoses" in cl]
    assert covered and all(codes[c] == "billable" for c in covered)
    assert "M79.7" in codes and codes["M79.1"] == "header"  # a code of no list, and a declared header
    assert {41, 42, 43, 364, 365, 366} <= set(sf.distances)  # 6 weeks and 12 months, -1, 0, +1 day


def test_a_space_file_with_an_unknown_muscle_is_an_error_naming_its_field(engine, tmp_path):
    text = sp.SPACE_FILE.read_text(encoding="utf-8").replace("head: [temporalis, masseter]", "head: [temporalis, jawbone]")
    bad = tmp_path / "space.yaml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as err:
        sp.load_space(bad, engine.policies)
    assert "injections.muscles.head.1" in str(err.value) and "jawbone" in str(err.value)


def test_a_lean_space_control_leaves_the_shared_engine_as_it_is_while_it_is_built(engine, monkeypatch):
    """Another thread checking with the same engine meanwhile must see the full knowledge base."""
    sf = sp.space_facts(engine.policies, "medicare-cgs", dt.date(2024, 6, 10))
    full = engine._parts
    seen = []
    real = type(engine).control

    def watching(self, *args, **kwargs):
        seen.append(self._parts is full)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(type(engine), "control", watching)
    lean = sp.control(engine, sf)
    monkeypatch.undo()
    assert seen == [True] and engine._parts is full
    assert sum(len(s) for _n, s, _d in sp._lean(full)) < sum(len(s) for _n, s, _d in full)
    lean.ground([("base", [])])
