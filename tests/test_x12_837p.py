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
    assert out[0].encounter is None and [p.field for p in out[0].problems] == ["line 1 SV104 (segment 20)"]
    assert "'ONE'" in messages(out[0]) and "service_unit_count" not in messages(out[0])
    assert out[1].encounter is not None


SV1_LINE_1 = "SV1*HC>20552>59*120*UN*1***1>2"


def problems_of(rec) -> dict[str, str]:
    return {p.field: p.message for p in rec.problems or []}


@pytest.mark.parametrize("units, says", [("ONE", "is 'ONE': input should be a valid decimal"),
                                         ("-1", "is '-1': input should be greater than 0"),
                                         ("", "is empty"),
                                         ("1.5", "units 1.5 of 20552 are not a whole number")])
def test_a_bad_sv104_is_named_at_its_sv1_segment_and_element_with_what_to_give(units, says):
    rec = recs(fixture(**{SV1_LINE_1: f"SV1*HC>20552>59*120*UN*{units}***1>2"}))[0]
    assert rec.encounter is None and rec.raw_id == "TPI-1"
    (field, message), = problems_of(rec).items()
    assert field == "line 1 SV104 (segment 20)"  # the SV1 is the 20th segment of the interchange (and line 20 of the file)
    assert says in message and "SV104" in message and "e.g. 1" in message
    assert "loop_2000a" not in message and "CLM" not in field


@pytest.mark.parametrize("swap, field, says", [
    ({"DTP*472*D8*20240610~\nLX*2": "DTP*472*D8*20241340~\nLX*2"}, "line 1 DTP03 (segment 21)", "'20241340'"),
    ({"*2~\nDTP*472*D8*20240610": "*2~\nDTP*472*D8*2024061"}, "line 2 DTP03 (segment 24)", "'2024061' is not CCYYMMDD (D8)"),
    ({"*2~\nDTP*472*D8*20240610": "*2~\nDTP*472*D8*202406101200"}, "line 2 DTP03 (segment 24)", "'202406101200' is not CCYYMMDD"),
    ({"DTP*472*D8*20240610~\nLX*2": "DTP*472*D9*20240610~\nLX*2"}, "line 1 DTP02 (segment 21)", "'D9'")])
def test_a_bad_service_date_is_named_at_its_dtp_segment_and_element_with_what_to_give(swap, field, says):
    rec = recs(fixture(**swap))[0]
    assert rec.encounter is None
    found = problems_of(rec)
    assert list(found) == [field], found  # the date written wrong, not also "no date of service"
    assert says in found[field] and ("CCYYMMDD" in found[field] or "D8" in found[field])


def test_a_date_range_that_ends_wrong_or_before_it_starts_is_a_problem_not_its_first_day():
    cigna = {"UNKNOWN PLAN*****PI*99999": "Cigna*****PI*62308"}
    for written, says in (("20240610-2024", "is not CCYYMMDD-CCYYMMDD (RD8)"), ("20240612-20240610", "ends before it starts")):
        rec = recs(fixture(**cigna, **{"RD8*20240610-20240612": f"RD8*{written}"}))[1]
        assert rec.encounter is None and list(problems_of(rec)) == ["line 1 DTP03 (segment 44)"]
        assert says in messages(rec)


def test_a_bad_value_in_one_claim_names_its_segment_and_the_other_claims_of_its_transaction_are_told_where():
    second = "CLM*TPI-1B*120***11>B>1*Y*A*Y*Y~\nHI*ABK>M7912~\nLX*1~\nSV1*HC>20552*120*UN*X***1~\nDTP*472*D8*20240610~\n"
    out = recs(fixture(**{"SE*23*0101~": second + "SE*28*0101~"}))
    assert [r.raw_id for r in out] == ["TPI-1", "TPI-1B", "TPI-2"]
    assert list(problems_of(out[1])) == ["line 1 SV104 (segment 28)"] and "'X'" in messages(out[1])
    (field, message), = problems_of(out[0]).items()
    assert field == "CLM (segment 17)" and "line 1 SV104 (segment 28) of claim TPI-1B" in message and "fix that segment" in message


def test_a_wrong_se01_says_how_many_segments_to_give():
    rec = recs(fixture(**{"SE*23*0101~": "SE*29*0101~"}))[0]
    assert "SE01 (segment 25)" in messages(rec) and "give SE01 23" in messages(rec)


def test_a_line_without_its_dtp_segment_names_the_line_and_what_to_add():
    rec = recs(fixture(**{"*2~\nDTP*472*D8*20240610~\n": "*2~\n", "SE*23*0101": "SE*22*0101"}))[0]
    (field, message), = problems_of(rec).items()
    assert field == "line 2 LX (segment 22)" and "no readable DTP segment" in message and "add DTP*472*D8*CCYYMMDD" in message


def test_a_diagnosis_the_contract_rejects_is_named_once_at_its_hi_element_not_by_model_path():
    rec = recs(fixture(**{"HI*ABK>M7912*ABF>M542": "HI*ABK>M7912*ABF>1234"}))[0]
    assert list(problems_of(rec)) == ["HI02 (segment 18)"] and "'123.4' is not an ICD-10-CM code" in messages(rec)
    empty = recs(fixture(**{"HI*ABK>M7912*ABF>M542": "HI*ABK>M7912*ABF"}))[0]
    assert list(problems_of(empty)) == ["HI02 (segment 18)"] and "ABF has no code after it" in messages(empty)


def test_positions_count_segments_when_the_interchange_is_one_line_with_other_delimiters():
    text = FIXTURE.read_text().replace(SV1_LINE_1, "SV1*HC>20552>59*120*UN*ONE***1>2").replace("~\n", "~")
    text = text.replace("*", "|").replace(">", ":")
    rec = recs(text.encode())[0]
    assert list(problems_of(rec)) == ["line 1 SV104 (segment 20)"] and "e.g. 1" in messages(rec)


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


def test_a_bad_payer_segment_and_a_segment_with_too_many_elements_are_named_at_their_segments():
    rec = recs(fixture(**{"NM1*PR*2*CGS": "NM1*PR*X*CGS"}))[0]
    (field, message), = problems_of(rec).items()
    assert field == "CLM (segment 17)" and "NM102 (segment 16)" in message and "is 'X'" in message  # the 2010BB NM1, not the first NM1
    rec = recs(fixture(**{SV1_LINE_1: SV1_LINE_1 + "*" * 30}))[0]
    (field, message), = problems_of(rec).items()
    assert field == "line 1 SV1 (segment 20)" and "remove the extra elements" in message


def test_a_claim_total_that_is_not_its_lines_sum_and_a_date_given_twice_say_what_to_give():
    rec = recs(fixture(**{"CLM*TPI-1*250": "CLM*TPI-1*200"}))[0]
    assert problems_of(rec) == {"CLM02 (segment 17)": "CLM02, the claim's total charge, is 200; its lines' charges (SV102) "
                                                      "add up to 250.0: give CLM02 250.0, or fix the lines' charges"}
    rec = recs(fixture(**{"DTP*472*D8*20240610~\nLX*2": "DTP*472*D8*20240610~\nDTP*472*D8*20240610~\nLX*2",
                          "SE*23*0101": "SE*24*0101"}))[0]
    assert problems_of(rec) == {"line 1 LX (segment 19)": "the line has more than one DTP segment with the code 472: keep one"}
