"""Bad input: a clear message naming file, record and field; exit 2; no traceback; the other records of
a batch are still answered. Text that looks like ASP is plain data."""
import copy
import json
import subprocess
import sys

import pytest

from conftest import BASE, encounter, inj
from solver.encounter import Encounter

PAYERKB = [sys.executable, "-m", "solver"]


def run(*args, stdin=None):
    return subprocess.run(PAYERKB + list(args), input=stdin, capture_output=True, text=True)


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_malformed_yaml_names_the_file_and_line(tmp_path):
    path = write(tmp_path, "bad.yaml", "id: x\npayer: [unclosed\n")
    r = run("check", path)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert f"{path}: (file): not valid YAML or JSON at line" in r.stderr


def test_an_unknown_key_is_rejected_with_its_field_path(tmp_path):
    raw = dict(BASE, injections=[{"muscle": "trapezius", "sde": "left"}])
    path = write(tmp_path, "e.json", json.dumps(raw))
    r = run("check", path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "record 1 (id t-1): injections.0.sde: unknown key; remove it or check its spelling" in r.stderr


def test_an_impossible_date_is_a_validation_error(tmp_path):
    path = write(tmp_path, "e.yaml", "id: x\npayer: medicare-cgs\ndate_of_service: 2024-02-30\n")
    r = run("check", path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "date_of_service:" in r.stderr and "record 1 (id x)" in r.stderr


def test_an_unknown_payer_is_named(tmp_path):
    path = write(tmp_path, "e.yaml", "id: x\npayer: acme-health\ndate_of_service: 2024-02-01\n")
    r = run("check", path)
    assert r.returncode == 2
    assert "payer: unknown payer 'acme-health'" in r.stderr and "medicare-cgs" in r.stderr


def test_a_code_that_is_not_icd10cm_is_rejected(tmp_path):
    path = write(tmp_path, "e.yaml", "id: x\npayer: medicare-cgs\ndate_of_service: 2024-02-01\ndiagnoses: ['724.2']\n")
    r = run("check", path)
    assert r.returncode == 2
    assert "diagnoses.0:" in r.stderr and "is not an ICD-10-CM code" in r.stderr


def test_a_well_formed_code_that_does_not_exist_is_a_diagnosis_finding(engine):
    r = engine.check(encounter(diagnoses=["M79.12", "M79.99"], claim=[{"code": "20552", "diagnoses": ["M79.99"]}]))
    f = next(f for f in r["findings"] if f["rule"] == "icd10.billable-on-date")
    assert f["line"] == 1 and "M79.99" in f["message"]


def test_one_bad_record_in_json_lines_keeps_the_others(tmp_path):
    good = dict(BASE, id="good-1")
    lines = [json.dumps(good), "{not json", json.dumps(dict(BASE, id="bad-2", payer="nobody")), json.dumps(dict(good, id="good-4"))]
    path = write(tmp_path, "batch.jsonl", "\n".join(lines) + "\n")
    r = run("check", path, "--format", "json")
    assert r.returncode == 2
    out = [json.loads(x) for x in r.stdout.splitlines()]
    assert [o["encounter"] for o in out] == ["good-1", f"{path}#2", "bad-2", "good-4"]
    assert [o["outcome"] for o in out] == ["allow", "error", "error", "allow"]
    assert "line 2: (record): not valid JSON" in r.stderr


ASP_TEXT = "x). :- a. #show b/0. %*"


def _clean_raw():
    raw = copy.deepcopy(BASE)
    raw.update(patient="P-1", other_procedures=[{"code": "96372", "site": "left deltoid", "units": 1}],
               history=[{"date": "2023-01-02", "code": "20552", "muscles": ["trapezius"]}],
               documentation=dict(BASE["documentation"], prior_relief={"percent": 60, "weeks": 8, "same_scale": True, "dated": True}),
               claim=[{"code": "20552", "diagnoses": ["M79.12"]}])
    return raw


def _set(raw, path, value):
    node = raw
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value(node[path[-1]]) if callable(value) else value


STRING_FIELDS = {
    "id": lambda v: ASP_TEXT, "patient": lambda v: ASP_TEXT,
    "injections.0.substance": lambda v: v + " " + ASP_TEXT, "injections.0.dose": lambda v: v + " " + ASP_TEXT,
    "other_procedures.0.site": lambda v: ASP_TEXT,
    "documentation.conservative_therapy.tried.0": lambda v: ASP_TEXT,
    "documentation.pain_scores.scale": lambda v: ASP_TEXT,
}


@pytest.mark.parametrize("field", sorted(STRING_FIELDS))
def test_asp_looking_text_in_a_string_field_is_plain_data_and_changes_no_answer(engine, field):
    clean = _clean_raw()
    hostile = _clean_raw()
    path = [int(p) if p.isdigit() else p for p in field.split(".")]
    _set(hostile, path, STRING_FIELDS[field])
    a, b = engine.check(Encounter.model_validate(clean)), engine.check(Encounter.model_validate(hostile))
    assert b["encounter"] == hostile["id"]
    assert (b["outcome"], b["claim"]) == (a["outcome"], a["claim"])
    assert [(f["rule"], f["line"], f["message"]) for f in b["findings"]] == [(f["rule"], f["line"], f["message"]) for f in a["findings"]]


def test_asp_looking_text_as_a_muscle_is_an_unnamed_muscle_and_nothing_more(engine):
    clean = _clean_raw()
    hostile = _clean_raw()
    hostile["injections"].append({"muscle": ASP_TEXT, "side": "left", "substance": "lidocaine", "dose": "1 mL"})
    hostile["history"][0]["muscles"] = ["trapezius", ASP_TEXT]
    a, b = engine.check(Encounter.model_validate(clean)), engine.check(Encounter.model_validate(hostile))
    assert b["claim"] == a["claim"]
    unnamed = next(f for f in b["findings"] if f["rule"] == "cpt.tpi-muscle-not-named")
    assert any(ASP_TEXT in e for e in unnamed["evidence"])
    assert {f["rule"] for f in b["findings"]} - {f["rule"] for f in a["findings"]} == {
        "cpt.tpi-muscle-not-named", "vocabulary.unknown-muscle", "lcd.tpi-injection-record"}


def test_asp_looking_text_survives_compile_as_a_string(engine, tmp_path):
    e = encounter(injections=[inj(ASP_TEXT)])
    text = engine.facts_program(e)
    assert 'injection_unnamed(0,1,"x). :- a. #show b/0. %*").' in text


def test_a_bad_side_is_rejected_with_its_path():
    from pydantic import ValidationError
    with pytest.raises(ValidationError) as err:
        Encounter.model_validate(dict(BASE, injections=[{"muscle": "trapezius", "side": "up"}]))
    assert err.value.errors()[0]["loc"] == ("injections", 0, "side")


@pytest.mark.parametrize("payer", ["medicare-cgs", "commercial-default"])
def test_sessions_dated_after_the_date_of_service_are_not_counted_and_the_answer_says_so(engine, payer):
    """history holds earlier sessions: one dated later (a typo, or a what-if's earlier date) counts for no
    frequency or interval rule, and each is a warning naming it. The resident engine answers the same."""
    from solver.resident import ResidentEngine
    none = dict(_clean_raw(), payer=payer, history=[])
    later = dict(none, history=[{"date": "9999-12-31", "code": "20552"}, {"date": "2024-06-11", "code": "20553"}] * 2)
    a, b = engine.check(Encounter.model_validate(none)), engine.check(Encounter.model_validate(later))
    assert (b["outcome"], b["claim"]) == (a["outcome"], a["claim"])
    extra = [f for f in b["findings"] if f not in a["findings"]]
    assert [(f["rule"], f["severity"]) for f in extra] == [("input.history-after-date-of-service", "warning")] * 4
    assert [f["message"].split(" is dated")[0] for f in extra] == ["history[0]", "history[1]", "history[2]", "history[3]"]
    assert "after the date of service 2024-06-10" in extra[1]["message"] and "2024-06-11" in extra[1]["message"]
    assert ResidentEngine(reference=engine).check(Encounter.model_validate(later)) == b


@pytest.mark.parametrize("payer", ["medicare-cgs", "commercial-default"])
def test_an_earlier_session_repeated_with_its_date_and_code_counts_once_and_the_answer_says_so(engine, payer):
    """Three entries of one session (an export that repeats rows) are one session for the frequency rules,
    its muscles joined; a session of another code that day is a session of its own. The resident engine agrees."""
    from solver.resident import ResidentEngine
    one = dict(_clean_raw(), payer=payer, history=[{"date": "2024-05-01", "code": "20552", "muscles": ["trapezius"]}])
    joined = dict(one, history=[{"date": "2024-05-01", "code": "20552", "muscles": ["trapezius", "rhomboid major"]}])
    repeated = dict(one, history=[{"date": "2024-05-01", "code": "20552", "muscles": ["trapezius"]},
                                  {"date": "2024-05-01", "code": "20552", "muscles": ["rhomboid major"]},
                                  {"date": "2024-05-01", "code": "20552"}])
    a = engine.check(Encounter.model_validate(joined))
    b = engine.check(Encounter.model_validate(repeated))
    assert (b["outcome"], b["claim"]) == (a["outcome"], a["claim"])
    extra = [f for f in b["findings"] if f not in a["findings"]]
    assert [(f["rule"], f["message"].split(" (")[0]) for f in extra] == [
        ("input.history-repeated-session", "history[1] repeats history[0]"), ("input.history-repeated-session", "history[2] repeats history[0]")]
    assert [f for f in b["findings"] if f["rule"] != "input.history-repeated-session"] == a["findings"]
    assert ResidentEngine(reference=engine).check(Encounter.model_validate(repeated)) == b
