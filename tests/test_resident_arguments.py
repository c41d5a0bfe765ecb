"""The resident engine given what is not an Encounter: a TypeError saying what to give, never an AttributeError."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from solver.encounter import Encounter
from solver.engine import Engine
from solver.errors import InputError
from solver.resident import ResidentEngine

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = json.loads(json.dumps(yaml.safe_load((ROOT / "examples" / "encounters.yaml").read_text()), default=str))


@pytest.fixture(scope="module")
def engine():
    return ResidentEngine(reference=Engine(), watch=False)


def test_check_given_a_dict_is_a_type_error_saying_to_validate_it_or_use_the_python_api(engine):
    with pytest.raises(TypeError) as err:
        engine.check(EXAMPLES[0])
    says = str(err.value)
    assert "ResidentEngine.check takes an Encounter, not a dict" in says
    assert "solver.encounter.Encounter.model_validate(d)" in says and "solver.api.check" in says
    result = engine.check(Encounter.model_validate(EXAMPLES[0]))  # what the message says to do works
    assert result["outcome"] == "modify" and result["claim"][0]["code"] == "20553"


def test_check_many_and_check_variants_name_the_item_that_is_not_an_encounter(engine):
    one = Encounter.model_validate(EXAMPLES[0])
    for method in (engine.check_many, engine.check_variants):
        with pytest.raises(TypeError, match=r"item 2 of the list is a dict, not an Encounter.*solver\.api\.check_many"):
            method([one, EXAMPLES[1]])
        with pytest.raises(TypeError, match=r"takes a list of Encounters, not one dict; use check\(\) for one"):
            method(EXAMPLES[0])
        with pytest.raises(TypeError, match=r"takes a list of Encounters, not one Encounter"):
            method(one)
    assert [r["outcome"] for r in engine.check_many((one, Encounter.model_validate(EXAMPLES[2])))] == ["modify", "deny"]


def test_solve_assuming_given_a_dict_or_changes_that_are_no_mapping_is_a_type_error(engine):
    with pytest.raises(TypeError, match="ResidentEngine.solve_assuming takes an Encounter, not a dict"):
        engine.solve_assuming(EXAMPLES[0], {"documentation": {"abn_on_file": True}})
    with pytest.raises(TypeError, match="changes as a mapping of contract fields"):
        engine.solve_assuming(Encounter.model_validate(EXAMPLES[0]), [("documentation", {})])


def test_a_change_the_contract_does_not_take_is_an_input_error_naming_its_field(engine):
    with pytest.raises(InputError) as err:
        engine.solve_assuming(Encounter.model_validate(EXAMPLES[0]), {"date_of_service": "2024-02-30"})
    (problem,) = err.value.problems
    assert problem.field == "date_of_service" and problem.record == "encounter enc-0001"


def test_todays_engine_given_a_dict_says_what_to_give_as_the_resident_engine_does(engine):
    ref = engine.reference
    with pytest.raises(TypeError, match=r"Engine\.check takes an Encounter, not a dict.*model_validate\(d\)"):
        ref.check(EXAMPLES[0])
    with pytest.raises(TypeError, match=r"Engine\.check_many: item 1 of the list is a dict, not an Encounter"):
        ref.check_many([EXAMPLES[0]])
    with pytest.raises(TypeError, match=r"Engine\.check_many takes a list of Encounters, not one Encounter"):
        ref.check_many(Encounter.model_validate(EXAMPLES[0]))
