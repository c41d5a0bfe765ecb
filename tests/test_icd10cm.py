"""ICD-10-CM on the date of service, by the release in force: four real releases, the dated changes that
matter, strict loading of the ICD tables, and a cached index that is rebuilt when it is bad."""
import csv
import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import encounter, rules
from solver import icd10cm
from solver.errors import PolicyError
from solver.icd10cm import CodeSet, Coverage
from solver.paths import KB_DIR, POLICIES_DIR
from solver.policy import load_policies

CS = load_policies(POLICIES_DIR, KB_DIR).codeset
D = dt.date.fromisoformat
DAY = dt.timedelta(days=1)
TABLES = POLICIES_DIR / "tables"
SOURCE = yaml.safe_load((TABLES / "icd10cm-releases.source.yaml").read_text(encoding="utf-8"))
RELEASES = SOURCE["releases"]
with (TABLES / "icd10cm-releases.csv").open(encoding="utf-8") as _fh:
    ROWS = list(csv.DictReader(_fh))
# A copy of the shared extract icd10cm/tpi-codes-by-release.csv (see its PROVENANCE.md): the status of the
# codes that matter for TPIs in each release, read from the same wheels by other means.
BY_RELEASE = Path(__file__).parent / "data" / "icd10cm-tpi-codes-by-release.csv"


def judged(code, day):
    j = CS.judge(code, D(day))
    return j.status, j.flag


@pytest.mark.parametrize("code,day,status", [
    ("M79.1", "2018-09-30", "billable"), ("M79.1", "2018-10-01", "header"),
    ("M79.12", "2018-09-30", "invalid"), ("M79.12", "2018-10-01", "billable"),
    ("M54.5", "2021-09-30", "billable"), ("M54.5", "2021-10-01", "header"),
    ("M54.50", "2021-09-30", "invalid"), ("M54.50", "2021-10-01", "billable"),
    ("M54.2", "2024-06-10", "billable"), ("G44.209", "2024-06-10", "billable"),
    ("G44.20", "2024-06-10", "header"), ("M79.99", "2024-06-10", "invalid"),
])
def test_status_on_the_date_of_service(code, day, status):
    assert CS.status(code, D(day)) == status


def test_the_code_set_is_the_real_one():
    assert len(icd10cm.index()["codes"]) > 70000


def test_the_installed_code_set_is_the_newest_release_of_the_history():
    base = SOURCE["baseline"]
    assert icd10cm.index()["digest"] == base["code_set_sha256"] == icd10cm.code_set_digest(icd10cm.index()["codes"])
    assert len(icd10cm.index()["codes"]) == base["codes"] == RELEASES[-1]["codes"]


def test_excludes1_comes_from_the_code_sets_own_notes():
    pairs = CS.excludes1_pairs(["M79.12", "M79.7"])
    assert ("M79.12", "M79.7") in {(a, b) for a, b, _ in pairs}
    assert not CS.excludes1_pairs(["M79.12", "M54.2"])


def test_a_header_code_on_a_claim_is_corrected_to_the_documented_leaf(engine):
    r = engine.check(encounter(payer="commercial-default", date_of_service="2022-01-10", diagnoses=["M54.5", "M54.50"],
                               injections=[{"muscle": "quadratus lumborum", "side": "left", "substance": "lidocaine", "dose": "1 mL"}],
                               claim=[{"code": "20552", "diagnoses": ["M54.5"]}]))
    assert "icd10.billable-on-date" in rules(r)
    assert r["claim"][0]["diagnoses"] == ["M54.50"] and r["outcome"] == "modify"


# --- codes added, deleted and changed between the releases held ---------------------------------------------

