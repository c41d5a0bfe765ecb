"""POST /v1/whatif and POST /v1/compare through the app (its lifespan, worker pool and problem details)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from solver.service.app import create_app
from solver.service.state import Settings

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = json.loads(json.dumps(yaml.safe_load((ROOT / "examples" / "encounters.yaml").read_text()), default=str))
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    log = tmp_path_factory.mktemp("explore") / "decisions.jsonl"
    with TestClient(create_app(Settings(workers=1, decision_log=str(log)))) as c:
        yield c


def two_muscles() -> dict:
    data = dict(EXAMPLES[0], injections=EXAMPLES[0]["injections"][:2])
    data.pop("claim")
    return data


def _problem(resp, field: str) -> dict:
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    body = resp.json()
    assert body["field"] == field, body
    return body


def test_whatif_answers_each_set_entry_as_a_variant(client):
    resp = client.post("/v1/whatif", json={"encounter": two_muscles(), "set": {
        "injections[2]": {"muscle": "levator scapulae", "side": "right", "substance": "lidocaine 1%", "dose": "1 mL"},
        "documentation.trigger_points_on_exam": False}})
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["baseline"]["claim"][0]["code"] == "20552"
    third, no_exam = out["variants"]
    assert third["claim"]["to"][0]["code"] == "20553" and third["outcome"] is None
    assert no_exam["changes"] == [{"path": "documentation.trigger_points_on_exam", "value": False}]
    assert no_exam["outcome"] == {"from": "allow", "to": "deny"} and no_exam["findings_added"]


def test_whatif_takes_a_merge_patch_or_a_json_patch_with_the_same_answer(client):
    third = {"muscle": "levator scapulae", "side": "right", "substance": "lidocaine 1%", "dose": "1 mL"}
    merge = client.post("/v1/whatif", json={"encounter": two_muscles(), "patch": {"injections": two_muscles()["injections"] + [third]}}).json()
    ops = client.post("/v1/whatif", json={"encounter": two_muscles(), "patch": [{"op": "add", "path": "/injections/-", "value": third}]}).json()
    strip = lambda v: {k: v[k] for k in ("changes", "outcome", "claim", "findings_added", "findings_removed")}
    assert strip(merge["variants"][0]) == strip(ops["variants"][0])


def test_whatif_with_a_bad_path_is_a_422_naming_the_path(client):
    body = _problem(client.post("/v1/whatif", json={"encounter": EXAMPLES[0], "set": {"injections[9].muscle": "trapezius"}}),
                    "injections[9].muscle")
    assert "give an index up to 3" in body["detail"]
    _problem(client.post("/v1/whatif", json={"encounter": EXAMPLES[0], "set": {"documentation.foo": 1}}), "documentation.foo")
    _problem(client.post("/v1/whatif", json={"encounter": {"id": "x"}, "set": {"payer": "cigna"}}), "encounter.payer")
    _problem(client.post("/v1/whatif", json={"encounter": EXAMPLES[0], "set": {"payer": "nobody"}}), "payer")


def test_compare_answers_one_row_per_payer_and_the_change_dates_of_a_range(client):
    out = client.post("/v1/compare?payers=cigna,medicare-cgs", json=EXAMPLES[0]).json()
    assert [r["payer"] for r in out["rows"]] == ["cigna", "medicare-cgs"]
    assert out["common_claim"][0]["code"] == "20553"
    out = client.post("/v1/compare?from=2024-01-01&to=2025-06-30", json=EXAMPLES[2]).json()
    dates = {c["date"]: c for c in out["change_dates"]}
    assert dates["2025-01-14"]["outcome"] == "allow" and dates["2024-04-01"]["payer"] == "medicare-cgs"


def test_compare_with_bad_parameters_is_a_422_naming_them(client):
    _problem(client.post("/v1/compare?payers=nobody", json=EXAMPLES[0]), "payers")
    _problem(client.post("/v1/compare?from=2024-01-01", json=EXAMPLES[0]), "to")
    _problem(client.post("/v1/compare?dates=2024-13-01", json=EXAMPLES[0]), "dates")
    _problem(client.post("/v1/compare", json={"id": "x"}), "payer")
