"""An analyst sees every independent problem of a policies folder in one run: a problem in one part of a file
does not hide the problems of its other parts, a duplicate rule id is found beside other errors and names both
rules, and what depends on a rule set that did not load is said once, not reported as an error of its own."""
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import replace_in as _replace
from solver.engine import Engine
from solver.errors import PolicyError
from solver.paths import POLICIES_DIR


def _problems(policies) -> list[str]:
    with pytest.raises(PolicyError) as err:
        Engine(policies_dir=policies)
    return [str(p) for p in err.value.problems]


def _cli(policies, *args):
    return subprocess.run([sys.executable, "-m", "solver", "--policies", str(policies), *args],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)


def test_a_duplicate_rule_id_is_reported_in_the_same_run_as_an_error_of_the_rule_that_repeats_it(policies):
    cpt = policies / "rulesets" / "cpt-tpi.yaml"
    _replace(cpt, "    severity: error", "    severity: fatal")  # rules.0 has an error of its own ...
    ncci = policies / "rulesets" / "ncci.yaml"
    _replace(ncci, "id: ncci.ptp-modifier-required", "id: cpt.tpi-code-by-muscle-count")  # ... and its id is used again
    text = "\n".join(_problems(policies))
    assert f"{cpt}: rules.0.severity: Input should be 'error', 'warning' or 'info'" in text
    assert (f"{ncci}: rules.1.id: rule id 'cpt.tpi-code-by-muscle-count' is also the id of rules.0 in {cpt}; "
            "a rule id names one rule across the policies: rename one of the two") in text


def test_a_duplicate_rule_id_names_both_rules_and_is_not_also_called_a_rule_adopted_twice(policies):
    cpt = policies / "rulesets" / "cpt-tpi.yaml"
    _replace(cpt, "id: cpt.dry-needling-code-by-muscle-count", "id: cpt.tpi-code-by-muscle-count")
    problems = _problems(policies)
    assert problems == [f"{cpt}: rules.1.id: rule id 'cpt.tpi-code-by-muscle-count' is also the id of rules.0 in {cpt} "
                        "(this file); a rule id names one rule across the policies: rename one of the two"]


def test_a_rule_set_whose_header_is_wrong_still_has_each_of_its_rules_checked(policies):
    ncci = policies / "rulesets" / "ncci.yaml"
    _replace(ncci, "title:", "titel:")
    _replace(ncci, "    severity: error", "    severity: fatal")
    _replace(ncci, "citations: [ncci-ptp,", "citations: [ncci-ptp-nowhere,", count=2)  # rules.0 and rules.1
    text = "\n".join(_problems(policies))
    assert f"{ncci}: titel: unknown key; remove it or check its spelling" in text
    assert f"{ncci}: rules.0.severity: Input should be 'error', 'warning' or 'info'" in text
    assert f"{ncci}: rules.1.citations.0: no citation named 'ncci-ptp-nowhere' under this file's citations" in text


def test_the_sets_and_payers_that_use_a_rule_set_that_did_not_load_are_named_once_not_each_an_unknown_rule_set(policies):
    ncci = policies / "rulesets" / "ncci.yaml"
    _replace(ncci, "title:", "titel:")
    problems = _problems(policies)
    assert not [p for p in problems if "unknown rule set" in p], problems
    assert problems[:2] == [f"{ncci}: title: required field is missing; add it",
                            f"{ncci}: titel: unknown key; remove it or check its spelling"]
    notes = [p for p in problems if "did not load" in p]
    assert notes == [f"{ncci}: (file): the rule set 'ncci' did not load (title: required field is missing; add it); "
                     "not checked against it until it does: rule set medicare-national (includes.1); "
                     "payers bcbsa (uses.1), cigna (uses.1), commercial-default (uses.1), evicore (uses.1); "
                     "fix the problems of this file first"]
    assert len(problems) == 3


def test_a_use_that_names_a_rule_of_a_set_that_did_not_load_is_not_reported_as_naming_no_rule(policies):
    _replace(policies / "rulesets" / "lcd-uniform-tpi.yaml", "title:", "titel:")
    problems = _problems(policies)
    assert not [p for p in problems if "is not a rule of rule set" in p or "no citation named" in p
                or "adopts no rule" in p or "unknown rule set" in p], problems
    assert sum("did not load" in p for p in problems) == 1


def test_a_rule_that_did_not_validate_is_not_reported_again_by_the_payer_that_selects_or_overrides_it(policies):
    gaps = policies / "rulesets" / "policy-gaps.yaml"
    _replace(gaps, "    severity: info\n    confidence: medium", "    severty: info\n    confidence: medium")  # gap.no-local-policy
    problems = _problems(policies)
    assert [p for p in problems if "severty" in p] == [f"{gaps}: rules.1.severty: unknown key; remove it or check its spelling"]
    assert not [p for p in problems if "is not a rule of rule set" in p or "adopts no rule" in p], problems


