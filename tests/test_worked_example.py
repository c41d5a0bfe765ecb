"""The worked example of the common guidance: right trapezius + right rhomboid major = 20552; adding right
levator scapulae = 20553."""
import pytest

from conftest import encounter, inj, rules

TWO = [inj("right trapezius"), inj("rhomboid major")]
THREE = TWO + [inj("levator scapulae")]


@pytest.mark.parametrize("payer", ["medicare-cgs", "commercial-default"])
def test_trapezius_and_rhomboid_major_are_coded_20552(engine, payer):
    r = engine.check(encounter(payer=payer, injections=TWO))
    assert [l["code"] for l in r["claim"]] == ["20552"]
    assert r["claim"][0]["units"] == 1
    assert "cpt.tpi-code-by-muscle-count" not in rules(r)


@pytest.mark.parametrize("payer", ["medicare-cgs", "commercial-default"])
def test_adding_levator_scapulae_makes_it_20553(engine, payer):
    r = engine.check(encounter(payer=payer, injections=THREE))
    assert [l["code"] for l in r["claim"]] == ["20553"]
    assert r["outcome"] == "allow"


def test_a_submitted_20552_for_three_muscles_is_corrected_to_20553_with_its_citation(engine):
    r = engine.check(encounter(injections=THREE, claim=[{"code": "20552", "diagnoses": ["M79.12"]}]))
    assert r["outcome"] == "modify"
    assert r["claim"][0]["code"] == "20553"
    f = next(f for f in r["findings"] if f["rule"] == "cpt.tpi-code-by-muscle-count")
    assert f["line"] == 1 and f["severity"] == "error" and f["corrected"] is True
    assert "20553" in f["message"] and f["citations"]
    assert "injected levator scapulae right" in f["evidence"]


def test_injections_and_trigger_points_are_not_counted(engine):
    many = [inj("upper trapezius", trigger_points=5), inj("upper trapezius", trigger_points=2)]
    r = engine.check(encounter(injections=many))
    assert r["claim"][0]["code"] == "20552"


def test_right_and_left_trapezius_count_as_two_and_one_more_makes_three(engine):
    both = [inj("trapezius", "left"), inj("trapezius", "right")]
    assert engine.check(encounter(payer="commercial-default", injections=both))["claim"][0]["code"] == "20552"
    r = engine.check(encounter(payer="commercial-default", injections=both + [inj("levator scapulae")]))
    assert r["claim"][0]["code"] == "20553"
