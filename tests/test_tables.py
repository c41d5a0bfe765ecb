"""The national code tables: CMS's layouts read as published, provenance that matches the rows shipped, the
stated parameter for PTP rows without effective dates, strict YAML tables and a PTP cache that cannot break."""
import copy
import csv
import datetime as dt
import json
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import encounter, finding
from solver.engine import Engine
from solver.errors import PolicyError
from solver.paths import POLICIES_DIR
from solver.tables import load_mpfs, load_mue, load_ptp, load_tables

TABLES = POLICIES_DIR / "tables"
PTP_HEADER = ("Column 1,Column 2,*=in existence prior to 1996,Effective Date,Deletion Date *=no data,"
              "Modifier 0=not allowed 1=allowed 9=not applicable,PTP Edit Rationale\n")


@pytest.fixture
def tables(tmp_path):
    root = tmp_path / "tables"
    shutil.copytree(TABLES, root)
    return root


def _ncci(date, *other, payer="commercial-default"):
    """A one-muscle TPI with other procedures (code, distinct) and a claim of the TPI and those codes."""
    dx = ["M79.1"] if date < "2018-10-01" else ["M79.12"]  # M79.1 is a header from 2018-10-01
    procs = [{"code": c, "units": 1, **({"site": "elsewhere", "distinct": True} if d else {})} for c, d in other]
    lines = [{"code": c, "diagnoses": dx} for c in ["20552", *(c for c, _ in other)]]
    return encounter(payer=payer, date_of_service=date, diagnoses=dx, other_procedures=procs, claim=lines)


# --- what is shipped ---------------------------------------------------------------------------------

def test_the_shipped_tables_are_cms_rows_with_no_inferred_row_left():
    for name in ("ncci-ptp-practitioner", "mue-practitioner", "mpfs-indicators"):
        src = yaml.safe_load((TABLES / f"{name}.source.yaml").read_text())
        assert src["confidence"] == "high" and not src.get("inferred_rows")
        assert src["read_from"]["repository"] and src["in_force"]["from"]


def test_the_row_counts_in_the_provenance_match_the_files():
    ptp = list(csv.reader((TABLES / "ncci-ptp-practitioner.csv").open()))[1:]
    mue = list(csv.reader((TABLES / "mue-practitioner.csv").open()))[1:]
    mpfs = [r for r in csv.reader((TABLES / "mpfs-indicators.csv").open()) if r and r[0] and r[0] != "HCPCS"]
    counts = {n: yaml.safe_load((TABLES / f"{n}.source.yaml").read_text())["rows"]
              for n in ("ncci-ptp-practitioner", "mue-practitioner", "mpfs-indicators")}
    assert counts["ncci-ptp-practitioner"]["shipped"] == len(ptp) == 97
    assert counts["ncci-ptp-practitioner"]["shipped_deleted"] == sum(r[4] != "*" for r in ptp) == 30
    assert counts["mue-practitioner"]["shipped"] == len(mue) == 70
    assert counts["mpfs-indicators"]["shipped"] == len(mpfs) == 80


def test_the_real_rows_settle_column_order_and_indicators():
    t = load_tables(TABLES)
    active = {(r.column1, r.column2): r.modifier_indicator for r in t.ptp if r.deleted is None}
    assert active[("20553", "20552")] == 0 and active[("20552", "01991")] == 0
    assert active[("20550", "20552")] == 1 and active[("20610", "20552")] == 1 and active[("20552", "96372")] == 1
    assert ("20552", "20550") not in active and ("20552", "76942") not in active and ("20552", "77002") not in active
    assert not any({"62321", "62322", "62323"} & {r.column1, r.column2} for r in t.ptp)
    assert t.mue["20552"].value == 1 and t.mue["20552"].mai == 2 and t.mue["96372"].value == 4
    assert t.mpfs["20552"] == {"status": "A", "global": "000", "multiple": "2", "bilateral": "0"}
    assert t.mpfs["62321"]["bilateral"] == "9"


def test_a_row_without_effective_date_starts_the_day_after_an_earlier_row_of_its_codes_ended():
    rows = {(r.column1, r.column2, r.deleted): r for r in load_tables(TABLES).ptp}
    assert rows[("20552", "64400", None)].applies_from == dt.date(2017, 1, 1)  # 64400/20552 ended 2016-12-31
    assert rows[("64400", "20552", dt.date(2016, 12, 31))].applies_from is None  # no earlier row: no lower bound
    assert rows[("20552", "99211", None)].applies_from == dt.date(2020, 1, 1)
    assert rows[("20552", "64510", dt.date(2021, 6, 30))].applies_from == dt.date(2012, 1, 1)
    assert rows[("64510", "20552", None)].applies_from == dt.date(2021, 7, 1)
    assert rows[("20552", "96372", None)].known_from == dt.date(2024, 4, 1)
    assert rows[("64400", "20552", dt.date(2016, 12, 31))].known_from == dt.date(2016, 12, 31)


