"""Policy files are validated strictly: every problem in every file reported at once, file: field.path: message."""
import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import replace_in as _replace
from solver.engine import Engine
from solver.errors import PolicyError
from solver.paths import KB_DIR, POLICIES_DIR
from solver.policy import load_policies
from solver.tables import load_ptp


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


# --- every policy file as strict as the rule sets: each problem named, all at once, never a traceback ---

def _problems(policies) -> str:
    with pytest.raises(PolicyError) as err:
        Engine(policies_dir=policies)
    return str(err.value)


def _cli(policies, *args):
    return subprocess.run([sys.executable, "-m", "solver", "--policies", str(policies), *args],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)


def test_an_impossible_date_in_a_rule_set_or_a_payer_is_named_with_every_other_error(policies):
    cigna = policies / "rulesets" / "cigna-mm0139.yaml"
    _replace(cigna, "effective: {from: 2025-09-26}", "effective: {from: 2025-09-31}")
    cgs = policies / "payers" / "medicare-cgs.yaml"
    _replace(cgs, "from: 2024-04-01", "from: 2024-04-31")
    _replace(cgs, "published: 2024-02-15", "published: 2024-02-30")
    ncci = policies / "rulesets" / "ncci.yaml"
    _edit(ncci, lambda d: d["rules"][0].update(severity="fatal"))
    text = _problems(policies)
    assert f"{cigna}: rules.3.effective.from: '2025-09-31' is not a date: day is out of range for month" in text
    assert f"{cgs}: uses.2.from: '2024-04-31' is not a date: day is out of range for month" in text
    assert f"{cgs}: uses.2.cite.uniform-lcd.published: '2024-02-30' is not a date" in text
    assert f"{ncci}: rules.0.severity: Input should be 'error', 'warning' or 'info'" in text


def test_an_impossible_date_parameter_is_named(policies):
    path = policies / "rulesets" / "commercial-default.yaml"
    _replace(path, "max_sessions: 4, window_days: 365}", "max_sessions: 4, window_days: 365, count_from: 2024-02-30}")
    assert f"{path}: rules.2.params.count_from: '2024-02-30' is not a date" in _problems(policies)


def test_a_number_where_a_date_belongs_is_not_read_as_a_day_of_1970(policies):
    path = policies / "payers" / "medicare-cgs.yaml"
    _replace(path, "from: 2024-04-01", "from: 0")
    assert f"{path}: uses.2.from: 0 is not a date: a date is expected as YYYY-MM-DD" in _problems(policies)


def test_the_cli_names_an_impossible_date_without_a_traceback(policies):
    _replace(policies / "payers" / "medicare-wps.yaml", "from: 2024-04-01", "from: 2024-13-01")
    r = _cli(policies, "policy", "list")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "medicare-wps.yaml: uses.2.from: '2024-13-01' is not a date: month must be in 1..12" in r.stderr


def test_a_payer_use_whose_through_is_before_its_from_is_rejected(policies):
    path = policies / "payers" / "medicare-wps.yaml"
    _edit(path, lambda d: next(u for u in d["uses"] if u.get("through")).update({"from": dt.date(2024, 4, 1)}))
    assert f"{path}: uses.1: 'through' (2024-03-31) is before 'from' (2024-04-01)" in _problems(policies)


def test_a_negative_count_in_a_rule_or_a_payer_override_is_rejected_with_the_field_named(policies):
    rules = policies / "rulesets" / "commercial-default.yaml"
    _replace(rules, "max_sessions: 4,", "max_sessions: -1,")
    payer = policies / "payers" / "cigna.yaml"
    _edit(payer, lambda d: d["uses"][3].update(params={"cigna.interval-21-days": {"days": -21}}))
    text = _problems(policies)
    assert f"{rules}: rules.2.params.max_sessions: -1 is below 0" in text
    assert f"{payer}: uses.3.params.cigna.interval-21-days.days: -21 is below 1" in text


def test_a_percent_over_100_is_rejected(policies):
    path = policies / "rulesets" / "evicore-cmm-202.yaml"
    _replace(path, "min_percent: 50", "min_percent: 150")
    assert f"{path}: rules.2.params.min_percent: 150 is above 100" in _problems(policies)