def test_a_code_deleted_between_two_releases_is_valid_before_and_invalid_after():
    # T40.7X1A (poisoning by cannabis) is in the FY2021 file and gone from FY2024 (FY2023 expanded T40.7).
    assert judged("T40.7X1A", "2021-09-30") == ("billable", None)
    assert judged("T40.7X1A", "2022-06-01") == ("billable", "uncertain")
    assert judged("T40.7X1A", "2023-09-30") == ("billable", "uncertain")
    assert judged("T40.7X1A", "2023-10-01") == ("invalid", None)
    # S30.1XXA is in April 2025 and gone from April 2026.
    assert judged("S30.1XXA", "2025-09-30") == ("billable", None)
    assert judged("S30.1XXA", "2026-04-01") == ("invalid", None)


def test_a_code_added_between_two_releases_is_invalid_before_and_billable_from_the_later_release():
    # M62.5A0 (muscle wasting, back) is in FY2024, not in FY2021.
    assert judged("M62.5A0", "2021-09-30") == ("invalid", None)
    assert judged("M62.5A0", "2021-10-01") == ("invalid", "uncertain")
    assert judged("M62.5A0", "2023-10-01") == ("billable", None)
    # M62.85 is in April 2025, not in FY2024; QA0.0101 is new in April 2026.
    assert judged("M62.85", "2024-03-31") == ("invalid", None)
    assert judged("M62.85", "2024-06-10") == ("invalid", "uncertain")
    assert judged("M62.85", "2025-04-01") == ("billable", None)
    assert judged("QA0.0101", "2025-09-30") == ("invalid", None)
    assert judged("QA0.0101", "2026-04-01") == ("billable", None)


def test_a_billable_code_that_gets_subcodes_becomes_a_header_at_the_later_release():
    # G35 (multiple sclerosis) is billable in April 2025 and a header in April 2026.
    assert judged("G35", "2025-09-30") == ("billable", None)
    assert judged("G35", "2025-12-01") == ("billable", "uncertain")
    assert judged("G35", "2026-04-01") == ("header", None)
    note = CS.judge("G35", D("2025-12-01")).note
    assert "FY2025-Apr" in note and "FY2026-Apr" in note and "FY2026 (2025-10-01)" in note and "2026-04-01" in note


def test_a_header_that_loses_its_subcodes_becomes_billable(tmp_path):
    # No code of the releases held went from header to billable; a row of that kind is read the same way.
    tables = _tables(tmp_path)
    with (tables / "icd10cm-releases.csv").open("a", encoding="utf-8") as fh:
        fh.write("FY2026-Apr,M79.7,header,billable\n")
    cs = CodeSet(tables / "icd10cm-changes.yaml")
    assert cs.judge("M79.7", D("2025-09-30")).status == "header"
    assert (cs.judge("M79.7", D("2025-10-01")).status, cs.judge("M79.7", D("2025-10-01")).flag) == ("header", "uncertain")
    assert cs.status("M79.7", D("2026-04-01")) == "billable"


def test_a_dated_change_pins_the_day_the_releases_cannot():
    # M54.5 and M54.50 changed in FY2022 (addenda): certain on 2022-01-01, while M62.5A0 of the same window is not.
    assert judged("M54.5", "2022-01-01") == ("header", None)
    assert judged("M54.50", "2022-01-01") == ("billable", None)
    assert judged("M62.5A0", "2022-01-01")[1] == "uncertain"
    # Before the earliest release held, the FY2019 change of M79.1 decides.
    assert judged("M79.1", "2017-06-01") == ("billable", None)
    assert judged("M79.10", "2017-06-01") == ("invalid", None)


def test_a_dated_change_after_the_newest_release_decides(tmp_path):
    tables = _tables(tmp_path)
    path = tables / "icd10cm-changes.yaml"
    path.write_text(path.read_text(encoding="utf-8") +
                    "  - code: M79.7\n    valid_through: 2026-12-31\n    source: a deletion of FY2027 read ahead\n",
                    encoding="utf-8")
    cs = CodeSet(path)
    assert [cs.status("M79.7", D(d)) for d in ("2026-09-30", "2026-12-31", "2027-01-01")] == ["billable", "billable", "invalid"]


