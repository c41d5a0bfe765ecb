"""A cases file's problems as an analyst wants them: a bad value in its defaults named once, on defaults (not
once per case that takes it), the cases that take it not run and said so once; a number where a date is expected
named as such, with the value, in a cases file, a rule set and an encounter (never read as a day of 1970)."""
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import replace_in as _replace
from solver.casetest import load_case_files
from solver.engine import Engine
from solver.errors import PolicyError
from solver.paths import POLICIES_DIR

ROOT = Path(__file__).resolve().parent.parent


def _case_problems(path) -> list[str]:
    with pytest.raises(PolicyError) as err:
        load_case_files([path])
    return [str(p) for p in err.value.problems]


def _cli(policies, *args):
    return subprocess.run([sys.executable, "-m", "solver", "--policies", str(policies), *args],
                          capture_output=True, text=True, cwd=ROOT)


def test_an_impossible_date_in_the_defaults_is_named_once_on_defaults_and_the_cases_that_take_it_once(policies):
    cases = policies / "rulesets" / "cpt-tpi.cases.yaml"
    _replace(cases, "  date_of_service: 2024-06-10\n", "  date_of_service: 2024-02-30\n")  # defaults; cases.8 sets its own
    problems = _case_problems(cases)
    assert problems == [
        f"{cases}: defaults.date_of_service: Input should be a valid date or datetime, day value is outside expected range "
        "('2024-02-30' given); a date is expected as YYYY-MM-DD",
        f"{cases}: defaults.date_of_service: 14 cases not run: they take date_of_service from defaults (cases.0-7, 9-14); "
        "correct defaults.date_of_service (above) and they run"]


def test_a_case_that_sets_the_value_itself_is_still_checked_beside_a_bad_default(policies):
    cases = policies / "rulesets" / "cpt-tpi.cases.yaml"
    _replace(cases, "  date_of_service: 2024-06-10\n", "  date_of_service: 2024-02-30\n")
    _replace(cases, "      date_of_service: 2024-06-10\n", "      date_of_service: 2024-06-10\n      injectoins: []\n")  # cases.8
    problems = _case_problems(cases)
    assert f"{cases}: cases.8.encounter.injectoins: unknown key; remove it or check its spelling" in problems
    assert sum("defaults.date_of_service" in p for p in problems) == 2 and len(problems) == 3


def test_a_case_with_a_problem_of_its_own_and_a_bad_default_gets_its_own_problem_not_the_defaults(policies):
    cases = policies / "rulesets" / "cpt-tpi.cases.yaml"
    _replace(cases, "  date_of_service: 2024-06-10\n", "  date_of_service: 2024-02-30\n")
    _replace(cases, "      claim: [{code: \"20552\", diagnoses: [M79.12]}]", "      claim: [{code: \"2055\", diagnoses: [M79.12]}]")
    problems = _case_problems(cases)
    assert [p for p in problems if "cases.0." in p] == [
        f"{cases}: cases.0.encounter.claim.0.code: '2055' is not a CPT/HCPCS code (five characters, e.g. \"20552\" or \"J3301\")"]
    assert not [p for p in problems if "encounter.date_of_service" in p]


def test_a_number_in_the_defaults_where_a_date_is_expected_says_so_and_the_cli_exits_2_without_a_traceback(policies):
    cases = policies / "rulesets" / "cpt-tpi.cases.yaml"
    _replace(cases, "  date_of_service: 2024-06-10\n", "  date_of_service: 20240610\n")
    r = _cli(policies, "test")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines == [f"error: {cases}: defaults.date_of_service: 20240610 is not a date: a date is expected as YYYY-MM-DD",
                     f"error: {cases}: defaults.date_of_service: 14 cases not run: they take date_of_service from defaults "
                     "(cases.0-7, 9-14); correct defaults.date_of_service (above) and they run"]


def test_a_number_where_a_date_is_expected_in_a_case_or_a_rule_set_citation_names_the_value_and_the_form(policies):
    cases = policies / "rulesets" / "cpt-tpi.cases.yaml"
    _replace(cases, "      date_of_service: 2024-06-10\n", "      date_of_service: 20240115\n")  # cases.8
    assert _case_problems(cases) == [f"{cases}: cases.8.encounter.date_of_service: 20240115 is not a date: a date is expected as YYYY-MM-DD"]
    cpt = policies / "rulesets" / "cpt-tpi.yaml"
    _replace(cpt, "published: 2019-09-01", "published: 20190901")
    with pytest.raises(PolicyError) as err:
        Engine(policies_dir=policies)
    assert f"{cpt}: citations.cpt-dry-needling.published: 20190901 is not a date: a date is expected as YYYY-MM-DD" in str(err.value)


@pytest.mark.parametrize("value", ["0", "20240610", "1718000000.5"])
def test_a_number_as_the_date_of_service_of_an_encounter_is_an_error_not_a_day_of_1970(tmp_path, value):
    enc = tmp_path / "enc.yaml"
    enc.write_text(f"id: e1\npayer: cigna\ndate_of_service: {value}\ninjections: [{{muscle: trapezius, side: right}}]\n"
                   f"diagnoses: [M79.12]\nhistory: [{{date: {value}, code: \"20552\"}}]\n")
    r = subprocess.run([sys.executable, "-m", "solver", "check", str(enc), "--format", "json"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "1970" not in r.stdout
    assert f"date_of_service: {value} is not a date: a date is expected as YYYY-MM-DD" in r.stderr
    assert f"history.0.date: {value} is not a date: a date is expected as YYYY-MM-DD" in r.stderr


def test_a_cases_file_whose_header_is_wrong_still_has_its_cases_checked_and_says_once_their_encounters_wait(policies):
    cases = policies / "rulesets" / "cpt-tpi.cases.yaml"
    _replace(cases, "\ndefaults:", "\ndefualts:")
    _replace(cases, "    violates: [cpt.tpi-code-by-muscle-count]", "    violates: [cpt.tpi-code-by-muscle-cnt]")  # cases.1
    with pytest.raises(PolicyError) as err:
        load_case_files([cases], {r.id for rs in Engine(policies_dir=POLICIES_DIR).policies.rulesets.values() for r in rs.rules})
    assert [str(p) for p in err.value.problems] == [
        f"{cases}: defualts: unknown key; remove it or check its spelling",
        f"{cases}: cases.1.violates.0: 'cpt.tpi-code-by-muscle-cnt' is not a rule of the policies; check its spelling",
        f"{cases}: (file): the encounters of 15 cases (cases.0-14) not checked: they take the file's defaults, and the file "
        "has problems (defualts: unknown key; remove it or check its spelling); fix those first"]