def test_a_liability_category_or_an_injectate_class_that_does_not_exist_is_rejected(policies):
    national = policies / "rulesets" / "medicare-national.yaml"
    _replace(national, "categories: [coverage, frequency]", "categories: [coverage, frequncy]")
    evicore = policies / "rulesets" / "evicore-cmm-202.yaml"
    _replace(evicore, "classes: [saline, dextrose, biologic, botulinum_toxin]", "classes: [saline, dextrose, biologics]")
    text = _problems(policies)
    assert f"{national}: rules.3.params.categories: 'frequncy' is not a rule category" in text
    assert f"{evicore}: rules.0.params.classes: 'biologics' is not an injectate class of policies/tables/substances.yaml" in text


def test_a_code_band_whose_max_is_below_its_min_is_rejected(policies):
    path = policies / "rulesets" / "cpt-tpi.yaml"
    _edit(path, lambda d: d["rules"][0]["params"]["bands"][0].update(min=3, max=2))
    assert f"{path}: rules.0.params.bands: band 20552: max 2 is below min 3" in _problems(policies)


def test_a_type_that_kb_families_does_not_know_is_reported_for_the_family(tmp_path, policies):
    kb = tmp_path / "kb"
    shutil.copytree(KB_DIR, kb)
    _replace(kb / "families.yaml", "max: int}", "max: integer}")
    with pytest.raises(PolicyError) as err:
        load_policies(policies, kb)
    assert f"{kb / 'families.yaml'}: families.unit_limit.params.max: unknown type 'integer'" in str(err.value)


def test_an_unknown_key_in_the_muscle_table_is_rejected_with_every_other_error(policies):
    path = policies / "tables" / "muscles.yaml"
    _replace(path, "    synonyms: [masseters, maseter, musculus masseter]", "    synonym: [masseters]")
    _replace(path, "      - {name: superficial masseter}", "      - {name: superficial masseter, regoin: head}")
    _replace(path, "unnamed_terms:", "unnamed_term:")
    ncci = policies / "rulesets" / "ncci.yaml"
    _edit(ncci, lambda d: d["rules"][0].update(severity="fatal"))
    text = _problems(policies)
    assert f"{path}: muscles.0.synonym: unknown key" in text
    assert f"{path}: muscles.0.parts.0.regoin: unknown key" in text
    assert f"{path}: unnamed_term: unknown key" in text
    assert f"{ncci}: rules.0.severity:" in text


def test_a_muscle_in_a_region_the_table_does_not_list_is_named(policies):
    path = policies / "tables" / "muscles.yaml"
    _replace(path, "    region: head\n    paired: true\n    synonyms: [masseters", "    region: face\n    paired: true\n    synonyms: [masseters")
    assert f"{path}: muscles.0.region: unknown region 'face'" in _problems(policies)


def test_excluding_or_overriding_a_rule_the_rule_set_does_not_have_is_named(policies):
    path = policies / "payers" / "cigna.yaml"
    _edit(path, lambda d: d["uses"][3].update(exclude=["cigna.no-such-rule", "cigna.interval-21-days", "cigna.interval-21-days"],
                                              params={"cigna.interval-21-dayz": {"days": 30}}))
    text = _problems(policies)
    assert f"{path}: uses.3.exclude.0: 'cigna.no-such-rule' is not a rule of rule set cigna-mm0139" in text
    assert f"{path}: uses.3.exclude.2: 'cigna.interval-21-days' is excluded twice" in text
    assert f"{path}: uses.3.params.cigna.interval-21-dayz: 'cigna.interval-21-dayz' is not a rule of rule set cigna-mm0139" in text


def test_overriding_the_params_of_an_excluded_rule_is_named(policies):
    path = policies / "payers" / "cigna.yaml"
    _edit(path, lambda d: d["uses"][3].update(exclude=["cigna.interval-21-days"], params={"cigna.interval-21-days": {"days": 30}}))
    assert f"{path}: uses.3.params.cigna.interval-21-days: the rule is excluded by this use" in _problems(policies)


def test_a_use_that_adopts_no_rule_is_named(policies):
    rules = policies / "rulesets" / "acme-2019.yaml"
    rules.write_text(yaml.safe_dump({"ruleset": "acme-2019", "title": "Acme 2019", "rules": [
        {**yaml.safe_load((policies / "rulesets" / "commercial-default.yaml").read_text())["rules"][2],
         "id": "acme.frequency-2019", "effective": {"through": dt.date(2019, 12, 31)}}]}, sort_keys=False))
    path = policies / "payers" / "cigna.yaml"
    _edit(path, lambda d: d["uses"].append({"ruleset": "acme-2019", "version": "acme", "from": dt.date(2020, 1, 1)}))
    assert f"{path}: uses.5: adopts no rule: every rule of acme-2019 is excluded or dated outside 2020-01-01..(open)" in _problems(policies)