def test_the_2015_10_01_boundary_of_icd10cm():
    assert judged("M54.5", "2015-09-30") == ("invalid", "before_icd10")
    assert judged("M54.5", "2015-10-01") == ("billable", None)
    assert CS.status("M79.7", D("2015-09-30")) == "invalid"
    cov = CS.coverage(D("2015-09-30"))
    assert cov.release is None and cov.kind == "before_icd10" and "ICD-9-CM" in cov.note
    cov = CS.coverage(D("2015-10-01"))
    assert cov.release == "FY2021-Jan" and cov.kind == "before_releases" and "dated changes" in cov.note


def test_the_coverage_names_the_releases_not_held_between_two_held_ones():
    cov = CS.coverage(D("2022-06-01"))
    assert cov.release == "FY2021-Jan" and cov.kind == "between_releases"
    assert "FY2022 (2021-10-01)" in cov.note and "FY2023 (2022-10-01)" in cov.note and "FY2024" in cov.note
    cov = CS.coverage(D("2027-01-15"))
    assert cov.release == "FY2026-Apr" and cov.kind == "after_releases" and "2026-09-30" in cov.note


@pytest.mark.parametrize("rel", RELEASES, ids=[r["id"] for r in RELEASES])
def test_each_release_judges_from_its_first_day_through_its_last_known_day(rel):
    first, last = D(rel["effective_from"]), D(rel["known_in_force_through"])
    assert CS.coverage(first) == Coverage(rel["id"], "in_force") == CS.coverage(last)
    before, after = CS.coverage(first - DAY), CS.coverage(last + DAY)
    if rel is RELEASES[0]:  # judged by the earliest release with the dated changes, and said so
        assert before.kind == "before_releases" and before.release == rel["id"]
    else:
        assert before.kind == "between_releases" and before.release != rel["id"]
    assert after.kind in ("between_releases", "after_releases") and after.release == rel["id"]
    # every code the release changed has the earlier status the day before and the later one on its first day
    mine = [r for r in ROWS if r["release"] == rel["id"] and r["code"] not in CS.changes]
    assert mine or rel is RELEASES[0]
    kb = {"absent": "invalid", "billable": "billable", "header": "header"}
    for row in mine:
        assert CS.status(row["code"], first - DAY) == kb[row["before"]], row
        assert CS.status(row["code"], first) == kb[row["after"]], row


# --- the derived data agrees with the shared extract --------------------------------------------------------

def test_the_releases_agree_with_the_tpi_codes_by_release_extract():
    with BY_RELEASE.open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header, rows = rows[0], rows[1:]
    columns = {"FY2021": "2021-06-01", "FY2024": "2023-10-01", "FY2025_Apr": "2025-04-01", "FY2026_Apr": "2026-04-01"}
    where = {name: next(i for i, h in enumerate(header) if h.startswith(name)) for name in columns}
    gem = next(i for i, h in enumerate(header) if h.startswith("GEM"))
    assert len(rows) >= 28
    for row in rows:
        code = row[0]
        for name, day in columns.items():
            want = row[where[name]]
            got = CS.judge(code, D(day))
            assert got.flag is None and CS.coverage(D(day)).kind == "in_force"
            if want == "not-billable-or-absent":
                assert got.status in ("header", "invalid"), (code, name)
            else:
                assert got.status == {"absent": "invalid"}.get(want, want), (code, name)
        # a code of the ICD-10-CM to ICD-9 GEM older than FY2017 was billable then; one absent from it was not
        assert (CS.status(code, D("2016-06-01")) == "billable") == (row[gem] == "present"), code


