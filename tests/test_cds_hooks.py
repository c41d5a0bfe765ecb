"""CDS Hooks (Da Vinci CRD 2.2.1): discovery, order-sign and appointment-book against the real engine.

The shared CRD samples (../shared/samples/cds-hooks-crd/) are answered as they are; where they are about other
services (mammography, oxygen, a records request) they are adapted to a TPI order: the ServiceRequest's code
gets CPT 20552/20553 billing options, a reasonCode and an occurrence date, and the Coverage's payor a payer name
the shipped payer map knows. Responses are validated with fhir.resources (R4B) and the CRD invariants
crd-ci-q1..q9 (CoverageInformation.fsh at CRD 2.2.1), written below as checks.
"""
from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
import uuid
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.servicerequest import ServiceRequest

from solver.engine import Engine
from solver.service import cds_hooks, cds_orders
from solver.service.deps import get_checker

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "samples" / "cds-hooks-crd"  # beside the repository
EXT = "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information"
ENGINE = Engine()
ISSUED: list[str] = []


async def _check(encounters):
    results = await asyncio.to_thread(ENGINE.check_many, encounters)
    out = []
    for r in results:
        ISSUED.append(str(uuid.uuid4()))
        out.append({**r, "decision": {"id": ISSUED[-1], "time": "2024-06-01T10:00:00+00:00"}})
    return out


def _app() -> FastAPI:
    app = FastAPI()
    app.include_router(cds_hooks.router)
    app.dependency_overrides[get_checker] = lambda: _check
    return app


def post(service: str, body: dict) -> httpx.Response:
    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()), base_url="http://test") as client:
            return await client.post(f"/cds-services/{service}", json=body)
    return asyncio.run(go())


def get(path: str) -> httpx.Response:
    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()), base_url="http://test") as client:
            return await client.get(path)
    return asyncio.run(go())


def sample(name: str) -> dict:
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"{path} is not here (the shared samples live beside the repository)")
    return json.loads(path.read_text(encoding="utf-8"))


def tpi_order_sign(payor: str = "CGS Administrators", diagnoses=("M79.18",), codes=("20552", "20553"),
                   date: str | None = "2024-06-10") -> dict:
    """CRDServiceRequest.json adapted to a TPI order: ServiceRequest 1357 billed as 20552/20553."""
    req = sample("CRDServiceRequest.json")
    entry = req["context"]["draftOrders"]["entry"]
    del entry[1:]  # the oxygen rental order is not a TPI
    sr = entry[0]["resource"]
    sr["code"] = {"extension": [{"url": "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-billing-options",
                                 "valueCodeableConcept": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": c}]}}
                                for c in codes],
                  "coding": [{"system": "http://snomed.info/sct", "code": "229218006", "display": "Trigger point injection"}]}
    sr["reasonCode"] = [{"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": d}]} for d in diagnoses]
    if date:
        sr["occurrenceDateTime"] = date
    req["prefetch"]["coverage"]["entry"][0]["resource"]["payor"][0]["display"] = payor
    return req


def infos(resource: dict) -> list[dict]:
    return [e for e in resource.get("extension", []) if e["url"] == EXT]


def sub(info: dict, name: str) -> list:
    out = []
    for e in info["extension"]:
        if e["url"] == name:
            out.append(next(v for k, v in e.items() if k.startswith("value")) if name != "detail" else e)
    return out


def one(info: dict, name: str):
    values = sub(info, name)
    assert len(values) == 1, (name, values)
    return values[0]


