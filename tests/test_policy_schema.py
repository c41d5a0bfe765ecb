"""Every policy file has a JSON Schema from the models that validate it, held in policies/schema/, and names it
on its first line, so an editor completes and checks the file."""
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from solver.families import load_families
from solver.paths import KB_DIR, POLICIES_DIR
from solver.policy_schema import POLICY_FILE_MODELS, header_line, kind_of, policy_files, schema_text
from solver.yamltext import PolicyLoader, read_policy_yaml

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = policy_files(POLICIES_DIR)


def _families():
    problems = []
    specs = load_families(KB_DIR, read_policy_yaml, problems).specs
    assert not problems
    return specs


def _validator(kind):
    schema = json.loads((POLICIES_DIR / "schema" / f"{kind}.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def _errors(kind, data):
    return sorted((list(e.absolute_path), e.message) for e in _validator(kind).iter_errors(data))


@pytest.mark.parametrize("kind", sorted(POLICY_FILE_MODELS))
def test_the_schema_file_in_the_repository_is_the_one_the_models_make(kind):
    held = (POLICIES_DIR / "schema" / f"{kind}.schema.json").read_text(encoding="utf-8")
    assert held == schema_text(kind, _families()), f"stale: run python tools/write_policy_schemas.py"


def test_every_yaml_file_under_the_policies_is_a_known_kind_of_policy_file():
    every = sorted(p for p in POLICIES_DIR.rglob("*.yaml"))
    assert every == sorted(p for p, _ in SHIPPED)
    kinds = {k for _, k in SHIPPED}
    assert kinds == set(POLICY_FILE_MODELS), "every kind has a shipped file"


@pytest.mark.parametrize("path,kind", SHIPPED, ids=[p.relative_to(POLICIES_DIR).as_posix() for p, _ in SHIPPED])
def test_every_shipped_policy_file_names_its_schema_first_and_validates_against_it(path, kind):
    text = path.read_text(encoding="utf-8")
    first = text.split("\n", 1)[0]
    assert first == header_line(POLICIES_DIR, path, kind)
    assert (path.parent / first.split("$schema=", 1)[1]).resolve() == (POLICIES_DIR / "schema" / f"{kind}.schema.json").resolve()
    data = yaml.load(text, Loader=PolicyLoader)  # as the loader reads it: the first line is a comment
    assert _errors(kind, data) == []


def test_the_kinds_of_files_are_told_by_their_place():
    assert kind_of("rulesets/ncci.yaml") == "ruleset"
    assert kind_of("rulesets/ncci.cases.yaml") == "cases"
    assert kind_of("payers/cigna.yaml") == "payer"
    assert kind_of("tables/mue-practitioner.source.yaml") == "table-source"
    assert kind_of("tables/icd10cm-releases.source.yaml") == "icd10cm-releases-source"
    assert kind_of("payer-map.yaml") == "payer-map"
    assert kind_of("verify/space.yaml") == "space"
    assert kind_of("tables/mue-practitioner.csv") is None


def test_the_schema_rejects_an_unknown_key_a_wrong_family_parameter_and_a_bad_date_in_a_rule_set():
    data = yaml.load((POLICIES_DIR / "rulesets" / "commercial-default.yaml").read_text(encoding="utf-8"), Loader=PolicyLoader)
    freq = next(i for i, r in enumerate(data["rules"]) if r["family"] == "sessions_per_window")
    data["rules"][freq]["params"]["max_sesions"] = 4
    data["rules"][freq]["params"]["max_sessions"] = "four"
    data["rules"][freq]["effective"] = {"from": "2024-02-30"}
    data["rules"][0]["severty"] = "error"
    errors = _errors("ruleset", data)
    text = "\n".join(f"{p}: {m}" for p, m in errors)
    assert any(p == ["rules", 0] and "'severty' was unexpected" in m for p, m in errors), text
    assert any(p == ["rules", freq, "params"] and "'max_sesions' was unexpected" in m for p, m in errors), text
    assert any(p == ["rules", freq, "params", "max_sessions"] and "'four' is not of type 'integer'" in m for p, m in errors), text
    assert any(p == ["rules", freq, "effective", "from"] and "'2024-02-30'" in m for p, m in errors), text
    assert len(errors) == 4, text


def test_the_schema_of_cases_knows_the_encounter_fields_and_requires_none_of_them():
    data = {"defaults": {"payer": "cigna"}, "cases": [{"name": "x", "encounter": {"diagnoses": ["M79.12"]}}]}
    assert _errors("cases", data) == []
    data["cases"][0]["encounter"]["injection"] = []
    assert _errors("cases", data) == [(["cases", 0, "encounter"], "Additional properties are not allowed ('injection' was unexpected)")]


@pytest.mark.parametrize("kind", sorted(POLICY_FILE_MODELS))
def test_payerkb_schema_prints_the_schema_of_every_kind(kind):
    r = subprocess.run([sys.executable, "-m", "solver", "schema", "--policy", kind], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout == (POLICIES_DIR / "schema" / f"{kind}.schema.json").read_text(encoding="utf-8")
