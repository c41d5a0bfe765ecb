"""The Python API: the command line's result objects, for a program."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from solver.api import check, check_many, findings
from solver.encounter import Encounter
from solver.errors import InputError

EXAMPLES = json.loads(json.dumps(yaml.safe_load((Path(__file__).resolve().parent.parent / "examples" / "encounters.yaml").read_text()), default=str))


def test_check_answers_one_encounter_with_the_corrected_claim_and_findings():
    r = check(EXAMPLES[0])
    assert r["outcome"] == "modify" and r["claim"][0]["code"] == "20553"
    assert "cpt.tpi-code-by-muscle-count" in [f["rule"] for f in findings(r)]


def test_check_takes_an_encounter_model_and_what_if_payer_and_date():
    r = check(Encounter.model_validate(EXAMPLES[0]), payer="cigna", date="2024-01-02")
    assert r["payer"] == "cigna" and r["date_of_service"] == "2024-01-02"


def test_check_many_answers_in_order_and_a_bad_record_is_an_error_result_naming_its_field():
    results = check_many([EXAMPLES[0], {"id": "x", "payer": "medicare-cgs"}, EXAMPLES[2]])
    assert [r["outcome"] for r in results] == ["modify", "error", "deny"]
    assert results[1]["errors"][0]["field"] == "date_of_service" and findings(results[1]) == []


@pytest.mark.parametrize("one", [EXAMPLES[0], "enc-0001"])
def test_check_many_given_one_encounter_says_to_use_check_instead_of_checking_its_keys(one):
    with pytest.raises(TypeError, match="use check"):
        check_many(one)


def test_an_unknown_what_if_payer_or_a_bad_date_is_an_input_error():
    with pytest.raises(InputError, match="unknown payer"):
        check(EXAMPLES[0], payer="nobody")
    with pytest.raises(InputError, match="not a date"):
        check(EXAMPLES[0], date="2024-02-30")
