"""POST /v1/explain through the running service: the same answers as the command line, problems for bad input."""
import pytest

from tests.test_service import EXAMPLES, Server, _problem


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("explain"), "--workers", "1")
    yield srv
    srv.stop()


def test_explain_answers_why_not_missing_and_sensitivity_for_one_encounter(server):
    enc = EXAMPLES[1]  # enc-0002: left and right trapezius, a distinct knee injection
    why = server.client.post("/v1/explain?why_not=20553", json=enc).json()
    assert why["asked"] == {"code": "20553", "modifiers": []}
    assert "cpt.tpi-code-by-muscle-count" in [f["rule"] for f in why["broken"]]
    miss = server.client.post("/v1/explain?missing=true", json=EXAMPLES[2]).json()
    assert miss["target"] == {"outcome": "allow"} and "alternatives" in miss and "searched" in miss
    flips = server.client.post("/v1/explain?sensitivity=true", json=enc).json()
    assert any(f["facts"][0]["path"] == "documentation.trigger_points_on_exam" and f["outcome"] == "deny" for f in flips["flips"])


def test_explain_with_a_bad_question_or_body_is_a_422_problem_naming_the_field(server):
    _problem(server.client.post("/v1/explain?why_not=99", json=EXAMPLES[0]), 422, "why_not")
    _problem(server.client.post("/v1/explain?missing=true&sensitivity=true", json=EXAMPLES[0]), 422, "sensitivity")
    _problem(server.client.post("/v1/explain?missing=true&target=x", json=EXAMPLES[0]), 422, "target")
    _problem(server.client.post("/v1/explain?sensitivity=true", json=dict(EXAMPLES[0], payer="nobody")), 422, "payer")
