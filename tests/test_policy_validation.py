"""Policy files are validated strictly: every problem in every file reported at once, file: field.path: message."""
import shutil
import subprocess
import sys

import pytest
import yaml

from solver.errors import PolicyError
from solver.paths import KB_DIR, POLICIES_DIR
from solver.policy import load_policies
from solver.tables import load_ptp


@pytest.fixture
def policies(tmp_path):
    root = tmp_path / "policies"
    shutil.copytree(POLICIES_DIR, root)
    return root


def _edit(path, fn):
    data = yaml.safe_load(path.read_text())
    fn(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_every_error_in_every_file_is_reported_at_once(policies):
    cpt = policies / "rulesets" / "cpt-tpi.yaml"
    _edit(cpt, lambda d: (d["rules"][0].update(severty="error"), d["rules"][1]["params"].update(slot="knee"),
                          d["rules"][2]["params"].update(group="no-such-group")))
    cgs = policies / "payers" / "medicare-cgs.yaml"
    _edit(cgs, lambda d: d["uses"][1].update(ruleset="lcd-nowhere"))
    with pytest.raises(PolicyError) as err:
        load_policies(policies, KB_DIR)
    text = str(err.value)
    assert f"{cpt}: rules.0.severty: unknown key; remove it or check its spelling" in text
    assert f"{cpt}: rules.1.params.slot: 'knee' is not a service slot" in text
    assert f"{cpt}: rules.2.params.group: 'no-such-group' is not a code group" in text
    assert f"{cgs}: uses.1.ruleset: unknown rule set 'lcd-nowhere'" in text


def test_a_rule_without_a_citation_is_rejected(policies):
    path = policies / "rulesets" / "ncci.yaml"
    _edit(path, lambda d: d["rules"][0].update(citations=[]))
    with pytest.raises(PolicyError, match=r"rules\.0\.citations: List should have at least 1 item"):
        load_policies(policies, KB_DIR)


def test_a_bad_diagnosis_in_a_rule_is_named(policies):
    path = policies / "rulesets" / "lcd-uniform-tpi.yaml"
    _edit(path, lambda d: next(r for r in d["rules"] if r["id"] == "lcd.tpi-covered-diagnoses")["params"]["diagnoses"].append("M79.99"))
    with pytest.raises(PolicyError, match=r"params\.diagnoses: 'M79.99' is not an ICD-10-CM code"):
        load_policies(policies, KB_DIR)


def test_the_cli_exits_2_on_a_bad_policy_without_a_traceback(policies):
    (policies / "payers" / "medicare-cgs.yaml").write_text("payer: [oops\n")
    r = subprocess.run([sys.executable, "-m", "solver", "policy", "list"], capture_output=True, text=True,
                       env={"PAYERKB_POLICIES": str(policies), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "medicare-cgs.yaml: (file): not valid YAML" in r.stderr


def test_the_ptp_loader_reads_cms_layout_and_keeps_only_codes_the_rules_use(tmp_path):
    path = tmp_path / "ccipra.csv"
    path.write_text(
        "CPT only copyright 2025 American Medical Association. All rights reserved.\n"
        "Column 1,Column 2,*=in existence prior to 1996,Effective Date,Deletion Date *=no data,"
        "Modifier 0=not allowed 1=allowed 9=not applicable,PTP Edit Rationale\n"
        "20552,96372,,20090101,*,1,Misuse of column two code with column one code\n"
        "27447,20610,*,19960101,*,0,Standards of medical / surgical practice\n"
        "20610,20552,,20020101,20231231,1,Standards of medical / surgical practice\n")
    problems = []
    rows = load_ptp(path, {"20552", "96372", "20610"}, problems)
    assert not problems
    assert [(r.column1, r.column2, r.modifier_indicator) for r in rows] == [("20552", "96372", 1), ("20610", "20552", 1)]
    assert rows[1].deleted.isoformat() == "2023-12-31" and rows[0].deleted is None


def test_a_full_size_ptp_file_is_filtered_once_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("PAYERKB_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "ccipra-full.csv"
    header = ("Column 1,Column 2,*=in existence prior to 1996,Effective Date,Deletion Date *=no data,"
              "Modifier 0=not allowed 1=allowed 9=not applicable,PTP Edit Rationale\n")
    filler = "".join(f"{27000 + i % 900},{10000 + i % 5000},,20200101,*,1,Standards of medical / surgical practice\n" for i in range(40000))
    path.write_text("CPT only copyright American Medical Association.\n" + header + filler
                    + "20552,96372,,20090101,*,1,Misuse of column two code with column one code\n")
    first = load_ptp(path, {"20552", "96372"}, [])
    cached = list((tmp_path / "cache" / "payerkb").glob("ptp-*.json"))
    assert [(r.column1, r.column2) for r in first] == [("20552", "96372")]
    assert len(cached) == 1 and cached[0].stat().st_size < 1000
    assert [(r.column1, r.column2) for r in load_ptp(path, {"20552", "96372"}, [])] == [("20552", "96372")]
