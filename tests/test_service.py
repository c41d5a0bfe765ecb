"""The HTTP service, driven through a real client (httpx) against `payerkb serve` running in a subprocess."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import yaml

from solver import allocator
from solver.encounter import Encounter

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = json.loads(json.dumps(yaml.safe_load((ROOT / "examples" / "encounters.yaml").read_text()), default=str))
PROBLEM = "application/problem+json"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, tmp: Path, *args: str):
        self.port = _free_port()
        self.log = tmp / f"decisions-{self.port}.jsonl"
        self.err_path = tmp / f"stderr-{self.port}.txt"  # a file, not a pipe: no child process can hold it open
        self._err = self.err_path.open("wb")
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen([sys.executable, "-m", "solver", "serve", "--port", str(self.port),
                                      "--decision-log", str(self.log), *args],
                                     cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=self._err)
        deadline = time.time() + 90
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server stopped: {self.err_path.read_text(errors='replace')}")
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError("the server did not become ready")
        self.client = httpx.Client(base_url=self.url, timeout=60)

    def decisions(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def stop(self) -> str:
        """Stop the server with SIGTERM; what it said on standard error."""
        self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        self._err.close()
        return self.err_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("service"), "--workers", "2", "--max-body", "200000", "--max-records", "50")
    yield srv
    srv.stop()


def _problem(resp: httpx.Response, status: int, field: str) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    body = resp.json()
    assert body["status"] == status and body["field"] == field
    assert body["type"].startswith("urn:payerkb:problem:") and body["title"] and body["detail"]
    return body


# --- POST /v1/check ----------------------------------------------------------------------------------
def test_one_encounter_is_answered_with_the_corrected_claim_and_its_findings(server):
    resp = server.client.post("/v1/check", json=EXAMPLES[0])
    assert resp.status_code == 200
    r = resp.json()
    assert r["encounter"] == "enc-0001" and r["outcome"] == "modify"
    assert r["claim"] == [{"code": "20553", "modifiers": [], "units": 1, "diagnoses": ["M79.12"]}]
    assert "cpt.tpi-code-by-muscle-count" in [f["rule"] for f in r["findings"]]
    assert all(f["citations"] for f in r["findings"] if f["severity"] == "error")
    assert r["policy"]["version"].startswith("sha256:") and len(r["decision"]["id"]) == 32


def test_a_list_is_answered_in_order_with_the_same_results_as_the_command_line(server, tmp_path):
    resp = server.client.post("/v1/check", json=EXAMPLES)
    assert resp.status_code == 200
    got = resp.json()
    path = tmp_path / "encounters.json"
    path.write_text(json.dumps(EXAMPLES))
    cli = subprocess.run([sys.executable, "-m", "solver", "check", "--format", "json", str(path)], cwd=ROOT,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True)
    expected = json.loads(cli.stdout)
    assert [r["outcome"] for r in got] == ["modify", "allow", "deny"]
    assert [{k: v for k, v in r.items() if k != "decision"} for r in got] == expected
    assert got[1]["claim"][0]["modifiers"] == ["50", "XS"]
    assert {"lcd.tpi-frequency", "data.coverage"} <= {f["rule"] for f in got[2]["findings"]}


def test_a_bad_record_in_a_list_is_an_error_result_naming_its_field_and_the_others_are_answered(server):
    bad = dict(EXAMPLES[0], id="bad-1", diagnoses=["not-a-code"])
    resp = server.client.post("/v1/check", json=[EXAMPLES[0], bad, dict(EXAMPLES[1], payer="no-such-payer")])
    assert resp.status_code == 200
    first, second, third = resp.json()
    assert first["outcome"] == "modify"
    assert second["outcome"] == "error" and second["encounter"] == "bad-1"
    assert second["errors"][0]["field"] == "diagnoses.0" and "ICD-10-CM" in second["errors"][0]["message"]
    assert third["outcome"] == "error" and third["errors"][0]["field"] == "payer"


def test_an_id_used_twice_in_one_request_is_an_error_of_the_second(server):
    resp = server.client.post("/v1/check", json=[EXAMPLES[0], EXAMPLES[0]])
    first, second = resp.json()
    assert first["outcome"] == "modify"
    assert second["outcome"] == "error" and second["errors"][-1]["field"] == "id"


def test_json_lines_are_read_line_by_line_and_a_bad_line_costs_only_itself(server):
    body = json.dumps(EXAMPLES[0]) + "\n{not json\n" + json.dumps(EXAMPLES[2]) + "\n"
    resp = server.client.post("/v1/check", content=body, headers={"content-type": "application/x-ndjson"})
    assert resp.status_code == 200
    assert [r["outcome"] for r in resp.json()] == ["modify", "error", "deny"]
    assert "not valid JSON" in resp.json()[1]["errors"][0]["message"]


def test_what_if_payer_and_date_are_query_parameters(server):
    resp = server.client.post("/v1/check", params={"payer": "cigna", "date": "2024-01-02"}, json=EXAMPLES[0])
    r = resp.json()
    assert resp.status_code == 200 and r["payer"] == "cigna" and r["date_of_service"] == "2024-01-02"
    assert r["policy"]["payer"] == "cigna"


def test_one_invalid_encounter_is_a_422_problem_naming_the_field(server):
    body = _problem(server.client.post("/v1/check", json=dict(EXAMPLES[0], date_of_service="2024-13-40")),
                    422, "date_of_service")
    assert body["errors"][0]["field"] == "date_of_service" and body["instance"] == "/v1/check"
    _problem(server.client.post("/v1/check", json={k: v for k, v in EXAMPLES[0].items() if k != "payer"}), 422, "payer")
    _problem(server.client.post("/v1/check", json=dict(EXAMPLES[0], payer="nobody")), 422, "payer")
    _problem(server.client.post("/v1/check", json=dict(EXAMPLES[0], claim=[{"code": "20552", "units": 0}])),
             422, "claim.0.units")


def test_malformed_bodies_and_parameters_are_4xx_problems_never_500(server):
    c = server.client
    assert "not valid YAML or JSON" in _problem(c.post("/v1/check", content=b"{\"id\": ", headers={"content-type": "application/json"}),
                                                 422, "(body)")["detail"]
    _problem(c.post("/v1/check", content=b"", headers={"content-type": "application/json"}), 422, "(body)")
    _problem(c.post("/v1/check", content=b"[]", headers={"content-type": "application/json"}), 422, "(body)")
    _problem(c.post("/v1/check", content=b"\xff\xfe", headers={"content-type": "application/json"}), 422, "(body)")
    _problem(c.post("/v1/check", content=b"x", headers={"content-type": "text/csv"}), 415, "Content-Type")
    _problem(c.post("/v1/check", params={"payer": "nobody"}, json=EXAMPLES[0]), 422, "payer")
    _problem(c.post("/v1/check", params={"date": "yesterday"}, json=EXAMPLES[0]), 422, "date")
    nested = b"[" * 5000 + b"]" * 5000
    assert c.post("/v1/check", content=nested, headers={"content-type": "application/json"}).status_code in (200, 422)
    _problem(c.get("/v1/nothing"), 404, None)
    _problem(c.get("/v1/check"), 405, None)


@pytest.mark.parametrize("kind, body, says", [
    ("application/edi-x12", b"hello", "no X12 837P interchange"),
    ("application/fhir+json", b"hello", "not valid JSON"),
    ("application/fhir+json", b'{"resourceType": "Claim",', "not valid JSON"),
    ("application/fhir+json", b'{"id": "enc-1", "payer": "cigna"}', "no FHIR resource (it has no resourceType)")])
def test_a_body_sent_as_fhir_or_x12_that_is_none_is_a_422_saying_what_is_wrong(server, kind, body, says):
    resp = server.client.post("/v1/check", content=body, headers={"content-type": kind})
    assert says in _problem(resp, 422, "(body)")["detail"]


def test_a_body_over_the_size_limit_is_a_413_and_too_many_records_a_422(server):
    big = json.dumps([EXAMPLES[0]] * 400).encode()
    assert len(big) > 200000
    _problem(server.client.post("/v1/check", content=big, headers={"content-type": "application/json"}), 413, "(body)")
    many = [dict(EXAMPLES[1], id=f"e{n}") for n in range(51)]
    assert "more than 50" in _problem(server.client.post("/v1/check", json=many), 422, "(body)")["detail"]


def test_each_decision_is_one_log_line_with_hashes_and_no_patient_data(server):
    r = server.client.post("/v1/check", json=dict(EXAMPLES[0], id="logged-1")).json()
    line = next(d for d in server.decisions() if d["decision_id"] == r["decision"]["id"])
    assert line["payer"] == "medicare-cgs" and line["date_of_service"] == "2024-06-10" and line["outcome"] == "modify"
    assert line["rules"] == sorted({f["rule"] for f in r["findings"]})
    assert line["policy_version"] == r["policy"]["version"]
    from solver.service.decision_log import input_hash
    assert line["input_sha256"] == input_hash(Encounter.model_validate(dict(EXAMPLES[0], id="logged-1")))
    text = server.log.read_text()
    assert "P-0042" not in text and "logged-1" not in text and "trapezius" not in text


# --- the other endpoints -----------------------------------------------------------------------------
def test_payers_are_listed_with_the_rule_sets_they_adopt(server):
    payers = {p["id"]: p for p in server.client.get("/v1/payers").json()}
    assert {"medicare-cgs", "cigna", "bcbsa"} <= set(payers)
    assert "lcd-uniform-tpi" in [u["ruleset"] for u in payers["medicare-cgs"]["uses"]]
    assert "ncci" in [u["ruleset"] for u in payers["cigna"]["uses"]]


def test_the_rules_in_force_on_a_date_are_the_command_lines_with_citations(server, engine):
    from solver.report import policy_rules
    import datetime as dt
    body = server.client.get("/v1/payers/medicare-cgs/rules", params={"date": "2024-06-10"}).json()
    assert body["date"] == "2024-06-10"
    assert [r["rule"] for r in body["rules"]] == [r["rule"] for r in policy_rules(engine, "medicare-cgs", dt.date(2024, 6, 10))]
    assert "lcd.tpi-frequency" in [r["rule"] for r in body["rules"]] and all(r["citations"] for r in body["rules"])
    _problem(server.client.get("/v1/payers/nobody/rules"), 404, "id")
    _problem(server.client.get("/v1/payers/cigna/rules", params={"date": "2024-02-30"}), 422, "date")


def test_the_encounter_schema_and_the_openapi_document_come_from_the_contract_models(server):
    assert server.client.get("/v1/schema/encounter").json() == Encounter.model_json_schema()
    doc = server.client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert set(schemas["Encounter"]["required"]) == {"id", "payer", "date_of_service"}
    assert "ClaimLine" in schemas and "Injection" in schemas
    content = doc["paths"]["/v1/check"]["post"]["requestBody"]["content"]
    assert {"application/json", "application/fhir+json", "application/edi-x12"} <= set(content)
    assert {"/v1/payers", "/v1/payers/{id}/rules", "/v1/schema/encounter", "/healthz", "/readyz"} <= set(doc["paths"])


def test_the_docs_page_loads_nothing_from_elsewhere(server):
    resp = server.client.get("/docs")
    assert resp.status_code == 200 and "/v1/check" in resp.text and "/openapi.json" in resp.text
    assert "<script" not in resp.text and "cdn" not in resp.text.lower()


def test_health_and_readiness(server):
    assert server.client.get("/healthz").json() == {"status": "ok"}
    ready = server.client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["workers"] == 2
    # `payerkb serve` restarted itself on mimalloc where it is installed, and its workers inherited it
    assert ready["allocator"] == ("mimalloc" if allocator.library() and os.environ.get("PAYERKB_ALLOCATOR") != "system" else "system")


# --- resilience --------------------------------------------------------------------------------------
def _workers(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-ww", "-o", "pid=,args=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in out.splitlines() if "spawn_main" in line]


def test_a_worker_that_dies_costs_no_more_than_its_request_and_the_pool_is_rebuilt(server):
    workers = _workers(server.proc.pid)
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)
    time.sleep(0.5)
    codes = [server.client.post("/v1/check", json=EXAMPLES[0]).status_code for _ in range(3)]
    assert set(codes) <= {200, 503} and codes[-1] == 200
    assert server.client.get("/readyz").json()["pools_rebuilt"] >= 1
    now = _workers(server.proc.pid)
    assert now and workers[0] not in now  # the new pool starts its workers as the work needs them


def test_a_request_that_runs_too_long_is_a_504_and_the_service_stays_up(tmp_path):
    srv = Server(tmp_path, "--workers", "1", "--timeout", "0.001")
    try:
        _problem(srv.client.post("/v1/check", json=[dict(EXAMPLES[0], id=f"t{n}") for n in range(40)]), 504, None)
        assert srv.client.get("/healthz").status_code == 200
        assert srv.client.get("/v1/payers").status_code == 200
    finally:
        assert "Application shutdown complete" in srv.stop()


def test_shutdown_finishes_the_request_in_flight_and_log_inputs_logs_the_encounter(tmp_path):
    srv = Server(tmp_path, "--workers", "1", "--log-inputs")
    many = [dict(EXAMPLES[n % 3], id=f"s{n}") for n in range(300)]
    got: dict = {}
    sender = threading.Thread(target=lambda: got.update(resp=srv.client.post("/v1/check", json=many)))
    sender.start()
    time.sleep(0.5)  # the request is in the solver
    srv.proc.send_signal(signal.SIGTERM)
    sender.join(120)
    assert "Application shutdown complete" in srv.stop()
    resp = got["resp"]
    assert resp.status_code == 200 and len(resp.json()) == 300
    assert [r["outcome"] for r in resp.json()[:3]] == ["modify", "allow", "deny"]
    lines = srv.decisions()
    assert len(lines) == 300 and lines[0]["encounter"] == "s0" and lines[0]["input"]["patient"] == "P-0042"


# --- the checker routers depend on -------------------------------------------------------------------
def test_a_router_gets_the_checker_through_get_checker_and_each_result_carries_its_decision(tmp_path):
    import uvicorn
    from fastapi import APIRouter, Depends

    from solver.service.app import create_app
    from solver.service.deps import get_checker
    from solver.service.state import Settings

    extra = APIRouter()

    @extra.post("/test/check")
    async def via_checker(body: list[dict], check=Depends(get_checker)):
        return await check([Encounter.model_validate(e) for e in body])

    app = create_app(Settings(workers=1, decision_log=str(tmp_path / "log.jsonl")))
    app.include_router(extra)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    try:
        deadline = time.time() + 60
        while not srv.started and time.time() < deadline:
            time.sleep(0.1)
        results = httpx.post(f"http://127.0.0.1:{port}/test/check", json=EXAMPLES, timeout=60).json()
        assert [r["outcome"] for r in results] == ["modify", "allow", "deny"]
        assert results[0]["claim"][0]["code"] == "20553"
        logged = [json.loads(line)["decision_id"] for line in (tmp_path / "log.jsonl").read_text().splitlines()]
        assert logged == [r["decision"]["id"] for r in results] and all(r["decision"]["time"] for r in results)
    finally:
        srv.should_exit = True
        thread.join(60)


# --- every door of the field, through the running service -----------------------------------------------
DATA = Path(__file__).resolve().parent / "data"


def test_a_fhir_claim_posted_as_fhir_json_is_answered_as_the_command_line_answers_it(server):
    body = (DATA / "fhir" / "claim-tpi-note.json").read_bytes()
    resp = server.client.post("/v1/check", content=body, headers={"content-type": "application/fhir+json"})
    assert resp.status_code == 200, resp.text
    results = resp.json() if isinstance(resp.json(), list) else [resp.json()]
    assert results[0]["outcome"] != "error" and [line["code"] for line in results[0]["claim"]][:1] in (["20552"], ["20553"])


def test_an_837p_interchange_is_answered_claim_by_claim_and_a_claim_without_a_note_says_so(server):
    body = (DATA / "x12" / "tpi-cgs.x12").read_bytes()
    resp = server.client.post("/v1/check", content=body, headers={"content-type": "application/edi-x12"})
    assert resp.status_code == 200, resp.text
    results = resp.json()
    assert [r["encounter"] for r in results] == ["TPI-1", "TPI-2"]
    assert "claim.note-needed" in {f["rule"] for f in results[0]["findings"]}
    assert results[1]["outcome"] == "error" and results[1]["errors"][0]["field"] == "payer"


def test_cds_hooks_discovery_is_served_beside_the_check_route(server):
    resp = server.client.get("/cds-services")
    assert resp.status_code == 200
    hooks = {s["hook"] for s in resp.json()["services"]}
    assert {"order-sign", "appointment-book"} <= hooks