def crd_invariants(info: dict) -> list[str]:
    """crd-ci-q1..q9 of CRD 2.2.1, and the cardinalities of the extension; returns the ones broken."""
    urls = [e["url"] for e in info["extension"]]
    val = {u: [v for v in sub(info, u)] for u in set(urls)}
    has = lambda u, *vals: any(v in vals for v in val.get(u, [])) if vals else u in val  # noqa: E731
    broken = []
    if has("questionnaire") and not has("doc-needed"):
        broken.append("crd-ci-q1")
    if has("covered", "not-covered") and has("pa-needed"):
        broken.append("crd-ci-q2")
    if any(has(u, "conditional") for u in ("covered", "pa-needed", "doc-needed")) and not has("info-needed"):
        broken.append("crd-ci-q3")
    if has("pa-needed", "satisfied", "noauth", "not-covered") and has("doc-purpose", "withpa"):
        broken.append("crd-ci-q4")
    if has("pa-needed", "satisfied") != has("satisfied-pa-id"):
        broken.append("crd-ci-q5")
    if has("info-needed", "OTH") and not has("reason"):
        broken.append("crd-ci-q6")
    if any(not r.get("text") and any(c.get("system") != "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp"
                                     for c in r.get("coding", [])) for r in val.get("reason", [])):
        broken.append("crd-ci-q7")
    if any(v != "conditional" for v in val.get("doc-purpose", [])) and not has("reason"):
        broken.append("crd-ci-q8")
    if any(has(u, "indeterminate") for u in ("covered", "pa-needed", "doc-needed")) and not has("reason"):
        broken.append("crd-ci-q9")
    for name in ("coverage", "covered", "date", "coverage-assertion-id"):
        if urls.count(name) != 1:
            broken.append(f"{name} must occur once")
    value_sets = {"covered": {"covered", "not-covered", "conditional", "indeterminate"},
                  "doc-needed": {"clinical", "admin", "patient", "conditional", "indeterminate"},
                  "doc-purpose": {"withpa", "withclaim", "withorder", "retain-doc", "OTH"},
                  "info-needed": {"performer", "location", "timeframe", "contract-window", "detail-code", "OTH"}}
    for name, allowed in value_sets.items():
        broken += [f"{name} {v!r} is not in its value set" for v in val.get(name, []) if v not in allowed]
    for d in val.get("detail", []):
        if sorted(e["url"] for e in d["extension"] if e["url"] != "qualification") != ["category", "code", "value"]:
            broken.append("detail needs category, code and value")
    return broken


def check_cards(body: dict) -> None:
    for card in body["cards"]:
        assert len(card["summary"]) <= 140 and card["indicator"] in ("info", "warning", "critical")
        assert card["source"]["label"] and card["source"]["topic"]["code"]
        uuid.UUID(card["uuid"])
        assert all(link["type"] == "absolute" and link["url"].startswith("http") for link in card.get("links", []))


def answered(req: dict, service: str = "payerkb-order-sign-crd") -> dict:
    r = post(service, req)
    assert r.status_code == 200, r.text
    body = r.json()
    check_cards(body)
    for action in body.get("systemActions", []):
        res = action["resource"]
        (ServiceRequest if res["resourceType"] == "ServiceRequest" else Appointment).model_validate(res)
        for info in infos(res):
            assert crd_invariants(info) == []
    return body


# --- discovery ---------------------------------------------------------------------------------------
def test_discovery_lists_one_service_per_hook_with_prefetch_for_orders_patient_coverage_and_conditions():
    services = get("/cds-services").json()["services"]
    assert sorted(s["hook"] for s in services) == ["appointment-book", "order-sign"]
    for s in services:
        assert {"patient", "coverage", "conditions", "serviceRequests", "procedures"} <= set(s["prefetch"])
        assert s["prefetch"]["coverage"] == "Coverage?patient={{context.patientId}}&status=active"
        assert s["extension"]["davinci-crd.version"] == ["2.2"]


# --- the CRD samples as they are ---------------------------------------------------------------------
def test_the_crd_order_sign_sample_is_answered_with_a_card_saying_it_holds_no_trigger_point_injection():
    body = answered(sample("CRDServiceRequest.json"))
    assert "systemActions" not in body
    [card] = body["cards"]
    assert card["summary"].startswith("No trigger point injection (CPT 20552/20553)")
    assert "ServiceRequest/1357: 726551006, 77061, 77062, 77065, 77066" in card["detail"]
    assert "ServiceRequest/2468: E0431" in card["detail"]


def test_the_minimal_crd_sample_with_a_communication_request_says_it_has_no_code():
    body = answered(sample("CRDServiceRequest3.json"))
    assert "systemActions" not in body
    assert "CommunicationRequest/example: no code" in body["cards"][0]["detail"]


# --- the payer --------------------------------------------------------------------------------------
def test_a_coverage_whose_payer_is_not_in_the_payer_map_gets_a_card_naming_it_and_no_coverage_information():
    body = answered(tpi_order_sign(payor="Acme Health Plan"))
    assert "systemActions" not in body
    [card] = body["cards"]
    assert card["summary"] == "No payer policy for Acme Health Plan: its Coverage matches no entry of the payer map"
    assert "name 'Acme Health Plan'" in card["detail"] and "payer-map.yaml" in card["detail"]
    assert card["indicator"] == "warning"


