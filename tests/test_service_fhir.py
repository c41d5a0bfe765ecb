"""POST /v1/check answering FHIR R4 ClaimResponses for Accept: application/fhir+json (content negotiation)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from solver.service.app import create_app
from solver.service.negotiate import choose
from solver.service.problems import ProblemError
from solver.service.state import Settings

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
EXAMPLES = json.loads(json.dumps(yaml.safe_load((ROOT / "examples" / "encounters.yaml").read_text()), default=str))
FHIR = "application/fhir+json"
ADJUDICATION = "urn:payerkb:adjudication"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    log = tmp_path_factory.mktemp("fhir-out") / "decisions.jsonl"
    with TestClient(create_app(Settings(workers=1, decision_log=str(log)))) as c:
        yield c


def post(client, body: bytes, kind: str, accept: str | None = FHIR):
    headers = {"content-type": kind} | ({"accept": accept} if accept is not None else {})
    return client.post("/v1/check", content=body, headers=headers)


def fhir(resp) -> dict:
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith(FHIR) and "accept" in resp.headers["vary"].lower()
    return resp.json()


def responses(doc: dict) -> list[dict]:
    if doc["resourceType"] == "ClaimResponse":
        return [doc]
    assert doc["resourceType"] == "Bundle" and doc["type"] == "collection"
    return [e["resource"] for e in doc["entry"]]


def adjudications(cr: dict) -> list[tuple[int, str]]:
    return [(i["itemSequence"], i["adjudication"][0]["category"]["coding"][0]["code"]) for i in cr.get("item", [])
            if i["adjudication"][0]["category"]["coding"][0]["system"] == ADJUDICATION]


def outcome_code(cr: dict) -> str:
    return next(e["valueCode"] for e in cr["extension"] if e["url"] == "urn:payerkb:outcome")


def test_a_fhir_claim_with_accept_fhir_json_is_answered_with_one_claim_response_saying_what_the_json_answer_says(client):
    body = (DATA / "fhir" / "claim-tpi-note.json").read_bytes()
    plain = post(client, body, FHIR, accept=None).json()[0]
    cr = fhir(post(client, body, FHIR))
    assert cr["resourceType"] == "ClaimResponse" and cr["outcome"] == "complete"
    assert cr["request"] == {"reference": "Claim/tpi-1"} and outcome_code(cr) == plain["outcome"]
    assert [a["productOrService"]["coding"][0]["code"] for a in cr["addItem"]] == [line["code"] for line in plain["claim"]]
    assert [m["coding"][0]["code"] for m in cr["addItem"][0].get("modifier", [])] == plain["claim"][0].get("modifiers", [])
    assert adjudications(cr) == [(1, plain["outcome"] if plain["outcome"] != "deny" else "deny")]
    rules = {next(x["valueString"] for x in n["extension"] if x["url"] == "urn:payerkb:finding-rule") for n in cr["processNote"]}
    assert rules == {f["rule"] for f in plain["findings"]}
    assert cr["identifier"][0]["system"] == "urn:payerkb:decision" and len(cr["identifier"][0]["value"]) == 32


def test_a_bundle_is_answered_with_a_bundle_of_claim_responses_in_order_and_its_bad_entry_gets_its_own_error(client):
    bundle = json.loads((DATA / "fhir" / "bundle.json").read_text())
    bad = json.loads((DATA / "fhir" / "claim-tpi-note.json").read_text())
    bad["id"] = "tpi-icd9"
    bad["diagnosis"][0]["diagnosisCodeableConcept"]["coding"][0]["system"] = "http://hl7.org/fhir/sid/icd-9-cm"
    bundle["entry"].append({"fullUrl": "urn:uuid:tpi-icd9", "resource": bad})
    crs = responses(fhir(post(client, json.dumps(bundle).encode(), FHIR)))
    assert [cr["outcome"] for cr in crs] == ["complete", "error", "complete", "error"]
    assert [cr["request"].get("reference") for cr in crs] == ["Claim/tpi-2", None, "Claim/em-only", "Claim/tpi-icd9"]
    stray, icd9 = crs[1], crs[3]
    assert "entry.2.resource.resourceType" in stray["error"][0]["code"]["text"] and "not a claim" in stray["error"][0]["code"]["text"]
    assert any(e["code"]["text"].startswith("entry.4.resource.diagnosis.0.diagnosisCodeableConcept.coding: ") and "ICD-9-CM" in e["code"]["text"]
               for e in icd9["error"])
    assert "item" not in icd9 and "addItem" not in icd9 and icd9["processNote"]
    assert adjudications(crs[0]) == [(1, "allow")] and crs[0]["addItem"][0]["productOrService"]["coding"][0]["code"] == "20552"
    assert len({cr["identifier"][0]["value"] for cr in crs}) == 4  # every record has its own decision


def test_contract_encounters_in_a_list_get_a_claim_response_each_with_an_item_per_submitted_line(client):
    body = json.dumps([EXAMPLES[0], {"id": "no-date", "payer": "medicare-cgs"}, EXAMPLES[2]]).encode()
    plain = post(client, body, "application/json", accept="application/json").json()
    crs = responses(fhir(post(client, body, "application/json")))
    assert [cr["outcome"] for cr in crs] == ["complete", "error", "complete"]
    assert [outcome_code(crs[0]), outcome_code(crs[2])] == [plain[0]["outcome"], plain[2]["outcome"]] == ["modify", "deny"]
    assert [s for s, _ in adjudications(crs[0])] == list(range(1, len(EXAMPLES[0]["claim"]) + 1))
    assert {code for _, code in adjudications(crs[0])} <= {"allow", "modify", "review", "deny"} and "modify" in dict(adjudications(crs[0])).values()
    assert "item" not in crs[2] and crs[2]["disposition"].startswith("payerkb deny")  # it submitted no lines
    assert crs[1]["request"]["identifier"]["value"] == "no-date"
    assert crs[1]["error"][0]["code"]["text"].startswith("date_of_service: ")


def test_json_lines_and_an_837p_interchange_are_answered_in_fhir_with_nothing_lost(client):
    lines = "\n".join(json.dumps(e) for e in EXAMPLES[:2]) + "\n{not json\n"
    crs = responses(fhir(post(client, lines.encode(), "application/x-ndjson")))
    assert [cr["outcome"] for cr in crs] == ["complete", "complete", "error"]
    assert [s for s, _ in adjudications(crs[0])] == list(range(1, len(EXAMPLES[0]["claim"]) + 1))
    assert "not valid JSON" in crs[2]["error"][0]["code"]["text"]
    crs = responses(fhir(post(client, (DATA / "x12" / "tpi-cgs.x12").read_bytes(), "application/edi-x12")))
    assert [cr["request"]["identifier"]["value"] for cr in crs] == ["TPI-1", "TPI-2"]
    assert [cr["outcome"] for cr in crs] == ["complete", "error"] and crs[1]["error"][0]["code"]["text"].startswith("payer: ")
    assert adjudications(crs[0]) and outcome_code(crs[0]) == "allow"


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "application/*", f"{FHIR};q=0.5, application/json"])
def test_without_accept_fhir_json_the_answer_stays_payerkbs_own_json(client, accept):
    resp = post(client, json.dumps(EXAMPLES[0]).encode(), "application/json", accept=accept)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/json")
    assert resp.json()["outcome"] == "modify" and resp.json()["claim"][0]["code"] == "20553"


@pytest.mark.parametrize("accept", ["text/csv", "application/xml, text/html;q=0.9", f"{FHIR};q=0", "application/json;q=0, text/*"])
def test_an_accept_the_service_cannot_give_is_a_406_naming_what_it_can_give(client, accept):
    resp = post(client, json.dumps(EXAMPLES[0]).encode(), "application/json", accept=accept)
    assert resp.status_code == 406 and resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["field"] == "Accept" and body["type"].endswith(":not-acceptable")
    assert "application/json (the default) or application/fhir+json" in body["detail"]


def test_one_invalid_encounter_with_accept_fhir_json_is_still_a_422_problem_naming_its_field(client):
    resp = post(client, json.dumps({"id": "x", "payer": "medicare-cgs"}).encode(), "application/json")
    assert resp.status_code == 422 and resp.json()["field"] == "date_of_service"


def test_the_most_specific_media_range_sets_the_weight_and_equals_go_to_the_default():
    offers = ("application/json", FHIR)
    assert choose(f"{FHIR}, */*;q=0.1", offers) == FHIR
    assert choose(f"application/*;q=0.2, {FHIR};q=0.9", offers) == FHIR
    assert choose(f"{FHIR}; fhirVersion=4.0, application/json", offers) == "application/json"
    assert choose("APPLICATION/FHIR+JSON", offers) == FHIR
    assert choose("  ", offers) == "application/json"
    with pytest.raises(ProblemError) as err:
        choose("*/*;q=0", offers)
    assert err.value.status == 406


def test_the_openapi_document_lists_both_answers_of_the_check_route_and_its_406(client):
    op = client.get("/openapi.json").json()["paths"]["/v1/check"]["post"]
    assert {"application/json", FHIR} <= set(op["responses"]["200"]["content"]) and "406" in op["responses"]
