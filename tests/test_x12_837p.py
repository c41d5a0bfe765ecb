"""X12 837P interchanges in: one encounter per claim (CLM), every claim a result."""
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from solver.formats import x12_837p
from solver.reading import read_bytes

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "data" / "x12" / "tpi-cgs.x12"
SAMPLES = ROOT.parent / "shared" / "samples" / "x12-837p"
SAMPLE_FILES = sorted(SAMPLES.glob("*.edi")) if SAMPLES.is_dir() else []


def recs(data: bytes, source="claims.x12"):
    return list(read_bytes(data, source))


def fixture(**swap) -> bytes:
    data = FIXTURE.read_bytes()
    for old, new in swap.items():
        data = data.replace(old.encode(), new.encode())
    return data


def messages(rec) -> str:
    return " | ".join(f"{p.field}: {p.message}" for p in rec.problems or [])


def test_an_interchange_is_recognised_by_its_isa_segment_after_whitespace():
    assert x12_837p.sniff(b"\r\n  ISA*00*", "x") and not x12_837p.sniff(b'{"id": "ISA"}', "x")
    assert "x12_837p" in __import__("solver.formats", fromlist=["INPUTS"]).INPUTS


def test_delimiters_are_read_from_the_isa_segment_not_assumed():
    d = x12_837p.delimiters(FIXTURE.read_text())
    assert (d.element, d.repetition, d.component, d.segment) == ("*", "^", ">", "~")
    other = FIXTURE.read_text().replace("*", "|").replace(">", ":").replace("~", "\n")
    d2 = x12_837p.delimiters(other)
    assert (d2.element, d2.component, d2.segment) == ("|", ":", "\n")
    enc = recs(other.encode())[0].encounter
    assert enc.claim[0].code == "20552" and enc.claim[0].modifiers == ["59"]


def test_a_claim_becomes_an_encounter_with_codes_modifiers_units_pointers_date_and_payer():
    first = recs(FIXTURE.read_bytes())[0]
    assert first.problems is None, messages(first)
    enc = first.encounter
    assert enc.id == "TPI-1" and enc.payer == "medicare-cgs" and enc.date_of_service == dt.date(2024, 6, 10)
    assert enc.diagnoses == ["M79.12", "M54.2"]
    assert [(l.code, l.modifiers, l.units, l.diagnoses) for l in enc.claim] == [
        ("20552", ["59"], 1, ["M79.12", "M54.2"]), ("99213", ["25"], 1, ["M54.2"])]
    assert enc.injections == [] and "interchange 000000101, transaction 0101" in first.source


def test_a_date_range_gives_its_first_day():
    enc = recs(fixture(**{"UNKNOWN PLAN*****PI*99999": "Cigna*****PI*62308"}))[1].encounter
    assert enc.payer == "cigna" and enc.date_of_service == dt.date(2024, 6, 10)
    assert enc.claim[0].code == "20553"


def test_a_payer_the_map_does_not_know_is_a_problem_naming_the_identifiers_tried():
    second = recs(FIXTURE.read_bytes())[1]
    assert second.encounter is None and second.raw_id == "TPI-2"
    text = messages(second)
    assert "payor_id '99999'" in text and "plan 'GRP-77'" in text and "name 'UNKNOWN PLAN'" in text


def test_icd9_diagnoses_are_answered_as_an_icd9_claim():
    rec = recs(fixture(**{"HI*ABK>M7912*ABF>M542": "HI*BK>7291*BF>7231"}))[0]
    assert rec.encounter is None
    assert "ICD-9-CM" in messages(rec) and "7291, 7231" in messages(rec) and "needs ICD-10-CM (ABK/ABF)" in messages(rec)


def test_a_pointer_to_no_diagnosis_and_minutes_are_problems_of_the_line():
    rec = recs(fixture(**{"SV1*HC>99213>25*130*UN*1***2": "SV1*HC>99213>25*130*UN*1***5",
                          "SV1*HC>20552>59*120*UN*1": "SV1*HC>20552>59*120*MJ*30"}))[0]
    assert "line 2 SV107" in messages(rec) and "'5' points to no HI code" in messages(rec)
    assert "line 1 SV103" in messages(rec) and "MJ (minutes)" in messages(rec)


def test_a_malformed_segment_costs_its_transaction_only_and_the_claim_is_still_a_record():
    out = recs(fixture(**{"SV1*HC>20552>59*120*UN*1***1>2": "SV1*HC>20552>59*120*UN*ONE***1>2",
                          "UNKNOWN PLAN*****PI*99999": "Cigna*****PI*62308"}))
    assert [r.raw_id for r in out] == ["TPI-1", "TPI-2"]
    assert out[0].encounter is None and "parser could not read" in messages(out[0]) and "service_unit_count" in messages(out[0])
    assert out[1].encounter is not None


def test_a_broken_isa_segment_is_one_problem_of_the_interchange():
    out = recs(b"ISA*00*short~")
    assert len(out) == 1 and "16" in messages(out[0])


def run(*args):
    return subprocess.run([sys.executable, "-m", "solver", *map(str, args)], capture_output=True, text=True, cwd=ROOT)


def test_the_command_line_answers_each_claim_of_the_fixture():
    r = run("check", FIXTURE, "--format", "json")
    assert "Traceback" not in r.stderr and r.returncode == 2
    out = json.loads(r.stdout)
    assert [o["encounter"] for o in out] == ["TPI-1", "TPI-2"]
    assert out[0]["payer"] == "medicare-cgs" and out[1]["outcome"] == "error"


@pytest.mark.skipif(not SAMPLE_FILES, reason="the shared X12 837P samples are not here")
@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.stem)
def test_every_implementation_guide_sample_gives_one_result_per_claim_without_a_traceback(path):
    claims = path.read_text().count("CLM*")
    r = run("check", path, "--format", "json")
    assert "Traceback" not in r.stderr
    out = json.loads(r.stdout)
    assert len(out) == claims
    for o in out:  # the samples are ICD-9 claims of 2004-2006: answered as such
        assert o["outcome"] == "error" and any("ICD-9-CM" in e["message"] for e in o["errors"]), o


def test_an_837p_tpi_claim_is_checked_as_a_claim_and_names_the_checks_that_need_the_note():
    from solver.engine import Engine
    from solver.reading import read_file
    rec = next(iter(read_file(str(Path(__file__).parent / "data" / "x12" / "tpi-cgs.x12")))).resolve()
    assert rec.encounter.procedure_note is False
    r = Engine().check(rec.encounter)
    assert [line["code"] for line in r["claim"]] == ["20552", "99213"]  # neither line is stripped as undocumented
    rules = {f["rule"] for f in r["findings"]}
    assert "claim.line-documented" not in rules and "claim.note-needed" in rules