def test_a_request_without_coverage_gets_a_card_and_no_coverage_information():
    req = tpi_order_sign()
    del req["prefetch"]["coverage"]
    body = answered(req)
    assert "systemActions" not in body
    assert body["cards"][0]["summary"].startswith("No active Coverage in the request")


# --- coverage information on a TPI order -------------------------------------------------------------
def test_a_medicare_tpi_order_is_covered_with_the_note_still_needed_one_repetition_per_candidate_code():
    ISSUED.clear()
    body = answered(tpi_order_sign())
    [action] = body["systemActions"]
    assert action["type"] == "update" and action["resource"]["id"] == "1357"
    reps = infos(action["resource"])
    assert [one(i, "billingCode")["code"] for i in reps] == ["20552", "20553"]
    assert [one(i, "coverage-assertion-id") for i in reps] == ISSUED  # the decision ids of the results
    for info in reps:
        assert one(info, "covered") == "covered"  # no note yet is not a denial
        assert one(info, "doc-needed") == "clinical" and one(info, "doc-purpose") == "retain-doc"
        assert sub(info, "info-needed") == [] and sub(info, "pa-needed") == []
        assert one(info, "coverage") == {"reference": "Coverage/COV1"}
        assert one(info, "date") == "2024-06-01"
        reasons = [r["text"] for r in sub(info, "reason")]
        assert any(t.startswith("Documentation needed: No injected muscle is named") and "(cpt.tpi-no-named-muscle)" in t
                   for t in reasons)
        assert any("(lcd.tpi-pain-scores)" in t for t in reasons)
        assert any("(lcd.trigger-points-documented)" in t for t in reasons)  # a coverage rule that only the note can meet
        links = [one({"extension": d["extension"]}, "value") for d in sub(info, "detail")]
        assert "https://www.cms.gov/medicare-coverage-database/view/lcd.aspx?lcdid=39656" in links
        assert len(links) == len(set(links))
    cards = body["cards"]
    assert [c["summary"] for c in cards] == [
        "20552 covered by CGS Administrators when the procedure note documents 5 requirement(s)",
        "20553 covered by CGS Administrators when the procedure note documents 5 requirement(s)",
        "Frequency limits not checked: the patient's earlier trigger point injections were not sent"]
    assert cards[0]["extension"]["davinci-crd.associated-resource"] == [{"reference": "ServiceRequest/1357"}]
    assert ISSUED[0] in cards[0]["detail"]


def test_the_system_action_changes_nothing_on_the_order_but_the_coverage_information():
    req = tpi_order_sign()
    body = answered(req)
    sent = req["context"]["draftOrders"]["entry"][0]["resource"]
    got = copy.deepcopy(body["systemActions"][0]["resource"])
    got["extension"] = [e for e in got["extension"] if e["url"] != EXT]
    assert got == {**sent, "extension": []} or got == sent


def test_an_order_for_20553_only_gets_one_repetition():
    body = answered(tpi_order_sign(codes=("20553",)))
    assert [one(i, "billingCode")["code"] for i in infos(body["systemActions"][0]["resource"])] == ["20553"]


def test_a_diagnosis_off_the_lcd_list_is_not_covered_with_the_reason_and_a_warning_card():
    body = answered(tpi_order_sign(diagnoses=("M79.7",)))
    for info in infos(body["systemActions"][0]["resource"]):
        assert one(info, "covered") == "not-covered"
        assert sub(info, "reason")[0]["text"].startswith("Not covered: The TPI line points to no diagnosis that supports coverage")
    assert body["cards"][0]["indicator"] == "warning"
    assert body["cards"][0]["summary"].startswith("20552 not covered by CGS Administrators: The TPI line points to no diagnosis")


def test_bcbsa_answers_fibromyalgia_as_investigational_not_covered():
    body = answered(tpi_order_sign(payor="Blue Cross Blue Shield", diagnoses=("M79.7",)))
    info = infos(body["systemActions"][0]["resource"])[0]
    assert one(info, "covered") == "not-covered"
    assert any("(bcbsa.investigational-diagnoses)" in r["text"] for r in sub(info, "reason"))


def test_an_order_without_a_diagnosis_is_conditional_and_says_which_information_is_needed():
    req = tpi_order_sign(diagnoses=())
    req["prefetch"].pop("conditions", None)
    body = answered(req)
    for info in infos(body["systemActions"][0]["resource"]):
        assert one(info, "covered") == "conditional" and one(info, "info-needed") == "OTH"
        assert any(r["text"].startswith("Diagnosis needed:") for r in sub(info, "reason"))