# --- the parameter for rows without effective dates, in the answers ------------------------------------

def _evidence(result, rule):
    return " | ".join(finding(result, rule)["evidence"])


def test_a_finding_on_an_edit_whose_start_is_unknown_says_so_before_the_quarter_and_not_after(engine):
    before = engine.check(_ncci("2023-06-10", ("96372", False)))
    assert "20552/96372" in _evidence(before, "ncci.ptp-bundled") and "start unknown" in _evidence(before, "ncci.ptp-bundled")
    assert before["outcome"] == "modify" and [l["code"] for l in before["claim"]] == ["20552"]
    after = engine.check(_ncci("2024-04-01", ("96372", False)))
    assert "start unknown" not in _evidence(after, "ncci.ptp-bundled")


def test_a_deleted_row_applies_through_its_deletion_date_and_not_after(engine):
    last = engine.check(_ncci("2016-12-31", ("64400", False)))
    assert "column 1 64400, column 2 20552" in _evidence(last, "ncci.ptp-bundled")
    assert "start unknown" not in _evidence(last, "ncci.ptp-bundled")  # in force on its deletion date: read
    earlier = engine.check(_ncci("2016-06-30", ("64400", False)))
    assert "64400/20552 is a deleted edit" in _evidence(earlier, "ncci.ptp-bundled")
    nxt = engine.check(_ncci("2017-01-01", ("64400", False)))
    assert "column 1 20552, column 2 64400" in _evidence(nxt, "ncci.ptp-bundled")
    assert [l["code"] for l in last["claim"]] == ["64400"] and [l["code"] for l in nxt["claim"]] == ["20552"]


def test_the_alternative_answers_review_for_dates_before_the_quarter(tmp_path):
    root = tmp_path / "policies"
    shutil.copytree(POLICIES_DIR, root)
    path = root / "rulesets" / "ncci.yaml"
    data = yaml.safe_load(path.read_text())
    extra = []
    for rule in data["rules"]:
        if rule["id"] in ("ncci.ptp-bundled", "ncci.ptp-modifier-required"):
            early = copy.deepcopy(rule)
            early.update(id=rule["id"] + "-before-v30-1", review=True, confidence="low", effective={"through": dt.date(2024, 3, 31)},
                         message=rule["message"] + " The edit's start date is not known: confirm it was in force on this date.")
            rule["effective"] = {"from": dt.date(2024, 4, 1)}
            extra.append(early)
    data["rules"] += extra
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    eng = Engine(policies_dir=root)
    before = eng.check(_ncci("2024-03-31", ("96372", False)))
    assert before["outcome"] == "review" and finding(before, "ncci.ptp-bundled-before-v30-1")["review"]
    after = eng.check(_ncci("2024-04-01", ("96372", False)))
    assert after["outcome"] == "modify" and "ncci.ptp-bundled-before-v30-1" not in {f["rule"] for f in after["findings"]}


# --- CMS layouts ------------------------------------------------------------------------------------

def test_a_tab_separated_ptp_file_with_cms_stacked_header_is_read(tmp_path):
    path = tmp_path / "ccipra-v301r0-f1.txt"
    path.write_text("CPT only copyright 2023 American Medical Association. All rights reserved.\n\n"
                    "Column1/Column 2 Edits\n"
                    "Column 1\tColumn 2\t*=in existence\tEffective\tDeletion\tModifier\tPTP Edit Rationale\n"
                    "\t\tprior to 1996\tDate\tDate\t0=not allowed\t\n"
                    "\t\t\t\t*=no data\t1=allowed\t\n"
                    "\t\t\t\t\t9=not applicable\n"
                    "20552\t96372\t\t20090101\t*\t1\tStandards of medical/surgical practice\n"
                    "20553\t20552\t*\t19960101\t*\t0\tMore extensive procedure\n", encoding="latin-1")
    problems = []
    rows = load_ptp(path, {"20552", "20553", "96372"}, problems)
    assert not problems
    assert [(r.column1, r.column2, r.effective, r.applies_from) for r in rows] == [
        ("20552", "96372", dt.date(2009, 1, 1), dt.date(2009, 1, 1)), ("20553", "20552", dt.date(1996, 1, 1), dt.date(1996, 1, 1))]