def test_a_version_label_reused_with_other_dates_is_named(policies):
    path = policies / "payers" / "medicare-wps.yaml"
    _edit(path, lambda d: d["uses"][2].update(version=d["uses"][1]["version"]))
    assert f"{path}: uses.2.version: the version 'L34588' is also used by uses.1 with other dates" in _problems(policies)


def test_a_rule_in_force_twice_on_one_day_for_a_payer_is_named(policies):
    path = policies / "payers" / "cigna.yaml"
    _edit(path, lambda d: d["uses"].append({"ruleset": "ncci", "version": "ncci-2024", "from": dt.date(2024, 1, 1)}))
    line = next(p for p in _problems(policies).splitlines() if p.startswith(f"{path}: uses.5: rules "))
    assert "ncci.ptp-bundled, " in line and " are also in force under version 'ncci' (uses.1) from 2024-01-01" in line


def test_an_include_cycle_is_named(policies):
    path = policies / "rulesets" / "cpt-tpi.yaml"
    _edit(path, lambda d: d.update(includes=["medicare-national"]))
    assert f"{path}: includes: rule set cpt-tpi includes itself (cpt-tpi -> medicare-national -> cpt-tpi)" in _problems(policies)


def test_a_key_given_twice_in_a_policy_file_is_named(policies):
    path = policies / "payers" / "medicare-cgs.yaml"
    _replace(path, "    from: 2024-04-01\n", "    from: 2024-04-01\n    from: 2025-04-01\n")
    assert f"{path}: (file): not valid YAML at line 21: the key 'from' is given twice" in _problems(policies)


def test_a_policy_file_the_loader_would_skip_is_named(policies):
    shutil.copy(policies / "payers" / "cigna.yaml", policies / "payers" / "acme.yml")
    path = policies / "payers" / "acme.yml"
    assert f"{path}: (file): not read: policy files end in .yaml; rename it" in _problems(policies)


def test_cases_naming_rules_that_do_not_exist_or_unknown_expectations_are_all_named(policies):
    first = policies / "rulesets" / "commercial-default.cases.yaml"

    def spoil(d):
        d["cases"][0]["passes"].append("commercial.frequence")
        d["cases"][1]["violates"] = ["commercial.bilateral-modifier-5O"]
        d["cases"][1]["expect"] = {"outcome": "denied", "claim": [{"code": "20552", "modifer": ["50"]}]}
        d["cases"][2]["violate"] = ["commercial.modifier-50-without-bilateral"]
    _edit(first, spoil)
    second = policies / "rulesets" / "cigna-mm0139.cases.yaml"
    _edit(second, lambda d: d["cases"][0].update(violates=["cigna.interval-21-days"], passes=["cigna.interval-21-days"]))
    r = _cli(policies, "test")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert f"{first}: cases.0.passes.5: 'commercial.frequence' is not a rule of the policies" in r.stderr
    assert f"{first}: cases.1.violates.0: 'commercial.bilateral-modifier-5O' is not a rule of the policies" in r.stderr
    assert f"{first}: cases.1.expect.outcome: Input should be 'allow', 'modify', 'review' or 'deny'" in r.stderr
    assert f"{first}: cases.1.expect.claim.0.modifer: unknown key" in r.stderr
    assert f"{first}: cases.2.violate: unknown key" in r.stderr
    assert f"{second}: cases.0.passes.0: 'cigna.interval-21-days' is also listed under violates" in r.stderr


@pytest.mark.parametrize("kind,key", [("ruleset", "rules"), ("payer", "uses"), ("cases", "cases"), ("muscles", "muscles")])
def test_the_schema_of_each_kind_of_policy_file_is_printed_from_the_models_that_validate_it(kind, key):
    r = _cli(POLICIES_DIR, "schema", "--policy", kind)
    assert r.returncode == 0, r.stderr
    schema = json.loads(r.stdout)
    assert key in schema["properties"] and schema.get("additionalProperties") is False


def test_an_unknown_kind_of_policy_schema_is_named():
    r = _cli(POLICIES_DIR, "schema", "--policy", "rulez")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "--policy: unknown kind 'rulez'; use one of" in r.stderr


def test_an_empty_payer_file_is_named_not_skipped(policies):
    path = policies / "payers" / "acme.yaml"
    path.write_text("# a payer to come\n")
    assert f"{path}: (file): the file is empty" in _problems(policies)
