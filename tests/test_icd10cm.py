"""ICD-10-CM on the date of service, from the real code set, with the dated changes that matter."""
import datetime as dt

import pytest

from conftest import encounter, rules
from solver.paths import KB_DIR, POLICIES_DIR
from solver.policy import load_policies

CS = load_policies(POLICIES_DIR, KB_DIR).codeset
D = dt.date.fromisoformat


@pytest.mark.parametrize("code,day,status", [
    ("M79.1", "2018-09-30", "billable"), ("M79.1", "2018-10-01", "header"),
    ("M79.12", "2018-09-30", "invalid"), ("M79.12", "2018-10-01", "billable"),
    ("M54.5", "2021-09-30", "billable"), ("M54.5", "2021-10-01", "header"),
    ("M54.50", "2021-09-30", "invalid"), ("M54.50", "2021-10-01", "billable"),
    ("M54.2", "2024-06-10", "billable"), ("G44.209", "2024-06-10", "billable"),
    ("G44.20", "2024-06-10", "header"), ("M79.99", "2024-06-10", "invalid"),
])
def test_status_on_the_date_of_service(code, day, status):
    assert CS.status(code, D(day)) == status


def test_the_code_set_is_the_real_one():
    from solver.icd10cm import index
    assert len(index()["codes"]) > 70000


def test_excludes1_comes_from_the_code_sets_own_notes():
    pairs = CS.excludes1_pairs(["M79.12", "M79.7"])
    assert ("M79.12", "M79.7") in {(a, b) for a, b, _ in pairs}
    assert not CS.excludes1_pairs(["M79.12", "M54.2"])


def test_a_header_code_on_a_claim_is_corrected_to_the_documented_leaf(engine):
    r = engine.check(encounter(payer="commercial-default", date_of_service="2022-01-10", diagnoses=["M54.5", "M54.50"],
                               injections=[{"muscle": "quadratus lumborum", "side": "left", "substance": "lidocaine", "dose": "1 mL"}],
                               claim=[{"code": "20552", "diagnoses": ["M54.5"]}]))
    assert "icd10.billable-on-date" in rules(r)
    assert r["claim"][0]["diagnoses"] == ["M54.50"] and r["outcome"] == "modify"