def test_an_mue_file_with_cms_copyright_line_above_the_header_is_read(tmp_path):
    path = tmp_path / "MCR_MUE_PractitionerServices.csv"
    path.write_text("CPT codes, descriptions and other data only are copyright 2023 American Medical Association.\n"
                    "HCPCS/CPT Code,Practitioner Services MUE Values,MUE Adjudication Indicator,MUE Rationale\n"
                    "20552,1,2 Date of Service Edit: Policy,Code Descriptor / CPT Instruction\n")
    problems = []
    assert load_mue(path, {"20552"}, problems)["20552"].mai == 2 and not problems


def test_a_ptp_row_with_indicator_9_is_never_applied(tmp_path):
    path = tmp_path / "ptp.csv"
    path.write_text(PTP_HEADER + "20552,96372,,20090101,20090101,9,Standards of medical / surgical practice\n")
    assert load_ptp(path, {"20552", "96372"}, []) == []


def test_the_stacked_pprrvu_header_is_read():
    problems = []
    mpfs = load_mpfs(TABLES / "mpfs-indicators.csv", {"20552", "76942"}, problems)
    assert not problems and mpfs == {"20552": {"status": "A", "global": "000", "multiple": "2", "bilateral": "0"},
                                     "76942": {"status": "A", "global": "XXX", "multiple": "0", "bilateral": "0"}}


def test_a_ptp_file_without_effective_dates_needs_the_first_day_in_force(tmp_path):
    path = tmp_path / "ncci-ptp-practitioner.csv"
    path.write_text(PTP_HEADER + "20552,96372,,,*,1,Standards of medical / surgical practice\n")
    problems = []
    load_ptp(path, {"20552", "96372"}, problems)
    assert [str(p) for p in problems] == [
        f"{path}: row 2: Effective Date: empty; give CMS's effective dates, or state the first day the file is in "
        "force as in_force.from in ncci-ptp-practitioner.source.yaml"]


def test_malformed_cms_rows_are_each_reported_with_file_row_and_field(tmp_path):
    ptp = tmp_path / "ptp.csv"
    ptp.write_text(PTP_HEADER + "20552,96372,,2009010,*,1,x\n20552,20560,,20200101,*,5,x\n20552,20561\n"
                   "27447,20610,,junk,*,7,a row no rule uses is not read\n")
    mue = tmp_path / "mue.csv"
    mue.write_text("HCPCS/CPT Code,Practitioner Services MUE Values,MUE Adjudication Indicator,MUE Rationale\n"
                   "20552,one,2 Date of Service Edit: Policy,x\n20553,1,Date of Service Edit,x\n")
    mpfs = tmp_path / "mpfs.csv"
    mpfs.write_text("HCPCS,MOD,STATUS CODE,GLOB DAYS,MULT PROC,BILAT SURG\n20552,,A,,2,0\n")
    problems = []
    load_ptp(ptp, {"20552", "96372", "20560", "20561"}, problems)
    load_mue(mue, {"20552", "20553"}, problems)
    load_mpfs(mpfs, {"20552"}, problems)
    assert [str(p) for p in problems] == [
        f"{ptp}: row 2: Effective Date: '2009010' is not a date; CMS writes YYYYMMDD (or * for none)",
        f"{ptp}: row 3: Modifier: '5' is not a modifier indicator; CMS writes 0, 1 or 9",
        f"{ptp}: row 4: (row): has 2 fields, the header has 7; correct the row or give the CMS file as published",
        f"{mue}: row 2: Practitioner Services MUE Values: 'one' is not a whole number",
        f"{mue}: row 3: MUE Adjudication Indicator: 'Date of Service Edit' does not start with the indicator 1, 2 or 3",
        f"{mpfs}: row 2: GLOB DAYS: empty; every fee-schedule indicator has a value"]


# --- the prefilter cache -----------------------------------------------------------------------------

def _full_file(path):
    filler = "".join(f"{27000 + i % 900},{10000 + i % 5000},,20200101,*,1,Standards of medical / surgical practice\n"
                     for i in range(40000))
    path.write_text("CPT only copyright American Medical Association.\n" + PTP_HEADER + filler
                    + "20552,96372,,20090101,*,1,Misuse of column two code with column one code\n"
                    + "20552,20560,,2020XXXX,*,1,a malformed row\n")


@pytest.mark.parametrize("damage", [b"\x00\xff garbage", b"{\"format\": \"payerkb-ptp-prefilter\", \"version\": 1, \"lines\": 3}",
                                    b"[1, 2, 3]", b"{\"format\": \"payerkb-ptp-prefilter\", \"version\": 1, \"source\": \"x\", \"lines\": []}",
                                    b"{\"format\": \"payerkb-ptp-prefilter\", \"version\": 1, \"lines\": [[1, 2, 3]]", b""],
                         ids=["binary", "lines not a list", "a list", "another file's", "truncated", "empty"])