def test_prefetched_conditions_give_the_diagnoses_and_resolved_ones_are_left_out():
    req = tpi_order_sign(diagnoses=())
    cond = lambda code, status: {"resourceType": "Condition", "id": code,  # noqa: E731
                                 "clinicalStatus": {"coding": [{"code": status}]},
                                 "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code}]},
                                 "subject": {"reference": "Patient/123"}}
    req["prefetch"]["conditions"] = {"resourceType": "Bundle", "type": "searchset",
                                     "entry": [{"resource": cond("M79.7", "resolved")}, {"resource": cond("M79.18", "active")}]}
    body = answered(req)
    assert {one(i, "covered") for i in infos(body["systemActions"][0]["resource"])} == {"covered"}


def test_the_configuration_can_turn_coverage_information_off_and_limit_the_cards():
    req = tpi_order_sign()
    req["extension"]["davinci-crd.configuration"] = {"coverage-info": False, "max-cards": 1}
    body = answered(req)
    assert "systemActions" not in body and len(body["cards"]) == 1


# --- appointment-book --------------------------------------------------------------------------------
def appointment_book(based_on: bool = False) -> dict:
    """An appointment-book call built from CRDServiceRequest.json's prefetch (Patient, Coverage): the
    appointment is a TPI visit (serviceType CPT 20553) on 2024-07-01."""
    req = tpi_order_sign()
    sr = req["context"].pop("draftOrders")["entry"][0]["resource"]
    appt = {"resourceType": "Appointment", "id": "apt1", "status": "proposed",
            "serviceType": [{"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "20553"}]}],
            "reasonCode": sr["reasonCode"], "start": "2024-07-01T09:00:00-05:00", "end": "2024-07-01T09:30:00-05:00",
            "participant": [{"actor": {"reference": "Patient/123"}, "status": "accepted"}]}
    if based_on:
        appt["basedOn"] = [{"reference": "ServiceRequest/1357"}]
        req["prefetch"]["serviceRequests"] = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": sr}]}
    req["hook"] = "appointment-book"
    req["context"]["appointments"] = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": appt}]}
    return req


def test_appointment_book_puts_the_coverage_information_on_the_appointment():
    body = answered(appointment_book(), "payerkb-appointment-book-crd")
    [action] = body["systemActions"]
    assert action["resource"]["resourceType"] == "Appointment"
    [info] = infos(action["resource"])
    assert one(info, "billingCode")["code"] == "20553" and one(info, "covered") == "covered"


def test_an_appointment_based_on_a_service_request_is_answered_on_the_service_request():
    body = answered(appointment_book(based_on=True), "payerkb-appointment-book-crd")
    [action] = body["systemActions"]
    assert action["resource"]["resourceType"] == "ServiceRequest" and action["resource"]["id"] == "1357"
    assert [one(i, "billingCode")["code"] for i in infos(action["resource"])] == ["20552", "20553"]


# --- bad calls ---------------------------------------------------------------------------------------
def test_an_unknown_service_is_a_404_naming_the_services():
    r = post("nope", tpi_order_sign())
    assert r.status_code == 404 and "payerkb-order-sign-crd" in r.json()["detail"]


def test_a_hook_sent_to_the_other_service_is_a_400_naming_the_field():
    r = post("payerkb-appointment-book-crd", tpi_order_sign())
    assert r.status_code == 400 and "'hook'" in r.json()["detail"]


@pytest.mark.parametrize("orders", ["notabundle", 42, {"entry": []}])
def test_draft_orders_that_are_no_bundle_are_a_400_naming_the_field(orders):
    req = tpi_order_sign()
    req["context"]["draftOrders"] = orders
    r = post("payerkb-order-sign-crd", req)
    assert r.status_code == 400 and "context.draftOrders" in r.json()["detail"] and "Bundle" in r.json()["detail"]


def test_a_body_that_is_not_json_is_a_problem_of_the_body_not_of_a_field_named_by_its_offset():
    from solver.service import problems as service_problems
    app = _app()
    service_problems.install(app)  # as the service's app does (solver/service/app.py)

    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return await client.post("/cds-services/payerkb-order-sign-crd", content=b'{"hook":',
                                     headers={"content-type": "application/json"})
    r = asyncio.run(go())
    body = r.json()
    assert r.status_code == 422 and body["field"] == "(body)"
    assert "the body is not valid JSON at character 8" in body["detail"]


def test_an_order_sign_call_without_draft_orders_is_a_400():
    req = tpi_order_sign()
    del req["context"]["draftOrders"]
    r = post("payerkb-order-sign-crd", req)
    assert r.status_code == 400 and "context.draftOrders" in r.json()["detail"]


def test_the_date_of_service_is_today_when_the_order_gives_none():
    req = tpi_order_sign(date=None)
    req["context"]["draftOrders"]["entry"][0]["resource"].pop("occurrenceDateTime", None)
    assert cds_orders.order_date(req["context"]["draftOrders"]["entry"][0]["resource"]) == (dt.date.today(), None)
    assert answered(req)["systemActions"]


@pytest.mark.parametrize("date", ["2024-02-30", "notadate"])
def test_an_order_whose_date_is_no_date_is_not_checked_as_of_today_and_its_card_names_the_field(date):
    req = tpi_order_sign(date=date)
    body = answered(req)
    assert not body.get("systemActions")  # no coverage information for an order that was not checked
    [card] = [c for c in body["cards"] if c["summary"].startswith("Some orders could not be checked")]
    assert f"occurrenceDateTime: {date!r} is not a date" in card["detail"]
    assert not [c for c in body["cards"] if "covered by" in c["summary"]]


def test_the_invariant_checks_pass_the_crd_sample_response_and_catch_a_broken_one():
    [info] = infos(sample("CRDServiceResponse.json")["systemActions"][0]["resource"])
    assert [b for b in crd_invariants(info) if b.startswith("crd-ci")] == []
    broken = copy.deepcopy(info)
    broken["extension"] = [e for e in broken["extension"] if e["url"] not in ("info-needed", "satisfied-pa-id")]
    broken["extension"].append({"url": "covered", "valueCode": "not-covered"})
    assert {"crd-ci-q2", "crd-ci-q3", "crd-ci-q5", "covered must occur once"} <= set(crd_invariants(broken))


def _procedure(pid: str, day: str, code: str = "20552", status: str = "completed") -> dict:
    return {"resourceType": "Procedure", "id": pid, "status": status, "subject": {"reference": "Patient/123"},
            "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": code}]}, "performedDateTime": day}


