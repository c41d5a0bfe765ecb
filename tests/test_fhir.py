"""FHIR R4 in (a Claim, a Bundle of Claims) and ClaimResponse out."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.claimresponse import ClaimResponse

from solver.formats import fhir, fhir_note
from solver.formats.fhir_response import claim_response, render
from solver.param_types import DOCUMENTATION_ELEMENTS
from solver.reading import read_bytes

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "fhir"
SAMPLES = ROOT.parent / "shared" / "samples" / "fhir-r4"
PAYERKB = [sys.executable, "-m", "solver"]


def load(name):
    return json.loads((DATA / name).read_text())


def records(data: dict, source="claim.json"):
    return list(read_bytes(json.dumps(data).encode(), source))


def one(data: dict):
    recs = records(data)
    assert len(recs) == 1
    return recs[0]


def problems(rec):
    return [(p.field, p.message) for p in rec.problems or []]


def test_a_claim_with_its_note_becomes_the_encounter_with_codes_modifiers_diagnoses_and_muscles():
    rec = one(load("claim-tpi-note.json"))
    assert rec.problems is None
    enc = rec.encounter
    assert enc.id == "tpi-1" and enc.payer == "cigna" and str(enc.date_of_service) == "2024-06-10"
    assert enc.diagnoses == ["M79.12", "M54.2"]  # in sequence order, not array order
    line = enc.claim[0]
    assert (line.code, line.modifiers, line.units, line.diagnoses) == ("20552", ["50"], 1, ["M79.12"])
    assert [(i.muscle, i.side, i.substance, i.dose, i.trigger_points) for i in enc.injections] == [
        ("right upper trapezius", "right", "lidocaine 1%", "2 mL", 3), ("rhomboid major", "right", "lidocaine 1%", "1 mL", 1)]
    doc = enc.documentation
    assert doc.trigger_points_on_exam and doc.focal_muscle_pain
    assert doc.conservative_therapy.tried == ["physical_therapy"] and doc.conservative_therapy.weeks == 8
    assert (doc.pain_scores.scale, doc.pain_scores.before, doc.pain_scores.after) == ("NRS", 7, 3)
    assert enc.other_procedures == [] and enc.evaluation is None


def test_every_documentation_element_has_a_code_of_the_payerkb_system():
    assert set(fhir_note.ELEMENT_CODES) == set(DOCUMENTATION_ELEMENTS)
    assert all(code in fhir_note.CODES for codes in fhir_note.ELEMENT_CODES.values() for code in codes)


def test_prior_sessions_and_an_em_item_come_from_supporting_info_and_items():
    claim = load("claim-tpi-note.json")
    claim["supportingInfo"] += [
        {"sequence": 20, "category": {"coding": [{"system": fhir_note.SYSTEM, "code": "prior-session"}]}, "timingDate": "2024-03-01",
         "code": {"coding": [{"system": fhir.CPT_SYSTEMS.copy().pop(), "code": "20552"}]},
         "extension": [{"url": fhir_note.EXT + "muscle", "valueString": "trapezius"}]},
        {"sequence": 21, "category": {"coding": [{"system": fhir_note.SYSTEM, "code": "em-separately-identifiable"}]}, "valueBoolean": True}]
    claim["item"].append({"sequence": 2, "productOrService": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "99213"}]},
                          "modifier": [{"coding": [{"code": "25"}]}], "diagnosisSequence": [2], "servicedDate": "2024-06-10"})
    enc = one(claim).encounter
    assert [(str(h.date), h.code, h.muscles) for h in enc.history] == [("2024-03-01", "20552", ["trapezius"])]
    assert enc.evaluation.code == "99213" and enc.evaluation.separately_identifiable
    assert [(ln.code, ln.modifiers, ln.diagnoses) for ln in enc.claim] == [("20552", ["50"], ["M79.12"]), ("99213", ["25"], ["M54.2"])]


def test_the_coverage_payor_identifier_is_mapped_through_the_deployments_payer_map(tmp_path, monkeypatch):
    mapping = tmp_path / "map.yaml"
    mapping.write_text("payers:\n  - payer: medicare-cgs\n    match: {payor_id: ['62308']}\n")
    monkeypatch.setenv("PAYERKB_PAYER_MAP", str(mapping))
    assert one(load("claim-tpi-note.json")).encounter.payer == "medicare-cgs"  # payor_id wins over the names


def test_a_payer_that_no_map_entry_matches_says_what_was_tried_and_how_to_map_it():
    claim = load("claim-tpi-note.json")
    claim["contained"][0]["payor"][0]["display"] = "Acme Health"
    rec = one(claim)
    assert rec.encounter is None
    (field, message), = problems(rec)
    assert field == "insurer"
    assert "payor_id '62308' from #cov-1 payor.0.identifier" in message and "name 'Some Insurer' from insurer.display" in message
    assert "plan 'OAP-1'" in message and "payer-map.yaml" in message


def test_an_icd9_or_who_icd10_diagnosis_is_a_problem_naming_the_field():
    claim = load("claim-tpi-note.json")
    claim["diagnosis"][0]["diagnosisCodeableConcept"]["coding"][0]["system"] = "http://hl7.org/fhir/sid/icd-9-cm"
    claim["diagnosis"][1]["diagnosisCodeableConcept"]["coding"][0]["system"] = "http://hl7.org/fhir/sid/icd-10"
    found = dict(problems(one(claim)))
    assert "ICD-9-CM" in found["diagnosis.0.diagnosisCodeableConcept.coding"]
    assert "WHO ICD-10" in found["diagnosis.1.diagnosisCodeableConcept.coding"]


def test_a_claim_fhir_resources_rejects_is_a_record_with_the_field_not_a_traceback():
    claim = load("claim-tpi-note.json")
    del claim["patient"]
    claim["item"][0]["quantity"] = {"value": "one"}
    fields = [f for f, _ in problems(one(claim))]
    assert "patient" in fields and any(f.startswith("item.0.quantity") for f in fields)


@pytest.mark.parametrize("value", ["9" * 5000, "1e999", '"3"', "true"])
def test_a_quantity_that_is_no_usable_number_is_a_problem_of_its_item_not_a_traceback(value):
    claim = load("claim-tpi-note.json")
    claim["item"][0]["quantity"] = {"value": 7777}
    recs = list(read_bytes(json.dumps(claim).replace("7777", value).encode(), "claim.json"))
    assert len(recs) == 1
    assert any(f.startswith("item.0.quantity") for f, _ in problems(recs[0])), problems(recs[0])


def test_a_bundle_keeps_its_claims_in_order_skips_what_they_reference_and_reports_the_rest():
    recs = records(load("bundle.json"), "bundle.json")
    assert [(r.index, r.raw_id) for r in recs] == [(1, "tpi-2"), (3, "Coverage/cov-stray"), (4, "em-only")]
    assert recs[0].encounter.payer == "cigna"  # from the Coverage entry of the Bundle
    assert "no Claim of the Bundle references" in recs[1].problems[0].message
    assert recs[1].problems[0].field == "entry.2.resource.resourceType"


def test_a_tpi_claim_without_supporting_info_is_checked_as_a_claim_and_names_what_needs_the_note(engine):
    rec = one(load("claim-tpi-no-note.json"))
    assert rec.encounter.procedure_note is False and rec.encounter.injections == []
    res = engine.check(rec.encounter)
    assert [line["code"] for line in res["claim"]] == ["20552"]  # the claimed TPI is kept, not stripped
    note = next(f for f in res["findings"] if f["rule"] == "claim.note-needed")
    assert "cpt.tpi-code-by-muscle-count" in note["evidence"][0] and "cpt.tpi-no-named-muscle" not in {f["rule"] for f in res["findings"]}


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.json")) if SAMPLES.is_dir() else [], ids=lambda p: p.name)
def test_every_hl7_example_is_read_and_answered_without_a_traceback(path):
    proc = subprocess.run(PAYERKB + ["check", "--format", "fhir", str(path)], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    response = ClaimResponse.model_validate_json(proc.stdout)
    assert response.outcome == "error"
    if not path.name.startswith("Claim-"):
        assert f"a FHIR {path.name.split('-')[0]} is not a claim" in proc.stderr
    else:
        assert "is not a CPT/HCPCS code" in proc.stderr or "not ICD-10-CM" in proc.stderr


def test_the_claim_response_has_item_adjudication_a_process_note_per_finding_and_the_recommended_claim(engine):
    claim = load("claim-tpi-note.json")
    claim["item"][0]["productOrService"]["coding"][0]["code"] = "20553"  # two muscles: 20552 is right
    rec = one(claim)
    res = engine.check(rec.encounter)
    out = claim_response(res, rec.claim)
    ClaimResponse.model_validate(out)
    assert out["outcome"] == "complete" and out["request"] == {"reference": "Claim/tpi-1"}
    assert out["extension"][0] == {"url": "urn:payerkb:outcome", "valueCode": res["outcome"]}
    rules = [e["valueString"] for n in out["processNote"] for e in n["extension"] if e["url"] == "urn:payerkb:finding-rule"]
    assert rules == [f["rule"] for f in res["findings"]] and "cpt.tpi-code-by-muscle-count" in rules
    assert all(any(e["url"] == "urn:payerkb:finding-citation" for e in n["extension"]) for n in out["processNote"])
    assert [(a["productOrService"]["coding"][0]["code"], [m["coding"][0]["code"] for m in a.get("modifier", [])]) for a in out["addItem"]] \
        == [(ln["code"], ln["modifiers"]) for ln in res["claim"]]
    assert out["addItem"][0]["productOrService"]["coding"][0]["code"] == "20552"
    assert out["item"][0]["itemSequence"] == 1
    assert out["item"][0]["adjudication"][0]["category"]["coding"][0]["code"] in ("modify", "deny")


def test_several_records_answer_as_a_bundle_of_claim_responses_with_errors_for_the_bad_ones(engine):
    recs = records(load("bundle.json"), "bundle.json")
    results = [engine.check(r.encounter) if r.encounter else {"encounter": r.raw_id, "outcome": "error",
               "errors": [{"field": p.field, "message": p.message} for p in r.problems]} for r in recs]
    bundle = json.loads(render(recs, results))
    Bundle.model_validate(bundle)
    outcomes = [e["resource"]["outcome"] for e in bundle["entry"]]
    assert outcomes == ["complete", "error", "complete"]
    assert "not a claim" in bundle["entry"][1]["resource"]["error"][0]["code"]["text"]


def test_check_format_fhir_on_the_command_line_answers_a_claim_response():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(PAYERKB + ["check", "--format", "fhir", str(DATA / "claim-tpi-no-note.json")], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    ClaimResponse.model_validate(out)
    assert out["disposition"].startswith("payerkb allow")
    assert out["item"][0]["adjudication"][0]["category"]["coding"][0]["code"] == "allow"
    assert any("claim.note-needed" in n["text"] for n in out["processNote"])


def test_check_takes_the_deployments_payer_map_with_payer_map(tmp_path):
    mapping = tmp_path / "map.yaml"
    mapping.write_text("payers:\n  - payer: medicare-cgs\n    match: {payor_id: ['62308']}\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("PAYERKB_PAYER_MAP", None)
    proc = subprocess.run(PAYERKB + ["check", "--format", "json", "--payer-map", str(mapping), str(DATA / "claim-tpi-note.json")],
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert [r["payer"] for r in json.loads(proc.stdout)] == ["medicare-cgs"]
    missing = subprocess.run(PAYERKB + ["check", "--payer-map", str(tmp_path / "none.yaml"), str(DATA / "claim-tpi-note.json")],
                             capture_output=True, text=True, env=env)
    assert missing.returncode == 2 and "--payer-map" in missing.stderr and "Traceback" not in missing.stderr


def test_a_diagnosis_reference_to_a_contained_or_bundled_condition_is_read_from_its_code():
    claim = load("claim-tpi-note.json")
    plain = one(claim).encounter
    first = claim["diagnosis"][0].pop("diagnosisCodeableConcept")
    claim["diagnosis"][0]["diagnosisReference"] = {"reference": "#dx1"}
    claim.setdefault("contained", []).append({"resourceType": "Condition", "id": "dx1", "code": first,
                                              "subject": claim["patient"]})
    assert one(claim).encounter.diagnoses == plain.diagnoses
    second = claim["diagnosis"][1].pop("diagnosisCodeableConcept")
    claim["diagnosis"][1]["diagnosisReference"] = {"reference": "Condition/dx2"}
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": claim}, {"resource": {"resourceType": "Condition", "id": "dx2", "code": second, "subject": claim["patient"]}}]}
    recs = records(bundle, "bundle.json")
    assert len(recs) == 1 and recs[0].encounter.diagnoses == plain.diagnoses  # the Condition is the Claim's, not a record


def test_a_diagnosis_reference_to_no_condition_or_to_an_icd9_condition_is_a_problem_naming_the_field():
    claim = load("claim-tpi-note.json")
    first = claim["diagnosis"][0].pop("diagnosisCodeableConcept")
    claim["diagnosis"][0]["diagnosisReference"] = {"reference": "Condition/nowhere"}
    found = dict(problems(one(claim)))
    assert "names no Condition" in found["diagnosis.0.diagnosisReference"]
    first["coding"][0]["system"] = "http://hl7.org/fhir/sid/icd-9-cm"
    claim["diagnosis"][0]["diagnosisReference"] = {"reference": "#dx1"}
    claim["contained"] = [{"resourceType": "Condition", "id": "dx1", "code": first, "subject": claim["patient"]}]
    found = dict(problems(one(claim)))
    assert "ICD-9-CM" in found["diagnosis.0.diagnosisReference (Condition 'dx1').code.coding"]


def _ndjson(tmp_path, lines: list) -> Path:
    path = tmp_path / "Claim.ndjson"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    return path


def test_ndjson_of_claims_is_read_a_claim_a_line_beside_contract_lines_and_other_resources(tmp_path):
    """FHIR Bulk Data's NDJSON: each line's Claim is an encounter of that line; a Patient line is an error of its
    line; a contract-v1 line that only mentions the word resourceType is read as an encounter."""
    claim = load("claim-tpi-note.json")
    second = dict(claim, id="tpi-2")
    mentions = {"id": "v1", "payer": "cigna", "date_of_service": "2024-06-10", "resourceType_note": 1}
    path = _ndjson(tmp_path, [claim, {"resourceType": "Patient", "id": "p1"}, mentions, second])
    p = subprocess.run(PAYERKB + ["check", str(path), "--format", "json"], capture_output=True, text=True, cwd=ROOT, check=False)
    out = [json.loads(line) for line in p.stdout.splitlines()]
    assert [(o["encounter"], o["outcome"]) for o in out] == [("tpi-1", "allow"), ("Patient/p1", "error"), ("v1", "error"), ("tpi-2", "allow")]
    assert [(line["code"], line["modifiers"]) for line in out[0]["claim"]] == [("20552", ["50"])]  # as the Claim bills it
    assert out[1]["errors"][0]["field"] == "resourceType" and "a FHIR Patient is not a claim" in out[1]["errors"][0]["message"]
    assert out[2]["errors"][0]["field"] == "resourceType_note"  # the contract's reader: an unknown key of that line
    assert p.returncode == 2 and "line 2 (id Patient/p1)" in p.stderr and "Traceback" not in p.stderr


def test_ndjson_claims_answered_as_fhir_name_each_claim_in_their_claim_responses(tmp_path):
    claim = load("claim-tpi-note.json")
    path = _ndjson(tmp_path, [claim, dict(claim, id="tpi-2")])
    p = subprocess.run(PAYERKB + ["check", str(path), "--format", "fhir"], capture_output=True, text=True, cwd=ROOT, check=False)
    bundle = Bundle.model_validate_json(p.stdout)
    requests = [e.resource.request.reference for e in bundle.entry]
    assert requests == ["Claim/tpi-1", "Claim/tpi-2"] and p.returncode == 0


def test_a_claim_response_for_a_contract_encounter_names_its_patient_and_adjudicates_each_submitted_line():
    r = subprocess.run(PAYERKB + ["check", str(ROOT / "examples" / "encounters.yaml"), "--format", "fhir"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    first = json.loads(r.stdout)["entry"][0]["resource"]
    assert first["patient"] == {"identifier": {"system": "urn:payerkb:patient", "value": "P-0042"}}
    assert [(i["itemSequence"], i["adjudication"][0]["category"]["coding"][0]["code"]) for i in first["item"]] == [(1, "modify"), (2, "modify")]


def test_a_json_lines_record_answered_in_another_process_still_gets_an_item_per_submitted_line(engine):
    import yaml

    from solver.encounter import Encounter
    first = json.loads(json.dumps(yaml.safe_load((ROOT / "examples" / "encounters.yaml").read_text())[0], default=str))
    recs = list(read_bytes((json.dumps(first) + "\n" + json.dumps(dict(first, id="enc-b")) + "\n").encode(), "batch.jsonl"))
    assert all(r.line is not None and r.encounter is None for r in recs)  # as a worker process leaves them in the parent
    results = [engine.check(Encounter.model_validate(dict(first, id=i))) for i in ("enc-0001", "enc-b")]
    bundle = json.loads(render(recs, results))
    items = [[i["itemSequence"] for i in e["resource"]["item"]] for e in bundle["entry"]]
    assert items == [[1, 2], [1, 2]] and [c["code"] for c in first["claim"]] == ["20552", "99213"]