def test_the_source_names_each_wheel_file_and_sha256():
    for rel in RELEASES:
        assert rel["wheel"].endswith(".whl") and len(rel["wheel_sha256"]) == 64 and len(rel["file_sha256"]) == 64
        assert rel["file"] and rel["effective_from"] <= rel["known_in_force_through"]
    assert [g["between"] for g in SOURCE["not_held"]] == [[a["id"], b["id"]] for a, b in zip(RELEASES, RELEASES[1:])]
    counted = {}
    for r in ROWS:
        counted.setdefault(r["release"], {}).setdefault(f"{r['before']}->{r['after']}", 0)
        counted[r["release"]][f"{r['before']}->{r['after']}"] += 1
    assert counted == SOURCE["rows"]


def test_status_is_fast_enough_to_call_for_every_diagnosis():
    import timeit
    n = 20000
    per_call = timeit.timeit(lambda: CS.status("M54.50", D("2024-06-10")), number=n) / n
    assert per_call < 20e-6


# --- strict loading of the ICD tables -----------------------------------------------------------------------

def _tables(tmp_path):
    tables = tmp_path / "tables"
    tables.mkdir()
    for name in ("icd10cm-changes.yaml", "icd10cm-releases.csv", "icd10cm-releases.source.yaml"):
        shutil.copy(TABLES / name, tables / name)
    return tables


def _problems(tables) -> str:
    with pytest.raises(PolicyError) as err:
        CodeSet(tables / "icd10cm-changes.yaml")
    return str(err.value)


def test_every_problem_of_the_dated_changes_is_reported_at_once(tmp_path):
    tables = _tables(tmp_path)
    path = tables / "icd10cm-changes.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("  - code: M79.1\n    billable_through: 2018-09-30", "  - code: M79.1\n    billable_thru: 2018-09-30", 1)
    text = text.replace("    valid_from: 2021-10-01\n    source: FY2022 ICD-10-CM tabular addenda, new code effective 2021-10-01\n  - code: M54.51",
                        "    valid_from: 2021-02-30\n    source: FY2022 ICD-10-CM tabular addenda, new code effective 2021-10-01\n  - code: M54.51", 1)
    text += ("  - code: M62.830\n    valid_from: 2014-01-01\n    source: a typo\n"
             "  - code: M62.831\n    billable_from: 2022-01-01\n    billable_through: 2021-01-01\n    source: reversed\n"
             "  - code: M54.59\n    valid_from: 2021-10-01\n    source: listed twice\n")
    text = text.replace("source:\n  title:", "sources:\n  title:", 1)
    path.write_text(text, encoding="utf-8")
    msg = _problems(tables)
    assert f"{path}: changes.0.billable_thru: unknown key; remove it or check its spelling" in msg
    assert f"{path}: changes.6.valid_from: Input should be a valid date" in msg
    assert f"{path}: changes.9: valid_from 2014-01-01 is before ICD-10-CM took effect (2015-10-01)" in msg
    assert f"{path}: changes.10: billable_through 2021-01-01 is before billable_from 2022-01-01" in msg
    assert f"{path}: changes.11.code: M54.59 is already changed by changes.8" in msg
    assert f"{path}: sources: unknown key" in msg and f"{path}: source: required field is missing" in msg


def test_a_dated_change_that_contradicts_a_held_release_is_an_error(tmp_path):
    tables = _tables(tmp_path)
    path = tables / "icd10cm-changes.yaml"
    path.write_text(path.read_text(encoding="utf-8") +
                    "  - code: M79.7\n    valid_from: 2022-01-01\n    source: contradicts FY2021\n", encoding="utf-8")
    msg = _problems(tables)
    assert (f"{path}: changes.9: M79.7 says invalid on 2021-01-01, but FY2021-Jan (in force 2021-01-01 to 2021-09-30) "
            "has it billable; fix the date or remove the change") in msg