def test_prefetched_procedures_are_the_earlier_sessions_and_a_fourth_session_in_a_year_is_not_covered():
    req = tpi_order_sign()
    req["prefetch"]["procedures"] = {"resourceType": "Bundle", "type": "searchset", "entry": [
        {"resource": _procedure("p1", "2024-01-10")}, {"resource": _procedure("p2", "2024-03-12", "20553")},
        {"resource": _procedure("p3", "2024-05-02")},
        {"resource": _procedure("p4", "2024-05-20", status="not-done")},  # not a session
        {"resource": _procedure("p5", "2024-06-20")}]}  # after the order's day
    body = answered(req)
    for info in infos(body["systemActions"][0]["resource"]):
        assert one(info, "covered") == "not-covered"
        assert any("(lcd.tpi-frequency)" in r["text"] and r["text"].startswith("Not covered:") for r in sub(info, "reason"))
    assert not any(c["summary"].startswith("Frequency limits not checked") for c in body["cards"])
    req["prefetch"]["procedures"]["entry"] = req["prefetch"]["procedures"]["entry"][:2]  # the third session in a year
    body = answered(req)
    assert {one(i, "covered") for i in infos(body["systemActions"][0]["resource"])} == {"covered"}
    req["prefetch"]["procedures"]["entry"][1]["resource"]["performedDateTime"] = "2024-05-02"  # 39 days before
    body = answered(req)
    for info in infos(body["systemActions"][0]["resource"]):  # in the same place? the session names no muscle
        assert one(info, "covered") == "conditional"
        assert any(r["text"].startswith("Needs review: An earlier TPI 39 days ago") for r in sub(info, "reason"))


def test_the_earlier_sessions_are_those_of_completed_procedures_with_a_cpt_code_before_the_order():
    day = dt.date(2024, 6, 10)
    pre = {"procedures": [_procedure("a", "2024-06-01"), _procedure("b", "2024-06-10"), _procedure("c", "2024-02-01", "20553"),
                          {**_procedure("d", "2024-03-01"), "code": {"text": "TPI"}}, _procedure("e", "not a date"),
                          _procedure("f", "2024-04-01", status="entered-in-error")]}
    got = cds_orders.prior_sessions(pre, day)
    assert [(h["date"].isoformat(), h["code"]) for h in got] == [("2024-06-01", "20552"), ("2024-02-01", "20553")]
    assert cds_orders.prior_sessions({}, day) is None