def test_a_payer_whose_header_is_wrong_still_has_its_uses_checked(policies):
    cigna = policies / "payers" / "cigna.yaml"
    _replace(cigna, "name:", "nmae:")
    _replace(cigna, "ruleset: cigna-mm0139", "ruleset: cigna-mm0139\n    exclude: [cigna.no-such-rule]")
    text = "\n".join(_problems(policies))
    assert f"{cigna}: nmae: unknown key; remove it or check its spelling" in text
    assert f"{cigna}: uses.3.exclude.0: 'cigna.no-such-rule' is not a rule of rule set cigna-mm0139" in text


def test_the_cli_lists_every_independent_problem_in_one_run_with_exit_2_and_no_traceback(policies):
    _replace(policies / "rulesets" / "ncci.yaml", "title:", "titel:")
    _replace(policies / "rulesets" / "cpt-tpi.yaml", "id: cpt.dry-needling-code-by-muscle-count", "id: cpt.tpi-code-by-muscle-count")
    _replace(policies / "payers" / "cigna.yaml", "name:", "nmae:")
    r = _cli(policies, "policy", "list")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 6, r.stderr  # ncci: 2 and its note; cpt-tpi: the duplicate id; cigna: name missing, nmae unknown
    assert sum("rule id 'cpt.tpi-code-by-muscle-count' is also the id of rules.0" in x for x in lines) == 1
    assert sum("cigna.yaml: nmae: unknown key" in x for x in lines) == 1


# --- a citation reviewed before it was published ---

def test_a_citation_of_a_rule_last_reviewed_before_it_was_published_names_the_file_rule_field_and_both_dates(policies):
    cigna = policies / "rulesets" / "cigna-mm0139.yaml"
    _replace(cigna, "        published: 2025-09-26\n", "        published: 2025-09-26\n        last_reviewed: 2025-01-15\n")
    problems = _problems(policies)
    assert problems == [f"{cigna}: rules.3.citations.0.last_reviewed: rule cigna.ultrasound-guidance: last_reviewed 2025-01-15 "
                        "is before published 2025-09-26; a document is reviewed on or after the day it is published: "
                        "correct one of the two dates"]


def test_a_named_citation_or_a_payers_own_citation_reviewed_before_it_was_published_is_named_with_who_cites_it(policies):
    cpt = policies / "rulesets" / "cpt-tpi.yaml"
    _replace(cpt, "    published: 2019-09-01\n", "    published: 2019-09-01\n    last_reviewed: 2019-08-31\n")
    cgs = policies / "payers" / "medicare-cgs.yaml"
    _replace(cgs, "        published: 2024-02-15\n", "        published: 2024-02-15\n        last_reviewed: 2023-02-15\n")
    problems = _problems(policies)
    assert (f"{cpt}: citations.cpt-dry-needling.last_reviewed: citation 'cpt-dry-needling' of rule(s) "
            "cpt.dry-needling-code-by-muscle-count: last_reviewed 2019-08-31 is before published 2019-09-01") in problems[0]
    assert (f"{cgs}: uses.2.cite.uniform-lcd.last_reviewed: the use of rule set lcd-uniform-tpi (version L39656): "
            "last_reviewed 2023-02-15 is before published 2024-02-15") in problems[1]
    assert len(problems) == 2  # the rule citing it is not adopted, and no one reports it missing


def test_a_citation_last_reviewed_on_the_day_it_was_published_is_accepted(policies):
    _replace(policies / "rulesets" / "cpt-tpi.yaml", "    published: 2019-09-01\n", "    published: 2019-09-01\n    last_reviewed: 2019-09-01\n")
    assert "cpt.dry-needling-code-by-muscle-count" in {i.id for i in Engine(policies_dir=policies).policies.instances}


def test_a_problem_of_a_citation_written_in_a_rule_is_named_as_written_not_once_per_kind_pydantic_tried(policies):
    cigna = policies / "rulesets" / "cigna-mm0139.yaml"
    _replace(cigna, "        published: 2025-09-26\n", "        published: 2025-09-26\n        titel: x\n")
    assert _problems(policies) == [f"{cigna}: rules.3.citations.0.titel: unknown key; remove it or check its spelling"]


def test_rules_written_as_a_mapping_are_an_error_not_a_rule_set_without_rules(policies):
    acme = policies / "rulesets" / "acme.yaml"
    acme.write_text("ruleset: acme\ntitle: Acme\nrules: {id: acme.x}\n")
    assert _problems(policies) == [f"{acme}: rules: Input should be a valid list"]


# --- payerkb validate and payerkb test: the problems of the cases files in the same run as the policies' ---

def test_payerkb_validate_says_what_it_validated_and_runs_nothing():
    r = _cli(POLICIES_DIR, "validate")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"{POLICIES_DIR}: valid: 12 payers, 12 rule sets, ") and "cases in 12 cases files (not run" in r.stdout