def test_a_bad_release_table_row_is_named_with_its_row(tmp_path):
    tables = _tables(tmp_path)
    path = tables / "icd10cm-releases.csv"
    with path.open("a", encoding="utf-8") as fh:
        fh.write("FY2022,M54.50,absent,billable\nFY2024,M54.2,billable,billable\nFY2024,M54.2x,gone,billable,extra\n")
    n = len(ROWS) + 2
    msg = _problems(tables)
    assert f"{path}: row {n}: release: 'FY2022' is not one of the later releases" in msg
    assert f"{path}: row {n + 1}: after: the same as before; a row is a change" in msg
    assert f"{path}: row {n + 2}: (row): expected 4 columns" in msg


def test_a_release_table_that_does_not_chain_with_the_installed_code_set_is_an_error(tmp_path):
    tables = _tables(tmp_path)
    path = tables / "icd10cm-releases.csv"
    n = 2 + next(i for i, r in enumerate(ROWS) if (r["release"], r["code"]) == ("FY2026-Apr", "G35"))
    path.write_text(path.read_text(encoding="utf-8").replace("FY2026-Apr,G35,billable,header", "FY2026-Apr,G35,billable,absent"),
                    encoding="utf-8")
    assert f"{path}: row {n}: after: G35 is header in FY2026-Apr by the installed code set" in _problems(tables)


def test_a_bad_release_source_is_reported_field_by_field(tmp_path):
    tables = _tables(tmp_path)
    path = tables / "icd10cm-releases.source.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["releases"][1]["effective_form"] = "2023-10-01"
    data["releases"][2]["known_in_force_through"] = "2025-09-31"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    msg = _problems(tables)
    assert f"{path}: releases.1.effective_form: unknown key" in msg
    assert f"{path}: releases.2.known_in_force_through: Input should be a valid date" in msg


def test_another_installed_code_set_than_the_history_baseline_is_named(tmp_path):
    tables = _tables(tmp_path)
    path = tables / "icd10cm-releases.source.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["baseline"]["code_set_sha256"] = "0" * 64
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    assert "install simple-icd-10-cm==1.5.0, or derive the history again" in _problems(tables)


def test_the_cli_names_a_bad_icd_table_without_a_traceback(tmp_path):
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES_DIR, policies)
    path = policies / "tables" / "icd10cm-changes.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("billable_through: 2018-09-30", "billable_through: 2018-13-01"),
                    encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "solver", "policy", "list"], capture_output=True, text=True,
                       env={"PAYERKB_POLICIES": str(policies), "PATH": "/usr/bin:/bin", "HOME": str(Path.home())})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "icd10cm-changes.yaml: changes.0.billable_through: Input should be a valid date" in r.stderr


# --- the cached index ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("content", [
    b"[1, 2, 3]",
    b'{"codes": {"M54.5": 1}}',
    b'{"codes": {"M54.5": "yes"}, "excludes1": {}, "digest": "' + b"0" * 64 + b'"}',
    b'{"codes": {"M54.5": true}, "excludes1": {"M54.5": "not a list"}, "digest": "' + b"0" * 64 + b'"}',
    b'{"codes": {}, "excludes1": {}, "digest": 7}',
    b'{"codes": {"M54.5": 1}, "excl',
    b"\x00\xff\xfe not text",
], ids=["a list", "missing keys", "a string for a flag", "a note that is not a list", "empty and a number digest",
        "cut short", "not UTF-8"])
def test_a_bad_cached_index_is_rebuilt(tmp_path, monkeypatch, content):
    monkeypatch.setenv("PAYERKB_CACHE", str(tmp_path))
    monkeypatch.setattr(icd10cm, "_INDEX", None)
    path = icd10cm.cache_dir() / f"icd10cm-index-v2-{icd10cm.metadata.version('simple-icd-10-cm')}.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    idx = icd10cm.index()
    assert idx["codes"]["M54.50"] == 1 and idx["codes"]["M54.5"] == 0
    assert idx["digest"] == SOURCE["baseline"]["code_set_sha256"]
    assert json.loads(path.read_text(encoding="utf-8"))["digest"] == idx["digest"]  # written again, well formed