def test_a_corrupt_or_misshapen_ptp_cache_is_rebuilt_never_a_traceback(tmp_path, monkeypatch, damage):
    monkeypatch.setenv("PAYERKB_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "ccipra-full.csv"
    _full_file(path)
    problems = []
    assert [(r.column1, r.column2) for r in load_ptp(path, {"20552", "96372", "20560"}, problems)] == [("20552", "96372")]
    (cached,) = (tmp_path / "cache" / "payerkb").glob("ptp-*.json")
    cached.write_bytes(damage)
    again = []
    assert [(r.column1, r.column2) for r in load_ptp(path, {"20552", "96372", "20560"}, again)] == [("20552", "96372")]
    assert json.loads(cached.read_text())["format"] == "payerkb-ptp-prefilter"  # rebuilt
    assert [str(p) for p in again] == [str(p) for p in problems]
    assert str(problems[0]).startswith(f"{path}: row 40004: Effective Date:")  # the row of the user's file, not the cache's


# --- strict YAML tables -------------------------------------------------------------------------------

def test_every_problem_of_code_groups_and_substances_is_reported_at_once(tables):
    groups = tables / "code-groups.yaml"
    data = yaml.safe_load(groups.read_text())
    data["code_groups"]["tpi"]["codez"] = ["20552"]
    data["code_groups"]["anesthesia_for_injection"]["codes"] = [1991, "01992"]
    data["code_groups"]["evaluation"]["codes"].append("9921")
    data["modifier_groups"]["distinct"]["modifiers"].append("XS")
    groups.write_text(yaml.safe_dump(data, sort_keys=False))
    subs = tables / "substances.yaml"
    data = yaml.safe_load(subs.read_text())
    data["classes"]["saline"]["terms"].append(" ")
    data["classes"]["steroid"]["tilte"] = "typo"
    subs.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(PolicyError) as err:
        load_tables(tables)
    text = str(err.value)
    assert f"{groups}: code_groups.tpi.codez: unknown key; remove it or check its spelling" in text
    assert f"{groups}: code_groups.anesthesia_for_injection.codes: 1991 is not quoted" in text
    assert f"{groups}: code_groups.evaluation.codes: '9921' is not a CPT/HCPCS code" in text
    assert f"{groups}: modifier_groups.distinct.modifiers: 'XS' is listed twice" in text
    assert f"{subs}: classes.saline.terms: an empty term would match every substance; remove it" in text
    assert f"{subs}: classes.steroid.tilte: unknown key; remove it or check its spelling" in text


@pytest.mark.parametrize("code", ["2055X", "J33O1", "205520", "2055"])
def test_a_code_group_code_that_no_code_set_has_the_form_of_is_rejected(tables, code):
    """A typo in a code group would change every answer that reads the group: 2055X matches no CPT or HCPCS form."""
    groups = tables / "code-groups.yaml"
    data = yaml.safe_load(groups.read_text())
    data["code_groups"]["tpi"]["codes"] = ["20552", code]
    groups.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(PolicyError) as err:
        load_tables(tables)
    assert f"{groups}: code_groups.tpi.codes: {code!r} is not a CPT/HCPCS code" in str(err.value)


@pytest.mark.parametrize("code", ["0232T", "0001F", "0001U", "0001M", "J3301", "01991"])
def test_a_code_group_takes_every_cpt_category_and_hcpcs_level_ii_form(tables, code):
    groups = tables / "code-groups.yaml"
    data = yaml.safe_load(groups.read_text())
    data["code_groups"]["tendon_injections"]["codes"].append(code)
    groups.write_text(yaml.safe_dump(data, sort_keys=False))
    assert code in load_tables(tables).code_groups["tendon_injections"]


def test_a_source_file_with_an_unknown_key_is_rejected(tables):
    src = tables / "mue-practitioner.source.yaml"
    src.write_text(src.read_text() + "confidance: high\n")
    with pytest.raises(PolicyError, match=r"mue-practitioner.source.yaml: confidance: unknown key"):
        load_tables(tables)


def test_the_cli_exits_2_on_a_bad_code_table_without_a_traceback(tmp_path):
    root = tmp_path / "policies"
    shutil.copytree(POLICIES_DIR, root)
    (root / "tables" / "substances.yaml").write_text("classes:\n  saline: {title: Saline, terms: []}\n")
    r = subprocess.run([sys.executable, "-m", "solver", "policy", "list"], capture_output=True, text=True,
                       env={"PAYERKB_POLICIES": str(root), "PAYERKB_CACHE": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "substances.yaml: classes.saline.terms: List should have at least 1 item" in r.stderr