def test_payerkb_validate_and_test_name_the_problems_of_the_cases_files_with_those_of_the_policies(policies):
    _replace(policies / "rulesets" / "ncci.yaml", "title:", "titel:")
    cases = policies / "rulesets" / "cigna-mm0139.cases.yaml"
    _replace(cases, "cases:\n", "cases:\n  - name: a case with a typo\n    encountr: {}\n")
    for command in ("validate", "test"):
        r = _cli(policies, command)
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert f"{policies / 'rulesets' / 'ncci.yaml'}: titel: unknown key" in r.stderr
        assert f"{cases}: cases.0.encountr: unknown key; remove it or check its spelling" in r.stderr
        assert f"{cases}: cases.0.encounter: required field is missing; add it" in r.stderr


def test_payerkb_validate_names_a_case_that_names_a_rule_that_does_not_exist(policies):
    cases = policies / "rulesets" / "cigna-mm0139.cases.yaml"
    _replace(cases, "violates: [", "violates: [cigna.no-such-rule, ")
    r = _cli(policies, "validate")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "'cigna.no-such-rule' is not a rule of the policies; check its spelling" in r.stderr


def test_a_rule_set_adopted_twice_under_one_version_is_one_problem_naming_both_uses_and_what_to_do(policies):
    cigna = policies / "payers" / "cigna.yaml"
    _replace(cigna, "uses:\n", "uses:\n  - ruleset: icd10cm\n    version: icd10cm\n")  # uses.3 adopts icd10cm too
    problems = _problems(policies)
    assert len(problems) == 1 and problems[0].startswith(f"{cigna}: uses.3: rules icd10."), problems
    assert problems[0].endswith("are adopted by uses.0 too, under the same version 'icd10cm'; a rule applies once: "
                                "remove one of the two uses or exclude them from one")
    assert "give the uses distinct versions" not in problems[0] and "adopts no rule" not in problems[0]


def test_a_rule_set_defined_twice_whose_second_file_is_wrong_is_not_said_to_have_not_loaded(policies):
    copy = policies / "rulesets" / "zz-ncci.yaml"  # read after ncci.yaml
    copy.write_text((policies / "rulesets" / "ncci.yaml").read_text().replace("title:", "titel:", 1).replace("id: ncci.", "id: copy.ncci."))
    problems = _problems(policies)
    assert f"{copy}: ruleset: the rule set 'ncci' is also defined in {policies / 'rulesets' / 'ncci.yaml'}; give each rule set its own name" in problems
    assert not [p for p in problems if "did not load" in p or "unknown rule set" in p], problems


def test_payerkb_validate_names_the_problems_of_the_payer_map_and_the_verify_space_with_the_cases_in_one_run(policies):
    _replace(policies / "payer-map.yaml", "payers:", "payerz:")
    _replace(policies / "verify" / "space.yaml", "head: [temporalis, masseter]", "head: [temporalis, masseterr]")
    cases = policies / "rulesets" / "ncci.cases.yaml"
    _replace(cases, "cases:\n", "cases:\n  - name: a case with a typo\n    encountr: {}\n")
    r = _cli(policies, "validate")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert f"{policies / 'payer-map.yaml'}: payerz: unknown key; remove it or check its spelling" in r.stderr
    assert (f"{policies / 'verify' / 'space.yaml'}: injections.muscles.head.1: 'masseterr' names no muscle of "
            "policies/tables/muscles.yaml") in r.stderr
    assert f"{cases}: cases.0.encountr: unknown key" in r.stderr


def test_a_rule_set_file_that_is_not_valid_yaml_is_named_once_not_as_an_unknown_rule_set_by_all_that_use_it(policies):
    cpt = policies / "rulesets" / "cpt-tpi.yaml"
    cpt.write_text("ruleset: cpt-tpi\nrules: [oops\n")
    problems = _problems(policies)
    assert not [p for p in problems if "unknown rule set" in p], problems
    assert problems[0].startswith(f"{cpt}: (file): not valid YAML at line ")
    assert len(problems) == 2 and problems[1].startswith(f"{cpt}: (file): the rule set 'cpt-tpi' did not load (not valid YAML at line ")
    assert "rule set medicare-national (includes.0); payers bcbsa (uses.0), cigna (uses.0)" in problems[1]


def test_payerkb_validate_checks_the_payer_map_and_the_space_even_when_the_policies_did_not_load(policies):
    _replace(policies / "rulesets" / "ncci.yaml", "title:", "titel:")
    _replace(policies / "payer-map.yaml", "payers:", "payerz:")
    _replace(policies / "verify" / "space.yaml", "version: 1", "version: 1\nversoin: 2")
    r = _cli(policies, "validate")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert f"{policies / 'rulesets' / 'ncci.yaml'}: titel: unknown key" in r.stderr
    assert f"{policies / 'payer-map.yaml'}: payerz: unknown key" in r.stderr
    assert f"{policies / 'verify' / 'space.yaml'}: versoin: unknown key" in r.stderr
